// The engine's direct path (engine/policy/direct.ts): opa_eval called on
// the instance @open-policy-agent/opa-wasm loaded, with the input written
// into the module's memory. Each case is checked against the SDK's own
// evaluate() on the same module, since a wrong shortcut would be a silent
// wrong decision: big inputs that make the memory grow, results the path
// recognises by their bytes and those it parses, errors, the reasons
// entrypoint reading the input the decision left, and the engine's
// fallback to evaluate() where the SDK does not offer the path.
import { describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { BustedError } from '../../engine/model/errors.js';
import { loadCompiled, type LoadOptions } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import { DirectEval } from '../../engine/policy/direct.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { buildPolicy } from '../../engine/policy/source.js';

const POLICIES = join(process.cwd(), 'policies');

async function engineFor(rego: string, opts: LoadOptions = {}): Promise<PolicyEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'busted-direct-'));
  try {
    writeFileSync(join(dir, 'p.rego'), rego);
    return await PolicyEngine.load(dir, opts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const prompt = (user: string) => ({ type: 'llm_request', provider: 'openai', llm: { model: 'gpt-4o', system_prompt: 'be terse', user_message: user } });

describe('direct evaluation (engine/policy/direct.ts)', () => {
  it('is what the engine uses for modules our compiler builds, and gives the SDK\'s result sets', async () => {
    const build = buildPolicy(POLICIES);
    const sdk = await loadCompiled(build.wasm);
    sdk.setData(build.data);
    const direct = DirectEval.of(sdk);
    assert.ok(direct, 'the SDK in package-lock offers the fields the direct path reads');
    const ids = (sdk as unknown as { entrypoints: Record<string, number> }).entrypoints;
    const events = [prompt('hello'), prompt('AKIAABCDEFGHIJKLMNOP'), { type: 'connect', provider: 'mistral' }, { type: 'tls_server_hello', tls: { version: 'TLS 1.0' } }, {}];
    const enc = new TextEncoder();
    for (const e of events) {
      const bytes = enc.encode(JSON.stringify(e));
      const at = direct.inputAddress();
      const mem = direct.ensure(at + bytes.length);
      mem.set(bytes, at);
      direct.inputWritten(at + bytes.length);
      // both entrypoints on one written input: the reasons read what the decision left
      for (const ep of ['busted/decision', 'busted/reasons']) {
        assert.deepEqual(direct.evaluate(ids[ep]!), sdk.evaluate(e, ep), `${ep} of ${JSON.stringify(e)}`);
      }
    }
  });

  it('grows the memory for an input bigger than it, and finds a secret at its end', async () => {
    const engine = await PolicyEngine.load(POLICIES);
    const big = `${'lorem ipsum dolor sit amet '.repeat(80_000)} AKIAABCDEFGHIJKLMNOP`; // 2 MB: the module starts with 5 pages
    assert.deepEqual(engine.decide(prompt(big)), { action: 'block', reasons: ['prompt to openai contains an AWS access key'] });
    assert.deepEqual(engine.decide(prompt('small again')), { action: 'allow', reasons: [] });
    const blocked = engine.decide(prompt('é😀 ghp_0123456789abcdefghijklmnopqrstuvwxyzAB'));
    assert.deepEqual(blocked, { action: 'block', reasons: ['prompt to openai contains a GitHub token'] });
  });

  it('hands the module every string as the SDK\'s JSON does: escapes, controls, non-ASCII, lone surrogates, long ones', async () => {
    const rego = 'package busted\n\ndecision := "block" if input.s\n\nreasons contains input.s\n\nreasons contains sprintf("%d", [count(input.s)])\n';
    const engine = await engineFor(rego);
    const { wasm } = compile([{ file: 'p.rego', text: rego }], { entrypoints: ['busted/decision', 'busted/reasons'] });
    const sdk = await loadCompiled(wasm);
    const strings = ['', 'plain', 'quote " backslash \\ slash /', 'nul \u0000 \u0001 \u0002 del \u007f \n\t', 'é ü € 😀', 'lone \ud800 high', 'lone \udc00 low', 'x'.repeat(32), 'é'.repeat(33), '\u0002'.repeat(300), 'y'.repeat(70_000)];
    for (const str of strings) {
      const got = engine.decide({ s: str, other: 'unread' });
      const rs = sdk.evaluate({ s: str }, 'busted/reasons') as Array<{ result: string[] }>;
      assert.deepEqual(got, { action: 'block', reasons: [...rs[0]!.result].sort() }, JSON.stringify(str).slice(0, 60));
    }
  });

  it('reads the result after the module grew its memory during the evaluation', async () => {
    // concat builds a 10 MB string inside the module: its memory grows while opa_eval runs
    const engine = await engineFor('package busted\n\ndecision := "audit" if count(concat("", [input.big | some _ in input.xs])) > 5000000\n\nreasons contains "big" if decision\n');
    const e = { big: 'x'.repeat(100_000), xs: Array.from({ length: 100 }, (_, i) => i) };
    assert.deepEqual(engine.decide(e), { action: 'audit', reasons: ['big'] });
    assert.deepEqual(engine.decide({ big: 'x', xs: [1] }), { action: 'allow', reasons: [] });
    assert.deepEqual(engine.decide(e), { action: 'audit', reasons: ['big'] });
  });

  it('hands out the results it recognises frozen, so that no caller can change them for the next', async () => {
    const build = buildPolicy(POLICIES);
    const sdk = await loadCompiled(build.wasm);
    sdk.setData(build.data);
    const direct = DirectEval.of(sdk)!;
    const bytes = new TextEncoder().encode('{"type":"connect","provider":"openai"}');
    const at = direct.inputAddress();
    direct.ensure(at + bytes.length).set(bytes, at);
    direct.inputWritten(at + bytes.length);
    const id = (sdk as unknown as { entrypoints: Record<string, number> }).entrypoints['busted/decision']!;
    const rs = direct.evaluate(id) as Array<{ result: string }>;
    assert.deepEqual(rs, [{ result: 'allow' }]);
    assert.ok(Object.isFrozen(rs) && Object.isFrozen(rs[0]));
    assert.throws(() => (rs as unknown[]).push(1), TypeError);
    assert.deepEqual(direct.evaluate(id), [{ result: 'allow' }]);
  });

  it('reports a conflict as an error naming the entrypoint, and decides the next event afresh', async () => {
    const engine = await engineFor('package busted\n\ndecision := "allow" if input.a\n\ndecision := "block" if input.b\n\nreasons contains "r" if input.b\n');
    assert.throws(
      () => engine.decide({ a: true, b: true }),
      (e: unknown) => e instanceof BustedError && /busted\/decision: .*(conflict|complete rule)/i.test(e.message),
    );
    assert.deepEqual(engine.decide({ b: true }), { action: 'block', reasons: ['r'] });
    assert.deepEqual(engine.decide({ a: true }), { action: 'allow', reasons: [] });
  });

  it("reads a decision's one string or boolean from the runtime's values, and has anything else dumped, as the SDK gives it", async () => {
    const rego = [
      'package t',
      'import rego.v1',
      'r := input.v',
      // one definition that may conflict with another: an error, as through the SDK
      'c := 1 if input.conflict',
      'c := 2 if input.conflict',
    ].join('\n');
    const { wasm } = compile([{ file: 'p.rego', text: rego }], { entrypoints: ['t/r', 't/c'] });
    const sdk = await loadCompiled(wasm);
    const d = DirectEval.of(sdk)!;
    const enc = new TextEncoder();
    const ask = (input: object, ep: number): unknown => {
      const bytes = enc.encode(JSON.stringify(input));
      const at = d.inputAddress();
      d.ensure(at + bytes.length).set(bytes, at);
      d.inputWritten(at + bytes.length);
      return d.evaluate(ep);
    };
    const values: unknown[] = ['allow', 'audit', 'block', 'deny', 'Allow', 'allowed', 'allo', '', 'blocké', true, false, 0, 1.5, null, [], ['allow'], { result: 'allow' }, { a: 1, b: [true] }];
    for (const v of values) assert.deepEqual(ask({ v }, 0), sdk.evaluate({ v }, 't/r'), JSON.stringify(v));
    assert.deepEqual(ask({}, 0), []);
    assert.throws(() => ask({ conflict: true }, 1), /conflict/);
    // and the next evaluation is itself again
    assert.deepEqual(ask({ v: 'block' }, 0), [{ result: 'block' }]);
  });

  it('parses results it does not recognise (busted/kill, an object decision)', async () => {
    const engine = await engineFor('package busted\n\ndecision := "block"\n\nkill if input.kill\n\nreasons contains {"not": "a string"} if input.odd\n');
    assert.equal(engine.kills({ kill: true }), true);
    assert.equal(engine.kills({}), false);
    assert.throws(() => engine.decide({ odd: true }), /busted\/reasons is \[\{"not":"a string"\}\]: expected a set of strings/);
  });

  it('busted/kill right after the decision of the same event keeps the rules the decision worked out', async () => {
    const lines: string[] = [];
    const src = `package busted

import rego.v1

block contains "bad" if {
  print("block for", input.n)
  input.bad
}

decision := "block" if count(block) > 0

reasons := block

kill if {
  print("kill for", input.n)
  "bad" in block
  input.kill
}
`;
    const engine = await engineFor(src, { print: (l) => lines.push(l) });
    const e1 = { n: 1, bad: true, kill: true };
    assert.deepEqual(engine.decide(e1), { action: 'block', reasons: ['bad'] });
    assert.equal(engine.kills(e1), true);
    assert.deepEqual(lines, ['block for 1', 'kill for 1'], 'block is worked out once for the decision, its reasons and the kill');
    // another event between the decision and the kill: the kill sees its own input
    lines.length = 0;
    const e2 = { n: 2, bad: true, kill: false };
    engine.decide(e2);
    assert.equal(engine.kills(e1), true);
    assert.equal(engine.kills(e2), false);
    assert.deepEqual(lines, ['block for 2', 'kill for 1', 'block for 1', 'kill for 2', 'block for 2']);
    // a decision that failed leaves nothing to reuse
    lines.length = 0;
    const bad = await engineFor(`package busted\n\ndecision := "block"\n\nreasons contains 1 if print("reasons")\n\nkill if print("kill", input.n)\n`, { print: (l) => lines.push(l) });
    assert.throws(() => bad.decide({ n: 3 }), /expected a set of strings/);
    assert.equal(bad.kills({ n: 3 }), true);
    assert.deepEqual(lines, ['reasons', 'kill 3']);
  });

  it('is not taken when the SDK does not offer it, and evaluate() decides alike', async () => {
    const build = buildPolicy(POLICIES);
    const sdk = await loadCompiled(build.wasm);
    sdk.setData(build.data);
    const fields = sdk as unknown as Record<string, unknown>;
    for (const [field, value] of [['minorVersion', 1], ['dataAddr', undefined], ['mem', {}]] as const) {
      const was = fields[field];
      fields[field] = value;
      try {
        assert.equal(DirectEval.of(sdk), undefined, `${field} = ${String(value)}`);
      } finally {
        fields[field] = was;
      }
    }
    const direct = await PolicyEngine.load(POLICIES);
    const of = mock.method(DirectEval, 'of', () => undefined);
    try {
      const viaSdk = await PolicyEngine.load(POLICIES);
      assert.ok(of.mock.callCount() > 0);
      for (const e of [prompt('hello'), prompt('key sk-abcdefghijklmnopqrstuvwxyz'), { type: 'connect', provider: 'groq' }, { type: 'tls_server_hello', tls: { version: 'TLS 1.1' }, net: { dst_ip: '10.0.0.1' } }]) {
        assert.deepEqual(viaSdk.decide(e), direct.decide(e), JSON.stringify(e));
      }
    } finally {
      of.mock.restore();
    }
  });

  it('works on a module the engine cannot project for (a bundle: the whole event, or the JSON the caller has)', async () => {
    const { wasm } = compile([{ file: 'p.rego', text: 'package busted\n\ndecision := "audit" if input.x.y == "é"\n\nreasons contains input.x.y if input.x\n' }], {
      entrypoints: ['busted/decision', 'busted/reasons'],
    });
    const engine = await PolicyEngine.fromBuild({ kind: 'bundle', wasm, data: {}, revision: 'r', files: [] });
    const e = { x: { y: 'é' }, other: [1, 2, 3] };
    assert.deepEqual(engine.decide(e), { action: 'audit', reasons: ['é'] });
    assert.deepEqual(engine.decide(e, JSON.stringify(e)), { action: 'audit', reasons: ['é'] });
    assert.deepEqual(engine.decide({ x: { y: 'e' } }), { action: 'allow', reasons: [] });
  });
});
