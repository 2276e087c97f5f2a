/**
 * One local HTTPS server standing in for every LLM provider busted knows,
 * answering each API in its documented shape (JSON, server-sent events,
 * NDJSON), over HTTP/1.1 and HTTP/2 (ALPN picks), with the test CA's
 * certificate for all the provider names. The answers echo the request's
 * model as `<model>-served` and carry fixed token counts, so a test can
 * tell what the engine read from the request from what it read from the
 * answer. Like the providers' front ends, it compresses its answers when the
 * client accepts it (br, else gzip, else deflate) and reads a request sent
 * compressed (Content-Encoding).
 *
 * `startPlainProviderServer` answers the same over plain-text HTTP/1.1, as a
 * local Ollama or vLLM, or an MCP server on http://localhost, does.
 */
import * as zlib from 'node:zlib';
import { grpcFrame, pb } from './protobuf.js';
import { acceptRealtime } from './realtime.js';
import { createSecureServer, createServer as createH2cServer, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Pki } from '../../engine/demo/pki.js';

export const PROVIDER_NAMES = [
  'api.openai.com',
  'api.anthropic.com',
  'generativelanguage.googleapis.com',
  'us-central1-aiplatform.googleapis.com',
  'bedrock-runtime.us-east-1.amazonaws.com',
  'api.cohere.com',
  'api.mistral.ai',
  'contoso.openai.azure.com',
  'api.groq.com',
  'llm-gateway.corp.example',
];

export const USAGE = { input: 11, output: 7 };

export interface ProviderServer {
  port: number;
  /** requests seen: "host path" */
  hits: string[];
  /** every request body received, whole or not (a request cut short still shows what arrived) */
  received: string[];
  /** TLS: the server name of every handshake that completed (a ClientHello held and refused never gets here) */
  handshakes: string[];
  close(): Promise<void>;
}

type Json = Record<string, unknown>;

/** What answer() writes to: the response, or its body gathered and sent compressed in one piece at the end. */
interface Out {
  writeHead(status: number, headers: Record<string, string>): void;
  write(s: string): void;
  end(s?: string): void;
}

const COMPRESS: Record<string, (b: Buffer) => Buffer> = { br: (b) => zlib.brotliCompressSync(b), gzip: (b) => zlib.gzipSync(b), deflate: (b) => zlib.deflateSync(b) };

/** The coding a real front end would pick from the client's Accept-Encoding (q-values are not weighed). */
function codingFor(accept: string | undefined): string | undefined {
  const offered = (accept ?? '').split(',').map((x) => x.split(';')[0]!.trim().toLowerCase());
  return Object.keys(COMPRESS).find((c) => offered.includes(c));
}

function out(res: Http2ServerResponse, coding: string | undefined): Out {
  if (coding === undefined) return { writeHead: (s, h) => res.writeHead(s, h), write: (t) => void res.write(t), end: (t) => void (t === undefined ? res.end() : res.end(t)) };
  let status = 200;
  let headers: Record<string, string> = {};
  const parts: string[] = [];
  return {
    writeHead: (s, h) => {
      status = s;
      headers = h;
    },
    write: (t) => void parts.push(t),
    end: (t) => {
      if (t) parts.push(t);
      res.writeHead(status, { ...headers, 'content-encoding': coding });
      res.end(COMPRESS[coding]!(Buffer.from(parts.join(''))));
    },
  };
}

/** A request body as the client sent it, decoded (a prefix when it was cut short); as it came when it does not decode. */
function decoded(raw: Buffer, coding: string | undefined): string {
  const flush = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
  try {
    if (coding === 'gzip') return zlib.gunzipSync(raw, flush).toString();
    if (coding === 'deflate') return zlib.inflateSync(raw, flush).toString();
    if (coding === 'br') return zlib.brotliDecompressSync(raw, { finishFlush: zlib.constants.BROTLI_OPERATION_FLUSH }).toString();
  } catch {
    // not in that coding: as it came
  }
  return raw.toString();
}

/** a model named *slow*: its answer's first chunk comes this long after the request, and the rest this long after that */
export const SLOW_FIRST_MS = 300;
export const SLOW_GAP_MS = 200;

function answer(path: string, body: Json, res: Out): void {
  const model = `${String(body.model ?? 'm')}-served`;
  const stream = body.stream === true || /stream|alt=sse/i.test(path);
  const slow = /slow/.test(String(body.model ?? ''));
  const sse = (events: unknown[], named = false) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const text = (e: unknown) => `${named ? `event: ${(e as Json).type}\n` : ''}data: ${JSON.stringify(e)}\n\n`;
    const rest = () => {
      for (const e of events.slice(1)) res.write(text(e));
      res.end(path.includes('/chat/completions') ? 'data: [DONE]\n\n' : '');
    };
    res.write(text(events[0]));
    if (slow) setTimeout(rest, SLOW_GAP_MS);
    else rest();
  };
  const json = (o: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    if (slow) setTimeout(() => res.end(JSON.stringify(o)), SLOW_GAP_MS);
    else res.end(JSON.stringify(o));
  };
  const p = path.split('?')[0]!;
  if (p.endsWith('/chat/completions') || p === '/llm/v1/invoke') {
    if (stream) return sse([{ object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content: 'hi' } }] }, { object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: USAGE.input, completion_tokens: USAGE.output } }]);
    return json({ object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'hi', tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }] } }], usage: { prompt_tokens: USAGE.input, completion_tokens: USAGE.output } });
  }
  if (p === '/v1/responses') {
    const done = { type: 'response.completed', response: { model, output: [{ type: 'function_call', call_id: 'c1', name: 'lookup' }], usage: { input_tokens: USAGE.input, output_tokens: USAGE.output } } };
    if (stream) return sse([{ type: 'response.created', response: { model } }, { type: 'response.output_item.added', item: { type: 'function_call', call_id: 'c1', name: 'lookup' } }, done], true);
    return json(done.response);
  }
  if (p === '/v1/messages') {
    if (stream) return sse([{ type: 'message_start', message: { model, usage: { input_tokens: USAGE.input, output_tokens: 1 } } }, { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'tu_1', name: 'run_shell', input: {} } }, { type: 'message_delta', delta: { stop_reason: 'tool_use' }, usage: { output_tokens: USAGE.output } }, { type: 'message_stop' }], true);
    return json({ type: 'message', role: 'assistant', model, content: [{ type: 'text', text: 'hi' }], usage: { input_tokens: USAGE.input, output_tokens: USAGE.output } });
  }
  const g = /\/models\/([^/:]+):(generateContent|streamGenerateContent)$/.exec(p);
  if (g) {
    const last = { candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'find_flights', args: {} } }] } }], usageMetadata: { promptTokenCount: USAGE.input, candidatesTokenCount: USAGE.output }, modelVersion: `${g[1]}-served` };
    if (g[2] === 'streamGenerateContent') return sse([{ candidates: [{ content: { role: 'model', parts: [{ text: 'hi' }] } }], modelVersion: `${g[1]}-served` }, last]);
    return json(last);
  }
  if (/^\/model\/[^/]+\/converse$/.test(p)) return json({ output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'query_db', input: {} } }] } }, stopReason: 'tool_use', usage: { inputTokens: USAGE.input, outputTokens: USAGE.output } });
  if (p === '/v2/chat') return json({ id: 'x', message: { role: 'assistant', content: [{ type: 'text', text: 'hi' }] }, usage: { billed_units: { input_tokens: USAGE.input, output_tokens: USAGE.output } } });
  if (p === '/api/chat') {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(JSON.stringify({ model, message: { role: 'assistant', content: 'h' }, done: false }) + '\n');
    res.end(JSON.stringify({ model, message: { role: 'assistant', content: '' }, done: true, prompt_eval_count: USAGE.input, eval_count: USAGE.output }) + '\n');
    return;
  }
  if (p === '/v1/embeddings') return json({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [0.1, 0.2] }], model, usage: { prompt_tokens: USAGE.input, total_tokens: USAGE.input } });
  if (p === '/mcp') {
    if (body.method === 'initialize') {
      // streamable HTTP: the session gets its id with the answer, and the server names itself
      res.writeHead(200, { 'content-type': 'application/json', 'mcp-session-id': 'stand-in-session-1' });
      res.end(JSON.stringify({ jsonrpc: '2.0', id: body.id ?? null, result: { protocolVersion: '2025-06-18', capabilities: { tools: {} }, serverInfo: { name: 'stand-in-mcp', version: '1' } } }));
      return;
    }
    return json({ jsonrpc: '2.0', id: body.id ?? null, result: { tools: [{ name: 'delete_file' }] } });
  }
  res.writeHead(404, { 'content-type': 'application/json' });
  res.end('{"error":"not found"}');
}

/** Gemini's GenerateContent over gRPC (the Gemini API's numbering, or Vertex AI's): a function call, the usage, a model version. */
function answerGrpc(path: string, res: Http2ServerResponse): void {
  const vertex = path.includes('aiplatform');
  const call = pb([[1, 'find_flights']]);
  // Gemini API: candidates=1 {content=1 {parts=1 {function_call=4}}}, usage_metadata=3, model_version=4;
  // Vertex AI: candidates=2 {content=2 {parts=2 {function_call=5}}}, usage_metadata=4, model_version=11
  const answer = vertex
    ? pb([[2, pb([[2, pb([[1, 'model'], [2, pb([[5, call]])]])]])], [4, pb([[1, USAGE.input], [2, USAGE.output]])], [11, 'gemini-grpc-served']])
    : pb([[1, pb([[1, pb([[1, pb([[4, call]])], [2, 'model']])]])], [3, pb([[1, USAGE.input], [2, USAGE.output]])], [4, 'gemini-grpc-served']]);
  res.writeHead(200, { 'content-type': 'application/grpc' });
  res.addTrailers({ 'grpc-status': '0' });
  res.end(grpcFrame(answer));
}

export async function startProviderServer(pki: Pki, host = '127.0.0.1'): Promise<ProviderServer> {
  const hits: string[] = [];
  const received: string[] = [];
  const server: Http2SecureServer = createSecureServer({ key: pki.keyPem, cert: pki.certPem, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] }, handler(hits, received));
  // OpenAI's Realtime API: a WebSocket on the HTTP/1.1 upgrade
  server.on('upgrade', (req, socket, head) => acceptRealtime(req, socket, head, USAGE, received));
  const handshakes: string[] = [];
  server.on('secureConnection', (so: TLSSocket) => handshakes.push(String((so as TLSSocket & { servername?: string | false }).servername || '')));
  return listening(server, host, hits, received, 0, handshakes);
}

/** The same answers over plain-text HTTP/1.1 (no TLS), on `port` (0: any free one). */
export async function startPlainProviderServer(host = '127.0.0.1', port = 0): Promise<ProviderServer> {
  const hits: string[] = [];
  const received: string[] = [];
  const h = handler(hits, received);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => h(req as unknown as Http2ServerRequest, res as unknown as Http2ServerResponse));
  return listening(server, host, hits, received, port);
}

/** The same answers over HTTP/2 without TLS, prior knowledge only (h2c, as gRPC speaks it on a private network). */
export async function startH2cProviderServer(host = '127.0.0.1'): Promise<ProviderServer> {
  const hits: string[] = [];
  const received: string[] = [];
  return listening(createH2cServer(handler(hits, received)), host, hits, received);
}

async function listening(server: Http2SecureServer | Http2Server | Server, host: string, hits: string[], received: string[], port = 0, handshakes: string[] = []): Promise<ProviderServer> {
  // every connection, so that close() ends them all: a client whose socket busted destroyed
  // may never tell the server (its RST dropped with the rest of its packets), and an HTTP/2
  // session would then keep close() waiting for good
  const sockets = new Set<Socket>();
  server.on('connection', (so: Socket) => {
    sockets.add(so);
    so.once('close', () => sockets.delete(so));
  });
  await new Promise<void>((r) => server.listen(port, host, r));
  return {
    port: (server.address() as AddressInfo).port,
    hits,
    received,
    handshakes,
    close: () =>
      new Promise<void>((r) => {
        if ('closeAllConnections' in server) server.closeAllConnections();
        server.close(() => r());
        for (const so of sockets) so.destroy();
      }),
  };
}

function handler(hits: string[], received: string[]): (req: Http2ServerRequest, res: Http2ServerResponse) => void {
  return (req: Http2ServerRequest, res: Http2ServerResponse) => {
    const coding = req.headers['content-encoding'];
    const parts: Buffer[] = [];
    let raw = '';
    const head = `${String(req.headers[':authority'] ?? req.headers.host)} ${req.url} `;
    const at = received.push(head) - 1;
    req.on('data', (d: Buffer) => {
      parts.push(d);
      raw = decoded(Buffer.concat(parts), coding);
      received[at] = head + raw;
    });
    req.on('end', () => {
      hits.push(`${String(req.headers[':authority'] ?? req.headers.host)} ${req.url}`);
      if (/^application\/grpc/.test(String(req.headers['content-type']))) return answerGrpc(req.url, res);
      let body: Json = {};
      try {
        body = JSON.parse(raw) as Json;
      } catch {
        // not JSON
      }
      // a model named *slow* answers as a loaded provider does: its first chunk after SLOW_FIRST_MS, its last SLOW_GAP_MS later
      if (/slow/.test(String(body.model ?? ''))) setTimeout(() => answer(req.url, body, out(res, codingFor(req.headers['accept-encoding']))), SLOW_FIRST_MS);
      else answer(req.url, body, out(res, codingFor(req.headers['accept-encoding'])));
    });
  };
}
