/**
 * QUIC v1 client Initials holding real ClientHellos (OpenSSL's, over memory
 * BIOs: TLS 1.3, ALPN h3), one per server name, each protected with the
 * keys of a fresh connection ID (RFC 9001 5.2, 5.4) by Debian's
 * python3-cryptography and padded to 1200 bytes. They are made in a
 * process of their own, so that whoever sends them has no TLS library on
 * its thread: to busted they are a QUIC stack it cannot read, as
 * Chromium's is.
 */
import { spawnSync } from 'node:child_process';
import { PYTHON } from '../../engine/demo/spawn.js';

const MAKE = `import json, os, ssl, sys
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives import hashes, hmac
def hm(k, m):
    h = hmac.HMAC(k, hashes.SHA256()); h.update(m); return h.finalize()
def label(secret, name, n):
    full = b"tls13 " + name
    return hm(secret, bytes([0, n, len(full)]) + full + b"\\x00\\x01")[:n]
def initial(dcid, scid, ch):
    s = label(hm(bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), dcid), b"client in", 32)
    k, iv, hp = label(s, b"quic key", 16), label(s, b"quic iv", 12), label(s, b"quic hp", 16)
    payload = b"\\x06\\x00" + (0x4000 | len(ch)).to_bytes(2, "big") + ch
    head = bytes([0xc1]) + (1).to_bytes(4, "big") + bytes([len(dcid)]) + dcid + bytes([len(scid)]) + scid + b"\\x00"
    payload += b"\\x00" * max(0, 1200 - len(head) - 2 - 2 - len(payload) - 16)
    head += (0x4000 | (2 + len(payload) + 16)).to_bytes(2, "big")
    pnb = (0).to_bytes(2, "big")
    ct = AESGCM(k).encrypt(bytes(a ^ b for a, b in zip(iv, bytes(10) + pnb)), payload, head + pnb)
    e = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = e.update(ct[2:18]) + e.finalize()
    return bytes([head[0] ^ (mask[0] & 0x0f)]) + head[1:] + bytes(a ^ b for a, b in zip(pnb, mask[1:3])) + ct
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT); c.set_alpn_protocols(["h3"]); c.minimum_version = ssl.TLSVersion.TLSv1_3
out = []
for name in json.load(sys.stdin):
    co = ssl.MemoryBIO(); cl = c.wrap_bio(ssl.MemoryBIO(), co, server_hostname=name)
    try: cl.do_handshake()
    except ssl.SSLWantReadError: pass
    out.append(initial(os.urandom(8), os.urandom(8), co.read()[5:]).hex())
print(json.dumps(out))
`;

/** One Initial datagram per name, in order (hex), asking for that server name. */
export function quicInitials(names: string[]): string[] {
  const r = spawnSync(PYTHON, ['-c', MAKE], { input: JSON.stringify(names), encoding: 'utf8', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`making QUIC Initials: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout) as string[];
}
