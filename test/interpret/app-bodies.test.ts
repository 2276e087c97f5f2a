// The application layer reads request bodies as a server would: compressed
// bodies (Content-Encoding) decoded — a gzip'd prompt is a prompt, a gzip or
// br answer has its usage, over HTTP/1.1 (sized and chunked) and HTTP/2
// (real nghttp2 bytes) — and a body that does not decode, or whose framing
// a lenient server could read otherwise, is reported (BUSTED_E_CONTENT_CUT's
// finding), not read as nothing.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { AppLayer, type Finding } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { captureH2 } from '../helpers/h2-capture.js';

const call = (direction: 'write' | 'read', data: Uint8Array | string, sni = 'api.openai.com'): TlsCall => {
  const bytes = typeof data === 'string' ? new Uint8Array(Buffer.from(data, 'latin1')) : data;
  return { pid: 7, ssl: 'abc', direction, len: bytes.length, data: bytes, first: undefined as never, conn: { sni }, gated: false, callId: '1' };
};
const latin1 = (b: Uint8Array) => Buffer.from(b).toString('latin1');
const chunk = (b: Uint8Array) => `${b.length.toString(16)}\r\n${latin1(b)}\r\n`;

const PROMPT = 'Summarise the quarterly report; the key is AKIAABCDEFGHIJKLMNOP';
const request = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }] });
const answer = JSON.stringify({ object: 'chat.completion', model: 'gpt-4o-mini-served', choices: [{ index: 0, message: { role: 'assistant', content: 'hi' } }], usage: { prompt_tokens: 11, completion_tokens: 7 } });

function post(body: Uint8Array, coding: string | undefined, host = 'api.openai.com', path = '/v1/chat/completions'): string {
  return `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\n${coding ? `Content-Encoding: ${coding}\r\n` : ''}Content-Length: ${body.length}\r\n\r\n${latin1(body)}`;
}
const gz = (s: string) => new Uint8Array(zlib.gzipSync(Buffer.from(s)));
const br = (s: string) => new Uint8Array(zlib.brotliCompressSync(Buffer.from(s)));

function llm(found: Finding[], type: 'llm_request' | 'llm_response') {
  const f = found.find((x) => x.type === type);
  assert.ok(f && f.type === type, `a ${type} among ${JSON.stringify(found.map((x) => x.type))}`);
  return f.llm;
}

describe('AppLayer: compressed bodies', () => {
  it('HTTP/1.1: a gzip request is read decoded (prompt, model), and its gzip answer gives the usage', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const req = app.feed(call('write', post(gz(request), 'gzip')));
    const info = llm(req.found, 'llm_request');
    assert.equal(info.model, 'gpt-4o-mini');
    assert.equal(info.user_message, PROMPT);
    assert.ok(!req.found.some((f) => f.type === 'cut'));
    const body = gz(answer);
    const res = app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${body.length}\r\n\r\n${latin1(body)}`));
    assert.deepEqual(llm(res.found, 'llm_response').usage, { input_tokens: 11, output_tokens: 7 });
  });

  it('HTTP/1.1: a chunked br event stream (an LLM stream) is decoded at its end', () => {
    const app = new AppLayer(new ProviderTable(), false);
    app.feed(call('write', post(new Uint8Array(Buffer.from(JSON.stringify({ ...JSON.parse(request), stream: true }))), undefined)));
    const sse = `data: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\ndata: ${JSON.stringify({ object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`;
    const body = br(sse);
    const half = Math.floor(body.length / 2);
    assert.deepEqual(app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: br\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body.subarray(0, half))}`)).found, []);
    const end = app.feed(call('read', `${chunk(body.subarray(half))}0\r\n\r\n`));
    const info = llm(end.found, 'llm_response');
    assert.equal(info.stream, true);
    assert.deepEqual(info.usage, { input_tokens: 3, output_tokens: 2 });
  });

  it('HTTP/1.1: an MCP event stream sent gzip is read whole at its end', () => {
    const app = new AppLayer(new ProviderTable(), false);
    app.feed(call('write', 'GET /sse HTTP/1.1\r\nHost: mcp.example.test\r\nAccept: text/event-stream\r\n\r\n', 'mcp.example.test'));
    const sse = `event: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', id: 1, result: { tools: [] } })}\n\nevent: message\ndata: ${JSON.stringify({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' })}\n\n`;
    const body = gz(sse);
    const first = app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n${chunk(body.subarray(0, 10))}`, 'mcp.example.test'));
    // compressed pieces are not read as text: nothing (and nothing made up) until the end
    assert.deepEqual(first.found, []);
    const end = app.feed(call('read', `${chunk(body.subarray(10))}0\r\n\r\n`, 'mcp.example.test'));
    assert.deepEqual(
      end.found.map((f) => f.type === 'mcp_message' && f.mcp),
      [{ kind: 'response', id: 1 }, { kind: 'notification', method: 'notifications/tools/list_changed' }],
    );
  });

  it('a request body that does not decode is reported unread, with the reason, still read as it came, and its connection stays followed', () => {
    const skipped: string[] = [];
    const app = new AppLayer(new ProviderTable(), false, (pid, ssl) => skipped.push(`${pid}:${ssl}`));
    // not a provider's host, not an LLM API's path, and bytes that are not JSON either: only the unread body keeps
    // the connection from being skipped
    const junk = new Uint8Array(Array.from({ length: 300 }, (_, i) => (i * 131 + 7) & 0xff));
    const r = app.feed(call('write', post(junk, 'gzip', 'gateway.corp.example', '/upload'), 'gateway.corp.example'));
    const cut = r.found.find((f) => f.type === 'cut');
    assert.ok(cut && cut.type === 'cut');
    assert.match(cut.reason!, /^gzip body does not decode: /);
    assert.equal(cut.http.host, 'gateway.corp.example');
    assert.deepEqual(skipped, []);
    // a JSON body sent under a coding it is not in: the bytes as they came are still read (a server that ignores
    // the coding would read them so), and the body is said to be unread
    const sent = new Uint8Array(Buffer.from(request));
    const lie = new AppLayer(new ProviderTable(), false).feed(call('write', post(sent, 'br'))).found;
    assert.equal(llm(lie, 'llm_request').user_message, PROMPT);
    assert.ok(lie.some((f) => f.type === 'cut'));
    // an unknown coding the same
    const app2 = new AppLayer(new ProviderTable(), false);
    const r2 = app2.feed(call('write', post(sent, 'x-custom')));
    const cut2 = r2.found.find((f) => f.type === 'cut');
    assert.ok(cut2 && cut2.type === 'cut');
    assert.equal(cut2.provider, 'openai');
    assert.match(cut2.reason!, /unknown content coding "x-custom"/);
  });

  it('a request that inflates past 4 MiB is reported unread, not decoded whole', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const bomb = new Uint8Array(zlib.gzipSync(Buffer.alloc(32 << 20, 0x20)));
    const r = app.feed(call('write', post(bomb, 'gzip')));
    const cut = r.found.find((f) => f.type === 'cut');
    assert.ok(cut && cut.type === 'cut');
    assert.equal(cut.reason, `gzip body decodes to more than ${4 << 20} bytes`);
  });

  it('a gzip request cut short (bytes the kernel did not copy) is read up to there and reported cut', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const long = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: PROMPT }, { role: 'user', content: 'y'.repeat(200) }] });
    const body = gz(long);
    const wire = post(body, 'gzip');
    const keep = wire.length - 8;
    const c = call('write', wire.slice(0, keep));
    const r = app.feed({ ...c, len: wire.length });
    const cut = r.found.find((f) => f.type === 'cut');
    assert.ok(cut && cut.type === 'cut');
    assert.equal(cut.reason, undefined, 'a prefix was read: the usual "not read whole"');
  });

  it('HTTP/2: a gzip request and a gzip answer (real nghttp2 frames)', async () => {
    const chunks = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
        res.end(zlib.gzipSync(Buffer.from(answer)));
      },
      (client) =>
        new Promise<void>((resolve) => {
          const req = client.request({ ':method': 'POST', ':path': '/v1/chat/completions', ':authority': 'api.openai.com', 'content-type': 'application/json', 'content-encoding': 'gzip' });
          req.on('data', () => {});
          req.on('end', resolve);
          req.end(zlib.gzipSync(Buffer.from(request)));
        }),
    );
    const app = new AppLayer(new ProviderTable(), false);
    const found: Finding[] = [];
    for (const c of chunks) found.push(...app.feed(call(c.direction, c.data)).found);
    assert.equal(llm(found, 'llm_request').user_message, PROMPT);
    assert.deepEqual(llm(found, 'llm_response').usage, { input_tokens: 11, output_tokens: 7 });
  });
});

describe('AppLayer: ambiguous request framing (RFC 9112 6.3)', () => {
  const withLengths = (lengths: string[], extra = '') =>
    `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\n${extra}${lengths.map((l) => `Content-Length: ${l}\r\n`).join('')}\r\n`;

  it('the same Content-Length twice is that length (RFC 9110 8.6): the body is read, nothing reported', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const found = app.feed(call('write', withLengths([String(request.length), String(request.length)]) + request)).found;
    assert.equal(llm(found, 'llm_request').user_message, PROMPT);
    assert.ok(!found.some((f) => f.type === 'cut'));
  });

  it('lengths that disagree, or "+N", are read as a lenient server reads them (the first) and reported', () => {
    for (const lengths of [[String(request.length), '3'], [`+${request.length}`]]) {
      const app = new AppLayer(new ProviderTable(), false);
      const found = app.feed(call('write', withLengths(lengths) + request)).found;
      assert.equal(llm(found, 'llm_request').user_message, PROMPT, lengths.join(', '));
      const cut = found.find((f) => f.type === 'cut');
      assert.ok(cut && cut.type === 'cut', lengths.join(', '));
      assert.match(cut.reason!, /^its body's framing is ambiguous \(Content-Length ".*" is not one plain number\)/);
    }
  });

  it('chunked beside a Content-Length is read chunked and reported', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const body = new Uint8Array(Buffer.from(request));
    const found = app.feed(call('write', withLengths([String(body.length + 7)], 'Transfer-Encoding: chunked\r\n') + chunk(body) + '0\r\n\r\n')).found;
    assert.equal(llm(found, 'llm_request').user_message, PROMPT);
    const cut = found.find((f) => f.type === 'cut');
    assert.ok(cut && cut.type === 'cut');
    assert.match(cut.reason!, /Transfer-Encoding "chunked" beside Content-Length/);
  });
});

describe('AppLayer: any JSON a known provider is sent', () => {
  it('an API call no shape knows (Assistants messages) is an llm_request with its text as context; JSON-RPC to a provider host stays MCP', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const body = JSON.stringify({ role: 'user', content: 'my key is AKIAABCDEFGHIJKLMNOP' });
    const r = app.feed(call('write', `POST /v1/threads/thread_1/messages HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)).found;
    const info = llm(r, 'llm_request');
    assert.equal(info.endpoint, '/v1/threads/thread_1/messages');
    assert.equal(info.context, 'my key is AKIAABCDEFGHIJKLMNOP');
    const rpc = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'search', arguments: { q: 'x' } } });
    const m = new AppLayer(new ProviderTable(), false).feed(call('write', `POST /mcp HTTP/1.1\r\nHost: mcp.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${rpc.length}\r\n\r\n${rpc}`, 'mcp.openai.com')).found;
    assert.deepEqual(m.map((f) => f.type), ['mcp_message']);
    // to a host no provider table knows, such JSON is not an LLM call
    const none = new AppLayer(new ProviderTable(), false).feed(call('write', `POST /v1/threads/t/messages HTTP/1.1\r\nHost: api.example.com\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'api.example.com')).found;
    assert.deepEqual(none, []);
  });
});

describe('AppLayer: forms sent to a provider (multipart/form-data)', () => {
  it('a JSONL file for the Batch API is read as context (as octet-stream too); an audio part is not; prompt and model fields are', () => {
    const jsonl = '{"custom_id":"1","method":"POST","url":"/v1/chat/completions","body":{"messages":[{"role":"user","content":"key AKIAABCDEFGHIJKLMNOP"}]}}\n';
    const form = (fileType: string) =>
      Buffer.concat([
        Buffer.from(`--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n--XyZ\r\nContent-Disposition: form-data; name="file"; filename="b.jsonl"\r\nContent-Type: ${fileType}\r\n\r\n${jsonl}\r\n`),
        Buffer.from('--XyZ\r\nContent-Disposition: form-data; name="audio"; filename="a.mp3"\r\nContent-Type: audio/mpeg\r\n\r\n'),
        Buffer.from([0xff, 0xfb, 0x90, 0x00, 0x41, 0x4b, 0x49, 0x41]),
        Buffer.from('\r\n--XyZ\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n--XyZ\r\nContent-Disposition: form-data; name="prompt"\r\n\r\ncaf\u00e9 names\r\n--XyZ--\r\n'),
      ]);
    for (const type of ['application/jsonl', 'application/octet-stream']) {
      const body = form(type);
      const head = `POST /v1/files HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: multipart/form-data; boundary=XyZ\r\nContent-Length: ${body.length}\r\n\r\n`;
      const found = new AppLayer(new ProviderTable(), false).feed(call('write', new Uint8Array(Buffer.concat([Buffer.from(head), body])))).found;
      const info = llm(found, 'llm_request');
      assert.equal(info.endpoint, '/v1/files');
      assert.equal(info.model, 'whisper-1');
      assert.equal(info.user_message, 'caf\u00e9 names');
      assert.equal(info.context, jsonl, type);
    }
  });
});
