/**
 * --ui: the dashboard page in real headless Chromium, fed events directly
 * (including decision and policy events, which `enforce` makes): what a person
 * sees — provider and process usage with cost, decisions with reasons, the
 * policy revision, the filters — and that it follows new events live without
 * a reload. The token guard when bound off loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import type { BustedEvent } from '../../engine/model/event.js';
import { DashboardSink } from '../../engine/sinks/dashboard.js';
import { loadPrices } from '../../engine/sinks/prices.js';
import { startHttp, type Listener } from '../../engine/sinks/http.js';
import { makeEvent } from '../helpers/events.js';
import { artifactPath, chromiumSkipReason, launchChromium, type Browser } from '../helpers/chromium.js';

const skip = chromiumSkipReason();
const T = '2026-12-05T10:00:01.000000000Z';

describe('dashboard in Chromium', { skip }, () => {
  let ui: DashboardSink;
  let http: Listener;
  let browser: Browser;
  before(async () => {
    ui = new DashboardSink({ prices: loadPrices(), pushMs: 100 });
    http = await startHttp({ host: '127.0.0.1', port: 0 }, ui.handler(), '--ui', { tokenIfExposed: true });
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await ui?.close();
    await http?.close();
  });

  it('shows usage, cost, decisions with reasons and the policy revision, and follows new events live', async () => {
    for (let i = 0; i < 30; i++) ui.write(makeEvent(i));
    const py = { pid: 31337, comm: 'python3', container_id: 'c'.repeat(64) };
    ui.write({ id: 'p-0', time: T, type: 'policy', policy: { revision: 'rev-1a2b', source: 'policies/', reloads: 0 } });
    ui.write({ id: 'q-1', time: T, type: 'llm_request', provider: 'anthropic', process: py, llm: { provider: 'anthropic', model: 'claude-sonnet-4', user_message: 'here is my key sk-[REDACTED]' } });
    ui.write({ id: 'd-1', time: T, type: 'decision', process: py, provider: 'anthropic', decision: { action: 'block', reasons: ['secret in prompt: an API key'], enforced: true, subject: 'q-1', policy_revision: 'rev-1a2b' } });
    ui.write({ id: 'r-1', time: T, type: 'llm_response', provider: 'anthropic', process: py, llm: { provider: 'anthropic', model: 'claude-sonnet-4-20250514', usage: { input_tokens: 1000, output_tokens: 500 }, duration_ms: 1204.5, ttft_ms: 300 } });

    const page = await browser.context.newPage();
    await page.goto(`${http.url}/`);
    await page.waitForSelector('[data-testid=connection].live');
    await page.evaluate(() => ((window as unknown as { marker: number }).marker = 42));

    // providers: requests, tokens, cost, blocks
    const openai = page.locator('#providers tr[data-provider=openai] td');
    await assertText(openai.nth(1), '10');
    await assertText(openai.nth(2), '120');
    await assertText(openai.nth(3), '60');
    await assertText(openai.nth(4), '$0.000054');
    const anthropic = page.locator('#providers tr[data-provider=anthropic] td');
    await assertText(anthropic.nth(4), '$0.0105');
    await assertText(anthropic.nth(5), '1');
    // the mean time of its answered calls
    await assertText(anthropic.nth(7), '1.20 s');
    await assertText(openai.nth(7), '');
    // processes
    await assertText(page.locator('#processes tr[data-process=python3] td').nth(6), '1');
    await assertText(page.locator('#processes tr[data-process=curl] td').nth(2), '10');
    // decisions with reasons, and the policy revision
    const d = page.locator('#decisions tr[data-action=block] td');
    await assertText(d.nth(2), 'secret in prompt: an API key');
    await assertText(d.nth(3), 'llm_request');
    await assertText(d.nth(4), 'python3[31337]');
    await assertText(page.getByTestId('policy-revision'), 'rev-1a2b');

    // live: a reload and a new decision arrive without reloading the page
    ui.write({ id: 'p-1', time: T, type: 'policy', policy: { revision: 'rev-3c4d', source: 'policies/', reloads: 1, previous: 'rev-1a2b' } });
    ui.write({ id: 'd-2', time: T, type: 'decision', process: py, provider: 'openai', decision: { action: 'audit', reasons: ['look-alike host evil-openai.com'], enforced: false, subject: 'ev-3', policy_revision: 'rev-3c4d' } });
    await assertText(page.getByTestId('policy-revision'), 'rev-3c4d');
    await assertText(page.getByTestId('policy-reloads'), '1');
    await assertText(page.locator('#decisions tr[data-action=audit] td').nth(2), 'look-alike host evil-openai.com');
    assert.equal(await page.evaluate(() => (window as unknown as { marker: number }).marker), 42, 'the page was not reloaded');
    // allow decisions (enforce --format json reports them all) only on request
    ui.write({ id: 'd-3', time: T, type: 'decision', process: py, provider: 'openai', decision: { action: 'allow', reasons: [], enforced: false, subject: 'ev-6' } });
    await page.waitForFunction(() => document.querySelector('[data-testid=total-events]')?.textContent === '37');
    assert.equal(await page.locator('#decisions tr[data-action=allow]').count(), 0);
    await page.getByTestId('show-allow').check();
    assert.equal(await page.locator('#decisions tr[data-action=allow]').count(), 1);
    assert.equal(await page.locator('#decisions tr[data-action=block]').count(), 1);

    // filters: type, provider, text
    await page.getByTestId('filter-type').selectOption('llm_response');
    await page.waitForFunction(() => [...document.querySelectorAll('#events tr')].every((r) => r.getAttribute('data-type') === 'llm_response'));
    assert.equal(await page.locator('#events tr').count(), 11);
    await page.getByTestId('filter-provider').selectOption('anthropic');
    assert.equal(await page.locator('#events tr').count(), 1);
    await page.getByTestId('filter-type').selectOption('');
    await page.getByTestId('filter-provider').selectOption('');
    await page.getByTestId('filter-text').fill('python3');
    await page.waitForFunction(() => document.querySelectorAll('#events tr').length === 5);
    await page.screenshot({ path: artifactPath('dashboard-fed.png'), fullPage: true });
    await page.close();
  });

  it('asks for the token when bound off loopback', async () => {
    const other = new DashboardSink({ prices: loadPrices() });
    // 0.0.0.0 is not loopback: a token is made; the request still goes to 127.0.0.1
    const l = await startHttp({ host: '0.0.0.0', port: 0 }, other.handler(), '--ui', { tokenIfExposed: true });
    try {
      assert.ok(l.token && l.token.length >= 20);
      const status = (path: string) =>
        new Promise<number>((resolve, reject) => {
          request({ host: '127.0.0.1', port: l.port, path }, (res) => {
            res.resume();
            resolve(res.statusCode!);
          })
            .on('error', reject)
            .end();
        });
      assert.equal(await status('/'), 401);
      assert.equal(await status('/stream?token=wrong'), 401);
      assert.equal(await status(`/api/state?token=${l.token}`), 200);
      const page = await browser.context.newPage();
      other.write(makeEvent(1));
      await page.goto(`http://127.0.0.1:${l.port}/?token=${l.token}`);
      await page.waitForSelector('[data-testid=connection].live');
      await assertText(page.locator('#providers tr[data-provider=openai] td').nth(1), '1');
      await page.close();
    } finally {
      await other.close();
      await l.close();
    }
  });
});

async function assertText(loc: import('playwright-core').Locator, want: string): Promise<void> {
  const end = Date.now() + 10_000;
  let got = '';
  while (Date.now() < end) {
    got = ((await loc.textContent({ timeout: 10_000 }).catch(() => '')) ?? '').trim();
    if (got === want) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(got, want);
}

export type { BustedEvent };
