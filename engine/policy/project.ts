/**
 * The input a compiled policy is handed: the event as JSON, cut down to the
 * subtrees the policy reads (analysis.ts), written as UTF-8 straight into
 * the module's memory (direct.ts), or into a buffer for the SDK's
 * evaluate() where that path is not offered.
 *
 * Why: @open-policy-agent/opa-wasm takes the input as an object (which it
 * JSON.stringify's and TextEncoder.encode's) or as an ArrayBuffer of JSON
 * (which it copies as it is). For a 1 KB event the whole-event stringify
 * costs more than the evaluation (bench/rego): writing only what the policy
 * can see, where the module reads it, is what makes a decision cheap. A
 * policy cannot tell the difference: a ref it does not make cannot observe
 * a member.
 *
 * The bytes are TextEncoder.encode(JSON.stringify(p)) for the projection p
 * (an object with the read members, in path order), except that strings,
 * keys included, are in the runtime's raw form (InputWriter.string): JSON
 * would make both sides look at every character for the few that need
 * escaping. Our compiler's modules read that form (runtime/json.c); the
 * whole event, which is what a bundle's module gets (its reads are not
 * known), is JSON as it is.
 */
import type { InputUse } from './analysis.js';

/** S in the runtime's raw form (InputWriter.string). */
function rawString(s: string): Uint8Array {
  const b = utf8.encode(s);
  const n = b.length;
  const head = n <= 0xff ? [0x01, n] : [0x02, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24];
  return Uint8Array.of(...head, ...b);
}

interface PathNode {
  key: string;
  /** the key in raw form, then `:` */
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
        n = { key, prefix: Uint8Array.of(...rawString(key), 0x3a) };
        level.push(n);
      }
      if (i < p.length - 1) level = n.kids ??= [];
    });
  }
  return root;
}

const hasOwn = Object.prototype.hasOwnProperty;

/** A member read further down that is a plain object (else it goes whole, as JSON.stringify would write it). image.ts shares it. */
export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function';

/**
 * Writes the input as UTF-8 into a byte array from a given offset: the module's
 * memory on the direct path (direct.ts), or a scratch buffer that is copied
 * out for the SDK's evaluate(). `ensure(end)` returns the target grown to
 * hold [0, end), perhaps as a new array (a Wasm memory that grew).
 */
export class InputWriter {
  private scratch: Uint8Array = new Uint8Array(4096);
  buf: Uint8Array = this.scratch;
  pos = 0;
  private ensure: (end: number) => Uint8Array = (end) => this.growScratch(end);

  /** JSON of `event` cut down by `walk` (undefined: all of it), or `text` as it is, into BUF from AT; returns where it ends. */
  into(buf: Uint8Array, at: number, ensure: (end: number) => Uint8Array, event: object, walk: Walker | undefined, text?: string): number {
    this.buf = buf;
    this.pos = at;
    this.ensure = ensure;
    if (text !== undefined) this.raw(text);
    else if (walk !== undefined && isPlainObject(event)) {
      try {
        walk(event, this, hasOwn, isPlainObject);
      } finally {
        this.slack = 0;
      }
    } else this.json(event);
    this.buf = this.scratch; // keep no reference to a memory that may grow
    return this.pos;
  }

  /** The same, as an ArrayBuffer of exactly its bytes (the SDK copies all of the buffer it is given). */
  toBuffer(event: object, walk: Walker | undefined, text?: string): ArrayBuffer {
    const end = this.into(this.scratch, 0, this.growScratch, event, walk, text);
    return this.scratch.slice(0, end).buffer as ArrayBuffer;
  }

  private readonly growScratch = (end: number): Uint8Array => {
    const next = new Uint8Array(Math.max(this.scratch.length * 2, end));
    next.set(this.scratch.subarray(0, this.pos));
    return (this.scratch = next);
  };

  /**
   * Bytes every write keeps free beyond its own: the generated walk
   * (walker()) reserves its constant bytes (keys, braces, commas) once, and
   * writes them without a check of its own.
   */
  slack = 0;

  room(n: number): void {
    const end = this.pos + n + this.slack;
    if (end > this.buf.length) this.buf = this.ensure(end);
  }

  /** `{`, or `}` */
  byte(b: number): void {
    this.room(1);
    this.buf[this.pos++] = b;
  }

  /** `,` unless first, then the key (raw) and `:` */
  key(first: boolean, prefix: Uint8Array): void {
    const n = prefix.length;
    this.room(n + 1);
    const b = this.buf;
    let p = this.pos;
    if (!first) b[p++] = 0x2c;
    for (let i = 0; i < n; i++) b[p++] = prefix[i]!;
    this.pos = p;
  }

  /**
   * A string in the runtime's raw form (runtime/json.c, parse_raw): 0x01
   * and one length byte, or 0x02 and four (little-endian), then its UTF-8.
   * Nothing is escaped, so nothing needs looking at: short ASCII strings
   * are copied a code unit at a time, the rest by encodeInto (which writes
   * a lone surrogate as U+FFFD, as the runtime's JSON parser reads its \u
   * escape).
   */
  string(s: string): void {
    const n = s.length;
    if (n <= 32) {
      this.room(n + 2);
      const b = this.buf;
      let p = this.pos + 2;
      for (let i = 0; i < n; i++) {
        const c = s.charCodeAt(i);
        if (c >= 0x80) return this.long(s);
        b[p++] = c;
      }
      b[this.pos] = 0x01;
      b[this.pos + 1] = n;
      this.pos = p;
      return;
    }
    this.long(s);
  }

  private long(s: string): void {
    this.room(3 * s.length + 5);
    const b = this.buf;
    const at = this.pos;
    const n = utf8.encodeInto(s, b.subarray(at + 5)).written;
    b[at] = 0x02;
    b[at + 1] = n & 0xff;
    b[at + 2] = (n >>> 8) & 0xff;
    b[at + 3] = (n >>> 16) & 0xff;
    b[at + 4] = n >>> 24;
    this.pos = at + 5 + n;
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
 *
 * The walk keeps the buffer and position in locals and writes its constant
 * bytes (keys, braces, commas: at most `fixed` of them, known here) as
 * plain stores: it reserves them once (InputWriter.slack), and every value
 * it hands to the writer keeps them free beyond its own bytes. Whether an
 * object's members are its own is asked once per object (its prototype is
 * Object.prototype), not once per member.
 */
function walker(tree: readonly PathNode[]): Walker {
  const prefixes: Uint8Array[] = [];
  let vars = 0;
  let fixed = 2; // the outer braces
  // `,` unless first, then the key: as constant stores (a quarter fewer
  // instructions for the walk than copying each key from an array, counted
  // under callgrind), or, for a long key, copied from P
  const keyCode = (first: string, prefix: Uint8Array): string => {
    const n = prefix.length;
    fixed += n + 1;
    if (n > 48) return `if (!${first}) b[p++] = 0x2c; b.set(P[${prefixes.push(prefix) - 1}], p); p += ${n};`;
    const stores = [...prefix].map((x, i) => `b[p + ${i}] = ${x};`).join(' ');
    return `if (!${first}) b[p++] = 0x2c; ${stores} p += ${n};`;
  };
  // a value the writer writes: hand it the position, take back the buffer (it may have grown) and the position
  const leaf = (v: string): string => `w.pos = p; if (typeof ${v} === 'string') w.string(${v}); else w.json(${v}); b = w.buf; p = w.pos;`;
  const object = (o: string, kids: readonly PathNode[]): string => {
    const first = `f${vars++}`;
    const proto = `o${vars++}`;
    fixed += 2;
    const ownCheck = kids.some((k) => !(k.key in Object.prototype));
    let code = `b[p++] = 0x7b; let ${first} = true;${ownCheck ? ` const ${proto} = ${o}.__proto__ === OP;` : ''}\n`;
    for (const k of kids) {
      const v = `v${vars++}`;
      const name = JSON.stringify(k.key);
      const value = k.kids ? `if (plain(${v})) { ${object(v, k.kids)} } else { ${leaf(v)} }` : leaf(v);
      code +=
        `{ const ${v} = ${o}[${name}];\n` +
        // JSON.stringify leaves out undefined, functions and symbols, and writes own members only
        `if (${v} !== undefined && typeof ${v} !== 'function' && typeof ${v} !== 'symbol'${k.key in Object.prototype ? ` && own.call(${o}, ${name})` : ` && (${proto} || own.call(${o}, ${name}))`}) {\n` +
        `${keyCode(first, k.prefix)} ${first} = false;\n${value}\n} }\n`;
    }
    return `${code}b[p++] = 0x7d;\n`;
  };
  const body = object('e', tree);
  const make = new Function(
    'P',
    'OP',
    `return function walk(e, w, own, plain) {\nw.slack = ${fixed}; w.room(0); let b = w.buf; let p = w.pos;\n${body}w.pos = p;\n};`,
  ) as (p: Uint8Array[], op: object) => Walker;
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

  /** The input for EVENT (or its JSON text, when given), into BUF from AT; returns where it ends. */
  into(buf: Uint8Array, at: number, ensure: (end: number) => Uint8Array, event: object, text?: string): number {
    return this.writer.into(buf, at, ensure, event, this.walk, text);
  }

  /** The same, in an ArrayBuffer of its own (for the SDK's evaluate()). */
  project(event: object, text?: string): ArrayBuffer {
    return this.writer.toBuffer(event, this.walk, text);
  }
}
