/**
 * The outputs thread (threaded.ts + outputs-thread.ts): events written on
 * this thread reach the sinks on the other in order, their counters come
 * back, SIGHUP's reopen crosses over, and what the thread cannot take is
 * dropped here and counted on every member.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputThread } from '../../engine/sinks/threaded.js';
import { specName, type OutputSpec } from '../../engine/sinks/outputs-thread.js';
import { makeEvent, seqs } from '../helpers/events.js';

const lines = (p: string) => readFileSync(p, 'utf8').split('\n').filter(Boolean);

describe('outputs thread', () => {
  it('carries every event to its sinks in order, reopens on request, reports counts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-threaded-'));
    const specs: OutputSpec[] = [
      { kind: 'file', path: join(dir, 'a.jsonl'), options: { maxBytes: 0 } },
      { kind: 'file', path: join(dir, 'b.jsonl'), options: { maxBytes: 64 << 10, keep: 100 } },
    ];
    const t = new OutputThread(specs, specs.map(specName));
    assert.deepEqual(t.members.map((m) => m.name), [`file:${join(dir, 'a.jsonl')}`, `file:${join(dir, 'b.jsonl')}`]);
    for (let i = 0; i < 5000; i++) t.write(makeEvent(i));
    await new Promise((r) => setTimeout(r, 300));
    renameSync(join(dir, 'a.jsonl'), join(dir, 'a.jsonl.old'));
    t.reopen();
    for (let i = 5000; i < 10_000; i++) t.write(makeEvent(i));
    await t.close();
    assert.deepEqual([...seqs(lines(join(dir, 'a.jsonl.old'))), ...seqs(lines(join(dir, 'a.jsonl')))], Array.from({ length: 10_000 }, (_, i) => i));
    assert.ok(lines(join(dir, 'a.jsonl')).length > 0, 'written to the reopened file');
    for (const m of t.members) {
      assert.equal(m.delivered, 10_000, m.name);
      assert.equal(m.dropped, 0);
      assert.equal(m.queued, 0);
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('drops here, counted on every member, what the thread has not taken beyond the bound', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-threaded-'));
    const specs: OutputSpec[] = [{ kind: 'file', path: join(dir, 'a.jsonl'), options: {} }];
    const t = new OutputThread(specs, specs.map(specName), { maxInFlightBytes: 100_000 });
    // all in one turn: nothing reaches the thread before the bound is hit
    for (let i = 0; i < 3000; i++) t.write(makeEvent(i));
    await t.close();
    const got = seqs(lines(join(dir, 'a.jsonl')));
    const m = t.members[0]!;
    assert.ok(m.dropped > 0, 'some dropped');
    assert.equal(got.length + m.dropped, 3000);
    assert.equal(m.delivered, got.length);
    assert.deepEqual(got, Array.from({ length: got.length }, (_, i) => i), 'what went is the first part, in order');
    rmSync(dir, { recursive: true, force: true });
  });
});
