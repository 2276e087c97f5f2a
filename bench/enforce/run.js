#!/usr/bin/env node
// bench/enforce: what `busted enforce` costs and how fast it acts (issue 5).
//
//   connect    loopback connect/accept loop in an enforced cgroup (the shipped
//              policies loaded, nothing blocked on that destination) against
//              the same loop without the agent: bench/overhead's connect1
//              workload (one client + one server thread pinned to CPU 0, the
//              agent to CPU 1) run with `busted enforce` as the agent.
//              Target: ratio ≥ 0.95.
//   reload     a policy file written → the new verdicts in the kernel's maps
//              (the agent reports the reload once it has rewritten them):
//              p50 and max over edits of a copy of the shipped policies, next
//              to what compiling and loading that policy alone takes (the
//              baseline: a reload cannot be faster). Target: under 100 ms.
//   gate       added latency of a gated but allowed TLS write: a node client
//              in the cgroup sends chat completions over one kept-alive HTTPS
//              connection to api.openai.com (a local stand-in), each request
//              held at SSL_write until the engine has decided (the default
//              --hold-writes auto: in the packet hook, each held sender pushed
//              from the agent); per-request latency without the agent, with
//              enforce (gated), and with enforce --no-gate, p50 and p99,
//              interleaved.
//   gatestop   gate with --hold-writes stop: each write held by stopping
//              the client
//   gatetty    gate with the client on a terminal of its own (script(1))
//   gatepackets  gate with --hold-writes packets (the default where the
//              agent can push held senders)
//   gateprobe  gatepackets with BUSTED_HOLD_PUSH=probe: moved on by a probe
//              of the server instead (a server round trip, here on loopback)
//   gatefar    gatepackets, gateprobe and gatestop with the server 40 ms away
//              (BENCH_ENFORCE_FAR_RTT), behind a delay line: what the probe's
//              round trip costs, and what the push saves
//   gateparts  the same with a 64 KiB prompt written in 8 parts (chunked), a
//              tick apart: each held part is judged before it goes (app.ts
//              judgePart), the last held until the request is decided.
//   plaingate  the same over plain-text HTTP (an Ollama-style server on
//              http://127.0.0.1): each request's segment held in the packet
//              hook until the engine has decided, then let go (pkt.bpf.c
//              BUSTED_PLAIN_GATE, a probe for the sender's retry).
//
//   hellohold  added latency of a new TLS connection whose TLS busted cannot
//              read (libcurl on NSS, driven from python3, with the agent told
//              not to probe NSS: --tls-libs openssl,openssl-static,gnutls)
//              to api.openai.com (a local stand-in, its name
//              through a local dnsmasq so the kernel knows the address as
//              OpenAI's): under enforce its ClientHello is held in the packet
//              hook until the engine has decided, then let go (pkt.bpf.c
//              hello_hold, a probe for the sender's retry). Per connection
//              (handshake + one GET) without the agent and with enforce.
//
//   quichold   added latency of a new QUIC connection's first datagram (a
//              python3 client sends an Initial holding a real ClientHello for
//              api.openai.com from a new UDP socket to 127.0.0.1, an address
//              the kernel never learnt, and waits for the echo): under enforce
//              it is held in the packet hook until the engine has read the
//              hello and decided, then sent on by the engine (pkt.bpf.c
//              quic_hold). Without the agent, with enforce, with --no-gate.
//
//   mcpstdio   added latency of an MCP tools/call round trip over stdio, both
//              reads held until judged (--mcp-stdio).
//
//   exechold   what a policy that reads process.exe_sha256 costs an exec: the
//              first exec of a file new to the agent is held until the file is
//              hashed (proc.bpf.c exe_hashed), later ones run at once. Fresh
//              copies of /bin/true padded to 40 KB, 8 MB and 64 MB are each
//              run twice by a node driver in the cgroup, without the agent,
//              under the same policy judging by path (per-image verdicts,
//              nothing hashed) and under it: added latency of the first and
//              the second exec over the path policy, p50.
//
//   node bench/enforce/run.js [connect|reload|gate|gatestop|gatetty|gatepackets|gateprobe|gatefar|gateparts|plaingate|hellohold|quichold|mcpstdio|exechold ...]
// env: BENCH_ENFORCE_REQS (default 400 per round), BENCH_ENFORCE_ROUNDS (3),
//      BENCH_ENFORCE_EDITS (20)
// Prints RESULT {json} lines on stdout, progress on stderr. Needs root.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import { createServer as createPlainServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logger, pct, result, rounder, sleep } from '../lib.js';

const HERE = new URL('.', import.meta.url).pathname;
const ROOT = join(HERE, '..', '..');
const BUSTED = join(ROOT, 'bin', 'busted.js');
const REQS = Number(process.env.BENCH_ENFORCE_REQS ?? 400);
const ROUNDS = Number(process.env.BENCH_ENFORCE_ROUNDS ?? 3);
const EDITS = Number(process.env.BENCH_ENFORCE_EDITS ?? 20);

const log = logger('bench/enforce');
const round = rounder(3);

if (process.getuid?.() !== 0) {
  log('skipped: needs root (BPF programs, cgroups)');
  process.exit(0);
}

function cgroup2Mount() {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep >= 0 && line.slice(sep + 3).startsWith('cgroup2 ')) return line.slice(0, sep).split(' ')[4];
  }
  throw new Error('no cgroup2 mount');
}

const work = mkdtempSync(join(tmpdir(), 'busted-bench-enforce-'));
const cg = join(cgroup2Mount(), `busted-bench-enforce-${process.pid}`);
mkdirSync(cg);
const cleanups = [];
async function cleanup() {
  for (const f of cleanups.splice(0).reverse()) await f();
  for (let i = 0; i < 50; i++) {
    const pids = readFileSync(join(cg, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(Number(p), 'SIGKILL');
      } catch {}
    }
    await sleep(20);
  }
  try {
    rmdirSync(cg);
  } catch {}
  rmSync(work, { recursive: true, force: true });
}
process.on('SIGINT', () => cleanup().then(() => process.exit(130)));
// a failure outside the awaited chain (a client's promise nobody awaits) must not leave the cgroup behind
process.on('unhandledRejection', (e) => cleanup().then(() => {
  console.error(e);
  process.exit(1);
}));

/** `busted enforce` on the bench's cgroup; resolves once it is enforcing. */
async function startEnforce(policies, extra = [], env = {}) {
  const child = spawn(process.execPath, [BUSTED, 'enforce', '--policies', policies, '--cgroup', cg, '--format', 'json', '--no-server-side', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  child.err = '';
  child.out = '';
  child.lines = [];
  child.stderr.on('data', (d) => (child.err += d));
  child.stdout.on('data', (d) => {
    child.out += d;
    let nl;
    while ((nl = child.out.indexOf('\n')) >= 0) {
      const line = child.out.slice(0, nl);
      child.out = child.out.slice(nl + 1);
      child.lines.push({ at: performance.now(), line });
    }
  });
  const deadline = Date.now() + 20_000;
  while (!child.err.includes('busted: enforcing on')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`busted enforce did not start: ${child.err}`);
    }
    await sleep(20);
  }
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await new Promise((r) => (child.exitCode !== null ? r() : child.once('exit', r)));
  };
  cleanups.push(stop);
  return {
    child,
    async stop() {
      cleanups.splice(cleanups.indexOf(stop), 1);
      await stop();
      return child.err;
    },
  };
}

// ---------------------------------------------------------------- connect

function connectBench() {
  log('connect: bench/overhead connect1 with busted enforce as the agent');
  const r = spawnSync(process.execPath, [join(ROOT, 'bench', 'overhead', 'run.js'), 'connect1'], {
    encoding: 'utf8',
    env: { ...process.env, BENCH_OVERHEAD_AGENT: 'enforce' },
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 10 * 60_000,
  });
  for (const line of (r.stdout ?? '').split('\n')) {
    if (!line.startsWith('RESULT ')) continue;
    const o = JSON.parse(line.slice(7));
    result({ ...o, metric: `enforce_${o.metric}`, agent: 'busted enforce --policies policies' });
  }
}

// ---------------------------------------------------------------- reload

async function reloadBench() {
  const dir = join(work, 'policies');
  cpSync(join(ROOT, 'policies'), dir, { recursive: true });
  // the baseline: compiling and loading these policies, nothing else
  const base = spawnSync(
    process.execPath,
    [
      '-e',
      `import(${JSON.stringify(join(ROOT, 'dist/engine/policy/engine.js'))}).then(async ({ PolicyEngine }) => {
  await PolicyEngine.load(${JSON.stringify(dir)});
  const ts = [];
  for (let i = 0; i < ${EDITS}; i++) { const t = performance.now(); await PolicyEngine.load(${JSON.stringify(dir)}); ts.push(performance.now() - t); }
  ts.sort((a, b) => a - b);
  console.log(JSON.stringify({ p50: ts[Math.floor(ts.length / 2)], max: ts[ts.length - 1] }));
});`,
    ],
    { encoding: 'utf8' },
  );
  const compile = JSON.parse(base.stdout);
  const a = await startEnforce(dir);
  const file = join(dir, 'busted', 'providers.rego');
  const original = readFileSync(file, 'utf8');
  const took = [];
  for (let i = 0; i < EDITS; i++) {
    const seen = a.child.lines.length;
    const t = performance.now();
    writeFileSync(file, `${original}\n# edit ${i}\n`);
    let got;
    while (!got) {
      got = a.child.lines.slice(seen).find((l) => l.line.includes('"type":"policy"') && l.line.includes(`"reloads":${i + 1}`));
      if (!got) {
        if (performance.now() - t > 5000) throw new Error(`no reload ${i + 1} within 5 s: ${a.child.err}`);
        await sleep(1);
      }
    }
    took.push(got.at - t);
    await sleep(100);
  }
  await a.stop();
  writeFileSync(file, original);
  const p50 = pct(took, 0.5);
  log(`reload: file written -> verdicts rewritten p50 ${p50.toFixed(1)} ms, max ${Math.max(...took).toFixed(1)} ms (compile+load alone p50 ${compile.p50.toFixed(1)} ms)`);
  result({
    metric: 'policy_reload_ms',
    p50_ms: round(p50, 1),
    max_ms: round(Math.max(...took), 1),
    compile_load_p50_ms: round(compile.p50, 1),
    ratio_to_compile: round(p50 / compile.p50, 2),
    edits: EDITS,
    target_ms: 100,
    met: p50 < 100,
    note: 'includes the watcher: 5 ms for changes to settle, then the compile, during which the 25 ms quiet time runs; a burst of writes is one reload',
  });
}

// ---------------------------------------------------------------- gate

function makePki(dir) {
  const o = (...args) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  o('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=busted bench CA');
  writeFileSync(join(dir, 'ext.cnf'), 'subjectAltName=DNS:api.openai.com,IP:127.0.0.1\n');
  o('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=api.openai.com');
  o('x509', '-req', '-in', 'server.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.pem', '-days', '2', '-extfile', 'ext.cnf');
  return { ca: join(dir, 'ca.pem'), cert: readFileSync(join(dir, 'server.pem')), key: readFileSync(join(dir, 'server.key')) };
}

/**
 * One round of REQS kept-alive POSTs from a node client in the cgroup (over
 * TLS, or plain-text HTTP without CA); per-request latencies (ms). PARTS > 0:
 * a 64 KiB prompt written in that many writes (chunked), a tick apart.
 */
function clientRound(port, ca, hosts, { parts = 0, tty = false, reqs = REQS } = {}) {
  const url = ca ? `https://api.openai.com:${port}/v1/chat/completions` : `http://127.0.0.1:${port}/api/chat`;
  const script = `
const https = require(${JSON.stringify(ca ? 'https' : 'http')});
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
const body = JSON.stringify({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: ${parts > 0 ? "'a harmless prompt written in parts '.repeat(1900)" : "'a harmless prompt, a few words long, nothing in it to block'"} }] });
const PARTS = ${parts};
const send = (r, k) => {
  if (PARTS === 0) return r.end(body);
  const n = Math.ceil(body.length / PARTS);
  if (k === PARTS - 1) return r.end(body.slice(k * n));
  r.write(body.slice(k * n, (k + 1) * n));
  setImmediate(() => send(r, k + 1));
};
const lat = [];
function one(i) {
  if (i === ${reqs}) { console.log(JSON.stringify(lat)); agent.destroy(); return; }
  const t = process.hrtime.bigint();
  const r = https.request(${JSON.stringify(url)}, { method: 'POST', agent, ${ca ? `ca: require('fs').readFileSync(${JSON.stringify(ca)}), ` : ''}headers: { 'content-type': 'application/json' } }, (res) => {
    res.resume();
    res.on('end', () => { lat.push(Number(process.hrtime.bigint() - t) / 1e6); one(i + 1); });
  });
  r.on('error', (e) => { console.error(e.message); process.exit(1); });
  // each part out at once (else Nagle waits for the server's delayed ACK: 40 ms a request)
  r.on('socket', (so) => so.setNoDelay(true));
  send(r, 0);
}
one(0);`;
  // asynchronously: the server answering it runs in this process
  // TTY: the client runs on a terminal of its own (script(1)'s pty), as a command typed into a shell does
  const file = join(work, `client-${tty ? 'tty' : 'plain'}.js`);
  writeFileSync(file, script);
  const run = tty ? `exec script -qec "'$0' '$1'" /dev/null` : 'exec "$0" "$1"';
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "${hosts}" /etc/hosts && echo $$ > "${cg}/cgroup.procs" && ${run}`, process.execPath, file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const t = setTimeout(() => child.kill('SIGKILL'), 120_000);
  return new Promise((resolve, reject) =>
    child.on('close', (code, signal) => {
      clearTimeout(t);
      if (code !== 0) return reject(new Error(`client failed (${code ?? signal}): ${err}`));
      resolve(JSON.parse(out).slice(10)); // the first requests warm up TLS and the JIT
    }),
  );
}

async function gateBench() {
  const pki = makePki(work);
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost api.openai.com\n');
  // the stand-in for the provider runs here, outside the cgroup: the agent holds only the client
  const server = createServer({ key: pki.key, cert: pki.cert, keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(CHAT_ANSWER);
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const port = server.address().port;
  const inPackets = /writes held \((\d+) in the packet hook/;
  if (want('gate')) await gatedRounds('gate', port, pki.ca, hosts, /(\d+) writes held/, 'gated_write_added_latency_ms', 'writes_held');
  if (want('gatestop')) await gatedRounds('gatestop', port, pki.ca, hosts, /(\d+) writes held/, 'gated_stopped_write_added_latency_ms', 'writes_held', { agentArgs: ['--hold-writes', 'stop'] });
  if (want('gateparts')) await gatedRounds('gateparts', port, pki.ca, hosts, /(\d+) writes held/, 'gated_parts_added_latency_ms', 'writes_held', { parts: 8 });
  if (want('gatepackets')) await gatedRounds('gatepackets', port, pki.ca, hosts, inPackets, 'gated_packets_write_added_latency_ms', 'writes_held_in_packets', { agentArgs: ['--hold-writes', 'packets'] });
  if (want('gateprobe')) await gatedRounds('gateprobe', port, pki.ca, hosts, inPackets, 'gated_packets_probe_write_added_latency_ms', 'writes_held_in_packets', { agentArgs: ['--hold-writes', 'packets'], agentEnv: { BUSTED_HOLD_PUSH: 'probe' } });
  if (want('gatetty')) await gatedRounds('gatetty', port, pki.ca, hosts, inPackets, 'gated_tty_write_added_latency_ms', 'writes_held_in_packets', { tty: true });
}

/**
 * gatefar: the packet hold's cost where the server is far. The stand-in
 * runs in a network namespace behind a delay line (test/helpers/far-host.ts:
 * BENCH_ENFORCE_FAR_RTT ms, default 40, round trip); the same rounds with
 * --hold-writes packets, each held sender pushed from the agent
 * (kernel/push.ts) or, with BUSTED_HOLD_PUSH=probe, moved on by a probe of
 * the server (one round trip more), and with the default (stopped).
 */
const CHAT_ANSWER = '{"object":"chat.completion","model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"prompt_tokens":9,"completion_tokens":1}}';

const FAR_SERVER = `const fs = require('fs');
const [key, cert, port, host] = process.argv.slice(1);
require('https').createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert), keepAlive: true }, (req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(${JSON.stringify(CHAT_ANSWER)});
  });
}).listen(Number(port), host, () => console.log('listening'));`;

async function farGateBench() {
  const { farHost } = await import(join(ROOT, 'dist/test/helpers/far-host.js'));
  const rtt = Number(process.env.BENCH_ENFORCE_FAR_RTT ?? 40);
  const far = await farHost(rtt);
  cleanups.push(() => far.remove());
  const pki = makePki(work);
  writeFileSync(join(work, 'far.key'), pki.key);
  writeFileSync(join(work, 'far.pem'), pki.cert);
  const hosts = join(work, 'hosts-far');
  writeFileSync(hosts, `127.0.0.1 localhost\n${far.there} api.openai.com\n`);
  const port = 8443;
  const [cmd, ...args] = far.exec([process.execPath, '-e', FAR_SERVER, join(work, 'far.key'), join(work, 'far.pem'), String(port), far.there]);
  const srv = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  cleanups.push(() => srv.kill());
  await new Promise((r) => srv.stdout.once('data', r));
  const reqs = Number(process.env.BENCH_ENFORCE_FAR_REQS ?? 60);
  const inPackets = /writes held \((\d+) in the packet hook/;
  log(`gatefar: the server ${rtt} ms away (a delay line to a namespace)`);
  await gatedRounds('gatefar-push', port, pki.ca, hosts, inPackets, 'far_gated_packets_push_added_latency_ms', 'writes_held_in_packets', { reqs, agentArgs: ['--hold-writes', 'packets'] });
  await gatedRounds('gatefar-probe', port, pki.ca, hosts, inPackets, 'far_gated_packets_probe_added_latency_ms', 'writes_held_in_packets', { reqs, agentArgs: ['--hold-writes', 'packets'], agentEnv: { BUSTED_HOLD_PUSH: 'probe' } });
  await gatedRounds('gatefar-stop', port, pki.ca, hosts, /(\d+) writes held/, 'far_gated_stopped_added_latency_ms', 'writes_held', { reqs, agentArgs: ['--hold-writes', 'stop'] });
}

/** gate, for plain-text HTTP: the same rounds against a plain server, the client without a CA. */
async function plainGateBench() {
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, '127.0.0.1 localhost\n');
  const server = createPlainServer({ keepAlive: true }, (req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"model":"llama3.2","message":{"role":"assistant","content":"hi"},"done":true,"prompt_eval_count":9,"eval_count":1}');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const port = server.address().port;
  await gatedRounds('plaingate', port, undefined, hosts, /(\d+) plain-text requests let go/, 'plain_held_request_added_latency_ms', 'requests_let_go');
}

/**
 * Interleaved rounds of clientRound: no agent, `busted enforce` with the
 * shipped policies (held), and with --no-gate; per-request latency p50 and
 * p99 of each, and what the agent counted as held (COUNTER in its stderr).
 */
async function gatedRounds(label, port, ca, hosts, counter, metric, countName, { parts = 0, tty = false, agentArgs = [], agentEnv = {}, reqs = REQS } = {}) {
  const clients = () => clientRound(port, ca, hosts, { parts, tty, reqs });
  const modes = { none: [], gated: [], nogate: [] };
  let held = 0;
  // held senders moved on (their dropped segments): pushed from the agent, or by a probe of the server
  const movedOn = { pushed: 0, probed: 0 };
  // the agent's own measure of its gated writes, kernel stop to release (p50 and p99 of each round)
  const holds = [];
  for (let i = 0; i < ROUNDS; i++) {
    modes.none.push(...(await clients()));
    let a = await startEnforce(join(ROOT, 'policies'), agentArgs, agentEnv);
    modes.gated.push(...(await clients()));
    const err = await a.stop();
    held += Number(counter.exec(err)?.[1] ?? 0);
    const moved = /\((\d+) pushed from here, (\d+) by a probe of their server\)/.exec(err);
    if (moved) {
      movedOn.pushed += Number(moved[1]);
      movedOn.probed += Number(moved[2]);
    }
    const h = /for ([\d.]+) ms p50, ([\d.]+) ms p99 from the kernel's stop to their release/.exec(err);
    if (h) holds.push({ p50_ms: Number(h[1]), p99_ms: Number(h[2]) });
    a = await startEnforce(join(ROOT, 'policies'), ['--no-gate']);
    modes.nogate.push(...(await clients()));
    await a.stop();
    log(`${label}: round ${i + 1}/${ROUNDS}`);
  }
  const s = (xs) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) });
  const none = s(modes.none);
  const gated = s(modes.gated);
  const nogate = s(modes.nogate);
  log(`${label}: request latency p50/p99 ms: no agent ${none.p50.toFixed(3)}/${none.p99.toFixed(3)}, enforce (held) ${gated.p50.toFixed(3)}/${gated.p99.toFixed(3)}, enforce --no-gate ${nogate.p50.toFixed(3)}/${nogate.p99.toFixed(3)}; ${held} ${countName}; held senders moved on: ${movedOn.pushed} pushed, ${movedOn.probed} by a probe`);
  result({
    metric,
    added_p50_ms: round(gated.p50 - none.p50),
    added_p99_ms: round(gated.p99 - none.p99),
    no_agent: { p50_ms: round(none.p50), p99_ms: round(none.p99) },
    gated: { p50_ms: round(gated.p50), p99_ms: round(gated.p99) },
    not_gated: { p50_ms: round(nogate.p50), p99_ms: round(nogate.p99) },
    latency_ratio_p50: round(gated.p50 / none.p50, 2),
    requests: modes.gated.length,
    [countName]: held,
    senders_pushed: movedOn.pushed,
    senders_probed: movedOn.probed,
    agent_hold_per_round: holds,
  });
}

// ---------------------------------------------------------------- hellohold

const NSS_CLIENT = `# N new HTTPS connections through libcurl built on NSS (a TLS library busted does not probe); per-connection ms
import ctypes, json, sys, time
c = ctypes.CDLL('libcurl-nss.so.4')
c.curl_easy_init.restype = ctypes.c_void_p
c.curl_easy_setopt.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
c.curl_easy_perform.argtypes = [ctypes.c_void_p]
c.curl_easy_cleanup.argtypes = [ctypes.c_void_p]
URL, VERIFYPEER, VERIFYHOST, WRITEFUNCTION = 10002, 64, 81, 20011
WF = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p)
sink = WF(lambda p, s, n, u: s * n)
url, n = sys.argv[1].encode(), int(sys.argv[2])
lat = []
for i in range(n):
    h = c.curl_easy_init()
    c.curl_easy_setopt(h, URL, url)
    c.curl_easy_setopt(h, VERIFYPEER, 0)
    c.curl_easy_setopt(h, VERIFYHOST, 0)
    c.curl_easy_setopt(h, WRITEFUNCTION, ctypes.cast(sink, ctypes.c_void_p))
    t = time.perf_counter()
    rc = c.curl_easy_perform(h)
    lat.append((time.perf_counter() - t) * 1000)
    c.curl_easy_cleanup(h)
    if rc != 0:
        sys.exit('curl error %d' % rc)
print(json.dumps(lat[5:]))
`;

/** NSS not probed: the client's TLS is then one busted cannot read */
const NO_NSS = ['--tls-libs', 'openssl,openssl-static,gnutls'];

async function helloHoldBench() {
  const { startDnsmasq } = await import(join(ROOT, 'dist', 'engine', 'demo', 'resolver.js'));
  const pki = makePki(work);
  const dns = await startDnsmasq({ 'api.openai.com': ['127.0.0.1'] });
  cleanups.push(() => dns.stop());
  const server = createServer({ key: pki.key, cert: pki.cert }, (req, res) => {
    req.resume();
    res.end('{"object":"list","data":[]}');
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const url = `https://api.openai.com:${server.address().port}/v1/models`;
  const client = join(work, 'nss-client.py');
  writeFileSync(client, NSS_CLIENT);
  const n = Math.max(50, Math.round(REQS / 4));
  const connections = () => jsonOf(spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount --bind "${dns.resolvConf}" /etc/resolv.conf && echo $$ > "${cg}/cgroup.procs" && exec /usr/bin/python3 "$0" "$1" "$2"`, client, url, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] }));
  await holdRounds('hellohold', connections, NO_NSS, { metric: 'held_hello_added_latency_ms', what: 'connection latency', held: 'hellos held' });
}

/** A client's per-connection latencies, printed as JSON when it exits 0. */
function jsonOf(child) {
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  return new Promise((resolve, reject) => child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out)) : reject(new Error(`client failed (${code}): ${err}`)))));
}

/**
 * ROUNDS of: CONNECTIONS (each a list of latencies, ms) without the agent,
 * under enforce with the shipped policies and EXTRA (holds on), and under
 * enforce with BASE.args instead (what the rest of enforcement costs:
 * --no-gate by default); p50/p99 and the holds the agent counted
 * (BASE.count of its stderr), as NAMES says.
 */
async function holdRounds(bench, connections, extra, names, base = { args: [...extra, '--no-gate'], label: 'enforce --no-gate', key: 'not_gated', count: (err) => Number(/(\d+) ClientHellos held/.exec(err)?.[1] ?? 0) }) {
  const none = [];
  const held = [];
  const other = [];
  let count = 0;
  for (let i = 0; i < ROUNDS; i++) {
    none.push(...(await connections()));
    let a = await startEnforce(join(ROOT, 'policies'), extra);
    held.push(...(await connections()));
    count += base.count(await a.stop());
    a = await startEnforce(join(ROOT, 'policies'), base.args);
    other.push(...(await connections()));
    await a.stop();
    log(`${bench}: round ${i + 1}/${ROUNDS}`);
  }
  const s = (xs) => ({ p50: pct(xs, 0.5), p99: pct(xs, 0.99) });
  const a = s(none);
  const b = s(held);
  const c = s(other);
  log(`${bench}: ${names.what} p50/p99 ms: no agent ${a.p50.toFixed(3)}/${a.p99.toFixed(3)}, enforce (held) ${b.p50.toFixed(3)}/${b.p99.toFixed(3)}, ${base.label} ${c.p50.toFixed(3)}/${c.p99.toFixed(3)}; ${count} ${names.held}`);
  result({
    metric: names.metric,
    added_p50_ms: round(b.p50 - a.p50),
    added_p99_ms: round(b.p99 - a.p99),
    hold_alone_p50_ms: round(b.p50 - c.p50),
    no_agent: { p50_ms: round(a.p50), p99_ms: round(a.p99) },
    held: { p50_ms: round(b.p50), p99_ms: round(b.p99) },
    [base.key]: { p50_ms: round(c.p50), p99_ms: round(c.p99) },
    [names.size ?? 'connections']: held.length,
    [names.held.replace(/ /g, '_')]: count,
  });
}

// ---------------------------------------------------------------- quichold

// sends each Initial from a new connected UDP socket (a new QUIC connection) and times its echo; per-connection ms
const QUIC_CLIENT = `import json, socket, sys, time
port = int(sys.argv[1]); lat = []
for h in json.load(sys.stdin):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(5); s.connect(("127.0.0.1", port))
    t = time.perf_counter(); s.send(bytes.fromhex(h)); s.recv(2048)
    lat.append((time.perf_counter() - t) * 1000); s.close()
print(json.dumps(lat[5:]))
`;

async function quicHoldBench() {
  const { createSocket } = await import('node:dgram');
  const echo = createSocket('udp4');
  echo.on('message', (m, from) => echo.send(m.subarray(0, 64), from.port, from.address));
  await new Promise((r) => echo.bind(0, '127.0.0.1', r));
  cleanups.push(() => new Promise((r) => echo.close(r)));
  const n = Math.max(50, Math.round(REQS / 4));
  // made ahead, in a process of their own: the client that sends them has no TLS library on its thread
  const { quicInitials } = await import(join(ROOT, 'dist', 'test', 'helpers', 'quic-initials.js'));
  const made = JSON.stringify(quicInitials(Array.from({ length: n }, () => 'api.openai.com')));
  const connections = () => {
    const child = spawn('sh', ['-c', `echo $$ > "${cg}/cgroup.procs" && exec /usr/bin/python3 -c "$0" "$1"`, QUIC_CLIENT, String(echo.address().port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin.end(made);
    return jsonOf(child);
  };
  await holdRounds('quichold', connections, [], { metric: 'held_quic_added_latency_ms', what: 'first-datagram round trip', held: 'connections held' });
}

// ---------------------------------------------------------------- mcpstdio

// an MCP client on stdio: spawns the fixture server, then times each tools/call round trip (ms)
const STDIO_CLIENT = `import json, subprocess, sys, time
srv = subprocess.Popen([sys.executable, sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
def call(i, method, params):
    srv.stdin.write(json.dumps({"jsonrpc": "2.0", "id": i, "method": method, "params": params}) + "\\n"); srv.stdin.flush()
    return srv.stdout.readline()
call(0, "initialize", {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}})
lat = []
for i in range(int(sys.argv[2])):
    t = time.perf_counter(); call(1 + i, "tools/call", {"name": "echo", "arguments": {"text": "round %d" % i}})
    lat.append((time.perf_counter() - t) * 1000)
srv.stdin.close(); srv.wait()
sys.stdout.write("\\n" + json.dumps(lat[5:]))
`;

/**
 * MCP over stdio under enforce (--mcp-stdio): the added latency of a
 * tools/call round trip whose both reads (the server's of the call, the
 * client's of the answer) are held until judged, against no agent and
 * against enforce without --mcp-stdio, in interleaved rounds.
 */
async function mcpStdioBench() {
  const n = Math.max(50, Math.round(REQS / 2));
  const server = join(ROOT, 'test', 'fixtures', 'mcp', 'stdio_server.py');
  const trips = async () => {
    const child = spawn('sh', ['-c', `echo $$ > "${cg}/cgroup.procs" && exec /usr/bin/python3 -c "$0" "$1" "$2"`, STDIO_CLIENT, server, String(n)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    const code = await new Promise((r) => child.on('close', r));
    if (code !== 0) throw new Error(`stdio client failed (${code}): ${err}`);
    return JSON.parse(out.slice(out.lastIndexOf('\n') + 1));
  };
  await holdRounds(
    'mcpstdio',
    trips,
    ['--mcp-stdio', '--no-tls'],
    { metric: 'mcp_stdio_round_trip_added_latency_ms', what: 'tools/call round trip', held: 'processes let go', size: 'round_trips' },
    { args: ['--no-tls'], label: 'enforce without --mcp-stdio', key: 'without_mcp_stdio', count: (err) => Number(/writes held \((\d+) let go\)/.exec(err)?.[1] ?? 0) },
  );
}

// ---------------------------------------------------------------- exechold

const EXEC_DRIVER = `const { spawnSync } = require('child_process');
const out = {};
for (const f of process.argv.slice(1)) {
  const t = [];
  for (let i = 0; i < 2; i++) {
    const t0 = process.hrtime.bigint();
    const r = spawnSync(f);
    if (r.status !== 0) { console.error(f, r.error ?? r.status); process.exit(3); }
    t.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  out[f] = t;
}
console.log(JSON.stringify(out));`;

const EXE_POLICY = `package busted

import rego.v1

default decision := "allow"

decision := "block" if {
	input.type == "connect"
	input.provider == "openai"
	not input.process.exe_sha256 in data.busted.ok
}
`;

async function execHoldBench() {
  const sizes = [0, 8 << 20, 64 << 20];
  const copies = 5;
  let batch = 0;
  /** fresh files (new inodes: not hashed), COPIES of each size */
  const fresh = () => {
    const dir = join(work, `exe-${batch++}`);
    mkdirSync(dir, { recursive: true });
    const files = [];
    for (const size of sizes) {
      for (let i = 0; i < copies; i++) {
        const f = join(dir, `true-${size}-${i}`);
        cpSync('/bin/true', f);
        if (size) writeFileSync(f, Buffer.alloc(size), { flag: 'a' });
        files.push({ size, f });
      }
    }
    return files;
  };
  const drive = (files) => {
    const r = spawnSync('sh', ['-c', `echo $$ > "${cg}/cgroup.procs" && exec "$0" -e "$@"`, process.execPath, EXEC_DRIVER, ...files.map((x) => x.f)], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`exec driver failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const without = drive(fresh());
  // the same policy judging by the executable's path: per-image verdicts, but nothing to hash, no exec held
  const underPolicy = async (name, text) => {
    const policies = join(work, name);
    mkdirSync(policies, { recursive: true });
    writeFileSync(join(policies, 'exe.rego'), text);
    writeFileSync(join(policies, 'data.json'), JSON.stringify({ busted: { ok: [] } }));
    const agent = await startEnforce(policies, ['--no-tls']);
    let runs;
    try {
      runs = drive(fresh());
    } finally {
      agent.err = await agent.stop();
    }
    return { runs, err: agent.err };
  };
  const byPath = await underPolicy('exe-path-policy', EXE_POLICY.replace('input.process.exe_sha256', 'input.process.exe'));
  const byHash = await underPolicy('exe-hash-policy', EXE_POLICY);
  const held = Number(/(\d+) execs held until their executable was hashed/.exec(byHash.err)?.[1] ?? 0);
  const med = (xs) => pct(xs, 0.5);
  const by = (runs, size, i) => med(Object.entries(runs).filter(([f]) => f.includes(`/true-${size}-`)).map(([, t]) => t[i]));
  for (const size of sizes) {
    const name = size ? `${size >> 20} MB` : '40 KB';
    const first = by(byHash.runs, size, 0) - by(byPath.runs, size, 0);
    const later = by(byHash.runs, size, 1) - by(byPath.runs, size, 1);
    log(`exechold: ${name}: first exec +${round(first)} ms over enforce judging by path (${round(by(byPath.runs, size, 0))} ms; ${round(by(without, size, 0))} without the agent), later +${round(later)} ms`);
    result({
      metric: 'exec_hold_added_latency_ms',
      file_bytes: size || 'true',
      first_exec_p50: round(first),
      later_exec_p50: round(later),
      by_path_first_p50: round(by(byPath.runs, size, 0)),
      by_path_later_p50: round(by(byPath.runs, size, 1)),
      without_first_p50: round(by(without, size, 0)),
      without_later_p50: round(by(without, size, 1)),
      copies,
      unit: 'ms',
    });
  }
  result({ metric: 'exec_hold_count', value: held, expected: sizes.length * copies, unit: 'execs held' });
}

const which = process.argv.slice(2);
const want = (n) => !which.length || which.includes(n);
try {
  if (want('reload')) await reloadBench();
  if (['gate', 'gatestop', 'gateparts', 'gatetty', 'gatepackets', 'gateprobe'].some(want)) await gateBench();
  if (want('gatefar')) await farGateBench();
  if (want('plaingate')) await plainGateBench();
  if (want('hellohold')) await helloHoldBench();
  if (want('quichold')) await quicHoldBench();
  if (want('mcpstdio')) await mcpStdioBench();
  if (want('exechold')) await execHoldBench();
  if (want('connect')) connectBench();
} finally {
  await cleanup();
}
