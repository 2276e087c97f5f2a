// HPACK against RFC 7541's worked examples (Appendix C), and HTTP/2
// framing against real nghttp2 bytes (node's http2 through a recording
// proxy): concurrent streams, DATA split over frames, trailers, HEAD-like
// bodiless answers, byte-at-a-time delivery, and capture gaps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { HpackDecoder, HpackError, huffmanDecode, huffmanEncode, encodeHeaders } from '../../engine/parse/hpack.js';
import { Http2Stream, looksLikeHttp2, type Http2Message } from '../../engine/parse/http2.js';
import { captureH2, h2request, type Chunk } from '../helpers/h2-capture.js';

const hex = (h: string) => Uint8Array.from(Buffer.from(h.replace(/\s/g, ''), 'hex'));

describe('HPACK', () => {
  it('decodes the RFC 7541 C.4 requests (Huffman, dynamic table across blocks)', () => {
    const d = new HpackDecoder();
    assert.deepEqual(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff')), [
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    assert.deepEqual(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf')).at(-1), ['cache-control', 'no-cache']);
    assert.deepEqual(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf')).slice(2), [
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
  });

  it('decodes the RFC 7541 C.6 responses with a 256-byte table (eviction)', () => {
    const d = new HpackDecoder(256);
    d.decode(hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'));
    const second = d.decode(hex('4883 640e ffc1 c0bf'));
    assert.deepEqual(second[0], [':status', '307']);
    assert.deepEqual(second[3], ['location', 'https://www.example.com']);
    const third = d.decode(
      hex('88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07'),
    );
    assert.deepEqual(third.at(-1), ['set-cookie', 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1']);
  });

  it('round-trips every octet through the Huffman code, and refuses bad padding and EOS', () => {
    let all = '';
    for (let i = 0; i < 256; i++) all += String.fromCharCode(i);
    const enc = huffmanEncode(all);
    const back = huffmanDecode(enc);
    assert.equal(back.length, 256);
    for (let i = 0; i < 256; i++) assert.equal(back.charCodeAt(i), i);
    assert.throws(() => huffmanDecode(hex('00')), HpackError); // '0' then 3 zero bits: not a valid pad
    assert.throws(() => huffmanDecode(hex('ffff ffff')), HpackError); // EOS
  });

  it('refuses indexes beyond its table and truncated blocks with HpackError, never a crash', () => {
    assert.throws(() => new HpackDecoder().decode(hex('be')), HpackError);
    assert.throws(() => new HpackDecoder().decode(hex('40 85')), HpackError);
    assert.throws(() => new HpackDecoder().decode(hex('3fe2 1f')), HpackError); // size update to 4097, above 4096
    // RFC 7541 4.2: a size update only at the start of a block; after a field it is a decoding error
    assert.deepEqual(new HpackDecoder().decode(hex('20 3f e1 1f 82')), [[':method', 'GET']]); // to 0, then to 4096, then a field
    assert.throws(() => new HpackDecoder().decode(hex('82 20')), /table size update after a field/);
    const fields: Array<[string, string]> = [[':method', 'POST'], ['x-thing', 'héllo wörld']];
    assert.deepEqual(new HpackDecoder().decode(encodeHeaders(fields)), fields);
  });

  it('forget(): entries made before are unknown (a field of no name), entries made after are read, a reference past the table still fails without it', () => {
    const d = new HpackDecoder();
    // literal with incremental indexing, new name: custom-key: custom-header (RFC 7541 C.2.1)
    const add = hex('400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572');
    d.decode(add);
    assert.deepEqual(d.decode(hex('be')), [['custom-key', 'custom-header']]);
    d.forget();
    assert.equal(d.tableSize, 0);
    assert.deepEqual(d.decode(hex('be')), [['', '']], 'an entry made before: unknown');
    d.decode(add);
    assert.deepEqual(d.decode(hex('be bf')), [['custom-key', 'custom-header'], ['', '']], 'the new entry first, the older one unknown');
    assert.throws(() => new HpackDecoder().decode(hex('be')), /beyond the dynamic table/);
  });
});

/** All messages from a recorded connection, fed through two Http2Streams in `step`-byte pieces. */
function parse(chunks: Chunk[], step = Infinity, gapAt?: (c: Chunk, i: number) => number): Http2Message[] {
  const got: Http2Message[] = [];
  const out = new Http2Stream((m) => got.push(m), true);
  const inn = new Http2Stream((m) => got.push(m), false);
  chunks.forEach((c, i) => {
    const s = c.direction === 'write' ? out : inn;
    const cut = gapAt?.(c, i) ?? c.data.length;
    for (let at = 0; at < cut; at += step) s.push(c.data.subarray(at, Math.min(cut, at + step)));
    s.gap(c.data.length - cut);
  });
  return got;
}

const text = (m: Http2Message) => Buffer.from(m.body).toString('utf8');

describe('HTTP/2 from real nghttp2 traffic', async () => {
  const big = 'x'.repeat(70_000);
  const chunks = await captureH2(
    (req, res, body) => {
      if (req.url === '/v1/chat/completions') {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ model: 'gpt-4o', echo: JSON.parse(body).messages.length, usage: { prompt_tokens: 3, completion_tokens: 5 } }));
      } else if (req.url === '/big') {
        res.end(big);
      } else if (req.url === '/trailers') {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.addTrailers({ 'x-checksum': 'abc' });
        res.end('with trailers');
      } else {
        res.writeHead(204);
        res.end();
      }
    },
    async (client) => {
      // concurrent streams: answers interleave
      await Promise.all([
        h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: 'Bearer sk-not-a-real-key' }, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] })),
        h2request(client, { ':method': 'GET', ':path': '/big' }),
        h2request(client, { ':method': 'GET', ':path': '/trailers' }),
        h2request(client, { ':method': 'DELETE', ':path': '/nothing', constructor: 'c1', tostring: 't1', __proto__x: 'p' }),
      ]);
      // the same headers again: now from the dynamic table
      await h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: 'Bearer sk-not-a-real-key' }, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'a' }, { role: 'user', content: 'b' }] }));
    },
  );

  it('recognises the preface and a server SETTINGS frame, and nothing else', () => {
    assert.equal(looksLikeHttp2(chunks.find((c) => c.direction === 'write')!.data), 'client');
    assert.equal(looksLikeHttp2(chunks.find((c) => c.direction === 'read')!.data), 'server');
    assert.equal(looksLikeHttp2(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n')), undefined);
  });

  it('pairs requests and responses by stream, with bodies, trailers and bodiless answers', () => {
    const got = parse(chunks);
    const reqs = got.filter((m) => m.kind === 'request');
    const resps = got.filter((m) => m.kind === 'response');
    assert.equal(reqs.length, 5);
    assert.equal(resps.length, 5);
    for (const r of reqs) assert.ok(resps.some((s) => s.stream === r.stream), `answer for stream ${r.stream}`);
    const chat = reqs.filter((r) => r.path === '/v1/chat/completions');
    assert.equal(chat.length, 2);
    assert.equal(chat[1]!.headers.authorization, 'Bearer sk-not-a-real-key'); // from the dynamic table
    assert.equal(chat[1]!.headers.host, `127.0.0.1:${chat[1]!.headers.host!.split(':')[1]}`);
    assert.equal(JSON.parse(text(chat[1]!)).messages.length, 2);
    const byStream = (r: Http2Message) => resps.find((s) => s.stream === r.stream)!;
    assert.equal(JSON.parse(text(byStream(chat[1]!))).echo, 2);
    const bigResp = byStream(reqs.find((r) => r.path === '/big')!);
    assert.equal(bigResp.body.length, 70_000); // several DATA frames
    assert.equal(bigResp.truncated, false);
    const tr = byStream(reqs.find((r) => r.path === '/trailers')!);
    assert.equal(text(tr), 'with trailers');
    assert.equal(tr.headers['x-checksum'], 'abc');
    const del = byStream(reqs.find((r) => r.method === 'DELETE')!);
    assert.equal(del.status, 204);
    assert.equal(del.body.length, 0);
  });

  it('reads header names as plain names: "constructor" and "tostring" are headers like any other', () => {
    const del = parse(chunks).find((m) => m.kind === 'request' && m.method === 'DELETE')!;
    assert.equal(del.headers.constructor, 'c1');
    assert.equal(del.headers['tostring'], 't1');
    assert.equal(del.headers['__proto__x'], 'p');
    assert.equal(Object.getPrototypeOf(del.headers), null);
  });

  it('gives the same messages when the bytes come one at a time', () => {
    const whole = parse(chunks).map((m) => [m.kind, m.stream, m.status, m.path, text(m)]);
    const bytes = parse(chunks, 1).map((m) => [m.kind, m.stream, m.status, m.path, text(m)]);
    assert.deepEqual(bytes, whole);
  });

  it('cuts a body across a gap inside DATA and carries on with the next streams', () => {
    // the read chunk holding most of /big loses its tail: a gap inside DATA payload
    const bigChunk = chunks.reduce((best, c, i) => (c.direction === 'read' && c.data.length > chunks[best]!.data.length ? i : best), 0);
    const got = parse(chunks, Infinity, (c, i) => (i === bigChunk ? c.data.length - 100 : c.data.length));
    const resps = got.filter((m) => m.kind === 'response');
    const cut = resps.filter((m) => m.truncated);
    assert.ok(cut.length >= 1, 'a truncated response');
    // the last chat answer, after the gap, still decodes
    assert.ok(resps.some((m) => !m.truncated && text(m).includes('"echo":2')));
  });

  it('picks a direction up part way (resume): from the HEADERS frame of a stream it waits on, the table entries made meanwhile unknown', () => {
    // the reads are not copied from just after the first (a watched connection, tls.bpf.c BUSTED_TLS_WATCH) until
    // the last chat request has been written: its answer, and whatever of the earlier answers follows, is all there is
    const lastWrite = chunks.map((c, i) => [c, i] as const).filter(([c]) => c.direction === 'write' && Buffer.from(c.data).includes('"b"')).at(-1)![1];
    const firstRead = chunks.findIndex((c) => c.direction === 'read');
    for (const step of [Infinity, 1, 7]) {
      const got: Http2Message[] = [];
      const out = new Http2Stream((m) => got.push(m), true);
      const inn = new Http2Stream((m) => got.push(m), false);
      chunks.forEach((c, i) => {
        if (c.direction === 'write') return void out.push(c.data);
        if (i > firstRead && i < lastWrite) return; // not copied
        for (let at = 0; at < c.data.length; at += step) inn.push(c.data.subarray(at, Math.min(c.data.length, at + step)));
      });
      const last = got.filter((m) => m.kind === 'request').at(-1)!;
      const before = got.length;
      inn.resume((sid) => sid === last.stream);
      assert.equal(inn.hunting, true);
      chunks.forEach((c, i) => {
        if (c.direction !== 'read' || i <= lastWrite) return;
        for (let at = 0; at < c.data.length; at += step) inn.push(c.data.subarray(at, Math.min(c.data.length, at + step)));
      });
      assert.equal(inn.hunting, false, `step ${step}: found`);
      assert.equal(inn.broken, false);
      const resps = got.slice(before);
      assert.deepEqual(resps.map((m) => [m.kind, m.stream]), [['response', last.stream]], `step ${step}: the awaited answer only`);
      assert.equal(resps[0]!.status, 200);
      assert.equal(JSON.parse(text(resps[0]!)).echo, 2);
      assert.equal(resps[0]!.truncated, false);
      // its content-type is an entry the first chat answer made, while the reads were not copied
      assert.equal(resps[0]!.contentType, undefined);
    }
  });

  it('resume: the tail of a frame, a HEADERS frame of a stream it does not wait on and a DATA frame of one it does are passed over', () => {
    const hpack = encodeHeaders([[':status', '200'], ['content-type', 'application/json']]);
    const frame = (type: number, flags: number, sid: number, payload: Uint8Array) =>
      Uint8Array.from([payload.length >> 16, (payload.length >> 8) & 0xff, payload.length & 0xff, type, flags, sid >>> 24, (sid >> 16) & 0xff, (sid >> 8) & 0xff, sid & 0xff, ...payload]);
    const bytes = Uint8Array.from([
      ...frame(0, 0, 1, Buffer.from('the end of an earlier body')).subarray(6),
      ...frame(1, 0x04, 5, hpack), // stream 5's answer: not waited on
      ...frame(0, 0, 3, Buffer.from('DATA before its HEADERS: no frame to start from')),
      ...frame(1, 0x04, 3, hpack),
      ...frame(0, 0x01, 3, Buffer.from('{"ok":true}')),
    ]);
    for (const step of [bytes.length, 1, 4]) {
      const got: Http2Message[] = [];
      const inn = new Http2Stream((m) => got.push(m), false);
      inn.resume((sid) => sid === 3);
      for (let at = 0; at < bytes.length; at += step) inn.push(bytes.subarray(at, at + step));
      assert.deepEqual(got.map((m) => [m.kind, m.stream, m.status, m.contentType, text(m)]), [['response', 3, 200, 'application/json', '{"ok":true}']], `step ${step}`);
    }
  });

  it('stops a direction whose header block was cut (HPACK cannot resync) without throwing', () => {
    const firstWrite = chunks.findIndex((c) => c.direction === 'write' && c.data.length > 60);
    const got = parse(chunks, Infinity, (c, i) => (i === firstWrite ? 30 : c.data.length));
    assert.ok(got.every((m) => m.kind === 'response')); // the request direction was lost
  });
});
