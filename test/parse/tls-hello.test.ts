/**
 * Tests for engine/parse/tls-hello.ts and engine/parse/ja4.ts.
 *
 * Two kinds of input, both made here:
 * - fixtures: real hellos captured on 127.0.0.1 with local tools (curl,
 *   openssl s_client/s_server, python3 ssl, node tls; test/fixtures/tls/README.md
 *   says how each was made, scripts/capture-tls-hellos.js remakes them);
 * - built hellos: bytes assembled by the builder below from value lists, for
 *   what no local tool sends (the JA4 specification's worked example, GREASE,
 *   RC4/3DES/GOST cipher offers).
 * JA4 values are checked against the JA4 specification's published example and
 * against a reference implementation in this file, written from the spec text,
 * that shares no code with engine/parse/ja4.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TlsInfo } from '../../engine/model/event.js';
import { ErrorCode, ParseError } from '../../engine/model/errors.js';
import { ja4, ja4Alpn } from '../../engine/parse/ja4.js';
import { cipherName, looksLikeHello, parseTlsHello, tlsVersionName, type ParsedHello } from '../../engine/parse/tls-hello.js';
import { prng } from '../helpers/prng.js';

// Works from test/parse (source) and dist/test/parse (compiled) alike.
function fixtureDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = path.join(dir, 'test', 'fixtures', 'tls');
    if (existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new Error('test/fixtures/tls not found');
}
const FIXTURES = fixtureDir();
const fixture = (name: string): Uint8Array => new Uint8Array(readFileSync(path.join(FIXTURES, `${name}.bin`)));

function assertMalformed(fn: () => unknown, message?: RegExp): ParseError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  assert.ok(caught instanceof ParseError, `expected ParseError, got ${String(caught)}`);
  assert.equal(caught.code, ErrorCode.TLS_MALFORMED);
  assert.equal(caught.code, 'BUSTED_E_TLS_MALFORMED');
  if (message) assert.match(caught.message, message);
  return caught;
}

const sha12 = (s: string): string => createHash('sha256').update(s).digest('hex').slice(0, 12);
const isGrease = (v: number): boolean => (v & 0x0f0f) === 0x0a0a && v >> 8 === (v & 0xff);

// ---- hello builder -----------------------------------------------------------
// Assembles a hello from value lists: record header(s), handshake header,
// legacy_version, random, legacy_session_id, cipher_suites,
// legacy_compression_methods, extensions (RFC 8446 §4.1.2, §5.1; RFC 5246 §7.4.1.2).

const u16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number): number[] => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
const vec8 = (b: number[]): number[] => [b.length, ...b];
const vec16 = (b: number[]): number[] => [...u16(b.length), ...b];
const ext = (type: number, body: number[]): number[] => [...u16(type), ...vec16(body)];
const ascii = (s: string): number[] => Array.from(new TextEncoder().encode(s));
const u16s = (v: number[]): number[] => v.flatMap(u16);
const sniExt = (host: string): number[] => ext(0, vec16([0, ...vec16(ascii(host))]));
const alpnExt = (...names: string[]): number[] => ext(16, vec16(names.flatMap((n) => vec8(ascii(n)))));
const groupsExt = (groups: number[]): number[] => ext(10, vec16(u16s(groups)));
const sigalgsExt = (algs: number[]): number[] => ext(13, vec16(u16s(algs)));
const versionsExt = (versions: number[]): number[] => ext(43, vec8(u16s(versions)));
/** key_share with one KeyShareEntry per group; the key bytes are filler (the parser does not read them). */
const keyShareExt = (groups: Array<[number, number]>): number[] =>
  ext(51, vec16(groups.flatMap(([group, len]) => [...u16(group), ...vec16(new Array<number>(len).fill(0x42))])));

interface ClientSpec {
  /** legacy_version, 0x0303 unless told */
  version?: number;
  /** 32 bytes, all 7 unless told */
  random?: number[];
  sid?: number[];
  ciphers?: number[];
  /** legacy_compression_methods, [0] (null) unless told */
  compression?: number[];
  /** undefined: no extensions block at all (TLS 1.0-1.2 style) */
  exts?: number[][];
}

function clientBody(o: ClientSpec): number[] {
  const random = o.random ?? new Array<number>(32).fill(7);
  assert.equal(random.length, 32);
  const body = [...u16(o.version ?? 0x0303), ...random, ...vec8(o.sid ?? []), ...vec16(u16s(o.ciphers ?? [0x1301])), ...vec8(o.compression ?? [0])];
  if (o.exts) body.push(...vec16(o.exts.flat()));
  return body;
}

const handshake = (type: number, body: number[]): number[] => [type, ...u24(body.length), ...body];

/** Wraps a handshake message in records of the given fragment sizes (the last takes the rest). */
function records(msg: number[], sizes: number[] = [], type = 22, version = 0x0301): Uint8Array {
  const out: number[] = [];
  let off = 0;
  for (let i = 0; off < msg.length; i++) {
    const size = i < sizes.length ? sizes[i]! : msg.length - off;
    out.push(type, ...u16(version), ...u16(size), ...msg.slice(off, off + size));
    off += size;
  }
  return new Uint8Array(out);
}

const clientHello = (o: ClientSpec): Uint8Array => records(handshake(1, clientBody(o)));

// The JA4 specification's worked example (JA4.md, FoxIO, sections "Cipher hash",
// "Extension hash" and "Example"): the lists it prints in wire order, GREASE
// already removed, and the fingerprint it publishes for them.
const SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035];
const SPEC_EXTENSIONS = [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015];
const SPEC_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601];
const SPEC_JA4 = 't13d1516h2_8daaf6152771_e5627efa2ab1';

/**
 * A ClientHello carrying the spec example's lists, with GREASE (RFC 8701) added
 * the way browsers send it: first cipher, first and last extension, in
 * supported_versions, supported_groups and key_share. Extension bodies follow
 * their RFCs so the parser walks real structure, not empty shells.
 */
function specExampleHello(): Uint8Array {
  const body: Record<number, number[]> = {
    0x001b: vec8(u16s([0x0002])), // compress_certificate: brotli
    0x0000: sniExt('example.com'),
    0x0033: keyShareExt([[0x3a3a, 1], [0x11ec, 1216], [0x001d, 32]]),
    0x0010: alpnExt('h2', 'http/1.1'),
    0x4469: vec16(vec8(ascii('h2'))), // application_settings
    0x0017: [],
    0x002d: vec8([1]), // psk_key_exchange_modes: psk_dhe_ke
    0x000d: sigalgsExt(SPEC_SIGALGS),
    0x0005: [1, 0, 0, 0, 0], // status_request: ocsp
    0x0023: [],
    0x0012: [],
    0x002b: versionsExt([0x3a3a, 0x0304, 0x0303]),
    0xff01: [0],
    0x000b: vec8([0]),
    0x000a: groupsExt([0x8a8a, 0x11ec, 0x001d, 0x0017, 0x0018]),
    0x0015: new Array<number>(17).fill(0), // padding
  };
  // Helpers that already return a whole extension are used as is; raw bodies get wrapped.
  const whole = new Set([0x0000, 0x0033, 0x0010, 0x000d, 0x002b, 0x000a]);
  const exts = [
    ext(0x0a0a, []),
    ...SPEC_EXTENSIONS.map((type) => (whole.has(type) ? body[type]! : ext(type, body[type]!))),
    ext(0xfafa, [0]),
  ];
  return clientHello({ ciphers: [0x2a2a, ...SPEC_CIPHERS], exts, sid: new Array<number>(32).fill(0x55) });
}

/**
 * TLS 1.2-only ClientHello offering a long list of old suites: RC4, 3DES, IDEA,
 * SEED, CAMELLIA and two pre-IANA GOST codes (0x0081, 0xff85) that old OpenSSL
 * builds with the GOST engine sent. OpenSSL 3.0 cannot offer any of these, so
 * they are built rather than captured.
 */
const LEGACY_CIPHERS = [
  0xc02c, 0xc030, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xccaa, 0x009f, 0x009e, 0xc024, 0xc028, 0xc023, 0xc027, 0x006b, 0x0067,
  0x00c4, 0x00be, 0x0088, 0x0045, 0xc00a, 0xc014, 0xc009, 0xc013, 0x0039, 0x0033, 0x009d, 0x009c, 0x003d, 0x003c, 0x0035,
  0x002f, 0x0084, 0x0041, 0x0096, 0x0007, 0xc012, 0xc008, 0x0016, 0x000a, 0xc011, 0xc007, 0x0005, 0x0004, 0x0081, 0xff85,
  0x00ff,
];

function legacyCiphersHello(): Uint8Array {
  return clientHello({
    version: 0x0303,
    ciphers: LEGACY_CIPHERS,
    exts: [sniExt('legacy.example'), ext(11, vec8([0, 1, 2])), groupsExt([0x001d, 0x0017, 0x0018]), sigalgsExt([0x0601, 0x0603, 0x0501, 0x0503, 0x0401, 0x0403, 0x0201, 0x0203]), alpnExt('h2', 'http/1.1')],
  });
}

/**
 * TLS 1.3 ClientHello with the extensions no local client here sends:
 * delegated_credentials (0x0022, RFC 9345), record_size_limit (0x001c,
 * RFC 8449), ffdhe groups next to ECDHE ones, and two key shares.
 */
function delegatedCredentialsHello(): Uint8Array {
  const sigalgs = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601];
  return clientHello({
    ciphers: [0x1301, 0x1303, 0x1302, 0xc02b, 0xc02f, 0xcca9, 0xcca8, 0xc02c, 0xc030, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    sid: new Array<number>(32).fill(0x33),
    exts: [
      sniExt('dc.example'),
      ext(0x0017, []),
      ext(0xff01, [0]),
      groupsExt([0x001d, 0x0017, 0x0018, 0x0019, 0x0100, 0x0101]),
      ext(11, vec8([0])),
      ext(0x0023, []),
      alpnExt('h2', 'http/1.1'),
      ext(0x0005, [1, 0, 0, 0, 0]),
      ext(0x0022, vec16(u16s([0x0403, 0x0503, 0x0603, 0x0203]))),
      keyShareExt([[0x001d, 32], [0x0017, 65]]),
      versionsExt([0x0304, 0x0303]),
      sigalgsExt(sigalgs),
      ext(0x002d, vec8([1])),
      ext(0x001c, u16(0x4001)),
      ext(0x0015, new Array<number>(40).fill(0)),
    ],
  });
}

const OPENSSL_GROUPS = ['x25519', 'secp256r1', 'x448', 'secp521r1', 'secp384r1', 'ffdhe2048', 'ffdhe3072', 'ffdhe4096', 'ffdhe6144', 'ffdhe8192'];

interface Expected {
  kind: 'client_hello' | 'server_hello';
  /** the whole TlsInfo except `ciphers`, which is checked by count and ends */
  tls: TlsInfo;
  cipherCount?: number;
  firstCipher?: string;
  lastCipher?: string;
}

const EXPECTED: Record<string, Expected> = {
  'client-curl-h2': {
    kind: 'client_hello',
    tls: {
      sni: 'api.openai.com',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2', 'TLS 1.1', 'TLS 1.0'],
      alpn: ['h2', 'http/1.1'],
      ja4: 't13d3112h2_e8f1e7e78f70_b26ce05bbdd6',
      extensions: [0, 11, 10, 16, 22, 23, 49, 13, 43, 45, 51, 21],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 31,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-curl-http11': {
    kind: 'client_hello',
    tls: {
      sni: 'api.anthropic.com',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2', 'TLS 1.1', 'TLS 1.0'],
      alpn: ['http/1.1'],
      ja4: 't13d3112h1_e8f1e7e78f70_b26ce05bbdd6',
      extensions: [0, 11, 10, 16, 22, 23, 49, 13, 43, 45, 51, 21],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 31,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-openssl-h2': {
    kind: 'client_hello',
    tls: {
      sni: 'example.com',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2', 'TLS 1.1', 'TLS 1.0'],
      alpn: ['h2', 'http/1.1'],
      ja4: 't13d3111h2_e8f1e7e78f70_1f22a2ca17c4',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 31,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-openssl-tls12-nosni': {
    kind: 'client_hello',
    tls: {
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      ja4: 't12i280600_d943125447b4_e7e480e5a997',
      extensions: [11, 10, 35, 22, 23, 13],
      groups: ['x25519', 'secp256r1', 'x448', 'secp521r1', 'secp384r1'],
    },
    cipherCount: 28,
    firstCipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-openssl-multirecord': {
    kind: 'client_hello',
    tls: {
      sni: 'big.example',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2', 'TLS 1.1', 'TLS 1.0'],
      alpn: ['h2', 'http/1.1', ...Array.from({ length: 30 }, (_, i) => `busted-test-protocol-${i}`)],
      // Same client as client-openssl-h2, so the same JA4 despite 30 more ALPN ids and another key share.
      ja4: 't13d3111h2_e8f1e7e78f70_1f22a2ca17c4',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
      groups: ['ffdhe4096', 'x25519'],
    },
    cipherCount: 31,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-python-h2': {
    kind: 'client_hello',
    tls: {
      sni: 'python.example',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      alpn: ['h2', 'http/1.1'],
      ja4: 't13d1812h2_85036bcba153_d41ae481755e',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51, 21],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 18,
  },
  'client-python-noalpn': {
    kind: 'client_hello',
    tls: {
      sni: 'localhost',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      ja4: 't13d181100_85036bcba153_d41ae481755e',
      extensions: [0, 11, 10, 35, 22, 23, 13, 43, 45, 51, 21],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 18,
  },
  'client-node-http11': {
    kind: 'client_hello',
    tls: {
      sni: 'node.example',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      alpn: ['http/1.1'],
      ja4: 't13d5911h1_a33745022dd6_1f22a2ca17c4',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 59,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-node-ip': {
    kind: 'client_hello',
    tls: {
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      alpn: ['h2'],
      ja4: 't13i5910h2_a33745022dd6_1f22a2ca17c4',
      extensions: [11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 59,
  },
  // Three runs of the same s_client with -tls1_2 (client-openssl-tls12-nosni above is the third):
  // only SNI and ALPN change, so JA4 b and c stay put and a moves with them.
  'client-openssl-tls12-noalpn': {
    kind: 'client_hello',
    tls: {
      sni: 'noalpn.example',
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      ja4: 't12d280700_d943125447b4_e7e480e5a997',
      extensions: [0, 11, 10, 35, 22, 23, 13],
      groups: ['x25519', 'secp256r1', 'x448', 'secp521r1', 'secp384r1'],
    },
    cipherCount: 28,
    firstCipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-openssl-tls12-h2': {
    kind: 'client_hello',
    tls: {
      sni: 'tls12.example',
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      alpn: ['h2', 'http/1.1'],
      ja4: 't12d2808h2_d943125447b4_e7e480e5a997',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13],
      groups: ['x25519', 'secp256r1', 'x448', 'secp521r1', 'secp384r1'],
    },
    cipherCount: 28,
    firstCipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  // -cipher 'ALL:@SECLEVEL=0': 84 suites incl. anonymous DH, CAMELLIA, ARIA and CCM (no PSK/SRP without callbacks).
  'client-openssl-tls12-seclevel0': {
    kind: 'client_hello',
    tls: {
      sni: 'legacy.example',
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      alpn: ['h2', 'http/1.1'],
      ja4: 't12d8408h2_bd790527ddab_3c5a66c06c35',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13],
      groups: ['x25519', 'secp256r1', 'x448', 'secp521r1', 'secp384r1'],
    },
    cipherCount: 84,
    firstCipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'client-node-nonascii-alpn': {
    kind: 'client_hello',
    tls: {
      sni: 'node.example',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      // The first protocol id is the bytes ba ad: not UTF-8, shown as two U+FFFD.
      alpn: ['\ufffd\ufffd', 'http/1.1'],
      // JA4.md's hex rule for a non-alphanumeric ALPN: first and last hex digit of "baad" -> "bd".
      // b and c are client-node-http11's: same node, same TLS settings.
      ja4: 't13d5911bd_a33745022dd6_1f22a2ca17c4',
      extensions: [0, 11, 10, 35, 16, 22, 23, 13, 43, 45, 51],
      groups: OPENSSL_GROUPS,
    },
    cipherCount: 59,
    firstCipher: 'TLS_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  // Built hellos (see the builder above); their JA4 is also recomputed by the reference implementation below.
  'built-ja4-spec-example': {
    kind: 'client_hello',
    tls: {
      sni: 'example.com',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      alpn: ['h2', 'http/1.1'],
      ja4: SPEC_JA4,
      extensions: SPEC_EXTENSIONS,
      groups: ['X25519MLKEM768', 'x25519', 'secp256r1', 'secp384r1'],
    },
    cipherCount: 15,
    firstCipher: 'TLS_AES_128_GCM_SHA256',
    lastCipher: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  },
  'built-tls12-legacy-ciphers': {
    kind: 'client_hello',
    tls: {
      sni: 'legacy.example',
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      alpn: ['h2', 'http/1.1'],
      ja4: 't12d4605h2_676ef2f1a11e_46dc1bab6854',
      extensions: [0, 11, 10, 13, 16],
      groups: ['x25519', 'secp256r1', 'secp384r1'],
    },
    cipherCount: 46,
    firstCipher: 'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    lastCipher: 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  },
  'built-tls13-delegated-credentials': {
    kind: 'client_hello',
    tls: {
      sni: 'dc.example',
      version: 'TLS 1.3',
      legacy_version: 'TLS 1.2',
      supported_versions: ['TLS 1.3', 'TLS 1.2'],
      alpn: ['h2', 'http/1.1'],
      // Same cipher set as the spec example in another order: b is the spec's 8daaf6152771, since b sorts.
      ja4: 't13d1515h2_8daaf6152771_de9982248aa6',
      extensions: [0, 0x17, 0xff01, 10, 11, 0x23, 16, 5, 0x22, 51, 43, 13, 0x2d, 0x1c, 0x15],
      groups: ['x25519', 'secp256r1', 'secp384r1', 'secp521r1', 'ffdhe2048', 'ffdhe3072'],
    },
    cipherCount: 15,
    firstCipher: 'TLS_AES_128_GCM_SHA256',
    lastCipher: 'TLS_RSA_WITH_AES_256_CBC_SHA',
  },
  'server-openssl-tls13': {
    kind: 'server_hello',
    // No alpn: in TLS 1.3 the server's ALPN choice travels in the encrypted EncryptedExtensions.
    tls: { version: 'TLS 1.3', legacy_version: 'TLS 1.2', cipher: 'TLS_AES_256_GCM_SHA384', extensions: [43, 51], groups: ['x25519'] },
  },
  'server-openssl-tls12': {
    kind: 'server_hello',
    tls: {
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      cipher: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
      alpn: ['h2'],
      extensions: [0xff01, 11, 35, 16, 23],
    },
  },
  'server-openssl-hrr': {
    kind: 'server_hello',
    tls: { version: 'TLS 1.3', legacy_version: 'TLS 1.2', cipher: 'TLS_AES_256_GCM_SHA384', extensions: [43, 51], groups: ['secp384r1'] },
  },
  'server-python-tls12-h2': {
    kind: 'server_hello',
    // python's sni_callback makes OpenSSL acknowledge SNI: an empty server_name (0) in the ServerHello.
    tls: {
      version: 'TLS 1.2',
      legacy_version: 'TLS 1.2',
      cipher: 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
      alpn: ['h2'],
      extensions: [0xff01, 0, 11, 35, 16, 23],
    },
  },
};

const NAMES = Object.keys(EXPECTED);

const BUILT: Record<string, () => Uint8Array> = {
  'built-ja4-spec-example': specExampleHello,
  'built-tls12-legacy-ciphers': legacyCiphersHello,
  'built-tls13-delegated-credentials': delegatedCredentialsHello,
};
/** The bytes behind a name in EXPECTED: a fixture file, or a hello built above. */
const hello = (name: string): Uint8Array => BUILT[name]?.() ?? fixture(name);

for (const name of NAMES) {
  test(`fixture ${name}`, () => {
    const data = hello(name);
    const want = EXPECTED[name]!;
    const got = parseTlsHello(data);
    assert.equal(got.kind, want.kind);
    assert.equal(looksLikeHello(data), want.kind);
    // Each fixture is exactly the records that carry the hello.
    assert.equal(got.needed, data.length);
    const { ciphers, ...rest } = got.tls;
    assert.deepEqual(rest, want.tls);
    if (want.kind === 'server_hello') {
      assert.equal(ciphers, undefined);
      return;
    }
    assert.ok(ciphers);
    assert.equal(ciphers.length, want.cipherCount);
    if (want.firstCipher) assert.equal(ciphers[0], want.firstCipher);
    if (want.lastCipher) assert.equal(ciphers.at(-1), want.lastCipher);
  });
}

test('python3 ClientHello: exact cipher list in wire order', () => {
  assert.deepEqual(parseTlsHello(fixture('client-python-h2')).tls.ciphers, [
    'TLS_AES_256_GCM_SHA384',
    'TLS_CHACHA20_POLY1305_SHA256',
    'TLS_AES_128_GCM_SHA256',
    'TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384',
    'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256',
    'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
    'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256',
    'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256',
    'TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384',
    'TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384',
    'TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256',
    'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256',
    'TLS_DHE_RSA_WITH_AES_256_GCM_SHA384',
    'TLS_DHE_RSA_WITH_AES_128_GCM_SHA256',
    'TLS_DHE_RSA_WITH_AES_256_CBC_SHA256',
    'TLS_DHE_RSA_WITH_AES_128_CBC_SHA256',
    'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  ]);
});

test('legacy ciphers keep their names (RC4, 3DES, IDEA, SEED, CAMELLIA, SCSV)', () => {
  const ciphers = parseTlsHello(hello('built-tls12-legacy-ciphers')).tls.ciphers!;
  assert.equal(ciphers.length, LEGACY_CIPHERS.length);
  for (const c of [
    'TLS_RSA_WITH_RC4_128_MD5',
    'TLS_RSA_WITH_RC4_128_SHA',
    'TLS_ECDHE_RSA_WITH_RC4_128_SHA',
    'TLS_ECDHE_ECDSA_WITH_RC4_128_SHA',
    'TLS_RSA_WITH_3DES_EDE_CBC_SHA',
    'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA',
    'TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA',
    'TLS_RSA_WITH_IDEA_CBC_SHA',
    'TLS_RSA_WITH_SEED_CBC_SHA',
    'TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA256',
    'TLS_EMPTY_RENEGOTIATION_INFO_SCSV',
  ]) {
    assert.ok(ciphers.includes(c), c);
  }
  // Pre-IANA GOST codes from old OpenSSL builds have no registry name.
  assert.ok(ciphers.includes('0xff85'));
  assert.ok(ciphers.includes('0x0081'));
  // The live capture with every suite OpenSSL 3.0 still has: anonymous DH, CAMELLIA, ARIA, CCM all named.
  const live = parseTlsHello(fixture('client-openssl-tls12-seclevel0')).tls.ciphers!;
  for (const c of ['TLS_DH_anon_WITH_AES_256_GCM_SHA384', 'TLS_ECDH_anon_WITH_AES_128_CBC_SHA', 'TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA256', 'TLS_ECDHE_RSA_WITH_ARIA_256_GCM_SHA384', 'TLS_RSA_WITH_AES_128_CCM_8']) {
    assert.ok(live.includes(c), c);
  }
});

test('every cipher the live clients offered has a registry name', () => {
  for (const name of NAMES.filter((n) => n.startsWith('client-'))) {
    for (const c of parseTlsHello(fixture(name)).tls.ciphers!) assert.doesNotMatch(c, /^0x/, `${name}: ${c}`);
  }
});

test('GREASE is dropped from ciphers, extensions, versions and groups (built spec example)', () => {
  const data = hello('built-ja4-spec-example');
  // Count the raw cipher_suites entries: record(5) + handshake(4) + version(2) + random(32), then session id.
  let p = 5 + 4 + 2 + 32;
  p += 1 + data[p]!;
  const raw: number[] = [];
  const csLen = (data[p]! << 8) | data[p + 1]!;
  for (let i = 0; i < csLen; i += 2) raw.push((data[p + 2 + i]! << 8) | data[p + 3 + i]!);
  assert.ok(raw.some(isGrease), 'the built hello carries a GREASE cipher');
  const tls = parseTlsHello(data).tls;
  assert.equal(tls.ciphers!.length, raw.filter((v) => !isGrease(v)).length);
  assert.ok(!tls.extensions!.some(isGrease));
  assert.ok(!tls.ciphers!.some((c) => /^0x.a.a$/.test(c)));
  assert.deepEqual(tls.supported_versions, ['TLS 1.3', 'TLS 1.2']);
  assert.ok(!tls.groups!.some((g) => /^0x.a.a$/.test(g)));
  // The raw walker below sees the GREASE extensions the parser drops.
  assert.deepEqual(rawClientHello(data).exts.map((e) => e.type).filter(isGrease), [0x0a0a, 0xfafa]);
});

test('HelloRetryRequest: detected by its random, key_share read as the selected group', () => {
  const data = fixture('server-openssl-hrr');
  const hrrRandom = 'cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c';
  assert.equal(Buffer.from(data.subarray(11, 43)).toString('hex'), hrrRandom);
  const got = parseTlsHello(data);
  assert.equal(got.kind, 'server_hello');
  // A 2-byte key_share would be malformed in a plain ServerHello, so this only parses if HRR was detected.
  assert.deepEqual(got.tls.groups, ['secp384r1']);
  // Swap the random for an ordinary one and the same bytes are rejected.
  const plain = data.slice();
  plain[11] ^= 0xff;
  assertMalformed(() => parseTlsHello(plain), /key_share/);
});

// ---- JA4 -------------------------------------------------------------------

test('JA4 a and b parts derived by hand for client-openssl-h2', () => {
  // Hand-derived from the fixture bytes (checked with a separate Python script):
  // TCP 't', supported_versions max 0x0304 '13', SNI present 'd', 31 ciphers, 11 extensions, ALPN "h2".
  const cipherList =
    '002f,0033,0035,0039,003c,003d,0067,006b,009c,009d,009e,009f,00ff,1301,1302,1303,c009,c00a,c013,c014,' +
    'c023,c024,c027,c028,c02b,c02c,c02f,c030,cca8,cca9,ccaa';
  const extList = '000a,000b,000d,0016,0017,0023,002b,002d,0033';
  const sigalgs = '0403,0503,0603,0807,0808,0809,080a,080b,0804,0805,0806,0401,0501,0601,0303,0301,0302,0402,0502,0602';
  const [a, b, c] = parseTlsHello(fixture('client-openssl-h2')).tls.ja4!.split('_');
  assert.equal(a, 't13d3111h2');
  assert.equal(b, sha12(cipherList));
  assert.equal(b, 'e8f1e7e78f70');
  assert.equal(c, sha12(`${extList}_${sigalgs}`));
});

test('JA4 shape on every ClientHello fixture', () => {
  for (const name of NAMES) {
    const tls = parseTlsHello(hello(name)).tls;
    if (EXPECTED[name]!.kind === 'server_hello') {
      assert.equal(tls.ja4, undefined);
      continue;
    }
    assert.match(tls.ja4!, /^t(13|12|11|10|s3|00)[di]\d{4}[0-9a-zA-Z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$/, name);
  }
});

test('JA4 spec example (JA4.md): t13d1516h2_8daaf6152771_e5627efa2ab1', () => {
  const input = {
    version: 0x0304,
    sni: true,
    ciphers: [0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035],
    extensions: [0x001b, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002d, 0x000d, 0x0005, 0x0023, 0x0012, 0x002b, 0xff01, 0x000b, 0x000a, 0x0015],
    alpn: new TextEncoder().encode('h2'),
    sigalgs: [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601],
  };
  assert.equal(ja4(input), 't13d1516h2_8daaf6152771_e5627efa2ab1');
  // The spec's "no signature algorithms" variant: no trailing underscore before hashing.
  assert.equal(ja4({ ...input, sigalgs: [] }).split('_')[2], '6d807ffa2a79');
  // Empty lists are twelve zeros, not the hash of "".
  assert.equal(ja4({ ...input, ciphers: [], extensions: [0, 16], sigalgs: [] }), 't13d0002h2_000000000000_000000000000');
  // Counts stop at 99.
  const many = Array.from({ length: 150 }, (_, i) => i + 1);
  assert.match(ja4({ ...input, ciphers: many, extensions: many }), /^t13d9999h2_/);
  assert.equal(ja4({ ...input, version: 0x0300, sni: false, alpn: undefined }).slice(0, 10), 'ts3i151600');
  assert.equal(ja4({ ...input, version: 0x7f1c }).slice(0, 3), 't00');
});

// A second JA4, written from the text of JA4.md with plain strings and
// createHash, on a ClientHello walked straight from the bytes: no code shared
// with engine/parse/ja4.ts or the hello parser, so the two can check each other.

interface RawClientHello {
  legacyVersion: number;
  /** cipher_suites as sent, GREASE included */
  ciphers: number[];
  /** extensions as sent, GREASE included */
  exts: Array<{ type: number; body: Buffer }>;
}

function rawClientHello(data: Uint8Array): RawClientHello {
  const payloads: Buffer[] = [];
  for (let off = 0; off < data.length; ) {
    const len = (data[off + 3]! << 8) | data[off + 4]!;
    payloads.push(Buffer.from(data.subarray(off + 5, off + 5 + len)));
    off += 5 + len;
  }
  const m = Buffer.concat(payloads);
  assert.equal(m[0], 1, 'ClientHello');
  assert.equal(m.length, 4 + m.readUIntBE(1, 3), 'whole message');
  let p = 4;
  const legacyVersion = m.readUInt16BE(p);
  p += 2 + 32;
  p += 1 + m[p]!;
  const ciphers: number[] = [];
  const csEnd = p + 2 + m.readUInt16BE(p);
  for (p += 2; p < csEnd; p += 2) ciphers.push(m.readUInt16BE(p));
  p += 1 + m[p]!;
  const exts: RawClientHello['exts'] = [];
  if (p < m.length) {
    const end = p + 2 + m.readUInt16BE(p);
    for (p += 2; p < end; ) {
      const len = m.readUInt16BE(p + 2);
      exts.push({ type: m.readUInt16BE(p), body: m.subarray(p + 4, p + 4 + len) });
      p += 4 + len;
    }
    assert.equal(p, m.length);
  }
  return { legacyVersion, ciphers, exts };
}

function referenceJa4(data: Uint8Array): string {
  const h = rawClientHello(data);
  const hex4 = (v: number): string => v.toString(16).padStart(4, '0');
  const u16list = (b: Buffer): number[] => Array.from({ length: b.length / 2 }, (_, i) => b.readUInt16BE(2 * i));
  const body = (type: number): Buffer | undefined => h.exts.find((e) => e.type === type)?.body;
  const keep = (v: number): boolean => !isGrease(v);
  // "TLS and DTLS Version": highest supported_versions entry, else the legacy version.
  const sv = body(0x002b);
  const versions = sv ? u16list(sv.subarray(1)).filter(keep) : [];
  const version = versions.length > 0 ? Math.max(...versions) : h.legacyVersion;
  const vcode = ({ 0x0304: '13', 0x0303: '12', 0x0302: '11', 0x0301: '10', 0x0300: 's3', 0x0002: 's2' } as Record<number, string>)[version] ?? '00';
  const ciphers = h.ciphers.filter(keep).map(hex4);
  const exts = h.exts.map((e) => e.type).filter(keep).map(hex4);
  const count = (n: number): string => String(Math.min(n, 99)).padStart(2, '0');
  // "ALPN Extension Value": first and last character, or of its hex form when either is not alphanumeric.
  let alpn = '00';
  const al = body(0x0010);
  if (al && al.length > 3 && al[2]! > 0) {
    const first = al.subarray(3, 3 + al[2]!);
    const s = first.toString('latin1');
    const x = first.toString('hex');
    alpn = /^[0-9A-Za-z]/.test(s) && /[0-9A-Za-z]$/.test(s) ? s[0]! + s.at(-1)! : x[0]! + x.at(-1)!;
  }
  const sa = body(0x000d);
  const sigalgs = sa ? u16list(sa.subarray(2)).filter(keep).map(hex4) : [];
  // "Cipher hash" and "Extension hash": sorted lists, SNI and ALPN left out of c, sigalgs in wire order.
  const sortedExts = exts.filter((e) => e !== '0000' && e !== '0010').sort();
  const b = ciphers.length > 0 ? sha12([...ciphers].sort().join(',')) : '000000000000';
  const c = sortedExts.length > 0 ? sha12(sortedExts.join(',') + (sigalgs.length > 0 ? `_${sigalgs.join(',')}` : '')) : '000000000000';
  return `t${vcode}${exts.includes('0000') ? 'd' : 'i'}${count(ciphers.length)}${count(exts.length)}${alpn}_${b}_${c}`;
}

test('JA4 worked example of the spec (JA4.md "Example"), from ClientHello bytes', () => {
  const data = hello('built-ja4-spec-example');
  const tls = parseTlsHello(data).tls;
  assert.equal(tls.ja4, SPEC_JA4);
  assert.equal(referenceJa4(data), SPEC_JA4);
  const [a, b, c] = tls.ja4!.split('_');
  // a by hand: TCP, supported_versions max 0x0304, SNI present, 15 ciphers and 16 extensions without GREASE, ALPN "h2".
  assert.equal(a, 't13d1516h2');
  // b and c from the sorted strings the spec prints ("Cipher hash", "Extension hash"), hashed here.
  assert.equal(b, sha12('002f,0035,009c,009d,1301,1302,1303,c013,c014,c02b,c02c,c02f,c030,cca8,cca9'));
  const cInput = '0005,000a,000b,000d,0012,0015,0017,001b,0023,002b,002d,0033,4469,ff01_0403,0804,0401,0503,0805,0501,0806,0601';
  assert.equal(c, sha12(cInput));
  // The spec also prints the untruncated hash of that string, which checks sha12 itself.
  assert.equal(createHash('sha256').update(cInput).digest('hex'), 'e5627efa2ab19723084c1033a96c694a45826ab5a460d2d3fd5ffcfe97161c95');
  // "Raw Output": the original-order lists (JA4_ro) are what the parser reports in wire order, GREASE gone,
  // and hashing them gives the spec's JA4_o = t13d1516h2_acb858a92679_18f69afefd3d.
  const hex4 = (v: number): string => v.toString(16).padStart(4, '0');
  const ro = `${tls.extensions!.map(hex4).join(',')}_${SPEC_SIGALGS.map(hex4).join(',')}`;
  assert.equal(ro, '001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015_0403,0804,0401,0503,0805,0501,0806,0601');
  assert.equal(`${a}_${sha12(SPEC_CIPHERS.map(hex4).join(','))}_${sha12(ro)}`, 't13d1516h2_acb858a92679_18f69afefd3d');
});

test('JA4 of every ClientHello equals the spec-text reference computed from the raw bytes', () => {
  let n = 0;
  for (const name of NAMES.filter((x) => EXPECTED[x]!.kind === 'client_hello')) {
    const data = hello(name);
    assert.equal(parseTlsHello(data).tls.ja4, referenceJa4(data), name);
    n++;
  }
  assert.ok(n >= 15, `${n} ClientHellos`);
});

test('JA4 of live TLS 1.2 captures: one s_client, only SNI and ALPN change', () => {
  const parts = (name: string): string[] => parseTlsHello(fixture(name)).tls.ja4!.split('_');
  const nosni = parts('client-openssl-tls12-nosni');
  const noalpn = parts('client-openssl-tls12-noalpn');
  const h2 = parts('client-openssl-tls12-h2');
  // Version from legacy_version (no supported_versions in a TLS 1.2-only hello); i/d from SNI; ALPN counted and shown.
  assert.deepEqual([nosni[0], noalpn[0], h2[0]], ['t12i280600', 't12d280700', 't12d2808h2']);
  // SNI and ALPN are left out of the extension hash, so b and c do not move.
  assert.deepEqual(noalpn.slice(1), nosni.slice(1));
  assert.deepEqual(h2.slice(1), nosni.slice(1));
  // More suites (ALL:@SECLEVEL=0) change b, and its hash matches the sorted wire list.
  const wide = fixture('client-openssl-tls12-seclevel0');
  const [a, b] = parseTlsHello(wide).tls.ja4!.split('_');
  assert.equal(a, 't12d8408h2');
  const sorted = rawClientHello(wide).ciphers.map((v) => v.toString(16).padStart(4, '0')).sort();
  assert.equal(sorted.length, 84);
  assert.equal(b, sha12(sorted.join(',')));
});

test('JA4 of a live non-ASCII ALPN: the spec hex rule on real bytes', () => {
  const data = fixture('client-node-nonascii-alpn');
  const alpn = rawClientHello(data).exts.find((e) => e.type === 0x0010)!.body;
  // protocol_name_list: [02 ba ad] [08 "http/1.1"]
  assert.equal(alpn.subarray(2, 5).toString('hex'), '02baad');
  assert.equal(ja4Alpn(new Uint8Array([0xba, 0xad])), 'bd');
  const ja = parseTlsHello(data).tls.ja4!;
  assert.equal(ja.slice(8, 10), 'bd');
  // Apart from the ALPN characters, the same node client as client-node-http11.
  const http11 = parseTlsHello(fixture('client-node-http11')).tls.ja4!;
  assert.equal(ja.replace('bd_', 'h1_'), http11);
});

test('JA4 ALPN characters follow the spec examples, hex rule included', () => {
  const cases: Array<[number[], string]> = [
    [[], '00'],
    [[0x68, 0x32], 'h2'],
    [[0x68, 0x74, 0x74, 0x70, 0x2f, 0x31, 0x2e, 0x31], 'h1'],
    [[0x61], 'aa'],
    [[0xab], 'ab'],
    [[0x20], '20'],
    [[0xab, 0xcd], 'ad'],
    [[0x20, 0x61], '21'],
    [[0x30, 0xab], '3b'],
    [[0x61, 0x20], '60'],
    [[0x30, 0x31, 0xab, 0xcd], '3d'],
    [[0x30, 0xab, 0xcd, 0x31], '01'],
  ];
  for (const [bytes, want] of cases) assert.equal(ja4Alpn(new Uint8Array(bytes)), want, JSON.stringify(bytes));
  assert.equal(ja4Alpn(undefined), '00');
});

// ---- names -----------------------------------------------------------------

test('tlsVersionName', () => {
  assert.equal(tlsVersionName(0x0304), 'TLS 1.3');
  assert.equal(tlsVersionName(0x0303), 'TLS 1.2');
  assert.equal(tlsVersionName(0x0302), 'TLS 1.1');
  assert.equal(tlsVersionName(0x0301), 'TLS 1.0');
  assert.equal(tlsVersionName(0x0300), 'SSL 3.0');
  assert.equal(tlsVersionName(0x7f1c), '0x7f1c');
  assert.equal(tlsVersionName(0x0002), '0x0002');
});

test('cipherName covers modern, legacy and weak suites', () => {
  const cases: Array<[number, string]> = [
    [0x1301, 'TLS_AES_128_GCM_SHA256'],
    [0x1302, 'TLS_AES_256_GCM_SHA384'],
    [0x1303, 'TLS_CHACHA20_POLY1305_SHA256'],
    [0x1304, 'TLS_AES_128_CCM_SHA256'],
    [0x1305, 'TLS_AES_128_CCM_8_SHA256'],
    [0xc02f, 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],
    [0xc02b, 'TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'],
    [0xcca8, 'TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
    [0xcca9, 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256'],
    [0xc013, 'TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA'],
    [0x002f, 'TLS_RSA_WITH_AES_128_CBC_SHA'],
    [0x0035, 'TLS_RSA_WITH_AES_256_CBC_SHA'],
    [0x000a, 'TLS_RSA_WITH_3DES_EDE_CBC_SHA'],
    [0xc012, 'TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA'],
    [0x0004, 'TLS_RSA_WITH_RC4_128_MD5'],
    [0x0005, 'TLS_RSA_WITH_RC4_128_SHA'],
    [0xc011, 'TLS_ECDHE_RSA_WITH_RC4_128_SHA'],
    [0x0000, 'TLS_NULL_WITH_NULL_NULL'],
    [0x0001, 'TLS_RSA_WITH_NULL_MD5'],
    [0x003b, 'TLS_RSA_WITH_NULL_SHA256'],
    [0x0003, 'TLS_RSA_EXPORT_WITH_RC4_40_MD5'],
    [0x0008, 'TLS_RSA_EXPORT_WITH_DES40_CBC_SHA'],
    [0x0062, 'TLS_RSA_EXPORT1024_WITH_DES_CBC_SHA'],
    [0x0009, 'TLS_RSA_WITH_DES_CBC_SHA'],
    [0x0018, 'TLS_DH_anon_WITH_RC4_128_MD5'],
    [0x00ff, 'TLS_EMPTY_RENEGOTIATION_INFO_SCSV'],
    [0x5600, 'TLS_FALLBACK_SCSV'],
    [0xcc13, 'OLD_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256'],
    [0xfeff, 'SSL_RSA_FIPS_WITH_3DES_EDE_CBC_SHA'],
    [0x0a0a, '0x0a0a'],
    [0x1234, '0x1234'],
    [0xffff, '0xffff'],
  ];
  for (const [id, want] of cases) assert.equal(cipherName(id), want, id.toString(16));
});

test('looksLikeHello', () => {
  assert.equal(looksLikeHello(fixture('client-curl-h2')), 'client_hello');
  assert.equal(looksLikeHello(fixture('server-openssl-tls12')), 'server_hello');
  assert.equal(looksLikeHello(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x10])), undefined); // too short to see the type
  assert.equal(looksLikeHello(new Uint8Array([0x16, 0x03, 0x03, 0x00, 0x10, 0x0b])), undefined); // Certificate
  assert.equal(looksLikeHello(new Uint8Array([0x17, 0x03, 0x03, 0x00, 0x10, 0x01])), undefined); // application data
  assert.equal(looksLikeHello(new Uint8Array([0x16, 0x02, 0x00, 0x00, 0x10, 0x01])), undefined); // not TLS 1.x
  assert.equal(looksLikeHello(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x00, 0x01])), undefined); // empty record
  assert.equal(looksLikeHello(new TextEncoder().encode('GET / HTTP/1.1\r\n')), undefined);
  assert.equal(looksLikeHello(new Uint8Array(0)), undefined);
});

// ---- built hellos: record layer and edge cases ------------------------------

test('ClientHello without an extensions block (RFC 5246 allows it)', () => {
  const got = parseTlsHello(clientHello({ version: 0x0301, ciphers: [0x002f, 0x000a] }));
  assert.equal(got.tls.version, 'TLS 1.0');
  assert.deepEqual(got.tls.extensions, []);
  assert.deepEqual(got.tls.ciphers, ['TLS_RSA_WITH_AES_128_CBC_SHA', 'TLS_RSA_WITH_3DES_EDE_CBC_SHA']);
  assert.equal(got.tls.ja4, `t10i020000_${sha12('000a,002f')}_000000000000`);
  assert.equal(got.tls.sni, undefined);
});

test('a handshake header split across records is reassembled', () => {
  const msg = handshake(1, clientBody({ exts: [sniExt('split.example'), alpnExt('h2')] }));
  const whole = parseTlsHello(records(msg));
  for (const sizes of [[1], [2], [3], [4], [5, 7, 1], [40, 1, 1, 1]]) {
    const data = records(msg, sizes);
    const got = parseTlsHello(data);
    assert.deepEqual(got.tls, whole.tls, String(sizes));
    assert.equal(got.needed, data.length);
  }
});

test('bytes after the hello are left alone; needed says where it ended', () => {
  const data = fixture('client-openssl-h2');
  const ccs = [0x14, 0x03, 0x03, 0x00, 0x01, 0x01];
  const more = new Uint8Array([...data, ...ccs]);
  const got = parseTlsHello(more);
  assert.equal(got.needed, data.length);
  assert.deepEqual(got.tls, parseTlsHello(data).tls);

  // A ServerHello sharing its record with the next handshake message.
  const sh = Array.from(fixture('server-openssl-tls12').subarray(5));
  const cert = handshake(11, [0, 0, 0]);
  const coalesced = records([...sh, ...cert], [], 22, 0x0303);
  const got2 = parseTlsHello(coalesced);
  assert.equal(got2.needed, 5 + sh.length);
  assert.equal(got2.tls.cipher, 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384');
});

test('multi-record ClientHello: needed grows as record headers arrive', () => {
  const data = fixture('client-openssl-multirecord');
  // Records of 512, 512 and 480 bytes carry a 4 + 1500 byte message.
  const first = parseTlsHello(data.subarray(0, 517));
  assert.equal(first.tls.truncated, true);
  assert.equal(first.tls.sni, 'big.example');
  assert.equal(first.needed, 517 + 5 + (1504 - 512)); // lower bound: assumes one more record
  const two = parseTlsHello(data.subarray(0, 517 + 517));
  assert.equal(two.needed, data.length);
  assert.equal(parseTlsHello(data).needed, data.length);
});

// ---- malformed input -------------------------------------------------------

test('malformed: not a handshake record, or not a hello', () => {
  const good = fixture('client-openssl-h2');
  const mutate = (at: number, v: number): Uint8Array => {
    const d = good.slice();
    d[at] = v;
    return d;
  };
  let e = assertMalformed(() => parseTlsHello(mutate(0, 0x17)), /content type 23/);
  assert.equal(e.offset, 0);
  assert.equal(e.field, 'record.type');
  assertMalformed(() => parseTlsHello(mutate(1, 0x02)), /major/);
  assertMalformed(() => parseTlsHello(mutate(2, 0x05)), /version/);
  e = assertMalformed(() => parseTlsHello(mutate(5, 11)), /handshake type 11/);
  assert.equal(e.offset, 5);
  assertMalformed(() => parseTlsHello(new Uint8Array(0)), /handshake type/);
  assertMalformed(() => parseTlsHello(new Uint8Array([0x16, 0x03, 0x01, 0x01, 0x00])), /handshake type/);
  assertMalformed(() => parseTlsHello(new TextEncoder().encode('GET / HTTP/1.1\r\nHost: x\r\n\r\n')));
});

test('malformed: record lengths', () => {
  assertMalformed(() => parseTlsHello(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x00, 0x01])), /empty handshake record/);
  assertMalformed(() => parseTlsHello(new Uint8Array([0x16, 0x03, 0x01, 0x40, 0x01, 0x01])), /exceeds 2\^14/);
  // The second record of a multi-record hello must be a handshake record too.
  const multi = fixture('client-openssl-multirecord').slice();
  multi[517] = 0x17;
  const e = assertMalformed(() => parseTlsHello(multi), /content type 23/);
  assert.equal(e.offset, 517);
});

test('malformed: lengths that overflow their container', () => {
  const body = clientBody({ exts: [sniExt('a.example')] });
  // Handshake length larger than any ClientHello could be.
  assertMalformed(() => parseTlsHello(records([1, ...u24(0x200000), ...body])), /exceeds any possible hello/);
  // cipher_suites length running past the message.
  const cs = body.slice();
  cs.splice(2 + 32 + 1, 2, ...u16(0x7ff0));
  assertMalformed(() => parseTlsHello(records(handshake(1, cs))), /cipher_suites/);
  // Odd cipher_suites length.
  assertMalformed(() => parseTlsHello(records(handshake(1, clientBody({ ciphers: [0x1301] }).map((b, i) => (i === 36 ? 3 : b))))), /odd/);
  // Session id longer than 32 bytes.
  assertMalformed(() => parseTlsHello(clientHello({ sid: new Array<number>(33).fill(1) })), /legacy_session_id/);
  // Extension length running past the extensions block.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [[0x00, 0x17, 0x00, 0x09, 0x00]] })), /extension\.length/);
  // server_name_list length disagreeing with the extension length.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(0, [0x00, 0x03, 0x00, 0x00, 0x01, 0x61, 0x00])] })), /server_name_list/);
  // Host name running past its list.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(0, vec16([0, 0x00, 0x09, 0x61]))] })), /host_name/);
  // ALPN name running past its list.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(16, vec16([5, 0x68, 0x32]))] })), /protocol_name/);
  // Odd supported_groups / signature_algorithms / supported_versions.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(10, vec16([0, 0x1d, 0]))] })), /supported_groups/);
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(13, vec16([4]))] })), /signature_algorithms/);
  assertMalformed(() => parseTlsHello(clientHello({ exts: [ext(43, vec8([3, 4, 3]))] })), /supported_versions/);
  // Two server_name extensions.
  assertMalformed(() => parseTlsHello(clientHello({ exts: [sniExt('a.example'), sniExt('b.example')] })), /duplicate extension 0/);
  // Bytes after the extensions block.
  const trailing = [...clientBody({ exts: [sniExt('a.example')] }), 0, 0];
  assertMalformed(() => parseTlsHello(records(handshake(1, trailing))), /extensions/);
  // A message shorter than its fixed fields.
  assertMalformed(() => parseTlsHello(records(handshake(1, [3, 3, 0]))), /random/);
});

test('malformed: ServerHello extensions', () => {
  const sh = (exts: number[][]): Uint8Array =>
    records(handshake(2, [...u16(0x0303), ...new Array<number>(32).fill(9), ...vec8([]), ...u16(0x1301), 0, ...vec16(exts.flat())]));
  assert.equal(parseTlsHello(sh([ext(43, u16(0x0304))])).tls.version, 'TLS 1.3');
  assertMalformed(() => parseTlsHello(sh([ext(43, u16s([0x0304, 0x0303]))])), /one version/);
  assertMalformed(() => parseTlsHello(sh([ext(51, u16(0x001d))])), /key_exchange/);
  assert.deepEqual(parseTlsHello(sh([ext(51, [...u16(0x11ec), ...vec16([1, 2, 3])])])).tls.groups, ['X25519MLKEM768']);
});

// ---- truncation ------------------------------------------------------------

/** Offset just past the SNI host name in the raw bytes (the extension ends there). */
function sniEnd(data: Uint8Array, sni: string): number {
  const at = Buffer.from(data).indexOf(Buffer.from(sni, 'latin1'));
  assert.ok(at > 0);
  return at + sni.length;
}

function isPrefix(part: readonly unknown[] | undefined, whole: readonly unknown[] | undefined): boolean {
  if (part === undefined) return true;
  if (whole === undefined || part.length > whole.length) return false;
  return part.every((v, i) => v === whole[i]);
}

test('every prefix of every fixture: ParseError or a partial result, never anything else', () => {
  for (const name of NAMES) {
    const data = hello(name);
    const full = parseTlsHello(data);
    const end = full.tls.sni !== undefined ? sniEnd(data, full.tls.sni) : -1;
    for (let len = 0; len < data.length; len++) {
      const cut = data.subarray(0, len);
      let got: ParsedHello;
      try {
        got = parseTlsHello(cut);
      } catch (e) {
        assert.ok(e instanceof ParseError, `${name}[0..${len}]: ${String(e)}`);
        assert.equal(e.code, ErrorCode.TLS_MALFORMED);
        // Only an input too short to show the handshake type may be refused.
        assert.ok(len < 6, `${name}[0..${len}]: ${e.message}`);
        continue;
      }
      const at = `${name}[0..${len}]`;
      assert.equal(got.kind, full.kind, at);
      assert.equal(got.tls.truncated, true, at);
      assert.equal(got.tls.ja4, undefined, at);
      assert.ok(got.needed > len && got.needed <= full.needed, `${at}: needed ${got.needed}`);
      if (end > 0) assert.equal(got.tls.sni, len >= end ? full.tls.sni : undefined, at);
      assert.ok(isPrefix(got.tls.ciphers, full.tls.ciphers), at);
      assert.ok(isPrefix(got.tls.extensions, full.tls.extensions), at);
      if (got.tls.alpn) assert.deepEqual(got.tls.alpn, full.tls.alpn, at);
      if (got.tls.version) assert.equal(got.tls.version, full.tls.version, at);
      if (got.tls.cipher) assert.equal(got.tls.cipher, full.tls.cipher, at);
    }
  }
});

test('truncated ClientHello keeps the SNI read before the cut', () => {
  const data = fixture('client-curl-h2');
  const end = sniEnd(data, 'api.openai.com');
  const got = parseTlsHello(data.subarray(0, end + 3));
  assert.equal(got.tls.truncated, true);
  assert.equal(got.tls.sni, 'api.openai.com');
  assert.equal(got.tls.ciphers!.length, 31);
  assert.equal(got.tls.legacy_version, 'TLS 1.2');
  assert.equal(got.tls.version, undefined); // supported_versions not seen yet
  assert.equal(got.needed, data.length);
  assert.equal(parseTlsHello(data.subarray(0, end - 1)).tls.sni, undefined);
});

// ---- fuzz ------------------------------------------------------------------


function parseOrParseError(data: Uint8Array, what: string): 'ok' | 'error' {
  try {
    const got = parseTlsHello(data);
    assert.ok(got.kind === 'client_hello' || got.kind === 'server_hello', what);
    assert.ok(Number.isInteger(got.needed) && got.needed >= 6, what);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ParseError)) throw new Error(`${what}: ${String(e)}`);
    assert.equal(e.code, 'BUSTED_E_TLS_MALFORMED', what);
    return 'error';
  }
}

test('fuzz: 10k random inputs only ever give a result or ParseError', { timeout: 60_000 }, () => {
  const rnd = prng(0xb057ed);
  const byte = (): number => Math.floor(rnd() * 256);
  let errors = 0;
  for (let i = 0; i < 10_000; i++) {
    const len = Math.floor(rnd() * 700);
    const data = new Uint8Array(len);
    for (let j = 0; j < len; j++) data[j] = byte();
    // Half the inputs get a plausible record + hello header so the body parser is reached too.
    if (i % 2 === 1 && len >= 9) {
      data.set([0x16, 0x03, 0x01 + Math.floor(rnd() * 3), (len - 5) >> 8, (len - 5) & 0xff, rnd() < 0.5 ? 1 : 2, 0, (len - 9) >> 8, (len - 9) & 0xff]);
    }
    if (parseOrParseError(data, `random #${i}`) === 'error') errors++;
  }
  assert.ok(errors > 5_000, `most random inputs are rejected (${errors})`);
  // Pure noise (no forced header) must always be rejected unless it happens to start like a hello.
  for (let i = 0; i < 1000; i++) {
    const data = new Uint8Array(1 + Math.floor(rnd() * 100));
    for (let j = 0; j < data.length; j++) data[j] = byte();
    if (data[0] === 0x16) data[0] = 0x15;
    assertMalformed(() => parseTlsHello(data));
  }
});

test('fuzz: 10k mutated fixtures only ever give a result or ParseError', { timeout: 60_000 }, () => {
  const rnd = prng(42);
  const sources = NAMES.map(hello);
  for (let i = 0; i < 10_000; i++) {
    const src = sources[i % sources.length]!;
    const data = src.slice(0, rnd() < 0.2 ? Math.floor(rnd() * src.length) : src.length);
    const flips = 1 + Math.floor(rnd() * 6);
    for (let k = 0; k < flips && data.length > 0; k++) {
      // Bias towards the first 64 bytes, where the length fields live.
      const at = Math.floor((rnd() < 0.5 ? Math.min(64, data.length) : data.length) * rnd());
      data[at] = rnd() < 0.3 ? (data[at]! ^ (1 << Math.floor(rnd() * 8))) : Math.floor(rnd() * 256);
    }
    parseOrParseError(data, `mutation #${i} of ${NAMES[i % NAMES.length]}`);
  }
});
