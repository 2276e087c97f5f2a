/**
 * Stage 2: who is behind a pid. Exec records from the kernel keep the
 * cache fresh (so a process that exits at once is still named); /proc fills
 * in processes that were running before the agent started. Exited
 * processes are kept a while, because their last connection's close and
 * packets can arrive after their exit record.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Ancestor, ProcessInfo } from '../model/event.js';
import type { ExecRecord, ExeKey, TaskRecord } from '../decode/records.js';
import { exeKeyOf, type ExeHasher } from '../host/exe-hash.js';
import { type ContainerInfo, containerFromCgroupPath, parseProcCgroup } from './container.js';
import { redactText } from '../redact.js';

/** process.ancestors: how many */
const MAX_ANCESTORS = 4;

/** How long a cgroup path read for a cgroup id names later processes of that id (a cgroup can be renamed). */
const CGROUP_PATH_TTL_MS = 10_000;

export interface ProcessEntry {
  pid: number;
  ppid?: number;
  uid?: number;
  gid?: number;
  comm?: string;
  exe?: string;
  cmdline?: string;
  cgroupId?: number;
  cgroupPath?: string;
  exitedAt?: number;
  /** the executable's file (its exec record's, else /proc/PID/exe's), and its SHA-256 once hashed (exe-hash.ts) */
  exeKey?: ExeKey;
  exeSha256?: string;
  /** its hash was asked for (once per entry: a file that cannot be read is not tried on every event) */
  hashAsked?: boolean;
}

export interface ProcessCacheOptions {
  /** where proc is mounted (tests point it elsewhere) */
  procRoot?: string;
  /** where cgroup2 is mounted, to name cgroup ids */
  cgroupRoot?: string;
  /** how long an exited process is remembered, ms */
  exitedTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
  /** replace credentials in command lines (default true; --no-redact turns it off) */
  redact?: boolean;
  /** hashes executables (process.exe_sha256) while `hashExe` is on */
  hasher?: ExeHasher;
}

/** The container and pod a cgroup path names, as the contract's process fields. */
function containerFields(p: ProcessInfo, c: ContainerInfo): void {
  if (c.container_id) p.container_id = c.container_id;
  if (c.container_runtime) p.container_runtime = c.container_runtime;
  if (c.pod_uid) {
    p.pod_uid = c.pod_uid;
    p.pod = c.qos_class ? { uid: c.pod_uid, qos_class: c.qos_class } : { uid: c.pod_uid };
  }
}

export class ProcessCache {
  private readonly entries = new Map<number, ProcessEntry>();
  /** exited entries, in the order they exited (sweep) */
  private readonly exits = new Map<number, ProcessEntry>();
  /** the last ProcessInfo handed out per pid, with the task fields it was made from */
  private readonly infos = new Map<number, TaskRecord & { info: ProcessInfo }>();
  private readonly keysByPid = new Map<number, Set<number>>();
  private readonly containers = new Map<string, ContainerInfo>();
  private readonly cgroupNames = new Map<number, string>();
  /** cgroup paths of new processes by cgroup id, and when /proc said so (cgroupPathOf) */
  private readonly learnt = new Map<number, { path: string; at: number }>();
  private cgroupScanAt = -Infinity;
  private readonly procRoot: string;
  private readonly cgroupRoot: string | undefined;
  private readonly exitedTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly clean: (s: string) => string;

  /** executables are hashed (process.exe_sha256): a policy reads the hash, or --exe-hash */
  hashExe = false;
  private readonly hasher: ExeHasher | undefined;
  /** told when a process's executable's hash arrives after its events began (its infos are made afresh) */
  onExeHashed?: (pid: number, sha256: string) => void;

  constructor(o: ProcessCacheOptions = {}) {
    this.hasher = o.hasher;
    this.clean = o.redact === false ? (s) => s : redactText;
    this.procRoot = o.procRoot ?? '/proc';
    this.cgroupRoot = o.cgroupRoot;
    this.exitedTtlMs = o.exitedTtlMs ?? 30_000;
    this.maxEntries = o.maxEntries ?? 32768;
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** A new program image: what the kernel said at exec time wins over /proc. */
  onExec(r: ExecRecord): ProcessEntry {
    const e: ProcessEntry = {
      pid: r.task.pid,
      ppid: r.task.ppid,
      uid: r.task.uid,
      gid: r.task.gid,
      comm: r.task.comm,
      exe: r.filename.startsWith('/') ? r.filename : (this.readExe(r.task.pid) ?? r.filename),
      cmdline: this.clean(r.argv.join(' ') + (r.argsTruncated ? ' …' : '')),
      cgroupId: r.task.cgroupId,
    };
    if (r.exe) e.exeKey = r.exe;
    e.cgroupPath = this.cgroupPathOf(e.pid, e.cgroupId);
    this.put(e);
    this.forgetInfos(e.pid);
    return e;
  }

  /**
   * When E's executable's hash is being read (a file new to the hasher),
   * the promise of it; undefined when it is known already, or not wanted.
   * For an exec record R, before onExec: the process it stopped waits for
   * its hash (enforce, BUSTED_EXEC_HELD).
   */
  exeHashWait(r: ExecRecord): Promise<unknown> | undefined {
    if (!this.hashExe || !this.hasher || !r.exe || this.hasher.get(r.exe) !== undefined) return undefined;
    return this.hasher.hash(r.exe, this.exePaths(r.task.pid, r.filename));
  }

  /** Where PID's executable is read: /proc/PID/exe, else PATH when absolute (the hasher checks it is the same file). */
  private exePaths(pid: number, path: string | undefined): string[] {
    return [join(this.procRoot, String(pid), 'exe'), ...(path?.startsWith('/') ? [path] : [])];
  }

  /** PID's executable's hash when it is known (asked for now when hashing is on and it was not yet). */
  exeSha256Of(pid: number): string | undefined {
    const e = this.get(pid);
    this.askHash(e);
    return e.exeSha256;
  }

  /** E's hash, when hashing is on and it was not asked for yet: at once when the hasher knows its file, else when it has read it (its infos are then made afresh). */
  private askHash(e: ProcessEntry): void {
    if (!this.hashExe || !this.hasher || e.exeSha256 !== undefined || e.hashAsked) return;
    e.hashAsked = true;
    e.exeKey ??= exeKeyOf(join(this.procRoot, String(e.pid), 'exe'));
    const k = e.exeKey;
    if (!k) return;
    const known = this.hasher.get(k);
    if (known !== undefined) {
      e.exeSha256 = known;
      return;
    }
    void this.hasher.hash(k, this.exePaths(e.pid, e.exe)).then((hash) => {
      // still the process that ran that file (not another exec since, nor another process of the pid)
      if (hash === undefined || this.entries.get(e.pid) !== e) return;
      e.exeSha256 = hash;
      this.forgetInfos(e.pid);
      this.onExeHashed?.(e.pid, hash);
    });
  }

  onExit(pid: number): void {
    this.forgetInfos(pid);
    const e = this.entries.get(pid);
    const t = this.now();
    if (e) {
      e.exitedAt = t;
      this.exits.delete(pid);
      this.exits.set(pid, e);
    }
    this.sweep(t);
  }

  /** The kernel reported the process's exit (and no exec of that pid since). */
  exited(pid: number): boolean {
    return this.entries.get(pid)?.exitedAt !== undefined;
  }

  /** The entry for a pid: cached, else read from /proc (once). */
  get(pid: number, task?: TaskRecord): ProcessEntry {
    let e = this.entries.get(pid);
    if (e) return e;
    e = this.readProc(pid) ?? { pid };
    // The kernel's view fills what /proc no longer has (the process exited).
    if (task && task.flags & 1) {
      e.comm ??= task.comm;
      e.uid ??= task.uid;
      e.gid ??= task.gid;
      if (task.ppid) e.ppid ??= task.ppid;
    }
    if (task?.cgroupId) e.cgroupId ??= task.cgroupId;
    if (!e.cgroupPath && e.cgroupId) e.cgroupPath = this.cgroupName(e.cgroupId);
    this.put(e);
    return e;
  }

  /** The contract's `process` object for a task the kernel reported. */
  info(task: TaskRecord): ProcessInfo {
    const known = (task.flags & 1) !== 0 && task.pid !== 0;
    if (!known) {
      const p: ProcessInfo = { pid: 0 };
      if (task.cgroupId) {
        p.cgroup_id = task.cgroupId;
        const name = this.cgroupName(task.cgroupId);
        if (name) {
          p.cgroup_path = name;
          containerFields(p, this.container(name));
        }
      }
      return p;
    }
    // The same task reported again (every event of a connection, every
    // packet): hand out the same object; sinks cache its serialisation.
    // Keyed by thread and by whether the kernel saw the task itself or
    // the socket's owner: a server's threads alternate, and so do a UDP
    // socket's packets (owner) and release (current task); a per-pid entry
    // would be rebuilt on every event.
    const key = (task.pid * 0x400000 + (task.tid & 0x3fffff)) * 2 + ((task.flags >> 1) & 1);
    const hit = this.infos.get(key);
    if (hit && hit.pid === task.pid && hit.tid === task.tid && hit.flags === task.flags && hit.cgroupId === task.cgroupId && hit.uid === task.uid && hit.gid === task.gid && hit.ppid === task.ppid && hit.comm === task.comm) {
      return hit.info;
    }
    const info = Object.freeze(this.build(task));
    if (this.infos.size >= this.maxEntries) {
      this.infos.clear();
      this.keysByPid.clear();
    }
    this.infos.set(key, { ...task, info });
    (this.keysByPid.get(task.pid) ?? this.keysByPid.set(task.pid, new Set()).get(task.pid)!).add(key);
    return info;
  }

  private build(task: TaskRecord): ProcessInfo {
    const e = this.get(task.pid, task);
    const p: ProcessInfo = { pid: task.pid };
    // tid is the thread that acted only where the kernel ran in its context.
    if (task.tid && !(task.flags & 2)) p.tid = task.tid;
    const ppid = task.ppid || e.ppid;
    if (ppid) p.ppid = ppid;
    p.uid = task.uid;
    p.gid = task.gid;
    p.comm = task.comm || e.comm || '';
    if (e.exe) p.exe = e.exe;
    this.askHash(e);
    if (e.exeSha256) p.exe_sha256 = e.exeSha256;
    if (e.cmdline) p.cmdline = e.cmdline;
    const cgid = task.cgroupId || e.cgroupId;
    if (cgid) p.cgroup_id = cgid;
    const cgPath = e.cgroupPath ?? (cgid ? this.cgroupName(cgid) : undefined);
    if (cgPath) {
      p.cgroup_path = cgPath;
      containerFields(p, this.container(cgPath));
    }
    const ancestors = this.ancestorsOf(ppid);
    if (ancestors.length) p.ancestors = ancestors;
    return p;
  }

  /**
   * The processes PPID and above it ran in, nearest first, up to
   * MAX_ANCESTORS, init (pid 1) left out: the chain a command came down
   * (an agent, the shell it ran, the curl the shell ran), as the cache
   * knows them (an exited one is still known; one never seen is read from
   * /proc once).
   */
  private ancestorsOf(ppid: number | undefined): Ancestor[] {
    return this.ancestorPids(ppid).map((pid) => {
      const e = this.get(pid);
      const a: Ancestor = { pid };
      if (e.comm) a.comm = e.comm;
      if (e.exe) a.exe = e.exe;
      return a;
    });
  }

  /** PPID and the pids above it, nearest first, up to MAX_ANCESTORS, init left out (one never seen is read from /proc once). */
  ancestorPids(ppid: number | undefined): number[] {
    const out: number[] = [];
    for (let p = ppid; p !== undefined && p > 1 && out.length < MAX_ANCESTORS && !out.includes(p); p = this.get(p).ppid) out.push(p);
    return out;
  }

  private forgetInfos(pid: number): void {
    for (const k of this.keysByPid.get(pid) ?? []) this.infos.delete(k);
    this.keysByPid.delete(pid);
  }

  /** Container facts of a cgroup path, parsed once per path. */
  private container(path: string): ContainerInfo {
    let c = this.containers.get(path);
    if (!c) {
      c = containerFromCgroupPath(path);
      if (this.containers.size >= 4096) this.containers.clear();
      this.containers.set(path, c);
    }
    return c;
  }

  /** Is pid `root` or one of its descendants? (for --pid) */
  inTree(pid: number, root: number): boolean {
    for (let i = 0, p = pid; i < 64 && p > 1; i++) {
      if (p === root) return true;
      const e = this.get(p);
      if (!e.ppid || e.ppid === p) return false;
      p = e.ppid;
    }
    return pid === root;
  }

  private put(e: ProcessEntry): void {
    this.entries.delete(e.pid);
    this.entries.set(e.pid, e);
    if (this.entries.size > this.maxEntries) {
      // Oldest first (Map order): drop a slice at once, not one per insert.
      let drop = this.entries.size - this.maxEntries + 256;
      for (const k of this.entries.keys()) {
        if (drop-- <= 0) break;
        this.entries.delete(k);
      }
    }
  }

  /** Forgets processes that exited over exitedTtlMs ago: the oldest exits first, so it stops at the first recent one. */
  private sweep(t: number): void {
    const limit = t - this.exitedTtlMs;
    for (const [pid, e] of this.exits) {
      if (e.exitedAt !== undefined && e.exitedAt >= limit) break;
      this.exits.delete(pid);
      // the pid may name a newer process by now (an exec since, or /proc read again)
      if (this.entries.get(pid) === e) this.entries.delete(pid);
    }
  }

  private readExe(pid: number): string | undefined {
    try {
      return readlinkSync(join(this.procRoot, String(pid), 'exe'));
    } catch {
      return undefined;
    }
  }

  private readProc(pid: number): ProcessEntry | undefined {
    const dir = join(this.procRoot, String(pid));
    let status: string;
    try {
      status = readFileSync(join(dir, 'status'), 'utf8');
    } catch {
      return undefined;
    }
    const field = (name: string) => {
      const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
      return m ? m[1]! : undefined;
    };
    const e: ProcessEntry = { pid };
    e.comm = field('Name');
    const ppid = Number(field('PPid'));
    if (ppid) e.ppid = ppid;
    const uid = field('Uid')?.split(/\s+/)[0];
    const gid = field('Gid')?.split(/\s+/)[0];
    if (uid !== undefined) e.uid = Number(uid);
    if (gid !== undefined) e.gid = Number(gid);
    e.exe = this.readExe(pid);
    try {
      const raw = readFileSync(join(dir, 'cmdline'), 'utf8');
      e.cmdline = this.clean(raw.replace(/\0+$/, '').split('\0').join(' '));
    } catch {}
    e.cgroupPath = this.procCgroup(pid);
    return e;
  }

  private procCgroup(pid: number): string | undefined {
    try {
      return parseProcCgroup(readFileSync(join(this.procRoot, String(pid), 'cgroup'), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /**
   * A new process's cgroup path. The kernel gave its cgroup id: a path read
   * from /proc for that id in the last CGROUP_PATH_TTL_MS is used again
   * (a shell script's processes share one cgroup); else /proc says, and a
   * path whose directory is that id (its inode: a process can move between
   * the exec and the read) is remembered for it.
   */
  private cgroupPathOf(pid: number, cgroupId?: number): string | undefined {
    const t = this.now();
    if (cgroupId) {
      const l = this.learnt.get(cgroupId);
      if (l !== undefined && t - l.at < CGROUP_PATH_TTL_MS) return l.path;
    }
    const path = this.procCgroup(pid);
    if (path === undefined) return cgroupId ? this.cgroupName(cgroupId) : undefined;
    if (cgroupId && this.cgroupRoot) {
      try {
        if (Number(statIno(join(this.cgroupRoot, path))) === cgroupId) {
          if (this.learnt.size >= 4096) this.learnt.clear();
          this.learnt.set(cgroupId, { path, at: t });
        }
      } catch {
        // removed since: nothing to remember
      }
    }
    return path;
  }

  /** A cgroup id's path below the cgroup2 mount, by a (rate-limited) walk of the tree. */
  cgroupName(id: number): string | undefined {
    if (id === 1) return '/';
    const known = this.cgroupNames.get(id);
    if (known !== undefined || !this.cgroupRoot) return known;
    const t = this.now();
    if (t - this.cgroupScanAt < 1000) return undefined;
    this.cgroupScanAt = t;
    this.cgroupNames.clear();
    const walk = (dir: string, name: string, depth: number) => {
      if (depth > 32) return;
      let list;
      try {
        list = readdirSync(dir, { withFileTypes: true });
      } catch {
        return;
      }
      for (const d of list) {
        if (!d.isDirectory()) continue;
        const p = join(dir, d.name);
        const n = name === '/' ? `/${d.name}` : `${name}/${d.name}`;
        try {
          // On 64-bit kernels a cgroup's id is its directory's inode number.
          const ino = Number(statIno(p));
          this.cgroupNames.set(ino, n);
        } catch {
          continue;
        }
        walk(p, n, depth + 1);
      }
    };
    walk(this.cgroupRoot, '/', 0);
    return this.cgroupNames.get(id);
  }
}

function statIno(p: string): bigint {
  return statSync(p, { bigint: true }).ino;
}
