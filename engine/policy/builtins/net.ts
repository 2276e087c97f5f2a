/**
 * Host builtins: the net.cidr_* family (OPA v1/topdown/cidr.go), gathered
 * by builtins-js.ts. Addresses are BigInts (IPv4 32 bits, IPv6 128), and
 * the two families never mix, as in Go's net package.
 */
import { readFileSync, statSync } from 'node:fs';

import type { BuiltinDecl } from '../compile/builtins.js';
import { coll, declined, exact, fail, NumberText, RegoSet, str, succeeds, type Exact, type Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'net.cidr_contains': { arity: 2 },
  'net.cidr_intersects': { arity: 2 },
  'net.cidr_is_valid': { arity: 1 },
  'net.cidr_expand': { arity: 1, set: true },
  'net.cidr_merge': { arity: 1, set: true },
  // a set operand's keys are its elements: the operands must cross as sets
  'net.cidr_contains_matches': { arity: 2, exact: true, set: true },
  'net.lookup_ip_addr': { arity: 1, set: true },
};

/** Go's net.ParseIP: the address and its family (x509.ts uses it too). */
export function parseIP(s: string): { v6: boolean; n: bigint } | undefined {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(s)) {
    const parts = s.split('.').map(Number);
    if (parts.some((x) => x > 255) || s.split('.').some((x) => x.length > 1 && x.startsWith('0'))) return undefined;
    return { v6: false, n: parts.reduce((a, x) => (a << 8n) | BigInt(x), 0n) };
  }
  if (!s.includes(':')) return undefined;
  let head = s;
  let tail4: bigint | undefined;
  const v4 = /:(\d{1,3}(\.\d{1,3}){3})$/.exec(s);
  if (v4) {
    const p = parseIP(v4[1]!);
    if (!p) return undefined;
    tail4 = p.n;
    head = s.slice(0, v4.index + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string) => (h === '' ? [] : h.split(':'));
  const a = groups(halves[0]!);
  const b = halves.length === 2 ? groups(halves[1]!) : [];
  const fill = 8 - a.length - b.length;
  if ((halves.length === 2 && fill < 1) || (halves.length === 1 && fill !== 0)) return undefined;
  const all = [...a, ...Array(halves.length === 2 ? fill : 0).fill('0'), ...b];
  if (all.some((g) => !/^[0-9a-fA-F]{1,4}$/.test(g))) return undefined;
  let n = all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
  if (tail4 !== undefined) n = (n & ~0xffffffffn) | tail4;
  return { v6: true, n };
}

/** A CIDR as [first, last] address and family. */
function cidrRange(s: string): { v6: boolean; lo: bigint; hi: bigint } {
  const slash = s.indexOf('/');
  if (slash < 0) fail(`invalid CIDR address: ${s}`);
  const ip = parseIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  const width = ip?.v6 ? 128 : 32;
  if (!ip || !/^\d+$/.test(bits) || Number(bits) > width) fail(`invalid CIDR address: ${s}`);
  return prefixRange(ip!, Number(bits));
}

/** The addresses of IP's network of BITS leading bits, first and last. */
function prefixRange(ip: { v6: boolean; n: bigint }, bits: number): { v6: boolean; lo: bigint; hi: bigint } {
  const host = BigInt((ip.v6 ? 128 : 32) - bits);
  const lo = (ip.n >> host) << host;
  return { v6: ip.v6, lo, hi: lo + (1n << host) - 1n };
}

function cidrContains(cidr: string, x: string): boolean {
  const c = cidrRange(cidr);
  let lo: bigint;
  let hi: bigint;
  let v6: boolean;
  if (x.includes('/')) ({ lo, hi, v6 } = cidrRange(x));
  else {
    const ip = parseIP(x);
    if (!ip) fail(`invalid IP address: ${x}`);
    ({ v6 } = ip!);
    lo = hi = ip!.n;
  }
  // Go's net package sees an IPv4 address inside ::ffff:0:0/96 as the same address
  if (c.v6 !== v6) return false;
  return c.lo <= lo && hi <= c.hi;
}

/** net.cidr_intersects: two ranges of one family that share an address. */
function cidrIntersects(a: string, b: string): boolean {
  const x = cidrRange(a);
  const y = cidrRange(b);
  return x.v6 === y.v6 && x.lo <= y.hi && y.lo <= x.hi;
}


/** Go's IP.String(): dotted IPv4; IPv6 in RFC 5952 form (the longest run of two or more zero groups as ::). */
function ipText(n: bigint, v6: boolean): string {
  if (!v6) return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join('.');
  if (n >> 32n === 0xffffn) return ipText(n & 0xffffffffn, false); // IPv4-mapped: Go prints the IPv4 address
  const g = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) (best = i), (bestLen = j - i);
    i = j === i ? i + 1 : j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  return best < 0 ? hex(g) : `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The widest aligned blocks that cover [lo, hi] exactly, in order. */
function blocks(lo: bigint, hi: bigint, width: number): Array<[bigint, number]> {
  const out: Array<[bigint, number]> = [];
  while (lo <= hi) {
    let host = 0;
    while (host < width && (lo & ((1n << BigInt(host + 1)) - 1n)) === 0n && lo + (1n << BigInt(host + 1)) - 1n <= hi) host++;
    out.push([lo, width - host]);
    lo += 1n << BigInt(host);
  }
  return out;
}

/**
 * net.cidr_merge's operand: a CIDR, or an IPv4 address with its class's
 * default mask (Go's IP.DefaultMask: 192.0.2.1 is 192.0.2.0/24); an IPv6
 * address needs a prefix length.
 */
function mergeRange(x: unknown): { v6: boolean; lo: bigint; hi: bigint } {
  const s = str(x);
  const ip = parseIP(s);
  if (!ip) return cidrRange(s);
  if (ip.v6) fail('IPv6 invalid: needs prefix length');
  const first = Number(ip.n >> 24n);
  return prefixRange(ip, first < 128 ? 8 : first < 192 ? 16 : 24);
}

/** net.cidr_merge: the fewest CIDRs that cover the same addresses. */
function cidrMerge(xs: unknown[]): string[] {
  const out: string[] = [];
  for (const v6 of [false, true]) {
    const ranges = xs
      .map(mergeRange)
      .filter((r) => r.v6 === v6)
      .sort((a, b) => (a.lo < b.lo ? -1 : a.lo > b.lo ? 1 : 0));
    const merged: Array<[bigint, bigint]> = [];
    for (const r of ranges) {
      const last = merged[merged.length - 1];
      if (last && r.lo <= last[1] + 1n) last[1] = r.hi > last[1] ? r.hi : last[1];
      else merged.push([r.lo, r.hi]);
    }
    for (const [lo, hi] of merged) for (const [n, bits] of blocks(lo, hi, v6 ? 128 : 32)) out.push(`${ipText(n, v6)}/${bits}`);
  }
  return out;
}

/** net.cidr_expand refuses a range past this many addresses (OPA has no bound and would exhaust memory). */
const EXPAND_MAX = 1 << 20;

function cidrExpand(cidr: string): string[] {
  const { v6, lo, hi } = cidrRange(cidr);
  if (hi - lo >= BigInt(EXPAND_MAX)) fail(`net.cidr_expand: ${cidr} has more than ${EXPAND_MAX} addresses`);
  const out: string[] = [];
  for (let n = lo; n <= hi; n++) out.push(ipText(n, v6));
  return out;
}

/**
 * net.cidr_contains_matches' operands: a string (its own key), or an array,
 * set or object of strings or of tuples whose first element is the string;
 * the key is the index, the element itself, or the object key.
 */
function matchItems(v: Exact): Array<[string, Exact]> {
  if (typeof v === 'string') return [[v, v]];
  const entries: Array<[Exact, Exact]> =
    v instanceof RegoSet
      ? v.items.map((x) => [x, x])
      : Array.isArray(v)
        ? v.map((x, i) => [x, i])
        : v !== null && typeof v === 'object' && !(v instanceof NumberText)
          ? Object.entries(v).map(([k, x]) => [x, k])
          : fail('operand must be a string, array, set or object');
  return entries.map(([x, key]) => {
    if (typeof x === 'string') return [x, key];
    if (Array.isArray(x) && typeof x[0] === 'string') return [x[0], key];
    return fail('net.cidr_contains_matches: element must be a string or a non-empty array whose first element is a string');
  });
}

/** A key of the result: sets travel back as arrays (the result set holds pairs). */
const keyValue = (k: Exact): unknown => (k instanceof RegoSet ? k.items.map(keyValue) : Array.isArray(k) ? k.map(keyValue) : typeof k === 'bigint' ? Number(k) : k);

/** /etc/hosts: name (lower case) → addresses, read again when the file changes. */
let hosts: { mtimeMs: number; names: Map<string, string[]> } | undefined;
function hostsFile(): Map<string, string[]> {
  let st;
  try {
    st = statSync('/etc/hosts');
  } catch {
    return new Map();
  }
  if (hosts?.mtimeMs === st.mtimeMs) return hosts.names;
  const names = new Map<string, string[]>();
  for (const line of readFileSync('/etc/hosts', 'utf8').split('\n')) {
    const [addr, ...aliases] = line.replace(/#.*/, '').trim().split(/\s+/);
    if (!addr || !parseIP(addr.replace(/%.*/, ''))) continue;
    for (const a of aliases) names.set(a.toLowerCase(), [...(names.get(a.toLowerCase()) ?? []), addr]);
  }
  hosts = { mtimeMs: st.mtimeMs, names };
  return names;
}

/**
 * net.lookup_ip_addr without the network (a policy must not wait on it): an
 * address is itself; localhost and its subdomains are loopback (RFC 6761, as
 * Go answers); other names come from /etc/hosts, else the call fails.
 */
function lookupIpAddr(name: string): string[] {
  const ip = parseIP(name);
  if (ip) return [ipText(ip.n, ip.v6)];
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === 'localhost' || n.endsWith('.localhost')) return ['127.0.0.1', '::1'];
  return hostsFile().get(n) ?? declined('net.lookup_ip_addr', 'resolves names from /etc/hosts only, never over the network');
}

export const IMPLS: Record<string, Impl> = {
  'net.lookup_ip_addr': (name) => lookupIpAddr(str(name)),
  'net.cidr_contains': (c, x) => cidrContains(str(c), str(x)),
  'net.cidr_intersects': (a, b) => cidrIntersects(str(a), str(b)),
  'net.cidr_is_valid': (c) => succeeds(() => cidrRange(str(c))),
  'net.cidr_expand': (c) => cidrExpand(str(c)),
  'net.cidr_merge': (xs) => cidrMerge(coll(xs)),
  'net.cidr_contains_matches': (a, b) => {
    const out: unknown[] = [];
    const right = matchItems(exact(b));
    for (const [cidr, k1] of matchItems(exact(a))) for (const [x, k2] of right) if (cidrContains(cidr, x)) out.push([keyValue(k1), keyValue(k2)]);
    return out;
  },
};
