/**
 * When the agent looks at a process for TLS libraries it does not hook yet
 * (TlsLibraryFinder.look), besides every process at start and every 30 s
 * (pipeline.ts):
 *
 * - At its exec, and again 100 ms and 1 s later: libssl comes with the
 *   first import (python's `import ssl`), after the exec. Once QUIET_AFTER
 *   processes of one program in a row have shown nothing new in those
 *   looks, its later processes are not looked at on exec: a shell script's
 *   curl costs nothing, not three reads of its maps. A program is its
 *   executable's path in its cgroup (as the exec record names them: no
 *   system call), so a container's own file at the same path is a program
 *   of its own. Any look that finds a library starts the count again.
 * - When it sends a ClientHello that went through no probed library (the
 *   kernel says so: its TLS is not read): whatever it loaded, at whatever
 *   time, is found then, at most once a second per process. This is what
 *   covers the processes the exec looks skip, and libraries loaded after
 *   the last of them.
 */
import type { TlsLibrary, TlsLibraryFinder } from './tls-libs.js';

/** After the look at exec, the looks again (ms after it). */
export const EXEC_LOOKS_AGAIN_MS = [100, 1000];
/** Processes of one executable in a row that showed nothing new before its processes are no longer looked at on exec. */
export const QUIET_AFTER = 8;
/** A process whose TLS is not read is looked at again after this long at the soonest. */
const UNREAD_LOOK_EVERY_MS = 1000;
const MAX_PENDING_LOOKS = 1024;
/** BUSTED_DEBUG_TLS_LOOKS=1: every look and what it found, on stderr (why a program's TLS is or is not read) */
const DEBUG = process.env.BUSTED_DEBUG_TLS_LOOKS === '1';
const debug = (msg: string): void => {
  if (DEBUG) process.stderr.write(`busted: debug: TLS look: ${msg}\n`);
};
const MAX_TRACKED = 4096;

export interface TlsLooksOptions {
  finder: Pick<TlsLibraryFinder, 'look' | 'lookExe'>;
  /** hook what a look found */
  attach: (libs: TlsLibrary[]) => void;
  /** the kernel reported the process's exit */
  exited: (pid: number) => boolean;
  /** the program a running process runs (see onExec), when known */
  programOf: (pid: number) => string | undefined;
  now?: () => number;
  /** the looks after the exec's, ms after it (default EXEC_LOOKS_AGAIN_MS) */
  againMs?: readonly number[];
}

export class TlsLooks {
  /** processes in a row, per program, whose exec looks found nothing */
  private readonly quiet = new Map<string, number>();
  /** when a process whose TLS is not read was last looked at */
  private readonly unreadAt = new Map<number, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly now: () => number;
  private stopped = false;
  /** looks made, and exec looks skipped for quiet executables (for tests and the stats) */
  readonly stats = { looks: 0, quietSkips: 0, unreadLooks: 0 };

  constructor(private readonly o: TlsLooksOptions) {
    this.now = o.now ?? Date.now;
  }

  /**
   * A process executed (in scope: the kernel reports execs from the
   * scope only). PROGRAM: its executable's path and cgroup, as its exec
   * record says them (undefined: not known; it is looked at). EXE: that
   * path, looked at when the process is gone before its first look (a
   * Go client that made its request and ended within milliseconds):
   * its executable's own TLS is then probed for the processes after it.
   */
  onExec(pid: number, program: string | undefined, exe?: string): void {
    if (this.stopped) return;
    if (program !== undefined && (this.quiet.get(program) ?? 0) >= QUIET_AFTER) {
      this.stats.quietSkips++;
      return;
    }
    const first = this.look(pid);
    let found = first === true;
    const again = this.o.againMs ?? EXEC_LOOKS_AGAIN_MS;
    let left = again.length;
    // the process's last look (or its exit) says whether its program stays quiet
    const settle = (): void => {
      left = 0;
      if (program === undefined) return;
      if (this.quiet.size >= MAX_TRACKED) this.quiet.clear();
      this.quiet.set(program, found ? 0 : (this.quiet.get(program) ?? 0) + 1);
    };
    // gone before its looks found anything (a shell script's date by the time its exec is read, or a
    // Go client that ended while its first look read its maps): it maps nothing any more, but its
    // executable may have a TLS of its own (an OpenSSL inside, Go's crypto/tls), looked at by its path
    const gone = (): void => {
      if (!found && exe !== undefined) {
        const libs = this.o.finder.lookExe(exe);
        debug(`pid ${pid} gone; its executable ${exe}: ${libs.length ? libs.map((l) => l.kind).join(', ') : 'nothing new'}`);
        if (libs.length) {
          found = true;
          this.o.attach(libs);
        }
      }
      settle();
    };
    if (first === undefined) return gone();
    for (const ms of again) {
      if (this.timers.size >= MAX_PENDING_LOOKS) return; // an exec storm: the periodic rescan catches up
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.stopped || left === 0) return;
        // a process that has exited maps nothing more
        if (this.o.exited(pid)) return gone();
        const r = this.look(pid);
        if (r === undefined) return gone();
        found = r || found;
        if (--left === 0) settle();
      }, ms);
      t.unref();
      this.timers.add(t);
    }
  }

  /** A process sent a ClientHello through no probed TLS library. */
  onUnreadTls(pid: number): void {
    if (this.stopped) return;
    const t = this.now();
    const last = this.unreadAt.get(pid);
    if (last !== undefined && t - last < UNREAD_LOOK_EVERY_MS) return;
    if (this.unreadAt.size >= MAX_TRACKED) {
      for (const [p, at] of this.unreadAt) if (t - at >= UNREAD_LOOK_EVERY_MS) this.unreadAt.delete(p);
      if (this.unreadAt.size >= MAX_TRACKED) this.unreadAt.clear();
    }
    this.unreadAt.set(pid, t);
    this.stats.unreadLooks++;
    if (this.look(pid)) {
      // its program's processes are looked at on exec again
      const program = this.o.programOf(pid);
      if (program !== undefined) this.quiet.delete(program);
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  /** Looks at PID: whether it found a library to hook; undefined when the process is gone. */
  private look(pid: number): boolean | undefined {
    this.stats.looks++;
    const t0 = DEBUG ? performance.now() : 0;
    const r = this.o.finder.look(pid, true);
    const t1 = DEBUG ? performance.now() : 0;
    if (r.libs.length) this.o.attach(r.libs);
    debug(`pid ${pid}: ${r.gone ? 'gone' : r.libs.length ? r.libs.map((l) => `${l.kind} ${l.path}`).join(', ') : 'nothing new'} (look ${(t1 - t0).toFixed(1)} ms${r.libs.length ? `, attach ${(performance.now() - t1).toFixed(1)} ms` : ''})`);
    return r.gone ? undefined : r.libs.length > 0;
  }
}
