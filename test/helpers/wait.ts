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
