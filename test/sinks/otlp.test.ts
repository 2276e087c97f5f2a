/**
 * --output otlp:URL: events as OTLP/HTTP JSON logs, LLM calls and MCP
 * requests as spans with OpenTelemetry's GenAI and MCP attributes, blocked
 * requests as spans in error; posted to a local receiver that checks every
 * field against opentelemetry-proto's messages; retried while the
 * collector answers 503, nothing lost or sent twice.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BustedEvent } from '../../engine/model/event.js';
import { exportBody, logLine, operationOf, OtlpSink, otlpEnvHeaders, parseOtlpUrl, SpanMaker, unixNano } from '../../engine/sinks/otlp.js';
import { outputSpecs } from '../../engine/cli/observe.js';
import { checkLogs, checkTraces, startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';

const proc = { pid: 4242, ppid: 1, uid: 1000, gid: 1000, comm: 'python3', exe: '/usr/bin/python3.11', cmdline: 'python3 agent.py', container_id: 'c0ffee', pod: { uid: 'u-1', name: 'agent-7', namespace: 'ai', container: 'main', image: 'agent:1' } };
const llmResponse: BustedEvent = {
  id: 'e-2',
  time: '2026-12-07T06:00:01.500000000Z',
  type: 'llm_response',
  provider: 'openai',
  process: proc,
  net: { protocol: 'tcp', family: 4, dst_ip: '127.0.0.1', dst_port: 443 },
  tls: { sni: 'api.openai.com' },
  http: { method: 'POST', path: '/v1/chat/completions', host: 'api.openai.com', status: 200, user_agent: 'OpenAI/Python 1.50.0' },
  llm: { provider: 'openai', endpoint: '/v1/chat/completions', model: 'gpt-4o-2024-08-06', stream: true, usage: { input_tokens: 12, output_tokens: 34 }, duration_ms: 812.5, ttft_ms: 301.25, tool_calls: ['get_weather'], client: { name: 'openai-python', version: '1.50.0', language: 'python' } },
};

describe('OTLP encoding', () => {
  it('times: RFC 3339 with nanoseconds to Unix nanoseconds, exactly', () => {
    assert.equal(unixNano('2026-12-07T06:00:01.500000000Z'), '1796623201500000000');
    assert.equal(unixNano('2026-12-07T06:00:01.000000007Z'), '1796623201000000007');
    assert.equal(unixNano('2026-12-07T06:00:01Z'), '1796623201000000000');
    assert.equal(unixNano('2026-12-07T07:00:01.25+01:00'), '1796623201250000000');
  });

  it('operations by endpoint', () => {
    assert.equal(operationOf('/v1/chat/completions'), 'chat');
    assert.equal(operationOf('/v1/messages'), 'chat');
    assert.equal(operationOf('/v1/completions'), 'text_completion');
    assert.equal(operationOf('/v1/embeddings'), 'embeddings');
    assert.equal(operationOf('/v1beta/models/gemini-2.0-flash:streamGenerateContent'), 'generate_content');
    assert.equal(operationOf(undefined), 'chat');
  });

  it("an LLM call's answer is a client span ending at the answer, as long as the call, with GenAI attributes", () => {
    const [line] = new SpanMaker().spans(llmResponse);
    assert.ok(line);
    const [{ resource, span }] = checkTraces(JSON.parse(exportBody('traces', line).toString()));
    assert.equal(span.name, 'chat gpt-4o-2024-08-06');
    assert.equal(span.kind, 3);
    assert.equal(span.endTimeUnixNano, '1796623201500000000');
    assert.equal(BigInt(span.endTimeUnixNano as string) - BigInt(span.startTimeUnixNano as string), 812_500_000n);
    assert.deepEqual(span.status, { code: 0 });
    const a = span.attributes as Record<string, unknown>;
    assert.equal(a['gen_ai.operation.name'], 'chat');
    assert.equal(a['gen_ai.provider.name'], 'openai');
    assert.equal(a['gen_ai.system'], 'openai');
    assert.equal(a['gen_ai.request.model'], 'gpt-4o-2024-08-06');
    assert.equal(a['gen_ai.response.model'], 'gpt-4o-2024-08-06');
    assert.equal(a['gen_ai.usage.input_tokens'], 12);
    assert.equal(a['gen_ai.usage.output_tokens'], 34);
    assert.equal(a['server.address'], 'api.openai.com');
    assert.equal(a['server.port'], 443);
    assert.equal(a['http.response.status_code'], 200);
    assert.equal(a['busted.llm.ttft_ms'], 301.25);
    assert.deepEqual(a['busted.llm.tool_calls'], ['get_weather']);
    assert.equal(a['busted.llm.client.name'], 'openai-python');
    assert.equal(a['busted.event.id'], 'e-2');
    assert.equal(resource['service.name'], 'python3');
    assert.equal(resource['process.pid'], 4242);
    assert.equal(resource['process.executable.path'], '/usr/bin/python3.11');
    assert.equal(resource['container.id'], 'c0ffee');
    assert.equal(resource['k8s.pod.name'], 'agent-7');
    assert.equal(resource['k8s.namespace.name'], 'ai');
    assert.equal(resource['container.image.name'], 'agent:1');
  });

  it("a call a traced program made joins its trace: the traceparent's trace id, its span the parent", () => {
    const e: BustedEvent = { ...llmResponse, http: { ...llmResponse.http, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } };
    const [{ span }] = checkTraces(JSON.parse(exportBody('traces', new SpanMaker().spans(e)[0]!).toString()));
    assert.equal(span.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
    assert.equal(span.parentSpanId, '00f067aa0ba902b7');
    assert.equal(span.flags, 1);
    assert.notEqual(span.spanId, '00f067aa0ba902b7', 'a span of its own');
    // an MCP answer over stdio: its request's _meta trace context
    const m: BustedEvent = { id: 'm-3', time: llmResponse.time, type: 'mcp_message', process: proc, mcp: { kind: 'response', method: 'tools/call', id: 1, tool: 't', transport: 'stdio', duration_ms: 5, traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00' } };
    const [{ span: ms }] = checkTraces(JSON.parse(exportBody('traces', new SpanMaker().spans(m)[0]!).toString()));
    assert.deepEqual([ms.traceId, ms.parentSpanId, ms.flags], ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', 0]);
    // without one: a trace of its own, no parent
    const [{ span: own }] = checkTraces(JSON.parse(exportBody('traces', new SpanMaker().spans(llmResponse)[0]!).toString()));
    assert.equal('parentSpanId' in own, false);
  });

  it('provider names as the semantic conventions spell them; an error answer is a span in error', () => {
    const e: BustedEvent = { ...llmResponse, provider: 'bedrock', http: { ...llmResponse.http, status: 429 }, llm: { ...llmResponse.llm, provider: 'bedrock' } };
    const [{ span }] = checkTraces(JSON.parse(exportBody('traces', new SpanMaker().spans(e)[0]!).toString()));
    const a = span.attributes as Record<string, unknown>;
    assert.equal(a['gen_ai.provider.name'], 'aws.bedrock');
    assert.equal(a['error.type'], '429');
    assert.deepEqual(span.status, { code: 2, message: 'HTTP 429' });
  });

  it('an answer without a duration (not timed) makes no span; nor does an event of another kind', () => {
    const m = new SpanMaker();
    assert.deepEqual(m.spans({ ...llmResponse, llm: { ...llmResponse.llm, duration_ms: undefined } }), []);
    assert.deepEqual(m.spans({ id: 'c', time: llmResponse.time, type: 'connect', process: proc }), []);
  });

  it('an MCP answer with its duration is a span named by method and tool', () => {
    const e: BustedEvent = { id: 'm-2', time: '2026-12-07T06:00:02.000000000Z', type: 'mcp_message', process: proc, mcp: { kind: 'response', method: 'tools/call', id: 7, tool: 'read_file', transport: 'stdio', server: { name: 'files', version: '1.2' }, duration_ms: 40 } };
    const [{ span }] = checkTraces(JSON.parse(exportBody('traces', new SpanMaker().spans(e)[0]!).toString()));
    assert.equal(span.name, 'tools/call read_file');
    const a = span.attributes as Record<string, unknown>;
    assert.equal(a['mcp.method.name'], 'tools/call');
    assert.equal(a['gen_ai.tool.name'], 'read_file');
    assert.equal(a['gen_ai.operation.name'], 'execute_tool');
    assert.equal(a['jsonrpc.request.id'], '7');
    assert.equal(a['network.transport'], 'pipe');
    assert.equal(a['busted.mcp.server.name'], 'files');
    assert.equal(BigInt(span.endTimeUnixNano as string) - BigInt(span.startTimeUnixNano as string), 40_000_000n);
  });

  it("an answer that names its request's event: the span carries the model asked for and the decision on the request", () => {
    const m = new SpanMaker();
    const req: BustedEvent = { id: 'r-5', time: '2026-12-07T06:00:00.700000000Z', type: 'llm_request', provider: 'openai', process: proc, llm: { provider: 'openai', endpoint: '/v1/chat/completions', model: 'gpt-4o' } };
    assert.deepEqual(m.spans(req), []);
    assert.deepEqual(m.spans({ id: 'd-5', time: req.time, type: 'decision', process: proc, decision: { action: 'audit', reasons: ['Host is not the SNI'], enforced: false, subject: 'r-5', policy_revision: 'rev-2' } }), []);
    const [{ span }] = checkTraces(JSON.parse(exportBody('traces', m.spans({ ...llmResponse, llm: { ...llmResponse.llm, request_event: 'r-5' } })[0]!).toString()));
    const a = span.attributes as Record<string, unknown>;
    assert.equal(span.name, 'chat gpt-4o', 'named by the model asked for');
    assert.equal(a['gen_ai.request.model'], 'gpt-4o');
    assert.equal(a['gen_ai.response.model'], 'gpt-4o-2024-08-06');
    assert.equal(a['busted.request.event.id'], 'r-5');
    assert.equal(a['busted.decision.action'], 'audit');
    assert.deepEqual(a['busted.decision.reasons'], ['Host is not the SNI']);
    assert.equal(a['busted.decision.policy_revision'], 'rev-2');
    // the request is let go once answered: a second answer naming it has only its own
    const [{ span: again }] = checkTraces(JSON.parse(exportBody('traces', m.spans({ ...llmResponse, id: 'e-3', llm: { ...llmResponse.llm, request_event: 'r-5' } })[0]!).toString()));
    assert.equal((again.attributes as Record<string, unknown>)['busted.decision.action'], undefined);
  });

  it('a blocked request is a span in error with the reasons; an allowed one, or a decision on something else, is none', () => {
    const m = new SpanMaker();
    const req: BustedEvent = { id: 'r-1', time: '2026-12-07T06:00:03.000000000Z', type: 'llm_request', provider: 'openai', process: proc, http: { host: 'api.openai.com' }, llm: { provider: 'openai', endpoint: '/v1/chat/completions', model: 'gpt-4o' } };
    const ok: BustedEvent = { ...req, id: 'r-2' };
    assert.deepEqual(m.spans(req), []);
    assert.deepEqual(m.spans(ok), []);
    const decide = (subject: string, action: 'allow' | 'block'): BustedEvent => ({ id: `d-${subject}`, time: req.time, type: 'decision', process: proc, decision: { action, reasons: action === 'block' ? ['prompt to openai contains an AWS access key'] : [], enforced: true, subject, policy_revision: 'rev-1' } });
    assert.deepEqual(m.spans(decide('r-2', 'allow')), []);
    assert.deepEqual(m.spans(decide('x-9', 'block')), [], 'not a request it kept');
    const [{ span }] = checkTraces(JSON.parse(exportBody('traces', m.spans(decide('r-1', 'block'))[0]!).toString()));
    assert.equal(span.name, 'chat gpt-4o');
    assert.equal(span.startTimeUnixNano, span.endTimeUnixNano);
    assert.deepEqual(span.status, { code: 2, message: 'blocked by policy: prompt to openai contains an AWS access key' });
    const a = span.attributes as Record<string, unknown>;
    assert.equal(a['error.type'], 'blocked');
    assert.deepEqual(a['busted.decision.reasons'], ['prompt to openai contains an AWS access key']);
    assert.equal(a['busted.decision.enforced'], true);
    assert.equal(a['busted.event.id'], 'r-1');
    assert.deepEqual(m.spans(decide('r-1', 'block')), [], 'told once');
  });

  it('log records: the event whole as the body, its type as the event name, grouped by the process they are about', () => {
    const events: BustedEvent[] = [
      llmResponse,
      { id: 'p-1', time: llmResponse.time, type: 'policy', policy: { revision: 'r', source: 'policies', reloads: 0 } },
      { id: 'x-1', time: llmResponse.time, type: 'error', process: proc, error: { code: 'BUSTED_E_DNS_MALFORMED', message: 'bad' } },
    ];
    const logs = checkLogs(JSON.parse(exportBody('logs', Buffer.concat(events.map((e) => logLine(e)))).toString()));
    assert.deepEqual(logs.map((l) => JSON.parse(l.record.body as string).id), ['e-2', 'x-1', 'p-1'], 'grouped by resource, in order within each');
    assert.deepEqual(logs.map((l) => l.record.eventName), ['busted.llm_response', 'busted.error', 'busted.policy']);
    assert.deepEqual(logs.map((l) => l.record.severityText), ['INFO', 'ERROR', 'INFO']);
    assert.equal(logs[2]!.resource['service.name'], 'busted', "the agent's own");
    assert.equal((logs[0]!.record.attributes as Record<string, unknown>)['busted.event.type'], 'llm_response');
    assert.deepEqual(JSON.parse(logs[0]!.record.body as string), llmResponse);
    // an event of a traced call is logged in that trace
    const traced = checkLogs(JSON.parse(exportBody('logs', logLine({ ...llmResponse, http: { ...llmResponse.http, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } })).toString()));
    assert.deepEqual([traced[0]!.record.traceId, traced[0]!.record.spanId, traced[0]!.record.flags], ['4bf92f3577b34da6a3ce929d0e0e4736', '00f067aa0ba902b7', 1]);
    assert.equal('traceId' in logs[0]!.record, false);
  });

  it('the URL and headers as OpenTelemetry exporters take them', () => {
    assert.equal(parseOtlpUrl('http://collector:4318').href, 'http://collector:4318/');
    assert.equal(parseOtlpUrl('http://collector:4318/v1/traces').href, 'http://collector:4318/');
    assert.equal(parseOtlpUrl('https://otlp.example.com/otlp/').href, 'https://otlp.example.com/otlp');
    assert.throws(() => parseOtlpUrl('collector:4318x'), /otlp:.*not a URL|only http and https/);
    assert.throws(() => parseOtlpUrl('ftp://x'), /only http and https/);
    assert.deepEqual(otlpEnvHeaders('api-key=s%3Dcret, X-Team = ai ,bad,=x'), { 'api-key': 's=cret', 'x-team': 'ai' });
    assert.deepEqual(otlpEnvHeaders(undefined), {});
  });

  it('--output otlp:URL: a usage error names what is wrong', () => {
    assert.throws(() => outputSpecs(['otlp:nope']), /--output otlp:nope: not a URL/);
    assert.throws(() => outputSpecs(['otlp:http://127.0.0.1:4318'], { otlpCa: '/etc/hostname' }), /--otlp-ca is for https URLs/);
    assert.throws(() => outputSpecs(['otlp:http://127.0.0.1:4318'], { otlpHeader: ['no colon'] }), /--otlp-header: expected 'Name: value'/);
    // alone: OpenTelemetry's default endpoint, or the environment's
    const saved = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    assert.equal((outputSpecs(['otlp'], { spillDir: '' })[0] as { url: string }).url, 'http://localhost:4318/');
    process.env.OTEL_EXPORTER_OTLP_ENDPOINT = 'https://collector.example:4318';
    assert.equal((outputSpecs(['otlp'], { spillDir: '' })[0] as { url: string }).url, 'https://collector.example:4318/');
    if (saved === undefined) delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
    else process.env.OTEL_EXPORTER_OTLP_ENDPOINT = saved;
    const [spec] = outputSpecs(['otlp:http://127.0.0.1:4318/v1/logs'], { otlpHeader: ['X-Team: ai'], spillDir: '' });
    assert.deepEqual(spec, { kind: 'otlp', url: 'http://127.0.0.1:4318/', options: { headers: { 'x-team': 'ai' }, spillMaxBytes: 256 << 20 } });
  });
});

describe('OtlpSink to a receiver', () => {
  let rx: OtlpReceiver;
  before(async () => {
    rx = await startOtlpReceiver();
  });
  after(async () => {
    await rx.close();
  });

  it('every event a log record, every timed call a span; a collector that answers 503 is retried, nothing lost or sent twice', async () => {
    rx.failNext(2, 503);
    const errors: string[] = [];
    const sink = new OtlpSink(parseOtlpUrl(rx.url), { flushMs: 20, backoffBaseMs: 10, backoffMaxMs: 50, headers: { 'x-team': 'ai' }, onError: (m) => errors.push(m) });
    const events: BustedEvent[] = [];
    for (let i = 0; i < 50; i++) events.push({ ...llmResponse, id: `e-${i}`, llm: { ...llmResponse.llm, duration_ms: i } });
    events.push({ id: 'r', time: llmResponse.time, type: 'llm_request', process: proc, llm: { model: 'gpt-4o' } });
    events.push({ id: 'd', time: llmResponse.time, type: 'decision', process: proc, decision: { action: 'block', reasons: ['no'], enforced: true, subject: 'r' } });
    for (const e of events) sink.write(e);
    // (retries end at close: what is still unsent then waits in the spill for the next run)
    for (let i = 0; i < 200 && (sink.queued > 0 || sink.spans.delivered < 51); i++) await new Promise((r) => setTimeout(r, 25));
    await sink.close();
    const logs = rx.logRecords();
    assert.deepEqual(logs.map((l) => JSON.parse(l.record.body as string).id).sort(), events.map((e) => e.id).sort());
    const spans = rx.spans();
    assert.equal(spans.length, 51, '50 answers and a block');
    assert.equal(new Set(spans.map((s) => s.span.spanId)).size, 51, 'each span its own id');
    assert.equal(sink.delivered, 52);
    assert.equal(sink.dropped, 0);
    assert.deepEqual(sink.spans, { dropped: 0, delivered: 51 });
    assert.ok(errors.some((m) => /otlp:http:\/\/127\.0\.0\.1:\d+\/ \((logs|traces)\): HTTP 503; retrying/.test(m)), errors.join('\n'));
    assert.ok(rx.requests.every((r) => r.headers['x-team'] === 'ai' && r.headers['content-type'] === 'application/json'));
  });

  it('a collector that refuses the content (400) loses that batch, said once, and the sink goes on', async () => {
    rx.requests.length = 0;
    rx.failNext(1, 400);
    const errors: string[] = [];
    const sink = new OtlpSink(parseOtlpUrl(rx.url), { flushMs: 10, onError: (m) => errors.push(m) });
    sink.write({ id: 'a', time: llmResponse.time, type: 'connect', process: proc });
    await new Promise((r) => setTimeout(r, 200));
    sink.write({ id: 'b', time: llmResponse.time, type: 'connect', process: proc });
    await sink.close();
    assert.deepEqual(rx.logRecords().map((l) => JSON.parse(l.record.body as string).id), ['b']);
    assert.equal(sink.dropped, 1);
    assert.ok(errors.some((m) => /HTTP 400: the endpoint refuses these events/.test(m)), errors.join('\n'));
  });
});
