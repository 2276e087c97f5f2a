#!/usr/bin/env node
// Benchmark: ring buffer → decoded event objects.
//
// How many records per second the engine takes out of a BPF ring buffer and
// turns into (a) typed kernel records (decodeRecord, stage 2) and (b) the
// contract's event objects (Interpreter.handle, stage 4), compared with a
// plain C consumer (libbpf ring_buffer__poll + a struct-copy decode) reading
// the same BPF producer in the same run. Targets (issue): ≥ 1,000,000
// events/s decoded in the engine, and ≥ 0.5 of the C consumer's rate.
//
// Two measurements, because one cannot give a fair ratio on its own:
//
//   streaming  producer and consumer run at once on different CPUs, the
//              producer flat out: the consumer's rate is what it sustains
//              with the kernel writing alongside it. But a C consumer keeps
//              up with any producer one CPU can run (the producer, not C, is
//              the limit: the "saturated" field says which), so the
//              streaming ratio engine/C is an upper bound.
//   drain      capacity: one process fills the ring with the same BPF
//              program (BPF_PROG_TEST_RUN until a reservation fails), then
//              times emptying it, over and over (C: ring_buffer__consume;
//              engine: RingBuffer.drainNow). Nothing else runs meanwhile, so
//              this is each consumer's full speed and the *_drain ratios
//              are the fair consumer-vs-consumer comparison.
//
// Design
//   producer   bench/ringbuf/producer.bpf.c: a raw_tp program run with
//              BPF_PROG_TEST_RUN by build/bench/ringbuf-producer
//              (producer.c); each run writes 256 records with bpf_loop into
//              a 16 MiB BPF_MAP_TYPE_RINGBUF, in the real wire layout of
//              bpf/busted.h, reserved and submitted one by one with the
//              kernel's adaptive wake-up (flags 0) like the agent's own
//              programs (BENCH_RINGBUF_WAKEUP=batch: one forced wake-up per
//              run instead; the per-record wake-ups are what limit the
//              producer when a fast consumer keeps the ring empty).
//              Failed reservations (ring full) are the losses.
//              Two mixes: "tcp" (CONNECTED/CLOSED pairs, 152 bytes a record
//              in the ring, a close naming the connection opened 1024
//              earlier, a quarter of peers api.openai.com's address) and
//              "mixed" (in every 32 records one DNS query and one DNS answer
//              (PKT), one UDP flow and one UDP close; in every 256 one EXEC
//              (848 bytes) and one EXIT).
//   sharing    streaming: the producer pins the ring map under
//              /sys/fs/bpf/busted-bench-<pid>/, the consumer opens it with
//              bpf_obj_get, and the pin is removed as soon as both hold an
//              fd (and again on every exit path of this script; the C
//              children also get SIGTERM when this script dies).
//   consumers  C:       build/bench/ringbuf-consumer (consumer.c): libbpf's
//                       ring_buffer, a struct-copy decode, no strings.
//              engine:  bench/ringbuf/engine-consumer.js, the engine's own
//                       RingBuffer class (epoll on a libuv worker, batches of
//                       8192 across event-loop turns, as KernelSession uses
//                       it) into decodeRecord, or decodeRecord +
//                       Interpreter.handle with ProcessCache, DnsCache and
//                       ProviderTable (as engine/pipeline.ts wires them).
//                       Uses dist/: run `npm run build` after engine changes
//                       (this script builds only when dist/ is missing).
//   timing     streaming: producer and consumer get one start time t0
//              (CLOCK_MONOTONIC on both sides) and measure over
//              [t0+1 s, t0+1 s+5 s]; the producer's failed reservations in
//              that window are the losses. After the window the consumer
//              drains the ring and its total must equal the producer's
//              successful reservations ("missing" must be 0), and no record
//              may fail to decode ("bad" must be 0).
//              drain: 0.5 s warm-up, then 2 s of fill/drain cycles (at
//              least 2), only the drain time counted.
//   no-loss    the producer rate-limited to 1,000,000 events/s (256-record
//              batches on a fixed schedule, sleeping between them) against
//              the engine decode consumer, mixed records: lost must be 0.
//   CPUs       the machine this was written on has 2 cores: in streaming
//              runs the producer is pinned to CPU 0 and the consumer to
//              CPU 1 (taskset), drain runs to CPU 1; BENCH_RINGBUF_PIN=0
//              turns that off (nothing is pinned on a 1-CPU machine).
//   noise      every measurement reports the CPU time the rest of the
//              machine used meanwhile (/proc/stat minus the benchmark's own
//              getrusage/cpuUsage), as other_cpus, and steal_cpus; above
//              0.15 CPUs it is flagged on stderr: such numbers are not
//              worth comparing. The engine consumer also reports "stalls":
//              times records waited in the ring for over 5 ms while the
//              event loop was idle (a missed or late wake-up).
//   knobs      BENCH_RINGBUF_SECONDS (5), BENCH_RINGBUF_DRAIN_SECONDS (2),
//              BENCH_RINGBUF_MIXES ("tcp,mixed"), BENCH_RINGBUF_WAKEUP
//              (record|batch), BENCH_RINGBUF_PIN (1), BENCH_RINGBUF_PROFILE=1
//              adds --cpu-prof to the streaming engine consumers (profiles
//              in build/bench/prof/).
//
// Output: RESULT {json} lines (bench/run.js protocol), per mix:
//   ringbuf_c_events_per_s, ringbuf_engine_decode_events_per_s,
//   ringbuf_engine_interpret_events_per_s, engine_decode_vs_c,
//   engine_interpret_vs_c                                       (streaming)
//   ringbuf_c_drain_events_per_s, ringbuf_engine_decode_drain_events_per_s,
//   ringbuf_engine_interpret_drain_events_per_s,
//   engine_decode_vs_c_drain, engine_interpret_vs_c_drain       (capacity)
// and ringbuf_engine_decode_lost_at_1M. Needs root (BPF, bpffs); takes
// about 70 s; leaves only build/bench/{producer.bpf.o,ringbuf-producer,
// ringbuf-consumer} behind.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, renameSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { result, rounder } from '../lib.js';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'build', 'bench');
const ARCH = process.arch === 'arm64' ? 'arm64' : 'x86';

const SECONDS = Number(process.env.BENCH_RINGBUF_SECONDS ?? 5);
const DRAIN_S = Number(process.env.BENCH_RINGBUF_DRAIN_SECONDS ?? 2);
const WARM_S = 1;
const RING_BYTES = 16 << 20;
const BATCH = 256;
const MIXES = (process.env.BENCH_RINGBUF_MIXES ?? 'tcp,mixed').split(',').filter(Boolean);
const PROFILE = process.env.BENCH_RINGBUF_PROFILE === '1';
const PIN_CPUS = process.env.BENCH_RINGBUF_PIN !== '0' && cpus().length >= 2;
const WAKEUP = process.env.BENCH_RINGBUF_WAKEUP ?? 'record';
const TARGET_RATE = 1_000_000;
const TARGET_RATIO = 0.5;

const pinDir = `/sys/fs/bpf/busted-bench-${process.pid}`;
const children = new Set();

// ---- cleanup on every exit path ------------------------------------------------

function cleanup() {
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGTERM');
      } catch {}
    }
  }
  children.clear();
  rmSync(pinDir, { recursive: true, force: true });
}
process.on('exit', cleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.on(sig, () => {
    cleanup();
    process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1));
  });
}

function fail(msg) {
  console.error(`bench ringbuf: ${msg}`);
  process.exit(1);
}

// ---- build ---------------------------------------------------------------------

const mtime = (p) => (existsSync(p) ? statSync(p).mtimeMs : -1);
const stale = (target, sources) => sources.some((s) => mtime(s) > mtime(target));

/** Run a compiler into a temporary name, rename on success, remove it on failure. */
function compile(target, sources, cmd, args) {
  if (!stale(target, sources)) return;
  const tmp = `${target}.tmp-${process.pid}`;
  const r = spawnSync(cmd, [...args, '-o', tmp], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    rmSync(tmp, { force: true });
    fail(`${cmd} ${args.join(' ')} failed`);
  }
  renameSync(tmp, target);
}

function build() {
  if (!existsSync(join(root, 'dist/engine/kernel/libbpf.js')) || !existsSync(join(root, 'build/bpf/vmlinux.h'))) {
    console.error('bench ringbuf: building the engine (scripts/setup.sh --build-only)');
    const r = spawnSync('bash', ['scripts/setup.sh', '--build-only'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
    if (r.status !== 0) fail('scripts/setup.sh --build-only failed');
  }
  mkdirSync(out, { recursive: true });
  const hdrs = ['bpf/busted.h', 'build/bpf/vmlinux.h'].map((p) => join(root, p));
  compile(join(out, 'producer.bpf.o'), [join(here, 'producer.bpf.c'), ...hdrs], 'clang', [
    '-g', '-O2', '-target', 'bpf', `-D__TARGET_ARCH_${ARCH}`, '-Wall', '-Ibuild/bpf', '-Ibpf',
    '-c', 'bench/ringbuf/producer.bpf.c',
  ]);
  for (const [name, src] of [['ringbuf-producer', 'producer.c'], ['ringbuf-consumer', 'consumer.c']]) {
    compile(join(out, name), [join(here, src), join(root, 'bpf/busted.h')], 'cc', [
      '-O2', '-Wall', '-Ibpf', `bench/ringbuf/${src}`, '-lbpf',
    ]);
  }
}

// ---- other load on the machine ----------------------------------------------------

// The numbers are only as good as the machine is quiet. Each measurement
// compares the CPU time the whole machine spent busy (/proc/stat) with what
// the benchmark's own processes report using (getrusage / cpuUsage): the
// rest is other load, in CPUs (0 to the number of CPUs), plus steal time.
const HZ = 100; // USER_HZ: /proc/stat's unit on every Linux architecture
function procStat() {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, , , irq, softirq, steal] = f;
  return { busyMs: ((user + nice + system + irq + softirq) * 1000) / HZ, stealMs: (steal * 1000) / HZ, t: process.hrtime.bigint(), self: process.cpuUsage() };
}
function otherLoad(before, ownMs) {
  const after = procStat();
  const elapsedMs = Number(after.t - before.t) / 1e6;
  const self = process.cpuUsage(before.self);
  const mine = ownMs + (self.user + self.system) / 1000;
  return {
    other_cpus: Math.max(0, Math.round(((after.busyMs - before.busyMs - mine) / elapsedMs) * 100) / 100),
    steal_cpus: Math.round(((after.stealMs - before.stealMs) / elapsedMs) * 100) / 100,
  };
}
const loadNote = (l) => `  other load ${l.other_cpus.toFixed(2)} CPUs, steal ${l.steal_cpus.toFixed(2)}`;
const DISTURBED = 0.15; // CPUs of other load above which a measurement is flagged

// ---- one measurement ----------------------------------------------------------

/** Spawn a child speaking the READY / GO / STATS protocol. */
function child(label, cpu, cmd, args) {
  const argv = PIN_CPUS ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args];
  const p = spawn(argv[0], argv[1], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  children.add(p);
  let buf = '';
  let readyResolve;
  const ready = new Promise((res) => (readyResolve = res));
  let stats;
  p.stdout.setEncoding('utf8');
  p.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line === 'READY') readyResolve(true);
      else if (line.startsWith('STATS ')) stats = JSON.parse(line.slice(6));
      else if (line.trim()) console.error(`${label}: ${line}`);
    }
  });
  const done = new Promise((res) => {
    p.on('close', (code, sig) => {
      children.delete(p);
      readyResolve(false);
      res({ code, sig, stats });
    });
  });
  p.stdin.on('error', () => {}); // a child that died early: reported through `done`
  return { p, ready, done, label };
}

const withTimeout = (promise, ms, what) => {
  let timer;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise((_, rej) => (timer = setTimeout(() => rej(new Error(`${what}: timed out after ${ms} ms`)), ms))),
  ]);
};

let runNo = 0;
async function measure({ mix, consumer, rate = 0 }) {
  mkdirSync(pinDir, { recursive: true });
  const pin = join(pinDir, `events-${++runNo}`);
  const label = `${consumer}/${mix}${rate ? `@${rate}` : ''}`;
  const before = procStat();
  const prod = child(`producer ${label}`, 0, join(out, 'ringbuf-producer'), [
    '--obj', join(out, 'producer.bpf.o'), '--pin', pin, '--ring-bytes', String(RING_BYTES),
    '--mix', mix, '--batch', String(BATCH), '--rate', String(rate), '--wakeup', WAKEUP,
  ]);
  try {
    if (!(await withTimeout(prod.ready, 10_000, 'producer start'))) throw new Error(`producer ${label} failed to start`);
    let cons;
    if (consumer === 'c') {
      cons = child(`consumer ${label}`, 1, join(out, 'ringbuf-consumer'), ['--pin', pin]);
    } else {
      const nodeArgs = [];
      if (PROFILE) {
        mkdirSync(join(out, 'prof'), { recursive: true });
        nodeArgs.push('--cpu-prof', '--cpu-prof-dir', join(out, 'prof'), '--cpu-prof-name', `${consumer}-${mix}${rate ? '-rate' : ''}-${process.pid}.cpuprofile`);
      }
      cons = child(`engine ${label}`, 1, process.execPath, [
        ...nodeArgs, join(here, 'engine-consumer.js'), '--pin', pin, '--ring-bytes', String(RING_BYTES), '--mode', consumer,
      ]);
    }
    if (!(await withTimeout(cons.ready, 15_000, 'consumer start'))) throw new Error(`consumer ${label} failed to start`);
    rmSync(pin, { force: true }); // both hold an fd now
    const t0 = process.hrtime.bigint() + 100_000_000n;
    const go = `GO ${t0} ${BigInt(WARM_S * 1e9)} ${BigInt(Math.round(SECONDS * 1e9))}\n`;
    prod.p.stdin.end(go);
    cons.p.stdin.end(go);
    const limit = (WARM_S + SECONDS + 10) * 1000;
    const [pr, cr] = await Promise.all([withTimeout(prod.done, limit, `producer ${label}`), withTimeout(cons.done, limit, `consumer ${label}`)]);
    if (pr.code !== 0 || !pr.stats) throw new Error(`producer ${label} exited ${pr.code ?? pr.sig}`);
    if (cr.code !== 0 || !cr.stats) throw new Error(`consumer ${label} exited ${cr.code ?? cr.sig}`);
    const s = (ns) => ns / 1e9;
    const load = otherLoad(before, (pr.stats.cpu_ms ?? 0) + (cr.stats.cpu_ms ?? 0));
    const res = {
      label,
      load,
      consumerCpus: cr.stats.window_cpu_ms / 1000 / s(cr.stats.window_ns),
      perCpuS: cr.stats.consumed / (cr.stats.window_cpu_ms / 1000),
      consumedPerS: cr.stats.consumed / s(cr.stats.window_ns),
      producedPerS: pr.stats.ok / s(pr.stats.window_ns),
      attemptedPerS: pr.stats.attempted / s(pr.stats.window_ns),
      lostPerS: pr.stats.lost / s(pr.stats.window_ns),
      lostInWindow: pr.stats.lost,
      lostTotal: pr.stats.lost_total,
      missing: pr.stats.ok_total - cr.stats.total,
      bad: cr.stats.bad,
      producer: pr.stats,
      consumer: cr.stats,
    };
    console.error(
      `bench ringbuf: ${label.padEnd(22)} consumed ${fmt(res.consumedPerS)}/s (${fmt(res.perCpuS)}/CPU-s, ${res.consumerCpus.toFixed(2)} CPUs)  producer attempted ${fmt(res.attemptedPerS)}/s ` +
        `lost ${fmt(res.lostPerS)}/s  missing ${res.missing}  bad ${res.bad}` +
        (cr.stats.gc_ms !== undefined
          ? `  gc ${cr.stats.gc_ms} ms/${cr.stats.gc_count}  rss ${cr.stats.rss_mb} MB  stalls ${cr.stats.stalls} (${cr.stats.stall_ms} ms, max ${cr.stats.stall_max_ms})`
          : '') +
        loadNote(load),
    );
    if (load.other_cpus > DISTURBED) console.error(`bench ringbuf: ${label}: WARNING other processes used ${load.other_cpus} CPUs during this measurement`);
    if (cr.stats.stall_log?.length) console.error(`bench ringbuf: ${label}: stalls (ms after t0, length, bytes waiting): ${cr.stats.stall_log.map((x) => `${x.at_ms}+${x.ms}ms/${x.pending_bytes}B`).join(' ')}`);
    if (res.missing !== 0) console.error(`bench ringbuf: ${label}: the consumer saw ${cr.stats.total} records, the producer wrote ${pr.stats.ok_total}`);
    if (res.bad !== 0) console.error(`bench ringbuf: ${label}: ${res.bad} records did not decode`);
    return res;
  } finally {
    for (const c of children) {
      try {
        process.kill(c.p?.pid ?? c.pid, 'SIGTERM');
      } catch {}
    }
    rmSync(pin, { force: true });
  }
}

/** Capacity: one process fills the ring with the producer program, then times draining it. */
async function drainMeasure({ mix, consumer }) {
  const label = `${consumer}/${mix} drain`;
  const before = procStat();
  const args = ['--drain', '--obj', join(out, 'producer.bpf.o'), '--ring-bytes', String(RING_BYTES), '--mix', mix, '--seconds', String(DRAIN_S)];
  const c =
    consumer === 'c'
      ? child(label, 1, join(out, 'ringbuf-consumer'), args)
      : child(label, 1, process.execPath, [join(here, 'engine-consumer.js'), ...args, '--mode', consumer]);
  let r;
  try {
    r = await withTimeout(c.done, (DRAIN_S + 20) * 1000, label);
  } finally {
    if (c.p.exitCode === null && c.p.signalCode === null) c.p.kill('SIGTERM');
  }
  if (r.code !== 0 || !r.stats) throw new Error(`${label} exited ${r.code ?? r.sig}`);
  const perS = r.stats.drained / (r.stats.drain_ns / 1e9);
  const perCpuS = r.stats.drained / (r.stats.drain_cpu_ns / 1e9);
  const load = otherLoad(before, r.stats.cpu_ms ?? 0);
  console.error(
    `bench ringbuf: ${label.padEnd(22)} drained ${fmt(perS)}/s (${fmt(perCpuS)}/CPU-s)  (${r.stats.cycles} fills of the ring, ${r.stats.drained} records)  bad ${r.stats.bad}` +
      loadNote(load),
  );
  if (load.other_cpus > DISTURBED) console.error(`bench ringbuf: ${label}: WARNING other processes used ${load.other_cpus} CPUs during this measurement`);
  if (r.stats.bad !== 0) console.error(`bench ringbuf: ${label}: ${r.stats.bad} records did not decode`);
  return { label, perS, perCpuS, stats: r.stats, load };
}

const fmt = (n) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : n.toFixed(0));
const r3 = rounder(3);

// ---- main ----------------------------------------------------------------------

if (process.getuid?.() !== 0) fail('needs root (BPF programs, bpffs pins)');
if (!existsSync('/sys/fs/bpf')) fail('bpffs is not mounted at /sys/fs/bpf');
build();
console.error(
  `bench ringbuf: ${SECONDS} s windows after ${WARM_S} s warm-up, ring ${RING_BYTES >> 20} MiB, ${BATCH} records per producer run, ` +
    (PIN_CPUS ? 'producer on CPU 0, consumer on CPU 1' : 'no CPU pinning'),
);

const common = { unit: 'events/s', seconds: SECONDS, ring_mb: RING_BYTES >> 20, cpu_pinned: PIN_CPUS };
try {
  for (const mix of MIXES) {
    const c = await measure({ mix, consumer: 'c' });
    const d = await measure({ mix, consumer: 'decode' });
    const i = await measure({ mix, consumer: 'interpret' });
    const row = (metric, r, extra = {}) =>
      result({
        metric,
        value: Math.round(r.consumedPerS),
        ...common,
        mix,
        events_per_cpu_s: Math.round(r.perCpuS),
        consumer_cpus: Math.round(r.consumerCpus * 100) / 100,
        producer_attempted_per_s: Math.round(r.attemptedPerS),
        lost_per_s: Math.round(r.lostPerS),
        missing: r.missing,
        bad: r.bad,
        ...r.load,
        ...extra,
      });
    row('ringbuf_c_events_per_s', c, { saturated: c.consumerCpus >= 0.85 });
    row('ringbuf_engine_decode_events_per_s', d, { target: TARGET_RATE, pass: d.consumedPerS >= TARGET_RATE, gc_ms: d.consumer.gc_ms });
    row('ringbuf_engine_interpret_events_per_s', i, {
      events_out_per_s: Math.round(i.consumer.events / (i.consumer.window_ns / 1e9)),
      gc_ms: i.consumer.gc_ms,
    });
    // A C consumer that did not use most of its CPU was waiting for the
    // producer: its rate is the producer's, a lower bound of what C can do,
    // and the ratios an upper bound (losses then come from moments it was
    // not scheduled). The drain ratios below have no such limit.
    const cBound = c.consumerCpus < 0.85 ? `producer-bound (C used ${c.consumerCpus.toFixed(2)} CPUs: ratio is an upper bound)` : 'consumer-bound';
    const ratio = (metric, x, y, extra) =>
      result({ metric, value: r3(x / y), unit: 'ratio', mix, target: TARGET_RATIO, pass: x / y >= TARGET_RATIO, ...extra });
    ratio('engine_decode_vs_c', d.consumedPerS, c.consumedPerS, { c_rate: cBound, per_cpu_s: r3(d.perCpuS / c.perCpuS) });
    ratio('engine_interpret_vs_c', i.consumedPerS, c.consumedPerS, { c_rate: cBound, per_cpu_s: r3(i.perCpuS / c.perCpuS) });

    const cd = await drainMeasure({ mix, consumer: 'c' });
    const dd = await drainMeasure({ mix, consumer: 'decode' });
    const id = await drainMeasure({ mix, consumer: 'interpret' });
    const drow = (metric, r, extra = {}) =>
      result({ metric, value: Math.round(r.perS), ...common, seconds: DRAIN_S, mix, events_per_cpu_s: Math.round(r.perCpuS), fills: r.stats.cycles, records: r.stats.drained, bad: r.stats.bad, ...r.load, ...extra });
    drow('ringbuf_c_drain_events_per_s', cd);
    drow('ringbuf_engine_decode_drain_events_per_s', dd, { target: TARGET_RATE, pass: dd.perS >= TARGET_RATE });
    drow('ringbuf_engine_interpret_drain_events_per_s', id);
    ratio('engine_decode_vs_c_drain', dd.perS, cd.perS, { per_cpu_s: r3(dd.perCpuS / cd.perCpuS) });
    ratio('engine_interpret_vs_c_drain', id.perS, cd.perS, { per_cpu_s: r3(id.perCpuS / cd.perCpuS) });
  }
  const n = await measure({ mix: 'mixed', consumer: 'decode', rate: TARGET_RATE });
  result({
    metric: 'ringbuf_engine_decode_lost_at_1M',
    value: n.lostTotal,
    ...common,
    unit: 'events',
    lost_in_window: n.producer.lost,
    mix: 'mixed',
    rate_per_s: TARGET_RATE,
    consumed_per_s: Math.round(n.consumedPerS),
    produced_per_s: Math.round(n.producedPerS),
    lost_total: n.lostTotal,
    missing: n.missing,
    ...n.load,
    target: 0,
    pass: n.producer.lost_total === 0 && n.missing === 0,
  });
} catch (e) {
  console.error(`bench ringbuf: ${e.message}`);
  process.exitCode = 1;
} finally {
  cleanup();
}
