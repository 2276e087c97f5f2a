// policies/busted/ml.rego, the shipped policy on the classifier's score:
// its Rego unit tests (policies/busted/ml_test.rego, every `test_*` rule
// must be true) run here through our compiler and the OPA Wasm SDK, until
// `busted test-policy` runs them; and the shipped policies decide scored
// events through PolicyEngine as `busted enforce` will.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { dataJsonText, regoSources } from '../../engine/policy/source.js';

const POLICIES = join(process.cwd(), 'policies');
const TESTS = [...readFileSync(join(POLICIES, 'busted', 'ml_test.rego'), 'utf8').matchAll(/^(test_\w+)/gm)].map((m) => m[1]!);

describe('policies/busted/ml_test.rego', () => {
  it('has tests', () => assert.ok(TESTS.length >= 8, `found ${TESTS.length} test_ rules`));

  it('every test_ rule is true', async () => {
    const { wasm } = compile(regoSources(POLICIES, { tests: true }), { entrypoints: TESTS.map((t) => `busted/${t}`) });
    const policy = await loadCompiled(wasm);
    policy.setData(JSON.parse(dataJsonText(POLICIES)));
    const failed = TESTS.filter((t) => JSON.stringify(policy.evaluate({}, `busted/${t}`)) !== '[{"result":true}]');
    assert.deepEqual(failed, []);
  });

  it('a test that should fail does fail (the runner can tell)', async () => {
    const extra = { file: 'busted/wrong_test.rego', text: 'package busted\nimport rego.v1\ntest_wrong if decision == "block" with input as {"ml": {"llm_score": 0.1}}\n' };
    const { wasm } = compile([...regoSources(POLICIES), extra], { entrypoints: ['busted/test_wrong'] });
    const policy = await loadCompiled(wasm);
    policy.setData(JSON.parse(dataJsonText(POLICIES)));
    assert.deepEqual(policy.evaluate({}, 'busted/test_wrong'), []);
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
