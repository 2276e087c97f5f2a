/** Small waits the e2e tests share: a GET's body, and polling until something holds. */
import assert from 'node:assert/strict';
import { request } from 'node:http';

/** The body of a GET of URL (http only). */
export function httpGet(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    request(url, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => resolve(b));
    })
      .on('error', reject)
      .end();
  });
}

/** Resolves once PRED holds, checked every 50 ms; fails naming WHAT after MS. */
export async function until(pred: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The first line a child prints on STREAM (a server saying its port): read
 * whole, however the pipe splits it; fails if PROC exits first.
 */
export function firstLine(stream: NodeJS.ReadableStream, proc: { once(e: 'exit', f: (code: number | null) => void): unknown }): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer | string): void => {
      buf += String(d);
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      stream.off('data', onData);
      resolve(buf.slice(0, nl).trim());
    };
    stream.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`exited (${code}) before printing a line; it printed ${JSON.stringify(buf)}`)));
  });
}
