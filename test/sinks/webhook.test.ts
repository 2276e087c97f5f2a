/**
 * --output webhook:URL against a real HTTPS collector on loopback (its own CA,
 * a bearer token, a custom header) that goes down on purpose: nothing is lost
 * or sent twice, the order is kept, the spill survives a restart of the agent,
 * and what does not fit is counted.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { WebhookSink, type WebhookOptions } from '../../engine/sinks/webhook.js';
import { makeEvent, seqs } from '../helpers/events.js';

const TOKEN = 'whk-secret-token-0123456789';

/** A collector: stores each accepted batch's lines; can refuse (503) or go away (closed port). */
class Collector {
  lines: string[] = [];
  requests = 0;
  refused = 0;
  status = 200;
  headers: IncomingMessage['headers'][] = [];
  private server: Server | undefined;
  port = 0;

  constructor(private readonly pki: Pki) {}

  async up(): Promise<void> {
    this.server = createServer({ key: this.pki.keyPem, cert: this.pki.certPem }, (req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  async down(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      this.requests++;
      this.headers.push(req.headers);
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        res.writeHead(401).end();
        return;
      }
      if (this.status !== 200) {
        this.refused++;
        res.writeHead(this.status).end();
        return;
      }
      this.lines.push(...body.split('\n').filter(Boolean));
      res.writeHead(204).end();
    });
  }
}

async function until(pred: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('webhook sink', () => {
  let pki: Pki;
  let dir: string;
  before(() => {
    pki = makePki(['collector.test']);
    dir = mkdtempSync(join(tmpdir(), 'busted-webhook-'));
  });
  after(() => {
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  const opts = (o: WebhookOptions = {}): WebhookOptions => ({
    token: TOKEN,
    ca: pki.caPem,
    headers: { 'x-busted-site': 'lab-1' },
    flushMs: 50,
    backoffBaseMs: 20,
    backoffMaxMs: 200,
    onError: () => {},
    ...o,
  });

  it('POSTs NDJSON batches over TLS with the token and headers, in order', async () => {
    const c = new Collector(pki);
    await c.up();
    const sink = new WebhookSink(new URL(`https://127.0.0.1:${c.port}/ingest?key=abc`), opts({ batchEvents: 100 }));
    assert.equal(sink.name, `webhook:https://127.0.0.1:${c.port}/ingest`, 'no query in the name');
    for (let i = 0; i < 1000; i++) sink.write(makeEvent(i));
    await sink.close();
    assert.deepEqual(seqs(c.lines), Array.from({ length: 1000 }, (_, i) => i));
    assert.equal(c.requests, 10);
    assert.equal(c.headers[0]!['content-type'], 'application/x-ndjson');
    assert.equal(c.headers[0]!['x-busted-site'], 'lab-1');
    assert.equal(sink.delivered, 1000);
    assert.equal(sink.dropped, 0);
    await c.down();
  });

  it('refuses an endpoint whose certificate its CA did not sign, and keeps the events', async () => {
    const c = new Collector(pki);
    await c.up();
    const other = makePki(['x.test']);
    const msgs: string[] = [];
    const sink = new WebhookSink(new URL(`https://127.0.0.1:${c.port}/`), opts({ ca: other.caPem, onError: (m) => msgs.push(m), spillDir: join(dir, 'badca'), closeTimeoutMs: 300 }));
    for (let i = 0; i < 10; i++) sink.write(makeEvent(i));
    await until(() => msgs.some((m) => /SELF_SIGNED|UNABLE_TO_VERIFY|unable to verify|self.signed/i.test(m)), 'a certificate error');
    await sink.close();
    assert.equal(c.lines.length, 0);
    assert.equal(sink.spilled, 10, 'kept on disk for the next run');
    rmSync(other.dir, { recursive: true, force: true });
    await c.down();
  });

  it('endpoint down, then refusing (503), then back: nothing lost, nothing twice, order kept', async () => {
    const c = new Collector(pki);
    await c.up();
    const port = c.port;
    await c.down();
    const spillDir = join(dir, 'down');
    const sink = new WebhookSink(new URL(`https://127.0.0.1:${port}/ingest`), opts({ memoryBytes: 32 << 10, spillDir, batchEvents: 200 }));
    const N = 6000;
    let i = 0;
    // down: events keep coming, past memory, to the disk
    for (; i < 3000; i++) {
      sink.write(makeEvent(i));
      if (i % 500 === 0) await new Promise((r) => setTimeout(r, 10));
    }
    await until(() => readdirSync(join(spillDir, readdirSync(spillDir)[0]!)).length > 0, 'spill segments on disk');
    assert.ok(sink.spilled > 2000, `spilled ${sink.spilled}`);
    // up but refusing
    c.status = 503;
    await c.up();
    await until(() => c.refused >= 3, 'the collector to refuse a few times');
    for (; i < 4500; i++) sink.write(makeEvent(i));
    // back for real
    c.status = 200;
    for (; i < N; i++) {
      sink.write(makeEvent(i));
      if (i % 300 === 0) await new Promise((r) => setTimeout(r, 5));
    }
    await until(() => sink.delivered === N, `all ${N} delivered (have ${sink.delivered})`);
    await sink.close();
    assert.deepEqual(seqs(c.lines), Array.from({ length: N }, (_, k) => k));
    assert.equal(sink.dropped, 0);
    assert.ok(sink.retries >= 3, `retries ${sink.retries}`);
    assert.equal(sink.spilled, 0);
    assert.deepEqual(readdirSync(join(spillDir, readdirSync(spillDir)[0]!)), [], 'spill segments removed once sent');
    await c.down();
  });

  it('an agent stopped while the endpoint is down sends the spill first on its next run', async () => {
    const c = new Collector(pki);
    await c.up();
    const port = c.port;
    await c.down();
    const spillDir = join(dir, 'restart');
    const url = new URL(`https://127.0.0.1:${port}/ingest`);
    const a = new WebhookSink(url, opts({ spillDir, closeTimeoutMs: 200 }));
    for (let i = 0; i < 1500; i++) a.write(makeEvent(i));
    await a.close();
    assert.equal(a.dropped, 0);
    assert.equal(a.spilled, 1500);
    await c.up();
    const b = new WebhookSink(url, opts({ spillDir }));
    for (let i = 1500; i < 2000; i++) b.write(makeEvent(i));
    await until(() => b.delivered === 2000, 'the spill and the new events delivered');
    await b.close();
    assert.deepEqual(seqs(c.lines), Array.from({ length: 2000 }, (_, k) => k));
    await c.down();
  });

  it('counts what fits neither in memory nor in the spill; what is sent stays in order', async () => {
    const c = new Collector(pki);
    await c.up();
    const port = c.port;
    await c.down();
    const sink = new WebhookSink(new URL(`https://127.0.0.1:${port}/`), opts({ memoryBytes: 16 << 10, spillDir: join(dir, 'full'), spillMaxBytes: 64 << 10 }));
    const N = 3000;
    for (let i = 0; i < N; i++) sink.write(makeEvent(i));
    assert.ok(sink.dropped > 0);
    await c.up();
    await until(() => sink.delivered + sink.dropped === N, 'everything delivered or counted');
    await sink.close();
    const got = seqs(c.lines);
    assert.equal(got.length, sink.delivered);
    for (let k = 1; k < got.length; k++) assert.ok(got[k]! > got[k - 1]!, 'in order, no repeats');
    await c.down();
  });

  it('a collector that refuses the content (401): the batch is dropped, counted, reported without the token', async () => {
    const c = new Collector(pki);
    await c.up();
    const msgs: string[] = [];
    const sink = new WebhookSink(new URL(`https://127.0.0.1:${c.port}/`), opts({ token: 'wrong-token-value', onError: (m) => msgs.push(m) }));
    for (let i = 0; i < 50; i++) sink.write(makeEvent(i));
    await sink.close();
    assert.equal(sink.dropped, 50);
    assert.equal(msgs.length, 1);
    assert.match(msgs[0]!, /BUSTED_E_SINK: webhook:https:\/\/127\.0\.0\.1:\d+\/: HTTP 401/);
    assert.ok(!msgs.join('').includes('wrong-token-value'));
    await c.down();
  });
});
