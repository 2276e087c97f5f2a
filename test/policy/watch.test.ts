/**
 * PolicySource following a directory as Kubernetes mounts a ConfigMap:
 * every file a link through `..data` to a hidden, timestamped directory,
 * and an update a new directory and `..data` swapped to it in one rename
 * (atomic_writer.go). No file the agent reads by name changes; the policy
 * must still be rebuilt.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { PolicySource } from '../../engine/policy/watch.js';
import type { PolicyBuild } from '../../engine/policy/source.js';

const tmp = mkdtempSync(join(tmpdir(), 'busted-watch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A ConfigMap's timestamped directory with these files, and `..data` pointing at it (swapped in by a rename). */
function publish(cm: string, stamp: string, files: Record<string, string>): void {
  mkdirSync(join(cm, stamp));
  for (const [n, t] of Object.entries(files)) writeFileSync(join(cm, stamp, n), t);
  symlinkSync(stamp, join(cm, '..data_tmp'));
  renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
}

describe('PolicySource on a Kubernetes ConfigMap volume', () => {
  it('rebuilds when the kubelet swaps ..data to a new version, and keeps the last good policy when the new one is broken', async () => {
    const cm = join(tmp, 'policies');
    mkdirSync(cm);
    publish(cm, '..2026_12_06_00_00_00.1', { 'decision.rego': 'package busted\n\ndecision := "allow"\n', 'data.yaml': 'busted: {}\n' });
    symlinkSync('..data/decision.rego', join(cm, 'decision.rego'));
    symlinkSync('..data/data.yaml', join(cm, 'data.yaml'));

    const source = new PolicySource(cm);
    const first = await source.load();
    assert.deepEqual(first.files, ['decision.rego', 'data.yaml']);
    assert.equal((await PolicyEngine.fromBuild(first)).decide({}).action, 'allow');

    const builds: PolicyBuild[] = [];
    const errors: Error[] = [];
    source.follow((b) => void builds.push(b), (e) => void errors.push(e));
    await source.ready();
    const waitFor = async (what: string, ok: () => boolean) => {
      for (let t = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20))) {
        if (Date.now() - t > 5000) assert.fail(`${what} within 5 s`);
      }
    };
    try {
      // an update: the kubelet writes the new version beside the old, swaps ..data, removes the old
      publish(cm, '..2026_12_06_00_01_00.2', { 'decision.rego': 'package busted\n\ndecision := "block"\n', 'data.yaml': 'busted: {}\n' });
      rmSync(join(cm, '..2026_12_06_00_00_00.1'), { recursive: true });
      await waitFor('a rebuild', () => builds.length > 0);
      const b = builds[builds.length - 1]!;
      assert.notEqual(b.revision, first.revision);
      assert.equal((await PolicyEngine.fromBuild(b)).decide({}).action, 'block');
      // a broken version: an error naming the file (through its link), no build
      const before = builds.length;
      publish(cm, '..2026_12_06_00_02_00.3', { 'decision.rego': 'package busted\n\ndecision := "block" if {\n', 'data.yaml': 'busted: {}\n' });
      await waitFor('the error of the broken version', () => errors.length > 0);
      assert.match(errors[0]!.message, /decision\.rego:\d+:\d+: rego_parse_error/);
      assert.equal(builds.length, before);
    } finally {
      await source.close();
    }
  });
});
