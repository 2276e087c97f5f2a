/**
 * Host builtins: JSON Web Tokens (io.jwt.*) and the crypto and encoding
 * builtins beside them (OPA v1/topdown tokens.go, crypto.go, encoding.go),
 * gathered by builtins-js.ts.
 *
 * A Rego string is a Go byte string in OPA: here its bytes are its UTF-8,
 * hashes and signatures work on those bytes, and decoded bytes become a
 * string again as UTF-8 (invalid sequences as U+FFFD, as Go's JSON output
 * writes them). Every error makes the call undefined (common.ts), so node's
 * own crypto errors are turned into BuiltinErrors where they can arise.
 */
import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  timingSafeEqual,
  verify as cryptoVerify,
  X509Certificate,
  type JsonWebKey,
  type KeyObject,
} from 'node:crypto';
import type { BuiltinDecl } from '../compile/builtins.js';
import { putOwn } from '../own-key.js';
import { byteCompare, evaluationNowNs, exact, exactJSON, fail, goJSON, jsonText, obj, str, type Exact, type Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'io.jwt.decode': { arity: 1 },
  'io.jwt.decode_verify': { arity: 2 },
  'io.jwt.verify_hs256': { arity: 2 },
  'io.jwt.verify_hs384': { arity: 2 },
  'io.jwt.verify_hs512': { arity: 2 },
  'io.jwt.verify_rs256': { arity: 2 },
  'io.jwt.verify_rs384': { arity: 2 },
  'io.jwt.verify_rs512': { arity: 2 },
  'io.jwt.verify_ps256': { arity: 2 },
  'io.jwt.verify_ps384': { arity: 2 },
  'io.jwt.verify_ps512': { arity: 2 },
  'io.jwt.verify_es256': { arity: 2 },
  'io.jwt.verify_es384': { arity: 2 },
  'io.jwt.verify_es512': { arity: 2 },
  'io.jwt.verify_eddsa': { arity: 2 },
  'io.jwt.encode_sign': { arity: 3 },
  'io.jwt.encode_sign_raw': { arity: 3 },
  'crypto.md5': { arity: 1 },
  'crypto.sha1': { arity: 1 },
  'crypto.hmac.md5': { arity: 2 },
  'crypto.hmac.sha1': { arity: 2 },
  'crypto.hmac.sha256': { arity: 2 },
  'crypto.hmac.sha512': { arity: 2 },
  'crypto.hmac.equal': { arity: 2 },
  'crypto.parse_private_keys': { arity: 1 },
  'hex.encode': { arity: 1 },
  'hex.decode': { arity: 1 },
  'base64.is_valid': { arity: 1 },
  'base64url.encode': { arity: 1 },
  'base64url.encode_no_pad': { arity: 1 },
  'base64url.decode': { arity: 1 },
  'urlquery.encode': { arity: 1 },
  'urlquery.decode': { arity: 1 },
  'urlquery.encode_object': { arity: 1 },
  'urlquery.decode_object': { arity: 1 },
};

/* ------------------------------------------------------------------ bytes */

const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Runs f, its failure the builtin's error under msg (node's crypto throws plain Errors, which customBuiltins would pass on). */
function crypt<T>(f: () => T, msg: string): T {
  try {
    return f();
  } catch (e) {
    return fail(`${msg}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Constant time, as Go's hmac.Equal; unequal lengths are unequal. */
const bytesEqual = (a: Buffer, b: Buffer): boolean => a.length === b.length && timingSafeEqual(a, b);

const B64_STD = /[A-Za-z0-9+/]/;
const B64_URL = /[A-Za-z0-9_-]/;

/**
 * Go's base64.StdEncoding (URLEncoding with URL) DecodeString, with its
 * error offsets ("illegal base64 data at input byte N"): padding required,
 * CR and LF skipped, any other byte outside the alphabet an error (node's
 * own decoder skips what it does not know, so it checks nothing).
 */
export function b64Decode(s: string, url: boolean): Buffer {
  const alphabet = url ? B64_URL : B64_STD;
  const bad = (n: number): never => fail(`illegal base64 data at input byte ${n}`);
  const nl = (i: number): number => {
    while (i < s.length && (s[i] === '\n' || s[i] === '\r')) i++;
    return i;
  };
  const done = (): Buffer => Buffer.from(s.replace(/[\r\n]/g, ''), url ? 'base64url' : 'base64');
  let si = 0;
  for (;;) {
    for (let j = 0; j < 4; j++) {
      si = nl(si);
      if (si === s.length) return j === 0 ? done() : bad(si - j);
      const c = s[si++]!;
      if (c === '=') {
        if (j < 2) bad(si - 1);
        if (j === 2) {
          si = nl(si);
          if (si === s.length) bad(s.length);
          if (s[si] !== '=') bad(si - 1);
          si++;
        }
        si = nl(si);
        return si < s.length ? bad(si) : done();
      }
      if (!alphabet.test(c)) bad(si - 1);
    }
  }
}

/** base64url.decode (and every JWT segment): padding may be left out (RFC 7515 appendix C). */
function b64urlDecode(s: string): Buffer {
  let t = s;
  if (!t.endsWith('=')) {
    const r = t.length % 4;
    if (r === 1) fail(`illegal base64url string: ${s}`);
    t += r === 2 ? '==' : r === 3 ? '=' : '';
  }
  return b64Decode(t, true);
}

function hexDecode(s: string): Buffer {
  const bad = /[^0-9a-fA-F]/.exec(s);
  if (bad) fail(`invalid byte: ${bad[0]}`);
  if (s.length % 2 !== 0) fail('odd length hex string');
  return Buffer.from(s, 'hex');
}

/** Go's byte order of strings (JS compares UTF-16 code units). */
/* ------------------------------------------------------------- url query */

/** Go's url.QueryEscape: letters, digits and -_.~ stay, space is '+', every other byte %XX. */
function queryEscape(s: string): string {
  let out = '';
  for (const b of utf8(s)) {
    if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e) {
      out += String.fromCharCode(b);
    } else if (b === 0x20) out += '+';
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Go's url.QueryUnescape: '+' is space, %XX a byte, a '%' without two hex digits an error. */
function queryUnescape(s: string): string {
  const src = utf8(s);
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const b = src[i]!;
    if (b === 0x25) {
      const h = src.subarray(i + 1, i + 3).toString('latin1');
      if (!/^[0-9a-fA-F]{2}$/.test(h)) fail(`invalid URL escape "%${h}"`);
      out.push(parseInt(h, 16));
      i += 2;
    } else out.push(b === 0x2b ? 0x20 : b);
  }
  return Buffer.from(out).toString('utf8');
}

/** urlquery.encode_object: Go's url.Values.Encode, keys sorted, a key once per value. */
function encodeObject(o: Record<string, unknown>): string {
  const values = (v: unknown): string[] => {
    if (typeof v === 'string') return [v];
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
    return fail('values must be string, array[string], or set[string]');
  };
  return Object.keys(o)
    .sort(byteCompare)
    .flatMap((k) => values(o[k]).map((v) => `${queryEscape(k)}=${queryEscape(v)}`))
    .join('&');
}

/**
 * urlquery.decode_object: Go's url.ParseQuery, pairs split on '&' (a ';'
 * is an error since Go 1.17), empty pairs skipped, a key's values in order;
 * any bad escape fails the call, as ParseQuery's error does in OPA.
 */
function decodeObject(q: string): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const pair of q.split('&')) {
    if (pair.includes(';')) fail('invalid semicolon separator in query');
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const k = queryUnescape(eq < 0 ? pair : pair.slice(0, eq));
    const v = queryUnescape(eq < 0 ? '' : pair.slice(eq + 1));
    if (Object.hasOwn(out, k)) out[k]!.push(v);
    else putOwn(out, k, [v]);
  }
  return out;
}

/* ------------------------------------------------------------------- JSON */

/** A JSON value, integers past 2^53 as BigInt (and a number no double holds as its text: common.ts exact). */
type Json = Exact;
type JSONObject = { [k: string]: Json };

/** A value as JSON text; BigInts as their digits. */
const jsonOf = (v: Json): string => exactJSON(v);

const isObject = (v: unknown): v is JSONObject => v !== null && typeof v === 'object' && !Array.isArray(v);

/**
 * A JSON object, integers past 2^53 kept exact; with duplicate keys the
 * last wins, which OPA relies on Go's decoder for (tokens.go
 * extractJSONObject). JSON.parse judges the syntax (exact() reads Rego
 * text, a superset), exact() keeps the digits.
 */
function jsonObject(text: string): JSONObject {
  const v = JSON.parse(text) as unknown;
  return isObject(v) ? (exact(text) as JSONObject) : fail('decoded JSON type was not an Object');
}

function validJSON(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/* -------------------------------------------------------------------- PEM */

export interface PemBlock {
  type: string;
  bytes: Buffer;
  /** the text after the block's END line */
  rest: string;
}

/** A line without its trailing spaces, tabs and CR, and the text after it (Go's pem getLine). */
function getLine(s: string): [string, string] {
  const i = s.indexOf('\n');
  return [(i < 0 ? s : s.slice(0, i)).replace(/[ \t\r]+$/, ''), i < 0 ? '' : s.slice(i + 1)];
}

/**
 * Go's encoding/pem Decode: the first well-formed block, text before it
 * skipped; a BEGIN line without a matching END line or with a body that is
 * not base64 is passed over. Headers ("Proc-Type: ...") are skipped: no
 * caller reads them.
 */
export function pemDecode(data: string): PemBlock | undefined {
  let rest = data;
  for (;;) {
    if (rest.startsWith('-----BEGIN ')) rest = rest.slice(11);
    else {
      const i = rest.indexOf('\n-----BEGIN ');
      if (i < 0) return undefined;
      rest = rest.slice(i + 12);
    }
    let typeLine: string;
    [typeLine, rest] = getLine(rest);
    if (!typeLine.endsWith('-----')) continue;
    const type = typeLine.slice(0, -5);
    let headers = false;
    for (;;) {
      if (rest === '') return undefined;
      const [line, next] = getLine(rest);
      if (!line.includes(':')) break;
      headers = true;
      rest = next;
    }
    const atEnd = !headers && rest.startsWith('-----END ');
    const endIndex = atEnd ? 0 : rest.indexOf('\n-----END ');
    if (endIndex < 0) continue;
    const trailer = rest.slice(atEnd ? 9 : endIndex + 10);
    if (!trailer.startsWith(`${type}-----`)) continue;
    const [endLine, after] = getLine(trailer.slice(type.length + 5));
    if (endLine !== '') continue;
    let bytes: Buffer;
    try {
      bytes = b64Decode(rest.slice(0, endIndex).replace(/[ \t]/g, ''), false);
    } catch {
      continue;
    }
    return { type, bytes, rest: after };
  }
}

/* ------------------------------------------------------------------- keys */

/** A verification key: a public key, or an HMAC secret (a JWK of kty "oct"), with the JWK's alg and kid ('' when absent). */
interface VerifyKey {
  key: KeyObject | Buffer;
  alg: string;
  kid: string;
}

/** The algorithms OPA knows (tokens.go tokenAlgorithms): a JWKS key with another alg is skipped, encode_sign refuses others. */
const TOKEN_ALGS = new Set(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512', 'EdDSA']);

/** The keys of a JWK or a JWK set ({"keys": [...]}), as jwx's jwk.Parse reads either. */
function jwkList(v: unknown): JsonWebKey[] {
  if (!isObject(v)) return fail('failed to parse a JWK key (set)');
  if (!Object.hasOwn(v, 'keys')) return [v as JsonWebKey];
  const keys = v.keys;
  if (!Array.isArray(keys) || !keys.every(isObject)) return fail('failed to parse a JWK key (set)');
  return keys as JsonWebKey[];
}

/** A JWK's key material: the secret of an "oct" key, else its public key (derived when the JWK is private). */
function jwkPublic(k: JsonWebKey): KeyObject | Buffer {
  if (k.kty === 'oct') return Buffer.from(str(k.k), 'base64url');
  if (k.kty !== 'RSA' && k.kty !== 'EC' && k.kty !== 'OKP') return fail('failed to parse a JWK key (set): unknown kty');
  return crypt(() => createPublicKey({ key: k, format: 'jwk' }), 'failed to parse a JWK key (set)');
}

/**
 * tokens.go getKeysFromCertOrJWK: a PEM certificate or public key (one
 * block, nothing after it), else a JWK or JWK set.
 */
function verifyKeys(text: string): VerifyKey[] {
  const block = pemDecode(text);
  if (block !== undefined) {
    if (block.rest.length > 0) fail('extra data after a PEM certificate block');
    if (block.type === 'CERTIFICATE') {
      return [{ key: crypt(() => new X509Certificate(block.bytes).publicKey, 'failed to parse a PEM certificate'), alg: '', kid: '' }];
    }
    if (block.type === 'PUBLIC KEY') {
      return [{ key: crypt(() => createPublicKey({ key: block.bytes, format: 'der', type: 'spki' }), 'failed to parse a PEM public key'), alg: '', kid: '' }];
    }
    fail('failed to extract a Key from the PEM certificate');
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    fail('failed to parse a JWK key (set)');
  }
  const keys: VerifyKey[] = [];
  for (const k of jwkList(parsed)) {
    const key = jwkPublic(k);
    const alg = typeof k.alg === 'string' ? k.alg : '';
    if (alg !== '' && !TOKEN_ALGS.has(alg)) continue;
    keys.push({ key, alg, kid: typeof k.kid === 'string' ? k.kid : '' });
  }
  return keys;
}

/* -------------------------------------------------------------- signatures */

const HASHES: Record<string, string> = { '256': 'sha256', '384': 'sha384', '512': 'sha512' };

/** The hash of an RS/PS/ES/HS algorithm, undefined for EdDSA and anything unknown. */
const hashOf = (alg: string): string | undefined => (TOKEN_ALGS.has(alg) && alg !== 'EdDSA' ? HASHES[alg.slice(2)] : undefined);

/** Bytes of r and of s in a JWS ECDSA signature (RFC 7518 §3.4): the curve's size. */
const CURVE_BYTES: Record<string, number> = { prime256v1: 32, secp384r1: 48, secp521r1: 66 };

const isAsym = (k: KeyObject | Buffer, type: string): k is KeyObject => !Buffer.isBuffer(k) && k.asymmetricKeyType === type;

/**
 * decode_verify's check (jwx jwsbb.Verify): the algorithm of the header
 * decides, the key must be of its kind; PSS salts are the hash's length and
 * ECDSA signatures exactly r||s of the curve's size.
 */
function jwsVerify(alg: string, key: KeyObject | Buffer, input: Buffer, sig: Buffer): boolean {
  const hash = hashOf(alg);
  try {
    if (alg === 'EdDSA') return isAsym(key, 'ed25519') && cryptoVerify(null, input, key, sig);
    if (hash === undefined) return false;
    if (alg.startsWith('HS')) return Buffer.isBuffer(key) && bytesEqual(createHmac(hash, key).update(input).digest(), sig);
    if (alg.startsWith('ES')) {
      if (!isAsym(key, 'ec')) return false;
      const n = CURVE_BYTES[key.asymmetricKeyDetails?.namedCurve ?? ''];
      return n !== undefined && sig.length === 2 * n && cryptoVerify(hash, input, { key, dsaEncoding: 'ieee-p1363' }, sig);
    }
    const pss = alg.startsWith('PS');
    return (
      isAsym(key, 'rsa') &&
      cryptoVerify(hash, input, { key, padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }, sig)
    );
  } catch {
    return false;
  }
}

/** A DER INTEGER of an unsigned big-endian number. */
function derInt(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const v = b.length === 0 ? Buffer.from([0]) : b.subarray(i);
  const body = v[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v;
  return Buffer.concat([Buffer.from([0x02]), derLength(body.length), body]);
}

function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let m = n; m > 0; m >>= 8) bytes.unshift(m & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** An r||s signature as DER: io.jwt.verify_es* split any signature in halves (tokens.go verifyES), whatever the curve. */
function derSignature(sig: Buffer): Buffer {
  const n = sig.length >> 1;
  const body = Buffer.concat([derInt(sig.subarray(0, n)), derInt(sig.subarray(n))]);
  return Buffer.concat([Buffer.from([0x30]), derLength(body.length), body]);
}

/** One of the io.jwt.verify_* checks: does key sign input as sig? */
type Check = (key: KeyObject | Buffer, input: Buffer, sig: Buffer) => boolean;

/** verify_rs* and verify_ps*: Go's rsa.VerifyPKCS1v15 / rsa.VerifyPSS with a salt of any length. */
const rsaCheck =
  (hash: string, pss: boolean): Check =>
  (key, input, sig) =>
    isAsym(key, 'rsa') &&
    cryptoVerify(hash, input, { key, padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING, saltLength: constants.RSA_PSS_SALTLEN_AUTO }, sig);

const esCheck =
  (hash: string): Check =>
  (key, input, sig) =>
    isAsym(key, 'ec') && cryptoVerify(hash, input, { key, dsaEncoding: 'der' }, derSignature(sig));

const edCheck: Check = (key, input, sig) => isAsym(key, 'ed25519') && cryptoVerify(null, input, key, sig);

/* -------------------------------------------------------------------- JWT */

interface Token {
  header: string;
  payload: string;
  signature: string;
}

/** RFC 7519 §7.2 steps 1-2: three base64url segments (JWS compact serialization). */
function splitToken(v: unknown): Token {
  const s = str(v);
  if (!s.includes('.')) fail('encoded JWT had no period separators');
  const parts = s.split('.');
  if (parts.length !== 3) fail(`encoded JWT must have 3 sections, found ${parts.length}`);
  return { header: parts[0]!, payload: parts[1]!, signature: parts[2]! };
}

/** What is signed: the two first segments as they are. */
const signingInput = (t: Token): Buffer => utf8(`${t.header}.${t.payload}`);

function decodeHeader(t: Token): JSONObject {
  const h = jsonObject(crypt(() => b64urlDecode(t.header), 'JWT header had invalid encoding').toString('utf8'));
  // an "enc" member makes it a JWE (RFC 7516 §9), which OPA does not support
  if (Object.hasOwn(h, 'enc')) fail('JWT is a JWE object, which is not supported');
  return h;
}

const decodePayload = (t: Token): string => crypt(() => b64urlDecode(t.payload), 'JWT payload had invalid encoding').toString('utf8');
const decodeSignature = (t: Token): Buffer => crypt(() => b64urlDecode(t.signature), 'JWT signature had invalid encoding');

/** The JOSE header members OPA reads (tokens.go parseTokenHeader); a known member of the wrong type is an error. */
interface TokenHeader {
  alg: string;
  kid: string;
  cty: string;
  /** RFC 7515 §4.1.1: alg present, and §4.1.11: no critical member that we do not know */
  valid: boolean;
}

function tokenHeader(h: JSONObject): TokenHeader {
  const known = new Set(['alg', 'kid', 'typ', 'cty', 'crit']);
  const text = (k: string): string => {
    if (!Object.hasOwn(h, k)) return '';
    const v = h[k];
    return typeof v === 'string' ? v : fail(`${k}: must be a string`);
  };
  const header = { alg: text('alg'), kid: text('kid'), cty: text('cty') };
  text('typ');
  const crit = new Set<string>();
  if (Object.hasOwn(h, 'crit')) {
    const c = h.crit;
    if (!Array.isArray(c)) fail('crit: must be a list');
    // OPA keeps the strings before the first non-string and ignores the rest
    for (const x of c as Json[]) {
      if (typeof x !== 'string') break;
      crit.add(x);
    }
    if (crit.size === 0) fail('crit: must be a nonempty list');
  }
  const unknownCritical = Object.keys(h).some((k) => !known.has(k) && crit.has(k));
  return { ...header, valid: header.alg !== '' && !unknownCritical };
}

/** io.jwt.decode: header, payload and the signature's hex, without any check; a payload of cty "JWT" is decoded in turn. */
function decode(jwt: unknown): [JSONObject, JSONObject, string] {
  const t = splitToken(jwt);
  const header = decodeHeader(t);
  const p = decodePayload(t);
  if (Object.hasOwn(header, 'cty')) {
    const cty = header.cty;
    if (typeof cty !== 'string') fail('cty: must be a string');
    // a nested token is quoted, as jwt.io writes it: the quotes go before decoding (tokens.go builtinJWTDecode)
    if (cty === 'JWT') return decode(p.replace(/^["']+|["']+$/g, ''));
  }
  return [header, jsonObject(p), decodeSignature(t).toString('hex')];
}

/** io.jwt.verify_*: the token's signature under one of the keys (builtinJWTVerify); a bad token or key is an error, not false. */
function verifyToken(jwt: unknown, certificate: unknown, check: Check): boolean {
  const t = splitToken(jwt);
  const keys = verifyKeys(str(certificate));
  const sig = decodeSignature(t);
  const header = tokenHeader(decodeHeader(t));
  const input = signingInput(t);
  const ok = (k: VerifyKey): boolean => {
    try {
      return check(k.key, input, sig);
    } catch {
      return false;
    }
  };
  // a key whose kid is the header's is the only one tried
  if (header.kid !== '') {
    const k = keys.find((x) => x.kid === header.kid);
    if (k !== undefined) return ok(k);
  }
  // otherwise any key, skipping those whose alg is not the header's
  return keys.some((k) => (k.alg === '' || k.alg === header.alg) && ok(k));
}

/** io.jwt.verify_hs*: an HMAC of the two first segments with the secret's bytes. */
function verifyHS(jwt: unknown, secret: unknown, hash: string): boolean {
  const t = splitToken(jwt);
  const key = utf8(str(secret));
  const mac = createHmac(hash, key).update(signingInput(t)).digest();
  return bytesEqual(decodeSignature(t), mac);
}

/** decode_verify's constraints (tokens.go tokenConstraints). */
interface Constraints {
  keys?: VerifyKey[];
  secret: string;
  alg: string;
  iss: string;
  aud: string;
  /** nanoseconds since the epoch, as a double (OPA converts it to float64 too) */
  time: number;
}

function constraints(o: Record<string, unknown>): Constraints {
  const c: Constraints = { secret: '', alg: '', iss: '', aud: '', time: -1 };
  for (const [k, v] of Object.entries(o)) {
    if (k === 'cert') c.keys = verifyKeys(typeof v === 'string' ? v : fail('cert constraint: must be a string'));
    else if (k === 'secret' || k === 'alg' || k === 'iss' || k === 'aud') c[k] = typeof v === 'string' ? v : fail(`${k} constraint: must be a string`);
    else if (k === 'time') {
      if (typeof v !== 'number') fail('token time constraint: must be a number');
      if ((v as number) < 0) fail('token time constraint: must not be negative');
      c.time = v as number;
    } else fail(`unknown token validation constraint: ${k}`);
  }
  // no time given: the evaluation's (as time.now_ns's)
  if (c.time === -1) c.time = Number(evaluationNowNs());
  const keyed = (c.keys !== undefined ? 1 : 0) + (c.secret !== '' ? 1 : 0);
  if (keyed > 1) fail('duplicate key constraints');
  if (keyed < 1) fail('no key constraint');
  return c;
}

/** The signature under the constraints' keys, or their secret (tokens.go tokenConstraints.verify). */
function constraintsVerify(c: Constraints, header: TokenHeader, input: Buffer, sig: Buffer): boolean {
  if (c.keys === undefined) return jwsVerify(header.alg, utf8(c.secret), input, sig);
  if (header.kid !== '') {
    const k = c.keys.find((x) => x.kid === header.kid);
    if (k !== undefined) return jwsVerify(header.alg, k.key, input, sig);
  }
  return c.keys.some((k) => (k.alg === '' || k.alg === header.alg) && jwsVerify(header.alg, k.key, input, sig));
}

/** RFC 7519 §4.1.3: aud is the constraint, or a list holding it. */
function validAudience(aud: Json, want: string): boolean {
  if (typeof aud === 'string') return aud === want;
  return Array.isArray(aud) && aud.some((x) => x === want);
}

const UNVERIFIED = '[false,{},{}]';

/**
 * io.jwt.decode_verify: [valid, header, payload]. A token that does not
 * verify or meet a constraint is [false, {}, {}]; a token that cannot be
 * decoded, or bad constraints, is an error (tokens.go builtinJWTDecodeVerify).
 */
function decodeVerify(jwt: unknown, given: unknown): ArrayBuffer {
  const c = constraints(obj(given));
  let token: unknown = jwt;
  let header: JSONObject;
  let text: string;
  // RFC 7519 §7.2: verify each level; cty "JWT" (any case) nests another token as the payload
  for (;;) {
    const t = splitToken(token);
    header = decodeHeader(t);
    const h = tokenHeader(header);
    if (!h.valid) return jsonText(UNVERIFIED);
    if (c.alg !== '' && c.alg !== h.alg) return jsonText(UNVERIFIED);
    if (!constraintsVerify(c, h, signingInput(t), decodeSignature(t))) return jsonText(UNVERIFIED);
    text = decodePayload(t);
    if (h.cty.toUpperCase() !== 'JWT') break;
    token = text;
  }
  const payload = jsonObject(text);
  // registered claims (RFC 7519 §4.1)
  if (c.iss !== '') {
    if (!Object.hasOwn(payload, 'iss')) return jsonText(UNVERIFIED);
    const iss = payload.iss;
    if (typeof iss !== 'string') fail('iss value must be a string');
    if (iss !== c.iss) return jsonText(UNVERIFIED);
  }
  if (Object.hasOwn(payload, 'aud')) {
    if (!validAudience(payload.aud!, c.aud)) return jsonText(UNVERIFIED);
  } else if (c.aud !== '') return jsonText(UNVERIFIED);
  // exp and nbf are seconds, possibly fractional: valid while now < exp and from nbf on
  const now = c.time / 1e9;
  if (Object.hasOwn(payload, 'exp')) {
    const exp = payload.exp;
    if (typeof exp !== 'number' && typeof exp !== 'bigint') fail('exp value must be a number');
    if (!(now < (exp as number | bigint))) return jsonText(UNVERIFIED);
  }
  if (Object.hasOwn(payload, 'nbf')) {
    const nbf = payload.nbf;
    if (typeof nbf !== 'number' && typeof nbf !== 'bigint') fail('nbf value must be a number');
    if (now < (nbf as number | bigint)) return jsonText(UNVERIFIED);
  }
  return jsonText(`[true,${jsonOf(header)},${jsonOf(payload)}]`);
}

/** A signature of input under alg with a JWK (a private key, or an "oct" secret for HS*). */
function signWith(alg: string, jwk: JsonWebKey, input: Buffer): Buffer {
  const hash = hashOf(alg);
  if (alg.startsWith('HS')) {
    if (jwk.kty !== 'oct') fail(`${alg} needs a key of kty "oct"`);
    return createHmac(hash!, Buffer.from(str(jwk.k), 'base64url')).update(input).digest();
  }
  const key = crypt(() => createPrivateKey({ key: jwk, format: 'jwk' }), 'failed to parse the private JWK');
  return crypt(() => {
    if (alg === 'EdDSA') {
      if (key.asymmetricKeyType !== 'ed25519') fail('EdDSA needs an Ed25519 key');
      return cryptoSign(null, input, key);
    }
    if (alg.startsWith('ES')) {
      if (key.asymmetricKeyType !== 'ec') fail(`${alg} needs an EC key`);
      return cryptoSign(hash!, input, { key, dsaEncoding: 'ieee-p1363' });
    }
    if (key.asymmetricKeyType !== 'rsa') fail(`${alg} needs an RSA key`);
    const pss = alg.startsWith('PS');
    // RFC 7518 §3.5: the PSS salt is as long as the hash
    return cryptoSign(hash!, input, { key, padding: pss ? constants.RSA_PKCS1_PSS_PADDING : constants.RSA_PKCS1_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
  }, `failed to sign with ${alg}`);
}

/**
 * encode_sign and encode_sign_raw (tokens.go commonBuiltinJWTEncodeSign):
 * the header and payload are signed as given, base64url without padding;
 * the key is the first of a JWK set. The header's typ, when absent or "JWT",
 * requires a JSON payload.
 */
function encodeSign(headers: string, payload: string, jwk: unknown): string {
  const keys = jwkList(jwk);
  if (keys.length === 0) fail('no keys found in JWK set');
  let h: unknown;
  try {
    h = JSON.parse(headers);
  } catch {
    fail("missing or invalid 'alg' header: cannot parse JSON");
  }
  const alg = isObject(h) && typeof h.alg === 'string' ? h.alg : fail("missing or invalid 'alg' header");
  if (!TOKEN_ALGS.has(alg)) fail(`unknown JWS algorithm: ${alg}`);
  const typ = isObject(h) ? h.typ : undefined;
  if ((typeof typ !== 'string' || typ === 'JWT') && !validJSON(payload)) fail('type is JWT but payload is not JSON');
  const input = `${utf8(headers).toString('base64url')}.${utf8(payload).toString('base64url')}`;
  return `${input}.${signWith(alg, keys[0]!, utf8(input)).toString('base64url')}`;
}

/* ----------------------------------------------------------- private keys */

/** A base64url JWK member as a decimal integer (Go's *big.Int marshals as a JSON number). */
const bigDec = (v: unknown): string => BigInt(`0x${Buffer.from(str(v), 'base64url').toString('hex') || '0'}`).toString();

/**
 * A private key as Go's json.Marshal writes the crypto.PrivateKey OPA's
 * parse_private_keys returns (crypto.go): *rsa.PrivateKey with its embedded
 * PublicKey's N and E at the top; *ecdsa.PrivateKey with its Curve, whose
 * fields are unexported since Go 1.19 ({}); ed25519.PrivateKey (seed then
 * public key) as base64 bytes.
 */
export function goPrivateKey(key: KeyObject): string {
  const j = key.export({ format: 'jwk' });
  if (key.asymmetricKeyType === 'rsa') {
    const [n, e, d, p, q, dp, dq, qi] = [j.n, j.e, j.d, j.p, j.q, j.dp, j.dq, j.qi].map(bigDec);
    return `{"N":${n},"E":${e},"D":${d},"Primes":[${p},${q}],"Precomputed":{"Dp":${dp},"Dq":${dq},"Qinv":${qi},"CRTValues":[]}}`;
  }
  if (key.asymmetricKeyType === 'ec') return `{"Curve":{},"X":${bigDec(j.x)},"Y":${bigDec(j.y)},"D":${bigDec(j.d)}}`;
  if (key.asymmetricKeyType === 'ed25519') {
    return JSON.stringify(Buffer.concat([Buffer.from(str(j.d), 'base64url'), Buffer.from(str(j.x), 'base64url')]).toString('base64'));
  }
  return fail(`unsupported private key type ${key.asymmetricKeyType ?? ''}`);
}

const PRIVATE_KEY_BLOCKS: Record<string, 'pkcs1' | 'pkcs8' | 'sec1'> = { 'RSA PRIVATE KEY': 'pkcs1', 'PRIVATE KEY': 'pkcs8', 'EC PRIVATE KEY': 'sec1' };

/**
 * crypto.parse_private_keys: the private keys of the PEM blocks (or of the
 * PEM the base64 input decodes to), until the first text that is no block;
 * other block types are skipped, a key that does not parse is an error.
 * "" is null, no key an empty array (crypto.go getPrivateKeysFromPEMData).
 */
function parsePrivateKeys(s: string): ArrayBuffer | null {
  if (s === '') return null;
  let text = s;
  try {
    text = b64Decode(s, false).toString('latin1');
  } catch {
    // not base64: PEM as it is
  }
  const keys: string[] = [];
  for (let b = pemDecode(text); b !== undefined; b = b.rest === '' ? undefined : pemDecode(b.rest)) {
    const type = PRIVATE_KEY_BLOCKS[b.type];
    if (type === undefined) continue;
    const der = b.bytes;
    keys.push(goPrivateKey(crypt(() => createPrivateKey({ key: der, format: 'der', type }), `failed to parse a ${b.type}`)));
  }
  return jsonText(`[${keys.join(',')}]`);
}

/* ------------------------------------------------------------------ impls */

const digest = (alg: string) => (s: unknown) => createHash(alg).update(utf8(str(s))).digest('hex');
const hmac = (alg: string) => (x: unknown, key: unknown) => createHmac(alg, utf8(str(key))).update(utf8(str(x))).digest('hex');

export const IMPLS: Record<string, Impl> = {
  'io.jwt.decode': (jwt) => {
    const [h, p, sig] = decode(jwt);
    return jsonText(`[${jsonOf(h)},${jsonOf(p)},${JSON.stringify(sig)}]`);
  },
  'io.jwt.decode_verify': (jwt, c) => decodeVerify(jwt, c),
  'io.jwt.verify_hs256': (jwt, secret) => verifyHS(jwt, secret, 'sha256'),
  'io.jwt.verify_hs384': (jwt, secret) => verifyHS(jwt, secret, 'sha384'),
  'io.jwt.verify_hs512': (jwt, secret) => verifyHS(jwt, secret, 'sha512'),
  'io.jwt.verify_rs256': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha256', false)),
  'io.jwt.verify_rs384': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha384', false)),
  'io.jwt.verify_rs512': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha512', false)),
  'io.jwt.verify_ps256': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha256', true)),
  'io.jwt.verify_ps384': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha384', true)),
  'io.jwt.verify_ps512': (jwt, cert) => verifyToken(jwt, cert, rsaCheck('sha512', true)),
  'io.jwt.verify_es256': (jwt, cert) => verifyToken(jwt, cert, esCheck('sha256')),
  'io.jwt.verify_es384': (jwt, cert) => verifyToken(jwt, cert, esCheck('sha384')),
  'io.jwt.verify_es512': (jwt, cert) => verifyToken(jwt, cert, esCheck('sha512')),
  'io.jwt.verify_eddsa': (jwt, cert) => verifyToken(jwt, cert, edCheck),
  // Go's json.Marshal of each operand is what is signed
  'io.jwt.encode_sign': (h, p, k) => encodeSign(goJSON(obj(h)), goJSON(obj(p)), obj(k)),
  'io.jwt.encode_sign_raw': (h, p, k) => {
    const [headers, payload, jwk] = [str(h), str(p), str(k)];
    let key: unknown;
    try {
      key = JSON.parse(jwk);
    } catch {
      fail('failed to parse the JWK');
    }
    return encodeSign(headers, payload, key);
  },
  'crypto.md5': digest('md5'),
  'crypto.sha1': digest('sha1'),
  'crypto.hmac.md5': hmac('md5'),
  'crypto.hmac.sha1': hmac('sha1'),
  'crypto.hmac.sha256': hmac('sha256'),
  'crypto.hmac.sha512': hmac('sha512'),
  'crypto.hmac.equal': (a, b) => bytesEqual(utf8(str(a)), utf8(str(b))),
  'crypto.parse_private_keys': (s) => parsePrivateKeys(str(s)),
  'hex.encode': (s) => utf8(str(s)).toString('hex'),
  'hex.decode': (s) => hexDecode(str(s)).toString('utf8'),
  // a non-string is not valid base64 rather than an error (encoding.go builtinBase64IsValid)
  'base64.is_valid': (s) => {
    if (typeof s !== 'string') return false;
    try {
      b64Decode(s, false);
      return true;
    } catch {
      return false;
    }
  },
  'base64url.encode': (s) => utf8(str(s)).toString('base64').replace(/\+/g, '-').replace(/\//g, '_'),
  'base64url.encode_no_pad': (s) => utf8(str(s)).toString('base64url'),
  'base64url.decode': (s) => b64urlDecode(str(s)).toString('utf8'),
  'urlquery.encode': (s) => queryEscape(str(s)),
  'urlquery.decode': (s) => queryUnescape(str(s)),
  'urlquery.encode_object': (o) => encodeObject(obj(o)),
  'urlquery.decode_object': (s) => decodeObject(str(s)),
};
