/**
 * What every host builtin family (engine/policy/builtins/*.ts, gathered by
 * builtins-js.ts) shares: the implementation type, the error that makes a
 * call undefined (OPA's non-strict mode), and operand checks.
 */

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Impl = (...args: any[]) => unknown;

/** A builtin's error: the call is undefined (customBuiltins catches it). */
export class BuiltinError extends Error {}

export const fail = (msg: string): never => {
  throw new BuiltinError(msg);
};

export const str = (v: unknown): string => (typeof v === 'string' ? v : fail('operand must be a string'));
export const num = (v: unknown): number => (typeof v === 'number' ? v : fail('operand must be a number'));
export const int = (v: unknown): number => (Number.isInteger(v) ? (v as number) : fail('operand must be an integer'));
export const coll = (v: unknown): unknown[] => (Array.isArray(v) ? v : fail('operand must be an array or set'));
export const obj = (v: unknown): Record<string, unknown> =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : fail('operand must be an object');
export const runes = (s: string): string[] => [...s];

/** Whether F returns without a builtin error (the `is_valid` builtins). */
export function succeeds(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch {
    return false;
  }
}

/**
 * A builtin busted declines: a policy decides on kernel events, in the
 * agent's event loop, and must not wait on the network. The evaluation fails
 * (an error event, never a silent allow), thrown as the runtime's aborts are
 * (opa_abort: a string); a test mocks the builtin.
 */
export function declined(name: string, what = 'makes no network calls'): never {
  throw `${name} is not available in busted: a policy deciding on kernel events ${what} (mock it in tests: with ${name} as …)`;
}

/** A result as JSON text: the SDK parses it in the module, so integers past 2^53 stay exact. */
export const jsonText = (text: string): ArrayBuffer => {
  const b = new TextEncoder().encode(text);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
};

/** A number no double holds (2e308): its text, as OPA keeps it. */
export class NumberText {
  constructor(readonly text: string) {}
}

/** A set among an exact operand's values (an array is a JS array). */
export class RegoSet {
  constructor(readonly items: Exact[]) {}
}

/**
 * An operand of an `exact` builtin (compile/builtins.ts), which arrives as
 * its Rego text (runtime busted_value_text, opa_value_dump): integers that a
 * double cannot hold as BigInt, every other number as a number, sets as
 * RegoSet. An object key that is not a string is refused.
 */
export type Exact = null | boolean | number | bigint | string | NumberText | RegoSet | Exact[] | { [k: string]: Exact };

/** A JSON number where it starts (sticky: read in place, of any length). */
const NUMBER = /-?\d+(\.\d+)?([eE][+-]?\d+)?/y;

export function exact(text: unknown): Exact {
  const s = str(text);
  let i = 0;
  const ws = (): void => {
    while (i < s.length && (s[i] === ' ' || s[i] === '\n' || s[i] === '\t' || s[i] === '\r')) i++;
  };
  const expect = (c: string): void => {
    ws();
    if (s[i++] !== c) fail('bad operand text');
  };
  /** the items of a list up to `close`, the first already read */
  const rest = (first: Exact, close: string): Exact[] => {
    const items = [first];
    for (;;) {
      ws();
      if (s[i] === ',') i++, items.push(value());
      else return expect(close), items;
    }
  };
  const value = (): Exact => {
    ws();
    const c = s[i];
    if (c === '{') {
      i++;
      ws();
      if (s[i] === '}') return i++, {};
      const first = value();
      ws();
      if (s[i] !== ':') return new RegoSet(rest(first, '}'));
      const o: { [k: string]: Exact } = {};
      let k = first;
      for (;;) {
        if (typeof k !== 'string') fail('object key must be a string');
        expect(':');
        Object.defineProperty(o, k as string, { value: value(), enumerable: true, writable: true, configurable: true });
        ws();
        if (s[i] === '}') return i++, o;
        expect(',');
        k = value();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (s[i] === ']') return i++, [];
      return rest(value(), ']');
    }
    if (c === '"') {
      const start = i++;
      while (i < s.length && s[i] !== '"') i += s[i] === '\\' ? 2 : 1;
      i++;
      return JSON.parse(s.slice(start, i)) as string;
    }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(s);
    if (m) {
      i += m[0].length;
      if (m[1] === undefined && m[2] === undefined) {
        const n = Number(m[0]);
        return Number.isSafeInteger(n) ? n : BigInt(m[0]);
      }
      const n = Number(m[0]);
      return Number.isFinite(n) ? n : new NumberText(m[0]);
    }
    for (const [w, v] of [['true', true], ['false', false], ['null', null], ['set()', new RegoSet([])]] as const) {
      if (s.startsWith(w, i)) return (i += w.length), v;
    }
    return fail('bad operand text');
  };
  const v = value();
  ws();
  return i === s.length ? v : fail('bad operand text');
}

/** Deep equality of exact values (a set's items come in the runtime's order, so item by item). */
export function exactEqual(a: Exact, b: Exact): boolean {
  if ((typeof a === 'number' || typeof a === 'bigint') && (typeof b === 'number' || typeof b === 'bigint')) {
    return typeof a === typeof b ? a === b : Number(a) === Number(b) && (typeof a === 'number' ? Number.isInteger(a) : Number.isInteger(b));
  }
  if (a instanceof NumberText || b instanceof NumberText) return a instanceof NumberText && b instanceof NumberText && a.text === b.text;
  if (a instanceof RegoSet || b instanceof RegoSet) return a instanceof RegoSet && b instanceof RegoSet && a.items.length === b.items.length && a.items.every((x) => b.items.some((y) => exactEqual(x, y)));
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => exactEqual(x, b[i]!));
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && exactEqual((a as Record<string, Exact>)[k]!, (b as Record<string, Exact>)[k]!));
  }
  return a === b;
}

/** An exact value as Rego text (opa_value_parse reads it: a `value` builtin's answer), sets as sets. */
export function exactText(v: Exact): string {
  if (v instanceof RegoSet) return v.items.length ? `{${v.items.map(exactText).join(',')}}` : 'set()';
  if (Array.isArray(v)) return `[${v.map(exactText).join(',')}]`;
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof NumberText) return v.text;
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : fail('not a finite number');
  if (v !== null && typeof v === 'object') return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${exactText(x)}`).join(',')}}`;
  return JSON.stringify(v);
}

/** An exact value as JSON text, sets as arrays (what a module opa build made reads back). */
export function exactJSON(v: Exact): string {
  if (v instanceof RegoSet) return exactJSON(v.items);
  if (Array.isArray(v)) return `[${v.map(exactJSON).join(',')}]`;
  if (v !== null && typeof v === 'object' && !(v instanceof NumberText)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}:${exactJSON(x)}`).join(',')}}`;
  return exactText(v);
}

/** An exact operand that must be an integer: as a BigInt. */
export function bigInt(v: Exact): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  return fail('operand must be an integer');
}

/** Code-unit order equals Go's byte order except across surrogates; fine for keys seen in policies. */
export function byteCompare(a: string, b: string): number {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return Buffer.compare(x, y);
}

/**
 * Go's json.Marshal of an OPA value: sorted keys, compact, HTML characters
 * escaped. Exact values too: big integers and a number's text as they are,
 * a set as its items (in the runtime's order, OPA's order of values).
 */
export function goJSON(v: unknown): string {
  if (v instanceof RegoSet) return goJSON(v.items);
  if (typeof v === 'bigint' || v instanceof NumberText) return exactText(v);
  if (Array.isArray(v)) return `[${v.map(goJSON).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort(byteCompare)
      .map((k) => `${goJSON(k)}:${goJSON(o[k])}`)
      .join(',')}}`;
  }
  if (typeof v === 'string') {
    return JSON.stringify(v).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  return JSON.stringify(v);
}

/**
 * Values that hold for one evaluation, as OPA keeps them per query: the
 * clock (time.now_ns, and io.jwt.decode_verify without a time), and
 * rand.intn's and uuid.rfc4122's draws for the same operands. An evaluation
 * is synchronous: they last until the next one starts (newEvaluation), and
 * at most until the next microtask.
 */
let evaluation: Map<string, unknown> | undefined;

/** KEY's value in this evaluation, made by MAKE the first time. */
export function perEvaluation<T>(key: string, make: () => T): T {
  if (evaluation === undefined) {
    evaluation = new Map();
    queueMicrotask(() => (evaluation = undefined));
  }
  if (!evaluation.has(key)) evaluation.set(key, make());
  return evaluation.get(key) as T;
}

/** The evaluation's time in nanoseconds. */
export const evaluationNowNs = (): bigint => perEvaluation('now', () => BigInt(Date.now()) * 1_000_000n);

/** A new evaluation begins: the clock is read again, draws are drawn again. */
export function newEvaluation(): void {
  evaluation = undefined;
}
