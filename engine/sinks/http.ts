/**
 * The small HTTP servers of --ui and --metrics. Bound to 127.0.0.1 unless
 * told otherwise. A server that asks for a token (the dashboard) gets a random
 * one when bound to anything but loopback: requests must carry it as
 * `?token=` or in the cookie the page sets. Requests whose Host header names
 * neither the bound address nor a loopback name are refused, so that a web
 * page cannot read the dashboard through DNS rebinding.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { isIP, type AddressInfo } from 'node:net';
import { BustedError, ErrorCode } from '../model/errors.js';

export interface ListenAt {
  host: string;
  port: number;
}

export interface Listener {
  url: string;
  port: number;
  token?: string;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void;

/** `true` (flag alone) → 127.0.0.1:default; "PORT"; "HOST:PORT"; "[V6]:PORT". Port 0: any free port. */
export function parseListen(v: string | true, defPort: number, what: string): ListenAt {
  if (v === true) return { host: '127.0.0.1', port: defPort };
  const bad = (): never => {
    throw new BustedError(ErrorCode.USAGE, `${what} ${v}: expected PORT or HOST:PORT`, what.replace(/^--/, ''));
  };
  let host = '127.0.0.1';
  let portText = v;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(v);
  if (m6) {
    host = m6[1]!;
    portText = m6[2]!;
  } else if (v.includes(':')) {
    const i = v.lastIndexOf(':');
    host = v.slice(0, i);
    portText = v.slice(i + 1);
  }
  if (!/^\d+$/.test(portText)) bad();
  const port = Number(portText);
  if (port > 65535 || !host) bad();
  return { host, port };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

function hostOk(header: string | undefined, bound: string): boolean {
  if (!header) return false;
  const h = header.startsWith('[') ? header.slice(1, header.indexOf(']')) : header.replace(/:\d+$/, '');
  return isLoopback(h) || h === bound || (!isLoopback(bound) && bound !== '127.0.0.1');
}

function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get('token');
  if (q) return q;
  const m = /(?:^|;\s*)busted_token=([A-Za-z0-9_-]+)/.exec(req.headers.cookie ?? '');
  return m?.[1];
}

export async function startHttp(at: ListenAt, handler: Handler, what: string, o: { tokenIfExposed?: boolean } = {}): Promise<Listener> {
  const token = o.tokenIfExposed && !isLoopback(at.host) ? randomBytes(18).toString('base64url') : undefined;
  const want = token ? Buffer.from(token) : undefined;
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (!hostOk(req.headers.host, at.host)) {
      res.writeHead(421, { 'content-type': 'text/plain' }).end('unexpected Host header\n');
      return;
    }
    if (want) {
      const got = Buffer.from(tokenOf(req, url) ?? '');
      if (got.length !== want.length || !timingSafeEqual(got, want)) {
        res.writeHead(401, { 'content-type': 'text/plain' }).end('a token is required: use the URL busted printed\n');
        return;
      }
      res.setHeader('set-cookie', `busted_token=${token}; HttpOnly; SameSite=Strict; Path=/`);
    }
    try {
      handler(req, res, url);
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${(e as Error).message}\n`);
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new BustedError(ErrorCode.USAGE, `${what}: cannot listen on ${at.host}:${at.port}: ${e.code ?? e.message}`, what.replace(/^--/, ''))));
    server.listen(at.port, at.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const shown = at.host.includes(':') ? `[${at.host}]` : at.host;
  return {
    url: `http://${shown}:${port}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
