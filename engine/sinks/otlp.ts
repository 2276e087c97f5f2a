/**
 * `--output otlp:URL`: events to an OpenTelemetry collector (or any OTLP/HTTP
 * receiver: Grafana, Honeycomb, Datadog, Langfuse…), as OTLP/HTTP JSON
 * (opentelemetry-proto 1.x, `application/json`), so that the host's AI
 * traffic shows up where its other telemetry is, with no SDK in the
 * programs that make it:
 *
 * - **logs** (`URL/v1/logs`): every event, its JSON as the body (redacted as
 *   for every output), `busted.<type>` as its event name;
 * - **traces** (`URL/v1/traces`): a span per LLM call answered (from
 *   `llm_response`: its start is its end less `llm.duration_ms`) and per MCP
 *   request answered (`mcp_message` answers with `mcp.duration_ms`), with
 *   the attributes of OpenTelemetry's GenAI and MCP semantic conventions
 *   (`gen_ai.operation.name`, `gen_ai.provider.name`, `gen_ai.request.model`,
 *   `gen_ai.usage.input_tokens`, `mcp.method.name`, `gen_ai.tool.name`…);
 *   and a span in error for each LLM request or MCP message a policy
 *   blocked (its `decision`), so a refused call is seen beside the others.
 *
 * The resource of a record is the process it is about (`service.name` its
 * command name, `process.*`, `container.id`, `k8s.*`, `host.name`); records
 * about no process (a policy load, a loss) are the agent's own
 * (`service.name` busted).
 *
 * Delivery is the webhook's (webhook.ts): batches, retries with backoff,
 * Retry-After, a disk spill while the collector is down, one queue per
 * signal. What waits is each record with its resource (line()); a batch is
 * wrapped into its OTLP request when it is sent (exportBody()).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { BustedEvent, ProcessInfo } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import type { Sink } from './sink.js';
import { parseTraceparent } from '../parse/traceparent.js';
import { HEADER_NAME, safeUrl, WebhookSink, type WebhookOptions } from './webhook.js';

const VERSION = '0.1.0';
const SCOPE = { name: 'busted', version: VERSION };

/** An OTLP AnyValue, in the protobuf JSON mapping (64-bit integers as strings). */
type AnyValue = { stringValue: string } | { intValue: string } | { doubleValue: number } | { boolValue: boolean } | { arrayValue: { values: AnyValue[] } };
interface KeyValue {
  key: string;
  value: AnyValue;
}

function anyValue(v: unknown): AnyValue | undefined {
  switch (typeof v) {
    case 'string':
      return { stringValue: v };
    case 'boolean':
      return { boolValue: v };
    case 'number':
      return Number.isSafeInteger(v) ? { intValue: String(v) } : Number.isFinite(v) ? { doubleValue: v } : undefined;
    case 'object': {
      if (!Array.isArray(v)) return undefined;
      const values = v.map(anyValue).filter((x): x is AnyValue => x !== undefined);
      return { arrayValue: { values } };
    }
    default:
      return undefined;
  }
}

/** Attributes from PAIRS, leaving out what is undefined (or not representable). */
function attrs(pairs: Array<[string, unknown]>): KeyValue[] {
  const out: KeyValue[] = [];
  for (const [key, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    const value = anyValue(v);
    if (value !== undefined) out.push({ key, value });
  }
  return out;
}

/** RFC 3339 with up to nanoseconds (the events' `time`) → Unix nanoseconds, as the decimal string OTLP JSON carries. */
export function unixNano(time: string): string {
  const m = /^(.*?)(?:\.(\d{1,9}))?(Z|[+-]\d\d:\d\d)$/.exec(time);
  const ms = m ? Date.parse(`${m[1]}${m[3]}`) : NaN;
  if (!m || !Number.isFinite(ms)) return String(BigInt(Date.now()) * 1_000_000n);
  return String(BigInt(ms) * 1_000_000n + BigInt((m[2] ?? '').padEnd(9, '0')));
}

const HOST = hostname();

/** The resource a record about process P belongs to (none: the agent's own). */
function resourceOf(p: ProcessInfo | undefined): KeyValue[] {
  if (p === undefined) return attrs([['service.name', 'busted'], ['host.name', HOST]]);
  const exeName = p.exe ? p.exe.slice(p.exe.lastIndexOf('/') + 1) : undefined;
  return attrs([
    ['service.name', p.comm || exeName || `pid ${p.pid}`],
    ['host.name', HOST],
    ['process.pid', p.pid],
    ['process.parent_pid', p.ppid],
    ['process.executable.name', exeName],
    ['process.executable.path', p.exe],
    ['process.command_line', p.cmdline],
    ['process.user.id', p.uid],
    ['process.group.id', p.gid],
    ['busted.process.exe_sha256', p.exe_sha256],
    ['container.id', p.container_id],
    ['container.runtime', p.container_runtime],
    ['container.image.name', p.pod?.image],
    ['k8s.pod.uid', p.pod?.uid ?? p.pod_uid],
    ['k8s.pod.name', p.pod?.name],
    ['k8s.namespace.name', p.pod?.namespace],
    ['k8s.container.name', p.pod?.container],
  ]);
}

/** OpenTelemetry's gen_ai.provider.name for a busted provider slug (its well-known values; others as they are). */
const PROVIDER_NAME: Record<string, string> = {
  openai: 'openai',
  anthropic: 'anthropic',
  google: 'gcp.gemini',
  azure_openai: 'azure.ai.openai',
  bedrock: 'aws.bedrock',
  cohere: 'cohere',
  mistral: 'mistral_ai',
  groq: 'groq',
  deepseek: 'deepseek',
  perplexity: 'perplexity',
  xai: 'x_ai',
};

/** gen_ai.operation.name from an LLM call's endpoint. */
export function operationOf(endpoint: string | undefined): string {
  const e = (endpoint ?? '').toLowerCase();
  if (/embed/.test(e)) return 'embeddings';
  if (/generatecontent/.test(e)) return 'generate_content';
  if (/(^|\/)completions$/.test(e) && !/chat\/completions$/.test(e)) return 'text_completion';
  return 'chat';
}

/** Random bytes for trace and span ids, drawn from a pool refilled 4 KiB at a time (a call of the CSPRNG per id cost more than the span). */
let pool = Buffer.alloc(0);
let poolAt = 0;
function hex(bytes: number): string {
  if (poolAt + bytes > pool.length) {
    pool = randomBytes(4096);
    poolAt = 0;
  }
  const out = pool.toString('hex', poolAt, poolAt + bytes);
  poolAt += bytes;
  return out;
}

/** The W3C trace context a traced program sent with the call event E is about. */
function traceOf(e: BustedEvent) {
  const tp = e.http?.traceparent ?? e.mcp?.traceparent;
  return tp !== undefined ? parseTraceparent(tp) : undefined;
}

/** Where the call went: the host it named (else its server name, else its address's name) and its port. */
function serverAttrs(e: BustedEvent): Array<[string, unknown]> {
  return [
    ['server.address', e.http?.host ?? e.tls?.sni ?? e.net?.dst_host],
    ['server.port', e.net?.dst_port],
  ];
}

/** An LLM call's span name: its operation and the model asked for (semantic conventions: "{operation} {model}"). */
function llmName(endpoint: string | undefined, model: string | undefined): string {
  return model ? `${operationOf(endpoint)} ${model}` : operationOf(endpoint);
}

/** Whether an event is about an LLM request or MCP message that a block would be told of. */
function blockable(e: BustedEvent): boolean {
  return e.type === 'llm_request' || (e.type === 'mcp_message' && e.mcp?.kind !== 'response');
}

/** how many requests wait for a decision that may block them */
const MAX_WAITING = 1024;

/**
 * One record (a log record or a span) with the resource it belongs to, as
 * a line of the queue: the resource's attributes as JSON, a unit separator
 * (0x1f, which JSON never holds raw), the record as JSON. A batch is made
 * an export request by grouping lines on their first part, with no JSON
 * parsed again (exportBody).
 */
function line(resource: string, record: string): Buffer {
  return Buffer.from(`${resource}\x1f${record}\n`);
}

/** Resources as JSON, by what they are made of (a process's fields): the same process's records share one string. */
const resources = new Map<string, string>();
const MAX_RESOURCES = 4096;

function resourceJson(p: ProcessInfo | undefined): string {
  const key = p === undefined ? '' : `${p.pid}\0${p.ppid}\0${p.comm}\0${p.exe}\0${p.cmdline}\0${p.uid}\0${p.gid}\0${p.exe_sha256}\0${p.container_id}\0${p.container_runtime}\0${p.pod_uid}\0${p.pod?.name}\0${p.pod?.namespace}\0${p.pod?.container}\0${p.pod?.image}`;
  let json = resources.get(key);
  if (json === undefined) {
    if (resources.size >= MAX_RESOURCES) resources.delete(resources.keys().next().value!);
    resources.set(key, (json = JSON.stringify(resourceOf(p))));
  }
  return json;
}

/**
 * The log record line of event E. JSON: E's JSON line as the agent encoded
 * it (its body is that text; given, it is not encoded again).
 */
export function logLine(e: BustedEvent, json?: string): Buffer {
  const t = unixNano(e.time);
  const severity = e.type === 'error' || e.type === 'lost' ? 17 : e.type === 'decision' && e.decision?.action === 'block' ? 13 : 9;
  // an event of a traced program's call is logged in its trace (as the span that sent the call), so a backend
  // shows it beside the program's own logs of that trace
  const trace = traceOf(e);
  const record = {
    timeUnixNano: t,
    observedTimeUnixNano: t,
    severityNumber: severity,
    severityText: severity === 17 ? 'ERROR' : severity === 13 ? 'WARN' : 'INFO',
    eventName: `busted.${e.type}`,
    ...(trace ? { traceId: trace.traceId, spanId: trace.spanId, flags: trace.flags } : {}),
    body: { stringValue: json ?? JSON.stringify(e) },
    attributes: attrs([
      ['busted.event.id', e.id],
      ['busted.event.type', e.type],
      ['busted.provider', e.provider],
      ['busted.decision.action', e.decision?.action],
      ['busted.decision.subject', e.decision?.subject],
    ]),
  };
  return line(resourceJson(e.process), JSON.stringify(record));
}

/** The span attributes an LLM call's event says (request or answer). */
function llmAttrs(e: BustedEvent): Array<[string, unknown]> {
  const l = e.llm ?? {};
  const provider = e.provider ?? l.provider;
  const pname = provider !== undefined ? (PROVIDER_NAME[provider] ?? provider) : undefined;
  return [
    ['gen_ai.operation.name', operationOf(l.endpoint)],
    ['gen_ai.provider.name', pname],
    // the attribute before gen_ai.provider.name (semantic conventions < 1.37), which backends still read
    ['gen_ai.system', pname],
    ...serverAttrs(e),
    ['url.path', e.http?.path],
    ['user_agent.original', e.http?.user_agent],
    ['busted.llm.endpoint', l.endpoint],
    ['busted.llm.stream', l.stream],
    ['busted.llm.client.name', l.client?.name],
    ['busted.llm.client.version', l.client?.version],
    ['busted.provider', provider],
  ];
}

function mcpAttrs(e: BustedEvent): Array<[string, unknown]> {
  const m = e.mcp!;
  return [
    ['mcp.method.name', m.method],
    ['gen_ai.tool.name', m.method === 'tools/call' ? m.tool : undefined],
    ['gen_ai.operation.name', m.method === 'tools/call' ? 'execute_tool' : undefined],
    ['jsonrpc.request.id', m.id !== undefined ? String(m.id) : undefined],
    ['mcp.protocol.version', m.protocol_version],
    ['network.transport', m.transport === 'stdio' ? 'pipe' : 'tcp'],
    ...serverAttrs(e),
    ['busted.mcp.server.name', m.server?.name],
    ['busted.mcp.server.version', m.server?.version],
    ['busted.mcp.client.name', m.client?.name],
    ['busted.mcp.peer.exe', m.peer?.exe],
  ];
}

/** An MCP span's name: its method, and what it is about where it names that (semantic conventions: "{mcp.method.name} {target}"). */
function mcpName(e: BustedEvent): string {
  const m = e.mcp!;
  return m.tool !== undefined ? `${m.method ?? 'mcp'} ${m.tool}` : (m.method ?? 'mcp');
}

const SPAN_CLIENT = 3;
const STATUS_ERROR = 2;

/** The decision attributes of a span. */
function decisionAttrs(d: NonNullable<BustedEvent['decision']>): Array<[string, unknown]> {
  return [
    ['busted.decision.action', d.action],
    ['busted.decision.enforced', d.enforced],
    ['busted.decision.reasons', d.reasons.length ? d.reasons : undefined],
    ['busted.decision.policy_revision', d.policy_revision],
  ];
}

/** A request kept for its answer or its block, with the decision on it once made. */
interface Waiting {
  req: BustedEvent;
  decision?: NonNullable<BustedEvent['decision']>;
}

/**
 * Spans from events. A request is kept (up to MAX_WAITING, the oldest
 * going first) until its answer names it (`request_event`) or a decision
 * blocks it: the answer's span then carries the request's model and the
 * decision on it (an audit shows on the call it was about), and a blocked
 * request, which has no answer, gets a span of its own.
 */
export class SpanMaker {
  private readonly waiting = new Map<string, Waiting>();

  /** The span lines event E completes (none, mostly). */
  spans(e: BustedEvent): Buffer[] {
    if (blockable(e)) {
      if (this.waiting.size >= MAX_WAITING) this.waiting.delete(this.waiting.keys().next().value!);
      this.waiting.set(e.id, { req: e });
    }
    switch (e.type) {
      case 'llm_response':
        return e.llm?.duration_ms !== undefined ? [this.llmSpan(e, this.take(e.llm.request_event))] : [];
      case 'mcp_message':
        return e.mcp?.kind === 'response' && e.mcp.duration_ms !== undefined ? [this.mcpSpan(e, this.take(e.mcp.request_event))] : [];
      case 'decision': {
        const d = e.decision;
        const w = d ? this.waiting.get(d.subject) : undefined;
        if (!d || !w) return [];
        if (d.action !== 'block') {
          w.decision = d;
          return [];
        }
        this.waiting.delete(d.subject);
        return [this.blockedSpan(w.req, e)];
      }
      default:
        return [];
    }
  }

  private take(id: string | undefined): Waiting | undefined {
    if (id === undefined) return undefined;
    const w = this.waiting.get(id);
    if (w !== undefined) this.waiting.delete(id);
    return w;
  }

  private span(e: BustedEvent, name: string, durationMs: number, attributes: Array<[string, unknown]>, status?: { code: number; message?: string }): Buffer {
    const end = BigInt(unixNano(e.time));
    const start = end - BigInt(Math.max(0, Math.round(durationMs * 1e6)));
    // a call a traced program made joins its trace, as the child of the span that sent it
    const tp = traceOf(e);
    const record = {
      traceId: tp?.traceId ?? hex(16),
      spanId: hex(8),
      ...(tp ? { parentSpanId: tp.spanId, flags: tp.flags } : {}),
      name,
      kind: SPAN_CLIENT,
      startTimeUnixNano: String(start),
      endTimeUnixNano: String(end),
      attributes: attrs([...attributes, ['busted.event.id', e.id]]),
      status: status ?? { code: 0 },
    };
    return line(resourceJson(e.process), JSON.stringify(record));
  }

  private llmSpan(e: BustedEvent, asked?: Waiting): Buffer {
    const l = e.llm!;
    const model = l.model;
    // the model asked for (the answer names the one that answered: gpt-4o → gpt-4o-2024-08-06)
    const requested = asked?.req.llm?.model ?? model;
    const status = e.http?.status;
    const failed = status !== undefined && status >= 400;
    return this.span(
      e,
      llmName(l.endpoint, requested),
      l.duration_ms!,
      [
        ...llmAttrs(e),
        ['gen_ai.request.model', requested],
        ['gen_ai.response.model', model],
        ['gen_ai.usage.input_tokens', l.usage?.input_tokens],
        ['gen_ai.usage.output_tokens', l.usage?.output_tokens],
        ['http.response.status_code', status],
        ['error.type', failed ? String(status) : undefined],
        ['busted.llm.ttft_ms', l.ttft_ms],
        ['busted.llm.tool_calls', l.tool_calls],
        ['busted.request.event.id', l.request_event],
        ...(asked?.decision ? decisionAttrs(asked.decision) : []),
      ],
      failed ? { code: STATUS_ERROR, message: `HTTP ${status}` } : undefined,
    );
  }

  private mcpSpan(e: BustedEvent, asked?: Waiting): Buffer {
    return this.span(e, mcpName(e), e.mcp!.duration_ms!, [
      ...mcpAttrs(e),
      ['http.response.status_code', e.http?.status],
      ['busted.request.event.id', e.mcp!.request_event],
      ...(asked?.decision ? decisionAttrs(asked.decision) : []),
    ]);
  }

  /** A request a policy blocked: a span of no length at the request, in error, with the reasons. */
  private blockedSpan(req: BustedEvent, d: BustedEvent): Buffer {
    const reasons = d.decision!.reasons;
    const isLlm = req.type === 'llm_request';
    const name = isLlm ? llmName(req.llm?.endpoint, req.llm?.model) : mcpName(req);
    return this.span(
      req,
      name,
      0,
      [
        ...(isLlm ? [...llmAttrs(req), ['gen_ai.request.model', req.llm?.model] as [string, unknown]] : mcpAttrs(req)),
        ['error.type', 'blocked'],
        ...decisionAttrs(d.decision!),
      ],
      { code: STATUS_ERROR, message: `blocked by policy${reasons.length ? `: ${reasons.join('; ')}` : ''}` },
    );
  }
}

const SEP = 0x1f;
const NL = 0x0a;
const COMMA = Buffer.from(',');

/**
 * A batch of queued lines (see line()) as the body of an OTLP export
 * request of SIGNAL: records grouped by resource, in order; its bytes
 * copied around the records', which are neither decoded nor parsed again.
 */
export function exportBody(signal: 'logs' | 'traces', batch: Buffer): Buffer {
  // by the resource's bytes (read as latin1: any bytes, one character each, for a key)
  const groups = new Map<string, { resource: Buffer; records: Buffer[] }>();
  let last: { resource: Buffer; records: Buffer[] } | undefined;
  for (let at = 0; at < batch.length; ) {
    let nl = batch.indexOf(NL, at);
    if (nl < 0) nl = batch.length;
    const sep = batch.indexOf(SEP, at);
    if (sep < 0 || sep > nl) throw new Error('a queued OTLP record without its resource');
    const resource = batch.subarray(at, sep);
    // mostly the same process as the record before: compared as bytes, not looked up
    let g = last !== undefined && last.resource.equals(resource) ? last : undefined;
    if (g === undefined) {
      const key = resource.toString('latin1');
      g = groups.get(key);
      if (!g) groups.set(key, (g = { resource, records: [] }));
    }
    g.records.push(batch.subarray(sep + 1, nl));
    last = g;
    at = nl + 1;
  }
  const [outer, inner, list] = signal === 'logs' ? ['resourceLogs', 'scopeLogs', 'logRecords'] : ['resourceSpans', 'scopeSpans', 'spans'];
  const open = Buffer.from(`{"resource":{"attributes":`);
  const mid = Buffer.from(`},"${inner}":[{"scope":${JSON.stringify(SCOPE)},"${list}":[`);
  const close = Buffer.from(']}]}');
  const parts: Buffer[] = [Buffer.from(`{"${outer}":[`)];
  let first = true;
  for (const g of groups.values()) {
    if (!first) parts.push(COMMA);
    first = false;
    parts.push(open, g.resource, mid);
    g.records.forEach((r, i) => {
      if (i > 0) parts.push(COMMA);
      parts.push(r);
    });
    parts.push(close);
  }
  parts.push(Buffer.from(']}'));
  return Buffer.concat(parts);
}

/** The OTLP/HTTP base URL of `--output otlp:URL` (its /v1/logs and /v1/traces are posted to). */
export function parseOtlpUrl(spec: string): URL {
  let u: URL;
  try {
    u = new URL(spec);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--output otlp:${spec}: not a URL (expected the collector's OTLP/HTTP base, e.g. http://127.0.0.1:4318)`, 'output');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new BustedError(ErrorCode.USAGE, `--output otlp:${safeUrl(u)}: only http and https URLs (OTLP/HTTP)`, 'output');
  // a signal's own path given (…/v1/logs): its base
  u.pathname = u.pathname.replace(/\/v1\/(logs|traces|metrics)\/?$/, '').replace(/\/+$/, '');
  return u;
}

/**
 * OTEL_EXPORTER_OTLP_HEADERS (`name=value,…`, values URL-encoded), as
 * OpenTelemetry's exporters read it: where a collector's API key goes
 * without showing in the process list.
 */
export function otlpEnvHeaders(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    const name = decodeURIComponent(part.slice(0, eq).trim());
    if (!HEADER_NAME.test(name)) continue;
    out[name.toLowerCase()] = decodeURIComponent(part.slice(eq + 1).trim());
  }
  return out;
}

export type OtlpOptions = Omit<WebhookOptions, 'encode' | 'contentType'>;

export class OtlpSink implements Sink {
  readonly name: string;
  private readonly logs: WebhookSink;
  private readonly traces: WebhookSink;
  private readonly spanMaker = new SpanMaker();

  constructor(base: URL, opts: OtlpOptions = {}) {
    this.name = `otlp:${safeUrl(base)}`;
    // one queue per signal, at its path below the base
    const queue = (signal: 'logs' | 'traces') =>
      new WebhookSink(new URL(`${base.href.replace(/\/+$/, '')}/v1/${signal}`), { ...opts, contentType: 'application/json', encode: (b) => exportBody(signal, b), label: `${this.name} (${signal})` });
    this.logs = queue('logs');
    this.traces = queue('traces');
  }

  /** events not delivered: their log records dropped (a span's loss is counted by its queue, not here) */
  get dropped(): number {
    return this.logs.dropped;
  }

  get delivered(): number {
    return this.logs.delivered;
  }

  get queued(): number {
    return this.logs.queued;
  }

  /** spans dropped and delivered */
  get spans(): { dropped: number; delivered: number } {
    return { dropped: this.traces.dropped, delivered: this.traces.delivered };
  }

  write(e: BustedEvent): void {
    this.writeEvent(e);
  }

  /** The outputs thread's way in: the event, parsed from its line there, and that line (without its newline). */
  writeEvent(e: BustedEvent, json?: string): void {
    this.logs.writeLine(logLine(e, json));
    for (const s of this.spanMaker.spans(e)) this.traces.writeLine(s);
  }

  async close(): Promise<void> {
    await Promise.all([this.logs.close(), this.traces.close()]);
  }
}
