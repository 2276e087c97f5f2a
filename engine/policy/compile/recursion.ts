/**
 * Stages `set_graph` and `check_recursion` (OPA's SetGraph and
 * checkRecursion): a rule depends on every rule a `data` ref in it can
 * reach (a ref to `data.pkg` or `data.pkg[x]` reaches every rule under
 * data.pkg; a ref to `data.pkg.p.x` reaches the rules at data.pkg.p;
 * `data[x].allow` reaches the `allow` rules of every package), and
 * no rule may reach itself. Each definition on a cycle is reported, at the
 * definition, with OPA's text:
 *
 *   rego_recursion_error: rule data.x.p is recursive: data.x.p -> data.x.q -> data.x.p
 */

import type * as A from '../rego/ast.js';
import { RegoError, RegoErrorCode } from '../rego/errors.js';
import type { RuleSet } from './program.js';
import { eachRuleTerm, refReaches } from './walk.js';

export function buildGraph(sets: readonly RuleSet[]): Map<A.Rule, RuleSet[]> {
  const graph = new Map<A.Rule, RuleSet[]>();
  for (const set of sets) {
    for (const r of set.rules) {
      const deps = new Set<RuleSet>();
      eachRuleTerm(r, (t) => {
        if (t.type !== 'ref' || t.head.type !== 'var' || t.head.name !== 'data') return;
        for (const s of sets) {
          if (refReaches(t, s.path.split('.'))) deps.add(s);
        }
      });
      graph.set(r, [...deps]);
    }
  }
  return graph;
}

export function checkRecursion(sets: readonly RuleSet[], graph: Map<A.Rule, RuleSet[]>, errors: RegoError[]): void {
  const setOf = new Map<A.Rule, RuleSet>();
  for (const s of sets) for (const r of s.rules) setOf.set(r, s);
  for (const set of sets) {
    for (const r of set.rules) {
      const path = shortestCycle(r, graph);
      if (path === undefined) continue;
      const names = path.map((x) => setOf.get(x)!.path);
      errors.push(new RegoError(RegoErrorCode.RECURSION, `rule ${set.path} is recursive: ${names.join(' -> ')}`, r.loc));
    }
  }
}

/** Breadth-first: the shortest path from `start` back to itself, both ends included. */
function shortestCycle(start: A.Rule, graph: Map<A.Rule, RuleSet[]>): A.Rule[] | undefined {
  const prev = new Map<A.Rule, A.Rule>();
  const queue: A.Rule[] = [start];
  const seen = new Set<A.Rule>();
  while (queue.length > 0) {
    const x = queue.shift()!;
    for (const s of graph.get(x) ?? []) {
      for (const y of s.rules) {
        if (y === start) {
          const path = [start];
          for (let c: A.Rule | undefined = x; c !== undefined && c !== start; c = prev.get(c)) path.unshift(c);
          path.unshift(start);
          return path;
        }
        if (seen.has(y)) continue;
        seen.add(y);
        prev.set(y, x);
        queue.push(y);
      }
    }
  }
  return undefined;
}
