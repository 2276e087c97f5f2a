#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node's own
// test runner, one file at a time: the kernel tests attach BPF programs and
// each file's agent must not see another file's traffic.
// Extra arguments are passed to node --test (e.g. --test-name-pattern=...).
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

const root = join(new URL('.', import.meta.url).pathname, '..');
const dist = join(root, 'dist', 'test');

function walk(dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? walk(p) : n.endsWith('.test.js') ? [p] : [];
  });
}

const filter = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const extra = process.argv.slice(2).filter((a) => a.startsWith('--'));
let files = walk(dist).sort();
if (filter.length) files = files.filter((f) => filter.some((x) => relative(root, f).includes(x)));
if (!files.length) {
  console.error('no test files found under dist/test: run npm run build');
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=1', '--test-reporter=spec', ...extra, ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);
