// WebSocket frames (engine/parse/websocket.ts): masked and unmasked frames
// of every length form, fragments around a ping, bytes one at a time;
// permessage-deflate with the window carried from message to message
// (compressed by a real zlib stream flushed per message, as browsers and
// Python's websockets do) and without; gaps; and random bytes never throw.
// Then the realtime APIs' messages (engine/interpret/realtime.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { WsReader, wsDeflateOf, type WsMessage } from '../../engine/parse/websocket.js';
import { realtimeOf, realtimeRequest, realtimeResponse } from '../../engine/interpret/realtime.js';
import { prng } from '../helpers/prng.js';

function frame(payload: Uint8Array, o: { opcode?: number; fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Uint8Array {
  const n = payload.length;
  const first = (o.fin === false ? 0 : 0x80) | (o.rsv1 ? 0x40 : 0) | (o.opcode ?? 1);
  const maskBit = o.mask === false ? 0 : 0x80;
  const len = n < 126 ? [maskBit | n] : n < 65536 ? [maskBit | 126, n >> 8, n & 0xff] : [maskBit | 127, 0, 0, 0, 0, (n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
  const key = o.mask === false ? [] : [0x12, 0x34, 0x56, 0x78];
  const body = o.mask === false ? payload : payload.map((b, i) => b ^ key[i & 3]!);
  return Uint8Array.from([first, ...len, ...key, ...body]);
}
const enc = (s: string) => new Uint8Array(Buffer.from(s));
const texts = (ms: WsMessage[]) => ms.map((m) => Buffer.from(m.data).toString());
function reader(deflate = wsDeflateOf(undefined).client) {
  const got: WsMessage[] = [];
  const lost: string[] = [];
  return { r: new WsReader((m) => got.push(m), (w) => lost.push(w), deflate), got, lost };
}

/** Messages compressed by one raw-deflate stream flushed per message (the window carried), the flush's tail cut (RFC 7692 7.2.1). */
async function compressAll(msgs: string[], takeover = true): Promise<Uint8Array[]> {
  const out: Uint8Array[] = [];
  let z = zlib.createDeflateRaw();
  for (const m of msgs) {
    if (!takeover) z = zlib.createDeflateRaw();
    const parts: Buffer[] = [];
    const onData = (d: Buffer) => parts.push(d);
    z.on('data', onData);
    await new Promise<void>((r) => {
      z.write(Buffer.from(m));
      z.flush(zlib.constants.Z_SYNC_FLUSH, () => r());
    });
    z.off('data', onData);
    const c = Buffer.concat(parts);
    assert.deepEqual([...c.subarray(-4)], [0, 0, 0xff, 0xff]);
    out.push(new Uint8Array(c.subarray(0, c.length - 4)));
  }
  return out;
}

describe('WebSocket frames', () => {
  it('masked and unmasked, 7-, 16- and 64-bit lengths, fragments around a ping, one byte at a time', () => {
    const big = 'x'.repeat(70_000);
    const stream = Uint8Array.from([
      ...frame(enc('hello')),
      ...frame(enc('a'.repeat(300)), { mask: false }),
      ...frame(enc(big)),
      ...frame(enc('frag-'), { fin: false }),
      ...frame(enc('ping'), { opcode: 9 }),
      ...frame(enc('ment'), { opcode: 0 }),
      ...frame(Uint8Array.of(1, 2, 3), { opcode: 2 }),
    ]);
    const whole = reader();
    whole.r.push(stream);
    assert.deepEqual(texts(whole.got), ['hello', 'a'.repeat(300), big, 'frag-ment', '\u0001\u0002\u0003']);
    assert.deepEqual(whole.got.map((m) => m.text), [true, true, true, true, false]);
    const bytes = reader();
    for (let i = 0; i < stream.length; i++) bytes.r.push(stream.subarray(i, i + 1));
    assert.deepEqual(texts(bytes.got), texts(whole.got));
    assert.deepEqual(whole.lost, []);
  });

  it('permessage-deflate with the window carried: every message inflates; without the window the second would not', async () => {
    const msgs = ['{"type":"session.update","session":{"instructions":"be terse, be terse"}}', '{"type":"session.update","session":{"instructions":"be terse, be terse, be terse"}}', 'a third one'];
    const compressed = await compressAll(msgs);
    const deflate = wsDeflateOf('permessage-deflate; client_max_window_bits').client;
    assert.deepEqual(deflate, { on: true, takeover: true });
    const ok = reader(deflate);
    for (const c of compressed) ok.r.push(frame(c, { rsv1: true }));
    assert.deepEqual(texts(ok.got), msgs);
    // the same bytes read as if the handshake had said no_context_takeover: the back-reference finds no window
    const cut = reader(wsDeflateOf('permessage-deflate; client_no_context_takeover').client);
    for (const c of compressed) cut.r.push(frame(c, { rsv1: true }));
    assert.deepEqual(texts(cut.got), [msgs[0]]);
    assert.match(cut.lost[0] ?? '', /does not inflate/);
    // a compressor that resets per message reads either way
    const fresh = await compressAll(msgs, false);
    const nt = reader(wsDeflateOf('permessage-deflate; client_no_context_takeover').client);
    for (const c of fresh) nt.r.push(frame(c, { rsv1: true }));
    assert.deepEqual(texts(nt.got), msgs);
  });

  it('a gap inside an uncompressed payload skips that message only; inside a compressed one with a window, the direction is lost', async () => {
    const g = reader();
    const f = frame(enc('y'.repeat(1000)));
    g.r.push(f.subarray(0, 400));
    g.r.gap(f.length - 400);
    g.r.push(frame(enc('after')));
    assert.deepEqual(texts(g.got), ['after']);
    assert.equal(g.lost.length, 1);
    const words = (k: number) => Array.from({ length: 60 }, (_, i) => ['quarterly', 'report', 'lights', 'kitchen'][(i * k) % 4]).join(' ');
    const [c1, c2] = await compressAll([words(3), words(5)]);
    const d = reader(wsDeflateOf('permessage-deflate').client);
    const f1 = frame(c1!, { rsv1: true });
    d.r.push(f1.subarray(0, 12));
    d.r.gap(f1.length - 12);
    d.r.push(frame(c2!, { rsv1: true }));
    assert.deepEqual(d.got, []);
    assert.match(d.lost[0] ?? '', /compressed message were not captured/);
  });

  it('random bytes and gaps never throw', () => {
    const rnd = prng(0x3e6);
    for (let i = 0; i < 2000; i++) {
      const { r } = reader(i % 2 ? wsDeflateOf('permessage-deflate').server : undefined);
      for (let k = 0; k < 4; k++) {
        if (rnd() < 0.2) r.gap(Math.floor(rnd() * 50));
        else r.push(Uint8Array.from({ length: Math.floor(rnd() * 40) }, () => Math.floor(rnd() * 256)));
      }
    }
  });
});

describe('realtime APIs', () => {
  it('knows OpenAI, Azure and Gemini Live targets, and no other', () => {
    assert.deepEqual(realtimeOf('/v1/realtime?model=gpt-4o-realtime-preview'), { api: 'openai_realtime', endpoint: '/v1/realtime', calls: [], model: 'gpt-4o-realtime-preview' });
    assert.equal(realtimeOf('/openai/realtime?api-version=2025-04-01-preview&deployment=rt')?.model, 'rt');
    assert.equal(realtimeOf('/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent?key=x')?.api, 'gemini_live');
    assert.equal(realtimeOf('/socket.io/?EIO=4'), undefined);
  });

  it('OpenAI: a user turn, instructions, a function output as context; audio is no event; response.done has the usage', () => {
    const rt = realtimeOf('/v1/realtime?model=m')!;
    assert.deepEqual(realtimeRequest(rt, { type: 'conversation.item.create', event_id: 'e1', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'hi' }] } }), { endpoint: '/v1/realtime', stream: true, user_message: 'hi', model: 'm' });
    assert.deepEqual(realtimeRequest(rt, { type: 'session.update', session: { instructions: 'be terse', tools: [{ type: 'function', name: 'f' }] } }), { endpoint: '/v1/realtime', stream: true, system_prompt: 'be terse', tools: ['f'], model: 'm', context: 'f' });
    assert.equal(realtimeRequest(rt, { type: 'conversation.item.create', item: { type: 'function_call_output', call_id: 'c', output: 'SECRET=1' } })?.context, 'c\nSECRET=1');
    assert.equal(realtimeRequest(rt, { type: 'input_audio_buffer.append', audio: 'AAAA' }), undefined);
    assert.deepEqual(realtimeResponse(rt, { type: 'response.done', response: { output: [{ type: 'function_call', name: 'f' }], usage: { input_tokens: 5, output_tokens: 2 } } }), { usage: { input_tokens: 5, output_tokens: 2 }, tool_calls: ['f'] });
    assert.equal(realtimeResponse(rt, { type: 'response.audio.delta', delta: 'AAAA' }), undefined);
  });

  it('Gemini Live: setup names the model, the system instruction and tools; client turns and text input; usage with the calls asked for', () => {
    const rt = realtimeOf('/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent')!;
    assert.deepEqual(realtimeRequest(rt, { setup: { model: 'models/gemini-2.0-flash-live-001', systemInstruction: { parts: [{ text: 'sys' }] }, tools: [{ functionDeclarations: [{ name: 'lights' }] }] } }), {
      endpoint: rt.endpoint,
      stream: true,
      system_prompt: 'sys',
      tools: ['lights'],
      model: 'gemini-2.0-flash-live-001',
      context: 'lights',
    });
    assert.equal(realtimeRequest(rt, { clientContent: { turns: [{ role: 'user', parts: [{ text: 'turn on' }] }], turnComplete: true } })?.user_message, 'turn on');
    assert.equal(realtimeRequest(rt, { realtimeInput: { text: 'typed' } })?.user_message, 'typed');
    assert.equal(realtimeRequest(rt, { realtimeInput: { audio: { data: 'AAAA', mimeType: 'audio/pcm' } } }), undefined);
    assert.equal(realtimeResponse(rt, { toolCall: { functionCalls: [{ name: 'lights', args: {} }] } }), undefined);
    assert.deepEqual(realtimeResponse(rt, { usageMetadata: { promptTokenCount: 9, responseTokenCount: 4 } }), { usage: { input_tokens: 9, output_tokens: 4 }, tool_calls: ['lights'] });
  });
});
