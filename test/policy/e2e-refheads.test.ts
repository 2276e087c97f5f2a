// End-to-end tests of rules whose heads are references ("ref heads", OPA
// v0.46+, the default form in Rego v1), packages as values, and references
// into data with variables.
//
// Expected values follow OPA's policy language reference, "Rules" →
// "Rule heads containing references" (https://www.openpolicyagent.org/docs/
// latest/policy-language/#rule-heads-containing-references): a rule's ref
// places its value in the rule tree; refs with variables build nested
// objects; several rules may build one tree; "Conflicts" — two values for
// the same key — are eval_conflict_error; and an empty package is an
// empty object.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { compile } from '../../engine/policy/compiler.js';
import { load, result, thrown } from './helpers.js';

describe('rego → wasm: rule heads with references', () => {
  it("the docs' example: fruit.apple.seeds and fruit.orange.color build one object", async () => {
    const src = `package example

fruit.apple.seeds := 12

fruit.orange.color := "orange"
`;
    const p = await load(src, ['example/fruit', 'example/fruit/apple/seeds', 'example']);
    assert.deepEqual(result(p, 'example/fruit'), { apple: { seeds: 12 }, orange: { color: 'orange' } });
    assert.equal(result(p, 'example/fruit/apple/seeds'), 12);
    assert.deepEqual(result(p, 'example'), { fruit: { apple: { seeds: 12 }, orange: { color: 'orange' } } });
  });

  it('variables in the ref build nested objects; queries can go in at any depth', async () => {
    const src = `package t

users[name].role := role if some name, role in input.roles

users[name].admin := true if some name in input.admins

by_level[level][name] := 1 if some name, level in input.levels

q := users[input.who].role
`;
    const p = await load(src, ['t/users', 't/by_level', 't/q', 't/users/bob']);
    const input = { roles: { alice: 'dev', bob: 'ops' }, admins: ['bob'], levels: { alice: 'a', bob: 'b', carol: 'a' }, who: 'alice' };
    assert.deepEqual(result(p, 't/users', input), { alice: { role: 'dev' }, bob: { role: 'ops', admin: true } });
    assert.deepEqual(result(p, 't/by_level', input), { a: { alice: 1, carol: 1 }, b: { bob: 1 } });
    assert.equal(result(p, 't/q', input), 'dev');
    assert.deepEqual(result(p, 't/users/bob', input), { role: 'ops', admin: true });
    // no solutions: an empty object, as for partial object rules
    assert.deepEqual(result(p, 't/users', {}), {});
  });

  it('multi-value rules with refs: sets at the leaves, merged with rules deeper in the tree', async () => {
    const src = `package t

deny[kind] contains msg if {
  some r in input.reqs
  kind := r.kind
  msg := r.msg
}

deny.net contains "always"
`;
    const p = await load(src, ['t/deny', 't/deny/net']);
    const input = { reqs: [{ kind: 'net', msg: 'a' }, { kind: 'file', msg: 'b' }, { kind: 'net', msg: 'c' }] };
    const deny = result(p, 't/deny', input) as Record<string, string[]>;
    assert.deepEqual(Object.keys(deny).sort(), ['file', 'net']);
    assert.deepEqual([...deny.net!].sort(), ['a', 'always', 'c']);
    assert.deepEqual(deny.file, ['b']);
    // the node deny.net is defined by both rules: its value is their union
    assert.deepEqual([...(result(p, 't/deny/net', input) as string[])].sort(), ['a', 'always', 'c']);
  });

  it('a rule with a var beside a rule with a longer ground ref: one object, queried by path', async () => {
    const src = `package t

p[k] := 1 if some k in input.ks

p.q.r := 2

x := p.q.r

y := p[input.k]
`;
    const p = await load(src, ['t/p', 't/x', 't/y']);
    assert.deepEqual(result(p, 't/p', { ks: ['a', 'b'] }), { a: 1, b: 1, q: { r: 2 } });
    assert.equal(result(p, 't/x', { ks: ['a'] }), 2);
    assert.equal(result(p, 't/y', { ks: ['a'], k: 'a' }), 1);
  });

  it('functions and else chains with dotted names, and keywords as ref elements', async () => {
    const src = `package t

util.double(x) := 2 * x

rules.if := 1 if input.a
else := 2

rules.contains.every := "kw"

p := [util.double(2), rules.if, rules.contains.every]
`;
    const p = await load(src, ['t/p']);
    assert.deepEqual(result(p, 't/p', { a: false }), [4, 2, 'kw']);
    assert.deepEqual(result(p, 't/p', { a: true }), [4, 1, 'kw']);
  });

  it('conflicts: one key with two values, or a value where a tree goes on', async () => {
    const p = await load(
      `package t

p[k] := v if {
  some pair in input.pairs
  k := pair[0]
  v := pair[1]
}

q[k].r := 1 if some k in input.ks

q.x := 2
`,
      ['t/p', 't/q'],
    );
    assert.deepEqual(result(p, 't/p', { pairs: [['a', 1], ['b', 2]] }), { a: 1, b: 2 });
    assert.match(thrown(() => result(p, 't/p', { pairs: [['a', 1], ['a', 2]] })), /eval_conflict_error: object keys must be unique/);
    assert.deepEqual(result(p, 't/q', { ks: ['y'] }), { x: 2, y: { r: 1 } });
    assert.match(thrown(() => result(p, 't/q', { ks: ['x'] })), /eval_conflict_error/);
  });
});

describe('rego → wasm: packages and data as values', () => {
  it('a package with no rules is an empty object; data.pkg merges packages and base data', async () => {
    const p = await load(['package a.b\n', 'package a.c\n\nr := 1\n', 'package x\n\np := data.a\n\nq := data.a.b\n'], ['x/p', 'x/q']);
    p.setData({ a: { base: true } });
    assert.deepEqual(result(p, 'x/p'), { b: {}, c: { r: 1 }, base: true });
    assert.deepEqual(result(p, 'x/q'), {});
  });

  it('data[x] with a variable reaches only the rules its other elements name (no recursion through itself)', async () => {
    const src = [
      'package test\n\np := data[first].allow.see if first := "primary"\n\nall_allows := {k | data[k].allow}\n',
      'package primary\n\nallow.see := true\n',
      'package other\n\nallow.x := 1\n',
    ];
    const p = await load(src, ['test/p', 'test/all_allows']);
    assert.equal(result(p, 'test/p'), true);
    assert.deepEqual(result(p, 'test/all_allows'), ['other', 'primary']);
  });

  it('a rule that truly refers to itself through data[x] is still a recursion error', () => {
    const src = 'package t\n\np := data[k].p if k := "t"\n';
    assert.throws(() => compile([{ file: 'p.rego', text: src }], { entrypoints: ['t/p'] }), /rego_recursion_error: rule data\.t\.p is recursive/);
  });
});
