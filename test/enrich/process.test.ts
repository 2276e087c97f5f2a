/** The process cache against a /proc of the test's own making. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
});
