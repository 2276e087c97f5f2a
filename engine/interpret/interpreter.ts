/**
 * Stage 3: kernel records → the contract's events, with what the engine
 * knows added: who the process is (ProcessCache), which names an address
 * was looked up as (DnsCache), which provider a name or address belongs to
 * (ProviderTable), and per-connection memory (a connection's SNI and
 * provider reach its close event).
 *
 * Malformed packets become `error` events with a stable code and are
 * counted; they never stop the stream.
 */
import type { BustedEvent, DnsInfo, FlowInfo, McpInfo, McpParty, NetInfo, ProcessInfo } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import { StdioMcp } from './stdio.js';
import { McpSessions } from './mcp-session.js';
import { descendantsOf, holderOf } from '../host/stdio-peer.js';
import type { EnforceRecord, ExecRecord, ExitRecord, FlowRecord, FlowStatRecord, KernelRecord, PktRecord, SockId, StdioRecord, TaskRecord, TcpRecord, TlsRecord, UdpRecord } from '../decode/records.js';
import { redactPayload } from '../redact.js';
import { TlsAssembler, type TlsCall, type TlsConnState } from './tls-data.js';
import { AppLayer, type Finding } from './app.js';
import { reported } from './request-events.js';
import { plainKey, plainSockOf, PlainHolds, PlainStreams, type Hold } from './plain.js';
import { concatBytes, MAX_BODY } from '../parse/bytes.js';
import { TLS_CAPTURE_BYTES } from '../model/defaults.js';
import { parseDns } from '../parse/dns.js';
import { parseTlsHello } from '../parse/tls-hello.js';
import { asRecords, CryptoStream, initialHeader, initialKeys, readInitial } from '../parse/quic.js';
import { DnsCache } from '../enrich/dns-cache.js';
import { ProcessCache } from '../enrich/process.js';
import { OLLAMA_PORT, ProviderTable } from '../enrich/provider.js';
import { Clock } from './clock.js';
import * as W from '../kernel/wire.generated.js';
import { readProcessMemory, type MemoryReader } from '../host/proc-mem.js';

export interface InterpreterOptions {
  processes: ProcessCache;
  dns: DnsCache;
  providers: ProviderTable;
  clock?: Clock;
  /** report only this process tree */
  pid?: number;
  /** event id prefix (unique per run) */
  runId?: string;
  /** the kernel's per-call TLS plaintext copy limit (tls_cap_bytes) */
  tlsCapBytes?: number;
  /** how the rest of a held TLS write past the cap is read (default: /proc/PID/mem); null: not at all */
  readHeld?: MemoryReader | null;
  /** bytes of plaintext kept in a tls_data event's payload excerpt (default 2048) */
  tlsExcerptBytes?: number;
  /** leave secrets in payloads (--no-redact) */
  noRedact?: boolean;
  /** a TLS connection turned out uninteresting: stop copying it in the kernel */
  /**
   * A TLS connection of no AI traffic so far. `watch` (an HTTP/2 client's
   * connection, app.ts watchFrom): where its writes stand in their frames,
   * for the kernel to keep copying its writes, not its reads (null: they
   * cannot be followed from here; every write is then held when gated).
   * Told again after each held write of a watched connection, with where
   * its frames stand after it. `reads`: a watched connection on which an
   * LLM call or MCP message went out: its reads are copied again. `server`
   * (an HTTP/1.1 server's connection: its requests are read): its reads are
   * looked at for the start of a later request, which is copied.
   */
  onTlsSkip?: (pid: number, ssl: string, watch?: { left: number; data: boolean } | null | 'server', reads?: boolean) => void;
  /**
   * A watched HTTP/2 connection whose reads the kernel copied from the
   * write CALLID on (it carried a request body) carried no AI traffic: the
   * kernel stops copying them, unless a later write turned them on again.
   */
  onWatchReadsOff?: (pid: number, ssl: string, callId: string) => void;
  /**
   * A held write of a gated HTTP/2 client connection: where its frames stand
   * after it, for the kernel to watch it as a gated one (reads copied, a
   * write held only when it carries a header block or a body).
   */
  onTlsGatedH2?: (pid: number, ssl: string, at: { left: number; data: boolean } | null) => void;
  /**
   * A plain-text HTTP connection (pkt.bpf.c plain_socks) whose first request
   * was no LLM or MCP call, its requests (going out, REQUESTSOUT, or coming
   * in) read up to sequence number RELEASED: the packet
   * hook stops copying it until a later request starts (unless
   * `skippedStillCopied`: then it is no longer held, and still read).
   */
  onPlainSkip?: (sockId: SockId, released: number, requestsOut: boolean) => void;
  /**
   * --tls-capture-all: a connection marked skip (onPlainSkip, onTlsSkip) is
   * still copied whole (and read), only no longer held
   */
  skippedStillCopied?: boolean;
  /**
   * A held plain-text connection (pkt.bpf.c BUSTED_PLAIN_GATE) to move on:
   * `release`, the sequence number up to which its bytes may go now (the
   * request is decided, or goes unread); undefined: only ask the sender to
   * try again (it may have more of the request to give). `skipped`: it was
   * marked skip or capture meanwhile (no longer gated). Never acted on for a
   * blocked connection.
   */
  onPlainHold?: (h: Hold, release: number | undefined, skipped: boolean) => void;
  /** a process executed a new program (TLS library discovery looks at it; enforcement evaluates the image) */
  onExec?: (pid: number, image: string, process: ProcessInfo) => void;
  /**
   * An exec the kernel stopped until its executable is hashed
   * (BUSTED_EXEC_HELD): `held` when its record arrives (the hold is the
   * engine's from then on), `decided` once the process has been told to
   * onExec with its hash (or without it, when the file could not be read)
   */
  onExecHold?: (r: ExecRecord, phase: 'held' | 'decided') => void;
  /** a process sent a ClientHello that went through no probed TLS library (its plaintext is not read) */
  onUnreadTls?: (pid: number) => void;
  /** what the enforcement hooks learnt that is no event of its own (a TLS connection's socket, a dropped packet) */
  onEnforce?: (r: EnforceRecord) => void;
  /** a gated TLS write: its events have all been emitted; the process waits to be let go */
  onGatedCall?: (g: GatedCall) => void;
  /** a DNS answer the kernel held back: its event has been emitted; the client waits for it */
  onHeldDns?: (r: PktRecord) => void;
  /** a read of MCP over stdio the kernel holds: the messages it completes (their events came from their writes); the reader waits */
  onStdioRead?: (r: StdioRecord, messages: McpInfo[]) => void;
  /** an unreadable ClientHello the kernel holds (its headers: 'hello_held'; a QUIC datagram, whole: 'quic_held'): the hello's event follows */
  onHelloHeld?: (r: PktRecord) => void;
  /** a ClientHello that makes no event (filtered out, or malformed): nothing will decide it, so a hold of it goes now */
  onHelloUndecided?: (sockId: SockId) => void;
  /** the headers of the first segment a TLS connection sent while held (its request let go unfinished) */
  onSockHeld?: (r: PktRecord) => void;
  /** a gated write returned (its process was let go), having written WRITTEN bytes */
  onWriteDone?: (pid: number, ssl: string, callId: string, written: number) => void;
}

/** A write held at SSL_write entry (tls.bpf.c): which thread, connection and call. */
export interface GatedCall {
  pid: number;
  tid: number;
  ssl: string;
  callId: string;
  /** it left a request unfinished (more of it is to be written): what it sends is held until the rest is decided */
  unfinished: boolean;
  /** its bytes */
  len: number;
  /** when the kernel stopped the writer (its first record's bpf_ktime_get_ns: CLOCK_MONOTONIC, ns) */
  at: number;
  /** held in the packet hook, its writer not stopped (tls.bpf.c hold_in_packets): the socket held, and the hold's number on it */
  pktHeld?: { sock: bigint; n: number };
}

/** How long a plain-text request is held without growing before it goes unread (pkt.bpf.c BUSTED_PLAIN_GATE) */
const PLAIN_HOLD_NS = 500e6;
/** A held segment this long is all its sender will put in one (a loopback TSO segment is 64 KiB less headers) */
const PLAIN_SEGMENT_FULL = 60_000;

/**
 * Where an event came from, for the stages after this one (enforcement):
 * not part of the event itself.
 */
export interface EventOrigin {
  /** the socket (cookie) of a connection event, a hello or a DNS packet */
  sockId?: SockId;
  /** the TLS connection of tls_data and of what its plaintext completed */
  tls?: { pid: number; ssl: string; gated: boolean };
  /** what a plain-text HTTP connection completed (with `sockId`); `held`: it is held (pkt.bpf.c BUSTED_PLAIN_GATE), so none of it has reached the server */
  plain?: { held: boolean };
  /** connect_blocked: the kernel's refusal */
  refusal?: { image: string; klass: number };
  /** a DNS answer the kernel held back (the enforcer sends it on once decided) */
  held?: boolean;
  /** MCP over stdio: the reading end its write went to (a read of it is held under enforce: stdio.bpf.c) */
  stdio?: { peer: string };
}

export interface InterpreterStats {
  records: number;
  events: number;
  malformedDns: number;
  malformedTls: number;
  /** HTTP/2 directions lost (BUSTED_E_HTTP2_LOST) */
  http2Lost: number;
  /** requests not read whole (BUSTED_E_CONTENT_CUT) */
  contentCut: number;
  wireErrors: number;
  filtered: number;
}

/** What is remembered about a socket between its records. */
interface Conn {
  net: NetInfo;
  /** who opened or accepted it */
  task?: TaskRecord;
  host?: string;
  provider?: string;
  sni?: string;
  startNs: number;
  lastSeen: number;
}

/** A ClientHello/ServerHello waiting for its next TCP segment. */
interface PendingHello {
  rec: PktRecord;
  parts: Uint8Array[];
  have: number;
  at: number;
}

/** 0..1295 in base 36, and the same as two digits */
const BASE36 = Array.from({ length: 1296 }, (_, i) => i.toString(36));
const BASE36_2 = BASE36.map((d) => d.padStart(2, '0'));

const MAX_CONNS = 65536;
const CLOSED_KEPT = 1024;
const TLS_PROBED = W.BUSTED_TASK_TLS_PROBED;
const utf8Lossy = new TextDecoder('utf-8', { fatal: false });
const HELLO_WAIT_NS = 1e9;
const MAX_QUIC = 4096;

export class Interpreter {
  readonly stats: InterpreterStats = { records: 0, events: 0, malformedDns: 0, malformedTls: 0, http2Lost: 0, contentCut: 0, wireErrors: 0, filtered: 0 };
  private readonly processes: ProcessCache;
  private readonly dns: DnsCache;
  private readonly providers: ProviderTable;
  private readonly clock: Clock;
  private readonly pid: number | undefined;
  private readonly runId: string;
  private seq = 0;
  private readonly conns = new Map<SockId, Conn>();
  /**
   * Connections closed lately: their final flow record may come just after
   * the close. Two generations of at most CLOSED_KEPT each, the older
   * dropped whole: a Map trimmed one oldest key at a time (keys().next())
   * walks over every deleted slot at its front, and that walk was the
   * costliest step of a close.
   */
  private closedConns = new Map<SockId, Conn>();
  private closedBefore = new Map<SockId, Conn>();
  private readonly pending = new Map<string, PendingHello>();
  /**
   * QUIC connections whose hellos are still being read, by socket and peer:
   * the client's first DCID (every Initial's keys come from it) and each
   * side's CRYPTO stream. At most MAX_QUIC, the oldest dropped.
   */
  private readonly quic = new Map<string, { dcid: Uint8Array; version: number; client: CryptoStream; server: CryptoStream; done: { client: boolean; server: boolean } }>();
  /** Per process: address → the name that process looked it up as. Many
   * names share an address (CDNs, loopback stand-ins); the one this process
   * asked for is the one that tells where it meant to go. */
  private readonly procNames = new Map<number, Map<string, string>>();
  /** classify()'s answer per address from the shared caches; cleared by every DNS answer */
  private readonly byAddress = new Map<string, { host: string | undefined; provider: string | undefined }>();
  private readonly tlsCalls: TlsAssembler;
  /** plain-text HTTP connections' streams, in order (plain.ts) */
  private readonly plainStreams = new PlainStreams();
  private readonly plainHolds = new PlainHolds();
  /** plain-text connections marked skip, and how far their requests had been read then (the packet hook follows one again from a request that starts there or later) */
  private readonly plainSkipped = new Map<SockId, number>();
  /** a plain-text connection the application layer found uninteresting, in the piece being read */
  private plainSkipPending: SockId | undefined;
  private readonly onPlainSkip: InterpreterOptions['onPlainSkip'];
  private readonly skippedStillCopied: boolean;
  /** a TLS connection the application layer found uninteresting, in the call being read */
  private tlsSkipPending: { pid: number; ssl: string } | undefined;
  private readonly onTlsSkip: InterpreterOptions['onTlsSkip'];
  private readonly onWatchReadsOff: InterpreterOptions['onWatchReadsOff'];
  private readonly onTlsGatedH2: InterpreterOptions['onTlsGatedH2'];
  private readonly onPlainHold: InterpreterOptions['onPlainHold'];
  private readonly app: AppLayer;
  /** MCP over stdio (`--mcp-stdio`): what is written, reported; what a held reader reads, judged against it */
  private readonly stdioMcp = new StdioMcp();
  private readonly stdioReads = new StdioMcp(false);
  private readonly excerpt: number;
  private readonly redact: boolean;

  constructor(
    o: InterpreterOptions,
    private readonly emit: (e: BustedEvent, origin?: EventOrigin) => void,
  ) {
    this.processes = o.processes;
    this.dns = o.dns;
    this.providers = o.providers;
    this.clock = o.clock ?? new Clock();
    this.pid = o.pid;
    this.runId = o.runId ?? Math.random().toString(36).slice(2, 8);
    this.tlsCalls = new TlsAssembler(o.tlsCapBytes ?? TLS_CAPTURE_BYTES, o.readHeld === null ? undefined : (o.readHeld ?? readProcessMemory));
    // a plain-text connection's key is plainKey(its socket): its verdict goes to the packet hook's map
    const uninteresting = (pid: number, ssl: string): void => {
      const sockId = plainSockOf(ssl);
      // decided once the call or piece being read is (tlsCall, plainPieces): a request may have begun behind this one
      if (sockId === undefined) this.tlsSkipPending = { pid, ssl };
      // a plain-text HTTP/2 connection (h2c: gRPC without TLS) is followed whole: the packet hook picks a
      // connection up again only where a segment starts a request line, which HTTP/2 frames never do
      else if (!this.app.isHttp2(pid, ssl)) this.plainSkipPending = sockId;
    };
    this.onPlainSkip = o.onPlainSkip;
    this.onTlsSkip = o.onTlsSkip;
    this.onWatchReadsOff = o.onWatchReadsOff;
    this.onTlsGatedH2 = o.onTlsGatedH2;
    this.skippedStillCopied = o.skippedStillCopied === true;
    this.app = new AppLayer(this.providers, o.noRedact !== true, uninteresting, (n, reason) => this.lost(n, reason));
    this.excerpt = o.tlsExcerptBytes ?? 2048;
    this.redact = o.noRedact !== true;
    this.onExec = o.onExec;
    this.onExecHold = o.onExecHold;
    this.onUnreadTls = o.onUnreadTls;
    this.onEnforce = o.onEnforce;
    this.onGatedCall = o.onGatedCall;
    this.onStdioRead = o.onStdioRead;
    this.onHeldDns = o.onHeldDns;
    this.onHelloHeld = o.onHelloHeld;
    this.onSockHeld = o.onSockHeld;
    this.onWriteDone = o.onWriteDone;
    this.onHelloUndecided = o.onHelloUndecided;
    this.onPlainHold = o.onPlainHold;
  }

  private readonly onHeldDns: InterpreterOptions['onHeldDns'];
  private readonly onHelloHeld: InterpreterOptions['onHelloHeld'];
  private readonly onSockHeld: InterpreterOptions['onSockHeld'];
  private readonly onWriteDone: InterpreterOptions['onWriteDone'];
  private readonly onHelloUndecided: InterpreterOptions['onHelloUndecided'];

  private readonly onExec: InterpreterOptions['onExec'];
  private readonly onExecHold: InterpreterOptions['onExecHold'];
  private readonly onUnreadTls: InterpreterOptions['onUnreadTls'];
  private readonly onEnforce: InterpreterOptions['onEnforce'];
  private readonly onGatedCall: InterpreterOptions['onGatedCall'];
  private readonly onStdioRead: InterpreterOptions['onStdioRead'];

  /** One kernel record in; zero or more events out through emit(). */
  handle(r: KernelRecord): void {
    this.stats.records++;
    switch (r.kind) {
      case 'exec':
        return this.exec(r);
      case 'exit':
        return this.exit(r);
      case 'tcp':
        return this.tcp(r);
      case 'udp':
        return this.udp(r);
      case 'pkt':
        return this.pkt(r);
      case 'tls':
        return this.tls(r);
      case 'enforce':
        return this.enforce(r);
      case 'flow':
        return this.flowStat(r);
      case 'stdio':
        return this.stdio(r);
      case 'wire_error':
        this.stats.wireErrors++;
        this.out(this.base('error', this.clock.monotonicNs()), { error: { code: ErrorCode.WIRE, message: r.message, field: r.field } });
        return;
    }
  }

  /** Report kernel-side losses (from the stats map) as a `lost` event. */
  lost(count: number, reason: string): void {
    this.out(this.base('lost', this.clock.monotonicNs()), { lost: { count, reason } });
  }

  /** Report a problem of the agent itself (a sink that cannot write, ...) as an `error` event. */
  error(code: string, message: string, field?: string): void {
    this.out(this.base('error', this.clock.monotonicNs()), { error: field === undefined ? { code, message } : { code, message, field } });
  }

  /** Emit hellos whose continuation never came, forget cached address
   * facts (their DNS TTLs may have run out). Call about once a second. */
  flush(nowNs = this.clock.monotonicNs()): void {
    this.byAddress.clear();
    for (const h of this.plainHolds.stale(nowNs - PLAIN_HOLD_NS)) this.plainUnread(h, `held ${PLAIN_HOLD_NS / 1e6} ms and still not whole`);
    for (const [k, p] of this.pending) {
      if (nowNs - p.rec.ts >= HELLO_WAIT_NS) {
        this.pending.delete(k);
        this.hello(p.rec, concatBytes(p.parts, p.have));
      }
    }
  }

  // ---- records --------------------------------------------------------------

  private exec(r: ExecRecord): void {
    if (r.held) {
      this.onExecHold?.(r, 'held');
      // stopped before its first instruction: it is judged with its hash (a file new to the hasher is read first)
      const wait = this.processes.exeHashWait(r);
      if (wait) {
        void wait
          .then(() => this.execNow(r))
          .catch((e: unknown) => this.out(this.base('error', r.ts), { error: { code: ErrorCode.INTERNAL, message: `the exec of ${r.filename} (pid ${r.task.pid}): ${(e as Error).message ?? e}` } }));
        return;
      }
    }
    this.execNow(r);
  }

  private execNow(r: ExecRecord): void {
    let proc: ProcessInfo;
    try {
      this.processes.onExec(r);
      proc = this.processes.info(r.task);
      this.onExec?.(r.task.pid, r.image, proc);
    } finally {
      // a held process goes on whatever happened here: judged, or by its cgroup's verdict
      if (r.held) this.onExecHold?.(r, 'decided');
    }
    const ev = this.start('exec', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = proc;
    this.out(ev);
  }

  /** The enforcement hooks: a refused connect is an event; the rest is for the enforcer. */
  private enforce(r: EnforceRecord): void {
    if (r.what === 'ssl_socket') {
      // a TLS connection's socket (its ClientHello went out as its library's handshake began): a library
      // that names no SNI (Go's crypto/tls) has the one that hello carried
      const tls = this.tlsCalls.conn(r.task.pid, r.ssl);
      const sni = tls.sni === undefined ? this.conns.get(r.sockId)?.sni : undefined;
      if (sni !== undefined) tls.sni = sni;
      tls.sockId = r.sockId;
    }
    if (r.what !== 'connect_refused' && r.what !== 'sendmsg_refused') {
      this.onEnforce?.(r);
      return;
    }
    const ev = this.start('connect_blocked', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    const net: NetInfo = { protocol: r.flow.protocol === 17 ? 'udp' : 'tcp', family: r.flow.family, dst_ip: r.flow.daddr, dst_port: r.flow.dport, direction: 'egress' };
    this.classify(net, ev, r.task.pid);
    ev.net = net;
    ev.enforcement = { verdict: r.source ?? 'host' };
    this.out(ev, undefined, { refusal: { image: r.image, klass: r.klass } });
  }

  private exit(r: ExitRecord): void {
    const ev = this.start('exit', r.ts, r.task.pid);
    if (ev) {
      ev.process = this.processes.info(r.task);
      // wait(2) status: low 7 bits the signal, next 8 the exit code.
      const sig = r.exitCode & 0x7f;
      ev.exit = { code: (r.exitCode >> 8) & 0xff, duration_ms: round3((r.ts - r.startNs) / 1e6) };
      if (sig) ev.exit.signal = sig;
      this.out(ev);
    }
    this.processes.onExit(r.task.pid);
    this.procNames.delete(r.task.pid);
    this.stdioMcp.forget(r.task.pid);
    this.stdioReads.forget(r.task.pid);
    if (this.mcpSessions.size > 0) this.mcpSessions.forget(`${r.task.pid}:`);
  }

  /** TLS plaintext (uprobes): a whole SSL_read/SSL_write call becomes a tls_data event. */
  private tls(r: TlsRecord): void {
    // freed; or followed again from a request after it was marked skip: what it held is stale
    if (r.op === 'free' || r.restart) this.app.forget(r.task.pid, r.ssl);
    if (r.op === 'write_done') this.onWriteDone?.(r.task.pid, r.ssl, r.callId, r.len);
    const call = this.tlsCalls.add(r);
    if (!call) return;
    try {
      this.tlsCall(call);
    } finally {
      // a held process is let go (or not) once everything its write said is decided
      if (call.gated) {
        const unfinished = this.app.requestUnfinished(call.pid, call.ssl);
        const pktHeld = call.first.pktHeld;
        this.onGatedCall?.({ pid: call.pid, tid: call.first.task.tid, ssl: call.ssl, callId: call.callId, unfinished, len: call.len, at: call.first.ts, ...(pktHeld !== undefined ? { pktHeld } : {}) });
      }
    }
  }

  private tlsCall(call: TlsCall): void {
    // a retried write whose bytes were all seen when its first try was held
    if (call.data.length === 0 && call.len === 0) return;
    // a watched HTTP/2 connection's write with a request body: the kernel copies its reads from here
    if (call.first.readsOn) this.app.readsTurnedOn(call.pid, call.ssl, call.callId);
    try {
      this.tlsCallIn(call);
    } finally {
      // ...and stops when what it wrote is read and was no AI traffic
      if (call.direction === 'write') {
        const off = this.app.readsUnwanted(call.pid, call.ssl);
        if (off !== undefined) this.onWatchReadsOff?.(call.pid, call.ssl, off);
      }
    }
  }

  private tlsCallIn(call: TlsCall): void {
    // a watched HTTP/2 connection's writes are read for the requests they carry, not told one by one (a
    // skipped connection's were not even copied); a held one is, for a policy may decide on it
    if (!call.gated && this.app.isWatched(call.pid, call.ssl)) return this.watchedCall(call);
    const ev = this.start('tls_data', call.first.ts, call.pid);
    if (!ev) return;
    const proc = this.processes.info(call.first.task);
    ev.process = proc;
    // what the bytes mean (LLM calls and MCP messages, once a message is complete), and for HTTP/2 their readable form
    const { found, render, lost } = this.app.feed(call, call.gated, call.first.ts);
    // a held write of an HTTP/2 client connection: the kernel is told where its frames stand after it, from
    // what was read (it keeps that once the write goes whole). A gated connection is watched from here, its
    // control frames let go without a hold; a watched one's walk that lost its place (a frame header cut by a
    // write's end, too many frames in one write) is put right, and the writes after it need not be held
    if (call.gated && call.direction === 'write') {
      const at = this.app.watchFrom(call.pid, call.ssl);
      if (at !== undefined) {
        // (a watched one's reads, copied again when an LLM call or MCP message went out on it, are told here)
        this.app.takeReadsBack(call.pid, call.ssl);
        if (this.app.isWatched(call.pid, call.ssl)) this.onTlsSkip?.(call.pid, call.ssl, at, this.app.readsFollowed(call.pid, call.ssl));
        else this.onTlsGatedH2?.(call.pid, call.ssl, at);
      }
    }
    // what it writes is no HTTP (a database, a mail client over TLS): let be, as a connection of no AI
    // traffic is; a later request line follows it again (tls.bpf.c BUSTED_TLS_F_RESTART)
    if (call.direction === 'write' && this.app.writeLost(call.pid, call.ssl)) this.tlsSkipPending = { pid: call.pid, ssl: call.ssl };
    if (this.tlsSkipPending !== undefined) this.tlsSkip(call);
    const text = render !== undefined ? render.slice(0, this.excerpt) : utf8Lossy.decode(call.data.subarray(0, this.excerpt));
    ev.tls = { direction: call.direction, bytes: call.len, payload: this.redact ? redactPayload(text) : text };
    if (call.conn.sni) {
      ev.tls.sni = call.conn.sni;
      const p = this.providers.forHost(call.conn.sni);
      if (p) ev.provider = p;
    }
    const net = this.tlsNet(call.conn);
    if (net) ev.net = net;
    const origin: EventOrigin = { tls: { pid: call.pid, ssl: call.ssl, gated: call.gated } };
    this.out(ev, undefined, origin);
    this.afterCall(call, proc, found, lost, origin);
  }

  /**
   * The addresses of a TLS connection whose socket is known (its
   * ClientHello was seen leaving: pkt.bpf.c tie_ssl), for the events its
   * plaintext makes: where a prompt went, not only the name it asked for.
   */
  private tlsNet(conn: TlsConnState): NetInfo | undefined {
    if (conn.sockId === undefined) return undefined;
    const c = this.conns.get(conn.sockId) ?? this.closedConns.get(conn.sockId) ?? this.closedBefore.get(conn.sockId);
    if (!c) return undefined;
    const { protocol, family, src_ip, src_port, dst_ip, dst_port, direction } = c.net;
    const net: NetInfo = { protocol, family, dst_ip, dst_port };
    if (src_ip !== undefined) net.src_ip = src_ip;
    if (src_port !== undefined) net.src_port = src_port;
    if (direction !== undefined) net.direction = direction;
    if (c.host) net.dst_host = c.host;
    return net;
  }

  /** What a TLS call completed, and an HTTP/2 direction it lost. */
  private afterCall(call: TlsCall, proc: ProcessInfo, found: Finding[], lost: string | undefined, origin: EventOrigin): void {
    if (lost !== undefined) {
      // an HTTP/2 direction that stops being decoded is said once, not left to silence
      this.stats.http2Lost++;
      const err = this.start('error', call.first.ts, call.pid);
      if (err) {
        err.process = proc;
        if (call.conn.sni) err.tls = { sni: call.conn.sni };
        err.error = { code: ErrorCode.HTTP2_LOST, message: `HTTP/2 ${call.direction === 'write' ? 'writes' : 'reads'} of this connection no longer decoded: ${lost}`, field: 'tls' };
        this.out(err, undefined, origin);
      }
    }
    const net = found.length ? this.tlsNet(call.conn) : undefined;
    for (const f of found) this.out(this.finding(f, call.first.ts, proc, call.conn.sni, net && { ...net }), undefined, origin);
  }

  /** A write of a watched HTTP/2 connection that was not held: only what it completes is told. */
  private watchedCall(call: TlsCall): void {
    if (this.pid !== undefined && !this.processes.inTree(call.pid, this.pid)) {
      this.stats.filtered++;
      return;
    }
    const { found, lost } = this.app.feed(call, false, call.first.ts);
    // an LLM call or MCP message went out on it: its answer is wanted, and its reads are copied again
    if (this.app.takeReadsBack(call.pid, call.ssl)) this.onTlsSkip?.(call.pid, call.ssl, this.app.watchFrom(call.pid, call.ssl), true);
    if (found.length === 0 && lost === undefined) return;
    this.afterCall(call, this.processes.info(call.first.task), found, lost, { tls: { pid: call.pid, ssl: call.ssl, gated: false } });
  }

  /** MCP over stdio (stdio.ts): each message a write completes, as an mcp_message of its writer. */
  private stdio(r: StdioRecord): void {
    if (r.read) {
      // the messages are the writer's events; a held reader waits for the enforcer, whatever --pid says
      const messages = this.stdioReads.feed(r, []);
      if (r.read.held) this.onStdioRead?.(r, messages);
      return;
    }
    if (this.pid !== undefined && !this.processes.inTree(r.task.pid, this.pid)) {
      this.stats.filtered++;
      return;
    }
    const proc = this.processes.info(r.task);
    const origin: EventOrigin = { stdio: { peer: r.peer } };
    // the writer's ancestors as its process info has them (ProcessCache.ancestorPids)
    const ancestors = proc.ancestors?.map((a) => a.pid) ?? [];
    const found = this.stdioMcp.feed(r, ancestors);
    if (found.length === 0) return;
    const peer = this.stdioPeer(r, ancestors);
    const pair = peer ? this.stdioPair(r.task.pid, ancestors, peer.pid) : undefined;
    const session = pair !== undefined ? this.mcpSessions.of(`${pair.client}:${pair.child}`) : undefined;
    // the writer is the server when the other end is its client (above it)
    const writerIsServer = peer !== undefined && ancestors.includes(peer.pid);
    if (session !== undefined && session.server === undefined && !writerIsServer && !found.some((m) => m.method === 'initialize')) {
      // a client that skipped initialize: its server program named itself before (stdioServers)
      const known = this.stdioServers.get(this.programKey(peer!.pid) ?? '');
      if (known !== undefined) session.server = known;
    }
    // the other end's executable by hash, once it is known (hashing on: a policy reads it, or --exe-hash)
    const peerHash = peer && this.processes.hashExe && peer.exe_sha256 === undefined ? this.processes.exeSha256Of(peer.pid) : undefined;
    const shownPeer = peer && peerHash !== undefined ? { ...peer, exe_sha256: peerHash } : peer;
    for (const mcp of found) {
      const e = this.base('mcp_message', r.ts);
      e.process = proc;
      if (shownPeer) mcp.peer = shownPeer;
      // answers were paired already (stdio.ts): the session adds what initialize said of client and server
      session?.note(mcp);
      if (writerIsServer && mcp.kind === 'response' && mcp.method === 'initialize' && mcp.server !== undefined) {
        // remembered by its program (and its launcher's, which a client's first messages may find instead)
        for (const pid of [r.task.pid, pair!.child]) {
          const k = this.programKey(pid);
          if (k === undefined) continue;
          if (this.stdioServers.size >= 1024) this.stdioServers.delete(this.stdioServers.keys().next().value!);
          this.stdioServers.set(k, mcp.server);
        }
      }
      e.mcp = mcp;
      if (mcp.kind === 'request') reported(mcp, e.id);
      this.out(e, undefined, origin);
    }
  }

  /**
   * MCP sessions over stdio (mcp-session.ts), by `${client}:${its child}`:
   * the client and the process it started to reach the server (the server
   * itself, or the launcher, npx or uvx, that started it). Both directions
   * of one server's stream come to the same key whether the other end found
   * is the launcher or the server below it, and a client's several servers
   * are sessions apart.
   */
  private readonly mcpSessions = new McpSessions();

  /** MCP servers over stdio by their program (exe and command line): what their answer to initialize named them */
  private readonly stdioServers = new Map<string, McpParty>();

  /** A process's program: its executable and command line (undefined when neither is known). */
  private programKey(pid: number): string | undefined {
    const e = this.processes.get(pid);
    return e.exe === undefined && e.cmdline === undefined ? undefined : `${e.exe ?? ''}\0${e.cmdline ?? ''}`;
  }

  /** The session of a stdio message WRITER (with its ANCESTORS, nearest first) sent to PEER: the client, and the child it started toward the server. */
  private stdioPair(writer: number, ancestors: readonly number[], peer: number): { client: number; child: number } {
    const i = ancestors.indexOf(peer);
    // the peer is the writer's client: the writer is its server, started by the ancestor below the client
    if (i >= 0) return { client: peer, child: i === 0 ? writer : ancestors[i - 1]! };
    // the writer is the client: the peer is its server, below the child it started
    const up = [peer, ...this.processes.ancestorPids(this.processes.get(peer).ppid)];
    const j = up.indexOf(writer);
    return { client: writer, child: j > 0 ? up[j - 1]! : peer };
  }

  /**
   * stdio streams' other ends, by writer and reading end (null: looked for,
   * not found). `looks`: how many more times to look below it: a launcher
   * (npx, uvx) holds the end before the server it starts does, and a
   * stream's first message is looked up at once.
   */
  private readonly stdioPeers = new Map<string, { peer: NonNullable<McpInfo['peer']>; looks: number } | null>();
  /** a process found reading a stdio stream -> the one writing it (its answers go back there) */
  private readonly stdioWriterOf = new Map<number, number>();

  /**
   * The process reading what R writes (host/stdio-peer.ts): among the
   * writer's descendants, deepest first, then its ANCESTORS, nearest first;
   * looked up once per stream, and below a launcher found first on its next
   * messages.
   */
  private stdioPeer(r: StdioRecord, ancestors: readonly number[]): McpInfo['peer'] {
    if (!r.peerIno) return undefined;
    const key = `${r.task.pid}:${r.peer}`;
    const link = `${r.end === 'pipe' ? 'pipe' : 'socket'}:[${r.peerIno}]`;
    let p = this.stdioPeers.get(key);
    if (p && p.looks > 0) {
      // a launcher found first: the server it has started since holds the end too
      p.looks--;
      const below = descendantsOf(p.peer.pid);
      const deeper = below.length ? holderOf(link, below) : undefined;
      if (deeper !== undefined) p = this.stdioPeerOf(key, r.task.pid, deeper, true, p.looks);
    }
    if (p === undefined) {
      // a server answering the client found writing to it (through a launcher or not) answers that client: no /proc
      // needed, where the client may be gone already
      const writer = this.stdioWriterOf.get(r.task.pid);
      const pid = writer !== undefined && ancestors.includes(writer) ? writer : holderOf(link, [...descendantsOf(r.task.pid), ...ancestors]);
      const below = pid !== undefined && !ancestors.includes(pid);
      p = this.stdioPeerOf(key, r.task.pid, pid, below, below ? 8 : 0);
    }
    return p?.peer;
  }

  /**
   * PID (undefined: none found) as the other end of WRITER's stream KEY,
   * looked below LOOKS more times; one BELOW the writer (its server) is
   * remembered as reading that writer, so that its answers go to it.
   */
  private stdioPeerOf(key: string, writer: number, pid: number | undefined, below: boolean, looks: number): { peer: NonNullable<McpInfo['peer']>; looks: number } | null {
    let p: { peer: NonNullable<McpInfo['peer']>; looks: number } | null = null;
    if (pid !== undefined) {
      if (below) {
        if (this.stdioWriterOf.size >= 1024) this.stdioWriterOf.delete(this.stdioWriterOf.keys().next().value!);
        this.stdioWriterOf.set(pid, writer);
      }
      const e = this.processes.get(pid);
      p = { peer: { pid: e.pid, ...(e.comm ? { comm: e.comm } : {}), ...(e.exe ? { exe: e.exe } : {}), ...(e.cmdline ? { cmdline: e.cmdline } : {}) }, looks };
    }
    if (this.stdioPeers.size >= 1024 && !this.stdioPeers.has(key)) this.stdioPeers.delete(this.stdioPeers.keys().next().value!);
    this.stdioPeers.set(key, p);
    return p;
  }

  /** The event for what a connection's plaintext completed (app.ts). */
  private finding(f: Finding, ts: number, proc: ProcessInfo, sni: string | undefined, net?: NetInfo): BustedEvent {
    const e = this.base(f.type === 'cut' ? 'error' : f.type, ts);
    e.process = proc;
    if (net) e.net = net;
    if (sni) e.tls = { sni };
    e.http = f.http;
    if (f.type === 'cut') {
      this.stats.contentCut++;
      const what = `${f.http.method ?? 'a'} request to ${f.http.host ?? (sni !== undefined ? 'a TLS peer' : 'a peer')}`;
      const message = f.reason === undefined ? `${what} was not read whole: policies saw only the start of its body` : `${what} could not be read: ${f.reason}`;
      e.error = { code: ErrorCode.CONTENT_CUT, message, field: 'http.body' };
      if (f.provider) e.provider = f.provider;
    } else if (f.type === 'mcp_message') {
      e.mcp = f.mcp;
      if (f.mcp.kind === 'request') reported(f.mcp, e.id);
    } else {
      e.llm = f.llm;
      if (f.provider) e.provider = f.provider;
      if (f.type === 'llm_request') reported(f.llm, e.id);
    }
    return e;
  }

  private tcp(r: TcpRecord): void {
    if (r.phase === 'connected') return this.opened(r, 'connect', 'egress');
    if (r.phase === 'accepted') return this.opened(r, 'accept', 'ingress');
    if (r.phase === 'closed') return this.closed(r);
    // failed: connect() never completed
    this.conns.delete(r.sockId);
    const ev = this.start('connect_failed', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    ev.net = this.net(r.flow, 'egress');
    this.classify(ev.net, ev, r.task.pid);
    this.out(ev, undefined, { sockId: r.sockId });
  }

  private udp(r: UdpRecord): void {
    // The first datagram from a socket to a peer is a UDP "connect".
    if (r.phase === 'flow') return this.opened(r, 'connect', r.egress === false ? 'ingress' : 'egress');
    this.closed(r);
  }

  private opened(r: TcpRecord | UdpRecord, type: 'connect' | 'accept', direction: 'egress' | 'ingress'): void {
    const net = this.net(r.flow, direction);
    const conn = this.remember(r.sockId, net, r.startNs || r.ts, r.ts, r.task.pid);
    conn.task = r.task;
    const ev = this.start(type, r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    // the connection's own view, shared: no stage changes an event's net
    ev.net = net;
    if (conn.provider) ev.provider = conn.provider;
    this.out(ev, undefined, { sockId: r.sockId });
  }

  private closed(r: TcpRecord | UdpRecord): void {
    if (this.plainStreams.has(r.sockId)) {
      this.plainStreams.forget(r.sockId);
      this.plainHolds.forget(r.sockId);
      this.plainSkipped.delete(r.sockId);
      this.app.forget(0, plainKey(r.sockId));
    }
    const conn = this.conns.get(r.sockId);
    this.conns.delete(r.sockId);
    // only a connection this host opened that moved bytes has a flow record
    // to come (flow.bpf.h): the rest are not kept (a connect loop's closes
    // would otherwise keep thousands of connections alive past the young
    // generation, for the collector to find dead in the old one)
    if (conn && r.kind === 'tcp' && conn.net.direction === 'egress' && (r.bytesSent || r.bytesReceived)) {
      if (this.closedConns.size >= CLOSED_KEPT) {
        this.closedBefore = this.closedConns;
        this.closedConns = new Map();
      }
      this.closedConns.set(r.sockId, conn);
    }
    const ev = this.start('close', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    // The connect-time view: at close the kernel has already released a TCP
    // socket's local port (tcp_set_state unhashes before the tracepoint),
    // and the UDP release hook cannot read addresses at all.
    const net = conn ? copyNet(conn.net) : this.net(r.flow);
    net.bytes_sent = r.bytesSent;
    net.bytes_received = r.bytesReceived;
    if (r.startNs) net.duration_ms = round3((r.ts - r.startNs) / 1e6);
    ev.net = net;
    if (conn?.provider) ev.provider = conn.provider;
    else if (!conn) this.classify(net, ev, r.task.pid);
    if (conn?.sni) ev.tls = { sni: conn.sni };
    this.out(ev, undefined, { sockId: r.sockId });
  }

  /** A connection's traffic shape (flow.bpf.h): while it is busy, and once at its close. */
  private flowStat(r: FlowStatRecord): void {
    let conn = this.conns.get(r.sockId);
    if (!conn) {
      // the close came first (its record was written on another CPU)
      conn = this.closedConns.get(r.sockId) ?? this.closedBefore.get(r.sockId);
      if (r.phase === 'end') {
        this.closedConns.delete(r.sockId);
        this.closedBefore.delete(r.sockId);
      }
    }
    const ev = this.start('flow', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    const net = conn ? copyNet(conn.net) : this.net(r.flow, 'egress');
    if (!conn) this.classify(net, ev, r.task.pid);
    else if (conn.provider) ev.provider = conn.provider;
    net.bytes_sent = r.sendBytes;
    net.bytes_received = r.recvBytes;
    if (r.startNs) net.duration_ms = round3((r.ts - r.startNs) / 1e6);
    ev.net = net;
    if (conn?.sni) ev.tls = { sni: conn.sni };
    const ms = (ns: number) => round3(ns / 1e6);
    const f: FlowInfo = {
      phase: r.phase,
      sends: r.sends,
      recvs: r.recvs,
      exchanges: r.exchanges,
      bursts: r.bursts,
      age_ms: r.startNs ? ms(r.ts - r.startNs) : 0,
      active_ms: r.lastNs > r.firstNs ? ms(r.lastNs - r.firstNs) : 0,
      quiet_ms: r.ts > r.lastNs ? ms(r.ts - r.lastNs) : 0,
      req_bytes_max: r.reqBytesMax,
      resp_bytes_max: r.respBytesMax,
      resp_ms_max: ms(r.respNsMax),
      idle_ms_max: ms(r.idleNsMax),
      gaps: r.gaps,
      burst_hist: r.burstHist,
      gap_hist: r.gapHist,
    };
    if (r.answered) f.ttfb_ms = { first: ms(r.ttfbFirstNs), min: ms(r.ttfbMinNs), max: ms(r.ttfbMaxNs), mean: ms(r.ttfbSumNs / r.answered), count: r.answered };
    if (r.gaps) {
      const mean = r.gapSumUs / 1000 / r.gaps;
      f.gap_ms_mean = round3(mean);
      f.gap_ms_sd = round3(Math.sqrt(Math.max(0, r.gapSq / 100 / r.gaps - mean * mean)));
    }
    ev.flow = f;
    this.out(ev, undefined, r.phase === 'end' ? undefined : { sockId: r.sockId });
  }

  private pkt(r: PktRecord): void {
    if (r.pktKind === 'dns' || r.pktKind === 'dns_held') return this.dnsPkt(r);
    if (r.pktKind === 'quic') return this.quicPkt(r);
    if (r.pktKind === 'quic_held') {
      // a QUIC client's datagram the kernel holds, whole: the enforcer sends it on once the hello is decided
      this.onHelloHeld?.(r);
      // (an Initial is read for the hello; a 0-RTT packet sent beside it is only kept)
      return initialHeader(r.data) ? this.quicPkt(r) : undefined;
    }
    // an unreadable ClientHello the kernel holds (its record comes before the hello's): the enforcer lets it go once decided
    if (r.pktKind === 'hello_held') return this.onHelloHeld?.(r);
    // the first segment a TLS connection sent while its unfinished request is held (pkt.bpf.c sock_held)
    if (r.pktKind === 'sock_held') return this.onSockHeld?.(r);
    if (r.pktKind === 'http' || r.pktKind === 'http_held') {
      if (r.restart) this.plainRestart(r);
      if (r.pktKind === 'http') return this.plainPkt(r);
      return this.plainHolds.held(r, r.ts);
    }
    const key = `${r.sockId}:${r.egress ? 'o' : 'i'}`;
    if (r.pktKind === 'tls_cont') {
      const p = this.pending.get(key);
      if (!p) return; // its hello was not kept (out of scope or complete)
      p.parts.push(r.data);
      p.have += r.data.length;
      const data = concatBytes(p.parts, p.have);
      // Done when the parser has the whole message, or when no more can
      // come (this segment was cut by the capture) or it is absurdly long.
      if (!helloIncomplete(data) || r.data.length < r.len || p.have > 1 << 16) {
        this.pending.delete(key);
        this.hello(p.rec, data);
      }
      return;
    }
    // A new hello replaces any incomplete one on the same socket.
    const old = this.pending.get(key);
    if (old) {
      this.pending.delete(key);
      this.hello(old.rec, concatBytes(old.parts, old.have));
    }
    // More bytes are in later segments when this packet's payload was all
    // captured and still ended short of the hello.
    if (r.data.length === r.len && helloIncomplete(r.data)) {
      this.pending.set(key, { rec: r, parts: [r.data], have: r.data.length, at: r.ts });
      return;
    }
    this.hello(r, r.data);
  }

  /**
   * A piece of a plain-text HTTP connection (pkt.bpf.c: a local Ollama or
   * vLLM, an MCP server on http://localhost), put in order (plain.ts) and
   * read as TLS plaintext is. What it completes (LLM calls, MCP messages)
   * is reported with the connection's addresses; the bytes themselves are
   * no event (tls_data is TLS's).
   */
  private plainPkt(r: PktRecord): void {
    const key = plainKey(r.sockId);
    // the application layer knows the connection by its socket alone (a record's owner may be unknown: pid 0)
    try {
      this.plainPieces(r, key);
    } finally {
      if (r.egress) this.plainHeld(r.sockId, key);
    }
  }

  /**
   * A held connection (plain.ts Hold) once all of its last held segment has
   * been read. What it wrote is let go when it is decided (or no longer
   * gated). Part of a request is asked to be tried again once, for whatever
   * the sender appends meanwhile (a short segment: a full one is all it
   * will hand over), and then let go as it is: the server cannot act on a
   * request it has not got whole, and the next segment is held in turn.
   * So a request of any size (up to the body limit) is read whole, and the
   * segment that completes it is held until it is decided: as a gated TLS
   * connection's writes are let go one by one, the one that completes a
   * request held until it is decided.
   */
  private plainHeld(sockId: SockId, key: string): void {
    const h = this.plainHolds.get(sockId);
    if (h === undefined || !h.fresh || !this.plainStreams.wroteUpTo(sockId, h.end)) return;
    h.fresh = false;
    const skipped = this.plainSkipped.has(sockId);
    const done = this.app.writesDone(0, key);
    if (done) h.passing = false;
    if (done || skipped || h.passing) return this.plainRelease(h, skipped);
    // past what a body is read to: decided now as not read whole, the rest not held part by part
    if (this.app.takeWriteCut(0, key)) return this.plainUnread(h, `its body is longer than the ${MAX_BODY >> 20} MiB a request is read to`);
    if (h.asked !== h.end && ((h.end - h.seq) | 0) < PLAIN_SEGMENT_FULL) {
      h.asked = h.end;
      return this.onPlainHold?.(h, undefined, skipped);
    }
    this.plainRelease(h, skipped);
  }

  private plainRelease(h: Hold, skipped: boolean): void {
    h.asked = undefined;
    h.idle = true;
    this.onPlainHold?.(h, h.end, skipped);
  }

  /**
   * A held request that cannot be read whole: reported as such (decided:
   * by default audited, blocked with data.busted.block_uninspected_content),
   * and unless that blocks the connection, the rest of it goes as it comes.
   */
  private plainUnread(h: Hold, why: string): void {
    const conn = this.conns.get(h.sockId);
    const task = plainOwner(h.task, conn);
    const e = this.start('error', this.clock.monotonicNs(), task.pid);
    if (e) {
      e.process = this.processes.info(task);
      if (conn) e.net = copyNet(conn.net);
      if (conn?.provider) e.provider = conn.provider;
      if (conn) e.http = { host: conn.net.dst_ip };
      e.error = { code: ErrorCode.CONTENT_CUT, message: `a plain-text request to ${conn?.net.dst_ip ?? 'a peer'} was not read whole (${why}): policies saw only its start`, field: 'http.body' };
      this.stats.contentCut++;
      this.out(e, undefined, { sockId: h.sockId, plain: { held: true } });
    }
    h.passing = true;
    this.plainRelease(h, this.plainSkipped.has(h.sockId));
  }

  /**
   * A connection marked skip that the packet hook follows again, from a
   * request (pkt.bpf.c BUSTED_PKT_F_RESTART): read afresh from where that
   * request starts: the segment's start, or, in a retry that carries it
   * after what was read before the skip, where the skip left off.
   */
  private plainRestart(r: PktRecord): void {
    const at = this.plainSkipped.get(r.sockId);
    const d = at === undefined ? 0 : (at - r.seq) | 0;
    this.plainStreams.restart(r.sockId, r.egress, d > 0 && d < 1 << 30 ? at! : r.seq);
    this.plainHolds.forget(r.sockId);
    this.plainSkipped.delete(r.sockId);
    this.app.forget(0, plainKey(r.sockId));
  }

  /**
   * The connection's first request was no LLM or MCP call: the packet hook
   * stops following it (until a later request starts: plainRestart). Not
   * while another request is being written behind it (sent without waiting
   * for the answer): that one is read, and the connection stays followed.
   */
  private plainSkip(r: PktRecord, key: string): void {
    const sockId = this.plainSkipPending!;
    this.plainSkipPending = undefined;
    if (r.egress && !this.app.writesDone(0, key)) return;
    if (this.plainSkipped.size >= 16384) this.plainSkipped.delete(this.plainSkipped.keys().next().value!);
    const released = this.plainStreams.next(sockId, r.egress) ?? r.seq;
    this.plainSkipped.set(sockId, released);
    this.onPlainSkip?.(sockId, released, r.egress);
  }

  /**
   * A TLS connection whose first request was no LLM or MCP call: the probes
   * stop copying it (until a write starts a later request: tls.bpf.c
   * BUSTED_TLS_F_RESTART). Not while another request is being written
   * behind it in the same write: that one is read, and the connection stays followed.
   */
  private tlsSkip(call: TlsCall): void {
    const p = this.tlsSkipPending!;
    this.tlsSkipPending = undefined;
    if (call.direction === 'write' && !this.app.writesDone(p.pid, p.ssl)) return;
    // a server's: not while another request is being read behind this one; its reads then looked at for the next
    if (this.app.requestsRead(p.pid, p.ssl)) {
      if (this.app.readsDone(p.pid, p.ssl)) this.onTlsSkip?.(p.pid, p.ssl, 'server');
      return;
    }
    // HTTP/2: HPACK cannot be picked up part way, so its writes stay followed (a later request on another stream is read)
    const watch = this.app.watchFrom(p.pid, p.ssl);
    if (watch !== undefined) this.app.watched(p.pid, p.ssl, !this.skippedStillCopied);
    this.onTlsSkip?.(p.pid, p.ssl, watch);
  }

  private plainPieces(r: PktRecord, key: string): void {
    for (const p of this.plainStreams.add(r)) {
      // marked skip: what is left of its segment is not read (a request after it is read afresh: plainRestart)
      if (!this.skippedStillCopied && this.plainSkipped.has(r.sockId)) continue;
      // (a plain-text connection begins with an HTTP/1.1 request line: never HTTP/2, so nothing is `lost`)
      // held: a request it carries part of is judged on that part before it may leave (app.ts judgePart)
      const held = p.direction === 'write' && this.plainHolds.holding(r.sockId);
      const { found } = this.app.feed({ pid: 0, ssl: key, direction: p.direction, len: p.data.length + p.gap, data: p.data, conn: {} }, held, r.ts);
      // what it sends is no HTTP (the hook follows a segment that only may start a request): let be
      if (r.egress && this.app.writeLost(0, key)) this.plainSkipPending = r.sockId;
      if (this.plainSkipPending !== undefined) this.plainSkip(r, key);
      if (found.length === 0) continue;
      const conn = this.conns.get(r.sockId);
      const task = plainOwner(r.task, conn);
      const pid = task.pid;
      const proc = this.processes.info(task);
      const net = conn ? copyNet(conn.net) : this.net(r.flow);
      const origin: EventOrigin = { sockId: r.sockId, plain: { held: this.plainHolds.holding(r.sockId) } };
      for (const f of found) {
        const e = this.finding(f, r.ts, proc, undefined);
        e.net = copyNet(net);
        if (e.provider === undefined) {
          if (conn?.provider) e.provider = conn.provider;
          else if (!conn) this.classify(e.net, e, pid);
          if (e.provider !== undefined && e.llm !== undefined && e.llm.provider === undefined) e.llm.provider = e.provider;
        }
        this.out(e, undefined, origin);
      }
    }
  }

  /**
   * A datagram starting with a QUIC Initial (parse/quic.ts): decrypted with
   * the keys of the connection's first client DCID, its CRYPTO frames added
   * to that side's stream, and the hello reported once it is whole, as a
   * TCP one is (its JA4 marked q for QUIC). A datagram that does not
   * decrypt is counted, not reported: UDP carries anything.
   */
  private quicPkt(r: PktRecord): void {
    const peer = r.egress ? `${r.flow.daddr}:${r.flow.dport}` : `${r.flow.saddr}:${r.flow.sport}`;
    const key = `${r.sockId}|${peer}`;
    let q = this.quic.get(key);
    const first = !q;
    if (!q) {
      // a connection begins with the client's Initial, whose DCID the keys of both sides come from
      const h = r.egress ? initialHeader(r.data) : undefined;
      if (!h) return;
      if (this.quic.size >= MAX_QUIC) this.quic.delete(this.quic.keys().next().value!);
      q = { dcid: h.dcid.slice(), version: h.version, client: new CryptoStream(), server: new CryptoStream(), done: { client: false, server: false } };
      this.quic.set(key, q);
    }
    const side = r.egress ? 'client' : 'server';
    if (q.done[side]) return;
    const keys = initialKeys(q.version, q.dcid, side);
    // a datagram may coalesce several packets: each Initial of it in turn
    let read = false;
    for (let at = 0; at < r.data.length; ) {
      const p = readInitial(r.data, (v) => (v === q.version ? keys : undefined), at);
      if (!p) break;
      read = true;
      q[side].add(p.initial.crypto);
      at = p.next;
    }
    if (!read) {
      this.stats.malformedTls++;
      // a held connection whose first datagram does not decrypt: no hello will come to decide it
      if (first && r.pktKind === 'quic_held') this.onHelloUndecided?.(r.sockId);
      return;
    }
    const msg = q[side].message();
    if (!msg) return;
    q.done[side] = true;
    if (q.done.client && q.done.server) this.quic.delete(key);
    this.hello(r, asRecords(msg), true);
  }

  private dnsPkt(r: PktRecord): void {
    let parsed;
    try {
      parsed = parseDns(r.data, r.flow.protocol === 6);
    } catch (e) {
      this.stats.malformedDns++;
      this.malformed(r, e, ErrorCode.DNS_MALFORMED);
      // a held answer goes on even when it does not parse: the client decides what it is
      if (r.pktKind === 'dns_held') this.onHeldDns?.(r);
      return;
    }
    if (r.pktKind === 'dns_held') {
      // reported (and decided) like any answer, then sent on
      try {
        this.dnsEvent(r, parsed);
      } finally {
        this.onHeldDns?.(r);
      }
      return;
    }
    this.dnsEvent(r, parsed);
  }

  private dnsEvent(r: PktRecord, parsed: ReturnType<typeof parseDns>): void {
    // Answers teach the cache even when the event is filtered out.
    if (parsed.response) {
      this.dns.addResponse(parsed.dns);
      this.byAddress.clear();
      if (r.task.pid) this.learnProcessNames(r.task.pid, parsed.dns);
    }
    const ev = this.start(parsed.response ? 'dns_response' : 'dns_query', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    ev.net = this.net(r.flow, r.egress ? 'egress' : 'ingress');
    ev.dns = parsed.dns;
    const q = parsed.dns.questions[0];
    const provider = q ? this.providers.forHost(q.name) : undefined;
    if (provider) ev.provider = provider;
    this.out(ev, undefined, r.pktKind === 'dns_held' ? { sockId: r.sockId, held: true } : { sockId: r.sockId });
  }

  private hello(r: PktRecord, data: Uint8Array, quic = false): void {
    let parsed;
    try {
      parsed = parseTlsHello(data);
    } catch (e) {
      this.stats.malformedTls++;
      if (r.egress) this.onHelloUndecided?.(r.sockId);
      this.malformed(r, e, ErrorCode.TLS_MALFORMED);
      return;
    }
    if (data.length < r.len && parsed.needed > data.length) parsed.tls.truncated = true;
    const client = parsed.kind === 'client_hello';
    let conn = this.conns.get(r.sockId);
    if (!conn) conn = this.remember(r.sockId, this.net(r.flow, client === r.egress ? 'egress' : 'ingress'), r.ts, r.ts);
    if (client && parsed.tls.sni) {
      // The name the client asked the server for is the best evidence of
      // where it meant to go: it overrides what DNS suggested.
      conn.sni = parsed.tls.sni;
      conn.host = parsed.tls.sni;
      const p = this.providers.forHost(parsed.tls.sni) ?? this.providers.forAddress(conn.net.dst_ip);
      if (p) conn.provider = p;
      else delete conn.provider;
    }
    const ev = this.start(client ? 'tls_client_hello' : 'tls_server_hello', r.ts, r.task.pid);
    if (!ev) {
      if (client && r.egress) this.onHelloUndecided?.(r.sockId);
      return;
    }
    ev.process = this.processes.info(r.task);
    ev.net = this.net(r.flow, conn.net.direction);
    if (conn.host) ev.net.dst_host = conn.host;
    ev.tls = parsed.tls;
    // JA4's first character is the transport: q for QUIC
    if (quic && ev.tls.ja4) ev.tls.ja4 = `q${ev.tls.ja4.slice(1)}`;
    if (!client && conn.sni) ev.tls.sni = conn.sni;
    // the kernel marks a ClientHello whose thread went through a probed TLS library
    if (client && r.egress) {
      ev.tls.plaintext = (r.task.flags & TLS_PROBED) !== 0;
      if (!ev.tls.plaintext && r.task.pid !== 0) this.onUnreadTls?.(r.task.pid);
    }
    if (conn.provider) ev.provider = conn.provider;
    this.out(ev, undefined, { sockId: r.sockId });
  }

  private malformed(r: PktRecord, e: unknown, code: string): void {
    const ev = this.start('error', r.ts, r.task.pid);
    if (!ev) return;
    ev.process = this.processes.info(r.task);
    ev.net = this.net(r.flow, r.egress ? 'egress' : 'ingress');
    const err = e instanceof BustedError ? e : undefined;
    ev.error = { code: err?.code ?? code, message: (e as Error).message ?? String(e), field: r.pktKind === 'dns' ? 'dns' : 'tls' };
    this.out(ev);
  }

  // ---- helpers ----------------------------------------------------------------

  private net(f: FlowRecord, direction?: 'egress' | 'ingress'): NetInfo {
    const n: NetInfo = {
      protocol: f.protocol === 17 ? 'udp' : 'tcp',
      family: f.family,
      src_ip: f.saddr,
      src_port: f.sport,
      dst_ip: f.daddr,
      dst_port: f.dport,
    };
    if (direction) n.direction = direction;
    return n;
  }

  private learnProcessNames(pid: number, dns: DnsInfo): void {
    const q = dns.questions[0]?.name;
    if (!q || !dns.answers?.length) return;
    let m = this.procNames.get(pid);
    if (!m) {
      m = new Map();
      this.procNames.set(pid, m);
      if (this.procNames.size > 4096) this.procNames.delete(this.procNames.keys().next().value!);
    }
    for (const a of dns.answers) {
      if (a.type !== 'A' && a.type !== 'AAAA') continue;
      m.delete(a.value);
      m.set(a.value, q);
      if (m.size > 256) m.delete(m.keys().next().value!);
    }
  }

  /** Provider and host name for a destination, from what DNS said about it. */
  private classify(net: NetInfo, ev: BustedEvent, pid = 0): string | undefined {
    const own = pid ? this.procNames.get(pid)?.get(net.dst_ip) : undefined;
    if (!own) {
      // What the shared DNS cache and the address ranges say about an
      // address changes only when an answer arrives: remember it until then.
      const hit = this.byAddress.get(net.dst_ip);
      if (hit !== undefined) {
        if (hit.host) net.dst_host = hit.host;
        if (hit.provider) ev.provider = hit.provider;
        return hit.provider;
      }
    }
    const names = own ? [own] : this.dns.namesFor(net.dst_ip);
    let provider: string | undefined;
    for (const n of names) {
      provider = this.providers.forHost(n);
      if (provider) {
        net.dst_host = n;
        break;
      }
    }
    if (!provider && names[0]) net.dst_host = names[0];
    provider ??= this.providers.forAddress(net.dst_ip);
    if (!own) {
      if (this.byAddress.size >= 4096) this.byAddress.clear();
      this.byAddress.set(net.dst_ip, { host: net.dst_host, provider });
    }
    if (!provider && net.dst_port === OLLAMA_PORT && net.protocol === 'tcp') provider = 'ollama';
    if (provider) ev.provider = provider;
    return provider;
  }

  private remember(sockId: SockId, net: NetInfo, startNs: number, ts: number, pid = 0): Conn {
    const probe: BustedEvent = { id: '', time: '', type: 'connect' };
    if (net.direction === 'egress') this.classify(net, probe, pid);
    const conn: Conn = { net, startNs, lastSeen: ts };
    if (probe.provider) conn.provider = probe.provider;
    if (net.dst_host) conn.host = net.dst_host;
    this.conns.set(sockId, conn);
    if (this.conns.size > MAX_CONNS) {
      // Connections whose close we never saw: forget the oldest.
      let drop = 1024;
      for (const k of this.conns.keys()) {
        if (drop-- <= 0) break;
        this.conns.delete(k);
      }
    }
    return conn;
  }

  /** A new event, or undefined when --pid filters this process out. */
  private start(type: BustedEvent['type'], ts: number, pid: number): BustedEvent | undefined {
    if (this.pid !== undefined && !this.processes.inTree(pid, this.pid)) {
      this.stats.filtered++;
      return undefined;
    }
    return this.base(type, ts);
  }

  private base(type: BustedEvent['type'], monoNs: number): BustedEvent {
    return { id: this.nextId(), time: this.clock.rfc3339(monoNs), type };
  }

  private idHigh = -1;
  private idPrefix = '';

  /** `${runId}-${seq in base 36}`: the digits above the last two change every 1296 events, so they are kept as text (toString(36) per event was a runtime call). */
  private nextId(): string {
    const n = ++this.seq;
    const high = Math.floor(n / 1296);
    if (high !== this.idHigh) {
      this.idHigh = high;
      this.idPrefix = `${this.runId}-${high === 0 ? '' : high.toString(36)}`;
    }
    return this.idPrefix + (high === 0 ? BASE36[n]! : BASE36_2[n - high * 1296]!);
  }

  private out(ev: BustedEvent, extra?: Partial<BustedEvent>, origin?: EventOrigin): void {
    if (extra) Object.assign(ev, extra);
    this.stats.events++;
    this.emit(ev, origin);
  }

  /** What the interpreter remembers of a socket: its addresses as first seen (for destroying it). */
  connection(sockId: SockId): NetInfo | undefined {
    return this.conns.get(sockId)?.net;
  }
}

/** Does this start of a hello need bytes that have not arrived? */
function helloIncomplete(d: Uint8Array): boolean {
  // Cheap test first: the first record's own length (RFC 8446 §5.1).
  if (d.length >= 5 && d.length < 5 + ((d[3]! << 8) | d[4]!)) return true;
  try {
    return parseTlsHello(d).tls.truncated === true;
  } catch {
    return false; // malformed: reported when it is parsed for real
  }
}

/** Whose a plain-text connection's record is: a packet on an accepted socket may come before its owner is known, and then the accept said whose it is. */
function plainOwner(task: TaskRecord, conn: Conn | undefined): TaskRecord {
  return task.pid === 0 && conn?.task !== undefined ? conn.task : task;
}

/** A flat copy with one fixed key order (one hidden class for every copy). */
function copyNet(n: NetInfo): NetInfo {
  const c: NetInfo = { protocol: n.protocol, family: n.family, src_ip: n.src_ip, src_port: n.src_port, dst_ip: n.dst_ip, dst_port: n.dst_port };
  if (n.direction !== undefined) c.direction = n.direction;
  if (n.dst_host !== undefined) c.dst_host = n.dst_host;
  return c;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

export type { ProcessInfo };
