/**
 * The outputs thread: the --output sinks (file, webhook, syslog, otlp) run here,
 * on a worker thread of their own, so that their work — copying, framing,
 * TLS, sockets, retries, spilling — never takes the agent's thread. The
 * agent encodes each event's JSON once and hands over packs of lines
 * (threaded.ts); syslog needs the event's fields for its header and
 * structured data, and OTLP for its records, so lines are parsed here when
 * one of those is on.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { BustedEvent } from '../model/event.js';
import { FileSink, type FileSinkOptions } from './file.js';
import { safeUrl, WebhookSink, type WebhookOptions } from './webhook.js';
import { SyslogSink, syslogName, type SyslogOptions } from './syslog.js';
import { OtlpSink, type OtlpOptions } from './otlp.js';

/** One --output, as plain data (it crosses to the thread). */
export type OutputSpec =
  | { kind: 'file'; path: string; options: Omit<FileSinkOptions, 'onError'> }
  | { kind: 'webhook'; url: string; options: Omit<WebhookOptions, 'onError'> }
  | { kind: 'syslog'; transport: 'udp' | 'tcp'; host: string; port: number; options: Omit<SyslogOptions, 'onError'> }
  | { kind: 'otlp'; url: string; options: Omit<OtlpOptions, 'onError'> };

export interface SinkStats {
  name: string;
  dropped: number;
  delivered: number;
  queued: number;
}

/** agent → thread */
export type ToThread = { pack: ArrayBuffer; length: number } | { reopen: true } | { close: true };
/** thread → agent */
export type FromThread = { stats: SinkStats[]; consumed?: number; closed?: boolean } | { error: string };

type LineSink = FileSink | WebhookSink | SyslogSink | OtlpSink;

/** The name a sink will have (for the agent's side, before the thread made it). */
export function specName(spec: OutputSpec): string {
  switch (spec.kind) {
    case 'file':
      return `file:${spec.path}`;
    case 'webhook':
      return `webhook:${safeUrl(new URL(spec.url))}`;
    case 'syslog':
      return syslogName(spec.transport, spec);
    case 'otlp':
      return `otlp:${safeUrl(new URL(spec.url))}`;
  }
}

export function makeSink(spec: OutputSpec, onError: (m: string) => void): LineSink {
  switch (spec.kind) {
    case 'file':
      return new FileSink(spec.path, { ...spec.options, onError });
    case 'webhook':
      return new WebhookSink(new URL(spec.url), { ...spec.options, onError });
    case 'syslog':
      return new SyslogSink(spec.transport, { host: spec.host, port: spec.port }, { ...spec.options, onError });
    case 'otlp':
      return new OtlpSink(new URL(spec.url), { ...spec.options, onError });
  }
}

function main(): void {
  const port = parentPort!;
  const specs = workerData as OutputSpec[];
  const sinks = specs.map((s) => makeSink(s, (error) => port.postMessage({ error } satisfies FromThread)));
  const needEvents = sinks.some((s) => s instanceof SyslogSink || s instanceof OtlpSink);
  const stats = (): SinkStats[] => sinks.map((s) => ({ name: s.name, dropped: s.dropped, delivered: s.delivered, queued: s.queued }));
  const timer = setInterval(() => port.postMessage({ stats: stats() } satisfies FromThread), 250);

  port.on('message', (m: ToThread) => {
    if ('pack' in m) {
      const buf = Buffer.from(m.pack, 0, m.length);
      for (let off = 0; off < m.length; ) {
        const nl = buf.indexOf(10, off);
        const line = buf.subarray(off, nl + 1);
        off = nl + 1;
        const json = needEvents ? line.toString('utf8', 0, line.length - 1) : undefined;
        const e = json !== undefined ? (JSON.parse(json) as BustedEvent) : undefined;
        for (const s of sinks) {
          if (s instanceof SyslogSink) s.writeLine(line, e!);
          else if (s instanceof OtlpSink) s.writeEvent(e!, json);
          else s.writeLine(line);
        }
      }
      port.postMessage({ stats: stats(), consumed: m.length } satisfies FromThread);
    } else if ('reopen' in m) {
      for (const s of sinks) if (s instanceof FileSink) s.reopen();
    } else if ('close' in m) {
      clearInterval(timer);
      void Promise.all(sinks.map((s) => s.close())).then(() => {
        port.postMessage({ stats: stats(), closed: true } satisfies FromThread);
        port.close();
      });
    }
  });
}

if (parentPort && Array.isArray(workerData)) main();
