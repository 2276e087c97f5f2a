// The application layer on synthetic TLS calls: an MCP server-sent event
// stream that never ends (the HTTP+SSE transport's GET /sse) is reported
// event by event as it arrives, over HTTP/1.1 and HTTP/2.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppLayer } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { captureH2 } from '../helpers/h2-capture.js';

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
