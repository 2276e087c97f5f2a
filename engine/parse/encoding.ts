/**
 * HTTP content codings (RFC 9110 8.4): a body sent gzip-, deflate-, br- or
 * zstd-compressed is decoded before anything reads it.
 *
 * Why: clients ask for compressed answers by default (Python's httpx and
 * requests send `Accept-Encoding: gzip, deflate`, Node's fetch adds br), and
 * providers' front ends compress JSON answers, so the token usage of a real
 * answer is in a gzip or br body. A request can be compressed too
 * (`Content-Encoding: gzip` is one header away in any client), and a prompt
 * that is never decoded is a prompt no content rule ever sees.
 *
 * Node's zlib does the decoding (gzip, deflate and br always, zstd where
 * this Node has it). Output is capped at the caller's limit, the same 4 MiB
 * a parser keeps of a body, so a small body that inflates to gigabytes
 * (a "zip bomb") stops there.
 */
import * as zlib from 'node:zlib';

export interface Decoded {
  /** the decoded body; the body as it came when it could not be decoded */
  body: Uint8Array;
  /** only a prefix: the input was cut short, or the output reached the limit */
  truncated: boolean;
  /** why the body could not be decoded, or not all of it: said to whoever relies on it */
  error?: string;
}

/** Codings a body may be sent in, one after another (RFC 9110 8.4.1); more than this many is not a real client. */
const MAX_LAYERS = 4;

type Zstd = (b: Uint8Array, o: zlib.ZlibOptions) => Buffer;
/** Node 22.15 and 23.8 have zstd; this one may not */
const zstd = (zlib as unknown as { zstdDecompressSync?: Zstd }).zstdDecompressSync;

/** The codings of a Content-Encoding value, first applied first; `identity` and empty items dropped. */
export function codingsOf(value: string | undefined): string[] {
  if (value === undefined) return [];
  const out: string[] = [];
  for (const part of value.split(',')) {
    const c = part.trim().toLowerCase();
    if (c !== '' && c !== 'identity') out.push(c);
  }
  return out;
}

/**
 * One layer. `cut`: the input stops short of its end, so what it holds is
 * decoded and the rest is not looked for (a flush instead of a finish);
 * otherwise a stream that ends early or carries garbage is an error.
 */
function layer(coding: string, b: Uint8Array, cut: boolean, max: number): Buffer {
  const z = zlib.constants;
  const opts: zlib.ZlibOptions = { maxOutputLength: max, ...(cut ? { finishFlush: z.Z_SYNC_FLUSH } : {}) };
  switch (coding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.gunzipSync(b, opts);
    case 'deflate':
      // RFC 9110 8.4.1.2: the zlib format; some servers send raw deflate, which browsers read too
      try {
        return zlib.inflateSync(b, opts);
      } catch (e) {
        if ((e as { code?: string }).code !== 'Z_DATA_ERROR') throw e;
        return zlib.inflateRawSync(b, opts);
      }
    case 'br':
      return zlib.brotliDecompressSync(b, { maxOutputLength: max, ...(cut ? { finishFlush: z.BROTLI_OPERATION_FLUSH } : {}) });
    case 'zstd':
      if (zstd === undefined) throw new Error(`zstd is not supported by Node ${process.versions.node}`);
      return zstd(b, opts);
    default:
      throw new Error(`unknown content coding "${coding.slice(0, 40)}"`);
  }
}

/**
 * BODY as sent with Content-Encoding CODING, decoded; at most MAX bytes out.
 * `truncated`: BODY is only a prefix of what was sent. Never throws: a body
 * that cannot be decoded comes back as it is, with the reason in `error`.
 */
export function decodeBody(body: Uint8Array, coding: string | undefined, truncated: boolean, max: number): Decoded {
  const codings = codingsOf(coding);
  if (codings.length === 0 || body.length === 0) return { body, truncated };
  if (codings.length > MAX_LAYERS) return { body, truncated, error: `${codings.length} content codings (at most ${MAX_LAYERS} are decoded)` };
  let b: Uint8Array = body;
  // the last coding applied is undone first
  for (let i = codings.length - 1; i >= 0; i--) {
    try {
      b = layer(codings[i]!, b, truncated, max);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err.code === 'ERR_BUFFER_TOO_LARGE') {
        return { body: new Uint8Array(0), truncated: true, error: `${codings[i]} body decodes to more than ${max} bytes` };
      }
      return { body, truncated, error: `${codings[i]} body does not decode: ${err.message ?? String(e)}` };
    }
  }
  return { body: b, truncated };
}
