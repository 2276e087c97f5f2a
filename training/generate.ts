/**
 * Builds the classifier's labelled data set for real, on this machine:
 * every traffic kind of training/traffic/spec.ts is served on its own
 * loopback address (training/traffic/server.ts, outside the cgroup), and
 * real clients — node, python3 and curl, chosen per session — play seeded
 * sessions of it from inside a cgroup of our own, resolving the kinds'
 * names through a local dnsmasq. The real agent (`busted monitor
 * --cgroup ... --record`) watches them: its recording is the data, and
 * training/extract.ts turns it into feature vectors with the engine's own
 * code. A connection's label is its destination's kind.
 *
 * Two phases, each with its own agent and recording: `train` (the kinds not
 * held out) and `heldout` (fresh sessions of those kinds, with other seeds,
 * and the held-out kinds, never seen in training).
 *
 *   node dist/training/generate.js [--seed N] [--scale X] [--concurrency N] [--out DIR]
 *
 * Needs root (cgroups, BPF, mount namespaces). Everything stays on
 * 127.0.0.0/8; everything started is stopped, the cgroup removed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { makePki } from '../engine/demo/pki.js';
import { startDnsmasq } from '../engine/demo/resolver.js';
import { run } from '../engine/demo/spawn.js';
import { cgroup2Mount } from '../engine/host/cgroup.js';
import { PACKAGE_ROOT } from '../engine/paths.js';
import { requestBody } from './traffic/client.js';
import { endpoints, KINDS, prng, sessions, type SessionSpec } from './traffic/spec.js';

export interface Manifest {
  seed: number;
  scale: number;
  endpoints: ReturnType<typeof endpoints>;
  phases: Record<string, { recording: string; sessions: Array<{ id: string; kind: string; label: number; client: string; ok: boolean; ms: number }> }>;
}

const arg = (name: string, def: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
};

const log = (m: string) => process.stderr.write(`generate: ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Sessions per kind and phase (times --scale). */
const COUNTS = { train: 60, heldoutSeen: 15, heldoutNew: 30 };

function clientCommand(s: SessionSpec, ca: string): { cmd: string[]; input: string } {
  const input = JSON.stringify({ session: s, ca });
  if (s.client === 'node') return { cmd: [process.execPath, join(PACKAGE_ROOT, 'dist', 'training', 'traffic', 'client.js')], input };
  if (s.client === 'python') return { cmd: ['/usr/bin/python3', join(PACKAGE_ROOT, 'training', 'traffic', 'client.py')], input };
  // curl: one request
  const r = s.conns[0]!.requests[0]!;
  const body = requestBody(r);
  const cmd = ['curl', '-sS', '-o', '/dev/null', '--max-time', '180', '-X', r.method, '-H', `x-gen: ${JSON.stringify(r.gen)}`];
  if (s.tls) cmd.push('--cacert', ca);
  if (body.length) cmd.push('-H', 'content-type: application/json', '--data-binary', '@-');
  cmd.push(`${s.tls ? 'https' : 'http'}://${s.host}:${s.port}${r.path}`);
  return { cmd, input: body.toString('latin1') };
}

async function startAgent(cgroup: string, recording: string): Promise<ChildProcess> {
  const agent = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'busted.js'), 'monitor', '--cgroup', cgroup, '--no-tls', '--no-model', '--format', 'json', '--record', recording], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  agent.stderr!.on('data', (d) => (err += d));
  const deadline = Date.now() + 20_000;
  while (!err.includes('busted: monitoring')) {
    if (agent.exitCode !== null) throw new Error(`busted monitor exited ${agent.exitCode}: ${err}`);
    if (Date.now() > deadline) {
      agent.kill('SIGKILL');
      throw new Error(`busted monitor did not start: ${err}`);
    }
    await sleep(50);
  }
  agent.on('exit', () => {
    if (!/events from/.test(err)) log(`agent: ${err.trim()}`);
  });
  return agent;
}

async function stopChild(c: ChildProcess, signal: NodeJS.Signals = 'SIGINT'): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const done = new Promise((r) => c.once('exit', r));
  c.kill(signal);
  const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
  await done;
  clearTimeout(t);
}

export async function generate(o: { seed: number; scale: number; concurrency: number; out: string }): Promise<Manifest> {
  if (process.getuid?.() !== 0) throw new Error('needs root: BPF, cgroups and mount namespaces');
  const mount = cgroup2Mount();
  if (!mount) throw new Error('needs a cgroup v2 mount');
  mkdirSync(o.out, { recursive: true });
  const eps = endpoints();
  const hosts = [...new Set(eps.map((e) => e.host))];
  const pki = makePki(hosts);
  const cgroup = join(mount, `busted-training-${process.pid}`);
  mkdirSync(cgroup);
  const cfgFile = join(pki.dir, 'server.json');
  writeFileSync(cfgFile, JSON.stringify({ endpoints: eps, cert: pki.certPem, key: pki.keyPem }));
  const server = spawn(process.execPath, [join(PACKAGE_ROOT, 'dist', 'training', 'traffic', 'server.js'), cfgFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  const resolver = await startDnsmasq(Object.fromEntries(hosts.map((h) => [h, [eps.find((e) => e.host === h)!.ip]])));
  const manifest: Manifest = { seed: o.seed, scale: o.scale, endpoints: eps, phases: {} };
  try {
    await new Promise<void>((resolve, reject) => {
      server.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
      server.once('exit', (c) => reject(new Error(`traffic server exited ${c}`)));
    });
    for (const [pi, phase] of (['train', 'heldout'] as const).entries()) {
      const list: SessionSpec[] = [];
      KINDS.forEach((k, ki) => {
        const n = phase === 'train' ? (k.heldOut ? 0 : COUNTS.train) : k.heldOut ? COUNTS.heldoutNew : COUNTS.heldoutSeen;
        list.push(...sessions(k, Math.max(1, Math.round(n * o.scale)) * (n ? 1 : 0), o.seed * 1000 + pi * 100 + ki));
      });
      // interleave the kinds: at any moment several kinds are on the wire, as on a real host
      const r = prng(o.seed * 7 + pi);
      for (let i = list.length - 1; i > 0; i--) {
        const j = Math.floor(r() * (i + 1));
        [list[i], list[j]] = [list[j]!, list[i]!];
      }
      const recording = join(o.out, `${phase}.jsonl`);
      rmSync(recording, { force: true });
      log(`${phase}: ${list.length} sessions of ${new Set(list.map((s) => s.kind)).size} kinds, ${o.concurrency} at a time`);
      const agent = await startAgent(cgroup, recording);
      const done: Manifest['phases'][string]['sessions'] = [];
      const t0 = Date.now();
      let next = 0;
      const worker = async () => {
        while (next < list.length) {
          const s = list[next++]!;
          const { cmd, input } = clientCommand(s, pki.caCert);
          const st = Date.now();
          const res = await run(cmd, { cgroup, resolvConf: resolver.resolvConf, input, timeoutMs: 240_000 });
          const ok = res.code === 0;
          if (!ok) log(`session ${s.id} (${s.client}) failed (${res.code ?? res.signal}): ${res.stderr.trim().split('\n').pop()}`);
          done.push({ id: s.id, kind: s.kind, label: s.label, client: s.client, ok, ms: Date.now() - st });
          if (done.length % 50 === 0) log(`${phase}: ${done.length}/${list.length} sessions (${Math.round((Date.now() - t0) / 1000)} s)`);
        }
      };
      await Promise.all(Array.from({ length: o.concurrency }, worker));
      await sleep(2000); // the last closes reach the ring
      await stopChild(agent);
      const failed = done.filter((d) => !d.ok).length;
      log(`${phase}: done in ${Math.round((Date.now() - t0) / 1000)} s, ${failed} sessions failed`);
      if (failed > list.length * 0.05) throw new Error(`${phase}: ${failed} of ${list.length} sessions failed`);
      manifest.phases[phase] = { recording: `${phase}.jsonl`, sessions: done.sort((a, b) => a.id.localeCompare(b.id)) };
    }
    writeFileSync(join(o.out, 'manifest.json'), JSON.stringify(manifest, null, 1) + '\n');
    return manifest;
  } finally {
    await stopChild(server, 'SIGTERM');
    await resolver.stop();
    for (let i = 0; i < 50 && existsSync(cgroup); i++) {
      try {
        for (const p of readFileSync(join(cgroup, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) process.kill(Number(p), 'SIGKILL');
        rmdirSync(cgroup);
      } catch {
        await sleep(100);
      }
    }
    rmSync(pki.dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = { seed: Number(arg('seed', '7')), scale: Number(arg('scale', '1')), concurrency: Number(arg('concurrency', '16')), out: arg('out', join(PACKAGE_ROOT, 'training', 'data')) };
  generate(o).then(
    (m) => log(`wrote ${join(o.out, 'manifest.json')} and ${Object.values(m.phases).map((p) => p.recording).join(', ')}`),
    (e: Error) => {
      log(`failed: ${e.stack ?? e.message}`);
      process.exitCode = 1;
    },
  );
}
