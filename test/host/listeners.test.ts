/**
 * Listening sockets older than the agent (engine/host/listeners.ts): the
 * LISTEN rows of /proc/net/tcp and tcp6, and the processes holding them,
 * on a /proc made in a temporary directory and on this host's own.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
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
    assert.deepEqual(parseTcpTable(v4, 4), [{ family: 4, port: 8080, inode: 4242 }]);
    const v6 = HEAD + '   0: 00000000000000000000000000000000:2CAA 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n';
    assert.deepEqual(parseTcpTable(v6, 6), [{ family: 6, port: 11434, inode: 777 }]);
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
      const socks = listeningSockets(root);
      assert.deepEqual(socks, [{ family: 4, port: 8080, inode: 4242 }], 'no tcp6 table: none of that family');
      assert.deepEqual([...socketHolders(new Set([4242, 777]), () => true, root)].sort(), [
        [4242, 10],
        [777, 11],
      ]);
      assert.deepEqual([...socketHolders(new Set([4242]), (pid) => pid !== 10, root)], [[4242, 12]], 'only wanted processes');
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
      assert.equal(socketHolders(new Set([mine.inode]), (pid) => pid === process.pid).get(mine.inode), process.pid);
    } finally {
      srv.close();
    }
  });
});
