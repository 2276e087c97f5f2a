/**
 * The text output (`--format text`): one line per event, time, type,
 * process, what happened, provider; without colour when asked.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BustedEvent } from '../../engine/model/event.js';
import { textFormatter } from '../../engine/sinks/text.js';

const fmt = textFormatter(false);
const base = { id: 'x-1', time: '2026-12-06T23:35:56.603625123Z', process: { pid: 27700, comm: 'python3' } } as const;
const hello = (protocol: 'tcp' | 'udp'): BustedEvent =>
  ({
    ...base,
    type: 'tls_client_hello',
    net: { protocol, family: 4, src_ip: '127.0.0.1', src_port: 40643, dst_ip: '127.0.0.1', dst_port: 443, direction: 'egress' },
    tls: { sni: 'api.openai.com', alpn: [protocol === 'udp' ? 'h3' : 'h2'], version: 'TLS 1.3', ja4: `${protocol === 'udp' ? 'q' : 't'}13d0411h3_16476d049b0b_78f1d400d464` },
    provider: 'openai',
  }) as BustedEvent;

describe('text output', () => {
  it('a ClientHello: its name, ALPN, version, JA4 and provider on one line; one read out of QUIC Initials says quic first', () => {
    assert.equal(fmt(hello('tcp')), '23:35:56.603625 tls_client_hello python3[27700] sni=api.openai.com alpn=h2 TLS 1.3 t13d0411h3_16476d049b0b_78f1d400d464 [openai]');
    assert.equal(fmt(hello('udp')), '23:35:56.603625 tls_client_hello python3[27700] quic sni=api.openai.com alpn=h3 TLS 1.3 q13d0411h3_16476d049b0b_78f1d400d464 [openai]');
  });

  it('an MCP message over stdio says so, and that it was cut', () => {
    const m = { ...base, type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', id: 2, tool: 'delete_file', transport: 'stdio', truncated: true } } as BustedEvent;
    assert.equal(fmt(m), '23:35:56.603625 mcp_message      python3[27700] request tools/call tool=delete_file over stdio (cut)');
    const peered = { ...m, mcp: { ...m.mcp!, truncated: undefined, peer: { pid: 27701, comm: 'mcp-server-git' } } } as BustedEvent;
    assert.equal(fmt(peered), '23:35:56.603625 mcp_message      python3[27700] request tools/call tool=delete_file over stdio with mcp-server-git[27701]');
  });

  it('an answer says how long its call took (and its first token, streamed); an MCP answer too', () => {
    const r = { ...base, type: 'llm_response', provider: 'openai', http: { status: 200 }, llm: { model: 'gpt-4o', usage: { input_tokens: 3, output_tokens: 5 }, stream: true, duration_ms: 812.5, ttft_ms: 301.25 } } as BustedEvent;
    assert.equal(fmt(r), '23:35:56.603625 llm_response     python3[27700] 200 model=gpt-4o tokens in=3 out=5 in 812.5 ms (first token 301.25 ms) [openai]');
    const m = { ...base, type: 'mcp_message', mcp: { kind: 'response', method: 'tools/call', id: 2, tool: 'read_file', duration_ms: 40 } } as BustedEvent;
    assert.equal(fmt(m), '23:35:56.603625 mcp_message      python3[27700] response tools/call tool=read_file in 40 ms');
  });

  it('a decision: its action, whether it was enforced, its reasons and its subject', () => {
    const d = { ...base, type: 'decision', decision: { action: 'block', reasons: ['provider mistral is not approved'], enforced: true, policy_revision: 'sha256:0', subject: 'x-0' }, provider: 'mistral' } as BustedEvent;
    assert.equal(fmt(d), '23:35:56.603625 decision         python3[27700] block (enforced) provider mistral is not approved (subject x-0) [mistral]');
  });
});
