// End-to-end tests of the JWT, crypto and encoding host builtins
// (engine/policy/builtins/jwt.ts) through the Rego → Wasm compiler.
//
// Tokens and keys are made here with node:crypto, independently of the
// builtins under test, and expected values are OPA's documented results
// (https://www.openpolicyagent.org/docs/latest/policy-reference/#tokens,
// #crypto, #encoding) or published vectors: RFC 1321 (MD5), FIPS 180
// (SHA-1), RFC 2202 and RFC 4231 (HMAC). A builtin's error makes the
// expression undefined, as OPA's non-strict evaluation does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { constants, createHmac, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

import { load, result } from './helpers.js';

/** Evaluates each expression as `rN := <expr>` in one module: the results in order (undefined where the rule is). */
async function values(exprs: string[], input?: unknown): Promise<unknown[]> {
  const src = `package t\n${exprs.map((e, i) => `r${i} := ${e}`).join('\n')}\n`;
  const eps = exprs.map((_, i) => `t/r${i}`);
  const p = await load(src, eps);
  return eps.map((ep) => result(p, ep, input));
}

/** Table-driven: [expression, expected] pairs, one module. */
async function table(cases: Array<[string, unknown]>, input?: unknown): Promise<void> {
  const got = await values(
    cases.map(([e]) => e),
    input,
  );
  cases.forEach(([e, want], i) => assert.deepEqual(got[i], want, e));
}

const seg = (v: unknown): string => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

/** A compact JWS signed by `signer` over its two first segments. */
function token(header: unknown, payload: unknown, signer: (input: Buffer) => Buffer): string {
  const input = `${seg(header)}.${seg(payload)}`;
  return `${input}.${signer(Buffer.from(input)).toString('base64url')}`;
}

const hs = (secret: string, hash = 'sha256') => (input: Buffer) => createHmac(hash, secret).update(input).digest();
const rs = (key: KeyObject, hash = 'sha256') => (input: Buffer) => sign(hash, input, key);
const ps = (key: KeyObject, hash = 'sha256') => (input: Buffer) =>
  sign(hash, input, { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST });
const es = (key: KeyObject, hash = 'sha256') => (input: Buffer) => sign(hash, input, { key, dsaEncoding: 'ieee-p1363' });
const ed = (key: KeyObject) => (input: Buffer) => sign(null, input, key);

/** Replaces a token's payload, keeping its header and signature. */
const tamper = (jwt: string, payload: unknown): string => {
  const [h, , s] = jwt.split('.');
  return `${h}.${seg(payload)}.${s}`;
};

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'P-384' });
const edKeys = generateKeyPairSync('ed25519');
const pem = (k: KeyObject): string => k.export({ type: 'spki', format: 'pem' }) as string;
const jwk = (k: KeyObject, extra: Record<string, string> = {}): string => JSON.stringify({ ...k.export({ format: 'jwk' }), ...extra });

describe('rego → wasm: io.jwt.decode', () => {
  it('returns header, payload and the signature as hex', async () => {
    const t = token({ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', n: [1, 'x'] }, hs('k'));
    const sig = createHmac('sha256', 'k').update(t.split('.').slice(0, 2).join('.')).digest('hex');
    await table([['io.jwt.decode(input.t)', [{ alg: 'HS256', typ: 'JWT' }, { sub: 'alice', n: [1, 'x'] }, sig]]], { t });
  });

  it('keeps integers past 2^53 exact and lets the last of duplicate keys win', async () => {
    const t = `${seg({ alg: 'none' })}.${seg('{"id": 12345678901234567890, "iss": "a", "iss": "b"}')}.`;
    await table(
      [
        ['io.jwt.decode(input.t)[1].id == 12345678901234567890', true],
        ['io.jwt.decode(input.t)[1].id == 12345678901234567891', false],
        ['io.jwt.decode(input.t)[1].iss', 'b'],
        ['io.jwt.decode(input.t)[2]', ''],
      ],
      { t },
    );
  });

  it('decodes a nested token (cty "JWT"), its quotes removed', async () => {
    const inner = token({ alg: 'HS256' }, { sub: 'inner' }, hs('k'));
    const outer = token({ alg: 'HS256', cty: 'JWT' }, `"${inner}"`, hs('k'));
    await table([['io.jwt.decode(input.t)[1]', { sub: 'inner' }]], { t: outer });
  });

  it('is undefined for what is not a JWS', async () => {
    const ok = token({ alg: 'HS256' }, { a: 1 }, hs('k'));
    const [h, p, s] = ok.split('.');
    await table(
      [
        ['io.jwt.decode("abc")', undefined], // no period
        [`io.jwt.decode("${h}.${p}")`, undefined], // two sections
        [`io.jwt.decode("${h}+.${p}.${s}")`, undefined], // '+' is not base64url
        [`io.jwt.decode("${h}.${p}.${s}/")`, undefined],
        [`io.jwt.decode("${seg({ alg: 'HS256', enc: 'A128GCM' })}.${p}.${s}")`, undefined], // a JWE
        [`io.jwt.decode("${h}.${seg('[1]')}.${s}")`, undefined], // payload not an object
        [`io.jwt.decode("${h}.${p}.${s}")[1]`, { a: 1 }],
      ],
      {},
    );
  });
});

describe('rego → wasm: io.jwt.verify_*', () => {
  it('HS256/384/512: the right secret only, over the untampered token', async () => {
    const t256 = token({ alg: 'HS256' }, { sub: 'a' }, hs('secret'));
    const t384 = token({ alg: 'HS384' }, { sub: 'a' }, hs('secret', 'sha384'));
    const t512 = token({ alg: 'HS512' }, { sub: 'a' }, hs('secret', 'sha512'));
    await table(
      [
        ['io.jwt.verify_hs256(input.t256, "secret")', true],
        ['io.jwt.verify_hs256(input.t256, "wrong")', false],
        ['io.jwt.verify_hs256(input.tampered, "secret")', false],
        ['io.jwt.verify_hs384(input.t384, "secret")', true],
        ['io.jwt.verify_hs384(input.t256, "secret")', false], // a HS256 MAC is not a HS384 one
        ['io.jwt.verify_hs512(input.t512, "secret")', true],
        ['io.jwt.verify_hs256("a.b", "secret")', undefined],
      ],
      { t256, t384, t512, tampered: tamper(t256, { sub: 'b' }) },
    );
  });

  it('RS, PS, ES and EdDSA with a PEM public key or a JWK', async () => {
    const input = {
      rs256: token({ alg: 'RS256' }, { sub: 'a' }, rs(rsa.privateKey)),
      rs512: token({ alg: 'RS512' }, { sub: 'a' }, rs(rsa.privateKey, 'sha512')),
      ps256: token({ alg: 'PS256' }, { sub: 'a' }, ps(rsa.privateKey)),
      ps384: token({ alg: 'PS384' }, { sub: 'a' }, ps(rsa.privateKey, 'sha384')),
      es256: token({ alg: 'ES256' }, { sub: 'a' }, es(ec.privateKey)),
      es384: token({ alg: 'ES384' }, { sub: 'a' }, es(ec384.privateKey, 'sha384')),
      eddsa: token({ alg: 'EdDSA' }, { sub: 'a' }, ed(edKeys.privateKey)),
      rsaPem: pem(rsa.publicKey),
      rsaJwk: jwk(rsa.publicKey),
      otherRsa: pem(rsa2.publicKey),
      ecPem: pem(ec.publicKey),
      ecJwk: jwk(ec.publicKey),
      ec384Pem: pem(ec384.publicKey),
      edPem: pem(edKeys.publicKey),
      edJwk: jwk(edKeys.publicKey),
    };
    await table(
      [
        ['io.jwt.verify_rs256(input.rs256, input.rsaPem)', true],
        ['io.jwt.verify_rs256(input.rs256, input.rsaJwk)', true],
        ['io.jwt.verify_rs256(input.rs256, input.otherRsa)', false],
        ['io.jwt.verify_rs256(input.rs512, input.rsaPem)', false], // the hash is the builtin's
        ['io.jwt.verify_rs512(input.rs512, input.rsaPem)', true],
        ['io.jwt.verify_ps256(input.ps256, input.rsaPem)', true],
        ['io.jwt.verify_ps256(input.rs256, input.rsaPem)', false], // PKCS#1 v1.5 is not PSS
        ['io.jwt.verify_ps384(input.ps384, input.rsaJwk)', true],
        ['io.jwt.verify_es256(input.es256, input.ecPem)', true],
        ['io.jwt.verify_es256(input.es256, input.ecJwk)', true],
        ['io.jwt.verify_es256(input.es256, input.ec384Pem)', false],
        ['io.jwt.verify_es384(input.es384, input.ec384Pem)', true],
        ['io.jwt.verify_es256(input.es256, input.rsaPem)', false], // a key of another kind
        ['io.jwt.verify_eddsa(input.eddsa, input.edPem)', true],
        ['io.jwt.verify_eddsa(input.eddsa, input.edJwk)', true],
        ['io.jwt.verify_eddsa(input.es256, input.edPem)', false],
        ['io.jwt.verify_rs256(input.rs256, "not a key")', undefined],
        ['io.jwt.verify_rs256(input.rs256, concat("", [input.rsaPem, "extra"]))', undefined], // data after the PEM block
        ['io.jwt.verify_rs256(input.rs256, "{\\"kty\\": \\"bogus\\"}")', undefined],
      ],
      input,
    );
  });

  it('tampered payloads do not verify', async () => {
    const input = {
      rs: tamper(token({ alg: 'RS256' }, { admin: false }, rs(rsa.privateKey)), { admin: true }),
      es: tamper(token({ alg: 'ES256' }, { admin: false }, es(ec.privateKey)), { admin: true }),
      ed: tamper(token({ alg: 'EdDSA' }, { admin: false }, ed(edKeys.privateKey)), { admin: true }),
      rsaPem: pem(rsa.publicKey),
      ecPem: pem(ec.publicKey),
      edPem: pem(edKeys.publicKey),
    };
    await table(
      [
        ['io.jwt.verify_rs256(input.rs, input.rsaPem)', false],
        ['io.jwt.verify_es256(input.es, input.ecPem)', false],
        ['io.jwt.verify_eddsa(input.ed, input.edPem)', false],
      ],
      input,
    );
  });

  it('a JWKS: the key whose kid is the header\'s, or any key whose alg matches', async () => {
    const jwks = JSON.stringify({
      keys: [
        { ...rsa2.publicKey.export({ format: 'jwk' }), kid: 'k2', alg: 'RS256' },
        { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256' },
      ],
    });
    const input = {
      jwks,
      byKid: token({ alg: 'RS256', kid: 'k1' }, { a: 1 }, rs(rsa.privateKey)),
      wrongKid: token({ alg: 'RS256', kid: 'k2' }, { a: 1 }, rs(rsa.privateKey)),
      noKid: token({ alg: 'RS256' }, { a: 1 }, rs(rsa.privateKey)),
      otherAlg: token({ alg: 'PS256' }, { a: 1 }, ps(rsa.privateKey)),
    };
    await table(
      [
        ['io.jwt.verify_rs256(input.byKid, input.jwks)', true],
        ['io.jwt.verify_rs256(input.wrongKid, input.jwks)', false], // only the kid's key is tried
        ['io.jwt.verify_rs256(input.noKid, input.jwks)', true],
        ['io.jwt.verify_ps256(input.otherAlg, input.jwks)', false], // the keys are RS256 keys
      ],
      input,
    );
  });
});

describe('rego → wasm: io.jwt.decode_verify', () => {
  const unverified = [false, {}, {}];

  it('a valid token: [true, header, payload]; a bad signature or key: [false, {}, {}]', async () => {
    const t = token({ alg: 'HS256', typ: 'JWT' }, { sub: 'a' }, hs('secret'));
    const r = token({ alg: 'RS256' }, { sub: 'a' }, rs(rsa.privateKey));
    await table(
      [
        ['io.jwt.decode_verify(input.t, {"secret": "secret"})', [true, { alg: 'HS256', typ: 'JWT' }, { sub: 'a' }]],
        ['io.jwt.decode_verify(input.t, {"secret": "wrong"})', unverified],
        ['io.jwt.decode_verify(input.tampered, {"secret": "secret"})', unverified],
        ['io.jwt.decode_verify(input.r, {"cert": input.rsaPem})', [true, { alg: 'RS256' }, { sub: 'a' }]],
        ['io.jwt.decode_verify(input.r, {"cert": input.otherPem})', unverified],
        ['io.jwt.decode_verify(input.r, {"secret": "secret"})', unverified], // RS256 needs a public key
        ['io.jwt.decode_verify(input.t, {"cert": input.rsaPem})', unverified], // HS256 needs a secret
        ['io.jwt.decode_verify(input.t, {"secret": "secret", "alg": "HS256"})[0]', true],
        ['io.jwt.decode_verify(input.t, {"secret": "secret", "alg": "HS512"})', unverified],
        ['io.jwt.decode_verify(input.none, {"secret": "secret"})', unverified], // alg "none" never verifies
        // RFC 7515 §4.1.11: a critical header member we do not know invalidates the token
        ['io.jwt.decode_verify(input.crit, {"secret": "secret"})', unverified],
        ['io.jwt.decode_verify(input.critKnown, {"secret": "secret"})[0]', true],
      ],
      {
        t,
        r,
        tampered: tamper(t, { sub: 'b' }),
        rsaPem: pem(rsa.publicKey),
        otherPem: pem(rsa2.publicKey),
        none: `${seg({ alg: 'none' })}.${seg({ sub: 'a' })}.`,
        crit: token({ alg: 'HS256', crit: ['ext'], ext: 1 }, { sub: 'a' }, hs('secret')),
        critKnown: token({ alg: 'HS256', crit: ['kid'], kid: 'x' }, { sub: 'a' }, hs('secret')),
      },
    );
  });

  it('exp, nbf, iss and aud against the constraints', async () => {
    const s = (payload: unknown): string => token({ alg: 'HS256' }, payload, hs('k'));
    const input = {
      exp: s({ exp: 1000 }),
      nbf: s({ nbf: 1000 }),
      fracNbf: s({ nbf: 1000.5 }),
      past: s({ exp: 1 }),
      iss: s({ iss: 'opa' }),
      aud: s({ aud: 'bob' }),
      auds: s({ aud: ['bob', 'saul'] }),
      badExp: s({ exp: 'soon' }),
    };
    await table(
      [
        ['io.jwt.decode_verify(input.exp, {"secret": "k", "time": 999000000000})[0]', true],
        ['io.jwt.decode_verify(input.exp, {"secret": "k", "time": 1000000000000})[0]', false], // exp is exclusive
        ['io.jwt.decode_verify(input.past, {"secret": "k"})[0]', false], // now, by default
        ['io.jwt.decode_verify(input.nbf, {"secret": "k", "time": 1000000000000})[0]', true], // nbf is inclusive
        ['io.jwt.decode_verify(input.nbf, {"secret": "k", "time": 999000000000})[0]', false],
        ['io.jwt.decode_verify(input.fracNbf, {"secret": "k", "time": 1000400000000})[0]', false],
        ['io.jwt.decode_verify(input.fracNbf, {"secret": "k", "time": 1000500000000})[0]', true],
        ['io.jwt.decode_verify(input.iss, {"secret": "k", "iss": "opa"})[0]', true],
        ['io.jwt.decode_verify(input.iss, {"secret": "k", "iss": "other"})[0]', false],
        ['io.jwt.decode_verify(input.exp, {"secret": "k", "iss": "opa", "time": 0})[0]', false], // iss required
        ['io.jwt.decode_verify(input.aud, {"secret": "k", "aud": "bob"})[0]', true],
        ['io.jwt.decode_verify(input.aud, {"secret": "k", "aud": "saul"})[0]', false],
        ['io.jwt.decode_verify(input.auds, {"secret": "k", "aud": "saul"})[0]', true],
        ['io.jwt.decode_verify(input.aud, {"secret": "k"})[0]', false], // a token with aud needs an aud constraint
        ['io.jwt.decode_verify(input.iss, {"secret": "k", "aud": "bob"})[0]', false],
        ['io.jwt.decode_verify(input.badExp, {"secret": "k"})', undefined], // exp must be a number
      ],
      input,
    );
  });

  it('bad constraints are errors, not false', async () => {
    const t = token({ alg: 'HS256' }, { a: 1 }, hs('k'));
    await table(
      [
        ['io.jwt.decode_verify(input.t, {})', undefined], // no key
        ['io.jwt.decode_verify(input.t, {"secret": "k", "cert": input.pem})', undefined], // two keys
        ['io.jwt.decode_verify(input.t, {"secret": "k", "colour": "red"})', undefined],
        ['io.jwt.decode_verify(input.t, {"secret": "k", "time": -1})', undefined],
        ['io.jwt.decode_verify(input.t, {"secret": "k", "time": "now"})', undefined],
        ['io.jwt.decode_verify(input.t, {"secret": "k"})[0]', true],
      ],
      { t, pem: pem(rsa.publicKey) },
    );
  });

  it('a JWKS and nested tokens', async () => {
    const jwks = JSON.stringify({ keys: [JSON.parse(jwk(ec.publicKey, { kid: 'e', alg: 'ES256' })), JSON.parse(jwk(rsa.publicKey, { kid: 'r' }))] });
    const inner = token({ alg: 'RS256', kid: 'r' }, { sub: 'inner' }, rs(rsa.privateKey));
    const nested = token({ alg: 'ES256', cty: 'jwt' }, inner, es(ec.privateKey));
    const forged = token({ alg: 'ES256', cty: 'JWT' }, tamper(inner, { sub: 'mallory' }), es(ec.privateKey));
    await table(
      [
        ['io.jwt.decode_verify(input.inner, {"cert": input.jwks})', [true, { alg: 'RS256', kid: 'r' }, { sub: 'inner' }]],
        ['io.jwt.decode_verify(input.nested, {"cert": input.jwks})', [true, { alg: 'RS256', kid: 'r' }, { sub: 'inner' }]],
        ['io.jwt.decode_verify(input.forged, {"cert": input.jwks})', unverified], // each level is verified
      ],
      { jwks, inner, nested, forged },
    );
  });
});

describe('rego → wasm: io.jwt.encode_sign', () => {
  it('signs Go\'s JSON of the operands: HS256 as an independent HMAC computes it', async () => {
    const k = Buffer.from('a secret of thirty-two bytes!!!!');
    const input = `${seg('{"alg":"HS256","typ":"JWT"}')}.${seg('{"a":"\\u003c\\u0026\\u003e","b":[1,2],"exp":1300819380}')}`;
    const want = `${input}.${createHmac('sha256', k).update(input).digest('base64url')}`;
    await table(
      [
        [`io.jwt.encode_sign({"typ": "JWT", "alg": "HS256"}, {"exp": 1300819380, "b": [1, 2], "a": "<&>"}, {"kty": "oct", "k": "${k.toString('base64url')}"})`, want],
        // a set is an array, as OPA marshals it
        [`io.jwt.encode_sign({"typ": "JWT", "alg": "HS256"}, {"exp": 1300819380, "b": {2, 1}, "a": "<&>"}, {"kty": "oct", "k": "${k.toString('base64url')}"})`, want],
      ],
      {},
    );
  });

  it('RS256, PS256, ES256 and EdDSA signatures that node verifies', async () => {
    const got = (await values(
      [
        'io.jwt.encode_sign({"alg": "RS256"}, {"sub": "a"}, input.rsa)',
        'io.jwt.encode_sign({"alg": "PS256"}, {"sub": "a"}, input.rsa)',
        'io.jwt.encode_sign({"alg": "ES256"}, {"sub": "a"}, input.ec)',
        'io.jwt.encode_sign({"alg": "EdDSA"}, {"sub": "a"}, input.ed)',
        'io.jwt.encode_sign({"alg": "ES256"}, {"sub": "a"}, input.rsa)', // key of the wrong kind
      ],
      { rsa: rsa.privateKey.export({ format: 'jwk' }), ec: ec.privateKey.export({ format: 'jwk' }), ed: edKeys.privateKey.export({ format: 'jwk' }) },
    )) as string[];
    const parts = (t: string): [Buffer, Buffer] => {
      const [h, p, s] = t.split('.');
      assert.equal(p, seg({ sub: 'a' }));
      return [Buffer.from(`${h}.${p}`), Buffer.from(s!, 'base64url')];
    };
    let [data, sig] = parts(got[0]!);
    assert.ok(verify('sha256', data, rsa.publicKey, sig), 'RS256');
    [data, sig] = parts(got[1]!);
    assert.ok(verify('sha256', data, { key: rsa.publicKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, sig), 'PS256');
    [data, sig] = parts(got[2]!);
    assert.equal(sig.length, 64, 'ES256 is r||s');
    assert.ok(verify('sha256', data, { key: ec.publicKey, dsaEncoding: 'ieee-p1363' }, sig), 'ES256');
    [data, sig] = parts(got[3]!);
    assert.ok(verify(null, data, edKeys.publicKey, sig), 'EdDSA');
    assert.equal(got[4], undefined);
  });

  it('encode_sign_raw signs the texts as given; typ decides whether the payload must be JSON', async () => {
    const k = seg('key');
    const key = JSON.stringify({ kty: 'oct', k });
    const raw = (h: string, p: string): string => {
      const input = `${seg(h)}.${seg(p)}`;
      return `${input}.${createHmac('sha256', 'key').update(input).digest('base64url')}`;
    };
    await table(
      [
        ['io.jwt.encode_sign_raw(input.h, input.p, input.key)', raw('{"alg":"HS256",\r\n "typ":"JWT"}', '{"b": 1,  "a": 2}')],
        ['io.jwt.encode_sign_raw("{\\"alg\\":\\"HS256\\",\\"typ\\":\\"text/plain\\"}", "hello", input.key)', raw('{"alg":"HS256","typ":"text/plain"}', 'hello')],
        ['io.jwt.encode_sign_raw("{\\"alg\\":\\"HS256\\"}", "hello", input.key)', undefined], // no typ: JSON required
        ['io.jwt.encode_sign_raw("{\\"alg\\":\\"HS257\\"}", "{}", input.key)', undefined],
        ['io.jwt.encode_sign_raw("{}", "{}", input.key)', undefined],
        ['io.jwt.encode_sign_raw("{\\"alg\\":\\"HS256\\"}", "{}", "{\\"keys\\": []}")', undefined],
        // what encode_sign_raw makes, verify_hs256 accepts
        ['io.jwt.verify_hs256(io.jwt.encode_sign_raw(input.h, input.p, input.key), "key")', true],
      ],
      { h: '{"alg":"HS256",\r\n "typ":"JWT"}', p: '{"b": 1,  "a": 2}', key },
    );
  });
});

describe('rego → wasm: crypto and encoding builtins', () => {
  it('digests and HMACs (RFC 1321, FIPS 180, RFC 2202, RFC 4231)', async () => {
    await table([
      ['crypto.md5("abc")', '900150983cd24fb0d6963f7d28e17f72'],
      ['crypto.sha1("abc")', 'a9993e364706816aba3e25717850c26c9cd0d89d'],
      ['crypto.hmac.md5("what do ya want for nothing?", "Jefe")', '750c783e6ab0b503eaa86e310a5db738'],
      ['crypto.hmac.sha1("what do ya want for nothing?", "Jefe")', 'effcdf6ae5eb2fa2d27416d5f184df9c259a7c79'],
      ['crypto.hmac.sha256("what do ya want for nothing?", "Jefe")', '5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843'],
      [
        'crypto.hmac.sha512("what do ya want for nothing?", "Jefe")',
        '164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737',
      ],
      ['crypto.hmac.equal("750c783e", "750c783e")', true],
      ['crypto.hmac.equal("750c783e", "750c783f")', false],
      ['crypto.hmac.equal("750c783e", "750c78")', false],
      ['crypto.hmac.sha256(1, "k")', undefined],
    ]);
  });

  it('hex and base64url', async () => {
    await table([
      ['hex.encode("é!")', 'c3a921'],
      ['hex.decode("C3A921")', 'é!'],
      ['hex.decode("abc")', undefined], // odd length
      ['hex.decode("zz")', undefined],
      ['base64url.encode("subjects?_d")', 'c3ViamVjdHM_X2Q='],
      ['base64url.encode_no_pad("subjects?_d")', 'c3ViamVjdHM_X2Q'],
      ['base64url.decode("c3ViamVjdHM_X2Q=")', 'subjects?_d'],
      ['base64url.decode("c3ViamVjdHM_X2Q")', 'subjects?_d'], // padding may be left out
      ['base64url.decode("c3ViamVjdHM/X2Q=")', undefined], // '/' is standard base64
      ['base64url.decode("aGVsbG8x=")', undefined], // wrong padding
      ['base64url.decode("a")', undefined],
      ['base64.is_valid("aGVsbG8=")', true],
      ['base64.is_valid("aGVsbG8")', false], // standard base64 needs its padding
      ['base64.is_valid("a+b/")', true],
      ['base64.is_valid("a-b_")', false],
      ['base64.is_valid(1)', false],
    ]);
  });

  it("urlquery: Go's QueryEscape and ParseQuery", async () => {
    await table([
      ['urlquery.encode("a b&c=d/é~*")', 'a+b%26c%3Dd%2F%C3%A9~%2A'],
      ['urlquery.decode("a+b%26c%3Dd%2F%C3%A9~")', 'a b&c=d/é~'],
      ['urlquery.decode("100%")', undefined],
      ['urlquery.decode("%zz")', undefined],
      ['urlquery.encode_object({"b": ["2", "1"], "a": "x y", "c": {"z"}})', 'a=x+y&b=2&b=1&c=z'],
      ['urlquery.encode_object({"a": 1})', undefined],
      ['urlquery.decode_object("a=1&a=2&b=&c&&d=%20")', { a: ['1', '2'], b: [''], c: [''], d: [' '] }],
      ['urlquery.decode_object("a=1;b=2")', undefined], // ';' is no separator since Go 1.17
      ['urlquery.decode_object("")', {}],
    ]);
  });

  it('crypto.parse_private_keys: every private key block, base64 or PEM', async () => {
    const keys = [
      rsa.privateKey.export({ type: 'pkcs1', format: 'pem' }),
      ec.privateKey.export({ type: 'sec1', format: 'pem' }),
      edKeys.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    ].join('');
    const pub = rsa.publicKey.export({ format: 'jwk' });
    const n = BigInt(`0x${Buffer.from(pub.n!, 'base64url').toString('hex')}`);
    await table(
      [
        ['count(crypto.parse_private_keys(input.pem))', 3],
        ['crypto.parse_private_keys(input.pem)[0].E', 65537],
        [`crypto.parse_private_keys(input.pem)[0].N == ${n}`, true], // the modulus, all its digits
        ['count(crypto.parse_private_keys(base64.encode(input.pem)))', 3],
        ['crypto.parse_private_keys(input.pub)', []], // a public key is no private key
        ['crypto.parse_private_keys("nope")', []],
        ['crypto.parse_private_keys("")', null],
      ],
      { pem: keys, pub: pem(rsa.publicKey) },
    );
  });
});
