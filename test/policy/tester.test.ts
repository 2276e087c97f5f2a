/**
 * The pieces under `busted test-policy`, in process: the compiler's
 * coverage build (only when asked for; same decisions as the plain one),
 * test rule discovery, partial-event matching and --events expansion.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import type { Policy, Stmt } from '../../engine/policy/ir/ir.js';
import { regoSources } from '../../engine/policy/source.js';
import { eventFiles, matches } from '../../engine/policy/tester/replay.js';
import { loadSuite } from '../../engine/policy/tester/unit.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const runtimeBuilt = existsSync(join(PACKAGE_ROOT, 'build', 'wasm', 'runtime.wasm'));
const skip = runtimeBuilt ? undefined : 'needs the wasm runtime build (npm run build; needs lld)';

function calls(ir: Policy, name: string): number {
  let n = 0;
  const walk = (stmts: Stmt[]) => {
    for (const s of stmts) {
      if (s.type === 'CallStmt' && s.func === name) n++;
      if (s.type === 'BlockStmt') for (const b of s.blocks) walk(b.stmts);
      if (s.type === 'ScanStmt' || s.type === 'NotStmt') walk(s.block.stmts);
    }
  };
  for (const f of ir.funcs) for (const b of f.blocks) walk(b.stmts);
  for (const p of ir.plans) for (const b of p.blocks) walk(b.stmts);
  return n;
}

const POLICY = `package busted

import rego.v1

default decision := "allow"

decision := "block" if {
	input.provider == "mistral"
}

decision := "audit" if {
	some t in input.tools
	risky(t)
}

risky(t) if startswith(t, "shell")

risky(t) := true if {
	t == "exec"
} else := false

names := {n | some n in input.names; n != ""}
`;

describe('coverage builds', { skip }, () => {
  it('are compiled only when asked for: a plain build has no cover calls and no cover sites', () => {
    let plain: Policy | undefined;
    const out = compile([{ file: 'p.rego', text: POLICY }], { entrypoints: ['busted/decision'], onIR: (ir) => (plain = ir) });
    assert.equal(calls(plain!, 'internal.cover'), 0);
    assert.ok(!plain!.static.builtinFuncs.includes('internal.cover'));
    assert.equal(out.cover, undefined);
    assert.equal(plain!.cover, undefined);
    let cov: Policy | undefined;
    const c = compile([{ file: 'p.rego', text: POLICY }], { entrypoints: ['busted/decision'], coverage: true, onIR: (ir) => (cov = ir) });
    assert.ok(calls(cov!, 'internal.cover') > 5);
    assert.ok(cov!.static.builtinFuncs.includes('internal.cover'));
    assert.deepEqual(c.cover, cov!.cover);
    // the plain module is byte for byte what compile gave before coverage existed (same options, same bytes)
    assert.deepEqual(compile([{ file: 'p.rego', text: POLICY }], { entrypoints: ['busted/decision'], coverage: false }).wasm, out.wasm);
  });

  it('report the expressions reached and the rules that produced a value, by file and row', async () => {
    const c = compile([{ file: 'p.rego', text: POLICY }], { entrypoints: ['busted/decision', 'busted/names'], coverage: true });
    const hits = new Set<number>();
    const p = await loadCompiled(c.wasm, undefined, { cover: (i) => hits.add(i) });
    const rows = (kind: string) =>
      [...new Set([...hits].map((i) => c.cover![i]!).filter((s) => s.kind === kind).map((s) => s.row))].sort((a, b) => a - b);
    assert.deepEqual(p.evaluate({ provider: 'openai', tools: ['exec'] }, 'busted/decision'), [{ result: 'audit' }]);
    // decision's two bodies (8; 12, 13), risky's bodies (16; 19) and else (20 is not needed: 19 held)
    assert.deepEqual(rows('expr'), [8, 12, 13, 16, 19]);
    // rules that produced a value: the audit decision (11), risky's first body (18)
    assert.deepEqual(rows('rule'), [11, 18]);
    hits.clear();
    assert.deepEqual(p.evaluate({ tools: ['ls'] }, 'busted/decision'), [{ result: 'allow' }]);
    assert.ok(rows('rule').includes(5), 'the default rule produced the value');
    assert.ok(rows('rule').includes(20), 'the else produced false');
    hits.clear();
    p.evaluate({ names: ['a', ''] }, 'busted/names');
    assert.deepEqual(rows('expr'), [22], 'comprehension bodies count as their rule');
    assert.deepEqual([...new Set([...hits].map((i) => c.cover![i]!.rule))], ['data.busted.names']);
  });

  it('decide every event exactly as the plain build does (the shipped policies, a corpus of events)', async () => {
    const sources = regoSources(join(PACKAGE_ROOT, 'policies'));
    const data = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'policies', 'data.json'), 'utf8'));
    const eps = ['busted/decision', 'busted/reasons'];
    const plain = await loadCompiled(compile(sources, { entrypoints: eps }).wasm);
    let n = 0;
    const cov = await loadCompiled(compile(sources, { entrypoints: eps, coverage: true }).wasm, undefined, { cover: () => n++ });
    plain.setData(data);
    cov.setData(data);
    const corpus = [
      ...readFileSync(join(PACKAGE_ROOT, 'examples', 'policy-repo', 'recordings', 'demo.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l)),
      { type: 'llm_request', provider: 'openai', llm: { user_message: 'AKIAABCDEFGHIJKLMNOP', model: 'x' } },
      { type: 'mcp_message', mcp: { kind: 'request', tool: 'shell' } },
      { type: 'tls_server_hello', tls: { version: 'TLS 1.0', cipher: 'TLS_RSA_WITH_RC4_128_SHA' }, net: { dst_ip: '192.0.2.1' } },
      { type: 'connect', ml: { llm_score: 0.99, label: 'llm' } },
    ];
    for (const e of corpus) {
      for (const ep of eps) assert.deepEqual(cov.evaluate(e, ep), plain.evaluate(e, ep), `${ep} on ${JSON.stringify(e).slice(0, 120)}`);
    }
    assert.ok(n > corpus.length, 'the coverage build reported hits');
  });
});

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'busted-tester-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('test rule discovery', () => {
  it('finds test_* complete rules in every module; repeated names become test_x#01; todo_ is skipped; functions and ref heads are not tests', () => {
    const d = tmp();
    writeFileSync(join(d, 'p.rego'), 'package p\n\nimport rego.v1\n\nallow if input.ok\n\ntest_in_policy_file if true\n');
    writeFileSync(
      join(d, 'p_test.rego'),
      'package p_test\n\nimport rego.v1\n\ntest_a if true\n\ntest_a if false\n\ntest_a if 1 == 1\n\ntodo_test_b if false\n\ntest_f(x) if x\n\ntest_obj.k := 1\n\ndefault test_d := true\n',
    );
    const s = loadSuite(d);
    assert.deepEqual(
      s.tests.map((t) => [t.name, t.row, t.todo, t.entrypoint]),
      [
        ['data.p.test_in_policy_file', 7, false, 'p/test_in_policy_file'],
        ['data.p_test.test_a', 5, false, 'p_test/test_a'],
        ['data.p_test.test_a#01', 7, false, 'p_test/test_a_busted_dup1'],
        ['data.p_test.test_a#02', 9, false, 'p_test/test_a_busted_dup2'],
        ['data.p_test.todo_test_b', 11, true, ''],
      ],
    );
    assert.deepEqual(s.policyFiles, [join(d, 'p.rego')]);
  });
});

describe('expectation matching', () => {
  it('matches objects partially at every level, arrays element by element, scalars exactly', () => {
    const e = { type: 'llm_request', provider: 'openai', llm: { model: 'm', tools: ['a', 'b'], usage: { input_tokens: 3 } }, process: { pid: 1, comm: 'curl' } };
    assert.ok(matches(e, { type: 'llm_request' }));
    assert.ok(matches(e, { llm: { model: 'm' }, process: { comm: 'curl' } }));
    assert.ok(matches(e, { llm: { tools: ['a', 'b'] } }));
    assert.ok(!matches(e, { llm: { tools: ['a'] } }), 'arrays match at the same length');
    assert.ok(!matches(e, { llm: { usage: { input_tokens: '3' } } }), 'no type coercion');
    assert.ok(!matches(e, { tls: {} }), 'a key that is absent does not match an object');
    assert.ok(!matches(e, { provider: null }));
  });
});

describe('--events', () => {
  it('takes files, directories (their *.jsonl) and globs; X.expect.jsonl stands for X.jsonl; nothing matched is a usage error', () => {
    const d = tmp();
    mkdirSync(join(d, 'sub'));
    for (const f of ['a.jsonl', 'a.expect.jsonl', 'b.jsonl', 'sub/c.jsonl', 'lonely.expect.jsonl', 'notes.txt']) writeFileSync(join(d, f), '');
    assert.deepEqual(eventFiles([d]), [join(d, 'a.jsonl'), join(d, 'b.jsonl'), join(d, 'lonely.expect.jsonl'), join(d, 'sub/c.jsonl')]);
    assert.deepEqual(eventFiles([join(d, '*.expect.jsonl')]), [join(d, 'a.jsonl'), join(d, 'lonely.expect.jsonl')]);
    assert.deepEqual(eventFiles([join(d, 'b.jsonl'), join(d, '{a,b}.jsonl')]), [join(d, 'b.jsonl'), join(d, 'a.jsonl')]);
    assert.throws(() => eventFiles([join(d, '*.json')]), /matches no file/);
    assert.throws(() => eventFiles([join(d, 'nope.jsonl')]), /no such file/);
  });
});
