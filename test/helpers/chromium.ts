/**
 * Debian's headless Chromium driven by playwright-core (which never downloads
 * a browser of its own here): a fresh profile per launch, and the flags that
 * keep Chromium from reaching out to the network at start.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { PACKAGE_ROOT } from '../../engine/paths.js';

export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = join(PACKAGE_ROOT, 'test', 'artifacts');

export function chromiumSkipReason(): string | undefined {
  return existsSync(CHROMIUM) ? undefined : `needs ${CHROMIUM} (Debian package chromium; scripts/setup.sh installs it)`;
}

/** Flags that keep Chromium from reaching out to the network at start (update checks, sync, QUIC probes). */
export const CHROMIUM_QUIET = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

export async function launchChromium(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'busted-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_QUIET,
    viewport: { width: 1500, height: 1100 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

export function artifactPath(name: string): string {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
