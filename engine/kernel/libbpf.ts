/**
 * A small typed layer over libbpf: objects, programs, maps, links, ring
 * buffers. Every failure becomes a BustedError(BPF) that names the object,
 * program or map and carries libbpf's own last messages (the verifier log
 * among them), because "Permission denied" alone tells a user nothing.
 */
import { close } from 'node:fs';
import { BustedError, ErrorCode } from '../model/errors.js';
import {
  c,
  EPOLL_CLOEXEC,
  EPOLL_CTL_ADD,
  EPOLLIN,
  epollWaitAsync,
  uvPollReadable,
  errno,
  isNull,
  libbpf,
  MAP_SHARED,
  O_CLOEXEC,
  O_DIRECTORY,
  O_RDONLY,
  PROT_READ,
  PROT_WRITE,
  readU32sAt,
  registerPrint,
  view,
  type Ptr,
  UPROBE_OPTS_SIZE,
  address,
  bpfSyscall,
} from './ffi.js';
import { RingReader, type RecordHandler } from './ring.js';

// ---- libbpf's messages -------------------------------------------------

const LOG_KEEP = 400;
const log: string[] = [];
let verbose = false;
// one message can be a whole verifier log, whose last lines say why: keep it whole
const printBuf = new Uint8Array(1 << 22);

/** Route libbpf's messages to us: kept for error reports, echoed when verbose. */
function installPrint(): void {
  const cb = registerPrint((level: number, fmt: Ptr, args: Ptr) => {
    const n = c.vsnprintf(printBuf, printBuf.length, fmt as string, args);
    const text = Buffer.from(printBuf.buffer, 0, Math.max(0, Math.min(n, printBuf.length - 1))).toString('utf8');
    for (const line of text.split('\n')) {
      if (line === '') continue;
      log.push(line);
      if (verbose && level <= 1) process.stderr.write(`libbpf: ${line}\n`);
    }
    if (log.length > LOG_KEEP) log.splice(0, log.length - LOG_KEEP);
    return 0;
  });
  libbpf.set_print(cb);
}
installPrint();

export function setLibbpfVerbose(on: boolean): void {
  verbose = on;
}

/** Start a fresh capture of libbpf's messages; returns a function that takes them. */
function captureLog(): () => string[] {
  const start = log.length;
  return () => log.slice(Math.min(start, log.length));
}

function strerror(err: number): string {
  return `${c.strerror(err) as string} (errno ${err})`;
}

function fail(what: string, err: number, messages: string[] = []): never {
  // The verifier's last lines say why; the full log can be thousands of lines.
  const tail = messages.filter((l) => !l.startsWith('libbpf: prog') || l.includes('failed')).slice(-25);
  const detail = tail.length ? `\n  ${tail.join('\n  ')}` : '';
  throw new BustedError(ErrorCode.BPF, `${what}: ${strerror(err)}${detail}`);
}

export function libbpfVersion(): string {
  return `${libbpf.major_version() as number}.${libbpf.minor_version() as number}`;
}

export function possibleCpus(): number {
  const n = libbpf.num_possible_cpus() as number;
  if (n <= 0) fail('libbpf_num_possible_cpus', -n);
  return n;
}

// ---- objects, programs, maps, links --------------------------------------

export class BpfLink {
  private ptr: Ptr | null;
  constructor(
    ptr: Ptr,
    readonly description: string,
  ) {
    this.ptr = ptr;
  }

  /** A link pinned in bpffs by an earlier agent (undefined when there is none). */
  static open(path: string): BpfLink | undefined {
    const p = libbpf.link_open(path);
    return isNull(p) ? undefined : new BpfLink(p, path);
  }

  /** Keep it attached past this process (bpffs file at path). */
  pin(path: string): void {
    const err = libbpf.link_pin(this.handle, path) as number;
    if (err) fail(`pin link ${this.description} at ${path}`, -err);
  }

  unpin(): void {
    const err = libbpf.link_unpin(this.handle) as number;
    if (err) fail(`unpin link ${this.description}`, -err);
  }

  /** Let go of it without detaching (it stays pinned). */
  disconnect(): void {
    if (this.ptr !== null) libbpf.link_disconnect(this.ptr);
  }

  private get handle(): Ptr {
    if (this.ptr === null) throw new BustedError(ErrorCode.BPF, `link ${this.description}: used after destroy`);
    return this.ptr;
  }

  destroy(): void {
    if (this.ptr === null) return;
    libbpf.link_destroy(this.ptr);
    this.ptr = null;
  }

  /**
   * destroy() on a worker thread. Detaching a uprobe waits for an RCU grace
   * period (20-90 ms each here), so detaching a few dozen one after another
   * took a second; detached together on libuv's threads, their waits
   * overlap in part (the kernel serialises some of the work).
   */
  destroyAsync(): Promise<void> {
    const p = this.ptr;
    if (p === null) return Promise.resolve();
    this.ptr = null;
    return new Promise((resolve) => libbpf.link_destroy.async(p, () => resolve()));
  }
}

/**
 * A link libbpf did not make (bpf(2) BPF_LINK_CREATE, for attach types
 * libbpf 1.1 does not know): just its file descriptor, which detaches when
 * closed.
 */
export class FdLink {
  constructor(
    private fd: number,
    readonly description: string,
  ) {}

  destroy(): void {
    if (this.fd < 0) return;
    closeFd(this.fd);
    this.fd = -1;
  }

  /** destroy() on a worker thread (see BpfLink.destroyAsync). */
  destroyAsync(): Promise<void> {
    const fd = this.fd;
    if (fd < 0) return Promise.resolve();
    this.fd = -1;
    return new Promise((resolve) => close(fd, () => resolve()));
  }
}

// include/uapi/linux/bpf.h
const BPF_PROG_LOAD = 5;
const BPF_LINK_CREATE = 28;
const BPF_PROG_TYPE_KPROBE = 2;
/** enum bpf_attach_type: uprobe sessions (Linux 6.12) */
export const BPF_TRACE_UPROBE_SESSION = 57;

/**
 * union bpf_attr's link_create for uprobe_multi: prog_fd @0, target_fd @4,
 * attach_type @8, flags @12, then uprobe_multi's path @16, offsets @24,
 * ref_ctr_offsets @32, cookies @40 (user pointers), cnt @48, flags @52,
 * pid @56 (include/uapi/linux/bpf.h). pid 0: every process.
 */
function linkCreateUprobeMulti(progFd: number, attachType: number, path: string, offsets: number[], cookies: bigint[]): number {
  const attr = new Uint8Array(64);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, progFd, true);
  dv.setUint32(8, attachType, true);
  const u64s = (xs: bigint[]) => {
    const b = new Uint8Array(8 * xs.length);
    xs.forEach((x, i) => new DataView(b.buffer).setBigUint64(i * 8, x, true));
    return b;
  };
  const cpath = new TextEncoder().encode(`${path}\0`);
  return bpfSyscall(BPF_LINK_CREATE, attr, [cpath, u64s(offsets.map(BigInt)), u64s(cookies)], ([p, o, k]) => {
    dv.setBigUint64(16, p!, true);
    dv.setBigUint64(24, o!, true);
    dv.setBigUint64(40, k!, true);
    dv.setUint32(48, offsets.length, true);
  });
}

/**
 * Whether this kernel makes uprobe session links (BPF_TRACE_UPROBE_SESSION):
 * a two-instruction program loaded for that attach type and linked at
 * offset 0 of `file`, a regular file no process executes (so nothing is
 * ever hit), then both closed. Asked once per process.
 */
let sessionSupport: { ok: boolean; detail: string } | undefined;
export function uprobeSessionSupport(file: string): { ok: boolean; detail: string } {
  if (sessionSupport) return sessionSupport;
  // r0 = 0; exit
  const insns = new Uint8Array([0xb7, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  const license = new TextEncoder().encode('GPL\0');
  // BPF_PROG_LOAD: prog_type @0, insn_cnt @4, insns @8, license @16, expected_attach_type @68
  const attr = new Uint8Array(72);
  const dv = new DataView(attr.buffer);
  dv.setUint32(0, BPF_PROG_TYPE_KPROBE, true);
  dv.setUint32(4, 2, true);
  dv.setUint32(68, BPF_TRACE_UPROBE_SESSION, true);
  const prog = bpfSyscall(BPF_PROG_LOAD, attr, [insns, license], ([i, l]) => {
    dv.setBigUint64(8, i!, true);
    dv.setBigUint64(16, l!, true);
  });
  if (prog < 0) return (sessionSupport = { ok: false, detail: `a uprobe session program does not load: ${strerror(-prog)}` });
  const link = linkCreateUprobeMulti(prog, BPF_TRACE_UPROBE_SESSION, file, [0], [0n]);
  closeFd(prog);
  if (link < 0) return (sessionSupport = { ok: false, detail: `no uprobe session link: ${strerror(-link)}` });
  closeFd(link);
  return (sessionSupport = { ok: true, detail: 'uprobe sessions (one program at entry and, when asked, at return)' });
}

export class BpfProgram {
  constructor(
    private readonly ptr: Ptr,
    readonly objectName: string,
  ) {}

  get name(): string {
    return libbpf.program_name(this.ptr) as string;
  }
  get section(): string {
    return libbpf.program_section(this.ptr) as string;
  }
  get fd(): number {
    return libbpf.program_fd(this.ptr) as number;
  }
  set autoload(on: boolean) {
    libbpf.program_set_autoload(this.ptr, on);
  }
  get autoload(): boolean {
    return libbpf.program_autoload(this.ptr) as boolean;
  }
  /** Before load: the attach type the kernel checks the program against (one the section name cannot say). */
  set expectedAttachType(t: number) {
    const err = libbpf.program_set_expected_attach_type(this.ptr, t) as number;
    if (err) fail(`${this.objectName}: ${this.name}: set expected attach type ${t}`, -err);
  }

  private linkOrFail(link: Ptr, what: string, take: () => string[]): BpfLink {
    if (isNull(link)) fail(`${this.objectName}: attach ${this.name} (${this.section}) ${what}`, errno(), take());
    return new BpfLink(link, `${this.name} ${what}`.trim());
  }

  /** Attach where the section name says (tracepoints, tp_btf, ...). */
  attach(): BpfLink {
    const take = captureLog();
    return this.linkOrFail(libbpf.program_attach(this.ptr), '', take);
  }

  attachCgroup(cgroupFd: number, cgroupPath: string): BpfLink {
    const take = captureLog();
    return this.linkOrFail(libbpf.program_attach_cgroup(this.ptr, cgroupFd), `to cgroup ${cgroupPath}`, take);
  }

  attachUprobe(retprobe: boolean, pid: number, binary: string, offset: number): BpfLink {
    const take = captureLog();
    const link = libbpf.program_attach_uprobe(this.ptr, retprobe, pid, binary, offset);
    return this.linkOrFail(link, `to ${binary}+0x${offset.toString(16)}`, take);
  }

  /** Attach to a function by name in an ELF file (libbpf resolves the symbol). */
  attachUprobeByName(retprobe: boolean, pid: number, binary: string, func: string, cookie = 0): BpfLink {
    const take = captureLog();
    const opts = { sz: UPROBE_OPTS_SIZE, ref_ctr_offset: 0, bpf_cookie: cookie, retprobe, func_name: func };
    const link = libbpf.program_attach_uprobe_opts(this.ptr, pid, binary, 0, opts);
    return this.linkOrFail(link, `to ${binary}:${func}`, take);
  }

  /** Attach at a file offset, with a cookie (bpf_get_attach_cookie). */
  attachUprobeAt(retprobe: boolean, pid: number, binary: string, offset: number, cookie = 0): BpfLink {
    const take = captureLog();
    const opts = { sz: UPROBE_OPTS_SIZE, ref_ctr_offset: 0, bpf_cookie: cookie, retprobe, func_name: null };
    const link = libbpf.program_attach_uprobe_opts(this.ptr, pid, binary, offset, opts);
    return this.linkOrFail(link, `to ${binary}+0x${offset.toString(16)}`, take);
  }

  /**
   * A uprobe session at these file offsets of `binary` (loaded with
   * expectedAttachType BPF_TRACE_UPROBE_SESSION), one cookie per offset:
   * bpf(2) BPF_LINK_CREATE with uprobe_multi, which libbpf 1.1 cannot make.
   */
  attachUprobeSession(binary: string, offsets: number[], cookies: bigint[]): FdLink {
    const what = `to ${binary}+${offsets.map((o) => `0x${o.toString(16)}`).join(',')} (uprobe session)`;
    const fd = linkCreateUprobeMulti(this.fd, BPF_TRACE_UPROBE_SESSION, binary, offsets, cookies);
    if (fd < 0) fail(`${this.objectName}: attach ${this.name} ${what}`, -fd);
    return new FdLink(fd, `${this.name} ${what}`);
  }

  attachKprobe(retprobe: boolean, func: string): BpfLink {
    const take = captureLog();
    return this.linkOrFail(libbpf.program_attach_kprobe(this.ptr, retprobe, func), `to ${func}`, take);
  }
}

export class BpfMap {
  constructor(
    private readonly ptr: Ptr,
    readonly objectName: string,
  ) {}

  get name(): string {
    return libbpf.map_name(this.ptr) as string;
  }
  get fd(): number {
    return libbpf.map_fd(this.ptr) as number;
  }
  get maxEntries(): number {
    return libbpf.map_max_entries(this.ptr) as number;
  }
  get valueSize(): number {
    return libbpf.map_value_size(this.ptr) as number;
  }

  setMaxEntries(n: number): void {
    const err = libbpf.map_set_max_entries(this.ptr, n) as number;
    if (err) fail(`${this.objectName}: map ${this.name}: set max_entries ${n}`, -err);
  }

  /** Before load: keep the map in bpffs at path; a map pinned there already (an earlier agent's) is used instead of a new one. */
  setPinPath(path: string): void {
    const err = libbpf.map_set_pin_path(this.ptr, path) as number;
    if (err) fail(`${this.objectName}: map ${this.name}: pin path ${path}`, -err);
  }

  /** Share another object's map (same definition) instead of creating one. */
  reuseFd(fd: number): void {
    const err = libbpf.map_reuse_fd(this.ptr, fd) as number;
    if (err) fail(`${this.objectName}: map ${this.name}: reuse fd ${fd}`, -err);
  }

  /** Before load: the initial value of a global-data map (.rodata, .bss), writable in place. */
  initialValue(): Uint8Array {
    const size = [0];
    const p = libbpf.map_initial_value(this.ptr, size);
    if (isNull(p)) fail(`${this.objectName}: map ${this.name}: no initial value`, errno() || 22);
    return new Uint8Array(view(p, size[0]!));
  }

  lookup(key: Uint8Array, value: Uint8Array): boolean {
    const err = libbpf.map_lookup_elem(this.fd, key, value) as number;
    if (err === 0) return true;
    if (err === -2) return false; // ENOENT
    fail(`map ${this.name}: lookup`, -err);
  }

  update(key: Uint8Array, value: Uint8Array, flags = 0): void {
    const err = libbpf.map_update_elem(this.fd, key, value, flags) as number;
    if (err) fail(`map ${this.name}: update`, -err);
  }

  delete(key: Uint8Array): boolean {
    const err = libbpf.map_delete_elem(this.fd, key) as number;
    if (err === 0) return true;
    if (err === -2) return false;
    fail(`map ${this.name}: delete`, -err);
  }

  /** Every key, as copies (a map that changes meanwhile may skip or repeat some). */
  keys(keySize: number): Uint8Array[] {
    const out: Uint8Array[] = [];
    let prev: Uint8Array | null = null;
    for (;;) {
      const next = new Uint8Array(keySize);
      const err = libbpf.map_get_next_key(this.fd, prev, next) as number;
      if (err === -2) return out; // ENOENT: the end
      if (err) fail(`map ${this.name}: next key`, -err);
      out.push(next);
      prev = next;
    }
  }
}

/** A `const volatile` variable's place in .rodata, from the object's BTF. */
export interface GlobalVar {
  offset: number;
  size: number;
}

const BTF_KIND_DATASEC = 15;

export class BpfObject {
  private ptr: Ptr | null;
  readonly name: string;

  private constructor(ptr: Ptr, readonly path: string) {
    this.ptr = ptr;
    this.name = path.split('/').pop() ?? path;
  }

  static open(path: string): BpfObject {
    const take = captureLog();
    const ptr = libbpf.object_open_file(path, null);
    if (isNull(ptr)) fail(`open BPF object ${path}`, errno(), take());
    return new BpfObject(ptr, path);
  }

  private get handle(): Ptr {
    if (this.ptr === null) throw new BustedError(ErrorCode.BPF, `${this.name}: used after close`);
    return this.ptr;
  }

  map(name: string): BpfMap {
    const p = libbpf.object_find_map(this.handle, name);
    if (isNull(p)) throw new BustedError(ErrorCode.BPF, `${this.name}: no map named "${name}"`);
    return new BpfMap(p, this.name);
  }

  hasMap(name: string): boolean {
    return !isNull(libbpf.object_find_map(this.handle, name));
  }

  program(name: string): BpfProgram {
    const p = libbpf.object_find_program(this.handle, name);
    if (isNull(p)) throw new BustedError(ErrorCode.BPF, `${this.name}: no program named "${name}"`);
    return new BpfProgram(p, this.name);
  }

  programs(): BpfProgram[] {
    const out: BpfProgram[] = [];
    let p = libbpf.object_next_program(this.handle, null);
    while (!isNull(p)) {
      out.push(new BpfProgram(p, this.name));
      p = libbpf.object_next_program(this.handle, p);
    }
    return out;
  }

  maps(): BpfMap[] {
    const out: BpfMap[] = [];
    let p = libbpf.object_next_map(this.handle, null);
    while (!isNull(p)) {
      out.push(new BpfMap(p, this.name));
      p = libbpf.object_next_map(this.handle, p);
    }
    return out;
  }

  /** The variables of a data section (".rodata"), read from the object's BTF. */
  globals(section = '.rodata'): Map<string, GlobalVar> {
    const btf = libbpf.object_btf(this.handle);
    const out = new Map<string, GlobalVar>();
    if (isNull(btf)) return out;
    const id = libbpf.btf_find_by_name_kind(btf, section, BTF_KIND_DATASEC) as number;
    if (id <= 0) return out;
    const t = libbpf.btf_type_by_id(btf, id);
    // struct btf_type { u32 name_off; u32 info; u32 size; } then vlen ×
    // struct btf_var_secinfo { u32 type; u32 offset; u32 size; }
    // (include/uapi/linux/btf.h). vlen is info's low 16 bits.
    const [, info] = readU32sAt(t, 0, 2) as [number, number];
    const vlen = info & 0xffff;
    const secinfo = readU32sAt(t, 12, vlen * 3);
    for (let i = 0; i < vlen; i++) {
      const varType = libbpf.btf_type_by_id(btf, secinfo[i * 3]!);
      const [nameOff] = readU32sAt(varType, 0, 1) as [number];
      const name = libbpf.btf_name_by_offset(btf, nameOff) as string;
      out.set(name, { offset: secinfo[i * 3 + 1]!, size: secinfo[i * 3 + 2]! });
    }
    return out;
  }

  /** Set `const volatile` settings before load. Unknown names are an error. */
  setRodata(values: Record<string, number | bigint>): void {
    const names = Object.keys(values);
    if (names.length === 0) return;
    const vars = this.globals('.rodata');
    const mem = this.map(this.rodataMapName()).initialValue();
    const dv = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
    for (const name of names) {
      const v = vars.get(name);
      if (!v) throw new BustedError(ErrorCode.BPF, `${this.name}: no setting "${name}" in .rodata`);
      const val = values[name]!;
      switch (v.size) {
        case 1: dv.setUint8(v.offset, Number(val)); break;
        case 2: dv.setUint16(v.offset, Number(val), true); break;
        case 4: dv.setUint32(v.offset, Number(val), true); break;
        case 8: dv.setBigUint64(v.offset, BigInt(val), true); break;
        default: throw new BustedError(ErrorCode.BPF, `${this.name}: setting "${name}" has size ${v.size}`);
      }
    }
  }

  /** libbpf names the map "<obj-name-prefix>.rodata"; find it by suffix. */
  private rodataMapName(): string {
    const m = this.maps().find((x) => x.name.endsWith('.rodata'));
    if (!m) throw new BustedError(ErrorCode.BPF, `${this.name}: no .rodata map`);
    return m.name;
  }

  load(): void {
    const take = captureLog();
    // the verifier gives up (EAGAIN) when a signal is pending: a profiler's
    // SIGPROF (node --cpu-prof: every millisecond) would make every big
    // program fail to load, so it waits, blocked, until the load is done
    const old = blockSignal(SIGPROF);
    let err: number;
    try {
      err = libbpf.object_load(this.handle) as number;
    } finally {
      restoreSignals(old);
    }
    if (err) fail(`load ${this.name}`, -err, take());
  }

  close(): void {
    if (this.ptr === null) return;
    libbpf.object_close(this.ptr);
    this.ptr = null;
  }
}

// ---- signals ----------------------------------------------------------------

const SIGPROF = 27;
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** glibc's sigset_t: 1024 bits */
const SIGSET_BYTES = 128;

/** Block SIG for this thread; the mask before, for restoreSignals (undefined: not changed). */
function blockSignal(sig: number): Uint8Array | undefined {
  const set = new Uint8Array(SIGSET_BYTES);
  set[(sig - 1) >> 3] = 1 << ((sig - 1) & 7);
  const old = new Uint8Array(SIGSET_BYTES);
  return (c.pthread_sigmask(SIG_BLOCK, set, old) as number) === 0 ? old : undefined;
}

function restoreSignals(old: Uint8Array | undefined): void {
  if (old) c.pthread_sigmask(SIG_SETMASK, old, null);
}

// ---- cgroups --------------------------------------------------------------

export function openDir(path: string): number {
  const fd = c.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) as number;
  if (fd < 0) fail(`open ${path}`, errno());
  return fd;
}

export function closeFd(fd: number): void {
  if (fd >= 0) c.close(fd);
}

// ---- ring buffer -----------------------------------------------------------

/** mmap(2) reports failure as MAP_FAILED, (void *)-1, not NULL. */
function mapFailed(p: Ptr): boolean {
  return isNull(p) || address(p) === 0xffffffffffffffffn;
}

const PAGE = 4096;

/** How a RingBuffer hears of new records (RingBuffer.wake). */
export type RingWake = 'loop' | 'worker';

/**
 * A BPF ring buffer map, mapped into this process and read without copies.
 * The event loop never blocks: libuv's own epoll watches the ring (a poll
 * handle on the main thread's loop), or, where that is not to be had, a
 * libuv worker thread waits in epoll_wait (koffi's async call) and the
 * loop hears of it from that thread, one wake-up later. Records are handed
 * out in batches across event-loop turns.
 */
export class RingBuffer {
  private readonly reader: RingReader;
  private readonly epfd: number;
  private readonly consumerPtr: Ptr;
  private readonly producerPtr: Ptr;
  private readonly dataSize: number;
  private readonly evbuf = new Uint8Array(12 * 4);
  private running = false;
  private waiting = false;
  private closed = false;
  private onIdle: (() => void) | undefined;

  private readonly batch: number;
  private readonly pollMs: number;

  constructor(
    private readonly mapFd: number,
    size: number,
    private readonly handler: RecordHandler,
    o: { batch?: number; pollMs?: number; wake?: RingWake } = {},
  ) {
    // BUSTED_RING_WAKE=worker: the worker thread's wait even where the loop could watch the ring
    this.wakeOn = o.wake ?? (process.env.BUSTED_RING_WAKE === 'worker' ? 'worker' : 'loop');
    this.batch = o.batch ?? 8192;
    // 0 means "woken for every record": still wait with a bound, so close() is noticed.
    this.pollMs = o.pollMs || 250;
    this.dataSize = size;
    const cons = c.mmap(null, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
    if (mapFailed(cons)) fail('mmap ring buffer consumer page', errno());
    // The producer page and the data area. The kernel lays the data out
    // twice in a row (kernel/bpf/ringbuf.c: bpf_ringbuf_area_alloc) for
    // readers that want wrapping records contiguous; RingReader joins
    // those itself, so the data is mapped once (the second copy counted
    // the ring twice in the agent's RSS).
    const prod = c.mmap(null, PAGE + size, PROT_READ, MAP_SHARED, mapFd, PAGE);
    if (mapFailed(prod)) {
      c.munmap(cons, PAGE);
      fail('mmap ring buffer data', errno());
    }
    this.consumerPtr = cons;
    this.producerPtr = prod;
    const prodMem = view(prod, PAGE + size);
    this.reader = new RingReader({
      consumer: new BigUint64Array(view(cons, 8)),
      producer: new BigUint64Array(prodMem, 0, 1),
      data: new DataView(prodMem, PAGE, size),
      size,
    });
    this.epfd = c.epoll_create1(EPOLL_CLOEXEC) as number;
    if (this.epfd < 0) fail('epoll_create1', errno());
    const ev = new Uint8Array(12);
    new DataView(ev.buffer).setUint32(0, EPOLLIN, true);
    if ((c.epoll_ctl(this.epfd, EPOLL_CTL_ADD, mapFd, ev) as number) < 0) fail('epoll_ctl ring buffer', errno());
  }

  /** Records handed out so far. */
  records = 0;

  /** Drain what is there now, synchronously (tests and benchmarks). */
  drainNow(max = Infinity): number {
    const n = this.reader.drain(this.handler, max);
    this.records += n;
    return n;
  }

  pendingBytes(): number {
    return this.reader.pending();
  }

  /** Consume continuously until close(). */
  start(): void {
    if (this.running) return;
    this.running = true;
    // woken on the loop's own thread where libuv lets us; else by a worker in epoll_wait (wait())
    if (this.wakeOn === 'loop') this.watch = uvPollReadable(this.mapFd, this.readable);
    if (this.watch) {
      // records the kernel did not wake us for (wakeup_bytes) are drained on a timer
      this.timer = setInterval(this.readable, this.pollMs);
      this.timer.unref();
    }
    this.pump();
  }

  private readonly wakeOn: RingWake;

  /** How the consumer hears of new records: libuv's loop watches the ring, or a worker thread waits on it. */
  get wake(): RingWake {
    return this.watch ? 'loop' : 'worker';
  }

  /** libuv's watcher of the ring, when there is one (ffi.ts uvPollReadable) */
  private watch: { stop(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pumpQueued = false;
  /** the ring is readable (or the timer ran): drain it on this turn's check phase, inside node's callback scope */
  private readonly readable = (): void => {
    if (this.pumpQueued || this.closed) return;
    this.pumpQueued = true;
    setImmediate(this.queuedPump);
  };
  private readonly queuedPump = (): void => {
    this.pumpQueued = false;
    this.pump();
  };

  /** Resolves the next time the ring is found empty (all records so far handed out). */
  idle(): Promise<void> {
    return new Promise((resolve) => {
      const prev = this.onIdle;
      this.onIdle = () => {
        prev?.();
        resolve();
      };
      // look now: whoever asks (a held process waiting to be let go) should
      // not wait for the next wake-up or poll; a wait in flight is harmless
      // (pump does not start a second one)
      if (!this.running) this.pump();
      else setImmediate(this.pump);
    });
  }

  private pump = (): void => {
    if (this.closed) return;
    const n = this.drainNow(this.batch);
    if (n === this.batch) {
      // More may be waiting: continue on the next turn, letting I/O run.
      setImmediate(this.pump);
      return;
    }
    const idle = this.onIdle;
    this.onIdle = undefined;
    idle?.();
    if (this.running && !this.waiting && !this.watch) this.wait();
  };

  private wait(): void {
    this.waiting = true;
    // A bounded wait: records the kernel did not wake us for (wakeup_bytes)
    // are drained when it times out, and close() is noticed.
    epollWaitAsync(this.epfd, this.evbuf, 4, this.pollMs, () => {
      this.waiting = false;
      if (this.closed) {
        this.release();
        return;
      }
      this.pump();
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.running = false;
    if (this.watch) {
      this.watch.stop(); // (out of libuv's epoll set before the descriptor is closed)
      this.watch = undefined;
      clearInterval(this.timer);
    }
    // A worker thread may still be inside epoll_wait on our fd: release the
    // memory and the fd when it returns.
    if (!this.waiting) this.release();
  }

  private released = false;
  private release(): void {
    if (this.released) return;
    this.released = true;
    c.munmap(this.consumerPtr, PAGE);
    c.munmap(this.producerPtr, PAGE + this.dataSize);
    c.close(this.epfd);
  }
}
