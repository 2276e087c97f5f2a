// Seeded fuzz of evaluation on odd inputs. Two differentials:
//
// - the runtime's input parser (runtime/json.c, through opa_eval) against
//   JSON.parse, on random JSON texts full of escapes, lone surrogates,
//   big and odd numbers and whitespace: it found opa_eval overwriting its
//   own parser state (eval.c), which made `["\ud800\u0041"]` "not valid JSON";
// - the engine (PolicyEngine: input projection, direct opa_eval path)
//   against the SDK's own evaluate() path (DirectEval.of mocked to
//   undefined) and against the SDK evaluating the whole event, on mutated
//   events (deep nesting, huge strings, non-ASCII, lone surrogates, 1e308,
//   -0, big integers, arrays where objects are expected, __proto__ and
//   constructor keys). Verdicts must agree; errors must be BustedError,
//   never a raw trap or TypeError, and never an "allow" where the SDK blocks.
//
// A failure names its seed: FUZZ_SEED=<seed> FUZZ_CASES=1 replays it
// (node scripts/run-tests.js fuzz-eval).
import { after, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

import { BustedError } from '../../engine/model/errors.js';
import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import { DirectEval } from '../../engine/policy/direct.js';
import { PolicyEngine, type Verdict } from '../../engine/policy/engine.js';
import { buildPolicy } from '../../engine/policy/source.js';
import { findTools } from '../../engine/policy/runtime/build.js';
import { prng } from '../helpers/prng.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;
const SEED = Number(process.env.FUZZ_SEED ?? 0xfeed);
const tmp = mkdtempSync(join(tmpdir(), 'busted-fuzz-eval-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Rnd = () => number;
const pick = <T>(rnd: Rnd, a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;

/* ------------------------------------------------------- JSON texts */

/** A random JSON text (valid, or nearly: a few escapes are wrong on purpose). */
function jsonText(rnd: Rnd, d = 0): string {
  const ws = () => (rnd() < 0.2 ? pick(rnd, [' ', '\n', '\t', '\r', '  ']) : '');
  switch (Math.floor(rnd() * (d > 6 ? 4 : 7))) {
    case 0:
      return pick(rnd, ['true', 'false', 'null', 'nul', 'tru']);
    case 1:
      return pick(rnd, ['0', '-0', '1', '-1', '1.5', '1e5', '1E-5', '-0.0', '1e308', '9007199254740993', '123456789012345678901234567890', '0.1', '1e-400', '2.5e+10', '9223372036854775807', '-9223372036854775808', '9223372036854775808', '01', '1.', '.5', '+1', String(Math.floor(rnd() * 1e6))]);
    case 2:
    case 3: {
      let s = '"';
      for (let n = Math.floor(rnd() * 12); n > 0; n--) {
        const c = Math.floor(rnd() * 10);
        if (c === 0) s += `\\u${Math.floor(rnd() * 0x10000).toString(16).padStart(4, '0')}`;
        else if (c <= 2) s += `\\u${pick(rnd, ['d800', 'dbff', 'dc00', 'dfff', 'D83D', 'DE00', '0000', '001f', '0022', '005c', 'ud80', 'zzzz'])}`;
        else if (c === 3) s += pick(rnd, ['\\n', '\\"', '\\\\', '\\/', '\\b', '\\f', '\\r', '\\t', '\\x']);
        else if (c === 4) s += pick(rnd, ['é', '😀', '€', '\u2028', '\ufeff', '\u0001']);
        else s += pick(rnd, ['a', 'b', ' ', 'x', '0', '{', ']']);
      }
      return `${s}"`;
    }
    case 4:
      return `[${ws()}${Array.from({ length: Math.floor(rnd() * 4) }, () => ws() + jsonText(rnd, d + 1) + ws()).join(',')}]`;
    default: {
      const key = () => {
        const k = jsonText(rnd, 7);
        return k.startsWith('"') ? k : '"k"';
      };
      return `{${ws()}${Array.from({ length: Math.floor(rnd() * 4) }, () => `${ws()}${key()}${ws()}:${ws()}${jsonText(rnd, d + 1)}${ws()}`).join(',')}}`;
    }
  }
}

const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/**
 * The value the module should hand back for a JSON value, as JSON text with
 * keys in the runtime's order (UTF-8 bytes): lone surrogates are U+FFFD (as
 * in Go's encoding/json), -0 is 0, numbers too big for a double are null
 * in the SDK's JSON.parse of the result. undefined: two keys that are one
 * key once their lone surrogates are U+FFFD (which one wins is not JSON's to say).
 */
function canonical(v: unknown): string | undefined {
  if (typeof v === 'string') return JSON.stringify(v.replace(LONE, '\ufffd'));
  if (typeof v === 'number') return JSON.stringify(Object.is(v, -0) ? 0 : v);
  if (Array.isArray(v)) {
    const xs = v.map(canonical);
    return xs.includes(undefined) ? undefined : `[${xs.join(',')}]`;
  }
  if (v !== null && typeof v === 'object') {
    const ks = Object.keys(v).map((k) => [k.replace(LONE, '\ufffd'), k] as const);
    if (new Set(ks.map(([n]) => n)).size !== ks.length) return undefined;
    ks.sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])));
    const parts = ks.map(([n, k]) => [n, canonical((v as Record<string, unknown>)[k])] as const);
    return parts.some(([, x]) => x === undefined) ? undefined : `{${parts.map(([n, x]) => `${JSON.stringify(n)}:${x}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

/* ----------------------------------------------------------- events */

const BASES: object[] = [
  { type: 'llm_request', provider: 'openai', process: { comm: 'python3', uid: 1000, cgroup_path: '/research/x', container_id: 'abc' }, llm: { model: 'gpt-4o', system_prompt: 'be terse', user_message: 'hello AKIAABCDEFGHIJKLMNOP' }, net: { dst_ip: '1.2.3.4', dst_port: 443, dst_host: 'api.openai.com' }, tls: { sni: 'api.openai.com' } },
  { type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', tool: 'run-shell' }, process: { comm: 'node', uid: 2000 } },
  { type: 'connect', provider: 'mistral', net: { dst_ip: '10.0.0.1', dst_port: 8080 }, process: { uid: 2000 } },
  { type: 'tls_server_hello', tls: { version: 'TLS 1.0', cipher: 'TLS_RSA_WITH_RC4_128', sni: 'evil-openai.com' }, net: { dst_ip: '::1' } },
  { type: 'tls_client_hello', provider: 'anthropic', tls: { plaintext: false }, process: { comm: 'curl' } },
  { type: 'dns', dns: { questions: [{ name: 'openai.com.example.net.' }] }, ml: { llm_score: 0.95, label: 'llm' }, net: { dst_ip: '5.6.7.8', dst_port: 11434 } },
  { n: 0, a: { b: 1 }, s: 'x', o: { p: 1 } },
];

/** An odd value: long, non-ASCII, lone surrogates, extreme numbers, wrong types, deep, keys named like Object.prototype's. */
function odd(rnd: Rnd, depth = 0): unknown {
  switch (Math.floor(rnd() * 16)) {
    case 0:
      return 'x'.repeat(Math.floor(rnd() * 100_000));
    case 1:
      return pick(rnd, ['\ud800', '\udc00', 'a\ud83dz', '\ud800\u0041', '😀', 'é', '\u0000', '\u001f', '"\\', '\u2028', '\ufeff', '%v%s%d%!', 'AKIAABCDEFGHIJKLMNOP', '-----BEGIN RSA PRIVATE KEY-----', `ghp_${'a'.repeat(36)}`, `sk-${'a'.repeat(30)}`]);
    case 2:
      return pick(rnd, [1e308, -1e308, 5e-324, -0, 0, 2 ** 53 + 1, 2 ** 63, -(2 ** 63), 2 ** 64, 1e21, 1e-7, 0.1, NaN, Infinity, -Infinity, 4294967296, 2147483648, -2147483649, 0.9, 0.97, 2000]);
    case 3:
      return pick(rnd, [true, false, null]);
    case 4:
      return pick(rnd, [[], {}]);
    case 5: {
      let v: unknown = pick(rnd, ['deep', 1, null]);
      for (let n = Math.floor(rnd() * (rnd() < 0.8 ? 900 : 1500)); n > 0; n--) v = rnd() < 0.5 ? [v] : { a: v };
      return v;
    }
    case 6:
      return JSON.parse('{"__proto__": {"x": 1}, "constructor": {"x": true}, "toString": "s", "hasOwnProperty": 1}') as unknown;
    case 7:
      return depth < 3 ? Array.from({ length: Math.floor(rnd() * 5) }, () => odd(rnd, depth + 1)) : 1;
    case 8:
      return depth < 3 ? Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, (_, i) => [pick(rnd, ['a', 'b', '', '__proto__', 'é', '\ud800', 'name', 'uid', `x${i}`]), odd(rnd, depth + 1)])) : {};
    case 9:
      return Array.from({ length: Math.floor(rnd() * 5000) }, (_, i) => i);
    case 10:
      return String.fromCharCode(...Array.from({ length: Math.floor(rnd() * 100) }, () => Math.floor(rnd() * 0x10000)));
    case 11:
      return pick(rnd, ['openai', 'anthropic', 'mistral', 'groq', 'llm_request', 'mcp_message', 'tls_client_hello', 'tls_server_hello', 'request', 'tools/call', 'shell', 'TLS 1.2', 'TLS 1.1', 'openai.com', 'evil-openai.com.', '/research/']);
    default:
      return pick(rnd, [1, 'a', 0.95, 2000, '/research/z', 'TLS 1.0', 'x.openai.com']);
  }
}

const define = (o: object, k: string, v: unknown) => Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });

/** A contract-shaped event with a few members replaced by odd values, or added (own __proto__ included). */
function oddEvent(rnd: Rnd): object {
  const e = JSON.parse(JSON.stringify(pick(rnd, BASES))) as Record<string, unknown>;
  for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) {
    let o: Record<string, unknown> | undefined = e;
    for (;;) {
      const keys = Object.keys(o);
      if (keys.length === 0 || rnd() < 0.35) break;
      const key = pick(rnd, keys);
      const v = o[key];
      if (v === null || typeof v !== 'object' || rnd() < 0.4) {
        define(o, key, odd(rnd));
        o = undefined;
        break;
      }
      o = v as Record<string, unknown>;
    }
    if (o !== undefined && !Array.isArray(o)) define(o, pick(rnd, ['type', 'provider', 'llm', 'mcp', 'net', 'tls', 'process', 'ml', 'dns', 'http', 'n', 's', 'a', 'o', '__proto__', 'constructor', 'user_message', 'sni', 'uid', 'llm_score']), odd(rnd));
  }
  return e;
}

function depthOf(v: unknown): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (x === null || typeof x !== 'object') continue;
    max = Math.max(max, d);
    for (const y of Object.values(x)) stack.push([y, d + 1]);
  }
  return max;
}

/* ---------------------------------------------------------- engines */

/** Policies beside the shipped ones: the whole input read (no projection), members iterated, numbers, keys named like Object.prototype's. */
const EXTRA: Record<string, string> = {
  whole: 'package busted\n\ndecision := "block" if json.marshal(input) == "x"\n\ndecision := "audit" if count(input) > 3\n\nreasons contains sprintf("%v", [input])\n',
  members: 'package busted\n\ndecision := "audit" if {\n\tsome _, v in input\n\tis_string(v)\n\tcontains(v, "AKIA")\n}\n\ndecision := "block" if json.unmarshal(json.marshal(input)) != input\n\nreasons contains sprintf("%v %v", [k, type_name(v)]) if some k, v in input\n',
  numbers: 'package busted\n\ndecision := "block" if input.n > 1e300\n\ndecision := "audit" if {\n\tnot input.n > 1e300\n\tinput.n == 0\n}\n\nreasons contains sprintf("%v %v %v", [input.n, input.a.b, input.s])\n',
  keys: 'package busted\n\ndecision := "audit" if input.__proto__\n\ndecision := "block" if input.constructor.x\n\nreasons contains k if some k, _ in input.o\n',
};

interface Under {
  name: string;
  direct: PolicyEngine;
  viaSdk: PolicyEngine;
  sdk: LoadedPolicy;
}

async function under(name: string, src: string): Promise<Under> {
  const build = buildPolicy(src);
  const direct = await PolicyEngine.fromBuild(build);
  const of = mock.method(DirectEval, 'of', () => undefined);
  let viaSdk: PolicyEngine;
  try {
    viaSdk = await PolicyEngine.fromBuild(build);
  } finally {
    of.mock.restore();
  }
  const sdk = await loadCompiled(build.wasm);
  sdk.setData(build.data);
  return { name, direct, viaSdk, sdk };
}

type Outcome = { verdict: Verdict } | { error: string };

function outcome(f: () => Verdict): Outcome {
  try {
    return { verdict: f() };
  } catch (e) {
    assert.ok(e instanceof BustedError, `threw ${e instanceof Error ? e.stack : String(e)}`);
    return { error: e.message };
  }
}

/** The verdict from the SDK's evaluate() on the whole event, read as PolicyEngine.decide reads result sets. */
function sdkVerdict(sdk: LoadedPolicy, e: object): Outcome {
  const run = (ep: string): Array<{ result: unknown }> => {
    try {
      return sdk.evaluate(e, ep) as Array<{ result: unknown }>;
    } catch (x) {
      throw new BustedError('BUSTED_E_POLICY', `${ep}: ${String((x as Error).message ?? x)}`);
    }
  };
  return outcome(() => {
    const d = run('busted/decision');
    const raw = d.length ? d[0]!.result : 'allow';
    const action = ({ allow: 'allow', audit: 'audit', block: 'block', deny: 'block' } as const)[raw as 'allow'];
    // the engine's words (engine.ts decide), so that an error compares as any verdict does
    if (action === undefined) throw new BustedError('BUSTED_E_POLICY', `busted/decision is ${JSON.stringify(raw)}: expected "allow", "audit", "block" or "deny"`);
    if (action === 'allow') return { action, reasons: [] };
    const r = run('busted/reasons');
    const reasons = r.length ? r[0]!.result : [];
    if (!Array.isArray(reasons) || !reasons.every((x) => typeof x === 'string')) {
      throw new BustedError('BUSTED_E_POLICY', `busted/reasons is ${JSON.stringify(reasons)}: expected a set of strings`);
    }
    return { action, reasons: [...(reasons as string[])].sort() };
  });
}

const show = (o: Outcome) => ('verdict' in o ? JSON.stringify(o.verdict) : `error ${o.error.slice(0, 120)}`);

describe('fuzzed evaluation (seeded)', { skip }, () => {
  it('opa_eval reads random JSON texts as JSON.parse does, and refuses what JSON.parse refuses', async () => {
    const { wasm } = compile([{ file: 'p.rego', text: 'package t\n\nx := input\n' }], { entrypoints: ['t/x'] });
    const p = await loadCompiled(wasm);
    const enc = new TextEncoder();
    const read = (text: string): string | undefined => {
      try {
        const rs = p.evaluate(enc.encode(text).buffer, 't/x') as Array<{ result: unknown }>;
        return canonical(rs[0]?.result);
      } catch (e) {
        assert.equal(typeof e, 'string', `${JSON.stringify(text)} threw ${e instanceof Error ? e.stack : String(e)}`);
        return 'refused';
      }
    };
    // what the fuzz found first: a lone high surrogate before another \u escape, inside an array or object
    for (const text of ['["\\ud800\\u0041"]', '{"a":"\\udacc\\udb86"}', '[1,"\\ud800\\ud800"]', '{"n":0,"a":"ꢶ\\ud846湀\\udacc\\udb86퓘"}']) {
      assert.equal(read(text), canonical(JSON.parse(text)), text);
    }
    const cases = Number(process.env.FUZZ_CASES ?? 6000);
    let valid = 0;
    for (let c = 0; c < cases; c++) {
      const seed = SEED + c;
      const text = jsonText(prng(seed));
      let want: string | undefined;
      try {
        want = canonical(JSON.parse(text));
        valid++;
      } catch {
        want = 'refused';
      }
      if (want === undefined) continue;
      assert.equal(read(text), want, `seed ${seed} (FUZZ_SEED=${seed} FUZZ_CASES=1): ${JSON.stringify(text)}`);
    }
    assert.ok(valid > cases / 3 && valid < cases, `${valid} of ${cases} texts valid`);
  });

  it('an input nested deeper than the parser goes is refused, saying so', async () => {
    const { wasm } = compile([{ file: 'p.rego', text: 'package t\n\nx := count(input)\n' }], { entrypoints: ['t/x'] });
    const p = await loadCompiled(wasm);
    const deep = (n: number) => new TextEncoder().encode(`${'['.repeat(n)}${']'.repeat(n)}`).buffer;
    assert.deepEqual(p.evaluate(deep(1000), 't/x'), [{ result: 1 }]);
    assert.throws(() => p.evaluate(deep(1001), 't/x'), (e: unknown) => e === 'opa_eval: input is not valid JSON (or is nested more than 1000 levels deep)');
  });

  it('the engine decides odd events as the SDK does, on the shipped policies and four more', async () => {
    const dirs: Array<[string, string]> = [['shipped', join(process.cwd(), 'policies')]];
    for (const [name, rego] of Object.entries(EXTRA)) {
      const file = join(tmp, `${name}.rego`);
      writeFileSync(file, rego);
      dirs.push([name, file]);
    }
    const engines = await Promise.all(dirs.map(([n, src]) => under(n, src)));
    const cases = Number(process.env.FUZZ_CASES ?? 180);
    const seen = { allow: 0, audit: 0, block: 0, error: 0 };
    for (let c = 0; c < cases; c++) {
      const seed = SEED + c;
      const event = oddEvent(prng(seed));
      for (const u of engines) {
        const what = () => `seed ${seed} (FUZZ_SEED=${seed} FUZZ_CASES=1), policy ${u.name}, event ${JSON.stringify(event).slice(0, 300)}`;
        let a: Outcome, b: Outcome;
        try {
          a = outcome(() => u.direct.decide(event));
          b = outcome(() => u.viaSdk.decide(event));
        } catch (e) {
          assert.fail(`${what()}: ${(e as Error).message}`);
        }
        assert.equal(show(a), show(b), `${what()}: the direct path and the SDK's evaluate() differ`);
        const whole = sdkVerdict(u.sdk, event);
        // the whole event may be deeper than the runtime parses; the engine
        // hands over only what the policy reads, which may not be
        const tooDeep = 'error' in whole && /nested more than 1000/.test(whole.error) && depthOf(event) > 1000;
        if (!tooDeep) assert.equal(show(a), show(whole), `${what()}: the engine and the SDK on the whole event differ`);
        if ('verdict' in a) seen[a.verdict.action]++;
        else seen.error++;
      }
    }
    // the events reach every verdict, so the comparison is not of "allow" with "allow" alone
    if (cases >= 100) for (const [k, n] of Object.entries(seen)) assert.ok(n > 0, `no ${k} in ${JSON.stringify(seen)}`);
  });
});
