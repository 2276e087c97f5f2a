/**
 * `busted test-policy`, as one function the CLI, the tests and the
 * benchmark call: unit tests, replayed recordings with their expectations,
 * the policy diff against a baseline and coverage, gathered into one
 * report (report.ts prints it as text, JSON or JUnit XML).
 *
 * Usage problems (no such file, a glob that matches nothing, nothing to
 * test) are BustedError(USAGE); policies or tests that do not compile are
 * RegoErrors: both are exit 2 for the CLI. Everything else is in the
 * report, whose `ok` says whether the run passed.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';

import { BustedError, ErrorCode } from '../../model/errors.js';
import type { BustedEvent } from '../../model/event.js';
import { compile } from '../compiler.js';
import { PolicyEngine } from '../engine.js';
import type { CoverSite } from '../ir/ir.js';
import type { ParseOptions } from '../rego/parser.js';
import { buildPolicy, ENTRYPOINTS, OPTIONAL_ENTRYPOINTS, regoSources } from '../source.js';
import { Decider } from '../../decide/decider.js';
import { Coverage, type CoverageReport } from './coverage.js';
import { eventFiles, replay, type ReplayResult } from './replay.js';
import { loadSuite, runUnitTests, selectTests, type TestSuite, type UnitResult } from './unit.js';

export interface TestPolicyOptions {
  policies: string;
  /** --events: files, directories, globs */
  events?: string[];
  run?: RegExp;
  /** explain failed tests (their operands' values) */
  explain?: boolean;
  keepDecisions?: boolean;
  coverage?: boolean;
  /** with coverage: the run fails below this percentage */
  threshold?: number;
  baseline?: string;
  failOnDiff?: boolean;
  v0Compatible?: boolean;
}

export interface TestPolicyReport {
  policies: { source: string; revision: string; kind: 'rego' | 'bundle' };
  baseline?: { source: string; revision: string };
  tests: UnitResult[];
  replay: ReplayResult;
  coverage?: CoverageReport;
  threshold?: number;
  failOnDiff: boolean;
  summary: Summary;
}

export interface Summary {
  tests: { pass: number; fail: number; error: number; skip: number };
  expectations: { pass: number; fail: number };
  files: number;
  events: number;
  decided: number;
  /** malformed lines and expectations */
  problems: number;
  /** events the policy could not decide */
  evaluationErrors: number;
  /** recorded decisions replayed differently under the same revision */
  mismatches: number;
  diff: number;
  coverageBelowThreshold: boolean;
  ok: boolean;
}

function isRegoSource(src: string): boolean {
  try {
    const st = statSync(src);
    if (st.isFile()) return src.endsWith('.rego');
    return !statSync(join(src, 'policy.wasm'), { throwIfNoEntry: false })?.isFile();
  } catch {
    return false;
  }
}

/** The engine `enforce` would load for SRC; with coverage, the same policies instrumented. */
async function replayEngine(src: string, parse: ParseOptions, coverage: Coverage | undefined): Promise<PolicyEngine> {
  const build = buildPolicy(src, ENTRYPOINTS, { parse });
  if (!coverage || build.kind !== 'rego') return PolicyEngine.fromBuild(build);
  const dir = statSync(src).isDirectory();
  const sources = regoSources(src).map((s) => ({ file: dir ? join(src, s.file) : s.file, text: s.text }));
  // the entrypoints buildPolicy plans: decision, and reasons and kill where the policy defines them
  const c = compile(sources, { entrypoints: [ENTRYPOINTS[0]], optional: [ENTRYPOINTS[1], ...OPTIONAL_ENTRYPOINTS], coverage: true, parse });
  // its own input use: the path table's ids are the coverage build's (another plan may number them otherwise)
  return PolicyEngine.fromBuild({ ...build, wasm: c.wasm, inputs: c.inputs }, { cover: coverage.track(c.cover ?? []) });
}

export async function testPolicy(o: TestPolicyOptions): Promise<TestPolicyReport> {
  const parse: ParseOptions = { v0Compatible: o.v0Compatible === true };
  const files = eventFiles(o.events ?? []);
  const rego = isRegoSource(o.policies);
  if (o.coverage && !rego) throw new BustedError(ErrorCode.USAGE, `--coverage: ${o.policies} is a bundle; coverage needs the Rego sources`, 'coverage');
  // Read and compile everything before running anything: a compile error is exit 2, whatever else there is.
  const suite: TestSuite | undefined = rego ? loadSuite(o.policies, parse) : undefined;
  const coverage = o.coverage ? new Coverage() : undefined;
  // the decision entrypoints are needed only to replay events (a library of functions may have tests only)
  const engine = files.length ? await replayEngine(o.policies, parse, coverage) : undefined;
  const baseline = o.baseline !== undefined ? await PolicyEngine.fromBuild(buildPolicy(o.baseline, ENTRYPOINTS, { parse })) : undefined;
  if (o.baseline !== undefined && files.length === 0) throw new BustedError(ErrorCode.USAGE, '--baseline compares decisions on recorded events: give them with --events', 'baseline');

  const selected = suite ? selectTests(suite, o.run) : [];
  if (selected.length === 0 && files.length === 0) {
    const why = !suite
      ? `${o.policies} is a bundle (no Rego tests)`
      : o.run
        ? `no test matches --run ${o.run.source}`
        : `no test_* rules under ${o.policies}`;
    throw new BustedError(ErrorCode.USAGE, `nothing to test: ${why}, and no --events`, 'policies');
  }

  const tests = suite
    ? await runUnitTests(suite, {
        run: o.run,
        explain: o.explain,
        coverage: coverage ? coverageHooks(coverage) : undefined,
      })
    : [];
  // decided as the agent decides (engine/decide): the same call, the same memo by the input paths the policy reads
  const decider = engine ? new Decider(engine) : undefined;
  const baseDecider = baseline ? new Decider(baseline) : undefined;
  const verdict = (d: Decider) => (v: object, text: string) => {
    const x = d.decide(v as BustedEvent, text);
    return { action: x.action, reasons: x.reasons };
  };
  const rep = files.length
    ? replay(files, engine!, {
        baseline,
        decider: verdict(decider!),
        baselineDecider: baseDecider ? verdict(baseDecider) : undefined,
        keepDecisions: o.keepDecisions,
      })
    : { files: [], decisions: [], diff: [] };
  const cov = coverage && suite ? coverage.report(suite.modules.filter((m) => suite.policyFiles.includes(m.file))) : undefined;

  const summary: Summary = {
    tests: { pass: 0, fail: 0, error: 0, skip: 0 },
    expectations: { pass: 0, fail: 0 },
    files: rep.files.length,
    events: 0,
    decided: 0,
    problems: 0,
    evaluationErrors: 0,
    mismatches: 0,
    diff: rep.diff.length,
    coverageBelowThreshold: cov !== undefined && o.threshold !== undefined && cov.coverage < o.threshold,
    ok: false,
  };
  for (const t of tests) summary.tests[t.status]++;
  for (const f of rep.files) {
    summary.events += f.events;
    summary.decided += f.decided;
    summary.problems += f.problems.length;
    summary.evaluationErrors += f.errors.length;
    summary.mismatches += f.mismatches.length;
    for (const x of f.expectations) summary.expectations[x.status]++;
  }
  summary.ok =
    summary.tests.fail + summary.tests.error + summary.expectations.fail + summary.problems + summary.evaluationErrors + summary.mismatches === 0 &&
    !summary.coverageBelowThreshold &&
    !(o.failOnDiff === true && summary.diff > 0);
  const report: TestPolicyReport = {
    policies: { source: o.policies, revision: engine?.revision ?? '', kind: rego ? 'rego' : 'bundle' },
    tests,
    replay: rep,
    failOnDiff: o.failOnDiff === true,
    summary,
  };
  if (baseline) report.baseline = { source: o.baseline!, revision: baseline.revision };
  if (cov) report.coverage = cov;
  if (o.threshold !== undefined) report.threshold = o.threshold;
  return report;
}

/** runUnitTests' coverage option: the test build's sites tracked, its hits marked. */
function coverageHooks(coverage: Coverage): { sites: (s: CoverSite[]) => void; hit: (i: number) => void } {
  let hook: (i: number) => void = () => {};
  return {
    sites: (sites) => {
      hook = coverage.track(sites);
    },
    hit: (i) => hook(i),
  };
}
