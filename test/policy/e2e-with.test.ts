// End-to-end tests of `with … as …` in the Rego compiler, loaded with
// loadCompiled (loadPolicy + our custom builtins).
//
// Expected values are OPA's documented results, from the policy language
// reference https://www.openpolicyagent.org/docs/latest/policy-language/,
// section "With Keyword":
// - `allow with input as {...}` checks whether a request would be allowed
//   (alice POST: allowed; bob GET: allowed; bob DELETE: `not allow` holds);
//   "It's also possible to use `with` multiple times in the same query. `dev`
//   role allows `GET`, even for an unknown user": charlie GET with
//   `data.roles as {"dev": ["charlie"]}` is allowed. The docs' `allow` policy
//   (from their "Imports" section) is restated here with plain refs.
// - "The `with` keyword only affects the attached expression. Subsequent
//   expressions will see the unmodified value", except that `with`s in
//   scope nest: the inner/middle/outer example gives
//   outer = [[100, 300], {"foo": 200, "bar": 300}].
// - A function target's value may be a value, another function, or a
//   builtin, of the same arity; "Replacement functions can call the
//   function they're replacing without causing recursion": the mock_count
//   example gives 0.
// - "When applied to the data document, the <target> must not attempt to
//   partially define virtual documents" (a compile error in OPA; here a
//   "not supported yet" error).
// A `with` on a data path that rules define replaces the rules' value
// (OPA's planner shadows the rule tree, docs/rego-wasm-abi.md §3.4 planWith).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { compile } from '../../engine/policy/compiler.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;


/** The docs' authz example: alice may do anything, bob may GET, the `dev` role may GET. */
const EXAMPLES = `package examples

default allow := false

allow if input.user == "alice"

allow if {
  input.user == "bob"
  input.method == "GET"
}

allow if {
  input.method == "GET"
  input.user in data.roles.dev
}
`;

describe('rego → wasm: with', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's examples: with input as, not … with, several with on one expression", async () => {
    const authz = `package authz

import data.examples.allow

alice if allow with input as {"user": "alice", "method": "POST"}

bob_get if allow with input as {"user": "bob", "method": "GET"}

bob_delete if not allow with input as {"user": "bob", "method": "DELETE"}

charlie if {
  allow with input as {"user": "charlie", "method": "GET"}
        with data.roles as {"dev": ["charlie"]}
}

charlie_alone if allow with input as {"user": "charlie", "method": "GET"}

plain := allow
`;
    const eps = ['authz/alice', 'authz/bob_get', 'authz/bob_delete', 'authz/charlie', 'authz/charlie_alone', 'authz/plain'];
    const p = await load([EXAMPLES, authz], eps);
    p.setData({ roles: { dev: ['bob'] } });
    const input = { user: 'mallory', method: 'POST' };
    assert.equal(result(p, 'authz/alice', input), true);
    assert.equal(result(p, 'authz/bob_get', input), true);
    assert.equal(result(p, 'authz/bob_delete', input), true);
    assert.equal(result(p, 'authz/charlie', input), true);
    assert.equal(result(p, 'authz/charlie_alone', input), undefined);
    // the rest of the body, and other rules, see the unmodified input
    assert.equal(result(p, 'authz/plain', input), false);
    assert.equal(result(p, 'authz/plain', { user: 'alice' }), true);
  });

  it("OPA's inner/middle/outer example: nested input paths, with in scope nests", async () => {
    const src = `package t

inner := [x, y] if {
  x := input.foo
  y := input.bar
}

middle := [a, b] if {
  a := inner with input.foo as 100
  b := input
}

outer := result if {
  result := middle with input as {"foo": 200, "bar": 300}
}
`;
    const p = await load(src, ['t/outer', 't/middle', 't/inner']);
    assert.deepEqual(result(p, 't/outer', { foo: 1, bar: 2 }), [[100, 300], { foo: 200, bar: 300 }]);
    assert.deepEqual(result(p, 't/middle', { foo: 1, bar: 2 }), [[100, 2], { foo: 1, bar: 2 }]);
    assert.deepEqual(result(p, 't/inner', { foo: 1, bar: 2 }), [1, 2]);
    // upsert into a missing or non-object input: the path is made
    assert.deepEqual(result(p, 't/middle', { bar: 'b' }), [[100, 'b'], { bar: 'b' }]);
    assert.equal(result(p, 't/middle'), undefined); // `b := input` with no input
  });

  it('deep input paths are upserted into a copy; the original stays', async () => {
    const src = `package t

deep := input.a.b.c

p := [v, input] if v := deep with input.a.b.c as 7

q := v if v := deep with input.a.b as {"c": 8} with input.a.b.c as 9
`;
    const p = await load(src, ['t/p', 't/q']);
    assert.deepEqual(result(p, 't/p', { a: { x: 1, b: { c: 1, d: 2 } } }), [7, { a: { x: 1, b: { c: 1, d: 2 } } }]);
    assert.deepEqual(result(p, 't/p', { a: 'str' }), [7, { a: 'str' }]);
    assert.equal(result(p, 't/q', {}), 9);
  });

  it('with data.x as: base data and the value of rules, seen by called rules', async () => {
    const src = `package t

limit := 3

over contains n if {
  some n in input.ns
  n > limit
}

level := data.config.level

report := [count(over), level]

p := r if r := report with data.t.limit as 1

q := r if r := report with data.config.level as "high"

base := r if r := report

both := r if r := report with data.t.limit as 0 with data.config as {"level": "low"}

not_over if not over[5] with data.t.limit as 5
`;
    const p = await load(src, ['t/p', 't/q', 't/base', 't/both', 't/not_over']);
    p.setData({ config: { level: 'mid' } });
    const input = { ns: [1, 2, 3, 4, 5] };
    assert.deepEqual(result(p, 't/base', input), [2, 'mid']);
    assert.deepEqual(result(p, 't/p', input), [4, 'mid']);
    assert.deepEqual(result(p, 't/q', input), [2, 'high']);
    assert.deepEqual(result(p, 't/both', input), [5, 'low']);
    assert.equal(result(p, 't/not_over', input), true);
  });

  it('with in a rule used under not, and a with under not', async () => {
    const src = `package t

admin if "admin" in input.roles

as_admin if admin with input.roles as ["admin"]

deny if not as_admin

deny2 if not admin with input.roles as ["user"]
`;
    const p = await load(src, ['t/deny', 't/deny2', 't/as_admin']);
    assert.equal(result(p, 't/as_admin', { roles: [] }), true);
    assert.equal(result(p, 't/deny', { roles: [] }), undefined);
    assert.equal(result(p, 't/deny2', { roles: ['admin'] }), true);
  });

  it("OPA's mock_count example, and values and builtins as replacements", async () => {
    const src = `package mock

f(x) := count(x)

mock_count(x) := 0 if "x" in x
mock_count(x) := count(x) if not "x" in x

result := v if {
  v := f(["x", 2, 3]) with count as mock_count
}

other := v if v := f([1, 2, 3]) with count as mock_count

seven := v if v := f([1]) with count as 7

g(x) := x + 1
h(x) := x * 10

gh := [a, b] if {
  a := g(2) with g as h
  b := g(2)
}

upper_lower := v if v := upper("aB") with upper as lower
`;
    const p = await load(src, ['mock/result', 'mock/other', 'mock/seven', 'mock/gh', 'mock/upper_lower']);
    assert.equal(result(p, 'mock/result'), 0);
    assert.equal(result(p, 'mock/other'), 3);
    assert.equal(result(p, 'mock/seven'), 7);
    assert.deepEqual(result(p, 'mock/gh'), [20, 3]);
    assert.equal(result(p, 'mock/upper_lower'), 'ab');
  });

  it('a replacement value computed in the body (a var, a comprehension) reaches the rules and functions below', async () => {
    const src = `package t

now := time.now_ns()

twice(x) := 2 * x

uses_twice := twice(input.n)

p := [a, b, c, d] if {
  t := input.t
  a := now with time.now_ns as t
  b := count([1, 2]) with count as [x | some x in input.xs]
  c := uses_twice with data.t.twice as t
  d := now
}

# the operands of a replaced function must still be defined
q if count(input.missing) with count as 1
`;
    const p = await load(src, ['t/p', 't/q']);
    const got = result(p, 't/p', { t: 42, xs: [7, 8], n: 1 }) as unknown[];
    assert.deepEqual(got.slice(0, 3), [42, [7, 8], 42]);
    assert.ok((got[3] as number) > 1.7e18, 'outside the with, time.now_ns is the clock again');
    assert.equal(result(p, 't/q', {}), undefined);
    assert.equal(result(p, 't/q', { missing: [] }), true);
  });

  it('unsupported forms of with are compile errors at file:row:col', () => {
    const fails = (src: string) => () => compile([{ file: 'p.rego', text: src }], { entrypoints: ['t/p'] });
    const cases: Array<[string, RegExp]> = [
      // OPA: "must not attempt to partially define virtual documents"
      ['package t\nq := {"r": 1}\np if { data.t.q with data.t.q.r as 2 }', /^p\.rego:3:\d+: rego_compile_error: not supported yet: with on a path inside rule data\.t\.q$/],
      ['package t\np if 1 < 2 with lt as gt', /not supported yet: with lt$/],
    ];
    for (const [src, want] of cases) assert.throws(fails(src), (e: Error) => (assert.match(e.message, want), true), src);
  });
});
