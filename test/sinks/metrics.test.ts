/**
 * --metrics: the Prometheus endpoint scraped over HTTP and parsed, after
 * events of every kind the counters follow (including decision and policy
 * events, which `enforce` makes), and the price table behind the cost.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { MetricsSink } from '../../engine/sinks/metrics.js';
import { loadPrices, parsePrices } from '../../engine/sinks/prices.js';
import { startHttp, type Listener } from '../../engine/sinks/http.js';
import { FileSink } from '../../engine/sinks/file.js';
import { makeEvent } from '../helpers/events.js';
import { parseProm } from '../helpers/prom.js';

function get(port: number, path: string, host = `127.0.0.1:${port}`): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

const ev = (o: Partial<BustedEvent> & Pick<BustedEvent, 'type'>, i: number): BustedEvent => ({ id: `m-${i}`, time: '2026-12-05T10:00:00.000000000Z', ...o });

describe('metrics endpoint', () => {
  let dir: string;
  let file: FileSink;
  let metrics: MetricsSink;
  let http: Listener;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'busted-metrics-'));
    file = new FileSink(join(dir, 'out.jsonl'));
    metrics = new MetricsSink({ sinks: [file], prices: loadPrices() });
    http = await startHttp({ host: '127.0.0.1', port: 0 }, metrics.handler(), '--metrics');
  });
  after(async () => {
    await http.close();
    await file.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('counts events, LLM calls, tokens, cost, decisions, policy, losses and sinks', async () => {
    const events: BustedEvent[] = [];
    for (let i = 0; i < 30; i++) events.push(makeEvent(i)); // 10 connect, 10 llm_request, 10 llm_response
    const proc = { pid: 9, comm: 'python3' };
    events.push(ev({ type: 'policy', policy: { revision: 'rev-a', source: 'policies/', reloads: 0 } }, 100));
    events.push(ev({ type: 'decision', provider: 'openai', process: proc, decision: { action: 'block', reasons: ['secret in prompt'], enforced: true, subject: 'ev-1', policy_revision: 'rev-a' } }, 101));
    events.push(ev({ type: 'decision', decision: { action: 'allow', reasons: [], enforced: false, subject: 'ev-4' } }, 102));
    events.push(ev({ type: 'decision', decision: { action: 'audit', reasons: ['look-alike'], enforced: false, subject: 'ev-7' } }, 103));
    events.push(ev({ type: 'policy', policy: { revision: 'rev-b', source: 'policies/', reloads: 1, previous: 'rev-a' } }, 104));
    events.push(ev({ type: 'lost', lost: { count: 17, reason: 'ring buffer full' } }, 105));
    events.push(ev({ type: 'error', error: { code: 'BUSTED_E_POLICY', message: 'x.rego:1:1: rego_parse_error' } }, 106));
    events.push(ev({ type: 'llm_response', provider: 'anthropic', process: proc, llm: { provider: 'anthropic', model: 'claude-sonnet-4-20250514', usage: { input_tokens: 1000, output_tokens: 500 } } }, 107));
    events.push(ev({ type: 'llm_response', provider: 'openai', process: proc, llm: { provider: 'openai', model: 'my-finetune', usage: { input_tokens: 5, output_tokens: 5 } } }, 108));
    events.push(ev({ type: 'mcp_message', process: proc, http: { host: 'mcp.example.test' }, mcp: { kind: 'request', method: 'tools/call', id: 1, tool: 'x' } }, 109));
    events.push(ev({ type: 'mcp_message', process: proc, mcp: { kind: 'request', method: 'tools/call', id: 2, tool: 'x', transport: 'stdio', server: { name: 'files', version: '1.0' } } }, 110));
    events.push(ev({ type: 'mcp_message', process: proc, mcp: { kind: 'response', method: 'tools/call', id: 2, tool: 'x', transport: 'stdio', server: { name: 'files', version: '1.0' }, duration_ms: 30 } }, 111));
    // timed calls: 0.3 s and 1.5 s to the end, the streamed one's first token after 0.2 s
    events.push(ev({ type: 'llm_response', provider: 'openai', process: proc, llm: { provider: 'openai', model: 'gpt-4o', stream: true, duration_ms: 300, ttft_ms: 200 } }, 112));
    events.push(ev({ type: 'llm_response', provider: 'openai', process: proc, llm: { provider: 'openai', model: 'gpt-4o', stream: false, duration_ms: 1500 } }, 113));
    for (const e of events) {
      metrics.write(e);
      file.write(e);
    }
    const r = await get(http.port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(r.type, /^text\/plain; version=0\.0\.4/);
    const m = parseProm(r.body);
    const at = (k: string) => {
      assert.ok(m.has(k), `no series ${k} in:\n${r.body.split('\n').filter((l) => l.startsWith(k.split('{')[0]!)).join('\n')}`);
      return m.get(k)!;
    };
    assert.equal(at('busted_events_total{type="llm_request",provider="openai"}'), 10);
    assert.equal(at('busted_events_total{type="connect",provider="openai"}'), 10);
    assert.equal(at('busted_events_total{type="policy",provider=""}'), 2);
    assert.equal(at('busted_llm_requests_total{provider="openai",model="gpt-4o-mini",process="curl"}'), 10);
    assert.equal(at('busted_llm_tokens_total{provider="openai",model="gpt-4o-mini-2024-07-18",process="curl",direction="input"}'), 120);
    assert.equal(at('busted_llm_tokens_total{provider="openai",model="gpt-4o-mini-2024-07-18",process="curl",direction="output"}'), 60);
    // gpt-4o-mini: $0.15 in, $0.60 out per million tokens
    assert.ok(Math.abs(at('busted_llm_cost_total{provider="openai",model="gpt-4o-mini-2024-07-18",process="curl",currency="USD"}') - 10 * (12 * 0.15 + 6 * 0.6) / 1e6) < 1e-12);
    // claude-sonnet-4: $3 in, $15 out
    assert.ok(Math.abs(at('busted_llm_cost_total{provider="anthropic",model="claude-sonnet-4-20250514",process="python3",currency="USD"}') - (1000 * 3 + 500 * 15) / 1e6) < 1e-12);
    assert.equal(at('busted_llm_unpriced_responses_total{provider="openai",model="my-finetune"}'), 1);
    assert.equal(at('busted_mcp_messages_total{kind="request",method="tools/call",transport="http",server=""}'), 1);
    assert.equal(at('busted_mcp_messages_total{kind="request",method="tools/call",transport="stdio",server="files"}'), 1);
    assert.equal(at('busted_mcp_messages_total{kind="response",method="tools/call",transport="stdio",server="files"}'), 1);
    assert.equal(at('busted_llm_request_duration_seconds_count{provider="openai",model="gpt-4o"}'), 2);
    assert.equal(at('busted_llm_request_duration_seconds_sum{provider="openai",model="gpt-4o"}'), 1.8);
    assert.equal(at('busted_llm_request_duration_seconds_bucket{le="0.32",provider="openai",model="gpt-4o"}'), 1);
    assert.equal(at('busted_llm_request_duration_seconds_bucket{le="2.56",provider="openai",model="gpt-4o"}'), 2);
    assert.equal(at('busted_llm_time_to_first_token_seconds_count{provider="openai",model="gpt-4o"}'), 1, 'only the streamed answer');
    assert.equal(at('busted_llm_time_to_first_token_seconds_bucket{le="0.1",provider="openai",model="gpt-4o"}'), 0);
    assert.equal(at('busted_llm_time_to_first_token_seconds_bucket{le="0.25",provider="openai",model="gpt-4o"}'), 1);
    assert.equal(at('busted_mcp_request_duration_seconds_count{method="tools/call",transport="stdio",server="files"}'), 1);
    assert.equal(at('busted_mcp_request_duration_seconds_bucket{le="0.04",method="tools/call",transport="stdio",server="files"}'), 1);
    assert.equal(at('busted_decisions_total{action="block",enforced="true"}'), 1);
    assert.equal(at('busted_decisions_total{action="allow",enforced="false"}'), 1);
    assert.equal(at('busted_decisions_total{action="audit",enforced="false"}'), 1);
    assert.equal(at('busted_blocks_total{provider="openai",process="python3"}'), 1);
    assert.equal(at('busted_policy_info{revision="rev-b",source="policies/"}'), 1);
    assert.ok(!m.has('busted_policy_info{revision="rev-a",source="policies/"}'), 'the replaced revision is gone');
    assert.equal(at('busted_policy_reloads'), 1);
    assert.equal(at('busted_lost_events_total{reason="ring buffer full"}'), 17);
    assert.equal(at('busted_errors_total{code="BUSTED_E_POLICY"}'), 1);
    assert.ok(at(`busted_sink_queue_depth{sink="file:${join(dir, 'out.jsonl')}"}`) >= 0);
    assert.equal(at(`busted_sink_dropped_total{sink="file:${join(dir, 'out.jsonl')}"}`), 0);
    assert.ok(at('busted_process_resident_memory_bytes') > 0, "node's process metrics, prefixed");
  });

  it('the sink counters follow the sinks', async () => {
    await file.close();
    const m = parseProm((await get(http.port, '/metrics')).body);
    assert.equal(m.get(`busted_sink_delivered_total{sink="file:${join(dir, 'out.jsonl')}"}`), file.delivered);
    assert.equal(m.get(`busted_sink_queue_depth{sink="file:${join(dir, 'out.jsonl')}"}`), 0);
  });

  it('refuses a Host header that is not loopback (DNS rebinding)', async () => {
    assert.equal((await get(http.port, '/metrics', 'attacker.example:80')).status, 421);
    assert.equal((await get(http.port, '/metrics', `localhost:${http.port}`)).status, 200);
  });
});

describe('price table', () => {
  it('matches exact names, then the longest prefix, then *', () => {
    const p = loadPrices();
    assert.equal(p.cost('openai', 'gpt-4o', 1e6, 0), 2.5);
    assert.equal(p.cost('openai', 'gpt-4o-mini-2024-07-18', 1e6, 1e6), 0.75);
    assert.equal(p.cost('google', 'models/gemini-2.0-flash', 1e6, 0), 0.1);
    assert.equal(p.cost('ollama', 'llama3.2', 1e6, 1e6), 0);
    assert.equal(p.cost('openai', 'unknown-model', 1, 1), undefined);
    assert.equal(p.cost(undefined, 'gpt-4o', 1, 1), undefined);
  });

  it('names the offending field of a bad table', () => {
    assert.throws(() => parsePrices('{"providers":{"openai":{"gpt-x":{"input":"cheap","output":1}}}}', 'p.json'), /--prices p\.json: providers\.openai\.gpt-x\.input: expected a number >= 0/);
    assert.throws(() => parsePrices('{"providers": 3}', 'p.json'), /providers: expected an object/);
    assert.throws(() => parsePrices('{', 'p.json'), /p\.json: \(file\): not JSON/);
    const dir = mkdtempSync(join(tmpdir(), 'busted-prices-'));
    writeFileSync(join(dir, 'prices.json'), JSON.stringify({ currency: 'EUR', per_tokens: 1000, providers: { acme: { '*': { input: 1, output: 2 } } } }));
    const p = loadPrices(join(dir, 'prices.json'));
    assert.equal(p.currency, 'EUR');
    assert.equal(p.cost('acme', 'any', 1000, 1000), 3);
    rmSync(dir, { recursive: true });
  });
});
