/**
 * Which event reported a request, for its answer to name
 * (`llm.request_event`, `mcp.request_event`): a consumer then joins a
 * prompt and the decision on it with the answer's usage and timing, without
 * guessing by connection and order.
 *
 * The interpreter reports a request (`reported`) after the layer that read
 * it has noted it; the answer comes later. An LLM request's info stays with
 * its connection until answered, so the event id is kept by that object
 * (weakly). An MCP request is remembered until its answer as an `Ask`, a
 * few fields (not the request, whose arguments may be megabytes), which
 * `reported` gives the event id too.
 */
import type { McpInfo } from '../model/event.js';

/** An MCP request waiting for its answer: what the answer takes from it. */
export interface Ask {
  method: string;
  tool?: string;
  /** when it was written or read (ns, the kernel's clock; 0: not known) */
  at: number;
  /** the event that reported it, once reported */
  event?: string;
  /** its W3C trace context (params._meta.traceparent), which its answer's span joins */
  traceparent?: string;
}

const ids = new WeakMap<object, string>();
const asks = new WeakMap<object, Ask>();

/** The Ask for REQUEST (its method known), made at AT. */
export function ask(request: McpInfo & { method: string }, at: number): Ask {
  const a: Ask = request.tool !== undefined ? { method: request.method, tool: request.tool, at } : { method: request.method, at };
  if (request.traceparent !== undefined) a.traceparent = request.traceparent;
  asks.set(request, a);
  return a;
}

/** INFO (a request's `llm` or `mcp`) was reported in event ID. */
export function reported(info: object, id: string): void {
  ids.set(info, id);
  const a = asks.get(info);
  if (a !== undefined) a.event = id;
}

/** The event that reported INFO, if it was. */
export function eventOf(info: object): string | undefined {
  return ids.get(info);
}
