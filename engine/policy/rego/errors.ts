/**
 * Errors of the Rego compiler, with OPA's stable codes (STYLE.md 11).
 *
 * The codes and the text format are OPA's (v1/ast/errors.go), so that a user
 * who knows OPA's messages, or greps for them, finds ours the same:
 *
 *   policy.rego:3:19: rego_parse_error: unexpected } token
 *       p if { x := }
 *                   ^
 *
 * and, for a list, `1 error occurred: ...` / `N errors occurred:\n...`.
 * The first line names the file, row and column (OPA prints `file:row`,
 * or `row:col` when there is no file name; the column is ours); the two
 * indented lines, for parse errors, show the source line and a caret under
 * the offending column.
 */

import type { Location } from './ast.js';

export const RegoErrorCode = {
  /** the source is not valid Rego (lexer, parser, v1 syntax checks) */
  PARSE: 'rego_parse_error',
  /** a module is well-formed but violates a compile-time rule */
  COMPILE: 'rego_compile_error',
  /** a variable cannot be bound by the body it appears in */
  UNSAFE_VAR: 'rego_unsafe_var_error',
  /** a rule depends on itself */
  RECURSION: 'rego_recursion_error',
  /** a value of the wrong type reaches an operator, builtin or rule */
  TYPE: 'rego_type_error',
} as const;

export type RegoErrorCodeValue = (typeof RegoErrorCode)[keyof typeof RegoErrorCode];

/** The source line of an error and the index of the offending character in it. */
export interface RegoErrorDetails {
  line: string;
  idx: number;
}

export class RegoError extends Error {
  readonly code: RegoErrorCodeValue;
  /** the message without location or code: what OPA calls Message */
  readonly reason: string;
  readonly location: Location;
  readonly details: RegoErrorDetails | undefined;

  constructor(code: RegoErrorCodeValue, reason: string, location: Location, details?: RegoErrorDetails) {
    super(`${locationPrefix(location)}: ${code}: ${reason}`);
    this.name = 'RegoError';
    this.code = code;
    this.reason = reason;
    this.location = location;
    this.details = details;
  }

  /**
   * OPA's Error.Error(): the message line, then the source line and a caret.
   * OPA_LOCATION: the location exactly as OPA writes it (`file:row`, no
   * column), as rego.parse_module fails with it.
   */
  format(opaLocation = false): string {
    let s = opaLocation ? `${opaLocationOf(this.location)}: ${this.code}: ${this.reason}` : this.message;
    if (this.details !== undefined) {
      // ParserErrorDetail.Lines (parser_ext.go): leading tabs are dropped from
      // the echoed line and the caret is indented by the remaining characters.
      const line = this.details.line.replace(/^\t+/, '');
      const tabs = this.details.line.length - line.length;
      const indent = Math.max(0, this.details.idx - tabs);
      s += `\n\t${line}\n\t${' '.repeat(indent)}^`;
    }
    return s;
  }
}

/** Several errors reported at once (OPA's Errors); thrown by parseModule. */
export class RegoErrors extends Error {
  readonly errors: readonly RegoError[];

  constructor(errors: readonly RegoError[]) {
    super(formatErrors(errors));
    this.name = 'RegoErrors';
    this.errors = errors;
  }

  /** the code of the first error, for callers that only look at one */
  get code(): RegoErrorCodeValue | undefined {
    return this.errors[0]?.code;
  }
}

/** OPA's Errors.Error() text (OPA_LOCATION: see RegoError.format). */
export function formatErrors(errors: readonly RegoError[], opaLocation = false): string {
  if (errors.length === 0) return 'no error(s)';
  if (errors.length === 1) return `1 error occurred: ${errors[0]!.format(opaLocation)}`;
  return `${errors.length} errors occurred:\n${errors.map((e) => e.format(opaLocation)).join('\n')}`;
}

/** errors.go's location: `file:row`, or `row:col` without a file. */
function opaLocationOf(loc: Location): string {
  return loc.file !== '' ? `${loc.file}:${loc.row}` : `${loc.row}:${loc.col}`;
}

function locationPrefix(loc: Location): string {
  // we add the column to OPA's file form too, so every error points at its
  // place and what greps for OPA's `file:row:` still matches
  return loc.file !== '' ? `${opaLocationOf(loc)}:${loc.col}` : opaLocationOf(loc);
}

/**
 * The line of `source` around `offset` and the caret index, as OPA's
 * newParserErrorDetail: the caret moves back over whitespace so that an
 * error at end of input points at the last real character.
 */
export function sourceDetails(source: string, offset: number): RegoErrorDetails | undefined {
  if (source.length === 0) return undefined;
  let at = Math.min(Math.max(offset, 0), source.length - 1);
  while (at > 0 && /\s/.test(source[at]!)) at--;
  let begin = at;
  while (begin > 0 && !isNewline(source[begin]!)) begin--;
  if (isNewline(source[begin]!)) begin++;
  let end = at;
  while (end < source.length && !isNewline(source[end]!)) end++;
  if (begin > end) begin = end;
  return { line: source.slice(begin, end), idx: at - begin };
}

function isNewline(c: string): boolean {
  return c === '\n' || c === '\r';
}
