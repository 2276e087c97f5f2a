/**
 * `busted enforce` against real traffic, everything scoped to a cgroup of
 * the test's own: real clients (curl, python3, node) in it resolve provider
 * names through a real resolver (dnsmasq, private /etc/resolv.conf) to a
 * local stand-in HTTPS server, and the kernel refuses what the policy
 * blocks — the very first connect after a lookup, a prompt carrying a
 * secret before it leaves the host — while what the policy allows goes
 * through. The policy is then changed on disk (hot reload), broken (the
 * last good one stays), and replaced by bundles served by a real nginx.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { connect as netConnect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { createServer as createTlsServer } from 'node:tls';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BustedEvent } from '../../engine/model/event.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { startDnsmasq, type Resolver } from '../../engine/demo/resolver.js';
import { PYTHON, run, start, type RunResult } from '../../engine/demo/spawn.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { startProviderServer, USAGE, type ProviderServer } from '../helpers/providers.js';
import { CHROMIUM, CHROMIUM_QUIET, chromiumSkipReason } from '../helpers/chromium.js';
import { NSS_CURL } from '../helpers/clients.js';
import { goClient, goProbesOn, goSkipReason } from '../helpers/go-client.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { farHost } from '../helpers/far-host.js';
import { holdPushable } from '../../engine/kernel/push.js';
import { pinDirFor } from '../../engine/kernel/pin.js';
import { resolveCgroup } from '../../engine/host/cgroup.js';

const skip = kernelSkipReason();

const HEAD = `package busted

import rego.v1

default decision := "allow"

decision := "block" if count(block) > 0

decision := "audit" if {
	count(block) == 0
	count(audit) > 0
}

reasons contains r if some r in block

reasons contains r if {
	count(block) == 0
	some r in audit
}

audit contains "never" if false
`;

/** A policy that blocks one provider for one program (by its command name). */
const perProcess = (comm: string, provider: string) => `${HEAD}
block contains sprintf("%s may not use %s", [input.process.comm, input.provider]) if {
	input.type == "connect"
	input.provider == "${provider}"
	input.process.comm == "${comm}"
}
`;

const SECRETS = `${HEAD}
block contains sprintf("prompt to %s carries an AWS access key", [input.provider]) if {
	input.type == "llm_request"
	regex.match(\`AKIA[0-9A-Z]{16}\`, input.llm.user_message)
}
`;

const byProvider = (provider: string) => `${HEAD}
block contains sprintf("provider %s is not approved", [input.provider]) if {
	input.type == "connect"
	input.provider == "${provider}"
}
`;

const LOOKALIKE = `${HEAD}
host := input.dns.questions[0].name

host := input.tls.sni

block contains sprintf("%s looks like openai", [host]) if {
	contains(host, "openai")
	host != "openai.com"
	not endswith(host, ".openai.com")
}
`;

/** Content to one provider blocked (the connection's own name is no provider: only the request says where it goes). */
const FRONTED = `${HEAD}
block contains sprintf("provider %s is not approved", [input.provider]) if {
	input.type == "llm_request"
	input.provider == "mistral"
}
`;

const MCP_TOOLS = `${HEAD}
block contains sprintf("MCP tool %s is blocked", [input.mcp.tool]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	input.mcp.tool == "delete_file"
}
`;

/** A tool blocked on one MCP server only (by the name its answer to initialize gave). */
const MCP_SERVER_TOOL = `${HEAD}
block contains sprintf("MCP tool %s of server %s is blocked", [input.mcp.tool, input.mcp.server.name]) if {
	input.type == "mcp_message"
	input.mcp.kind == "request"
	concat("/", [input.mcp.server.name, input.mcp.tool]) == "stand-in-mcp/delete_file"
}
`;

const SECRET = 'AKIAIOSFODNN7EXAMPLE';

describe('busted enforce (real kernel, a cgroup of the test)', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: ProviderServer;
  let dns: Resolver;
  let dir: string;
  let agent: MonitorProcess | undefined;

  before(async () => {
    cg = new TestCgroup();
    pki = makePki(['api.openai.com', 'api.anthropic.com', 'api.mistral.ai', 'evil-openai.com', 'ok.example.test', 'mcp.example.test']);
    server = await startProviderServer(pki);
    dns = await startDnsmasq({ 'api.openai.com': ['127.0.0.1'], 'api.anthropic.com': ['127.0.0.1'], 'api.mistral.ai': ['127.0.0.1', '::1'], 'evil-openai.com': ['127.0.0.1'], 'ok.example.test': ['127.0.0.1'], 'mcp.example.test': ['127.0.0.1'] });
    dir = mkdtempSync(join(tmpdir(), 'busted-enforce-'));
  });

  after(async () => {
    await agent?.stop();
    await cg?.dispose();
    await server?.close();
    await dns?.stop();
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const inCg = () => ({ cgroup: cg.path, resolvConf: dns.resolvConf });
  const url = (host: string, path = '/v1/chat/completions') => `https://${host}:${server.port}${path}`;
  const chat = (user: string) => JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: user }] });

  const curl = (host: string, body = chat('hello')) =>
    run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', body, url(host)], inCg());
  // gzip: the body sent gzip'd (Content-Encoding), where the policy must see the decoded prompt
  const python = (host: string, body = chat('hello'), gzip = false) =>
    run(
      [
        PYTHON,
        '-c',
        `import gzip, ssl, sys, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
data = ${JSON.stringify(body)}.encode()
headers = {"content-type": "application/json"}
if ${gzip ? 'True' : 'False'}:
    data = gzip.compress(data)
    headers["content-encoding"] = "gzip"
req = urllib.request.Request(${JSON.stringify(url(host))}, data=data, headers=headers)
urllib.request.urlopen(req, context=ctx, timeout=10).read()`,
      ],
      inCg(),
    );
  const pythonGzip = (host: string, body?: string) => python(host, body, true);
  // NSS: libcurl-nss from python3 (the stand-in's certificate is not checked: NSS wants its own database)
  const nss = async (host: string, body = chat('hello')): Promise<RunResult> => run([PYTHON, '-c', NSS_CURL, url(host), body, 'x-test: nss'], inCg());
  // GnuTLS: one record (16 KiB at most) per gnutls_record_send
  const wget = (host: string, body = chat('hello')) =>
    run(['wget', '-q', '-O', '/dev/null', '--tries=1', '--timeout=10', `--ca-certificate=${pki.caCert}`, '--header', 'content-type: application/json', `--post-data=${body}`, url(host)], inCg());
  const node = (host: string, body = chat('hello')) =>
    run(
      [
        process.execPath,
        '-e',
        `const https = require('https');
const r = https.request(${JSON.stringify(url(host))}, { method: 'POST', family: 4, ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => process.exit(0)); });
r.on('error', (e) => { console.error(e.code || e.message); process.exit(3); });
r.end(${JSON.stringify(body)});`,
      ],
      inCg(),
    );

  const policyDir = (name: string, rego: string) => {
    const d = join(dir, name);
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, 'policy.rego'), rego);
    return d;
  };

  const startAgent = async (src: string, extra: string[] = []) => {
    agent = await MonitorProcess.start(['--policies', src, '--cgroup', cg.path, '--no-server-side', ...extra], 20_000, 'enforce');
    return agent;
  };

  // a test that failed before stopping its agent: stopped here, so it cannot enforce on the next test's traffic
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });

  const stopAgent = async () => {
    const code = await agent!.stop();
    agent = undefined;
    assert.equal(code, 0);
  };

  const blockedFor = (m: MonitorProcess, pid: number) => m.events.find((e) => e.type === 'connect_blocked' && e.process?.pid === pid);
  const decisionOn = (m: MonitorProcess, id: string) => m.events.find((e) => e.type === 'decision' && e.decision?.subject === id);

  it('refuses the very first connection after a lookup for the program the policy blocks; another program connects', async () => {
    const src = policyDir('per-process', perProcess('curl', 'openai'));
    const m = await startAgent(src);
    const before = server.hits.length;
    const c = await curl('api.openai.com');
    // curl: "Failed to connect ... Couldn't connect to server" (EPERM from connect())
    assert.equal(c.code, 7, `curl should be refused: ${c.stderr}`);
    const refused = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === c.pid, 'connect_blocked for curl');
    assert.equal(refused.provider, 'openai');
    assert.equal(refused.net?.dst_port, server.port);
    assert.equal(refused.net?.dst_host, 'api.openai.com');
    // its own verdict (not its cgroup's): evaluated before its first connect, however fast it was
    assert.equal(refused.enforcement?.verdict, 'image');
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === refused.id, 'decision on the refusal');
    assert.equal(d.decision?.action, 'block');
    assert.equal(d.decision?.enforced, true);
    assert.deepEqual(d.decision?.reasons, ['curl may not use openai']);
    assert.match(d.decision?.policy_revision ?? '', /^sha256:[0-9a-f]{16}$/);
    // no connection was ever made by curl to the server
    assert.ok(!m.events.some((e) => e.type === 'connect' && e.process?.pid === c.pid && e.net?.protocol === 'tcp'));

    const p = await python('api.openai.com');
    assert.equal(p.code, 0, p.stderr);
    await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === p.pid, 'python3 request');
    assert.equal(blockedFor(m, p.pid), undefined);
    assert.equal(server.hits.length, before + 1, 'only python3 reached the server');
    await stopAgent();
    // both programs exited: their verdicts went with them (the kernel counts who runs an image)
    assert.match(m.stderr, /; 0 program images with a verdict at the end/);
  });

  it('holds the DNS answer of a program it has not evaluated yet until it has (the agent paused meanwhile)', async () => {
    const src = policyDir('held', perProcess('curl', 'openai'));
    const m = await startAgent(src);
    // the engine is paused: curl's exec is not evaluated when its answer arrives
    process.kill(m.pid, 'SIGSTOP');
    const pending = curl('api.openai.com');
    await new Promise((r) => setTimeout(r, 400));
    process.kill(m.pid, 'SIGCONT');
    const c = await pending;
    assert.equal(c.code, 7, `curl is refused by its own verdict, not let through by its cgroup's: ${c.stderr}`);
    const refused = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === c.pid, 'the refusal');
    assert.equal(refused.enforcement?.verdict, 'image');
    // the answer was reported once, not again when it was sent on
    const answers = m.events.filter((e) => e.type === 'dns_response' && e.process?.pid === c.pid && e.dns?.questions[0]?.type === 'A');
    assert.equal(answers.length, 1, JSON.stringify(answers));
    await stopAgent();
    assert.match(m.stderr, /[1-9]\d* DNS answers held until decided/);
  });

  it('refuses the first connect to a host the policy blocks by name (held answer), and the next lookup without asking again', async () => {
    const src = policyDir('lookalike', LOOKALIKE);
    const m = await startAgent(src);
    const c = await curl('evil-openai.com');
    assert.equal(c.code, 7, `the look-alike is refused at connect: ${c.stderr}`);
    const refused = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === c.pid, 'the refusal');
    assert.equal(refused.enforcement?.verdict, 'host');
    const resp = m.events.find((e) => e.type === 'dns_response' && e.process?.pid === c.pid)!;
    assert.equal(decisionOn(m, resp.id)?.decision?.action, 'block');
    // a second program: the kernel knows the name now, and refuses it straight away
    const p = await python('evil-openai.com');
    assert.notEqual(p.code, 0);
    assert.equal((await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === p.pid, 'the second refusal')).enforcement?.verdict, 'host');
    // a name the policy allows: held once, then known
    const ok = await curl('ok.example.test', chat('fine'));
    assert.equal(ok.code, 0, ok.stderr);
    const ok2 = await curl('ok.example.test', chat('fine again'));
    assert.equal(ok2.code, 0, ok2.stderr);
    await stopAgent();
    const held = Number(/(\d+) DNS answers held until decided/.exec(m.stderr)?.[1]);
    // evil-openai.com once, ok.example.test once; python's lookup and the second curl's were answered by the kernel
    assert.equal(held, 2, m.stderr);
  });

  it('follows the policy file: an edit lifts the block within a second for the very process it blocked, a broken edit keeps the last good policy', async () => {
    const src = policyDir('reload', perProcess('python3', 'openai'));
    const m = await startAgent(src);
    const first = await m.waitFor((e) => e.type === 'policy', 'the policy event at start');
    // one long-lived python3: each line on its stdin is one connect() to api.openai.com
    const py = start(
      [
        PYTHON,
        '-u',
        '-c',
        `import socket, sys
addr = socket.getaddrinfo("api.openai.com", ${server.port}, socket.AF_INET, socket.SOCK_STREAM)[0][4]
for line in sys.stdin:
    s = socket.socket()
    try:
        s.connect(addr)
        print(line.strip(), "connected", flush=True)
    except OSError as e:
        print(line.strip(), "refused", e.errno, flush=True)
    s.close()`,
      ],
      inCg(),
    );
    let out = '';
    py.stdout!.on('data', (d) => (out += d));
    const attempt = async (tag: string) => {
      py.stdin!.write(`${tag}\n`);
      const deadline = Date.now() + 10_000;
      // a whole line: print() may write its words and the line end one by one
      const line = () => out.split('\n').slice(0, -1).find((l) => l.startsWith(`${tag} `));
      while (line() === undefined) {
        if (Date.now() > deadline) throw new Error(`python3 said: ${out}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return line()!;
    };
    try {
      assert.equal(await attempt('a1'), 'a1 refused 1', 'EPERM while the policy blocks python3');

      // an editor's save: write a temporary file, rename it over the old one
      const t0 = Date.now();
      writeFileSync(join(src, '.policy.rego.tmp'), perProcess('wget', 'openai'));
      renameSync(join(src, '.policy.rego.tmp'), join(src, 'policy.rego'));
      // the same process, trying again and again: within a second it connects
      let connected = '';
      for (let i = 0; Date.now() - t0 < 1000 && !connected; i++) {
        const r = await attempt(`b${i}`);
        if (r.endsWith('connected')) connected = r;
        else await new Promise((res) => setTimeout(res, 20));
      }
      const took = Date.now() - t0;
      assert.ok(connected, `python3 still refused ${took} ms after the edit: ${out}`);
      const reloaded = await m.waitFor((e) => e.type === 'policy' && (e.policy?.reloads ?? 0) >= 1, 'a policy reload');
      assert.notEqual(reloaded.policy?.revision, first.policy?.revision);
      assert.equal(reloaded.policy?.previous, first.policy?.revision);

      // back to blocking python3, then a broken edit: the block stays in force
      writeFileSync(join(src, 'policy.rego'), perProcess('python3', 'openai'));
      await m.waitFor((e) => e.type === 'policy' && e.policy?.reloads === 2, 'the second reload');
      assert.equal(await attempt('c1'), 'c1 refused 1');
      writeFileSync(join(src, 'policy.rego'), `${perProcess('python3', 'openai')}\nblock contains x if {\n\tx := \n}\n`);
      const err = await m.waitFor((e) => e.type === 'error' && e.error?.code === 'BUSTED_E_POLICY' && /policy\.rego:\d+:\d+/.test(e.error.message), 'a compile error naming file:line:col');
      assert.match(err.error!.message, /stays in force/);
      assert.equal(await attempt('c2'), 'c2 refused 1', 'the last good policy still blocks python3');
      assert.ok(!m.events.some((e) => e.type === 'policy' && (e.policy?.reloads ?? 0) > 2), 'the broken policy was never loaded');
    } finally {
      py.kill('SIGKILL');
    }
    await stopAgent();
  });

  it('judges a request fronted through another name by its Host (domain fronting): a prompt for a blocked provider on a connection to an allowed name never arrives (curl HTTP/1.1 and HTTP/2, python3, node)', async () => {
    const src = policyDir('fronted', FRONTED);
    const m = await startAgent(src);
    // each client connects to ok.example.test (its server name, SNI) and asks, in Host or :authority, for api.mistral.ai
    const front = 'ok.example.test';
    const curlVia = (version: string) => (host: string | undefined, body: string) =>
      run(['curl', '-4', '-sS', version, '--max-time', '10', '--cacert', pki.caCert, ...(host ? ['-H', `host: ${host}`] : []), '-H', 'content-type: application/json', '-d', body, url(front)], inCg());
    const pythonVia = (host: string | undefined, body: string) =>
      run(
        [
          PYTHON,
          '-c',
          `import ssl, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
headers = {"content-type": "application/json"}
if ${JSON.stringify(host ?? '')}:
    headers["host"] = ${JSON.stringify(host ?? '')}
req = urllib.request.Request(${JSON.stringify(url(front))}, data=${JSON.stringify(body)}.encode(), headers=headers)
urllib.request.urlopen(req, context=ctx, timeout=10).read()`,
        ],
        inCg(),
      );
    // node names its server after a Host header unless told (servername): told here, as a fronting client would
    const nodeVia = (host: string | undefined, body: string) =>
      run(
        [
          process.execPath,
          '-e',
          `const https = require('https');
const headers = { 'content-type': 'application/json' };
if (${JSON.stringify(host ?? '')}) headers.host = ${JSON.stringify(host ?? '')};
const r = https.request(${JSON.stringify(url(front))}, { method: 'POST', family: 4, servername: ${JSON.stringify(front)}, ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), headers }, (res) => { res.resume(); res.on('end', () => process.exit(0)); });
r.on('error', (e) => { console.error(e.code || e.message); process.exit(3); });
r.end(${JSON.stringify(body)});`,
        ],
        inCg(),
      );
    for (const [name, client] of [['curl', curlVia('--http1.1')], ['curl-h2', curlVia('--http2')], ['python3', pythonVia], ['node', nodeVia]] as const) {
      const marker = `a fronted prompt via ${name}`;
      const r: RunResult = await client('api.mistral.ai', chat(marker));
      assert.notEqual(r.code, 0, `${name}: the blocked request must fail`);
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `${name}: its llm_request`);
      assert.equal(req.provider, 'mistral', `${name}: the provider its Host names`);
      assert.equal(req.http?.host, 'api.mistral.ai');
      assert.equal(req.tls?.sni, front);
      const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `${name}: the decision`));
      assert.equal(d.decision?.action, 'block');
      assert.deepEqual(d.decision?.reasons, ['provider mistral is not approved']);
      assert.equal(d.decision?.enforced, true, `${name}: held and stopped before it left`);
      assert.ok(!server.received.some((b) => b.includes(marker)), `${name}: the server received the fronted prompt`);
      assert.ok(server.handshakes.includes(front), `${name}: the connection was made to the allowed name`);

      // the same client, asking the name it connected to: no provider, it arrives
      const plain = `an unfronted prompt via ${name}`;
      const ok = await client(undefined, chat(plain));
      assert.equal(ok.code, 0, `${name}: ${ok.stderr}`);
      assert.ok(server.received.some((b) => b.includes(plain)), `${name}: the unfronted prompt arrived`);
      const okReq = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === ok.pid, `${name}: the unfronted llm_request`);
      assert.equal(okReq.provider, undefined);
    }
    await stopAgent();
  });

  /** Each client's secret prompt stopped before it leaves, its harmless one let through; the agent's summary. */
  const secretsStopped = async (label: string, extra: string[] = []): Promise<string> => {
    const src = policyDir(`secrets-${label}`, SECRETS);
    const m = await startAgent(src, extra);
    for (const [name, client] of [['curl', curl], ['python3', python], ['node', node], ['wget', wget], ['libcurl-nss', nss], ['python3-gzip', pythonGzip]] as const) {
      const marker = `please deploy with ${SECRET} via ${name} (${label})`;
      const r: RunResult = await client('api.openai.com', chat(marker));
      assert.notEqual(r.code, 0, `${name}: the blocked request must fail`);
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `${name}: its llm_request`);
      const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `${name}: the decision`));
      assert.equal(d.decision?.action, 'block');
      assert.equal(d.decision?.enforced, true, `${name}: held before it left`);
      assert.ok(!server.received.some((b) => b.includes(SECRET)), `${name}: the server never received the secret: ${server.received.filter((b) => b.includes('deploy')).join(' | ')}`);
      // the credential-shaped text is not in what busted reported either
      assert.ok(!m.stdout.includes(SECRET), `${name}: the secret appears in busted's output`);

      const ok = await client('api.openai.com', chat(`a harmless prompt from ${name} (${label})`));
      assert.equal(ok.code, 0, `${name}: a harmless prompt goes through: ${ok.stderr}`);
      assert.ok(server.received.some((b) => b.includes(`a harmless prompt from ${name} (${label})`)), `${name}: the harmless prompt arrived`);
    }
    await stopAgent();
    return m.stderr;
  };

  it('stops a prompt carrying a secret before it leaves the host (curl, python3, node, wget, libcurl-nss, and a gzip body), each write held in the packet hook (the process runs on, only its connection waits); a harmless prompt arrives', async () => {
    const summary = await secretsStopped('default');
    const pushable = holdPushable();
    if (pushable !== true) {
      // auto holds a terminal's writes only in the packet hook where held senders cannot be pushed from the agent
      assert.match(summary, /writes held \(\d+ let go/, `no push from the agent here (${pushable}): held by stopping their threads`);
      return;
    }
    const inPackets = Number(/writes held \((\d+) in the packet hook/.exec(summary)?.[1] ?? 0);
    assert.ok(inPackets >= 12, `every client's two requests held in the packet hook (${inPackets}): ${summary}`);
    assert.match(summary, /\(\d+ pushed from here, 0 by a probe of their server\)/, 'held senders pushed from the agent, none probed');
  });

  it('--hold-writes stop: the same, each writer held at the write by stopping it', async () => {
    const summary = await secretsStopped('stop', ['--hold-writes', 'stop']);
    assert.match(summary, /writes held \(\d+ let go/, 'held by stopping their threads, none in the packet hook');
  });

  it('--hold-writes packets with the server 60 ms away (a delay line to a namespace): a held write goes on as soon as it is let go, its socket pushed from the agent, not a round trip later as with a probe of the server', async () => {
    const RTT = 60;
    const far = await farHost(RTT);
    let srv: ChildProcess | undefined;
    try {
      const port = 8443;
      srv = start(
        far.exec([
          process.execPath,
          '-e',
          `const fs = require('fs');
require('https').createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]), keepAlive: true }, (req, res) => {
  req.resume();
  req.on('end', () => { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"object":"chat.completion","model":"gpt-4o-mini","choices":[]}'); });
}).listen(${port}, process.argv[3], () => console.log('listening'));`,
          pki.key,
          pki.cert,
          far.there,
        ]),
      );
      await new Promise((r) => srv!.stdout!.once('data', r));
      // kept-alive requests on one connection to api.openai.com at the far address: per-request ms, the first two (handshake, warm-up) left out
      const client = `import http.client, json, socket, ssl, sys, time
ctx = ssl.create_default_context(cafile=sys.argv[1])
class Far(http.client.HTTPSConnection):
    def connect(self):
        s = socket.create_connection((sys.argv[2], ${port}))
        # http.client writes the head and the body apart: without this, Nagle holds the body for the server's (delayed) ACK
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(s, server_hostname="api.openai.com")
c = Far("api.openai.com", ${port}, context=ctx)
body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "a harmless prompt from far away"}]}).encode()
lat = []
for i in range(10):
    t = time.perf_counter()
    c.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
    c.getresponse().read()
    lat.append((time.perf_counter() - t) * 1000)
print(json.dumps(lat[2:]))
`;
      const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
      const requests = async (label: string): Promise<number> => {
        const r = await run([PYTHON, '-c', client, pki.caCert, far.there], { ...inCg(), timeoutMs: 60_000 });
        assert.equal(r.code, 0, `${label}: ${r.stderr}`);
        return median(JSON.parse(r.stdout) as number[]);
      };
      const moved = (stderr: string) => /\((\d+) pushed from here, (\d+) by a probe of their server\)/.exec(stderr)?.slice(1).map(Number) ?? [0, 0];

      const none = await requests('no agent');
      agent = await MonitorProcess.start(['--policies', policyDir('secrets-far', SECRETS), '--cgroup', cg.path, '--no-server-side', '--hold-writes', 'packets'], 20_000, 'enforce');
      const pushed = await requests('pushed');
      const pushedAgent = agent;
      await stopAgent();
      agent = await MonitorProcess.start(['--policies', policyDir('secrets-far-probe', SECRETS), '--cgroup', cg.path, '--no-server-side', '--hold-writes', 'packets'], 20_000, 'enforce', { BUSTED_HOLD_PUSH: 'probe' });
      const probed = await requests('probed');
      const probedAgent = agent;
      await stopAgent();

      const [push, pushProbes] = moved(pushedAgent.stderr);
      assert.ok(push >= 1 && pushProbes === 0, `held senders pushed from the agent, none probed: ${push}, ${pushProbes}: ${pushedAgent.stderr}`);
      assert.ok(moved(probedAgent.stderr)[1]! >= 1, `BUSTED_HOLD_PUSH=probe: held senders probed: ${probedAgent.stderr}`);
      const said = `request median ms: no agent ${none.toFixed(1)}, pushed ${pushed.toFixed(1)}, probed ${probed.toFixed(1)}`;
      // a probe costs the round trip (this is what the test can tell apart); a push costs none of it
      assert.ok(probed - none > RTT * 0.7, `the probe's round trip shows: ${said}`);
      assert.ok(pushed - none < RTT * 0.4, `a pushed sender does not wait for the server: ${said}`);
    } finally {
      srv?.kill();
      far.remove();
    }
  });

  it('a terminal\'s client (curl and python3 typed into an interactive bash on a pty) is held in the packet hook, not stopped: its shell never sees a job stop, the secret never arrives, the harmless prompt does', async () => {
    const m = await startAgent(policyDir('secrets-tty', SECRETS));
    const bodies = join(dir, 'tty-bodies');
    mkdirSync(bodies, { recursive: true });
    const clients: Array<[string, string]> = [];
    for (const [i, [name, marker]] of ([
      ['curl', `please deploy with ${SECRET} via a terminal's curl`],
      ['curl', "a harmless prompt from a terminal's curl"],
      ['python3', `please deploy with ${SECRET} via a terminal's python3`],
      ['python3', "a harmless prompt from a terminal's python3"],
    ] as const).entries()) {
      const body = join(bodies, `${i}.json`);
      writeFileSync(body, chat(marker));
      const cmd =
        name === 'curl'
          ? `curl -4 -sS --http1.1 --max-time 10 --cacert ${pki.caCert} -H 'content-type: application/json' -d @${body} ${url('api.openai.com')} >/dev/null`
          : `${PYTHON} -c 'import ssl, sys, urllib.request; ctx = ssl.create_default_context(cafile=sys.argv[1]); urllib.request.urlopen(urllib.request.Request(sys.argv[2], data=open(sys.argv[3], "rb").read(), headers={"content-type": "application/json"}), context=ctx, timeout=10).read()' ${pki.caCert} ${url('api.openai.com')} ${body} 2>/dev/null`;
      clients.push([name, cmd]);
    }
    // an interactive bash with job control on a pty of its own (its controlling terminal), typed into
    const driver = `import os, pty, select, sys, time
cmds = sys.argv[1:]
pid, fd = pty.fork()
if pid == 0:
    os.environ["PS1"] = "PROMPT> "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
out = b""
def read_until(tag, limit):
    global out
    end = time.time() + limit
    while tag not in out and time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if r:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
read_until(b"PROMPT> ", 10)
for i, c in enumerate(cmds):
    # what is typed is echoed back: the tag waited for is one the typing does not show
    os.write(fd, (c + "; printf 'EXIT-%%d=%%d\\\\n' %d $?\\n" % i).encode())
    read_until(b"EXIT-%d=" % i, 20)
    read_until(b"PROMPT> ", 2)
os.write(fd, b"exit\\n")
read_until(b"(the shell ends)", 1)
sys.stdout.write(out.decode(errors="replace"))
`;
    const r = await run([PYTHON, '-c', driver, ...clients.map(([, c]) => c)], { ...inCg(), timeoutMs: 120_000 });
    const said = r.stdout.replace(/\r/g, '');
    assert.doesNotMatch(said, /Stopped/, `the shell saw a job stop:\n${said}`);
    const exits = clients.map((_, i) => Number(new RegExp(`EXIT-${i}=(\\d+)`).exec(said)?.[1]));
    for (const [i, [name]] of clients.entries()) {
      if (i % 2 === 0) assert.notEqual(exits[i], 0, `${name}: the blocked request fails:\n${said}`);
      else assert.equal(exits[i], 0, `${name}: the harmless prompt goes through:\n${said}`);
    }
    assert.ok(!server.received.some((b) => b.includes(SECRET)), 'the server never received the secret');
    for (const name of ['curl', 'python3']) assert.ok(server.received.some((b) => b.includes(`a harmless prompt from a terminal's ${name}`)), `${name}: the harmless prompt arrived`);
    const blocked = m.events.filter((e) => e.type === 'decision' && e.decision?.action === 'block' && e.decision.enforced && e.process?.comm !== 'bash');
    assert.ok(blocked.length >= 2, `both secrets blocked, enforced: ${JSON.stringify(blocked.map((e) => e.process?.comm))}`);
    assert.ok(!m.stdout.includes(SECRET), 'the secret appears in busted\'s output');
    await stopAgent();
    const inPackets = Number(/writes held \((\d+) in the packet hook/.exec(m.stderr)?.[1] ?? 0);
    assert.ok(inPackets >= 4, `the four writes were held in the packet hook (${inPackets}): ${m.stderr}`);
  });

  it('stops a prompt carrying a secret from a Go client (crypto/tls, held at (*Conn).Write), built with and without a symbol table; a harmless prompt arrives', { skip: goSkipReason() }, async () => {
    const src = policyDir('secrets-go', SECRETS);
    const m = await startAgent(src);
    for (const build of ['plain', 'stripped'] as const) {
      const bin = goClient()[build];
      const go = (body: string) => run([bin, pki.caCert, url('api.openai.com'), body], inCg());
      // the executable's first process races the agent's look at its exec: a harmless one, then its probes are in place
      const first = await go(chat(`a first harmless prompt from go (${build})`));
      assert.equal(first.code, 0, first.stderr);
      await goProbesOn(m, bin);
      const marker = `please deploy with ${SECRET} via go (${build})`;
      const r = await go(chat(marker));
      assert.notEqual(r.code, 0, `go (${build}): the blocked request must fail`);
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `go (${build}): its llm_request`);
      assert.equal(req.tls?.sni, 'api.openai.com', 'the SNI of the ClientHello the connection sent');
      const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `go (${build}): the decision`));
      assert.equal(d.decision?.action, 'block');
      assert.equal(d.decision?.enforced, true, `go (${build}): held and stopped before it left`);
      assert.ok(!server.received.some((b) => b.includes(SECRET)), `go (${build}): the server never received the secret`);
      assert.ok(!m.stdout.includes(SECRET), `go (${build}): the secret appears in busted's output`);
      const ok = await go(chat(`a harmless prompt from go (${build})`));
      assert.equal(ok.code, 0, `go (${build}): a harmless prompt goes through: ${ok.stderr}`);
      assert.ok(server.received.some((b) => b.includes(`a harmless prompt from go (${build})`)), `go (${build}): the harmless prompt arrived`);
    }
    await stopAgent();
  });

  it('the very first process of a Go binary new to the agent has its secret stopped: the file is probed (at its exec, or at its ClientHello that went out unread, held meanwhile) before its first Write, which is held', { skip: goSkipReason() }, async () => {
    const m = await startAgent(policyDir('secrets-go-first', SECRETS));
    // a copy no agent has looked at: its first process starts before any probe is on the file
    const bin = join(dir, 'go-first');
    copyFileSync(goClient().plain, bin);
    const r = await run([bin, pki.caCert, url('api.openai.com'), chat(`please deploy with ${SECRET} via a new go binary`)], inCg());
    assert.notEqual(r.code, 0, 'the blocked request fails');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'its llm_request');
    const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision'));
    assert.equal(d.decision?.action, 'block');
    assert.equal(d.decision?.enforced, true);
    assert.ok(!server.received.some((b) => b.includes('via a new go binary')), 'the server never received the secret');
    await stopAgent();
  });

  it('a Go client\'s HTTP/2 connection to a host of no provider: GETs that are no LLM call first, then a secret prompt on the same connection is stopped; a harmless one arrives', { skip: goSkipReason() }, async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const bin = goClient().plain;
    const first = await run([bin, pki.caCert, url('ok.example.test'), chat('a first harmless prompt from go')], inCg());
    assert.equal(first.code, 0, first.stderr);
    await goProbesOn(m, bin);
    const go = (marker: string) => run([bin, '-h2', '-pre', '/v1/models', '-pre', '/v1/models', pki.caCert, url('ok.example.test'), chat(marker)], inCg());
    const r = await go(`use ${SECRET} (go-h2-after-gets)`);
    assert.notEqual(r.code, 0, 'the blocked request fails');
    // the stand-in has no model list: 404, as a gateway's health check or a page would be
    assert.match(r.stdout, /404 HTTP\/2\.0 GET \/v1\/models\n404 HTTP\/2\.0 GET \/v1\/models/, 'the GETs went, over HTTP/2');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'the prompt after the GETs');
    assert.equal(req.http?.version, '2');
    const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision'));
    assert.equal(d.decision?.action, 'block');
    assert.equal(d.decision?.enforced, true);
    assert.ok(!server.received.some((b) => b.includes('(go-h2-after-gets)')), 'the server never received the secret');
    const ok = await go('a harmless prompt from go over h2 after gets');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(server.received.some((b) => b.includes('a harmless prompt from go over h2 after gets')), 'the harmless prompt arrived');
    await stopAgent();
  });

  it('stops a secret in a tool result (the shipped policies read llm.context); a long harmless conversation arrives, shown by its end', async () => {
    // an agent that read a credentials file sends it back as a tool result: not the last user message
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const conversation = (toolOutput: string, last: string) =>
      JSON.stringify({
        model: 'gpt-4o-mini',
        messages: [
          { role: 'user', content: 'read my config' },
          { role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 'read_file', arguments: '{"path":"~/.aws/credentials"}' } }] },
          { role: 'tool', tool_call_id: 'c1', content: toolOutput },
          { role: 'user', content: last },
        ],
      });
    for (const [name, client] of [['python3', python], ['node', node]] as const) {
      const r: RunResult = await client('api.openai.com', conversation(`aws_access_key_id = ${SECRET}`, `summarise it (${name}-tool)`));
      assert.notEqual(r.code, 0, `${name}: the blocked request must fail`);
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `${name}: its llm_request`);
      const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `${name}: the decision`));
      assert.equal(d.decision?.action, 'block');
      assert.deepEqual(d.decision?.reasons, ['prompt to openai contains an AWS access key']);
      assert.equal(d.decision?.enforced, true);
      assert.ok(!server.received.some((b) => b.includes(`(${name}-tool)`)), `${name}: the server never received the conversation`);
      assert.ok(!m.stdout.includes(SECRET), `${name}: the secret appears in busted's output`);
    }
    // a harmless conversation with a long tool result goes through; the output shows the context's end only
    const big = `${'harmless file contents '.repeat(400)}the end of the file`;
    const ok = await python('api.openai.com', conversation(big, 'summarise it (harmless-tool)'));
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(server.received.some((b) => b.includes('the end of the file')), 'the harmless conversation arrived');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === ok.pid, 'the harmless llm_request');
    assert.match(req.llm?.context ?? '', /^\[\d+ characters before\] .*the end of the file$/s);
    assert.ok(req.llm!.context!.length < 1100, `shown trimmed (${req.llm!.context!.length} characters)`);
    await stopAgent();
  });

  it('stops a secret past the kernel\'s 16 KiB copy of a held write (read from the held process); a long harmless prompt arrives', async () => {
    // the kernel copies 16 KiB of a call (tls_cap_bytes); a gated write's rest is read from its stopped process
    // (host/proc-mem.ts): without that, a prompt padded past the cap hid its secret from the policy
    const m = await startAgent(policyDir('long-secrets', SECRETS));
    const pad = 'lorem ipsum dolor sit amet '.repeat(1500); // 40 KB
    // wget: GnuTLS writes the 40 KB in three calls of at most 16 KiB; the first, held, is read whole from the process
    for (const [name, client] of [['curl', curl], ['python3', python], ['node', node], ['wget', wget], ['libcurl-nss', nss]] as const) {
      const r: RunResult = await client('api.openai.com', chat(`${pad} then deploy with ${SECRET} via ${name}-long`));
      assert.notEqual(r.code, 0, `${name}: the blocked request must fail`);
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `${name}: its llm_request`);
      const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `${name}: the decision`));
      assert.equal(d.decision?.action, 'block', `${name}: the secret past the cap was seen: ${JSON.stringify(d.decision)}`);
      assert.ok(!server.received.some((b) => b.includes(`via ${name}-long`)), `${name}: the server never received the long prompt`);
      assert.ok(!m.stdout.includes(SECRET), `${name}: the secret appears in busted's output`);

      const ok = await client('api.openai.com', chat(`${pad} a long harmless prompt from ${name}`));
      assert.equal(ok.code, 0, `${name}: a long harmless prompt goes through: ${ok.stderr}`);
      assert.ok(server.received.some((b) => b.includes(`a long harmless prompt from ${name}`)), `${name}: the long harmless prompt arrived whole`);
    }
    await stopAgent();
  });

  it('a request written in parts is judged part by part: a secret in an early part never leaves, nor one cut between two parts, nor any part of a blocked request (python3 chunked, plain and gzip, node HTTP/2); a harmless one arrives whole', async () => {
    // a gated connection's writes are let go one by one, only the one that completes a request held until it
    // is decided: each part is judged before it may leave (app.ts judgePart), else the server got the secret
    const m = await startAgent(policyDir('part-secrets', SECRETS));
    const head = '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"';
    // the parts a client writes, the last one after a pause (the request is not complete until then)
    // gzip: the body a gzip stream flushed at each part (a streaming compressor), Content-Encoding: gzip
    const pythonIn = (gzip: boolean) => (parts: string[]) =>
      run(
        [
          PYTHON,
          '-c',
          `import http.client, json, ssl, time, zlib
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
c = http.client.HTTPSConnection("api.openai.com", ${server.port}, context=ctx, timeout=10)
parts = json.loads(${JSON.stringify(JSON.stringify(parts))})
gz = ${gzip ? 'zlib.compressobj(wbits=31)' : 'None'}
def body():
    for i, p in enumerate(parts):
        last = i == len(parts) - 1
        if last:
            time.sleep(0.3)
        b = p.encode()
        yield b if gz is None else gz.compress(b) + (gz.flush() if last else gz.flush(zlib.Z_SYNC_FLUSH))
headers = {"content-type": "application/json"}
if gz is not None:
    headers["content-encoding"] = "gzip"
c.request("POST", "/v1/chat/completions", body=body(), headers=headers, encode_chunked=True)
print(c.getresponse().status)`,
        ],
        inCg(),
      );
    const python = pythonIn(false);
    const pythonGzip = pythonIn(true);
    const nodeH2 = (parts: string[]) =>
      run(
        [
          process.execPath,
          '-e',
          `const http2 = require('http2');
const parts = ${JSON.stringify(parts)};
const s = http2.connect('https://api.openai.com:${server.port}', { ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), family: 4 });
s.on('error', (e) => { console.error(e.code || e.message); process.exit(3); });
const r = s.request({ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' });
r.on('error', (e) => { console.error(e.code || e.message); process.exit(3); });
r.on('response', () => { r.resume(); r.on('end', () => process.exit(0)); });
// a stream cut by a block leaves nothing to wait for: no answer is a failure
process.on('beforeExit', () => process.exit(5));
(async () => {
  for (let i = 0; i < parts.length; i++) {
    await new Promise((res) => setTimeout(res, i === parts.length - 1 ? 300 : 50));
    if (i === parts.length - 1) r.end(parts[i]); else r.write(parts[i]);
  }
})();`,
        ],
        inCg(),
      );
    const cut = SECRET.length >> 1;
    for (const [name, client] of [['python3', python], ['python3-gzip', pythonGzip], ['node-h2', nodeH2]] as const) {
      for (const [what, parts] of [
        ['early', [head, `deploy with ${SECRET} (${name}-early)`, ' and more"}]}']],
        ['cut in two', [head, `deploy with ${SECRET.slice(0, cut)}`, `${SECRET.slice(cut)} (${name}-cut)`, ' and more"}]}']],
      ] as const) {
        const r: RunResult = await client([...parts]);
        assert.notEqual(r.code, 0, `${name}, ${what}: the blocked request must fail: ${r.stdout}`);
        assert.ok(!server.received.some((b) => b.includes(`(${name}-early)`) || b.includes(`(${name}-cut)`)), `${name}, ${what}: the server never got the part: ${server.received.filter((b) => b.includes('deploy with')).join(' | ')}`);
        // nor any part before it: what the connection sent after its request's first part was held until the
        // request was decided whole (pkt.bpf.c sock_held), half a secret cut between two writes included
        assert.ok(!server.received.some((b) => b.includes('deploy with')), `${name}, ${what}: the server got a part of the blocked request: ${server.received.filter((b) => b.includes('deploy with')).join(' | ')}`);
        const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, `${name}, ${what}: its llm_request`);
        assert.equal(req.llm?.partial, true, `${name}, ${what}: judged on a part`);
        const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, `${name}, ${what}: the decision`));
        assert.equal(d.decision?.action, 'block');
        assert.equal(d.decision?.enforced, true);
        assert.ok(!m.stdout.includes(SECRET), `${name}, ${what}: the secret appears in busted's output`);
      }
      const ok = await client([head, `a harmless prompt in parts from ${name}`, ' and its end"}]}']);
      assert.equal(ok.code, 0, `${name}: a harmless prompt in parts goes through: ${ok.stderr}`);
      assert.ok(server.received.some((b) => b.includes(`a harmless prompt in parts from ${name} and its end`)), `${name}: the harmless prompt arrived whole`);
      const whole = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === ok.pid, `${name}: the harmless llm_request`);
      assert.equal(whole.llm?.partial, undefined, `${name}: the harmless request is told once, whole`);
      assert.equal(m.events.filter((e) => e.type === 'llm_request' && e.process?.pid === ok.pid).length, 1);
    }
    await stopAgent();
  });

  it('two threads of one process writing at once, one a secret: the secret never leaves, the harmless one does', async () => {
    // Two held writes of one process close together: both connections are open (handshakes
    // done) before the two writes, which start together. Letting a held process go ends the
    // stop of all its threads, so a hold of the other thread must be decided first
    // (enforcer.ts release); the interleaving where that hold is recorded while the first
    // is being decided lasts the few microseconds of a uprobe run and is not forced here.
    const m = await startAgent(policyDir('threads', SECRETS));
    const port = server.port;
    for (let round = 0; round < 8; round++) {
      const code = `import http.client, json, ssl, threading
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
go = threading.Barrier(2)
out = {}
def send(tag, text):
    c = http.client.HTTPSConnection("api.openai.com", ${port}, context=ctx, timeout=10)
    c.connect()
    body = json.dumps({"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]})
    go.wait()
    try:
        c.request("POST", "/v1/chat/completions", body=body, headers={"content-type": "application/json"})
        out[tag] = c.getresponse().status
    except Exception as e:
        out[tag] = "failed"
a = threading.Thread(target=send, args=("secret", "deploy with ${SECRET} from thread round ${round}"))
b = threading.Thread(target=send, args=("harmless", "a harmless prompt from a thread, round ${round}"))
a.start(); b.start(); a.join(); b.join()
print(json.dumps(out))`;
      const r = await run([PYTHON, '-c', code], inCg());
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), { secret: 'failed', harmless: 200 }, `round ${round}`);
      assert.ok(!server.received.some((b) => b.includes(`from thread round ${round}`)), `round ${round}: the server never received the secret`);
      assert.ok(server.received.some((b) => b.includes(`a harmless prompt from a thread, round ${round}`)), `round ${round}: the harmless prompt arrived`);
    }
    assert.ok(!m.stdout.includes(SECRET));
    await stopAgent();
  });

  it('a process held at a gated write is let go when the agent is killed (the guard)', async () => {
    const m = await startAgent(policyDir('guard', SECRETS), ['--hold-writes', 'stop']);
    // the agent cannot decide: curl's write to the provider is held and stays held
    process.kill(m.pid, 'SIGSTOP');
    const pending = curl('api.openai.com', chat('a harmless prompt, held'));
    let pid = 0;
    const deadline = Date.now() + 10_000;
    for (;;) {
      const held = cg.pids().find((p) => {
        try {
          const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
          return stat.includes('(curl)') && stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'T';
        } catch {
          return false;
        }
      });
      if (held) {
        pid = held;
        break;
      }
      if (Date.now() > deadline) throw new Error('curl was never held');
      await new Promise((r) => setTimeout(r, 20));
    }
    // the agent dies without letting go; the guard does it
    process.kill(m.pid, 'SIGKILL');
    const r = await pending;
    assert.equal(r.pid, pid);
    assert.equal(r.code, 0, `curl went on after the agent died: ${r.stderr}`);
    assert.ok(server.received.some((b) => b.includes('a harmless prompt, held')));
    await m.stop();
    agent = undefined;
  });

  it('--hold-writes packets: a write held in the packet hook goes on when the agent dies undecided (its hooks go with it; its sender\'s TCP sends again)', async () => {
    const m = await startAgent(policyDir('guard-packets', SECRETS), ['--hold-writes', 'packets']);
    // a first request, so that the kernel has seen this kind of client's connections tied to their SSL*
    assert.equal((await curl('api.openai.com', chat('a harmless prompt, first'))).code, 0);
    // the agent cannot decide: curl's write is held in the packet hook and stays held
    process.kill(m.pid, 'SIGSTOP');
    const pending = curl('api.openai.com', chat('a harmless prompt, held in packets'));
    await new Promise((r) => setTimeout(r, 500));
    assert.ok(!server.received.some((b) => b.includes('held in packets')), 'held while the agent cannot decide');
    const states = cg.pids().flatMap((p) => {
      try {
        const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
        return stat.includes('(curl)') ? [stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3)] : [];
      } catch {
        return [];
      }
    });
    assert.ok(states.length === 1 && states[0] !== 'T', `curl runs on (not stopped) while its write is held: ${states.join(',')}`);
    process.kill(m.pid, 'SIGKILL');
    const r = await pending;
    assert.equal(r.code, 0, `curl went on after the agent died: ${r.stderr}`);
    assert.ok(server.received.some((b) => b.includes('held in packets')));
    await m.stop();
    agent = undefined;
  });

  it('blocks a secret on a connection opened before the agent started (its socket learnt from the held write\'s first packet)', async () => {
    // a node client with one kept-alive connection, told on stdin when to send what
    const client = start(
      [
        process.execPath,
        '-e',
        `const https = require('https');
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const send = (content) => new Promise((ok) => {
  const r = https.request(${JSON.stringify(url('api.openai.com'))}, { method: 'POST', agent, family: 4, ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), headers: { 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => ok('ok')); });
  r.on('error', (e) => ok(e.code || e.message));
  r.end(JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content }] }));
});
let buf = '';
process.stdin.on('data', async (d) => {
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl);
    buf = buf.slice(nl + 1);
    console.log(line + ' ' + (await send(line)));
  }
});`,
      ],
      inCg(),
    );
    let out = '';
    client.stdout!.on('data', (d) => (out += d));
    const said = async (what: string) => {
      const deadline = Date.now() + 15_000;
      while (!out.includes(what)) {
        if (Date.now() > deadline) throw new Error(`client said: ${out}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return out.split('\n').find((l) => l.startsWith(what))!;
    };
    try {
      client.stdin!.write('before the agent\n');
      assert.match(await said('before the agent'), /ok$/);
      const m = await startAgent(policyDir('late', SECRETS));
      // the agent saw neither its SNI nor its ClientHello: the first request it sees makes it gated
      client.stdin!.write('seen by the agent\n');
      assert.match(await said('seen by the agent'), /ok$/);
      await m.waitFor((e) => e.type === 'llm_request' && e.llm?.user_message === 'seen by the agent', 'the first request the agent saw');
      client.stdin!.write(`deploy with ${SECRET} now\n`);
      const answer = await said('deploy with');
      assert.doesNotMatch(answer, / ok$/, 'the blocked request got no answer');
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === client.pid && (e.llm?.user_message ?? '').startsWith('deploy'), 'the blocked request');
      const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision');
      assert.equal(d.decision?.enforced, true);
      assert.ok(!server.received.some((b) => b.includes(SECRET)), 'the server never received the secret');
      await stopAgent();
      assert.match(m.stderr, /[1-9]\d* sockets destroyed/);
    } finally {
      client.kill('SIGKILL');
    }
  });

  it('stops a blocked MCP tools/call to a server it learnt is MCP, on the same connection and on the next', async () => {
    const m = await startAgent(policyDir('mcp', MCP_TOOLS));
    const rpc = (id: number, method: string, params: object) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
    const mcpUrl = url('mcp.example.test', '/mcp');
    const hdr = ['-H', 'content-type: application/json', '-H', 'accept: application/json, text/event-stream'];
    // one connection: initialize (allowed: the engine learns the host is MCP), tools/list, then the blocked call
    const r = await run(
      ['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-d', rpc(1, 'initialize', { protocolVersion: '2025-06-18' }), mcpUrl, '--next', '--cacert', pki.caCert, ...hdr, '-d', rpc(2, 'tools/list', {}), mcpUrl, '--next', '--cacert', pki.caCert, ...hdr, '-d', rpc(3, 'tools/call', { name: 'delete_file', arguments: { path: '/etc/important' } }), mcpUrl],
      inCg(),
    );
    assert.notEqual(r.code, 0, 'the blocked call fails');
    const call = await m.waitFor((e) => e.type === 'mcp_message' && e.mcp?.tool === 'delete_file' && e.process?.pid === r.pid, 'the tools/call');
    assert.equal((await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === call.id, 'its decision')).decision?.enforced, true);
    assert.ok(server.received.some((b) => b.includes('"tools/list"')), 'the allowed requests arrived');
    assert.ok(!server.received.some((b) => b.includes('/etc/important')), 'the blocked call never arrived');
    // a new connection to that server: gated from its first write (its name is known now)
    const again = await run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-d', rpc(1, 'tools/call', { name: 'delete_file', arguments: { path: '/etc/again' } }), mcpUrl], inCg());
    assert.notEqual(again.code, 0);
    assert.ok(!server.received.some((b) => b.includes('/etc/again')), 'nor the one on a new connection');
    await stopAgent();
  });

  it('stops a tool call by the server it goes to (its answer to initialize named it), on the connection that opened the session, on another naming its Mcp-Session-Id, and on one that skipped initialize', async () => {
    const m = await startAgent(policyDir('mcp-server', MCP_SERVER_TOOL));
    const rpc = (id: number, method: string, params: object) => JSON.stringify({ jsonrpc: '2.0', id, method, params });
    const mcpUrl = url('mcp.example.test', '/mcp');
    const hdr = ['-H', 'content-type: application/json', '-H', 'accept: application/json, text/event-stream'];
    const r = await run(
      ['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-d', rpc(1, 'initialize', { protocolVersion: '2025-06-18', clientInfo: { name: 'curl-agent', version: '1' } }), mcpUrl, '--next', '--cacert', pki.caCert, ...hdr, '-H', 'mcp-session-id: stand-in-session-1', '-d', rpc(2, 'tools/call', { name: 'delete_file', arguments: { path: '/etc/server-scoped' } }), mcpUrl],
      inCg(),
    );
    assert.notEqual(r.code, 0, 'the blocked call fails');
    const call = await m.waitFor((e) => e.type === 'mcp_message' && e.mcp?.tool === 'delete_file' && e.process?.pid === r.pid, 'the tools/call');
    assert.deepEqual([call.mcp?.server, call.mcp?.client], [{ name: 'stand-in-mcp', version: '1' }, { name: 'curl-agent', version: '1' }]);
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === call.id, 'its decision');
    assert.deepEqual([d.decision?.reasons, d.decision?.enforced], [['MCP tool delete_file of server stand-in-mcp is blocked'], true]);
    assert.ok(!server.received.some((b) => b.includes('/etc/server-scoped')), 'the blocked call never arrived');
    // another connection (another process) naming the session: the server is known, the call never arrives
    const again = await run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-H', 'mcp-session-id: stand-in-session-1', '-d', rpc(3, 'tools/call', { name: 'delete_file', arguments: { path: '/etc/server-scoped-again' } }), mcpUrl], inCg());
    assert.notEqual(again.code, 0);
    assert.ok(!server.received.some((b) => b.includes('/etc/server-scoped-again')), 'nor the one on another connection of the session');
    // a client that skips initialize cannot hide which server it calls: the endpoint's server is known
    const bare = await run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-d', rpc(4, 'tools/call', { name: 'delete_file', arguments: { path: '/etc/server-scoped-bare' } }), mcpUrl], inCg());
    assert.notEqual(bare.code, 0);
    assert.ok(!server.received.some((b) => b.includes('/etc/server-scoped-bare')), 'nor one without initialize or session');
    await stopAgent();
  });

  it('a connection to a host of no provider whose first request is no LLM call is followed again from its next request: a secret after a model list (HTTP/1.1 and HTTP/2), after GETs (HTTP/2, its writes watched) or after an upload is stopped (curl, python3)', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    // curl: GET /v1/models, then the prompt on the same connection (--next)
    const r = await run(
      ['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '-o', '/dev/null', url('ok.example.test', '/v1/models'), '--next', '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', chat(`use ${SECRET} (after-list-secret)`), url('ok.example.test')],
      inCg(),
    );
    assert.notEqual(r.code, 0, 'the blocked request fails');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'curl: the prompt after the model list');
    const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'curl: its decision'));
    assert.equal(d.decision?.action, 'block');
    assert.equal(d.decision?.enforced, true);
    assert.ok(server.hits.some((h) => h.includes('/v1/models')), 'the model list went');
    assert.ok(!server.received.some((b) => b.includes('(after-list-secret)')), 'the server never received the secret');
    // the same over HTTP/2, where a skip could not be undone: a connection that asks for the model list is kept followed
    const h2 = await run(
      ['curl', '-4', '-sS', '--http2', '--max-time', '10', '--cacert', pki.caCert, '-o', '/dev/null', url('ok.example.test', '/v1/models'), '--next', '--http2', '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', chat(`use ${SECRET} (h2-after-list-secret)`), url('ok.example.test')],
      inCg(),
    );
    assert.notEqual(h2.code, 0, 'the blocked request fails');
    const h2req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === h2.pid, 'curl --http2: the prompt after the model list');
    assert.equal(h2req.http?.version, '2');
    const h2d = decisionOn(m, h2req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === h2req.id, 'curl --http2: its decision'));
    assert.equal(h2d.decision?.enforced, true);
    assert.ok(!server.received.some((b) => b.includes('(h2-after-list-secret)')), 'the server never received the secret over HTTP/2');
    // HTTP/2 after a request that is neither an LLM call nor a model list: its reads are let be, its writes still
    // followed (HPACK cannot be picked up part way: tls.bpf.c BUSTED_TLS_WATCH), and only a write with a body held
    // a long body goes in a file (an argument is at most 128 KiB)
    const h2curl = (user: string) => {
      const body = chat(user);
      const file = join(dir, 'h2-body.json');
      if (body.length > 64 * 1024) writeFileSync(file, body);
      return run(
        ['curl', '-4', '-sS', '--http2', '--max-time', '10', '--cacert', pki.caCert, '-o', '/dev/null', url('ok.example.test', '/health'), '--next', '--http2', '--cacert', pki.caCert, '-o', '/dev/null', url('ok.example.test', '/status'), '--next', '--http2', '--cacert', pki.caCert, '-H', 'content-type: application/json', '--data-binary', body.length > 64 * 1024 ? `@${file}` : body, url('ok.example.test')],
        inCg(),
      );
    };
    const w = await h2curl(`use ${SECRET} (h2-after-get-secret)`);
    assert.notEqual(w.code, 0, 'the blocked request fails');
    assert.ok(!server.received.some((b) => b.includes('(h2-after-get-secret)')), 'the server never received the secret after a GET over HTTP/2');
    const wreq = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === w.pid, 'curl --http2: the prompt after two GETs');
    assert.equal(wreq.http?.version, '2');
    const wd = decisionOn(m, wreq.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === wreq.id, 'curl --http2 after GETs: its decision'));
    assert.equal(wd.decision?.enforced, true);
    assert.ok(server.hits.some((h) => h.includes('/health')) && server.hits.some((h) => h.includes('/status')), 'the GETs went');
    const wok = await h2curl('a harmless prompt after two GETs (h2-watched)');
    assert.equal(wok.code, 0, wok.stderr);
    assert.ok(server.received.some((b) => b.includes('(h2-watched)')), 'a harmless prompt after the GETs arrives');
    // the GETs' answers are not read (reads of a watched connection are not copied); the prompt is, and its answer:
    // the reads are copied again from the held write on (the engine turns them on before it lets the write go, so
    // however fast the stand-in answers, its HEADERS frame is read)
    const wokReq = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === wok.pid, 'the harmless prompt after two GETs');
    assert.equal(wokReq.llm?.user_message, 'a harmless prompt after two GETs (h2-watched)');
    const wokRes = await m.waitFor((e) => e.type === 'llm_response' && e.process?.pid === wok.pid, 'the answer to the prompt after two GETs');
    assert.equal(wokRes.http?.status, 200);
    assert.deepEqual(wokRes.llm?.usage, { input_tokens: USAGE.input, output_tokens: USAGE.output });
    // a 600 KB prompt on a watched connection (many DATA frames, the writes held as they carry them): whole when
    // harmless, and stopped when its end carries a secret
    const bigH2 = (tail: string) => h2curl(`${'lorem ipsum dolor sit amet '.repeat(22_000)}${tail}`);
    const bigOk = await bigH2('the end of a long harmless prompt (h2-watched-big)');
    assert.equal(bigOk.code, 0, bigOk.stderr);
    assert.ok(server.received.some((b) => b.includes('(h2-watched-big)')), 'the long harmless prompt arrived whole');
    const bigBad = await bigH2(`and then ${SECRET} (h2-watched-big-secret)`);
    assert.notEqual(bigBad.code, 0, 'the long prompt with a secret at its end fails');
    assert.ok(!server.received.some((b) => b.includes('(h2-watched-big-secret)')), 'its end never arrived');
    // python3: an upload that is no LLM call, then the prompt, on one kept-alive connection
    const p = await run(
      [
        PYTHON,
        '-c',
        `import http.client, json, ssl, sys
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
c = http.client.HTTPSConnection("ok.example.test", ${server.port}, context=ctx, timeout=10)
for path, body in [("/v1/upload", json.dumps({"note": "not an LLM call"})), ("/v1/chat/completions", sys.argv[1])]:
    try:
        c.request("POST", path, body=body.encode(), headers={"content-type": "application/json"})
        r = c.getresponse()
        r.read()
        print(r.status, flush=True)
    except Exception as e:
        print("error", type(e).__name__, flush=True)`,
        chat(`use ${SECRET} (after-upload-secret)`),
      ],
      inCg(),
    );
    assert.match(p.stdout.trim(), /^\d{3}\nerror /, p.stdout + p.stderr);
    const preq = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === p.pid, 'python3: the prompt after the upload');
    const pd = decisionOn(m, preq.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === preq.id, 'python3: its decision'));
    assert.equal(pd.decision?.enforced, true);
    assert.ok(!server.received.some((b) => b.includes('(after-upload-secret)')), 'the server never received the secret');
    await stopAgent();
  });

  // a node HTTP/2 client: one session to HOST, STEPS (an async function's body) using req(headers, body) and ping()
  const nodeH2Session = (host: string, steps: string) =>
    run(
      [
        process.execPath,
        '-e',
        `const http2 = require('http2');
const s = http2.connect(${JSON.stringify(url(host, ''))}, { ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), family: 4 });
const req = (headers, body) => new Promise((ok, no) => { const q = s.request(headers); q.on('response', () => { q.resume(); q.on('end', ok); }); q.on('error', no); q.end(body); });
const ping = () => new Promise((ok, no) => s.ping((e) => (e ? no(e) : ok())));
(async () => {
${steps}
  s.close();
})().then(() => process.exit(0), (e) => { console.error(e); process.exit(4); });`,
      ],
      inCg(),
    );
  const chatHeaders = "{ ':method': 'POST', ':path': '/v1/chat/completions', 'content-type': 'application/json' }";

  it('a watched HTTP/2 connection: its writes without a request body (twenty GETs, WINDOW_UPDATEs) are not held, a POST\'s body is; a write of too many frames for the kernel\'s walk is held and the engine puts the walk right', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const r = await nodeH2Session(
      'ok.example.test',
      `  await req({ ':path': '/health' });
  await new Promise((res) => setTimeout(res, 300));
  // 150 GETs at once: one write of 150 HEADERS frames, more than the kernel walks (it loses its place)
  await Promise.all(Array.from({ length: 150 }, (_, i) => req({ ':path': '/burst?i=' + i })));
  for (let i = 0; i < 20; i++) await req({ ':path': '/status?i=' + i });
  await req(${chatHeaders}, ${JSON.stringify(chat('a harmless prompt after twenty GETs (h2-counted)'))});`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(server.hits.filter((h) => h.includes('/status?i=')).length >= 20, true, 'the GETs went');
    assert.ok(server.received.some((b) => b.includes('(h2-counted)')), 'the prompt arrived');
    await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'the prompt read');
    await stopAgent();
    // the first request's writes are held (no verdict yet), the burst's, and the POST's body; not the GETs after
    // the verdict, nor those after the burst (the engine told the kernel where the frames stand after it)
    const held = Number(/(\d+) writes held/.exec(m.stderr)?.[1]);
    assert.ok(held >= 1 && held < 10, `writes held: ${held}`);
  });

  it('a gated HTTP/2 connection to a provider (--hold-writes stop): its requests are held, its PINGs are not; its answers are read', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'), ['--hold-writes', 'stop']);
    const r = await nodeH2Session(
      'api.openai.com',
      `  await req(${chatHeaders}, ${JSON.stringify(chat('a first harmless prompt (h2-gated-1)'))});
  for (let i = 0; i < 20; i++) await ping();
  await req(${chatHeaders}, ${JSON.stringify(chat('a second harmless prompt (h2-gated-2)'))});`,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.ok(server.received.some((b) => b.includes('(h2-gated-2)')), 'the second prompt arrived');
    for (const n of [1, 2]) {
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid && (e.llm?.user_message ?? '').includes(`(h2-gated-${n})`), `prompt ${n}`);
      assert.equal(req.http?.version, '2');
    }
    // the answers are read (the connection's reads are copied, unlike a watched one of no provider's)
    await m.waitFor((e) => e.type === 'llm_response' && e.process?.pid === r.pid && e.llm?.usage !== undefined, 'an answer with its usage');
    await stopAgent();
    // the requests' writes are held (header blocks and bodies), the twenty PINGs are not
    const held = Number(/(\d+) writes held/.exec(m.stderr)?.[1]);
    assert.ok(held >= 2 && held < 12, `writes held: ${held}`);
    // and for how long, from the kernel's stop to the release: more than nothing, less than a second
    const times = /writes held \((\d+) let go, (\d+) of their stops known from the kernel's record\) for ([\d.]+) ms p50, ([\d.]+) ms p99 from the kernel's stop to their release/.exec(m.stderr);
    assert.ok(times, m.stderr);
    const [letGo, known, p50, p99] = times.slice(1).map(Number) as [number, number, number, number];
    assert.ok(p50 > 0 && p50 <= p99 && p99 < 1000, `held for ${p50} ms p50, ${p99} ms p99`);
    // where the kernel queues the hold's SIGSTOP at once (enforce.bpf.h stop_queued), the engine lets the
    // writes go on the hold's word, without reading the thread's /proc stat
    assert.ok(known <= letGo, `${known} of ${letGo}`);
    if (sendsSignalAtOnce()) assert.ok(known >= 1, `stops known from the kernel: ${known} of ${letGo} let go`);
  });

  it('a TLS connection that speaks no HTTP (a line protocol) is let be after its first line: its writes are not held one by one', async () => {
    // an echo server over TLS on a host of no provider
    const echo = createTlsServer({ key: pki.keyPem, cert: pki.certPem }, (s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const echoPort = (echo.address() as { port: number }).port;
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    try {
      const r = await run(
        [
          PYTHON,
          '-c',
          `import socket, ssl, time
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
s = ctx.wrap_socket(socket.create_connection(("ok.example.test", ${echoPort}), timeout=5), server_hostname="ok.example.test")
for i in range(20):
    line = b"MSG %d hello\\r\\n" % i
    s.sendall(line)
    got = b""
    while len(got) < len(line):
        got += s.recv(100)
    assert got == line, got
    time.sleep(0.02)
print("ok")`,
        ],
        inCg(),
      );
      assert.equal(r.stdout.trim(), 'ok', r.stderr);
      await m.waitFor((e) => e.type === 'tls_data' && e.process?.pid === r.pid && e.tls?.direction === 'write', 'its first write');
      await m.waitFor((e) => e.type === 'close' && e.process?.pid === r.pid, 'its close');
      const writes = m.events.filter((e) => e.type === 'tls_data' && e.process?.pid === r.pid && e.tls?.direction === 'write');
      assert.ok(writes.length <= 2, `${writes.length} of its 20 writes were copied (and held): it was not let be`);
      await stopAgent();
    } finally {
      echo.close();
    }
  });

  it('stops a secret sent for embedding (an API that is no chat); a harmless input arrives and its usage is read', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const embed = (input: string) =>
      run(['curl', '-4', '-sS', '-f', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', JSON.stringify({ model: 'text-embedding-3-small', input: [input] }), url('api.openai.com', '/v1/embeddings')], inCg());
    const r = await embed(`rotate ${SECRET} tomorrow (embed-secret)`);
    assert.notEqual(r.code, 0, 'the blocked request fails');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'its llm_request');
    assert.equal(req.llm?.endpoint, '/v1/embeddings');
    const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision'));
    assert.deepEqual(d.decision?.reasons, ['prompt to openai contains an AWS access key']);
    assert.ok(!server.received.some((b) => b.includes('(embed-secret)')), 'the server never received it');
    const ok = await embed('a harmless sentence (embed-ok)');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(server.received.some((b) => b.includes('(embed-ok)')));
    const res = await m.waitFor((e) => e.type === 'llm_response' && e.process?.pid === ok.pid, 'its llm_response');
    assert.deepEqual(res.llm?.usage, { input_tokens: 11 });
    await stopAgent();
  });

  it('stops a secret in a Batch API file uploaded as a form (curl -F); a harmless file arrives', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const upload = (name: string, user: string) => {
      const file = join(dir, name);
      writeFileSync(file, `${JSON.stringify({ custom_id: '1', method: 'POST', url: '/v1/chat/completions', body: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: user }] } })}\n`);
      return run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '-F', 'purpose=batch', '-F', `file=@${file}`, url('api.openai.com', '/v1/files')], inCg());
    };
    const r = await upload('secret.jsonl', `use ${SECRET} (form-secret)`);
    assert.notEqual(r.code, 0, 'the blocked upload fails');
    const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'its llm_request');
    assert.equal(req.llm?.endpoint, '/v1/files');
    const d = decisionOn(m, req.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision'));
    assert.deepEqual(d.decision?.reasons, ['prompt to openai contains an AWS access key']);
    assert.ok(!server.received.some((b) => b.includes('(form-secret)')), 'the server never received the file');
    const ok = await upload('ok.jsonl', 'a harmless batch line (form-ok)');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(server.received.some((b) => b.includes('(form-ok)')), 'the harmless file arrived');
    await stopAgent();
  });

  it('through an HTTP CONNECT proxy or SOCKS5, a provider the shipped policies do not approve gets nothing, not even a handshake: the TLS name, not the address, decides (curl and wget); an approved one is read', async () => {
    // the proxy (this test process, outside the cgroup) tunnels to the stand-in whatever name it is asked for:
    // curl's connect() goes to the proxy's address, so only what busted reads in TLS can tell it is Mistral
    const proxy = createServer((down) => {
      down.once('data', (head) => {
        if (!/^CONNECT /.test(head.toString('latin1'))) return down.destroy();
        const up = netConnect(server.port, '127.0.0.1', () => {
          down.write('HTTP/1.1 200 Connection Established\r\n\r\n');
          down.pipe(up).pipe(down);
        });
        up.on('error', () => down.destroy());
        down.on('error', () => up.destroy());
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const proxyPort = (proxy.address() as { port: number }).port;
    // SOCKS5 (RFC 1928) with the name given to the proxy (ATYP 3): no authentication, CONNECT only
    const socksAsked: string[] = [];
    const socks = createServer((down) => {
      down.once('data', () => {
        down.write(Buffer.from([5, 0]));
        down.once('data', (req) => {
          if (req[0] !== 5 || req[1] !== 1 || req[3] !== 3) return down.destroy();
          const n = req[4]!;
          socksAsked.push(req.subarray(5, 5 + n).toString('latin1'));
          const up = netConnect(req.readUInt16BE(5 + n), '127.0.0.1', () => {
            down.write(Buffer.from([5, 0, 0, 1, 127, 0, 0, 1, 0, 0]));
            down.pipe(up).pipe(down);
          });
          up.on('error', () => down.destroy());
        });
      });
      down.on('error', () => down.destroy());
    });
    await new Promise<void>((r) => socks.listen(0, '127.0.0.1', r));
    const socksPort = (socks.address() as { port: number }).port;
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    try {
      const via = (host: string, marker: string) =>
        run(['curl', '-sS', '--http1.1', '--max-time', '10', '-x', `http://127.0.0.1:${proxyPort}`, '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', chat(marker), url(host)], inCg());
      const handshakes = server.handshakes.length;
      const r = await via('api.mistral.ai', 'through the proxy (proxy-mistral)');
      assert.notEqual(r.code, 0, 'the request to Mistral fails');
      // the tunnel's ClientHello (curl's libssl, probed) held at egress and refused: the handshake never completes
      const hello = await m.waitFor((e) => e.type === 'tls_client_hello' && e.process?.pid === r.pid, 'its ClientHello');
      assert.equal(hello.provider, 'mistral');
      assert.equal(hello.tls?.plaintext, true, 'libssl is probed');
      const d = decisionOn(m, hello.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === hello.id, 'its decision'));
      assert.ok(d.decision?.reasons.includes('provider mistral is not approved'), JSON.stringify(d.decision));
      assert.equal(d.decision?.enforced, true);
      assert.deepEqual(server.handshakes.slice(handshakes), [], 'no handshake with the stand-in completed');
      assert.ok(!m.events.some((e) => e.type === 'llm_request' && e.process?.pid === r.pid), 'no request was written');
      assert.ok(!server.received.some((b) => b.includes('(proxy-mistral)')), 'the request never reached the server');
      // an approved provider through the same proxy is answered, its request read and judged
      const ok = await via('api.openai.com', 'through the proxy (proxy-openai)');
      assert.equal(ok.code, 0, ok.stderr);
      assert.ok(server.received.some((b) => b.includes('(proxy-openai)')));
      const req = await m.waitFor((e) => e.type === 'llm_request' && e.process?.pid === ok.pid, 'the approved llm_request');
      assert.equal(req.provider, 'openai');
      assert.equal(req.llm?.user_message, 'through the proxy (proxy-openai)');
      const okHandshakes = server.handshakes.length;
      // wget (GnuTLS): its ClientHello, tunnelled after the CONNECT exchange, is read on the wire,
      // and that is what is decided and cut
      const w = await run(['wget', '-q', '-O', '/dev/null', '--timeout=10', '--tries=1', `--ca-certificate=${pki.caCert}`, '-e', 'use_proxy=yes', '-e', `https_proxy=http://127.0.0.1:${proxyPort}`, url('api.mistral.ai', '/v1/models?via=wget-proxy')], inCg());
      assert.notEqual(w.code, 0, 'wget to Mistral fails');
      const wh = await m.waitFor((e) => e.type === 'tls_client_hello' && e.process?.pid === w.pid, "wget's ClientHello");
      assert.equal(wh.provider, 'mistral');
      assert.equal(wh.tls?.plaintext, true, 'libgnutls is probed');
      const wd = decisionOn(m, wh.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === wh.id, 'its decision'));
      assert.equal(wd.decision?.enforced, true);
      assert.deepEqual(server.handshakes.slice(okHandshakes), [], "no handshake with wget completed");
      assert.ok(!server.hits.some((h) => h.includes('wget-proxy')), 'its request never reached the server');
      // a SOCKS5 proxy that resolves names itself (curl --socks5-hostname): the same
      const s = await run(['curl', '-sS', '--http1.1', '--max-time', '10', '--socks5-hostname', `127.0.0.1:${socksPort}`, '--cacert', pki.caCert, '-H', 'content-type: application/json', '-d', chat('through socks (socks-mistral)'), url('api.mistral.ai')], inCg());
      assert.notEqual(s.code, 0, 'the request to Mistral through SOCKS fails');
      assert.deepEqual(socksAsked, ['api.mistral.ai'], s.stderr);
      const sh = await m.waitFor((e) => e.type === 'tls_client_hello' && e.process?.pid === s.pid, 'the ClientHello through SOCKS');
      assert.equal(sh.provider, 'mistral');
      assert.equal((decisionOn(m, sh.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === sh.id, 'its decision'))).decision?.enforced, true);
      assert.deepEqual(server.handshakes.slice(okHandshakes), [], 'no handshake through SOCKS completed');
      assert.ok(!server.received.some((b) => b.includes('(socks-mistral)')));
    } finally {
      proxy.close();
      socks.close();
      await stopAgent();
    }
  });

  it('TLS busted cannot read (Chromium: BoringSSL linked in, not probed) to a provider: its ClientHello held until decided; audited by the shipped policies, and with block_unreadable_tls nothing of it reaches the server', { skip: chromiumSkipReason(), timeout: 120_000 }, async () => {
    const profile = mkdtempSync(join(tmpdir(), 'busted-chromium-'));
    // the name through the test's resolver: the kernel learns api.openai.com's address for Chromium's program image
    // (resolving it itself: --host-resolver-rules, as with its DNS over HTTPS, and the kernel learns nothing)
    const fetchAs = (marker: string, ownResolver = false) =>
      run([CHROMIUM, ...CHROMIUM_QUIET, `--user-data-dir=${profile}`, '--ignore-certificate-errors', ...(ownResolver ? ['--host-resolver-rules=MAP api.openai.com 127.0.0.1'] : []), '--dump-dom', url('api.openai.com', `/v1/models?via=${marker}`)], { ...inCg(), timeoutMs: 30_000 });
    const unreadable = async (m: MonitorProcess, marker: string, ownResolver = false) => {
      await fetchAs(marker, ownResolver);
      const hello = await m.waitFor((e) => e.type === 'tls_client_hello' && e.tls?.sni === 'api.openai.com' && !m.events.some((d) => d.type === 'decision' && d.decision?.subject === e.id && d.decision.action === 'allow'), `${marker}: a ClientHello to api.openai.com`, 20_000);
      assert.equal(hello.tls?.plaintext, false, 'no probed library on its thread');
      assert.equal(hello.provider, 'openai');
      const d = decisionOn(m, hello.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === hello.id, `${marker}: its decision`));
      assert.deepEqual(d.decision?.reasons, [`TLS to openai from ${hello.process?.comm}, which busted cannot read`]);
      return d;
    };
    try {
      const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
      const audited = await unreadable(m, 'chromium-audited');
      assert.equal(audited.decision?.action, 'audit');
      assert.ok(server.hits.some((h) => h.includes('chromium-audited')), 'an audited request arrives (Chromium exits once it has the page)');
      await stopAgent();
      assert.match(m.stderr, /, [1-9]\d* ClientHellos held until decided/, 'its hello was held, then let go');

      const strict = join(dir, 'unreadable-blocked');
      cpSync(join(PACKAGE_ROOT, 'policies'), strict, { recursive: true });
      const data = JSON.parse(readFileSync(join(strict, 'data.json'), 'utf8'));
      data.busted.block_unreadable_tls = true;
      writeFileSync(join(strict, 'data.json'), JSON.stringify(data));
      const m2 = await startAgent(strict);
      // first when the kernel never saw where the name leads (its resolver has not answered Chromium yet): held by
      // the name its hello asks for (Chrome's hello is near 2 KiB with its post-quantum key share, its extensions
      // in random order)
      const shakes = server.handshakes.length;
      const own = await unreadable(m2, 'chromium-own-resolver', true);
      assert.equal(own.decision?.action, 'block');
      assert.equal(own.decision?.enforced, true);
      await new Promise((r) => setTimeout(r, 500));
      assert.ok(!server.hits.some((h) => h.includes('chromium-own-resolver')), 'the request to an address the kernel did not learn never reached the server');
      assert.deepEqual(server.handshakes.slice(shakes), [], 'not even its handshake: its hello was held');
      // then through the test's resolver: held by the address its answer taught the kernel
      const blocked = await unreadable(m2, 'chromium-blocked');
      assert.equal(blocked.decision?.action, 'block');
      assert.equal(blocked.decision?.enforced, true, 'its socket destroyed');
      await new Promise((r) => setTimeout(r, 500));
      // held from its ClientHello on: not even the handshake reached the server, so no request can have
      assert.ok(!server.hits.some((h) => h.includes('chromium-blocked')), 'the request never reached the server');
      assert.deepEqual(server.handshakes.slice(shakes), [], 'nor its handshake');
      await stopAgent();
    } finally {
      rmSync(profile, { recursive: true, force: true });
    }
  });

  it('TLS busted cannot read to an address the kernel did not learn (the program resolved the name itself, as over DNS over HTTPS): its ClientHello is held by the name it asks for; a provider the policy does not approve gets nothing, nor, with block_unreadable_tls, an approved one; an audited one is let go (curl, its libssl left unprobed)', async () => {
    // --resolve: curl resolves nothing through the test's resolver, so no DNS answer tells the kernel where
    // api.openai.com or api.mistral.ai is; --tls-libs gnutls: its libssl is not probed, what it sends is unread
    const unprobed = (host: string, marker: string) =>
      run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, '--resolve', `${host}:${server.port}:127.0.0.1`, '-H', 'content-type: application/json', '-d', chat(marker), url(host)], inCg());
    const helloOf = async (m: MonitorProcess, r: RunResult, host: string) => {
      const hello = await m.waitFor((e) => e.type === 'tls_client_hello' && e.process?.pid === r.pid && e.tls?.sni === host, `${host}: its ClientHello`);
      assert.equal(hello.tls?.plaintext, false, 'no probed library on its thread');
      return decisionOn(m, hello.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === hello.id, `${host}: its decision`));
    };
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'), ['--tls-libs', 'gnutls']);
    const shakes = server.handshakes.length;
    const mistral = await unprobed('api.mistral.ai', 'unlearnt-mistral');
    assert.notEqual(mistral.code, 0, 'refused');
    const md = await helloOf(m, mistral, 'api.mistral.ai');
    assert.equal(md.decision?.action, 'block');
    assert.ok(md.decision?.reasons.includes('provider mistral is not approved'), JSON.stringify(md.decision?.reasons));
    assert.equal(md.decision?.enforced, true);
    assert.deepEqual(server.handshakes.slice(shakes), [], 'not even its handshake reached the server: its hello was held');
    const audited = await unprobed('api.openai.com', 'unlearnt-audited');
    assert.equal(audited.code, 0, audited.stderr);
    const ad = await helloOf(m, audited, 'api.openai.com');
    assert.equal(ad.decision?.action, 'audit');
    assert.ok(server.received.some((b) => b.includes('unlearnt-audited')), 'the audited request arrives');
    await stopAgent();
    assert.match(m.stderr, /, [1-9]\d* ClientHellos held until decided/, 'its hello was held, then let go');
    assert.ok(!server.received.some((b) => b.includes('unlearnt-mistral')), 'nothing of the refused provider\'s request arrived');

    const strict = join(dir, 'unreadable-unlearnt');
    cpSync(join(PACKAGE_ROOT, 'policies'), strict, { recursive: true });
    const data = JSON.parse(readFileSync(join(strict, 'data.json'), 'utf8'));
    data.busted.block_unreadable_tls = true;
    writeFileSync(join(strict, 'data.json'), JSON.stringify(data));
    const m2 = await startAgent(strict, ['--tls-libs', 'gnutls']);
    const blocked = await unprobed('api.openai.com', 'unlearnt-blocked');
    assert.notEqual(blocked.code, 0, 'refused');
    const bd = await helloOf(m2, blocked, 'api.openai.com');
    assert.equal(bd.decision?.action, 'block');
    assert.equal(bd.decision?.enforced, true);
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(!server.received.some((b) => b.includes('unlearnt-blocked')), 'held from its ClientHello on: the request never reached the server');
    await stopAgent();
  });

  it('stops a secret in an MCP tool call\'s arguments (the shipped policies read mcp.context); harmless arguments arrive', async () => {
    const m = await startAgent(join(PACKAGE_ROOT, 'policies'));
    const rpc = (id: number, params: object) => JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params });
    const hdr = ['-H', 'content-type: application/json', '-H', 'accept: application/json, text/event-stream'];
    const call = (id: number, text: string) => run(['curl', '-4', '-sS', '--http1.1', '--max-time', '10', '--cacert', pki.caCert, ...hdr, '-d', rpc(id, { name: 'send_message', arguments: { channel: '#ops', text } }), url('mcp.example.test', '/mcp')], inCg());
    const r = await call(7, `the deploy key is ${SECRET} (mcp-secret)`);
    assert.notEqual(r.code, 0, 'the call carrying a secret fails');
    const ev = await m.waitFor((e) => e.type === 'mcp_message' && e.mcp?.tool === 'send_message' && e.process?.pid === r.pid, 'the tools/call');
    const d = decisionOn(m, ev.id) ?? (await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === ev.id, 'its decision'));
    assert.deepEqual(d.decision?.reasons, ['MCP call of send_message carries an AWS access key']);
    assert.equal(d.decision?.enforced, true);
    assert.ok(!server.received.some((b) => b.includes('(mcp-secret)')), 'the call never arrived');
    assert.ok(!m.stdout.includes(SECRET), "the secret appears in busted's output");
    const ok = await call(8, 'the deploy went fine (mcp-harmless)');
    assert.equal(ok.code, 0, ok.stderr);
    assert.ok(server.received.some((b) => b.includes('(mcp-harmless)')), 'the harmless call arrived');
    await stopAgent();
  });

  it('refuses over IPv6 (AAAA answer, connect6) and UDP datagrams sent without connect (sendmsg4)', async () => {
    const m = await startAgent(policyDir('v6-udp', byProvider('mistral')));
    const c6 = await run(['curl', '-6', '-sS', '--max-time', '10', '--cacert', pki.caCert, url('api.mistral.ai', '/v1/models')], inCg());
    assert.equal(c6.code, 7, c6.stderr);
    // (glibc's getaddrinfo also connect()s a UDP socket to each address it sorts: refused too, and reported)
    const r6 = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === c6.pid && e.net?.protocol === 'tcp', 'the IPv6 refusal');
    assert.equal(r6.net?.family, 6, JSON.stringify(r6));
    assert.equal(r6.net?.dst_ip, '::1');
    assert.equal(r6.provider, 'mistral');
    // QUIC-style: one datagram to the provider's address, no connect()
    const udp = await run(
      [
        PYTHON,
        '-c',
        `import socket, sys
addr = socket.getaddrinfo("api.mistral.ai", 443, socket.AF_INET, socket.SOCK_DGRAM)[0][4]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"quic initial", addr)
    print("sent")
except PermissionError:
    print("refused")`,
      ],
      inCg(),
    );
    assert.equal(udp.stdout.trim(), 'refused', udp.stderr);
    const ru = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === udp.pid, 'the datagram refusal');
    assert.equal(ru.net?.protocol, 'udp');
    assert.equal(ru.net?.dst_port, 443);
    await stopAgent();
  });

  it('--dry-run decides and reports but refuses nothing', async () => {
    const src = policyDir('dry', byProvider('mistral'));
    const m = await startAgent(src, ['--dry-run']);
    const c = await curl('api.mistral.ai');
    assert.equal(c.code, 0, c.stderr);
    const conn = await m.waitFor((e) => e.type === 'connect' && e.process?.pid === c.pid && e.provider === 'mistral', 'the connect');
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === conn.id, 'its decision');
    assert.equal(d.decision?.action, 'block');
    assert.equal(d.decision?.enforced, false);
    await stopAgent();
  });

  it('--pin keeps enforcement in the kernel after the agent stops; a new agent takes it over; busted unpin removes it', async () => {
    const cgroupPrograms = () => {
      const r = spawnSyncText('bpftool', ['cgroup', 'show', cg.path]);
      return r.split('\n').filter((l) => /^\d+\s/.test(l.trim())).length;
    };
    assert.equal(cgroupPrograms(), 0, 'nothing attached before');
    let m = await startAgent(policyDir('pin1', byProvider('mistral')), ['--pin']);
    const attached = cgroupPrograms();
    assert.ok(attached >= 6, `connect4/6, sendmsg4/6, the packet hooks: ${attached}`);
    assert.equal((await curl('api.mistral.ai')).code, 7);
    await stopAgent();
    // no agent: the kernel still refuses (names, verdicts and hooks are pinned)
    assert.equal(cgroupPrograms(), 6, 'the packet and connect hooks stay attached');
    assert.equal((await curl('api.mistral.ai')).code, 7, 'refused with no agent running');
    assert.equal((await curl('api.anthropic.com', chat('hi'))).code, 0);
    // a new agent with another policy takes the pinned state over: its own programs, not twice as many
    m = await startAgent(policyDir('pin2', byProvider('anthropic')), ['--pin']);
    assert.equal(cgroupPrograms(), attached);
    assert.equal((await curl('api.mistral.ai')).code, 0, 'the new policy lets mistral through');
    assert.equal((await curl('api.anthropic.com', chat('hi'))).code, 7);
    assert.ok(m.events.some((e) => e.type === 'policy'));
    await stopAgent();
    const r = await run([process.execPath, join(PACKAGE_ROOT, 'bin', 'busted.js'), 'unpin', '--cgroup', cg.path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /removed \d+ links and \d+ maps/);
    assert.equal(cgroupPrograms(), 0, 'nothing attached after unpin');
    assert.equal((await curl('api.anthropic.com', chat('hi'))).code, 0);
    // without --pin, stopping removes everything it attached
    await startAgent(policyDir('nopin', byProvider('mistral')));
    assert.ok(cgroupPrograms() > 0);
    await stopAgent();
    assert.equal(cgroupPrograms(), 0);
  });

  it('--pin over a pin whose maps differ (left by another busted version) says to unpin, and attaches nothing', async () => {
    // what an older agent with a smaller owners value would have left
    const pinDir = pinDirFor(resolveCgroup(cg.path));
    mkdirSync(pinDir, { recursive: true });
    try {
      const made = spawnSync('bpftool', ['map', 'create', join(pinDir, 'owners'), 'type', 'lru_hash', 'key', '8', 'value', '8', 'entries', '16', 'name', 'owners'], { encoding: 'utf8' });
      assert.equal(made.status, 0, made.stderr);
      const r = await run([process.execPath, join(PACKAGE_ROOT, 'bin', 'busted.js'), 'enforce', '--pin', '--policies', policyDir('pin-old', byProvider('mistral')), '--cgroup', cg.path, '--duration', '2']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /pinned at .* was left by an agent whose map 'owners' differs .*busted unpin --cgroup/);
      assert.equal(spawnSyncText('bpftool', ['cgroup', 'show', cg.path]).split('\n').filter((l) => /^\d+\s/.test(l.trim())).length, 0, 'nothing attached');
    } finally {
      rmSync(pinDir, { recursive: true, force: true });
    }
  });

  it('follows a bundle served by nginx: a changed bundle replaces the policy', async () => {
    const www = join(dir, 'www');
    mkdirSync(www, { recursive: true });
    const compile = async (rego: string, out: string) => {
      const d = policyDir(`bundle-src-${Math.random().toString(36).slice(2, 6)}`, rego);
      const r = await run([process.execPath, join(PACKAGE_ROOT, 'bin', 'busted.js'), 'compile', '--policies', d, '-o', out, '-e', 'busted/decision', '-e', 'busted/reasons']);
      assert.equal(r.code, 0, r.stderr);
    };
    await compile(byProvider('mistral'), join(www, 'next.tar.gz'));
    renameSync(join(www, 'next.tar.gz'), join(www, 'bundle.tar.gz'));
    const nginx = await startNginx(www);
    try {
      const m = await startAgent(`http://127.0.0.1:${nginx.port}/bundle.tar.gz`, ['--poll-seconds', '0.2']);
      assert.equal((await curl('api.mistral.ai')).code, 7, 'bundle 1 blocks mistral');
      assert.equal((await curl('api.anthropic.com', JSON.stringify({ model: 'claude', max_tokens: 8, messages: [{ role: 'user', content: 'hi' }] }))).code, 0);
      // publish bundle 2 the way a deploy does: write aside, rename into place
      await compile(byProvider('anthropic'), join(www, 'next.tar.gz'));
      renameSync(join(www, 'next.tar.gz'), join(www, 'bundle.tar.gz'));
      const reload = await m.waitFor((e) => e.type === 'policy' && e.policy?.reloads === 1, 'the new bundle', 5000);
      assert.match(reload.policy!.source, /^http:\/\/127\.0\.0\.1:\d+\/bundle\.tar\.gz$/);
      assert.equal((await curl('api.mistral.ai')).code, 0, 'bundle 2 lets mistral through');
      assert.equal((await curl('api.anthropic.com')).code, 7, 'bundle 2 blocks anthropic');
      // nginx answered the polls in between with 304 (ETag): one reload only
      await new Promise((r) => setTimeout(r, 600));
      assert.ok(!m.events.some((e) => e.type === 'policy' && (e.policy?.reloads ?? 0) > 1));
      await stopAgent();
    } finally {
      await nginx.stop();
    }
  });
});

function spawnSyncText(cmd: string, args: string[]): string {
  return spawnSync(cmd, args, { encoding: 'utf8' }).stdout ?? '';
}

/** A real nginx serving `root` on a free loopback port, with its own config, pid and logs. */
async function startNginx(root: string): Promise<{ port: number; stop: () => Promise<void> }> {
  const port = await new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
  const conf = join(root, '..', 'nginx.conf');
  writeFileSync(
    conf,
    `daemon off;
master_process off;
worker_processes 1;
pid ${join(root, '..', 'nginx.pid')};
error_log stderr warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(root, '..', 'nginx-tmp')};
  proxy_temp_path ${join(root, '..', 'nginx-tmp')};
  fastcgi_temp_path ${join(root, '..', 'nginx-tmp')};
  uwsgi_temp_path ${join(root, '..', 'nginx-tmp')};
  scgi_temp_path ${join(root, '..', 'nginx-tmp')};
  server {
    listen 127.0.0.1:${port};
    root ${root};
    etag on;
  }
}
`,
  );
  mkdirSync(join(root, '..', 'nginx-tmp'), { recursive: true });
  const child: ChildProcess = spawn('/usr/sbin/nginx', ['-c', conf, '-p', join(root, '..')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 5000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${port}/bundle.tar.gz`, { method: 'HEAD' }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nginx did not start: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

export type { BustedEvent };

describe('busted demo (npm start) in a cgroup of the test', { skip }, () => {
  it('enforces the shipped policies: mistral refused at connect, the look-alike refused, the secret prompt stopped; the approved providers answer', async () => {
    const cg = new TestCgroup();
    try {
      const m = await MonitorProcess.start(['--cgroup', cg.path, '--no-server-side'], 30_000, 'demo');
      const code = await m.exited();
      assert.equal(code, 0, m.stderr);
      const blocked = m.events.filter((e) => e.type === 'connect_blocked');
      assert.ok(blocked.some((e) => e.provider === 'mistral' && e.net?.dst_host === 'api.mistral.ai'), JSON.stringify(blocked));
      assert.ok(blocked.some((e) => e.net?.dst_host === 'evil-openai.com' && e.enforcement?.verdict === 'host'), JSON.stringify(blocked));
      const secret = m.events.find((e) => e.type === 'decision' && e.decision?.reasons.some((r) => r.includes('AWS access key')));
      assert.equal(secret?.decision?.enforced, true);
      for (const p of ['openai', 'anthropic', 'google']) assert.ok(m.events.some((e) => e.type === 'llm_response' && e.provider === p), `an answer from ${p}`);
      assert.match(m.stderr, /demo: refused, as the policy means it to be \(exit 7\): curl: \(7\) Failed to connect to api\.mistral\.ai/);
      assert.ok(!m.stdout.includes('AKIAIOSFODNN7EXAMPLE') && !m.stdout.includes('sk-demo-000000000000000000000000'), 'no credential in the output');
    } finally {
      await cg.dispose();
    }
  });
});

describe('busted enforce on the classifier\'s word (a locked-down host: ml_block_unknown)', { skip }, () => {
  it('cuts a token-paced stream to an unlisted host mid-way (its socket destroyed on a score the policy blocks)', async () => {
    const { startTrafficServer } = await import('../../training/traffic/server.js');
    const HOST = 'inference.unlisted.test';
    const cg = new TestCgroup();
    const pki = makePki([HOST]);
    const server = await startTrafficServer([{ kind: 'test', label: 1, host: HOST, ip: '127.0.0.1', port: 0, tls: true, h2: false, ws: false }], { cert: pki.certPem, key: pki.keyPem });
    const port = server.ports[0]!;
    const resolver = await startDnsmasq({ [HOST]: ['127.0.0.1'] });
    const dir = mkdtempSync(join(tmpdir(), 'busted-enforce-ml-'));
    let m: MonitorProcess | undefined;
    try {
      // the shipped policies, on a locked-down host
      cpSync(join(PACKAGE_ROOT, 'policies'), dir, { recursive: true });
      const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
      data.busted.ml_block_unknown = true;
      writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
      m = await MonitorProcess.start(['--policies', dir, '--cgroup', cg.path, '--no-server-side', '--no-tls'], 30_000, 'enforce');
      // one node process: a long completion streamed token by token, then another request to the same host
      const paced = { shape: 'paced', head: 350, first: 0, events: 160, cadence: 32, jitter: 0.4, size: [110, 220], stall: 0, ping: 0, type: 'text/event-stream', format: 'sse', seed: 1 };
      const session = {
        id: 'e2e-enforce-stream', kind: 'sse_chat', label: 1, client: 'node', host: HOST, port, tls: true, h2: false, connGap: [200],
        conns: [{ think: [], requests: [{ method: 'POST', path: '/v1/chat/completions', body: 1800, gen: paced }] }, { think: [], requests: [{ method: 'POST', path: '/v1/chat/completions', body: 1800, gen: paced }] }],
      };
      const r = await run([process.execPath, join(PACKAGE_ROOT, 'dist', 'training', 'traffic', 'client.js')], { cgroup: cg.path, resolvConf: resolver.resolvConf, input: JSON.stringify({ session, ca: pki.caCert }) });
      assert.notEqual(r.code, 0, 'the stream was cut');
      const blocked = await m.waitFor((e) => e.type === 'decision' && e.decision?.action === 'block' && e.process?.pid === r.pid && e.decision.reasons.some((x) => x.startsWith(`unknown LLM endpoint ${HOST}`)), 'a block on the classifier\'s score');
      assert.equal(blocked.decision?.enforced, true);
      await m.stop();
      assert.match(m.stderr, /[1-9]\d* sockets destroyed/);
      m = undefined;
    } finally {
      await m?.stop();
      await server.close();
      await resolver.stop();
      await cg.dispose();
      rmSync(pki.dir, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/**
 * Does bpf_send_signal_thread queue its signal at once in a uprobe? It does
 * where the program runs preemptible: with PREEMPT_RCU, whose read lock
 * leaves preemption on (this machine's kernel); elsewhere it sends it from
 * an irq_work a moment later. False when the kernel's config is not readable.
 */
function sendsSignalAtOnce(): boolean {
  try {
    return /^CONFIG_PREEMPT_RCU=y$/m.test(gunzipSync(readFileSync('/proc/config.gz')).toString('latin1'));
  } catch {
    return false;
  }
}
