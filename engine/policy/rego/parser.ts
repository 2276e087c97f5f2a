/**
 * Stage 2 of the Rego compiler: tokens to a Module (ast.ts).
 *
 * The grammar is OPA's as implemented by v1/ast/parser.go and
 * v1/ast/parser_ext.go (OPA >= 1.0), not only as documented in the policy
 * reference's EBNF, because the implementation decides what users can write
 * and what errors they see. This file is an independent implementation of the
 * same recursive descent with backtracking; comments name the OPA function
 * whose behaviour a piece reproduces. In particular:
 *
 * - Operator precedence, lowest first (parseTermIn and below): `in`
 *   (and `k, v in xs`), comparisons (== != < <= > >=), `|`, `&`, `+ -`,
 *   `* / %`; all left-associative. `=` and `:=` only join the two sides of a
 *   whole expression (parseExpr). Unary minus exists only on number literals.
 * - A term continues as a ref or call only if `.`, `[` or `(` touches it:
 *   `a[1]` is a ref, `a [1]` is two terms.
 * - Body expressions are separated by `;` or a newline.
 * - Statements are tried as package, import, rule, then a bare expression;
 *   a bare expression at the top level is turned into a rule afterwards
 *   (`p := 1`, `p[x] = y`, `f(x) := x`, `p.q.r`; ParseRuleFromExpr).
 * - Rego v1 (the default) has `if`, `contains`, `in` and `every` as keywords
 *   and rejects bodies without `if` and multi-value rules without `contains`
 *   (CheckRegoV1, rego_v1.go). With `v0Compatible`, those words are keywords
 *   only once imported from `future.keywords` (or with `import rego.v1`,
 *   which also turns the v1 checks on).
 * - Keywords may appear inside refs (`input.in`, `data.default.x`) and as
 *   the first word of a ref when `.` or `[` touches them (`not.x`), as with
 *   OPA's keywords_in_refs capability.
 *
 * Errors are collected, as OPA does, and parsing stops at the first
 * statement that cannot be parsed after an error; module-level checks (v1
 * keywords, rules from bare expressions) can add more. parseModule throws
 * them all as RegoErrors; parseModuleWithErrors returns them.
 */

import type * as A from './ast.js';
import { decodeString, lex, type Token, type TokenKind } from './lexer.js';
import { RegoError, RegoErrorCode, RegoErrors, sourceDetails } from './errors.js';

export interface ParseOptions {
  /**
   * Parse pre-1.0 Rego (OPA's --v0-compatible): `p { ... }`, `p[x] { ... }`,
   * `default p = v`; `if`, `contains`, `in`, `every` are keywords only when
   * imported via `future.keywords` (or `rego.v1`).
   */
  v0Compatible?: boolean;
}

export interface ParseResult {
  /** undefined when there are errors */
  module: A.Module | undefined;
  errors: RegoError[];
}

/** Parses one Rego file; throws RegoErrors listing every error found. */
export function parseModule(source: string, file: string, opts: ParseOptions = {}): A.Module {
  const { module, errors } = parseModuleWithErrors(source, file, opts);
  if (errors.length > 0 || module === undefined) throw new RegoErrors(errors);
  return module;
}

/** Parses one Rego file and returns the module or the errors (never throws a RegoError). */
export function parseModuleWithErrors(source: string, file: string, opts: ParseOptions = {}): ParseResult {
  const p = new Parser(source, file, opts.v0Compatible === true ? 'v0' : 'v1');
  let stmts: Statement[];
  try {
    stmts = p.parseStatements();
  } catch (e) {
    // MAX_DEPTH should make this unreachable; a smaller stack than Node's
    // default must still give a parse error, not a crash.
    if (!(e instanceof RangeError)) throw e;
    p.stackExhausted();
    return { module: undefined, errors: p.finishErrors() };
  }
  if (p.errors.length > 0) return { module: undefined, errors: p.finishErrors() };
  const module = p.buildModule(stmts);
  return { module: p.errors.length > 0 ? undefined : module, errors: p.finishErrors() };
}

/* ------------------------------------------------------------- keywords */

/** Keywords in every Rego version (tokens.go). */
const BASE_KEYWORDS = ['package', 'import', 'as', 'default', 'else', 'not', 'some', 'with', 'null', 'true', 'false'];
/** Keywords of Rego v1 that v0 only has via future.keywords (futureKeywordsV0), sorted. */
const FUTURE_KEYWORDS = ['contains', 'every', 'if', 'in'];
const V1_KEYWORDS = new Set([...BASE_KEYWORDS, ...FUTURE_KEYWORDS]);
const V0_KEYWORDS = new Set(BASE_KEYWORDS);

/** Root documents a ref may start with (RootDocumentNames), and those an import may. */
const ROOT_DOCUMENTS = new Set(['data', 'input']);
const IMPORT_ROOTS = new Set(['data', 'input', 'future', 'rego']);

/** OPA's token names, used in "unexpected X token" messages (tokens.go). */
const TOKEN_NAMES: Partial<Record<TokenKind, string>> = {
  ident: 'identifier',
  number: 'number',
  string: 'string',
  eof: 'eof',
  '+': 'plus',
  '-': 'minus',
  '*': 'mul',
  '/': 'div',
  '%': 'rem',
  '&': 'and',
  '|': 'or',
  '=': 'eq',
  '==': 'equal',
  ':=': 'assign',
  '!=': 'neq',
  '>': 'gt',
  '<': 'lt',
  '>=': 'gte',
  '<=': 'lte',
};

/** Builtin names of the operators; a bare top-level call to one cannot define a rule. */
const OPERATOR_BUILTINS = new Set(Object.values(TOKEN_NAMES).filter((n) => !['identifier', 'number', 'string', 'eof'].includes(n)));
const HEAD_OPERATOR_TOKENS = new Set<TokenKind>(['+', '-', '*', '/', '%', '&', '|', '==', '!=', '>', '>=', '<', '<=']);
const MEMBER_2 = 'internal.member_2';
const MEMBER_3 = 'internal.member_3';

/**
 * OPA allows 100000 nested parser calls; a JavaScript stack does not, so the
 * limit here is lower (some hundreds of levels of nested terms, depending on
 * their kind), well beyond any real policy, and reported with OPA's message
 * instead of a stack overflow.
 */
const MAX_DEPTH = 4000;

/* ---------------------------------------------------------------- state */

interface PendingError {
  row: number;
  col: number;
  offset: number;
  message: string;
}

interface Saved {
  pos: number;
  asIdent: boolean;
  errors: number;
  hints: readonly string[];
  wildcard: number;
}

/** A parsed term, by start position (OPA's parsedTermCache). */
interface CacheEntry {
  /** the context it was parsed in */
  gen: number;
  asIdent: boolean;
  wildcard: number;
  /** the result and the state after it */
  term: A.Term | null;
  pos: number;
  asIdentAfter: boolean;
  wildcardAfter: number;
  errors: PendingError[];
}

/** A rule head while it is being parsed (OPA's Head before its fields settle). */
interface HeadDraft {
  loc: A.Location;
  ref: A.Term[];
  /** undefined: no parentheses; [] for `f()` (which is not a function) */
  args: A.Term[] | undefined;
  key: A.Term | undefined;
  value: A.Term | undefined;
  generatedValue: boolean;
  assign: ':=' | '=' | undefined;
  contains: boolean;
  ifKeyword: boolean;
}

interface RuleDraft {
  loc: A.Location;
  isDefault: boolean;
  head: HeadDraft;
  body: A.Body;
  generatedBody: boolean;
  else: RuleDraft | undefined;
}

type Statement =
  | { kind: 'package'; node: A.Package }
  | { kind: 'import'; node: A.Import }
  | { kind: 'rule'; rule: RuleDraft }
  | { kind: 'body'; body: A.Body };

class Parser {
  readonly errors: PendingError[] = [];
  private readonly toks: Token[];
  private readonly comments: A.Comment[];
  private pos = 0;
  private tok: Token;
  /**
   * The current token is a keyword used as a name: OPA rewrites the token to
   * an identifier when a keyword starts a ref (`not.x`) or a path.
   */
  private asIdent = false;
  private hints: readonly string[] = [];
  private wildcard = 0;
  private depth = 0;
  private keywords: Set<string>;
  /** bumped whenever `keywords` changes, to invalidate the term cache */
  private kwGen = 0;
  private readonly cache = new Map<number, CacheEntry>();
  private readonly locs: Array<A.Location | undefined> = [];
  /** v0 module that imported rego.v1 */
  private regoV1Imported = false;

  constructor(
    private readonly source: string,
    private readonly file: string,
    private readonly version: 'v0' | 'v1',
  ) {
    const { tokens, comments } = lex(source);
    this.toks = tokens;
    this.comments = comments.map((c) => ({ type: 'comment', text: c.text, loc: { file, row: c.row, col: c.col } }));
    this.keywords = new Set(version === 'v1' ? V1_KEYWORDS : V0_KEYWORDS);
    this.tok = tokens[0]!;
    if (this.tok.errors !== undefined) for (const e of this.tok.errors) this.error(this.tok, e);
  }

  stackExhausted(): void {
    this.error(this.tok, 'max parsing recursion depth exceeded');
  }

  finishErrors(): RegoError[] {
    return this.errors.map(
      (e) =>
        new RegoError(
          RegoErrorCode.PARSE,
          e.message,
          { file: this.file, row: e.row, col: e.col },
          e.offset >= 0 ? sourceDetails(this.source, e.offset) : undefined,
        ),
    );
  }

  /* ---------------------------------------------------------- scanning */

  private next(): void {
    if (this.kind() === 'eof') {
      this.asIdent = false;
      return;
    }
    this.pos++;
    this.tok = this.toks[this.pos]!;
    this.asIdent = false;
    // A scanner error is reported when the parser reaches the token, at
    // the token's position (doScan).
    if (this.tok.errors !== undefined) for (const e of this.tok.errors) this.error(this.tok, e);
  }

  /** the current token's kind (a method, so that TypeScript does not narrow it across next()) */
  private kind(): TokenKind {
    return this.tok.kind;
  }

  private peek(): Token | undefined {
    return this.toks[this.pos + 1];
  }

  private save(): Saved {
    return { pos: this.pos, asIdent: this.asIdent, errors: this.errors.length, hints: this.hints, wildcard: this.wildcard };
  }

  private restore(s: Saved): void {
    this.pos = s.pos;
    this.tok = this.toks[s.pos]!;
    this.asIdent = s.asIdent;
    this.errors.length = s.errors;
    this.hints = s.hints;
    this.wildcard = s.wildcard;
  }

  private setKeywords(kws: Set<string>): void {
    this.keywords = kws;
    this.kwGen++;
  }

  private isKeyword(word: string): boolean {
    return this.keywords.has(word);
  }

  /** the current token is the keyword `word` */
  private at(word: string): boolean {
    return this.kind() === 'ident' && !this.asIdent && this.tok.text === word && this.keywords.has(word);
  }

  /** the current token is an identifier that is not a keyword (OPA's tokens.Ident) */
  private atIdent(): boolean {
    return this.kind() === 'ident' && (this.asIdent || !this.keywords.has(this.tok.text));
  }

  /** the current token is a keyword that may name a ref element (isAllowedRefKeyword) */
  private atRefKeyword(): boolean {
    return this.kind() === 'ident' && !this.asIdent && this.keywords.has(this.tok.text);
  }

  /** the next token is `.` or `[` with no space before it */
  private refFollows(): boolean {
    const nx = this.peek();
    return nx !== undefined && !nx.ws && (nx.kind === '.' || nx.kind === '[');
  }

  /** scanAheadRef: a keyword that starts a ref (`else.x`) is a name. */
  private keywordStartsRef(): boolean {
    if (this.atRefKeyword() && this.refFollows()) {
      this.asIdent = true;
      return true;
    }
    return false;
  }

  /** isIdentOrAllowedRefKeyword */
  private identOrKeyword(): boolean {
    if (this.atIdent()) return true;
    if (this.atRefKeyword()) {
      this.asIdent = true;
      return true;
    }
    return false;
  }

  /** The location of the token at `pos` (the current one by default); shared by the nodes that start there. */
  private loc(pos: number = this.pos): A.Location {
    let l = this.locs[pos];
    if (l === undefined) {
      const t = this.toks[pos]!;
      l = { file: this.file, row: t.row, col: t.col };
      this.locs[pos] = l;
    }
    return l;
  }

  private enter(): boolean {
    this.depth++;
    if (this.depth > MAX_DEPTH) {
      this.error(this.tok, 'max parsing recursion depth exceeded');
      this.depth--;
      return false;
    }
    return true;
  }

  private leave(): void {
    this.depth--;
  }

  /* ------------------------------------------------------------ errors */

  private error(at: { row: number; col: number; offset: number }, message: string): void {
    // Pending hints are appended to the next error and consumed (writeHints).
    if (this.hints.length === 1) message += ` (hint: ${this.hints[0]})`;
    else if (this.hints.length > 1) message += ` (hints: ${this.hints.join(', ')})`;
    this.hints = [];
    this.errors.push({ row: at.row, col: at.col, offset: at.offset, message });
  }

  private errorAtLoc(loc: A.Location, message: string): void {
    this.error({ row: loc.row, col: loc.col, offset: this.offsetOf(loc) }, message);
  }

  private offsetOf(loc: A.Location): number {
    // Terms keep row/col only; find the token that starts there for the
    // error's source line.
    for (const t of this.toks) if (t.row === loc.row && t.col === loc.col) return t.offset;
    return -1;
  }

  private hint(h: string): void {
    this.hints = [...this.hints, h];
  }

  /** illegal(): "unexpected <token> token|keyword[: note]" at the current token */
  private illegal(note = ''): void {
    const t = this.tok;
    if (t.kind === 'illegal') {
      this.error(t, 'illegal token');
      return;
    }
    let name: string;
    let what = 'token';
    if (t.kind === 'ident' && !this.asIdent && this.keywords.has(t.text)) {
      name = t.text;
      what = 'keyword';
    } else {
      name = TOKEN_NAMES[t.kind] ?? t.kind;
    }
    this.error(t, note !== '' ? `unexpected ${name} ${what}: ${note}` : `unexpected ${name} ${what}`);
  }

  /* --------------------------------------------------------- statements */

  /** Parser.Parse: package, import, rule or body, until the input or a failed statement ends. */
  parseStatements(): Statement[] {
    const stmts: Statement[] = [];
    while (this.kind() !== 'eof') {
      let s = this.save();
      const pkg = this.parsePackage();
      if (pkg !== null) {
        stmts.push({ kind: 'package', node: pkg });
        continue;
      } else if (this.errors.length > 0) break;
      this.restore(s);

      s = this.save();
      const imp = this.parseImport();
      if (imp !== null) {
        const root = imp.path.head.type === 'var' ? imp.path.head.name : '';
        if (root === 'rego') this.regoV1Import(imp);
        if (root === 'future') this.futureImport(imp);
        stmts.push({ kind: 'import', node: imp });
        continue;
      } else if (this.errors.length > 0) break;
      this.restore(s);

      s = this.save();
      const rules = this.parseRules();
      if (rules !== null) {
        for (const rule of rules) stmts.push({ kind: 'rule', rule });
        continue;
      } else if (this.errors.length > 0) break;
      this.restore(s);

      const body = this.parseQuery(true, 'eof');
      if (body !== null) {
        stmts.push({ kind: 'body', body });
        continue;
      }
      break;
    }
    return stmts;
  }

  private parsePackage(): A.Package | null {
    if (!this.at('package')) return null;
    const loc = this.loc();
    this.next();
    // `package.x` or `package[x]` is a ref, not a package declaration.
    if (!this.tok.ws && (this.kind() === '.' || this.kind() === '[')) return null;
    if (!this.identOrKeyword()) {
      this.illegal();
      return null;
    }
    const term = this.parseTerm();
    if (term === null) {
      if (this.errors.length === 0) this.error(this.tok, 'expected path');
      return null;
    }
    const data = (l: A.Location): A.VarTerm => ({ type: 'var', name: 'data', loc: l });
    if (term.type === 'var') {
      return {
        type: 'package',
        path: { type: 'ref', head: data(term.loc), path: [{ type: 'string', value: term.name, loc: term.loc }], loc: term.loc },
        loc,
      };
    }
    if (term.type === 'ref') {
      if (term.head.type !== 'var') {
        this.errorAtLoc(term.head.loc, `unexpected ${term.head.type} token: expecting var`);
        return null;
      }
      for (const el of term.path) {
        if (el.type !== 'string') {
          this.errorAtLoc(el.loc, `unexpected ${el.type} token: expecting string`);
          return null;
        }
      }
      const first: A.StringTerm = { type: 'string', value: term.head.name, loc: term.head.loc };
      return { type: 'package', path: { type: 'ref', head: data(term.head.loc), path: [first, ...term.path], loc: term.loc }, loc };
    }
    this.illegal();
    return null;
  }

  private parseImport(): A.Import | null {
    if (!this.at('import')) return null;
    const loc = this.loc();
    this.next();
    if (!this.tok.ws && (this.kind() === '.' || this.kind() === '[')) return null;
    if (!this.identOrKeyword()) {
      this.illegal();
      return null;
    }
    // The path is read without the future keywords (presentParser), so
    // that `import future.keywords.in` is a path even where `in` is one.
    const kws = this.keywords;
    const asIdent = this.asIdent;
    this.setKeywords(new Set(BASE_KEYWORDS));
    this.asIdent = asIdent;
    const term = this.parseTerm();
    this.setKeywords(kws);

    let path: A.RefTerm | null = null;
    if (term !== null) {
      if (term.type === 'var') {
        path = { type: 'ref', head: term, path: [], loc: term.loc };
      } else if (term.type === 'ref') {
        for (const el of term.path) {
          if (el.type !== 'string') {
            this.errorAtLoc(el.loc, `unexpected ${el.type} token: expecting string`);
            return null;
          }
        }
        path = term;
      }
    }
    if (path === null) {
      this.error(this.tok, 'expected path');
      return null;
    }
    const root = path.head.type === 'var' ? path.head.name : '';
    if (!IMPORT_ROOTS.has(root)) {
      this.hint('if this is unexpected, try updating OPA');
      this.errorAtLoc(path.loc, `unexpected import path, must begin with one of: {data, future, input, rego}, got: ${termString(path.head)}`);
      return null;
    }
    const imp: A.Import = { type: 'import', path, loc };

    if (this.at('as')) {
      this.next();
      if (!this.atIdent()) {
        this.illegal('expected var');
        return null;
      }
      const alias = this.parseTerm();
      if (alias !== null && alias.type === 'var') {
        imp.alias = alias.name;
        return imp;
      }
      this.illegal('expected var');
      return null;
    }

    // Without an alias the last path element names the import, so it must
    // not be a keyword (future.keywords.x excepted).
    const versionKeywords = this.version === 'v1' ? V1_KEYWORDS : V0_KEYWORDS;
    const last = path.path.length === 0 ? path.head : path.path[path.path.length - 1]!;
    const lastName = last.type === 'var' ? last.name : last.type === 'string' ? last.value : '';
    if ((path.path.length === 0 || root !== 'future') && versionKeywords.has(lastName)) {
      this.errorAtLoc(last.loc, `unexpected import path, must not end with a keyword, got: ${lastName}`);
      // OPA adds this hint after the error, so it decorates the next one.
      this.hint('import a different path or use an alias');
    }
    return imp;
  }

  /** futureImport: `import future.keywords[.kw]` turns keywords on (v0) or is a no-op (v1). */
  private futureImport(imp: A.Import): void {
    const path = imp.path.path;
    if (path.length === 0 || !(path[0]!.type === 'string' && path[0]!.value === 'keywords')) {
      this.errorAtLoc(imp.path.loc, 'invalid import, must be `future.keywords`');
      return;
    }
    if (imp.alias !== undefined) {
      this.errorAtLoc(imp.path.loc, '`future` imports cannot be aliased');
      return;
    }
    let add = FUTURE_KEYWORDS;
    if (path.length === 2) {
      const kw = path[1]!;
      if (kw.type !== 'string') {
        this.errorAtLoc(imp.path.loc, 'invalid import, must be `future.keywords.x`, e.g. `import future.keywords.in`');
        return;
      }
      if (!FUTURE_KEYWORDS.includes(kw.value)) {
        this.errorAtLoc(imp.path.loc, `unexpected keyword, must be one of [${FUTURE_KEYWORDS.join(' ')}]`);
        return;
      }
      add = [kw.value];
    }
    this.addKeywords(add);
  }

  /** regoV1Import: `import rego.v1` in a v0 module turns on every v1 keyword and check. */
  private regoV1Import(imp: A.Import): void {
    const path = imp.path.path;
    if (path.length !== 1 || !(path[0]!.type === 'string' && path[0]!.value === 'v1')) {
      this.errorAtLoc(imp.path.loc, `invalid import \`${termString(imp.path)}\`, must be \`rego.v1\``);
      return;
    }
    if (this.version === 'v1') return;
    if (imp.alias !== undefined) {
      this.errorAtLoc(imp.path.loc, '`rego` imports cannot be aliased');
      return;
    }
    this.regoV1Imported = true;
    this.addKeywords(FUTURE_KEYWORDS);
  }

  private addKeywords(words: readonly string[]): void {
    const next = new Set(this.keywords);
    for (const w of words) {
      next.add(w);
      // Scanner.AddKeyword: importing `every` also imports `in`.
      if (w === 'every') next.add('in');
    }
    this.setKeywords(next);
  }

  /* -------------------------------------------------------------- rules */

  /** parseRules: a rule, or a rule followed by more bodies (`p { a } { b }`: one rule each). */
  private parseRules(): RuleDraft[] | null {
    const ruleTok = this.tok;
    const ruleLoc = this.loc();
    this.keywordStartsRef();
    let isDefault = false;
    if (this.at('default')) {
      this.next();
      isDefault = true;
      this.keywordStartsRef();
    }
    if (!this.atIdent()) return null;

    const parsed = this.parseHead(isDefault);
    if (parsed === null) return null;
    const { head, usesContains } = parsed;
    const rule: RuleDraft = { loc: ruleLoc, isDefault, head, body: [], generatedBody: false, else: undefined };
    const isFunction = head.args !== undefined && head.args.length > 0;

    if (isDefault) {
      if (!this.validateDefaultValue(rule, ruleTok)) return null;
      if (isFunction && !this.validateDefaultArgs(rule, ruleTok)) return null;
      rule.body = [this.trueExpr(ruleLoc)];
      return [rule];
    }

    const hasIf = this.at('if');

    // `p[x] if ...` defines p[x] := true (a single-value rule), keyed by x
    // when x is not ground (parseRules' back-compat comments).
    if (hasIf && !usesContains && head.ref.length === 2) {
      const k = head.ref[1]!;
      if ((!isGround(k) || k.type === 'ref') && !isFunction) head.key = k;
      if (head.value === undefined) {
        head.generatedValue = true;
        head.value = trueTerm(head.loc);
      } else if (head.ref[0]!.type !== 'var') {
        return null;
      }
    }

    // `p[x]` without `if` (v0 style) is the multi-value rule p, element x;
    // `p[x] = y` the single-value p[x] with key x.
    if (!hasIf && !usesContains && !isFunction && head.ref.length === 2) {
      if (head.ref[0]!.type !== 'var') return null;
      head.key = head.ref[1];
      if (head.value === undefined) head.ref = head.ref.slice(0, 1);
    }

    if (hasIf) {
      head.ifKeyword = true;
      this.next();
      // `p if expr` (one literal) or `p if { body }`. A set literal is never
      // a useful condition, so `p if { x }` is read as a body (NOTE(sr)).
      const s = this.save();
      const expr = this.parseLiteral();
      if (expr !== null && !(expr.kind === 'term' && expr.term.type === 'set')) {
        rule.body = [expr];
      } else {
        this.restore(s);
        // OPA falls through to the brace case without checking for `{`.
        this.next();
        const body = this.parseBody('}');
        if (body === null) return null;
        rule.body = body;
        this.next();
      }
    } else if (this.kind() === '{') {
      this.next();
      const body = this.parseBody('}');
      if (body === null) return null;
      rule.body = body;
      this.next();
    } else if (usesContains) {
      // `p contains x` with no body
      rule.body = [this.trueExpr(ruleLoc)];
      rule.generatedBody = true;
      rule.loc = head.loc;
      return [rule];
    } else {
      // no body: the statement is an expression, made a rule later
      return null;
    }

    if (this.at('else') && !this.keywordStartsRef()) {
      if (head.ref.length > 1 && !head.ref.slice(1).every(isGround)) {
        this.error(this.tok, 'else keyword cannot be used on rules with variables in head');
        return null;
      }
      if (head.key !== undefined) {
        this.error(this.tok, 'else keyword cannot be used on multi-value rules');
        return null;
      }
      const e = this.parseElse(head);
      if (e === null) return null;
      rule.else = e;
    }

    const rules = [rule];
    // `p { a } { b }`: each further body defines the same rule again.
    while (this.kind() === '{') {
      if (rule.else !== undefined) {
        this.error(this.tok, 'expected else keyword');
        return null;
      }
      const bodyLoc = this.loc();
      this.next();
      const body = this.parseBody('}');
      if (body === null) return null;
      this.next();
      const copy = relocate(deepCopy(head), bodyLoc);
      if (copy.args !== undefined) copy.args = copy.args.map((a) => this.freshWildcard(a));
      rules.push({ loc: bodyLoc, isDefault: false, head: copy, body, generatedBody: false, else: undefined });
    }
    return rules;
  }

  /** parseElse: `else [:= value] [if] { body } | if literal`, recursively. */
  private parseElse(head: HeadDraft): RuleDraft | null {
    const elseLoc = this.loc();
    const h: HeadDraft = { ...cloneHead(head), loc: elseLoc, generatedValue: false, ifKeyword: false, contains: false };
    if (h.args !== undefined) h.args = h.args.map((a) => this.freshWildcard(a));
    const rule: RuleDraft = { loc: elseLoc, isDefault: false, head: h, body: [], generatedBody: false, else: undefined };

    this.next();
    if (this.kind() === '{' || this.at('if')) {
      h.generatedValue = true;
      h.value = trueTerm(elseLoc);
    } else if (this.kind() === ':=' || this.kind() === '=') {
      h.assign = this.kind() === ':=' ? ':=' : '=';
      this.next();
      const v = this.parseTermInfixCall();
      if (v === null) return null;
      h.value = v;
    } else {
      this.illegal('expected else value term or rule body');
      return null;
    }

    const hasIf = this.at('if');
    if (!hasIf && this.kind() !== '{') {
      rule.body = [this.trueExpr(elseLoc)];
      rule.generatedBody = true;
      return rule;
    }
    if (hasIf) {
      h.ifKeyword = true;
      this.next();
    }
    if (this.kind() === '{') {
      this.next();
      const body = this.parseBody('}');
      if (body === null) return null;
      rule.body = body;
      this.next();
    } else if (this.kind() !== 'eof') {
      const expr = this.parseLiteral();
      if (expr === null) return null;
      rule.body = [expr];
    } else {
      this.illegal('rule body expected');
      return null;
    }

    if (this.at('else')) {
      const e = this.parseElse(head);
      if (e === null) return null;
      rule.else = e;
    }
    return rule;
  }

  /** parseHead: name or ref, arguments, then `contains x`, `= v` or `:= v`. */
  private parseHead(isDefault: boolean): { head: HeadDraft; usesContains: boolean } | null {
    const loc = this.loc();
    const name = this.parseVar();

    // parseHeadFinish: an operator touching the name (`a-b := 1`) is an
    // error; `(`, `.` or `[` continue the head, even after a space.
    this.next();
    if (!this.tok.ws && HEAD_OPERATOR_TOKENS.has(this.kind())) this.illegal();
    let term: A.Term | null = name;
    if (this.kind() === '(' || this.kind() === '.' || this.kind() === '[') {
      term = this.parseRef(name);
      if (term === null) {
        this.illegal('expected rule head name');
        return null;
      }
    } else if (ROOT_DOCUMENTS.has(name.name)) {
      term = { type: 'ref', head: name, path: [], loc: name.loc };
    }

    const head: HeadDraft = {
      loc,
      ref: [],
      args: undefined,
      key: undefined,
      value: undefined,
      generatedValue: false,
      assign: undefined,
      contains: false,
      ifKeyword: false,
    };
    if (term.type === 'var') {
      head.ref = [term];
    } else if (term.type === 'ref') {
      head.ref = [term.head, ...term.path];
    } else if (term.type === 'call') {
      if (term.operator.head.type !== 'var') {
        this.illegal(`rule head ref ${termString(term.operator)} invalid`);
        return null;
      }
      head.ref = [term.operator.head, ...term.operator.path];
      head.args = term.args;
    } else {
      return null;
    }
    const refName = termString(refOf(head.ref, loc));
    const isFunction = head.args !== undefined && head.args.length > 0;

    if (this.at('contains')) {
      if (head.args !== undefined) {
        this.illegal(`the contains keyword can only be used with multi-value rule definitions (e.g., ${refName} contains <VALUE> { ... })`);
      }
      this.next();
      const key = this.parseTermInfixCall();
      if (key === null) this.illegal(`expected rule key term (e.g., ${refName} contains <VALUE> { ... })`);
      else head.key = key;
      head.contains = true;
      return { head, usesContains: true };
    }
    if (this.kind() === '=') {
      this.next();
      head.assign = '=';
      const v = this.parseTermInfixCall();
      // OPA formats the (still unset) key here, which prints as <nil>.
      if (v === null) this.illegal(`expected rule value term (e.g., ${refName}[<nil>] = <VALUE> { ... })`);
      else head.value = v;
    } else if (this.kind() === ':=') {
      this.next();
      head.assign = ':=';
      const v = this.parseTermInfixCall();
      if (v === null) {
        if (isFunction) this.illegal(`expected function value term (e.g., ${refName}(...) := <VALUE> { ... })`);
        else if (isDefault) this.illegal(`expected default rule value term (e.g., default ${refName} := <VALUE>)`);
        else this.illegal(`expected rule value term (e.g., ${refName} := <VALUE> { ... })`);
      } else {
        head.value = v;
      }
    }

    if (head.value === undefined && head.key === undefined && (head.ref.length !== 2 || isFunction)) {
      head.generatedValue = true;
      head.value = trueTerm(loc);
    }
    return { head, usesContains: false };
  }

  /** validateDefaultRuleValue: a default value must be a constant (comprehensions aside). */
  private validateDefaultValue(rule: RuleDraft, at: Token): boolean {
    if (rule.head.value === undefined) {
      this.error(at, 'illegal default rule (must have a value)');
      return false;
    }
    let valid = true;
    const visit = (t: A.Term): void => {
      switch (t.type) {
        case 'ref':
        case 'var':
        case 'call':
          this.error(at, `illegal default rule (value cannot contain ${t.type})`);
          valid = false;
          return;
        case 'array':
        case 'set':
          t.items.forEach(visit);
          return;
        case 'object':
          for (const [k, v] of t.items) {
            visit(k);
            visit(v);
          }
          return;
        default:
          return; // scalars; comprehensions are closures and may use vars
      }
    };
    visit(rule.head.value);
    return valid;
  }

  /** validateDefaultRuleArgs: default function arguments are distinct vars. */
  private validateDefaultArgs(rule: RuleDraft, at: Token): boolean {
    const seen = new Set<string>();
    let valid = true;
    for (const a of rule.head.args ?? []) {
      if (a.type !== 'var') {
        this.error(at, `illegal default rule (arguments cannot contain ${a.type})`);
        valid = false;
      } else if (seen.has(a.name)) {
        this.error(at, `illegal default rule (arguments cannot be repeated ${a.name})`);
        valid = false;
      } else {
        seen.add(a.name);
      }
    }
    return valid;
  }

  /* ------------------------------------------------------------- bodies */

  private parseBody(end: TokenKind): A.Body | null {
    if (!this.enter()) return null;
    try {
      return this.parseQuery(false, end);
    } finally {
      this.leave();
    }
  }

  /**
   * parseQuery: literals separated by `;` or newlines up to `end`. At the
   * top level (requireSemi) one literal, or several joined by `;`.
   */
  private parseQuery(requireSemi: boolean, end: TokenKind): A.Body | null {
    if (this.kind() === end) {
      this.error(this.tok, 'found empty body');
      return null;
    }
    const body: A.Body = [];
    for (;;) {
      const expr = this.parseLiteral();
      if (expr === null) return null;
      body.push(expr);
      if (this.kind() === ';') {
        this.next();
        continue;
      }
      if (this.kind() === end || requireSemi) return body;
      if (!this.tok.nl) {
        // Only the first error: what follows a bad literal is noise.
        if (this.errors.length === 0) this.illegal(`expected \\n or ; or ${end}`);
        return null;
      }
    }
  }

  /** parseLiteral: [not] expr [with ...], some-decl or every. */
  private parseLiteral(): A.Expr | null {
    const start = this.pos;
    const expr = this.parseLiteralInner();
    if (expr !== null) expr.loc = this.loc(start);
    return expr;
  }

  private parseLiteralInner(): A.Expr | null {
    // A keyword touching `.` or `[` starts a ref (`not.x == 1`).
    if (this.atRefKeyword() && this.refFollows()) {
      this.asIdent = true;
      return this.parseLiteralExpr(false);
    }
    let negated = false;
    if (this.at('not')) {
      this.next();
      negated = true;
    }
    if (this.at('some')) {
      if (negated) {
        this.illegal("illegal negation of 'some'");
        return null;
      }
      return this.parseSome();
    }
    if (this.at('every')) {
      if (negated) {
        this.illegal("illegal negation of 'every'");
        return null;
      }
      return this.parseEvery();
    }
    return this.parseLiteralExpr(negated);
  }

  private parseLiteralExpr(negated: boolean): A.Expr | null {
    const s = this.version === 'v0' ? this.save() : undefined;
    const expr = this.parseExpr();
    if (expr === null) return null;
    expr.negated = negated;
    if (this.at('with')) {
      const withs = this.parseWith();
      if (withs === null) return null;
      expr.with = withs;
    }
    // v0 without `every` imported: a lone `every` var that would parse as
    // an every expression gets a hint on the error that follows.
    if (s !== undefined && !this.isKeyword('every') && expr.kind === 'term' && expr.term.type === 'var' && expr.term.name === 'every') {
      const after = this.save();
      this.restore(s);
      const ok = this.withAllKeywords(() => this.parseEvery() !== null);
      this.restore(after);
      if (ok) this.hint('`import future.keywords.every` for `every x in xs { ... }` expressions');
    }
    return expr;
  }

  /** Runs `f` with every future keyword on (OPA's futureParser), for hints. */
  private withAllKeywords<T>(f: () => T): T {
    const kws = this.keywords;
    this.setKeywords(new Set(V1_KEYWORDS));
    try {
      return f();
    } finally {
      this.setKeywords(kws);
    }
  }

  private parseWith(): A.With[] | null {
    const withs: A.With[] = [];
    for (;;) {
      const loc = this.loc();
      this.next();
      if (!this.atIdent()) {
        this.illegal('expected ident');
        return null;
      }
      const target = this.parseTerm();
      if (target === null) return null;
      if (target.type !== 'ref' && target.type !== 'var') this.illegal('expected with target path');
      if (!this.at('as')) {
        this.illegal('expected as keyword');
        return null;
      }
      this.next();
      const value = this.parseTermInfixCall();
      if (value === null) return null;
      withs.push({ type: 'with', target, value, loc });
      if (!this.at('with')) return withs;
    }
  }

  /** parseSome: `some x in xs`, `some k, v in xs`, or `some x, y, z`. */
  private parseSome(): A.Expr | null {
    const loc = this.loc();
    const s = this.save();
    this.next();
    const term = this.parseTermInfixCall();
    if (term !== null && term.type === 'call') {
      const op = termString(term.operator);
      if (op === MEMBER_2 || op === MEMBER_3) {
        if (term.args.length !== (op === MEMBER_2 ? 2 : 3)) {
          this.illegal('illegal domain');
          return null;
        }
      } else {
        this.illegal('expected `x in xs` or `x, y in xs` expression');
        return null;
      }
      const expr: A.SomeExpr = { type: 'expr', kind: 'some', symbols: [term], negated: false, with: [], loc };
      if (this.at('with')) {
        const withs = this.parseWith();
        if (withs === null) return null;
        expr.with = withs;
      }
      return expr;
    }
    this.restore(s);

    // v0 without `in`: hint if this would have been `some x in xs`.
    if (this.version === 'v0' && !this.isKeyword('in')) {
      const before = this.save();
      this.next();
      const hinted = this.withAllKeywords(() => {
        const t = this.parseTermInfixCall();
        return t !== null && t.type === 'call' && [MEMBER_2, MEMBER_3].includes(termString(t.operator));
      });
      this.restore(before);
      if (hinted) this.hint('`import future.keywords.in` for `some x in xs` expressions');
    }

    const symbols: A.Term[] = [];
    for (;;) {
      this.next();
      if (!this.atIdent()) {
        this.illegal('expected var');
        return null;
      }
      symbols.push(this.parseVar());
      this.next();
      if (this.kind() !== ',') break;
    }
    return { type: 'expr', kind: 'some', symbols, negated: false, with: [], loc };
  }

  /** parseEvery: `every [k,] v in domain { body }` (key and value are vars). */
  private parseEvery(): A.Expr | null {
    const loc = this.loc();
    this.next();
    const term = this.parseTermInfixCall();
    if (term === null) return null;
    if (term.type !== 'call') {
      this.illegal('expected `x[, y] in xs { ... }` expression');
      return null;
    }
    const op = termString(term.operator);
    let key: A.Term | undefined;
    let value: A.Term;
    let domain: A.Term;
    if (op === MEMBER_2) {
      if (term.args.length !== 2) {
        this.illegal('illegal domain');
        return null;
      }
      [value, domain] = term.args as [A.Term, A.Term];
    } else if (op === MEMBER_3) {
      if (term.args.length !== 3) {
        this.illegal('illegal domain');
        return null;
      }
      [key, value, domain] = term.args as [A.Term, A.Term, A.Term];
      if (key.type !== 'var') {
        this.illegal('expected key to be a variable');
        return null;
      }
    } else {
      this.illegal('expected `x[, y] in xs { ... }` expression');
      return null;
    }
    if (value.type !== 'var') {
      this.illegal('expected value to be a variable');
      return null;
    }
    if (this.kind() !== '{') {
      this.illegal('missing body');
      return null;
    }
    this.next();
    const body = this.parseBody('}');
    if (body === null) return null;
    this.next();
    const expr: A.EveryExpr = { type: 'expr', kind: 'every', value, domain, body, negated: false, with: [], loc };
    if (key !== undefined) expr.key = key;
    if (this.at('with')) {
      const withs = this.parseWith();
      if (withs === null) return null;
      expr.with = withs;
    }
    return expr;
  }

  /** parseExpr: `lhs (= | :=) rhs`, a call, or a term. */
  private parseExpr(): A.Expr | null {
    const lhs = this.parseTermInfixCall();
    if (lhs === null) return null;
    if (this.kind() === '=' || this.kind() === ':=') {
      const op = this.operatorRef(this.kind() === '=' ? 'eq' : 'assign');
      this.next();
      const rhs = this.parseTermInfixCall();
      if (rhs === null) return null;
      return { type: 'expr', kind: 'call', operator: op, args: [lhs, rhs], negated: false, with: [], loc: lhs.loc };
    }
    // A call at the top of an expression is the expression's own term list.
    if (lhs.type === 'call') {
      return { type: 'expr', kind: 'call', operator: lhs.operator, args: lhs.args, negated: false, with: [], loc: lhs.loc };
    }
    return { type: 'expr', kind: 'term', term: lhs, negated: false, with: [], loc: lhs.loc };
  }

  /* ---------------------------------------------------- operator terms */

  private parseTermInfixCall(): A.Term | null {
    if (!this.enter()) return null;
    try {
      return this.parseTermIn(null, true);
    } finally {
      this.leave();
    }
  }

  /** in lists and arguments, where `,` separates items, `k, v in xs` is off */
  private parseTermInfixCallInList(): A.Term | null {
    if (!this.enter()) return null;
    try {
      return this.parseTermIn(null, false);
    } finally {
      this.leave();
    }
  }

  /** parseTermIn: `x in xs`, and `k, v in xs` when keyVal is on. */
  private parseTermIn(lhs: A.Term | null, keyVal: boolean): A.Term | null {
    if (!this.enter()) return null;
    try {
      lhs ??= this.parseTermRelation();
      if (lhs === null) return null;
      if (keyVal && this.kind() === ',') {
        const s = this.save();
        this.next();
        const mhs = this.parseTermRelation();
        if (mhs !== null && this.at('in')) {
          const op = this.memberRef(MEMBER_3);
          this.next();
          const rhs = this.parseTermRelation();
          if (rhs !== null) {
            const call = callTerm(op, [lhs, mhs, rhs], lhs.loc);
            return this.at('in') ? this.parseTermIn(call, keyVal) : call;
          }
        }
        this.restore(s);
      }
      this.keywordStartsRef();
      if (this.at('in')) {
        const op = this.memberRef(MEMBER_2);
        this.next();
        const rhs = this.parseTermRelation();
        if (rhs !== null) {
          const call = callTerm(op, [lhs, rhs], lhs.loc);
          return this.at('in') ? this.parseTermIn(call, keyVal) : call;
        }
      }
      return lhs;
    } finally {
      this.leave();
    }
  }

  /**
   * The binary operators above `in` (parseTermRelation down to
   * parseTermFactor in OPA, one function per level), by precedence
   * climbing: operands bind to the operator of higher precedence, equal
   * precedence associates left. As in OPA, an operand that fails after an
   * operator leaves the left side as the result (the error is recorded).
   */
  private parseTermRelation(minPrec = 1): A.Term | null {
    if (!this.enter()) return null;
    try {
      let left = this.parseTerm();
      while (left !== null) {
        const prec = PRECEDENCE[this.kind()];
        if (prec === undefined || prec < minPrec) break;
        const op = this.operatorRef(TOKEN_NAMES[this.kind()]!);
        this.next();
        const right = this.parseTermRelation(prec + 1);
        if (right === null) break;
        left = callTerm(op, [left, right], left.loc);
      }
      return left;
    } finally {
      this.leave();
    }
  }

  private operatorRef(name: string): A.RefTerm {
    const loc = this.loc();
    return { type: 'ref', head: { type: 'var', name, loc }, path: [], loc };
  }

  private memberRef(name: typeof MEMBER_2 | typeof MEMBER_3): A.RefTerm {
    const loc = this.loc();
    return {
      type: 'ref',
      head: { type: 'var', name: 'internal', loc },
      path: [{ type: 'string', value: name.slice('internal.'.length), loc }],
      loc,
    };
  }

  /* -------------------------------------------------------------- terms */

  /**
   * parseTerm: a scalar, var, composite, comprehension or parenthesised
   * expression, then any ref/call continuation. Memoised by position, as
   * OPA's parsedTermCache, because the backtracking around sets, objects and
   * `if` bodies may parse the same term several times.
   */
  private parseTerm(): A.Term | null {
    if (!this.enter()) return null;
    try {
      // Scalars, vars and refs are cheap to parse again; only terms that
      // open a bracket are worth remembering.
      const k = this.kind();
      if (k !== '[' && k !== '{' && k !== '(') return this.parseTermFinish(this.parseOperand());
      const hit = this.cache.get(this.pos);
      if (hit !== undefined && hit.gen === this.kwGen && hit.asIdent === this.asIdent && hit.wildcard === this.wildcard) {
        this.pos = hit.pos;
        this.tok = this.toks[hit.pos]!;
        this.asIdent = hit.asIdentAfter;
        this.wildcard = hit.wildcardAfter;
        this.errors.push(...hit.errors);
        return hit.term;
      }
      const startPos = this.pos;
      const startAsIdent = this.asIdent;
      const startWildcard = this.wildcard;
      const startErrors = this.errors.length;
      const startHints = this.hints;

      const term = this.parseTermFinish(this.parseOperand());

      // Hints are rare and contextual: a parse that used or made one is not reused.
      if (this.hints === startHints) {
        this.cache.set(startPos, {
          gen: this.kwGen,
          asIdent: startAsIdent,
          wildcard: startWildcard,
          term,
          pos: this.pos,
          asIdentAfter: this.asIdent,
          wildcardAfter: this.wildcard,
          errors: this.errors.slice(startErrors),
        });
      }
      return term;
    } finally {
      this.leave();
    }
  }

  /** The term at the current token, leaving the current token on its last token. */
  private parseOperand(): A.Term | null {
    const t = this.tok;
    switch (t.kind) {
      case 'ident':
        if (this.asIdent || !this.keywords.has(t.text)) return this.parseVar();
        if (t.text === 'null') return { type: 'null', loc: this.loc() };
        if (t.text === 'true' || t.text === 'false') return { type: 'boolean', value: t.text === 'true', loc: this.loc() };
        // `contains` is a keyword only in rule heads; elsewhere it is the
        // builtin's name (parseTerm: tokens.Contains).
        if (t.text === 'contains') return this.parseVar();
        this.illegal();
        return null;
      case 'number':
      case '-':
      case '.':
        return this.parseNumber();
      case 'string':
        return this.parseString();
      case 'tpart':
        return this.parseTemplate();
      case '[':
        return this.parseArray();
      case '{':
        return this.parseSetOrObject();
      case '(': {
        this.next();
        const inner = this.parseTermInfixCall();
        if (inner === null) return null;
        if (this.kind() !== ')') {
          this.error(this.tok, 'non-terminated expression');
          return null;
        }
        return inner;
      }
      default:
        this.illegal();
        return null;
    }
  }

  /** parseTermFinish: step past the term; `.`, `[` or `(` touching it continue it. */
  private parseTermFinish(head: A.Term | null): A.Term | null {
    if (head === null) return null;
    this.next();
    if (!this.tok.ws && (this.kind() === '(' || this.kind() === '.' || this.kind() === '[')) {
      return this.parseRef(head);
    }
    if (head.type === 'var' && ROOT_DOCUMENTS.has(head.name)) return { type: 'ref', head, path: [], loc: head.loc };
    return head;
  }

  private parseVar(): A.VarTerm {
    const loc = this.loc();
    if (this.tok.text === '_') return { type: 'var', name: this.genWildcard(), loc };
    return { type: 'var', name: this.tok.text, loc };
  }

  private genWildcard(): string {
    return `$${this.wildcard++}`;
  }

  private freshWildcard(t: A.Term): A.Term {
    return t.type === 'var' && t.name.startsWith('$') ? { ...t, name: this.genWildcard() } : t;
  }

  /**
   * parseRef: path elements and calls after a term, starting at the `.`,
   * `[` or `(` that touches it; on return the current token follows the ref.
   */
  private parseRef(head: A.Term): A.Term | null {
    if (!this.enter()) return null;
    try {
      switch (head.type) {
        case 'var':
        case 'array':
        case 'object':
        case 'set':
        case 'arraycomprehension':
        case 'objectcomprehension':
        case 'setcomprehension':
        case 'call':
          break;
        default:
          this.errorAtLoc(head.loc, `illegal ref (head cannot be ${head.type})`);
      }
      const path: A.Term[] = [];
      for (;;) {
        switch (this.kind()) {
          case '.': {
            const dot = this.tok;
            this.next();
            if (this.tok.ws) {
              // OPA sees the whitespace token itself here.
              this.error(this.whitespaceAfter(dot), 'unexpected whitespace token: expected identifier');
              return null;
            }
            if (this.kind() !== 'ident') {
              this.illegal('expected identifier');
              return null;
            }
            path.push({ type: 'string', value: this.tok.text, loc: this.loc() });
            this.next();
            break;
          }
          case '(': {
            let term = this.parseCall({ type: 'ref', head, path, loc: head.loc });
            if (term !== null && !this.tok.ws && (this.kind() === '.' || this.kind() === '[')) {
              term = this.parseRef(term);
            }
            return term;
          }
          case '[': {
            this.next();
            const el = this.parseTermInfixCall();
            if (el === null) return null;
            if (this.kind() !== ']') {
              // sic: OPA's message names the opening bracket
              this.illegal('expected [');
              return null;
            }
            path.push(el);
            this.next();
            break;
          }
          default:
            return { type: 'ref', head, path, loc: head.loc };
        }
        if (this.tok.ws) return { type: 'ref', head, path, loc: head.loc };
      }
    } finally {
      this.leave();
    }
  }

  /** Where OPA's whitespace token after `dot` would be. */
  private whitespaceAfter(dot: Token): { row: number; col: number; offset: number } {
    const c = this.source.charCodeAt(dot.offset + 1);
    // A newline character is at column 0 of the next row in OPA's scanner.
    if (c === 10 || c === 35) return { row: dot.row + 1, col: 0, offset: dot.offset + 1 };
    return { row: dot.row, col: dot.col + 1, offset: dot.offset + 1 };
  }

  /** parseCall: arguments after `(`; `set()` is the empty set. Ends past `)`. */
  private parseCall(operator: A.RefTerm): A.Term | null {
    if (!this.enter()) return null;
    try {
      this.next();
      if (this.kind() === ')') {
        this.next();
        if (operator.head.type === 'var' && operator.head.name === 'set' && operator.path.length === 0) {
          return { type: 'set', items: [], loc: operator.loc };
        }
        return callTerm(operator, [], operator.loc);
      }
      const args = this.parseTermList(')', []);
      if (args === null) return null;
      this.next();
      return callTerm(operator, args, operator.loc);
    } finally {
      this.leave();
    }
  }

  /** parseNumber: `-` and a leading `.` are part of a number literal. */
  private parseNumber(): A.Term | null {
    const loc = this.loc();
    let prefix = '';
    if (this.kind() === '-') {
      prefix = '-';
      this.next();
      if (this.kind() !== 'number' && this.kind() !== '.') {
        this.illegal('expected number');
        return null;
      }
    }
    if (this.kind() === '.') {
      prefix += '.';
      this.next();
      if (this.kind() !== 'number') {
        this.illegal('expected number');
        return null;
      }
    }
    const lit = this.tok.text;
    if (!prefix.endsWith('.') && lit.length > 1 && lit[0] === '0') {
      const decimal = lit[1] === '.';
      const scientific = lit.length > 2 && (lit[1] === 'e' || lit[1] === 'E');
      if (!decimal && !scientific) {
        this.illegal('expected number without leading zero');
        return null;
      }
    }
    let text = prefix + lit;
    const range = numberRange(text);
    if (range === 'invalid') {
      this.illegal('invalid float');
      return null;
    }
    if (range === 'too big') {
      this.error(this.tok, 'number too big');
      return null;
    }
    if (text.startsWith('.')) text = `0${text}`;
    else if (text.startsWith('-.')) text = `-0${text.slice(1)}`;
    return { type: 'number', text, value: Number(text), loc };
  }

  /** template strings' comprehension vars, numbered apart from the user's (`__` names are the compiler's) */
  private templateVars = 0;

  /**
   * A template string (OPA >= 1.11): `$"text {expr} text"` or the same
   * backquoted, several lines long. Each `{expr}` (a term, with `with`
   * modifiers if any) becomes the set of its values, `{__t | __t = expr}`,
   * and the whole the call internal.template_string([pieces…]): a string
   * is put in as it is, another value as OPA writes it, none as
   * `<undefined>` (builtins.c busted_template_string). Leaves the current
   * token on the template's last piece.
   */
  private parseTemplate(): A.Term | null {
    const loc = this.loc();
    const first = this.tok;
    if (first.tmpl === undefined || !first.tmpl.first) {
      this.illegal('unexpected } in template string');
      return null;
    }
    const parts: A.Term[] = [];
    for (let piece = first; ; ) {
      const t = piece.tmpl!;
      const text = piece.text.slice(t.first ? 2 : 1, piece.text.length - 1);
      const value = t.raw ? text.replace(/\\\{/g, '{') : decodeString(`"${text.replace(/\\(.)/g, (m, c: string) => (c === '{' ? '{' : m))}"`);
      if (value === undefined) {
        this.error(piece, `illegal template string literal: ${piece.text}`);
        return null;
      }
      if (value !== '') parts.push({ type: 'string', value, loc: this.loc() });
      if (!t.more) break;
      this.next();
      const exprLoc = this.loc();
      const term = this.parseTermInfixCall();
      if (term === null) return null;
      const withs = this.at('with') ? this.parseWith() : [];
      if (withs === null) return null;
      if (this.kind() !== 'tpart' || this.tok.tmpl?.first !== false) {
        this.illegal('expected } after template expression');
        return null;
      }
      const v: A.VarTerm = { type: 'var', name: `__tmpl${this.templateVars++}__`, loc: exprLoc };
      const body: A.Body = [{ type: 'expr', kind: 'call', operator: this.operatorRef('eq'), args: [v, term], negated: false, with: withs, loc: exprLoc }];
      parts.push({ type: 'setcomprehension', term: v, body, loc: exprLoc });
      piece = this.tok;
    }
    const op: A.RefTerm = { type: 'ref', head: { type: 'var', name: 'internal', loc }, path: [{ type: 'string', value: 'template_string', loc }], loc };
    return callTerm(op, [{ type: 'array', items: parts, loc }], loc);
  }

  private parseString(): A.Term | null {
    const t = this.tok;
    if (t.text.startsWith('`')) return { type: 'string', value: t.text.slice(1, -1), loc: this.loc() };
    const value = decodeString(t.text);
    if (value === undefined) {
      this.error(t, `illegal string literal: ${t.text}`);
      return null;
    }
    return { type: 'string', value, loc: this.loc() };
  }

  /** parseArray: `[]`, `[a, b,]`, or `[term | body]`. Ends on `]`. */
  private parseArray(): A.Term | null {
    if (!this.enter()) return null;
    try {
      const loc = this.loc();
      this.next();
      if (this.kind() === ']') return { type: 'array', items: [], loc };
      // A leading comma (`[, a]`) is accepted for compatibility, but rules
      // out a comprehension.
      let maybeComprehension = true;
      if (this.kind() === ',') {
        maybeComprehension = false;
        this.next();
      }
      const s = this.save();
      // A plain term first: `[a | b]` is a comprehension, not `or(a, b)`.
      const head = this.parseTerm();
      if (head === null) return null;
      switch (this.kind()) {
        case ']':
          return { type: 'array', items: [head], loc };
        case ',': {
          this.next();
          const items = this.parseTermList(']', [head]);
          return items === null ? null : { type: 'array', items, loc };
        }
        case '|':
          if (maybeComprehension) {
            this.next();
            const body = this.parseBody(']');
            if (body !== null) return { type: 'arraycomprehension', term: head, body, loc };
            if (this.kind() !== ',') return null;
          }
          break;
      }
      this.restore(s);
      const items = this.parseTermList(']', []);
      return items === null ? null : { type: 'array', items, loc };
    } finally {
      this.leave();
    }
  }

  /** parseSetOrObject: `{}` (object), `{a, b}`, `{k: v}`, `{x | body}`, `{k: v | body}`. Ends on `}`. */
  private parseSetOrObject(): A.Term | null {
    if (!this.enter()) return null;
    try {
      const loc = this.loc();
      this.next();
      if (this.kind() === '}') return { type: 'object', items: [], loc };
      let maybeComprehension = true;
      if (this.kind() === ',') {
        maybeComprehension = false;
        this.next();
      }
      const s = this.save();
      let head = this.parseTerm();
      if (head === null) return null;
      switch (this.kind()) {
        case '|':
          if (maybeComprehension) return this.parseSet(s, head, true, loc);
          break;
        case '}':
        case ',':
          return this.parseSet(s, head, maybeComprehension, loc);
        case ':':
          return this.parseObject(head, maybeComprehension, loc);
      }
      this.restore(s);
      head = this.parseTermInfixCallInList();
      if (head === null) return null;
      switch (this.kind()) {
        case '}':
        case ',':
          return this.parseSet(s, head, false, loc);
        case ':':
          return this.parseObject(head, maybeComprehension, loc);
      }
      this.illegal('non-terminated set');
      return null;
    } finally {
      this.leave();
    }
  }

  private parseSet(s: Saved, head: A.Term, maybeComprehension: boolean, loc: A.Location): A.Term | null {
    if (!this.enter()) return null;
    try {
      switch (this.kind()) {
        case '}':
          return { type: 'set', items: [head], loc };
        case ',': {
          this.next();
          const items = this.parseTermList('}', [head]);
          return items === null ? null : { type: 'set', items, loc };
        }
        case '|': {
          if (maybeComprehension) {
            this.next();
            const body = this.parseBody('}');
            if (body !== null) return { type: 'setcomprehension', term: head, body, loc };
            if (this.kind() !== ',') return null;
          }
          this.restore(s);
          const items = this.parseTermList('}', []);
          return items === null ? null : { type: 'set', items, loc };
        }
      }
      return null;
    } finally {
      this.leave();
    }
  }

  private parseObject(key: A.Term, maybeComprehension: boolean, loc: A.Location): A.Term | null {
    if (!this.enter()) return null;
    try {
      this.next(); // past ':'
      const s = this.save();
      // The value as a plain term first, for `{k: v | body}`.
      const v = this.parseTerm();
      if (v === null) return null;
      let maybeRelation = true;
      if (maybeComprehension) {
        if (this.kind() === '}' || this.kind() === ',') {
          maybeRelation = false;
          const t = this.parseObjectFinish(key, v, true, loc);
          if (t !== null) return t;
        } else if (this.kind() === '|') {
          const t = this.parseObjectFinish(key, v, true, loc);
          if (t !== null) return t;
        }
      }
      this.restore(s);
      if (maybeRelation) {
        const v2 = this.parseTermInfixCallInList();
        if (v2 === null) return null;
        if (this.kind() === '}' || this.kind() === ',') return this.parseObjectFinish(key, v2, false, loc);
      }
      this.illegal('non-terminated object');
      return null;
    } finally {
      this.leave();
    }
  }

  private parseObjectFinish(key: A.Term, value: A.Term, maybeComprehension: boolean, loc: A.Location): A.Term | null {
    if (!this.enter()) return null;
    try {
      switch (this.kind()) {
        case '}':
          return { type: 'object', items: [[key, value]], loc };
        case '|':
          if (maybeComprehension) {
            this.next();
            const body = this.parseBody('}');
            if (body !== null) return { type: 'objectcomprehension', key, value, body, loc };
          } else {
            this.illegal('non-terminated object');
          }
          return null;
        case ',': {
          this.next();
          const items = this.parseTermPairList('}', [[key, value]]);
          return items === null ? null : { type: 'object', items, loc };
        }
      }
      return null;
    } finally {
      this.leave();
    }
  }

  /** parseTermList: items up to `end`, a trailing comma allowed. Ends on `end`. */
  private parseTermList(end: TokenKind, items: A.Term[]): A.Term[] | null {
    if (this.kind() === end) return items;
    for (;;) {
      const t = this.parseTermInfixCallInList();
      if (t === null) return null;
      items.push(t);
      if (this.kind() === end) return items;
      if (this.kind() !== ',') {
        this.illegal(`expected "," or "${end}"`);
        return null;
      }
      this.next();
      if (this.kind() === end) return items;
    }
  }

  private parseTermPairList(end: TokenKind, items: Array<[A.Term, A.Term]>): Array<[A.Term, A.Term]> | null {
    if (this.kind() === end) return items;
    for (;;) {
      const k = this.parseTermInfixCallInList();
      if (k === null) return null;
      if (this.kind() !== ':') {
        this.illegal('expected ":"');
        return null;
      }
      this.next();
      const v = this.parseTermInfixCallInList();
      if (v === null) return null;
      items.push([k, v]);
      if (this.kind() === end) return items;
      if (this.kind() !== ',') {
        this.illegal(`expected "," or "${end}"`);
        return null;
      }
      this.next();
      if (this.kind() === end) return items;
    }
  }

  private trueExpr(loc: A.Location): A.Expr {
    return { type: 'expr', kind: 'term', term: trueTerm(loc), negated: false, with: [], loc };
  }

  /* ------------------------------------------------------------- module */

  /** parseModule (parser_ext.go): package first, bare expressions become rules, v1 checks. */
  buildModule(stmts: Statement[]): A.Module | undefined {
    if (stmts.length === 0) {
      this.errors.push({ row: 0, col: 0, offset: -1, message: 'empty module' });
      return undefined;
    }
    const first = stmts[0]!;
    let pkg: A.Package | undefined;
    if (first.kind === 'package') pkg = first.node;
    else this.errorAtLoc(stmtLoc(first), 'package expected');

    const imports: A.Import[] = [];
    const drafts: RuleDraft[] = [];
    for (const st of stmts.slice(1)) {
      switch (st.kind) {
        case 'import':
          imports.push(st.node);
          break;
        case 'rule':
          drafts.push(st.rule);
          break;
        case 'body': {
          const r = ruleFromBody(st.body);
          if (typeof r === 'string') this.errorAtLoc(st.body[0]!.loc, r);
          else drafts.push(r);
          break;
        }
        case 'package':
          this.errorAtLoc(st.node.loc, 'unexpected package');
          break;
      }
    }

    const regoVersion: A.RegoVersion = this.version === 'v1' ? 'v1' : this.regoV1Imported ? 'v0v1' : 'v0';
    const rules = drafts.map(finishRule);
    if (regoVersion !== 'v0') {
      for (const rule of rules) for (const r of [rule, ...rule.else]) this.checkRegoV1(r);
    }
    if (pkg === undefined || this.errors.length > 0) return undefined;
    return { type: 'module', file: this.file, package: pkg, imports, rules, comments: this.comments, regoVersion };
  }

  /** checkRegoV1Rule (rego_v1.go): what Rego v1 rejects in a rule that v0 accepted. */
  private checkRegoV1(rule: A.Rule): void {
    const what = rule.kind === 'function' ? 'function' : 'rule';
    const h = rule.head;
    if (h.ref.path.length === 0 && h.ref.head.type === 'var' && V1_KEYWORDS.has(h.ref.head.name)) {
      this.errorAtLoc(rule.loc, `${h.ref.head.name} keyword cannot be used for rule name`);
    }
    if (rule.generatedBody && h.generatedValue) {
      this.errorAtLoc(rule.loc, `${what} must have value assignment and/or body declaration`);
    }
    if (!rule.generatedBody && !h.ifKeyword && !rule.default) {
      this.errorAtLoc(rule.loc, `\`if\` keyword is required before ${what} body`);
    }
    if (h.value === undefined && !h.contains) {
      this.errorAtLoc(rule.loc, '`contains` keyword is required for partial set rules');
    }
  }
}

/**
 * Binary operators by precedence, lowest first (parseTermRelation,
 * parseTermOr, parseTermAnd, parseTermArith, parseTermFactor in OPA);
 * `in` is below all of them (parseTermIn), `=` and `:=` are not operators
 * of terms at all (parseExpr).
 */
const PRECEDENCE: Partial<Record<TokenKind, number>> = {
  '==': 1, '!=': 1, '<': 1, '>': 1, '<=': 1, '>=': 1,
  '|': 2,
  '&': 3,
  '+': 4, '-': 4,
  '*': 5, '/': 5, '%': 5,
};

/* ------------------------------------------------------ rules from bodies */

/**
 * ParseRuleFromBody / ParseRuleFromExpr: a top-level expression without a
 * body defines a rule (`p := 1`, `p[x] = 1`, `f(x) := x`, `p.q`, `p.q.r`),
 * or is an error message.
 */
function ruleFromBody(body: A.Body): RuleDraft | string {
  if (body.length !== 1) return 'multiple expressions cannot be used for rule head';
  const expr = body[0]!;
  if (expr.with.length > 0) return 'expressions using with keyword cannot be used for rule head';
  if (expr.negated) return 'negated expressions cannot be used for rule head';
  if (expr.kind === 'some') return "'some' declarations cannot be used for rule head";
  if (expr.kind === 'every') return 'expression cannot be used for rule head';

  if (expr.kind === 'term') {
    const t = expr.term;
    if (t.type !== 'ref') return `${t.type} cannot be used for rule name`;
    if (t.head.type !== 'var') return `invalid rule head: ${termString(t)}`;
    if (t.path.length >= 2) {
      // `a.b.c`: the complete rule a.b.c := true, with neither value nor
      // body written (which Rego v1 then rejects).
      const head = newHead(t.loc, [t.head, ...t.path]);
      head.value = trueTerm(t.loc);
      head.generatedValue = true;
      return generatedRule(t.loc, head);
    }
    if (t.path.length === 0) return 'refs cannot be used for rule head';
    // `p.q` / `p[x]`: the multi-value rule p with element q / x.
    const head = newHead(t.loc, [t.head]);
    head.key = t.path[0];
    return generatedRule(t.loc, head);
  }

  const op = termString(expr.operator);
  if ((op === 'eq' || op === 'assign') && expr.args.length === 2) {
    const [lhs, rhs] = expr.args as [A.Term, A.Term];
    const r = ruleFromEq(lhs, rhs, expr.loc);
    if (typeof r !== 'string' && op === 'assign') r.head.assign = ':=';
    return r;
  }
  // OPA rejects every builtin name here; only the operators' names are
  // known to the parser (the rest is the checker's business).
  if (OPERATOR_BUILTINS.has(op) || op === MEMBER_2 || op === MEMBER_3) return 'rule name conflicts with built-in function';
  // `f(x)`: the function f(x) := true.
  if (expr.args.length === 0) return 'rule argument list must take at least one argument';
  if (expr.operator.head.type !== 'var') return `invalid rule head: ${termString(expr.operator)}`;
  const head = newHead(expr.operator.loc, [expr.operator.head, ...expr.operator.path]);
  head.args = expr.args;
  head.value = trueTerm(expr.operator.loc);
  return generatedRule(expr.operator.loc, head);
}

/** parseCompleteRuleFromEq: `f(x) = v`, `p[k] = v` / `a.b = v`, or `p = v`. */
function ruleFromEq(lhs: A.Term, rhs: A.Term, loc: A.Location): RuleDraft | string {
  let head: HeadDraft;
  if (lhs.type === 'call' && lhs.operator.head.type === 'var') {
    head = newHead(loc, [lhs.operator.head, ...lhs.operator.path]);
    head.args = lhs.args;
  } else if (lhs.type === 'ref') {
    if (lhs.head.type !== 'var') return `invalid rule head: ${termString(lhs)}`;
    head = newHead(loc, [lhs.head, ...lhs.path]);
    // backcompat: `p[k] = v` names its key
    if (lhs.path.length === 1) head.key = lhs.path[0];
  } else if (lhs.type === 'var') {
    head = newHead(loc, [lhs]);
  } else {
    return `${lhs.type} cannot be used for rule name`;
  }
  head.value = rhs;
  head.assign = '=';
  const rule = generatedRule(loc, head);
  rule.body = [{ type: 'expr', kind: 'term', term: trueTerm(rhs.loc), negated: false, with: [], loc: rhs.loc }];
  return rule;
}

function newHead(loc: A.Location, ref: A.Term[]): HeadDraft {
  return {
    loc,
    ref,
    args: undefined,
    key: undefined,
    value: undefined,
    generatedValue: false,
    assign: undefined,
    contains: false,
    ifKeyword: false,
  };
}

function generatedRule(loc: A.Location, head: HeadDraft): RuleDraft {
  return {
    loc,
    isDefault: false,
    head,
    body: [{ type: 'expr', kind: 'term', term: trueTerm(loc), negated: false, with: [], loc }],
    generatedBody: true,
    else: undefined,
  };
}

/* --------------------------------------------------------------- helpers */

function stmtLoc(st: Statement): A.Location {
  switch (st.kind) {
    case 'package':
    case 'import':
      return st.node.loc;
    case 'rule':
      return st.rule.loc;
    case 'body':
      return st.body[0]!.loc;
  }
}

function trueTerm(loc: A.Location): A.BooleanTerm {
  return { type: 'boolean', value: true, loc };
}

function callTerm(operator: A.RefTerm, args: A.Term[], loc: A.Location): A.CallTerm {
  return { type: 'call', operator, args, loc };
}

function refOf(ref: A.Term[], loc: A.Location): A.RefTerm {
  return { type: 'ref', head: ref[0]!, path: ref.slice(1), loc };
}

/** A copy of a head whose term lists can change independently (terms are shared: they are never mutated). */
function cloneHead(h: HeadDraft): HeadDraft {
  return { ...h, ref: [...h.ref], args: h.args === undefined ? undefined : [...h.args] };
}

/** A deep copy of plain AST data. */
function deepCopy<T>(x: T): T {
  if (Array.isArray(x)) return x.map(deepCopy) as T;
  if (typeof x === 'object' && x !== null) {
    const o: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(x)) o[k] = deepCopy(v);
    return o as T;
  }
  return x;
}

/** setLocRecursive: a copied head (for `p { a } { b }`) is located at its body. */
function relocate<T>(x: T, loc: A.Location): T {
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) {
      v.forEach(walk);
    } else if (typeof v === 'object' && v !== null) {
      const o = v as Record<string, unknown>;
      if ('loc' in o) o.loc = { ...loc };
      for (const [k, child] of Object.entries(o)) if (k !== 'loc') walk(child);
    }
  };
  walk(x);
  return x;
}

/** A term without variables (Term.IsGround); refs and calls are ground only if all their parts are. */
export function isGround(t: A.Term): boolean {
  switch (t.type) {
    case 'null':
    case 'boolean':
    case 'number':
    case 'string':
      return true;
    case 'var':
      return false;
    case 'ref':
      return isGround(t.head) && t.path.every(isGround);
    case 'array':
    case 'set':
      return t.items.every(isGround);
    case 'object':
      return t.items.every(([k, v]) => isGround(k) && isGround(v));
    case 'call':
      return isGround(t.operator) && t.args.every(isGround);
    case 'arraycomprehension':
    case 'setcomprehension':
    case 'objectcomprehension':
      return false;
  }
}

function finishRule(d: RuleDraft): A.Rule {
  const chain: A.Rule[] = [];
  for (let e = d.else; e !== undefined; e = e.else) chain.push(toRule(e, d.head));
  const rule = toRule(d, d.head);
  rule.else = chain;
  return rule;
}

function toRule(d: RuleDraft, primary: HeadDraft): A.Rule {
  const h = d.head;
  const head: A.Head = {
    type: 'head',
    ref: refOf(h.ref, h.loc),
    generatedValue: h.generatedValue,
    contains: h.contains,
    ifKeyword: h.ifKeyword,
    loc: h.loc,
  };
  if (h.args !== undefined && h.args.length > 0) head.args = h.args;
  if (h.key !== undefined) head.key = h.key;
  if (h.value !== undefined) head.value = h.value;
  if (h.assign !== undefined) head.assign = h.assign;
  return {
    type: 'rule',
    kind: ruleKind(primary, h),
    default: d.isDefault,
    head,
    body: d.body,
    generatedBody: d.generatedBody,
    else: [],
    loc: d.loc,
  };
}

function ruleKind(primary: HeadDraft, h: HeadDraft): A.RuleKind {
  if (primary.args !== undefined && primary.args.length > 0) return 'function';
  if (h.value === undefined) return 'partial_set';
  if (!h.ref.slice(1).every(isGround)) return 'partial_object';
  return 'complete';
}

/**
 * Whether a number literal is within what OPA accepts (parseNumber): Go's
 * big.Float rejects exponents beyond int32, and OPA rejects values whose
 * binary exponent is beyond ±1e5 (or that overflow to infinity).
 */
function numberRange(text: string): 'ok' | 'invalid' | 'too big' {
  if (text.length < 16 && !/[eE]/.test(text)) return 'ok';
  const m = /^-?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (m === null) return 'invalid';
  const intPart = m[1] ?? '';
  const frac = m[2] ?? '';
  const exp = m[3] === undefined ? 0 : Number(m[3]);
  if (!Number.isFinite(exp) || Math.abs(exp) > 2147483647) return 'invalid';
  const digits = (intPart + frac).replace(/^0+/, '');
  if (digits === '') return 'ok'; // zero
  // decimal exponent of the leading digit, then to binary
  const lead = intPart.replace(/^0+/, '').length > 0 ? intPart.replace(/^0+/, '').length - 1 : -(frac.length - frac.replace(/^0+/, '').length) - 1;
  const binary = (lead + exp) * Math.log2(10);
  if (binary > 1e5 || binary < -1e5) return 'too big';
  return 'ok';
}

/** A term as OPA prints it in messages (Term.String), enough for refs and calls. */
function termString(t: A.Term): string {
  switch (t.type) {
    case 'null':
      return 'null';
    case 'boolean':
      return String(t.value);
    case 'number':
      return t.text;
    case 'string':
      return JSON.stringify(t.value);
    case 'var':
      // Var.String: wildcards print as `_`, their source form
      return t.name.startsWith('$') ? '_' : t.name;
    case 'ref': {
      let s = termString(t.head);
      for (const p of t.path) {
        s += p.type === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(p.value) && !V1_KEYWORDS.has(p.value) ? `.${p.value}` : `[${termString(p)}]`;
      }
      return s;
    }
    case 'call':
      return `${termString(t.operator)}(${t.args.map(termString).join(', ')})`;
    case 'array':
      return `[${t.items.map(termString).join(', ')}]`;
    case 'set':
      return t.items.length === 0 ? 'set()' : `{${t.items.map(termString).join(', ')}}`;
    case 'object':
      return `{${t.items.map(([k, v]) => `${termString(k)}: ${termString(v)}`).join(', ')}}`;
    case 'arraycomprehension':
      return `[${termString(t.term)} | ...]`;
    case 'setcomprehension':
      return `{${termString(t.term)} | ...}`;
    case 'objectcomprehension':
      return `{${termString(t.key)}: ${termString(t.value)} | ...}`;
  }
}
