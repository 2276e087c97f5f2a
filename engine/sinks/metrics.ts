/**
 * `--metrics [PORT]`: Prometheus text format at /metrics, made by prom-client
 * (the Node client most Prometheus users run) from the events themselves, so
 * that monitor and enforce count the same way whichever stage made an event.
 *
 * Label values from outside (model names, process names) are capped per label
 * at MAX_VALUES distinct values; later ones are counted as "_other", so an
 * unusual workload cannot blow up the series count of a scrape.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BustedEvent } from '../model/event.js';
import type { Handler } from './http.js';
import type { PriceTable } from './prices.js';
import type { Sink } from './sink.js';

const MAX_VALUES = 500;

/**
 * Histogram buckets (seconds) as OpenTelemetry's GenAI semantic
 * conventions advise for gen_ai.client.operation.duration and
 * gen_ai.server.time_to_first_token: dashboards built for those read these.
 */
export const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
export const TTFT_BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

export interface MetricsOptions {
  /** the other sinks, whose queues and drops are reported */
  sinks: Sink[];
  prices: PriceTable;
  /** also Node's process metrics (CPU, memory, event-loop lag), prefixed busted_ (default true) */
  processMetrics?: boolean;
}

/** The label value for a process: its command name. */
export function processLabel(e: BustedEvent): string {
  return e.process?.comm || (e.process?.pid ? `pid ${e.process.pid}` : 'unknown');
}

export class MetricsSink implements Sink {
  readonly name = 'metrics';
  readonly dropped = 0;
  readonly registry = new Registry();
  private readonly seen = new Map<string, Set<string>>();
  private readonly events: Counter;
  private readonly decisions: Counter;
  private readonly blocks: Counter;
  private readonly lost: Counter;
  private readonly errors: Counter;
  private readonly llmRequests: Counter;
  private readonly llmResponses: Counter;
  private readonly tokens: Counter;
  private readonly cost: Counter;
  private readonly unpriced: Counter;
  private readonly mcp: Counter;
  private readonly llmDuration: Histogram;
  private readonly llmTtft: Histogram;
  private readonly mcpDuration: Histogram;
  private readonly policyInfo: Gauge;
  private readonly policyReloads: Gauge;
  private readonly policyLoaded: Gauge;
  private policyLabels: { revision: string; source: string } | undefined;

  constructor(private readonly o: MetricsOptions) {
    const r = [this.registry];
    const c = (name: string, help: string, labelNames: string[] = []) => new Counter({ name, help, labelNames, registers: r });
    const g = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: r });
    this.events = c('busted_events_total', 'Events reported, by type and LLM provider ("" when none)', ['type', 'provider']);
    this.decisions = c('busted_decisions_total', 'Policy decisions, by action and whether they were enforced', ['action', 'enforced']);
    this.blocks = c('busted_blocks_total', 'Block decisions by provider and process', ['provider', 'process']);
    this.lost = c('busted_lost_events_total', 'Kernel records lost before the agent read them (ring buffer full), by reason', ['reason']);
    this.errors = c('busted_errors_total', 'Error events by code', ['code']);
    this.llmRequests = c('busted_llm_requests_total', 'LLM API requests by provider, model and process', ['provider', 'model', 'process']);
    this.llmResponses = c('busted_llm_responses_total', 'LLM API responses by provider, model and process', ['provider', 'model', 'process']);
    this.tokens = c('busted_llm_tokens_total', 'LLM tokens reported in responses, by provider, model, process and direction (input|output)', ['provider', 'model', 'process', 'direction']);
    this.cost = c('busted_llm_cost_total', `Estimated LLM cost in ${o.prices.currency} from the price table (${o.prices.source})`, ['provider', 'model', 'process', 'currency']);
    this.unpriced = c('busted_llm_unpriced_responses_total', 'LLM responses with usage whose model is not in the price table', ['provider', 'model']);
    this.mcp = c('busted_mcp_messages_total', 'MCP JSON-RPC messages by kind, method, transport (http, stdio) and server (its name, as it answered initialize)', ['kind', 'method', 'transport', 'server']);
    const h = (name: string, help: string, labelNames: string[], buckets: number[]) => new Histogram({ name, help, labelNames, buckets, registers: r });
    this.llmDuration = h('busted_llm_request_duration_seconds', "LLM API calls: the request's last write to the answer's last read, as the kernel timed them, by provider and model", ['provider', 'model'], DURATION_BUCKETS);
    this.llmTtft = h('busted_llm_time_to_first_token_seconds', "Streamed LLM answers: the request's last write to the answer's first body piece, by provider and model", ['provider', 'model'], TTFT_BUCKETS);
    this.mcpDuration = h('busted_mcp_request_duration_seconds', 'MCP requests answered: the request to its answer, by method, transport and server', ['method', 'transport', 'server'], DURATION_BUCKETS);
    this.policyInfo = g('busted_policy_info', 'The policy in force (value 1), labelled with its revision and source', ['revision', 'source']);
    this.policyReloads = g('busted_policy_reloads', 'Policy reloads since start');
    this.policyLoaded = g('busted_policy_loaded_timestamp_seconds', 'When the policy in force was loaded (Unix time)');
    g('busted_build_info', 'busted version', ['version']).set({ version: '0.1.0' }, 1);

    const sinks = o.sinks;
    new Gauge({
      name: 'busted_sink_queue_depth',
      help: 'Events accepted by a sink and not yet delivered',
      labelNames: ['sink'],
      registers: r,
      collect() {
        for (const s of sinks) if (s.queued !== undefined) this.set({ sink: s.name }, s.queued);
      },
    });
    new Counter({
      name: 'busted_sink_dropped_total',
      help: 'Events a sink dropped (queue full, destination refusing, spill full)',
      labelNames: ['sink'],
      registers: r,
      collect() {
        this.reset();
        for (const s of sinks) this.inc({ sink: s.name }, s.dropped);
      },
    });
    new Counter({
      name: 'busted_sink_delivered_total',
      help: 'Events a sink delivered to its destination',
      labelNames: ['sink'],
      registers: r,
      collect() {
        this.reset();
        for (const s of sinks) if (s.delivered !== undefined) this.inc({ sink: s.name }, s.delivered);
      },
    });
    if (o.processMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'busted_' });
  }

  /** A label value from outside, capped in distinct values per label. */
  private v(label: string, value: string | undefined): string {
    const s = value ?? '';
    let set = this.seen.get(label);
    if (!set) this.seen.set(label, (set = new Set()));
    if (set.has(s)) return s;
    if (set.size >= MAX_VALUES) return '_other';
    set.add(s);
    return s;
  }

  write(e: BustedEvent): void {
    const provider = this.v('provider', e.provider ?? e.llm?.provider);
    this.events.inc({ type: e.type, provider });
    switch (e.type) {
      case 'llm_request':
        this.llmRequests.inc({ provider, model: this.v('model', e.llm?.model), process: this.v('process', processLabel(e)) });
        break;
      case 'llm_response': {
        const model = this.v('model', e.llm?.model);
        const proc = this.v('process', processLabel(e));
        this.llmResponses.inc({ provider, model, process: proc });
        const u = e.llm?.usage;
        if (u) {
          const inT = u.input_tokens ?? 0;
          const outT = u.output_tokens ?? 0;
          if (inT) this.tokens.inc({ provider, model, process: proc, direction: 'input' }, inT);
          if (outT) this.tokens.inc({ provider, model, process: proc, direction: 'output' }, outT);
          const cost = this.o.prices.cost(e.provider ?? e.llm?.provider, e.llm?.model, inT, outT);
          if (cost === undefined) this.unpriced.inc({ provider, model });
          else this.cost.inc({ provider, model, process: proc, currency: this.o.prices.currency }, cost);
        }
        const d = e.llm?.duration_ms;
        if (d !== undefined) this.llmDuration.observe({ provider, model }, d / 1000);
        const t = e.llm?.ttft_ms;
        if (t !== undefined) this.llmTtft.observe({ provider, model }, t / 1000);
        break;
      }
      case 'mcp_message': {
        const labels = { method: this.v('method', e.mcp?.method), transport: e.mcp?.transport ?? 'http', server: this.v('server', e.mcp?.server?.name) };
        this.mcp.inc({ kind: e.mcp?.kind ?? '', ...labels });
        const d = e.mcp?.duration_ms;
        if (d !== undefined && e.mcp?.kind === 'response') this.mcpDuration.observe(labels, d / 1000);
        break;
      }
      case 'decision': {
        const d = e.decision;
        if (!d) break;
        this.decisions.inc({ action: d.action, enforced: String(d.enforced) });
        if (d.action === 'block') this.blocks.inc({ provider, process: this.v('process', processLabel(e)) });
        break;
      }
      case 'policy': {
        const p = e.policy;
        if (!p) break;
        if (this.policyLabels) this.policyInfo.remove(this.policyLabels);
        this.policyLabels = { revision: p.revision, source: p.source };
        this.policyInfo.set(this.policyLabels, 1);
        this.policyReloads.set(p.reloads);
        const t = Date.parse(e.time);
        this.policyLoaded.set(Number.isFinite(t) ? t / 1000 : Date.now() / 1000);
        break;
      }
      case 'lost':
        this.lost.inc({ reason: e.lost?.reason ?? '' }, e.lost?.count ?? 0);
        break;
      case 'error':
        this.errors.inc({ code: e.error?.code ?? '' });
        break;
    }
  }

  /** GET /metrics (and / for a pointer to it). */
  handler(): Handler {
    return (req: IncomingMessage, res: ServerResponse, url: URL) => {
      if (url.pathname !== '/metrics') {
        res.writeHead(url.pathname === '/' ? 200 : 404, { 'content-type': 'text/plain' }).end('busted metrics: /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(text),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    };
  }

  async close(): Promise<void> {}
}
