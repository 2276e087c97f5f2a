/**
 * `busted enforce --policies SRC`: the agent of `monitor`, with every event
 * decided by the policy and the decisions enforced (engine/enforce), the
 * policy followed as it changes (engine/policy/watch.ts). A policy that
 * does not compile at start is a usage error (exit 2, file:row:col); one
 * that stops compiling later is reported and the last good one stays.
 */
import { Decider } from '../decide/decider.js';
import { BustedError, ErrorCode } from '../model/errors.js';
import type { BustedEvent } from '../model/event.js';
import { PolicyEngine } from '../policy/engine.js';
import { RegoError, RegoErrors } from '../policy/rego/errors.js';
import { PolicySource } from '../policy/watch.js';
import type { Agent } from '../pipeline.js';
import { runAgent, type MonitorCliOptions } from './monitor.js';
import type { HoldWrites } from '../kernel/enforce-maps.js';

export interface EnforceCliOptions extends MonitorCliOptions {
  policies: string;
  dryRun?: boolean;
  failClosed?: boolean;
  gate: boolean;
  holdWrites?: HoldWrites;
  pollSeconds?: number;
  policiesCa?: string;
  pin?: boolean;
}

let seq = 0;

function policyEvent(src: string, revision: string, reloads: number, previous?: string, changed?: string[]): BustedEvent {
  const e: BustedEvent = { id: `policy-${++seq}`, time: new Date().toISOString().replace('Z', '000000Z'), type: 'policy', policy: { revision, source: src, reloads } };
  if (previous) e.policy!.previous = previous;
  if (changed?.length) e.policy!.changed = changed;
  return e;
}

function errorEvent(message: string): BustedEvent {
  return { id: `policy-err-${++seq}`, time: new Date().toISOString().replace('Z', '000000Z'), type: 'error', error: { code: ErrorCode.POLICY, message, field: 'policies' } };
}

export async function runEnforce(o: EnforceCliOptions, demo?: { follow: boolean }): Promise<number> {
  const source = new PolicySource(o.policies, { pollSeconds: o.pollSeconds, caFile: o.policiesCa });
  let engine: PolicyEngine;
  try {
    engine = await PolicyEngine.fromBuild(await source.load());
  } catch (e) {
    if (e instanceof RegoErrors || e instanceof RegoError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof BustedError && (e.code === ErrorCode.POLICY || e.code === ErrorCode.USAGE)) {
      process.stderr.write(`busted: ${e.code}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const decider = new Decider(engine);
  let agent: Agent | undefined;
  let reloads = 0;
  return runAgent(o, {
    demo,
    verb: o.dryRun ? 'deciding (dry run, nothing enforced) on' : 'enforcing on',
    pin: o.pin === true && !o.dryRun,
    policy: { decider, dryRun: o.dryRun === true, failClosed: o.failClosed === true, reportAllow: o.format === 'json', gate: o.gate, ...(o.holdWrites ? { holdWrites: o.holdWrites } : {}) },
    onStarted: async (a) => {
      agent = a;
      a.report(policyEvent(o.policies, engine.revision, 0));
      process.stderr.write(`busted: policy ${engine.revision} from ${o.policies}${source.src.startsWith('http') ? `, polled every ${o.pollSeconds ?? 30} s` : ', reloaded when it changes'}\n`);
      if (o.gate !== false && !o.dryRun && a.holdHow) process.stderr.write(`busted: gated TLS writes held ${a.holdHow}\n`);
      source.follow(
        async (build, changed) => {
          const previous = decider.revision;
          let next: PolicyEngine;
          try {
            next = await PolicyEngine.fromBuild(build);
          } catch (e) {
            agent?.report(errorEvent(`policy ${build.revision} does not load; ${previous} stays in force: ${(e as Error).message}`));
            return;
          }
          decider.swap(next);
          agent?.policyChanged();
          reloads++;
          agent?.report(policyEvent(o.policies, next.revision, reloads, previous, changed));
        },
        (e) => agent?.report(errorEvent(`policy not reloaded, ${decider.revision} stays in force: ${e.message}`)),
      );
      await source.ready();
    },
    onStopping: () => source.close(),
  });
}
