// The shipped policies (policies/), decided the way the agent decides:
// each rule's intent as events a host really produces. (The Rego unit
// tests beside the policies say the same in Rego, for `busted test-policy`.)
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
import type { BustedEvent } from '../../engine/model/event.js';

let engine: PolicyEngine;
const decide = (e: Partial<BustedEvent>) => engine.decide({ id: 't', time: '2026-01-01T00:00:00.000000000Z', ...e });
const proc = (o: Record<string, unknown> = {}) => ({ pid: 4242, uid: 1000, comm: 'python3', cgroup_path: '/user.slice', ...o });

describe('shipped policies', () => {
  before(async () => {
    engine = await PolicyEngine.load(join(PACKAGE_ROOT, 'policies'));
  });

  it('allow the approved providers and block the others, per team where a team matches', () => {
    assert.equal(decide({ type: 'connect', provider: 'openai', process: proc() }).action, 'allow');
    assert.deepEqual(decide({ type: 'connect', provider: 'mistral', process: proc() }), { action: 'block', reasons: ['provider mistral is not approved'] });
    // the research team (cgroup /research/...) may use mistral too
    assert.equal(decide({ type: 'connect', provider: 'mistral', process: proc({ cgroup_path: '/research/alice.scope' }) }).action, 'allow');
    // batch jobs (uid 2000) may use ollama only
    assert.deepEqual(decide({ type: 'connect', provider: 'openai', process: proc({ uid: 2000 }) }), { action: 'block', reasons: ['provider openai is not approved for team batch-jobs'] });
    assert.equal(decide({ type: 'connect', provider: 'ollama', process: proc({ uid: 2000 }) }).action, 'allow');
    // not AI traffic at all: nothing to say
    assert.equal(decide({ type: 'connect', process: proc() }).action, 'allow');
  });

  it('block look-alike host names wherever they show (DNS, SNI, HTTP host) and never a provider\'s own', () => {
    const look = ['evil-openai.com', 'openai.com.example.net', 'api-anthropic.io', 'mistral.ai.evil.org'];
    for (const name of look) {
      assert.equal(decide({ type: 'dns_response', dns: { id: 1, questions: [{ name, type: 'A' }] } }).action, 'block', name);
      assert.equal(decide({ type: 'tls_client_hello', tls: { sni: name } }).action, 'block', name);
    }
    assert.equal(decide({ type: 'llm_request', http: { host: 'EVIL-OPENAI.COM.' }, llm: {} }).action, 'block');
    for (const name of ['api.openai.com', 'openai.com', 'x.openai.azure.com', 'api.anthropic.com', 'claude.ai', 'api.mistral.ai']) {
      assert.equal(decide({ type: 'dns_response', dns: { id: 1, questions: [{ name, type: 'A' }] } }).action, 'allow', name);
    }
  });

  it('block prompts carrying credentials, and only those', () => {
    const req = (user_message: string, system_prompt?: string) => decide({ type: 'llm_request', provider: 'openai', llm: { user_message, ...(system_prompt ? { system_prompt } : {}) } });
    assert.deepEqual(req('deploy with AKIAIOSFODNN7EXAMPLE'), { action: 'block', reasons: ['prompt to openai contains an AWS access key'] });
    assert.equal(req('fine', '-----BEGIN OPENSSH PRIVATE KEY-----\nabc').action, 'block');
    assert.equal(req('use sk-proj-abcdefghijklmnopqrstuvwxyz0123').action, 'block');
    assert.equal(req(`token ghp_${'a'.repeat(36)}`).action, 'block');
    assert.equal(req('what is an AKIA key, in general?').action, 'allow');
    assert.equal(req('hello').action, 'allow');
  });

  it('block the listed MCP tools and audit shell-like ones', () => {
    const call = (tool: string) => decide({ type: 'mcp_message', mcp: { kind: 'request', method: 'tools/call', id: 1, tool } });
    assert.deepEqual(call('delete_file'), { action: 'block', reasons: ['MCP tool delete_file is blocked'] });
    assert.deepEqual(call('run_shell'), { action: 'audit', reasons: ['MCP call of shell-like tool run_shell'] });
    assert.equal(call('ssh-exec').action, 'audit');
    assert.equal(call('executive_summary').action, 'allow');
    assert.equal(call('get_weather').action, 'allow');
  });

  it('audit deprecated TLS versions and weak ciphers', () => {
    assert.deepEqual(decide({ type: 'tls_server_hello', tls: { version: 'TLS 1.1', cipher: 'TLS_RSA_WITH_AES_128_CBC_SHA', sni: 'old.example' } }), { action: 'audit', reasons: ['TLS 1.1 negotiated with old.example (minimum TLS 1.2)'] });
    assert.deepEqual(decide({ type: 'tls_server_hello', tls: { version: 'TLS 1.0', cipher: 'x' }, net: { protocol: 'tcp', family: 4, dst_ip: '192.0.2.1', dst_port: 443 } }).reasons, ['TLS 1.0 negotiated with 192.0.2.1 (minimum TLS 1.2)']);
    assert.equal(decide({ type: 'tls_server_hello', tls: { version: 'TLS 1.2', cipher: 'TLS_RSA_WITH_3DES_EDE_CBC_SHA' } }).action, 'audit');
    assert.equal(decide({ type: 'tls_server_hello', tls: { version: 'TLS 1.3', cipher: 'TLS_AES_128_GCM_SHA256' } }).action, 'allow');
  });

  it('read only what they need: no whole input, no whole process, no time (decisions can be memoised)', () => {
    const use = engine.inputs!;
    assert.equal(use.all, false);
    assert.equal(use.volatile, false);
    assert.ok(!use.paths.some((p) => p.length === 1 && (p[0] === 'process' || p[0] === 'tls' || p[0] === 'llm')), JSON.stringify(use.paths));
  });
});
