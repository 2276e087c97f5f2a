/**
 * MCP over stdio (`--mcp-stdio`, bpf/stdio.bpf.c): a real client spawning a
 * real server process, talking JSON-RPC over the child's stdin and stdout —
 * pipes from python3's subprocess, a UNIX socketpair from node's
 * child_process — in a cgroup of the test. Every request, notification and
 * answer is an mcp_message of the process that wrote it, answers carrying
 * the method and tool they answer; the shipped policies judge a tool call
 * as they judge one over HTTP. Without the flag the hook is not attached
 * and no message is reported.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdtempSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';

const skip = kernelSkipReason();
const FIXTURES = join(PACKAGE_ROOT, 'test', 'fixtures', 'mcp');
const SERVER = join(FIXTURES, 'stdio_server.py');
const CLIENT = join(FIXTURES, 'stdio_client.py');

/** node as the client: its child's stdio is a socketpair (libuv), not a pipe */
const NODE_CLIENT = `const { spawn } = require('child_process');
const [server, text, ...tools] = process.argv.slice(1);
const srv = spawn(${JSON.stringify(PYTHON)}, [server], { stdio: ['pipe', 'pipe', 'inherit'] });
let buf = '';
const waiting = [];
srv.stdout.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) waiting.shift()(JSON.parse(buf.slice(0, i)));
});
const call = (id, method, params) => new Promise((r) => { waiting.push(r); srv.stdin.write(JSON.stringify({ jsonrpc: '2.0', id, method, params }) + '\\n'); });
(async () => {
  await call(0, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'node-client', version: '1' } });
  for (const [i, name] of tools.entries()) console.log('answer:', (await call(1 + i, 'tools/call', { name, arguments: { text } })).result.content[0].text);
  srv.stdin.end();
})();`;

describe('MCP over stdio (real kernel, a cgroup of the test)', { skip }, () => {
  let cg: TestCgroup;
  let agent: MonitorProcess | undefined;

  before(() => {
    cg = new TestCgroup();
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });
  after(async () => {
    await cg?.dispose();
  });

  const mcpOf = (m: MonitorProcess, pid: number) => m.events.filter((e) => e.type === 'mcp_message' && e.process?.pid === pid);
  const serverOf = (m: MonitorProcess, client: number) => m.events.find((e) => e.type === 'exec' && e.process?.ppid === client)?.process?.pid;
  const waitMcp = async (m: MonitorProcess, pred: (e: BustedEvent) => boolean, what: string) => m.waitFor((e) => e.type === 'mcp_message' && pred(e), what);

  it('busted monitor --mcp-stdio: python3 over pipes and node over a socketpair, each message of its writer, answers paired with their requests', async () => {
    const m = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--mcp-stdio', '--no-tls', '--exe-hash']));
    const py = await run([PYTHON, CLIENT, SERVER, 'hello over a pipe', 'echo'], { cgroup: cg.path });
    assert.equal(py.code, 0, py.stderr);
    assert.match(py.stdout, /done: .*hello over a pipe/, 'the server answered');
    const call = await waitMcp(m, (e) => e.process?.pid === py.pid && e.mcp?.method === 'tools/call', "python3's tool call");
    const server = serverOf(m, py.pid);
    assert.ok(server, 'the server was spawned by the client');
    // the other end: the server (a child of the client), by the pipe it reads
    const { peer, ...rest } = call.mcp!;
    // the session's client and server, as initialize and its answer named them
    const session = { client: { name: 'fixture-client', version: '1' }, server: { name: 'fixture', version: '1' } };
    assert.deepEqual(rest, { kind: 'request', method: 'tools/call', id: 2, tool: 'echo', context: 'hello over a pipe', transport: 'stdio', ...session });
    assert.equal(peer?.pid, server);
    assert.equal(peer?.comm, 'python3');
    assert.match(peer?.cmdline ?? '', /stdio_server\.py$/);
    const answer = await waitMcp(m, (e) => e.process?.pid === server && e.mcp?.kind === 'response' && e.mcp.id === 2, "the server's answer");
    const { request_event, duration_ms, context, ...answered } = answer.mcp!;
    assert.deepEqual(answered, { kind: 'response', method: 'tools/call', id: 2, tool: 'echo', transport: 'stdio', peer: { ...answer.mcp?.peer, pid: py.pid }, ...session });
    assert.equal(context, 'done: {"text": "hello over a pipe"}', "the tool's result");
    assert.equal(request_event, call.id, "the answer names its request's event");
    assert.ok(duration_ms !== undefined && duration_ms >= 0 && duration_ms < 5000, `duration ${duration_ms}`);
    assert.match(answer.mcp?.peer?.cmdline ?? '', /stdio_client\.py/, 'its client, by the pipe it reads');
    assert.equal(answer.process?.comm, 'python3');
    // everything the client wrote, in order, and nothing reported twice
    assert.deepEqual(
      mcpOf(m, py.pid).map((e) => `${e.mcp?.kind} ${e.mcp?.method}`),
      ['request initialize', 'notification notifications/initialized', 'request tools/list', 'request tools/call'],
    );
    assert.deepEqual(
      mcpOf(m, server!).map((e) => `${e.mcp?.id} ${e.mcp?.method}`),
      ['0 initialize', '1 tools/list', '2 tools/call'],
    );
    assert.ok(mcpOf(m, py.pid).every((e) => e.http === undefined && e.net === undefined), 'no network');
    const init = mcpOf(m, py.pid)[0]!.mcp!;
    assert.deepEqual([init.client, init.server, init.protocol_version], [session.client, undefined, '2025-06-18'], 'initialize names the client; the server is not known yet');
    const [initAnswer, listAnswer] = mcpOf(m, server!).map((e) => e.mcp!);
    assert.deepEqual([initAnswer!.server, initAnswer!.client, initAnswer!.protocol_version], [session.server, session.client, '2025-06-18']);
    assert.deepEqual(listAnswer!.tools, ['echo', 'delete_file'], 'the tools the server offers');

    // through a launcher that runs the server as its child, as npx and uvx do: the peer is the server, answers still paired
    const wrapped = await run([PYTHON, CLIENT, SERVER, 'through a launcher', 'echo'], { cgroup: cg.path, env: { MCP_WRAP: '1', MCP_LINGER: '1' } });
    assert.equal(wrapped.code, 0, wrapped.stderr);
    const wcall = await waitMcp(m, (e) => e.process?.pid === wrapped.pid && e.mcp?.method === 'tools/call', 'the call through a launcher');
    assert.match(wcall.mcp?.peer?.cmdline ?? '', /^\S+ \S+stdio_server\.py$/, 'the server, not its launcher');
    // with --exe-hash the other end's executable by hash (python3, hashed when the first client ran)
    assert.equal(wcall.mcp?.peer?.exe_sha256, createHash('sha256').update(readFileSync(realpathSync(PYTHON))).digest('hex'));
    const wserver = wcall.mcp!.peer!.pid;
    assert.notEqual(serverOf(m, wrapped.pid), wserver, 'the launcher is the child, the server its child');
    const wanswer = await waitMcp(m, (e) => e.process?.pid === wserver && e.mcp?.kind === 'response' && e.mcp.id === 2, "the server's answer through the launcher");
    assert.equal(wanswer.mcp?.method, 'tools/call');
    // one session, whether the other end found was the launcher (at initialize) or the server below it
    assert.deepEqual([wcall.mcp?.client, wcall.mcp?.server, wanswer.mcp?.client, wanswer.mcp?.server], [session.client, session.server, session.client, session.server]);
    assert.equal(wanswer.mcp?.peer?.pid, wrapped.pid, 'its client, two generations up');

    // writev (libuv writes a stream's queued messages so): each iovec read as a write, two messages in one call
    const wv = await run([PYTHON, CLIENT, SERVER, 'hello through writev', 'echo'], { cgroup: cg.path, env: { MCP_WRITEV: '1' } });
    assert.equal(wv.code, 0, wv.stderr);
    await waitMcp(m, (e) => e.process?.pid === wv.pid && e.mcp?.method === 'tools/call', 'the call written with writev');
    assert.deepEqual(
      mcpOf(m, wv.pid).map((e) => `${e.mcp?.kind} ${e.mcp?.method}${e.mcp?.context ? ` ${e.mcp.context}` : ''}`),
      ['request initialize 2025-06-18\nfixture-client\n1', 'notification notifications/initialized', 'request tools/list', 'request tools/call hello through writev'],
    );

    const node = await run([process.execPath, '-e', NODE_CLIENT, SERVER, 'hello over a socketpair', 'echo'], { cgroup: cg.path });
    assert.equal(node.code, 0, node.stderr);
    const ncall = await waitMcp(m, (e) => e.process?.pid === node.pid && e.mcp?.method === 'tools/call', "node's tool call");
    assert.equal(ncall.mcp?.context, 'hello over a socketpair');
    assert.deepEqual(ncall.mcp?.client, { name: 'node-client', version: '1' }, "node's own session, not python's");
    const nserver = serverOf(m, node.pid)!;
    assert.equal(ncall.mcp?.peer?.pid, nserver, 'the server, by the socket it reads');
    await waitMcp(m, (e) => e.process?.pid === nserver && e.mcp?.kind === 'response' && e.mcp.method === 'tools/call', "the server's answer to node");
    assert.equal(m.badLines.length, 0);
  });

  it('busted enforce --mcp-stdio with the shipped policies: the server is stopped at the read that gets a blocked tool call and killed before it runs it (however long its arguments, or for a secret in them); an allowed call runs; without the flag nothing is read', async () => {
    const m = (agent = await MonitorProcess.start(['--policies', join(PACKAGE_ROOT, 'policies'), '--cgroup', cg.path, '--mcp-stdio', '--no-tls'], 20_000, 'enforce'));
    const victim = join(mkdtempSync(join(tmpdir(), 'busted-mcp-')), 'precious.txt');
    writeFileSync(victim, 'keep me');
    const r = await run([PYTHON, CLIENT, SERVER, victim, 'delete_file'], { cgroup: cg.path });
    assert.notEqual(r.code, 0, 'the client lost its server');
    assert.ok(existsSync(victim), 'the server never ran delete_file');
    const call = await waitMcp(m, (e) => e.process?.pid === r.pid && e.mcp?.tool === 'delete_file', 'the delete_file call');
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === call.id, 'its decision');
    assert.equal(d.decision?.action, 'block');
    assert.deepEqual(d.decision?.reasons, ['MCP tool delete_file is blocked']);
    assert.equal(d.decision?.enforced, true);
    const server = serverOf(m, r.pid)!;
    const end = await m.waitFor((e) => e.type === 'exit' && e.process?.pid === server, 'the server ends');
    assert.equal(end.exit?.signal, 9, 'killed');
    assert.ok(!mcpOf(m, server).some((e) => e.mcp?.id === 2), 'it never answered the call');
    // the very first message the server reads (no initialize: it waits in read() while the call is written)
    const first = await run([PYTHON, CLIENT, SERVER, victim, 'delete_file'], { cgroup: cg.path, env: { MCP_NO_INIT: '1' } });
    assert.notEqual(first.code, 0, 'the client lost its server');
    assert.ok(existsSync(victim), 'the server never ran delete_file, its first message');
    // an allowed call through the same holds runs and is answered
    const ok = await run([PYTHON, CLIENT, SERVER, 'harmless', 'echo'], { cgroup: cg.path });
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /done: .*harmless/);
    // arguments longer than the kernel's copy (16 KiB): judged by the call's start, refused at the read
    const long = await run([PYTHON, CLIENT, SERVER, `${victim}${'/'.repeat(40_000)}`, 'delete_file'], { cgroup: cg.path });
    assert.notEqual(long.code, 0);
    const cut = await waitMcp(m, (e) => e.process?.pid === long.pid && e.mcp?.tool === 'delete_file', 'the long call');
    assert.equal(cut.mcp?.truncated, true);
    assert.equal((await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === cut.id, 'its decision')).decision?.enforced, true);
    // a secret in a tool call's arguments (the shipped content rules read mcp.context)
    const secret = await run([PYTHON, CLIENT, SERVER, 'aws key AKIAIOSFODNN7EXAMPLE', 'echo'], { cgroup: cg.path });
    assert.notEqual(secret.code, 0);
    const sc = await waitMcp(m, (e) => e.process?.pid === secret.pid && e.mcp?.method === 'tools/call', 'the call with a secret');
    assert.deepEqual((await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === sc.id, 'its decision')).decision?.reasons, ['MCP call of echo carries an AWS access key']);
    // a notification (no id) carrying a secret: matched by its method and text at the server's read
    const note = await run([PYTHON, CLIENT, SERVER, 'then a harmless call', 'echo'], { cgroup: cg.path, env: { MCP_NOTIFY: 'progress: key AKIAIOSFODNN7EXAMPLE' } });
    assert.notEqual(note.code, 0, 'the server read the notification and died');
    const nc = await waitMcp(m, (e) => e.process?.pid === note.pid && e.mcp?.kind === 'notification' && e.mcp.method === 'notifications/progress', 'the notification');
    const nd = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === nc.id, 'its decision');
    assert.deepEqual(nd.decision?.reasons, ['MCP notifications/progress carries an AWS access key']);
    assert.equal(nd.decision?.enforced, true);
    assert.ok(!m.stdout.includes('AKIAIOSFODNN7EXAMPLE'), 'the secret is not in the output');
    const code = await agent.stop();
    agent = undefined;
    assert.equal(code, 0);
    assert.match(m.stderr, /, 5 MCP stdio readers killed before reading a blocked message/);
    rmSync(dirname(victim), { recursive: true, force: true });

    const plain = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--no-tls']));
    const quiet = await run([PYTHON, CLIENT, SERVER, 'unseen', 'echo'], { cgroup: cg.path });
    assert.equal(quiet.code, 0, quiet.stderr);
    await plain.waitFor((e) => e.type === 'exit' && e.process?.pid === quiet.pid, 'the client exits');
    assert.deepEqual(plain.events.filter((e) => e.type === 'mcp_message'), [], 'no hook, no message');
  });

  it('busted enforce --mcp-stdio judges a call by the server it goes to (the name its answer to initialize gave): a tool blocked on one server runs on another, and a blocked server is stopped at its first request after initialize', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-mcp-policies-'));
    cpSync(join(PACKAGE_ROOT, 'policies'), dir, { recursive: true });
    const data = JSON.parse(readFileSync(join(dir, 'data.json'), 'utf8'));
    data.busted.blocked_mcp_tools.push('fixture/echo');
    data.busted.blocked_mcp_servers = ['untrusted'];
    writeFileSync(join(dir, 'data.json'), JSON.stringify(data));
    try {
      const m = (agent = await MonitorProcess.start(['--policies', dir, '--cgroup', cg.path, '--mcp-stdio', '--no-tls'], 20_000, 'enforce'));
      const r = await run([PYTHON, CLIENT, SERVER, 'on fixture', 'echo'], { cgroup: cg.path });
      assert.notEqual(r.code, 0, 'the client lost its server');
      assert.doesNotMatch(r.stdout, /answer:/, 'the server never answered the call');
      const call = await waitMcp(m, (e) => e.process?.pid === r.pid && e.mcp?.method === 'tools/call', 'the echo call');
      assert.deepEqual(call.mcp?.server, { name: 'fixture', version: '1' });
      const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === call.id, 'its decision');
      assert.deepEqual([d.decision?.action, d.decision?.reasons, d.decision?.enforced], ['block', ['MCP tool echo of server fixture is blocked'], true]);
      assert.equal((await m.waitFor((e) => e.type === 'exit' && e.process?.pid === serverOf(m, r.pid), 'the server ends')).exit?.signal, 9);
      // a client that skips initialize is still talking to the fixture server (its program named itself so before)
      const bare = await run([PYTHON, CLIENT, SERVER, 'no initialize', 'echo'], { cgroup: cg.path, env: { MCP_NO_INIT: '1' } });
      assert.notEqual(bare.code, 0, 'the client lost its server');
      const bareCall = await waitMcp(m, (e) => e.process?.pid === bare.pid && e.mcp?.method === 'tools/call', 'the call without initialize');
      assert.deepEqual(bareCall.mcp?.server, { name: 'fixture', version: '1' });
      assert.equal((await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === bareCall.id, 'its decision')).decision?.enforced, true);
      // the same tool on another server runs
      const other = await run([PYTHON, CLIENT, SERVER, 'on scratch', 'echo'], { cgroup: cg.path, env: { MCP_SERVER_NAME: 'scratch' } });
      assert.equal(other.code, 0, other.stderr);
      assert.match(other.stdout, /answer: .*on scratch/);
      // a blocked server: its session's first request after initialize (tools/list) is refused at the server's read
      const bad = await run([PYTHON, CLIENT, SERVER, 'never', 'echo'], { cgroup: cg.path, env: { MCP_SERVER_NAME: 'untrusted' } });
      assert.notEqual(bad.code, 0);
      const list = await waitMcp(m, (e) => e.process?.pid === bad.pid && e.mcp?.method === 'tools/list', 'the tools/list request');
      const ld = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === list.id, 'its decision');
      assert.deepEqual([ld.decision?.reasons, ld.decision?.enforced], [['MCP server untrusted is blocked'], true]);
      assert.ok(!mcpOf(m, serverOf(m, bad.pid)!).some((e) => e.mcp?.id === 1), 'it never answered tools/list');
      // a server whose tool descriptions carry instructions to the model (tool poisoning): its tools/list answer is audited
      const poisoned = await run([PYTHON, CLIENT, SERVER, 'poisoned', 'echo'], { cgroup: cg.path, env: { MCP_SERVER_NAME: 'scratch', MCP_POISON: '1' } });
      assert.equal(poisoned.code, 0, poisoned.stderr);
      const pserver = serverOf(m, poisoned.pid)!;
      const plist = await waitMcp(m, (e) => e.process?.pid === pserver && e.mcp?.method === 'tools/list', 'the poisoned tools/list answer');
      assert.match(plist.mcp?.context ?? '', /<IMPORTANT>Before using this tool/);
      const pd = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === plist.id, 'its decision');
      // the same server (name and version) listed other tools earlier in this run: a rug pull as well
      assert.deepEqual([pd.decision?.action, pd.decision?.reasons], ['audit', ['MCP server scratch changed its tools since it first listed them', 'MCP server scratch describes its tools with instructions to the model']]);
      assert.equal(plist.mcp?.tools_changed, true);
      // a tool whose result addresses the model (an indirect prompt injection): its answer is audited, and runs
      const injected = await run([PYTHON, CLIENT, SERVER, 'fetched page', 'echo'], { cgroup: cg.path, env: { MCP_SERVER_NAME: 'web', MCP_INJECT: '1' } });
      assert.equal(injected.code, 0, injected.stderr);
      assert.match(injected.stdout, /Ignore the previous instructions/, 'the answer reached the client');
      const iserver = serverOf(m, injected.pid)!;
      const ianswer = await waitMcp(m, (e) => e.process?.pid === iserver && e.mcp?.kind === 'response' && e.mcp.method === 'tools/call', 'the injected answer');
      const id = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === ianswer.id, 'its decision');
      assert.deepEqual([id.decision?.action, id.decision?.reasons], ['audit', ['MCP answer to the call of echo carries instructions to the model (prompt injection?)']]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
