/**
 * JA4 TLS client fingerprint (the "JA4" part of JA4+, BSD 3-Clause), as
 * specified in github.com/FoxIO-LLC/ja4 technical_details/JA4.md:
 *
 *   a: proto + version + (d|i) + cipher count + extension count + ALPN chars
 *   b: sha256("sorted,cipher,hex")[0..12]
 *   c: sha256("sorted,extension,hex" [+ "_" + "sigalg,hex,in,wire,order"])[0..12]
 *
 * The caller hands over values with GREASE already removed (RFC 8701): the
 * spec says to ignore GREASE everywhere, and the hello parser drops it anyway.
 */
import * as crypto from 'node:crypto';

export interface Ja4Input {
  /** 't' TLS over TCP (the only one busted sees today), 'q' QUIC, 'd' DTLS */
  transport?: 't' | 'q' | 'd';
  /** highest version in supported_versions, else the ClientHello legacy_version; 0 when unknown */
  version: number;
  /** whether the server_name extension is present */
  sni: boolean;
  /** cipher suites in wire order */
  ciphers: readonly number[];
  /** extension types in wire order, SNI and ALPN included */
  extensions: readonly number[];
  /** raw bytes of the first ALPN protocol name, if any */
  alpn: Uint8Array | undefined;
  /** signature_algorithms (ext 13) in wire order */
  sigalgs: readonly number[];
}

const EMPTY_HASH = '000000000000';
const HEX = '0123456789abcdef';
const HEX_CODES = Array.from(HEX, (ch) => ch.charCodeAt(0));
const COMMA = 0x2c;
const UNDERSCORE = 0x5f;

// The hashed lists are written as ASCII into one reused buffer and hashed as
// bytes: no per-element strings on a path that runs once per ClientHello.
let text = new Uint8Array(4096);
let sortBuf = new Uint16Array(1024);

/** One-shot crypto.hash (Node >= 20.12) is ~3x cheaper than createHash for inputs this small. */
const sha256hex: (data: Uint8Array) => string =
  typeof crypto.hash === 'function'
    ? (data) => crypto.hash('sha256', data, 'hex')
    : (data) => crypto.createHash('sha256').update(data).digest('hex');

function versionCode(v: number): string {
  switch (v) {
    case 0x0304:
      return '13';
    case 0x0303:
      return '12';
    case 0x0302:
      return '11';
    case 0x0301:
      return '10';
    case 0x0300:
      return 's3';
    case 0x0002:
      return 's2';
    case 0xfeff:
      return 'd1';
    case 0xfefd:
      return 'd2';
    case 0xfefc:
      return 'd3';
    default:
      return '00';
  }
}

function count2(n: number): string {
  const c = n > 99 ? 99 : n;
  return c < 10 ? `0${c}` : String(c);
}

function isAlnum(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
}

/**
 * The two ALPN characters of JA4_a. A lone byte is both first and last; when
 * either end is not ASCII alphanumeric the spec switches to the first and last
 * nibble of the hex form of the whole value (0x30 0xAB -> "3b").
 */
export function ja4Alpn(alpn: Uint8Array | undefined): string {
  if (alpn === undefined || alpn.length === 0) return '00';
  const first = alpn[0];
  const last = alpn[alpn.length - 1];
  if (isAlnum(first) && isAlnum(last)) return String.fromCharCode(first, last);
  return HEX[first >> 4] + HEX[last & 15];
}

/** Writes "xxxx,xxxx,..." (lowercase hex) for values[0..n) at `at`; returns the new end. */
function writeHexList(values: Uint16Array, n: number, at: number): number {
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (i > 0) text[at++] = COMMA;
    text[at++] = HEX_CODES[(v >> 12) & 15]!;
    text[at++] = HEX_CODES[(v >> 8) & 15]!;
    text[at++] = HEX_CODES[(v >> 4) & 15]!;
    text[at++] = HEX_CODES[v & 15]!;
  }
  return at;
}

/** Copies the values (minus SNI and ALPN when asked) into the sort buffer, sorted; returns how many. */
function sortedCopy(values: readonly number[], skipSniAlpn: boolean): number {
  if (sortBuf.length < values.length) sortBuf = new Uint16Array(values.length * 2);
  let n = 0;
  for (const v of values) if (!skipSniAlpn || (v !== 0x0000 && v !== 0x0010)) sortBuf[n++] = v;
  // Numeric order equals the spec's order of fixed-width lowercase hex strings.
  sortBuf.subarray(0, n).sort();
  return n;
}

function ensureText(entries: number): void {
  if (text.length < entries * 5 + 1) text = new Uint8Array(entries * 10 + 1);
}

function hash12(end: number): string {
  return sha256hex(text.subarray(0, end)).slice(0, 12);
}

export function ja4(input: Ja4Input): string {
  const a =
    (input.transport ?? 't') +
    versionCode(input.version) +
    (input.sni ? 'd' : 'i') +
    count2(input.ciphers.length) +
    count2(input.extensions.length) +
    ja4Alpn(input.alpn);

  let n = sortedCopy(input.ciphers, false);
  ensureText(n);
  const b = n === 0 ? EMPTY_HASH : hash12(writeHexList(sortBuf, n, 0));

  n = sortedCopy(input.extensions, true);
  let c = EMPTY_HASH;
  if (n > 0) {
    const sigs = input.sigalgs;
    ensureText(n + sigs.length);
    let end = writeHexList(sortBuf, n, 0);
    // No trailing "_" when there are no signature algorithms (spec, "Extension hash").
    if (sigs.length > 0) {
      text[end++] = UNDERSCORE;
      if (sortBuf.length < sigs.length) sortBuf = new Uint16Array(sigs.length * 2);
      for (let i = 0; i < sigs.length; i++) sortBuf[i] = sigs[i]!;
      end = writeHexList(sortBuf, sigs.length, end);
    }
    c = hash12(end);
  }
  return `${a}_${b}_${c}`;
}
