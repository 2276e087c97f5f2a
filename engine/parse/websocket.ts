/**
 * One direction of a WebSocket connection (RFC 6455), read from its bytes
 * after the HTTP/1.1 upgrade: frames (client frames masked), messages
 * reassembled from fragments around interleaved control frames, and
 * permessage-deflate (RFC 7692) undone, with the sliding window carried
 * from message to message unless the handshake agreed on
 * `*_no_context_takeover`.
 *
 * Why: realtime LLM APIs (OpenAI's and Azure's /realtime, Gemini's Live
 * API) carry their prompts, instructions and tool results as JSON messages
 * on a WebSocket, not as HTTP requests; unread, they are a way around every
 * content rule.
 *
 * The window is carried by inflating each message with the last 32 KiB of
 * the direction's earlier plaintext as zlib's preset dictionary: the
 * compressor's back-references reach no further. A message or a gap that
 * breaks the chain (bytes not captured inside a compressed message) loses
 * the direction from there, said once through `onLost`. No input throws.
 */
import { inflateRawSync, constants } from 'node:zlib';
import { concatBytes, EMPTY_BYTES, MAX_BODY } from './bytes.js';

export interface WsMessage {
  /** a text message (opcode 1), else binary */
  text: boolean;
  data: Uint8Array;
}

/** What a handshake's Sec-WebSocket-Extensions agreed for permessage-deflate, per direction. */
export interface WsDeflate {
  /** this direction's messages may be compressed (RSV1) */
  on: boolean;
  /** the window goes on from message to message (no `<direction>_no_context_takeover`) */
  takeover: boolean;
}

/** The deflate settings of each direction, from the server's Sec-WebSocket-Extensions answer. */
export function wsDeflateOf(extensions: string | undefined): { client: WsDeflate; server: WsDeflate } {
  for (const ext of (extensions ?? '').split(',')) {
    const params = ext.split(';').map((p) => p.trim().toLowerCase());
    if (params[0] !== 'permessage-deflate') continue;
    return {
      client: { on: true, takeover: !params.includes('client_no_context_takeover') },
      server: { on: true, takeover: !params.includes('server_no_context_takeover') },
    };
  }
  return { client: { on: false, takeover: false }, server: { on: false, takeover: false } };
}

const WINDOW = 32 * 1024;

interface FrameHeader {
  fin: boolean;
  rsv1: boolean;
  opcode: number;
  len: number;
  /** where the payload starts */
  at: number;
  /** where the masking key is; -1 for an unmasked frame */
  key: number;
}

/** The header at the start of B, when B holds all of it. */
function header(b: Uint8Array): FrameHeader | undefined {
  if (b.length < 2) return undefined;
  let len = b[1]! & 0x7f;
  let at = 2;
  if (len === 126) {
    if (b.length < 4) return undefined;
    len = (b[2]! << 8) | b[3]!;
    at = 4;
  } else if (len === 127) {
    if (b.length < 10) return undefined;
    len = 0;
    for (let i = 2; i < 10; i++) len = len * 256 + b[i]!;
    at = 10;
  }
  const masked = (b[1]! & 0x80) !== 0;
  const key = masked ? at : -1;
  if (masked) at += 4;
  if (b.length < at) return undefined;
  return { fin: (b[0]! & 0x80) !== 0, rsv1: (b[0]! & 0x40) !== 0, opcode: b[0]! & 0x0f, len, at, key };
}
const TAIL = Uint8Array.of(0x00, 0x00, 0xff, 0xff);

export class WsReader {
  private buf: Uint8Array = EMPTY_BYTES;
  /** the message being assembled: its frames' payloads */
  private parts: Uint8Array[] = [];
  private size = 0;
  private opcode = 0;
  private compressed = false;
  /** the message is past MAX_BODY or lost bytes: its payload is not kept */
  private dropping = false;
  /** payload bytes of the current frame still to come (skipped after a gap) */
  private skip = 0;
  private window: Uint8Array = EMPTY_BYTES;
  /** the direction cannot be read any more */
  private lost = false;

  constructor(
    private readonly onMessage: (m: WsMessage) => void,
    private readonly onLost: (why: string) => void,
    private readonly deflate: WsDeflate = { on: false, takeover: false },
  ) {}

  private lose(why: string): void {
    if (this.lost) return;
    this.lost = true;
    this.buf = EMPTY_BYTES;
    this.parts = [];
    this.onLost(why);
  }

  /**
   * N bytes were not captured. Inside a frame's payload the frames after it
   * can still be found (its message is skipped); a compressed window, or a
   * gap across frame headers, cannot be followed.
   */
  gap(n: number): void {
    if (n <= 0 || this.lost) return;
    if (this.buf.length > 0) {
      // a frame waiting for its rest: what is missing is in its payload when it fits there
      const h = header(this.buf);
      if (h === undefined || h.opcode >= 8) return this.lose('bytes between frames were not captured');
      const rest = h.at + h.len - this.buf.length;
      if (n > rest) return this.lose('bytes between frames were not captured');
      if (h.opcode !== 0) this.opcode = h.opcode;
      this.compressed = this.compressed || (h.rsv1 && h.opcode !== 0 && this.deflate.on);
      this.skip = rest;
      this.pendingFin = h.fin;
      this.buf = EMPTY_BYTES;
    }
    if (this.skip < n) return this.lose('bytes between frames were not captured');
    this.skip -= n;
    if (this.compressed && this.deflate.takeover) return this.lose('bytes of a compressed message were not captured');
    this.dropping = true;
    this.parts = [];
    if (this.skip === 0 && this.pendingFin) this.endMessage();
  }

  push(data: Uint8Array): void {
    if (this.lost || data.length === 0) return;
    let b = data;
    if (this.skip > 0) {
      const k = Math.min(this.skip, b.length);
      this.skip -= k;
      b = b.subarray(k);
      if (this.skip === 0 && this.pendingFin) this.endMessage();
    }
    this.buf = this.buf.length ? concatBytes([this.buf, b]) : b;
    while (!this.lost && this.frame());
  }

  /** the frame being skipped ended its message */
  private pendingFin = false;

  /** One whole frame off the buffer, if there is one. */
  private frame(): boolean {
    const b = this.buf;
    const h = header(b);
    if (h === undefined) return false;
    const { fin, rsv1, opcode, len, at, key } = h;
    if (!Number.isSafeInteger(len)) {
      this.lose('a frame length past 2^53');
      return false;
    }
    const masked = key >= 0;
    if ((opcode >= 3 && opcode <= 7) || opcode >= 11) {
      this.lose(`opcode ${opcode}`);
      return false;
    }
    const control = opcode >= 8;
    if (control && (len > 125 || !fin)) {
      this.lose('a control frame longer than 125 bytes or fragmented');
      return false;
    }
    if (!control) {
      if (opcode !== 0) {
        // a new message
        this.parts = [];
        this.size = 0;
        this.opcode = opcode;
        this.compressed = rsv1 && this.deflate.on;
        this.dropping = false;
      } else if (this.opcode === 0) {
        this.lose('a continuation frame with no message');
        return false;
      }
    }
    const have = Math.min(len, b.length - at);
    if (have < len && (control || this.size + len <= MAX_BODY)) {
      // wait for the rest (control frames are small; data frames within the limit are kept whole)
      return false;
    }
    let payload = b.subarray(at, at + have);
    if (masked) {
      const out = new Uint8Array(payload.length);
      for (let i = 0; i < payload.length; i++) out[i] = payload[i]! ^ b[key + (i & 3)]!;
      payload = out;
    }
    this.buf = b.subarray(at + have);
    if (control) return true; // ping, pong, close: nothing an API says
    if (this.size + len > MAX_BODY) this.dropping = true;
    if (!this.dropping) {
      this.parts.push(payload.slice());
      this.size += payload.length;
    }
    if (have < len) {
      // a frame too long to keep: its rest is skipped as it comes
      this.skip = len - have;
      this.pendingFin = fin;
      return false;
    }
    if (fin) this.endMessage();
    return true;
  }

  private endMessage(): void {
    this.pendingFin = false;
    const text = this.opcode === 1;
    this.opcode = 0;
    if (this.dropping) {
      this.parts = [];
      if (this.compressed && this.deflate.takeover) return this.lose(`a compressed message longer than ${MAX_BODY} bytes`);
      this.onLost(`a WebSocket message longer than ${MAX_BODY} bytes, or not captured whole, was skipped`);
      return;
    }
    let data = concatBytes(this.parts, this.size);
    this.parts = [];
    if (this.compressed) {
      try {
        const opts = { finishFlush: constants.Z_SYNC_FLUSH, maxOutputLength: MAX_BODY, ...(this.deflate.takeover && this.window.length ? { dictionary: this.window } : {}) };
        data = new Uint8Array(inflateRawSync(concatBytes([data, TAIL]), opts));
      } catch (e) {
        return this.lose(`a compressed message does not inflate: ${(e as Error).message}`);
      }
      if (this.deflate.takeover) {
        const joined = this.window.length ? concatBytes([this.window, data]) : data;
        this.window = joined.length > WINDOW ? joined.slice(joined.length - WINDOW) : joined;
      }
    }
    this.onMessage({ text, data });
  }
}
