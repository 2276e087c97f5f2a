/**
 * A FIFO of lines kept as bytes, packed into 64 KiB chunks: what the queued
 * sinks hold while their destination catches up. One copy per line into a
 * chunk instead of a string per line keeps the garbage collector out of the
 * agent's way (strings held in queues were most of its time). Marks (rotate,
 * reopen) sit between chunks, in order.
 */
export interface Chunk {
  buf: Buffer;
  lines: number;
  mark?: string;
}

const EMPTY = Buffer.alloc(0);

export class LineChunks {
  /** bytes and lines queued (sealed and open) */
  bytes = 0;
  lines = 0;
  private sealed: Array<Chunk | undefined> = [];
  private head = 0;
  private cur: Buffer;
  private used = 0;
  private curLines = 0;

  constructor(private readonly chunkBytes = 64 << 10) {
    this.cur = Buffer.allocUnsafe(chunkBytes);
  }

  /** Append one line (with its newline or frame, as the sink wants it). */
  push(line: Buffer): void {
    if (this.used + line.length > this.cur.length) {
      this.seal();
      if (line.length > this.cur.length) this.cur = Buffer.allocUnsafe(line.length);
    }
    this.cur.set(line, this.used);
    this.used += line.length;
    this.curLines++;
    this.bytes += line.length;
    this.lines++;
  }

  /** Append one line given as a string (written straight into the chunk). */
  pushString(s: string): void {
    const worst = s.length * 3;
    if (this.used + worst > this.cur.length) {
      this.seal();
      if (worst > this.cur.length) this.cur = Buffer.allocUnsafe(worst);
    }
    const n = this.cur.write(s, this.used, 'utf8');
    this.used += n;
    this.curLines++;
    this.bytes += n;
    this.lines++;
  }

  /** Append one line made of a short string head and a body (a syslog frame: length, header, JSON). */
  pushFrame(head: string, body: Buffer): void {
    const worst = head.length * 3 + body.length;
    if (this.used + worst > this.cur.length) {
      this.seal();
      if (worst > this.cur.length) this.cur = Buffer.allocUnsafe(worst);
    }
    const h = this.cur.write(head, this.used, 'utf8');
    this.cur.set(body, this.used + h);
    const n = h + body.length;
    this.used += n;
    this.curLines++;
    this.bytes += n;
    this.lines++;
  }

  /** Lines in the open chunk. */
  get openLines(): number {
    return this.curLines;
  }

  /** Close the open chunk, so that shift() can hand it out. */
  seal(): void {
    if (this.used === 0) return;
    this.sealed.push({ buf: this.cur.subarray(0, this.used), lines: this.curLines });
    this.cur = Buffer.allocUnsafe(this.chunkBytes);
    this.used = 0;
    this.curLines = 0;
  }

  mark(kind: string): void {
    this.seal();
    this.sealed.push({ buf: EMPTY, lines: 0, mark: kind });
  }

  /** The oldest sealed chunk or mark. */
  shift(): Chunk | undefined {
    if (this.head >= this.sealed.length) return undefined;
    const c = this.sealed[this.head]!;
    this.sealed[this.head++] = undefined;
    if (this.head === this.sealed.length) {
      this.sealed = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.sealed.length) {
      this.sealed = this.sealed.slice(this.head);
      this.head = 0;
    }
    this.bytes -= c.buf.length;
    this.lines -= c.lines;
    return c;
  }

  peek(): Chunk | undefined {
    return this.sealed[this.head];
  }

  /** Everything, sealed or not, in order (the queue is left empty). */
  drain(): Chunk[] {
    this.seal();
    const out: Chunk[] = [];
    for (let c = this.shift(); c; c = this.shift()) out.push(c);
    return out;
  }
}
