/**
 * W3C Trace Context's `traceparent` (https://www.w3.org/TR/trace-context/
 * §3.2): `version-traceid-parentid-flags`, lower-case hex. A program
 * instrumented with OpenTelemetry sends it with each HTTP request (and an
 * MCP client in a message's `params._meta`); busted's span of that call
 * then joins the program's trace as the child of the span that sent it.
 *
 * Read as the specification says a receiver reads it: version 00 exactly
 * as laid out; a higher version by its first four fields (what follows is
 * the later version's); ff, all-zero ids, upper case or a wrong length: not
 * a trace context (undefined).
 */
const V00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const LATER = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;

export interface TraceParent {
  traceId: string;
  spanId: string;
  /** trace flags (bit 0: sampled) */
  flags: number;
}

/** The header's value as it is kept on an event (`http.traceparent`), when it is a valid one. */
export function traceparentOf(value: unknown): string | undefined {
  return typeof value === 'string' && parseTraceparent(value) !== undefined ? value.trim().slice(0, 55) : undefined;
}

export function parseTraceparent(value: string): TraceParent | undefined {
  const v = value.trim();
  let traceId: string;
  let spanId: string;
  let flags: string;
  const m = V00.exec(v);
  if (m) [, traceId, spanId, flags] = m as unknown as [string, string, string, string];
  else {
    const l = LATER.exec(v);
    if (!l || l[1] === '00' || l[1] === 'ff') return undefined;
    [, , traceId, spanId, flags] = l as unknown as [string, string, string, string, string];
  }
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, flags: parseInt(flags, 16) };
}
