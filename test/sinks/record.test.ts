/**
 * The --record sink on real files: stable keys byte for byte as
 * fast-json-stable-stringify, a bounded queue in front of a reader that
 * does not keep up (a FIFO), a disk that is full (/dev/full) and a disk
 * that fills up and frees again (a 256 KiB tmpfs in a private mount
 * namespace of a child process).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import stringify from 'fast-json-stable-stringify';
import type { BustedEvent } from '../../engine/model/event.js';
import { RecordSink, stableEventJson, type RecordProblem } from '../../engine/sinks/record.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const proc = Object.freeze({ pid: 7, comm: 'curl', cmdline: 'curl "quoted" \\ back\nslash', uid: 0, cgroup_path: '/a', exe: '/usr/bin/curl' });
const events: BustedEvent[] = [
  { id: 'a-1', time: '2026-11-23T00:00:00.000000001Z', type: 'connect', process: proc, net: { protocol: 'tcp', family: 4, src_ip: '127.0.0.1', src_port: 1, dst_ip: '127.0.0.2', dst_port: 443 }, provider: 'openai' },
  { id: 'a-2', time: '2026-11-23T00:00:00.000000002Z', type: 'close', process: proc, net: { protocol: 'tcp', family: 6, src_ip: '::1', src_port: 1, dst_ip: '::1', dst_port: 2, bytes_sent: 0, duration_ms: NaN } },
  { id: 'a-3', time: 't', type: 'error', error: { code: 'BUSTED_E_WIRE', message: 'x\u0000y' } },
  { id: 'a-4', time: 't', type: 'exec', process: { pid: 1 }, provider: undefined },
  { id: 'a"5', time: 'x\ny', type: 'llm_request', llm: { model: 'm', tools: [{ b: 1, a: [2, { d: 1, c: undefined }] }], usage: { output_tokens: 1, input_tokens: 2 } }, decision: { action: 'block', reasons: ['r'], enforced: true, subject: 'a-1' } },
];

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'busted-record-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const tick = () => new Promise((r) => setImmediate(r));

describe('stableEventJson', () => {
  it('is fast-json-stable-stringify of the event, the process object cached or not', () => {
    for (const e of [...events, ...events]) assert.equal(stableEventJson(e), stringify(e));
  });
});

describe('RecordSink', () => {
  it('appends one line per event with sorted keys, in order', async () => {
    const path = join(tmp(), 'rec.jsonl');
    writeFileSync(path, '{"id":"earlier","time":"t","type":"exec"}\n');
    const sink = new RecordSink('record', path);
    for (let i = 0; i < 5000; i++) {
      sink.write({ ...events[i % events.length]!, id: `x-${i}` });
      if (i % 700 === 0) await tick();
    }
    await sink.close();
    const lines = readFileSync(path, 'utf8').split('\n');
    assert.equal(lines.pop(), '', 'the file ends with a newline');
    assert.equal(lines.length, 5001);
    assert.equal(JSON.parse(lines[0]!).id, 'earlier', 'appended, not overwritten');
    lines.slice(1).forEach((l, i) => {
      const v = JSON.parse(l) as Record<string, unknown>;
      assert.equal(v.id, `x-${i}`);
      assert.equal(l, stringify(v));
    });
    assert.equal(sink.dropped, 0);
    assert.equal(sink.written, 5000);
  });

  it('refuses a path it cannot open, before anything runs', () => {
    assert.throws(() => new RecordSink('record', join(tmp(), 'no', 'such', 'dir.jsonl')), /BUSTED_E_USAGE|--record .*ENOENT/);
  });

  it('drops and counts past its queue bound when the reader is slow, and marks the gap in the recording', async () => {
    const fifo = join(tmp(), 'slow.fifo');
    execFileSync('mkfifo', [fifo]);
    // the reader end is open (so opening for writing does not wait) but nothing reads yet
    const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const sink = new RecordSink('record', fifo, { maxQueueBytes: 20_000 });
    for (let i = 0; i < 3000; i++) {
      sink.write({ ...events[0]!, id: `s-${i}` });
      if (i % 100 === 0) await tick();
    }
    assert.ok(sink.dropped > 1000, `dropped ${sink.dropped}`);
    const dropped = sink.dropped;
    // now read, and keep writing a few: the first line after the gap is the lost marker
    let text = '';
    const buf = Buffer.alloc(1 << 16);
    const drain = () => {
      for (;;) {
        try {
          const n = readSync(rfd, buf);
          if (n <= 0) return;
          text += buf.toString('utf8', 0, n);
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return;
          throw e;
        }
      }
    };
    const reading = setInterval(drain, 1);
    await new Promise((r) => setTimeout(r, 200));
    sink.write({ ...events[0]!, id: 'after' });
    await sink.close();
    clearInterval(reading);
    drain();
    closeSync(rfd);
    const lines = text.trim().split('\n').map((l) => JSON.parse(l) as BustedEvent);
    const lost = lines.filter((e) => e.type === 'lost');
    assert.ok(lost.length >= 1, 'the gaps are marked');
    assert.equal(lost.reduce((n, e) => n + e.lost!.count, 0), dropped, 'the lost lines add up to what was dropped');
    for (const e of lost) assert.match(e.lost!.reason, /queue full/);
    // ids around each marker jump by exactly its count
    let expect = 0;
    for (const e of lines.slice(0, -1)) {
      if (e.type === 'lost') expect += e.lost!.count;
      else assert.equal(e.id, `s-${expect++}`);
    }
    assert.equal(lines.at(-1)!.id, 'after');
    assert.equal(lines.length - lost.length, 3000 - dropped + 1);
  });

  it('reports a full disk (/dev/full: ENOSPC) once, counts what it drops, and never throws', async () => {
    const problems: RecordProblem[] = [];
    const sink = new RecordSink('record:/dev/full', '/dev/full', { onProblem: (p) => problems.push(p), retryMs: 20 });
    for (let i = 0; i < 200; i++) {
      sink.write({ ...events[0]!, id: `f-${i}` });
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    await new Promise((r) => setTimeout(r, 100));
    for (let i = 0; i < 10; i++) sink.write(events[1]!);
    await sink.close();
    assert.equal(problems.length, 1, JSON.stringify(problems));
    assert.equal(problems[0]!.kind, 'failed');
    assert.equal(problems[0]!.code, 'ENOSPC');
    assert.match(problems[0]!.message, /ENOSPC/);
    assert.equal(sink.dropped, 210);
    assert.equal(sink.written, 0);
  });

  const nsSkip = process.getuid?.() !== 0 ? 'needs root to mount a tmpfs in a private mount namespace' : !existsSync('/usr/bin/unshare') ? 'needs unshare(1)' : undefined;
  it('cuts a half-written line off when the disk fills, and writes again (with a lost line) once there is room', { skip: nsSkip }, () => {
    const dir = tmp();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const script = join(dir, 'fill.mjs');
    const record = join(PACKAGE_ROOT, 'dist', 'engine', 'sinks', 'record.js');
    writeFileSync(
      script,
      `import { RecordSink } from ${JSON.stringify(record)};
import { writeFileSync, unlinkSync, readFileSync, statfsSync } from 'node:fs';
const mnt = ${JSON.stringify(mnt)};
const problems = [];
// leave about 40 KiB free
const st = statfsSync(mnt);
writeFileSync(mnt + '/filler', Buffer.alloc(Number(st.bavail * st.bsize) - 40 * 1024));
const sink = new RecordSink('record', mnt + '/rec.jsonl', { retryMs: 50, resumeFreeBytes: 64 * 1024, onProblem: (p) => problems.push(p) });
const pad = 'p'.repeat(300);
let i = 0;
const write = (n) => { for (let k = 0; k < n; k++) sink.write({ id: 'e-' + i++, time: 't', type: 'exec', process: { pid: 1, cmdline: pad } }); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
for (let r = 0; r < 40; r++) { write(20); await sleep(5); }
const droppedWhileFull = sink.dropped;
unlinkSync(mnt + '/filler');
await sleep(200);
for (let r = 0; r < 5; r++) { write(20); await sleep(5); }
await sink.close();
const text = readFileSync(mnt + '/rec.jsonl', 'utf8');
process.stdout.write(JSON.stringify({ problems, droppedWhileFull, dropped: sink.dropped, written: sink.written, text }));
`,
    );
    const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs -o size=256k busted-test "$1" && exec "$2" "$3"`, 'sh', mnt, process.execPath, script], {
      encoding: 'utf8',
      maxBuffer: 64 << 20,
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { problems: RecordProblem[]; droppedWhileFull: number; dropped: number; written: number; text: string };
    assert.ok(out.droppedWhileFull > 0, 'the disk did fill up');
    assert.deepEqual(
      out.problems.map((p) => [p.kind, p.code]),
      [
        ['failed', 'ENOSPC'],
        ['resumed', undefined],
      ],
    );
    assert.ok(out.text.endsWith('\n'));
    const lines = out.text.trimEnd().split('\n');
    const parsed = lines.map((l, n) => {
      try {
        return JSON.parse(l) as BustedEvent;
      } catch {
        return assert.fail(`line ${n + 1} is not whole JSON: ${l.slice(0, 80)}`);
      }
    });
    const lost = parsed.filter((e) => e.type === 'lost');
    assert.equal(lost.length, 1, 'one gap, one lost line');
    const kept = parsed.filter((e) => e.type !== 'lost');
    assert.equal(kept.length + lost[0]!.lost!.count, 900, 'every event is either in the file or counted in the lost line');
    assert.equal(lost[0]!.lost!.count, out.dropped);
    assert.equal(kept.length, out.written);
    assert.equal(kept.at(-1)!.id, 'e-899', 'events after the disk freed up are recorded');
    // ids stay in order around the gap
    const nums = kept.map((e) => Number(e.id.slice(2)));
    assert.deepEqual(nums, [...nums].sort((a, b) => a - b));
  });
});
