// The classify stage (engine/ml/classifier.ts) with the shipped model, fed
// events as the pipeline feeds them: annotate is synchronous, the vector a
// flow event makes is scored in a batch afterwards, and the score reaches
// the connection's later events, the same process's later connections to
// the same destination (from their connect on) and its TLS events by server
// name — never incoming connections or other processes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Classifier } from '../../engine/ml/classifier.js';
import type { BustedEvent, FlowInfo } from '../../engine/model/event.js';

let seq = 0;
const t = (sec: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, sec)).toISOString();
const net = (sport: number, o: object = {}) => ({ protocol: 'tcp' as const, family: 4 as const, src_ip: '127.0.0.1', src_port: sport, dst_ip: '127.0.0.9', dst_port: 8000, direction: 'egress' as const, ...o });
const ev = (type: BustedEvent['type'], o: Partial<BustedEvent>, sec = 0, pid = 77): BustedEvent => ({ id: `c-${++seq}`, time: t(sec), type, process: { pid, comm: 'client' }, ...o });

/** A streamed completion's shape after ~3 s: 90 small bursts ~30 ms apart after a 600 ms wait. */
const streaming = (phase: FlowInfo['phase']): FlowInfo => ({
  phase, sends: 1, recvs: 180, exchanges: 1, bursts: 90, age_ms: 3400, active_ms: 3300, quiet_ms: 3, req_bytes_max: 2400, resp_bytes_max: 15000, resp_ms_max: 2700, idle_ms_max: 0, gaps: 89,
  gap_ms_mean: 30, gap_ms_sd: 11, ttfb_ms: { first: 600, min: 600, max: 600, mean: 600, count: 1 }, burst_hist: [20, 70, 0, 0, 0, 0, 0, 0], gap_hist: [0, 0, 20, 69, 0, 0, 0, 0],
});

describe('Classifier (the annotate stage)', () => {
  it('scores after the event that made the vector, and attaches the score to what follows', async () => {
    const c = await Classifier.load();
    try {
      const connect = ev('connect', { net: net(40000, { dst_host: 'gw.test' }) });
      c.annotate(connect);
      assert.equal(connect.ml, undefined, 'nothing is known yet');
      const update = ev('flow', { net: net(40000, { bytes_sent: 2400, bytes_received: 9000 }), tls: { sni: 'gw.test' }, flow: streaming('update') }, 3);
      c.annotate(update);
      assert.equal(update.ml, undefined, 'its own score comes later: inference is not on this path');
      await c.drain();
      assert.equal(c.stats.scored, 1);

      const later = ev('flow', { net: net(40000, { bytes_sent: 2400, bytes_received: 15000 }), flow: streaming('end') }, 4);
      c.annotate(later);
      assert.ok(later.ml, 'the connection\'s next event carries the score');
      assert.equal(later.ml!.label, 'llm');
      assert.ok(later.ml!.llm_score >= 0.9, String(later.ml!.llm_score));
      const close = ev('close', { net: net(40000) }, 4);
      c.annotate(close);
      assert.deepEqual(close.ml, later.ml);

      // the same process's next connection to the same destination, from its connect on
      const again = ev('connect', { net: net(40001) }, 10);
      c.annotate(again);
      assert.ok(again.ml, 'rolled up per process and destination');
      // its TLS events, by server name
      const data = ev('tls_data', { tls: { sni: 'gw.test', direction: 'read', bytes: 100 } }, 10);
      c.annotate(data);
      assert.ok(data.ml);

      // another process, an incoming connection, a DNS event: nothing
      for (const e of [ev('connect', { net: net(40002) }, 10, 99), ev('accept', { net: net(40003, { direction: 'ingress' }) }, 10), ev('dns_query', { dns: { id: 1, questions: [{ name: 'gw.test', type: 'A' }] } }, 10)]) {
        c.annotate(e);
        assert.equal(e.ml, undefined, e.type);
      }
    } finally {
      await c.close();
    }
  });

  it('scores what arrives together in one batch, the newest vector per connection', async () => {
    const c = await Classifier.load();
    try {
      for (let i = 0; i < 40; i++) {
        c.annotate(ev('flow', { net: net(41000 + i, { bytes_sent: 2400, bytes_received: 9000 }), flow: streaming('update') }, 3));
        c.annotate(ev('flow', { net: net(41000 + i, { bytes_sent: 2400, bytes_received: 9500 }), flow: streaming('update') }, 3));
      }
      await c.drain();
      assert.equal(c.stats.snapshots, 80);
      assert.equal(c.stats.scored, 40, 'one vector per connection: the newest');
      assert.equal(c.stats.batches, 1);
    } finally {
      await c.close();
    }
  });
});
