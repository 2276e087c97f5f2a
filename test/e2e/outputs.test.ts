/**
 * Every output at once on a real run: `busted demo` (the agent on the kernel
 * plus the built-in demo's real clients and stand-in providers, in a cgroup of
 * the test's own) with a file output (rotated by size, then moved away and
 * reopened on SIGHUP), a webhook to a local HTTPS collector (own CA, token,
 * header), syslog over UDP and TCP to a real rsyslogd, the metrics endpoint
 * and the dashboard in headless Chromium while the demo runs. Every output
 * must carry exactly the events stdout carried, in the same order. A client
 * in a docker-style child cgroup shows container ids reaching events, and one
 * in a kubepods-style cgroup gets its pod's name, namespace and labels from a
 * Kubernetes API stand-in (test/helpers/kube-api.ts) through the agent's watch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:https';
import { createServer as createTcpServer, type AddressInfo, type Server as TcpServer } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { freePort, Rsyslog, rsyslogSkipReason } from '../helpers/rsyslog.js';
import { artifactPath, chromiumSkipReason, launchChromium } from '../helpers/chromium.js';
import { parseProm } from '../helpers/prom.js';
import { httpGet, until } from '../helpers/wait.js';
import { KubeApi, pod } from '../helpers/kube-api.js';

const skip = kernelSkipReason() ?? rsyslogSkipReason() ?? chromiumSkipReason();
const CTR = 'd0c4e5'.padEnd(64, '7');
const POD = '1b2c3d4e-0000-4000-8000-00000000abcd';
const POD_CTR = 'c0ffee'.padEnd(64, '1');
const POD_PATH = ['kubepods.slice', 'kubepods-besteffort.slice', `kubepods-besteffort-pod${POD.replace(/-/g, '_')}.slice`, `cri-containerd-${POD_CTR}.scope`];



describe('all outputs on a real run (busted demo)', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let dir: string;
  let rs: Rsyslog;
  let collector: Server;
  let tcp: TcpServer;
  let child: ChildProcess;
  let kube: KubeApi;
  const webhookLines: string[] = [];
  let stdout = '';
  let stderr = '';
  let exited: Promise<number | null>;

  before(async () => {
    cg = new TestCgroup();
    pki = makePki(['collector.test']);
    dir = mkdtempSync(join(tmpdir(), 'busted-outputs-'));
    rs = new Rsyslog(await freePort(), await freePort());
    await rs.start();
    collector = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      let b = '';
      req.on('data', (d) => (b += d));
      req.on('end', () => {
        if (req.headers.authorization !== 'Bearer e2e-token' || req.headers['x-site'] !== 'e2e') return void res.writeHead(401).end();
        webhookLines.push(...b.split('\n').filter(Boolean));
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((r) => collector.listen(0, '127.0.0.1', () => r()));
    tcp = createTcpServer((s) => s.end());
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    writeFileSync(join(dir, 'token'), 'e2e-token\n');
    kube = new KubeApi(pki);
    kube.token = 'sa-token';
    kube.pods.set(POD, pod(POD, 'agent-pod-5f7c', 'ml-prod', { app: 'agent', team: 'ml' }, 'node-e2e', POD_CTR));
    await kube.start();
    mkdirSync(join(dir, 'sa'));
    writeFileSync(join(dir, 'sa', 'token'), 'sa-token\n');
    writeFileSync(join(dir, 'sa', 'ca.crt'), pki.caPem);
  });

  after(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    collector?.close();
    collector?.closeAllConnections();
    tcp?.close();
    await rs?.dispose();
    await kube?.stop();
    const nested = [join(cg.path, `docker-${CTR}.scope`), ...POD_PATH.map((_, i) => join(cg.path, ...POD_PATH.slice(0, POD_PATH.length - i)))];
    for (const d of nested) {
      try {
        if (existsSync(d)) rmdirSync(d);
      } catch {}
    }
    await cg?.dispose();
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  });

  it('file, webhook, syslog UDP and TCP, metrics and the dashboard all see the same events', async () => {
    const file = join(dir, 'events.jsonl');
    const port = (collector.address() as AddressInfo).port;
    child = spawn(
      process.execPath,
      [
        join(PACKAGE_ROOT, 'bin', 'busted.js'), 'demo', '--follow', '--cgroup', cg.path, '--format', 'json',
        '--output', `file:${file}`, '--file-max-mb', '0',
        '--output', `webhook:https://127.0.0.1:${port}/ingest`, '--webhook-ca', pki.caCert, '--webhook-token-file', join(dir, 'token'), '--webhook-header', 'X-Site: e2e', '--webhook-flush-ms', '100', '--spill-dir', join(dir, 'spill'),
        '--output', `syslog:127.0.0.1:${rs.udpPort}`,
        '--output', `syslog+tcp:127.0.0.1:${rs.tcpPort}`,
        '--metrics', '0', '--ui', '0',
        '--kube-api', `https://127.0.0.1:${kube.port}`, '--kube-sa-dir', join(dir, 'sa'), '--kube-node', 'node-e2e',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    exited = new Promise((r) => child.on('exit', (c) => r(c)));
    await until(() => /busted: dashboard at (\S+)/.test(stderr) && /busted: (monitoring|enforcing on) /.test(stderr), `the agent to start: ${stderr}`);
    const uiUrl = /busted: dashboard at (\S+)/.exec(stderr)![1]!;
    const metricsUrl = /busted: metrics at (\S+)/.exec(stderr)![1]!;
    assert.match(uiUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/, 'loopback: no token');

    // the dashboard, open while the demo runs
    const browser = await launchChromium();
    try {
      const page = await browser.context.newPage();
      await page.goto(uiUrl);
      await page.waitForSelector('[data-testid=connection].live');
      await page.waitForSelector('#providers tr[data-provider=openai]', { timeout: 30_000 });
      await page.waitForSelector('#providers tr[data-provider=anthropic]', { timeout: 30_000 });
      await until(() => stderr.includes('demo done'), 'the demo to finish', 60_000);
      await page.waitForFunction(() => Number(document.querySelector('#providers tr[data-provider=openai] td:nth-child(3)')?.textContent?.replace(/,/g, '')) >= 12);
      const openai = await page.locator('#providers tr[data-provider=openai] td').allTextContents();
      assert.ok(Number(openai[1]) >= 1, `openai requests ${openai[1]}`);
      assert.match(openai[4]!, /^\$0\.0000\d+$/, `an estimated cost for gpt-4o-mini: ${openai[4]}`);
      assert.ok((await page.locator('#events tr[data-type=llm_request]').count()) >= 2);
      assert.ok((await page.locator('#processes tr[data-process=curl]').count()) === 1);
      // the demo enforces the shipped policies: their revision, and the blocks with their reasons
      const rev = /busted: policy (\S+) from/.exec(stderr)?.[1];
      assert.ok(rev, 'the policy revision on stderr');
      assert.equal((await page.getByTestId('policy-revision').textContent())?.trim(), rev);
      await page.waitForSelector('#decisions tr[data-action=block]');
      const reasons = await page.locator('#decisions tr[data-action=block] td:nth-child(3)').allTextContents();
      assert.ok(reasons.some((r) => r.length > 0 && r !== '—'), `block reasons shown: ${reasons.join(' | ')}`);
      await page.screenshot({ path: artifactPath('dashboard-demo.png'), fullPage: true });
    } finally {
      await browser.close();
    }

    // a client in a docker-style cgroup under the test's cgroup
    const ctrCg = join(cg.path, `docker-${CTR}.scope`);
    mkdirSync(ctrCg);
    const tport = (tcp.address() as AddressInfo).port;
    const r = await run([PYTHON, '-c', `import socket; socket.create_connection(("127.0.0.1", ${tport})).close()`], { cgroup: ctrCg });
    assert.equal(r.code, 0, r.stderr);
    // and one in a Kubernetes pod's container cgroup
    const podCg = join(cg.path, ...POD_PATH);
    mkdirSync(podCg, { recursive: true });
    const rp = await run([PYTHON, '-c', `import socket; socket.create_connection(("127.0.0.1", ${tport})).close()`], { cgroup: podCg });
    assert.equal(rp.code, 0, rp.stderr);

    // metrics, scraped while running
    let m = new Map<string, number>();
    await until(() => {
      void httpGet(metricsUrl).then((t) => (m = parseProm(t)));
      return (m.get('busted_llm_requests_total{provider="openai",model="gpt-4o-mini",process="curl"}') ?? 0) >= 1;
    }, 'LLM request metrics');
    assert.ok((m.get('busted_events_total{type="connect",provider="openai"}') ?? 0) >= 1);
    assert.ok([...m.keys()].some((k) => k.startsWith('busted_llm_tokens_total{provider="openai"')));
    assert.equal(m.get(`busted_sink_dropped_total{sink="file:${file}"}`), 0);
    assert.ok((m.get('busted_decisions_total{action="block",enforced="true"}') ?? 0) >= 1, 'blocks counted');
    assert.ok([...m.keys()].some((k) => k.startsWith('busted_policy_info{revision="sha256:')), 'the policy revision exported');

    // logrotate's way: move the file, SIGHUP, new events go to a new file
    await until(() => stdout.includes(CTR), 'the container client in the events');
    renameSync(file, `${file}.moved`);
    child.kill('SIGHUP');
    await new Promise((r2) => setTimeout(r2, 300));
    const r2 = await run([PYTHON, '-c', `import socket; socket.create_connection(("127.0.0.1", ${tport})).close()`], { cgroup: ctrCg });
    assert.equal(r2.code, 0);
    await until(() => existsSync(file) && readFileSync(file, 'utf8').length > 0, 'a new file after SIGHUP');

    await new Promise((r3) => setTimeout(r3, 500));
    child.kill('SIGTERM');
    assert.equal(await exited, 0, stderr);

    const ids = (lines: string[]) => lines.filter(Boolean).map((l) => (JSON.parse(l) as BustedEvent).id);
    const out = stdout.split('\n').filter(Boolean);
    const events = out.map((l) => JSON.parse(l) as BustedEvent);
    const want = ids(out);
    assert.ok(want.length > 50, `${want.length} events`);
    assert.ok(events.some((e) => e.type === 'llm_response' && e.llm?.usage), 'LLM answers with usage');
    const inCtr = events.filter((e) => e.process?.container_id === CTR);
    assert.ok(inCtr.length >= 2, 'events of the containerised client');
    assert.equal(inCtr[0]!.process!.container_runtime, 'docker');
    const inPod = events.filter((e) => e.process?.pod?.uid === POD);
    assert.ok(inPod.length >= 2, 'events of the process in the pod');
    assert.deepEqual(inPod.find((e) => e.type === 'connect')!.process!.pod, {
      uid: POD,
      qos_class: 'besteffort',
      name: 'agent-pod-5f7c',
      namespace: 'ml-prod',
      labels: { app: 'agent', team: 'ml' },
      service_account: 'agent-pod-5f7c-sa',
      container: 'main',
      image: 'registry.test/app:1.2',
    });
    assert.equal(inPod[0]!.process!.container_id, POD_CTR);
    assert.ok(kube.requests.some((q) => q.includes('fieldSelector=spec.nodeName%3Dnode-e2e')), "the node's pods only");

    const fromFile = [...readFileSync(`${file}.moved`, 'utf8').split('\n'), ...readFileSync(file, 'utf8').split('\n')];
    assert.deepEqual(ids(fromFile), want, 'file output (before and after SIGHUP) = stdout');
    assert.deepEqual(ids(webhookLines), want, 'webhook = stdout');
    await until(() => rs.received().length >= 2 * want.length, 'syslog messages', 10_000);
    const got = rs.received();
    assert.deepEqual(ids(got.filter((x) => x.input === 'tcp').map((x) => x.msg)), want, 'syslog TCP = stdout');
    assert.deepEqual(ids(got.filter((x) => x.input === 'udp').map((x) => x.msg)), want, 'syslog UDP = stdout');
    assert.deepEqual(readdirSync(dir).filter((n) => n.startsWith('events')), ['events.jsonl', 'events.jsonl.moved']);
    assert.doesNotMatch(stderr, /dropped/);
    // credentials the demo sends never reach any output
    for (const text of [stdout, readFileSync(file, 'utf8'), webhookLines.join('\n'), got.map((x) => x.msg).join('\n')]) {
      assert.ok(!text.includes('sk-demo-000000000000000000000000'), 'no API key in outputs');
    }
  });
});
