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
import { statSync } from 'node:fs';
import { access, open, rename, unlink, type FileHandle } from 'node:fs/promises';
import type { BustedEvent } from '../model/event.js';
import { ErrorCode } from '../model/errors.js';
import { LineChunks } from './chunks.js';
import { eventBytes } from './jsonl.js';
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

/** Bytes handed to one writev. */
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
  private readonly q = new LineChunks();
  /** bytes the file will hold once everything queued is written: where rotation marks go */
  private logical = 0;
  private fh: FileHandle | undefined;
  private dirty = false;
  private running: Promise<void> | undefined;
  private scheduled = false;
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
    try {
      this.logical = statSync(path).size;
    } catch {
      this.logical = 0;
    }
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
    return this.q.lines;
  }

  write(e: BustedEvent): void {
    this.writeLine(eventBytes(e));
  }

  /** An event's JSON line, newline included (the outputs thread's way in). */
  writeLine(line: Buffer): void {
    if (this.closed) {
      this.dropped++;
      return;
    }
    if (this.q.bytes + line.length > this.maxQueue) {
      this.dropped++;
      return;
    }
    // A line that would take the file past maxBytes starts the next file
    // (a line longer than maxBytes gets a file of its own).
    if (this.maxBytes > 0 && this.logical > 0 && this.logical + line.length > this.maxBytes) {
      this.q.mark('rotate');
      this.logical = 0;
    }
    this.q.push(line);
    this.logical += line.length;
    this.kick();
  }

  /** After logrotate moved PATH away (its postrotate sends SIGHUP): what follows goes to a new PATH. */
  reopen(): void {
    this.q.mark('reopen');
    this.logical = 0;
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
      this.q.seal();
      const first = this.q.peek();
      if (!first) break;
      if (Date.now() < this.retryAt) {
        setTimeout(() => this.kick(), this.retryAt - Date.now()).unref();
        break;
      }
      if (first.mark) {
        this.q.shift();
        try {
          if (first.mark === 'rotate') await this.rotate();
          else await this.closeFile(this.fsync !== 'never');
        } catch (err) {
          this.fail(err as Error, []);
        }
        continue;
      }
      const bufs: Buffer[] = [];
      let bytes = 0;
      let lines = 0;
      for (let c = this.q.peek(); c && !c.mark && (bytes === 0 || bytes + c.buf.length <= BATCH_BYTES); c = this.q.peek()) {
        this.q.shift();
        bufs.push(c.buf);
        bytes += c.buf.length;
        lines += c.lines;
      }
      try {
        if (!this.fh) await this.openFile();
        let done = (await this.fh!.writev(bufs)).bytesWritten;
        // a short write (rare on files): the rest, piece by piece
        for (const b of bufs) {
          if (done >= b.length) {
            done -= b.length;
            continue;
          }
          let off = done;
          done = 0;
          while (off < b.length) off += (await this.fh!.write(b, off)).bytesWritten;
        }
        this.dirty = true;
        if (this.fsync === 'always') await this.fh!.datasync();
        this.delivered += lines;
        this.lastError = '';
      } catch (err) {
        this.fail(err as Error, [lines]);
      }
    }
  }

  /** A failed open or write: that batch is dropped (counted) and the file reopened a second later. */
  private fail(err: Error, lost: number[]): void {
    const msg = `busted: ${ErrorCode.SINK}: ${this.name}: ${err.message}`;
    if (msg !== this.lastError) {
      this.lastError = msg;
      (this.o.onError ?? ((m: string) => process.stderr.write(`${m}\n`)))(msg);
    }
    for (const n of lost) this.dropped += n;
    if (this.closed) {
      // closing: nothing will retry, so the rest is counted too
      for (const c of this.q.drain()) this.dropped += c.lines;
    }
    const fh = this.fh;
    this.fh = undefined;
    fh?.close().catch(() => {});
    this.retryAt = Date.now() + 1000;
  }

  private async openFile(): Promise<void> {
    this.fh = await open(this.path, 'a', 0o640);
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
      // shift only the files that are there: PATH.1 … PATH.n
      let n = 0;
      while (n < this.keep && (await exists(`${p}.${n + 1}`))) n++;
      if (n === this.keep) await unlink(`${p}.${n--}`).catch(ignoreMissing);
      for (let i = n; i >= 1; i--) await rename(`${p}.${i}`, `${p}.${i + 1}`).catch(ignoreMissing);
      await rename(p, `${p}.1`).catch(ignoreMissing);
    }
    this.rotations++;
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.syncTimer);
    this.retryAt = 0;
    while (this.running || this.scheduled || this.q.lines > 0 || this.q.peek()) {
      if (!this.running && !this.scheduled) this.kick();
      await (this.running ?? new Promise((r) => setImmediate(r)));
    }
    await this.closeFile(this.fsync !== 'never').catch((err: Error) => this.fail(err, []));
  }
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

function ignoreMissing(err: NodeJS.ErrnoException): void {
  if (err.code !== 'ENOENT') throw err;
}
