/**
 * Host builtins: strings, arrays, bits, semantic versions and other small
 * families (OPA v1/topdown), gathered by builtins-js.ts.
 */
import type { BuiltinDecl } from '../compile/builtins.js';
import { bigInt, coll, exact, fail, runes, str, type Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'strings.reverse': { arity: 1 },
  'array.reverse': { arity: 1 },
  'bits.and': { arity: 2, exact: true },
  'bits.or': { arity: 2, exact: true },
  'bits.xor': { arity: 2, exact: true },
  'bits.negate': { arity: 1, exact: true },
  'bits.lsh': { arity: 2, exact: true },
  'bits.rsh': { arity: 2, exact: true },
};

/** a BigInt result as JSON text (exact past 2^53) */
const bigText = (n: bigint): ArrayBuffer => {
  const b = new TextEncoder().encode(n.toString());
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};
const bits = (t: unknown): bigint => bigInt(exact(t));
const shift = (t: unknown): bigint => {
  const n = bits(t);
  return n < 0n ? fail('shift count must be non-negative') : n;
};

export const IMPLS: Record<string, Impl> = {
  'strings.reverse': (s) => runes(str(s)).reverse().join(''),
  'array.reverse': (a) => [...coll(a)].reverse(),
  'bits.and': (a, b) => bigText(bits(a) & bits(b)),
  'bits.or': (a, b) => bigText(bits(a) | bits(b)),
  'bits.xor': (a, b) => bigText(bits(a) ^ bits(b)),
  'bits.negate': (a) => bigText(~bits(a)),
  'bits.lsh': (a, b) => bigText(bits(a) << shift(b)),
  'bits.rsh': (a, b) => bigText(bits(a) >> shift(b)),
};
