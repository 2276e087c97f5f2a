/**
 * Host builtins: the template family (OPA v1/topdown), gathered by builtins-js.ts.
 *
 * strings.render_template (topdown/template.go) runs Go's text/template with
 * the vars object as dot. This file is an interpreter for that language over
 * the values OPA hands to Go: ast.As decodes the object's JSON with
 * UseNumber, so a number is a json.Number (a string type holding the
 * number's text), an object a map[string]interface{}, an array a
 * []interface{}. What Go prints, compares and fails on follows from those
 * types (pkg.go.dev/text/template, pkg.go.dev/fmt).
 *
 * regex.globs_match (topdown/regex.go, gintersect) decides whether two glob
 * patterns match a common non-empty string: an NFA per pattern, a search of
 * their product.
 */
import type { BuiltinDecl } from '../compile/builtins.js';
import { byteCompare, fail, str, type Impl } from './common.js';
import {
  fmtValue,
  GoFloat,
  GoInt,
  goInt,
  GoMap,
  hex,
  INT64_MAX,
  INT64_MIN,
  isPrint,
  JsonNumber,
  MISSING,
  NO_FLAGS,
  sortedKeys,
  sprint,
  sprintf,
  sprintln,
  stringKind,
  textOf,
  typeName,
  UINT64_MAX,
  utf8,
  type Val,
} from './gofmt.js';


/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  // Rego text: a number keeps the text json.Number prints, and a set (which
  // OPA's JSON round trip refuses) stays a set
  'strings.render_template': { arity: 2, exact: true },
  'regex.globs_match': { arity: 2 },
};

/* ------------------------------------------------ the vars, as Go sees them */

/**
 * OPA hands the vars to Go through their Rego text read as JSON (ast.As):
 * strconv.Quote writes \a, \v, \xNN and \UNNNNNNNN escapes JSON refuses,
 * so a string with such a character fails, and so does a set or a key that
 * is not a string.
 */
function goQuoteIsJSON(s: string): boolean {
  if (/[\x00-\x07\x0b\x0e-\x1f\x7f]/.test(s)) return false;
  for (const c of s) if (c.codePointAt(0)! > 0xffff && !isPrint(c)) return false;
  return true;
}

/** The vars operand (Rego text, runtime opa_value_dump) as Go values. */
function readVars(text: string): GoMap {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \n\t\r'.includes(text[i]!)) i++;
  };
  const expect = (c: string): void => {
    ws();
    if (text[i++] !== c) fail('strings.render_template: bad operand text');
  };
  const string = (): string => {
    const start = i++;
    while (i < text.length && text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    const s = JSON.parse(text.slice(start, ++i)) as string;
    return goQuoteIsJSON(s) ? s : fail('strings.render_template: vars: a string JSON cannot carry');
  };
  const value = (): Val => {
    ws();
    const c = text[i];
    if (c === '"') return string();
    if (c === '[') {
      i++;
      const out: Val[] = [];
      ws();
      if (text[i] === ']') return i++, out;
      for (;;) {
        out.push(value());
        ws();
        if (text[i] === ']') return i++, out;
        expect(',');
      }
    }
    if (c === '{') {
      i++;
      const m = new Map<string, Val>();
      ws();
      if (text[i] === '}') return i++, new GoMap(m);
      for (;;) {
        ws();
        if (text[i] !== '"') fail('strings.render_template: vars: a set, or a key that is not a string');
        const k = string();
        ws();
        if (text[i] !== ':') fail('strings.render_template: vars: a set');
        i++;
        m.set(k, value());
        ws();
        if (text[i] === '}') return i++, new GoMap(m);
        expect(',');
      }
    }
    const n = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 800));
    if (n) return (i += n[0].length), new JsonNumber(n[0]);
    for (const [w, v] of [['true', true], ['false', false], ['null', null]] as const) if (text.startsWith(w, i)) return (i += w.length), v;
    return fail('strings.render_template: vars: a set');
  };
  const v = value();
  ws();
  if (i !== text.length) fail('strings.render_template: bad operand text');
  return v instanceof GoMap ? v : fail('strings.render_template: operand 2 must be an object');
}

/* ================================================================ lexer */

type TokType =
  | 'text' | 'ld' | 'rd' | 'space' | 'field' | 'var' | 'dot' | 'ident' | 'kw' | 'bool'
  | 'num' | 'charconst' | 'str' | 'raw' | 'lp' | 'rp' | 'pipe' | 'assign' | 'declare' | 'char' | 'eof';
interface Tok {
  t: TokType;
  v: string;
}

const KEYWORDS = new Set(['block', 'break', 'continue', 'define', 'else', 'end', 'if', 'nil', 'range', 'template', 'with']);
const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /^[\p{L}\p{Nd}_]$/u.test(c);

/**
 * text/template's lexer (parse/lex.go): text between `{{` `}}` actions,
 * `{{- ` and ` -}}` trimming the white space beside them, `{{/* *\/}}`
 * comments dropped.
 */
function lex(src: string): Tok[] {
  const toks: Tok[] = [];
  let pos = 0;
  const emit = (t: TokType, from: number): void => void toks.push({ t, v: src.slice(from, pos) });
  const trimLeftMarker = (at: number): boolean => src[at] === '-' && isSpace(src[at + 1]);
  const trimRightMarker = (at: number): boolean => isSpace(src[at]) && src[at + 1] === '-' && src.startsWith('}}', at + 2);
  const skipSpaces = (): void => {
    while (isSpace(src[pos])) pos++;
  };
  const charAt = (at: number): string | undefined => (at < src.length ? String.fromCodePoint(src.codePointAt(at)!) : undefined);
  /** what may follow an identifier, field or variable: .X.Y splits, $x+2 does not lex */
  const atTerminator = (at: number): boolean => {
    const c = src[at];
    return c === undefined || isSpace(c) || '.,|:()'.includes(c) || src.startsWith('}}', at);
  };
  const alnumRun = (): void => {
    for (let c = charAt(pos); isAlnum(c); c = charAt(pos)) pos += c!.length;
  };
  const accept = (set: string): boolean => (pos < src.length && set.includes(src[pos]!) ? (pos++, true) : false);
  const acceptRun = (set: string): void => {
    while (accept(set));
  };
  /** a number's extent (lex.go scanNumber): the parser checks its syntax */
  const scanNumber = (): boolean => {
    accept('+-');
    let digits = '0123456789_';
    if (accept('0')) {
      if (accept('xX')) digits = '0123456789abcdefABCDEF_';
      else if (accept('oO')) digits = '01234567_';
      else if (accept('bB')) digits = '01_';
    }
    acceptRun(digits);
    if (accept('.')) acceptRun(digits);
    if (digits.length === 11 && accept('eE')) accept('+-'), acceptRun('0123456789_');
    if (digits.length === 23 && accept('pP')) accept('+-'), acceptRun('0123456789_');
    accept('i');
    return !isAlnum(charAt(pos));
  };
  /** a quoted string or character constant: no newline, an escape takes the next character */
  const quoted = (q: string, what: string): void => {
    for (;;) {
      const c = src[pos++];
      if (c === '\\' && pos < src.length && src[pos] !== '\n') pos++;
      else if (c === undefined || c === '\n' || c === '\\') fail(`template: unterminated ${what}`);
      else if (c === q) return;
    }
  };

  for (;;) {
    const x = src.indexOf('{{', pos);
    if (x < 0) {
      if (pos < src.length) toks.push({ t: 'text', v: src.slice(pos) });
      toks.push({ t: 'eof', v: '' });
      return toks;
    }
    let end = x;
    if (trimLeftMarker(x + 2)) while (end > pos && isSpace(src[end - 1])) end--;
    if (end > pos) toks.push({ t: 'text', v: src.slice(pos, end) });
    pos = x + 2;
    const marker = trimLeftMarker(pos) ? 2 : 0;
    if (src.startsWith('/*', pos + marker)) {
      const close = src.indexOf('*/', pos + marker + 2);
      if (close < 0) fail('template: unclosed comment');
      pos = close + 2;
      if (trimRightMarker(pos)) (pos += 4), skipSpaces();
      else if (src.startsWith('}}', pos)) pos += 2;
      else fail('template: comment ends before closing delimiter');
      continue;
    }
    toks.push({ t: 'ld', v: '{{' });
    pos += marker;
    let parens = 0;
    for (;;) {
      const trimmed = trimRightMarker(pos);
      if (trimmed || src.startsWith('}}', pos)) {
        if (parens) fail('template: unclosed left paren');
        pos += trimmed ? 4 : 2;
        toks.push({ t: 'rd', v: '}}' });
        if (trimmed) skipSpaces();
        break;
      }
      const start = pos;
      const c = charAt(pos);
      if (c === undefined) return fail('template: unclosed action');
      if (isSpace(c)) {
        skipSpaces();
        // the last space may belong to a " -}}"
        if (src[pos] === '-' && src.startsWith('}}', pos + 1)) pos--;
        if (pos > start) emit('space', start);
        continue;
      }
      pos += c.length;
      if (c === '=') emit('assign', start);
      else if (c === ':') {
        if (src[pos++] !== '=') fail('template: expected :=');
        emit('declare', start);
      } else if (c === '|') emit('pipe', start);
      else if (c === '"') quoted('"', 'quoted string'), emit('str', start);
      else if (c === '`') {
        const close = src.indexOf('`', pos);
        if (close < 0) fail('template: unterminated raw quoted string');
        pos = close + 1;
        emit('raw', start);
      } else if (c === "'") quoted("'", 'character constant'), emit('charconst', start);
      else if (c === '$' || (c === '.' && !(pos >= src.length || (src[pos]! >= '0' && src[pos]! <= '9')))) {
        // a variable or field: $ alone, . alone, or followed by a name
        if (atTerminator(pos)) emit(c === '$' ? 'var' : 'dot', start);
        else {
          alnumRun();
          if (!atTerminator(pos)) fail(`template: bad character ${JSON.stringify(charAt(pos))}`);
          emit(c === '$' ? 'var' : 'field', start);
        }
      } else if (c === '.' || c === '+' || c === '-' || (c >= '0' && c <= '9')) {
        pos = start;
        if (!scanNumber()) fail(`template: bad number syntax: ${JSON.stringify(src.slice(start, pos + 1))}`);
        // 1+2i: a complex constant, which busted does not support
        if (src[pos] === '+' || src[pos] === '-') fail('template: complex constants are not supported');
        emit('num', start);
      } else if (isAlnum(c)) {
        alnumRun();
        if (!atTerminator(pos)) fail(`template: bad character ${JSON.stringify(charAt(pos))}`);
        const word = src.slice(start, pos);
        toks.push({ t: KEYWORDS.has(word) ? 'kw' : word === 'true' || word === 'false' ? 'bool' : 'ident', v: word });
      } else if (c === '(') parens++, emit('lp', start);
      else if (c === ')') {
        if (--parens < 0) fail('template: unexpected right paren');
        emit('rp', start);
      } else if (c >= ' ' && c <= '~') emit('char', start);
      else fail(`template: unrecognized character in action: ${JSON.stringify(c)}`);
    }
  }
}

/* =============================================================== parser */

/** A number constant (parse/node.go NumberNode): what the literal can be read as. */
interface NumberLit {
  text: string;
  int?: bigint;
  uint?: boolean;
  float?: number;
}

/** An operand (parse/node.go): a literal, dot, .a.b, $x.a, a function name, (pipeline), or (pipeline).a */
type Arg =
  | { t: 'dot' }
  | { t: 'nil' }
  | { t: 'bool'; v: boolean }
  | { t: 'string'; v: string }
  | { t: 'number'; n: NumberLit }
  | { t: 'field'; idents: string[] }
  | { t: 'var'; name: string; idents: string[] }
  | { t: 'ident'; name: string }
  | { t: 'pipe'; pipe: Pipe }
  | { t: 'chain'; node: Arg; idents: string[] };

interface Pipe {
  decl: string[];
  /** `$x = …` assigns to a variable already declared; `$x := …` declares */
  assign: boolean;
  cmds: Arg[][];
}

type TNode =
  | { t: 'text'; text: string }
  | { t: 'action'; pipe: Pipe }
  | { t: 'if' | 'with' | 'range'; pipe: Pipe; list: TNode[]; else?: TNode[] }
  | { t: 'break' | 'continue' | 'end' | 'else' };

const tokText = (t: Tok): string => (t.t === 'eof' ? 'EOF' : t.t === 'rd' ? '"}}"' : JSON.stringify(t.v));

/** text/template's parser (parse/parse.go), over the lexer's tokens. */
class Parser {
  private i = 0;
  /** variables in scope, for "undefined variable" */
  private vars = ['$'];
  private rangeDepth = 0;

  constructor(private readonly toks: Tok[]) {}

  private peek(): Tok {
    return this.toks[Math.min(this.i, this.toks.length - 1)]!;
  }
  private next(): Tok {
    return this.toks[Math.min(this.i++, this.toks.length - 1)]!;
  }
  private peekNonSpace(): Tok {
    while (this.peek().t === 'space') this.i++;
    return this.peek();
  }
  private nextNonSpace(): Tok {
    this.peekNonSpace();
    return this.next();
  }
  private expect(t: TokType, context: string): Tok {
    const tok = this.nextNonSpace();
    return tok.t === t ? tok : fail(`template: unexpected ${tokText(tok)} in ${context}`);
  }

  parse(): TNode[] {
    const list: TNode[] = [];
    while (this.peek().t !== 'eof') {
      const n = this.textOrAction();
      if (n.t === 'end' || n.t === 'else') fail(`template: unexpected {{${n.t}}}`);
      list.push(n);
    }
    return list;
  }

  /** nodes up to an {{end}} or {{else}}, which comes back separately */
  private itemList(): [TNode[], TNode] {
    const list: TNode[] = [];
    while (this.peekNonSpace().t !== 'eof') {
      const n = this.textOrAction();
      if (n.t === 'end' || n.t === 'else') return [list, n];
      list.push(n);
    }
    return fail('template: unexpected EOF');
  }

  private textOrAction(): TNode {
    const tok = this.nextNonSpace();
    if (tok.t === 'text') return { t: 'text', text: tok.v };
    if (tok.t === 'ld') return this.action();
    return fail(`template: unexpected ${tokText(tok)} in input`);
  }

  private action(): TNode {
    const tok = this.nextNonSpace();
    if (tok.t === 'kw') {
      switch (tok.v) {
        case 'block':
        case 'define':
        case 'template':
          // one template per call: there is nothing to define or invoke
          return fail(`template: {{${tok.v}}} is not supported`);
        case 'break':
        case 'continue':
          this.expect('rd', `{{${tok.v}}}`);
          if (!this.rangeDepth) fail(`template: {{${tok.v}}} outside {{range}}`);
          return { t: tok.v };
        case 'else': {
          // {{else if …}} and {{else with …}} leave the keyword for parseControl
          const p = this.peekNonSpace();
          if (!(p.t === 'kw' && (p.v === 'if' || p.v === 'with'))) this.expect('rd', 'else');
          return { t: 'else' };
        }
        case 'end':
          this.expect('rd', 'end');
          return { t: 'end' };
        case 'if':
        case 'range':
        case 'with':
          return this.control(tok.v);
      }
    }
    this.i--;
    return { t: 'action', pipe: this.pipeline('command', 'rd') };
  }

  private control(context: 'if' | 'range' | 'with'): TNode {
    const scope = this.vars.length;
    const pipe = this.pipeline(context, 'rd');
    if (context === 'range') this.rangeDepth++;
    const [list, next] = this.itemList();
    if (context === 'range') this.rangeDepth--;
    let elseList: TNode[] | undefined;
    if (next.t === 'else') {
      const p = this.peek();
      if (context !== 'range' && p.t === 'kw' && p.v === context) {
        // {{else if b}} is {{else}}{{if b}}…{{end}}{{end}} with one {{end}}
        this.next();
        elseList = [this.control(context)];
      } else {
        const [els, end] = this.itemList();
        if (end.t !== 'end') fail(`template: expected end; found {{${end.t}}}`);
        elseList = els;
      }
    }
    this.vars.length = scope;
    return { t: context, pipe, list, ...(elseList ? { else: elseList } : {}) };
  }

  /** declarations? command ('|' command)* */
  private pipeline(context: string, end: 'rd' | 'rp'): Pipe {
    const pipe: Pipe = { decl: [], assign: false, cmds: [] };
    while (this.peekNonSpace().t === 'var') {
      const at = this.i;
      const v = this.next();
      const after = this.peekNonSpace();
      if (after.t === 'assign' || after.t === 'declare') {
        this.next();
        pipe.assign = after.t === 'assign';
        pipe.decl.push(v.v);
        this.vars.push(v.v);
        break;
      }
      if (after.t === 'char' && after.v === ',') {
        this.next();
        pipe.decl.push(v.v);
        this.vars.push(v.v);
        if (context === 'range' && pipe.decl.length < 2) {
          const p = this.peekNonSpace();
          if (p.t === 'var' || p.t === 'rd' || p.t === 'rp') continue;
          fail('template: range can only initialize variables');
        }
        fail(`template: too many declarations in ${context}`);
      }
      this.i = at; // an operand, not a declaration
      break;
    }
    for (;;) {
      const tok = this.nextNonSpace();
      if (tok.t === end) break;
      if (['bool', 'charconst', 'dot', 'field', 'ident', 'num', 'raw', 'str', 'var', 'lp'].includes(tok.t) || (tok.t === 'kw' && tok.v === 'nil')) {
        this.i--;
        pipe.cmds.push(this.command());
      } else fail(`template: unexpected ${tokText(tok)} in ${context}`);
    }
    if (!pipe.cmds.length) fail(`template: missing value for ${context}`);
    pipe.cmds.slice(1).forEach((c, k) => {
      // only the first stage may be a constant: A | "x" has nothing to call
      if (['bool', 'dot', 'nil', 'number', 'string'].includes(c[0]!.t)) fail(`template: non executable command in pipeline stage ${k + 2}`);
    });
    return pipe;
  }

  /** operands separated by spaces, up to `|` (consumed) or the end (left) */
  private command(): Arg[] {
    const args: Arg[] = [];
    for (;;) {
      this.peekNonSpace();
      const op = this.operand();
      if (op) args.push(op);
      const tok = this.next();
      if (tok.t === 'space') continue;
      if (tok.t === 'rd' || tok.t === 'rp') this.i--;
      else if (tok.t !== 'pipe') fail(`template: unexpected ${tokText(tok)} in operand`);
      break;
    }
    return args.length ? args : fail('template: empty command');
  }

  /** a term and the fields after it: .a.b, $x.a, (pipeline).a */
  private operand(): Arg | undefined {
    const node = this.term();
    if (!node || this.peek().t !== 'field') return node;
    const idents: string[] = [];
    while (this.peek().t === 'field') idents.push(this.next().v.slice(1));
    if (node.t === 'field') return { t: 'field', idents: [...node.idents, ...idents] };
    if (node.t === 'var') return { t: 'var', name: node.name, idents: [...node.idents, ...idents] };
    if (['bool', 'string', 'number', 'nil', 'dot'].includes(node.t)) fail('template: unexpected . after term');
    return { t: 'chain', node, idents };
  }

  private term(): Arg | undefined {
    const tok = this.nextNonSpace();
    switch (tok.t) {
      case 'ident':
        if (!Object.hasOwn(FUNCS, tok.v) && tok.v !== 'and' && tok.v !== 'or') fail(`template: function ${JSON.stringify(tok.v)} not defined`);
        return { t: 'ident', name: tok.v };
      case 'dot':
        return { t: 'dot' };
      case 'var':
        if (!this.vars.includes(tok.v)) fail(`template: undefined variable ${JSON.stringify(tok.v)}`);
        return { t: 'var', name: tok.v, idents: [] };
      case 'field':
        return { t: 'field', idents: [tok.v.slice(1)] };
      case 'bool':
        return { t: 'bool', v: tok.v === 'true' };
      case 'charconst':
        return { t: 'number', n: charConstant(tok.v) };
      case 'num':
        return { t: 'number', n: numberLit(tok.v) };
      case 'lp':
        return { t: 'pipe', pipe: this.pipeline('parenthesized pipeline', 'rp') };
      case 'str':
        return { t: 'string', v: unquote(tok.v.slice(1, -1), '"') };
      case 'raw':
        return { t: 'string', v: tok.v.slice(1, -1).replace(/\r/g, '') };
      case 'kw':
        if (tok.v === 'nil') return { t: 'nil' };
    }
    this.i--;
    return undefined;
  }
}

/* ------------------------------------------------------- Go literal syntax */

/**
 * Go's escapes (strconv.UnquoteChar) in a quoted string or character
 * constant; \x and octal escapes are bytes, the result read as UTF-8.
 */
function unquote(body: string, quote: '"' | "'"): string {
  const bytes: number[] = [];
  const push = (s: string): void => void bytes.push(...utf8(s));
  const simple: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };
  for (let i = 0; i < body.length; ) {
    const c = String.fromCodePoint(body.codePointAt(i)!);
    i += c.length;
    if (c !== '\\') {
      if (c === quote) fail('template: invalid syntax');
      push(c);
      continue;
    }
    const e = body[i++];
    if (e !== undefined && Object.hasOwn(simple, e)) bytes.push(simple[e]!);
    else if (e === quote) bytes.push(quote.charCodeAt(0));
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const h = body.slice(i, i + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) fail('template: invalid syntax');
      i += n;
      const v = parseInt(h, 16);
      if (e === 'x') bytes.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)) fail('template: invalid syntax');
      else push(String.fromCodePoint(v));
    } else if (e !== undefined && e >= '0' && e <= '7') {
      const o = body.slice(i - 1, i + 2);
      if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) fail('template: invalid syntax');
      i += 2;
      bytes.push(parseInt(o, 8));
    } else fail('template: invalid syntax');
  }
  return Buffer.from(bytes).toString('utf8');
}

/** 'a', '\n', '\u00e9': the rune, as every number type Go reads it as */
function charConstant(text: string): NumberLit {
  const body = text.slice(1, -1);
  // '\xNN' and '\NNN' are the byte's value as a rune, not UTF-8
  const byte = /^\\(x[0-9a-fA-F]{2}|[0-7]{3})$/.exec(body);
  const cps = byte ? [] : [...unquote(body, "'")];
  if (!byte && cps.length !== 1) fail(`template: malformed character constant: ${text}`);
  const r = byte ? (byte[1]![0] === 'x' ? parseInt(byte[1]!.slice(1), 16) : parseInt(byte[1]!, 8)) : cps[0]!.codePointAt(0)!;
  if (r > 255 && byte) fail('template: invalid syntax');
  return { text, int: BigInt(r), uint: true, float: r };
}

/** Go's rules for `_` between digits (strconv underscoreOK). */
function underscoresOK(s: string): boolean {
  let saw = '^';
  let i = 0;
  if (s[0] === '+' || s[0] === '-') s = s.slice(1);
  const hex = /^0[xX]/.test(s);
  if (/^0[bBoOxX]/.test(s)) (i = 2), (saw = '0');
  for (; i < s.length; i++) {
    const c = s[i]!;
    if ((c >= '0' && c <= '9') || (hex && /[a-fA-F]/.test(c))) saw = '0';
    else if (c === '_') {
      if (saw !== '0') return false;
      saw = '_';
    } else {
      if (saw === '_') return false;
      saw = '!';
    }
  }
  return saw !== '_';
}

/** strconv.ParseInt / ParseUint with base 0: 0x, 0o, 0b, leading-0 octal. */
function parseGoInt(text: string, signed: boolean): bigint | undefined {
  let s = text;
  let neg = false;
  if (s[0] === '+' || s[0] === '-') {
    if (!signed) return undefined;
    neg = s[0] === '-';
    s = s.slice(1);
  }
  let base = 10;
  if (s[0] === '0' && s.length > 1) {
    const p = s[1]!.toLowerCase();
    if (s.length >= 3 && (p === 'b' || p === 'o' || p === 'x')) (base = p === 'b' ? 2 : p === 'o' ? 8 : 16), (s = s.slice(2));
    else (base = 8), (s = s.slice(1));
  }
  if (!s.length || !underscoresOK(text)) return undefined;
  let n = 0n;
  for (const c of s.replace(/_/g, '')) {
    const d = parseInt(c, 36);
    if (Number.isNaN(d) || d >= base) return undefined;
    n = n * BigInt(base) + BigInt(d);
  }
  if (neg) n = -n;
  if (signed ? n < INT64_MIN || n > INT64_MAX : n > UINT64_MAX) return undefined;
  return n;
}

/** strconv.ParseFloat: decimal or hexadecimal (which needs a p exponent); undefined when out of range. */
function parseGoFloat(text: string): number | undefined {
  if (!underscoresOK(text)) return undefined;
  const s = text.replace(/_/g, '');
  const hex = /^([+-]?)0[xX]([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?[pP]([+-]?\d+)$/.exec(s);
  let f: number;
  if (hex) {
    const [, sign, whole, frac = '', exp] = hex;
    if (!whole && !frac) return undefined;
    f = (parseInt(whole! + frac || '0', 16) / 16 ** frac.length) * 2 ** Number(exp);
    if (sign === '-') f = -f;
  } else {
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return undefined;
    f = Number(s);
  }
  return Number.isFinite(f) ? f : undefined;
}

/** A number constant (parse/node.go newNumber): int, uint and float readings. */
function numberLit(text: string): NumberLit {
  if (text.endsWith('i')) fail('template: complex constants are not supported');
  const n: NumberLit = { text };
  const u = parseGoInt(text, false);
  const i = parseGoInt(text, true);
  if (u !== undefined) n.uint = true;
  if (i !== undefined) n.int = i;
  if (i === 0n) n.uint = true; // -0
  if (n.int !== undefined) n.float = Number(n.int);
  else if (n.uint) n.float = Number(u);
  else {
    const f = parseGoFloat(text);
    if (f !== undefined) {
      // read as a float but written as an integer: too big for one
      if (!/[.eEpP]/.test(text)) fail(`template: integer overflow: ${JSON.stringify(text)}`);
      n.float = f;
    }
  }
  if (n.int === undefined && !n.uint && n.float === undefined) fail(`template: illegal number syntax: ${JSON.stringify(text)}`);
  return n;
}

/* ============================================================ functions */

/** what a function parameter takes: reflect.Value (any value, nil as invalid), interface{} (nil as nil) or string */
type Param = 'value' | 'any' | 'string';

interface Func {
  params: Param[];
  /** the type of the ... parameter, if any */
  variadic?: Param;
  call: (args: Val[]) => Val;
}

/** indirectInterface: a nil interface is the invalid value */
const concrete = (v: Val): Val => (v === null ? MISSING : v);

/** isTrue: the zero value of its type is false */
function truth(v: Val): boolean {
  v = concrete(v);
  if (v === MISSING) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'string') return v.length > 0;
  if (v instanceof JsonNumber) return v.text.length > 0;
  if (v instanceof GoInt) return v.v !== 0n;
  if (v instanceof GoFloat) return v.v !== 0;
  if (v instanceof GoMap) return v.m.size > 0;
  return (v as Val[]).length > 0;
}

type Kind = 'bool' | 'int' | 'uint' | 'float' | 'string' | 'invalid';
function basicKind(v: Val): Kind {
  if (typeof v === 'boolean') return 'bool';
  if (stringKind(v)) return 'string';
  if (v instanceof GoInt) return v.type === 'uint8' ? 'uint' : 'int';
  if (v instanceof GoFloat) return 'float';
  return 'invalid';
}

/** funcs.go eq: basic kinds compare by value, ints of either sign with each other; nil equals only nil */
function eq(a: Val, bs: Val[]): boolean {
  a = concrete(a);
  if (!bs.length) fail('template: error calling eq: missing argument for comparison');
  const k1 = basicKind(a);
  for (let b of bs) {
    b = concrete(b);
    const k2 = basicKind(b);
    let t = false;
    if (k1 !== k2) {
      if ((k1 === 'int' || k1 === 'uint') && (k2 === 'int' || k2 === 'uint')) t = (a as GoInt).v === (b as GoInt).v;
      else if (a !== MISSING && b !== MISSING) fail(`template: error calling eq: incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
    } else if (k1 === 'bool') t = a === b;
    else if (k1 === 'int' || k1 === 'uint') t = (a as GoInt).v === (b as GoInt).v;
    else if (k1 === 'float') t = (a as GoFloat).v === (b as GoFloat).v;
    else if (k1 === 'string') t = textOf(a as string) === textOf(b as string);
    else {
      const kindOf = (x: Val): string => (x === MISSING ? 'invalid' : x instanceof GoMap ? 'map' : 'slice');
      if (kindOf(a) !== kindOf(b) && a !== MISSING && b !== MISSING) fail('template: error calling eq: non-comparable types');
      // a JSON map or slice is never nil, and is not comparable
      if (a === MISSING || b === MISSING) t = a === b;
      else fail(`template: error calling eq: non-comparable type ${typeName(b)}`);
    }
    if (t) return true;
  }
  return false;
}

/** funcs.go lt: basic kinds only, no bools */
function lt(a: Val, b: Val): boolean {
  a = concrete(a);
  b = concrete(b);
  const k1 = basicKind(a);
  const k2 = basicKind(b);
  if (k1 === 'invalid' || k2 === 'invalid') return fail('template: error calling lt: invalid type for comparison');
  if (k1 !== k2) {
    if ((k1 === 'int' || k1 === 'uint') && (k2 === 'int' || k2 === 'uint')) return (a as GoInt).v < (b as GoInt).v;
    return fail(`template: error calling lt: incompatible types for comparison: ${typeName(a)} and ${typeName(b)}`);
  }
  if (k1 === 'bool') return fail('template: error calling lt: invalid type for comparison');
  if (k1 === 'int' || k1 === 'uint') return (a as GoInt).v < (b as GoInt).v;
  if (k1 === 'float') return (a as GoFloat).v < (b as GoFloat).v;
  return byteCompare(textOf(a as string), textOf(b as string)) < 0;
}

/** length: bytes of a string, entries of a map or slice */
function length(v: Val): Val {
  v = concrete(v);
  if (stringKind(v)) return goInt(utf8(textOf(v)).length);
  if (v instanceof GoMap) return goInt(v.m.size);
  if (Array.isArray(v)) return goInt(v.length);
  return fail(`template: error calling len: len of type ${typeName(v)}`);
}

/** an index into a slice or string: an integer within [0, cap] */
function indexArg(i: Val, cap: number): number {
  i = concrete(i);
  if (i === MISSING) return fail('template: cannot index slice/array with nil');
  if (!(i instanceof GoInt)) return fail(`template: cannot index slice/array with type ${typeName(i)}`);
  if (i.v < 0n || i.v > BigInt(cap)) return fail(`template: index out of range: ${i.v}`);
  return Number(i.v);
}

/** index x 1 2: x[1][2] over slices, strings (a byte) and maps (nil past the keys) */
function index(item: Val, idx: Val[]): Val {
  item = concrete(item);
  if (item === MISSING) return fail('template: error calling index: index of untyped nil');
  for (const i of idx) {
    if (item === null) return fail('template: error calling index: index of nil pointer');
    if (stringKind(item) || Array.isArray(item)) {
      const bytes: Buffer | undefined = stringKind(item) ? utf8(textOf(item)) : undefined;
      const len: number = bytes ? bytes.length : (item as Val[]).length;
      const x = indexArg(i, len);
      if (x === len) fail(`template: error calling index: index out of range: ${x}`);
      item = bytes ? new GoInt('uint8', BigInt(bytes[x]!)) : (item as Val[])[x]!;
    } else if (item instanceof GoMap) {
      const k = concrete(i);
      if (k === MISSING) return fail('template: error calling index: value is nil; should be of type string');
      if (typeof k !== 'string') return fail(`template: error calling index: value has type ${typeName(k)}; should be string`);
      item = item.m.has(k) ? item.m.get(k)! : null;
    } else return fail(`template: error calling index: can't index item of type ${typeName(item)}`);
  }
  return item;
}

/** slice x 1 2: x[1:2] of a string (by bytes) or a slice */
function slice(item: Val, idx: Val[]): Val {
  item = concrete(item);
  if (item === MISSING) return fail('template: error calling slice: slice of untyped nil');
  if (idx.length > 3) return fail(`template: error calling slice: too many slice indexes: ${idx.length}`);
  if (!stringKind(item) && !Array.isArray(item)) return fail(`template: error calling slice: can't slice item of type ${typeName(item)}`);
  if (stringKind(item) && idx.length === 3) return fail('template: error calling slice: cannot 3-index slice a string');
  const bytes = stringKind(item) ? utf8(textOf(item)) : undefined;
  const len = bytes ? bytes.length : (item as Val[]).length;
  const at = [0, len];
  idx.forEach((i, k) => (at[k] = indexArg(i, len)));
  if (at[0]! > at[1]!) fail(`template: error calling slice: invalid slice index: ${at[0]} > ${at[1]}`);
  if (idx.length === 3 && at[1]! > at[2]!) fail(`template: error calling slice: invalid slice index: ${at[1]} > ${at[2]}`);
  return bytes ? bytes.subarray(at[0], at[1]).toString('utf8') : (item as Val[]).slice(at[0], at[1]);
}

/** evalArgs for html/js/urlquery: one string as it is, else fmt.Sprint with nil as <no value> */
function evalArgs(args: Val[]): string {
  if (args.length === 1 && typeof args[0] === 'string') return args[0];
  return sprint(args.map((a) => (a === null || a === MISSING ? '<no value>' : a)));
}

/** template.HTMLEscapeString */
const htmlEscape = (s: string): string =>
  s.replace(/[\0"'&<>]/g, (c) => ({ '\0': '\ufffd', '"': '&#34;', "'": '&#39;', '&': '&amp;', '<': '&lt;', '>': '&gt;' })[c]!);

/** template.JSEscapeString */
function jsEscape(s: string): string {
  let out = '';
  for (const c of s) {
    const r = c.codePointAt(0)!;
    if (c === '\\' || c === "'" || c === '"') out += '\\' + c;
    else if (c === '<' || c === '>' || c === '&' || c === '=' || r < 0x20) out += '\\u' + hex(r, 4, true);
    else if (r >= 0x80 && !isPrint(c)) out += '\\u' + hex(r, 4, true);
    else out += c;
  }
  return out;
}

/** url.QueryEscape: unreserved bytes kept, space as +, the rest %XX */
const queryEscape = (s: string): string =>
  [...utf8(s)].map((b) => (/[A-Za-z0-9\-_.~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : b === 32 ? '+' : '%' + hex(b, 2, true))).join('');

/** the builtin functions (funcs.go builtins), and and or aside: they short-circuit in evalCall */
const FUNCS: Record<string, Func> = {
  not: { params: ['value'], call: ([a]) => !truth(a!) },
  len: { params: ['value'], call: ([a]) => length(a!) },
  index: { params: ['value'], variadic: 'value', call: ([a, ...i]) => index(a!, i) },
  slice: { params: ['value'], variadic: 'value', call: ([a, ...i]) => slice(a!, i) },
  call: { params: ['value'], variadic: 'value', call: ([f]) => fail(`template: error calling call: non-function of type ${typeName(concrete(f!))}`) },
  eq: { params: ['value'], variadic: 'value', call: ([a, ...b]) => eq(a!, b) },
  ne: { params: ['value', 'value'], call: ([a, b]) => !eq(a!, [b!]) },
  lt: { params: ['value', 'value'], call: ([a, b]) => lt(a!, b!) },
  le: { params: ['value', 'value'], call: ([a, b]) => lt(a!, b!) || eq(a!, [b!]) },
  gt: { params: ['value', 'value'], call: ([a, b]) => !(lt(a!, b!) || eq(a!, [b!])) },
  ge: { params: ['value', 'value'], call: ([a, b]) => !lt(a!, b!) },
  print: { params: [], variadic: 'any', call: (a) => sprint(a) },
  println: { params: [], variadic: 'any', call: (a) => sprintln(a) },
  printf: { params: ['string'], variadic: 'any', call: ([f, ...a]) => sprintf(f as string, a) },
  html: { params: [], variadic: 'any', call: (a) => htmlEscape(evalArgs(a)) },
  js: { params: [], variadic: 'any', call: (a) => jsEscape(evalArgs(a)) },
  urlquery: { params: [], variadic: 'any', call: (a) => queryEscape(evalArgs(a)) },
};

/** json.Number's methods, which .n.Int64 and .n.Float64 call */
function numberMethod(n: JsonNumber, name: string): Val | undefined {
  if (name === 'String') return n.text;
  if (name === 'Int64') {
    const v = /^[+-]?\d+$/.test(n.text) ? BigInt(n.text) : undefined;
    return v !== undefined && v >= INT64_MIN && v <= INT64_MAX ? new GoInt('int64', v) : fail(`template: error calling Int64: strconv.ParseInt: parsing ${JSON.stringify(n.text)}`);
  }
  if (name === 'Float64') {
    const v = Number(n.text);
    return Number.isFinite(v) ? new GoFloat(v) : fail(`template: error calling Float64: strconv.ParseFloat: parsing ${JSON.stringify(n.text)}`);
  }
  return undefined;
}

/* ============================================================ execution */

/** No value comes down the pipeline (exec.go missingVal). */
const NO_FINAL = Symbol('no final');
type Final = Val | typeof NO_FINAL;

/** the most iterations a range over an integer may take */
const MAX_RANGE = 1_000_000n;

class Break {}
class Continue {}

/** Go's template execution (exec.go) with the default missingkey option. */
class Exec {
  out = '';
  private vars: Array<{ name: string; value: Val }>;

  constructor(dot: Val) {
    this.vars = [{ name: '$', value: dot }];
  }

  walk(dot: Val, nodes: TNode[]): void {
    for (const n of nodes) this.node(dot, n);
  }

  private node(dot: Val, n: TNode): void {
    switch (n.t) {
      case 'text':
        this.out += n.text;
        return;
      case 'action': {
        // variables declared here live until the enclosing {{end}}
        const v = this.pipeline(dot, n.pipe);
        if (!n.pipe.decl.length) this.out += v === MISSING ? '<no value>' : fmtValue(v, 'v', NO_FLAGS, 0);
        return;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const v = this.pipeline(dot, n.pipe);
        if (truth(v)) this.walk(n.t === 'with' ? v : dot, n.list);
        else if (n.else) this.walk(dot, n.else);
        this.vars.length = mark;
        return;
      }
      case 'range':
        return this.range(dot, n);
      case 'break':
        throw new Break();
      case 'continue':
        throw new Continue();
      default:
        return fail('template: unexpected node');
    }
  }

  private range(dot: Val, n: { pipe: Pipe; list: TNode[]; else?: TNode[] }): void {
    const outer = this.vars.length;
    const val = concrete(this.pipeline(dot, n.pipe));
    const mark = this.vars.length;
    const decl = n.pipe.decl;
    const one = (key: Val, elem: Val): boolean => {
      if (n.pipe.assign) {
        if (decl.length === 1) this.setVar(decl[0]!, elem);
        if (decl.length === 2) this.setVar(decl[0]!, key), this.setVar(decl[1]!, elem);
      } else {
        if (decl.length > 0) this.vars[mark - 1]!.value = elem;
        if (decl.length > 1) this.vars[mark - 2]!.value = key;
      }
      try {
        this.walk(elem, n.list);
      } catch (e) {
        if (e instanceof Break) return false;
        if (!(e instanceof Continue)) throw e;
      } finally {
        this.vars.length = mark;
      }
      return true;
    };
    let ran = false;
    if (Array.isArray(val)) {
      for (let i = 0; i < val.length && ((ran = true), one(goInt(i), val[i]!)); i++);
    } else if (val instanceof GoMap) {
      for (const k of sortedKeys(val)) if (((ran = true), !one(k, val.m.get(k)!))) break;
    } else if (val instanceof GoInt) {
      // Go 1.24 ranges over an integer: 0, 1, …, n-1 (bounded here: .n.Int64 can bring one from input)
      if (decl.length > 1) fail(`template: can't use ${val.v} to iterate over more than one variable`);
      if (val.v > MAX_RANGE) fail(`template: range over ${val.v}: past busted's ${MAX_RANGE} iterations`);
      for (let i = 0n; i < val.v; i++) if (((ran = true), !one(new GoInt(val.type, i), new GoInt(val.type, i)))) break;
    } else if (val !== MISSING) fail(`template: range can't iterate over ${fmtValue(val, 'v', NO_FLAGS, 0)}`);
    if (!ran && n.else) this.walk(dot, n.else);
    this.vars.length = outer;
  }

  private setVar(name: string, value: Val): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
    fail(`template: undefined variable: ${name}`);
  }

  private varValue(name: string): Val {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    return fail(`template: undefined variable: ${name}`);
  }

  /** each command's value is the next one's last argument; a nil interface at the end is no value */
  private pipeline(dot: Val, pipe: Pipe): Val {
    let value: Final = NO_FINAL;
    for (const cmd of pipe.cmds) value = concrete(this.command(dot, cmd, value));
    const v = value as Val;
    for (const name of pipe.decl) {
      if (pipe.assign) this.setVar(name, v);
      else this.vars.push({ name, value: v });
    }
    return v;
  }

  private notAFunction(args: Arg[], final: Final): void {
    if (args.length > 1 || final !== NO_FINAL) fail('template: can\'t give argument to non-function');
  }

  private command(dot: Val, args: Arg[], final: Final): Val {
    const first = args[0]!;
    switch (first.t) {
      case 'field':
        return this.fieldChain(dot, dot, first.idents, args, final);
      case 'chain':
        return this.fieldChain(dot, this.chainBase(dot, first.node), first.idents, args, final);
      case 'ident':
        return this.call(dot, first.name, args.slice(1), final);
      case 'pipe':
        this.notAFunction(args, final);
        return this.pipeline(dot, first.pipe);
      case 'var': {
        const v = this.varValue(first.name);
        if (!first.idents.length) {
          this.notAFunction(args, final);
          return v;
        }
        return this.fieldChain(dot, v, first.idents, args, final);
      }
    }
    this.notAFunction(args, final);
    switch (first.t) {
      case 'bool':
        return first.v;
      case 'dot':
        return dot;
      case 'nil':
        return fail('template: nil is not a command');
      case 'number':
        return idealConstant(first.n);
      case 'string':
        return first.v;
    }
  }

  private chainBase(dot: Val, node: Arg): Val {
    if (node.t === 'nil') return fail('template: indirection through explicit nil');
    return this.arg(dot, 'any', node, true);
  }

  /** .a.b.c: each name a key of the map before it; the last may get arguments (only a method can take them) */
  private fieldChain(dot: Val, receiver: Val, idents: string[], args: Arg[], final: Final): Val {
    for (let i = 0; i < idents.length; i++) {
      const last = i === idents.length - 1;
      receiver = this.field(idents[i]!, last && (args.length > 1 || final !== NO_FINAL), receiver);
    }
    return receiver;
  }

  private field(name: string, hasArgs: boolean, receiver: Val): Val {
    if (receiver === MISSING) return MISSING; // missingkey=default: nothing below nothing
    if (receiver === null) return fail(`template: nil pointer evaluating interface {}.${name}`);
    if (receiver instanceof JsonNumber) {
      const m = numberMethod(receiver, name);
      if (m !== undefined) return hasArgs ? fail(`template: wrong number of args for ${name}: want 0`) : m;
    }
    if (receiver instanceof GoMap) {
      if (hasArgs) fail(`template: ${name} is not a method but has arguments`);
      return receiver.m.has(name) ? receiver.m.get(name)! : MISSING;
    }
    return fail(`template: can't evaluate field ${name} in type ${typeName(receiver)}`);
  }

  /** an argument of a function parameter's type (exec.go evalArg, validateType) */
  private arg(dot: Val, typ: Param, n: Arg, chain = false): Val {
    let v: Val;
    switch (n.t) {
      case 'dot':
        v = dot;
        break;
      case 'nil':
        if (typ === 'string') return fail('template: cannot assign nil to string');
        return typ === 'any' ? null : MISSING;
      case 'field':
        v = this.fieldChain(dot, dot, n.idents, [n], NO_FINAL);
        break;
      case 'var':
        v = n.idents.length ? this.fieldChain(dot, this.varValue(n.name), n.idents, [n], NO_FINAL) : this.varValue(n.name);
        break;
      case 'pipe':
        v = this.pipeline(dot, n.pipe);
        break;
      case 'ident':
        v = this.call(dot, n.name, [], NO_FINAL);
        break;
      case 'chain':
        v = this.fieldChain(dot, this.chainBase(dot, n.node), n.idents, [n], NO_FINAL);
        break;
      case 'bool':
        return typ === 'string' ? fail('template: expected string; found bool') : n.v;
      case 'string':
        return n.v;
      case 'number':
        return typ === 'string' ? fail(`template: expected string; found ${n.n.text}`) : idealConstant(n.n);
    }
    if (chain) return v;
    return validate(v, typ);
  }

  /** a function call (exec.go evalCall): arity, and and or short-circuiting, the pipeline's value last */
  private call(dot: Val, name: string, args: Arg[], final: Final): Val {
    const n = args.length + (final !== NO_FINAL ? 1 : 0);
    if (name === 'and' || name === 'or') {
      if (n < 1) fail(`template: wrong number of args for ${name}: want at least 1 got 0`);
      let v: Val = MISSING;
      for (const a of args) {
        v = this.arg(dot, 'value', a);
        if (truth(v) === (name === 'or')) return v;
      }
      return final !== NO_FINAL ? final : v;
    }
    const fn = FUNCS[name]!;
    const fixed = fn.params.length;
    if (fn.variadic ? n < fixed : n !== fixed) fail(`template: wrong number of args for ${name}: want ${fn.variadic ? 'at least ' : ''}${fixed} got ${n}`);
    const argv = args.map((a, i) => this.arg(dot, i < fixed ? fn.params[i]! : fn.variadic!, a));
    if (final !== NO_FINAL) argv.push(validate(final, n - 1 < fixed ? fn.params[n - 1]! : fn.variadic!));
    return fn.call(argv);
  }
}

/** validateType: no value becomes the parameter's nil; a string parameter takes only a string */
function validate(v: Val, typ: Param): Val {
  if (typ === 'string') return typeof v === 'string' ? v : fail(`template: wrong type for value; expected string; got ${typeName(v)}`);
  if (typ === 'any' && v === MISSING) return null;
  return v;
}

/** a constant where no type is asked for: float64 if written as one, else int (exec.go idealConstant) */
function idealConstant(n: NumberLit): Val {
  // unsigned only, as exec.go isHexInt has it: -0x1e3 is a float
  const isHexInt = /^0[xX]/.test(n.text) && !/[pP]/.test(n.text);
  if (n.float !== undefined && !isHexInt && !n.text.startsWith("'") && /[.eEpP]/.test(n.text)) return new GoFloat(n.float);
  if (n.int !== undefined) return goInt(n.int);
  return fail(`template: ${n.text} overflows int`);
}

/**
 * strings.render_template: Go's text/template over the vars. OPA answers
 * <undefined> where Go prints <no value> for a missing key (compliance
 * cases rendertemplate/missingkey, missingmultiplekeys): the output's text
 * is replaced, the likeliest reading of what OPA does.
 */
function renderTemplate(template: string, vars: GoMap): string {
  const nodes = new Parser(lex(template)).parse();
  const ex = new Exec(vars);
  ex.walk(vars, nodes);
  return ex.out.replaceAll('<no value>', '<undefined>');
}

/** The template operand: Rego text of a string. */
function templateText(text: unknown): string {
  const v = JSON.parse(str(text)) as unknown;
  return typeof v === 'string' ? v : fail('strings.render_template: operand 1 must be a string');
}

/* ============================================================ globs */

/** a glob token's characters: any (.), or a set of code point ranges */
type Chars = 'any' | Array<[number, number]>;
interface GlobToken {
  chars: Chars;
  flag: '' | '*' | '+';
}

/**
 * A glob (gintersect's syntax): a character, `.` any character, `[…]` a set
 * of characters and ranges (no negation), each optionally followed by `*`
 * (any number) or `+` (one or more); `\` makes the next character literal.
 * Errors carry gintersect's message and position (in code points).
 */
function globTokens(input: string): GlobToken[] {
  const rs = [...input];
  const bad = (pos: number, msg: string): never => fail(`input:${input}, pos:${pos}, ${msg}: the input provided is invalid`);
  const tokens: GlobToken[] = [];
  /** the rune at i: [rune, next index, escaped] */
  const rune = (i: number): [string, number, boolean] => {
    if (rs[i] !== '\\') return [rs[i]!, i + 1, false];
    if (i === rs.length - 1) bad(i, 'input ends with a \\ (escape) character');
    return [rs[i + 1]!, i + 2, true];
  };
  let i = 0;
  while (i < rs.length) {
    const [r, next, escaped] = rune(i);
    i = next;
    let chars: Chars;
    if (escaped || !'.[]*+'.includes(r)) chars = [[r.codePointAt(0)!, r.codePointAt(0)!]];
    else if (r === '.') chars = 'any';
    else if (r === ']') return bad(i, "set-close ']' with no preceding '['");
    else if (r === '*' || r === '+') return bad(i, `flag '${r}' must be preceded by a non-flag`);
    else {
      // a set: characters and a-z ranges up to an unescaped ]
      const ranges: Array<[number, number]> = [];
      let prev: number | undefined;
      let complete = false;
      while (i < rs.length) {
        const [c, n2, esc] = rune(i);
        i = n2;
        if (!esc && c === ']') {
          complete = true;
          break;
        }
        if (!esc && c === '-') {
          if (prev === undefined) bad(i, "range character '-' must be preceded by a Unicode character");
          if (i >= rs.length - 1) bad(i, "range character '-' must be followed by a Unicode character");
          const [hi, n3, esc2] = rune(i);
          i = n3;
          if (!esc2 && (hi === ']' || hi === '-')) bad(i, "range character '-' cannot be followed by a special symbol");
          const h = hi.codePointAt(0)!;
          if (h < prev!) bad(i, `range is out of order: '${hi}' comes before '${String.fromCodePoint(prev!)}' in Unicode`);
          ranges.push([prev!, h]);
          prev = undefined;
          continue;
        }
        prev = c.codePointAt(0)!;
        ranges.push([prev, prev]);
      }
      if (!complete) bad(i, 'found [ without matching ]');
      chars = ranges;
    }
    let flag: GlobToken['flag'] = '';
    if (i < rs.length && (rs[i] === '*' || rs[i] === '+')) flag = rs[i++] as '*' | '+';
    tokens.push({ chars, flag });
  }
  return tokens;
}

/** Whether some character is in both. */
function charsMeet(a: Chars, b: Chars): boolean {
  if (a === 'any') return b === 'any' || b.length > 0;
  if (b === 'any') return a.length > 0;
  return a.some(([lo, hi]) => b.some(([l2, h2]) => lo <= h2 && l2 <= hi));
}

/** A glob's NFA: per state its ε-successors and its character edges; the last state accepts. */
interface Nfa {
  eps: number[][];
  edges: Array<Array<{ chars: Chars; to: number }>>;
  accept: number;
}

function globNfa(tokens: GlobToken[]): Nfa {
  // state i precedes token i; a + token adds a state after its first character
  const n = tokens.length;
  const eps: number[][] = Array.from({ length: n + 1 }, () => []);
  const edges: Nfa['edges'] = Array.from({ length: n + 1 }, () => []);
  tokens.forEach((t, i) => {
    if (t.flag === '') edges[i]!.push({ chars: t.chars, to: i + 1 });
    else if (t.flag === '*') eps[i]!.push(i + 1), edges[i]!.push({ chars: t.chars, to: i });
    else {
      const more = eps.length;
      eps.push([i + 1]);
      edges.push([{ chars: t.chars, to: more }]);
      edges[i]!.push({ chars: t.chars, to: more });
    }
  });
  return { eps, edges, accept: n };
}

/**
 * regex.globs_match: whether one non-empty string matches both globs, by a
 * breadth-first search of the product of their NFAs: a state is a pair of
 * states and whether a character has been read. Two empty globs match, as
 * gintersect has it.
 */
function globsMatch(a: string, b: string): boolean {
  const ta = globTokens(a);
  const tb = globTokens(b);
  if (!ta.length && !tb.length) return true;
  const x = globNfa(ta);
  const y = globNfa(tb);
  const size = x.eps.length * y.eps.length * 2;
  // a flat table while it is small, a set past that
  const flat = size <= 1 << 26 ? new Uint8Array(size) : undefined;
  const seen = new Set<number>();
  const queue: Array<[number, number, 0 | 1]> = [];
  const visit = (p: number, q: number, read: 0 | 1): void => {
    const k = (p * y.eps.length + q) * 2 + read;
    if (flat ? flat[k] : seen.has(k)) return;
    if (flat) flat[k] = 1;
    else seen.add(k);
    queue.push([p, q, read]);
  };
  visit(0, 0, 0);
  for (let head = 0; head < queue.length; head++) {
    const [p, q, read] = queue[head]!;
    if (read && p === x.accept && q === y.accept) return true;
    for (const t of x.eps[p]!) visit(t, q, read);
    for (const t of y.eps[q]!) visit(p, t, read);
    for (const e of x.edges[p]!) for (const f of y.edges[q]!) if (charsMeet(e.chars, f.chars)) visit(e.to, f.to, 1);
  }
  return false;
}

export const IMPLS: Record<string, Impl> = {
  'strings.render_template': (t, vars) => renderTemplate(templateText(t), readVars(str(vars))),
  'regex.globs_match': (a, b) => globsMatch(str(a), str(b)),
};
