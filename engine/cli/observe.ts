/**
 * What `monitor` and `enforce` share after the kernel: the sinks (stdout,
 * --record, --output …), the metrics endpoint, the dashboard and the
 * Kubernetes metadata watch. Everything is validated before anything is
 * started, so a bad option fails before the kernel is touched.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { BustedError, ErrorCode } from '../model/errors.js';
import type { BustedEvent } from '../model/event.js';
import type { Sink } from '../sinks/sink.js';
import { eventSinks, type EventSinks } from './sinks.js';
import { parseFsync, type FsyncPolicy } from '../sinks/file.js';
import { HEADER_NAME, parseWebhookUrl, type WebhookOptions } from '../sinks/webhook.js';
import { otlpEnvHeaders, parseOtlpUrl, type OtlpOptions } from '../sinks/otlp.js';
import { FACILITIES, parseHostPort } from '../sinks/syslog.js';
import { makeSink, specName, type OutputSpec } from '../sinks/outputs-thread.js';
import { OutputThread } from '../sinks/threaded.js';
import { MetricsSink } from '../sinks/metrics.js';
import { DashboardSink } from '../sinks/dashboard.js';
import { loadPrices, type PriceTable } from '../sinks/prices.js';
import { startHttp, parseListen, type Listener } from '../sinks/http.js';
import { KubeWatcher, kubeConfig, podAnnotator } from '../enrich/kube.js';
import { DEFAULT_METRICS_PORT, DEFAULT_SPILL_DIR, DEFAULT_UI_PORT } from '../model/defaults.js';

/** The options of observeOptions() in main.ts that this file reads. */
export interface ObserveCliOptions {
  format: 'text' | 'json';
  output: string[];
  record?: string;
  color?: boolean;
  fileMaxMb?: number;
  fileKeep?: number;
  fileFsync?: string;
  webhookHeader?: string[];
  webhookTokenFile?: string;
  webhookCa?: string;
  webhookBatch?: number;
  webhookFlushMs?: number;
  otlpHeader?: string[];
  otlpCa?: string;
  spillDir?: string;
  spillMaxMb?: number;
  syslogFacility?: string;
  syslogMaxBytes?: number;
  ui?: string | boolean;
  metrics?: string | boolean;
  prices?: string;
  kube?: boolean;
  kubeApi?: string;
  kubeSaDir?: string;
  kubeNode?: string;
}

export { DEFAULT_METRICS_PORT, DEFAULT_SPILL_DIR, DEFAULT_UI_PORT };

function usage(msg: string, field: string): never {
  throw new BustedError(ErrorCode.USAGE, msg, field);
}

function readSecret(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (e) {
    return usage(`--${what} ${path}: ${(e as Error).message}`, what);
  }
}

/** `Name: value` → [name, value]; the value is a secret as far as messages go. */
function parseHeaders(specs: string[], option = 'webhook-header'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of specs) {
    const i = h.indexOf(':');
    const name = i > 0 ? h.slice(0, i).trim() : '';
    if (!HEADER_NAME.test(name)) usage(`--${option}: expected 'Name: value', got a header without a valid name`, option);
    out[name.toLowerCase()] = h.slice(i + 1).trim();
  }
  return out;
}

/** The --output sinks as plain data, validated before anything touches the kernel. */
export function outputSpecs(specs: string[], o: Partial<ObserveCliOptions> = {}): OutputSpec[] {
  let fsync: FsyncPolicy = 'rotate';
  if (o.fileFsync !== undefined) {
    try {
      fsync = parseFsync(o.fileFsync);
    } catch (e) {
      usage(`--file-fsync: ${(e as Error).message}`, 'file-fsync');
    }
  }
  const facility = FACILITIES[o.syslogFacility ?? 'local0'];
  if (facility === undefined) usage(`--syslog-facility ${o.syslogFacility}: expected one of ${Object.keys(FACILITIES).join(', ')}`, 'syslog-facility');
  const headers = parseHeaders(o.webhookHeader ?? []);
  const token = o.webhookTokenFile ? readSecret(o.webhookTokenFile, 'webhook-token-file') : undefined;
  const ca = o.webhookCa ? readSecret(o.webhookCa, 'webhook-ca') : undefined;
  const otlpCa = o.otlpCa ? readSecret(o.otlpCa, 'otlp-ca') : undefined;
  const seen = new Set<string>();
  // how webhook and OTLP outputs queue: batches, and the disk spill while the endpoint is down
  const spill = o.spillDir === '' ? undefined : (o.spillDir ?? DEFAULT_SPILL_DIR);
  const queue: WebhookOptions = { spillMaxBytes: (o.spillMaxMb ?? 256) * (1 << 20) };
  if (o.webhookBatch) queue.batchEvents = o.webhookBatch;
  if (o.webhookFlushMs) queue.flushMs = o.webhookFlushMs;
  if (spill) queue.spillDir = spill;
  return specs.map((spec): OutputSpec => {
    if (seen.has(spec)) usage(`--output ${spec} is given twice`, 'output');
    seen.add(spec);
    const colon = spec.indexOf(':');
    const kind = colon < 0 ? spec : spec.slice(0, colon);
    const arg = colon < 0 ? '' : spec.slice(colon + 1);
    if (kind === 'file' && arg) {
      // a file the agent cannot open now (a missing directory, no permission) is a mistake in the
      // command line: said at start, not found out when the first event is dropped
      try {
        closeSync(openSync(arg, 'a', 0o640));
      } catch (e) {
        usage(`--output ${spec}: ${(e as Error).message}`, 'output');
      }
      return { kind: 'file', path: arg, options: { maxBytes: (o.fileMaxMb ?? 100) * (1 << 20), keep: o.fileKeep ?? 5, fsync } };
    }
    if (kind === 'webhook' && arg) {
      const url = parseWebhookUrl(arg);
      if (ca && url.protocol !== 'https:') usage('--webhook-ca is for https URLs', 'webhook-ca');
      const options: WebhookOptions = { ...queue, headers };
      if (token) options.token = token;
      if (ca) options.ca = ca;
      return { kind: 'webhook', url: url.href, options };
    }
    if (kind === 'otlp') {
      // `--output otlp` alone: where OpenTelemetry's exporters send by default (OTEL_EXPORTER_OTLP_ENDPOINT, else local port 4318)
      const url = parseOtlpUrl(arg || process.env.OTEL_EXPORTER_OTLP_ENDPOINT || 'http://localhost:4318');
      if (otlpCa && url.protocol !== 'https:') usage('--otlp-ca is for https URLs', 'otlp-ca');
      // the environment's headers first (OpenTelemetry's exporters read them), the command line's over them
      const options: OtlpOptions = { ...queue, headers: { ...otlpEnvHeaders(process.env.OTEL_EXPORTER_OTLP_HEADERS), ...parseHeaders(o.otlpHeader ?? [], 'otlp-header') } };
      if (otlpCa) options.ca = otlpCa;
      return { kind: 'otlp', url: url.href, options };
    }
    if ((kind === 'syslog' || kind === 'syslog+tcp') && arg) {
      const target = parseHostPort(arg, kind);
      return { kind: 'syslog', transport: kind === 'syslog' ? 'udp' : 'tcp', ...target, options: { facility, ...(o.syslogMaxBytes ? { maxBytes: o.syslogMaxBytes } : {}) } };
    }
    return usage(`--output ${spec}: expected file:PATH, webhook:URL, syslog:HOST:PORT, syslog+tcp:HOST:PORT or otlp:URL`, 'output');
  });
}

/** The --output sinks made here, on the calling thread (the agent runs them on the outputs thread instead: startOutputs). */
export function outputSinks(specs: string[], o: Partial<ObserveCliOptions> = {}): Sink[] {
  return outputSpecs(specs, o).map((s) => makeSink(s, (m) => process.stderr.write(`${m}\n`)));
}

/** SIGHUP reopens the sinks' files (logrotate's postrotate); returns the unhook. */
export function reopenOnHangup(sinks: Sink[]): () => void {
  const onHup = () => {
    for (const s of sinks) s.reopen?.();
  };
  process.on('SIGHUP', onHup);
  return () => process.off('SIGHUP', onHup);
}

export interface Outputs {
  /** for the Agent, in order: stdout, record, outputs, then metrics and dashboard */
  sinks: Sink[];
  /** every destination, one each (the --output sinks run on the outputs thread: these stand for them) */
  watched: Sink[];
  /** stages that add to events before they are decided on (Kubernetes pod metadata) */
  annotate: Array<(e: BustedEvent) => void>;
  metrics?: MetricsSink;
  dashboard?: DashboardSink;
  kube?: KubeWatcher;
  /** once the agent runs: a sink's trouble (--record's full disk) becomes an error event (sinks.ts) */
  bind: EventSinks['bind'];
  /** where the dashboard and the metrics listen */
  urls: { ui?: string; metrics?: string };
  /** stops the servers, the watch and the signal handler (the Agent closes the sinks) */
  close(): Promise<void>;
}

/**
 * Everything after the kernel for a run. `onStdoutError` is called when the
 * reader of stdout goes away (`busted monitor | head`).
 */
export async function startOutputs(o: ObserveCliOptions, onStdoutError: () => void): Promise<Outputs> {
  // Validate every option before anything opens or listens.
  const uiAt = o.ui === undefined || o.ui === false ? undefined : parseListen(o.ui, DEFAULT_UI_PORT, '--ui');
  const metricsAt = o.metrics === undefined || o.metrics === false ? undefined : parseListen(o.metrics, DEFAULT_METRICS_PORT, '--metrics');
  let prices: PriceTable | undefined;
  if (uiAt || metricsAt || o.prices) prices = loadPrices(o.prices);
  const kubeCfg = o.kube === false ? undefined : kubeConfig({ api: o.kubeApi, saDir: o.kubeSaDir, node: o.kubeNode, required: o.kubeApi !== undefined });
  const specs = outputSpecs(o.output, o);

  // stdout and --record (sinks.ts), then the outputs thread, metrics, dashboard
  const base = eventSinks(o, { onStdoutError });
  const sinks: Sink[] = [...base.sinks];
  // OTLP outputs on a thread of their own: making OTLP records costs several times what a file line or a
  // webhook's does (bench/sinks), and a thread that falls behind would drop the other outputs' events too
  const threads = [specs.filter((x) => x.kind !== 'otlp'), specs.filter((x) => x.kind === 'otlp')]
    .filter((g) => g.length > 0)
    .map((g) => new OutputThread(g, g.map(specName)));
  sinks.push(...threads);
  // what metrics, the dashboard and the exit summary report on: each destination
  const watched = [...sinks.filter((s) => !(s instanceof OutputThread)), ...threads.flatMap((t) => t.members)];
  const listeners: Listener[] = [];
  const out: Outputs = { sinks, watched, annotate: [], urls: {}, bind: base.bind, close: async () => {} };
  try {
    if (metricsAt) {
      out.metrics = new MetricsSink({ sinks: watched, prices: prices! });
      const l = await startHttp(metricsAt, out.metrics.handler(), '--metrics');
      listeners.push(l);
      out.urls.metrics = `${l.url}/metrics`;
      sinks.push(out.metrics);
    }
    if (uiAt) {
      out.dashboard = new DashboardSink({ prices: prices!, sinks: watched });
      const l = await startHttp(uiAt, out.dashboard.handler(), '--ui', { tokenIfExposed: true });
      listeners.push(l);
      out.urls.ui = l.url + (l.token ? `/?token=${l.token}` : '/');
      sinks.push(out.dashboard);
    }
  } catch (e) {
    await Promise.all(listeners.map((l) => l.close()));
    await Promise.all(sinks.map((s) => s.close()));
    throw e;
  }
  if (kubeCfg) {
    out.kube = new KubeWatcher(kubeCfg);
    out.kube.start();
    out.annotate.push(podAnnotator(out.kube));
  }
  const unhook = reopenOnHangup(sinks);
  out.close = async () => {
    unhook();
    out.kube?.stop();
    await Promise.all(listeners.map((l) => l.close()));
  };
  return out;
}
