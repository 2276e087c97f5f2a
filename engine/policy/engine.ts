/**
 * The policy engine the agent asks about every event (CONTRACT.md,
 * Policies): `busted/decision` ("allow" | "audit" | "block"; "deny" is
 * read as "block"; undefined is "allow") and `busted/reasons` (a set of
 * strings), evaluated by @open-policy-agent/opa-wasm on a module we
 * compiled or one `opa build -t wasm` made.
 */
import type { LoadedPolicy } from '@open-policy-agent/opa-wasm';

import { BustedError, ErrorCode } from '../model/errors.js';
import { loadCompiled, type LoadOptions } from './builtins-js.js';
import type { InputUse } from './analysis.js';
import { InputProjector } from './project.js';
import { buildPolicy, ENTRYPOINTS, OPTIONAL_ENTRYPOINTS, type PolicyBuild } from './source.js';

export type Action = 'allow' | 'audit' | 'block';

export interface Verdict {
  action: Action;
  reasons: string[];
}

const ACTIONS: Readonly<Record<string, Action>> = { allow: 'allow', audit: 'audit', block: 'block', deny: 'block' };

const encoder = new TextEncoder();

/** JSON text as bytes in an ArrayBuffer of exactly their size: the SDK copies those into the module as they are. */
function jsonBytes(text: string): ArrayBuffer {
  const u8 = encoder.encode(text);
  return u8.byteOffset === 0 && u8.byteLength === u8.buffer.byteLength ? (u8.buffer as ArrayBuffer) : (u8.slice().buffer as ArrayBuffer);
}

export class PolicyEngine {
  /** writes what the policy is given for an event (project.ts); for modules our compiler built, whose parser skips its padding */
  private readonly projector: InputProjector | undefined;

  private constructor(
    private readonly policy: LoadedPolicy,
    readonly build: PolicyBuild,
    private readonly hasReasons: boolean,
    /** the policy defines `busted/kill` */
    readonly hasKill: boolean,
  ) {
    this.projector = build.kind === 'rego' ? new InputProjector(build.inputs) : undefined;
  }

  /**
   * The input bytes for an event: what the policy reads of it, when that is
   * known; else its JSON (`json`, when the caller has it). A bundle's module
   * gets exactly the JSON's bytes.
   */
  private input(event: object, json: string | undefined): ArrayBuffer {
    const p = this.projector;
    if (p) return p.partial || json === undefined ? p.project(event) : p.text(json);
    return jsonBytes(json ?? JSON.stringify(event));
  }

  /** What the policy reads of its input; undefined when unknown (a bundle's policy.wasm): assume everything. */
  get inputs(): InputUse | undefined {
    return this.build.inputs;
  }

  /** Reads, compiles (for Rego) and loads SRC; errors name the file (and row:col for Rego). */
  static async load(src: string, opts: LoadOptions = {}): Promise<PolicyEngine> {
    return PolicyEngine.fromBuild(buildPolicy(src), opts);
  }

  static async fromBuild(build: PolicyBuild, opts: LoadOptions = {}): Promise<PolicyEngine> {
    let policy: LoadedPolicy;
    try {
      policy = await loadCompiled(build.wasm, undefined, opts);
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `the policy module does not load: ${(e as Error).message ?? e}`, 'policies');
    }
    const eps = Object.keys((policy as unknown as { entrypoints: Record<string, number> }).entrypoints ?? {});
    if (!eps.includes(ENTRYPOINTS[0])) {
      throw new BustedError(
        ErrorCode.POLICY,
        `the policy has no entrypoint ${ENTRYPOINTS[0]} (it has: ${eps.join(', ') || 'none'}); build bundles with -e busted/decision -e busted/reasons`,
        'policies',
      );
    }
    policy.setData(build.data);
    return new PolicyEngine(policy, build, eps.includes(ENTRYPOINTS[1]), eps.includes(OPTIONAL_ENTRYPOINTS[0]));
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
    const input = this.input(event, json);
    let out: Array<{ result: unknown }>;
    try {
      out = this.policy.evaluate(input, ENTRYPOINTS[0]) as Array<{ result: unknown }>;
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `busted/decision: ${(e as Error).message ?? e}`, 'decision');
    }
    const raw = out.length ? out[0]!.result : 'allow';
    const action = typeof raw === 'string' ? ACTIONS[raw] : undefined;
    if (action === undefined) {
      throw new BustedError(ErrorCode.POLICY, `busted/decision is ${JSON.stringify(raw)}: expected "allow", "audit", "block" or "deny"`, 'decision');
    }
    if (action === 'allow' || !this.hasReasons) return { action, reasons: [] };
    let rs: Array<{ result: unknown }>;
    try {
      rs = this.policy.evaluate(input, ENTRYPOINTS[1]) as Array<{ result: unknown }>;
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `busted/reasons: ${(e as Error).message ?? e}`, 'reasons');
    }
    const reasons = rs.length ? rs[0]!.result : [];
    if (!Array.isArray(reasons) || !reasons.every((r) => typeof r === 'string')) {
      throw new BustedError(ErrorCode.POLICY, `busted/reasons is ${JSON.stringify(reasons)}: expected a set of strings`, 'reasons');
    }
    return { action, reasons: [...reasons].sort() };
  }

  /**
   * Whether the policy wants the process behind a blocked event killed too
   * (`busted/kill` is true). False when the policy does not define it.
   */
  kills(event: object, json?: string): boolean {
    if (!this.hasKill) return false;
    let out: Array<{ result: unknown }>;
    try {
      out = this.policy.evaluate(this.input(event, json), OPTIONAL_ENTRYPOINTS[0]) as Array<{ result: unknown }>;
    } catch (e) {
      throw new BustedError(ErrorCode.POLICY, `busted/kill: ${(e as Error).message ?? e}`, 'kill');
    }
    return out.length > 0 && out[0]!.result === true;
  }
}
