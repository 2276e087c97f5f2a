/**
 * `--output syslog:HOST:PORT` (UDP, RFC 5426) and `syslog+tcp:HOST:PORT`
 * (TCP with octet-counted framing, RFC 6587 §3.4.1): one RFC 5424 message per
 * event, whose MSG is the event's JSON line and whose structured data carries
 * the fields a SIEM filters on without parsing JSON.
 *
 *   <PRI>1 TIMESTAMP HOSTNAME busted PROCID MSGID [busted@32473 id=".." type=".." ...] {json}
 *
 * - PRI: facility (--syslog-facility, default local0) × 8 + severity: 4
 *   (warning) for a block and for lost events, 5 (notice) for an audit, 3
 *   (error) for an error event, 6 (informational) for the rest.
 * - TIMESTAMP: the event's own time; RFC 5424 §6.2.3 allows six fractional
 *   digits, so the nanoseconds are cut to microseconds.
 * - MSGID: the event type. SD-ID busted@32473: 32473 is the private enterprise
 *   number IANA reserves for documentation (RFC 5612); a site that registers
 *   its own can be given one later.
 * - MSG is written as RFC 5424's MSG-ANY (no BOM): receivers hand it to JSON
 *   parsers, which a BOM would trip. JSON escapes nothing that needs it.
 * - A message longer than maxBytes (default 8192, rsyslog's default
 *   maxMessageSize) loses the event's captured content (tls.payload, prompts,
 *   tools) and says so (`"truncated":true`); if it is still too long, it is cut.
 * - UDP cannot tell what was lost on the way; TCP reconnects with backoff
 *   after a failure, keeping the queue (bounded; drops are counted). Messages
 *   already handed to a connection that then broke may be lost: plain TCP
 *   syslog has no acknowledgements.
 */
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { hostname } from 'node:os';
import { connect, isIP, type Socket } from 'node:net';
import type { BustedEvent } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import { backoffMs, Sleeper } from './backoff.js';
import { LineChunks } from './chunks.js';
import { eventBytes, eventLine } from './jsonl.js';
import type { Sink } from './sink.js';

/** UDP datagrams are cut from slabs of this size. */
const SLAB_BYTES = 256 << 10;

export const FACILITIES: Record<string, number> = {
  kern: 0, user: 1, mail: 2, daemon: 3, auth: 4, syslog: 5, lpr: 6, news: 7, uucp: 8, cron: 9, authpriv: 10, ftp: 11,
  ntp: 12, security: 13, console: 14, solaris_cron: 15,
  local0: 16, local1: 17, local2: 18, local3: 19, local4: 20, local5: 21, local6: 22, local7: 23,
};

export const SD_ID = 'busted@32473';

export interface SyslogOptions {
  facility?: number;
  maxBytes?: number;
  /** bytes queued before events are dropped */
  maxQueueBytes?: number;
  /** HOSTNAME field (default: this host's name) */
  hostname?: string;
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  closeTimeoutMs?: number;
  onError?: (message: string) => void;
}

export function syslogName(transport: 'udp' | 'tcp', target: { host: string; port: number }): string {
  return `${transport === 'udp' ? 'syslog' : 'syslog+tcp'}:${target.host.includes(':') ? `[${target.host}]` : target.host}:${target.port}`;
}

/** "HOST:PORT", "[v6]:PORT", or a bare host (port 514). */
export function parseHostPort(spec: string, what: string): { host: string; port: number } {
  let host = spec;
  let port = 514;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec);
  if (m) {
    host = m[1]!;
    if (m[2]) port = Number(m[2]);
  } else {
    const i = spec.lastIndexOf(':');
    if (i >= 0 && spec.indexOf(':') === i) {
      host = spec.slice(0, i);
      port = Number(spec.slice(i + 1));
    } else if (i >= 0) {
      host = spec; // a bare IPv6 address
    }
  }
  if (!host || !Number.isInteger(port) || port < 1 || port > 65535) throw new BustedError(ErrorCode.USAGE, `--output ${what}:${spec}: expected HOST:PORT`, 'output');
  return { host, port };
}

/** PRINTUSASCII only (RFC 5424 §6), at most `max` characters, "-" when empty. */
function token(s: string | undefined, max: number): string {
  if (!s) return '-';
  // eslint-disable-next-line no-control-regex
  const t = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return t || '-';
}

/** PARAM-VALUE escaping (RFC 5424 §6.3.3): '"', '\' and ']' take a backslash. */
function sdValue(s: string): string {
  return /["\\\]]/.test(s) ? s.replace(/["\\\]]/g, '\\$&') : s;
}

function severity(e: BustedEvent): number {
  if (e.type === 'decision') return e.decision?.action === 'block' ? 4 : e.decision?.action === 'audit' ? 5 : 6;
  if (e.type === 'error') return 3;
  if (e.type === 'lost') return 4;
  return 6;
}

function timestamp(t: string): string {
  const dot = t.indexOf('.');
  if (dot === -1 || !t.endsWith('Z')) return t || '-';
  return t.length - dot - 2 > 6 ? `${t.slice(0, dot + 7)}Z` : t;
}

function param(k: string, v: string | number | undefined): string {
  return v === undefined || v === '' ? '' : ` ${k}="${typeof v === 'number' ? v : sdValue(v)}"`;
}

/** The process's part of the structured data, made once per process object (the process cache shares them between events). */
const processSd = new WeakMap<object, string>();
function processParams(p: NonNullable<BustedEvent['process']>): string {
  let s = processSd.get(p);
  if (s === undefined) {
    s = param('pid', p.pid || undefined) + param('comm', p.comm) + param('container_id', p.container_id);
    if (p.pod?.name) s += param('pod', p.pod.namespace ? `${p.pod.namespace}/${p.pod.name}` : p.pod.name);
    processSd.set(p, s);
  }
  return s;
}

/** The structured data element: what a SIEM filters on. */
function structured(e: BustedEvent): string {
  let sd = `[${SD_ID} id="${sdValue(e.id)}" type="${e.type}"`;
  if (e.provider) sd += param('provider', e.provider);
  if (e.process) sd += processParams(e.process);
  if (e.net) sd += param('dst', e.net.dst_host ?? e.net.dst_ip);
  if (e.llm) sd += param('model', e.llm.model);
  const d = e.decision;
  if (d) sd += param('action', d.action) + param('enforced', String(d.enforced)) + param('subject', d.subject) + param('policy_revision', d.policy_revision);
  if (e.policy) sd += param('policy_revision', e.policy.revision);
  if (e.error) sd += param('code', e.error.code);
  return sd + ']';
}

/** The event without the content it captured, for a message that is too long. */
function shortJson(e: BustedEvent): string {
  const c: Record<string, unknown> = { ...e, truncated: true };
  if (e.tls) c.tls = { ...e.tls, payload: undefined };
  if (e.llm) c.llm = { ...e.llm, user_message: undefined, system_prompt: undefined, tools: undefined };
  return JSON.stringify(c);
}

/** Everything before MSG, with the space that ends it. */
export function rfc5424Head(e: BustedEvent, facility: number, host: string, procId: string): string {
  return `<${facility * 8 + severity(e)}>1 ${timestamp(e.time)} ${host} busted ${procId} ${token(e.type, 32)} ${structured(e)} `;
}

export function formatRfc5424(e: BustedEvent, facility: number, host: string, procId: string, maxBytes: number): string {
  const head = rfc5424Head(e, facility, host, procId);
  let msg = head + eventLine(e);
  if (msg.length > maxBytes / 3 && Buffer.byteLength(msg) > maxBytes) {
    msg = head + shortJson(e);
    if (Buffer.byteLength(msg) > maxBytes) msg = Buffer.from(msg).subarray(0, maxBytes).toString('utf8').replace(/\uFFFD$/, '');
  }
  return msg;
}

export class SyslogSink implements Sink {
  readonly name: string;
  dropped = 0;
  delivered = 0;
  /** TCP: octet-counted frames, packed */
  private readonly frames = new LineChunks();
  /** UDP: one buffer per datagram, cut from a slab */
  private datagrams: Buffer[] = [];
  private dgHead = 0;
  private dgBytes = 0;
  private slab = Buffer.allocUnsafe(SLAB_BYTES);
  private slabUsed = 0;
  private udp: UdpSocket | undefined;
  private address: string | undefined;
  /** UDP: datagrams handed to the kernel whose callback has not come */
  private sending = 0;
  private readonly facility: number;
  private readonly maxBytes: number;
  private readonly maxQueue: number;
  private readonly host: string;
  private readonly procId = String(process.pid);
  private readonly onError: (m: string) => void;
  private scheduled = false;
  private closing = false;
  // TCP
  private tcp: Socket | undefined;
  private isConnected = false;
  private draining = false;
  private attempt = 0;
  private readonly sleeper = new Sleeper();
  private lastError = '';
  private readonly ready: Promise<void>;
  private idle: (() => void) | undefined;

  constructor(
    readonly transport: 'udp' | 'tcp',
    readonly target: { host: string; port: number },
    private readonly o: SyslogOptions = {},
  ) {
    this.name = syslogName(transport, target);
    this.facility = o.facility ?? FACILITIES.local0!;
    this.maxBytes = o.maxBytes ?? 8192;
    this.maxQueue = o.maxQueueBytes ?? 16 << 20;
    this.host = token(o.hostname ?? hostname(), 255);
    this.onError = o.onError ?? ((m) => process.stderr.write(`${m}\n`));
    this.ready = transport === 'udp' ? this.openUdp() : Promise.resolve(this.connectTcp());
  }

  get queued(): number {
    return this.transport === 'tcp' ? this.frames.lines : this.datagrams.length - this.dgHead + this.sending;
  }

  private get queuedBytes(): number {
    return this.transport === 'tcp' ? this.frames.bytes : this.dgBytes;
  }

  /** TCP: a connection is up */
  get connected(): boolean {
    return this.isConnected;
  }

  private report(m: string): void {
    const msg = `busted: ${ErrorCode.SINK}: ${this.name}: ${m}`;
    if (msg === this.lastError) return;
    this.lastError = msg;
    this.onError(msg);
  }

  write(e: BustedEvent): void {
    this.writeLine(eventBytes(e), e);
  }

  /** An event's JSON line (newline included) and the event it encodes (the outputs thread's way in). */
  writeLine(json: Buffer, e: BustedEvent): void {
    if (this.closing) {
      this.dropped++;
      return;
    }
    const head = rfc5424Head(e, this.facility, this.host, this.procId);
    // json ends in a newline, which MSG does not carry
    const headBytes = Buffer.byteLength(head);
    let size = headBytes + json.length - 1;
    let whole: Buffer | undefined;
    if (size > this.maxBytes) {
      // the rare long event: made again without its captured content
      whole = Buffer.from(formatRfc5424(e, this.facility, this.host, this.procId, this.maxBytes));
      size = whole.length;
    }
    if (this.queuedBytes + size > this.maxQueue) {
      this.dropped++;
      return;
    }
    if (this.transport === 'tcp') {
      if (whole) this.frames.pushFrame(`${size} `, whole);
      else this.frames.pushFrame(`${size} ${head}`, json.subarray(0, json.length - 1));
    } else {
      if (!whole) {
        if (this.slabUsed + size > this.slab.length) {
          this.slab = Buffer.allocUnsafe(Math.max(SLAB_BYTES, size));
          this.slabUsed = 0;
        }
        const at = this.slabUsed;
        const n = this.slab.write(head, at, 'utf8');
        this.slab.set(json.subarray(0, json.length - 1), at + n);
        whole = this.slab.subarray(at, at + n + json.length - 1);
        this.slabUsed += whole.length;
      }
      this.datagrams.push(whole);
      this.dgBytes += whole.length;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  private readonly flush = (): void => {
    this.scheduled = false;
    if (this.transport === 'udp') this.flushUdp();
    else this.flushTcp();
  };

  // --- UDP: one datagram per message (RFC 5426 §3.1) ---------------------------

  private async openUdp(): Promise<void> {
    try {
      this.address = isIP(this.target.host) ? this.target.host : (await lookup(this.target.host)).address;
      this.udp = createSocket(isIP(this.address) === 6 ? 'udp6' : 'udp4');
      this.udp.on('error', (err) => this.report(err.message));
      this.udp.unref();
      this.flushUdp();
    } catch (err) {
      this.report(`cannot resolve ${this.target.host}: ${(err as Error).message}`);
    }
  }

  private takeDatagrams(n: number): Buffer[] {
    const out = this.datagrams.slice(this.dgHead, this.dgHead + n);
    this.dgHead += out.length;
    for (const m of out) this.dgBytes -= m.length;
    if (this.dgHead === this.datagrams.length) {
      this.datagrams = [];
      this.dgHead = 0;
    } else if (this.dgHead > 4096 && this.dgHead * 2 > this.datagrams.length) {
      this.datagrams = this.datagrams.slice(this.dgHead);
      this.dgHead = 0;
    }
    return out;
  }

  private readonly sent = (err: Error | null): void => {
    this.sending--;
    if (err) {
      this.dropped++;
      this.report(err.message);
    } else {
      this.delivered++;
    }
    if (this.sending === 0) {
      if (this.datagrams.length > this.dgHead) this.flushUdp();
      else this.idle?.();
    }
  };

  private flushUdp(): void {
    const sock = this.udp;
    if (!sock || !this.address) return;
    // At most 256 datagrams in the kernel's hands at a time; the rest waits here.
    while (this.datagrams.length > this.dgHead && this.sending < 256) {
      for (const m of this.takeDatagrams(256 - this.sending)) {
        this.sending++;
        sock.send(m, this.target.port, this.address, this.sent);
      }
    }
    if (this.sending === 0 && this.datagrams.length === this.dgHead) this.idle?.();
  }

  // --- TCP: octet counting (RFC 6587 §3.4.1), reconnect with backoff ------------

  private connectTcp(): void {
    if (this.closing) return;
    const s = connect({ host: this.target.host, port: this.target.port });
    this.tcp = s;
    s.setNoDelay(false);
    s.on('connect', () => {
      this.isConnected = true;
      this.attempt = 0;
      this.lastError = '';
      this.flushTcp();
    });
    s.on('drain', () => {
      this.draining = false;
      this.flushTcp();
    });
    s.on('error', (err: NodeJS.ErrnoException) => this.report(`${err.code ?? err.message}; reconnecting`));
    s.on('close', () => {
      this.isConnected = false;
      this.draining = false;
      if (this.tcp !== s || this.closing) return;
      this.tcp = undefined;
      void this.sleeper.sleep(backoffMs(this.attempt++, this.o.backoffBaseMs ?? 200, this.o.backoffMaxMs ?? 30_000)).then(() => this.connectTcp());
    });
    s.unref();
  }

  private flushTcp(): void {
    const s = this.tcp;
    if (!s || !this.isConnected || this.draining) return;
    this.frames.seal();
    for (let c = this.frames.shift(); c; c = this.frames.shift()) {
      this.delivered += c.lines;
      if (!s.write(c.buf)) {
        this.draining = true;
        return;
      }
    }
    // all handed to the socket; close() ends it, which flushes
    this.idle?.();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.ready;
    const done = new Promise<void>((resolve) => {
      this.idle = resolve;
      this.flush();
      if (this.queued === 0) resolve();
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((r) => (timer = setTimeout(r, this.o.closeTimeoutMs ?? 5000)));
    await Promise.race([done, timeout]);
    clearTimeout(timer);
    this.dropped += this.queued;
    this.sleeper.interrupt();
    if (this.tcp) {
      const s = this.tcp;
      await new Promise<void>((resolve) => {
        if (s.destroyed) return resolve();
        s.end(() => resolve());
        setTimeout(() => {
          s.destroy();
          resolve();
        }, 1000).unref();
      });
    }
    this.udp?.close();
  }
}
