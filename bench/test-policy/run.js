#!/usr/bin/env node
// busted test-policy on 100,000 recorded events against the shipped
// policies (issue 6: target over 50,000 events/s on one core), with two
// baselines measured in the same run, so the numbers are ratios:
//   handwritten  read the same file (the replay's own line reader), JSON.parse
//                each line, decide with the shipped policies written by hand
//                in JavaScript (bench/rego/handwritten.js): the floor of any
//                replay
//   decide       PolicyEngine.decide alone on the parsed events with their
//                JSON text: what the agent itself pays per event
//   replay       test-policy's replay (engine/policy/tester/replay.ts): read
//                the file, parse, decide through the agent's Decider (which
//                memoises by the input paths the policy reads), check 200
//                subject and 5 match expectations, as the CLI does
// The events are the template's recording of `busted demo` (real shapes:
// DNS, connects, TLS hellos, tls_data, LLM calls, exits), repeated with
// fresh ids, pids and ports, and every prompt and TLS payload made unique,
// so the memo sees what a busy host's recording gives it, not 71 events. Rounds are interleaved; the median round is reported. The
// CLI end to end (node start, compile, replay, report) is timed once.
//   node bench/test-policy/run.js [events]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import stringify from 'fast-json-stable-stringify';
import { makeHandWritten } from '../rego/handwritten.js';
import { median, result, rounder } from '../lib.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const dist = (p) => join(ROOT, 'dist', p);
const { PolicyEngine } = await import(dist('engine/policy/engine.js'));
const { replay, forEachLine, NOT_DECIDED } = await import(dist('engine/policy/tester/replay.js'));
const { Decider } = await import(dist('engine/decide/decider.js'));

const N = Number(process.argv[2] ?? 100_000);
const ROUNDS = 5;
const r3 = rounder(3);

// ---- the recording ------------------------------------------------------------
const demo = readFileSync(join(ROOT, 'examples/policy-repo/recordings/demo.jsonl'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l));
const dir = mkdtempSync(join(tmpdir(), 'busted-bench-tp-'));
const file = join(dir, 'recording.jsonl');
const lines = [];
const subjects = [];
for (let i = 0; lines.length < N; i++) {
  // a session as a busy host records it: new processes and ports each time round, every prompt and payload its own
  const round = Math.floor(i / demo.length);
  const t = demo[i % demo.length];
  const e = { ...t, id: `b-${i.toString(36)}` };
  if (t.process) e.process = { ...t.process, pid: t.process.pid + round * 7, tid: t.process.pid + round * 7 };
  if (t.net) e.net = { ...t.net, src_port: 1024 + ((t.net.src_port + round) % 60000) };
  if (t.llm?.user_message) e.llm = { ...t.llm, user_message: `${t.llm.user_message} (${round})` };
  if (t.tls?.payload) e.tls = { ...t.tls, payload: `${t.tls.payload}#${round}` };
  lines.push(stringify(e));
  if (i % 500 === 7 && subjects.length < 200) subjects.push(e);
}
const data = JSON.parse(readFileSync(join(ROOT, 'policies/data.json'), 'utf8'));
const engine = await PolicyEngine.load(join(ROOT, 'policies'));
const expectations = [
  ...subjects.map((e) => ({ expect: { subject: e.id, action: engine.decide(e).action } })),
  { expect: { match: { type: 'dns_query', provider: 'mistral' }, action: 'block' } },
  { expect: { match: { type: 'llm_request', provider: 'openai' }, action: 'allow' } },
  { expect: { match: { tls: { sni: 'evil-openai.com' } }, action: 'block' } },
  { expect: { match: { type: 'exit' }, action: 'allow' } },
  { expect: { match: { process: { comm: 'node' }, type: 'llm_response' }, action: 'allow' } },
];
writeFileSync(file, lines.join('\n') + '\n');
writeFileSync(join(dir, 'recording.expect.jsonl'), expectations.map((x) => JSON.stringify(x)).join('\n') + '\n');
const bytes = readFileSync(file).length;

// the baselines must decide as the policies do, or they measure something else
const hand = makeHandWritten(data);
for (const e of demo) {
  if (NOT_DECIDED.has(e.type)) continue;
  const a = engine.decide(e);
  const b = hand(e);
  if (a.action !== b.action) throw new Error(`hand-written and shipped policies disagree on ${e.id} (${e.type}): ${a.action} vs ${b.action}`);
}

// ---- the variants ---------------------------------------------------------------
function handwrittenReplay() {
  let n = 0;
  let blocked = 0;
  // the same line reader as the replay, so the ratio is about deciding and checking
  forEachLine(file, (_, line) => {
    if (!line) return;
    const e = JSON.parse(line);
    if ('expect' in e || NOT_DECIDED.has(e.type)) return;
    if (hand(e).action === 'block') blocked++;
    n++;
  });
  return { n, blocked };
}

const parsed = lines.map((l) => [JSON.parse(l), l]);
function decideOnly() {
  let blocked = 0;
  for (const [e, l] of parsed) if (engine.decide(e, l).action === 'block') blocked++;
  return { n: parsed.length, blocked };
}

let memo;
function testPolicyReplay() {
  // as busted test-policy runs it: decided through the agent's Decider (memoised by the input paths the policy reads)
  const decider = new Decider(engine);
  const r = replay([file], engine, { decider: (e, json) => decider.decide(e, json) });
  memo = decider.stats;
  const f = r.files[0];
  if (f.problems.length || f.errors.length || f.expectations.some((x) => x.status !== 'pass')) throw new Error(`the replay failed: ${JSON.stringify(f).slice(0, 500)}`);
  return { n: f.decided, blocked: f.counts.block };
}

const variants = { handwritten: handwrittenReplay, decide: decideOnly, replay: testPolicyReplay };
const rates = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
let check;
for (const fn of Object.values(variants)) fn(); // warm up
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of Object.entries(variants)) {
    const t0 = performance.now();
    const { n, blocked } = fn();
    const s = (performance.now() - t0) / 1000;
    rates[name].push(n / s);
    check ??= blocked;
    if (blocked !== check) throw new Error(`${name} blocked ${blocked} events, the others ${check}`);
  }
}
const med = Object.fromEntries(Object.entries(rates).map(([k, v]) => [k, median(v)]));
result({
  metric: 'test_policy_replay_events_per_s',
  value: Math.round(med.replay),
  events: N,
  file_mb: r3(bytes / 1048576),
  expectations: expectations.length,
  blocked: check,
  decide_only_per_s: Math.round(med.decide),
  handwritten_per_s: Math.round(med.handwritten),
  ratio_to_decide: r3(med.replay / med.decide),
  memo_hit_ratio: r3(memo.memoised / (memo.memoised + memo.evaluated)),
  ratio_to_handwritten: r3(med.replay / med.handwritten),
  target: '> 50000 events/s',
  unit: 'events/s',
});

// ---- the CLI, end to end ----------------------------------------------------------
const t0 = performance.now();
const cli = spawnSync(process.execPath, [join(ROOT, 'bin/busted.js'), 'test-policy', '--policies', join(ROOT, 'policies'), '--events', file, '--run', '^$'], { encoding: 'utf8' });
const wall = (performance.now() - t0) / 1000;
if (cli.status !== 0) throw new Error(`busted test-policy exited ${cli.status}: ${cli.stdout}${cli.stderr}`);
const t1 = performance.now();
spawnSync(process.execPath, [join(ROOT, 'bin/busted.js'), '--version'], { encoding: 'utf8' });
const startup = (performance.now() - t1) / 1000;
result({ metric: 'test_policy_cli_events_per_s', value: Math.round(N / wall), wall_s: r3(wall), cli_startup_s: r3(startup), events: N, unit: 'events/s (wall, node start and compile included)' });

rmSync(dir, { recursive: true, force: true });
