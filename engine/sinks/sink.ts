/** Where events go. Every sink buffers on its own and never throws into the pipeline. */
import type { BustedEvent } from '../model/event.js';

export interface Sink {
  readonly name: string;
  write(e: BustedEvent): void;
  /** Flush and release; resolves when everything accepted was written (or counted as dropped). */
  close(): Promise<void>;
  /** events dropped (queue full, write errors) */
  readonly dropped: number;
}
