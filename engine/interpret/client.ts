/**
 * Which program library made an LLM call: the provider SDK, an agent, or a
 * bare HTTP client, named from the request's headers (`llm.client`).
 *
 * SDKs say who they are. Stainless-generated ones (OpenAI's and
 * Anthropic's, in every language) send `X-Stainless-Lang` and
 * `X-Stainless-Package-Version` beside a User-Agent such as `OpenAI/Python
 * 1.40.0`; Google's send `x-goog-api-client: google-genai-sdk/1.2.0
 * gl-python/3.11.4`; the AWS SDKs `Boto3/1.34.0 ... lang/python#3.11`;
 * Fern-generated ones (Cohere) `X-Fern-SDK-Name`. Agents and plain clients
 * put `name/version` first in their User-Agent (claude-cli, curl,
 * python-httpx, Go-http-client). A policy can hold a host to the SDKs it
 * approved, or audit calls made with curl; an inventory can list them.
 * These are the client's own words, as easy to fake as a process name:
 * what a call carries is judged by its content rules whatever it claims.
 */
import type { LlmClient } from '../model/event.js';

const MAX = 128;
const clip = (s: string): string => (s.length > MAX ? s.slice(0, MAX) : s);

/** User-Agent product names that stand for a language's own HTTP stack (`lang/…`), lower case */
const STACK_LANGUAGE: Record<string, string> = {
  'python-urllib': 'python',
  'python-requests': 'python',
  'python-httpx': 'python',
  aiohttp: 'python',
  'go-http-client': 'go',
  node: 'js',
  undici: 'js',
  axios: 'js',
  'node-fetch': 'js',
  okhttp: 'java',
  'java-http-client': 'java',
  'apache-httpclient': 'java',
  'ruby': 'ruby',
  faraday: 'ruby',
  reqwest: 'rust',
  'dart:io': 'dart',
  curl: 'c',
  wget: 'c',
};

/** `OpenAI/Python 1.40.0`, `Anthropic/JS 0.27.0`, `AsyncOpenAI/Python 1.40.0`: Stainless SDKs' User-Agent */
const STAINLESS_UA = /^(?:Async)?([A-Za-z][\w-]*)\/(Python|JS|Go|Java|Kotlin|Ruby|Node|TypeScript|PHP|CSharp|\.NET)\s+v?([\w.+-]+)/i;
/** the first `product/version` of a User-Agent */
const PRODUCT = /^([A-Za-z][\w.:-]*)\/v?([\w.+-]+)/;
/** `lang/python#3.11` (AWS SDKs), `gl-python/3.11.4` (Google) */
const AWS_LANG = /\blang\/([a-z]+)/i;
const GOOGLE_LANG = /\bgl-([a-z]+)\//i;

/**
 * The client HEADERS name (lower-case names, as the HTTP parsers give
 * them), or undefined when they name none.
 */
export function clientOf(headers: Record<string, string>): LlmClient | undefined {
  const ua = headers['user-agent']?.trim() ?? '';
  const stainless = headers['x-stainless-lang'];
  if (stainless !== undefined) {
    const m = STAINLESS_UA.exec(ua);
    const language = stainless.toLowerCase();
    const name = m ? `${m[1]!.toLowerCase()}-${language}` : `stainless-${language}`;
    const version = headers['x-stainless-package-version'] ?? m?.[3];
    return party(name, version, language);
  }
  const fern = headers['x-fern-sdk-name'];
  if (fern !== undefined) return party(fern, headers['x-fern-sdk-version'], headers['x-fern-language']?.toLowerCase());
  const goog = headers['x-goog-api-client'];
  if (goog !== undefined) {
    // the first product is the library (google-genai-sdk, genai-js, gapic), gl-<lang> its language
    const m = PRODUCT.exec(goog.trim());
    if (m) return party(m[1]!.replace(/-sdk$/, ''), m[2], GOOGLE_LANG.exec(goog)?.[1]?.toLowerCase());
  }
  const m = PRODUCT.exec(ua);
  if (!m) return undefined;
  const product = m[1]!;
  const lower = product.toLowerCase();
  if (lower === 'boto3' || lower === 'botocore' || lower.startsWith('aws-sdk-')) return party(lower, m[2], AWS_LANG.exec(ua)?.[1]?.toLowerCase() ?? (lower.startsWith('aws-sdk-js') ? 'js' : undefined));
  const s = STAINLESS_UA.exec(ua);
  if (s) return party(`${s[1]!.toLowerCase()}-${s[2]!.toLowerCase()}`, s[3], s[2]!.toLowerCase());
  return party(product, m[2], STACK_LANGUAGE[lower]);
}

function party(name: string, version: string | undefined, language: string | undefined): LlmClient {
  const c: LlmClient = { name: clip(name) };
  if (version) c.version = clip(version);
  if (language) c.language = clip(language);
  return c;
}
