// End-to-end tests of unification that binds vars inside composites, and of
// `in` as a value and with composite patterns, loaded with loadCompiled.
//
// Expected values are OPA's documented results, from the policy language
// reference https://www.openpolicyagent.org/docs/latest/policy-language/:
// - "Unification `=`": `[x, "world"] = ["hello", y]` binds x = "hello" and
//   y = "world"; unification succeeds when both sides can be made equal,
//   arrays element by element (same length), objects key by key (same key
//   set); when it cannot, the expression is undefined. Vars may be bound on
//   either side, and a ref may be unified with a pattern
//   (`[x, 2] = data.arr`).
// - "Membership and iteration: `in`": `x := 3 in [1, 2, 3]` is true,
//   `3 in [1, 2, 4]` false, `"foo" in {"foo": "bar"}` false (objects are
//   checked by value), `"foo", "bar" in {"foo": "bar"}` true; `some [x, y]
//   in xs` and `some k, [a, _] in xs` unify each element with the pattern,
//   skipping elements that do not match.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;


function sorted(v: unknown): unknown {
  return Array.isArray(v) ? [...v].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : v;
}

describe('rego → wasm: unification and in', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's example: [x, \"world\"] = [\"hello\", y]", async () => {
    const p = await load(
      `package u

both := [x, y] if [x, "world"] = ["hello", y]

mismatch if [x, "world"] = ["hello", "there"]

short if { x := 1; [x, "world"] = ["hello", "there", x] }

clash if [x, x] = [1, 2]
`,
      ['u/both', 'u/mismatch', 'u/short', 'u/clash'],
    );
    assert.deepEqual(result(p, 'u/both'), ['hello', 'world']);
    assert.equal(result(p, 'u/mismatch'), undefined);
    assert.equal(result(p, 'u/clash'), undefined);
    assert.equal(result(p, 'u/short'), undefined);
  });

  it('patterns unified with data and input: arrays by length, objects by key set, nested', async () => {
    const p = await load(
      `package u

arr := x if [x, 2] = data.arr

obj := y if {"a": y} = input.obj

obj2 := [a, b] if {"b": b, "a": a} = input.obj2

nested := [a, b, c] if [a, [b, c]] = input.nested

rev := x if input.nested = [x, _]

assigned := [a, b] if {
  [a, b] := input.pair
}

each contains x if {
  [x, "ok"] = input.rows[_]
}
`,
      ['u/arr', 'u/obj', 'u/obj2', 'u/nested', 'u/rev', 'u/assigned', 'u/each'],
    );
    p.setData({ arr: [1, 2] });
    const input = {
      obj: { a: 'A' },
      obj2: { a: 1, b: 2 },
      nested: [1, [2, 3]],
      pair: ['p', 'q'],
      rows: [['r1', 'ok'], ['r2', 'no'], ['r3', 'ok'], ['short'], 'str'],
    };
    assert.equal(result(p, 'u/arr', input), 1);
    assert.equal(result(p, 'u/obj', input), 'A');
    assert.deepEqual(result(p, 'u/obj2', input), [1, 2]);
    assert.deepEqual(result(p, 'u/nested', input), [1, 2, 3]);
    assert.equal(result(p, 'u/rev', input), 1);
    assert.deepEqual(result(p, 'u/assigned', input), ['p', 'q']);
    assert.deepEqual(sorted(result(p, 'u/each', input)), ['r1', 'r3']);

    // failure is undefined: wrong length, wrong element, extra key, wrong type
    p.setData({ arr: [1, 2, 3] });
    const bad = { obj: { a: 1, b: 2 }, obj2: { a: 1 }, nested: [1, [2]], pair: { 0: 'p', 1: 'q' }, rows: [] };
    for (const ep of ['u/arr', 'u/obj', 'u/obj2', 'u/nested', 'u/assigned']) assert.equal(result(p, ep, bad), undefined, ep);
    p.setData({ arr: [1, 3] });
    assert.equal(result(p, 'u/arr', input), undefined);
    assert.deepEqual(result(p, 'u/each', bad), []);
  });

  it('patterns as ref keys, comprehensions and bound object keys', async () => {
    const p = await load(
      `package u

s := {[1, 2], [1, 3], [2, 7], {"a": 1}}

seconds := [x | s[[1, x]]]

comp := foo if [foo] = [x | x := 1]

comp2 := foo if [x | x := 1] = [foo]

bound := v if {
  k := "key"
  {k: [1]} = {k: [v]}
}
`,
      ['u/seconds', 'u/comp', 'u/comp2', 'u/bound'],
    );
    assert.deepEqual(sorted(result(p, 'u/seconds')), [2, 3]);
    assert.equal(result(p, 'u/comp'), 1);
    assert.equal(result(p, 'u/comp2'), 1);
    assert.equal(result(p, 'u/bound'), 1);
  });

  it('function arguments and call outputs as patterns', async () => {
    const p = await load(
      `package u

first([a, _]) := a

swap({"x": x, "y": y}) := {"x": y, "y": x}

f := first([7, 8])

g := swap({"x": 1, "y": 2})

h := a if split("k=v", "=", [a, "v"])

none := first([1])
`,
      ['u/f', 'u/g', 'u/h', 'u/none'],
    );
    assert.equal(result(p, 'u/f'), 7);
    assert.deepEqual(result(p, 'u/g'), { x: 2, y: 1 });
    assert.equal(result(p, 'u/h'), 'k');
    assert.equal(result(p, 'u/none'), undefined);
  });

  it("OPA's examples: in as a value", async () => {
    const p = await load(
      `package u

p := [x, y, z] if {
  x := 3 in [1, 2, 3]
  y := 3 in [1, 2, 4]
  z := "foo" in {"foo": "bar"}
}

q := [s, t] if {
  s := "bar" in {"foo": "bar"}
  t := ("foo", "bar" in {"foo": "bar"})
}

r := v if v := 1 in input.missing

kv if "foo", "bar" in {"foo": "bar"}

not_kv if not 0, 2 in [1, 2]
`,
      ['u/p', 'u/q', 'u/r', 'u/kv', 'u/not_kv'],
    );
    assert.deepEqual(result(p, 'u/p', {}), [true, false, false]);
    assert.deepEqual(result(p, 'u/q', {}), [true, true]);
    assert.equal(result(p, 'u/r', {}), undefined);
    assert.equal(result(p, 'u/kv', {}), true);
    assert.equal(result(p, 'u/not_kv', {}), true);
  });

  it('some … in with composite patterns', async () => {
    const p = await load(
      `package u

pairs contains [b, a] if some [a, b] in input.xs

keyed contains [k, a] if some k, [a, _] in input.xs

objs contains n if some {"name": n} in input.objs
`,
      ['u/pairs', 'u/keyed', 'u/objs'],
    );
    const input = { xs: [[1, 2], [3, 4], [5], 'x'], objs: [{ name: 'a' }, { name: 'b', extra: 1 }, { nom: 'c' }] };
    assert.deepEqual(sorted(result(p, 'u/pairs', input)), [
      [2, 1],
      [4, 3],
    ]);
    assert.deepEqual(sorted(result(p, 'u/keyed', input)), [
      [0, 1],
      [1, 3],
    ]);
    assert.deepEqual(result(p, 'u/objs', input), ['a']);
  });
});
