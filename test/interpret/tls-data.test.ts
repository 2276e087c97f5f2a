// TlsAssembler: chunks of one SSL_read/SSL_write call (tls.bpf.c sends at
// most 4 KiB per record) become the call's bytes again, whatever order the
// chunks of interleaved calls arrive in; notes keep the SNI and fd per
// connection (pid, SSL*) until SSL_free.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import type { TlsOp, TlsRecord } from '../../engine/decode/records.js';
import { TlsAssembler } from '../../engine/interpret/tls-data.js';
import { prng } from '../helpers/prng.js';

const task = (pid: number) => ({ pid, tid: pid, ppid: 0, uid: 0, gid: 0, flags: 1, comm: 'curl', cgroupId: 1 });

function rec(pid: number, ssl: string, op: TlsOp, callId: string, len: number, offset: number, data: Uint8Array): TlsRecord {
  return { kind: 'tls', ts: 1, task: task(pid), op, ssl, callId, len, offset, data, lib: 0, gated: false, buf: 0n };
}

/** The records the kernel sends for one call of `bytes`, with a copy cap. */
function chunks(pid: number, ssl: string, op: TlsOp, callId: string, bytes: Uint8Array, cap: number): TlsRecord[] {
  const out: TlsRecord[] = [];
  const copied = Math.min(bytes.length, cap);
  for (let off = 0; off < copied; off += 4096) out.push(rec(pid, ssl, op, callId, bytes.length, off, bytes.slice(off, Math.min(copied, off + 4096))));
  return out;
}

describe('TlsAssembler', () => {
  it('a call in one chunk comes out at once, with its connection state', () => {
    const a = new TlsAssembler(16384);
    assert.equal(a.add(rec(7, 'abc', 'sni', '0', 14, 0, new TextEncoder().encode('api.openai.com'))), undefined);
    assert.equal(a.add(rec(7, 'abc', 'fd', '0', 5, 0, new Uint8Array())), undefined);
    const c = a.add(rec(7, 'abc', 'write', '1', 3, 0, new Uint8Array([1, 2, 3])));
    assert.ok(c);
    assert.deepEqual([...c.data], [1, 2, 3]);
    assert.equal(c.direction, 'write');
    assert.deepEqual(c.conn, { sni: 'api.openai.com', fd: 5 });
    // another SSL* of the same process has its own state; SSL_free forgets
    assert.deepEqual(a.add(rec(7, 'def', 'read', '2', 1, 0, new Uint8Array([9])))!.conn, {});
    a.add(rec(7, 'abc', 'free', '0', 0, 0, new Uint8Array()));
    assert.deepEqual(a.add(rec(7, 'abc', 'read', '3', 1, 0, new Uint8Array([9])))!.conn, {});
  });

  it('interleaved, shuffled chunks of several calls are put back together exactly (seeded)', () => {
    const rnd = prng(42);
    const a = new TlsAssembler(16384);
    const calls = [1000, 4096, 4097, 12000, 16384].map((n, i) => {
      const b = new Uint8Array(n);
      for (let j = 0; j < n; j++) b[j] = Math.floor(rnd() * 256);
      return { id: String(i + 10), bytes: b };
    });
    const all = calls.flatMap((c) => chunks(9, 'ff', 'read', c.id, c.bytes, 16384));
    for (let i = all.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [all[i], all[j]] = [all[j]!, all[i]!];
    }
    const done = new Map<number, Uint8Array>();
    for (const r of all) {
      const c = a.add(r);
      if (c) done.set(c.len, c.data);
    }
    assert.equal(done.size, calls.length);
    for (const c of calls) assert.deepEqual(done.get(c.bytes.length), c.bytes, `call of ${c.bytes.length} bytes`);
  });

  it('a call longer than the cap completes with the copied prefix and reports its full length', () => {
    const a = new TlsAssembler(8192);
    const bytes = new Uint8Array(20000).map((_, i) => i & 0xff);
    let out;
    for (const r of chunks(3, 'aa', 'write', '5', bytes, 8192)) out = a.add(r) ?? out;
    assert.ok(out);
    assert.equal(out.len, 20000);
    assert.deepEqual(out.data, bytes.slice(0, 8192));
  });
});
