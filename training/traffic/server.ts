/**
 * One process serving every traffic kind (training/traffic/spec.ts) on its
 * own loopback addresses: HTTP/1.1 (plain or TLS), HTTP/2 where a kind
 * offers it, and WebSocket upgrades. How to answer comes with each request
 * (the `x-gen` header), so the server keeps no state: it waits, streams and
 * paces as told — token by token for an LLM-like stream, at a line rate for
 * a download, in bursts for a video.
 *
 *   node dist/training/traffic/server.js CONFIG.json   (training/generate.ts starts it)
 *
 * CONFIG: { endpoints: Endpoint[], cert: PEM, key: PEM }. Prints "ready" on
 * stdout once every endpoint listens.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer as createHttp, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttps } from 'node:https';
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { prng, uni, type Behaviour, type Endpoint, type Rng, type WsSpec } from './spec.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
const FILL = Buffer.alloc(1 << 20, 'abcdefghijklmnopqrstuvwxyz0123456789 ');

type Req = IncomingMessage | Http2ServerRequest;
type Res = ServerResponse | Http2ServerResponse;

/** Wait until the response can take more (the client reads at its own pace). */
function write(res: Res, chunk: Buffer | string): Promise<void> {
  if (res.destroyed) return Promise.resolve();
  if ((res as ServerResponse).write(chunk)) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/** A log-normal factor of mean 1: pacing that is regular on average and never negative. */
function jitterFactor(r: Rng, sigma: number): number {
  const z = Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  return Math.exp(sigma * z - (sigma * sigma) / 2);
}

function event(format: 'sse' | 'ndjson' | 'bin', size: number, i: number): Buffer {
  if (format === 'bin') return FILL.subarray(0, Math.min(size, FILL.length));
  const head = format === 'sse' ? `data: {"id":"chatcmpl-${i}","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"` : `{"model":"local","message":{"role":"assistant","content":"`;
  const tail = format === 'sse' ? '"}}]}\n\n' : '"},"done":false}\n';
  const pad = Math.max(1, size - head.length - tail.length);
  return Buffer.from(head + 'tok '.repeat(Math.ceil(pad / 4)).slice(0, pad) + tail);
}

async function answer(gen: Behaviour, res: Res): Promise<void> {
  if (gen.shape === 'body') {
    await sleep(gen.head);
    res.writeHead(200, { 'content-type': gen.type, 'content-length': String(gen.bytes) });
    let sent = 0;
    const t0 = Date.now();
    while (sent < gen.bytes && !res.destroyed) {
      const n = Math.min(gen.chunk, gen.bytes - sent);
      await write(res, FILL.subarray(0, n));
      sent += n;
      // at the line rate: the next write when this many bytes are due
      if (gen.rate > 0) await sleep(t0 + (sent / gen.rate) * 1000 - Date.now());
    }
    res.end();
    return;
  }
  const r = prng(gen.seed);
  await sleep(gen.head);
  res.writeHead(200, { 'content-type': gen.type, 'cache-control': 'no-cache' });
  if (gen.ping > 0) {
    // keep-alive pings while the model thinks (Anthropic's `event: ping`)
    const until = Date.now() + gen.first;
    while (Date.now() + gen.ping < until && !res.destroyed) {
      await sleep(gen.ping);
      await write(res, 'event: ping\ndata: {"type":"ping"}\n\n');
    }
    await sleep(until - Date.now());
  } else {
    await sleep(gen.first);
  }
  for (let i = 0; i < gen.events && !res.destroyed; i++) {
    if (i > 0) {
      let gap = gen.cadence * jitterFactor(r, gen.jitter * 0.8);
      if (gen.stall && r() < gen.stall) gap += uni(r, 150, 900);
      await sleep(gap);
    }
    await write(res, event(gen.format, Math.round(uni(r, gen.size[0], gen.size[1])), i));
  }
  const last = gen.format === 'sse' ? 'data: [DONE]\n\n' : gen.format === 'ndjson' ? '{"done":true}\n' : '';
  (res as ServerResponse).end(last);
}

async function handle(req: Req, res: Res): Promise<void> {
  // the request body is read first, as a real server does
  for await (const _ of req) {
    // discard
  }
  let gen: Behaviour;
  try {
    gen = JSON.parse(String(req.headers['x-gen'])) as Behaviour;
  } catch {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end('x-gen header missing or not JSON\n');
    return;
  }
  await answer(gen, res).catch(() => res.destroy());
}

// ---- WebSocket (RFC 6455), just enough for chat- and ticker-like sessions

export function wsFrame(payload: Buffer, opcode = 2, mask = false, compressed = false): Buffer {
  const n = payload.length;
  // RSV1: the payload is permessage-deflate'd (RFC 7692)
  const head: number[] = [0x80 | (compressed ? 0x40 : 0) | opcode];
  const m = mask ? 0x80 : 0;
  if (n < 126) head.push(m | n);
  else if (n < 65536) head.push(m | 126, n >> 8, n & 255);
  else head.push(m | 127, 0, 0, 0, 0, (n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([0x12, 0x34, 0x56, 0x78]);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i]! ^= key[i & 3]!;
  return Buffer.concat([Buffer.from(head), key, body]);
}

/** Splits a byte stream into frames: calls `on` with each complete one's opcode, unmasked payload and first byte (FIN, RSV1). */
export function wsReader(on: (opcode: number, payload: Buffer, first: number) => void): (d: Buffer) => void {
  let buf = Buffer.alloc(0);
  return (d) => {
    buf = Buffer.concat([buf, d]);
    for (;;) {
      if (buf.length < 2) return;
      const masked = (buf[1]! & 0x80) !== 0;
      let n = buf[1]! & 0x7f;
      let at = 2;
      if (n === 126) {
        if (buf.length < 4) return;
        n = buf.readUInt16BE(2);
        at = 4;
      } else if (n === 127) {
        if (buf.length < 10) return;
        n = buf.readUInt32BE(6);
        at = 10;
      }
      const key = masked ? buf.subarray(at, at + 4) : undefined;
      if (masked) at += 4;
      if (buf.length < at + n) return;
      const payload = Buffer.from(buf.subarray(at, at + n));
      if (key) for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i & 3]!;
      on(buf[0]! & 0x0f, payload, buf[0]!);
      buf = buf.subarray(at + n);
    }
  };
}

/** The Sec-WebSocket-Accept answering a Sec-WebSocket-Key (RFC 6455 4.2.2: its SHA-1 with the protocol's GUID, base64). */
export function wsAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

function upgrade(req: IncomingMessage, socket: Duplex): void {
  let spec: WsSpec;
  try {
    spec = JSON.parse(String(req.headers['x-gen'])) as WsSpec;
  } catch {
    socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
    return;
  }
  const accept = wsAccept(String(req.headers['sec-websocket-key']));
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
  const r = prng(spec.seed);
  let open = true;
  const timers = new Set<NodeJS.Timeout>();
  const later = (ms: number, f: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      if (open) f();
    }, ms);
    timers.add(t);
  };
  const end = () => {
    open = false;
    for (const t of timers) clearTimeout(t);
  };
  socket.on('close', end);
  socket.on('error', end);
  const push = spec.push;
  if (push) {
    const next = () =>
      later(push.cadence * jitterFactor(r, push.jitter), () => {
        socket.write(wsFrame(FILL.subarray(0, Math.round(uni(r, push.size[0], push.size[1]))), 1));
        next();
      });
    next();
  }
  socket.on(
    'data',
    wsReader((op) => {
      if (op === 8) {
        socket.end(wsFrame(Buffer.alloc(0), 8));
        end();
      } else if ((op === 1 || op === 2) && spec.client) {
        const c = spec.client;
        later(uni(r, c.reply[0], c.reply[1]), () => socket.write(wsFrame(FILL.subarray(0, Math.round(uni(r, c.answer[0], c.answer[1]))), 1)));
      }
    }),
  );
}

export interface TrafficServer {
  /** the port each endpoint listens on (as given, or the one chosen for port 0) */
  ports: number[];
  close(): Promise<void>;
}

/** Listen on every endpoint; resolves when all listen. */
export async function startTrafficServer(endpoints: Endpoint[], tls: { cert: string; key: string }): Promise<TrafficServer> {
  const servers: Server[] = [];
  const onRequest = (req: Req, res: Res) => void handle(req, res);
  for (const e of endpoints) {
    let s: Server;
    if (e.tls && e.h2) s = createSecureServer({ ...tls, allowHTTP1: true, ALPNProtocols: ['h2', 'http/1.1'] }, onRequest) as unknown as Server;
    else if (e.tls) s = createHttps({ ...tls, ALPNProtocols: ['http/1.1'] }, onRequest);
    else s = createHttp(onRequest);
    // sessions think for up to ~15 s between requests on a kept-alive connection
    s.keepAliveTimeout = 120_000;
    s.headersTimeout = 125_000;
    s.requestTimeout = 0;
    s.timeout = 0;
    if (e.ws) s.on('upgrade', upgrade);
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(e.port, e.ip, () => resolve());
    });
    servers.push(s);
  }
  return {
    ports: servers.map((s) => (s.address() as AddressInfo).port),
    close: async () => {
      for (const s of servers) {
        (s as Server & { closeAllConnections?: () => void }).closeAllConnections?.();
        await new Promise<void>((r) => s.close(() => r()));
      }
    },
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const cfg = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as { endpoints: Endpoint[]; cert: string; key: string };
  const srv = await startTrafficServer(cfg.endpoints, { cert: cfg.cert, key: cfg.key });
  process.stdout.write('ready\n');
  const stop = () => void srv.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
