/**
 * The webhook's HTTP client, on a worker thread: TLS encryption and socket
 * writes of megabyte NDJSON bodies were the largest part of what a webhook
 * output cost the agent's thread. The webhook (webhook.ts) keeps its batching,
 * retries, order and spill on the agent's thread and hands each body here
 * (copied, so that it can be sent again); this thread POSTs it over one
 * kept-alive connection and answers with the outcome.
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { parentPort, workerData } from 'node:worker_threads';

export interface HttpSenderData {
  url: string;
  headers: Record<string, string>;
  ca?: string;
  timeoutMs: number;
}

export interface PostRequest {
  id: number;
  body: Uint8Array;
}

export interface PostResult {
  id: number;
  ok: boolean;
  /** the endpoint refuses this content (4xx other than 408/429): do not send it again */
  permanent?: boolean;
  retryAfterMs?: number;
  /** what went wrong, without secrets: an error code or an HTTP status */
  error?: string;
}

const cfg = workerData as HttpSenderData;
const url = new URL(cfg.url);
const https = url.protocol === 'https:';
const agent = https ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(cfg.ca ? { ca: cfg.ca } : {}) }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
const port = parentPort!;

function post(m: PostRequest): void {
  const body = m.body;
  const req = (https ? httpsRequest : httpRequest)(url, {
    method: 'POST',
    agent,
    headers: { ...cfg.headers, 'content-length': String(body.byteLength) },
    timeout: cfg.timeoutMs,
  });
  let settled = false;
  const done = (r: Omit<PostResult, 'id'>): void => {
    if (settled) return;
    settled = true;
    port.postMessage({ id: m.id, ...r } satisfies PostResult);
  };
  req.on('timeout', () => {
    req.destroy();
    done({ ok: false, error: `no answer in ${cfg.timeoutMs} ms` });
  });
  req.on('error', (err: NodeJS.ErrnoException) => done({ ok: false, error: err.code ?? err.message }));
  req.on('response', (res: IncomingMessage) => {
    res.resume();
    res.on('error', () => {});
    const s = res.statusCode ?? 0;
    if (s >= 200 && s < 300) return done({ ok: true });
    if (s === 408 || s === 429 || s >= 500) {
      const ra = Number(res.headers['retry-after']);
      return done({ ok: false, error: `HTTP ${s}`, ...(Number.isFinite(ra) && ra > 0 ? { retryAfterMs: ra * 1000 } : {}) });
    }
    done({ ok: false, permanent: true, error: `HTTP ${s}` });
  });
  req.end(body);
}

port.on('message', (m: PostRequest | 'close') => {
  if (m === 'close') {
    agent.destroy();
    port.close();
    return;
  }
  post(m);
});
