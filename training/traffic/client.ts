/**
 * Plays one traffic session (training/traffic/spec.ts) as a node program
 * would: https/http with a kept-alive agent per connection, http2 sessions,
 * or a WebSocket, reading every answer as it arrives.
 *
 *   echo '{"session": SessionSpec, "ca": "/path/ca.pem"}' | node dist/training/traffic/client.js
 *
 * Names resolve as the process's resolver says (training/generate.ts runs
 * it in a mount namespace whose /etc/resolv.conf points at a local dnsmasq).
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { connect as h2connect } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { prng, uni, type ConnSpec, type RequestSpec, type SessionSpec } from './spec.js';
import { wsFrame, wsReader } from './server.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

/** A request body of n bytes shaped like what the path expects (JSON for APIs). */
export function requestBody(r: RequestSpec): Buffer {
  if (r.body <= 0) return Buffer.alloc(0);
  const head = r.path.startsWith('/v1/') || r.path.startsWith('/api/chat') ? '{"model":"m","stream":true,"messages":[{"role":"user","content":"' : '{"data":"';
  const tail = head.startsWith('{"model"') ? '"}]}' : '"}';
  const pad = Math.max(0, r.body - head.length - tail.length);
  return Buffer.from(head + 'lorem ipsum '.repeat(Math.ceil(pad / 12)).slice(0, pad) + tail);
}

function headers(r: RequestSpec, body: Buffer): Record<string, string> {
  const h: Record<string, string> = { 'x-gen': JSON.stringify(r.gen) };
  if (body.length) {
    h['content-type'] = 'application/json';
    h['content-length'] = String(body.length);
  }
  return h;
}

/** A connection's requests in order, each after its think time, each sent (and its answer read) by `send`. */
async function eachRequest(c: ConnSpec, send: (r: RequestSpec, body: Buffer) => Promise<void>): Promise<void> {
  for (let i = 0; i < c.requests.length; i++) {
    if (i) await sleep(c.think[i - 1] ?? 0);
    const r = c.requests[i]!;
    await send(r, requestBody(r));
  }
}

async function h1Conn(s: SessionSpec, c: ConnSpec, ca: Buffer | undefined): Promise<void> {
  const agent = s.tls ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ca }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
  try {
    await eachRequest(c, (r, body) =>
      new Promise<void>((resolve, reject) => {
        const req = (s.tls ? httpsRequest : httpRequest)({ host: s.host, port: s.port, method: r.method, path: r.path, agent, headers: headers(r, body), servername: s.host }, (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve());
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(body);
      }),
    );
  } finally {
    agent.destroy();
  }
}

async function h2Conn(s: SessionSpec, c: ConnSpec, ca: Buffer | undefined): Promise<void> {
  const session = h2connect(`https://${s.host}:${s.port}`, { ca });
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  try {
    await eachRequest(c, (r, body) =>
      new Promise<void>((resolve, reject) => {
        const st = session.request({ ':method': r.method, ':path': r.path, ...headers(r, body) });
        st.on('data', () => {});
        st.on('end', () => resolve());
        st.on('error', reject);
        st.end(body);
      }),
    );
  } finally {
    session.close();
  }
}

async function ws(s: SessionSpec, ca: Buffer | undefined): Promise<void> {
  const spec = s.ws!;
  const sock: Duplex = s.tls ? tlsConnect({ host: s.host, port: s.port, servername: s.host, ca, ALPNProtocols: ['http/1.1'] }) : netConnect({ host: s.host, port: s.port });
  await new Promise<void>((resolve, reject) => {
    sock.once(s.tls ? 'secureConnect' : 'connect', () => resolve());
    sock.once('error', reject);
  });
  const key = randomBytes(16).toString('base64');
  sock.write(`GET /ws HTTP/1.1\r\nHost: ${s.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\nx-gen: ${JSON.stringify(spec)}\r\n\r\n`);
  // the 101, then frames
  let head = Buffer.alloc(0);
  const frames = wsReader(() => {});
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      head = Buffer.concat([head, d]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      if (!head.subarray(0, 12).toString().includes('101')) return reject(new Error(`no upgrade: ${head.subarray(0, end)}`));
      sock.off('data', onData);
      sock.on('data', frames);
      if (head.length > end + 4) frames(head.subarray(end + 4));
      resolve();
    };
    sock.on('data', onData);
    sock.once('error', reject);
  });
  const r = prng(spec.seed ^ 0x5a5a);
  const until = Date.now() + spec.durationMs;
  const c = spec.client;
  while (Date.now() < until) {
    if (!c) {
      await sleep(until - Date.now());
      break;
    }
    await sleep(Math.min(uni(r, c.think[0], c.think[1]), until - Date.now()));
    if (Date.now() >= until) break;
    sock.write(wsFrame(Buffer.alloc(Math.round(uni(r, c.size[0], c.size[1])), 'm'), 1, true));
  }
  sock.write(wsFrame(Buffer.alloc(0), 8, true));
  await new Promise<void>((resolve) => {
    const t = setTimeout(resolve, 1000);
    sock.once('close', () => {
      clearTimeout(t);
      resolve();
    });
    sock.end();
  });
  sock.destroy();
}

export async function playSession(s: SessionSpec, ca: Buffer | undefined): Promise<void> {
  if (s.ws) return ws(s, ca);
  for (let i = 0; i < s.conns.length; i++) {
    if (i) await sleep(s.connGap[i - 1] ?? 0);
    await (s.h2 ? h2Conn(s, s.conns[i]!, ca) : h1Conn(s, s.conns[i]!, ca));
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const input = JSON.parse(readFileSync(0, 'utf8')) as { session: SessionSpec; ca?: string };
  await playSession(input.session, input.ca ? readFileSync(input.ca) : undefined).catch((e: Error) => {
    process.stderr.write(`client ${input.session.id}: ${e.message}\n`);
    process.exitCode = 1;
  });
}
