/**
 * The interpreter on records made in memory: a ClientHello split across
 * TCP segments (what pkt.bpf.c's continuation path delivers), per-process
 * DNS names, and malformed packets.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import type { BustedEvent } from '../../engine/model/event.js';
import type { KernelRecord, PktRecord, TaskRecord } from '../../engine/decode/records.js';
import { Interpreter } from '../../engine/interpret/interpreter.js';
import { ProcessCache } from '../../engine/enrich/process.js';
import { DnsCache } from '../../engine/enrich/dns-cache.js';
import { ProviderTable } from '../../engine/enrich/provider.js';

const hello = new Uint8Array(readFileSync(join(PACKAGE_ROOT, 'test', 'fixtures', 'tls', 'client-curl-h2.bin')));
const task: TaskRecord = { pid: 4242, tid: 4242, ppid: 1, uid: 0, gid: 0, flags: 3, comm: 'curl', cgroupId: 1 };
const flow = { family: 4 as const, protocol: 6, saddr: '127.0.0.1', sport: 40000, daddr: '127.0.0.1', dport: 443 };

function setup() {
  const events: BustedEvent[] = [];
  const interp = new Interpreter({ processes: new ProcessCache({ procRoot: '/nonexistent' }), dns: new DnsCache(), providers: new ProviderTable() }, (e) => events.push(e));
  return { events, interp };
}

function pkt(kind: PktRecord['pktKind'], data: Uint8Array, len = data.length, o: Partial<PktRecord> = {}): KernelRecord {
  return { kind: 'pkt', ts: 1e9, task, pktKind: kind, sockId: 7, flow, egress: true, len, data, ...o };
}

describe('Interpreter: TLS hellos across segments', () => {
  it('joins a ClientHello from its first segment and a continuation', () => {
    const { events, interp } = setup();
    const cut = 100;
    interp.handle(pkt('tls_hello', hello.subarray(0, cut)));
    assert.equal(events.length, 0, 'waits for the rest');
    interp.handle(pkt('tls_cont', hello.subarray(cut)));
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e.type, 'tls_client_hello');
    assert.equal(e.tls?.sni, 'api.openai.com');
    assert.equal(e.tls?.truncated, undefined);
    assert.equal(e.provider, 'openai');
  });

  it('reports what it has when the continuation never comes', () => {
    const { events, interp } = setup();
    interp.handle(pkt('tls_hello', hello.subarray(0, 60)));
    interp.flush(Infinity);
    assert.equal(events.length, 1);
    assert.equal(events[0]!.type, 'tls_client_hello');
    assert.equal(events[0]!.tls?.truncated, true);
  });

  it('does not wait when the capture itself cut the packet', () => {
    const { events, interp } = setup();
    // 200 bytes captured of a 4000-byte payload: nothing more will come.
    interp.handle(pkt('tls_hello', hello.subarray(0, 200), 4000));
    assert.equal(events.length, 1);
    assert.equal(events[0]!.tls?.truncated, true);
  });

  it('turns a malformed hello into an error event and goes on', () => {
    const { events, interp } = setup();
    interp.handle(pkt('tls_hello', Uint8Array.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0xff, 0xff, 0xff])));
    interp.handle(pkt('tls_hello', hello));
    assert.deepEqual(events.map((e) => e.type), ['error', 'tls_client_hello']);
    assert.equal(events[0]!.error?.code, 'BUSTED_E_TLS_MALFORMED');
    assert.equal(interp.stats.malformedTls, 1);
  });
});
