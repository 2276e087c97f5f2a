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
 *   6. decide      policy (+ the classifier's `ml`) → decision events (`busted enforce`)
 *   7. sinks/      stdout (text/json), --record, --output
 *
 * This file wires them together for `busted monitor`; it holds no logic
 * of its own beyond the lifecycle.
 */
import { readFileSync } from 'node:fs';
import type { BustedEvent } from './model/event.js';
import { KernelSession, type Attachment, type KernelStats } from './kernel/loader.js';
import { TLS_CAPTURE_BYTES } from './model/defaults.js';
import type { CgroupRef } from './host/cgroup.js';
import { cgroup2Mount } from './host/cgroup.js';
import { decodeRecord } from './decode/records.js';
import { ProcessCache } from './enrich/process.js';
import { parseProcCgroup } from './enrich/container.js';
import { DnsCache, parseHostsFile } from './enrich/dns-cache.js';
import { ProviderTable } from './enrich/provider.js';
import { TlsLibraryFinder, type TlsLibrary } from './host/tls-libs.js';
import { Interpreter, type InterpreterStats } from './interpret/interpreter.js';
import type { Sink } from './sinks/sink.js';

export interface AgentOptions {
  cgroup: CgroupRef;
  sinks: Sink[];
  pid?: number;
  ringBytes?: number;
  serverSide?: boolean;
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
  /** stop copying TLS connections that are not AI traffic (default true) */
  tlsSkip?: boolean;
  /** told of each TLS library the probes were put on after the start (a new process's) */
  onTlsLibrary?: (lib: TlsLibrary, attached: Attachment[]) => void;
  /** how often every process is rescanned for TLS libraries, ms (default 30 s; exec events cover new processes between) */
  tlsRescanMs?: number;
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

/** When a new process is looked at again for TLS libraries, after the look at its exec: it may load libssl later (python on import). */
const EXEC_LOOKS_AGAIN_MS = [100, 1000];
const MAX_PENDING_LOOKS = 1024;

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

  private constructor(private readonly o: AgentOptions) {
    this.processes = new ProcessCache({ cgroupRoot: cgroup2Mount(), redact: o.noRedact !== true });
    this.dns = new DnsCache();
    try {
      for (const h of parseHostsFile(readFileSync('/etc/hosts', 'utf8'))) for (const n of h.names) this.dns.addStatic(n, h.ip);
    } catch {
      // no /etc/hosts: nothing static to learn
    }
    const sinks = o.sinks;
    const capBytes = o.tlsCaptureBytes ?? TLS_CAPTURE_BYTES;
    const onEvent = o.onEvent;
    const annotate = o.annotate ?? [];
    this.interpreter = new Interpreter(
      {
        processes: this.processes,
        dns: this.dns,
        providers: new ProviderTable(),
        pid: o.pid,
        tlsCapBytes: capBytes,
        noRedact: o.noRedact,
        onTlsSkip: o.tlsSkip === false ? undefined : (pid, ssl) => this.kernel?.setTlsVerdict(pid, ssl, 'skip'),
        onExec: (pid) => this.tlsLook(pid),
      },
      (e) => {
        for (const a of annotate) a(e);
        onEvent?.(e);
        for (const s of sinks) s.write(e);
      },
    );
    // TLS libraries: the system's, then whatever running processes map
    this.tlsFinder = o.tls === false ? undefined : new TlsLibraryFinder({ binaries: o.tlsBinaries ?? [process.execPath], inScope: cgroupScope(o.cgroup) });
    const tlsTargets = this.tlsFinder ? [...this.tlsFinder.system(), ...this.tlsFinder.scanAll()] : [];
    // Kernel last: nothing is attached until everything above is ready.
    this.kernel = KernelSession.open({
      cgroup: o.cgroup,
      ringBytes: o.ringBytes ?? 16 << 20,
      selfTgid: process.pid,
      serverSide: o.serverSide ?? true,
      hooks: o.hooks ?? 'auto',
      tls: o.tls === false ? undefined : { targets: tlsTargets, capBytes },
    });
    const interp = this.interpreter;
    this.kernel.consume((dv, off, len) => interp.handle(decodeRecord(dv, off, len)));
    this.timer = setInterval(() => this.tick(), o.statsIntervalMs ?? 1000);
    this.timer.unref();
    if (this.tlsFinder) {
      this.rescanTimer = setInterval(() => this.tlsAttach(this.tlsFinder!.scanAll()), o.tlsRescanMs ?? 30_000);
      this.rescanTimer.unref();
    }
  }

  private readonly tlsFinder: TlsLibraryFinder | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private readonly looks = new Set<NodeJS.Timeout>();

  /** The TLS libraries files in use by TLS probes now. */
  get tlsLibraries(): TlsLibrary[] {
    return this.tlsFinder?.libraries ?? [];
  }

  /** A process executed: look at its executable now, and at its mappings again shortly (libssl comes with the first import). */
  private tlsLook(pid: number): void {
    const finder = this.tlsFinder;
    if (!finder || this.stopped) return;
    this.tlsAttach(finder.scanPid(pid));
    for (const ms of EXEC_LOOKS_AGAIN_MS) {
      if (this.looks.size >= MAX_PENDING_LOOKS) return; // an exec storm: the periodic rescan catches up
      const t = setTimeout(() => {
        this.looks.delete(t);
        if (!this.stopped) this.tlsAttach(finder.scanPid(pid));
      }, ms);
      t.unref();
      this.looks.add(t);
    }
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

  get attachments(): KernelSession['attachments'] {
    return this.kernel.attachments;
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
      for (const t of this.looks) clearTimeout(t);
      this.looks.clear();
      // Records already in the ring are still delivered.
      await this.kernelIdle();
      this.tick();
      this.interpreter.flush(Infinity);
      const kernel = this.kernel.stats();
      this.kernel.dispose();
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
