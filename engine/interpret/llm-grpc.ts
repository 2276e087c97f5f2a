/**
 * Gemini over gRPC: Google's client libraries for the Gemini API
 * (google.ai.generativelanguage) and for Vertex AI (google.cloud.aiplatform,
 * gRPC by default in its Python SDK) send GenerateContent and
 * StreamGenerateContent as protobuf over HTTP/2, not JSON. Read by the
 * field numbers of googleapis' public .proto files (generative_service,
 * content, tool and prediction_service .proto; the two APIs number the same
 * messages differently), into the same LlmInfo as the JSON API.
 */
import type { LlmInfo } from '../model/event.js';
import type { GrpcMessages } from '../parse/grpc.js';
import { pbInt, pbMessage, pbMessages, pbString, pbStructStrings, type PbMessage } from '../parse/protobuf.js';

/** Where each field is, per API. */
interface Numbers {
  /** GenerateContentRequest */
  model: number;
  contents: number;
  system: number;
  tools: number;
  /** Content */
  role: number;
  parts: number;
  /** Part */
  text: number;
  call: number;
  response: number;
  /** GenerateContentResponse */
  candidates: number;
  usage: number;
  modelVersion: number;
  /** Candidate */
  content: number;
}

const GEMINI: Numbers = { model: 1, contents: 2, system: 8, tools: 5, role: 2, parts: 1, text: 2, call: 4, response: 5, candidates: 1, usage: 3, modelVersion: 4, content: 1 };
const VERTEX: Numbers = { model: 5, contents: 2, system: 8, tools: 6, role: 1, parts: 2, text: 1, call: 5, response: 6, candidates: 2, usage: 4, modelVersion: 11, content: 2 };

/** Both number Tool.function_declarations 1, FunctionDeclaration.name and FunctionCall/FunctionResponse name 1, args/response 2, and UsageMetadata's counts 1 and 2. */
const PATH = /^\/google\.(ai\.generativelanguage|cloud\.aiplatform)\.v1(?:alpha|beta|beta1)?\.(GenerativeService|PredictionService)\/(GenerateContent|StreamGenerateContent)$/;

export interface GrpcCall {
  /** which numbering the answer is read with */
  vertex: boolean;
  info: LlmInfo;
}

/** A Content's text parts, newline-joined (undefined when it has none). */
function textOf(c: PbMessage, n: Numbers): string | undefined {
  const texts: string[] = [];
  for (const p of pbMessages(c, n.parts)) {
    const t = pbString(p, n.text);
    if (t !== undefined) texts.push(t);
  }
  return texts.length ? texts.join('\n') : undefined;
}

/** What else a Content says: its text parts (unless they are the prompt taken), function calls' and responses' names and strings. */
function otherStrings(c: PbMessage, n: Numbers, out: string[], withText: boolean): void {
  for (const p of pbMessages(c, n.parts)) {
    const t = withText ? pbString(p, n.text) : undefined;
    if (t !== undefined) out.push(t);
    for (const f of [...pbMessages(p, n.call), ...pbMessages(p, n.response)]) {
      const name = pbString(f, 1);
      if (name !== undefined) out.push(name);
      for (const s of pbMessages(f, 2)) pbStructStrings(s, out);
    }
  }
}

/** A gRPC request to a Gemini method, as an LLM request; undefined for any other path or a body that is not its message. */
export function grpcLlmRequest(path: string | undefined, body: GrpcMessages): GrpcCall | undefined {
  const m = PATH.exec(path ?? '');
  if (!m || (m[1] === 'ai.generativelanguage') !== (m[2] === 'GenerativeService')) return undefined;
  const vertex = m[1] === 'cloud.aiplatform';
  const n = vertex ? VERTEX : GEMINI;
  const info: LlmInfo = { endpoint: path, stream: m[3] === 'StreamGenerateContent' };
  const req = body.messages.length ? pbMessage(body.messages[0]!) : undefined;
  if (!req) return { vertex, info };
  // "models/gemini-2.5-pro", or Vertex's "projects/p/locations/l/publishers/google/models/gemini-2.5-pro"
  const model = pbString(req, n.model);
  if (model) info.model = model.slice(model.lastIndexOf('models/') >= 0 ? model.lastIndexOf('models/') + 7 : 0);
  const system = pbMessages(req, n.system)[0];
  const sys = system && textOf(system, n);
  if (sys !== undefined) info.system_prompt = sys;
  const contents = pbMessages(req, n.contents);
  // the last user turn with text (a turn with no role is the user's)
  let user = -1;
  for (let i = contents.length - 1; i >= 0 && user < 0; i--) {
    const role = pbString(contents[i], n.role) ?? '';
    if ((role === 'user' || role === '') && textOf(contents[i]!, n) !== undefined) user = i;
  }
  if (user >= 0) info.user_message = textOf(contents[user]!, n);
  const tools: string[] = [];
  for (const t of pbMessages(req, n.tools)) for (const d of pbMessages(t, 1)) {
    const name = pbString(d, 1);
    if (name !== undefined) tools.push(name);
  }
  if (tools.length) info.tools = tools;
  // the rest, as llm.context is for JSON: other turns, function calls and their responses
  const rest: string[] = [];
  contents.forEach((c, i) => otherStrings(c, n, rest, i !== user));
  if (rest.length) info.context = rest.join('\n');
  return { vertex, info };
}

/** What a GenerateContentResponse (or a stream of them) says: model version, usage (the last reported), the functions called. */
export function grpcLlmResponse(body: GrpcMessages, vertex: boolean): Partial<LlmInfo> {
  const n = vertex ? VERTEX : GEMINI;
  const out: Partial<LlmInfo> = {};
  const calls: string[] = [];
  for (const b of body.messages) {
    const r = pbMessage(b);
    if (!r) continue;
    const version = pbString(r, n.modelVersion);
    if (version) out.model = version;
    const usage = pbMessages(r, n.usage)[0];
    if (usage) {
      const input = pbInt(usage, 1);
      const output = pbInt(usage, 2);
      out.usage = { ...(input !== undefined ? { input_tokens: input } : {}), ...(output !== undefined ? { output_tokens: output } : {}) };
    }
    for (const cand of pbMessages(r, n.candidates)) for (const c of pbMessages(cand, n.content)) for (const p of pbMessages(c, n.parts)) for (const f of pbMessages(p, n.call)) {
      const name = pbString(f, 1);
      if (name !== undefined && !calls.includes(name)) calls.push(name);
    }
  }
  if (calls.length) out.tool_calls = calls;
  return out;
}
