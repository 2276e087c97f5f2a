/** Byte buffers joined: one part is returned as it is, more are copied into one array of `total` bytes. */
export function concatBytes(parts: readonly Uint8Array[], total = parts.reduce((n, p) => n + p.length, 0)): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The most of one message's body an HTTP parser keeps, and the most a compressed body is decoded to (encoding.ts). */
export const MAX_BODY = 4 * 1024 * 1024;

/** The empty byte array, shared: nothing can be written into it. */
export const EMPTY_BYTES = new Uint8Array(0);

/**
 * Body bytes held by all the HTTP parsers of one application layer, across
 * its connections: each message keeps up to 4 MiB, and 16,384 connections
 * of two directions each could hold 128 GiB, so one local process opening
 * many connections with bodies that never end could take the agent's
 * memory (and enforcement with it). Past `max`, bodies are cut (their
 * messages marked truncated, which the interpreter reports) until held
 * bytes are given back: by a message that ends, or a parser dropped.
 */
export class BodyBudget {
  held = 0;
  /** bytes refused for want of room */
  refused = 0;

  constructor(readonly max: number) {}

  /** How many of n more bytes may be held (and count them held). */
  take(n: number): number {
    const k = Math.max(0, Math.min(n, this.max - this.held));
    this.held += k;
    this.refused += n - k;
    return k;
  }

  give(n: number): void {
    this.held -= n;
  }
}

/** An application layer's default: 256 MiB of bodies held at once. */
export const BODY_BUDGET_BYTES = 256 * 1024 * 1024;
