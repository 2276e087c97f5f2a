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

/** The empty byte array, shared: nothing can be written into it. */
export const EMPTY_BYTES = new Uint8Array(0);
