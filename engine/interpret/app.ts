/**
 * The application layer of TLS connections: each (pid, SSL*) gets an
 * HTTP/1.1 parser per direction (a client writes requests and reads
 * responses, a server the other way round), and each complete message is
 * looked at as an LLM call (llm.ts) or MCP JSON-RPC. Responses are paired
 * with requests in order (HTTP/1.1 answers in order on a connection).
 */
import type { TlsCall } from './tls-data.js';
import type { HttpInfo, LlmInfo, McpInfo } from '../model/event.js';
import type { ProviderTable } from '../enrich/provider.js';
import { Http1Stream, type HttpMessage } from '../parse/http1.js';
import { redactText } from '../redact.js';
import { llmRequest, llmResponse, mcpMessages, parseJson, type Api } from './llm.js';

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

interface Conn {
  out: Http1Stream;
  in: Http1Stream;
  pending: Pending[];
  found: Finding[];
  sni?: string;
  /** the first request has been judged */
  judged: boolean;
  pid: number;
  ssl: string;
}

const MAX_CONNS = 16384;
const API_PROVIDER: Partial<Record<Api, string>> = { anthropic: 'anthropic', google: 'google', bedrock: 'bedrock', cohere: 'cohere', ollama: 'ollama' };

export class AppLayer {
  private readonly conns = new Map<string, Conn>();

  constructor(
    private readonly providers: ProviderTable,
    private readonly redact: boolean,
    /** told once per connection whose first request is neither an LLM call, nor MCP, nor to a provider */
    private readonly onUninteresting?: (pid: number, ssl: string) => void,
  ) {}

  /** One whole TLS call in; what it completed out. */
  feed(call: TlsCall): Finding[] {
    const key = `${call.pid}:${call.ssl}`;
    let c = this.conns.get(key);
    if (c === undefined) {
      if (this.conns.size >= MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
      const conn: Conn = { pending: [], found: [], out: undefined!, in: undefined!, judged: false, pid: call.pid, ssl: call.ssl };
      // by what a message is, not which way it went: a server's writes are responses
      const route = (m: HttpMessage, answers: () => Http1Stream) => (m.kind === 'request' ? this.request(conn, m, answers()) : this.response(conn, m));
      conn.out = new Http1Stream((m) => route(m, () => conn.in));
      conn.in = new Http1Stream((m) => route(m, () => conn.out));
      this.conns.set(key, conn);
      c = conn;
    }
    c.sni = call.conn.sni;
    const s = call.direction === 'write' ? c.out : c.in;
    s.push(call.data);
    s.gap(call.len - call.data.length);
    return c.found.splice(0);
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

  /** `answers`: the stream the answer will come on (it needs the method: HEAD answers have no body) */
  private request(c: Conn, m: HttpMessage, answers: Http1Stream): void {
    const host = (m.headers.host ?? c.sni ?? '').replace(/:\d+$/, '') || undefined;
    const http: HttpInfo = { method: m.method, path: m.path ? this.text(m.path) : m.path };
    if (host) http.host = host;
    if (m.headers['content-type']) http.content_type = m.headers['content-type'];
    answers.pendingMethods.push(m.method ?? '');
    const body = parseJson(m.body);
    const call = llmRequest(m.method, m.path, body);
    const pending: Pending = { http };
    if (call) {
      const provider = this.providerFor(c.sni ?? host, call.api);
      const llm = call.info;
      if (provider) llm.provider = provider;
      if (llm.user_message !== undefined) llm.user_message = this.text(llm.user_message);
      if (llm.system_prompt !== undefined) llm.system_prompt = this.text(llm.system_prompt);
      c.found.push({ type: 'llm_request', http, llm, ...(provider ? { provider } : {}) });
      pending.api = call.api;
      pending.llm = llm;
      pending.provider = provider;
    } else {
      for (const mcp of mcpMessages(m.body, m.headers['content-type'])) c.found.push({ type: 'mcp_message', http, mcp });
    }
    c.pending.push(pending);
    if (!c.judged) {
      // the TLS verdict: a connection that starts with neither an LLM call nor MCP, to no provider, is not followed further
      c.judged = true;
      const interesting = call !== undefined || c.found.some((f) => f.type === 'mcp_message') || this.providerFor(c.sni ?? host) !== undefined;
      if (!interesting) this.onUninteresting?.(c.pid, c.ssl);
    }
  }

  private response(c: Conn, m: HttpMessage): void {
    if ((m.status ?? 0) < 200) return; // 1xx: the real answer follows
    const req = c.pending.shift();
    const http: HttpInfo = { ...(req?.http ?? {}), status: m.status };
    if (m.headers['content-type']) http.content_type = m.headers['content-type'];
    else delete http.content_type;
    if (req?.llm) {
      const got = llmResponse(m.body, m.headers['content-type']);
      const llm: LlmInfo = {};
      if (req.llm.provider) llm.provider = req.llm.provider;
      if (req.llm.endpoint) llm.endpoint = req.llm.endpoint;
      const model = got.model ?? req.llm.model;
      if (model) llm.model = model;
      llm.stream = got.stream ?? req.llm.stream ?? false;
      if (got.usage) llm.usage = got.usage;
      c.found.push({ type: 'llm_response', http, llm, ...(req.provider ? { provider: req.provider } : {}) });
      return;
    }
    for (const mcp of mcpMessages(m.body, m.headers['content-type'])) c.found.push({ type: 'mcp_message', http, mcp });
  }
}
