/**
 * Kernel timestamps (bpf_ktime_get_ns: CLOCK_MONOTONIC) to RFC 3339 wall
 * time with nanoseconds. Wall-clock nanoseconds since 1970 do not fit a
 * double exactly (2^53 ns is 104 days), so milliseconds and the
 * nanoseconds below them are kept apart.
 */
/** "000" … "999" */
const DIGITS3: readonly string[] = Array.from({ length: 1000 }, (_, i) => String(i).padStart(3, '0'));

export class Clock {
  private offMs = 0;
  private offNs = 0;
  private calibratedAt = -Infinity;
  private lastSec = -1;
  private lastPrefix = '';

  constructor(
    private readonly realtimeMs: () => number = Date.now,
    private readonly monotonic: () => bigint = process.hrtime.bigint,
  ) {
    this.calibrate();
  }

  /** libuv's hrtime is CLOCK_MONOTONIC, the clock of bpf_ktime_get_ns. */
  monotonicNs(): number {
    return Number(this.monotonic());
  }

  /** Re-measure the offset (NTP may slew the wall clock). */
  calibrate(): void {
    const mono = this.monotonic();
    const wallMs = this.realtimeMs();
    // wall = mono + off, kept as (ms, ns below a ms)
    const monoMs = mono / 1_000_000n;
    const monoNs = Number(mono % 1_000_000n);
    this.offMs = wallMs - Number(monoMs);
    this.offNs = -monoNs;
    if (this.offNs < 0) {
      this.offNs += 1_000_000;
      this.offMs -= 1;
    }
    this.calibratedAt = Number(mono);
  }

  /** RFC 3339 UTC with nanoseconds for a CLOCK_MONOTONIC timestamp. */
  rfc3339(monoNs: number): string {
    if (monoNs - this.calibratedAt > 60e9) this.calibrate();
    let ms = Math.floor(monoNs / 1e6) + this.offMs;
    let ns = (monoNs % 1e6) + this.offNs;
    if (ns >= 1e6) {
      ns -= 1e6;
      ms += 1;
    }
    // toISOString per event was the costly part: keep the text of the
    // current second ("YYYY-MM-DDTHH:MM:SS.") and write the nine digits
    // below it.
    const sec = Math.floor(ms / 1000);
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      this.lastPrefix = new Date(sec * 1000).toISOString().slice(0, 20);
    }
    // the nine digits as three from a table each: a number to string
    // conversion per event (of a double, not a small integer) cost more
    const us = Math.floor(ns / 1000);
    return this.lastPrefix + DIGITS3[ms - sec * 1000]! + DIGITS3[us]! + DIGITS3[Math.floor(ns) - us * 1000]! + 'Z';
  }

  nowRfc3339(): string {
    return this.rfc3339(this.monotonicNs());
  }
}

/** From FROM to TO (ns, the kernel's clock) in milliseconds, to the microsecond: how events say how long something took. */
export function msBetween(from: number, to: number): number {
  return Math.round((to - from) / 1e3) / 1e3;
}
