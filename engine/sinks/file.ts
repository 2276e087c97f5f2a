/**
 * `--output file:PATH`: JSON lines with size-based rotation, reopened on
 * SIGHUP for logrotate.
 *
 * The agent only appends to an in-memory queue (bounded in bytes; what does
 * not fit is dropped and counted); one writer drains it in batches of up to
 * 1 MiB through a FileHandle, so a slow disk never holds up the pipeline.
 *
 * Rotation (when the next batch would pass maxBytes): PATH.(keep) is removed,
 * PATH.(n) becomes PATH.(n+1), PATH becomes PATH.1 and a new PATH is opened —
 * the numbering of logrotate's and lumberjack's "backups". A batch is cut so
 * that no file passes maxBytes unless one line alone does. Lines are never
 * split across files.
 *
 * fsync policy (`--file-fsync`): `rotate` (default) syncs a file before it is
 * rotated away and on close, so a rotated file is complete on disk; `always`
 * syncs after every batch (at most one batch of events lost on power loss,
 * at the cost of a disk flush per batch); `never` leaves it to the kernel's
 * writeback (~30 s); a number N syncs every N seconds when something was
 * written.
 */
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { BustedEvent } from '../model/event.js';
import { ErrorCode } from '../model/errors.js';
import { eventLine } from './jsonl.js';
import type { Sink } from './sink.js';

export type FsyncPolicy = 'never' | 'rotate' | 'always' | { everyMs: number };

export interface FileSinkOptions {
  /** rotate when the file would pass this many bytes; 0: never rotate */
  maxBytes?: number;
  /** rotated files kept (PATH.1 … PATH.keep) */
  keep?: number;
  fsync?: FsyncPolicy;
  /** bytes queued in memory before events are dropped */
  maxQueueBytes?: number;
  /** told of a write or open failure (once per kind of failure in a row) */
  onError?: (message: string) => void;
}

const BATCH_BYTES = 1 << 20;

export function parseFsync(v: string): FsyncPolicy {
  if (v === 'never' || v === 'rotate' || v === 'always') return v;
  const n = Number(v);
  if (Number.isFinite(n) && n > 0) return { everyMs: n * 1000 };
  throw new Error(`expected never, rotate, always or a number of seconds, got '${v}'`);
}

export class FileSink implements Sink {
  readonly name: string;
  dropped = 0;
  delivered = 0;
  /** files rotated away so far */
  rotations = 0;
  private queue: string[] = [];
  private head = 0;
  private queuedBytes = 0;
  private fh: FileHandle | undefined;
  private size = 0;
  private dirty = false;
  private running: Promise<void> | undefined;
  private scheduled = false;
  private reopenWanted = false;
  private closed = false;
  private lastError = '';
  private retryAt = 0;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly fsync: FsyncPolicy;
  private readonly maxQueue: number;
  private readonly syncTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly path: string,
    private readonly o: FileSinkOptions = {},
  ) {
    this.name = `file:${path}`;
    this.maxBytes = o.maxBytes ?? 100 << 20;
    this.keep = o.keep ?? 5;
    this.fsync = o.fsync ?? 'rotate';
    this.maxQueue = o.maxQueueBytes ?? 64 << 20;
    if (typeof this.fsync === 'object') {
      this.syncTimer = setInterval(() => {
        if (this.dirty && this.fh) {
          this.dirty = false;
          this.fh.datasync().catch(() => {});
        }
      }, this.fsync.everyMs);
      this.syncTimer.unref();
    }
  }

  get queued(): number {
    return this.queue.length - this.head;
  }

  write(e: BustedEvent): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    const line = eventLine(e) + '\n';
    // bytes are counted as UTF-16 units: close enough for a memory bound
    if (this.queuedBytes + line.length > this.maxQueue) {
      this.dropped++;
      return;
    }
    this.queue.push(line);
    this.queuedBytes += line.length;
    this.kick();
  }

  /** After logrotate moved PATH away (its postrotate sends SIGHUP): write to a new PATH from the next batch on. */
  reopen(): void {
    this.reopenWanted = true;
    this.kick();
  }

  private kick(): void {
    if (this.running || this.scheduled) return;
    this.scheduled = true;
    // one batch per event-loop turn at most: lines of the same turn go together
    setImmediate(() => {
      this.scheduled = false;
      if (!this.running) this.running = this.drain().finally(() => (this.running = undefined));
    });
  }

  private async drain(): Promise<void> {
    for (;;) {
      if (this.reopenWanted) {
        this.reopenWanted = false;
        await this.closeFile(this.fsync !== 'never');
      }
      if (this.queued === 0) break;
      if (Date.now() < this.retryAt) {
        setTimeout(() => this.kick(), this.retryAt - Date.now()).unref();
        break;
      }
      try {
        if (!this.fh) await this.openFile();
        // What fits before the rotation limit (at least one line), up to a batch.
        const room = this.maxBytes > 0 ? this.maxBytes - this.size : Infinity;
        let end = this.head;
        let bytes = 0;
        while (end < this.queue.length) {
          const n = Buffer.byteLength(this.queue[end]!);
          if (end > this.head && (bytes + n > room || bytes + n > BATCH_BYTES)) break;
          if (end === this.head && n > room && this.size > 0) break; // rotate first (a line longer than maxBytes gets a file of its own)
          bytes += n;
          end++;
        }
        if (end === this.head) {
          await this.rotate();
          continue;
        }
        const buf = Buffer.from(this.queue.slice(this.head, end).join(''));
        let off = 0;
        while (off < buf.length) off += (await this.fh!.write(buf, off)).bytesWritten;
        this.size += buf.length;
        this.dirty = true;
        if (this.fsync === 'always') await this.fh!.datasync();
        this.take(end);
        this.lastError = '';
      } catch (err) {
        this.fail(err as Error);
      }
    }
  }

  /** Lines head..end are done (written or dropped). */
  private take(end: number): void {
    for (let i = this.head; i < end; i++) this.queuedBytes -= this.queue[i]!.length;
    this.delivered += end - this.head;
    this.head = end;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }

  /** A failed open or write: the batch is dropped (counted), the file reopened, a second later. */
  private fail(err: Error): void {
    const msg = `busted: ${ErrorCode.SINK}: ${this.name}: ${err.message}`;
    if (msg !== this.lastError) {
      this.lastError = msg;
      (this.o.onError ?? ((m: string) => process.stderr.write(`${m}\n`)))(msg);
    }
    const n = this.closed ? this.queued : Math.min(this.queued, 1024);
    const before = this.delivered;
    this.take(this.head + n);
    this.delivered = before;
    this.dropped += n;
    const fh = this.fh;
    this.fh = undefined;
    fh?.close().catch(() => {});
    this.retryAt = Date.now() + 1000;
  }

  private async openFile(): Promise<void> {
    const fh = await open(this.path, 'a', 0o640);
    this.size = (await fh.stat()).size;
    this.fh = fh;
  }

  private async closeFile(sync: boolean): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    try {
      if (sync && this.dirty) await fh.datasync();
    } finally {
      this.dirty = false;
      await fh.close();
    }
  }

  private async rotate(): Promise<void> {
    await this.closeFile(this.fsync !== 'never');
    const p = this.path;
    if (this.keep <= 0) {
      await unlink(p).catch(ignoreMissing);
    } else {
      await unlink(`${p}.${this.keep}`).catch(ignoreMissing);
      for (let i = this.keep - 1; i >= 1; i--) await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
      await rename(p, `${p}.1`).catch(ignoreMissing);
    }
    this.rotations++;
    await this.openFile();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.syncTimer);
    this.retryAt = 0;
    while (this.running || this.scheduled || this.queued > 0) {
      if (!this.running && !this.scheduled) this.kick();
      await (this.running ?? new Promise((r) => setImmediate(r)));
    }
    await this.closeFile(this.fsync !== 'never').catch((err: Error) => this.fail(err));
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
