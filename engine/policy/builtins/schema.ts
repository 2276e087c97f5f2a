/**
 * Host builtins: json.verify_schema and json.match_schema (OPA
 * v1/topdown/jsonschema.go), gathered by builtins-js.ts.
 *
 * OPA validates with its fork of xeipuuv/gojsonschema
 * (internal/gojsonschema); this is a validator written to the same
 * semantics: drafts 4, 6 and 7 (a schema without a known "$schema" is read
 * in its "hybrid" mode, which takes every keyword of all three), the same
 * error types and texts, the same error order, and the same choice of which
 * branch's errors an anyOf/oneOf/contains failure reports (its score).
 *
 * Where Go iterates a map (an object's keys, "properties",
 * "patternProperties", "dependencies") its order is random; here it is key
 * order (byte order, as OPA sorts objects), so results are stable.
 */
import type { BuiltinDecl } from '../compile/builtins.js';
import { byteCompare, fail, goJSON, type Impl } from './common.js';
import { goRegex } from './re2.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'json.verify_schema': { arity: 1 },
  'json.match_schema': { arity: 2 },
};

/* ------------------------------------------------------------ values */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => v !== null && typeof v === 'object' && !Array.isArray(v);
const keys = (o: Obj): string[] => Object.keys(o).sort(byteCompare);

/** A schema that gojsonschema refuses: json.verify_schema reports it, json.match_schema fails. */
class SchemaError extends Error {}

const refuse = (msg: string): never => {
  throw new SchemaError(msg);
};

/**
 * An operand as OPA's loader takes it (astValueToJSONSchemaLoader): a
 * string is JSON text, an object (or array) is the value itself.
 */
function loadOperand(v: unknown): unknown {
  if (typeof v === 'string') {
    try {
      return JSON.parse(v);
    } catch {
      return refuse('invalid JSON string');
    }
  }
  if (v !== null && typeof v === 'object') return v;
  return refuse('wrong type, expected string or object');
}

/** An exact rational: gojsonschema compares numbers as big.Rat parsed from their decimal text. */
interface Rat {
  n: bigint;
  d: bigint;
}

function rat(x: number): Rat {
  // a double's shortest decimal text is the JSON text it came from, for any number written with ≤ 15 digits
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/.exec(String(x))!;
  const frac = m[3] ?? '';
  const exp = Number(m[4] ?? 0) - frac.length;
  let n = BigInt(m[2]! + frac) * (m[1] ? -1n : 1n);
  let d = 1n;
  if (exp >= 0) n *= 10n ** BigInt(exp);
  else d = 10n ** BigInt(-exp);
  return { n, d };
}

const cmp = (a: Rat, b: Rat): number => {
  const x = a.n * b.d;
  const y = b.n * a.d;
  return x < y ? -1 : x > y ? 1 : 0;
};

/**
 * A limit as the error texts print it: a big.Float under %v, which is %g
 * with the shortest digits and an exponent from 1e+06 and below 1e-04.
 */
function floatText(x: number): string {
  if (x === 0) return '0';
  const [mant, e] = x.toExponential().split('e') as [string, string];
  const exp = Number(e);
  if (exp < -4 || exp >= 6) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return String(x);
}

/* ------------------------------------------------------------ formats */

// gojsonschema's format checkers (format_checkers.go): a value that is not a string passes every format

/** time.Parse's layouts in order: [date][T]time[zone]; hours take one or two digits, as Go's "15" does. */
function goTime(s: string, date: boolean, time: boolean, zone: boolean): boolean {
  let re = '^';
  if (date) re += '(\\d{4})-(\\d{2})-(\\d{2})';
  if (date && time) re += 'T';
  if (time) re += '(\\d{1,2}):(\\d{2}):(\\d{2})(?:[.,]\\d+)?';
  if (zone) re += '(?:Z|[+-](\\d{2}):(\\d{2}))';
  const m = new RegExp(`${re}$`).exec(s);
  if (!m) return false;
  const v = m.slice(1).map((x) => (x === undefined ? 0 : Number(x)));
  let i = 0;
  if (date) {
    const [y, mo, d] = [v[i++]!, v[i++]!, v[i++]!];
    // time.Parse checks the day against the month ("day out of range")
    const days = [31, y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    if (mo < 1 || mo > 12 || d < 1 || d > days[mo - 1]!) return false;
  }
  if (time) {
    const [h, mi, sec] = [v[i++]!, v[i++]!, v[i++]!];
    if (h > 23 || mi > 59 || sec > 59) return false;
  }
  // Go allows offsets up to 24:60 ("some people do write offsets of 24 hours")
  if (zone && (v[i]! > 24 || v[i + 1]! > 60)) return false;
  return true;
}

const dateTime = (s: string): boolean =>
  goTime(s, false, true, false) || goTime(s, false, true, true) || goTime(s, true, false, false) || goTime(s, true, true, true);

/** net.ParseIP: dotted IPv4 without leading zeros, or IPv6 (an IPv4 tail allowed, no zone). */
function goIP(s: string): boolean {
  const v4 = (t: string): boolean => /^(0|[1-9]\d{0,2})(\.(0|[1-9]\d{0,2})){3}$/.test(t) && t.split('.').every((x) => Number(x) <= 255);
  if (v4(s)) return true;
  const halves = s.split('::');
  if (halves.length > 2) return false;
  let groups = 0;
  for (const [h, half] of halves.entries()) {
    if (half === '') continue;
    const parts = half.split(':');
    for (const [j, g] of parts.entries()) {
      if (j === parts.length - 1 && h === halves.length - 1 && g.includes('.')) {
        if (!v4(g)) return false;
        groups += 2;
      } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) groups++;
      else return false;
    }
  }
  return halves.length === 2 ? groups < 8 : groups === 8;
}

/** What Go's url.Parse accepts, for the uri formats: its scheme and path, or undefined where it errs. */
function goURL(s: string): { scheme: string; path: string } | undefined {
  if (/[\x00-\x1f\x7f]/.test(s)) return undefined;
  const badEscape = (t: string): boolean => /%(?![0-9a-fA-F]{2})/.test(t);
  let rest = s;
  const hash = rest.indexOf('#');
  if (hash >= 0) {
    if (badEscape(rest.slice(hash + 1))) return undefined;
    rest = rest.slice(0, hash);
  }
  let scheme = '';
  const sm = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(rest);
  if (sm) (scheme = sm[1]!), (rest = rest.slice(sm[0].length));
  else if (rest.startsWith(':')) return undefined; // "missing protocol scheme"
  const q = rest.indexOf('?');
  if (q >= 0) rest = rest.slice(0, q);
  if (!rest.startsWith('/')) {
    if (scheme) return { scheme, path: '' }; // opaque: Go looks no further
    if (rest.split('/')[0]!.includes(':')) return undefined; // "first path segment in URL cannot contain colon"
  }
  if (rest.startsWith('//') && !rest.startsWith('///')) {
    const slash = rest.indexOf('/', 2);
    const authority = slash < 0 ? rest.slice(2) : rest.slice(2, slash);
    rest = slash < 0 ? '' : rest.slice(slash);
    const at = authority.lastIndexOf('@');
    const user = at < 0 ? '' : authority.slice(0, at);
    const host = authority.slice(at + 1);
    if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(user) || badEscape(user)) return undefined;
    let port = '';
    let name = host;
    if (host.startsWith('[')) {
      const close = host.indexOf(']');
      if (close < 0) return undefined; // "missing ']' in host"
      port = host.slice(close + 1);
      name = host.slice(1, close);
      if (port !== '' && !port.startsWith(':')) return undefined;
    } else if (host.includes(':')) {
      port = host.slice(host.lastIndexOf(':'));
      name = host.slice(0, host.lastIndexOf(':'));
    }
    if (port !== '' && !/^:\d*$/.test(port)) return undefined; // "invalid port"
    // url.unescape in host mode: characters that must be escaped there are refused
    if (badEscape(name) || /[^\x80-\u{10ffff}A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>"%]/u.test(name)) return undefined;
  }
  if (badEscape(rest)) return undefined;
  return { scheme, path: rest };
}

/** net/mail.ParseAddress: an addr-spec, or a display name and <addr-spec>. */
const MAIL = (() => {
  // atext: VCHAR or any non-ASCII, less the specials; a dot-atom has no empty atoms
  const atext = "[^\\x00-\\x20\\x7f()\\[\\];@\\\\,<>\":.]";
  const dotAtom = `${atext}+(?:\\.${atext}+)*`;
  const quoted = '"(?:[^"\\\\\\x00-\\x08\\x0a-\\x1f\\x7f]|\\\\[\\s\\S])*"';
  const spec = `(?:${dotAtom}|${quoted})@ *${dotAtom}`;
  const word = `(?:[^\\x00-\\x20\\x7f<>":]+|${quoted})`;
  return new RegExp(`^ *(?:${spec}|(?:${word}(?: +${word})*)? *<${spec}>) *$`, 'u');
})();
const goMail = (s: string): boolean => MAIL.test(s);

const FORMATS: Record<string, (s: string) => boolean> = {
  date: (s) => goTime(s, true, false, false),
  time: (s) => goTime(s, false, true, true) || goTime(s, false, true, false),
  'date-time': dateTime,
  hostname: (s) => /^([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]{0,61}[a-zA-Z0-9]))*$/.test(s) && s.length < 256,
  email: goMail,
  'idn-email': goMail,
  // net.ParseIP, then a '.' or ':' decides the family (so ::ffff:1.2.3.4 is both, as in Go)
  ipv4: (s) => goIP(s) && s.includes('.'),
  ipv6: (s) => goIP(s) && s.includes(':'),
  uri: (s) => (goURL(s)?.scheme ?? '') !== '' && !s.includes('\\'),
  iri: (s) => (goURL(s)?.scheme ?? '') !== '' && !s.includes('\\'),
  'uri-reference': (s) => goURL(s) !== undefined && !s.includes('\\'),
  'iri-reference': (s) => goURL(s) !== undefined && !s.includes('\\'),
  'uri-template': (s) => {
    const u = goURL(s);
    return u !== undefined && !s.includes('\\') && /^([^{]*(\{[^}]*\})?)*$/.test(u.path);
  },
  uuid: (s) => /^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$/i.test(s),
  regex: (s) => s === '' || goRegex(s) !== null,
  'json-pointer': (s) => /^(?:\/(?:[^~/]|~0|~1)*)*$/.test(s),
  'relative-json-pointer': (s) => /^(?:0|[1-9][0-9]*)(?:#|(?:\/(?:[^~/]|~0|~1)*)*)$/.test(s),
};

/* ------------------------------------------------------------ compiling a schema */

const DRAFT4 = 4;
const DRAFT6 = 6;
const DRAFT7 = 7;
/** gojsonschema's default when "$schema" names no draft it knows: every draft's keywords */
const HYBRID = 2 ** 31 - 1;

const DRAFT_URLS: Record<string, number> = {
  'http://json-schema.org/draft-04/schema': DRAFT4,
  'http://json-schema.org/draft-06/schema': DRAFT6,
  'http://json-schema.org/draft-07/schema': DRAFT7,
};

const JSON_TYPES = ['array', 'boolean', 'integer', 'number', 'null', 'object', 'string'];

/** A compiled (sub)schema: gojsonschema's SubSchema, the keywords it acts on. */
interface Sub {
  /** a boolean schema (draft 6 on) */
  pass?: boolean;
  ref?: Sub;
  types: string[];
  properties: Array<[string, Sub]>;
  additionalProperties?: boolean | Sub;
  patternProperties: Array<[string, RegExp, Sub]>;
  propertyNames?: Sub;
  dependencies: Array<[string, string[] | Sub]>;
  items: Sub[];
  itemsSingle: boolean;
  additionalItems?: boolean | Sub;
  multipleOf?: Rat;
  minimum?: Rat;
  maximum?: Rat;
  exclusiveMinimum?: Rat;
  exclusiveMaximum?: Rat;
  minLength?: number;
  maxLength?: number;
  pattern?: [string, RegExp];
  format?: string;
  minProperties?: number;
  maxProperties?: number;
  required: string[];
  minItems?: number;
  maxItems?: number;
  uniqueItems: boolean;
  contains?: Sub;
  constant?: string;
  /** undefined when absent: `"enum": []` allows nothing (OPA's fork, not upstream gojsonschema) */
  enumeration?: string[];
  oneOf: Sub[];
  anyOf: Sub[];
  allOf: Sub[];
  not?: Sub;
  if?: Sub;
  then?: Sub;
  else?: Sub;
}

const newSub = (): Sub => ({
  types: [],
  properties: [],
  patternProperties: [],
  dependencies: [],
  items: [],
  itemsSingle: false,
  required: [],
  uniqueItems: false,
  oneOf: [],
  anyOf: [],
  allOf: [],
});

// gojsonschema's schema error texts (locales.go)
const invalidType = (expected: string, given: string): never => refuse(`Invalid type. Expected: ${expected}, given: ${given}`);
const mustBeOfA = (x: string, y: string): never => refuse(`${x} must be of a ${y}`);
const mustBeOfAn = (x: string, y: string): never => refuse(`${x} must be of an ${y}`);
const mustBeOfType = (key: string, type: string): never => refuse(`${key} must be of type ${type}`);
const parseError = (): never => refuse('Expected: valid schema, given: Invalid JSON');

/**
 * JSON reference resolution as gojsonreference does it, on URL strings: a
 * document without an "$id" is the empty base, so "#/definitions/x" stays
 * itself; against an absolute base, WHATWG URL resolution.
 */
function resolve(base: string, ref: string): string {
  const baseNoFrag = base.split('#')[0]!;
  try {
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(ref)) return normal(new URL(ref).href);
    if (/^[A-Za-z][A-Za-z0-9+.-]*:/.test(baseNoFrag)) return normal(new URL(ref, baseNoFrag).href);
  } catch {
    // not a URL: left as written
  }
  if (ref.startsWith('#')) return baseNoFrag + normal(ref);
  if (ref === '') return baseNoFrag;
  // Go's resolvePath: relative to the base's directory, always from a leading slash
  const path = ref.startsWith('/') ? ref : baseNoFrag.slice(0, baseNoFrag.lastIndexOf('/') + 1) + ref;
  return path.startsWith('/') ? path : `/${path}`;
}

/** Go's url.URL.String drops an empty fragment. */
const normal = (r: string): string => (r.endsWith('#') ? r.slice(0, -1) : r);

/** Can a reference be fetched (gojsonreference IsCanonical): a full URL, or a file URL with an absolute path. */
const canonical = (r: string): boolean => /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]+/.test(r) || /^file:\/\/\//.test(r);

/** One schema document being compiled (gojsonschema's Schema with its pools). */
class Compiler {
  /** documents by resolved "$id" (the schema pool); the root under its own reference, "" */
  private readonly ids = new Map<string, unknown>();
  /** each "$ref" resolved against the "$id" scope it is in (gojsonschema rewrites them in place) */
  private readonly refs = new Map<object, string>();
  /** compiled schemas by reference: a reference compiled once, so recursive references end */
  private readonly pool = new Map<string, Sub>();

  constructor(
    private readonly root: unknown,
    private readonly draft: number,
  ) {
    this.scan(root, '');
    // the loader's own reference ("#", the empty string), registered after the pass as gojsonschema does
    this.ids.set('', root);
  }

  /** The references pass (schemaPool.parseReferencesRecursive): "$id" scopes and absolute "$ref"s. */
  private scan(node: unknown, base: string): void {
    if (Array.isArray(node)) {
      for (const v of node) this.scan(v, base);
      return;
    }
    if (!isObj(node)) return;
    let local = base;
    const idKey = Object.hasOwn(node, 'id') ? 'id' : '$id';
    const id = node[idKey];
    if (typeof id === 'string') {
      local = resolve(base, id);
      // a second "$id" for one reference: gojsonschema's pass returns an error its caller drops, so that subtree goes unscanned
      if (this.ids.has(local)) return;
      this.ids.set(local, node);
    }
    if (typeof node.$ref === 'string') this.refs.set(node, resolve(local, node.$ref));
    for (const k of keys(node)) {
      // const and enum are values, not schemas; properties and the like are maps of schemas (their keys may be "$ref")
      const v = node[k];
      if (k === 'const' || k === 'enum') continue;
      if (k !== 'properties' && k !== 'dependencies' && k !== 'patternProperties') this.scan(v, local);
      else if (isObj(v)) for (const kk of keys(v)) this.scan(v[kk], local);
    }
  }

  compile(): Sub {
    const s = newSub();
    this.fill(this.root, s);
    return s;
  }

  /** schemaPool.GetDocument for a local reference: an "$id", else a JSON pointer into a document. */
  private lookup(ref: string): unknown {
    if (this.ids.has(ref)) return this.ids.get(ref);
    const hash = ref.indexOf('#');
    const base = hash < 0 ? ref : ref.slice(0, hash);
    const frag = hash < 0 ? '' : ref.slice(hash + 1);
    if (!this.ids.has(base)) {
      if (!canonical(ref)) return refuse(`Reference ${ref} must be canonical`);
      return refuse(`remote reference ${ref}: busted does not fetch schemas`);
    }
    let node = this.ids.get(base);
    // a fragment that is not a pointer is no pointer at all: the whole document (gojsonreference ignores the error)
    if (!frag.startsWith('/')) return node;
    for (const raw of frag.slice(1).split('/')) {
      let token: string;
      try {
        token = decodeURIComponent(raw);
      } catch {
        return refuse(`invalid URL escape in ${ref}`);
      }
      token = token.replace(/~1/g, '/').replace(/~0/g, '~');
      if (isObj(node)) {
        if (!Object.hasOwn(node, token)) return refuse(`Object has no key '${token}'`);
        node = node[token];
      } else if (Array.isArray(node)) {
        if (!/^[+-]?\d+$/.test(token)) return refuse(`Invalid array index '${token}'`);
        const i = Number(token);
        if (i < 0 || i >= node.length) return refuse(`Out of bound array[0,${node.length}] index '${i}'`);
        node = node[i];
      } else return refuse(`Invalid token reference '${token}'`);
    }
    return node;
  }

  /** A child schema: a boolean or an object, else `bad` says what is wrong. */
  private child(v: unknown, bad?: () => never): Sub {
    if (bad && typeof v !== 'boolean' && !isObj(v)) bad();
    const s = newSub();
    this.fill(v, s);
    return s;
  }

  /** additionalProperties and additionalItems: a boolean as it is, an object as a child schema, else gojsonschema's words naming KEY. */
  private boolOrSchema(v: unknown, key: string): boolean | Sub {
    if (typeof v === 'boolean') return v;
    if (isObj(v)) return this.child(v);
    return invalidType('boolean/valid schema', key);
  }

  /** schema.go parseSchema: the keywords in its order, so the first error found is the one Go reports. */
  private fill(doc: unknown, s: Sub): void {
    const draft = this.draft;
    if (draft >= DRAFT6 && typeof doc === 'boolean') {
      s.pass = doc;
      return;
    }
    if (!isObj(doc)) return parseError();
    const m = doc;
    const has = (k: string): boolean => Object.hasOwn(m, k);
    const getString = (k: string): string | undefined => {
      if (!has(k)) return undefined;
      return typeof m[k] === 'string' ? (m[k] as string) : invalidType('string', k);
    };
    const getSlice = (k: string): unknown[] => {
      if (!has(k)) return [];
      return Array.isArray(m[k]) ? (m[k] as unknown[]) : mustBeOfAn(k, 'array');
    };
    const nonNegative = (k: string): number | undefined => {
      if (!has(k)) return undefined;
      const v = m[k];
      // json.Number.Int64: an integer within int64
      if (typeof v !== 'number' || !Number.isInteger(v) || Math.abs(v) >= 2 ** 63) return mustBeOfAn(k, 'integer');
      if (v < 0) refuse(`${k} must be greater than or equal to 0`);
      return v;
    };
    const number = (v: unknown): Rat | undefined => (typeof v === 'number' ? rat(v) : undefined);

    getString(draft === DRAFT4 ? 'id' : draft === HYBRID && has('id') ? 'id' : '$id');

    if (has('definitions')) {
      const defs = m.definitions;
      if (!isObj(defs)) invalidType('array of schemas', 'definitions');
      // definitions are checked here; a reference to one compiles it again
      for (const k of keys(defs as Obj)) this.child((defs as Obj)[k], () => invalidType('array of schemas', 'definitions'));
    }
    getString('title');
    getString('description');

    const ref = getString('$ref');
    if (ref !== undefined) {
      const abs = this.refs.get(m) ?? ref;
      const known = this.pool.get(abs);
      if (known) s.ref = known;
      else {
        // gojsonschema stops here: the rest of a schema with a new $ref is not read
        const target = newSub();
        this.pool.set(abs, target);
        const node = this.lookup(abs);
        if (typeof node !== 'boolean' && !isObj(node)) mustBeOfType('valid schema', 'object');
        this.fill(node, target);
        s.ref = target;
        return;
      }
    }

    if (has('type')) {
      const t = m.type;
      const add = (x: string): void => {
        if (!JSON_TYPES.includes(x)) refuse(`has a primitive type that is NOT VALID -- given: /${x}/ Expected valid values are:[${JSON_TYPES.join(' ')}]`);
        if (s.types.includes(x)) refuse(`${x} type is duplicated`);
        s.types.push(x);
      };
      if (typeof t === 'string') add(t);
      else if (Array.isArray(t)) for (const x of t) typeof x === 'string' ? add(x) : invalidType('type', 'string/array of strings');
      else invalidType('type', 'string/array of strings');
    }

    if (has('properties')) {
      const props = m.properties;
      if (!isObj(props)) mustBeOfType('properties', 'object');
      for (const k of keys(props as Obj)) s.properties.push([k, this.child((props as Obj)[k])]);
    }

    if (has('additionalProperties')) s.additionalProperties = this.boolOrSchema(m.additionalProperties, 'additionalProperties');

    if (has('patternProperties')) {
      const pp = m.patternProperties;
      if (!isObj(pp)) invalidType('valid schema', 'patternProperties');
      for (const k of keys(pp as Obj)) {
        const re = goRegex(k);
        if (!re) refuse(`Invalid regex pattern '${k}'`);
        s.patternProperties.push([k, re!, this.child((pp as Obj)[k])]);
      }
    }

    if (has('propertyNames') && draft >= DRAFT6) {
      s.propertyNames = this.child(m.propertyNames, () => invalidType('valid schema', 'patternProperties'));
    }

    if (has('dependencies')) {
      const deps = m.dependencies;
      if (!isObj(deps)) mustBeOfType('dependencies', 'object');
      for (const k of keys(deps as Obj)) {
        const v = (deps as Obj)[k];
        if (Array.isArray(v)) {
          if (v.some((x) => typeof x !== 'string')) mustBeOfType('dependency', 'schema or array of strings');
          if (v.length) s.dependencies.push([k, v as string[]]);
        } else s.dependencies.push([k, this.child(v, () => mustBeOfType('dependency', 'schema or array of strings'))]);
      }
    }

    if (has('items')) {
      const items = m.items;
      const bad = (): never => invalidType('valid schema/array of schemas', 'items');
      if (Array.isArray(items)) for (const x of items) s.items.push(this.child(x, bad));
      else {
        s.items.push(this.child(items, bad));
        s.itemsSingle = true;
      }
    }

    if (has('additionalItems')) s.additionalItems = this.boolOrSchema(m.additionalItems, 'additionalItems');

    if (has('multipleOf')) {
      const v = number(m.multipleOf) ?? invalidType('number', 'multipleOf');
      if (v.n <= 0n) refuse('multipleOf must be strictly greater than 0');
      s.multipleOf = v;
    }

    // draft 4 has boolean exclusive limits that move the plain one; draft 6 on, numbers; hybrid takes either
    const limit = (plain: 'minimum' | 'maximum', excl: 'exclusiveMinimum' | 'exclusiveMaximum'): void => {
      if (has(plain)) s[plain] = number(m[plain]) ?? mustBeOfA(plain, 'number');
      if (!has(excl)) return;
      const v = m[excl];
      if (typeof v === 'boolean' && draft !== DRAFT6 && draft !== DRAFT7) {
        if (s[plain] === undefined) refuse(`${excl} cannot be used without ${plain}`);
        if (v) (s[excl] = s[plain]), (s[plain] = undefined);
      } else if (typeof v === 'number' && draft !== DRAFT4) s[excl] = rat(v);
      else invalidType(draft === DRAFT4 ? 'boolean' : draft === HYBRID ? 'boolean/number' : 'number', excl);
    };
    limit('minimum', 'exclusiveMinimum');
    limit('maximum', 'exclusiveMaximum');

    s.minLength = nonNegative('minLength');
    s.maxLength = nonNegative('maxLength');
    if (s.minLength !== undefined && s.maxLength !== undefined && s.minLength > s.maxLength) refuse('minLength cannot be greater than maxLength');

    const pattern = getString('pattern');
    if (pattern !== undefined) {
      const re = goRegex(pattern);
      if (!re) refuse('pattern must be a valid regex');
      s.pattern = [pattern, re!];
    }
    s.format = getString('format');

    s.minProperties = nonNegative('minProperties');
    s.maxProperties = nonNegative('maxProperties');
    if (s.minProperties !== undefined && s.maxProperties !== undefined && s.minProperties > s.maxProperties) refuse('minProperties cannot be greater than maxProperties');

    for (const r of getSlice('required')) {
      if (typeof r !== 'string') invalidType('string', 'required');
      if (s.required.includes(r as string)) refuse('required items must be unique');
      s.required.push(r as string);
    }

    s.minItems = nonNegative('minItems');
    s.maxItems = nonNegative('maxItems');
    if (has('uniqueItems')) s.uniqueItems = typeof m.uniqueItems === 'boolean' ? m.uniqueItems : mustBeOfA('uniqueItems', 'boolean');
    if (has('contains') && draft >= DRAFT6) s.contains = this.child(m.contains);

    if (has('const') && draft >= DRAFT6) s.constant = goJSON(m.const);
    const enumeration = getSlice('enum');
    if (has('enum')) {
      s.enumeration = [];
      for (const v of enumeration) {
        const t = goJSON(v);
        if (s.enumeration.includes(t)) refuse('enum items must be unique');
        s.enumeration.push(t);
      }
    }

    for (const v of getSlice('oneOf')) s.oneOf.push(this.child(v));
    for (const v of getSlice('anyOf')) s.anyOf.push(this.child(v));
    for (const v of getSlice('allOf')) s.allOf.push(this.child(v));
    if (has('not')) s.not = this.child(m.not, () => mustBeOfAn('not', 'object'));
    if (draft >= DRAFT7) {
      if (has('if')) s.if = this.child(m.if, () => mustBeOfAn('if', 'object'));
      if (has('then')) s.then = this.child(m.then, () => mustBeOfAn('then', 'object'));
      if (has('else')) s.else = this.child(m.else, () => mustBeOfAn('else', 'object'));
    }
  }
}

/** The draft a document's "$schema" names (draft.go parseSchemaURL), hybrid when none it knows. */
function draftOf(doc: unknown): number {
  if (typeof doc === 'boolean') return HYBRID;
  if (!isObj(doc)) return refuse('schema is invalid');
  if (!Object.hasOwn(doc, '$schema')) return HYBRID;
  const url = doc.$schema;
  if (typeof url !== 'string') return mustBeOfType('$schema', 'string');
  return DRAFT_URLS[normal(url)] ?? HYBRID;
}

const schemaCache = new Map<string, Sub | string>();

/** A schema operand compiled, or the SchemaError gojsonschema's Compile would return; the last 64 kept. */
function compileSchema(operand: unknown): Sub {
  const key = typeof operand === 'string' ? `s${operand}` : `o${JSON.stringify(operand)}`;
  let hit = schemaCache.get(key);
  if (hit === undefined) {
    try {
      const doc = loadOperand(operand);
      hit = new Compiler(doc, draftOf(doc)).compile();
    } catch (e) {
      if (!(e instanceof SchemaError)) throw e;
      hit = e.message;
    }
    if (schemaCache.size >= 64) schemaCache.delete(schemaCache.keys().next().value!);
    schemaCache.set(key, hit);
  }
  return typeof hit === 'string' ? refuse(hit) : hit;
}

/* ------------------------------------------------------------ validating */

/** One of match_schema's error objects. */
interface Failure {
  error: string;
  type: string;
  field: string;
  desc: string;
}

/**
 * gojsonschema's Result: the errors, and a score (+1 per check passed, -1
 * per error) by which anyOf, oneOf and contains pick the branch whose
 * errors to report.
 */
class Result {
  errors: Failure[] = [];
  score = 0;

  add(type: string, context: string, desc: (field: string) => string): void {
    const field = context.startsWith('(root).') ? context.slice('(root).'.length) : context;
    const d = desc(field);
    this.errors.push({ error: `${field}: ${d}`, type, field, desc: d });
    this.score -= 2; // with the +1 every check ends with, -1 net
  }

  merge(other: Result): void {
    this.errors.push(...other.errors);
    this.score += other.score;
  }

  get valid(): boolean {
    return this.errors.length === 0;
  }
}

const sub = (s: Sub, node: unknown, context: string): Result => {
  const r = new Result();
  validate(s, node, r, context);
  return r;
};

const typeName = (node: unknown): string =>
  node === null ? 'null' : typeof node === 'number' ? (Number.isInteger(node) ? 'integer' : 'number') : Array.isArray(node) ? 'array' : typeof node === 'object' ? 'object' : typeof node;

/** validation.go validateRecursive: the type, then each family of keywords in gojsonschema's order. */
function validate(s: Sub, node: unknown, r: Result, context: string): void {
  if (s.pass !== undefined) {
    if (!s.pass) r.add('false', context, () => 'False always fails validation');
    return;
  }
  if (s.ref) return validate(s.ref, node, r, context);
  const given = typeName(node);
  // "integer" takes any number with no fraction (1.0 too), "number" any number
  const ok = s.types.includes(given) || (given === 'integer' && s.types.includes('number'));
  if (s.types.length && !ok) {
    const expected = s.types.length > 1 ? `[${s.types.join(',')}]` : s.types[0]!;
    r.add('invalid_type', context, () => `Invalid type. Expected: ${expected}, given: ${given}`);
    return;
  }
  validateSchema(s, node, r, context);
  if (typeof node === 'number') validateNumber(s, node, r, context);
  if (Array.isArray(node)) validateArray(s, node, r, context);
  if (isObj(node)) validateObject(s, node, r, context);
  validateCommon(s, node, r, context);
  if (typeof node === 'string') validateString(s, node, r, context);
  if (isObj(node)) {
    for (const [k, child] of s.properties) if (Object.hasOwn(node, k)) validate(child, node[k], r, `${context}.${k}`);
  }
  r.score++;
}

/** The combining keywords: anyOf, oneOf, allOf, not, dependencies, if/then/else. */
function validateSchema(s: Sub, node: unknown, r: Result, context: string): void {
  if (s.anyOf.length) {
    let best: Result | undefined;
    let matched = false;
    for (const a of s.anyOf) {
      const res = sub(a, node, context);
      if (res.valid) {
        matched = true;
        break;
      }
      if (!best || res.score > best.score) best = res;
    }
    if (!matched) {
      r.add('number_any_of', context, () => 'Must validate at least one schema (anyOf)');
      // the closest branch is probably the one meant
      r.merge(best!);
    }
  }
  if (s.oneOf.length) {
    let best: Result | undefined;
    let n = 0;
    for (const o of s.oneOf) {
      const res = sub(o, node, context);
      if (res.valid) n++;
      else if (n === 0 && (!best || res.score > best.score)) best = res;
    }
    if (n !== 1) {
      r.add('number_one_of', context, () => 'Must validate one and only one schema (oneOf)');
      if (n === 0) r.merge(best!);
    }
  }
  if (s.allOf.length) {
    let n = 0;
    for (const a of s.allOf) {
      const res = sub(a, node, context);
      if (res.valid) n++;
      r.merge(res);
    }
    if (n !== s.allOf.length) r.add('number_all_of', context, () => 'Must validate all the schemas (allOf)');
  }
  if (s.not && sub(s.not, node, context).valid) r.add('number_not', context, () => 'Must not validate the schema (not)');
  if (s.dependencies.length && isObj(node)) {
    for (const [k, dep] of s.dependencies) {
      if (!Object.hasOwn(node, k)) continue;
      if (Array.isArray(dep)) {
        for (const d of dep) if (!Object.hasOwn(node, d)) r.add('missing_dependency', context, () => `Has a dependency on ${d}`);
      } else validate(dep, node, r, context);
    }
  }
  if (s.if) {
    const cond = sub(s.if, node, context).valid;
    const branch = cond ? s.then : s.else;
    if (branch) {
      const res = sub(branch, node, context);
      if (!res.valid) {
        if (cond) r.add('condition_then', context, () => 'Must validate "then" as "if" was valid');
        else r.add('condition_else', context, () => 'Must validate "else" as "if" was not valid');
        r.merge(res);
      }
    }
  }
  r.score++;
}

/** const, enum and format, compared as Go marshals the values (sorted keys, 1.0 as 1). */
function validateCommon(s: Sub, node: unknown, r: Result, context: string): void {
  if (s.constant !== undefined && goJSON(node) !== s.constant) {
    const allowed = s.constant;
    r.add('const', context, (field) => `${field} does not match: ${allowed}`);
  }
  if (s.enumeration !== undefined && !s.enumeration.includes(goJSON(node))) {
    const allowed = s.enumeration.length ? s.enumeration.join(', ') : '(none)';
    r.add('enum', context, (field) => `${field} must be one of the following: ${allowed}`);
  }
  if (s.format !== undefined && typeof node === 'string') {
    const check = FORMATS[s.format];
    const format = s.format;
    // a format gojsonschema does not know passes
    if (check && !check(node)) r.add('format', context, () => `Does not match format '${format}'`);
  }
  r.score++;
}

function validateArray(s: Sub, node: unknown[], r: Result, context: string): void {
  if (s.itemsSingle) {
    node.forEach((v, i) => r.merge(sub(s.items[0]!, v, `${context}.${i}`)));
  } else if (s.items.length) {
    for (let i = 0; i < s.items.length && i < node.length; i++) r.merge(sub(s.items[i]!, node[i], `${context}.${i}`));
    if (s.items.length < node.length) {
      const extra = s.additionalItems;
      if (extra === false) r.add('array_no_additional_items', context, () => 'No additional items allowed on array');
      else if (typeof extra === 'object') {
        for (let i = s.items.length; i < node.length; i++) r.merge(sub(extra, node[i], `${context}.${i}`));
      }
    }
  }
  const { minItems, maxItems } = s;
  if (minItems !== undefined && node.length < minItems) r.add('array_min_items', context, () => `Array must have at least ${minItems} items`);
  if (maxItems !== undefined && node.length > maxItems) r.add('array_max_items', context, () => `Array must have at most ${maxItems} items`);
  if (s.uniqueItems) {
    // each repeat is reported against the last equal item before it
    const seen = new Map<string, number>();
    node.forEach((v, j) => {
      const t = goJSON(v);
      const i = seen.get(t);
      if (i !== undefined) r.add('unique', context, () => `array items[${i},${j}] must be unique`);
      seen.set(t, j);
    });
  }
  if (s.contains) {
    let best: Result | undefined;
    let found = false;
    for (let i = 0; i < node.length; i++) {
      const res = sub(s.contains, node[i], `${context}.${i}`);
      if (res.valid) {
        found = true;
        break;
      }
      if (!best || res.score > best.score) best = res;
    }
    if (!found) {
      r.add('contains', context, () => 'At least one of the items must match');
      if (best) r.merge(best);
    }
  }
  r.score++;
}

function validateObject(s: Sub, node: Obj, r: Result, context: string): void {
  const n = Object.keys(node).length;
  const { minProperties, maxProperties } = s;
  if (minProperties !== undefined && n < minProperties) r.add('array_min_properties', context, () => `Must have at least ${minProperties} properties`);
  if (maxProperties !== undefined && n > maxProperties) r.add('array_max_properties', context, () => `Must have at most ${maxProperties} properties`);
  for (const k of s.required) {
    if (Object.hasOwn(node, k)) r.score++;
    else r.add('required', context, () => `${k} is required`);
  }
  for (const k of keys(node)) {
    const declared = s.properties.some(([p]) => p === k);
    let matched = false;
    for (const [, re, child] of s.patternProperties) {
      if (re.test(k)) {
        matched = true;
        r.merge(sub(child, node[k], `${context}.${k}`));
      }
    }
    if (matched) r.score++;
    if (declared || matched) continue;
    const extra = s.additionalProperties;
    if (extra === false) r.add('additional_property_not_allowed', context, () => `Additional property ${k} is not allowed`);
    else if (typeof extra === 'object') r.merge(sub(extra, node[k], `${context}.${k}`));
  }
  if (s.propertyNames) {
    for (const k of keys(node)) {
      const res = sub(s.propertyNames, k, context);
      if (!res.valid) {
        r.add('invalid_property_name', context, () => `Property name of "${k}" does not match`);
        r.merge(res);
      }
    }
  }
  r.score++;
}

function validateString(s: Sub, node: string, r: Result, context: string): void {
  // lengths in runes (utf8.RuneCountInString), not UTF-16 units
  const len = [...node].length;
  const { minLength, maxLength } = s;
  if (minLength !== undefined && len < minLength) r.add('string_gte', context, () => `String length must be greater than or equal to ${minLength}`);
  if (maxLength !== undefined && len > maxLength) r.add('string_lte', context, () => `String length must be less than or equal to ${maxLength}`);
  if (s.pattern && !s.pattern[1].test(node)) {
    const src = s.pattern[0];
    r.add('pattern', context, () => `Does not match pattern '${src}'`);
  }
  r.score++;
}

function validateNumber(s: Sub, node: number, r: Result, context: string): void {
  const v = rat(node);
  const ratText = (x: Rat): string => floatText(Number(x.n) / Number(x.d));
  const { multipleOf: m, maximum, exclusiveMaximum, minimum, exclusiveMinimum } = s;
  if (m && (v.n * m.d) % (v.d * m.n) !== 0n) r.add('multiple_of', context, () => `Must be a multiple of ${ratText(m)}`);
  if (maximum && cmp(v, maximum) > 0) r.add('number_lte', context, () => `Must be less than or equal to ${ratText(maximum)}`);
  if (exclusiveMaximum && cmp(v, exclusiveMaximum) >= 0) r.add('number_lt', context, () => `Must be less than ${ratText(exclusiveMaximum)}`);
  if (minimum && cmp(v, minimum) < 0) r.add('number_gte', context, () => `Must be greater than or equal to ${ratText(minimum)}`);
  if (exclusiveMinimum && cmp(v, exclusiveMinimum) <= 0) r.add('number_gt', context, () => `Must be greater than ${ratText(exclusiveMinimum)}`);
  r.score++;
}

/* ------------------------------------------------------------ builtins */

export const IMPLS: Record<string, Impl> = {
  // [true, null], or [false, "jsonschema: <why>"]: an unusable schema is an answer, not an error
  'json.verify_schema': (schema) => {
    try {
      compileSchema(schema);
      return [true, null];
    } catch (e) {
      if (e instanceof SchemaError) return [false, `jsonschema: ${e.message}`];
      throw e;
    }
  },
  // [true, []], or [false, [{error, type, field, desc}, ...]]; an unusable document or schema is an error
  'json.match_schema': (document, schema) => {
    try {
      const doc = loadOperand(document);
      const r = new Result();
      validate(compileSchema(schema), doc, r, '(root)');
      return [r.valid, r.errors];
    } catch (e) {
      if (e instanceof SchemaError) return fail(`json.match_schema: ${e.message}`);
      throw e;
    }
  },
};
