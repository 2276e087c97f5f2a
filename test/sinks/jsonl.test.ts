import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { BustedEvent } from '../../engine/model/event.js';
import { closeSync, openSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiscardSink, eventJson, isDevNull, LineSink } from '../../engine/sinks/jsonl.js';

const proc = Object.freeze({ pid: 7, comm: 'curl', cmdline: 'curl "quoted" \\ back\nslash', uid: 0 });
const events: BustedEvent[] = [
  { id: 'a-1', time: '2026-11-23T00:00:00.000000001Z', type: 'connect', process: proc, net: { protocol: 'tcp', family: 4, src_ip: '127.0.0.1', src_port: 1, dst_ip: '127.0.0.2', dst_port: 443 }, provider: 'openai' },
  { id: 'a-2', time: '2026-11-23T00:00:00.000000002Z', type: 'close', process: proc, net: { protocol: 'tcp', family: 6, src_ip: '::1', src_port: 1, dst_ip: '::1', dst_port: 2, bytes_sent: 0 } },
  { id: 'a-3', time: '2026-11-23T00:00:00.000000003Z', type: 'error', error: { code: 'BUSTED_E_WIRE', message: 'x\u0000y' } },
  { id: 'a-4', time: 't', type: 'exec', process: { pid: 1 }, provider: undefined },
  { id: 'a-5', time: 't', type: 'connect', net: { protocol: 'udp', family: 4, src_ip: '10.0.0.1', src_port: 53, dst_ip: '10.0.0.2', dst_port: 9, dst_host: 'we"ird\\name\u0001', duration_ms: NaN, bytes_sent: 1.5 }, provider: 'a"b' },
  { id: 'a"6', time: 'x\ny', type: 'decision', decision: { action: 'block', reasons: ['r'], enforced: true, subject: 'a-1' } },
];

describe('eventJson', () => {
  it('is JSON.stringify of the event, whatever the process object holds', () => {
    for (const e of [...events, ...events]) assert.equal(eventJson(e), JSON.stringify(e));
  });
});

describe('LineSink', () => {
  it('writes one line per event, in order, batched', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d) => (text += d));
    const sink = new LineSink('test', out);
    for (let i = 0; i < 1000; i++) sink.write({ ...events[0]!, id: `x-${i}` });
    await sink.close();
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 1000);
    assert.deepEqual(lines.map((l) => JSON.parse(l).id), Array.from({ length: 1000 }, (_, i) => `x-${i}`));
    assert.equal(sink.dropped, 0);
  });

  it('drops and counts beyond its queue bound instead of growing without limit', async () => {
    const out = new PassThrough({ highWaterMark: 1 });
    const sink = new LineSink('slow', out, { maxQueueBytes: 10_000 });
    for (let i = 0; i < 1000; i++) sink.write(events[0]!);
    assert.ok(sink.dropped > 900, `dropped ${sink.dropped}`);
    out.resume();
    await sink.close();
  });
});

describe('stdout on /dev/null', () => {
  it('is told apart from files, pipes and other character devices', () => {
    const file = join(tmpdir(), `busted-jsonl-${process.pid}`);
    const fds = [openSync('/dev/null', 'w'), openSync('/dev/zero', 'r'), openSync(file, 'w')];
    try {
      assert.deepEqual(fds.map(isDevNull), [true, false, false]);
    } finally {
      for (const fd of fds) closeSync(fd);
      unlinkSync(file);
    }
  });

  it('DiscardSink counts what it is given as delivered and makes nothing of it', async () => {
    const sink = new DiscardSink('stdout');
    for (const e of events) sink.write(e);
    await sink.close();
    assert.equal(sink.delivered, events.length);
    assert.equal(sink.dropped, 0);
  });
});
