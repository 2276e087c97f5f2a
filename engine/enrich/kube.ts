/**
 * Kubernetes pod metadata for events: the pod UID comes from the cgroup path
 * (container.ts); its name, namespace, labels, service account and the
 * container's name and image come from the API server, through a list and
 * then a watch of the pods on this node (the protocol of client-go's
 * reflector: list, remember resourceVersion, watch from it; 410 Gone or a
 * broken stream means list again).
 *
 * In a pod (the DaemonSet in deploy/kubernetes/) the API server is found from
 * KUBERNETES_SERVICE_HOST/PORT and the service account's token and CA under
 * /var/run/secrets/kubernetes.io/serviceaccount; the token is read again for
 * every request because kubelet rotates projected tokens. NODE_NAME (from the
 * downward API) narrows the watch to this node's pods. All of it can be
 * pointed elsewhere (--kube-api, --kube-sa-dir, --kube-node) for tests and for
 * agents outside the cluster.
 */
import { readFileSync, existsSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { BustedEvent, PodInfo, ProcessInfo } from '../model/event.js';
import { BustedError, ErrorCode } from '../model/errors.js';

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface KubeConfig {
  api: URL;
  tokenPath?: string;
  caPath?: string;
  /** only this node's pods (spec.nodeName) */
  node?: string;
}

export interface PodMeta {
  uid: string;
  name: string;
  namespace: string;
  labels: Record<string, string>;
  service_account?: string;
  node?: string;
  /** container id (without the runtime:// prefix) → its name and image */
  containers: Map<string, { name: string; image?: string }>;
}

/**
 * Where the API server is, or undefined when none is configured. `required`
 * (an explicit --kube-api) turns a missing token into a usage error instead of
 * running without pod names.
 */
export function kubeConfig(o: { api?: string; saDir?: string; node?: string; required?: boolean; env?: NodeJS.ProcessEnv }): KubeConfig | undefined {
  const env = o.env ?? process.env;
  let api = o.api;
  if (!api && env.KUBERNETES_SERVICE_HOST) {
    const h = env.KUBERNETES_SERVICE_HOST;
    api = `https://${h.includes(':') ? `[${h}]` : h}:${env.KUBERNETES_SERVICE_PORT ?? '443'}`;
  }
  if (!api) return undefined;
  let url: URL;
  try {
    url = new URL(api);
  } catch {
    throw new BustedError(ErrorCode.USAGE, `--kube-api ${api}: not a URL`, 'kube-api');
  }
  const dir = o.saDir ?? SERVICE_ACCOUNT_DIR;
  const tokenPath = join(dir, 'token');
  const caPath = join(dir, 'ca.crt');
  if (!existsSync(tokenPath)) {
    if (o.required || o.saDir) throw new BustedError(ErrorCode.USAGE, `--kube-sa-dir ${dir}: no token file`, 'kube-sa-dir');
    process.stderr.write(`busted: a Kubernetes API is configured (${url.host}) but ${tokenPath} is missing: no pod names\n`);
    return undefined;
  }
  return { api: url, tokenPath, caPath: existsSync(caPath) ? caPath : undefined, node: o.node ?? env.NODE_NAME };
}

interface KubePod {
  metadata?: { uid?: string; name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string };
  spec?: { serviceAccountName?: string; nodeName?: string; containers?: Array<{ name: string; image?: string }> };
  status?: { containerStatuses?: KubeContainerStatus[]; initContainerStatuses?: KubeContainerStatus[]; ephemeralContainerStatuses?: KubeContainerStatus[] };
}

interface KubeContainerStatus {
  name: string;
  image?: string;
  containerID?: string;
}

function podMeta(p: KubePod): PodMeta | undefined {
  const m = p.metadata;
  if (!m?.uid || !m.name) return undefined;
  const containers = new Map<string, { name: string; image?: string }>();
  for (const list of [p.status?.containerStatuses, p.status?.initContainerStatuses, p.status?.ephemeralContainerStatuses]) {
    for (const c of list ?? []) {
      // "containerd://<id>", "cri-o://<id>", "docker://<id>"
      const id = c.containerID?.replace(/^[a-z-]+:\/\//, '');
      if (id) containers.set(id, { name: c.name, ...(c.image ? { image: c.image } : {}) });
    }
  }
  return {
    uid: m.uid,
    name: m.name,
    namespace: m.namespace ?? 'default',
    labels: { ...(m.labels ?? {}) },
    ...(p.spec?.serviceAccountName ? { service_account: p.spec.serviceAccountName } : {}),
    ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    containers,
  };
}

class Gone extends Error {}

export interface KubeWatcherOptions {
  /** first retry delay after a failure, ms (doubles up to 30 s) */
  retryMs?: number;
  /** how long one watch request lasts before it is renewed (server side timeoutSeconds) */
  watchSeconds?: number;
  onError?: (message: string) => void;
}

export class KubeWatcher {
  readonly pods = new Map<string, PodMeta>();
  /** bumped on every change, so that annotations made from older data are redone */
  generation = 0;
  lists = 0;
  watches = 0;
  private stopped = false;
  /** the current watch got its response (a failure after that is a broken stream) */
  private streamed = false;
  private resourceVersion = '';
  private current: { destroy(): void } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly ca: string | undefined;
  private lastError = '';
  private resolveReady!: () => void;
  /** resolves after the first complete list */
  readonly ready = new Promise<void>((r) => (this.resolveReady = r));

  constructor(
    private readonly cfg: KubeConfig,
    private readonly o: KubeWatcherOptions = {},
  ) {
    this.ca = cfg.caPath ? readFileSync(cfg.caPath, 'utf8') : undefined;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.current?.destroy();
  }

  private report(m: string): void {
    if (m === this.lastError) return;
    this.lastError = m;
    (this.o.onError ?? ((s: string) => process.stderr.write(`${s}\n`)))(`busted: kubernetes: ${m}`);
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    while (!this.stopped) {
      try {
        this.streamed = false;
        if (!this.resourceVersion) await this.list();
        attempt = 0;
        await this.watch();
      } catch (e) {
        if (this.stopped) return;
        if (e instanceof Gone) {
          this.resourceVersion = ''; // too old: list again at once
          continue;
        }
        // A watch stream that broke resumes from the last version it saw
        // (client-go's reflector does the same); a failed list starts over.
        if (!this.streamed) {
          this.report((e as Error).message);
          this.resourceVersion = '';
        }
        const delay = this.streamed ? (this.o.retryMs ?? 1000) : Math.min(30_000, (this.o.retryMs ?? 1000) * 2 ** attempt++);
        await new Promise<void>((r) => {
          this.timer = setTimeout(r, delay);
        });
      }
    }
  }

  private path(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.cfg.node) q.set('fieldSelector', `spec.nodeName=${this.cfg.node}`);
    return `/api/v1/pods?${q}`;
  }

  private get(path: string): Promise<IncomingMessage> {
    const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'busted/0.1.0' };
    if (this.cfg.tokenPath) headers.authorization = `Bearer ${readFileSync(this.cfg.tokenPath, 'utf8').trim()}`;
    const u = new URL(path, this.cfg.api);
    return new Promise((resolve, reject) => {
      const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { headers, ...(this.ca ? { ca: this.ca } : {}) });
      this.current = req;
      req.on('error', reject);
      req.on('response', (res) => {
        if (res.statusCode === 410) {
          res.resume();
          return reject(new Gone());
        }
        if (res.statusCode !== 200) {
          res.resume();
          return reject(new Error(`GET ${u.pathname}: HTTP ${res.statusCode}`));
        }
        resolve(res);
      });
      req.end();
    });
  }

  private async list(): Promise<void> {
    const fresh = new Map<string, PodMeta>();
    let cont = '';
    let rv = '';
    do {
      const res = await this.get(this.path({ limit: '500', ...(cont ? { continue: cont } : {}) }));
      let body = '';
      for await (const chunk of res) body += chunk;
      const doc = JSON.parse(body) as { metadata?: { resourceVersion?: string; continue?: string }; items?: KubePod[] };
      for (const p of doc.items ?? []) {
        const m = podMeta(p);
        if (m) fresh.set(m.uid, m);
      }
      cont = doc.metadata?.continue ?? '';
      rv = doc.metadata?.resourceVersion ?? rv;
    } while (cont);
    this.pods.clear();
    for (const [k, v] of fresh) this.pods.set(k, v);
    this.resourceVersion = rv;
    this.generation++;
    this.lists++;
    this.lastError = '';
    this.resolveReady();
  }

  private async watch(): Promise<void> {
    const res = await this.get(
      this.path({ watch: '1', resourceVersion: this.resourceVersion, allowWatchBookmarks: 'true', timeoutSeconds: String(this.o.watchSeconds ?? 300) }),
    );
    this.watches++;
    this.streamed = true;
    try {
      await this.read(res);
    } finally {
      res.destroy();
    }
    // The server ended the watch (timeoutSeconds): watch again from where it was.
  }

  private async read(res: IncomingMessage): Promise<void> {
    let buf = '';
    for await (const chunk of res) {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line) this.apply(JSON.parse(line) as { type: string; object: KubePod & { code?: number; message?: string } });
      }
    }
  }

  private apply(ev: { type: string; object: KubePod & { code?: number; message?: string } }): void {
    const o = ev.object;
    if (ev.type === 'ERROR') {
      if (o.code === 410) throw new Gone();
      throw new Error(`watch error: ${o.message ?? o.code}`);
    }
    if (o.metadata?.resourceVersion) this.resourceVersion = o.metadata.resourceVersion;
    if (ev.type === 'BOOKMARK') return;
    const m = podMeta(o);
    if (!m) return;
    if (ev.type === 'DELETED') this.pods.delete(m.uid);
    else this.pods.set(m.uid, m);
    this.generation++;
  }
}

/**
 * The annotate stage: an event of a process in a known pod gets
 * process.pod's name, namespace, labels and service account (and the
 * container's name and image). The process objects are shared between
 * events (the sinks cache their JSON), so the annotated copy is cached too.
 */
export function podAnnotator(w: KubeWatcher): (e: BustedEvent) => void {
  const done = new WeakMap<ProcessInfo, { gen: number; out: ProcessInfo }>();
  return (e) => {
    const p = e.process;
    const uid = p?.pod?.uid ?? p?.pod_uid;
    if (!p || !uid) return;
    const hit = done.get(p);
    if (hit && hit.gen === w.generation) {
      e.process = hit.out;
      return;
    }
    const meta = w.pods.get(uid);
    let out = p;
    if (meta) {
      const pod: PodInfo = { ...(p.pod ?? { uid }), uid, name: meta.name, namespace: meta.namespace, labels: meta.labels };
      if (meta.service_account) pod.service_account = meta.service_account;
      const c = p.container_id ? meta.containers.get(p.container_id) : undefined;
      if (c) {
        pod.container = c.name;
        if (c.image) pod.image = c.image;
      }
      out = Object.freeze({ ...p, pod });
    }
    done.set(p, { gen: w.generation, out });
    e.process = out;
  };
}
