/**
 * From real traffic to a red CI run: `busted monitor --record` in a test
 * cgroup records real clients (curl, python3) talking TLS to local
 * stand-ins for api.openai.com, api.mistral.ai and a look-alike name;
 * expectations are written beside the recording; `busted test-policy`
 * replays it through the shipped policies (exit 0), through a broken copy
 * of them (exit 1), and lists the decisions the change alters. And a
 * recording on a full disk (/dev/full) is reported, never fatal.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { PYTHON, run, type RunResult } from '../../engine/demo/spawn.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { PROVIDER_NAMES, startProviderServer, type ProviderServer } from '../helpers/providers.js';

const skip = kernelSkipReason();
const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const LOOKALIKE = 'evil-openai.com';
const OPENAI_KEY = 'sk-proj-e2eRECORDkey0123456789abcdefgh';

function testPolicy(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bin, 'test-policy', ...args], { encoding: 'utf8', timeout: 120_000, cwd: PACKAGE_ROOT, env: { ...process.env, GITHUB_ACTIONS: '' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('a recording of real traffic, tested with busted test-policy', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: ProviderServer;
  let dir: string;
  let hosts: string;
  let rec: string;
  const clients: Record<string, RunResult> = {};

  before(async () => {
    cg = new TestCgroup();
    pki = makePki([...PROVIDER_NAMES, LOOKALIKE]);
    server = await startProviderServer(pki);
    dir = mkdtempSync(join(tmpdir(), 'busted-e2e-tp-'));
    hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost ${PROVIDER_NAMES.join(' ')} ${LOOKALIKE}\n`);
    rec = join(dir, 'session.jsonl');
  });

  after(async () => {
    await server?.close();
    await cg?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
  });

  it('busted monitor --record writes what it reports, keys sorted, credentials redacted', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path, '--record', rec]);
    let code: number | null;
    try {
      const url = (host: string, path: string) => `https://${host}:${server.port}${path}`;
      const o = { cgroup: cg.path, hosts };
      clients.openai = await run(['curl', '-sS', '--http1.1', '--cacert', pki.caCert, '-H', `Authorization: Bearer ${OPENAI_KEY}`, '-H', 'content-type: application/json', '--data-binary', JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'q-record' }] }), '-o', '/dev/null', url('api.openai.com', '/v1/chat/completions')], o);
      clients.mistral = await run(
        [PYTHON, '-c', `import ssl, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
req = urllib.request.Request(${JSON.stringify(url('api.mistral.ai', '/v1/chat/completions'))}, data=b'{"model":"mistral-large-latest","messages":[{"role":"user","content":"q-mistral"}]}', headers={"content-type": "application/json"})
urllib.request.urlopen(req, context=ctx).read()`],
        o,
      );
      clients.mcp = await run(['curl', '-sS', '--http1.1', '--cacert', pki.caCert, '-H', 'content-type: application/json', '--data-binary', JSON.stringify({ jsonrpc: '2.0', id: 4, method: 'tools/call', params: { name: 'delete_file', arguments: { path: '/etc/hosts' } } }), '-o', '/dev/null', url('api.openai.com', '/mcp')], o);
      clients.lookalike = await run(['curl', '-sS', '--http1.1', '--cacert', pki.caCert, '-o', '/dev/null', url(LOOKALIKE, '/')], o);
      for (const [name, r] of Object.entries(clients)) assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      const mine = (r: RunResult, type: string) => (e: BustedEvent) => e.process?.pid === r.pid && e.type === type;
      await agent.waitFor(mine(clients.openai!, 'llm_request'), 'the OpenAI request');
      await agent.waitFor(mine(clients.mistral!, 'llm_request'), 'the Mistral request');
      await agent.waitFor(mine(clients.mcp!, 'mcp_message'), 'the MCP call');
      await agent.waitFor(mine(clients.lookalike!, 'tls_client_hello'), 'the look-alike hello');
      await agent.waitFor(mine(clients.lookalike!, 'exit'), 'the last exit');
    } finally {
      code = await agent.stop();
    }
    assert.equal(code, 0, agent.stderr);
    const text = readFileSync(rec, 'utf8');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, agent.events.length, 'the recording holds every event reported');
    assert.deepEqual(
      lines.map((l) => JSON.parse(l).id),
      agent.events.map((e) => e.id),
    );
    for (const l of lines) {
      const keys = Object.keys(JSON.parse(l));
      assert.deepEqual(keys, [...keys].sort());
    }
    assert.ok(!text.includes(OPENAI_KEY.slice(8)), 'the API key is not in the recording');
    assert.ok(text.includes('[REDACTED]'), 'it was there, and was redacted');
  });

  it('replays through the shipped policies with its expectations (exit 0), as JSON and text', () => {
    const events = readFileSync(rec, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as BustedEvent);
    const mistralRequest = events.find((e) => e.type === 'llm_request' && e.process?.pid === clients.mistral!.pid)!;
    const pid = (k: string) => clients[k]!.pid;
    const expectations = [
      { name: 'the OpenAI chat from curl is allowed', match: { type: 'llm_request', provider: 'openai', process: { pid: pid('openai') } }, action: 'allow' },
      { name: 'Mistral is not approved', subject: mistralRequest.id, action: 'block', reasons: ['provider mistral is not approved'] },
      // (its connect carries no provider: the name came from a private /etc/hosts, the hello's SNI names it)
      { name: "Mistral's TLS hello too", match: { type: 'tls_client_hello', process: { pid: pid('mistral') } }, action: 'block' },
      // (the server's answer names the call it answers too: it is allowed, what comes back does not leave the host)
      { name: 'MCP delete_file is blocked', match: { type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', tool: 'delete_file' } }, action: 'block', reason: 'delete_file' },
      { name: 'the look-alike name is blocked', match: { type: 'tls_client_hello', tls: { sni: LOOKALIKE } }, action: 'block' },
    ];
    writeFileSync(join(dir, 'session.expect.jsonl'), expectations.map((x) => JSON.stringify({ expect: x })).join('\n') + '\n');
    const r = testPolicy(['--policies', 'policies', '--events', rec, '--format', 'json', '--run', '^$']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.deepEqual(j.summary.expectations, { pass: 5, fail: 0 });
    assert.equal(j.summary.problems, 0);
    assert.equal(j.event_files[0].events, events.length);
    assert.ok(j.event_files[0].counts.block >= 4, JSON.stringify(j.event_files[0].counts));
    const text = testPolicy(['--policies', 'policies', '--events', rec]);
    assert.equal(text.status, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /EXPECTATIONS: 5\/5 pass/);
  });

  it('a broken change to the policies turns the run red, and the diff shows what it changes', () => {
    // someone mistypes a provider in data.json: openai is no longer approved
    const broken = join(dir, 'policies');
    cpSync(join(PACKAGE_ROOT, 'policies'), broken, { recursive: true });
    const data = JSON.parse(readFileSync(join(broken, 'data.json'), 'utf8'));
    data.busted.approved_providers = data.busted.approved_providers.map((p: string) => (p === 'openai' ? 'openia' : p));
    writeFileSync(join(broken, 'data.json'), JSON.stringify(data, null, 2));
    const r = testPolicy(['--policies', broken, '--events', rec]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /session\.expect\.jsonl:1: FAIL the OpenAI chat from curl is allowed: .* was decided block \(provider openai is not approved\), expected allow/);
    // the unit tests of the shipped policies catch it too
    assert.match(r.stdout, /^FAIL: \d+\/\d+$/m);
    const diff = testPolicy(['--policies', broken, '--baseline', 'policies', '--events', rec, '--format', 'json', '--run', '^$']);
    assert.equal(diff.status, 1);
    const changed = JSON.parse(diff.stdout).diff as Array<{ type: string; before: { action: string }; after: { action: string; reasons: string[] } }>;
    assert.ok(changed.length >= 3, `openai's events change: ${changed.length}`);
    for (const c of changed) {
      assert.equal(c.before.action, 'allow');
      assert.equal(c.after.action, 'block');
      assert.ok(c.after.reasons.includes('provider openai is not approved'));
    }
    assert.ok(changed.some((c) => c.type === 'llm_request'));
  });

  it('--record on a full disk (/dev/full) is an error event and a warning, and the agent goes on', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path, '--record', '/dev/full']);
    let code: number | null;
    try {
      const r = await run(['bash', '-c', 'exit 0'], { cgroup: cg.path });
      const err = await agent.waitFor((e) => e.type === 'error' && e.error?.code === 'BUSTED_E_SINK', 'an error event for the recording');
      assert.equal(err.error?.field, 'record');
      assert.match(err.error!.message, /ENOSPC/);
      // events after the failure still reach stdout
      const later = await run(['bash', '-c', 'exit 0'], { cgroup: cg.path });
      await agent.waitFor((e) => e.type === 'exit' && e.process?.pid === later.pid, 'an event after the failure');
      assert.ok(agent.events.some((e) => e.process?.pid === r.pid));
    } finally {
      code = await agent.stop();
    }
    assert.equal(code, 0, agent.stderr);
    assert.match(agent.stderr, /busted: warning: record:\/dev\/full: ENOSPC/);
    assert.match(agent.stderr, /record:\/dev\/full dropped \d+/);
  });
});

describe('a recording of busted enforce replays to the decisions it made', { skip }, () => {
  it('busted demo (enforcing the shipped policies) --record: every recorded decision is replayed, none differs but where the recording redacted what the agent saw', async () => {
    const cg = new TestCgroup();
    const dir = mkdtempSync(join(tmpdir(), 'busted-e2e-enf-'));
    const rec = join(dir, 'enforce.jsonl');
    try {
      const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [bin, 'demo', '--cgroup', cg.path, '--record', rec, '--format', 'json'], { stdio: ['ignore', 'ignore', 'pipe'] });
        let stderr = '';
        child.stderr!.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
        const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
        child.on('exit', (code) => {
          clearTimeout(t);
          resolve({ code, stderr });
        });
      });
      assert.equal(r.code, 0, r.stderr);
      const events = readFileSync(rec, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as BustedEvent);
      const decisions = events.filter((e) => e.type === 'decision');
      assert.ok(decisions.length > 20, `enforce reported its decisions (--format json: all of them): ${decisions.length}`);
      assert.ok(decisions.some((d) => d.decision?.action === 'block'), 'the demo meets a block');
      const t = testPolicy(['--policies', 'policies', '--events', rec, '--run', '^$', '--format', 'json']);
      assert.equal(t.status, 0, t.stdout + t.stderr);
      const j = JSON.parse(t.stdout);
      const f = j.event_files[0];
      assert.equal(j.policies.revision, decisions[0]!.decision!.policy_revision, 'the same policy revision as the agent');
      assert.deepEqual(f.mismatches, []);
      assert.ok(f.recorded_decisions_checked >= decisions.length - 5, `recorded decisions compared: ${f.recorded_decisions_checked} of ${decisions.length}`);
      // what differs is only what the recording no longer holds (the demo's prompt carrying a key)
      for (const m of f.redacted_mismatches as Array<{ subject: string }>) {
        const subject = events.find((e) => e.id === m.subject)!;
        assert.ok(JSON.stringify(subject).includes('[REDACTED]'), m.subject);
      }
      assert.equal(f.errors.length, 0);
    } finally {
      await cg.dispose();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
