/** What the end-to-end policy tests share: compile, load through the SDK, read a result. */
import assert from 'node:assert/strict';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';
import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';

/** Compile one module (p.rego) or several (p0.rego, p1.rego, …), load it with our host builtins, set data. */
export async function load(src: string | string[], entrypoints: string[], data?: unknown): Promise<LoadedPolicy> {
  const sources = typeof src === 'string' ? [{ file: 'p.rego', text: src }] : src.map((text, i) => ({ file: `p${i}.rego`, text }));
  const { wasm } = compile(sources, { entrypoints });
  const p = await loadCompiled(wasm);
  if (data !== undefined) p.setData(data as object);
  return p;
}

/** The value of an entrypoint, undefined when the result set is empty. */
export function result(p: LoadedPolicy, ep: string, input?: unknown): unknown {
  const rs = p.evaluate(input, ep) as Array<{ result: unknown }>;
  assert.ok(rs.length <= 1, `one binding at most: ${JSON.stringify(rs)}`);
  return rs.length ? rs[0]!.result : undefined;
}

/** The message of what f throws; fails the test when it throws nothing. */
export function thrown(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    return typeof e === 'string' ? e : String((e as Error).message ?? e);
  }
  assert.fail('expected an error');
}

/**
 * Evaluates each expression as `rN := <expr>` in one module; returns the
 * results in order (undefined where the rule is undefined).
 */
export async function values(exprs: string[], input?: unknown): Promise<unknown[]> {
  const src = `package t\n${exprs.map((e, i) => `r${i} := ${e}`).join('\n')}\n`;
  const eps = exprs.map((_, i) => `t/r${i}`);
  const p = await load(src, eps);
  return eps.map((ep) => result(p, ep, input));
}

/** Table-driven: [expression, expected] pairs, one module. */
export async function table(cases: Array<[string, unknown]>, input?: unknown): Promise<void> {
  const got = await values(
    cases.map(([e]) => e),
    input,
  );
  cases.forEach(([e, want], i) => assert.deepEqual(got[i], want, e));
}
