/**
 * The decoder's layout is the compiler's: engine/kernel/wire.generated.ts
 * must be what scripts/gen-wire.js makes from build/bpf/wire.bpf.o, and
 * every struct of busted.h that a loaded object (proc, conn, pkt) carries
 * in its BTF must have the same size and member offsets there.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { PACKAGE_ROOT, BPF_DIR } from '../../engine/paths.js';
import * as W from '../../engine/kernel/wire.generated.js';

const haveBpftool = spawnSync('bpftool', ['version']).status === 0;
const skip = !haveBpftool ? 'needs bpftool to read BTF (apt-get install bpftool)' : !existsSync(join(BPF_DIR, 'wire.bpf.o')) ? 'needs the BPF build (npm run build)' : undefined;

interface BtfType {
  id: number;
  kind: string;
  name: string;
  size?: number;
  members?: Array<{ name: string; type_id: number; bits_offset: number }>;
}

function btf(object: string): BtfType[] {
  return JSON.parse(execFileSync('bpftool', ['-j', 'btf', 'dump', 'file', object], { encoding: 'utf8' })).types;
}

const STRUCTS: Record<string, Record<string, number>> = {
  busted_task: W.TASK,
  busted_flow: W.FLOW,
  busted_hdr: W.HDR,
  busted_exec_event: W.EXEC,
  busted_exit_event: W.EXIT,
  busted_tcp_event: W.TCP,
  busted_udp_event: W.UDP,
  busted_pkt_event: W.PKT,
  busted_tls_event: W.TLS,
  busted_tls_key: W.TLS_KEY,
  busted_flow_event: W.FLOWSTAT,
};

describe('wire layout', { skip }, () => {
  it('wire.generated.ts is up to date with busted.h', () => {
    const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'scripts', 'gen-wire.js'), '--check'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
  });

  for (const obj of ['proc.bpf.o', 'conn.bpf.o', 'pkt.bpf.o', 'tls.bpf.o']) {
    it(`${obj} was compiled with the same layouts the decoder uses`, () => {
      const types = btf(join(BPF_DIR, obj));
      let checked = 0;
      for (const t of types) {
        const want = t.kind === 'STRUCT' ? STRUCTS[t.name] : undefined;
        if (!want) continue;
        assert.equal(t.size, want.size, `${obj}: sizeof(struct ${t.name})`);
        for (const m of t.members ?? []) {
          assert.equal(m.bits_offset / 8, want[m.name], `${obj}: offsetof(struct ${t.name}, ${m.name})`);
        }
        checked++;
      }
      assert.ok(checked >= 1, `${obj}: expected wire structs in its BTF, found ${checked}`);
    });
  }

  it('enum values are the contract in busted.h', () => {
    assert.equal(W.BUSTED_KIND_EXEC, 1);
    assert.equal(W.BUSTED_KIND_PKT, 5);
    assert.equal(W.BUSTED_DIR_EGRESS, 1);
    assert.equal(W.BUSTED_KIND_TLS, 6);
    assert.equal(W.BUSTED_KIND_FLOW, 8);
    assert.equal(W.BUSTED_FLOW_UPDATE, 1);
    assert.equal(W.BUSTED_FLOW_END, 2);
    assert.equal(W.BUSTED_TLS_WRITE, 1);
    assert.equal(W.BUSTED_TLS_FREE, 5);
    assert.equal(W.BUSTED_TLS_SKIP, 1);
    assert.equal(W.BUSTED_STAT_MAX, 8);
    // what the engine's decoder and the kernel agree on for TLS records
    assert.equal(W.TLS.data_LEN, 4096);
    assert.equal(W.TLS_KEY.size, 16);
  });
});

describe('watchVerdict: the tls_verdicts value of a watched HTTP/2 connection', () => {
  it('the verdict in the low bits, DATA and lost flags, the frame payload still to come from bit 8', async () => {
    const { watchVerdict } = await import('../../engine/kernel/loader.js');
    assert.equal(watchVerdict({ left: 0, data: false }), W.BUSTED_TLS_WATCH);
    assert.equal(watchVerdict({ left: 69, data: true }), W.BUSTED_TLS_WATCH | W.BUSTED_TLS_WATCH_DATA | (69 << 8));
    assert.equal(watchVerdict({ left: 0xffffff, data: false }), (W.BUSTED_TLS_WATCH | (0xffffff << 8)) >>> 0);
    assert.equal(watchVerdict(null), W.BUSTED_TLS_WATCH | W.BUSTED_TLS_WATCH_LOST);
    // a gated connection's: reads copied too, header blocks held too
    assert.equal(watchVerdict({ left: 3, data: false }, true), W.BUSTED_TLS_WATCH | W.BUSTED_TLS_WATCH_READS | W.BUSTED_TLS_WATCH_HEADERS | (3 << 8));
    assert.equal(watchVerdict(null, true), W.BUSTED_TLS_WATCH | W.BUSTED_TLS_WATCH_LOST | W.BUSTED_TLS_WATCH_READS | W.BUSTED_TLS_WATCH_HEADERS);
    // never one of the other verdicts, which the kernel compares whole
    for (const v of [watchVerdict({ left: 1, data: true }), watchVerdict(null), watchVerdict(null, true)]) assert.ok(![W.BUSTED_TLS_CAPTURE, W.BUSTED_TLS_SKIP, W.BUSTED_TLS_GATE, W.BUSTED_TLS_BLOCK].includes(v));
  });
});
