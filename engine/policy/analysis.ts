/**
 * What a compiled policy reads of its input, found from the checked AST:
 * the subtrees of `input` its rules refer to, whether it reads the input
 * as a whole, and whether it calls builtins whose answer changes from one
 * call to the next (time, randomness, network).
 *
 * The agent uses this twice:
 * - a decision depends only on those subtrees, so decisions are memoised
 *   by them (engine/decide): a connect loop costs one evaluation, not one
 *   per connection;
 * - connection verdicts need a verdict per program image only when the
 *   policy reads more of `input.process` than its cgroup (engine/enforce).
 *
 * Conservative by construction: every ref rooted at `input` anywhere in a
 * rule (head, body, `with`, else chains, comprehensions) counts, up to its
 * first non-constant element; `input` alone counts as the whole input.
 */
import type * as A from './rego/ast.js';
import { eachRuleTerm, groundPrefix } from './compile/walk.js';

export interface InputUse {
  /** the whole input is read somewhere (`input` alone, `input[x]`, passed whole to a function) */
  all: boolean;
  /** the subtrees read, as paths below `input`, none a prefix of another */
  paths: string[][];
  /** a builtin whose result varies between calls is called: decisions must not be memoised */
  volatile: boolean;
}

/** Builtins whose answer is not a function of their arguments. */
export const VOLATILE = new Set(['time.now_ns', 'rand.intn', 'uuid.rfc4122', 'uuid.parse', 'http.send', 'net.lookup_ip_addr', 'opa.runtime', 'trace']);

/** The input a policy reads. `builtins` is every builtin it calls (the checked program's list). */
export function inputUse(modules: readonly A.Module[], builtins: readonly string[]): InputUse {
  let all = false;
  const found: string[][] = [];
  for (const m of modules) {
    for (const r of m.rules) {
      eachRuleTerm(r, (t) => {
        if (t.type !== 'ref' || t.head.type !== 'var' || t.head.name !== 'input') return;
        const path = groundPrefix(t).slice(1);
        if (path.length === 0) all = true;
        else found.push(path);
      });
    }
  }
  return { all, paths: minimalPaths(found), volatile: builtins.some((b) => VOLATILE.has(b)) };
}

/** Sorted, deduplicated, and without paths that lie below another one. */
export function minimalPaths(paths: readonly string[][]): string[][] {
  const keyed = [...new Map(paths.map((p) => [p.join('\0'), p])).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const out: string[][] = [];
  for (const [, p] of keyed) {
    const prev = out[out.length - 1];
    if (prev && prev.length <= p.length && prev.every((s, i) => s === p[i])) continue;
    out.push(p);
  }
  return out;
}

/** Does the policy read anything at or below `path` of the input? */
export function reads(use: InputUse, path: readonly string[]): boolean {
  if (use.all) return true;
  return use.paths.some((p) => {
    const n = Math.min(p.length, path.length);
    for (let i = 0; i < n; i++) if (p[i] !== path[i]) return false;
    return true;
  });
}
