// The application layer on HTTP/2 under seeded fuzzing: credentials placed
// in header names and values, the pseudo-headers and the path, sent through
// HPACK's dynamic table, never come out unredacted, whatever happens to the
// frames; one connection's HPACK state never decodes another's; a
// connection error is said, once, and visibly. A failure names the case and
// the seed to replay it with.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { AppLayer, type Finding } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { encodeHeaders } from '../../engine/parse/hpack.js';
import { PREFACE } from '../../engine/parse/http2.js';
import { redactEvent, redactText } from '../../engine/redact.js';
import type { BustedEvent } from '../../engine/model/event.js';
import { prng } from '../helpers/prng.js';

const T = { DATA: 0, HEADERS: 1, SETTINGS: 4, CONTINUATION: 9 } as const;

function frame(type: number, flags: number, sid: number, payload: Uint8Array | number[]): Uint8Array {
  const p = payload instanceof Uint8Array ? payload : Uint8Array.from(payload);
  const b = new Uint8Array(9 + p.length);
  b.set([(p.length >> 16) & 0xff, (p.length >> 8) & 0xff, p.length & 0xff, type, flags, (sid >>> 24) & 0x7f, (sid >>> 16) & 0xff, (sid >>> 8) & 0xff, sid & 0xff]);
  b.set(p, 9);
  return b;
}
const cat = (...parts: Uint8Array[]) => Uint8Array.from(Buffer.concat(parts));
const enc = (s: string) => Uint8Array.from(Buffer.from(s, 'utf8'));

/** A literal with incremental indexing (new name, raw strings): the next blocks can name it by index. */
function indexed(name: string, value: string): number[] {
  const str = (s: string) => {
    const b = Buffer.from(s, 'utf8');
    if (b.length >= 127) return [0x7f, ...(b.length - 127 >= 128 ? [((b.length - 127) & 0x7f) | 0x80, (b.length - 127) >> 7] : [b.length - 127]), ...b];
    return [b.length, ...b];
  };
  return [0x40, ...str(name), ...str(value)];
}

const call = (direction: 'write' | 'read', data: Uint8Array, ssl = 'h2', gap = 0): TlsCall => ({
  pid: 7,
  ssl,
  direction,
  len: data.length + gap,
  data,
  first: undefined as never,
  conn: { sni: 'api.openai.com' },
  gated: false,
  callId: '1',
});

/** Findings as the interpreter makes them events, before redaction (the path taken with a policy). */
function asEvents(found: Finding[]): BustedEvent[] {
  return found.map((f) => ({ id: 'x', time: 't', type: f.type, http: f.http, ...(f.type === 'mcp_message' ? { mcp: f.mcp } : f.type === 'cut' ? {} : { llm: f.llm }) }) as BustedEvent);
}

// key-shaped credentials (the patterns redact.ts knows) and bare ones (known only by the header that carries them)
const KEYS = ['sk-ant-api03-abcdefghijklmnop0123', 'sk-proj-AbCdEf0123456789abcdefXYZ', 'AKIAIOSFODNN7EXAMPLQ', 'AIzaSyA0123456789abcdefghijklmnopqrstu'];
const BARE = ['Zq9XvB2mK7pL4wR8tY', 'Hk3Nf8Qw2Lp6Rt9Vx1', 'Mb7Yc4Jd1Gs5Kf0Ua8', 'Pe2Ti6Wo3Xr9Zn4Bv7'];
const ALL = [...KEYS, ...BARE];

const chatBody = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] });
const mcpBody = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'shell', arguments: {} } });

/** One HTTP/2 conversation: the client's writes and the server's reads, credentials all over its headers. */
function conversation(): Array<['write' | 'read', Uint8Array[]]> {
  // the first request puts credentials into the dynamic table; the second names them by index (62.. newest first)
  const first = Uint8Array.from([
    ...encodeHeaders([[':method', 'POST'], [':path', `/v1/chat/completions?key=${BARE[3]}`], [':scheme', 'https'], [':authority', 'api.openai.com'], ['content-type', 'application/json']]),
    ...indexed('authorization', `Bearer ${BARE[0]}`),
    ...indexed('x-api-key', BARE[1]!),
    ...indexed('x-goog-api-key', BARE[2]!),
    ...indexed('api-key', KEYS[3]!),
    ...indexed(KEYS[0]!, 'a header named like a key'),
    ...indexed('x-custom', KEYS[1]!),
    ...encodeHeaders([['cookie', `session=${BARE[2]}`]], false),
  ]);
  const second = Uint8Array.from([
    ...encodeHeaders([[':method', 'POST'], [':path', `/${KEYS[1]}/mcp`], [':authority', KEYS[2]!], ['content-type', `application/json; ${KEYS[0]}`]]),
    0x80 | 67, // authorization
    0x80 | 66, // x-api-key
    0x80 | 65, // x-goog-api-key
    0x80 | 64, // api-key
    0x80 | 63, // the key-named header
    0x80 | 62, // x-custom
  ]);
  const third = Uint8Array.from(encodeHeaders([[':method', KEYS[0]!], [':path', `/v1beta/models/${KEYS[3]}:generateContent`], [':authority', `${KEYS[1]}.example`], ['proxy-authorization', `Basic ${BARE[1]}`]]));
  const write = [
    PREFACE,
    frame(T.SETTINGS, 0, 0, [0, 1, 0, 1, 0, 0]),
    frame(T.HEADERS, 0, 1, first.subarray(0, 40)),
    frame(T.CONTINUATION, 0x4, 1, first.subarray(40)),
    frame(T.DATA, 0x1, 1, enc(chatBody)),
    frame(T.HEADERS, 0x4, 3, second),
    frame(T.DATA, 0x1, 3, enc(mcpBody)),
    frame(T.HEADERS, 0x4, 5, third),
    frame(T.DATA, 0x1, 5, enc(JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }))),
  ];
  const answer = (sid: number, body: string) => [frame(T.HEADERS, 0x4, sid, [...encodeHeaders([[':status', '200'], ['content-type', 'application/json']]), ...indexed('set-cookie', `s=${BARE[0]}`)]), frame(T.DATA, 0x1, sid, enc(body))];
  const read = [frame(T.SETTINGS, 0, 0, []), ...answer(1, JSON.stringify({ usage: { prompt_tokens: 1 } })), ...answer(3, JSON.stringify({ jsonrpc: '2.0', id: 3, result: {} })), ...answer(5, '{}')];
  return [
    ['write', write],
    ['read', read],
  ];
}

describe('AppLayer on HTTP/2: credentials never come out (seeded fuzz)', () => {
  const conv = conversation();

  /** Every credential that shows in what a call produced, early-redacted or redacted after a policy. */
  function leaks(early: { found: Finding[]; render?: string }, late: { found: Finding[]; render?: string }): string[] {
    const evs = asEvents(late.found);
    for (const e of evs) redactEvent(e);
    const out = JSON.stringify(early.found) + redactText(early.render ?? '') + JSON.stringify(evs) + redactText(late.render ?? '');
    // a message body is shown as it is: bytes that a duplicated-then-retyped HEADERS frame made into a body
    // are the body's, and a bare credential in a body has nothing to be known by (keys still must not show)
    const bodiless = out.replace(/\[HTTP\/2 DATA stream \d+\]\n[\s\S]*?(?=\n\[HTTP\/2 |$)/g, '');
    return [...KEYS.filter((s) => out.includes(s)), ...BARE.filter((s) => bodiless.includes(s))];
  }

  it('the clean conversation: findings for all three requests, no credential anywhere', () => {
    const early = new AppLayer(new ProviderTable(), true);
    const late = new AppLayer(new ProviderTable(), false);
    const found: Finding[] = [];
    for (const [dir, frames] of conv) {
      const bytes = cat(...frames);
      const a = early.feed(call(dir, bytes));
      const b = late.feed(call(dir, bytes));
      assert.deepEqual(leaks(a, b), []);
      found.push(...a.found);
    }
    assert.deepEqual(
      found.map((f) => [f.type, f.http.method, f.http.path, f.http.host, f.http.status]),
      [
        ['llm_request', 'POST', '/v1/chat/completions?key=[REDACTED]', 'api.openai.com', undefined],
        ['mcp_message', 'POST', '/[REDACTED]/mcp', '[REDACTED]', undefined],
        ['llm_response', 'POST', '/v1/chat/completions?key=[REDACTED]', 'api.openai.com', 200],
        ['mcp_message', 'POST', '/[REDACTED]/mcp', '[REDACTED]', 200],
      ],
    );
  });

  // The mutations are the framing's: frame headers (length, type, flags, stream), padding, duplicated,
  // swapped and dropped frames, truncation, calls of random sizes, capture gaps. Key-shaped credentials
  // are checked always; bare ones only in conversations whose header-block bytes were not flipped too,
  // because a flip in "set-cookie" makes "set-cookée", no longer a credential's name for anyone.
  const SEED = 0xa9b2;
  it(`2,000 mutated conversations in random calls with gaps: no throw, no credential (seed ${SEED.toString(16)})`, () => {
    const rnd = prng(SEED);
    let found = 0;
    let bareChecked = 0;
    for (let c = 0; c < 2000; c++) {
      const early = new AppLayer(new ProviderTable(), true);
      const late = new AppLayer(new ProviderTable(), false);
      let touched = false;
      const how: string[] = [];
      for (const [dir, original] of conv) {
        const fs = original.map((f) => Uint8Array.from(f));
        const first = dir === 'write' ? 1 : 0; // the preface stays
        for (let k = Math.floor(rnd() * 4); k > 0; k--) {
          const at = first + Math.floor(rnd() * (fs.length - first));
          const f = fs[at]!;
          const op = Math.floor(rnd() * 7);
          how.push(`${dir} ${op}@${at}`);
          if (op === 0) f[Math.floor(rnd() * 9)] ^= 1 << Math.floor(rnd() * 8); // a frame header bit
          else if (op === 1) fs.splice(at, 0, Uint8Array.from(f)); // duplicated
          else if (op === 2) {
            const o = first + Math.floor(rnd() * (fs.length - first));
            [fs[at], fs[o]] = [fs[o]!, f];
          } else if (op === 3) fs.splice(at, 1); // dropped
          else if (op === 4 && f.length > 9) {
            f[4] = f[4]! | 0x8; // PADDED, with whatever the first payload byte says
          } else if (op === 5 && f.length > 9) {
            f[9 + Math.floor(rnd() * (f.length - 9))] ^= 1 << Math.floor(rnd() * 8); // a payload bit
            touched = true;
          } else fs[at] = f.subarray(0, Math.floor(rnd() * f.length)); // cut short
        }
        const data = cat(...fs);
        const end = rnd() < 0.1 ? Math.floor(rnd() * data.length) : data.length;
        for (let at = 0; at < end; ) {
          const piece = data.subarray(at, Math.min(end, at + 1 + Math.floor(rnd() * (rnd() < 0.5 ? 20 : 400))));
          at += piece.length;
          const gap = rnd() < 0.02 ? Math.min(end - at, Math.floor(rnd() * 30)) : 0;
          at += gap;
          const tag = `case ${c} (${how.join(', ')}; replay with prng(0x${SEED.toString(16)}))`;
          let a;
          let b;
          try {
            a = early.feed(call(dir, piece, 'h2', gap));
            b = late.feed(call(dir, piece, 'h2', gap));
          } catch (e) {
            assert.fail(`${tag}: threw ${(e as Error).stack}`);
          }
          found += a.found.length;
          const l = leaks(a, b).filter((x) => !touched || KEYS.includes(x));
          assert.deepEqual(l, [], `${tag}: ${l.join(', ')} in ${JSON.stringify(a).slice(0, 600)}`);
        }
      }
      if (!touched) bareChecked++;
    }
    assert.ok(found > 2000, `most conversations still yield findings (${found})`);
    assert.ok(bareChecked > 1000, `bare credentials checked in ${bareChecked} conversations`);
  });
});

describe('AppLayer on HTTP/2: connections, losses, and the regressions', () => {
  it("one connection's HPACK table never decodes another's blocks, and a freed connection starts afresh", () => {
    const app = new AppLayer(new ProviderTable(), false);
    const a = cat(PREFACE, frame(T.HEADERS, 0x5, 1, [...encodeHeaders([[':method', 'POST'], [':path', '/mcp']]), ...indexed('authorization', 'Bearer conn-a-secret')]));
    // the same block shape on connection b names index 62, which only a's table has
    const b = cat(PREFACE, frame(T.HEADERS, 0x5, 1, [...encodeHeaders([[':method', 'POST'], [':path', '/mcp']]), 0x80 | 62]));
    app.feed(call('write', a, 'conn-a'));
    const rb = app.feed(call('write', b, 'conn-b'));
    assert.ok(!JSON.stringify(rb).includes('conn-a-secret'), JSON.stringify(rb));
    assert.match(rb.lost ?? '', /index 62 beyond the dynamic table \(0 entries\)/);
    // after SSL_free, the same (pid, SSL*) is a new connection with an empty table
    app.feed(call('write', a, 'conn-c'));
    app.forget(7, 'conn-c');
    const rc = app.feed(call('write', b, 'conn-c'));
    assert.ok(!JSON.stringify(rc).includes('conn-a-secret'));
    assert.match(rc.lost ?? '', /index 62/);
  });

  it('a connection error is reported once with its reason, and each later call of that direction says it is not decoded', () => {
    const app = new AppLayer(new ProviderTable(), true);
    const good = (sid: number) => frame(T.HEADERS, 0x5, sid, encodeHeaders([[':method', 'GET'], [':path', `/${sid}`]]));
    const r1 = app.feed(call('write', cat(PREFACE, good(1), frame(T.CONTINUATION, 0x4, 3, [0x82]))));
    assert.equal(r1.lost, 'CONTINUATION without a header block');
    assert.match(r1.render!, /\[HTTP\/2 HEADERS stream 1\][\s\S]*\[HTTP\/2 writes not decoded from here on: CONTINUATION without a header block\]$/);
    const r2 = app.feed(call('write', good(5)));
    assert.equal(r2.lost, undefined); // said once
    assert.equal(r2.render, '[HTTP/2 writes not decoded from here on: CONTINUATION without a header block]');
    assert.deepEqual(r2.found, []);
    // the other direction goes on
    const r3 = app.feed(call('read', frame(T.HEADERS, 0x5, 1, encodeHeaders([[':status', '204']]))));
    assert.equal(r3.lost, undefined);
    assert.match(r3.render!, /:status: 204/);
  });

  it('a credential as :method is redacted (HTTP/2 methods are any string)', () => {
    const app = new AppLayer(new ProviderTable(), true);
    const r = app.feed(call('write', cat(PREFACE, frame(T.HEADERS, 0x4, 1, encodeHeaders([[':method', KEYS[0]!], [':path', '/mcp'], ['content-type', 'application/json']])), frame(T.DATA, 0x1, 1, enc(mcpBody)))));
    assert.equal(r.found.length, 1);
    assert.equal(r.found[0]!.http.method, '[REDACTED]');
  });

  it('the endpoint and a model taken from the path are redacted, early and after a policy', () => {
    const path = `/v1beta/models/${KEYS[3]}:generateContent`;
    const bytes = cat(PREFACE, frame(T.HEADERS, 0x4, 1, encodeHeaders([[':method', 'POST'], [':path', path], ['content-type', 'application/json']])), frame(T.DATA, 0x1, 1, enc(JSON.stringify({ contents: [{ role: 'user', parts: [{ text: 'hi' }] }] }))));
    const early = new AppLayer(new ProviderTable(), true).feed(call('write', bytes)).found;
    assert.equal(early[0]?.type, 'llm_request');
    const llm = early[0]!.type === 'llm_request' ? early[0]!.llm : {};
    assert.deepEqual([llm.endpoint, llm.model], ['/v1beta/models/[REDACTED]:generateContent', '[REDACTED]']);
    const late = asEvents(new AppLayer(new ProviderTable(), false).feed(call('write', bytes)).found);
    assert.equal(late[0]!.llm!.model, KEYS[3]); // the policy sees it whole
    redactEvent(late[0]!);
    assert.deepEqual([late[0]!.llm!.endpoint, late[0]!.llm!.model], ['/v1beta/models/[REDACTED]:generateContent', '[REDACTED]']);
  });

  it('host, content type and method are redacted after a policy too (redactEvent missed them)', () => {
    const e = { id: 'x', time: 't', type: 'llm_request', http: { method: KEYS[0], path: '/', host: `${KEYS[1]}.example`, content_type: `text/plain; ${KEYS[2]}` } } as BustedEvent;
    redactEvent(e);
    assert.ok(!ALL.some((k) => JSON.stringify(e).includes(k)), JSON.stringify(e));
  });

  it('a broken percent escape in a model path segment is kept as it is (decodeURIComponent threw out of the parser)', () => {
    const cases = [
      ['/openai/deployments/%zz/chat/completions', '%zz'],
      ['/v1beta/models/%E0%A4%A:generateContent', '%E0%A4%A'],
      ['/model/%/invoke', '%'],
    ];
    for (const [path, model] of cases as Array<[string, string]>) {
      for (const h2 of [false, true]) {
        const app = new AppLayer(new ProviderTable(), true);
        const body = path.includes('models') ? JSON.stringify({ contents: [] }) : JSON.stringify({ messages: [] });
        const bytes = h2
          ? cat(PREFACE, frame(T.HEADERS, 0x4, 1, encodeHeaders([[':method', 'POST'], [':path', path]])), frame(T.DATA, 0x1, 1, enc(body)))
          : enc(`POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
        const r = app.feed(call('write', bytes));
        assert.equal(r.found.length, 1, `${path} over HTTP/${h2 ? 2 : 1}`);
        const f = r.found[0]!;
        assert.equal(f.type === 'llm_request' && f.llm.model, model);
      }
    }
  });
});
