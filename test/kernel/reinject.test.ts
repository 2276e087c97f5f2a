// Sending a held DNS answer on (engine/kernel/reinject.ts) and destroying a
// socket (sockdiag.ts), against the real kernel: the datagram reaches a
// real UDP socket (the kernel checks its checksums), the socket is aborted.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import net from 'node:net';
import { buildDatagram, reinject, tcpPacket, tcpProbe } from '../../engine/kernel/reinject.js';
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

describe('tcpPacket / tcpProbe: a held segment made again', () => {
  /** RFC 1071 sum over a buffer, folded */
  const fold = (b: Uint8Array, start = 0) => {
    let s = start;
    for (let i = 0; i + 1 < b.length; i += 2) s += (b[i]! << 8) | b[i + 1]!;
    if (b.length & 1) s += b[b.length - 1]! << 8;
    while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
    return s;
  };
  // IPv4 (20) + TCP with timestamps (32), as the packet hook copies them: total length and checksums as the sender left them
  const v4 = Uint8Array.from(Buffer.from('450000b572c440004006c97c7f0000017f000001864e46a13c11a0a8aa72327180180040fea900000101080a1680d164b4a99277', 'hex'));

  it('a probe: one byte at seq-1, lengths and both checksums right (IPv4)', () => {
    const seq = 0x3c11a0a8;
    const p = tcpProbe(v4, seq);
    assert.equal(p.length, 20 + 32 + 1);
    const dv = new DataView(p.buffer);
    assert.equal(dv.getUint16(2), p.length, 'IP total length');
    assert.equal(dv.getUint32(24), seq - 1, 'sequence number');
    assert.equal(fold(p.subarray(0, 20)), 0xffff, 'IP header checksum');
    const pseudo = new Uint8Array(12);
    pseudo.set(p.subarray(12, 20));
    pseudo[9] = 6;
    new DataView(pseudo.buffer).setUint16(10, 33);
    assert.equal(fold(p.subarray(20), fold(pseudo)), 0xffff, 'TCP checksum');
    assert.deepEqual([...p.subarray(20 + 20, 20 + 32)], [...v4.subarray(40, 52)], 'the options (timestamps) kept');
  });

  it('IPv6: payload length and checksum over the IPv6 pseudo-header; the sequence number wraps', () => {
    const h = new Uint8Array(40 + 20);
    h[0] = 0x60;
    h[6] = 6;
    h[23] = 1;
    h[39] = 1;
    h[40 + 12] = 5 << 4;
    h[40 + 13] = 0x18;
    const p = tcpPacket(h, 0, Uint8Array.of(7, 8, 9));
    const dv = new DataView(p.buffer);
    assert.equal(dv.getUint16(4), 23);
    assert.equal(dv.getUint32(44), 0);
    assert.equal(new DataView(tcpProbe(h, 0).buffer).getUint32(44), 0xffffffff);
    const pseudo = new Uint8Array(40);
    pseudo.set(p.subarray(8, 40));
    new DataView(pseudo.buffer).setUint32(32, 23);
    pseudo[39] = 6;
    assert.equal(fold(p.subarray(40), fold(pseudo)), 0xffff);
  });

  it('refuses headers too short for their TCP header', () => {
    assert.throws(() => tcpPacket(v4.subarray(0, 40), 1, new Uint8Array(0)), /TCP header of 32/);
    assert.throws(() => tcpPacket(v4.subarray(0, 30), 1, new Uint8Array(0)), /headers of 30 bytes/);
  });
});
