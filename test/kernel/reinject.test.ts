// Sending a held DNS answer on (engine/kernel/reinject.ts) and destroying a
// socket (sockdiag.ts), against the real kernel: the datagram reaches a
// real UDP socket (the kernel checks its checksums), the socket is aborted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { buildDatagram, reinject } from '../../engine/kernel/reinject.js';
import { destroySocket, destroyRequest } from '../../engine/kernel/sockdiag.js';

const root = process.getuid?.() === 0 ? undefined : 'needs root (raw sockets, SO_MARK, sock_diag destroy)';

const recv = (family: 'udp4' | 'udp6', host: string) =>
  new Promise<{ port: number; got: Promise<{ msg: Buffer; from: string; port: number }>; close: () => void }>((resolve) => {
    const s = createSocket(family);
    const got = new Promise<{ msg: Buffer; from: string; port: number }>((r) => s.once('message', (msg, ri) => r({ msg, from: ri.address, port: ri.port })));
    s.bind(0, host, () => resolve({ port: s.address().port, got, close: () => s.close() }));
  });

describe('reinject', { skip: root }, () => {
  it('delivers a UDP datagram from the resolver\'s address and port to the client, IPv4 and IPv6', async () => {
    for (const [family, client, server, bytes] of [
      ['udp4', '127.0.0.1', [127, 53, 9, 9], 4],
      ['udp6', '::1', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 16],
    ] as const) {
      const r = await recv(family, client);
      const dst = new Uint8Array(bytes);
      if (bytes === 4) dst.set([127, 0, 0, 1]);
      else dst[15] = 1;
      const payload = new Uint8Array([0xbe, 0xef, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 1, 2, 3]);
      reinject({ family: bytes === 4 ? 4 : 6, src: new Uint8Array(server), srcPort: 53, dst, dstPort: r.port, payload });
      const m = await r.got;
      r.close();
      assert.deepEqual([...m.msg], [...payload]);
      assert.equal(m.port, 53);
      assert.equal(m.from, bytes === 4 ? '127.53.9.9' : '::1');
    }
  });

  it('builds an IPv4 header whose checksum verifies', () => {
    const p = buildDatagram({ family: 4, src: new Uint8Array([10, 0, 0, 1]), srcPort: 53, dst: new Uint8Array([10, 0, 0, 2]), dstPort: 5353, payload: new Uint8Array(3) });
    let s = 0;
    for (let i = 0; i < 20; i += 2) s += (p[i]! << 8) | p[i + 1]!;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    assert.equal(s, 0xffff);
    assert.equal(p.length, 20 + 8 + 3);
  });
});

describe('destroySocket', { skip: root }, () => {
  it('aborts one TCP connection named by its addresses; a second try finds nothing', async () => {
    const server = net.createServer((s) => s.on('error', () => {}));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as net.AddressInfo).port;
    const c = net.connect(port, '127.0.0.1');
    await new Promise((r) => c.once('connect', r));
    const err = new Promise<string>((r) => c.once('error', (e: NodeJS.ErrnoException) => r(e.code ?? '')));
    const id = { family: 4 as const, protocol: 'tcp' as const, local: new Uint8Array([127, 0, 0, 1]), localPort: c.localPort!, remote: new Uint8Array([127, 0, 0, 1]), remotePort: port };
    assert.equal(destroySocket(id), true);
    c.write('x');
    assert.match(await err, /ECONNABORTED|ECONNRESET|EPIPE/);
    assert.equal(destroySocket(id), false);
    server.close();
  });

  it('asks for exactly one socket: addresses in network order, the cookie or "no cookie"', () => {
    const r = destroyRequest({ family: 4, protocol: 'tcp', local: new Uint8Array([127, 0, 0, 1]), localPort: 0x1234, remote: new Uint8Array([10, 1, 2, 3]), remotePort: 443 }, 9);
    const dv = new DataView(r.buffer);
    assert.equal(dv.getUint16(4, true), 21); // SOCK_DESTROY
    assert.equal(r[16], 2); // AF_INET
    assert.equal(r[17], 6); // TCP
    assert.equal(dv.getUint16(24, false), 0x1234);
    assert.equal(dv.getUint16(26, false), 443);
    assert.deepEqual([...r.subarray(28, 32)], [127, 0, 0, 1]);
    assert.deepEqual([...r.subarray(44, 48)], [10, 1, 2, 3]);
    assert.equal(dv.getUint32(64, true), 0xffffffff);
    assert.equal(dv.getUint32(68, true), 0xffffffff);
  });
});
