/**
 * HPACK (RFC 7541): the header compression of HTTP/2. One decoder per
 * connection and direction, because the dynamic table is state that the
 * sender's encoder and the receiver's decoder keep in step; a block decoded
 * out of order, or lost, leaves the table wrong for every later block
 * (`HpackError` then, and the caller stops trusting the direction).
 */

export class HpackError extends Error {}

/** RFC 7541 Appendix A. */
const STATIC: ReadonlyArray<readonly [string, string]> = [
  ['', ''],
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/**
 * Code lengths of the Huffman code of RFC 7541 Appendix B, symbols 0..255
 * (EOS, 256, is 30 bits). The code is canonical: codes of one length are
 * consecutive in symbol order, so the lengths are the whole table.
 */
// prettier-ignore
const CODE_LEN = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

const EOS = 256;
const MAX_LEN = 30;

/** Canonical decoding tables: per length, the first code, where its symbols start, and how many. */
const FIRST_CODE = new Uint32Array(MAX_LEN + 2);
const FIRST_INDEX = new Uint16Array(MAX_LEN + 2);
const COUNT = new Uint16Array(MAX_LEN + 2);
const SYMBOLS = new Uint16Array(257);
/** codes and lengths by symbol, for the encoder the tests use */
const CODES = new Uint32Array(257);
{
  for (const l of CODE_LEN) COUNT[l]!++;
  let code = 0;
  let index = 0;
  for (let l = 1; l <= MAX_LEN; l++) {
    FIRST_CODE[l] = code;
    FIRST_INDEX[l] = index;
    index += COUNT[l]!;
    code = (code + COUNT[l]!) << 1;
  }
  const next = FIRST_INDEX.slice();
  const nextCode = FIRST_CODE.slice();
  for (let l = 1; l <= MAX_LEN; l++) {
    for (let s = 0; s <= EOS; s++) {
      if (CODE_LEN[s] !== l) continue;
      SYMBOLS[next[l]!++] = s;
      CODES[s] = nextCode[l]!++;
    }
  }
}

/** Fast path: the symbol of the first up-to-8 bits of a byte-aligned window, when its code is ≤ 8 bits. */
const BYTE_SYM = new Int16Array(256).fill(-1);
const BYTE_LEN = new Uint8Array(256);
for (let s = 0; s < 256; s++) {
  const l = CODE_LEN[s]!;
  if (l > 8) continue;
  const base = CODES[s]! << (8 - l);
  for (let i = 0; i < 1 << (8 - l); i++) {
    BYTE_SYM[base | i] = s;
    BYTE_LEN[base | i] = l;
  }
}

/** octets the last huffmanDecode() produced (the decoder's table sizes count them) */
let huffmanOctets = 0;

export function huffmanDecode(src: Uint8Array, start = 0, end = src.length): string {
  const out: number[] = [];
  const total = (end - start) * 8;
  // 8 bits from bit q (past the end: ones, which no code of 8 bits or less is)
  const byteAt = (q: number): number => {
    const k = start + (q >> 3);
    const hi = k < end ? src[k]! : 0xff;
    const lo = k + 1 < end ? src[k + 1]! : 0xff;
    return (((hi << 8) | lo) >> (8 - (q & 7))) & 0xff;
  };
  const bitAt = (q: number): number => (src[start + (q >> 3)]! >> (7 - (q & 7))) & 1;
  let p = 0;
  while (p < total) {
    const rem = total - p;
    const top = byteAt(p);
    const s = BYTE_SYM[top]!;
    if (s >= 0 && BYTE_LEN[top]! <= rem) {
      out.push(s);
      p += BYTE_LEN[top]!;
      continue;
    }
    // longer codes: walk the canonical lengths bit by bit
    let code = 0;
    let l = 0;
    let found = -1;
    while (l < MAX_LEN && l < rem) {
      code = (code << 1) | bitAt(p + l);
      l++;
      const off = code - FIRST_CODE[l]!;
      if (off >= 0 && off < COUNT[l]!) {
        found = SYMBOLS[FIRST_INDEX[l]! + off]!;
        break;
      }
    }
    if (found < 0) {
      // what is left must be padding: fewer than 8 bits, all ones (a prefix of EOS)
      if (rem < 8 && (byteAt(p) & 0xff) === 0xff) break;
      throw new HpackError('invalid Huffman code');
    }
    if (found === EOS) throw new HpackError('EOS in a Huffman string');
    out.push(found);
    p += l;
  }
  huffmanOctets = out.length;
  return latin1(out);
}

/** Huffman-encode (tests and benchmarks build header blocks with it). */
export function huffmanEncode(s: string): Uint8Array {
  const out: number[] = [];
  let acc = 0n;
  let bits = 0;
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k) & 0xff;
    acc = (acc << BigInt(CODE_LEN[c]!)) | BigInt(CODES[c]!);
    bits += CODE_LEN[c]!;
    while (bits >= 8) {
      out.push(Number((acc >> BigInt(bits - 8)) & 0xffn));
      bits -= 8;
    }
  }
  if (bits > 0) out.push(Number(((acc << BigInt(8 - bits)) | ((1n << BigInt(8 - bits)) - 1n)) & 0xffn));
  return Uint8Array.from(out);
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

function latin1(codes: number[]): string {
  let s = '';
  for (let k = 0; k < codes.length; k += 4096) s += String.fromCharCode(...codes.slice(k, k + 4096));
  if (!/[\x80-\xff]/.test(s)) return s;
  // header octets are UTF-8 in practice; anything else stays one char per octet
  try {
    return UTF8.decode(Uint8Array.from(codes));
  } catch {
    return s;
  }
}

function octetsText(b: Uint8Array): string {
  const s = Buffer.from(b.buffer, b.byteOffset, b.length).toString('latin1');
  if (!/[\x80-\xff]/.test(s)) return s;
  try {
    return UTF8.decode(b);
  } catch {
    return s;
  }
}

const MAX_HEADER_LIST = 256 * 1024;

/**
 * A field whose table entry was made where the decoder did not look
 * (HpackDecoder.forget): no name, so no rule reads it as any header, and
 * a rendering shows it as malformed (http2.ts wellFormed).
 */
export const UNKNOWN_FIELD: readonly [string, string] = Object.freeze(['', '']) as readonly [string, string];

export class HpackDecoder {
  /** newest first: name, value, the entry's size (RFC 7541 4.1: octets of both + 32), the name's octets */
  private table: Array<[string, string, number, number]> = [];
  private size = 0;
  /** the table's current maximum, as the encoder last set it (4096 unless told otherwise) */
  private maxSize: number;
  /** octets of the last string str() read, and of the name of the last entry() */
  private octets = 0;
  /**
   * The table's older entries are not known (forget()): an index past the
   * entries added since reads as a field of unknown name and value.
   */
  private olderUnknown = false;

  /**
   * `size`: the table's maximum to start with (SETTINGS_HEADER_TABLE_SIZE's
   * default, 4096, in HTTP/2). `ceiling`: the largest size update accepted.
   * An observer does not see which SETTINGS the receiver acknowledged, so it
   * follows the encoder's updates up to a ceiling that bounds its memory
   * instead (Http2Stream: 64 KiB, what browsers advertise).
   */
  constructor(size = 4096, private readonly ceiling = size) {
    this.maxSize = size;
  }

  /** octets the dynamic table holds (RFC 7541 4.1), never above its maximum */
  get tableSize(): number {
    return this.size;
  }

  /**
   * The blocks between here and the last one decoded were not seen (a
   * direction followed again after a stretch the kernel did not copy): what
   * they added to the table is unknown. Entries added from here on are known
   * and sit at the front, where the encoder's own indices put them; a
   * reference past them is to an entry made in the stretch, and decodes as
   * UNKNOWN_FIELD rather than failing the direction. Eviction counts the
   * known entries only, which is what the encoder does to them too: it
   * evicts the oldest, unknown ones, first.
   */
  forget(): void {
    this.table = [];
    this.size = 0;
    this.olderUnknown = true;
  }

  /** The header list of one complete header block (HEADERS + CONTINUATION fragments joined). */
  decode(b: Uint8Array): Array<[string, string]> {
    const out: Array<[string, string]> = [];
    let total = 0;
    const pos = { i: 0 };
    while (pos.i < b.length) {
      const first = b[pos.i]!;
      let name: string;
      let value: string;
      if (first & 0x80) {
        // indexed field
        const idx = this.int(b, pos, 7);
        [name, value] = this.entry(idx);
      } else if (first & 0x40) {
        // literal with incremental indexing
        const idx = this.int(b, pos, 6);
        name = idx ? this.entry(idx)[0] : this.str(b, pos);
        const nameOctets = this.octets;
        value = this.str(b, pos);
        this.insert(name, value, nameOctets, nameOctets + this.octets + 32);
      } else if (first & 0x20) {
        // dynamic table size update: RFC 7541 4.2, only at the start of a block (a decoder
        // that took one later would disagree with the peer's, which fails the connection)
        if (out.length > 0) throw new HpackError('table size update after a field in the block');
        const n = this.int(b, pos, 5);
        if (n > this.ceiling) throw new HpackError(`table size update ${n} above the limit ${this.ceiling}`);
        this.maxSize = n;
        this.evict(0);
        continue;
      } else {
        // literal without indexing (0000) or never indexed (0001)
        const idx = this.int(b, pos, 4);
        name = idx ? this.entry(idx)[0] : this.str(b, pos);
        value = this.str(b, pos);
      }
      total += name.length + value.length + 32;
      if (total > MAX_HEADER_LIST) throw new HpackError('header list too large');
      out.push([name, value]);
    }
    return out;
  }

  private entry(idx: number): readonly [string, string, ...number[]] {
    if (idx === 0) throw new HpackError('index 0');
    if (idx < STATIC.length) {
      const e = STATIC[idx]!;
      this.octets = e[0].length; // static names are ASCII
      return e;
    }
    const e = this.table[idx - STATIC.length];
    if (e === undefined && this.olderUnknown) {
      this.octets = 0;
      return UNKNOWN_FIELD;
    }
    if (e === undefined) throw new HpackError(`index ${idx} beyond the dynamic table (${this.table.length} entries)`);
    this.octets = e[3];
    return e;
  }

  /**
   * `sz` counts octets as sent, not the decoded string's UTF-16 length: a
   * UTF-8 value is shorter as a JS string, and counting that kept entries
   * the encoder had evicted (a table of 4096 octets held 6,000).
   */
  private insert(name: string, value: string, nameOctets: number, sz: number): void {
    this.evict(sz);
    if (sz > this.maxSize) return; // too large: the table is emptied and nothing is added
    this.table.unshift([name, value, sz, nameOctets]);
    this.size += sz;
  }

  private evict(room: number): void {
    while (this.table.length && this.size + room > this.maxSize) this.size -= this.table.pop()![2];
  }

  private int(b: Uint8Array, pos: { i: number }, prefix: number): number {
    const mask = (1 << prefix) - 1;
    let v = b[pos.i++]! & mask;
    if (v < mask) return v;
    let m = 0;
    for (;;) {
      if (pos.i >= b.length) throw new HpackError('truncated integer');
      const c = b[pos.i++]!;
      v += (c & 0x7f) * 2 ** m;
      m += 7;
      if (!(c & 0x80)) return v;
      if (m > 28) throw new HpackError('integer too large');
    }
  }

  private str(b: Uint8Array, pos: { i: number }): string {
    if (pos.i >= b.length) throw new HpackError('truncated string');
    const huff = (b[pos.i]! & 0x80) !== 0;
    const n = this.int(b, pos, 7);
    if (pos.i + n > b.length) throw new HpackError('string beyond the block');
    // raw strings read as Huffman ones are: UTF-8 when they are, else one char per octet (toString('utf8')
    // made every stray octet U+FFFD, so two different values could read the same)
    const s = huff ? huffmanDecode(b, pos.i, pos.i + n) : octetsText(b.subarray(pos.i, pos.i + n));
    this.octets = huff ? huffmanOctets : n;
    pos.i += n;
    return s;
  }
}

/** A literal-without-indexing header block of `fields` (tests and benchmarks), strings Huffman-coded when `huffman`. */
export function encodeHeaders(fields: Array<[string, string]>, huffman = true): Uint8Array {
  const out: number[] = [];
  const int = (v: number, prefix: number, flags: number) => {
    const mask = (1 << prefix) - 1;
    if (v < mask) return void out.push(flags | v);
    out.push(flags | mask);
    v -= mask;
    while (v >= 128) {
      out.push((v & 0x7f) | 0x80);
      v = Math.floor(v / 128);
    }
    out.push(v);
  };
  const str = (s: string) => {
    const raw = Buffer.from(s, 'utf8');
    const h = huffman ? huffmanEncode(raw.toString('latin1')) : undefined;
    const bytes = h && h.length < raw.length ? h : raw;
    int(bytes.length, 7, bytes === h ? 0x80 : 0);
    for (const x of bytes) out.push(x);
  };
  for (const [n, v] of fields) {
    const idx = STATIC.findIndex(([sn, sv], i) => i > 0 && sn === n && sv === v);
    if (idx > 0) {
      int(idx, 7, 0x80);
      continue;
    }
    const nameIdx = STATIC.findIndex(([sn], i) => i > 0 && sn === n);
    if (nameIdx > 0) int(nameIdx, 4, 0);
    else {
      out.push(0);
      str(n);
    }
    str(v);
  }
  return Uint8Array.from(out);
}
