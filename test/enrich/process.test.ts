/** The process cache against a /proc of the test's own making. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessCache } from '../../engine/enrich/process.js';
import type { ExecRecord, TaskRecord } from '../../engine/decode/records.js';

function fakeProc(): string {
  const root = mkdtempSync(join(tmpdir(), 'busted-proc-'));
  const d = join(root, '4242');
  mkdirSync(d);
  writeFileSync(join(d, 'status'), 'Name:\tpython3\nPPid:\t1\nUid:\t1000\t1000\t1000\t1000\nGid:\t100\t100\t100\t100\n');
  writeFileSync(join(d, 'cmdline'), 'python3\0agent.py\0--api-key\0sk-live-abcdefghijklmnopqrstuvwxyz\0');
  writeFileSync(join(d, 'cgroup'), '0::/system.slice/docker-' + 'a'.repeat(64) + '.scope\n');
  symlinkSync('/usr/bin/python3.11', join(d, 'exe'));
  return root;
}

const task = (o: Partial<TaskRecord> = {}): TaskRecord => ({ pid: 4242, tid: 4242, ppid: 1, uid: 1000, gid: 100, flags: 1, comm: 'python3', cgroupId: 99, ...o });

describe('ProcessCache', () => {
  it('fills a process that predates the agent from /proc, redacting its command line', () => {
    const root = fakeProc();
    try {
      const c = new ProcessCache({ procRoot: root });
      const p = c.info(task());
      assert.equal(p.exe, '/usr/bin/python3.11');
      assert.equal(p.cmdline, 'python3 agent.py --api-key [REDACTED]');
      assert.equal(p.container_id, 'a'.repeat(64));
      assert.equal(p.container_runtime, 'docker');
      assert.equal(p.cgroup_path, `/system.slice/docker-${'a'.repeat(64)}.scope`);
      const raw = new ProcessCache({ procRoot: root, redact: false }).info(task());
      assert.match(raw.cmdline!, /sk-live-/);
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('hands out the same frozen object for the same task, a new one when the task differs or execs', () => {
    const root = fakeProc();
    try {
      const c = new ProcessCache({ procRoot: root });
      const a = c.info(task());
      assert.equal(c.info(task()), a);
      assert.ok(Object.isFrozen(a));
      const b = c.info(task({ tid: 4243 }));
      assert.notEqual(b, a);
      assert.equal(b.tid, 4243);
      const exec: ExecRecord = { kind: 'exec', ts: 1, task: task({ comm: 'curl' }), filename: '/usr/bin/curl', argv: ['curl', 'https://api.openai.com'], argsTruncated: false, image: '0' };
      c.onExec(exec);
      const d = c.info(task({ comm: 'curl' }));
      assert.equal(d.exe, '/usr/bin/curl');
      assert.equal(d.cmdline, 'curl https://api.openai.com');
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('names a process that already exited from what the kernel said', () => {
    const c = new ProcessCache({ procRoot: '/nonexistent' });
    const p = c.info(task({ comm: 'gone', pid: 1234567 }));
    assert.equal(p.comm, 'gone');
    assert.equal(p.pid, 1234567);
    assert.equal(p.uid, 1000);
  });

  it('follows parents for --pid trees', () => {
    const c = new ProcessCache({ procRoot: '/nonexistent' });
    const exec = (pid: number, ppid: number): ExecRecord => ({ kind: 'exec', ts: 1, task: task({ pid, tid: pid, ppid }), filename: '/bin/sh', argv: ['sh'], argsTruncated: false, image: '0' });
    c.onExec(exec(100, 1));
    c.onExec(exec(101, 100));
    c.onExec(exec(102, 101));
    c.onExec(exec(200, 1));
    assert.equal(c.inTree(102, 100), true);
    assert.equal(c.inTree(100, 100), true);
    assert.equal(c.inTree(200, 100), false);
  });

  it('names a new process\'s cgroup from the path /proc gave for its cgroup id, when that directory is the id, for a while', () => {
    const root = fakeProc();
    const cgroups = mkdtempSync(join(tmpdir(), 'busted-cg-'));
    try {
      const path = `/system.slice/docker-${'a'.repeat(64)}.scope`;
      mkdirSync(join(cgroups, path), { recursive: true });
      const id = Number(statSync(join(cgroups, path), { bigint: true }).ino);
      let now = 1_000_000;
      const c = new ProcessCache({ procRoot: root, cgroupRoot: cgroups, now: () => now });
      const exec = (pid: number, cgroupId: number): ExecRecord => ({ kind: 'exec', ts: 1, task: task({ pid, tid: pid, cgroupId }), filename: '/usr/bin/curl', argv: ['curl'], argsTruncated: false, image: '0' });
      assert.equal(c.onExec(exec(4242, id)).cgroupPath, path);
      // pid 4243 has no /proc entry: its path comes from what 4242's said for the same id
      assert.equal(c.onExec(exec(4243, id)).cgroupPath, path);
      // another id: /proc (nothing for 4244) and the cgroup tree (no such id) do not know it
      assert.equal(c.onExec(exec(4244, id + 1)).cgroupPath, undefined);
      // the cgroup is renamed (its id stays): for a while the learnt path is used...
      const renamed = '/system.slice/renamed.scope';
      renameSync(join(cgroups, path), join(cgroups, renamed));
      mkdirSync(join(root, '4245'));
      writeFileSync(join(root, '4245', 'cgroup'), `0::${renamed}\n`);
      assert.equal(c.onExec(exec(4245, id)).cgroupPath, path);
      // ...then /proc is asked again
      now += 11_000;
      assert.equal(c.onExec(exec(4245, id)).cgroupPath, renamed);
      // a path whose directory is another cgroup (the process moved, or an id that does not match) is not learnt for the id
      const d = new ProcessCache({ procRoot: root, cgroupRoot: cgroups, now: () => now });
      assert.equal(d.onExec(exec(4242, id + 7)).cgroupPath, path);
      assert.equal(d.onExec(exec(4243, id + 7)).cgroupPath, undefined);
    } finally {
      rmSync(root, { recursive: true });
      rmSync(cgroups, { recursive: true });
    }
  });

  it('knows which processes have exited, until the pid execs again', () => {
    const c = new ProcessCache({ procRoot: '/nonexistent' });
    const exec: ExecRecord = { kind: 'exec', ts: 1, task: task({ pid: 300, tid: 300 }), filename: '/bin/date', argv: ['date'], argsTruncated: false, image: '0' };
    c.onExec(exec);
    assert.equal(c.exited(300), false);
    c.onExit(300);
    assert.equal(c.exited(300), true);
    c.onExec(exec);
    assert.equal(c.exited(300), false);
    assert.equal(c.exited(301), false); // never seen: not known to have exited
  });

  it('forgets exited processes after their time, oldest first, and not a pid that executed again', () => {
    let now = 0;
    const c = new ProcessCache({ procRoot: '/nonexistent', exitedTtlMs: 1000, now: () => now });
    const exec = (pid: number): ExecRecord => ({ kind: 'exec', ts: 1, task: task({ pid, tid: pid }), filename: '/bin/true', argv: ['true'], argsTruncated: false, image: '0' });
    c.onExec(exec(1));
    c.onExec(exec(2));
    c.onExec(exec(3));
    c.onExit(1);
    now = 500;
    c.onExit(2);
    c.onExec(exec(1)); // pid 1 again: a new process
    assert.equal(c.size, 3);
    now = 1200;
    c.onExit(3); // sweeps: 1's old entry is gone but pid 1 is a new process; 2 is recent
    assert.equal(c.size, 3);
    assert.equal(c.exited(1), false);
    now = 1600;
    c.onExit(3);
    assert.equal(c.size, 2); // 2 forgotten
    assert.equal(c.exited(2), false);
    assert.equal(c.exited(3), true);
  });
});

describe('ProcessCache: ancestors', () => {
  /** a /proc of processes PID -> [name, ppid] */
  const procOf = (procs: Record<number, [string, number]>): string => {
    const root = mkdtempSync(join(tmpdir(), 'busted-proc-tree-'));
    for (const [pid, [name, ppid]] of Object.entries(procs)) {
      mkdirSync(join(root, pid));
      writeFileSync(join(root, pid, 'status'), `Name:\t${name}\nPPid:\t${ppid}\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n`);
      writeFileSync(join(root, pid, 'cmdline'), `${name}\0`);
      symlinkSync(`/usr/bin/${name}`, join(root, pid, 'exe'));
    }
    return root;
  };

  it('nearest first, up to four, init left out, from /proc for processes never seen', () => {
    const root = procOf({ 10: ['systemd', 1], 20: ['sshd', 10], 30: ['bash', 20], 40: ['claude', 30], 50: ['sh', 40], 60: ['curl', 50] });
    try {
      const c = new ProcessCache({ procRoot: root });
      const p = c.info(task({ pid: 60, tid: 60, ppid: 50, comm: 'curl' }));
      assert.deepEqual(p.ancestors, [
        { pid: 50, comm: 'sh', exe: '/usr/bin/sh' },
        { pid: 40, comm: 'claude', exe: '/usr/bin/claude' },
        { pid: 30, comm: 'bash', exe: '/usr/bin/bash' },
        { pid: 20, comm: 'sshd', exe: '/usr/bin/sshd' },
      ]);
      const top = c.info(task({ pid: 20, tid: 20, ppid: 10, comm: 'sshd' }));
      assert.deepEqual(top.ancestors, [{ pid: 10, comm: 'systemd', exe: '/usr/bin/systemd' }], 'init (pid 1) is left out');
      assert.equal(c.info(task({ pid: 10, tid: 10, ppid: 1, comm: 'systemd' })).ancestors, undefined, 'none above but init: no field');
    } finally {
      rmSync(root, { recursive: true });
    }
  });

  it('an ancestor gone before it was seen has its pid only; a loop in the parents ends', () => {
    const root = procOf({ 70: ['a', 71], 71: ['b', 70] });
    try {
      const c = new ProcessCache({ procRoot: root });
      assert.deepEqual(c.info(task({ pid: 80, tid: 80, ppid: 99, comm: 'x' })).ancestors, [{ pid: 99 }]);
      assert.deepEqual(c.info(task({ pid: 72, tid: 72, ppid: 70, comm: 'y' })).ancestors?.map((a) => a.pid), [70, 71]);
    } finally {
      rmSync(root, { recursive: true });
    }
  });
});
