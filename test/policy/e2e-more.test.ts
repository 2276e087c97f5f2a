// End-to-end tests of comprehensions, `else` and `every` in the Rego
// compiler, loaded with loadCompiled (loadPolicy + our custom builtins).
//
// Expected values are OPA's documented results, from the policy language
// reference https://www.openpolicyagent.org/docs/latest/policy-language/:
// - "Comprehensions": array, set and object comprehensions; their bodies
//   are their own scope and may read the enclosing body's vars; the
//   `names` / `b := {x | x = a[_]}` examples. An object comprehension
//   giving two values for one key is eval_conflict_error "object keys must
//   be unique".
// - "Else Keyword": the first definition of the chain whose body succeeds
//   gives the value; `default` applies when none does.
// - "Every Keyword": true when the body holds for every element, so true
//   for an empty collection; `every k, v in obj`; the `names_with_dev`
//   example. The domain is planned as OPA's wasm planner does
//   (docs/rego-wasm-abi.md §3.4): undefined unless it is a collection.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { loadCompiled } from '../../engine/policy/builtins-js.js';
import { compile } from '../../engine/policy/compiler.js';
import type { Policy } from '../../engine/policy/ir/ir.js';
import { toJSON } from '../../engine/policy/ir/ir.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result, thrown } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;


const sorted = (x: unknown): unknown => (Array.isArray(x) ? [...x].sort() : x);

/** OPA's "Comprehensions" data: sites with servers, and apps. */
const sites = [
  { region: 'east', name: 'prod', servers: [{ name: 'web-0', hostname: 'hydrogen' }, { name: 'web-1', hostname: 'helium' }, { name: 'db-0', hostname: 'lithium' }] },
  { region: 'west', name: 'smoke', servers: [{ name: 'web-1000', hostname: 'beryllium' }, { name: 'web-1001', hostname: 'boron' }, { name: 'db-1000', hostname: 'carbon' }] },
  { region: 'west', name: 'telemetry', servers: [{ name: 'web-100', hostname: 'nitrogen' }, { name: 'web-101', hostname: 'oxygen' }, { name: 'db-100', hostname: 'fluorine' }] },
];
const apps = [
  { name: 'web', servers: ['web-0', 'web-1', 'web-1000', 'web-1001', 'web-dev'] },
  { name: 'mysql', servers: ['db-0', 'db-1000'] },
  { name: 'mongodb', servers: ['db-dev'] },
];

describe('rego → wasm: comprehensions', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's examples: array, set and object comprehensions", async () => {
    const p = await load(
      `package t
region := "west"
names := [name | input.sites[i].region == region; name := input.sites[i].name]
b := {x | x = input.a[_]}
app_to_hostnames := {app.name: hostnames |
  app := input.apps[_]
  hostnames := [hostname | name := app.servers[_]; s := input.sites[_].servers[_]; s.name == name; hostname := s.hostname]
}
`,
      ['t/names', 't/b', 't/app_to_hostnames'],
    );
    const input = { sites, apps, a: [1, 2, 3, 4, 3, 4, 3, 4, 5] };
    assert.deepEqual(result(p, 't/names', input), ['smoke', 'telemetry']);
    assert.deepEqual(result(p, 't/b', input), [1, 2, 3, 4, 5]);
    assert.deepEqual(result(p, 't/app_to_hostnames', input), {
      web: ['hydrogen', 'helium', 'beryllium', 'boron'],
      mysql: ['lithium', 'carbon'],
      mongodb: [],
    });
  });

  it('count of an array comprehension, empty results, comprehensions as values anywhere', async () => {
    const p = await load(
      `package t
n := count([x | some x in input.xs; x > 1])
doubled := [y | some x in input.xs; y := x * 2]
s := {y | some x in input.xs; y := x % 2}
o := {k: v | some k, v in input.obj; v != "skip"}
nested := {"big": [x | some x in input.xs; x > 2], "n": count({x | some x in input.xs})}
many if count([x | some x in input.xs; x > 1]) >= 2
`,
      ['t/n', 't/doubled', 't/s', 't/o', 't/nested', 't/many'],
    );
    const input = { xs: [1, 2, 3, 3], obj: { a: 1, b: 'skip', c: [2] } };
    assert.equal(result(p, 't/n', input), 3);
    assert.deepEqual(result(p, 't/doubled', input), [2, 4, 6, 6]);
    assert.deepEqual(result(p, 't/s', input), [0, 1]);
    assert.deepEqual(result(p, 't/o', input), { a: 1, c: [2] });
    assert.deepEqual(result(p, 't/nested', input), { big: [3, 3], n: 3 });
    assert.equal(result(p, 't/many', input), true);
    // an empty body result is an empty collection, not undefined
    assert.equal(result(p, 't/n', { xs: [] }), 0);
    assert.deepEqual(result(p, 't/o', { obj: {} }), {});
    assert.equal(result(p, 't/many', { xs: [5] }), undefined);
    // the comprehension is still a value when its body reads an undefined ref
    assert.equal(result(p, 't/n', {}), 0);
  });

  it('nested comprehensions and comprehensions using outer vars', async () => {
    const p = await load(
      `package t
pos := [[y | some y in row; y > 0] | some row in input.m]
above contains [t, n] if {
  some t in input.ts
  n := count([x | some x in input.xs; x > t])
}
pairs := {[a, b] | some a in input.xs; some b in [c | some c in input.xs; c > a]}
shadow := v if {
  x := 100
  v := [x | some x in input.xs]
}
outer := [z | some x in input.xs; z := x + y] if y := input.off
`,
      ['t/pos', 't/above', 't/pairs', 't/shadow', 't/outer'],
    );
    const input = { m: [[1, -1, 2], [], [-3]], ts: [0, 2], xs: [1, 2, 3], off: 10 };
    assert.deepEqual(result(p, 't/pos', input), [[1, 2], [], []]);
    assert.deepEqual(sorted(result(p, 't/above', input)), [
      [0, 3],
      [2, 1],
    ]);
    assert.deepEqual(result(p, 't/pairs', input), [
      [1, 2],
      [1, 3],
      [2, 3],
    ]);
    assert.deepEqual(result(p, 't/shadow', input), [1, 2, 3]);
    assert.deepEqual(result(p, 't/outer', input), [11, 12, 13]);
  });

  it('comprehensions in negation and in function bodies', async () => {
    const p = await load(
      `package t
evens(xs) := [x | some x in xs; x % 2 == 0]
e := evens(input.xs)
no_big if not count([x | some x in input.xs; x > 10]) > 0
`,
      ['t/e', 't/no_big'],
    );
    assert.deepEqual(result(p, 't/e', { xs: [1, 2, 3, 4] }), [2, 4]);
    assert.equal(result(p, 't/no_big', { xs: [1, 2] }), true);
    assert.equal(result(p, 't/no_big', { xs: [1, 20] }), undefined);
  });

  it('an object comprehension with two values for one key is eval_conflict_error', async () => {
    const p = await load(
      `package t
o := {"a": x | some x in input.xs}
`,
      ['t/o'],
    );
    assert.deepEqual(result(p, 't/o', { xs: [1, 1] }), { a: 1 });
    assert.match(thrown(() => p.evaluate({ xs: [1, 2] }, 't/o')), /eval_conflict_error: object keys must be unique/);
  });

  it('is planned as OPA plans it: Make…, then a BlockStmt adding each solution', () => {
    let ir: Policy | undefined;
    compile([{ file: 'p.rego', text: 'package t\np := [x | some x in input.xs]' }], { entrypoints: ['t/p'], onIR: (x) => (ir = x) });
    const json = JSON.stringify(toJSON(ir!));
    assert.match(json, /"MakeArrayStmt".*"BlockStmt".*"ScanStmt".*"ArrayAppendStmt"/);
  });
});

describe('rego → wasm: else', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's example: the first definition whose body succeeds gives the value", async () => {
    const p = await load(
      `package t
default authorize := false
authorize if {
  input.user == "superuser"
} else := false if {
  input.path[0] == "admin"
  input.source_network == "external"
}
`,
      ['t/authorize'],
    );
    assert.equal(result(p, 't/authorize', { user: 'superuser', path: ['admin'], source_network: 'external' }), true);
    assert.equal(result(p, 't/authorize', { user: 'bob', path: ['admin'], source_network: 'external' }), false);
    assert.equal(result(p, 't/authorize', { user: 'bob', path: ['x'] }), false);
  });

  it('chains, a final else without a body, and default when no link succeeds', async () => {
    const p = await load(
      `package t
p := 1 if input.a else := 2 if input.b else := 3
default q := "none"
q := "a" if input.a
else := "b" if input.b
size := "large" if count(input.xs) > 2
else := "small" if count(input.xs) > 0
default size := "empty"
`,
      ['t/p', 't/q', 't/size'],
    );
    assert.equal(result(p, 't/p', { a: true, b: true }), 1);
    assert.equal(result(p, 't/p', { b: true }), 2);
    assert.equal(result(p, 't/p', {}), 3);
    assert.equal(result(p, 't/q', { a: true }), 'a');
    assert.equal(result(p, 't/q', { b: true }), 'b');
    assert.equal(result(p, 't/q', {}), 'none');
    assert.equal(result(p, 't/size', { xs: [1, 2, 3] }), 'large');
    assert.equal(result(p, 't/size', { xs: [1] }), 'small');
    assert.equal(result(p, 't/size', { xs: [] }), 'empty');
    assert.equal(result(p, 't/size', {}), 'empty');
  });

  it('else chains of several definitions: different values are eval_conflict_error', async () => {
    const p = await load(
      `package t
r := 1 if input.a else := 2
r := 2 if input.b
`,
      ['t/r'],
    );
    assert.equal(result(p, 't/r', { b: true }), 2);
    assert.match(thrown(() => p.evaluate({ a: true, b: true }, 't/r')), /eval_conflict_error: complete rules must not produce multiple outputs/);
  });
});

describe('rego → wasm: every', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's example: names_with_dev, and every k, v over an object", async () => {
    const p = await load(
      `package t
names_with_dev if {
  some site in input.sites
  site.name == "dev"
  every server in site.servers {
    endswith(server.name, "-dev")
  }
}
fb if every k, v in {"foo": "bar", "fox": "baz"} {
  startswith(k, "f")
  startswith(v, "b")
}
`,
      ['t/names_with_dev', 't/fb'],
    );
    const dev = (names: string[]) => ({ sites: [{ name: 'prod', servers: [{ name: 'x' }] }, { name: 'dev', servers: names.map((name) => ({ name })) }] });
    assert.equal(result(p, 't/names_with_dev', dev(['a-dev', 'b-dev'])), true);
    assert.equal(result(p, 't/names_with_dev', dev(['a-dev', 'b'])), undefined);
    assert.equal(result(p, 't/names_with_dev', dev([])), true);
    assert.equal(result(p, 't/fb'), true);
  });

  it('arrays, objects and sets; true for empty collections; undefined for an undefined domain', async () => {
    const p = await load(
      `package t
all_pos if every x in input.xs { x > 0 }
all_keys if every k, v in input.obj { startswith(k, "a"); v > 0 }
all_idx if every i, x in input.xs { x > i }
set_ok if every x in {1, 2, input.n} { x < 10 }
`,
      ['t/all_pos', 't/all_keys', 't/all_idx', 't/set_ok'],
    );
    assert.equal(result(p, 't/all_pos', { xs: [1, 2, 3] }), true);
    assert.equal(result(p, 't/all_pos', { xs: [1, -2, 3] }), undefined);
    assert.equal(result(p, 't/all_pos', { xs: [] }), true);
    assert.equal(result(p, 't/all_pos', {}), undefined);
    assert.equal(result(p, 't/all_keys', { obj: { a: 1, ab: 2 } }), true);
    assert.equal(result(p, 't/all_keys', { obj: { a: 1, b: 2 } }), undefined);
    assert.equal(result(p, 't/all_keys', { obj: { a: 1, ab: 0 } }), undefined);
    assert.equal(result(p, 't/all_keys', { obj: {} }), true);
    assert.equal(result(p, 't/all_idx', { xs: [1, 2, 3] }), true);
    assert.equal(result(p, 't/all_idx', { xs: [1, 1] }), undefined);
    assert.equal(result(p, 't/set_ok', { n: 3 }), true);
    assert.equal(result(p, 't/set_ok', { n: 30 }), undefined);
  });

  it('bodies that iterate, read outer vars, shadow them, and hold comprehensions', async () => {
    const p = await load(
      `package t
subset if every x in input.xs { some y in input.ys; y == x }
at_least if {
  m := input.min
  every x in input.xs { x >= m }
}
shadow if {
  x := "outer"
  every x in input.xs { x > 0 }
  x == "outer"
}
rows_nonempty if every row in input.m { count([y | some y in row; y > 0]) > 0 }
in_compr := [n | some n in input.ts; every x in input.xs { x < n }]
`,
      ['t/subset', 't/at_least', 't/shadow', 't/rows_nonempty', 't/in_compr'],
    );
    assert.equal(result(p, 't/subset', { xs: [1, 2], ys: [3, 2, 1] }), true);
    assert.equal(result(p, 't/subset', { xs: [1, 4], ys: [3, 2, 1] }), undefined);
    assert.equal(result(p, 't/at_least', { xs: [3, 4], min: 3 }), true);
    assert.equal(result(p, 't/at_least', { xs: [3, 4], min: 4 }), undefined);
    assert.equal(result(p, 't/shadow', { xs: [1, 2] }), true);
    assert.equal(result(p, 't/shadow', { xs: [1, 0] }), undefined);
    assert.equal(result(p, 't/rows_nonempty', { m: [[1], [-1, 2]] }), true);
    assert.equal(result(p, 't/rows_nonempty', { m: [[1], [-1]] }), undefined);
    assert.deepEqual(result(p, 't/in_compr', { ts: [1, 3, 5], xs: [1, 2] }), [3, 5]);
  });

  it('every in a function and under other rules', async () => {
    const p = await load(
      `package t
all_even(xs) if every x in xs { x % 2 == 0 }
a := all_even(input.xs)
b := true if all_even(input.xs) else := false
`,
      ['t/a', 't/b'],
    );
    assert.equal(result(p, 't/a', { xs: [2, 4] }), true);
    assert.equal(result(p, 't/a', { xs: [2, 3] }), undefined);
    assert.equal(result(p, 't/b', { xs: [2, 3] }), false);
    assert.equal(result(p, 't/b', { xs: [] }), true);
  });
});
