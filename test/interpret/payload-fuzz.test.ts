// Seeded fuzzing of what busted reads in application payloads: LLM API
// bodies of every provider, MCP JSON-RPC, and server-sent event streams
// split however the TLS calls happen to cut them. Each failure message names
// the seed and case, so a failure can be replayed.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppLayer, type Finding } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { llmRequest, llmResponse, mcpMessages, mcpFromSse } from '../../engine/interpret/llm.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { prng } from '../helpers/prng.js';

const enc = new TextEncoder();
const call = (direction: 'write' | 'read', data: Uint8Array, ssl = 'fz'): TlsCall => ({ pid: 7, ssl, direction, len: data.length, data, first: undefined as never, conn: { sni: 'mcp.example.test' }, gated: false, callId: '1' });
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;

/** Each of a conversation's byte strings fed as calls cut at the given places; the findings and what was reported lost. */
function run(parts: Array<['write' | 'read', Uint8Array]>, cut: (n: number) => number[]): { found: Finding[]; lost: string[] } {
  const lost: string[] = [];
  const app = new AppLayer(new ProviderTable(), true, undefined, (_n, reason) => lost.push(reason));
  const found: Finding[] = [];
  for (const [dir, bytes] of parts) {
    let at = 0;
    for (const end of [...cut(bytes.length), bytes.length]) {
      if (end <= at) continue;
      found.push(...app.feed(call(dir, bytes.subarray(at, end))).found);
      at = end;
    }
  }
  return { found, lost };
}

const SSE_HEAD = 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n';
const GET_SSE = enc.encode('GET /sse HTTP/1.1\r\nHost: mcp.example.test\r\nAccept: text/event-stream\r\n\r\n');

describe('LLM and MCP bodies (seeded fuzz)', () => {
  it('a model name in a path whose escapes are not UTF-8 is kept as written, not thrown (URIError stopped the agent)', () => {
    for (const path of ['/v1beta/models/%E0%A4%A:generateContent', '/model/%zz/converse', '/openai/deployments/%/chat/completions']) {
      const r = llmRequest('POST', path, { messages: [{ role: 'user', content: 'q' }] });
      assert.ok(r, path);
      assert.equal(r.info.model, path.split('/')[path.startsWith('/v1beta') ? 3 : path.startsWith('/model') ? 2 : 3]!.split(':')[0], path);
    }
  });

  it('20,000 mutated requests, answers and JSON-RPC bodies: nothing thrown, every field of its type', () => {
    const rnd = prng(0x11f2);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const paths = ['/v1/chat/completions', '/openai/deployments/d%41/chat/completions', '/v1/responses', '/v1/messages', '/v1beta/models/gemini%3Ax:streamGenerateContent', '/model/anthropic.claude%3A0/converse-stream', '/v2/chat', '/api/chat', '/v1/fim/completions', '/gw', '/v1/agents/completions'];
    const bodies = [
      { model: 'gpt-4o', stream: true, messages: [{ role: 'system', content: 's' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }, { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'f' } }] }], tools: [{ type: 'function', function: { name: 'f' } }] },
      { model: 'claude', system: [{ type: 'text', text: 'S' }], messages: [{ role: 'user', content: 'u' }], tools: [{ name: 't' }] },
      { contents: [{ role: 'user', parts: [{ text: 'g' }] }], systemInstruction: { parts: [{ text: 's' }] }, tools: [{ functionDeclarations: [{ name: 'fd' }] }] },
      { model: 'o4', instructions: 'i', input: [{ role: 'user', content: 'x' }, { type: 'function_call', name: 'n' }] },
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell', arguments: {} } },
      [{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 'a', method: 'resources/read', params: { uri: 'file:///x' } }],
    ];
    const answers = [
      JSON.stringify({ model: 'm', usage: { prompt_tokens: 1, completion_tokens: 2 }, choices: [{ message: { tool_calls: [{ id: 'x', function: { name: 'f' } }] } }] }),
      ['data: {"model":"m","choices":[{"delta":{"content":"é"}}]}', 'data: {"usage":{"input_tokens":3}}', 'data: [DONE]', ''].join('\n\n'),
      'event: message_start\r\ndata: {"type":"message_start","message":{"model":"c","usage":{"input_tokens":5}}}\r\n\r\n',
      '{"model":"llama","done":false}\n{"model":"llama","done":true,"prompt_eval_count":1,"eval_count":2}\n',
    ];
    const mutate = (t: string): string => {
      let s = t;
      for (let k = Math.floor(rnd() * 4); k > 0; k--) {
        const at = Math.floor(rnd() * (s.length + 1));
        const r = rnd();
        s = r < 0.3 ? s.slice(0, at) + s.slice(at + 1 + Math.floor(rnd() * 8)) : r < 0.6 ? s.slice(0, at) + pick(['"', '{', '[', ']', '}', ',', ':', '%', '%E0', '\\u', '\r', '\n', 'null', '1e999', '-0', '"__proto__"', '\uD800', '[]', '{}']) + s.slice(at) : s.slice(0, at);
      }
      return s;
    };
    const isStrArr = (v: unknown) => v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'));
    for (let i = 0; i < 20_000; i++) {
      const body = mutate(JSON.stringify(pick(bodies)));
      const path = mutate(pick(paths));
      const ctx = `seed 0x11f2 case ${i}: ${JSON.stringify(path)} ${JSON.stringify(body).slice(0, 300)}`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(body);
      } catch {
        parsed = undefined;
      }
      const req = llmRequest('POST', path, parsed);
      if (req) {
        const l = req.info;
        for (const k of ['endpoint', 'model', 'user_message', 'system_prompt'] as const) assert.ok(l[k] === undefined || typeof l[k] === 'string', `${ctx}: ${k}`);
        assert.ok(isStrArr(l.tools) && isStrArr(l.tool_calls), ctx);
      }
      for (const m of mcpMessages(enc.encode(body), pick(['application/json', 'text/event-stream', undefined]))) {
        assert.ok(['request', 'response', 'notification'].includes(m.kind), ctx);
        assert.ok(m.method === undefined || typeof m.method === 'string', ctx);
        assert.ok(m.tool === undefined || typeof m.tool === 'string', ctx);
        assert.ok(m.id === undefined || typeof m.id === 'string' || typeof m.id === 'number', ctx);
      }
      const a = llmResponse(enc.encode(mutate(pick(answers))), pick(['application/json', 'text/event-stream', 'application/x-ndjson', undefined]));
      assert.ok(a.model === undefined || typeof a.model === 'string', ctx);
      assert.ok(a.usage === undefined || Object.values(a.usage).every((n) => typeof n === 'number' && Number.isFinite(n)), ctx);
      assert.ok(isStrArr(a.tool_calls), ctx);
    }
  });
});

describe('AppLayer: an MCP event stream cut anywhere (seeded fuzz)', () => {
  // events with every line ending, data spread over several lines, comments,
  // non-ASCII text (a cut can fall inside a UTF-8 sequence), an event that
  // is not JSON and a batch
  const msgs = [
    { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'héllo 日本 😀' }] } },
    { jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } },
    { jsonrpc: '2.0', id: 'b', method: 'sampling/createMessage', params: {} },
  ];
  const events = (rnd: () => number): string => {
    let s = '';
    // a line end of any kind, but an LF right after a CR would make the two one CRLF
    const line = (t: string) => {
      const e = ['\n', '\r\n', '\r'][Math.floor(rnd() * 3)]!;
      s += t + (s.endsWith('\r') && t === '' && e === '\n' ? '\r' : e);
    };
    for (let i = 0; i < 6; i++) {
      const m = msgs[Math.floor(rnd() * msgs.length)]!;
      const json = rnd() < 0.2 ? JSON.stringify([m, m]) : JSON.stringify(m, null, rnd() < 0.3 ? 1 : undefined);
      if (rnd() < 0.3) line(': keep-alive');
      if (rnd() < 0.5) line('event: message');
      for (const l of json.split('\n')) line(`data:${rnd() < 0.5 ? ' ' : ''}${l}`);
      line('');
      if (rnd() < 0.1) {
        line('data: not json');
        line('');
      }
    }
    return s;
  };

  it('1,200 streams: cut into random calls, mid-line and mid-character, they give what they give whole', () => {
    const rnd = prng(0x55e);
    for (let i = 0; i < 1200; i++) {
      const body = events(rnd);
      // the whole stream in one chunk of the chunked coding, or in several
      const framed = rnd() < 0.5 ? chunk(body) : body.match(/[\s\S]{1,40}/g)!.map(chunk).join('');
      const conv: Array<['write' | 'read', Uint8Array]> = [['write', GET_SSE], ['read', enc.encode(SSE_HEAD + framed + '0\r\n\r\n')]];
      const whole = run(conv, () => []);
      const cuts = run(conv, (n) => Array.from({ length: 1 + Math.floor(rnd() * 30) }, () => Math.floor(rnd() * n)).sort((a, b) => a - b));
      const ids = (f: Finding[]) => f.map((x) => (x.type === 'mcp_message' ? JSON.stringify(x.mcp) : x.type));
      assert.ok(whole.found.length >= 6, `seed 0x55e case ${i}: ${JSON.stringify(body)} gave ${whole.found.length}`);
      assert.deepEqual(ids(cuts.found), ids(whole.found), `seed 0x55e case ${i}: ${JSON.stringify(body)}`);
      assert.deepEqual(cuts.lost, []);
    }
  });

  it('an event longer than the layer keeps is reported lost, skipped to its end, and the stream read on', () => {
    // the dropped event's later data line is a message on its own: read after a silent drop, it passed for one
    const big = `data: {"jsonrpc":"2.0","id":1,"result":{"x":"${'a'.repeat(1 << 20)}"}}\ndata: {"jsonrpc":"2.0","id":"forged","method":"tools/call","params":{"name":"rm"}}\n\n`;
    const after = `data: ${JSON.stringify({ jsonrpc: '2.0', id: 2, result: {} })}\n\n`;
    const body = SSE_HEAD + chunk(big.slice(0, 700_000)) + chunk(big.slice(700_000)) + chunk(after) + '0\r\n\r\n';
    for (const pieces of [1, 300]) {
      const r = run([['write', GET_SSE], ['read', enc.encode(body)]], (n) => Array.from({ length: pieces - 1 }, (_, k) => Math.floor(((k + 1) * n) / pieces)));
      assert.deepEqual(r.found.map((f) => f.type === 'mcp_message' && f.mcp.id), [2], `${pieces} pieces`);
      assert.deepEqual(r.lost, ['server-sent event longer than 1 MiB'], `${pieces} pieces`);
    }
  });

  it('a long event in many small reads takes time linear in it (a hang check, not a benchmark)', () => {
    // each read searched and joined everything held so far: an event of 512 kB in 64-byte reads took seconds
    const text = `data: {"jsonrpc":"2.0","id":9,"result":{"x":"${'b'.repeat(1 << 19)}"}}\n\n`;
    const body = enc.encode(SSE_HEAD + chunk(text) + '0\r\n\r\n');
    const t0 = performance.now();
    const r = run([['write', GET_SSE], ['read', body]], (n) => Array.from({ length: Math.floor(n / 64) }, (_, k) => (k + 1) * 64));
    const ms = performance.now() - t0;
    assert.deepEqual(r.found.map((f) => f.type === 'mcp_message' && f.mcp.id), [9]);
    assert.ok(ms < 2000, `${Math.round(ms)} ms`);
  });
});

describe('AppLayer: no key in any field it reports (seeded fuzz)', () => {
  const KEYS = ['sk-proj-AbCdEf0123456789abcdefXYZ', 'sk-ant-api03-abcdefghijklmnop0123', 'AKIAIOSFODNN7EXAMPLE', 'ghp_abcdefghijklmnopqrstuvwxyz0123456789', 'sk-abcdefghijklmnopqrstuvwx'];
  const h1 = (method: string, path: string, body: string, extra = '') => `${method} ${path} HTTP/1.1\r\nHost: api.example.test\r\nContent-Type: application/json\r\n${extra}Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const resp = (body: string, ct = 'application/json') => `HTTP/1.1 200 OK\r\nContent-Type: ${ct}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

  it('2,000 conversations with a key as model, deployment, tool name, tool call, MCP method, tool, URI or id, cut anywhere', () => {
    const rnd = prng(0x6e7);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
    const convs: Array<(k: string) => Array<['write' | 'read', string]>> = [
      (k) => [['write', h1('POST', '/v1/chat/completions', JSON.stringify({ model: k, messages: [{ role: 'user', content: 'q' }], tools: [{ type: 'function', function: { name: k } }] }))], ['read', resp(JSON.stringify({ model: k, choices: [{ message: { tool_calls: [{ id: 'c', function: { name: k } }] } }] }))]],
      (k) => [['write', h1('POST', `/openai/deployments/${k}/chat/completions?api-version=1`, JSON.stringify({ messages: [{ role: 'user', content: 'q' }] }))], ['read', resp('{}')]],
      (k) => [['write', h1('POST', `/v1beta/models/${encodeURIComponent(k)}:generateContent`, JSON.stringify({ contents: [{ role: 'model', parts: [{ functionCall: { name: k } }] }] }))], ['read', resp(JSON.stringify({ modelVersion: k }))]],
      (k) => [['write', h1('POST', '/v1/messages', JSON.stringify({ model: 'c', messages: [{ role: 'user', content: 'q' }], tools: [{ name: k }] }))], ['read', resp(`event: content_block_start\ndata: ${JSON.stringify({ type: 'content_block_start', content_block: { type: 'tool_use', id: 't', name: k } })}\n\n`, 'text/event-stream')]],
      (k) => [['write', h1('POST', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: k, method: 'tools/call', params: { name: k, arguments: {} } }))], ['read', resp(`data: ${JSON.stringify({ jsonrpc: '2.0', id: k, result: {} })}\n\n`, 'text/event-stream')]],
      (k) => [['write', h1('POST', '/mcp', JSON.stringify([{ jsonrpc: '2.0', id: 1, method: 'resources/read', params: { uri: `https://x.test/r?token=${k}` } }, { jsonrpc: '2.0', method: k }]))], ['read', resp('[]')]],
      (k) => [['write', h1('POST', '/mcp', JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'prompts/get', params: { name: `\n${k}` } }))], ['read', resp(JSON.stringify({ jsonrpc: '2.0', id: 2, error: { code: -1, message: k } }))]],
    ];
    let found = 0;
    for (let i = 0; i < 2000; i++) {
      const key = pick(KEYS);
      const conv = pick(convs)(key).map(([d, t]): ['write' | 'read', Uint8Array] => [d, enc.encode(t)]);
      const r = run(conv, (n) => Array.from({ length: Math.floor(rnd() * 6) }, () => Math.floor(rnd() * n)).sort((a, b) => a - b));
      found += r.found.length;
      const out = JSON.stringify(r.found);
      assert.ok(!out.includes(key), `seed 0x6e7 case ${i}: ${key} in ${out.slice(0, 500)}`);
    }
    assert.ok(found >= 4000, `the conversations are read (${found} findings)`);
  });
});
