// The engine side of the ring buffer benchmark: the pinned ring read with
// the engine's own RingBuffer (mmap + RingReader, epoll_wait on a libuv
// worker, batches of 8192 across event-loop turns — exactly what
// KernelSession.consume sets up), each record handed to
//   decode:    decodeRecord()                       (stage 2: typed records)
//   interpret: Interpreter.handle(decodeRecord())   (stage 4: contract events,
//              with ProcessCache, DnsCache(+/etc/hosts), ProviderTable and a
//              counting emit, and flush() every second, as engine/pipeline.ts)
//
//   node bench/ringbuf/engine-consumer.js --pin PATH --ring-bytes N --mode decode|interpret
//     streaming: same stdio protocol as ringbuf-producer/-consumer (READY,
//     GO t0 warm dur, STATS {json}).
//   node bench/ringbuf/engine-consumer.js --drain --obj producer.bpf.o --ring-bytes N
//                                         --mix tcp|mixed --seconds S --mode ...
//     capacity: loads the producer program itself (engine BpfObject), then
//     repeatedly fills the ring (BPF_PROG_TEST_RUN until a reservation
//     fails) and times RingBuffer.drainNow() emptying it, as consumer.c
//     --drain does with ring_buffer__consume().
//
// Opening a pinned map (bpf_obj_get) and running a program
// (bpf_prog_test_run_opts) are calls the engine has no use for, so they are
// declared here with koffi.
import { readFileSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import koffi from 'koffi';
import { BpfObject, RingBuffer } from '../../dist/engine/kernel/libbpf.js';
import { decodeRecord } from '../../dist/engine/decode/records.js';
import { Interpreter } from '../../dist/engine/interpret/interpreter.js';
import { ProcessCache } from '../../dist/engine/enrich/process.js';
import { DnsCache, parseHostsFile } from '../../dist/engine/enrich/dns-cache.js';
import { ProviderTable } from '../../dist/engine/enrich/provider.js';
import { cgroup2Mount } from '../../dist/engine/host/cgroup.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const pin = arg('--pin');
const ringBytes = Number(arg('--ring-bytes', String(16 << 20)));
const mode = arg('--mode', 'decode');
const drain = process.argv.includes('--drain');
const objPath = arg('--obj');
if ((drain ? !objPath : !pin) || !['decode', 'interpret'].includes(mode)) {
  console.error('usage: engine-consumer.js --pin PATH --ring-bytes N --mode decode|interpret');
  console.error('       engine-consumer.js --drain --obj O --ring-bytes N --mix tcp|mixed --seconds S --mode decode|interpret');
  process.exit(2);
}

const lb = koffi.load('libbpf.so.1');
let fd;
let producer;
if (drain) {
  producer = BpfObject.open(objPath);
  producer.map('events').setMaxEntries(ringBytes);
  producer.load();
  fd = producer.map('events').fd;
} else {
  const bpfObjGet = lb.func('int bpf_obj_get(const char *pathname)');
  fd = bpfObjGet(pin);
  if (fd < 0) {
    console.error(`engine-consumer: bpf_obj_get ${pin}: errno ${-fd}`);
    process.exit(1);
  }
}

// ---- stalls (see run())

let stalls = 0;
let stallMs = 0;
let stallMax = 0;
let stallPending = 0;
const stallLog = [];
let stallOpen = false;
let stallSince = 0n;
let stallT0 = 0n;
function stallEnd() {
  stallOpen = false;
  const ms = Number(process.hrtime.bigint() - stallSince) / 1e6;
  if (ms < 10) return;
  stalls++;
  stallMs += ms;
  stallMax = Math.max(stallMax, ms);
  if (stallLog.length < 10) stallLog.push({ at_ms: Math.round(Number(stallSince - stallT0) / 1e6), ms: Math.round(ms), pending_bytes: stallPending });
}

// ---- the handler under test ------------------------------------------------

let wireErrors = 0;
let sink = 0;
let events = 0;
const kinds = { exec: 0, exit: 0, tcp: 0, udp: 0, pkt: 0 };
let handler;
let interp;
if (mode === 'decode') {
  handler = (dv, off, len) => {
    const r = decodeRecord(dv, off, len);
    if (r.kind === 'wire_error') wireErrors++;
    else {
      kinds[r.kind]++;
      sink ^= r.task.pid;
    }
  };
} else {
  const processes = new ProcessCache({ cgroupRoot: cgroup2Mount() });
  const dns = new DnsCache();
  try {
    for (const h of parseHostsFile(readFileSync('/etc/hosts', 'utf8'))) for (const n of h.names) dns.addStatic(n, h.ip);
  } catch {
    // no /etc/hosts
  }
  interp = new Interpreter({ processes, dns, providers: new ProviderTable() }, (e) => {
    events++;
    sink ^= e.id.length;
  });
  handler = (dv, off, len) => interp.handle(decodeRecord(dv, off, len));
}
const inner = handler;
handler = (dv, off, len) => {
  if (stallOpen) stallEnd();
  inner(dv, off, len);
};

/** CPU time of this process, all threads (user + system), ms. */
function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// ---- GC accounting -----------------------------------------------------------

let gcMs = 0;
let gcCount = 0;
let counting = false;
new PerformanceObserver((list) => {
  if (!counting) return;
  for (const e of list.getEntries()) {
    gcMs += e.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

// ---- protocol ------------------------------------------------------------------

// The driver gone (its end of the pipe closed): nobody to report to.
process.stdout.on('error', () => process.exit(1));

const ring = new RingBuffer(fd, ringBytes, handler);
if (drain) {
  drainBench();
  process.exit(0);
}
process.stdout.write('READY\n');

let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (chunk) => {
  input += chunk;
  const nl = input.indexOf('\n');
  if (nl < 0) return;
  const m = /^GO (\d+) (\d+) (\d+)/.exec(input.slice(0, nl));
  if (!m) {
    console.error('engine-consumer: bad GO line');
    process.exit(1);
  }
  process.stdin.pause();
  run(BigInt(m[1]), BigInt(m[2]), BigInt(m[3]));
});
process.stdin.on('end', () => {
  if (!started) process.exit(1); // the driver went away before GO
});

let started = false;
function run(t0, warm, dur) {
  started = true;
  const now = () => process.hrtime.bigint(); // CLOCK_MONOTONIC, as the producer's
  const msUntil = (t) => Math.max(0, Number(t - now()) / 1e6);
  const tWin = t0 + warm;
  const tEnd = tWin + dur;
  const w = { c0: 0, c1: 0, t0: 0n, t1: 0n, gcMs: 0, gcCount: 0, events0: 0, events1: 0 };
  const flushTimer = interp ? setInterval(() => interp.flush(), 1000) : undefined;
  // Stall watch: a 5 ms timer notes when records are waiting in the ring
  // and none were handed out since its previous tick (the event loop was
  // free to run the timer, so the consumer was asleep, not busy); the stall
  // ends with the next record handed out. Stalls under 10 ms are ignored
  // (up to 5 ms of it is the timer's own granularity).
  let lastRecords = -1;
  let lastTick = now();
  const stallWatch = setInterval(() => {
    const t = now();
    if (!stallOpen && ring.records === lastRecords && ring.pendingBytes() > 0) {
      stallOpen = true;
      stallSince = lastTick;
      stallPending = ring.pendingBytes();
    }
    lastRecords = ring.records;
    lastTick = t;
  }, 5);
  stallT0 = t0;
  ring.start();
  setTimeout(function windowStart() {
    if (now() < tWin) return void setTimeout(windowStart, msUntil(tWin));
    w.t0 = now();
    w.cpu0 = cpuMs();
    w.c0 = ring.records;
    w.events0 = events;
    counting = true;
  }, msUntil(tWin));
  setTimeout(function windowEnd() {
    if (now() < tEnd) return void setTimeout(windowEnd, msUntil(tEnd));
    w.t1 = now();
    w.cpu1 = cpuMs();
    w.c1 = ring.records;
    w.events1 = events;
    counting = false;
    w.gcMs = gcMs;
    w.gcCount = gcCount;
    // Drain what is left (the producer stops at tEnd), then report.
    const quietAfter = tEnd + 300_000_000n;
    const hardStop = tEnd + 5_000_000_000n;
    const check = setInterval(() => {
      const t = now();
      if ((t >= quietAfter && ring.pendingBytes() === 0) || t >= hardStop) {
        clearInterval(check);
        clearInterval(stallWatch);
        if (flushTimer) clearInterval(flushTimer);
        ring.drainNow();
        const mem = process.memoryUsage();
        const stats = {
          window_ns: Number(w.t1 - w.t0),
          window_cpu_ms: w.cpu1 - w.cpu0,
          consumed: w.c1 - w.c0,
          total: ring.records,
          bad: wireErrors + (interp ? interp.stats.wireErrors + interp.stats.malformedDns + interp.stats.malformedTls : 0),
          events: w.events1 - w.events0,
          kinds: mode === 'decode' ? kinds : undefined,
          interpreter: interp ? interp.stats : undefined,
          stalls,
          stall_ms: Math.round(stallMs),
          stall_max_ms: Math.round(stallMax),
          stall_log: stallLog,
          gc_ms: Math.round(w.gcMs),
          gc_count: w.gcCount,
          rss_mb: Math.round(mem.rss / 1048576),
          checksum: sink,
          cpu_ms: cpuMs(),
        };
        process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
        ring.close();
        // process.exit flushes the CPU profile when run with --cpu-prof.
        setTimeout(() => process.exit(0), 10);
      }
    }, 20);
  }, msUntil(tEnd));
}

// ---- capacity: fill, then time the drain ----------------------------------------

function drainBench() {
  // struct bpf_test_run_opts (libbpf bpf.h)
  const Opts = koffi.struct('bench_bpf_test_run_opts', {
    sz: 'size_t',
    data_in: 'void *',
    data_out: 'void *',
    data_size_in: 'uint32_t',
    data_size_out: 'uint32_t',
    ctx_in: 'void *',
    ctx_out: 'void *',
    ctx_size_in: 'uint32_t',
    ctx_size_out: 'uint32_t',
    retval: 'uint32_t',
    repeat: 'int',
    duration: 'uint32_t',
    flags: 'uint32_t',
    cpu: 'uint32_t',
    batch_size: 'uint32_t',
  });
  const testRun = lb.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ bench_bpf_test_run_opts *opts)');
  const progFd = producer.program('produce').fd;
  const batch = 256;
  const mix = arg('--mix', 'tcp') === 'mixed' ? 1 : 0;
  const seconds = Number(arg('--seconds', '2'));
  const args = koffi.alloc('uint64_t', 5);
  const opts = {
    sz: koffi.sizeof(Opts), data_in: null, data_out: null, data_size_in: 0, data_size_out: 0,
    ctx_in: args, ctx_out: null, ctx_size_in: 40, ctx_size_out: 0,
    retval: 0, repeat: 0, duration: 0, flags: 0, cpu: 0, batch_size: 0,
  };
  const now = () => process.hrtime.bigint();
  const start = now();
  const warmEnd = start + 500_000_000n;
  const end = warmEnd + BigInt(Math.round(seconds * 1e9));
  let seq = 0;
  let drained = 0;
  let drainNs = 0n;
  let drainCpuUs = 0;
  let fillNs = 0n;
  let cycles = 0;
  const gc0 = { ms: 0, n: 0 };
  for (;;) {
    const t = now();
    if (t >= end && cycles >= 2) break;
    for (;;) {
      koffi.encode(args, 'uint64_t', [batch, seq, mix, process.ppid, 0], 5);
      opts.retval = 0;
      const err = testRun(progFd, opts);
      if (err) throw new Error(`bpf_prog_test_run_opts: errno ${-err}`);
      seq += opts.retval;
      if (opts.retval < batch) break;
    }
    const t1 = now();
    const c1 = process.cpuUsage();
    if (t1 >= warmEnd && !counting) {
      counting = true;
      gc0.ms = gcMs;
      gc0.n = gcCount;
    }
    const n = ring.drainNow();
    const t2 = now();
    const c2 = process.cpuUsage(c1);
    if (t1 >= warmEnd) {
      cycles++;
      drained += n;
      drainNs += t2 - t1;
      drainCpuUs += c2.user + c2.system;
      fillNs += t1 - t;
    }
  }
  const mem = process.memoryUsage();
  const stats = {
    drained,
    drain_ns: Number(drainNs),
    drain_cpu_ns: drainCpuUs * 1000,
    fill_ns: Number(fillNs),
    cycles,
    total: ring.records,
    bad: wireErrors + (interp ? interp.stats.wireErrors + interp.stats.malformedDns + interp.stats.malformedTls : 0),
    events,
    kinds: mode === 'decode' ? kinds : undefined,
    rss_mb: Math.round(mem.rss / 1048576),
    checksum: sink,
    cpu_ms: cpuMs(),
  };
  process.stdout.write(`STATS ${JSON.stringify(stats)}\n`);
  ring.close();
  producer.close();
}
