/**
 * The input a compiled policy is handed: the event as JSON, cut down to the
 * subtrees the policy reads (analysis.ts), and bytes the SDK can copy
 * without a fresh allocation per call.
 *
 * Why: @open-policy-agent/opa-wasm takes the input as an object (which it
 * JSON.stringify's and TextEncoder.encode's) or as an ArrayBuffer of JSON
 * (which it copies into the module's memory as it is). For a 1 KB event the
 * whole-event stringify and a new ArrayBuffer cost more than the
 * evaluation (bench/rego): serialising only what the policy can see, into a
 * reused buffer, is what makes the decision cheap. A policy cannot tell the
 * difference: a ref it does not make cannot observe a member.
 */
import type { InputUse } from './analysis.js';

interface PathNode {
  key: string;
  /** `"key":` as JSON */
  prefix: string;
  /** members read below this one; undefined: the whole value is read */
  kids?: PathNode[];
}

/** The read paths as a tree (they are minimal: none is a prefix of another). */
function pathTree(paths: readonly string[][]): PathNode[] {
  const root: PathNode[] = [];
  for (const p of paths) {
    let level = root;
    p.forEach((key, i) => {
      let n = level.find((x) => x.key === key);
      if (!n) {
        n = { key, prefix: `${JSON.stringify(key)}:` };
        level.push(n);
      }
      if (i < p.length - 1) level = n.kids ??= [];
    });
  }
  return root;
}

const hasOwn = Object.prototype.hasOwnProperty;

/**
 * JSON of `obj` with only the members in `kids`. A member that is read
 * further down but is not a plain object (an array, a string, null, a value
 * with toJSON) goes whole: its members are not JSON members anyway, and
 * whole is what JSON.stringify of the event would have said.
 */
function writeObject(obj: Record<string, unknown>, kids: readonly PathNode[]): string {
  let s = '{';
  for (let i = 0; i < kids.length; i++) {
    const k = kids[i]!;
    const v = obj[k.key];
    if (v === undefined || !hasOwn.call(obj, k.key)) continue;
    let t: string | undefined;
    if (k.kids !== undefined && v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      t = writeObject(v as Record<string, unknown>, k.kids);
    } else {
      t = JSON.stringify(v);
      if (t === undefined) continue; // a function or a symbol: JSON.stringify leaves the member out too
    }
    s += s.length === 1 ? k.prefix + t : `,${k.prefix}${t}`;
  }
  return `${s}}`;
}

/**
 * A function from event to the JSON text the policy should see: the
 * projection when the policy's reads are known and partial, the whole
 * event otherwise (a bundle's policy.wasm, `input` read whole).
 */
export function inputProjector(use: InputUse | undefined): (event: object) => string {
  if (!use || use.all) return (e) => JSON.stringify(e);
  const tree = pathTree(use.paths);
  return (e) => (e !== null && typeof e === 'object' && !Array.isArray(e) && typeof (e as { toJSON?: unknown }).toJSON !== 'function' ? writeObject(e as Record<string, unknown>, tree) : JSON.stringify(e));
}

/**
 * Reused ArrayBuffers for the input bytes. The SDK copies the whole buffer
 * it is given, so each buffer is filled up with JSON whitespace after the
 * text (our runtime's parser skips trailing whitespace, as JSON allows):
 * sizes are rounded up to a class (at most 1/8 larger, at least 64 bytes)
 * so that a handful of buffers serve every event. Only for modules built by
 * our compiler; texts past MAX_POOLED get a buffer of their own.
 */
const MAX_POOLED = 1 << 16;
const SPACE = 0x20;

export class InputBuffers {
  private readonly pool = new Map<number, Uint8Array>();
  private readonly encoder = new TextEncoder();

  /** The class size for n bytes: n rounded up to 1/8 of its power of two, and to 64. */
  static classOf(n: number): number {
    const step = Math.max(64, 2 ** Math.floor(Math.log2(Math.max(n, 1))) / 8);
    return Math.ceil(Math.max(n, 1) / step) * step;
  }

  /** The bytes of `text` (UTF-8), padded with spaces to a class size; the buffer is reused by the next call. */
  bytes(text: string): ArrayBuffer {
    // UTF-8 is at least as long as the UTF-16 length; try the class of that first (ASCII: always fits)
    if (text.length <= MAX_POOLED) {
      const buf = this.buffer(InputBuffers.classOf(text.length));
      const r = this.encoder.encodeInto(text, buf);
      if (r.read === text.length) {
        buf.fill(SPACE, r.written);
        return buf.buffer as ArrayBuffer;
      }
    }
    const u8 = this.encoder.encode(text);
    if (u8.byteLength <= MAX_POOLED) {
      const buf = this.buffer(InputBuffers.classOf(u8.byteLength));
      buf.set(u8);
      buf.fill(SPACE, u8.byteLength);
      return buf.buffer as ArrayBuffer;
    }
    return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? (u8.buffer as ArrayBuffer) : (u8.slice().buffer as ArrayBuffer);
  }

  private buffer(size: number): Uint8Array {
    let b = this.pool.get(size);
    if (!b) {
      b = new Uint8Array(size);
      this.pool.set(size, b);
    }
    return b;
  }
}
