/**
 * TLS plaintext records (tls.bpf.c) → whole calls. A call's bytes arrive as
 * chunks of one call id, in order per CPU but possibly interleaved with other
 * calls; a call is complete when every byte the kernel copied has arrived
 * (min(len, cap)). Per connection (pid, SSL*) it keeps the SNI the library
 * was given and the socket fd, until SSL_free.
 */
import type { SockId, TlsRecord } from '../decode/records.js';
import type { MemoryReader } from '../host/proc-mem.js';
import { concatBytes } from '../parse/bytes.js';

/** SNI bytes to text (one decoder: making one costs more than decoding a name). */
const SNI_DECODER = new TextDecoder();

export interface TlsConnState {
  sni?: string;
  fd?: number;
  /** its socket, where its ClientHello was seen leaving (pkt.bpf.c tie_ssl): the connection's addresses */
  sockId?: SockId;
  /**
   * bytes of a gated write that were copied (and parsed) at its entry but
   * not written: the library's retry hands them over again, and they are
   * not parsed twice
   */
  refed?: number;
}

export interface TlsCall {
  pid: number;
  ssl: string;
  direction: 'write' | 'read';
  /** bytes the call moved */
  len: number;
  /** the copied bytes (at most the capture cap) */
  data: Uint8Array;
  /** the first chunk's record: task and timestamp */
  first: TlsRecord;
  conn: TlsConnState;
  /** copied at SSL_write entry; the process is held until the engine lets it go */
  gated: boolean;
  callId: string;
}

interface Partial {
  first: TlsRecord;
  parts: Array<{ at: number; bytes: Uint8Array }>;
  have: number;
  want: number;
}

const MAX_PARTIAL = 4096;
const MAX_CONNS = 65536;
/**
 * The most of a held write read from the process (beyond the kernel's
 * copy): an HTTP head and body as far as the parsers keep them
 * (parse/http1.ts, http2.ts: 64 KiB and 4 MiB).
 */
export const HELD_READ_MAX = 4 * 1024 * 1024 + 64 * 1024;

export class TlsAssembler {
  private readonly partial = new Map<string, Partial>();
  private readonly conns = new Map<string, TlsConnState>();
  /** gated writes waiting for their write_done: bytes handed to the parsers at entry (read, or skipped as a gap) */
  private readonly gatedLen = new Map<string, number>();

  /**
   * capBytes: the kernel's per-call copy limit (tls_cap_bytes); readHeld:
   * how the rest of a held write is read (host/proc-mem.ts), none: it is
   * cut at the cap like any other call
   */
  constructor(
    private readonly capBytes: number,
    private readonly readHeld?: MemoryReader,
  ) {}

  /** The connection state of (pid, ssl). */
  conn(pid: number, ssl: string): TlsConnState {
    const k = `${pid}:${ssl}`;
    let c = this.conns.get(k);
    if (c === undefined) {
      if (this.conns.size >= MAX_CONNS) this.conns.delete(this.conns.keys().next().value!);
      c = {};
      this.conns.set(k, c);
    }
    return c;
  }

  /** One record in; a completed call out, or undefined. Notes (SNI, fd, free) update the connection. */
  add(r: TlsRecord): TlsCall | undefined {
    const pid = r.task.pid;
    switch (r.op) {
      case 'sni':
        this.conn(pid, r.ssl).sni = SNI_DECODER.decode(r.data);
        return undefined;
      case 'fd':
        this.conn(pid, r.ssl).fd = r.len;
        return undefined;
      case 'free':
        this.conns.delete(`${pid}:${r.ssl}`);
        return undefined;
      case 'write_done': {
        // what a gated write handed to the parsers at entry vs what it wrote (r.len)
        const k = `${pid}:${r.callId}`;
        const parsed = this.gatedLen.get(k);
        this.gatedLen.delete(k);
        if (parsed !== undefined && r.len < parsed) {
          const c = this.conn(pid, r.ssl);
          c.refed = (c.refed ?? 0) + (parsed - r.len);
        }
        return undefined;
      }
      default:
        break;
    }
    const want = Math.min(r.len, this.capBytes);
    const done = (whole: Uint8Array, first: TlsRecord): TlsCall => {
      const conn = this.conn(pid, r.ssl);
      let data = whole;
      let len = first.len;
      if (first.op === 'write') {
        if (first.gated) {
          if (data.length < len) data = this.rest(pid, first, data);
          // all the call's bytes go to the parsers (read, or skipped as a gap past what could be)
          if (this.gatedLen.size >= MAX_PARTIAL) this.gatedLen.delete(this.gatedLen.keys().next().value!);
          this.gatedLen.set(`${pid}:${first.callId}`, len);
        }
        if (conn.refed) {
          // the start of this write was parsed already, when its first try was held
          const cut = Math.min(conn.refed, data.length);
          conn.refed -= cut;
          data = data.subarray(cut);
          len -= cut;
        }
      }
      return { pid, ssl: r.ssl, direction: r.op === 'write' ? 'write' : 'read', len, data, first, conn, gated: first.gated, callId: first.callId };
    };
    if (r.offset === 0 && r.data.length >= want) return done(r.data, r);
    const key = `${pid}:${r.callId}`;
    let p = this.partial.get(key);
    if (p === undefined) {
      if (this.partial.size >= MAX_PARTIAL) this.partial.delete(this.partial.keys().next().value!);
      p = { first: r, parts: [], have: 0, want };
      this.partial.set(key, p);
    }
    if (r.offset < p.first.offset) p.first = r;
    p.parts.push({ at: r.offset, bytes: r.data });
    p.have += r.data.length;
    if (p.have < p.want) return undefined;
    this.partial.delete(key);
    const out = new Uint8Array(p.want);
    // a chunk wholly past the call's copied bytes adds nothing (setting it there would throw)
    for (const { at, bytes } of p.parts) if (at < p.want) out.set(bytes.subarray(0, Math.min(bytes.length, p.want - at)), at);
    return done(out, p.first);
  }

  /**
   * A held write cut at the cap, with the rest read from the process (up
   * to HELD_READ_MAX in all): its thread is stopped at the call's entry,
   * so the buffer still holds what it is about to send, and a content
   * policy judges the whole request, not its first 16 KiB.
   */
  private rest(pid: number, first: TlsRecord, copied: Uint8Array): Uint8Array {
    const n = Math.min(first.len, HELD_READ_MAX) - copied.length;
    const more = n > 0 && this.readHeld ? this.readHeld(pid, first.buf + BigInt(copied.length), n) : undefined;
    return more?.length ? concatBytes([copied, more]) : copied;
  }
}
