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
 *
 * Bad input: what RFC 9113 makes a connection error (framing, padding,
 * CONTINUATION rules, HPACK decoding, 5.4.1) loses the direction, because
 * the receiver closes the connection then and HPACK's state cannot be
 * trusted: `broken` and `lostReason` say so, streams under way are reported
 * cut, and nothing more comes out. What RFC 9113 makes a stream error (a
 * malformed field, a bad :status) costs only that field, and the direction
 * carries on. No input makes it throw; memory is bounded by MAX_HEADER_BLOCK,
 * MAX_HELD and the HPACK table's ceiling.
 */
import { BodyBudget, concatBytes, EMPTY_BYTES, MAX_BODY } from './bytes.js';
import { HpackDecoder, HpackError } from './hpack.js';
import type { HttpMessage } from './http1.js';

/** A DATA note's bytes as text (invalid UTF-8 as U+FFFD, as Buffer's toString did), without a Buffer copy. */
const NOTE_TEXT = new TextDecoder('utf-8', { ignoreBOM: true });

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
/** the flags a HEADERS frame may carry (RFC 9113 6.2) */
const HEADERS_FLAGS = FLAG.END_STREAM | FLAG.END_HEADERS | FLAG.PADDED | FLAG.PRIORITY;

/**
 * Body bytes one direction holds across all its open streams: 1,024 streams
 * of 4 MiB each would be 4 GiB per connection. Past it, bodies are cut
 * (truncated) until streams end and give their share back.
 */
const MAX_HELD = 16 * 1024 * 1024;
const MAX_STREAMS = 1024;
const MAX_HEADER_BLOCK = 256 * 1024;
/** the largest HPACK table size update followed (browsers advertise 64 KiB; RFC 9113 6.5.2 allows 2^32-1) */
const MAX_HPACK_TABLE = 64 * 1024;
/** bytes of one DATA frame kept for its readable note (the tls_data excerpt is shorter) */
const MAX_NOTE = 16 * 1024;

interface StreamState {
  msg?: Http2Message;
  parts: Uint8Array[];
  size: number;
  truncated: boolean;
}

/** The frame whose payload is arriving. */
interface Frame {
  type: number;
  flags: number;
  sid: number;
  len: number;
  /** payload bytes seen (or skipped over a gap) */
  got: number;
  /** HEADERS, PUSH_PROMISE, CONTINUATION: the payload, filled as it comes (HPACK needs the block whole) */
  buf?: Uint8Array;
  /** DATA with PADDED: the padding's length, -1 until its byte arrives */
  pad: number;
  /** DATA: a capture gap cut it; the rest of its payload is dropped */
  cut: boolean;
  /** DATA: content kept for the readable note */
  note?: Uint8Array[];
  noteSize: number;
  /** DATA: content bytes on a stream with no message, not shown */
  hidden: number;
}

export class Http2Stream {
  /** client direction: bytes of the preface matched so far */
  private prefaceHave = 0;
  private preface: boolean;
  private lostWhy: string | undefined;
  /** the frame header being gathered (9 bytes), and how much of it is here */
  private readonly head = new Uint8Array(9);
  private headHave = 0;
  private cur: Frame | undefined;
  /** body bytes held by this direction's open streams (MAX_HELD) */
  private held = 0;
  private readonly hpack = new HpackDecoder(4096, MAX_HPACK_TABLE);
  private readonly streams = new Map<number, StreamState>();
  /** a header block waiting for its CONTINUATION frames */
  private block: { stream: number; flags: number; parts: Uint8Array[]; size: number; promise: boolean } | undefined;
  /**
   * Followed again part way (resume): the bytes are scanned for the first
   * HEADERS frame of a stream `want` names; `tail` is the end of the last
   * piece, where a frame header may have begun.
   */
  private hunt: { want: (sid: number) => boolean; tail: Uint8Array } | undefined;
  /** picked up part way at least once (resume) */
  private resumed = false;

  constructor(
    private readonly onMessage: (m: Http2Message) => void,
    /** this direction is the client's: it starts with the preface */
    private readonly client: boolean,
    /** told a readable line for each header block and DATA payload (tls_data excerpts: never the raw HPACK bytes) */
    private readonly note?: (text: string) => void,
    /** told each piece of a message's DATA content as it arrives, not waiting for whole frames (streaming responses) */
    private readonly onPartial?: (m: Http2Message, data: Uint8Array) => void,
    /** body bytes held across the parsers of an application layer (bytes.ts) */
    private readonly budget?: BodyBudget,
  ) {
    this.preface = client;
  }

  /** The parser is dropped (its connection forgotten): what its streams hold is given back to the budget. */
  release(): void {
    for (const sid of [...this.streams.keys()]) this.unhold(sid);
    this.lostWhy ??= 'released';
  }

  /**
   * The direction is followed again after a stretch that was not copied (a
   * watched connection's reads, tls.bpf.c BUSTED_TLS_WATCH, turned back on
   * when an LLM call or MCP message went out on it): where the next bytes
   * stand in their frames is not known. They are scanned for the header of
   * a HEADERS frame on a stream `want` names (one whose request this side
   * saw), and read from there; HPACK goes on with a table whose older
   * entries are unknown (HpackDecoder.forget). What was under way before
   * the stretch is dropped unreported: its ends were not seen.
   */
  resume(want: (sid: number) => boolean): void {
    for (const sid of [...this.streams.keys()]) this.unhold(sid);
    this.block = undefined;
    this.cur = undefined;
    this.headHave = 0;
    this.preface = false;
    this.lostWhy = undefined;
    this.hpack.forget();
    this.hunt = { want, tail: EMPTY_BYTES };
    this.resumed = true;
  }

  /** Still looking for where to pick the frames up (resume). */
  get hunting(): boolean {
    return this.hunt !== undefined;
  }

  /**
   * Resumed: where in TAIL + DATA a HEADERS frame of a wanted stream
   * begins (its bytes from there), or undefined, the end kept as the tail.
   * A frame header is 9 bytes: length (24 bits), type, flags, then the
   * reserved bit and the stream id; a HEADERS frame's flags are
   * END_STREAM, END_HEADERS, PADDED and PRIORITY only, and its length is
   * within what a header block may be here. Four bytes of stream id that
   * are one this side is waiting on, after a 1 and flags that fit, are
   * what a body would have to hold by chance.
   */
  private huntIn(data: Uint8Array): Uint8Array | undefined {
    const h = this.hunt!;
    const b = h.tail.length ? concatBytes([h.tail, data], h.tail.length + data.length) : data;
    for (let i = 0; i + 9 <= b.length; i++) {
      if (b[i + 3] !== FRAME.HEADERS || (b[i + 4]! & ~HEADERS_FLAGS) !== 0 || (b[i + 5]! & 0x80) !== 0) continue;
      const len = (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
      if (len === 0 || len > MAX_HEADER_BLOCK) continue;
      const sid = (b[i + 5]! * 2 ** 24) + ((b[i + 6]! << 16) | (b[i + 7]! << 8) | b[i + 8]!);
      if (sid === 0 || !h.want(sid)) continue;
      this.hunt = undefined;
      return b.subarray(i);
    }
    h.tail = b.slice(Math.max(0, b.length - 8));
    return undefined;
  }

  /** The direction has lost its place (HPACK or framing): nothing more comes out. */
  get broken(): boolean {
    return this.lostWhy !== undefined;
  }

  /** Why the direction was lost (a capture gap, or which rule of RFC 9113/7541 the bytes broke). */
  get lostReason(): string | undefined {
    return this.lostWhy;
  }

  /** The direction's HPACK dynamic table, in octets (bounded by MAX_HPACK_TABLE). */
  get hpackTableSize(): number {
    return this.hpack.tableSize;
  }

  /**
   * Where this direction stands in its frames, for the kernel to follow
   * them from here (tls.bpf.c, BUSTED_TLS_WATCH): the payload bytes of the
   * frame being read still to come, and whether it is DATA. Undefined in
   * the preface, inside a frame header, or once lost.
   */
  get frameCarry(): { left: number; data: boolean } | undefined {
    if (this.lostWhy !== undefined || this.preface || this.headHave > 0 || this.hunt !== undefined) return undefined;
    const f = this.cur;
    return f === undefined ? { left: 0, data: false } : { left: f.len - f.got, data: f.type === FRAME.DATA };
  }

  /** Streams whose message is under way (a request's body still being written, on the client's side). */
  get openStreams(): number {
    return this.streams.size;
  }

  /** Body bytes held for open streams (bounded by MAX_HELD). */
  get heldBytes(): number {
    return this.held;
  }

  /**
   * Bytes in, in any pieces. Nothing is buffered but a frame header, a
   * header block (bounded) and message bodies (bounded): DATA payloads go
   * to their streams as they arrive and other frames are stepped over.
   * (Gathering each frame whole made a 16 MiB DATA frame read in 16 KiB
   * pieces copy the growing buffer a thousand times: minutes of CPU.)
   */
  push(data: Uint8Array): void {
    if (this.lostWhy !== undefined || data.length === 0) return;
    if (this.hunt) {
      const from = this.huntIn(data);
      if (from === undefined) return;
      data = from;
    }
    try {
      this.consume(data);
    } catch (e) {
      // the frame layer's and HPACK's errors are connection errors (RFC 9113 5.4.1): the direction is lost
      if (e instanceof HpackError) return this.lose(e.message);
      throw e;
    }
  }

  private consume(data: Uint8Array): void {
    let i = 0;
    if (this.preface) {
      const k = Math.min(PREFACE.length - this.prefaceHave, data.length);
      for (let j = 0; j < k; j++) if (data[j] !== PREFACE[this.prefaceHave + j]) throw new HpackError('no client preface');
      this.prefaceHave += k;
      i = k;
      if (this.prefaceHave < PREFACE.length) return;
      this.preface = false;
    }
    while (i < data.length && this.lostWhy === undefined) {
      const f = this.cur;
      if (f === undefined) {
        const k = Math.min(9 - this.headHave, data.length - i);
        this.head.set(data.subarray(i, i + k), this.headHave);
        this.headHave += k;
        i += k;
        if (this.headHave === 9) {
          this.headHave = 0;
          this.begin();
        }
        continue;
      }
      const k = Math.min(f.len - f.got, data.length - i);
      this.payload(f, data.subarray(i, i + k));
      i += k;
      if (f.got === f.len) {
        this.cur = undefined;
        this.finish(f);
      }
    }
  }

  /** n bytes that were not captured. */
  gap(n: number): void {
    if (n <= 0 || this.lostWhy !== undefined) return;
    if (this.hunt) {
      // still looking: what was not copied cannot hold the frame header looked for whole
      this.hunt.tail = EMPTY_BYTES;
      return;
    }
    try {
      const f = this.cur;
      if (this.preface) return this.lose('capture gap in the client preface');
      if (f === undefined) return this.lose('capture gap over a frame header');
      if (f.buf) return this.lose('capture gap inside a header block'); // HPACK cannot resynchronise
      const k = Math.min(n, f.len - f.got);
      if (f.type === FRAME.DATA && !f.cut) {
        // what came of this frame goes in now; the rest of it is dropped and the body is cut
        f.cut = true;
        const st = this.streams.get(f.sid);
        if (st) st.truncated = true;
        this.flushNote(f);
      }
      f.got += k;
      if (f.got === f.len) {
        this.cur = undefined;
        this.finish(f);
      }
      if (n > k) this.lose('capture gap over a frame header'); // its successor's header is gone
    } catch (e) {
      if (e instanceof HpackError) return this.lose(e.message);
      throw e;
    }
  }

  /** A frame header is complete: what its payload will be. */
  private begin(): void {
    const h = this.head;
    const len = (h[0]! << 16) | (h[1]! << 8) | h[2]!;
    const type = h[3]!;
    const sid = ((h[5]! & 0x7f) * 2 ** 24) + ((h[6]! << 16) | (h[7]! << 8) | h[8]!);
    // RFC 9113 6.10: nothing may come between a header block's frames
    if (this.block && type !== FRAME.CONTINUATION) throw new HpackError(`frame type ${type} inside a header block`);
    const f: Frame = { type, flags: h[4]!, sid, len, got: 0, pad: -1, cut: false, noteSize: 0, hidden: 0 };
    // RFC 9113 8.4: a client cannot push; a server receiving PUSH_PROMISE closes the connection
    if (type === FRAME.PUSH_PROMISE && this.client) throw new HpackError('PUSH_PROMISE from the client');
    if (type === FRAME.HEADERS || type === FRAME.PUSH_PROMISE || type === FRAME.CONTINUATION) {
      if (type === FRAME.CONTINUATION && (!this.block || this.block.stream !== sid)) throw new HpackError('CONTINUATION without a header block');
      if (len + (this.block?.size ?? 0) > MAX_HEADER_BLOCK) throw new HpackError('header block too large');
      f.buf = new Uint8Array(len);
    }
    this.cur = f;
    if (len === 0) {
      this.cur = undefined;
      this.finish(f);
    }
  }

  /** Some of the current frame's payload. */
  private payload(f: Frame, piece: Uint8Array): void {
    const from = f.got;
    f.got += piece.length;
    if (f.buf) return void f.buf.set(piece, from);
    if (f.type !== FRAME.DATA || f.cut || piece.length === 0) return;
    const padded = (f.flags & FLAG.PADDED) !== 0;
    if (padded && from === 0) {
      f.pad = piece[0]!;
      if (1 + f.pad > f.len) throw new HpackError('DATA padding beyond the frame');
    }
    // the content lies between the pad length and the padding
    const c0 = padded ? 1 : 0;
    const c1 = f.len - (padded ? f.pad : 0);
    const a = Math.max(from, c0);
    const b = Math.min(f.got, c1);
    if (b > a) this.dataContent(f, piece.subarray(a - from, b - from));
  }

  /** The current frame is whole (or its lost part has been stepped over). */
  private finish(f: Frame): void {
    switch (f.type) {
      case FRAME.DATA:
        if (f.flags & FLAG.PADDED && f.pad < 0 && !f.cut) throw new HpackError('DATA padding beyond the frame');
        this.flushNote(f);
        if (f.flags & FLAG.END_STREAM) this.end(f.sid);
        return;
      case FRAME.HEADERS: {
        const p = f.buf!;
        const [off, end] = content(p, f.flags, f.flags & FLAG.PRIORITY ? 5 : 0, 'HEADERS');
        this.block = { stream: f.sid, flags: f.flags, parts: [p.subarray(off, end)], size: end - off, promise: false };
        if (f.flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.PUSH_PROMISE: {
        const p = f.buf!;
        const [off, end] = content(p, f.flags, 4, 'PUSH_PROMISE'); // the promised stream id first
        this.block = { stream: f.sid, flags: f.flags, parts: [p.subarray(off, end)], size: end - off, promise: true };
        if (f.flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.CONTINUATION: {
        const blk = this.block!;
        blk.parts.push(f.buf!);
        blk.size += f.len;
        if (f.flags & FLAG.END_HEADERS) this.headerBlock();
        return;
      }
      case FRAME.RST_STREAM: {
        const st = this.streams.get(f.sid);
        if (st?.msg) {
          st.truncated = true;
          this.end(f.sid);
        } else this.unhold(f.sid); // holds nothing (no message, no body), but goes the one way streams go
        return;
      }
      default:
        // SETTINGS (the decoder follows the encoder's table size updates, up to MAX_HPACK_TABLE), PING,
        // GOAWAY, WINDOW_UPDATE, PRIORITY, unknown types: nothing to keep
        return;
    }
  }

  private headerBlock(): void {
    const blk = this.block!;
    this.block = undefined;
    const bytes = concatBytes(blk.parts, blk.size);
    const fields = this.hpack.decode(bytes); // always: the table must follow every block
    const sid = blk.stream;
    if (this.note) this.note(`[HTTP/2 ${blk.promise ? 'PUSH_PROMISE' : 'HEADERS'} stream ${sid}]\n${fields.map(shown).join('\n')}\n`);
    if (blk.promise) return; // a pushed request: not a message this side sent
    let st = this.streams.get(sid);
    if (st?.msg) {
      // trailers: more fields, but not the message's host or content type, which its header section set
      // (RFC 9110 6.5.1: a trailer must not carry routing or framing; a later "host" must not relabel the request)
      for (const [n, v] of fields) if (!n.startsWith(':') && wellFormed(n, v)) st.msg.headers[n] = joined(st.msg.headers[n], n, v);
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
      // RFC 9113 8.3.2: three digits; anything else is no status (Number() made "abc" NaN, reported as null)
      else if (n === ':status') status = /^[1-9]\d\d$/.test(v) ? Number(v) : undefined;
      else if (n === ':authority') authority = v;
      else if (!n.startsWith(':') && wellFormed(n, v)) headers[n] = joined(headers[n], n, v);
    }
    if (status !== undefined && status < 200 && !(blk.flags & FLAG.END_STREAM)) return; // 1xx: the real answer follows
    // picked up part way (resume): a block with neither :method nor :status is the trailers of a message whose
    // start went by unread, not a message
    if (this.resumed && method === undefined && status === undefined) return;
    if (authority !== undefined && headers.host === undefined) headers.host = authority;
    // RFC 9113 8.3.1: a server routes by :authority and must not use Host when it is there; a Host
    // field that differs must not become the request's host (a policy on http.host would be misled)
    const host = authority ?? headers.host;
    const msg: Http2Message =
      method !== undefined
        ? { kind: 'request', method, path, headers, contentType: headers['content-type'], contentEncoding: headers['content-encoding'], host, body: EMPTY_BYTES, truncated: false, complete: false, stream: sid }
        : { kind: 'response', status, headers, contentType: headers['content-type'], contentEncoding: headers['content-encoding'], host, body: EMPTY_BYTES, truncated: false, complete: false, stream: sid };
    if (!st) {
      // more than MAX_STREAMS open: the oldest forgotten unreported
      if (this.streams.size >= MAX_STREAMS) this.unhold(this.streams.keys().next().value!);
      st = { parts: [], size: 0, truncated: false };
      this.streams.set(sid, st);
    }
    st.msg = msg;
    if (blk.flags & FLAG.END_STREAM) this.end(sid);
  }

  /** A piece of a DATA frame's content. */
  private dataContent(f: Frame, p: Uint8Array): void {
    const st = this.streams.get(f.sid);
    if (!st?.msg) {
      // DATA on a stream with no message is a protocol error (RFC 9113 5.1, 6.1) or a HEADERS frame whose type
      // byte was damaged: its bytes may be an HPACK block, whose length-prefixed strings ("authorization\x14...")
      // the redaction rules cannot read, so they are not shown, only counted
      f.hidden += p.length;
      return;
    }
    // views, not copies: the caller's bytes are never written again (records are copied out of the
    // ring, reassembled calls are new arrays). A note lives until its frame ends; a body part as long
    // as its stream, so a small part of a big buffer is copied rather than keep the whole buffer
    if (this.note && f.noteSize < MAX_NOTE) {
      const k = Math.min(p.length, MAX_NOTE - f.noteSize);
      (f.note ??= []).push(p.subarray(0, k));
      f.noteSize += k;
    }
    if (this.onPartial) this.onPartial(st.msg, p);
    const room = Math.min(p.length, MAX_BODY - st.size, MAX_HELD - this.held);
    const n = this.budget ? this.budget.take(room) : room;
    if (n > 0) {
      st.parts.push(n * 4 >= p.buffer.byteLength ? p.subarray(0, n) : p.slice(0, n));
      st.size += n;
      this.held += n;
    }
    if (n < p.length) st.truncated = true;
  }

  /** A DATA frame's readable note, once, with what it had. */
  private flushNote(f: Frame): void {
    if (this.note && f.hidden) this.note(`[HTTP/2 DATA stream ${f.sid}: no message open on it, ${f.hidden} bytes not shown]\n`);
    f.hidden = 0;
    if (!this.note || !f.note) return;
    this.note(`[HTTP/2 DATA stream ${f.sid}]\n${NOTE_TEXT.decode(concatBytes(f.note, f.noteSize))}\n`);
    f.note = undefined;
  }

  /** A stream taken out of the table, the body bytes it held given back (this direction's and the layer's). */
  private unhold(sid: number): StreamState | undefined {
    const st = this.streams.get(sid);
    if (!st) return undefined;
    this.streams.delete(sid);
    this.held -= st.size;
    this.budget?.give(st.size);
    return st;
  }

  private end(sid: number): void {
    const st = this.unhold(sid);
    if (!st?.msg) return;
    const m = st.msg;
    m.body = concatBytes(st.parts, st.size);
    m.truncated = st.truncated;
    m.complete = true;
    this.onMessage(m);
  }

  private lose(why: string): void {
    if (this.lostWhy !== undefined) return;
    this.lostWhy = why;
    this.block = undefined;
    this.cur = undefined;
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

/**
 * RFC 9113 8.2.1: a field name is lower-case token characters (a
 * pseudo-header one of 8.3's), and a value holds no NUL, CR, LF or other
 * control character but HTAB (RFC 9110 5.5); anything else makes the
 * message malformed, and the peer resets the stream. Such a field is left
 * out of the message (as HTTP/1's parser leaves out a line with a bare CR)
 * and its bytes are not shown: a value with a line break could pass for a
 * second field or break a credential away from the name that gets it
 * redacted, and a block whose frame header was damaged (HEADERS read as
 * PUSH_PROMISE or with PRIORITY, so HPACK starts bytes off) decodes to such
 * fields with other fields' names and credentials inside their values.
 */
function wellFormed(n: string, v: string): boolean {
  return (FIELD_NAME.test(n) || PSEUDO.has(n)) && !BAD_VALUE.test(v);
}
const FIELD_NAME = /^[a-z0-9!#$%&'*+\-.^_`|~]+$/;
const PSEUDO = new Set([':method', ':scheme', ':authority', ':path', ':protocol', ':status']);
const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;

/** A field as a rendering shows it: one line, and nothing of a malformed one but its size. */
function shown([n, v]: [string, string]): string {
  if (wellFormed(n, v)) return `${n}: ${v}`;
  if (n === '' && v === '') return '[a field from an HPACK table entry made while this direction was not read]';
  return `${FIELD_NAME.test(n) || PSEUDO.has(n) ? n : '[malformed name]'}: [malformed field, ${n.length + v.length} chars not shown]`;
}

function joined(old: string | undefined, n: string, v: string): string {
  return old === undefined ? v : n === 'cookie' ? `${old}; ${v}` : `${old}, ${v}`;
}
