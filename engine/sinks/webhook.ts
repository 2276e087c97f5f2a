/**
 * `--output webhook:URL`: events POSTed as NDJSON batches (one JSON event per
 * line, `content-type: application/x-ndjson`), in order, one request at a
 * time.
 *
 * - A batch goes when it holds batchEvents events or batchBytes bytes, or
 *   flushMs after its first event.
 * - A batch that fails (connection error, timeout, 408, 429, 5xx) is sent
 *   again after an exponential backoff with jitter, until it is taken; no
 *   later batch overtakes it. Retry-After (seconds) is honoured up to the cap.
 * - Another 4xx means the collector refuses this content (a wrong token, a
 *   payload it cannot parse): that batch is dropped and counted, with one
 *   message on stderr, so that the rest still flows.
 * - While the endpoint is down events wait in memory up to memoryBytes; past
 *   that they move, in order, to an on-disk spill (spill.ts) of at most
 *   spillMaxBytes, which is sent first when the endpoint is back. Only what
 *   fits in neither is dropped (and counted). On close, whatever could not be
 *   sent in closeTimeoutMs is written to the spill for the next run.
 * - The bearer token and header values never appear in messages; the URL is
 *   shown without its user info and query.
 */
import { createHash } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { join } from 'node:path';
import type { BustedEvent } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import { backoffMs, Sleeper } from './backoff.js';
import { LineChunks } from './chunks.js';
import { eventBytes } from './jsonl.js';
import type { Sink } from './sink.js';
import { SpillQueue } from './spill.js';

export interface WebhookOptions {
  /** extra request headers (name → value) */
  headers?: Record<string, string>;
  /** sent as `Authorization: Bearer <token>` */
  token?: string;
  /** PEM CA certificate(s) to trust for https URLs, instead of the system's */
  ca?: string;
  batchEvents?: number;
  batchBytes?: number;
  flushMs?: number;
  timeoutMs?: number;
  memoryBytes?: number;
  /** directory of the on-disk spill (a subdirectory per URL is made in it); none: memory only */
  spillDir?: string;
  spillMaxBytes?: number;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  closeTimeoutMs?: number;
  onError?: (message: string) => void;
  /** the request's content type (default application/x-ndjson) */
  contentType?: string;
  /** makes a request's body of a batch of queued lines (default: the lines as they are); a throw drops the batch */
  encode?: (batch: Buffer) => Buffer;
  /** the sink's name in messages and stats (default webhook:URL) */
  label?: string;
}

/** An HTTP header's name (RFC 9110 §5.1: a token). */
export const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** The URL as shown in names and messages: no user info, no query (either may hold a secret). */
export function safeUrl(u: URL): string {
  return `${u.protocol}//${u.host}${u.pathname}`;
}

export function parseWebhookUrl(spec: string): URL {
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--output webhook:${spec}: not a URL`, 'output');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BustedError(ErrorCode.USAGE, `--output webhook:${safeUrl(u)}: only http and https URLs`, 'output');
  return u;
}

interface Batch {
  buf: Buffer;
  lines: number;
  fromSpill: boolean;
}

export class WebhookSink implements Sink {
  readonly name: string;
  dropped = 0;
  delivered = 0;
  /** POSTs that failed and were retried */
  retries = 0;
  /** events waiting in memory, packed as request bodies (a chunk is one batch) */
  private readonly mem: LineChunks;
  private readonly spill: SpillQueue | undefined;
  private inflight: Batch | undefined;
  private closing = false;
  private attempt = 0;
  private readonly loop: Promise<void>;
  private readonly sleeper = new Sleeper();
  private wakeBatch: (() => void) | undefined;
  /** when the first line of the open batch came */
  private firstAt = 0;
  private readonly agent: HttpAgent;
  private readonly headers: Record<string, string>;
  private readonly o: Required<Omit<WebhookOptions, 'headers' | 'token' | 'ca' | 'spillDir' | 'onError' | 'contentType' | 'encode' | 'label'>>;
  private readonly encode: ((batch: Buffer) => Buffer) | undefined;
  private readonly messages = new Set<string>();

  constructor(
    private readonly url: URL,
    opts: WebhookOptions = {},
  ) {
    this.name = opts.label ?? `webhook:${safeUrl(url)}`;
    this.encode = opts.encode;
    this.o = {
      batchEvents: opts.batchEvents ?? 500,
      batchBytes: opts.batchBytes ?? 1 << 20,
      flushMs: opts.flushMs ?? 1000,
      timeoutMs: opts.timeoutMs ?? 10_000,
      memoryBytes: opts.memoryBytes ?? 16 << 20,
      spillMaxBytes: opts.spillMaxBytes ?? 256 << 20,
      backoffBaseMs: opts.backoffBaseMs ?? 500,
      backoffMaxMs: opts.backoffMaxMs ?? 30_000,
      closeTimeoutMs: opts.closeTimeoutMs ?? 5000,
    };
    this.mem = new LineChunks(this.o.batchBytes);
    this.onError = opts.onError ?? ((m) => process.stderr.write(`${m}\n`));
    this.headers = { 'content-type': opts.contentType ?? 'application/x-ndjson', 'user-agent': 'busted/0.1.0', ...opts.headers };
    if (opts.token) this.headers.authorization = `Bearer ${opts.token}`;
    this.agent = url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: 1, ...(opts.ca ? { ca: opts.ca } : {}) }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
    if (opts.spillDir) {
      // one directory per destination: two webhooks never share a queue
      const dir = join(opts.spillDir, `webhook-${createHash('sha256').update(url.href).digest('hex').slice(0, 16)}`);
      try {
        this.spill = new SpillQueue(dir, this.o.spillMaxBytes, (m) => this.report(m));
      } catch (e) {
        this.report(`no disk spill (${(e as Error).message}): events wait in memory only`);
      }
    }
    this.loop = this.run();
  }

  private readonly onError: (message: string) => void;

  private report(m: string): void {
    const msg = `busted: ${ErrorCode.SINK}: ${this.name}: ${m}`;
    if (this.messages.has(msg)) return;
    if (this.messages.size > 100) this.messages.clear();
    this.messages.add(msg);
    this.onError(msg);
  }

  get queued(): number {
    return this.mem.lines + (this.spill?.lines ?? 0) + (this.inflight && !this.inflight.fromSpill ? this.inflight.lines : 0);
  }

  /** events on disk waiting for the endpoint */
  get spilled(): number {
    return this.spill?.lines ?? 0;
  }

  write(e: BustedEvent): void {
    this.writeLine(eventBytes(e));
  }

  /** An event's JSON line, newline included (the outputs thread's way in). */
  writeLine(line: Buffer): void {
    if (this.closing) {
      this.dropped++;
      return;
    }
    if (this.spill && (!this.spill.empty || this.mem.bytes + line.length > this.o.memoryBytes)) {
      // Past memory (or already spilling, to keep the order): all to disk.
      this.toSpill();
      if (!this.spill.append(line, 1)) this.dropped++;
      this.wakeBatch?.();
      return;
    }
    if (this.mem.bytes + line.length > this.o.memoryBytes) {
      this.dropped++;
      return;
    }
    if (this.mem.openLines === 0) this.firstAt = Date.now();
    this.mem.push(line);
    if (this.mem.openLines >= this.o.batchEvents) {
      this.mem.seal();
      this.wakeBatch?.();
    } else if (this.mem.peek()) {
      // the chunk filled up to batchBytes and was sealed by push
      this.wakeBatch?.();
    }
  }

  /** Memory's lines move to the end of the spill (they are older than anything written next). */
  private toSpill(): void {
    if (!this.spill || this.mem.lines === 0) return;
    for (const c of this.mem.drain()) if (!this.spill.append(c.buf, c.lines)) this.dropped += c.lines;
  }

  private async nextBatch(): Promise<Batch | undefined> {
    if (this.spill && !this.spill.empty) {
      const b = await this.spill.peek(this.o.batchEvents, this.o.batchBytes);
      if (b) return { ...b, fromSpill: true };
    }
    if (!this.mem.peek()) {
      if (this.mem.openLines === 0) return undefined;
      if (!this.closing && Date.now() - this.firstAt < this.o.flushMs) return undefined;
      this.mem.seal();
    }
    const c = this.mem.shift()!;
    return { buf: c.buf, lines: c.lines, fromSpill: false };
  }

  private async run(): Promise<void> {
    for (;;) {
      if (!this.inflight) this.inflight = await this.nextBatch();
      const b = this.inflight;
      if (!b) {
        if (this.closing) {
          if (this.mem.lines === 0 && (this.spill === undefined || this.spill.empty)) return;
          continue;
        }
        // Wait for a full batch, or the flush time of the first event waiting.
        const wait = this.mem.openLines ? Math.max(1, this.o.flushMs - (Date.now() - this.firstAt)) : this.o.flushMs;
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, wait);
          function done(): void {
            clearTimeout(t);
            resolve();
          }
          this.wakeBatch = done;
        });
        this.wakeBatch = undefined;
        continue;
      }
      const r = await this.send(b.buf);
      if (r.ok || r.permanent) {
        if (r.ok) this.delivered += b.lines;
        else this.dropped += b.lines;
        if (b.fromSpill) await this.spill!.ack(b);
        this.inflight = undefined;
        this.attempt = 0;
        continue;
      }
      if (this.closing) return;
      this.retries++;
      const delay = Math.max(backoffMs(this.attempt++, this.o.backoffBaseMs, this.o.backoffMaxMs), Math.min(r.retryAfterMs ?? 0, this.o.backoffMaxMs));
      await this.sleeper.sleep(delay);
    }
  }

  /** BATCH's request: posted (encoded first, where the sink encodes), or dropped for good when it cannot be encoded. */
  private send(batch: Buffer): Promise<{ ok: boolean; permanent?: boolean; retryAfterMs?: number }> {
    if (!this.encode) return this.post(batch);
    let body: Buffer;
    try {
      body = this.encode(batch);
    } catch (e) {
      // (a spill written by another version, damaged on disk): it cannot be sent; the rest can
      this.report(`a batch that cannot be encoded is dropped: ${(e as Error).message}`);
      return Promise.resolve({ ok: false, permanent: true });
    }
    return this.post(body);
  }

  private post(body: Buffer): Promise<{ ok: boolean; permanent?: boolean; retryAfterMs?: number }> {
    const u = this.url;
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, {
      method: 'POST',
      agent: this.agent,
      headers: { ...this.headers, 'content-length': String(body.length) },
      timeout: this.o.timeoutMs,
    });
    return new Promise((resolve) => {
      let settled = false;
      const done = (v: { ok: boolean; permanent?: boolean; retryAfterMs?: number }) => {
        if (!settled) {
          settled = true;
          resolve(v);
        }
      };
      req.on('timeout', () => {
        this.report(`no answer in ${this.o.timeoutMs} ms; retrying`);
        req.destroy();
        done({ ok: false });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        this.report(`${err.code ?? err.message}; retrying`);
        done({ ok: false });
      });
      req.on('response', (res: IncomingMessage) => {
        res.resume();
        res.on('error', () => {});
        const s = res.statusCode ?? 0;
        if (s >= 200 && s < 300) return done({ ok: true });
        if (s === 408 || s === 429 || s >= 500) {
          this.report(`HTTP ${s}; retrying`);
          const ra = Number(res.headers['retry-after']);
          return done({ ok: false, retryAfterMs: Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined });
        }
        this.report(`HTTP ${s}: the endpoint refuses these events; batches it refuses are dropped`);
        done({ ok: false, permanent: true });
      });
      req.end(body);
    });
  }

  async close(): Promise<void> {
    this.closing = true;
    this.wakeBatch?.();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), this.o.closeTimeoutMs)));
    // Whatever is queued goes out now, unless the endpoint is down.
    this.sleeper.interrupt();
    const finished = await Promise.race([this.loop.then(() => 'done' as const), timeout]);
    clearTimeout(timer);
    if (finished === 'timeout' || this.inflight || this.mem.lines) {
      // Left for the next run, on disk (or counted as dropped without a spill).
      const rest: Array<{ buf: Buffer; lines: number }> = [];
      if (this.inflight && !this.inflight.fromSpill) rest.push(this.inflight);
      rest.push(...this.mem.drain());
      this.inflight = undefined;
      for (const c of rest) if (!this.spill?.append(c.buf, c.lines)) this.dropped += c.lines;
    }
    await this.spill?.flush();
    if (this.spill) this.dropped += this.spill.failed;
    this.agent.destroy();
  }
}
