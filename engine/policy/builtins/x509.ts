/**
 * Host builtins: the crypto.x509.* family (OPA v1/topdown/crypto.go),
 * gathered by builtins-js.ts. crypto.parse_private_keys is in jwt.ts.
 *
 * OPA answers with Go's encoding/json of crypto/x509's structures, so the
 * certificates here are read by our own small, strict DER reader (node's
 * X509Certificate hides the raw Names, OIDs and extensions) into the fields
 * Go's x509.ParseCertificate fills, and written as json.Marshal writes them:
 * []byte as padded standard base64, *big.Int as a JSON number (the results
 * cross as JSON text, common.ts jsonText, so SerialNumber and key integers
 * stay exact), time.Time as RFC 3339 (fraction only when non-zero), nil
 * slices as null, asn1.ObjectIdentifier as an array of numbers, x509.OID as
 * its dotted text, net.IP as its text, *url.URL as its struct.
 *
 * The field set is Go 1.24's (what OPA 1.x is built with): Go 1.19's
 * x509.Certificate plus Policies (1.22), InhibitAnyPolicy(Zero),
 * InhibitPolicyMapping(Zero), RequireExplicitPolicy(Zero) and PolicyMappings
 * (1.24); negative serial numbers are refused (1.23). Verification follows
 * crypto/x509 Verify (verify.go): chains built from the pools, signatures,
 * validity, name constraints, path length and extended key usage; RFC 5280
 * policy validation (1.24) is not done.
 */
import { constants, createPrivateKey, createPublicKey, verify as cryptoVerify, type KeyObject } from 'node:crypto';

import type { BuiltinDecl } from '../compile/builtins.js';
import { evaluationNowNs, exact, exactJSON, fail, jsonText, RegoSet, str, type Exact, type Impl } from './common.js';
import { ipv4, ipv6 } from '../../decode/records.js';
import { parseURL, text, urlString, type GoURL } from './gourl.js';
import { b64Decode, goPrivateKey, pemDecode } from './jwt.js';
import { parseIP as parseAddress } from './net.js';
import { daysIn } from './time.js';

const b64Std = (s: string): Buffer => b64Decode(s, false);

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'crypto.x509.parse_certificates': { arity: 1 },
  'crypto.x509.parse_and_verify_certificates': { arity: 1 },
  // CurrentTime is an int64 of nanoseconds: the options cross as Rego text to stay exact
  'crypto.x509.parse_and_verify_certificates_with_options': { arity: 2, exact: true },
  'crypto.x509.parse_certificate_request': { arity: 1 },
  'crypto.x509.parse_keypair': { arity: 2 },
  'crypto.x509.parse_rsa_private_key': { arity: 1 },
};

type J = Exact;
type Obj = { [k: string]: J };

const b64 = (b: Buffer): string => b.toString('base64');
const nullable = <T>(xs: T[]): T[] | null => (xs.length === 0 ? null : xs);

/* ------------------------------------------------------------ base64, PEM */

/** A Rego string as Go's bytes. */
const bytesOf = (s: string): Buffer => Buffer.from(s, 'utf8');

/* -------------------------------------------------------------------- DER */

const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8: 0x0c,
  NUMERIC: 0x12,
  PRINTABLE: 0x13,
  T61: 0x14,
  IA5: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  BMP: 0x1e,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;
/** [n] IMPLICIT (primitive) and [n] EXPLICIT/constructed context tags */
const ctx = (n: number): number => 0x80 | n;
const ctxC = (n: number): number => 0xa0 | n;

interface Tlv {
  tag: number;
  /** the contents octets */
  body: Buffer;
  /** tag, length and contents */
  full: Buffer;
}

/**
 * A DER reader as Go's cryptobyte reads (x/crypto/cryptobyte/asn1.go):
 * single-byte tags, definite minimal lengths of at most four bytes. Every
 * read answers undefined on malformed input; callers fail with Go's message.
 */
class Der {
  private pos = 0;
  constructor(private readonly buf: Buffer) {}

  get empty(): boolean {
    return this.pos >= this.buf.length;
  }

  /** the bytes not yet read */
  rest(): Buffer {
    return this.buf.subarray(this.pos);
  }

  peek(tag: number): boolean {
    return this.pos < this.buf.length && this.buf[this.pos] === tag;
  }

  /** any element */
  any(): Tlv | undefined {
    const b = this.buf;
    const start = this.pos;
    if (b.length - start < 2) return undefined;
    const tag = b[start]!;
    if ((tag & 0x1f) === 0x1f) return undefined;
    let len = b[start + 1]!;
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      if (n === 0 || n > 4 || b.length - start < 2 + n) return undefined;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + b[start + 2 + i]!;
      // minimal: no leading zero byte, and the short form where it fits
      if (b[start + 2] === 0 || len < 128) return undefined;
      hdr += n;
    }
    if (b.length - start - hdr < len) return undefined;
    this.pos = start + hdr + len;
    return { tag, body: b.subarray(start + hdr, start + hdr + len), full: b.subarray(start, start + hdr + len) };
  }

  /** an element with this tag */
  read(tag: number): Tlv | undefined {
    if (!this.peek(tag)) return undefined;
    return this.any();
  }

  /** the contents of an element with this tag */
  body(tag: number): Buffer | undefined {
    return this.read(tag)?.body;
  }

  integer(): bigint | undefined {
    const b = this.body(TAG.INTEGER);
    return b === undefined ? undefined : derInt(b);
  }

  oid(): number[] | undefined {
    const b = this.body(TAG.OID);
    return b === undefined ? undefined : oidInts(b);
  }

  bool(): boolean | undefined {
    const b = this.body(TAG.BOOLEAN);
    // DER: 0x00 or 0xff
    if (b === undefined || b.length !== 1 || (b[0] !== 0 && b[0] !== 0xff)) return undefined;
    return b[0] === 0xff;
  }

  bitString(): BitString | undefined {
    const b = this.body(TAG.BIT_STRING);
    return b === undefined ? undefined : bitString(b);
  }
}

/** A two's-complement INTEGER, refused when empty or not minimal. */
function derInt(b: Buffer): bigint | undefined {
  if (b.length === 0) return undefined;
  if (b.length > 1 && ((b[0] === 0 && !(b[1]! & 0x80)) || (b[0] === 0xff && b[1]! & 0x80))) return undefined;
  let n = BigInt(`0x${b.toString('hex')}`);
  if (b[0]! & 0x80) n -= 1n << BigInt(b.length * 8);
  return n;
}

/** An OID's arcs as numbers (asn1.ObjectIdentifier: each arc at most 31 bits, as cryptobyte reads it). */
function oidInts(b: Buffer): number[] | undefined {
  const arcs = oidArcs(b);
  if (arcs === undefined || arcs.some((a) => a >= 1n << 31n)) return undefined;
  return arcs.map(Number);
}

/** An OID's arcs of any size (x509.OID). */
function oidArcs(b: Buffer): bigint[] | undefined {
  if (b.length === 0) return undefined;
  const out: bigint[] = [];
  let v = 0n;
  let start = true;
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (start && c === 0x80) return undefined; // not minimal
    v = (v << 7n) | BigInt(c & 0x7f);
    start = !(c & 0x80);
    if (start) {
      if (out.length === 0) {
        if (v < 80n) out.push(v / 40n, v % 40n);
        else out.push(2n, v - 80n);
      } else out.push(v);
      v = 0n;
    }
  }
  return start ? out : undefined;
}

const oidText = (arcs: readonly (number | bigint)[]): string => arcs.join('.');
const oidIs = (a: readonly number[] | undefined, b: string): boolean => a !== undefined && oidText(a) === b;

interface BitString {
  bytes: Buffer;
  bitLength: number;
}

/** A BIT STRING: its unused-bit count at most 7, zero for an empty one, and the unused bits zero. */
function bitString(b: Buffer): BitString | undefined {
  if (b.length === 0) return undefined;
  const pad = b[0]!;
  const bytes = b.subarray(1);
  if (pad > 7 || (bytes.length === 0 && pad !== 0) || (pad > 0 && bytes[bytes.length - 1]! & ((1 << pad) - 1))) return undefined;
  return { bytes, bitLength: bytes.length * 8 - pad };
}

/** asn1.BitString.RightAlign: the bits shifted so the padding is at the front. */
function rightAlign(bs: BitString): Buffer {
  const shift = 8 - (bs.bitLength % 8);
  if (shift === 8 || bs.bytes.length === 0) return Buffer.from(bs.bytes);
  const out = Buffer.alloc(bs.bytes.length);
  out[0] = bs.bytes[0]! >> shift;
  for (let i = 1; i < bs.bytes.length; i++) out[i] = ((bs.bytes[i - 1]! << (8 - shift)) | (bs.bytes[i]! >> shift)) & 0xff;
  return out;
}

const bitAt = (bs: BitString, i: number): number => (i >= bs.bitLength ? 0 : (bs.bytes[i >> 3]! >> (7 - (i & 7))) & 1);

/* ------------------------------------------------------------------- time */

/** A time.Time: nanoseconds since the epoch, and how json.Marshal writes it (RFC 3339, its zone kept). */
interface GoTime {
  ns: bigint;
  text: string;
}

/**
 * UTCTime (YYMMDDHHMM[SS], years 1950-2049) and GeneralizedTime
 * (YYYYMMDDHHMMSS[.fff]) as cryptobyte reads them: Z or ±hhmm, and the text
 * must be what Go's formatting of the parsed time gives back (no trailing
 * zeros in a fraction, no +0000).
 */
function derTime(el: Tlv): GoTime | undefined {
  const s = el.body.toString('latin1');
  const m =
    el.tag === TAG.UTC_TIME
      ? /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?(Z|[+-]\d{4})$/.exec(s)
      : /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\.\d*[1-9])?(Z|[+-]\d{4})$/.exec(s);
  if (!m) return undefined;
  let year = Number(m[1]);
  if (el.tag === TAG.UTC_TIME) year += year < 50 ? 2000 : 1900;
  const [mon, day, hour, min] = [m[2], m[3], m[4], m[5]].map(Number) as [number, number, number, number];
  const sec = m[6] === undefined ? 0 : Number(m[6]);
  const frac = el.tag === TAG.UTC_TIME ? '' : (m[7] ?? '');
  const zone = (el.tag === TAG.UTC_TIME ? m[7] : m[8])!;
  if (mon < 1 || mon > 12 || day < 1 || day > daysIn(mon, year) || hour > 23 || min > 59 || sec > 59) return undefined;
  let offset = 0;
  if (zone !== 'Z') {
    const [zh, zm] = [Number(zone.slice(1, 3)), Number(zone.slice(3))];
    if (zh > 23 || zm > 59 || (zh === 0 && zm === 0)) return undefined;
    offset = (zone[0] === '-' ? -1 : 1) * (zh * 60 + zm);
  }
  const ms = Date.UTC(year, mon - 1, day, hour, min, sec) - offset * 60_000;
  const fracNs = frac === '' ? 0n : BigInt(frac.slice(1).padEnd(9, '0').slice(0, 9));
  const two = (n: number): string => String(n).padStart(2, '0');
  const z = zone === 'Z' ? 'Z' : `${zone.slice(0, 3)}:${zone.slice(3)}`;
  const text = `${String(year).padStart(4, '0')}-${two(mon)}-${two(day)}T${two(hour)}:${two(min)}:${two(sec)}${frac}${z}`;
  return { ns: BigInt(ms) * 1_000_000n + fracNs, text };
}

function readTime(d: Der): GoTime {
  const el = d.peek(TAG.UTC_TIME) || d.peek(TAG.GENERALIZED_TIME) ? d.any() : fail('x509: unsupported time format');
  return (el && derTime(el)) ?? fail(el?.tag === TAG.UTC_TIME ? 'x509: malformed UTCTime' : 'x509: malformed GeneralizedTime');
}

/* ------------------------------------------------------------------ names */

const isPrintable = (c: number): boolean =>
  (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || (c >= 0x27 && c <= 0x29) || (c >= 0x2b && c <= 0x2f) || ' :=?*&'.includes(String.fromCharCode(c));
const isIA5 = (b: Buffer): boolean => b.every((c) => c < 0x80);

/** x509's parseASN1String: the string types a Name may hold. */
function asn1String(tag: number, v: Buffer): string {
  switch (tag) {
    case TAG.T61:
      // T.61 read as Latin-1, as Go and BoringSSL do
      return v.toString('latin1');
    case TAG.PRINTABLE:
      if (!v.every(isPrintable)) fail('invalid PrintableString');
      return v.toString('latin1');
    case TAG.UTF8: {
      const s = v.toString('utf8');
      if (!Buffer.from(s, 'utf8').equals(v)) fail('invalid UTF-8 string');
      return s;
    }
    case TAG.BMP: {
      if (v.length % 2 !== 0) fail('invalid BMPString');
      let b = v;
      if (b.length >= 2 && b[b.length - 1] === 0 && b[b.length - 2] === 0) b = b.subarray(0, b.length - 2);
      let s = '';
      for (let i = 0; i < b.length; i += 2) {
        const p = (b[i]! << 8) | b[i + 1]!;
        if (p === 0xfffe || p === 0xffff || (p >= 0xfdd0 && p <= 0xfdef) || (p >= 0xd800 && p <= 0xdfff)) fail('invalid BMPString');
        s += String.fromCharCode(p);
      }
      return s;
    }
    case TAG.IA5:
      if (!isIA5(v)) fail('invalid IA5String');
      return v.toString('latin1');
    case TAG.NUMERIC:
      if (!v.every((c) => (c >= 0x30 && c <= 0x39) || c === 0x20)) fail('invalid NumericString');
      return v.toString('latin1');
  }
  return fail(`unsupported string type: ${tag}`);
}

interface Atv {
  Type: number[];
  Value: J;
}

/** x509's parseName: an RDNSequence, each attribute's value a string. */
function parseName(full: Buffer): Atv[][] {
  const seq = new Der(full).body(TAG.SEQUENCE) ?? fail('x509: invalid RDNSequence');
  const d = new Der(seq);
  const rdns: Atv[][] = [];
  while (!d.empty) {
    const set = d.body(TAG.SET) ?? fail('x509: invalid RDNSequence');
    const s = new Der(set);
    const rdn: Atv[] = [];
    while (!s.empty) {
      const atv = new Der(s.body(TAG.SEQUENCE) ?? fail('x509: invalid RDNSequence: invalid attribute'));
      const type = atv.oid() ?? fail('x509: invalid RDNSequence: invalid attribute type');
      const v = atv.any() ?? fail('x509: invalid RDNSequence: invalid attribute value: invalid ASN.1 element');
      let value: string;
      try {
        value = asn1String(v.tag, v.body);
      } catch (e) {
        return fail(`x509: invalid RDNSequence: invalid attribute value: ${(e as Error).message}`);
      }
      rdn.push({ Type: type, Value: value });
    }
    rdns.push(rdn);
  }
  return rdns;
}

const NAME_FIELDS: Record<number, string> = {
  6: 'Country',
  10: 'Organization',
  11: 'OrganizationalUnit',
  7: 'Locality',
  8: 'Province',
  9: 'StreetAddress',
  17: 'PostalCode',
};

/** pkix.Name.FillFromRDNSequence, as json.Marshal writes the Name. */
function nameJSON(rdns: Atv[][]): Obj {
  const lists: Record<string, string[]> = {};
  for (const f of Object.values(NAME_FIELDS)) lists[f] = [];
  let serial = '';
  let cn = '';
  const names: J[] = [];
  for (const rdn of rdns) {
    for (const atv of rdn) {
      names.push({ Type: atv.Type, Value: atv.Value });
      const t = atv.Type;
      if (typeof atv.Value !== 'string' || t.length !== 4 || t[0] !== 2 || t[1] !== 5 || t[2] !== 4) continue;
      if (t[3] === 3) cn = atv.Value;
      else if (t[3] === 5) serial = atv.Value;
      else if (NAME_FIELDS[t[3]!] !== undefined) lists[NAME_FIELDS[t[3]!]!]!.push(atv.Value);
    }
  }
  const o: Obj = {};
  for (const [f, l] of Object.entries(lists)) o[f] = nullable(l);
  o.SerialNumber = serial;
  o.CommonName = cn;
  o.Names = nullable(names);
  o.ExtraNames = null;
  return o;
}

/* ------------------------------------------------------------- algorithms */

/** x509.SignatureAlgorithm values by OID, and what each needs (oids and signatureAlgorithmDetails in x509.go). */
const SIG_ALGS: Record<string, { algo: number; hash: string | null; key: number }> = {
  '1.2.840.113549.1.1.2': { algo: 1, hash: 'md2', key: 1 },
  '1.2.840.113549.1.1.4': { algo: 2, hash: 'md5', key: 1 },
  '1.2.840.113549.1.1.5': { algo: 3, hash: 'sha1', key: 1 },
  '1.3.14.3.2.29': { algo: 3, hash: 'sha1', key: 1 },
  '1.2.840.113549.1.1.11': { algo: 4, hash: 'sha256', key: 1 },
  '1.2.840.113549.1.1.12': { algo: 5, hash: 'sha384', key: 1 },
  '1.2.840.113549.1.1.13': { algo: 6, hash: 'sha512', key: 1 },
  '1.2.840.10040.4.3': { algo: 7, hash: 'sha1', key: 2 },
  '2.16.840.1.101.3.4.3.2': { algo: 8, hash: 'sha256', key: 2 },
  '1.2.840.10045.4.1': { algo: 9, hash: 'sha1', key: 3 },
  '1.2.840.10045.4.3.2': { algo: 10, hash: 'sha256', key: 3 },
  '1.2.840.10045.4.3.3': { algo: 11, hash: 'sha384', key: 3 },
  '1.2.840.10045.4.3.4': { algo: 12, hash: 'sha512', key: 3 },
  '1.3.101.112': { algo: 16, hash: null, key: 4 },
};
/** the RSASSA-PSS algorithms (13-15): hash and salt length */
const PSS: Record<number, { hash: string; salt: number }> = { 13: { hash: 'sha256', salt: 32 }, 14: { hash: 'sha384', salt: 48 }, 15: { hash: 'sha512', salt: 64 } };
const PSS_HASHES: Record<string, number> = { '2.16.840.1.101.3.4.2.1': 13, '2.16.840.1.101.3.4.2.2': 14, '2.16.840.1.101.3.4.2.3': 15 };
const NULL_DER = Buffer.from([0x05, 0x00]);

interface AlgId {
  oid: number[];
  /** the parameters element, empty when absent */
  params: Buffer;
}

function parseAI(body: Buffer): AlgId {
  const d = new Der(body);
  const oid = d.oid() ?? fail('x509: malformed OID');
  if (d.empty) return { oid, params: Buffer.alloc(0) };
  const p = d.any() ?? fail('x509: malformed parameters');
  return { oid, params: p.full };
}

/** An AlgorithmIdentifier of a hash (its parameters absent or NULL), or undefined. */
function hashAI(full: Buffer | undefined): string | undefined {
  const body = full && new Der(full).body(TAG.SEQUENCE);
  if (body === undefined) return undefined;
  const d = new Der(body);
  const oid = d.oid();
  if (oid === undefined) return undefined;
  const p = d.empty ? undefined : d.any();
  if (p !== undefined && !p.full.equals(NULL_DER)) return undefined;
  return oidText(oid);
}

/** x509's getSignatureAlgorithmFromAI: PSS only with MGF1 of the same hash, salt = hash length, trailer 1. */
function signatureAlgorithm(ai: AlgId): number {
  const id = oidText(ai.oid);
  if (id === '1.3.101.112' && ai.params.length !== 0) return 0;
  if (id !== '1.2.840.113549.1.1.10') return SIG_ALGS[id]?.algo ?? 0;
  const body = new Der(ai.params).body(TAG.SEQUENCE);
  if (body === undefined) return 0;
  const d = new Der(body);
  const hashEl = d.body(ctxC(0));
  const mgfEl = d.body(ctxC(1));
  const saltEl = d.body(ctxC(2));
  const trailerEl = d.body(ctxC(3));
  if (!d.empty) return 0;
  // defaults are SHA-1 and salt 20, which Go's buckets do not hold
  const hash = hashEl === undefined ? undefined : hashAI(hashEl);
  const mgf = mgfEl && new Der(mgfEl).body(TAG.SEQUENCE);
  const md = mgf && new Der(mgf);
  if (hash === undefined || md === undefined || !oidIs(md.oid(), '1.2.840.113549.1.1.8')) return 0;
  const mgfHash = md.empty ? undefined : hashAI(md.any()?.full);
  const salt = saltEl === undefined ? 20n : new Der(saltEl).integer();
  const trailer = trailerEl === undefined ? 1n : new Der(trailerEl).integer();
  if (mgfHash !== hash || trailer !== 1n) return 0;
  const algo = PSS_HASHES[hash];
  return algo !== undefined && BigInt(PSS[algo]!.salt) === salt ? algo : 0;
}

const PK_ALGS: Record<string, number> = { '1.2.840.113549.1.1.1': 1, '1.2.840.10040.4.1': 2, '1.2.840.10045.2.1': 3, '1.3.101.112': 4 };
const CURVES: Record<string, { name: string; size: number }> = {
  '1.3.132.0.33': { name: 'P-224', size: 28 },
  '1.2.840.10045.3.1.7': { name: 'P-256', size: 32 },
  '1.3.132.0.34': { name: 'P-384', size: 48 },
  '1.3.132.0.35': { name: 'P-521', size: 66 },
};

const bigOf = (b: Buffer): bigint => (b.length === 0 ? 0n : BigInt(`0x${b.toString('hex')}`));

/**
 * x509's parsePublicKey, as json.Marshal writes the key: *rsa.PublicKey
 * {N, E}; *ecdsa.PublicKey {Curve, X, Y}, the curve's fields unexported
 * ({}); ed25519.PublicKey as base64; *dsa.PublicKey {P, Q, G, Y}.
 */
function parsePublicKey(algo: number, ai: AlgId, key: BitString, spki: Buffer): J {
  const data = rightAlign(key);
  switch (algo) {
    case 1: {
      if (!ai.params.equals(NULL_DER)) fail('x509: RSA key missing NULL parameters');
      const seq = new Der(data).body(TAG.SEQUENCE) ?? fail('x509: invalid RSA public key');
      const d = new Der(seq);
      const n = d.integer() ?? fail('x509: invalid RSA modulus');
      const e = d.integer() ?? fail('x509: invalid RSA public exponent');
      if (n <= 0n) fail('x509: RSA modulus is not a positive number');
      if (e <= 0n) fail('x509: RSA public exponent is not a positive number');
      if (e >= 1n << 63n) fail('x509: invalid RSA public exponent');
      return { N: n, E: e };
    }
    case 3: {
      const curve = CURVES[oidText(new Der(ai.params).oid() ?? fail('x509: invalid ECDSA parameters'))] ?? fail('x509: unsupported elliptic curve');
      const size = curve.size;
      if (data.length !== 1 + 2 * size || data[0] !== 4) fail('x509: failed to unmarshal elliptic curve point');
      // node checks that the point is on the curve, as elliptic.Unmarshal does
      try {
        createPublicKey({ key: spki, format: 'der', type: 'spki' });
      } catch {
        fail('x509: failed to unmarshal elliptic curve point');
      }
      return { Curve: {}, X: bigOf(data.subarray(1, 1 + size)), Y: bigOf(data.subarray(1 + size)) };
    }
    case 4:
      if (ai.params.length !== 0) fail('x509: Ed25519 key encoded with illegal parameters');
      if (data.length !== 32) fail('x509: wrong Ed25519 public key size');
      return b64(data);
    case 2: {
      const y = new Der(data).integer() ?? fail('x509: invalid DSA public key');
      const ps = new Der(ai.params).body(TAG.SEQUENCE);
      const pd = ps && new Der(ps);
      const [p, q, g] = [pd?.integer(), pd?.integer(), pd?.integer()];
      if (p === undefined || q === undefined || g === undefined) return fail('x509: invalid DSA parameters');
      if (y <= 0n || p <= 0n || q <= 0n || g <= 0n) fail('x509: zero or negative DSA parameter');
      return { P: p, Q: q, G: g, Y: y };
    }
  }
  return fail('x509: unknown public key algorithm');
}

interface PublicKeyInfo {
  algo: number;
  key: J;
}

function parseSPKI(spki: Buffer, err: string): PublicKeyInfo {
  const d = new Der(new Der(spki).body(TAG.SEQUENCE) ?? fail(err));
  const ai = parseAI(d.body(TAG.SEQUENCE) ?? fail('x509: malformed public key algorithm identifier'));
  const algo = PK_ALGS[oidText(ai.oid)] ?? 0;
  const bits = d.bitString() ?? fail('x509: malformed subjectPublicKey');
  return { algo, key: algo === 0 ? null : parsePublicKey(algo, ai, bits, spki) };
}

/* -------------------------------------------------------------- addresses */

/** net.IP's text: dotted IPv4 (also for an IPv4-mapped IPv6 address), RFC 5952 IPv6. */
function ipText(ip: Buffer): string {
  if (ip.length === 0) return '';
  if (ip.length !== 4 && ip.length !== 16) return `?${ip.toString('hex')}`;
  // net.IP.String as the event decoder writes addresses: RFC 5952, a v4-mapped address as IPv4
  const dv = new DataView(ip.buffer, ip.byteOffset, ip.length);
  return ip.length === 4 ? ipv4(dv, 0) : ipv6(dv, 0);
}

/** net.ParseIP (net.ts): 4 bytes for IPv4 text, 16 for IPv6 (a trailing dotted quad allowed), undefined otherwise. */
function parseIP(s: string): Buffer | undefined {
  const p = parseAddress(s);
  if (p === undefined) return undefined;
  const n = p.v6 ? 16 : 4;
  return Buffer.from(p.n.toString(16).padStart(2 * n, '0'), 'hex');
}

/** 16-byte form of a 4- or 16-byte address (net.IP.To16), for equality. */
const to16 = (ip: Buffer): Buffer => (ip.length === 4 ? Buffer.concat([Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]), ip]) : ip);

/** verify.go domainToReverseLabels: no empty label, only printable ASCII. */
function domainLabels(domain: string): string[] | undefined {
  if (domain === '') return [];
  const labels = domain.split('.').reverse();
  if (labels.some((l) => l === '' || [...l].some((c) => c.charCodeAt(0) < 33 || c.charCodeAt(0) > 126))) return undefined;
  return labels;
}

/* -------------------------------------------------------------------- URL */

/** A *url.URL as json.Marshal writes it (gourl.ts: Go's url.Parse; its bytes as UTF-8, the user hidden) */
const urlJSON = (u: GoURL): Obj => ({
  ...u,
  Opaque: text(u.Opaque),
  User: u.User === null ? null : {},
  Host: text(u.Host),
  Path: text(u.Path),
  RawPath: text(u.RawPath),
  RawQuery: text(u.RawQuery),
  Fragment: text(u.Fragment),
  RawFragment: text(u.RawFragment),
});

/* ------------------------------------------------------------ certificate */

interface Ext {
  id: number[];
  critical: boolean;
  value: Buffer;
}

const extJSON = (e: Ext): Obj => ({ Id: e.id, Critical: e.critical, Value: b64(e.value) });

interface Sans {
  dns: string[];
  emails: string[];
  ips: Buffer[];
  uris: GoURL[];
}

/** The GeneralNames of a SAN extension, by tag: callback(tag, bytes). */
function forEachSAN(value: Buffer, f: (tag: number, data: Buffer) => void): void {
  const d = new Der(new Der(value).body(TAG.SEQUENCE) ?? fail('x509: invalid subject alternative names'));
  while (!d.empty) {
    const el = d.any() ?? fail('x509: invalid subject alternative name');
    f(el.tag ^ 0x80, el.body);
  }
}

/** x509's parseSANExtension */
function parseSAN(value: Buffer): Sans {
  const s: Sans = { dns: [], emails: [], ips: [], uris: [] };
  forEachSAN(value, (tag, data) => {
    const text = data.toString('latin1');
    if (tag === 1) {
      if (!isIA5(data)) fail('x509: SAN rfc822Name is malformed');
      s.emails.push(text);
    } else if (tag === 2) {
      if (!isIA5(data)) fail('x509: SAN dNSName is malformed');
      s.dns.push(text);
    } else if (tag === 6) {
      if (!isIA5(data)) fail('x509: SAN uniformResourceIdentifier is malformed');
      let uri: GoURL;
      try {
        uri = parseURL(text);
      } catch (e) {
        return fail(`x509: cannot parse URI ${JSON.stringify(text)}: ${(e as Error).message}`);
      }
      if (uri.Host.length > 0 && domainLabels(uri.Host) === undefined) fail(`x509: cannot parse URI ${JSON.stringify(text)}: invalid domain`);
      s.uris.push(uri);
    } else if (tag === 7) {
      if (data.length !== 4 && data.length !== 16) fail(`x509: cannot parse IP address of length ${data.length}`);
      s.ips.push(Buffer.from(data));
    }
  });
  return s;
}

interface IPNet {
  ip: Buffer;
  mask: Buffer;
}

interface Constraints {
  critical: boolean;
  permitted: { dns: string[]; ips: IPNet[]; emails: string[]; uris: string[] };
  excluded: { dns: string[]; ips: IPNet[]; emails: string[]; uris: string[] };
}

const validMask = (m: Buffer): boolean => /^1*0*$/.test([...m].map((b) => b.toString(2).padStart(8, '0')).join(''));

/** x509's parseNameConstraintsExtension: the constraints, and whether a subtree of another name type was left unhandled. */
function parseNameConstraints(e: Ext): { c: Constraints; unhandled: boolean } {
  const outer = new Der(e.value);
  const top = outer.body(TAG.SEQUENCE);
  const t = top && new Der(top);
  const permitted = t?.read(ctxC(0));
  const excluded = t?.read(ctxC(1));
  if (!t || !outer.empty || !t.empty) fail('x509: invalid NameConstraints extension');
  if (!permitted && !excluded) fail('x509: empty name constraints extension');
  if ((permitted && permitted.body.length === 0) || (excluded && excluded.body.length === 0)) fail('x509: empty name constraints subtree sequence');
  let unhandled = false;
  const values = (subtrees: Buffer | undefined): Constraints['permitted'] => {
    const v: Constraints['permitted'] = { dns: [], ips: [], emails: [], uris: [] };
    const d = new Der(subtrees ?? Buffer.alloc(0));
    while (!d.empty) {
      const seq = d.body(TAG.SEQUENCE);
      const base = seq && new Der(seq).any();
      if (!base) return fail('x509: invalid NameConstraints extension');
      const text = base.body.toString('latin1');
      const ia5 = (): void => {
        if (!isIA5(base.body)) fail('x509: invalid constraint value: asn1: invalid IA5String');
      };
      if (base.tag === ctx(2)) {
        ia5();
        const trimmed = text.startsWith('.') ? text.slice(1) : text;
        if (trimmed !== '' && domainLabels(trimmed) === undefined) fail(`x509: failed to parse dnsName constraint ${JSON.stringify(text)}`);
        v.dns.push(text);
      } else if (base.tag === ctx(7)) {
        const l = base.body.length;
        if (l !== 8 && l !== 32) fail(`x509: IP constraint contained value of length ${l}`);
        const ip = Buffer.from(base.body.subarray(0, l / 2));
        const mask = Buffer.from(base.body.subarray(l / 2));
        if (!validMask(mask)) fail(`x509: IP constraint contained invalid mask ${mask.toString('hex')}`);
        v.ips.push({ ip, mask });
      } else if (base.tag === ctx(1)) {
        ia5();
        if (text.includes('@')) {
          if (parseMailbox(text) === undefined) fail(`x509: failed to parse rfc822Name constraint ${JSON.stringify(text)}`);
        } else {
          const trimmed = text.startsWith('.') ? text.slice(1) : text;
          if (trimmed !== '' && domainLabels(trimmed) === undefined) fail(`x509: failed to parse rfc822Name constraint ${JSON.stringify(text)}`);
        }
        v.emails.push(text);
      } else if (base.tag === ctx(6)) {
        ia5();
        if (parseIP(text) !== undefined) fail(`x509: failed to parse URI constraint ${JSON.stringify(text)}: cannot be IP address`);
        const trimmed = text.startsWith('.') ? text.slice(1) : text;
        if (trimmed !== '' && domainLabels(trimmed) === undefined) fail(`x509: failed to parse URI constraint ${JSON.stringify(text)}`);
        v.uris.push(text);
      } else unhandled = true;
    }
    return v;
  };
  return { c: { critical: e.critical, permitted: values(permitted?.body), excluded: values(excluded?.body) }, unhandled };
}

/** verify.go parseRFC2821Mailbox: a local part (dot-atom or quoted string) and a domain. */
function parseMailbox(s: string): { local: string; domain: string } | undefined {
  if (s === '') return undefined;
  let local = '';
  let i = 0;
  if (s[0] === '"') {
    for (i = 1; ; i++) {
      if (i >= s.length) return undefined;
      const c = s.charCodeAt(i);
      if (c === 0x22) {
        i++;
        break;
      }
      if (c === 0x5c) {
        const n = s.charCodeAt(++i);
        if (!(n === 9 || (n >= 32 && n <= 126))) return undefined;
        local += s[i];
      } else if (c === 9 || c === 32 || c === 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) || c === 11 || c === 12) local += s[i];
      else return undefined;
    }
  } else {
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === '@') break;
      if (/[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~]/.test(c)) local += c;
      else if (c === '.' && local !== '' && !local.endsWith('.') && s[i + 1] !== '@' && i + 1 < s.length) local += c;
      else return undefined;
    }
    if (local === '') return undefined;
  }
  if (s[i] !== '@') return undefined;
  const domain = s.slice(i + 1);
  if (domainLabels(domain) === undefined || domain === '') return undefined;
  return { local, domain };
}

/** A parsed certificate: the x509.Certificate fields, and what verification reads. */
interface Cert {
  raw: Buffer;
  tbs: Buffer;
  spki: Buffer;
  rawSubject: Buffer;
  rawIssuer: Buffer;
  signature: Buffer;
  sigAlgo: number;
  pk: PublicKeyInfo;
  version: number;
  serial: bigint;
  issuer: Atv[][];
  subject: Atv[][];
  notBefore: GoTime;
  notAfter: GoTime;
  keyUsage: number;
  extensions: Ext[];
  unhandled: number[][];
  extKeyUsage: number[] | null;
  unknownExtKeyUsage: number[][] | null;
  bcValid: boolean;
  isCA: boolean;
  maxPathLen: number;
  maxPathLenZero: boolean;
  skid: Buffer | null;
  akid: Buffer | null;
  ocsp: string[] | null;
  issuingURL: string[] | null;
  sans: Sans;
  san: Buffer | undefined;
  constraints: Constraints | undefined;
  crlDP: string[] | null;
  policyIdentifiers: number[][] | null;
  policies: string[] | null;
  inhibitAnyPolicy: number;
  inhibitPolicyMapping: number;
  inhibitPolicyMappingZero: boolean;
  inhibitAnyPolicyZero: boolean;
  requireExplicitPolicy: number;
  requireExplicitPolicyZero: boolean;
  policyMappings: Array<{ issuer: string; subject: string }> | null;
}

/** x509.ExtKeyUsage values by OID */
const EKUS: Record<string, number> = {
  '2.5.29.37.0': 0,
  '1.3.6.1.5.5.7.3.1': 1,
  '1.3.6.1.5.5.7.3.2': 2,
  '1.3.6.1.5.5.7.3.3': 3,
  '1.3.6.1.5.5.7.3.4': 4,
  '1.3.6.1.5.5.7.3.5': 5,
  '1.3.6.1.5.5.7.3.6': 6,
  '1.3.6.1.5.5.7.3.7': 7,
  '1.3.6.1.5.5.7.3.8': 8,
  '1.3.6.1.5.5.7.3.9': 9,
  '1.3.6.1.4.1.311.10.3.3': 10,
  '2.16.840.1.113730.4.1': 11,
  '1.3.6.1.4.1.311.2.1.22': 12,
  '1.3.6.1.4.1.311.61.1.1': 13,
};

/** an INTEGER that fits Go's int */
const goInt = (v: bigint | undefined, err: string): number => (v === undefined || v < -(1n << 63n) || v >= 1n << 63n ? fail(err) : Number(v));

/** x509's processExtensions */
function processExtensions(c: Cert): void {
  for (const e of c.extensions) {
    let unhandled = false;
    const id = e.id;
    if (id.length === 4 && id[0] === 2 && id[1] === 5 && id[2] === 29) {
      switch (id[3]) {
        case 15: {
          const bits = new Der(e.value).bitString() ?? fail('x509: invalid key usage');
          c.keyUsage = 0;
          for (let i = 0; i < 9; i++) if (bitAt(bits, i)) c.keyUsage |= 1 << i;
          break;
        }
        case 19: {
          const body = new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid basic constraints');
          const d = new Der(body);
          c.isCA = d.peek(TAG.BOOLEAN) ? (d.bool() ?? fail('x509: invalid basic constraints')) : false;
          c.maxPathLen = -1;
          if (d.peek(TAG.INTEGER)) {
            const n = d.integer();
            if (n === undefined || n < 0n || n >= 1n << 63n) fail('x509: invalid basic constraints');
            c.maxPathLen = Number(n);
          }
          c.bcValid = true;
          c.maxPathLenZero = c.maxPathLen === 0;
          break;
        }
        case 17:
          c.sans = parseSAN(e.value);
          c.san = e.value;
          if (c.sans.dns.length + c.sans.emails.length + c.sans.ips.length + c.sans.uris.length === 0) unhandled = true;
          break;
        case 30: {
          const nc = parseNameConstraints(e);
          c.constraints = nc.c;
          unhandled = nc.unhandled;
          break;
        }
        case 31: {
          const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid CRL distribution points'));
          while (!d.empty) {
            const dp = new Der(d.body(TAG.SEQUENCE) ?? fail('x509: invalid CRL distribution point'));
            if (!dp.peek(ctxC(0))) continue;
            const name = dp.body(ctxC(0)) ?? fail('x509: invalid CRL distribution point');
            const full = new Der(name).body(ctxC(0)) ?? fail('x509: invalid CRL distribution point');
            const fd = new Der(full);
            while (fd.peek(ctx(6))) (c.crlDP ??= []).push(fd.body(ctx(6))!.toString('latin1'));
          }
          break;
        }
        case 35: {
          if (e.critical) fail('x509: authority key identifier incorrectly marked critical');
          const akid = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid authority key identifier'));
          if (akid.peek(ctx(0))) c.akid = Buffer.from(akid.body(ctx(0)) ?? fail('x509: invalid authority key identifier'));
          break;
        }
        case 36: {
          const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid policy constraints extension'));
          if (d.peek(ctx(0))) {
            const b = d.body(ctx(0));
            c.requireExplicitPolicy = goInt(b && derInt(b), 'x509: invalid policy constraints extension');
            c.requireExplicitPolicyZero = c.requireExplicitPolicy === 0;
          }
          if (d.peek(ctx(1))) {
            const b = d.body(ctx(1));
            c.inhibitPolicyMapping = goInt(b && derInt(b), 'x509: invalid policy constraints extension');
            c.inhibitPolicyMappingZero = c.inhibitPolicyMapping === 0;
          }
          break;
        }
        case 37: {
          const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid extended key usages'));
          const known: number[] = [];
          const unknown: number[][] = [];
          while (!d.empty) {
            const oid = d.oid() ?? fail('x509: invalid extended key usages');
            const k = EKUS[oidText(oid)];
            if (k === undefined) unknown.push(oid);
            else known.push(k);
          }
          c.extKeyUsage = nullable(known);
          c.unknownExtKeyUsage = nullable(unknown);
          break;
        }
        case 14: {
          if (e.critical) fail('x509: subject key identifier incorrectly marked critical');
          c.skid = Buffer.from(new Der(e.value).body(TAG.OCTET_STRING) ?? fail('x509: invalid subject key identifier'));
          break;
        }
        case 32: {
          const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid certificate policies'));
          const seen = new Set<string>();
          c.policies = [];
          c.policyIdentifiers = [];
          while (!d.empty) {
            const cp = d.body(TAG.SEQUENCE);
            const oid = cp && new Der(cp).body(TAG.OID);
            const arcs = oid && oidArcs(oid);
            if (!oid || !arcs || seen.has(oid.toString('hex'))) return fail('x509: invalid certificate policies');
            seen.add(oid.toString('hex'));
            c.policies.push(oidText(arcs));
            // PolicyIdentifiers keeps the ones asn1.ObjectIdentifier can hold
            if (arcs.every((a) => a < 1n << 31n)) c.policyIdentifiers.push(arcs.map(Number));
          }
          c.policies = nullable(c.policies);
          break;
        }
        case 33: {
          const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid policy mappings extension'));
          while (!d.empty) {
            const s = d.body(TAG.SEQUENCE);
            const sd = s && new Der(s);
            const [i, j] = [sd?.body(TAG.OID), sd?.body(TAG.OID)];
            const [ia, ja] = [i && oidArcs(i), j && oidArcs(j)];
            if (!ia || !ja) return fail('x509: invalid policy mappings extension');
            (c.policyMappings ??= []).push({ issuer: oidText(ia), subject: oidText(ja) });
          }
          break;
        }
        case 54:
          c.inhibitAnyPolicy = goInt(new Der(e.value).integer(), 'x509: invalid inhibit any policy extension');
          c.inhibitAnyPolicyZero = c.inhibitAnyPolicy === 0;
          break;
        default:
          unhandled = true;
      }
    } else if (oidText(id) === '1.3.6.1.5.5.7.1.1') {
      if (e.critical) fail('x509: authority info access incorrectly marked critical');
      const d = new Der(new Der(e.value).body(TAG.SEQUENCE) ?? fail('x509: invalid authority info access'));
      while (!d.empty) {
        const ad = new Der(d.body(TAG.SEQUENCE) ?? fail('x509: invalid authority info access'));
        const method = oidText(ad.oid() ?? fail('x509: invalid authority info access'));
        if (!ad.peek(ctx(6))) continue;
        const loc = ad.body(ctx(6))!.toString('latin1');
        if (method === '1.3.6.1.5.5.7.48.1') (c.ocsp ??= []).push(loc);
        else if (method === '1.3.6.1.5.5.7.48.2') (c.issuingURL ??= []).push(loc);
      }
    } else unhandled = true;
    if (e.critical && unhandled) c.unhandled.push(id);
  }
}

function parseExtension(body: Buffer): Ext {
  const d = new Der(body);
  const id = d.oid() ?? fail('x509: malformed extension OID field');
  let critical = false;
  if (d.peek(TAG.BOOLEAN)) critical = d.bool() ?? fail('x509: malformed extension critical field');
  const value = d.body(TAG.OCTET_STRING) ?? fail('x509: malformed extension value field');
  return { id, critical, value: Buffer.from(value) };
}

/** x509's parseCertificate: the first certificate of der (Go 1.24). */
function parseCertificate(der: Buffer): Cert {
  const outer = new Der(der).read(TAG.SEQUENCE) ?? fail('x509: malformed certificate');
  const input = new Der(outer.body);
  const tbsEl = input.read(TAG.SEQUENCE) ?? fail('x509: malformed tbs certificate');
  const tbs = new Der(tbsEl.body);
  let version = 0;
  if (tbs.peek(ctxC(0))) {
    const v = new Der(tbs.body(ctxC(0)) ?? fail('x509: malformed version')).integer();
    if (v === undefined) fail('x509: malformed version');
    if (v! < 0n || v! > 3n) fail('x509: malformed version');
    version = Number(v);
  }
  version++;
  if (version > 3) fail('x509: invalid version');
  const serial = tbs.integer() ?? fail('x509: malformed serial number');
  if (serial < 0n) fail('x509: negative serial number');
  const sigAI = tbs.read(TAG.SEQUENCE) ?? fail('x509: malformed signature algorithm identifier');
  const outerAI = input.body(TAG.SEQUENCE) ?? fail('x509: malformed algorithm identifier');
  if (!outerAI.equals(sigAI.body)) fail("x509: inner and outer signature algorithm identifiers don't match");
  const sigAlgo = signatureAlgorithm(parseAI(sigAI.body));
  const issuerEl = tbs.read(TAG.SEQUENCE) ?? fail('x509: malformed issuer');
  const issuer = parseName(issuerEl.full);
  const validity = new Der(tbs.body(TAG.SEQUENCE) ?? fail('x509: malformed validity'));
  const notBefore = readTime(validity);
  const notAfter = readTime(validity);
  const subjectEl = tbs.read(TAG.SEQUENCE) ?? fail('x509: malformed issuer');
  const subject = parseName(subjectEl.full);
  const spkiEl = tbs.read(TAG.SEQUENCE) ?? fail('x509: malformed spki');
  const pk = parseSPKI(spkiEl.full, 'x509: malformed spki');
  const c: Cert = {
    raw: Buffer.from(outer.full),
    tbs: Buffer.from(tbsEl.full),
    spki: Buffer.from(spkiEl.full),
    rawSubject: Buffer.from(subjectEl.full),
    rawIssuer: Buffer.from(issuerEl.full),
    signature: Buffer.alloc(0),
    sigAlgo,
    pk,
    version,
    serial,
    issuer,
    subject,
    notBefore,
    notAfter,
    keyUsage: 0,
    extensions: [],
    unhandled: [],
    extKeyUsage: null,
    unknownExtKeyUsage: null,
    bcValid: false,
    isCA: false,
    maxPathLen: 0,
    maxPathLenZero: false,
    skid: null,
    akid: null,
    ocsp: null,
    issuingURL: null,
    sans: { dns: [], emails: [], ips: [], uris: [] },
    san: undefined,
    constraints: undefined,
    crlDP: null,
    policyIdentifiers: null,
    policies: null,
    inhibitAnyPolicy: 0,
    inhibitAnyPolicyZero: false,
    inhibitPolicyMapping: 0,
    inhibitPolicyMappingZero: false,
    requireExplicitPolicy: 0,
    requireExplicitPolicyZero: false,
    policyMappings: null,
  };
  if (version > 1) {
    for (const [tag, what] of [
      [ctx(1), 'issuerUniqueID'],
      [ctx(2), 'subjectUniqueID'],
    ] as const) {
      if (tbs.peek(tag) && tbs.any() === undefined) fail(`x509: malformed ${what}`);
    }
    if (version === 3 && tbs.peek(ctxC(3))) {
      const exts = new Der(new Der(tbs.body(ctxC(3)) ?? fail('x509: malformed extensions')).body(TAG.SEQUENCE) ?? fail('x509: malformed extensions'));
      const seen = new Set<string>();
      while (!exts.empty) {
        const e = parseExtension(exts.body(TAG.SEQUENCE) ?? fail('x509: malformed extension'));
        const id = oidText(e.id);
        if (seen.has(id)) fail(`x509: certificate contains duplicate extension with OID "${id}"`);
        seen.add(id);
        c.extensions.push(e);
      }
      processExtensions(c);
    }
  }
  c.signature = rightAlign(input.bitString() ?? fail('x509: malformed signature'));
  return c;
}

/** x509.ParseCertificates: certificates back to back, nothing between. */
function parseCertificates(der: Buffer): Cert[] {
  const out: Cert[] = [];
  for (let rest = der; rest.length > 0; ) {
    const c = parseCertificate(rest);
    out.push(c);
    rest = rest.subarray(c.raw.length);
  }
  return out;
}

const ipNets = (ns: IPNet[] | undefined): J => (ns === undefined || ns.length === 0 ? null : ns.map((n) => ({ IP: ipText(n.ip), Mask: b64(n.mask) })));
const strs = (xs: string[] | undefined): J => (xs === undefined || xs.length === 0 ? null : xs);

/** json.Marshal of the x509.Certificate (Go 1.24 fields); with URIStrings, OPA's extendedCert. */
function certJSON(c: Cert, uriStrings: boolean): Obj {
  const nc = c.constraints;
  const o: Obj = {
    Raw: b64(c.raw),
    RawTBSCertificate: b64(c.tbs),
    RawSubjectPublicKeyInfo: b64(c.spki),
    RawSubject: b64(c.rawSubject),
    RawIssuer: b64(c.rawIssuer),
    Signature: b64(c.signature),
    SignatureAlgorithm: c.sigAlgo,
    PublicKeyAlgorithm: c.pk.algo,
    PublicKey: c.pk.key,
    Version: c.version,
    SerialNumber: c.serial,
    Issuer: nameJSON(c.issuer),
    Subject: nameJSON(c.subject),
    NotBefore: c.notBefore.text,
    NotAfter: c.notAfter.text,
    KeyUsage: c.keyUsage,
    Extensions: c.extensions.length === 0 ? null : c.extensions.map(extJSON),
    ExtraExtensions: null,
    UnhandledCriticalExtensions: nullable(c.unhandled),
    ExtKeyUsage: c.extKeyUsage,
    UnknownExtKeyUsage: c.unknownExtKeyUsage,
    BasicConstraintsValid: c.bcValid,
    IsCA: c.isCA,
    MaxPathLen: c.maxPathLen,
    MaxPathLenZero: c.maxPathLenZero,
    SubjectKeyId: c.skid && b64(c.skid),
    AuthorityKeyId: c.akid && b64(c.akid),
    OCSPServer: c.ocsp,
    IssuingCertificateURL: c.issuingURL,
    DNSNames: strs(c.sans.dns),
    EmailAddresses: strs(c.sans.emails),
    IPAddresses: c.sans.ips.length === 0 ? null : c.sans.ips.map(ipText),
    URIs: c.sans.uris.length === 0 ? null : c.sans.uris.map(urlJSON),
    PermittedDNSDomainsCritical: nc?.critical ?? false,
    PermittedDNSDomains: strs(nc?.permitted.dns),
    ExcludedDNSDomains: strs(nc?.excluded.dns),
    PermittedIPRanges: ipNets(nc?.permitted.ips),
    ExcludedIPRanges: ipNets(nc?.excluded.ips),
    PermittedEmailAddresses: strs(nc?.permitted.emails),
    ExcludedEmailAddresses: strs(nc?.excluded.emails),
    PermittedURIDomains: strs(nc?.permitted.uris),
    ExcludedURIDomains: strs(nc?.excluded.uris),
    CRLDistributionPoints: c.crlDP,
    PolicyIdentifiers: c.policyIdentifiers,
    Policies: c.policies,
    InhibitAnyPolicy: c.inhibitAnyPolicy,
    InhibitAnyPolicyZero: c.inhibitAnyPolicyZero,
    InhibitPolicyMapping: c.inhibitPolicyMapping,
    InhibitPolicyMappingZero: c.inhibitPolicyMappingZero,
    RequireExplicitPolicy: c.requireExplicitPolicy,
    RequireExplicitPolicyZero: c.requireExplicitPolicyZero,
    PolicyMappings: c.policyMappings && c.policyMappings.map((m) => ({ IssuerDomainPolicy: m.issuer, SubjectDomainPolicy: m.subject })),
  };
  if (uriStrings) o.URIStrings = c.sans.uris.length === 0 ? null : c.sans.uris.map(urlString);
  return o;
}

/**
 * crypto.go getX509CertsFromString: PEM text; else base64 of PEM or DER.
 * Only CERTIFICATE blocks until the first text that is no block.
 */
function certsFromString(s: string): Cert[] {
  const fromPem = (text: string): Cert[] => {
    const ders: Buffer[] = [];
    for (let b = pemDecode(text); b !== undefined; b = b.rest === '' ? undefined : pemDecode(b.rest)) {
      if (b.type !== 'CERTIFICATE') fail(`PEM block type is '${b.type}', expected CERTIFICATE`);
      ders.push(b.bytes);
    }
    return parseCertificates(Buffer.concat(ders));
  };
  if (s.startsWith('-----BEGIN')) return fromPem(s);
  const der = b64Std(s);
  if (der.subarray(0, 10).toString('latin1') === '-----BEGIN') return fromPem(der.toString('latin1'));
  return parseCertificates(der);
}

/* ----------------------------------------------------------- verification */

/** Verification options (crypto.go extractVerifyOpts). */
interface VerifyOpts {
  dnsName: string;
  /** nanoseconds; undefined is now */
  currentTime: bigint | undefined;
  maxConstraintComparisons: number;
  keyUsages: number[];
}

const KEY_USAGE_CERT_SIGN = 1 << 5;
const HASH_LEN: Record<string, number> = { sha256: 32, sha384: 48, sha512: 64 };

/** Certificate.CheckSignatureFrom: the parent may sign, with a signature algorithm Go accepts. */
function signedBy(c: Cert, parent: Cert): boolean {
  if ((parent.version === 3 && !parent.bcValid) || (parent.bcValid && !parent.isCA)) return false;
  if (parent.keyUsage !== 0 && !(parent.keyUsage & KEY_USAGE_CERT_SIGN)) return false;
  if (parent.pk.algo === 0) return false;
  const pss = PSS[c.sigAlgo];
  const alg = pss ? { hash: pss.hash, key: 1 } : Object.values(SIG_ALGS).find((a) => a.algo === c.sigAlgo);
  // MD2, MD5 and SHA-1 are insecure for certificates, DSA is not verified (x509.go checkSignature)
  if (alg === undefined || alg.key === 2 || ['md2', 'md5', 'sha1'].includes(alg.hash ?? '')) return false;
  if (alg.key !== parent.pk.algo) return false;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: parent.spki, format: 'der', type: 'spki' });
    if (pss) return cryptoVerify(pss.hash, c.tbs, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: HASH_LEN[pss.hash]! }, c.signature);
    return cryptoVerify(alg.hash, c.tbs, key, c.signature);
  } catch {
    return false;
  }
}

const LEAF = 0;
const INTERMEDIATE = 1;
const ROOT = 2;

/** verify.go matchDomainConstraint */
function matchDomain(domain: string, constraint: string): boolean {
  if (constraint === '') return true;
  const dl = domainLabels(domain) ?? fail(`x509: internal error: cannot parse domain ${JSON.stringify(domain)}`);
  const sub = constraint.startsWith('.');
  const cl = domainLabels(sub ? constraint.slice(1) : constraint) ?? fail(`x509: internal error: cannot parse domain ${JSON.stringify(constraint)}`);
  if (dl.length < cl.length || (sub && dl.length === cl.length)) return false;
  return cl.every((l, i) => l.toLowerCase() === dl[i]!.toLowerCase());
}

/** The SAN names of the leaf (and of c itself) against c's name constraints (verify.go isValid). */
function checkNameConstraints(c: Cert, leaf: Cert, count: { n: number }, max: number): void {
  const nc = c.constraints!;
  const check = <T>(kind: string, name: string, parsed: T, match: (p: T, con: string | IPNet) => boolean, permitted: Array<string | IPNet>, excluded: Array<string | IPNet>): void => {
    count.n += excluded.length;
    if (count.n > max) fail('x509: too many constraints');
    for (const con of excluded) if (match(parsed, con)) fail(`x509: ${kind} ${JSON.stringify(name)} is excluded by constraint`);
    count.n += permitted.length;
    if (count.n > max) fail('x509: too many constraints');
    if (permitted.length > 0 && !permitted.some((con) => match(parsed, con))) fail(`x509: ${kind} ${JSON.stringify(name)} is not permitted by any constraint`);
  };
  for (const cert of [leaf, c]) {
    if (cert.san === undefined) continue;
    forEachSAN(cert.san, (tag, data) => {
      const name = data.toString('latin1');
      if (tag === 1) {
        const mb = parseMailbox(name) ?? fail(`x509: cannot parse rfc822Name ${JSON.stringify(name)}`);
        check('email address', name, mb, (m, con) => {
          const s = con as string;
          if (!s.includes('@')) return matchDomain(m.domain, s);
          const cm = parseMailbox(s) ?? fail(`x509: internal error: cannot parse constraint ${JSON.stringify(s)}`);
          return m.local === cm.local && m.domain.toLowerCase() === cm.domain.toLowerCase();
        }, nc.permitted.emails, nc.excluded.emails);
      } else if (tag === 2) {
        if (domainLabels(name) === undefined) fail(`x509: cannot parse dnsName ${JSON.stringify(name)}`);
        check('DNS name', name, name, (n, con) => matchDomain(n, con as string), nc.permitted.dns, nc.excluded.dns);
      } else if (tag === 6) {
        const uri = parseURL(name);
        check('URI', name, uri, (u, con) => {
          let host = u.Host;
          if (host === '') fail(`URI with empty host (${JSON.stringify(urlString(u))}) cannot be matched against constraints`);
          if (host.includes(':') && !host.endsWith(']')) host = host.slice(0, host.lastIndexOf(':'));
          if ((host.startsWith('[') && host.endsWith(']')) || parseIP(host) !== undefined) fail(`URI with IP (${JSON.stringify(urlString(u))}) cannot be matched against constraints`);
          return matchDomain(host, con as string);
        }, nc.permitted.uris, nc.excluded.uris);
      } else if (tag === 7) {
        if (data.length !== 4 && data.length !== 16) fail(`x509: internal error: IP SAN ${data.toString('hex')} failed to parse`);
        check('IP address', ipText(data), data, (ip, con) => {
          const n = con as IPNet;
          return ip.length === n.ip.length && [...ip].every((b, i) => (b & n.mask[i]!) === (n.ip[i]! & n.mask[i]!));
        }, nc.permitted.ips, nc.excluded.ips);
      }
    });
  }
}

/** verify.go isValid: may c stand at this place of the chain? */
function isValid(c: Cert, type: number, chain: Cert[], opts: VerifyOpts, now: bigint): void {
  if (c.unhandled.length > 0) fail('x509: unhandled critical extension');
  if (chain.length > 0 && !chain[chain.length - 1]!.rawIssuer.equals(c.rawSubject)) fail('x509: issuer name does not match subject from issuing certificate');
  if (now < c.notBefore.ns || now > c.notAfter.ns) fail('x509: certificate has expired or is not yet valid');
  if (type !== LEAF && c.constraints !== undefined) {
    checkNameConstraints(c, chain[0]!, { n: 0 }, opts.maxConstraintComparisons === 0 ? 250000 : opts.maxConstraintComparisons);
  }
  if (type === INTERMEDIATE && (!c.bcValid || !c.isCA)) fail('x509: certificate is not authorized to sign other certificates');
  if (c.bcValid && c.maxPathLen >= 0 && chain.length - 1 > c.maxPathLen) fail('x509: too many intermediates for path length constraint');
}

/** verify.go alreadyInChain: same subject, key and SAN. */
function alreadyInChain(cand: Cert, chain: Cert[]): boolean {
  return chain.some(
    (c) => c.rawSubject.equals(cand.rawSubject) && c.spki.equals(cand.spki) && (c.san === undefined ? cand.san === undefined : cand.san !== undefined && c.san.equals(cand.san)),
  );
}

/** CertPool.findPotentialParents: by issuer name, matching key ids first. */
function potentialParents(pool: Cert[], c: Cert): Cert[] {
  const byName = pool.filter((p) => p.rawSubject.equals(c.rawIssuer));
  const rank = (p: Cert): number => {
    const pk = p.skid ?? Buffer.alloc(0);
    const ak = c.akid ?? Buffer.alloc(0);
    if (pk.equals(ak)) return 0;
    return (pk.length === 0 && ak.length > 0) || (pk.length > 0 && ak.length === 0) ? 1 : 2;
  };
  return [0, 1, 2].flatMap((r) => byName.filter((p) => rank(p) === r));
}

/** Certificate.buildChains: every chain from c to a root. */
function buildChains(c: Cert, chain: Cert[], roots: Cert[], inters: Cert[], opts: VerifyOpts, now: bigint, sigChecks: { n: number }): Cert[][] {
  const chains: Cert[][] = [];
  let err: unknown;
  const consider = (type: number, cand: Cert): void => {
    if (alreadyInChain(cand, chain)) return;
    if (++sigChecks.n > 100) {
      err = new Error('x509: signature check attempts limit reached while verifying certificate chain');
      return;
    }
    if (!signedBy(c, cand)) return;
    try {
      isValid(cand, type, chain, opts, now);
    } catch (e) {
      err = e;
      return;
    }
    if (type === ROOT) chains.push([...chain, cand]);
    else {
      try {
        chains.push(...buildChains(cand, [...chain, cand], roots, inters, opts, now, sigChecks));
      } catch (e) {
        err = e;
      }
    }
  };
  for (const r of potentialParents(roots, c)) consider(ROOT, r);
  for (const i of potentialParents(inters, c)) consider(INTERMEDIATE, i);
  if (chains.length === 0) throw err ?? new Error('x509: certificate signed by unknown authority');
  return chains;
}

/** verify.go checkChainForKeyUsage */
function chainAllows(chain: Cert[], usages: number[]): boolean {
  const left = [...usages];
  let remaining = left.length;
  for (let i = chain.length - 1; i >= 0; i--) {
    const c = chain[i]!;
    const ekus = c.extKeyUsage ?? [];
    if (ekus.length === 0 && (c.unknownExtKeyUsage ?? []).length === 0) continue;
    if (ekus.includes(0)) continue;
    for (let j = 0; j < left.length; j++) {
      if (left[j] === -1 || ekus.includes(left[j]!)) continue;
      left[j] = -1;
      if (--remaining === 0) return false;
    }
  }
  return true;
}

/** Certificate.VerifyHostname */
function verifyHostname(c: Cert, h: string): void {
  const cand = h.length >= 3 && h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
  const ip = parseIP(cand);
  if (ip !== undefined) {
    if (!c.sans.ips.some((x) => to16(x).equals(to16(ip)))) fail(`x509: certificate is not valid for ${cand}`);
    return;
  }
  const lower = (s: string): string => s.replace(/[A-Z]/g, (x) => x.toLowerCase());
  const valid = (host: string, pattern: boolean): boolean => {
    const t = pattern ? host : host.replace(/\.$/, '');
    if (t === '') return false;
    return t.split('.').every((part, i) => part !== '' && ((pattern && i === 0 && part === '*') || [...part].every((ch, j) => /[A-Za-z0-9_]/.test(ch) || (ch === '-' && j !== 0))));
  };
  const name = lower(h);
  const validName = valid(name, false);
  const ok = c.sans.dns.some((m) => {
    if (validName && valid(m, true)) {
      const pat = lower(m).split('.');
      const host = name.replace(/\.$/, '').split('.');
      return pat.length === host.length && pat.every((p, i) => (i === 0 && p === '*') || p === host[i]);
    }
    return m !== '' && m !== '.' && name !== '' && name !== '.' && lower(m) === name;
  });
  if (!ok) fail(`x509: certificate is not valid for ${h}`);
}

/**
 * crypto.go verifyX509CertificateChain: the first certificate is the root,
 * the last the leaf, those between intermediates; the first chain Verify
 * finds, leaf first.
 */
function verifyChain(certs: Cert[], opts: VerifyOpts): Cert[] {
  if (certs.length < 2) fail('must supply at least two certificates to be able to verify');
  const dedup = (cs: Cert[]): Cert[] => cs.filter((c, i) => cs.findIndex((d) => d.raw.equals(c.raw)) === i);
  const roots = [certs[0]!];
  const inters = dedup(certs.slice(1, -1));
  const leaf = certs[certs.length - 1]!;
  const now = opts.currentTime ?? evaluationNowNs();
  isValid(leaf, LEAF, [], opts, now);
  if (opts.dnsName !== '') verifyHostname(leaf, opts.dnsName);
  const candidates = roots.some((r) => r.raw.equals(leaf.raw)) ? [[leaf]] : buildChains(leaf, [leaf], roots, inters, opts, now, { n: 0 });
  const usages = opts.keyUsages.length === 0 ? [1] : opts.keyUsages;
  if (usages.includes(0)) return candidates[0]!;
  const chains = candidates.filter((ch) => chainAllows(ch, usages));
  if (chains.length === 0) fail('x509: certificate specifies an incompatible key usage');
  return chains[0]!;
}

const KEY_USAGES: Record<string, number> = {
  KeyUsageAny: 0,
  KeyUsageServerAuth: 1,
  KeyUsageClientAuth: 2,
  KeyUsageCodeSigning: 3,
  KeyUsageEmailProtection: 4,
  KeyUsageIPSECEndSystem: 5,
  KeyUsageIPSECTunnel: 6,
  KeyUsageIPSECUser: 7,
  KeyUsageTimeStamping: 8,
  KeyUsageOCSPSigning: 9,
  KeyUsageMicrosoftServerGatedCrypto: 10,
  KeyUsageNetscapeServerGatedCrypto: 11,
  KeyUsageMicrosoftCommercialCodeSigning: 12,
  KeyUsageMicrosoftKernelCodeSigning: 13,
};

/** crypto.go extractVerifyOpts: an error for an unknown key or a value of the wrong type. */
function verifyOpts(options: Exact): VerifyOpts {
  if (options === null || typeof options !== 'object' || Array.isArray(options) || options instanceof RegoSet || typeof options === 'bigint') {
    return fail('operand 2 must be object');
  }
  const o: VerifyOpts = { dnsName: '', currentTime: undefined, maxConstraintComparisons: 0, keyUsages: [] };
  for (const [k, v] of Object.entries(options as Record<string, Exact>)) {
    if (k === 'DNSName') {
      if (typeof v !== 'string') fail("'DNSName' should be a string");
      o.dnsName = (v as string).replace(/^"+|"+$/g, '');
    } else if (k === 'CurrentTime') {
      if (typeof v !== 'number' && typeof v !== 'bigint') fail("'CurrentTime' should be a number");
      const n = typeof v === 'bigint' ? v : Number.isInteger(v) ? BigInt(v as number) : undefined;
      if (n === undefined || n < -(1n << 63n) || n >= 1n << 63n) fail("'CurrentTime' should be a valid int64 number");
      o.currentTime = n;
    } else if (k === 'MaxConstraintComparisons') {
      if (typeof v !== 'number' && typeof v !== 'bigint') fail("'MaxConstraintComparisons' should be a number");
      if (typeof v === 'bigint' || !Number.isSafeInteger(v)) fail("'MaxConstraintComparisons' should be a valid number");
      o.maxConstraintComparisons = v as number;
    } else if (k === 'KeyUsages') {
      const items = Array.isArray(v) ? v : v instanceof RegoSet ? v.items : fail("'KeyUsages' should be an Array or Set");
      const invalid: string[] = [];
      for (const it of items) {
        if (typeof it !== 'string') continue;
        const name = it.replace(/^"+|"+$/g, '');
        const u = KEY_USAGES[name];
        if (u === undefined) invalid.push(name);
        else o.keyUsages.push(u);
      }
      if (invalid.length > 0) fail(`invalid entries for 'KeyUsages' found: [${invalid.join(' ')}]`);
    } else fail('invalid key option');
  }
  return o;
}

const NOT_VERIFIED = '[false,[]]';

/** The certificates verified, or [false, []] when they do not parse or verify; an option error is an error (crypto.go). */
function parseAndVerify(certs: string, opts: () => VerifyOpts, uriStrings: boolean): ArrayBuffer {
  let parsed: Cert[];
  try {
    parsed = certsFromString(certs);
  } catch {
    return jsonText(NOT_VERIFIED);
  }
  const o = opts();
  let chain: Cert[];
  try {
    chain = verifyChain(parsed, o);
  } catch {
    return jsonText(NOT_VERIFIED);
  }
  return jsonText(`[true,${exactJSON(chain.map((c) => certJSON(c, uriStrings)))}]`);
}

/* -------------------------------------------------------------------- CSR */

/**
 * encoding/asn1's reading of a value into an interface{} (an attribute's
 * value in a CSR): strings, integers that fit an int64, OIDs, bit strings,
 * octet strings and times; any other type stays nil.
 */
function asn1Any(el: Tlv): J {
  switch (el.tag) {
    case TAG.PRINTABLE:
    case TAG.IA5:
    case TAG.UTF8:
    case TAG.T61:
    case TAG.NUMERIC:
    case TAG.BMP:
      return asn1String(el.tag, el.body);
    case TAG.INTEGER: {
      const n = derInt(el.body) ?? fail('asn1: structure error: integer not minimally-encoded');
      if (n < -(1n << 63n) || n >= 1n << 63n) fail('asn1: structure error: integer too large');
      return n;
    }
    case TAG.OID:
      return oidInts(el.body) ?? fail('asn1: structure error: invalid object identifier');
    case TAG.BIT_STRING: {
      const bs = bitString(el.body) ?? fail('asn1: structure error: invalid bit string');
      return { Bytes: b64(bs.bytes), BitLength: bs.bitLength };
    }
    case TAG.OCTET_STRING:
      return b64(el.body);
    case TAG.UTC_TIME:
    case TAG.GENERALIZED_TIME:
      return (derTime(el) ?? fail('asn1: time did not serialize back to the original value')).text;
  }
  return null;
}

/**
 * parseRawAttributes: each attribute as a pkix.AttributeTypeAndValueSET
 * (an OID and a SET of SEQUENCEs of (OID, value)); one that does not read
 * so (challengePassword) is left out.
 */
function csrAttributes(attrs: Tlv[]): J {
  const out: J[] = [];
  for (const a of attrs) {
    try {
      const d = new Der(a.body);
      const type = d.oid() ?? fail('');
      const set = new Der(d.body(TAG.SET) ?? fail(''));
      if (!d.empty) fail('');
      const value: J[] = [];
      while (!set.empty) {
        const seq = new Der(set.body(TAG.SEQUENCE) ?? fail(''));
        const atvs: J[] = [];
        while (!seq.empty) {
          const atv = new Der(seq.body(TAG.SEQUENCE) ?? fail(''));
          const t = atv.oid() ?? fail('');
          const v = atv.empty ? fail('') : atv.any() ?? fail('');
          atvs.push({ Type: t, Value: asn1Any(v) });
        }
        value.push(atvs);
      }
      out.push({ Type: type, Value: value });
    } catch {
      // not an AttributeTypeAndValueSET
    }
  }
  return nullable(out);
}

/** parseCSRExtensions: the extensions of the extensionRequest attributes. */
function csrExtensions(attrs: Tlv[]): Ext[] {
  const out: Ext[] = [];
  const seen = new Set<string>();
  for (const a of attrs) {
    const d = new Der(a.body);
    const id = d.oid();
    const set = d.body(TAG.SET);
    if (id === undefined || set === undefined || !d.empty || set.length === 0) continue;
    if (oidText(id) !== '1.2.840.113549.1.9.14') continue;
    const first = new Der(set).body(TAG.SEQUENCE) ?? fail('asn1: structure error: tags don\'t match');
    const exts = new Der(first);
    while (!exts.empty) {
      const e = parseExtension(exts.body(TAG.SEQUENCE) ?? fail("asn1: structure error: tags don't match"));
      const k = oidText(e.id);
      if (seen.has(k)) fail('x509: certificate request contains duplicate requested extensions');
      seen.add(k);
      out.push(e);
    }
  }
  return out;
}

/** x509.ParseCertificateRequest, as json.Marshal writes the x509.CertificateRequest. */
function parseCSR(der: Buffer): Obj {
  const structure = (what: string): never => fail(`asn1: structure error: ${what}`);
  const top = new Der(der);
  const outer = top.read(TAG.SEQUENCE) ?? structure("tags don't match");
  if (!top.empty) fail('asn1: syntax error: trailing data');
  const input = new Der(outer.body);
  const tbsEl = input.read(TAG.SEQUENCE) ?? structure("tags don't match");
  const tbs = new Der(tbsEl.body);
  const version = tbs.integer() ?? structure("tags don't match");
  const subjectEl = tbs.read(TAG.SEQUENCE) ?? structure("tags don't match");
  const spkiEl = tbs.read(TAG.SEQUENCE) ?? structure("tags don't match");
  const attrsEl = tbs.read(ctxC(0)) ?? structure("tags don't match");
  const attrs: Tlv[] = [];
  const ad = new Der(attrsEl.body);
  while (!ad.empty) attrs.push(ad.any() ?? structure('data truncated'));
  const sigAI = parseAI(input.body(TAG.SEQUENCE) ?? structure("tags don't match"));
  const sig = input.bitString() ?? structure("tags don't match");
  const pk = parseSPKI(spkiEl.full, "asn1: structure error: tags don't match");
  const subject = parseName(subjectEl.full);
  const extensions = csrExtensions(attrs);
  let sans: Sans = { dns: [], emails: [], ips: [], uris: [] };
  for (const e of extensions) if (oidText(e.id) === '2.5.29.17') sans = parseSAN(e.value);
  return {
    Raw: b64(outer.full),
    RawTBSCertificateRequest: b64(tbsEl.full),
    RawSubjectPublicKeyInfo: b64(spkiEl.full),
    RawSubject: b64(subjectEl.full),
    Version: goInt(version, 'asn1: structure error: integer too large'),
    Signature: b64(rightAlign(sig)),
    SignatureAlgorithm: signatureAlgorithm(sigAI),
    PublicKeyAlgorithm: pk.algo,
    PublicKey: pk.key,
    Subject: nameJSON(subject),
    Attributes: csrAttributes(attrs),
    Extensions: extensions.length === 0 ? null : extensions.map(extJSON),
    ExtraExtensions: null,
    DNSNames: strs(sans.dns),
    EmailAddresses: strs(sans.emails),
    IPAddresses: sans.ips.length === 0 ? null : sans.ips.map(ipText),
    URIs: sans.uris.length === 0 ? null : sans.uris.map(urlJSON),
  };
}

/** crypto.go builtinCryptoX509ParseCertificateRequest: PEM text, or base64 of PEM or DER. */
function parseCertificateRequest(s: string): ArrayBuffer {
  let bytes = s.startsWith('-----BEGIN CERTIFICATE REQUEST-----') ? bytesOf(s) : b64Std(s);
  const block = pemDecode(bytes.toString('latin1'));
  if (block !== undefined && block.type !== 'CERTIFICATE REQUEST') fail('invalid PEM-encoded certificate signing request');
  if (block !== undefined) bytes = block.bytes;
  return jsonText(exactJSON(parseCSR(bytes)));
}

/* ------------------------------------------------------------------- keys */

/** tls's parsePrivateKey: PKCS #1, then PKCS #8 (RSA, ECDSA, Ed25519), then SEC 1. */
function tlsPrivateKey(der: Buffer): KeyObject {
  for (const type of ['pkcs1', 'pkcs8', 'sec1'] as const) {
    try {
      const k = createPrivateKey({ key: der, format: 'der', type });
      if (type === 'pkcs8' && !['rsa', 'ec', 'ed25519'].includes(k.asymmetricKeyType ?? '')) fail('tls: found unknown private key type in PKCS#8 wrapping');
      return k;
    } catch (e) {
      if (e instanceof Error && e.message.startsWith('tls:')) throw e;
    }
  }
  return fail('tls: failed to parse private key');
}

/**
 * tls.X509KeyPair, as json.Marshal writes the tls.Certificate: the DER
 * chain, the private key, and Leaf (set since Go 1.23) as the parsed first
 * certificate (no URIStrings: OPA does not extend it).
 */
function x509KeyPair(certPem: string, keyPem: string): string {
  const ders: Buffer[] = [];
  const skipped: string[] = [];
  for (let b = pemDecode(certPem); b !== undefined; b = pemDecode(b.rest)) {
    if (b.type === 'CERTIFICATE') ders.push(b.bytes);
    else skipped.push(b.type);
  }
  if (ders.length === 0) {
    if (skipped.length === 0) fail('tls: failed to find any PEM data in certificate input');
    if (skipped.length === 1 && skipped[0]!.endsWith('PRIVATE KEY')) {
      fail('tls: failed to find certificate PEM data in certificate input, but did find a private key; PEM inputs may have been switched');
    }
    fail(`tls: failed to find "CERTIFICATE" PEM block in certificate input after skipping PEM blocks of the following types: [${skipped.join(' ')}]`);
  }
  skipped.length = 0;
  let keyDer: Buffer | undefined;
  for (let rest = keyPem; keyDer === undefined; ) {
    const b = pemDecode(rest);
    if (b === undefined) {
      if (skipped.length === 0) fail('tls: failed to find any PEM data in key input');
      if (skipped.length === 1 && skipped[0] === 'CERTIFICATE') fail('tls: found a certificate rather than a key in the PEM for the private key');
      return fail(`tls: failed to find PEM block with type ending in "PRIVATE KEY" in key input after skipping PEM blocks of the following types: [${skipped.join(' ')}]`);
    }
    if (b.type === 'PRIVATE KEY' || b.type.endsWith(' PRIVATE KEY')) keyDer = b.bytes;
    else skipped.push(b.type);
    rest = b.rest;
  }
  const leaf = parseCertificate(ders[0]!);
  if (leaf.raw.length !== ders[0]!.length) fail('x509: trailing data');
  const priv = tlsPrivateKey(keyDer);
  const pubType = { 1: 'rsa', 3: 'ec', 4: 'ed25519' }[leaf.pk.algo as 1 | 3 | 4];
  if (pubType === undefined) fail('tls: unknown public key algorithm');
  if (priv.asymmetricKeyType !== pubType) fail('tls: private key type does not match public key type');
  const pub = parseSPKI(createPublicKey(priv).export({ format: 'der', type: 'spki' }), 'tls: failed to parse private key');
  if (exactJSON(pub.key) !== exactJSON(leaf.pk.key)) fail('tls: private key does not match public key');
  // goPrivateKey answers JSON text (its integers may be longer than exact() reads)
  const fields = [
    `"Certificate":${exactJSON(ders.map(b64))}`,
    `"PrivateKey":${goPrivateKey(priv)}`,
    '"SupportedSignatureAlgorithms":null,"OCSPStaple":null,"SignedCertificateTimestamps":null',
    `"Leaf":${exactJSON(certJSON(leaf, false))}`,
  ];
  return `{${fields.join(',')}}`;
}

/** crypto.go getTLSx509KeyPairFromString: base64 input decoded; DER (not PEM) wrapped as a CERTIFICATE or PRIVATE KEY block. */
function parseKeyPair(cert: string, key: string): ArrayBuffer {
  const pemOf = (s: string, type: string): string => {
    let b = bytesOf(s);
    if (!s.startsWith('-----BEGIN ')) b = b64Std(s);
    if (b.subarray(0, 11).toString('latin1') === '-----BEGIN ') return b.toString('latin1');
    return `-----BEGIN ${type}-----\n${b64(b).replace(/(.{64})/g, '$1\n')}\n-----END ${type}-----\n`;
  };
  return jsonText(x509KeyPair(pemOf(cert, 'CERTIFICATE'), pemOf(key, 'PRIVATE KEY')));
}

const PRIVATE_KEY_BLOCKS: Record<string, 'pkcs1' | 'pkcs8' | 'sec1'> = { 'RSA PRIVATE KEY': 'pkcs1', 'PRIVATE KEY': 'pkcs8', 'EC PRIVATE KEY': 'sec1' };

/**
 * crypto.x509.parse_rsa_private_key (crypto.go builtinCryptoJWKFromPrivateKey):
 * the first private key of the PEM (or base64 of PEM) as the JWK OPA's jwx
 * makes of it: an RSA key with all its members (big-endian bytes, no
 * leading zeros, base64url); an ECDSA key with only "kty" (jwx keeps the
 * rest unexported); another key type is an error. No key is null.
 */
function parseRSAPrivateKey(s: string): ArrayBuffer | null {
  if (s === '') fail('input PEM data was empty');
  let text = s.startsWith('-----BEGIN') ? s : b64Std(s).toString('latin1');
  try {
    // getPrivateKeysFromPEMData tries base64 once more
    text = b64Std(text).toString('latin1');
  } catch {
    // PEM as it is
  }
  // every key block must parse; the first key is the one returned
  let key: KeyObject | undefined;
  for (let b = pemDecode(text); b !== undefined; b = b.rest === '' ? undefined : pemDecode(b.rest)) {
    const type = PRIVATE_KEY_BLOCKS[b.type];
    if (type === undefined) continue;
    const der = b.bytes;
    let k: KeyObject;
    try {
      k = createPrivateKey({ key: der, format: 'der', type });
    } catch (e) {
      return fail(`x509: failed to parse private key: ${(e as Error).message}`);
    }
    key ??= k;
  }
  if (key === undefined) return null;
  if (key.asymmetricKeyType === 'ec') return jsonText('{"kty":"EC"}');
  if (key.asymmetricKeyType !== 'rsa') fail(`invalid key type ${key.asymmetricKeyType === 'ed25519' ? 'ed25519.PrivateKey' : (key.asymmetricKeyType ?? '')}`);
  const j = key.export({ format: 'jwk' });
  // big.Int.Bytes: no leading zero bytes
  const min = (v: string | undefined): string => {
    const b = Buffer.from(v ?? '', 'base64url');
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i).toString('base64url');
  };
  const out: Record<string, string> = { kty: 'RSA' };
  for (const k of ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const) out[k] = min(j[k]);
  return jsonText(JSON.stringify(out));
}

/* ------------------------------------------------------------------ impls */

const NO_OPTIONS: VerifyOpts = { dnsName: '', currentTime: undefined, maxConstraintComparisons: 0, keyUsages: [] };

export const IMPLS: Record<string, Impl> = {
  'crypto.x509.parse_certificates': (s) => jsonText(exactJSON(certsFromString(str(s)).map((c) => certJSON(c, true)))),
  'crypto.x509.parse_and_verify_certificates': (s) => parseAndVerify(str(s), () => NO_OPTIONS, true),
  // OPA returns the chain of this one without URIStrings (crypto.go: InterfaceToValue(verified))
  'crypto.x509.parse_and_verify_certificates_with_options': (s, o) => {
    const certs = exact(s);
    if (typeof certs !== 'string') fail('operand 1 must be string');
    return parseAndVerify(certs as string, () => verifyOpts(exact(o)), false);
  },
  'crypto.x509.parse_certificate_request': (s) => parseCertificateRequest(str(s)),
  'crypto.x509.parse_keypair': (c, k) => parseKeyPair(str(c), str(k)),
  'crypto.x509.parse_rsa_private_key': (s) => parseRSAPrivateKey(str(s)),
};
