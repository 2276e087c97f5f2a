/**
 * `--record FILE` (CONTRACT.md, "Recorded events and expectations"): every
 * event as one JSON line, keys in a stable order, for `busted test-policy`
 * to replay and for a policy repository to commit.
 *
 * What a recording must never do is slow the agent or stop enforcement:
 *
 * - lines are batched per event-loop turn and written by libuv's thread
 *   pool (fs.write on our own descriptor), one write in flight at a time;
 *   the event loop never waits for the disk;
 * - the queue is bounded: past it, events are dropped and counted, and
 *   the recording says so with a `lost` line where the gap is, so a replay
 *   knows events are missing rather than silently seeing fewer;
 * - a write error (ENOSPC, EDQUOT, EIO) is reported once (onProblem: the
 *   CLI turns it into an `error` event and a stderr line), the partial
 *   line it may have left is cut off (ftruncate to the last whole line), and
 *   the sink keeps counting what it drops and tries again every
 *   `retryMs`; when a write goes through again, a `lost` line marks the gap.
 *
 * Secrets are not this sink's business: the interpreter redacted them
 * before any sink sees an event (unless --no-redact).
 */
import { closeSync, fstatSync, ftruncate, ftruncateSync, openSync, statfs, write, writeSync } from 'node:fs';
import stringify from 'fast-json-stable-stringify';
import type { BustedEvent } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import type { Sink } from './sink.js';

/**
 * stringify(e) (keys sorted at every level) byte for byte, with the
 * process object serialised once per object: the process cache hands out
 * the same frozen object for every event of a task, and it is the largest
 * part of most lines (a test holds it to stringify's output).
 */
const processStable = new WeakMap<object, string>();

export function stableEventJson(e: BustedEvent): string {
  const o = e as unknown as Record<string, unknown>;
  const keys = Object.keys(o).sort();
  let out = '';
  for (const k of keys) {
    const v = o[k];
    if (v === undefined) continue;
    let s: string;
    if (k === 'process' && v !== null && typeof v === 'object') {
      const cached = processStable.get(v);
      if (cached !== undefined) s = cached;
      else {
        s = stringify(v);
        processStable.set(v, s);
      }
    } else {
      s = stringify(v);
    }
    out += `${out ? ',' : '{'}${JSON.stringify(k)}:${s}`;
  }
  return out ? out + '}' : '{}';
}

/** RFC 3339 with nanoseconds, as event times are (the milliseconds the clock gives, padded). */
function nowRfc3339(): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000000Z');
}

export interface RecordProblem {
  /** 'failed': a write failed (reported once per outage); 'resumed': writes go through again */
  kind: 'failed' | 'resumed';
  message: string;
  /** the errno code (ENOSPC, EDQUOT, EIO, ...) of a failure */
  code?: string;
}

export interface RecordOptions {
  /** bytes queued (not yet written) before events are dropped; default 64 MiB */
  maxQueueBytes?: number;
  /** after a write error, how long until the next try; default 5 s */
  retryMs?: number;
  /**
   * After a write error, writing starts again only once the file system has
   * this much free (default 1 MiB), so a disk at the edge does not flap
   * between failing and working with a report each time
   */
  resumeFreeBytes?: number;
  /** a failure is reported again at most this often (default 60 s); drops are always counted */
  reportEveryMs?: number;
  /** told when writing fails and when it works again */
  onProblem?: (p: RecordProblem) => void;
  /** the line for an event (default: stableEventJson) */
  format?: (e: BustedEvent) => string;
}

/** Bytes collected before a write is started (also written every event-loop turn). */
const CHUNK = 64 << 10;
/** At most this much is handed to one write call. */
const MAX_WRITE = 1 << 20;

interface Pending {
  buf: Buffer;
  events: number;
}

export class RecordSink implements Sink {
  dropped = 0;
  written = 0;
  private readonly fd: number;
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private chunkEvents = 0;
  private readonly queue: Pending[] = [];
  private queuedBytes = 0;
  private inFlight = false;
  private scheduled = false;
  /** set while writes fail; events are counted, not queued */
  private failure: NodeJS.ErrnoException | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** events dropped since the last `lost` line (queue full or writes failing) */
  private gap = 0;
  private gapReason = '';
  private gaps = 0;
  /** file size up to the end of the last whole line we wrote */
  private committed: number;
  private closed = false;
  private idle: Array<() => void> = [];
  private readonly maxQueue: number;
  private readonly retryMs: number;
  private lastReport = -Infinity;
  private readonly format: (e: BustedEvent) => string;

  /** Opens (appends to) `path` at once, so that a bad path is a usage error before anything is attached. */
  constructor(
    readonly name: string,
    readonly path: string,
    private readonly o: RecordOptions = {},
  ) {
    try {
      this.fd = openSync(path, 'a');
      this.committed = fstatSync(this.fd).size;
    } catch (e) {
      throw new BustedError(ErrorCode.USAGE, `--record ${path}: ${(e as Error).message}`, 'record');
    }
    this.maxQueue = o.maxQueueBytes ?? 64 << 20;
    this.retryMs = o.retryMs ?? 5000;
    this.format = o.format ?? stableEventJson;
  }

  write(e: BustedEvent): void {
    if (this.closed) return;
    if (this.failure) return this.drop(`writing ${this.path} failed: ${this.failure.code ?? this.failure.message}`);
    const line = this.format(e) + '\n';
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const worst = line.length * 3;
    if (this.queuedBytes + this.used + worst > this.maxQueue) return this.drop('record queue full (the disk is slower than the events)');
    if (this.gap > 0) this.markGap();
    this.append(line, worst);
    this.chunkEvents++;
    this.written++;
  }

  private drop(reason: string): void {
    this.dropped++;
    if (this.gap === 0) this.gapReason = reason;
    this.gap++;
  }

  private append(line: string, worst: number): void {
    if (this.used + worst > this.chunk.length) {
      this.flush();
      if (worst > this.chunk.length) this.chunk = Buffer.allocUnsafe(worst);
    }
    this.used += this.chunk.write(line, this.used, 'utf8');
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** A `lost` line where events are missing, so a replay knows the recording has a hole. */
  private markGap(): void {
    const marker = {
      id: `record-lost-${++this.gaps}`,
      lost: { count: this.gap, reason: this.gapReason },
      time: nowRfc3339(),
      type: 'lost',
    };
    this.gap = 0;
    const line = stringify(marker) + '\n';
    this.append(line, line.length * 3);
  }

  private flush = (): void => {
    this.scheduled = false;
    if (this.used === 0) return;
    const buf = this.chunk.subarray(0, this.used);
    this.queue.push({ buf, events: this.chunkEvents });
    this.queuedBytes += buf.length;
    this.chunk = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    this.chunkEvents = 0;
    this.kick();
  };

  /** Start the next write, if none is running. */
  private kick(): void {
    if (this.inFlight || this.failure || this.queue.length === 0) {
      if (!this.inFlight && (this.queue.length === 0 || this.failure)) this.wakeIdle();
      return;
    }
    // join queued chunks into one write (up to MAX_WRITE)
    let n = 0;
    let len = 0;
    while (n < this.queue.length && (n === 0 || len + this.queue[n]!.buf.length <= MAX_WRITE)) len += this.queue[n++]!.buf.length;
    const parts = this.queue.slice(0, n);
    const buf = n === 1 ? parts[0]!.buf : Buffer.concat(parts.map((p) => p.buf), len);
    this.inFlight = true;
    this.writeAll(buf, 0, (err) => {
      this.inFlight = false;
      if (err) return this.fail(err);
      this.queue.splice(0, n);
      this.queuedBytes -= len;
      this.committed += len;
      if (!this.reportedOk) {
        this.reportedOk = true;
        this.o.onProblem?.({ kind: 'resumed', message: `${this.name}: writing again; a lost line in the recording marks the gap` });
      }
      this.kick();
    });
  }

  /** fs.write may write less than asked (a signal, a nearly full disk): write the rest. */
  private writeAll(buf: Buffer, off: number, done: (err: NodeJS.ErrnoException | null) => void): void {
    write(this.fd, buf, off, buf.length - off, null, (err, n) => {
      if (err) return done(err);
      if (off + n < buf.length) return this.writeAll(buf, off + n, done);
      done(null);
    });
  }

  private fail(err: NodeJS.ErrnoException): void {
    // what was queued is lost with this failure; count it
    let lostEvents = 0;
    for (const p of this.queue) lostEvents += p.events;
    this.queue.length = 0;
    this.queuedBytes = 0;
    lostEvents += this.chunkEvents;
    this.used = 0;
    this.chunkEvents = 0;
    this.failure = err;
    if (this.gap === 0) this.gapReason = `writing ${this.path} failed: ${err.code ?? err.message}`;
    this.gap += lostEvents;
    this.dropped += lostEvents;
    this.written -= lostEvents;
    // a write cut short by the error leaves half a line: cut the file back to the last whole one
    ftruncate(this.fd, this.committed, () => {});
    const now = performance.now();
    if (this.reportedOk && now - this.lastReport >= (this.o.reportEveryMs ?? 60_000)) {
      this.reportedOk = false;
      this.lastReport = now;
      this.o.onProblem?.({
        kind: 'failed',
        code: err.code,
        message: `${this.name}: ${err.code ?? 'error'}: ${err.message}; events are dropped and counted, and writing is tried again every ${this.retryMs / 1000} s`,
      });
    }
    this.wakeIdle();
    if (!this.closed) {
      this.retryTimer = setTimeout(() => this.retry(), this.retryMs);
      this.retryTimer.unref();
    }
  }

  /** false from a reported failure until a write goes through again (a later failure may then be reported again) */
  private reportedOk = true;

  private retry(): void {
    this.retryTimer = undefined;
    if (this.closed) return;
    statfs(this.path, (err, st) => {
      if (this.closed) return;
      // not enough room yet (what statfs cannot tell, a FIFO or a device, is simply tried)
      if (!err && st.blocks > 0 && Number(st.bavail) * Number(st.bsize) < (this.o.resumeFreeBytes ?? 1 << 20)) {
        this.retryTimer = setTimeout(() => this.retry(), this.retryMs);
        this.retryTimer.unref();
        return;
      }
      this.failure = undefined;
      // the gap marker is the first thing written again
      if (this.gap > 0) this.markGap();
      this.flush();
    });
  }

  private wakeIdle(): void {
    const w = this.idle;
    this.idle = [];
    for (const f of w) f();
  }

  /** Write what is queued (or give up on it if the file cannot be written), then close the file. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    await new Promise<void>((resolve) => {
      if (!this.inFlight && (this.queue.length === 0 || this.failure)) return resolve();
      this.idle.push(resolve);
    });
    this.closed = true;
    clearTimeout(this.retryTimer);
    // a last try to say how much is missing at the end
    if (this.gap > 0) {
      const line = Buffer.from(
        stringify({ id: `record-lost-${++this.gaps}`, lost: { count: this.gap, reason: this.gapReason }, time: nowRfc3339(), type: 'lost' }) + '\n',
      );
      try {
        ftruncateSync(this.fd, this.committed);
        let off = 0;
        while (off < line.length) off += writeSync(this.fd, line, off);
        this.gap = 0;
      } catch {
        try {
          ftruncateSync(this.fd, this.committed);
        } catch {
          // nothing more can be done for this file
        }
      }
    }
    closeSync(this.fd);
  }
}
