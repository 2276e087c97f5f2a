/**
 * The ring reader against an in-memory ring laid out as the kernel lays it
 * out (kernel/bpf/ringbuf.c), mapped once (as the agent maps it: records
 * that wrap around the end are joined by the reader) or twice (as libbpf
 * maps it: every byte written at offset o is also at o + size).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RingReader, RINGBUF_BUSY_BIT, RINGBUF_DISCARD_BIT } from '../../engine/kernel/ring.js';

class FakeKernelRing {
  readonly consumer = new BigUint64Array(1);
  readonly producer = new BigUint64Array(1);
  readonly data: DataView;
  private prod = 0;
  constructor(
    readonly size: number,
    private readonly mappings: 1 | 2 = 1,
  ) {
    this.data = new DataView(new ArrayBuffer(mappings * size));
  }
  private put8(off: number, v: number) {
    this.data.setUint8(off % this.size, v);
    if (this.mappings === 2) this.data.setUint8((off % this.size) + this.size, v);
  }
  private put32(off: number, v: number) {
    for (let i = 0; i < 4; i++) this.put8(off + i, (v >>> (8 * i)) & 255);
  }
  /** Reserve and (unless busy) commit a record holding `payload`. Returns false when full. */
  write(payload: number[], opts: { busy?: boolean; discard?: boolean } = {}): { at: number } | false {
    const total = (payload.length + 8 + 7) & ~7;
    if (this.prod + total - Number(this.consumer[0]) > this.size) return false;
    const at = this.prod;
    let hdr = payload.length;
    if (opts.busy) hdr |= RINGBUF_BUSY_BIT;
    if (opts.discard) hdr |= RINGBUF_DISCARD_BIT;
    this.put32(at, hdr >>> 0);
    this.put32(at + 4, 0);
    payload.forEach((b, i) => this.put8(at + 8 + i, b));
    this.prod += total;
    this.producer[0] = BigInt(this.prod);
    return { at };
  }
  commit(at: number, len: number) {
    this.put32(at, len);
  }
  reader() {
    return new RingReader({ consumer: this.consumer, producer: this.producer, data: this.data, size: this.size });
  }
}

const bytesOf = (dv: DataView, off: number, len: number) => [...new Uint8Array(dv.buffer, dv.byteOffset + off, len)];

describe('RingReader', () => {
  it('hands out committed records in order and releases their space', () => {
    const k = new FakeKernelRing(64);
    k.write([1, 2, 3]);
    k.write([4, 5, 6, 7, 8, 9, 10, 11, 12]);
    const got: number[][] = [];
    const n = k.reader().drain((dv, off, len) => got.push(bytesOf(dv, off, len)));
    assert.equal(n, 2);
    assert.deepEqual(got, [[1, 2, 3], [4, 5, 6, 7, 8, 9, 10, 11, 12]]);
    // 3 bytes + 8 header → 16; 9 + 8 → 24 (rounded to 8)
    assert.equal(k.consumer[0], 40n);
  });

  for (const mappings of [1, 2] as const) {
    it(`reads a record that wraps around the end (data mapped ${mappings === 1 ? 'once' : 'twice'})`, () => {
      const k = new FakeKernelRing(64, mappings);
      const r = k.reader();
      k.write(new Array(40).fill(7)); // 48 bytes
      r.drain(() => {});
      const payload = Array.from({ length: 30 }, (_, i) => i); // starts at 48, ends at 48+38 → wraps
      assert.ok(k.write(payload));
      const got: number[][] = [];
      r.drain((dv, off, len) => got.push(bytesOf(dv, off, len)));
      assert.deepEqual(got, [payload]);
      assert.equal(k.consumer[0], 48n + 40n);
    });
  }

  it('reads a record whose data starts exactly at the end of the ring, and one longer than the scratch copy so far', () => {
    const k = new FakeKernelRing(1024);
    const r = k.reader();
    k.write(new Array(1016 - 8).fill(1)); // header at 0, data to 1016: the next header at 1016, its data at 0
    r.drain(() => {});
    const a = [9, 8, 7];
    assert.ok(k.write(a));
    const got: number[][] = [];
    r.drain((dv, off, len) => got.push(bytesOf(dv, off, len)));
    assert.deepEqual(got, [a]);
    // 8 bytes into the ring now; a filler up to 992, then a 600-byte record whose data (from 1000) wraps
    k.write(new Array(1024 - 16 - 24 - 8).fill(2));
    r.drain(() => {});
    const big = Array.from({ length: 600 }, (_, i) => i & 255);
    assert.ok(k.write(big));
    r.drain((dv, off, len) => got.push(bytesOf(dv, off, len)));
    assert.deepEqual(got[1], big);
  });

  it('stops at a record still being written, and resumes once it is committed', () => {
    const k = new FakeKernelRing(128);
    const r = k.reader();
    k.write([1]);
    const busy = k.write([2, 2], { busy: true }) as { at: number };
    k.write([3]);
    const got: number[][] = [];
    assert.equal(r.drain((dv, off, len) => got.push(bytesOf(dv, off, len))), 1);
    assert.deepEqual(got, [[1]]);
    assert.equal(k.consumer[0], 16n, 'nothing past the busy record is released');
    k.commit(busy.at, 2);
    assert.equal(r.drain((dv, off, len) => got.push(bytesOf(dv, off, len))), 2);
    assert.deepEqual(got, [[1], [2, 2], [3]]);
  });

  it('skips discarded records without handing them out, but releases them', () => {
    const k = new FakeKernelRing(64);
    k.write([1], { discard: true });
    k.write([2]);
    const got: number[][] = [];
    assert.equal(k.reader().drain((dv, off, len) => got.push(bytesOf(dv, off, len))), 1);
    assert.deepEqual(got, [[2]]);
    assert.equal(k.consumer[0], 32n);
  });

  it('honours max and continues where it stopped', () => {
    const k = new FakeKernelRing(4096);
    for (let i = 0; i < 100; i++) k.write([i]);
    const r = k.reader();
    const seen: number[] = [];
    assert.equal(r.drain((dv, off) => seen.push(dv.getUint8(off)), 30), 30);
    assert.equal(r.pending(), 70 * 16);
    assert.equal(r.drain((dv, off) => seen.push(dv.getUint8(off))), 70);
    assert.deepEqual(seen, Array.from({ length: 100 }, (_, i) => i));
    assert.equal(r.pending(), 0);
  });

  it('says, inside a record\'s handler, how much follows that record (the enforcer lets a held write go when nothing does)', () => {
    const k = new FakeKernelRing(4096);
    k.write([1]);
    k.write([2, 2]);
    k.write([3], { discard: true });
    const r = k.reader();
    const after: number[] = [];
    r.drain(() => after.push(r.pending()));
    assert.deepEqual(after, [32, 16]); // after the first: the second and the discarded one; after the second: the discarded one
    assert.equal(r.pending(), 0);
    k.write([4]);
    r.drain(() => {
      after.push(r.pending());
      k.write([5]); // the producer moves meanwhile
      after.push(r.pending());
    }, 1);
    assert.deepEqual(after.slice(2), [0, 16]);
  });

  it('keeps up with a producer that laps the ring many times', () => {
    const k = new FakeKernelRing(256);
    const r = k.reader();
    let next = 0;
    let expect = 0;
    for (let round = 0; round < 1000; round++) {
      while (k.write([next & 255, (next >> 8) & 255, 0xaa, 0xbb, 0xcc])) next++;
      r.drain((dv, off, len) => {
        assert.equal(len, 5);
        assert.equal(dv.getUint8(off) | (dv.getUint8(off + 1) << 8), expect & 0xffff);
        expect++;
      });
    }
    assert.equal(expect, next);
    assert.ok(next > 10_000);
  });

  it('rejects a ring whose size is not a power of two or whose data area is smaller than the ring', () => {
    const c = new BigUint64Array(1);
    assert.throws(() => new RingReader({ consumer: c, producer: c, data: new DataView(new ArrayBuffer(200)), size: 100 }), /power of two/);
    assert.throws(() => new RingReader({ consumer: c, producer: c, data: new DataView(new ArrayBuffer(32)), size: 64 }), /smaller than the ring/);
  });
});
