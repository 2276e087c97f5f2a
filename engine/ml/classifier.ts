/**
 * The classify stage: the behavioural classifier as an annotate stage of
 * the Agent (engine/pipeline.ts).
 *
 * annotate(event) is synchronous and cheap: it feeds the event to the
 * FeatureExtractor, queues a connection's new feature vector when a `flow`
 * event brought one, and attaches the latest known score to the event as
 * `ml: {llm_score, label}`. Inference runs apart from the ring buffer's
 * path: queued vectors are scored in batches (one onnxruntime call for all
 * that arrived since the last one) after the current I/O callback, and the
 * scores reach the events that come after — the connection's later flow
 * events and its close, and the same process's later connections to the
 * same destination (address and port, or TLS server name), from their
 * connect on. So a policy sees `input.ml.llm_score` on the events of a
 * streamed completion while it is still streaming, and on a process's
 * next connection to a destination that looked like an LLM endpoint.
 */
import type { BustedEvent, MlInfo } from '../model/event.js';
import { connKey, destKey, FEATURE_COUNT, FeatureExtractor, sniKey, type FastKey, type Snapshot } from './features.js';
import { DEFAULT_MODEL, loadModel, type LoadedModel } from './model.js';

export interface ClassifierStats {
  /** feature vectors made (flow events of outgoing TCP connections) */
  snapshots: number;
  scored: number;
  batches: number;
  /** vectors dropped because the queue was full (the agent fell behind) */
  dropped: number;
  errors: number;
  /** wall time from a batch's run call to its scores (onnxruntime runs it on a later turn of the event loop), ns */
  inferenceNs: number;
  /** events that left with an ml score */
  annotated: number;
}

export interface ClassifierOptions {
  /** most vectors per onnxruntime call */
  maxBatch?: number;
  /** most vectors waiting; beyond it the oldest are dropped */
  maxQueue?: number;
  /** told of an inference failure (the classifier keeps going) */
  onError?: (message: string) => void;
}

/** Event types a score is attached to: those about a connection. */
const SCORED_TYPES = new Set<BustedEvent['type']>([
  'connect',
  'connect_failed',
  'connect_blocked',
  'close',
  'flow',
  'tls_client_hello',
  'tls_server_hello',
  'tls_data',
  'llm_request',
  'llm_response',
  'mcp_message',
]);

const MAX_SCORES = 65536;

export class Classifier {
  readonly stats: ClassifierStats = { snapshots: 0, scored: 0, batches: 0, dropped: 0, errors: 0, inferenceNs: 0, annotated: 0 };
  private readonly features = new FeatureExtractor();
  /** newest vector per connection, waiting to be scored */
  private queue = new Map<FastKey, Snapshot>();
  private running: Promise<void> | undefined;
  private scheduled = false;
  private closed = false;
  /** the latest score by connection, by process → destination, by process → TLS server name */
  private readonly byConn = new Map<FastKey, MlInfo>();
  private readonly byDest = new Map<FastKey, MlInfo>();
  private readonly bySni = new Map<string, MlInfo>();
  private readonly maxBatch: number;
  private readonly maxQueue: number;
  private rows: Float32Array;

  private constructor(
    readonly model: LoadedModel,
    private readonly o: ClassifierOptions,
  ) {
    this.maxBatch = o.maxBatch ?? 256;
    this.maxQueue = o.maxQueue ?? 16384;
    this.rows = new Float32Array(this.maxBatch * FEATURE_COUNT);
  }

  /** Load and check the model (BUSTED_E_MODEL on any problem); the shipped one by default. */
  static async load(path: string = DEFAULT_MODEL, o: ClassifierOptions = {}): Promise<Classifier> {
    return new Classifier(await loadModel(path), o);
  }

  /** The annotate stage (bound: pass it as it is). */
  readonly annotate = (e: BustedEvent): void => {
    // nothing scored yet (or every score gone): no key to build, no lookups
    if (this.byConn.size + this.byDest.size + this.bySni.size !== 0 && SCORED_TYPES.has(e.type)) {
      const ml = this.scoreFor(e);
      if (ml) {
        // one object per score, shared by the events it reaches: no stage changes an event's ml
        e.ml = ml;
        this.stats.annotated++;
      }
    }
    const snap = this.features.observe(e);
    if (!snap || this.closed) return;
    this.stats.snapshots++;
    this.queue.delete(snap.connKey); // keep the newest, at the back
    this.queue.set(snap.connKey, snap);
    if (this.queue.size > this.maxQueue) {
      this.queue.delete(this.queue.keys().next().value!);
      this.stats.dropped++;
    }
    this.schedule();
  };

  private scoreFor(e: BustedEvent): MlInfo | undefined {
    const n = e.net;
    const pid = e.process?.pid;
    if (n) {
      if (n.direction === 'ingress') return undefined;
      const ck = connKey(n);
      return (ck !== undefined ? this.byConn.get(ck) : undefined) ?? (pid ? this.byDest.get(destKey(pid, n)) : undefined);
    }
    const sni = e.tls?.sni;
    return pid && sni ? this.bySni.get(sniKey(pid, sni)) : undefined;
  }

  private schedule(): void {
    if (this.scheduled || this.running) return;
    this.scheduled = true;
    // after the current ring buffer batch: vectors that arrive together are scored together
    setImmediate(() => {
      this.scheduled = false;
      this.running = this.runBatches().finally(() => {
        this.running = undefined;
        if (this.queue.size && !this.closed) this.schedule();
      });
    });
  }

  private async runBatches(): Promise<void> {
    while (this.queue.size && !this.closed) {
      const batch: Snapshot[] = [];
      for (const [k, s] of this.queue) {
        this.queue.delete(k);
        this.rows.set(s.vector, batch.length * FEATURE_COUNT);
        batch.push(s);
        if (batch.length === this.maxBatch) break;
      }
      const t0 = process.hrtime.bigint();
      let probs: Float32Array;
      try {
        probs = await this.model.run(this.rows.subarray(0, batch.length * FEATURE_COUNT), batch.length);
      } catch (e) {
        this.stats.errors++;
        this.o.onError?.(`classifier: inference failed for ${batch.length} connections: ${(e as Error).message}`);
        continue;
      }
      this.stats.inferenceNs += Number(process.hrtime.bigint() - t0);
      this.stats.batches++;
      this.stats.scored += batch.length;
      const k = this.model.labels.length;
      for (let i = 0; i < batch.length; i++) {
        const s = batch[i]!;
        let best = 0;
        for (let c = 1; c < k; c++) if (probs[i * k + c]! > probs[i * k + best]!) best = c;
        const ml: MlInfo = { llm_score: Math.round(probs[i * k + this.model.positive]! * 1e4) / 1e4, label: this.model.labels[best]! };
        if (s.final) this.byConn.delete(s.connKey);
        else put(this.byConn, s.connKey, ml);
        put(this.byDest, s.destKey, ml);
        if (s.sni) put(this.bySni, s.sni, ml);
      }
    }
  }

  /** Resolves when every queued vector has been scored. */
  async drain(): Promise<void> {
    while (this.running || this.scheduled || (this.queue.size && !this.closed)) {
      if (this.running) await this.running;
      else await new Promise((r) => setImmediate(r));
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.drain();
    this.closed = true;
    await this.model.close();
  }
}

function put<K>(m: Map<K, MlInfo>, k: K, v: MlInfo): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > MAX_SCORES) m.delete(m.keys().next().value!);
}
