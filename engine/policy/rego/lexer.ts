/**
 * Stage 1 of the Rego compiler: source text to tokens.
 *
 * Follows OPA's scanner (v1/ast/internal/scanner/scanner.go) character for
 * character, because positions and scanner errors surface verbatim in parse
 * errors:
 *
 * - rows are 1-based; columns count Unicode code points, 1-based, tabs as one;
 *   a token's position is that of its first character;
 * - end of input is reported at the column of the last character (or at
 *   column 0 of the next row when the input ends with a newline), which is
 *   where OPA's scanner stands when it runs out;
 * - whitespace is not a token, but each token records whether whitespace (or
 *   a comment) precedes it and whether that gap holds a newline: the parser
 *   needs the first to tell `a[1]` (a ref) from `a [1]` (two terms), and the
 *   second because a newline separates body expressions;
 * - keywords are not decided here: whether `in`, `if`, `contains` or `every`
 *   is a keyword depends on the Rego version and on `future.keywords`
 *   imports met while parsing, so every word is an `ident` token and the
 *   parser asks its current keyword set.
 *
 * A token the scanner rejects (unterminated string, bad escape, `1.`, `!`)
 * becomes an `illegal` token carrying the scanner's messages; the parser
 * reports them at the token's position, as OPA's parser does, when it reaches
 * the token.
 */

/**
 * Token kinds: `ident`, `number`, `string`, `eof`, `illegal`, or, for
 * operators and punctuation, the operator text itself (`:=`, `{`, `==`).
 */
export type TokenKind = 'ident' | 'number' | 'string' | 'tpart' | 'eof' | 'illegal' | Punct;

export type Punct =
  | '[' | ']' | '{' | '}' | '(' | ')' | ',' | ':' | ';' | '.'
  | '+' | '-' | '*' | '/' | '%' | '&' | '|'
  | '=' | '==' | ':=' | '!=' | '<' | '<=' | '>' | '>=';

export interface Token {
  kind: TokenKind;
  /** source text: the word, the number literal, the string literal with its quotes */
  text: string;
  row: number;
  col: number;
  /** offset of the first character in the source (UTF-16 units) */
  offset: number;
  /** whitespace or a comment separates this token from the previous one */
  ws: boolean;
  /** that separation contains a newline */
  nl: boolean;
  /** scanner errors, for `illegal` tokens that the scanner complained about */
  errors?: string[];
  /**
   * `tpart`: a literal piece of a template string (`$"…{`, `}…{`, `}…"`):
   * `first` the piece that opens it, `more` an expression follows (the
   * tokens up to the next `tpart`), `raw` a backquoted template
   */
  tmpl?: { raw: boolean; first: boolean; more: boolean };
}

export interface LexedComment {
  text: string;
  row: number;
  col: number;
  offset: number;
}

export interface LexResult {
  tokens: Token[];
  comments: LexedComment[];
}

const CH_TAB = 9;
const CH_LF = 10;
const CH_CR = 13;
const CH_SPACE = 32;

function isLetter(c: number): boolean {
  // scanner.go isLetter: ASCII letters and '_' only.
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

function isDecimal(c: number): boolean {
  return c >= 48 && c <= 57;
}

const UNICODE_DIGIT = /^\p{Nd}$/u;

/** Splits a Rego source into tokens (ending with `eof`) and comments; never throws. */
export function lex(source: string): LexResult {
  return new Scanner(source).run();
}

class Scanner {
  private readonly tokens: Token[] = [];
  private readonly comments: LexedComment[] = [];
  private readonly n: number;
  private i = 0;
  private row = 1;
  private col = 0;
  /** whitespace / a newline since the last token */
  private ws = false;
  private nl = false;
  private opErrors: string[] | undefined;
  /** template strings whose expression is being scanned (innermost last): its brace depth so far */
  private readonly templates: Array<{ raw: boolean; depth: number }> = [];
  private tmpl: Token['tmpl'];

  constructor(private readonly src: string) {
    this.n = src.length;
  }

  /**
   * Reads one code point, keeping row/col as OPA's scanner does: the column
   * of a character is the count of code points up to and including it.
   */
  private advance(): void {
    const i = this.i;
    if (i >= this.n) return;
    const c = this.src.charCodeAt(i);
    if (c === CH_LF) {
      this.row++;
      this.col = 0;
    } else {
      this.col++;
    }
    this.i = i + 1;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < this.n) {
      const d = this.src.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) this.i = i + 2;
    }
  }

  /** Skips characters of one class that are ASCII and not newlines (one column each). */
  private skipAscii(pred: (c: number) => boolean): void {
    const src = this.src;
    let i = this.i;
    while (i < this.n && pred(src.charCodeAt(i))) i++;
    this.col += i - this.i;
    this.i = i;
  }

  run(): LexResult {
    const src = this.src;
    // A leading byte-order mark is skipped; OPA's scanner still counts it as
    // a column, so the first character of such a file is at column 2.
    if (this.n > 0 && src.charCodeAt(0) === 0xfeff) this.advance();

    for (;;) {
      if (this.i >= this.n) {
        this.tokens.push({ kind: 'eof', text: '', row: this.row, col: this.col, offset: this.n, ws: this.ws, nl: this.nl });
        return { tokens: this.tokens, comments: this.comments };
      }
      const c = src.charCodeAt(this.i);
      if (c === CH_SPACE || c === CH_TAB || c === CH_CR) {
        this.i++;
        this.col++;
        this.ws = true;
        continue;
      }
      if (c === CH_LF) {
        this.i++;
        this.row++;
        this.col = 0;
        this.ws = true;
        this.nl = true;
        continue;
      }

      const start = this.i;
      this.advance();
      const row = this.row;
      const col = this.col;

      if (c === 35 /* # */) {
        // A comment runs to the end of the line; a CR before the LF is not
        // part of its text (scanComment).
        while (this.i < this.n && src.charCodeAt(this.i) !== CH_LF) this.advance();
        let end = this.i;
        if (end > start + 1 && src.charCodeAt(end - 1) === CH_CR) end--;
        this.comments.push({ text: src.slice(start + 1, end), row, col, offset: start });
        this.ws = true;
        continue;
      }

      let kind: TokenKind;
      let errors: string[] | undefined;
      this.tmpl = undefined;
      const open = this.templates[this.templates.length - 1];
      if (open !== undefined && c === 125 /* } */ && open.depth === 0) {
        // the end of a template's expression: its literal text goes on
        kind = 'tpart';
        errors = this.scanTemplateText(open.raw, false);
      } else if (isLetter(c)) {
        kind = 'ident';
        this.scanIdentifier();
      } else if (isDecimal(c)) {
        kind = 'number';
        errors = this.scanNumber();
      } else if (c === 34 /* " */) {
        kind = 'string';
        errors = this.scanString();
      } else if (c === 96 /* ` */) {
        kind = 'string';
        errors = this.scanRawString();
      } else {
        kind = this.scanOperator(c);
        errors = this.opErrors;
      }

      if (open !== undefined && kind === '{') open.depth++;
      else if (open !== undefined && kind === '}') open.depth--;
      const tok: Token = { kind, text: src.slice(start, this.i), row, col, offset: start, ws: this.ws, nl: this.nl };
      if (this.tmpl !== undefined) tok.tmpl = this.tmpl;
      if (errors !== undefined) {
        tok.kind = 'illegal';
        tok.errors = errors;
      }
      this.tokens.push(tok);
      this.ws = false;
      this.nl = false;
    }
  }

  private scanIdentifier(): void {
    for (;;) {
      this.skipAscii(isIdentChar);
      // scanner.go isDigit: after the first character, any Unicode digit.
      if (this.i < this.n && this.src.charCodeAt(this.i) >= 0x80 && UNICODE_DIGIT.test(String.fromCodePoint(this.src.codePointAt(this.i)!))) {
        this.advance();
        continue;
      }
      return;
    }
  }

  /* scanNumber: digits, an optional fraction (which must have digits), an
   * optional exponent (which must have digits). Leading zeros and range are
   * the parser's to check (parseNumber). */
  private scanNumber(): string[] | undefined {
    const src = this.src;
    let errors: string[] | undefined;
    this.skipAscii(isDecimal);
    if (this.i < this.n && src.charCodeAt(this.i) === 46 /* . */) {
      this.advance();
      const from = this.i;
      this.skipAscii(isDecimal);
      if (this.i === from) (errors ??= []).push('expected fraction');
    }
    if (this.i < this.n && (src.charCodeAt(this.i) | 0x20) === 101 /* e or E */) {
      this.advance();
      if (this.i < this.n && (src.charCodeAt(this.i) === 43 || src.charCodeAt(this.i) === 45)) this.advance();
      const from = this.i;
      this.skipAscii(isDecimal);
      if (this.i === from) (errors ??= []).push('expected exponent');
    }
    // `0a2b` is one bad number, not a number followed by an identifier.
    if (this.i < this.n && isLetter(src.charCodeAt(this.i))) {
      (errors ??= []).push('illegal number format');
      this.skipAscii(isIdentChar);
    }
    return errors;
  }

  /* A double-quoted string, as scanString: ends at the closing quote; a
   * newline or the end of input first is "non-terminated string". Only the
   * escape letter is checked here (\" \\ \/ \b \f \n \r \t \u); decoding,
   * and with it the check of \u's hex digits, is the parser's (decodeString). */
  private scanString(): string[] | undefined {
    const src = this.src;
    let errors: string[] | undefined;
    for (;;) {
      if (this.i >= this.n || src.charCodeAt(this.i) === CH_LF) {
        (errors ??= []).push('non-terminated string');
        return errors;
      }
      const ch = src.charCodeAt(this.i);
      this.advance();
      if (ch === 34) return errors;
      if (ch === 92 /* \ */) {
        const e = this.i < this.n ? src.charCodeAt(this.i) : -1;
        switch (e) {
          case 92: case 34: case 47: case 98: case 102: case 110: case 114: case 116:
            this.advance();
            break;
          case 117: // u: the scanner steps over 'u' and three more characters
            // blindly; the fourth is read by the loop like any other.
            this.advance();
            this.advance();
            this.advance();
            this.advance();
            break;
          default:
            (errors ??= []).push('illegal escape sequence');
        }
      }
    }
  }

  /**
   * A template's literal text, after its opening `$"`/`$\`` or after the
   * `}` that ends one of its expressions: up to a `{` that starts an
   * expression (`more`: the expression's tokens follow) or the closing
   * quote. `\{` is a brace; a double-quoted template's other escapes are
   * a string's, checked when the parser decodes it, and it ends at a newline.
   */
  private scanTemplateText(raw: boolean, first: boolean): string[] | undefined {
    const src = this.src;
    const close = raw ? 96 : 34;
    for (;;) {
      if (this.i >= this.n || (!raw && src.charCodeAt(this.i) === CH_LF)) {
        if (!first) this.templates.pop();
        this.tmpl = { raw, first, more: false };
        return ['non-terminated string'];
      }
      const ch = src.charCodeAt(this.i);
      this.advance();
      if (ch === close) {
        if (!first) this.templates.pop();
        this.tmpl = { raw, first, more: false };
        return undefined;
      }
      if (ch === 123 /* { */) {
        if (first) this.templates.push({ raw, depth: 0 });
        this.tmpl = { raw, first, more: true };
        return undefined;
      }
      if (ch === 92 /* \ */ && this.i < this.n && (!raw || src.charCodeAt(this.i) === 123)) this.advance();
    }
  }

  /** Raw strings have no escapes and may span lines. */
  private scanRawString(): string[] | undefined {
    while (this.i < this.n) {
      const d = this.src.charCodeAt(this.i);
      this.advance();
      if (d === 96) return undefined;
    }
    return ['non-terminated string'];
  }

  /** Operators and punctuation; sets `this.opErrors` for the illegal ones. */
  private scanOperator(c: number): TokenKind {
    const d = this.i < this.n ? this.src.charCodeAt(this.i) : -1;
    this.opErrors = undefined;
    switch (c) {
      case 91: return '[';
      case 93: return ']';
      case 123: return '{';
      case 125: return '}';
      case 40: return '(';
      case 41: return ')';
      case 44: return ',';
      case 59: return ';';
      case 46: return '.';
      case 43: return '+';
      case 45: return '-';
      case 42: return '*';
      case 47: return '/';
      case 37: return '%';
      case 38: return '&';
      case 124: return '|';
      case 58: return this.withEq(d, ':=', ':');
      case 61: return this.withEq(d, '==', '=');
      case 62: return this.withEq(d, '>=', '>');
      case 60: return this.withEq(d, '<=', '<');
      case 33: // !
        if (d === 61) {
          this.advance();
          return '!=';
        }
        this.opErrors = ['illegal ! character'];
        return 'illegal';
      case 36: // $
        // a template string (OPA >= 1.11): $"…{x}…" or $`…{x}…`
        if (d === 34 || d === 96) {
          this.advance();
          this.opErrors = this.scanTemplateText(d === 96, true);
          return 'tpart';
        }
        this.opErrors = ['illegal $ character'];
        return 'illegal';
      case 0:
        this.opErrors = ['illegal null character'];
        return 'illegal';
      default:
        // Any other character (`'`, `~`, a non-ASCII letter) is an illegal
        // token without a scanner message; the parser says "illegal token".
        return 'illegal';
    }
  }

  private withEq(d: number, op: Punct, alone: Punct): TokenKind {
    if (d !== 61 /* = */) return alone;
    this.advance();
    return op;
  }
}

function isIdentChar(c: number): boolean {
  return isLetter(c) || isDecimal(c);
}

/**
 * The value of a double-quoted string literal (with its quotes), or
 * undefined when it is not a valid JSON string. OPA decodes string literals
 * with encoding/json only when they contain a backslash (parseString), so a
 * literal without one is taken as written (even with a raw tab inside), and
 * one with a backslash must be valid JSON: no raw control characters, four
 * hex digits after \u. Unpaired surrogates decode to U+FFFD, as in Go.
 */
export function decodeString(literal: string): string | undefined {
  const inner = literal.slice(1, -1);
  if (!inner.includes('\\')) return inner;
  let out = '';
  const n = inner.length;
  for (let i = 0; i < n; ) {
    const c = inner.charCodeAt(i);
    if (c < 0x20 || c === 34) return undefined;
    if (c !== 92) {
      out += inner[i];
      i++;
      continue;
    }
    const e = inner[i + 1];
    switch (e) {
      case '"': out += '"'; i += 2; break;
      case '\\': out += '\\'; i += 2; break;
      case '/': out += '/'; i += 2; break;
      case 'b': out += '\b'; i += 2; break;
      case 'f': out += '\f'; i += 2; break;
      case 'n': out += '\n'; i += 2; break;
      case 'r': out += '\r'; i += 2; break;
      case 't': out += '\t'; i += 2; break;
      case 'u': {
        const hi = hex4(inner, i + 2);
        if (hi < 0) return undefined;
        i += 6;
        if (hi >= 0xd800 && hi <= 0xdbff) {
          // A high surrogate must be followed by \u and a low surrogate.
          if (inner[i] === '\\' && inner[i + 1] === 'u') {
            const lo = hex4(inner, i + 2);
            if (lo >= 0xdc00 && lo <= 0xdfff) {
              out += String.fromCharCode(hi, lo);
              i += 6;
              break;
            }
          }
          out += '\ufffd';
        } else if (hi >= 0xdc00 && hi <= 0xdfff) {
          out += '\ufffd';
        } else {
          out += String.fromCharCode(hi);
        }
        break;
      }
      default:
        return undefined;
    }
  }
  return out;
}

function hex4(s: string, at: number): number {
  if (at + 4 > s.length) return -1;
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const c = s.charCodeAt(at + k);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 102) d = c - 87;
    else if (c >= 65 && c <= 70) d = c - 55;
    else return -1;
    v = v * 16 + d;
  }
  return v;
}
