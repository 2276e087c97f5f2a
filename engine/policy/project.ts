/**
 * The input a compiled policy is handed: the event as JSON, cut down to the
 * subtrees the policy reads (analysis.ts), written as UTF-8 straight into a
 * reused buffer that the SDK copies into the module's memory.
 *
 * Why: @open-policy-agent/opa-wasm takes the input as an object (which it
 * JSON.stringify's and TextEncoder.encode's) or as an ArrayBuffer of JSON
 * (which it copies as it is). For a 1 KB event the whole-event stringify and
 * a fresh ArrayBuffer cost more than the evaluation (bench/rego): writing
 * only what the policy can see, into a buffer that is reused, is what makes
 * a decision cheap. A policy cannot tell the difference: a ref it does not
 * make cannot observe a member.
 *
 * The bytes are exactly TextEncoder.encode(JSON.stringify(p)) for the
 * projection p (an object with the read members, in path order), followed
 * by spaces up to the buffer's size (see InputWriter).
 */
import type { InputUse } from './analysis.js';

interface PathNode {
  key: string;
  /** `"key":` as UTF-8 */
  prefix: Uint8Array;
  /** members read below this one; undefined: the whole value is read */
  kids?: PathNode[];
}

const utf8 = new TextEncoder();

/** The read paths as a tree (they are minimal: none is a prefix of another). */
function pathTree(paths: readonly string[][]): PathNode[] {
  const root: PathNode[] = [];
  for (const p of paths) {
    let level = root;
    p.forEach((key, i) => {
      let n = level.find((x) => x.key === key);
      if (!n) {
        n = { key, prefix: utf8.encode(`${JSON.stringify(key)}:`) };
        level.push(n);
      }
      if (i < p.length - 1) level = n.kids ??= [];
    });
  }
  return root;
}

const hasOwn = Object.prototype.hasOwnProperty;
/** what JSON.stringify escapes (quote, backslash, controls) or writes as \u escapes (lone surrogates; pairs are left to it too) */
const NEEDS_JSON = /[\u0000-\u001f"\\\ud800-\udfff]/;
const SPACE = 0x20;
/** texts past this get a buffer of their own instead of a pooled one */
const MAX_POOLED = 1 << 16;

/** A member read further down that is a plain object (else it goes whole, as JSON.stringify would write it). */
const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';

/**
 * Writes JSON as UTF-8 into a scratch buffer, then hands out a copy in a
 * reused ArrayBuffer. The SDK copies the whole buffer it is given, so each
 * buffer is filled up with spaces after the text (JSON allows trailing
 * whitespace and our runtime's parser skips it): sizes are rounded up to a
 * class (at most 1/8 larger, at least 64 bytes), so that a handful of
 * buffers serve every event. Only for modules built by our compiler.
 */
export class InputWriter {
  private buf = new Uint8Array(4096);
  private pos = 0;
  private readonly pool = new Map<number, Uint8Array>();

  /** The class size for n bytes: n rounded up to 1/8 of its power of two, and to 64. */
  static classOf(n: number): number {
    if (n <= 512) return n <= 64 ? 64 : (n + 63) & ~63;
    const step = 2 ** (31 - Math.clz32(n)) / 8;
    return Math.ceil(n / step) * step;
  }

  /** JSON of `event` cut down by `walk` (undefined: all of it), in a buffer reused by the next call. */
  write(event: object, walk: Walker | undefined): ArrayBuffer {
    this.pos = 0;
    if (walk !== undefined && isPlainObject(event)) walk(event, this, hasOwn, isPlainObject);
    else this.json(event);
    return this.done();
  }

  /** `text` (JSON) as bytes, in a buffer reused by the next call. */
  text(text: string): ArrayBuffer {
    this.pos = 0;
    this.raw(text);
    return this.done();
  }

  private done(): ArrayBuffer {
    const n = this.pos;
    const src = this.buf.subarray(0, n);
    if (n > MAX_POOLED) return src.slice().buffer as ArrayBuffer;
    const size = InputWriter.classOf(n);
    let out = this.pool.get(size);
    if (!out) {
      out = new Uint8Array(size);
      this.pool.set(size, out);
    }
    out.set(src);
    out.fill(SPACE, n);
    return out.buffer as ArrayBuffer;
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** `{`, or `}` */
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** `,` unless first, then `"key":` */
  key(first: boolean, prefix: Uint8Array): void {
    const n = prefix.length;
    this.room(n + 1);
    const b = this.buf;
    let p = this.pos;
    if (!first) b[p++] = 0x2c;
    for (let i = 0; i < n; i++) b[p++] = prefix[i]!;
    this.pos = p;
  }

  /** A string as a JSON string: plain ones byte by byte (short) or by encodeInto (long), the rest as JSON.stringify says. */
  string(s: string): void {
    const n = s.length;
    if (n <= 32) {
      this.room(n + 2);
      const b = this.buf;
      let p = this.pos;
      b[p++] = 0x22;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c < 0x20 || c >= 0x7f || c === 0x22 || c === 0x5c) return this.raw(JSON.stringify(s));
        b[p++] = c;
      }
      b[p++] = 0x22;
      this.pos = p;
      return;
    }
    if (NEEDS_JSON.test(s)) return this.raw(JSON.stringify(s));
    this.room(3 * n + 2);
    this.buf[this.pos++] = 0x22;
    this.pos += utf8.encodeInto(s, this.buf.subarray(this.pos)).written;
    this.buf[this.pos++] = 0x22;
  }

  /** Anything else, as JSON.stringify writes it (the caller has left out what it leaves out). */
  json(v: unknown): void {
    // numbers, booleans and null as JSON.stringify spells them (String(-0) is "0" too), without its call
    if (typeof v === 'number') return this.ascii(Number.isFinite(v) ? String(v) : 'null');
    if (typeof v === 'boolean') return this.ascii(v ? 'true' : 'false');
    if (v === null) return this.ascii('null');
    this.raw(JSON.stringify(v) ?? 'null');
  }

  /** Text known to be ASCII. */
  private ascii(t: string): void {
    const n = t.length;
    this.room(n);
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = t.charCodeAt(i);
    this.pos = p;
  }

  /** JS text as UTF-8. */
  private raw(t: string): void {
    this.room(3 * t.length);
    this.pos += utf8.encodeInto(t, this.buf.subarray(this.pos)).written;
  }
}

type Walker = (event: object, w: InputWriter, own: typeof hasOwn, plain: typeof isPlainObject) => void;

/**
 * The projection's walk over an event, as code: one property read per read
 * member, by its literal name. A generic walk reads `obj[key]` with keys
 * that change from one read to the next, which V8 cannot cache (a keyed
 * load per member, measured at twice the time of the whole walk below);
 * generated code reads each member at a site of its own, as ajv and
 * fast-json-stringify do. Names are embedded as JSON string literals.
 */
function walker(tree: readonly PathNode[]): Walker {
  const prefixes: Uint8Array[] = [];
  let vars = 0;
  const object = (o: string, kids: readonly PathNode[]): string => {
    const first = `f${vars++}`;
    let code = `w.byte(0x7b); let ${first} = true;\n`;
    for (const k of kids) {
      const v = `v${vars++}`;
      const name = JSON.stringify(k.key);
      const prefix = prefixes.push(k.prefix) - 1;
      const value = k.kids
        ? `if (plain(${v})) { ${object(v, k.kids)} } else if (typeof ${v} === 'string') w.string(${v}); else w.json(${v});`
        : `if (typeof ${v} === 'string') w.string(${v}); else w.json(${v});`;
      code +=
        `{ const ${v} = ${o}[${name}];\n` +
        // JSON.stringify leaves out undefined, functions and symbols, and writes own members only
        `if (${v} !== undefined && typeof ${v} !== 'function' && typeof ${v} !== 'symbol'${k.key in Object.prototype ? ` && own.call(${o}, ${name})` : ` && (${o}.__proto__ === OP || own.call(${o}, ${name}))`}) {\n` +
        `w.key(${first}, P[${prefix}]); ${first} = false;\n${value}\n} }\n`;
    }
    return `${code}w.byte(0x7d);\n`;
  };
  const body = object('e', tree);
  const make = new Function('P', 'OP', `return function walk(e, w, own, plain) {\n${body}};`) as (p: Uint8Array[], op: object) => Walker;
  return make(prefixes, Object.prototype);
}

/**
 * What a policy is given for an event: `project(event)` writes the
 * projection when the policy's reads are known and partial, the whole event
 * otherwise (a bundle's policy.wasm, `input` read whole); `text(json)` the
 * event's JSON as it is.
 */
export class InputProjector {
  private readonly walk: Walker | undefined;
  private readonly writer = new InputWriter();

  constructor(use: InputUse | undefined) {
    this.walk = use && !use.all ? walker(pathTree(use.paths)) : undefined;
  }

  /** The policy reads only parts of the input: project() is cheaper than the event's whole JSON. */
  get partial(): boolean {
    return this.walk !== undefined;
  }

  project(event: object): ArrayBuffer {
    return this.writer.write(event, this.walk);
  }

  text(json: string): ArrayBuffer {
    return this.writer.text(json);
  }
}
