// The decide stage: decisions memoised by what the policy reads, and the
// decision event that reports one.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Decider, decisionEvent, MemoKey, memoPathsOf } from '../../engine/decide/decider.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { compile } from '../../engine/policy/compiler.js';
import { prng } from '../helpers/prng.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';
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
    const key = new MemoKey(memoPathsOf([['a'], ['b', 'c']]));
    const of = (e: object) => (key.of(e as BustedEvent), { values: key.values.slice(0, key.length), json: key.json.slice(0, key.length) });
    assert.notDeepEqual(of({ a: null }), of({}));
    assert.deepEqual(of({ a: 1, b: { c: 'x', d: 'ignored' } }), of({ a: 1, b: { c: 'x' } }));
  });

  it('memoises by value: absent, null, 1 and "1" apart, an object by its JSON apart from a string of the same text', async () => {
    const d = new Decider(await engineOf('decision := "block" if input.tls.sni == "x"\ndecision := "audit" if input.provider == 1\ndecision := "audit" if input.dns.questions[0].name == "q"'));
    const at = (o: Partial<BustedEvent>) => d.decide(ev(o)).action;
    assert.equal(at({ provider: 1 as unknown as string }), 'audit');
    assert.equal(at({ provider: '1' }), 'allow');
    assert.equal(at({ provider: null as unknown as string }), 'allow');
    assert.equal(at({}), 'allow');
    assert.equal(d.stats.evaluated, 4);
    const q = { questions: [{ name: 'q', type: 'A' }] };
    assert.equal(at({ dns: q as BustedEvent['dns'] }), 'audit');
    // a string equal to the object's JSON is another key
    assert.equal(at({ dns: { questions: JSON.stringify(q.questions) } as unknown as BustedEvent['dns'] }), 'allow');
    assert.equal(at({ dns: { questions: [{ name: 'q', type: 'A' }] } as BustedEvent['dns'] }), 'audit');
    assert.equal(d.stats.evaluated, 6);
    assert.equal(d.stats.memoised, 1);
    // a long string the policy reads is not memoised
    for (let i = 0; i < 3; i++) at({ tls: { sni: 'y'.repeat(3000) } });
    assert.equal(d.stats.evaluated, 9);
  });

  it('tells a string from an object of that JSON whichever comes first, and alternating values apart', async () => {
    const d = new Decider(await engineOf('decision := "audit" if input.dns.questions[0].name == "q"\ndecision := "block" if {\n\tinput.provider == "p2"\n\tnot input.dns\n}'));
    const at = (o: Partial<BustedEvent>) => d.decide(ev(o)).action;
    const qs = [{ name: 'q', type: 'A' }];
    // the string first: the step it leaves behind must not be taken for the object's
    assert.equal(at({ dns: { questions: JSON.stringify(qs) } as unknown as BustedEvent['dns'] }), 'allow');
    assert.equal(at({ dns: { questions: qs } as BustedEvent['dns'] }), 'audit');
    assert.equal(at({ dns: { questions: JSON.stringify(qs) } as unknown as BustedEvent['dns'] }), 'allow');
    for (let i = 0; i < 50; i++) {
      assert.equal(at({ provider: i % 2 ? 'p2' : 'p1' }), i % 2 ? 'block' : 'allow');
      assert.equal(at({ provider: i % 3 ? 'p2' : 'p1', dns: { questions: qs } as BustedEvent['dns'] }), 'audit');
    }
    assert.equal(d.stats.evaluated, 6);
  });

  it("reads a member named like Object.prototype's only when the event owns it", async () => {
    const d = new Decider(await engineOf('decision := "block" if input.constructor == "x"\ndecision := "audit" if input.net.__proto__ == {}'));
    const at = (o: object) => d.decide(ev(o as Partial<BustedEvent>)).action;
    assert.equal(at({}), 'allow');
    assert.equal(at({ net: {} }), 'allow');
    assert.equal(at(JSON.parse('{"net": {"__proto__": {}}}')), 'audit');
    assert.equal(at({ net: {} }), 'allow');
    assert.equal(at({ constructor: 'x' }), 'block');
    assert.equal(at({}), 'allow');
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

/** unlessAbsent of a one-module policy, by memo path: "a.b" -> ["c", "d.e"] */
function guardsOf(rego: string): Record<string, string[]> | undefined {
  const c = compile([{ file: 'p.rego', text: `package busted\nimport rego.v1\n${rego}` }], { entrypoints: ['busted/decision'] });
  if (!c.inputs.unlessAbsent) return undefined;
  return Object.fromEntries(c.inputs.paths.map((p, i) => [p.join('.'), c.inputs.unlessAbsent![i]!.map((g) => g.join('.'))]));
}

describe('memo guards: paths that stop mattering when another is absent', () => {
  it('a positive body expression on an input path guards what the rest of the rule and the rules it calls read', () => {
    const g = guardsOf(`
where := sprintf("%s:%d", [input.net.dst_ip, input.net.dst_port])
decision := "audit" if {
  input.ml.llm_score > 0.5
  where != "x"
}`)!;
    assert.deepEqual(g['net.dst_port'], ['ml.llm_score']);
    assert.deepEqual(g['net.dst_ip'], ['ml.llm_score']);
  });

  it('no guard from a negated expression, a comprehension, print, or a rule read elsewhere without it', () => {
    assert.deepEqual(guardsOf('decision := "block" if {\n not input.a\n input.b == 1\n}')!['a'], ['b']);
    assert.deepEqual(guardsOf('decision := "block" if {\n count([x | x := input.a]) == 0\n input.b == 1\n}')!['a'], ['b']);
    assert.deepEqual(guardsOf('decision := "block" if {\n count([x | x := input.a]) == 0\n}')!['a'], []);
    assert.deepEqual(guardsOf('decision := "block" if {\n print(input.g)\n input.b == input.a\n}')!['b'], ['a', 'b']);
    const g = guardsOf(`
p := input.port
decision := "audit" if { input.ml.score > 1; p > 2 }
reasons contains sprintf("%d", [p])`);
    // busted/reasons is not an entrypoint of this compile: p matters only under decision's guard
    assert.deepEqual(g!['port'], ['ml.score']);
    const c = compile([{ file: 'p.rego', text: 'package busted\nimport rego.v1\np := input.port\ndecision := "audit" if { input.ml.score > 1; p > 2 }\nreasons contains sprintf("%d", [p])' }], {
      entrypoints: ['busted/decision', 'busted/reasons'],
    });
    assert.deepEqual(c.inputs.unlessAbsent![c.inputs.paths.findIndex((x) => x.join('.') === 'port')], []);
  });

  it('each else branch on its own; a with anywhere and nothing is worked out', () => {
    const g = guardsOf('decision := "block" if { input.a == 1 } else := "audit" if { input.b == input.c }')!;
    assert.deepEqual(g['a'], ['a']);
    assert.deepEqual(g['c'], ['b', 'c']);
    assert.equal(guardsOf('f := input.x\ndecision := "block" if { f with input.x as 1; input.y }'), undefined);
  });

  it('keys: the absent guards named, the paths they cut left out', async () => {
    const d = new Decider(
      await engineOf(`
where := sprintf("%s:%d", [input.net.dst_ip, input.net.dst_port])
decision := "audit" if { input.ml.llm_score > 0.5; where != "10.0.0.1:1" }`),
    );
    for (let port = 1; port <= 50; port++) d.decide(ev({ net: { protocol: 'tcp', family: 4, dst_ip: '127.0.0.1', dst_port: port } }));
    assert.equal(d.stats.evaluated, 1, 'without ml, the port cannot matter');
    assert.equal(d.decide(ev({ net: { protocol: 'tcp', family: 4, dst_ip: '10.0.0.1', dst_port: 1 }, ml: { llm_score: 0.9, label: 'llm' } })).action, 'allow');
    assert.equal(d.decide(ev({ net: { protocol: 'tcp', family: 4, dst_ip: '10.0.0.1', dst_port: 2 }, ml: { llm_score: 0.9, label: 'llm' } })).action, 'audit');
    assert.equal(d.stats.evaluated, 3);
  });

  it('the shipped policies: memoised decisions equal fresh ones on recorded events and 3000 variations of them', async () => {
    const root = PACKAGE_ROOT;
    const events: BustedEvent[] = [];
    for (const dir of ['examples/policy-repo/recordings', 'test/fixtures/test-policy/recordings']) {
      for (const f of readdirSync(join(root, dir)).filter((x) => x.endsWith('.jsonl') && !x.includes('expect'))) {
        for (const line of readFileSync(join(root, dir, f), 'utf8').split('\n')) {
          if (!line.trim()) continue;
          const e = JSON.parse(line) as BustedEvent & { expect?: unknown };
          if (e.expect === undefined && e.type !== 'decision' && e.type) events.push(e);
        }
      }
    }
    assert.ok(events.length > 50, `${events.length} recorded events`);
    // a locked-down copy too, so that the classifier's block rules are reached
    const locked = mkdtempSync(join(tmpdir(), 'busted-decider-locked-'));
    try {
      cpSync(join(root, 'policies'), locked, { recursive: true });
      const data = JSON.parse(readFileSync(join(locked, 'data.json'), 'utf8'));
      data.busted.ml_block_unknown = true;
      writeFileSync(join(locked, 'data.json'), JSON.stringify(data));
      for (const src of [join(root, 'policies'), locked]) {
        const engine = await PolicyEngine.load(src);
        assert.ok(engine.inputs?.unlessAbsent?.some((u) => u.length > 0), 'the shipped policies have guards');
        const memo = new Decider(engine);
        const fresh = await PolicyEngine.load(src);
        const rnd = prng(7);
        const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!;
        const vary = (e: BustedEvent): BustedEvent => {
          const v = structuredClone(e) as BustedEvent & Record<string, unknown>;
          const r = rnd();
          if (v.net && r < 0.3) v.net.dst_port = pick([443, 8443, 11434, 40000 + Math.floor(rnd() * 100)]);
          if (r >= 0.2 && r < 0.5) v.ml = { llm_score: pick([0.1, 0.5, 0.7, 0.85, 0.95, 0.99]), label: pick(['llm', 'other']) };
          if (r >= 0.5 && r < 0.6) delete v.ml;
          if (r >= 0.6 && r < 0.7) delete v.provider;
          if (r >= 0.7 && r < 0.75) v.provider = pick(['openai', 'mistral', 'deepseek']);
          if (v.net && r >= 0.75 && r < 0.85) v.net.dst_host = pick(['api.openai.com', 'llm.internal', 'evil-openai.com']);
          if (v.net && r >= 0.85 && r < 0.9) delete v.net.dst_host;
          if (r >= 0.9) v.type = pick(['connect', 'accept', 'close', 'tls_client_hello', 'llm_request', 'mcp_message']) as BustedEvent['type'];
          return v;
        };
        let n = 0;
        for (let round = 0; round < 3000 / events.length + 1; round++) {
          for (const e0 of events) {
            const e = round === 0 ? e0 : vary(e0);
            const got = memo.decide(e);
            const want = fresh.decide(e);
            assert.deepEqual({ action: got.action, reasons: [...got.reasons].sort() }, { action: want.action, reasons: [...want.reasons].sort() }, `event ${JSON.stringify(e)}`);
            n++;
          }
        }
        assert.ok(memo.stats.memoised > n / 4, `memo answered ${memo.stats.memoised} of ${n}`);
      }
    } finally {
      rmSync(locked, { recursive: true });
    }
  });
});
