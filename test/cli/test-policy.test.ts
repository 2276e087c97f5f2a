/**
 * `busted test-policy` as a user runs it (the package's bin, a child
 * process) on the policy folders and recordings under
 * test/fixtures/test-policy, on the shipped policies and on the policy
 * repository template; and on broken copies of them, which must turn the
 * run red. JUnit XML is read back by a real XML parser (python3's
 * xml.etree), as a CI system would.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const FIX = join(PACKAGE_ROOT, 'test', 'fixtures', 'test-policy');
const runtimeBuilt = existsSync(join(PACKAGE_ROOT, 'build', 'wasm', 'runtime.wasm'));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the bin from the package root (paths in reports are as given). */
function busted(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const r = spawnSync(process.execPath, [bin, 'test-policy', ...args], {
    encoding: 'utf8',
    timeout: 120_000,
    cwd: PACKAGE_ROOT,
    env: { ...process.env, GITHUB_ACTIONS: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const TEAM = 'test/fixtures/test-policy/team';
const RECS = 'test/fixtures/test-policy/recordings';

interface JunitSummary {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  suites: Array<{ name: string; tests: number; failures: number; errors: number; skipped: number; cases: Array<{ name: string; file: string; line: string; result: string; message: string }> }>;
}

/** The JUnit XML read by python3's XML parser, the way a CI reporter reads it. */
function junit(xmlText: string): JunitSummary {
  const py = `
import sys, json, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
assert root.tag == 'testsuites', root.tag
out = {k: int(root.get(k)) for k in ('tests', 'failures', 'errors', 'skipped')}
out['suites'] = []
for s in root.findall('testsuite'):
    cases = []
    for c in s.findall('testcase'):
        res, msg = 'pass', ''
        for tag in ('failure', 'error', 'skipped'):
            e = c.find(tag)
            if e is not None:
                res, msg = tag, e.get('message') or ''
        cases.append({'name': c.get('name'), 'file': c.get('file'), 'line': c.get('line'), 'result': res, 'message': msg})
    out['suites'].append({'name': s.get('name'), **{k: int(s.get(k)) for k in ('tests', 'failures', 'errors', 'skipped')}, 'cases': cases})
print(json.dumps(out))
`;
  const r = spawnSync('/usr/bin/python3', ['-c', py], { input: xmlText, encoding: 'utf8' });
  assert.equal(r.status, 0, `the JUnit XML does not parse: ${r.stderr}\n${xmlText.slice(0, 2000)}`);
  return JSON.parse(r.stdout) as JunitSummary;
}

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'busted-test-policy-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A copy of the team fixture with `edit` applied to policy.rego. */
function brokenTeam(edit: (src: string) => string): string {
  const d = join(tmp(), 'team');
  cpSync(join(FIX, 'team'), d, { recursive: true });
  const p = join(d, 'policy.rego');
  const before = readFileSync(p, 'utf8');
  const after = edit(before);
  assert.notEqual(after, before, 'the edit changed the policy');
  writeFileSync(p, after);
  return d;
}

describe('busted test-policy', { skip: runtimeBuilt ? undefined : 'needs the wasm runtime build (npm run build; needs lld)' }, () => {
  it('passes on the shipped policies and their tests (exit 0)', () => {
    const r = busted(['--policies', 'policies']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const m = /^PASS: (\d+)\/(\d+)$/m.exec(r.stdout);
    assert.ok(m, r.stdout);
    assert.equal(m[1], m[2]);
    assert.ok(Number(m[1]) >= 30, `the shipped policies have their tests (${m[1]})`);
    assert.doesNotMatch(r.stdout, /FAIL|ERROR/);
  });

  it('passes on the policy repository template, with its recordings and full coverage', () => {
    const r = busted(['--policies', 'examples/policy-repo/policies', '--events', 'examples/policy-repo/recordings/*.jsonl', '--coverage', '--format', 'json']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.summary.ok, true);
    assert.equal(j.summary.tests.fail + j.summary.tests.error, 0);
    assert.ok(j.summary.expectations.pass >= 10, JSON.stringify(j.summary));
    assert.equal(j.summary.expectations.fail, 0);
    assert.equal(j.event_files.length, 3);
    assert.equal(j.coverage.coverage, 100, JSON.stringify(j.coverage.files));
    const workflow = readFileSync(join(PACKAGE_ROOT, 'examples', 'policy-repo', '.github', 'workflows', 'policies.yml'), 'utf8');
    assert.match(workflow, /npx busted test-policy --policies policies --events 'recordings\/\*\.jsonl'/);
    assert.match(workflow, /--baseline \.\.\/base\/policies/);
  });

  it('text: opa test style, every test with -v, print output, todo tests skipped, repeated names run apart', () => {
    const r = busted(['--policies', TEAM, '--events', RECS, '-v']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(out, /^test\/fixtures\/test-policy\/team\/team_test\.rego:$/m);
    assert.match(out, /^data\.team_test\.test_unapproved_provider_is_blocked: PASS \(/m);
    assert.match(out, /^data\.team_test\.test_approved_provider_is_allowed: PASS/m);
    assert.match(out, /^data\.team_test\.test_approved_provider_is_allowed#01: PASS/m);
    assert.match(out, /^data\.team_test\.todo_test_prompt_length: SKIPPED/m);
    assert.match(out, /print:\n\s+checking TLS 1\.0/);
    assert.match(out, /^PASS: 6\/7$/m);
    assert.match(out, /^SKIPPED: 1\/7$/m);
    assert.match(out, /recordings\/session\.jsonl \(\+ .*session\.expect\.jsonl\): 6 events, 5 decided: 2 block, 1 audit, 2 allow/);
    assert.match(out, /session\.expect\.jsonl:3: PASS old TLS to an approved provider is audited: subject s-3 → audit/);
    assert.match(out, /^EXPECTATIONS: 7\/7 pass \(7 events decided in 2 files\)$/m);
    // without -v: only what failed, and the counts
    const quiet = busted(['--policies', TEAM, '--events', RECS]);
    assert.equal(quiet.status, 0);
    assert.doesNotMatch(quiet.stdout, /: PASS/);
    assert.match(quiet.stdout, /^PASS: 6\/7$/m);
  });

  it('--show-decisions lists the decision on every replayed event; --run selects tests by name', () => {
    const r = busted(['--policies', TEAM, '--events', `${RECS}/session.jsonl`, '--show-decisions', '--run', 'blocked_tool$']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /session\.jsonl:2 s-2 tls_client_hello mistral api\.mistral\.ai by curl\[102\]: block \(provider mistral is not approved\)/);
    assert.match(r.stdout, /session\.jsonl:4 s-4 mcp_message tools\/call shell by node\[104\]: block \(MCP tool shell is blocked\)/);
    assert.match(r.stdout, /session\.jsonl:1 s-1 .*: allow$/m);
    assert.doesNotMatch(r.stdout, /s-6/, 'the recorded decision event is not decided on');
    assert.match(r.stdout, /^PASS: 1\/1$/m);
  });

  it('json: tests, event files, expectations and the summary', () => {
    const r = busted(['--policies', TEAM, '--events', RECS, '--format', 'json', '--show-decisions']);
    assert.equal(r.status, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.match(j.policies.revision, /^sha256:[0-9a-f]{16}$/);
    assert.deepEqual(j.summary.tests, { pass: 6, fail: 0, error: 0, skip: 1 });
    assert.deepEqual(j.summary.expectations, { pass: 7, fail: 0 });
    assert.equal(j.summary.ok, true);
    const t = j.tests.find((x: { name: string }) => x.name === 'data.team_test.test_old_tls_is_audited');
    assert.deepEqual(t.output, ['checking TLS 1.0']);
    assert.equal(t.file, `${TEAM}/team_test.rego`);
    assert.equal(t.row, 24);
    const session = j.event_files.find((f: { file: string }) => f.file.endsWith('session.jsonl'));
    assert.equal(session.companion, `${RECS}/session.expect.jsonl`);
    assert.deepEqual(session.counts, { allow: 2, audit: 1, block: 2, error: 0 });
    assert.equal(j.decisions.length, 7);
    assert.deepEqual(j.decisions.find((d: { id: string }) => d.id === 's-3').decision, { action: 'audit', reasons: ['TLS 1.1 is too old'] });
  });

  it('junit: a suite per test file and per recording, readable by an XML parser', () => {
    const r = busted(['--policies', TEAM, '--events', RECS, '--format', 'junit']);
    assert.equal(r.status, 0, r.stderr);
    const x = junit(r.stdout);
    assert.equal(x.tests, 7 + 7);
    assert.equal(x.failures, 0);
    assert.equal(x.skipped, 1);
    assert.deepEqual(
      x.suites.map((s) => s.name),
      [`${TEAM}/team_test.rego`, `${RECS}/inline.jsonl`, `${RECS}/session.jsonl`],
    );
    const c = x.suites[0]!.cases.find((k) => k.name === 'data.team_test.test_blocked_tool')!;
    assert.equal(c.file, `${TEAM}/team_test.rego`);
    assert.equal(c.line, '18');
  });

  it('a deliberately broken policy change turns the run red: failing tests with values, failing expectations, JUnit failures (exit 1)', () => {
    // a typo in the data path: now no provider is approved
    const bad = brokenTeam((s) => s.replace('not input.provider in data.team.approved', 'not input.provider in data.team.aproved'));
    const r = busted(['--policies', bad, '--events', RECS]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^data\.team_test\.test_approved_provider_is_allowed: FAIL/m);
    assert.match(r.stdout, /^data\.team_test\.test_approved_provider_is_allowed#01: FAIL/m);
    // where it stopped, and the values there
    assert.match(r.stdout, /team_test\.rego:10: data\.busted\.decision == "allow" with input as \{"type": "connect", "provider": "openai"\}\n\s+data\.busted\.decision = "block"\n\s+"allow" = "allow"/);
    assert.match(r.stdout, /session\.expect\.jsonl:1: FAIL subject s-1 → allow: s-1 \(tls_client_hello, line 1\) was decided block \(provider openai is not approved\), expected allow/);
    assert.match(r.stdout, /^FAIL: 3\/7$/m);
    const x = junit(busted(['--policies', bad, '--events', RECS, '--format', 'junit']).stdout);
    assert.ok(x.failures >= 5, JSON.stringify(x));
    const j = JSON.parse(busted(['--policies', bad, '--events', RECS, '--format', 'json']).stdout);
    assert.equal(j.summary.ok, false);
    const failed = j.tests.find((t: { name: string }) => t.name === 'data.team_test.test_approved_provider_is_allowed');
    assert.equal(failed.status, 'fail');
    assert.deepEqual(failed.failed_at.operands[0], { term: 'data.busted.decision', values: [['block']], texts: [['"block"']] });
  });

  it('an evaluation error (a conflict) is an ERROR test and a failed event, not a pass', () => {
    // for mistral, decision is both "block" and this "allow"
    const bad = brokenTeam((s) => s + '\ndecision := "allow" if input.provider == "mistral"\n');
    const r = busted(['--policies', bad, '--events', `${RECS}/session.jsonl`]);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^data\.team_test\.test_unapproved_provider_is_blocked: ERROR/m);
    assert.match(r.stdout, /eval_conflict_error/);
    assert.match(r.stdout, /session\.jsonl:2: ERROR deciding s-2: .*eval_conflict_error/);
    assert.match(r.stdout, /session\.expect\.jsonl:2: FAIL subject s-2 → block: s-2 \(tls_client_hello, line 2\): evaluation failed/);
    assert.match(r.stdout, /^ERROR: 1\/7$/m);
    assert.match(r.stdout, /^EVALUATION ERRORS: 1$/m);
  });

  it('malformed lines and expectations are named by file:line, and every other line still runs (exit 1)', () => {
    const d = tmp();
    const f = join(d, 'mixed.jsonl');
    writeFileSync(
      f,
      [
        '{"id":"m-1","provider":"mistral","type":"connect"}',
        '{"id":"m-2","provider":"openai"',
        '{"id":"m-3","provider":"openai"}',
        '["not", "an", "object"]',
        '',
        '{"expect":{"subject":"m-1","action":"block"}}',
        '{"expect":{"subject":"m-1","action":"stop"}}',
        '{"expect":{"subject":"m-1","action":"block","acton":"x"}}',
        '{"expect":{"subject":"m-9","action":"block"}}',
        '{"expect":{"match":{"provider":"cohere"},"action":"block"}}',
        '{"id":"m-4","provider":"openai","type":"connect"}',
        '{"expect":{"subject":"m-4","action":"allow"}}',
      ].join('\n') + '\n',
    );
    const r = busted(['--policies', TEAM, '--events', f, '--run', '^$']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(out, /mixed\.jsonl:2: MALFORMED: not JSON/);
    assert.match(out, /mixed\.jsonl:3: MALFORMED: type: missing or not a string/);
    assert.match(out, /mixed\.jsonl:4: MALFORMED: not a JSON object/);
    assert.match(out, /mixed\.jsonl:7: MALFORMED: expect\.action: must be "allow", "audit" or "block" \(got "stop"\)/);
    assert.match(out, /mixed\.jsonl:8: MALFORMED: expect\.acton: unknown field/);
    assert.match(out, /mixed\.jsonl:9: FAIL subject m-9 → block: no event with id "m-9"/);
    assert.match(out, /mixed\.jsonl:10: FAIL match \{"provider":"cohere"\} → block: matches no event/);
    assert.doesNotMatch(out, /mixed\.jsonl:(6|12): FAIL/);
    assert.match(out, /^EXPECTATIONS: 2\/4 pass, 2 fail \(2 events decided in 1 file\)$/m);
    assert.match(out, /^MALFORMED: 5 lines$/m);
    const x = junit(busted(['--policies', TEAM, '--events', f, '--run', '^$', '--format', 'junit']).stdout);
    assert.equal(x.errors, 5);
    assert.equal(x.failures, 2);
    assert.ok(x.suites[0]!.cases.some((c) => c.line === '2' && c.result === 'error'));
  });

  it('a recorded decision replayed differently under the same policy revision fails; on a redacted event it is a note', () => {
    const rev = JSON.parse(busted(['--policies', TEAM, '--events', `${RECS}/inline.jsonl`, '--format', 'json', '--run', '^$']).stdout).policies.revision as string;
    const d = tmp();
    const f = join(d, 'recorded.jsonl');
    writeFileSync(
      f,
      [
        '{"id":"e-1","provider":"mistral","type":"connect"}',
        `{"decision":{"action":"allow","enforced":false,"policy_revision":"${rev}","reasons":[],"subject":"e-1"},"id":"e-2","type":"decision"}`,
        '{"id":"e-3","llm":{"user_message":"key [REDACTED]"},"provider":"mistral","type":"llm_request"}',
        `{"decision":{"action":"allow","enforced":false,"policy_revision":"${rev}","reasons":[],"subject":"e-3"},"id":"e-4","type":"decision"}`,
        '{"id":"e-5","provider":"cohere","type":"connect"}',
        '{"decision":{"action":"allow","enforced":false,"policy_revision":"sha256:ffffffffffffffff","reasons":[],"subject":"e-5"},"id":"e-6","type":"decision"}',
      ].join('\n') + '\n',
    );
    const r = busted(['--policies', TEAM, '--events', f, '--run', '^$']);
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /recorded\.jsonl:2: MISMATCH: recorded decision on e-1 was allow under this policy revision; replayed: block/);
    assert.match(r.stdout, /recorded\.jsonl:4: note: recorded decision on e-3 was allow, replayed block; the event is redacted/);
    assert.doesNotMatch(r.stdout, /e-5/, 'another revision is not compared');
    assert.match(r.stdout, /^RECORDED DECISIONS REPLAYED DIFFERENTLY: 1$/m);
    assert.match(r.stdout, /recorded\.jsonl: 6 events, 3 decided: 3 block, 0 audit, 0 allow; 2 recorded decisions replayed \(1 differ\)/);
  });

  it('--baseline lists every recorded event whose decision changes; --fail-on-diff makes that red', () => {
    const approveMistral = join(tmp(), 'team');
    cpSync(join(FIX, 'team'), approveMistral, { recursive: true });
    writeFileSync(join(approveMistral, 'data.json'), JSON.stringify({ team: { approved: ['openai', 'anthropic', 'mistral'], blocked_tools: ['shell'] } }));
    const r = busted(['--policies', approveMistral, '--baseline', TEAM, '--events', `${RECS}/session.jsonl`, '--run', '^$']);
    // the change breaks the expectation on s-2, and the diff says why
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /policy diff: test\/fixtures\/test-policy\/team \(sha256:[0-9a-f]{16}\) → .*team \(sha256:[0-9a-f]{16}\): 1 event changes/);
    assert.match(r.stdout, /session\.jsonl:2 s-2 tls_client_hello mistral api\.mistral\.ai by curl\[102\]\n\s+before: block \(provider mistral is not approved\)\n\s+after:  allow/);
    const j = JSON.parse(busted(['--policies', approveMistral, '--baseline', TEAM, '--events', RECS, '--format', 'json', '--run', '^$']).stdout);
    assert.deepEqual(
      j.diff.map((x: { id: string; before: unknown; after: unknown }) => [x.id, x.before, x.after]),
      [['s-2', { action: 'block', reasons: ['provider mistral is not approved'] }, { action: 'allow', reasons: [] }]],
    );
    // no change, no diff; with --fail-on-diff a change is a failure
    const same = busted(['--policies', TEAM, '--baseline', TEAM, '--events', RECS, '--run', '^$', '--fail-on-diff']);
    assert.equal(same.status, 0, same.stdout);
    assert.match(same.stdout, /no recorded event changes its decision/);
    const inline = busted(['--policies', approveMistral, '--baseline', TEAM, '--events', `${RECS}/inline.jsonl`, '--run', '^$']);
    assert.equal(inline.status, 0, 'a diff alone is information');
    const strict = busted(['--policies', brokenTeam((s) => s.replace('"MCP tool %s is blocked"', '"MCP tool %s is not allowed"')), '--baseline', TEAM, '--events', `${RECS}/inline.jsonl`, '--run', '^$', '--fail-on-diff']);
    assert.equal(strict.status, 0, 'inline.jsonl has no MCP event: nothing changes');
    const strict2 = busted(['--policies', approveMistral, '--baseline', TEAM, '--events', `${RECS}/session.jsonl`, '--run', '^$', '--fail-on-diff', '--format', 'junit']);
    assert.equal(strict2.status, 1);
    assert.ok(junit(strict2.stdout).suites.some((s) => s.cases.some((c) => /decision on s-2 changed/.test(c.name) && c.result === 'failure')));
  });

  it('--coverage reports the lines and rules nothing reached; --threshold fails below it', () => {
    const r = busted(['--policies', TEAM, '--coverage']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    // no unit test asks for the reasons of an audit, and none has a long prompt
    assert.match(r.stdout, /^coverage: 80\.95% \(17 of 21 lines\)$/m);
    assert.match(r.stdout, /team\/policy\.rego: 80\.95%, not covered: lines 16, 18, 37, 39$/m);
    assert.match(r.stdout, /data\.busted\.reasons \(test\/fixtures\/test-policy\/team\/policy\.rego:16, evaluated, never true\)/);
    assert.match(r.stdout, /data\.busted\.audit \(test\/fixtures\/test-policy\/team\/policy\.rego:37, evaluated, never true\)/);
    // recorded events count too: a long prompt reaches the rule no test reaches
    const d = tmp();
    writeFileSync(join(d, 'long.jsonl'), JSON.stringify({ id: 'l-1', type: 'llm_request', provider: 'openai', llm: { user_message: 'x'.repeat(10001) } }) + '\n');
    const j = JSON.parse(busted(['--policies', TEAM, '--events', join(d, 'long.jsonl'), '--coverage', '--format', 'json']).stdout);
    assert.equal(j.coverage.coverage, 100);
    assert.deepEqual(j.coverage.files[`${TEAM}/policy.rego`].not_covered, []);
    assert.deepEqual(j.coverage.rules_not_covered, []);
    const low = busted(['--policies', TEAM, '--coverage', '--threshold', '95']);
    assert.equal(low.status, 1);
    assert.match(low.stdout, /^COVERAGE: 80\.95% is below --threshold 95%$/m);
    const lowJson = JSON.parse(busted(['--policies', TEAM, '--coverage', '--threshold', '95', '--format', 'json']).stdout);
    assert.deepEqual(lowJson.coverage.files[`${TEAM}/policy.rego`].not_covered, [
      { start: { row: 16 }, end: { row: 16 } },
      { start: { row: 18 }, end: { row: 18 } },
      { start: { row: 37 }, end: { row: 37 } },
      { start: { row: 39 }, end: { row: 39 } },
    ]);
    assert.equal(lowJson.summary.coverage_below_threshold, true);
  });

  it('on GitHub Actions, failures are also annotations on the files', () => {
    const bad = brokenTeam((s) => s.replace('not input.provider in data.team.approved', 'not input.provider in data.team.aproved'));
    const r = busted(['--policies', bad, '--events', `${RECS}/session.jsonl`], { GITHUB_ACTIONS: 'true' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /^::error file=.*team\/team_test\.rego,line=10,title=data\.team_test\.test_approved_provider_is_allowed%3A FAIL::/m);
    assert.match(r.stdout, /^::error file=test\/fixtures\/test-policy\/recordings\/session\.expect\.jsonl,line=1,title=expectation failed/m);
  });

  it('--junit FILE writes JUnit beside the text output', () => {
    const out = join(tmp(), 'report.xml');
    const r = busted(['--policies', TEAM, '--junit', out]);
    assert.equal(r.status, 0);
    assert.match(r.stdout, /^PASS: 6\/7$/m);
    assert.equal(junit(readFileSync(out, 'utf8')).tests, 7);
  });

  it('replays recordings through a compiled bundle as well; coverage needs Rego (exit 2)', () => {
    const d = tmp();
    const bundle = join(d, 'bundle.tar.gz');
    const c = spawnSync(process.execPath, [bin, 'compile', '--policies', join(FIX, 'team'), '-o', bundle, '-e', 'busted/decision', '-e', 'busted/reasons'], { encoding: 'utf8' });
    assert.equal(c.status, 0, c.stderr);
    const r = busted(['--policies', bundle, '--events', RECS]);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^EXPECTATIONS: 7\/7 pass/m);
    const cov = busted(['--policies', bundle, '--events', RECS, '--coverage']);
    assert.equal(cov.status, 2);
    assert.match(cov.stderr, /BUSTED_E_USAGE: --coverage: .* is a bundle/);
  });

  it('--v0-compatible reads policies and tests written for OPA before 1.0', () => {
    const d = tmp();
    writeFileSync(join(d, 'p.rego'), 'package busted\n\ndefault decision = "allow"\n\ndecision = "block" {\n\tinput.provider == "mistral"\n}\n\nreasons[r] {\n\tdecision == "block"\n\tr := "mistral"\n}\n');
    writeFileSync(join(d, 'p_test.rego'), 'package busted\n\ntest_mistral_blocked {\n\tdecision == "block" with input as {"provider": "mistral"}\n}\n');
    writeFileSync(join(d, 'events.jsonl'), '{"id":"v-1","provider":"mistral","type":"connect"}\n{"expect":{"subject":"v-1","action":"block"}}\n');
    const v1 = busted(['--policies', d]);
    assert.equal(v1.status, 2);
    assert.match(v1.stderr, /p\.rego:5:\d+: rego_parse_error: `if` keyword is required/);
    const v0 = busted(['--policies', d, '--v0-compatible', '--events', join(d, 'events.jsonl')]);
    assert.equal(v0.status, 0, v0.stdout + v0.stderr);
    assert.match(v0.stdout, /^PASS: 1\/1$/m);
    assert.match(v0.stdout, /^EXPECTATIONS: 1\/1 pass/m);
  });

  it('usage and compile errors exit 2 with the file and place', () => {
    const syntax = brokenTeam((s) => s.replace('default decision := "allow"', 'default decision := '));
    let r = busted(['--policies', syntax]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /team\/policy\.rego:\d+:\d+: rego_parse_error/);
    const badTest = join(tmp(), 'team');
    cpSync(join(FIX, 'team'), badTest, { recursive: true });
    writeFileSync(join(badTest, 'more_test.rego'), 'package more_test\n\nimport rego.v1\n\ntest_x if {\n\tnot_a_function(1)\n}\n');
    r = busted(['--policies', badTest]);
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /more_test\.rego:6:\d+: rego_type_error|more_test\.rego:6:\d+: rego_compile_error|more_test\.rego:6/);
    r = busted(['--policies', TEAM, '--events', 'no/such/*.jsonl']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--events no\/such\/\*\.jsonl: matches no file/);
    r = busted(['--policies', TEAM, '--events', 'no-such.jsonl']);
    assert.equal(r.status, 2);
    r = busted(['--policies', TEAM, '--run', '(']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--run \(/);
    r = busted(['--policies', TEAM, '--run', 'no test has this name']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /nothing to test: no test matches --run/);
    r = busted(['--policies', 'no-such-dir']);
    assert.equal(r.status, 2);
    r = busted(['--policies', TEAM, '--format', 'yaml']);
    assert.equal(r.status, 2);
    r = busted(['--policies', TEAM, '--threshold', '50']);
    assert.equal(r.status, 2);
  });
});

describe('busted test-policy on the shipped policies with a recording of the demo', { skip: runtimeBuilt ? undefined : 'needs the wasm runtime build' }, () => {
  let dir: string;
  before(() => {
    dir = tmp();
  });

  it('the template recording replays through the shipped policies too (they block Mistral and the look-alike)', () => {
    const exp = join(dir, 'demo.expect.jsonl');
    cpSync(join(PACKAGE_ROOT, 'examples', 'policy-repo', 'recordings', 'demo.jsonl'), join(dir, 'demo.jsonl'));
    writeFileSync(
      exp,
      [
        { expect: { match: { type: 'connect', provider: 'mistral' }, action: 'block', reason: 'provider mistral is not approved' } },
        { expect: { match: { type: 'llm_request', provider: 'openai' }, action: 'allow' } },
        { expect: { match: { tls: { sni: 'evil-openai.com' } }, action: 'block' } },
      ]
        .map((x) => JSON.stringify(x))
        .join('\n') + '\n',
    );
    const r = busted(['--policies', 'policies', '--events', join(dir, 'demo.jsonl'), '--run', '^$']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /EXPECTATIONS: 3\/3 pass/);
  });
});
