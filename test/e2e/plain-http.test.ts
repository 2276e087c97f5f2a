/**
 * Plain-text HTTP (no TLS), as a local Ollama or vLLM and an MCP server on
 * http://localhost are reached, read from the packets (pkt.bpf.c
 * plain_socks): real clients (curl, python3, node) post to the stand-in
 * over loopback in a test cgroup, and the agent reports the LLM calls, their
 * answers and the MCP messages, as it does for TLS. A connection whose
 * first request is no LLM or MCP call is left alone from then on (the
 * `skip` verdict); a request body far larger than one packet record is
 * read whole. Under `busted enforce`, a blocked prompt's connection is cut.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { MonitorProcess } from '../helpers/agent.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import { startPlainProviderServer, USAGE, type ProviderServer } from '../helpers/providers.js';

const skip = kernelSkipReason();
const TOKEN = 'e2ePLAINtoken0123456789abcdefgh';
const SECRET = 'AKIAIOSFODNN7EXAMPLE';

const chat = (model: string, user: string, extra: object = {}) => JSON.stringify({ model, messages: [{ role: 'system', content: 'be terse' }, { role: 'user', content: user }], ...extra });

/** python3: POSTs on one kept-alive connection (http.client), each printed as its status or the error; `@BIG@` in a body is `big` times "lorem ipsum ". */
function pythonPosts(port: number, posts: Array<{ path: string; body: string; pause?: number; big?: number }>): string[] {
  return [
    PYTHON,
    '-c',
    `import http.client, json, sys, time
c = http.client.HTTPConnection("127.0.0.1", ${port}, timeout=5)
for p in json.loads(sys.argv[1]):
    time.sleep(p.get("pause", 0))
    try:
        c.request("POST", p["path"], body=p["body"].replace("@BIG@", "lorem ipsum " * p.get("big", 0)).encode(), headers={"content-type": "application/json", "authorization": "Bearer ${TOKEN}"})
        r = c.getresponse()
        r.read()
        print(r.status, flush=True)
    except Exception as e:
        print("error", type(e).__name__, flush=True)`,
    JSON.stringify(posts),
  ];
}

describe('plain-text HTTP LLM and MCP traffic (real clients, real kernel)', { skip }, () => {
  let cg: TestCgroup;
  let server: ProviderServer;

  before(async () => {
    cg = new TestCgroup();
    server = await startPlainProviderServer();
  });

  after(async () => {
    await server?.close();
    await cg?.dispose();
  });

  const inCg = () => ({ cgroup: cg.path });

  it('busted monitor: Ollama (curl), an OpenAI-compatible server (python3) and MCP (node fetch) over http://, with their answers; no token', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path]);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      const curl = await run(['curl', '-sS', '-f', '-H', `Authorization: Bearer ${TOKEN}`, '-H', 'content-type: application/json', '--data-binary', chat('llama3.2', 'q-plain-curl'), '-o', '/dev/null', `${base}/api/chat`], inCg());
      assert.equal(curl.code, 0, curl.stderr);
      const req = await agent.waitFor((e) => e.type === 'llm_request' && e.process?.pid === curl.pid, 'curl: the Ollama request');
      assert.equal(req.provider, 'ollama');
      assert.equal(req.llm?.model, 'llama3.2');
      assert.equal(req.llm?.user_message, 'q-plain-curl');
      assert.equal(req.llm?.system_prompt, 'be terse');
      assert.equal(req.http?.path, '/api/chat');
      assert.equal(req.tls, undefined, 'no TLS on this connection');
      assert.equal(req.net?.dst_port, server.port);
      assert.equal(req.net?.dst_ip, '127.0.0.1');
      const res = await agent.waitFor((e) => e.type === 'llm_response' && e.process?.pid === curl.pid, 'curl: the NDJSON answer');
      assert.equal(res.llm?.model, 'llama3.2-served');
      assert.equal(res.http?.status, 200);

      // a vLLM-style server: known by path and body; a prompt of 300 KB (many packet records) read whole
      const py = await run(pythonPosts(server.port, [{ path: '/v1/chat/completions', body: chat('qwen2.5-7b', '@BIG@q-plain-python-end'), big: 25_000 }]), inCg());
      assert.equal(py.code, 0, py.stderr);
      assert.equal(py.stdout.trim(), '200');
      const preq = await agent.waitFor((e) => e.type === 'llm_request' && e.process?.pid === py.pid, 'python3: the chat completion');
      assert.equal(preq.llm?.model, 'qwen2.5-7b');
      assert.ok(preq.llm?.user_message?.endsWith('q-plain-python-end'), 'the whole 300 KB prompt was read');
      assert.deepEqual(agent.events.filter((e) => e.type === 'error' && e.process?.pid === py.pid).map((e) => e.error), [], 'no cut or lost stream');
      const pres = await agent.waitFor((e) => e.type === 'llm_response' && e.process?.pid === py.pid, 'python3: its answer');
      assert.deepEqual(pres.llm?.usage, { input_tokens: USAGE.input, output_tokens: USAGE.output });
      assert.deepEqual(pres.llm?.tool_calls, ['get_weather']);

      // MCP's streamable HTTP, from node's fetch
      const node = await run(
        [
          process.execPath,
          '-e',
          `fetch(${JSON.stringify(`${base}/mcp`)}, { method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' }, body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'read_file', arguments: { path: '/etc/motd' } } }) }).then((r) => r.text()).then(() => process.exit(0), (e) => { console.error(e); process.exit(3); });`,
        ],
        inCg(),
      );
      assert.equal(node.code, 0, node.stderr);
      const mcp = await agent.waitFor((e) => e.type === 'mcp_message' && e.process?.pid === node.pid && e.mcp?.kind === 'request', 'node: the MCP call');
      assert.equal(mcp.mcp?.method, 'tools/call');
      assert.equal(mcp.mcp?.tool, 'read_file');
      await agent.waitFor((e) => e.type === 'mcp_message' && e.process?.pid === node.pid && e.mcp?.kind === 'response', 'node: the MCP answer');
      assert.ok(!agent.stdout.includes(TOKEN.slice(6)), 'the bearer token appears nowhere');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('a connection whose first request is no LLM call is skipped: a later prompt on it is not read, one on a new connection is', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path]);
    try {
      const posts = [
        { path: '/v1/upload', body: JSON.stringify({ note: 'not an LLM call' }) },
        { path: '/v1/chat/completions', body: chat('qwen2.5-7b', 'q-after-skip'), pause: 0.5 },
      ];
      const r = await run(pythonPosts(server.port, posts), inCg());
      assert.equal(r.code, 0, r.stderr);
      const fresh = await run(pythonPosts(server.port, [{ path: '/v1/chat/completions', body: chat('qwen2.5-7b', 'q-fresh-connection') }]), inCg());
      assert.equal(fresh.code, 0, fresh.stderr);
      await agent.waitFor((e) => e.type === 'llm_request' && e.llm?.user_message === 'q-fresh-connection', 'the prompt on a new connection');
      assert.ok(server.received.some((b) => b.includes('q-after-skip')), 'the server got the prompt sent after the skip');
      assert.ok(!agent.events.some((e) => e.type === 'llm_request' && e.llm?.user_message === 'q-after-skip'), 'the skipped connection was not read');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('--no-plain-http: nothing is read off plain-text connections', async () => {
    const agent = await MonitorProcess.start(['--cgroup', cg.path, '--no-plain-http']);
    try {
      const curl = await run(['curl', '-sS', '-f', '-H', 'content-type: application/json', '--data-binary', chat('llama3.2', 'q-not-read'), '-o', '/dev/null', `http://127.0.0.1:${server.port}/api/chat`], inCg());
      assert.equal(curl.code, 0, curl.stderr);
      // the connection's close comes after anything read off it would have
      await agent.waitFor((e) => e.type === 'close' && e.process?.pid === curl.pid && e.net?.dst_port === server.port, 'curl: the close');
      assert.ok(server.received.some((b) => b.includes('q-not-read')));
      assert.ok(!agent.events.some((e) => e.type === 'llm_request'), 'no LLM call read');
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });

  it('busted enforce with the shipped policies: a prompt with a secret to Ollama is blocked and its connection cut (not held: enforced false)', async () => {
    const agent = await MonitorProcess.start(['--policies', join(PACKAGE_ROOT, 'policies'), '--cgroup', cg.path, '--no-server-side'], 20_000, 'enforce');
    try {
      const posts = [
        { path: '/api/chat', body: chat('llama3.2', `deploy with ${SECRET} (plain-secret)`) },
        { path: '/api/chat', body: chat('llama3.2', 'after the block (plain-after)'), pause: 1.5 },
      ];
      const r = await run(pythonPosts(server.port, posts), inCg());
      assert.equal(r.code, 0, r.stderr);
      const req = await agent.waitFor((e) => e.type === 'llm_request' && e.process?.pid === r.pid, 'the request');
      const d = await agent.waitFor((e) => e.type === 'decision' && e.decision?.subject === req.id, 'its decision');
      assert.equal(d.decision?.action, 'block');
      assert.deepEqual(d.decision?.reasons, ['prompt to ollama contains an AWS access key']);
      assert.equal(d.decision?.enforced, false, 'a plain-text request is not held: it has left');
      const lines = r.stdout.trim().split('\n');
      assert.equal(lines[0], '200');
      assert.match(lines[1] ?? '', /^error /, `the connection was cut: ${r.stdout}`);
      assert.ok(!server.received.some((b) => b.includes('(plain-after)')), 'nothing more went out on it');
      assert.ok(!agent.stdout.includes(SECRET), "the secret appears in busted's output");
    } finally {
      assert.equal(await agent.stop(), 0);
    }
  });
});

