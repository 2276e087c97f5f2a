/**
 * Kernel (CLOCK_MONOTONIC) nanoseconds to RFC 3339 text: against a
 * reference computed with BigInt arithmetic and Date, across second and
 * millisecond boundaries and whatever the calibration offset is.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Clock } from '../../engine/interpret/clock.js';

/** wall ns = mono ns + (wallMs at calibration − monoNs at calibration), exactly. */
function reference(monoNs: bigint, wallMs: number, monoAtCal: bigint): string {
  const wallNs = monoNs + BigInt(wallMs) * 1_000_000n - monoAtCal;
  const sec = wallNs / 1_000_000_000n;
  const frac = wallNs % 1_000_000_000n;
  return `${new Date(Number(sec) * 1000).toISOString().slice(0, 19)}.${frac.toString().padStart(9, '0')}Z`;
}

describe('Clock', () => {
  it('writes RFC 3339 UTC with nanoseconds, exactly, across second and millisecond boundaries', () => {
    const wallMs = Date.UTC(2026, 0, 31, 23, 59, 59, 998);
    for (const monoAtCal of [5_000_000_123n, 7_999_999_999n, 1_000_000_000_000n]) {
      const clock = new Clock(() => wallMs, () => monoAtCal);
      const base = Number(monoAtCal);
      // the same second and millisecond again, then across both, then far on (no recalibration within 60 s)
      for (const d of [0, 1, 999, 999_999, 1_000_000, 1_999_999, 2_000_000, 2_000_001, 3_000_000, 123_456_789, 59_999_999_999]) {
        const mono = base + d;
        assert.equal(clock.rfc3339(mono), reference(BigInt(mono), wallMs, monoAtCal), `mono ${mono} (calibrated at ${monoAtCal})`);
      }
    }
  });

  it('gives the same text for the same instant, and later text for a later one', () => {
    const clock = new Clock(() => Date.UTC(2026, 5, 1), () => 10n ** 12n);
    const a = clock.rfc3339(1e12 + 5);
    assert.equal(clock.rfc3339(1e12 + 5), a);
    assert.ok(clock.rfc3339(1e12 + 6) > a);
    assert.match(a, /^2026-06-01T00:00:00\.000000005Z$/);
  });
});
