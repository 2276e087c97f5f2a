/**
 * Every provider's API through real clients, as busted sees it from the
 * TLS libraries: curl (libssl, HTTP/1.1 and HTTP/2), python3 (urllib on
 * libssl) and node (fetch and https, its own OpenSSL), each calling a
 * local stand-in (test/helpers/providers.ts) by the provider's own name,
 * resolved through a private /etc/hosts. Assertions are on llm_request and
 * llm_response: provider, model, stream, prompt, tool calls, token usage,
 * and that no credential appears anywhere. The stand-in compresses its
 * answers for clients that accept it, as the providers do (node's fetch
 * always does; `compressed` cases ask for it, and send a gzip'd request).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { MonitorProcess } from '../helpers/agent.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { PROVIDER_NAMES, startProviderServer, USAGE, type ProviderServer } from '../helpers/providers.js';
import { pb } from '../helpers/protobuf.js';

const skip = kernelSkipReason();

type Client = 'curl' | 'curl-h2' | 'python' | 'node-fetch' | 'node-https' | 'node-grpc';

interface Case {
  what: string;
  client: Client;
  host: string;
  path: string;
  body: object;
  /** the credential header, whose value must not appear in the output */
  auth: [string, string];
  /** curl: --compressed; python3: the request gzip'd, and gzip accepted */
  compressed?: boolean;
  /** node-grpc: the request's protobuf message (test/helpers/protobuf.ts) */
  grpc?: Uint8Array;
  want: { provider?: string; model: string; stream: boolean; user: string; system?: string; tools?: string[]; answerModel?: string; toolCalls?: string[]; h2?: boolean };
}

const msgs = (user: string) => [
  { role: 'system', content: 'be terse' },
  { role: 'user', content: user },
];

const CASES: Case[] = [
  {
    what: 'OpenAI chat completions (curl, HTTP/1.1)',
    client: 'curl',
    host: 'api.openai.com',
    path: '/v1/chat/completions',
    body: { model: 'gpt-4o-mini', messages: msgs('q-openai'), tools: [{ type: 'function', function: { name: 'get_weather' } }] },
    auth: ['Authorization', 'Bearer sk-proj-e2eOPENAIkey0123456789abcdef'],
    want: { provider: 'openai', model: 'gpt-4o-mini', stream: false, user: 'q-openai', system: 'be terse', tools: ['get_weather'], answerModel: 'gpt-4o-mini-served', toolCalls: ['get_weather'] },
  },
  {
    what: 'OpenAI responses API streamed (node fetch)',
    client: 'node-fetch',
    host: 'api.openai.com',
    path: '/v1/responses',
    body: { model: 'o4-mini', instructions: 'be terse', input: 'q-responses', stream: true },
    auth: ['Authorization', 'Bearer sk-proj-e2eRESPONSESkey0123456789ab'],
    want: { provider: 'openai', model: 'o4-mini', stream: true, user: 'q-responses', system: 'be terse', answerModel: 'o4-mini-served', toolCalls: ['lookup'] },
  },
  {
    what: 'Anthropic messages streamed (python3)',
    client: 'python',
    host: 'api.anthropic.com',
    path: '/v1/messages',
    body: { model: 'claude-sonnet-4-5', max_tokens: 64, stream: true, system: 'be terse', messages: [{ role: 'user', content: 'q-anthropic' }], tools: [{ name: 'run_shell', input_schema: {} }] },
    auth: ['x-api-key', 'sk-ant-api03-e2eANTHROPICkey0123456789'],
    want: { provider: 'anthropic', model: 'claude-sonnet-4-5', stream: true, user: 'q-anthropic', system: 'be terse', tools: ['run_shell'], answerModel: 'claude-sonnet-4-5-served', toolCalls: ['run_shell'] },
  },
  {
    what: 'Google generateContent (curl, HTTP/2)',
    client: 'curl-h2',
    host: 'generativelanguage.googleapis.com',
    path: '/v1beta/models/gemini-2.5-pro:generateContent',
    body: { contents: [{ role: 'user', parts: [{ text: 'q-google' }] }], systemInstruction: { parts: [{ text: 'be terse' }] }, tools: [{ functionDeclarations: [{ name: 'find_flights' }] }] },
    auth: ['x-goog-api-key', 'AIzaSyE2E-googlekey-0123456789abcdefghij'],
    want: { provider: 'google', model: 'gemini-2.5-pro', stream: false, user: 'q-google', system: 'be terse', tools: ['find_flights'], answerModel: 'gemini-2.5-pro-served', toolCalls: ['find_flights'], h2: true },
  },
  {
    what: 'OpenAI chat, the request and its answer gzip-compressed (python3)',
    client: 'python',
    compressed: true,
    host: 'api.openai.com',
    path: '/v1/chat/completions',
    body: { model: 'gpt-4.1', messages: msgs('q-openai-gzip') },
    auth: ['Authorization', 'Bearer sk-proj-e2eGZIPkey0123456789abcdefgh'],
    want: { provider: 'openai', model: 'gpt-4.1', stream: false, user: 'q-openai-gzip', system: 'be terse', answerModel: 'gpt-4.1-served', toolCalls: ['get_weather'] },
  },
  {
    what: 'Anthropic messages streamed, a br answer (curl --compressed, HTTP/2)',
    client: 'curl-h2',
    compressed: true,
    host: 'api.anthropic.com',
    path: '/v1/messages',
    body: { model: 'claude-opus-4-1', max_tokens: 64, stream: true, messages: [{ role: 'user', content: 'q-anthropic-br' }] },
    auth: ['x-api-key', 'sk-ant-api03-e2eBROTLIkey0123456789ab'],
    want: { provider: 'anthropic', model: 'claude-opus-4-1', stream: true, user: 'q-anthropic-br', answerModel: 'claude-opus-4-1-served', toolCalls: ['run_shell'], h2: true },
  },
  {
    what: 'Gemini API over gRPC, protobuf GenerateContent (node http2)',
    client: 'node-grpc',
    host: 'generativelanguage.googleapis.com',
    path: '/google.ai.generativelanguage.v1beta.GenerativeService/GenerateContent',
    body: {},
    // Content{parts=1 {text=2}, role=2}; request model=1, contents=2, tools=5, system_instruction=8
    grpc: pb([[1, 'models/gemini-2.5-flash'], [2, pb([[1, pb([[2, 'q-grpc']])], [2, 'user']])], [5, pb([[1, pb([[1, 'find_flights']])]])], [8, pb([[1, pb([[2, 'be terse']])]])]]),
    auth: ['x-goog-api-key', 'AIzaSyE2E-grpckey-0123456789abcdefghijkl'],
    want: { provider: 'google', model: 'gemini-2.5-flash', stream: false, user: 'q-grpc', system: 'be terse', tools: ['find_flights'], answerModel: 'gemini-grpc-served', toolCalls: ['find_flights'], h2: true },
  },
  {
    what: 'Vertex AI over gRPC, streamed (node http2)',
    client: 'node-grpc',
    host: 'us-central1-aiplatform.googleapis.com',
    path: '/google.cloud.aiplatform.v1.PredictionService/StreamGenerateContent',
    body: {},
    // Content{role=1, parts=2 {text=1}}; request contents=2, model=5
    grpc: pb([[2, pb([[1, 'user'], [2, pb([[1, 'q-vertex']])]])], [5, 'projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash']]),
    auth: ['authorization', 'Bearer ya29.e2eVERTEXtoken0123456789abcdef'],
    want: { provider: 'google', model: 'gemini-2.0-flash', stream: true, user: 'q-vertex', answerModel: 'gemini-grpc-served', toolCalls: ['find_flights'], h2: true },
  },
  {
    what: 'Bedrock converse (python3)',
    client: 'python',
    host: 'bedrock-runtime.us-east-1.amazonaws.com',
    path: '/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse',
    body: { messages: [{ role: 'user', content: [{ text: 'q-bedrock' }] }], system: [{ text: 'be terse' }] },
    auth: ['Authorization', 'AWS4-HMAC-SHA256 Credential=AKIAE2E0123456789ABC/20261123/us-east-1/bedrock/aws4_request, Signature=abcdef'],
    want: { provider: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', stream: false, user: 'q-bedrock', system: 'be terse', toolCalls: ['query_db'] },
  },
  {
    what: 'Cohere v2 chat (node https)',
    client: 'node-https',
    host: 'api.cohere.com',
    path: '/v2/chat',
    body: { model: 'command-r-plus', messages: msgs('q-cohere') },
    auth: ['Authorization', 'Bearer co-e2eCOHEREkey0123456789abcdefghij'],
    want: { provider: 'cohere', model: 'command-r-plus', stream: false, user: 'q-cohere', system: 'be terse' },
  },
  {
    what: 'Mistral chat streamed (curl, HTTP/2)',
    client: 'curl-h2',
    host: 'api.mistral.ai',
    path: '/v1/chat/completions',
    body: { model: 'mistral-large-latest', stream: true, messages: msgs('q-mistral') },
    auth: ['Authorization', 'Bearer e2eMISTRALkey0123456789abcdefghijk'],
    want: { provider: 'mistral', model: 'mistral-large-latest', stream: true, user: 'q-mistral', system: 'be terse', answerModel: 'mistral-large-latest-served', h2: true },
  },
  {
    what: 'Azure OpenAI deployment (python3)',
    client: 'python',
    host: 'contoso.openai.azure.com',
    path: '/openai/deployments/prod-gpt4o/chat/completions?api-version=2024-10-21',
    body: { messages: msgs('q-azure') },
    auth: ['api-key', 'e2eAZUREkey0123456789abcdef0123456'],
    want: { provider: 'azure_openai', model: 'prod-gpt4o', stream: false, user: 'q-azure', system: 'be terse', answerModel: 'm-served', toolCalls: ['get_weather'] },
  },
  {
    what: 'Groq, OpenAI-compatible (node fetch)',
    client: 'node-fetch',
    host: 'api.groq.com',
    path: '/openai/v1/chat/completions',
    body: { model: 'llama-3.3-70b-versatile', messages: msgs('q-groq') },
    auth: ['Authorization', 'Bearer gsk_e2eGROQkey0123456789abcdefghijklmn'],
    want: { provider: 'groq', model: 'llama-3.3-70b-versatile', stream: false, user: 'q-groq', answerModel: 'llama-3.3-70b-versatile-served', toolCalls: ['get_weather'] },
  },
  {
    what: 'a corporate gateway on its own path, known by the body alone (curl)',
    client: 'curl',
    host: 'llm-gateway.corp.example',
    path: '/llm/v1/invoke',
    body: { model: 'corp-gpt', messages: msgs('q-gateway') },
    auth: ['Authorization', 'Bearer corp-e2eGATEWAYtoken0123456789'],
    want: { model: 'corp-gpt', stream: false, user: 'q-gateway', answerModel: 'corp-gpt-served', toolCalls: ['get_weather'] },
  },
  {
    what: 'Ollama chat, NDJSON stream (node https)',
    client: 'node-https',
    host: 'llm-gateway.corp.example',
    path: '/api/chat',
    body: { model: 'llama3.2', messages: msgs('q-ollama') },
    auth: ['Authorization', 'Bearer ollama-e2eTOKEN0123456789'],
    want: { provider: 'ollama', model: 'llama3.2', stream: true, user: 'q-ollama', answerModel: 'llama3.2-served' },
  },
];

function command(c: Case, port: number, ca: string): string[] {
  const url = `https://${c.host}:${port}${c.path}`;
  const body = JSON.stringify(c.body);
  const [hk, hv] = c.auth;
  switch (c.client) {
    case 'curl':
    case 'curl-h2':
      return ['curl', '-sS', '-f', c.client === 'curl-h2' ? '--http2' : '--http1.1', ...(c.compressed ? ['--compressed'] : []), '--cacert', ca, '-H', `${hk}: ${hv}`, '-H', 'content-type: application/json', '--data-binary', body, '-o', '/dev/null', url];
    case 'python':
      return [
        PYTHON,
        '-c',
        `import gzip, ssl, urllib.request
ctx = ssl.create_default_context(cafile=${JSON.stringify(ca)})
data = ${JSON.stringify(body)}.encode()
headers = {${JSON.stringify(hk)}: ${JSON.stringify(hv)}, "content-type": "application/json"}
if ${c.compressed ? 'True' : 'False'}:
    data = gzip.compress(data)
    headers.update({"content-encoding": "gzip", "accept-encoding": "gzip"})
res = urllib.request.urlopen(urllib.request.Request(${JSON.stringify(url)}, data=data, headers=headers), context=ctx)
res.read()
assert res.headers.get("content-encoding") == ${c.compressed ? '"gzip"' : 'None'}, res.headers.get("content-encoding")`,
      ];
    case 'node-fetch':
      return [process.execPath, '-e', `fetch(${JSON.stringify(url)}, { method: 'POST', headers: { ${JSON.stringify(hk)}: ${JSON.stringify(hv)}, 'content-type': 'application/json' }, body: ${JSON.stringify(body)} }).then((r) => r.text().then(() => process.exit(r.ok ? 0 : 3)), (e) => { console.error(e); process.exit(4); });`];
    case 'node-grpc':
      return [
        process.execPath,
        '-e',
        `const http2 = require('http2');
const s = http2.connect(${JSON.stringify(`https://${c.host}:${port}`)}, { ca: require('fs').readFileSync(${JSON.stringify(ca)}) });
s.on('error', (e) => { console.error(e); process.exit(4); });
const msg = Buffer.from(${JSON.stringify(Buffer.from(c.grpc!).toString('hex'))}, 'hex');
const frame = Buffer.alloc(5 + msg.length);
frame.writeUInt32BE(msg.length, 1);
msg.copy(frame, 5);
const req = s.request({ ':method': 'POST', ':path': ${JSON.stringify(c.path)}, 'content-type': 'application/grpc', te: 'trailers', ${JSON.stringify(hk)}: ${JSON.stringify(hv)} });
let status;
req.on('trailers', (t) => (status = t['grpc-status']));
req.on('data', () => {});
req.on('end', () => { s.close(); process.exit(status === '0' ? 0 : 3); });
req.end(frame);`,
      ];
    case 'node-https':
      return [
        process.execPath,
        '-e',
        `const req = require('https').request(${JSON.stringify(url)}, { method: 'POST', ca: require('fs').readFileSync(${JSON.stringify(ca)}), headers: { ${JSON.stringify(hk)}: ${JSON.stringify(hv)}, 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 3)); });
req.on('error', (e) => { console.error(e); process.exit(4); });
req.end(${JSON.stringify(body)});`,
      ];
  }
}

describe('every provider through real clients', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: ProviderServer;
  let agent: MonitorProcess;
  let dir: string;
  let hosts: string;

  before(async () => {
    cg = new TestCgroup();
    pki = makePki(PROVIDER_NAMES);
    server = await startProviderServer(pki);
    dir = mkdtempSync(join(tmpdir(), 'busted-prov-'));
    hosts = join(dir, 'hosts');
    writeFileSync(hosts, `127.0.0.1 localhost ${PROVIDER_NAMES.join(' ')}\n`);
    agent = await MonitorProcess.start(['--cgroup', cg.path]);
  });

  after(async () => {
    const code = await agent?.stop();
    await server?.close();
    await cg?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    assert.equal(code, 0, `monitor exited ${code}: ${agent?.stderr}`);
  });

  for (const c of CASES) {
    it(c.what, async () => {
      const r = await run(command(c, server.port, pki.caCert), { cgroup: cg.path, hosts, env: { NODE_EXTRA_CA_CERTS: pki.caCert } });
      assert.equal(r.code, 0, `${r.stderr}\nserver saw: ${server.hits.join(', ')}`);
      const mine = (e: BustedEvent) => e.process?.pid === r.pid;
      const lr = await agent.waitFor((e) => mine(e) && e.type === 'llm_request', `${c.what}: llm_request`);
      const w = c.want;
      assert.equal(lr.provider, w.provider, 'provider');
      assert.equal(lr.llm?.model, w.model, 'model');
      assert.equal(lr.llm?.stream, w.stream, 'stream');
      assert.equal(lr.llm?.user_message, w.user, 'user_message');
      if (w.system) assert.equal(lr.llm?.system_prompt, w.system, 'system_prompt');
      if (w.tools) assert.deepEqual(lr.llm?.tools, w.tools, 'tools');
      assert.equal(lr.http?.host, c.host);
      assert.equal(lr.http?.version, w.h2 ? '2' : undefined);
      // who made the call, by its User-Agent (node's https module sends none; its fetch sends `node`, no version)
      const byClient: Record<string, string | undefined> = { curl: 'curl', 'curl-h2': 'curl', python: 'Python-urllib' };
      assert.equal(lr.llm?.client?.name, byClient[c.client], 'client');
      const ls = await agent.waitFor((e) => mine(e) && e.type === 'llm_response', `${c.what}: llm_response`);
      assert.equal(ls.http?.status, 200);
      assert.equal(ls.provider, w.provider);
      assert.deepEqual(ls.llm?.usage, { input_tokens: USAGE.input, output_tokens: USAGE.output }, 'usage');
      assert.equal(ls.llm?.model, w.answerModel ?? w.model, "the answer's model");
      assert.equal(ls.llm?.stream, w.stream);
      assert.deepEqual(ls.llm?.tool_calls, w.toolCalls, 'tool calls');
      assert.deepEqual(ls.llm?.client, lr.llm?.client, "the answer's client is its request's");
      const secret = c.auth[1].split(/[\s=]/).find((x) => x.length >= 20)!;
      assert.ok(!JSON.stringify(agent.events).includes(secret), `the credential ${c.auth[0]} appears nowhere`);
    });
  }
});
