/**
 * `busted test-policy --policies SRC [--events GLOB ...]` (CONTRACT.md,
 * "Command line"): Rego unit tests and recorded-event expectations.
 * Exit 0 all pass, 1 a failure, 2 a usage or compile error.
 */
import { writeFileSync } from 'node:fs';

import { BustedError, ErrorCode } from '../model/errors.js';
import { RegoError, RegoErrors } from '../policy/rego/errors.js';
import { formatJson, formatJunit, formatText } from '../policy/tester/report.js';
import { testPolicy } from '../policy/tester/run.js';

export interface TestPolicyCliOptions {
  policies: string;
  events: string[];
  format: 'text' | 'json' | 'junit';
  junit?: string;
  run?: string;
  verbose?: boolean;
  showDecisions?: boolean;
  coverage?: boolean;
  threshold?: number;
  baseline?: string;
  failOnDiff?: boolean;
  v0Compatible?: boolean;
}

/** GitHub Actions sets GITHUB_ACTIONS=true: failures then also become annotations on the files. */
function onGithub(): boolean {
  return process.env.GITHUB_ACTIONS === 'true';
}

export async function runTestPolicy(o: TestPolicyCliOptions): Promise<number> {
  let run: RegExp | undefined;
  if (o.run !== undefined) {
    try {
      run = new RegExp(o.run);
    } catch (e) {
      throw new BustedError(ErrorCode.USAGE, `--run ${o.run}: ${(e as Error).message}`, 'run');
    }
  }
  if (o.threshold !== undefined && !o.coverage) throw new BustedError(ErrorCode.USAGE, '--threshold applies to --coverage', 'threshold');
  let report;
  try {
    report = await testPolicy({
      policies: o.policies,
      events: o.events,
      run,
      explain: true,
      keepDecisions: o.showDecisions === true,
      coverage: o.coverage === true,
      threshold: o.threshold,
      baseline: o.baseline,
      failOnDiff: o.failOnDiff === true,
      v0Compatible: o.v0Compatible === true,
    });
  } catch (e) {
    if (e instanceof RegoErrors || e instanceof RegoError) {
      process.stderr.write(`${e.message}\n`);
      if (onGithub()) {
        for (const x of e instanceof RegoErrors ? e.errors : [e]) {
          process.stdout.write(`::error file=${x.location.file},line=${x.location.row},col=${x.location.col},title=${x.code}::${x.reason.replace(/\n/g, '%0A')}\n`);
        }
      }
      return 2;
    }
    // policy sources that cannot be read or loaded (a broken data.json, a
    // .rego link to nothing, a bundle without busted/decision) are no more
    // testable than Rego that does not compile: exit 2, as the contract says
    if (e instanceof BustedError && e.code === ErrorCode.POLICY) {
      process.stderr.write(`busted: ${e.code}: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const text =
    o.format === 'json' ? formatJson(report) : o.format === 'junit' ? formatJunit(report) : formatText(report, { verbose: o.verbose, showDecisions: o.showDecisions, github: onGithub() });
  process.stdout.write(text);
  if (o.junit) {
    try {
      writeFileSync(o.junit, formatJunit(report));
    } catch (e) {
      throw new BustedError(ErrorCode.USAGE, `--junit ${o.junit}: ${(e as Error).message}`, 'junit');
    }
  }
  return report.summary.ok ? 0 : 1;
}
