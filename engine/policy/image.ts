/**
 * The input as the runtime's own values (runtime/abi.h), written by the
 * host straight into the module's memory: an image the module takes as it
 * is, where JSON (even busted's raw-string JSON, project.ts) has to be
 * parsed, value by value, into the same structures on every evaluation.
 *
 * Why: parsing the projected input was an eighth of a decision's time
 * (bench/rego). Writing a value here costs the host about what writing its
 * JSON did, and the keys of the projection (every member the policy reads)
 * are laid out once, in a block that is copied in whole just below the
 * image. Where the runtime offers its host arena (runtime/json.c, static
 * memory only the host writes), the keys block lives there, laid once, and
 * so does the string or number last written at each leaf of the walk: an
 * event whose member holds the same value as the event before's (`===`)
 * points at it instead of writing it again (keep()).
 *
 * Only the direct path (direct.ts) writes images: it knows where the input
 * lands, and the pointers in an image are absolute. Only modules our
 * compiler built read them (runtime/json.c, rt_input_parse); a bundle's
 * policy.wasm gets JSON, as before.
 *
 * Layout, every structure 4-byte aligned (the runtime reads with wasm's
 * unaligned-tolerant loads; the host writes through a Uint32Array):
 *   arena count: the host arena's first word (8 bytes with its padding):
 *                one more each time a writer begins the arena again
 *                (runtime/eval.c keys rule values by kept addresses while
 *                it stays)
 *   keys block:  null, false, true, then each key of the projection as a
 *                string_t with its bytes (in the host arena after its
 *                count, or just below the image)
 *   kept values: after the keys block in the host arena, until half of
 *                it is used; then begun again before an image
 *   image:       header (magic, root, path table, its length: u32 each),
 *                the path table (the value at each input path of the
 *                module's path table, by id: 0 undefined, 1 not filled
 *                in), then the values
 *   string_t     u8 type=4, u32 len @4, u32 ptr @8, its UTF-8 after it
 *   number_t     u8 type=3, u8 repr @1 (1 int, 2 text), u32 len @4,
 *                u32 text @8, i64 @16 (24 bytes; text after it)
 *   array_t      u8 type=5, u32 len @4, u32 cap @8, u32 elems @12
 *   object_t     u8 type=6, u32 len @4, u32 cap @8, u32 kvs @12; kvs are
 *                (key, value) pointer pairs sorted by the key's bytes
 */
import type { InputUse } from './analysis.js';
import { isPlainObject } from './project.js';
import { V_ARRAY, V_BOOLEAN, V_NULL, V_NUMBER, V_OBJECT, V_STRING } from './runtime/values.js';


/** runtime/json.c IMAGE_MAGIC: 0x03 (no JSON text starts with a control byte), then "bi1". */
export const IMAGE_MAGIC = 0x31696203;

const utf8 = new TextEncoder();

/** runtime/json.c MAX_DEPTH: the runtime recurses over values (compare, dump) on a bounded stack. */
const MAX_DEPTH = 1000;

/**
 * An event nested deeper than the runtime takes (its root is at depth 1).
 * The caller hands that event over as JSON instead, which the module
 * refuses with its own error, as it would any such input.
 */
export class TooDeep extends Error {
  constructor() {
    super(`the input is nested more than ${MAX_DEPTH} levels deep`);
  }
}
const hasOwn = Object.prototype.hasOwnProperty;

/**
 * The longest string kept in the host's arena for the next image. Names,
 * paths, addresses and models repeat from one event to the next (the same
 * process, connection, provider); a prompt mostly does not.
 */
const KEEP_MAX = 512;
/** the host arena's first word counts the times it was begun again (runtime/abi.h); the keys follow */
const ARENA_HEAD = 8;
/** What a leaf remembers when it kept nothing: no member's value is ever this object. */
const NOT_KEPT: unknown = Object.freeze({});
const align4 = (n: number): number => (n + 3) & ~3;
/** the most a string_t of N code units takes: its header, 3 bytes a code unit, the last word's padding */
const strRoom = (n: number): number => 16 + 3 * n;
/** the most a number_t takes: 24 bytes, and its text (at most 25 bytes) */
const NUM_ROOM = 24 + 32;

/** Byte order of UTF-8 (the runtime's key order): JavaScript's order of UTF-16 code units differs only from U+D800 up. */
function sortKeys(keys: string[]): string[] {
  if (!keys.some((k) => /[\ud800-\uffff]/.test(k))) return keys.sort();
  const enc = keys.map((k, i) => ({ k, b: utf8.encode(k), i }));
  // stable: keys that encode alike (lone surrogates are U+FFFD both) keep their order, and the last wins below
  enc.sort((x, y) => Buffer.compare(x.b, y.b) || x.i - y.i);
  const out: string[] = [];
  enc.forEach((x, j) => {
    if (j + 1 < enc.length && Buffer.compare(x.b, enc[j + 1]!.b) === 0) return;
    out.push(x.k);
  });
  return out;
}

interface Node {
  key: string;
  /** its string_t's offset in the keys block */
  at: number;
  kids?: Node[];
  /** its path's id in the module's path table, when it has one */
  id?: number;
}

/** The path table ids in and below NODES. */
const idsIn = (nodes: readonly Node[]): number[] => nodes.flatMap((n) => [...(n.id === undefined ? [] : [n.id]), ...idsIn(n.kids ?? [])]);

/** Writes values in the runtime's layout from `pos`, growing the memory through `ensure`. */
export class ImageWriter {
  u8: Uint8Array = new Uint8Array(0);
  u32: Uint32Array = new Uint32Array(0);
  /** the same bytes as a Buffer, for its UTF-8 writer */
  private buf: Buffer = Buffer.alloc(0);
  pos = 0;
  /** where null, false and true are (the keys block) */
  nul = 0;
  no = 0;
  yes = 0;
  private ensure: (end: number) => Uint8Array = () => this.u8;
  /** the host's arena (runtime/json.c): where kept values go, from apos up to arenaEnd */
  apos = 0;
  arenaEnd = 0;

  start(u8: Uint8Array, pos: number, ensure: (end: number) => Uint8Array): void {
    this.ensure = ensure;
    if (u8 !== this.u8 || u8.length !== this.u32.length << 2) this.views(u8);
    this.pos = align4(pos);
  }

  private views(u8: Uint8Array): void {
    if (u8.byteOffset !== 0) throw new Error('image: the target must view its buffer from 0');
    this.u8 = u8;
    this.u32 = new Uint32Array(u8.buffer, 0, u8.length >>> 2);
    this.buf = Buffer.from(u8.buffer, 0, u8.length);
  }

  /** Room for N more bytes from pos. */
  room(n: number): void {
    const end = this.pos + n;
    if (end > this.u8.length) {
      const next = this.ensure(end);
      if (next !== this.u8 || next.length !== this.u32.length << 2) this.views(next);
    }
  }

  /** A string_t for S; its address. */
  str(s: string): number {
    const n = s.length;
    this.room(strRoom(n));
    const at = this.pos;
    let len = n;
    // short ASCII four code units to a word (the bytes past the end are the
    // padding); the rest by Buffer's UTF-8 writer, whose call costs what
    // ~30 bytes of the loop do (and ~10 ns less than TextEncoder.encodeInto's)
    if (n <= 32) {
      const u = this.u32;
      let w = (at + 12) >>> 2;
      for (let i = 0; i < n; i += 4) {
        const c0 = s.charCodeAt(i);
        const c1 = i + 1 < n ? s.charCodeAt(i + 1) : 0;
        const c2 = i + 2 < n ? s.charCodeAt(i + 2) : 0;
        const c3 = i + 3 < n ? s.charCodeAt(i + 3) : 0;
        if ((c0 | c1 | c2 | c3) >= 0x80) {
          len = this.buf.write(s, at + 12);
          break;
        }
        u[w++] = c0 | (c1 << 8) | (c2 << 16) | (c3 << 24);
      }
    } else len = this.buf.write(s, at + 12);
    const w = at >>> 2;
    const u = this.u32;
    u[w] = V_STRING;
    u[w + 1] = len;
    u[w + 2] = at + 12;
    this.pos = align4(at + 12 + len);
    return at;
  }

  /**
   * V, a member's value at leaf J, written where it is kept for the next
   * image (the host's arena) when it is a string of at most KEEP_MAX code
   * units or a finite number, and there is room: C[J] and A[J] then say
   * what and where it is. Anything else as value() writes it, not kept.
   */
  keep(v: unknown, d: number, c: unknown[], a: Uint32Array, j: number): number {
    const t = typeof v;
    if ((t === 'string' && (v as string).length <= KEEP_MAX) || (t === 'number' && Number.isFinite(v))) {
      const need = t === 'string' ? strRoom((v as string).length) : NUM_ROOM;
      if (this.apos + need <= this.arenaEnd) {
        const heap = this.pos;
        this.pos = this.apos;
        const at = t === 'string' ? this.str(v as string) : this.num(v as number);
        this.apos = this.pos;
        this.pos = heap;
        c[j] = v;
        a[j] = at;
        return at;
      }
    }
    c[j] = NOT_KEPT;
    return this.value(v, d);
  }

  /**
   * A number_t for V (finite); its address: what the runtime's parser makes
   * of JSON.stringify's text for it. An integer literal that fits in an i64
   * as that integer, the rest as its text.
   */
  num(v: number): number {
    this.room(NUM_ROOM);
    const at = this.pos;
    const w = at >>> 2;
    const u = this.u32;
    if (Number.isSafeInteger(v)) {
      const hi = Math.floor(v / 4294967296);
      u[w] = V_NUMBER | (1 << 8);
      u[w + 1] = 0;
      u[w + 2] = 0;
      u[w + 3] = 0;
      u[w + 4] = (v - hi * 4294967296) >>> 0;
      u[w + 5] = hi >>> 0;
      this.pos = at + 24;
      return at;
    }
    const t = String(v); // JSON.stringify(v) for a finite number: ASCII, at most 25 bytes
    // as runtime/json.c parse_number reads that text: an integer literal that fits in
    // an i64 is one (2^60 is written 1152921504606847000, and is that number, exactly)
    if (/^-?\d+$/.test(t)) {
      const i = BigInt(t);
      if (i >= -(2n ** 63n) && i < 2n ** 63n) {
        const x = BigInt.asUintN(64, i);
        u[w] = V_NUMBER | (1 << 8);
        u[w + 1] = 0;
        u[w + 2] = 0;
        u[w + 3] = 0;
        u[w + 4] = Number(x & 0xffffffffn);
        u[w + 5] = Number(x >> 32n);
        this.pos = at + 24;
        return at;
      }
    }
    const b = this.u8;
    for (let i = 0; i < t.length; i++) b[at + 24 + i] = t.charCodeAt(i);
    u[w] = V_NUMBER | (2 << 8);
    u[w + 1] = t.length;
    u[w + 2] = at + 24;
    u[w + 3] = 0;
    u[w + 4] = 0;
    u[w + 5] = 0;
    this.pos = align4(at + 24 + t.length);
    return at;
  }

  /** An object_t for at most N members, its kvs after it; its address (fill with kv(), close with len()). */
  obj(n: number): number {
    this.room(16 + 8 * n);
    const at = this.pos;
    const w = at >>> 2;
    const u = this.u32;
    u[w] = V_OBJECT;
    u[w + 1] = 0;
    u[w + 2] = n;
    u[w + 3] = at + 16;
    this.pos = at + 16 + 8 * n;
    return at;
  }

  kv(obj: number, i: number, key: number, value: number): void {
    const w = (obj + 16 + 8 * i) >>> 2;
    this.u32[w] = key;
    this.u32[w + 1] = value;
  }

  len(obj: number, n: number): void {
    this.u32[(obj >>> 2) + 1] = n;
  }

  /** Any value at depth D (the root is 1), as JSON.stringify then JSON.parse would give it (undefined and the like: null). */
  value(v: unknown, d: number): number {
    if (d > MAX_DEPTH) throw new TooDeep();
    switch (typeof v) {
      case 'string':
        return this.str(v);
      case 'number':
        return Number.isFinite(v) ? this.num(v) : this.nul;
      case 'boolean':
        return v ? this.yes : this.no;
      case 'object':
        if (v === null) return this.nul;
        if (Array.isArray(v)) return this.array(v, d);
        // an object as JSON.stringify writes its members: not a boxed primitive, a Date (toJSON) or a Map
        if (isPlainObject(v)) {
          const proto = Object.getPrototypeOf(v) as unknown;
          if (proto === Object.prototype || proto === null) return this.object(v, d);
        }
        break;
      case 'bigint':
        JSON.stringify(v); // throws, as JSON.stringify of the event would
        break;
      default:
        return this.nul;
    }
    // toJSON, boxed primitives, class instances: what JSON makes of them
    const j = JSON.stringify(v);
    return j === undefined ? this.nul : this.value(JSON.parse(j), d);
  }

  private array(a: unknown[], d: number): number {
    const n = a.length;
    this.room(16 + 4 * n);
    const at = this.pos;
    const w = at >>> 2;
    let u = this.u32;
    u[w] = V_ARRAY;
    u[w + 1] = n;
    u[w + 2] = n;
    u[w + 3] = at + 16;
    this.pos = at + 16 + 4 * n;
    for (let i = 0; i < n; i++) {
      const x = a[i];
      // JSON.stringify writes null for these in an array
      const v = this.value(x === undefined || typeof x === 'function' || typeof x === 'symbol' ? null : x, d + 1);
      u = this.u32;
      u[w + 4 + i] = v;
    }
    return at;
  }

  private object(o: Record<string, unknown>, d: number): number {
    const keys: string[] = [];
    for (const k of Object.keys(o)) {
      const x = o[k];
      if (x !== undefined && typeof x !== 'function' && typeof x !== 'symbol') keys.push(k);
    }
    const sorted = sortKeys(keys);
    const at = this.obj(sorted.length);
    sorted.forEach((k, i) => {
      const key = this.str(k);
      this.kv(at, i, key, this.value(o[k], d + 1));
    });
    this.len(at, sorted.length);
    return at;
  }
}

type Walk = (
  e: object,
  w: ImageWriter,
  keys: number,
  table: number,
  own: typeof hasOwn,
  kept: unknown[],
  keptAt: Uint32Array,
) => number;

/**
 * The walk over an event as code, as project.ts's walker: one property
 * read per read member, by its literal name, members in the runtime's key
 * order. Returns the root object's address.
 */
function imageWalker(tree: readonly Node[]): { walk: Walk; leaves: number } {
  let vars = 0;
  let leaves = 0;
  const object = (o: string, kids: readonly Node[], out: string, depth: number): string => {
    const obj = `b${vars++}`;
    const n = `n${vars++}`;
    const proto = `o${vars++}`;
    const ownCheck = kids.some((k) => !(k.key in Object.prototype));
    // obj() written out too
    const size = 16 + 8 * kids.length;
    let code =
      `if (w.pos + ${size} > w.u8.length) w.room(${size}); const ${obj} = w.pos; w.pos = ${obj} + ${size}; let ${n} = 0;` +
      ` { const u = w.u32, q = ${obj} >>> 2; u[q] = ${V_OBJECT}; u[q + 2] = ${kids.length}; u[q + 3] = ${obj} + 16; }` +
      `${ownCheck ? ` const ${proto} = ${o}.__proto__ === OP;` : ''}\n`;
    for (const k of kids) {
      const v = `v${vars++}`;
      const x = `x${vars++}`;
      const name = JSON.stringify(k.key);
      // a member with members read below it that is not a plain object is
      // written whole (as JSON would have it): the table's paths below it
      // are left to the module to look up (1)
      const below = k.kids ? idsIn(k.kids) : [];
      const own = k.key in Object.prototype ? `own.call(${o}, ${name})` : `(${proto} || own.call(${o}, ${name}))`;
      // kv() written out: the walk is past what V8 inlines, and a call per member cost a tenth of an image
      const put = `{ const u = w.u32, q = (${obj} >>> 2) + 4 + 2 * ${n}++; u[q] = K + ${k.at}; u[q + 1] = ${x};${k.id === undefined ? '' : ` u[T + ${k.id}] = ${x};`} }`;
      if (k.kids) {
        // isPlainObject() written out
        const value = `let ${x}; if (${v} !== null && typeof ${v} === 'object' && !Array.isArray(${v}) && typeof ${v}.toJSON !== 'function') { ${object(v, k.kids, x, depth + 1)} } else { ${x} = w.value(${v}, ${depth + 1}); ${below.map((id) => `w.u32[T + ${id}] = 1;`).join(' ')} }`;
        code +=
          `{ const ${v} = ${o}[${name}];\n` +
          // JSON.stringify leaves out undefined, functions and symbols, and writes own members only
          `if (${v} !== undefined && typeof ${v} !== 'function' && typeof ${v} !== 'symbol' && ${own}) {\n` +
          `${value} ${put}\n} }\n`;
      } else {
        // the value kept at this leaf (a string or a number, never NOT_KEPT): as it is
        const j = leaves++;
        code +=
          `{ const ${v} = ${o}[${name}];\n` +
          `if (${v} === C[${j}] && ${own}) { const ${x} = A[${j}]; ${put} }\n` +
          `else if (${v} !== undefined && typeof ${v} !== 'function' && typeof ${v} !== 'symbol' && ${own}) {\n` +
          `const ${x} = w.keep(${v}, ${depth + 1}, C, A, ${j}); ${put}\n} }\n`;
      }
    }
    return `${code}w.u32[(${obj} >>> 2) + 1] = ${n}; ${out} = ${obj};\n`;
  };
  const body = object('e', tree, 'root', 1);
  const make = new Function('OP', `return function walk(e, w, K, T, own, C, A) {\nlet root;\n${body}return root;\n};`) as (op: object) => Walk;
  return { walk: make(Object.prototype), leaves };
}

/**
 * Writes images of events for a policy that reads PATHS (InputUse.paths,
 * its reads known and partial).
 */
export class ImageProjector {
  private readonly walk: Walk;
  /** the keys block's bytes, laid out from 0 (its pointers relative to it) */
  private readonly keyStrings: Array<{ at: number; bytes: Uint8Array }> = [];
  private readonly keysSize: number;
  private readonly writer = new ImageWriter();
  /** the keys block as laid out for the address keysAt */
  private keysBlock = new Uint8Array(0);
  private keysAt = -1;
  /** the last value written at each leaf of the walk, when kept in the arena, and its address */
  private readonly kept: unknown[];
  private readonly keptAt: Uint32Array;
  /** the host's arena: the keys block at its start, then kept values; undefined: none, or too small for the keys */
  private readonly arena: { at: number; size: number } | undefined;

  constructor(use: InputUse, arena?: { at: number; size: number }) {
    // null (4), false (4), true (4), then the keys
    let size = 12;
    const intern = new Map<string, number>();
    const key = (k: string): number => {
      let at = intern.get(k);
      if (at === undefined) {
        const bytes = utf8.encode(k);
        at = size;
        this.keyStrings.push({ at, bytes });
        intern.set(k, at);
        size = align4(size + 12 + bytes.length);
      }
      return at;
    };
    const tree: Node[] = [];
    for (const p of use.paths) {
      let level = tree;
      p.forEach((k, i) => {
        let n = level.find((x) => x.key === k);
        if (!n) level.push((n = { key: k, at: key(k) }));
        if (i < p.length - 1) level = n.kids ??= [];
      });
    }
    const order = (level: Node[]): Node[] => {
      const byKey = new Map(level.map((n) => [n.key, n]));
      const sorted = sortKeys(level.map((n) => n.key)).map((k) => byKey.get(k)!);
      for (const n of sorted) if (n.kids) n.kids = order(n.kids);
      return sorted;
    };
    // the module's path table: the ids of paths the walk writes start out
    // undefined (0) and are filled in as it writes them; any other (a path
    // below a member read whole, a data path) is the module's to look up (1)
    const ids = new Map<string, number>();
    (use.tabled ?? []).forEach((p, id) => {
      if (Array.isArray(p)) ids.set(JSON.stringify(p), id);
    });
    const number = (level: Node[], above: string[]): void => {
      for (const n of level) {
        const path = [...above, n.key];
        n.id = ids.get(JSON.stringify(path));
        if (n.kids) number(n.kids, path);
      }
    };
    number(tree, []);
    this.table = new Uint32Array(use.tabled?.length ?? 0).fill(1);
    for (const id of idsIn(tree)) this.table[id] = 0;
    this.keysSize = size;
    const { walk, leaves } = imageWalker(order(tree));
    this.walk = walk;
    this.kept = new Array<unknown>(leaves).fill(NOT_KEPT);
    this.keptAt = new Uint32Array(leaves);
    // room for the keys and a few events' values, or none kept
    this.arena = arena && arena.at % 4 === 0 && ARENA_HEAD + size * 2 <= arena.size ? arena : undefined;
  }

  /** the path table an image starts from (see the constructor) */
  private readonly table: Uint32Array;

  /**
   * The image of EVENT in U8 (the module's memory, viewed from 0) from AT:
   * the keys block, then the header and the values. Returns the input's
   * address (the header) and where the image ends.
   *
   * The keys block is copied in whole each time (one copy of a few hundred
   * bytes, made once for its address): the SDK's own evaluate() writes its
   * input and its heap where the block lies, so a block written once could
   * have been overwritten anywhere, which no stamp at its start would show.
   */
  write(u8: Uint8Array, at: number, ensure: (end: number) => Uint8Array, event: object): { input: number; end: number } {
    const w = this.writer;
    w.start(u8, at, ensure);
    let keys: number;
    const arena = this.arena;
    if (arena) {
      // the keys block at the arena's start (after its count), laid once;
      // the values kept after it, all forgotten once they fill half of it
      keys = arena.at + ARENA_HEAD;
      const used = w.apos - keys;
      if (this.keysAt !== keys || used < this.keysSize || used > (arena.size - ARENA_HEAD) >>> 1) {
        // the runtime keeps rule values keyed by kept values' addresses
        // (eval.c busted_ikept_*) while this count stays: one more, for
        // every writer of this arena
        const g = arena.at >>> 2;
        w.u32[g] = (w.u32[g]! + 1) >>> 0;
        this.putKeys(keys);
        w.apos = keys + this.keysSize;
        w.arenaEnd = arena.at + arena.size;
        this.kept.fill(NOT_KEPT);
      }
    } else {
      keys = w.pos;
      w.room(this.keysSize + 8);
      this.putKeys(keys);
      w.pos = keys + this.keysSize;
    }
    w.nul = keys;
    w.no = keys + 4;
    w.yes = keys + 8;
    const input = w.pos;
    const n = this.table.length;
    const table = input + 16;
    w.room(16 + 4 * n);
    w.u32.set(this.table, table >>> 2);
    w.pos = table + 4 * n;
    let root: number;
    let tabled = n;
    if (isPlainObject(event)) root = this.walk(event, w, keys, table >>> 2, hasOwn, this.kept, this.keptAt);
    else {
      root = w.value(event, 1);
      tabled = 0; // not an object: the module looks every path up (and finds nothing)
    }
    const h = input >>> 2;
    const u = w.u32;
    u[h] = IMAGE_MAGIC;
    u[h + 1] = root;
    u[h + 2] = table;
    u[h + 3] = tabled;
    return { input, end: w.pos };
  }

  /** The keys block copied in at KEYS, laid out for that address first if it is not. */
  private putKeys(keys: number): void {
    if (this.keysAt !== keys) this.layKeys(keys);
    this.writer.u8.set(this.keysBlock, keys);
  }

  /** The keys block's bytes for the address KEYS. */
  private layKeys(keys: number): void {
    const b = new Uint8Array(this.keysSize);
    const u = new Uint32Array(b.buffer);
    u[0] = V_NULL;
    u[1] = V_BOOLEAN; // v = 0
    u[2] = V_BOOLEAN | (1 << 8);
    for (const { at, bytes } of this.keyStrings) {
      u[at >>> 2] = V_STRING;
      u[(at >>> 2) + 1] = bytes.length;
      u[(at >>> 2) + 2] = keys + at + 12;
      b.set(bytes, at + 12);
    }
    this.keysBlock = b;
    this.keysAt = keys;
  }
}
