// Gemini over gRPC (engine/interpret/llm-grpc.ts): requests and answers of
// the Gemini API and of Vertex AI in protobuf, numbered as googleapis'
// .proto files number them, read into the same fields as the JSON API;
// compressed messages; bad bytes never throw. Last, the same through the
// application layer on real HTTP/2 frames (node's nghttp2).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { grpcLlmRequest, grpcLlmResponse } from '../../engine/interpret/llm-grpc.js';
import { grpcMessages, isGrpc } from '../../engine/parse/grpc.js';
import { pbMessage } from '../../engine/parse/protobuf.js';
import { AppLayer, type Finding } from '../../engine/interpret/app.js';
import type { TlsCall } from '../../engine/interpret/tls-data.js';
import { ProviderTable } from '../../engine/enrich/provider.js';
import { captureH2 } from '../helpers/h2-capture.js';
import { grpcFrame, pb, pbStruct } from '../helpers/protobuf.js';
import { prng } from '../helpers/prng.js';

const GEMINI = '/google.ai.generativelanguage.v1beta.GenerativeService/GenerateContent';
const VERTEX_STREAM = '/google.cloud.aiplatform.v1.PredictionService/StreamGenerateContent';

// Gemini API numbering: Content{parts=1, role=2}, Part{text=2, function_call=4, function_response=5}
const gText = (t: string) => pb([[2, t]]);
const gContent = (role: string, ...parts: Uint8Array[]) => pb([...parts.map((p): [number, Uint8Array] => [1, p]), [2, role]]);
const geminiRequest = pb([
  [1, 'models/gemini-2.5-pro'],
  [2, gContent('user', gText('read my config'))],
  [2, gContent('model', pb([[4, pb([[1, 'read_file'], [2, pbStruct({ path: '~/.aws/credentials' })]])]]))],
  [2, gContent('user', pb([[5, pb([[1, 'read_file'], [2, pbStruct({ out: 'aws_access_key_id = AKIAABCDEFGHIJKLMNOP' })]])]]))],
  [2, gContent('user', gText('summarise'), gText('it'))],
  [5, pb([[1, pb([[1, 'read_file'], [2, 'reads a file']])]])],
  [8, gContent('', gText('be terse'))],
]);

// Vertex numbering: Content{role=1, parts=2}, Part{text=1, function_call=5}; request model=5, tools=6
const vContent = (role: string, ...parts: Uint8Array[]) => pb([[1, role], ...parts.map((p): [number, Uint8Array] => [2, p])]);
const vertexRequest = pb([
  [2, vContent('user', pb([[1, 'q-vertex']]))],
  [5, 'projects/p/locations/us-central1/publishers/google/models/gemini-2.0-flash'],
  [6, pb([[1, pb([[1, 'query_db']])]])],
  [8, vContent('system', pb([[1, 'sys']]))],
]);

describe('Gemini over gRPC', () => {
  it('knows gRPC content types', () => {
    assert.ok(isGrpc('application/grpc'));
    assert.ok(isGrpc('application/grpc+proto'));
    assert.ok(!isGrpc('application/grpc-web'));
    assert.ok(!isGrpc('application/json'));
  });

  it('a Gemini API GenerateContent: model, prompts, tools, and the rest as context (function calls and responses)', () => {
    const call = grpcLlmRequest(GEMINI, grpcMessages(grpcFrame(geminiRequest), undefined))!;
    assert.equal(call.vertex, false);
    assert.deepEqual(call.info, {
      endpoint: GEMINI,
      stream: false,
      model: 'gemini-2.5-pro',
      system_prompt: 'be terse',
      user_message: 'summarise\nit',
      tools: ['read_file'],
      context: ['read my config', 'read_file', 'path', '~/.aws/credentials', 'read_file', 'out', 'aws_access_key_id = AKIAABCDEFGHIJKLMNOP'].join('\n'),
    });
  });

  it('a Vertex AI StreamGenerateContent, by its own numbering; a gzip message', () => {
    const call = grpcLlmRequest(VERTEX_STREAM, grpcMessages(grpcFrame(vertexRequest, true), 'gzip'))!;
    assert.equal(call.vertex, true);
    assert.deepEqual(call.info, { endpoint: VERTEX_STREAM, stream: true, model: 'gemini-2.0-flash', system_prompt: 'sys', user_message: 'q-vertex', tools: ['query_db'] });
  });

  it('answers: the model version, the last usage of a stream, the functions called', () => {
    // Gemini: candidates=1 {content=1}, usage_metadata=3 {1, 2}, model_version=4
    const first = pb([[1, pb([[1, gContent('model', gText('hel'))]])], [4, 'gemini-2.5-pro-001']]);
    const last = pb([[1, pb([[1, gContent('model', pb([[4, pb([[1, 'find_flights']])]]))]])], [3, pb([[1, 11], [2, 7], [3, 18]])], [4, 'gemini-2.5-pro-001']]);
    const body = new Uint8Array([...grpcFrame(first), ...grpcFrame(last)]);
    assert.deepEqual(grpcLlmResponse(grpcMessages(body, undefined), false), { model: 'gemini-2.5-pro-001', usage: { input_tokens: 11, output_tokens: 7 }, tool_calls: ['find_flights'] });
    // Vertex: candidates=2 {content=2}, usage_metadata=4, model_version=11
    const v = pb([[2, pb([[2, vContent('model', pb([[5, pb([[1, 'query_db']])]]))]])], [4, pb([[1, 300], [2, 40]])], [11, 'gemini-2.0-flash-001']]);
    assert.deepEqual(grpcLlmResponse(grpcMessages(grpcFrame(v), undefined), true), { model: 'gemini-2.0-flash-001', usage: { input_tokens: 300, output_tokens: 40 }, tool_calls: ['query_db'] });
  });

  it('other services, a cut frame and bad protobuf give no LLM call or an empty one, never a throw', () => {
    assert.equal(grpcLlmRequest('/grpc.health.v1.Health/Check', grpcMessages(grpcFrame(pb([])), undefined)), undefined);
    assert.equal(grpcLlmRequest('/google.ai.generativelanguage.v1beta.PredictionService/GenerateContent', { messages: [] }), undefined);
    const cut = grpcMessages(grpcFrame(geminiRequest).subarray(0, 30), undefined);
    assert.equal(cut.error, 'a message is cut short');
    assert.deepEqual(grpcLlmRequest(GEMINI, cut)!.info, { endpoint: GEMINI, stream: false });
    assert.equal(grpcMessages(Uint8Array.of(1, 0, 0, 0, 1, 0x55), 'gzip').error?.startsWith('gzip body does not decode'), true);
    const rnd = prng(0x9b0f);
    for (let i = 0; i < 3000; i++) {
      const b = Uint8Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256));
      pbMessage(b);
      grpcLlmRequest(GEMINI, { messages: [b] });
      grpcLlmResponse({ messages: [b] }, i % 2 === 0);
    }
  });

  it('through the application layer on real HTTP/2 frames: llm_request, and the answer\'s usage from its protobuf', async () => {
    const chunks = await captureH2(
      (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/grpc' });
        res.addTrailers({ 'grpc-status': '0' });
        res.end(grpcFrame(pb([[3, pb([[1, 5], [2, 3]])], [4, 'gemini-2.5-pro-001']])));
      },
      (client) =>
        new Promise<void>((resolve) => {
          const req = client.request({ ':method': 'POST', ':path': GEMINI, ':authority': 'generativelanguage.googleapis.com', 'content-type': 'application/grpc', te: 'trailers' });
          req.on('data', () => {});
          req.on('end', resolve);
          req.end(grpcFrame(geminiRequest));
        }),
    );
    const app = new AppLayer(new ProviderTable(), false);
    const found: Finding[] = [];
    for (const c of chunks) {
      const call: TlsCall = { pid: 7, ssl: 'g', direction: c.direction, len: c.data.length, data: c.data, first: undefined as never, conn: { sni: 'generativelanguage.googleapis.com' }, gated: false, callId: '1' };
      found.push(...app.feed(call).found);
    }
    const req = found.find((f) => f.type === 'llm_request');
    assert.ok(req && req.type === 'llm_request');
    assert.equal(req.provider, 'google');
    assert.equal(req.llm.model, 'gemini-2.5-pro');
    assert.equal(req.llm.user_message, 'summarise\nit');
    const res = found.find((f) => f.type === 'llm_response');
    assert.ok(res && res.type === 'llm_response');
    assert.deepEqual(res.llm.usage, { input_tokens: 5, output_tokens: 3 });
    assert.equal(res.llm.model, 'gemini-2.5-pro-001');
  });
});
