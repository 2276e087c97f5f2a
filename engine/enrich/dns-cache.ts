/**
 * Which names resolved to which addresses, learned from the DNS responses a
 * host receives, so that a later connect() to an address can be labelled
 * with the name the process looked up (TLS SNI is not always there: plain
 * HTTP, QUIC, ECH, connection reuse).
 *
 * The label is the name the client asked for, followed through CNAMEs: a
 * query for api.openai.com answered with
 *   api.openai.com CNAME api.openai.com.cdn.cloudflare.net
 *   api.openai.com.cdn.cloudflare.net A 1.2.3.4
 * makes 1.2.3.4 "api.openai.com" (and also the CDN alias). Records that do
 * not lie on a chain from the question are not credited: a stub resolver
 * ignores them too (RFC 1034 §5.3.3 follows only the CNAMEs of the name it
 * asked for), so the process will not connect because of them.
 */
import { isIP } from 'node:net';
import type { DnsAnswer, DnsInfo } from '../model/event.js';
import { canonicalIp, svcbHintAddresses } from '../parse/dns.js';

export interface DnsCacheOptions {
  /** addresses remembered at most (default 65536); the least recently updated goes first */
  maxEntries?: number;
  /**
   * Shortest time a mapping is kept, seconds (default 30). Answers with a
   * TTL of 0 (RFC 1035 §3.2.1: "not to be cached") or a few seconds are
   * common behind CDNs and load balancers, yet the connect they lead to
   * follows within milliseconds; the floor keeps them long enough to label it.
   */
  minTtlS?: number;
  /** Longest time a mapping is kept, seconds (default 86400, the cap resolvers commonly apply). */
  maxTtlS?: number;
  /** clock in milliseconds, injectable for tests */
  now?: () => number;
}

/**
 * Names kept per address. Shared CDN and cloud addresses are answered for
 * thousands of names; the most recent ones are the ones a connect is about
 * to use, and the cap bounds memory at maxEntries × this many pairs.
 */
const MAX_NAMES_PER_ADDRESS = 16;
/** Addresses kept per name: round-robin pools answer with ever new ones; the newest matter. */
const MAX_ADDRESSES_PER_NAME = 64;
/** CNAME chains longer than this are not followed (resolvers stop around 8–16 too). */
const MAX_CHAIN = 16;

const DEFAULTS = { maxEntries: 65536, minTtlS: 30, maxTtlS: 86400 };

export class DnsCache {
  private readonly maxEntries: number;
  private readonly minTtlS: number;
  private readonly maxTtlS: number;
  private readonly now: () => number;
  /**
   * address → (name → expiry ms). Both levels are kept in update order
   * (delete + set), so the outer map's first key is the least recently
   * updated address and an inner map's last key the most recent name.
   */
  private readonly byAddress = new Map<string, Map<string, number>>();
  /** name → (address → expiry ms), the reverse of byAddress, same pairs */
  private readonly byName = new Map<string, Map<string, number>>();
  /** /etc/hosts and the like: never expire, never evicted */
  private readonly staticByAddress = new Map<string, string[]>();
  private readonly staticByName = new Map<string, string[]>();

  constructor(opts: DnsCacheOptions = {}) {
    const num = (v: number | undefined, fallback: number): number =>
      typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fallback;
    this.maxEntries = Math.max(1, Math.floor(num(opts.maxEntries, DEFAULTS.maxEntries)));
    this.minTtlS = num(opts.minTtlS, DEFAULTS.minTtlS);
    this.maxTtlS = Math.max(this.minTtlS, num(opts.maxTtlS, DEFAULTS.maxTtlS));
    this.now = opts.now ?? Date.now;
  }

  /** Addresses known (learned or static), expired ones that were not yet looked up included. */
  get size(): number {
    let n = this.byAddress.size;
    for (const ip of this.staticByAddress.keys()) if (!this.byAddress.has(ip)) n++;
    return n;
  }

  /**
   * Records a parsed response: each question name is credited for every
   * address at the end of its CNAME chain (and for the ipv4hint/ipv6hint of
   * HTTPS/SVCB records on the chain, RFC 9460 §7.3), and so is every alias
   * on the way. A mapping lives as long as the shortest TTL on its chain,
   * since the chain breaks when any link expires (RFC 2181 §5.2 treats an
   * RRset as a unit; a CNAME's TTL bounds what was reached through it).
   */
  addResponse(dns: DnsInfo): void {
    const answers = dns.answers;
    if (!answers || answers.length === 0) return;
    if (dns.questions.length === 1 && this.addDirect(dns.questions[0]!.name, answers)) return;
    const cnames = new Map<string, DnsAnswer>();
    const addresses = new Map<string, Array<{ ip: string; ttl: number }>>();
    const push = (owner: string, ip: string | undefined, ttl: number): void => {
      if (ip === undefined) return;
      let list = addresses.get(owner);
      if (!list) addresses.set(owner, (list = []));
      list.push({ ip, ttl });
    };
    for (const a of answers) {
      const owner = normaliseName(a.name);
      if (owner === undefined) continue;
      if (a.type === 'CNAME') {
        // RFC 2181 §10.1: a name has at most one CNAME; keep the first
        if (!cnames.has(owner)) cnames.set(owner, a);
      } else if (a.type === 'A' || a.type === 'AAAA') {
        push(owner, canonicalIp(a.value), a.ttl);
      } else if (a.type === 'HTTPS' || a.type === 'SVCB') {
        for (const ip of svcbHintAddresses(a)) push(owner, ip, a.ttl);
      }
    }

    const credit = new Map<string, { names: string[]; ttl: number }>();
    for (const q of dns.questions) {
      const qname = normaliseName(q.name);
      if (qname === undefined) continue;
      // follow the chain from the question, remembering the shortest TTL
      const chain = [qname];
      let ttl = Infinity;
      const found: Array<{ ip: string; ttl: number }> = [];
      let at = qname;
      for (let hop = 0; ; hop++) {
        for (const r of addresses.get(at) ?? []) found.push({ ip: r.ip, ttl: Math.min(ttl, r.ttl) });
        const c = cnames.get(at);
        if (!c || hop >= MAX_CHAIN) break;
        const target = normaliseName(c.value);
        if (target === undefined || chain.includes(target)) break; // a CNAME loop
        ttl = Math.min(ttl, c.ttl);
        chain.push(target);
        at = target;
      }
      for (const f of found) {
        const prev = credit.get(f.ip);
        if (prev) {
          for (const n of chain) if (!prev.names.includes(n)) prev.names.push(n);
          prev.ttl = Math.max(prev.ttl, f.ttl);
        } else {
          credit.set(f.ip, { names: [...chain], ttl: f.ttl });
        }
      }
    }
    const now = this.now();
    for (const [ip, { names, ttl }] of credit) {
      const until = now + this.clampTtl(ttl) * 1000;
      // The aliases first and the question name last, so that the name the
      // process asked for comes out first from namesFor().
      for (let i = names.length - 1; i >= 0; i--) this.put(ip, names[i]!, until);
    }
  }

  /**
   * The usual answer, one question answered by its own A/AAAA records and
   * nothing else: each address is credited to the question, as the general
   * path in addResponse() would (no chain to follow, the longest TTL of an
   * address given twice), without its maps. False, having changed nothing,
   * for any other answer.
   */
  private addDirect(question: string, answers: readonly DnsAnswer[]): boolean {
    const qname = normaliseName(question);
    if (qname === undefined) return false;
    for (const a of answers) {
      if ((a.type !== 'A' && a.type !== 'AAAA') || (a.name !== qname && normaliseName(a.name) !== qname)) return false;
    }
    const now = this.now();
    const ips = answers.map((a) => canonicalIp(a.value));
    for (let i = 0; i < ips.length; i++) {
      const ip = ips[i];
      if (ip === undefined || ips.indexOf(ip) < i) continue; // credited at its first record
      let ttl = answers[i]!.ttl;
      for (let j = i + 1; j < ips.length; j++) if (ips[j] === ip) ttl = Math.max(ttl, answers[j]!.ttl);
      this.put(ip, qname, now + this.clampTtl(ttl) * 1000);
    }
    return true;
  }

  /** A mapping that never expires and is never evicted (e.g. from /etc/hosts). */
  addStatic(name: string, ip: string): void {
    const n = normaliseName(name);
    const key = addressKey(ip);
    if (n === undefined || key === undefined) return;
    const names = this.staticByAddress.get(key) ?? [];
    if (!names.includes(n)) names.push(n);
    this.staticByAddress.set(key, names);
    const ips = this.staticByName.get(n) ?? [];
    if (!ips.includes(key)) ips.push(key);
    this.staticByName.set(n, ips);
  }

  /** Names for an address, most recently seen first, then static ones; expired ones dropped. */
  namesFor(ip: string): string[] {
    const key = addressKey(ip);
    if (key === undefined) return [];
    const out: string[] = [];
    const names = this.byAddress.get(key);
    if (names) {
      const now = this.now();
      for (const [name, until] of names) {
        if (until <= now) this.unlink(key, name);
        else out.push(name);
      }
      if (names.size === 0) this.byAddress.delete(key);
      out.reverse();
    }
    for (const n of this.staticByAddress.get(key) ?? []) if (!out.includes(n)) out.push(n);
    return out;
  }

  /** Addresses last seen for a name, most recent first, then static ones; expired ones dropped. */
  addressesFor(name: string): string[] {
    const n = normaliseName(name);
    if (n === undefined) return [];
    const out: string[] = [];
    const ips = this.byName.get(n);
    if (ips) {
      const now = this.now();
      for (const [ip, until] of ips) {
        if (until <= now) {
          this.unlink(ip, n);
          if (this.byAddress.get(ip)?.size === 0) this.byAddress.delete(ip);
        } else {
          out.push(ip);
        }
      }
      out.reverse();
    }
    for (const ip of this.staticByName.get(n) ?? []) if (!out.includes(ip)) out.push(ip);
    return out;
  }

  /** Drops every expired mapping now rather than when it is next looked up; returns how many. */
  prune(): number {
    const now = this.now();
    let dropped = 0;
    for (const [ip, names] of this.byAddress) {
      for (const [name, until] of names) {
        if (until <= now) {
          this.unlink(ip, name);
          dropped++;
        }
      }
      if (names.size === 0) this.byAddress.delete(ip);
    }
    return dropped;
  }

  private clampTtl(ttl: number): number {
    const t = Number.isFinite(ttl) ? ttl : this.maxTtlS;
    return Math.min(this.maxTtlS, Math.max(this.minTtlS, t));
  }

  /** the pair put last: it is already the most recent in every order the maps keep */
  private lastKey: string | undefined;
  private lastName: string | undefined;

  private put(ip: string, name: string, until: number): void {
    const key = addressKey(ip);
    if (key === undefined) return;
    if (key === this.lastKey && name === this.lastName) {
      // The same answer again (a client asking in a loop): only its expiry
      // moves; the maps' orders already have it last, so no delete and
      // re-insert (three tombstones per answer in the maps).
      const n = this.byAddress.get(key);
      const i = this.byName.get(name);
      if (n?.has(name) && i?.has(key)) {
        n.set(name, until);
        i.set(key, until);
        return;
      }
    }
    this.lastKey = key;
    this.lastName = name;
    let names = this.byAddress.get(key);
    if (names) {
      this.byAddress.delete(key); // re-inserted below: now the most recently updated
    } else {
      names = new Map();
    }
    this.byAddress.set(key, names);
    names.delete(name);
    names.set(name, until);
    let ips = this.byName.get(name);
    if (!ips) this.byName.set(name, (ips = new Map()));
    ips.delete(key);
    ips.set(key, until);

    while (names.size > MAX_NAMES_PER_ADDRESS) {
      this.unlink(key, names.keys().next().value as string);
    }
    while (ips.size > MAX_ADDRESSES_PER_NAME) {
      const oldest = ips.keys().next().value as string;
      this.unlink(oldest, name);
      if (this.byAddress.get(oldest)?.size === 0) this.byAddress.delete(oldest);
    }
    while (this.byAddress.size > this.maxEntries) {
      const oldest = this.byAddress.keys().next().value as string;
      for (const n of [...this.byAddress.get(oldest)!.keys()]) this.unlink(oldest, n);
      this.byAddress.delete(oldest);
    }
  }

  /** Removes one address–name pair from both maps (leaves an empty byAddress entry to the caller). */
  private unlink(ip: string, name: string): void {
    this.byAddress.get(ip)?.delete(name);
    const ips = this.byName.get(name);
    if (ips) {
      ips.delete(ip);
      if (ips.size === 0) this.byName.delete(name);
    }
  }
}

/**
 * The key an address is stored under: the parser's canonical text form, with
 * IPv4-mapped IPv6 (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) reduced to the IPv4
 * address, because a dual-stack socket connecting to an IPv4 address reports
 * it in that form while DNS answered it with an A record.
 */
function addressKey(ip: string): string | undefined {
  const c = canonicalIp(ip);
  if (c === undefined) return undefined;
  if (c.startsWith('::ffff:') && isIP(c.slice(7)) === 4) return c.slice(7);
  return c;
}

/** Lower case, without the trailing dot (as the parser prints names); undefined when empty. */
function normaliseName(name: string): string | undefined {
  if (typeof name !== 'string') return undefined;
  let n = name.trim().toLowerCase();
  if (n.endsWith('.') && !n.endsWith('\\.')) n = n.slice(0, -1);
  return n.length > 0 ? n : undefined;
}

/**
 * Parses hosts(5): one address per line followed by its names (canonical
 * name first, then aliases), fields separated by blanks, "#" starting a
 * comment anywhere on a line. Lines without a valid address or without
 * names are skipped. Addresses come back in canonical form.
 */
export function parseHostsFile(text: string): Array<{ ip: string; names: string[] }> {
  const out: Array<{ ip: string; names: string[] }> = [];
  for (const raw of text.split(/\r?\n/)) {
    const hash = raw.indexOf('#');
    const line = hash >= 0 ? raw.slice(0, hash) : raw;
    const fields = line.split(/[ \t]+/).filter((f) => f.length > 0);
    if (fields.length < 2) continue;
    const ip = canonicalIp(fields[0]!);
    if (ip === undefined) continue;
    const names: string[] = [];
    for (const f of fields.slice(1)) {
      const n = normaliseName(f);
      if (n !== undefined && !names.includes(n)) names.push(n);
    }
    if (names.length > 0) out.push({ ip, names });
  }
  return out;
}
