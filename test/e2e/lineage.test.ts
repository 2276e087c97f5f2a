/**
 * Process lineage (`process.ancestors`): the chain a command came down, so
 * that a policy can tell a curl an AI agent's shell ran from one a person
 * ran. An "agent" (python3 started under the name agent-sim) runs a shell
 * that runs curl: curl's events name the shell and the agent above it, and
 * under enforce a policy that keeps agents' commands off OpenAI refuses
 * that curl's very first connect, while the same curl run directly goes
 * through. Real curl, a real resolver (dnsmasq) and a stand-in server, all
 * in a cgroup of the test.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PYTHON, run } from '../../engine/demo/spawn.js';
import { MonitorProcess } from '../helpers/agent.js';
import { kernelSkipReason, TestCgroup } from '../helpers/cgroup.js';
import { openAiStandIn, type OpenAiStandIn } from '../helpers/stand-in.js';

const skip = kernelSkipReason();

const POLICY = `package busted

import rego.v1

default decision := "allow"

decision := "block" if count(reasons) > 0

agents := {"agent-sim"}

reasons contains sprintf("%s run by agent %s may not reach %s", [input.process.comm, a.comm, input.provider]) if {
	input.type == "connect"
	input.provider == "openai"
	some a in input.process.ancestors
	a.comm in agents
}
`;

describe('process lineage (real kernel, a cgroup of the test)', { skip }, () => {
  let cg: TestCgroup;
  let standIn: OpenAiStandIn;
  let dir: string;
  let agentSim: string;
  let agent: MonitorProcess | undefined;

  before(async () => {
    cg = new TestCgroup();
    standIn = await openAiStandIn();
    dir = mkdtempSync(join(tmpdir(), 'busted-lineage-'));
    // an "agent": python3 started under another name (its comm is the name it was started as)
    agentSim = join(dir, 'agent-sim');
    symlinkSync(realpathSync(PYTHON), agentSim);
  });
  afterEach(async () => {
    await agent?.stop();
    agent = undefined;
  });
  after(async () => {
    await cg?.dispose();
    await standIn?.dispose();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const curlArgs = () => standIn.chat();
  const o = () => ({ cgroup: cg.path, resolvConf: standIn.dns.resolvConf });
  /** the agent runs a shell that runs curl; prints curl's exit code */
  const viaAgent = () => run([agentSim, '-c', `import shlex, subprocess, sys\nr = subprocess.run(["sh", "-c", ${JSON.stringify(curlArgs().map((a) => `'${a}'`).join(' '))} + "; echo curl=$?"])\nsys.exit(r.returncode)`], o());

  it("busted monitor: a command's events name the shell and the agent it came down from", async () => {
    const m = (agent = await MonitorProcess.start(['--cgroup', cg.path, '--no-tls']));
    const r = await viaAgent();
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /curl=0/);
    const conn = await m.waitFor((e) => e.type === 'connect' && e.process?.comm === 'curl' && e.net?.protocol === 'tcp' && e.process.ancestors?.some((a) => a.pid === r.pid) === true, "curl's connect");
    const [shell, agentProc] = conn.process!.ancestors!;
    assert.equal(shell?.comm, 'sh');
    assert.equal(agentProc?.pid, r.pid);
    assert.equal(agentProc?.comm, 'agent-sim');
    assert.equal(conn.process?.ppid, shell?.pid);
    const exec = m.events.find((e) => e.type === 'exec' && e.process?.pid === conn.process?.pid)!;
    assert.deepEqual(exec.process?.ancestors?.slice(0, 2).map((a) => a.comm), ['sh', 'agent-sim'], 'its exec too');
  });

  it("busted enforce: a policy keeps an agent's commands off a provider (refused at the first connect), and the same command run directly goes through", async () => {
    const policies = join(dir, 'policies');
    mkdirSync(policies, { recursive: true });
    writeFileSync(join(policies, 'lineage.rego'), POLICY);
    const m = (agent = await MonitorProcess.start(['--policies', policies, '--cgroup', cg.path, '--no-tls'], 20_000, 'enforce'));
    const before = standIn.server.hits.length;
    const r = await viaAgent();
    assert.match(r.stdout, /curl=7/, `curl could not connect: ${r.stdout} ${r.stderr}`);
    assert.equal(standIn.server.hits.length, before, 'nothing arrived');
    const refused = await m.waitFor((e) => e.type === 'connect_blocked' && e.process?.comm === 'curl', "curl's refused connect");
    const d = await m.waitFor((e) => e.type === 'decision' && e.decision?.subject === refused.id, 'its decision');
    assert.deepEqual(d.decision?.reasons, ['curl run by agent agent-sim may not reach openai']);
    const direct = await run(curlArgs(), o());
    assert.equal(direct.code, 0, direct.stderr);
    assert.equal(standIn.server.hits.length, before + 1, 'the direct request arrived');
  });
});
