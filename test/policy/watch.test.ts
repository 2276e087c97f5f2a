/**
 * PolicySource following a directory of Rego as git and editors change it,
 * and as Kubernetes mounts a ConfigMap:
 * every file a link through `..data` to a hidden, timestamped directory,
 * and an update a new directory and `..data` swapped to it in one rename
 * (atomic_writer.go). No file the agent reads by name changes; the policy
 * must still be rebuilt.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { PolicySource } from '../../engine/policy/watch.js';
import { buildPolicy, type PolicyBuild } from '../../engine/policy/source.js';

const tmp = mkdtempSync(join(tmpdir(), 'busted-watch-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** A ConfigMap's timestamped directory with these files, and `..data` pointing at it (swapped in by a rename). */
function publish(cm: string, stamp: string, files: Record<string, string>): void {
  mkdirSync(join(cm, stamp));
  for (const [n, t] of Object.entries(files)) writeFileSync(join(cm, stamp, n), t);
  symlinkSync(stamp, join(cm, '..data_tmp'));
  renameSync(join(cm, '..data_tmp'), join(cm, '..data'));
}

/** Follows SRC; what it hands on, and a wait for it. */
async function following(src: string, debounceMs?: number) {
  const source = new PolicySource(src, debounceMs === undefined ? {} : { debounceMs });
  const first = await source.load();
  const builds: Array<{ build: PolicyBuild; changed: string[] }> = [];
  const errors: Error[] = [];
  source.follow((build, changed) => void builds.push({ build, changed }), (e) => void errors.push(e));
  await source.ready();
  const waitFor = async (what: string, ok: () => boolean) => {
    for (let t = Date.now(); !ok(); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() - t > 5000) assert.fail(`${what} within 5 s (builds ${builds.length}, errors ${errors.map((e) => e.message).join('; ')})`);
    }
  };
  /** time for anything more to come out: the quiet time and a compile, several times over */
  const settled = () => new Promise((r) => setTimeout(r, 4 * (debounceMs ?? 25) + 500));
  /** The one build a change made, once nothing more came out, with nothing reported beside it. */
  const onlyBuild = async (what: string, unreported: string) => {
    await waitFor('a rebuild', () => builds.length > 0);
    await settled();
    assert.equal(builds.length, 1, `one rebuild for ${what}`);
    assert.deepEqual(errors, [], unreported);
    return builds[0]!;
  };
  return { source, first, builds, errors, waitFor, settled, onlyBuild };
}

const rego = (body: string) => `package busted\n\nimport rego.v1\n\n${body}\n`;

describe('PolicySource on a directory of Rego', () => {
  it('a burst of writes over several files is one rebuild of the last state; the broken states in between are neither built nor reported', async () => {
    const dir = join(tmp, 'burst');
    mkdirSync(dir);
    writeFileSync(join(dir, 'decision.rego'), rego('decision := "allow"'));
    // a quiet time longer than the burst, so the burst is one change however the machine is loaded
    const f = await following(dir, 300);
    try {
      // step 1 calls a rule that step 3 defines: until then the tree does not compile
      writeFileSync(join(dir, 'decision.rego'), rego('decision := "block" if blocked'));
      await new Promise((r) => setTimeout(r, 40));
      writeFileSync(join(dir, 'data.json'), '{"lists": {"blocked": ["curl"]}}');
      await new Promise((r) => setTimeout(r, 40));
      writeFileSync(join(dir, 'rules.rego'), rego('blocked if input.process.comm in data.lists.blocked'));
      const { build, changed } = await f.onlyBuild('the burst', 'the half-written trees were not reported');
      assert.equal(build.revision, buildPolicy(dir).revision, 'the build is of the files as they ended');
      assert.deepEqual(changed, ['data.json', 'decision.rego', 'rules.rego']);
      const engine = await PolicyEngine.fromBuild(build);
      assert.equal(engine.decide({ process: { comm: 'curl' } }).action, 'block');
      assert.equal(engine.decide({ process: { comm: 'wget' } }).action, 'allow');
    } finally {
      await f.source.close();
    }
  });

  it('a file taken away and put back (an editor saving by unlink and write) is one rebuild, and the tree without it is never handed on', async () => {
    const dir = join(tmp, 'unlink');
    mkdirSync(dir);
    writeFileSync(join(dir, 'decision.rego'), rego('decision := "block" if blocked'));
    writeFileSync(join(dir, 'rules.rego'), rego('blocked if input.process.comm == "curl"'));
    const f = await following(dir, 300);
    try {
      unlinkSync(join(dir, 'rules.rego'));
      // longer than chokidar's own wait for a file put back (100 ms, `atomic`), shorter than the quiet time
      await new Promise((r) => setTimeout(r, 160));
      writeFileSync(join(dir, 'rules.rego'), rego('blocked if input.process.comm == "wget"'));
      const { build } = await f.onlyBuild('the file taken away and put back', 'the tree without rules.rego (an unsafe call) was not reported');
      const engine = await PolicyEngine.fromBuild(build);
      assert.equal(engine.decide({ process: { comm: 'wget' } }).action, 'block');
      assert.equal(engine.decide({ process: { comm: 'curl' } }).action, 'allow');
    } finally {
      await f.source.close();
    }
  });

  it('files rewritten with the same bytes are no change: a broken policy is reported once, not again at each touch', async () => {
    const dir = join(tmp, 'touch');
    mkdirSync(dir);
    const good = rego('decision := "allow"');
    writeFileSync(join(dir, 'decision.rego'), good);
    const f = await following(dir);
    try {
      writeFileSync(join(dir, 'decision.rego'), good);
      await f.settled();
      assert.equal(f.builds.length + f.errors.length, 0, 'the same bytes: nothing handed on');
      const broken = rego('decision := "block" if {');
      writeFileSync(join(dir, 'decision.rego'), broken);
      await f.waitFor('the compile error', () => f.errors.length > 0);
      assert.match(f.errors[0]!.message, /decision\.rego:\d+:\d+/);
      writeFileSync(join(dir, 'decision.rego'), broken);
      await f.settled();
      assert.equal(f.errors.length, 1, 'the same broken bytes are not reported twice');
      // back to the policy in force: no new revision, nothing to hand on
      writeFileSync(join(dir, 'decision.rego'), good);
      await f.settled();
      assert.equal(f.builds.length, 0);
      writeFileSync(join(dir, 'decision.rego'), rego('decision := "audit"'));
      await f.waitFor('the fixed policy', () => f.builds.length > 0);
      assert.equal((await PolicyEngine.fromBuild(f.builds[0]!.build)).decide({}).action, 'audit');
    } finally {
      await f.source.close();
    }
  });

  it('a `git pull` that changes several files and data.json is one rebuild, of the commit pulled', async () => {
    const git = (cwd: string, ...args: string[]) => execFileSync('git', ['-c', 'user.name=busted test', '-c', 'user.email=test@busted.invalid', '-c', 'init.defaultBranch=main', ...args], { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const upstream = join(tmp, 'upstream');
    mkdirSync(upstream);
    git(upstream, 'init', '-q');
    writeFileSync(join(upstream, 'decision.rego'), rego('decision := "block" if blocked'));
    writeFileSync(join(upstream, 'rules.rego'), rego('blocked if input.process.comm in data.lists.blocked'));
    writeFileSync(join(upstream, 'data.json'), '{"lists": {"blocked": ["curl"]}}');
    git(upstream, 'add', '-A');
    git(upstream, 'commit', '-q', '-m', 'v1');
    const clone = join(tmp, 'clone');
    git(tmp, 'clone', '-q', upstream, clone);
    // v2 renames the rule across both files and changes the data: any mix of v1 and v2 does not compile or blocks curl
    writeFileSync(join(upstream, 'decision.rego'), rego('decision := "block" if denied'));
    writeFileSync(join(upstream, 'rules.rego'), rego('denied if input.process.comm in data.lists.denied'));
    writeFileSync(join(upstream, 'data.json'), '{"lists": {"denied": ["wget"]}}');
    git(upstream, 'commit', '-q', '-a', '-m', 'v2');
    const f = await following(clone);
    try {
      assert.equal((await PolicyEngine.fromBuild(f.first)).decide({ process: { comm: 'curl' } }).action, 'block');
      git(clone, 'pull', '-q', '--ff-only');
      const { build } = await f.onlyBuild('the pull', 'nothing reported for the pull');
      assert.equal(build.revision, buildPolicy(clone).revision);
      const engine = await PolicyEngine.fromBuild(build);
      assert.equal(engine.decide({ process: { comm: 'wget' } }).action, 'block');
      assert.equal(engine.decide({ process: { comm: 'curl' } }).action, 'allow');
    } finally {
      await f.source.close();
    }
  });
});

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
