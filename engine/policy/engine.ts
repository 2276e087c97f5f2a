/**
 * The policy engine the agent asks about every event (CONTRACT.md,
 * Policies): `busted/decision` ("allow" | "audit" | "block"; "deny" is
 * read as "block"; undefined is "allow") and `busted/reasons` (a set of
 * strings), evaluated by @open-policy-agent/opa-wasm on a module we
 * compiled or one `opa build -t wasm` made.
 */
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

import { BustedError, ErrorCode } from '../model/errors.js';
import { loadCompiled, newEvaluation, type LoadOptions } from './builtins-js.js';
import { PATH_TABLE_SECTION, pathTableHash, reads, type InputUse } from './analysis.js';
import { customSection } from './runtime/module.js';
import { DirectEval } from './direct.js';
import { ImageProjector, TooDeep } from './image.js';
import { InputProjector } from './project.js';
import { buildPolicy, ENTRYPOINTS, OPTIONAL_ENTRYPOINTS, type PolicyBuild } from './source.js';

export type Action = 'allow' | 'audit' | 'block';

export interface Verdict {
  action: Action;
  reasons: string[];
}

const ACTIONS: Readonly<Record<string, Action>> = { allow: 'allow', audit: 'audit', block: 'block', deny: 'block' };

type ResultSet = Array<{ result: unknown }>;

export class PolicyEngine {
  /**
   * writes what the policy is given for an event (project.ts): what it
   * reads of it when our compiler knows, else all of it (a bundle's module)
   */
  private readonly projector: InputProjector;
  /** opa_eval on the SDK's instance (direct.ts); undefined: the SDK's evaluate() */
  private readonly direct: DirectEval | undefined;
  /**
   * on the direct path, for Rego we compiled whose reads are known: the
   * input written as the runtime's values (image.ts), nothing to parse
   */
  private readonly image: ImageProjector | undefined;
  /** entrypoint name → id */
  private readonly ids: Readonly<Record<string, number>>;
  /** the input for evaluate() when there is no direct path */
  private pending: ArrayBuffer | undefined;

  private constructor(
    private readonly policy: LoadedPolicy,
    readonly build: PolicyBuild,
    private readonly hasReasons: boolean,
    /** the policy defines `busted/kill` */
    readonly hasKill: boolean,
    ids: Record<string, number>,
  ) {
    this.projector = new InputProjector(build.kind === 'rego' ? build.inputs : undefined);
    this.direct = DirectEval.of(policy);
    const use = build.kind === 'rego' ? build.inputs : undefined;
    this.image = this.direct && use && !use.all ? new ImageProjector(use, this.direct.hostArena) : undefined;
    this.ids = ids;
  }

  /**
   * Hands the module the input for an event: what the policy reads of it,
   * when that is known; else its JSON (`json`, when the caller has it).
   */
  private setInput(event: object, json: string | undefined): void {
    // a new event, a new evaluation: time.now_ns reads the clock again (its decision and reasons share it)
    newEvaluation();
    this.decided = undefined;
    const p = this.projector;
    const text = p.partial ? undefined : json;
    const d = this.direct;
    if (d === undefined) {
      this.pending = p.project(event, text);
      return;
    }
    const at = d.inputAddress();
    if (this.image) {
      try {
        const { input, end } = this.image.write(d.ensure(at + 1), at, d.ensure, event);
        d.inputWritten(end, input);
        return;
      } catch (e) {
        if (!(e instanceof TooDeep)) throw e;
        // as JSON, which the module refuses as it refuses any input that deep
      }
    }
    d.inputWritten(p.into(d.ensure(at + 1), at, d.ensure, event, text));
  }

  /**
   * One entrypoint on the input set last; its name labels what it throws.
   * AGAIN: another on the same input, right after one that succeeded.
   */
  private run(entrypoint: string, again = false): ResultSet {
    try {
      const d = this.direct;
      return (d !== undefined ? d.evaluate(this.ids[entrypoint]!, again) : this.policy.evaluate(this.pending, entrypoint)) as ResultSet;
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `${entrypoint}: ${(e as Error).message ?? e}`, entrypoint.slice(entrypoint.indexOf('/') + 1));
    }
  }

  /** What the policy reads of its input; undefined when unknown (a bundle's policy.wasm): assume everything. */
  get inputs(): InputUse | undefined {
    return this.build.inputs;
  }

  /**
   * Whether the policy may read the input member at PATH. Rego we compiled
   * says exactly (inputs); a bundle's module is opaque, but a member it
   * names is a string in it (OPA's planner keeps every ref's keys as
   * string constants) or in its data: a member named in neither is not
   * read. What is costly to provide for every event (an executable's hash)
   * is provided only when this says so.
   */
  mayRead(path: readonly string[]): boolean {
    const use = this.build.inputs;
    if (use) return reads(use, path);
    const name = path[path.length - 1]!;
    return (this.named ??= new Map()).get(name) ?? this.remember(name, Buffer.from(this.build.wasm).includes(name) || JSON.stringify(this.build.data).includes(JSON.stringify(name).slice(1, -1)));
  }

  private named: Map<string, boolean> | undefined;

  private remember(name: string, yes: boolean): boolean {
    this.named!.set(name, yes);
    return yes;
  }

  /** Reads, compiles (for Rego) and loads SRC; errors name the file (and row:col for Rego). */
  static async load(src: string, opts: LoadOptions = {}): Promise<PolicyEngine> {
    return PolicyEngine.fromBuild(buildPolicy(src), opts);
  }

  static async fromBuild(build: PolicyBuild, opts: LoadOptions = {}): Promise<PolicyEngine> {
    // before the module is instantiated: refused, it costs nothing
    if (build.kind === 'rego' && build.inputs?.tabled) checkPathTable(build.wasm, build.inputs.tabled);
    let policy: LoadedPolicy;
    try {
      policy = await loadCompiled(build.wasm, undefined, opts);
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `the policy module does not load: ${(e as Error).message ?? e}`, 'policies');
    }
    const ids = (policy as unknown as { entrypoints?: Record<string, number> }).entrypoints ?? {};
    const eps = Object.keys(ids);
    if (!eps.includes(ENTRYPOINTS[0])) {
      throw new BustedError(
        ErrorCode.POLICY,
        `the policy has no entrypoint ${ENTRYPOINTS[0]} (it has: ${eps.join(', ') || 'none'}); build bundles with -e busted/decision -e busted/reasons`,
        'policies',
      );
    }
    policy.setData(build.data);
    return new PolicyEngine(policy, build, eps.includes(ENTRYPOINTS[1]), eps.includes(OPTIONAL_ENTRYPOINTS[0]), ids);
  }

  get revision(): string {
    return this.build.revision;
  }

  /**
   * The verdict on one event. A decision that is not one of the four
   * words, reasons that are not strings, or an evaluation error (a
   * conflict) throws BustedError: the caller decides what an unusable
   * policy means, never silently "allow". `json`, when given, must be
   * JSON.stringify(event).
   */
  decide(event: object, json?: string): Verdict {
    // the pipeline serialises each event for its sinks anyway: it may pass that text
    // (used when the whole event is read; a projection is cheaper than its bytes)
    this.setInput(event, json);
    const out = this.run(ENTRYPOINTS[0]);
    const raw = out.length ? out[0]!.result : 'allow';
    const action = typeof raw === 'string' ? ACTIONS[raw] : undefined;
    if (action === undefined) {
      throw new BustedError(ErrorCode.POLICY, `busted/decision is ${JSON.stringify(raw)}: expected "allow", "audit", "block" or "deny"`, 'decision');
    }
    if (action === 'allow' || !this.hasReasons) {
      this.decided = event;
      return { action, reasons: [] };
    }
    const rs = this.run(ENTRYPOINTS[1], true);
    const reasons = rs.length ? rs[0]!.result : [];
    if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) {
      throw new BustedError(ErrorCode.POLICY, `busted/reasons is ${JSON.stringify(reasons)}: expected a set of strings`, 'reasons');
    }
    this.decided = event;
    return { action, reasons: [...reasons].sort() };
  }

  /** the event whose input the module holds and whose decision finished: kills() of it evaluates "again" */
  private decided: object | undefined;

  /**
   * Whether the policy wants the process behind a blocked event killed too
   * (`busted/kill` is true). False when the policy does not define it.
   */
  kills(event: object, json?: string): boolean {
    if (!this.hasKill) return false;
    // right after decide() of the same event (the decider's order), its input is
    // still in place and the rules worked out for the decision are kept (run's AGAIN)
    const again = this.decided === event;
    this.decided = undefined;
    if (!again) this.setInput(event, json);
    const out = this.run(OPTIONAL_ENTRYPOINTS[0], again);
    return out.length > 0 && out[0]!.result === true;
  }
}

/**
 * The module carries the hash of the path table TABLED describes
 * (analysis.ts PATH_TABLE_SECTION): the input images written from TABLED
 * put each value at the id this module reads it from. A module paired with
 * another compile's input paths would decide on the wrong values without a
 * word (it happened once, in the coverage replay), so it is refused.
 */
function checkPathTable(wasm: Uint8Array, tabled: ReadonlyArray<readonly string[] | undefined>): void {
  const sec = customSection(wasm, PATH_TABLE_SECTION);
  const want = pathTableHash(tabled);
  const got = sec?.length === 4 ? new DataView(sec.buffer, sec.byteOffset, 4).getUint32(0, true) : undefined;
  if (got !== want) {
    throw new BustedError(
      ErrorCode.POLICY,
      `internal error: the policy module's path table (${got === undefined ? 'none' : got.toString(16)}) is not the one its input paths describe (${want.toString(16)}): module and paths come from different compiles`,
      'policies',
    );
  }
}
