/**
 * Stage 1: ring buffer bytes → typed kernel records (plain data).
 *
 * Offsets come from wire.generated.ts (the compiler's layout of
 * bpf/busted.h), never from hand-written numbers. A record that does not
 * fit its kind's layout is reported as a WireError record, not thrown: one
 * bad record must not stop the stream.
 */
import * as W from '../kernel/wire.generated.js';

export interface TaskRecord {
  pid: number;
  tid: number;
  ppid: number;
  uid: number;
  gid: number;
  flags: number;
  comm: string;
  cgroupId: number;
}

export interface FlowRecord {
  family: 4 | 6;
  protocol: number;
  /** this host's end */
  saddr: string;
  sport: number;
  /** the peer */
  daddr: string;
  dport: number;
}

interface Base {
  /** CLOCK_MONOTONIC ns (bpf_ktime_get_ns) */
  ts: number;
  task: TaskRecord;
}

export interface ExecRecord extends Base {
  kind: 'exec';
  filename: string;
  argv: string[];
  argsTruncated: boolean;
  /** the program image's id (hex; '0' when images are not tracked): enforcement verdicts are per image */
  image: string;
  /** the executable's file as the kernel knows it (busted_exe_key): device (kernel encoding), inode, inode change time */
  exe?: ExeKey;
  /** the process is stopped before its first instruction until the engine has hashed its executable (callId: its hold) */
  held?: { callId: string };
}

/** An executable file: its device (the kernel's encoding, major << 20 | minor), inode and inode change time in ns. */
export interface ExeKey {
  dev: number;
  ino: bigint;
  ctimeNs: bigint;
}

export interface ExitRecord extends Base {
  kind: 'exit';
  exitCode: number;
  startNs: number;
}

export type TcpPhase = 'connected' | 'accepted' | 'closed' | 'failed';

export interface TcpRecord extends Base {
  kind: 'tcp';
  phase: TcpPhase;
  sockId: SockId;
  flow: FlowRecord;
  egress: boolean | undefined;
  bytesSent: number;
  bytesReceived: number;
  startNs: number;
}

export interface UdpRecord extends Base {
  kind: 'udp';
  phase: 'flow' | 'closed';
  sockId: SockId;
  flow: FlowRecord;
  egress: boolean | undefined;
  bytesSent: number;
  bytesReceived: number;
  startNs: number;
}

export type PktKind = 'dns' | 'tls_hello' | 'tls_cont' | 'dns_held' | 'quic' | 'http' | 'http_held' | 'hello_held' | 'quic_held' | 'sock_held';

export interface PktRecord extends Base {
  kind: 'pkt';
  pktKind: PktKind;
  sockId: SockId;
  flow: FlowRecord;
  egress: boolean;
  /** payload bytes in the packet */
  len: number;
  /** the captured prefix (a copy: the ring's memory is reused) */
  data: Uint8Array;
  /** 'http': the TCP sequence number of data[0]; 'http_held', 'hello_held', 'sock_held': of the held segment's payload (0 for the other kinds) */
  seq: number;
  /** 'http', 'http_held': a connection marked skip is followed again from this segment, which starts a request (pkt.bpf.c BUSTED_PKT_F_RESTART) */
  restart?: true;
}

export type TlsOp = 'write' | 'read' | 'sni' | 'fd' | 'free' | 'write_done';

/** One chunk of one SSL_read/SSL_write call, or a note about an SSL* (tls.bpf.c). */
export interface TlsRecord extends Base {
  kind: 'tls';
  op: TlsOp;
  /** the SSL* (a user address, as a string: it may exceed 2^53) */
  ssl: string;
  /** ties the chunks of one call together ('0' for notes) */
  callId: string;
  /** bytes the call moved (write/read), the fd (fd), the name's length (sni) */
  len: number;
  /** where data starts within the call's bytes */
  offset: number;
  /** the copied bytes (a copy: the ring's memory is reused) */
  data: Uint8Array;
  /** the attach cookie: which library's probes saw it */
  lib: number;
  /** copied at SSL_write entry and held there (SIGSTOP) until the engine decides */
  gated: boolean;
  /** a gated write held in the packet hook, its thread not stopped (tls.bpf.c hold_in_packets): the socket held, and the hold's number on it */
  pktHeld?: { sock: bigint; n: number };
  /** the call's buffer (a user address): a held write's bytes past the cap are read there (tls-data.ts) */
  buf: bigint;
  /** a write that starts a request on a connection marked skip: followed again from here (tls.bpf.c BUSTED_TLS_F_RESTART) */
  restart?: true;
  /** a watched HTTP/2 connection's write with a request body: its reads are copied from here (tls.bpf.c watch_reads) */
  readsOn?: true;
}

export type EnforceWhat = 'connect_refused' | 'sendmsg_refused' | 'ssl_socket' | 'packet_dropped';

/** What the enforcement hooks did or learnt (enforce.bpf.c, pkt.bpf.c). */
export interface EnforceRecord extends Base {
  kind: 'enforce';
  what: EnforceWhat;
  sockId: SockId;
  /** the program image whose verdict applied (hex), '0' if none */
  image: string;
  /** the SSL* (hex) of ssl_socket */
  ssl: string;
  flow: FlowRecord;
  /** the destination's class (a provider's number) */
  klass: number;
  /** which verdict a refusal applied */
  source: 'image' | 'cgroup' | 'default' | 'host' | undefined;
}

export type FlowPhase = 'update' | 'end';

/** The traffic shape of one TCP connection this host opened (flow.bpf.h; fields as in struct busted_flow_event, times in ns). */
export interface FlowStatRecord extends Base {
  kind: 'flow';
  phase: FlowPhase;
  sockId: SockId;
  flow: FlowRecord;
  startNs: number;
  firstNs: number;
  lastNs: number;
  sendBytes: number;
  recvBytes: number;
  sends: number;
  recvs: number;
  exchanges: number;
  answered: number;
  bursts: number;
  ttfbFirstNs: number;
  ttfbMinNs: number;
  ttfbMaxNs: number;
  ttfbSumNs: number;
  reqBytesMax: number;
  respBytesMax: number;
  respNsMax: number;
  idleNsMax: number;
  gaps: number;
  gapSumUs: number;
  /** sum of squared gaps, in (100 µs)² */
  gapSq: number;
  burstHist: number[];
  gapHist: number[];
}

export interface WireErrorRecord {
  kind: 'wire_error';
  message: string;
  /** the field that did not fit */
  field: string;
}

/** A write() of JSON-RPC to a pipe or UNIX socket (bpf/stdio.bpf.c): MCP over stdio. */
export interface StdioRecord extends Base {
  kind: 'stdio';
  /** the struct file written to (hex): with task.pid, one stream */
  file: string;
  fd: number;
  /** bytes the write asked for; data holds the first of them */
  len: number;
  end: 'pipe' | 'unix';
  /** the reading end (a pipe's inode, a UNIX socket's sock, hex): a write's equals the read's that gets its bytes */
  peer: string;
  /** a write's: its reading end's inode number (`pipe:[N]`, `socket:[N]` in its reader's /proc/PID/fd); 0 unknown */
  peerIno: number;
  /** a read by the other end (enforce), not a write; `held`: its thread is stopped until let go (callId its hold) */
  read?: { held: boolean; callId: string };
  data: Uint8Array;
}

export type KernelRecord = ExecRecord | ExitRecord | TcpRecord | UdpRecord | PktRecord | TlsRecord | EnforceRecord | FlowStatRecord | StdioRecord | WireErrorRecord;

const utf8 = new TextDecoder('utf-8', { fatal: false });

function u64(dv: DataView, off: number): number {
  // Two halves: exact below 2^53, which covers byte counters and ~104 days
  // of monotonic nanoseconds at full precision (then ~2 ns granularity).
  return dv.getUint32(off + 4, true) * 0x100000000 + dv.getUint32(off, true);
}

/** A NUL-terminated string. Task names are short ASCII: building those
 * char by char is several times cheaper than a TextDecoder call (which was
 * a third of the decode time); anything else goes through the decoder. */
function cstr(dv: DataView, off: number, max: number): string {
  let s = '';
  for (let i = 0; i < max; i++) {
    const b = dv.getUint8(off + i);
    if (b === 0) return s;
    if (b >= 0x80) {
      const bytes = new Uint8Array(dv.buffer, dv.byteOffset + off, max);
      let end = bytes.indexOf(0);
      if (end < 0) end = max;
      return utf8.decode(bytes.subarray(0, end));
    }
    s += String.fromCharCode(b);
  }
  return s;
}

/** A u64 in hex, as BigInt's toString(16) writes it, without making a BigInt. */
function hex64(dv: DataView, off: number): string {
  const hi = dv.getUint32(off + 4, true);
  const lo = dv.getUint32(off, true);
  return hi === 0 ? lo.toString(16) : hi.toString(16) + lo.toString(16).padStart(8, '0');
}

/** A socket id as a Map key: a Number while exact (cookies count up from
 * 1), a string beyond 2^53 (the raw_tp build's kernel addresses). */
export type SockId = number | string;
function sockId(dv: DataView, off: number): SockId {
  const hi = dv.getUint32(off + 4, true);
  const lo = dv.getUint32(off, true);
  return hi < 0x200000 ? hi * 0x100000000 + lo : `${hi.toString(16)}:${lo.toString(16)}`;
}

// A task's name is 16 bytes, and the same few names come back record after
// record: remember each name's text by its raw bytes (direct-mapped by a
// hash of the four words), so a record costs four reads and a compare
// instead of building the string again (that was a third of a TCP
// record's decode). Bytes after the NUL are part of the key, so whatever
// the kernel leaves there can only cost a miss, never a wrong name.
const COMM_SLOTS = 512;
const commWords = new Int32Array(COMM_SLOTS * 4);
const commText: Array<string | undefined> = new Array<string | undefined>(COMM_SLOTS).fill(undefined);

function comm(dv: DataView, off: number): string {
  const a = dv.getInt32(off, true);
  const b = dv.getInt32(off + 4, true);
  const c = dv.getInt32(off + 8, true);
  const d = dv.getInt32(off + 12, true);
  const slot = Math.imul(a ^ Math.imul(b, 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35) ^ Math.imul(d, 0x27d4eb2f), 0x9e3779b1) >>> 23;
  const k = slot * 4;
  const hit = commText[slot];
  if (hit !== undefined && commWords[k] === a && commWords[k + 1] === b && commWords[k + 2] === c && commWords[k + 3] === d) return hit;
  const s = cstr(dv, off, W.TASK.comm_LEN);
  commWords[k] = a;
  commWords[k + 1] = b;
  commWords[k + 2] = c;
  commWords[k + 3] = d;
  commText[slot] = s;
  return s;
}

function task(dv: DataView, base: number): TaskRecord {
  const t = base + W.HDR.task;
  return {
    pid: dv.getUint32(t + W.TASK.pid, true),
    tid: dv.getUint32(t + W.TASK.tid, true),
    ppid: dv.getUint32(t + W.TASK.ppid, true),
    uid: dv.getUint32(t + W.TASK.uid, true),
    gid: dv.getUint32(t + W.TASK.gid, true),
    flags: dv.getUint32(t + W.TASK.flags, true),
    comm: comm(dv, t + W.TASK.comm),
    cgroupId: u64(dv, t + W.TASK.cgroup_id),
  };
}

// Formatting addresses is the costliest part of decoding a flow; the same
// few addresses recur, so remember their text by raw value (IPv4:
// direct-mapped by a hash of the address, cheaper than a Map lookup).
const V4_SLOTS = 4096;
const v4raw = new Int32Array(V4_SLOTS);
const v4text: Array<string | undefined> = new Array<string | undefined>(V4_SLOTS).fill(undefined);
const V6_SLOTS = 1024;
const v6words = new Int32Array(V6_SLOTS * 4);
const v6text: Array<string | undefined> = new Array<string | undefined>(V6_SLOTS).fill(undefined);

export function ipv4(dv: DataView, off: number): string {
  const raw = dv.getInt32(off, false);
  const slot = Math.imul(raw, 0x9e3779b1) >>> 20;
  const hit = v4text[slot];
  if (hit !== undefined && v4raw[slot] === raw) return hit;
  const s = `${raw >>> 24}.${(raw >>> 16) & 255}.${(raw >>> 8) & 255}.${raw & 255}`;
  v4raw[slot] = raw;
  v4text[slot] = s;
  return s;
}

/** RFC 5952 text form; v4-mapped addresses (::ffff:a.b.c.d) as plain IPv4. */
export function ipv6(dv: DataView, off: number): string {
  const a = dv.getInt32(off, false);
  const b = dv.getInt32(off + 4, false);
  const c = dv.getInt32(off + 8, false);
  const d = dv.getInt32(off + 12, false);
  if (a === 0 && b === 0 && c === 0xffff) return ipv4(dv, off + 12);
  const slot = Math.imul(a ^ Math.imul(b, 0x85ebca6b) ^ Math.imul(c, 0xc2b2ae35) ^ Math.imul(d, 0x27d4eb2f), 0x9e3779b1) >>> 22;
  const k = slot * 4;
  const hit = v6text[slot];
  if (hit !== undefined && v6words[k] === a && v6words[k + 1] === b && v6words[k + 2] === c && v6words[k + 3] === d) return hit;
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push(dv.getUint16(off + i, false));
  // Longest run of zero words (length ≥ 2) becomes "::" (RFC 5952 §4.2).
  let bestAt = -1, bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestAt = i; bestLen = j - i; }
    i = j;
  }
  const hex = (x: number[]) => x.map((w) => w.toString(16)).join(':');
  const s = bestAt < 0 ? hex(words) : `${hex(words.slice(0, bestAt))}::${hex(words.slice(bestAt + bestLen))}`;
  v6words[k] = a;
  v6words[k + 1] = b;
  v6words[k + 2] = c;
  v6words[k + 3] = d;
  v6text[slot] = s;
  return s;
}

function flow(dv: DataView, off: number): FlowRecord {
  const family = dv.getUint8(off + W.FLOW.family);
  let fam: 4 | 6 = family === 4 ? 4 : 6;
  let saddr: string, daddr: string;
  if (fam === 4) {
    saddr = ipv4(dv, off + W.FLOW.saddr);
    daddr = ipv4(dv, off + W.FLOW.daddr);
  } else {
    saddr = ipv6(dv, off + W.FLOW.saddr);
    daddr = ipv6(dv, off + W.FLOW.daddr);
    // A dual-stack socket talking to an IPv4 peer: report it as IPv4.
    if (!daddr.includes(':') && !saddr.includes(':')) fam = 4;
  }
  return {
    family: fam,
    protocol: dv.getUint8(off + W.FLOW.protocol),
    saddr,
    sport: dv.getUint16(off + W.FLOW.sport, true),
    daddr,
    dport: dv.getUint16(off + W.FLOW.dport, true),
  };
}

const TCP_PHASES: Record<number, TcpPhase> = {
  [W.BUSTED_TCP_CONNECTED]: 'connected',
  [W.BUSTED_TCP_ACCEPTED]: 'accepted',
  [W.BUSTED_TCP_CLOSED]: 'closed',
  [W.BUSTED_TCP_FAILED]: 'failed',
};

const PKT_KINDS: Record<number, PktKind> = {
  [W.BUSTED_PKT_DNS]: 'dns',
  [W.BUSTED_PKT_TLS_HELLO]: 'tls_hello',
  [W.BUSTED_PKT_TLS_CONT]: 'tls_cont',
  [W.BUSTED_PKT_DNS_HELD]: 'dns_held',
  [W.BUSTED_PKT_QUIC]: 'quic',
  [W.BUSTED_PKT_HTTP]: 'http',
  [W.BUSTED_PKT_HTTP_HELD]: 'http_held',
  [W.BUSTED_PKT_HELLO_HELD]: 'hello_held',
  [W.BUSTED_PKT_QUIC_HELD]: 'quic_held',
  [W.BUSTED_PKT_SOCK_HELD]: 'sock_held',
};

const TLS_OPS: Record<number, TlsOp> = {
  [W.BUSTED_TLS_WRITE]: 'write',
  [W.BUSTED_TLS_READ]: 'read',
  [W.BUSTED_TLS_SNI]: 'sni',
  [W.BUSTED_TLS_FD]: 'fd',
  [W.BUSTED_TLS_FREE]: 'free',
  [W.BUSTED_TLS_WRITE_DONE]: 'write_done',
};

const ENFORCE_WHATS: Record<number, EnforceWhat> = {
  [W.BUSTED_ENF_CONNECT_REFUSED]: 'connect_refused',
  [W.BUSTED_ENF_SENDMSG_REFUSED]: 'sendmsg_refused',
  [W.BUSTED_ENF_SSL_SOCKET]: 'ssl_socket',
  [W.BUSTED_ENF_PACKET_DROPPED]: 'packet_dropped',
};

const VERDICT_SOURCES: Record<number, EnforceRecord['source']> = {
  [W.BUSTED_VSRC_IMAGE]: 'image',
  [W.BUSTED_VSRC_CGROUP]: 'cgroup',
  [W.BUSTED_VSRC_DEFAULT]: 'default',
  [W.BUSTED_VSRC_HOST]: 'host',
};

function dirOf(v: number): boolean | undefined {
  return v === W.BUSTED_DIR_EGRESS ? true : v === W.BUSTED_DIR_INGRESS ? false : undefined;
}

// Captured bytes are copied out of the ring (its memory is reused). Most
// are small (DNS messages, hellos): an ArrayBuffer.slice of them cost more
// than the rest of the record's decode, a small typed array filled byte by
// byte (kept on V8's heap up to 64 bytes) far less.
let ringBuf: ArrayBufferLike | undefined;
let ringBytes: Uint8Array = new Uint8Array(0);
const SMALL_COPY = 256;

function copyOut(dv: DataView, start: number, len: number): Uint8Array {
  if (len > SMALL_COPY) return new Uint8Array(dv.buffer.slice(start, start + len));
  if (dv.buffer !== ringBuf) {
    ringBuf = dv.buffer;
    ringBytes = new Uint8Array(dv.buffer);
  }
  const out = new Uint8Array(len);
  const src = ringBytes;
  for (let i = 0; i < len; i++) out[i] = src[start + i]!;
  return out;
}

function wireError(message: string, field: string): WireErrorRecord {
  return { kind: 'wire_error', message, field };
}

/** Decode one ring buffer record at dv[off, off+len). */
export function decodeRecord(dv: DataView, off: number, len: number): KernelRecord {
  if (len < W.HDR.size) return wireError(`record of ${len} bytes is shorter than its header (${W.HDR.size})`, 'hdr');
  const kind = dv.getUint32(off + W.HDR.kind, true);
  const abi = dv.getUint32(off + W.HDR.abi, true);
  if (abi !== W.BUSTED_ABI) return wireError(`record ABI ${abi}, engine speaks ${W.BUSTED_ABI}`, 'hdr.abi');
  const ts = u64(dv, off + W.HDR.ts_ns);
  switch (kind) {
    case W.BUSTED_KIND_EXEC: {
      if (len < W.EXEC.size) return wireError(`exec record of ${len} bytes, want ${W.EXEC.size}`, 'exec');
      const fnLen = Math.min(dv.getUint32(off + W.EXEC.filename_len, true), W.EXEC.filename_LEN);
      const argsLen = Math.min(dv.getUint32(off + W.EXEC.args_len, true), W.EXEC.args_LEN);
      const filename = utf8.decode(new Uint8Array(dv.buffer, dv.byteOffset + off + W.EXEC.filename, fnLen));
      const raw = utf8.decode(new Uint8Array(dv.buffer, dv.byteOffset + off + W.EXEC.args, argsLen));
      const argv = raw.split('\0');
      if (argv.length && argv[argv.length - 1] === '') argv.pop();
      return {
        kind: 'exec',
        ts,
        task: task(dv, off),
        filename,
        argv,
        argsTruncated: dv.getUint32(off + W.EXEC.args_truncated, true) !== 0,
        image: hex64(dv, off + W.EXEC.image),
        exe: {
          dev: dv.getUint32(off + W.EXEC.exe_dev, true),
          ino: dv.getBigUint64(off + W.EXEC.exe_ino, true),
          ctimeNs: dv.getBigUint64(off + W.EXEC.exe_ctime_ns, true),
        },
        ...(dv.getUint32(off + W.EXEC.flags, true) & W.BUSTED_EXEC_HELD ? { held: { callId: hex64(dv, off + W.EXEC.call_id) } } : {}),
      };
    }
    case W.BUSTED_KIND_EXIT:
      if (len < W.EXIT.size) return wireError(`exit record of ${len} bytes, want ${W.EXIT.size}`, 'exit');
      return {
        kind: 'exit',
        ts,
        task: task(dv, off),
        exitCode: dv.getUint32(off + W.EXIT.exit_code, true),
        startNs: u64(dv, off + W.EXIT.start_ns),
      };
    case W.BUSTED_KIND_TCP: {
      if (len < W.TCP.size) return wireError(`tcp record of ${len} bytes, want ${W.TCP.size}`, 'tcp');
      const phase = TCP_PHASES[dv.getUint32(off + W.TCP.phase, true)];
      if (!phase) return wireError(`unknown tcp phase ${dv.getUint32(off + W.TCP.phase, true)}`, 'tcp.phase');
      return {
        kind: 'tcp',
        ts,
        task: task(dv, off),
        phase,
        sockId: sockId(dv, off + W.TCP.sock_id),
        flow: flow(dv, off + W.TCP.flow),
        egress: dirOf(dv.getUint32(off + W.TCP.dir, true)),
        bytesSent: u64(dv, off + W.TCP.bytes_sent),
        bytesReceived: u64(dv, off + W.TCP.bytes_received),
        startNs: u64(dv, off + W.TCP.start_ns),
      };
    }
    case W.BUSTED_KIND_UDP: {
      if (len < W.UDP.size) return wireError(`udp record of ${len} bytes, want ${W.UDP.size}`, 'udp');
      const p = dv.getUint32(off + W.UDP.phase, true);
      if (p !== W.BUSTED_UDP_FLOW && p !== W.BUSTED_UDP_CLOSED) return wireError(`unknown udp phase ${p}`, 'udp.phase');
      return {
        kind: 'udp',
        ts,
        task: task(dv, off),
        phase: p === W.BUSTED_UDP_FLOW ? 'flow' : 'closed',
        sockId: sockId(dv, off + W.UDP.sock_id),
        flow: flow(dv, off + W.UDP.flow),
        // The flow record reuses _pad for its direction (see pkt.bpf.c).
        egress: dirOf(dv.getUint32(off + W.UDP._pad, true)),
        bytesSent: u64(dv, off + W.UDP.bytes_sent),
        bytesReceived: u64(dv, off + W.UDP.bytes_received),
        startNs: u64(dv, off + W.UDP.start_ns),
      };
    }
    case W.BUSTED_KIND_PKT: {
      if (len < W.PKT.data) return wireError(`packet record of ${len} bytes, shorter than its fixed part`, 'pkt');
      const pktKind = PKT_KINDS[dv.getUint32(off + W.PKT.pkt_kind, true)];
      if (!pktKind) return wireError(`unknown packet kind ${dv.getUint32(off + W.PKT.pkt_kind, true)}`, 'pkt.pkt_kind');
      const cap = dv.getUint32(off + W.PKT.cap_len, true);
      if (cap > W.PKT.data_LEN || W.PKT.data + cap > len) {
        return wireError(`packet cap_len ${cap} exceeds the record (${len} bytes)`, 'pkt.cap_len');
      }
      // the kernel copies at most the packet (pkt.bpf.c emit_pkt: cap = min(len, BUSTED_PKT_MAX)); more
      // captured than the packet held would read as a whole hello or DNS message that is not one
      const plen = dv.getUint32(off + W.PKT.len, true);
      // (a held segment's record carries its headers, not its payload: len is the payload's)
      if (cap > plen && pktKind !== 'http_held' && pktKind !== 'hello_held' && pktKind !== 'sock_held') return wireError(`packet cap_len ${cap} exceeds its len ${plen}`, 'pkt.len');
      const start = dv.byteOffset + off + W.PKT.data;
      return {
        kind: 'pkt',
        ts,
        task: task(dv, off),
        pktKind,
        sockId: sockId(dv, off + W.PKT.sock_id),
        flow: flow(dv, off + W.PKT.flow),
        egress: dv.getUint32(off + W.PKT.dir, true) === W.BUSTED_DIR_EGRESS,
        len: plen,
        data: copyOut(dv, start, cap),
        seq: dv.getUint32(off + W.PKT.seq, true),
        ...(dv.getUint32(off + W.PKT.flags, true) & W.BUSTED_PKT_F_RESTART ? { restart: true as const } : {}),
      };
    }
    case W.BUSTED_KIND_TLS: {
      if (len < W.TLS.data) return wireError(`tls record of ${len} bytes, shorter than its fixed part`, 'tls');
      const op = TLS_OPS[dv.getUint32(off + W.TLS.op, true)];
      if (!op) return wireError(`unknown tls op ${dv.getUint32(off + W.TLS.op, true)}`, 'tls.op');
      const cap = dv.getUint32(off + W.TLS.cap_len, true);
      if (cap > W.TLS.data_LEN || W.TLS.data + cap > len) return wireError(`tls cap_len ${cap} exceeds the record (${len} bytes)`, 'tls.cap_len');
      // a chunk of a call lies within the call (tls.bpf.c copy_chunk: offset < len, offset + cap_len <= len):
      // one beyond it was put back together past the end of the call's buffer, a RangeError that
      // stopped the consumer (found by fuzzing the decoder into the TLS assembler)
      const callLen = dv.getUint32(off + W.TLS.len, true);
      const at = dv.getUint32(off + W.TLS.offset, true);
      if ((op === 'read' || op === 'write') && at + cap > callLen) return wireError(`tls chunk of ${cap} bytes at offset ${at} exceeds its call's len ${callLen}`, 'tls.offset');
      const start = dv.byteOffset + off + W.TLS.data;
      const flags = dv.getUint32(off + W.TLS.flags, true);
      return {
        kind: 'tls',
        ts,
        task: task(dv, off),
        op,
        ssl: hex64(dv, off + W.TLS.ssl),
        callId: hex64(dv, off + W.TLS.call_id),
        len: callLen,
        offset: at,
        data: copyOut(dv, start, cap),
        lib: dv.getUint32(off + W.TLS.lib, true),
        gated: (flags & W.BUSTED_TLS_F_GATED) !== 0,
        buf: dv.getBigUint64(off + W.TLS.buf, true),
        ...(flags & W.BUSTED_TLS_F_RESTART ? { restart: true as const } : {}),
        ...(flags & W.BUSTED_TLS_F_READS_ON ? { readsOn: true as const } : {}),
        ...(flags & W.BUSTED_TLS_F_PKT_HELD ? { pktHeld: { sock: dv.getBigUint64(off + W.TLS.sock_id, true), n: dv.getUint32(off + W.TLS.hold_n, true) } } : {}),
      };
    }
    case W.BUSTED_KIND_ENFORCE: {
      if (len < W.ENFORCE.size) return wireError(`enforce record of ${len} bytes, want ${W.ENFORCE.size}`, 'enforce');
      const what = ENFORCE_WHATS[dv.getUint32(off + W.ENFORCE.what, true)];
      if (!what) return wireError(`unknown enforce record ${dv.getUint32(off + W.ENFORCE.what, true)}`, 'enforce.what');
      return {
        kind: 'enforce',
        ts,
        task: task(dv, off),
        what,
        sockId: sockId(dv, off + W.ENFORCE.sock_id),
        image: hex64(dv, off + W.ENFORCE.image),
        ssl: hex64(dv, off + W.ENFORCE.ssl),
        flow: flow(dv, off + W.ENFORCE.flow),
        klass: dv.getUint32(off + W.ENFORCE.klass, true),
        source: VERDICT_SOURCES[dv.getUint32(off + W.ENFORCE.source, true)],
      };
    }
    case W.BUSTED_KIND_FLOW: {
      if (len < W.FLOWSTAT.size) return wireError(`flow record of ${len} bytes, want ${W.FLOWSTAT.size}`, 'flow');
      const p = dv.getUint32(off + W.FLOWSTAT.phase, true);
      if (p !== W.BUSTED_FLOW_UPDATE && p !== W.BUSTED_FLOW_END) return wireError(`unknown flow phase ${p}`, 'flow.phase');
      const F = W.FLOWSTAT;
      const hist = (at: number, n: number) => {
        const h = new Array<number>(n);
        for (let i = 0; i < n; i++) h[i] = dv.getUint32(off + at + 4 * i, true);
        return h;
      };
      return {
        kind: 'flow',
        ts,
        task: task(dv, off),
        phase: p === W.BUSTED_FLOW_UPDATE ? 'update' : 'end',
        sockId: sockId(dv, off + F.sock_id),
        flow: flow(dv, off + F.flow),
        startNs: u64(dv, off + F.start_ns),
        firstNs: u64(dv, off + F.first_ns),
        lastNs: u64(dv, off + F.last_ns),
        sendBytes: u64(dv, off + F.send_bytes),
        recvBytes: u64(dv, off + F.recv_bytes),
        sends: dv.getUint32(off + F.sends, true),
        recvs: dv.getUint32(off + F.recvs, true),
        exchanges: dv.getUint32(off + F.exchanges, true),
        answered: dv.getUint32(off + F.answered, true),
        bursts: dv.getUint32(off + F.bursts, true),
        ttfbFirstNs: u64(dv, off + F.ttfb_first_ns),
        ttfbMinNs: u64(dv, off + F.ttfb_min_ns),
        ttfbMaxNs: u64(dv, off + F.ttfb_max_ns),
        ttfbSumNs: u64(dv, off + F.ttfb_sum_ns),
        reqBytesMax: u64(dv, off + F.req_bytes_max),
        respBytesMax: u64(dv, off + F.resp_bytes_max),
        respNsMax: u64(dv, off + F.resp_ns_max),
        idleNsMax: u64(dv, off + F.idle_ns_max),
        gaps: dv.getUint32(off + F.gaps, true),
        gapSumUs: u64(dv, off + F.gap_sum_us),
        gapSq: u64(dv, off + F.gap_sq),
        burstHist: hist(F.burst_hist, F.burst_hist_LEN),
        gapHist: hist(F.gap_hist, F.gap_hist_LEN),
      };
    }
    case W.BUSTED_KIND_STDIO: {
      if (len < W.STDIO.data) return wireError(`stdio record of ${len} bytes, shorter than its fixed part`, 'stdio');
      const cap = dv.getUint32(off + W.STDIO.cap_len, true);
      const asked = dv.getUint32(off + W.STDIO.len, true);
      if (cap > W.STDIO.data_LEN || W.STDIO.data + cap > len || cap > asked) return wireError(`stdio cap_len ${cap} exceeds the record (${len} bytes) or its write (${asked})`, 'stdio.cap_len');
      const e = dv.getUint32(off + W.STDIO.end, true);
      if (e !== W.BUSTED_STDIO_PIPE && e !== W.BUSTED_STDIO_UNIX) return wireError(`unknown stdio end ${e}`, 'stdio.end');
      const flags = dv.getUint32(off + W.STDIO.flags, true);
      return {
        kind: 'stdio',
        ts,
        task: task(dv, off),
        file: hex64(dv, off + W.STDIO.file),
        fd: dv.getUint32(off + W.STDIO.fd, true),
        len: asked,
        end: e === W.BUSTED_STDIO_PIPE ? 'pipe' : 'unix',
        peer: hex64(dv, off + W.STDIO.peer),
        peerIno: u64(dv, off + W.STDIO.peer_ino),
        ...(flags & W.BUSTED_STDIO_F_READ ? { read: { held: (flags & W.BUSTED_STDIO_F_HELD) !== 0, callId: hex64(dv, off + W.STDIO.call_id) } } : {}),
        data: copyOut(dv, dv.byteOffset + off + W.STDIO.data, cap),
      };
    }
    default:
      return wireError(`unknown record kind ${kind}`, 'hdr.kind');
  }
}
