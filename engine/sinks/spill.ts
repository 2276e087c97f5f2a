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

export class SpillQueue {
  /** lines on disk or on their way there, not yet acknowledged */
  lines = 0;
  bytes = 0;
  /** lines lost to failed disk writes */
  failed = 0;
  private readonly sealed: Segment[] = [];
  private active: Segment | undefined;
  private buf: string[] = [];
  private bufBytes = 0;
  private chain: Promise<void> = Promise.resolve();
  private scheduled = false;
  private nextSeq = 1;
  private reading: { seg: Segment; lines: string[]; pos: number } | undefined;

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
      const text = readFileSync(f.path, 'utf8');
      const lines = countLines(text);
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

  /** Queue lines (without their newline) for the disk; returns how many fit. */
  append(lines: string[]): number {
    let n = 0;
    for (const line of lines) {
      const len = Buffer.byteLength(line) + 1;
      if (this.bytes + len > this.maxBytes) break;
      if (!this.active || this.active.bytes + len > SEGMENT_BYTES) this.startSegment();
      this.active!.bytes += len;
      this.active!.lines++;
      this.bytes += len;
      this.lines++;
      this.buf.push(line);
      this.bufBytes += len;
      n++;
    }
    if (n && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.writeOut());
    }
    return n;
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
    const data = this.buf.join('\n') + '\n';
    const count = this.buf.length;
    const path = this.active.path;
    this.buf = [];
    this.bufBytes = 0;
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
  async peek(maxLines: number, maxBytes: number): Promise<string[]> {
    if (!this.reading) {
      if (!this.sealed.length && this.active && this.active.lines) {
        this.writeOut();
        this.sealed.push(this.active);
        this.active = undefined;
      }
      const seg = this.sealed[0];
      if (!seg) return [];
      await this.chain;
      let text = '';
      try {
        text = await readFile(seg.path, 'utf8');
      } catch (err) {
        this.onError(`spill read of ${seg.path} failed: ${(err as Error).message}`);
      }
      const lines = text.split('\n');
      lines.pop(); // after the last newline: '' or a line cut short by a crash
      // What the file holds now is the truth (failed appends, a cut line).
      this.lines += lines.length - seg.lines;
      seg.lines = lines.length;
      this.reading = { seg, lines, pos: 0 };
    }
    const r = this.reading;
    const out: string[] = [];
    let bytes = 0;
    for (let i = r.pos; i < r.lines.length && out.length < maxLines; i++) {
      const len = Buffer.byteLength(r.lines[i]!) + 1;
      if (out.length && bytes + len > maxBytes) break;
      out.push(r.lines[i]!);
      bytes += len;
    }
    if (!out.length) {
      await this.finishSegment();
      return this.peek(maxLines, maxBytes);
    }
    return out;
  }

  /** The first n lines peek() gave were delivered (or given up on). */
  async ack(n: number): Promise<void> {
    const r = this.reading;
    if (!r) return;
    for (let i = r.pos; i < r.pos + n; i++) this.bytes -= Buffer.byteLength(r.lines[i]!) + 1;
    r.pos += n;
    this.lines -= n;
    if (r.pos >= r.lines.length) await this.finishSegment();
  }

  private async finishSegment(): Promise<void> {
    const r = this.reading;
    if (!r) return;
    this.reading = undefined;
    this.sealed.shift();
    // bytes still counted for this segment (a cut last line) go with it
    const left = r.seg.bytes - r.lines.slice(0, r.pos).reduce((a, l) => a + Buffer.byteLength(l) + 1, 0);
    if (left > 0) this.bytes -= left;
    this.lines -= r.lines.length - r.pos;
    await unlink(r.seg.path).catch(() => {});
  }
}

function countLines(text: string): number {
  let n = 0;
  for (let i = text.indexOf('\n'); i !== -1; i = text.indexOf('\n', i + 1)) n++;
  return n;
}
