/**
 * Getting a held sender to send now, on this host, with no help from the
 * server: the other way to move on a segment the packet hook held.
 *
 * The packet hook holds a segment by dropping it at cgroup_skb egress.
 * There the drop makes ip_finish_output return -EPERM
 * (BPF_CGROUP_RUN_PROG_INET_EGRESS), so tcp_transmit_skb fails and
 * tcp_write_xmit leaves the segment at the head of the send queue, not
 * sent (net/ipv4/tcp_output.c), with only the zero-window probe timer
 * (200 ms or more) to try it again. Anything that pushes the socket's
 * pending frames sends it at once, now that the hook lets it pass:
 * clearing TCP_CORK does (net/ipv4/tcp.c __tcp_sock_set_cork calls
 * tcp_push_pending_frames), and on a socket that is not corked clearing
 * it changes nothing else. The engine gets the sender's socket with
 * pidfd_getfd(2) and clears TCP_CORK; on a socket its program corked it
 * sets TCP_NODELAY instead (which pushes past the cork:
 * __tcp_sock_set_nodelay) and clears it again if it was clear. Either way
 * the sender's settings stay as they were.
 *
 * The socket is found by its inode: sock_diag names it from the held
 * segment's addresses and the socket cookie (so not a later socket with
 * the same addresses), and /proc/PID/fd links to `socket:[INODE]`. For a
 * process in another network namespace (a container's), which sock_diag
 * here cannot see, each socket descriptor is asked its SO_COOKIE. The
 * descriptor's number is then kept per (process, cookie), checked by
 * SO_COOKIE each time.
 *
 * Where this cannot be done (pidfd_getfd needs ptrace access to the
 * process: Yama's ptrace_scope 3 refuses it; the socket was passed to
 * another process, or closed) the caller falls back to the server probe
 * (kernel/reinject.ts tcpProbe), which costs a round trip to the server.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { c, errno, IPPROTO_TCP, pidfdGetfd, pidfdOpen, SO_COOKIE, SOL_SOCKET, TCP_CORK, TCP_NODELAY } from './ffi.js';
import { socketInode, type SocketId } from './sockdiag.js';

/** The socket a held segment left from, as sock_diag names it: HEADERS are its IP and TCP headers (kernel/reinject.ts tcpPacket). */
export function senderOf(headers: Uint8Array, cookie: bigint): SocketId | undefined {
  const v4 = headers[0]! >> 4 === 4;
  const ipLen = v4 ? (headers[0]! & 0x0f) * 4 : 40;
  if (headers.length < ipLen + 4) return undefined;
  const dv = new DataView(headers.buffer, headers.byteOffset, headers.byteLength);
  return {
    family: v4 ? 4 : 6,
    protocol: 'tcp',
    local: headers.slice(v4 ? 12 : 8, v4 ? 16 : 24),
    localPort: dv.getUint16(ipLen),
    remote: headers.slice(v4 ? 16 : 24, v4 ? 20 : 40),
    remotePort: dv.getUint16(ipLen + 2),
    cookie,
  };
}

const MAX_PROCESSES = 1024;
const MAX_SOCKETS = 64;
/** pid → socket cookie → the socket's descriptor number in that process */
const known = new Map<number, Map<bigint, number>>();

// include/net/tcp_states.h
const TCP_FIN_WAIT2 = 5;
const TCP_TIME_WAIT = 6;
const TCP_CLOSE = 7;

/** at most this many of a process's descriptors are looked at for a socket (the rest: the server probed instead) */
const MAX_SCAN = 2048;

/**
 * The first descriptor number of process PID whose link MATCH takes,
 * newest (highest) first: a connection held is most often one the program
 * opened last. Undefined: none.
 */
function scanFds(pid: number, match: (fd: number, link: string) => boolean): number | undefined {
  let fds: number[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => b - a).slice(0, MAX_SCAN);
  } catch {
    return undefined; // gone, or not ours to read
  }
  for (const fd of fds) {
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    if (match(fd, link)) return fd;
  }
  return undefined;
}

let ownNetns: bigint | undefined;
/** Whether process PID is in this agent's network namespace (where sock_diag sees its sockets). */
function sameNetns(pid: number): boolean {
  try {
    ownNetns ??= statSync('/proc/self/ns/net', { bigint: true }).ino;
    return statSync(`/proc/${pid}/ns/net`, { bigint: true }).ino === ownNetns;
  } catch {
    return false;
  }
}

/**
 * Why a sender was not pushed. GONE: its socket is closed (nothing is left
 * to send); REFUSED: no ptrace access to the process (pidfd_getfd's EPERM),
 * which would refuse every push.
 */
export interface NotPushed {
  gone: boolean;
  why: string;
  refused?: true;
}

/**
 * The descriptor number of the socket with COOKIE in the process behind
 * PIDFD. In this agent's network namespace sock_diag names its inode from
 * the held segment's HEADERS (none: the socket is gone); in another (a
 * container's) each socket descriptor's cookie is asked, as sock_diag here
 * cannot see it.
 */
function findFd(pidfd: number, pid: number, cookie: bigint, headers: Uint8Array): number | NotPushed {
  if (sameNetns(pid)) {
    const id = senderOf(headers, cookie);
    if (!id) return { gone: false, why: `held segment headers of ${headers.length} bytes` };
    const found = socketInode(id);
    if (found === undefined) return { gone: true, why: 'no such socket any more' };
    if (found.inode === 0) {
      // closed by its process: in FIN_WAIT2 or TIME_WAIT all it sent is acknowledged, nothing left to send
      const done = found.state === TCP_FIN_WAIT2 || found.state === TCP_TIME_WAIT || found.state === TCP_CLOSE;
      return { gone: done, why: `its process closed the socket (TCP state ${found.state})` };
    }
    const link = `socket:[${found.inode}]`;
    return scanFds(pid, (_, l) => l === link) ?? { gone: false, why: `${link} not open in pid ${pid}` };
  }
  const fd = scanFds(pid, (n, l) => l.startsWith('socket:') && tryFd(pidfd, n, cookie, false) === true);
  return fd ?? { gone: false, why: `no socket of cookie ${cookie} open in pid ${pid} (another network namespace)` };
}

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

/** The cookie of our copy FD of a socket, or undefined. */
function socketCookie(fd: number): bigint | undefined {
  const v = new Uint8Array(8);
  const len = u32(8);
  if ((c.getsockopt(fd, SOL_SOCKET, SO_COOKIE, v, len) as number) < 0) return undefined;
  return new DataView(v.buffer).getBigUint64(0, true);
}

/** A TCP option of our copy FD of a socket, or undefined. */
function tcpOption(fd: number, name: number): number | undefined {
  const v = new Uint8Array(4);
  if ((c.getsockopt(fd, IPPROTO_TCP, name, v, u32(4)) as number) < 0) return undefined;
  return new DataView(v.buffer).getInt32(0, true);
}

/** Have our copy FD of a socket send what waits in its queue, its settings left as they were. */
function nudge(fd: number): string | true {
  const corked = tcpOption(fd, TCP_CORK);
  if (corked === undefined) return `TCP_CORK: errno ${errno()}`;
  if (!corked) return (c.setsockopt(fd, IPPROTO_TCP, TCP_CORK, u32(0), 4) as number) < 0 ? `TCP_CORK: errno ${errno()}` : true;
  const nodelay = tcpOption(fd, TCP_NODELAY);
  if (nodelay === undefined || (c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, u32(1), 4) as number) < 0) return `TCP_NODELAY: errno ${errno()}`;
  if (!nodelay) c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, u32(0), 4);
  return true;
}

/**
 * Have the socket with COOKIE in process PID, whose held segment had
 * HEADERS, send what it holds now. True when done; else why not (the
 * caller then has the server probed, unless the socket is gone).
 */
export function pushSender(pid: number, cookie: bigint, headers: Uint8Array): true | NotPushed {
  const pidfd = pidfdOpen(pid);
  // (a process gone may have left its socket to a child: not taken for gone)
  if (pidfd < 0) return { gone: false, why: `pidfd_open(${pid}): errno ${-pidfd}` };
  try {
    let fds = known.get(pid);
    const kept = fds?.get(cookie);
    if (kept !== undefined) {
      const r = tryFd(pidfd, kept, cookie, true);
      if (r !== false) return r;
      fds!.delete(cookie);
    }
    const fd = findFd(pidfd, pid, cookie, headers);
    if (typeof fd !== 'number') return fd;
    const r = tryFd(pidfd, fd, cookie, true);
    if (r === false) return { gone: false, why: `fd ${fd} of pid ${pid} is another socket now` };
    if (r === true) {
      if (!fds) {
        if (known.size >= MAX_PROCESSES) known.delete(known.keys().next().value!);
        known.set(pid, (fds = new Map()));
      }
      if (fds.size >= MAX_SOCKETS) fds.delete(fds.keys().next().value!);
      fds.set(cookie, fd);
    }
    return r;
  } catch (e) {
    return { gone: false, why: (e as Error).message };
  } finally {
    c.close(pidfd);
  }
}

/**
 * Descriptor FD of the process behind PIDFD, if it is the socket with
 * COOKIE: pushed (PUSH) or only found (true); false: another one; else why
 * not.
 */
function tryFd(pidfd: number, fd: number, cookie: bigint, push: boolean): boolean | NotPushed {
  const ours = pidfdGetfd(pidfd, fd);
  if (ours < 0 && -ours === 3) return { gone: true, why: 'its process is exiting' }; // ESRCH: its descriptors are being closed
  if (ours < 0 && -ours === 1) return { gone: false, refused: true, why: 'pidfd_getfd: errno 1 (no ptrace access to the process: Yama ptrace_scope?)' };
  if (ours < 0) return -ours === 9 ? false : { gone: false, why: `pidfd_getfd: errno ${-ours}` };
  try {
    if (socketCookie(ours) !== cookie) return false;
    if (!push) return true;
    const r = nudge(ours);
    return r === true || { gone: false, why: r };
  } finally {
    c.close(ours);
  }
}

/**
 * Whether this agent can push held senders (true), or why not: it needs
 * pidfd_getfd(2) (Linux 5.6), CAP_SYS_PTRACE (ptrace access to processes
 * of other users: Yama's ptrace_scope 1 and 2 let it through) and no Yama
 * ptrace_scope 3 (no ptrace at all). BUSTED_HOLD_PUSH=probe says no.
 */
export function holdPushable(): true | string {
  if (process.env.BUSTED_HOLD_PUSH === 'probe') return 'BUSTED_HOLD_PUSH=probe';
  try {
    if (readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim() === '3') return 'Yama ptrace_scope is 3 (no ptrace access at all)';
  } catch {
    // no Yama
  }
  const eff = /^CapEff:\s*([0-9a-f]+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  if (eff === undefined || !((BigInt(`0x${eff}`) >> 19n) & 1n)) return 'no CAP_SYS_PTRACE';
  const pidfd = pidfdOpen(process.pid);
  if (pidfd < 0) return `pidfd_open: errno ${-pidfd}${-pidfd === 38 ? ' (a kernel before 5.3)' : ''}`;
  try {
    const fd = pidfdGetfd(pidfd, pidfd);
    if (fd < 0) return `pidfd_getfd: errno ${-fd}${-fd === 38 ? ' (a kernel before 5.6)' : ''}`;
    c.close(fd);
    return true;
  } finally {
    c.close(pidfd);
  }
}
