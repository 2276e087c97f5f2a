/**
 * Naming and destroying a socket from outside its process through
 * sock_diag. SOCK_DIAG_BY_FAMILY with an exact address pair and cookie
 * answers one socket's inet_diag_msg (its inode: how /proc/PID/fd names
 * it, kernel/push.ts). SOCK_DESTROY
 * (what `ss -K` does; CONFIG_INET_DIAG_DESTROY), which aborts a TCP
 * connection with a reset and makes the owner's next call fail with
 * ECONNABORTED. The enforcer uses it for a connection that a decision
 * blocked after it was made (a blocked prompt, a look-alike host seen in
 * the ClientHello). The socket is named by its addresses and, to be sure
 * it is the one and not a later one reusing them, by its cookie.
 */
import { BustedError, ErrorCode } from '../model/errors.js';
import { AF_NETLINK, c, errno, NETLINK_SOCK_DIAG, SO_RCVTIMEO, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET } from './ffi.js';

// include/uapi/linux/sock_diag.h, inet_diag.h, netlink.h
const SOCK_DIAG_BY_FAMILY = 20;
const SOCK_DESTROY = 21;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLMSG_ERROR = 0x2;
const AF_INET = 2;
const AF_INET6 = 10;
const NLMSG_HDR = 16;
/** struct inet_diag_req_v2: family, protocol, ext, pad, states, then struct inet_diag_sockid (48 bytes) */
const REQ_V2 = 56;

export interface SocketId {
  family: 4 | 6;
  protocol: 'tcp' | 'udp';
  /** this host's end, network order (4 or 16 bytes) */
  local: Uint8Array;
  localPort: number;
  remote: Uint8Array;
  remotePort: number;
  /** the socket cookie, when known */
  cookie?: bigint;
}

let fd = -1;
let seq = 0;

function nlSocket(): number {
  if (fd >= 0) return fd;
  fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG) as number;
  if (fd < 0) throw new BustedError(ErrorCode.UNSUPPORTED, `sock_diag netlink socket: errno ${errno()}`);
  // an answer never takes long; never hang the agent on one
  const tv = new Uint8Array(16);
  new DataView(tv.buffer).setBigInt64(8, 200_000n, true); // 200 ms
  c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16);
  return fd;
}

/** The request bytes (exported for tests). */
export function destroyRequest(id: SocketId, sequence: number): Uint8Array {
  return request(SOCK_DESTROY, NLM_F_REQUEST | NLM_F_ACK, id, sequence);
}

function request(type: number, flags: number, id: SocketId, sequence: number): Uint8Array {
  const msg = new Uint8Array(NLMSG_HDR + REQ_V2);
  const dv = new DataView(msg.buffer);
  dv.setUint32(0, msg.length, true);
  dv.setUint16(4, type, true);
  dv.setUint16(6, flags, true);
  dv.setUint32(8, sequence, true);
  dv.setUint32(12, 0, true);
  const r = NLMSG_HDR;
  msg[r] = id.family === 4 ? AF_INET : AF_INET6;
  msg[r + 1] = id.protocol === 'tcp' ? 6 : 17;
  dv.setUint32(r + 4, 0xffffffff, true); // idiag_states: any
  const sid = r + 8;
  dv.setUint16(sid, id.localPort, false); // idiag_sport (big-endian)
  dv.setUint16(sid + 2, id.remotePort, false);
  msg.set(id.local.subarray(0, id.family === 4 ? 4 : 16), sid + 4);
  msg.set(id.remote.subarray(0, id.family === 4 ? 4 : 16), sid + 20);
  dv.setUint32(sid + 36, 0, true); // idiag_if
  const cookie = id.cookie ?? 0xffffffffffffffffn; // INET_DIAG_NOCOOKIE in both halves
  dv.setUint32(sid + 40, Number(cookie & 0xffffffffn), true);
  dv.setUint32(sid + 44, Number((cookie >> 32n) & 0xffffffffn), true);
  return msg;
}

/**
 * Send REQ (numbered SEQUENCE) and read until its answer: the first
 * message with its number (earlier, timed-out requests' answers are
 * skipped). WHAT names the request in errors.
 */
function ask(req: Uint8Array, sequence: number, what: string): { type: number; dv: DataView; bytes: Uint8Array } {
  const s = nlSocket();
  if ((c.send(s, req, req.length, 0) as number) < 0) throw new BustedError(ErrorCode.BPF, `${what} send: errno ${errno()}`);
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = c.recv(s, buf, buf.length, 0) as number;
    if (n < 0) throw new BustedError(ErrorCode.BPF, `${what} answer: errno ${errno()}`);
    const dv = new DataView(buf.buffer, 0, n);
    if (n >= NLMSG_HDR + 4 && dv.getUint32(8, true) === sequence) return { type: dv.getUint16(4, true), dv, bytes: buf.subarray(0, n) };
  }
}

/** The errno of an NLMSG_ERROR answer (0: an acknowledgement). */
const answerErrno = (dv: DataView) => -dv.getInt32(NLMSG_HDR, true);

/**
 * Abort one socket. Resolves to true when the kernel destroyed it, false
 * when no such socket exists (any more); throws for anything else.
 */
export function destroySocket(id: SocketId): boolean {
  const sequence = ++seq;
  const a = ask(destroyRequest(id, sequence), sequence, 'SOCK_DESTROY');
  const err = a.type === NLMSG_ERROR ? answerErrno(a.dv) : -1;
  if (err === 0) return true;
  if (err === 2) return false; // ENOENT: gone already
  throw new BustedError(ErrorCode.BPF, `SOCK_DESTROY: errno ${err}${err === 95 ? ' (EOPNOTSUPP: kernel without CONFIG_INET_DIAG_DESTROY)' : ''}`);
}

/** struct inet_diag_msg: idiag_inode's offset (after family, state, timer, retrans, sockid, expires, rqueue, wqueue, uid). */
const MSG_INODE = 68;

/**
 * The inode and TCP state (include/net/tcp_states.h) of one TCP or UDP
 * socket named exactly (addresses and, when known, cookie:
 * inet_diag_find_one_icsk), or undefined when there is no such socket (any
 * more). Inode 0: its process has closed it. Throws when sock_diag cannot
 * be asked.
 */
export function socketInode(id: SocketId): { inode: number; state: number } | undefined {
  const sequence = ++seq;
  const a = ask(request(SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, id, sequence), sequence, 'sock_diag');
  if (a.type === NLMSG_ERROR) {
    const err = answerErrno(a.dv);
    if (err === 2 || err === 116) return undefined; // ENOENT; ESTALE: another socket has those addresses now
    throw new BustedError(ErrorCode.BPF, `sock_diag: errno ${err}`);
  }
  if (a.type !== SOCK_DIAG_BY_FAMILY || a.bytes.length < NLMSG_HDR + MSG_INODE + 4) throw new BustedError(ErrorCode.BPF, `sock_diag: an answer of type ${a.type}, ${a.bytes.length} bytes`);
  return { inode: a.dv.getUint32(NLMSG_HDR + MSG_INODE, true), state: a.bytes[NLMSG_HDR + 1]! };
}
