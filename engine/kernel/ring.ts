/**
 * BPF ring buffer consumer arithmetic, over memory only (no kernel, no
 * FFI), so it can be tested with an in-memory ring.
 *
 * Mirrors the kernel's layout (kernel/bpf/ringbuf.c, struct bpf_ringbuf)
 * and libbpf's consumer (src/ringbuf.c, ringbuf_process_ring):
 *   - a consumer page holding consumer_pos (u64), written by us;
 *   - a producer page holding producer_pos (u64), written by the kernel;
 *   - the data area, size a power of two. The kernel maps it twice back
 *     to back so that a record wrapping around the end is contiguous;
 *     libbpf maps both copies. We map it once (the second copy doubled
 *     the agent's resident size by the ring's size, 8 MiB by default, for
 *     the few records that wrap) and hand a wrapping record out of a
 *     scratch copy instead.
 * Each record: u32 len (bit 31 BUSY: being written, bit 30 DISCARD), u32
 * page offset (kernel-internal), then len bytes, the whole rounded up to 8.
 */

export const RINGBUF_BUSY_BIT = 0x80000000;
export const RINGBUF_DISCARD_BIT = 0x40000000;
export const RINGBUF_HDR_SZ = 8;

/** Called per record with a view of the data area, the record's offset in it and its length. */
export type RecordHandler = (data: DataView, offset: number, length: number) => void;

export interface RingMemory {
  /** consumer_pos: element 0, read and written by us */
  consumer: BigUint64Array;
  /** producer_pos: element 0, written by the producer */
  producer: BigUint64Array;
  /** the data area: at least size bytes (once; a double mapping works too) */
  data: DataView;
  /** data area size in bytes, a power of two */
  size: number;
}

export class RingReader {
  private readonly consumer: BigUint64Array;
  private readonly producer: BigUint64Array;
  private readonly view: DataView;
  private readonly mask: number;
  /** consumer position, kept as a Number: exact up to 2^53 bytes consumed */
  private cons: number;
  private readonly size: number;
  /** where a record that wraps around the end is put back together */
  private scratch = new DataView(new ArrayBuffer(256));

  constructor(mem: RingMemory) {
    if (mem.size <= 0 || (mem.size & (mem.size - 1)) !== 0) {
      throw new RangeError(`ring size ${mem.size} is not a power of two`);
    }
    if (mem.data.byteLength < mem.size) {
      throw new RangeError(`ring data area is ${mem.data.byteLength} bytes, smaller than the ring (${mem.size})`);
    }
    this.consumer = mem.consumer;
    this.producer = mem.producer;
    this.view = mem.data;
    this.mask = mem.size - 1;
    this.size = mem.size;
    this.cons = Number(mem.consumer[0]);
  }

  /** Bytes the producer has committed or reserved ahead of us (inside a record's handler: after that record). */
  pending(): number {
    return Number(this.producer[0]) - this.cons;
  }

  /**
   * Hand up to `max` committed records to `onRecord`, in order, and
   * release their space to the producer. Stops at a record still being
   * written (the kernel wakes the consumer when it commits). Returns the
   * number of records handed over (discarded ones are skipped, not counted).
   */
  drain(onRecord: RecordHandler, max = Infinity): number {
    const view = this.view;
    const mask = this.mask;
    let cons = this.cons;
    let prod = Number(this.producer[0]);
    let n = 0;
    while (n < max) {
      if (cons >= prod) {
        // Re-read once: the producer may have moved while we worked.
        prod = Number(this.producer[0]);
        if (cons >= prod) break;
      }
      const off = cons & mask;
      const hdr = view.getUint32(off, true);
      if (hdr & RINGBUF_BUSY_BIT) break;
      const len = hdr & ~(RINGBUF_BUSY_BIT | RINGBUF_DISCARD_BIT) >>> 0;
      cons += (len + RINGBUF_HDR_SZ + 7) & ~7;
      // pending(), asked from inside a handler, counts what follows this record
      this.cons = cons;
      if ((hdr & RINGBUF_DISCARD_BIT) === 0) {
        // The header is 8-byte aligned in a ring of whole pages: it never
        // wraps; the data after it may.
        const at = (off + RINGBUF_HDR_SZ) & mask;
        if (at + len <= this.size) onRecord(view, at, len);
        else onRecord(this.unwrap(at, len), 0, len);
        n++;
        // libbpf releases after every record; a BigInt store per record
        // costs more than the decode, so release every 256 records (the
        // space is at most 256 records late) and at the end.
        if ((n & 255) === 0) this.consumer[0] = BigInt(cons);
      }
    }
    this.consumer[0] = BigInt(cons);
    this.cons = cons;
    return n;
  }

  /** A record's bytes from `at` to the end of the ring and on from its start, in one piece. */
  private unwrap(at: number, len: number): DataView {
    if (this.scratch.byteLength < len) this.scratch = new DataView(new ArrayBuffer(Math.max(len, 2 * this.scratch.byteLength)));
    const v = this.view;
    const out = new Uint8Array(this.scratch.buffer, 0, len);
    const head = this.size - at;
    out.set(new Uint8Array(v.buffer, v.byteOffset + at, head));
    out.set(new Uint8Array(v.buffer, v.byteOffset, len - head), head);
    return this.scratch;
  }
}
