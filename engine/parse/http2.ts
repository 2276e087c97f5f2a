/**
 * HTTP/2 (RFC 9113) from one direction of one connection, fed incrementally
 * as TLS plaintext arrives: the client preface, then frames. HEADERS (+
 * CONTINUATION) blocks go through this direction's HPACK decoder, DATA is
 * gathered per stream, and a stream's message is complete at END_STREAM
 * (trailers included). A message is a request when its header block has
 * `:method`, a response when it has `:status` (1xx informational blocks are
 * skipped); `stream` pairs the two.
 *
 * Gaps (bytes the kernel did not copy) inside a DATA payload truncate that
 * stream's body; inside a header block they desynchronise HPACK, and the
 * direction stops (every later header block would decode wrongly).
 */
import { concatBytes, EMPTY_BYTES } from './bytes.js';
import { HpackDecoder, HpackError } from './hpack.js';
import type { HttpMessage } from './http1.js';

export interface Http2Message extends HttpMessage {
  stream: number;
}

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** Does this first write/read of a connection start HTTP/2? The client preface, or a server's first SETTINGS frame. */
export function looksLikeHttp2(b: Uint8Array): 'client' | 'server' | undefined {
  if (b.length >= 16 && Buffer.from(b.buffer, b.byteOffset, 16).equals(PREFACE.subarray(0, 16))) return 'client';
  if (b.length >= 9) {
    const len = (b[0]! << 16) | (b[1]! << 8) | b[2]!;
    const sid = ((b[5]! & 0x7f) << 24) | (b[6]! << 16) | (b[7]! << 8) | b[8]!;
    if (b[3] === FRAME.SETTINGS && b[4] === 0 && sid === 0 && len % 6 === 0 && len <= 6 * 16) return 'server';
  }
  return undefined;
}

const FRAME = { DATA: 0, HEADERS: 1, PRIORITY: 2, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

const MAX_BODY = 4 * 1024 * 1024;
const MAX_FRAME = 16 * 1024 * 1024;
const MAX_STREAMS = 1024;
const MAX_HEADER_BLOCK = 256 * 1024;

interface StreamState {
  msg?: Http2Message;
  parts: Uint8Array[];
  size: number;
  truncated: boolean;
}

export class Http2Stream {
  private buf: Uint8Array = new Uint8Array(0);
  private preface: boolean;
  private lost = false;
  private readonly hpack = new HpackDecoder();
  private readonly streams = new Map<number, StreamState>();
  /** a header block waiting for its CONTINUATION frames */
  private block: { stream: number; flags: number; parts: Uint8Array[]; size: number; promise: boolean } | undefined;
  /** the frame being skipped across a gap: its type, stream and bytes still to come */
  private skipping: { type: number; stream: number; left: number } | undefined;

  constructor(
    private readonly onMessage: (m: Http2Message) => void,
    /** this direction is the client's: it starts with the preface */
    client: boolean,
    /** told a readable line for each header block and DATA payload (tls_data excerpts: never the raw HPACK bytes) */
    private readonly note?: (text: string) => void,
    /** told each DATA payload of a message as it arrives (streaming responses) */
    private readonly onPartial?: (m: Http2Message, data: Uint8Array) => void,
  ) {
    this.preface = client;
  }

  /** The direction has lost its place (HPACK or framing): nothing more comes out. */
  get broken(): boolean {
    return this.lost;
  }

  push(data: Uint8Array): void {
    if (this.lost || data.length === 0) return;
    if (this.skipping) {
      const n = Math.min(this.skipping.left, data.length);
      this.skipping.left -= n;
      data = data.subarray(n);
      if (this.skipping.left > 0) return;
      this.skipping = undefined;
      if (data.length === 0) return;
    }
    this.buf = this.buf.length ? concatBytes([this.buf, data]) : data;
    let at = 0;
    if (this.preface) {
      if (this.buf.length < PREFACE.length) return;
      if (!Buffer.from(this.buf.buffer, this.buf.byteOffset, PREFACE.length).equals(PREFACE)) return this.lose();
      this.preface = false;
      at = PREFACE.length;
    }
    try {
      while (!this.lost && this.buf.length - at >= 9) {
        const b = this.buf;
        const len = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
        if (len > MAX_FRAME) return this.lose();
        if (b.length - at < 9 + len) break;
        const type = b[at + 3]!;
        const flags = b[at + 4]!;
        const sid = ((b[at + 5]! & 0x7f) * 2 ** 24) + ((b[at + 6]! << 16) | (b[at + 7]! << 8) | b[at + 8]!);
        this.frame(type, flags, sid, b.subarray(at + 9, at + 9 + len));
        at += 9 + len;
      }
    } catch (e) {
      if (e instanceof HpackError) return this.lose();
      throw e;
    }
    // keep only what is left (a copy, so the caller's buffer can be reused)
    this.buf = at === 0 ? (this.buf === data ? data.slice() : this.buf) : this.buf.slice(at);
  }

  /** n bytes that were not captured. */
  gap(n: number): void {
    if (n <= 0 || this.lost) return;
    if (this.skipping) {
      const k = Math.min(n, this.skipping.left);
      this.skipping.left -= k;
      n -= k;
      if (this.skipping.left === 0) this.skipping = undefined;
      if (n === 0) return;
      return this.lose();
    }
    const b = this.buf;
    if (this.preface || b.length < 9) return this.lose();
    const len = (b[0]! << 16) | (b[1]! << 8) | b[2]!;
    const type = b[3]!;
    const sid = ((b[5]! & 0x7f) * 2 ** 24) + ((b[6]! << 16) | (b[7]! << 8) | b[8]!);
    const have = b.length - 9;
    if (have + n > len) return this.lose(); // the gap runs past this frame: its successor's header is gone
    if (type === FRAME.HEADERS || type === FRAME.CONTINUATION || type === FRAME.PUSH_PROMISE) return this.lose();
    // the part of the frame we have goes in now; the rest is skipped
    if (type === FRAME.DATA) {
      const flags = b[4]!;
      const st = this.streams.get(sid);
      if (st) st.truncated = true;
      this.data(sid, flags & ~FLAG.END_STREAM, b.subarray(9), false);
      this.buf = new Uint8Array(0);
      const left = len - have - n;
      if (left > 0) this.skipping = { type, stream: sid, left };
      // an END_STREAM here ends the stream now: its body is cut anyway
      if (flags & FLAG.END_STREAM) this.end(sid);
      return;
    }
    this.buf = new Uint8Array(0);
    const left = len - have - n;
    if (left > 0) this.skipping = { type, stream: sid, left };
  }

  private frame(type: number, flags: number, sid: number, p: Uint8Array): void {
    if (this.block && type !== FRAME.CONTINUATION) throw new HpackError('header block interrupted');
    switch (type) {
      case FRAME.DATA:
        return this.data(sid, flags, p, true);
      case FRAME.HEADERS: {
        const [off, end] = content(p, flags, flags & FLAG.PRIORITY ? 5 : 0, 'HEADERS');
        this.block = { stream: sid, flags, parts: [p.subarray(off, end)], size: end - off, promise: false };
        if (flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.PUSH_PROMISE: {
        const [off, end] = content(p, flags, 4, 'PUSH_PROMISE'); // the promised stream id first
        this.block = { stream: sid, flags, parts: [p.subarray(off, end)], size: end - off, promise: true };
        if (flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.CONTINUATION: {
        const blk = this.block;
        if (!blk || blk.stream !== sid) throw new HpackError('CONTINUATION without a header block');
        blk.parts.push(p);
        blk.size += p.length;
        if (blk.size > MAX_HEADER_BLOCK) throw new HpackError('header block too large');
        if (flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.RST_STREAM: {
        const st = this.streams.get(sid);
        if (st?.msg) {
          st.truncated = true;
          this.end(sid);
        } else this.streams.delete(sid);
        return;
      }
      default:
        // SETTINGS (a peer could shrink our header table only through its own SETTINGS ack dance; the
        // decoder follows the encoder's size updates), PING, GOAWAY, WINDOW_UPDATE, PRIORITY, unknown: nothing to keep
        return;
    }
  }

  private headerBlock(): void {
    const blk = this.block!;
    this.block = undefined;
    const bytes = concatBytes(blk.parts, blk.size);
    const fields = this.hpack.decode(bytes); // always: the table must follow every block
    const sid = blk.stream;
    if (this.note) this.note(`[HTTP/2 ${blk.promise ? 'PUSH_PROMISE' : 'HEADERS'} stream ${sid}]\n${fields.map(([n, v]) => `${n}: ${v}`).join('\n')}\n`);
    if (blk.promise) return; // a pushed request: not a message this side sent
    let st = this.streams.get(sid);
    if (st?.msg) {
      // trailers (or a second block after an informational one)
      for (const [n, v] of fields) if (!n.startsWith(':')) addHeader(st.msg.headers, n, v);
      st.msg.contentType = st.msg.headers['content-type'];
      st.msg.host = st.msg.headers.host;
      if (blk.flags & FLAG.END_STREAM) this.end(sid);
      return;
    }
    // no prototype: a header named "constructor" is a header, not Object's
    const headers: Record<string, string> = Object.create(null) as Record<string, string>;
    let method: string | undefined;
    let path: string | undefined;
    let status: number | undefined;
    let authority: string | undefined;
    for (const [n, v] of fields) {
      if (n === ':method') method = v;
      else if (n === ':path') path = v;
      else if (n === ':status') status = Number(v);
      else if (n === ':authority') authority = v;
      else if (!n.startsWith(':')) addHeader(headers, n, v);
    }
    if (status !== undefined && status < 200 && !(blk.flags & FLAG.END_STREAM)) return; // 1xx: the real answer follows
    if (authority !== undefined && headers.host === undefined) headers.host = authority;
    const msg: Http2Message =
      method !== undefined
        ? { kind: 'request', method, path, headers, contentType: headers['content-type'], host: headers.host, body: EMPTY_BYTES, truncated: false, complete: false, stream: sid }
        : { kind: 'response', status, headers, contentType: headers['content-type'], host: headers.host, body: EMPTY_BYTES, truncated: false, complete: false, stream: sid };
    if (!st) {
      if (this.streams.size >= MAX_STREAMS) this.streams.delete(this.streams.keys().next().value!);
      st = { parts: [], size: 0, truncated: false };
      this.streams.set(sid, st);
    }
    st.msg = msg;
    if (blk.flags & FLAG.END_STREAM) this.end(sid);
  }

  private data(sid: number, flags: number, p: Uint8Array, whole: boolean): void {
    // a cut frame: its padding is in what was lost
    const [off, end] = whole ? content(p, flags, 0, 'DATA') : [flags & FLAG.PADDED ? 1 : 0, p.length];
    if (this.note && end > off) this.note(`[HTTP/2 DATA stream ${sid}]\n${Buffer.from(p.buffer, p.byteOffset + off, end - off).toString('utf8')}\n`);
    const st = this.streams.get(sid);
    if (st?.msg && this.onPartial && end > off) this.onPartial(st.msg, p.subarray(off, end));
    if (st?.msg) {
      const n = Math.min(end - off, MAX_BODY - st.size);
      if (n > 0) {
        st.parts.push(p.slice(off, off + n));
        st.size += n;
      }
      if (n < end - off) st.truncated = true;
    }
    if (flags & FLAG.END_STREAM) this.end(sid);
  }

  private end(sid: number): void {
    const st = this.streams.get(sid);
    this.streams.delete(sid);
    if (!st?.msg) return;
    const m = st.msg;
    m.body = concatBytes(st.parts, st.size);
    m.truncated = st.truncated;
    m.complete = true;
    this.onMessage(m);
  }

  private lose(): void {
    this.lost = true;
    this.buf = new Uint8Array(0);
    this.block = undefined;
    this.skipping = undefined;
    // what was under way is reported as cut
    for (const sid of [...this.streams.keys()]) {
      const st = this.streams.get(sid)!;
      st.truncated = true;
      this.end(sid);
    }
  }
}


/** Where a frame's content lies: after the pad length (PADDED) and `skip` fixed bytes, before the padding. */
function content(p: Uint8Array, flags: number, skip: number, what: string): [number, number] {
  const padded = (flags & FLAG.PADDED) !== 0;
  const off = (padded ? 1 : 0) + skip;
  const end = p.length - (padded ? (p[0] ?? p.length + 1) : 0);
  if (end < off) throw new HpackError(`${what} padding beyond the frame`);
  return [off, end];
}

function addHeader(h: Record<string, string>, n: string, v: string): void {
  const k = n.toLowerCase();
  h[k] = h[k] === undefined ? v : k === 'cookie' ? `${h[k]}; ${v}` : `${h[k]}, ${v}`;
}
