// The feature vector (engine/ml/features.ts): its columns, what each event
// kind contributes (connect, ClientHello, flow), the per-process rollups,
// that incoming connections are not scored, and that the same events give
// the same vectors (live and replayed from a recording alike).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { FEATURE_COUNT, FEATURE_NAMES, FeatureExtractor, type Snapshot } from '../../engine/ml/features.js';
import type { BustedEvent, FlowInfo } from '../../engine/model/event.js';

const col = (name: string) => {
  const i = FEATURE_NAMES.indexOf(name);
  assert.ok(i >= 0, name);
  return i;
};

let seq = 0;
const net = (sport: number, dport = 8000) => ({ protocol: 'tcp' as const, family: 4 as const, src_ip: '127.0.0.1', src_port: sport, dst_ip: '127.0.0.9', dst_port: dport, direction: 'egress' as const });
const ev = (type: BustedEvent['type'], o: Partial<BustedEvent>, sec = 0): BustedEvent => ({ id: `t-${++seq}`, time: new Date(Date.UTC(2026, 0, 1, 0, 0, sec)).toISOString(), type, process: { pid: 77, comm: 'client' }, ...o });

function flow(o: Partial<FlowInfo> = {}): FlowInfo {
  return {
    phase: 'update', sends: 1, recvs: 100, exchanges: 1, bursts: 80, age_ms: 3000, active_ms: 2900, quiet_ms: 5, req_bytes_max: 1200, resp_bytes_max: 12000, resp_ms_max: 2400, idle_ms_max: 0, gaps: 79,
    gap_ms_mean: 30, gap_ms_sd: 12, ttfb_ms: { first: 500, min: 500, max: 500, mean: 500, count: 1 }, burst_hist: [70, 10, 0, 0, 0, 0, 0, 0], gap_hist: [0, 0, 20, 59, 0, 0, 0, 0], ...o,
  };
}

/** A streamed completion: connect, ClientHello, two flow reports. */
function stream(fx: FeatureExtractor, sport: number, sec = 0): Snapshot[] {
  const out: Snapshot[] = [];
  const push = (s: Snapshot | undefined) => s && out.push(s);
  push(fx.observe(ev('connect', { net: { ...net(sport), dst_host: 'models.internal.test' } }, sec)));
  push(fx.observe(ev('tls_client_hello', { net: net(sport), tls: { sni: 'models.internal.test', version: 'TLS 1.3', alpn: ['h2', 'http/1.1'], ja4: 't13d1516h2_8daaf6152771_02713d6af862' } }, sec)));
  push(fx.observe(ev('flow', { net: { ...net(sport), bytes_sent: 1200, bytes_received: 8000 }, tls: { sni: 'models.internal.test' }, flow: flow() }, sec + 3)));
  push(fx.observe(ev('flow', { net: { ...net(sport), bytes_sent: 1200, bytes_received: 12000 }, flow: flow({ phase: 'end', recvs: 150, bursts: 120 }) }, sec + 4)));
  return out;
}

describe('FeatureExtractor', () => {
  it('one column per name, every value finite', () => {
    assert.equal(FEATURE_NAMES.length, FEATURE_COUNT);
    assert.equal(new Set(FEATURE_NAMES).size, FEATURE_COUNT);
    const snaps = stream(new FeatureExtractor(), 40000);
    assert.equal(snaps.length, 2, 'one vector per flow event');
    for (const s of snaps) {
      assert.equal(s.vector.length, FEATURE_COUNT);
      assert.ok(s.vector.every(Number.isFinite));
    }
  });

  it('reads sizes, timing and cadence from the flow event, the ClientHello and the port', () => {
    const [s] = stream(new FeatureExtractor(), 40000);
    const v = s!.vector;
    assert.ok(Math.abs(v[col('bytes_sent_log')]! - Math.log1p(1200)) < 1e-5);
    assert.ok(Math.abs(v[col('ttfb_first_ms_log')]! - Math.log1p(500)) < 1e-5);
    assert.ok(Math.abs(v[col('gap_ms_mean_log')]! - Math.log1p(30)) < 1e-5);
    assert.ok(Math.abs(v[col('gap_cv')]! - 0.4) < 1e-6);
    assert.ok(Math.abs(v[col('gap_hist_3')]! - 59 / 79) < 1e-6);
    assert.deepEqual([v[col('tls')], v[col('tls13')], v[col('alpn_h2')], v[col('alpn_http11')], v[col('ja4_ciphers')], v[col('ja4_extensions')]], [1, 1, 1, 1, 15, 16]);
    assert.deepEqual([v[col('port_443')], v[col('port_other_high')], v[col('dst_named')], v[col('closed')]], [0, 1, 1, 0]);
    assert.equal(s!.conn, '127.0.0.1 40000 127.0.0.9 8000');
    assert.equal(s!.dest, '77 127.0.0.9 8000');
    assert.equal(s!.sni, '77 models.internal.test');
    assert.equal(s!.final, false);
  });

  it('rolls the same process and destination up across connections', () => {
    const fx = new FeatureExtractor();
    const first = stream(fx, 40000, 0);
    const second = stream(fx, 40001, 30);
    assert.equal(first[0]!.vector[col('dst_conns_log')], Math.fround(Math.log1p(1)));
    assert.equal(second[0]!.vector[col('dst_conns_log')], Math.fround(Math.log1p(2)));
    // two exchanges over at least a minute
    assert.equal(second[1]!.vector[col('dst_exchanges_per_min_log')], Math.fround(Math.log1p(2)));
    assert.equal(second[1]!.vector[col('dst_reuse_log')], Math.fround(Math.log1p(1)));
  });

  it('does not score incoming connections, UDP, or events without a flow', () => {
    const fx = new FeatureExtractor();
    assert.equal(fx.observe(ev('flow', { net: { ...net(1), direction: 'ingress' }, flow: flow() })), undefined);
    assert.equal(fx.observe(ev('flow', { net: { ...net(1), protocol: 'udp' }, flow: flow() })), undefined);
    assert.equal(fx.observe(ev('close', { net: net(1) })), undefined);
    assert.equal(fx.observe(ev('flow', { net: net(1) })), undefined);
  });

  it('a final flow event after the close still knows the connection\'s ClientHello', () => {
    const fx = new FeatureExtractor();
    fx.observe(ev('connect', { net: net(40100) }));
    fx.observe(ev('tls_client_hello', { net: net(40100), tls: { sni: 'x.test', version: 'TLS 1.3', alpn: ['h2'] } }));
    fx.observe(ev('close', { net: { ...net(40100), bytes_sent: 100, bytes_received: 100 } }, 2));
    const s = fx.observe(ev('flow', { net: { ...net(40100), bytes_sent: 100, bytes_received: 100 }, flow: flow({ phase: 'end' }) }, 2));
    assert.equal(s?.final, true);
    assert.deepEqual([s!.vector[col('tls')], s!.vector[col('alpn_h2')], s!.vector[col('closed')]], [1, 1, 1]);
  });

  it('forgets at its close a connection that moved no bytes (the kernel reports no shape for it)', () => {
    const fx = new FeatureExtractor();
    fx.observe(ev('connect', { net: net(40200) }));
    fx.observe(ev('tls_client_hello', { net: net(40200), tls: { sni: 'x.test', version: 'TLS 1.3', alpn: ['h2'] } }));
    fx.observe(ev('close', { net: { ...net(40200), bytes_sent: 0, bytes_received: 0 } }, 2));
    // a flow event for it anyway (none comes from the kernel) starts from nothing
    const s = fx.observe(ev('flow', { net: { ...net(40200), bytes_sent: 100, bytes_received: 100 }, flow: flow({ phase: 'end' }) }, 2));
    assert.deepEqual([s!.vector[col('tls')], s!.vector[col('alpn_h2')]], [0, 0]);
  });

  it('the same events give the same vectors', () => {
    const a = stream(new FeatureExtractor(), 40000).map((s) => Array.from(s.vector));
    const b = stream(new FeatureExtractor(), 40000).map((s) => Array.from(s.vector));
    assert.deepEqual(a, b);
  });
});
