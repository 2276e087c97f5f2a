/**
 * Secrets out of text before it leaves the engine (contract: "Secrets ...
 * never appear in any output or recording unless --no-redact is given").
 * Used on command lines now and on captured payloads later. What is kept:
 * the header or option name and the auth scheme, so a reader still sees
 * *that* a credential was sent and how; what goes: the credential.
 */

import type { BustedEvent, HttpInfo, LlmInfo, McpInfo, McpParty } from './model/event.js';

export const REDACTED = '[REDACTED]';

/**
 * A rule's leading \b (or the lookbehind that stands for it), widened: an
 * escape ends a word too. In a captured body a prompt's "my key:\nsk-..."
 * is the text `\nsk-...`, "日本sk-..." from an ASCII-only JSON encoder
 * `\u672csk-...`, and a form's "key sk-..." `key%20sk-...`; \b sees one
 * word in each, and the key was left in.
 */
function wordStart(re: RegExp): RegExp {
  // the leading \b, or a leading (?<![class]) that stands for it
  return new RegExp(re.source.replace(/^(\\b|\(\?<!\[[^\]]*\]\))/, (b) => `(?:${b}|(?<=\\\\[nrt]|\\\\u[0-9A-Fa-f]{4}|%[0-9A-Fa-f]{2}))`), re.flags);
}

/**
 * Each rule runs only when its trigger was seen: two scans of the text
 * (TRIGGERS, one case-insensitive and one not) find every place where one
 * of the rules could match, and most text (prompts, answers, JSON) has
 * none. A trigger is implied by any match of its rule (a rule's match
 * contains its trigger), so no credential escapes a rule that did not run.
 * A replacement (`$1[REDACTED]`) adds no trigger the text did not have.
 */
const RULES: RegExp[] = [
  // 0 Authorization: Bearer X / Basic X / token X (HTTP headers, curl -H, JSON, and JSON inside a JSON
  // string: a tool call's arguments carry `\"Authorization\":\"Bearer X\"`, hence the backslashes).
  // The scheme takes its own spaces: `\s*(scheme)?\s*` let two runs of spaces share one, and
  // "authorization:" before a megabyte of spaces took time quadratic in them (16 kB: 1 s)
  // A value may start with commas or semicolons ("Bearer ,X": the HTTP/2 fuzzing showed X left whole).
  wordStart(/\b((?:proxy-)?authorization\\*["']?\s*[:=]\s*(?:\\*["'])?(?:(?:bearer|basic|token|digest)\s*)?)[,;]*[^\s"',;\\]+/gi),
  // 1 API key headers, and an AWS session token (SigV4's x-amz-security-token)
  wordStart(/\b((?:x-api-key|api-key|x-goog-api-key|x-auth-token|x-amz-security-token)\\*["']?\s*[:=]\s*(?:\\*["'])?)[,;]*[^\s"',;\\]+/gi),
  // 2 command-line options that carry secrets: --api-key X, --token=X
  /(--?(?:api[-_]?key|token|access[-_]token|password|passwd|secret|auth)(?:\s+|=))(?!-)\S+/gi,
  // 3 NAME_API_KEY=value in environments and scripts. The name is checked by a lookahead and then read
  // once: `[A-Z0-9_]*(?:TOKEN|...)[A-Z0-9_]*=` tried every TOKEN in a long run of capitals against the
  // rest of the run (quadratic: a prompt of "TOKENTOKEN..." without "=" took minutes per megabyte)
  wordStart(/\b(?=[A-Z0-9_]*(?:API_KEY|APIKEY|TOKEN|SECRET|PASSWORD))([A-Z0-9_]*=)\S+/g),
  // 4 query parameters
  /([?&](?:key|api_key|apikey|token|access_token|sig|signature)=)[^&\s"']+/gi,
  // 5.. key-shaped strings, wherever they stand; the distinctive prefixes
  // even glued to a word before them ("keysk-proj-..."), a bare sk- only
  // after a word's end (not "task-management-...", and see wordStart).
  // Google and AWS keys glued to a word on either side too: a fuzzed
  // HTTP/2 path showed "models3AIza..." and "AKIA...EXAMPLQD" whole (a
  // 4-letter prefix and 30+ or 16 more characters of that alphabet is no
  // English word)
  /sk-ant-[A-Za-z0-9_-]{8,}/g,
  /sk-(?:proj|svcacct|admin)-[A-Za-z0-9_-]{16,}/g,
  wordStart(/\bsk-[A-Za-z0-9_-]{16,}/g),
  /AIza[0-9A-Za-z_-]{30,}/g,
  wordStart(/\b(?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_][A-Za-z0-9]{20,}/g),
  /(?:AKIA|ASIA)[0-9A-Z]{16}/g,
  wordStart(/\bgh[pousr]_[A-Za-z0-9]{30,}/g),
  // 12 a JWT (three base64url parts). Its first part is taken whole (the lookahead and \1 cannot give
  // characters back) and the match replaced only when the rest is a JWT's (jwtOrSelf): a failed try
  // thus moves past the part. A plain regex tried again from every "-eyJ" inside one long part and
  // read the part to its end each time (quadratic: "eyJ-" repeated over 16 kB took 0.7 s); a later
  // "eyJ" in the same part ends at the same place, so it cannot start a JWT where the first did not.
  wordStart(/\beyJ(?=([A-Za-z0-9_-]*))\1(\.[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,})?/g),
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  // 14 cookies: the whole value to the end of its line, not to the first ";" (a Cookie header holds
  // several name=value pairs, and any of them may be the session)
  wordStart(/\b((?:set-)?cookie\\*["']?[ \t]*[:=][ \t]*(?:\\*["'])?)[^\r\n"'\\]+/gi),
];

type Replacement = string | ((match: string, ...groups: string[]) => string);

/** Rule 12's replacement: the match when what followed its first part was not a JWT's. */
function jwtOrSelf(m: string, first: string, rest: string | undefined): string {
  return rest !== undefined && first.length >= 10 ? REDACTED : m;
}

const REPLACEMENT: Replacement[] = RULES.map((_, i) => (i < 5 || i === 14 ? `$1${REDACTED}` : i === 12 ? jwtOrSelf : REDACTED));

/**
 * Where each rule that starts with a word start can begin: its leading
 * literals. A rule's regex starting with an assertion (\b, or wordStart's
 * lookbehind) is tried at every position, and V8 cannot skip ahead to a
 * literal (the sk- and Authorization rules were 14% of the engine's time
 * on HTTP/2 traffic, against 2% before wordStart); the literals are found
 * by a plain scan, and the rule is tried there alone (sticky). Every
 * match of a rule starts where its literals match, so this finds the
 * matches the global regex finds, and a failed try costs its assertion.
 */
const STARTS: Array<RegExp | undefined> = [
  /(?:proxy-)?authorization/gi,
  /x-api-key|api-key|x-goog-api-key|x-auth-token|x-amz-security-token/gi,
  undefined,
  undefined,
  undefined,
  undefined,
  undefined,
  /sk-/g,
  undefined,
  /(?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_]/g,
  undefined,
  /gh[pousr]_/g,
  /eyJ/g,
  undefined,
  /(?:set-)?cookie/gi,
];
if (STARTS.length !== RULES.length) throw new Error('redact.ts: STARTS has one entry per rule');
const STICKY = RULES.map((re) => new RegExp(re.source, re.flags.replace('g', '') + 'y'));

/** A string replacement with its $n filled in from M. */
const expand = (rep: string, m: RegExpExecArray): string => (rep.indexOf('$') < 0 ? rep : rep.replace(/\$(\d)/g, (_, d: string) => m[Number(d)] ?? ''));

/** out.replace(RULES[i], REPLACEMENT[i]), by way of STARTS[i]. */
function applyRule(i: number, s: string): string {
  const starts = STARTS[i];
  const rep = REPLACEMENT[i]!;
  if (starts === undefined) {
    const re = RULES[i]!;
    re.lastIndex = 0;
    return typeof rep === 'string' ? s.replace(re, rep) : s.replace(re, rep);
  }
  const rule = STICKY[i]!;
  let out = '';
  let last = 0;
  starts.lastIndex = 0;
  for (let c = starts.exec(s); c !== null; c = starts.exec(s)) {
    rule.lastIndex = c.index;
    const m = rule.exec(s);
    if (m === null || m[0].length === 0) {
      starts.lastIndex = c.index + 1;
      continue;
    }
    out += s.slice(last, m.index) + (typeof rep === 'string' ? expand(rep, m) : rep(m[0], ...(m.slice(1) as string[])));
    last = starts.lastIndex = m.index + m[0].length;
  }
  return last === 0 ? s : out + s.slice(last);
}

/** The rules and their replacements, in the order they apply (what the triggers only make cheaper). */
export const REDACTION_RULES: ReadonlyArray<readonly [RegExp, Replacement]> = RULES.map((re, i) => [re, REPLACEMENT[i]!] as const);

/**
 * Triggers: capture group g (1-based) of each scan names the rules it
 * lets run. Alternatives never start alike at one position, and a scan
 * goes on from the character after each match, so overlapping triggers
 * ("-token=") are all seen.
 */
const TRIGGERS: Array<[RegExp, number[][]]> = [
  [/(authorization)|(api-key|x-auth-token|x-amz-security-token|cookie)|(-(?:api|token|access|pass|secret|auth))|((?:key|token|sig)=|signature=)/gi, [[0], [1, 14], [2], [4]]],
  [/(API_?KEY|TOKEN|SECRET|PASSWORD)|(sk-)|(AIza)|((?:xai|gsk|hf|r8|pplx|fw|nvapi)[-_])|(AKIA|ASIA)|(gh[pousr]_)|(eyJ)|(PRIVATE KEY-----)/g, [[3], [5, 6, 7], [8], [9], [10], [11], [12], [13]]],
];

/**
 * Escapes that spell a character of a key: JSON's \u0073 and a URL's %73.
 * A JSON parser (the server's, a policy's, a reader's) turns
 * "\u0073k-proj-..." into the key, but the rules see the escape. Only
 * letters, digits, "-" and "_" are spelt out (what keys and header names
 * are made of); an escaped quote or backslash stays as it is.
 */
const KEY_CHAR_ESCAPE = /\\u00([2-7][0-9a-fA-F])|%([2-7][0-9a-fA-F])/g;

function unescapeKeyChars(s: string): string {
  return s.replace(KEY_CHAR_ESCAPE, (m, u: string | undefined, p: string | undefined) => {
    const c = parseInt(u ?? p!, 16);
    return (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x2d || c === 0x5f ? String.fromCharCode(c) : m;
  });
}

/**
 * Replace every credential found in `s`. Cheap when there is none. A text
 * whose key characters are escaped (see unescapeKeyChars) is redacted as a
 * parser reads it, with them spelt out, and comes back spelt out when that
 * found a credential. (Spelling out what is left after redacting the text
 * as it stands is not enough: an escaped "B%65arer" was taken for the token
 * and the token after it left in.)
 */
export function redactText(s: string): string {
  if (s.indexOf('\\u00') >= 0 || s.indexOf('%') >= 0) {
    const spelt = unescapeKeyChars(s);
    if (spelt !== s) {
      const out = redactPlain(spelt);
      if (out !== spelt) return out;
    }
  }
  return redactPlain(s);
}

function redactPlain(s: string): string {
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
    out = applyRule(i, out);
  }
  return out;
}

/**
 * redactText of a short name (a method, host, path, content type, model,
 * endpoint), remembered: the same few come with every request of a
 * connection, and two trigger scans each were a tenth of the agent's time
 * on kept-alive TLS traffic. A pure function of the text, so a remembered
 * answer is the answer; at most NAMES_KEPT of them, forgotten all at once.
 */
const NAMES_KEPT = 4096;
const NAME_MAX = 256;
let names = new Map<string, string>();
function redactName(s: string): string {
  if (s.length > NAME_MAX) return redactText(s);
  let r = names.get(s);
  if (r === undefined) {
    r = redactText(s);
    if (names.size >= NAMES_KEPT) names = new Map();
    names.set(s, r);
  }
  return r;
}

/** An HTTP exchange's texts from the wire (a malformed head can run an Authorization line into Host; an HTTP/2 :method is any string), in place. */
export function redactHttp(h: HttpInfo): void {
  if (h.method !== undefined) h.method = redactName(h.method);
  if (h.path !== undefined) h.path = redactName(h.path);
  if (h.host !== undefined) h.host = redactName(h.host);
  if (h.content_type !== undefined) h.content_type = redactName(h.content_type);
  if (h.user_agent !== undefined) h.user_agent = redactName(h.user_agent);
}

/**
 * An LLM call's texts, in place: the prompts, and the names a client or a
 * server chose (model, Azure deployment in the endpoint, tool names), which
 * can hold a key as well as a prompt can (a key pasted as the model name).
 */
export function redactLlm(l: LlmInfo): void {
  if (l.endpoint !== undefined) l.endpoint = redactName(l.endpoint);
  if (l.model !== undefined) l.model = redactName(l.model);
  if (l.user_message !== undefined) l.user_message = redactText(l.user_message);
  if (l.system_prompt !== undefined) l.system_prompt = redactText(l.system_prompt);
  if (l.context !== undefined) l.context = redactText(l.context);
  if (l.tools) l.tools = l.tools.map((t) => (typeof t === 'string' ? redactText(t) : t));
  if (l.tool_calls) l.tool_calls = l.tool_calls.map(redactText);
  if (l.client !== undefined) {
    l.client.name = redactName(l.client.name);
    if (l.client.version !== undefined) l.client.version = redactName(l.client.version);
    if (l.client.language !== undefined) l.client.language = redactName(l.client.language);
  }
}

/** An MCP message's texts, in place: the method, the tool name or resource URI (`?token=`), a string id. */
export function redactMcp(m: McpInfo): void {
  if (m.method !== undefined) m.method = redactName(m.method);
  if (m.tool !== undefined) m.tool = redactName(m.tool);
  if (m.context !== undefined) m.context = redactText(m.context);
  if (typeof m.id === 'string') m.id = redactText(m.id);
  // a session's names are shared by its messages (mcp-session.ts): replaced, not changed in place
  if (m.client !== undefined) m.client = redactParty(m.client);
  if (m.server !== undefined) m.server = redactParty(m.server);
  if (m.protocol_version !== undefined) m.protocol_version = redactName(m.protocol_version);
  if (m.tools !== undefined) m.tools = m.tools.map(redactName);
}

function redactParty(p: McpParty): McpParty {
  const name = redactName(p.name);
  const version = p.version === undefined ? undefined : redactName(p.version);
  if (name === p.name && version === p.version) return p;
  return version === undefined ? { name } : { name, version };
}

/**
 * An event's free text with credentials replaced: what the sinks get when
 * the engine itself had to see the text whole (a policy that looks for
 * secrets in prompts decides before this runs). Changes the event in place.
 * The same fields as the interpreter redacts when there is no policy: this
 * path once left http.host and every name out, so a key that reached them
 * was written out whenever a policy was loaded.
 */
export function redactEvent(e: BustedEvent): void {
  if (e.tls?.payload !== undefined) e.tls.payload = redactPayload(e.tls.payload);
  if (e.http) redactHttp(e.http);
  if (e.llm) redactLlm(e.llm);
  if (e.mcp) redactMcp(e.mcp);
  if (e.error?.message !== undefined) e.error.message = redactText(e.error.message);
}

/** The starts of the key formats the rules above know (what a key cut at a text's end still shows). */
const KEY_STARTS = ['sk-', 'sk_', 'pk-', 'rk-', 'AKIA', 'ASIA', 'AIza', 'ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_', 'eyJ', 'xai-', 'gsk_', 'hf_', 'r8_', 'pplx-', 'fw_', 'nvapi-'];
/** A key's characters: A-Z a-z 0-9 _ - */
const isKeyChar = (c: number): boolean => (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 45;
const LEADING_RUN = /^[A-Za-z0-9_-]{12,}/;

/**
 * A piece of a stream (one TLS call's excerpt) with what a key cut by its
 * edges may leave replaced: the rules need a whole key, and a key split
 * across two calls, or cut by the excerpt's end, went out as two halves
 * that neither matched. At the end, a run that starts like a key (or is the
 * start of a key's prefix, "sk", "AKI"); at the start, a run of 12 or more
 * key characters with a digit and a letter in it (the rest of a key; prose
 * rarely starts so).
 */
export function redactEdges(s: string): string {
  let out = s;
  const lead = LEADING_RUN.exec(out);
  if (lead && /[0-9]/.test(lead[0]) && /[A-Za-z]/.test(lead[0])) out = REDACTED + out.slice(lead[0].length);
  // the trailing run, found from the end (a regex anchored at $ is tried from every position: 7% of
  // the agent's time on kept-alive TLS traffic)
  let at = out.length;
  while (at > 0 && isKeyChar(out.charCodeAt(at - 1))) at--;
  if (at < out.length) {
    const run = out.slice(at);
    if (KEY_STARTS.some((p) => run.startsWith(p) || (run.length >= 2 && p.startsWith(run)))) out = out.slice(0, at) + REDACTED;
  }
  return out;
}

/** A tls_data payload excerpt: its credentials, and what a key cut by its edges may leave. */
export function redactPayload(s: string): string {
  return redactEdges(redactText(s));
}
