// Policies deeper or bigger than the compiler's recursion is built for: a
// clear rego_compile_error at the rule, never a RangeError without a place
// (compiler.ts tooDeep), and no blow-up in time with the depth of nested
// comprehensions (analysis.ts hasWith walked them exponentially: 20 levels
// took 0.3 s, 40 would take days).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import { RegoErrors } from '../../engine/policy/rego/errors.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

describe('deep policies', { skip }, () => {
  it('are an error at the deepest rule, saying how it is too deep', () => {
    buildRuntime();
    const cases: Array<[string, string, RegExp]> = [
      ['a chain of 3000 operators', `package p\n\nok := true\n\nx := ${Array.from({ length: 3000 }, (_, i) => i).join(' + ')}\n`, /^p\.rego:5:1: rego_compile_error: rule too deep to compile \(\d+ terms nested\); split it into smaller rules$/],
      ['a body of 2000 expressions', `package p\n\nx if {\n\t${Array.from({ length: 2000 }, (_, i) => `input.a${i} == ${i}`).join('\n\t')}\n}\n`, /^p\.rego:3:1: rego_compile_error: rule too deep to compile \(2000 expressions in one body\)/],
      ['a reference of 5000 parts', `package p\n\nx := input${'.a'.repeat(5000)}\n`, /^p\.rego:3:1: rego_compile_error: rule too deep to compile \(5000 parts in one reference\)/],
    ];
    for (const [what, text, want] of cases) {
      assert.throws(
        () => compile([{ file: 'p.rego', text }], { entrypoints: ['p/x'] }),
        (e: unknown) => e instanceof RegoErrors && e.errors.length === 1 && want.test(e.errors[0]!.message),
        what,
      );
    }
  });

  it('compile what is deep but within bounds, and give the right answers', async () => {
    const chain = compile([{ file: 'p.rego', text: `package p\nx := ${Array.from({ length: 300 }, (_, i) => i).join(' + ')}\n` }], { entrypoints: ['p/x'] });
    assert.deepEqual((await loadCompiled(chain.wasm)).evaluate({}, 'p/x'), [{ result: (299 * 300) / 2 }]);
    const body = compile([{ file: 'p.rego', text: `package p\nx if {\n\t${Array.from({ length: 200 }, (_, i) => `input.a${i} == ${i}`).join('\n\t')}\n}\n` }], { entrypoints: ['p/x'] });
    const input = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`a${i}`, i]));
    const p = await loadCompiled(body.wasm);
    assert.deepEqual(p.evaluate(input, 'p/x'), [{ result: true }]);
    assert.deepEqual(p.evaluate({ ...input, a199: 0 }, 'p/x'), []);
  });

  it('nested comprehensions compile in time linear in their depth (60 levels)', { timeout: 60_000 }, async () => {
    const n = 60;
    const text = `package p\nx := ${'[y | y := '.repeat(n)}input.v${']'.repeat(n)}\n`;
    const { wasm } = compile([{ file: 'p.rego', text }], { entrypoints: ['p/x'] });
    const want = JSON.parse(`${'['.repeat(n)}7${']'.repeat(n)}`) as unknown;
    assert.deepEqual((await loadCompiled(wasm)).evaluate({ v: 7 }, 'p/x'), [{ result: want }]);
  });
});
