/**
 * Packets the engine writes itself, through a raw socket carrying
 * BUSTED_REINJECT_MARK, which the packet hook lets through without holding
 * or reporting them again. Node has no raw sockets, so this goes through libc.
 *
 * - A DNS answer the hook held back (pkt.bpf.c must_hold): the datagram the
 *   resolver sent (same addresses, ports and message), so the client's
 *   resolver sees the answer it waited for, a moment late.
 * - A probe for a held plain-text request (BUSTED_PLAIN_GATE): one byte the
 *   server already has, so that it acknowledges and the sender tries its
 *   held segment again at once (tcpProbe).
 */
import { BustedError, ErrorCode } from '../model/errors.js';
import { AF_INET, AF_INET6, c, errno, IPPROTO_RAW, SO_MARK, SOCK_CLOEXEC, SOCK_RAW, SOL_SOCKET } from './ffi.js';
import * as W from './wire.generated.js';

export interface Datagram {
  family: 4 | 6;
  /** network order, 4 or 16 bytes */
  src: Uint8Array;
  srcPort: number;
  dst: Uint8Array;
  dstPort: number;
  payload: Uint8Array;
}

const sockets: Record<4 | 6, number> = { 4: -1, 6: -1 };

function rawSocket(family: 4 | 6): number {
  if (sockets[family] >= 0) return sockets[family];
  // IPPROTO_RAW: we write the IP header ourselves (IP_HDRINCL, IPV6_HDRINCL implied)
  const fd = c.socket(family === 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW) as number;
  if (fd < 0) throw new BustedError(ErrorCode.UNSUPPORTED, `raw socket: errno ${errno()} (needs CAP_NET_RAW)`);
  const mark = new Uint8Array(4);
  new DataView(mark.buffer).setUint32(0, W.BUSTED_REINJECT_MARK, true);
  if ((c.setsockopt(fd, SOL_SOCKET, SO_MARK, mark, 4) as number) < 0) throw new BustedError(ErrorCode.UNSUPPORTED, `SO_MARK: errno ${errno()} (needs CAP_NET_ADMIN)`);
  sockets[family] = fd;
  return fd;
}

/** Open both raw sockets (throws what stands in the way): for `busted doctor`. */
export function rawSocketCheck(): void {
  rawSocket(4);
  rawSocket(6);
}

/** RFC 1071 ones' complement sum, folded. */
function sum16(bytes: Uint8Array, start = 0): number {
  let s = start;
  for (let i = 0; i + 1 < bytes.length; i += 2) s += (bytes[i]! << 8) | bytes[i + 1]!;
  if (bytes.length & 1) s += bytes[bytes.length - 1]! << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

/** The sum of a TCP or UDP pseudo-header (RFC 9293 3.1, RFC 768, RFC 8200 8.1): SRC and DST of 4 or 16 bytes. */
function pseudoSum(src: Uint8Array, dst: Uint8Array, proto: number, len: number): number {
  const v4 = src.length === 4;
  const p = new Uint8Array(v4 ? 12 : 40);
  const pv = new DataView(p.buffer);
  p.set(src, 0);
  p.set(dst, src.length);
  if (v4) {
    p[9] = proto;
    pv.setUint16(10, len);
  } else {
    pv.setUint32(32, len);
    p[39] = proto;
  }
  return sum16(p);
}

/** The datagram as it goes on the wire: IP header, UDP header, payload (exported for tests). */
export function buildDatagram(d: Datagram): Uint8Array {
  const udpLen = 8 + d.payload.length;
  const ipLen = d.family === 4 ? 20 : 40;
  const pkt = new Uint8Array(ipLen + udpLen);
  const dv = new DataView(pkt.buffer);
  if (d.family === 4) {
    pkt[0] = 0x45;
    dv.setUint16(2, pkt.length);
    pkt[8] = 64; // TTL
    pkt[9] = 17; // UDP
    pkt.set(d.src.subarray(0, 4), 12);
    pkt.set(d.dst.subarray(0, 4), 16);
    dv.setUint16(10, ~sum16(pkt.subarray(0, 20)) & 0xffff);
  } else {
    pkt[0] = 0x60;
    dv.setUint16(4, udpLen);
    pkt[6] = 17;
    pkt[7] = 64; // hop limit
    pkt.set(d.src.subarray(0, 16), 8);
    pkt.set(d.dst.subarray(0, 16), 24);
  }
  const u = ipLen;
  dv.setUint16(u, d.srcPort);
  dv.setUint16(u + 2, d.dstPort);
  dv.setUint16(u + 4, udpLen);
  pkt.set(d.payload, u + 8);
  // UDP checksum over the pseudo-header (RFC 768; RFC 8200 8.1: required on IPv6)
  const n = d.family === 4 ? 4 : 16;
  let ck = ~sum16(pkt.subarray(u), pseudoSum(d.src.subarray(0, n), d.dst.subarray(0, n), 17, udpLen)) & 0xffff;
  if (ck === 0) ck = 0xffff;
  dv.setUint16(u + 6, ck);
  return pkt;
}

/** Deliver the datagram (to a local socket: the resolver's answer). */
export function reinject(d: Datagram): void {
  sendRaw(buildDatagram(d), 'a held DNS answer');
}

/**
 * A TCP packet made from a segment's IP and TCP headers as they left, with
 * another sequence number and payload: the IP total length (IPv4) or
 * payload length (IPv6) and both checksums are computed here (the kernel's
 * copy may carry only the pseudo-header sum it left for the device).
 */
export function tcpPacket(headers: Uint8Array, seq: number, payload: Uint8Array): Uint8Array {
  const v4 = (headers[0]! >> 4) === 4;
  const ipLen = v4 ? (headers[0]! & 0x0f) * 4 : 40;
  if (headers.length < ipLen + 20) throw new BustedError(ErrorCode.BPF, `held segment headers of ${headers.length} bytes`);
  const tcpLen = (headers[ipLen + 12]! >> 4) * 4;
  if (tcpLen < 20 || headers.length < ipLen + tcpLen) throw new BustedError(ErrorCode.BPF, `held segment headers of ${headers.length} bytes, TCP header of ${tcpLen}`);
  const pkt = new Uint8Array(ipLen + tcpLen + payload.length);
  pkt.set(headers.subarray(0, ipLen + tcpLen));
  pkt.set(payload, ipLen + tcpLen);
  const dv = new DataView(pkt.buffer);
  dv.setUint32(ipLen + 4, seq >>> 0);
  const segLen = tcpLen + payload.length;
  if (v4) {
    dv.setUint16(2, pkt.length);
    dv.setUint16(10, 0);
    dv.setUint16(10, ~sum16(pkt.subarray(0, ipLen)) & 0xffff);
  } else {
    dv.setUint16(4, segLen);
  }
  const pseudo = v4 ? pseudoSum(pkt.subarray(12, 16), pkt.subarray(16, 20), 6, segLen) : pseudoSum(pkt.subarray(8, 24), pkt.subarray(24, 40), 6, segLen);
  dv.setUint16(ipLen + 16, 0);
  dv.setUint16(ipLen + 16, ~sum16(pkt.subarray(ipLen), pseudo) & 0xffff);
  return pkt;
}

/**
 * The probe that makes a server acknowledge at once: one byte just below
 * what it has received from the sender of HEADERS (whose segment starts at
 * `seq`). The server has that byte already, so it drops it and answers
 * with an ACK (RFC 9293 3.10.7.4; Linux: a duplicate's immediate ACK),
 * and that ACK makes the sender try its held segment again now instead of
 * at its probe timer (200 ms or more).
 */
export function tcpProbe(headers: Uint8Array, seq: number): Uint8Array {
  return tcpPacket(headers, (seq - 1) >>> 0, Uint8Array.of(0));
}

/**
 * Send a whole IP packet, headers included, through the marked raw socket
 * of its IP version, to the destination its header names; WHAT names it in
 * the error.
 */
export function sendRaw(pkt: Uint8Array, what: string): void {
  const family = pkt[0]! >> 4 === 4 ? 4 : 6;
  const fd = rawSocket(family);
  const sa = new Uint8Array(family === 4 ? 16 : 28);
  new DataView(sa.buffer).setUint16(0, family === 4 ? AF_INET : AF_INET6, true);
  // the port must be 0 for raw sockets (the header has the real ones)
  if (family === 4) sa.set(pkt.subarray(16, 20), 4);
  else sa.set(pkt.subarray(24, 40), 8);
  if ((c.sendto(fd, pkt, pkt.length, 0, sa, sa.length) as number) < 0) throw new BustedError(ErrorCode.BPF, `sending ${what} on: errno ${errno()}`);
}
