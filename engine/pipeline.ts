/**
 * The stages, in the order data flows through them:
 *
 *   1. kernel/     BPF programs → ring buffer (loader.ts, libbpf.ts, ring.ts)
 *   2. decode/     ring buffer bytes → typed kernel records (records.ts)
 *   3. enrich/     process, container, DNS names, provider (used by 4)
 *   4. interpret/  kernel records → the contract's events (interpreter.ts)
 *   5. ml/         the behavioural classifier, an annotate stage: flow events →
 *                  feature vectors → ONNX scores (batched, off the ring's path)
 *                  → `ml` on the connection's and process's later events
 *   6. decide/     policy (+ the classifier's `ml`) → a decision on every event
 *   7. enforce/    decisions → BPF maps, destroyed sockets, held writes let go
 *   8. sinks/      stdout (text/json), --record, --output
 *
 * This file wires them together for `busted monitor` and `busted enforce`;
 * it holds no logic of its own beyond the lifecycle.
 */
import { readdirSync, readFileSync } from 'node:fs';
import type { BustedEvent, ProcessInfo } from './model/event.js';
import { KernelSession, type Attachment, type KernelStats } from './kernel/loader.js';
import { TLS_CAPTURE_BYTES } from './model/defaults.js';
import type { CgroupRef } from './host/cgroup.js';
import { cgroup2Mount } from './host/cgroup.js';
import { decodeRecord, type TaskRecord } from './decode/records.js';
import { ProcessCache } from './enrich/process.js';
import { parseProcCgroup } from './enrich/container.js';
import { DnsCache, parseHostsFile } from './enrich/dns-cache.js';
import { ProviderTable } from './enrich/provider.js';
import { TlsLooks } from './host/tls-looks.js';
import { TlsLibraryFinder, type TlsLibrary, type TlsLibraryKind } from './host/tls-libs.js';
import { listeningSockets, socketHolders } from './host/listeners.js';
import { Interpreter, type EventOrigin, type InterpreterStats } from './interpret/interpreter.js';
import type { Sink } from './sinks/sink.js';
import { decisionEvent, type Decider, type Decision } from './decide/decider.js';
import { cgroupIdOf, Enforcer, readsExeHash } from './enforce/enforcer.js';
import type { HoldWrites } from './kernel/enforce-maps.js';
import { ExeHasher } from './host/exe-hash.js';
import { Clock } from './interpret/clock.js';
import { redactEvent } from './redact.js';
import { shownContext } from './interpret/llm.js';
import { BustedError } from './model/errors.js';

export interface AgentOptions {
  cgroup: CgroupRef;
  sinks: Sink[];
  pid?: number;
  ringBytes?: number;
  serverSide?: boolean;
  /** read plain-text HTTP connections from their packets (pkt.bpf.c plain_socks); default true */
  plainHttp?: boolean;
  /** read MCP over stdio (bpf/stdio.bpf.c: a syscall entry hook every system call pays for); default false */
  mcpStdio?: boolean;
  /** hash every process's executable (process.exe_sha256); also on when the policy reads it */
  exeHash?: boolean;
  /** how often kernel-side counters are read (and losses reported), ms */
  statsIntervalMs?: number;
  /** which flavour of tracing hooks (default: the best that loads) */
  hooks?: 'auto' | 'raw_tp';
  /** keep credentials in what is reported (--no-redact) */
  noRedact?: boolean;
  /**
   * Stages that add to an event before it is decided on and reported (the
   * classifier's `ml`, ...), in order; each may change the event in place.
   */
  annotate?: Array<(e: BustedEvent) => void>;
  /** a hook for later stages (decide): sees every event, after annotate, before the sinks */
  onEvent?: (e: BustedEvent) => void;
  /** TLS plaintext capture (uprobes): off with false; default on */
  tls?: boolean;
  /** bytes of plaintext copied per SSL_read/SSL_write call (default 16 KiB, at most 64 KiB) */
  tlsCaptureBytes?: number;
  /** further binaries with OpenSSL inside to probe (default: this node) */
  tlsBinaries?: string[];
  /** the TLS library families to probe (default: every supported one) */
  tlsKinds?: readonly TlsLibraryKind[];
  /** stop copying TLS connections that are not AI traffic (default true) */
  tlsSkip?: boolean;
  /** told of each TLS library the probes were put on after the start (a new process's) */
  onTlsLibrary?: (lib: TlsLibrary, attached: Attachment[]) => void;
  /** how often every process is rescanned for TLS libraries, ms (default 30 s; exec events cover new processes between) */
  tlsRescanMs?: number;
  /** busted enforce: decide every event, and (unless dryRun) enforce */
  policy?: PolicyStageOptions;
  /** keep enforcement attached after the agent stops, in this bpffs directory (--pin) */
  pinDir?: string;
}

export interface PolicyStageOptions {
  decider: Decider;
  /** decide and report; attach nothing that blocks */
  dryRun: boolean;
  /** an event the policy cannot decide (an evaluation error) is blocked rather than audited */
  failClosed: boolean;
  /** report allow decisions too (--format json) */
  reportAllow: boolean;
  /** hold gated TLS writes until decided (default true) */
  gate?: boolean;
  /** how (--hold-writes; default auto) */
  holdWrites?: HoldWrites;
}

/** A program, for TlsLooks: its executable's path in its cgroup. */
function programOf(p: ProcessInfo): string | undefined {
  return p.exe === undefined ? undefined : `${p.cgroup_id ?? 0} ${p.exe}`;
}

/** Is a pid in the cgroup subtree? (undefined for the root: everything is) */
function cgroupScope(cg: CgroupRef): ((pid: number) => boolean) | undefined {
  if (cg.level === 0) return undefined;
  return (pid) => {
    try {
      const name = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8')) ?? '';
      return name === cg.name || name.startsWith(`${cg.name}/`);
    } catch {
      return false;
    }
  };
}


export interface AgentSummary {
  kernel: KernelStats;
  interpreter: InterpreterStats;
  sinks: Array<{ name: string; dropped: number }>;
  attachments: KernelSession['attachments'];
}

export class Agent {
  readonly processes: ProcessCache;
  readonly dns: DnsCache;
  readonly interpreter: Interpreter;
  private readonly kernel: KernelSession;
  private readonly timer: NodeJS.Timeout;
  private lastLost = 0;
  private stopped: Promise<AgentSummary> | undefined;

  private readonly clock = new Clock();
  private readonly enforcer: Enforcer | undefined;

  private constructor(private readonly o: AgentOptions) {
    this.hasher = new ExeHasher();
    this.processes = new ProcessCache({ cgroupRoot: cgroup2Mount(), redact: o.noRedact !== true, hasher: this.hasher });
    this.processes.hashExe = this.wantsExeHashes();
    this.processes.onExeHashed = (pid, sha256) => this.enforcer?.onExeHashed(pid, sha256, this.processes.get(pid).exeKey);
    if (this.processes.hashExe) this.hasher.warm();
    this.dns = new DnsCache();
    let hosts: Array<{ ip: string; names: string[] }> = [];
    try {
      hosts = parseHostsFile(readFileSync('/etc/hosts', 'utf8'));
      for (const h of hosts) for (const n of h.names) this.dns.addStatic(n, h.ip);
    } catch {
      // no /etc/hosts: nothing static to learn
    }
    const sinks = o.sinks;
    const capBytes = o.tlsCaptureBytes ?? TLS_CAPTURE_BYTES;
    const onEvent = o.onEvent;
    const annotate = o.annotate ?? [];
    const policy = o.policy;
    // With a policy, the interpreter keeps text whole (a policy may look for
    // secrets in a prompt); credentials go after the decision, before the sinks.
    const redactLate = policy !== undefined && o.noRedact !== true;
    const providers = new ProviderTable();
    this.interpreter = new Interpreter(
      {
        processes: this.processes,
        dns: this.dns,
        providers,
        clock: this.clock,
        pid: o.pid,
        tlsCapBytes: capBytes,
        noRedact: o.noRedact === true || redactLate,
        // a connection that is not AI traffic: no longer copied, or (--tls-capture-all)
        // still copied; either way no longer held when enforcement gates unknown connections
        // (an HTTP/2 client's connection is watched instead: its writes still copied, not its reads)
        onTlsSkip: (pid, ssl, watch, reads) =>
          o.tlsSkip !== false
            ? !this.enforcer?.tlsBlocked(pid, ssl) && this.kernel?.setTlsVerdict(pid, ssl, watch === undefined ? 'skip' : watch === 'server' ? 'skip-server' : { watch, reads })
            : policy && !policy.dryRun && this.kernel?.setTlsVerdict(pid, ssl, 'capture'),
        onWatchReadsOff: (pid, ssl, callId) => this.kernel?.clearWatchReads(pid, ssl, callId),
        // a gated HTTP/2 connection: held only at its writes with a header block or a body (not a blocked one)
        onTlsGatedH2: (pid, ssl, at) => !this.enforcer?.tlsBlocked(pid, ssl) && this.kernel?.setTlsVerdict(pid, ssl, { watch: at, gated: true }),
        // the same for a plain-text HTTP connection: the packet hook stops copying it
        // (or, with --tls-capture-all, still copied but no longer held)
        onPlainSkip: (sockId, released, requestsOut) => this.kernel?.setPlainVerdict(BigInt(sockId), o.tlsSkip !== false ? 'skip' : 'capture', released, requestsOut),
        skippedStillCopied: o.tlsSkip === false,
        onPlainHold: (h, release, skipped) => this.enforcer?.plainHold(h, release, skipped),
        onExec: (pid, image, proc) => {
          this.tlsLooks?.onExec(pid, programOf(proc), proc.exe);
          this.enforcer?.onExec(pid, image, proc);
        },
        onExecHold: (r, phase) => this.enforcer?.onExecHold(r, phase),
        onUnreadTls: (pid) => this.tlsLooks?.onUnreadTls(pid),
        onEnforce: (r) => this.enforcer?.onEnforce(r),
        onGatedCall: (g) => this.enforcer?.onGatedCall(g),
        onHeldDns: (r) => this.enforcer?.onHeldDns(r),
        onStdioRead: (r, messages) => this.enforcer?.onStdioRead(r, messages),
        onHelloHeld: (r) => this.enforcer?.onHelloHeld(r),
        onSockHeld: (r) => this.enforcer?.onSockHeld(r),
        onWriteDone: (pid, ssl, callId, written) => this.enforcer?.onWriteDone(pid, ssl, callId, written),
        onHelloUndecided: (sock) => this.enforcer?.helloUndecided(sock),
      },
      (e, origin) => {
        // a request judged on a part of it (app.ts judgePart): told only when that blocks it, its whole
        // is decided and told when it completes
        const partial = e.llm?.partial === true;
        if (!partial) {
          for (const a of annotate) a(e);
          onEvent?.(e);
        }
        const decision = policy ? this.decide(e, origin, policy) : undefined;
        if (partial) {
          if (decision?.decision?.action !== 'block') return;
          onEvent?.(e);
        }
        // redacted and cut for showing on the way to the sinks (after a held write is let go)
        this.toSinks(e, redactLate ? 'redact' : 'shape');
        if (decision) this.toSinks(decision);
      },
    );
    // TLS libraries: the system's, then whatever running processes map
    // the processes in scope (undefined: all), for what is read of them from /proc
    const scope = cgroupScope(o.cgroup);
    this.tlsFinder = o.tls === false ? undefined : new TlsLibraryFinder({ binaries: o.tlsBinaries ?? [process.execPath], inScope: scope, kinds: o.tlsKinds });
    const finder = this.tlsFinder;
    this.tlsLooks = finder
      ? new TlsLooks({
          finder,
          attach: (libs) => this.tlsAttach(libs),
          exited: (pid) => this.processes.exited(pid),
          programOf: (pid) => {
            const e = this.processes.get(pid);
            return programOf({ pid, exe: e.exe, cgroup_id: e.cgroupId });
          },
        })
      : undefined;
    const tlsTargets = this.tlsFinder ? [...this.tlsFinder.system(), ...this.tlsFinder.scanAll()] : [];
    // Kernel last: nothing is attached until everything above is ready.
    this.kernel = KernelSession.open({
      cgroup: o.cgroup,
      ringBytes: o.ringBytes ?? 16 << 20,
      selfTgid: process.pid,
      serverSide: o.serverSide ?? true,
      plainHttp: o.plainHttp !== false,
      mcpStdio: o.mcpStdio === true,
      hooks: o.hooks ?? 'auto',
      tls: o.tls === false ? undefined : { targets: tlsTargets, capBytes },
      enforce: policy !== undefined && !policy.dryRun,
      pinDir: o.pinDir,
    });
    // servers started before the agent: the connections they accept are credited to them
    this.learnListeners(scope);
    if (policy && !policy.dryRun) {
      this.enforcer = new Enforcer({
        kernel: this.kernel,
        providers,
        decider: policy.decider,
        hosts,
        scan: () => this.scanProcesses(scope),
        connection: (id) => this.interpreter.connection(id),
        kernelIdle: () => this.kernel.idle(),
        kernelCaughtUp: () => this.kernel.caughtUp(),
        gate: policy.gate !== false,
        ...(policy.holdWrites ? { holdWrites: policy.holdWrites } : {}),
        report: (e) => this.report(e),
        now: () => this.clock.nowRfc3339(),
        monoNs: () => BigInt(this.clock.monotonicNs()),
      });
      try {
        this.enforcer.start();
      } catch (e) {
        this.kernel.dispose();
        throw e;
      }
    }
    const interp = this.interpreter;
    if (this.enforcer !== undefined && policy?.gate !== false) {
      this.kernel.consume((dv, off, len) => {
        // the events of the records drained together reach the sinks once all of them are
        // handled (a microtask runs when the drain returns): a held write among them is let go first
        if (!this.deferring) {
          this.deferring = true;
          queueMicrotask(this.endBatch);
        }
        interp.handle(decodeRecord(dv, off, len));
        // a long drain (a busy host) is written as it goes: events kept for a whole batch of
        // thousands of records outlive the young generation, and the old one's collections
        // cost the agent several times its work (enforce connect1: 0.2 -> 0.7-1 cores)
        if (this.deferred.length >= DEFER_MAX) this.flushSinks();
      });
    } else {
      // nothing is held: straight through
      this.kernel.consume((dv, off, len) => interp.handle(decodeRecord(dv, off, len)));
    }
    this.timer = setInterval(() => this.tick(), o.statsIntervalMs ?? 1000);
    this.timer.unref();
    if (this.tlsFinder) {
      this.rescanTimer = setInterval(() => this.tlsAttach(this.tlsFinder!.scanAll()), o.tlsRescanMs ?? 30_000);
      this.rescanTimer.unref();
    }
  }

  private readonly tlsFinder: TlsLibraryFinder | undefined;

  private rescanTimer: NodeJS.Timeout | undefined;
  /** when processes are looked at for TLS libraries besides the rescans (tls-looks.ts) */
  private readonly tlsLooks: TlsLooks | undefined;

  /** The TLS libraries files in use by TLS probes now. */
  get tlsLibraries(): TlsLibrary[] {
    return this.tlsFinder?.libraries ?? [];
  }

  private tlsAttach(libs: TlsLibrary[]): void {
    for (const lib of libs) {
      const made = this.kernel.attachTls(lib);
      this.o.onTlsLibrary?.(lib, made);
    }
  }

  static start(o: AgentOptions): Agent {
    return new Agent(o);
  }

  /** Processes in the scope now (they predate the agent: the kernel saw no exec of them). */
  private scanProcesses(inScope: ((pid: number) => boolean) | undefined): Array<{ pid: number; process: ProcessInfo }> {
    const out: Array<{ pid: number; process: ProcessInfo }> = [];
    for (const name of readdirSync('/proc')) {
      const pid = Number(name);
      if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || (inScope && !inScope(pid))) continue;
      const task = this.taskOf(pid);
      if (task) out.push({ pid, process: this.processes.info(task) });
    }
    return out;
  }

  /** A process the kernel saw no exec of, as a task record from /proc; undefined when it is gone. */
  private taskOf(pid: number): TaskRecord | undefined {
    const e = this.processes.get(pid);
    if (e.uid === undefined) return undefined;
    const cgroupId = e.cgroupPath ? cgroupIdOf(this.cgroupMount, e.cgroupPath) : undefined;
    return { pid, tid: pid, ppid: e.ppid ?? 0, uid: e.uid, gid: e.gid ?? 0, flags: 1, comm: e.comm ?? '', cgroupId: cgroupId ?? 0 };
  }

  private readonly cgroupMount = cgroup2Mount() ?? '/sys/fs/cgroup';

  /**
   * The TCP listeners older than the agent (host/listeners.ts), in scope,
   * told to the kernel (conn.bpf.c learns later ones at listen()), so that
   * an accepted connection names the server that accepted it.
   */
  private learnListeners(inScope: ((pid: number) => boolean) | undefined): void {
    const wanted = (pid: number) => pid !== process.pid && (inScope === undefined || inScope(pid));
    const socks = listeningSockets(wanted);
    const holders = socketHolders(new Set(socks.map((s) => s.inode)), wanted);
    for (const s of socks) {
      const pid = holders.get(s.inode);
      const task = pid === undefined ? undefined : this.taskOf(pid);
      if (task) this.kernel.putListener(s, task);
    }
  }

  /**
   * The decide stage: the policy's decision on an event, acted on by the
   * enforcer, as the `decision` event to report after it (none for an
   * allow, unless every decision is reported).
   */
  private decide(e: BustedEvent, origin: EventOrigin | undefined, p: PolicyStageOptions): BustedEvent | undefined {
    if (e.type === 'decision' || e.type === 'policy') return undefined;
    let d: Decision;
    let enforced = false;
    if (e.type === 'connect_blocked' && origin?.refusal) {
      // the kernel has decided already, from the verdicts the engine wrote
      d = { action: 'block', reasons: this.enforcer?.refusalReasons(e, origin) ?? [], kill: false };
    } else {
      try {
        d = p.decider.decide(e);
      } catch (err) {
        const msg = err instanceof BustedError ? err.message : String(err);
        this.report({ id: `${e.id}-err`, time: e.time, type: 'error', error: { code: 'BUSTED_E_POLICY', message: `no decision on ${e.id}: ${msg}`, field: 'policy' } });
        d = { action: p.failClosed ? 'block' : 'audit', reasons: [`the policy could not decide: ${msg}`], kill: false };
      }
    }
    if (this.enforcer) enforced = this.enforcer.act(e, d, origin);
    if (d.action === 'allow' && !p.reportAllow) return undefined;
    return decisionEvent(`${e.id}-d`, this.clock.nowRfc3339(), e, d, enforced, p.decider.revision);
  }

  /** An event of the agent's own (policy loads, errors): to the sinks, after what came before it. */
  report(e: BustedEvent): void {
    this.toSinks(e);
  }

  /**
   * While the kernel records drained together are handled (when writes are
   * gated), their events wait here, in order, and go to the sinks once all
   * of them are. Serialising and writing them (a quarter of a gated write's
   * handling) then comes after the enforcer has let a held write go, not
   * before: neither its own events' nor those of the records ahead of it
   * in the ring (the answer to the request before it, read by the same
   * client a moment earlier, was half of a gated write's wait).
   */
  private deferring = false;
  private readonly deferred: BustedEvent[] = [];
  /** what is done to each deferred event before it is written (toSinks) */
  private readonly deferredShow: Array<Show | undefined> = [];
  private readonly endBatch = (): void => {
    this.deferring = false;
    if (this.deferred.length) this.flushSinks();
  };

  /**
   * E to the sinks, or to the deferred ones. SHOW: an event of the
   * interpreter's, whose credentials go (`redact`: the interpreter kept its
   * text whole for the policy) and whose contexts are cut to their shown
   * form just before it is written, so that this too comes after a held
   * write is let go.
   */
  private toSinks(e: BustedEvent, show?: Show): void {
    if (this.deferring) {
      this.deferred.push(e);
      this.deferredShow.push(show);
      return;
    }
    if (show) shown(e, show);
    for (const s of this.o.sinks) s.write(e);
  }

  private flushSinks(): void {
    const d = this.deferred;
    const show = this.deferredShow;
    const sinks = this.o.sinks;
    for (let i = 0; i < d.length; i++) {
      const e = d[i]!;
      const how = show[i];
      if (how) shown(e, how);
      for (const s of sinks) s.write(e);
    }
    d.length = 0;
    show.length = 0;
  }

  /** A new policy is in force: every standing verdict is made again. */
  policyChanged(): void {
    this.processes.hashExe = this.wantsExeHashes();
    this.enforcer?.reload();
  }

  /** executables' hashes (process.exe_sha256) */
  private readonly hasher: ExeHasher;

  /** Executables are hashed: --exe-hash, or a policy in force that reads the hash. */
  private wantsExeHashes(): boolean {
    return this.o.exeHash === true || (this.o.policy !== undefined && readsExeHash(this.o.policy.decider.policy));
  }

  /** how gated TLS writes are held (undefined: not enforcing, or not gating) */
  get holdHow(): string | undefined {
    return this.enforcer?.holdHow;
  }

  get enforcement(): (Enforcer['stats'] & { held?: ReturnType<Enforcer['heldTimes']> }) | undefined {
    return this.enforcer && { ...this.enforcer.stats, held: this.enforcer.heldTimes() };
  }

  get attachments(): KernelSession['attachments'] {
    return this.kernel.attachments;
  }

  /** How the ring buffer's consumer is woken: on the loop, or by a worker thread (KernelSession.ringWake). */
  get ringWake(): KernelSession['ringWake'] {
    return this.kernel.ringWake;
  }

  private tick(): void {
    this.interpreter.flush();
    const st = this.kernel.stats();
    if (st.ringbufFull > this.lastLost) {
      this.interpreter.lost(st.ringbufFull - this.lastLost, 'ring buffer full');
      this.lastLost = st.ringbufFull;
    }
  }

  /** Drain what the kernel has sent, detach everything, flush the sinks. */
  stop(): Promise<AgentSummary> {
    this.stopped ??= (async () => {
      clearInterval(this.timer);
      clearInterval(this.rescanTimer);
      this.enforcer?.stop();
      this.tlsLooks?.stop();
      // Records already in the ring are still delivered.
      await this.kernelIdle();
      this.tick();
      this.interpreter.flush(Infinity);
      const kernel = this.kernel.stats();
      await this.kernel.close();
      await this.hasher.close();
      await Promise.all(this.o.sinks.map((s) => s.close()));
      return {
        kernel,
        interpreter: { ...this.interpreter.stats },
        sinks: this.o.sinks.map((s) => ({ name: s.name, dropped: s.dropped })),
        attachments: this.kernel.attachments,
      };
    })();
    return this.stopped;
  }

  /** Resolves once every record in the ring so far has been handled. */
  kernelIdle(): Promise<void> {
    return this.kernel.idle();
  }
}

/** Events deferred at most before they are written, mid-drain (Agent.deferred). */
const DEFER_MAX = 64;

/** How an interpreter event is made ready for the sinks (Agent.toSinks). */
type Show = 'redact' | 'shape';

/** E as the sinks show it: its credentials redacted (`redact`), its contexts cut to their shown form. */
function shown(e: BustedEvent, how: Show): void {
  if (how === 'redact') redactEvent(e);
  // after redaction: an end cut through a credential would leave a piece the rules no longer know
  if (e.llm?.context !== undefined) e.llm.context = shownContext(e.llm.context);
  // a part's user_message is its context's text: shown the same way
  if (e.llm?.partial === true) e.llm.user_message = e.llm.context;
  if (e.mcp?.context !== undefined) e.mcp.context = shownContext(e.mcp.context);
}
