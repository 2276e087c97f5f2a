/**
 * Listening sockets older than the agent (engine/host/listeners.ts): the
 * LISTEN rows of /proc/net/tcp and tcp6, and the processes holding them,
 * on a /proc made in a temporary directory and on this host's own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listeningSockets, parseTcpTable, socketHolders } from '../../engine/host/listeners.js';

const HEAD = '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n';

describe('listening sockets from /proc', () => {
  it('reads the LISTEN rows (port in hex, host order) and nothing else', () => {
    const v4 =
      HEAD +
      '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0\n' +
      '   1: 0100007F:9C40 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1\n' +
      '   2: garbage\n';
    assert.deepEqual(parseTcpTable(v4, 4), [{ netns: 0, family: 4, port: 8080, inode: 4242 }]);
    assert.deepEqual(parseTcpTable(v4, 4, 4026531840), [{ netns: 4026531840, family: 4, port: 8080, inode: 4242 }]);
    const v6 = HEAD + '   0: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n';
    assert.deepEqual(parseTcpTable(v6, 6), [{ netns: 0, family: 6, port: 11434, inode: 777 }]);
  });

  it('finds the process holding each socket, among those wanted', () => {
    const root = mkdtempSync(join(tmpdir(), 'busted-proc-'));
    try {
      for (const [pid, links] of [
        [10, ['/dev/null', 'socket:[4242]']],
        [11, ['socket:[777]', 'pipe:[5]']],
        [12, ['socket:[4242]']],
      ] as const) {
        mkdirSync(join(root, String(pid), 'fd'), { recursive: true });
        links.forEach((l, i) => symlinkSync(l, join(root, String(pid), 'fd', String(i))));
      }
      mkdirSync(join(root, 'net'));
      writeFileSync(join(root, 'net', 'tcp'), HEAD + '   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0 100 0 0 10 0\n');
      const socks = listeningSockets(() => true, root);
      assert.deepEqual(socks, [{ netns: 0, family: 4, port: 8080, inode: 4242 }], 'no namespace links: /proc/net as namespace 0; no tcp6 table: none of that family');
      assert.deepEqual([...socketHolders(new Set([4242, 777]), () => true, root)].sort(), [
        [4242, 10],
        [777, 11],
      ]);
      assert.deepEqual([...socketHolders(new Set([4242]), (pid) => pid !== 10, root)], [[4242, 12]], 'only wanted processes');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it('reads the tables of each network namespace once, through a wanted process living in it', () => {
    const root = mkdtempSync(join(tmpdir(), 'busted-proc-'));
    const row = (port: number, inode: number) => `   0: 0100007F:${port.toString(16).toUpperCase()} 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 ${inode} 1 0 100 0 0 10 0\n`;
    try {
      // 20 and 21 share namespace 1001 (8080, inode 1); 22 is unwanted, alone in 1002; 23 and 24 in 1003 (8080 again, inode 3), 23 unwanted
      for (const [pid, ns, tcp] of [
        [20, 1001, row(8080, 1)],
        [21, 1001, row(8080, 1)],
        [22, 1002, row(9090, 2)],
        [23, 1003, row(8080, 3)],
        [24, 1003, row(8080, 3)],
      ] as const) {
        mkdirSync(join(root, String(pid), 'ns'), { recursive: true });
        mkdirSync(join(root, String(pid), 'net'));
        symlinkSync(`net:[${ns}]`, join(root, String(pid), 'ns', 'net'));
        writeFileSync(join(root, String(pid), 'net', 'tcp'), HEAD + tcp);
      }
      // a process whose namespace cannot be read is passed over, and /proc/net is not read when some could be
      mkdirSync(join(root, '25'));
      mkdirSync(join(root, 'net'));
      writeFileSync(join(root, 'net', 'tcp'), HEAD + row(7070, 9));
      const asked: number[] = [];
      const socks = listeningSockets((pid) => (asked.push(pid), pid !== 22 && pid !== 23), root);
      assert.deepEqual(
        socks.sort((a, b) => a.netns - b.netns),
        [
          { netns: 1001, family: 4, port: 8080, inode: 1 },
          { netns: 1003, family: 4, port: 8080, inode: 3 },
        ],
      );
      assert.deepEqual(asked.sort(), [20, 22, 23, 24], 'asked once per namespace, until a wanted process is found');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("finds this process's own listener on this host", async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const port = (srv.address() as { port: number }).port;
      const mine = listeningSockets().find((s) => s.port === port && s.family === 4);
      assert.ok(mine, `port ${port} among the listeners`);
      assert.match(readlinkSync('/proc/self/ns/net'), new RegExp(`^net:\\[${mine.netns}\\]$`), 'in this process\'s namespace');
      assert.equal(socketHolders(new Set([mine.inode]), (pid) => pid === process.pid).get(mine.inode), process.pid);
    } finally {
      srv.close();
    }
  });
});
