// HTTP/2 and HPACK under seeded fuzzing, and the bugs it found kept as
// regressions. Seeds are real nghttp2 captures (node's http2 through a
// recording proxy) and hand-made frames; the mutations are the ones a
// hostile or broken peer, or a lossy capture, can produce. A failure prints
// the seed and case number: prng(SEED) replays it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { HpackDecoder, HpackError, encodeHeaders, huffmanEncode } from '../../engine/parse/hpack.js';
import { Http2Stream, PREFACE, type Http2Message } from '../../engine/parse/http2.js';
import { captureH2, h2request, type Chunk } from '../helpers/h2-capture.js';
import { prng } from '../helpers/prng.js';

const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PUSH_PROMISE: 5, PING: 6, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;

function frame(type: number, flags: number, sid: number, payload: Uint8Array | number[]): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  const b = new Uint8Array(9 + p.length);
  b[0] = (p.length >> 16) & 0xff;
  b[1] = (p.length >> 8) & 0xff;
  b[2] = p.length & 0xff;
  b[3] = type;
  b[4] = flags;
  b[5] = (sid >>> 24) & 0x7f;
  b[6] = (sid >>> 16) & 0xff;
  b[7] = (sid >>> 8) & 0xff;
  b[8] = sid & 0xff;
  b.set(p, 9);
  return b;
}

const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const enc = (s: string) => Uint8Array.from(Buffer.from(s, 'utf8'));

/** The frames of a clean stream (after the preface when `client`), to reorder and duplicate. */
function frames(b: Uint8Array, client: boolean): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = client ? PREFACE.length : 0;
  while (at + 9 <= b.length) {
    const len = (b[at]! << 16) | (b[at + 1]! << 8) | b[at + 2]!;
    out.push(b.subarray(at, at + 9 + len));
    at += 9 + len;
  }
  return out;
}

interface Run {
  messages: unknown[];
  notes: string;
  lost: string | undefined;
  maxTable: number;
  maxHeld: number;
}

/** What must not depend on how the bytes were cut (the high-water marks do: they are sampled between pieces). */
const same = (r: Run) => ({ messages: r.messages, notes: r.notes, lost: r.lost });

/** One direction's bytes through an Http2Stream, in the pieces `cuts` gives, each piece followed by its gap. */
function run(bytes: Uint8Array, client: boolean, pieces: Array<[number, number]> = [[bytes.length, 0]]): Run {
  const messages: unknown[] = [];
  let notes = '';
  const s = new Http2Stream(
    (m: Http2Message) => messages.push([m.kind, m.stream, m.method, m.path, m.status, m.host, m.contentType, { ...m.headers }, Buffer.from(m.body).toString('latin1'), m.truncated]),
    client,
    (t) => (notes += t),
    () => {},
  );
  let maxTable = 0;
  let maxHeld = 0;
  let at = 0;
  for (const [n, gap] of pieces) {
    s.push(bytes.subarray(at, at + n));
    at += n;
    if (gap) {
      s.gap(gap);
      at += gap;
    }
    maxTable = Math.max(maxTable, s.hpackTableSize);
    maxHeld = Math.max(maxHeld, s.heldBytes);
  }
  if (s.broken) assert.equal(typeof s.lostReason, 'string');
  return { messages, notes, lost: s.lostReason, maxTable, maxHeld };
}

/** Random piece sizes (and, when `gaps`, a few capture gaps) covering `len` bytes. */
function split(rnd: () => number, len: number, gaps: boolean): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (let at = 0; at < len; ) {
    const n = Math.min(len - at, 1 + Math.floor(rnd() * (rnd() < 0.5 ? 12 : 600)));
    const gap = gaps && rnd() < 0.05 ? Math.min(len - at - n, Math.floor(rnd() * 40)) : 0;
    out.push([n, gap]);
    at += n + gap;
  }
  return out;
}

/** An HPACK integer with `prefix` bits and `flags` above them. */
function hpInt(v: number, prefix: number, flags: number): number[] {
  const mask = (1 << prefix) - 1;
  if (v < mask) return [flags | v];
  const out = [flags | mask];
  v -= mask;
  while (v >= 128) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}
/** A literal field with incremental indexing, new name, raw strings. */
function indexed(name: string, value: string): number[] {
  const n = Buffer.from(name, 'utf8');
  const v = Buffer.from(value, 'utf8');
  return [...hpInt(0, 6, 0x40), ...hpInt(n.length, 7, 0), ...n, ...hpInt(v.length, 7, 0), ...v];
}

/** Header blocks a broken or hostile encoder sends. */
const NASTY_BLOCKS: Array<[string, number[]]> = [
  ['index 0', [0x80]],
  ['index past the tables', [0xff, 0x80, 0x01]],
  ['index 2^35', [0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]],
  ['a varint that never ends', [0xff, ...new Array<number>(40).fill(0x80)]],
  ['a varint of zeros', [0x7f, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]],
  ['table size update 2^32', [...hpInt(2 ** 32, 5, 0x20)]],
  ['table size update past the ceiling', [...hpInt(65537, 5, 0x20)]],
  ['string length 2^31', [0x40, ...hpInt(2 ** 31, 7, 0)]],
  ['Huffman with 8 bits of padding', [0x40, 0x82, 0x1f, 0xff, 0x81, 0x1f]],
  ['Huffman with zero padding', [0x40, 0x81, 0x00, 0x81, 0x1f]],
  ['Huffman EOS', [0x40, 0x84, 0xff, 0xff, 0xff, 0xff, 0x81, 0x1f]],
  ['truncated literal', [0x40, 0x05, 0x61]],
  ['table size update to the ceiling, then a 60 KiB entry', [...hpInt(65536, 5, 0x20), ...indexed('x-big', 'v'.repeat(60_000))]],
];

describe('HTTP/2 seeded fuzz', async () => {
  // real traffic: concurrent streams, a body over several DATA frames, trailers, the dynamic table in use
  const captured = await captureH2(
    (req, res) => {
      if (req.url === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.addTrailers({ 'x-checksum': 'abc' });
        res.end('with trailers');
      } else {
        res.writeHead(200, { 'content-type': 'application/json', 'x-answer': 'é'.repeat(40) });
        res.end(JSON.stringify({ path: req.url, pad: 'y'.repeat(req.url === '/big' ? 40_000 : 10) }));
      }
    },
    async (client) => {
      await Promise.all([
        h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: 'Bearer sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA' }, JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })),
        h2request(client, { ':method': 'GET', ':path': '/big', 'x-note': 'ü'.repeat(30) }),
        h2request(client, { ':method': 'GET', ':path': '/trailers' }),
      ]);
      await h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: 'Bearer sk-proj-AAAAAAAAAAAAAAAAAAAAAAAA' }, '{}');
    },
  );
  const join = (dir: 'write' | 'read', cs: Chunk[]) => cat(...cs.filter((c) => c.direction === dir).map((c) => c.data));
  const clientBytes = join('write', captured);
  const serverBytes = join('read', captured);
  // hand-made: padding, PRIORITY, CONTINUATION, PUSH_PROMISE, RST_STREAM, the dynamic table
  const handBlock = Uint8Array.from([...encodeHeaders([[':method', 'POST'], [':path', '/p'], [':authority', 'a.example']]), ...indexed('x-key', 'v1')]);
  const handMade = cat(
    PREFACE,
    frame(T.SETTINGS, 0, 0, [0, 1, 0, 0, 0x10, 0]),
    frame(T.HEADERS, PADDED | 0x20, 1, [3, 0, 0, 0, 0, 16, ...handBlock.subarray(0, 10), 0, 0, 0]),
    frame(T.CONTINUATION, END_HEADERS, 1, handBlock.subarray(10)),
    frame(T.DATA, PADDED, 1, [2, ...enc('body-'), 0, 0]),
    frame(T.PING, 0, 0, new Array<number>(8).fill(1)),
    frame(T.DATA, END_STREAM, 1, enc('end')),
    frame(T.HEADERS, END_HEADERS, 3, [0xbe, ...encodeHeaders([[':method', 'GET'], [':path', '/q']])]),
    frame(T.RST_STREAM, 0, 3, [0, 0, 0, 8]),
    frame(T.HEADERS, END_HEADERS | END_STREAM, 5, [0xbe, ...encodeHeaders([[':method', 'GET'], [':path', '/r']])]),
  );
  const seeds: Array<[string, Uint8Array, boolean]> = [
    ['client capture', clientBytes, true],
    ['server capture', serverBytes, false],
    ['hand-made', handMade, true],
  ];

  it('the seeds parse clean, whole and byte by byte alike', () => {
    for (const [name, bytes, client] of seeds) {
      const whole = run(bytes, client);
      assert.equal(whole.lost, undefined, `${name}: ${whole.lost}`);
      assert.ok(whole.messages.length >= 2, `${name}: ${whole.messages.length} messages`);
      assert.deepEqual(same(run(bytes, client, Array.from(bytes, (): [number, number] => [1, 0]))), same(whole), name);
    }
    assert.deepEqual(
      run(handMade, true).messages.map((m) => (m as unknown[]).slice(0, 4).concat((m as unknown[]).slice(8))),
      [
        ['request', 1, 'POST', '/p', 'body-end', false],
        ['request', 3, 'GET', '/q', '', true], // reset: reported cut
        ['request', 5, 'GET', '/r', '', false],
      ],
    );
  });

  it('resumed at any byte of the seeds (a watched connection\'s reads copied again): no throw, chunking changes nothing, and what comes out from the first awaited HEADERS frame on is what a clean parse gives', () => {
    const rnd = prng(0x5eed_0003);
    for (const [name, bytes, client] of seeds) {
      // as run() records them: kind, stream, method, path, status, host, content type, headers, body, truncated
      const clean = (run(bytes, client).messages as unknown[][]).map((m) => [m[0], m[1], m[2], m[3], m[4], m[8], m[9]]);
      for (let c = 0; c < 300; c++) {
        const cut = Math.floor(rnd() * bytes.length);
        const resumed = (pieces: number) => {
          const got: unknown[][] = [];
          const s = new Http2Stream((m: Http2Message) => got.push([m.kind, m.stream, m.method, m.path, m.status, Buffer.from(m.body).toString('latin1'), m.truncated]), client);
          s.resume((sid) => sid % 2 === 1);
          for (let at = cut; at < bytes.length; at += pieces) s.push(bytes.subarray(at, Math.min(bytes.length, at + pieces)));
          return got;
        };
        const whole = resumed(bytes.length);
        assert.deepEqual(resumed(1), whole, `${name}, cut at ${cut}: byte by byte`);
        assert.deepEqual(resumed(1 + Math.floor(rnd() * 40)), whole, `${name}, cut at ${cut}: in pieces`);
        // every message it gives is one the clean parse gave (its body, status and path; not the fields
        // from table entries made before the cut), or a later part of a stream whose start was cut off
        for (const m of whole) {
          const same = clean.find((k) => k[0] === m[0] && k[1] === m[1]);
          assert.ok(same, `${name}, cut at ${cut}: stream ${String(m[1])} is in the clean parse`);
          if (m[0] === 'response') assert.equal(m[4], same[4], `${name}, cut at ${cut}: the status`);
          assert.equal(m[5], same[5], `${name}, cut at ${cut}: the body of stream ${String(m[1])}`);
        }
      }
    }
  });

  const SEED = 0x5eed_0002;
  it(`4,000 mutated streams: no throw, bounded memory, chunking changes nothing (seed ${SEED.toString(16)})`, () => {
    const rnd = prng(SEED);
    const pick = <X>(xs: readonly X[]): X => xs[Math.floor(rnd() * xs.length)]!;
    let lost = 0;
    let delivered = 0;
    for (let c = 0; c < 4000; c++) {
      const [name, original, client] = seeds[c % seeds.length]!;
      let fs = frames(original, client);
      const how: string[] = [];
      for (let k = 1 + Math.floor(rnd() * 3); k > 0; k--) {
        if (fs.length === 0) break;
        const at = Math.floor(rnd() * fs.length);
        const f = Uint8Array.from(fs[at]!);
        switch (Math.floor(rnd() * 11)) {
          case 0: // bit flips and random bytes anywhere in a frame
            for (let j = 1 + Math.floor(rnd() * 4); j > 0; j--) {
              const i = Math.floor(rnd() * f.length);
              f[i] = rnd() < 0.5 ? Math.floor(rnd() * 256) : f[i]! ^ (1 << Math.floor(rnd() * 8));
            }
            fs[at] = f;
            how.push(`flip ${at}`);
            break;
          case 1: // a duplicated frame
            fs.splice(at, 0, f);
            how.push(`dup ${at}`);
            break;
          case 2: {
            // two frames swapped
            const other = Math.floor(rnd() * fs.length);
            [fs[at], fs[other]] = [fs[other]!, fs[at]!];
            how.push(`swap ${at} ${other}`);
            break;
          }
          case 3: // a wrong length
            f[2] = (f[2]! + Math.floor(rnd() * 64) - 32) & 0xff;
            if (rnd() < 0.3) f[0] = Math.floor(rnd() * 256);
            fs[at] = f;
            how.push(`len ${at}`);
            break;
          case 4: // PADDED with a random pad length
            f[4] = f[4]! | PADDED;
            if (f.length > 9) f[9] = Math.floor(rnd() * 256);
            fs[at] = f;
            how.push(`pad ${at}`);
            break;
          case 5: // CONTINUATION out of place
            fs.splice(at, 0, frame(T.CONTINUATION, rnd() < 0.5 ? END_HEADERS : 0, pick([0, 1, 3]), encodeHeaders([['x-c', 'v']])));
            how.push(`cont ${at}`);
            break;
          case 6: // a hostile header block, alone or after a good one's start
            fs.splice(at, 0, frame(T.HEADERS, END_HEADERS | (rnd() < 0.5 ? END_STREAM : 0), 1 + 2 * Math.floor(rnd() * 4), pick(NASTY_BLOCKS)[1]));
            how.push(`block ${at}`);
            break;
          case 7: // SETTINGS with a huge HEADER_TABLE_SIZE (and junk)
            fs.splice(at, 0, frame(T.SETTINGS, 0, 0, [0, 1, 0xff, 0xff, 0xff, 0xff, 0, 5, 0xff, 0xff, 0xff, 0xff]));
            how.push(`settings ${at}`);
            break;
          case 8: // a frame cut short (truncation inside the stream)
            fs[at] = f.subarray(0, Math.floor(rnd() * f.length));
            how.push(`cut ${at}`);
            break;
          case 9: // an unknown or control frame with a length that claims more than is there
            fs.splice(at, 0, frame(pick([T.PING, 0x42, T.RST_STREAM, T.PUSH_PROMISE]), Math.floor(rnd() * 256), Math.floor(rnd() * 8), new Uint8Array(Math.floor(rnd() * 20))));
            how.push(`ctl ${at}`);
            break;
          default:
            fs = fs.slice(0, at); // truncated capture
            how.push(`end ${at}`);
        }
      }
      const bytes = cat(...(client ? [PREFACE] : []), ...fs);
      const tag = `case ${c} (${name}; ${how.join(', ')}; replay with prng(0x${SEED.toString(16)}))`;
      let whole: Run;
      let chunked: Run;
      let gapped: Run;
      try {
        whole = run(bytes, client);
        chunked = run(bytes, client, split(rnd, bytes.length, false));
        gapped = run(bytes, client, split(rnd, bytes.length, true));
      } catch (e) {
        assert.fail(`${tag}: threw ${(e as Error).stack}`);
      }
      assert.deepEqual(same(chunked), same(whole), `${tag}: chunking changed the result`);
      for (const r of [whole, gapped]) {
        assert.ok(r.maxTable <= 65536, `${tag}: HPACK table ${r.maxTable} octets`);
        assert.ok(r.maxHeld <= 16 * 1024 * 1024, `${tag}: ${r.maxHeld} body bytes held`);
      }
      if (whole.lost) lost++;
      delivered += whole.messages.length;
    }
    // the mutations reach the error paths, and most streams still yield messages
    assert.ok(lost > 1000, `${lost} streams lost`);
    assert.ok(delivered > 5000, `${delivered} messages`);
  });

  it('hostile header blocks lose the direction with a reason, and the table stays within its ceiling', () => {
    for (const [name, block] of NASTY_BLOCKS) {
      const bytes = cat(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, block), frame(T.HEADERS, END_HEADERS | END_STREAM, 3, encodeHeaders([[':status', '200']])));
      const r = run(bytes, false);
      if (name.startsWith('table size update to the ceiling')) {
        assert.equal(r.lost, undefined, name);
        assert.ok(r.maxTable > 60_000 && r.maxTable <= 65536, `${name}: ${r.maxTable}`);
      } else assert.equal(typeof r.lost, 'string', name);
    }
  });
});

describe('HTTP/2 and HPACK: regressions found by the fuzz', () => {
  const hdr = (sid: number, fields: Array<[string, string]>, flags = END_HEADERS | END_STREAM) => frame(T.HEADERS, flags, sid, encodeHeaders(fields));

  it('a 16 MiB DATA frame in 16 KiB pieces reaches its stream piece by piece (it was gathered whole, copying the buffer per piece: minutes of CPU)', () => {
    const pieces: number[] = [];
    let got: Http2Message | undefined;
    const s = new Http2Stream((m) => (got = m), false, undefined, (_m, d) => pieces.push(d.length));
    s.push(hdr(1, [[':status', '200']], END_HEADERS));
    const len = 2 ** 24 - 1;
    const head = frame(T.DATA, END_STREAM, 1, []);
    head.set([len >> 16, (len >> 8) & 0xff, len & 0xff], 0);
    s.push(head);
    const piece = new Uint8Array(16384).fill(0x61);
    let sent = 0;
    for (; sent + piece.length <= len; sent += piece.length) s.push(piece);
    assert.equal(pieces.length, Math.floor(len / 16384)); // each piece as it came
    s.push(piece.subarray(0, len - sent));
    assert.equal(got?.body.length, 4 * 1024 * 1024); // MAX_BODY
    assert.equal(got?.truncated, true);
    assert.equal(s.heldBytes, 0);
    // an unknown frame type of the same size is stepped over, not held
    const unk = frame(0x42, 0, 0, []);
    unk.set([len >> 16, (len >> 8) & 0xff, len & 0xff], 0);
    s.push(unk);
    for (let n = 0; n < len; n += piece.length) s.push(piece.subarray(0, Math.min(piece.length, len - n)));
    s.push(hdr(3, [[':status', '204']]));
    assert.equal(got?.stream, 3);
    assert.equal(s.broken, false);
  });

  it('bodies held across open streams are bounded per direction (1,024 streams of 4 MiB were 4 GiB)', () => {
    const s = new Http2Stream(() => {}, false);
    const mib = new Uint8Array(1 << 20);
    for (let sid = 1; sid <= 11; sid += 2) {
      s.push(hdr(sid, [[':status', '200']], END_HEADERS));
      for (let k = 0; k < 4; k++) s.push(frame(T.DATA, 0, sid, mib));
    }
    assert.equal(s.heldBytes, 16 * 1024 * 1024);
    const out: Http2Message[] = [];
    const t = new Http2Stream((m) => out.push(m), false);
    for (let sid = 1; sid <= 11; sid += 2) {
      t.push(hdr(sid, [[':status', '200']], END_HEADERS));
      for (let k = 0; k < 4; k++) t.push(frame(T.DATA, 0, sid, mib));
    }
    for (let sid = 1; sid <= 11; sid += 2) t.push(frame(T.DATA, END_STREAM, sid, []));
    assert.deepEqual(out.map((m) => [m.body.length, m.truncated]), [[4 << 20, false], [4 << 20, false], [4 << 20, false], [4 << 20, false], [0, true], [0, true]]);
    assert.equal(t.heldBytes, 0);
  });

  it(':authority is the request host, not a Host field that differs (RFC 9113 8.3.1)', () => {
    const out: Http2Message[] = [];
    const s = new Http2Stream((m) => out.push(m), true);
    s.push(cat(PREFACE, hdr(1, [[':method', 'GET'], [':path', '/'], [':authority', 'api.openai.com'], ['host', 'allowed.example']]), hdr(3, [[':method', 'GET'], [':path', '/'], ['host', 'only-host.example']])));
    assert.deepEqual(out.map((m) => m.host), ['api.openai.com', 'only-host.example']);
  });

  it('trailers add fields but do not change the host or content type', () => {
    const out: Http2Message[] = [];
    const s = new Http2Stream((m) => out.push(m), false);
    s.push(cat(hdr(1, [[':status', '200'], ['content-type', 'application/json']], END_HEADERS), frame(T.DATA, 0, 1, enc('{}')), hdr(1, [['host', 'evil.example'], ['content-type', 'text/plain'], ['x-sum', '1']])));
    assert.equal(out[0]!.host, undefined);
    assert.equal(out[0]!.contentType, 'application/json');
    assert.equal(out[0]!.headers['x-sum'], '1');
  });

  it('a :status that is not three digits is no status (it was NaN, written as null)', () => {
    const out: Http2Message[] = [];
    const s = new Http2Stream((m) => out.push(m), false);
    s.push(cat(hdr(1, [[':status', 'abc']]), hdr(3, [[':status', '2000']]), hdr(5, [[':status', '404']])));
    assert.deepEqual(out.map((m) => m.status), [undefined, undefined, 404]);
    assert.ok(out.every((m) => m.kind === 'response'));
  });

  it('a malformed field (CR, LF, NUL, control characters, an upper-case or odd name) is left out and not shown; the stream goes on (RFC 9113 8.2.1)', () => {
    const out: Http2Message[] = [];
    let notes = '';
    const s = new Http2Stream((m) => out.push(m), true, (t) => (notes += t));
    const fields: Array<[string, string]> = [[':method', 'GET'], [':path', '/a'], ['x-api-key', '"\nSECRETVALUE'], ['x-ok', 'fine\tand tab'], ['x-n\rame', 'v'], ['Authorization', 'Bearer UPPERSECRET'], ['x-ctl', 'a\x12SECRET2'], [':bogus', 'x']];
    s.push(cat(PREFACE, hdr(1, fields), hdr(3, [[':method', 'GET'], [':path', '/b']])));
    assert.deepEqual(out.map((m) => [m.path, { ...m.headers }]), [['/a', { 'x-ok': 'fine\tand tab' }], ['/b', {}]]);
    assert.ok(!/SECRET/.test(notes), notes);
    assert.match(notes, /x-api-key: \[malformed field, 22 chars not shown\]\nx-ok: fine\tand tab\n\[malformed name\]: \[malformed field/);
  });

  it('PUSH_PROMISE from the client loses the direction (RFC 9113 8.4): a HEADERS frame retyped so would decode from 4 bytes in', () => {
    const s = new Http2Stream(() => {}, true);
    s.push(cat(PREFACE, frame(T.PUSH_PROMISE, END_HEADERS, 1, [0, 0, 0, 2, ...encodeHeaders([[':method', 'GET'], [':path', '/']])])));
    assert.equal(s.lostReason, 'PUSH_PROMISE from the client');
    const srv: Http2Message[] = [];
    const t = new Http2Stream((m) => srv.push(m), false);
    t.push(cat(frame(T.PUSH_PROMISE, END_HEADERS, 1, [0, 0, 0, 2, ...encodeHeaders([[':method', 'GET'], [':path', '/pushed']])]), hdr(2, [[':status', '200']])));
    assert.equal(t.broken, false);
    assert.deepEqual(srv.map((m) => [m.stream, m.status]), [[2, 200]]);
  });

  it('DATA on a stream with no message is counted, not shown (a HEADERS frame retyped DATA showed its raw HPACK strings)', () => {
    let notes = '';
    const s = new Http2Stream(() => {}, false, (t) => (notes += t));
    s.push(frame(T.DATA, 0, 9, [0x40, 13, ...enc('authorization'), 0x12, ...enc('Bearer BARESECRET')]));
    assert.equal(notes, '[HTTP/2 DATA stream 9: no message open on it, 33 bytes not shown]\n');
  });

  it('DATA with padding beyond the frame loses the direction and reports the stream cut', () => {
    const out: Http2Message[] = [];
    const s = new Http2Stream((m) => out.push(m), false);
    s.push(cat(hdr(1, [[':status', '200']], END_HEADERS), frame(T.DATA, PADDED, 1, [9, 0x61, 0x62]), hdr(3, [[':status', '200']])));
    assert.equal(s.lostReason, 'DATA padding beyond the frame');
    assert.deepEqual(out.map((m) => [m.stream, m.truncated]), [[1, true]]);
  });

  it('the HPACK table counts octets, so it evicts when the encoder does (UTF-8 values were counted in UTF-16 units)', () => {
    const d = new HpackDecoder();
    const v = 'é'.repeat(1000); // 2,000 octets, 1,000 UTF-16 units
    for (const name of ['a', 'b', 'c']) d.decode(Uint8Array.from(indexed(name, v)));
    assert.equal(d.tableSize, 2 * (1 + 2000 + 32));
    assert.deepEqual(d.decode(Uint8Array.from([0x80 | 63])), [['b', v]]);
    assert.throws(() => d.decode(Uint8Array.from([0x80 | 64])), HpackError); // 'a' was evicted, as by the encoder
    // a Huffman-coded name counts its decoded octets
    const h = huffmanEncode('x-huff');
    const e = new HpackDecoder(100);
    e.decode(Uint8Array.from([0x40, 0x80 | h.length, ...h, 0x01, 0x31]));
    assert.equal(e.tableSize, 6 + 1 + 32);
  });

  it('a table size update up to 64 KiB is followed (browsers advertise it); above, the direction is lost, not the table grown', () => {
    const ok = new Http2Stream(() => {}, false);
    ok.push(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, [...hpInt(65536, 5, 0x20), 0x88]));
    assert.equal(ok.broken, false);
    const big = new Http2Stream(() => {}, false);
    big.push(frame(T.HEADERS, END_HEADERS | END_STREAM, 1, [...hpInt(65537, 5, 0x20), 0x88]));
    assert.match(big.lostReason ?? '', /table size update 65537 above the limit 65536/);
    assert.throws(() => new HpackDecoder().decode(Uint8Array.from(hpInt(4097, 5, 0x20))), HpackError); // a bare decoder keeps 4096
  });
});
