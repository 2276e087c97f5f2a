// The application layer on synthetic TLS calls: an MCP server-sent event
// stream that never ends (the HTTP+SSE transport's GET /sse) is reported
// event by event as it arrives, over HTTP/1.1 and HTTP/2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppLayer } from '../../engine/interpret/app.js';
import { reported } from '../../engine/interpret/request-events.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { captureH2, h2request } from '../helpers/h2-capture.js';
import { prng } from '../helpers/prng.js';
import { redactText } from '../../engine/redact.js';

const enc = new TextEncoder();
const call = (direction: 'write' | 'read', data: Uint8Array | string, ssl = 'abc'): TlsCall => {
  const bytes = typeof data === 'string' ? enc.encode(data) : data;
  return { pid: 7, ssl, direction, len: bytes.length, data: bytes, first: undefined as never, conn: { sni: 'mcp.example.test' }, gated: false, callId: '1' };
};
const chunk = (s: string) => `${Buffer.byteLength(s).toString(16)}\r\n${s}\r\n`;
const ev = (o: object) => `event: message\ndata: ${JSON.stringify(o)}\n\n`;

describe('AppLayer: MCP over a long-lived event stream', () => {
  it('HTTP/1.1: each JSON-RPC message as its event completes, the stream still open', () => {
    const app = new AppLayer(new ProviderTable(), true);
    assert.deepEqual(app.feed(call('write', 'GET /sse HTTP/1.1\r\nHost: mcp.example.test\r\nAccept: text/event-stream\r\n\r\n')).found, []);
    app.feed(call('read', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk('event: endpoint\ndata: /messages?session=1\n\n')));
    const first = app.feed(call('read', chunk(ev({ jsonrpc: '2.0', id: 1, result: { tools: [] } }))));
    assert.deepEqual(first.found.map((f) => f.type === 'mcp_message' && f.mcp), [{ kind: 'response', id: 1 }]);
    // an event split across reads: nothing until its end
    const half = ev({ jsonrpc: '2.0', method: 'notifications/tools/list_changed' });
    assert.deepEqual(app.feed(call('read', chunk(half.slice(0, 20)))).found, []);
    const second = app.feed(call('read', chunk(half.slice(20))));
    assert.deepEqual(second.found.map((f) => f.type === 'mcp_message' && f.mcp), [{ kind: 'notification', method: 'notifications/tools/list_changed' }]);
    const f = second.found[0]!;
    assert.equal(f.http.status, 200);
    assert.equal(f.http.path, '/sse');
    // the end of the stream reports only what was not reported yet
    const end = app.feed(call('read', chunk(ev({ jsonrpc: '2.0', id: 2, result: {} })) + '0\r\n\r\n'));
    assert.deepEqual(end.found.map((x) => x.type === 'mcp_message' && x.mcp), [{ kind: 'response', id: 2 }]);
  });

  it('HTTP/2: events in DATA frames are reported before END_STREAM', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let sawFirst = 0;
    const chunks = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(ev({ jsonrpc: '2.0', id: 5, result: { content: [] } }));
        void gate.then(() => res.end(ev({ jsonrpc: '2.0', id: 6, result: {} })));
      },
      (client) =>
        new Promise<void>((resolve) => {
          const req = client.request({ ':method': 'GET', ':path': '/mcp', accept: 'text/event-stream' });
          req.on('data', () => {
            if (++sawFirst === 1) setTimeout(release, 50);
          });
          req.on('end', resolve);
          req.end();
        }),
    );
    const app = new AppLayer(new ProviderTable(), true);
    const seen: Array<[number, unknown]> = [];
    chunks.forEach((c, i) => {
      for (const f of app.feed(call(c.direction, c.data, 'h2')).found) if (f.type === 'mcp_message') seen.push([i, f.mcp.id]);
    });
    assert.deepEqual(seen.map(([, id]) => id), [5, 6]);
    assert.ok(seen[0]![0] < seen[1]![0], `id 5 reported with an earlier read than id 6: ${JSON.stringify(seen)}`);
  });
});

describe('AppLayer: mutated LLM and MCP conversations (seeded fuzz)', () => {
  // Key-shaped credentials in the headers and body of each conversation.
  // Each mutated conversation is cut into calls of random sizes, some with
  // gaps (bytes the kernel did not copy); whatever the layer makes of it,
  // it must not throw, and neither its findings nor the rendering of an
  // HTTP/2 call (after redactText, as the interpreter shows it) may carry
  // one of these credentials. Found this way: a Host line whose CR was
  // changed ran on into the next line, and a key was reported as http.host.
  const SECRETS = ['sk-proj-AbCdEf0123456789abcdefXYZ', 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlc2ln', 'sk-ant-api03-abcdefghijklmnop0123', 'sk-proj-ZZZZf0123456789abcdefXYZ'];
  const reqBody = JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: `hello ${SECRETS[0]}` }], tools: [{ type: 'function', function: { name: 'f' } }] });
  const mcpBody = JSON.stringify({ jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'shell', arguments: { cmd: 'ls' } } });
  const conversations: Array<Array<['write' | 'read', Uint8Array]>> = [
    [
      ['write', enc.encode(`POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nAuthorization: Bearer ${SECRETS[1]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(reqBody)}\r\n\r\n${reqBody}`)],
      ['read', enc.encode('HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n' + chunk(`data: ${JSON.stringify({ choices: [{ delta: { content: 'hi' } }] })}\n\n`) + chunk(`data: ${JSON.stringify({ usage: { prompt_tokens: 3, completion_tokens: 4 } })}\n\ndata: [DONE]\n\n`) + '0\r\n\r\n')],
    ],
    [
      ['write', enc.encode(`POST /v1/messages HTTP/1.1\r\nHost: api.anthropic.com\r\nx-api-key: ${SECRETS[2]}\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n` + chunk(JSON.stringify({ model: 'claude', max_tokens: 5, messages: [{ role: 'user', content: [{ type: 'text', text: 'hey' }] }] })) + '0\r\n\r\n')],
      ['read', enc.encode('HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 60\r\n\r\n' + JSON.stringify({ usage: { input_tokens: 1, output_tokens: 2 }, x: 'aaaaaaaaaaaa' }).padEnd(60))],
    ],
    [
      ['write', enc.encode(`POST /mcp HTTP/1.1\r\nHost: mcp.test\r\nContent-Type: application/json\r\nContent-Length: ${mcpBody.length}\r\n\r\n${mcpBody}`)],
      ['read', enc.encode(`HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n${ev({ jsonrpc: '2.0', id: 3, result: {} })}`)],
    ],
  ];

  it('20,000 mutations: no throw, no credential in what it reports', async () => {
    const h2 = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ usage: { prompt_tokens: 1 } }));
      },
      (client) =>
        new Promise<void>((resolve) => {
          const r = client.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json', authorization: `Bearer ${SECRETS[3]}` });
          r.on('data', () => {});
          r.on('end', resolve);
          r.end(reqBody);
        }),
    );
    const all = [...conversations, h2.map((c): ['write' | 'read', Uint8Array] => [c.direction, c.data])];
    const rnd = prng(0xf022);
    let found = 0;
    for (let it = 0; it < 20_000; it++) {
      const app = new AppLayer(new ProviderTable(), true);
      for (const [direction, original] of all[it % all.length]!) {
        let data = Uint8Array.from(original);
        for (let k = Math.floor(rnd() * 5); k > 0; k--) {
          const at = Math.floor(rnd() * data.length);
          data[at] = rnd() < 0.5 ? Math.floor(rnd() * 256) : data[at]! ^ (1 << Math.floor(rnd() * 8));
        }
        if (rnd() < 0.1) data = data.subarray(0, Math.floor(rnd() * data.length));
        for (let at = 0; at < data.length; ) {
          const piece = data.subarray(at, at + 1 + Math.floor(rnd() * (rnd() < 0.5 ? 16 : data.length)));
          at += piece.length;
          const gap = rnd() < 0.03 ? Math.floor(rnd() * 50) : 0;
          const c = { ...call(direction, piece, 'fz'), len: piece.length + gap, conn: { sni: 'api.openai.com' } };
          const r = app.feed(c);
          found += r.found.length;
          const out = JSON.stringify(r.found) + (r.render === undefined ? '' : redactText(r.render));
          for (const s of SECRETS) assert.ok(!out.includes(s), `mutation ${it}: ${s} in ${out.slice(0, 400)}`);
        }
      }
    }
    assert.ok(found > 5000, `most conversations still yield findings (${found})`);
  });
});

describe('AppLayer: the body bytes all connections hold are bounded', () => {
  const head = (len: number, host = 'api.openai.com') => `POST /v1/chat/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${len}\r\n\r\n`;

  it('many connections with bodies that never end hold at most the budget; a cut request is said; what ends or is forgotten is given back', () => {
    const budget = 64 * 1024;
    const app = new AppLayer(new ProviderTable(), true, undefined, undefined, budget);
    // 40 connections each start a 1 MB body and send 20 KB of it: 800 KB asked to be held
    for (let i = 0; i < 40; i++) app.feed(call('write', head(1 << 20) + 'x'.repeat(20_000), `c${i}`));
    assert.equal(app.bodies.held, budget, 'held up to the budget, no more');
    assert.equal(app.bodies.refused, 40 * 20_000 - budget);
    // one of them ends: its request was cut, and that is a finding of its own
    const end = app.feed(call('write', 'x'.repeat((1 << 20) - 20_000), 'c39'));
    assert.deepEqual(end.found.map((f) => f.type), ['llm_request', 'cut']);
    // forgetting the connections (SSL_free) gives everything back
    for (let i = 0; i < 40; i++) app.forget(7, `c${i}`);
    assert.equal(app.bodies.held, 0);
    // and whole requests, answered, hold nothing afterwards
    for (let i = 0; i < 50; i++) {
      const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: `hello ${i}` }] });
      const r = app.feed(call('write', head(Buffer.byteLength(body)) + body, 'k'));
      assert.deepEqual(r.found.map((f) => f.type), ['llm_request']);
      const answer = JSON.stringify({ id: 'x', model: 'gpt-4o', choices: [{ message: { role: 'assistant', content: 'hi' } }], usage: { prompt_tokens: 1, completion_tokens: 1 } });
      app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(answer)}\r\n\r\n${answer}`, 'k'));
    }
    assert.equal(app.bodies.held, 0);
  });

  it('HTTP/2 streams draw on the same budget, and give it back when their connection is forgotten', async () => {
    const chunks = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{}');
      },
      async (client) => {
        await new Promise<void>((resolve) => {
          const req = client.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
          req.on('response', () => undefined);
          req.on('data', () => undefined);
          req.on('end', () => resolve());
          req.end(JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'y'.repeat(100_000) }] }));
        });
      },
    );
    const app = new AppLayer(new ProviderTable(), true, undefined, undefined, 32 * 1024);
    // the client's writes only (its request), as if the answer never came: the stream stays open
    const found = chunks.filter((c) => c.direction === 'write').flatMap((c) => app.feed({ ...call('write', c.data, 'h2'), conn: { sni: 'api.openai.com' } }).found);
    assert.ok(app.bodies.held <= 32 * 1024, `held ${app.bodies.held}`);
    assert.ok(found.some((f) => f.type === 'cut'), `the request was said to be cut: ${found.map((f) => f.type).join(', ')}`);
    app.forget(7, 'h2');
    assert.equal(app.bodies.held, 0);
  });
});

describe('AppLayer: a request judged part by part while its writes are held (judgePart)', () => {
  const SECRET = 'AKIAIOSFODNN7EXAMPLE';
  const head = (path: string, host = 'gw.example.test') => `POST ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`;
  const partsOf = (app: AppLayer, held: boolean, writes: string[], sni?: string) =>
    writes.map((w) => app.feed({ ...call('write', w), conn: { sni } }, held).found);
  const partial = (found: ReturnType<AppLayer['feed']>['found']) => found.filter((f) => f.type === 'llm_request' && f.llm.partial === true).map((f) => (f.type === 'llm_request' ? f.llm : undefined));

  it('each held part of an LLM call is given as a partial llm_request; the whole request once, at its end', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const found = partsOf(app, true, [head('/v1/chat/completions'), chunk('{"model":"m","messages":[{"role":"user","content":"'), chunk(`deploy with ${SECRET}`), chunk('"}]}') + '0\r\n\r\n']);
    assert.deepEqual(found[0], [], 'the head alone: no body yet');
    assert.deepEqual(partial(found[1]!), [{ endpoint: '/v1/chat/completions', partial: true, user_message: '{"model":"m","messages":[{"role":"user","content":"', context: '{"model":"m","messages":[{"role":"user","content":"' }]);
    // the part before's end comes again with the next part
    assert.ok(partial(found[2]!)[0]!.context!.endsWith(`"content":"deploy with ${SECRET}`));
    // the last part completes it: the whole request, not a partial one
    assert.deepEqual(partial(found[3]!), []);
    const whole = found[3]!.filter((f) => f.type === 'llm_request');
    assert.equal(whole.length, 1);
    assert.equal(whole[0]!.type === 'llm_request' && whole[0]!.llm.user_message, `deploy with ${SECRET}`);
  });

  it('not held (monitor, or a connection not gated): no partial requests', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const found = partsOf(app, false, [head('/v1/chat/completions'), chunk('{"model":"m","messages":[{"role":"user","content":"'), chunk(`x ${SECRET}`)]);
    assert.deepEqual(found.flat(), []);
  });

  it('a secret cut between two parts is seen whole; JSON escapes are read', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const found = partsOf(app, true, [head('/v1/chat/completions'), chunk('{"model":"m","messages":[{"role":"user","content":"key AKIAIOSF'), chunk('ODNN7EXAMPLE and \\u0041KIA\\u0049OSFODNN7EXAMPLE\\n')]);
    const ctx = partial(found[2]!)[0]!.context!;
    assert.match(ctx, /key AKIAIOSFODNN7EXAMPLE and AKIAIOSFODNN7EXAMPLE\n$/);
  });

  it('only a request judged as an LLM call at its end: a POST to a provider, an LLM API path, or a body with messages', () => {
    const upload = new AppLayer(new ProviderTable(), false);
    assert.deepEqual(partsOf(upload, true, [head('/upload'), chunk(`{"file":"${SECRET}"`)]).flat(), [], 'an upload to no provider');
    const chat = new AppLayer(new ProviderTable(), false);
    assert.equal(partial(partsOf(chat, true, [head('/gateway/run'), chunk(`{"model":"m","messages":[{"role":"user","content":"${SECRET}`)])[1]!).length, 1, 'a chat body on any path');
    const provider = new AppLayer(new ProviderTable(), false);
    const p = partial(partsOf(provider, true, [head('/v1/anything', 'api.openai.com'), chunk(`{"x":"${SECRET}`)], 'api.openai.com')[1]!);
    assert.equal(p[0]?.provider, 'openai', 'any POST to a provider');
    // once known to be one, every later part is judged, whatever it holds
    const later = new AppLayer(new ProviderTable(), false);
    const f = partsOf(later, true, [head('/gateway/run'), chunk('{"messages":[{"role":"user","content":"a'), chunk('bc')]);
    assert.equal(partial(f[2]!)[0]?.context?.endsWith('abc'), true);
  });

  it('however a body is cut into parts, a secret in it is seen by the part that completes it (500 random cuttings, chunked and sized, escaped or not)', () => {
    for (let seed = 1; seed <= 500; seed++) {
      const r = prng(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
      // a secret, written as it is or with a JSON escape in it, somewhere in a prompt of random words
      const words = Array.from({ length: 20 + Math.floor(r() * 400) }, () => pick(['lorem', 'ipsum', 'dolor', 'é', '日本', '\\"q\\"', 'a\\nb', 'sk-', 'AKIA']));
      const secret = pick([SECRET, '\\u0041KIAIOSFODNN7EXAMPLE', 'AKIAIOSFODNN7EXAMPL\\u0045']);
      const at = Math.floor(r() * words.length);
      words.splice(at, 0, secret);
      const start = `{"model":"m","messages":[{"role":"user","content":"`;
      const body = `${start}${words.join(' ')}"}]}`;
      // where the secret's bytes end
      const secretEnd = Buffer.byteLength(start + words.slice(0, at + 1).join(' '));
      const bytes = Buffer.from(body);
      const chunked = r() < 0.5;
      const headFor = chunked ? head('/v1/chat/completions') : head('/v1/chat/completions').replace('Transfer-Encoding: chunked', `Content-Length: ${bytes.length}`);
      // cut points anywhere, a UTF-8 sequence or an escape split too
      const cuts = [...new Set(Array.from({ length: 1 + Math.floor(r() * 8) }, () => 1 + Math.floor(r() * (bytes.length - 1))))].sort((a, b) => a - b);
      const pieces = [0, ...cuts].map((c, i, all) => bytes.subarray(c, all[i + 1] ?? bytes.length));
      const app = new AppLayer(new ProviderTable(), false);
      app.feed(call('write', headFor), true);
      const seen: string[] = [];
      let whole: string | undefined;
      pieces.forEach((p, i) => {
        const w = chunked ? Buffer.concat([Buffer.from(`${p.length.toString(16)}\r\n`), p, Buffer.from(i === pieces.length - 1 ? '\r\n0\r\n\r\n' : '\r\n')]) : p;
        for (const f of app.feed(call('write', w), true).found) {
          if (f.type !== 'llm_request') continue;
          if (f.llm.partial) seen.push(f.llm.context!);
          else whole = f.llm.user_message;
        }
      });
      assert.ok(whole?.includes(SECRET), `seed ${seed}: the whole request read`);
      // the part whose text completes the secret sees it whole (the 512-character overlap), unless the
      // last part does, which is the whole request's
      const lastPart = cuts.length ? cuts[cuts.length - 1]! : 0;
      if (secretEnd <= lastPart) assert.ok(seen.some((t) => t.includes(SECRET)), `seed ${seed}: a part saw the secret (cuts ${cuts.join(',')})`);
    }
  });

  it('a gzip body: each part judged on what it decodes to so far', async () => {
    const { gzipSync } = await import('node:zlib');
    // words that do not repeat, so that the secret lies a third of the way into the compressed bytes too
    const words = (n: number, from: number) => Array.from({ length: n }, (_, i) => ((from + i) * 7919 % 1_000_003).toString(36)).join(' ');
    const raw = Buffer.from(`{"model":"m","messages":[{"role":"user","content":"${words(300, 1)} then ${SECRET} and more ${words(600, 5000)}"}]}`);
    const z = gzipSync(raw);
    const cuts = [0, z.length >> 2, z.length >> 1, (3 * z.length) >> 2];
    const app = new AppLayer(new ProviderTable(), false);
    const zhead = `POST /v1/chat/completions HTTP/1.1\r\nHost: gw.example.test\r\nContent-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: ${z.length}\r\n\r\n`;
    app.feed(call('write', zhead), true);
    const seen: string[] = [];
    for (let i = 0; i < cuts.length; i++) {
      const found = app.feed(call('write', z.subarray(cuts[i], cuts[i + 1] ?? z.length)), true).found;
      if (i < cuts.length - 1) seen.push(...partial(found).map((l) => l!.context!));
      else assert.equal(found.filter((f) => f.type === 'llm_request' && f.llm.partial === undefined).length, 1, 'the whole at its end');
    }
    assert.ok(seen.length >= 2, `judged part by part: ${seen.length}`);
    assert.ok(seen.some((t) => t.includes(SECRET)), 'the secret seen before the last part');
  });

  it('HTTP/2: a held write of DATA that does not end its stream is judged on it', async () => {
    const chunks = await captureH2(
      (_req, res) => res.end('{}'),
      (client) =>
        new Promise<void>((resolve) => {
          const req = client.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
          req.on('response', () => req.resume());
          req.on('end', resolve);
          req.write(`{"model":"m","messages":[{"role":"user","content":"${SECRET}`);
          setTimeout(() => req.end('"}]}'), 30);
        }),
    );
    const app = new AppLayer(new ProviderTable(), false);
    const found = chunks.filter((c) => c.direction === 'write').flatMap((c) => app.feed(call('write', c.data), true).found);
    const parts = partial(found);
    assert.ok(parts.some((l) => l?.context?.includes(SECRET)), JSON.stringify(parts));
    assert.equal(found.filter((f) => f.type === 'llm_request' && f.llm.partial === undefined).length, 1, 'and the whole request at its end');
  });
});

describe('AppLayer.watchFrom: where an HTTP/2 client connection\'s writes stand, for the kernel to watch them', () => {
  it('an HTTP/2 client after whole frames: at a frame start; HTTP/1.1 and a server\'s side: not watched', async () => {
    const chunks = await captureH2(
      (_req, res) => res.end('ok'),
      async (client) => {
        const q = client.request({ ':path': '/health' });
        q.resume();
        await new Promise((r) => q.on('end', r));
      },
    );
    const client = new AppLayer(new ProviderTable(), false);
    for (const c of chunks) client.feed(call(c.direction, c.data));
    assert.deepEqual(client.watchFrom(7, 'abc'), { left: 0, data: false });
    // the same bytes seen from the server (its reads are the client's writes): no watch
    const server = new AppLayer(new ProviderTable(), false);
    for (const c of chunks) server.feed(call(c.direction === 'write' ? 'read' : 'write', c.data));
    assert.equal(server.watchFrom(7, 'abc'), undefined);
    const h1 = new AppLayer(new ProviderTable(), false);
    h1.feed(call('write', 'GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    assert.equal(h1.watchFrom(7, 'abc'), undefined);
  });

  it('a write that ends inside a DATA frame: its payload still to come; inside a frame header: null', () => {
    const frame = (type: number, sid: number, payload: Uint8Array, flags = 0) => {
      const h = Buffer.alloc(9);
      h.writeUIntBE(payload.length, 0, 3);
      h[3] = type;
      h[4] = flags;
      h.writeUInt32BE(sid, 5);
      return Buffer.concat([h, payload]);
    };
    const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
    const settings = frame(4, 0, Buffer.alloc(0));
    const data = frame(0, 1, Buffer.alloc(100, 0x61));
    const app = new AppLayer(new ProviderTable(), false);
    app.feed(call('write', Buffer.concat([preface, settings, data.subarray(0, 40)])));
    assert.deepEqual(app.watchFrom(7, 'abc'), { left: 69, data: true });
    app.feed(call('write', Buffer.concat([data.subarray(40), settings.subarray(0, 4)])));
    assert.equal(app.watchFrom(7, 'abc'), null);
  });
});

describe('AppLayer: a watched HTTP/2 connection\'s reads, copied again when an LLM call goes out on it', () => {
  it('a GET, then (reads not copied) another GET and a chat completion: the chat\'s answer is read, with its usage', async () => {
    const chunks = await captureH2(
      (req, res) => {
        if (req.url === '/v1/chat/completions') {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.write(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'gpt-4o', choices: [{ index: 0, delta: { content: 'hi' } }] })}\n\n`);
          res.end(`data: ${JSON.stringify({ object: 'chat.completion.chunk', model: 'gpt-4o', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } })}\n\ndata: [DONE]\n\n`);
        } else {
          res.writeHead(200, { 'content-type': 'text/event-stream' });
          res.end('data: not an LLM answer\n\n');
        }
      },
      async (client) => {
        const go = (headers: Record<string, string>, body?: string) => h2request(client, headers, body);
        await go({ ':path': '/health' });
        await go({ ':path': '/status' });
        await go({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }, JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hello' }] }));
      },
    );
    let uninteresting = 0;
    const app = new AppLayer(new ProviderTable(), false, () => uninteresting++);
    const found: Array<{ type: string; llm?: { usage?: unknown; model?: string } }> = [];
    let watched = false;
    let reads = false;
    for (const c of chunks) {
      if (c.direction === 'read' && watched && !reads) continue; // the kernel does not copy them
      found.push(...(app.feed(call(c.direction, c.data)).found as typeof found));
      if (!watched && uninteresting > 0 && app.writesDone(7, 'abc')) {
        // the interpreter's tlsSkip: watched from here, its reads no longer copied
        assert.notEqual(app.watchFrom(7, 'abc'), undefined);
        app.watched(7, 'abc', true);
        watched = true;
      }
      if (app.takeReadsBack(7, 'abc')) reads = true;
    }
    assert.equal(watched, true);
    assert.equal(reads, true, 'the chat completion turned the reads back on');
    assert.equal(app.readsFollowed(7, 'abc'), true);
    assert.equal(app.takeReadsBack(7, 'abc'), false, 'told once');
    assert.deepEqual(found.map((f) => f.type), ['llm_request', 'llm_response']);
    assert.deepEqual(found[1]!.llm?.usage, { input_tokens: 5, output_tokens: 2 });
    assert.equal(found[1]!.llm?.model, 'gpt-4o');
  });

  it('with --tls-capture-all (reads still copied): nothing is picked up part way, the answer is read all the same', async () => {
    const chunks = await captureH2(
      (req, res) => res.end(req.url === '/v1/chat/completions' ? JSON.stringify({ model: 'm', usage: { prompt_tokens: 1, completion_tokens: 1 } }) : 'ok'),
      async (client) => {
        await h2request(client, { ':path': '/health' });
        await h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }, JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }));
      },
    );
    let uninteresting = 0;
    const app = new AppLayer(new ProviderTable(), false, () => uninteresting++);
    const types: string[] = [];
    let watched = false;
    for (const c of chunks) {
      types.push(...app.feed(call(c.direction, c.data)).found.map((f) => f.type));
      if (!watched && uninteresting > 0 && app.writesDone(7, 'abc')) {
        app.watched(7, 'abc', false);
        watched = true;
      }
      assert.equal(app.takeReadsBack(7, 'abc'), false);
    }
    assert.deepEqual(types, ['llm_request', 'llm_response']);
  });
});

describe('AppLayer: the reads the kernel turns on at a watched connection\'s write with a request body', () => {
  it('an upload that is no AI traffic: the reads are given back once it is read; a chat completion after it keeps them, and its answer is read', async () => {
    const chunks = await captureH2(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(req.url === '/v1/chat/completions' ? JSON.stringify({ model: 'gpt-4o', usage: { prompt_tokens: 3, completion_tokens: 4 } }) : '{"ok":true}');
      },
      async (client) => {
        const go = (headers: Record<string, string>, body?: string) => h2request(client, headers, body);
        await go({ ':path': '/health' });
        await go({ ':method': 'POST', ':path': '/v1/upload', 'content-type': 'application/json' }, '{"note":"no LLM call"}');
        await go({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }, JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'hello' }] }));
      },
    );
    let uninteresting = 0;
    const app = new AppLayer(new ProviderTable(), false, () => uninteresting++);
    const found: Array<{ type: string; llm?: { usage?: unknown } }> = [];
    const given: string[] = [];
    let watched = false;
    let kernelReads = false; // what tls.bpf.c watch_reads holds
    let calls = 0;
    for (const c of chunks) {
      if (c.direction === 'read' && watched && !kernelReads && !app.readsFollowed(7, 'abc')) continue; // not copied
      const body = c.direction === 'write' && watched && /"note"|"messages"/.test(Buffer.from(c.data).toString('latin1'));
      const id = `c${++calls}`;
      if (body) {
        kernelReads = true;
        app.readsTurnedOn(7, 'abc', id);
      }
      found.push(...(app.feed(call(c.direction, c.data)).found as typeof found));
      if (c.direction === 'write') {
        const off = app.readsUnwanted(7, 'abc');
        if (off !== undefined) {
          given.push(off);
          kernelReads = false;
        }
      }
      if (!watched && uninteresting > 0) {
        app.watched(7, 'abc', true);
        watched = true;
      }
      app.takeReadsBack(7, 'abc');
    }
    assert.equal(given.length, 1, 'the upload\'s reads given back, once');
    assert.equal(app.readsFollowed(7, 'abc'), true, 'the chat completion keeps them');
    assert.equal(app.readsUnwanted(7, 'abc'), undefined);
    assert.deepEqual(found.map((f) => f.type), ['llm_request', 'llm_response']);
    assert.deepEqual(found[1]!.llm?.usage, { input_tokens: 3, output_tokens: 4 });
  });
});

describe('AppLayer: the provider a request is for', () => {
  const post = (host: string | undefined, body: string) =>
    `POST /v1/chat/completions HTTP/1.1\r\n${host !== undefined ? `Host: ${host}\r\n` : ''}Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
  const chat = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
  const requestOn = (sni: string | undefined, host: string | undefined, ssl: string) => {
    const app = new AppLayer(new ProviderTable(), true);
    const [f] = app.feed({ ...call('write', post(host, chat), ssl), conn: { sni } }).found;
    assert.equal(f?.type, 'llm_request');
    return f as Extract<typeof f, { type: 'llm_request' }>;
  };

  it('is the one its Host names when the connection was made to another name (domain fronting, ECH\'s outer name)', () => {
    const f = requestOn('cdn.example.net', 'api.mistral.ai', 'front1');
    assert.equal(f.provider, 'mistral');
    assert.equal(f.llm.provider, 'mistral');
    assert.equal(f.http.host, 'api.mistral.ai');
    // the Host wins over another provider's server name too: that server routes by it
    assert.equal(requestOn('api.openai.com', 'api.mistral.ai:443', 'front2').provider, 'mistral');
  });

  it("is the server name's when the Host names no provider, or there is none", () => {
    assert.equal(requestOn('api.openai.com', 'gateway.internal', 'front3').provider, 'openai');
    assert.equal(requestOn('api.openai.com', undefined, 'front4').provider, 'openai');
    assert.equal(requestOn('API.OpenAI.com', 'api.openai.com.', 'front5').provider, 'openai');
    // neither names one: an OpenAI-shaped call to an unknown host has no provider
    assert.equal(requestOn('cdn.example.net', 'llm.example.net', 'front6').provider, undefined);
  });
});

describe('AppLayer: how long an LLM call took', () => {
  const ms = 1e6;
  const openai = (body: object) => {
    const b = JSON.stringify(body);
    return `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(b)}\r\n\r\n${b}`;
  };
  const sse = (o: object) => `data: ${JSON.stringify(o)}\n\n`;

  it('a streamed answer: duration to its last read, time to first token to its first chunk, from the kernel\'s timestamps', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const t0 = 5_000 * ms;
    const [req] = app.feed(call('write', openai({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'hi' }] })), false, t0).found;
    assert.equal(req?.type, 'llm_request');
    // the interpreter reports it: its answer names that event
    if (req?.type === 'llm_request') reported(req.llm, 'ev-41');
    // the head alone is no token: the first piece of the body is
    assert.deepEqual(app.feed(call('read', 'HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n'), false, t0 + 40 * ms).found, []);
    assert.deepEqual(app.feed(call('read', chunk(sse({ model: 'gpt-4o', choices: [{ delta: { content: 'h' } }] }))), false, t0 + 312.5 * ms).found, []);
    app.feed(call('read', chunk(sse({ model: 'gpt-4o', choices: [{ delta: { content: 'i' } }] }))), false, t0 + 700 * ms);
    const end = app.feed(call('read', chunk(sse({ model: 'gpt-4o', choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } }) + 'data: [DONE]\n\n') + '0\r\n\r\n'), false, t0 + 901.25 * ms).found;
    assert.deepEqual(end.map((f) => f.type), ['llm_response']);
    const llm = end[0]!.type === 'llm_response' ? end[0]!.llm : undefined;
    assert.equal(llm?.stream, true);
    assert.equal(llm?.duration_ms, 901.25);
    assert.equal(llm?.ttft_ms, 312.5);
    assert.equal(llm?.request_event, 'ev-41');
    assert.deepEqual(llm?.usage, { input_tokens: 3, output_tokens: 2 });
  });

  it('keep-alive: each answer is timed from its own request; an answer not streamed has no time to first token', () => {
    const app = new AppLayer(new ProviderTable(), false);
    const body = JSON.stringify({ model: 'gpt-4o', usage: { prompt_tokens: 1, completion_tokens: 1 } });
    const answer = `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const timed: Array<{ duration_ms?: number; ttft_ms?: number }> = [];
    for (const [sent, answered] of [[1000, 1250], [2000, 2020]] as const) {
      app.feed(call('write', openai({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })), false, sent * ms);
      for (const f of app.feed(call('read', answer), false, answered * ms).found) if (f.type === 'llm_response') timed.push({ duration_ms: f.llm.duration_ms, ttft_ms: f.llm.ttft_ms });
    }
    assert.deepEqual(timed, [{ duration_ms: 250, ttft_ms: undefined }, { duration_ms: 20, ttft_ms: undefined }]);
  });

  it("a traced client's traceparent is kept on the request and its answer; an invalid one is not", () => {
    const app = new AppLayer(new ProviderTable(), false);
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const b = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] });
    const head = (extra: string) => `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\n${extra}Content-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n${b}`;
    const [req] = app.feed(call('write', head(`traceparent: ${tp}\r\n`))).found;
    assert.equal(req?.http.traceparent, tp);
    const body = JSON.stringify({ model: 'gpt-4o' });
    const [res] = app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)).found;
    assert.equal(res?.type, 'llm_response');
    assert.equal(res?.http.traceparent, tp, 'the answer is part of the same trace');
    const [bad] = app.feed(call('write', head('traceparent: 00-zz-00f067aa0ba902b7-01\r\n'))).found;
    assert.equal(bad?.http.traceparent, undefined);
  });

  it('no timestamps (a caller that has none): no timing, rather than a made-up one', () => {
    const app = new AppLayer(new ProviderTable(), false);
    app.feed(call('write', openai({ model: 'gpt-4o', messages: [{ role: 'user', content: 'x' }] })));
    const body = JSON.stringify({ model: 'gpt-4o' });
    const found = app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`)).found;
    const llm = found[0]?.type === 'llm_response' ? found[0].llm : undefined;
    assert.ok(llm);
    assert.equal('duration_ms' in llm, false);
    assert.equal('ttft_ms' in llm, false);
  });

  it('HTTP/2: timed per stream', async () => {
    const chunks = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sse({ model: 'gpt-4o', choices: [{ delta: { content: 'h' } }] }));
        setTimeout(() => res.end(sse({ model: 'gpt-4o', choices: [], usage: { prompt_tokens: 1, completion_tokens: 1 } })), 30);
      },
      async (client) => {
        await h2request(client, { ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }, JSON.stringify({ model: 'gpt-4o', stream: true, messages: [{ role: 'user', content: 'x' }] }));
      },
    );
    const app = new AppLayer(new ProviderTable(), false);
    // each captured call 10 ms after the one before it
    let t = 1000 * ms;
    let request = 0;
    let answered = 0;
    let llm: { duration_ms?: number; ttft_ms?: number } | undefined;
    for (const c of chunks) {
      t += 10 * ms;
      for (const f of app.feed(call(c.direction, c.data), false, t).found) {
        if (f.type === 'llm_request') request = t;
        if (f.type === 'llm_response') {
          answered = t;
          llm = { duration_ms: f.llm.duration_ms, ttft_ms: f.llm.ttft_ms };
        }
      }
    }
    assert.ok(request > 0 && llm, 'a request and its answer');
    assert.equal(llm.duration_ms, (answered - request) / ms);
    assert.ok(llm.ttft_ms !== undefined && llm.ttft_ms > 0 && llm.ttft_ms < llm.duration_ms!, `ttft ${llm.ttft_ms} within ${llm.duration_ms}`);
  });
});
