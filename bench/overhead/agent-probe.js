// Preloaded into the agent by run.js when BENCH_OVERHEAD_PROFILE is set
// (node --import <this> bin/busted.js monitor ...). Once the agent says it is
// attached it
//   - starts V8's CPU profiler (BENCH_PROFILE_OUT=<file.cpuprofile>,
//     sampling every BENCH_PROFILE_INTERVAL_US, default 250 µs), and
//   - samples process.memoryUsage() every 200 ms (BENCH_MEM_OUT=<file.json>:
//     the sample with the largest rss, and the last one) and counts the
//     garbage collections by kind, with their total pause time (gc),
// and writes both when the process exits.
//
// Profiling starts once the agent is attached, so the profile is of the
// workload, not of the start (`node --cpu-prof` works too since the loader
// blocks SIGPROF while the verifier runs: engine/kernel/libbpf.ts).
import { Session } from 'node:inspector';
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';

const profOut = process.env.BENCH_PROFILE_OUT;
// BENCH_HEAP_OUT=<file.heapprofile>: V8's sampling heap profiler instead of
// the CPU profiler, counting what was allocated (collected objects too)
const heapOut = process.env.BENCH_HEAP_OUT;
const memOut = process.env.BENCH_MEM_OUT;
const session = profOut || heapOut ? new Session() : undefined;
session?.connect();
let started = false;
let memMax;
let memLast;
const GC_KINDS = { [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor', [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major', [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental', [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb' };
const gc = {};
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const k = GC_KINDS[e.detail?.kind] ?? String(e.detail?.kind);
    const g = (gc[k] ??= { count: 0, ms: 0 });
    g.count++;
    g.ms += e.duration;
  }
});
const mb = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1048576)]));

function onAttached() {
  started = true;
  if (heapOut) {
    session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  } else {
    session?.post('Profiler.enable', () =>
      session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 250) }, () => session.post('Profiler.start')),
    );
  }
  if (memOut) {
    gcObserver.observe({ entryTypes: ['gc'] });
    setInterval(() => {
      memLast = process.memoryUsage();
      if (!memMax || memLast.rss > memMax.rss) memMax = memLast;
    }, 200).unref();
  }
}

const origWrite = process.stderr.write.bind(process.stderr);
process.stderr.write = (chunk, ...rest) => {
  if (!started && /busted: (monitoring|enforcing on)/.test(String(chunk))) onAttached();
  return origWrite(chunk, ...rest);
};

process.on('exit', () => {
  if (!started) return;
  if (memOut && memMax) writeFileSync(memOut, JSON.stringify({ unit: 'MB', max: mb(memMax), last: mb(memLast), gc: Object.fromEntries(Object.entries(gc).map(([k, g]) => [k, { count: g.count, ms: Math.round(g.ms) }])) }) + '\n');
  // The in-thread inspector session answers synchronously.
  if (heapOut) {
    session.post('HeapProfiler.stopSampling', (err, res) => {
      if (!err && res?.profile) writeFileSync(heapOut, JSON.stringify(res.profile));
    });
    return;
  }
  session?.post('Profiler.stop', (err, res) => {
    if (!err && res?.profile) writeFileSync(profOut, JSON.stringify(res.profile));
  });
});
