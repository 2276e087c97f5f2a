// End-to-end tests of references to a package or rule tree as a value (the
// "extent" of a virtual document, OPA's planner planRefData). Expected
// results follow OPA's policy language reference, "Virtual Documents" and
// "Base and virtual documents": `data.pkg` is an object with every rule of
// the package (complete rules with their value when defined, partial sets
// as sets, partial objects as objects; functions are not values), merged
// with the base document at the same path (OPA's planner merges with
// ObjectMergeStmt: on a conflict the base value wins, as OPA's compliance
// case "base/virtual: conflicts" expects).
// Sets come back as JSON arrays (sorted by our runtime).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { compile } from '../../engine/policy/compiler.js';
import { findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;


const PKG = `package pkg
import rego.v1
a := 1
b := input.x
s contains x if some x in [1, 2]
o[k] := v if some k, v in {"k": "v"}
f(x) := x
u if false
`;

describe('policy e2e: package and rule trees as values', { skip }, () => {
  it('data.pkg is an object of its rules; functions and undefined rules are left out', async () => {
    const p = await load([PKG, 'package q\nimport rego.v1\nx := data.pkg\n'], ['q/x']);
    assert.deepEqual(result(p, 'q/x'), { a: 1, s: [1, 2], o: { k: 'v' } });
    assert.deepEqual(result(p, 'q/x', { x: 'in' }), { a: 1, b: 'in', s: [1, 2], o: { k: 'v' } });
  });

  it('iterates over the rule names of a package', async () => {
    const p = await load(
      [PKG, 'package q\nimport rego.v1\nnames contains k if some k, _ in data.pkg\nvals contains v if { v := data.pkg[_]; is_number(v) }\n'],
      ['q/names', 'q/vals'],
    );
    assert.deepEqual(result(p, 'q/names'), ['a', 'o', 's']);
    assert.deepEqual(result(p, 'q/vals'), [1]);
  });

  it('merges the base document under the same path; on a conflict the base value wins (OPA ObjectMergeStmt)', async () => {
    const p = await load([PKG, 'package q\nimport rego.v1\nx := data.pkg\n'], ['q/x'], { pkg: { base: 'doc', a: 'base' } });
    assert.deepEqual(result(p, 'q/x'), { a: 'base', base: 'doc', s: [1, 2], o: { k: 'v' } });
  });

  it('nests subpackages, with base data at every level', async () => {
    const p = await load(
      ['package a.b\nimport rego.v1\np := 1\n', 'package a.c\nimport rego.v1\nq := 2\n', 'package z\nimport rego.v1\nx := data.a\n'],
      ['z/x'],
      { a: { d: 3, b: { e: 4 } } },
    );
    assert.deepEqual(result(p, 'z/x'), { b: { p: 1, e: 4 }, c: { q: 2 }, d: 3 });
  });

  it('a rule reading data as a whole depends on every rule, itself included: a recursion error', () => {
    assert.throws(
      () => compile([{ file: 'p.rego', text: 'package z\nimport rego.v1\nx := data\n' }], { entrypoints: ['z/x'] }),
      /rego_recursion_error: rule data\.z\.x is recursive: data\.z\.x -> data\.z\.x/,
    );
  });

  it('the tree from the root down, under a package prefix shared with base data', async () => {
    const p = await load(['package a.b\nimport rego.v1\np := 1\n', 'package z\nimport rego.v1\nx := data.a\n'], ['z/x'], { a: { base: [1] } });
    assert.deepEqual(result(p, 'z/x'), { b: { p: 1 }, base: [1] });
  });

  it('with data.pkg.a replaces the rule in the extent', async () => {
    const p = await load([PKG, 'package q\nimport rego.v1\nx := y if { y := data.pkg with data.pkg.a as 7 }\n'], ['q/x']);
    assert.deepEqual(result(p, 'q/x'), { a: 7, s: [1, 2], o: { k: 'v' } });
  });
});
