import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PlainStreams, type PlainPiece } from '../../engine/interpret/plain.js';
import type { KernelRecord, PktRecord } from '../../engine/decode/records.js';
import type { BustedEvent } from '../../engine/model/event.js';
import { Interpreter } from '../../engine/interpret/interpreter.js';
import { ProcessCache } from '../../engine/enrich/process.js';
import { DnsCache } from '../../engine/enrich/dns-cache.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { prng } from '../helpers/prng.js';

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

  it('fuzzed (seeded): a stream cut at random, its pieces repeated, overlapping and a little out of order, comes out whole and once', () => {
    for (let seed = 1; seed <= 300; seed++) {
      const rnd = prng(seed);
      const n = 1 + Math.floor(rnd() * 5000);
      const bytes = Uint8Array.from({ length: n }, () => Math.floor(rnd() * 256));
      const start = Math.floor(rnd() * 2 ** 32); // anywhere, wrap included
      // segments as TCP sends them, then some sent again (whole, or from part way: a retransmission that coalesced)
      const segs: Array<[number, number]> = [];
      for (let at = 0; at < n; ) {
        const len = Math.min(n - at, 1 + Math.floor(rnd() * 700));
        segs.push([at, len]);
        at += len;
      }
      const sent: Array<[number, number]> = [];
      for (const sg of segs) {
        sent.push(sg);
        if (rnd() < 0.2) {
          const back = sent[Math.floor(rnd() * sent.length)]!;
          const cut = Math.floor(rnd() * back[1]);
          sent.push([back[0] + cut, back[1] - cut]);
        }
      }
      // a neighbour swapped now and then (never past the 8 records a hole waits for)
      for (let i = 1; i < sent.length; i++) if (rnd() < 0.1) [sent[i - 1], sent[i]] = [sent[i]!, sent[i - 1]!];
      const s = new PlainStreams();
      const out: number[] = [];
      let gaps = 0;
      for (const [at, len] of sent) {
        if (len === 0) continue;
        for (const p of s.add(rec((start + at) >>> 0, '', { data: bytes.subarray(at, at + len), len }))) {
          out.push(...p.data);
          gaps += p.gap;
        }
      }
      // the first record sets where the stream starts: a swap there starts it late
      const first = sent.find(([, len]) => len > 0)![0];
      assert.equal(gaps, 0, `seed ${seed}: no gap`);
      assert.deepEqual(Uint8Array.from(out), bytes.subarray(first), `seed ${seed}: the stream whole, once`);
    }
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

describe('Interpreter: plain-text HTTP read and held (records made in memory)', () => {
  const hdrs = Uint8Array.from(Buffer.from('450000b572c440004006c97c7f0000017f000001864e46a13c11a0a8aa72327180180040fea900000101080a1680d164b4a99277', 'hex'));
  const enc = (t: string) => new TextEncoder().encode(t);
  const setup = () => {
    const events: BustedEvent[] = [];
    const moves: Array<{ release: number | undefined; skipped: boolean }> = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainHold: (_h, release, skipped) => moves.push({ release, skipped }) },
      (e) => events.push(e),
    );
    let seq = 1000;
    /** a segment out: held (its headers first, as the kernel sends them) or not */
    const out = (text: string, held: boolean, at = seq) => {
      const data = enc(text);
      if (held) interp.handle({ ...rec(at, '', { pktKind: 'http_held', len: data.length }), data: hdrs } as KernelRecord);
      interp.handle(rec(at, text) as KernelRecord);
      seq = Math.max(seq, at + data.length);
    };
    return { events, moves, interp, out, next: () => seq };
  };
  const head = (len: number, extra = '') => `POST /api/chat HTTP/1.1\r\nHost: 127.0.0.1:11434\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n${extra}\r\n`;
  const body = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content: 'q-plain' }] });

  it('reads an Ollama call off the stream: an llm_request with net and no tls; a whole held request is let go past its end', () => {
    const { events, moves, out } = setup();
    out(head(body.length) + body, true);
    const req = events.find((e) => e.type === 'llm_request');
    assert.equal(req?.llm?.user_message, 'q-plain');
    assert.equal(req?.provider, 'ollama');
    assert.equal(req?.tls, undefined);
    assert.equal(req?.net?.dst_ip, '127.0.0.1');
    assert.deepEqual(moves, [{ release: 1000 + head(body.length).length + body.length, skipped: false }]);
  });

  it('a head alone: asked for more once, then let go (its body is held next and decided)', () => {
    const { events, moves, out, next } = setup();
    const h = head(body.length, 'Expect: 100-continue\r\n');
    out(h, true);
    assert.deepEqual(moves, [{ release: undefined, skipped: false }], 'asked to try again');
    out(h, true, 1000); // the retry: nothing appended
    assert.deepEqual(moves[1], { release: 1000 + h.length, skipped: false }, 'the head goes');
    out(body, true, next());
    assert.equal(events.find((e) => e.type === 'llm_request')?.llm?.user_message, 'q-plain');
    assert.deepEqual(moves[2], { release: 1000 + h.length + body.length, skipped: false });
  });

  it('a request larger than a segment: each full segment that leaves it unfinished is let go at once, and the one that completes it is held until decided', () => {
    const { events, moves, out, next } = setup();
    const content = 'q-big ' + 'x'.repeat(150_000) + ' q-big-end';
    const whole = JSON.stringify({ model: 'llama3.2', messages: [{ role: 'user', content }] });
    const text = head(whole.length) + whole;
    const cuts = [0, 64_000, 128_000, text.length];
    for (let i = 0; i < 3; i++) {
      out(text.slice(cuts[i], cuts[i + 1]), true, 1000 + cuts[i]!);
      if (i < 2) {
        assert.deepEqual(moves[i], { release: 1000 + cuts[i + 1]!, skipped: false }, `segment ${i} goes: the request is not whole without the next`);
        // each part judged on its own before it goes (app.ts judgePart); the request not yet
        assert.equal(events.filter((e) => e.llm?.partial === true).length, i + 1, `segment ${i} judged as a part`);
        assert.equal(events.filter((e) => e.llm?.partial !== true).length, 0, 'nothing decided yet');
      }
    }
    assert.equal(next(), 1000 + text.length);
    const req = events.find((e) => e.type === 'llm_request' && e.llm?.partial !== true);
    assert.ok(req?.llm?.user_message?.endsWith('q-big-end'), 'read whole');
    assert.ok(!events.some((e) => e.type === 'error'), 'no content-cut error');
    assert.deepEqual(moves[2], { release: 1000 + text.length, skipped: false });
    assert.equal(moves.length, 3);
  });

  it('a short segment that does not grow (a writer between writes) is asked once, then let go unfinished; the rest is held and decided', () => {
    const { events, moves, out } = setup();
    const part = head(body.length) + body.slice(0, 10);
    out(part, true);
    assert.deepEqual(moves, [{ release: undefined, skipped: false }], 'asked to try again');
    out(part, true, 1000); // the retry: nothing appended
    assert.deepEqual(moves[1], { release: 1000 + part.length, skipped: false }, 'the part goes: its request is not whole');
    assert.ok(!events.some((e) => e.type === 'error'), 'no content-cut error');
    assert.equal(events.filter((e) => e.llm?.partial === true).length, 1, 'the part judged once (the retry carries nothing new)');
    out(body.slice(10), true, 1000 + part.length); // the rest, held in turn
    assert.equal(events.find((e) => e.type === 'llm_request' && e.llm?.partial !== true)?.llm?.user_message, 'q-plain');
    assert.deepEqual(moves[2], { release: 1000 + part.length + body.length - 10, skipped: false });
  });

  it('a hold that makes no progress for half a second goes unread: a content-cut error, then the rest passes', () => {
    const events: BustedEvent[] = [];
    const moves: Array<{ release: number | undefined }> = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainHold: (_h, release) => moves.push({ release }) },
      (e) => events.push(e),
    );
    const part = head(body.length) + body.slice(0, 10);
    interp.handle({ ...rec(1000, '', { pktKind: 'http_held', len: part.length }), data: hdrs } as KernelRecord);
    interp.handle(rec(1000, part) as KernelRecord);
    assert.deepEqual(moves, [{ release: undefined }]);
    interp.flush(1 + 400e6);
    assert.ok(!events.some((e) => e.type === 'error'), 'not yet');
    interp.flush(1 + 600e6);
    assert.equal(events.find((e) => e.type === 'error')?.error?.code, 'BUSTED_E_CONTENT_CUT');
    assert.deepEqual(moves[1], { release: 1000 + part.length });
  });

  it('a skipped connection is read again from a request the hook follows again (RESTART), where it starts; what comes between is not read', () => {
    const events: BustedEvent[] = [];
    const skips: Array<[unknown, number]> = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainSkip: (id, released) => skips.push([id, released]) },
      (e) => events.push(e),
    );
    const j = '{"note":"not an LLM call"}';
    const decoy = `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${j.length}\r\n\r\n${j}`;
    interp.handle(rec(100, decoy) as KernelRecord);
    assert.deepEqual(skips, [[9, 100 + decoy.length]], 'skipped, read up to the end of its request');
    // in flight after the skip: not read
    const chatReq = head(body.length) + body;
    interp.handle(rec(100 + decoy.length, chatReq) as KernelRecord);
    assert.equal(events.length, 0, 'not read while skipped');
    // followed again from a later request: read from its start
    const at = 100 + decoy.length + chatReq.length;
    interp.handle(rec(at, chatReq, { restart: true }) as KernelRecord);
    assert.equal(events.filter((e) => e.type === 'llm_request').length, 1);
    // a retry that carried what was read before the skip, then a request: read from where the skip left off
    const interp2Events: BustedEvent[] = [];
    const interp2 = new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainSkip: () => {} }, (e) => interp2Events.push(e));
    interp2.handle(rec(100, decoy) as KernelRecord);
    interp2.handle(rec(100, decoy + chatReq, { restart: true }) as KernelRecord);
    assert.equal(interp2Events.filter((e) => e.type === 'llm_request').length, 1, 'the request after the skipped one');
    assert.ok(!interp2Events.some((e) => e.type === 'error'), 'the skipped request is not read again');
  });

  it('a request written behind a skipped one, without waiting for its answer, keeps the connection followed', () => {
    const events: BustedEvent[] = [];
    const skips: unknown[] = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainSkip: (id) => skips.push(id) },
      (e) => events.push(e),
    );
    const j = '{"note":"not an LLM call"}';
    const decoy = `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${j.length}\r\n\r\n${j}`;
    const chatReq = head(body.length) + body;
    interp.handle(rec(100, decoy + chatReq.slice(0, 40)) as KernelRecord);
    assert.deepEqual(skips, [], 'not skipped: a request has begun behind it');
    interp.handle(rec(100 + decoy.length + 40, chatReq.slice(40)) as KernelRecord);
    assert.equal(events.find((e) => e.type === 'llm_request')?.llm?.user_message, 'q-plain');
  });

  it('a held request whose body runs past what is read of a body (4 MiB) is decided then as not read whole, once, and the rest goes', () => {
    const { events, moves, out } = setup();
    const total = 5 * 1024 * 1024;
    const h = head(total);
    const seg = 64_000;
    let at = 1000;
    out(h + 'x'.repeat(seg - h.length), true, at);
    at += seg;
    while (!events.some((e) => e.type === 'error') && at < 1000 + total) {
      out('x'.repeat(seg), true, at);
      at += seg;
    }
    const cut = events.filter((e) => e.type === 'error');
    assert.equal(cut.length, 1);
    assert.match(cut[0]!.error!.message, /longer than the 4 MiB a request is read to/);
    assert.ok(at > 1000 + 4 * 1024 * 1024 && at < 1000 + 4 * 1024 * 1024 + 2 * seg, 'said as soon as the body passed 4 MiB');
    const n = moves.length;
    // the rest: let go as it comes, with no second error at its end
    for (; at < 1000 + h.length + total; at += seg) out('x'.repeat(Math.min(seg, 1000 + h.length + total - at)), true, at);
    assert.ok(moves.slice(n).every((m) => m.release !== undefined), 'let go, never asked again');
    assert.equal(events.filter((e) => e.type === 'error').length, 1, 'not said again at its end');
  });

  it('a connection the hook followed on a segment that only may start a request, and which sends no HTTP, is marked skip', () => {
    const skips: Array<[unknown, number]> = [];
    const interp = new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainSkip: (id, released) => skips.push([id, released]) }, () => {});
    interp.handle(rec(10, 'P\x00\x01') as KernelRecord);
    assert.deepEqual(skips, [], 'a method may be coming');
    interp.handle(rec(13, '\x02binary\r\nmore') as KernelRecord);
    assert.deepEqual(skips, [[9, 13 + 13]]);
  });

  it('a connection whose first request is no LLM call is let go as skipped', () => {
    const events: BustedEvent[] = [];
    const moves: Array<{ release: number | undefined; skipped: boolean }> = [];
    const skips: unknown[] = [];
    const interp = new Interpreter(
      { processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable(), onPlainHold: (_h, release, skipped) => moves.push({ release, skipped }), onPlainSkip: (id) => skips.push(id) },
      (e) => events.push(e),
    );
    const j = '{"note":"not an LLM call"}';
    const t = `POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: ${j.length}\r\n\r\n${j}`;
    interp.handle({ ...rec(5, '', { pktKind: 'http_held', len: t.length }), data: hdrs } as KernelRecord);
    interp.handle(rec(5, t) as KernelRecord);
    assert.deepEqual(skips, [9]);
    assert.deepEqual(moves, [{ release: 5 + t.length, skipped: true }]);
    assert.equal(events.length, 0);
  });
});
