/**
 * Errors with stable codes (users grep for them; tests assert them).
 * A code never changes meaning once released; add new ones at the end.
 */

export const ErrorCode = {
  /** a command-line option is wrong (exit 2) */
  USAGE: 'BUSTED_E_USAGE',
  /** a fault of busted's own, reported instead of stopping the agent */
  INTERNAL: 'BUSTED_E_INTERNAL',
  /** the host lacks something a command needs (BTF, cgroup v2, root, ...) */
  UNSUPPORTED: 'BUSTED_E_UNSUPPORTED',
  /** libbpf or the kernel refused: open, load, attach, map operations */
  BPF: 'BUSTED_E_BPF',
  /** a record from the kernel that does not match the wire format */
  WIRE: 'BUSTED_E_WIRE',
  /** a DNS message that cannot be parsed */
  DNS_MALFORMED: 'BUSTED_E_DNS_MALFORMED',
  /** a TLS record or handshake message that cannot be parsed */
  TLS_MALFORMED: 'BUSTED_E_TLS_MALFORMED',
  /** an input event (JSON line) with a missing or wrong field */
  EVENT_INVALID: 'BUSTED_E_EVENT_INVALID',
  /** a sink could not write */
  SINK: 'BUSTED_E_SINK',
  /** a policy source (Rego directory, bundle, data file) cannot be read or compiled */
  POLICY: 'BUSTED_E_POLICY',
  /** a classifier model (--model) is missing, not ONNX, for another feature version, or does not run */
  MODEL: 'BUSTED_E_MODEL',
  /** one direction of an HTTP/2 connection can no longer be decoded (a framing or HPACK error, or a capture gap in a header block): the message says which; the rest of it is not reported */
  HTTP2_LOST: 'BUSTED_E_HTTP2_LOST',
  /**
   * a request's body was not read whole (past the parsers' 4 MiB, or past
   * the capture cap of a call that is not held): content policies saw only
   * its start. The event carries the request's process, host and provider,
   * so a policy can decide on it (the shipped one audits, or blocks with
   * data.busted.block_uninspected_content)
   */
  CONTENT_CUT: 'BUSTED_E_CONTENT_CUT',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class BustedError extends Error {
  readonly code: ErrorCodeValue;
  /** the offending field, option or input, where there is one */
  readonly field: string | undefined;

  constructor(code: ErrorCodeValue, message: string, field?: string) {
    super(message);
    this.name = 'BustedError';
    this.code = code;
    this.field = field;
  }
}

/** A parser's complaint about its input: always carries the byte offset. */
export class ParseError extends BustedError {
  readonly offset: number;

  constructor(code: ErrorCodeValue, message: string, offset: number, field?: string) {
    super(code, `${message} (at byte ${offset})`, field);
    this.name = 'ParseError';
    this.offset = offset;
  }
}
