/**
 * Decoding kernel records from bytes in memory, laid out with the
 * generated offsets (the same ones the BPF objects were compiled with, as
 * test/kernel/wire.test.ts proves).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as W from '../../engine/kernel/wire.generated.js';
import { decodeRecord, type FlowStatRecord, type KernelRecord, type PktRecord, type StdioRecord, type TcpRecord, type ExecRecord, type TlsRecord } from '../../engine/decode/records.js';
import { RingReader } from '../../engine/kernel/ring.js';
import { TlsAssembler } from '../../engine/interpret/tls-data.js';
import { prng } from '../helpers/prng.js';

function hdr(dv: DataView, kind: number, abi: number = W.BUSTED_ABI) {
  dv.setUint32(W.HDR.kind, kind, true);
  dv.setUint32(W.HDR.abi, abi, true);
  dv.setBigUint64(W.HDR.ts_ns, 123_456_789_012n, true);
  const t = W.HDR.task;
  dv.setBigUint64(t + W.TASK.cgroup_id, 4242n, true);
  dv.setUint32(t + W.TASK.pid, 1000, true);
  dv.setUint32(t + W.TASK.tid, 1001, true);
  dv.setUint32(t + W.TASK.ppid, 1, true);
  dv.setUint32(t + W.TASK.uid, 33, true);
  dv.setUint32(t + W.TASK.gid, 44, true);
  dv.setUint32(t + W.TASK.flags, W.BUSTED_TASK_KNOWN, true);
  new Uint8Array(dv.buffer, dv.byteOffset + t + W.TASK.comm, 16).set(new TextEncoder().encode('curl'));
}

function flow(dv: DataView, off: number, family: 4 | 6, s: number[], d: number[], sport: number, dport: number, proto = 6) {
  new Uint8Array(dv.buffer, dv.byteOffset + off + W.FLOW.saddr, 16).set(s);
  new Uint8Array(dv.buffer, dv.byteOffset + off + W.FLOW.daddr, 16).set(d);
  dv.setUint16(off + W.FLOW.sport, sport, true);
  dv.setUint16(off + W.FLOW.dport, dport, true);
  dv.setUint8(off + W.FLOW.family, family);
  dv.setUint8(off + W.FLOW.protocol, proto);
}

/** Records sit at an offset inside a larger buffer, as in the ring. */
function at(size: number, fill: (dv: DataView) => void): [DataView, number, number] {
  const buf = new ArrayBuffer(size + 64);
  const dv = new DataView(buf, 24);
  fill(dv);
  return [new DataView(buf), 24, size];
}

describe('decodeRecord', () => {
  it('decodes a TCP connect with IPv4 addresses', () => {
    const [dv, off, len] = at(W.TCP.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_TCP);
      dv.setBigUint64(W.TCP.sock_id, 77n, true);
      flow(dv, W.TCP.flow, 4, [127, 0, 0, 1], [10, 1, 2, 3], 40000, 443);
      dv.setUint32(W.TCP.phase, W.BUSTED_TCP_CONNECTED, true);
      dv.setUint32(W.TCP.dir, W.BUSTED_DIR_EGRESS, true);
      dv.setBigUint64(W.TCP.bytes_sent, 2n ** 40n, true);
    });
    const r = decodeRecord(dv, off, len) as TcpRecord;
    assert.equal(r.kind, 'tcp');
    assert.equal(r.phase, 'connected');
    assert.equal(r.sockId, 77);
    assert.equal(r.ts, 123_456_789_012);
    assert.deepEqual(r.task, { pid: 1000, tid: 1001, ppid: 1, uid: 33, gid: 44, flags: 1, comm: 'curl', cgroupId: 4242 });
    assert.deepEqual(r.flow, { family: 4, protocol: 6, saddr: '127.0.0.1', sport: 40000, daddr: '10.1.2.3', dport: 443 });
    assert.equal(r.egress, true);
    assert.equal(r.bytesSent, 2 ** 40);
  });

  it('formats IPv6 per RFC 5952 and reports v4-mapped peers as IPv4', () => {
    const v6 = (a: number[]) => [...a];
    const one = v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    const doc = v6([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]);
    const mapped = v6([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7]);
    const [dv, off, len] = at(W.TCP.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_TCP);
      flow(dv, W.TCP.flow, 6, one, doc, 1, 2);
      dv.setUint32(W.TCP.phase, W.BUSTED_TCP_ACCEPTED, true);
    });
    const r = decodeRecord(dv, off, len) as TcpRecord;
    assert.equal(r.flow.saddr, '::1');
    assert.equal(r.flow.daddr, '2001:db8::1:0:0:1');
    assert.equal(r.flow.family, 6);
    const [dv2, off2, len2] = at(W.TCP.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_TCP);
      flow(dv, W.TCP.flow, 6, mapped, mapped, 1, 2);
      dv.setUint32(W.TCP.phase, W.BUSTED_TCP_CLOSED, true);
    });
    const r2 = decodeRecord(dv2, off2, len2) as TcpRecord;
    assert.equal(r2.flow.daddr, '192.0.2.7');
    assert.equal(r2.flow.family, 4);
    assert.equal(r2.egress, undefined);
  });

  it('decodes exec with argv and a truncation flag', () => {
    const [dv, off, len] = at(W.EXEC.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_EXEC);
      const fn = new TextEncoder().encode('/usr/bin/curl');
      new Uint8Array(dv.buffer, dv.byteOffset + W.EXEC.filename, fn.length).set(fn);
      dv.setUint32(W.EXEC.filename_len, fn.length, true);
      const args = new TextEncoder().encode('curl\0-s\0https://api.openai.com/\0');
      new Uint8Array(dv.buffer, dv.byteOffset + W.EXEC.args, args.length).set(args);
      dv.setUint32(W.EXEC.args_len, args.length, true);
      dv.setUint32(W.EXEC.args_truncated, 1, true);
    });
    const r = decodeRecord(dv, off, len) as ExecRecord;
    assert.equal(r.filename, '/usr/bin/curl');
    assert.deepEqual(r.argv, ['curl', '-s', 'https://api.openai.com/']);
    assert.equal(r.argsTruncated, true);
    assert.equal(r.held, undefined);
  });

  it("decodes an exec's executable file, and a hold until it is hashed", () => {
    const [dv, off, len] = at(W.EXEC.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_EXEC);
      dv.setBigUint64(W.EXEC.exe_ino, 260178n, true);
      dv.setBigUint64(W.EXEC.exe_ctime_ns, 1752951899000000123n, true);
      dv.setUint32(W.EXEC.exe_dev, (254 << 20) | 1, true);
      dv.setUint32(W.EXEC.flags, W.BUSTED_EXEC_HELD, true);
      dv.setBigUint64(W.EXEC.call_id, 0x1234n, true);
    });
    const r = decodeRecord(dv, off, len) as ExecRecord;
    assert.deepEqual(r.exe, { dev: (254 << 20) | 1, ino: 260178n, ctimeNs: 1752951899000000123n });
    assert.deepEqual(r.held, { callId: '1234' });
  });

  it('copies packet payloads out of the ring', () => {
    const [dv, off] = at(W.PKT.data + 5, (dv) => {
      hdr(dv, W.BUSTED_KIND_PKT);
      flow(dv, W.PKT.flow, 4, [127, 0, 0, 1], [127, 0, 0, 53], 5000, 53, 17);
      dv.setUint32(W.PKT.pkt_kind, W.BUSTED_PKT_DNS, true);
      dv.setUint32(W.PKT.dir, W.BUSTED_DIR_EGRESS, true);
      dv.setUint32(W.PKT.len, 5, true);
      dv.setUint32(W.PKT.cap_len, 5, true);
      new Uint8Array(dv.buffer, dv.byteOffset + W.PKT.data, 5).set([1, 2, 3, 4, 5]);
    });
    const r = decodeRecord(dv, off, W.PKT.data + 5) as PktRecord;
    assert.equal(r.pktKind, 'dns');
    assert.deepEqual([...r.data], [1, 2, 3, 4, 5]);
    new Uint8Array(dv.buffer).fill(0); // the ring reuses its memory
    assert.deepEqual([...r.data], [1, 2, 3, 4, 5]);
  });

  it('decodes a TLS plaintext chunk: SSL* and call id beyond 2^53, op, offsets, a copy of the bytes', () => {
    const [dv, off] = at(W.TLS.data + 4, (dv) => {
      hdr(dv, W.BUSTED_KIND_TLS);
      dv.setBigUint64(W.TLS.ssl, 0x7f00deadbeef1230n, true);
      dv.setBigUint64(W.TLS.call_id, 0xffffffffffffff01n, true);
      dv.setUint32(W.TLS.op, W.BUSTED_TLS_READ, true);
      dv.setUint32(W.TLS.len, 9000, true);
      dv.setUint32(W.TLS.offset, 8192, true);
      dv.setUint32(W.TLS.cap_len, 4, true);
      dv.setUint32(W.TLS.lib, 2, true);
      new Uint8Array(dv.buffer, dv.byteOffset + W.TLS.data, 4).set([0x48, 0x54, 0x54, 0x50]);
    });
    const r = decodeRecord(dv, off, W.TLS.data + 4) as TlsRecord;
    assert.equal(r.kind, 'tls');
    assert.equal(r.op, 'read');
    assert.equal(r.ssl, '7f00deadbeef1230');
    assert.equal(r.callId, 'ffffffffffffff01');
    assert.deepEqual([r.len, r.offset, r.lib], [9000, 8192, 2]);
    new Uint8Array(dv.buffer).fill(0);
    assert.equal(new TextDecoder().decode(r.data), 'HTTP');
  });

  it('decodes a connection\'s traffic shape (flow.bpf.h): counters, times, both histograms', () => {
    const F = W.FLOWSTAT;
    const [dv, off, len] = at(F.size, (dv) => {
      hdr(dv, W.BUSTED_KIND_FLOW);
      dv.setBigUint64(F.sock_id, 99n, true);
      flow(dv, F.flow, 4, [127, 0, 0, 1], [127, 77, 1, 1], 40001, 8000);
      dv.setUint32(F.phase, W.BUSTED_FLOW_END, true);
      dv.setUint32(F.exchanges, 2, true);
      dv.setBigUint64(F.start_ns, 1_000n, true);
      dv.setBigUint64(F.first_ns, 2_000n, true);
      dv.setBigUint64(F.last_ns, 3_000_000_000n, true);
      dv.setBigUint64(F.send_bytes, 900n, true);
      dv.setBigUint64(F.recv_bytes, 2n ** 33n, true);
      dv.setUint32(F.sends, 3, true);
      dv.setUint32(F.recvs, 120, true);
      dv.setUint32(F.bursts, 100, true);
      dv.setUint32(F.answered, 2, true);
      dv.setBigUint64(F.ttfb_first_ns, 400_000_000n, true);
      dv.setBigUint64(F.ttfb_sum_ns, 700_000_000n, true);
      dv.setUint32(F.gaps, 98, true);
      dv.setBigUint64(F.gap_sum_us, 3_000_000n, true);
      dv.setBigUint64(F.gap_sq, 123_456n, true);
      for (let i = 0; i < F.burst_hist_LEN; i++) dv.setUint32(F.burst_hist + 4 * i, i + 1, true);
      for (let i = 0; i < F.gap_hist_LEN; i++) dv.setUint32(F.gap_hist + 4 * i, 10 * i, true);
    });
    const r = decodeRecord(dv, off, len) as FlowStatRecord;
    assert.equal(r.kind, 'flow');
    assert.equal(r.phase, 'end');
    assert.equal(r.sockId, 99);
    assert.deepEqual(r.flow, { family: 4, protocol: 6, saddr: '127.0.0.1', sport: 40001, daddr: '127.77.1.1', dport: 8000 });
    assert.deepEqual([r.startNs, r.firstNs, r.lastNs, r.sendBytes, r.recvBytes], [1000, 2000, 3e9, 900, 2 ** 33]);
    assert.deepEqual([r.exchanges, r.sends, r.recvs, r.bursts, r.answered, r.gaps], [2, 3, 120, 100, 2, 98]);
    assert.deepEqual([r.ttfbFirstNs, r.ttfbSumNs, r.gapSumUs, r.gapSq], [4e8, 7e8, 3e6, 123456]);
    assert.deepEqual(r.burstHist, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.deepEqual(r.gapHist, [0, 10, 20, 30, 40, 50, 60, 70]);
  });

  it('decodes a write of JSON-RPC to a pipe or UNIX socket (stdio.bpf.c): its file, fd, length asked and bytes copied', () => {
    const S = W.STDIO;
    const line = '{"jsonrpc":"2.0","id":1,"method":"tools/list"}\n';
    const [dv, off, len] = at(S.data + line.length, (dv) => {
      hdr(dv, W.BUSTED_KIND_STDIO);
      dv.setBigUint64(S.file, 0xffff888812345600n, true);
      dv.setUint32(S.fd, 1, true);
      dv.setUint32(S.len, 70_000, true);
      dv.setUint32(S.cap_len, line.length, true);
      dv.setUint32(S.end, W.BUSTED_STDIO_UNIX, true);
      new Uint8Array(dv.buffer, dv.byteOffset + S.data, line.length).set(new TextEncoder().encode(line));
    });
    const r = decodeRecord(dv, off, len) as StdioRecord;
    assert.equal(r.kind, 'stdio');
    assert.deepEqual([r.file, r.fd, r.len, r.end, r.task.pid, r.read], ['ffff888812345600', 1, 70_000, 'unix', 1000, undefined]);
    // the other end's read, held (enforce): its hold's call id
    dv.setUint32(off + S.flags, W.BUSTED_STDIO_F_READ | W.BUSTED_STDIO_F_HELD, true);
    dv.setBigUint64(off + S.call_id, 0x1234_05n, true);
    dv.setBigUint64(off + S.peer, 0xffff8888aaaa0000n, true);
    const h = decodeRecord(dv, off, len) as StdioRecord;
    assert.deepEqual([h.read, h.peer], [{ held: true, callId: '123405' }, 'ffff8888aaaa0000']);
    new Uint8Array(dv.buffer).fill(0);
    assert.equal(new TextDecoder().decode(r.data), line, 'copied out of the ring');
  });

  it('reports records that do not fit the wire format, naming the field', () => {
    const cases: Array<[string, [DataView, number, number]]> = [
      ['hdr', at(10, () => {})],
      ['hdr.abi', at(W.TCP.size, (dv) => hdr(dv, W.BUSTED_KIND_TCP, 99))],
      ['hdr.kind', at(W.TCP.size, (dv) => hdr(dv, 250))],
      ['tcp', at(W.TCP.size - 8, (dv) => hdr(dv, W.BUSTED_KIND_TCP))],
      ['tcp.phase', at(W.TCP.size, (dv) => hdr(dv, W.BUSTED_KIND_TCP))],
      [
        'pkt.cap_len',
        at(W.PKT.data + 4, (dv) => {
          hdr(dv, W.BUSTED_KIND_PKT);
          dv.setUint32(W.PKT.pkt_kind, W.BUSTED_PKT_DNS, true);
          dv.setUint32(W.PKT.cap_len, 100, true);
        }),
      ],
      ['tls.op', at(W.TLS.data, (dv) => hdr(dv, W.BUSTED_KIND_TLS))],
      ['flow', at(W.FLOWSTAT.size - 4, (dv) => hdr(dv, W.BUSTED_KIND_FLOW))],
      ['flow.phase', at(W.FLOWSTAT.size, (dv) => hdr(dv, W.BUSTED_KIND_FLOW))],
      ['stdio', at(W.STDIO.data - 4, (dv) => hdr(dv, W.BUSTED_KIND_STDIO))],
      [
        'stdio.cap_len',
        at(W.STDIO.data + 4, (dv) => {
          hdr(dv, W.BUSTED_KIND_STDIO);
          dv.setUint32(W.STDIO.len, 100, true);
          dv.setUint32(W.STDIO.cap_len, 50, true);
          dv.setUint32(W.STDIO.end, W.BUSTED_STDIO_PIPE, true);
        }),
      ],
      [
        'stdio.end',
        at(W.STDIO.data + 4, (dv) => {
          hdr(dv, W.BUSTED_KIND_STDIO);
          dv.setUint32(W.STDIO.len, 4, true);
          dv.setUint32(W.STDIO.cap_len, 4, true);
          dv.setUint32(W.STDIO.end, 7, true);
        }),
      ],
      [
        'tls.cap_len',
        at(W.TLS.data + 4, (dv) => {
          hdr(dv, W.BUSTED_KIND_TLS);
          dv.setUint32(W.TLS.op, W.BUSTED_TLS_WRITE, true);
          dv.setUint32(W.TLS.cap_len, 5000, true);
        }),
      ],
    ];
    for (const [field, [dv, off, len]] of cases) {
      const r = decodeRecord(dv, off, len);
      assert.equal(r.kind, 'wire_error', field);
      assert.equal(r.kind === 'wire_error' && r.field, field);
    }
  });

  it('rejects a chunk that lies outside its call (tls.offset) and a capture longer than its packet (pkt.len)', () => {
    // a TLS chunk past its call's len went on to the assembler, which put it past the end of the call's buffer: a
    // RangeError out of the ring buffer's consumer (found by the fuzz below)
    const [dv, off] = at(W.TLS.data + 4, (dv) => {
      hdr(dv, W.BUSTED_KIND_TLS);
      dv.setUint32(W.TLS.op, W.BUSTED_TLS_READ, true);
      dv.setUint32(W.TLS.len, 10, true);
      dv.setUint32(W.TLS.offset, 100, true);
      dv.setUint32(W.TLS.cap_len, 4, true);
    });
    const r = decodeRecord(dv, off, W.TLS.data + 4);
    assert.equal(r.kind === 'wire_error' && r.field, 'tls.offset');
    const [dv2, off2] = at(W.PKT.data + 8, (dv) => {
      hdr(dv, W.BUSTED_KIND_PKT);
      dv.setUint32(W.PKT.pkt_kind, W.BUSTED_PKT_TLS_HELLO, true);
      dv.setUint32(W.PKT.len, 5, true);
      dv.setUint32(W.PKT.cap_len, 8, true);
    });
    const r2 = decodeRecord(dv2, off2, W.PKT.data + 8);
    assert.equal(r2.kind === 'wire_error' && r2.field, 'pkt.len');
    // and the assembler, given such a chunk all the same, does not throw
    const a = new TlsAssembler(16384);
    const task = { pid: 1, tid: 1, ppid: 0, uid: 0, gid: 0, flags: 0, comm: 'x', cgroupId: 0 };
    const rec = (offset: number, len: number, n: number): TlsRecord => ({ kind: 'tls', ts: 1, task, op: 'read', ssl: '1', callId: '9', len, offset, data: new Uint8Array(n), lib: 0, gated: false, buf: 0n });
    assert.equal(a.add(rec(100, 10, 4)), undefined);
    assert.equal(a.add(rec(4, 10, 6))?.data.length, 10);
  });

  /** Every field of a decoded record of its declared type (what the interpreter and the events rely on). */
  function typed(r: KernelRecord, ctx: string): void {
    const int = (v: unknown, what: string) => assert.ok(typeof v === 'number' && Number.isInteger(v) && v >= 0, `${ctx}: ${what} = ${String(v)}`);
    const str = (v: unknown, what: string) => assert.equal(typeof v, 'string', `${ctx}: ${what}`);
    if (r.kind === 'wire_error') {
      assert.match(r.field, /^(hdr|exec|exit|tcp|udp|pkt|tls|enforce|flow|stdio)(\.[a-z_]+)?$/, `${ctx}: field ${r.field}`);
      str(r.message, 'message');
      return;
    }
    int(r.ts, 'ts');
    for (const k of ['pid', 'tid', 'ppid', 'uid', 'gid', 'flags', 'cgroupId'] as const) int(r.task[k], `task.${k}`);
    str(r.task.comm, 'comm');
    if ('flow' in r) {
      assert.ok(r.flow.family === 4 || r.flow.family === 6, `${ctx}: family`);
      str(r.flow.saddr, 'saddr');
      str(r.flow.daddr, 'daddr');
      for (const k of ['protocol', 'sport', 'dport'] as const) int(r.flow[k], `flow.${k}`);
    }
    if ('sockId' in r) assert.ok(typeof r.sockId === 'string' || Number.isSafeInteger(r.sockId), `${ctx}: sockId`);
    switch (r.kind) {
      case 'exec':
        str(r.filename, 'filename');
        assert.ok(r.argv.every((a) => typeof a === 'string') && typeof r.argsTruncated === 'boolean', ctx);
        str(r.image, 'image');
        break;
      case 'pkt':
        assert.ok(r.data instanceof Uint8Array && r.data.length <= r.len && r.data.length <= W.PKT.data_LEN, `${ctx}: pkt data ${r.data.length} of ${r.len}`);
        assert.equal(typeof r.egress, 'boolean');
        break;
      case 'tls':
        assert.ok(r.data instanceof Uint8Array && r.data.length <= W.TLS.data_LEN, ctx);
        if (r.op === 'read' || r.op === 'write') assert.ok(r.offset + r.data.length <= r.len, `${ctx}: chunk ${r.offset}+${r.data.length} of ${r.len}`);
        str(r.ssl, 'ssl');
        str(r.callId, 'callId');
        assert.equal(typeof r.gated, 'boolean');
        break;
      case 'stdio':
        assert.ok(r.data instanceof Uint8Array && r.data.length <= r.len && r.data.length <= W.STDIO.data_LEN, `${ctx}: stdio data ${r.data.length} of ${r.len}`);
        str(r.file, 'file');
        int(r.fd, 'fd');
        assert.ok(r.end === 'pipe' || r.end === 'unix', ctx);
        break;
      case 'flow':
        assert.ok(r.burstHist.length === W.FLOWSTAT.burst_hist_LEN && r.gapHist.every((x) => Number.isInteger(x)), ctx);
        for (const k of ['startNs', 'sendBytes', 'recvBytes', 'sends', 'gapSq'] as const) int(r[k], k);
        break;
      case 'tcp':
      case 'udp':
        int(r.bytesSent, 'bytesSent');
        assert.ok(r.egress === undefined || typeof r.egress === 'boolean', ctx);
        break;
      default:
        break;
    }
  }

  it('20,000 random and cut records: each decodes to a record of the right types or a wire error naming its field, and TLS ones assemble without a throw', () => {
    const rnd = prng(0xdec0);
    const kinds: Array<[number, number, number, number]> = [
      // kind, size of its fixed part, the offset of its enum field (-1: none), how many values that enum has
      [W.BUSTED_KIND_EXEC, W.EXEC.size, -1, 0],
      [W.BUSTED_KIND_EXIT, W.EXIT.size, -1, 0],
      [W.BUSTED_KIND_TCP, W.TCP.size, W.TCP.phase, 4],
      [W.BUSTED_KIND_UDP, W.UDP.size, W.UDP.phase, 2],
      [W.BUSTED_KIND_PKT, W.PKT.data, W.PKT.pkt_kind, 4],
      [W.BUSTED_KIND_TLS, W.TLS.data, W.TLS.op, 6],
      [W.BUSTED_KIND_ENFORCE, W.ENFORCE.size, W.ENFORCE.what, 4],
      [W.BUSTED_KIND_FLOW, W.FLOWSTAT.size, W.FLOWSTAT.phase, 2],
      [W.BUSTED_KIND_STDIO, W.STDIO.data, W.STDIO.end, 2],
    ];
    const buf = new ArrayBuffer(W.EXEC.size + W.TLS.data + W.TLS.data_LEN + 64);
    const bytes = new Uint8Array(buf);
    const asm = new TlsAssembler(16384);
    let good = 0;
    for (let i = 0; i < 20_000; i++) {
      const [kind, fixed, enumAt, n] = kinds[Math.floor(rnd() * kinds.length)]!;
      const off = 8 * Math.floor(rnd() * 4);
      for (let k = 0; k < fixed + 256 && off + k < bytes.length; k++) bytes[off + k] = rnd() < 0.5 ? 0 : Math.floor(rnd() * 256);
      const dv = new DataView(buf);
      dv.setUint32(off + W.HDR.kind, rnd() < 0.95 ? kind : Math.floor(rnd() * 20), true);
      dv.setUint32(off + W.HDR.abi, rnd() < 0.95 ? W.BUSTED_ABI : Math.floor(rnd() * 10), true);
      dv.setUint32(off + W.HDR.ts_ns + 4, Math.floor(rnd() * 0x1000), true);
      if (enumAt >= 0) dv.setUint32(off + enumAt, rnd() < 0.8 ? (kind === W.BUSTED_KIND_TCP || kind === W.BUSTED_KIND_PKT || kind === W.BUSTED_KIND_TLS || kind === W.BUSTED_KIND_ENFORCE || kind === W.BUSTED_KIND_FLOW || kind === W.BUSTED_KIND_UDP || kind === W.BUSTED_KIND_STDIO ? Math.floor(rnd() * (n + 1)) : 0) : Math.floor(rnd() * 2 ** 32), true);
      let len = fixed;
      if (kind === W.BUSTED_KIND_PKT || kind === W.BUSTED_KIND_TLS || kind === W.BUSTED_KIND_STDIO) {
        const L = kind === W.BUSTED_KIND_PKT ? W.PKT : kind === W.BUSTED_KIND_TLS ? W.TLS : W.STDIO;
        const cap = rnd() < 0.8 ? Math.floor(rnd() * 200) : Math.floor(rnd() * 2 ** 32);
        dv.setUint32(off + L.cap_len, cap, true);
        const plen = rnd() < 0.7 ? cap + Math.floor(rnd() * 300) : Math.floor(rnd() * 5000);
        dv.setUint32(off + L.len, plen, true);
        if (kind === W.BUSTED_KIND_TLS) dv.setUint32(off + W.TLS.offset, rnd() < 0.7 ? Math.floor(rnd() * Math.max(1, plen - cap)) : Math.floor(rnd() * 10_000), true);
        len = fixed + (cap < 4096 ? cap : 0);
      }
      if (rnd() < 0.15) len = Math.floor(rnd() * (len + 1));
      const ctx = `seed 0xdec0 case ${i}: kind ${kind}, ${len} bytes at ${off}`;
      const r = decodeRecord(dv, off, len);
      typed(r, ctx);
      if (r.kind !== 'wire_error') good++;
      if (r.kind === 'tls') asm.add(r);
    }
    assert.ok(good > 8000, `most records are good ones (${good})`);
  });

  it('through the ring: a malformed record is one wire error, and the good records after it all decode', () => {
    const size = 1 << 16;
    const data = new DataView(new ArrayBuffer(size));
    const consumer = new BigUint64Array(1);
    const producer = new BigUint64Array(1);
    let prod = 0;
    const put = (fill: (dv: DataView) => void, len: number) => {
      const rec = new DataView(new ArrayBuffer(Math.max(len, W.TCP.size)));
      fill(rec);
      const at = prod & (size - 1);
      data.setUint32(at, len, true);
      const src = new Uint8Array(rec.buffer);
      for (let i = 0; i < len; i++) data.setUint8((at + 8 + i) & (size - 1), src[i]!);
      prod += (len + 8 + 7) & ~7;
    };
    const tcp = (dv: DataView) => {
      hdr(dv, W.BUSTED_KIND_TCP);
      dv.setUint32(W.TCP.phase, W.BUSTED_TCP_CONNECTED, true);
    };
    const want: string[] = [];
    const rnd = prng(0x417);
    for (let i = 0; i < 300; i++) {
      const r = rnd();
      if (r < 0.6) {
        put(tcp, W.TCP.size);
        want.push('tcp');
      } else if (r < 0.7) {
        put(tcp, W.TCP.size - 1 - Math.floor(rnd() * 40));
        want.push('wire_error:tcp');
      } else if (r < 0.8) {
        put((dv) => hdr(dv, W.BUSTED_KIND_TCP, 7), W.TCP.size);
        want.push('wire_error:hdr.abi');
      } else if (r < 0.9) {
        put((dv) => hdr(dv, W.BUSTED_KIND_TCP), W.TCP.size);
        want.push('wire_error:tcp.phase');
      } else {
        put(() => {}, Math.floor(rnd() * W.HDR.size));
        want.push('wire_error:hdr');
      }
    }
    producer[0] = BigInt(prod);
    const got: string[] = [];
    new RingReader({ consumer, producer, data, size }).drain((dv, off, len) => {
      const r = decodeRecord(dv, off, len);
      got.push(r.kind === 'wire_error' ? `wire_error:${r.field}` : r.kind);
    });
    assert.deepEqual(got, want);
  });
});
