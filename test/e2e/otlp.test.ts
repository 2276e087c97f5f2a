/**
 * How long LLM calls take, and the host's AI traffic in OpenTelemetry,
 * with nothing in the programs that make it. curl (HTTP/1.1 and HTTP/2,
 * streamed and not) calls a stand-in for api.openai.com that answers a
 * "slow" model as a loaded provider does (its first chunk after 300 ms,
 * the rest 200 ms later). `busted monitor --output otlp:URL --metrics`:
 *
 * - each llm_response says how long its call took (duration_ms, ttft_ms for
 *   the streamed ones), timed by the kernel's timestamps of curl's own
 *   SSL_write and SSL_read calls, and at least as long as the server made it;
 * - an OTLP/HTTP receiver (every field checked against opentelemetry-proto)
 *   gets a span per call with GenAI attributes and that duration, and a log
 *   record per event stdout showed;
 * - the Prometheus histograms count the calls.
 *
 * Real kernel (uprobes on libssl), real curl, dnsmasq and a stand-in
 * server, in a cgroup of the test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run } from '../../engine/demo/spawn.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { openAiStandIn, type OpenAiStandIn } from '../helpers/stand-in.js';
import { startOtlpReceiver, type OtlpReceiver } from '../helpers/otlp.js';
import { SLOW_FIRST_MS, SLOW_GAP_MS } from '../helpers/providers.js';
import { parseProm } from '../helpers/prom.js';
import { httpGet, until } from '../helpers/wait.js';

const skip = kernelSkipReason();
/** a key-shaped credential the calls send: it must not reach the collector */
const KEY = 'sk-otlpTEST0123456789abcdefghijkl';
/** the trace a "traced program" (curl sending the header) is part of */
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';



describe('LLM call timing and OTLP export (real kernel, a cgroup of the test)', { skip }, () => {
  let cg: TestCgroup;
  let standIn: OpenAiStandIn;
  let rx: OtlpReceiver;
  let agent: MonitorProcess | undefined;

  before(async () => {
    cg = new TestCgroup();
    standIn = await openAiStandIn();
    rx = await startOtlpReceiver();
  });
  after(async () => {
    await agent?.stop();
    await cg?.dispose();
    await standIn?.dispose();
    await rx?.close();
  });

  /** curl's arguments for a chat completion of the slow model; HTTP/2 unless h1; with a W3C trace context when traced */
  const chat = (stream: boolean, h1: boolean, traced = false) => {
    const args = standIn.chat().filter((a) => h1 || a !== '--http1.1');
    args[args.indexOf('-d') + 1] = JSON.stringify({ model: 'gpt-4o-slow', stream, messages: [{ role: 'user', content: 'how long do you take?' }] });
    return [...args.slice(0, -1), '-H', `Authorization: Bearer ${KEY}`, ...(traced ? ['-H', `traceparent: ${TRACEPARENT}`] : []), args[args.length - 1]!];
  };

  it('llm_response says how long the call took; the OTLP receiver gets a span of that length per call and every event as a log; the histograms count them', async () => {
    const m = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--output', `otlp:${rx.url}`, '--webhook-flush-ms', '100', '--spill-dir', '', '--metrics', '0']));
    const calls = [
      { stream: true, h1: true },
      { stream: false, h1: true },
      { stream: true, h1: false, traced: true },
    ];
    const pids: number[] = [];
    for (const c of calls) {
      const r = await run(chat(c.stream, c.h1, 'traced' in c), { cgroup: cg.path, resolvConf: standIn.dns.resolvConf });
      assert.equal(r.code, 0, r.stderr);
      pids.push(r.pid);
    }
    const answers = await m.waitForCount((e) => e.type === 'llm_response' && e.llm?.model === 'gpt-4o-slow-served', 3, 'the three answers');
    const byPid = (pid: number) => answers.find((e) => e.process?.pid === pid || e.process?.ancestors?.some((a) => a.pid === pid))!;
    const least = SLOW_FIRST_MS + SLOW_GAP_MS - 5; // (a timer may fire a millisecond early)
    calls.forEach((c, i) => {
      const e = byPid(pids[i]!);
      assert.ok(e, `the answer of call ${i}`);
      const l = e.llm!;
      assert.equal(e.http?.version, c.h1 ? undefined : '2');
      assert.ok(l.duration_ms !== undefined && l.duration_ms >= least && l.duration_ms < 5000, `call ${i}: duration ${l.duration_ms} ms, the server took ${SLOW_FIRST_MS + SLOW_GAP_MS}`);
      if (c.stream) {
        assert.ok(l.ttft_ms !== undefined && l.ttft_ms >= SLOW_FIRST_MS - 5 && l.ttft_ms <= l.duration_ms - SLOW_GAP_MS + 5, `call ${i}: first token after ${l.ttft_ms} ms (server: ${SLOW_FIRST_MS}), of ${l.duration_ms}`);
      } else assert.equal(l.ttft_ms, undefined, 'an answer not streamed has no first token');
      const req = m.events.find((x) => x.id === l.request_event);
      assert.equal(req?.type, 'llm_request', `call ${i}: the answer names its request's event`);
      assert.equal(req?.process?.pid, e.process?.pid);
      assert.equal(req?.llm?.model, 'gpt-4o-slow');
    });

    // OTLP: a span per call, as long as the event says
    // (named by the model asked for; the stand-in answers as gpt-4o-slow-served)
    await until(() => rx.spans().filter((s) => s.span.name === 'chat gpt-4o-slow').length >= 3, 'three spans');
    const spans = rx.spans().filter((s) => s.span.name === 'chat gpt-4o-slow');
    assert.equal(spans.length, 3);
    assert.equal(answers.filter((e) => e.http?.traceparent === TRACEPARENT).length, 1, 'the traced call kept its trace context');
    for (const e of answers) {
      const s = spans.find((x) => (x.span.attributes as Record<string, unknown>)['busted.event.id'] === e.id);
      assert.ok(s, `a span for ${e.id}`);
      const a = s.span.attributes as Record<string, unknown>;
      const ns = BigInt(s.span.endTimeUnixNano as string) - BigInt(s.span.startTimeUnixNano as string);
      assert.equal(Number(ns) / 1e6, e.llm!.duration_ms);
      assert.equal(a['gen_ai.provider.name'], 'openai');
      assert.equal(a['gen_ai.operation.name'], 'chat');
      assert.equal(a['gen_ai.request.model'], 'gpt-4o-slow');
      assert.equal(a['gen_ai.response.model'], 'gpt-4o-slow-served');
      assert.equal(a['busted.request.event.id'], e.llm!.request_event);
      assert.equal(a['gen_ai.usage.input_tokens'], e.llm!.usage?.input_tokens);
      assert.ok(typeof a['gen_ai.usage.output_tokens'] === 'number');
      assert.equal(a['server.address'], 'api.openai.com');
      assert.equal(a['http.response.status_code'], 200);
      assert.equal(s.resource['service.name'], 'curl');
      // the traced call (HTTP/2) joins the trace its traceparent named; the others are traces of their own
      if (e.http?.traceparent !== undefined) {
        assert.equal(e.http.traceparent, TRACEPARENT);
        assert.equal(s.span.traceId, '4bf92f3577b34da6a3ce929d0e0e4736');
        assert.equal(s.span.parentSpanId, '00f067aa0ba902b7');
      } else assert.equal(s.span.parentSpanId, undefined);
      assert.equal(s.resource['process.pid'], e.process!.pid);
    }

    // Prometheus: the same calls in the histograms
    const metricsUrl = /busted: metrics at (\S+)/.exec(m.stderr)![1]!;
    const prom = parseProm(await httpGet(metricsUrl));
    assert.equal(prom.get('busted_llm_request_duration_seconds_count{provider="openai",model="gpt-4o-slow-served"}'), 3);
    assert.equal(prom.get('busted_llm_request_duration_seconds_bucket{le="0.32",provider="openai",model="gpt-4o-slow-served"}'), 0, 'none under 0.32 s');
    assert.equal(prom.get('busted_llm_time_to_first_token_seconds_count{provider="openai",model="gpt-4o-slow-served"}'), 2);
    assert.equal(prom.get('busted_llm_time_to_first_token_seconds_bucket{le="0.25",provider="openai",model="gpt-4o-slow-served"}'), 0);

    // logs: every event stdout showed, once (the last go out when the agent stops)
    assert.equal(await m.stop(), 0);
    agent = undefined;
    const logged = rx.logRecords().map((l) => JSON.parse(l.record.body as string) as { id: string });
    const ids = logged.map((x) => x.id);
    assert.equal(new Set(ids).size, ids.length, 'no event sent twice');
    assert.deepEqual(new Set(ids), new Set(m.events.map((e) => e.id)), 'the logs hold what stdout showed');
    const byId = new Map(logged.map((x) => [x.id, x]));
    for (const e of answers) assert.deepEqual(byId.get(e.id), e, 'the same event, whole');
    // the traced call's events are logged in its trace
    const tracedIds = new Set(m.events.filter((e) => e.http?.traceparent === TRACEPARENT).map((e) => e.id));
    assert.ok(tracedIds.size >= 2, 'its request and its answer');
    for (const l of rx.logRecords()) {
      const id = (JSON.parse(l.record.body as string) as { id: string }).id;
      assert.equal(l.record.traceId, tracedIds.has(id) ? '4bf92f3577b34da6a3ce929d0e0e4736' : undefined, `the log record of ${id}`);
    }
    const exported = JSON.stringify(rx.requests.map((r) => r.body));
    assert.ok(exported.includes('tls_data'), 'the plaintext events were exported');
    assert.ok(!exported.includes(KEY.slice(3, 15)), 'no credential in what was exported');
  });
});
