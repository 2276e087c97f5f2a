// End-to-end tests of strings.render_template and regex.globs_match
// (engine/policy/builtins/template.ts): Rego compiled to Wasm, evaluated
// through the SDK with our host builtins.
//
// render_template runs Go's text/template over the vars as OPA hands them to
// Go: numbers are json.Number (a string type holding the number's text),
// objects map[string]interface{}, arrays []interface{}. Each expected
// output was checked against Go's text/template (go1.19, the vars decoded
// with UseNumber, `<no value>` read as OPA's `<undefined>`); the two
// later-Go features tested ({{else with}}, Go 1.23; range over an integer,
// Go 1.24) follow the text/template documentation. A builtin error makes
// the call undefined (OPA's non-strict mode).
//
// globs_match cases follow gintersect's syntax: `*` and `+` flag the token
// before them, `\` escapes, a set has no negation and `?` is a literal.
import { before, describe, it } from 'node:test';

import { buildRuntime, findTools } from '../../engine/policy/runtime/build.js';
import { table } from './helpers.js';

const tools = findTools();
const skip = 'missing' in tools ? tools.missing : undefined;

/** strings.render_template(tmpl, vars): vars as a value (JSON is Rego) or as Rego text */
const rt = (tmpl: string, vars: unknown = {}): string =>
  `strings.render_template(${JSON.stringify(tmpl)}, ${typeof vars === 'string' ? vars : JSON.stringify(vars)})`;

/** regex.globs_match(a, b), the patterns as Rego strings */
const gm = (a: string, b: string): string => `regex.globs_match(${JSON.stringify(a)}, ${JSON.stringify(b)})`;

describe('strings.render_template', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it('fields, dot and $; numbers as their text; a missing key or nil as <undefined>', async () => {
    await table([
      [rt('{{.a}}', { a: 'hello world' }), 'hello world'],
      [rt('{{.a.b.c}}', { a: { b: { c: 'deep' } } }), 'deep'],
      // json.Number prints the number as written: OPA keeps a literal's text
      [rt('{{.n}} {{.f}} {{.neg}} {{.big}}', '{"n": 2023, "f": 1.5, "neg": -7, "big": 12345678901234567890}'), '2023 1.5 -7 12345678901234567890'],
      [rt('{{.a}} {{.b}}', '{"a": 1.0, "b": 1e3}'), '1.0 1e3'],
      [rt('{{.t}} {{.f}}', { t: true, f: false }), 'true false'],
      [rt('[{{.missing}}] [{{.missing.deeper}}] [{{.nul}}]', { nul: null }), '[<undefined>] [<undefined>] [<undefined>]'],
      [rt('test {{.foo}} {{.bar}} {{.baz}}', { baz: 1 }), 'test <undefined> <undefined> 1'],
      [rt('{{$.a}}{{with .m}}{{$.a}}{{.k}}{{end}}', { a: 'x', m: { k: 'y' } }), 'xxy'],
      [rt('{{index . "a-b"}}', { 'a-b': 'dash' }), 'dash'],
    ]);
  });

  it("Go's printing: maps in key order, slices space separated, nil elements as <nil>", async () => {
    await table([
      [rt('{{.}}', { b: [1, 'x', true, null], a: { z: 1, y: {} }, c: [] }), 'map[a:map[y:map[] z:1] b:[1 x true <nil>] c:[]]'],
      [rt('{{$}}', { k: 'v' }), 'map[k:v]'],
      [rt('{{.xs}}', { xs: [[1, 2], { a: null }] }), '[[1 2] map[a:<nil>]]'],
      [rt('{{range .xs}}<{{.}}>{{end}}', { xs: [null, 1] }), '<<undefined>><1>'],
    ]);
  });

  it('variables: := declares, = assigns, a declaration prints nothing', async () => {
    await table([
      [rt('{{$x := .a}}{{$x}}-{{$x = "b"}}{{$x}}', { a: 'a' }), 'a-b'],
      [rt('{{$m := .m}}{{$m.k}}', { m: { k: 'v' } }), 'v'],
      [rt('{{if true}}{{$x := 1}}{{$x}}{{end}}'), '1'],
      [rt('{{with $v := .a}}{{$v}}{{end}}', { a: 'w' }), 'w'],
      [rt('{{$x := .nul}}[{{$x}}]', { nul: null }), '[<undefined>]'],
      // out of scope after its {{end}}
      [rt('{{if true}}{{$x := 1}}{{end}}{{$x}}'), undefined],
    ]);
  });

  it('range: elements, $i/$v, maps in key order, else, break and continue', async () => {
    await table([
      [rt('{{range .xs}}[{{.}}]{{end}}', { xs: ['a', 'b', 'c'] }), '[a][b][c]'],
      [rt('{{range $i, $v := .xs}}{{$i}}={{$v}} {{end}}', { xs: ['a', 'b'] }), '0=a 1=b '],
      [rt('{{range $v := .xs}}{{$v}}{{end}}', { xs: [3, 1, 2] }), '312'],
      [rt('{{range $k, $v := .m}}{{$k}}:{{$v}} {{end}}', { m: { b: 2, a: 1, B: 3 } }), 'B:3 a:1 b:2 '],
      [rt('{{range .m}}{{.}}{{end}}', { m: { b: 2, a: 1 } }), '12'],
      [rt('{{range .xs}}x{{else}}none{{end}}|{{range .missing}}x{{else}}none{{end}}|{{range .em}}x{{else}}none{{end}}', { xs: [], em: {} }), 'none|none|none'],
      [rt('{{range $i, $name := .hellonames}}{{if $i}},{{end}}hello {{$name}}{{end}}', { hellonames: ['rohan', 'john doe'] }), 'hello rohan,hello john doe'],
      [rt('{{range .xs}}{{if eq . "c"}}{{break}}{{end}}{{.}}{{end}}|{{range .xs}}{{if eq . "b"}}{{continue}}{{end}}{{.}}{{end}}', { xs: ['a', 'b', 'c', 'd'] }), 'ab|acd'],
      [rt('{{range .list}}{{.name}}={{.v}};{{end}}', { list: [{ name: 'x', v: 1 }, { name: 'y', v: 2 }] }), 'x=1;y=2;'],
      // Go 1.24: an integer ranges over 0 … n-1; a JSON number is a json.Number, a string
      [rt('{{range 3}}{{.}}{{end}}|{{range $i := len .xs}}{{$i}}{{end}}', { xs: [1, 2] }), '012|01'],
      [rt('{{range .n}}x{{end}}', { n: 3 }), undefined],
      [rt('{{range .a}}x{{end}}', { a: 'abc' }), undefined],
    ]);
  });

  it('if, else if, else and with; truth is not the zero value', async () => {
    await table([
      [rt('{{if .a}}yes{{else}}no{{end}}', { a: true }), 'yes'],
      [rt('{{if eq .v "x"}}1{{else if eq .v "y"}}2{{else}}3{{end}}', { v: 'y' }), '2'],
      [rt('{{if eq .v "x"}}1{{else if eq .v "y"}}2{{else}}3{{end}}', { v: 'z' }), '3'],
      // 0 as JSON is the json.Number "0": a non-empty string, so true
      [
        rt('{{if .z}}T{{else}}F{{end}}{{if .zs}}T{{else}}F{{end}}{{if .s}}T{{else}}F{{end}}{{if .e}}T{{else}}F{{end}}{{if .em}}T{{else}}F{{end}}{{if .nul}}T{{else}}F{{end}}{{if .missing}}T{{else}}F{{end}}{{if 0}}T{{else}}F{{end}}{{if 0.0}}T{{else}}F{{end}}', { z: 0, zs: '0', s: '', e: [], em: {}, nul: null }),
        'TTFFFFFFF',
      ],
      [rt('{{with .m}}{{.k}}{{end}}|{{with .missing}}x{{else}}none{{end}}', { m: { k: 'v' } }), 'v|none'],
      // Go 1.23: {{else with}}
      [rt('{{with .missing}}{{.}}{{else with .a}}[{{.}}]{{end}}', { a: 'A' }), '[A]'],
    ]);
  });

  it('comparisons: basic kinds only; a json.Number compares as a string', async () => {
    await table([
      [rt('{{eq .a "hello"}} {{eq .a "x" "y" "hello"}} {{ne .a "x"}}', { a: 'hello' }), 'true true true'],
      [rt('{{eq .n "2023"}} {{lt .n "3"}}', { n: 2023 }), 'true true'],
      [rt('{{eq 1 1}} {{lt 1 2}} {{le 2 2}} {{gt 3 2}} {{ge 2 3}} {{lt 1.5 2.5}} {{lt "a" "b"}} {{eq true true}}'), 'true true true true false true true true'],
      [rt('{{eq .missing "x"}} {{eq .missing .nul}}', { nul: null }), 'false true'],
      [rt('{{eq (len .xs) 2}} {{lt (index "a" 0) 98}}', { xs: [1, 2] }), 'true true'],
      [rt('{{eq .n 1}}', { n: 1 }), undefined], // json.Number against int: incompatible types
      [rt('{{eq .m .m}}', { m: {} }), undefined], // maps are not comparable
      [rt('{{lt true false}}'), undefined],
      [rt('{{lt .missing 1}}'), undefined],
    ]);
  });

  it('and, or, not: short-circuit, and and or answer an operand', async () => {
    await table([
      [rt('{{and 1 2}} {{and 0 2}} {{or 0 "" "x"}} {{or 0 ""}} {{not .t}} {{not .missing}} {{not 0}}', { t: true }), '2 0 x  false true true'],
      [rt('{{or .missing "default"}} {{and .t .a}}', { t: true, a: 'A' }), 'default A'],
      [rt('{{if and .t (not .f)}}ok{{end}} {{and false .nul.x}} {{or true .nul.x}}', { t: true, f: false, nul: null }), 'ok false true'],
      [rt('{{not 1 2}}'), undefined],
    ]);
  });

  it('len counts bytes; index and slice', async () => {
    await table([
      [rt('{{len .a}} {{len .u}} {{len .xs}} {{len .m}} {{len .n}}', { a: 'abc', u: 'héllo', xs: [1, 2, 3], m: { a: 1 }, n: 12345 }), '3 6 3 1 5'],
      [rt('{{index .xs 1}} {{index .m "k"}} [{{index .m "nope"}}] {{index .m "a" 1}} {{index .a 0}}', { xs: ['x', 'y'], m: { k: 'v', a: [1, 2] }, a: 'A' }), 'y v [<undefined>] 2 65'],
      [rt('{{slice .xs 1}} {{slice .xs 1 2}} {{slice .a 1 3}} {{slice .a}}', { xs: ['a', 'b', 'c'], a: 'hello' }), '[b c] [b] el hello'],
      [rt('{{len 3}}'), undefined],
      [rt('{{index .xs 5}}', { xs: [1] }), undefined],
      [rt('{{index .xs .i}}', { xs: [1], i: 0 }), undefined], // a json.Number is no index
      [rt('{{slice .xs 2 1}}', { xs: [1, 2] }), undefined],
    ]);
  });

  it('print, println and printf', async () => {
    await table([
      [rt('{{print .a .n}}|{{print .n .n}}|{{print 1 2}}|{{print "a" 1 2 "b"}}|{{print .missing}}|{{print nil}}|{{print}}', { a: 'A', n: 5 }), 'A5|55|1 2|a1 2b|<nil>|<nil>|'],
      [rt('{{println .a 1}}', { a: 'A' }), 'A 1\n'],
      [rt('{{printf "%s-%q-%v" .a .a .a}} {{printf "%d|%5d|%-5d|%05d" 42 42 42 42}}', { a: 'hi' }), 'hi-"hi"-hi 42|   42|42   |00042'],
      [rt('{{printf "%x %X %o %b %c %U %q %#x %+d" 255 255 8 5 65 65 65 255 3}}'), "ff FF 10 101 A U+0041 'A' 0xff +3"],
      // a json.Number is a string to fmt: %d and %f do not apply (precision cuts the text)
      [rt('{{printf "%d" .n}} {{printf "%s" .n}} {{printf "%.2f" .n}} {{printf "%d" .n.Int64}}', { n: 2023 }), '%!d(json.Number=2023) 2023 %!f(json.Number=20) 2023'],
      [
        rt('{{printf "%v %v" .m .xs}} {{printf "%q" .xs}} {{printf "%T %T %T %T %T %T" .a .n .m .xs 1 .nul}}', { a: 'a', n: 1, m: { k: 'v' }, xs: ['p', 'q'], nul: null }),
        'map[k:v] [p q] ["p" "q"] string json.Number map[string]interface {} []interface {} int <nil>',
      ],
      [rt('{{printf "%d %d" 1}} {{printf "%d" 1 2}} {{printf "%z" 1}} {{printf "100%%"}} {{printf "%s" 42}}'), '1 %!d(MISSING) 1%!(EXTRA int=2) %!z(int=1) 100% %!s(int=42)'],
      [rt('{{printf "%.2f|%8.3f|%-8.3f|%+.1e|%g|%g|%g" 3.14159 3.14159 3.14159 12345.678 100000.0 1000000.0 0.0001}}'), '3.14|   3.142|3.142   |+1.2e+04|100000|1e+06|0.0001'],
      // exact binary values round half to even
      [rt('{{printf "%.0f %.0f %.0f %.1f %.2f" 0.5 1.5 2.5 0.25 1.005}}'), '0 2 2 0.2 1.00'],
      [rt('{{print 1.0 1.5 1e21 0.00001 123456.0 1234567.0}}'), '1 1.5 1e+21 1e-05 123456 1.234567e+06'],
      [rt('{{printf "%6.2s|%-6s|%.1q|%#q|%+q" "abc" "ab" "xyz" "ab" "é"}}'), '    ab|ab    |"x"|`ab`|"\\u00e9"'],
      [rt('{{printf}}'), undefined],
      [rt('{{printf .n}}', { n: 1 }), undefined], // the format must be a string
    ]);
  });

  it('html, js and urlquery escape the printed operands', async () => {
    await table([
      [rt('{{html .s}}', { s: '<a href="x">&\'</a>' }), '&lt;a href=&#34;x&#34;&gt;&amp;&#39;&lt;/a&gt;'],
      [rt('{{js .s}}', { s: '<a href="x">&\'=\\\n' }), '\\u003Ca href\\u003D\\"x\\"\\u003E\\u0026\\\'\\u003D\\\\\\u000A'],
      [rt('{{urlquery .s}}', { s: 'a b&c=d/é' }), 'a+b%26c%3Dd%2F%C3%A9'],
      [rt('{{html .missing}} {{html 1 2}} {{.s | html}}', { s: '<>' }), '&lt;no value&gt; 1 2 &lt;&gt;'],
    ]);
  });

  it("pipelines, parenthesised pipelines, json.Number's methods", async () => {
    await table([
      [rt('{{.a | printf "%q"}} {{.xs | len | printf "%d items"}} {{(index .list 0).name}}', { a: 'x', xs: [1, 2], list: [{ name: 'n0' }] }), '"x" 2 items n0'],
      [rt('{{.n.Int64}} {{.f.Float64}} {{.n.String}} {{gt .n.Int64 2000}} {{printf "%.1f" .f.Float64}}', { n: 2023, f: 2.25 }), '2023 2.25 2023 true 2.2'],
      [rt('{{.a | print "x"}}', { a: 'A' }), 'xA'],
      [rt('{{.f.Int64}}', { f: 1.5 }), undefined],
      [rt('{{"x" | "y"}}'), undefined],
      [rt('{{.a | .b}}', { a: 1 }), undefined],
    ]);
  });

  it('trim markers and comments', async () => {
    await table([
      [rt('a  {{- .a -}}  b', { a: 'X' }), 'aXb'],
      [rt('a {{- /* gone */ -}} b|x{{/* comment */}}y'), 'ab|xy'],
      [rt('{{range .xs -}}\n  {{.}}\n{{- end}}', { xs: [1, 2] }), '12'],
      [rt('{{-3}} {{ -3 }}'), '-3 -3'], // no space after the dash: a number
      [rt('{{/* unclosed'), undefined],
      [rt('{{/* a */ .a}}', { a: 1 }), undefined],
    ]);
  });

  it('errors are undefined: syntax, execution, unsupported actions', async () => {
    const vars = { a: 'A', xs: [1], nul: null };
    await table([
      [rt('{{.a', vars), undefined],
      [rt('{{end}}', vars), undefined],
      [rt('{{else}}', vars), undefined],
      [rt('{{if .a}}', vars), undefined],
      [rt('{{foo}}', vars), undefined],
      [rt('{{$y}}', vars), undefined],
      [rt('{{.nul.x}}', vars), undefined],
      [rt('{{.a.b}}', vars), undefined],
      [rt('{{nil}}', vars), undefined],
      [rt('{{break}}', vars), undefined],
      [rt('{{call .a}}', vars), undefined],
      // one template per call: nothing to define or invoke
      [rt('{{define "x"}}a{{end}}', vars), undefined],
      [rt('{{template "x"}}', vars), undefined],
      [rt('{{block "x" .}}a{{end}}', vars), undefined],
    ]);
  });

  it("operands OPA's JSON round trip refuses are undefined", async () => {
    await table([
      [rt('{{.}}', '{"s": {1, 2}}'), undefined], // a set
      [rt('{{.}}', '{"s": set()}'), undefined],
      [rt('{{.}}', '{"s": "a\\u0001b"}'), undefined], // strconv.Quote writes \x01, which JSON refuses
      [rt('{{.}}', '{"s": "a\\bb"}'), 'map[s:a\bb]'], // \b is JSON
      [rt('{{.}}', '{1: "x"}'), undefined],
      [rt('{{.}}', '[1]'), undefined],
      ['strings.render_template(1, {})', undefined],
    ]);
  });
});

describe('regex.globs_match', { skip }, () => {
  before(() => {
    if (!skip) buildRuntime();
  });

  it('whether a non-empty string matches both', async () => {
    await table([
      [gm('a.a.[0-9]+z', '.b.b2359825792*594823z'), true],
      [gm('[a-z]+', '[0-9]*'), false], // only the empty string
      [gm('b.*', 'bar'), true],
      [gm('[a-z]+\\[[0-9]+\\]', 'foo\\[1\\]'), true],
      [gm('[a-z]+\\[[0-9]+\\]', 'foo["bar"]'), false],
      [gm('', ''), true], // as gintersect has it
      [gm('', 'a*'), false],
      [gm('é+', 'é'), true],
    ]);
  });

  it('character classes', async () => {
    await table([
      [gm('[a-c]x', '[c-e]x'), true],
      [gm('[a-c]', '[d-f]'), false],
      [gm('[α-ω]', 'β'), true],
      [gm('[^a]', 'a'), true], // no negation: ^ is a member
      [gm('[.]', 'x'), false], // . in a set is itself
      [gm('[xy]+z', 'x*y*'), false],
      [gm('.+x.+', '[xy]+'), true],
    ]);
  });

  it('* and + together', async () => {
    await table([
      [gm('a*', 'b*'), false],
      [gm('a*b', 'b'), true],
      [gm('a+b', 'b'), false],
      [gm('a+', 'a*'), true],
      [gm('ab*c', 'a.+c'), true],
      [gm('ab+', 'a'), false],
      [gm('x*y*z', 'z'), true],
      [gm('[0-9]+', '12a'), false],
      [gm('a+.', 'a'), false],
      [gm('a+.', 'aa'), true],
    ]);
  });

  it('escapes and literals', async () => {
    await table([
      [gm('a\\*', 'a*'), false], // a literal star against a run of a
      [gm('a\\*', 'a.'), true],
      [gm('\\.', 'x'), false],
      [gm('\\.', '.'), true],
      [gm('a?', 'ab'), false], // ? is a literal
      [gm('a?', 'a.'), true],
    ]);
  });

  it('a malformed pattern is undefined', async () => {
    await table([
      [gm('pqrs]', '[a-b]+'), undefined],
      [gm('*a', 'a'), undefined],
      [gm('a**', 'a'), undefined],
      [gm('[a-', 'a'), undefined],
      [gm('[z-a]', 'a'), undefined],
      [gm('a\\', 'a'), undefined],
      [gm('a', '[ab'), undefined],
    ]);
  });
});
