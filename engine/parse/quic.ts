/**
 * QUIC Initial packets (RFC 9000 17.2.2; RFC 9001 5.2 and 5.4 for their
 * protection; RFC 9369 for version 2): the TLS handshake of an HTTP/3
 * connection starts in them, its ClientHello and ServerHello in CRYPTO
 * frames. Their keys come from the client's first Destination Connection
 * ID alone, so anyone on the path can read them, and so does busted: the
 * SNI, ALPN, ciphers and JA4 of QUIC connections (browsers reach Google's
 * and others' AI services over HTTP/3) are reported like TCP's.
 *
 * No input throws: a datagram that is not an Initial, or does not decrypt,
 * gives undefined.
 */
import { createCipheriv, createDecipheriv, createHmac } from 'node:crypto';

const V1 = 0x00000001;
const V2 = 0x6b3343cf;
const SALT: Record<number, Buffer> = {
  [V1]: Buffer.from('38762cf7f55934b34d179ae6a4c80cadccbb7f0a', 'hex'),
  [V2]: Buffer.from('0dede3def700a6db819381be6e269dcbf9bd2ed9', 'hex'),
};

/** HKDF-Expand-Label (RFC 8446 7.1) with an empty context, for outputs of at most one SHA-256 block. */
function expandLabel(secret: Buffer, label: string, length: number): Buffer {
  const full = Buffer.from(`tls13 ${label}`, 'latin1');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 0xff, full.length]), full, Buffer.from([0, 1])]);
  return createHmac('sha256', secret).update(info).digest().subarray(0, length);
}

export interface QuicKeys {
  key: Buffer;
  iv: Buffer;
  hp: Buffer;
}

/** The Initial keys of one side (RFC 9001 5.2; labels "quicv2 ..." for version 2). */
export function initialKeys(version: number, dcid: Uint8Array, side: 'client' | 'server'): QuicKeys | undefined {
  const salt = SALT[version];
  if (!salt) return undefined;
  const initial = createHmac('sha256', salt).update(dcid).digest();
  const secret = expandLabel(initial, `${side} in`, 32);
  const p = version === V2 ? 'quicv2 ' : 'quic ';
  return { key: expandLabel(secret, `${p}key`, 16), iv: expandLabel(secret, `${p}iv`, 12), hp: expandLabel(secret, `${p}hp`, 16) };
}

/** A variable-length integer (RFC 9000 16) at `at`: its value and its end; undefined past the end. */
function varint(b: Uint8Array, at: number): [number, number] | undefined {
  if (at >= b.length) return undefined;
  const n = 1 << (b[at]! >> 6);
  if (at + n > b.length) return undefined;
  let v = b[at]! & 0x3f;
  for (let i = 1; i < n; i++) v = v * 256 + b[at + i]!;
  return [v, at + n];
}

export interface QuicInitial {
  version: number;
  /** the Destination Connection ID the packet was sent to */
  dcid: Uint8Array;
  /** CRYPTO frames' data by stream offset */
  crypto: Array<{ offset: number; data: Uint8Array }>;
}

/** The header of the Initial at `at` of a datagram: its version, DCID, where its packet number starts and where the packet ends. */
export function initialHeader(b: Uint8Array, at = 0): { version: number; dcid: Uint8Array; pnAt: number; end: number } | undefined {
  if (b.length < at + 7 || (b[at]! & 0xc0) !== 0xc0) return undefined;
  const version = ((b[at + 1]! << 24) >>> 0) + (b[at + 2]! << 16) + (b[at + 3]! << 8) + b[at + 4]!;
  const type = (b[at]! >> 4) & 3;
  if (!((version === V1 && type === 0) || (version === V2 && type === 1))) return undefined;
  let p = at + 5;
  const dl = b[p++]!;
  if (dl > 20 || p + dl >= b.length) return undefined;
  const dcid = b.subarray(p, p + dl);
  p += dl;
  const sl = b[p++]!;
  if (sl > 20) return undefined;
  p += sl;
  const token = varint(b, p);
  if (!token) return undefined;
  p = token[1] + token[0];
  const len = varint(b, p);
  if (!len) return undefined;
  const pnAt = len[1];
  const end = pnAt + len[0];
  if (end > b.length || len[0] < 20) return undefined;
  return { version, dcid, pnAt, end };
}

/**
 * The Initial packet at `at` of datagram B, decrypted with KEYS (derived by
 * the caller from the connection's first DCID: a client's later Initials
 * and the server's carry other connection IDs): its CRYPTO frames, and
 * where the next packet of the datagram starts. Undefined when it is no
 * Initial, or does not decrypt (the tag is checked).
 */
export function readInitial(b: Uint8Array, keys: (version: number, dcid: Uint8Array) => QuicKeys | undefined, at = 0): { initial: QuicInitial; next: number } | undefined {
  const h = initialHeader(b, at);
  if (!h) return undefined;
  const k = keys(h.version, h.dcid);
  if (!k || h.pnAt + 4 + 16 > h.end) return undefined;
  try {
    // header protection (RFC 9001 5.4): a mask from a sample of the ciphertext
    const ecb = createCipheriv('aes-128-ecb', k.hp, null);
    const mask = ecb.update(b.subarray(h.pnAt + 4, h.pnAt + 20));
    const first = b[at]! ^ (mask[0]! & 0x0f);
    const pnLen = (first & 3) + 1;
    const header = Buffer.from(b.subarray(at, h.pnAt + pnLen));
    header[0] = first;
    let pn = 0;
    for (let i = 0; i < pnLen; i++) {
      header[h.pnAt - at + i] ^= mask[1 + i]!;
      pn = pn * 256 + header[h.pnAt - at + i]!;
    }
    const nonce = Buffer.from(k.iv);
    for (let i = 0; i < 4; i++) nonce[11 - i]! ^= (pn / 2 ** (8 * i)) & 0xff;
    const body = b.subarray(h.pnAt + pnLen, h.end);
    const gcm = createDecipheriv('aes-128-gcm', k.key, nonce);
    gcm.setAAD(header);
    gcm.setAuthTag(body.subarray(body.length - 16));
    const plain = Buffer.concat([gcm.update(body.subarray(0, body.length - 16)), gcm.final()]);
    return { initial: { version: h.version, dcid: h.dcid, crypto: cryptoFrames(plain) }, next: h.end };
  } catch {
    return undefined;
  }
}

/** The CRYPTO frames of an Initial's payload (RFC 9000 19.6), past PADDING, PING and ACK; a frame no Initial holds ends the walk. */
function cryptoFrames(p: Uint8Array): Array<{ offset: number; data: Uint8Array }> {
  const out: Array<{ offset: number; data: Uint8Array }> = [];
  let at = 0;
  const vi = (): number | undefined => {
    const v = varint(p, at);
    if (!v) return undefined;
    at = v[1];
    return v[0];
  };
  while (at < p.length) {
    const type = vi();
    if (type === undefined) break;
    if (type === 0x00 || type === 0x01) continue; // PADDING, PING
    if (type === 0x02 || type === 0x03) {
      // ACK: largest, delay, range count, first range, then (gap, length) pairs, then ECN counts for 0x03
      vi();
      vi();
      const ranges = vi();
      vi();
      if (ranges === undefined || ranges > 256) break;
      for (let i = 0; i < ranges * 2 + (type === 0x03 ? 3 : 0); i++) if (vi() === undefined) return out;
      continue;
    }
    if (type !== 0x06) break;
    const offset = vi();
    const len = vi();
    if (offset === undefined || len === undefined || at + len > p.length) break;
    out.push({ offset, data: p.subarray(at, at + len) });
    at += len;
  }
  return out;
}

/**
 * A handshake message put back together from CRYPTO frames that may come
 * out of order and across packets (browsers scatter them): the bytes from
 * offset 0 while they are contiguous, and the whole message when its
 * 4-byte header's length is covered.
 */
export class CryptoStream {
  private readonly chunks: Array<{ offset: number; data: Uint8Array }> = [];
  private size = 0;

  add(chunks: Array<{ offset: number; data: Uint8Array }>): void {
    for (const c of chunks) {
      if (c.offset > 1 << 16 || this.size > 1 << 17) continue; // no hello is this long
      this.chunks.push(c);
      this.size += c.data.length;
    }
  }

  /** The first handshake message, when all of it has arrived. */
  message(): Uint8Array | undefined {
    const sorted = [...this.chunks].sort((a, b) => a.offset - b.offset);
    const buf: number[] = [];
    for (const c of sorted) {
      if (c.offset > buf.length) break;
      for (let i = buf.length - c.offset; i < c.data.length; i++) buf.push(c.data[i]!);
    }
    if (buf.length < 4) return undefined;
    const need = 4 + ((buf[1]! << 16) | (buf[2]! << 8) | buf[3]!);
    return buf.length >= need ? Uint8Array.from(buf.slice(0, need)) : undefined;
  }
}

/** A handshake message as TLS records (for the TLS hello parser), each at most 2^14 bytes. */
export function asRecords(msg: Uint8Array): Uint8Array {
  const parts: number[] = [];
  for (let at = 0; at < msg.length; at += 16384) {
    const piece = msg.subarray(at, Math.min(msg.length, at + 16384));
    parts.push(0x16, 0x03, 0x03, piece.length >> 8, piece.length & 0xff, ...piece);
  }
  return Uint8Array.from(parts);
}
