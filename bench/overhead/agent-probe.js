// Preloaded into the agent by run.js when BENCH_OVERHEAD_PROFILE is set
// (node --import <this> bin/busted.js monitor ...). Once the agent says it is
// attached it
//   - starts V8's CPU profiler (BENCH_PROFILE_OUT=<file.cpuprofile>,
//     sampling every BENCH_PROFILE_INTERVAL_US, default 250 µs), and
//   - samples process.memoryUsage() every 200 ms (BENCH_MEM_OUT=<file.json>:
//     the sample with the largest rss, and the last one),
// and writes both when the process exits.
//
// Not `node --cpu-prof`: its sampling signal (SIGPROF, every 1 ms) arrives
// while the kernel verifies the BPF programs, the verifier gives up with
// EAGAIN on a pending signal, and the agent runs without its conn/pkt hooks.
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';

const profOut = process.env.BENCH_PROFILE_OUT;
const memOut = process.env.BENCH_MEM_OUT;
const session = profOut ? new Session() : undefined;
session?.connect();
let started = false;
let memMax;
let memLast;
const mb = (m) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, Math.round(v / 1048576)]));

function onAttached() {
  started = true;
  session?.post('Profiler.enable', () =>
    session.post('Profiler.setSamplingInterval', { interval: Number(process.env.BENCH_PROFILE_INTERVAL_US ?? 250) }, () => session.post('Profiler.start')),
  );
  if (memOut) {
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
  if (memOut && memMax) writeFileSync(memOut, JSON.stringify({ unit: 'MB', max: mb(memMax), last: mb(memLast) }) + '\n');
  // The in-thread inspector session answers synchronously.
  session?.post('Profiler.stop', (err, res) => {
    if (!err && res?.profile) writeFileSync(profOut, JSON.stringify(res.profile));
  });
});
