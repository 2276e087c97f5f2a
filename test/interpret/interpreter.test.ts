/**
 * The interpreter on records made in memory: a ClientHello split across
 * TCP segments (what pkt.bpf.c's continuation path delivers), per-process
 * DNS names, and malformed packets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import type { BustedEvent } from '../../engine/model/event.js';
import type { FlowStatRecord, KernelRecord, PktRecord, TaskRecord } from '../../engine/decode/records.js';
import { Interpreter } from '../../engine/interpret/interpreter.js';
import { ProcessCache } from '../../engine/enrich/process.js';
import { DnsCache } from '../../engine/enrich/dns-cache.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { quicInitials } from '../helpers/quic-initials.js';

const hello = new Uint8Array(readFileSync(join(PACKAGE_ROOT, 'test', 'fixtures', 'tls', 'client-curl-h2.bin')));
const task: TaskRecord = { pid: 4242, tid: 4242, ppid: 1, uid: 0, gid: 0, flags: 3, comm: 'curl', cgroupId: 1 };
const flow = { family: 4 as const, protocol: 6, saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 443 };

function setup() {
  const events: BustedEvent[] = [];
  const interp = new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable() }, (e) => events.push(e));
  return { events, interp };
}

function pkt(kind: PktRecord['pktKind'], data: Uint8Array, len = data.length, o: Partial<PktRecord> = {}): KernelRecord {
  return { kind: 'pkt', ts: 1e9, task, pktKind: kind, sockId: 7, flow, egress: true, len, data, seq: 0, ...o };
}

describe('Interpreter: TLS hellos across segments', () => {
  it('joins a ClientHello from its first segment and a continuation', () => {
    const { events, interp } = setup();
    const cut = 100;
    interp.handle(pkt('tls_hello', hello.subarray(0, cut)));
    assert.equal(events.length, 0, 'waits for the rest');
    interp.handle(pkt('tls_cont', hello.subarray(cut)));
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.type, 'tls_client_hello');
    assert.equal(e.tls?.sni, 'api.openai.com');
    assert.equal(e.tls?.truncated, undefined);
    assert.equal(e.provider, 'openai');
  });

  it('reports what it has when the continuation never comes', () => {
    const { events, interp } = setup();
    interp.handle(pkt('tls_hello', hello.subarray(0, 60)));
    interp.flush(Infinity);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'tls_client_hello');
    assert.equal(events[0]!.tls?.truncated, true);
  });

  it('does not wait when the capture itself cut the packet', () => {
    const { events, interp } = setup();
    // 200 bytes captured of a 4000-byte payload: nothing more will come.
    interp.handle(pkt('tls_hello', hello.subarray(0, 200), 4000));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.tls?.truncated, true);
  });

  it('turns a malformed hello into an error event and goes on', () => {
    const { events, interp } = setup();
    interp.handle(pkt('tls_hello', Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff])));
    interp.handle(pkt('tls_hello', hello));
    assert.deepEqual(events.map((e) => e.type), ['error', 'tls_client_hello']);
    assert.equal(events[0]!.error?.code, 'BUSTED_E_TLS_MALFORMED');
    assert.equal(interp.stats.malformedTls, 1);
  });
});

describe('Interpreter: traffic shape (flow records)', () => {
  const stat = (o: Partial<FlowStatRecord> = {}): FlowStatRecord => ({
    kind: 'flow', ts: 5e9, task, phase: 'update', sockId: 7, flow, startNs: 1e9, firstNs: 1.1e9, lastNs: 4.9e9, sendBytes: 800, recvBytes: 9000,
    sends: 1, recvs: 80, exchanges: 1, answered: 1, bursts: 60, ttfbFirstNs: 5e8, ttfbMinNs: 5e8, ttfbMaxNs: 5e8, ttfbSumNs: 5e8,
    reqBytesMax: 800, respBytesMax: 9000, respNsMax: 3.3e9, idleNsMax: 0, gaps: 59, gapSumUs: 59 * 40_000, gapSq: 59 * 400 * 400,
    burstHist: [50, 10, 0, 0, 0, 0, 0, 0], gapHist: [0, 0, 0, 59, 0, 0, 0, 0], ...o,
  });

  it('reports it as a flow event with the connection\'s addresses, host and bytes; ms figures; gap mean and spread', () => {
    const { events, interp } = setup();
    interp.handle({ kind: 'tcp', ts: 1e9, task, phase: 'connected', sockId: 7, flow, egress: true, bytesSent: 0, bytesReceived: 0, startNs: 1e9 });
    interp.handle(pkt('tls_hello', hello));
    interp.handle(stat());
    const e = events.find((x) => x.type === 'flow')!;
    assert.equal(e.net?.dst_port, 443);
    assert.equal(e.net?.direction, 'egress');
    assert.deepEqual([e.net?.bytes_sent, e.net?.bytes_received, e.net?.duration_ms], [800, 9000, 4000]);
    assert.equal(e.tls?.sni, events.find((x) => x.type === 'tls_client_hello')!.tls?.sni);
    const f = e.flow!;
    assert.equal(f.phase, 'update');
    assert.deepEqual([f.age_ms, f.active_ms, f.quiet_ms, f.resp_ms_max], [4000, 3800, 100, 3300]);
    assert.deepEqual(f.ttfb_ms, { first: 500, min: 500, max: 500, mean: 500, count: 1 });
    assert.equal(f.gap_ms_mean, 40);
    assert.equal(f.gap_ms_sd, 0);
    assert.deepEqual(f.burst_hist, [50, 10, 0, 0, 0, 0, 0, 0]);
  });

  it('a final record that comes after the close still names the connection; no ttfb or gaps when there were none', () => {
    const { events, interp } = setup();
    interp.handle({ kind: 'tcp', ts: 1e9, task, phase: 'connected', sockId: 7, flow, egress: true, bytesSent: 0, bytesReceived: 0, startNs: 1e9 });
    interp.handle(pkt('tls_hello', hello));
    interp.handle({ kind: 'tcp', ts: 6e9, task, phase: 'closed', sockId: 7, flow: { ...flow, sport: 0 }, egress: undefined, bytesSent: 800, bytesReceived: 0, startNs: 1e9 });
    interp.handle(stat({ phase: 'end', ts: 6e9, answered: 0, gaps: 0, recvBytes: 0, recvs: 0, bursts: 0 }));
    const e = events.find((x) => x.type === 'flow')!;
    assert.equal(e.flow?.phase, 'end');
    assert.equal(e.net?.src_port, 40000);
    assert.ok(e.tls?.sni);
    assert.equal(e.flow?.ttfb_ms, undefined);
    assert.equal(e.flow?.gap_ms_mean, undefined);
  });
});

describe('Interpreter: an HTTP/2 connection that can no longer be decoded', () => {
  it('says so once, as an error event with BUSTED_E_HTTP2_LOST and a count, after the tls_data that lost it', () => {
    const { events, interp } = setup();
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    // a CONTINUATION with no HEADERS before it: a connection error (RFC 9113 6.10)
    const bad = Uint8Array.from([...preface, 0, 0, 1, 9, 4, 0, 0, 0, 1, 0x82]);
    const tls = (data: Uint8Array, callId: string): KernelRecord => ({ kind: 'tls', ts: 1e9, task, op: 'write', ssl: '0x10', callId, len: data.length, offset: 0, data, lib: 1, gated: false, buf: 0n });
    interp.handle(tls(bad, '1'));
    interp.handle(tls(Uint8Array.from([0, 0, 1, 1, 5, 0, 0, 0, 3, 0x82]), '2'));
    assert.deepEqual(events.map((e) => e.type), ['tls_data', 'error', 'tls_data']);
    assert.deepEqual(events[1]!.error, { code: 'BUSTED_E_HTTP2_LOST', message: 'HTTP/2 writes of this connection no longer decoded: CONTINUATION without a header block', field: 'tls' });
    assert.equal(events[1]!.process?.pid, 4242);
    assert.match(events[2]!.tls!.payload!, /not decoded from here on: CONTINUATION without a header block/);
    assert.equal(interp.stats.http2Lost, 1);
  });
});

describe('Interpreter: a request longer than what the kernel copied of its call', () => {
  // a 40 KB chat completion in one SSL_write; the kernel copies 16 KiB of a call (tls_cap_bytes)
  const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `${'lorem ipsum '.repeat(3400)} and the key AKIAIOSFODNN7EXAMPLE` }] });
  const whole = Buffer.from(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  const CAP = 16384;
  /** the records tls.bpf.c sends for that call: 4 KiB chunks of its first CAP bytes, each saying the call's whole length */
  const records = (gated: boolean): KernelRecord[] =>
    Array.from({ length: CAP / 4096 }, (_, i) => ({ kind: 'tls', ts: 1e9, task, op: 'write', ssl: '0x20', callId: '7', len: whole.length, offset: i * 4096, data: new Uint8Array(whole.subarray(i * 4096, (i + 1) * 4096)), lib: 1, gated, buf: 0x7f0000001000n }));
  const run = (gated: boolean, readHeld: ((pid: number, addr: bigint, n: number) => Uint8Array | undefined) | null) => {
    const events: BustedEvent[] = [];
    const interp = new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), readHeld }, (e) => events.push(e));
    for (const r of records(gated)) interp.handle(r);
    return { events, interp };
  };

  it('a held write is read whole from the process: the prompt and its secret reach the policy, nothing is cut', () => {
    const asked: Array<[number, bigint, number]> = [];
    const { events, interp } = run(true, (pid, addr, n) => (asked.push([pid, addr, n]), new Uint8Array(whole.subarray(CAP, CAP + n))));
    assert.deepEqual(asked, [[4242, 0x7f0000001000n + BigInt(CAP), whole.length - CAP]], 'the rest, read where the call left off');
    const req = events.find((e) => e.type === 'llm_request');
    assert.equal(req?.llm?.model, 'gpt-4o');
    assert.match(req?.llm?.user_message ?? '', /and the key \[REDACTED\]$/);
    assert.equal(events.find((e) => e.type === 'error'), undefined);
    assert.equal(events.find((e) => e.type === 'tls_data')?.tls?.bytes, whole.length, 'tls.bytes is what the call moved');
    assert.equal(interp.stats.contentCut, 0);
  });

  it('where the rest cannot be read (a call not held, or a process that cannot be read), an error event says the request was not read whole', () => {
    for (const [gated, reader] of [
      [false, () => new Uint8Array(whole.subarray(CAP))], // never asked: not held, its memory may already hold other bytes
      [true, () => undefined],
      [true, null],
    ] as const) {
      const { events, interp } = run(gated, reader);
      const cut = events.find((e) => e.type === 'error');
      assert.deepEqual(cut?.error, { code: 'BUSTED_E_CONTENT_CUT', message: 'POST request to api.openai.com was not read whole: policies saw only the start of its body', field: 'http.body' }, `gated ${gated}`);
      assert.equal(cut?.provider, 'openai');
      assert.equal(cut?.process?.pid, 4242);
      // the request is still reported, as far as it can be read
      assert.equal(events.find((e) => e.type === 'llm_request')?.llm?.endpoint, '/v1/chat/completions');
      assert.ok(!JSON.stringify(events).includes('AKIAIOSFODNN7EXAMPLE'));
      assert.equal(interp.stats.contentCut, 1);
    }
  });
});

describe('Interpreter: the skip verdict of a TLS connection (tls.bpf.c tls_verdicts)', () => {
  const tlsWrite = (text: string, callId: string, o: Partial<KernelRecord> = {}): KernelRecord => {
    const data = new TextEncoder().encode(text);
    return { kind: 'tls', ts: 1e9, task, op: 'write', ssl: '0x30', callId, len: data.length, offset: 0, data, lib: 1, gated: false, buf: 0n, ...o } as KernelRecord;
  };
  const skipping = () => {
    const events: BustedEvent[] = [];
    const skips: string[] = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onTlsSkip: (_pid, ssl) => skips.push(ssl) },
      (e) => events.push(e),
    );
    return { events, skips, interp };
  };
  const j = '{"note":"not an LLM call"}';
  const decoy = `POST /upload HTTP/1.1\r\nHost: files.example\r\nContent-Length: ${j.length}\r\n\r\n${j}`;
  const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'q-after' }] });
  const chatReq = `POST /v1/chat/completions HTTP/1.1\r\nHost: files.example\r\nContent-Type: application/json\r\nContent-Length: ${chat.length}\r\n\r\n${chat}`;

  it('is given after a first request that is no LLM call; a write the kernel follows again (restart) is read afresh', () => {
    const { events, skips, interp } = skipping();
    interp.handle(tlsWrite(decoy, '1'));
    assert.deepEqual(skips, ['0x30']);
    // the answer to the first request, cut short by the skip: the read side's parser is left mid-body
    interp.handle({ ...tlsWrite('HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n{"a":', '2'), op: 'read' } as KernelRecord);
    interp.handle(tlsWrite(chatReq, '3', { restart: true } as Partial<KernelRecord>));
    assert.equal(events.find((e) => e.type === 'llm_request')?.llm?.user_message, 'q-after');
    const answer = JSON.stringify({ id: 'c', object: 'chat.completion', model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'ok' } }], usage: { prompt_tokens: 3, completion_tokens: 1 } });
    interp.handle({ ...tlsWrite(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`, '4'), op: 'read' } as KernelRecord);
    assert.equal(events.find((e) => e.type === 'llm_response')?.llm?.usage?.input_tokens, 3, 'its answer read, not taken for the rest of the first one');
  });

  it('is not given to a connection that starts by asking an LLM API for its models (GET /v1/models, /api/tags)', () => {
    for (const path of ['/v1/models', '/v1/models/gpt-4o-mini', '/api/tags', '/v1beta/models?pageSize=5']) {
      const { skips, interp } = skipping();
      interp.handle(tlsWrite(`GET ${path} HTTP/1.1\r\nHost: gw.example\r\n\r\n`, '1'));
      assert.deepEqual(skips, [], path);
    }
    const { skips, interp } = skipping();
    interp.handle(tlsWrite('GET /v1/modelsX HTTP/1.1\r\nHost: gw.example\r\n\r\n', '1'));
    assert.deepEqual(skips, ['0x30'], 'not a model list');
  });

  it('is given to a connection that writes no HTTP (a database, a mail client over TLS) at its first line', () => {
    const { skips, interp } = skipping();
    interp.handle(tlsWrite('EHLO client.example', '1'));
    assert.deepEqual(skips, [], 'a first line still coming');
    interp.handle(tlsWrite('\r\nMAIL FROM:<a@b>\r\n', '2'));
    assert.deepEqual(skips, ['0x30']);
  });

  it('is not given while a second request is being written behind the first (in the same write)', () => {
    const { events, skips, interp } = skipping();
    interp.handle(tlsWrite(decoy + chatReq.slice(0, 50), '1'));
    assert.deepEqual(skips, []);
    interp.handle(tlsWrite(chatReq.slice(50), '2'));
    assert.equal(events.find((e) => e.type === 'llm_request')?.llm?.user_message, 'q-after');
  });
});

describe('Interpreter: QUIC datagrams the kernel holds (pkt.bpf.c quic_hold)', () => {
  const udp = { ...flow, protocol: 17 };
  const holding = () => {
    const events: BustedEvent[] = [];
    const held: PktRecord[] = [];
    const undecided: unknown[] = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onHelloHeld: (r) => held.push(r), onHelloUndecided: (s) => undecided.push(s) },
      (e) => events.push(e),
    );
    return { events, held, undecided, interp };
  };
  const initial = () => new Uint8Array(Buffer.from(quicInitials(['api.openai.com'])[0]!, 'hex'));

  it('each is handed on to be sent later; the hello read out of an Initial is reported once, and decides the hold', () => {
    const { events, held, undecided, interp } = holding();
    const first = initial();
    interp.handle(pkt('quic_held', first, first.length, { flow: udp }));
    // a 0-RTT packet sent beside it (long header, type 1): kept, not read
    const zeroRtt = new Uint8Array(1200);
    zeroRtt.set([0xd1, 0, 0, 0, 1]);
    interp.handle(pkt('quic_held', zeroRtt, zeroRtt.length, { flow: udp }));
    assert.deepEqual(held.map((r) => r.data.length), [first.length, 1200]);
    const hellos = events.filter((e) => e.type === 'tls_client_hello');
    assert.equal(hellos.length, 1);
    assert.equal(hellos[0]!.tls?.sni, 'api.openai.com');
    assert.match(hellos[0]!.tls?.ja4 ?? '', /^q13/);
    assert.deepEqual(undecided, [], 'its decision lets it go, not the interpreter');
  });

  it('a held first datagram that does not decrypt (or a hello that does not parse) makes no event: its hold goes at once', () => {
    const { events, held, undecided, interp } = holding();
    const junk = initial();
    junk.fill(0x5a, 40); // the protected payload broken
    interp.handle(pkt('quic_held', junk, junk.length, { flow: udp }));
    assert.equal(held.length, 1);
    assert.deepEqual(undecided, [7]);
    assert.equal(events.filter((e) => e.type === 'tls_client_hello').length, 0);
  });
});
