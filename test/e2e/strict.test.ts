/**
 * `--strict`: an agent whose hooks do not all attach stops (exit 1) instead
 * of running without them. The failure is a real one: the test cgroup's
 * cgroup_skb egress list is filled to the kernel's limit
 * (BPF_CGROUP_MAX_PROGS, 64) with trivial programs of its own, so the
 * agent's packet program is refused with E2BIG, as it would be on a host
 * where other agents have taken the slots.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_DIR, PACKAGE_ROOT } from '../../engine/paths.js';
import { BpfObject, type BpfLink } from '../../engine/kernel/libbpf.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';

const skip = kernelSkipReason();
const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const busted = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('busted monitor and enforce --strict', { skip }, () => {
  let cg: TestCgroup;
  const objects: BpfObject[] = [];
  const links: BpfLink[] = [];

  before(() => {
    cg = new TestCgroup();
    const fd = openSync(cg.path, 'r');
    try {
      // fill the cgroup's egress list until the kernel refuses one more
      for (let i = 0; i < 100; i++) {
        const obj = BpfObject.open(join(BPF_DIR, 'probe.bpf.o'));
        objects.push(obj);
        for (const p of obj.programs()) p.autoload = p.section === 'cgroup_skb/egress';
        obj.load();
        try {
          links.push(obj.programs().find((p) => p.section === 'cgroup_skb/egress')!.attachCgroup(fd, cg.path));
        } catch (e) {
          assert.match((e as Error).message, /E2BIG|errno 7\b|Argument list too long/, 'the kernel refuses the 65th program');
          return;
        }
      }
      assert.fail('the kernel took 100 egress programs on one cgroup');
    } finally {
      closeSync(fd);
    }
  });

  after(async () => {
    for (const l of links) l.destroy();
    for (const o of objects) o.close();
    await cg?.dispose();
  });

  it('without --strict: warns that the packet program is not attached and runs', () => {
    assert.equal(links.length, 64, 'the kernel took 64');
    const r = busted('monitor', '--cgroup', cg.path, '--duration', '1', '--no-model', '--format', 'json');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /busted: warning: pkt\/\S+ \(cgroup_skb\/egress @ .*\) not attached/);
  });

  for (const cmd of [['monitor'], ['enforce', '--policies', join(PACKAGE_ROOT, 'policies')]]) {
    it(`${cmd[0]} --strict: exits 1 naming the hook, with an error event, and leaves nothing of its own attached`, () => {
      const r = busted(...cmd, '--strict', '--cgroup', cg.path, '--duration', '20', '--no-model', '--format', 'json');
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stderr, /busted: error: pkt\/\S+ \(cgroup_skb\/egress @ .*\) not attached/);
      assert.match(r.stderr, /busted: --strict: \d+ hooks? did not attach \(.*pkt\/.*\); stopping/);
      const errors = r.stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as { type: string; error?: { code: string; field?: string; message: string } })
        .filter((e) => e.type === 'error');
      assert.equal(errors.length, 1, r.stdout);
      assert.equal(errors[0]!.error?.code, 'BUSTED_E_BPF');
      assert.equal(errors[0]!.error?.field, 'hooks');
      // what is left on the cgroup is the test's 64 programs, none of the agent's
      const left = spawnSync('bpftool', ['cgroup', 'show', cg.path, '-j'], { encoding: 'utf8' });
      assert.equal(left.status, 0, left.stderr);
      const progs = JSON.parse(left.stdout) as Array<{ name?: string; attach_type: string }>;
      assert.equal(progs.length, 64, left.stdout);
      assert.ok(progs.every((p) => p.attach_type === 'cgroup_inet_egress'), left.stdout);
    });
  }
});
