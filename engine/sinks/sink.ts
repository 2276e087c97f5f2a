/** Where events go. Every sink buffers on its own and never throws into the pipeline. */
import type { BustedEvent } from '../model/event.js';

export interface Sink {
  readonly name: string;
  write(e: BustedEvent): void;
  /** Flush and release; resolves when everything accepted was written (or counted as dropped). */
  close(): Promise<void>;
  /** events dropped (queue full, write errors) */
  readonly dropped: number;
  /** events accepted and not yet delivered: the depth of its queue (sinks that keep one) */
  readonly queued?: number;
  /** events delivered to the destination so far (sinks that know) */
  readonly delivered?: number;
  /** reopen what was opened by path (SIGHUP, after logrotate moved a file away) */
  reopen?(): void;
}
