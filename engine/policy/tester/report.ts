/**
 * The test-policy report in the three formats of `--format`:
 *
 * - text: `opa test`'s layout (failures, then PASS/FAIL counts; every test
 *   with -v), then the recordings, the policy diff and coverage; on GitHub
 *   Actions also `::error file=…,line=…::` commands, so failures show on
 *   the pull request's lines;
 * - json: one object (tests, event files with their expectations, diff,
 *   coverage in `opa test --coverage`'s shape, summary);
 * - junit: JUnit XML as GitHub Actions reporters, GitLab
 *   (artifacts:reports:junit) and Jenkins (junit step) read it: a
 *   testsuite per test file and per recording, a testcase per test, per
 *   expectation and per problem line.
 */
import type { CoverageReport } from './coverage.js';
import { ranges } from './coverage.js';
import type { Decided, FileResult } from './replay.js';
import type { TestPolicyReport } from './run.js';
import type { UnitResult } from './unit.js';

const RULE = '-'.repeat(80);

function ms(x: number): string {
  return x < 1 ? `${Math.round(x * 1000)}µs` : `${x.toFixed(1)}ms`;
}

function json(v: unknown): string {
  return v === undefined ? 'undefined' : JSON.stringify(v);
}

/** One line that says what an event was: its type and what the policies look at. */
export function describeEvent(e: Record<string, unknown>): string {
  const o = (k: string) => (e[k] !== null && typeof e[k] === 'object' ? (e[k] as Record<string, unknown>) : {});
  const parts: string[] = [String(e.type ?? '?')];
  if (typeof e.provider === 'string') parts.push(e.provider);
  const llm = o('llm');
  if (typeof llm.model === 'string') parts.push(`model ${llm.model}`);
  const mcp = o('mcp');
  if (typeof mcp.method === 'string') parts.push(`${mcp.method}${typeof mcp.tool === 'string' ? ` ${mcp.tool}` : ''}`);
  const host = o('tls').sni ?? o('http').host ?? (o('dns').questions as Array<{ name?: string }> | undefined)?.[0]?.name;
  if (typeof host === 'string') parts.push(host);
  const tls = o('tls');
  if (e.type === 'tls_server_hello' && typeof tls.version === 'string') parts.push(`${tls.version}${typeof tls.cipher === 'string' ? ` ${tls.cipher}` : ''}`);
  const net = o('net');
  if (typeof net.dst_ip === 'string') parts.push(`${net.dst_ip}:${net.dst_port}`);
  const p = o('process');
  if (typeof p.comm === 'string') parts.push(`by ${p.comm}[${p.pid}]`);
  return parts.join(' ');
}

function verdict(v: { action: string; reasons: string[] } | undefined, err?: string): string {
  if (err !== undefined) return `error: ${err}`;
  if (!v) return '?';
  return v.reasons.length ? `${v.action} (${v.reasons.join('; ')})` : v.action;
}

function expectationLabel(x: { subject?: string; match?: unknown; action: string; name?: string }): string {
  const what = x.subject !== undefined ? `subject ${x.subject}` : `match ${JSON.stringify(x.match)}`;
  return `${x.name ? `${x.name}: ` : ''}${what} → ${x.action}`;
}

/* -------------------------------------------------------------------- text */

export function formatText(r: TestPolicyReport, o: { verbose?: boolean; showDecisions?: boolean; github?: boolean } = {}): string {
  const out: string[] = [];
  const annotations: string[] = [];
  const annotate = (file: string, line: number, title: string, message: string) => {
    if (o.github) annotations.push(`::error file=${ghProp(file)},line=${line},title=${ghProp(title)}::${ghData(message)}`);
  };

  // unit tests, grouped by file as opa test does
  const shown = r.tests.filter((t) => o.verbose || t.status === 'fail' || t.status === 'error');
  let lastFile = '';
  for (const t of shown) {
    if (t.file !== lastFile) {
      if (lastFile) out.push('');
      out.push(`${t.file}:`);
      lastFile = t.file;
    }
    out.push(`${t.name}: ${t.status === 'skip' ? 'SKIPPED' : t.status.toUpperCase()} (${ms(t.durationMs)})`);
    if (t.status === 'error') {
      out.push(`  ${t.error}`);
      annotate(t.file, t.row, `${t.name}: ERROR`, t.error ?? '');
    }
    if (t.status === 'fail') {
      if (t.failedAt) {
        out.push(`  ${t.failedAt.file}:${t.failedAt.row}: ${t.failedAt.text}`);
        for (const op of t.failedAt.operands ?? []) {
          if (op.values.length === 0) continue;
          op.values.forEach((vs, i) => out.push(`    ${op.term} = ${vs.length === 0 ? 'undefined' : (op.texts?.[i] ?? vs.map(json)).join(' | ')}`));
        }
      }
      if ('value' in t) out.push(`  value: ${json(t.value)}`);
      else if (!t.failedAt) out.push('  undefined');
      annotate(t.failedAt?.file ?? t.file, t.failedAt?.row ?? t.row, `${t.name}: FAIL`, t.failedAt ? t.failedAt.text : 'the test is undefined');
    }
    if (t.output.length && (o.verbose || t.status !== 'pass')) {
      out.push('  print:');
      for (const l of t.output) out.push(`    ${l}`);
    }
  }

  // recordings
  if (r.replay.files.length) {
    if (out.length) out.push(RULE);
    for (const f of r.replay.files) formatFile(f, r, o, out, annotate);
  }

  // the policy diff
  if (r.baseline) {
    out.push(RULE);
    out.push(`policy diff: ${r.baseline.source} (${r.baseline.revision}) → ${r.policies.source} (${r.policies.revision}): ${r.replay.diff.length === 0 ? 'no recorded event changes its decision' : `${r.replay.diff.length} event${r.replay.diff.length === 1 ? '' : 's'} change${r.replay.diff.length === 1 ? 's' : ''}`}`);
    for (const d of r.replay.diff) {
      out.push(`  ${d.file}:${d.line} ${d.id} ${describeEvent(d.event)}`);
      out.push(`    before: ${verdict(d.baseline, d.baselineError)}`);
      out.push(`    after:  ${verdict(d.verdict, d.error)}`);
    }
  }

  if (r.coverage) {
    out.push(RULE);
    formatCoverage(r.coverage, r.threshold, out);
  }

  // the counts, as opa test ends
  const s = r.summary;
  out.push(RULE);
  const nt = r.tests.length;
  if (nt) {
    out.push(`PASS: ${s.tests.pass}/${nt}`);
    if (s.tests.fail) out.push(`FAIL: ${s.tests.fail}/${nt}`);
    if (s.tests.error) out.push(`ERROR: ${s.tests.error}/${nt}`);
    if (s.tests.skip) out.push(`SKIPPED: ${s.tests.skip}/${nt}`);
  }
  if (s.files) {
    const ne = s.expectations.pass + s.expectations.fail;
    out.push(`EXPECTATIONS: ${s.expectations.pass}/${ne} pass${s.expectations.fail ? `, ${s.expectations.fail} fail` : ''} (${s.decided} events decided in ${s.files} file${s.files === 1 ? '' : 's'})`);
    if (s.problems) out.push(`MALFORMED: ${s.problems} line${s.problems === 1 ? '' : 's'}`);
    if (s.evaluationErrors) out.push(`EVALUATION ERRORS: ${s.evaluationErrors}`);
    if (s.mismatches) out.push(`RECORDED DECISIONS REPLAYED DIFFERENTLY: ${s.mismatches}`);
  }
  if (s.coverageBelowThreshold) out.push(`COVERAGE: ${r.coverage!.coverage}% is below --threshold ${r.threshold}%`);
  if (r.failOnDiff && s.diff) out.push(`DIFF: ${s.diff} decision${s.diff === 1 ? '' : 's'} changed (--fail-on-diff)`);
  return [...out, ...annotations].join('\n') + '\n';
}

function formatFile(f: FileResult, r: TestPolicyReport, o: { verbose?: boolean; showDecisions?: boolean }, out: string[], annotate: (file: string, line: number, title: string, message: string) => void): void {
  const c = f.counts;
  out.push(
    `${f.file}${f.companion ? ` (+ ${f.companion})` : ''}: ${f.events} events, ${f.decided} decided: ${c.block} block, ${c.audit} audit, ${c.allow} allow${c.error ? `, ${c.error} error` : ''}` +
      `${f.recordedChecked ? `; ${f.recordedChecked} recorded decisions replayed (${f.mismatches.length} differ)` : ''}`,
  );
  for (const p of f.problems) {
    out.push(`  ${p.file}:${p.line}: MALFORMED: ${p.message}`);
    annotate(p.file, p.line, 'malformed line', p.message);
  }
  for (const e of f.errors) {
    out.push(`  ${f.file}:${e.line}: ERROR deciding ${e.id}: ${e.message}`);
    annotate(f.file, e.line, 'evaluation error', e.message);
  }
  for (const m of f.mismatches) {
    const msg = `recorded decision on ${m.subject} was ${m.recorded} under this policy revision; replayed: ${m.replayed}`;
    out.push(`  ${f.file}:${m.line}: MISMATCH: ${msg}`);
    annotate(f.file, m.line, 'recorded decision differs', msg);
  }
  for (const m of f.redactedMismatches) {
    out.push(`  ${f.file}:${m.line}: note: recorded decision on ${m.subject} was ${m.recorded}, replayed ${m.replayed}; the event is redacted in the recording, so the agent saw more than the replay does`);
  }
  for (const x of f.expectations) {
    if (x.status === 'pass' && !o.verbose) continue;
    out.push(`  ${x.file}:${x.line}: ${x.status.toUpperCase()} ${expectationLabel(x)}${x.status === 'fail' ? `: ${x.message}` : ` (${x.events} event${x.events === 1 ? '' : 's'})`}`);
    if (x.status === 'fail') annotate(x.file, x.line, `expectation failed: ${expectationLabel(x)}`, x.message ?? '');
  }
  if (o.showDecisions) {
    for (const d of r.replay.decisions.filter((x) => x.file === f.file)) out.push(`  ${d.file}:${d.line} ${d.id} ${describeEvent(d.event)}: ${verdict(d.verdict, d.error)}`);
  }
}

function formatCoverage(c: CoverageReport, threshold: number | undefined, out: string[]): void {
  out.push(`coverage: ${c.coverage}% (${c.coveredLines} of ${c.coveredLines + c.notCoveredLines} lines)${threshold !== undefined ? `, threshold ${threshold}%` : ''}`);
  for (const f of c.files) {
    const gaps = ranges(f.notCovered).map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    out.push(`  ${f.file}: ${f.coverage}%${gaps.length ? `, not covered: lines ${gaps.join(', ')}` : ''}`);
  }
  if (c.rulesNotCovered.length) {
    out.push('  rules that never produced a value:');
    for (const r of c.rulesNotCovered) out.push(`    ${r.rule} (${r.file}:${r.row}, ${r.status === 'not_evaluated' ? 'never evaluated' : 'evaluated, never true'})`);
  }
}

/** GitHub workflow command escaping (toolkit/packages/core/src/command.ts). */
function ghData(s: string): string {
  return s.replace(/%/g, '%25').replace(/\r/g, '%0D').replace(/\n/g, '%0A');
}
function ghProp(s: string): string {
  return ghData(s).replace(/:/g, '%3A').replace(/,/g, '%2C');
}

/* -------------------------------------------------------------------- json */

function coverageJson(c: CoverageReport): unknown {
  const rows = (rs: number[]) => ranges(rs).map(([a, b]) => ({ start: { row: a }, end: { row: b } }));
  return {
    files: Object.fromEntries(
      c.files.map((f) => [
        f.file,
        { covered: rows(f.covered), not_covered: rows(f.notCovered), covered_lines: f.covered.length, not_covered_lines: f.notCovered.length, coverage: f.coverage },
      ]),
    ),
    covered_lines: c.coveredLines,
    not_covered_lines: c.notCoveredLines,
    coverage: c.coverage,
    rules_not_covered: c.rulesNotCovered,
  };
}

function decidedJson(d: Decided, withEvent: boolean): unknown {
  const o: Record<string, unknown> = { file: d.file, line: d.line, id: d.id, type: d.type };
  if (d.verdict) o.decision = d.verdict;
  if (d.error !== undefined) o.error = d.error;
  if (d.baseline || d.baselineError !== undefined) o.baseline = d.baseline ?? { error: d.baselineError };
  if (withEvent) o.summary = describeEvent(d.event);
  return o;
}

export function formatJson(r: TestPolicyReport): string {
  const s = r.summary;
  const out: Record<string, unknown> = {
    policies: r.policies,
    tests: r.tests.map((t) => {
      const o: Record<string, unknown> = { name: t.name, package: t.pkg, file: t.file, row: t.row, status: t.status, duration_ms: Math.round(t.durationMs * 1000) / 1000 };
      if (t.error !== undefined) o.error = t.error;
      if ('value' in t) o.value = t.value;
      if (t.output.length) o.output = t.output;
      if (t.failedAt) o.failed_at = t.failedAt;
      return o;
    }),
    event_files: r.replay.files.map((f) => ({
      file: f.file,
      ...(f.companion ? { companion: f.companion } : {}),
      events: f.events,
      decided: f.decided,
      counts: f.counts,
      expectations: f.expectations,
      problems: f.problems,
      errors: f.errors,
      mismatches: f.mismatches,
      redacted_mismatches: f.redactedMismatches,
      recorded_decisions_checked: f.recordedChecked,
    })),
  };
  if (r.replay.decisions.length) out.decisions = r.replay.decisions.map((d) => decidedJson(d, true));
  if (r.baseline) {
    out.baseline = r.baseline;
    out.diff = r.replay.diff.map((d) => ({ ...(decidedJson(d, true) as object), before: d.baseline ?? { error: d.baselineError }, after: d.verdict ?? { error: d.error } }));
  }
  if (r.coverage) out.coverage = coverageJson(r.coverage);
  out.summary = {
    tests: s.tests,
    expectations: s.expectations,
    files: s.files,
    events: s.events,
    decided: s.decided,
    problems: s.problems,
    evaluation_errors: s.evaluationErrors,
    mismatches: s.mismatches,
    diff: s.diff,
    ...(r.coverage ? { coverage: r.coverage.coverage, coverage_below_threshold: s.coverageBelowThreshold } : {}),
    ok: s.ok,
  };
  return JSON.stringify(out, null, 2) + '\n';
}

/* ------------------------------------------------------------------- junit */

function xml(s: string): string {
  // characters XML 1.0 cannot carry at all are dropped
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

interface Case {
  name: string;
  classname: string;
  file: string;
  line: number;
  time: number;
  failure?: { message: string; body: string };
  error?: { message: string; body: string };
  skipped?: string;
  out?: string;
}

function suiteXml(name: string, cases: Case[], extraOut?: string): string {
  const failures = cases.filter((c) => c.failure).length;
  const errors = cases.filter((c) => c.error).length;
  const skipped = cases.filter((c) => c.skipped !== undefined).length;
  const time = cases.reduce((t, c) => t + c.time, 0);
  const lines = [`  <testsuite name="${xml(name)}" tests="${cases.length}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time.toFixed(6)}">`];
  for (const c of cases) {
    const open = `    <testcase name="${xml(c.name)}" classname="${xml(c.classname)}" file="${xml(c.file)}" line="${c.line}" time="${c.time.toFixed(6)}"`;
    const inner: string[] = [];
    if (c.failure) inner.push(`      <failure message="${xml(c.failure.message)}" type="failure">${xml(c.failure.body)}</failure>`);
    if (c.error) inner.push(`      <error message="${xml(c.error.message)}" type="error">${xml(c.error.body)}</error>`);
    if (c.skipped !== undefined) inner.push(`      <skipped message="${xml(c.skipped)}"/>`);
    if (c.out) inner.push(`      <system-out>${xml(c.out)}</system-out>`);
    lines.push(inner.length ? `${open}>\n${inner.join('\n')}\n    </testcase>` : `${open}/>`);
  }
  if (extraOut) lines.push(`    <system-out>${xml(extraOut)}</system-out>`);
  lines.push('  </testsuite>');
  return lines.join('\n');
}

function unitCase(t: UnitResult): Case {
  const c: Case = { name: t.name, classname: t.pkg, file: t.file, line: t.row, time: t.durationMs / 1000 };
  const printed = t.output.length ? `print:\n${t.output.join('\n')}` : undefined;
  if (t.status === 'fail') {
    const lines: string[] = [];
    if (t.failedAt) {
      lines.push(`${t.failedAt.file}:${t.failedAt.row}: ${t.failedAt.text}`);
      for (const op of t.failedAt.operands ?? []) for (const vs of op.values) lines.push(`  ${op.term} = ${vs.length === 0 ? 'undefined' : vs.map(json).join(' | ')}`);
    }
    if ('value' in t) lines.push(`value: ${json(t.value)}`);
    if (printed) lines.push(printed);
    c.failure = { message: t.failedAt ? `failed at ${t.failedAt.file}:${t.failedAt.row}: ${t.failedAt.text}` : 'the test is undefined or not true', body: lines.join('\n') };
  } else if (t.status === 'error') {
    c.error = { message: t.error ?? 'error', body: [t.error ?? '', printed ?? ''].join('\n').trim() };
  } else if (t.status === 'skip') {
    c.skipped = 'todo test';
  } else if (printed) {
    c.out = printed;
  }
  return c;
}

function fileCases(f: FileResult, r: TestPolicyReport): Case[] {
  const cls = f.file.replace(/\.jsonl$/, '').replace(/^[/\\.]+/, '').replace(/[/\\]/g, '.');
  const cases: Case[] = [];
  for (const x of f.expectations) {
    const c: Case = { name: `${x.file}:${x.line}: ${expectationLabel(x)}`, classname: cls, file: x.file, line: x.line, time: 0 };
    if (x.status === 'fail') c.failure = { message: x.message ?? 'failed', body: x.message ?? '' };
    cases.push(c);
  }
  for (const p of f.problems) cases.push({ name: `${p.file}:${p.line}: malformed line`, classname: cls, file: p.file, line: p.line, time: 0, error: { message: p.message, body: p.message } });
  for (const e of f.errors) cases.push({ name: `${f.file}:${e.line}: decide ${e.id}`, classname: cls, file: f.file, line: e.line, time: 0, error: { message: e.message, body: e.message } });
  for (const m of f.mismatches) {
    const msg = `recorded decision on ${m.subject} was ${m.recorded} under this policy revision; replayed: ${m.replayed}`;
    cases.push({ name: `${f.file}:${m.line}: recorded decision on ${m.subject}`, classname: cls, file: f.file, line: m.line, time: 0, failure: { message: msg, body: msg } });
  }
  if (r.failOnDiff) {
    for (const d of r.replay.diff.filter((x) => x.file === f.file)) {
      const msg = `${describeEvent(d.event)}: ${verdict(d.baseline, d.baselineError)} → ${verdict(d.verdict, d.error)}`;
      cases.push({ name: `${f.file}:${d.line}: decision on ${d.id} changed`, classname: cls, file: f.file, line: d.line, time: 0, failure: { message: msg, body: msg } });
    }
  }
  if (cases.length === 0) cases.push({ name: `${f.file}: ${f.decided} events decided`, classname: cls, file: f.file, line: 1, time: 0 });
  return cases;
}

export function formatJunit(r: TestPolicyReport): string {
  const suites: string[] = [];
  const byFile = new Map<string, UnitResult[]>();
  for (const t of r.tests) byFile.set(t.file, [...(byFile.get(t.file) ?? []), t]);
  for (const [file, tests] of byFile) suites.push(suiteXml(file, tests.map(unitCase)));
  for (const f of r.replay.files) {
    const decisions = r.replay.decisions.filter((d) => d.file === f.file);
    suites.push(suiteXml(f.file, fileCases(f, r), decisions.length ? decisions.map((d) => `${d.file}:${d.line} ${d.id} ${describeEvent(d.event)}: ${verdict(d.verdict, d.error)}`).join('\n') : undefined));
  }
  if (r.baseline && !r.failOnDiff) {
    const text = r.replay.diff.map((d) => `${d.file}:${d.line} ${d.id} ${describeEvent(d.event)}: ${verdict(d.baseline, d.baselineError)} → ${verdict(d.verdict, d.error)}`).join('\n');
    suites.push(suiteXml('policy diff', [{ name: `${r.replay.diff.length} recorded events change their decision`, classname: 'policy-diff', file: r.policies.source, line: 1, time: 0, out: text || 'no change' }]));
  }
  if (r.coverage && r.threshold !== undefined) {
    const c: Case = { name: `coverage ≥ ${r.threshold}%`, classname: 'coverage', file: r.policies.source, line: 1, time: 0, out: `${r.coverage.coverage}%` };
    if (r.summary.coverageBelowThreshold) c.failure = { message: `coverage ${r.coverage.coverage}% is below ${r.threshold}%`, body: '' };
    suites.push(suiteXml('coverage', [c]));
  }
  const all = suites.join('\n');
  const count = (re: RegExp) => (all.match(re) ?? []).length;
  const tests = count(/<testcase /g);
  const failures = count(/<failure /g);
  const errors = count(/<error /g);
  const skipped = count(/<skipped /g);
  const time = r.tests.reduce((t, x) => t + x.durationMs, 0) / 1000;
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="busted test-policy" tests="${tests}" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${time.toFixed(6)}">\n${all}\n</testsuites>\n`;
}
