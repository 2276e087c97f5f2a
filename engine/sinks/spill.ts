/**
 * A FIFO of JSON lines on disk, for a sink whose destination is down: the
 * webhook moves what does not fit in memory here and sends it back in order
 * when the endpoint answers again. Bounded in bytes; what does not fit is
 * refused (the caller counts it as dropped).
 *
 * Layout: DIR/seg-<12-digit seq>.ndjson, each up to SEGMENT_BYTES, written by
 * appending and read whole (oldest first). A segment is deleted once every
 * line in it was acknowledged; segments left by an earlier run (the agent
 * stopped while the endpoint was down) are sent first. Delivery is at least
 * once: a run that stops between sending a batch and deleting its segment
 * sends that segment's unacknowledged part again.
 */
import { mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { appendFile, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';

const SEGMENT_BYTES = 4 << 20;
const SEGMENT_RE = /^seg-(\d{12})\.ndjson$/;

interface Segment {
  seq: number;
  path: string;
  bytes: number;
  lines: number;
}

/** Lines (each ending in a newline) taken from the spill, to be acknowledged. */
export interface SpillBatch {
  buf: Buffer;
  lines: number;
}

function countLines(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(10); i !== -1; i = b.indexOf(10, i + 1)) n++;
  return n;
}

export class SpillQueue {
  /** lines on disk or on their way there, not yet acknowledged */
  lines = 0;
  bytes = 0;
  /** lines lost to failed disk writes */
  failed = 0;
  private readonly sealed: Segment[] = [];
  private active: Segment | undefined;
  private buf: Buffer[] = [];
  private bufLines = 0;
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private nextSeq = 1;
  private reading: { seg: Segment; data: Buffer; pos: number; lines: number } | undefined;

  constructor(
    readonly dir: string,
    readonly maxBytes: number,
    private readonly onError: (message: string) => void = () => {},
  ) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const found = readdirSync(dir)
      .map((n) => ({ n, m: SEGMENT_RE.exec(n) }))
      .filter((x) => x.m)
      .map((x) => ({ seq: Number(x.m![1]), path: join(dir, x.n) }))
      .sort((a, b) => a.seq - b.seq);
    for (const f of found) {
      const lines = countLines(readFileSync(f.path));
      const bytes = statSync(f.path).size;
      this.sealed.push({ ...f, bytes, lines });
      this.lines += lines;
      this.bytes += bytes;
      this.nextSeq = f.seq + 1;
    }
  }

  get empty(): boolean {
    return this.lines === 0;
  }

  /** Queue whole lines (newline-terminated) for the disk; false when they do not fit. */
  append(data: Buffer, lines: number): boolean {
    if (lines === 0) return true;
    if (this.bytes + data.length > this.maxBytes) return false;
    if (!this.active || (this.active.bytes > 0 && this.active.bytes + data.length > SEGMENT_BYTES)) this.startSegment();
    this.active!.bytes += data.length;
    this.active!.lines += lines;
    this.bytes += data.length;
    this.lines += lines;
    this.buf.push(data);
    this.bufLines += lines;
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writeOut());
    }
    return true;
  }

  private startSegment(): void {
    if (this.active) {
      this.writeOut();
      this.sealed.push(this.active);
    }
    const seq = this.nextSeq++;
    this.active = { seq, path: join(this.dir, `seg-${String(seq).padStart(12, '0')}.ndjson`), bytes: 0, lines: 0 };
  }

  /** Buffered lines to their segment file (one append per event-loop turn). */
  private writeOut(): void {
    this.scheduled = false;
    if (!this.buf.length || !this.active) return;
    const data = this.buf.length === 1 ? this.buf[0]! : Buffer.concat(this.buf);
    const count = this.bufLines;
    const path = this.active.path;
    this.buf = [];
    this.bufLines = 0;
    this.chain = this.chain.then(() =>
      appendFile(path, data, { mode: 0o600 }).catch((err: Error) => {
        this.failed += count;
        this.onError(`spill write to ${path} failed: ${err.message}`);
      }),
    );
  }

  /** Everything appended so far is on disk (or counted as failed). */
  async flush(): Promise<void> {
    this.writeOut();
    await this.chain;
  }

  /** The next lines in order, without removing them (ack() does). */
  async peek(maxLines: number, maxBytes: number): Promise<SpillBatch | undefined> {
    if (!this.reading) {
      if (!this.sealed.length && this.active && this.active.lines) {
        this.writeOut();
        this.sealed.push(this.active);
        this.active = undefined;
      }
      const seg = this.sealed[0];
      if (!seg) return undefined;
      await this.chain;
      let data = Buffer.alloc(0);
      try {
        data = await readFile(seg.path);
      } catch (err) {
        this.onError(`spill read of ${seg.path} failed: ${(err as Error).message}`);
      }
      // after the last newline: a line cut short by a crash, dropped
      const end = data.lastIndexOf(10) + 1;
      data = data.subarray(0, end);
      const lines = countLines(data);
      // What the file holds now is the truth (failed appends, a cut line).
      this.lines += lines - seg.lines;
      this.bytes += data.length - seg.bytes;
      seg.lines = lines;
      seg.bytes = data.length;
      this.reading = { seg, data, pos: 0, lines };
    }
    const r = this.reading;
    let end = r.pos;
    let n = 0;
    while (n < maxLines && end < r.data.length) {
      const nl = r.data.indexOf(10, end);
      if (n > 0 && nl + 1 - r.pos > maxBytes) break;
      end = nl + 1;
      n++;
    }
    if (n === 0) {
      await this.finishSegment();
      return this.peek(maxLines, maxBytes);
    }
    return { buf: r.data.subarray(r.pos, end), lines: n };
  }

  /** The batch peek() gave was delivered (or given up on). */
  async ack(b: SpillBatch): Promise<void> {
    const r = this.reading;
    if (!r) return;
    r.pos += b.buf.length;
    r.lines -= b.lines;
    this.bytes -= b.buf.length;
    this.lines -= b.lines;
    if (r.pos >= r.data.length) await this.finishSegment();
  }

  private async finishSegment(): Promise<void> {
    const r = this.reading;
    if (!r) return;
    this.reading = undefined;
    this.sealed.shift();
    this.bytes -= r.data.length - r.pos;
    this.lines -= r.lines;
    await unlink(r.seg.path).catch(() => {});
  }
}
