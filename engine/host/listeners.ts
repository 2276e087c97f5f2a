/**
 * TCP listening sockets that are older than the agent, and their processes.
 *
 * conn.bpf.c credits an accepted connection to the process that listens,
 * which it learns at listen(): a server started before the agent (nginx,
 * sshd, a long-running Ollama) would have every accepted connection
 * credited to no process. At start the engine tells the kernel who those
 * listeners are, read from /proc as ss(8) reads it: the LISTEN rows of
 * /proc/PID/net/tcp and tcp6 (proc(5)) for one process of each network
 * namespace (/proc/PID/ns/net), their socket inodes found among
 * /proc/PID/fd/* links ("socket:[INODE]"). The kernel keys listeners by
 * namespace too: containers each listen on their own 8080.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

export interface ListeningSocket {
  /** the network namespace's inode number (/proc/PID/ns/net); 0 where namespaces are not known */
  netns: number;
  family: 4 | 6;
  /** the local port, host order */
  port: number;
  inode: number;
}

/** TCP_LISTEN in /proc/net/tcp's `st` column (include/net/tcp_states.h) */
const TCP_LISTEN = '0A';

/** The LISTEN rows of a /proc/net/tcp or tcp6 table. */
export function parseTcpTable(text: string, family: 4 | 6, netns = 0): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    // "  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  0  0 12345 1 ..."
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || f[3] !== TCP_LISTEN) continue;
    const colon = f[1]!.lastIndexOf(':');
    const port = parseInt(f[1]!.slice(colon + 1), 16);
    const inode = Number(f[9]);
    if (!Number.isInteger(port) || port <= 0 || port > 65535 || !Number.isInteger(inode) || inode <= 0) continue;
    out.push({ netns, family, port, inode });
  }
  return out;
}

/** The TCP listening sockets of the namespace whose tables live under DIR (`/proc/PID/net` or `/proc/net`). */
function tablesOf(dir: string, netns: number): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  for (const [file, family] of [
    ['tcp', 4],
    ['tcp6', 6],
  ] as const) {
    try {
      out.push(...parseTcpTable(readFileSync(`${dir}/${file}`, 'utf8'), family, netns));
    } catch {
      // no IPv6 on this host, the process is gone, or no /proc: none of that family
    }
  }
  return out;
}

/** "net:[4026531840]" → 4026531840 */
function netnsOf(pid: number, procRoot: string): number | undefined {
  try {
    const m = /^net:\[(\d+)\]$/.exec(readlinkSync(`${procRoot}/${pid}/ns/net`));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined; // gone, not ours to read, or a kernel without namespaces
  }
}

/**
 * The host's TCP listening sockets, IPv4 and IPv6, in every network
 * namespace that a process WANTED says yes to lives in (its tables read
 * once, through the first such process). Where no namespace can be named
 * (a kernel without them), this process's /proc/net tables, as namespace 0.
 */
export function listeningSockets(wanted: (pid: number) => boolean = () => true, procRoot = '/proc'): ListeningSocket[] {
  const out: ListeningSocket[] = [];
  const seen = new Set<number>();
  let pids: string[] = [];
  try {
    pids = readdirSync(procRoot);
  } catch {
    // no /proc
  }
  for (const name of pids) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0) continue;
    const ns = netnsOf(pid, procRoot);
    if (ns === undefined || seen.has(ns) || !wanted(pid)) continue;
    seen.add(ns);
    out.push(...tablesOf(`${procRoot}/${pid}/net`, ns));
  }
  return seen.size > 0 ? out : tablesOf(`${procRoot}/net`, 0);
}

/**
 * Which process holds each of INODES open: the first process found (a
 * listener shared after fork is credited to one of its holders, as the
 * kernel credits it to whoever called listen()). Only processes WANTED
 * says yes to are looked at.
 */
export function socketHolders(inodes: Set<number>, wanted: (pid: number) => boolean, procRoot = '/proc'): Map<number, number> {
  const out = new Map<number, number>();
  if (inodes.size === 0) return out;
  let pids: string[];
  try {
    pids = readdirSync(procRoot);
  } catch {
    return out;
  }
  for (const name of pids) {
    const pid = Number(name);
    if (!Number.isInteger(pid) || pid <= 0 || !wanted(pid)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      let link: string;
      try {
        link = readlinkSync(`${procRoot}/${pid}/fd/${fd}`);
      } catch {
        continue;
      }
      if (!link.startsWith('socket:[')) continue;
      const inode = Number(link.slice(8, -1));
      if (inodes.has(inode) && !out.has(inode)) out.set(inode, pid);
    }
    if (out.size === inodes.size) break;
  }
  return out;
}
