/**
 * Realtime LLM APIs on a WebSocket: OpenAI's Realtime API (`GET
 * /v1/realtime?model=`, Azure's `/openai/realtime?deployment=`) and
 * Gemini's Live API (`/ws/google.ai.generativelanguage.<v>.GenerativeService.BidiGenerateContent`).
 * Each JSON message a client sends with text in it (instructions, a user
 * turn, a function's output) is an llm_request; each answer that closes a
 * response with its usage is an llm_response. Audio and video (base64 in
 * `input_audio_buffer.append`, `realtimeInput`) are neither: they carry no
 * text a content rule reads, and would be an event fifty times a second.
 *
 * Message shapes from the APIs' references: OpenAI Realtime client events
 * session.update {session: {model, instructions, tools[{name}]}},
 * conversation.item.create {item: {type, role, content[{type, text}],
 * output}}, response.create {response: {instructions}}; server events
 * session.created/updated {session: {model}}, response.done {response:
 * {usage: {input_tokens, output_tokens}, output[{type: function_call,
 * name}]}}. Gemini Live client messages {setup: {model, systemInstruction,
 * tools}}, {clientContent: {turns[{role, parts[{text}]}]}}, {realtimeInput:
 * {text}}, {toolResponse: {functionResponses}}; server {toolCall:
 * {functionCalls[{name}]}}, {usageMetadata: {promptTokenCount,
 * responseTokenCount}}.
 */
import type { LlmInfo } from '../model/event.js';
import { arr, num, obj, SHAPE_WORD, str, stringsOf } from './llm.js';

export type RealtimeApi = 'openai_realtime' | 'gemini_live';

/** A realtime session: what its messages are read as, and what they said so far that later ones need. */
export interface Realtime {
  api: RealtimeApi;
  endpoint: string;
  model?: string;
  /** function calls the server asked for since the last usage (Gemini sends them apart) */
  calls: string[];
}

/** The realtime API an upgrade request's target opens, with the model its query names; undefined for any other WebSocket. */
export function realtimeOf(target: string | undefined): Realtime | undefined {
  if (!target) return undefined;
  const q = target.indexOf('?');
  const path = q < 0 ? target : target.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  if (/(^|\/)v1\/realtime$/.test(path) || /^\/openai\/realtime$/.test(path)) {
    const model = query.get('model') ?? query.get('deployment') ?? undefined;
    return { api: 'openai_realtime', endpoint: path, calls: [], ...(model ? { model } : {}) };
  }
  if (/^\/ws\/google\.ai\.generativelanguage\.v1(alpha|beta)?\.GenerativeService\.BidiGenerateContent(Constrained)?$/.test(path)) return { api: 'gemini_live', endpoint: path, calls: [] };
  return undefined;
}

/** Text of content parts: strings, or {text} / {type: input_text|text, text}. */
function textOf(parts: unknown): string | undefined {
  if (typeof parts === 'string') return parts;
  const texts = arr(parts)
    .map((p) => (typeof p === 'string' ? p : str(obj(p)?.text)))
    .filter((t): t is string => t !== undefined);
  return texts.length ? texts.join('\n') : undefined;
}

/** An event's or a part's type: lower-case words, dots and _ (conversation.item.create, input_text) */
const EVENT_TYPE = /^[a-z_.]{1,64}$/;

const OPENAI_SILENT = new Set(['input_audio_buffer.append', 'input_audio_buffer.commit', 'input_audio_buffer.clear', 'output_audio_buffer.clear', 'response.cancel', 'conversation.item.truncate', 'conversation.item.delete', 'conversation.item.retrieve']);

/** A client message as an llm_request's llm, when it carries text. */
export function realtimeRequest(rt: Realtime, message: unknown): LlmInfo | undefined {
  const m = obj(message);
  if (!m) return undefined;
  const info: LlmInfo = { endpoint: rt.endpoint, stream: true };
  if (rt.api === 'openai_realtime') {
    const type = str(m.type) ?? '';
    if (OPENAI_SILENT.has(type)) return undefined;
    const session = obj(m.session);
    const model = str(session?.model);
    if (model) rt.model = model;
    const instructions = str(session?.instructions) ?? str(obj(m.response)?.instructions);
    if (instructions !== undefined) info.system_prompt = instructions;
    const tools = arr(session?.tools ?? obj(m.response)?.tools)
      .map((t) => str(obj(t)?.name))
      .filter((n): n is string => n !== undefined);
    if (tools.length) info.tools = tools;
    const item = obj(m.item);
    if (item && str(item.role) === 'user') {
      const t = textOf(item.content);
      if (t !== undefined) info.user_message = t;
    } else if (item && str(item.role) === 'system' && info.system_prompt === undefined) {
      const t = textOf(item.content);
      if (t !== undefined) info.system_prompt = t;
    }
  } else {
    const setup = obj(m.setup);
    const model = str(setup?.model);
    if (model) rt.model = model.replace(/^models\//, '');
    const sys = textOf(obj(setup?.systemInstruction ?? setup?.system_instruction)?.parts);
    if (sys !== undefined) info.system_prompt = sys;
    const tools: string[] = [];
    for (const t of arr(setup?.tools)) for (const d of arr(obj(t)?.functionDeclarations ?? obj(t)?.function_declarations)) if (str(obj(d)?.name)) tools.push(str(obj(d)?.name)!);
    if (tools.length) info.tools = tools;
    const turns = arr(obj(m.clientContent ?? m.client_content)?.turns);
    for (let i = turns.length - 1; i >= 0 && info.user_message === undefined; i--) {
      const t = obj(turns[i]);
      if ((str(t?.role) ?? 'user') === 'user') info.user_message = textOf(t?.parts);
    }
    const input = obj(m.realtimeInput ?? m.realtime_input);
    if (input) {
      const t = str(input.text);
      if (t === undefined && Object.keys(m).length === 1) return undefined; // audio or video only
      if (t !== undefined) info.user_message = t;
    }
    if (info.user_message === undefined) delete info.user_message;
  }
  if (rt.model) info.model = rt.model;
  // the rest of the message's text; base64 media (audio, data) is no text
  const context = stringsOf(
    m,
    (s, key) =>
      s === info.user_message ||
      s === info.system_prompt ||
      (key === 'model' && s.replace(/^models\//, '') === rt.model) ||
      key === 'audio' ||
      key === 'data' ||
      key === 'event_id' ||
      (key === 'type' && EVENT_TYPE.test(s)) ||
      (key === 'role' && SHAPE_WORD.test(s)),
  );
  if (context !== undefined) info.context = context;
  if (info.user_message === undefined && info.system_prompt === undefined && info.context === undefined && info.tools === undefined) return undefined;
  return info;
}

/** A server message as an llm_response's llm, when it closes a response (with its usage). */
export function realtimeResponse(rt: Realtime, message: unknown): Partial<LlmInfo> | undefined {
  const m = obj(message);
  if (!m) return undefined;
  if (rt.api === 'openai_realtime') {
    const model = str(obj(m.session)?.model);
    if (model) rt.model = model;
    if (m.type !== 'response.done') return undefined;
    const r = obj(m.response);
    const out: Partial<LlmInfo> = {};
    const usage = obj(r?.usage);
    const input = num(usage?.input_tokens);
    const output = num(usage?.output_tokens);
    if (input !== undefined || output !== undefined) out.usage = { ...(input !== undefined ? { input_tokens: input } : {}), ...(output !== undefined ? { output_tokens: output } : {}) };
    const calls = arr(r?.output)
      .filter((o) => obj(o)?.type === 'function_call' && str(obj(o)?.name))
      .map((o) => str(obj(o)!.name)!);
    if (calls.length) out.tool_calls = calls;
    return out;
  }
  for (const c of arr(obj(m.toolCall ?? m.tool_call)?.functionCalls ?? obj(m.toolCall ?? m.tool_call)?.function_calls)) {
    const name = str(obj(c)?.name);
    if (name && !rt.calls.includes(name)) rt.calls.push(name);
  }
  const usage = obj(m.usageMetadata ?? m.usage_metadata);
  if (!usage) return undefined;
  const out: Partial<LlmInfo> = {};
  const input = num(usage.promptTokenCount ?? usage.prompt_token_count);
  const output = num(usage.responseTokenCount ?? usage.response_token_count ?? usage.candidatesTokenCount);
  if (input !== undefined || output !== undefined) out.usage = { ...(input !== undefined ? { input_tokens: input } : {}), ...(output !== undefined ? { output_tokens: output } : {}) };
  if (rt.calls.length) out.tool_calls = rt.calls.splice(0);
  return out;
}
