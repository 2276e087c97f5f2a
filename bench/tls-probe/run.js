#!/usr/bin/env node
// bench/tls-probe: what the TLS plaintext probes (bpf/tls.bpf.c) cost one
// libssl call, with the read/write probes as uprobe sessions and as an entry
// uprobe + uretprobe pair (BUSTED_TLS_NO_SESSION=1), against no probes, in
// the same run. A python3 loop (ssl-loop.py: client and server over memory
// BIOs, the system's libssl) is timed
//   out: outside the probes' cgroup, what every other libssl user on the
//        host pays (the entry stores nothing: with sessions, no return run)
//   in:  inside it, every call captured (a return run in both modes), the
//        ring drained by a no-op consumer
// Modes are interleaved, the best of each loop's repetitions kept, the
// median over rounds reported, as us per call and as the added cost.
// env: BENCH_TLS_PROBE_ROUNDS (default 5). Prints RESULT {json} lines. Needs root.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger, median, result } from '../lib.js';

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = join(HERE, '..', '..');
const ROUNDS = Number(process.env.BENCH_TLS_PROBE_ROUNDS ?? 5);
const log = logger('tls-probe');

if (process.getuid?.() !== 0) {
  log('skipped: needs root to load BPF programs');
  process.exit(0);
}
if (!existsSync(join(ROOT, 'dist', 'engine', 'kernel', 'loader.js'))) {
  log('skipped: dist/ is not built: bash scripts/setup.sh --build-only');
  process.exit(0);
}
const { KernelSession } = await import(join(ROOT, 'dist/engine/kernel/loader.js'));
const { resolveCgroup, cgroup2Mount } = await import(join(ROOT, 'dist/engine/host/cgroup.js'));
const { TlsLibraryFinder } = await import(join(ROOT, 'dist/engine/host/tls-libs.js'));
const { uprobeSessionSupport } = await import(join(ROOT, 'dist/engine/kernel/libbpf.js'));
const { BPF_DIR } = await import(join(ROOT, 'dist/engine/paths.js'));

const lib = new TlsLibraryFinder({ binaries: [] }).system().find((l) => l.kind === 'openssl');
if (!lib) {
  log('skipped: no system libssl found');
  process.exit(0);
}
const sessions = uprobeSessionSupport(join(BPF_DIR, 'tls.bpf.o'));
const modes = ['none', ...(sessions.ok ? ['session'] : []), 'pair'];
if (!sessions.ok) log(`no uprobe sessions here (${sessions.detail}): pair only`);

const tmp = mkdtempSync(join(tmpdir(), 'busted-bench-tls-probe-'));
const cg = join(cgroup2Mount(), `busted-bench-tls-probe-${process.pid}`);
mkdirSync(cg);
execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(tmp, 'key.pem'), '-out', join(tmp, 'cert.pem'), '-days', '1', '-subj', '/CN=bench.test'], { stdio: 'ignore' });

const loop = (inside) =>
  new Promise((resolve, reject) => {
    const script = `${inside ? 'echo $$ > "$CG/cgroup.procs" && ' : ''}exec /usr/bin/python3 "$@"`;
    const p = spawn('sh', ['-c', script, 'sh', join(HERE, 'ssl-loop.py'), join(tmp, 'cert.pem'), join(tmp, 'key.pem'), '10000', '3'], { env: { ...process.env, CG: cg } });
    let out = '';
    let err = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (err += d));
    p.on('exit', (code) => (code === 0 ? resolve(Number(out.trim())) : reject(new Error(`ssl-loop.py exited ${code}: ${err}`))));
  });

const ns = {};
try {
  for (let r = 0; r < ROUNDS; r++) {
    for (const where of ['out', 'in']) {
      for (const mode of modes) {
        let k;
        if (mode !== 'none') {
          const was = process.env.BUSTED_TLS_NO_SESSION;
          if (mode === 'pair') process.env.BUSTED_TLS_NO_SESSION = '1';
          else delete process.env.BUSTED_TLS_NO_SESSION;
          try {
            k = KernelSession.open({ cgroup: resolveCgroup(cg), ringBytes: 1 << 22, selfTgid: process.pid, serverSide: false, only: ['tls'], tls: { targets: [lib], capBytes: 4096 } });
          } finally {
            if (was === undefined) delete process.env.BUSTED_TLS_NO_SESSION;
            else process.env.BUSTED_TLS_NO_SESSION = was;
          }
          if (k.tlsMode !== mode) throw new Error(`asked for ${mode}, got ${k.tlsMode}: ${k.tlsModeDetail}`);
          k.consume(() => {});
        }
        try {
          const v = await loop(where === 'in');
          (ns[`${where}-${mode}`] ??= []).push(v);
          log(`round ${r + 1} ${where} ${mode}: ${v} ns per call`);
        } finally {
          k?.dispose();
        }
      }
    }
  }
} finally {
  rmdirSync(cg);
  rmSync(tmp, { recursive: true, force: true });
}
for (const where of ['out', 'in']) {
  const base = median(ns[`${where}-none`]);
  for (const mode of modes.filter((m) => m !== 'none')) {
    const v = median(ns[`${where}-${mode}`]);
    result({ metric: `tls_probe_${where}_${mode}_us_per_call`, value: Math.round(v / 10) / 100, unprobed: Math.round(base / 10) / 100, added_us: Math.round((v - base) / 10) / 100, unit: 'us', runs_ns: ns[`${where}-${mode}`] });
  }
}
