/**
 * `--ui [PORT]`: the live dashboard. This sink keeps what the page shows —
 * the latest events, per-provider and per-process usage and cost, recent
 * decisions with their reasons, the policy in force — and pushes changes to
 * every open page as server-sent events (GET /stream), at most four times a
 * second. The page itself is engine/sinks/ui/index.html, plain HTML and
 * JavaScript without a build step.
 *
 * Events shown are the events the other sinks get (already redacted); long
 * captured text (TLS payload excerpts, prompts) is cut to EXCERPT characters.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BustedEvent } from '../model/event.js';
import { PACKAGE_ROOT } from '../paths.js';
import type { Handler } from './http.js';
import { processLabel } from './metrics.js';
import type { PriceTable } from './prices.js';
import type { Sink } from './sink.js';

const RECENT = 1000;
const DECISIONS = 200;
const EXCERPT = 400;
const MAX_ROWS = 500;
const PUSH_MS = 250;

export interface Usage {
  requests: number;
  responses: number;
  input_tokens: number;
  output_tokens: number;
  cost: number;
  /** responses with usage whose model has no price */
  unpriced: number;
  blocks: number;
  audits: number;
  connections: number;
  /** answers whose call was timed (llm.duration_ms), and those times added up: a mean call time */
  timed: number;
  duration_ms: number;
}

export interface ProcessUsage extends Usage {
  process: string;
  pids: number[];
  providers: string[];
  containers: string[];
}

export interface DecisionRow {
  id: string;
  time: string;
  action: string;
  reasons: string[];
  enforced: boolean;
  policy_revision?: string;
  subject: string;
  /** what was decided on, when the event is still in memory */
  subject_type?: string;
  provider?: string;
  process?: string;
  pid?: number;
}

export interface DashboardState {
  started: string;
  currency: string;
  prices: string;
  totals: { events: number; by_type: Record<string, number>; lost: number; errors: number };
  policy?: { revision: string; source: string; reloads: number; time: string; previous?: string };
  policy_error?: { time: string; message: string };
  providers: Array<Usage & { provider: string }>;
  processes: ProcessUsage[];
  decisions: DecisionRow[];
  sinks: Array<{ name: string; queued?: number; dropped: number; delivered?: number }>;
}

function usage(): Usage {
  return { requests: 0, responses: 0, input_tokens: 0, output_tokens: 0, cost: 0, unpriced: 0, blocks: 0, audits: 0, connections: 0, timed: 0, duration_ms: 0 };
}

function cut(s: string | undefined): string | undefined {
  return s !== undefined && s.length > EXCERPT ? `${s.slice(0, EXCERPT)}…` : s;
}

/** The event as the page gets it: long captured text cut short. */
function slim(e: BustedEvent): BustedEvent {
  if (!e.tls?.payload && !e.llm?.user_message && !e.llm?.system_prompt && !e.llm?.tools) return e;
  const s: BustedEvent = { ...e };
  if (e.tls?.payload) s.tls = { ...e.tls, payload: cut(e.tls.payload) };
  if (e.llm) {
    s.llm = { ...e.llm, user_message: cut(e.llm.user_message), system_prompt: cut(e.llm.system_prompt) };
    if (e.llm.tools) s.llm.tools = e.llm.tools.slice(0, 20);
  }
  return s;
}

export interface DashboardOptions {
  prices: PriceTable;
  /** the other sinks, whose queues and drops are shown */
  sinks?: Sink[];
  pushMs?: number;
}

export class DashboardSink implements Sink {
  readonly name = 'ui';
  readonly dropped = 0;
  private readonly recent: BustedEvent[] = [];
  private readonly recentById = new Map<string, BustedEvent>();
  private fresh: BustedEvent[] = [];
  private freshDecisions: DecisionRow[] = [];
  private readonly decisions: DecisionRow[] = [];
  private readonly allows: DecisionRow[] = [];
  private readonly providers = new Map<string, Usage>();
  private readonly processes = new Map<string, ProcessUsage>();
  private readonly totals = { events: 0, by_type: {} as Record<string, number>, lost: 0, errors: 0 };
  private policy: DashboardState['policy'];
  private policyError: DashboardState['policy_error'];
  private readonly clients = new Set<ServerResponse>();
  private readonly timer: NodeJS.Timeout;
  private dirty = false;
  private readonly started = new Date().toISOString();
  private page: string | undefined;

  constructor(private readonly o: DashboardOptions) {
    this.timer = setInterval(() => this.push(), o.pushMs ?? PUSH_MS);
    this.timer.unref();
  }

  private provider(name: string): Usage {
    let u = this.providers.get(name);
    if (!u) this.providers.set(name, (u = usage()));
    return u;
  }

  private process(e: BustedEvent): ProcessUsage {
    const key = processLabel(e);
    let u = this.processes.get(key);
    if (!u) {
      if (this.processes.size >= 5000) this.processes.clear();
      this.processes.set(key, (u = { ...usage(), process: key, pids: [], providers: [], containers: [] }));
    }
    const pid = e.process?.pid;
    if (pid && !u.pids.includes(pid)) {
      u.pids.push(pid);
      if (u.pids.length > 20) u.pids.shift();
    }
    const prov = e.provider ?? e.llm?.provider;
    if (prov && !u.providers.includes(prov)) u.providers.push(prov);
    const ctr = e.process?.container_id;
    if (ctr && !u.containers.includes(ctr.slice(0, 12)) && u.containers.length < 20) u.containers.push(ctr.slice(0, 12));
    return u;
  }

  write(e: BustedEvent): void {
    this.totals.events++;
    this.totals.by_type[e.type] = (this.totals.by_type[e.type] ?? 0) + 1;
    const prov = e.provider ?? e.llm?.provider;
    switch (e.type) {
      case 'connect':
        if (prov) {
          this.provider(prov).connections++;
          this.process(e).connections++;
        }
        break;
      case 'llm_request':
        this.provider(prov ?? 'unknown').requests++;
        this.process(e).requests++;
        break;
      case 'llm_response': {
        const u = e.llm?.usage;
        const inT = u?.input_tokens ?? 0;
        const outT = u?.output_tokens ?? 0;
        const cost = u ? this.o.prices.cost(prov, e.llm?.model, inT, outT) : undefined;
        const took = e.llm?.duration_ms;
        for (const x of [this.provider(prov ?? 'unknown'), this.process(e)]) {
          x.responses++;
          if (took !== undefined) {
            x.timed++;
            x.duration_ms += took;
          }
          x.input_tokens += inT;
          x.output_tokens += outT;
          if (cost !== undefined) x.cost += cost;
          else if (u) x.unpriced++;
        }
        break;
      }
      case 'decision': {
        const d = e.decision;
        if (!d) break;
        const subj = this.recentById.get(d.subject);
        const row: DecisionRow = { id: e.id, time: e.time, action: d.action, reasons: d.reasons, enforced: d.enforced, subject: d.subject };
        if (d.policy_revision) row.policy_revision = d.policy_revision;
        if (subj) row.subject_type = subj.type;
        const src = e.process ? e : subj;
        const p = e.provider ?? subj?.provider ?? subj?.llm?.provider;
        if (p) row.provider = p;
        if (src?.process) {
          row.process = processLabel(src);
          if (src.process.pid) row.pid = src.process.pid;
        }
        // allows (enforce --format json reports every decision) are kept apart,
        // so that a flood of them never pushes the blocks off the page
        const ring = d.action === 'allow' ? this.allows : this.decisions;
        ring.push(row);
        if (ring.length > DECISIONS) ring.shift();
        this.freshDecisions.push(row);
        if (d.action === 'block' || d.action === 'audit') {
          const k = d.action === 'block' ? 'blocks' : 'audits';
          if (p) this.provider(p)[k]++;
          if (src?.process) this.process(src)[k]++;
        }
        break;
      }
      case 'policy':
        if (e.policy) this.policy = { revision: e.policy.revision, source: e.policy.source, reloads: e.policy.reloads, time: e.time, ...(e.policy.previous ? { previous: e.policy.previous } : {}) };
        break;
      case 'lost':
        this.totals.lost += e.lost?.count ?? 0;
        break;
      case 'error':
        this.totals.errors++;
        if (e.error?.code === 'BUSTED_E_POLICY') this.policyError = { time: e.time, message: e.error.message };
        break;
    }
    const s = slim(e);
    this.recent.push(s);
    this.recentById.set(e.id, s);
    if (this.recent.length > RECENT) this.recentById.delete(this.recent.shift()!.id);
    if (this.clients.size) {
      this.fresh.push(s);
      if (this.fresh.length > MAX_ROWS) this.fresh.shift();
    }
    this.dirty = true;
  }

  /** What the page shows, aggregated (without the event list). */
  state(): DashboardState {
    const byCost = (a: Usage, b: Usage) => b.cost - a.cost || b.requests - a.requests || b.connections - a.connections;
    return {
      started: this.started,
      currency: this.o.prices.currency,
      prices: this.o.prices.source,
      totals: { ...this.totals, by_type: { ...this.totals.by_type } },
      ...(this.policy ? { policy: this.policy } : {}),
      ...(this.policyError ? { policy_error: this.policyError } : {}),
      providers: [...this.providers].map(([provider, u]) => ({ provider, ...u })).sort(byCost),
      processes: [...this.processes.values()].sort(byCost).slice(0, MAX_ROWS),
      decisions: this.decisions.slice(-50),
      sinks: (this.o.sinks ?? []).map((s) => ({ name: s.name, ...(s.queued !== undefined ? { queued: s.queued } : {}), dropped: s.dropped, ...(s.delivered !== undefined ? { delivered: s.delivered } : {}) })),
    };
  }

  private send(res: ServerResponse, type: string, data: unknown): void {
    res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private push(): void {
    if (!this.clients.size) {
      this.fresh = [];
      this.freshDecisions = [];
      return;
    }
    if (!this.dirty) {
      for (const c of this.clients) c.write(': keep-alive\n\n');
      return;
    }
    this.dirty = false;
    const msg = { state: this.state(), events: this.fresh, decisions: this.freshDecisions };
    this.fresh = [];
    this.freshDecisions = [];
    for (const c of this.clients) this.send(c, 'update', msg);
  }

  handler(): Handler {
    return (req: IncomingMessage, res: ServerResponse, url: URL) => {
      if (url.pathname === '/' || url.pathname === '/index.html') {
        this.page ??= readFileSync(join(PACKAGE_ROOT, 'engine', 'sinks', 'ui', 'index.html'), 'utf8');
        res.writeHead(200, {
          'content-type': 'text/html; charset=utf-8',
          'cache-control': 'no-store',
          'content-security-policy': "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:",
          'x-frame-options': 'DENY',
        });
        res.end(this.page);
      } else if (url.pathname === '/stream') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        // The page starts from everything in memory, then follows.
        const decisions = [...this.decisions.slice(-50), ...this.allows.slice(-50)].sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
        this.send(res, 'snapshot', { state: this.state(), events: this.recent.slice(-MAX_ROWS), decisions });
        this.clients.add(res);
        req.on('close', () => this.clients.delete(res));
      } else if (url.pathname === '/api/state') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.state()));
      } else {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      }
    };
  }

  async close(): Promise<void> {
    this.push();
    clearInterval(this.timer);
    for (const c of this.clients) c.end();
    this.clients.clear();
  }
}
