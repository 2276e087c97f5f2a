/**
 * Go's fmt (fmt/print.go, format.go, strconv) over the values OPA hands to
 * Go: Rego's sprintf (builtins-js.ts) and printf in templates
 * (template.ts) both format with it. The values are modelled as Go sees
 * them: int and *big.Int, float64, string, encoding/json's Number, maps
 * and slices of interface{}.
 */
import { byteCompare, fail, NumberText, type Exact } from './common.js';

/* ============================================================ Go values */

/** Go's invalid reflect.Value: a missing map key, or nil once a pipeline ends. Prints `<no value>`. */
export const MISSING = Symbol('missing');
/** encoding/json's Number: a string type whose value is the number's text */
export class JsonNumber {
  constructor(readonly text: string) {}
}
/** An integer the template makes: a constant or len (int), a string's byte (uint8), json.Number.Int64 (int64) */
export class GoInt {
  constructor(
    readonly type: 'int' | 'int64' | 'uint8' | '*big.Int',
    readonly v: bigint,
  ) {}
}
/** A float64 constant, or json.Number.Float64 */
export class GoFloat {
  constructor(readonly v: number) {}
}
/** map[string]interface{} */
export class GoMap {
  constructor(readonly m: Map<string, Val>) {}
}
/** A value the template sees; null is a nil interface{} (a JSON null, an index past a map's keys) */
export type Val = typeof MISSING | null | boolean | string | JsonNumber | GoInt | GoFloat | GoMap | Val[];

export const INT64_MIN = -(1n << 63n);
export const INT64_MAX = (1n << 63n) - 1n;
export const UINT64_MAX = (1n << 64n) - 1n;

export const goInt = (v: bigint | number): GoInt => new GoInt('int', BigInt(v));

export function typeName(v: Val): string {
  if (v === MISSING || v === null) return '<nil>';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'string') return 'string';
  if (v instanceof JsonNumber) return 'json.Number';
  if (v instanceof GoInt) return v.type;
  if (v instanceof GoFloat) return 'float64';
  if (v instanceof GoMap) return 'map[string]interface {}';
  return '[]interface {}';
}

/** Of Go's string kind: string and json.Number */
export const stringKind = (v: Val): v is string | JsonNumber => typeof v === 'string' || v instanceof JsonNumber;
export const textOf = (v: string | JsonNumber): string => (typeof v === 'string' ? v : v.text);
export const utf8 = (s: string): Buffer => Buffer.from(s, 'utf8');

/** Map keys in Go's order (fmtsort): bytewise. */
export const sortedKeys = (m: GoMap): string[] => [...m.m.keys()].sort(byteCompare);

/* ============================================================ fmt */

interface Flags {
  plus: boolean;
  minus: boolean;
  sharp: boolean;
  space: boolean;
  zero: boolean;
  wid?: number;
  prec?: number;
}
export const NO_FLAGS: Flags = { plus: false, minus: false, sharp: false, space: false, zero: false };

/** unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space */
export const isPrint = (c: string): boolean => c === ' ' || /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u.test(c);

export const hex = (n: number, width: number, upper = false): string => {
  const h = n.toString(16).padStart(width, '0');
  return upper ? h.toUpperCase() : h;
};

/** strconv.Quote (ascii: QuoteToASCII); quote ' for QuoteRune */
function goQuote(s: string, q: '"' | "'" = '"', ascii = false): string {
  let out = q;
  for (const c of s) {
    const r = c.codePointAt(0)!;
    if (c === q || c === '\\') out += '\\' + c;
    else if (ascii ? r < 0x80 && isPrint(c) : isPrint(c)) out += c;
    else if (r === 7) out += '\\a';
    else if (r === 8) out += '\\b';
    else if (r === 12) out += '\\f';
    else if (r === 10) out += '\\n';
    else if (r === 13) out += '\\r';
    else if (r === 9) out += '\\t';
    else if (r === 11) out += '\\v';
    else if (r < 0x20 || r === 0x7f) out += '\\x' + hex(r, 2);
    else if (r > 0xffff) out += '\\U' + hex(r, 8);
    else out += '\\u' + hex(r, 4);
  }
  return out + q;
}

/** Width padding: spaces, or zeros to the left with the 0 flag; width counts runes. */
function pad(s: string, f: Flags): string {
  const n = (f.wid ?? 0) - [...s].length;
  if (n <= 0) return s;
  return f.minus ? s + ' '.repeat(n) : (f.zero ? '0' : ' ').repeat(n) + s;
}

/** A rune's text; an invalid one is U+FFFD. */
const runeText = (v: bigint): string => (v < 0n || v > 0x10ffffn || (v >= 0xd800n && v < 0xe000n) ? '\ufffd' : String.fromCodePoint(Number(v)));

/** fmt's integer verbs (fmt/format.go fmtInteger): precision as minimum digits, the 0 flag as precision. */
function fmtInteger(x: GoInt, verb: string, f: Flags): string {
  const v = x.v;
  switch (verb) {
    case 'c':
      return pad(runeText(v), f);
    case 'q':
      return pad(goQuote(runeText(v), "'", f.plus), f);
    case 'U': {
      const digits = (v < 0n ? (v + (1n << 64n)) : v).toString(16).toUpperCase().padStart(Math.max(f.prec ?? 4, 4), '0');
      const r = runeText(v);
      return pad(`U+${digits}${f.sharp && v >= 0n && v <= 0x10ffffn && isPrint(r) ? ` '${r}'` : ''}`, { ...f, zero: false });
    }
  }
  const base = verb === 'b' ? 2 : verb === 'o' || verb === 'O' ? 8 : verb === 'x' || verb === 'X' ? 16 : 10;
  const neg = v < 0n;
  if (f.prec === 0 && v === 0n) return pad('', { ...f, zero: false });
  let prec = f.prec ?? 0;
  if (f.prec === undefined && f.zero && f.wid !== undefined && !f.minus) prec = f.wid - (neg || f.plus || f.space ? 1 : 0);
  let digits = (neg ? -v : v).toString(base);
  if (verb === 'X') digits = digits.toUpperCase();
  digits = digits.padStart(prec, '0');
  if (f.sharp) {
    if (base === 2) digits = '0b' + digits;
    else if (base === 8 && digits[0] !== '0') digits = '0' + digits;
    else if (base === 16) digits = (verb === 'X' ? '0X' : '0x') + digits;
  }
  if (verb === 'O') digits = '0o' + digits;
  const sign = neg ? '-' : f.plus ? '+' : f.space ? ' ' : '';
  return pad(sign + digits, { ...f, zero: false });
}

/** |x| as exact decimal digits and the point's position: digits × 10^(dp − len). */
function exactDecimal(x: number): { d: string; dp: number } {
  if (x === 0) return { d: '0', dp: 1 };
  const buf = new DataView(new ArrayBuffer(8));
  buf.setFloat64(0, Math.abs(x));
  const bits = buf.getBigUint64(0);
  const e = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let exp = e - 1075;
  if (e) mant |= 1n << 52n;
  else exp = -1074;
  if (exp >= 0) {
    const d = (mant << BigInt(exp)).toString();
    return { d, dp: d.length };
  }
  const d = (mant * 5n ** BigInt(-exp)).toString();
  const stripped = d.replace(/0+$/, '');
  return { d: stripped, dp: d.length + exp };
}

/** Round decimal digits to nd of them, half to even (strconv's decimal.Round on an exact expansion). */
function roundDigits(x: { d: string; dp: number }, nd: number): { d: string; dp: number } {
  if (nd < 0) return { d: '0', dp: 1 };
  if (x.d.length <= nd) return x;
  const next = x.d.charCodeAt(nd) - 48;
  const rest = /[1-9]/.test(x.d.slice(nd + 1));
  const up = next > 5 || (next === 5 && (rest || (nd > 0 && (x.d.charCodeAt(nd - 1) - 48) % 2 === 1)));
  let d = x.d.slice(0, nd);
  let dp = x.dp;
  if (up) {
    const n = (BigInt(d || '0') + 1n).toString();
    if (n.length > nd) dp++;
    d = n.slice(0, Math.max(nd, 1));
  }
  d = d.replace(/0+$/, '');
  return d ? { d, dp } : { d: '0', dp: 1 };
}

/** shortest digits that read back as x (as Go's and JavaScript's shortest formatting both choose) */
function shortestDigits(x: number): { d: string; dp: number } {
  if (x === 0) return { d: '0', dp: 1 };
  const [m, e] = Math.abs(x).toExponential().split('e') as [string, string];
  return { d: m.replace('.', ''), dp: Number(e) + 1 };
}

function fmtE(x: { d: string; dp: number }, prec: number, e: string): string {
  const zero = x.d === '0';
  const digits = x.d.padEnd(prec + 1, '0');
  const exp = zero ? 0 : x.dp - 1;
  const ee = Math.abs(exp).toString().padStart(2, '0');
  return digits[0]! + (prec > 0 ? '.' + digits.slice(1, prec + 1) : '') + e + (exp < 0 ? '-' : '+') + ee;
}

function fmtF(x: { d: string; dp: number }, prec: number): string {
  const digit = (j: number): string => (j >= 0 && j < x.d.length ? x.d[j]! : '0');
  let whole = '';
  for (let j = 0; j < Math.max(x.dp, 1); j++) whole += x.dp > 0 ? digit(j) : '0';
  let frac = '';
  for (let j = 0; j < prec; j++) frac += digit(x.dp + j);
  return whole + (prec > 0 ? '.' + frac : '');
}

/** strconv.FormatFloat's %e %f %g (fmt: %v is %g shortest). */
function formatFloat(v: number, verb: string, prec: number | undefined): string {
  const neg = v < 0 || Object.is(v, -0);
  const a = Math.abs(v);
  let body: string;
  if (verb === 'e' || verb === 'E') body = fmtE(roundDigits(exactDecimal(a), (prec ?? 6) + 1), prec ?? 6, verb);
  else if (verb === 'f' || verb === 'F') {
    const x = exactDecimal(a);
    body = fmtF(roundDigits(x, x.dp + (prec ?? 6)), prec ?? 6);
  } else {
    // %g, %G, %v
    const e = verb === 'G' ? 'E' : 'e';
    let digs: { d: string; dp: number };
    let eprec: number;
    let p = prec;
    if (p === undefined) {
      digs = shortestDigits(a);
      eprec = 6;
      p = digs.d.length;
    } else {
      if (p === 0) p = 1;
      digs = roundDigits(exactDecimal(a), p);
      eprec = p > digs.d.length && digs.d.length >= digs.dp ? digs.d.length : p;
    }
    const exp = digs.d === '0' ? 0 : digs.dp - 1;
    if (exp < -4 || exp >= eprec) body = fmtE(digs, Math.min(p, digs.d.length) - 1, e);
    else body = fmtF(digs, Math.max((p > digs.dp ? digs.d.length : p) - digs.dp, 0));
  }
  return (neg ? '-' : '+') + body;
}

/** a float64's bits: sign, biased exponent, 52-bit fraction */
function floatBits(v: number): { neg: boolean; e: number; frac: bigint } {
  const b = new DataView(new ArrayBuffer(8));
  b.setFloat64(0, v);
  const bits = b.getBigUint64(0);
  return { neg: bits >> 63n === 1n, e: Number((bits >> 52n) & 0x7ffn), frac: bits & ((1n << 52n) - 1n) };
}

/** strconv's %b: the integer mantissa and binary exponent, 6755399441055744p-52 */
function formatFloatB(v: number): string {
  const { neg, e, frac } = floatBits(v);
  const mant = e ? frac | (1n << 52n) : frac;
  const exp = (e ? e : 1) - 1075;
  return `${neg ? '-' : '+'}${mant}p${exp < 0 ? '-' : '+'}${Math.abs(exp)}`;
}

/** strconv's %x: a hexadecimal mantissa 1.hhh and a binary exponent, rounded to prec digits half to even */
function formatFloatX(v: number, prec: number | undefined, upper: boolean): string {
  const { neg, e, frac } = floatBits(v);
  let mant = e ? frac | (1n << 52n) : frac;
  let exp = mant === 0n ? 0 : (e ? e : 1) - 1023;
  const top = 1n << 60n;
  mant <<= 8n; // the leading 1 at bit 60
  while (mant !== 0n && (mant & top) === 0n) (mant <<= 1n), exp--;
  if (prec !== undefined && prec < 15) {
    const shift = BigInt(prec * 4);
    const extra = (mant << shift) & (top - 1n);
    mant >>= 60n - shift;
    if ((extra | (mant & 1n)) > 1n << 59n) mant++;
    mant <<= 60n - shift;
    if (mant & (1n << 61n)) (mant >>= 1n), exp++;
  }
  let out = `0x${(mant >> 60n) & 1n}`;
  mant = (mant << 4n) & ((1n << 64n) - 1n);
  const digit = (): string => ((mant >> 60n) & 15n).toString(16);
  if (prec === undefined && mant !== 0n) {
    out += '.';
    while (mant !== 0n) (out += digit()), (mant = (mant << 4n) & ((1n << 64n) - 1n));
  } else if (prec !== undefined && prec > 0) {
    out += '.';
    for (let i = 0; i < prec; i++) (out += digit()), (mant = (mant << 4n) & ((1n << 64n) - 1n));
  }
  out += `p${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return (neg ? '-' : '+') + (upper ? out.toUpperCase() : out);
}

/** fmt's float verbs (fmt/format.go fmtFloat): sign, # keeping a point and trailing zeros, zero padding after the sign */
function fmtFloat(x: GoFloat, verb: string, f: Flags): string {
  const v = verb === 'v' ? 'g' : verb === 'F' ? 'f' : verb;
  const prec = f.prec ?? (v === 'e' || v === 'E' || v === 'f' ? 6 : -1);
  let num = v === 'b' ? formatFloatB(x.v) : v === 'x' || v === 'X' ? formatFloatX(x.v, prec < 0 ? undefined : prec, v === 'X') : formatFloat(x.v, v, prec < 0 ? undefined : prec);
  if (f.space && num[0] === '+' && !f.plus) num = ' ' + num.slice(1);
  if (f.sharp && v !== 'b') {
    // significant digits # keeps: %g's precision (6 when shortest); format.go counts %x, not %X
    let digits = v === 'g' || v === 'G' || v === 'x' ? (prec === -1 ? 6 : prec) : 0;
    let body = num.slice(1);
    let tail = '';
    const cut = body.search(v === 'x' || v === 'X' ? /[pP]/ : /[eEpP]/);
    if (cut >= 0) (tail = body.slice(cut)), (body = body.slice(0, cut));
    // what counts as a digit is everything from the first non-zero character (0x's x included), as in format.go
    const nonzero = body.search(/[^0.]/);
    if (nonzero >= 0) digits -= body.slice(nonzero).replace('.', '').length;
    if (!body.includes('.')) {
      if (body === '0') digits--;
      body += '.';
    }
    num = num[0] + body + '0'.repeat(Math.max(digits, 0)) + tail;
  }
  if (f.plus || num[0] !== '+') {
    if (f.zero && f.wid !== undefined && !f.minus && f.wid > num.length) return num[0] + '0'.repeat(f.wid - num.length) + num.slice(1);
    return pad(num, f);
  }
  return pad(num.slice(1), f);
}

/** %x on a string: its bytes in hex; the space flag separates them, # prefixes 0x */
function fmtHexString(s: string, f: Flags, upper: boolean): string {
  let b = [...utf8(s)];
  if (f.prec !== undefined) b = b.slice(0, f.prec);
  const pre = upper ? '0X' : '0x';
  const parts = b.map((x) => hex(x, 2, upper));
  const out = f.space ? parts.map((p) => (f.sharp ? pre : '') + p).join(' ') : (f.sharp && parts.length ? pre : '') + parts.join('');
  return pad(out, f);
}

function fmtString(s: string, verb: string, f: Flags): string {
  const clip = (t: string): string => (f.prec === undefined ? t : [...t].slice(0, f.prec).join(''));
  if (verb === 'q') {
    const t = clip(s);
    return pad(f.sharp && !/[`\x00-\x08\x0a-\x1f\x7f\ufeff]/.test(t) ? '`' + t + '`' : goQuote(t, '"', f.plus), f);
  }
  if (verb === 'x' || verb === 'X') return fmtHexString(s, f, verb === 'X');
  return pad(clip(s), f);
}

/** fmt's %!verb(type=value) for a verb the operand has no meaning for; the value printed under the same flags */
const badVerb = (verb: string, v: Val, f: Flags): string =>
  v === null || v === MISSING ? `%!${verb}(<nil>)` : `%!${verb}(${typeName(v)}=${fmtValue(v, 'v', f, 0)})`;

/** One operand under a verb (fmt/print.go printArg, printValue). */
export function fmtValue(v: Val, verb: string, f: Flags, depth: number): string {
  if (v === null || v === MISSING) {
    // a nil inside a map or slice prints <nil>, unpadded, whatever the verb
    if (depth > 0) return '<nil>';
    return verb === 'v' ? pad('<nil>', f) : badVerb(verb, v, f);
  }
  if (typeof v === 'boolean') return verb === 'v' || verb === 't' ? pad(String(v), f) : badVerb(verb, v, f);
  if (stringKind(v)) return 'vsxXq'.includes(verb) ? fmtString(textOf(v), verb, f) : badVerb(verb, v, f);
  // a *big.Int formats itself: %s and %v as decimal digits
  if (v instanceof GoInt && v.type === '*big.Int') return 'vsdboOxX'.includes(verb) ? fmtInteger(v, verb === 'v' || verb === 's' ? 'd' : verb, f) : badVerb(verb, v, f);
  if (v instanceof GoInt) return 'vdboOxXcqU'.includes(verb) ? fmtInteger(v, verb === 'v' ? 'd' : verb, f) : badVerb(verb, v, f);
  if (v instanceof GoFloat) return 'vbeEfFgGxX'.includes(verb) ? fmtFloat(v, verb, f) : badVerb(verb, v, f);
  if (v instanceof GoMap) return `map[${sortedKeys(v).map((k) => `${fmtValue(k, verb, f, depth + 1)}:${fmtValue(v.m.get(k)!, verb, f, depth + 1)}`).join(' ')}]`;
  return `[${v.map((x) => fmtValue(x, verb, f, depth + 1)).join(' ')}]`;
}

/** %#v: Go syntax, strings quoted, a nil element as interface {}(nil) */
function goSyntax(v: Val, f: Flags): string {
  if (v === null || v === MISSING) return 'interface {}(nil)';
  if (stringKind(v)) return fmtString(textOf(v), 'q', f);
  if (v instanceof GoInt && v.type === 'uint8') return fmtInteger(v, 'x', { ...f, sharp: true });
  if (v instanceof GoMap) return `${typeName(v)}{${sortedKeys(v).map((k) => `${goSyntax(k, f)}:${goSyntax(v.m.get(k)!, f)}`).join(', ')}}`;
  if (Array.isArray(v)) return `${typeName(v)}{${v.map((x) => goSyntax(x, f)).join(', ')}}`;
  return fmtValue(v, 'v', f, 0);
}

/** fmt.Sprint: a space between operands when neither is a string */
export function sprint(args: Val[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && !stringKind(a) && !stringKind(args[i - 1]!)) out += ' ';
    out += fmtValue(a, 'v', NO_FLAGS, 0);
  });
  return out;
}

export const sprintln = (args: Val[]): string => args.map((a) => fmtValue(a, 'v', NO_FLAGS, 0)).join(' ') + '\n';

/**
 * Rego's sprintf operands (exact: builtins/common.ts) as OPA hands them to
 * Go (topdown/strings.go builtinSprintf): an integer as an int, or a
 * *big.Int past int64; another number as a float64; a string as itself;
 * anything else as its Rego text.
 */
export function sprintfOperands(list: Exact[], regoText: (v: Exact) => string): Val[] {
  return list.map((v) => {
    if (typeof v === 'bigint') return new GoInt(v >= INT64_MIN && v <= INT64_MAX ? 'int' : '*big.Int', v);
    if (v instanceof NumberText) return v.text; // no float64 holds it: OPA hands Go its text
    if (typeof v === 'number') return Number.isInteger(v) ? goInt(v) : new GoFloat(v);
    return typeof v === 'string' ? v : regoText(v);
  });
}

/** fmt.Sprintf (fmt/print.go doPrintf), without explicit argument indexes: printf here, and Rego's sprintf. */
export function sprintf(format: string, args: Val[]): string {
  let out = '';
  let argNum = 0;
  const s = [...format];
  /** a * width or precision: an int operand */
  const intArg = (): number | undefined => {
    const a = args[argNum++];
    if (!(a instanceof GoInt) || a.v > 1000000n || a.v < -1000000n) return undefined;
    return Number(a.v);
  };
  const num = (i: number): [number | undefined, number] => {
    let j = i;
    while (j < s.length && s[j]! >= '0' && s[j]! <= '9') j++;
    return j > i ? [Number(s.slice(i, j).join('')), j] : [undefined, i];
  };
  for (let i = 0; i < s.length; ) {
    if (s[i] !== '%') {
      out += s[i++];
      continue;
    }
    i++;
    const f: Flags = { ...NO_FLAGS };
    for (; i < s.length; i++) {
      const c = s[i];
      if (c === '#') f.sharp = true;
      else if (c === '0') f.zero = !f.minus; // only pad with zeros on the left
      else if (c === '+') f.plus = true;
      else if (c === '-') (f.minus = true), (f.zero = false);
      else if (c === ' ') f.space = true;
      else break;
    }
    if (s[i] === '[') return fail('template: printf argument indexes are not supported');
    if (s[i] === '*') {
      i++;
      const w = intArg();
      if (w === undefined) out += '%!(BADWIDTH)';
      else if (w < 0) (f.wid = -w), (f.minus = true), (f.zero = false);
      else f.wid = w;
    } else [f.wid, i] = num(i);
    if (s[i] === '.') {
      i++;
      if (s[i] === '*') {
        i++;
        const p = intArg();
        if (p === undefined) out += '%!(BADPREC)';
        else if (p >= 0) f.prec = p;
      } else {
        const [p, j] = num(i);
        f.prec = p ?? 0;
        i = j;
      }
    }
    if (s[i] === '[') return fail('template: printf argument indexes are not supported');
    if (i >= s.length) {
      out += '%!(NOVERB)';
      break;
    }
    const verb = s[i++]!;
    if (verb === '%') out += '%';
    else if (argNum >= args.length) out += `%!${verb}(MISSING)`;
    else {
      const a = args[argNum++]!;
      if (verb === 'T') out += a === null || a === MISSING ? pad('<nil>', f) : fmtString(typeName(a), 's', f);
      else if (verb === 'v' && f.sharp) out += a === null || a === MISSING ? pad('<nil>', f) : goSyntax(a, { ...f, plus: false, sharp: false });
      else if (verb === 'v') out += fmtValue(a, 'v', { ...f, plus: false }, 0);
      else out += fmtValue(a, verb, f, 0);
    }
  }
  if (argNum < args.length) {
    out += `%!(EXTRA ${args
      .slice(argNum)
      .map((a) => (a === null || a === MISSING ? '<nil>' : `${typeName(a)}=${fmtValue(a, 'v', NO_FLAGS, 0)}`))
      .join(', ')})`;
  }
  return out;
}
