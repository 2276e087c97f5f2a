/**
 * Host builtins: the Rego builtins our runtime does not implement in C
 * (runtime/builtins.c), in JavaScript, with OPA's semantics (v1/topdown).
 * A compiled module lists the ones it calls in its `builtins` export and
 * calls them through `opa_builtinN` (docs/rego-wasm-abi.md §4.1); the SDK
 * finds them in the `customBuiltins` that `loadCompiled` passes.
 *
 * Protocol limits (§4.1): arguments arrive as JSON (sets as arrays, object
 * keys as strings) and results go back as JSON, so builtins here take and
 * return no sets (those are native). An ArrayBuffer result is JSON text,
 * which keeps big integers exact. A builtin error is an undefined result, as
 * in OPA's default (non-strict) mode: every implementation is wrapped so a
 * throw returns undefined.
 *
 * The SDK's own JS builtins win over custom ones (§4.1): `sprintf`,
 * `regex.split`, `json.is_valid` and the yaml ones are exported under
 * hostExportName()'s names so that ours (Go semantics: fmt, not
 * sprintf-js) are the ones called.
 */

import { createHash } from 'node:crypto';

import { loadPolicy, type LoadedPolicy } from '@open-policy-agent/opa-wasm';

import {
  BuiltinError,
  byteCompare,
  coll,
  evaluationNowNs,
  exact,
  exactEqual,
  exactJSON,
  exactText,
  fail,
  goJSON,
  int,
  jsonText,
  newEvaluation,
  num,
  NumberText,
  obj,
  RegoSet,
  runes,
  str,
  type Exact,
  type Impl,
} from './builtins/common.js';
import { IMPLS as AWS } from './builtins/aws.js';
import { IMPLS as GRAPHQL } from './builtins/graphql.js';
import { b64Decode, IMPLS as JWT } from './builtins/jwt.js';
import { IMPLS as MISC } from './builtins/misc.js';
import { IMPLS as NET } from './builtins/net.js';
import { goRegex } from './builtins/re2.js';
import { IMPLS as SCHEMA } from './builtins/schema.js';
import { sprintf as goSprintf, sprintfOperands } from './builtins/gofmt.js';
import { IMPLS as TEMPLATE } from './builtins/template.js';
import { IMPLS as TIME } from './builtins/time.js';
import { IMPLS as X509 } from './builtins/x509.js';
import { lookupBuiltin } from './compile/builtins.js';
import { importsOf } from './emit/wasm.js';
import { putOwn } from './own-key.js';

/* ------------------------------------------------------------ arithmetic */
// Fallbacks of the native integer arithmetic (builtins.c): non-integers and
// overflow, in float64 as the SDK carries numbers.

/** Go's strings.ToUpper/ToLower map rune by rune; a rune whose JS mapping is several runes stays as it is. */
const caseMap = (s: string, f: (c: string) => string): string =>
  runes(s)
    .map((c) => {
      const m = f(c);
      return runes(m).length === 1 ? m : c;
    })
    .join('');

const arith: Record<string, Impl> = {
  plus: (a, b) => num(a) + num(b),
  minus: (a, b) => num(a) - num(b),
  mul: (a, b) => num(a) * num(b),
  div: (a, b) => (num(b) === 0 ? fail('divide by zero') : num(a) / num(b)),
  // OPA: "modulo on floating-point number" is an error
  rem: (a, b) => (num(b) === 0 ? fail('modulo by zero') : int(a) % int(b)),
  sum: (xs) => coll(xs).reduce<number>((s, x) => s + num(x), 0),
  product: (xs) => coll(xs).reduce<number>((s, x) => s * num(x), 1),
  // Unicode case mapping (the runtime does ASCII itself)
  lower: (s) => caseMap(str(s), (c) => c.toLowerCase()),
  upper: (s) => caseMap(str(s), (c) => c.toUpperCase()),
};

/* ---------------------------------------------------------------- strings */

const GO_SPACE = /^[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+|[\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+$/gu;

function trimLeft(s: string, cut: string): string {
  const set = new Set(runes(cut));
  const r = runes(s);
  let i = 0;
  while (i < r.length && set.has(r[i]!)) i++;
  return r.slice(i).join('');
}

function trimRight(s: string, cut: string): string {
  const set = new Set(runes(cut));
  const r = runes(s);
  let j = r.length;
  while (j > 0 && set.has(r[j - 1]!)) j--;
  return r.slice(0, j).join('');
}

/** Go's strings.ReplaceAll, rune-wise for an empty `old`. */
function replaceAll(s: string, old: string, nu: string): string {
  if (old === '') return nu + runes(s).join(nu) + nu;
  return s.split(old).join(nu);
}

/** Go's strings.NewReplacer(old1, new1, ...).Replace: leftmost, first pair in argument order wins. */
function replacer(pairs: Array<[string, string]>, s: string): string {
  let out = '';
  let i = 0;
  while (i < s.length) {
    const hit = pairs.find(([o]) => o !== '' && s.startsWith(o, i));
    if (hit) {
      out += hit[1];
      i += hit[0].length;
    } else {
      const cp = s.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out += ch;
      i += ch.length;
    }
  }
  return out;
}

const strOrList = (v: unknown): string[] => (typeof v === 'string' ? [v] : coll(v).map(str));

const strings: Record<string, Impl> = {
  split: (s, d) => (str(d) === '' ? runes(str(s)) : str(s).split(d as string)),
  replace: (s, o, n) => replaceAll(str(s), str(o), str(n)),
  'strings.replace_n': (patterns, s) => {
    const o = obj(patterns);
    const keys = Object.keys(o).sort(byteCompare);
    return replacer(
      keys.map((k) => [k, str(o[k])]),
      str(s),
    );
  },
  trim: (s, c) => trimRight(trimLeft(str(s), str(c)), str(c)),
  trim_left: (s, c) => trimLeft(str(s), str(c)),
  trim_right: (s, c) => trimRight(str(s), str(c)),
  trim_space: (s) => str(s).replace(GO_SPACE, ''),
  indexof: (s, sub) => {
    const r = runes(str(s));
    const q = runes(str(sub));
    if (q.length === 0) return 0;
    for (let i = 0; i + q.length <= r.length; i++) if (q.every((c, j) => r[i + j] === c)) return i;
    return -1;
  },
  substring: (s, start, length) => {
    const st = int(start);
    const ln = int(length);
    if (st < 0) fail('negative offset');
    const r = runes(str(s));
    if (st >= r.length) return '';
    return (ln < 0 ? r.slice(st) : r.slice(st, Math.min(r.length, st + ln))).join('');
  },
  format_int: (n, base) => {
    const b = num(base);
    if (![2, 8, 10, 16].includes(b)) fail('operand 2 must be one of {2, 8, 10, 16}');
    return Math.trunc(num(n)).toString(b);
  },
  'strings.any_prefix_match': (search, base) => {
    const bs = strOrList(base);
    return strOrList(search).some((s) => bs.some((b) => s.startsWith(b)));
  },
  'strings.any_suffix_match': (search, base) => {
    const bs = strOrList(base);
    return strOrList(search).some((s) => bs.some((b) => s.endsWith(b)));
  },
};

/* ----------------------------------------------------------------- sprintf */
// Go's fmt.Sprintf (builtins/gofmt.ts, which printf in templates uses too)
// over the operands OPA builds (sprintfOperands).

/** A value as Rego text, as OPA's sprintf and print write a composite: `[1, "a"]`, `{"k": 1}`, `{1, 2}`. */
function regoText(v: unknown): string {
  if (v === null) return 'null';
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v instanceof RegoSet) return v.items.length ? `{${v.items.map(regoText).join(', ')}}` : 'set()';
  if (Array.isArray(v)) return `[${v.map(regoText).join(', ')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o)
    .sort(byteCompare)
    .map((k) => `${JSON.stringify(k)}: ${regoText(o[k])}`)
    .join(', ')}}`;
}

/** sprintf's host side: its operands arrive as Rego text (runtime busted_sprintf), read exactly. */
function sprintf(format: string, operandsText: unknown): string {
  const list = exact(operandsText);
  return goSprintf(format, sprintfOperands(Array.isArray(list) ? list : fail('sprintf: operand 2 must be array'), regoText));
}

/* ------------------------------------------------------------ regex, glob */

/** A Go (RE2) pattern as a JavaScript RegExp (builtins/re2.ts), or a builtin error. */
function re2(pattern: string): RegExp {
  return goRegex(pattern) ?? fail(`invalid regular expression ${JSON.stringify(pattern)}`);
}

/** regex.is_valid: RE2 syntax (no lookaround, no backreferences, which JavaScript would take). */
const re2Valid = (pattern: string): boolean => goRegex(pattern) !== null;

/**
 * regex.template_match's template: literal text, and regular expressions
 * between one-character delimiters (which may nest inside them), matched
 * against the whole value.
 */
function templateRegex(template: string, open: string, close: string): RegExp {
  if (runes(open).length !== 1 || runes(close).length !== 1) fail('regex.template_match: delimiters must be one character');
  let src = '';
  let depth = 0;
  let inner = '';
  for (const c of template) {
    if (depth > 0) {
      if (c === close && --depth === 0) {
        src += `(${re2(inner).source})`;
        inner = '';
        continue;
      }
      if (c === open) depth++;
      inner += c;
    } else if (c === open) depth = 1;
    else src += c.replace(/[.*+?^${}()|[\]\\\/]/g, '\\$&');
  }
  if (depth) fail('regex.template_match: unbalanced delimiters');
  return new RegExp(`^${src}$`, 'u');
}

const globCache = new Map<string, RegExp>();

/** gobwas/glob, as OPA's glob.match uses it: `*` `?` stop at delimiters, `**` does not. */
function glob(pattern: string, delims: string[]): RegExp {
  const key = JSON.stringify([pattern, delims]);
  let r = globCache.get(key);
  if (r) return r;
  const esc = (c: string) => c.replace(/[\\^$.*+?()[\]{}|/-]/g, '\\$&');
  const notDelim = delims.length ? `[^${delims.map(esc).join('')}]` : '[\\s\\S]';
  let src = '';
  let depth = 0;
  const p = runes(pattern);
  for (let i = 0; i < p.length; i++) {
    const c = p[i]!;
    if (c === '\\' && i + 1 < p.length) src += esc(p[++i]!);
    else if (c === '*' && p[i + 1] === '*') {
      src += '[\\s\\S]*';
      i++;
    } else if (c === '*') src += `${notDelim}*`;
    else if (c === '?') src += notDelim;
    else if (c === '[') {
      const end = p.indexOf(']', i + 1);
      if (end < 0) fail('unexpected end of input');
      let body = p.slice(i + 1, end);
      const neg = body[0] === '!';
      if (neg) body = body.slice(1);
      src += `[${neg ? '^' : ''}${body.map((x) => (x === '-' ? '-' : esc(x))).join('')}]`;
      i = end;
    } else if (c === '{') {
      src += '(?:';
      depth++;
    } else if (c === '}' && depth > 0) {
      src += ')';
      depth--;
    } else if (c === ',' && depth > 0) src += '|';
    else src += esc(c);
  }
  if (depth) fail('unexpected end of input');
  r = new RegExp(`^(?:${src})$`, 'u');
  globCache.set(key, r);
  return r;
}

/**
 * Go's regexp FindAllStringIndex(s, n): successive non-overlapping matches,
 * an empty match right after the previous match ignored (JS's matchAll
 * keeps it), at most n when n >= 0. Indexes are UTF-16 offsets.
 */
function findAll(pattern: string, s: string, n: number): RegExpExecArray[] {
  const src = re2(pattern);
  const re = new RegExp(src.source, src.flags.includes('g') ? src.flags : `${src.flags}g`);
  const out: RegExpExecArray[] = [];
  let pos = 0;
  let prevEnd = -1;
  while (pos <= s.length && (n < 0 || out.length < n)) {
    re.lastIndex = pos;
    const m = re.exec(s);
    if (m === null) break;
    const start = m.index;
    const end = start + m[0].length;
    if (end === start && start === prevEnd) {
      // step one code point past it
      pos = start + (s.codePointAt(start)! > 0xffff ? 2 : 1);
      continue;
    }
    out.push(m);
    prevEnd = end;
    pos = end === start ? end + (end < s.length && s.codePointAt(end)! > 0xffff ? 2 : 1) : end;
  }
  return out;
}

/** Go's regexp Split(s, -1), as regex.split calls it. */
function regexSplit(pattern: string, s: string): string[] {
  if (s === '') return [''];
  const out: string[] = [];
  let beg = 0;
  let end = 0;
  for (const m of findAll(pattern, s, -1)) {
    const a = m.index;
    const b = a + m[0].length;
    end = a;
    if (b !== 0) out.push(s.slice(beg, end));
    beg = b;
  }
  if (end !== s.length) out.push(s.slice(beg));
  return out;
}

/* ------------------------------------------------------------ json, base64 */

/** Go's json.MarshalIndent, with the prefix before the first line too (OPA's json.marshal_with_options). */
function goJSONIndent(v: unknown, prefix: string, indent: string, depth: number): string {
  const pad = (d: number): string => `\n${prefix}${indent.repeat(d)}`;
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[${v.map((x) => pad(depth + 1) + goJSONIndent(x, prefix, indent, depth + 1)).join(',')}${pad(depth)}]`;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const keys = Object.keys(o).sort(byteCompare);
    if (!keys.length) return '{}';
    return `{${keys.map((k) => `${pad(depth + 1)}${goJSON(k)}: ${goJSONIndent(o[k], prefix, indent, depth + 1)}`).join(',')}${pad(depth)}}`;
  }
  return goJSON(v);
}

/** json.marshal_with_options: `pretty` (on when indent or prefix is given), `indent` (a tab by default), `prefix`. */
function marshalWithOptions(v: unknown, opts: Record<string, unknown>): string {
  for (const k of Object.keys(opts)) if (k !== 'pretty' && k !== 'indent' && k !== 'prefix') fail(`json.marshal_with_options: object contained unknown key ${JSON.stringify(k)}`);
  const { pretty, indent, prefix } = opts;
  if (pretty !== undefined && typeof pretty !== 'boolean') fail('json.marshal_with_options: pretty must be a boolean');
  if ((indent !== undefined && typeof indent !== 'string') || (prefix !== undefined && typeof prefix !== 'string')) fail('json.marshal_with_options: indent and prefix must be strings');
  if (pretty === false || (pretty === undefined && indent === undefined && prefix === undefined)) return goJSON(v);
  const p = (prefix as string | undefined) ?? '';
  return p + goJSONIndent(v, p, (indent as string | undefined) ?? '\t', 0);
}

const encoding: Record<string, Impl> = {
  'json.marshal': (v) => goJSON(v),
  // JSON text back as the result keeps big integers exact
  'json.unmarshal': (s) => (JSON.parse(str(s)), jsonText(s as string)),
  'base64.encode': (s) => Buffer.from(str(s), 'utf8').toString('base64'),
  // as OPA's, Go's StdEncoding.DecodeString: line breaks inside the text are skipped
  'base64.decode': (s) => b64Decode(str(s), false).toString('utf8'),
  'crypto.sha256': (s) => createHash('sha256').update(str(s), 'utf8').digest('hex'),
};

/* ------------------------------------------------------------------- misc */

const UNITS: Record<string, bigint> = {
  '': 1n,
  kb: 10n ** 3n,
  k: 10n ** 3n,
  kib: 1n << 10n,
  ki: 1n << 10n,
  mb: 10n ** 6n,
  m: 10n ** 6n,
  mib: 1n << 20n,
  mi: 1n << 20n,
  gb: 10n ** 9n,
  g: 10n ** 9n,
  gib: 1n << 30n,
  gi: 1n << 30n,
  tb: 10n ** 12n,
  t: 10n ** 12n,
  tib: 1n << 40n,
  ti: 1n << 40n,
  pb: 10n ** 15n,
  p: 10n ** 15n,
  pib: 1n << 50n,
  pi: 1n << 50n,
  eb: 10n ** 18n,
  e: 10n ** 18n,
  eib: 1n << 60n,
  ei: 1n << 60n,
};

/** units.parse_bytes (topdown/parse_bytes.go): "10KB", "1.5Ki", "1e3KB", "1024"; truncated to an integer. */
function parseBytes(raw: string): ArrayBuffer {
  const s = raw.replace(/"/g, '').toLowerCase();
  if (s.includes(' ')) fail('spaces not allowed in resource strings');
  // the number runs over digits and '.', and an `e` only when an exponent (digit or sign) follows
  const m = /^((?:[0-9.]|e(?=[0-9+-])[+-]?)*)(.*)$/.exec(s)!;
  const numText = m[1]!;
  const unit = m[2]!;
  if (numText === '') fail('no byte amount provided');
  const mult = UNITS[unit];
  if (mult === undefined) fail(`byte unit ${unit} not recognized`);
  const n = /^(\d+\.?\d*|\.\d+)(?:e([+-]?\d{1,4}))?$/.exec(numText);
  if (n === null) return fail('could not parse byte amount to a number');
  const [ip = '0', fp = ''] = n[1]!.split('.');
  const exp = Number(n[2] ?? 0) - fp.length;
  let total = BigInt((ip || '0') + fp) * mult!;
  total = exp >= 0 ? total * 10n ** BigInt(exp) : total / 10n ** BigInt(-exp);
  return jsonText(total.toString());
}

function objectUnion(a: unknown, b: unknown): unknown {
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object' || Array.isArray(a) || Array.isArray(b)) return b;
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  const r: Record<string, unknown> = { ...x };
  for (const k of Object.keys(y)) putOwn(r, k, Object.hasOwn(x, k) ? objectUnion(x[k], y[k]) : y[k]);
  return r;
}

const keyList = (v: unknown): string[] => {
  if (Array.isArray(v)) return v.map((k) => (typeof k === 'string' ? k : JSON.stringify(k)));
  return Object.keys(obj(v));
};

/* ------------------------------------------------------------ json.filter, json.remove, json.patch */
// topdown/json.go. Paths are strings ("a/b/0", a leading "/" ignored, as
// JSON pointers with ~0 and ~1 read) or arrays of segments; in an array a
// segment is an index. Sets arrive as arrays (the JSON boundary): a set in
// the document is patched as an array.

type Json = unknown;

/** json.filter's and json.remove's paths: one of {set, array} of string paths or arrays of segments. */
function jsonPaths(v: unknown, name: string): string[][] {
  if (!Array.isArray(v)) fail(`${name}: operand 2 must be one of {set, array} but got ${typeName(v)}`);
  return (v as unknown[]).map((p) => {
    if (typeof p === 'string') return pointerSegments(p.replace(/^\//, ''));
    if (Array.isArray(p)) return p.map((s) => (typeof s === 'string' ? s : typeof s === 'number' ? String(s) : fail(`${name}: path segments must be strings or numbers`)));
    return fail(`${name}: operand 2 must be one of {set, array} containing string paths or array of path segments but got ${typeName(p)}`);
  });
}

/** A JSON pointer's segment as it names a key (RFC 6901: ~1 is /, ~0 is ~). */
const unescapeSegment = (x: string): string => x.replace(/~1/g, '/').replace(/~0/g, '~');

/** "a/b~1c" -> ["a", "b/c"]; "" -> [] */
function pointerSegments(s: string): string[] {
  return s === '' ? [] : s.split('/').map(unescapeSegment);
}

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v);

interface PathTree {
  /** a path ends here: the whole value is selected */
  leaf: boolean;
  kids: Map<string, PathTree>;
}

function pathTree(paths: string[][]): PathTree {
  const root: PathTree = { leaf: false, kids: new Map() };
  for (const p of paths) {
    let t = root;
    for (const seg of p) {
      if (t.leaf) break;
      let k = t.kids.get(seg);
      if (!k) t.kids.set(seg, (k = { leaf: false, kids: new Map() }));
      t = k;
    }
    t.leaf = true;
    t.kids.clear();
  }
  return root;
}

/** What of V the tree selects (undefined: nothing); arrays keep the selected elements, in order. */
function filterBy(v: Json, t: PathTree): Json {
  if (t.leaf) return v;
  if (Array.isArray(v)) {
    const out: Json[] = [];
    v.forEach((x, i) => {
      const k = t.kids.get(String(i));
      if (k) {
        const y = filterBy(x, k);
        if (y !== undefined) out.push(y);
      }
    });
    return out.length ? out : undefined;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    let any = false;
    for (const [k, sub] of t.kids) {
      if (!Object.hasOwn(o, k)) continue;
      const y = filterBy(o[k], sub);
      if (y !== undefined) {
        putOwn(out, k, y);
        any = true;
      }
    }
    return any ? out : undefined;
  }
  return undefined;
}

/** V without what the tree selects. */
function removeBy(v: Json, t: PathTree): Json {
  if (Array.isArray(v)) {
    const out: Json[] = [];
    v.forEach((x, i) => {
      const k = t.kids.get(String(i));
      if (!k) out.push(x);
      else if (!k.leaf) out.push(removeBy(x, k));
    });
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(o)) {
      const sub = t.kids.get(k);
      if (!sub) putOwn(out, k, o[k]);
      else if (!sub.leaf) putOwn(out, k, removeBy(o[k], sub));
    }
    return out;
  }
  return v;
}

/** A deep copy of an exact value (sets copied as sets). */
function cloneExact(v: Exact): Exact {
  if (v instanceof NumberText) return v;
  if (v instanceof RegoSet) return new RegoSet(v.items.map(cloneExact));
  if (Array.isArray(v)) return v.map(cloneExact);
  if (v !== null && typeof v === 'object') {
    const o: Record<string, Exact> = {};
    for (const [k, x] of Object.entries(v)) putOwn(o, k, cloneExact(x));
    return o;
  }
  return v;
}

const isObj = (v: Exact): v is Record<string, Exact> => v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegoSet) && !(v instanceof NumberText);

/**
 * json.patch (RFC 6902, OPA's topdown/json.go): add, remove, replace, move,
 * copy, test. A path is a JSON pointer or an array of keys; in a set, a key
 * is the element itself (adding puts the value in, removing takes the
 * element out), as OPA patches sets.
 */
function jsonPatch(doc: Exact, patches: Exact): Exact {
  const list = Array.isArray(patches) ? patches : fail('json.patch: operand 2 must be array');
  let root = cloneExact(doc);
  // RFC 6901: "" is the whole document, "/" the member named ""
  const segs = (p: Exact | undefined): Exact[] =>
    typeof p === 'string'
      ? p === ''
        ? []
        : // OPA takes a pointer without its leading slash too
          p.replace(/^\//, '').split('/').map(unescapeSegment)
      : Array.isArray(p)
        ? p
        : fail('json.patch: a path must be a string or an array');
  const index = (a: Exact[], s: Exact, adding: boolean): number => {
    if (adding && s === '-') return a.length;
    const text = typeof s === 'string' ? s : typeof s === 'number' || typeof s === 'bigint' ? String(s) : '';
    if (!/^(0|[1-9]\d*)$/.test(text)) return fail(`json.patch: bad index ${text}`);
    const i = Number(text);
    return i > a.length || (!adding && i === a.length) ? fail(`json.patch: index ${text} out of range`) : i;
  };
  const member = (set: RegoSet, s: Exact): number => set.items.findIndex((x) => exactEqual(x, s));
  const child = (c: Exact, s: Exact): Exact => {
    if (Array.isArray(c)) return c[index(c, s, false)]!;
    if (c instanceof RegoSet) {
      const i = member(c, s);
      return i < 0 ? fail('json.patch: no such element') : c.items[i]!;
    }
    if (isObj(c) && typeof s === 'string' && Object.hasOwn(c, s)) return c[s]!;
    return fail(`json.patch: no ${String(s)}`);
  };
  /** the container of the path's last segment, and that segment */
  const parentOf = (path: Exact[]): [Exact, Exact] => [path.slice(0, -1).reduce(child, root), path[path.length - 1]!];
  const get = (path: Exact[]): Exact => (path.length === 0 ? root : child(...parentOf(path)));
  const add = (path: Exact[], value: Exact): void => {
    if (path.length === 0) {
      root = value;
      return;
    }
    const [c, k] = parentOf(path);
    if (Array.isArray(c)) c.splice(index(c, k, true), 0, value);
    else if (c instanceof RegoSet) {
      // in a set the key is the element: it must be the value added
      if (!exactEqual(k, value)) fail('json.patch: a set element is added under its own value');
      if (member(c, value) < 0) c.items.push(value);
    } else if (isObj(c) && typeof k === 'string') putOwn(c, k, value);
    else fail('json.patch: cannot add there');
  };
  const remove = (path: Exact[]): Exact => {
    if (path.length === 0) return fail('json.patch: cannot remove the root');
    const [c, k] = parentOf(path);
    if (Array.isArray(c)) return c.splice(index(c, k, false), 1)[0]!;
    if (c instanceof RegoSet) {
      const i = member(c, k);
      return i < 0 ? fail('json.patch: no such element') : c.items.splice(i, 1)[0]!;
    }
    if (isObj(c) && typeof k === 'string' && Object.hasOwn(c, k)) {
      const was = c[k]!;
      delete c[k];
      return was;
    }
    return fail(`json.patch: no ${String(k)}`);
  };
  for (const p of list) {
    if (!isObj(p)) fail('json.patch: a patch must be an object');
    const op = p as Record<string, Exact>;
    const path = segs(op.path);
    switch (op.op) {
      case 'add':
        if (!Object.hasOwn(op, 'value')) fail('json.patch: add without a value');
        add(path, cloneExact(op.value!));
        break;
      case 'remove':
        remove(path);
        break;
      case 'replace':
        if (!Object.hasOwn(op, 'value')) fail('json.patch: replace without a value');
        get(path);
        if (path.length === 0) root = cloneExact(op.value!);
        else {
          remove(path);
          add(path, cloneExact(op.value!));
        }
        break;
      case 'move': {
        const from = segs(op.from);
        if (from.length < path.length && from.every((s, i) => exactEqual(s, path[i]!))) fail('json.patch: cannot move a value into itself');
        add(path, remove(from));
        break;
      }
      case 'copy':
        add(path, cloneExact(get(segs(op.from))));
        break;
      case 'test':
        if (!exactEqual(get(path), op.value ?? null) || !Object.hasOwn(op, 'value')) fail('json.patch: test failed');
        break;
      default:
        fail(`json.patch: unknown op ${String(op.op)}`);
    }
  }
  return root;
}

/* ------------------------------------------------------------ units.parse */

/**
 * units.parse's multipliers (topdown/parse_units.go): SI k M G T P E, and
 * IEC Ki Mi Gi Ti Pi Ei; m is milli and M mega, otherwise the case of the
 * letter does not matter (the second letter is lowered before the lookup).
 */
const UNIT_FACTORS: Record<string, bigint | number> = { '': 1n, m: 0.001, M: 10n ** 6n };
['k', 'm', 'g', 't', 'p', 'e'].forEach((l, i) => {
  const si = 10n ** BigInt(3 * (i + 1));
  const iec = 1n << BigInt(10 * (i + 1));
  const L = l.toUpperCase();
  if (l !== 'm') UNIT_FACTORS[l] = UNIT_FACTORS[L] = si;
  UNIT_FACTORS[`${l}i`] = UNIT_FACTORS[`${L}i`] = iec;
});

/** OPA's extractNumAndUnit: the number ends at the first character that cannot continue it (an e not followed by a digit or sign starts the unit). */
function numAndUnit(s: string): [string, string] {
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === 'e' || c === 'E') {
      const next = s[i + 1];
      if (next === undefined || !/[0-9+-]/.test(next)) return [s.slice(0, i), s.slice(i)];
      if (next === '+' || next === '-') i++;
      continue;
    }
    if (!/[0-9.+-]/.test(c)) return [s.slice(0, i), s.slice(i)];
  }
  return [s, ''];
}

/** units.parse (topdown/parse_units.go): "10K" 10000, "1.5Ki" 1536, "100m" 0.1, "1e3M" 1e9; a whole amount times a whole multiplier is exact. */
function parseUnits(raw: string): unknown {
  const s = raw.replace(/"/g, '');
  if (s.includes(' ')) fail('units.parse: spaces not allowed in resource strings');
  const [amount, u] = numAndUnit(s);
  if (amount === '') fail('units.parse: no amount provided');
  if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(amount)) fail('units.parse: could not parse amount to a number');
  const unit = u.length > 1 ? u[0] + u.slice(1).toLowerCase() : u;
  const f = Object.hasOwn(UNIT_FACTORS, unit) ? UNIT_FACTORS[unit]! : fail('units.parse: unit not recognized');
  if (typeof f === 'bigint' && /^[+-]?\d+$/.test(amount)) return jsonText((BigInt(amount) * f).toString());
  // milli as a division: -350 / 1000 is -0.35, where -350 * 0.001 is not
  return typeof f === 'number' ? Number(amount) / 1000 : Number(amount) * Number(f);
}

/* ------------------------------------------------------------ the rest of OPA's common builtins */

/** Go's regexp ReplaceAllString: `$1`, `${1}`, `$name`, `${name}` in the replacement; `$$` a dollar. */
function regexReplace(s: string, pattern: string, value: string): string {
  const re = re2(pattern);
  const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : `${re.flags}g`);
  return s.replace(g, (...args) => {
    const groups = (typeof args[args.length - 1] === 'object' ? args[args.length - 1] : undefined) as Record<string, string> | undefined;
    const nums = args.slice(0, typeof args[args.length - 1] === 'object' ? -3 : -2) as Array<string | undefined>;
    // Go: $name takes the longest run of letters, digits and underscores; a name that is no group is empty
    return value.replace(/\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))/g, (d, braced: string | undefined, bare: string | undefined) => {
      if (d === '$$') return '$';
      const name = braced ?? bare!;
      if (/^\d+$/.test(name)) return nums[Number(name)] ?? '';
      return groups?.[name] ?? '';
    });
  });
}

function numbersRange(a: unknown, b: unknown, step: unknown = 1): number[] {
  const from = int(a);
  const to = int(b);
  const st = int(step);
  if (st <= 0) fail('numbers.range_step: step must be a positive number above zero');
  const out: number[] = [];
  if (from <= to) for (let i = from; i <= to; i += st) out.push(i);
  else for (let i = from; i >= to; i -= st) out.push(i);
  return out;
}

/** object.subset (topdown/object.go): super contains sub, objects recursively; arrays as subsequences; sets (arrays here) by members. */
function isSubset(sup: Exact, sub: Exact): boolean {
  if (Array.isArray(sup) && Array.isArray(sub)) {
    // an array is a subset when it appears in order, contiguously (OPA: "subarray")
    if (sub.length === 0) return true;
    for (let i = 0; i + sub.length <= sup.length; i++) if (sub.every((x, j) => exactEqual(sup[i + j]!, x))) return true;
    return false;
  }
  // a set's elements in a set, or anywhere in an array; an array against a set is an error (OPA)
  if (sub instanceof RegoSet && (sup instanceof RegoSet || Array.isArray(sup))) {
    const all = sup instanceof RegoSet ? sup.items : sup;
    return sub.items.every((x) => all.some((y) => exactEqual(y, x)));
  }
  if (sup instanceof RegoSet && Array.isArray(sub)) return fail('object.subset: a set cannot hold an array');
  if (isObj(sup) && isObj(sub)) {
    return Object.entries(sub).every(([k, v]) => Object.hasOwn(sup, k) && (exactEqual(sup[k]!, v) || (typeof v === 'object' && v !== null && isSubset(sup[k]!, v))));
  }
  return exactEqual(sup, sub);
}

/**
 * time.now_ns is one value for a whole evaluation (OPA reads the clock once
 * per query, common.ts evaluationNowNs): kept until the next evaluation
 * starts (newEvaluation: the SDK's evaluate(), and the engine's input of a
 * new event, whose decision and reasons then share it).
 */
function nowNs(): ArrayBuffer {
  return jsonText(evaluationNowNs().toString());
}

/** A new evaluation begins: time.now_ns reads the clock again, rand.intn and uuid.rfc4122 draw again. */
export { newEvaluation };

const misc: Record<string, Impl> = {
  'json.filter': (o, paths) => filterBy(obj(o), pathTree(jsonPaths(paths, 'json.filter'))) ?? {},
  'json.remove': (o, paths) => {
    if (o === null || typeof o !== 'object' || Array.isArray(o)) fail(`json.remove: operand 1 must be object but got ${typeName(o)}`);
    return removeBy(o, pathTree(jsonPaths(paths, 'json.remove')));
  },
  'json.patch': (o, patches) => exactText(jsonPatch(exact(o), exact(patches))),
  'units.parse': (s) => parseUnits(str(s)),
  'regex.replace': (s, p, v) => regexReplace(str(s), str(p), str(v)),
  'numbers.range': (a, b) => numbersRange(a, b),
  'numbers.range_step': (a, b, s) => numbersRange(a, b, s),
  'object.subset': (sup, sub) => isSubset(exact(sup), exact(sub)),
  'strings.count': (s, sub) => {
    const t = str(s);
    const n = str(sub);
    // Go's strings.Count: an empty substring counts the code points plus one
    return n === '' ? runes(t).length + 1 : t.split(n).length - 1;
  },
  'array.flatten': (a) => coll(a).flatMap((x) => (Array.isArray(x) ? x : [x])),
  'regex.match': (p, v) => re2(str(p)).test(str(v)),
  'glob.match': (p, d, m) => {
    // OPA: null means no delimiters, an empty array the default "."
    const given = d === null ? [] : coll(d).map(str);
    const delims = d !== null && given.length === 0 ? ['.'] : given;
    return glob(str(p), delims).test(str(m));
  },
  'regex.find_n': (p, v, n) => {
    const s = str(v);
    return findAll(str(p), s, num(n)).map((m) => m[0]);
  },
  // each match with its groups, a group that took no part as "" (Go's FindAllStringSubmatch)
  'regex.find_all_string_submatch_n': (p, v, n) => findAll(str(p), str(v), num(n)).map((m) => [...m].map((g) => g ?? '')),
  'regex.is_valid': (p) => typeof p === 'string' && re2Valid(p),
  'regex.template_match': (t, v, open, close) => templateRegex(str(t), str(open), str(close)).test(str(v)),
  'glob.quote_meta': (p) => str(p).replace(/[*?\\[\]{}]/g, '\\$&'),
  'json.marshal_with_options': (v, opts) => marshalWithOptions(v, obj(opts)),
  'regex.split': (p, v) => regexSplit(str(p), str(v)),
  'time.now_ns': () => nowNs(),
  'units.parse_bytes': (s) => parseBytes(str(s)),
  'object.remove': (o, keys) => {
    const r = { ...obj(o) };
    for (const k of keyList(keys)) delete r[k];
    return r;
  },
  'object.union': (a, b) => objectUnion(obj(a), obj(b)),
  'object.union_n': (a) => {
    if (!Array.isArray(a)) fail('operand 1 must be array');
    return (a as unknown[]).reduce<unknown>((acc, o) => objectUnion(acc, obj(o)), {});
  },
  // to_number (topdown/casts.go): the string's own digits are kept, so no precision is lost
  to_number: (v) => {
    if (v === null) return 0;
    if (typeof v === 'boolean') return v ? 1 : 0;
    if (typeof v === 'number') return v;
    const t = str(v);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) fail(`strconv.ParseFloat: parsing "${t}": invalid syntax`);
    const norm = t.replace(/^\+/, '').replace(/^(-?)\./, '$10.').replace(/\.(?=$|[eE])/, '');
    return jsonText(norm);
  },
  'object.filter': (o, keys) => {
    const src = obj(o);
    const r: Record<string, unknown> = {};
    for (const k of keyList(keys)) if (Object.hasOwn(src, k)) putOwn(r, k, src[k]);
    return r;
  },
};

/** The Rego builtins implemented here, by Rego name (what the planner accepts besides the natives). */
export const HOST_BUILTINS: Readonly<Record<string, Impl>> = {
  ...TIME,
  ...JWT,
  ...NET,
  ...MISC,
  ...SCHEMA,
  ...TEMPLATE,
  ...AWS,
  ...X509,
  ...GRAPHQL,
  ...arith,
  ...strings,
  ...encoding,
  ...misc,
  sprintf: (f, args) => sprintf(str(f), args),
  abs: (x) => Math.abs(num(x)),
  // Go's math.Round: halves away from zero (JS's Math.round goes up)
  round: (x) => Math.sign(num(x)) * Math.round(Math.abs(num(x))),
  ceil: (x) => Math.ceil(num(x)),
  floor: (x) => Math.floor(num(x)),
  // print is planned as a call to internal.print (customBuiltins supplies the hook)
  'internal.print': (operands) => printLines(coll(operands), () => undefined),
  // coverage builds only (test-policy --coverage): a site reached; customBuiltins supplies the hook
  'internal.cover': () => true,
};

/** Where `print` output goes: one call per line. */
export type PrintHook = (line: string) => void;

/**
 * internal.print (topdown/print.go): one line per combination of the
 * operands' values (each operand arrives as the array of its values),
 * strings as they are, other values as Rego text, `<undefined>` for an
 * operand without values.
 */
function printLines(operands: unknown[], hook: PrintHook): true {
  const texts = operands.map((vs) => {
    const a = coll(vs);
    return a.length === 0 ? ['<undefined>'] : a.map((v) => (typeof v === 'string' ? v : regoText(v)));
  });
  const emit = (i: number, acc: string[]): void => {
    if (i === texts.length) return hook(acc.join(' '));
    for (const t of texts[i]!) emit(i + 1, [...acc, t]);
  };
  emit(0, []);
  return true;
}

/** The SDK's own JavaScript builtins (opa-wasm src/builtins/), which it would call instead of ours. */
const SHADOWED = new Set(['sprintf', 'regex.split', 'json.is_valid', 'yaml.is_valid', 'yaml.marshal', 'yaml.unmarshal']);

/**
 * The name under which our modules' `builtins` export lists a host builtin:
 * its own, but `busted.<name>` where the SDK's JavaScript one would be
 * called instead of ours (opa-wasm src/builtins/), and `busted.exact.<name>`
 * for a builtin whose operands our modules pass as Rego text
 * (BuiltinDecl.exact). Under its own name an exact builtin takes JSON
 * values, as a module `opa build` made calls it.
 */
export function hostExportName(name: string): string {
  if (lookupBuiltin(name)?.exact === true) return `busted.exact.${name}`;
  return SHADOWED.has(name) ? `busted.${name}` : name;
}

/** What a loaded policy's host side may be given. */
export interface LoadOptions {
  /** where `print(...)` in the policy writes; dropped when absent, as OPA does outside `opa eval`/`opa test` */
  print?: PrintHook;
  /** where a coverage build (CompileOptions.coverage) reports the sites it reaches */
  cover?: (site: number) => void;
}

/** customBuiltins for loadPolicy: every host builtin under its export name, errors as undefined. */
export function customBuiltins(opts: LoadOptions = {}): Record<string, Impl> {
  const out: Record<string, Impl> = {};

  const guarded =
    (impl: Impl): Impl =>
    (...args: unknown[]) => {
      try {
        const r = impl(...args);
        return typeof r === 'number' && !Number.isFinite(r) ? undefined : r;
      } catch (e) {
        if (e instanceof BuiltinError || e instanceof SyntaxError || e instanceof RangeError || e instanceof TypeError) return undefined;
        throw e;
      }
    };
  for (const [name, impl] of Object.entries(HOST_BUILTINS)) {
    const as = hostExportName(name);
    out[as] = guarded(impl);
    // an exact builtin called by another compiler's module: JSON values, given to it as text
    const decl = lookupBuiltin(name);
    if (decl?.exact === true) {
      const plain = (...args: unknown[]): unknown => impl(...args.map((a) => JSON.stringify(a)));
      // a value builtin answers Rego text: such a module reads JSON
      out[name] = guarded(decl.value === true ? (...args: unknown[]) => jsonText(exactJSON(exact(plain(...args)))) : plain);
    }
  }
  const hook = opts.print;
  if (hook !== undefined) out['internal.print'] = (operands: unknown) => printLines(coll(operands), hook);
  const cover = opts.cover;
  if (cover !== undefined) {
    out['internal.cover'] = (site: unknown) => {
      cover(site as number);
      return true;
    };
  }
  return out;
}

/** The SDK's default memory (docs/rego-wasm-abi.md §1.3): modules are built to fit it. */
const SDK_INITIAL_PAGES = 5;

/**
 * Loads a module compiled by engine/policy/compiler.ts with our host builtins: the one path for tests and the engine.
 * A module whose constants need more than the SDK's default 5 pages of memory (a policy with thousands of literal
 * strings) gets as many as its memory import asks for, instead of failing to link.
 */
export function loadCompiled(
  wasm: BufferSource | WebAssembly.Module,
  memory?: number | WebAssembly.MemoryDescriptor,
  opts: LoadOptions = {},
): Promise<LoadedPolicy> {
  if (memory === undefined && !(wasm instanceof WebAssembly.Module)) {
    const bytes = wasm instanceof Uint8Array ? wasm : ArrayBuffer.isView(wasm) ? new Uint8Array(wasm.buffer, wasm.byteOffset, wasm.byteLength) : new Uint8Array(wasm);
    let min = 0;
    try {
      min = importsOf(bytes).memoryMin;
    } catch {
      // not a module we can read: the SDK says what is wrong with it
    }
    if (min > SDK_INITIAL_PAGES) memory = { initial: min };
  }
  return loadPolicy(wasm, memory, customBuiltins(opts)).then((p) => {
    const evaluate = p.evaluate.bind(p);
    p.evaluate = (input, entrypoint) => {
      newEvaluation();
      return evaluate(input, entrypoint);
    };
    return p;
  });
}
