/**
 * Typed access to the enforcement maps (bpf/enforce.bpf.h) for the engine:
 * it writes what the kernel's hooks look up — names, destinations,
 * program images, verdicts, blocked sockets, TLS verdicts — and reads what
 * the hooks keep (held threads, process images). Layouts come from
 * wire.generated.ts, like the decoder's.
 */
import { BustedError, ErrorCode } from '../model/errors.js';
import type { BpfMap } from './libbpf.js';
import { tlsKey, u64key, type EnforceMapName, type KernelSession } from './loader.js';
import * as W from './wire.generated.js';
import type { ExeKey } from '../decode/records.js';

/**
 * How a gated TLS write is held (`--hold-writes`), as the kernel is told:
 * `auto`, a terminal's process in the packet hook (its shell would take a
 * stop for the job's) and every other by stopping its thread; `packets`,
 * every write that can be (copied whole, its socket known) in the packet
 * hook; `stop`, every write by stopping its thread. (The enforcer tells the
 * kernel `packets` for the command line's `auto` where it can push held
 * senders: Enforcer.holdWrites.)
 */
export type HoldWrites = 'auto' | 'stop' | 'packets';
export type TlsVerdict = 'capture' | 'skip' | 'gate' | 'block';

const TLS_VERDICTS: Record<TlsVerdict, number> = {
  capture: W.BUSTED_TLS_CAPTURE,
  skip: W.BUSTED_TLS_SKIP,
  gate: W.BUSTED_TLS_GATE,
  block: W.BUSTED_TLS_BLOCK,
};

export interface VerdictMasks {
  block: bigint;
  audit: bigint;
}

export interface HeldThread {
  tid: number;
  pid: number;
  ssl: string;
  callId: string;
  sinceNs: number;
  /** its SIGSTOP was queued when the hold was recorded (BUSTED_HELD_STOP_QUEUED) */
  stopQueued: boolean;
}

/** Thread TID's `held` entry (struct busted_held) as V holds it. */
function heldThread(tid: number, v: Uint8Array): HeldThread {
  const dv = new DataView(v.buffer, v.byteOffset, v.byteLength);
  return {
    tid,
    pid: dv.getUint32(W.HELD.pid, true),
    ssl: dv.getBigUint64(W.HELD.ssl, true).toString(16),
    callId: dv.getBigUint64(W.HELD.call_id, true).toString(16),
    sinceNs: Number(dv.getBigUint64(W.HELD.since_ns, true)),
    stopQueued: (dv.getUint32(W.HELD.flags, true) & W.BUSTED_HELD_STOP_QUEUED) !== 0,
  };
}

function u32key(v: number): Uint8Array {
  const k = new Uint8Array(4);
  new DataView(k.buffer).setUint32(0, v, true);
  return k;
}

/** The 16-byte address field: IPv4 in the first 4 bytes. */
function addr16(bytes: Uint8Array): Uint8Array {
  const a = new Uint8Array(16);
  a.set(bytes.subarray(0, 16));
  return a;
}

export class EnforceMaps {
  private readonly maps = new Map<EnforceMapName, BpfMap>();

  constructor(private readonly kernel: KernelSession) {}

  private map(name: EnforceMapName): BpfMap {
    let m = this.maps.get(name);
    if (!m) {
      m = this.kernel.enforceMap(name);
      if (!m) throw new BustedError(ErrorCode.BPF, `enforcement map ${name} is not loaded (no object of the session has it)`);
      this.maps.set(name, m);
    }
    return m;
  }

  // ---- configuration --------------------------------------------------------

  /** What every hook reads at run time; heartbeat is bpf_ktime_get_ns() of now (CLOCK_MONOTONIC). */
  setConfig(c: { enforce: boolean; gate: boolean; perImage: boolean; holdNames: boolean; holdExec?: boolean; holdWrites?: HoldWrites; gateClasses: bigint; heartbeatNs: bigint }): void {
    const v = new Uint8Array(W.ENFORCE_CFG.size);
    const dv = new DataView(v.buffer);
    dv.setBigUint64(W.ENFORCE_CFG.gate_classes, c.gateClasses, true);
    dv.setBigUint64(W.ENFORCE_CFG.heartbeat_ns, c.heartbeatNs, true);
    dv.setUint32(W.ENFORCE_CFG.flags, (c.enforce ? W.BUSTED_CFG_ENFORCE : 0) | (c.gate ? W.BUSTED_CFG_GATE : 0) | (c.perImage ? W.BUSTED_CFG_PER_IMAGE : 0) | (c.holdNames ? W.BUSTED_CFG_HOLD_NAMES : 0) | (c.holdExec ? W.BUSTED_CFG_HOLD_EXEC : 0) | (c.holdWrites === 'packets' ? W.BUSTED_CFG_HOLD_PACKETS : c.holdWrites === 'stop' ? W.BUSTED_CFG_HOLD_STOP : 0), true);
    this.map('enforce_cfg').update(u32key(0), v);
  }

  // ---- names and destinations -------------------------------------------------

  /** A name's class (0: none; `decided` marks a name the engine has decided on, so its answers are not held). */
  putName(hash: bigint, klass: number, match: 'exact' | 'suffix', decided = true): void {
    const v = new Uint8Array(W.NAME_VALUE.size);
    const dv = new DataView(v.buffer);
    dv.setUint32(W.NAME_VALUE.klass, klass, true);
    dv.setUint32(W.NAME_VALUE.flags, (match === 'exact' ? W.BUSTED_NAME_EXACT : W.BUSTED_NAME_SUFFIX) | (decided ? W.BUSTED_NAME_KNOWN : 0), true);
    this.map('names').update(u64key(hash), v);
  }

  deleteName(hash: bigint): void {
    this.map('names').delete(u64key(hash));
  }

  private destKey(image: bigint, family: 4 | 6, bytes: Uint8Array): Uint8Array {
    const k = new Uint8Array(W.DEST_KEY.size);
    const dv = new DataView(k.buffer);
    dv.setBigUint64(W.DEST_KEY.image, image, true);
    dv.setUint32(W.DEST_KEY.family, family, true);
    k.set(addr16(bytes), W.DEST_KEY.addr);
    return k;
  }

  /** An address's class, for one program image (hex) or everyone ('0'). */
  putDest(image: string, family: 4 | 6, bytes: Uint8Array, klass: number, source: 'dns' | 'static', nowNs: bigint): void {
    const v = new Uint8Array(W.DEST_VALUE.size);
    const dv = new DataView(v.buffer);
    dv.setUint32(W.DEST_VALUE.klass, klass, true);
    dv.setUint32(W.DEST_VALUE.source, source === 'dns' ? W.BUSTED_DEST_DNS : W.BUSTED_DEST_STATIC, true);
    dv.setBigUint64(W.DEST_VALUE.learnt_ns, nowNs, true);
    this.map('dest').update(this.destKey(BigInt(`0x${image}`), family, bytes), v);
  }

  /** The class the kernel has for an address (the image's own entry first), or 0. */
  destClass(image: string, family: 4 | 6, bytes: Uint8Array): number {
    const v = new Uint8Array(W.DEST_VALUE.size);
    for (const i of image !== '0' ? [BigInt(`0x${image}`), 0n] : [0n]) {
      if (this.map('dest').lookup(this.destKey(i, family, bytes), v)) return new DataView(v.buffer).getUint32(W.DEST_VALUE.klass, true);
    }
    return 0;
  }

  /** Remove every destination of one class (the refused hosts, when the policy changes); returns how many. */
  deleteDestClass(klass: number): number {
    const m = this.map('dest');
    const v = new Uint8Array(W.DEST_VALUE.size);
    let n = 0;
    for (const k of m.keys(W.DEST_KEY.size)) {
      if (m.lookup(k, v) && new DataView(v.buffer).getUint32(W.DEST_VALUE.klass, true) === klass && m.delete(k)) n++;
    }
    return n;
  }

  /** A published range (network bytes, prefix bits); IPv4 is kept as ::ffff:a.b.c.d. */
  putRange(family: 4 | 6, bytes: Uint8Array, bits: number, klass: number): void {
    const k = new Uint8Array(W.LPM_KEY.size);
    const dv = new DataView(k.buffer);
    if (family === 4) {
      k[W.LPM_KEY.addr + 10] = 0xff;
      k[W.LPM_KEY.addr + 11] = 0xff;
      k.set(bytes.subarray(0, 4), W.LPM_KEY.addr + 12);
      dv.setUint32(W.LPM_KEY.prefixlen, 96 + bits, true);
    } else {
      k.set(bytes.subarray(0, 16), W.LPM_KEY.addr);
      dv.setUint32(W.LPM_KEY.prefixlen, bits, true);
    }
    const v = new Uint8Array(W.DEST_VALUE.size);
    const vv = new DataView(v.buffer);
    vv.setUint32(W.DEST_VALUE.klass, klass, true);
    vv.setUint32(W.DEST_VALUE.source, W.BUSTED_DEST_STATIC, true);
    this.map('dest_static').update(k, v);
  }

  // ---- processes and verdicts ---------------------------------------------------

  /** Seed a process the kernel saw no exec of (it predates the agent); an entry the kernel made wins. */
  seedProc(tgid: number, image: bigint, cgroupId: bigint, uid: number): boolean {
    const v = new Uint8Array(W.PROC_VALUE.size);
    const dv = new DataView(v.buffer);
    dv.setBigUint64(W.PROC_VALUE.image, image, true);
    dv.setBigUint64(W.PROC_VALUE.cgroup_id, cgroupId, true);
    dv.setUint32(W.PROC_VALUE.uid, uid, true);
    try {
      this.map('procs').update(u32key(tgid), v, 1 /* BPF_NOEXIST */);
    } catch {
      return false; // EEXIST: the kernel was first
    }
    // one process runs it: its exit takes the image's verdict along (proc.bpf.c)
    const one = new Uint8Array(8);
    new DataView(one.buffer).setBigInt64(0, 1n, true);
    this.map('image_refs').update(u64key(image), one);
    return true;
  }

  /** The image a process runs, as the kernel keeps it (hex), or undefined. */
  procImage(tgid: number): string | undefined {
    const v = new Uint8Array(W.PROC_VALUE.size);
    if (!this.map('procs').lookup(u32key(tgid), v)) return undefined;
    return new DataView(v.buffer).getBigUint64(W.PROC_VALUE.image, true).toString(16);
  }

  /** Every image some process runs now. */
  liveImages(): Set<string> {
    const out = new Set<string>();
    const m = this.map('procs');
    const v = new Uint8Array(W.PROC_VALUE.size);
    for (const k of m.keys(4)) if (m.lookup(k, v)) out.add(new DataView(v.buffer).getBigUint64(W.PROC_VALUE.image, true).toString(16));
    return out;
  }

  private verdictValue(m: VerdictMasks): Uint8Array {
    const v = new Uint8Array(W.VERDICT.size);
    const dv = new DataView(v.buffer);
    dv.setBigUint64(W.VERDICT.block, m.block, true);
    dv.setBigUint64(W.VERDICT.audit, m.audit, true);
    return v;
  }

  putImageVerdict(image: string, m: VerdictMasks): void {
    this.map('image_verdicts').update(u64key(BigInt(`0x${image}`)), this.verdictValue(m));
  }

  /** How many images have a verdict in the kernel now. */
  imageVerdictCount(): number {
    return this.map('image_verdicts').keys(8).length;
  }

  deleteImageVerdict(image: string): void {
    this.map('image_verdicts').delete(u64key(BigInt(`0x${image}`)));
  }

  /** cgroup id 0 is the default verdict. */
  putCgroupVerdict(cgroupId: bigint, m: VerdictMasks): void {
    this.map('cgroup_verdicts').update(u64key(cgroupId), this.verdictValue(m));
  }

  // ---- TLS and sockets ------------------------------------------------------------

  setTlsVerdict(pid: number, sslHex: string, verdict: TlsVerdict): void {
    this.map('tls_verdicts').update(tlsKey(pid, sslHex), u32key(TLS_VERDICTS[verdict]));
  }

  /** Drop this socket's packets from now on (pkt.bpf.c). */
  blockSocket(cookie: bigint): void {
    this.map('blocked_socks').update(u64key(cookie), u32key(0));
  }

  /**
   * Let a socket's writes held in the packet hook go, up to hold number N
   * (tls.bpf.c hold_in_packets counts them in pkt_holds; pkt.bpf.c
   * pkt_held drops while one is ahead of pkt_released). False when the
   * map refused.
   */
  releasePktHolds(cookie: bigint, n: number): boolean {
    try {
      this.map('pkt_released').update(u64key(cookie), u32key(n >>> 0));
      return true;
    } catch {
      return false;
    }
  }

  private readonly pktValue = new Uint8Array(4);

  /** How many writes of a socket the kernel held in the packet hook, when the engine has not let them all go; else undefined. */
  pktHoldsAhead(cookie: bigint): number | undefined {
    const v = this.pktValue;
    const dv = new DataView(v.buffer);
    if (!this.map('pkt_holds').lookup(u64key(cookie), v)) return undefined;
    const n = dv.getUint32(0, true);
    const r = this.map('pkt_released').lookup(u64key(cookie), v) ? dv.getUint32(0, true) : 0;
    return ((n - r) | 0) > 0 ? n : undefined;
  }

  /** A socket done with (destroyed): its packet hook holds forgotten. */
  forgetPktHolds(cookie: bigint): void {
    this.map('pkt_released').delete(u64key(cookie));
    this.map('pkt_holds').delete(u64key(cookie));
  }

  /** This thread's next packet out blocks its socket (its TLS connection's socket was not known). */
  blockThread(tid: number, pid: number): void {
    this.map('blocked_tids').update(u32key(tid), u32key(pid));
  }

  /** Threads stopped at a gated write, as the kernel recorded them. */
  heldThreads(): HeldThread[] {
    const m = this.map('held');
    const v = new Uint8Array(W.HELD.size);
    const out: HeldThread[] = [];
    for (const k of m.keys(4)) {
      if (m.lookup(k, v)) out.push(heldThread(new DataView(k.buffer).getUint32(0, true), v));
    }
    return out;
  }

  private readonly heldValue = new Uint8Array(W.HELD.size);

  /**
   * Thread TID is held for CALL_ID and the kernel queued its SIGSTOP when it
   * recorded the hold (enforce.bpf.h hold_this_thread): one lookup of its
   * entry, where reading the thread's /proc stat costs ten times as much.
   * False when the kernel could not say (its signal went out later).
   */
  stopQueued(tid: number, callId: string): boolean {
    if (!this.map('held').lookup(u32key(tid), this.heldValue)) return false;
    const h = heldThread(tid, this.heldValue);
    return h.stopQueued && h.callId === callId;
  }

  /** The held map's descriptor (handed to the guard, engine/enforce/guard.c). */
  heldFd(): number {
    return this.map('held').fd;
  }

  releaseHeld(tid: number): void {
    this.map('held').delete(u32key(tid));
  }

  // ---- executables ----------------------------------------------------------------

  private exeKey(k: ExeKey): Uint8Array {
    const v = new Uint8Array(W.EXE_KEY.size);
    const dv = new DataView(v.buffer);
    dv.setBigUint64(W.EXE_KEY.ino, k.ino, true);
    dv.setBigUint64(W.EXE_KEY.ctime_ns, k.ctimeNs, true);
    dv.setUint32(W.EXE_KEY.dev, k.dev, true);
    return v;
  }

  /** The engine knows this file's hash: its execs are not held (proc.bpf.c exe_hashed). */
  putExeHashed(k: ExeKey): void {
    this.map('exe_hashed').update(this.exeKey(k), Uint8Array.of(1));
  }

  /** Forget every file hashed (a new engine, whose hashes are not those a pinned map remembers). */
  clearExeHashed(): void {
    const m = this.map('exe_hashed');
    for (const k of m.keys(W.EXE_KEY.size)) m.delete(k);
  }
}
