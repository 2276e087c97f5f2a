/**
 * Host builtins: strings, arrays, bits, semantic versions, UUIDs, YAML,
 * graphs, rego.parse_module and other small families (OPA v1/topdown),
 * gathered by builtins-js.ts.
 */
import { randomInt, randomUUID } from 'node:crypto';

import { parseDocument, stringify } from 'yaml';

import type { BuiltinDecl } from '../compile/builtins.js';
import { unrepresentable } from '../data-file.js';
import { formatErrors } from '../rego/errors.js';
import { moduleJSON } from '../rego/json.js';
import { parseModuleWithErrors } from '../rego/parser.js';
import { bigInt, coll, declined, exact, fail, int, jsonText, obj, perEvaluation, runes, str, succeeds, type Impl } from './common.js';
import { parseDuration } from './time.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'strings.reverse': { arity: 1 },
  'array.reverse': { arity: 1 },
  indexof_n: { arity: 2 },
  'bits.and': { arity: 2, exact: true },
  'bits.or': { arity: 2, exact: true },
  'bits.xor': { arity: 2, exact: true },
  'bits.negate': { arity: 1, exact: true },
  'bits.lsh': { arity: 2, exact: true },
  'bits.rsh': { arity: 2, exact: true },
  'semver.is_valid': { arity: 1 },
  'semver.compare': { arity: 2 },
  'uuid.parse': { arity: 1 },
  'uuid.rfc4122': { arity: 1 },
  'rand.intn': { arity: 2 },
  // declared so that tests can mock it (`with http.send as …`); called, it stops the evaluation
  'http.send': { arity: 1 },
  'json.is_valid': { arity: 1 },
  'yaml.is_valid': { arity: 1 },
  'yaml.marshal': { arity: 1 },
  'yaml.unmarshal': { arity: 1 },
  'graph.reachable': { arity: 2, set: true },
  'graph.reachable_paths': { arity: 2, set: true },
  'opa.runtime': { arity: 0 },
  'test.sleep': { arity: 1 },
  'rego.parse_module': { arity: 2 },
};

/* ------------------------------------------------------------------ bits */

const bigText = (n: bigint): ArrayBuffer => jsonText(n.toString());
const bits = (t: unknown): bigint => bigInt(exact(t));
const shift = (t: unknown): bigint => {
  const n = bits(t);
  return n < 0n ? fail('shift count must be non-negative') : n;
};

/* ---------------------------------------------------------------- semver */

// SemVer 2.0.0: no leading zeros in numbers or numeric pre-release parts, no "v"
const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?$/;

function semver(v: unknown, operand: number): { core: bigint[]; pre: string[] } {
  const m = typeof v === 'string' ? SEMVER.exec(v) : null;
  if (!m) return fail(`semver.compare: operand ${operand}: string ${JSON.stringify(v)} is not a valid SemVer`);
  return { core: [m[1]!, m[2]!, m[3]!].map(BigInt), pre: m[4] === undefined ? [] : m[4].split('.') };
}

const cmp = <T>(a: T, b: T): number => (a < b ? -1 : a > b ? 1 : 0);

/** SemVer precedence (§11): numbers, then a version with a pre-release below one without, then part by part. */
function semverCompare(a: unknown, b: unknown): number {
  const x = semver(a, 1);
  const y = semver(b, 2);
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return cmp(x.core[i]!, y.core[i]!);
  if (!x.pre.length || !y.pre.length) return cmp(y.pre.length, x.pre.length);
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn && p !== q) return cmp(BigInt(p), BigInt(q));
    if (pn !== qn) return pn ? -1 : 1; // numeric parts are below alphanumeric ones
    if (p !== q) return cmp(p, q);
  }
  return cmp(x.pre.length, y.pre.length);
}

/* ------------------------------------------------------------------ uuid */

/** The 16 bytes of a UUID in the forms Go's google/uuid Parse takes: plain, {braced}, urn:uuid:, or 32 hex digits. */
function uuidBytes(s: string): Buffer {
  let hex: string | undefined;
  const plain = (t: string): string | undefined =>
    /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/.test(t) ? t.replace(/-/g, '') : undefined;
  if (s.length === 36) hex = plain(s);
  else if (s.length === 45 && s.slice(0, 9).toLowerCase() === 'urn:uuid:') hex = plain(s.slice(9));
  else if (s.length === 38 && s[0] === '{' && s[37] === '}') hex = plain(s.slice(1, 37));
  else if (s.length === 32 && /^[0-9a-fA-F]{32}$/.test(s)) hex = s;
  return hex === undefined ? fail(`invalid UUID ${JSON.stringify(s)}`) : Buffer.from(hex, 'hex');
}

const VARIANTS = ['Reserved', 'Reserved', 'RFC4122', 'Microsoft', 'Future'];
const DOMAINS = ['Person', 'Group', 'Org'];
/** 100 ns intervals from the Gregorian calendar's start (1582-10-15) to the Unix epoch */
const GREGORIAN_OFFSET = 122192928000000000n;

/** uuid.parse (topdown/uuid.go): version and variant; for versions 1 and 2 its time, clock sequence and node; for 2 its domain and id. */
function uuidParse(s: string): ArrayBuffer {
  const b = uuidBytes(s);
  const version = b[6]! >> 4;
  const v = b[8]!;
  const variant = VARIANTS[(v & 0x80) === 0 ? 0 : (v & 0xc0) === 0x80 ? 2 : (v & 0xe0) === 0xc0 ? 3 : 4]!;
  const out: Record<string, string> = { variant: JSON.stringify(variant), version: String(version) };
  if (version === 1 || version === 2) {
    const hi = BigInt(b.readUInt16BE(6) & 0xfff) << 48n;
    const mid = BigInt(b.readUInt16BE(4)) << 32n;
    const low = BigInt(b.readUInt32BE(0)); // version 2 keeps its id there, and Go reads it as time all the same
    const ns = (hi | mid | low) - GREGORIAN_OFFSET;
    out.time = String(ns * 100n);
    out.clocksequence = String(b.readUInt16BE(8) & 0x3fff);
    const node = b.subarray(10, 16);
    out.nodeid = JSON.stringify([...node].map((x) => x.toString(16).padStart(2, '0')).join('-'));
    out.macvariables = JSON.stringify(`${node[0]! & 0x02 ? 'local' : 'global'}:${node[0]! & 0x01 ? 'multicast' : 'unicast'}`);
    if (version === 2) {
      out.id = String(b.readUInt32BE(0));
      out.domain = JSON.stringify(DOMAINS[b[9]!] ?? `Domain${b[9]}`);
    }
  }
  // JSON text: the time in nanoseconds is past 2^53
  return jsonText(`{${Object.entries(out).map(([k, x]) => `${JSON.stringify(k)}:${x}`).join(',')}}`);
}

/* ------------------------------------------------------------------ yaml */

/** YAML as JSON can hold it (the first document), or a builtin error. */
function yamlValue(text: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length) fail(`yaml: ${doc.errors[0]!.message.split('\n')[0]}`);
  const v = doc.contents === null ? null : doc.toJS({ maxAliasCount: 100 });
  const bad = unrepresentable(v, '');
  return bad === undefined ? v : fail(`yaml: ${bad}`);
}

/* ------------------------------------------------------------------ rego */

/**
 * rego.parse_module (topdown/parse.go): the module parsed as Rego v1, as
 * OPA's JSON AST (rego/json.ts), or OPA's parse errors (a builtin error:
 * undefined, as OPA's non-strict mode has it).
 */
function parseModuleBuiltin(file: string, source: string): ArrayBuffer {
  const { module, errors } = parseModuleWithErrors(source, file);
  if (module === undefined) return fail(`rego.parse_module: ${formatErrors(errors, true)}`);
  // JSON text: numbers keep their source text
  return jsonText(moduleJSON(module));
}

/* ----------------------------------------------------------------- graph */

/** A vertex's identity: its JSON (vertices arrive as JSON values). */
const vertexKey = (v: unknown): string => JSON.stringify(v);
/** graph[v]: vertices are object keys, so a string vertex; the edges an array (a set arrives as one), else none */
function edgesOf(graph: Record<string, unknown>, v: unknown): unknown[] | undefined {
  if (typeof v !== 'string' || !Object.prototype.hasOwnProperty.call(graph, v)) return undefined;
  const e = graph[v];
  return Array.isArray(e) ? e : [];
}
const initial = (v: unknown): unknown[] => (Array.isArray(v) ? v : fail('graph: operand 2 must be an array or set'));

/** graph.reachable (topdown/reachable.go): every vertex of the graph reached from the initial ones, breadth first. */
function reachable(graph: Record<string, unknown>, from: unknown[]): unknown[] {
  const reached = new Map<string, unknown>();
  const queue = [...from];
  while (queue.length) {
    const v = queue.shift();
    const edges = edgesOf(graph, v);
    if (edges === undefined) continue;
    for (const n of edges) if (!reached.has(vertexKey(n))) queue.push(n);
    reached.set(vertexKey(v), v);
  }
  return [...reached.values()];
}

/** graph.reachable_paths: every path from an initial vertex that ends at a leaf, a vertex outside the graph, or a cycle. */
function reachablePaths(graph: Record<string, unknown>, from: unknown[]): unknown[] {
  const out = new Map<string, unknown[]>();
  const commit = (path: unknown[]): void => void out.set(vertexKey(path), path);
  const walk = (v: unknown, path: unknown[], seen: Set<string>): void => {
    const edges = edgesOf(graph, v);
    if (edges === undefined) return commit(path);
    const here = [...path, v];
    if (!edges.length) return commit(here);
    const next = new Set(seen).add(vertexKey(v));
    for (const n of edges) {
      if (next.has(vertexKey(n))) commit(here);
      else walk(n, here, next);
    }
  };
  for (const v of from) {
    const edges = edgesOf(graph, v);
    if (edges === undefined) continue;
    if (!edges.length) commit([v]);
    for (const n of edges) walk(n, [v], new Set([vertexKey(v)]));
  }
  return [...out.values()];
}

export const IMPLS: Record<string, Impl> = {
  'http.send': () => declined('http.send'),
  // what OPA's Go API answers with no runtime configured: busted runs none
  // of OPA's (no config, no bundle service), and the agent's environment is
  // not handed to policies, whose reasons go to every sink
  'opa.runtime': () => ({}),
  // OPA's test helper: blocks for the duration (Go's syntax), then null; a
  // negative one returns at once, as time.Sleep does
  'test.sleep': (d) => {
    const ms = Number(parseDuration(str(d))) / 1e6;
    if (ms > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return null;
  },
  'strings.reverse': (s) => runes(str(s)).reverse().join(''),
  'array.reverse': (a) => [...coll(a)].reverse(),
  // every start (overlapping ones too) of `search`, in runes
  indexof_n: (s, search) => {
    const base = runes(str(s));
    const sub = runes(str(search));
    if (!sub.length) fail('empty search character');
    const out: number[] = [];
    for (let i = 0; i + sub.length <= base.length; i++) if (sub.every((c, j) => base[i + j] === c)) out.push(i);
    return out;
  },
  'bits.and': (a, b) => bigText(bits(a) & bits(b)),
  'bits.or': (a, b) => bigText(bits(a) | bits(b)),
  'bits.xor': (a, b) => bigText(bits(a) ^ bits(b)),
  'bits.negate': (a) => bigText(~bits(a)),
  'bits.lsh': (a, b) => bigText(bits(a) << shift(b)),
  'bits.rsh': (a, b) => bigText(bits(a) >> shift(b)),
  'semver.is_valid': (v) => typeof v === 'string' && SEMVER.test(v),
  'semver.compare': (a, b) => semverCompare(a, b),
  'uuid.parse': (s) => uuidParse(str(s)),
  'uuid.rfc4122': (k) => perEvaluation(`uuid\0${str(k)}`, () => randomUUID()),
  // [0, |n|), 0 for n = 0
  'rand.intn': (k, n) => perEvaluation(`rand\0${str(k)}\0${int(n)}`, () => (n === 0 ? 0 : randomInt(Math.abs(n as number)))),
  'json.is_valid': (s) => typeof s === 'string' && succeeds(() => JSON.parse(s)),
  'yaml.is_valid': (s) => typeof s === 'string' && succeeds(() => yamlValue(s)),
  // go-yaml's layout: keys sorted, a list under a key not indented
  'yaml.marshal': (v) => stringify(v, { sortMapEntries: true, indentSeq: false }),
  'yaml.unmarshal': (s) => yamlValue(str(s)),
  'rego.parse_module': (file, source) => parseModuleBuiltin(str(file), str(source)),
  'graph.reachable': (g, from) => reachable(obj(g), initial(from)),
  'graph.reachable_paths': (g, from) => reachablePaths(obj(g), initial(from)),
};
