/**
 * The application layer of TLS connections: each (pid, SSL*) gets a parser
 * per direction, HTTP/2 when the first bytes are its client preface or a
 * server's SETTINGS frame, HTTP/1.1 otherwise (a client writes requests and
 * reads responses, a server the other way round), and each complete message
 * is looked at as an LLM call (llm.ts) or MCP JSON-RPC. Responses are paired
 * with requests in order on HTTP/1.1, by stream on HTTP/2.
 */
import type { TlsCall } from './tls-data.js';
import type { HttpInfo, LlmInfo, McpInfo } from '../model/event.js';
import type { ProviderTable } from '../enrich/provider.js';
import { Http1Stream, type HttpMessage } from '../parse/http1.js';
import { Http2Stream, looksLikeHttp2, type Http2Message } from '../parse/http2.js';
import { redactText } from '../redact.js';
import { llmRequest, llmResponse, mcpFromSse, mcpMessages, parseJson, type Api } from './llm.js';

export type Finding =
  | { type: 'llm_request'; http: HttpInfo; llm: LlmInfo; provider?: string }
  | { type: 'llm_response'; http: HttpInfo; llm: LlmInfo; provider?: string }
  | { type: 'mcp_message'; http: HttpInfo; mcp: McpInfo };

interface Pending {
  http: HttpInfo;
  api?: Api;
  llm?: LlmInfo;
  provider?: string;
}

interface Parser {
  push(b: Uint8Array): void;
  gap(n: number): void;
}

interface Conn {
  /** undefined until the first bytes tell */
  out?: Parser;
  in?: Parser;
  h2: boolean;
  /** HTTP/1.1: requests waiting for their answers, oldest first */
  pending: Pending[];
  /** HTTP/2: by stream */
  streams: Map<number, Pending>;
  found: Finding[];
  sni?: string;
  /** the first request has been judged */
  judged: boolean;
  pid: number;
  ssl: string;
}

const MAX_CONNS = 16384;
const MAX_STREAMS = 1024;
const MAX_SSE_EVENT = 1 << 20;
const API_PROVIDER: Partial<Record<Api, string>> = { anthropic: 'anthropic', google: 'google', bedrock: 'bedrock', cohere: 'cohere', ollama: 'ollama' };

export class AppLayer {
  private readonly conns = new Map<string, Conn>();

  constructor(
    private readonly providers: ProviderTable,
    private readonly redact: boolean,
    /** told once per connection whose first request is neither an LLM call, nor MCP, nor to a provider */
    private readonly onUninteresting?: (pid: number, ssl: string) => void,
  ) {}

  /**
   * One whole TLS call in; what it completed out, and for HTTP/2 a readable
   * rendering of the call (decoded headers and DATA) to show instead of the
   * raw frames, whose HPACK strings could hide a secret from redaction.
   */
  feed(call: TlsCall): { found: Finding[]; render?: string; lost?: string } {
    const key = `${call.pid}:${call.ssl}`;
    let c = this.conns.get(key);
    if (c === undefined) {
      if (this.conns.size >= MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
      c = { pending: [], streams: new Map(), found: [], h2: false, judged: false, pid: call.pid, ssl: call.ssl };
      this.conns.set(key, c);
    }
    c.sni = call.conn.sni;
    if (c.out === undefined) {
      if (call.data.length === 0) return { found: [] };
      this.start(c, call);
    }
    const s = call.direction === 'write' ? c.out! : c.in!;
    this.notes = c.h2 ? [] : undefined;
    const wasBroken = c.h2 && (s as Http2Stream).broken;
    s.push(call.data);
    s.gap(call.len - call.data.length);
    const found = c.found.splice(0);
    if (!c.h2) return { found };
    const h2 = s as Http2Stream;
    // a direction lost to a connection error (RFC 9113 5.4.1) says why, once (the caller reports it), and
    // every later call of it says that it is not decoded: nothing after is dropped silently
    const why = h2.lostReason;
    const lost = why !== undefined && !wasBroken ? why : undefined;
    let render = this.notes!.length ? this.notes!.join('') : why === undefined ? '[HTTP/2 control frames]' : '';
    if (why !== undefined) render += `[HTTP/2 ${call.direction === 'write' ? 'writes' : 'reads'} not decoded from here on: ${why}]`;
    this.notes = undefined;
    return lost === undefined ? { found, render } : { found, render, lost };
  }

  /** what the HTTP/2 parsers noted during the current call */
  private notes: string[] | undefined;

  /** The parsers of a connection, chosen by its first bytes. */
  private start(c: Conn, call: TlsCall): void {
    const h2 = looksLikeHttp2(call.data);
    if (h2) {
      // which direction carries the client's preface: this one if it starts with it, else the other
      const clientIsThis = h2 === 'client';
      const clientIsOut = clientIsThis === (call.direction === 'write');
      const route = (m: Http2Message) => (m.kind === 'request' ? this.request(c, m) : this.response(c, m));
      c.h2 = true;
      const note = (t: string) => this.notes?.push(t);
      const part = (m: Http2Message, d: Uint8Array) => this.partial(c, m, d);
      c.out = new Http2Stream(route, clientIsOut, note, part);
      c.in = new Http2Stream(route, !clientIsOut, note, part);
      return;
    }
    // by what a message is, not which way it went: a server's writes are responses
    const part = (m: HttpMessage, d: Uint8Array) => this.partial(c, m, d);
    const out = new Http1Stream((m) => (m.kind === 'request' ? this.request(c, m, inn) : this.response(c, m)), part);
    const inn: Http1Stream = new Http1Stream((m) => (m.kind === 'request' ? this.request(c, m, out) : this.response(c, m)), part);
    c.out = out;
    c.in = inn;
  }

  forget(pid: number, ssl: string): void {
    this.conns.delete(`${pid}:${ssl}`);
  }

  private text(s: string): string {
    return this.redact ? redactText(s) : s;
  }

  private providerFor(host: string | undefined, api?: Api): string | undefined {
    return (host ? this.providers.forHost(host) : undefined) ?? (api ? API_PROVIDER[api] : undefined);
  }

  /** `answers`: the HTTP/1.1 stream the answer will come on (it needs the method: HEAD answers have no body) */
  private request(c: Conn, m: HttpMessage | Http2Message, answers?: Http1Stream): void {
    const host = (m.host ?? c.sni ?? '').replace(/:\d+$/, '') || undefined;
    // an HTTP/2 :method is any string the client sent (HTTP/1's is one of a few tokens), so it is redacted too
    const http: HttpInfo = { method: m.method === undefined ? undefined : this.text(m.method), path: m.path ? this.text(m.path) : m.path };
    // header values are the client's text: a malformed head can run one field into the next (an
    // Authorization line into Host), so they are redacted as the path is
    if (host) http.host = this.text(host);
    if (m.contentType) http.content_type = this.text(m.contentType);
    if (c.h2) http.version = '2';
    answers?.pendingMethods.push(m.method ?? '');
    const body = parseJson(m.body);
    const call = llmRequest(m.method, m.path, body);
    const pending: Pending = { http };
    if (call) {
      const provider = this.providerFor(c.sni ?? host, call.api);
      const llm = call.info;
      if (provider) llm.provider = provider;
      // both come from the path (the endpoint is the path, a Google/Bedrock/Azure model is a segment of it)
      if (llm.endpoint !== undefined) llm.endpoint = this.text(llm.endpoint);
      if (llm.model !== undefined) llm.model = this.text(llm.model);
      if (llm.user_message !== undefined) llm.user_message = this.text(llm.user_message);
      if (llm.system_prompt !== undefined) llm.system_prompt = this.text(llm.system_prompt);
      c.found.push({ type: 'llm_request', http, llm, ...(provider ? { provider } : {}) });
      pending.api = call.api;
      pending.llm = llm;
      pending.provider = provider;
    } else {
      for (const mcp of mcpMessages(m.body, m.contentType)) c.found.push({ type: 'mcp_message', http, mcp });
    }
    if ('stream' in m) {
      if (c.streams.size >= MAX_STREAMS) c.streams.delete(c.streams.keys().next().value!);
      c.streams.set(m.stream, pending);
    } else c.pending.push(pending);
    if (!c.judged) {
      // the TLS verdict: a connection that starts with neither an LLM call nor MCP, to no provider, is not followed further
      c.judged = true;
      const interesting = call !== undefined || c.found.some((f) => f.type === 'mcp_message') || this.providerFor(c.sni ?? host) !== undefined;
      if (!interesting) this.onUninteresting?.(c.pid, c.ssl);
    }
  }

  /**
   * A piece of a response body as it arrives. A server-sent event stream
   * that answers no LLM call (MCP's streamable HTTP, or its older HTTP+SSE
   * transport whose GET stream never ends) is read event by event, so its
   * JSON-RPC messages are reported as they come, not when (if ever) the
   * stream closes. LLM streams are read whole at their end (usage comes last).
   */
  private partial(c: Conn, m: HttpMessage | Http2Message, data: Uint8Array): void {
    if (m.kind !== 'response' || (m.status ?? 0) < 200 || !(m.contentType ?? '').includes('text/event-stream')) return;
    const req = 'stream' in m ? c.streams.get(m.stream) : c.pending[0];
    if (req?.llm) return;
    let st = this.sse.get(m);
    if (!st) {
      st = { text: '', dec: new TextDecoder() };
      this.sse.set(m, st);
    }
    st.text += st.dec.decode(data, { stream: true });
    const cut = Math.max(st.text.lastIndexOf('\n\n'), st.text.lastIndexOf('\r\n\r\n'), st.text.lastIndexOf('\r\r'));
    if (cut < 0) {
      if (st.text.length > MAX_SSE_EVENT) st.text = ''; // one event this big is no JSON-RPC message we follow
      return;
    }
    const done = st.text.slice(0, cut);
    st.text = st.text.slice(cut).replace(/^(\r\n|\n|\r)+/, '');
    const ct = m.contentType;
    const http: HttpInfo = { ...(req?.http ?? {}), status: m.status, content_type: ct === undefined ? ct : this.text(ct) };
    for (const mcp of mcpFromSse(done)) c.found.push({ type: 'mcp_message', http, mcp });
  }

  /** event streams being read as they arrive: what is left after the last whole event */
  private readonly sse = new WeakMap<HttpMessage, { text: string; dec: TextDecoder }>();

  private response(c: Conn, m: HttpMessage | Http2Message): void {
    if ((m.status ?? 0) < 200) return; // 1xx: the real answer follows
    let req: Pending | undefined;
    if ('stream' in m) {
      req = c.streams.get(m.stream);
      c.streams.delete(m.stream);
    } else req = c.pending.shift();
    const http: HttpInfo = { ...(req?.http ?? {}), status: m.status };
    if (m.contentType) http.content_type = this.text(m.contentType);
    else delete http.content_type;
    if (req?.llm) {
      const got = llmResponse(m.body, m.contentType);
      const llm: LlmInfo = {};
      if (req.llm.provider) llm.provider = req.llm.provider;
      if (req.llm.endpoint) llm.endpoint = req.llm.endpoint;
      const model = got.model ?? req.llm.model;
      if (model) llm.model = model;
      llm.stream = got.stream ?? req.llm.stream ?? false;
      if (got.usage) llm.usage = got.usage;
      if (got.tool_calls) llm.tool_calls = got.tool_calls;
      c.found.push({ type: 'llm_response', http, llm, ...(req.provider ? { provider: req.provider } : {}) });
      return;
    }
    const streamed = this.sse.get(m);
    if (streamed) {
      // read event by event already: only what followed the last whole event
      this.sse.delete(m);
      for (const mcp of mcpFromSse(streamed.text + streamed.dec.decode())) c.found.push({ type: 'mcp_message', http, mcp });
      return;
    }
    for (const mcp of mcpMessages(m.body, m.contentType)) c.found.push({ type: 'mcp_message', http, mcp });
  }
}
