/**
 * The behavioural classifier's feature vector: ONE definition, used by the
 * engine at run time and by training/ (which replays recorded events
 * through this same code), so that what a model learnt is what it is fed.
 *
 * A vector describes one outgoing TCP connection at one moment (each `flow`
 * event: while it is busy and at its close), from metadata alone — sizes,
 * timing and the cadence of the response counted in the kernel
 * (bpf/flow.bpf.h), the TLS ClientHello, the destination port, and what
 * the same process did with the same destination before — never from
 * plaintext, so it works where TLS cannot be captured.
 *
 * Changing what a feature means, or the list, needs a new FEATURE_VERSION:
 * a model stores the version (and the names) it was trained on, and the
 * engine refuses a model whose version it does not compute.
 */
import type { BustedEvent, FlowInfo } from '../model/event.js';

export const FEATURE_VERSION = 1;

const HIST_BINS = 8;

/** The vector's columns, in order. */
export const FEATURE_NAMES: readonly string[] = [
  // sizes
  'bytes_sent_log',
  'bytes_received_log',
  'recv_send_ratio_log',
  'req_bytes_max_log',
  'resp_bytes_max_log',
  'req_bytes_mean_log',
  'resp_bytes_mean_log',
  // time
  'age_ms_log',
  'active_ms_log',
  'quiet_ms_log',
  'ttfb_first_ms_log',
  'ttfb_mean_ms_log',
  'ttfb_max_ms_log',
  'resp_ms_max_log',
  'idle_ms_max_log',
  // exchanges and the response's shape
  'exchanges_log',
  'answered_frac',
  'sends_per_exchange_log',
  'bursts_per_response_log',
  'burst_bytes_mean_log',
  'recvs_per_burst_log',
  'bursts_per_sec_log',
  'recv_bytes_per_sec_log',
  'gap_ms_mean_log',
  'gap_cv',
  ...Array.from({ length: HIST_BINS }, (_, i) => `burst_hist_${i}`),
  ...Array.from({ length: HIST_BINS }, (_, i) => `gap_hist_${i}`),
  'closed',
  // TLS ClientHello
  'tls',
  'tls13',
  'alpn_h2',
  'alpn_http11',
  'ja4_ciphers',
  'ja4_extensions',
  // destination
  'port_443',
  'port_80_8080',
  'port_other_high',
  'dst_named',
  // the same process and destination before (rolled up per process)
  'dst_conns_log',
  'dst_exchanges_per_min_log',
  'dst_reuse_log',
  'proc_dsts_log',
];

export const FEATURE_COUNT = FEATURE_NAMES.length;

/** One vector to score, and where its score goes. */
export interface Snapshot {
  /** the connection (src → dst addresses and ports), as text: "src sport dst dport" */
  conn: string;
  /** process → destination address and port, as text: "pid dst dport" */
  dest: string;
  /** connKey() and destKey() of the same: what the classifier keys its scores by */
  connKey: FastKey;
  destKey: FastKey;
  /** process → TLS server name, when there was one */
  sni?: string;
  /** the flow event's id */
  event: string;
  final: boolean;
  vector: Float32Array;
}

interface ConnState {
  tls?: { tls13: boolean; h2: boolean; h11: boolean; ciphers: number; exts: number };
  named: boolean;
}

interface DestState {
  /** destText() of it */
  text: string;
  /** destKey() of it */
  key: FastKey;
  conns: number;
  /** exchanges of connections already closed, and of the open ones by connection */
  closedExchanges: number;
  open: Map<FastKey, number>;
  firstMs: number;
}

const MAX_CONNS = 65536;
const MAX_DESTS = 16384;
const MAX_PROCS = 4096;
/** shortest span a request rate is measured over (a first request is not a rate of 60/s) */
const RATE_MIN_SPAN_S = 60;

/**
 * A map key for a connection or a destination: a number where the
 * addresses have one (below), else the text. Only ever compared with keys
 * made by the same functions in the same process.
 */
export type FastKey = number | string;

// Building "src sport dst dport" and hashing that fresh string for every
// connect and close was a fifth of the agent's CPU on a connect loop. The
// address strings themselves recur (the decoder hands out the same string
// for the same address, and V8 keeps a string's hash), so each address,
// and each pair of addresses, is given a small number once, for the life of
// the process, and a key is those numbers and the ports packed below 2^53.
// An address or pair that comes when its table is full keeps the text key
// for good: every key of a connection is made the same way, so its connect
// and its close agree.
const MAX_PAIR_IDS = 1 << 16; // entries kept, ~4 MB at most (the packing allows 2^21: × 2^32 for two ports stays below 2^53)
const MAX_ADDR_IDS = 1 << 15; // × 2^16 (a port) × 2^22 (a pid) stays below 2^53
const MAX_PID = 1 << 22; // Linux's pid_max limit
const pairIds = new Map<string, Map<string, number>>();
let pairCount = 0;
const addrIds = new Map<string, number>();

function pairId(a: string, b: string): number | undefined {
  let m = pairIds.get(a);
  let id = m?.get(b);
  if (id !== undefined || pairCount >= MAX_PAIR_IDS) return id;
  if (!m) pairIds.set(a, (m = new Map()));
  m.set(b, (id = pairCount++));
  return id;
}

function addrId(a: string): number | undefined {
  let id = addrIds.get(a);
  if (id !== undefined || addrIds.size >= MAX_ADDR_IDS) return id;
  addrIds.set(a, (id = addrIds.size));
  return id;
}

/** A connection's key; undefined where it never got a source address (a refused connect). */
export function connKey(n: { src_ip?: string; src_port?: number; dst_ip: string; dst_port: number }): FastKey | undefined {
  if (n.src_ip === undefined) return undefined;
  const id = pairId(n.src_ip, n.dst_ip);
  const sport = n.src_port ?? 0;
  if (id === undefined || !(sport >= 0 && sport < 65536 && n.dst_port >= 0 && n.dst_port < 65536)) return connText(n);
  return id * 0x100000000 + sport * 0x10000 + n.dst_port;
}

/** A connection as text: "src sport dst dport". */
export function connText(n: { src_ip?: string; src_port?: number; dst_ip: string; dst_port: number }): string {
  return `${n.src_ip} ${n.src_port} ${n.dst_ip} ${n.dst_port}`;
}

/** A process's destination's key. */
export function destKey(pid: number, n: { dst_ip: string; dst_port: number }): FastKey {
  const id = addrId(n.dst_ip);
  if (id === undefined || !(pid >= 0 && pid < MAX_PID && n.dst_port >= 0 && n.dst_port < 65536)) return destText(pid, n);
  return (pid * MAX_ADDR_IDS + id) * 0x10000 + n.dst_port;
}

/** A process's destination as text: "pid dst dport". */
export function destText(pid: number, n: { dst_ip: string; dst_port: number }): string {
  return `${pid} ${n.dst_ip} ${n.dst_port}`;
}

export function sniKey(pid: number, sni: string): string {
  return `${pid} ${sni}`;
}

const log1p = Math.log1p;

/** Drop the oldest entries of an insertion-ordered map past `max`. */
function bound<K, V>(m: Map<K, V>, max: number): void {
  if (m.size <= max) return;
  let drop = m.size - max + (max >> 4);
  for (const k of m.keys()) {
    if (drop-- <= 0) break;
    m.delete(k);
  }
}

/** "t13d1516h2_..." → cipher and extension counts (JA4 part a). */
function ja4Counts(ja4: string | undefined): { ciphers: number; exts: number } {
  const m = ja4 ? /^[tqd]\w\w[di](\d\d)(\d\d)/.exec(ja4) : null;
  return m ? { ciphers: Number(m[1]), exts: Number(m[2]) } : { ciphers: 0, exts: 0 };
}

/**
 * Follows the events of a run (in order) and yields a snapshot for each
 * `flow` event of an outgoing TCP connection. Pure: the same events give
 * the same vectors, live or replayed from a recording.
 */
export class FeatureExtractor {
  private readonly conns = new Map<FastKey, ConnState>();
  /** connections closed lately: their final flow event may come just after the close */
  private readonly closing = new Map<FastKey, ConnState>();
  private readonly dests = new Map<FastKey, DestState>();
  private readonly procDests = new Map<number, Set<string>>();
  /** the destination of the last connect or flow (see dest()) */
  private last: { pid: number; ip: string; port: number; state: DestState } | undefined;
  /** the destination the last connect added to its process's set */
  private lastAdded: DestState | undefined;

  observe(e: BustedEvent): Snapshot | undefined {
    switch (e.type) {
      case 'connect':
        this.connected(e);
        return undefined;
      case 'tls_client_hello':
        this.hello(e);
        return undefined;
      case 'flow':
        return this.flow(e);
      case 'close': {
        const ck = e.net && connKey(e.net);
        const c = ck !== undefined ? this.conns.get(ck) : undefined;
        if (c) {
          this.conns.delete(ck!);
          // its final flow event may come just after; a connection that
          // never moved a byte has none (flow.bpf.h), so it is not kept
          if (e.net!.bytes_sent || e.net!.bytes_received) {
            this.closing.set(ck!, c);
            bound(this.closing, 4096);
          }
        }
        return undefined;
      }
      case 'exit':
        if (e.process) {
          this.procDests.delete(e.process.pid);
          this.lastAdded = undefined;
        }
        return undefined;
      default:
        return undefined;
    }
  }

  private connected(e: BustedEvent): void {
    const n = e.net;
    const pid = e.process?.pid;
    const ck = n && connKey(n);
    if (!n || !ck || n.protocol !== 'tcp' || n.direction === 'ingress' || !pid) return;
    const c = this.conn(ck);
    if (n.dst_host) c.named = true;
    const d = this.dest(pid, n, e);
    d.conns++;
    // the same destination as the last connect: already in the process's set
    if (d === this.lastAdded) return;
    let ds = this.procDests.get(pid);
    if (!ds) {
      ds = new Set();
      this.procDests.set(pid, ds);
      bound(this.procDests, MAX_PROCS);
    }
    if (ds.size < 1024) ds.add(`${n.dst_ip} ${n.dst_port}`);
    this.lastAdded = d;
  }

  private hello(e: BustedEvent): void {
    const n = e.net;
    const ck = n && connKey(n);
    if (!n || !ck || n.direction === 'ingress' || !e.tls) return;
    const c = this.conn(ck);
    const t = e.tls;
    const alpn = t.alpn ?? [];
    const { ciphers, exts } = ja4Counts(t.ja4);
    c.tls = {
      tls13: (t.supported_versions ?? [t.version ?? '']).includes('TLS 1.3'),
      h2: alpn.includes('h2'),
      h11: alpn.includes('http/1.1'),
      ciphers,
      exts,
    };
    if (t.sni) c.named = true;
  }

  private conn(key: FastKey): ConnState {
    let c = this.conns.get(key);
    if (!c) {
      c = { named: false };
      this.conns.set(key, c);
      bound(this.conns, MAX_CONNS);
    }
    return c;
  }

  /**
   * The state of a process → destination, and its key. Connections come
   * in runs to one destination (a pool, a retry loop): the last one is
   * kept at hand, which spares building and hashing its key per connect.
   */
  private dest(pid: number, n: { dst_ip: string; dst_port: number }, e: BustedEvent): DestState {
    const l = this.last;
    if (l !== undefined && l.pid === pid && l.ip === n.dst_ip && l.port === n.dst_port) return l.state;
    const key = destKey(pid, n);
    let d = this.dests.get(key);
    if (!d) {
      d = { conns: 0, closedExchanges: 0, open: new Map(), firstMs: timeMs(e), key, text: destText(pid, n) };
      this.dests.set(key, d);
      if (this.dests.size > MAX_DESTS) {
        bound(this.dests, MAX_DESTS);
        this.lastAdded = undefined;
      }
    }
    this.last = { pid, ip: n.dst_ip, port: n.dst_port, state: d };
    return d;
  }

  private flow(e: BustedEvent): Snapshot | undefined {
    const n = e.net;
    const f = e.flow;
    const pid = e.process?.pid;
    const ck = n && connKey(n);
    if (!n || !ck || !f || n.protocol !== 'tcp' || n.direction === 'ingress' || !pid) return undefined;
    const c = this.conns.get(ck) ?? this.closing.get(ck) ?? { named: false };
    if (n.dst_host || e.tls?.sni) c.named = true;
    const d = this.dest(pid, n, e);
    const dk = d.key;
    if (d.conns === 0) d.conns = 1; // its connect was not seen (started before a recording)
    const final = f.phase === 'end';
    if (final) {
      d.open.delete(ck);
      d.closedExchanges += f.exchanges;
    } else {
      d.open.set(ck, f.exchanges);
      bound(d.open, 256);
    }
    let exchanges = d.closedExchanges;
    for (const x of d.open.values()) exchanges += x;
    const spanS = Math.max((timeMs(e) - d.firstMs) / 1000, RATE_MIN_SPAN_S);
    const v = vectorize(e, f, c, {
      conns: d.conns,
      perMin: (exchanges * 60) / spanS,
      reuse: exchanges / d.conns,
      dests: this.procDests.get(pid)?.size ?? 1,
    });
    if (final) {
      this.conns.delete(ck);
      this.closing.delete(ck);
    }
    const sni = e.tls?.sni;
    return { conn: connText(n), dest: d.text, connKey: ck, destKey: dk, sni: sni ? sniKey(pid, sni) : undefined, event: e.id, final, vector: v };
  }
}

// Event times share their seconds with their neighbours: parse that part
// once (Date.parse of an RFC 3339 string is most of a microsecond).
let lastSecond = '';
let lastSecondMs = 0;

function timeMs(e: BustedEvent): number {
  const s = e.time;
  const head = s.slice(0, 19); // YYYY-MM-DDTHH:MM:SS
  if (head !== lastSecond) {
    const t = Date.parse(`${head}Z`);
    if (!Number.isFinite(t)) return 0;
    lastSecond = head;
    lastSecondMs = t;
  }
  const frac = s[19] === '.' ? Math.round(Number(`0${s.slice(19, 23)}`) * 1000) : 0;
  return lastSecondMs + (Number.isFinite(frac) ? frac : 0);
}

interface Rollup {
  conns: number;
  perMin: number;
  reuse: number;
  dests: number;
}

function vectorize(e: BustedEvent, f: FlowInfo, c: ConnState, r: Rollup): Float32Array {
  const n = e.net!;
  const sent = n.bytes_sent ?? 0;
  const recv = n.bytes_received ?? 0;
  const answered = f.ttfb_ms?.count ?? 0;
  const bursts = Math.max(f.bursts, 1);
  const activeS = f.active_ms / 1000 + 0.001;
  const burstTotal = f.burst_hist.reduce((a, b) => a + b, 0) || 1;
  const gapTotal = f.gap_hist.reduce((a, b) => a + b, 0) || 1;
  const port = n.dst_port;
  const v = new Float32Array(FEATURE_COUNT);
  let i = 0;
  v[i++] = log1p(sent);
  v[i++] = log1p(recv);
  v[i++] = Math.log((recv + 1) / (sent + 1));
  v[i++] = log1p(f.req_bytes_max);
  v[i++] = log1p(f.resp_bytes_max);
  v[i++] = log1p(sent / Math.max(f.exchanges, 1));
  v[i++] = log1p(recv / Math.max(answered, 1));
  v[i++] = log1p(f.age_ms);
  v[i++] = log1p(f.active_ms);
  v[i++] = log1p(f.quiet_ms);
  v[i++] = log1p(f.ttfb_ms?.first ?? 0);
  v[i++] = log1p(f.ttfb_ms?.mean ?? 0);
  v[i++] = log1p(f.ttfb_ms?.max ?? 0);
  v[i++] = log1p(f.resp_ms_max);
  v[i++] = log1p(f.idle_ms_max);
  v[i++] = log1p(f.exchanges);
  v[i++] = f.exchanges ? answered / f.exchanges : 0;
  v[i++] = log1p(f.sends / Math.max(f.exchanges, 1));
  v[i++] = log1p(f.bursts / Math.max(answered, 1));
  v[i++] = log1p(recv / bursts);
  v[i++] = log1p(f.recvs / bursts);
  v[i++] = log1p(f.bursts / activeS);
  v[i++] = log1p(recv / activeS);
  v[i++] = log1p(f.gap_ms_mean ?? 0);
  v[i++] = f.gap_ms_mean ? (f.gap_ms_sd ?? 0) / f.gap_ms_mean : 0;
  for (let b = 0; b < HIST_BINS; b++) v[i++] = (f.burst_hist[b] ?? 0) / burstTotal;
  for (let b = 0; b < HIST_BINS; b++) v[i++] = (f.gap_hist[b] ?? 0) / gapTotal;
  v[i++] = f.phase === 'end' ? 1 : 0;
  v[i++] = c.tls ? 1 : 0;
  v[i++] = c.tls?.tls13 ? 1 : 0;
  v[i++] = c.tls?.h2 ? 1 : 0;
  v[i++] = c.tls?.h11 ? 1 : 0;
  v[i++] = c.tls?.ciphers ?? 0;
  v[i++] = c.tls?.exts ?? 0;
  v[i++] = port === 443 ? 1 : 0;
  v[i++] = port === 80 || port === 8080 ? 1 : 0;
  v[i++] = port >= 1024 && port !== 8080 && port !== 8443 ? 1 : 0;
  v[i++] = c.named ? 1 : 0;
  v[i++] = log1p(r.conns);
  v[i++] = log1p(r.perMin);
  v[i++] = log1p(r.reuse);
  v[i++] = log1p(r.dests);
  if (i !== FEATURE_COUNT) throw new Error(`feature vector filled ${i} of ${FEATURE_COUNT} columns`);
  return v;
}
