/**
 * The agent's side of the outputs thread (outputs-thread.ts): one sink in
 * the Agent's list that copies each event's JSON line (encoded once, shared
 * with stdout) into a pack and hands packs to the thread, every 20 ms or
 * every 1 MiB, whichever comes first. That copy is all the --output sinks
 * cost the agent's thread.
 *
 * `members` stand for the sinks on the thread (name, delivered, dropped,
 * queue depth, refreshed four times a second), for the metrics, the
 * dashboard and the exit summary. What the thread cannot take (more than
 * maxInFlightBytes handed over and not yet taken) is dropped here and counted
 * on every member.
 */
import { Worker } from 'node:worker_threads';
import type { BustedEvent } from '../model/event.js';
import { ErrorCode } from '../model/errors.js';
import { eventBytes } from './jsonl.js';
import type { FromThread, OutputSpec, SinkStats, ToThread } from './outputs-thread.js';
import type { Sink } from './sink.js';

const PACK_BYTES = 1 << 20;
const PACK_MS = 20;

class Member implements Sink {
  dropped = 0;
  delivered = 0;
  queued = 0;
  /** dropped before reaching the thread */
  droppedHere = 0;
  constructor(
    readonly name: string,
    private readonly owner: OutputThread,
  ) {}
  write(): void {
    // events reach the thread through OutputThread.write
  }
  reopen(): void {
    this.owner.reopen();
  }
  close(): Promise<void> {
    return this.owner.close();
  }
  take(s: SinkStats): void {
    this.dropped = s.dropped + this.droppedHere;
    this.delivered = s.delivered;
    this.queued = s.queued;
  }
}

export interface OutputThreadOptions {
  /** bytes handed to the thread and not yet taken before events are dropped here */
  maxInFlightBytes?: number;
  onError?: (message: string) => void;
}

export class OutputThread implements Sink {
  readonly name = 'outputs';
  readonly members: Member[];
  private readonly worker: Worker;
  private pack = Buffer.allocUnsafeSlow(PACK_BYTES);
  private used = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private closing: Promise<void> | undefined;
  private closedWith: (() => void) | undefined;
  private readonly maxInFlight: number;

  constructor(
    specs: OutputSpec[],
    names: string[],
    o: OutputThreadOptions = {},
  ) {
    this.maxInFlight = o.maxInFlightBytes ?? 64 << 20;
    this.members = names.map((n) => new Member(n, this));
    const onError = o.onError ?? ((m: string) => process.stderr.write(`${m}\n`));
    this.worker = new Worker(new URL('./outputs-thread.js', import.meta.url), { workerData: specs });
    this.worker.on('message', (m: FromThread) => {
      if ('error' in m) return onError(m.error);
      m.stats.forEach((s, i) => this.members[i]?.take(s));
      if (m.consumed) this.inFlight -= m.consumed;
      if (m.closed) this.closedWith?.();
    });
    this.worker.on('error', (e) => onError(`busted: ${ErrorCode.SINK}: outputs thread: ${e.message}`));
    this.worker.unref();
  }

  get dropped(): number {
    return this.members.reduce((a, m) => a + m.dropped, 0);
  }

  write(e: BustedEvent): void {
    const line = eventBytes(e);
    if (this.closing || this.inFlight + this.used + line.length > this.maxInFlight) {
      for (const m of this.members) m.droppedHere++, m.dropped++;
      return;
    }
    if (this.used + line.length > this.pack.length) {
      this.send();
      if (line.length > this.pack.length) this.pack = Buffer.allocUnsafeSlow(line.length);
    }
    this.pack.set(line, this.used);
    this.used += line.length;
    if (this.used >= PACK_BYTES) this.send();
    else this.timer ??= setTimeout(this.send, PACK_MS);
  }

  /** The pack goes to the thread: moved when large, copied out when small (and the pack kept). */
  private readonly send = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.used === 0) return;
    let data: ArrayBuffer;
    if (this.used < PACK_BYTES / 4) {
      data = new ArrayBuffer(this.used);
      new Uint8Array(data).set(this.pack.subarray(0, this.used));
    } else {
      data = this.pack.buffer as ArrayBuffer; // allocUnsafeSlow: its own ArrayBuffer, offset 0
      this.pack = Buffer.allocUnsafeSlow(PACK_BYTES);
    }
    this.inFlight += this.used;
    this.worker.postMessage({ pack: data, length: this.used } satisfies ToThread, [data]);
    this.used = 0;
  };

  reopen(): void {
    this.send();
    this.worker.postMessage({ reopen: true } satisfies ToThread);
  }

  /** Everything handed over is delivered, spilled or counted; the thread ends. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.send();
      this.worker.ref();
      const closed = new Promise<void>((resolve) => (this.closedWith = resolve));
      this.worker.postMessage({ close: true } satisfies ToThread);
      // sinks give up on their own (webhook: closeTimeoutMs, then the spill); this is a last resort
      let t: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise<void>((r) => (t = setTimeout(r, 30_000)))]);
      clearTimeout(t);
      await this.worker.terminate();
    })();
    return this.closing;
  }
}
