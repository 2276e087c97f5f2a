#!/usr/bin/env node
/**
 * Runs OPA's compliance suite (docs/rego-wasm-abi.md §5) through our Rego →
 * Wasm compiler: for each case, compile its modules with the entrypoint
 * derived from its query, load the module with our host builtins, set data,
 * evaluate input, and judge the result as OPA's Wasm runners do (§5.2).
 *
 * The suite is third-party data and is never copied into this repository.
 * Point the script at swift-opa's JSON copy of it (see docs/compliance.md):
 *
 *   BUSTED_COMPLIANCE_DIR=/tmp/opa-cases/.../TestData node scripts/compliance.js
 *   node scripts/compliance.js <dir> [--topic NAME] [--verbose] [--json] [--timeout MS]
 *
 * Every case runs in a worker thread with a per-case timeout, so an infinite
 * loop in the compiler or the module costs only that case.
 * Requires `npm run build` (imports from ../dist).
 */

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMainThread, parentPort, Worker } from 'node:worker_threads';

const SELF = fileURLToPath(import.meta.url);

// --------------------------------------------------------------------------
// Worker: runs one case at a time.

// (the worker / main dispatch is at the end of the file, after all declarations)

function errText(e) {
  if (e === null || e === undefined) return String(e);
  if (typeof e === 'string') return e;
  if (typeof e === 'object' && 'errors' in e && Array.isArray(e.errors)) {
    return e.errors.map((x) => `${x.code ?? ''}: ${x.message ?? String(x)}`).join('; ');
  }
  if (typeof e === 'object' && 'message' in e) return `${e.code ? `${e.code}: ` : ''}${e.message}`;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}

async function runCase(job, compile, loadCompiled) {
  const { c, entrypoint, resultVar, input } = job;
  const sources = (c.modules ?? []).map((text, i) => ({ file: `module-${i}.rego`, text }));
  const wantsError = c.want_error !== undefined || c.want_error_code !== undefined;

  let compiled;
  try {
    compiled = compile(sources, { entrypoints: [entrypoint] });
  } catch (e) {
    const msg = errText(e);
    if (/not supported yet/.test(msg)) return { status: 'compile-unsupported', detail: msg };
    if (wantsError && errorMatches(c, msg)) return { status: 'pass', detail: `compile error: ${msg}` };
    return { status: 'compile-error-other', detail: msg };
  }

  let result;
  try {
    const policy = await loadCompiled(compiled.wasm);
    policy.setData(c.data ?? {});
    result = policy.evaluate(input, entrypoint);
  } catch (e) {
    const msg = errText(e);
    if (wantsError) {
      if (c.strict_error || errorMatches(c, msg)) return { status: 'pass', detail: `error: ${msg}` };
      return { status: 'runtime-error', detail: `wanted ${c.want_error_code ?? ''} "${c.want_error ?? ''}", got: ${msg}` };
    }
    return { status: 'runtime-error', detail: msg };
  }

  // Our result set for the query `data.a.b = x`: [{x: value}] or [] (undefined).
  const got = Array.isArray(result) ? result.map((r) => ({ [resultVar]: r.result })) : result;
  if (wantsError) {
    // strict_error: OPA's Wasm builtins are non-strict, so undefined is the
    // expected outcome (§5.2 point 3). Otherwise an error was required.
    if (c.strict_error && Array.isArray(got) && got.length === 0) return { status: 'pass' };
    return { status: 'fail', detail: `wanted error ${c.want_error_code ?? ''} "${c.want_error ?? ''}", got ${show(got)}` };
  }
  if (c.want_result === undefined) {
    if (c.want_defined !== undefined) {
      return (got.length > 0) === c.want_defined ? { status: 'pass' } : { status: 'fail', detail: `want_defined ${c.want_defined}, got ${show(got)}` };
    }
    return { status: 'fail', detail: 'case has no want_result' };
  }
  const want = c.want_result;
  if (deepEqual(got, want, false)) return { status: 'pass' };
  // Sets come out as JSON arrays in an order the runtime chooses; OPA's
  // expected values list them in its own order. Compare all arrays as
  // multisets before calling it a failure (counted separately).
  if (deepEqual(got, want, true)) return { status: 'pass', unordered: true };
  return { status: 'fail', detail: `got ${show(got)}, want ${show(want)}` };
}

function errorMatches(c, msg) {
  const m = msg.toLowerCase();
  if (c.want_error !== undefined && m.includes(String(c.want_error).toLowerCase())) return true;
  if (c.want_error_code !== undefined && m.includes(String(c.want_error_code).toLowerCase())) return true;
  // Our runtime aborts carry OPA's messages, not the error code: map codes to
  // the messages OPA's runtime uses for them.
  if (c.want_error_code === 'eval_conflict_error' && /conflict|multiple outputs/.test(m)) return true;
  return false;
}

function show(v) {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}…` : s;
}

/** JSON order: a total order on JSON values, for sorting arrays as multisets. */
function canon(v) {
  if (Array.isArray(v)) return `[${v.map(canon).sort().join(',')}]`;
  if (v !== null && typeof v === 'object') {
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canon(v[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function deepEqual(a, b, unordered) {
  if (unordered) return canon(a) === canon(b);
  if (a === b) return true;
  if (typeof a === 'number' && typeof b === 'number') return a === b;
  if (Array.isArray(a) || Array.isArray(b)) {
    if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => deepEqual(x, b[i], false));
  }
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && deepEqual(a[k], b[k], false));
}

// --------------------------------------------------------------------------
// Main thread: load cases, classify the skipped ones, run the rest in a pool.

function parseArgs(argv) {
  const o = { dir: process.env.BUSTED_COMPLIANCE_DIR, topics: [], verbose: false, json: false, timeout: 10000, jobs: 0 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--topic') o.topics.push(argv[++i]);
    else if (a === '--verbose' || a === '-v') o.verbose = true;
    else if (a === '--json') o.json = true;
    else if (a === '--timeout') o.timeout = Number(argv[++i]);
    else if (a === '--jobs' || a === '-j') o.jobs = Number(argv[++i]);
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}`);
    else o.dir = a;
  }
  return o;
}

function walk(dir, out = []) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.json') && name !== 'index.json') out.push(p);
  }
  return out;
}

/** `data.a.b = x` (or `x = data.a.b`) → entrypoint a/b and the result var x. */
/** The builtins issue 3 lists, and the operators and internals a parsed expression may call. */
const ISSUE_BUILTINS = new Set(
  `eq assign equal neq lt lte gt gte plus minus mul div rem and or internal.member_2 internal.member_3 print internal.print
count sum product max min sort concat contains startswith endswith lower upper split replace strings.replace_n
trim trim_left trim_right trim_prefix trim_suffix trim_space indexof substring sprintf format_int
strings.any_prefix_match strings.any_suffix_match regex.match regex.find_n regex.split glob.match
net.cidr_contains net.cidr_intersects object.get object.keys object.remove object.union object.filter
array.concat array.slice intersection union is_number is_string is_boolean is_array is_set is_object is_null
type_name json.marshal json.unmarshal base64.encode base64.decode time.now_ns crypto.sha256 units.parse_bytes`.split(/\s+/),
);

function parseQuery(q) {
  const ident = '[A-Za-z_][A-Za-z0-9_]*';
  const ref = `data((?:\\.${ident}|\\["[^"\\\\]*"\\])+)`;
  let m = new RegExp(`^\\s*${ref}\\s*=\\s*(${ident})\\s*$`).exec(q);
  let path;
  let v;
  if (m) [, path, v] = m;
  else if ((m = new RegExp(`^\\s*(${ident})\\s*=\\s*${ref}\\s*$`).exec(q))) [, v, path] = m;
  else return undefined;
  // `data.x.p = input` compares with the input document: not a result variable
  if (v === 'input' || v === 'data') return undefined;
  const parts = [...path.matchAll(new RegExp(`\\.(${ident})|\\["([^"\\\\]*)"\\]`, 'g'))].map((x) => x[1] ?? x[2]);
  return { entrypoint: parts.join('/'), resultVar: v };
}

async function loadSupport() {
  const { HOST_BUILTINS } = await import('../dist/engine/policy/builtins-js.js');
  const { NATIVE_BUILTINS } = await import('../dist/engine/policy/ir/ir.js');
  const { lookupBuiltin } = await import('../dist/engine/policy/compile/builtins.js');
  const comparisons = new Set(['lt', 'lte', 'gt', 'gte']);
  // Planned inline by planner.ts (statements, not calls); membership only in
  // some forms, the rest are compile-unsupported rather than skipped.
  const inline = new Set(['eq', 'assign', 'equal', 'neq', 'internal.member_2', 'internal.member_3']);
  // What planner.ts `callee` accepts: a declared, non-variadic builtin that
  // the runtime (native) or the host (JS) implements.
  return (name) => {
    if (inline.has(name)) return true;
    const d = lookupBuiltin(name);
    if (d === undefined || d.variadic) return false;
    return comparisons.has(name) || name in NATIVE_BUILTINS || Object.prototype.hasOwnProperty.call(HOST_BUILTINS, name);
  };
}

const STATUSES = ['pass', 'fail', 'compile-unsupported', 'compile-error-other', 'runtime-error', 'timeout', 'skipped'];

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  if (!opts.dir) {
    console.error('compliance: corpus not found: set BUSTED_COMPLIANCE_DIR or pass a directory (see docs/compliance.md)');
    process.exit(2);
  }
  const supported = await loadSupport();
  const files = walk(opts.dir);
  const cases = [];
  for (const f of files) {
    const rel = relative(opts.dir, f).split(sep);
    const topic = basename(dirname(f));
    let doc;
    try {
      doc = JSON.parse(readFileSync(f, 'utf8'));
    } catch (e) {
      console.error(`compliance: cannot read ${f}: ${errText(e)}`);
      continue;
    }
    for (const c of doc.cases ?? []) {
      if (opts.topics.length && !opts.topics.includes(topic)) continue;
      cases.push({ file: rel.join('/'), topic, v0: rel.includes('v0'), c });
    }
  }

  const results = [];
  const jobs = [];
  for (const k of cases) {
    const r = { topic: k.topic, note: k.c.note, file: k.file, status: 'skipped', reason: '', detail: '' };
    results.push(r);
    const c = k.c;
    if (k.v0 || c.v0_compatible === false) {
      r.reason = 'v0';
      continue;
    }
    const q = parseQuery(c.query ?? '');
    if (!q) {
      r.reason = 'query form';
      r.detail = c.query;
      continue;
    }
    const used = (c.plan?.static?.builtin_funcs ?? []).map((b) => b.name);
    const missing = used.filter((n) => !supported(n));
    r.builtins = used;
    if (missing.length) {
      r.reason = 'builtin';
      r.missing = missing;
      r.detail = missing.join(', ');
      continue;
    }
    let input = c.input;
    if (c.input_term !== undefined) {
      try {
        input = JSON.parse(c.input_term);
      } catch {
        r.reason = 'input_term not JSON';
        r.detail = c.input_term;
        continue;
      }
    }
    jobs.push({ r, job: { id: jobs.length, c, entrypoint: q.entrypoint, resultVar: q.resultVar, input } });
  }

  await runPool(jobs, opts);
  report(results, opts);
}

function runPool(jobs, opts) {
  const n = Math.max(1, Math.min(opts.jobs || availableParallelism(), jobs.length));
  let next = 0;
  let done = 0;
  return new Promise((resolve) => {
    if (jobs.length === 0) return resolve();
    const start = () => {
      const w = new Worker(SELF);
      let cur;
      let timer;
      const feed = () => {
        if (next >= jobs.length) {
          w.terminate();
          return;
        }
        cur = jobs[next++];
        timer = setTimeout(() => {
          cur.r.status = 'timeout';
          cur.r.detail = `no answer in ${opts.timeout} ms`;
          cur = undefined;
          w.terminate();
          finish();
          start();
        }, opts.timeout);
        w.postMessage(cur.job);
      };
      const finish = () => {
        if (++done === jobs.length) resolve();
      };
      w.on('message', (m) => {
        if (!cur || m.id !== cur.job.id) return;
        clearTimeout(timer);
        cur.r.status = m.status;
        cur.r.detail = m.detail ?? '';
        if (m.unordered) cur.r.unordered = true;
        cur = undefined;
        finish();
        feed();
      });
      w.on('error', (e) => {
        if (!cur) return;
        clearTimeout(timer);
        cur.r.status = 'runtime-error';
        cur.r.detail = `worker crashed: ${errText(e)}`;
        cur = undefined;
        finish();
        start();
      });
      feed();
    };
    for (let i = 0; i < n; i++) start();
  });
}

function report(results, opts) {
  const topics = new Map();
  const total = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  const skipReasons = {};
  const missingBuiltins = {};
  let unordered = 0;
  for (const r of results) {
    if (!topics.has(r.topic)) topics.set(r.topic, Object.fromEntries(STATUSES.map((s) => [s, 0])));
    topics.get(r.topic)[r.status]++;
    total[r.status]++;
    if (r.unordered) unordered++;
    if (r.status === 'skipped') skipReasons[r.reason] = (skipReasons[r.reason] ?? 0) + 1;
    for (const b of r.missing ?? []) missingBuiltins[b] = (missingBuiltins[b] ?? 0) + 1;
  }
  // the yardstick of issue 3: cases whose builtins are all in its list (operators included)
  const inList = results.filter((r) => r.builtins !== undefined && r.status !== 'skipped' && r.builtins.every((b) => ISSUE_BUILTINS.has(b)));
  const inListPass = inList.filter((r) => r.status === 'pass').length;
  const run = (t) => t.pass + t.fail + t['compile-unsupported'] + t['compile-error-other'] + t['runtime-error'] + t.timeout;
  const pct = (a, b) => (b === 0 ? '-' : `${((100 * a) / b).toFixed(1)}%`);

  if (opts.json) {
    const summary = {
      total: results.length,
      counts: total,
      run: run(total),
      passRate: run(total) ? total.pass / run(total) : null,
      passesNeedingUnorderedCompare: unordered,
      issueList: { run: inList.length, pass: inListPass, passRate: inList.length ? inListPass / inList.length : null },
      skipped: skipReasons,
      missingBuiltins: Object.fromEntries(Object.entries(missingBuiltins).sort((a, b) => b[1] - a[1])),
      topics: Object.fromEntries([...topics].sort().map(([t, c]) => [t, { ...c, run: run(c), passRate: run(c) ? c.pass / run(c) : null }])),
      failures: opts.verbose ? results.filter((r) => r.status !== 'pass' && r.status !== 'skipped') : undefined,
    };
    console.log(JSON.stringify(summary, null, 2));
    return;
  }

  if (opts.verbose) {
    for (const r of results) {
      if (r.status === 'pass' || r.status === 'skipped') continue;
      console.log(`${r.status.padEnd(19)} ${r.note} (${r.file})\n    ${String(r.detail).replace(/\n/g, '\n    ')}`);
    }
    console.log('');
  }

  const cols = ['pass', 'fail', 'unsup', 'cerr', 'rterr', 'tmo', 'skip', 'rate'];
  console.log(`${'topic'.padEnd(40)} ${cols.map((c) => c.padStart(6)).join(' ')}`);
  for (const [t, c] of [...topics].sort()) {
    const row = [c.pass, c.fail, c['compile-unsupported'], c['compile-error-other'], c['runtime-error'], c.timeout, c.skipped, pct(c.pass, run(c))];
    console.log(`${t.padEnd(40)} ${row.map((x) => String(x).padStart(6)).join(' ')}`);
  }
  const row = [total.pass, total.fail, total['compile-unsupported'], total['compile-error-other'], total['runtime-error'], total.timeout, total.skipped, pct(total.pass, run(total))];
  console.log(`${'TOTAL'.padEnd(40)} ${row.map((x) => String(x).padStart(6)).join(' ')}`);
  console.log('');
  console.log(`cases: ${results.length}; run (v1, plain data-ref query, supported builtins): ${run(total)}; pass ${total.pass} = ${pct(total.pass, run(total))} of run, ${pct(total.pass, results.length)} of all`);
  console.log(`  ${unordered} of the passes needed array-order-insensitive comparison (set order)`);
  console.log(`issue 3's yardstick (every builtin of the case in its list, operators included): ${inListPass} of ${inList.length} = ${pct(inListPass, inList.length)}`);
  console.log(`skipped: ${Object.entries(skipReasons).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`);
  const mb = Object.entries(missingBuiltins).sort((a, b) => b[1] - a[1]);
  if (mb.length) console.log(`missing builtins (${mb.length}; cases): ${mb.slice(0, 30).map(([k, v]) => `${k} ${v}`).join(', ')}${mb.length > 30 ? ', …' : ''}`);
}

// --------------------------------------------------------------------------

if (!isMainThread) {
  const { compile } = await import('../dist/engine/policy/compiler.js');
  const { loadCompiled } = await import('../dist/engine/policy/builtins-js.js');
  parentPort.on('message', async (job) => {
    let out;
    try {
      out = await runCase(job, compile, loadCompiled);
    } catch (e) {
      out = { status: 'runtime-error', detail: `harness: ${errText(e)}` };
    }
    parentPort.postMessage({ id: job.id, ...out });
  });
} else {
  await main();
}
