/**
 * A Kubernetes API server stand-in for tests: HTTPS with the test's own CA,
 * /api/v1/pods as a paged list (one pod per page, "continue" tokens) and as a
 * watch (chunked JSON lines, replay from a resourceVersion, BOOKMARK, ERROR
 * 410 Gone after expire()), bearer-token checked.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Pki } from '../../engine/demo/pki.js';

export interface Pod {
  metadata: { uid: string; name: string; namespace: string; labels?: Record<string, string>; resourceVersion?: string };
  spec: { nodeName: string; serviceAccountName?: string };
  status?: { containerStatuses?: Array<{ name: string; image?: string; containerID?: string }> };
}

/** A pod on `node` whose one container, "main", has container id `ctr`. */
export function pod(uid: string, name: string, ns: string, labels: Record<string, string>, node = 'node-a', ctr = 'b'.repeat(64)): Pod {
  return {
    metadata: { uid, name, namespace: ns, labels },
    spec: { nodeName: node, serviceAccountName: `${name}-sa` },
    status: { containerStatuses: [{ name: 'main', image: 'registry.test/app:1.2', containerID: `containerd://${ctr}` }] },
  };
}

/** The API server stand-in: /api/v1/pods list (paged by 1) and watch. */
export class KubeApi {
  private server!: Server;
  port = 0;
  rv = 100;
  /** watches from a resourceVersion older than this get 410 Gone */
  oldest = 0;
  token = 'token-1';
  readonly pods = new Map<string, Pod>();
  readonly requests: string[] = [];
  private readonly watchers = new Set<ServerResponse>();
  /** every change, for watches that start from an older resourceVersion */
  private readonly log: Array<{ rv: number; line: string; node: string }> = [];

  constructor(private readonly pki: Pki) {}

  async start(): Promise<void> {
    this.server = createServer({ key: this.pki.keyPem, cert: this.pki.certPem }, (req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', () => r()));
    this.port = (this.server.address() as AddressInfo).port;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.destroy();
    await new Promise<void>((r) => {
      this.server.close(() => r());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const u = new URL(req.url!, 'https://x');
    this.requests.push(`${u.searchParams.get('watch') ? 'watch' : 'list'} ${u.search}`);
    if (req.headers.authorization !== `Bearer ${this.token}`) {
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', code: 401, message: 'Unauthorized' }));
      return;
    }
    if (u.pathname !== '/api/v1/pods') {
      res.writeHead(404).end();
      return;
    }
    const node = /^spec\.nodeName=(.*)$/.exec(u.searchParams.get('fieldSelector') ?? '')?.[1];
    const mine = [...this.pods.values()].filter((p) => !node || p.spec.nodeName === node);
    if (u.searchParams.get('watch')) {
      const from = Number(u.searchParams.get('resourceVersion'));
      res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
      if (from < this.oldest) {
        res.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
        return;
      }
      (res as ServerResponse & { node?: string }).node = node;
      this.watchers.add(res);
      res.on('close', () => this.watchers.delete(res));
      // what happened since the version asked for, then live changes
      for (const l of this.log) if (l.rv > from && (!node || node === l.node)) res.write(l.line);
      res.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: 'Pod', metadata: { resourceVersion: String(this.rv) } } }) + '\n');
      return;
    }
    // paged list: one pod per page, the rest behind "continue"
    const start = Number(u.searchParams.get('continue') ?? '0');
    const items = mine.slice(start, start + 1);
    const more = start + 1 < mine.length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: String(this.rv), ...(more ? { continue: String(start + 1) } : {}) }, items }));
  }

  /** A change, sent to every open watch of that pod's node. */
  change(type: 'ADDED' | 'MODIFIED' | 'DELETED', p: Pod): void {
    this.rv++;
    p.metadata.resourceVersion = String(this.rv);
    if (type === 'DELETED') this.pods.delete(p.metadata.uid);
    else this.pods.set(p.metadata.uid, p);
    const line = JSON.stringify({ type, object: { kind: 'Pod', apiVersion: 'v1', ...p } }) + '\n';
    this.log.push({ rv: this.rv, line, node: p.spec.nodeName });
    for (const w of this.watchers) {
      const node = (w as ServerResponse & { node?: string }).node;
      if (!node || node === p.spec.nodeName) w.write(line);
    }
  }

  /** etcd compacted: open watches get 410 and old versions are gone. */
  expire(): void {
    this.oldest = this.rv + 1;
    this.rv++;
    for (const w of this.watchers) w.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, message: 'too old resource version' } }) + '\n');
  }

  dropWatches(): void {
    for (const w of this.watchers) w.destroy();
  }

  get watching(): number {
    return this.watchers.size;
  }
}

