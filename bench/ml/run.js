#!/usr/bin/env node
// bench/ml: what the behavioural classifier costs.
//
// 1. inference: the shipped model (models/llm-traffic.onnx) through
//    onnxruntime-node as the agent runs it (one session, one intra-op
//    thread), on the parity file's real vectors, in batches of 1 to 256:
//    microseconds per connection scored, and each batch size's throughput as
//    a ratio to batch 1 (target: < 20 µs per connection batched).
// 2. the annotate stage in process: Classifier.annotate on a recorded-like
//    event stream (connect, ClientHello, flow updates, end, close), with the
//    scoring it triggers, against the same loop without it: ns per event.
// 3. the agent: `busted monitor` on a workload of short HTTP connections
//    (each one connect, flow, close: every connection is scored, the
//    classifier's worst case) and a few token streams, with the classifier
//    (the shipped model) and without (--no-model), interleaved off,on,...:
//    the agent's CPU per event and its RSS, on/off ratios of the same run.
//
//   node bench/ml/run.js [inference|annotate|agent ...]
// env: BENCH_ML_PAIRS (default 3), BENCH_ML_CONNS (default 3000 per run).
// Prints RESULT {json} lines on stdout, progress on stderr. Part 3 needs root.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { logger, median, result, rounder, sleep } from '../lib.js';

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = join(HERE, '..', '..');
const DIST = join(ROOT, 'dist');
const BUSTED = join(ROOT, 'bin', 'busted.js');
const PAIRS = Number(process.env.BENCH_ML_PAIRS ?? 3);
const CONNS = Number(process.env.BENCH_ML_CONNS ?? 3000);
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
const only = process.argv.slice(2);
const want = (w) => !only.length || only.includes(w);

const log = logger('ml');
const round = rounder(2);

const { loadModel, DEFAULT_MODEL } = await import(join(DIST, 'engine', 'ml', 'model.js'));
const { FEATURE_COUNT } = await import(join(DIST, 'engine', 'ml', 'features.js'));
const { Classifier } = await import(join(DIST, 'engine', 'ml', 'classifier.js'));

// ---------------------------------------------------------------- 1. inference

async function inference() {
  const parity = JSON.parse(readFileSync(join(ROOT, 'models', 'llm-traffic.parity.json'), 'utf8'));
  const model = await loadModel(DEFAULT_MODEL);
  const sizes = [1, 8, 32, 128, 256];
  const rowsFor = (n) => {
    const a = new Float32Array(n * FEATURE_COUNT);
    for (let i = 0; i < n; i++) a.set(parity.inputs[i % parity.inputs.length], i * FEATURE_COUNT);
    return a;
  };
  const per = {};
  for (let rep = 0; rep < 3; rep++) {
    for (const n of sizes) {
      const rows = rowsFor(n);
      for (let i = 0; i < 50; i++) await model.run(rows, n); // warm
      const calls = Math.max(50, Math.round(40000 / n));
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < calls; i++) await model.run(rows, n);
      const us = Number(process.hrtime.bigint() - t0) / 1000 / (calls * n);
      (per[n] ??= []).push(us);
    }
  }
  await model.close();
  const base = median(per[1]);
  for (const n of sizes) {
    const us = median(per[n]);
    result({ name: `inference_batch_${n}`, us_per_connection: round(us, 3), connections_per_s: Math.round(1e6 / us), throughput_ratio_to_batch_1: round(base / us, 2), target_us: 20 });
    log(`batch ${n}: ${us.toFixed(2)} µs per connection (${(base / us).toFixed(1)}x batch 1)`);
  }
}

// ---------------------------------------------------------------- 2. annotate

function syntheticEvents(n) {
  const evs = [];
  let id = 0;
  const t0 = Date.UTC(2026, 0, 1);
  for (let c = 0; c < n; c++) {
    const net = { protocol: 'tcp', family: 4, src_ip: '127.0.0.1', src_port: 10000 + (c % 50000), dst_ip: `127.0.${c % 7}.9`, dst_port: 8000 + (c % 3), direction: 'egress' };
    const time = new Date(t0 + c * 10).toISOString();
    const p = { pid: 1000 + (c % 40), comm: 'client' };
    const stream = c % 4 === 0;
    const flow = (phase, k) => ({
      phase, sends: 1, recvs: stream ? 40 * k : 3, exchanges: 1, bursts: stream ? 30 * k : 1, age_ms: 1000 * k, active_ms: 990 * k, quiet_ms: 1, req_bytes_max: 1500, resp_bytes_max: stream ? 6000 * k : 20000,
      resp_ms_max: stream ? 900 * k : 3, idle_ms_max: 0, gaps: stream ? 30 * k - 1 : 0, ...(stream ? { gap_ms_mean: 30, gap_ms_sd: 9 } : {}),
      ttfb_ms: { first: 400, min: 400, max: 400, mean: 400, count: 1 }, burst_hist: stream ? [30 * k, 0, 0, 0, 0, 0, 0, 0] : [0, 0, 0, 0, 1, 0, 0, 0], gap_hist: stream ? [0, 0, 5, 30 * k - 6, 0, 0, 0, 0] : [0, 0, 0, 0, 0, 0, 0, 0],
    });
    evs.push({ id: `b-${++id}`, time, type: 'connect', process: p, net: { ...net } });
    evs.push({ id: `b-${++id}`, time, type: 'tls_client_hello', process: p, net: { ...net }, tls: { sni: 'x.test', version: 'TLS 1.3', alpn: ['http/1.1'], ja4: 't13d1516h1_x_y' } });
    if (stream) evs.push({ id: `b-${++id}`, time, type: 'flow', process: p, net: { ...net, bytes_sent: 1500, bytes_received: 6000 }, flow: flow('update', 1) });
    evs.push({ id: `b-${++id}`, time, type: 'flow', process: p, net: { ...net, bytes_sent: 1500, bytes_received: stream ? 12000 : 20000 }, flow: flow('end', 2) });
    evs.push({ id: `b-${++id}`, time, type: 'close', process: p, net: { ...net, bytes_sent: 1500, bytes_received: 20000 } });
  }
  return evs;
}

async function annotate() {
  const events = syntheticEvents(20000);
  const clone = () => events.map((e) => ({ ...e }));
  const on = [];
  const off = [];
  for (let rep = 0; rep < 5; rep++) {
    // off: the loop the pipeline runs anyway (a JSON serialisation per event stands in for the sinks)
    let batch = clone();
    let t0 = process.hrtime.bigint();
    for (const e of batch) JSON.stringify(e);
    off.push(Number(process.hrtime.bigint() - t0) / batch.length);
    // on: the same with the annotate stage, and the scoring it causes, drained
    const c = await Classifier.load(DEFAULT_MODEL);
    batch = clone();
    t0 = process.hrtime.bigint();
    for (let i = 0; i < batch.length; i++) {
      c.annotate(batch[i]);
      JSON.stringify(batch[i]);
      if ((i & 1023) === 1023) await new Promise((r) => setImmediate(r)); // let batches run, as between ring reads
    }
    await c.drain();
    on.push(Number(process.hrtime.bigint() - t0) / batch.length);
    const annotated = c.stats.annotated;
    const st = { ...c.stats };
    await c.close();
    if (rep === 4) log(`annotate: ${st.snapshots} vectors in ${st.batches} batches (${(st.scored / st.batches).toFixed(0)} per batch), ${annotated} events annotated`);
  }
  const a = median(on);
  const b = median(off);
  result({ name: 'annotate_stage', ns_per_event_with: round(a, 0), ns_per_event_without: round(b, 0), added_ns_per_event: round(a - b, 0), ratio: round(a / b, 2) });
  log(`annotate: ${a.toFixed(0)} ns/event with the classifier, ${b.toFixed(0)} without`);
}

// ---------------------------------------------------------------- 3. agent

function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-');
    if (dash > 0 && f[dash + 1] === 'cgroup2') return f[4];
  }
  return undefined;
}

function procCpuSeconds(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** The workload: CONNS short HTTP requests on new connections, 4 at a time, and 4 token streams of ~3 s. */
const LOAD = `
const http = require('http');
const [port, conns] = process.argv.slice(1).map(Number);
const small = JSON.stringify({ shape: 'body', head: 0, bytes: 1500, rate: 0, chunk: 65536, type: 'application/json' });
const stream = JSON.stringify({ shape: 'paced', head: 100, first: 200, events: 100, cadence: 30, jitter: 0.4, size: [100, 200], stall: 0, ping: 0, type: 'text/event-stream', format: 'sse', seed: 3 });
const req = (gen, path) => new Promise((res, rej) => { const r = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'x-gen': gen } }, (s) => { s.resume(); s.on('end', res); }); r.on('error', rej); r.end('{"q":1}'); });
let next = 0;
const worker = async () => { while (next < conns) { next++; await req(small, '/api'); } };
Promise.all([...Array.from({ length: 4 }, worker), ...Array.from({ length: 4 }, () => req(stream, '/v1/chat/completions'))]).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(1); });
`;

async function agentRun(cg, port, model) {
  const args = [BUSTED, 'monitor', '--cgroup', cg, '--format', 'json', '--no-tls', ...(model ? [] : ['--no-model'])];
  const agent = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  agent.stderr.on('data', (d) => (err += d));
  const deadline = Date.now() + 30_000;
  while (!err.includes('busted: monitoring')) {
    if (agent.exitCode !== null || Date.now() > deadline) throw new Error(`agent did not start: ${err}`);
    await sleep(25);
  }
  await sleep(300);
  const cpu0 = procCpuSeconds(agent.pid);
  const rss = [];
  const sampler = setInterval(() => rss.push(rssMb(agent.pid)), 200);
  const load = spawn('sh', ['-c', `echo $$ > ${cg}/cgroup.procs && exec "$0" -e "$1" "$2" "$3"`, process.execPath, LOAD, String(port), String(CONNS)], { stdio: ['ignore', 'ignore', 'inherit'] });
  const t0 = Date.now();
  const code = await new Promise((r) => load.once('exit', r));
  if (code !== 0) throw new Error(`workload exited ${code}`);
  await sleep(1500); // the last closes and scores
  clearInterval(sampler);
  const cpu = procCpuSeconds(agent.pid) - cpu0;
  const done = new Promise((r) => agent.once('exit', r));
  agent.kill('SIGINT');
  await done;
  const ev = /busted: (\d+) events from/.exec(err);
  const events = ev ? Number(ev[1]) : NaN;
  const scored = /(\d+) connection snapshots scored in (\d+) batches/.exec(err);
  return { cpu, events, secs: (Date.now() - t0) / 1000, rss: Math.max(...rss.filter(Number.isFinite)), scored: scored ? Number(scored[1]) : 0, batches: scored ? Number(scored[2]) : 0 };
}

async function agentBench() {
  if (process.getuid?.() !== 0) {
    log('agent: skipped (needs root to load BPF programs)');
    return;
  }
  const mount = cgroup2Mount();
  if (!mount) {
    log('agent: skipped (no cgroup v2 mount)');
    return;
  }
  const { startTrafficServer } = await import(join(DIST, 'training', 'traffic', 'server.js'));
  const server = await startTrafficServer([{ kind: 'bench', label: 0, host: 'localhost', ip: '127.0.0.1', port: 0, tls: false, h2: false, ws: false }], { cert: '', key: '' });
  const cg = join(mount, `busted-bench-ml-${process.pid}`);
  mkdirSync(cg);
  const on = [];
  const off = [];
  try {
    for (let i = 0; i < PAIRS; i++) {
      for (const model of [false, true]) {
        const r = await agentRun(cg, server.ports[0], model);
        (model ? on : off).push(r);
        log(`${model ? 'classifier on ' : 'classifier off'}: ${r.events} events, agent CPU ${(r.cpu * 1000).toFixed(0)} ms (${((r.cpu / r.events) * 1e6).toFixed(1)} µs/event), RSS ${r.rss.toFixed(0)} MB${model ? `, ${r.scored} snapshots in ${r.batches} batches` : ''}`);
      }
    }
  } finally {
    await server.close();
    for (let i = 0; i < 50 && existsSync(cg); i++) {
      try {
        rmdirSync(cg);
      } catch {
        await sleep(100);
      }
    }
  }
  const perEvent = (rs) => median(rs.map((r) => (r.cpu / r.events) * 1e6));
  const a = perEvent(on);
  const b = perEvent(off);
  result({
    name: 'agent_cpu_per_event',
    us_with_classifier: round(a, 2),
    us_without: round(b, 2),
    ratio: round(a / b, 3),
    events_per_run: Math.round(median(on.map((r) => r.events))),
    snapshots_scored_per_run: Math.round(median(on.map((r) => r.scored))),
    mean_batch: round(median(on.map((r) => r.scored / Math.max(r.batches, 1))), 1),
  });
  result({ name: 'agent_rss_mb', with_classifier: round(median(on.map((r) => r.rss)), 1), without: round(median(off.map((r) => r.rss)), 1), ratio: round(median(on.map((r) => r.rss)) / median(off.map((r) => r.rss)), 2) });
}

if (want('inference')) await inference();
if (want('annotate')) await annotate();
if (want('agent')) await agentBench();
