// policies/busted/ml.rego, the shipped policy on the classifier's score:
// its Rego unit tests (policies/busted/ml_test.rego) pass under `busted
// test-policy`, and the shipped policies decide scored events through
// PolicyEngine as `busted enforce` does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const POLICIES = join(PACKAGE_ROOT, 'policies');
const TESTS = [...readFileSync(join(POLICIES, 'busted', 'ml_test.rego'), 'utf8').matchAll(/^(test_\w+)/gm)].map((m) => m[1]!);

describe('policies/busted/ml_test.rego under busted test-policy', () => {
  it('every test_ rule of it runs and passes', () => {
    assert.ok(TESTS.length >= 8, `found ${TESTS.length} test_ rules`);
    const r = spawnSync(process.execPath, [join(PACKAGE_ROOT, 'bin', 'busted.js'), 'test-policy', '--policies', POLICIES, '--format', 'json'], { encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = JSON.parse(r.stdout) as { tests: Array<{ name: string; file: string; status: string }> };
    const ours = out.tests.filter((t) => t.file.endsWith('ml_test.rego'));
    assert.deepEqual(ours.map((t) => t.name.split('.').pop()).sort(), [...TESTS].sort());
    assert.deepEqual(ours.filter((t) => t.status !== 'pass').map((t) => t.name), []);
  });
});

describe('shipped policies on scored events (PolicyEngine)', () => {
  const scored = (over: object) => ({ id: 'x-1', time: '2026-01-01T00:00:00.000000000Z', type: 'flow', process: { pid: 10, comm: 'python3' }, net: { protocol: 'tcp', family: 4, src_ip: '127.0.0.1', src_port: 40000, dst_ip: '127.0.0.5', dst_port: 9000, direction: 'egress' }, ...over });

  it('audits a high score to an unknown destination, names it, allows a low one and a known provider', async () => {
    const engine = await PolicyEngine.load(POLICIES);
    const high = engine.decide(scored({ tls: { sni: 'models.internal.test' }, ml: { llm_score: 0.98, label: 'llm' } }));
    // a score of exactly 1 (JSON 1, an integer to Rego) is named as it is
    assert.deepEqual(engine.decide(scored({ ml: { llm_score: 1, label: 'llm' } })).reasons, ['LLM-like traffic to unknown destination 127.0.0.5:9000 (classifier: llm, score 1)']);
    assert.equal(high.action, 'audit');
    assert.deepEqual(high.reasons, ['LLM-like traffic to unknown destination models.internal.test (classifier: llm, score 0.98)']);
    assert.equal(engine.decide(scored({ ml: { llm_score: 0.05, label: 'other' } })).action, 'allow');
    assert.equal(engine.decide(scored({ provider: 'openai', ml: { llm_score: 0.99, label: 'llm' } })).action, 'allow');
    assert.deepEqual(engine.decide(scored({ ml: { llm_score: 0.95, label: 'llm' } })).reasons, ['LLM-like traffic to unknown destination 127.0.0.5:9000 (classifier: llm, score 0.95)']);
  });
});
