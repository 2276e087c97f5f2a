/**
 * --output file:PATH: rotation under load (nothing lost, nothing twice, in
 * order, no file past its size), the kept count, and logrotate's
 * move-then-SIGHUP against a real child process running busted's signal wiring.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileSink, parseFsync } from '../../engine/sinks/file.js';
import { makeEvent, seqs } from '../helpers/events.js';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'busted-file-sink-'));
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter(Boolean);
}

/** Files of a rotation set, oldest first: PATH.n … PATH.1, PATH. */
function rotationSet(path: string): string[] {
  const dir = join(path, '..');
  const base = path.slice(dir.length + 1);
  const nums = readdirSync(dir)
    .filter((n) => n.startsWith(`${base}.`))
    .map((n) => Number(n.slice(base.length + 1)))
    .filter((n) => Number.isInteger(n))
    .sort((a, b) => b - a);
  return [...nums.map((n) => `${path}.${n}`), path];
}

describe('file sink', () => {
  it('rotates under load: every event once, in order, no file past maxBytes', async () => {
    const dir = tmp();
    const path = join(dir, 'events.jsonl');
    const sink = new FileSink(path, { maxBytes: 64 << 10, keep: 1000, fsync: 'rotate' });
    const N = 20_000;
    // in bursts across event-loop turns, as the agent writes
    for (let i = 0; i < N; ) {
      for (let k = 0; k < 997 && i < N; k++) sink.write(makeEvent(i++));
      await new Promise((r) => setImmediate(r));
    }
    await sink.close();
    const files = rotationSet(path);
    assert.ok(files.length > 20, `only ${files.length} files`);
    for (const f of files) assert.ok(statSync(f).size <= 64 << 10, `${f} is ${statSync(f).size} bytes`);
    const got = files.flatMap((f) => seqs(lines(f)));
    assert.equal(got.length, N);
    assert.deepEqual(got, Array.from({ length: N }, (_, i) => i));
    assert.equal(sink.dropped, 0);
    assert.equal(sink.delivered, N);
    assert.equal(sink.rotations, files.length - 1);
    rmSync(dir, { recursive: true });
  });

  it('keeps only `keep` rotated files, the newest, and appends to an existing file', async () => {
    const dir = tmp();
    const path = join(dir, 'events.jsonl');
    writeFileSync(path, '{"id":"ev-old"}\n');
    const sink = new FileSink(path, { maxBytes: 16 << 10, keep: 3 });
    const N = 3000;
    for (let i = 0; i < N; i++) sink.write(makeEvent(i));
    await sink.close();
    assert.deepEqual(readdirSync(dir).sort(), ['events.jsonl', 'events.jsonl.1', 'events.jsonl.2', 'events.jsonl.3']);
    const got = rotationSet(path).flatMap((f) => seqs(lines(f)));
    // the newest events, contiguous up to the last
    assert.equal(got.at(-1), N - 1);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => N - got.length + i));
    assert.ok(sink.rotations > 3);
    rmSync(dir, { recursive: true });
  });

  it('drops and counts beyond its queue bound, and the rest arrives', async () => {
    const dir = tmp();
    const path = join(dir, 'events.jsonl');
    const sink = new FileSink(path, { maxQueueBytes: 50_000, maxBytes: 0 });
    for (let i = 0; i < 1000; i++) sink.write(makeEvent(i));
    assert.ok(sink.dropped > 0);
    await sink.close();
    assert.equal(lines(path).length + sink.dropped, 1000);
    rmSync(dir, { recursive: true });
  });

  it('reports a directory it cannot write to, drops, and does not throw', async () => {
    const msgs: string[] = [];
    const sink = new FileSink('/proc/busted-no-such-dir/x.jsonl', { onError: (m) => msgs.push(m) });
    for (let i = 0; i < 10; i++) sink.write(makeEvent(i));
    await sink.close();
    assert.equal(sink.dropped, 10);
    assert.match(msgs[0]!, /BUSTED_E_SINK: file:\/proc\/busted-no-such-dir\/x.jsonl: ENOENT/);
  });

  it('parses --file-fsync', () => {
    assert.equal(parseFsync('always'), 'always');
    assert.deepEqual(parseFsync('2.5'), { everyMs: 2500 });
    assert.throws(() => parseFsync('sometimes'), /expected never, rotate, always or a number/);
  });

  it('logrotate moves the file and sends SIGHUP: the writer reopens PATH; nothing lost or doubled', async () => {
    const dir = tmp();
    const path = join(dir, 'events.jsonl');
    const script = join(import.meta.dirname, '..', 'helpers', 'file-writer.js');
    const child = spawn(process.execPath, [script, path], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const until = async (pred: () => boolean, what: string) => {
      for (let i = 0; i < 400 && !pred(); i++) await new Promise((r) => setTimeout(r, 25));
      assert.ok(pred(), what);
    };
    await until(() => out.includes('ready') && existsSync(path) && statSync(path).size > 0, 'the writer started');
    // logrotate with the usual "create" + postrotate kill -HUP, run for real when installed
    const lr = spawnSync('logrotate', ['--version']);
    if (lr.status === 0) {
      const conf = join(dir, 'logrotate.conf');
      writeFileSync(conf, `${path} {\n  rotate 5\n  create 0640 root root\n  postrotate\n    kill -HUP ${child.pid}\n  endscript\n}\n`);
      const r = spawnSync('logrotate', ['-f', '-s', join(dir, 'state'), conf], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
    } else {
      assert.fail('logrotate is not installed (scripts/setup.sh installs it)');
    }
    await until(() => existsSync(path) && statSync(path).size > 0, 'the writer writes to the new PATH');
    child.stdin.end();
    await until(() => /wrote \d+/.test(out), 'the writer finished');
    const [, wrote, dropped] = /wrote (\d+) dropped (\d+)/.exec(out)!.map(Number);
    assert.equal(dropped, 0);
    const old = seqs(lines(`${path}.1`));
    const now = seqs(lines(path));
    assert.ok(old.length > 0 && now.length > 0, `before ${old.length}, after ${now.length}`);
    assert.deepEqual([...old, ...now], Array.from({ length: wrote! }, (_, i) => i));
    rmSync(dir, { recursive: true });
  });
});
