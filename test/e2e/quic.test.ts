/**
 * HTTP/3: Debian's Chromium, in a cgroup of the test, told to use QUIC for
 * api.openai.com (mapped to 127.0.0.1, every other name to nothing, so it
 * reaches nowhere else), where a UDP socket of the test takes its datagrams
 * and never answers: its ClientHello (about 2 KB with its post-quantum key
 * share) takes two Initial packets, and busted monitor reads it out of them: a tls_client_hello over UDP with the
 * name, ALPN h3, a JA4 of transport q, the provider, and plaintext false
 * (Chromium's BoringSSL is no library busted probes).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { MonitorProcess } from '../helpers/agent.js';
import { run } from '../../engine/demo/spawn.js';
import { CHROMIUM, chromiumSkipReason } from '../helpers/chromium.js';

const skip = kernelSkipReason() ?? chromiumSkipReason();

describe('QUIC Initials from a real browser', { skip }, () => {
  let cg: TestCgroup;
  let profile: string;
  let sink: Socket;
  let datagrams = 0;

  before(async () => {
    cg = new TestCgroup();
    profile = mkdtempSync(join(tmpdir(), 'busted-quic-'));
    // a port that takes the datagrams (an ICMP port-unreachable would end the connection after its first)
    sink = createSocket('udp4');
    sink.on('message', () => datagrams++);
    await new Promise<void>((r) => sink.bind(443, '127.0.0.1', r));
  });

  after(async () => {
    sink?.close();
    await cg?.dispose();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  const resolv = () => {
    const f = join(profile, 'resolv.conf');
    writeFileSync(f, 'nameserver 127.0.0.1\n');
    return f;
  };

  it('Chromium forced to HTTP/3: its ClientHello is read from the Initial packets (SNI, ALPN h3, JA4 q..., the provider)', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path]);
    try {
      const r = await run(
        [
          'timeout',
          '6',
          CHROMIUM,
          '--headless=new',
          '--no-sandbox',
          '--disable-gpu',
          `--user-data-dir=${profile}`,
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
          '--enable-quic',
          '--origin-to-force-quic-on=api.openai.com:443',
          '--host-resolver-rules=MAP api.openai.com 127.0.0.1, MAP * ~NOTFOUND',
          'https://api.openai.com/v1/models',
        ],
        // and a resolver on loopback only, should anything in it look a name up all the same
        { cgroup: cg.path, resolvConf: resolv(), timeoutMs: 15_000 },
      );
      const hello = await agent.waitFor((e) => e.type === 'tls_client_hello' && e.net?.protocol === 'udp', `a QUIC ClientHello (${datagrams} datagrams; chromium exited ${r.code ?? r.signal}: ${r.stderr.slice(-300)})`, 10_000);
      assert.equal(hello.tls?.sni, 'api.openai.com');
      assert.deepEqual(hello.tls?.alpn, ['h3']);
      assert.equal(hello.tls?.version, 'TLS 1.3');
      assert.match(hello.tls?.ja4 ?? '', /^q13d\d{4}h3_[0-9a-f]{12}_[0-9a-f]{12}$/);
      assert.equal(hello.provider, 'openai');
      assert.equal(hello.net?.dst_port, 443);
      assert.equal(hello.net?.dst_ip, '127.0.0.1');
      assert.equal(hello.tls?.plaintext, false);
      // one hello for the connection, however many Initials it took
      const sameSock = agent.events.filter((e) => e.type === 'tls_client_hello' && e.net?.protocol === 'udp' && e.net?.src_port === hello.net?.src_port);
      assert.equal(sameSock.length, 1);
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});
