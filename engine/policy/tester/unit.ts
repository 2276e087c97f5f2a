/**
 * Rego unit tests, as `opa test` runs them (OPA's tester package): every
 * rule named `test_*` (a complete rule without arguments) is evaluated
 * with no input; it passes when its value is `true`, fails when it is
 * undefined or anything else, and is an error when evaluation aborts (a
 * conflict). `todo_test_*` rules are reported as skipped. A second
 * definition of the same test name is a test of its own (`test_x#01`), as
 * OPA renames them, instead of being OR-ed with the first.
 *
 * Everything runs through our compiler and the SDK, as `enforce` runs the
 * policies; the only difference is the list of entrypoints (and, with
 * --coverage, the instrumentation).
 *
 * For a failed test, `explain` finds the expression of the test's body
 * where evaluation stopped and evaluates its operands in the same context
 * (`opa test -v` shows a trace; the operands are what one looks for in it).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

import { loadCompiled } from '../builtins-js.js';
import { compileParsed } from '../compiler.js';
import type { CoverSite } from '../ir/ir.js';
import type * as A from '../rego/ast.js';
import { parseModule, type ParseOptions } from '../rego/parser.js';
import { formatTerm } from '../rego/print.js';
import { groundPrefix } from '../compile/walk.js';
import { readPolicyData, regoSources } from '../source.js';

export const TEST_PREFIX = 'test_';
export const TODO_PREFIX = 'todo_test_';

export interface UnitTest {
  /** `data.pkg.test_x`, `data.pkg.test_x#01` for a second definition */
  name: string;
  /** `data.pkg` */
  pkg: string;
  file: string;
  row: number;
  /** the entrypoint that evaluates it (`pkg/test_x`); empty for todo tests */
  entrypoint: string;
  todo: boolean;
  /** its rule (renamed when it is a repeated definition) and module, for explain */
  rule: A.Rule;
  module: A.Module;
}

export interface FailedAt {
  file: string;
  row: number;
  /** the source line of the expression */
  text: string;
  /**
   * its operands (as Rego text) and their values in the test's context:
   * per solution of the body before it (at most 3), the values the operand
   * has there (none: undefined); absent when they cannot be computed.
   * `texts`: the same values as Rego text (a set as a set), for people
   */
  operands?: Array<{ term: string; values: unknown[][]; texts?: string[][] }>;
}

export interface UnitResult {
  name: string;
  pkg: string;
  file: string;
  row: number;
  status: 'pass' | 'fail' | 'error' | 'skip';
  durationMs: number;
  /** the error of an `error` test */
  error?: string;
  /** a failed test's value when it had one that is not `true` */
  value?: unknown;
  /** what print() wrote during the test */
  output: string[];
  failedAt?: FailedAt;
}

/** Policies and tests of a Rego directory, parsed, with test rules found. */
export interface TestSuite {
  /** every module, test rules renamed where they repeat a name */
  modules: A.Module[];
  /** the non-test modules only (what enforce compiles) */
  policyFiles: string[];
  tests: UnitTest[];
  data: Record<string, unknown>;
  /** file → source text */
  sources: Map<string, string>;
  parse: ParseOptions;
}

export function isTestFile(file: string): boolean {
  return file.endsWith('_test.rego');
}

/**
 * Reads every .rego file under `dir` (tests included) with file names as
 * the user gave them (`policies/busted/x.rego`, so that locations are
 * clickable and GitHub annotations land), and finds the test rules.
 */
export function loadSuite(dir: string, parse: ParseOptions = {}): TestSuite {
  const sources = regoSources(dir, { tests: true }).map((s) => ({ file: s.file === dir ? dir : join(dir, s.file), text: s.text }));
  const modules = sources.map((s) => parseModule(s.text, s.file, parse));
  const tests: UnitTest[] = [];
  const seen = new Map<string, number>();
  const out = modules.map((m) => {
    const pkg = groundPrefix(m.package.path).join('.');
    const rules = m.rules.map((r) => {
      const name = testRuleName(r);
      if (name === undefined) return r;
      const todo = name.startsWith(TODO_PREFIX);
      const full = `${pkg}.${name}`;
      const n = seen.get(full) ?? 0;
      seen.set(full, n + 1);
      const shown = n === 0 ? full : `${full}#${String(n).padStart(2, '0')}`;
      // a repeated definition gets a name of its own so that it is not OR-ed with the first
      const rule = n === 0 ? r : renamed(r, `${name}_busted_dup${n}`);
      const segs = [...pkg.split('.').slice(1), n === 0 ? name : `${name}_busted_dup${n}`];
      tests.push({ name: shown, pkg, file: m.file, row: r.loc.row, entrypoint: todo ? '' : segs.join('/'), todo, rule, module: m });
      return rule;
    });
    return { ...m, rules };
  });
  for (const t of tests) t.module = out[modules.indexOf(t.module)]!;
  const data = readPolicyData(dir).value;
  return {
    modules: out,
    policyFiles: sources.filter((s) => !isTestFile(s.file)).map((s) => s.file),
    tests,
    data,
    sources: new Map(sources.map((s) => [s.file, s.text])),
    parse,
  };
}

/** `test_x` / `todo_test_x` for a complete rule without arguments named so; undefined for anything else. */
function testRuleName(r: A.Rule): string | undefined {
  const ref = r.head.ref;
  if (ref.head.type !== 'var' || ref.path.length > 0 || r.head.args !== undefined || r.kind !== 'complete' || r.default) return undefined;
  const name = ref.head.name;
  return name.startsWith(TEST_PREFIX) || name.startsWith(TODO_PREFIX) ? name : undefined;
}

function renamed(r: A.Rule, name: string): A.Rule {
  const ref: A.RefTerm = { ...r.head.ref, head: { type: 'var', name, loc: r.head.ref.head.loc } };
  return { ...r, head: { ...r.head, ref } };
}

export interface RunOptions {
  /** only tests whose full name matches */
  run?: RegExp;
  /** a coverage build: sites reached are reported here */
  coverage?: { sites: (sites: CoverSite[]) => void; hit: (site: number) => void };
  /** look into failed tests (explain) */
  explain?: boolean;
}

/** The tests `run` selects. */
export function selectTests(suite: TestSuite, run?: RegExp): UnitTest[] {
  return suite.tests.filter((t) => run === undefined || run.test(t.name));
}

/**
 * Compiles the suite once with an entrypoint per selected test and runs
 * them in file order. Compile errors are thrown (RegoErrors, with
 * file:row:col).
 */
export async function runUnitTests(suite: TestSuite, o: RunOptions = {}): Promise<UnitResult[]> {
  const tests = selectTests(suite, o.run);
  const live = tests.filter((t) => !t.todo);
  const results: UnitResult[] = [];
  if (live.length === 0) return tests.map((t) => skipped(t));
  const compiled = compileParsed(suite.modules, { entrypoints: live.map((t) => t.entrypoint), coverage: o.coverage !== undefined });
  if (o.coverage && compiled.cover) o.coverage.sites(compiled.cover);
  let output: string[] = [];
  const policy = await loadCompiled(compiled.wasm, undefined, {
    print: (line) => output.push(line),
    cover: o.coverage?.hit,
  });
  policy.setData(suite.data);
  for (const t of tests) {
    if (t.todo) {
      results.push(skipped(t));
      continue;
    }
    output = [];
    const r = evaluateTest(policy, t);
    r.output = output;
    results.push(r);
  }
  if (o.explain) {
    const failed = results.filter((r) => r.status === 'fail');
    if (failed.length) await explain(suite, tests.filter((t) => failed.some((r) => r.name === t.name)), results);
  }
  return results;
}

function skipped(t: UnitTest): UnitResult {
  return { name: t.name, pkg: t.pkg, file: t.file, row: t.row, status: 'skip', durationMs: 0, output: [] };
}

function evaluateTest(policy: LoadedPolicy, t: UnitTest): UnitResult {
  const base = { name: t.name, pkg: t.pkg, file: t.file, row: t.row, output: [] as string[] };
  const t0 = performance.now();
  let rs: Array<{ result: unknown }>;
  try {
    rs = policy.evaluate(undefined, t.entrypoint) as Array<{ result: unknown }>;
  } catch (e) {
    return { ...base, status: 'error', durationMs: performance.now() - t0, error: String((e as Error)?.message ?? e) };
  }
  const durationMs = performance.now() - t0;
  if (rs.length > 0 && rs[0]!.result === true) return { ...base, status: 'pass', durationMs };
  const r: UnitResult = { ...base, status: 'fail', durationMs };
  if (rs.length > 0) r.value = rs[0]!.result;
  return r;
}

/* ------------------------------------------------------------------ explain */

const PROBE = '__busted_probe_';
const PROBE_VAR = '__busted_probe_v';
const MAX_SOLUTIONS = 3;

/** The terms whose values tell why an expression did not hold. */
function operandsOf(e: A.Expr): A.Term[] {
  switch (e.kind) {
    case 'term':
      return [e.term];
    case 'call':
      return e.args;
    default:
      return [];
  }
}

/**
 * For each failed test: which of its body's expressions evaluation reached
 * last (from a coverage build of the tests), then the values of that
 * expression's operands there, from probe rules that repeat the body up to
 * it (`probe contains [{v | v := op1}, ...] if { e1; ...; e(j-1) }`, with
 * the expression's own `with`s).
 */
async function explain(suite: TestSuite, failed: UnitTest[], results: UnitResult[]): Promise<void> {
  const withCover = failed.filter((t) => t.rule.else.length === 0);
  if (withCover.length === 0) return;
  const reached = new Map<string, Set<number>>();
  let sites: CoverSite[] = [];
  let current: Set<number> | undefined;
  try {
    const cov = compileParsed(suite.modules, { entrypoints: withCover.map((t) => t.entrypoint), coverage: true });
    sites = cov.cover ?? [];
    const p = await loadCompiled(cov.wasm, undefined, { cover: (i) => current?.add(i) });
    p.setData(suite.data);
    for (const t of withCover) {
      current = new Set();
      reached.set(t.name, current);
      try {
        p.evaluate(undefined, t.entrypoint);
      } catch {
        // an error here is an error there too; the test was reported already
      }
    }
  } catch {
    return; // explaining must never hide the result itself
  }
  // the failing expression of each test, and a probe rule for it
  const probes: Array<{ t: UnitTest; entrypoint: string; terms: A.Term[] }> = [];
  const extra = new Map<A.Module, A.Rule[]>();
  for (const t of withCover) {
    const body = t.rule.body;
    const hit = reached.get(t.name)!;
    const own = `${t.pkg}.${(t.rule.head.ref.head as A.VarTerm).name}`;
    const rows = new Set<number>();
    for (const i of hit) {
      const s = sites[i]!;
      if (s.kind === 'expr' && s.rule === own) rows.add(s.row);
    }
    let j = -1;
    body.forEach((e, i) => {
      if (rows.has(e.loc.row)) j = i;
    });
    const r = results.find((x) => x.name === t.name)!;
    if (j < 0) continue;
    const e = body[j]!;
    r.failedAt = { file: t.file, row: e.loc.row, text: sourceLine(suite, t.file, e.loc.row) };
    const terms = operandsOf(e);
    if (terms.length === 0) continue;
    const name = `${PROBE}${probes.length}`;
    const at = e.loc;
    // each operand's values, and the same as Rego text (the SDK's JSON shows a set as an array)
    const comp = (term: A.Term, v: string): A.Term => ({
      type: 'setcomprehension',
      term: { type: 'var', name: v, loc: at },
      body: [{ type: 'expr', kind: 'call', operator: ref('assign', at), args: [{ type: 'var', name: v, loc: at }, term], negated: false, with: [], loc: at }],
      loc: at,
    });
    const asText = (term: A.Term): A.Term => ({ type: 'call', operator: ref('internal.value_text', at), args: [term], loc: at });
    const comps: A.Term[] = [...terms.map((term, k) => comp(term, `${PROBE_VAR}${k}`)), ...terms.map((term, k) => comp(asText(term), `${PROBE_VAR}t${k}`))];
    const valueExpr: A.Expr = {
      type: 'expr',
      kind: 'call',
      operator: ref('assign', at),
      args: [{ type: 'var', name: `${PROBE_VAR}s`, loc: at }, { type: 'array', items: comps, loc: at }],
      negated: false,
      with: e.with,
      loc: at,
    };
    const rule: A.Rule = {
      type: 'rule',
      kind: 'partial_set',
      default: false,
      head: {
        type: 'head',
        ref: { type: 'ref', head: { type: 'var', name, loc: at }, path: [], loc: at },
        key: { type: 'var', name: `${PROBE_VAR}s`, loc: at },
        generatedValue: false,
        contains: true,
        ifKeyword: true,
        loc: at,
      },
      body: [...body.slice(0, j), valueExpr],
      generatedBody: false,
      else: [],
      loc: at,
    };
    const list = extra.get(t.module) ?? [];
    list.push(rule);
    extra.set(t.module, list);
    probes.push({ t, entrypoint: [...t.pkg.split('.').slice(1), name].join('/'), terms });
  }
  if (probes.length === 0) return;
  try {
    const modules = suite.modules.map((m) => (extra.has(m) ? { ...m, rules: [...m.rules, ...extra.get(m)!] } : m));
    const built = compileParsed(modules, { entrypoints: probes.map((p) => p.entrypoint) });
    const p = await loadCompiled(built.wasm);
    p.setData(suite.data);
    for (const pr of probes) {
      const r = results.find((x) => x.name === pr.t.name)!;
      let rs: Array<{ result: unknown }>;
      try {
        rs = p.evaluate(undefined, pr.entrypoint) as Array<{ result: unknown }>;
      } catch {
        continue;
      }
      const solutions = (rs[0]?.result ?? []) as unknown[][][];
      const n = pr.terms.length;
      r.failedAt!.operands = pr.terms.map((term, k) => ({
        term: regoText(term),
        values: solutions.slice(0, MAX_SOLUTIONS).map((sol) => sol[k]!),
        texts: solutions.slice(0, MAX_SOLUTIONS).map((sol) => sol[n + k] as string[]),
      }));
    }
  } catch {
    // a probe that does not compile (an operand the checker rejects alone) explains nothing more
  }
}

/** A term as Rego text (calls by their builtin name: `x + 1` shows as `plus(x, 1)`), for messages. */
export function regoText(t: A.Term): string {
  switch (t.type) {
    case 'array':
      return `[${t.items.map(regoText).join(', ')}]`;
    case 'set':
      return t.items.length ? `{${t.items.map(regoText).join(', ')}}` : 'set()';
    case 'object':
      return `{${t.items.map(([k, v]) => `${regoText(k)}: ${regoText(v)}`).join(', ')}}`;
    case 'call':
      return `${formatTerm(t.operator)}(${t.args.map(regoText).join(', ')})`;
    case 'arraycomprehension':
      return `[${regoText(t.term)} | …]`;
    case 'setcomprehension':
      return `{${regoText(t.term)} | …}`;
    case 'objectcomprehension':
      return `{${regoText(t.key)}: ${regoText(t.value)} | …}`;
    default:
      return formatTerm(t);
  }
}

function ref(name: string, at: A.Location): A.RefTerm {
  return { type: 'ref', head: { type: 'var', name, loc: at }, path: [], loc: at };
}

function sourceLine(suite: TestSuite, file: string, row: number): string {
  const text = suite.sources.get(file) ?? safeRead(file);
  return (text.split('\n')[row - 1] ?? '').trim();
}

function safeRead(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
