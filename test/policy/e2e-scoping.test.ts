// End-to-end tests of where a var is in scope (stage rewrite_local_vars,
// engine/policy/compile/locals.ts), loaded with loadCompiled.
//
// Expected values and errors are OPA's (v1/ast/compile.go RewriteLocalVars):
// - a var declared with `:=`, `some` or `every` is a new var from its
//   declaration on; the same name in a closure (comprehension, every) of an
//   earlier expression is another var, local to that closure, or the var of
//   an enclosing body declared before;
// - `=` declares nothing: a closure shares a unification var with its body
//   wherever in the body it is bound;
// - redeclaring a name in the same body is a rego_compile_error at the
//   declaration: `var x assigned above`, `var x declared above` (`some`),
//   `var x referenced above` (used before its `:=`), `arg x redeclared`;
//   `:=` in a negated expression or to anything but vars, arrays of vars
//   and object values is an error too.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { compileModules } from '../../engine/policy/compile/stages.js';
import { parseModule } from '../../engine/policy/rego/parser.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

/** The compile errors of one module, as `row:col code: message`. */
function errorsOf(src: string): string[] {
  const { errors } = compileModules([parseModule(src, 'p.rego')]);
  return errors.map((e) => `${e.location.row}:${e.location.col} ${e.code}: ${e.reason}`);
}

describe('rego → wasm: var scopes', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it("OPA's case: a comprehension's var is not the one `:=` declares later", async () => {
    const p = await load(
      `package test
xs := {"a", "b", "c"}
p := x if {
	y := {x | xs[x]}
	z := {x | xs[x]}
	count(y) == count(z)
	x := count(y)
}
q := [y, x] if {
	y := {x | xs[x]}
	x := 1
}
`,
      ['test/p', 'test/q'],
    );
    assert.equal(result(p, 'test/p'), 3);
    assert.deepEqual(result(p, 'test/q'), [['a', 'b', 'c'], 1]);
  });

  it('a closure shares a var its body binds with `=`, even later', async () => {
    const p = await load(
      `package test
p := ys if {
	ys := [v | some v in [1, 2, 3]; v > m]
	m = 1
}
all_above if {
	every v in [2, 3] { v > m }
	m = 1
}
`,
      ['test/p', 'test/all_above'],
    );
    assert.deepEqual(result(p, 'test/p'), [2, 3]);
    assert.equal(result(p, 'test/all_above'), true);
  });

  it('`some x` after a closure that uses x: two vars', async () => {
    const p = await load(
      `package test
p := [y, x] if {
	y := [x | x = 1]
	some x in [5]
}
q := [y, x] if {
	y := {x | some x in [1, 2]}
	some x
	x = 7
}
`,
      ['test/p', 'test/q'],
    );
    assert.deepEqual(result(p, 'test/p'), [[1], 5]);
    assert.deepEqual(result(p, 'test/q'), [[1, 2], 7]);
  });

  it('nested closures: an earlier declaration is seen, a later one shadows from there on', async () => {
    const p = await load(
      `package test
# the inner closure reads the body's x; the outer one declares its own after
p := [x, y] if {
	x := 1
	y := [[z, x] | z := [x | true]; x := 2]
}
# a closure reads the body's x, then declares its own
q := [x, y] if {
	x := 1
	y := [x | x > 0; x := 2]
}
# a closure in a closure, before the declarations of both: local to it
r := y if {
	y := [[w, x] | w := [x | x := 3]; x := 2]
	x := 1
}
`,
      ['test/p', 'test/q', 'test/r'],
    );
    assert.deepEqual(result(p, 'test/p'), [1, [[[1], 2]]]);
    assert.deepEqual(result(p, 'test/q'), [1, [2]]);
    assert.deepEqual(result(p, 'test/r'), [[[3], 2]]);
  });

  it('heads, else and functions: head closures are their own, args are the body\'s', async () => {
    const p = await load(
      `package test
p := [x | x := 1] if { x := 2 }
q := [y | y := x] if { x := 2 }
r := [x | y := [x | true]; x := 1] if { x := 2 }
s := 0 if { false } else := x if {
	y := [x | x = 4]
	x := count(y)
}
f(x) := [x | x := 5]
g(x) := y if { y := [x | x > 0; x := 7] }
t := [f(1), g(1)]
`,
      ['test/p', 'test/q', 'test/r', 'test/s', 'test/t'],
    );
    assert.deepEqual(result(p, 'test/p'), [1]);
    assert.deepEqual(result(p, 'test/q'), [2]);
    assert.deepEqual(result(p, 'test/r'), [1]);
    assert.equal(result(p, 'test/s'), 1);
    assert.deepEqual(result(p, 'test/t'), [[5], [7]]);
  });

  it('a closure var declared later is unsafe when nothing binds it; messages name vars as written', () => {
    assert.deepEqual(errorsOf('package test\np := y if {\n\ty := [x | x > 0]\n\tx := 1\n}'), ['3:12 rego_unsafe_var_error: var x is unsafe']);
    // the `some x` var (renamed apart from the closure's) is named as written
    assert.deepEqual(errorsOf('package test\np if {\n\ty := [x | x > 0]\n\tsome x\n\tx > 1\n}'), ['5:2 rego_unsafe_var_error: var x is unsafe']);
    assert.deepEqual(errorsOf('package test\np := 1\np[x] := 2 if {\n\ty := [x | x = 1]\n\tx := input.a\n}'), ['2:1 rego_type_error: conflicting rules data.test.p[x] found']);
  });

  it('redeclarations are errors at the declaration, as OPA words them', () => {
    const cases: Array<[string, string]> = [
      ['p if {\n\tx := 1\n\tx := 2\n}', '4:2 rego_compile_error: var x assigned above'],
      ['p if {\n\tx == 1\n\tx := 1\n}', '4:2 rego_compile_error: var x referenced above'],
      ['p if {\n\tinput.a[x]\n\t[y, x] := [1, 2]\n}', '4:6 rego_compile_error: var x referenced above'],
      ['p if {\n\tsome x\n\tx := 1\n}', '4:2 rego_compile_error: var x declared above'],
      ['p if {\n\tx := 1\n\tsome x in [1]\n}', '4:2 rego_compile_error: var x assigned above'],
      ['p if {\n\tsome x, x\n\tx = 1\n}', '3:2 rego_compile_error: var x declared above'],
      ['p if {\n\tevery x, x in [1] { true }\n}', '3:2 rego_compile_error: var x declared above'],
      ['f(x) := y if {\n\tx := 1\n\ty := 2\n}', '3:2 rego_compile_error: arg x redeclared'],
      ['p if {\n\tnot x := 1\n}', '3:2 rego_compile_error: cannot assign vars inside negated expression'],
      ['p if {\n\t[1, x] := [1, 2]\n}', '3:3 rego_compile_error: cannot assign to number'],
      ['p if {\n\tinput.x := 1\n}', '3:2 rego_compile_error: cannot assign to ref'],
    ];
    for (const [body, want] of cases) assert.deepEqual(errorsOf(`package test\n${body}`), [want], body);
  });

  it('the same name in sibling closures, or again in a closure, is no redeclaration', () => {
    assert.deepEqual(errorsOf('package test\np if {\n\tx := 1\n\ty := [x | x := 2]\n\tz := [x | x := 3]\n\ty != z\n}'), []);
    assert.deepEqual(errorsOf('package test\nf(x) := y if {\n\ty := [x | x := 2]\n}'), []);
  });
});
