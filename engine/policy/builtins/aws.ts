/**
 * Host builtin: providers.aws.sign_req, AWS Signature Version 4 by the
 * Authorization header, single chunk (OPA v1/topdown/providers.go and
 * internal/providers/aws/signing_v4.go), gathered by builtins-js.ts.
 *
 * OPA's signer is simpler than AWS's reference one, and busted answers what
 * OPA answers, so these are deliberate:
 * - the method goes in as given ("get" stays lower case);
 * - the canonical URI is Go's url.URL.EscapedPath() of the request's URL
 *   ("" for "http://example.com", not "/"), and the canonical query is the
 *   raw query, not sorted or re-encoded;
 * - every request header is signed, lower-cased, except authorization,
 *   user-agent and x-amzn-trace-id (which proxies rewrite); header values
 *   are not trimmed;
 * - x-amz-content-sha256 is added and signed only for the services "s3"
 *   and "glacier"; a request's own x-amz-content-sha256 is what gets signed,
 *   but the header sent is the computed one (the compliance cases
 *   "with-existing-sha-header" pin both);
 * - disable_payload_signing puts UNSIGNED-PAYLOAD in place of the body's
 *   hash (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html).
 *
 * Operands cross as Rego text (BuiltinDecl.exact): the time keeps all its
 * nanoseconds, and a body's sets stay sets in the answer (BuiltinDecl.value).
 */
import { createHash, createHmac } from 'node:crypto';

import type { BuiltinDecl } from '../compile/builtins.js';
import { putOwn } from '../own-key.js';
import { byteCompare, exact, exactText, fail, goJSON, NumberText, RegoSet, str, type Exact, type Impl } from './common.js';
import { binary, escapedPath, parseURL, text, type GoURL } from './gourl.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'providers.aws.sign_req': { arity: 3, exact: true, value: true },
};

const NAME = 'providers.aws.sign_req';

/** OPA's operand error (topdown/builtins NewOperandErr), under the builtin's name as topdown reports it. */
const operandErr = (pos: number, msg: string): never => fail(`${NAME}: operand ${pos} ${msg}`);

type ExactObject = { [k: string]: Exact };

const isObject = (v: Exact): v is ExactObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegoSet) && !(v instanceof NumberText);

/** ast.TypeName */
function typeName(v: Exact): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return 'boolean';
  if (typeof v === 'number' || typeof v === 'bigint' || v instanceof NumberText) return 'number';
  if (typeof v === 'string') return 'string';
  if (Array.isArray(v)) return 'array';
  return v instanceof RegoSet ? 'set' : 'object';
}

/** A set of keys as OPA prints one (`%v` of an ast.Set): sorted, quoted, ", " between. */
const keySet = (keys: string[]): string => `{${[...keys].sort(byteCompare).map((k) => JSON.stringify(k)).join(', ')}}`;

/** stringFromTerm: a string, or "" for anything else */
const stringOr = (v: Exact | undefined): string => (typeof v === 'string' ? v : '');

const has = (o: ExactObject, k: string): boolean => Object.hasOwn(o, k);

/* ------------------------------------------------------- operand checks */

const REQUIRED_CONFIG = ['aws_access_key', 'aws_region', 'aws_secret_access_key', 'aws_service'];

/** http.send's request keys (topdown/http.go allowedKeyNames): sign_req checks a request as http.send would. */
const REQUEST_KEYS = new Set([
  'method',
  'url',
  'body',
  'enable_redirect',
  'force_json_decode',
  'force_yaml_decode',
  'headers',
  'raw_body',
  'tls_use_system_certs',
  'tls_ca_cert',
  'tls_ca_cert_file',
  'tls_ca_cert_env_variable',
  'tls_client_cert',
  'tls_client_cert_file',
  'tls_client_cert_env_variable',
  'tls_client_key',
  'tls_client_key_file',
  'tls_client_key_env_variable',
  'tls_insecure_skip_verify',
  'tls_server_name',
  'timeout',
  'cache',
  'force_cache',
  'force_cache_duration_seconds',
  'raise_error',
  'caching_mode',
  'max_retry_attempts',
  'cache_ignored_headers',
]);
const REQUIRED_REQUEST = ['method', 'url'];

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * time_ns as Go's json.Number.Int64 reads the number's text: decimal digits
 * only, so 1e18 or 1.0 are refused even though they are whole numbers.
 */
function timeNs(text: unknown): bigint {
  const t = str(text).trim();
  if (/^[+-]?\d+$/.test(t)) {
    const n = BigInt(t);
    if (n >= INT64_MIN && n <= INT64_MAX) return n;
  }
  const v = exact(t);
  // OPA names this operand 1 (NumberOperand(operands[2].Value, 1)); the conversion error says 3
  if (typeName(v) !== 'number') return operandErr(1, `must be number but got ${typeName(v)}`);
  return operandErr(3, 'could not convert time_ns value into a unix timestamp');
}

/* ---------------------------------------------------------- Go's net/url */

/** What the signature reads of the request's URL (gourl.ts: Go's url.Parse): Host, EscapedPath() and RawQuery. */
interface SignedURL {
  host: string;
  escapedPath: string;
  rawQuery: string;
}

/** url.Parse(raw) as the signer reads it, or the builtin error Go's *url.Error makes. */
function signedURL(raw: string): SignedURL {
  let u: GoURL;
  try {
    u = parseURL(binary(raw));
  } catch (e) {
    return fail(`${NAME}: ${(e as Error).message}`);
  }
  // (an opaque URL, mailto:x, has no path to sign: its Path is empty)
  return { host: text(u.Host), escapedPath: escapedPath(u), rawQuery: text(u.RawQuery) };
}

/* ------------------------------------------------------------------ body */

/** getReqBodyBytes: raw_body (a non-string one as ""), else body as JSON, else nothing */
function payload(req: ExactObject): Buffer {
  if (has(req, 'raw_body')) return Buffer.from(stringOr(req.raw_body), 'utf8');
  // Go's json.Marshal of ast.JSON(body): keys sorted, a set as its array (its items come in
  // OPA's order of values, the runtime's), HTML characters escaped
  if (has(req, 'body')) return Buffer.from(goJSON(req.body!), 'utf8');
  return Buffer.alloc(0);
}

/* --------------------------------------------------------------- signing */

/** proxies rewrite these, so they are not signed (aws-sdk-go signer/v4 ignoredHeaders) */
const UNSIGNED_HEADERS = new Set(['authorization', 'user-agent', 'x-amzn-trace-id']);

const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

interface Credentials {
  accessKey: string;
  secretKey: string;
  region: string;
  sessionToken: string;
}

interface SignInput {
  method: string;
  url: SignedURL;
  /** the request's headers, values as strings */
  headers: Map<string, string>;
  body: Buffer;
  service: string;
  creds: Credentials;
  timeNs: bigint;
  unsignedPayload: boolean;
}

const sha256Hex = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
const hmac = (key: Buffer | string, msg: string): Buffer => createHmac('sha256', key).update(msg, 'utf8').digest();

/** x-amz-date's form and the scope's date, from nanoseconds since the epoch (Go's time.Unix(0, ns).UTC()) */
function amzDate(ns: bigint): { stamp: string; day: string } {
  const s = ns / 1_000_000_000n - (ns % 1_000_000_000n < 0n ? 1n : 0n);
  const iso = new Date(Number(s) * 1000).toISOString(); // int64 nanoseconds stay within years 1677–2262
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return { stamp, day: stamp.slice(0, 8) };
}

/**
 * SigV4 (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html):
 * canonical request → string to sign → HMAC chain of date, region, service.
 * Returns the Authorization header and the headers the signer adds.
 */
export function signV4(r: SignInput): { authorization: string; added: Map<string, string> } {
  const { stamp, day } = amzDate(r.timeNs);
  const contentHash = r.unsignedPayload ? UNSIGNED_PAYLOAD : sha256Hex(r.body);
  const added = new Map([
    ['host', r.url.host],
    ['x-amz-date', stamp],
  ]);
  // only S3 and Glacier want the payload's hash as a header
  if (r.service === 's3' || r.service === 'glacier') added.set('x-amz-content-sha256', contentHash);
  if (r.creds.sessionToken !== '') added.set('x-amz-security-token', r.creds.sessionToken);

  // the request's own headers win over the added ones in what is signed (OPA's order);
  // two names equal but for case: Go's map order picks one, here the last in byte order
  const signed = new Map(added);
  for (const k of [...r.headers.keys()].sort(byteCompare)) {
    const lower = k.toLowerCase();
    if (!UNSIGNED_HEADERS.has(lower)) signed.set(lower, r.headers.get(k)!);
  }
  const names = [...signed.keys()].sort(byteCompare);
  const list = names.join(';');
  const canonical = [r.method, r.url.escapedPath, r.url.rawQuery, ...names.map((k) => `${k}:${signed.get(k)}`), '', list, contentHash].join('\n');

  const scope = `${day}/${r.creds.region}/${r.service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', stamp, scope, sha256Hex(Buffer.from(canonical, 'utf8'))].join('\n');
  let key = hmac(Buffer.from(`AWS4${r.creds.secretKey}`, 'utf8'), day);
  for (const part of [r.creds.region, r.service, 'aws4_request']) key = hmac(key, part);
  const signature = hmac(key, toSign).toString('hex');
  return { authorization: `AWS4-HMAC-SHA256 Credential=${r.creds.accessKey}/${scope},SignedHeaders=${list},Signature=${signature}`, added };
}

/** providers.aws.sign_req: the checks in OPA's order, then the request with its headers signed. */
function signReq(reqText: unknown, configText: unknown, timeText: unknown): string {
  const req = exact(reqText);
  if (!isObject(req)) return operandErr(1, `must be object but got ${typeName(req)}`);
  const config = exact(configText);
  // OPA names the config operand 1 here (ObjectOperand(operands[1].Value, 1))
  if (!isObject(config)) return operandErr(1, `must be object but got ${typeName(config)}`);
  const missing = REQUIRED_CONFIG.filter((k) => !has(config, k));
  if (missing.length) operandErr(2, `missing required AWS config parameters(s): ${keySet(missing)}`);
  const badConfig = REQUIRED_CONFIG.filter((k) => typeof config[k] !== 'string');
  if (badConfig.length) operandErr(2, `invalid values for required AWS config parameters(s): ${keySet(badConfig)}`);
  const ns = timeNs(timeText);

  const unknown = Object.keys(req).filter((k) => !REQUEST_KEYS.has(k));
  if (unknown.length) operandErr(1, `invalid request parameters(s): ${keySet(unknown)}`);
  const absent = REQUIRED_REQUEST.filter((k) => !has(req, k));
  if (absent.length) operandErr(1, `missing required request parameters(s): ${keySet(absent)}`);

  const headersIn = has(req, 'headers') ? req.headers! : {};
  // OPA names this operand 0 (NewOperandTypeErr(0, …))
  if (!isObject(headersIn)) return operandErr(0, `must be object but got ${typeName(headersIn)}`);
  const badRequest = REQUIRED_REQUEST.filter((k) => typeof req[k] !== 'string');
  if (badRequest.length) operandErr(1, `invalid values for required request parameters(s): ${keySet(badRequest)}`);
  const url = signedURL(req.url as string);
  const body = payload(req);
  const headers = new Map(Object.entries(headersIn).map(([k, v]) => [k, stringOr(v)]));

  let unsignedPayload = false;
  if (has(config, 'disable_payload_signing')) {
    const d = config.disable_payload_signing;
    if (typeof d !== 'boolean') operandErr(2, "invalid value for 'disable_payload_signing' in AWS config");
    unsignedPayload = d as boolean;
  }

  const { authorization, added } = signV4({
    method: req.method as string,
    url,
    headers,
    body,
    service: config.aws_service as string,
    creds: {
      accessKey: config.aws_access_key as string,
      secretKey: config.aws_secret_access_key as string,
      region: config.aws_region as string,
      sessionToken: stringOr(config.aws_session_token),
    },
    timeNs: ns,
    unsignedPayload,
  });

  // the request's headers (non-string values as ""), then Authorization, then the added ones over them
  const out: ExactObject = {};
  for (const [k, v] of headers) putOwn(out, k, v);
  putOwn(out, 'Authorization', authorization);
  for (const [k, v] of added) putOwn(out, k, v);
  const signedReq: ExactObject = {};
  for (const [k, v] of Object.entries(req)) putOwn(signedReq, k, v);
  putOwn(signedReq, 'headers', out);
  return exactText(signedReq);
}

export const IMPLS: Record<string, Impl> = {
  'providers.aws.sign_req': (req, config, time) => signReq(req, config, time),
};
