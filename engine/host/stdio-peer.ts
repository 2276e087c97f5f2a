/**
 * Which process holds the other end of a stdio stream (MCP over stdio:
 * bpf/stdio.bpf.c gives the reading end's inode number): the one whose
 * /proc/PID/fd has `pipe:[N]` or `socket:[N]` open for reading, looked for
 * among the writer's descendants, deepest first (a client writing to the
 * server it spawned, through a launcher such as npx or uvx, which holds the
 * same inherited end), and then its ancestors, nearest first (a server
 * answering its client; a launcher holds only the writing end of the
 * server's stdout). Asked once per stream.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** The pids PID forked, every thread's (/proc/PID/task/TID/children: CONFIG_PROC_CHILDREN). */
export function childrenOf(pid: number, proc = '/proc'): number[] {
  const out: number[] = [];
  try {
    for (const tid of readdirSync(`${proc}/${pid}/task`)) {
      try {
        for (const c of readFileSync(`${proc}/${pid}/task/${tid}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
      } catch {
        // the thread ended
      }
    }
  } catch {
    // the process ended
  }
  return out;
}

/** PID's descendants to DEPTH generations, the deepest first. */
export function descendantsOf(pid: number, depth = 3, proc = '/proc'): number[] {
  const levels: number[][] = [];
  let level = [pid];
  for (let d = 0; d < depth && level.length; d++) {
    level = level.flatMap((p) => childrenOf(p, proc));
    levels.push(level);
  }
  return levels.reverse().flat();
}

/**
 * The first of CANDIDATES with LINK (`pipe:[N]`, `socket:[N]`) open for
 * reading (a pipe's end opened write-only, /proc/PID/fdinfo's flags, is
 * not); undefined if none has.
 */
export function holderOf(link: string, candidates: readonly number[], proc = '/proc'): number | undefined {
  for (const pid of candidates) {
    try {
      for (const fd of readdirSync(`${proc}/${pid}/fd`)) {
        try {
          if (readlinkSync(`${proc}/${pid}/fd/${fd}`) === link && readable(`${proc}/${pid}/fdinfo/${fd}`)) return pid;
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return undefined;
}

/** Not opened write-only (O_ACCMODE of fdinfo's octal flags is not O_WRONLY); an fdinfo not there to read counts as readable. */
function readable(fdinfo: string): boolean {
  try {
    const m = /^flags:\s*([0-7]+)/m.exec(readFileSync(fdinfo, 'utf8'));
    return m === null || (parseInt(m[1]!, 8) & 3) !== 1;
  } catch {
    return true;
  }
}
