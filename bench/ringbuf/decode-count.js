// Instructions per record for the engine's decode (and interpret) of the
// ring buffer benchmark's records, counted by valgrind (callgrind), which
// counts instructions deterministically whatever else the machine runs.
// Wall-clock rates on a shared 2-CPU VM drift by ±20% between runs; this
// does not, so it is what to compare before and after a change to
// engine/decode/ or the ring reader.
//
//   node bench/ringbuf/decode-count.js [--mix tcp|mixed] [--mode decode|interpret|agent|enforce] [--model 0]
//                                      [--node-flags '--max-semi-space-size=1 ...']
//
// Steps:
//   1. capture: the benchmark's BPF producer (producer.bpf.o, built by
//      run.js) fills a ring once; its records are copied out into
//      build/bench/records-<mix>.bin (real bytes in the real wire layout).
//      Needs root; done once per mix (delete the file to capture again).
//   2. count: the same script, in child mode, lays those records out in an
//      in-memory ring (RingReader over plain memory, as test/kernel/ring.test.ts
//      does) and drains it with the engine's handler, a warm-up number of
//      times and then N more; run twice under callgrind with two values of
//      N, the difference in instructions divided by the difference in
//      records is the cost per record, JIT warm-up and start-up cancelled
//      out. GC work is included (it is part of the cost).
//   Without valgrind, `--child WARM N` alone prints the CPU time per record
//   (noisy on a shared machine; add node's --cpu-prof to see where it goes).
//
// Prints RESULT lines (bench/run.js protocol): decode_instructions_per_record
// {mix, mode}.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const out = join(root, 'build', 'bench');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const mix = arg('--mix', 'mixed');
const mode = arg('--mode', 'decode');
const recordsFile = join(out, `records-${mix}.bin`);

async function capture() {
  const koffi = (await import('koffi')).default;
  const { BpfObject, RingBuffer } = await import('../../dist/engine/kernel/libbpf.js');
  const obj = join(out, 'producer.bpf.o');
  if (!existsSync(obj)) throw new Error(`${obj} is missing: run node bench/ringbuf/run.js once (it builds it)`);
  const ringBytes = 4 << 20;
  const producer = BpfObject.open(obj);
  producer.map('events').setMaxEntries(ringBytes);
  producer.load();
  const chunks = [];
  let total = 0;
  const ring = new RingBuffer(producer.map('events').fd, ringBytes, (dv, off, len) => {
    const b = new Uint8Array(4 + len);
    new DataView(b.buffer).setUint32(0, len, true);
    b.set(new Uint8Array(dv.buffer, dv.byteOffset + off, len), 4);
    chunks.push(b);
    total += b.length;
  });
  const lb = koffi.load('libbpf.so.1');
  const Opts = koffi.struct('count_bpf_test_run_opts', {
    sz: 'size_t', data_in: 'void *', data_out: 'void *', data_size_in: 'uint32_t', data_size_out: 'uint32_t',
    ctx_in: 'void *', ctx_out: 'void *', ctx_size_in: 'uint32_t', ctx_size_out: 'uint32_t',
    retval: 'uint32_t', repeat: 'int', duration: 'uint32_t', flags: 'uint32_t', cpu: 'uint32_t', batch_size: 'uint32_t',
  });
  const testRun = lb.func('int bpf_prog_test_run_opts(int prog_fd, _Inout_ count_bpf_test_run_opts *opts)');
  const args = koffi.alloc('uint64_t', 5);
  const opts = { sz: koffi.sizeof(Opts), data_in: null, data_out: null, data_size_in: 0, data_size_out: 0, ctx_in: args, ctx_out: null, ctx_size_in: 40, ctx_size_out: 0, retval: 0, repeat: 0, duration: 0, flags: 0, cpu: 0, batch_size: 0 };
  // 64 runs of 256 records: 16,384 records (the mixed mix repeats every 256)
  let seq = 0;
  for (let i = 0; i < 64; i++) {
    koffi.encode(args, 'uint64_t', [256, seq, mix === 'mixed' ? 1 : 0, process.ppid, 0], 5);
    opts.retval = 0;
    const err = testRun(producer.program('produce').fd, opts);
    if (err) throw new Error(`bpf_prog_test_run_opts: errno ${-err}`);
    seq += opts.retval;
    ring.drainNow();
  }
  ring.close();
  producer.close();
  const all = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) {
    all.set(c, at);
    at += c.length;
  }
  mkdirSync(out, { recursive: true });
  writeFileSync(recordsFile, all);
  console.error(`decode-count: captured ${chunks.length} ${mix} records into ${recordsFile}`);
}

/** Child: drain the captured records `warm` + `n` times through the engine. */
async function count(warm, n) {
  const { RingReader } = await import('../../dist/engine/kernel/ring.js');
  const { decodeRecord } = await import('../../dist/engine/decode/records.js');
  const file = readFileSync(recordsFile);
  // lay the records out as the kernel does: 8-byte header, 8-byte aligned
  const recs = [];
  for (let at = 0; at < file.length; ) {
    const len = file.readUInt32LE(at);
    recs.push(file.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  let bytes = 0;
  for (const r of recs) bytes += (r.length + 8 + 7) & ~7;
  let size = 1;
  while (size < bytes) size *= 2;
  const data = new Uint8Array(2 * size);
  const dv = new DataView(data.buffer);
  let pos = 0;
  for (const r of recs) {
    dv.setUint32(pos, r.length, true);
    data.set(r, pos + 8);
    pos += (r.length + 8 + 7) & ~7;
  }
  const consumer = new BigUint64Array(1);
  const producer = new BigUint64Array([BigInt(pos)]);
  let sink = 0;
  let handler;
  let flushAll = () => {};
  if (mode === 'decode') {
    handler = (v, off, len) => {
      const r = decodeRecord(v, off, len);
      sink ^= r.kind.length;
    };
  } else {
    const { Interpreter } = await import('../../dist/engine/interpret/interpreter.js');
    const { ProcessCache } = await import('../../dist/engine/enrich/process.js');
    const { DnsCache } = await import('../../dist/engine/enrich/dns-cache.js');
    const { ProviderTable } = await import('../../dist/engine/enrich/provider.js');
    let emit = (e) => {
      sink ^= e.id.length;
    };
    if (mode === 'agent' || mode === 'enforce') {
      // What engine/pipeline.ts does after the interpreter, for `busted
      // monitor --format json` (the shipped classifier annotating, stdout's
      // JSON lines) and `busted enforce` (plus the decide stage on the
      // shipped policies, a decision event per event as --format json
      // reports allows too); stdout is a stream that takes every chunk at
      // once, flushed after every pass.
      const { Writable } = await import('node:stream');
      const { LineSink } = await import('../../dist/engine/sinks/jsonl.js');
      const { Classifier } = await import('../../dist/engine/ml/classifier.js');
      const { Clock } = await import('../../dist/engine/interpret/clock.js');
      const out = new LineSink('stdout', new Writable({ write: (chunk, enc, cb) => cb() }));
      const classifier = arg('--model', '1') === '0' ? undefined : await Classifier.load();
      const clock = new Clock();
      let decide;
      if (mode === 'enforce') {
        const { Decider, decisionEvent } = await import('../../dist/engine/decide/decider.js');
        const { PolicyEngine } = await import('../../dist/engine/policy/engine.js');
        const decider = new Decider(await PolicyEngine.load(join(root, 'policies')));
        decide = (e) => decisionEvent(`${e.id}-d`, clock.nowRfc3339(), e, decider.decide(e), false, decider.revision);
      }
      emit = (e) => {
        classifier?.annotate(e);
        const d = decide?.(e);
        out.write(e);
        if (d) out.write(d);
      };
      flushAll = () => out.flush();
    }
    const interp = new Interpreter({ processes: new ProcessCache({ cgroupRoot: undefined }), dns: new DnsCache(), providers: new ProviderTable(), runId: 'count' }, emit);
    handler = (v, off, len) => interp.handle(decodeRecord(v, off, len));
  }
  const pass = () => {
    consumer[0] = 0n;
    new RingReader({ consumer, producer, data: dv, size }).drain(handler);
    flushAll();
  };
  for (let i = 0; i < warm; i++) pass();
  const c0 = process.cpuUsage();
  for (let i = 0; i < n; i++) pass();
  const c = process.cpuUsage(c0);
  const cpuNsPerRecord = n ? Math.round(((c.user + c.system) * 1000) / (recs.length * n)) : 0;
  const mem = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ records: recs.length * n, cpu_ns_per_record: cpuNsPerRecord, rss_mb: Math.round(mem.rss / 1048576), heap_total_mb: Math.round(mem.heapTotal / 1048576), sink })}\n`);
}

function callgrind(warm, n) {
  const r = spawnSync('valgrind', ['--tool=callgrind', '--callgrind-out-file=/dev/null', '--smc-check=all-non-file', process.execPath, '--single-threaded', ...arg('--node-flags', '').split(' ').filter(Boolean), fileURLToPath(import.meta.url), '--child', String(warm), String(n), '--mix', mix, '--mode', mode, '--model', arg('--model', '1')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const m = /Collected : (\d+)/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`valgrind failed (${r.status}): ${r.stderr.slice(-2000)}`);
  const { records } = JSON.parse(r.stdout.trim().split('\n').pop());
  return { ir: Number(m[1]), records };
}

if (process.argv.includes('--child')) {
  const i = process.argv.indexOf('--child');
  await count(Number(process.argv[i + 1]), Number(process.argv[i + 2]));
} else {
  if (!existsSync(recordsFile)) await capture();
  const warm = Number(arg('--warm', '20'));
  const n1 = Number(arg('--n', '10'));
  const a = callgrind(warm, 0);
  const b = callgrind(warm, n1);
  const per = (b.ir - a.ir) / b.records;
  process.stdout.write(`RESULT ${JSON.stringify({ metric: 'decode_instructions_per_record', value: Math.round(per), unit: 'instructions', mix, mode, model: arg('--model', '1') !== '0', node_flags: arg('--node-flags', ''), records: b.records, warm })}\n`);
}
