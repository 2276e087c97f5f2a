/**
 * JSON-lines writers: stdout (--format json), --record FILE and
 * --output file:PATH. Lines are batched per event-loop turn into one
 * write; a bounded queue keeps a stalled reader from growing the agent
 * without limit (what is dropped is counted and reported on close).
 */
import { createWriteStream, fstatSync, statSync, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import stringify from 'fast-json-stable-stringify';
import type { BustedEvent } from '../model/event.js';
import type { Sink } from './sink.js';

/**
 * JSON for one event, like JSON.stringify(e) but with the `process` object
 * serialised once per object: the process cache hands out the same frozen
 * object for every event of a task, and it is the largest part of a line.
 */
const processJson = new WeakMap<object, string>();

// Strings the engine made itself from numbers and fixed words (event ids,
// RFC 3339 times, event types, IP addresses, protocol names) need no JSON
// escaping; everything that came from outside (names, messages, command
// lines) goes through JSON.stringify.
const SAFE_EVENT_KEYS = new Set(['id', 'time', 'type', 'provider']);
const SAFE_NET_KEYS = new Set(['protocol', 'src_ip', 'dst_ip', 'direction']);

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

function netJson(n: Record<string, unknown>): string {
  let out = '';
  for (const k in n) {
    const v = n[k];
    if (v === undefined) continue;
    const s = typeof v === 'number' ? num(v) : typeof v === 'string' && SAFE_NET_KEYS.has(k) ? `"${v}"` : JSON.stringify(v);
    out += `${out ? ',' : '{'}"${k}":${s}`;
  }
  return out ? out + '}' : '{}';
}

/**
 * JSON for one event, byte for byte what JSON.stringify(e) gives (a test
 * holds it to that), about twice as fast: the `process` object is
 * serialised once per object (the process cache hands out the same frozen
 * object for every event of a task, and it is the largest part of a line),
 * and the parts the engine itself wrote are not escaped again.
 */
export function eventJson(e: BustedEvent): string {
  let out = '';
  for (const k in e) {
    const v = (e as unknown as Record<string, unknown>)[k];
    if (v === undefined) continue;
    let s: string | undefined;
    if (typeof v === 'string' && SAFE_EVENT_KEYS.has(k) && !/["\\\u0000-\u001f]/.test(v)) {
      s = `"${v}"`;
    } else if (k === 'process' && v !== null && typeof v === 'object') {
      s = processJson.get(v);
      if (s === undefined) {
        s = JSON.stringify(v);
        processJson.set(v, s);
      }
    } else if (k === 'net' && v !== null && typeof v === 'object') {
      s = netJson(v as Record<string, unknown>);
    } else {
      s = JSON.stringify(v);
    }
    out += `${out ? ',' : '{'}"${k}":${s}`;
  }
  return out ? out + '}' : '{}';
}

/**
 * The JSON of an event, made once however many sinks want it (stdout
 * --format json, file, webhook and syslog outputs all carry the same JSON).
 * The Agent hands one event to every sink before the next, so remembering the
 * last one is enough (a WeakMap per event cost more than it saved).
 */
let lastEvent: BustedEvent | undefined;
let lastLine = '';
export function eventLine(e: BustedEvent): string {
  if (e !== lastEvent) {
    lastLine = eventJson(e);
    lastEvent = e;
    lastBytesOf = undefined;
  }
  return lastLine;
}

/**
 * The JSON line of an event as UTF-8 bytes with its newline, encoded once
 * for all sinks, which copy it into their own buffers. Lines are cut from
 * 1 MiB slabs that are never reused (a slab goes when no line of it is
 * referenced any more), so a line stays valid as long as a sink holds it.
 */
let slab = Buffer.allocUnsafe(1 << 20);
let slabUsed = 0;
let lastBytesOf: BustedEvent | undefined;
let lastBytes: Buffer = Buffer.alloc(0);
export function eventBytes(e: BustedEvent): Buffer {
  if (e === lastBytesOf) return lastBytes;
  const s = eventLine(e);
  const worst = s.length * 3 + 1;
  if (slabUsed + worst > slab.length) {
    slab = Buffer.allocUnsafe(Math.max(1 << 20, worst));
    slabUsed = 0;
  }
  const n = slab.write(s, slabUsed, 'utf8');
  slab[slabUsed + n] = 10;
  lastBytes = slab.subarray(slabUsed, slabUsed + n + 1);
  slabUsed += n + 1;
  lastBytesOf = e;
  return lastBytes;
}

export interface JsonlOptions {
  /** stable key order (recordings are diffed and committed) */
  stableKeys?: boolean;
  /** bytes queued before events are dropped */
  maxQueueBytes?: number;
  /** turn an event into its line (text format) instead of JSON */
  format?: (e: BustedEvent) => string;
  /** called once when the stream fails (e.g. stdout's reader went away) */
  onError?: (err: Error) => void;
}

/** Bytes collected before a write is started (also written every event-loop
 * turn). Under glibc's mmap threshold, so chunks come from the heap and
 * freeing one does not unmap pages. */
const CHUNK = 64 << 10;

export class LineSink implements Sink {
  dropped = 0;
  written = 0;
  // Lines are encoded straight into a Buffer: joining thousands of lines
  // into one string made large old-space strings and most of the agent's
  // garbage-collection time.
  private chunk = Buffer.allocUnsafe(CHUNK);
  private used = 0;
  private queuedBytes = 0;
  private scheduled = false;
  private error: Error | undefined;
  private readonly maxQueue: number;
  private readonly format: ((e: BustedEvent) => string) | undefined;

  constructor(
    readonly name: string,
    private readonly out: Writable,
    o: JsonlOptions = {},
    private readonly ownsStream = false,
  ) {
    this.maxQueue = o.maxQueueBytes ?? 64 << 20;
    // undefined: the shared JSON bytes (eventBytes)
    this.format = o.format ?? (o.stableKeys ? (e) => stringify(e) : undefined);
    out.on('error', (err: Error) => {
      // EPIPE (reader went away), ENOSPC (disk full): report once, keep the agent running.
      if (!this.error) {
        this.error = err;
        if (o.onError) o.onError(err);
        else process.stderr.write(`busted: ${this.name}: ${err.message}; further events to it are dropped\n`);
      }
    });
  }

  write(e: BustedEvent): void {
    if (this.error) {
      this.dropped++;
      return;
    }
    if (!this.format) {
      const b = eventBytes(e);
      if (this.queuedBytes + this.used + b.length > this.maxQueue) {
        this.dropped++;
        return;
      }
      if (this.used + b.length > this.chunk.length) {
        this.flush();
        if (b.length > this.chunk.length) this.chunk = Buffer.allocUnsafe(b.length);
      }
      this.chunk.set(b, this.used);
      this.used += b.length;
      this.written++;
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(this.flush);
      }
      return;
    }
    const line = this.format(e) + '\n';
    // UTF-8 takes at most 3 bytes per UTF-16 unit.
    const worst = line.length * 3;
    if (this.queuedBytes + this.used + worst > this.maxQueue) {
      this.dropped++;
      return;
    }
    if (this.used + worst > this.chunk.length) {
      this.flush();
      if (worst > this.chunk.length) this.chunk = Buffer.allocUnsafe(worst);
    }
    this.used += this.chunk.write(line, this.used, 'utf8');
    this.written++;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private flush = (): void => {
    this.scheduled = false;
    if (this.used === 0 || this.error) return;
    const data = this.chunk.subarray(0, this.used);
    const n = this.used;
    // The stream may hold on to `data` until it is written: start a new chunk.
    this.chunk = Buffer.allocUnsafe(CHUNK);
    this.used = 0;
    this.queuedBytes += n;
    this.out.write(data, () => {
      this.queuedBytes -= n;
    });
  };

  close(): Promise<void> {
    this.flush();
    return new Promise((resolve) => {
      if (this.error) return resolve();
      if (this.ownsStream) (this.out as WriteStream).end(() => resolve());
      else if (this.out.writableNeedDrain) this.out.once('drain', () => resolve());
      else this.out.write('', () => resolve());
    });
  }
}

/**
 * Where a stream's output is thrown away unread (stdout on /dev/null: a
 * daemon's, `busted monitor > /dev/null` beside --output or --metrics):
 * the events are counted as delivered, and no line is made for them.
 */
export class DiscardSink implements Sink {
  readonly dropped = 0;
  delivered = 0;

  constructor(readonly name: string) {}

  write(_e: BustedEvent): void {
    this.delivered++;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Is this file descriptor /dev/null (the same character device)? */
export function isDevNull(fd: number): boolean {
  try {
    const st = fstatSync(fd);
    return st.isCharacterDevice() && st.rdev === statSync('/dev/null').rdev;
  } catch {
    return false;
  }
}

export function fileSink(name: string, path: string, o: JsonlOptions = {}): LineSink {
  const stream = createWriteStream(path, { flags: 'a' });
  return new LineSink(name, stream, o, true);
}
