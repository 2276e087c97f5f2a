/**
 * Finding TLS libraries where they are: a python3 that already runs when
 * the agent starts, in a private mount namespace where its libssl.so.3 is
 * a different file bind-mounted over the system's path (what a container
 * does: found through /proc/PID/maps and /proc/PID/root), and a copy of
 * node (its own OpenSSL, another inode) started after the agent (found on
 * its exec). Neither file is the one the agent probes at start, so their
 * plaintext can only be seen if discovery put probes on them.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { MonitorProcess } from '../helpers/agent.js';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { uprobeSessionSupport } from '../../engine/kernel/libbpf.js';
import { BPF_DIR } from '../../engine/paths.js';
import { goClient, goSkipReason } from '../helpers/go-client.js';

const SYSTEM_LIBSSL = '/usr/lib/x86_64-linux-gnu/libssl.so.3';
const skip = kernelSkipReason() ?? (statSafe(SYSTEM_LIBSSL) ? undefined : `needs ${SYSTEM_LIBSSL} (Debian's libssl3) to bind a copy over it`);

function statSafe(p: string) {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}

describe('TLS library discovery', { skip }, () => {
  let cg: TestCgroup;
  let pki: Pki;
  let server: Server;
  let port = 0;
  let dir: string;
  let agent: MonitorProcess;
  let py: ChildProcess;
  let pyErr = '';
  // a Go client running before the agent, waiting for a line on stdin (when Go is here to build it)
  let goProc: ChildProcess | undefined;
  let goOut = '';

  before(async () => {
    cg = new TestCgroup();
    pki = makePki();
    dir = mkdtempSync(join(tmpdir(), 'busted-disc-'));
    server = createServer({ key: pki.keyPem, cert: pki.certPem }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ model: 'gpt-4o-mini', usage: { prompt_tokens: 1, completion_tokens: 2 } }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;

    // python3 with its own copy of libssl, running before the agent, waiting for a line on stdin
    const libCopy = join(dir, 'libssl.so.3');
    copyFileSync(SYSTEM_LIBSSL, libCopy);
    const code = `import http.client, json, ssl, sys
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
print(open('/proc/self/maps').read(), flush=True)
sys.stdin.readline()
c = http.client.HTTPSConnection('api.openai.com', ${port}, context=ctx)
c.request('POST', '/v1/chat/completions', body=json.dumps({"model": "from-python-in-a-namespace", "messages": [{"role": "user", "content": "hi"}]}), headers={"Content-Type": "application/json"})
print(c.getresponse().status, flush=True)`;
    const hosts = join(dir, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost api.openai.com\n');
    const script = `mount --bind "$LIBCOPY" ${SYSTEM_LIBSSL} && mount --bind "$HOSTS" /etc/hosts && echo $$ > "$CG/cgroup.procs" && exec "$@"`;
    py = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', PYTHON, '-c', code], { env: { ...process.env, LIBCOPY: libCopy, HOSTS: hosts, CG: cg.path }, stdio: ['pipe', 'pipe', 'pipe'] });
    py.stderr!.on('data', (d) => (pyErr += d));
    // wait until it has loaded libssl (it prints its maps)
    const maps = await new Promise<string>((resolve, reject) => {
      let out = '';
      py.stdout!.on('data', (d) => {
        out += d;
        if (out.includes('\n\n')) resolve(out);
      });
      py.on('exit', (c) => reject(new Error(`python exited ${c}: ${pyErr}`)));
    });
    // the test means something only if python maps a libssl that is not the system's file
    const line = maps.split('\n').find((l) => l.endsWith(SYSTEM_LIBSSL));
    assert.ok(line, `python maps libssl: ${pyErr}`);
    const inode = Number(line.trim().split(/\s+/)[4]);
    assert.notEqual(inode, statSync(SYSTEM_LIBSSL).ino, 'python runs the bind-mounted copy, not the system libssl');
    assert.equal(inode, statSync(libCopy).ino);

    if (!goSkipReason()) {
      // its own copy of the binary: a file no other test's agent has seen
      const goCopy = join(dir, 'go-running');
      copyFileSync(goClient().plain, goCopy);
      const body = JSON.stringify({ model: 'from-a-running-go', messages: [{ role: 'user', content: 'hi' }] });
      goProc = spawn('sh', ['-c', 'echo $$ > "$CG/cgroup.procs" && exec "$@"', 'sh', goCopy, '-stdin', '-connect', `127.0.0.1:${port}`, pki.caCert, `https://api.openai.com:${port}/v1/chat/completions`, body], { env: { ...process.env, CG: cg.path }, stdio: ['pipe', 'pipe', 'pipe'] });
      goProc.stdout!.on('data', (d) => (goOut += d));
      goProc.stderr!.on('data', (d) => (goOut += d));
      // running the Go binary (its exe is the copy) before the agent starts
      const deadline = Date.now() + 5000;
      while (Date.now() < deadline) {
        try {
          if (readFileSync(`/proc/${goProc.pid}/cmdline`, 'utf8').startsWith(goCopy)) break;
        } catch {
          // not yet
        }
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    agent = await MonitorProcess.start(['--cgroup', cg.path]);
  });

  after(async () => {
    py?.kill('SIGKILL');
    goProc?.kill('SIGKILL');
    const code = await agent?.stop();
    server?.close();
    await cg?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pki) rmSync(pki.dir, { recursive: true, force: true });
    assert.equal(code, 0, `monitor exited ${code}: ${agent?.stderr}`);
  });

  it('captures a process that was already running, through its own (bind-mounted) libssl found in /proc/PID/maps', async () => {
    const exited = new Promise<number | null>((r) => py.on('exit', r));
    py.stdin!.write('go\n');
    assert.equal(await exited, 0, pyErr);
    const lr = await agent.waitFor((e) => e.process?.pid === py.pid && e.type === 'llm_request', 'llm_request from the running python');
    assert.equal(lr.llm?.model, 'from-python-in-a-namespace');
    assert.equal(lr.provider, 'openai');
    await agent.waitFor((e) => e.process?.pid === py.pid && e.type === 'llm_response', 'its llm_response');
  });

  it('captures a Go program that was already running (its executable found in /proc at start, its crypto/tls probed)', { skip: goSkipReason() }, async () => {
    const exited = new Promise<number | null>((r) => goProc!.on('exit', r));
    goProc!.stdin!.write('go\n');
    assert.equal(await exited, 0, goOut);
    const lr = await agent.waitFor((e) => e.process?.pid === goProc!.pid && e.type === 'llm_request', 'llm_request from the running Go program');
    assert.equal(lr.llm?.model, 'from-a-running-go');
    assert.equal(lr.provider, 'openai');
    assert.equal(lr.tls?.sni, 'api.openai.com');
    await agent.waitFor((e) => e.process?.pid === goProc!.pid && e.type === 'llm_response', 'its llm_response');
    // (probed at start, with the libraries found then: no 'TLS probes on' line of its own)
  });

  it('captures a program started after the agent whose binary carries OpenSSL (found on its exec), attaching each file once', async () => {
    const nodeCopy = join(dir, 'node-copy');
    copyFileSync(process.execPath, nodeCopy);
    assert.notEqual(statSync(nodeCopy).ino, statSync(process.execPath).ino);
    // it waits a moment first: the probes are put on a new file after its exec reaches the agent
    const code = `setTimeout(() => {
const req = require('https').request({ host: '127.0.0.1', port: ${port}, servername: 'api.openai.com', path: '/v1/chat/completions', method: 'POST', ca: require('fs').readFileSync(${JSON.stringify(pki.caCert)}), headers: { host: 'api.openai.com', 'content-type': 'application/json' } }, (res) => { res.resume(); res.on('end', () => process.exit(res.statusCode === 200 ? 0 : 3)); });
req.on('error', (e) => { console.error(e); process.exit(4); });
req.end(JSON.stringify({ model: 'from-a-new-binary', messages: [{ role: 'user', content: 'hi' }] }));
}, 1500);`;
    const runs = await Promise.all([run([nodeCopy, '-e', code], { cgroup: cg.path }), run([nodeCopy, '-e', code], { cgroup: cg.path })]);
    for (const r of runs) {
      assert.equal(r.code, 0, r.stderr);
      const lr = await agent.waitFor((e) => e.process?.pid === r.pid && e.type === 'llm_request', 'llm_request from the new binary');
      assert.equal(lr.llm?.model, 'from-a-new-binary');
    }
    const notes = agent.stderr.split('\n').filter((l) => l.includes(`TLS probes on ${nodeCopy} `));
    assert.equal(notes.length, 1, `one attachment for two processes of one file:\n${agent.stderr}`);
    // node's SSL_write, SSL_read and their _ex forms: one session program
    // each where the kernel has uprobe sessions, an entry and a return
    // program each elsewhere; then SSL_ctrl, SSL_set_fd, SSL_free,
    // SSL_do_handshake, SSL_connect
    assert.match(notes[0]!, process.env.BUSTED_TLS_NO_SESSION !== '1' && uprobeSessionSupport(join(BPF_DIR, 'tls.bpf.o')).ok ? /\(openssl-static, found in pid \d+\): 9\/9 attached, read\/write as uprobe sessions$/ : /\(openssl-static, found in pid \d+\): 13\/13 attached$/);
  });

  it('finds a library loaded after the looks that follow an exec, when the process sends a ClientHello busted cannot read', async () => {
    // python, started after the agent with another copy of libssl bound over the system's, imports ssl
    // 3 s after its exec (well after the last look that follows it, at 1 s), then makes two requests
    const libCopy = join(dir, 'libssl-late.so.3');
    copyFileSync(SYSTEM_LIBSSL, libCopy);
    const hosts = join(dir, 'hosts');
    const code = `import json, sys, time
time.sleep(3)
import http.client, ssl
ctx = ssl.create_default_context(cafile=${JSON.stringify(pki.caCert)})
for model in ("late-first", "late-second"):
    c = http.client.HTTPSConnection('api.openai.com', ${port}, context=ctx)
    c.request('POST', '/v1/chat/completions', body=json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}), headers={"Content-Type": "application/json"})
    assert c.getresponse().status == 200
    c.close()
    time.sleep(1)`;
    const script = `mount --bind "$LIBCOPY" ${SYSTEM_LIBSSL} && mount --bind "$HOSTS" /etc/hosts && echo $$ > "$CG/cgroup.procs" && exec "$@"`;
    const late = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', PYTHON, '-c', code], { env: { ...process.env, LIBCOPY: libCopy, HOSTS: hosts, CG: cg.path }, stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    late.stderr!.on('data', (d) => (err += d));
    const exited = await new Promise<number | null>((r) => late.on('exit', r));
    assert.equal(exited, 0, err);
    // its first ClientHello went through no probed library...
    const hello = await agent.waitFor((e) => e.process?.pid === late.pid && e.type === 'tls_client_hello', 'the late python\'s first ClientHello');
    assert.equal(hello.tls?.plaintext, false);
    // ...so it was looked at then: its second request is read
    // (its first request may be read too: the probes can be on the file before that request's write, after its handshake)
    await agent.waitFor((e) => e.process?.pid === late.pid && e.type === 'llm_request' && e.llm?.model === 'late-second', 'the late python\'s second llm_request');
    assert.ok(agent.stderr.includes(`found in pid ${late.pid})`), agent.stderr);
  });

  it('a process outside the cgroup is not looked at', async () => {
    const outside = join(dir, 'node-outside');
    copyFileSync(process.execPath, outside);
    const r = await run([outside, '-e', 'setTimeout(() => {}, 1200)']);
    assert.equal(r.code, 0);
    assert.ok(!agent.stderr.includes(outside), agent.stderr);
    assert.ok(readFileSync(`/proc/${agent.pid}/status`, 'utf8').includes('State')); // the agent still runs
  });
});
