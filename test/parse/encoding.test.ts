// HTTP content codings (engine/parse/encoding.ts): every coding Node's zlib
// reads, layered codings undone in the right order, a body cut short read up
// to where it stops, and what cannot be decoded (garbage, an unknown coding,
// a body that inflates past the limit) said, never thrown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { codingsOf, decodeBody } from '../../engine/parse/encoding.js';

// a prompt of varied words (a run of one letter would be a single back-reference, with nothing to show of a prefix)
const WORDS = ['quarterly', 'revenue', 'summary', 'flag', 'unusual', 'numbers', 'team', 'finance', 'report', 'points'];
const words = Array.from({ length: 600 }, (_, i) => WORDS[(i * 7 + (i >> 3)) % WORDS.length]).join(' ');
const text = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: `${words} AKIAABCDEFGHIJKLMNOP` }] });
const plain = new Uint8Array(Buffer.from(text));
const MAX = 4 << 20;
const str = (b: Uint8Array) => Buffer.from(b).toString('utf8');

describe('content codings', () => {
  it('reads the coding list: lower case, identity and empty items dropped, in the order applied', () => {
    assert.deepEqual(codingsOf(undefined), []);
    assert.deepEqual(codingsOf('identity'), []);
    assert.deepEqual(codingsOf(' GZip , , br'), ['gzip', 'br']);
  });

  it('decodes gzip, x-gzip, deflate (zlib and raw) and br', () => {
    const cases: [string, Buffer][] = [
      ['gzip', zlib.gzipSync(plain)],
      ['x-gzip', zlib.gzipSync(plain)],
      ['deflate', zlib.deflateSync(plain)],
      ['deflate', zlib.deflateRawSync(plain)],
      ['br', zlib.brotliCompressSync(plain)],
    ];
    for (const [coding, sent] of cases) {
      assert.ok(sent.length < plain.length / 3, `${coding} compresses`);
      const d = decodeBody(new Uint8Array(sent), coding, false, MAX);
      assert.equal(d.error, undefined, coding);
      assert.equal(d.truncated, false);
      assert.equal(str(d.body), text, coding);
    }
  });

  it('undoes layered codings last first', () => {
    const sent = zlib.brotliCompressSync(zlib.gzipSync(plain));
    assert.equal(str(decodeBody(new Uint8Array(sent), 'gzip, br', false, MAX).body), text);
    // the other order does not decode, and says so
    const wrong = decodeBody(new Uint8Array(sent), 'br, gzip', false, MAX);
    assert.match(wrong.error!, /^gzip body does not decode/);
  });

  it('leaves a body without a coding, or an identity one, as it is (the same array)', () => {
    assert.equal(decodeBody(plain, undefined, false, MAX).body, plain);
    assert.equal(decodeBody(plain, 'identity', false, MAX).body, plain);
  });

  it('a body cut short decodes to the prefix it holds, and stays marked truncated', () => {
    for (const [coding, sent] of [
      ['gzip', zlib.gzipSync(plain)],
      ['br', zlib.brotliCompressSync(plain)],
      ['deflate', zlib.deflateSync(plain)],
    ] as const) {
      const half = new Uint8Array(sent.subarray(0, Math.floor(sent.length * 0.6)));
      const d = decodeBody(half, coding, true, MAX);
      assert.equal(d.error, undefined, coding);
      assert.equal(d.truncated, true);
      assert.ok(d.body.length > 0 && text.startsWith(str(d.body)), `${coding}: a prefix of the text (${d.body.length} bytes)`);
    }
  });

  it('a complete body that ends early or is garbage is an error, and comes back as it was', () => {
    const sent = zlib.gzipSync(plain);
    const early = new Uint8Array(sent.subarray(0, sent.length - 20));
    const d = decodeBody(early, 'gzip', false, MAX);
    assert.match(d.error!, /^gzip body does not decode: /);
    assert.equal(d.body, early);
    const junk = new Uint8Array(Buffer.from('not compressed at all'));
    for (const coding of ['gzip', 'deflate', 'br']) {
      const j = decodeBody(junk, coding, false, MAX);
      assert.match(j.error!, new RegExp(`^${coding} body does not decode`), coding);
      assert.equal(j.body, junk);
    }
  });

  it('an unknown coding, or too many layers, is said, not guessed at', () => {
    assert.equal(decodeBody(plain, 'compress', false, MAX).error, 'compress body does not decode: unknown content coding "compress"');
    assert.match(decodeBody(plain, 'gzip, gzip, gzip, gzip, gzip', false, MAX).error!, /^5 content codings/);
  });

  it('zstd decodes where this Node has it, and is said to be unsupported where it has not', () => {
    const z = zlib as unknown as { zstdCompressSync?: (b: Uint8Array) => Buffer };
    const d = decodeBody(new Uint8Array(z.zstdCompressSync ? z.zstdCompressSync(plain) : Buffer.from([0x28, 0xb5, 0x2f, 0xfd])), 'zstd', false, MAX);
    if (z.zstdCompressSync) assert.equal(str(d.body), text);
    else assert.match(d.error!, /zstd is not supported by Node/);
  });

  it('a body that inflates past the limit stops there: empty, truncated, said (a 64 MiB bomb)', () => {
    const bomb = zlib.gzipSync(Buffer.alloc(64 << 20));
    assert.ok(bomb.length < 100_000);
    const rss0 = process.memoryUsage().rss;
    const d = decodeBody(new Uint8Array(bomb), 'gzip', false, MAX);
    assert.equal(d.body.length, 0);
    assert.equal(d.truncated, true);
    assert.equal(d.error, `gzip body decodes to more than ${MAX} bytes`);
    // what it took is about the limit, not the 64 MiB
    assert.ok(process.memoryUsage().rss - rss0 < 48 << 20);
    // the same through brotli
    const b = decodeBody(new Uint8Array(zlib.brotliCompressSync(Buffer.alloc(64 << 20))), 'br', false, MAX);
    assert.equal(b.error, `br body decodes to more than ${MAX} bytes`);
  });
});
