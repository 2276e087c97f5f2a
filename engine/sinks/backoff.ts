/**
 * Retry delays: exponential, capped, with "equal jitter" (half fixed, half
 * random; AWS Architecture Blog, "Exponential Backoff And Jitter"), so that
 * many agents retrying against one collector spread out, and no retry comes
 * sooner than half its step.
 */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
  return step / 2 + random() * (step / 2);
}

/** A sleep that close() can cut short. */
export class Sleeper {
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
      this.timer = setTimeout(resolve, ms);
    });
  }

  interrupt(): void {
    clearTimeout(this.timer);
    this.wake?.();
    this.wake = undefined;
  }
}
