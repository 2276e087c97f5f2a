// When the agent looks at a process for TLS libraries: at exec and twice
// after, until a program's processes have shown nothing new QUIET_AFTER
// times in a row; and when a process's ClientHello went through no probed
// library, at most once a second. A finder of the test's making says what
// each look finds.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { QUIET_AFTER, TlsLooks } from '../../engine/host/tls-looks.js';
import type { TlsLibrary } from '../../engine/host/tls-libs.js';

const LIB: TlsLibrary = { kind: 'openssl', path: '/opt/libssl.so.3', id: '1:2', symbols: ['SSL_read', 'SSL_write'], offsets: {}, via: '1' };

function harness(o: { finds?: (pid: number, n: number) => boolean; gone?: (pid: number) => boolean; program?: (pid: number) => string | undefined; exeLib?: (path: string) => TlsLibrary | undefined } = {}) {
  const scans: number[] = [];
  const exes: string[] = [];
  const attached: TlsLibrary[][] = [];
  const exited = new Set<number>();
  let now = 0;
  const looks = new TlsLooks({
    finder: {
      look: (pid) => {
        scans.push(pid);
        return { libs: o.finds?.(pid, scans.length) ? [LIB] : [], gone: o.gone?.(pid) ?? false };
      },
      lookExe: (path) => {
        exes.push(path);
        const lib = o.exeLib?.(path);
        return lib ? [lib] : [];
      },
    },
    attach: (libs) => attached.push(libs),
    exited: (pid) => exited.has(pid),
    programOf: o.program ?? (() => '1 /usr/bin/curl'),
    now: () => now,
    againMs: [5, 15],
  });
  return { looks, scans, exes, attached, exited, tick: (ms: number) => (now += ms) };
}

const CURL = '1 /usr/bin/curl';

describe('TlsLooks', () => {
  it('a process gone before its exec look: its executable is looked at by the path its exec named (a Go client done in milliseconds), and what it has is hooked', async () => {
    const GO: TlsLibrary = { kind: 'go', path: '/opt/agent', id: '1:3', symbols: ['crypto/tls.(*Conn).Read', 'crypto/tls.(*Conn).Write'], offsets: {}, via: 'exec' };
    const h = harness({ gone: () => true, exeLib: (p) => (p === '/opt/agent' ? GO : undefined) });
    h.looks.onExec(30, '1 /opt/agent', '/opt/agent');
    assert.deepEqual(h.scans, [30]);
    assert.deepEqual(h.exes, ['/opt/agent']);
    assert.deepEqual(h.attached, [[GO]]);
    h.looks.onExec(31, '1 /usr/bin/date', '/usr/bin/date');
    assert.deepEqual(h.exes, ['/opt/agent', '/usr/bin/date']);
    assert.equal(h.attached.length, 1, 'date has no TLS of its own');
    // one that ended while its first look read its maps (that look found nothing, and the process was not
    // gone yet): its executable is looked at by path once the kernel says it exited
    const racing = harness({ exeLib: (p) => (p === '/opt/agent2' ? { ...GO, path: '/opt/agent2', id: '1:4' } : undefined) });
    racing.looks.onExec(40, '1 /opt/agent2', '/opt/agent2');
    assert.deepEqual(racing.exes, []);
    racing.exited.add(40);
    await sleep(30);
    assert.deepEqual(racing.exes, ['/opt/agent2']);
    assert.deepEqual(racing.attached.map((l) => l.map((x) => x.path)), [['/opt/agent2']]);
    racing.looks.stop();
    // one that is still there is looked at through its maps, not by path
    const alive = harness();
    alive.looks.onExec(32, CURL, '/usr/bin/curl');
    assert.deepEqual(alive.exes, []);
    alive.looks.stop();
    h.looks.stop();
  });

  it('looks at a new process at exec and twice after; skips the later looks once it has exited', async () => {
    const h = harness();
    h.looks.onExec(10, CURL);
    assert.deepEqual(h.scans, [10]);
    await sleep(40);
    assert.deepEqual(h.scans, [10, 10, 10]);
    h.looks.onExec(11, CURL);
    h.exited.add(11);
    await sleep(40);
    assert.deepEqual(h.scans, [10, 10, 10, 11]);
    h.looks.stop();
  });

  it(`stops looking at a program's processes on exec after ${QUIET_AFTER} in a row showed nothing new, and starts again when one does`, async () => {
    let finding = false;
    const h = harness({ finds: () => finding, program: (pid) => (pid >= 1000 ? '1 /usr/bin/python3' : '1 /usr/bin/date') });
    for (let i = 0; i < QUIET_AFTER; i++) {
      h.exited.add(100 + i); // date: gone before the looks after its exec
      h.looks.onExec(100 + i, '1 /usr/bin/date');
    }
    await sleep(40);
    assert.equal(h.scans.length, QUIET_AFTER);
    h.looks.onExec(200, '1 /usr/bin/date');
    assert.equal(h.scans.length, QUIET_AFTER, 'a quiet program: no look');
    assert.equal(h.looks.stats.quietSkips, 1);
    // the same path in another cgroup, another program, and one whose path is not known, are looked at as before
    h.looks.onExec(201, '7 /usr/bin/date');
    assert.equal(h.scans.at(-1), 201);
    h.looks.onExec(202, undefined);
    assert.equal(h.scans.at(-1), 202);
    h.looks.onExec(1000, '1 /usr/bin/python3');
    assert.equal(h.scans.at(-1), 1000);
    // a quiet program's process whose TLS is not read is looked at, and what it finds makes the program looked at on exec again
    finding = true;
    h.looks.onUnreadTls(203);
    assert.equal(h.scans.at(-1), 203);
    assert.equal(h.attached.length, 1);
    h.looks.onExec(204, '1 /usr/bin/date');
    assert.equal(h.scans.at(-1), 204);
    await sleep(40);
    h.looks.stop();
  });

  it('a process whose looks find a library keeps its program looked at', async () => {
    const h = harness({ finds: (_pid, n) => n % 3 === 2 }); // the look 100 ms after each exec finds one
    for (let i = 0; i < QUIET_AFTER + 2; i++) {
      h.looks.onExec(300 + i, CURL);
      await sleep(25);
    }
    assert.equal(h.looks.stats.quietSkips, 0);
    assert.equal(h.scans.length, 3 * (QUIET_AFTER + 2));
    h.looks.stop();
  });

  it('a process gone by the time its exec is read is not looked at again, and counts as quiet for its program', async () => {
    const h = harness({ gone: () => true });
    for (let i = 0; i < QUIET_AFTER + 1; i++) h.looks.onExec(400 + i, CURL);
    await sleep(40);
    assert.equal(h.scans.length, QUIET_AFTER);
    assert.equal(h.looks.stats.quietSkips, 1);
  });

  it('looks at a process whose TLS is not read at most once a second', () => {
    const h = harness();
    h.looks.onUnreadTls(7);
    h.looks.onUnreadTls(7);
    h.looks.onUnreadTls(8);
    assert.deepEqual(h.scans, [7, 8]);
    h.tick(999);
    h.looks.onUnreadTls(7);
    assert.deepEqual(h.scans, [7, 8]);
    h.tick(1);
    h.looks.onUnreadTls(7);
    assert.deepEqual(h.scans, [7, 8, 7]);
    assert.equal(h.looks.stats.unreadLooks, 3);
  });

  it('does nothing once stopped, and its timers do not fire', async () => {
    const h = harness();
    h.looks.onExec(1, CURL);
    h.looks.stop();
    h.looks.onExec(2, CURL);
    h.looks.onUnreadTls(3);
    await sleep(40);
    assert.deepEqual(h.scans, [1]);
  });
});
