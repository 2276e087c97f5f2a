// Which SDK, agent or HTTP client made an LLM call (engine/interpret/client.ts),
// from the headers real clients send (taken from their sources and captures).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { clientOf } from '../../engine/interpret/client.js';
import { AppLayer } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';

describe('clientOf', () => {
  const cases: [string, Record<string, string>, ReturnType<typeof clientOf>][] = [
    ['openai-python (Stainless)', { 'user-agent': 'OpenAI/Python 1.40.0', 'x-stainless-lang': 'python', 'x-stainless-package-version': '1.40.0', 'x-stainless-runtime': 'CPython' }, { name: 'openai-python', version: '1.40.0', language: 'python' }],
    ['its async client', { 'user-agent': 'AsyncOpenAI/Python 1.40.0', 'x-stainless-lang': 'python', 'x-stainless-package-version': '1.40.0' }, { name: 'openai-python', version: '1.40.0', language: 'python' }],
    ['openai-node', { 'user-agent': 'OpenAI/JS 4.56.0', 'x-stainless-lang': 'js', 'x-stainless-package-version': '4.56.0' }, { name: 'openai-js', version: '4.56.0', language: 'js' }],
    ['anthropic-python', { 'user-agent': 'Anthropic/Python 0.34.2', 'x-stainless-lang': 'python', 'x-stainless-package-version': '0.34.2' }, { name: 'anthropic-python', version: '0.34.2', language: 'python' }],
    ['a Stainless SDK whose User-Agent was replaced', { 'user-agent': 'my-agent/2.0', 'x-stainless-lang': 'go', 'x-stainless-package-version': '0.1.0' }, { name: 'stainless-go', version: '0.1.0', language: 'go' }],
    ['google-genai', { 'user-agent': 'google-genai-sdk/1.2.0 gl-python/3.11.4', 'x-goog-api-client': 'google-genai-sdk/1.2.0 gl-python/3.11.4' }, { name: 'google-genai', version: '1.2.0', language: 'python' }],
    ['boto3 (Bedrock)', { 'user-agent': 'Boto3/1.34.144 md/Botocore#1.34.144 ua/2.0 os/linux#6.1 md/arch#x86_64 lang/python#3.11.2 md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.34.144' }, { name: 'boto3', version: '1.34.144', language: 'python' }],
    ['aws-sdk-js v3', { 'user-agent': 'aws-sdk-js/3.600.0 ua/2.0 os/linux#6.1 lang/js md/nodejs#20.11.0 api/bedrock-runtime#3.600.0' }, { name: 'aws-sdk-js', version: '3.600.0', language: 'js' }],
    ['cohere (Fern)', { 'user-agent': 'cohere/5.9.0', 'x-fern-sdk-name': 'cohere', 'x-fern-sdk-version': '5.9.0', 'x-fern-language': 'Python' }, { name: 'cohere', version: '5.9.0', language: 'python' }],
    ['Claude Code', { 'user-agent': 'claude-cli/1.0.83 (external, cli)', 'x-app': 'cli' }, { name: 'claude-cli', version: '1.0.83' }],
    ['ollama-python', { 'user-agent': 'ollama-python/0.3.3 (x86_64 linux) Python/3.11.2' }, { name: 'ollama-python', version: '0.3.3' }],
    ['curl', { 'user-agent': 'curl/7.88.1' }, { name: 'curl', version: '7.88.1', language: 'c' }],
    ['python urllib', { 'user-agent': 'Python-urllib/3.11' }, { name: 'Python-urllib', version: '3.11', language: 'python' }],
    ['httpx', { 'user-agent': 'python-httpx/0.27.0' }, { name: 'python-httpx', version: '0.27.0', language: 'python' }],
    ['Go', { 'user-agent': 'Go-http-client/2.0' }, { name: 'Go-http-client', version: '2.0', language: 'go' }],
    ['no User-Agent', {}, undefined],
    ['a User-Agent with no product/version', { 'user-agent': 'node' }, undefined],
    ['a browser', { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36' }, { name: 'Mozilla', version: '5.0' }],
  ];
  for (const [what, headers, want] of cases) {
    it(what, () => assert.deepEqual(clientOf(headers), want));
  }

  it('keeps each field to 128 characters', () => {
    const c = clientOf({ 'user-agent': `${'a'.repeat(300)}/${'1'.repeat(300)}` })!;
    assert.equal(c.name.length, 128);
    assert.equal(c.version?.length, 128);
  });
});

describe('AppLayer: the client of an LLM call', () => {
  const enc = new TextEncoder();
  const call = (direction: 'write' | 'read', data: string): TlsCall => {
    const bytes = enc.encode(data);
    return { pid: 7, ssl: 's1', direction, len: bytes.length, data: bytes, first: undefined as never, conn: { sni: 'api.openai.com' }, gated: false, callId: '1' };
  };

  it('on the request and its answer, with the User-Agent; a key in either is redacted', () => {
    const app = new AppLayer(new ProviderTable(), true);
    const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'hi' }] });
    const key = 'sk-proj-abcdefghijklmnopqrstuvwxyz012345';
    const head = `POST /v1/chat/completions HTTP/1.1\r\nHost: api.openai.com\r\nUser-Agent: OpenAI/Python 1.40.0 (${key})\r\nX-Stainless-Lang: python\r\nX-Stainless-Package-Version: 1.40.0\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    const req = app.feed(call('write', head + body)).found[0]!;
    assert.equal(req.type, 'llm_request');
    if (req.type !== 'llm_request') return;
    assert.deepEqual(req.llm.client, { name: 'openai-python', version: '1.40.0', language: 'python' });
    assert.match(req.http.user_agent ?? '', /^OpenAI\/Python 1\.40\.0 \(\[REDACTED/);
    const answer = JSON.stringify({ model: 'gpt-4o-mini-2024-07-18', choices: [], usage: { prompt_tokens: 3, completion_tokens: 1 } });
    const res = app.feed(call('read', `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${answer.length}\r\n\r\n${answer}`)).found[0]!;
    assert.equal(res.type, 'llm_response');
    if (res.type !== 'llm_response') return;
    assert.deepEqual(res.llm.client, { name: 'openai-python', version: '1.40.0', language: 'python' });
    assert.ok(!JSON.stringify([req, res]).includes(key));
  });

  it('a request that is no AI traffic does not have its headers looked at', () => {
    const app = new AppLayer(new ProviderTable(), true);
    const found = app.feed(call('write', 'GET /static/app.js HTTP/1.1\r\nHost: cdn.example.net\r\nUser-Agent: curl/8.0\r\n\r\n')).found;
    assert.deepEqual(found, []);
  });
});
