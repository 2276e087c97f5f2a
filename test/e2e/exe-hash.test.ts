/**
 * Executable identity (`process.exe_sha256`, engine/host/exe-hash.ts and
 * bpf/proc.bpf.c exe_hashed): a policy that lets only one binary, by its
 * SHA-256, reach a provider. A copy of that binary under another name
 * connects; a changed copy named and placed like it (`curl`, comm curl) is
 * refused on its very first connect, although the agent had never seen
 * the file: its exec is held until the file is hashed and the process
 * judged. Real curl, a real resolver (dnsmasq) and a stand-in server, all
 * in a cgroup of the test.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../engine/demo/spawn.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { openAiStandIn, type OpenAiStandIn } from '../helpers/stand-in.js';

const skip = kernelSkipReason();
const CURL = '/usr/bin/curl';

const sha256 = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');

/** Only the approved executables (by hash) may reach OpenAI; reasons name the hash seen. */
const POLICY = `package busted

import rego.v1

default decision := "allow"

decision := "block" if count(reasons) > 0

reasons contains sprintf("%s (sha256 %s) is not an approved client of %s", [input.process.comm, object.get(input.process, "exe_sha256", "unknown"), input.provider]) if {
	input.type == "connect"
	input.provider == "openai"
	not input.process.exe_sha256 in data.busted.approved_exes
}
`;

describe('executable identity (real kernel, a cgroup of the test)', { skip }, () => {
  let cg: TestCgroup;
  let standIn: OpenAiStandIn;
  let dir: string;
  let agent: MonitorProcess | undefined;

  before(async () => {
    cg = new TestCgroup();
    standIn = await openAiStandIn();
    dir = mkdtempSync(join(tmpdir(), 'busted-exe-'));
  });

  after(async () => {
    await agent?.stop();
    await cg?.dispose();
    await standIn?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const curlWith = (bin: string) => run(standIn.chat(bin), { cgroup: cg.path, resolvConf: standIn.dns.resolvConf });

  it('busted enforce: a copy of the approved binary connects; a changed copy named and placed as curl is refused on its first connect, its exec held until it was hashed', async () => {
    const policies = join(dir, 'policies');
    mkdirSync(policies);
    writeFileSync(join(policies, 'exe.rego'), POLICY);
    writeFileSync(join(policies, 'data.json'), JSON.stringify({ busted: { approved_exes: [sha256(CURL)] } }));
    // files the agent has never seen: a copy of curl under another name, and a changed one where a curl would be
    const copy = join(dir, 'approved-copy');
    copyFileSync(CURL, copy);
    mkdirSync(join(dir, 'usr', 'bin'), { recursive: true });
    const changed = join(dir, 'usr', 'bin', 'curl');
    copyFileSync(CURL, changed);
    appendFileSync(changed, Buffer.from('not the curl that was approved'));
    assert.notEqual(sha256(changed), sha256(CURL));

    const m = (agent = await MonitorProcess.start(['--policies', policies, '--cgroup', cg.path, '--no-tls'], 20_000, 'enforce'));
    const before = standIn.server.hits.length;
    const ok = await curlWith(copy);
    assert.equal(ok.code, 0, `the approved binary, copied: ${ok.stderr}`);
    assert.equal(standIn.server.hits.length, before + 1, 'its request arrived');
    const okExec = await m.waitFor((e) => e.type === 'exec' && e.process?.pid === ok.pid, 'its exec');
    assert.equal(okExec.process?.exe_sha256, sha256(CURL), 'the exec event carries the hash');

    const bad = await curlWith(changed);
    assert.equal(bad.code, 7, `the changed copy cannot connect, the first time: ${bad.stderr}`);
    assert.equal(standIn.server.hits.length, before + 1, 'nothing of it arrived');
    const refused = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.pid === bad.pid, 'its refused connect');
    assert.equal(refused.process?.comm, 'curl');
    assert.equal(refused.process?.exe, changed);
    assert.equal(refused.process?.exe_sha256, sha256(changed));
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === refused.id, 'its decision');
    assert.deepEqual(d.decision?.reasons, [`curl (sha256 ${sha256(changed)}) is not an approved client of openai`]);
    // the system curl, hashed once, runs without a hold and connects
    const sys = await curlWith(CURL);
    assert.equal(sys.code, 0, sys.stderr);

    const code = await agent.stop();
    agent = undefined;
    assert.equal(code, 0);
    const held = /, (\d+) execs held until their executable was hashed/.exec(m.stderr);
    assert.ok(held && Number(held[1]) >= 2, `the two new files' execs were held: ${m.stderr}`);
  });

  it('busted monitor --exe-hash: every event of a process names its executable by hash', async () => {
    const m = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--no-tls', '--exe-hash']));
    // the first processes of a file new to the agent may report before its file is hashed (in a worker): later ones after
    let hashed: string | undefined;
    for (let i = 0; i < 20 && hashed === undefined; i++) {
      const r = await curlWith(CURL);
      hashed = (await m.waitFor((e) => e.type === 'exit' && e.process?.pid === r.pid, 'its exit')).process?.exe_sha256;
      if (hashed === undefined) await new Promise((ok) => setTimeout(ok, 100));
    }
    assert.equal(hashed, sha256(CURL));
    // every event of such a process names it (exec, connect, exit)
    const r = await curlWith(CURL);
    await m.waitFor((e) => e.type === 'exit' && e.process?.pid === r.pid, 'its exit');
    const mine = m.events.filter((e) => e.process?.pid === r.pid);
    assert.ok(mine.length >= 3 && mine.every((e) => e.process?.exe_sha256 === hashed), JSON.stringify(mine.map((e) => [e.type, e.process?.exe_sha256])));
    await agent.stop();
    agent = undefined;
    const plain = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--no-tls']));
    const q = await curlWith(CURL);
    const qe = await plain.waitFor((e) => e.type === 'exit' && e.process?.pid === q.pid, 'its exit');
    assert.equal(qe.process?.exe_sha256, undefined, 'not without the flag or a policy that reads it');
  });
});
