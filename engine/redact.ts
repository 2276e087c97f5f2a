/**
 * Secrets out of text before it leaves the engine (contract: "Secrets ...
 * never appear in any output or recording unless --no-redact is given").
 * Used on command lines now and on captured payloads later. What is kept:
 * the header or option name and the auth scheme, so a reader still sees
 * *that* a credential was sent and how; what goes: the credential.
 */

export const REDACTED = '[REDACTED]';

const RULES: Array<[RegExp, string]> = [
  // Authorization: Bearer X / Basic X / token X (HTTP headers, curl -H, JSON)
  [/\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+/gi, `$1${REDACTED}`],
  // API key and cookie headers
  [/\b((?:x-api-key|api-key|x-goog-api-key|x-auth-token|cookie|set-cookie)["']?\s*[:=]\s*["']?)[^\s"',;]+/gi, `$1${REDACTED}`],
  // command-line options that carry secrets: --api-key X, --token=X
  [/(--?(?:api[-_]?key|token|access[-_]token|password|passwd|secret|auth)(?:\s+|=))(?!-)\S+/gi, `$1${REDACTED}`],
  // NAME_API_KEY=value in environments and scripts
  [/\b([A-Z0-9_]*(?:API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)[A-Z0-9_]*=)\S+/g, `$1${REDACTED}`],
  // query parameters
  [/([?&](?:key|api_key|apikey|token|access_token|sig|signature)=)[^&\s"']+/gi, `$1${REDACTED}`],
  // key-shaped strings, wherever they stand
  [/\bsk-ant-[A-Za-z0-9_-]{8,}/g, REDACTED],
  [/\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{16,}/g, REDACTED],
  [/\bAIza[0-9A-Za-z_-]{30,}/g, REDACTED],
  [/\b(?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_][A-Za-z0-9]{20,}/g, REDACTED],
  [/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/g, REDACTED],
  [/\bgh[pousr]_[A-Za-z0-9]{30,}/g, REDACTED],
  [/\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g, REDACTED],
  [/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g, REDACTED],
];

/** Replace every credential found in `s`. Cheap when there is none. */
export function redactText(s: string): string {
  let out = s;
  for (const [re, rep] of RULES) {
    re.lastIndex = 0;
    if (re.test(out)) {
      re.lastIndex = 0;
      out = out.replace(re, rep);
    }
  }
  return out;
}
