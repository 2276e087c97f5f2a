/**
 * Which process holds the other end of a stdio stream (MCP over stdio:
 * bpf/stdio.bpf.c gives the reading end's inode number): the one whose
 * /proc/PID/fd has `pipe:[N]` or `socket:[N]` open, looked for among the
 * writer's children (a client writing to the server it spawned) and then
 * its parent (a server answering its client). Asked once per stream.
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

/** The first of CANDIDATES with LINK (`pipe:[N]`, `socket:[N]`) among its open files; undefined if none has. */
export function holderOf(link: string, candidates: readonly number[], proc = '/proc'): number | undefined {
  for (const pid of candidates) {
    try {
      for (const fd of readdirSync(`${proc}/${pid}/fd`)) {
        try {
          if (readlinkSync(`${proc}/${pid}/fd/${fd}`) === link) return pid;
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
