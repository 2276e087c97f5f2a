/**
 * The behavioural classifier end to end: the real agent (`busted monitor`,
 * the shipped model, no TLS plaintext capture: metadata only) watching real
 * clients in a test cgroup talk TLS to a local server on a host name and
 * port that no provider list knows. A completion streamed token by token
 * (node) scores high and the shipped policy audits it; a bulk download
 * from the same server (curl) scores low and is allowed.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { startDnsmasq, type Resolver } from '../../engine/demo/resolver.js';
import { run } from '../../engine/demo/spawn.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { startTrafficServer, type TrafficServer } from '../../training/traffic/server.js';
import type { SessionSpec } from '../../training/traffic/spec.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';

const skip = kernelSkipReason();
const HOST = 'inference.unlisted.test';

describe('classifier: LLM-like traffic to an unlisted host, from metadata alone', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: TrafficServer;
  let resolver: Resolver;
  let mon: MonitorProcess;
  let port = 0;

  before(async () => {
    cg = new TestCgroup();
    pki = makePki([HOST]);
    // an unlisted port: whatever the kernel hands out
    server = await startTrafficServer([{ kind: 'test', label: 1, host: HOST, ip: '127.0.0.1', port: 0, tls: true, h2: false, ws: false }], { cert: pki.certPem, key: pki.keyPem });
    port = server.ports[0]!;
    resolver = await startDnsmasq({ [HOST]: ['127.0.0.1'] });
    mon = await MonitorProcess.start(['--cgroup', cg.path, '--no-tls']);
  });

  after(async () => {
    await mon?.stop();
    await server?.close();
    await resolver?.stop();
    await cg?.dispose();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  /** The events of the connections a client process made to the server. */
  const ofClient = (comm: string) => (e: BustedEvent) => e.process?.comm === comm && e.net?.dst_port === port && e.net?.direction === 'egress';

  it('a streamed completion scores high and is audited; a bulk download scores low and is allowed', async () => {
    const stream: SessionSpec = {
      id: 'e2e-stream', kind: 'sse_chat', label: 1, client: 'node', host: HOST, port, tls: true, h2: false, connGap: [],
      conns: [{ think: [], requests: [{ method: 'POST', path: '/v1/chat/completions', body: 1800, gen: { shape: 'paced', head: 350, first: 0, events: 110, cadence: 32, jitter: 0.4, size: [110, 220], stall: 0, ping: 0, type: 'text/event-stream', format: 'sse', seed: 1 } }] }],
    };
    const client = join(PACKAGE_ROOT, 'dist', 'training', 'traffic', 'client.js');
    // the download takes as long as the stream: ~3.5 s at 6 MB/s
    const gen = JSON.stringify({ shape: 'body', head: 15, bytes: 21_000_000, rate: 6_000_000, chunk: 65536, type: 'application/octet-stream' });
    const [a, b] = await Promise.all([
      run([process.execPath, client], { cgroup: cg.path, resolvConf: resolver.resolvConf, input: JSON.stringify({ session: stream, ca: pki.caCert }) }),
      run(['curl', '-sS', '-o', '/dev/null', '--cacert', pki.caCert, '-H', `x-gen: ${gen}`, `https://${HOST}:${port}/files/blob.bin`], { cgroup: cg.path, resolvConf: resolver.resolvConf }),
    ]);
    assert.equal(a.code, 0, a.stderr);
    assert.equal(b.code, 0, b.stderr);

    const scoredStream = await mon.waitFor((e) => ofClient('node')(e) && e.ml !== undefined && (e.type === 'close' || e.flow?.phase === 'end'), 'a scored end of the stream', 10_000);
    const scoredBulk = await mon.waitFor((e) => ofClient('curl')(e) && e.ml !== undefined && (e.type === 'close' || e.flow?.phase === 'end'), 'a scored end of the download', 10_000);
    assert.equal(mon.events.filter((e) => e.type === 'tls_data').length, 0, 'metadata only: no plaintext was captured');

    // every score the stream's connection got is high, the download's low
    const streamScores = mon.events.filter((e) => ofClient('node')(e) && e.ml).map((e) => e.ml!);
    const bulkScores = mon.events.filter((e) => ofClient('curl')(e) && e.ml).map((e) => e.ml!);
    assert.ok(streamScores.length >= 2, `stream scored on ${streamScores.length} events`);
    assert.ok(streamScores.every((m) => m.llm_score >= 0.9 && m.label === 'llm'), JSON.stringify(streamScores));
    assert.ok(bulkScores.every((m) => m.llm_score <= 0.1 && m.label === 'other'), JSON.stringify(bulkScores));
    // the stream's flow events carry the shape the score came from
    const f = mon.events.find((e) => ofClient('node')(e) && e.type === 'flow' && e.flow?.phase === 'end')!.flow!;
    assert.ok(f.bursts >= 50 && (f.gap_ms_mean ?? 0) > 15, JSON.stringify(f));
    assert.equal(scoredStream.net?.dst_host, HOST);

    // the shipped policies: audit the unknown LLM endpoint, leave the download alone
    const policy = await PolicyEngine.load(join(PACKAGE_ROOT, 'policies'));
    const v = policy.decide(scoredStream);
    assert.equal(v.action, 'audit');
    assert.match(v.reasons.join('\n'), new RegExp(`LLM-like traffic to unknown destination ${HOST.replaceAll('.', '\\.')} \\(classifier: llm, score (0\\.9\\d*|1)\\)`));
    assert.equal(policy.decide(scoredBulk).action, 'allow');
  });

  it('reports how much it scored when it stops', async () => {
    assert.equal(await mon.stop(), 0);
    const m = /classifier .*llm-traffic\.onnx: (\d+) connection snapshots scored in (\d+) batches/.exec(mon.stderr);
    assert.ok(m, mon.stderr);
    assert.ok(Number(m[1]) >= 2 && Number(m[2]) >= 1, m[0]);
  });
});
