/**
 * Plain-text HTTP connections (pkt.bpf.c plain_socks: a local Ollama or
 * vLLM, an MCP server on http://localhost) put back together from the
 * TCP segments the packet hook copied, one direction at a time, by
 * sequence number: what comes out is the byte stream the application
 * wrote or read, which app.ts reads as it reads TLS plaintext.
 *
 * The hook sees each segment as it leaves or arrives, so the records come
 * in order except when TCP itself repeats or reorders: a retransmission
 * (data before `next`) gives only what is new in it; a segment ahead of
 * `next` waits for the missing bytes among a few others, and past that the
 * missing bytes are a gap (a record the ring buffer had no room for).
 * Sequence numbers wrap at 2^32: every comparison is a 32-bit difference.
 */
import type { PktRecord, SockId } from '../decode/records.js';

/** What the stream says next, in order: `data`, then `gap` bytes that were never seen. */
export interface PlainPiece {
  direction: 'write' | 'read';
  data: Uint8Array;
  gap: number;
}

const NONE = new Uint8Array(0);

interface Side {
  /** the sequence number of the next byte expected; undefined until the first record */
  next: number | undefined;
  /** records ahead of `next`, by arrival */
  ahead: PktRecord[];
}

interface PlainConn {
  out: Side;
  in: Side;
}

/** Records kept ahead of a hole before the hole is given up as lost. */
const MAX_AHEAD = 8;
const MAX_CONNS = 16384;

const diff = (a: number, b: number): number => (a - b) | 0;

export class PlainStreams {
  private readonly conns = new Map<SockId, PlainConn>();

  /** What a record adds to its stream, in order (nothing for a repeat, several pieces when it fills a hole). */
  add(r: PktRecord): PlainPiece[] {
    let c = this.conns.get(r.sockId);
    if (c === undefined) {
      if (this.conns.size >= MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
      c = { out: { next: undefined, ahead: [] }, in: { next: undefined, ahead: [] } };
      this.conns.set(r.sockId, c);
    }
    const side = r.egress ? c.out : c.in;
    const direction = r.egress ? 'write' : 'read';
    const pieces: PlainPiece[] = [];
    if (side.next === undefined) side.next = r.seq;
    const d = diff(r.seq, side.next);
    if (d > 0) {
      side.ahead.push(r);
      if (side.ahead.length <= MAX_AHEAD) return pieces;
      // the hole is not going to fill: go on from the earliest record held
      side.ahead.sort((a, b) => diff(a.seq, b.seq));
      const first = side.ahead.shift()!;
      pieces.push({ direction, data: NONE, gap: diff(first.seq, side.next) });
      side.next = first.seq;
      this.take(side, first, direction, pieces);
    } else {
      this.take(side, r, direction, pieces);
    }
    // records held ahead that now follow on
    for (let moved = true; moved && side.ahead.length > 0; ) {
      moved = false;
      for (let i = 0; i < side.ahead.length; i++) {
        const a = side.ahead[i]!;
        if (diff(a.seq, side.next) > 0) continue;
        side.ahead.splice(i, 1);
        this.take(side, a, direction, pieces);
        moved = true;
        break;
      }
    }
    return pieces;
  }

  /** A record that starts at or before `next`: the part of it past `next`. */
  private take(side: Side, r: PktRecord, direction: 'write' | 'read', pieces: PlainPiece[]): void {
    const skip = -diff(r.seq, side.next!);
    if (skip >= r.len) return; // all seen: a retransmission
    const data = skip === 0 ? r.data : skip < r.data.length ? r.data.subarray(skip) : NONE;
    // bytes the kernel counted and did not copy (a segment longer than its records)
    pieces.push({ direction, data, gap: r.len - Math.max(skip, r.data.length) });
    side.next = (r.seq + r.len) | 0;
  }

  has(sockId: SockId): boolean {
    return this.conns.has(sockId);
  }

  forget(sockId: SockId): void {
    this.conns.delete(sockId);
  }
}
