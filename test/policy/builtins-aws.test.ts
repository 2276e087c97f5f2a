// End-to-end tests of providers.aws.sign_req (engine/policy/builtins/aws.ts).
// Signatures are AWS's published ones: the SigV4 test suite
// (https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html,
// AKIDEXAMPLE, us-east-1, service "service", 20150830T123600Z) and the S3
// examples (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
// OPA's Authorization header has no spaces after its commas, and OPA signs the
// raw query, so the suite's cases whose query is already canonical are the
// ones that apply. The keys are AWS's public example keys.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { IMPLS } from '../../engine/policy/builtins/aws.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { table, thrown } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

const SUITE_TIME = '1440938160000000000'; // 2015-08-30T12:36:00Z
const SUITE_CONFIG = '{"aws_access_key": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "aws_service": "service", "aws_region": "us-east-1"}';
const S3_TIME = '1369353600000000000'; // 2013-05-24T00:00:00Z
const S3_CONFIG = '{"aws_access_key": "AKIAIOSFODNN7EXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "aws_service": "s3", "aws_region": "us-east-1"}';

/** sign_req's Authorization header for REQUEST (Rego text) in the suite's setting */
const suite = (request: string): string => `providers.aws.sign_req(${request}, ${SUITE_CONFIG}, ${SUITE_TIME}).headers.Authorization`;
const suiteAuth = (signed: string, signature: string): string =>
  `AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request,SignedHeaders=${signed},Signature=${signature}`;

/** the builtin itself, operands as Rego text: its error message (in Rego an error is an undefined call) */
const signErr = (req: string, config: string, time: string): string => thrown(() => IMPLS['providers.aws.sign_req']!(req, config, time));

const CONFIG = '{"aws_access_key": "AKIDEXAMPLE", "aws_secret_access_key": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "aws_service": "s3", "aws_region": "us-east-1"}';

describe('rego → wasm: providers.aws.sign_req', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it('signs the AWS SigV4 test suite requests as published', async () => {
    await table([
      // get-vanilla
      [suite('{"method": "GET", "url": "https://example.amazonaws.com/"}'), suiteAuth('host;x-amz-date', '5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31')],
      // get-vanilla-empty-query-key
      [suite('{"method": "GET", "url": "https://example.amazonaws.com/?Param1=value1"}'), suiteAuth('host;x-amz-date', 'a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb')],
      // get-vanilla-query-order-key-case, its query given in canonical order
      [suite('{"method": "GET", "url": "https://example.amazonaws.com/?Param1=value1&Param2=value2"}'), suiteAuth('host;x-amz-date', 'b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500')],
      // get-utf8: Go's EscapedPath encodes the path's UTF-8 bytes
      [suite('{"method": "GET", "url": "https://example.amazonaws.com/ሴ"}'), suiteAuth('host;x-amz-date', '8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85')],
      // get-space: a space in the path is %20
      [suite('{"method": "GET", "url": "https://example.amazonaws.com/example space/"}'), suiteAuth('host;x-amz-date', '652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741')],
      // post-vanilla
      [suite('{"method": "POST", "url": "https://example.amazonaws.com/"}'), suiteAuth('host;x-amz-date', '5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b')],
      // post-x-www-form-urlencoded: a header of the request is signed, lower-cased; the body is hashed
      [
        suite('{"method": "POST", "url": "https://example.amazonaws.com/", "headers": {"Content-Type": "application/x-www-form-urlencoded"}, "raw_body": "Param1=value1"}'),
        suiteAuth('content-type;host;x-amz-date', 'ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a'),
      ],
    ]);
  });

  it('signs the S3 GET examples as published: x-amz-content-sha256 added and signed', async () => {
    const s3 = (req: string): string => `providers.aws.sign_req(${req}, ${S3_CONFIG}, ${S3_TIME}).headers`;
    await table([
      [
        s3('{"method": "GET", "url": "https://examplebucket.s3.amazonaws.com/test.txt", "headers": {"Range": "bytes=0-9"}}'),
        {
          Range: 'bytes=0-9',
          Authorization:
            'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
          host: 'examplebucket.s3.amazonaws.com',
          'x-amz-content-sha256': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
          'x-amz-date': '20130524T000000Z',
        },
      ],
      // GET bucket (list objects): the query as written, already in canonical order
      [
        `${s3('{"method": "GET", "url": "https://examplebucket.s3.amazonaws.com/?max-keys=2&prefix=J"}')}.Authorization`,
        'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date,Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7',
      ],
    ]);
  });

  it('keeps the request, replaces its headers, and signs what OPA signs', async () => {
    const sign = (req: string, config = CONFIG): string => `providers.aws.sign_req(${req}, ${config}, ${SUITE_TIME})`;
    const signedHeaders = (req: string, config = CONFIG): string => `regex.find_n("SignedHeaders=[^,]*", ${sign(req, config)}.headers.Authorization, 1)[0]`;
    const withConfig = (extra: string): string => CONFIG.replace(/}$/, `, ${extra}}`);
    await table([
      // a body's set stays a set in the answer; the body is hashed as Go's JSON of it (set sorted, keys sorted)
      [`${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "body": {"z": {3, 1, 2}, "a": "<&>"}}')}.body`, { z: [1, 2, 3], a: '<&>' }],
      [`is_set(${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "body": {"z": {3, 1, 2}}}')}.body.z)`, true],
      [
        `${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "body": {"z": {3, 1, 2}, "a": "<&>"}}')}.headers["x-amz-content-sha256"] == crypto.sha256("{\\"a\\":\\"\\\\u003c\\\\u0026\\\\u003e\\",\\"z\\":[1,2,3]}")`,
        true,
      ],
      // raw_body wins over body
      [`${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "body": [1], "raw_body": "x"}')}.headers["x-amz-content-sha256"] == crypto.sha256("x")`, true],
      // authorization, user-agent and x-amzn-trace-id are sent but not signed; other headers are signed lower-cased
      [
        signedHeaders('{"method": "GET", "url": "https://b.s3.amazonaws.com/", "headers": {"User-Agent": "busted", "X-Amzn-Trace-Id": "t", "X-Custom": "v"}}'),
        'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-custom',
      ],
      [`${sign('{"method": "GET", "url": "https://b.s3.amazonaws.com/", "headers": {"User-Agent": "busted"}}')}.headers["User-Agent"]`, 'busted'],
      // only s3 and glacier get x-amz-content-sha256; a session token is sent and signed
      [signedHeaders('{"method": "GET", "url": "https://example.com:8443/"}', SUITE_CONFIG), 'SignedHeaders=host;x-amz-date'],
      [`${sign('{"method": "GET", "url": "https://example.com:8443/"}')}.headers.host`, 'example.com:8443'],
      [signedHeaders('{"method": "GET", "url": "https://b.s3.amazonaws.com/"}', withConfig('"aws_session_token": "tok"')), 'SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token'],
      [`${sign('{"method": "GET", "url": "https://b.s3.amazonaws.com/"}', withConfig('"aws_session_token": "tok"'))}.headers["x-amz-security-token"]`, 'tok'],
      // disable_payload_signing: UNSIGNED-PAYLOAD in the header and the signature, whatever the body
      [`${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "raw_body": "x"}', withConfig('"disable_payload_signing": true'))}.headers["x-amz-content-sha256"]`, 'UNSIGNED-PAYLOAD'],
      [
        `${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "raw_body": "x"}', withConfig('"disable_payload_signing": true'))}.headers.Authorization == ${sign('{"method": "PUT", "url": "https://b.s3.amazonaws.com/k", "raw_body": "y"}', withConfig('"disable_payload_signing": true'))}.headers.Authorization`,
        true,
      ],
      // a request's own x-amz-content-sha256 is what is signed, the computed one is what is sent
      [
        `${sign('{"method": "GET", "url": "https://b.s3.amazonaws.com/", "headers": {"x-amz-content-sha256": "mine"}}')}.headers.Authorization != ${sign('{"method": "GET", "url": "https://b.s3.amazonaws.com/"}')}.headers.Authorization`,
        true,
      ],
      [`${sign('{"method": "GET", "url": "https://b.s3.amazonaws.com/", "headers": {"x-amz-content-sha256": "mine"}}')}.headers["x-amz-content-sha256"]`, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'],
      // the signing time is exact to the nanosecond: one before the second is the second before
      [`providers.aws.sign_req({"method": "GET", "url": "https://b.s3.amazonaws.com/"}, ${CONFIG}, 1440938159999999999).headers["x-amz-date"]`, '20150830T123559Z'],
      [`providers.aws.sign_req({"method": "GET", "url": "https://b.s3.amazonaws.com/"}, ${CONFIG}, -1).headers["x-amz-date"]`, '19691231T235959Z'],
      // errors make the call undefined
      [`providers.aws.sign_req({"method": "GET", "url": "https://b.s3.amazonaws.com/"}, ${CONFIG}, 1e18)`, undefined],
      [`providers.aws.sign_req({"method": "GET", "url": "https://b.s3.amazonaws.com/", "retries": 3}, ${CONFIG}, 0)`, undefined],
    ]);
  });

  it("fails with OPA's messages", () => {
    const req = '{"method":"GET","url":"https://b.s3.amazonaws.com/"}';
    const p = 'providers.aws.sign_req: ';
    assert.equal(signErr('{}', CONFIG, '0'), `${p}operand 1 missing required request parameters(s): {"method", "url"}`);
    assert.equal(signErr('{"method":1,"url":"x","foo":2}', CONFIG, '0'), `${p}operand 1 invalid request parameters(s): {"foo"}`);
    assert.equal(signErr('{"method":set(),"url":set()}', CONFIG, '0'), `${p}operand 1 invalid values for required request parameters(s): {"method", "url"}`);
    assert.equal(signErr(req, '{"aws_region":"r"}', '0'), `${p}operand 2 missing required AWS config parameters(s): {"aws_access_key", "aws_secret_access_key", "aws_service"}`);
    assert.equal(signErr(req, CONFIG.replace('"us-east-1"', '1'), '0'), `${p}operand 2 invalid values for required AWS config parameters(s): {"aws_region"}`);
    assert.equal(signErr(req, CONFIG.replace(/}$/, ',"disable_payload_signing":"true"}'), '0'), `${p}operand 2 invalid value for 'disable_payload_signing' in AWS config`);
    assert.equal(signErr(req, CONFIG, '-1e9'), `${p}operand 3 could not convert time_ns value into a unix timestamp`);
    assert.equal(signErr(req, CONFIG, '9223372036854775808'), `${p}operand 3 could not convert time_ns value into a unix timestamp`);
    assert.equal(signErr(req, CONFIG, '"now"'), `${p}operand 1 must be number but got string`); // OPA's position, sic
    assert.equal(signErr('{"method":"GET","url":"x","headers":[]}', CONFIG, '0'), `${p}operand 0 must be object but got array`); // sic
    assert.equal(signErr('{"method":"GET","url":"http://a b/"}', CONFIG, '0'), `${p}parse "http://a b/": invalid character " " in host name`);
    assert.equal(signErr('{"method":"GET","url":"http://h/%zz"}', CONFIG, '0'), `${p}parse "http://h/%zz": invalid URL escape "%zz"`);
    assert.equal(signErr('{"method":"GET","url":"http://h:port/"}', CONFIG, '0'), `${p}parse "http://h:port/": invalid port ":port" after host`);
    assert.equal(signErr('{"method":"GET","url":":x"}', CONFIG, '0'), `${p}parse ":x": missing protocol scheme`);
  });

  it("reads the URL as Go's url.Parse does: the path as written when validly escaped, the raw query", () => {
    const auth = (url: string): string => {
      const out = IMPLS['providers.aws.sign_req']!(`{"method":"GET","url":${JSON.stringify(url)}}`, CONFIG, SUITE_TIME) as string;
      return (JSON.parse(out) as { headers: { Authorization: string } }).headers.Authorization;
    };
    // %2F stays %2F (RawPath), an unescaped ! stays (validEncoded), a fragment is dropped
    assert.equal(auth('https://h/a%2Fb!'), auth('https://h/a%2Fb!#frag'));
    assert.notEqual(auth('https://h/a%2Fb'), auth('https://h/a/b'));
    // a bare "?" adds no query; "" and "/" are different paths, as in OPA
    assert.equal(auth('https://h/?'), auth('https://h/'));
    assert.notEqual(auth('https://h'), auth('https://h/'));
    // lower-case escapes are written as they are, not re-encoded
    assert.notEqual(auth('https://h/%e1%88%b4'), auth('https://h/%E1%88%B4'));
    assert.equal(auth('https://h/ሴ'), auth('https://h/%E1%88%B4'));
  });
});
