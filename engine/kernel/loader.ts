/**
 * The kernel side's lifecycle: validate → open → configure → load → attach
 * → consume → dispose. Each BPF object is one concern (bpf/*.bpf.c); the
 * first one loaded creates the shared maps and the others reuse them.
 *
 * An object that the kernel refuses does not stop the others: the session
 * runs degraded and says what is missing (busted doctor says why). Every
 * link is destroyed and every object closed on every exit path.
 */
import { TLS_CAPTURE_BYTES } from '../model/defaults.js';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BustedError, ErrorCode } from '../model/errors.js';
import { BPF_DIR } from '../paths.js';
import type { CgroupRef } from '../host/cgroup.js';
import { GO_TLS } from '../host/tls-libs.js';
import { BpfLink, BpfObject, BPF_TRACE_UPROBE_SESSION, closeFd, FdLink, openDir, possibleCpus, RingBuffer, uprobeSessionSupport, type BpfMap, type RingWake } from './libbpf.js';
import type { RecordHandler } from './ring.js';
import * as W from './wire.generated.js';
import { AF_INET, AF_INET6, BPF_NOEXIST } from './ffi.js';

/** Maps every object defines identically (bpf/common.bpf.h); created once. */
export const SHARED_MAPS = ['events', 'stats', 'owners'] as const;

/**
 * Maps of enforcement (bpf/enforce.bpf.h), shared by the objects that have
 * them. Without enforcement they shrink to one entry: nothing writes them.
 */
export const ENFORCE_MAPS = [
  'names',
  'dest',
  'dest_static',
  'procs',
  'image_verdicts',
  'image_refs',
  'cgroup_verdicts',
  'blocked_socks',
  'blocked_tids',
  'last_ssl',
  'ssl_socks',
  'pkt_holds',
  'pkt_released',
  'enforce_cfg',
  'image_seq',
  'tls_verdicts',
  'held',
  'call_seq',
  'exe_hashed',
] as const;
export type EnforceMapName = (typeof ENFORCE_MAPS)[number];

/** Which programs an object has, and how each attaches. */
export interface ObjectSpec {
  name: string;
  file: string;
  /** the same programs built for an older hook type (raw_tp), tried when `file` is refused */
  fallback?: string;
  what: string;
  programs: Array<ProgramSpec | UprobeSpec>;
  /** extra .rodata settings */
  settings?: Record<string, number | bigint>;
  /** loaded only when enforcing */
  enforceOnly?: boolean;
  /** loaded only when asked for (KernelOptions.mcpStdio) */
  optIn?: 'mcpStdio';
}

export interface ProgramSpec {
  name: string;
  attach: 'auto' | 'cgroup';
  /** only when enforcing */
  enforceOnly?: boolean;
  /** attached by attachDeferred(), once the engine has filled the maps the program reads */
  deferred?: boolean;
}

/** A program attached at a function of every TLS library target (its entry, or its return, or both as a session). */
export interface UprobeSpec {
  name: string;
  attach: 'uprobe';
  func: string;
  retprobe: boolean;
  /**
   * Only in this TLS probe mode: 'session', one program at entry and (when
   * its entry run asks) at return, where the kernel has uprobe sessions;
   * 'pair', an entry uprobe and a uretprobe, elsewhere. Neither: both.
   */
  mode?: TlsProbeMode;
  /** only when enforcing */
  enforceOnly?: boolean;
  /** not attached where the target has this (internal) function: it is probed instead */
  unless?: string;
  /** 'ret': at each RET instruction of the function (the target's retSites), not at its entry */
  sites?: 'ret';
  /** not attached where the target's RET probes read this function's arguments (its keepsArgs) */
  unlessKeepsArgs?: boolean;
}

/** A file to put the TLS probes on: its symbols, at these file offsets when known (else libbpf resolves the names). */
export interface TlsTarget {
  path: string;
  symbols: readonly string[];
  offsets?: Readonly<Record<string, number>>;
  /** file offsets of functions' RET instructions (Go: the probes of `sites: 'ret'`) */
  retSites?: Readonly<Record<string, readonly number[]>>;
  /** functions whose offset is their stack check's `jbe` (Go): the program is told by the cookie's bit 32 */
  atStackCheck?: readonly string[];
  /** functions whose arguments their RET probes read from the spill slots (Go): no entry probe; the cookie's bit 33 */
  keepsArgs?: readonly string[];
}

/** How the read and write probes see a call's return (tls.bpf.c). */
export type TlsProbeMode = 'session' | 'pair';

const up = (name: string, func: string, retprobe = false, enforceOnly = false, unless?: string, mode?: TlsProbeMode): UprobeSpec => ({
  name,
  attach: 'uprobe',
  func,
  retprobe,
  ...(enforceOnly ? { enforceOnly } : {}),
  ...(unless ? { unless } : {}),
  ...(mode ? { mode } : {}),
});

/** The read and write probes of one function: a session program, or an entry and a return program. */
const rw = (func: string, session: string, enter: string, leave: string, unless?: string): UprobeSpec[] => [
  up(session, func, false, false, unless, 'session'),
  up(enter, func, false, false, unless, 'pair'),
  up(leave, func, true, false, unless, 'pair'),
];

/** The OpenSSL probe set (tls.bpf.c); each target gets those of its exported symbols. */
export const OPENSSL_PROBES: readonly UprobeSpec[] = [
  ...rw('SSL_write', 'ssl_write_session', 'ssl_write_enter', 'ssl_write_leave', 'ssl_write_internal'),
  ...rw('SSL_read', 'ssl_read_session', 'ssl_read_enter', 'ssl_read_leave', 'ssl_read_internal'),
  ...rw('SSL_write_ex', 'ssl_write_ex_session', 'ssl_write_ex_enter', 'ssl_write_leave', 'ssl_write_internal'),
  ...rw('SSL_read_ex', 'ssl_read_ex_session', 'ssl_read_ex_enter', 'ssl_read_leave', 'ssl_read_internal'),
  // libssl's SSL_write and SSL_write_ex both call ssl_write_internal(s, buf,
  // num, &written) (SSL_read, SSL_read_ex: ssl_read_internal): the _ex
  // programs read it, once per call, at a cheaper probe (host/elf.ts commonCallee)
  ...rw('ssl_write_internal', 'ssl_write_ex_session', 'ssl_write_ex_enter', 'ssl_write_leave'),
  ...rw('ssl_read_internal', 'ssl_read_ex_session', 'ssl_read_ex_enter', 'ssl_read_leave'),
  up('ssl_ctrl_enter', 'SSL_ctrl'),
  up('ssl_set_fd_enter', 'SSL_set_fd'),
  up('ssl_free_enter', 'SSL_free'),
  // which SSL* the next ClientHello of a thread belongs to: its plaintext is
  // read (tls.plaintext), and enforcement ties the connection to its socket
  up('ssl_handshake_enter', 'SSL_do_handshake'),
  up('ssl_handshake_enter', 'SSL_connect'),
];

/**
 * The GnuTLS probe set: the same programs at GnuTLS's calls of the same
 * shapes (tls.bpf.c, its end), but the SNI's, which is a name and a length.
 * gnutls_transport_set_int (a macro) is set_int2 with one fd twice.
 */
export const GNUTLS_PROBES: readonly UprobeSpec[] = [
  ...rw('gnutls_record_send', 'ssl_write_session', 'ssl_write_enter', 'ssl_write_leave'),
  ...rw('gnutls_record_recv', 'ssl_read_session', 'ssl_read_enter', 'ssl_read_leave'),
  up('gnutls_sni_enter', 'gnutls_server_name_set'),
  up('ssl_set_fd_enter', 'gnutls_transport_set_int2'),
  up('ssl_free_enter', 'gnutls_deinit'),
  up('ssl_handshake_enter', 'gnutls_handshake'),
];

/**
 * The NSS probe set (tls.bpf.c, its end): on libssl3.so the calls that make
 * and name an SSL descriptor, on libnspr4.so the generic I/O calls its
 * plaintext goes through, followed only on those descriptors.
 */
export const NSS_PROBES: readonly UprobeSpec[] = [
  up('nss_import_leave', 'SSL_ImportFD', true),
  up('nss_set_url_enter', 'SSL_SetURL'),
  up('ssl_handshake_enter', 'SSL_ResetHandshake'),
  up('ssl_handshake_enter', 'SSL_ForceHandshake'),
  ...rw('PR_Write', 'pr_write_session', 'pr_write_enter', 'ssl_write_leave'),
  ...rw('PR_Send', 'pr_write_session', 'pr_write_enter', 'ssl_write_leave'),
  ...rw('PR_Read', 'pr_read_session', 'pr_read_enter', 'ssl_read_leave'),
  ...rw('PR_Recv', 'pr_read_session', 'pr_read_enter', 'ssl_read_leave'),
  up('pr_close_enter', 'PR_Close'),
];

/** tls.bpf.c GO_AT_STACK_CHECK and GO_KEEPS_ARGS: the attach cookie's bits 32 and 33 (its low 32 bits are the target's index) */
const GO_AT_STACK_CHECK = 2 ** 32;
const GO_KEEPS_ARGS = 2 ** 33;

/**
 * The Go probe set (tls.bpf.c, its end): crypto/tls.(*Conn)'s Write at
 * entry (copied whole there), Read at entry and at each of its RET
 * instructions (at its RETs alone where the target keepsArgs: bit 33),
 * clientHandshake and Close at entry. Write's and Read's entry probes sit
 * at their stack check's `jbe` where the target says so (bit 32). Plain
 * uprobes, in either probe mode.
 */
export const GO_PROBES: readonly UprobeSpec[] = [
  up('go_write_enter', GO_TLS.write),
  { ...up('go_read_enter', GO_TLS.read), unlessKeepsArgs: true },
  { ...up('go_read_ret', GO_TLS.read), sites: 'ret' },
  up('go_handshake_enter', GO_TLS.handshake),
  up('go_close_enter', GO_TLS.close),
];

export const OBJECTS: readonly ObjectSpec[] = [
  {
    name: 'proc',
    file: 'proc.bpf.o',
    fallback: 'proc.rawtp.bpf.o',
    what: 'process exec/exit',
    programs: [
      { name: 'handle_exec', attach: 'auto' },
      { name: 'handle_exit', attach: 'auto' },
      { name: 'handle_fork', attach: 'auto', enforceOnly: true },
    ],
  },
  {
    name: 'conn',
    file: 'conn.bpf.o',
    fallback: 'conn.rawtp.bpf.o',
    what: 'TCP connect/accept/close, UDP sockets, traffic shape per TCP connection (the classifier\'s input)',
    programs: [
      { name: 'handle_set_state', attach: 'auto' },
      { name: 'handle_sock_create', attach: 'cgroup' },
      { name: 'handle_sock_release', attach: 'cgroup' },
      { name: 'handle_send', attach: 'auto' },
      { name: 'handle_recv', attach: 'auto' },
    ],
  },
  {
    name: 'tls',
    file: 'tls.bpf.o',
    what: "TLS plaintext (OpenSSL, GnuTLS, NSS and Go's crypto/tls uprobes)",
    programs: [...OPENSSL_PROBES, ...GNUTLS_PROBES, ...NSS_PROBES, ...GO_PROBES],
  },
  {
    name: 'pkt',
    file: 'pkt.bpf.o',
    what: 'DNS, TLS handshakes, UDP flows',
    programs: [
      { name: 'handle_egress', attach: 'cgroup' },
      { name: 'handle_ingress', attach: 'cgroup' },
    ],
  },
  {
    name: 'stdio',
    file: 'stdio.bpf.o',
    what: 'MCP over stdio (JSON-RPC written to pipes and UNIX sockets; --mcp-stdio)',
    optIn: 'mcpStdio',
    programs: [
      { name: 'handle_stdio_write', attach: 'auto' },
      { name: 'handle_stdio_read_exit', attach: 'auto', enforceOnly: true },
    ],
  },
  {
    name: 'enforce',
    file: 'enforce.bpf.o',
    what: 'connection enforcement (connect/sendmsg refused with EPERM)',
    enforceOnly: true,
    programs: [
      { name: 'enforce_connect4', attach: 'cgroup', deferred: true },
      { name: 'enforce_connect6', attach: 'cgroup', deferred: true },
      { name: 'enforce_sendmsg4', attach: 'cgroup', deferred: true },
      { name: 'enforce_sendmsg6', attach: 'cgroup', deferred: true },
    ],
  },
];

export interface KernelOptions {
  cgroup: CgroupRef;
  /** ring buffer size in bytes (a power of two, multiple of the page size) */
  ringBytes: number;
  /** our own tgid, not reported */
  selfTgid: number;
  /** report the server side of DNS/TLS for remote peers (pkt.bpf.c) */
  serverSide: boolean;
  /** follow plain-text HTTP connections (pkt.bpf.c plain_socks); default true */
  plainHttp?: boolean;
  /**
   * MCP over stdio (stdio.bpf.c): a program on the syscall entry
   * tracepoint, which slows every system call of the host (its cost is said
   * in the README); default false
   */
  mcpStdio?: boolean;
  /** only these objects (default: all) */
  only?: string[];
  /** the consumer drains at least this often, ms; 0: woken for every record */
  pollMs?: number;
  /** 'raw_tp': use the raw_tp builds even where tp_btf loads (tests, old kernels) */
  hooks?: 'auto' | 'raw_tp';
  bpfDir?: string;
  /**
   * TLS plaintext capture: the files to probe first (more can be added with
   * attachTls; the records' lib cookie is a target's index); undefined: no
   * tls object
   */
  tls?: {
    targets: TlsTarget[];
    capBytes: number;
    /**
     * false: the read and write probes are entry/return pairs even where the
     * kernel has uprobe sessions (also BUSTED_TLS_NO_SESSION=1)
     */
    session?: boolean;
  };
  /**
   * Enforcement: image tracking, DNS learning, blocked sockets, gated TLS,
   * and the enforce object, whose connect hooks wait for attachDeferred()
   */
  enforce?: boolean;
  /**
   * Keep enforcement in the kernel past this process (`--pin`): the shared
   * maps and the links of the objects enforcement needs live in this bpffs
   * directory; an agent started later with the same directory takes them
   * over (same maps, its programs replacing the old ones).
   */
  pinDir?: string;
}

/**
 * A load that failed on a map pinned by an earlier agent whose map differs
 * (another busted version: a value grew, a map changed type): said as what
 * to do, not as libbpf's "parameter mismatch". Other errors pass as they are.
 */
function pinMismatch(e: unknown, pinDir: string): unknown {
  // libbpf 1.1: "map 'owners': error reusing pinned map"; later: "map 'owners': can't reuse pinned map at ..."
  const m = e instanceof Error ? /map '([^']+)': (?:error reusing|can't reuse) pinned map/.exec(e.message) : null;
  if (!m) return e;
  return new BustedError(
    ErrorCode.BPF,
    `the enforcement pinned at ${pinDir} was left by an agent whose map '${m[1]}' differs from this one's (another busted version); ` +
      'remove it with `busted unpin --cgroup <the same cgroup>` (its connections are no longer refused until an agent attaches again) and start this one again',
    'pin',
  );
}

/** Objects whose links a pinned session keeps attached: what refusing connections needs without an engine. */
const PINNED_OBJECTS = new Set(['proc', 'pkt', 'enforce']);

export interface Attachment {
  object: string;
  /** the object file that was loaded (a fallback shows here) */
  file?: string;
  program: string;
  hook: string;
  ok: boolean;
  error?: string;
}

export interface KernelStats {
  ringbufFull: number;
  ownerMiss: number;
  pktTruncated: number;
  ownerFull: number;
  pktSeen: number;
  events: number;
  tlsTruncated: number;
  tlsSkipped: number;
  /** runs of the TLS read/write return half (uretprobe, or a session's return run) */
  tlsReturns: number;
}

export function validateKernelOptions(o: KernelOptions): void {
  const bad = (msg: string, field: string) => new BustedError(ErrorCode.USAGE, msg, field);
  if (!Number.isInteger(o.ringBytes) || o.ringBytes < 4096 || (o.ringBytes & (o.ringBytes - 1)) !== 0) {
    throw bad(`ring buffer size ${o.ringBytes} must be a power of two of at least 4096 bytes`, 'ringbuf');
  }
  if (o.tls !== undefined && (!Number.isInteger(o.tls.capBytes) || o.tls.capBytes < 0 || o.tls.capBytes > 65536)) {
    throw bad(`TLS capture size ${o.tls.capBytes} must be between 0 and 65536 bytes`, 'tls-capture-bytes');
  }
  if (process.getuid && process.getuid() !== 0) {
    throw new BustedError(ErrorCode.UNSUPPORTED, 'loading BPF programs needs root (or CAP_BPF, CAP_PERFMON and CAP_NET_ADMIN)');
  }
  if (!existsSync('/sys/kernel/btf/vmlinux')) {
    throw new BustedError(ErrorCode.UNSUPPORTED, 'this kernel has no BTF (/sys/kernel/btf/vmlinux): CO-RE programs cannot load');
  }
}

/** Entry `index` of a per-CPU array of u64 counters, summed over CPUs (0 when the lookup fails). */
function perCpuSum(map: BpfMap, index: number): number {
  const cpus = possibleCpus();
  const key = new Uint8Array(4);
  new DataView(key.buffer).setUint32(0, index, true);
  const val = new Uint8Array(8 * cpus);
  if (!map.lookup(key, val)) return 0;
  const dv = new DataView(val.buffer);
  let n = 0;
  for (let c = 0; c < cpus; c++) n += Number(dv.getBigUint64(c * 8, true));
  return n;
}

export class KernelSession {
  readonly attachments: Attachment[] = [];
  private readonly objects: BpfObject[] = [];
  private readonly links: Array<BpfLink | FdLink> = [];
  private cgroupFd = -1;
  private ring: RingBuffer | undefined;
  private readonly bySpec = new Map<string, BpfObject>();
  private statsObject: BpfObject | undefined;
  private disposed = false;
  /** TLS files probed so far; a record's lib cookie is the index */
  readonly tlsTargets: TlsTarget[] = [];
  /** How the TLS read/write probes see returns (undefined: no tls object), and why that way. */
  tlsMode: TlsProbeMode | undefined;
  tlsModeDetail = '';

  private constructor(readonly options: KernelOptions) {}

  /** Open, configure, load and attach everything that this kernel accepts. */
  static open(options: KernelOptions): KernelSession {
    validateKernelOptions(options);
    const s = new KernelSession(options);
    try {
      s.setUp();
    } catch (e) {
      s.dispose();
      throw e;
    }
    return s;
  }

  private setUp(): void {
    const o = this.options;
    const dir = o.bpfDir ?? BPF_DIR;
    this.cgroupFd = openDir(o.cgroup.path);
    const shared = new Map<string, number>();
    const specs = OBJECTS.filter(
      (spec) =>
        (!o.only || o.only.includes(spec.name)) &&
        (spec.name !== 'tls' || o.tls !== undefined) &&
        (!spec.enforceOnly || o.enforce === true) &&
        (spec.optIn === undefined || o[spec.optIn] === true),
    );
    for (const spec of specs) {
      const files = o.hooks === 'raw_tp' && spec.fallback ? [spec.fallback] : [spec.file, ...(spec.fallback ? [spec.fallback] : [])];
      let obj: BpfObject | undefined;
      const refusals: string[] = [];
      for (const file of files) {
        // EAGAIN: the verifier was interrupted by a signal (a profiler's
        // timer, for one) and gave up. A libbpf object loads once, so the
        // retry opens it afresh.
        for (let attempt = 0; attempt < 5 && !obj; attempt++) {
          try {
            obj = spec.name === 'tls' ? this.loadTls(join(dir, file), spec, shared) : this.loadObject(join(dir, file), spec, shared);
          } catch (e) {
            // the pinned state is another version's: no other object or fallback loads either
            if (e instanceof BustedError && e.field === 'pin') throw e;
            const msg = (e as Error).message;
            if (/\(errno 11\)/.test(msg.split('\n')[0]!) && attempt < 4) continue;
            refusals.push(`${file}: ${msg}`);
            break;
          }
        }
        if (obj) break;
      }
      if (!obj) {
        for (const p of spec.programs) this.attachments.push({ object: spec.name, program: p.name, hook: '-', ok: false, error: refusals.join('\n') });
        continue;
      }
      for (const name of [...SHARED_MAPS, ...ENFORCE_MAPS]) if (!shared.has(name) && obj.hasMap(name)) shared.set(name, obj.map(name).fd);
      this.bySpec.set(spec.name, obj);
      this.statsObject ??= obj;
      // attach
      for (const p of spec.programs) {
        if (p.attach === 'uprobe') continue; // below, per target
        if (p.enforceOnly && !o.enforce) continue;
        if (p.deferred) {
          this.deferred.push({ spec, program: p });
          continue;
        }
        this.attachProgram(spec, obj, p);
      }
    }
    for (const t of o.tls?.targets ?? []) this.attachTls(t);
    // nothing at all attached is an error; a tls object still waiting for its first library is not
    if (this.bySpec.size === 0 || (this.attachments.length > 0 && !this.attachments.some((a) => a.ok))) {
      const why = this.attachments.map((a) => `${a.object}/${a.program}: ${a.error}`).join('\n');
      throw new BustedError(ErrorCode.BPF, `no BPF program could be attached:\n${why}`);
    }
  }

  private readonly deferred: Array<{ spec: ObjectSpec; program: ProgramSpec }> = [];

  private attachProgram(spec: ObjectSpec, obj: BpfObject, p: ProgramSpec): boolean {
    const o = this.options;
    const prog = obj.program(p.name);
    const hook = p.attach === 'cgroup' ? `${prog.section} @ ${o.cgroup.path}` : prog.section;
    const file = obj.name;
    try {
      const link = p.attach === 'cgroup' ? prog.attachCgroup(this.cgroupFd, o.cgroup.path) : prog.attach();
      this.links.push(link);
      if (o.pinDir && PINNED_OBJECTS.has(spec.name)) this.pinned.push({ link, path: join(o.pinDir, `link-${spec.name}-${p.name}`) });
      this.attachments.push({ object: spec.name, file, program: p.name, hook, ok: true });
      return true;
    } catch (e) {
      this.attachments.push({ object: spec.name, file, program: p.name, hook, ok: false, error: (e as Error).message });
      return false;
    }
  }

  /**
   * Attach the programs that had to wait (the connect hooks: they must not
   * run before the engine has written the verdicts they read). Returns the
   * attachments made; a refusal is recorded like any other.
   */
  attachDeferred(): Attachment[] {
    const before = this.attachments.length;
    for (const { spec, program } of this.deferred.splice(0)) {
      const obj = this.bySpec.get(spec.name);
      if (obj) this.attachProgram(spec, obj, program);
    }
    if (this.options.pinDir) this.pinLinks();
    return this.attachments.slice(before);
  }

  private readonly pinned: Array<{ link: BpfLink; path: string }> = [];

  /**
   * Our links replace the ones an earlier agent pinned (both ran for a
   * moment: nothing was let through meanwhile), and are pinned in their place.
   */
  private pinLinks(): void {
    const dir = this.options.pinDir!;
    for (const name of readdirSync(dir)) {
      if (!name.startsWith('link-')) continue;
      const old = BpfLink.open(join(dir, name));
      if (!old) continue;
      old.unpin();
      old.destroy();
    }
    for (const { link, path } of this.pinned) link.pin(path);
  }

  /**
   * The tls object in the mode this kernel allows: uprobe sessions when it
   * makes them (asked once, libbpf.ts uprobeSessionSupport) and they are
   * not turned off; the entry/return pairs otherwise, or when the session
   * programs are refused (a verifier without the session kfuncs).
   */
  private loadTls(path: string, spec: ObjectSpec, shared: Map<string, number>): BpfObject {
    const off = this.options.tls?.session === false || process.env.BUSTED_TLS_NO_SESSION === '1';
    const support = off || !existsSync(path) ? undefined : uprobeSessionSupport(path);
    if (support?.ok) {
      try {
        const obj = this.loadObject(path, spec, shared, 'session');
        this.tlsMode = 'session';
        this.tlsModeDetail = support.detail;
        return obj;
      } catch (e) {
        const msg = (e as Error).message;
        if (/\(errno 11\)/.test(msg.split('\n')[0]!)) throw e; // interrupted: tried again as it was
        this.tlsModeDetail = `entry uprobe + uretprobe: the session programs were refused (${msg.split('\n')[0]})`;
      }
    } else {
      this.tlsModeDetail = off ? 'entry uprobe + uretprobe (uprobe sessions turned off)' : `entry uprobe + uretprobe (${support?.detail ?? 'no object'})`;
    }
    const obj = this.loadObject(path, spec, shared, 'pair');
    this.tlsMode = 'pair';
    return obj;
  }

  /** open → configure → load one object file; closed again if the kernel refuses it. */
  private loadObject(path: string, spec: ObjectSpec, shared: Map<string, number>, mode?: TlsProbeMode): BpfObject {
    const o = this.options;
    if (!existsSync(path)) throw new BustedError(ErrorCode.BPF, `${path} is missing: run npm run build`);
    const obj = BpfObject.open(path);
    try {
      // the programs of the other TLS probe mode are not loaded (the session
      // ones call kfuncs a kernel without sessions does not have)
      for (const p of spec.programs) {
        if (p.attach !== 'uprobe' || !p.mode) continue;
        const prog = obj.program(p.name);
        if (p.mode !== mode) prog.autoload = false;
        else if (mode === 'session') prog.expectedAttachType = BPF_TRACE_UPROBE_SESSION;
      }
      obj.setRodata({
        scope_cgid: o.cgroup.level === 0 ? 0n : o.cgroup.id,
        scope_level: o.cgroup.level,
        self_tgid: o.selfTgid,
        // Wake up early only when an eighth of the ring is waiting; the
        // poll timer (pollMs) picks up everything else.
        wakeup_bytes: o.pollMs === 0 ? 0 : Math.floor(o.ringBytes / 8),
        ...(spec.name === 'pkt' ? { server_side: o.serverSide ? 1 : 0, enforce_on: o.enforce ? 1 : 0, plain_http: o.plainHttp === false ? 0 : 1 } : {}),
        ...(spec.name === 'tls' ? { tls_cap_bytes: o.tls?.capBytes ?? TLS_CAPTURE_BYTES, enforce_on: o.enforce ? 1 : 0 } : {}),
        ...(spec.name === 'proc' ? { track_images: o.enforce ? 1 : 0 } : {}),
        ...(spec.name === 'stdio' ? { hold_reads: o.enforce ? 1 : 0 } : {}),
        ...spec.settings,
      });
      for (const name of [...SHARED_MAPS, ...ENFORCE_MAPS]) {
        if (!obj.hasMap(name)) continue;
        const m = obj.map(name);
        if (name === 'events') m.setMaxEntries(o.ringBytes);
        // nothing writes them without enforcement: one entry each, not megabytes
        // (tls_verdicts also holds the skip verdicts of monitor, last_ssl tells tls.plaintext)
        else if (!o.enforce && (ENFORCE_MAPS as readonly string[]).includes(name) && name !== 'tls_verdicts' && name !== 'last_ssl') m.setMaxEntries(1);
        if (o.pinDir) {
          // libbpf uses the map pinned there (an earlier agent's), or pins this one at load
          m.setPinPath(join(o.pinDir, name));
          continue;
        }
        const fd = shared.get(name);
        if (fd !== undefined) m.reuseFd(fd);
      }
      obj.load();
    } catch (e) {
      obj.close();
      throw o.pinDir ? pinMismatch(e, o.pinDir) : e;
    }
    this.objects.push(obj);
    return obj;
  }

  /** Start handing ring buffer records to `handler`, continuously. */
  consume(handler: RecordHandler): RingBuffer {
    if (this.ring) throw new BustedError(ErrorCode.BPF, 'the ring buffer is already being consumed');
    const events = this.objects[0]!.map('events');
    this.ring = new RingBuffer(events.fd, this.options.ringBytes, handler, { pollMs: this.options.pollMs ?? 50 });
    this.ring.start();
    return this.ring;
  }

  /** How the ring's consumer is woken (libbpf.ts RingBuffer.wake); undefined before consume(). */
  get ringWake(): RingWake | undefined {
    return this.ring?.wake;
  }

  /** Nothing in the ring after the record being handled (or at all, between records). */
  caughtUp(): boolean {
    return this.ring ? this.ring.pendingBytes() === 0 : true;
  }

  /** Resolves when every record the kernel has committed so far was handed out. */
  idle(): Promise<void> {
    return this.ring ? this.ring.idle() : Promise.resolve();
  }

  /** The kernel-side counters, summed over CPUs. */
  stats(): KernelStats {
    const sums = new Array<number>(W.BUSTED_STAT_MAX).fill(0);
    const stats = this.statsObject?.map('stats');
    if (stats) for (let i = 0; i < W.BUSTED_STAT_MAX; i++) sums[i] = perCpuSum(stats, i);
    return {
      ringbufFull: sums[W.BUSTED_STAT_RINGBUF_FULL]!,
      ownerMiss: sums[W.BUSTED_STAT_OWNER_MISS]!,
      pktTruncated: sums[W.BUSTED_STAT_PKT_TRUNCATED]!,
      ownerFull: sums[W.BUSTED_STAT_OWNER_FULL]!,
      pktSeen: sums[W.BUSTED_STAT_PKT_SEEN]!,
      events: sums[W.BUSTED_STAT_EVENTS]!,
      tlsTruncated: sums[W.BUSTED_STAT_TLS_TRUNCATED]!,
      tlsSkipped: sums[W.BUSTED_STAT_TLS_SKIPPED]!,
      tlsReturns: this.tlsReturns(),
    };
  }

  /** tls.bpf.c's tls_returns, summed over CPUs (0 without a tls object). */
  private tlsReturns(): number {
    const obj = this.bySpec.get('tls');
    return obj ? perCpuSum(obj.map('tls_returns'), 0) : 0;
  }

  /**
   * The engine's verdict on a TLS connection (pid, SSL* as hex): 'skip'
   * makes tls.bpf.c stop copying its plaintext; `watch` (an HTTP/2 client's
   * connection) stop copying its reads only, its writes followed on from
   * where they stand (watchVerdict). False when there is no tls
   * object or the map refused the update.
   */
  setTlsVerdict(pid: number, sslHex: string, verdict: 'capture' | 'skip' | 'skip-server' | { watch: { left: number; data: boolean } | null; gated?: boolean; reads?: boolean }): boolean {
    const obj = this.bySpec.get('tls');
    if (!obj) return false;
    const key = tlsKey(pid, sslHex);
    const value = new Uint8Array(4);
    const plain = { capture: W.BUSTED_TLS_CAPTURE, skip: W.BUSTED_TLS_SKIP, 'skip-server': W.BUSTED_TLS_SKIP_SERVER };
    new DataView(value.buffer).setUint32(0, typeof verdict === 'object' ? watchVerdict(verdict.watch, verdict.gated, verdict.reads) : plain[verdict], true);
    try {
      obj.map('tls_verdicts').update(key, value);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A watched HTTP/2 connection's reads, which the kernel copies since a
   * write with a request body (tls.bpf.c watch_reads), are no longer
   * wanted: forgotten if that write was CALLID's (a later one keeps them).
   */
  clearWatchReads(pid: number, sslHex: string, callIdHex: string): boolean {
    const obj = this.bySpec.get('tls');
    if (!obj) return false;
    const key = tlsKey(pid, sslHex);
    const value = new Uint8Array(8);
    try {
      const map = obj.map('watch_reads');
      if (!map.lookup(key, value)) return false;
      if (new DataView(value.buffer).getBigUint64(0, true) !== BigInt(`0x${callIdHex}`)) return false;
      return map.delete(key);
    } catch {
      return false;
    }
  }

  /**
   * A listening socket older than the agent (host/listeners.ts: its
   * network namespace, family and port) and the process that holds it, for conn.bpf.c to credit the connections it
   * accepts to. An entry the kernel learnt itself since (a listen() after
   * attach) is kept (BPF_NOEXIST). False without the conn object, or when
   * the map refused it (full, or already there).
   */
  putListener(
    at: { netns: number; family: 4 | 6; port: number },
    task: { pid: number; ppid: number; uid: number; gid: number; comm: string; cgroupId: number | bigint },
  ): boolean {
    const obj = this.bySpec.get('conn');
    if (!obj) return false;
    const key = new Uint8Array(W.LISTEN_KEY.size);
    const k = new DataView(key.buffer);
    k.setUint32(W.LISTEN_KEY.netns, at.netns, true);
    k.setUint16(W.LISTEN_KEY.family, at.family === 6 ? AF_INET6 : AF_INET, true);
    k.setUint16(W.LISTEN_KEY.port, at.port, true);
    const value = new Uint8Array(W.OWNER.size);
    const v = new DataView(value.buffer);
    v.setBigUint64(W.OWNER.task_cgroup_id, BigInt(task.cgroupId), true);
    v.setUint32(W.OWNER.task_pid, task.pid, true);
    v.setUint32(W.OWNER.task_tid, task.pid, true);
    v.setUint32(W.OWNER.task_ppid, task.ppid, true);
    v.setUint32(W.OWNER.task_uid, task.uid, true);
    v.setUint32(W.OWNER.task_gid, task.gid, true);
    v.setUint32(W.OWNER.task_flags, W.BUSTED_TASK_KNOWN, true);
    // comm as the kernel keeps it: at most 15 bytes and a NUL
    new TextEncoder().encodeInto(task.comm, value.subarray(W.OWNER.task_comm, W.OWNER.task_comm + W.OWNER.task_comm_LEN - 1));
    try {
      obj.map('listeners').update(key, value, BPF_NOEXIST);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Hold what a TLS connection sends (pkt.bpf.c sock_held: a request let go
   * in part, until it is decided whole), or stop holding it. False without
   * the pkt object, or when the map refused.
   */
  setSockHold(cookie: bigint, hold: boolean): boolean {
    return this.setHold('hello_holds', cookie, hold ? W.BUSTED_SOCK_HOLD : undefined);
  }

  /**
   * An unreadable ClientHello the kernel holds (pkt.bpf.c hello_hold, and
   * a QUIC connection's, quic_hold): `released`, its next retry passes (a
   * QUIC socket's datagrams all do from then on); `gone`, forgotten (its
   * socket was destroyed). False without the pkt object, or when the map
   * refused.
   */
  setHelloHold(cookie: bigint, state: 'released' | 'gone', quic = false): boolean {
    // (a QUIC hold's entry names its peer after the state: kept as it is)
    return this.setHold(quic ? 'quic_holds' : 'hello_holds', cookie, state === 'gone' ? undefined : W.BUSTED_HELLO_RELEASED, quic);
  }

  /**
   * A pkt.bpf.c hold entry by socket cookie: its state (the value's first
   * member) set, or the entry deleted (STATE undefined). KEEP: the rest of
   * the value is kept, and the entry must exist.
   */
  private setHold(name: 'hello_holds' | 'quic_holds', cookie: bigint, state: number | undefined, keep = false): boolean {
    const obj = this.bySpec.get('pkt');
    if (!obj) return false;
    const key = u64key(cookie);
    try {
      const map = obj.map(name);
      if (state === undefined) return map.delete(key);
      const value = new Uint8Array(map.valueSize);
      if (keep && !map.lookup(key, value)) return false;
      new DataView(value.buffer).setUint32(0, state, true);
      map.update(key, value);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A plain-text HTTP connection's verdict (pkt.bpf.c plain_socks): `skip`
   * stops the copying; `gate` with `released`, the sequence number up to
   * which its held segments were sent on (a retransmission of them passes).
   */
  setPlainVerdict(cookie: bigint, verdict: 'capture' | 'skip' | 'gate', released = 0, requestsOut = true): boolean {
    const obj = this.bySpec.get('pkt');
    if (!obj) return false;
    const key = u64key(cookie);
    const value = new Uint8Array(W.PLAIN.size);
    const dv = new DataView(value.buffer);
    dv.setUint32(W.PLAIN.verdict, verdict === 'skip' ? W.BUSTED_PLAIN_SKIP : verdict === 'gate' ? W.BUSTED_PLAIN_GATE : W.BUSTED_PLAIN_CAPTURE, true);
    dv.setUint32(W.PLAIN.released, released >>> 0, true);
    dv.setUint32(W.PLAIN.dir, requestsOut ? W.BUSTED_DIR_EGRESS : W.BUSTED_DIR_INGRESS, true);
    try {
      obj.map('plain_socks').update(key, value);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Put the TLS probes on one more file (a library found in a running or
   * newly started process). Its attachments are returned and added to
   * `attachments`; none when there is no tls object.
   */
  attachTls(t: TlsTarget): Attachment[] {
    const obj = this.bySpec.get('tls');
    const spec = OBJECTS.find((x) => x.name === 'tls')!;
    if (!obj) return [];
    const lib = this.tlsTargets.length;
    this.tlsTargets.push(t);
    const made: Attachment[] = [];
    for (const p of spec.programs) {
      if (p.attach !== 'uprobe' || !t.symbols.includes(p.func)) continue;
      if (p.unless !== undefined && t.symbols.includes(p.unless)) continue;
      if (p.unlessKeepsArgs && t.keepsArgs?.includes(p.func)) continue;
      if (p.enforceOnly && !this.options.enforce) continue;
      if (p.mode !== undefined && p.mode !== this.tlsMode) continue;
      const prog = obj.program(p.name);
      const at = t.offsets?.[p.func];
      const sites = p.sites === 'ret' ? (t.retSites?.[p.func] ?? []) : undefined;
      const keeps = t.keepsArgs?.includes(p.func) === true;
      const hook =
        sites !== undefined
          ? `uprobe ${t.path}:${p.func} (its ${sites.length} RET instructions${keeps ? ', its arguments from their spill slots' : ''})`
          : `${p.mode === 'session' ? 'uprobe.session' : p.retprobe ? 'uretprobe' : 'uprobe'} ${t.path}:${p.func}`;
      try {
        if (sites !== undefined) {
          // one uprobe per RET instruction (Go: no uretprobe)
          if (sites.length === 0) throw new BustedError(ErrorCode.BPF, `${obj.name}: attach ${p.name}: no RET instruction known in ${p.func} of ${t.path}`);
          for (const site of sites) this.links.push(prog.attachUprobeAt(false, -1, t.path, site, keeps ? lib + GO_KEEPS_ARGS : lib));
        } else if (p.mode === 'session') {
          // a session link is made at file offsets (libbpf 1.1 cannot resolve names for it)
          if (at === undefined) throw new BustedError(ErrorCode.BPF, `${obj.name}: attach ${p.name}: no file offset known for ${p.func} in ${t.path}`);
          this.links.push(prog.attachUprobeSession(t.path, [at], [BigInt(lib)]));
        } else {
          const cookie = t.atStackCheck?.includes(p.func) ? lib + GO_AT_STACK_CHECK : lib;
          this.links.push(at !== undefined ? prog.attachUprobeAt(p.retprobe, -1, t.path, at, cookie) : prog.attachUprobeByName(p.retprobe, -1, t.path, p.func, cookie));
        }
        made.push({ object: spec.name, file: obj.name, program: p.name, hook, ok: true });
      } catch (e) {
        made.push({ object: spec.name, file: obj.name, program: p.name, hook, ok: false, error: (e as Error).message });
      }
    }
    this.attachments.push(...made);
    return made;
  }

  /** The object that owns a named map, for later stages (enforcement) that add maps. */
  object(name: string): BpfObject | undefined {
    return this.bySpec.get(name);
  }

  /** A shared enforcement map, from whichever loaded object has it; undefined when none does. */
  enforceMap(name: EnforceMapName): BpfMap | undefined {
    for (const obj of this.bySpec.values()) if (obj.hasMap(name)) return obj.map(name);
    return undefined;
  }

  /** Detach and free everything; safe to call more than once. */
  dispose(): void {
    for (const l of this.release()) l.destroy();
    this.free();
  }

  /**
   * dispose(), with the links detached together on worker threads: a
   * monitor with its TLS uprobes stops in 0.6 s instead of 1.0 s (each
   * uprobe detach waits for a grace period; see BpfLink.destroyAsync).
   */
  async close(): Promise<void> {
    await Promise.all(this.release().map((l) => l.destroyAsync()));
    this.free();
  }

  /** The first half of dispose: stop reading, let pinned links go; the links to detach. */
  private release(): Array<BpfLink | FdLink> {
    if (this.disposed) return [];
    this.disposed = true;
    this.ring?.close();
    // pinned links stay attached after we are gone: let go without detaching
    for (const { link } of this.pinned.splice(0)) link.disconnect();
    return this.links.splice(0);
  }

  /** The second half: once the links are detached, the objects and the cgroup. */
  private free(): void {
    for (const o of this.objects.splice(0)) o.close();
    this.bySpec.clear();
    closeFd(this.cgroupFd);
    this.cgroupFd = -1;
  }
}

/** An 8-byte map key (a socket cookie, a name hash, an image id), little-endian. */
export function u64key(v: bigint): Uint8Array {
  const k = new Uint8Array(8);
  new DataView(k.buffer).setBigUint64(0, v, true);
  return k;
}

/** The key of a TLS connection in tls.bpf.c's maps (struct busted_tls_key): its process and SSL* (hex). */
export function tlsKey(pid: number, sslHex: string): Uint8Array {
  const key = new Uint8Array(W.TLS_KEY.size);
  const dv = new DataView(key.buffer);
  dv.setUint32(W.TLS_KEY.pid, pid, true);
  dv.setBigUint64(W.TLS_KEY.ssl, BigInt(`0x${sslHex}`), true);
  return key;
}

/**
 * The tls_verdicts value of a watched HTTP/2 connection (busted.h
 * BUSTED_TLS_WATCH): where its writes stand in their frames, the payload
 * bytes of the frame being written still to come from bit 8 (a frame is at
 * most 2^24 - 1 bytes); null: lost (every write held when gated). GATED: a
 * connection whose content is judged (a provider's, or one the engine keeps
 * gated): its reads copied too, and a write with a header block held too.
 * READS: its reads copied (an LLM call or MCP message went out on it).
 */
export function watchVerdict(at: { left: number; data: boolean } | null, gated = false, reads = false): number {
  const kind = gated ? W.BUSTED_TLS_WATCH_READS | W.BUSTED_TLS_WATCH_HEADERS : reads ? W.BUSTED_TLS_WATCH_READS : 0;
  if (at === null) return W.BUSTED_TLS_WATCH | W.BUSTED_TLS_WATCH_LOST | kind;
  return (W.BUSTED_TLS_WATCH | kind | (at.data ? W.BUSTED_TLS_WATCH_DATA : 0) | ((at.left & 0xffffff) << 8)) >>> 0;
}
