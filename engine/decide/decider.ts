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

/** Keys longer than this, in characters of their strings (events carrying a prompt the policy reads), are not memoised. */
const MAX_KEY = 2048;
const MAX_ENTRIES = 8192;
/** trie levels kept at most (a failed evaluation leaves its path without a decision) */
const MAX_LEVELS = MAX_ENTRIES * 8;

export class Decider {
  private memo: MemoKey | undefined;
  private root: Level = level();
  private entries = 0;
  private levels = 0;
  /** evaluations actually run, and answers from the memo */
  readonly stats = { evaluated: 0, memoised: 0 };

  constructor(private engine: PolicyEngine) {
    this.memo = memoKeyOf(engine);
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
    this.memo = memoKeyOf(engine);
    this.forget();
  }

  /** The policy's decision on one event; throws BustedError(POLICY) when the policy cannot decide. */
  decide(e: BustedEvent, json?: string): Decision {
    let slot: Level | undefined;
    if (this.memo?.of(e)) {
      if (this.entries >= MAX_ENTRIES || this.levels >= MAX_LEVELS) this.forget();
      slot = this.walk(this.memo);
      if (slot.decision) {
        this.stats.memoised++;
        return slot.decision;
      }
    }
    this.stats.evaluated++;
    // the engine writes what the policy reads straight from the event; JSON only when the caller has it already
    const v = this.engine.decide(e, json);
    const d: Decision = { action: v.action, reasons: v.reasons, kill: v.action === 'block' && this.engine.kills(e, json) };
    if (slot) {
      slot.decision = d;
      this.entries++;
    }
    return d;
  }

  /** The trie level of the key just made, made where missing. */
  private walk(k: MemoKey): Level {
    let at = this.root;
    for (let i = 0; i < k.length; i++) {
      const v = k.values[i];
      const byJson = k.json[i]!;
      // consecutive events mostly agree (a loop to one destination): the last step taken from each level first
      if (!byJson && v === at.lastKey && at.lastNext !== undefined) {
        at = at.lastNext;
        continue;
      }
      const map = byJson ? (at.byJson ??= new Map()) : at.byValue;
      let next = map.get(v as string);
      if (next === undefined) {
        next = level();
        map.set(v as string, next);
        this.levels++;
      }
      // only a value that is its own key: JSON text could pose as a string value
      if (!byJson) {
        at.lastKey = v;
        at.lastNext = next;
      }
      at = next;
    }
    return at;
  }

  private forget(): void {
    this.root = level();
    this.entries = 0;
    this.levels = 0;
  }
}

/**
 * Where decisions are memoised: a trie with a level per input path the
 * policy reads (after one for which guard paths are absent), each keyed by
 * the value at that path. Primitive values are keys themselves: Map's
 * SameValueZero keeps 1 and "1", null and absent apart, and no string needs
 * escaping or joining; objects and arrays go by their JSON, in a map of
 * their own, so that no string value can pose as one. A lookup is a Map
 * probe per path instead of building, flattening and hashing one long key
 * string (1.3 µs per memoised decision on the shipped policies before).
 */
interface Level {
  readonly byValue: Map<unknown, Level>;
  byJson?: Map<string, Level>;
  decision?: Decision;
  /** the value (not JSON) last looked up here, and where it led */
  lastKey: unknown;
  lastNext: Level | undefined;
}

const level = (): Level => ({ byValue: new Map(), lastKey: undefined, lastNext: undefined });

/** The key of a path that is absent from the event (undefined is not a Map key we want to confuse with anything). */
const ABSENT = Symbol('absent');

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

function memoKeyOf(engine: PolicyEngine): MemoKey | undefined {
  const use = engine.inputs;
  return use && !use.all && !use.volatile ? new MemoKey(memoPathsOf(use.paths, use.unlessAbsent)) : undefined;
}

/**
 * The values at PATHS of an event, into `out` in path order: for each, the
 * member named by each key in turn, undefined past anything that is not an
 * object. Generated code, a property read by its literal name at a site of
 * its own and each shared prefix read once, as project.ts does for the same
 * reason: a loop reading `v[k]` with keys that change from one read to the
 * next is a megamorphic keyed load per step, which was most of the cost of a
 * memoised decision.
 */
type Reads = (e: BustedEvent, out: unknown[]) => void;

function readsOf(paths: readonly (readonly string[])[]): Reads {
  interface Node {
    kids: Map<string, Node>;
    slots: number[];
  }
  const root: Node = { kids: new Map(), slots: [] };
  paths.forEach((p, i) => {
    let at = root;
    for (const k of p) {
      let next = at.kids.get(k);
      if (!next) at.kids.set(k, (next = { kids: new Map(), slots: [] }));
      at = next;
    }
    at.slots.push(i);
  });
  let vars = 0;
  const code = (n: Node, v: string): string => {
    let out = n.slots.map((i) => `out[${i}] = ${v};\n`).join('');
    for (const [k, kid] of n.kids) {
      const c = `n${vars++}`;
      const name = JSON.stringify(k);
      // a name Object.prototype has (`constructor`, `__proto__`) counts only as the event's own member, as in the projection
      const read = k in Object.prototype ? `(Object.hasOwn(${v}, ${name}) ? ${v}[${name}] : undefined)` : `${v}[${name}]`;
      out += `const ${c} = ${v} === null || typeof ${v} !== 'object' ? undefined : ${read};\n${code(kid, c)}`;
    }
    return out;
  };
  return new Function('e', 'out', code(root, 'e')) as Reads;
}

/**
 * The memo key of an event: the values at the paths the policy reads, one
 * per trie level, in arrays reused from event to event. With guards, the
 * first is which guard paths are absent, and the paths they make
 * irrelevant are left out.
 */
export class MemoKey {
  readonly values: unknown[] = [];
  /** per value: it is the JSON of an object or array */
  readonly json: boolean[] = [];
  length = 0;
  /** per path: the guards (as bits) whose absence leaves it out; undefined past 31 guards */
  private readonly unlessBits: number[] | undefined;

  /** the guards' values, then the paths' */
  private readonly read: Reads;
  private readonly at: unknown[] = [];

  constructor(readonly m: MemoPaths) {
    this.unlessBits = m.guards.length <= 31 ? m.unless.map((u) => u.reduce((b, g) => b | (1 << g), 0)) : undefined;
    this.read = readsOf([...m.guards, ...m.paths]);
  }

  /** Makes the key of `e`; false when its strings are too long to be worth keeping. */
  of(e: BustedEvent): boolean {
    const m = this.m;
    const at = this.at;
    const g0 = m.guards.length;
    this.read(e, at);
    let n = 0;
    let bits = 0;
    let absent: boolean[] | undefined;
    if (g0 > 0) {
      if (this.unlessBits) {
        for (let g = 0; g < g0; g++) if (at[g] === undefined) bits |= 1 << g;
        this.put(n++, bits, false);
      } else {
        absent = m.guards.map((_, g) => at[g] === undefined);
        this.put(n++, absent.map((a) => (a ? '0' : '1')).join(''), false);
      }
    }
    let chars = 0;
    for (let i = 0; i < m.paths.length; i++) {
      const skip = this.unlessBits ? (bits & this.unlessBits[i]!) !== 0 : absent !== undefined && m.unless[i]!.some((g) => absent![g]);
      if (skip) continue;
      const v = at[g0 + i];
      if (v === undefined) {
        this.put(n++, ABSENT, false);
      } else if (v === null || typeof v !== 'object') {
        if (typeof v === 'string') chars += v.length;
        this.put(n++, v, false);
      } else {
        const j = JSON.stringify(v);
        chars += j.length;
        this.put(n++, j, true);
      }
      if (chars > MAX_KEY) return false;
    }
    this.length = n;
    return true;
  }

  private put(i: number, v: unknown, json: boolean): void {
    this.values[i] = v;
    this.json[i] = json;
  }
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
