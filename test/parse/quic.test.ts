// QUIC Initial packets (engine/parse/quic.ts): the keys of RFC 9001's
// Appendix A.1, and packets made by an independent implementation (python3
// with Debian's python3-cryptography protecting them, OpenSSL's own
// ClientHello and ServerHello inside, from Python's ssl over memory BIOs),
// their CRYPTO frames out of order and across datagrams, as browsers send
// them. A flipped byte fails the tag; random bytes never throw.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { asRecords, CryptoStream, initialHeader, initialKeys, readInitial } from '../../engine/parse/quic.js';
import { parseTlsHello } from '../../engine/parse/tls-hello.js';
import { makePki } from '../../engine/demo/pki.js';
import { PYTHON } from '../../engine/demo/spawn.js';
import { prng } from '../helpers/prng.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// python3: a client and a server handshake over memory BIOs, and their hellos in QUIC v1 Initials
const MAKE = `
import json, os, ssl, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes, hmac
cert, key, ca = sys.argv[1:4]
def hm(k, m):
    h = hmac.HMAC(k, hashes.SHA256()); h.update(m); return h.finalize()
def label(secret, name, n):
    full = b"tls13 " + name
    return hm(secret, bytes([0, n, len(full)]) + full + b"\\x00\\x01")[:n]
def keys(dcid, side):
    s = label(hm(bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), dcid), side + b" in", 32)
    return label(s, b"quic key", 16), label(s, b"quic iv", 12), label(s, b"quic hp", 16)
def varint(v):
    return bytes([v]) if v < 64 else (0x4000 | v).to_bytes(2, "big") if v < 16384 else (0x80000000 | v).to_bytes(4, "big")
def crypto(off, data):
    return b"\\x06" + varint(off) + varint(len(data)) + data
def initial(dcid, scid, side, pn, frames, pad_to):
    k, iv, hp = keys(odcid, side)
    payload = frames
    while True:
        length = 2 + len(payload) + 16
        head = bytes([0xc1]) + (1).to_bytes(4, "big") + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\\x00" + varint(length)
        if len(head) + length >= pad_to: break
        payload += b"\\x00" * (pad_to - len(head) - length)
    pnb = pn.to_bytes(2, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, (0).to_bytes(10, "big") + pnb))
    ct = AESGCM(k).encrypt(nonce, payload, head + pnb)
    sample = ct[2:18]
    e = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = e.update(sample) + e.finalize()
    first = bytes([head[0] ^ (mask[0] & 0x0f)])
    return first + head[1:] + bytes(a ^ b for a, b in zip(pnb, mask[1:3])) + ct
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.load_verify_locations(ca); c.set_alpn_protocols(["h3"]); c.minimum_version = ssl.TLSVersion.TLSv1_3
s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); s.load_cert_chain(cert, key); s.set_alpn_protocols(["h3"])
ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
cl = c.wrap_bio(ci, co, server_hostname="api.openai.com"); sv = s.wrap_bio(si, so, server_side=True)
try: cl.do_handshake()
except ssl.SSLWantReadError: pass
rec = co.read(); ch = rec[5:]
si.write(rec)
try: sv.do_handshake()
except ssl.SSLWantReadError: pass
out = so.read(); sh = out[5:5 + int.from_bytes(out[3:5], "big")]
odcid, cid, sid = os.urandom(8), os.urandom(8), os.urandom(8)
half = len(ch) // 2
# the client's ClientHello in two datagrams, the second half first, each padded to 1200 bytes
a = initial(odcid, cid, b"client", 0, crypto(half, ch[half:]) + b"\\x01", 1200)
b = initial(odcid, cid, b"client", 1, crypto(0, ch[:half]), 1200)
# the server's answer: an ACK, then its ServerHello, in an Initial to the client's own connection ID
srv = initial(cid, sid, b"server", 0, b"\\x02\\x01\\x00\\x00\\x01" + crypto(0, sh), 0)
print(json.dumps({"odcid": odcid.hex(), "a": a.hex(), "b": b.hex(), "server": srv.hex(), "ch": ch.hex(), "sh": sh.hex()}))
`;

describe('QUIC Initial packets', () => {
  it('derives the Initial keys of RFC 9001 Appendix A.1', () => {
    const dcid = Buffer.from('8394c8f03e515708', 'hex');
    const c = initialKeys(1, dcid, 'client')!;
    assert.deepEqual([hex(c.key), hex(c.iv), hex(c.hp)], ['1f369613dd76d5467730efcbe3b1a22d', 'fa044b2f42a3fd3b46fb255c', '9f50449e04a0e810283a1e9933adedd2']);
    const s = initialKeys(1, dcid, 'server')!;
    assert.deepEqual([hex(s.key), hex(s.iv), hex(s.hp)], ['cf3a5331653c364c88f0f379b6067e37', '0ac1493ca1905853b0bba03e', 'c206b8d9b9f0f37644430b490eeaa314']);
    assert.equal(initialKeys(0xff00001d, dcid, 'client'), undefined, 'a draft version is not read');
  });

  it('reads the hellos from Initials protected by python3-cryptography: CRYPTO frames out of order, across datagrams', () => {
    const pki = makePki(['api.openai.com']);
    try {
      const py = spawnSync(PYTHON, ['-c', MAKE, pki.cert, pki.key, pki.caCert], { encoding: 'utf8' });
      assert.equal(py.status, 0, py.stderr);
      const v = JSON.parse(py.stdout) as Record<string, string>;
      const bytes = (k: string) => new Uint8Array(Buffer.from(v[k]!, 'hex'));
      const odcid = bytes('odcid');
      assert.equal(bytes('a').length, 1200);
      assert.deepEqual(initialHeader(bytes('a'))?.dcid, odcid);
      const client = new CryptoStream();
      for (const d of ['a', 'b']) {
        const p = readInitial(bytes(d), (ver) => initialKeys(ver, odcid, 'client'));
        assert.ok(p, `datagram ${d} decrypts`);
        client.add(p.initial.crypto);
        if (d === 'a') assert.equal(client.message(), undefined, 'half a hello is not a hello');
      }
      const ch = client.message()!;
      assert.equal(hex(ch), v.ch);
      const hello = parseTlsHello(asRecords(ch));
      assert.equal(hello.kind, 'client_hello');
      assert.equal(hello.tls.sni, 'api.openai.com');
      assert.deepEqual(hello.tls.alpn, ['h3']);
      // the server's Initial goes to another connection ID, under keys from the client's first one
      const server = new CryptoStream();
      const sp = readInitial(bytes('server'), (ver) => initialKeys(ver, odcid, 'server'));
      assert.ok(sp);
      server.add(sp.initial.crypto);
      const sh = parseTlsHello(asRecords(server.message()!));
      assert.equal(sh.kind, 'server_hello');
      assert.equal(sh.tls.version, 'TLS 1.3');
      // one flipped byte of the ciphertext fails the tag
      const bad = bytes('b');
      bad[600] ^= 1;
      assert.equal(readInitial(bad, (ver) => initialKeys(ver, odcid, 'client')), undefined);
    } finally {
      rmSync(pki.dir, { recursive: true, force: true });
    }
  });

  it('random datagrams never throw', () => {
    const rnd = prng(0x9c1c);
    for (let i = 0; i < 3000; i++) {
      const b = Uint8Array.from({ length: Math.floor(rnd() * 1300) }, () => Math.floor(rnd() * 256));
      if (i % 2 && b.length) b[0] = 0xc0 | (b[0]! & 0x0f);
      if (i % 4 === 1 && b.length >= 5) b.set([0, 0, 0, 1], 1);
      readInitial(b, (ver, dcid) => initialKeys(ver, dcid, 'client'));
      new CryptoStream().add([{ offset: Math.floor(rnd() * 100), data: b.subarray(0, 10) }]);
    }
  });
});
