// Tests of the compile-time checks (engine/policy/compile/stages.ts):
// policies that compile, with their bodies as reordered for safety (printed
// with formatAst), and policies that fail, with OPA's code, message and
// row:col. Messages marked "OPA" are OPA's own strings: conflicting /
// multiple default rules (v1/ast/compile.go checkRuleConflicts), undefined
// function and arity (checkUndefinedFuncs), var x is unsafe
// (safetyErrorSlice), recursion (docs "rego_recursion_error: rule {name} is
// recursive", e.g. `rule data.policy.rule_a is recursive: data.policy.rule_a
// -> data.policy.rule_a`). Those marked "ours" have no OPA counterpart.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { parseModule } from '../../engine/policy/rego/parser.js';
import { formatAst } from '../../engine/policy/rego/print.js';
import { compileModules, STAGES } from '../../engine/policy/compile/stages.js';

function compile(...srcs: string[]) {
  return compileModules(srcs.map((s, i) => parseModule(s, i === 0 ? 'test.rego' : `test${i}.rego`)));
}

/** The body of the first rule named `name`, one expression per line, after compiling. */
function bodyOf(src: string, name = 'p'): string {
  const { program, errors } = compile(src);
  assert.deepEqual(errors.map((e) => e.message), []);
  const m = program!.modules[0]!;
  const r = m.rules.find((x) => x.head.ref.head.type === 'var' && x.head.ref.head.name === name)!;
  return r.body.map((e) => formatAst(e)).join('\n');
}

interface Pass {
  note: string;
  src: string;
  body: string;
}

const PASS: Pass[] = [
  { note: 'local rule becomes data ref', src: 'package t\nq := 1\np if q == 1', body: '(equal data.t.q 1)' },
  {
    note: 'import alias resolved',
    src: 'package t\nimport data.lib.x as y\nimport input.req\np if { y.z == req.a }',
    body: '(equal data.lib.x.z input.req.a)',
  },
  { note: 'future.keywords and rego.v1 accepted', src: 'package t\nimport future.keywords.in\nimport rego.v1\np if 1 in [1]', body: '(internal.member_2 1 (array 1))' },
  { note: 'binding moved before use', src: 'package t\np if {\n  x > 1\n  x = input.a\n}', body: '(eq x input.a)\n(gt x 1)' },
  {
    note: 'chain reordered stably',
    src: 'package t\np if {\n  y > 0\n  y = x + 1\n  x = input.n\n}',
    body: '(eq x input.n)\n(eq y (plus x 1))\n(gt y 0)',
  },
  {
    note: 'ref iteration binds',
    src: 'package t\np if {\n  y == input.b[i]\n  input.xs[i] == 1\n  y = 2\n}',
    body: '(equal input.xs[i] 1)\n(eq y 2)\n(equal y input.b[i])',
  },
  { note: 'some x in xs binds', src: 'package t\np if {\n  some x in input.xs\n  x > y\n  y = 1\n}', body: '(some (internal.member_2 x input.xs))\n(eq y 1)\n(gt x y)' },
  { note: 'not waits for its vars', src: 'package t\np if {\n  not x == 1\n  x = input.a\n}', body: '(eq x input.a)\n(not (equal x 1))' },
  { note: 'wildcard local to not', src: 'package t\np if not input.deny[_]', body: '(not input.deny[$0])' },
  { note: 'function args are safe', src: 'package t\nf(x) := y if y := x + 1\np if f(1) == 2', body: '(equal (data.t.f 1) 2)' },
  { note: 'output operand binds', src: 'package t\np if {\n  n > 0\n  count(input.xs, n)\n}', body: '(count input.xs n)\n(gt n 0)' },
  {
    note: 'comprehension waits for a shared var',
    src: 'package t\np if {\n  ys := [y | y := input.xs[_]; y > m]\n  m = 1\n}',
    body: '(eq m 1)\n(assign ys (arraycomp y (body (assign y input.xs[$0]) (gt y m))))',
  },
  {
    note: 'comprehension body reordered',
    src: 'package t\np if {\n  ys := {y | y > 1; y = input.xs[_]}\n}',
    body: '(assign ys (setcomp y (body (eq y input.xs[$0]) (gt y 1))))',
  },
  { note: 'every body is a closure', src: 'package t\np if {\n  every x in input.xs { x > m }\n  m = 1\n}', body: '(eq m 1)\n(every x input.xs (body (gt x m)))' },
  { note: 'with value', src: 'package t\nq := input.a\np if {\n  q with input.a as v\n  v = 1\n}', body: '(eq v 1)\n(with data.t.q (input.a v))' },
  { note: 'function defined in two bodies, same arity', src: 'package t\nf(x) := 1 if x > 0\nf(x) := 2 if x <= 0\np if f(1)', body: '(data.t.f 1)' },
  { note: 'partial set rules', src: 'package t\np contains x if x := input.a\np contains 1', body: '(assign x input.a)' },
  { note: 'builtins with dotted names', src: 'package t\np if strings.any_prefix_match(input.a, ["x"])', body: '(strings.any_prefix_match input.a (array "x"))' },
];

interface Fail {
  note: string;
  src: string | string[];
  code: string;
  message: string;
  at: [row: number, col: number];
  /** more errors than the first, as `row:col message` */
  more?: string[];
}

const FAIL: Fail[] = [
  // OPA (checkRuleConflicts)
  { note: 'complete and partial', src: 'package t\np := 1\np contains 2', code: 'rego_type_error', message: 'conflicting rules data.t.p found', at: [2, 1] },
  { note: 'complete and object', src: 'package t\np := 1\np[x] := 2 if x := input.a', code: 'rego_type_error', message: 'conflicting rules data.t.p[x] found', at: [2, 1] },
  { note: 'function arity', src: 'package t\nf(x) := 1\nf(x, y) := 2', code: 'rego_type_error', message: 'conflicting rules data.t.f found', at: [2, 1] },
  { note: 'two defaults', src: 'package t\ndefault p := 1\ndefault p := 2', code: 'rego_type_error', message: 'multiple default rules data.t.p found', at: [2, 1] },
  { note: 'rule extended by another', src: 'package t\np := 1\np.q := 2', code: 'rego_type_error', message: 'rule data.t.p conflicts with [data.t.p.q]', at: [2, 1] },
  // OPA (checkUndefinedFuncs)
  { note: 'unknown builtin', src: 'package t\np if foo(1)', code: 'rego_type_error', message: 'undefined function foo', at: [2, 6] },
  { note: 'unknown nested', src: 'package t\np if x := bar.baz(1)', code: 'rego_type_error', message: 'undefined function bar.baz', at: [2, 11] },
  { note: 'unknown data function', src: 'package t\np if data.lib.f(1)', code: 'rego_type_error', message: 'undefined function data.lib.f', at: [2, 6] },
  { note: 'user function arity', src: 'package t\nf(x) := x\np if f(1, 2, 3)', code: 'rego_type_error', message: 'function data.t.f has arity 1, got 3 arguments', at: [3, 6] },
  { note: 'builtin arity', src: 'package t\np if count(1, 2, 3)', code: 'rego_type_error', message: 'count: arity mismatch', at: [2, 6] },
  // ours
  { note: 'rule named like a builtin', src: 'package t\ncount := 1', code: 'rego_compile_error', message: 'rule count shadows built-in function count', at: [2, 1] },
  // OPA (safety)
  { note: 'unbound body var', src: 'package t\np if {\n  x > 1\n}', code: 'rego_unsafe_var_error', message: 'var x is unsafe', at: [3, 3] },
  { note: 'only negated', src: 'package t\np if {\n  not x == 1\n}', code: 'rego_unsafe_var_error', message: 'var x is unsafe', at: [3, 7] },
  { note: 'head var', src: 'package t\np := x if input.a', code: 'rego_unsafe_var_error', message: 'var x is unsafe', at: [2, 1] },
  { note: 'some without binding', src: 'package t\np if {\n  some x\n  x > 1\n}', code: 'rego_unsafe_var_error', message: 'var x is unsafe', at: [4, 3] },
  { note: 'comprehension head', src: 'package t\np if {\n  ys := [z | input.xs[_]]\n}', code: 'rego_unsafe_var_error', message: 'var z is unsafe', at: [3, 10] },
  { note: 'comprehension var local', src: 'package t\np if {\n  ys := [y | y := input.xs[_]]\n  y > 1\n}', code: 'rego_unsafe_var_error', message: 'var y is unsafe', at: [4, 3] },
  { note: 'every var is local', src: 'package t\np if {\n  every x in input.xs { x > 1 }\n  x == 1\n}', code: 'rego_unsafe_var_error', message: 'var x is unsafe', at: [4, 3] },
  { note: 'wildcard only', src: 'package t\np if {\n  _ > 1\n}', code: 'rego_unsafe_var_error', message: 'expression is unsafe', at: [3, 3] },
  {
    note: 'several unsafe vars, sorted by location',
    src: 'package t\np if {\n  a > b\n}',
    code: 'rego_unsafe_var_error',
    message: 'var a is unsafe',
    at: [3, 3],
    more: ['3:7 var b is unsafe'],
  },
  // OPA (recursion; messages from OPA's docs, rego_recursion_error page)
  { note: 'self', src: 'package policy\nrule_a := rule_a', code: 'rego_recursion_error', message: 'rule data.policy.rule_a is recursive: data.policy.rule_a -> data.policy.rule_a', at: [2, 1] },
  {
    note: 'mutual',
    src: 'package policy\nrule_a := rule_b\nrule_b := rule_a',
    code: 'rego_recursion_error',
    message: 'rule data.policy.rule_a is recursive: data.policy.rule_a -> data.policy.rule_b -> data.policy.rule_a',
    at: [2, 1],
    more: ['3:1 rule data.policy.rule_b is recursive: data.policy.rule_b -> data.policy.rule_a -> data.policy.rule_b'],
  },
  { note: 'whole data', src: 'package policy\nrule := data', code: 'rego_recursion_error', message: 'rule data.policy.rule is recursive: data.policy.rule -> data.policy.rule', at: [2, 1] },
  {
    note: 'an argument named input',
    src: 'package t\nf(input) := input.a',
    code: 'rego_compile_error',
    message: 'args must not shadow input',
    at: [2, 1],
  },
  {
    note: 'an argument pattern holding data',
    src: 'package t\nf([x, data]) := x',
    code: 'rego_compile_error',
    message: 'args must not shadow data',
    at: [2, 1],
  },
  {
    note: 'function',
    src: 'package t\nf(x) := y if y := g(x)\ng(x) := y if y := f(x)',
    code: 'rego_recursion_error',
    message: 'rule data.t.f is recursive: data.t.f -> data.t.g -> data.t.f',
    at: [2, 1],
    more: ['3:1 rule data.t.g is recursive: data.t.g -> data.t.f -> data.t.g'],
  },
];

describe('compile stages', () => {
  it('are named and in OPA order', () => {
    assert.deepEqual(
      STAGES.map(([n]) => n),
      [
        'resolve_refs',
        'rewrite_rego_metadata_calls',
        'rewrite_local_vars',
        'set_rule_tree',
        'check_builtin_rule_names',
        'check_rule_conflicts',
        'check_undefined_funcs',
        'check_safety_rule_heads',
        'check_safety_rule_bodies',
        'set_graph',
        'check_recursion',
      ],
    );
  });

  for (const c of PASS) {
    it(`passes: ${c.note}`, () => {
      assert.equal(bodyOf(c.src), c.body);
    });
  }

  for (const c of FAIL) {
    it(`fails: ${c.note}`, () => {
      const { program, errors } = compile(...(Array.isArray(c.src) ? c.src : [c.src]));
      assert.equal(program, undefined);
      const e = errors[0]!;
      assert.deepEqual(
        { code: e.code, message: e.reason, at: [e.location.row, e.location.col], file: e.location.file },
        { code: c.code, message: c.message, at: c.at, file: 'test.rego' },
      );
      assert.deepEqual(
        errors.slice(1).map((x) => `${x.location.row}:${x.location.col} ${x.reason}`),
        c.more ?? [],
      );
    });
  }

  it('does not modify the parsed modules', () => {
    const m = parseModule('package t\nq := 1\np if {\n  x > q\n  x := 2\n}', 'test.rego');
    const before = formatAst(m);
    compileModules([m]);
    assert.equal(formatAst(m), before);
  });

  it('resolves refs across modules and reports rule sets and dependencies', () => {
    const { program, errors } = compile('package a\nimport data.b\np if b.q', 'package b\nq := true');
    assert.deepEqual(errors, []);
    assert.deepEqual(program!.ruleSets.map((s) => [s.path, s.kind]), [['data.a.p', 'complete'], ['data.b.q', 'complete']]);
    assert.deepEqual(program!.dependencies, { 'data.a.p': ['data.b.q'], 'data.b.q': [] });
  });
});
