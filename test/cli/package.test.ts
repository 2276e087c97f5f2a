// The package as a policy repository gets it (examples/policy-repo: `npx
// busted test-policy` in CI): `npm pack` of this checkout, installed into a
// copy of the template, runs the template's tests and recordings with no
// kernel, no root and no build tools.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';

describe('the packed package', () => {
  it('installs into a policy repository and runs busted test-policy there', () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-pack-'));
    try {
      const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir, '--loglevel=error'], { cwd: PACKAGE_ROOT, encoding: 'utf8', timeout: 120_000 });
      assert.equal(pack.status, 0, pack.stderr);
      const tgz = join(dir, pack.stdout.trim().split('\n').pop()!);
      const repo = join(dir, 'repo');
      cpSync(join(PACKAGE_ROOT, 'examples', 'policy-repo'), repo, { recursive: true });
      const install = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', '--prefer-offline', '--ignore-scripts', tgz], { cwd: repo, encoding: 'utf8', timeout: 180_000 });
      // --prefer-offline: the dependencies come from npm's cache, filled by this checkout's own install (`npm ci`
      // caches the tarballs but not the registry's metadata, which resolving the packed package's ranges needs:
      // on a fresh machine that is fetched once);
      // --ignore-scripts: no native add-on needs building (koffi ships its binaries)
      assert.equal(install.status, 0, install.stderr);
      const run = spawnSync('npx', ['busted', 'test-policy', '--policies', 'policies', '--events', 'recordings/*.jsonl', '--format', 'json'], { cwd: repo, encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, run.stderr);
      const out = JSON.parse(run.stdout);
      assert.ok(out.tests.length > 0 && out.tests.every((t: { status: string }) => t.status === 'pass'), run.stdout.slice(0, 2000));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
