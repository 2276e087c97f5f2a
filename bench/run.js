#!/usr/bin/env node
// npm run bench: runs every bench/<name>/run.js in turn. Each prints its
// results as JSON objects, one per line, prefixed "RESULT "; they are
// collected into bench/results/<timestamp>.json and shown as a table.
// Benchmarks compare against a baseline measured in the same run, so the
// numbers that matter are the ratios.
//   node bench/run.js [name ...]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const here = new URL('.', import.meta.url).pathname;
const only = process.argv.slice(2);
const names = readdirSync(here, { withFileTypes: true })
  .filter((d) => d.isDirectory() && d.name !== 'results' && existsSync(join(here, d.name, 'run.js')))
  .map((d) => d.name)
  .filter((n) => !only.length || only.includes(n))
  .sort();
const results = [];
for (const name of names) {
  console.error(`bench: ${name}`);
  const r = spawnSync(process.execPath, [join(here, name, 'run.js')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 15 * 60_000 });
  for (const line of (r.stdout ?? '').split('\n')) {
    if (line.startsWith('RESULT ')) results.push({ bench: name, ...JSON.parse(line.slice(7)) });
    else if (line.trim()) console.log(line);
  }
  if (r.status !== 0) console.error(`bench: ${name} exited ${r.status}`);
}
mkdirSync(join(here, 'results'), { recursive: true });
const file = join(here, 'results', `${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
console.table(results);
console.error(`bench: results in ${file}`);
