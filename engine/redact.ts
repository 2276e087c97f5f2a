/**
 * Secrets out of text before it leaves the engine (contract: "Secrets ...
 * never appear in any output or recording unless --no-redact is given").
 * Used on command lines now and on captured payloads later. What is kept:
 * the header or option name and the auth scheme, so a reader still sees
 * *that* a credential was sent and how; what goes: the credential.
 */

export const REDACTED = '[REDACTED]';

/**
 * Each rule runs only when its trigger was seen: two scans of the text
 * (TRIGGERS, one case-insensitive and one not) find every place where one
 * of the rules could match, and most text (prompts, answers, JSON) has
 * none. A trigger is implied by any match of its rule (a rule's match
 * contains its trigger), so no credential escapes a rule that did not run.
 * A replacement (`$1[REDACTED]`) adds no trigger the text did not have.
 */
const RULES: RegExp[] = [
  // 0 Authorization: Bearer X / Basic X / token X (HTTP headers, curl -H, JSON)
  /\b((?:proxy-)?authorization["']?\s*[:=]\s*["']?(?:bearer|basic|token|digest)?\s*)[^\s"',;]+/gi,
  // 1 API key and cookie headers
  /\b((?:x-api-key|api-key|x-goog-api-key|x-auth-token|cookie|set-cookie)["']?\s*[:=]\s*["']?)[^\s"',;]+/gi,
  // 2 command-line options that carry secrets: --api-key X, --token=X
  /(--?(?:api[-_]?key|token|access[-_]token|password|passwd|secret|auth)(?:\s+|=))(?!-)\S+/gi,
  // 3 NAME_API_KEY=value in environments and scripts
  /\b([A-Z0-9_]*(?:API_KEY|APIKEY|TOKEN|SECRET|PASSWORD)[A-Z0-9_]*=)\S+/g,
  // 4 query parameters
  /([?&](?:key|api_key|apikey|token|access_token|sig|signature)=)[^&\s"']+/gi,
  // 5.. key-shaped strings, wherever they stand; the distinctive prefixes
  // even glued to a word before them ("keysk-proj-..."), a bare sk- only
  // after a word's end (not "task-management-..."). Google and AWS keys
  // glued to a word on either side too: a fuzzed HTTP/2 path showed
  // "models3AIza..." and "AKIA...EXAMPLQD" whole (a 4-letter prefix and
  // 30+ or 16 more characters of that alphabet is no English word)
  /sk-ant-[A-Za-z0-9_-]{8,}/g,
  /sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}/g,
  /\bsk-[A-Za-z0-9_-]{16,}/g,
  /AIza[0-9A-Za-z_-]{30,}/g,
  /\b(?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_][A-Za-z0-9]{20,}/g,
  /(?:AKIA|ASIA)[0-9A-Z]{16}/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
  /\beyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}/g,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
];
const REPLACEMENT = RULES.map((_, i) => (i < 5 ? `$1${REDACTED}` : REDACTED));

/** The rules and their replacements, in the order they apply (what the triggers only make cheaper). */
export const REDACTION_RULES: ReadonlyArray<readonly [RegExp, string]> = RULES.map((re, i) => [re, REPLACEMENT[i]!] as const);

/**
 * Triggers: capture group g (1-based) of each scan names the rules it
 * lets run. Alternatives never start alike at one position, and a scan
 * goes on from the character after each match, so overlapping triggers
 * ("-token=") are all seen.
 */
const TRIGGERS: Array<[RegExp, number[][]]> = [
  [/(authorization)|(api-key|x-auth-token|cookie)|(-(?:api|token|access|pass|secret|auth))|((?:key|token|sig)=|signature=)/gi, [[0], [1], [2], [4]]],
  [/(API_?KEY|TOKEN|SECRET|PASSWORD)|(sk-)|(AIza)|((?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_])|(AKIA|ASIA)|(gh[pousr]_)|(eyJ)|(PRIVATE KEY-----)/g, [[3], [5, 6, 7], [8], [9], [10], [11], [12], [13]]],
];

/** Replace every credential found in `s`. Cheap when there is none. */
export function redactText(s: string): string {
  let run = 0;
  for (const [re, rules] of TRIGGERS) {
    re.lastIndex = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      for (let g = 1; g < m.length; g++) if (m[g] !== undefined) for (const r of rules[g - 1]!) run |= 1 << r;
      re.lastIndex = m.index + 1;
    }
  }
  if (run === 0) return s;
  let out = s;
  for (let i = 0; i < RULES.length; i++) {
    if ((run & (1 << i)) === 0) continue;
    const re = RULES[i]!;
    re.lastIndex = 0;
    if (re.test(out)) {
      re.lastIndex = 0;
      out = out.replace(re, REPLACEMENT[i]!);
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
  if (e.http) {
    // the same fields the interpreter redacts when it redacts early (app.ts): all the client's text
    if (e.http.path !== undefined) e.http.path = redactText(e.http.path);
    if (e.http.host !== undefined) e.http.host = redactText(e.http.host);
    if (e.http.content_type !== undefined) e.http.content_type = redactText(e.http.content_type);
    if (e.http.method !== undefined) e.http.method = redactText(e.http.method);
  }
  if (e.llm) {
    if (e.llm.endpoint !== undefined) e.llm.endpoint = redactText(e.llm.endpoint);
    if (e.llm.model !== undefined) e.llm.model = redactText(e.llm.model);
    if (e.llm.user_message !== undefined) e.llm.user_message = redactText(e.llm.user_message);
    if (e.llm.system_prompt !== undefined) e.llm.system_prompt = redactText(e.llm.system_prompt);
  }
}
