/**
 * HTTP/1.1 messages (RFC 9112) from one direction of one connection, fed
 * incrementally as TLS plaintext arrives: request or status line, headers,
 * then a body framed by Content-Length, chunked transfer coding, or nothing
 * (requests without a length, 1xx/204/304 and HEAD answers). Several
 * messages follow one another on a kept-alive connection.
 *
 * The capture may leave gaps (a call longer than the kernel's copy cap):
 * `gap(n)` says n bytes were not seen. Inside a Content-Length body they
 * are skipped and the message is marked truncated; anywhere else the
 * parser has lost its place and waits for the next line that starts a
 * message.
 */
import { BodyBudget, concatBytes, EMPTY_BYTES, MAX_BODY } from './bytes.js';

export interface HttpMessage {
  kind: 'request' | 'response';
  method?: string;
  /** request target: `/v1/chat/completions?x=1` */
  path?: string;
  status?: number;
  /** lower-case names; repeated headers joined with ", " */
  headers: Record<string, string>;
  /** `headers['content-type']` and `headers.host`, which the engine reads of every message: kept apart so that HTTP/1 builds the whole map only when something asks for it */
  contentType?: string;
  host?: string;
  /** `headers['content-encoding']`: the body as it is held is still in these codings (encoding.ts decodes it) */
  contentEncoding?: string;
  /** `headers.upgrade`: the protocol a request asks to switch to (a WebSocket, app.ts) */
  upgrade?: string;
  /** the body, de-chunked (a prefix when truncated) */
  body: Uint8Array;
  /** bytes of the body that were not captured */
  truncated: boolean;
  /** its being cut short was reported while it was still coming (a held plain-text request): not again at its end */
  cutSaid?: boolean;
  /**
   * why the body's framing is ambiguous (RFC 9112 6.3: a Content-Length that
   * is not one plain number, or one beside Transfer-Encoding chunked): a
   * server may read another body than this parser did
   */
  ambiguous?: string;
  /** a response's body so far, while it streams (server-sent events): see onPartial */
  complete: boolean;
}

const MAX_HEAD = 64 * 1024;
const METHOD = /^(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /;
const STATUS = /^HTTP\/1\.[01] (\d{3})/;

/** A message's first line: a request line of a method read here, or a status line. */
const startLine = (line: string): boolean => METHOD.test(line) || STATUS.test(line);

type State = 'start' | 'head' | 'body-length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'lost' | 'upgraded';

export class Http1Stream {
  private state: State = 'start';
  private buf: Uint8Array = new Uint8Array(0);
  private msg: HttpMessage | undefined;
  private parts: Uint8Array[] = [];
  private bodyLen = 0;
  private remaining = 0;
  /** the method of requests sent the other way, oldest first (for HEAD responses); set by the caller */
  readonly pendingMethods: string[] = [];

  constructor(
    private readonly onMessage: (m: HttpMessage) => void,
    /** told each piece of a body as it arrives (streaming responses), before and beyond MAX_BODY */
    private readonly onPartial?: (m: HttpMessage, data: Uint8Array) => void,
    /** body bytes held across the parsers of an application layer (bytes.ts) */
    private readonly budget?: BodyBudget,
  ) {}

  /** after upgrade(): where this direction's bytes and gaps go */
  private upgradedTo: { push(b: Uint8Array): void; gap(n: number): void } | undefined;

  /**
   * The connection switched protocols (a 101 answer to an Upgrade, RFC 9110
   * 7.8): from the end of the message just handled, every byte and gap of
   * this direction goes to TO instead. Called from onMessage.
   */
  upgrade(to: { push(b: Uint8Array): void; gap(n: number): void }): void {
    this.upgradedTo = to;
    this.state = 'upgraded';
  }

  /** The parser is dropped (its connection forgotten): what it holds is given back to the budget. */
  release(): void {
    this.dropBody();
    this.msg = undefined;
    this.state = 'lost';
  }

  /** The message being read, once part of its body is past what is kept of it (MAX_BODY, the layer's budget). */
  get cutShort(): HttpMessage | undefined {
    return this.msg?.truncated && (this.state === 'body-length' || this.state === 'chunk-size' || this.state === 'chunk-data' || this.state === 'chunk-crlf') ? this.msg : undefined;
  }

  /** Lost its place: what came was no HTTP/1.1 (or a gap it could not place), until a message line comes. */
  get lost(): boolean {
    return this.state === 'lost';
  }

  /** Between messages: no message begun and not finished (an upgraded or lost stream: none will finish). */
  get idle(): boolean {
    return this.state === 'upgraded' || this.state === 'lost' || (this.state === 'start' && this.buf.length === 0);
  }

  /** Bytes that were not captured. */
  gap(n: number): void {
    if (n <= 0) return;
    if (this.state === 'upgraded') return this.upgradedTo!.gap(n);
    if (this.state === 'body-length' && this.msg) {
      const skip = Math.min(n, this.remaining);
      this.msg.truncated = true;
      this.remaining -= skip;
      n -= skip;
      if (this.remaining === 0) this.finish();
      if (n === 0) return;
    }
    if (this.state !== 'start' || this.buf.length > 0) {
      if (this.msg) {
        this.msg.truncated = true;
        this.finish();
      }
      this.state = 'lost';
      this.buf = new Uint8Array(0);
    }
  }

  push(data: Uint8Array): void {
    if (this.state === 'upgraded') return this.upgradedTo!.push(data);
    this.buf = this.buf.length ? concatBytes([this.buf, data]) : data;
    for (;;) {
      const before = this.buf.length;
      const st: State = this.state;
      this.step();
      if (this.state === st && this.buf.length === before) return;
    }
  }

  private step(): void {
    switch (this.state) {
      case 'upgraded': {
        // what followed the upgrading message in the same piece
        const b = this.buf;
        this.buf = EMPTY_BYTES;
        if (b.length) this.upgradedTo!.push(b);
        return;
      }
      case 'lost': {
        // resynchronise at a line that starts a request or a response
        const text = latin1(this.buf.subarray(0, Math.min(this.buf.length, 65536)));
        const m = /(^|\r\n)(HTTP\/1\.[01] \d{3} |(GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) \S+ HTTP\/1\.[01]\r\n)/.exec(text);
        if (!m) {
          if (this.buf.length > 8) this.buf = this.buf.subarray(this.buf.length - 8);
          return;
        }
        this.buf = this.buf.subarray(m.index + m[1]!.length);
        this.state = 'start';
        return;
      }
      case 'start':
      case 'head': {
        if (this.state === 'start') {
          // empty lines before a message are skipped, as a server does (RFC 9112 2.2): a request
          // sent after one must be read as it is served
          let i = 0;
          while (i < this.buf.length && (this.buf[i] === 13 || this.buf[i] === 10)) i++;
          if (i > 0) this.buf = this.buf.subarray(i);
        }
        const end = indexOfCrlfCrlf(this.buf);
        if (end < 0) {
          // a first line that is no request or status line: not HTTP, said at once rather than after 64 KiB
          const eol = indexOfCrlf(this.buf);
          if (this.buf.length > MAX_HEAD || (eol >= 0 && !startLine(latin1(this.buf.subarray(0, eol))))) this.state = 'lost';
          else this.state = this.buf.length ? 'head' : 'start';
          return;
        }
        const head = latin1(this.buf.subarray(0, end));
        this.buf = this.buf.subarray(end + 4);
        this.begin(head);
        return;
      }
      case 'body-length':
        if (this.bodyBytes() === 0) this.finish();
        return;
      case 'chunk-size': {
        const eol = indexOfCrlf(this.buf);
        if (eol < 0) {
          if (this.buf.length > 1024) this.lose();
          return;
        }
        const line = latin1(this.buf.subarray(0, eol)).split(';')[0]!.trim();
        this.buf = this.buf.subarray(eol + 2);
        if (!/^[0-9a-fA-F]+$/.test(line)) return this.lose();
        const size = parseInt(line, 16);
        if (size === 0) {
          this.state = 'trailers';
          return;
        }
        this.remaining = size;
        this.state = 'chunk-data';
        return;
      }
      case 'chunk-data':
        if (this.bodyBytes() === 0) this.state = 'chunk-crlf';
        return;
      case 'chunk-crlf':
        if (this.buf.length < 2) return;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) return this.lose();
        this.buf = this.buf.subarray(2);
        this.state = 'chunk-size';
        return;
      case 'trailers': {
        const eol = indexOfCrlf(this.buf);
        if (eol < 0) return;
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) this.finish();
        return;
      }
    }
  }

  private begin(head: string): void {
    let eol = head.indexOf('\n');
    const first = eol < 0 ? head : head.slice(0, eol > 0 && head.charCodeAt(eol - 1) === 13 ? eol - 1 : eol);
    let m: Http1Message;
    const status = STATUS.exec(first);
    if (status) {
      m = new Http1Message('response', head);
      m.status = Number(status[1]);
    } else if (METHOD.test(first)) {
      const [method, path] = first.split(' ');
      m = new Http1Message('request', head);
      m.method = method;
      m.path = path;
    } else {
      return this.lose();
    }
    // The six fields the parser and the engine read of every message, found
    // as fieldsOf() finds every field (the same lines, names and values), but
    // a name is only sliced and lower-cased when its length is one of theirs.
    let te: string | undefined;
    let cl: string | undefined;
    for (const f = new Fields(head, eol); f.next(); ) {
      const { start, colon: c, end } = f;
      const a = head.charCodeAt(start);
      const z = head.charCodeAt(c - 1);
      const n = c - start;
      let k: string;
      // a name with whitespace that trim() removes at an edge (in latin1: controls and space, NBSP) the slow way;
      // otherwise lower-casing keeps a latin1 name's length, so only names of their lengths can be theirs
      if (a <= 0x20 || z <= 0x20 || a === 0xa0 || z === 0xa0) k = head.slice(start, c).trim().toLowerCase();
      else if (n === 4 || n === 7 || n === 12 || n === 14 || n === 16 || n === 17) k = head.slice(start, c).toLowerCase();
      else continue;
      if (k !== 'host' && k !== 'content-type' && k !== 'content-length' && k !== 'transfer-encoding' && k !== 'content-encoding' && k !== 'upgrade') continue;
      const v = head.slice(c + 1, end).trim();
      if (k === 'host') m.host = joined(m.host, v);
      else if (k === 'content-type') m.contentType = joined(m.contentType, v);
      else if (k === 'content-encoding') m.contentEncoding = joined(m.contentEncoding, v);
      else if (k === 'upgrade') m.upgrade = joined(m.upgrade, v);
      else if (k === 'content-length') cl = joined(cl, v);
      else te = joined(te, v);
    }
    this.msg = m;
    this.dropBody();
    const noBody =
      m.kind === 'response' && (m.status! < 200 || m.status === 204 || m.status === 304 || this.pendingMethods[0] === 'HEAD');
    if (m.kind === 'response' && m.status! >= 200) this.pendingMethods.shift();
    if (noBody) return this.finish();
    if (te !== undefined && te.toLowerCase().includes('chunked')) {
      // RFC 9112 6.3: chunked wins, but a server that does not take chunked requests reads Content-Length
      if (cl !== undefined) m.ambiguous = `Transfer-Encoding ${JSON.stringify(te.slice(0, 40))} beside Content-Length ${JSON.stringify(cl.slice(0, 40))}`;
      this.state = 'chunk-size';
      return;
    }
    if (cl !== undefined) {
      const n = contentLength(cl);
      if (n === undefined) return this.lose();
      if (!/^\d+$/.test(cl) && !sameLengths(cl)) m.ambiguous = `Content-Length ${JSON.stringify(cl.slice(0, 40))} is not one plain number`;
      this.remaining = n;
      if (this.remaining === 0) return this.finish();
      this.state = 'body-length';
      return;
    }
    // a request without a length has no body; a response without one runs to the close (not followed here)
    this.finish();
  }

  /** Body bytes of a sized body or chunk, as many as are here: kept, and told to onPartial. Returns what is still to come. */
  private bodyBytes(): number {
    const n = Math.min(this.remaining, this.buf.length);
    if (n > 0) {
      const piece = this.buf.subarray(0, n);
      this.take(piece);
      if (this.msg && this.onPartial) this.onPartial(this.msg, piece);
    }
    this.buf = this.buf.subarray(n);
    this.remaining -= n;
    return this.remaining;
  }

  private take(b: Uint8Array): void {
    // what MAX_BODY and the layer's budget leave room for; a view, not a copy: what is pushed is never
    // written again (records are copied out of the ring, reassembled calls are new arrays)
    const room = Math.min(b.length, MAX_BODY - this.bodyLen);
    const n = this.budget ? this.budget.take(room) : room;
    if (n > 0) {
      this.parts.push(b.subarray(0, n));
      this.bodyLen += n;
    }
    if (n < b.length && this.msg) this.msg.truncated = true;
  }

  /** The body held so far let go, its bytes given back to the budget. */
  private dropBody(): void {
    this.budget?.give(this.bodyLen);
    this.parts = [];
    this.bodyLen = 0;
  }

  private body(): Uint8Array {
    const out = concatBytes(this.parts, this.bodyLen);
    this.parts = [out];
    return out;
  }

  private finish(): void {
    const m = this.msg;
    this.msg = undefined;
    this.state = 'start';
    if (!m) return;
    m.body = this.body();
    m.complete = true;
    this.dropBody();
    this.onMessage(m);
  }

  private lose(): void {
    if (this.msg) {
      this.msg.truncated = true;
      this.finish();
    }
    this.state = 'lost';
  }
}

const buf = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.length);

function indexOfCrlf(b: Uint8Array): number {
  return buf(b).indexOf('\r\n', 0, 'latin1');
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  return buf(b).indexOf('\r\n\r\n', 0, 'latin1');
}

function latin1(b: Uint8Array): string {
  return buf(b).toString('latin1');
}

/**
 * The field lines of a head, one by one: next() moves to the next and sets
 * where its name starts, its colon and where its value ends. Lines end at
 * LF, a CR before it dropped (RFC 9112 §2.2: a recipient may take a bare LF
 * as a line's end). A line that still holds a CR is invalid (§2.2: a bare
 * CR) and is skipped: read as part of a value, it would carry the next
 * field, an Authorization or x-api-key header among them, into a value such
 * as Host that is reported unredacted. So is a line without a name before a
 * colon.
 */
class Fields {
  start = 0;
  colon = 0;
  end = 0;

  /** `eol`: the LF that ends the first line (-1: there is none) */
  constructor(
    private readonly head: string,
    private eol: number,
  ) {}

  next(): boolean {
    const head = this.head;
    while (this.eol >= 0) {
      const start = this.eol + 1;
      this.eol = head.indexOf('\n', start);
      let end = this.eol < 0 ? head.length : this.eol;
      if (end > start && head.charCodeAt(end - 1) === 13) end--;
      const c = head.indexOf(':', start);
      if (c <= start || c >= end) continue;
      const cr = head.indexOf('\r', start);
      if (cr >= 0 && cr < end) continue;
      this.start = start;
      this.colon = c;
      this.end = end;
      return true;
    }
    return false;
  }
}

/** Every field of a head (after its first line): lower-case names, repeats joined with ", ". */
function fieldsOf(head: string): Record<string, string> {
  // No prototype: a header named "constructor" or "__proto__" is a header
  // like any other, not a property every object already has.
  const headers: Record<string, string> = Object.create(null) as Record<string, string>;
  for (const f = new Fields(head, head.indexOf('\n')); f.next(); ) {
    const k = head.slice(f.start, f.colon).trim().toLowerCase();
    const v = head.slice(f.colon + 1, f.end).trim();
    headers[k] = joined(headers[k], v);
  }
  return headers;
}

/** A field's value after the values of its earlier repeats (RFC 9110 §5.3: joined with ", "). */
function joined(prev: string | undefined, v: string): string {
  return prev !== undefined ? `${prev}, ${v}` : v;
}

/**
 * The body length a Content-Length value gives. One plain number, or the
 * same number repeated (RFC 9110 8.6 lets a recipient take "5, 5" as 5),
 * is the length. Anything else is invalid, and servers differ: most refuse
 * it, but Python's http.server takes the first field through int(), which
 * reads "+5" and "5_0" too. The body is read as such a lenient server
 * reads it (the caller reports the framing as ambiguous, so a policy can
 * act on a body that another reading would make different); undefined
 * when not even that gives a number.
 */
function contentLength(cl: string): number | undefined {
  if (/^\d+$/.test(cl)) return Number(cl);
  const first = cl.split(',')[0]!.trim();
  if (!/^\+?\d+(_\d+)*$/.test(first)) return undefined;
  const n = Number(first.replace(/[+_]/g, ''));
  return Number.isSafeInteger(n) ? n : undefined;
}

/** "5, 5": one length, said twice (several Content-Length fields, joined). */
function sameLengths(cl: string): boolean {
  const parts = cl.split(',').map((x) => x.trim());
  return parts.every((x) => /^\d+$/.test(x) && Number(x) === Number(parts[0]));
}

/**
 * A message of this parser. Its header map is built from the head when
 * first asked for: storing every field of every message into a map was
 * most of the time of reading a head (580 of 1,044 ns for eight fields),
 * and the engine reads three of them, kept apart as they are found.
 */
class Http1Message implements HttpMessage {
  method?: string;
  path?: string;
  status?: number;
  contentType?: string;
  host?: string;
  contentEncoding?: string;
  upgrade?: string;
  body: Uint8Array = EMPTY_BYTES;
  truncated = false;
  ambiguous?: string;
  complete = false;
  private fields: Record<string, string> | undefined;

  constructor(
    readonly kind: 'request' | 'response',
    private readonly head: string,
  ) {}

  get headers(): Record<string, string> {
    return (this.fields ??= fieldsOf(this.head));
  }
}

/**
 * The `data` of the first event named `endpoint` in TEXT (server-sent
 * events): where MCP's older HTTP+SSE transport tells its client to POST
 * (`/messages?sessionId=…`). Undefined when there is none.
 */
export function sseEndpoint(text: string): string | undefined {
  let named = false;
  let data: string[] = [];
  for (const raw of text.split(/\r\n|\r|\n/)) {
    if (raw === '') {
      if (named && data.length) return data.join('\n');
      named = false;
      data = [];
      continue;
    }
    const c = raw.indexOf(':');
    const field = c < 0 ? raw : raw.slice(0, c);
    let value = c < 0 ? '' : raw.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') named = value === 'endpoint';
    else if (field === 'data') data.push(value);
  }
  return named && data.length ? data.join('\n') : undefined;
}

/** Server-sent events (the HTML living standard, §9.2.6): the `data` of each event, in order. */
export function sseData(text: string): string[] {
  const out: string[] = [];
  let data: string[] = [];
  for (const raw of text.split(/\r\n|\r|\n/)) {
    if (raw === '') {
      if (data.length) out.push(data.join('\n'));
      data = [];
      continue;
    }
    if (raw.startsWith(':')) continue;
    const c = raw.indexOf(':');
    const field = c < 0 ? raw : raw.slice(0, c);
    let value = c < 0 ? '' : raw.slice(c + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') data.push(value);
  }
  if (data.length) out.push(data.join('\n'));
  return out;
}
