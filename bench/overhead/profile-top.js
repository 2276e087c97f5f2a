#!/usr/bin/env node
// Summarise V8 .cpuprofile files (node --cpu-prof): self time by function and
// by source file, and inclusive time for the functions that matter most.
//   node bench/overhead/profile-top.js <file.cpuprofile|dir> [top=25]
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

const [target, topArg] = process.argv.slice(2);
if (!target) {
  console.error('usage: profile-top.js <file.cpuprofile|dir> [top]');
  process.exit(2);
}
const TOP = Number(topArg ?? 25);
const files = statSync(target).isDirectory()
  ? readdirSync(target)
      .filter((f) => f.endsWith('.cpuprofile'))
      .map((f) => join(target, f))
  : [target];

const short = (url) => (url ? url.replace(/^file:\/\//, '').replace(/^.*\/(dist|node_modules)\//, '$1/') : '');

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // sample counts → µs via timeDeltas
  const selfUs = new Map();
  for (let i = 0; i < p.samples.length; i++) {
    const d = p.timeDeltas[i] ?? 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + d);
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const key = (n) => `${n.callFrame.functionName || '(anonymous)'} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map();
  const byFile = new Map();
  const incl = new Map();
  for (const [id, us] of selfUs) {
    const n = byId.get(id);
    const k = key(n);
    self.set(k, (self.get(k) ?? 0) + us);
    const f = short(n.callFrame.url) || `(${n.callFrame.functionName})`;
    byFile.set(f, (byFile.get(f) ?? 0) + us);
    // inclusive: every distinct frame on the stack once
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const kk = key(byId.get(cur));
      if (seen.has(kk)) continue;
      seen.add(kk);
      incl.set(kk, (incl.get(kk) ?? 0) + us);
    }
  }
  const pct = (us) => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
  const idle = self.get('(idle) :0') ?? 0;
  console.log(`\n== ${basename(file)}: ${(total / 1e6).toFixed(2)} s sampled, ${pct(total - idle)} busy`);
  console.log(`-- self time, top ${TOP}`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, TOP)) console.log(`${pct(us)}  ${k}`);
  console.log('-- self time by file');
  for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`${pct(us)}  ${k}`);
  console.log(`-- inclusive time, top ${TOP} (dist/ and node_modules/ frames)`);
  for (const [k, us] of [...incl]
    .filter(([k]) => / (dist|node_modules)\//.test(k))
    .sort((a, b) => b[1] - a[1])
    .slice(0, TOP))
    console.log(`${pct(us)}  ${k}`);
}
