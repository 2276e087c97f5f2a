/**
 * TLS libraries the plaintext probes (tls.bpf.c) can hook, and where to
 * find them: the system's shared libssl, the libraries and executables
 * mapped by processes that already run (/proc/PID/maps, opened through
 * /proc/PID/root so a container's own libssl is found), and those of
 * processes that start later (the agent rescans a process on its exec).
 * A uprobe belongs to a file, not a path, so each file is attached once,
 * known by device and inode, however many paths and processes share it.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { commonCallee, dynamicSymbols, goBinary, type ElfSymbol } from './elf.js';

export type TlsLibraryKind = 'openssl' | 'openssl-static' | 'boringssl' | 'gnutls' | 'nss' | 'nspr' | 'go';

/** One family of TLS implementations: how to recognise its files, which symbols the probes need, and whether busted hooks it. */
export interface TlsProbeFamily {
  kind: TlsLibraryKind;
  what: string;
  /** file names that are this library (executables are checked by their exported symbols instead) */
  files?: RegExp;
  symbols: readonly string[];
  /** what a file must export to be one of this family busted can follow (its write and read calls, mostly) */
  needs?: readonly string[];
  status: 'supported' | 'planned';
  /** for planned families: what stands in the way */
  note?: string;
}

export const OPENSSL_SYMBOLS = ['SSL_write', 'SSL_read', 'SSL_write_ex', 'SSL_read_ex', 'SSL_ctrl', 'SSL_set_fd', 'SSL_get_fd', 'SSL_free', 'SSL_do_handshake', 'SSL_connect'] as const;

/**
 * Internal functions probed instead of their thin exported wrappers when
 * the library has them (elf.ts commonCallee): a cheaper probe, one for
 * both wrappers. Named in a library's `symbols` and `offsets` like the
 * exported ones; BUSTED_TLS_PROBE_WRAPPERS=1 probes the wrappers instead.
 */
export const INTERNAL_CALLEES: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['ssl_write_internal', ['SSL_write', 'SSL_write_ex']],
  ['ssl_read_internal', ['SSL_read', 'SSL_read_ex']],
];

/** The crypto/tls methods the Go probes (tls.bpf.c, its end) attach at. */
export const GO_TLS = {
  write: 'crypto/tls.(*Conn).Write',
  read: 'crypto/tls.(*Conn).Read',
  handshake: 'crypto/tls.(*Conn).clientHandshake',
  close: 'crypto/tls.(*Conn).Close',
} as const;

/** The probe table. Only `supported` families are attached; the others are named so the next probe has its place. */
export const TLS_PROBE_TABLE: readonly TlsProbeFamily[] = [
  { kind: 'openssl', what: 'OpenSSL 3.x and 1.1 shared libssl (curl, python3, most of a distro)', files: /^libssl\.so\.(3|1\.1)$/, symbols: OPENSSL_SYMBOLS, needs: ['SSL_write', 'SSL_read'], status: 'supported' },
  { kind: 'openssl-static', what: 'OpenSSL linked into an executable that exports its symbols (node, and others built like it)', symbols: OPENSSL_SYMBOLS, needs: ['SSL_write', 'SSL_read'], status: 'supported' },
  {
    kind: 'boringssl',
    what: 'BoringSSL (Chrome, Envoy, gRPC): the SSL_write/SSL_read ABI of OpenSSL; SNI through SSL_set_tlsext_host_name',
    symbols: ['SSL_write', 'SSL_read', 'SSL_set_tlsext_host_name', 'SSL_free'],
    status: 'planned',
    note: 'linked statically and stripped in most builds: needs function offsets per build id; an exporting build is already hooked as openssl-static',
  },
  {
    kind: 'gnutls',
    what: 'GnuTLS shared libgnutls (wget, libcurl-gnutls: git over https, apt)',
    files: /^libgnutls\.so\.30$/,
    symbols: ['gnutls_record_send', 'gnutls_record_recv', 'gnutls_server_name_set', 'gnutls_transport_set_int2', 'gnutls_deinit', 'gnutls_handshake'],
    needs: ['gnutls_record_send', 'gnutls_record_recv'],
    status: 'supported',
  },
  {
    kind: 'nss',
    what: 'NSS shared libssl3 (libcurl-nss, Thunderbird, LibreOffice): the descriptors SSL_ImportFD makes, and their SNI',
    files: /^libssl3\.so$/,
    symbols: ['SSL_ImportFD', 'SSL_SetURL', 'SSL_ResetHandshake', 'SSL_ForceHandshake'],
    needs: ['SSL_ImportFD'],
    status: 'supported',
  },
  {
    kind: 'nspr',
    what: "NSPR's libnspr4, the I/O calls NSS's plaintext goes through (followed only on descriptors SSL_ImportFD made)",
    files: /^libnspr4\.so$/,
    symbols: ['PR_Write', 'PR_Read', 'PR_Send', 'PR_Recv', 'PR_Close'],
    needs: ['PR_Write', 'PR_Read'],
    status: 'supported',
  },
  {
    kind: 'go',
    what: "Go's crypto/tls in Go executables for amd64 built by Go 1.17+ (the register ABI), with or without a symbol table: a Write copied at entry, a Read at its RET instructions (no uretprobes)",
    symbols: [GO_TLS.write, GO_TLS.read, GO_TLS.handshake, GO_TLS.close],
    needs: [GO_TLS.write, GO_TLS.read],
    status: 'supported',
  },
];

export interface TlsLibrary {
  kind: TlsLibraryKind;
  /** the path to open and attach to (through /proc/PID/root for another mount namespace) */
  path: string;
  /** device:inode, the file's identity */
  id: string;
  /** the probes' symbols this file exports, sorted */
  symbols: string[];
  /** file offsets of those symbols (what the uprobes attach at) */
  offsets: Record<string, number>;
  /** file offsets of the RET instructions of those functions whose returns are probed there (Go) */
  retSites?: Record<string, number[]>;
  /** functions whose `offsets` entry is the `jbe` of their stack check, not their first instruction (Go; elf.ts goEntrySite) */
  atStackCheck?: string[];
  /** functions whose arguments are read at their RETs, from their spill slots: no entry probe (Go; elf.ts goKeepsArgs) */
  keepsArgs?: string[];
  /** the release of the toolchain that built it, where it says (Go) */
  version?: string;
  /** how it was found: 'system', 'binary', or the pid whose maps or exe showed it */
  via: string;
}

const LIB_DIRS = ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/lib64', '/lib'];
const SUPPORTED = TLS_PROBE_TABLE.filter((f) => f.status === 'supported');
const LIB_FAMILIES = SUPPORTED.filter((f) => f.files);
const STATIC = TLS_PROBE_TABLE.find((f) => f.kind === 'openssl-static')!;
const GO = TLS_PROBE_TABLE.find((f) => f.kind === 'go')!;

function fileId(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return st.isFile() ? `${st.dev}:${st.ino}` : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The files a /proc/PID/maps text maps that WANT picks (by path), each
 * once, with the identity its lines show: `major:minor inode` as the
 * kernel prints them (device in hex, inode in decimal). Only picked lines
 * are split into fields.
 */
export function mappedFiles(maps: string, want: (path: string) => boolean): Array<{ path: string; id: string }> {
  const out: Array<{ path: string; id: string }> = [];
  let prev = '';
  for (let at = 0; at < maps.length; ) {
    let end = maps.indexOf('\n', at);
    if (end < 0) end = maps.length;
    // address perms offset dev inode   path: the first '/' starts the path
    // (a one-character search: a two-character one costs eight times more)
    const line = at;
    at = end + 1;
    const slash = maps.indexOf('/', line);
    if (slash < 0 || slash > end) continue;
    const path = maps.slice(slash, end);
    // a file's mappings are adjacent: its first line decides
    if (path === prev) continue;
    prev = path;
    if (path.endsWith(' (deleted)') || !want(path)) continue;
    const f = maps.slice(line, slash).split(' ', 5);
    if (f.length < 5) continue;
    const id = `${f[3]} ${f[4]}`;
    if (!out.some((m) => m.id === id)) out.push({ path, id });
  }
  return out;
}

/** The supported library family among FAMILIES a path's file name is (their `files`). */
function libraryKind(path: string, families: readonly TlsProbeFamily[]): TlsLibraryKind | undefined {
  const name = path.slice(path.lastIndexOf('/') + 1);
  for (const f of families) if (f.files!.test(name)) return f.kind;
  return undefined;
}

/** The names `--tls-libs` takes: a supported family, or `nss` for NSS with the NSPR it reads through. */
export const TLS_LIB_CHOICES = ['openssl', 'openssl-static', 'gnutls', 'nss', 'go'] as const;

/** The families a `--tls-libs` list names. */
export function tlsFamilies(names: readonly string[]): TlsLibraryKind[] {
  return names.flatMap((n) => (n === 'nss' ? (['nss', 'nspr'] as const) : [n as TlsLibraryKind]));
}

export interface FinderOptions {
  /** the families to hook (default: every supported one) */
  kinds?: readonly TlsLibraryKind[];
  procRoot?: string;
  /** executables to look at up front (their own OpenSSL); default: this node */
  binaries?: string[];
  /** the processes to look at (default: all) */
  inScope?: (pid: number) => boolean;
}

/**
 * Finds TLS libraries and remembers every file it has looked at (by
 * device:inode), so each is reported once and no file's symbols are read
 * twice: later scans cost a stat per mapping.
 */
export class TlsLibraryFinder {
  private readonly seen = new Map<string, TlsLibrary | null>();
  /** files already looked at, by the device:inode their maps lines show */
  private readonly mapped = new Set<string>();
  private readonly procRoot: string;

  /** the shared-library families looked for */
  private readonly families: readonly TlsProbeFamily[];
  /** executables are looked at: for an OpenSSL of their own, for Go's crypto/tls */
  private readonly statics: boolean;
  private readonly gos: boolean;

  constructor(private readonly o: FinderOptions = {}) {
    this.procRoot = o.procRoot ?? '/proc';
    this.families = o.kinds ? LIB_FAMILIES.filter((f) => o.kinds!.includes(f.kind)) : LIB_FAMILIES;
    this.statics = !o.kinds || o.kinds.includes('openssl-static');
    this.gos = !o.kinds || o.kinds.includes('go');
  }

  /** Executables are looked at (their own TLS: OpenSSL inside, or Go's). */
  private get exes(): boolean {
    return this.statics || this.gos;
  }

  /** Every library found so far. */
  get libraries(): TlsLibrary[] {
    return [...this.seen.values()].filter((l): l is TlsLibrary => l !== null);
  }

  /** The system's shared libraries and the configured executables. */
  system(): TlsLibrary[] {
    const out: TlsLibrary[] = [];
    for (const dir of LIB_DIRS) {
      let names: string[];
      try {
        names = readdirSync(dir);
      } catch {
        continue;
      }
      for (const n of names) {
        const fam = this.families.find((f) => f.files!.test(n));
        if (!fam) continue;
        const p = `${dir}/${n}`;
        const lib = this.consider(existsSync(p) ? realpathSync(p) : p, fam.kind, 'system');
        if (lib) out.push(lib);
      }
    }
    for (const b of this.exes ? (this.o.binaries ?? [process.execPath]) : []) {
      if (!existsSync(b)) continue;
      const lib = this.consider(realpathSync(b), 'exe', 'binary');
      if (lib) out.push(lib);
    }
    return out;
  }

  /** New libraries in every process (in scope) that runs now. */
  scanAll(): TlsLibrary[] {
    const out: TlsLibrary[] = [];
    let pids: string[];
    try {
      pids = readdirSync(this.procRoot).filter((d) => /^\d+$/.test(d));
    } catch {
      return out;
    }
    for (const p of pids) out.push(...this.scanPid(Number(p)));
    return out;
  }

  /**
   * New libraries in one process: its executable and the TLS libraries it
   * maps. `inScope`: the caller knows the process is in scope (the kernel
   * reported its exec from there), so its cgroup is not read again.
   *
   * A mapping's file is known by the device and inode its maps line
   * shows: one already looked at costs no system call. Only a file not
   * seen before is stat'ed (through the process's root, for its
   * identity as a path) and read.
   */
  scanPid(pid: number, inScope = false): TlsLibrary[] {
    return this.look(pid, inScope).libs;
  }

  /** scanPid, and whether the process was gone (its maps unreadable). */
  look(pid: number, inScope = false): { libs: TlsLibrary[]; gone: boolean } {
    if (pid === process.pid || (!inScope && this.o.inScope && !this.o.inScope(pid))) return { libs: [], gone: false };
    const base = `${this.procRoot}/${pid}`;
    const out: TlsLibrary[] = [];
    // A path is looked up through /proc/PID/root: in the process's own mount
    // namespace and root (a container's libssl, or a file bind-mounted over
    // the system's); reported as the plain path when that is the same file.
    const through = (path: string): string => {
      const inside = `${base}/root${path}`;
      const id = fileId(inside);
      return id !== undefined && fileId(path) === id ? path : inside;
    };
    let exe: string | undefined;
    try {
      exe = readlinkSync(`${base}/exe`);
      if (exe.endsWith(' (deleted)')) exe = undefined;
    } catch {
      // gone, or a kernel thread
    }
    let maps: string;
    try {
      maps = readFileSync(`${base}/maps`, 'utf8');
    } catch {
      // gone (or not ours to read): what its exe link still says
      if (exe !== undefined && this.exes) {
        const lib = this.consider(through(exe), 'exe', String(pid));
        if (lib) out.push(lib);
      }
      return { libs: out, gone: true };
    }
    const exeToo = this.exes ? exe : undefined;
    for (const m of mappedFiles(maps, (path) => path === exeToo || libraryKind(path, this.families) !== undefined)) {
      if (this.mapped.has(m.id)) continue;
      const kind = m.path === exeToo ? 'exe' : libraryKind(m.path, this.families)!;
      const path = through(m.path);
      // a file not there to read (its process gone meanwhile) is left to the next look; one that is
      // is read now (or was), and known by its maps identity from here on
      const id = fileId(path);
      if (id === undefined) continue;
      this.mapped.add(m.id);
      const lib = this.consider(path, kind, String(pid), id);
      if (lib) out.push(lib);
    }
    return { libs: out, gone: false };
  }

  /**
   * An executable by its path in the agent's own mount namespace (what an
   * exec record named, once its process is gone): a new library when it is
   * one (Go's crypto/tls, an OpenSSL inside). In another mount namespace
   * the same path may be another file; looking at it costs nothing more.
   */
  lookExe(path: string): TlsLibrary[] {
    if (!this.exes) return [];
    const lib = this.consider(path, 'exe', 'exec');
    return lib ? [lib] : [];
  }

  /**
   * A file seen for the first time: a library if it exports the probes'
   * symbols (an executable, 'exe': a Go one, or one with OpenSSL inside),
   * remembered either way. A file that could not be read (a system call
   * failed: its process went meanwhile, through /proc/PID/root) is not
   * remembered: it is looked at again next time.
   */
  private consider(path: string, kind: TlsLibraryKind | 'exe', via: string, id = fileId(path)): TlsLibrary | undefined {
    if (id === undefined || this.seen.has(id)) return undefined;
    let lib: TlsLibrary | null;
    try {
      lib = kind === 'exe' ? this.executable(path, id, via) : this.exporting(path, kind, id, via);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== undefined) return undefined;
      lib = null; // not ELF, or not laid out as one: not a library we can hook
    }
    this.seen.set(id, lib);
    return lib ?? undefined;
  }

  /** An executable: Go's crypto/tls (its write and read, and where Read returns), else an OpenSSL it exports. */
  private executable(path: string, id: string, via: string): TlsLibrary | null {
    const go = this.gos ? goBinary(path, GO.symbols, [GO_TLS.read], [GO_TLS.write, GO_TLS.read]) : undefined;
    if (go === undefined) return this.statics ? this.exporting(path, 'openssl-static', id, via) : null;
    if (!GO.needs!.every((n) => go.symbols.has(n)) || go.retSites[GO_TLS.read] === undefined) return null;
    const offsets: Record<string, number> = {};
    for (const [n, sym] of go.symbols) offsets[n] = go.stackChecks[n] ?? sym.offset!;
    const atStackCheck = Object.keys(go.stackChecks).sort();
    return { kind: 'go', path, id, symbols: [...go.symbols.keys()].sort(), offsets, retSites: go.retSites, atStackCheck, keepsArgs: go.keepsArgs, version: go.version, via };
  }

  /** A file of KIND's family that exports its write and read calls at least (else not one we can follow). */
  private exporting(path: string, kind: TlsLibraryKind, id: string, via: string): TlsLibrary | null {
    const fam = kind === 'openssl-static' ? STATIC : SUPPORTED.find((f) => f.kind === kind)!;
    const syms = dynamicSymbols(path, fam.symbols);
    if (!fam.needs!.every((n) => syms.has(n))) return null;
    const offsets: Record<string, number> = {};
    for (const [n, s] of syms) if (s.offset !== undefined) offsets[n] = s.offset;
    const names = [...syms.keys()];
    if (process.env.BUSTED_TLS_PROBE_WRAPPERS !== '1') {
      for (const [internal, wrappers] of INTERNAL_CALLEES) {
        const ws = wrappers.map((w) => syms.get(w));
        if (ws.some((w) => w === undefined)) continue;
        const at = commonCallee(path, ws as ElfSymbol[]);
        if (at === undefined) continue;
        offsets[internal] = at;
        names.push(internal);
      }
    }
    return { kind, path, id, symbols: names.sort(), offsets, via };
  }
}
