/**
 * Recorded events through the policies (CONTRACT.md, "Recorded events and
 * expectations"): every event of a `--record` file (or any JSON-lines file
 * of events) is decided by PolicyEngine.decide, the very call `enforce`
 * makes, and every expectation in the file, or in the `X.expect.jsonl`
 * beside `X.jsonl`, is checked:
 *
 *   {"expect": {"subject": "<event id>", "action": "block"}}
 *   {"expect": {"match": {"type": "llm_request", "provider": "mistral"}, "action": "block"}}
 *
 * optionally with `"reasons": [...]` (exactly these, in any order),
 * `"reason": "text"` (some reason contains it) and `"name": "..."`. A
 * subject that is no event of the file, or a match that matches none, is a
 * failure. A line that is not a JSON object, an event without a `type`, or
 * an expectation with a wrong or unknown field is a problem named by
 * file:line, and the other lines still run.
 *
 * `decision` events in a recording (what `enforce` decided at the time)
 * are checked too: where the recorded policy_revision is the one being
 * replayed, the replayed action must be the recorded one.
 *
 * With a baseline engine (`--baseline OLD`), every event whose decision
 * differs between the two is listed: the policy diff.
 */
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import { globSync } from 'tinyglobby';

import { BustedError, ErrorCode } from '../../model/errors.js';
import { REDACTED } from '../../redact.js';
import type { Action, PolicyEngine, Verdict } from '../engine.js';

/** Events the policy is not asked about: the agent's own records of decisions and policy loads. */
export const NOT_DECIDED: ReadonlySet<string> = new Set(['decision', 'policy']);
/** Events whose recorded decision came from the kernel's standing verdicts (engine/pipeline.ts decide), not from evaluating them. */
const KERNEL_DECIDED: ReadonlySet<string> = new Set(['connect_blocked']);

const ACTIONS: Readonly<Record<string, Action>> = { allow: 'allow', audit: 'audit', block: 'block', deny: 'block' };
const EXPECT_KEYS = new Set(['subject', 'match', 'action', 'reasons', 'reason', 'name']);

export interface Problem {
  file: string;
  line: number;
  message: string;
}

export interface Expectation {
  file: string;
  line: number;
  name?: string;
  subject?: string;
  match?: Record<string, unknown>;
  action: Action;
  reasons?: string[];
  reason?: string;
}

export interface ExpectationResult extends Expectation {
  status: 'pass' | 'fail';
  /** why it failed */
  message?: string;
  /** events it applied to */
  events: number;
}

export interface Decided {
  file: string;
  line: number;
  id: string;
  type: string;
  verdict?: Verdict;
  /** evaluation failed (a conflict, a decision that is not one of the words) */
  error?: string;
  baseline?: Verdict;
  baselineError?: string;
  /** a short description of the event, for listings */
  event: Record<string, unknown>;
}

export interface FileResult {
  file: string;
  /** the `*.expect.jsonl` read with it */
  companion?: string;
  /** lines that were events */
  events: number;
  /** events the policy decided (all but NOT_DECIDED types) */
  decided: number;
  counts: { allow: number; audit: number; block: number; error: number };
  expectations: ExpectationResult[];
  problems: Problem[];
  /** evaluation errors: an event the policy could not decide is a failure */
  errors: Array<{ line: number; id: string; message: string }>;
  /** recorded decisions (same policy revision) that replay differently */
  mismatches: Array<{ line: number; subject: string; recorded: Action; replayed: Action | 'error' }>;
  /**
   * the same, on events the recording redacted: the agent decided on what
   * the recording no longer holds (a credential in a prompt), so the replay
   * cannot tell; reported, not failed
   */
  redactedMismatches: Array<{ line: number; subject: string; recorded: Action; replayed: Action | 'error' }>;
  /** recorded decisions compared with their replay (same revision, event in the file) */
  recordedChecked: number;
}

export interface ReplayOptions {
  baseline?: PolicyEngine;
  /** decide through this (a DecisionMemo over the engine) instead of engine.decide */
  decider?: (event: object, json: string) => Verdict;
  baselineDecider?: (event: object, json: string) => Verdict;
  /** keep every decided event (for --show-decisions); otherwise only those the diff lists */
  keepDecisions?: boolean;
}

export interface ReplayResult {
  files: FileResult[];
  /** every decided event, with keepDecisions */
  decisions: Decided[];
  /** events whose decision differs from the baseline's */
  diff: Decided[];
}

/**
 * The event files that `--events` names: paths, directories (their
 * `*.jsonl`) and globs. A name that matches nothing is a usage error (a CI
 * job that silently tests nothing is worse than one that fails).
 * `X.expect.jsonl` is read with `X.jsonl`, not on its own, when both exist.
 */
export function eventFiles(patterns: readonly string[]): string[] {
  const found: string[] = [];
  for (const p of patterns) {
    let list: string[];
    if (existsSync(p) && statSync(p).isDirectory()) list = globSync('**/*.jsonl', { cwd: p, absolute: false }).map((f) => `${p.replace(/\/+$/, '')}/${f}`);
    else if (existsSync(p)) list = [p];
    else if (/[*?[\]{}]/.test(p)) list = globSync(p, { expandDirectories: false, absolute: isAbsolute(p) });
    else throw new BustedError(ErrorCode.USAGE, `--events ${p}: no such file or directory`, 'events');
    if (list.length === 0) throw new BustedError(ErrorCode.USAGE, `--events ${p}: matches no file`, 'events');
    found.push(...list.sort());
  }
  // an expectations file stands for the recording beside it (which reads it as its companion)
  return [...new Set(found.map((f) => (f.endsWith('.expect.jsonl') && existsSync(companionBase(f)) ? companionBase(f) : f)))];
}

function companionBase(expectFile: string): string {
  return expectFile.slice(0, -'.expect.jsonl'.length) + '.jsonl';
}

function companionOf(file: string): string | undefined {
  if (!file.endsWith('.jsonl') || file.endsWith('.expect.jsonl')) return undefined;
  const c = file.slice(0, -'.jsonl'.length) + '.expect.jsonl';
  return existsSync(c) ? c : undefined;
}

function openEvents(file: string): number {
  try {
    return openSync(file, 'r');
  } catch (e) {
    throw new BustedError(ErrorCode.USAGE, `--events ${file}: ${(e as Error).message}`, 'events');
  }
}

/**
 * Calls `f` with each line of a file and its 1-based number. The file is
 * read through one reused buffer and each line decoded on its own: a
 * recording may be gigabytes, and one large string (or buffer) per file
 * costs more in page faults than the parsing does.
 */
export function forEachLine(file: string, f: (n: number, text: string) => void): void {
  const fd = openEvents(file);
  try {
    let buf = Buffer.allocUnsafe(1 << 20);
    let have = 0;
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, have, buf.length - have, null);
      have += got;
      const view = buf.subarray(0, have);
      let start = 0;
      let nl: number;
      while ((nl = view.indexOf(10, start)) >= 0) {
        f(++n, view.toString('utf8', start, nl));
        start = nl + 1;
      }
      if (got === 0) {
        if (start < have) f(++n, view.toString('utf8', start, have));
        return;
      }
      // keep the unfinished line; a line longer than the buffer grows it
      buf.copyWithin(0, start, have);
      have -= start;
      if (have === buf.length) {
        const bigger = Buffer.allocUnsafe(buf.length * 2);
        buf.copy(bigger, 0, 0, have);
        buf = bigger;
      }
    }
  } finally {
    closeSync(fd);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** An expectation line's object, or the problem with it. */
function parseExpectation(file: string, line: number, v: unknown): Expectation | Problem {
  const bad = (message: string): Problem => ({ file, line, message });
  if (!isObject(v)) return bad('expect: must be an object');
  for (const k of Object.keys(v)) if (!EXPECT_KEYS.has(k)) return bad(`expect.${k}: unknown field (expected subject or match, action, and optionally reasons, reason, name)`);
  const action = typeof v.action === 'string' ? ACTIONS[v.action] : undefined;
  if (action === undefined) return bad(`expect.action: must be "allow", "audit" or "block" (got ${JSON.stringify(v.action)})`);
  const hasSubject = v.subject !== undefined;
  const hasMatch = v.match !== undefined;
  if (hasSubject === hasMatch) return bad('expect: needs exactly one of subject (an event id) or match (a partial event)');
  if (hasSubject && (typeof v.subject !== 'string' || v.subject === '')) return bad('expect.subject: must be an event id (a non-empty string)');
  if (hasMatch && (!isObject(v.match) || Object.keys(v.match).length === 0)) return bad('expect.match: must be a non-empty object (a partial event)');
  if (v.reasons !== undefined && (!Array.isArray(v.reasons) || !v.reasons.every((r) => typeof r === 'string'))) return bad('expect.reasons: must be an array of strings');
  if (v.reason !== undefined && typeof v.reason !== 'string') return bad('expect.reason: must be a string');
  if (v.name !== undefined && typeof v.name !== 'string') return bad('expect.name: must be a string');
  const x: Expectation = { file, line, action };
  if (typeof v.name === 'string') x.name = v.name;
  if (hasSubject) x.subject = v.subject as string;
  else x.match = v.match as Record<string, unknown>;
  if (v.reasons !== undefined) x.reasons = v.reasons as string[];
  if (typeof v.reason === 'string') x.reason = v.reason;
  return x;
}

/** Every key of `want` is in `have` with a matching value: objects recursively (partially), arrays element by element at the same length, scalars equal. */
export function matches(have: unknown, want: unknown): boolean {
  if (isObject(want)) {
    if (!isObject(have)) return false;
    for (const k of Object.keys(want)) if (!matches(have[k], want[k])) return false;
    return true;
  }
  if (Array.isArray(want)) return Array.isArray(have) && have.length === want.length && want.every((w, i) => matches(have[i], w));
  return have === want;
}

function verdictText(v: Verdict | undefined, err?: string): string {
  if (err !== undefined) return `error (${err})`;
  if (!v) return 'nothing';
  return v.reasons.length ? `${v.action} (${v.reasons.join('; ')})` : v.action;
}

/** Why a verdict does not meet an expectation, or undefined when it does. */
function unmet(x: Expectation, d: { id: string; type: string; line: number; verdict?: Verdict; error?: string }): string | undefined {
  const where = `${d.id} (${d.type}, line ${d.line})`;
  if (d.error !== undefined) return `${where}: evaluation failed: ${d.error}`;
  const v = d.verdict!;
  if (v.action !== x.action) return `${where} was decided ${verdictText(v)}, expected ${x.action}`;
  if (x.reasons !== undefined) {
    const want = [...x.reasons].sort();
    if (want.length !== v.reasons.length || want.some((r, i) => r !== v.reasons[i])) return `${where}: reasons ${JSON.stringify(v.reasons)}, expected ${JSON.stringify(want)}`;
  }
  if (x.reason !== undefined && !v.reasons.some((r) => r.includes(x.reason!))) return `${where}: no reason contains ${JSON.stringify(x.reason)} (reasons: ${JSON.stringify(v.reasons)})`;
  return undefined;
}

function sameVerdict(a: Verdict | undefined, b: Verdict | undefined): boolean {
  if (!a || !b) return a === b;
  return a.action === b.action && a.reasons.length === b.reasons.length && a.reasons.every((r, i) => r === b.reasons[i]);
}

export function replay(files: readonly string[], engine: PolicyEngine, o: ReplayOptions = {}): ReplayResult {
  const result: ReplayResult = { files: [], decisions: [], diff: [] };
  for (const file of files) result.files.push(replayFile(file, engine, o, result));
  return result;
}

/** What is kept of a decided event for expectations that are resolved after the pass (the ones inside the recording). */
interface Seen {
  line: number;
  id: string;
  hasId: boolean;
  type: string;
  verdict?: Verdict;
  error?: string;
  /** the line holds a redaction mark (only looked at when the recording holds decisions) */
  redacted?: boolean;
}

function replayFile(file: string, engine: PolicyEngine, o: ReplayOptions, out: ReplayResult): FileResult {
  const companion = companionOf(file);
  const r: FileResult = { file, events: 0, decided: 0, counts: { allow: 0, audit: 0, block: 0, error: 0 }, expectations: [], problems: [], errors: [], mismatches: [], redactedMismatches: [], recordedChecked: 0 };
  if (companion) r.companion = companion;
  const results: ExpectationResult[] = [];
  const fail = (res: ExpectationResult, message: string) => {
    if (res.status === 'pass') {
      res.status = 'fail';
      res.message = message;
    }
  };
  const addExpectation = (f: string, n: number, v: unknown): ExpectationResult | undefined => {
    const x = parseExpectation(f, n, v);
    if ('message' in x) {
      r.problems.push(x);
      return undefined;
    }
    const res: ExpectationResult = { ...x, status: 'pass', events: 0 };
    results.push(res);
    return res;
  };
  // The companion's expectations are known before the pass, so events are checked as they stream by.
  const bySubject = new Map<string, ExpectationResult[]>();
  const byMatch: ExpectationResult[] = [];
  if (companion) {
    forEachLine(companion, (n, text) => {
      if (text.trim() === '') return;
      let v: unknown;
      try {
        v = JSON.parse(text);
      } catch (e) {
        r.problems.push({ file: companion, line: n, message: `not JSON: ${(e as Error).message}` });
        return;
      }
      if (!isObject(v) || !('expect' in v)) {
        r.problems.push({ file: companion, line: n, message: 'not an expectation ({"expect": {...}}); events belong in the recording' });
        return;
      }
      const res = addExpectation(companion, n, v.expect);
      if (!res) return;
      if (res.subject !== undefined) bySubject.set(res.subject, [...(bySubject.get(res.subject) ?? []), res]);
      else byMatch.push(res);
    });
  }
  const check = (res: ExpectationResult, d: Seen) => {
    res.events++;
    const why = unmet(res, d);
    if (why) fail(res, why);
  };
  // expectations inside the recording: resolved after the pass
  const inline: Array<[number, unknown]> = [];
  const seen: Seen[] = [];
  const recorded: Array<{ line: number; subject: string; action: Action; revision?: string }> = [];
  const decide = o.decider ?? ((v: object, text: string) => engine.decide(v, text));
  const baseline = o.baseline;
  const baselineDecide = o.baselineDecider ?? (baseline ? (v: object, text: string) => baseline.decide(v, text) : undefined);

  forEachLine(file, (n, text) => {
    if (text.length === 0 || text.trim() === '') return;
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch (e) {
      r.problems.push({ file, line: n, message: `not JSON: ${(e as Error).message}` });
      return;
    }
    if (!isObject(v)) {
      r.problems.push({ file, line: n, message: 'not a JSON object (an event or an expectation)' });
      return;
    }
    if ('expect' in v) {
      inline.push([n, v.expect]);
      return;
    }
    if (typeof v.type !== 'string' || v.type === '') {
      r.problems.push({ file, line: n, message: 'type: missing or not a string (every event has one)' });
      return;
    }
    if (v.id !== undefined && typeof v.id !== 'string') {
      r.problems.push({ file, line: n, message: 'id: not a string' });
      return;
    }
    r.events++;
    const type = v.type;
    const hasId = typeof v.id === 'string';
    const id = hasId ? (v.id as string) : `${file}:${n}`;
    if (NOT_DECIDED.has(type)) {
      const dec = v.decision;
      if (type === 'decision' && isObject(dec) && typeof dec.subject === 'string' && typeof dec.action === 'string' && ACTIONS[dec.action]) {
        recorded.push({ line: n, subject: dec.subject, action: ACTIONS[dec.action]!, revision: typeof dec.policy_revision === 'string' ? dec.policy_revision : undefined });
      }
      return;
    }
    r.decided++;
    const s: Seen = { line: n, id, hasId, type };
    try {
      // the line is the event's JSON: no need to serialise it again
      s.verdict = decide(v, text);
      r.counts[s.verdict.action]++;
    } catch (e) {
      s.error = (e as Error).message;
      r.counts.error++;
      r.errors.push({ line: n, id, message: s.error });
    }
    seen.push(s);
    if (baselineDecide || o.keepDecisions) {
      const d: Decided = { file, line: n, id, type, event: v };
      if (s.verdict) d.verdict = s.verdict;
      if (s.error !== undefined) d.error = s.error;
      if (baselineDecide) {
        try {
          d.baseline = baselineDecide(v, text);
        } catch (e) {
          d.baselineError = (e as Error).message;
        }
        if (!sameVerdict(d.verdict, d.baseline) || d.error !== d.baselineError) out.diff.push(d);
      }
      if (o.keepDecisions) out.decisions.push(d);
    }
    if (hasId && bySubject.size) for (const res of bySubject.get(id) ?? []) check(res, s);
    for (const res of byMatch) if (matches(v, res.match)) check(res, s);
    // for recorded decisions that replay differently: was the agent shown more than the recording holds?
    if (text.includes(REDACTED)) s.redacted = true;
  });

  // expectations written inside the recording
  const inlineMatch: ExpectationResult[] = [];
  if (inline.length) {
    const wanted = new Map<string, ExpectationResult[]>();
    for (const [n, v] of inline) {
      const res = addExpectation(file, n, v);
      if (!res) continue;
      if (res.subject !== undefined) wanted.set(res.subject, [...(wanted.get(res.subject) ?? []), res]);
      else inlineMatch.push(res);
    }
    if (wanted.size) for (const s of seen) if (s.hasId) for (const res of wanted.get(s.id) ?? []) check(res, s);
  }
  if (inlineMatch.length) {
    // match expectations need the events again: a second pass, only when there are such
    let i = 0;
    forEachLine(file, (n, text) => {
      while (i < seen.length && seen[i]!.line < n) i++;
      if (i >= seen.length || seen[i]!.line !== n) return;
      const v = JSON.parse(text) as unknown;
      for (const res of inlineMatch) if (matches(v, res.match)) check(res, seen[i]!);
    });
  }
  results.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file === file ? 1 : -1));
  const replayed = new Map<string, Seen>();
  if (recorded.length) for (const s of seen) replayed.set(s.id, s);
  for (const res of results) {
    if (res.events > 0) continue;
    fail(res, res.subject !== undefined ? `no event with id ${JSON.stringify(res.subject)} in ${file}` : `matches no event in ${file}`);
  }
  for (const rec of recorded) {
    if (rec.revision === undefined || rec.revision !== engine.revision) continue;
    const now = replayed.get(rec.subject);
    if (now === undefined) continue; // the event decided on is not in this recording
    if (KERNEL_DECIDED.has(now.type)) continue; // the kernel refused it from standing verdicts, not from this event
    r.recordedChecked++;
    const action = now.verdict?.action ?? 'error';
    if (action === rec.action) continue;
    (now.redacted ? r.redactedMismatches : r.mismatches).push({ line: rec.line, subject: rec.subject, recorded: rec.action, replayed: action });
  }
  r.expectations = results;
  r.problems.sort((a, b) => (a.file === b.file ? a.line - b.line : a.file === file ? 1 : -1));
  return r;
}
