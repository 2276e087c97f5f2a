// The decide stage: decisions memoised by what the policy reads, and the
// decision event that reports one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decider, decisionEvent, projection } from '../../engine/decide/decider.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import type { BustedEvent } from '../../engine/model/event.js';

async function engineOf(rego: string): Promise<PolicyEngine> {
  const dir = mkdtempSync(join(tmpdir(), 'busted-decider-'));
  try {
    writeFileSync(join(dir, 'p.rego'), `package busted\nimport rego.v1\n${rego}`);
    return await PolicyEngine.load(dir);
  } finally {
    rmSync(dir, { recursive: true });
  }
}

const ev = (o: Partial<BustedEvent>): BustedEvent => ({ id: `e${Math.random()}`, time: '2026-01-01T00:00:00.000000000Z', type: 'connect', ...o });

describe('Decider', () => {
  it('evaluates once per distinct projection of what the policy reads', async () => {
    const d = new Decider(await engineOf('decision := "block" if input.provider == "mistral"\nreasons contains "no" if decision == "block"'));
    for (let i = 0; i < 100; i++) d.decide(ev({ provider: 'mistral', process: { pid: 1000 + i } }));
    assert.deepEqual(d.decide(ev({ provider: 'mistral' })), { action: 'block', reasons: ['no'], kill: false });
    assert.equal(d.decide(ev({ provider: 'openai' })).action, 'allow');
    assert.equal(d.stats.evaluated, 2);
    assert.equal(d.stats.memoised, 100);
  });

  it('does not memoise a policy that reads the whole input or the clock, and tells absent from null', async () => {
    const whole = new Decider(await engineOf('decision := "block" if count(input) > 2'));
    whole.decide(ev({}));
    whole.decide(ev({}));
    assert.equal(whole.stats.evaluated, 2);
    const paths = [['a'], ['b', 'c']];
    assert.notEqual(projection({ a: null } as unknown as BustedEvent, paths), projection({} as BustedEvent, paths));
    assert.equal(projection({ a: 1, b: { c: 'x', d: 'ignored' } } as unknown as BustedEvent, paths), projection({ a: 1, b: { c: 'x' } } as unknown as BustedEvent, paths));
  });

  it('asks busted/kill only for blocks, and forgets everything on swap', async () => {
    const d = new Decider(await engineOf('decision := "block" if input.provider == "x"\nkill if input.process.comm == "evil"'));
    assert.equal(d.decide(ev({ provider: 'x', process: { pid: 1, comm: 'evil' } })).kill, true);
    assert.equal(d.decide(ev({ provider: 'x', process: { pid: 1, comm: 'good' } })).kill, false);
    assert.equal(d.decide(ev({ provider: 'y', process: { pid: 1, comm: 'evil' } })).kill, false);
    const before = d.revision;
    d.swap(await engineOf('decision := "audit"'));
    assert.notEqual(d.revision, before);
    assert.equal(d.decide(ev({ provider: 'x', process: { pid: 1, comm: 'evil' } })).action, 'audit');
  });

  it('decision events name their subject, carry who and the revision', () => {
    const subject = ev({ id: 'abc-1', provider: 'openai', process: { pid: 7, comm: 'curl' } });
    const e = decisionEvent('abc-1-d', subject.time, subject, { action: 'block', reasons: ['r'], kill: false }, true, 'sha256:0123456789abcdef');
    assert.deepEqual(e.decision, { action: 'block', reasons: ['r'], enforced: true, policy_revision: 'sha256:0123456789abcdef', subject: 'abc-1' });
    assert.equal(e.process, subject.process);
    assert.equal(e.provider, 'openai');
  });
});
