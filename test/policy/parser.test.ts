// Tests of the Rego front end: lexer (engine/policy/rego/lexer.ts), parser
// (parser.ts) and AST printer (print.ts). Shapes are asserted through
// formatAst's S-expressions; errors by code, row, column and OPA's message.
// Expected messages and positions follow OPA's v1/ast/parser.go (the
// messages are OPA's own strings, so that users see what OPA would say).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { lex, decodeString, type Token } from '../../engine/policy/rego/lexer.js';
import { parseModule, parseModuleWithErrors, type ParseOptions } from '../../engine/policy/rego/parser.js';
import { formatAst, formatTerm } from '../../engine/policy/rego/print.js';
import { RegoError, RegoErrors, RegoErrorCode, formatErrors } from '../../engine/policy/rego/errors.js';
import type { Module, Rule } from '../../engine/policy/rego/ast.js';

const V0: ParseOptions = { v0Compatible: true };

function parse(src: string, opts?: ParseOptions): Module {
  return parseModule(src, 'test.rego', opts);
}

/** The rules of `package test` + src, one formatAst line each. */
function rules(src: string, opts?: ParseOptions): string {
  return parse(`package test\n${src}`, opts).rules.map((r) => formatAst(r)).join('\n');
}

/** The body of `p if { src }`, one expression per line. */
function body(src: string, opts?: ParseOptions): string {
  const m = parse(`package test\np if {\n${src}\n}`, opts);
  return m.rules[0]!.body.map((e) => formatAst(e)).join('\n');
}

/** The value of `p := src`. */
function term(src: string): string {
  const v = parse(`package test\np := ${src}`).rules[0]!.head.value;
  assert.ok(v !== undefined);
  return formatTerm(v);
}

function errors(src: string, opts?: ParseOptions): readonly RegoError[] {
  try {
    parse(src, opts);
  } catch (e) {
    assert.ok(e instanceof RegoErrors, `not RegoErrors: ${String(e)}`);
    return e.errors;
  }
  assert.fail(`no error for:\n${src}`);
}

/** The first error is a parse error at row:col with exactly this message. */
function assertFirstError(src: string, row: number, col: number, message: string, opts?: ParseOptions): readonly RegoError[] {
  const errs = errors(src, opts);
  const e = errs[0]!;
  assert.equal(e.code, RegoErrorCode.PARSE);
  assert.deepEqual({ row: e.location.row, col: e.location.col, message: e.reason }, { row, col, message });
  assert.equal(e.location.file, 'test.rego');
  return errs;
}

function kinds(tokens: Token[]): string[] {
  return tokens.map((t) => (t.kind === 'ident' || t.kind === 'number' || t.kind === 'string' ? `${t.kind}:${t.text}` : t.kind));
}

/* ================================================================= lexer */

describe('lexer', () => {
  it('splits operators, punctuation, words, numbers and strings', () => {
    const { tokens } = lex('x := [1, "a"] == y; z != {} <= >= < > + - * / % & | : . ( ) =');
    assert.deepEqual(kinds(tokens), [
      'ident:x', ':=', '[', 'number:1', ',', 'string:"a"', ']', '==', 'ident:y', ';', 'ident:z', '!=', '{', '}',
      '<=', '>=', '<', '>', '+', '-', '*', '/', '%', '&', '|', ':', '.', '(', ')', '=', 'eof',
    ]);
  });

  it('gives 1-based rows and columns counted in code points, tabs as one', () => {
    const { tokens } = lex('a\n\tbb "😀" c\n');
    assert.deepEqual(
      tokens.map((t) => [t.kind, t.row, t.col]),
      [
        ['ident', 1, 1],
        ['ident', 2, 2],
        ['string', 2, 5],
        ['ident', 2, 9],
        ['eof', 3, 0],
      ],
    );
  });

  it('puts end of input at the last character, as OPA does', () => {
    const t = lex('p := 12').tokens.at(-1)!;
    assert.deepEqual([t.kind, t.row, t.col], ['eof', 1, 7]);
    const e = lex('').tokens[0]!;
    assert.deepEqual([e.kind, e.row, e.col], ['eof', 1, 0]);
  });

  it('records whitespace and newlines before each token', () => {
    const { tokens } = lex('a.b [c]\n  d # note\ne');
    assert.deepEqual(
      tokens.map((t) => `${t.text || t.kind}:${t.ws ? 'ws' : ''}${t.nl ? '+nl' : ''}`),
      ['a:', '.:', 'b:', '[:ws', 'c:', ']:', 'd:ws+nl', 'e:ws+nl', 'eof:'],
    );
  });

  it('collects comments with their position, without a trailing CR', () => {
    const { tokens, comments } = lex('# one\r\nx # two\n#');
    assert.deepEqual(kinds(tokens), ['ident:x', 'eof']);
    assert.deepEqual(
      comments.map((c) => [c.text, c.row, c.col]),
      [
        [' one', 1, 1],
        [' two', 2, 3],
        ['', 3, 1],
      ],
    );
  });

  it('leaves keywords to the parser: every word is an identifier', () => {
    assert.deepEqual(kinds(lex('package if in every contains not').tokens).slice(0, 6), [
      'ident:package', 'ident:if', 'ident:in', 'ident:every', 'ident:contains', 'ident:not',
    ]);
  });

  it('accepts Unicode digits after the first character of a name', () => {
    assert.deepEqual(kinds(lex('x٣ _a1').tokens), ['ident:x٣', 'ident:_a1', 'eof']);
  });

  it('scans JSON numbers and keeps their text', () => {
    assert.deepEqual(kinds(lex('0 12 1.5 2e10 3E-2 4.0e+1').tokens), [
      'number:0', 'number:12', 'number:1.5', 'number:2e10', 'number:3E-2', 'number:4.0e+1', 'eof',
    ]);
  });

  const badNumbers: Array<[string, string[]]> = [
    ['1.', ['expected fraction']],
    ['0e', ['expected exponent']],
    ['6zxy', ['illegal number format']],
    ['0F', ['illegal number format']],
  ];
  for (const [src, errs] of badNumbers) {
    it(`rejects the number ${src}`, () => {
      const t = lex(src).tokens[0]!;
      assert.equal(t.kind, 'illegal');
      assert.deepEqual(t.errors, errs);
      assert.equal(t.text, src);
    });
  }

  it('scans strings with every JSON escape as one token', () => {
    const t = lex(String.raw`"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9"`).tokens[0]!;
    assert.equal(t.kind, 'string');
    assert.equal(decodeString(t.text), 'a"b\\c/d\be\ff\ng\rh\ti\u00e9');
  });

  it('rejects an unknown escape but scans to the closing quote', () => {
    const { tokens } = lex(String.raw`"a\qb" x`);
    assert.equal(tokens[0]!.kind, 'illegal');
    assert.deepEqual(tokens[0]!.errors, ['illegal escape sequence']);
    assert.equal(tokens[0]!.text, String.raw`"a\qb"`);
    assert.equal(tokens[1]!.text, 'x');
  });

  it('stops a string at the end of the line', () => {
    const { tokens } = lex('"abc\nx');
    assert.deepEqual(tokens[0]!.errors, ['non-terminated string']);
    assert.deepEqual([tokens[1]!.text, tokens[1]!.row], ['x', 2]);
  });

  it('scans raw strings across lines, without escapes', () => {
    const { tokens } = lex('`a\\n\nb` c');
    assert.equal(tokens[0]!.text, '`a\\n\nb`');
    assert.deepEqual([tokens[1]!.text, tokens[1]!.row, tokens[1]!.col], ['c', 2, 4]);
    assert.deepEqual(lex('`abc').tokens[0]!.errors, ['non-terminated string']);
  });

  it('makes unknown characters illegal tokens', () => {
    const { tokens } = lex("'a' ! $ ~");
    assert.deepEqual(
      tokens.map((t) => [t.kind, t.errors ?? []]),
      [
        ['illegal', []],
        ['ident', []],
        ['illegal', []],
        ['illegal', ['illegal ! character']],
        ['illegal', ['illegal $ character']],
        ['illegal', []],
        ['eof', []],
      ],
    );
  });

  it('skips a byte-order mark but counts it as a column, as OPA does', () => {
    const t = lex('\ufeffpackage p').tokens[0]!;
    assert.deepEqual([t.text, t.row, t.col], ['package', 1, 2]);
  });
});

describe('decodeString', () => {
  const cases: Array<[string, string | undefined]> = [
    ['""', ''],
    ['"plain\ttab"', 'plain\ttab'], // no backslash: taken as written
    [String.raw`"\uD834\uDD1E"`, '𝄞'], // surrogate pair
    [String.raw`"\uD834x"`, '\ufffdx'], // lone high surrogate
    [String.raw`"\uDD1E"`, '\ufffd'], // lone low surrogate
    [String.raw`"\u005C\u005c"`, '\\\\'],
    [String.raw`"\u12G4"`, undefined], // not hex
    ['"\\n\t"', undefined], // a raw tab is not JSON once escapes are decoded
  ];
  for (const [lit, want] of cases) {
    it(`decodes ${lit}`, () => assert.equal(decodeString(lit), want));
  }
});

/* ================================================================= terms */

describe('terms', () => {
  const cases: Array<[string, string]> = [
    ['null', 'null'],
    ['true', 'true'],
    ['false', 'false'],
    ['42', '42'],
    ['-1', '-1'],
    ['- 1', '-1'],
    ['.5', '0.5'],
    ['-.5', '-0.5'],
    ['1.1e6', '1.1e6'],
    ['12345678901234567890123', '12345678901234567890123'],
    ['1e1000', '1e1000'],
    ['"a b"', '"a b"'],
    ['"\\u00e9\\n"', '"é\\n"'],
    ['`raw\\n`', '"raw\\\\n"'],
    ['x', 'x'],
    ['input', 'input'],
    ['data', 'data'],
    ['input.a[0]["b"][x]', 'input.a[0].b[x]'],
    ['input["white space"].y', 'input["white space"].y'],
    ['a[b[1][c[i]]].d', 'a[b[1][c[i]]].d'],
    ['[]', '(array)'],
    ['[1, 2, 3,]', '(array 1 2 3)'],
    ['[, 1]', '(array 1)'],
    ['{}', '(object)'],
    ['set()', '(set)'],
    ['{1, 2}', '(set 1 2)'],
    ['{"a": 1, b: [x], 3: {4}, [5]: null}', '(object ("a" 1) (b (array x)) (3 (set 4)) ((array 5) null))'],
    ['{a.b[0]: 1}', '(object (a.b[0] 1))'],
    ['[x | x := input[_]]', '(arraycomp x (body (assign x input[$0])))'],
    ['{x | some x in y}', '(setcomp x (body (some (internal.member_2 x y))))'],
    ['{k: v | some k, v in o}', '(objectcomp k v (body (some (internal.member_3 k v o))))'],
    ['[x | x = 1; x > 0]', '(arraycomp x (body (eq x 1) (gt x 0)))'],
    ['count(x)', '(count x)'],
    ['strings.replace_n(a, b)', '(strings.replace_n a b)'],
    ['x.y.z(1)', '(x.y.z 1)'],
    ['f()', '(f)'],
    ['f(x)[0].y', '(f x)[0].y'],
    ['foo.bar(1)[0](1).baz', '((foo.bar 1)[0] 1).baz'],
    ['[1, 2][0]', '(array 1 2)[0]'],
    ['_', '$0'],
    ['[_, _]', '(array $0 $1)'],
  ];
  for (const [src, want] of cases) {
    it(`parses ${src}`, () => assert.equal(term(src), want));
  }

  it('keeps the exact text and the nearest double of a number', () => {
    const v = parse('package t\np := 0.1').rules[0]!.head.value!;
    assert.deepEqual(v.type === 'number' ? [v.text, v.value] : [], ['0.1', 0.1]);
  });

  it('treats a space before [ or ( as the end of the term', () => {
    assert.equal(body('f(x)\n [1]'), '(f x)\n(array 1)');
    assert.equal(body('data.p.q\n {1}'), 'data.p.q\n(set 1)');
  });
});

describe('operators', () => {
  const cases: Array<[string, string]> = [
    ['x = 1', '(eq x 1)'],
    ['x := 1', '(assign x 1)'],
    ['x == 1', '(equal x 1)'],
    ['x != 1', '(neq x 1)'],
    ['x < 1', '(lt x 1)'],
    ['x <= 1', '(lte x 1)'],
    ['x > 1', '(gt x 1)'],
    ['x >= 1', '(gte x 1)'],
    ['x + 1', '(plus x 1)'],
    ['x - 1', '(minus x 1)'],
    ['x -1', '(minus x 1)'],
    ['x * 1', '(mul x 1)'],
    ['x / 1', '(div x 1)'],
    ['x % 1', '(rem x 1)'],
    ['a & b', '(and a b)'],
    ['y := a | b', '(assign y (or a b))'],
    ['1 + 2 * 6 / 3', '(plus 1 (div (mul 2 6) 3))'],
    ['x * y / z % w', '(rem (div (mul x y) z) w)'],
    ['x + y - z', '(minus (plus x y) z)'],
    ['z & x & y', '(and (and z x) y)'],
    ['x + 1 | 2 & 3', '(or (plus x 1) (and 2 3))'],
    ['x == y != z', '(neq (equal x y) z)'],
    ['(1 + 2 * 6 / 3) > 4', '(gt (plus 1 (div (mul 2 6) 3)) 4)'],
    ['(((1 + 2) * (6 / (3))) > 4) != false', '(neq (gt (mul (plus 1 2) (div 6 3)) 4) false)'],
    ['x = 1 + 2', '(eq x (plus 1 2))'],
    ['1 + x = 2 - y', '(eq (plus 1 x) (minus 2 y))'],
    ['x in xs', '(internal.member_2 x xs)'],
    ['k, v in xs', '(internal.member_3 k v xs)'],
    ['x in xs in ys', '(internal.member_2 (internal.member_2 x xs) ys)'],
    ['x + 1 in xs', '(internal.member_2 (plus x 1) xs)'],
    ['y := x in xs', '(assign y (internal.member_2 x xs))'],
    ['not x in xs', '(not (internal.member_2 x xs))'],
    ['[x in xs, 1]', '(array (internal.member_2 x xs) 1)'],
    ['-1 + -2', '(plus -1 -2)'],
  ];
  for (const [src, want] of cases) {
    it(`parses ${src}`, () => assert.equal(body(src), want));
  }

  it('reads `p if { a | b }` as a set comprehension condition, as OPA does', () => {
    // parseRules tries `if` + one literal first and only rejects set
    // literals; a set comprehension stays the whole body.
    assert.equal(rules('p if { a | b }'), '(rule complete p if (body (setcomp a (body b))))');
  });

  it('prefers a comprehension to | in brackets, and falls back to a list', () => {
    assert.equal(term('[a | b]'), '(arraycomp a (body b))');
    assert.equal(term('{a | b}'), '(setcomp a (body b))');
    assert.equal(term('[x|y,z]'), '(array (or x y) z)');
    assert.equal(term('{x|y,z}'), '(set (or x y) z)');
    assert.equal(term('{x:y|z,a:b}'), '(object (x (or y z)) (a b))');
    assert.equal(term('[ 1 + 2 | 3 ]'), '(array (or (plus 1 2) 3))');
    assert.equal(term('{, 1 | 1}'), '(set (or 1 1))');
    assert.equal(term('{ 1+2: 3 | 4}'), '(objectcomp (plus 1 2) 3 (body 4))');
  });
});

/* ================================================================ bodies */

describe('bodies', () => {
  it('separates expressions with newlines and semicolons', () => {
    assert.equal(body('x = 1 ; # comment\ny = 2   # another\nz = [ i | [x,y] = arr\n\tarr[_] = i]'), [
      '(eq x 1)',
      '(eq y 2)',
      '(eq z (arraycomp i (body (eq (array x y) arr) (eq arr[$0] i))))',
    ].join('\n'));
  });

  it('parses not, some and every', () => {
    assert.equal(body('not input.x'), '(not input.x)');
    assert.equal(body('not f(x)'), '(not (f x))');
    assert.equal(body('not x = y'), '(not (eq x y))');
    assert.equal(body('some x'), '(some x)');
    assert.equal(body('some x, y,\n  z'), '(some x y z)');
    assert.equal(body('some x in xs'), '(some (internal.member_2 x xs))');
    assert.equal(body('some k, v in xs'), '(some (internal.member_3 k v xs))');
    assert.equal(body('some i, "foo" in arr'), '(some (internal.member_3 i "foo" arr))');
    assert.equal(body('every x in xs { x > 0 }'), '(every x xs (body (gt x 0)))');
    assert.equal(body('every k, v in {"a": 1} {\n  k != v\n  v > 0\n}'), '(every k v (object ("a" 1)) (body (neq k v) (gt v 0)))');
  });

  it('attaches with modifiers to their expression', () => {
    assert.equal(body('data.foo with input.a as 1 with data.b as 2 with f as g'), '(with data.foo (input.a 1) (data.b 2) (f g))');
    assert.equal(body('x with input as {"count": [{1,2,3}]}'), '(with x (input (object ("count" (array (set 1 2 3))))))');
    assert.equal(body('some x in input with input as []'), '(with (some (internal.member_2 x input)) (input (array)))');
    assert.equal(body('every x in input { x } with input as []'), '(with (every x input (body x)) (input (array)))');
    assert.equal(body('not q with input as 1'), '(with (not q) (input 1))');
  });

  it('locates expressions and with modifiers', () => {
    const r = parse('package t\np if {\n  a with b as c\n\twith d as e\n}').rules[0]!;
    const e = r.body[0]!;
    assert.deepEqual([e.loc.row, e.loc.col], [3, 3]);
    assert.deepEqual(e.with.map((w) => [w.loc.row, w.loc.col]), [
      [3, 5],
      [4, 2],
    ]);
  });

  it('allows keywords inside refs and at the start of refs', () => {
    assert.equal(body('input.in == 1\nfoo.not.bar == 2\nnot.foo == 3\ndata.default["x"]'), [
      '(equal input.in 1)',
      '(equal foo.not.bar 2)',
      '(equal not.foo 3)',
      'data.default.x',
    ].join('\n'));
  });

  it('reads a keyword that starts a literal ref as a name', () => {
    assert.equal(body('null.foo\ntrue[0] == 1'), 'null.foo\n(equal true[0] 1)');
  });

  it('calls contains outside rule heads', () => {
    assert.equal(body('contains("abc", "b")'), '(contains "abc" "b")');
  });
});

/* ================================================================= rules */

describe('rules (v1)', () => {
  const cases: Array<[string, string, string]> = [
    ['constant', 'p := 1', '(rule complete p (value := 1))'],
    ['constant with =', 'p = 1', '(rule complete p (value = 1))'],
    ['boolean rule with body', 'p if { input.x }', '(rule complete p if (body input.x))'],
    ['value and body', 'p := 5 if { input.x > 1 }', '(rule complete p (value := 5) if (body (gt input.x 1)))'],
    ['= with body', 'p = v if { v := 1 }', '(rule complete p (value = v) if (body (assign v 1)))'],
    ['short form', 'p if input.x > 1', '(rule complete p if (body (gt input.x 1)))'],
    ['short form with not', 'p if not q', '(rule complete p if (body (not q)))'],
    ['short form with some', 'p contains x if some x in {"foo": "bar"}', '(rule partial_set p (key x) contains if (body (some (internal.member_2 x (object ("foo" "bar"))))))'],
    ['set literal after if is a body', 'p if { true }', '(rule complete p if (body true))'],
    ['object literal after if is an expression', 'p if {}', '(rule complete p if (body (object)))'],
    ['default', 'default allow := false', '(rule complete allow default (value := false))'],
    ['default with =', 'default allow = false', '(rule complete allow default (value = false))'],
    ['default with comprehension', 'default w := [x | x = data.f[_]]', '(rule complete w default (value := (arraycomp x (body (eq x data.f[$0])))))'],
    ['default function', 'default f(_) := 1', '(rule function f default (args $0) (value := 1))'],
    ['partial set', 'deny contains msg if { msg := "no" }', '(rule partial_set deny (key msg) contains if (body (assign msg "no")))'],
    ['partial set without body', 'p contains "x"', '(rule partial_set p (key "x") contains)'],
    ['partial set with object element', 'deny contains {"msg": m} if m := "x"', '(rule partial_set deny (key (object ("msg" m))) contains if (body (assign m "x")))'],
    ['partial object', 'p[k] := v if { k := "a"; v := 1 }', '(rule partial_object p[k] (key k) (value := v) if (body (assign k "a") (assign v 1)))'],
    ['partial object without value', 'p[x] if x := 1', '(rule partial_object p[x] (key x) if (body (assign x 1)))'],
    ['ground bracket key is a complete rule', 'p["foo"] = "bar" if true', '(rule complete p.foo (value = "bar") if (body true))'],
    ['ref head', 'a.b.c if { true }', '(rule complete a.b.c if (body true))'],
    ['ref head with var', 'a.b[c] := d if { c := "x"; d := 1 }', '(rule partial_object a.b[c] (value := d) if (body (assign c "x") (assign d 1)))'],
    ['ref head multi-value', 'a.b contains c if c := 1', '(rule partial_set a.b (key c) contains if (body (assign c 1)))'],
    ['ref head number key', 'p.q[2] = 1 if true', '(rule complete p.q[2] (value = 1) if (body true))'],
    ['function', 'f(x) := y if { y := x + 1 }', '(rule function f (args x) (value := y) if (body (assign y (plus x 1))))'],
    ['boolean function', 'f(x) if x > 1', '(rule function f (args x) if (body (gt x 1)))'],
    ['function without body', 'f(x) := x', '(rule function f (args x) (value := x))'],
    ['function with composite args', 'f([x, y], {"a": z}) := z', '(rule function f (args (array x y) (object ("a" z))) (value := z))'],
    ['function in a ref', 'p.q.f(x) = x + 1 if true', '(rule function p.q.f (args x) (value = (plus x 1)) if (body true))'],
    ['function with every', 'f(xs) if every x in xs { x != 0 }', '(rule function f (args xs) if (body (every x xs (body (neq x 0)))))'],
    ['empty argument list is not a function', 'f() if { x := 1 }', '(rule complete f if (body (assign x 1)))'],
    ['else chain', 'p := 1 if { false } else := 2 if { true } else = 3', '(rule complete p (value := 1) if (body false) (else (value := 2) if (body true)) (else (value = 3)))'],
    ['else without value', 'p if { false } else if { true }', '(rule complete p if (body false) (else if (body true)))'],
    ['else short form', 'p if true else := 3 if 2 < 1', '(rule complete p if (body true) (else (value := 3) if (body (lt 2 1))))'],
    ['function else', 'f(x) := 1 if { x > 1 } else := 0', '(rule function f (args x) (value := 1) if (body (gt x 1)) (else (args x) (value := 0)))'],
    ['else on a ground ref head', 'a.b.c := 1 if false\nelse := 2', '(rule complete a.b.c (value := 1) if (body false) (else (value := 2)))'],
    ['wildcard rule name', '_ if { true }', '(rule complete $0 if (body true))'],
    ['keyword in a ref head', 'foo.if if true\nin.bar contains "b" if false', '(rule complete foo.if if (body true))\n(rule partial_set in.bar (key "b") contains if (body false))'],
    ['input and data as values', 'p := input\nq := data.x', '(rule complete p (value := input))\n(rule complete q (value := data.x))'],
    ['rules on one line', 'p := 1 q := 2', '(rule complete p (value := 1))\n(rule complete q (value := 2))'],
  ];
  for (const [name, src, want] of cases) {
    it(name, () => assert.equal(rules(src), want));
  }

  it('gives each further body its own rule', () => {
    assert.equal(
      rules('f(_) if { true } { false }'),
      '(rule function f (args $0) if (body true))\n(rule function f (args $1) if (body false))',
    );
    const [, second] = parse('package t\np if { true } {\n false }').rules;
    assert.deepEqual([second!.loc.row, second!.loc.col, second!.head.loc.row, second!.head.ref.loc.col], [2, 15, 2, 15]);
  });

  it('defines several function definitions side by side', () => {
    const m = parse('package t\nf(x) := "A" if { x >= 90 }\nf(x) := "B" if { x >= 80; x < 90 }\nf(x) := "C" if { x >= 70; x < 80 }');
    assert.deepEqual(m.rules.map((r) => [r.kind, r.head.ref.head.type === 'var' ? r.head.ref.head.name : '']), [
      ['function', 'f'],
      ['function', 'f'],
      ['function', 'f'],
    ]);
  });

  it('marks implicit values and bodies', () => {
    const [p, q, d] = parse('package t\np if { x }\nq := 1\ndefault d := 2').rules as [Rule, Rule, Rule];
    assert.deepEqual([p.head.generatedValue, p.generatedBody, p.head.ifKeyword, p.head.assign], [true, false, true, undefined]);
    assert.deepEqual([q.head.generatedValue, q.generatedBody, q.head.assign], [false, true, ':=']);
    assert.deepEqual([d.default, d.generatedBody, formatAst(d.body)], [true, false, '(body true)']);
  });

  it('locates rules, heads and terms', () => {
    const r = parse('package t\n\n  allow if {\n    input.user == "bob"\n  }').rules[0]!;
    assert.deepEqual([r.loc.row, r.loc.col], [3, 3]);
    const e = r.body[0]!;
    assert.ok(e.kind === 'call');
    assert.deepEqual([e.operator.loc.row, e.operator.loc.col], [4, 16]);
    assert.deepEqual([e.args[1]!.loc.row, e.args[1]!.loc.col], [4, 19]);
    assert.equal(e.args[1]!.loc.file, 'test.rego');
  });
});

describe('packages and imports', () => {
  it('roots the package at data', () => {
    assert.equal(formatAst(parse('package a.b["c d"].e').package), '(package data.a.b["c d"].e)');
    assert.equal(formatAst(parse('package in.not').package), '(package data.in.not)');
  });

  it('parses every kind of import', () => {
    const m = parse('package t\nimport data.x.y\nimport input.a as b\nimport data\nimport input\nimport future.keywords\nimport future.keywords.in\nimport rego.v1\nimport data.in as kw\nimport input.foo["white space"]');
    assert.deepEqual(m.imports.map((i) => formatAst(i)), [
      '(import data.x.y)',
      '(import input.a as b)',
      '(import data)',
      '(import input)',
      '(import future.keywords)',
      '(import future.keywords.in)',
      '(import rego.v1)',
      '(import data.in as kw)',
      '(import input.foo["white space"])',
    ]);
    assert.equal(m.regoVersion, 'v1');
  });

  it('keeps comments', () => {
    const m = parse('# head\npackage t # pkg\np := 1 # rule');
    assert.deepEqual(m.comments.map((c) => [c.text, c.loc.row, c.loc.col]), [
      [' head', 1, 1],
      [' pkg', 2, 11],
      [' rule', 3, 8],
    ]);
  });
});

/* =================================================================== v0 */

describe('v0 compatibility', () => {
  const cases: Array<[string, string, string]> = [
    ['rule without if', 'p { true }', '(rule complete p (body true))'],
    ['partial set', 'p[x] { x := 1 }', '(rule partial_set p (key x) (body (assign x 1)))'],
    ['partial object', 'p[k] = v { k := "a"; v := 1 }', '(rule partial_object p[k] (key k) (value = v) (body (assign k "a") (assign v 1)))'],
    ['function', 'f(x) = y { y := x }', '(rule function f (args x) (value = y) (body (assign y x)))'],
    ['boolean function', 'f(x) { x }', '(rule function f (args x) (body x))'],
    ['default', 'default p = 1', '(rule complete p default (value = 1))'],
    ['else', 'p = 1 { false } else = 2 { true } else = 3', '(rule complete p (value = 1) (body false) (else (value = 2) (body true)) (else (value = 3)))'],
    ['chained bodies', 'p { false } { true }', '(rule complete p (body false))\n(rule complete p (body true))'],
    ['if and in as names', 'if := 1\nin[x] { x := 1 }', '(rule complete if (value := 1))\n(rule partial_set in (key x) (body (assign x 1)))'],
    ['space before a head bracket', 'p [x] { x := 1 }', '(rule partial_set p (key x) (body (assign x 1)))'],
    ['bare p.q is a set element', 'p.q', '(rule partial_set p (key "q"))'],
  ];
  for (const [name, src, want] of cases) {
    it(name, () => assert.equal(rules(src, V0), want));
  }

  it('turns keywords on with future.keywords imports', () => {
    const m = parse('package t\nimport future.keywords.in\nimport future.keywords.if\nimport future.keywords.contains\np contains x if { some x in [1] }', V0);
    assert.equal(m.rules.map((r) => formatAst(r)).join('\n'), '(rule partial_set p (key x) contains if (body (some (internal.member_2 x (array 1)))))');
    assert.equal(m.regoVersion, 'v0');
  });

  it('imports in with every', () => {
    assert.equal(
      parse('package t\nimport future.keywords.every\np { every x in [1] { x } }', V0).rules.map((r) => formatAst(r)).join(''),
      '(rule complete p (body (every x (array 1) (body x))))',
    );
  });

  it('applies the v1 checks after import rego.v1', () => {
    const m = parse('package t\nimport rego.v1\np contains 1 if 1 == 1', V0);
    assert.equal(m.regoVersion, 'v0v1');
    assertFirstError('package t\nimport rego.v1\np { true }', 3, 1, '`if` keyword is required before rule body', V0);
  });

  it('hints at future.keywords for some ... in', () => {
    assertFirstError(
      'package t\np if {\n\tsome x in {"foo": "bar"}\n}',
      3,
      9,
      'unexpected identifier token: expected \\n or ; or } (hint: `import future.keywords.in` for `some x in xs` expressions)',
      V0,
    );
  });

  it('hints at future.keywords for every', () => {
    assertFirstError(
      'package t\np {\n\tevery x, y in {"foo": "bar"} { is_string(x); is_string(y) }\n}',
      3,
      8,
      'unexpected identifier token: expected \\n or ; or } (hint: `import future.keywords.every` for `every x in xs { ... }` expressions)',
      V0,
    );
  });

  it('reads contains as a name without the import', () => {
    const errs = errors('package test\np contains x if { x = "a" }', V0);
    assert.equal(errs[0]!.reason, 'var cannot be used for rule name');
  });
});

/* ================================================================ errors */

describe('errors', () => {
  const cases: Array<[string, string, number, number, string, ParseOptions?]> = [
    ['v1 rule body without if', 'package test\np { true }', 2, 1, '`if` keyword is required before rule body'],
    ['v1 function body without if', 'package test\nf(x) := x {\n\tx == 1\n}', 2, 1, '`if` keyword is required before function body'],
    ['v1 else body without if', 'package test\np if { input.x == 1 } else {\n\tinput.x == 2\n}', 2, 23, '`if` keyword is required before rule body'],
    ['v1 partial set without contains', 'package test\np.q', 2, 1, '`contains` keyword is required for partial set rules'],
    ['v1 naked ref head', 'package test\np.q.r', 2, 1, 'rule must have value assignment and/or body declaration'],
    ['unterminated string', 'package test\np := "abc\nq := 1', 2, 6, 'non-terminated string'],
    ['unterminated raw string', 'package test\np := `abc', 2, 6, 'non-terminated string'],
    ['bad escape', 'package test\np if { x := "a\\qb" }', 2, 13, 'illegal escape sequence'],
    ['bad unicode escape', 'package test\np := "\\u12G4"', 2, 6, 'illegal string literal: "\\u12G4"'],
    ['unclosed brace at end of input', 'package test\np if {\n  x := 1\n', 4, 0, 'unexpected eof token'],
    ['unclosed brace on the last line', 'package test\nf(x) = y if { trim(x, ".", y) ', 2, 30, 'unexpected eof token: expected \\n or ; or }'],
    ['default with body', 'package test\ndefault p := 1 if { true }', 2, 16, 'unexpected if keyword'],
    ['default without value', 'package test\ndefault a[0]', 2, 1, 'illegal default rule (must have a value)'],
    ['default with ref value', 'package test\ndefault p := input.x', 2, 1, 'illegal default rule (value cannot contain ref)'],
    ['default with call value', 'package test\ndefault a = upper("foo")', 2, 1, 'illegal default rule (value cannot contain call)'],
    ['default with var value', 'package test\ndefault a = b', 2, 1, 'illegal default rule (value cannot contain var)'],
    ['default with repeated args', 'package test\ndefault f(x, x) := 1', 2, 1, 'illegal default rule (arguments cannot be repeated x)'],
    ['default with number arg', 'package test\ndefault f(1) = 1', 2, 1, 'illegal default rule (arguments cannot contain number)'],
    ['default keyword misplaced', 'package test\ndefault 0[0', 2, 1, 'unexpected default keyword'],
    ['two exprs on a line', 'package test\np if {\n\tx := y z\n}', 3, 9, 'unexpected identifier token: expected \\n or ; or }'],
    ['unexpected token', 'package test\np if { x := ) }', 2, 13, 'unexpected ) token'],
    ['dangling semicolon', 'package test\np if { true; false; }', 2, 21, 'unexpected } token'],
    ['empty body', 'package test\nf(_) = y if {}\ng(x) { }', 3, 8, 'found empty body'],
    ['stray closing brace', 'package test\np if { x := 1 } }', 2, 17, 'unexpected } token'],
    ['missing package', 'p := 1', 1, 1, 'package expected'],
    ['second package', 'package a\np := 1\npackage b', 3, 1, 'unexpected package'],
    ['operator in a rule name', 'package test\na-b := 1', 2, 2, 'unexpected minus token'],
    ['leading zero', 'package test\np := 03', 2, 6, 'unexpected number token: expected number without leading zero'],
    ['bad fraction', 'package test\np := 1.', 2, 6, 'expected fraction'],
    ['unary minus on a var', 'package test\np if { x := -y }', 2, 14, 'unexpected identifier token: expected number'],
    ['number too big', 'package test\np := 1.5e1000000', 2, 6, 'number too big'],
    ['invalid float', 'package test\np := 7e3000000000', 2, 6, 'unexpected number token: invalid float'],
    ['illegal character', "package test\np := 'a'", 2, 6, 'illegal token'],
    ['lone !', 'package test\np if { !x }', 2, 8, 'illegal ! character'],
    ['space after a dot', 'package test\np if { a. b }', 2, 10, 'unexpected whitespace token: expected identifier'],
    ['number after a dot', 'package test\np if { a.1 }', 2, 10, 'unexpected number token: expected identifier'],
    ['comma in brackets', 'package test\np if { x := input.a[1,2] }', 2, 22, 'unexpected , token: expected ['],
    ['missing comma in call', 'package test\np if { x := f(1 2) }', 2, 17, 'unexpected number token: expected "," or ")"'],
    ['missing colon in object', 'package test\np := {"a": 1, "b" 2}', 2, 12, 'unexpected number token: non-terminated object'],
    ['double comma', 'package test\np := [1, 2,, 3]', 2, 12, 'unexpected , token'],
    ['unterminated parentheses', 'package test\np if { x := (1 + 2 }', 2, 20, 'non-terminated expression'],
    ['non-terminated set', 'package test\nf := { "foo" = "bar" }', 2, 14, 'unexpected eq token: non-terminated set'],
    ['negated some', 'package test\np if { not some x in xs }', 2, 12, "unexpected some keyword: illegal negation of 'some'"],
    ['negated every', 'package test\np if { not every x in xs { true } }', 2, 12, "unexpected every keyword: illegal negation of 'every'"],
    ['some with a call', 'package test\np if { some f(x) }', 2, 18, 'unexpected } token: expected `x in xs` or `x, y in xs` expression'],
    ['every without in', 'package test\np if { every 10 }', 2, 17, 'unexpected } token: expected `x[, y] in xs { ... }` expression'],
    ['every with a constant value', 'package test\np if { every 10 in xs { true } }', 2, 23, 'unexpected { token: expected value to be a variable'],
    ['every with a constant key', 'package test\np if { every 10, x in xs { true } }', 2, 26, 'unexpected { token: expected key to be a variable'],
    ['every without body', 'package test\np if { every x in xs }', 2, 22, 'unexpected } token: missing body'],
    ['with without as', 'package test\np if { x with input 1 }', 2, 21, 'unexpected number token: expected as keyword'],
    ['with a constant target', 'package test\np if { x with 1 as 2 }', 2, 15, 'unexpected number token: expected ident'],
    ['contains on a function', 'package test\nf(x) contains y if { y := x }', 2, 6, 'unexpected contains keyword: the contains keyword can only be used with multi-value rule definitions (e.g., f contains <VALUE> { ... })'],
    ['missing rule value', 'package test\ndefault f :=', 2, 12, 'unexpected eof token'],
    ['else on a multi-value rule', 'package test\np contains x if { x := 1 } else := 2', 2, 28, 'else keyword cannot be used on multi-value rules'],
    ['else with a var in the head', 'package test\np.q[x] := 1 if { x := 1 } else := 2', 2, 27, 'else keyword cannot be used on rules with variables in head'],
    ['else after chained bodies', 'package test\np if { false } { false } else { true }', 2, 26, 'unexpected else keyword'],
    ['chained body after else', 'package test\np if { false } else { false } { true }', 2, 31, 'expected else keyword'],
    ['if on a chained body', 'package test\np if {\n\tinput.x == 1\n} if {\n\tinput.x == 2\n}', 4, 3, 'unexpected if keyword'],
    ['call as a rule head ref', 'package test\nq(0).r(0) if { true }', 2, 11, 'unexpected if keyword: rule head ref q(0).r invalid'],
    ['import root', 'package test\nimport foo.bar', 2, 8, 'unexpected import path, must begin with one of: {data, future, input, rego}, got: foo (hint: if this is unexpected, try updating OPA)'],
    ['import ending in a keyword', 'package test\nimport data.in', 2, 13, 'unexpected import path, must not end with a keyword, got: in'],
    ['import with a var', 'package test\nimport data.foo[x]', 2, 17, 'unexpected var token: expecting string'],
    ['import with a number', 'package test\nimport input.foo[0]', 2, 18, 'unexpected number token: expecting string'],
    ['import alias keyword', 'package test\nimport data.foo as not', 2, 20, 'unexpected not keyword: expected var'],
    ['unknown future keyword', 'package test\nimport future.keywords.xyz', 2, 8, 'unexpected keyword, must be one of [contains every if in]'],
    ['future import alias', 'package test\nimport future.keywords as xyz', 2, 8, '`future` imports cannot be aliased'],
    ['bad future import', 'package test\nimport future.a', 2, 8, 'invalid import, must be `future.keywords`'],
    ['bad rego import', 'package test\nimport rego.foo', 2, 8, 'invalid import `rego.foo`, must be `rego.v1`'],
    ['rego import alias in v0', 'package test\nimport rego.v1 as xyz', 2, 8, '`rego` imports cannot be aliased', V0],
    ['package with a var', 'package foo[x]', 1, 13, 'unexpected var token: expecting string'],
    ['package without a path', 'package 42', 1, 9, 'unexpected number token'],
    ['package ending in a dot', 'package foo.', 1, 12, 'unexpected eof token: expected identifier'],
    ['bare var', 'package test\np', 2, 1, 'var cannot be used for rule name'],
    ['bare comparison', 'package test\nx > 1', 2, 1, 'rule name conflicts with built-in function'],
    ['several expressions on the top level', 'package test\np := 1; q := 2', 2, 1, 'multiple expressions cannot be used for rule head'],
    ['negation on the top level', 'package test\nnot p', 2, 1, 'negated expressions cannot be used for rule head'],
    ['a template string not terminated', 'package test\np := $"x{1}', 2, 11, 'non-terminated string'],
    ['a $ that starts no template string', 'package test\np := $x', 2, 6, 'illegal $ character'],
    ['keyword as a rule name', 'package test\nif := 1', 2, 1, 'unexpected if keyword'],
    ['contains as a rule name', 'package test\ncontains := 1', 2, 1, 'contains keyword cannot be used for rule name'],
    ['ref on a string', 'package test\np if { "foo"[0] }', 2, 8, 'illegal ref (head cannot be string)'],
    ['ref on null', 'package test\np if { x := null.foo }', 2, 13, 'illegal ref (head cannot be null)'],
    ['ref on a number', 'package test\np := 6[null, null]', 2, 6, 'illegal ref (head cannot be number)'],
  ];
  for (const [name, src, row, col, message, opts] of cases) {
    it(name, () => {
      assertFirstError(src, row, col, message, opts);
    });
  }

  it('reports both v1 errors of a v0 partial set', () => {
    const errs = errors('package test\np[x] {\n\tx = "a"\n}');
    assert.deepEqual(errs.map((e) => e.message), [
      'test.rego:2:1: rego_parse_error: `if` keyword is required before rule body',
      'test.rego:2:1: rego_parse_error: `contains` keyword is required for partial set rules',
    ]);
  });

  it('reports a value error after the set error, as OPA', () => {
    const errs = errors('package test\nf(_) := { "foo" = "bar" }');
    assert.deepEqual(errs.map((e) => `${e.location.row}:${e.location.col}: ${e.reason}`), [
      '2:17: unexpected eq token: non-terminated set',
      '2:17: unexpected eq token: expected function value term (e.g., f(...) := <VALUE> { ... })',
    ]);
  });

  it('names a partial rule in its value error as OPA does, wildcards as _', () => {
    const errs = errors('package test\nf[_] := { "foo" = "bar" }');
    assert.equal(errs[1]!.reason, 'unexpected eq token: expected rule value term (e.g., f[_] := <VALUE> { ... })');
  });

  it('reports an empty module', () => {
    const errs = errors('# nothing\n');
    assert.equal(errs[0]!.message, 'test.rego:0:0: rego_parse_error: empty module');
  });

  it('formats errors as OPA does (plus the column), with the source line and a caret', () => {
    let caught: unknown;
    try {
      parseModule('package test\n\np if {\n\tx := )\n}', 'policy.rego');
    } catch (e) {
      caught = e;
    }
    assert.ok(caught instanceof RegoErrors);
    assert.equal(caught.code, 'rego_parse_error');
    assert.equal(caught.message, '1 error occurred: policy.rego:4:7: rego_parse_error: unexpected ) token\n\tx := )\n\t     ^');
    assert.equal(caught.errors[0]!.message, 'policy.rego:4:7: rego_parse_error: unexpected ) token');
  });

  it('prints row:col when there is no file name', () => {
    const { errors: errs } = parseModuleWithErrors('package t\np if { ] }', '');
    assert.equal(errs[0]!.message, '2:8: rego_parse_error: unexpected ] token');
    assert.equal(formatErrors(errs), '1 error occurred: 2:8: rego_parse_error: unexpected ] token\n\tp if { ] }\n\t       ^');
    const two = [new RegoError(RegoErrorCode.TYPE, 'a', { file: 'x.rego', row: 1, col: 1 }), new RegoError(RegoErrorCode.COMPILE, 'b', { file: 'x.rego', row: 2, col: 1 })];
    assert.equal(formatErrors(two), '2 errors occurred:\nx.rego:1:1: rego_type_error: a\nx.rego:2:1: rego_compile_error: b');
  });

  it('returns errors instead of throwing from parseModuleWithErrors', () => {
    const r = parseModuleWithErrors('package t\np { true }', 't.rego');
    assert.equal(r.module, undefined);
    assert.equal(r.errors.length, 1);
    const ok = parseModuleWithErrors('package t\np if { true }', 't.rego');
    assert.equal(ok.errors.length, 0);
    assert.equal(ok.module?.rules.length, 1);
  });

  it('stops at a recursion limit instead of overflowing the stack', () => {
    const { errors: errs } = parseModuleWithErrors(`package t\np := ${'['.repeat(20000)}${']'.repeat(20000)}`, 't.rego');
    assert.equal(errs[0]?.reason, 'max parsing recursion depth exceeded');
    const ok = parseModuleWithErrors(`package t\np := ${'['.repeat(100)}${']'.repeat(100)}`, 't.rego');
    assert.equal(ok.errors.length, 0);
  });
});

/* ======================================================= OPA doc examples */

// Policies in the style of OPA's documentation (policy language, policy
// reference), retyped as small modules; each must parse, and a few are
// checked in detail.
describe('OPA documentation examples', () => {
  const examples: Array<[string, string]> = [
    [
      'rbac',
      `package app.rbac

import rego.v1

default allow := false

allow if user_is_admin

allow if {
	some grant in user_is_granted
	input.action == grant.action
	input.type == grant.type
}

user_is_admin if "admin" in data.user_roles[input.user]

user_is_granted contains grant if {
	some role in data.user_roles[input.user]
	some grant in data.role_grants[role]
}`,
    ],
    [
      'servers',
      `package example

violation contains server.id if {
	some server in public_servers
	"http" in server.protocols
}

public_servers contains server if {
	some server in input.servers
	some port in server.ports
	some input_port in input.ports
	port == input_port.id
	some input_network in input.networks
	input_port.network == input_network.id
	input_network.public
}`,
    ],
    [
      'iteration and lookups',
      `package lookups

val := arr[0]
last := arr[count(arr) - 1]
has_foo if "foo" == obj.foo
keys contains k if some k, _ in obj
pairs contains [i, x] if some i, x in arr
nested if foo[k].bar.baz[i] == 7
same if { foo[k1] == foo[k2]; k1 != k2 }
no_match if count({x | set[x]; f(x)}) == 0`,
    ],
    [
      'rule kinds',
      `package kinds

a := {1, 2, 3}
b := {4, 5, 6}
c := a | b
d := a & b
default e := 1
e := 5 if input.x > 1
e := 100 if input.x > 2
a_set contains x if some x in input.xs
a_map[k] := v if some k, v in input.m
f(x) := "A" if { x >= 90 }
f(x) := "B" if { x >= 80; x < 90 }
g(x, y) if { x == y }`,
    ],
    [
      'reference heads',
      `package fruit

fruit.apple.seeds = 12 if input == "apple"
fruit.pineapple.colors contains x if x := "yellow"
fruit.banana.phone[x] = "bananular" if x := "cellular"
fruit.banana.phone.cellular = "bananular" if true
fruit.orange.color(x) = true if x == "orange"
box contains "apples" if true
box2[x] if { x := "apples" }`,
    ],
    [
      'else and metadata comments',
      `# METADATA
# title: Example
package example

authorize := "allow" if {
	input.user == "superuser"
} else := "deny" if {
	input.path[0] == "admin"
	input.source_network == "external"
}

override_annot(chain, name, scopes) := val if {
	val := [v |
		link := chain[_]
		link.annotations.scope in scopes
		v := link.annotations[name]
	][0]
} else := null`,
    ],
    [
      'tests with with',
      `package authz_test

import data.authz

test_post_allowed if {
	authz.allow with input as {"path": ["users"], "method": "POST"}
}

test_get_denied if {
	not authz.allow with input as {"path": ["users"], "method": "GET"} with data.roles as {}
}`,
    ],
    [
      'every and strings',
      `package every_example

all_ports_ok if {
	every port in input.ports {
		port > 1024
		port != 8080
	}
}

msg := sprintf("%s has %d items", [input.name, count(input.items)])
raw := \`C:\\path\\no\\escapes\`
joined := concat(", ", [s | some s in input.names; startswith(s, "a")])`,
    ],
    [
      'kubernetes admission',
      `package kubernetes.admission

deny contains msg if {
	input.request.kind.kind == "Pod"
	some container in input.request.object.spec.containers
	image := container.image
	not startswith(image, "hooli.com/")
	msg := sprintf("image '%v' comes from untrusted registry", [image])
}`,
    ],
    [
      'http api authz',
      `package httpapi.authz

import input

default allow := false

allow if {
	input.method == "GET"
	input.path == ["finance", "salary", input.user]
}

allow if {
	input.method == "GET"
	input.path == ["finance", "salary", username]
	subordinates[input.user][_] == username
}

subordinates := {"alice": [], "charlie": [], "bob": ["alice"], "betty": ["charlie"]}`,
    ],
  ];
  for (const [name, src] of examples) {
    it(`parses ${name}`, () => {
      const m = parse(src);
      assert.ok(m.rules.length > 0);
    });
  }

  it('reads the rbac example as OPA does', () => {
    const m = parse(examples[0]![1]);
    assert.equal(formatAst(m), [
      '(package data.app.rbac)',
      '(import rego.v1)',
      '(rule complete allow default (value := false))',
      '(rule complete allow if (body user_is_admin))',
      '(rule complete allow if (body (some (internal.member_2 grant user_is_granted)) (equal input.action grant.action) (equal input.type grant.type)))',
      '(rule complete user_is_admin if (body (internal.member_2 "admin" data.user_roles[input.user])))',
      '(rule partial_set user_is_granted (key grant) contains if (body (some (internal.member_2 role data.user_roles[input.user])) (some (internal.member_2 grant data.role_grants[role]))))',
    ].join('\n'));
  });

  it('reads the reference-heads example as OPA does', () => {
    const m = parse(examples[4]![1]);
    assert.deepEqual(m.rules.map((r) => `${r.kind} ${formatTerm(r.head.ref)}`), [
      'complete fruit.apple.seeds',
      'partial_set fruit.pineapple.colors',
      'partial_object fruit.banana.phone[x]',
      'complete fruit.banana.phone.cellular',
      'function fruit.orange.color',
      'partial_set box',
      'partial_object box2[x]',
    ]);
  });
});

describe('formatAst', () => {
  it('prints single nodes', () => {
    const m = parse('package t\n# c\np := 1 if { x with input as 2 }');
    const r = m.rules[0]!;
    assert.equal(formatAst(r.head), '(head (value := 1) if)');
    assert.equal(formatAst(r.body[0]!.with[0]!), '(input 2)');
    assert.equal(formatAst(r.body), '(body (with x (input 2)))');
    assert.equal(formatAst(m.comments[0]!), '(comment " c")');
    assert.equal(formatAst(r.head.ref), 'p');
  });
});

/* ================================================================== speed */

/** A policy of n rules in the shapes real policies have. */
function generatedPolicy(n: number): string {
  const lines = ['package perf.generated', '', 'import rego.v1', '', 'default allow := false', ''];
  for (let i = 0; i < n; i++) {
    switch (i % 4) {
      case 0:
        lines.push('allow if {', '\tinput.method == "GET"', `\tinput.path[${i % 7}] == "v${i}"`, `\tnot deny_${i}`, '}');
        break;
      case 1:
        lines.push(`deny_${i} contains msg if {`, '\tsome x in input.items', `\tx.size > ${i} * 2`, '\tmsg := sprintf("item %v too big", [x.name])', '}');
        break;
      case 2:
        lines.push(`limits.r${i} := {"max": ${i}, "tags": [t | some t in input.tags; startswith(t, "a")]}`);
        break;
      default:
        lines.push(`f_${i}(x) := y if {`, `\ty := x + ${i}`, '} else := 0');
    }
    lines.push('');
  }
  return lines.join('\n');
}

// Speed is measured in bench/ (not asserted here: a timed unit test fails
// on a busy machine and proves nothing on a fast one).
describe('a large module', () => {
  it('parses a generated 200-rule module completely', () => {
    const m = parseModule(generatedPolicy(200), 'perf.rego');
    assert.equal(m.rules.length, 201);
    assert.equal(m.rules.filter((r) => r.kind === 'partial_set').length, 50);
    assert.equal(m.rules.filter((r) => r.kind === 'function').length, 50);
  });
});
