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
 * setting TCP_NODELAY does (net/ipv4/tcp.c __tcp_sock_set_nodelay calls
 * tcp_push_pending_frames). The engine gets the sender's socket with
 * pidfd_getfd(2), sets TCP_NODELAY and, when the sender had not set it,
 * clears it again, as the sender sees no change.
 *
 * The socket is found by its inode: sock_diag names it from the held
 * segment's addresses and the socket cookie (so not a later socket with
 * the same addresses), and /proc/PID/fd links to `socket:[INODE]`. The
 * descriptor's number is then kept per (process, cookie), checked by
 * SO_COOKIE each time.
 *
 * Where this cannot be done (pidfd_getfd needs ptrace access to the
 * process: Yama's ptrace_scope 3 refuses it; the socket was passed to
 * another process, or closed) the caller falls back to the server probe
 * (kernel/reinject.ts tcpProbe), which costs a round trip to the server.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import { c, errno, IPPROTO_TCP, pidfdGetfd, pidfdOpen, SO_COOKIE, SOL_SOCKET, TCP_NODELAY } from './ffi.js';
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

/** The descriptor number of the socket with INODE in process PID, or undefined. */
function fdOf(pid: number, inode: number): number | undefined {
  const link = `socket:[${inode}]`;
  let names: string[];
  try {
    names = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return undefined; // gone, or not ours to read
  }
  for (const name of names) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${name}`) === link) return Number(name);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

const u32 = (n: number) => Uint8Array.of(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24);

/** The cookie of our copy FD of a socket, or undefined. */
function cookieOf(fd: number): bigint | undefined {
  const v = new Uint8Array(8);
  const len = u32(8);
  if ((c.getsockopt(fd, SOL_SOCKET, SO_COOKIE, v, len) as number) < 0) return undefined;
  return new DataView(v.buffer).getBigUint64(0, true);
}

/** Set TCP_NODELAY on our copy FD of a socket (which sends what waits), and clear it again if it was clear. */
function nudge(fd: number): string | true {
  const v = new Uint8Array(4);
  const len = u32(4);
  if ((c.getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, v, len) as number) < 0) return `TCP_NODELAY: errno ${errno()}`;
  const was = v[0] !== 0;
  if ((c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, u32(1), 4) as number) < 0) return `TCP_NODELAY: errno ${errno()}`;
  if (!was) c.setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, u32(0), 4);
  return true;
}

/**
 * Have the socket with COOKIE in process PID, whose held segment had
 * HEADERS, send what it holds now. True when done; else why not (the
 * caller then has the server probed).
 */
export function pushSender(pid: number, cookie: bigint, headers: Uint8Array): true | string {
  const pidfd = pidfdOpen(pid);
  if (pidfd < 0) return `pidfd_open(${pid}): errno ${-pidfd}`;
  try {
    let fds = known.get(pid);
    let fd = fds?.get(cookie);
    let tried: number | undefined;
    if (fd !== undefined) {
      const r = tryFd(pidfd, fd, cookie);
      if (r !== false) return r;
      fds!.delete(cookie);
      tried = fd;
    }
    const id = senderOf(headers, cookie);
    if (!id) return `held segment headers of ${headers.length} bytes`;
    const inode = socketInode(id);
    if (inode === undefined) return 'no such socket any more';
    fd = fdOf(pid, inode);
    if (fd === undefined || fd === tried) return `socket:[${inode}] not open in pid ${pid}`;
    const r = tryFd(pidfd, fd, cookie);
    if (r === false) return `fd ${fd} of pid ${pid} is another socket now`;
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
    return (e as Error).message;
  } finally {
    c.close(pidfd);
  }
}

/** Push through descriptor FD of the process behind PIDFD if it is the socket with COOKIE: true, false (another one), or why not. */
function tryFd(pidfd: number, fd: number, cookie: bigint): boolean | string {
  const ours = pidfdGetfd(pidfd, fd);
  if (ours < 0) return -ours === 9 ? false : `pidfd_getfd: errno ${-ours}${-ours === 1 ? ' (no ptrace access to the process: Yama ptrace_scope?)' : ''}`;
  try {
    if (cookieOf(ours) !== cookie) return false;
    return nudge(ours);
  } finally {
    c.close(ours);
  }
}
