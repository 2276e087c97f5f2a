import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlainStreams, type PlainPiece } from '../../engine/interpret/plain.js';
import type { PktRecord } from '../../engine/decode/records.js';

const task = { pid: 1, tid: 1, ppid: 0, uid: 0, gid: 0, comm: 'x', cgroupId: 0, flags: 0 };
const flow = { family: 4 as const, protocol: 6, saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 11434 };

function rec(seq: number, text: string, o: Partial<PktRecord> = {}): PktRecord {
  const data = new TextEncoder().encode(text);
  return { kind: 'pkt', ts: 1, task, pktKind: 'http', sockId: 9, flow, egress: true, len: data.length, data, seq: seq >>> 0, ...o } as PktRecord;
}

/** The pieces as text, a gap as [gap N]. */
function text(pieces: PlainPiece[]): string {
  return pieces.map((p) => new TextDecoder().decode(p.data) + (p.gap ? `[gap ${p.gap}]` : '')).join('');
}

describe('PlainStreams: a TCP stream put back in order', () => {
  it('passes records that follow on, each direction on its own', () => {
    const s = new PlainStreams();
    assert.equal(text(s.add(rec(1000, 'POST /api/chat'))), 'POST /api/chat');
    assert.equal(text(s.add(rec(1014, ' HTTP/1.1'))), ' HTTP/1.1');
    assert.equal(text(s.add(rec(7, 'HTTP/1.1 200', { egress: false }))), 'HTTP/1.1 200');
    const p = s.add(rec(19, ' OK', { egress: false }));
    assert.equal(text(p), ' OK');
    assert.equal(p[0]!.direction, 'read');
  });

  it('gives only what is new in a retransmission, nothing for a repeat', () => {
    const s = new PlainStreams();
    s.add(rec(100, 'abcdef'));
    assert.equal(text(s.add(rec(100, 'abcdef'))), '');
    assert.equal(text(s.add(rec(103, 'defghi'))), 'ghi');
  });

  it('holds a record that came early until the hole fills', () => {
    const s = new PlainStreams();
    s.add(rec(0, 'ab'));
    assert.equal(text(s.add(rec(4, 'ef'))), '');
    assert.equal(text(s.add(rec(2, 'cd'))), 'cdef');
  });

  it('gives a hole up as lost once too many records wait behind it', () => {
    const s = new PlainStreams();
    s.add(rec(0, 'ab'));
    let out = '';
    for (let i = 0; i < 9; i++) out += text(s.add(rec(10 + i, String(i))));
    assert.equal(out, '[gap 8]012345678');
  });

  it('says how much of a segment the kernel did not copy', () => {
    const s = new PlainStreams();
    s.add(rec(0, 'ab'));
    assert.equal(text(s.add(rec(2, '', { len: 500 }))), '[gap 500]');
    assert.equal(text(s.add(rec(502, 'z'))), 'z');
  });

  it('follows the sequence number across 2^32', () => {
    const s = new PlainStreams();
    assert.equal(text(s.add(rec(0xfffffffe, 'abcd'))), 'abcd');
    assert.equal(text(s.add(rec(2, 'ef'))), 'ef');
    assert.equal(text(s.add(rec(0xffffffff, 'bcd'))), '', 'a repeat from before the wrap');
  });

  it('forgets a connection', () => {
    const s = new PlainStreams();
    s.add(rec(0, 'ab'));
    assert.ok(s.has(9));
    s.forget(9);
    assert.ok(!s.has(9));
    assert.equal(text(s.add(rec(50, 'new start'))), 'new start');
  });
});
