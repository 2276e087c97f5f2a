#!/usr/bin/env node
// Output sinks: how many events per second the agent's last stage gets
// through with several sinks on, as a ratio against the stdout JSON sink
// alone (what `--format json` does) measured in the same run.
//
// The producer makes events the way the interpreter hands them over (a new
// object per event, shared frozen process objects, ~600 B of JSON) and gives
// each one to every sink, 1000 per event-loop turn, like the Agent. A round
// ends when every sink that can deliver has delivered everything (for a
// slow or dead sink: when the others have). Receivers run in child
// processes, so their CPU is not the agent's.
//
//   stdout            LineSink (JSON lines) to /dev/null: the baseline
//   +file             + --output file (FileSink, rotation at 100 MiB)
//   +3 (tcp)          + file + webhook (local HTTP collector) + syslog+tcp
//   +3 (udp)          + file + webhook + syslog (UDP)
//   +file +otlp       + file + --output otlp (OTLP/HTTP JSON logs and spans to a local collector),
//                     on a thread of its own as in the agent
//   +file +slow hook  + file + a webhook whose collector answers after 2 s
//   +file +dead       + file + a webhook to a closed port (spilling to disk)
//                     + syslog+tcp to a receiver that never reads
//
// Two producers: `synthetic` (events made directly: the sinks' cost alone,
// the worst case for the ratio) and `agent` (the engine's own interpreter
// turning captured TLS plaintext of OpenAI calls on kept-alive HTTP/1.1 into
// tls_data, llm_request and llm_response events, with redaction: what a
// busy agent does per event, as in bench/tls-engine).
//
// Reported per producer and variant: events per CPU second of the agent's
// thread and its ratio to the baseline (the number that matters), wall-clock
// events/s until delivered and its ratio (noisy: receivers share the
// machine), and what each sink delivered/dropped in the last round.
//   node bench/sinks/run.js [events-per-round] [rounds]
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { interpreterMaker, median } from '../lib.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dist = (p) => join(ROOT, 'dist', p);
const { LineSink } = await import(dist('engine/sinks/jsonl.js'));
const { FileSink } = await import(dist('engine/sinks/file.js'));
const { WebhookSink } = await import(dist('engine/sinks/webhook.js'));
const { SyslogSink } = await import(dist('engine/sinks/syslog.js'));
const { OutputThread } = await import(dist('engine/sinks/threaded.js'));
const { specName } = await import(dist('engine/sinks/outputs-thread.js'));
const newInterpreter = await interpreterMaker();

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = Number(process.argv[3] ?? 5);
const TURN = 1000;

// --- receivers, each in its own process -------------------------------------
const RECEIVER = `
const kind = process.argv[1];
const net = require('net'), http = require('http'), dgram = require('dgram');
const ready = (port) => process.stdout.write(port + '\\n');
if (kind === 'http' || kind === 'http-slow') {
  const s = http.createServer((req, res) => { req.resume(); req.on('end', () => kind === 'http' ? res.end() : setTimeout(() => res.end(), 2000)); });
  s.keepAliveTimeout = 60000;
  s.listen(0, '127.0.0.1', () => ready(s.address().port));
} else if (kind === 'tcp') {
  const s = net.createServer((c) => c.resume()); s.listen(0, '127.0.0.1', () => ready(s.address().port));
} else if (kind === 'tcp-stalled') {
  const s = net.createServer((c) => c.pause()); s.listen(0, '127.0.0.1', () => ready(s.address().port));
} else if (kind === 'udp') {
  const s = dgram.createSocket('udp4'); s.on('message', () => {}); s.bind(0, '127.0.0.1', () => ready(s.address().port));
} else if (kind === 'closed') {
  const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => ready(p)); });
}
process.stdin.on('end', () => process.exit(0)); process.stdin.resume();
`;

const children = [];
function receiver(kind) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, ['-e', RECEIVER, kind], { stdio: ['pipe', 'pipe', 'inherit'] });
    children.push(c);
    let out = '';
    c.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve(Number(out.trim()));
    });
    c.on('error', reject);
  });
}

const port = {
  http: await receiver('http'),
  slow: await receiver('http-slow'),
  tcp: await receiver('tcp'),
  stalled: await receiver('tcp-stalled'),
  udp: await receiver('udp'),
  closed: await receiver('closed'),
};

// --- events ----------------------------------------------------------------
const procs = Array.from({ length: 16 }, (_, i) => Object.freeze({ pid: 1000 + i, ppid: 1, uid: 0, gid: 0, comm: i % 2 ? 'python3' : 'curl', exe: i % 2 ? '/usr/bin/python3.11' : '/usr/bin/curl', cmdline: i % 2 ? 'python3 agent.py --model gpt-4o-mini' : 'curl -sS https://api.openai.com/v1/chat/completions', cgroup_id: 4242, cgroup_path: '/system.slice/app.service' }));
let seq = 0;
function event() {
  const i = seq++;
  const t = `2026-12-05T10:00:00.${String(i % 1e9).padStart(9, '0')}Z`;
  const process = procs[i & 15];
  switch (i % 4) {
    case 0:
      return { id: `b-${i}`, time: t, type: 'connect', process, net: { protocol: 'tcp', family: 4, src_ip: '10.0.0.5', src_port: 40000 + (i & 8191), dst_ip: '162.159.140.245', dst_port: 443, direction: 'egress', dst_host: 'api.openai.com' }, provider: 'openai' };
    case 1:
      return { id: `b-${i}`, time: t, type: 'llm_request', process, provider: 'openai', http: { method: 'POST', path: '/v1/chat/completions', host: 'api.openai.com' }, llm: { provider: 'openai', endpoint: 'chat.completions', model: 'gpt-4o-mini', stream: false, user_message: 'Summarise the following text in two sentences, keeping the names.' } };
    case 2:
      return { id: `b-${i}`, time: t, type: 'llm_response', process, provider: 'openai', http: { status: 200, content_type: 'application/json' }, llm: { provider: 'openai', model: 'gpt-4o-mini-2024-07-18', stream: false, usage: { input_tokens: 212, output_tokens: 9 } } };
    default:
      return { id: `b-${i}`, time: t, type: 'close', process, net: { protocol: 'tcp', family: 4, src_ip: '10.0.0.5', src_port: 40000 + (i & 8191), dst_ip: '162.159.140.245', dst_port: 443, bytes_sent: 1432, bytes_received: 5120, duration_ms: 231 }, provider: 'openai' };
  }
}

// --- the agent producer: the interpreter on captured TLS plaintext ----------------
const enc = new TextEncoder();
const CALLS_PER_CONN = 50;
const reqBody = (i) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'system', content: 'You are a helpful assistant that answers briefly.' }, { role: 'user', content: `Question ${i}: summarise this. ${'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(6)}` }] });
const answer = JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini-2024-07-18', choices: [{ index: 0, message: { role: 'assistant', content: 'A short summary.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 212, completion_tokens: 9, total_tokens: 221 } });
const connCalls = [];
for (let i = 0; i < CALLS_PER_CONN; i++) {
  const body = reqBody(i);
  connCalls.push(['write', enc.encode(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer sk-proj-benchbenchbenchbenchbench0123\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`)]);
  connCalls.push(['read', enc.encode(`HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`)]);
}
const task = (pid) => ({ pid, tid: pid, ppid: 1, uid: 1000, gid: 1000, flags: 1, comm: 'python3', cgroupId: 1 });
function connRecords(pid, sslNum, callBase) {
  const ssl = sslNum.toString(16);
  const out = [{ kind: 'tls', ts: 1, task: task(pid), op: 'sni', ssl, callId: '0', len: 14, offset: 0, data: enc.encode('api.openai.com'), lib: 0 }];
  connCalls.forEach(([dir, bytes], i) => {
    const callId = (callBase + i).toString(16);
    for (let off = 0; off < bytes.length; off += 4096) out.push({ kind: 'tls', ts: 1 + i, task: task(pid), op: dir, ssl, callId, len: bytes.length, offset: off, data: bytes.subarray(off, Math.min(bytes.length, off + 4096)), lib: 0 });
  });
  out.push({ kind: 'tls', ts: 1e6, task: task(pid), op: 'free', ssl, callId: '0', len: 0, offset: 0, data: new Uint8Array(0), lib: 0 });
  return out;
}

/** Feed connections to a fresh interpreter until it has made n events; each event goes to every sink, one connection per turn. */
async function produceAgent(n, sinks) {
  let made = 0;
  const interp = newInterpreter((e) => {
    if (made >= n) return;
    made++;
    for (const s of sinks) s.write(e);
  }, { tlsCapBytes: 16384 });
  for (let c = 0; made < n; c++) {
    for (const r of connRecords(1000 + (c % 64), 0x5000 + c, c * 1000)) interp.handle(r);
    await new Promise((r) => setImmediate(r));
  }
  interp.flush(Infinity);
}

async function produceSynthetic(n, sinks) {
  for (let k = 0; k < n; ) {
    for (let j = 0; j < TURN && k < n; j++, k++) {
      const e = event();
      for (const s of sinks) s.write(e);
    }
    await new Promise((r) => setImmediate(r));
  }
}

// --- variants ------------------------------------------------------------------
const quiet = { onError: () => {} };
const dir = mkdtempSync(join(tmpdir(), 'busted-bench-sinks-'));
let k = 0;
const fileSink = () => new FileSink(join(dir, `f${k++}.jsonl`), { maxBytes: 100 << 20, keep: 1, ...quiet });
// batches of 2000 (--webhook-batch): the default 500 is sized for collectors, not for 300k events/s
const webhook = (p, o = {}) => new WebhookSink(new URL(`http://127.0.0.1:${p}/`), { closeTimeoutMs: 100, batchEvents: 2000, ...quiet, ...o });

// The --output sinks run on the outputs thread, as in the agent (engine/cli/observe.ts);
// `in-thread` variants run them on the agent's thread, for comparison.
const spec = {
  file: () => ({ kind: 'file', path: join(dir, `f${k++}.jsonl`), options: { maxBytes: 100 << 20, keep: 1 } }),
  // batches of 2000 (--webhook-batch): the default 500 is sized for collectors, not for 300k events/s
  webhook: (p, o = {}) => ({ kind: 'webhook', url: `http://127.0.0.1:${p}/`, options: { closeTimeoutMs: 100, batchEvents: 2000, ...o } }),
  syslog: (transport, p, o = {}) => ({ kind: 'syslog', transport, host: '127.0.0.1', port: p, options: { closeTimeoutMs: 100, ...o } }),
  // OTLP/HTTP JSON: a log record per event, spans for timed LLM answers (the agent producer's), to the same collector
  otlp: (p, o = {}) => ({ kind: 'otlp', url: `http://127.0.0.1:${p}/`, options: { closeTimeoutMs: 100, batchEvents: 2000, ...o } }),
};
/** fast: must deliver everything before the round ends; slow: may lag or drop. */
function threaded(fast, slow = []) {
  const t = new OutputThread([...fast, ...slow], [...fast, ...slow].map(specName), quiet);
  return { threads: [t], fast: t.members.slice(0, fast.length), slow: t.members.slice(fast.length) };
}
/** As the agent runs OTLP outputs: on a thread of their own (engine/cli/observe.ts startOutputs). */
function threadedApart(...groups) {
  const threads = groups.map((g) => new OutputThread(g, g.map(specName), quiet));
  return { threads, fast: threads.flatMap((t) => t.members), slow: [] };
}

const ALL_VARIANTS = {
  stdout: () => ({ fast: [], slow: [] }),
  '+file': () => threaded([spec.file()]),
  '+3 (tcp)': () => threaded([spec.file(), spec.webhook(port.http), spec.syslog('tcp', port.tcp)]),
  '+3 (udp)': () => threaded([spec.file(), spec.webhook(port.http), spec.syslog('udp', port.udp)]),
  '+file +otlp': () => threadedApart([spec.file()], [spec.otlp(port.http)]),
  '+3 (tcp) in-thread': () => ({ fast: [fileSink(), webhook(port.http), new SyslogSink('tcp', { host: '127.0.0.1', port: port.tcp }, quiet)], slow: [] }),
  '+file +slow hook': () => threaded([spec.file()], [spec.webhook(port.slow, { timeoutMs: 60_000 })]),
  '+file +dead': () => threaded([spec.file()], [spec.webhook(port.closed, { spillDir: join(dir, `spill${k++}`), spillMaxBytes: 64 << 20 }), spec.syslog('tcp', port.stalled)]),
};

// BENCH_SINKS=stdout,+file runs only those variants
const VARIANTS = process.env.BENCH_SINKS ? Object.fromEntries(Object.entries(ALL_VARIANTS).filter(([n]) => ['stdout', ...process.env.BENCH_SINKS.split(',')].includes(n))) : ALL_VARIANTS;

/** CPU time of the agent's own thread (the event loop), ns: sender threads and libuv's pool are not the agent's bottleneck. */
const mainCpuNs = () => Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]);

// An outputs thread lives as long as the agent: one per variant, kept warm
// across rounds (its start is not part of any round); sinks on the agent's
// thread are made for each round.
const setups = {};

async function round(name, producer) {
  const setup = setups[name] ?? VARIANTS[name]();
  if (setup.threads) setups[name] = setup;
  const { fast, slow, threads } = setup;
  const stdout = new LineSink('stdout', createWriteStream('/dev/null'), {}, true);
  // what the agent writes to: the threads stand for their members
  const sinks = threads ? [stdout, ...threads] : [stdout, ...fast, ...slow];
  const shown = [stdout, ...fast, ...slow];
  // a kept thread's members count across rounds: this round is the difference
  const before = new Map(shown.map((s) => [s, { delivered: s.delivered ?? 0, dropped: s.dropped }]));
  const drained = (s) => (s.queued ?? 0) === 0 && (s.delivered ?? 0) + s.dropped >= before.get(s).delivered + before.get(s).dropped + N;
  await new Promise((r) => setTimeout(r, 50)); // connections up
  seq = 0;
  const t0 = process.hrtime.bigint();
  const cpu0 = process.cpuUsage();
  const main0 = mainCpuNs();
  await (producer === 'agent' ? produceAgent(N, sinks) : produceSynthetic(N, sinks));
  // done when stdout and every sink that can deliver have delivered
  await new Promise((resolve) => {
    const check = () => (stdout.used === 0 && stdout.queuedBytes === 0 && fast.every(drained) ? resolve() : setTimeout(check, 1));
    check();
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  const mainNs = mainCpuNs() - main0;
  await Promise.all((threads ? [stdout] : sinks).map((s) => s.close()));
  const stats = shown.map((s) => ({ sink: s.name.replace(/:.*/, ''), delivered: (s.delivered ?? s.written) - before.get(s).delivered, dropped: s.dropped - before.get(s).dropped }));
  return { eps: N / secs, cpuPerEvent: mainNs / 1000 / N, allCpuPerEvent: (cpu.user + cpu.system) / N, stats };
}

const names = Object.keys(VARIANTS);
// BENCH_PRODUCERS=agent runs only that producer
for (const producer of (process.env.BENCH_PRODUCERS ?? 'synthetic,agent').split(',')) {
  const results = Object.fromEntries(names.map((n) => [n, []]));
  // one round of each to warm up (JIT, connections, page cache), not counted
  for (const name of names) await round(name, producer);
  // interleaved rounds, each in a different order, so that no variant always follows the same one
  for (let r = 0; r < ROUNDS; r++) {
    const order = names.map((_, i) => names[(i + r) % names.length]);
    for (const name of order) results[name].push(await round(name, producer));
  }
  // Two views: wall-clock events/s until delivered (includes the receivers'
  // scheduling on a shared 2-CPU machine, so noisy), and events per second of
  // CPU of the agent's own thread, the event loop (what the sinks cost the
  // agent: the ratio that matters); all_cpu_us_per_event adds the process's
  // other threads (libuv's pool writing files, the UDP sender thread).
  const base = median(results.stdout.map((x) => x.eps));
  const baseCpu = median(results.stdout.map((x) => x.cpuPerEvent));
  for (const [name, rs] of Object.entries(results)) {
    const eps = median(rs.map((x) => x.eps));
    const cpu = median(rs.map((x) => x.cpuPerEvent));
    const last = rs.at(-1).stats;
    console.log(
      `RESULT ${JSON.stringify({
        producer,
        variant: name,
        events_per_cpu_s: Math.round(1e6 / cpu),
        cpu_ratio: Number((baseCpu / cpu).toFixed(3)),
        events_per_s: Math.round(eps),
        wall_ratio: Number((eps / base).toFixed(3)),
        cpu_us_per_event: Number(cpu.toFixed(2)),
        all_cpu_us_per_event: Number(median(rs.map((x) => x.allCpuPerEvent)).toFixed(2)),
        sinks: last.map((s) => `${s.sink} ${s.delivered}/${s.dropped}`).join(', '),
      })}`,
    );
  }
}
for (const s of Object.values(setups)) for (const t of s.threads) await t.close();
for (const c of children) c.stdin.end();
rmSync(dir, { recursive: true, force: true });
