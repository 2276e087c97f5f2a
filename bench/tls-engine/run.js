#!/usr/bin/env node
// Engine throughput on captured TLS plaintext: how many LLM requests (each
// with its response) one core turns into events, from the decoded kernel
// records on: chunk reassembly, tls_data with its redacted excerpt,
// HTTP/1.1 or HTTP/2 (frames, HPACK) parsing, LLM request/response
// understanding with usage, and redaction.
//   http1      OpenAI chat completions on kept-alive HTTP/1.1 connections,
//              JSON answers (~1 KB request, ~400 B answer)
//   http1-sse  the same with streamed answers (30 server-sent events each)
//   http2      the same calls over HTTP/2: real nghttp2 bytes (node's http2
//              through a recording proxy), several streams per connection
// Every variant runs in interleaved rounds; the median round is reported.
//   node bench/tls-engine/run.js [seconds-per-round]
import { join } from 'node:path';
import { interpreterMaker, median } from '../lib.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dist = (p) => join(ROOT, 'dist', p);
const newInterpreter = await interpreterMaker();
const { captureH2, h2request } = await import(dist('test/helpers/h2-capture.js'));

const ROUND_MS = Number(process.argv[2] ?? 1) * 1000;
const ROUNDS = 5;
const REQS_PER_CONN = 50;
const enc = new TextEncoder();

const requestBody = (i) =>
  JSON.stringify({
    model: 'gpt-4o-mini',
    stream: false,
    messages: [
      { role: 'system', content: 'You are a helpful assistant that answers briefly and precisely. '.repeat(4) },
      { role: 'user', content: `Question ${i}: summarise the following text. ${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(10)}` },
    ],
    tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
  });
const answer = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', choices: [{ index: 0, message: { role: 'assistant', content: 'A short summary of the text, as asked.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 212, completion_tokens: 9, total_tokens: 221 } });
const sse =
  Array.from({ length: 30 }, (_, k) => `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [{ index: 0, delta: { content: `tok${k} ` } }] })}\n\n`).join('') +
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 212, completion_tokens: 30 } })}\n\ndata: [DONE]\n\n`;

/** One connection's calls, client side: [direction, bytes] in order. */
function http1Conn(stream) {
  const calls = [];
  for (let i = 0; i < REQS_PER_CONN; i++) {
    const body = requestBody(i);
    calls.push(['write', enc.encode(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-proj-benchbenchbenchbenchbench0123\r\nContent-Type: application/json\r\nUser-Agent: OpenAI/Python 1.51.0\r\nAccept: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n`)]);
    calls.push(['write', enc.encode(body)]);
    if (stream) {
      const chunked = sse.match(/[\s\S]{1,700}/g).map((c) => `${c.length.toString(16)}\r\n${c}\r\n`);
      calls.push(['read', enc.encode('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n')]);
      for (const c of chunked) calls.push(['read', enc.encode(c)]);
      calls.push(['read', enc.encode('0\r\n\r\n')]);
    } else {
      calls.push(['read', enc.encode(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\nopenai-processing-ms: 321\r\n\r\n${answer}`)]);
    }
  }
  return calls;
}

async function http2Conn() {
  const chunks = await captureH2(
    (req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(answer);
    },
    async (client) => {
      // a few streams at a time, as an SDK with concurrency would
      for (let i = 0; i < REQS_PER_CONN; i += 5) {
        await Promise.all(
          Array.from({ length: 5 }, (_, k) =>
            h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', ':authority': 'api.openai.com', authorization: 'Bearer sk-proj-benchbenchbenchbenchbench0123', 'content-type': 'application/json', 'user-agent': 'OpenAI/Python 1.51.0' }, requestBody(i + k)),
          ),
        );
      }
    },
  );
  return chunks.map((c) => [c.direction, c.data]);
}

const task = (pid) => ({ pid, tid: pid, ppid: 1, uid: 1000, gid: 1000, flags: 1, comm: 'python3', cgroupId: 1 });

/** Kernel records for one connection's calls: an SNI note, then each call in ≤4 KiB chunks. */
function records(calls, pid, sslNum, callBase) {
  const ssl = sslNum.toString(16);
  const out = [{ kind: 'tls', ts: 1, task: task(pid), op: 'sni', ssl, callId: '0', len: 14, offset: 0, data: enc.encode('api.openai.com'), lib: 0 }];
  calls.forEach(([dir, bytes], i) => {
    const callId = (callBase + i).toString(16);
    for (let off = 0; off < Math.min(bytes.length, 16384); off += 4096) {
      out.push({ kind: 'tls', ts: 1 + i, task: task(pid), op: dir, ssl, callId, len: bytes.length, offset: off, data: bytes.subarray(off, Math.min(bytes.length, off + 4096)), lib: 0 });
    }
  });
  out.push({ kind: 'tls', ts: 1e6, task: task(pid), op: 'free', ssl, callId: '0', len: 0, offset: 0, data: new Uint8Array(0), lib: 0 });
  return out;
}

const all = {
  http1: http1Conn(false),
  'http1-sse': http1Conn(true),
  http2: await http2Conn(),
};
// BENCH_TLS_ENGINE_ONLY=http2[,http1]: those variants only (to profile one)
const only = process.env.BENCH_TLS_ENGINE_ONLY?.split(',');
const variants = Object.fromEntries(Object.entries(all).filter(([n]) => !only || only.includes(n)));

const counts = {};
function round(name, ms) {
  let events = 0;
  let llm = 0;
  const interp = newInterpreter((e) => {
    events++;
    if (e.type === 'llm_response') llm++;
  }, { tlsCapBytes: 16384 });
  const calls = variants[name];
  let conns = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ms) * 1_000_000n;
  do {
    for (const r of records(calls, 1000 + (conns % 64), 0x5000 + conns, conns * 1000)) interp.handle(r);
    conns++;
  } while (process.hrtime.bigint() < end);
  interp.flush(Infinity);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  counts[name] = { events, llm, conns };
  if (llm !== conns * REQS_PER_CONN) throw new Error(`${name}: ${llm} llm_response events for ${conns * REQS_PER_CONN} calls`);
  return (conns * REQS_PER_CONN) / secs;
}

const rates = Object.fromEntries(Object.keys(variants).map((n) => [n, []]));
round(Object.keys(variants)[0], 300); // warm-up
for (let r = 0; r < ROUNDS; r++) for (const n of Object.keys(variants)) rates[n].push(round(n, ROUND_MS));
for (const [n, xs] of Object.entries(rates)) {
  const bytes = variants[n].reduce((s, [, b]) => s + b.length, 0) / REQS_PER_CONN;
  console.log(`RESULT ${JSON.stringify({ name: n, unit: 'req/s', value: Math.round(median(xs)), min: Math.round(Math.min(...xs)), max: Math.round(Math.max(...xs)), bytes_per_call: Math.round(bytes), MB_per_s: +((median(xs) * bytes) / 1e6).toFixed(1) })}`);
}
