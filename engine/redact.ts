/**
 * Secrets out of text before it leaves the engine (contract: "Secrets ...
 * never appear in any output or recording unless --no-redact is given").
 * Used on command lines now and on captured payloads later. What is kept:
 * the header or option name and the auth scheme, so a reader still sees
 * *that* a credential was sent and how; what goes: the credential.
 */

export const REDACTED = '[REDACTED]';

/**
 * Each rule: a cheap gate (substring tests, native and fast) that must pass
 * before its regular expression runs; most text has no credential and
 * passes no gate. `lower` is `s` lower-cased, made once when a gate needs it.
 */
type Gate = (s: string, lower: () => string) => boolean;
const has = (s: string, ...subs: string[]) => subs.some((x) => s.includes(x));
const KEY_PREFIXES = ['xai', 'gsk', 'hf', 'r8', 'pplx', 'fw', 'nvapi'].flatMap((p) => [`${p}-`, `${p}_`]);

const RULES: Array<[RegExp, string, Gate]> = [
  // Authorization: Bearer X / Basic X / token X (HTTP headers, curl -H, JSON)
  [/\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+/gi, `$1${REDACTED}`, (_s, l) => l().includes('authorization')],
  // API key and cookie headers
  [/\b((?:x-api-key|api-key|x-goog-api-key|x-auth-token|cookie|set-cookie)["']?\s*[:=]\s*["']?)[^\s"',;]+/gi, `$1${REDACTED}`, (_s, l) => has(l(), 'api-key', 'x-auth-token', 'cookie')],
  // command-line options that carry secrets: --api-key X, --token=X
  [/(--?(?:api[-_]?key|token|access[-_]token|password|passwd|secret|auth)(?:\s+|=))(?!-)\S+/gi, `$1${REDACTED}`, (s, l) => s.includes('-') && has(l(), '-api', '-token', '-access', '-pass', '-secret', '-auth')],
  // NAME_API_KEY=value in environments and scripts
  [/\b([A-Z0-9_]*(?:API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)[A-Z0-9_]*=)\S+/g, `$1${REDACTED}`, (s) => s.includes('=') && has(s, 'API_KEY', 'APIKEY', 'TOKEN', 'SECRET', 'PASSWORD')],
  // query parameters
  [/([?&](?:key|api_key|apikey|token|access_token|sig|signature)=)[^&\s"']+/gi, `$1${REDACTED}`, (s, l) => s.includes('=') && has(l(), 'key=', 'token=', 'sig=', 'signature=')],
  // key-shaped strings, wherever they stand
  [/\bsk-ant-[A-Za-z0-9_-]{8,}/g, REDACTED, (s) => s.includes('sk-ant-')],
  [/\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g, REDACTED, (s) => s.includes('sk-')],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED, (s) => s.includes('AIza')],
  [/\b(?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_][A-Za-z0-9]{20,}/g, REDACTED, (s) => has(s, ...KEY_PREFIXES)],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED, (s) => has(s, 'AKIA', 'ASIA')],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/g, REDACTED, (s) => has(s, 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_')],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, REDACTED, (s) => s.includes('eyJ')],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED, (s) => s.includes('PRIVATE KEY-----')],
];

/** Replace every credential found in `s`. Cheap when there is none. */
export function redactText(s: string): string {
  let out = s;
  let lowered: string | undefined;
  const lower = () => (lowered ??= out.toLowerCase());
  for (const [re, rep, gate] of RULES) {
    if (!gate(out, lower)) continue;
    re.lastIndex = 0;
    if (re.test(out)) {
      re.lastIndex = 0;
      out = out.replace(re, rep);
      lowered = undefined;
    }
  }
  return out;
}

/**
 * An event's free text with credentials replaced: what the sinks get when
 * the engine itself had to see the text whole (a policy that looks for
 * secrets in prompts decides before this runs). Changes the event in place.
 */
export function redactEvent(e: import('./model/event.js').BustedEvent): void {
  if (e.tls?.payload !== undefined) e.tls.payload = redactText(e.tls.payload);
  if (e.http?.path !== undefined) e.http.path = redactText(e.http.path);
  if (e.llm) {
    if (e.llm.user_message !== undefined) e.llm.user_message = redactText(e.llm.user_message);
    if (e.llm.system_prompt !== undefined) e.llm.system_prompt = redactText(e.llm.system_prompt);
  }
}
