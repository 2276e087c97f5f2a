/**
 * Stage 5, decide: every event gets the policy's verdict (CONTRACT.md,
 * Policies), memoised by what the policy actually reads.
 *
 * A decision is a function of the subtrees of the input the policy refers
 * to (engine/policy/analysis.ts), so events that agree on those get the
 * same decision: a connect loop to one address is one evaluation, however
 * many connections it makes. Policies that read the whole input, call
 * builtins that change between calls (time, randomness), or come from an
 * opaque bundle are evaluated every time.
 */
import type { BustedEvent } from '../model/event.js';
import type { Action, PolicyEngine } from '../policy/engine.js';

export interface Decision {
  action: Action;
  reasons: string[];
  /** the policy wants the process killed too (`busted/kill`) */
  kill: boolean;
}

/** Keys longer than this (events carrying a prompt the policy reads) are not memoised. */
const MAX_KEY = 2048;
const MAX_ENTRIES = 8192;

export class Decider {
  private readonly cache = new Map<string, Decision>();
  private memo: MemoPaths | undefined;
  /** evaluations actually run, and answers from the memo */
  readonly stats = { evaluated: 0, memoised: 0 };

  constructor(private engine: PolicyEngine) {
    this.memo = memoPaths(engine);
  }

  get policy(): PolicyEngine {
    return this.engine;
  }

  get revision(): string {
    return this.engine.revision;
  }

  /** A new policy (hot reload): what was memoised no longer holds. */
  swap(engine: PolicyEngine): void {
    this.engine = engine;
    this.memo = memoPaths(engine);
    this.cache.clear();
  }

  /** The policy's decision on one event; throws BustedError(POLICY) when the policy cannot decide. */
  decide(e: BustedEvent, json?: string): Decision {
    const key = this.memo ? projection(e, this.memo) : undefined;
    if (key !== undefined) {
      const hit = this.cache.get(key);
      if (hit) {
        this.stats.memoised++;
        return hit;
      }
    }
    this.stats.evaluated++;
    // the engine writes what the policy reads straight from the event; JSON only when the caller has it already
    const v = this.engine.decide(e, json);
    const d: Decision = { action: v.action, reasons: v.reasons, kill: v.action === 'block' && this.engine.kills(e, json) };
    if (key !== undefined) {
      if (this.cache.size >= MAX_ENTRIES) this.cache.clear();
      this.cache.set(key, d);
    }
    return d;
  }
}

/**
 * What decisions are memoised by: the input paths the policy reads, and,
 * from the policy's guards (engine/policy/analysis.ts guards()), the paths
 * whose absence makes some of those irrelevant.
 */
export interface MemoPaths {
  paths: readonly string[][];
  /** every path some entry of `unless` names */
  guards: readonly string[][];
  /** per entry of `paths`: indexes into `guards`; one of them absent and the entry is left out of the key */
  unless: readonly (readonly number[])[];
}

export function memoPathsOf(paths: readonly string[][], unlessAbsent?: readonly string[][][]): MemoPaths {
  const index = new Map<string, number>();
  const guards: string[][] = [];
  const unless = paths.map((_, i) =>
    (unlessAbsent?.[i] ?? []).map((g) => {
      const k = g.join('\0');
      let at = index.get(k);
      if (at === undefined) index.set(k, (at = guards.push(g) - 1));
      return at;
    }),
  );
  return { paths, guards, unless };
}

function memoPaths(engine: PolicyEngine): MemoPaths | undefined {
  const use = engine.inputs;
  return use && !use.all && !use.volatile ? memoPathsOf(use.paths, use.unlessAbsent) : undefined;
}

function valueAt(e: BustedEvent, p: readonly string[]): unknown {
  let v: unknown = e;
  for (const k of p) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/**
 * The values of the event at the paths the policy reads, as one string;
 * undefined when too long to be worth keeping. With guards, the key starts
 * with which guard paths are absent, and leaves out the paths they make
 * irrelevant.
 */
export function projection(e: BustedEvent, m: MemoPaths): string | undefined {
  let key = '';
  let absent: boolean[] | undefined;
  if (m.guards.length > 0) {
    absent = m.guards.map((g) => valueAt(e, g) === undefined);
    for (const a of absent) key += a ? '0' : '1';
    key += '\x1f';
  }
  for (let i = 0; i < m.paths.length; i++) {
    const skip = absent !== undefined && m.unless[i]!.some((g) => absent![g]);
    if (skip) {
      key += '-\x1f';
      continue;
    }
    const v = valueAt(e, m.paths[i]!);
    // absent and null differ to a policy (`not input.x` vs `input.x == null`)
    key += v === undefined ? '~\x1f' : `${JSON.stringify(v)}\x1f`;
    if (key.length > MAX_KEY) return undefined;
  }
  return key;
}

/** The `decision` event reporting a decision on `subject` (CONTRACT.md, Events). */
export function decisionEvent(id: string, time: string, subject: BustedEvent, d: Decision, enforced: boolean, revision: string): BustedEvent {
  const ev: BustedEvent = { id, time, type: 'decision' };
  if (subject.process) ev.process = subject.process;
  if (subject.net) ev.net = subject.net;
  if (subject.provider) ev.provider = subject.provider;
  ev.decision = { action: d.action, reasons: d.reasons, enforced, policy_revision: revision, subject: subject.id };
  return ev;
}
