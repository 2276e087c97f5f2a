/**
 * DNS messages (RFC 1035 §4) → the event model's DnsInfo.
 *
 * dns-packet does the record decoding: it knows the long tail of RR types
 * (SOA, CAA, DNSKEY, RRSIG, NSEC*, NAPTR, TLSA, ...), EDNS options and name
 * compression. It was written for messages we build ourselves, though, not
 * for bytes an untrusted peer chose, so three things sit around it:
 *
 *  1. A framing pass of our own runs first, over the whole message: header,
 *     section counts against the length, every name (compression pointers may
 *     only point backwards, so a loop is impossible), every RR header and
 *     RDLENGTH. dns-packet decodes RDATA by its contents, not by RDLENGTH, and
 *     reads past the end of a buffer without noticing (Buffer indexing gives
 *     `undefined`, slices clamp); after this pass it is only ever handed a
 *     message whose frame is known to be sound.
 *  2. dns-packet's result is checked against that framing: it must consume
 *     exactly the bytes the framing found, with the same TTL on every record.
 *     Where one of its RDATA decoders disagrees with RDLENGTH, every record
 *     after it would be misread, so that is a malformed message.
 *  3. Everything it throws (Error, RangeError, TypeError, ...) becomes a
 *     ParseError(DNS_MALFORMED); so does anything thrown by our own code.
 *
 * Names are read by our framing pass rather than taken from dns-packet,
 * because dns-packet joins labels with "." without escaping them: the single
 * label "api.openai.com" would print like three labels. We print names in the
 * RFC 4343 §2.1 escaped form ("api\.openai\.com"), lower-cased (RFC 4343 §3:
 * DNS compares ASCII case-insensitively; resolvers and 0x20 randomisation
 * echo any case), without the trailing dot; the root is ".".
 *
 * dns-packet 5.x does not know SVCB/HTTPS (RFC 9460), which is where browsers
 * and HTTP/3 clients learn alpn and address hints, so those are decoded here.
 */
import { Buffer } from 'node:buffer';
import { isIP } from 'node:net';
import dnsPacket from 'dns-packet';
import type { DnsAnswer, DnsInfo, DnsQuestion } from '../model/event.js';
import { ErrorCode, ParseError } from '../model/errors.js';

export interface ParsedDns {
  /** QR bit (RFC 1035 §4.1.1): false for a query, true for a response */
  response: boolean;
  dns: DnsInfo;
}

/** RFC 1035 §4.1.1 */
const HEADER_LEN = 12;
/** smallest question: the root name (1 octet) + QTYPE + QCLASS, RFC 1035 §4.1.2 */
const MIN_QUESTION_LEN = 5;
/** smallest RR: the root name + TYPE, CLASS, TTL, RDLENGTH, RFC 1035 §4.1.3 */
const MIN_RR_LEN = 11;
/** a name is at most 255 octets on the wire, length octets included (RFC 1035 §2.3.4) */
const MAX_NAME_LEN = 255;

const TYPE_A = 1;
const TYPE_NS = 2;
const TYPE_CNAME = 5;
const TYPE_PTR = 12;
const TYPE_MX = 15;
const TYPE_TXT = 16;
const TYPE_AAAA = 28;
const TYPE_SRV = 33;
const TYPE_DNAME = 39;
const TYPE_OPT = 41;
const TYPE_SVCB = 64;
const TYPE_HTTPS = 65;

/** Types whose RDATA rdataValue() reads from the wire itself, without dns-packet's result. */
const OWN_RDATA: ReadonlySet<number> = new Set([
  TYPE_A, TYPE_AAAA, TYPE_CNAME, TYPE_PTR, TYPE_NS, TYPE_DNAME, TYPE_MX, TYPE_SRV, TYPE_SVCB, TYPE_HTTPS,
]);

/**
 * RR TYPE mnemonics from the IANA "Resource Record (RR) TYPEs" registry.
 * Ours rather than dns-packet's because its table lacks SVCB/HTTPS and
 * prints unknown types as "UNKNOWN_n" where RFC 3597 §5 says "TYPEn".
 */
const TYPE_NAMES: ReadonlyMap<number, string> = new Map([
  [1, 'A'], [2, 'NS'], [3, 'MD'], [4, 'MF'], [5, 'CNAME'], [6, 'SOA'], [7, 'MB'], [8, 'MG'],
  [9, 'MR'], [10, 'NULL'], [11, 'WKS'], [12, 'PTR'], [13, 'HINFO'], [14, 'MINFO'], [15, 'MX'],
  [16, 'TXT'], [17, 'RP'], [18, 'AFSDB'], [19, 'X25'], [20, 'ISDN'], [21, 'RT'], [22, 'NSAP'],
  [23, 'NSAP-PTR'], [24, 'SIG'], [25, 'KEY'], [26, 'PX'], [27, 'GPOS'], [28, 'AAAA'], [29, 'LOC'],
  [30, 'NXT'], [31, 'EID'], [32, 'NIMLOC'], [33, 'SRV'], [34, 'ATMA'], [35, 'NAPTR'], [36, 'KX'],
  [37, 'CERT'], [38, 'A6'], [39, 'DNAME'], [40, 'SINK'], [41, 'OPT'], [42, 'APL'], [43, 'DS'],
  [44, 'SSHFP'], [45, 'IPSECKEY'], [46, 'RRSIG'], [47, 'NSEC'], [48, 'DNSKEY'], [49, 'DHCID'],
  [50, 'NSEC3'], [51, 'NSEC3PARAM'], [52, 'TLSA'], [53, 'SMIMEA'], [55, 'HIP'], [56, 'NINFO'],
  [57, 'RKEY'], [58, 'TALINK'], [59, 'CDS'], [60, 'CDNSKEY'], [61, 'OPENPGPKEY'], [62, 'CSYNC'],
  [63, 'ZONEMD'], [64, 'SVCB'], [65, 'HTTPS'], [66, 'DSYNC'], [99, 'SPF'], [100, 'UINFO'],
  [101, 'UID'], [102, 'GID'], [103, 'UNSPEC'], [104, 'NID'], [105, 'L32'], [106, 'L64'],
  [107, 'LP'], [108, 'EUI48'], [109, 'EUI64'], [249, 'TKEY'], [250, 'TSIG'], [251, 'IXFR'],
  [252, 'AXFR'], [253, 'MAILB'], [254, 'MAILA'], [255, 'ANY'], [256, 'URI'], [257, 'CAA'],
  [258, 'AVC'], [259, 'DOA'], [260, 'AMTRELAY'], [261, 'RESINFO'], [262, 'WALLET'],
  [32768, 'TA'], [32769, 'DLV'],
]);

/** The mnemonic of an RR TYPE, or "TYPEn" (RFC 3597 §5) when it has none. */
export function dnsTypeName(n: number): string {
  return TYPE_NAMES.get(n) ?? `TYPE${n}`;
}

/**
 * RCODEs from the IANA "DNS RCODEs" registry: 0–10 RFC 1035 §4.1.1 and
 * RFC 2136 §2.2, 11 RFC 8490, 16+ only reachable with the EDNS extended
 * RCODE (RFC 6891 §6.1.3), where 16 is BADVERS.
 */
const RCODE_NAMES: readonly string[] = [
  'NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET',
  'NXRRSET', 'NOTAUTH', 'NOTZONE', 'DSOTYPENI', 'RCODE_12', 'RCODE_13', 'RCODE_14', 'RCODE_15',
  'BADVERS', 'BADKEY', 'BADTIME', 'BADMODE', 'BADNAME', 'BADALG', 'BADTRUNC', 'BADCOOKIE',
];

function rcodeName(n: number): string {
  return RCODE_NAMES[n] ?? `RCODE_${n}`;
}

type Section = 'header' | 'question' | 'answer' | 'authority' | 'additional';
const RR_SECTIONS: readonly Section[] = ['answer', 'authority', 'additional'];

/** One RR as the framing pass found it; offsets are within the message. */
interface FramedRecord {
  section: Section;
  start: number;
  name: string;
  type: number;
  /** the TTL field as sent (for OPT it holds the extended RCODE, RFC 6891 §6.1.3) */
  rawTtl: number;
  rdStart: number;
  rdEnd: number;
}

/** The subset of dns-packet's decoded record we read. */
interface DecodedRecord {
  type?: string;
  ttl?: number;
  data?: unknown;
}

/** Thrown inside this module; offsets are relative to the message start. */
class Malformed extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly section: Section,
  ) {
    super(message);
  }
}

/**
 * Parses one DNS message. tcp=true: the bytes start with the 2-byte length
 * prefix of RFC 1035 §4.2.2 and may hold several messages; the first is parsed.
 * Throws ParseError(DNS_MALFORMED) for anything malformed or truncated, and
 * never any other exception, whatever the input.
 */
export function parseDns(data: Uint8Array, tcp = false): ParsedDns {
  let base = 0;
  try {
    if (!(data instanceof Uint8Array)) {
      throw new Malformed('input is not a byte array', 0, 'header');
    }
    // A copy, not a view: a small Uint8Array keeps its bytes in V8's heap,
    // and asking for its .buffer moves them out to a new ArrayBuffer (a
    // runtime call and an allocation that cost more than this whole copy).
    let msg = Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (tcp) {
      if (msg.length < 2) throw new Malformed('TCP length prefix is cut short', 0, 'header');
      const len = msg.readUInt16BE(0);
      if (msg.length < 2 + len) {
        throw new Malformed(`TCP frame says ${len} bytes but ${msg.length - 2} arrived`, 0, 'header');
      }
      base = 2;
      msg = msg.subarray(2, 2 + len);
    }
    return parseMessage(msg);
  } catch (err) {
    if (err instanceof Malformed) {
      throw new ParseError(ErrorCode.DNS_MALFORMED, err.message, base + err.offset, err.section);
    }
    // Anything else is a bug of ours or dns-packet's on hostile input; the
    // contract is still ParseError.
    const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
    throw new ParseError(ErrorCode.DNS_MALFORMED, `malformed DNS message (${why})`, base);
  }
}

function parseMessage(msg: Buffer): ParsedDns {
  if (msg.length < HEADER_LEN) {
    throw new Malformed(`${msg.length} bytes is shorter than the 12-byte header`, 0, 'header');
  }
  const id = msg.readUInt16BE(0);
  const flags = msg.readUInt16BE(2);
  const qdcount = msg.readUInt16BE(4);
  const ancount = msg.readUInt16BE(6);
  const nscount = msg.readUInt16BE(8);
  const arcount = msg.readUInt16BE(10);
  // Every entry takes a minimum number of bytes, so the counts alone can
  // prove the message too short before any name is read (and before
  // dns-packet allocates arrays of up to 65535 entries per section).
  const minLen = HEADER_LEN + qdcount * MIN_QUESTION_LEN + (ancount + nscount + arcount) * MIN_RR_LEN;
  if (minLen > msg.length) {
    throw new Malformed(
      `section counts (${qdcount}/${ancount}/${nscount}/${arcount}) need at least ${minLen} bytes, message has ${msg.length}`,
      4,
      'header',
    );
  }

  // ---- framing pass ----
  let off = HEADER_LEN;
  const questions: DnsQuestion[] = [];
  for (let i = 0; i < qdcount; i++) {
    const name = readNameAt(msg, off, msg.length, 'question');
    const next = nameNext;
    if (next + 4 > msg.length) throw new Malformed('question cut short before QTYPE/QCLASS', next, 'question');
    questions.push({ name, type: dnsTypeName(msg.readUInt16BE(next)) });
    off = next + 4;
  }
  const records: FramedRecord[] = [];
  for (let k = 0; k < 3; k++) {
    const section = RR_SECTIONS[k]!;
    const count = k === 0 ? ancount : k === 1 ? nscount : arcount;
    for (let i = 0; i < count; i++) {
      const start = off;
      const name = readNameAt(msg, off, msg.length, section);
      const next = nameNext;
      if (next + 10 > msg.length) throw new Malformed('RR header cut short', next, section);
      const rdlength = msg.readUInt16BE(next + 8);
      const rdStart = next + 10;
      const rdEnd = rdStart + rdlength;
      if (rdEnd > msg.length) {
        throw new Malformed(`RDLENGTH ${rdlength} runs past the end of the message`, next + 8, section);
      }
      records.push({
        section,
        start,
        name,
        type: msg.readUInt16BE(next),
        rawTtl: msg.readUInt32BE(next + 4),
        rdStart,
        rdEnd,
      });
      off = rdEnd;
    }
  }
  // Bytes after the last record are ignored, as dns-packet does; a capture
  // may hand over a buffer larger than the datagram.
  const end = off;

  // ---- RDATA we interpret ourselves, checked before dns-packet sees it so
  // that a fault there is reported at its own offset ----
  const values = records.map((r) => (OWN_RDATA.has(r.type) ? rdataValue(msg, r, undefined) : undefined));

  // ---- dns-packet, checked against the framing ----
  // Only needed for record types we do not interpret ourselves (TXT, SOA,
  // CAA, ...). Queries and the usual answers (A, AAAA, CNAME, HTTPS, OPT)
  // are fully checked by the passes above, and skipping the second decoder
  // halves the cost of a DNS packet.
  let decoded: DecodedRecord[] = [];
  if (records.some((r) => r.type !== TYPE_OPT && !OWN_RDATA.has(r.type))) {
    decoded = checkedByDnsPacket(msg, end, records);
  }
  const response = (flags & 0x8000) !== 0;
  const dns: DnsInfo = { id, questions };
  if (response) {
    // RFC 6891 §6.1.3: with EDNS the RCODE is 12 bits, the upper 8 in the
    // OPT record's TTL field. Only the additional section may carry OPT
    // (§6.1.1); the first one counts.
    const opt = records.find((r) => r.section === 'additional' && r.type === TYPE_OPT);
    const extended = opt ? opt.rawTtl >>> 24 : 0;
    dns.rcode = rcodeName((extended << 4) | (flags & 0x000f));
  }
  // Every record's RDATA is interpreted, not just the answers', so a
  // malformed authority or additional record is reported, not skipped.
  const answers: DnsAnswer[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    if (r.type === TYPE_OPT) continue; // a pseudo-RR (RFC 6891 §6.1.1), not data
    const value = values[i] ?? rdataValue(msg, r, decoded[i]!.data);
    if (r.section !== 'answer') continue;
    answers.push({
      name: r.name,
      type: dnsTypeName(r.type),
      value,
      // RFC 2181 §8: a TTL with the top bit set is to be treated as zero
      ttl: r.rawTtl > 0x7fffffff ? 0 : r.rawTtl,
    });
  }
  if (response) dns.answers = answers;
  return { response, dns };
}

/** dns-packet's decoding of the same bytes, which must agree with our framing record for record. */
function checkedByDnsPacket(msg: Buffer, end: number, records: FramedRecord[]): DecodedRecord[] {
  let decoded: DecodedRecord[];
  let consumed: number;
  try {
    const pkt = dnsPacket.decode(msg.subarray(0, end));
    consumed = dnsPacket.decode.bytes;
    decoded = [
      ...((pkt.answers ?? []) as DecodedRecord[]),
      ...((pkt.authorities ?? []) as DecodedRecord[]),
      ...((pkt.additionals ?? []) as DecodedRecord[]),
    ];
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new Malformed(`dns-packet rejected the message: ${why}`, HEADER_LEN, 'header');
  }
  if (decoded.length !== records.length) {
    throw new Malformed('dns-packet found a different number of records', HEADER_LEN, 'header');
  }
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const d = decoded[i];
    const same = r.type === TYPE_OPT ? d?.type === 'OPT' : d?.type !== 'OPT' && d?.ttl === r.rawTtl;
    if (!same) {
      throw new Malformed('an RDATA length disagrees with its contents', r.start, r.section);
    }
  }
  if (consumed !== end) {
    // every record lined up but the last one's RDATA was read short or long
    const last = records[records.length - 1];
    throw new Malformed(
      `an RDATA length disagrees with its contents (dns-packet read ${consumed} bytes, the records span ${end})`,
      last?.start ?? HEADER_LEN,
      last?.section ?? 'header',
    );
  }
  return decoded;
}

/**
 * Reads a possibly compressed name (RFC 1035 §4.1.4) starting at `off`.
 * `limit` bounds the part stored in place (the RDATA end for names inside
 * RDATA); labels reached through a pointer may be anywhere before it.
 * `next` is the offset just after the name as stored in place.
 */
function readName(msg: Buffer, off: number, limit: number, section: Section): { name: string; next: number } {
  const name = readNameAt(msg, off, limit, section);
  return { name, next: nameNext };
}

/** The offset after the name readNameAt() read last, as stored in place. */
let nameNext = 0;

// The same few names come back message after message (a resolver asked
// for api.openai.com again and again): remember each name written as labels
// only (in place, or at the target of a name that is one pointer) by its
// wire bytes, direct-mapped by a hash of them, so a name seen before costs
// a scan and a compare instead of its labels' text. The bytes are the whole key: a different name, or the same
// one in other letter case, can only miss.
const NAME_SLOTS = 256;
const nameBytes: Array<Uint8Array | undefined> = new Array<Uint8Array | undefined>(NAME_SLOTS).fill(undefined);
const nameText: string[] = new Array<string>(NAME_SLOTS).fill('');

/** Forgets the names remembered so far (tests compare warm and cold parses). */
export function clearDnsNameCache(): void {
  nameBytes.fill(undefined);
  nameText.fill('');
}

/** The end of a name of labels only (no pointer, 255 octets at most) at `off` within `limit`, or -1. */
function plainNameEnd(msg: Buffer, off: number, limit: number): number {
  let pos = off;
  while (pos < limit) {
    const len = msg[pos]!;
    if (len === 0) return pos + 1 - off <= MAX_NAME_LEN ? pos + 1 : -1;
    if (len & 0xc0) return -1;
    pos += 1 + len;
  }
  return -1;
}

function nameSlot(msg: Buffer, off: number, end: number): number {
  let h = 0x811c9dc5; // FNV-1a
  for (let i = off; i < end; i++) h = Math.imul(h ^ msg[i]!, 0x01000193);
  return (h >>> 0) % NAME_SLOTS;
}

/** readName() without its result object: the name, with nameNext set. */
function readNameAt(msg: Buffer, off: number, limit: number, section: Section): string {
  // The labels of a name are in place, or, for a name that is only a
  // pointer (an answer naming its question, as most servers write it),
  // at the pointer's target: a pointer backwards past the header, whose
  // labels the general walk below would read there with the whole
  // message as their bound, as here.
  let at = off;
  let end = limit;
  if (off + 2 <= limit && (msg[off]! & 0xc0) === 0xc0) {
    const target = ((msg[off]! & 0x3f) << 8) | msg[off + 1]!;
    if (target < off && target >= HEADER_LEN) {
      at = target;
      end = msg.length;
    }
  }
  const plainEnd = plainNameEnd(msg, at, end);
  let slot = -1;
  if (plainEnd > 0) {
    slot = nameSlot(msg, at, plainEnd);
    const known = nameBytes[slot];
    if (known !== undefined && known.length === plainEnd - at) {
      let i = 0;
      while (i < known.length && known[i] === msg[at + i]) i++;
      if (i === known.length) {
        nameNext = at === off ? plainEnd : off + 2;
        return nameText[slot]!;
      }
    }
  }
  const labels: string[] = [];
  let pos = off;
  let next = -1;
  // A pointer must point before the start of the labels that contain it
  // (dns-packet's rule too, from RFC 1035 §4.1.4's "prior occurrence"), so
  // each jump goes strictly backwards and no sequence of pointers can loop.
  let segmentStart = off;
  let wireLen = 1; // the terminating root label
  for (;;) {
    const bound = next < 0 ? limit : msg.length;
    if (pos >= bound) throw new Malformed('name runs past the end of its data', pos, section);
    const len = msg[pos]!;
    if (len === 0) {
      if (next < 0) next = pos + 1;
      break;
    }
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      if (pos + 2 > bound) throw new Malformed('compression pointer cut short', pos, section);
      const target = ((len & 0x3f) << 8) | msg[pos + 1]!;
      if (target >= segmentStart) {
        throw new Malformed(`compression pointer to ${target} does not point backwards`, pos, section);
      }
      if (target < HEADER_LEN) throw new Malformed('compression pointer into the header', pos, section);
      if (next < 0) next = pos + 2;
      segmentStart = target;
      pos = target;
      continue;
    }
    if (kind !== 0) {
      // 0x40 was the extended label type of RFC 2671, deprecated by
      // RFC 6891 §5; 0x80 was never assigned.
      throw new Malformed(`unknown label type 0x${kind.toString(16)}`, pos, section);
    }
    if (pos + 1 + len > bound) throw new Malformed('label runs past the end of its data', pos, section);
    wireLen += 1 + len;
    if (wireLen > MAX_NAME_LEN) throw new Malformed('name is longer than 255 octets', pos, section);
    labels.push(escapeLabel(msg, pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  const name = labels.length === 0 ? '.' : labels.length === 1 ? labels[0]! : labels.join('.');
  if (slot >= 0) {
    nameBytes[slot] = new Uint8Array(msg.subarray(at, plainEnd)); // a copy: the message's bytes are not kept
    nameText[slot] = name;
  }
  nameNext = next;
  return name;
}

/**
 * A label in presentation form, lower-cased: RFC 4343 §2.1 escapes "." and
 * "\" with a backslash and any octet outside printable ASCII as \DDD, so that
 * a label holding a dot cannot pass for two labels.
 */
function escapeLabel(msg: Buffer, from: number, to: number): string {
  // The usual label is printable ASCII without "." or "\\": one slice.
  let upper = false;
  let i = from;
  for (; i < to; i++) {
    const c = msg[i]!;
    if (c <= 0x20 || c >= 0x7f || c === 0x2e || c === 0x5c) break;
    if (c >= 0x41 && c <= 0x5a) upper = true;
  }
  if (i === to) {
    const label = msg.toString('latin1', from, to);
    return upper ? label.toLowerCase() : label;
  }
  let out = '';
  for (let i = from; i < to; i++) {
    const c = msg[i]!;
    if (c === 0x2e || c === 0x5c) out += '\\' + String.fromCharCode(c);
    else if (c >= 0x41 && c <= 0x5a) out += String.fromCharCode(c + 0x20);
    else if (c > 0x20 && c < 0x7f) out += String.fromCharCode(c);
    else out += '\\' + c.toString().padStart(3, '0');
  }
  return out;
}

/** The printable value of one record's RDATA (see DnsAnswer.value). */
function rdataValue(msg: Buffer, r: FramedRecord, data: unknown): string {
  const { rdStart, rdEnd, section } = r;
  const rdlength = rdEnd - rdStart;
  const nameAt = (off: number): string => {
    const { name, next } = readName(msg, off, rdEnd, section);
    if (next !== rdEnd) throw new Malformed('RDATA continues after its name', next, section);
    return name;
  };
  const need = (n: number, what: string): void => {
    if (rdlength < n) throw new Malformed(`${what} RDATA shorter than ${n} bytes`, rdStart, section);
  };
  switch (r.type) {
    case TYPE_A:
      // RFC 1035 §3.4.1: exactly 4 octets
      if (rdlength !== 4) throw new Malformed(`A RDATA is ${rdlength} bytes, not 4`, rdStart, section);
      return formatIPv4(msg, rdStart);
    case TYPE_AAAA:
      // RFC 3596 §2.2: exactly 16 octets
      if (rdlength !== 16) throw new Malformed(`AAAA RDATA is ${rdlength} bytes, not 16`, rdStart, section);
      return formatIPv6(msg.subarray(rdStart, rdEnd));
    case TYPE_CNAME:
    case TYPE_PTR:
    case TYPE_NS:
    case TYPE_DNAME:
      return nameAt(rdStart);
    case TYPE_MX: // RFC 1035 §3.3.9: PREFERENCE, EXCHANGE
      need(3, 'MX');
      return `${msg.readUInt16BE(rdStart)} ${nameAt(rdStart + 2)}`;
    case TYPE_SRV: // RFC 2782: priority, weight, port, target
      need(7, 'SRV');
      return `${msg.readUInt16BE(rdStart)} ${msg.readUInt16BE(rdStart + 2)} ${msg.readUInt16BE(rdStart + 4)} ${nameAt(rdStart + 6)}`;
    case TYPE_TXT: {
      // RFC 1035 §3.3.14: one or more character-strings. Joined without a
      // separator, as SPF (RFC 7208 §3.3) and DKIM (RFC 6376 §3.6.2.2) do
      // with strings split at 255 bytes.
      const parts = Array.isArray(data) ? data : [data];
      return parts.map((p) => (Buffer.isBuffer(p) ? p.toString('utf8') : String(p))).join('');
    }
    case TYPE_SVCB:
    case TYPE_HTTPS:
      return svcbValue(msg, r);
    default:
      return printable(r.type, data, msg.subarray(rdStart, rdEnd));
  }
}

/**
 * Types that dns-packet decodes into objects are printed field by field in
 * its (wire) order, Buffers in hex; types it treats as opaque are printed in
 * the RFC 3597 §5 generic form "\# <length> <hex>".
 */
function printable(type: number, data: unknown, rdata: Buffer): string {
  if (Buffer.isBuffer(data) || data === undefined || data === null) {
    return rdata.length === 0 ? '\\# 0' : `\\# ${rdata.length} ${rdata.toString('hex')}`;
  }
  if (type === 257 && typeof data === 'object') {
    // CAA, RFC 8659 §4.1.1: flags tag "value"
    const caa = data as { flags?: number; tag?: string; value?: string };
    return `${caa.flags ?? 0} ${caa.tag ?? ''} "${caa.value ?? ''}"`;
  }
  return flatten(data);
}

function flatten(v: unknown): string {
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (Array.isArray(v)) return v.map(flatten).join(' ');
  if (v !== null && typeof v === 'object') return Object.values(v).map(flatten).join(' ');
  return String(v);
}

/** SvcParamKeys, IANA "Service Parameter Keys (SvcParamKeys)" (RFC 9460 §14.3.2, RFC 9461, RFC 9540) */
const SVC_KEYS: readonly string[] = [
  'mandatory', 'alpn', 'no-default-alpn', 'port', 'ipv4hint', 'ech', 'ipv6hint', 'dohpath', 'ohttp',
];

function svcKeyName(key: number): string {
  return SVC_KEYS[key] ?? `key${key}`;
}

/**
 * SVCB/HTTPS RDATA (RFC 9460 §2.2) in its presentation form (§2.1):
 * "<priority> <target> key=value ...", e.g.
 * "1 . alpn=h2,h3 ipv4hint=192.0.2.10 ipv6hint=2001:db8::10".
 * Target "." means the owner name itself in ServiceMode (§2.5.2).
 */
function svcbValue(msg: Buffer, r: FramedRecord): string {
  const { rdStart, rdEnd, section } = r;
  const bad = (why: string, at: number): never => {
    throw new Malformed(`${dnsTypeName(r.type)} RDATA: ${why}`, at, section);
  };
  if (rdEnd - rdStart < 3) bad('shorter than SvcPriority and TargetName', rdStart);
  const priority = msg.readUInt16BE(rdStart);
  const { name: target, next } = readName(msg, rdStart + 2, rdEnd, section);
  const params: string[] = [];
  let off = next;
  let lastKey = -1;
  while (off < rdEnd) {
    if (off + 4 > rdEnd) bad('SvcParam header cut short', off);
    const key = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 2);
    const vStart = off + 4;
    const vEnd = vStart + len;
    if (vEnd > rdEnd) bad(`SvcParam ${svcKeyName(key)} runs past RDATA`, off);
    // §2.2: keys in strictly increasing order, else the RR is malformed
    if (key <= lastKey) bad('SvcParamKeys out of order', off);
    lastKey = key;
    const v = msg.subarray(vStart, vEnd);
    params.push(svcParam(key, v, (why) => bad(why, off)));
    off = vEnd;
  }
  return [String(priority), target, ...params].join(' ');
}

/** One SvcParam as key=value (RFC 9460 §7 and Appendix A for the escaping). */
function svcParam(key: number, v: Buffer, bad: (why: string) => never): string {
  const name = svcKeyName(key);
  switch (key) {
    case 0: {
      // mandatory: a list of keys (§8)
      if (v.length === 0 || v.length % 2 !== 0) bad('mandatory is not a list of keys');
      const keys: string[] = [];
      for (let i = 0; i < v.length; i += 2) keys.push(svcKeyName(v.readUInt16BE(i)));
      return `${name}=${keys.join(',')}`;
    }
    case 1: {
      // alpn: length-prefixed protocol ids, none empty (§7.1.1)
      const ids: string[] = [];
      for (let i = 0; i < v.length; ) {
        const len = v[i]!;
        if (len === 0 || i + 1 + len > v.length) bad('alpn id empty or cut short');
        ids.push(escapeCharString(v.subarray(i + 1, i + 1 + len)));
        i += 1 + len;
      }
      if (ids.length === 0) bad('alpn is empty');
      return `${name}=${ids.join(',')}`;
    }
    case 2: // no-default-alpn (§7.1.1)
    case 8: // ohttp (RFC 9540 §4)
      if (v.length !== 0) bad(`${name} has a value`);
      return name;
    case 3: // port (§7.2)
      if (v.length !== 2) bad('port is not 2 bytes');
      return `${name}=${v.readUInt16BE(0)}`;
    case 4: {
      // ipv4hint (§7.3)
      if (v.length === 0 || v.length % 4 !== 0) bad('ipv4hint is not a list of IPv4 addresses');
      const ips: string[] = [];
      for (let i = 0; i < v.length; i += 4) ips.push(formatIPv4(v, i));
      return `${name}=${ips.join(',')}`;
    }
    case 6: {
      // ipv6hint (§7.3)
      if (v.length === 0 || v.length % 16 !== 0) bad('ipv6hint is not a list of IPv6 addresses');
      const ips: string[] = [];
      for (let i = 0; i < v.length; i += 16) ips.push(formatIPv6(v.subarray(i, i + 16)));
      return `${name}=${ips.join(',')}`;
    }
    case 5: // ech: an ECHConfigList, shown in base64 as in its presentation form
      return `${name}=${v.toString('base64')}`;
    default:
      // dohpath (RFC 9461 §5) and unknown keys: the value as a char-string
      return v.length === 0 ? name : `${name}=${escapeCharString(v)}`;
  }
}

/**
 * Printable ASCII kept, everything else (and the separators "," "\" "="
 * '"' and space) as \DDD (RFC 9460 Appendix A), so that a value never
 * contains a space or comma and the presentation form splits unambiguously.
 */
function escapeCharString(b: Buffer): string {
  let out = '';
  for (const c of b) {
    if (c > 0x20 && c < 0x7f && c !== 0x2c && c !== 0x5c && c !== 0x3d && c !== 0x22) out += String.fromCharCode(c);
    else out += '\\' + c.toString().padStart(3, '0');
  }
  return out;
}

/**
 * The addresses in an HTTPS/SVCB answer's ipv4hint and ipv6hint (RFC 9460
 * §7.3). Clients may connect to them before (or instead of) looking up A and
 * AAAA, so they are addresses the queried name can lead to. Empty for other
 * types and for AliasMode (priority 0), whose SvcParams are to be ignored
 * (§2.4.2).
 */
export function svcbHintAddresses(answer: DnsAnswer): string[] {
  if (answer.type !== 'HTTPS' && answer.type !== 'SVCB') return [];
  const tokens = answer.value.split(' ');
  if (tokens[0] === '0' || tokens[0] === undefined) return [];
  const out: string[] = [];
  for (const t of tokens.slice(2)) {
    if (!t.startsWith('ipv4hint=') && !t.startsWith('ipv6hint=')) continue;
    for (const ip of t.slice('ipv4hint='.length).split(',')) {
      const c = canonicalIp(ip);
      if (c !== undefined) out.push(c);
    }
  }
  return out;
}

// ---- addresses ----

function formatIPv4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

/**
 * 16 bytes in the RFC 5952 §4 text form: lower-case hex without leading
 * zeros, the longest run (the first of equal ones) of two or more zero
 * groups as "::"; IPv4-mapped addresses as ::ffff:a.b.c.d (§5).
 */
export function formatIPv6(b: Uint8Array): string {
  if (b.length !== 16) throw new RangeError('an IPv6 address is 16 bytes');
  let mapped = b[10] === 0xff && b[11] === 0xff;
  for (let i = 0; i < 10 && mapped; i++) if (b[i] !== 0) mapped = false;
  if (mapped) return `::ffff:${formatIPv4(b, 12)}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  let bestStart = -1;
  let bestLen = 1; // a single zero group is not compressed (§4.2.2)
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (g: number[]): string => g.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

/** 16 bytes of an IPv6 address in text form, or undefined. A zone ("%eth0") is dropped. */
function parseIPv6(text: string): Uint8Array | undefined {
  let s = text;
  const pct = s.indexOf('%');
  if (pct >= 0) s = s.slice(0, pct);
  if (isIP(s) !== 6) return undefined;
  // a trailing dotted quad (RFC 4291 §2.2 form 3) becomes two hex groups
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.', lastColon)) {
    const q = s.slice(lastColon + 1).split('.').map(Number);
    s = `${s.slice(0, lastColon + 1)}${((q[0]! << 8) | q[1]!).toString(16)}:${((q[2]! << 8) | q[3]!).toString(16)}`;
  }
  const groupsOf = (part: string): number[] => (part === '' ? [] : part.split(':').map((h) => parseInt(h, 16)));
  let groups: number[];
  const gap = s.indexOf('::');
  if (gap >= 0) {
    const head = groupsOf(s.slice(0, gap));
    const tail = groupsOf(s.slice(gap + 2));
    groups = [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
  } else {
    groups = groupsOf(s);
  }
  if (groups.length !== 8) return undefined;
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  return out;
}

/**
 * An address in the one text form the parser produces (dotted quad; RFC 5952
 * for IPv6), or undefined when `text` is not an address. Lets addresses from
 * other sources (sockets, /etc/hosts, configuration) be compared with ours.
 */
export function canonicalIp(text: string): string | undefined {
  if (typeof text !== 'string') return undefined;
  let s = text.trim();
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  if (isIP(s) === 4) return s;
  const bytes = parseIPv6(s);
  return bytes === undefined ? undefined : formatIPv6(bytes);
}
