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

/** The key a plain-text HTTP connection goes by in the application layer (app.ts), where a TLS one has its SSL*. */
export const plainKey = (sockId: SockId): string => `tcp:${sockId}`;

/** The socket of a plainKey() (a kernel address, "hi:lo", stays a string), or undefined for another key (a TLS connection's SSL*). */
export function plainSockOf(key: string): SockId | undefined {
  if (!key.startsWith('tcp:')) return undefined;
  const raw = key.slice(4);
  return raw.includes(':') ? raw : Number(raw);
}

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
    const c = this.conns.get(r.sockId) ?? this.open(r.sockId);
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

  /** The sequence number of the next byte expected going out (EGRESS) or coming in. */
  next(sockId: SockId, egress: boolean): number | undefined {
    const c = this.conns.get(sockId);
    return c === undefined ? undefined : (egress ? c.out : c.in).next;
  }

  /** Read afresh: the stream going out (EGRESS) or coming in starts at SEQ (what comes before it is skipped), the other at its next record. */
  restart(sockId: SockId, egress: boolean, seq: number): void {
    this.conns.delete(sockId);
    const c = this.open(sockId);
    (egress ? c.out : c.in).next = seq;
  }

  /** A connection not seen before, both ways starting at their next record (the oldest forgotten past MAX_CONNS). */
  private open(sockId: SockId): PlainConn {
    if (this.conns.size >= MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
    const c: PlainConn = { out: { next: undefined, ahead: [] }, in: { next: undefined, ahead: [] } };
    this.conns.set(sockId, c);
    return c;
  }

  /** The stream going out has been read up to (at least) sequence number `end`. */
  wroteUpTo(sockId: SockId, end: number): boolean {
    const next = this.conns.get(sockId)?.out.next;
    return next !== undefined && diff(next, end) >= 0;
  }

  forget(sockId: SockId): void {
    this.conns.delete(sockId);
  }
}

/**
 * What the packet hook holds of a gated connection (pkt.bpf.c
 * BUSTED_PLAIN_GATE): every segment it sends with a byte from `released` on
 * is dropped and copied. The sender's TCP takes the drop for a failed
 * transmission, keeps the segment first in its queue (appending later
 * writes to it) and tries it again when an ACK arrives. The engine reads
 * what was held; once the request is whole and decided it moves `released`
 * past it and makes the server send an ACK (a one-byte probe below what the
 * server has: kernel/reinject.ts), and the retry goes through. A request
 * the sender cannot hand over whole while held (more than its first
 * segment holds) is let go part by part while unfinished, its last part
 * held until decided (interpreter.ts plainHeld).
 */
export interface Hold {
  sockId: SockId;
  /** the socket's owner, as the held record names it */
  task: PktRecord['task'];
  /** the last held segment's IP and TCP headers (the probe is made from them) */
  headers: Uint8Array;
  /** the last held segment: where it starts and ends */
  seq: number;
  end: number;
  /** a held segment not reacted to yet */
  fresh: boolean;
  /** the end of the segment last asked to be tried again: no growth since means the sender has no more to give, yet */
  asked?: number;
  /** when holding began (monotonic ns) */
  since: number;
  /** the request being held was let go unread (held too long without growing): the rest of it goes as it comes */
  passing: boolean;
  /** let go: the next held segment begins a new hold */
  idle: boolean;
}

export class PlainHolds {
  private readonly bySock = new Map<SockId, Hold>();

  /** A held segment's record (its headers; its bytes come as stream records), at monotonic NOW. */
  held(r: PktRecord, now: number): void {
    let h = this.bySock.get(r.sockId);
    if (h === undefined) {
      if (this.bySock.size >= MAX_CONNS) this.bySock.delete(this.bySock.keys().next().value!);
      // idle: a hold begins below
      h = { sockId: r.sockId, task: r.task, headers: r.data, seq: r.seq, end: 0, fresh: true, since: now, passing: false, idle: true };
      this.bySock.set(r.sockId, h);
    }
    if (h.idle) {
      h.idle = false;
      h.since = now;
    }
    h.headers = r.data;
    h.seq = r.seq;
    h.end = (r.seq + r.len) | 0;
    h.fresh = true;
  }

  get(sockId: SockId): Hold | undefined {
    return this.bySock.get(sockId);
  }

  /** Held, and not passing: what is decided on this connection now has not reached the server. */
  holding(sockId: SockId): boolean {
    const h = this.bySock.get(sockId);
    return h !== undefined && !h.passing && !h.idle;
  }

  forget(sockId: SockId): void {
    this.bySock.delete(sockId);
  }

  /** Connections held since before `beforeNs` and not passing. */
  stale(beforeNs: number): Hold[] {
    const out: Hold[] = [];
    for (const h of this.bySock.values()) if (!h.passing && !h.idle && h.since < beforeNs) out.push(h);
    return out;
  }
}
