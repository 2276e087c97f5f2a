/**
 * Stage 6, enforce: decisions become what the kernel does.
 *
 * Connections. The kernel cannot wait for the engine, so verdicts are made
 * ahead of time (bpf/busted.h, "enforcement"): for every destination class
 * (each provider) the policy is asked about a prospective `connect` by
 *   - every program image, when the policy reads more of `input.process`
 *     than its cgroup (on exec: the kernel wakes the engine for it);
 *   - every cgroup the engine has seen a process of;
 *   - the default (a process of which nothing is known),
 * and the answers go to image_verdicts / cgroup_verdicts. Provider names
 * (and their suffixes) go to the kernel's name table so that DNS answers
 * for them are classified before the application reads them; published
 * ranges and /etc/hosts go to the static tables. A process the engine has
 * not evaluated yet gets its cgroup's verdict: what the policy says of any
 * process there. Policy reloads recompute everything.
 *
 * Everything else is decided on the event, after the fact, and enforced as
 * far as it can still be:
 *   - a blocked connection, TLS hello or DNS answer: the socket is
 *     destroyed (SOCK_DESTROY) and that host refused to the process;
 *   - blocked content (tls_data, llm_request, mcp_message, llm_response):
 *     the connection's packets are dropped and its socket destroyed, and
 *     the process's further connections to that provider are refused until
 *     the policy changes. When the write was gated (held at SSL_write), this
 *     happens before it continues, so the request never leaves the host;
 *   - `busted/kill`: the process is killed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

import type { EnforceRecord, ExecRecord, ExeKey, PktRecord, SockId, StdioRecord } from '../decode/records.js';
import type { Decider, Decision } from '../decide/decider.js';
import { addressBytes, type ProviderTable } from '../enrich/provider.js';
import type { EventOrigin, GatedCall } from '../interpret/interpreter.js';
import type { Hold } from '../interpret/plain.js';
import { EnforceMaps, type HeldThread, type HoldWrites, type VerdictMasks } from '../kernel/enforce-maps.js';
import type { KernelSession } from '../kernel/loader.js';
import { destroySocket, type SocketId } from '../kernel/sockdiag.js';
import { holdPushable, pushSender } from '../kernel/push.js';
import { reinject, sendRaw, tcpProbe } from '../kernel/reinject.js';
import * as W from '../kernel/wire.generated.js';
import type { BustedEvent, McpInfo, NetInfo, ProcessInfo } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import { reads } from '../policy/analysis.js';
import type { PolicyEngine } from '../policy/engine.js';
import { ClassTable, nameHash } from './classes.js';
import { GUARD_BIN } from '../paths.js';

/**
 * Whether POLICY judges processes by their executable's hash
 * (process.exe_sha256): then executables are hashed, and under enforce an
 * exec of a file not hashed yet is held until it is. A bundle's module,
 * whose reads are not known, is taken to read it when it names it
 * (PolicyEngine.mayRead).
 */
export function readsExeHash(policy: PolicyEngine): boolean {
  return policy.mayRead(['process', 'exe_sha256']) || policy.mayRead(['mcp', 'peer', 'exe_sha256']);
}

/** gated writes timed from their stop to their release: the last this many */
const MAX_HELD_TIMED = 4096;

/** The last N numbers added, and their quantiles. */
class Recent {
  private readonly xs: number[] = [];
  private next = 0;
  constructor(private readonly n: number) {}

  get size(): number {
    return this.xs.length;
  }

  add(x: number): void {
    if (this.xs.length < this.n) this.xs.push(x);
    else this.xs[this.next] = x;
    this.next = (this.next + 1) % this.n;
  }

  /** Each quantile (0..1, nearest rank) of what is kept; undefined when nothing is. */
  quantiles(qs: readonly number[]): number[] | undefined {
    if (this.xs.length === 0) return undefined;
    const s = [...this.xs].sort((a, b) => a - b);
    return qs.map((q) => s[Math.max(0, Math.ceil(q * s.length) - 1)]!);
  }
}

/** The process fields a cgroup stands for: the same for every process in it. */
const CGROUP_FIELDS = new Set(['cgroup_id', 'cgroup_path', 'container_id', 'container_runtime', 'pod_uid', 'pod']);
/** How long a gated thread may wait for a record the engine never got before it is let go. */
const HELD_LOST_MS = 2000;
const HEARTBEAT_MS = 500;
/** A held unreadable ClientHello whose event was never decided (its hello never whole) goes after this long. */
const HELLO_HOLD_MS = 1000;
/** datagrams kept of one held QUIC connection, to be sent on */
const MAX_HELD_DATAGRAMS = 32;
/** how long a TLS connection whose request was let go unfinished is held without a next part (it then goes) */
const UNFINISHED_HOLD_MS = 2000;
/** how long the write of a part let go may take to return before its writer is taken for stuck on a full send buffer */
const UNFINISHED_STALL_MS = 100;
/** at most this much of an unfinished request is held (a TCP send buffer starts at about 64 KiB to a remote host: more would not fit) */
const UNFINISHED_HOLD_BYTES = 48 << 10;
const MAX_HELD_HELLOS = 4096;
const MAX_IMAGES = 16384;
/** names decided by the policy kept in the kernel (its table holds 16384, the providers' among them) */
const MAX_DECIDED_NAMES = 12288;
/** Images the engine made up for processes that predate it (the kernel's are below 2^63). */
const SEEDED = 1n << 63n;

export interface EnforcerOptions {
  kernel: KernelSession;
  providers: ProviderTable;
  decider: Decider;
  /** addresses of names from /etc/hosts */
  hosts: Array<{ ip: string; names: string[] }>;
  /** processes that predate the agent, in the enforced scope */
  scan: () => Array<{ pid: number; process: ProcessInfo }>;
  /** a socket's addresses, as the interpreter remembers them */
  connection: (sockId: SockId) => NetInfo | undefined;
  /** resolves once every kernel record so far has been handled */
  kernelIdle: () => Promise<void>;
  /** nothing in the kernel's ring after the record being handled */
  kernelCaughtUp: () => boolean;
  /** hold gated TLS writes until decided (content policies); false: never hold */
  gate: boolean;
  /** how (default auto: every write that can be in the packet hook where held senders can be pushed from here, else a terminal's only; the rest stopped) */
  holdWrites?: HoldWrites;
  /** reports of its own: errors, and decisions it makes on kernel refusals */
  report: (e: BustedEvent) => void;
  now: () => string;
  /** CLOCK_MONOTONIC ns, the kernel's clock */
  monoNs: () => bigint;
}

interface ClassVerdicts extends VerdictMasks {
  reasons: Map<number, string[]>;
}

/** A socket named by its addresses (this host's end first) and, when known, its cookie; undefined for what is not an address. */
function socketId(protocol: 'tcp' | 'udp', localIp: string | undefined, localPort: number | undefined, remoteIp: string, remotePort: number, cookie?: bigint): SocketId | undefined {
  const local = localIp ? addressBytes(localIp) : undefined;
  const remote = addressBytes(remoteIp);
  if (!local || !remote || localPort === undefined) return undefined;
  const id: SocketId = { family: local.family === 4 && remote.family === 4 ? 4 : 6, protocol, local: local.bytes, localPort, remote: remote.bytes, remotePort };
  if (cookie !== undefined) id.cookie = cookie;
  return id;
}

/** A ClientHello the kernel holds: a TCP segment's headers (the hello follows), or a QUIC connection's datagrams. */
type HeldHello = { since: number; pid: number } & ({ quic: false; headers: Uint8Array; seq: number } | { quic: true; peer: string; datagrams: PktRecord[] });

/** A QUIC connection's peer, as its hold and its hello's event name it (one unconnected socket may hold several in turn). */
const quicPeer = (ip: string | undefined, port: number | undefined) => `${ip}|${port}`;

/** A socket with writes held in the packet hook (tls.bpf.c hold_in_packets; Enforcer.onPacketHeld). */
interface PktHold {
  cookie: bigint;
  pid: number;
  /** the highest hold number seen on the socket, and the one let go up to (pkt_released) */
  seen: number;
  released: number;
  /** the bytes of its unfinished request's parts held */
  bytes: number;
  /** its writer could not go on while held: its request goes part by part until finished */
  stalled: boolean;
  timer?: NodeJS.Timeout;
  /** the first segment dropped since its sender was last moved on: its IP and TCP headers and sequence number */
  headers?: Uint8Array;
  seq?: number;
  /** the hold number up to which its sender was moved on (a later record of a segment dropped before that is no news) */
  movedOn?: number;
}

/** A TLS connection whose unfinished request the kernel holds. */
interface HeldSock {
  cookie: bigint;
  pid: number;
  /** when its last part was let go */
  since: number;
  /** the bytes of the parts let go while held */
  bytes: number;
  /** the call id of that part until its write returns */
  waiting?: string;
  /** the first held segment's IP and TCP headers and sequence number, for its probe */
  headers?: Uint8Array;
  seq?: number;
}

export class Enforcer {
  readonly classes: ClassTable;
  private readonly maps: EnforceMaps;
  private perImage = false;
  /** the policy reads process.exe_sha256: execs of files not hashed yet are held (BUSTED_CFG_HOLD_EXEC) */
  private holdExec = false;
  /** the policy decides on host names: hold answers for names not decided yet */
  private holdNames = false;
  /** a name's decision does not depend on who looked it up: keep it in the kernel's name table */
  private namesCacheable = false;
  /** names the kernel holds a decision on (hash hex), for this policy only */
  private readonly decidedNames = new Set<string>();
  private gateClasses = 0n;
  private readonly images = new Map<string, ProcessInfo>();
  private readonly cgroups = new Map<bigint, ProcessInfo>();
  private readonly verdicts = new Map<string, ClassVerdicts>();
  /** image -> classes blocked by content decisions, until the policy changes */
  private readonly contentBlocks = new Map<string, bigint>();
  /** pid:ssl -> the TLS connection's socket (the kernel tied them at its ClientHello) */
  private readonly sslSockets = new Map<string, SocketId>();
  private readonly blockedTls = new Set<string>();
  /** pid -> gated calls seen and not let go yet (call id -> the held thread) */
  private readonly gated = new Map<number, Map<string, number>>();
  private readonly releasing = new Set<number>();
  private readonly installedNames = new Set<string>();
  /** why a host (an address, or a name) was refused, for the refusals the kernel reports later */
  private readonly hostReasons = new Map<string, string[]>();
  private timer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  readonly stats = { refused: 0, destroyed: 0, gated: 0, released: 0, stopsQueued: 0, packetHeld: 0, packetReleased: 0, killed: 0, lostHolds: 0, heldAnswers: 0, standingImages: 0, plainReleased: 0, heldHellos: 0, unfinishedHeld: 0, stdioStopped: 0, execsHeld: 0, pushed: 0, probed: 0 };
  /** held senders are pushed from here (kernel/push.ts) before the server is probed: true, or why not (then only probed) */
  private readonly push: true | string;
  /**
   * How gated writes are held, as the kernel is told. `auto` is every
   * write that can be in the packet hook where held senders can be pushed
   * from here (no server round trip), else a terminal's only (its shell
   * would take a stop for a job's), the rest by stopping the writer.
   */
  private readonly holdWrites: HoldWrites;
  /** why pushes were refused, each said once */
  private readonly pushFailures = new Set<string>();
  /** plain-text connections blocked: their held segments are never sent on */
  private readonly blockedPlain = new Set<SockId>();

  constructor(private readonly o: EnforcerOptions) {
    this.classes = new ClassTable(o.providers);
    this.maps = new EnforceMaps(o.kernel);
    const asked = o.holdWrites ?? 'auto';
    // (held hellos, plain-text requests and requests held in parts are pushed whatever the mode)
    this.push = holdPushable();
    this.holdWrites = asked === 'auto' && this.push === true ? 'packets' : asked;
  }

  /** How gated writes are held, for the agent's first lines. */
  get holdHow(): string {
    if (this.holdWrites === 'stop') return 'by stopping the writing process';
    const moved = this.push === true ? 'each held sender pushed from here when let go' : `each held sender moved on by a probe of its server, a round trip later (no push from here: ${this.push})`;
    const which = this.holdWrites === 'packets' ? 'every write that can be' : "a terminal's process's writes";
    return `in the packet hook, ${which} (its process runs on; ${moved}), the others by stopping the writing process`;
  }

  private get decider(): Decider {
    return this.o.decider;
  }

  /** Fill the kernel's tables and verdicts, then attach the connect hooks. */
  start(): void {
    const now = this.o.monoNs();
    for (const n of this.o.providers.names()) this.installName(n.name, this.classes.classOf(n.provider)!, n.match);
    for (const r of this.o.providers.rangeList()) this.maps.putRange(r.family, r.bytes, r.bits, this.classes.classOf(r.provider)!);
    for (const h of this.o.hosts) {
      const k = h.names.map((n) => this.o.providers.forHost(n)).find((p) => p !== undefined);
      const a = addressBytes(h.ip);
      if (k && a) this.maps.putDest('0', a.family, a.bytes, this.classes.classOf(k)!, 'static', now);
    }
    this.configure(this.decider.policy);
    // files an earlier agent hashed (a pinned map): this one has not, so their execs are held again
    this.maps.clearExeHashed();
    for (const { pid, process } of this.o.scan()) {
      const image = (SEEDED | BigInt(pid)).toString(16);
      if (process.cgroup_id !== undefined && this.maps.seedProc(pid, BigInt(`0x${image}`), BigInt(process.cgroup_id), process.uid ?? 0)) {
        this.noteImage(image, process);
        continue;
      }
      // the kernel knows it already: it executed since the hooks attached, or
      // under an earlier agent whose maps this one took over (--pin)
      const known = this.maps.procImage(pid);
      if (known && known !== '0') this.noteImage(known, process);
      else this.noteCgroup(process);
    }
    this.recompute();
    const made = this.o.kernel.attachDeferred();
    const refused = made.filter((a) => !a.ok);
    if (made.length === 0 || refused.length === made.length) {
      throw new BustedError(ErrorCode.BPF, `the connect hooks could not be attached: ${refused.map((a) => `${a.program}: ${a.error?.split('\n')[0]}`).join('; ') || 'no enforce object'}`);
    }
    this.started = true;
    this.startGuard();
    this.heartbeat();
    this.timer = setInterval(() => this.tick(), 250);
    this.timer.unref();
  }

  private guard: ChildProcess | undefined;

  /**
   * The guard (engine/enforce/guard.c) lets held processes go if this agent
   * dies without doing so: it waits on a pipe from us, with the kernel's
   * `held` map as its fd 3. In a process group of its own, so a Ctrl-C meant
   * for the agent does not end it first. Without it (not built), holding is
   * still done and an orderly stop still lets everything go.
   */
  private startGuard(): void {
    if (this.guard || (this.gateClasses === 0n && !this.holdExec) || !existsSync(GUARD_BIN)) return;
    try {
      this.guard = spawn(GUARD_BIN, [], { stdio: ['pipe', 'ignore', 'ignore', this.maps.heldFd()], detached: true });
      this.guard.on('error', (e) => this.error(`busted-guard: ${e.message}`));
      this.guard.unref();
      (this.guard.stdin as unknown as { unref?: () => void }).unref?.();
    } catch (e) {
      this.error(`busted-guard could not start: ${(e as Error).message}`);
    }
  }

  /** What the policy needs: verdicts per image or per cgroup, gated TLS or not. */
  private configure(policy: PolicyEngine): void {
    const use = policy.inputs;
    this.perImage = !use || use.all || use.paths.some((p) => p[0] === 'process' && (p.length === 1 || !CGROUP_FIELDS.has(p[1]!)));
    // `provider` too: a request's provider is the one its Host names (app.ts requestProvider), which only its
    // content tells when it is fronted through another name; a write held until judged is refused before it leaves
    const content = !use || ['llm', 'mcp', 'http', 'provider'].some((k) => reads(use, [k])) || reads(use, ['tls', 'payload']);
    this.holdNames = !use || reads(use, ['dns']) || reads(use, ['tls', 'sni']) || reads(use, ['net', 'dst_host']) || reads(use, ['http', 'host']);
    this.namesCacheable = use !== undefined && !use.all && !use.volatile && !reads(use, ['process']);
    // a process judged by its executable's hash is stopped at the exec of a file not hashed yet, until it is
    this.holdExec = readsExeHash(policy);
    if (this.holdExec && this.started) this.startGuard();
    let mask = 0n;
    if (this.o.gate && content) {
      for (const [, k] of this.classes.entries()) mask |= 1n << BigInt(k);
      mask |= 1n << BigInt(W.BUSTED_CLASS_GATED);
    }
    this.gateClasses = mask;
  }

  private heartbeat(): void {
    if (this.stopped) return;
    this.maps.setConfig({
      enforce: this.started,
      gate: this.started && this.gateClasses !== 0n,
      perImage: this.started && this.perImage,
      holdNames: this.started && this.holdNames,
      holdExec: this.started && this.holdExec,
      holdWrites: this.holdWrites,
      gateClasses: this.gateClasses,
      heartbeatNs: this.o.monoNs(),
    });
  }

  private lastBeat = 0;
  private tick(): void {
    const t = Date.now();
    if (t - this.lastBeat >= HEARTBEAT_MS) {
      this.lastBeat = t;
      this.heartbeat();
    }
    this.watchHeld();
    for (const [sock, h] of this.heldHellos) {
      if (t - h.since < HELLO_HOLD_MS) break; // in the order they came
      this.releaseHello(sock, h);
    }
    // an unfinished request whose next part does not come: what was let go of it goes
    for (const [key, h] of this.heldSocks) if (t - h.since >= UNFINISHED_HOLD_MS) this.releaseSock(key, h);
  }

  // ---- verdicts ahead of time ------------------------------------------------------

  private installName(name: string, klass: number, match: 'exact' | 'suffix'): void {
    const key = `${match}:${name.toLowerCase()}`;
    if (this.installedNames.has(key)) return;
    this.installedNames.add(key);
    this.maps.putName(nameHash(name), klass, match);
  }

  /** The prospective connect the policy is asked about for a process (or a cgroup's any process) and a provider. */
  private prospective(process: Partial<ProcessInfo>, provider: string): BustedEvent {
    return {
      id: 'verdict',
      time: this.o.now(),
      type: 'connect',
      process: process as ProcessInfo,
      net: { protocol: 'tcp', family: 4, direction: 'egress' } as NetInfo,
      provider,
    };
  }

  private compute(process: Partial<ProcessInfo>): ClassVerdicts {
    const v: ClassVerdicts = { block: 0n, audit: 0n, reasons: new Map() };
    for (const [provider, k] of this.classes.entries()) {
      let d: Decision;
      try {
        d = this.decider.decide(this.prospective(process, provider));
      } catch (e) {
        this.error(`connection verdict for ${provider}: ${(e as Error).message}`);
        continue;
      }
      if (d.action === 'block') v.block |= 1n << BigInt(k);
      else if (d.action === 'audit') v.audit |= 1n << BigInt(k);
      if (d.reasons.length) v.reasons.set(k, d.reasons);
    }
    return v;
  }

  private cgroupOnly(p: ProcessInfo): Partial<ProcessInfo> {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(p)) if (CGROUP_FIELDS.has(k)) out[k] = v;
    return out as Partial<ProcessInfo>;
  }

  private writeImage(image: string, p: ProcessInfo): void {
    const base = this.perImage ? this.compute(p) : this.verdicts.get(`cgroup:${p.cgroup_id}`) ?? this.compute(this.cgroupOnly(p));
    const extra = this.contentBlocks.get(image) ?? 0n;
    this.verdicts.set(`image:${image}`, base);
    if (this.perImage || extra) this.maps.putImageVerdict(image, { block: base.block | extra, audit: base.audit });
  }

  private noteImage(image: string, p: ProcessInfo): void {
    this.noteCgroup(p);
    if (this.images.size >= MAX_IMAGES) {
      const [old] = this.images.keys();
      this.images.delete(old!);
      this.verdicts.delete(`image:${old}`);
      this.maps.deleteImageVerdict(old!); // its processes fall back to their cgroup's verdict
    }
    this.images.set(image, p);
    if (this.started) this.writeImage(image, p);
  }

  private noteCgroup(p: ProcessInfo): void {
    if (p.cgroup_id === undefined) return;
    const id = BigInt(p.cgroup_id);
    if (this.cgroups.has(id)) return;
    this.cgroups.set(id, p);
    if (this.started) this.writeCgroup(id, p);
  }

  private writeCgroup(id: bigint, p: ProcessInfo): void {
    const v = this.compute(this.cgroupOnly(p));
    this.verdicts.set(`cgroup:${id}`, v);
    this.maps.putCgroupVerdict(id, v);
  }

  /** Every standing verdict, from the policy as it is now. */
  private recompute(): void {
    const def = this.compute({});
    this.verdicts.set('default', def);
    this.maps.putCgroupVerdict(0n, def);
    for (const [id, p] of this.cgroups) this.writeCgroup(id, p);
    for (const [image, p] of this.images) this.writeImage(image, p);
  }

  /** A new policy is in force (hot reload): content blocks end, every verdict is made again. */
  reload(): void {
    this.contentBlocks.clear();
    // images no process runs any more need no verdict (the kernel dropped theirs at the last exit)
    const live = this.maps.liveImages();
    for (const image of [...this.images.keys()]) {
      if (live.has(image)) continue;
      this.images.delete(image);
      this.verdicts.delete(`image:${image}`);
    }
    // what the old policy decided about names and hosts goes with it
    for (const h of this.decidedNames) this.maps.deleteName(BigInt(`0x${h}`));
    this.decidedNames.clear();
    this.hostReasons.clear();
    this.maps.deleteDestClass(W.BUSTED_CLASS_HOST);
    this.configure(this.decider.policy);
    if (!this.perImage) for (const image of this.images.keys()) this.maps.deleteImageVerdict(image);
    this.recompute();
    this.heartbeat();
  }

  /** A process executed a new image (the kernel numbered it). */
  onExec(pid: number, image: string, p: ProcessInfo): void {
    if (image === '0') return;
    this.noteImage(image, p);
  }

  /**
   * An exec the kernel stopped until its executable is hashed
   * (BUSTED_EXEC_HELD, bpf/proc.bpf.c). `held`: its record is here, the
   * hold is ours (the lost-holds watch leaves it alone while the file is
   * read). `decided`: onExec has judged the process with its hash (or
   * without, when the file could not be read: the policy says what a
   * process with no hash may do); the file is marked hashed for the
   * kernel, whose next exec of it runs at once, and the process goes on.
   */
  onExecHold(r: ExecRecord, phase: 'held' | 'decided'): void {
    const pid = r.task.pid;
    const callId = r.held?.callId;
    if (callId === undefined) return;
    this.heldBy(pid, callId, r.task.tid);
    if (phase === 'held') return;
    this.stats.execsHeld++;
    const p = this.images.get(r.image);
    if (p?.exe_sha256 !== undefined && r.exe) this.maps.putExeHashed(r.exe);
    this.release(pid);
  }

  /**
   * A process's executable was hashed after it was judged without its hash
   * (it ran before the agent, or the policy does not hold execs): judged
   * again with it. Its file is marked hashed for the kernel.
   */
  onExeHashed(pid: number, sha256: string, key: ExeKey | undefined): void {
    if (key && this.holdExec) this.maps.putExeHashed(key);
    for (const [image, p] of this.images) {
      if (p.pid !== pid || p.exe_sha256 !== undefined) continue;
      this.noteImage(image, { ...p, exe_sha256: sha256 });
    }
  }

  // ---- what the kernel did ---------------------------------------------------------

  onEnforce(r: EnforceRecord): void {
    const id = r.flow.protocol === 6 ? socketId('tcp', r.flow.saddr, r.flow.sport, r.flow.daddr, r.flow.dport, BigInt(r.sockId)) : undefined;
    if (!id) return;
    if (r.what === 'packet_dropped') {
      // the first packet of a blocked socket (its cookie, or a blocked thread's): abort it
      try {
        if (destroySocket(id)) this.stats.destroyed++;
      } catch (e) {
        this.error(`destroying a blocked socket: ${(e as Error).message}`);
      }
    } else if (r.what === 'ssl_socket') {
      const key = `${r.task.pid}:${r.ssl}`;
      if (this.sslSockets.size >= 65536) this.sslSockets.delete(this.sslSockets.keys().next().value!);
      this.sslSockets.set(key, id);
      // blocked before its socket was known: block the socket now
      if (this.blockedTls.has(key)) this.killSocket(id);
    }
  }

  /** The reasons behind a kernel refusal (the verdict it applied). */
  refusalReasons(e: BustedEvent, origin: EventOrigin): string[] {
    const klass = origin.refusal?.klass ?? 0;
    const src = e.enforcement?.verdict;
    if (src === 'host') {
      const why = (e.net?.dst_host && this.hostReasons.get(e.net.dst_host.toLowerCase())) || (e.net?.dst_ip && this.hostReasons.get(e.net.dst_ip));
      return why || [`${e.net?.dst_host ?? e.net?.dst_ip} was refused to this process by an earlier decision`];
    }
    const key = src === 'image' ? `image:${origin.refusal?.image}` : src === 'cgroup' ? `cgroup:${e.process?.cgroup_id}` : 'default';
    const reasons = this.verdicts.get(key)?.reasons.get(klass);
    if (reasons?.length) return reasons;
    const extra = src === 'image' && this.contentBlocks.get(origin.refusal?.image ?? '');
    if (extra) return [`${this.classes.nameOf(klass)}: blocked for this process after a blocked request, until the policy changes`];
    return [`${this.classes.nameOf(klass) ?? `class ${klass}`} is blocked`];
  }

  // ---- decisions on events -----------------------------------------------------------

  /**
   * Act on a decision about an event; says whether it was enforced (the
   * blocked thing did not happen, or was stopped). Never throws: a failure
   * to act is reported and counts as not enforced.
   */
  act(e: BustedEvent, d: Decision, origin: EventOrigin | undefined): boolean {
    const sock = e.type === 'tls_client_hello' ? origin?.sockId : undefined;
    const hello = sock !== undefined ? this.heldHellos.get(sock) : undefined;
    // (a QUIC socket's hold is for one peer: another's hello was not held)
    if (hello === undefined || (hello.quic && hello.peer !== quicPeer(e.net?.dst_ip, e.net?.dst_port))) return this.acted(e, d, origin);
    this.heldHellos.delete(sock!);
    let enforced = false;
    try {
      enforced = this.acted(e, d, origin);
    } finally {
      // a blocked hello stays held until its socket is gone; any other goes on now
      if (d.action === 'block' && enforced) this.cutHello(sock!, hello);
      else this.releaseHello(sock!, hello);
    }
    return enforced;
  }

  private acted(e: BustedEvent, d: Decision, origin: EventOrigin | undefined): boolean {
    this.learn(e, origin);
    if (origin?.held && e.type === 'dns_response') this.decidedName(e, d);
    if (d.action !== 'block') return false;
    this.rememberWhy(e, d.reasons);
    let enforced = false;
    try {
      enforced = this.block(e, origin);
    } catch (err) {
      this.error(`enforcing the block of ${e.id}: ${(err as Error).message}`);
    }
    if (d.kill && e.process?.pid && e.process.pid !== process.pid) {
      try {
        process.kill(e.process.pid, 'SIGKILL');
        this.stats.killed++;
        enforced = true;
      } catch (err) {
        this.error(`killing ${e.process.pid}: ${(err as Error).message}`);
      }
    }
    return enforced;
  }

  private block(e: BustedEvent, origin: EventOrigin | undefined): boolean {
    const pid = e.process?.pid ?? 0;
    switch (e.type) {
      case 'connect_blocked':
        this.stats.refused++;
        return true;
      case 'connect':
      case 'flow':
      case 'tls_client_hello':
      case 'tls_server_hello': {
        if (pid && e.net?.direction === 'egress') this.refuseHost(pid, e.net.dst_ip);
        return origin?.sockId !== undefined && this.destroy(origin.sockId);
      }
      case 'accept':
        return origin?.sockId !== undefined && this.destroy(origin.sockId);
      case 'dns_response': {
        if (!pid) return false;
        let any = false;
        for (const a of e.dns?.answers ?? []) if ((a.type === 'A' || a.type === 'AAAA') && this.refuseHost(pid, a.value)) any = true;
        return any;
      }
      case 'tls_data':
      case 'llm_request':
      case 'llm_response':
      case 'mcp_message':
        return this.blockContent(e, origin);
      case 'error':
        // a request the engine could not read whole, blocked for that (a held write has not left)
        return e.error?.code === ErrorCode.CONTENT_CUT && this.blockContent(e, origin);
      default:
        return false;
    }
  }

  /** The reasons a host was refused (its name and addresses), for the kernel's later refusals. */
  private rememberWhy(e: BustedEvent, reasons: string[]): void {
    if (!reasons.length) return;
    const keys = [e.dns?.questions[0]?.name, e.tls?.sni, e.net?.dst_host, e.net?.direction === 'egress' ? e.net.dst_ip : undefined, ...(e.dns?.answers ?? []).map((a) => a.value)];
    for (const k of keys) {
      if (!k) continue;
      if (this.hostReasons.size >= 4096) this.hostReasons.delete(this.hostReasons.keys().next().value!);
      this.hostReasons.set(k.toLowerCase(), reasons);
    }
  }

  /** This address is refused to the program this process runs from now on (BUSTED_CLASS_HOST). */
  private refuseHost(pid: number, ip: string | undefined): boolean {
    const a = ip ? addressBytes(ip) : undefined;
    const image = this.maps.procImage(pid);
    if (!a || !image || image === '0') return false;
    this.maps.putDest(image, a.family, a.bytes, W.BUSTED_CLASS_HOST, 'dns', this.o.monoNs());
    return true;
  }

  private destroy(sockId: SockId): boolean {
    const n = this.o.connection(sockId);
    const id = n && socketId(n.protocol, n.src_ip, n.src_port, n.dst_ip, n.dst_port, typeof sockId === 'number' ? BigInt(sockId) : undefined);
    return id ? this.killSocket(id) : false;
  }

  /** Its packets dropped from now on (when its cookie is known) and the socket aborted. */
  private killSocket(id: SocketId): boolean {
    if (id.cookie) this.maps.blockSocket(id.cookie);
    const done = destroySocket(id);
    if (done) this.stats.destroyed++;
    return done || id.cookie !== undefined;
  }

  private blockContent(e: BustedEvent, origin: EventOrigin | undefined): boolean {
    if (origin?.stdio) return this.blockStdio(e.mcp, origin.stdio.peer);
    if (origin?.plain && origin.sockId !== undefined) return this.blockPlain(e, origin.sockId, origin.plain.held);
    const tls = origin?.tls;
    if (!tls) return false;
    this.blockTls(tls.pid, tls.ssl);
    const key = `${tls.pid}:${tls.ssl}`;
    const sock = this.sslSockets.get(key);
    this.refuseAfter(e, tls.pid, sock);
    // a held write has not left: it never will
    return tls.gated;
  }

  /**
   * Content blocked on a plain-text HTTP connection (pkt.bpf.c plain_socks):
   * the connection is cut (its packets dropped, the socket destroyed) so
   * that nothing more goes or comes on it, its held segments are never sent
   * on, and the program's later connections there are refused (a client's:
   * the server's side of a remote client's connection is only cut).
   * Enforced when the request was held (a gated connection): the server got
   * none of it. Otherwise (the server's side, a connection not gated when it
   * began, a request let go unread when its hold stalled) it had left.
   */
  private blockPlain(e: BustedEvent, sockId: SockId, held: boolean): boolean {
    if (this.blockedPlain.size >= 4096) this.blockedPlain.delete(this.blockedPlain.values().next().value!);
    this.blockedPlain.add(sockId);
    // a connection the interpreter never saw open (it predates the agent): its packets dropped by cookie
    if (!this.destroy(sockId) && typeof sockId === 'number') this.maps.blockSocket(BigInt(sockId));
    const pid = e.process?.pid ?? 0;
    const n = e.net;
    if (pid && n?.direction !== 'ingress') this.refuseAfter(e, pid, n && socketId('tcp', n.src_ip, n.src_port, n.dst_ip, n.dst_port));
    return held;
  }

  /**
   * A held plain-text connection moves on (interpreter.ts plainHeld): the
   * kernel is told how far its bytes may go now (`release`; none: as far as
   * before), then the server is made to acknowledge (a one-byte probe,
   * kernel/reinject.ts tcpProbe), which makes the sender try its held
   * segment again at once. Never for a blocked connection: its segment
   * stays held until the socket is gone.
   */
  plainHold(h: Hold, release: number | undefined, skipped: boolean): void {
    if (this.blockedPlain.has(h.sockId)) return;
    if (release !== undefined && !skipped) this.o.kernel.setPlainVerdict(BigInt(h.sockId), 'gate', release);
    if (this.moveOn(h.task.pid, cookieOf(h.sockId), h.headers, h.seq, 'a held plain-text request') && release !== undefined) this.stats.plainReleased++;
  }

  /** Until the policy changes, no more connections of this program to that provider (or, for no provider, to that address). */
  private refuseAfter(e: BustedEvent, pid: number, sock: SocketId | undefined): void {
    const klass = e.provider ? this.classes.classOf(e.provider) : undefined;
    const image = this.maps.procImage(pid);
    if (klass !== undefined && image) {
      this.contentBlocks.set(image, (this.contentBlocks.get(image) ?? 0n) | (1n << BigInt(klass)));
      const p = this.images.get(image);
      if (p) this.writeImage(image, p);
      else {
        const v = this.verdicts.get(`image:${image}`);
        this.maps.putImageVerdict(image, { block: (v?.block ?? 0n) | this.contentBlocks.get(image)!, audit: v?.audit ?? 0n });
      }
    } else if (sock) {
      this.refuseHost(pid, addressText(sock.remote));
    }
  }

  /**
   * A held answer's name is decided: when that decision holds for whoever
   * asks (the policy reads nothing of the process), the kernel keeps it, so
   * later answers go straight through — or, for a blocked name, straight to
   * a refused host for the process that asked.
   */
  private decidedName(e: BustedEvent, d: Decision): void {
    const q = e.dns?.questions[0]?.name;
    if (!q || !this.namesCacheable || (e.provider && this.classes.classOf(e.provider) !== undefined)) return;
    const h = nameHash(q);
    if (this.decidedNames.size >= MAX_DECIDED_NAMES) {
      const [old] = this.decidedNames;
      this.decidedNames.delete(old!);
      this.maps.deleteName(BigInt(`0x${old}`));
    }
    this.decidedNames.add(h.toString(16));
    this.maps.putName(h, d.action === 'block' ? W.BUSTED_CLASS_HOST : W.BUSTED_CLASS_NONE, 'exact');
  }

  /**
   * A TLS connection is blocked: its writes refused from now on (the uprobe
   * holds each; the engine never lets one through) and its socket killed.
   * Where its socket is not known, the held thread's next packet names it.
   */
  private blockTls(pid: number, ssl: string): void {
    const key = `${pid}:${ssl}`;
    this.blockedTls.add(key);
    this.maps.setTlsVerdict(pid, ssl, 'block');
    const sock = this.sslSockets.get(key);
    if (sock) {
      this.killSocket(sock);
      return;
    }
    for (const h of this.maps.heldThreads()) if (h.pid === pid && h.ssl === ssl) this.maps.blockThread(h.tid, pid);
  }

  /** What an event teaches the kernel, whatever the decision: names to classify, connections to gate. */
  private learn(e: BustedEvent, origin: EventOrigin | undefined): void {
    if ((e.type === 'dns_response' || e.type === 'dns_query') && e.provider) {
      // a provider name the kernel's table lacks (a region the lists do not have, a user entry)
      const q = e.dns?.questions[0]?.name;
      const klass = this.classes.classOf(e.provider);
      if (q && klass !== undefined) {
        this.installName(q, klass, 'exact');
        const image = e.type === 'dns_response' && e.process?.pid ? this.maps.procImage(e.process.pid) : undefined;
        if (image && image !== '0') {
          for (const a of e.dns?.answers ?? []) {
            const b = a.type === 'A' || a.type === 'AAAA' ? addressBytes(a.value) : undefined;
            if (b && this.maps.destClass(image, b.family, b.bytes) === 0) this.maps.putDest(image, b.family, b.bytes, klass, 'dns', this.o.monoNs());
          }
        }
      }
    }
    if (this.gateClasses === 0n || !origin?.tls) return;
    if (e.type === 'llm_request' || (e.type === 'mcp_message' && e.mcp?.kind === 'request')) {
      const sni = e.tls?.sni;
      // a gateway or MCP server under a name no provider has: its next connections start gated
      if (sni && !this.o.providers.forHost(sni)) this.installName(sni, W.BUSTED_CLASS_GATED, 'exact');
      if (!origin.tls.gated) this.maps.setTlsVerdict(origin.tls.pid, origin.tls.ssl, 'gate');
    }
  }

  /**
   * A DNS answer the kernel held (the process runs an image not evaluated
   * when it came): by now its exec has been handled and its verdict written,
   * and the answer's decision made; send it on.
   */
  onHeldDns(r: PktRecord): void {
    const client = addressBytes(r.flow.saddr);
    const server = addressBytes(r.flow.daddr);
    if (!client || !server) return;
    let payload = r.data;
    if (r.data.length < r.len) {
      // cut by the capture: an answer we cannot repeat whole says "truncated" (TC), and the resolver asks again over TCP
      payload = r.data.slice(0, Math.min(r.data.length, 12));
      if (payload.length === 12) {
        payload[2]! |= 0x02;
        payload.fill(0, 6, 12); // no records follow
      }
    }
    try {
      reinject({ family: client.family === 4 && server.family === 4 ? 4 : 6, src: server.bytes, srcPort: r.flow.dport, dst: client.bytes, dstPort: r.flow.sport, payload });
      this.stats.heldAnswers++;
    } catch (e) {
      this.error(`a held DNS answer for pid ${r.task.pid} could not be sent on: ${(e as Error).message}`);
    }
  }

  // ---- MCP over stdio -----------------------------------------------------------------

  /** stdio messages blocked, by stdioKey: the reader is killed at the read that completes one */
  private readonly stdioBlocked = new Set<string>();

  /**
   * A message written to a server's stdin that the policy blocks (MCP over
   * stdio: stdio.bpf.c). It is in the pipe already; its reader is held at
   * the read that gets it, and killed there (onStdioRead), before it has
   * run anything of it. Any request or notification: an answer is not
   * matched (its id is the asker's).
   */
  private blockStdio(m: McpInfo | undefined, peer: string): boolean {
    if (m === undefined || m.kind === 'response' || !this.started) return false;
    if (this.stdioBlocked.size >= 4096) this.stdioBlocked.delete(this.stdioBlocked.values().next().value!);
    this.stdioBlocked.add(stdioKey(m, peer));
    return true;
  }

  /**
   * A read of an end MCP was written to, its thread stopped by the kernel:
   * MESSAGES are what it completes. One the policy blocked kills the reader
   * (the server never acts on it); otherwise it goes on, as a decided gated
   * write does.
   */
  onStdioRead(r: StdioRecord, messages: McpInfo[]): void {
    const pid = r.task.pid;
    const refused = messages.find((m) => m.kind !== 'response' && this.stdioBlocked.has(stdioKey(m, r.peer)));
    if (refused !== undefined && pid !== process.pid) {
      this.stdioBlocked.delete(stdioKey(refused, r.peer));
      try {
        process.kill(pid, 'SIGKILL');
        this.stats.stdioStopped++;
        this.stats.killed++;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ESRCH') this.error(`killing pid ${pid}, which read a blocked MCP message: ${(e as Error).message}`);
      }
      this.maps.releaseHeld(r.task.tid);
      return;
    }
    this.heldBy(pid, r.read!.callId, r.task.tid);
    this.release(pid);
  }

  // ---- ClientHellos held ---------------------------------------------------------------

  /** ClientHellos the kernel holds (pkt.bpf.c hello_hold, quic_hold), by socket, in the order they came. */
  private readonly heldHellos = new Map<SockId, HeldHello>();
  /** QUIC connections (socket and peer) whose hold was let go (true) or cut (false) lately: a datagram the kernel held meanwhile follows that */
  private readonly quicDecided = new Map<string, boolean>();

  /**
   * A ClientHello of a connection whose TLS busted cannot read, to a
   * provider whose content the policy judges, or one a connect() could not
   * refuse (pkt.bpf.c hello_hold: a proxy's tunnel to a provider this
   * process may not reach): the kernel holds it (and its retries) until its
   * event is decided (act), so nothing of the connection reaches the server
   * before. Its record comes before the hello's.
   * A QUIC connection's datagrams come whole, each as it was held (the
   * hello may take two Initials), to be sent on in that order.
   */
  onHelloHeld(r: PktRecord): void {
    if (r.pktKind === 'quic_held') return this.quicHeld(r);
    this.hold(r.sockId, { quic: false, headers: r.data, seq: r.seq, since: Date.now(), pid: r.task.pid });
  }

  private hold(sock: SockId, h: HeldHello): void {
    if (this.heldHellos.size >= MAX_HELD_HELLOS) {
      const [oldest, o] = this.heldHellos.entries().next().value!;
      this.releaseHello(oldest, o);
    }
    this.heldHellos.set(sock, h);
  }

  private quicHeld(r: PktRecord): void {
    const h = this.heldHellos.get(r.sockId);
    const whole = r.data.length === r.len;
    const peer = quicPeer(r.flow.daddr, r.flow.dport);
    if (h?.quic && h.peer === peer) {
      // (a client's first flight is a few datagrams: past that, what comes is not kept, and it sends them again)
      if (whole && h.datagrams.length < MAX_HELD_DATAGRAMS) h.datagrams.push(r);
      return;
    }
    const decided = this.quicDecided.get(`${r.sockId}|${peer}`);
    if (decided === false) return; // cut: it never goes
    if (decided === true) {
      // held before the kernel learnt the connection was let go
      if (whole) this.sendOn(r);
      return;
    }
    // (a datagram cut by the capture is not kept: the client sends it again, in a probe timeout)
    this.hold(r.sockId, { quic: true, peer, datagrams: whole ? [r] : [], since: Date.now(), pid: r.task.pid });
  }

  /** A hello that makes no event (filtered out by --pid, malformed): no decision will come, so a hold of it goes now. */
  helloUndecided(sock: SockId): void {
    const h = this.heldHellos.get(sock);
    if (h !== undefined) this.releaseHello(sock, h);
  }

  /**
   * Let a held hello go. TCP: its next retry passes, and the server is made
   * to acknowledge so that it comes now. QUIC: what follows passes, and
   * what was held is sent on as it was.
   */
  private releaseHello(sock: SockId, h: HeldHello): void {
    this.heldHellos.delete(sock);
    this.o.kernel.setHelloHold(BigInt(sock), 'released', h.quic);
    this.stats.heldHellos++;
    if (h.quic) {
      this.quicDone(sock, h.peer, true);
      for (const r of h.datagrams) this.sendOn(r);
      return;
    }
    this.moveOn(h.pid, cookieOf(sock), h.headers, h.seq, 'a held ClientHello');
  }

  /** A held hello whose connection was cut: the kernel forgets it (its socket's packets are dropped as blocked). */
  private cutHello(sock: SockId, h: HeldHello): void {
    this.o.kernel.setHelloHold(BigInt(sock), 'gone', h.quic);
    this.stats.heldHellos++;
    if (h.quic) this.quicDone(sock, h.peer, false);
  }

  private quicDone(sock: SockId, peer: string, released: boolean): void {
    if (this.quicDecided.size >= MAX_HELD_HELLOS) this.quicDecided.delete(this.quicDecided.keys().next().value!);
    this.quicDecided.set(`${sock}|${peer}`, released);
  }

  /** A held QUIC datagram, sent on from the client's address and port as it was. */
  private sendOn(r: PktRecord): void {
    const client = addressBytes(r.flow.saddr);
    const server = addressBytes(r.flow.daddr);
    if (!client || !server || client.family !== server.family) return;
    try {
      reinject({ family: client.family, src: client.bytes, srcPort: r.flow.sport, dst: server.bytes, dstPort: r.flow.dport, payload: r.data });
    } catch (e) {
      this.error(`a held QUIC datagram of pid ${r.task.pid} could not be sent on: ${(e as Error).message}`);
    }
  }

  // ---- requests written in parts ---------------------------------------------------

  /**
   * TLS connections whose unfinished request the kernel holds (pkt.bpf.c
   * sock_held), by pid:ssl; `waiting`: the part let go last, until its
   * write returns.
   */
  private readonly heldSocks = new Map<string, HeldSock>();
  /** connections whose writer stalled while held (its send buffer full): not held again until the request is finished */
  private readonly stalledSocks = new Set<string>();

  /**
   * A held write that leaves its request unfinished (a prompt written in
   * pieces) goes now, judged on what it carries, but what its connection
   * sends is held in the packet hook from here until the request is
   * decided whole: nothing of a request later blocked reaches the server,
   * half a secret cut between two writes included. The write that finishes
   * it, allowed, lets the connection's bytes go (the server is made to
   * acknowledge, so that its sender tries them again now); blocked, the
   * socket is destroyed with them. A connection whose socket is not known
   * goes part by part, as before.
   */
  private holdUnfinished(key: string, g: GatedCall): void {
    let held = this.heldSocks.get(key);
    if (!g.unfinished) {
      this.stalledSocks.delete(key);
      if (held) this.releaseSock(key, held);
      return;
    }
    if (this.stalledSocks.has(key)) return;
    if (held && held.bytes + g.len > UNFINISHED_HOLD_BYTES) {
      // more than a send buffer surely takes: held on, the writer would wait for room that never comes
      this.stopHolding(key, held);
      return;
    }
    if (!held) {
      const cookie = this.sslSockets.get(key)?.cookie;
      if (cookie === undefined || !this.o.kernel.setSockHold(cookie, true)) return;
      held = { cookie, since: 0, pid: g.pid, bytes: 0 };
      this.heldSocks.set(key, held);
      this.stats.unfinishedHeld++;
    }
    held.since = Date.now();
    held.bytes += g.len;
    // a part whose write does not return soon, or returns short, waits on a send buffer the hold keeps full
    const h = held;
    h.waiting = g.callId;
    setTimeout(() => {
      if (this.heldSocks.get(key) === h && h.waiting === g.callId) this.stopHolding(key, h);
    }, UNFINISHED_STALL_MS).unref();
  }

  /** A held connection's writer cannot go on while held: it goes, its later parts judged as they are written (until the request is finished). */
  private stopHolding(key: string, h: HeldSock): void {
    if (this.stalledSocks.size >= MAX_HELD_HELLOS) this.stalledSocks.delete(this.stalledSocks.values().next().value!);
    this.stalledSocks.add(key);
    this.releaseSock(key, h);
  }

  /** A gated write returned: a held connection's writer is not stuck on it, unless it wrote less than it was given. */
  onWriteDone(pid: number, ssl: string, callId: string, written: number): void {
    const key = `${pid}:${ssl}`;
    const h = this.heldSocks.get(key);
    if (h?.waiting !== callId) return;
    h.waiting = undefined;
    if (written === 0) this.stopHolding(key, h);
  }

  private releaseSock(key: string, h: HeldSock): void {
    this.heldSocks.delete(key);
    this.o.kernel.setSockHold(h.cookie, false);
    // (no headers yet: nothing was held, or its record is still to come, and onSockHeld moves the sender on)
    if (h.headers !== undefined) this.moveOn(h.pid, h.cookie, h.headers, h.seq!, 'a held TLS connection');
  }

  /**
   * A held TCP sender (its segment dropped by the packet hook, which now
   * lets it pass) sends again now rather than at its probe timer: its
   * socket is pushed from here (kernel/push.ts), or, where that cannot be
   * done, the server is made to acknowledge (a probe from the held
   * segment's HEADERS, kernel/reinject.ts tcpProbe), which costs a round
   * trip to the server. False: neither could be done (said as an error).
   */
  private moveOn(pid: number, cookie: bigint | undefined, headers: Uint8Array, seq: number, what: string): boolean {
    if (this.push === true && cookie !== undefined) {
      const r = pushSender(pid, cookie, headers);
      if (r === true) {
        this.stats.pushed++;
        return true;
      }
      // closed: what it held went some other way (a later write of its own pushed it) or never will
      if (r.gone) return true;
      if (r.refused) this.pushRefused(pid, r.why);
    }
    try {
      sendRaw(tcpProbe(headers, seq), `a probe for ${what}`);
      this.stats.probed++;
      return true;
    } catch (e) {
      this.error(`${what} of pid ${pid} could not be moved on: ${(e as Error).message}`);
      return false;
    }
  }

  /** A push refused for what would refuse every push (no ptrace access): said once. */
  private pushRefused(pid: number, why: string): void {
    if (this.pushFailures.has(why)) return;
    this.pushFailures.add(why);
    this.error(`a held sender of pid ${pid} could not be pushed from here (${why}): held senders are moved on by probing their server, a round trip later`);
  }

  /** The headers of the first segment a held connection sent (pkt.bpf.c sock_held, pkt_held): what names its socket to push, or its probe is made of. */
  onSockHeld(r: PktRecord): void {
    const cookie = BigInt(r.sockId);
    const p = this.pktHolds.get(cookie);
    if (p) {
      // dropped while a hold was ahead: moved on when it goes; dropped before the last went: now, once
      if (p.released !== p.seen) p.headers ??= r.data;
      else if (p.movedOn !== p.released) {
        p.movedOn = p.released;
        this.moveOn(r.task.pid, cookie, r.data, r.seq, 'a held TLS connection');
      }
      if (p.headers === r.data) p.seq = r.seq;
      return;
    }
    for (const h of this.heldSocks.values()) {
      if (h.cookie !== cookie) continue;
      if (h.headers === undefined) {
        h.headers = r.data;
        h.seq = r.seq;
      }
      return;
    }
    if (this.blockedCookie(cookie)) return;
    const count = this.maps.pktHoldsAhead(cookie);
    if (count !== undefined) {
      // held in the packet hook by a write whose record never came (the ring was full): let go undecided, and say so
      const lost: PktHold = { cookie, pid: r.task.pid, seen: count, released: count - 1, bytes: 0, stalled: false, headers: r.data, seq: r.seq };
      this.stats.lostHolds++;
      this.error(`a gated write of pid ${r.task.pid} held in the packet hook was never seen (kernel records lost?): let go undecided`);
      this.letPktGo(lost, count);
      return;
    }
    // let go before this came: its sender's retry is due now (a blocked one's socket is gone)
    this.moveOn(r.task.pid, cookie, r.data, r.seq, 'a held TLS connection');
  }

  private blockedCookie(cookie: bigint): boolean {
    for (const [key, id] of this.sslSockets) if (id.cookie === cookie) return this.blockedTls.has(key);
    return false;
  }

  // ---- gated writes -------------------------------------------------------------------

  /** A TLS connection this run blocked (its verdict must stay `block`). */
  tlsBlocked(pid: number, ssl: string): boolean {
    return this.blockedTls.has(`${pid}:${ssl}`);
  }

  /** A held write's events are all decided: let its process go, once nothing else of it is pending. */
  onGatedCall(g: GatedCall): void {
    this.stats.gated++;
    if (g.pktHeld !== undefined) {
      this.onPacketHeld(g, g.pktHeld.sock, g.pktHeld.n);
      return;
    }
    if (this.heldSince.size >= MAX_HELD_TIMED) this.heldSince.delete(this.heldSince.keys().next().value!);
    this.heldSince.set(`${g.pid}:${g.callId}`, g.at);
    const key = `${g.pid}:${g.ssl}`;
    // a write on a connection blocked earlier: whatever it says, it does not leave
    if (this.blockedTls.has(key)) {
      this.blockTls(g.pid, g.ssl);
      this.heldSocks.delete(key); // (its socket is gone: nothing to let go)
    } else {
      this.holdUnfinished(key, g);
    }
    this.heldBy(g.pid, g.callId, g.tid);
    this.release(g.pid);
  }

  /**
   * Writes held in the packet hook (tls.bpf.c hold_in_packets: every
   * process's that can be where held senders can be pushed from here, or
   * with --hold-writes packets; else a terminal's processes, whose stop
   * their shell would take for the job's), by socket cookie: the highest
   * hold number seen, the number let go, and the first dropped segment's
   * headers, which name the socket to push (or make the server's probe).
   */
  private readonly pktHolds = new Map<bigint, PktHold>();

  /**
   * A gated write held in the packet hook: its thread went on, and what its
   * socket sends is dropped from that write until the engine lets its hold
   * number go. Blocked, the socket is destroyed with the request in it.
   * Allowed, it goes, unless its request is unfinished (a prompt written in
   * parts): then it is held on until the write that finishes the request
   * is decided, as a request let go in parts is, and goes part by part
   * when the writer could not go on (48 KiB held, or no next part within
   * 100 ms: its send buffer may be full).
   */
  private onPacketHeld(g: GatedCall, sock: bigint, n: number): void {
    this.stats.packetHeld++;
    const key = `${g.pid}:${g.ssl}`;
    let h = this.pktHolds.get(sock);
    if (!h) {
      if (this.pktHolds.size >= MAX_HELD_HELLOS) this.pktHolds.delete(this.pktHolds.keys().next().value!);
      h = { cookie: sock, pid: g.pid, seen: n, released: n - 1, bytes: 0, stalled: false };
      this.pktHolds.set(sock, h);
    }
    if (n - h.seen > 0) h.seen = n;
    clearTimeout(h.timer);
    if (this.blockedTls.has(key)) {
      this.blockTls(g.pid, g.ssl);
      // its socket unknown here: its packets are dropped as blocked, and the first one names it (onEnforce)
      if (!this.sslSockets.has(key)) this.maps.blockSocket(sock);
      this.pktHolds.delete(sock);
      // (its packets are dropped as blocked from here: no hold to count)
      this.maps.forgetPktHolds(sock);
      return;
    }
    h.bytes += g.len;
    if (g.unfinished && !h.stalled && h.bytes <= UNFINISHED_HOLD_BYTES) {
      const held = h;
      h.timer = setTimeout(() => this.letPktGo(held, held.seen, true), UNFINISHED_STALL_MS);
      h.timer.unref();
      return;
    }
    if (!g.unfinished) {
      h.stalled = false;
      h.bytes = 0;
    }
    this.letPktGo(h, n, g.unfinished);
  }

  /** The held writes of a socket go, up to hold number N; STALLED: the rest of its request goes part by part. */
  private letPktGo(h: PktHold, n: number, stalled = false): void {
    clearTimeout(h.timer);
    if (stalled) h.stalled = true;
    if (n - h.released <= 0) return;
    h.released = n;
    if (!this.maps.releasePktHolds(h.cookie, n)) {
      this.error(`the held writes of pid ${h.pid} could not be let go (socket ${h.cookie})`);
      return;
    }
    this.stats.packetReleased++;
    if (h.headers && h.released === h.seen) {
      const { headers, seq } = h;
      h.headers = undefined;
      h.movedOn = n;
      this.moveOn(h.pid, h.cookie, headers, seq!, 'a held TLS write');
    }
  }

  /** Thread TID of PID is held for CALL_ID (a gated write, a stdio read, an exec), decided or being decided: release() lets it go. */
  private heldBy(pid: number, callId: string, tid: number): void {
    let calls = this.gated.get(pid);
    if (!calls) this.gated.set(pid, (calls = new Map()));
    calls.set(callId, tid);
  }

  /**
   * Let a held process go. SIGCONT ends the stop of every thread of it,
   * so before that:
   * - every thread of it held at a gated write must have been decided. The
   *   kernel writes a hold's records, then records the hold (the `held`
   *   map), then sends the stop: with nothing in the ring after the record
   *   being handled, every hold recorded so far is one the engine has
   *   decided; else the ring is drained and the held map read;
   * - each held thread's stop must have been sent (it is stopped, or the
   *   SIGSTOP is pending, which SIGCONT discards): a SIGCONT before it
   *   would leave the stop still to come.
   * The other threads need not have stopped yet: SIGCONT ends a group stop
   * under way as well. (Waiting for all of them to stop cost about 0.4 ms
   * of the gate's 2 ms on a node client with a dozen threads.)
   *
   * The usual case is done at once, inside the record's handling (the
   * events' sinks run after it: pipeline.ts); reading the held map, whose
   * every key read scans its 16384 buckets, is left to the rest.
   */
  private release(pid: number): void {
    if (this.releasing.has(pid)) return;
    const calls = this.gated.get(pid);
    if (calls !== undefined && this.o.kernelCaughtUp()) {
      const held = [...calls].map(([callId, tid]) => ({ tid, callId }));
      if (this.stopsSent(pid, held)) {
        this.letGo(pid, held);
        return;
      }
    }
    void this.releaseLater(pid, this.heldOf(pid));
  }

  /**
   * Each thread's stop was sent: the kernel said so when it recorded the
   * hold (stats.stopsQueued counts these), or the thread's /proc stat says
   * so (a kernel that sent the signal later).
   */
  private stopsSent(pid: number, held: ReadonlyArray<{ tid: number; callId: string }>): boolean {
    let queued = 0;
    for (const h of held) {
      if (this.maps.stopQueued(h.tid, h.callId)) queued++;
      else if (!stopSent(pid, h.tid)) return false;
    }
    this.stats.stopsQueued += queued;
    return true;
  }

  private async releaseLater(pid: number, held: HeldThread[]): Promise<void> {
    this.releasing.add(pid);
    try {
      if (this.undecided(pid, held)) {
        await this.o.kernelIdle();
        held = this.heldOf(pid);
      }
      await waitSignalled(
        pid,
        held.filter((h) => !h.stopQueued).map((h) => h.tid),
        50,
      );
      this.letGo(pid, held);
    } finally {
      this.releasing.delete(pid);
      if (this.gated.has(pid)) this.release(pid); // more came meanwhile
    }
  }

  private heldOf(pid: number): HeldThread[] {
    return this.maps.heldThreads().filter((h) => h.pid === pid);
  }

  /** A thread of PID is held at a write not decided yet (its record still in the ring). */
  private undecided(pid: number, held: HeldThread[]): boolean {
    const calls = this.gated.get(pid);
    return held.some((h) => !calls?.has(h.callId));
  }

  private letGo(pid: number, held: Array<Pick<HeldThread, 'tid' | 'callId'>>): void {
    const calls = this.gated.get(pid);
    this.gated.delete(pid);
    try {
      for (const h of held) if (calls?.has(h.callId) || this.stopped) this.maps.releaseHeld(h.tid);
      process.kill(pid, 'SIGCONT');
      this.stats.released++;
      this.timeHolds(pid, held);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ESRCH') this.error(`letting pid ${pid} go: ${(e as Error).message}`);
    }
  }

  /** gated writes waiting to be let go: when the kernel stopped each (`pid:callId` → CLOCK_MONOTONIC ns) */
  private readonly heldSince = new Map<string, number>();
  /** how long the last gated writes were held, kernel stop to SIGCONT (ns) */
  private readonly heldFor = new Recent(MAX_HELD_TIMED);

  private timeHolds(pid: number, held: ReadonlyArray<Pick<HeldThread, 'callId'>>): void {
    const now = Number(this.o.monoNs());
    for (const h of held) {
      const key = `${pid}:${h.callId}`;
      const at = this.heldSince.get(key);
      if (at === undefined) continue;
      this.heldSince.delete(key);
      this.heldFor.add(now - at);
    }
  }

  /** How long gated writes were held (kernel stop to SIGCONT), over the last MAX_HELD_TIMED: p50 and p99 in ms; undefined before any. */
  heldTimes(): { p50: number; p99: number; n: number } | undefined {
    const q = this.heldFor.quantiles([0.5, 0.99]);
    return q && { p50: q[0]! / 1e6, p99: q[1]! / 1e6, n: this.heldFor.size };
  }

  /** Held threads whose record never came (the ring was full): let go, and say so. */
  private watchHeld(): void {
    const now = Number(this.o.monoNs());
    for (const h of this.maps.heldThreads()) {
      if (now - h.sinceNs < HELD_LOST_MS * 1e6 || this.gated.get(h.pid)?.has(h.callId) || this.releasing.has(h.pid)) continue;
      this.maps.releaseHeld(h.tid);
      this.stats.lostHolds++;
      this.error(`a gated write of pid ${h.pid} was never seen (kernel records lost?): let go undecided after ${HELD_LOST_MS} ms`);
      try {
        process.kill(h.pid, 'SIGCONT');
      } catch {
        // gone
      }
    }
  }

  /** Stop holding anything; let every held process go. The maps go with the session (unless pinned). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearInterval(this.timer);
    // nothing is held after this: the guard has nothing to do (closing its pipe ends it)
    this.guard?.stdin?.end();
    try {
      this.stats.standingImages = this.maps.imageVerdictCount();
      this.maps.setConfig({ enforce: true, gate: false, perImage: false, holdNames: false, holdExec: false, gateClasses: 0n, heartbeatNs: 0n });
      // held hellos go on (a QUIC one's datagrams are sent on: its client would wait a probe timeout), as do held connections
      for (const [sock, h] of this.heldHellos) this.releaseHello(sock, h);
      for (const [key, h] of this.heldSocks) this.releaseSock(key, h);
      for (const h of this.pktHolds.values()) this.letPktGo(h, h.seen);
      for (const h of this.maps.heldThreads()) {
        this.maps.releaseHeld(h.tid);
        try {
          process.kill(h.pid, 'SIGCONT');
        } catch {
          // gone
        }
      }
    } catch (e) {
      this.error(`stopping enforcement: ${(e as Error).message}`);
    }
  }

  private error(message: string): void {
    this.o.report({ id: `enf-${++errSeq}`, time: this.o.now(), type: 'error', error: { code: ErrorCode.POLICY, message, field: 'enforce' } });
  }
}

let errSeq = 0;

/** A socket's cookie, where its id is one (a raw_tp build names sockets otherwise). */
function cookieOf(sock: SockId): bigint | undefined {
  return typeof sock === 'number' ? BigInt(sock) : undefined;
}

/**
 * A stdio message as its writer's and its reader's view both name it: the
 * reading end and a request's id; a notification (no id) by its method and
 * the strings of its params, which both ends read out of the same line.
 */
function stdioKey(m: McpInfo, peer: string): string {
  return m.id !== undefined ? `${peer}:${m.id}` : `${peer}:n:${m.method ?? ''}:${m.context ?? ''}`;
}

function addressText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  const w: string[] = [];
  for (let i = 0; i < 16; i += 2) w.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  return w.join(':');
}

/**
 * Until each of TIDS (threads of PID) is stopped or has a SIGSTOP pending,
 * or has exited; at most MS. The other threads are not waited for: one
 * that is inside a gated write's uprobe when the process is let go records
 * its hold and sends its stop after the SIGCONT, so it stops again, and its
 * write is decided like any other.
 */
async function waitSignalled(pid: number, tids: number[], ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  let left = tids;
  for (;;) {
    left = left.filter((tid) => !stopSent(pid, tid));
    if (left.length === 0 || Date.now() >= deadline) return;
    // the stop is sent microseconds after the hold is recorded: look again at once for the
    // first millisecond (a timer would add one at least), then back off
    await new Promise((r) => (deadline - Date.now() > ms - 1 ? setImmediate(r) : setTimeout(r, 1)));
  }
}

const SIGSTOP_BIT = 1 << 18; // signal 19

/**
 * The thread is stopped, or a SIGSTOP is pending for it (the kernel's hold
 * sends it to the thread: bpf_send_signal_thread). /proc/PID/task/TID/stat
 * (proc(5)): the state is the field after the name, the thread's pending
 * signals the 29th after it (the first 31 signals, in decimal); a fifth of
 * what reading its status costs.
 */
export function stopSent(pid: number, tid: number): boolean {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'latin1');
  } catch {
    return true; // exited: nothing of it to wait for
  }
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ', 29);
  if (f[0] === 'T' || f[0] === 't') return true;
  return (Number(f[28]) & SIGSTOP_BIT) !== 0;
}

/** A cgroup directory's id (its inode number), for processes that predate the agent. */
export function cgroupIdOf(mount: string, name: string): number | undefined {
  try {
    return Number(statSync(join(mount, name), { bigint: true }).ino);
  } catch {
    return undefined;
  }
}
