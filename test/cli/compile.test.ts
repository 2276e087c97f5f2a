/** `busted compile` as a user runs it: .wasm, bundle, --dump-ir, errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadPolicy } from '@open-policy-agent/opa-wasm';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const busted = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });
const runtimeBuilt = existsSync(join(PACKAGE_ROOT, 'build', 'wasm', 'runtime.wasm'));

const POLICY = `package busted

default decision := "allow"

decision := "block" if {
	input.provider == "openai"
	input.process.comm == "curl"
}

reasons contains "curl may not call openai" if decision == "block"
`;

function policyDir(text = POLICY, data?: unknown): string {
  const dir = mkdtempSync(join(tmpdir(), 'busted-compile-'));
  mkdirSync(join(dir, 'p'));
  writeFileSync(join(dir, 'p', 'main.rego'), text);
  writeFileSync(join(dir, 'p', 'main_test.rego'), 'package busted\n\ntest_x if true\n');
  if (data !== undefined) writeFileSync(join(dir, 'p', 'data.json'), JSON.stringify(data));
  return dir;
}

/** `busted compile` of DIR/p to a bundle, unpacked into DIR/x: that directory and its manifest. */
function bundleOf(dir: string): { x: string; manifest: { wasm: Array<{ entrypoint: string; module: string }> } } {
  const out = join(dir, 'bundle.tar.gz');
  const r = busted('compile', '--policies', join(dir, 'p'), '-o', out);
  assert.equal(r.status, 0, r.stderr);
  const x = join(dir, 'x');
  mkdirSync(x);
  const t = spawnSync('tar', ['-xzf', out, '-C', x], { encoding: 'utf8' });
  assert.equal(t.status, 0, t.stderr);
  return { x, manifest: JSON.parse(readFileSync(join(x, '.manifest'), 'utf8')) };
}

describe('busted compile', { skip: runtimeBuilt ? undefined : 'needs the wasm runtime build (npm run build; needs lld)' }, () => {
  it('writes a .wasm the SDK evaluates, with the entrypoints asked for', async () => {
    const dir = policyDir();
    try {
      const out = join(dir, 'policy.wasm');
      const r = busted('compile', '--policies', join(dir, 'p'), '-o', out, '-e', 'busted/decision', '-e', 'busted/reasons');
      assert.equal(r.status, 0, r.stderr);
      const policy = await loadPolicy(readFileSync(out));
      assert.deepEqual(policy.evaluate({ provider: 'openai', process: { comm: 'curl' } }, 'busted/decision'), [{ result: 'block' }]);
      assert.deepEqual(policy.evaluate({ provider: 'anthropic', process: { comm: 'curl' } }, 'busted/decision'), [{ result: 'allow' }]);
      assert.deepEqual(policy.evaluate({ provider: 'openai', process: { comm: 'curl' } }, 'busted/reasons'), [{ result: ['curl may not call openai'] }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('writes an OPA-style bundle: /policy.wasm, /data.json, /.manifest', async () => {
    const dir = policyDir(POLICY, { teams: { a: ['openai'] } });
    try {
      const { x, manifest } = bundleOf(dir);
      assert.deepEqual(manifest.wasm, [{ entrypoint: 'busted/decision', module: '/policy.wasm' }]);
      assert.deepEqual(JSON.parse(readFileSync(join(x, 'data.json'), 'utf8')), { teams: { a: ['openai'] } });
      const policy = await loadPolicy(readFileSync(join(x, 'policy.wasm')));
      assert.deepEqual(policy.evaluate({ provider: 'openai', process: { comm: 'curl' } }), [{ result: 'block' }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('takes the entrypoints that annotations declare, as opa build does', async () => {
    const annotated = `# METADATA
# entrypoint: true
package busted.team

allowed := input.team == "research"

# METADATA
# entrypoint: true
# description: the decision for this team
decision := "block" if not allowed
`;
    const dir = policyDir(annotated);
    try {
      const { x, manifest } = bundleOf(dir);
      assert.deepEqual(manifest.wasm.map((w) => w.entrypoint), ['busted/team', 'busted/team/decision']);
      const policy = await loadPolicy(readFileSync(join(x, 'policy.wasm')));
      assert.deepEqual(policy.evaluate({ team: 'ops' }, 'busted/team/decision'), [{ result: 'block' }]);
      assert.deepEqual(policy.evaluate({ team: 'research' }, 'busted/team'), [{ result: { allowed: true } }]);
      // -e adds to them
      const w = busted('compile', '--policies', join(dir, 'p'), '-o', join(dir, 'm.wasm'), '-e', 'busted/team/allowed');
      assert.equal(w.status, 0, w.stderr);
      assert.deepEqual(Object.keys((await loadPolicy(readFileSync(join(dir, 'm.wasm')))).entrypoints).sort(), ['busted/team', 'busted/team/allowed', 'busted/team/decision']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('--dump-ir prints the planner IR as JSON, with or without -o', () => {
    const dir = policyDir();
    try {
      const r = busted('compile', '--policies', join(dir, 'p'), '-o', join(dir, 'x.wasm'), '--dump-ir');
      assert.equal(r.status, 0, r.stderr);
      const ir = JSON.parse(r.stdout);
      assert.ok(ir.plans, 'has plans');
      assert.ok(!existsSync(join(dir, 'x.wasm')));
      const bare = busted('compile', '--policies', join(dir, 'p'), '--dump-ir');
      assert.equal(bare.status, 0, bare.stderr);
      assert.deepEqual(JSON.parse(bare.stdout), ir);
      const ast = busted('compile', '--policies', join(dir, 'p'), '--dump-ast');
      assert.equal(ast.status, 0, ast.stderr);
      assert.match(ast.stdout, /\(package data\.busted\)/);
      // without either, -o is needed: a usage error naming it
      const none = busted('compile', '--policies', join(dir, 'p'));
      assert.equal(none.status, 2);
      assert.match(none.stderr, /BUSTED_E_USAGE: -o, --output is required/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a policy that does not compile exits 2 with file:row:col and the error code', () => {
    const dir = policyDir('package busted\n\ndecision := "block" if {\n\tinput.x ==\n}\n');
    try {
      const r = busted('compile', '--policies', join(dir, 'p'), '-o', join(dir, 'x.wasm'));
      assert.equal(r.status, 2);
      assert.match(r.stderr, /main\.rego:5:1: rego_parse_error: unexpected } token/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('an unsafe variable is a compile error, not a silent allow', () => {
    const dir = policyDir('package busted\n\ndecision := x if {\n\tinput.a == 1\n}\n');
    try {
      const r = busted('compile', '--policies', join(dir, 'p'), '-o', join(dir, 'x.wasm'));
      assert.equal(r.status, 2);
      assert.match(r.stderr, /rego_unsafe_var_error: var x is unsafe/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a missing policy directory is a usage error', () => {
    const r = busted('compile', '--policies', '/no/such/dir', '-o', '/tmp/x.wasm');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--policies \/no\/such\/dir/);
  });

  it('an output it cannot write is a usage error naming it, not a stack trace', () => {
    const r = busted('compile', '--policies', 'policies', '-o', '/no/such/dir/x.wasm');
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), "busted: BUSTED_E_USAGE: -o /no/such/dir/x.wasm: ENOENT: no such file or directory, open '/no/such/dir/x.wasm'");
  });
});
