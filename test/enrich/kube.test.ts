/**
 * Pod metadata from a Kubernetes API server: a local HTTPS stand-in with its
 * own CA speaking the list + watch JSON protocol (paged lists, chunked watch
 * streams, BOOKMARK, ERROR 410 Gone, dropped streams, a rotated token), and
 * the annotate stage putting name, namespace, labels, service account and
 * container name on events — which a Rego policy then decides on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BustedEvent, ProcessInfo } from '../../engine/model/event.js';
import { makePki, type Pki } from '../../engine/demo/pki.js';
import { KubeWatcher, kubeConfig, podAnnotator } from '../../engine/enrich/kube.js';
import { containerFromCgroupPath } from '../../engine/enrich/container.js';
import { PolicyEngine } from '../../engine/policy/engine.js';
import { KubeApi, pod } from '../helpers/kube-api.js';

const UID_A = '0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0';
const UID_B = '11111111-2222-3333-4444-555555555555';
const UID_C = '99999999-8888-7777-6666-555555555555';
const CTR = 'a'.repeat(64);

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A process in pod UID's container, as the process cache makes it from a kubepods cgroup path. */
function procIn(uid: string, ctr: string): ProcessInfo {
  const path = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice/cri-containerd-${ctr}.scope`;
  const c = containerFromCgroupPath(path);
  return Object.freeze({ pid: 77, comm: 'python3', cgroup_path: path, container_id: c.container_id, container_runtime: c.container_runtime, pod_uid: c.pod_uid, pod: { uid: c.pod_uid!, qos_class: c.qos_class } });
}

describe('Kubernetes pod watch', () => {
  let pki: Pki;
  let api: KubeApi;
  let sa: string;
  let w: KubeWatcher;
  const errors: string[] = [];

  before(async () => {
    pki = makePki(['kubernetes.default.svc']);
    api = new KubeApi(pki);
    api.pods.set(UID_A, pod(UID_A, 'chatbot-7d9f', 'prod', { app: 'chatbot', team: 'ml' }, 'node-a', CTR));
    api.pods.set(UID_B, pod(UID_B, 'batch-1', 'jobs', { app: 'batch' }));
    api.pods.set(UID_C, pod(UID_C, 'elsewhere', 'prod', {}, 'node-b'));
    await api.start();
    sa = mkdtempSync(join(tmpdir(), 'busted-sa-'));
    writeFileSync(join(sa, 'token'), 'token-1\n');
    writeFileSync(join(sa, 'ca.crt'), pki.caPem);
    // in-cluster discovery, with the paths pointed at the test's own files
    const cfg = kubeConfig({ saDir: sa, env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(api.port), NODE_NAME: 'node-a' } });
    assert.ok(cfg);
    assert.equal(cfg.api.href, `https://127.0.0.1:${api.port}/`);
    w = new KubeWatcher(cfg, { retryMs: 20, onError: (m) => errors.push(m) });
    w.start();
    await w.ready;
  });

  after(async () => {
    w?.stop();
    await api?.stop();
    rmSync(pki.dir, { recursive: true, force: true });
    rmSync(sa, { recursive: true, force: true });
  });

  it('lists this node’s pods (paged) and annotates events of their processes', async () => {
    assert.deepEqual([...w.pods.keys()].sort(), [UID_A, UID_B].sort());
    assert.ok(api.requests[0]!.includes('fieldSelector=spec.nodeName%3Dnode-a'));
    assert.ok(api.requests.some((r) => r.includes('continue=1')), 'the second page was asked for');
    const annotate = podAnnotator(w);
    const p = procIn(UID_A, CTR);
    const e: BustedEvent = { id: 'e1', time: 't', type: 'connect', process: p };
    annotate(e);
    assert.deepEqual(e.process!.pod, {
      uid: UID_A,
      qos_class: 'burstable',
      name: 'chatbot-7d9f',
      namespace: 'prod',
      labels: { app: 'chatbot', team: 'ml' },
      service_account: 'chatbot-7d9f-sa',
      container: 'main',
      image: 'registry.test/app:1.2',
    });
    assert.equal(e.process!.container_id, CTR);
    assert.ok(Object.isFrozen(e.process));
    // the same process object again: the same annotated object (sinks cache its JSON)
    const e2: BustedEvent = { id: 'e2', time: 't', type: 'close', process: p };
    annotate(e2);
    assert.equal(e2.process, e.process);
  });

  it('follows ADDED, MODIFIED and DELETED from the watch', async () => {
    await until(() => api.watching === 1, 'a watch');
    const annotate = podAnnotator(w);
    const uid = '12345678-1234-1234-1234-123456789abc';
    const p = procIn(uid, 'b'.repeat(64));
    const name = (): string | undefined => {
      const e: BustedEvent = { id: 'x', time: 't', type: 'connect', process: p };
      annotate(e);
      return e.process!.pod?.name;
    };
    assert.equal(name(), undefined, 'unknown pod: only what the cgroup says');
    api.change('ADDED', pod(uid, 'new-pod', 'dev', { v: '1' }));
    await until(() => name() === 'new-pod', 'the added pod');
    api.change('MODIFIED', pod(uid, 'new-pod', 'dev', { v: '2' }));
    await until(() => w.pods.get(uid)?.labels.v === '2', 'the new labels');
    const e: BustedEvent = { id: 'y', time: 't', type: 'connect', process: p };
    annotate(e);
    assert.equal(e.process!.pod!.labels!.v, '2', 'a change redoes the annotation');
    api.change('ADDED', pod('abcdefab-1234-1234-1234-123456789abc', 'other-node', 'dev', {}, 'node-b'));
    api.change('DELETED', pod(uid, 'new-pod', 'dev', { v: '2' }));
    await until(() => !w.pods.has(uid), 'the deletion');
    assert.ok(!w.pods.has('abcdefab-1234-1234-1234-123456789abc'), "another node's pod is not watched");
  });

  it('lists again after 410 Gone, and watches again after a dropped stream', async () => {
    const lists = w.lists;
    const watches = w.watches;
    api.expire();
    await until(() => w.lists === lists + 1 && api.watching === 1, 'a new list and watch after 410');
    api.dropWatches();
    await until(() => w.watches >= watches + 2 && api.watching === 1, 'a new watch after the drop');
    assert.equal(w.lists, lists + 1, 'a dropped stream resumes from its resourceVersion without a list');
    const last = api.requests.at(-1)!;
    assert.match(last, /^watch .*resourceVersion=\d+/);
  });

  it('reads the rotated token for the next request', async () => {
    api.token = 'token-2';
    writeFileSync(join(sa, 'token'), 'token-2\n');
    api.dropWatches();
    api.change('ADDED', pod('00000000-0000-0000-0000-00000000000f', 'after-rotation', 'dev', {}));
    await until(() => w.pods.has('00000000-0000-0000-0000-00000000000f'), 'the pod seen with the new token');
    assert.ok(!errors.some((m) => m.includes('token-')), 'tokens never appear in messages');
  });

  it('puts pod metadata where policies see it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'busted-kube-policy-'));
    mkdirSync(join(dir, 'p'));
    writeFileSync(
      join(dir, 'p', 'pods.rego'),
      `package busted

decision := "block" if {
  input.process.pod.namespace == "prod"
  input.process.pod.labels.team == "ml"
  input.provider == "openai"
}

reasons contains msg if {
  decision == "block"
  msg := sprintf("pod %s/%s may not call %s", [input.process.pod.namespace, input.process.pod.name, input.provider])
}
`,
    );
    const engine = await PolicyEngine.load(join(dir, 'p'));
    const annotate = podAnnotator(w);
    const e: BustedEvent = { id: 'z', time: 't', type: 'connect', provider: 'openai', process: procIn(UID_A, CTR) };
    assert.equal(engine.decide(e).action, 'allow', 'without pod names the policy cannot tell');
    annotate(e);
    const v = engine.decide(e);
    assert.equal(v.action, 'block');
    assert.deepEqual(v.reasons, ['pod prod/chatbot-7d9f may not call openai']);
    rmSync(dir, { recursive: true, force: true });
  });

  it('reports a server its CA did not sign, and keeps trying', async () => {
    const other = makePki(['x.test']);
    const sa2 = mkdtempSync(join(tmpdir(), 'busted-sa-'));
    writeFileSync(join(sa2, 'token'), 'token-2');
    writeFileSync(join(sa2, 'ca.crt'), other.caPem);
    const msgs: string[] = [];
    const bad = new KubeWatcher(kubeConfig({ api: `https://127.0.0.1:${api.port}`, saDir: sa2 })!, { retryMs: 20, onError: (m) => msgs.push(m) });
    bad.start();
    await until(() => msgs.length > 0, 'an error');
    assert.match(msgs[0]!, /^busted: kubernetes: .*(self.signed|unable to verify|SELF_SIGNED)/i);
    bad.stop();
    rmSync(other.dir, { recursive: true, force: true });
    rmSync(sa2, { recursive: true, force: true });
  });

  it('needs a token file when the API is named explicitly', () => {
    assert.equal(kubeConfig({ env: {} }), undefined, 'no API configured: no watch');
    assert.throws(() => kubeConfig({ api: 'https://127.0.0.1:1', saDir: '/nonexistent', env: {} }), /--kube-sa-dir \/nonexistent: no token file/);
  });
});
