// rego.parse_module (engine/policy/builtins/misc.ts, engine/policy/rego/json.ts):
// a module as OPA's JSON AST, as OPA's MarshalJSON methods write it
// (v1/ast/policy.go, term.go; no locations, which OPA leaves out by default)
// of what its parser makes (parser.go, parser_ext.go).
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { BuiltinError } from '../../engine/policy/builtins/common.js';
import { IMPLS } from '../../engine/policy/builtins/misc.js';
import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { load, result, table } from './helpers.js';

type J = Record<string, unknown>;

/** The builtin's answer, parsed (it answers JSON text). */
function parse(src: string, file = 'x.rego'): J {
  const out = IMPLS['rego.parse_module']!(file, src) as ArrayBuffer;
  return JSON.parse(new TextDecoder().decode(out)) as J;
}
const rules = (src: string): J[] => parse(`package p\n${src}`).rules as J[];
const rule = (src: string): J => rules(src)[0]!;
const body = (src: string): J[] => rule(`r if {\n${src}\n}`).body as J[];
const terms = (src: string): unknown => body(src)[0]!.terms;

/** The message of the builtin error thrown for SRC. */
function error(src: string, file = 'x.rego'): string {
  try {
    parse(src, file);
  } catch (e) {
    assert.ok(e instanceof BuiltinError, String(e));
    return e.message;
  }
  return assert.fail('expected a parse error');
}

const v = (value: string) => ({ type: 'var', value });
const s = (value: string) => ({ type: 'string', value });
const n = (value: number) => ({ type: 'number', value });
const b = (value: boolean) => ({ type: 'boolean', value });
const ref = (...value: unknown[]) => ({ type: 'ref', value });
const op = (...path: string[]) => ref(v(path[0]!), ...path.slice(1).map(s));
const call = (...value: unknown[]) => ({ type: 'call', value });
const TRUE_BODY = [{ index: 0, terms: b(true) }];

describe('rego.parse_module: modules', () => {
  it('package, imports (aliases), no rules or comments keys when there are none', () => {
    assert.deepEqual(parse('package foo.bar["baz qux"]\n\nimport rego.v1\nimport data.a\nimport input.x.y as z\nimport future.keywords.in'), {
      package: { path: [v('data'), s('foo'), s('bar'), s('baz qux')] },
      imports: [{ path: op('rego', 'v1') }, { path: op('data', 'a') }, { path: op('input', 'x', 'y'), alias: 'z' }, { path: op('future', 'keywords', 'in') }],
    });
    assert.deepEqual(parse('package p'), { package: { path: [v('data'), s('p')] } });
  });

  it('comments: Text in base64 and a Location, as OPA leaves them (METADATA too: ParseModule does not process annotations)', () => {
    const m = parse('# METADATA\n# title: T\npackage p\n\np := 1 # après\n', 'pol.rego');
    assert.deepEqual(m.comments, [
      { Text: Buffer.from(' METADATA').toString('base64'), Location: { file: 'pol.rego', row: 1, col: 1 } },
      { Text: Buffer.from(' title: T').toString('base64'), Location: { file: 'pol.rego', row: 2, col: 1 } },
      { Text: Buffer.from(' après').toString('base64'), Location: { file: 'pol.rego', row: 5, col: 8 } },
    ]);
    assert.equal(m.annotations, undefined);
  });

  it('no location objects anywhere but in comments (OPA marshals none by default)', () => {
    const text = JSON.stringify(parse('package p\nf(x) := y if { y := [z | z := x[_]] } else := 1\n'));
    assert.doesNotMatch(text, /location/i);
  });
});

describe('rego.parse_module: rules', () => {
  it('`permit if { true }`: the value true, the name, a one-element ref', () => {
    assert.deepEqual(rule('permit if { true }'), { body: TRUE_BODY, head: { name: 'permit', value: b(true), ref: [v('permit')] } });
  });

  it('complete rules: := and = values, bodies written or not, default', () => {
    assert.deepEqual(rule('p := 1'), { head: { ref: [v('p')], name: 'p', value: n(1), assign: true }, body: TRUE_BODY });
    assert.deepEqual(rule('p = 1'), { head: { ref: [v('p')], name: 'p', value: n(1) }, body: TRUE_BODY });
    assert.deepEqual(rule('p := x if x := 2'), {
      head: { ref: [v('p')], name: 'p', value: v('x'), assign: true },
      body: [{ index: 0, terms: [op('assign'), v('x'), n(2)] }],
    });
    assert.deepEqual(rule('default p := {"a": [1]}'), {
      head: { ref: [v('p')], name: 'p', value: { type: 'object', value: [[s('a'), { type: 'array', value: [n(1)] }]] }, assign: true },
      body: TRUE_BODY,
      default: true,
    });
  });

  it('multi-value rules: `contains`, with and without a body; the name only for a one-element ref', () => {
    assert.deepEqual(rule('q contains x if { x := 1 }'), {
      head: { ref: [v('q')], name: 'q', key: v('x') },
      body: [{ index: 0, terms: [op('assign'), v('x'), n(1)] }],
    });
    assert.deepEqual(rule('q contains "a"'), { head: { ref: [v('q')], name: 'q', key: s('a') }, body: TRUE_BODY });
    // a ref head with a variable inside: no name
    assert.deepEqual(rule('teams.by[who].members contains "me" if {\n\twho := "ops"\n}').head, {
      key: s('me'),
      ref: [v('teams'), s('by'), v('who'), s('members')],
    });
  });

  it('ref heads: a variable in `p[k]` is the key, a two-element ref with a written value keeps the name', () => {
    assert.deepEqual(rule('o[k] := 1 if k := "a"').head, { ref: [v('o'), v('k')], name: 'o', key: v('k'), value: n(1), assign: true });
    assert.deepEqual(rule('o[k] if k := "a"').head, { ref: [v('o'), v('k')], key: v('k'), value: b(true) });
    assert.deepEqual(rule('a.b := 1 if true').head, { ref: [v('a'), s('b')], name: 'a', value: n(1), assign: true });
    assert.deepEqual(rule('a.b if true').head, { ref: [v('a'), s('b')], value: b(true) });
    assert.deepEqual(rule('a.b.c := 1').head, { ref: [v('a'), s('b'), s('c')], value: n(1), assign: true });
    assert.deepEqual(rule('a.b[x].c := 1 if x := 2').head, { ref: [v('a'), s('b'), v('x'), s('c')], value: n(1), assign: true });
    // bare `p.q = v` (ParsePartialObjectDocRuleFromEqExpr): name and key
    assert.deepEqual(rule('h.i = 2').head, { ref: [v('h'), s('i')], name: 'h', key: s('i'), value: n(2) });
  });

  it('functions: args, wildcards numbered as OPA does, `if` without a value', () => {
    assert.deepEqual(rule('f(x, _) := y if { y := x }'), {
      head: { ref: [v('f')], name: 'f', args: [v('x'), v('$0')], value: v('y'), assign: true },
      body: [{ index: 0, terms: [op('assign'), v('y'), v('x')] }],
    });
    assert.deepEqual(rule('g(x) if x > 1').head, { ref: [v('g')], name: 'g', args: [v('x')], value: b(true) });
    assert.deepEqual(rule('a.g(x) := 1 if true').head, { ref: [v('a'), s('g')], name: 'a', args: [v('x')], value: n(1), assign: true });
    assert.deepEqual(rule('default f(_) := false').head, { ref: [v('f')], name: 'f', args: [v('$0')], value: b(false), assign: true });
  });

  it('else chains nest, each head a copy of the first (its name and args, fresh wildcards)', () => {
    assert.deepEqual(rule('f(_) := 1 if false else := 2 if true else = 3'), {
      head: { ref: [v('f')], name: 'f', args: [v('$0')], value: n(1), assign: true },
      body: [{ index: 0, terms: b(false) }],
      else: {
        head: { ref: [v('f')], name: 'f', args: [v('$1')], value: n(2), assign: true },
        body: [{ index: 0, terms: b(true) }],
        else: { head: { ref: [v('f')], name: 'f', args: [v('$2')], value: n(3) }, body: TRUE_BODY },
      },
    });
    assert.deepEqual(rule('p := 1 if false else if true').else, { head: { ref: [v('p')], name: 'p', value: b(true), assign: true }, body: [{ index: 0, terms: b(true) }] });
  });

  it('rules in source order, bodies of every rule', () => {
    assert.deepEqual(
      rules('a := 1\nb contains 2\nc(x) := x').map((r) => (r.head as J).ref),
      [[v('a')], [v('b')], [v('c')]],
    );
  });
});

describe('rego.parse_module: expressions and terms', () => {
  it('every: key null without one', () => {
    assert.deepEqual(terms('every port in [80, 443] {\n\tport > 10\n}'), {
      body: [{ index: 0, terms: [op('gt'), v('port'), n(10)] }],
      domain: { type: 'array', value: [n(80), n(443)] },
      key: null,
      value: v('port'),
    });
    assert.deepEqual((terms('every k, x in input { k != x }') as J).key, v('k'));
  });

  it('with: one modifier, negation, several modifiers', () => {
    assert.deepEqual(body('ok with input as 7')[0], { index: 0, terms: v('ok'), with: [{ target: ref(v('input')), value: n(7) }] });
    assert.deepEqual(body('not f(1) with input.x as 2 with g as h'), [
      {
        index: 0,
        terms: [ref(v('f')), n(1)],
        negated: true,
        with: [
          { target: op('input', 'x'), value: n(2) },
          { target: v('g'), value: v('h') },
        ],
      },
    ]);
  });

  it('some: symbols as vars, `x in xs` as a call of internal.member_2/3', () => {
    assert.deepEqual(terms('some x, y'), { symbols: [v('x'), v('y')] });
    assert.deepEqual(terms('some x in xs'), { symbols: [call(op('internal', 'member_2'), v('x'), v('xs'))] });
    assert.deepEqual(terms('some k, x in xs'), { symbols: [call(op('internal', 'member_3'), v('k'), v('x'), v('xs'))] });
  });

  it('operators are calls of their builtins; a call at the top is the term list; indices count the body', () => {
    assert.deepEqual(
      body('x := 1 + 2 * 3\nx == 7; y = x\ncount(input.a) > 0\n1 in [1]\nx != -1.5e3').map((e) => [e.index, e.terms]),
      [
        [0, [op('assign'), v('x'), call(op('plus'), n(1), call(op('mul'), n(2), n(3)))]],
        [1, [op('equal'), v('x'), n(7)]],
        [2, [op('eq'), v('y'), v('x')]],
        [3, [op('gt'), call(op('count'), op('input', 'a')), n(0)]],
        [4, [op('internal', 'member_2'), n(1), { type: 'array', value: [n(1)] }]],
        [5, [op('neq'), v('x'), n(-1500)]],
      ],
    );
    assert.deepEqual(terms('x := a & b | c - d % e / f'), [
      op('assign'),
      v('x'),
      call(op('or'), call(op('and'), v('a'), v('b')), call(op('minus'), v('c'), call(op('div'), call(op('rem'), v('d'), v('e')), v('f')))),
    ]);
  });

  it('scalars: null is {} (Go empty struct), numbers keep their source text, strings decoded', () => {
    assert.deepEqual(terms('x := [null, true, "a\\u00e9\\n", `r\\aw`]'), [
      op('assign'),
      v('x'),
      { type: 'array', value: [{ type: 'null', value: {} }, b(true), s('aé\n'), s('r\\aw')] },
    ]);
    // JSON text, so a number no double holds is kept as written
    const out = new TextDecoder().decode(IMPLS['rego.parse_module']!('x.rego', 'package p\nx := 123456789012345678901234567890') as ArrayBuffer);
    assert.match(out, /"value":123456789012345678901234567890[,}]/);
    assert.match(new TextDecoder().decode(IMPLS['rego.parse_module']!('x.rego', 'package p\nx := 1.0') as ArrayBuffer), /"value":1\.0[,}]/);
  });

  it('refs: root documents alone, dots as strings, brackets as terms, calls as heads; wildcards in refs', () => {
    assert.deepEqual(terms('input'), ref(v('input')));
    assert.deepEqual(terms('data.a["b c"][x][0]'), ref(v('data'), s('a'), s('b c'), v('x'), n(0)));
    assert.deepEqual(terms('f(x).y'), ref(call(ref(v('f')), v('x')), s('y')));
    assert.deepEqual(terms('[1][0]'), ref({ type: 'array', value: [n(1)] }, n(0)));
    assert.deepEqual(terms('x[_] == y[_]'), [op('equal'), ref(v('x'), v('$0')), ref(v('y'), v('$1'))]);
  });

  it('sets sorted in OPA order without duplicates; objects sorted by key, a repeated key taking the last value', () => {
    assert.deepEqual((terms('x := {"b", 2, [1], null, {"k": 1}, "a", 1, 2, false, {1}}') as unknown[])[2], {
      type: 'set',
      value: [
        { type: 'null', value: {} },
        b(false),
        n(1),
        n(2),
        s('a'),
        s('b'),
        { type: 'array', value: [n(1)] },
        { type: 'object', value: [[s('k'), n(1)]] },
        { type: 'set', value: [n(1)] },
      ],
    });
    assert.deepEqual((terms('x := set()') as unknown[])[2], { type: 'set', value: [] });
    assert.deepEqual((terms('x := {"b": 1, 2: 2, "a": 3, "b": 4}') as unknown[])[2], {
      type: 'object',
      value: [
        [n(2), n(2)],
        [s('a'), n(3)],
        [s('b'), n(4)],
      ],
    });
    assert.deepEqual((terms('x := {}') as unknown[])[2], { type: 'object', value: [] });
  });

  it('comprehensions: term (or key and value) and body, indices from 0', () => {
    assert.deepEqual((terms('x := [y | y := input[_]; y > 1]') as unknown[])[2], {
      type: 'arraycomprehension',
      value: {
        term: v('y'),
        body: [
          { index: 0, terms: [op('assign'), v('y'), ref(v('input'), v('$0'))] },
          { index: 1, terms: [op('gt'), v('y'), n(1)] },
        ],
      },
    });
    assert.deepEqual((terms('x := {y | y := 1}') as unknown[])[2], {
      type: 'setcomprehension',
      value: { term: v('y'), body: [{ index: 0, terms: [op('assign'), v('y'), n(1)] }] },
    });
    assert.deepEqual((terms('x := {k: 1 | some k in ["a"]}') as unknown[])[2], {
      type: 'objectcomprehension',
      value: { key: v('k'), value: n(1), body: [{ index: 0, terms: { symbols: [call(op('internal', 'member_2'), v('k'), { type: 'array', value: [s('a')] })] } }] },
    });
  });
});

describe('rego.parse_module: errors', () => {
  it("OPA's text: `rego.parse_module: 1 error occurred: file:row: code: message` and the source line with a caret", () => {
    assert.equal(error('package foo.'), 'rego.parse_module: 1 error occurred: x.rego:1: rego_parse_error: unexpected eof token: expected identifier\n\tpackage foo.\n\t           ^');
    assert.match(error('package p\np if { x := }'), /^rego\.parse_module: 1 error occurred: x\.rego:2: rego_parse_error: unexpected } token/);
  });

  it('Rego v1, as OPA parses by default: bodies need `if`, multi-value rules `contains`', () => {
    assert.match(error('package p\np { true }'), /x\.rego:2: rego_parse_error: `if` keyword is required before rule body/);
    assert.match(error('package p\np[x] if { x := 1 }\nq[y] { y := 1 }'), /rego_parse_error: `contains` keyword is required for partial set rules/);
  });

  it('several errors are counted; no file name gives `row:col`; an empty module is an error', () => {
    assert.match(error('package p\np { true }\nq { true }'), /^rego\.parse_module: 2 errors occurred:\nx\.rego:2: rego_parse_error: .*\nx\.rego:3: /s);
    assert.match(error('package p\np { true }', ''), /1 error occurred: 2:1: rego_parse_error: `if` keyword is required/);
    assert.match(error(''), /rego_parse_error: empty module/);
    assert.match(error('p := 1'), /rego_parse_error: package expected/);
  });

  it('operands must be strings', () => {
    assert.throws(() => IMPLS['rego.parse_module']!('x.rego', 1), BuiltinError);
    assert.throws(() => IMPLS['rego.parse_module']!(null, 'package p'), BuiltinError);
  });
});

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

describe('rego.parse_module: in a policy', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it('the AST as a Rego value; a parse error is undefined', async () => {
    await table([
      ['rego.parse_module("x.rego", "package foo.bar\\n\\np if { a = true }").package.path[1].value', 'foo'],
      ['rego.parse_module("x.rego", "package p\\nx := 12345678901234567890").rules[0].head.value.value', 12345678901234567890],
      ['count(rego.parse_module("x.rego", "package p\\na := 1\\nb contains 2\\nf(x) := x").rules)', 3],
      ['rego.parse_module("x.rego", "package p\\nx := null").rules[0].head.value', { type: 'null', value: {} }],
      ['rego.parse_module("x.rego", "package foo.")', undefined],
    ]);
  });

  it('a module read from data, its rules named through the result', async () => {
    const p = await load(
      'package lint\n\nimport rego.v1\n\nnames contains r.head.name if {\n\tm := rego.parse_module("team.rego", data.src)\n\tsome r in m.rules\n}\n',
      ['lint/names'],
      { src: 'package team\n\nimport rego.v1\n\nallow if input.admin\n\ndeny contains "x" if not allow\n' },
    );
    assert.deepEqual(result(p, 'lint/names'), ['allow', 'deny']);
  });
});
