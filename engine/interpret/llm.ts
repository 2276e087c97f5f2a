/**
 * What an HTTP exchange means for AI traffic: an LLM API call (which
 * provider's shape, endpoint, model, stream flag, system prompt, last user
 * message, tools; from the answer: status and token usage), or an MCP
 * JSON-RPC message. Recognised by path and body shape, so a self-hosted
 * OpenAI-compatible server or a gateway with an unknown host name is still
 * an LLM call.
 *
 * Shapes, from each provider's API reference:
 * - OpenAI chat completions `POST …/chat/completions` {model, messages,
 *   stream, tools[{function:{name}}]} → usage {prompt_tokens, completion_tokens};
 *   also Mistral, Groq, Together, DeepSeek, OpenRouter, Fireworks, xAI,
 *   Perplexity, vLLM, Ollama's /v1, and Azure OpenAI
 *   (`/openai/deployments/{deployment}/chat/completions`, the deployment is the model);
 * - OpenAI responses `POST /v1/responses` {model, input, instructions, tools}
 *   → usage {input_tokens, output_tokens};
 * - Anthropic messages `POST /v1/messages` {model, system, messages, stream,
 *   tools[{name}]} → usage {input_tokens, output_tokens}; streamed as
 *   message_start / message_delta events;
 * - Google `POST /v1beta/models/{model}:generateContent` (or
 *   :streamGenerateContent) {contents[{role, parts[{text}]}],
 *   systemInstruction, tools[{functionDeclarations[{name}]}]} →
 *   usageMetadata {promptTokenCount, candidatesTokenCount};
 * - Bedrock `POST /model/{modelId}/invoke|converse(-stream)` → usage
 *   {inputTokens, outputTokens} (converse) or the model family's own;
 * - Cohere `POST /v1/chat|/v2/chat` {model, message | messages} → usage
 *   {billed_units|tokens: {input_tokens, output_tokens}};
 * - Ollama `POST /api/chat|/api/generate` {model, messages | prompt, system,
 *   stream (default true)} → {prompt_eval_count, eval_count}.
 */
import { traceparentOf } from '../parse/traceparent.js';
import type { LlmInfo, McpInfo, McpParty } from '../model/event.js';
import { sseData } from '../parse/http1.js';

export type Api = 'openai_chat' | 'openai_responses' | 'anthropic' | 'google' | 'bedrock' | 'cohere' | 'ollama' | 'openai_completions' | 'other';

export interface LlmCall {
  api: Api;
  info: LlmInfo;
}

type Json = Record<string, unknown>;
/** Parsed JSON, read as the shapes the APIs use (realtime.ts reads with them too). */
export const obj = (v: unknown): Json | undefined => (v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Json) : undefined);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
export const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

/**
 * A path segment's text (`%3A` → `:`), or the segment as it is when its
 * escapes are not UTF-8: decodeURIComponent throws URIError on "%zz" or a
 * cut "%E0%A4", and a model name is the client's text. The throw reached
 * the ring buffer's consumer and stopped the agent (found by fuzzing).
 */
function pathText(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** One decoder for every body: constructing a TextDecoder costs more than decoding a small body. */
const utf8 = new TextDecoder();
const utf16le = new TextDecoder('utf-16le');
const utf16be = new TextDecoder('utf-16be');

/** UTF-32 (TextDecoder has none), its BOM dropped; a unit that is no code point is U+FFFD. */
function utf32(b: Uint8Array, le: boolean): string {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: string[] = [];
  for (let i = 0; i + 4 <= b.length; i += 4) {
    const cp = dv.getUint32(i, le);
    if (i === 0 && cp === 0xfeff) continue;
    out.push(cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) ? '\ufffd' : String.fromCodePoint(cp));
  }
  return out.join('');
}

/**
 * A JSON body's text, in the encoding it was sent in. RFC 8259 says UTF-8,
 * but Python's json.loads, which reads request bodies behind FastAPI and
 * Starlette (vLLM's server, LiteLLM's proxy), takes UTF-16 and UTF-32 too,
 * told apart by a BOM or by which of the first bytes are zero
 * (json.detect_encoding, followed here step by step): a prompt such a
 * server reads must be read here the same way, or a secret sent in UTF-16
 * passes unseen. A BOM is dropped.
 */
export function jsonText(b: Uint8Array): string {
  const [b0, b1, b2, b3] = b;
  if (b.length >= 4 && ((b0 === 0 && b1 === 0 && b2 === 0xfe && b3 === 0xff) || (b0 === 0xff && b1 === 0xfe && b2 === 0 && b3 === 0))) return utf32(b, b0 === 0xff);
  if (b0 === 0xfe && b1 === 0xff) return utf16be.decode(b);
  if (b0 === 0xff && b1 === 0xfe) return utf16le.decode(b);
  if (b.length >= 4) {
    if (b0 === 0) return b1 ? utf16be.decode(b) : utf32(b, false);
    if (b1 === 0) return b2 || b3 ? utf16le.decode(b) : utf32(b, true);
  } else if (b.length === 2) {
    if (b0 === 0) return utf16be.decode(b);
    if (b1 === 0) return utf16le.decode(b);
  }
  return utf8.decode(b);
}

export function parseJson(body: Uint8Array): unknown {
  if (body.length === 0) return undefined;
  const text = jsonText(body);
  try {
    return JSON.parse(text);
  } catch {
    return pythonJson(text);
  }
}

/**
 * TEXT as Python's json.loads reads it, where that differs from JSON.parse:
 * it takes NaN, Infinity and -Infinity as numbers (and pydantic lets them
 * into float fields), so a body with `"temperature": NaN` is a request to a
 * FastAPI server (vLLM, LiteLLM) that JSON.parse refuses, and its prompt
 * would go unread. Those tokens, outside strings, are read as null; any
 * other error is still no JSON. Undefined when not even that parses.
 */
function pythonJson(text: string): unknown {
  if (!/NaN|Infinity/.test(text)) return undefined;
  let out = '';
  let from = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // a backslash escapes the next character
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x4e && text.startsWith('NaN', i)) {
      out += `${text.slice(from, i)}null`;
      from = i + 3;
      i += 2;
    } else if (c === 0x49 && text.startsWith('Infinity', i)) {
      // a minus sign before it goes with it
      const minus = text.charCodeAt(i - 1) === 0x2d && i - 1 >= from;
      out += `${text.slice(from, minus ? i - 1 : i)}null`;
      from = i + 8;
      i += 7;
    }
  }
  try {
    return JSON.parse(out + text.slice(from));
  } catch {
    return undefined;
  }
}

/** The JSON objects among texts (one per SSE event or NDJSON line); others are skipped. */
function jsonObjects(texts: string[]): Json[] {
  const out: Json[] = [];
  for (const t of texts) {
    try {
      const o = obj(JSON.parse(t));
      if (o) out.push(o);
    } catch {
      // not JSON: a comment, a keep-alive, a cut line
    }
  }
  return out;
}

/** Text of a message `content`: a string, or parts with `text` (OpenAI, Anthropic, Bedrock, Cohere v2). */
function text(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  const parts = arr(content)
    .map((p) => (typeof p === 'string' ? p : str(obj(p)?.text) ?? str(obj(p)?.input_text)))
    .filter((x): x is string => x !== undefined);
  return parts.length ? parts.join('\n') : undefined;
}

/** The last message with one of the roles, as text. */
function lastOf(messages: unknown, roles: string[], contentKey = 'content'): string | undefined {
  const ms = arr(messages);
  for (let i = ms.length - 1; i >= 0; i--) {
    const m = obj(ms[i]);
    if (m && roles.includes(String(m.role ?? ''))) {
      const t = contentKey === 'parts' ? text(m.parts) : text(m[contentKey]);
      if (t !== undefined) return t;
    }
  }
  return undefined;
}

function toolNames(tools: unknown): string[] | undefined {
  const names: string[] = [];
  for (const t of arr(tools)) {
    const o = obj(t);
    if (!o) continue;
    const fn = obj(o.function);
    if (fn && str(fn.name)) names.push(str(fn.name)!);
    else if (str(o.name)) names.push(str(o.name)!);
    else if (str(obj(o.toolSpec)?.name)) names.push(str(obj(o.toolSpec)?.name)!);
    for (const d of arr(o.functionDeclarations ?? o.function_declarations)) if (str(obj(d)?.name)) names.push(str(obj(d)?.name)!);
  }
  return names.length ? names : undefined;
}

/**
 * Tool calls the model made in one JSON object (a whole answer or one
 * streamed event) of any API: OpenAI chat (`tool_calls`, also in stream
 * deltas), OpenAI responses (`function_call` output items), Anthropic
 * (`tool_use` blocks), Google (`functionCall` parts), Bedrock converse
 * (`toolUse`), Cohere v2 and Ollama (`tool_calls`). Names go to `out` in
 * order; a call with an id is counted once however many events repeat it.
 */
function toolCalls(o: Json, out: string[], seen: Set<string>): void {
  const add = (name: unknown, id: unknown) => {
    const n = str(name);
    if (!n) return;
    const key = str(id);
    if (key !== undefined) {
      if (seen.has(key)) return;
      seen.add(key);
    }
    out.push(n);
  };
  const fromMessage = (m: Json | undefined) => {
    if (!m) return;
    for (const c of arr(m.tool_calls)) {
      const t = obj(c);
      if (t) add(obj(t.function)?.name ?? t.name, t.id);
    }
    for (const b of arr(m.content)) {
      const x = obj(b);
      if (!x) continue;
      if (x.type === 'tool_use') add(x.name, x.id);
      const tu = obj(x.toolUse);
      if (tu) add(tu.name, tu.toolUseId);
    }
    for (const part of arr(m.parts)) add(obj(obj(part)?.functionCall)?.name, undefined);
  };
  for (const ch of arr(o.choices)) {
    const c = obj(ch);
    fromMessage(obj(c?.message));
    fromMessage(obj(c?.delta));
  }
  for (const item of arr(o.output)) {
    const it = obj(item);
    if (it?.type === 'function_call') add(it.name, it.call_id ?? it.id);
  }
  const item = obj(o.item);
  if (item?.type === 'function_call') add(item.name, item.call_id ?? item.id);
  const resp = obj(o.response);
  if (resp) for (const it of arr(resp.output)) if (obj(it)?.type === 'function_call') add(obj(it)!.name, obj(it)!.call_id ?? obj(it)!.id);
  const block = obj(o.content_block);
  if (block?.type === 'tool_use') add(block.name, block.id);
  if (o.type === 'message' || o.role === 'assistant') fromMessage(o);
  for (const cand of arr(o.candidates)) fromMessage(obj(obj(cand)?.content));
  fromMessage(obj(obj(o.output)?.message)); // Bedrock converse
  fromMessage(obj(o.message)); // Cohere v2, Ollama
  fromMessage(obj(obj(o.delta)?.message)); // Cohere v2 stream (tool-call-start)
}

/** The tool calls of the conversation's last assistant turn: what the client ran and now answers with results. */
function lastTurnToolCalls(messages: unknown): string[] | undefined {
  const ms = arr(messages);
  for (let i = ms.length - 1; i >= 0; i--) {
    const m = obj(ms[i]);
    if (!m) continue;
    const role = String(m.role ?? (m.type === 'function_call' ? 'assistant' : ''));
    if (role !== 'assistant' && role !== 'model') continue;
    const out: string[] = [];
    // OpenAI responses input: consecutive function_call items
    if (m.type === 'function_call') {
      for (let j = i; j >= 0 && obj(ms[j])?.type === 'function_call'; j--) if (str(obj(ms[j])!.name)) out.unshift(str(obj(ms[j])!.name)!);
    } else toolCalls({ ...m, role: 'assistant' }, out, new Set());
    return out.length ? out : undefined;
  }
  return undefined;
}

/** A value of `role` or `type` that only says what a part is (lower-case letters and _): no key is shaped so. */
export const SHAPE_WORD = /^[a-z_]{1,32}$/;
/** Deeper than this, a body is not an API request a model reads (and a walk must end). */
const MAX_DEPTH = 64;

/**
 * Everything else a request sends: the strings of its body other than the
 * user message and system prompt already taken, its model, and words that
 * only name a role or a part's type, newline-joined in body order; or
 * undefined when there is none. Earlier turns, assistant messages, tool
 * calls' arguments, tool results (an agent that read a credentials file
 * sends it here), documents and any field no API shape above knows: what
 * leaves the host is all of the body, so a policy looking for secrets must
 * see all of it.
 */
function contextOf(body: unknown, info: LlmInfo): string | undefined {
  const skip = contextSkip((s) => s === info.user_message || s === info.system_prompt, info.model);
  const o = obj(body);
  if (!o) return stringsOf(body, skip);
  // tool definitions first: they follow the messages in most bodies, and an output shows the context's end,
  // where the conversation's newest text should be, not the tools' JSON schemas
  const defs: Record<string, unknown> = {};
  const rest: Record<string, unknown> = {};
  for (const k in o) (TOOL_KEYS.has(k) ? defs : rest)[k] = o[k];
  const parts = [stringsOf(defs, skip), stringsOf(rest, skip)].filter((x): x is string => x !== undefined);
  return parts.length ? parts.join('\n') : undefined;
}

/** stringsOf's skip for a request's context: strings TAKEN as fields of their own already, the model, and words that only name a role or a part's type. */
function contextSkip(taken: (s: string) => boolean, model: string | undefined): (s: string, key: string) => boolean {
  return (s, key) => taken(s) || (key === 'model' && s === model) || ((key === 'role' || key === 'type') && SHAPE_WORD.test(s));
}

/** Where request bodies define their tools (OpenAI, Anthropic, Google; OpenAI's legacy functions; Bedrock converse). */
const TOOL_KEYS = new Set(['tools', 'functions', 'toolConfig', 'tool_config']);

/** The strings of a JSON value in document order, newline-joined, but those `skip` names (with the key they are under); undefined when none is left. */
export function stringsOf(value: unknown, skip: (s: string, key: string) => boolean): string | undefined {
  const out: string[] = [];
  const walk = (v: unknown, key: string, depth: number): void => {
    if (typeof v === 'string') {
      if (!skip(v, key)) out.push(v);
    } else if (depth < MAX_DEPTH && v !== null && typeof v === 'object') {
      if (Array.isArray(v)) for (const x of v) walk(x, key, depth + 1);
      else for (const k in v) walk((v as Json)[k], k, depth + 1);
    }
  };
  walk(value, '', 0);
  return out.length ? out.join('\n') : undefined;
}

/** How much of a request's context outputs show: its end, where a conversation's newest text is. */
export const CONTEXT_SHOWN = 1024;

/**
 * A context as outputs show it: whole up to CONTEXT_SHOWN characters, else
 * its last CONTEXT_SHOWN after a note of how much came before. Every request
 * of a conversation repeats all of it, so written whole it would grow each
 * output with the square of the conversation's length; policies saw it all.
 */
export function shownContext(c: string): string {
  if (c.length <= CONTEXT_SHOWN) return c;
  let from = c.length - CONTEXT_SHOWN;
  // not between the two halves of a surrogate pair
  if (c.charCodeAt(from) >= 0xdc00 && c.charCodeAt(from) <= 0xdfff) from++;
  return `[${from} characters before] ${c.slice(from)}`;
}

/**
 * Model APIs that take text but hold no conversation: embeddings,
 * moderation, image generation and edits, speech, token counting, reranking,
 * Anthropic's legacy text completions (OpenAI's and Azure's /v1 paths,
 * Anthropic, Cohere v1/v2, Ollama, Gemini's :embedContent and friends).
 */
const OTHER_ENDPOINT =
  /(\/v1\/(embeddings|moderations|images\/(generations|edits)|audio\/speech|messages\/count_tokens|complete|rerank|embed)|\/openai\/deployments\/[^/]+\/(embeddings|images\/generations|audio\/speech)|\/v2\/(embed|rerank)|\/api\/embed(dings)?|:(embedContent|batchEmbedContents|countTokens))$/;

/**
 * An API call that is no chat but sends text a model reads (OTHER_ENDPOINT,
 * or any JSON POST to a known provider's host: the caller decides), as an
 * llm_request: its model, its input text (embeddings' `input`, a `prompt`, a
 * `query`) as the user message, and every other string as its context, so
 * that the content rules see what leaves through it too.
 */
export function otherCall(path: string, body: Record<string, unknown>): LlmCall {
  const p = path.split('?')[0]!;
  const info: LlmInfo = { endpoint: p, stream: body.stream === true };
  const g = /\/models\/([^/:]+):[A-Za-z]+$/.exec(p);
  const azure = /^\/openai\/deployments\/([^/]+)\//.exec(p);
  const model = str(body.model) ?? (g ? pathText(g[1]!) : azure ? pathText(azure[1]!) : undefined);
  if (model) info.model = model;
  const input = body.input ?? body.prompt ?? body.query ?? body.text ?? body.texts;
  const user = typeof input === 'string' ? input : Array.isArray(input) && input.every((x) => typeof x === 'string') && input.length ? input.join('\n') : undefined;
  if (user !== undefined) info.user_message = user;
  // the input's own strings are the user message already (an array's one by one)
  const taken = new Set<unknown>(user === undefined ? [] : Array.isArray(input) ? input : [user]);
  const context = stringsOf(body, contextSkip((s) => taken.has(s), info.model));
  if (context !== undefined) info.context = context;
  return { api: 'other', info };
}

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/** A part of a form whose bytes are text to read: no type (a field), text/*, JSON, JSON lines. */
const TEXT_PART = /^(text\/|application\/(json|jsonl|x-ndjson|x-jsonlines)\b)/i;

/**
 * A multipart/form-data body sent to a provider (RFC 7578): the Files API
 * (a Batch API's JSONL of requests, fine-tuning data), audio and image
 * uploads with their text fields. Its text parts are what a model will
 * read, so they are an llm_request's context (its `prompt` field the user
 * message, its `model` field the model); other parts are read when they are
 * UTF-8 text (a JSONL file uploaded as application/octet-stream), binary
 * ones (audio, images) skipped. Undefined when the body is no such form or holds no text.
 */
export function formCall(path: string, contentType: string | undefined, body: Uint8Array): LlmCall | undefined {
  const b = /^multipart\/form-data\s*;.*?\bboundary=(?:"([^"]+)"|([^\s;]+))/i.exec(contentType ?? '');
  const boundary = b?.[1] ?? b?.[2];
  if (!boundary) return undefined;
  const buf = Buffer.from(body.buffer, body.byteOffset, body.length);
  const delim = Buffer.from(`--${boundary}`, 'latin1');
  const info: LlmInfo = { endpoint: path.split('?')[0]!, stream: false };
  const rest: string[] = [];
  for (let at = buf.indexOf(delim); at >= 0; ) {
    const from = at + delim.length;
    if (buf[from] === 0x2d && buf[from + 1] === 0x2d) break; // the close delimiter
    const next = buf.indexOf(delim, from);
    const part = buf.subarray(from, next < 0 ? buf.length : next);
    at = next;
    const end = part.indexOf('\r\n\r\n');
    if (end < 0) continue;
    const head = part.subarray(0, end).toString('latin1');
    const name = /name="([^"]*)"/i.exec(head)?.[1];
    const type = /^content-type:\s*([^\r\n]+)/im.exec(head)?.[1];
    // the part's content, less the CRLF that belongs to the next delimiter
    let content = part.subarray(end + 4);
    if (next >= 0 && content.length >= 2 && content[content.length - 2] === 0x0d && content[content.length - 1] === 0x0a) content = content.subarray(0, content.length - 2);
    let value: string;
    if (type === undefined || TEXT_PART.test(type)) value = content.toString('utf8');
    else {
      // a file sent as application/octet-stream (curl -F, httpx) is text when it is UTF-8 with no NUL; audio and images are not
      try {
        value = strictUtf8.decode(content);
      } catch {
        continue;
      }
      if (value.includes('\0')) continue;
    }
    if (name === 'model' && type === undefined) info.model = value;
    else if (name === 'prompt' && type === undefined) info.user_message = value;
    else if (!(name === 'purpose' || name === 'response_format') || value.length > 64) rest.push(value);
  }
  if (rest.length) info.context = rest.join('\n');
  if (info.context === undefined && info.user_message === undefined) return undefined;
  return { api: 'other', info };
}

/** Recognise an LLM API request; undefined when it is not one. */
/**
 * A request to an LLM API that carries no prompt, as a client sends before
 * its prompts on the same connection: the model list of OpenAI-compatible
 * servers (`/v1/models`), Gemini's (`/v1beta/models`), Azure's
 * (`/openai/models`, `/openai/deployments`), Ollama's `/api/tags`, `/api/ps`,
 * `/api/version` and `/api/show`. Its connection is kept followed (not
 * marked skip): on HTTP/2 a skip could not be undone.
 */
export function llmApiProbe(path: string | undefined): boolean {
  return path !== undefined && LLM_API_PROBE.test(path);
}

const LLM_API_PROBE = /^(\/v1\/models|\/v1beta\/models|\/openai\/models|\/openai\/deployments|\/api\/(tags|ps|version|show))(\/|\?|$)/;

/**
 * Is PATH (without its query) one that llmRequest reads as an LLM API's by
 * the path (its body may still have to have the API's shape)? For a
 * request judged before its body is whole (app.ts judgePart).
 */
export function llmApiPath(path: string): boolean {
  return pathApi(path) !== undefined || OTHER_ENDPOINT.test(path);
}

const AZURE = /^\/openai\/deployments\/([^/]+)\/(chat\/completions|completions|responses)$/;
const GOOGLE = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/;
const BEDROCK = /^\/model\/([^/]+)\/(invoke|invoke-with-response-stream|converse|converse-stream)$/;

/** The API a request's path (without its query) names; llmRequest wants some of them to have their body's shape too. */
function pathApi(p: string): Api | undefined {
  const azure = AZURE.exec(p)?.[2];
  if (/\/chat\/completions$/.test(p) || /\/v1\/agents\/completions$/.test(p) || azure === 'chat/completions') return 'openai_chat';
  if (/\/v1\/fim\/completions$/.test(p)) return 'openai_completions'; // Mistral fill-in-the-middle
  if (/\/v1\/responses$/.test(p) || azure === 'responses') return 'openai_responses';
  if (/\/v1\/completions$/.test(p) || azure === 'completions') return 'openai_completions';
  if (/\/v1\/messages$/.test(p)) return 'anthropic';
  if (GOOGLE.test(p)) return 'google';
  if (BEDROCK.test(p)) return 'bedrock';
  if (/^\/(v1|v2)\/chat$/.test(p)) return 'cohere';
  if (/^\/api\/(chat|generate)$/.test(p)) return 'ollama';
  return undefined;
}

export function llmRequest(method: string | undefined, path: string | undefined, bodyRaw: unknown): LlmCall | undefined {
  if (method !== 'POST' || !path) return undefined;
  const p = path.split('?')[0]!;
  const body = obj(bodyRaw);
  const info: LlmInfo = { endpoint: p };
  const model = str(body?.model);
  const azure = AZURE.exec(p);
  const google = GOOGLE.exec(p);
  const bedrock = BEDROCK.exec(p);
  let api = pathApi(p);
  // these paths are theirs only with a body of their shape
  if (api === 'anthropic' && !(body && Array.isArray(body.messages))) api = undefined;
  else if (api === 'cohere' && !(body && (typeof body.message === 'string' || Array.isArray(body.messages)))) api = undefined;
  else if (api === 'ollama' && !(body && typeof body.model === 'string')) api = undefined;
  if (api === undefined) {
    if (body && OTHER_ENDPOINT.test(p)) return otherCall(p, body);
    // any other path: an OpenAI-compatible gateway or self-hosted server, known by its body (a model and role-tagged messages)
    if (body && typeof body.model === 'string' && arr(body.messages).length > 0 && arr(body.messages).every((m) => typeof obj(m)?.role === 'string')) api = 'openai_chat';
    else return undefined;
  }
  if (model) info.model = model;
  if (azure && !info.model) info.model = pathText(azure[1]!);
  switch (api) {
    case 'openai_chat':
    case 'openai_completions': {
      info.stream = body?.stream === true;
      const sys = lastOf(body?.messages, ['system', 'developer']);
      if (sys !== undefined) info.system_prompt = sys;
      const user = lastOf(body?.messages, ['user']) ?? str(body?.prompt);
      if (user !== undefined) info.user_message = user;
      break;
    }
    case 'openai_responses': {
      info.stream = body?.stream === true;
      if (str(body?.instructions)) info.system_prompt = str(body?.instructions);
      const input = body?.input;
      const user = typeof input === 'string' ? input : lastOf(input, ['user']);
      if (user !== undefined) info.user_message = user;
      break;
    }
    case 'anthropic': {
      info.stream = body?.stream === true;
      const sys = text(body?.system);
      if (sys !== undefined) info.system_prompt = sys;
      const user = lastOf(body?.messages, ['user']);
      if (user !== undefined) info.user_message = user;
      break;
    }
    case 'google': {
      info.model = pathText(google![1]!);
      info.stream = google![2] === 'streamGenerateContent';
      const sys = text(obj(body?.systemInstruction ?? body?.system_instruction)?.parts);
      if (sys !== undefined) info.system_prompt = sys;
      const user = lastOf(body?.contents, ['user'], 'parts') ?? lastOf(body?.contents, [''], 'parts');
      if (user !== undefined) info.user_message = user;
      break;
    }
    case 'bedrock': {
      info.model = pathText(bedrock![1]!);
      info.stream = bedrock![2]!.endsWith('stream');
      const sys = text(body?.system);
      if (sys !== undefined) info.system_prompt = sys;
      const user = lastOf(body?.messages, ['user']);
      if (user !== undefined) info.user_message = user;
      break;
    }
    case 'cohere': {
      info.stream = body?.stream === true;
      const user = str(body?.message) ?? lastOf(body?.messages, ['user']);
      if (user !== undefined) info.user_message = user;
      const sys = str(body?.preamble) ?? lastOf(body?.messages, ['system']);
      if (sys !== undefined) info.system_prompt = sys;
      break;
    }
    case 'ollama': {
      info.stream = body?.stream !== false; // Ollama streams unless told not to
      const user = str(body?.prompt) ?? lastOf(body?.messages, ['user']);
      if (user !== undefined) info.user_message = user;
      const sys = str(body?.system) ?? lastOf(body?.messages, ['system']);
      if (sys !== undefined) info.system_prompt = sys;
      break;
    }
  }
  const tools = toolNames(body?.tools);
  if (tools) info.tools = tools;
  const calls = lastTurnToolCalls(api === 'google' ? body?.contents : api === 'openai_responses' ? body?.input : body?.messages);
  if (calls) info.tool_calls = calls;
  const context = contextOf(body, info);
  if (context !== undefined) info.context = context;
  return { api, info };
}

/** Token usage from one JSON object of any of the shapes above (a whole answer or one streamed event). */
function usageOf(o: Json): { input_tokens?: number; output_tokens?: number } | undefined {
  // OpenAI chat/responses, Anthropic (and its stream's message_start), OpenAI responses' response.completed event,
  // Google, Cohere v1 (meta.billed_units) and v2 (usage.billed_units, usage.tokens)
  let u = obj(o.usage) ?? obj(obj(o.message)?.usage) ?? obj(obj(o.response)?.usage) ?? obj(o.usageMetadata) ?? obj(obj(o.meta)?.billed_units) ?? obj(obj(o.meta)?.tokens);
  if (u && (obj(u.billed_units) || obj(u.tokens))) u = obj(u.billed_units) ?? obj(u.tokens);
  let input: number | undefined;
  let output: number | undefined;
  if (u) {
    input = num(u.prompt_tokens) ?? num(u.input_tokens) ?? num(u.promptTokenCount) ?? num(u.inputTokens);
    output = num(u.completion_tokens) ?? num(u.output_tokens) ?? num(u.candidatesTokenCount) ?? num(u.outputTokens);
  }
  input ??= num(o.prompt_eval_count);
  output ??= num(o.eval_count);
  if (input === undefined && output === undefined) return undefined;
  const r: { input_tokens?: number; output_tokens?: number } = {};
  if (input !== undefined) r.input_tokens = input;
  if (output !== undefined) r.output_tokens = output;
  return r;
}

/**
 * The answer to an LLM call: model and usage from a JSON body, or from
 * server-sent events / newline-delimited JSON (Ollama) when it streamed;
 * later events' counts win (Anthropic's message_delta carries the final
 * output count, OpenAI's last chunk the whole usage).
 */
/** a body that begins as a server-sent event stream does (a field line) */
const SSE_START = /^(?:data|event|id|retry):/m;

export function llmResponse(body: Uint8Array, contentType: string | undefined): Partial<LlmInfo> {
  const out: Partial<LlmInfo> = {};
  const textBody = utf8.decode(body);
  let objects: Json[] = [];
  if ((contentType ?? '').includes('text/event-stream') || SSE_START.test(textBody.slice(0, 64))) {
    out.stream = true;
    objects = jsonObjects(sseData(textBody).filter((d) => d !== '[DONE]'));
  } else {
    const whole = obj(parseJson(body));
    if (whole) objects = [whole];
    else if ((contentType ?? '').includes('ndjson') || textBody.includes('\n{')) {
      objects = jsonObjects(textBody.split('\n'));
      if (objects.length > 1) out.stream = true;
    }
  }
  const usage: { input_tokens?: number; output_tokens?: number } = {};
  const calls: string[] = [];
  const seen = new Set<string>();
  for (const o of objects) {
    toolCalls(o, calls, seen);
    const m = str(o.model) ?? str(obj(o.message)?.model) ?? str(obj(o.response)?.model) ?? str(o.modelVersion);
    if (m) out.model = m;
    const u = usageOf(o);
    if (u?.input_tokens !== undefined) usage.input_tokens = u.input_tokens;
    if (u?.output_tokens !== undefined) usage.output_tokens = u.output_tokens;
  }
  if (usage.input_tokens !== undefined || usage.output_tokens !== undefined) out.usage = usage;
  if (calls.length) out.tool_calls = calls;
  return out;
}

/** MCP (JSON-RPC 2.0) messages in a body: one object, a batch, or server-sent events carrying them. */
/** `json`: parseJson(body) when the caller has it already (undefined: not parsed yet, or no JSON). */
export function mcpMessages(body: Uint8Array, contentType: string | undefined, json?: unknown): McpInfo[] {
  if ((contentType ?? '').includes('text/event-stream')) return mcpFromSse(utf8.decode(body));
  // no content type (an HTTP/2 answer whose header came from an HPACK entry not seen): an event stream by its text
  if (contentType === undefined && json === undefined && SSE_START.test(utf8.decode(body.subarray(0, 64)))) return mcpFromSse(utf8.decode(body));
  const v = json !== undefined ? json : parseJson(body);
  return mcpFromValues(Array.isArray(v) ? v : v === undefined ? [] : [v]);
}

/** JSON-RPC messages in server-sent events (each event's data one message, or a batch). */
export function mcpFromSse(text: string): McpInfo[] {
  const values: unknown[] = [];
  for (const d of sseData(text)) {
    try {
      const v: unknown = JSON.parse(d);
      if (Array.isArray(v)) values.push(...v);
      else values.push(v);
    } catch {
      // not JSON: not MCP
    }
  }
  return mcpFromValues(values);
}

/** The MCP messages among JSON-RPC values (a batch is several). */
export function mcpFromValues(values: unknown[]): McpInfo[] {
  const out: McpInfo[] = [];
  for (const v of values) {
    const o = obj(v);
    if (!o || o.jsonrpc !== '2.0') continue;
    const id = typeof o.id === 'string' || typeof o.id === 'number' ? o.id : undefined;
    const method = str(o.method);
    const m: McpInfo = { kind: method === undefined ? 'response' : id === undefined ? 'notification' : 'request' };
    if (method) m.method = method;
    if (id !== undefined) m.id = id;
    const params = obj(o.params);
    if (method === 'tools/call' && str(params?.name)) m.tool = str(params?.name);
    if ((method === 'resources/read' || method === 'resources/subscribe') && str(params?.uri)) m.tool = str(params?.uri);
    if (method === 'prompts/get' && str(params?.name)) m.tool = str(params?.name);
    if (method !== undefined) {
      const context = stringsOf(params, (s, key) => s === m.tool && (key === 'name' || key === 'uri'));
      if (context !== undefined) m.context = context;
      // the W3C trace context a traced client sends in _meta (OpenTelemetry's MCP conventions)
      const tp = traceparentOf(obj(params?._meta)?.traceparent);
      if (tp !== undefined) m.traceparent = tp;
    }
    if (method === 'initialize') {
      const client = partyOf(params?.clientInfo);
      if (client) m.client = client;
      const version = str(params?.protocolVersion);
      if (version !== undefined) m.protocol_version = clip(version);
    }
    const result = method === undefined ? obj(o.result) : undefined;
    if (result) {
      // an answer to initialize names its server; one to tools/list lists the tools (known by their shape: an answer names no method)
      const server = partyOf(result.serverInfo);
      if (server) {
        m.server = server;
        const version = str(result.protocolVersion);
        if (version !== undefined) m.protocol_version = clip(version);
      }
      if (Array.isArray(result.tools)) {
        const tools: string[] = [];
        for (const t of result.tools) {
          const name = str(obj(t)?.name);
          if (name !== undefined && tools.length < MAX_TOOLS) tools.push(clip(name));
        }
        if (tools.length > 0) {
          m.tools = tools;
          // what the server tells the model about them (descriptions, its parameters'): where tool poisoning hides
          const said = stringsOf(result.tools, (_s, key) => key === 'name' || key === 'type');
          if (said !== undefined) m.context = said;
        }
      } else if (server === undefined) {
        // any other answer (a tool's result, a resource read, a prompt): what it hands the model, where an
        // indirect prompt injection arrives (a web page or issue the tool read, telling the model what to do)
        const said = stringsOf(result, (_s, key) => ANSWER_LABELS.has(key));
        if (said !== undefined) m.context = said;
      }
    }
    out.push(m);
  }
  return out;
}

/** an answer's strings that label its content rather than being it (a content block's type, a resource's MIME type) */
const ANSWER_LABELS = new Set(['type', 'mimeType', 'uri', 'annotations', 'audience', 'role', 'nextCursor']);

/** tool names kept from a tools/list answer, and the longest name or version kept */
const MAX_TOOLS = 256;
const MAX_NAME = 256;

const clip = (s: string): string => (s.length > MAX_NAME ? s.slice(0, MAX_NAME) : s);

/** `initialize`'s clientInfo or serverInfo ({name, version}), when it has a name. */
function partyOf(v: unknown): McpParty | undefined {
  const o = obj(v);
  const name = str(o?.name);
  if (name === undefined) return undefined;
  const p: McpParty = { name: clip(name) };
  const version = str(o!.version);
  if (version !== undefined) p.version = clip(version);
  return p;
}
