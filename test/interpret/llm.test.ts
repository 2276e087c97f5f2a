// LLM API shapes, from each provider's API reference (see
// engine/interpret/llm.ts): request fields (model, stream, prompts, tools)
// and answer fields (model, usage) for every API busted recognises, and
// MCP JSON-RPC messages (the MCP specification, "Base Protocol").
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { spawnSync } from 'node:child_process';
import { CONTEXT_SHOWN, jsonText, llmRequest, llmResponse, mcpMessages, parseJson, shownContext } from '../../engine/interpret/llm.js';
import { PYTHON } from '../../engine/demo/spawn.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

describe('llmRequest', () => {
  it('recognises each API by path and body, and extracts model, stream, prompts and tools', () => {
    const cases: Array<[string, unknown, object]> = [
      ['/v1/chat/completions', { model: 'gpt-4o', stream: true, messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: [{ type: 'text', text: 'hi' }] }], tools: [{ type: 'function', function: { name: 'f' } }] }, { api: 'openai_chat', model: 'gpt-4o', stream: true, system_prompt: 'sys', user_message: 'hi', tools: ['f'] }],
      ['/openai/deployments/my-gpt/chat/completions?api-version=2024-10-21', { messages: [{ role: 'user', content: 'q' }] }, { api: 'openai_chat', model: 'my-gpt', user_message: 'q' }],
      ['/v1/responses', { model: 'o4-mini', instructions: 'be nice', input: 'what?' }, { api: 'openai_responses', model: 'o4-mini', system_prompt: 'be nice', user_message: 'what?' }],
      ['/v1/messages', { model: 'claude-x', system: [{ type: 'text', text: 'S' }], messages: [{ role: 'user', content: 'u1' }, { role: 'assistant', content: 'a' }, { role: 'user', content: 'u2' }], tools: [{ name: 't1' }] }, { api: 'anthropic', model: 'claude-x', system_prompt: 'S', user_message: 'u2', tools: ['t1'] }],
      ['/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', { contents: [{ role: 'user', parts: [{ text: 'g' }] }], systemInstruction: { parts: [{ text: 'gs' }] }, tools: [{ functionDeclarations: [{ name: 'fd' }] }] }, { api: 'google', model: 'gemini-2.5-flash', stream: true, system_prompt: 'gs', user_message: 'g', tools: ['fd'] }],
      ['/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse', { messages: [{ role: 'user', content: [{ text: 'b' }] }], system: [{ text: 'bs' }] }, { api: 'bedrock', model: 'anthropic.claude-3-haiku-20240307-v1:0', stream: false, system_prompt: 'bs', user_message: 'b' }],
      ['/v2/chat', { model: 'command-r', messages: [{ role: 'user', content: 'c' }] }, { api: 'cohere', model: 'command-r', user_message: 'c' }],
      ['/api/chat', { model: 'llama3', messages: [{ role: 'user', content: 'o' }] }, { api: 'ollama', model: 'llama3', stream: true, user_message: 'o' }],
      ['/api/generate', { model: 'llama3', prompt: 'p', system: 's', stream: false }, { api: 'ollama', model: 'llama3', stream: false, user_message: 'p', system_prompt: 's' }],
    ];
    for (const [path, body, want] of cases) {
      const got = llmRequest('POST', path, body);
      assert.ok(got, path);
      const { api, ...fields } = want as { api: string };
      assert.equal(got.api, api, path);
      for (const [k, v] of Object.entries(fields)) assert.deepEqual((got.info as Record<string, unknown>)[k], v, `${path} ${k}`);
    }
  });

  it('is not fooled by other traffic', () => {
    assert.equal(llmRequest('GET', '/v1/chat/completions', undefined), undefined);
    assert.equal(llmRequest('POST', '/v1/messages', { text: 'a chat app, not Anthropic' }), undefined);
    assert.equal(llmRequest('POST', '/upload', { model: 'x' }), undefined);
  });
});

describe('llmResponse', () => {
  it('reads usage from JSON answers of every shape', () => {
    assert.deepEqual(llmResponse(enc({ model: 'gpt-4o-2024', usage: { prompt_tokens: 1, completion_tokens: 2 } }), 'application/json'), { model: 'gpt-4o-2024', usage: { input_tokens: 1, output_tokens: 2 } });
    assert.deepEqual(llmResponse(enc({ usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 4 }, modelVersion: 'gemini-x' }), 'application/json'), { model: 'gemini-x', usage: { input_tokens: 3, output_tokens: 4 } });
    assert.deepEqual(llmResponse(enc({ usage: { inputTokens: 5, outputTokens: 6 } }), 'application/json').usage, { input_tokens: 5, output_tokens: 6 });
    assert.deepEqual(llmResponse(enc({ meta: { billed_units: { input_tokens: 7, output_tokens: 8 } } }), 'application/json').usage, { input_tokens: 7, output_tokens: 8 });
    // Cohere v2, and the OpenAI responses API's completed event
    assert.deepEqual(llmResponse(enc({ usage: { billed_units: { input_tokens: 9, output_tokens: 10 }, tokens: { input_tokens: 90, output_tokens: 100 } } }), 'application/json').usage, { input_tokens: 9, output_tokens: 10 });
    assert.deepEqual(llmResponse(enc(`event: response.completed\ndata: ${JSON.stringify({ type: 'response.completed', response: { usage: { input_tokens: 3, output_tokens: 4 } } })}\n\n`), 'text/event-stream').usage, { input_tokens: 3, output_tokens: 4 });
  });

  it('reads streamed answers: OpenAI chunks with a final usage, Ollama NDJSON', () => {
    const sse = ['data: {"model":"gpt-4o","choices":[{"delta":{"content":"a"}}]}', 'data: {"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":10}}', 'data: [DONE]', ''].join('\n\n');
    assert.deepEqual(llmResponse(enc(sse), 'text/event-stream'), { stream: true, model: 'gpt-4o', usage: { input_tokens: 9, output_tokens: 10 } });
    const nd = '{"model":"llama3","message":{"content":"a"},"done":false}\n{"model":"llama3","done":true,"prompt_eval_count":11,"eval_count":12}\n';
    assert.deepEqual(llmResponse(enc(nd), 'application/x-ndjson'), { stream: true, model: 'llama3', usage: { input_tokens: 11, output_tokens: 12 } });
  });
});

describe('mcpMessages', () => {
  it('requests, notifications, responses, batches and SSE-carried messages', () => {
    assert.deepEqual(mcpMessages(enc({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'shell' } }), 'application/json'), [{ kind: 'request', method: 'tools/call', id: 1, tool: 'shell' }]);
    assert.deepEqual(mcpMessages(enc([{ jsonrpc: '2.0', method: 'notifications/initialized' }, { jsonrpc: '2.0', id: 'a', method: 'resources/read', params: { uri: 'file:///etc/passwd' } }]), 'application/json'), [
      { kind: 'notification', method: 'notifications/initialized' },
      { kind: 'request', method: 'resources/read', id: 'a', tool: 'file:///etc/passwd' },
    ]);
    assert.deepEqual(mcpMessages(enc('event: message\ndata: {"jsonrpc":"2.0","id":3,"result":{}}\n\n'), 'text/event-stream'), [{ kind: 'response', id: 3 }]);
    assert.deepEqual(mcpMessages(enc({ id: 1, method: 'x' }), 'application/json'), []); // not JSON-RPC 2.0
  });

  it('an event stream whose content type is not known (an HTTP/2 answer read part way: its header from an HPACK entry not seen) is known by its text', () => {
    const sse = enc('event: message\ndata: {"jsonrpc":"2.0","id":4,"result":{}}\n\n');
    assert.deepEqual(mcpMessages(sse, undefined), [{ kind: 'response', id: 4 }]);
    assert.deepEqual(mcpMessages(enc('id: 9\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n'), undefined), [{ kind: 'notification', method: 'notifications/progress' }]);
    // a content type that says otherwise is believed: the text is not sniffed
    assert.deepEqual(mcpMessages(sse, 'text/plain'), []);
  });
});

describe('tool calls, Mistral and OpenAI-compatible gateways', () => {
  it('names the tools a model called, in every API, streamed or not, each call once', () => {
    const sse = (...evs: object[]) => enc(evs.map((e) => `data: ${JSON.stringify(e)}\n\n`).join(''));
    const cases: Array<[string, Uint8Array, string | undefined, string[]]> = [
      ['openai chat', enc({ choices: [{ message: { role: 'assistant', tool_calls: [{ id: 'c1', type: 'function', function: { name: 'get_weather', arguments: '{}' } }, { id: 'c2', type: 'function', function: { name: 'send_email' } }] } }] }), 'application/json', ['get_weather', 'send_email']],
      ['openai chat stream', sse({ choices: [{ delta: { tool_calls: [{ index: 0, id: 'c1', function: { name: 'get_weather', arguments: '' } }] } }] }, { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] } }] }), 'text/event-stream', ['get_weather']],
      ['openai responses stream', sse({ type: 'response.output_item.added', item: { type: 'function_call', id: 'fc1', call_id: 'call1', name: 'lookup' } }, { type: 'response.completed', response: { output: [{ type: 'function_call', id: 'fc1', call_id: 'call1', name: 'lookup' }] } }), 'text/event-stream', ['lookup']],
      ['anthropic', enc({ type: 'message', role: 'assistant', content: [{ type: 'text', text: 'ok' }, { type: 'tool_use', id: 'tu1', name: 'run_shell', input: {} }] }), 'application/json', ['run_shell']],
      ['anthropic stream', sse({ type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'tu1', name: 'run_shell', input: {} } }), 'text/event-stream', ['run_shell']],
      ['google', enc({ candidates: [{ content: { role: 'model', parts: [{ functionCall: { name: 'find_flights', args: {} } }] } }] }), 'application/json', ['find_flights']],
      ['bedrock converse', enc({ output: { message: { role: 'assistant', content: [{ toolUse: { toolUseId: 't1', name: 'query_db', input: {} } }] } } }), 'application/json', ['query_db']],
      ['cohere v2', enc({ message: { role: 'assistant', tool_calls: [{ id: 'x', type: 'function', function: { name: 'search' } }] } }), 'application/json', ['search']],
      ['ollama', enc({ model: 'llama3', message: { role: 'assistant', tool_calls: [{ function: { name: 'calc', arguments: {} } }] }, done: true }), 'application/json', ['calc']],
      ['no calls', enc({ choices: [{ message: { role: 'assistant', content: 'hi' } }] }), 'application/json', []],
    ];
    for (const [what, body, ct, want] of cases) assert.deepEqual(llmResponse(body, ct).tool_calls ?? [], want, what);
  });

  it('a request carries the tool calls of its last assistant turn (the results it sends back)', () => {
    const openai = llmRequest('POST', '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', tool_calls: [{ id: 'c', function: { name: 'get_weather' } }] }, { role: 'tool', tool_call_id: 'c', content: 'sunny' }] });
    assert.deepEqual(openai?.info.tool_calls, ['get_weather']);
    const anthropic = llmRequest('POST', '/v1/messages', { model: 'm', messages: [{ role: 'user', content: 'q' }, { role: 'assistant', content: [{ type: 'tool_use', id: 't', name: 'run_shell', input: {} }] }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: 't', content: 'ok' }] }] });
    assert.deepEqual(anthropic?.info.tool_calls, ['run_shell']);
    const google = llmRequest('POST', '/v1beta/models/gemini-2.5-pro:generateContent', { contents: [{ role: 'model', parts: [{ functionCall: { name: 'find_flights' } }] }, { role: 'user', parts: [{ functionResponse: { name: 'find_flights' } }] }] });
    assert.deepEqual(google?.info.tool_calls, ['find_flights']);
    assert.equal(llmRequest('POST', '/v1/chat/completions', { model: 'm', messages: [{ role: 'user', content: 'q' }] })?.info.tool_calls, undefined);
  });

  it('recognises Mistral agents and fill-in-the-middle, and any gateway path by the body', () => {
    assert.equal(llmRequest('POST', '/v1/agents/completions', { agent_id: 'ag:1', messages: [{ role: 'user', content: 'a' }] })?.api, 'openai_chat');
    const fim = llmRequest('POST', '/v1/fim/completions', { model: 'codestral-latest', prompt: 'def f(', suffix: 'return x' });
    assert.equal(fim?.api, 'openai_completions');
    assert.equal(fim?.info.user_message, 'def f(');
    const gw = llmRequest('POST', '/llm-gateway/invoke', { model: 'corp-gpt', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }] });
    assert.equal(gw?.api, 'openai_chat');
    assert.equal(gw?.info.model, 'corp-gpt');
    assert.equal(gw?.info.user_message, 'u');
    assert.equal(llmRequest('POST', '/api/comments', { model: 'x', messages: ['not', 'chat'] }), undefined);
  });
});

describe('JSON bodies in the encodings Python servers read (json.detect_encoding)', () => {
  // what FastAPI/Starlette (vLLM, LiteLLM's proxy) do with a body: json.loads(bytes), which takes
  // UTF-8 (with or without BOM), UTF-16 and UTF-32 (with a BOM, or by where the first bytes are zero)
  const ENCODINGS = ['utf-8', 'utf-8-sig', 'utf-16', 'utf-16-le', 'utf-16-be', 'utf-32', 'utf-32-le', 'utf-32-be'];
  const prompt = 'deploy with AKIAABCDEFGHIJKLMNOP, caf\u00e9 \u{1F600}';
  const body = JSON.stringify({ model: 'gpt-4o', messages: [{ role: 'user', content: prompt }] });

  it('reads a body in each of them as Python does (the bodies made, and read back, by python3)', () => {
    const py = spawnSync(PYTHON, ['-c', `import json, sys
b = sys.stdin.buffer.read().decode("utf-8")
out = {}
for enc in ${JSON.stringify(ENCODINGS)}:
    data = b.encode(enc)
    json.loads(data)  # the server side: it reads every one of them
    out[enc] = data.hex()
print(json.dumps(out))`], { input: body, encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const made = JSON.parse(py.stdout) as Record<string, string>;
    for (const e of ENCODINGS) {
      const bytes = new Uint8Array(Buffer.from(made[e]!, 'hex'));
      const call = llmRequest('POST', '/v1/chat/completions', parseJson(bytes));
      assert.equal(call?.info.user_message, prompt, e);
    }
  });

  it('takes NaN, Infinity and -Infinity where Python does (outside strings), and nothing else JSON.parse refuses', () => {
    const body = '{"model":"gpt-4o","temperature":NaN,"top_p":-Infinity,"x":[Infinity],"messages":[{"role":"user","content":"NaN \\"Infinity\\" AKIAABCDEFGHIJKLMNOP"}]}';
    const py = spawnSync(PYTHON, ['-c', 'import json, sys; print(json.loads(sys.stdin.read())["messages"][0]["content"])'], { input: body, encoding: 'utf8' });
    assert.equal(py.status, 0, py.stderr);
    const v = parseJson(enc(body)) as { temperature: unknown; top_p: unknown; messages: { content: string }[] };
    assert.equal(v.messages[0]!.content, py.stdout.trim(), 'the strings are as Python reads them');
    assert.equal(v.temperature, null);
    assert.equal(v.top_p, null);
    assert.equal(llmRequest('POST', '/v1/chat/completions', v)?.info.user_message, 'NaN "Infinity" AKIAABCDEFGHIJKLMNOP');
    // Python refuses these too: still no JSON
    for (const bad of ['{"a": nan}', '{"a": NaN,}', '{"a": +Infinity}']) assert.equal(parseJson(enc(bad)), undefined, bad);
  });

  it('leaves UTF-8 text alone, and a body too short to tell as UTF-8', () => {
    assert.equal(jsonText(enc('{"a":1}')), '{"a":1}');
    assert.equal(jsonText(enc('1')), '1');
    assert.equal(jsonText(Uint8Array.of(0x31, 0x00)), '1');
    // a UTF-32 unit past U+10FFFF is a replacement character, not a throw
    assert.equal(jsonText(Uint8Array.of(0x22, 0, 0, 0, 0xff, 0xff, 0x11, 0, 0x22, 0, 0, 0)), '"\ufffd"');
  });
});

describe('model APIs that are no chat: embeddings, moderation, images, speech, token counts', () => {
  it('are LLM requests with their input as the user message and the rest as context', () => {
    const cases: Array<[string, object, object]> = [
      ['/v1/embeddings', { model: 'text-embedding-3-small', input: ['AKIAABCDEFGHIJKLMNOP', 'b'] }, { endpoint: '/v1/embeddings', stream: false, model: 'text-embedding-3-small', user_message: 'AKIAABCDEFGHIJKLMNOP\nb' }],
      ['/v1/moderations', { input: 'is this ok?' }, { endpoint: '/v1/moderations', stream: false, user_message: 'is this ok?' }],
      ['/v1/images/generations', { model: 'gpt-image-1', prompt: 'a cat', size: '1024x1024' }, { endpoint: '/v1/images/generations', stream: false, model: 'gpt-image-1', user_message: 'a cat', context: '1024x1024' }],
      ['/v1/messages/count_tokens', { model: 'claude-x', messages: [{ role: 'user', content: 'count me' }] }, { endpoint: '/v1/messages/count_tokens', stream: false, model: 'claude-x', context: 'count me' }],
      ['/v1beta/models/text-embedding-004:embedContent', { content: { parts: [{ text: 'embed me' }] } }, { endpoint: '/v1beta/models/text-embedding-004:embedContent', stream: false, model: 'text-embedding-004', context: 'embed me' }],
      ['/openai/deployments/emb/embeddings', { input: 'x' }, { endpoint: '/openai/deployments/emb/embeddings', stream: false, model: 'emb', user_message: 'x' }],
      ['/api/embed', { model: 'nomic-embed-text', input: 'y' }, { endpoint: '/api/embed', stream: false, model: 'nomic-embed-text', user_message: 'y' }],
    ];
    for (const [path, body, info] of cases) {
      const call = llmRequest('POST', path, body);
      assert.equal(call?.api, 'other', path);
      assert.deepEqual(call?.info, info, path);
    }
    // their answers' usage is read as any other's
    assert.deepEqual(llmResponse(enc({ object: 'list', data: [], model: 'text-embedding-3-small', usage: { prompt_tokens: 8, total_tokens: 8 } }), 'application/json').usage, { input_tokens: 8 });
  });
});

describe('mcp.context: what an MCP request sends besides its method and tool', () => {
  it('a tool call\'s arguments, a notification\'s params, an answer\'s content; nothing for a call without params', () => {
    const ms = mcpMessages(
      enc([
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'send_message', arguments: { channel: '#ops', text: 'AKIAABCDEFGHIJKLMNOP', n: 3 } } },
        { jsonrpc: '2.0', method: 'notifications/message', params: { level: 'info', data: 'hello' } },
        { jsonrpc: '2.0', id: 2, method: 'resources/read', params: { uri: 'file:///etc/passwd' } },
        { jsonrpc: '2.0', id: 1, result: { content: [{ type: 'text', text: 'sent' }] } },
        { jsonrpc: '2.0', id: 3, method: 'tools/list' },
      ]),
      'application/json',
    );
    assert.deepEqual(ms, [
      { kind: 'request', method: 'tools/call', id: 1, tool: 'send_message', context: '#ops\nAKIAABCDEFGHIJKLMNOP' },
      { kind: 'notification', method: 'notifications/message', context: 'info\nhello' },
      { kind: 'request', method: 'resources/read', id: 2, tool: 'file:///etc/passwd' },
      { kind: 'response', id: 1, context: 'sent' },
      { kind: 'request', method: 'tools/list', id: 3 },
    ]);
  });
});

describe('llm.context: what else a request sends', () => {
  it('OpenAI chat: earlier turns, a tool call\'s arguments and the tool\'s result, in body order; not the model, roles, nor the two prompts', () => {
    const body = {
      model: 'gpt-4o',
      messages: [
        { role: 'system', content: 'be terse' },
        { role: 'user', content: 'read my AWS config' },
        { role: 'assistant', content: null, tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'read_file', arguments: '{"path":"~/.aws/credentials"}' } }] },
        { role: 'tool', tool_call_id: 'call_1', content: 'aws_access_key_id = AKIAABCDEFGHIJKLMNOP' },
        { role: 'user', content: 'summarise it' },
      ],
      user: 'alice@example.com',
    };
    const info = llmRequest('POST', '/v1/chat/completions', body)!.info;
    assert.equal(info.user_message, 'summarise it');
    assert.equal(info.system_prompt, 'be terse');
    assert.equal(info.context, ['read my AWS config', 'call_1', 'read_file', '{"path":"~/.aws/credentials"}', 'call_1', 'aws_access_key_id = AKIAABCDEFGHIJKLMNOP', 'alice@example.com'].join('\n'));
  });

  it('Anthropic tool_result blocks and tool_use input, Google functionResponse parts, Bedrock toolResult', () => {
    const a = llmRequest('POST', '/v1/messages', {
      model: 'claude-x',
      messages: [
        { role: 'user', content: 'q' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'tu1', name: 'sh', input: { cmd: 'env' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: [{ type: 'text', text: 'GITHUB_TOKEN=ghp_x' }] }] },
        { role: 'user', content: 'and now?' },
      ],
    })!.info;
    assert.match(a.context!, /^q\ntu1\nsh\nenv\ntu1\nGITHUB_TOKEN=ghp_x$/);
    const g = llmRequest('POST', '/v1beta/models/gemini-2.5-pro:generateContent', {
      contents: [{ role: 'user', parts: [{ text: 'hi' }] }, { role: 'model', parts: [{ functionCall: { name: 'env', args: {} } }] }, { role: 'user', parts: [{ functionResponse: { name: 'env', response: { out: 'SECRET=1' } } }] }],
    })!.info;
    // the last user turn with text is 'hi' (user_message): the function's response is context
    assert.equal(g.user_message, 'hi');
    assert.equal(g.context, 'env\nenv\nSECRET=1');
    const b = llmRequest('POST', '/model/m/converse', { messages: [{ role: 'user', content: [{ toolResult: { toolUseId: 't', content: [{ json: { key: 'k-123' } }] } }] }, { role: 'user', content: [{ text: 'go' }] }] })!.info;
    assert.equal(b.context, 't\nk-123');
  });

  it('tool definitions come first, so that the context ends with the conversation (an output shows its end)', () => {
    const info = llmRequest('POST', '/v1/chat/completions', {
      model: 'gpt-4o',
      messages: [
        { role: 'user', content: 'first' },
        { role: 'assistant', content: 'an answer' },
        { role: 'user', content: 'last' },
      ],
      tools: [{ type: 'function', function: { name: 'lookup', description: 'looks things up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } }],
    })!.info;
    assert.equal(info.context, 'lookup\nlooks things up\nfirst\nan answer');
  });

  it('a one-message request has none; a role or type that is not a plain word is kept (a key could hide there)', () => {
    assert.equal(llmRequest('POST', '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'system', content: 's' }, { role: 'user', content: 'u' }] })!.info.context, undefined);
    const odd = llmRequest('POST', '/v1/chat/completions', { model: 'gpt-4o', messages: [{ role: 'user', content: 'u', type: 'sk-proj-0123456789abcdefghij' }] })!.info;
    assert.equal(odd.context, 'sk-proj-0123456789abcdefghij');
  });

  it('outputs show its end only, after a note of what came before (never half a surrogate pair)', () => {
    assert.equal(shownContext('short'), 'short');
    const long = 'a'.repeat(5000) + 'END';
    const shown = shownContext(long);
    assert.equal(shown, `[${long.length - CONTEXT_SHOWN} characters before] ${long.slice(-CONTEXT_SHOWN)}`);
    const emoji = 'x' + '\u{1F600}'.repeat(CONTEXT_SHOWN);
    const cut = shownContext(emoji);
    assert.ok(!/^\[\d+ characters before\] [\udc00-\udfff]/.test(cut), 'starts on a whole character');
  });
});
