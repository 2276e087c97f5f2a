/**
 * Host builtins: graphql.parse_query, graphql.parse_schema, graphql.parse,
 * graphql.parse_and_verify, graphql.is_valid and graphql.schema_is_valid
 * (OPA v1/topdown/graphql.go), gathered by builtins-js.ts.
 *
 * OPA parses and validates with github.com/vektah/gqlparser/v2 and answers
 * its Go AST as JSON (encoding/json: every exported field, `json:"-"` ones
 * left out), pruned of "Position", nulls and empty arrays/objects. This file
 * is a parser and validator written to the same behaviour (gqlparser
 * v2.5.3x): the same AST fields, the same comment attachment, the same
 * parse errors ("Expected Name, found <EOF>" at line:column, a lexer error
 * showing as "Unexpected <Invalid>"), the schema checks of
 * validator/schema.go and the query rules of validator/rules in the order
 * they run (rules sorted by name, errors in walk order).
 *
 * Known differences: the rules OverlappingFieldsCanBeMerged and
 * MaxIntrospectionDepth are not run, and "Did you mean …?" suggestions are
 * not added to rule messages (only the error text changes, never validity,
 * except for the two rules missing).
 */
import type { BuiltinDecl } from '../compile/builtins.js';
import { byteCompare, fail, type Impl } from './common.js';

/** name → arity and how operands and result cross (compile/builtins.ts) */
export const DECLS: Record<string, BuiltinDecl> = {
  'graphql.parse': { arity: 2 },
  'graphql.parse_and_verify': { arity: 2 },
  'graphql.parse_query': { arity: 1 },
  'graphql.parse_schema': { arity: 1 },
  'graphql.is_valid': { arity: 2 },
  'graphql.schema_is_valid': { arity: 1 },
};

/* ------------------------------------------------------------ AST */

// Nodes are plain objects whose keys are gqlparser's Go field names, so the
// JSON OPA makes of them is the object itself (see encode). A node's
// position is under "Position" (dropped by encode, as OPA's pruning does).

interface Pos {
  Line: number;
  Column: number;
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Node = Record<string | symbol, any>;

/** Reports every item whose key an earlier item had (or SEEN, when kept across calls). */
function eachRepeat(items: Iterable<Node>, key: (x: Node) => string, report: (x: Node) => void, seen = new Set<string>()): void {
  for (const x of items) {
    const k = key(x);
    if (seen.has(k)) report(x);
    seen.add(k);
  }
}

/** Reports the second item of each key only, however many follow (gqlparser's argument and variable rules). */
function secondOf(items: Iterable<Node>, key: (x: Node) => string, report: (x: Node) => void): void {
  const n = new Map<string, number>();
  for (const x of items) {
    const k = key(x);
    if (n.get(k) === 1) report(x);
    n.set(k, (n.get(k) ?? 0) + 1);
  }
}


/** which Go type a selection is (Field, FragmentSpread, InlineFragment) */
const KIND = Symbol('kind');

/** A gqlparser error: message and location (gqlerror.Error, at most one location here). */
class GqlError {
  constructor(
    readonly message: string,
    readonly loc: Pos | null,
  ) {}
  /** gqlerror.Error.Error(): "input:L:C: message" */
  text(): string {
    return `input${this.loc ? `:${this.loc.Line}:${this.loc.Column}` : ''}: ${this.message}`;
  }
}

const errAt = (pos: Pos | null | undefined, message: string): GqlError =>
  // ErrorPosf of a nil position reports -1:-1 (nodes decoded from objects have none)
  new GqlError(message, pos ?? { Line: -1, Column: -1 });

/* ------------------------------------------------------------ lexer (gqlparser lexer/lexer.go) */

const enum T {
  Invalid,
  EOF,
  Bang,
  Dollar,
  Amp,
  ParenL,
  ParenR,
  Spread,
  Colon,
  Equals,
  At,
  BracketL,
  BracketR,
  BraceL,
  BraceR,
  Pipe,
  Name,
  Int,
  Float,
  String,
  BlockString,
  Comment,
}

/** lexer.Type.String() */
const KIND_TEXT = ['<Invalid>', '<EOF>', '!', '$', '&', '(', ')', '...', ':', '=', '@', '[', ']', '{', '}', '|', 'Name', 'Int', 'Float', 'String', 'BlockString', 'Comment'];

const PUNCT: Record<string, T> = { '!': T.Bang, $: T.Dollar, '&': T.Amp, '(': T.ParenL, ')': T.ParenR, ':': T.Colon, '=': T.Equals, '@': T.At, '[': T.BracketL, ']': T.BracketR, '{': T.BraceL, '}': T.BraceR, '|': T.Pipe };

interface Token {
  kind: T;
  value: string;
  pos: Pos;
}

/** Go's strconv.Quote, close enough for names and strings in messages */
const quote = (s: string): string => JSON.stringify(s);

/** lexer.Token.String() */
const tokenText = (t: Token): string => (t.value !== '' ? `${KIND_TEXT[t.kind]} ${quote(t.value)}` : KIND_TEXT[t.kind]!);

const isNameStart = (c: string | undefined): boolean => c !== undefined && /^[_A-Za-z]$/.test(c);
const isNameChar = (c: string | undefined): boolean => c !== undefined && /^[_0-9A-Za-z]$/.test(c);
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';

/** The GraphQL spec's BlockStringValue() (lexer/blockstring.go): common indent and blank edge lines removed. */
function blockStringValue(raw: string): string {
  const lines = raw.split('\n');
  const lead = (l: string): number => {
    const m = /^[ \t]*/.exec(l)![0].length;
    return m === l.length ? Infinity : m;
  };
  let common = Infinity;
  for (const l of lines) common = Math.min(common, lead(l));
  if (common !== Infinity) for (let i = 1; i < lines.length; i++) lines[i] = lines[i]!.length < common ? '' : lines[i]!.slice(common);
  let start = 0;
  let end = lines.length;
  while (start < end && lead(lines[start]!) === Infinity) start++;
  while (start < end && lead(lines[end - 1]!) === Infinity) end--;
  return lines.slice(start, end).join('\n');
}

/**
 * Tokens, with positions in code points as gqlparser counts runes. A lexing
 * error is an Invalid token at the point of the error: the parser reports
 * it as "Unexpected <Invalid>" (the lexer's own message never surfaces).
 */
class Lexer {
  private readonly s: string[];
  private start = 0;
  private end = 0;
  private line = 1;
  private lineStart = 0;

  constructor(input: string) {
    this.s = [...input];
  }

  private tok(kind: T, value: string): Token {
    return { kind, value, pos: { Line: this.line, Column: this.start - this.lineStart + 1 } };
  }

  private invalid(): Token {
    return { kind: T.Invalid, value: '', pos: { Line: this.line, Column: this.end - this.lineStart + 1 } };
  }

  private newline(): void {
    this.line++;
    this.lineStart = this.end;
  }

  next(): Token {
    const s = this.s;
    // whitespace, commas, line ends and byte order marks
    for (;;) {
      const c = s[this.end];
      if (c === '\t' || c === ' ' || c === ',' || c === '\ufeff') this.end++;
      else if (c === '\n') this.end++, this.newline();
      else if (c === '\r') {
        this.end++;
        this.newline();
        if (s[this.end] === '\n') this.end++;
      } else break;
    }
    this.start = this.end;
    if (this.end >= s.length) return this.tok(T.EOF, '');
    const c = s[this.end++]!;
    const p = PUNCT[c];
    if (p !== undefined) return this.tok(p, '');
    if (c === '.' && s[this.start + 1] === '.' && s[this.start + 2] === '.') {
      this.end += 2;
      return this.tok(T.Spread, '');
    }
    if (c === '#') {
      while (this.end < s.length && (s[this.end]! > '\x1f' || s[this.end] === '\t')) this.end++;
      return this.tok(T.Comment, s.slice(this.start, this.end).join(''));
    }
    if (isNameStart(c)) {
      while (isNameChar(s[this.end])) this.end++;
      return this.tok(T.Name, s.slice(this.start, this.end).join(''));
    }
    if (c === '-' || isDigit(c)) return this.number();
    if (c === '"') return s[this.start + 1] === '"' && s[this.start + 2] === '"' ? this.blockString() : this.string();
    this.end--;
    return this.invalid();
  }

  private digits(): number {
    let n = 0;
    while (isDigit(this.s[this.end])) this.end++, n++;
    return n;
  }

  /** -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
  private number(): Token {
    const s = this.s;
    this.end = this.start;
    let float = false;
    if (s[this.end] === '-') this.end++;
    if (s[this.end] === '0') {
      this.end++;
      const n = this.digits();
      if (n) return (this.end -= n), this.invalid();
    } else if (!this.digits()) return this.invalid();
    if (s[this.end] === '.') {
      this.end++;
      float = true;
      if (!this.digits()) return this.invalid();
    }
    if (s[this.end] === 'e' || s[this.end] === 'E') {
      this.end++;
      float = true;
      if (s[this.end] === '-' || s[this.end] === '+') this.end++;
      if (!this.digits()) return this.invalid();
    }
    return this.tok(float ? T.Float : T.Int, s.slice(this.start, this.end).join(''));
  }

  private string(): Token {
    const s = this.s;
    this.start++;
    let out = '';
    while (this.end < s.length) {
      const c = s[this.end]!;
      if (c === '\n' || c === '\r') break;
      if (c < ' ' && c !== '\t') return this.invalid();
      if (c === '"') {
        const t = this.tok(T.String, out);
        this.end++;
        return t;
      }
      if (c !== '\\') {
        out += c;
        this.end++;
        continue;
      }
      const e = s[this.end + 1];
      if (e === undefined) return this.end++, this.invalid();
      if (e === 'u') {
        const hex = s.slice(this.end + 2, this.end + 6).join('');
        if (this.end + 6 >= s.length || !/^[0-9a-fA-F]{4}$/.test(hex)) return this.end++, this.invalid();
        out += String.fromCharCode(parseInt(hex, 16));
        this.end += 6;
        continue;
      }
      const simple: Record<string, string> = { '"': '"', '/': '/', '\\': '\\', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' };
      if (simple[e] === undefined) return this.end++, this.invalid();
      out += simple[e];
      this.end += 2;
    }
    return this.invalid();
  }

  private blockString(): Token {
    const s = this.s;
    this.start += 3;
    this.end += 2;
    let buf = '';
    while (this.end < s.length) {
      const c = s[this.end]!;
      if (c === '"') {
        let q = 1;
        while (s[this.end + q] === '"') q++;
        if (q >= 3) {
          buf += '"'.repeat(q - 3);
          const t = this.tok(T.BlockString, blockStringValue(buf));
          this.end += q;
          return t;
        }
      }
      if (c < ' ' && c !== '\t' && c !== '\n' && c !== '\r') return this.invalid();
      if (c === '\\' && s.slice(this.end, this.end + 4).join('') === '\\"""') {
        buf += '"""';
        this.end += 4;
      } else if (c === '\r') {
        if (s[this.end + 1] === '\n') this.end++;
        buf += '\n';
        this.end++;
        this.newline();
      } else {
        buf += c;
        this.end++;
        if (c === '\n') this.newline();
      }
    }
    return this.invalid();
  }
}

/* ------------------------------------------------------------ parser (gqlparser parser/*.go) */

type CommentGroup = { List: Array<{ Value: string; Position: Pos }> } | null;

/** The first error ends parsing (gqlparser records only the first one). */
class ParseError extends Error {
  constructor(readonly err: GqlError) {
    super(err.message);
  }
}

class Parser {
  private readonly lexer: Lexer;
  private peeked: Token | null = null;
  prev: Token = { kind: T.EOF, value: '', pos: { Line: 1, Column: 1 } };
  /** the comments right before the peeked token (gqlparser's p.comment) */
  comment: CommentGroup = null;

  constructor(input: string) {
    this.lexer = new Lexer(input);
  }

  peek(): Token {
    if (this.peeked === null) {
      let t = this.lexer.next();
      if (t.kind === T.Comment) {
        const list = [];
        while (t.kind === T.Comment) {
          list.push({ Value: t.value, Position: t.pos });
          t = this.lexer.next();
        }
        this.comment = { List: list };
      }
      this.peeked = t;
    }
    return this.peeked;
  }

  next(): Token {
    const t = this.peek();
    this.peeked = null;
    this.comment = null;
    this.prev = t;
    return t;
  }

  error(tok: Token, msg: string): never {
    throw new ParseError(new GqlError(msg, tok.pos));
  }

  unexpected(tok: Token = this.peek()): never {
    return this.error(tok, `Unexpected ${tokenText(tok)}`);
  }

  expect(kind: T): [Token, CommentGroup] {
    const tok = this.peek();
    const comment = this.comment;
    if (tok.kind === kind) return [this.next(), comment];
    return this.error(tok, `Expected ${KIND_TEXT[kind]}, found ${KIND_TEXT[tok.kind]}`);
  }

  expectKeyword(word: string): CommentGroup {
    const tok = this.peek();
    const comment = this.comment;
    if (tok.kind === T.Name && tok.value === word) return this.next(), comment;
    return this.error(tok, `Expected ${quote(word)}, found ${tokenText(tok)}`);
  }

  skip(kind: T): boolean {
    if (this.peek().kind !== kind) return false;
    this.next();
    return true;
  }

  /** start item* end (possibly none) */
  many(start: T, end: T, item: () => void): void {
    if (!this.skip(start)) return;
    while (this.peek().kind !== end) item();
    this.next();
  }

  /** start item+ end; answers the comments before `end` */
  some(start: T, end: T, item: () => void): CommentGroup {
    if (!this.skip(start)) return null;
    if (this.peek().kind === end) this.error(this.peek(), `expected at least one definition, found ${KIND_TEXT[this.peek().kind]}`);
    while (this.peek().kind !== end) item();
    const comment = this.comment;
    this.next();
    return comment;
  }

  name(): string {
    return this.expect(T.Name)[0].value;
  }

  pos(): Pos {
    return this.peek().pos;
  }

  /* ---------- query documents (parser/query.go) */

  queryDocument(): Node {
    const doc: Node = { Operations: [], Fragments: [], Comment: null };
    while (this.peek().kind !== T.EOF) {
      doc.Position = this.pos();
      const t = this.peek();
      if (t.kind === T.Name && (t.value === 'query' || t.value === 'mutation' || t.value === 'subscription')) doc.Operations.push(this.operation());
      else if (t.kind === T.Name && t.value === 'fragment') doc.Fragments.push(this.fragmentDefinition());
      else if (t.kind === T.BraceL) doc.Operations.push(this.operation());
      else this.unexpected();
    }
    return doc;
  }

  operation(): Node {
    if (this.peek().kind === T.BraceL) {
      // Go reads p.comment after parsing the selection set here (the
      // composite literal's plain field read comes last), so it is nil
      const Position = this.pos();
      return { Operation: 'query', Name: '', VariableDefinitions: [], Directives: [], SelectionSet: this.requiredSelectionSet(), Position, Comment: null };
    }
    const od: Node = { Position: this.pos(), Comment: this.comment };
    od.Operation = this.operationType();
    od.Name = this.peek().kind === T.Name ? this.next().value : '';
    od.VariableDefinitions = this.variableDefinitions();
    od.Directives = this.directives(false);
    od.SelectionSet = this.requiredSelectionSet();
    return od;
  }

  operationType(): string {
    const tok = this.next();
    if (tok.value === 'query' || tok.value === 'mutation' || tok.value === 'subscription') return tok.value;
    return this.unexpected(tok);
  }

  variableDefinitions(): Node[] {
    const defs: Node[] = [];
    this.some(T.ParenL, T.ParenR, () => {
      const def: Node = { Position: this.pos(), Comment: this.comment, Used: false };
      def.Variable = this.variable();
      this.expect(T.Colon);
      def.Type = this.typeReference();
      def.DefaultValue = this.skip(T.Equals) ? this.valueLiteral(true) : null;
      def.Directives = this.directives(false);
      defs.push(def);
    });
    return defs;
  }

  variable(): string {
    this.expect(T.Dollar);
    return this.name();
  }

  requiredSelectionSet(): Node[] {
    if (this.peek().kind !== T.BraceL) this.error(this.peek(), `Expected {, found ${KIND_TEXT[this.peek().kind]}`);
    return this.selectionSet();
  }

  selectionSet(): Node[] {
    const sels: Node[] = [];
    this.some(T.BraceL, T.BraceR, () => sels.push(this.peek().kind === T.Spread ? this.fragment() : this.field()));
    return sels;
  }

  field(): Node {
    const f: Node = { [KIND]: 'Field', Position: this.pos(), Comment: this.comment };
    f.Alias = this.name();
    f.Name = this.skip(T.Colon) ? this.name() : f.Alias;
    f.Arguments = this.arguments(false);
    f.Directives = this.directives(false);
    f.SelectionSet = this.peek().kind === T.BraceL ? this.selectionSet() : [];
    return f;
  }

  arguments(isConst: boolean): Node[] {
    const args: Node[] = [];
    this.some(T.ParenL, T.ParenR, () => {
      const a: Node = { Position: this.pos(), Comment: this.comment };
      a.Name = this.name();
      this.expect(T.Colon);
      a.Value = this.valueLiteral(isConst);
      args.push(a);
    });
    return args;
  }

  fragment(): Node {
    const [, comment] = this.expect(T.Spread);
    const peek = this.peek();
    if (peek.kind === T.Name && peek.value !== 'on') {
      const Position = this.pos();
      return { [KIND]: 'FragmentSpread', Position, Comment: comment, Name: this.fragmentName(), Directives: this.directives(false) };
    }
    const f: Node = { [KIND]: 'InlineFragment', Position: this.pos(), Comment: comment, TypeCondition: '' };
    if (this.peek().value === 'on') {
      this.next();
      f.TypeCondition = this.name();
    }
    f.Directives = this.directives(false);
    f.SelectionSet = this.requiredSelectionSet();
    return f;
  }

  fragmentDefinition(): Node {
    const def: Node = { Position: this.pos(), Comment: this.comment };
    this.expectKeyword('fragment');
    def.Name = this.fragmentName();
    def.VariableDefinition = this.variableDefinitions();
    this.expectKeyword('on');
    def.TypeCondition = this.name();
    def.Directives = this.directives(false);
    def.SelectionSet = this.requiredSelectionSet();
    return def;
  }

  fragmentName(): string {
    if (this.peek().value === 'on') this.unexpected();
    return this.name();
  }

  valueLiteral(isConst: boolean): Node {
    const token = this.peek();
    const base = { Children: [], ExpectedTypeHasDefault: false, Position: token.pos, Comment: null };
    if (token.kind === T.BracketL || token.kind === T.BraceL) {
      const list = token.kind === T.BracketL;
      const comment = this.comment;
      const children: Node[] = [];
      this.many(list ? T.BracketL : T.BraceL, list ? T.BracketR : T.BraceR, () => {
        if (list) return void children.push({ Name: '', Value: this.valueLiteral(isConst), Comment: null });
        const child: Node = { Position: this.pos(), Comment: this.comment };
        child.Name = this.name();
        this.expect(T.Colon);
        child.Value = this.valueLiteral(isConst);
        children.push(child);
      });
      return { ...base, Raw: '', Kind: list ? 8 : 9, Children: children, Comment: comment };
    }
    if (token.kind === T.Dollar) {
      if (isConst) this.unexpected();
      return { ...base, Raw: this.variable(), Kind: 0 };
    }
    let kind: number;
    if (token.kind === T.Int) kind = 1;
    else if (token.kind === T.Float) kind = 2;
    else if (token.kind === T.String) kind = 3;
    else if (token.kind === T.BlockString) kind = 4;
    else if (token.kind === T.Name) kind = token.value === 'true' || token.value === 'false' ? 5 : token.value === 'null' ? 6 : 7;
    else return this.unexpected();
    this.next();
    return { ...base, Raw: token.value, Kind: kind };
  }

  directives(isConst: boolean): Node[] {
    const dirs: Node[] = [];
    while (this.peek().kind === T.At) {
      this.expect(T.At);
      const Position = this.pos();
      dirs.push({ Position, Name: this.name(), Arguments: this.arguments(isConst), Location: '' });
    }
    return dirs;
  }

  typeReference(): Node {
    const t: Node = { NamedType: '', NonNull: false };
    if (this.skip(T.BracketL)) {
      t.Position = this.pos();
      t.Elem = this.typeReference();
      this.expect(T.BracketR);
    } else {
      t.Position = this.pos();
      t.NamedType = this.name();
    }
    if (this.skip(T.Bang)) t.NonNull = true;
    return t;
  }

  /* ---------- schema documents (parser/schema.go) */

  schemaDocument(builtIn = false): Node {
    const doc: Node = { Schema: [], SchemaExtension: [], Directives: [], Definitions: [], Extensions: [], Position: this.pos() };
    while (this.peek().kind !== T.EOF) {
      let desc = { text: '', comment: null as CommentGroup };
      if (this.peek().kind === T.BlockString || this.peek().kind === T.String) desc = { comment: this.comment, text: this.next().value };
      if (this.peek().kind !== T.Name) this.unexpected();
      switch (this.peek().value) {
        case 'scalar':
        case 'type':
        case 'interface':
        case 'union':
        case 'enum':
        case 'input':
          doc.Definitions.push(this.typeDefinition(this.peek().value, desc, false));
          break;
        case 'schema': {
          const after = this.expectKeyword('schema');
          doc.Schema.push(this.schemaBody({ Description: desc.text, BeforeDescriptionComment: desc.comment, AfterDescriptionComment: after }));
          break;
        }
        case 'directive':
          doc.Directives.push(this.directiveDefinition(desc));
          break;
        case 'extend':
          if (desc.text !== '') this.unexpected(this.prev);
          this.extension(doc);
          break;
        default:
          this.unexpected();
      }
    }
    doc.Comment = this.comment;
    for (const d of [...doc.Definitions, ...doc.Extensions]) d.BuiltIn = builtIn;
    return doc;
  }

  schemaBody(def: Node): Node {
    def.Position = this.pos();
    def.Description ??= '';
    def.Directives = this.directives(true);
    def.OperationTypes = [];
    def.EndOfDefinitionComment = this.some(T.BraceL, T.BraceR, () => {
      const op: Node = { Position: this.pos(), Comment: this.comment };
      op.Operation = this.operationType();
      this.expect(T.Colon);
      op.Type = this.name();
      def.OperationTypes.push(op);
    });
    return def;
  }

  implementsInterfaces(): string[] {
    const types: string[] = [];
    if (this.peek().value === 'implements') {
      this.next();
      this.skip(T.Amp);
      types.push(this.name());
      while (this.skip(T.Amp)) types.push(this.name());
    }
    return types;
  }

  /** a type definition, or (ext) a type extension, after its description */
  typeDefinition(word: string, desc: { text: string; comment: CommentGroup }, ext: boolean): Node {
    const after = ext ? desc.comment : this.expectKeyword(word);
    if (ext) this.expectKeyword(word);
    const kind = { scalar: 'SCALAR', type: 'OBJECT', interface: 'INTERFACE', union: 'UNION', enum: 'ENUM', input: 'INPUT_OBJECT' }[word]!;
    const def: Node = withDefinitionLists({ Kind: kind, Description: desc.text, Position: this.pos(), BuiltIn: false, BeforeDescriptionComment: ext ? null : desc.comment, AfterDescriptionComment: after });
    def.Name = this.name();
    if (word === 'type' || (word === 'interface' && !ext)) def.Interfaces = this.implementsInterfaces();
    // input extensions take variable directives (isConst false), as gqlparser parses them
    def.Directives = this.directives(!(ext && word === 'input'));
    if (word === 'type' || word === 'interface') def.EndOfDefinitionComment = this.some(T.BraceL, T.BraceR, () => def.Fields.push(this.fieldDefinition(true)));
    if (word === 'input') def.EndOfDefinitionComment = this.some(T.BraceL, T.BraceR, () => def.Fields.push(this.fieldDefinition(false)));
    if (word === 'enum') def.EndOfDefinitionComment = this.some(T.BraceL, T.BraceR, () => def.EnumValues.push(this.enumValueDefinition()));
    if (word === 'union') {
      const types: string[] = [];
      const positions: Pos[] = [];
      if (this.skip(T.Equals)) {
        this.skip(T.Pipe);
        do {
          positions.push(this.pos());
          types.push(this.name());
        } while (this.skip(T.Pipe));
      }
      def.Types = types;
      Object.defineProperty(def, 'TypePositions', { value: positions, writable: true });
    }
    return def;
  }

  description(): { text: string; comment: CommentGroup } {
    const t = this.peek();
    if (t.kind !== T.BlockString && t.kind !== T.String) return { text: '', comment: null };
    const comment = this.comment;
    return { comment, text: this.next().value };
  }

  /** a field definition (args: of an object or interface) or an input value definition */
  fieldDefinition(args: boolean): Node {
    const def = this.describedName();
    def.Arguments = args ? this.argumentDefs() : [];
    this.expect(T.Colon);
    def.Type = this.typeReference();
    def.DefaultValue = !args && this.skip(T.Equals) ? this.valueLiteral(true) : null;
    def.Directives = this.directives(true);
    return def;
  }

  argumentDefs(): Node[] {
    const args: Node[] = [];
    this.some(T.ParenL, T.ParenR, () => args.push(this.fieldDefinitionLike()));
    return args;
  }

  fieldDefinitionLike(): Node {
    const def = this.fieldDefinition(false);
    delete def.Arguments;
    return def;
  }

  enumValueDefinition(): Node {
    const def = this.describedName();
    def.Directives = this.directives(true);
    return def;
  }

  /** what a field, input value or enum value definition starts with: its description and the comments around it, its position and name */
  describedName(): Node {
    const desc = this.description();
    const def: Node = { Description: desc.text, BeforeDescriptionComment: desc.text !== '' ? desc.comment : null };
    this.peek();
    def.AfterDescriptionComment = this.comment;
    def.Position = this.pos();
    def.Name = this.name();
    return def;
  }

  extension(doc: Node): void {
    const comment = this.expectKeyword('extend');
    const word = this.peek().value;
    if (word === 'schema') {
      this.expectKeyword('schema');
      const def = this.schemaBody({ AfterDescriptionComment: comment });
      if (!def.Directives.length && !def.OperationTypes.length) this.unexpected();
      doc.SchemaExtension.push(def);
      return;
    }
    if (!['scalar', 'type', 'interface', 'union', 'enum', 'input'].includes(word)) this.unexpected();
    const def = this.typeDefinition(word, { text: '', comment }, true);
    const some = (k: string): boolean => (def[k] ?? []).length > 0;
    if (!some('Directives') && !some('Interfaces') && !some('Fields') && !some('Types') && !some('EnumValues')) this.unexpected();
    doc.Extensions.push(def);
  }

  directiveDefinition(desc: { text: string; comment: CommentGroup }): Node {
    const after = this.expectKeyword('directive');
    this.expect(T.At);
    const def: Node = { Description: desc.text, Position: this.pos(), BeforeDescriptionComment: desc.comment, AfterDescriptionComment: after, IsRepeatable: false };
    def.Name = this.name();
    def.Arguments = this.argumentDefs();
    const peek = this.peek();
    if (peek.kind === T.Name && peek.value === 'repeatable') {
      def.IsRepeatable = true;
      this.next();
    }
    this.expectKeyword('on');
    this.skip(T.Pipe);
    def.Locations = [this.directiveLocation()];
    while (this.skip(T.Pipe)) def.Locations.push(this.directiveLocation());
    return def;
  }

  directiveLocation(): string {
    const [name] = this.expect(T.Name);
    if (!LOCATIONS.has(name.value)) this.unexpected(name);
    return name.value;
  }
}

const LOCATIONS = new Set(['QUERY', 'MUTATION', 'SUBSCRIPTION', 'FIELD', 'FRAGMENT_DEFINITION', 'FRAGMENT_SPREAD', 'INLINE_FRAGMENT', 'VARIABLE_DEFINITION', 'SCHEMA', 'SCALAR', 'OBJECT', 'FIELD_DEFINITION', 'ARGUMENT_DEFINITION', 'INTERFACE', 'UNION', 'ENUM', 'ENUM_VALUE', 'INPUT_OBJECT', 'INPUT_FIELD_DEFINITION']);

/** Fills the fields every Definition has (typeDefinition leaves out those its kind lacks). */
function withDefinitionLists(def: Node): Node {
  def.Fields ??= [];
  def.EnumValues ??= [];
  def.Interfaces ??= [];
  def.Types ??= [];
  def.Directives ??= [];
  return def;
}

/** OPA's error for a gqlparser error: "<message> in GraphQL string at location L:C" (formatGqlParserError). */
function formatError(text: string): string {
  const parts = text.split(':');
  if (parts.length >= 4) {
    const msg = parts.slice(3).join(':');
    if (/^\d+$/.test(parts[1]!) && /^\d+$/.test(parts[2]!)) {
      const m = msg.replace(/^ +/, '');
      return `${m.endsWith('.\n') ? m.slice(0, -2) : m} in GraphQL string at location ${Number(parts[1])}:${Number(parts[2])}`;
    }
  }
  return `GraphQL parse error: ${text}`;
}

function parseQuery(query: string): Node {
  const p = new Parser(query);
  try {
    return p.queryDocument();
  } catch (e) {
    if (e instanceof ParseError) throw new GraphQLFailure(formatError(e.err.text()));
    throw e;
  }
}

function parseSchema(schema: string, builtIn = false): Node {
  const p = new Parser(schema);
  try {
    const doc = p.schemaDocument(builtIn);
    for (const d of [...doc.Definitions, ...doc.Extensions]) withDefinitionLists(d);
    return doc;
  } catch (e) {
    if (e instanceof ParseError) throw new GraphQLFailure(formatError(e.err.text()));
    throw e;
  }
}

/** A failure with OPA's message (the builtin's error, or false / unverified). */
class GraphQLFailure extends Error {}

/* ------------------------------------------------------------ AST as OPA answers it */

/**
 * pruneIrrelevantGraphQLASTNodes over the JSON of a node: "Position" keys,
 * nulls, and arrays/objects empty after pruning are dropped (empty strings,
 * false and 0 stay). Keys come out sorted, as OPA's objects are.
 */
function encode(v: unknown): unknown {
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (const x of v) {
      if (x === null || x === undefined) continue;
      const e = encode(x);
      if (isEmpty(e)) continue;
      out.push(e);
    }
    return out;
  }
  if (v !== null && typeof v === 'object') {
    const o = v as Node;
    const out: Node = {};
    for (const k of Object.keys(o).sort(byteCompare)) {
      if (k === 'Position') continue;
      const x = o[k];
      if (x === null || x === undefined) continue;
      const e = encode(x);
      if (isEmpty(e)) continue;
      out[k] = e;
    }
    return out;
  }
  return v;
}

const isEmpty = (e: unknown): boolean => (Array.isArray(e) ? e.length === 0 : e !== null && typeof e === 'object' && Object.keys(e).length === 0);

/* ------------------------------------------------------------ AST objects back to gqlparser's structs */

// OPA turns an object operand into a document with encoding/json: keys match
// fields exactly, else case-insensitively; unknown keys are ignored; a value
// of the wrong type is an error. OperationDefinition, Field, InlineFragment
// and FragmentDefinition have their own UnmarshalJSON (ast/decode.go):
// exact keys only, and a selection is decoded as the first of Field,
// FragmentSpread, InlineFragment that takes it, so it is nearly always a
// Field.

type Spec = Record<string, FieldSpec>;
type FieldSpec = 's' | 'b' | 'i' | 'strings' | 'sels' | 'skip' | { ptr: () => Spec } | { list: () => Spec };

const ptr = (s: () => Spec): FieldSpec => ({ ptr: s });
const list = (s: () => Spec): FieldSpec => ({ list: s });
const COMMENT: Spec = { Value: 's', Position: 'skip' };
const GROUP: Spec = { List: list(() => COMMENT) };
const DESC_COMMENTS: Spec = { BeforeDescriptionComment: ptr(() => GROUP), AfterDescriptionComment: ptr(() => GROUP) };
const TYPE: Spec = { NamedType: 's', Elem: ptr(() => TYPE), NonNull: 'b', Position: 'skip' };
const VALUE: Spec = { Raw: 's', Children: list(() => CHILD), Kind: 'i', Position: 'skip', Comment: ptr(() => GROUP), Definition: ptr(() => DEFINITION), VariableDefinition: ptr(() => VARDEF), ExpectedType: ptr(() => TYPE), ExpectedTypeHasDefault: 'b' };
const CHILD: Spec = { Name: 's', Value: ptr(() => VALUE), Position: 'skip', Comment: ptr(() => GROUP) };
const ARGUMENT: Spec = { Name: 's', Value: ptr(() => VALUE), Position: 'skip', Comment: ptr(() => GROUP) };
const DIRECTIVE: Spec = { Name: 's', Arguments: list(() => ARGUMENT), Position: 'skip', ParentDefinition: ptr(() => DEFINITION), Definition: ptr(() => DIRDEF), Location: 's' };
const VARDEF: Spec = { Variable: 's', Type: ptr(() => TYPE), DefaultValue: ptr(() => VALUE), Directives: list(() => DIRECTIVE), Position: 'skip', Comment: ptr(() => GROUP), Definition: ptr(() => DEFINITION), Used: 'b' };
const OPERATION: Spec = { Operation: 's', Name: 's', VariableDefinitions: list(() => VARDEF), Directives: list(() => DIRECTIVE), SelectionSet: 'sels', Position: 'skip' };
const FIELD: Spec = { Alias: 's', Name: 's', Arguments: list(() => ARGUMENT), Directives: list(() => DIRECTIVE), SelectionSet: 'sels', Position: 'skip', Definition: ptr(() => FIELDDEF), ObjectDefinition: ptr(() => DEFINITION) };
const SPREAD: Spec = { Name: 's', Directives: list(() => DIRECTIVE), ObjectDefinition: ptr(() => DEFINITION), Definition: ptr(() => FRAGMENT), Position: 'skip', Comment: ptr(() => GROUP) };
const INLINE: Spec = { TypeCondition: 's', Directives: list(() => DIRECTIVE), SelectionSet: 'sels', ObjectDefinition: ptr(() => DEFINITION), Position: 'skip' };
const FRAGMENT: Spec = { Name: 's', VariableDefinition: list(() => VARDEF), TypeCondition: 's', Directives: list(() => DIRECTIVE), SelectionSet: 'sels', Definition: ptr(() => DEFINITION), Position: 'skip' };
const QUERYDOC: Spec = { Operations: list(() => OPERATION), Fragments: list(() => FRAGMENT), Position: 'skip', Comment: ptr(() => GROUP) };
const OPTYPE: Spec = { Operation: 's', Type: 's', Position: 'skip', Comment: ptr(() => GROUP) };
const SCHEMADEF: Spec = { Description: 's', Directives: list(() => DIRECTIVE), OperationTypes: list(() => OPTYPE), Position: 'skip', ...DESC_COMMENTS, EndOfDefinitionComment: ptr(() => GROUP) };
const DEFINITION: Spec = { Kind: 's', Description: 's', Name: 's', Directives: list(() => DIRECTIVE), Interfaces: 'strings', Fields: list(() => FIELDDEF), Types: 'strings', EnumValues: list(() => ENUMVAL), Position: 'skip', BuiltIn: 'b', ...DESC_COMMENTS, EndOfDefinitionComment: ptr(() => GROUP) };
const ARGDEF: Spec = { Description: 's', Name: 's', DefaultValue: ptr(() => VALUE), Type: ptr(() => TYPE), Directives: list(() => DIRECTIVE), Position: 'skip', ...DESC_COMMENTS };
const FIELDDEF: Spec = { Description: 's', Name: 's', Arguments: list(() => ARGDEF), DefaultValue: ptr(() => VALUE), Type: ptr(() => TYPE), Directives: list(() => DIRECTIVE), Position: 'skip', ...DESC_COMMENTS };
const ENUMVAL: Spec = { Description: 's', Name: 's', Directives: list(() => DIRECTIVE), Position: 'skip', ...DESC_COMMENTS };
const DIRDEF: Spec = { Description: 's', Name: 's', Arguments: list(() => ARGDEF), Locations: 'strings', IsRepeatable: 'b', Position: 'skip', ...DESC_COMMENTS };
const SCHEMADOC: Spec = { Schema: list(() => SCHEMADEF), SchemaExtension: list(() => SCHEMADEF), Directives: list(() => DIRDEF), Definitions: list(() => DEFINITION), Extensions: list(() => DEFINITION), Position: 'skip', Comment: ptr(() => GROUP) };

/** the structs with their own UnmarshalJSON: exact keys only */
const CUSTOM = new Set([OPERATION, FIELD, INLINE, FRAGMENT]);

const typeErr = (): never => {
  throw new GraphQLFailure('json: cannot unmarshal into the GraphQL AST');
};

function decodeStruct(v: unknown, spec: Spec): Node {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return typeErr();
  const out: Node = {};
  const names = Object.keys(spec);
  // zero values
  for (const n of names) {
    const f = spec[n]!;
    if (f === 's') out[n] = '';
    else if (f === 'b') out[n] = false;
    else if (f === 'i') out[n] = 0;
    else if (f !== 'skip') out[n] = f === 'strings' || f === 'sels' || 'list' in f ? [] : null;
  }
  const src = v as Node;
  for (const k of Object.keys(src).sort(byteCompare)) {
    const n = CUSTOM.has(spec) ? (Object.hasOwn(spec, k) ? k : undefined) : Object.hasOwn(spec, k) ? k : names.find((x) => x.toLowerCase() === k.toLowerCase());
    if (n === undefined || spec[n] === 'skip') continue;
    const x = src[k];
    const f = spec[n]!;
    if (x === null) {
      if (f !== 's' && f !== 'b' && f !== 'i') out[n] = f === 'strings' || f === 'sels' || (typeof f === 'object' && 'list' in f) ? [] : null;
      continue;
    }
    if (f === 's') out[n] = typeof x === 'string' ? x : typeErr();
    else if (f === 'b') out[n] = typeof x === 'boolean' ? x : typeErr();
    else if (f === 'i') out[n] = Number.isInteger(x) ? x : typeErr();
    else if (f === 'strings') out[n] = Array.isArray(x) && x.every((s) => typeof s === 'string') ? [...x] : typeErr();
    else if (f === 'sels') out[n] = decodeSelections(x);
    else if ('ptr' in f) out[n] = decodeStruct(x, f.ptr());
    else out[n] = Array.isArray(x) ? x.map((e) => (e === null ? typeErr() : decodeStruct(e, f.list()))) : typeErr();
  }
  if (spec === DEFINITION) withDefinitionLists(out);
  return out;
}

/** ast.UnmarshalSelectionSet: each item as the first struct that takes it; items none takes are dropped */
function decodeSelections(x: unknown): Node[] {
  if (!Array.isArray(x)) return typeErr();
  const out: Node[] = [];
  for (const item of x) {
    for (const [spec, kind] of [
      [FIELD, 'Field'],
      [SPREAD, 'FragmentSpread'],
      [INLINE, 'InlineFragment'],
    ] as const) {
      try {
        const n = item === null ? {} : decodeStruct(item, spec);
        n[KIND] = kind;
        out.push(n);
        break;
      } catch (e) {
        if (!(e instanceof GraphQLFailure)) throw e;
      }
    }
  }
  return out;
}

/** A query operand: its text parsed, or an AST object decoded (objectToQueryDocument). */
function queryDocument(v: unknown, pos: number, name: string): Node {
  if (typeof v === 'string') return parseQuery(v);
  if (isObject(v)) return decodeStruct(v, QUERYDOC);
  throw new GraphQLFailure(operandTypeErr(pos, v, name));
}

function schemaDocument(v: unknown, pos: number, name: string): Node {
  if (typeof v === 'string') return parseSchema(v);
  if (isObject(v)) return decodeStruct(v, SCHEMADOC);
  throw new GraphQLFailure(operandTypeErr(pos, v, name));
}

const isObject = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

const typeName = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v === 'object' ? 'object' : typeof v === 'number' ? 'number' : typeof v);

/** builtins.NewOperandTypeErr (OPA passes 0 and 1 here, not 1 and 2) */
const operandTypeErr = (pos: number, v: unknown, _name: string): string => `operand ${pos} must be one of {string, object} but got ${typeName(v)}`;

/* ------------------------------------------------------------ schema (validator/schema.go) */

/**
 * The prelude gqlparser merges before a schema (validator/prelude.graphql):
 * the built-in scalars, directives and introspection types, without their
 * descriptions (they play no part in validation).
 */
const PRELUDE = `
scalar Int
scalar Float
scalar String
scalar Boolean
scalar ID
directive @defer(if: Boolean = true, label: String) on FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @include(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @skip(if: Boolean!) on FIELD | FRAGMENT_SPREAD | INLINE_FRAGMENT
directive @deprecated(reason: String = "No longer supported") on FIELD_DEFINITION | ARGUMENT_DEFINITION | INPUT_FIELD_DEFINITION | ENUM_VALUE
directive @specifiedBy(url: String!) on SCALAR
directive @oneOf on INPUT_OBJECT
type __Schema { description: String types: [__Type!]! queryType: __Type! mutationType: __Type subscriptionType: __Type directives: [__Directive!]! }
type __Type { kind: __TypeKind! name: String description: String specifiedByURL: String fields(includeDeprecated: Boolean = false): [__Field!] interfaces: [__Type!] possibleTypes: [__Type!] enumValues(includeDeprecated: Boolean = false): [__EnumValue!] inputFields(includeDeprecated: Boolean = false): [__InputValue!] ofType: __Type isOneOf: Boolean }
enum __TypeKind { SCALAR OBJECT INTERFACE UNION ENUM INPUT_OBJECT LIST NON_NULL }
type __Field { name: String! description: String args(includeDeprecated: Boolean = false): [__InputValue!]! type: __Type! isDeprecated: Boolean! deprecationReason: String }
type __InputValue { name: String! description: String type: __Type! defaultValue: String isDeprecated: Boolean! deprecationReason: String }
type __EnumValue { name: String! description: String isDeprecated: Boolean! deprecationReason: String }
type __Directive { name: String! description: String isRepeatable: Boolean! locations: [__DirectiveLocation!]! args(includeDeprecated: Boolean = false): [__InputValue!]! }
enum __DirectiveLocation { QUERY MUTATION SUBSCRIPTION FIELD FRAGMENT_DEFINITION FRAGMENT_SPREAD INLINE_FRAGMENT VARIABLE_DEFINITION SCHEMA SCALAR OBJECT FIELD_DEFINITION ARGUMENT_DEFINITION INTERFACE UNION ENUM ENUM_VALUE INPUT_OBJECT INPUT_FIELD_DEFINITION }
`;

interface Schema {
  Query: Node | null;
  Mutation: Node | null;
  Subscription: Node | null;
  Types: Map<string, Node>;
  Directives: Map<string, Node>;
  PossibleTypes: Map<string, Node[]>;
}

/** ast.Type.Name() (a type with neither name nor element is Go's nil dereference) */
function typeNameOf(t: Node | null | undefined): string {
  if (!t) return typeErr();
  return t.NamedType !== '' ? t.NamedType : typeNameOf(t.Elem);
}

/** ast.Type.String() */
function typeString(t: Node | null | undefined): string {
  if (!t) return typeErr();
  const nn = t.NonNull ? '!' : '';
  return t.NamedType !== '' ? t.NamedType + nn : `[${typeString(t.Elem)}]${nn}`;
}

const forName = (xs: Node[] | null | undefined, name: string): Node | undefined => (xs ?? []).find((x) => x.Name === name);

const isInputType = (d: Node): boolean => d.Kind === 'SCALAR' || d.Kind === 'ENUM' || d.Kind === 'INPUT_OBJECT';
const isLeafType = (d: Node): boolean => d.Kind === 'ENUM' || d.Kind === 'SCALAR';
const isCompositeType = (d: Node): boolean => d.Kind === 'OBJECT' || d.Kind === 'INTERFACE' || d.Kind === 'UNION';

/**
 * A copy deep enough that validation's merging and annotating leaves the
 * operand's document alone (a selection's kind and a union's member
 * positions come along).
 */
function clone<V>(v: V): V {
  if (Array.isArray(v)) return v.map(clone) as V;
  if (v === null || typeof v !== 'object') return v;
  const o = v as Node;
  const out: Node = {};
  for (const k of Object.keys(o)) out[k] = clone(o[k]);
  if (o[KIND] !== undefined) out[KIND] = o[KIND];
  if (o.TypePositions !== undefined && !Object.hasOwn(out, 'TypePositions')) Object.defineProperty(out, 'TypePositions', { value: o.TypePositions, writable: true });
  return out as V;
}

/** validator.ValidateSchemaDocument over the prelude merged with the schema (OPA's convertSchema). */
function convertSchema(userDoc: Node): Schema {
  const prelude = parseSchema(PRELUDE, true);
  const user = clone(userDoc);
  const positions = (d: Node): void => void Object.defineProperty(d, 'TypePositions', { value: [], writable: true });
  for (const d of user.Extensions ?? []) if (!d.TypePositions) positions(d);
  const sd: Node = {};
  for (const k of ['Schema', 'SchemaExtension', 'Directives', 'Definitions', 'Extensions']) sd[k] = [...(prelude[k] ?? []), ...(user[k] ?? [])];
  try {
    return validateSchemaDocument(sd);
  } catch (e) {
    if (e instanceof GqlError) throw new GraphQLFailure(`Error in gqlparser SchemaDocument to Schema conversion: ${e.text()}`);
    throw e;
  }
}

function validateSchemaDocument(sd: Node): Schema {
  const schema: Schema = { Query: null, Mutation: null, Subscription: null, Types: new Map(), Directives: new Map(), PossibleTypes: new Map() };
  for (const def of sd.Definitions) {
    if (schema.Types.has(def.Name)) throw errAt(def.Position, `Cannot redeclare type ${def.Name}.`);
    schema.Types.set(def.Name, def);
  }
  const defs: Node[] = [...sd.Definitions];
  for (const ext of sd.Extensions) {
    let def = schema.Types.get(ext.Name);
    if (!def) {
      def = withDefinitionLists({ Kind: ext.Kind, Name: ext.Name, Description: '', Position: ext.Position, BuiltIn: false });
      schema.Types.set(ext.Name, def);
      defs.push(def);
    }
    if (def.Kind !== ext.Kind) throw errAt(ext.Position, `Cannot extend type ${ext.Name} because the base type is a ${def.Kind}, not ${ext.Kind}.`);
    def.Directives = [...def.Directives, ...ext.Directives];
    def.Interfaces = [...def.Interfaces, ...ext.Interfaces];
    def.Fields = [...def.Fields, ...ext.Fields];
    def.Types = [...def.Types, ...ext.Types];
    def.TypePositions = [...(def.TypePositions ?? []), ...(ext.TypePositions ?? [])];
    def.EnumValues = [...def.EnumValues, ...ext.EnumValues];
  }
  const addPossible = (name: string, def: Node | undefined): void => {
    schema.PossibleTypes.set(name, [...(schema.PossibleTypes.get(name) ?? []), def as Node]);
  };
  for (const def of defs) {
    if (def.Kind === 'UNION') for (const t of def.Types) addPossible(def.Name, schema.Types.get(t));
    else if (def.Kind === 'INPUT_OBJECT' || def.Kind === 'OBJECT') {
      for (const i of def.Interfaces) addPossible(i, def);
      addPossible(def.Name, def);
    } else if (def.Kind === 'INTERFACE') for (const i of def.Interfaces) addPossible(i, def);
  }
  for (const dir of sd.Directives) {
    if (schema.Directives.has(dir.Name)) {
      // SDL may define the built-in directives again (the first one is kept)
      if (['include', 'skip', 'deprecated', 'specifiedBy', 'defer', 'oneOf'].includes(dir.Name)) continue;
      throw errAt(dir.Position, `Cannot redeclare directive ${dir.Name}.`);
    }
    schema.Directives.set(dir.Name, dir);
  }
  if (sd.Schema.length > 1) throw errAt(sd.Schema[1].Position, 'Cannot have multiple schema entry points, consider schema extensions instead.');
  const roots = (def: Node): void => {
    for (const ep of def.OperationTypes) {
      const t = schema.Types.get(ep.Type);
      if (!t) throw errAt(ep.Position, `Schema root ${ep.Operation} refers to a type ${ep.Type} that does not exist.`);
      if (ep.Operation === 'query') schema.Query = t;
      else if (ep.Operation === 'mutation') schema.Mutation = t;
      else if (ep.Operation === 'subscription') schema.Subscription = t;
    }
    validateDirectives(schema, def.Directives, 'SCHEMA', null, true);
  };
  for (const def of [...sd.Schema, ...sd.SchemaExtension]) roots(def);
  const sorted = <V>(m: Map<string, V>): V[] => [...m.keys()].sort(byteCompare).map((k) => m.get(k)!);
  for (const def of sorted(schema.Types)) validateDefinition(schema, def);
  validateInputCycles(schema, sorted(schema.Types));
  for (const dir of sorted(schema.Directives)) {
    validateName(dir.Position, dir.Name);
    validateArgs(schema, dir.Arguments, dir);
  }
  if (sd.Schema.length === 0) {
    schema.Query ??= schema.Types.get('Query') ?? null;
    schema.Mutation ??= schema.Types.get('Mutation') ?? null;
    schema.Subscription ??= schema.Types.get('Subscription') ?? null;
  }
  if (schema.Query) {
    const named = (n: string, nn: boolean): Node => ({ NamedType: n, NonNull: nn });
    schema.Query.Fields = [
      ...schema.Query.Fields,
      { Name: '__schema', Type: named('__Schema', true), Arguments: [], Directives: [] },
      { Name: '__type', Type: named('__Type', false), Arguments: [{ Name: 'name', Type: named('String', true), Directives: [] }], Directives: [] },
    ];
  }
  return schema;
}

function validateInputCycles(schema: Schema, types: Node[]): void {
  const visited = new Set<string>();
  const path: Node[] = [];
  const index = new Map<string, number>();
  const detect = (def: Node): void => {
    if (visited.has(def.Name)) return;
    visited.add(def.Name);
    index.set(def.Name, path.length);
    for (const field of def.Fields) {
      if (!field.Type.NonNull || field.Type.NamedType === '') continue;
      const ft = schema.Types.get(field.Type.NamedType);
      if (!ft || ft.Kind !== 'INPUT_OBJECT') continue;
      path.push(field);
      const at = index.get(ft.Name);
      if (at !== undefined) {
        const cycle = path.slice(at);
        throw errAt(cycle[0]!.Position, `Cannot reference Input Object ${quote(ft.Name)} within itself through a series of non-null fields: ${quote(cycle.map((f) => f.Name).join('.'))}.`);
      }
      detect(ft);
      path.pop();
    }
    index.delete(def.Name);
  };
  for (const def of types) if (def.Kind === 'INPUT_OBJECT') detect(def);
}

function validateName(pos: Pos | null, name: string): void {
  if (name.startsWith('__')) throw errAt(pos, `Name "${name}" must not begin with "__", which is reserved by GraphQL introspection.`);
}

function validateTypeRef(schema: Schema, t: Node): void {
  if (!schema.Types.has(typeNameOf(t))) throw errAt(t.Position, `Undefined type ${typeNameOf(t)}.`);
}

function validateArgs(schema: Schema, args: Node[], current: Node | null): void {
  for (const arg of args ?? []) {
    validateName(arg.Position, arg.Name);
    validateTypeRef(schema, arg.Type);
    const def = schema.Types.get(typeNameOf(arg.Type))!;
    if (!isInputType(def)) throw errAt(arg.Position, `cannot use ${typeString(arg.Type)} as argument ${arg.Name} because ${def.Kind} is not a valid input type`);
    validateDirectives(schema, arg.Directives, 'ARGUMENT_DEFINITION', current, true);
  }
}

function validateDirectives(schema: Schema, dirs: Node[], location: string, current: Node | null, single: boolean): void {
  const seen = new Set<string>();
  for (const dir of dirs ?? []) {
    validateName(dir.Position, dir.Name);
    if (current && dir.Name === current.Name) throw errAt(dir.Position, `Directive ${current.Name} cannot refer to itself.`);
    const def = schema.Directives.get(dir.Name);
    if (!def) throw errAt(dir.Position, `Undefined directive ${dir.Name}.`);
    if (single) {
      if (seen.has(dir.Name) && !def.IsRepeatable) throw errAt(dir.Position, `The directive ${dir.Name} can only be used once at this location.`);
      seen.add(dir.Name);
    }
    if (!def.Locations.includes(location)) throw errAt(dir.Position, `Directive ${dir.Name} is not applicable on ${location}.`);
    for (const arg of dir.Arguments) if (!forName(def.Arguments, arg.Name)) throw errAt(arg.Position, `Undefined argument ${arg.Name} for directive ${dir.Name}.`);
    for (const sa of def.Arguments ?? []) {
      if (sa.Type.NonNull && !sa.DefaultValue) {
        const arg = forName(dir.Arguments, sa.Name);
        if (!arg || arg.Value?.Kind === 6) throw errAt(dir.Position, `Argument ${sa.Name} for directive ${dir.Name} cannot be null.`);
      }
    }
  }
}

function validateDefinition(schema: Schema, def: Node): void {
  for (const field of def.Fields) {
    validateName(field.Position, field.Name);
    validateTypeRef(schema, field.Type);
    validateArgs(schema, field.Arguments, null);
    validateDirectives(schema, field.Directives, def.Kind === 'INPUT_OBJECT' ? 'INPUT_FIELD_DEFINITION' : 'FIELD_DEFINITION', null, true);
  }
  for (const t of def.Types) {
    const td = schema.Types.get(t);
    if (!td) throw errAt(def.Position, `Undefined type ${quote(t)}.`);
    if (td.Kind !== 'OBJECT') throw errAt(def.Position, `${def.Kind} type ${quote(t)} must be OBJECT.`);
  }
  for (const i of def.Interfaces) validateImplements(schema, def, i);
  if (def.Kind === 'OBJECT' || def.Kind === 'INTERFACE') {
    if (!def.Fields.length) throw errAt(def.Position, `${def.Kind} ${def.Name}: must define one or more fields.`);
    for (const field of def.Fields) {
      const t = schema.Types.get(typeNameOf(field.Type));
      if (t && !['SCALAR', 'OBJECT', 'INTERFACE', 'UNION', 'ENUM'].includes(t.Kind)) throw errAt(field.Position, `${def.Kind} ${def.Name}: field must be one of SCALAR, OBJECT, INTERFACE, UNION, ENUM.`);
    }
  } else if (def.Kind === 'ENUM') {
    if (!def.EnumValues.length) throw errAt(def.Position, `${def.Kind} ${def.Name}: must define one or more unique enum values.`);
    for (const v of def.EnumValues) {
      if (['true', 'false', 'null'].includes(v.Name)) throw errAt(def.Position, `${def.Kind} ${def.Name}: non-enum value ${v.Name}.`);
      validateDirectives(schema, v.Directives, 'ENUM_VALUE', null, true);
    }
  } else if (def.Kind === 'INPUT_OBJECT') {
    if (!def.Fields.length) throw errAt(def.Position, `${def.Kind} ${def.Name}: must define one or more input fields.`);
    for (const field of def.Fields) {
      const t = schema.Types.get(typeNameOf(field.Type));
      if (t && !['SCALAR', 'ENUM', 'INPUT_OBJECT'].includes(t.Kind)) throw errAt(field.Position, `${t.Kind} ${field.Name}: field must be one of SCALAR, ENUM, INPUT_OBJECT.`);
    }
  }
  def.Fields.forEach((f1: Node, i: number) => {
    for (const f2 of def.Fields.slice(i + 1)) if (f1.Name === f2.Name) throw errAt(f2.Position, `Field ${def.Name}.${f2.Name} can only be defined once.`);
  });
  def.EnumValues.forEach((v1: Node, i: number) => {
    for (const v2 of def.EnumValues.slice(i + 1)) if (v1.Name === v2.Name) throw errAt(v2.Position, `Enum value ${def.Name}.${v2.Name} can only be defined once.`);
  });
  const tp: Pos[] = def.TypePositions ?? [];
  def.Types.forEach((t1: string, i: number) => {
    for (let j = i + 1; j < def.Types.length; j++) {
      if (t1 === def.Types[j]) throw errAt(tp.length === def.Types.length && tp[j] ? tp[j]! : def.Position, `Union type ${def.Name} can only include type ${def.Types[j]} once.`);
    }
  });
  if (!def.BuiltIn) validateName(def.Position, def.Name);
  validateDirectives(schema, def.Directives, def.Kind, null, false);
}

function validateImplements(schema: Schema, def: Node, name: string): void {
  const intf = schema.Types.get(name);
  if (!intf) throw errAt(def.Position, `Undefined type ${quote(name)}.`);
  if (intf.Kind !== 'INTERFACE') throw errAt(def.Position, `${quote(name)} is a non interface type ${intf.Kind}.`);
  for (const req of intf.Fields) {
    const found = forName(def.Fields, req.Name);
    if (!found) throw errAt(def.Position, `For ${def.Name} to implement ${intf.Name} it must have a field called ${req.Name}.`);
    if (!isCovariant(schema, req.Type, found.Type)) throw errAt(found.Position, `For ${def.Name} to implement ${intf.Name} the field ${req.Name} must have type ${typeString(req.Type)}.`);
    for (const ra of req.Arguments ?? []) {
      const fa = forName(found.Arguments, ra.Name);
      if (!fa) throw errAt(found.Position, `For ${def.Name} to implement ${intf.Name} the field ${req.Name} must have the same arguments but it is missing ${ra.Name}.`);
      if (!isCompatible(ra.Type, fa.Type)) throw errAt(fa.Position, `For ${def.Name} to implement ${intf.Name} the field ${req.Name} must have the same arguments but ${ra.Name} has the wrong type.`);
    }
    for (const fa of found.Arguments ?? []) {
      if (!forName(req.Arguments, fa.Name) && fa.Type.NonNull && !fa.DefaultValue) {
        throw errAt(fa.Position, `For ${def.Name} to implement ${intf.Name} any additional arguments on ${found.Name} must be optional or have a default value but ${fa.Name} is required.`);
      }
    }
  }
  for (const transitive of intf.Interfaces) {
    if (!def.Interfaces.includes(transitive)) {
      if (transitive === def.Name) throw errAt(def.Position, `Type ${def.Name} cannot implement ${name} because it would create a circular reference.`);
      throw errAt(def.Position, `Type ${def.Name} must implement ${transitive} because it is implemented by ${name}.`);
    }
  }
}

function isCovariant(schema: Schema, req: Node, act: Node): boolean {
  if (req.NonNull && !act.NonNull) return false;
  if (req.NamedType !== '') return req.NamedType === act.NamedType || (schema.PossibleTypes.get(req.NamedType) ?? []).some((pt) => pt?.Name === act.NamedType);
  if (req.Elem && !act.Elem) return false;
  return isCovariant(schema, req.Elem, act.Elem);
}

/** ast.Type.IsCompatible */
function isCompatible(t: Node, other: Node): boolean {
  if (t.NamedType !== other.NamedType) return false;
  if (t.Elem && !other.Elem) return false;
  if (t.Elem && !isCompatible(t.Elem, other.Elem)) return false;
  return other.NonNull ? t.NonNull : true;
}

/* ------------------------------------------------------------ query validation (validator/core/walk.go, validator/rules) */

/** ast.Value.String() */
function valueString(v: Node): string {
  switch (v.Kind) {
    case 0:
      return `$${v.Raw}`;
    case 3:
    case 4:
      return quote(v.Raw);
    case 8:
      return `[${v.Children.map((c: Node) => valueString(c.Value)).join(',')}]`;
    case 9:
      return `{${v.Children.map((c: Node) => `${c.Name}:${valueString(c.Value)}`).join(',')}}`;
    default:
      return v.Raw;
  }
}

type Err = GqlError;

interface Walker {
  schema: Schema;
  doc: Node;
  op: Node | null;
}

/** The validator's events (core.Events), each a list of observers in rule order. */
interface Events {
  operation: Array<(w: Walker, op: Node) => void>;
  field: Array<(w: Walker, f: Node) => void>;
  fragment: Array<(w: Walker, f: Node) => void>;
  inlineFragment: Array<(w: Walker, f: Node) => void>;
  fragmentSpread: Array<(w: Walker, f: Node) => void>;
  directive: Array<(w: Walker, d: Node) => void>;
  directiveList: Array<(w: Walker, ds: Node[]) => void>;
  value: Array<(w: Walker, v: Node) => void>;
  variable: Array<(w: Walker, v: Node) => void>;
}

/**
 * The rules gqlparser runs (validator/rules, NewDefaultRules), in name order
 * as Validate registers them; each adds its observers. Not run here:
 * MaxIntrospectionDepth and OverlappingFieldsCanBeMerged.
 */
function registerRules(ev: Events, add: (msg: string, pos: Pos | null | undefined) => void): void {
  // FieldsOnCorrectType
  ev.field.push((_w, f) => {
    if (f.ObjectDefinition && !f.Definition) add(`Cannot query field "${f.Name}" on type "${f.ObjectDefinition.Name}".`, f.Position);
  });
  // FragmentsOnCompositeTypes
  ev.inlineFragment.push((w, f) => {
    const t = w.schema.Types.get(f.TypeCondition);
    if (t && !isCompositeType(t)) add(`Fragment cannot condition on non composite type "${f.TypeCondition}".`, f.Position);
  });
  ev.fragment.push((_w, f) => {
    if (f.Definition && f.TypeCondition !== '' && !isCompositeType(f.Definition)) add(`Fragment "${f.Name}" cannot condition on non composite type "${f.TypeCondition}".`, f.Position);
  });
  // KnownArgumentNames
  ev.field.push((_w, f) => {
    if (!f.Definition || !f.ObjectDefinition) return;
    for (const a of f.Arguments) if (!forName(f.Definition.Arguments, a.Name)) add(`Unknown argument "${a.Name}" on field "${f.ObjectDefinition.Name}.${f.Name}".`, f.Position);
  });
  ev.directive.push((_w, d) => {
    if (!d.Definition) return;
    for (const a of d.Arguments) if (!forName(d.Definition.Arguments, a.Name)) add(`Unknown argument "${a.Name}" on directive "@${d.Name}".`, d.Position);
  });
  // KnownDirectives
  const seenMisplaced = new Set<string>();
  ev.directive.push((_w, d) => {
    if (!d.Definition) return add(`Unknown directive "@${d.Name}".`, d.Position);
    if (d.Definition.Locations.includes(d.Location)) return;
    const key = `${d.Name}:${d.Position?.Line}:${d.Position?.Column}`;
    if (!seenMisplaced.has(key)) {
      add(`Directive "@${d.Name}" may not be used on ${d.Location}.`, d.Position);
      seenMisplaced.add(key);
    }
  });
  // KnownFragmentNames
  ev.fragmentSpread.push((_w, s) => {
    if (!s.Definition) add(`Unknown fragment "${s.Name}".`, s.Position);
  });
  // KnownRootType
  ev.operation.push((w, op) => {
    if (!rootOf(w.schema, op.Operation)) add(`Schema does not support operation type "${op.Operation}"`, op.Position);
  });
  // KnownTypeNames
  ev.variable.push((w, v) => {
    const n = typeNameOf(v.Type);
    if (!w.schema.Types.has(n)) add(`Unknown type "${n}".`, v.Position);
  });
  ev.inlineFragment.push((w, f) => {
    if (f.TypeCondition !== '' && !w.schema.Types.has(f.TypeCondition)) add(`Unknown type "${f.TypeCondition}".`, f.Position);
  });
  ev.fragment.push((w, f) => {
    if (!w.schema.Types.has(f.TypeCondition)) add(`Unknown type "${f.TypeCondition}".`, f.Position);
  });
  // LoneAnonymousOperation
  ev.operation.push((w, op) => {
    if (op.Name === '' && w.doc.Operations.length > 1) add('This anonymous operation must be the only defined operation.', op.Position);
  });
  // NoFragmentCycles
  const visitedFrags = new Set<string>();
  ev.fragment.push((w, fragment) => {
    const path: Node[] = [];
    const index = new Map<string, number>();
    const recurse = (frag: Node): void => {
      if (visitedFrags.has(frag.Name)) return;
      visitedFrags.add(frag.Name);
      const spreads = fragmentSpreads(frag.SelectionSet);
      if (!spreads.length) return;
      index.set(frag.Name, path.length);
      for (const s of spreads) {
        const at = index.get(s.Name);
        path.push(s);
        if (at === undefined) {
          const next = forName(w.doc.Fragments, s.Name);
          if (next) recurse(next);
        } else {
          const names = path.slice(at, -1).map((x) => `"${x.Name}"`);
          add(`Cannot spread fragment "${s.Name}" within itself${names.length ? ` via ${names.join(', ')}` : ''}.`, s.Position);
        }
        path.pop();
      }
      index.delete(frag.Name);
    };
    recurse(fragment);
  });
  // NoUndefinedVariables
  ev.value.push((w, v) => {
    if (!w.op || v.Kind !== 0 || v.VariableDefinition) return;
    add(w.op.Name !== '' ? `Variable "${valueString(v)}" is not defined by operation "${w.op.Name}".` : `Variable "${valueString(v)}" is not defined.`, v.Position);
  });
  // NoUnusedFragments (spreads inside fragment definitions do not count, as in gqlparser)
  let inFragment = false;
  const used = new Set<string>();
  ev.fragmentSpread.push((_w, s) => {
    if (!inFragment) used.add(s.Name);
  });
  ev.fragment.push((_w, f) => {
    inFragment = true;
    if (!used.has(f.Name)) add(`Fragment "${f.Name}" is never used.`, f.Position);
  });
  // NoUnusedVariables
  ev.operation.push((_w, op) => {
    for (const v of op.VariableDefinitions) {
      if (v.Used) continue;
      add(op.Name !== '' ? `Variable "$${v.Variable}" is never used in operation "${op.Name}".` : `Variable "$${v.Variable}" is never used.`, v.Position);
    }
  });
  // PossibleFragmentSpreads
  const possible = (w: Walker, parent: Node | null, typeCond: string): boolean => {
    if (!parent) return true;
    let parents: Node[];
    if (parent.Kind === 'OBJECT') parents = [parent];
    else if (parent.Kind === 'INTERFACE' || parent.Kind === 'UNION') parents = w.schema.PossibleTypes.get(parent.Name) ?? [];
    else return true;
    const ft = w.schema.Types.get(typeCond);
    if (!ft || !isCompositeType(ft)) return true;
    return (w.schema.PossibleTypes.get(ft.Name) ?? []).some((fd) => parents.some((pd) => pd?.Name === fd?.Name));
  };
  ev.inlineFragment.push((w, f) => {
    if (!possible(w, f.ObjectDefinition, f.TypeCondition)) add(`Fragment cannot be spread here as objects of type "${f.ObjectDefinition.Name}" can never be of type "${f.TypeCondition}".`, f.Position);
  });
  ev.fragmentSpread.push((w, s) => {
    if (s.Definition && !possible(w, s.ObjectDefinition, s.Definition.TypeCondition)) {
      add(`Fragment "${s.Name}" cannot be spread here as objects of type "${s.ObjectDefinition.Name}" can never be of type "${s.Definition.TypeCondition}".`, s.Position);
    }
  });
  // ProvidedRequiredArguments
  ev.field.push((_w, f) => {
    if (!f.Definition) return;
    for (const ad of f.Definition.Arguments ?? []) {
      if (!ad.Type.NonNull || ad.DefaultValue) continue;
      if (!f.Arguments.some((a: Node) => a.Name === ad.Name)) add(`Field "${f.Name}" argument "${ad.Name}" of type "${typeString(ad.Type)}" is required, but it was not provided.`, f.Position);
    }
  });
  ev.directive.push((_w, d) => {
    if (!d.Definition) return;
    for (const ad of d.Definition.Arguments ?? []) {
      if (!ad.Type.NonNull || ad.DefaultValue) continue;
      if (!d.Arguments.some((a: Node) => a.Name === ad.Name)) add(`Directive "@${d.Definition.Name}" argument "${ad.Name}" of type "${typeString(ad.Type)}" is required, but it was not provided.`, d.Position);
    }
  });
  // ScalarLeafs
  ev.field.push((w, f) => {
    if (!f.Definition) return;
    const t = w.schema.Types.get(typeNameOf(f.Definition.Type));
    if (!t) return;
    if (isLeafType(t) && f.SelectionSet.length) add(`Field "${f.Name}" must not have a selection since type "${t.Name}" has no subfields.`, f.Position);
    if (!isLeafType(t) && !f.SelectionSet.length) add(`Field "${f.Name}" of type "${typeString(f.Definition.Type)}" must have a selection of subfields. Did you mean "${f.Name} { ... }"?`, f.Position);
  });
  // SingleFieldSubscriptions
  ev.operation.push((w, op) => {
    if (!w.schema.Subscription || op.Operation !== 'subscription') return;
    const fields = topFields(op.SelectionSet);
    const name = op.Name !== '' ? `Subscription ${quote(op.Name)}` : 'Anonymous Subscription';
    if (fields.length > 1) add(`${name} must select only one top level field.`, fields[1]!.Position);
    for (const f of fields) if (f.Name.startsWith('__')) add(`${name} must not select an introspection top level field.`, f.Position);
  });
  // UniqueArgumentNames
  const uniqueArgs = (args: Node[]): void => secondOf(args, (a) => a.Name, (a) => add(`There can be only one argument named "${a.Name}".`, a.Position));
  ev.field.push((_w, f) => uniqueArgs(f.Arguments));
  ev.directive.push((_w, d) => uniqueArgs(d.Arguments));
  // UniqueDirectivesPerLocation
  ev.directiveList.push((_w, ds) =>
    // a repeatable directive's name is never a repeat (all its uses share its definition)
    eachRepeat(
      ds.filter((d: Node) => !d.Definition || !d.Definition.IsRepeatable),
      (d) => d.Name,
      (d) => add(`The directive "@${d.Name}" can only be used once at this location.`, d.Position),
    ),
  );
  // UniqueFragmentNames
  const seenFragments = new Set<string>();
  ev.fragment.push((_w, f) => eachRepeat([f], (x) => x.Name, (x) => add(`There can be only one fragment named "${x.Name}".`, x.Position), seenFragments));
  // UniqueInputFieldNames
  ev.value.push((_w, v) => {
    if (v.Kind === 9) eachRepeat(v.Children, (c) => c.Name, (c) => add(`There can be only one input field named "${c.Name}".`, c.Position));
  });
  // UniqueOperationNames
  const seenOps = new Set<string>();
  ev.operation.push((_w, op) => eachRepeat([op], (x) => x.Name, (x) => add(`There can be only one operation named "${x.Name}".`, x.Position), seenOps));
  // UniqueVariableNames
  ev.operation.push((_w, op) => secondOf(op.VariableDefinitions, (v) => v.Variable, (v) => add(`There can be only one variable named "$${v.Variable}".`, v.Position)));
  // ValuesOfCorrectType
  ev.value.push((_w, v) => valuesOfCorrectType(v, add));
  // VariablesAreInputTypes
  ev.operation.push((_w, op) => {
    for (const v of op.VariableDefinitions) if (v.Definition && !isInputType(v.Definition)) add(`Variable "$${v.Variable}" cannot be non-input type "${typeString(v.Type)}".`, v.Position);
  });
  // VariablesInAllowedPosition
  ev.value.push((w, v) => {
    if (v.Kind !== 0 || !v.ExpectedType || !v.VariableDefinition || !w.op) return;
    const want = { ...v.ExpectedType };
    if (v.VariableDefinition.DefaultValue && v.VariableDefinition.DefaultValue.Kind !== 6 && v.ExpectedType.NonNull) want.NonNull = false;
    if (v.ExpectedTypeHasDefault) want.NonNull = false;
    if (!isCompatible(v.VariableDefinition.Type, want)) {
      add(`Variable "${valueString(v)}" of type "${typeString(v.VariableDefinition.Type)}" used in position expecting type "${typeString(v.ExpectedType)}".`, v.Position);
    }
  });
  ev.value.push((_w, v) => {
    if (v.Kind !== 9 || !v.Definition || !forName(v.Definition.Directives, 'oneOf')) return;
    for (const c of v.Children) {
      const fv = c.Value;
      if (!fv || fv.Kind !== 0 || !fv.VariableDefinition || fv.VariableDefinition.Type.NonNull) continue;
      add(`Variable "${valueString(fv)}" is of type "${typeString(fv.VariableDefinition.Type)}" but must be non-nullable to be used for OneOf Input Object "${v.Definition.Name}".`, fv.VariableDefinition.Position);
    }
  });
}

const rootOf = (schema: Schema, op: string): Node | null => (op === 'mutation' ? schema.Mutation : op === 'subscription' ? schema.Subscription : schema.Query);

function fragmentSpreads(set: Node[]): Node[] {
  const spreads: Node[] = [];
  const stack = [set];
  while (stack.length) {
    for (const s of stack.pop()!) {
      if (s[KIND] === 'FragmentSpread') spreads.push(s);
      else stack.push(s.SelectionSet ?? []);
    }
  }
  return spreads;
}

function topFields(set: Node[]): Node[] {
  const fields: Node[] = [];
  const inFrag = new Set<string>();
  const walk = (ss: Node[]): void => {
    for (const s of ss) {
      if (s[KIND] === 'Field') fields.push(s);
      else if (s[KIND] === 'InlineFragment') walk(s.SelectionSet);
      else {
        if (!s.Definition) return;
        if (!inFrag.has(s.Definition.Name)) {
          inFrag.add(s.Definition.Name);
          walk(s.Definition.SelectionSet);
        }
      }
    }
  };
  walk(set);
  const seen = new Set<string>();
  return fields.filter((f) => (seen.has(f.Name) ? false : (seen.add(f.Name), true)));
}

/** rules/values_of_correct_type.go */
function valuesOfCorrectType(v: Node, add: (msg: string, pos: Pos | null | undefined) => void): void {
  const def = v.Definition;
  const exp = v.ExpectedType;
  if (!def || !exp) return;
  if (v.Kind === 6 && exp.NonNull) add(`Expected value of type "${typeString(exp)}", found ${valueString(v)}.`, v.Position);
  if (def.Kind === 'SCALAR' && !['Int', 'Float', 'String', 'Boolean', 'ID'].includes(def.Name)) return;
  const unexpected = (): void => add(unexpectedTypeMessage(v), v.Position);
  // ast.Value.Value(nil): Int and Float literals must parse as Go's int64 / float64
  if ((v.Kind === 1 && !/^-?\d+$/.test(v.Raw)) || (v.Kind === 1 && (BigInt(v.Raw) > 9223372036854775807n || BigInt(v.Raw) < -9223372036854775808n))) unexpected();
  switch (v.Kind) {
    case 6:
    case 0:
      return;
    case 8:
      if (!exp.Elem) unexpected();
      return;
    case 1:
      if (!['Int', 'Float', 'ID'].includes(def.Name)) unexpected();
      return;
    case 2:
      if (def.Name !== 'Float') unexpected();
      return;
    case 3:
    case 4:
      if (def.Kind === 'ENUM') add(`Enum "${typeString(exp)}" cannot represent non-enum value: ${valueString(v)}.`, v.Position);
      else if (!['String', 'ID'].includes(def.Name)) unexpected();
      return;
    case 7:
      if (def.Kind !== 'ENUM') add(unexpectedTypeMessage(v), v.Position);
      else if (!forName(def.EnumValues, v.Raw)) add(`Value "${valueString(v)}" does not exist in "${typeString(exp)}" enum.`, v.Position);
      return;
    case 5:
      if (def.Name !== 'Boolean') unexpected();
      return;
    case 9:
      for (const f of def.Fields) {
        if (f.Type.NonNull && !forName(v.Children, f.Name) && !f.DefaultValue) add(`Field "${def.Name}.${f.Name}" of required type "${typeString(f.Type)}" was not provided.`, v.Position);
      }
      if (forName(def.Directives, 'oneOf')) {
        if (v.Children.length !== 1) add(`OneOf Input Object "${def.Name}" must specify exactly one key.`, v.Position);
        else {
          const fv = v.Children[0].Value;
          if (!fv || fv.Kind === 6) add(`Field "${def.Name}.${def.Fields[0]?.Name}" must be non-null.`, fv?.Position);
        }
      }
      for (const c of v.Children) if (!forName(def.Fields, c.Name)) add(`Field "${c.Name}" is not defined by type "${def.Name}".`, c.Position);
      return;
    default:
      return typeErr();
  }
}

function unexpectedTypeMessage(v: Node): string {
  const s = valueString(v);
  switch (typeString(v.ExpectedType)) {
    case 'Int':
    case 'Int!':
      return /^-?\d+$/.test(v.Raw) && (BigInt(v.Raw) > 2147483647n || BigInt(v.Raw) < -2147483648n) ? `Int cannot represent non 32-bit signed integer value: ${s}` : `Int cannot represent non-integer value: ${s}`;
    case 'String':
    case 'String!':
    case '[String]':
      return `String cannot represent a non string value: ${s}`;
    case 'Boolean':
    case 'Boolean!':
      return `Boolean cannot represent a non boolean value: ${s}`;
    case 'Float':
    case 'Float!':
      return `Float cannot represent non numeric value: ${s}`;
    case 'ID':
    case 'ID!':
      return `ID cannot represent a non-string and non-integer value: ${s}`;
    default:
      return v.Definition.Kind === 'ENUM' ? `Enum "${typeString(v.ExpectedType)}" cannot represent non-enum value: ${s}.` : `Expected value of type "${typeString(v.ExpectedType)}", found ${s}.`;
  }
}

/** validator.Validate: the rules' errors, in the order the walk finds them (an empty list: valid). */
function validateQuery(schema: Schema, doc: Node): Err[] {
  const errs: Err[] = [];
  const ev: Events = { operation: [], field: [], fragment: [], inlineFragment: [], fragmentSpread: [], directive: [], directiveList: [], value: [], variable: [] };
  // At(nil) adds no location
  registerRules(ev, (msg, pos) => errs.push(new GqlError(msg, pos ?? null)));
  const w: Walker = { schema, doc, op: null };
  let validatedSpreads = new Set<string>();

  const walkValue = (v: Node): void => {
    if (v.Kind === 0 && w.op) {
      v.VariableDefinition = w.op.VariableDefinitions.find((d: Node) => d.Variable === v.Raw) ?? null;
      if (v.VariableDefinition) v.VariableDefinition.Used = true;
    }
    if (v.Kind === 9) {
      for (const c of v.Children) {
        if (v.Definition) {
          const fd = forName(v.Definition.Fields, c.Name);
          if (fd) {
            c.Value.ExpectedType = fd.Type;
            c.Value.ExpectedTypeHasDefault = !!fd.DefaultValue && fd.DefaultValue.Kind !== 6;
            c.Value.Definition = schema.Types.get(typeNameOf(fd.Type)) ?? null;
          }
        }
        walkValue(c.Value);
      }
    }
    if (v.Kind === 8) {
      for (const c of v.Children) {
        if (v.ExpectedType?.Elem) {
          c.Value.ExpectedType = v.ExpectedType.Elem;
          c.Value.Definition = v.Definition;
        }
        walkValue(c.Value);
      }
    }
    for (const f of ev.value) f(w, v);
  };
  const walkArgument = (argDef: Node | undefined, arg: Node): void => {
    if (argDef) {
      arg.Value.ExpectedType = argDef.Type;
      arg.Value.ExpectedTypeHasDefault = !!argDef.DefaultValue && argDef.DefaultValue.Kind !== 6;
      arg.Value.Definition = schema.Types.get(typeNameOf(argDef.Type)) ?? null;
    }
    walkValue(arg.Value);
  };
  const walkDirectives = (parent: Node | null, dirs: Node[], location: string): void => {
    for (const d of dirs) {
      const def = schema.Directives.get(d.Name) ?? null;
      d.Definition = def;
      d.ParentDefinition = parent;
      d.Location = location;
      for (const a of d.Arguments) walkArgument(def ? forName(def.Arguments, a.Name) : undefined, a);
      for (const f of ev.directive) f(w, d);
    }
    for (const f of ev.directiveList) f(w, dirs);
  };
  const walkSelectionSet = (parent: Node | null, set: Node[]): void => {
    for (const s of set) walkSelection(parent, s);
  };
  const walkSelection = (parent: Node | null, s: Node): void => {
    if (s[KIND] === 'Field') {
      const def = s.Name === '__typename' ? { Name: '__typename', Type: { NamedType: 'String', NonNull: false }, Arguments: [] } : parent ? (forName(parent.Fields, s.Name) ?? null) : null;
      s.Definition = def;
      s.ObjectDefinition = parent;
      const next = def ? (schema.Types.get(typeNameOf(def.Type)) ?? null) : null;
      for (const a of s.Arguments) walkArgument(def ? forName(def.Arguments, a.Name) : undefined, a);
      walkDirectives(next, s.Directives, 'FIELD');
      walkSelectionSet(next, s.SelectionSet);
      for (const f of ev.field) f(w, s);
    } else if (s[KIND] === 'InlineFragment') {
      s.ObjectDefinition = parent;
      const next = s.TypeCondition !== '' ? (schema.Types.get(s.TypeCondition) ?? null) : parent;
      walkDirectives(next, s.Directives, 'INLINE_FRAGMENT');
      walkSelectionSet(next, s.SelectionSet);
      for (const f of ev.inlineFragment) f(w, s);
    } else {
      const def = forName(doc.Fragments, s.Name) ?? null;
      s.Definition = def;
      s.ObjectDefinition = parent;
      const next = def ? (schema.Types.get(def.TypeCondition) ?? null) : null;
      walkDirectives(next, s.Directives, 'FRAGMENT_SPREAD');
      if (def && !validatedSpreads.has(def.Name)) {
        validatedSpreads.add(def.Name);
        walkDirectives(next, def.Directives, 'FRAGMENT_DEFINITION');
        walkSelectionSet(next, def.SelectionSet);
      }
      for (const f of ev.fragmentSpread) f(w, s);
    }
  };

  for (const op of doc.Operations) {
    validatedSpreads = new Set();
    w.op = op;
    for (const vd of op.VariableDefinitions) {
      vd.Definition = schema.Types.get(typeNameOf(vd.Type)) ?? null;
      for (const f of ev.variable) f(w, vd);
      if (vd.DefaultValue) {
        vd.DefaultValue.ExpectedType = vd.Type;
        vd.DefaultValue.Definition = vd.Definition;
      }
    }
    const [root, loc] = op.Operation === 'mutation' ? [schema.Mutation, 'MUTATION'] : op.Operation === 'subscription' ? [schema.Subscription, 'SUBSCRIPTION'] : [schema.Query, 'QUERY'];
    for (const vd of op.VariableDefinitions) {
      if (vd.DefaultValue) walkValue(vd.DefaultValue);
      walkDirectives(vd.Definition, vd.Directives, 'VARIABLE_DEFINITION');
    }
    walkDirectives(root, op.Directives, loc);
    walkSelectionSet(root, op.SelectionSet);
    for (const f of ev.operation) f(w, op);
    w.op = null;
  }
  for (const frag of doc.Fragments) {
    validatedSpreads = new Set();
    const def = schema.Types.get(frag.TypeCondition) ?? null;
    frag.Definition = def;
    walkDirectives(def, frag.Directives, 'FRAGMENT_DEFINITION');
    walkSelectionSet(def, frag.SelectionSet);
    for (const f of ev.fragment) f(w, frag);
  }
  return errs;
}

/** OPA's validateQuery: the whole error list as gqlerror.List prints it, formatted. */
function verify(schema: Schema, doc: Node): void {
  const errs = validateQuery(schema, clone(doc));
  if (errs.length) throw new GraphQLFailure(formatError(errs.map((e) => `${e.text()}\n`).join('')));
}

/* ------------------------------------------------------------ the builtins */

/** OPA's builtin error: the call is undefined, with the message OPA gives */
const failWith = (name: string, e: unknown): never => {
  if (e instanceof GraphQLFailure) return fail(`${name}: ${e.message}`);
  throw e;
};

/** query and schema parsed (or decoded), the schema converted and the query validated: [query AST, schema AST] */
function parseAndVerify(query: unknown, schema: unknown, name: string): [unknown, unknown] {
  const q = queryDocument(query, 0, name);
  const s = schemaDocument(schema, 1, name);
  const queryAST = encode(q);
  const schemaAST = encode(s);
  verify(convertSchema(s), q);
  return [queryAST, schemaAST];
}

/** false for any failure (graphql.is_valid, graphql.schema_is_valid) */
const holds = (f: () => unknown): boolean => {
  try {
    f();
    return true;
  } catch (e) {
    if (e instanceof GraphQLFailure) return false;
    throw e;
  }
};

/** graphql.parse_query and graphql.parse_schema: one string operand, parsed by PARSE into OPA's AST form. */
const parseText =
  (name: string, parse: (text: string) => unknown): Impl =>
  (text) => {
    if (typeof text !== 'string') return fail(`${name}: operand 1 must be string but got ${typeName(text)}`);
    try {
      return encode(parse(text));
    } catch (e) {
      return failWith(name, e);
    }
  };

export const IMPLS: Record<string, Impl> = {
  'graphql.parse_query': parseText('graphql.parse_query', parseQuery),
  'graphql.parse_schema': parseText('graphql.parse_schema', parseSchema),
  'graphql.parse': (query, schema) => {
    try {
      return parseAndVerify(query, schema, 'graphql.parse');
    } catch (e) {
      return failWith('graphql.parse', e);
    }
  },
  'graphql.parse_and_verify': (query, schema) => {
    try {
      return [true, ...parseAndVerify(query, schema, 'graphql.parse_and_verify')];
    } catch (e) {
      if (e instanceof GraphQLFailure) return [false, {}, {}];
      throw e;
    }
  },
  'graphql.is_valid': (query, schema) => holds(() => parseAndVerify(query, schema, 'graphql.is_valid')),
  'graphql.schema_is_valid': (schema) => holds(() => convertSchema(schemaDocument(schema, 0, 'graphql.schema_is_valid'))),
};
