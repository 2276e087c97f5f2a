// `busted compile` and `busted test-policy` on broken policy sources, as a
// user meets them: seeded mutants of the shipped policies (raw bytes: NUL,
// invalid UTF-8, a BOM and CRLF, cut short), a data.json cut short, a .rego
// link to nothing. Each is exit 2 (CONTRACT.md: "2 a usage or compile
// error") with the file and, for Rego, a row:col inside it, and never a
// stack trace. A failure names its seed (FUZZ_SEED=<seed> replays it).
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { PACKAGE_ROOT } from '../../engine/paths.js';
import { compile } from '../../engine/policy/compiler.js';
import { RegoErrors } from '../../engine/policy/rego/errors.js';
import { prng } from '../helpers/prng.js';

const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const runtimeBuilt = existsSync(join(PACKAGE_ROOT, 'build', 'wasm', 'runtime.wasm'));
const SHIPPED = join(PACKAGE_ROOT, 'policies');
const tmp = mkdtempSync(join(tmpdir(), 'busted-broken-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Run {
  status: number | null;
  stderr: string;
}

const busted = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) => {
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : null) : 0, stderr });
    });
  });

/** The shipped policies' texts by file name. */
const shippedTexts = (): Record<string, string> =>
  Object.fromEntries(['content.rego', 'providers.rego', 'decision.rego', 'ml.rego', 'compliance.rego'].map((f) => [f, readFileSync(join(SHIPPED, 'busted', f), 'utf8')]));

/** A copy of the shipped policies in DIR, with FILE's bytes replaced. */
function brokenCopy(dir: string, file: string, bytes: Buffer): void {
  cpSync(SHIPPED, dir, { recursive: true });
  writeFileSync(join(dir, 'busted', file), bytes);
}

/**
 * Mutants of a shipped policy that do not compile: bytes inserted (NUL,
 * invalid UTF-8, an unbalanced bracket, a lone surrogate's UTF-8), CRLF
 * with a BOM, or the file cut short. Only mutants the compiler rejects are
 * kept, so each case has an error to report.
 */
function mutants(seed: number, n: number): Array<{ seed: number; file: string; bytes: Buffer }> {
  const files = ['content.rego', 'providers.rego', 'decision.rego', 'ml.rego', 'compliance.rego'];
  const inserts = [Buffer.from([0]), Buffer.from([0xff, 0xfe]), Buffer.from('{'), Buffer.from(')'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from(' := := '), Buffer.from('"\n')];
  const out: Array<{ seed: number; file: string; bytes: Buffer }> = [];
  for (let s = seed; out.length < n; s++) {
    const rnd = prng(s);
    const file = files[Math.floor(rnd() * files.length)]!;
    let b = readFileSync(join(SHIPPED, 'busted', file));
    const at = Math.floor(rnd() * b.length);
    const kind = Math.floor(rnd() * 3);
    if (kind === 0) b = Buffer.concat([b.subarray(0, at), inserts[Math.floor(rnd() * inserts.length)]!, b.subarray(at)]);
    else if (kind === 1) b = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(b.toString('latin1').slice(0, at).replace(/\n/g, '\r\n'), 'latin1'), Buffer.from('[')]);
    else b = b.subarray(0, at);
    try {
      // with the other shipped files: ml.rego alone does not compile (host is in providers.rego)
      const others = files.filter((f) => f !== file).map((f) => ({ file: f, text: readFileSync(join(SHIPPED, 'busted', f), 'utf8') }));
      compile([...others, { file, text: b.toString('utf8') }], { entrypoints: ['busted/decision'] });
    } catch (e) {
      if (e instanceof RegoErrors) out.push({ seed: s, file, bytes: b });
    }
  }
  return out;
}

/**
 * The first `FILE:row:col: rego_…` of stderr names one of the policy files
 * (the mutant, or another file the mutant broke: cut short, providers.rego
 * no longer defines what ml.rego reads) and lies inside its text.
 */
function assertLocated(stderr: string, texts: Record<string, string>, what: string): void {
  const m = /([\w-]+\.rego):(\d+):(\d+): rego_[a-z_]+_error: (.*)/.exec(stderr);
  assert.ok(m, `${what}: no FILE:row:col in ${JSON.stringify(stderr.slice(0, 400))}`);
  const text = texts[m[1]!];
  assert.ok(text !== undefined, `${what}: ${m[1]} is none of the policy's files`);
  // a file of comments only is OPA's FILE:0:0 "empty module": there is no place in it to name
  if (m[4] === 'empty module' && m[2] === '0' && m[3] === '0' && !/^\s*[^#\s]/m.test(text.replace(/^\ufeff/, ''))) return;
  const lines = text.split('\n');
  const row = Number(m[2]);
  const col = Number(m[3]);
  // column 0: where OPA's scanner puts what starts with a newline (the row after it)
  assert.ok(row >= 1 && row <= lines.length && col >= 0 && col <= [...lines[row - 1]!].length + 2, `${what}: ${m[1]}:${row}:${col} is not inside it (${lines.length} lines)`);
}

const SEED = Number(process.env.FUZZ_SEED ?? 0xb0b);

describe('busted compile and test-policy on broken sources', { skip: runtimeBuilt ? undefined : 'needs the wasm runtime build (npm run build; needs lld)' }, () => {
  it('seeded mutants of the shipped policies: exit 2, the file and a row:col inside it, no stack trace', async () => {
    const cases = mutants(SEED, 3);
    const runs = cases.map(async ({ seed, file, bytes }) => {
      const dir = join(tmp, `m${seed}`);
      brokenCopy(dir, file, bytes);
      const [c, t] = await Promise.all([busted('compile', '--policies', dir, '-o', join(tmp, `m${seed}.wasm`)), busted('test-policy', '--policies', dir)]);
      const what = `seed ${seed} (FUZZ_SEED=${seed}), busted/${file} as ${JSON.stringify(bytes.toString('latin1').slice(-80))}`;
      for (const [cmd, r] of [['compile', c], ['test-policy', t]] as const) {
        assert.equal(r.status, 2, `${what}: busted ${cmd} exit ${r.status}: ${r.stderr}`);
        assertLocated(r.stderr, { ...shippedTexts(), [file]: bytes.toString('utf8') }, `${what}: busted ${cmd}`);
        assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: busted ${cmd} printed a stack trace`);
      }
    });
    await Promise.all(runs);
  });

  it('a data.json cut short and a .rego link to nothing: exit 2 naming the file, not exit 1', async () => {
    const data = join(tmp, 'bad-data');
    cpSync(SHIPPED, data, { recursive: true });
    writeFileSync(join(data, 'data.json'), readFileSync(join(SHIPPED, 'data.json')).subarray(0, 100));
    const link = join(tmp, 'bad-link');
    cpSync(SHIPPED, link, { recursive: true });
    mkdirSync(join(link, 'extra'));
    symlinkSync(join(tmp, 'not-there.rego'), join(link, 'extra', 'block.rego'));
    const runs = await Promise.all([
      busted('compile', '--policies', data, '-o', join(tmp, 'bad-data.tar.gz')),
      busted('test-policy', '--policies', data),
      busted('compile', '--policies', link, '-o', join(tmp, 'bad-link.wasm')),
      busted('test-policy', '--policies', link),
    ]);
    const want = [/BUSTED_E_POLICY: .*bad-data\/data\.json: /, /BUSTED_E_POLICY: .*bad-data\/data\.json: /, /BUSTED_E_POLICY: .*bad-link\/extra\/block\.rego: a symbolic link to nothing \(ENOENT\)/, /bad-link\/extra\/block\.rego: a symbolic link to nothing/];
    runs.forEach((r, i) => {
      assert.equal(r.status, 2, `case ${i}: exit ${r.status}: ${r.stderr}`);
      assert.match(r.stderr, want[i]!);
      assert.doesNotMatch(r.stderr, /\n\s+at /);
    });
  });
});
