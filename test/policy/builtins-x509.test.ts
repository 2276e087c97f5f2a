// End-to-end tests of the crypto.x509.* host builtins
// (engine/policy/builtins/x509.ts) through the Rego → Wasm compiler.
//
// Certificates and CSRs are built here: a small DER writer (independent of
// the reader under test) lays out the structures of RFC 5280 and RFC 2986,
// and node:crypto signs them with real RSA 2048, EC P-256 and Ed25519 keys.
// Expected values are what Go's crypto/x509 and encoding/json give for the
// same bytes (OPA's results): enum numbers from x509.go, []byte as base64,
// *big.Int as an exact number. A builtin's error makes the expression
// undefined, as OPA's non-strict evaluation does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';

import { table, values } from './helpers.js';

/* ---------------------------------------------------------------- DER out */

const len = (n: number): Buffer => {
  if (n < 128) return Buffer.from([n]);
  const b: number[] = [];
  for (let x = n; x > 0; x >>= 8) b.unshift(x & 0xff);
  return Buffer.from([0x80 | b.length, ...b]);
};
const tlv = (tag: number, ...parts: Buffer[]): Buffer => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), len(body.length), body]);
};
const seq = (...p: Buffer[]): Buffer => tlv(0x30, ...p);
const set = (...p: Buffer[]): Buffer => tlv(0x31, ...p);
const int = (n: bigint): Buffer => {
  let h = n.toString(16);
  if (h.length % 2) h = `0${h}`;
  const b = Buffer.from(h, 'hex');
  return tlv(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
};
const oid = (s: string): Buffer => {
  const a = s.split('.').map(BigInt);
  const out = [Number(a[0]! * 40n + a[1]!)];
  for (const v of a.slice(2)) {
    const bytes: number[] = [];
    for (let x = v; ; x >>= 7n) {
      bytes.unshift(Number(x & 0x7fn) | (bytes.length ? 0x80 : 0));
      if (x < 0x80n) break;
    }
    out.push(...bytes);
  }
  return tlv(0x06, Buffer.from(out));
};
const utf8 = (s: string): Buffer => tlv(0x0c, Buffer.from(s));
const ia5 = (tag: number, s: string): Buffer => tlv(tag, Buffer.from(s, 'latin1'));
const octets = (b: Buffer): Buffer => tlv(0x04, b);
const bits = (b: Buffer, unused = 0): Buffer => tlv(0x03, Buffer.from([unused]), b);
const TRUE = tlv(0x01, Buffer.from([0xff]));
const NULL = tlv(0x05);
const time = (t: string): Buffer => tlv(t.length === 13 ? 0x17 : 0x18, Buffer.from(t));
const name = (...atvs: Array<[string, string]>): Buffer => seq(...atvs.map(([o, v]) => set(seq(oid(o), utf8(v)))));
const ext = (id: string, critical: boolean, value: Buffer): Buffer => seq(oid(id), ...(critical ? [TRUE] : []), octets(value));
const pem = (type: string, der: Buffer): string => `-----BEGIN ${type}-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END ${type}-----\n`;

const CN = '2.5.4.3';
const O = '2.5.4.10';
const OU = '2.5.4.11';
const C = '2.5.4.6';

/** signature algorithm, and how node signs with it */
function algOf(key: KeyObject): { ai: Buffer; hash: string | null } {
  if (key.asymmetricKeyType === 'rsa') return { ai: seq(oid('1.2.840.113549.1.1.11'), NULL), hash: 'sha256' };
  if (key.asymmetricKeyType === 'ec') return { ai: seq(oid('1.2.840.10045.4.3.2')), hash: 'sha256' };
  return { ai: seq(oid('1.3.101.112')), hash: null };
}

const spkiOf = (k: KeyObject): Buffer => k.export({ type: 'spki', format: 'der' });
const kid = (k: KeyObject): Buffer => createHash('sha1').update(spkiOf(k)).digest();

interface CertSpec {
  serial: bigint;
  issuer: Buffer;
  subject: Buffer;
  notBefore?: string;
  notAfter?: string;
  publicKey: KeyObject;
  signer: KeyObject;
  exts: Buffer[];
}

/** An X.509 v3 certificate, DER. */
function certificate(c: CertSpec): Buffer {
  const { ai, hash } = algOf(c.signer);
  const tbs = seq(
    tlv(0xa0, int(2n)),
    int(c.serial),
    ai,
    c.issuer,
    seq(time(c.notBefore ?? '250101000000Z'), time(c.notAfter ?? '491231235959Z')),
    c.subject,
    spkiOf(c.publicKey),
    tlv(0xa3, seq(...c.exts)),
  );
  return seq(tbs, ai, bits(sign(hash, tbs, c.signer)));
}

const basicConstraints = (ca: boolean, pathLen?: number): Buffer => ext('2.5.29.19', true, seq(...(ca ? [TRUE] : []), ...(pathLen === undefined ? [] : [int(BigInt(pathLen))])));
// keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, one unused bit
const caKeyUsage = ext('2.5.29.15', true, bits(Buffer.from([0x06]), 1));
const skid = (k: KeyObject): Buffer => ext('2.5.29.14', false, octets(kid(k)));
const akid = (k: KeyObject): Buffer => ext('2.5.29.35', false, seq(tlv(0x80, kid(k))));

const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const interKey = generateKeyPairSync('rsa', { modulusLength: 2048 });
const leafKey = generateKeyPairSync('ed25519');

const rootName = name([C, 'US'], [O, 'Busted Test'], [OU, 'Unit A'], [OU, 'Unit B'], [CN, 'Busted Root CA']);
const interName = name([CN, 'Busted Intermediate CA']);
const leafName = name([CN, 'www.example.com']);
const ROOT_SERIAL = 0x0123456789abcdef0123456789abcdefn;

const rootDer = certificate({
  serial: ROOT_SERIAL,
  issuer: rootName,
  subject: rootName,
  notBefore: '20250101000000Z',
  notAfter: '20491231235959.5Z',
  publicKey: rootKey.publicKey,
  signer: rootKey.privateKey,
  exts: [basicConstraints(true, 2), caKeyUsage, skid(rootKey.publicKey), ext('2.5.29.32', false, seq(seq(oid('2.23.140.1.2.1')), seq(oid('1.3.6.1.4.1.99999.1'))))],
});
const interDer = certificate({
  serial: 4660n,
  issuer: rootName,
  subject: interName,
  publicKey: interKey.publicKey,
  signer: rootKey.privateKey,
  exts: [
    basicConstraints(true, 0),
    caKeyUsage,
    skid(interKey.publicKey),
    akid(rootKey.publicKey),
    // permitted DNS example.com, IP 10.0.0.0/8 and 2001:db8::/32
    ext(
      '2.5.29.30',
      true,
      seq(
        tlv(
          0xa0,
          seq(ia5(0x82, 'example.com')),
          seq(tlv(0x87, Buffer.from([10, 0, 0, 0, 255, 0, 0, 0]))),
          seq(tlv(0x87, Buffer.from('20010db8000000000000000000000000ffffffff000000000000000000000000', 'hex'))),
        ),
      ),
    ),
    ext('1.3.6.1.5.5.7.1.1', false, seq(seq(oid('1.3.6.1.5.5.7.48.1'), ia5(0x86, 'http://ocsp.example.com')), seq(oid('1.3.6.1.5.5.7.48.2'), ia5(0x86, 'http://ca.example.com/root.crt')))),
    ext('2.5.29.31', false, seq(seq(tlv(0xa0, tlv(0xa0, ia5(0x86, 'http://crl.example.com/root.crl')))))),
  ],
});
const SANS = seq(
  ia5(0x82, 'www.example.com'),
  ia5(0x81, 'ops@example.com'),
  tlv(0x87, Buffer.from([10, 1, 2, 3])),
  tlv(0x87, Buffer.from('20010db8000000000000000000000001', 'hex')),
  ia5(0x86, 'https://svc.example.com/a%20b?q=1#frag'),
  ia5(0x86, 'spiffe://example.com/ns/default'),
  // an escaped non-ASCII byte pair: the path holds the bytes (é), String() escapes them back
  ia5(0x86, 'https://svc.example.com/caf%C3%A9'),
);
const leafExts = (sans: Buffer): Buffer[] => [
  basicConstraints(false),
  ext('2.5.29.15', true, bits(Buffer.from([0x80]), 7)), // digitalSignature
  ext('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'), oid('1.3.6.1.5.5.7.3.2'), oid('1.3.6.1.4.1.311.10.3.4'))),
  akid(interKey.publicKey),
  ext('2.5.29.17', false, sans),
];
const leafDer = certificate({ serial: 255n, issuer: interName, subject: leafName, publicKey: leafKey.publicKey, signer: interKey.privateKey, exts: leafExts(SANS) });
// a name the intermediate's constraints do not permit
const evilDer = certificate({ serial: 256n, issuer: interName, subject: leafName, publicKey: leafKey.publicKey, signer: interKey.privateKey, exts: leafExts(seq(ia5(0x82, 'evil.com'))) });

const root = pem('CERTIFICATE', rootDer);
const inter = pem('CERTIFICATE', interDer);
const leaf = pem('CERTIFICATE', leafDer);
const chain = root + inter + leaf;
const input = {
  root,
  leaf,
  chain,
  rootB64: rootDer.toString('base64'),
  chainB64: Buffer.from(chain).toString('base64'),
  derChainB64: Buffer.concat([rootDer, interDer]).toString('base64'),
  evil: root + inter + pem('CERTIFICATE', evilDer),
  tampered: root + inter + pem('CERTIFICATE', Buffer.concat([leafDer.subarray(0, -1), Buffer.from([leafDer[leafDer.length - 1]! ^ 1])])),
  noInter: root + leaf,
};

describe('rego → wasm: crypto.x509.parse_certificates', () => {
  it('reads the fields of x509.Certificate as Go marshals them', async () => {
    const c = 'crypto.x509.parse_certificates(input.root)[0]';
    await table(
      [
        [`count(crypto.x509.parse_certificates(input.chain))`, 3],
        [`${c}.Version`, 3],
        [`${c}.SignatureAlgorithm`, 10], // ECDSAWithSHA256
        [`${c}.PublicKeyAlgorithm`, 3], // ECDSA
        [`${c}.PublicKey.Curve`, {}],
        [`${c}.Subject.Country`, ['US']],
        [`${c}.Subject.OrganizationalUnit`, ['Unit A', 'Unit B']],
        [`${c}.Subject.CommonName`, 'Busted Root CA'],
        [`${c}.Subject.Locality`, null],
        [`${c}.Subject.Names[4]`, { Type: [2, 5, 4, 3], Value: 'Busted Root CA' }],
        [`${c}.Subject.ExtraNames`, null],
        [`${c}.RawSubject == ${c}.RawIssuer`, true],
        [`${c}.Raw`, rootDer.toString('base64')],
        [`${c}.NotBefore`, '2025-01-01T00:00:00Z'],
        [`${c}.NotAfter`, '2049-12-31T23:59:59.5Z'],
        [`${c}.KeyUsage`, 96], // CertSign | CRLSign
        [`${c}.BasicConstraintsValid`, true],
        [`${c}.IsCA`, true],
        [`${c}.MaxPathLen`, 2],
        [`${c}.MaxPathLenZero`, false],
        [`${c}.SubjectKeyId`, kid(rootKey.publicKey).toString('base64')],
        [`${c}.AuthorityKeyId`, null],
        [`${c}.Extensions[0]`, { Id: [2, 5, 29, 19], Critical: true, Value: seq(TRUE, int(2n)).toString('base64') }],
        [`${c}.PolicyIdentifiers`, [[2, 23, 140, 1, 2, 1], [1, 3, 6, 1, 4, 1, 99999, 1]]],
        [`${c}.Policies`, ['2.23.140.1.2.1', '1.3.6.1.4.1.99999.1']],
        [`${c}.InhibitAnyPolicy`, 0],
        [`${c}.PolicyMappings`, null],
        [`${c}.DNSNames`, null],
        [`${c}.URIStrings`, null],
        [`${c}.ExtraExtensions`, null],
        [`${c}.UnhandledCriticalExtensions`, null],
      ],
      input,
    );
  });

  it('keeps big integers exact: the serial number and the key', async () => {
    const c = 'crypto.x509.parse_certificates(input.root)[0]';
    const jwk = rootKey.publicKey.export({ format: 'jwk' });
    const dec = (v: string | undefined): string => BigInt(`0x${Buffer.from(v!, 'base64url').toString('hex')}`).toString();
    await table(
      [
        [`${c}.SerialNumber == ${ROOT_SERIAL}`, true],
        [`${c}.SerialNumber == ${ROOT_SERIAL + 1n}`, false],
        [`${c}.PublicKey.X == ${dec(jwk.x)}`, true],
        [`${c}.PublicKey.Y == ${dec(jwk.y)}`, true],
        [`crypto.x509.parse_certificates(input.chain)[1].PublicKey.N == ${dec(interKey.publicKey.export({ format: 'jwk' }).n)}`, true],
        [`crypto.x509.parse_certificates(input.chain)[1].PublicKey.E`, 65537],
      ],
      input,
    );
  });

  it('reads SANs, key usages, name constraints, AIA and CRL distribution points', async () => {
    const l = 'crypto.x509.parse_certificates(input.chain)[2]';
    const i = 'crypto.x509.parse_certificates(input.chain)[1]';
    await table(
      [
        [`${l}.PublicKeyAlgorithm`, 4], // Ed25519
        [`${l}.PublicKey`, spkiOf(leafKey.publicKey).subarray(-32).toString('base64')],
        [`${l}.SignatureAlgorithm`, 4], // SHA256WithRSA
        [`${l}.DNSNames`, ['www.example.com']],
        [`${l}.EmailAddresses`, ['ops@example.com']],
        [`${l}.IPAddresses`, ['10.1.2.3', '2001:db8::1']],
        [`${l}.URIStrings`, ['https://svc.example.com/a%20b?q=1#frag', 'spiffe://example.com/ns/default', 'https://svc.example.com/caf%C3%A9']],
        // as Go's json.Marshal of url.Parse's result (checked with Go 1.19)
        [`${l}.URIs[2]`, { Scheme: 'https', Opaque: '', User: null, Host: 'svc.example.com', Path: '/café', RawPath: '', OmitHost: false, ForceQuery: false, RawQuery: '', Fragment: '', RawFragment: '' }],
        [
          `${l}.URIs[0]`,
          { Scheme: 'https', Opaque: '', User: null, Host: 'svc.example.com', Path: '/a b', RawPath: '', OmitHost: false, ForceQuery: false, RawQuery: 'q=1', Fragment: 'frag', RawFragment: '' },
        ],
        [`${l}.KeyUsage`, 1],
        [`${l}.ExtKeyUsage`, [1, 2]],
        [`${l}.UnknownExtKeyUsage`, [[1, 3, 6, 1, 4, 1, 311, 10, 3, 4]]],
        [`${l}.BasicConstraintsValid`, true],
        [`${l}.IsCA`, false],
        [`${l}.MaxPathLen`, -1],
        [`${i}.MaxPathLen`, 0],
        [`${i}.MaxPathLenZero`, true],
        [`${i}.PermittedDNSDomainsCritical`, true],
        [`${i}.PermittedDNSDomains`, ['example.com']],
        [`${i}.ExcludedDNSDomains`, null],
        [
          `${i}.PermittedIPRanges`,
          [
            { IP: '10.0.0.0', Mask: '/wAAAA==' },
            { IP: '2001:db8::', Mask: '/////wAAAAAAAAAAAAAAAA==' },
          ],
        ],
        [`${i}.OCSPServer`, ['http://ocsp.example.com']],
        [`${i}.IssuingCertificateURL`, ['http://ca.example.com/root.crt']],
        [`${i}.CRLDistributionPoints`, ['http://crl.example.com/root.crl']],
        [`${i}.AuthorityKeyId`, kid(rootKey.publicKey).toString('base64')],
      ],
      input,
    );
  });

  it('takes PEM, base64 of PEM and base64 of DER; anything else is an error', async () => {
    await table(
      [
        ['[c.Subject.CommonName | c := crypto.x509.parse_certificates(input.chainB64)[_]]', ['Busted Root CA', 'Busted Intermediate CA', 'www.example.com']],
        ['[c.Subject.CommonName | c := crypto.x509.parse_certificates(input.derChainB64)[_]]', ['Busted Root CA', 'Busted Intermediate CA']],
        ['crypto.x509.parse_certificates(input.rootB64)[0].Raw', rootDer.toString('base64')],
        ['crypto.x509.parse_certificates("foobar")', undefined], // illegal base64 data at input byte 4
        ['crypto.x509.parse_certificates("YmFkc3RyaW5n")', undefined], // x509: malformed certificate
        ['crypto.x509.parse_certificates(concat("", [input.rootB64, "AA=="]))', undefined], // trailing bytes
        ['crypto.x509.parse_certificates(replace(input.root, "CERTIFICATE", "PUBLIC KEY"))', undefined],
      ],
      input,
    );
  });

  it('refuses what Go refuses: a negative serial number, duplicate extensions', async () => {
    const neg = certificate({ serial: 1n, issuer: leafName, subject: leafName, publicKey: leafKey.publicKey, signer: leafKey.privateKey, exts: [] });
    // the serial INTEGER 01 becomes ff (-1)
    const at = neg.indexOf(Buffer.from([0x02, 0x01, 0x01]));
    neg[at + 2] = 0xff;
    const dup = certificate({ serial: 2n, issuer: leafName, subject: leafName, publicKey: leafKey.publicKey, signer: leafKey.privateKey, exts: [basicConstraints(false), basicConstraints(false)] });
    await table(
      [
        ['crypto.x509.parse_certificates(input.neg)', undefined],
        ['crypto.x509.parse_certificates(input.dup)', undefined],
      ],
      { neg: pem('CERTIFICATE', neg), dup: pem('CERTIFICATE', dup) },
    );
  });
});

describe('rego → wasm: crypto.x509.parse_and_verify_certificates', () => {
  it('verifies root, intermediates, leaf and answers the chain leaf first', async () => {
    const [v] = await values(['[v[0], [c.Subject.CommonName | c := v[1][_]], v[1][0].URIStrings] if { v := crypto.x509.parse_and_verify_certificates(input.chain) }'], input);
    assert.deepEqual(v, [true, ['www.example.com', 'Busted Intermediate CA', 'Busted Root CA'], ['https://svc.example.com/a%20b?q=1#frag', 'spiffe://example.com/ns/default', 'https://svc.example.com/caf%C3%A9']]);
  });

  it('is [false, []] for a chain that does not verify or does not parse', async () => {
    await table(
      [
        ['crypto.x509.parse_and_verify_certificates(input.tampered)', [false, []]],
        ['crypto.x509.parse_and_verify_certificates(input.noInter)', [false, []]],
        ['crypto.x509.parse_and_verify_certificates(input.evil)', [false, []]], // name constraints
        ['crypto.x509.parse_and_verify_certificates(input.root)', [false, []]], // one certificate
        ['crypto.x509.parse_and_verify_certificates("foobar")', [false, []]],
      ],
      input,
    );
  });

  it('with options: DNSName, CurrentTime, KeyUsages; the chain without URIStrings', async () => {
    const ns = (iso: string): string => (BigInt(Date.parse(iso)) * 1_000_000n).toString();
    const f = (opts: string): string => `crypto.x509.parse_and_verify_certificates_with_options(input.chain, ${opts})[0]`;
    await table(
      [
        [f('{"DNSName": "www.example.com"}'), true],
        [f('{"DNSName": "WWW.example.COM."}'), true],
        [f('{"DNSName": "10.1.2.3"}'), true],
        [f('{"DNSName": "other.example.com"}'), false],
        [f(`{"CurrentTime": ${ns('2030-01-01T00:00:00Z')}}`), true],
        [f(`{"CurrentTime": ${ns('2050-01-01T00:00:00Z')}}`), false],
        [f(`{"CurrentTime": ${ns('2024-01-01T00:00:00Z')}}`), false],
        [f('{"KeyUsages": ["KeyUsageClientAuth"]}'), true],
        [f('{"KeyUsages": {"KeyUsageCodeSigning"}}'), false],
        [f('{"KeyUsages": ["KeyUsageAny"], "MaxConstraintComparisons": 10}'), true],
        [f('{"MaxConstraintComparisons": 1}'), false],
        ['crypto.x509.parse_and_verify_certificates_with_options(input.chain, {})[1][0].URIStrings', undefined],
        // option errors are errors, after the certificates parse
        [f('{"KeyUsages": ["NoSuchUsage"]}'), undefined],
        [f('{"DNSName": 1}'), undefined],
        [f('{"CurrentTime": 1.5}'), undefined],
        [f('{"Other": 1}'), undefined],
        ['crypto.x509.parse_and_verify_certificates_with_options("foobar", {"Other": 1})', [false, []]],
      ],
      input,
    );
  });
});

describe('rego → wasm: crypto.x509.parse_certificate_request', () => {
  const csrKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const extReq = seq(oid('1.2.840.113549.1.9.14'), set(seq(ext('2.5.29.17', false, seq(ia5(0x82, 'csr.example.com'), tlv(0x87, Buffer.from([192, 168, 0, 1])))), ext('2.5.29.15', true, bits(Buffer.from([0x80]), 7)))));
  const challenge = seq(oid('1.2.840.113549.1.9.7'), set(tlv(0x13, Buffer.from('secret'))));
  const tbs = seq(int(0n), name([C, 'DE'], [CN, 'csr.example.com']), spkiOf(csrKey.publicKey), tlv(0xa0, challenge, extReq));
  const { ai } = algOf(csrKey.privateKey);
  const csr = seq(tbs, ai, bits(sign('sha256', tbs, csrKey.privateKey)));
  const csrPem = pem('CERTIFICATE REQUEST', csr);

  it('reads x509.CertificateRequest as Go marshals it', async () => {
    const r = 'crypto.x509.parse_certificate_request(input.csr)';
    await table(
      [
        [`${r}.Version`, 0],
        [`${r}.Subject.CommonName`, 'csr.example.com'],
        [`${r}.Subject.Country`, ['DE']],
        [`${r}.SignatureAlgorithm`, 10],
        [`${r}.PublicKeyAlgorithm`, 3],
        [`${r}.DNSNames`, ['csr.example.com']],
        [`${r}.IPAddresses`, ['192.168.0.1']],
        [`${r}.URIs`, null],
        [`${r}.Extensions[1]`, { Id: [2, 5, 29, 15], Critical: true, Value: bits(Buffer.from([0x80]), 7).toString('base64') }],
        // the challengePassword does not read as AttributeTypeAndValueSET and is left out; a
        // critical extension's BOOLEAN is no value encoding/asn1 reads into an interface (nil)
        [
          `${r}.Attributes`,
          [
            {
              Type: [1, 2, 840, 113549, 1, 9, 14],
              Value: [
                [
                  { Type: [2, 5, 29, 17], Value: seq(ia5(0x82, 'csr.example.com'), tlv(0x87, Buffer.from([192, 168, 0, 1]))).toString('base64') },
                  { Type: [2, 5, 29, 15], Value: null },
                ],
              ],
            },
          ],
        ],
        [`${r}.Raw`, csr.toString('base64')],
        ['crypto.x509.parse_certificate_request(input.b64pem).Subject.CommonName', 'csr.example.com'],
        ['crypto.x509.parse_certificate_request(input.b64der).Subject.CommonName', 'csr.example.com'],
        ['crypto.x509.parse_certificate_request("YmFkc3RyaW5n")', undefined], // asn1: structure error
        ['crypto.x509.parse_certificate_request("foobar")', undefined], // illegal base64
        ['crypto.x509.parse_certificate_request(input.cert)', undefined], // a CERTIFICATE block
      ],
      { csr: csrPem, b64pem: Buffer.from(csrPem).toString('base64'), b64der: csr.toString('base64'), cert: Buffer.from(root).toString('base64') },
    );
  });
});

describe('rego → wasm: crypto.x509.parse_keypair', () => {
  const key = pem('PRIVATE KEY', interKey.privateKey.export({ type: 'pkcs8', format: 'der' }));
  const rsa1 = interKey.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
  const keypairInput = {
    cert: inter + root,
    key,
    rsa1,
    certB64: Buffer.from(inter).toString('base64'),
    keyDerB64: interKey.privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    leafCert: leaf,
    edKey: pem('PRIVATE KEY', leafKey.privateKey.export({ type: 'pkcs8', format: 'der' })),
    ecKey: rootKey.privateKey.export({ type: 'sec1', format: 'pem' }),
    root,
  };

  it('returns tls.Certificate: the DER chain, the private key and the parsed leaf', async () => {
    const jwk = interKey.privateKey.export({ format: 'jwk' });
    const dec = (v: string | undefined): string => BigInt(`0x${Buffer.from(v!, 'base64url').toString('hex')}`).toString();
    const k = 'crypto.x509.parse_keypair(input.cert, input.key)';
    await table(
      [
        [`${k}.Certificate`, [interDer.toString('base64'), rootDer.toString('base64')]],
        [`${k}.Leaf.Subject.CommonName`, 'Busted Intermediate CA'],
        [`object.get(${k}.Leaf, "URIStrings", "none")`, 'none'],
        [`${k}.PrivateKey.E`, 65537],
        [`${k}.PrivateKey.N == ${dec(jwk.n)}`, true],
        [`${k}.PrivateKey.Primes[1] == ${dec(jwk.q)}`, true],
        [`${k}.PrivateKey.Precomputed.CRTValues`, []],
        [`[${k}.SupportedSignatureAlgorithms, ${k}.OCSPStaple, ${k}.SignedCertificateTimestamps]`, [null, null, null]],
        ['crypto.x509.parse_keypair(input.cert, input.rsa1).Leaf.IsCA', true],
        ['crypto.x509.parse_keypair(input.certB64, input.keyDerB64).Certificate', [interDer.toString('base64')]],
        ['crypto.x509.parse_keypair(input.leafCert, input.edKey).PrivateKey', leafKey.privateKey.export({ format: 'jwk' }).d ? Buffer.concat([Buffer.from(leafKey.privateKey.export({ format: 'jwk' }).d!, 'base64url'), spkiOf(leafKey.publicKey).subarray(-32)]).toString('base64') : ''],
        ['crypto.x509.parse_keypair(input.root, input.ecKey).PrivateKey.Curve', {}],
        ['crypto.x509.parse_keypair(input.root, input.key)', undefined], // key type does not match
        ['crypto.x509.parse_keypair(input.leafCert, input.key)', undefined],
        ['crypto.x509.parse_keypair(input.key, input.cert)', undefined], // switched
      ],
      keypairInput,
    );
  });
});

describe('rego → wasm: crypto.x509.parse_rsa_private_key', () => {
  it('returns the RSA key as a JWK; ECDSA keys as jwx marshals them; errors', async () => {
    const rsa = interKey.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string;
    const jwk = interKey.privateKey.export({ format: 'jwk' });
    await table(
      [
        ['crypto.x509.parse_rsa_private_key(input.rsa)', { kty: 'RSA', n: jwk.n, e: jwk.e, d: jwk.d, p: jwk.p, q: jwk.q, dp: jwk.dp, dq: jwk.dq, qi: jwk.qi }],
        ['crypto.x509.parse_rsa_private_key(input.b64)', { kty: 'RSA', n: jwk.n, e: jwk.e, d: jwk.d, p: jwk.p, q: jwk.q, dp: jwk.dp, dq: jwk.dq, qi: jwk.qi }],
        ['crypto.x509.parse_rsa_private_key(input.ec)', { kty: 'EC' }],
        ['crypto.x509.parse_rsa_private_key(input.ed)', undefined], // jwx: invalid key type
        ['crypto.x509.parse_rsa_private_key("-----BEGIN nothing")', null],
        ['crypto.x509.parse_rsa_private_key("invalid")', undefined], // illegal base64
        ['crypto.x509.parse_rsa_private_key("")', undefined], // input PEM data was empty
      ],
      {
        rsa,
        b64: Buffer.from(rsa).toString('base64'),
        ec: rootKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
        ed: leafKey.privateKey.export({ type: 'pkcs8', format: 'pem' }),
      },
    );
  });
});
