// Seeded fuzz of the Rego compiler's front to back (parser, checks,
// planner, emitter): mutated policies either compile to a module the SDK
// loads and evaluates, or fail with a Rego error whose code is one of
// OPA's and whose file:row:col lies inside the file. Never a TypeError,
// RangeError or assertion, never a hang, never an error with no place.
//
// The corpus is the shipped policies (policies/busted/*.rego, tests
// included) and every module written out in test/policy/*.test.ts. A
// failure names its seed: FUZZ_SEED=<seed> FUZZ_CASES=1 replays that case
// alone (node scripts/run-tests.js fuzz-compile).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import { RegoError, RegoErrorCode, RegoErrors } from '../../engine/policy/rego/errors.js';
import { findTools } from '../../engine/policy/runtime/build.js';
import { prng } from '../helpers/prng.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

const ROOT = process.cwd();
const SHIPPED = readdirSync(join(ROOT, 'policies', 'busted'))
  .filter((f) => f.endsWith('.rego'))
  .sort()
  .map((f) => ({ name: `policies/busted/${f}`, text: readFileSync(join(ROOT, 'policies', 'busted', f), 'utf8') }));

/** Modules written out whole in the policy tests: template literals that start with `package` and interpolate nothing. */
function testModules(): Array<{ name: string; text: string }> {
  const dir = join(ROOT, 'test', 'policy');
  const out: Array<{ name: string; text: string }> = [];
  for (const f of readdirSync(dir).filter((x) => x.endsWith('.test.ts') && !x.startsWith('fuzz-')).sort()) {
    const src = readFileSync(join(dir, f), 'utf8');
    let i = 0;
    for (const m of src.matchAll(/`(package [^`$]*)`/g)) out.push({ name: `test/policy/${f}#${i++}`, text: m[1]!.replace(/\\\\/g, '\\') });
  }
  return out;
}

const CORPUS = [...SHIPPED, ...testModules()];
const CODES = new Set<string>(Object.values(RegoErrorCode));

const ODD = ['\0', '\uFEFF', '\r\n', '\r', '\u2028', '\ud800', '\udc00', '😀', 'é', '\u0301', '\t', '\x7f', '\u00a0', '٣', '$"x{1}"', '`', '"', '\\u', '\\ud800', '#', '\\'];
const LONG = ['1e999999', '-1e999999', '1e-999999', '0x1f', '99999999999999999999999999999999', '-0', '1.7976931348623157e309', '9223372036854775808', '-9223372036854775809', '00', '1.', '1e', '1E+', 'a'.repeat(5000), `"${'x'.repeat(100_000)}"`, `\`${'y'.repeat(70_000)}\``, '1' + '0'.repeat(400), '['.repeat(300), '{'.repeat(300), '('.repeat(300), 'not '.repeat(200), `${'-'.repeat(500)}1`];
const WORDS = ['[', ']', '{', '}', '(', ')', '|', ':=', '=', '==', 'some', 'every', 'with', 'in', 'else', 'default', 'not', 'if', 'contains', '_', '.', ',', ';', '\n', 'input', 'data', 'count', 'sprintf', 'regex.match', 'object.get', 'json.unmarshal', 'print', 'import', 'package', 'rego.v1', 'future.keywords', 'as'];
const SAME: Record<string, string[]> = {
  id: ['input', 'data', '_', 'x', 'count', 'sum', 'to_number', 'object.get', 'concat', 'sprintf', 'regex.match', 'startswith', 'in', 'not', 'some', 'every', 'with', 'null', 'true', 'false', 'contains', 'if', 'else', 'default'],
  num: ['0', '-0', '1e308', '9223372036854775807', '9223372036854775808', '18446744073709551616', '123456789012345678901234567890', '0.1', '1e-300', '4294967296', '2147483648', '-2147483649'],
  str: ['""', '"\\u0000"', '"\\ud800"', '"😀"', '"%v%d%s%!"', '"\\n\\t"', '"(a*)*b"', '"["', '"\\\\"', `\`${'a'.repeat(70_000)}\``],
  op: ['+', '-', '*', '/', '%', '&', '|', '==', '!=', '<', '>', ':=', '=', '<=', '>='],
};

const tokens = (s: string): string[] =>
  s.match(/\s+|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d+)?(?:[eE][-+]?\d+)?|"(?:[^"\\\n]|\\.)*"|`[^`]*`|:=|==|!=|<=|>=|[^\sA-Za-z0-9_]/gu) ?? [];

function classOf(t: string): string {
  if (/^\s/.test(t)) return 'ws';
  if (/^[A-Za-z_]/.test(t)) return 'id';
  if (/^\d/.test(t)) return 'num';
  if (/^["`]/.test(t)) return 'str';
  if (/^(:=|==|!=|<=|>=|[<>+\-*/%&|=])$/.test(t)) return 'op';
  return 'punct';
}

/**
 * One mutant of SRC: mostly tokens swapped for others of their class (which
 * keeps much of it parsing, so the later stages see it), else blunt edits:
 * tokens deleted, duplicated, swapped, odd characters and long literals
 * inserted, a random byte changed, CRLF and a BOM, truncation.
 */
function mutate(src: string, rnd: () => number): string {
  const pick = <T>(a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!;
  const t = tokens(src);
  if (rnd() < 0.55) {
    const pool: Record<string, string[]> = {};
    for (const x of t) (pool[classOf(x)] ??= []).push(x);
    for (let k = 1 + Math.floor(rnd() * 4); k > 0; k--) {
      const i = Math.floor(rnd() * t.length);
      const c = classOf(t[i] ?? ' ');
      if (c !== 'ws') t[i] = pick([...(pool[c] ?? []), ...(SAME[c] ?? [])]);
    }
    return t.join('');
  }
  let s = src;
  for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
    const u = tokens(s);
    const i = Math.floor(rnd() * Math.max(1, u.length));
    switch (Math.floor(rnd() * 10)) {
      case 0: u.splice(i, 1); break;
      case 1: u.splice(i, 0, u[i] ?? ''); break;
      case 2: { const j = Math.floor(rnd() * u.length); [u[i], u[j]] = [u[j]!, u[i]!]; break; }
      case 3: u.splice(i, 0, pick(ODD)); break;
      case 4: u.splice(i, 0, pick(LONG)); break;
      case 5: u.splice(i, 0, pick(WORDS)); break;
      case 6: { const j = Math.min(u.length, i + 1 + Math.floor(rnd() * 30)); u.splice(i, 0, ...u.slice(i, j)); break; }
      case 7: { const at = Math.floor(rnd() * s.length); s = s.slice(0, at) + String.fromCharCode(Math.floor(rnd() * 256)) + s.slice(at + 1); continue; }
      case 8: s = `\uFEFF${s.replace(/\n/g, '\r\n')}`; continue;
      default: s = s.slice(0, Math.floor(rnd() * s.length)); continue;
    }
    s = u.join('');
  }
  return s;
}

/** Rules of the text's package that are not functions: the entrypoints to plan (optional: planned when defined). */
function entrypointsOf(text: string): string[] {
  const pkg = /^package[ \t]+([A-Za-z_][\w.]*)/m.exec(text)?.[1] ?? 'busted';
  const names = new Set<string>();
  for (const m of text.matchAll(/^([A-Za-z_]\w*)\b(?![ \t]*\()/gm)) if (!['package', 'import', 'default'].includes(m[1]!)) names.add(m[1]!);
  return [...names].slice(0, 12).map((n) => `${pkg.split('.').join('/')}/${n}`);
}

const INPUTS: unknown[] = [
  {},
  {
    type: 'llm_request',
    provider: 'openai',
    llm: { model: 'gpt-4o', system_prompt: 'x', user_message: 'AKIAABCDEFGHIJKLMNOP' },
    mcp: { kind: 'request', method: 'tools/call', tool: 'shell' },
    process: { uid: 2000, cgroup_path: '/research/a', comm: 'curl' },
    tls: { sni: 'evil-openai.com', version: 'TLS 1.0', plaintext: false, cipher: '_RC4_' },
    net: { dst_ip: '1.2.3.4', dst_port: 443 },
    ml: { llm_score: 0.99, label: 'llm' },
    a: [1, 2.5, -0, 1e308],
    s: '\ud800é',
  },
  [1, 'x', null],
  1e308,
];

/** What a case may end in: located Rego errors, or a module that loads and evaluates (errors only as the SDK's abort strings). */
async function check(text: string, what: string): Promise<'ok' | string> {
  const lines = text.split('\n');
  const t0 = performance.now();
  let wasm: Uint8Array;
  let entrypoints: Record<string, number>;
  try {
    ({ wasm, entrypoints } = compile([{ file: 'p.rego', text }], { entrypoints: [], optional: entrypointsOf(text) }));
  } catch (e) {
    assert.ok(e instanceof RegoErrors || e instanceof RegoError, `${what}: threw ${e instanceof Error ? e.stack : String(e)}`);
    const errs = e instanceof RegoErrors ? e.errors : [e];
    assert.ok(errs.length > 0, `${what}: RegoErrors without errors`);
    for (const x of errs) {
      assert.ok(CODES.has(x.code), `${what}: unknown code ${x.code}`);
      const { file, row, col } = x.location;
      // an empty module is OPA's p.rego:0:0 (there is no place in it to name);
      // column 0 is where OPA's scanner puts what starts with a newline (the
      // row after it), the end of a file that ends with one included
      const empty = x.reason === 'empty module' && row === 0 && col === 0;
      const line = lines[row - 1];
      assert.ok(file === 'p.rego' && (empty || (line !== undefined && col >= 0 && col <= [...line].length + 2)), `${what}: ${x.message} is not inside the file (${lines.length} lines)`);
    }
    assert.ok(performance.now() - t0 < 3000, `${what}: took ${Math.round(performance.now() - t0)} ms to fail`);
    return errs[0]!.code;
  }
  assert.ok(performance.now() - t0 < 3000, `${what}: took ${Math.round(performance.now() - t0)} ms to compile`);
  const p = await loadCompiled(wasm);
  for (const ep of Object.keys(entrypoints)) {
    for (const input of INPUTS) {
      try {
        p.evaluate(input, ep);
      } catch (e) {
        // the SDK throws opa_abort's message as a string (a conflict, a bad input); anything else is a trap or a bug
        assert.equal(typeof e, 'string', `${what}: ${ep} on ${JSON.stringify(input).slice(0, 60)} threw ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
  }
  return 'ok';
}

const SEED = Number(process.env.FUZZ_SEED ?? 0xc0ffee);
const CASES = Number(process.env.FUZZ_CASES ?? 500);

describe('fuzzed policies (seeded)', { skip }, () => {
  it(`${CASES} mutants of the shipped and test policies compile, or fail at a place in the file (seed ${SEED})`, async () => {
    assert.ok(CORPUS.length > 40, `corpus of ${CORPUS.length} modules`);
    const seen: Record<string, number> = {};
    for (let c = 0; c < CASES; c++) {
      const seed = SEED + c;
      const rnd = prng(seed);
      const base = CORPUS[Math.floor(rnd() * CORPUS.length)]!;
      const text = mutate(base.text, rnd);
      const what = `seed ${seed} (FUZZ_SEED=${seed} FUZZ_CASES=1), a mutant of ${base.name}:\n${JSON.stringify(text.length > 600 ? `${text.slice(0, 600)}…` : text)}\n`;
      const got = await check(text, what);
      seen[got] = (seen[got] ?? 0) + 1;
    }
    // the mutants reach past the parser: some compile, some fail in the later checks
    if (CASES >= 200) {
      assert.ok((seen.ok ?? 0) > CASES / 10, `outcomes ${JSON.stringify(seen)}`);
      assert.ok((seen.rego_unsafe_var_error ?? 0) + (seen.rego_type_error ?? 0) + (seen.rego_compile_error ?? 0) > 0, `outcomes ${JSON.stringify(seen)}`);
    }
  });

  it('every shipped policy cut short at every 23rd character fails at a place in the file', async () => {
    for (const f of SHIPPED) {
      for (let at = 0; at < f.text.length; at += 23) await check(f.text.slice(0, at), `${f.name} cut at ${at}`);
    }
  });

  it('an entrypoint that names a function is an error at the function, not at 0:0 without a file', () => {
    assert.throws(
      () => compile([{ file: 'p.rego', text: 'package t\n\nf(x) := x + 1\n' }], { entrypoints: ['t/f'] }),
      (e: unknown) =>
        e instanceof RegoError &&
        e.message === 'p.rego:3:1: rego_compile_error: entrypoint "t/f" refers to function data.t.f, which takes 1 argument(s); an entrypoint must be a rule',
    );
  });
});
