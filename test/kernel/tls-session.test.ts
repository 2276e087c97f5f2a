/**
 * The TLS read/write probes' return half, on the real kernel: a python3
 * client (the system's libssl) makes requests on one kept-alive connection,
 * first captured, then marked skip. With uprobe sessions the return run
 * happens for every captured call and for none of the skipped ones (the
 * entry run stored nothing and asked the kernel to skip it); with the
 * entry/return pair (BUSTED_TLS_NO_SESSION=1) the plaintext is captured the
 * same, but every skipped call still pays its uretprobe. Runs are counted by
 * tls.bpf.c's tls_returns map (KernelStats.tlsReturns).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { PYTHON, start } from '../../engine/demo/spawn.js';
import { resolveCgroup } from '../../engine/host/cgroup.js';
import { TlsLibraryFinder } from '../../engine/host/tls-libs.js';
import { KernelSession, type KernelStats } from '../../engine/kernel/loader.js';
import { uprobeSessionSupport } from '../../engine/kernel/libbpf.js';
import { decodeRecord, type TlsRecord } from '../../engine/decode/records.js';
import { BPF_DIR } from '../../engine/paths.js';

const libssl = () => new TlsLibraryFinder({ binaries: [] }).system().find((l) => l.kind === 'openssl');
const skip = kernelSkipReason() ?? (libssl() ? undefined : 'needs the system libssl (libssl3) for python3 to use');
const sessions = skip ? { ok: false, detail: skip } : uprobeSessionSupport(join(BPF_DIR, 'tls.bpf.o'));
const N = 20;

describe('TLS probes: the return half of a call', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: Server;
  let port = 0;
  const paths: string[] = [];

  before(async () => {
    cg = new TestCgroup();
    pki = makePki();
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      paths.push(req.url ?? '');
      res.end('{"ok":true}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server?.close();
    await cg?.dispose();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  /**
   * N requests captured, then N on the same connection after the skip
   * verdict; what the kernel counted in each phase, and the records.
   */
  async function twoPhases(tag: string) {
    const k = KernelSession.open({
      cgroup: resolveCgroup(cg.path),
      ringBytes: 1 << 22,
      selfTgid: process.pid,
      serverSide: false,
      only: ['tls'],
      tls: { targets: [libssl()!], capBytes: 4096 },
    });
    const records: TlsRecord[] = [];
    const client = start(
      [PYTHON, '-c', `import http.client, ssl, sys
c = http.client.HTTPSConnection('127.0.0.1', ${port}, context=ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)}))
for phase in ('a', 'b'):
    sys.stdin.readline()
    for i in range(${N}):
        c.request('GET', '/${tag}-%s%d' % (phase, i))
        r = c.getresponse()
        assert r.status == 200 and r.read() == b'{"ok":true}'
    print('done', flush=True)
`],
      { cgroup: cg.path },
    );
    let stderr = '';
    client.stderr!.on('data', (d) => (stderr += d));
    const lines = createInterface({ input: client.stdout! })[Symbol.asyncIterator]();
    const phase = async (): Promise<KernelStats> => {
      client.stdin!.write('go\n');
      const l = await lines.next();
      assert.equal(l.value, 'done', `the client: ${stderr}`);
      await k.idle();
      return k.stats();
    };
    try {
      k.consume((dv, off, len) => {
        const r = decodeRecord(dv, off, len);
        if (r.kind === 'tls' && r.task.pid === client.pid) records.push(r);
      });
      const s0 = k.stats();
      const s1 = await phase();
      const captured = records.filter((r) => r.op === 'write' || r.op === 'read');
      assert.ok(captured.some((r) => new TextDecoder().decode(r.data).startsWith(`GET /${tag}-a0 `)), 'the first request was captured');
      const ssl = captured[0]!.ssl;
      assert.ok(captured.every((r) => r.ssl === ssl), 'one connection');
      assert.equal(k.setTlsVerdict(client.pid!, ssl, 'skip'), true);
      const before = records.length;
      const s2 = await phase();
      client.stdin!.end();
      return {
        mode: k.tlsMode,
        hooks: k.attachments.filter((a) => a.ok).map((a) => a.hook.split(' ')[0]!),
        capturedCalls: new Set(captured.map((r) => r.callId)).size,
        a: { returns: s1.tlsReturns - s0.tlsReturns, skipped: s1.tlsSkipped - s0.tlsSkipped },
        b: { returns: s2.tlsReturns - s1.tlsReturns, skipped: s2.tlsSkipped - s1.tlsSkipped, records: records.slice(before) },
        served: paths.filter((p) => p.startsWith(`/${tag}-`)).length,
      };
    } finally {
      client.kill();
      k.dispose();
    }
  }

  /** twoPhases with BUSTED_TLS_NO_SESSION as given (undefined: unset), as it was after. */
  async function withNoSession(value: string | undefined, tag: string) {
    const was = process.env.BUSTED_TLS_NO_SESSION;
    if (value === undefined) delete process.env.BUSTED_TLS_NO_SESSION;
    else process.env.BUSTED_TLS_NO_SESSION = value;
    try {
      return await twoPhases(tag);
    } finally {
      if (was === undefined) delete process.env.BUSTED_TLS_NO_SESSION;
      else process.env.BUSTED_TLS_NO_SESSION = was;
    }
  }

  it('with uprobe sessions: a return run for each captured call, none for a skipped connection\'s calls', { skip: sessions.ok ? undefined : `this kernel makes no uprobe session links (${sessions.detail})` }, async () => {
    const r = await withNoSession(undefined, 'session');
    assert.equal(r.mode, 'session');
    assert.ok(r.hooks.includes('uprobe.session') && !r.hooks.includes('uretprobe'), `hooks: ${r.hooks.join(', ')}`);
    assert.equal(r.served, 2 * N);
    // captured: at least a write and a read per request, each returned to
    assert.ok(r.capturedCalls >= 2 * N, `${r.capturedCalls} calls captured`);
    assert.ok(r.a.returns >= r.capturedCalls, `${r.a.returns} return runs for ${r.capturedCalls} captured calls`);
    assert.equal(r.a.skipped, 0);
    // skipped: every call seen at entry, none at return, nothing copied
    assert.ok(r.b.skipped >= 2 * N, `${r.b.skipped} calls skipped`);
    assert.equal(r.b.returns, 0, `return runs after the skip verdict (${r.b.skipped} calls skipped)`);
    assert.deepEqual(r.b.records.filter((x) => x.op === 'write' || x.op === 'read'), []);
  });

  it('BUSTED_TLS_NO_SESSION=1: the entry/return pair captures the same, and pays a return for every skipped call', async () => {
    const r = await withNoSession('1', 'pair');
    assert.equal(r.mode, 'pair');
    assert.ok(r.hooks.includes('uretprobe') && !r.hooks.includes('uprobe.session'), `hooks: ${r.hooks.join(', ')}`);
    assert.equal(r.served, 2 * N);
    assert.ok(r.capturedCalls >= 2 * N, `${r.capturedCalls} calls captured`);
    assert.ok(r.a.returns >= r.capturedCalls);
    assert.ok(r.b.skipped >= 2 * N, `${r.b.skipped} calls skipped`);
    assert.ok(r.b.returns >= r.b.skipped, `${r.b.returns} uretprobe runs for ${r.b.skipped} skipped calls`);
    assert.deepEqual(r.b.records.filter((x) => x.op === 'write' || x.op === 'read'), []);
  });
});
