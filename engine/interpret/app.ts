/**
 * The application layer of TLS connections: each (pid, SSL*) gets a parser
 * per direction, HTTP/2 when the first bytes are its client preface or a
 * server's SETTINGS frame, HTTP/1.1 otherwise (a client writes requests and
 * reads responses, a server the other way round), and each complete message
 * is looked at as an LLM call (llm.ts) or MCP JSON-RPC. Responses are paired
 * with requests in order on HTTP/1.1, by stream on HTTP/2.
 */
import type { TlsCall } from './tls-data.js';
import type { HttpInfo, LlmInfo, McpInfo, McpParty } from '../model/event.js';
import type { ProviderTable } from '../enrich/provider.js';
import { BODY_BUDGET_BYTES, BodyBudget, concatBytes, MAX_BODY } from '../parse/bytes.js';
import { codingsOf, decodeBody } from '../parse/encoding.js';
import { Http1Stream, sseEndpoint, type HttpMessage } from '../parse/http1.js';
import { Http2Stream, looksLikeHttp2, type Http2Message } from '../parse/http2.js';
import { redactHttp, redactLlm, redactMcp } from '../redact.js';
import { formCall, llmApiPath, llmApiProbe, llmRequest, llmResponse, mcpFromSse, mcpMessages, obj, otherCall, parseJson, type Api, type LlmCall } from './llm.js';
import { grpcLlmRequest, grpcLlmResponse } from './llm-grpc.js';
import { grpcMessages, isGrpc } from '../parse/grpc.js';
import { WsReader, wsDeflateOf, type WsDeflate } from '../parse/websocket.js';
import { realtimeOf, realtimeRequest, realtimeResponse, type Realtime } from './realtime.js';
import { McpSession, McpSessions } from './mcp-session.js';
import { clientOf } from './client.js';
import { eventOf } from './request-events.js';
import { msBetween } from './clock.js';
import { traceparentOf } from '../parse/traceparent.js';

/**
 * What the layer reads: one whole TLS call (tls-data.ts), or the next piece
 * of a plain-text HTTP connection's stream (`ssl` is then plain.ts
 * plainKey() of its socket). `len` past `data`: bytes never seen.
 */
export type AppCall = Pick<TlsCall, 'pid' | 'ssl' | 'direction' | 'len' | 'data'> & { conn: { sni?: string } };

export type Finding =
  | { type: 'llm_request'; http: HttpInfo; llm: LlmInfo; provider?: string }
  | { type: 'llm_response'; http: HttpInfo; llm: LlmInfo; provider?: string }
  | { type: 'mcp_message'; http: HttpInfo; mcp: McpInfo }
  /**
   * a request whose body was not read whole: what policies saw of it was
   * only its start; or, with `reason`, perhaps nothing of it (a compressed
   * body that does not decode, a body whose framing is ambiguous)
   */
  | { type: 'cut'; http: HttpInfo; provider?: string; reason?: string };

interface Pending {
  http: HttpInfo;
  api?: Api;
  llm?: LlmInfo;
  provider?: string;
  /** a Gemini call over gRPC: its answer is protobuf, numbered as this API numbers it */
  grpc?: { vertex: boolean };
  /** when the call that completed the request was made (ns, the kernel's clock; 0: not known) */
  sentNs: number;
  /** when the first piece of its answer's body was read (ns): a streamed answer's first chunk */
  firstNs?: number;
}

interface Parser {
  push(b: Uint8Array): void;
  gap(n: number): void;
  /** dropped: give back the body bytes held */
  release(): void;
}

interface Conn {
  /** undefined until the first bytes tell */
  out?: Parser;
  in?: Parser;
  h2: boolean;
  /** HTTP/2: the client's direction is this side's writes */
  clientOut?: boolean;
  /** HTTP/2: the kernel watches it (watchFrom): its writes are read for their requests */
  watched?: boolean;
  /** HTTP/2, watched: the kernel stops copying its reads (not with --tls-capture-all); readsSkipped() says whether it does now */
  skipsReads?: boolean;
  /**
   * HTTP/2, watched: an LLM call or MCP message went out on it, and its
   * reads are copied for good (picked up part way, Http2Stream.resume):
   * true until the kernel is told (takeReadsBack), false after
   */
  readsBack?: boolean;
  /**
   * HTTP/2, watched: the kernel copies its reads for now, since the write
   * with this call id carried a request body (tls.bpf.c watch_reads), until
   * the engine has read the request (readsUnwanted)
   */
  kernelReads?: string;
  /** HTTP/1.1: requests waiting for their answers, oldest first */
  pending: Pending[];
  /** HTTP/2: by stream */
  streams: Map<number, Pending>;
  found: Finding[];
  sni?: string;
  /** the first request has been judged */
  judged: boolean;
  /** HTTP/1.1: its requests arrive in what this side reads (a server's connection) */
  requestsIn?: boolean;
  /** the last held write carried part of a request still to be finished (judged on that part) */
  partWritten?: boolean;
  /** writeLost() said that its writes are no HTTP, and they have not been since */
  lostSaid?: boolean;
  /**
   * a realtime LLM API's WebSocket (realtime.ts): asked for by the client,
   * readers once the server agreed; `host`: the upgrade request's Host, else
   * the server name
   */
  ws?: { rt: Realtime; host: string | undefined; client?: WsReader; server?: WsReader };
  /** the MCP session its messages belong to when they name no Mcp-Session-Id (mcp-session.ts) */
  mcp?: McpSession;
  pid: number;
  ssl: string;
}

const MAX_CONNS = 16384;
const MAX_STREAMS = 1024;
/** longest server-sent event followed as it arrives; a longer one is dropped and reported as lost */
const MAX_SSE_EVENT = 1 << 20;
/**
 * Where an event ends (an empty line, HTML §9.2.6): two line ends, a CR
 * before an LF being one of them, so "data: a\r\ndata: b" is no end.
 */
const EVENT_END = /(?:\r\n|\n|\r(?!\n))(?:\r\n|\n|\r)/g;

/** An event stream read as it arrives: the text after its last whole event. */
interface SseState {
  /** the held text, in the pieces it came in (joined only when an event ends: joining on every piece was quadratic) */
  parts: string[];
  held: number;
  /** the held text's last 3 characters, where an event end may begin */
  tail: string;
  dec: TextDecoder;
  /** an event longer than MAX_SSE_EVENT was dropped: what comes up to the next event end is the rest of it */
  skipping: boolean;
}
/** A request's body text read while held (AppLayer.judgePart). */
interface PartText {
  dec: TextDecoder;
  /** what came since the last look */
  fresh: string[];
  /** the end of what was looked at last: a secret cut between two parts is seen whole */
  tail: string;
  /** the LLM call's rules apply to it (known once, kept) */
  llm: boolean;
  /** a compressed body: its bytes as sent so far, and how many bytes of it decoded at the last look */
  coded?: { parts: Uint8Array[]; size: number; decoded: number; failed?: boolean };
}
/** a compressed body is judged part by part while what was sent of it is no longer than this (decoded afresh each time) */
const PART_DECODE_MAX = 1 << 20;
/** how much of a part is looked at again with the next: longer than any credential the rules look for */
const PART_OVERLAP = 512;
/** a JSON body with a `messages` member: a chat API's, on any path */
const MESSAGES_KEY = /"messages"\s*:/;
const JSON_ESCAPE = /\\(?:u([0-9a-fA-F]{4})|(["\\/bfnrt]))/g;
const ESCAPED: Record<string, string> = { '"': '"', '\\': '\\', '/': '/', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };

/** TEXT with JSON's string escapes read: a part of a JSON body is no JSON a parser would take. */
export function jsonUnescaped(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(JSON_ESCAPE, (_, hex: string | undefined, c: string | undefined) => (hex !== undefined ? String.fromCharCode(parseInt(hex, 16)) : ESCAPED[c!]!));
}

/** What one direction carried so far was read as whole messages (HTTP/1.1; true for HTTP/2, or a direction not begun). */
function parsedWhole(p: Parser | undefined): boolean {
  return p instanceof Http1Stream ? p.idle : true;
}

/** A watched HTTP/2 connection's reads are not copied now: the kernel stopped, and neither an AI request (for good) nor a write's body (for now) turned them back on. */
function readsSkipped(c: Conn): boolean {
  return c.skipsReads === true && c.readsBack === undefined && c.kernelReads === undefined;
}

/** The session id in an HTTP+SSE endpoint's query (`sessionId`, the TypeScript SDK's; `session_id`, Python's). */
function sseSessionId(path: string): string | undefined {
  const q = path.indexOf('?');
  if (q < 0) return undefined;
  const m = /(?:^|&)(?:sessionId|session_id)=([^&#]+)/.exec(path.slice(q + 1));
  return m ? m[1] : undefined;
}

/** MCP endpoints whose server name is remembered */
const MAX_MCP_ENDPOINTS = 4096;

/** An MCP endpoint: the host a request named and its path without the query. */
function mcpEndpoint(http: HttpInfo): string {
  return `${(http.host ?? '').toLowerCase()}${(http.path ?? '').split('?')[0]}`;
}

/**
 * What M says of who sent it, read of AI traffic only: its User-Agent, cut
 * to 256 characters (redacted with the rest of the head when the finding is
 * pushed), and the W3C trace context a traced program sent with it
 * (`traceparent`), so that busted's span of the call joins that trace.
 */
function userAgent(http: HttpInfo, m: HttpMessage | Http2Message): void {
  const ua = m.headers['user-agent'];
  if (ua !== undefined && ua !== '') http.user_agent = ua.length > 256 ? ua.slice(0, 256) : ua;
  const tp = traceparentOf(m.headers.traceparent);
  if (tp !== undefined) http.traceparent = tp;
}

/** The host a request on C names: its Host (or :authority) without the port, else C's server name. */
function requestHost(c: Conn, m: HttpMessage | Http2Message): string | undefined {
  return (m.host ?? c.sni ?? '').replace(/:\d+$/, '') || undefined;
}

/**
 * How long an LLM call took, as its process saw it: from the call that
 * completed the request to the one that completed its answer
 * (`duration_ms`), and for a streamed answer to the first piece of its
 * body (`ttft_ms`, time to first token). Both come from the kernel's
 * timestamps of the TLS library calls (or packets), not from when the
 * engine read them; absent where a time is not known.
 */
function callTiming(llm: LlmInfo, req: Pending, now: number): void {
  if (req.sentNs <= 0 || now < req.sentNs) return;
  llm.duration_ms = msBetween(req.sentNs, now);
  if (llm.stream && req.firstNs !== undefined && req.firstNs >= req.sentNs) llm.ttft_ms = msBetween(req.sentNs, req.firstNs);
}

const API_PROVIDER: Partial<Record<Api, string>> = { anthropic: 'anthropic', google: 'google', bedrock: 'bedrock', cohere: 'cohere', ollama: 'ollama' };

export class AppLayer {
  private readonly conns = new Map<string, Conn>();
  /** MCP sessions by `${pid}:${Mcp-Session-Id}` */
  private readonly mcpSessions = new McpSessions();
  /**
   * The server each MCP endpoint (host and path) named in its last answer
   * to initialize: a session that did not begin where it was read (another
   * process, a connection without the session's id, a client that skipped
   * initialize) is still of that server.
   */
  private readonly mcpEndpoints = new Map<string, McpParty>();

  constructor(
    private readonly providers: ProviderTable,
    private readonly redact: boolean,
    /** told once per connection whose first request is neither an LLM call, nor MCP, nor to a provider */
    private readonly onUninteresting?: (pid: number, ssl: string) => void,
    /** told what could not be followed (an event longer than the layer keeps): the interpreter reports it as a `lost` event */
    private readonly onLost?: (count: number, reason: string) => void,
    /** the body bytes all connections' parsers may hold at once (bytes.ts BodyBudget) */
    bodyBudget = BODY_BUDGET_BYTES,
  ) {
    this.bodies = new BodyBudget(bodyBudget);
  }

  /** body bytes held across every connection's parsers; past its max, bodies are cut (and reported as such) */
  readonly bodies: BodyBudget;

  /** what was given up on, by reason */
  readonly stats = { sseEventsDropped: 0 };

  /** A connection forgotten: its parsers give back what they hold. */
  private drop(key: string): void {
    const c = this.conns.get(key);
    if (c === undefined) return;
    this.conns.delete(key);
    c.out?.release();
    c.in?.release();
  }

  /**
   * One whole TLS call in; what it completed out, and for HTTP/2 a readable
   * rendering of the call (decoded headers and DATA) to show instead of the
   * raw frames, whose HPACK strings could hide a secret from redaction.
   */
  feed(call: AppCall, held = false, ts = 0): { found: Finding[]; render?: string; lost?: string } {
    this.nowNs = ts;
    const key = `${call.pid}:${call.ssl}`;
    let c = this.conns.get(key);
    if (c === undefined) {
      if (this.conns.size >= MAX_CONNS) this.drop(this.conns.keys().next().value!);
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
    // a held write: the requests it carries part of are judged on that part before it may leave
    if (held && call.direction === 'write') this.touched = new Set();
    try {
      s.push(call.data);
      s.gap(call.len - call.data.length);
      if (this.touched) {
        c.partWritten = false;
        for (const m of this.touched) {
          if (m.complete) continue;
          this.judgePart(c, m);
          c.partWritten = true;
        }
      }
    } finally {
      this.touched = undefined;
    }
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

  /** when the call being read was made (ns, the kernel's clock; 0: not known): what an LLM call's timing is measured by */
  private nowNs = 0;

  /** what the HTTP/2 parsers noted during the current call */
  private notes: string[] | undefined;

  /** The parsers of a connection, chosen by its first bytes. */
  private start(c: Conn, call: AppCall): void {
    const h2 = looksLikeHttp2(call.data);
    if (h2) {
      // which direction carries the client's preface: this one if it starts with it, else the other
      const clientIsThis = h2 === 'client';
      const clientIsOut = clientIsThis === (call.direction === 'write');
      const route = (m: Http2Message) => (m.kind === 'request' ? this.request(c, m) : this.response(c, m));
      c.h2 = true;
      c.clientOut = clientIsOut;
      const note = (t: string) => this.notes?.push(t);
      const part = (m: Http2Message, d: Uint8Array) => this.partial(c, m, d);
      c.out = new Http2Stream(route, clientIsOut, note, part, this.bodies);
      c.in = new Http2Stream(route, !clientIsOut, note, part, this.bodies);
      return;
    }
    // by what a message is, not which way it went: a server's writes are responses
    const part = (m: HttpMessage, d: Uint8Array) => this.partial(c, m, d);
    const out = new Http1Stream((m) => (m.kind === 'request' ? this.request(c, m, inn, out) : this.response(c, m, out)), part, this.bodies);
    const inn: Http1Stream = new Http1Stream((m) => (m.kind === 'request' ? ((c.requestsIn = true), this.request(c, m, out, inn)) : this.response(c, m, inn)), part, this.bodies);
    c.out = out;
    c.in = inn;
  }

  /**
   * Everything written on the connection so far has been read as whole
   * messages (and reported): nothing of a request is still to come. True
   * for a connection the layer does not know.
   */
  writesDone(pid: number, ssl: string): boolean {
    return parsedWhole(this.conns.get(`${pid}:${ssl}`)?.out);
  }

  /**
   * Everything read on the connection so far has been read as whole
   * messages: nothing of a request is still to come (a server's side).
   */
  readsDone(pid: number, ssl: string): boolean {
    return parsedWhole(this.conns.get(`${pid}:${ssl}`)?.in);
  }

  /**
   * The last held write left a request unfinished with part of its body
   * (judged on that part): more of it is to come. (A head alone is not
   * such a part: a client that sends `Expect: 100-continue` waits for the
   * server's answer to it before it writes the body.)
   */
  requestUnfinished(pid: number, ssl: string): boolean {
    return this.conns.get(`${pid}:${ssl}`)?.partWritten === true;
  }

  /** An HTTP/1.1 connection whose requests this side reads: a server's. */
  requestsRead(pid: number, ssl: string): boolean {
    return this.conns.get(`${pid}:${ssl}`)?.requestsIn === true;
  }

  /**
   * The request being written is already longer than its body is read to
   * (MAX_BODY): said once per request (true the first time), and then not
   * again as a `cut` at its end.
   */
  takeWriteCut(pid: number, ssl: string): boolean {
    const out = this.conns.get(`${pid}:${ssl}`)?.out;
    const m = out instanceof Http1Stream ? out.cutShort : undefined;
    if (m === undefined || m.cutSaid) return false;
    m.cutSaid = true;
    return true;
  }

  /**
   * What is written on the connection is not HTTP/1.1 as far as it was read
   * (the parser lost its place): true once each time it loses its place.
   */
  writeLost(pid: number, ssl: string): boolean {
    const c = this.conns.get(`${pid}:${ssl}`);
    const out = c?.out;
    if (!(out instanceof Http1Stream)) return false;
    if (!out.lost) return (c!.lostSaid = false);
    if (c!.lostSaid) return false;
    return (c!.lostSaid = true);
  }

  /**
   * An HTTP/2 connection of no AI traffic so far, whose requests this side
   * writes: where its writes stand in their frames, for the kernel to watch
   * them (tls.bpf.c BUSTED_TLS_WATCH: writes still copied, reads not, only
   * a write with a request body held). `null` when they cannot be followed
   * from here (inside a frame header); undefined when the connection is no
   * such one (HTTP/1.1, a server's side, a direction no longer decoded).
   */
  watchFrom(pid: number, ssl: string): { left: number; data: boolean } | null | undefined {
    const c = this.conns.get(`${pid}:${ssl}`);
    if (c === undefined || !c.h2 || !c.clientOut || !(c.out instanceof Http2Stream) || c.out.broken) return undefined;
    return c.out.frameCarry ?? null;
  }

  /**
   * The connection is watched from here (the interpreter gave the kernel
   * watchFrom's place); `skipsReads`: the kernel no longer copies its
   * reads (not with --tls-capture-all).
   */
  watched(pid: number, ssl: string, skipsReads: boolean): void {
    const c = this.conns.get(`${pid}:${ssl}`);
    if (c === undefined) return;
    c.watched = true;
    c.skipsReads = skipsReads;
  }

  /**
   * A watched connection whose reads are to be copied again: an LLM call or
   * MCP message went out on it, and its answer is wanted (the `llm_response`
   * with its usage). True once, when that happens; `readsFollowed` after.
   */
  takeReadsBack(pid: number, ssl: string): boolean {
    const c = this.conns.get(`${pid}:${ssl}`);
    if (c?.readsBack !== true) return false;
    c.readsBack = false;
    return true;
  }

  /**
   * The kernel copies a watched connection's reads from the write CALLID on
   * (it carried a request body: tls.bpf.c BUSTED_TLS_F_READS_ON), before
   * this layer has read it: the reads are picked up part way, as when the
   * engine turns them on itself, so that an answer that comes at once is
   * read too.
   */
  readsTurnedOn(pid: number, ssl: string, callId: string): void {
    const c = this.conns.get(`${pid}:${ssl}`);
    if (c === undefined || !c.watched || c.readsBack !== undefined) return;
    const skipped = readsSkipped(c);
    c.kernelReads = callId;
    if (skipped && c.in instanceof Http2Stream) c.in.resume((sid) => c.streams.has(sid));
  }

  /**
   * The reads the kernel turned on (readsTurnedOn) are not wanted after
   * all: every request written since is whole, and none was an LLM call or
   * MCP message. The call id to give the kernel (it forgets the reads only
   * if no later write turned them on), once; undefined otherwise.
   */
  readsUnwanted(pid: number, ssl: string): string | undefined {
    const c = this.conns.get(`${pid}:${ssl}`);
    const id = c?.kernelReads;
    if (id === undefined || c!.readsBack !== undefined) return undefined;
    if (c!.out instanceof Http2Stream && c!.out.openStreams > 0) return undefined;
    c!.kernelReads = undefined;
    return id;
  }

  /** A watched connection whose reads are copied again (takeReadsBack): every verdict written for it says so. */
  readsFollowed(pid: number, ssl: string): boolean {
    const c = this.conns.get(`${pid}:${ssl}`);
    return c?.readsBack !== undefined;
  }

  isHttp2(pid: number, ssl: string): boolean {
    return this.conns.get(`${pid}:${ssl}`)?.h2 === true;
  }

  isWatched(pid: number, ssl: string): boolean {
    return this.conns.get(`${pid}:${ssl}`)?.watched === true;
  }

  forget(pid: number, ssl: string): void {
    this.drop(`${pid}:${ssl}`);
  }

  /**
   * A finding out, with every text in it that came off the wire redacted
   * (unless --no-redact): not only prompts and paths but the model, the
   * endpoint, tool names, an MCP method, tool, URI or string id, an HTTP/2
   * :method. Any of them is the client's or the server's text and can hold
   * a key. Redacted in place: the request's http and llm are what its answer
   * is built from, so the answer gets them redacted too.
   */
  private push(c: Conn, f: Finding): void {
    if (this.redact) {
      redactHttp(f.http);
      if (f.type === 'mcp_message') redactMcp(f.mcp);
      else if (f.type !== 'cut') redactLlm(f.llm);
    }
    c.found.push(f);
  }

  private providerFor(host: string | undefined, api?: Api): string | undefined {
    return (host ? this.providers.forHost(host) : undefined) ?? (api ? API_PROVIDER[api] : undefined);
  }

  /**
   * The provider a request on C is for, its Host (or :authority) being HOST:
   * the one that name is of, else the one C's server name (SNI) is of. The
   * Host wins: a CDN, a gateway or a server behind ECH's outer name routes
   * by it whatever name the TLS connection was made to, so a request fronted
   * through an allowed name (domain fronting) is judged as the provider it
   * asks for. Undefined when neither names one.
   */
  private requestProvider(c: Conn, host: string | undefined): string | undefined {
    return this.providerFor(host) ?? (c.sni !== undefined && c.sni !== host ? this.providerFor(c.sni) : undefined);
  }

  /** `answers`: the HTTP/1.1 stream the answer will come on (it needs the method: HEAD answers have no body) */
  private request(c: Conn, m: HttpMessage | Http2Message, answers?: Http1Stream, own?: Http1Stream): void {
    if (own && this.upgradeAsked(c, m, own)) return;
    const host = requestHost(c, m);
    const http: HttpInfo = { method: m.method, path: m.path };
    // header values are the client's text: a malformed head can run one field into the next (an
    // Authorization line into Host), so they are redacted (push) as the path is
    if (host) http.host = host;
    if (m.contentType) http.content_type = m.contentType;
    if (c.h2) http.version = '2';
    answers?.pendingMethods.push(m.method ?? '');
    // a compressed body is read decoded (encoding.ts); one that does not decode is said to be unread
    const d = decodeBody(m.body, m.contentEncoding, m.truncated, MAX_BODY);
    // gRPC (protobuf in length-prefixed frames): Gemini's and Vertex AI's client libraries
    const grpc = isGrpc(m.contentType) ? grpcLlmRequest(m.path, grpcMessages(d.body, m.headers['grpc-encoding'])) : undefined;
    const json = grpc ? undefined : parseJson(d.body);
    let call: LlmCall | undefined = grpc ? { api: 'google', info: grpc.info } : llmRequest(m.method, m.path, json);
    // the provider the request is for, looked up once for everything below
    const hostProvider = this.requestProvider(c, host);
    if (!call && !grpc && m.method === 'POST' && hostProvider) {
      // any other JSON a known provider's API is sent (not JSON-RPC: MCP stays MCP) is held to the content rules too,
      // and so are a form's text parts (the Files API's JSONL, an upload's prompt)
      const other = obj(json);
      call = other ? (other.jsonrpc === undefined ? otherCall(m.path ?? '', other) : undefined) : formCall(m.path ?? '', m.contentType, d.body);
    }
    const pending: Pending = { http, sentNs: this.nowNs, ...(grpc ? { grpc: { vertex: grpc.vertex } } : {}) };
    if (call) {
      const provider = hostProvider ?? API_PROVIDER[call.api];
      const llm = call.info;
      if (provider) llm.provider = provider;
      // who made the call (the SDK or agent, by its headers): read only of AI traffic (HTTP/1 builds its header map on demand)
      userAgent(http, m);
      const client = clientOf(m.headers);
      if (client) llm.client = client;
      this.push(c, { type: 'llm_request', http, llm, ...(provider ? { provider } : {}) });
      pending.api = call.api;
      pending.llm = llm;
      pending.provider = provider;
    } else {
      const found = mcpMessages(d.body, m.contentType, json);
      if (found.length > 0) {
        userAgent(http, m);
        const session = this.mcpSession(c, m);
        const known = session.server === undefined ? this.mcpEndpoints.get(mcpEndpoint(http)) : undefined;
        if (known !== undefined && !found.some((x) => x.method === 'initialize')) session.server = known;
        for (const mcp of found) {
          session.note(mcp, 'c', this.nowNs);
          this.push(c, { type: 'mcp_message', http, mcp });
        }
      }
    }
    // a watched HTTP/2 connection: the answer to an LLM call or MCP message is read (its reads, not copied
    // since the connection was found to carry no AI traffic, are picked up part way)
    // (the kernel may have turned them on already, at the write with the body: then they are not picked up again)
    if (c.skipsReads && c.readsBack === undefined && 'stream' in m && c.in instanceof Http2Stream && (call !== undefined || c.found.some((f) => f.type === 'mcp_message'))) {
      if (readsSkipped(c)) c.in.resume((sid) => c.streams.has(sid));
      c.readsBack = true;
      c.kernelReads = undefined;
    }
    // a body cut short (4 MiB, or bytes the kernel did not copy): a secret in the rest went unseen, and
    // an LLM request whose JSON is cut has no prompt at all; said, so that a policy can decide on it
    // so is a body whose framing is ambiguous: what a server reads may not be what was read here
    const reason = d.error ?? (m.ambiguous !== undefined ? `its body's framing is ambiguous (${m.ambiguous}): a server may read another body` : undefined);
    if ((d.truncated && !('cutSaid' in m && m.cutSaid)) || reason !== undefined) {
      const provider = pending.provider ?? hostProvider;
      this.push(c, { type: 'cut', http: { ...http }, ...(provider ? { provider } : {}), ...(reason !== undefined ? { reason } : {}) });
    }
    if ('stream' in m) {
      if (c.streams.size >= MAX_STREAMS) c.streams.delete(c.streams.keys().next().value!);
      c.streams.set(m.stream, pending);
    } else c.pending.push(pending);
    if (!c.judged) {
      // the TLS verdict: a connection that starts with neither an LLM call nor MCP, to no provider, is not followed
      // further (until a later request starts, on HTTP/1.1); one whose first body could not be read for sure is (what
      // it holds is not known), and so is one that starts by asking an LLM API for its models (llmApiProbe)
      c.judged = true;
      const interesting =
        call !== undefined || reason !== undefined || c.found.some((f) => f.type === 'mcp_message') || hostProvider !== undefined || llmApiProbe(m.path);
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
    if (m.kind === 'request') {
      if (this.touched) this.partText(m, data);
      return;
    }
    if ((m.status ?? 0) < 200) return;
    const req = 'stream' in m ? c.streams.get(m.stream) : c.pending[0];
    // an LLM call's answer: when its first chunk came (time to first token, for a streamed answer)
    if (req?.llm && req.firstNs === undefined && data.length > 0) req.firstNs = this.nowNs;
    if (!(m.contentType ?? '').includes('text/event-stream')) return;
    // a compressed stream is read whole at its end (the codings are decoded in one piece)
    if (m.contentEncoding !== undefined && codingsOf(m.contentEncoding).length > 0) return;
    if (req?.llm) return;
    let st = this.sse.get(m);
    if (!st) {
      st = { parts: [], held: 0, tail: '', dec: new TextDecoder(), skipping: false };
      this.sse.set(m, st);
    }
    const piece = st.dec.decode(data, { stream: true });
    if (piece.length === 0) return;
    // the last event end, looked for in the new text and the few characters before it where one may begin
    // (searching all that is held, or joining it, on every piece took time quadratic in a long event's pieces)
    const look = st.tail + piece;
    let end = -1;
    let endLen = 0;
    EVENT_END.lastIndex = 0;
    for (let e = EVENT_END.exec(look); e !== null; e = EVENT_END.exec(look)) {
      end = e.index;
      endLen = e[0].length;
    }
    if (end < 0) {
      st.parts.push(piece);
      st.held += piece.length;
      st.tail = look.slice(-3);
      if (st.held > MAX_SSE_EVENT) {
        // one event this big is no JSON-RPC message we follow: dropped, and said so, and the rest of it
        // skipped (read as an event of its own, a later data line of it could pass for a message)
        st.parts = [];
        st.held = 0;
        st.tail = '';
        if (!st.skipping) this.lost('server-sent event longer than 1 MiB');
        st.skipping = true;
      }
      return;
    }
    const at = st.held - st.tail.length + end;
    st.parts.push(piece);
    const text = st.parts.join('');
    let done = text.slice(0, at);
    const rest = text.slice(at + endLen).replace(/^(\r\n|\n|\r)+/, '');
    st.parts = rest ? [rest] : [];
    st.held = rest.length;
    st.tail = rest.slice(-3);
    if (st.skipping) {
      done = afterFirstEvent(done);
      st.skipping = false;
    }
    const ct = m.contentType;
    const http: HttpInfo = { ...(req?.http ?? {}), status: m.status };
    if (ct !== undefined) http.content_type = ct;
    this.sseMessages(c, m, http, done);
  }

  /**
   * The JSON-RPC messages of whole events. One longer than MAX_SSE_EVENT is
   * dropped here too, not only when it is still held without its end: how a
   * stream is cut into reads must not decide what is reported.
   */
  private sseMessages(c: Conn, m: HttpMessage | Http2Message, http: HttpInfo, text: string): void {
    let from = 0;
    EVENT_END.lastIndex = 0;
    for (;;) {
      const e = EVENT_END.exec(text);
      const end = e === null ? text.length : e.index;
      if (end - from > MAX_SSE_EVENT) this.lost('server-sent event longer than 1 MiB');
      else {
        const event = text.slice(from, end);
        // HTTP+SSE (MCP's older transport): the stream names where to POST, with the session's id; those
        // requests, on other connections, and the answers that come back here are one session
        const endpoint = event.includes('endpoint') ? sseEndpoint(event) : undefined;
        const id = endpoint !== undefined ? sseSessionId(endpoint) : undefined;
        if (id !== undefined) this.mcpSessions.bind(`${c.pid}:sse:${id}`, this.mcpSession(c, m));
        this.answers(c, m, http, mcpFromSse(event));
      }
      if (e === null) return;
      from = EVENT_END.lastIndex;
    }
  }

  private lost(reason: string): void {
    this.stats.sseEventsDropped++;
    this.onLost?.(1, reason);
  }

  /**
   * While a held write is read (feed's `held`): the requests it carried a
   * part of. A request written in several writes is let go write by write,
   * only the one that completes it held until it is decided (the
   * interpreter does so for TLS and plain text alike): without a look at
   * each part, a secret in an early part would reach the server before the
   * request was judged.
   */
  private touched: Set<HttpMessage> | undefined;
  /** the text of each request's body read while held, until judgePart takes it */
  private readonly parts = new WeakMap<HttpMessage, PartText>();

  /** A piece of a request's body, written by a held write: kept as text for judgePart. */
  private partText(m: HttpMessage, data: Uint8Array): void {
    this.touched!.add(m);
    let st = this.parts.get(m);
    if (st === undefined) this.parts.set(m, (st = { dec: new TextDecoder(), fresh: [], tail: '', llm: false }));
    if (m.contentEncoding !== undefined && codingsOf(m.contentEncoding).length > 0) {
      // a compressed body: decoded afresh from its start at each look (judgePart), while it is small enough
      const z = (st.coded ??= { parts: [], size: 0, decoded: 0 });
      if (z.size <= PART_DECODE_MAX) {
        z.parts.push(data);
        z.size += data.length;
      }
      return;
    }
    st.fresh.push(st.dec.decode(data, { stream: true }));
  }

  /**
   * A request not complete after a held write carried part of it: put to
   * the policy on that part, as an `llm_request` whose `llm.partial` is set
   * and whose `user_message` and `context` are both the part's text (which
   * of the body's texts it holds is not known yet; JSON escapes read, so that
   * `\u0041KIA...` is no way around a rule) after the end of the part
   * before it, so that a secret cut in two between parts is seen whole.
   * Only a request that is judged as an LLM call when it completes: a POST
   * to a provider, to an LLM API's path, or one whose body has a
   * `messages` member. The pipeline tells of it only when it is blocked.
   */
  private judgePart(c: Conn, m: HttpMessage): void {
    const st = this.parts.get(m);
    if (st === undefined) return;
    if (st.coded !== undefined) this.decodePart(m, st, st.coded);
    if (st.fresh.length === 0) return;
    const text = st.tail + st.fresh.join('');
    st.fresh = [];
    st.tail = text.slice(-PART_OVERLAP);
    const host = requestHost(c, m);
    const provider = this.requestProvider(c, host);
    const path = (m.path ?? '').split('?')[0]!;
    st.llm ||= (provider !== undefined && m.method === 'POST') || llmApiPath(path) || MESSAGES_KEY.test(text);
    if (!st.llm) return;
    const http: HttpInfo = { method: m.method, path: m.path };
    if (host) http.host = host;
    if (m.contentType) http.content_type = m.contentType;
    if (c.h2) http.version = '2';
    // which of the body's texts the part holds is not known yet: it is given as both the user's message and the rest
    const said = jsonUnescaped(text);
    const llm: LlmInfo = { endpoint: path, partial: true, user_message: said, context: said };
    if (provider) llm.provider = provider;
    this.push(c, { type: 'llm_request', http, llm, ...(provider ? { provider } : {}) });
  }

  /**
   * A compressed body's new text: its bytes so far decoded (a flush, not a
   * finish: what they hold so far), past what was decoded at the last look.
   * Up to PART_DECODE_MAX bytes as sent; past that, or when it does not
   * decode, the body is judged whole at its end only (a `cut` then says
   * when it could not be read).
   */
  private decodePart(m: HttpMessage, st: PartText, z: NonNullable<PartText['coded']>): void {
    if (z.size > PART_DECODE_MAX || z.failed) return;
    const sent = concatBytes(z.parts, z.size);
    z.parts = [sent];
    const d = decodeBody(sent, m.contentEncoding, true, MAX_BODY);
    if (d.error !== undefined) {
      z.failed = true;
      return;
    }
    if (d.body.length > z.decoded) st.fresh.push(st.dec.decode(d.body.subarray(z.decoded), { stream: true }));
    z.decoded = d.body.length;
  }

  /** event streams being read as they arrive: what is left after the last whole event */
  private readonly sse = new WeakMap<HttpMessage, SseState>();

  /**
   * A request to upgrade to a realtime LLM API's WebSocket: the client's
   * direction is read as WebSocket frames from here (a client sends none
   * before the server's 101, and nothing else on this connection after), the
   * server's once its 101 says how (response()). The connection is followed.
   */
  private upgradeAsked(c: Conn, m: HttpMessage, own: Http1Stream): boolean {
    if (m.method !== 'GET' || m.upgrade === undefined || !/\bwebsocket\b/i.test(m.upgrade)) return false;
    const rt = realtimeOf(m.path);
    if (!rt) return false;
    const ws: NonNullable<Conn['ws']> = (c.ws = { rt, host: requestHost(c, m) });
    c.judged = true;
    own.upgrade({
      // frames before the 101 was seen (its read lost): read without compression, the best there is
      push: (b) => (ws.client ??= this.wsReader(c, 'client', wsDeflateOf(undefined).client)).push(b),
      gap: (n) => (ws.client ??= this.wsReader(c, 'client', wsDeflateOf(undefined).client)).gap(n),
    });
    return true;
  }

  /** A reader of one direction of C's WebSocket, its JSON messages reported as the realtime API's requests or answers. */
  private wsReader(c: Conn, side: 'client' | 'server', deflate: WsDeflate): WsReader {
    const { rt, host } = c.ws!;
    const http: HttpInfo = { method: 'GET', path: rt.endpoint, ...(host ? { host } : {}) };
    const provider = this.requestProvider(c, host) ?? (rt.api === 'gemini_live' ? 'google' : undefined);
    return new WsReader(
      (msg) => {
        if (!msg.text) return;
        const v = parseJson(msg.data);
        if (side === 'client') {
          const llm = realtimeRequest(rt, v);
          if (!llm) return;
          if (provider) llm.provider = provider;
          this.push(c, { type: 'llm_request', http: { ...http }, llm, ...(provider ? { provider } : {}) });
          return;
        }
        const got = realtimeResponse(rt, v);
        if (!got) return;
        const llm: LlmInfo = { ...(provider ? { provider } : {}), endpoint: rt.endpoint, ...(rt.model ? { model: rt.model } : {}), stream: true, ...got };
        this.push(c, { type: 'llm_response', http: { ...http, status: 101 }, llm, ...(provider ? { provider } : {}) });
      },
      (why) => this.onLost?.(1, `WebSocket ${side} messages of ${rt.endpoint} no longer read: ${why}`),
      deflate,
    );
  }

  private response(c: Conn, m: HttpMessage | Http2Message, own?: Http1Stream): void {
    if (m.status === 101 && c.ws && !c.ws.server && own) {
      // the server agreed: its direction is frames from here, with the compression both sides settled on
      const ws = c.ws;
      const deflate = wsDeflateOf(m.headers['sec-websocket-extensions']);
      ws.client ??= this.wsReader(c, 'client', deflate.client);
      const server = (ws.server = this.wsReader(c, 'server', deflate.server));
      own.upgrade(server);
      return;
    }
    if ((m.status ?? 0) < 200) return; // 1xx: the real answer follows
    let req: Pending | undefined;
    if ('stream' in m) {
      req = c.streams.get(m.stream);
      c.streams.delete(m.stream);
    } else req = c.pending.shift();
    const http: HttpInfo = { ...(req?.http ?? {}), status: m.status };
    if (m.contentType) http.content_type = m.contentType;
    else delete http.content_type;
    // an answer that does not decode is read as it came: nothing in it is found (its usage is absent)
    const body = decodeBody(m.body, m.contentEncoding, m.truncated, MAX_BODY).body;
    if (req?.llm) {
      const got = req.grpc ? grpcLlmResponse(grpcMessages(body, m.headers['grpc-encoding']), req.grpc.vertex) : llmResponse(body, m.contentType);
      const llm: LlmInfo = {};
      if (req.llm.provider) llm.provider = req.llm.provider;
      if (req.llm.endpoint) llm.endpoint = req.llm.endpoint;
      if (req.llm.client) llm.client = req.llm.client;
      const model = got.model ?? req.llm.model;
      if (model) llm.model = model;
      llm.stream = got.stream ?? req.llm.stream ?? false;
      if (got.usage) llm.usage = got.usage;
      if (got.tool_calls) llm.tool_calls = got.tool_calls;
      callTiming(llm, req, this.nowNs);
      const asked = eventOf(req.llm);
      if (asked !== undefined) llm.request_event = asked;
      this.push(c, { type: 'llm_response', http, llm, ...(req.provider ? { provider: req.provider } : {}) });
      return;
    }
    const streamed = this.sse.get(m);
    if (streamed) {
      // read event by event already: only what followed the last whole event
      this.sse.delete(m);
      let rest = streamed.parts.join('') + streamed.dec.decode();
      if (streamed.skipping) rest = afterFirstEvent(rest);
      this.sseMessages(c, m, http, rest);
      return;
    }
    this.answers(c, m, http, mcpMessages(body, m.contentType));
  }

  /** MCP messages a server sent (in an answer's body or event stream), told what their session knows. */
  private answers(c: Conn, m: HttpMessage | Http2Message, http: HttpInfo, found: McpInfo[]): void {
    if (found.length === 0) return;
    const session = this.mcpSession(c, m);
    for (const mcp of found) {
      // an answer to initialize names the server at this endpoint (before note: it is the answer's own)
      if (mcp.server !== undefined) {
        if (this.mcpEndpoints.size >= MAX_MCP_ENDPOINTS) this.mcpEndpoints.delete(this.mcpEndpoints.keys().next().value!);
        this.mcpEndpoints.set(mcpEndpoint(http), mcp.server);
      }
      session.note(mcp, 's', this.nowNs);
      this.push(c, { type: 'mcp_message', http, mcp });
    }
  }

  /**
   * The MCP session M is part of: the one its Mcp-Session-Id names (the
   * server gives it in its answer to initialize, and the client sends it on
   * every later request, on whatever connection), else C's. A session id
   * seen first is bound to C's session: the initialize that opened it was
   * read there.
   */
  private mcpSession(c: Conn, m: HttpMessage | Http2Message): McpSession {
    // a POST to the endpoint an HTTP+SSE stream named: the stream's session
    const sse = m.kind === 'request' ? sseSessionId(m.path ?? '') : undefined;
    const stream = sse !== undefined ? this.mcpSessions.get(`${c.pid}:sse:${sse}`) : undefined;
    if (stream !== undefined) return (c.mcp = stream);
    const id = m.headers['mcp-session-id'];
    if (id === undefined || id === '') return (c.mcp ??= this.mcpSessions.fresh());
    const key = `${c.pid}:${id}`;
    const s = this.mcpSessions.get(key) ?? this.mcpSessions.bind(key, (c.mcp ??= this.mcpSessions.fresh()));
    c.mcp = s;
    return s;
  }
}

/** What follows the first event end of a text (all of it the rest of a dropped event when there is none). */
function afterFirstEvent(text: string): string {
  EVENT_END.lastIndex = 0;
  const e = EVENT_END.exec(text);
  return e === null ? '' : text.slice(e.index + e[0].length);
}
