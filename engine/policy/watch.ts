/**
 * A policy source that changes under the agent (CONTRACT.md: "Policies are
 * hot-reloaded when their files change; a policy that fails to compile is
 * reported and the last good one stays in force"):
 *
 * - a directory of Rego (or an unpacked bundle), or a bundle file: watched
 *   with chokidar. A burst of changes (a `git pull`, an editor's
 *   write-to-temp-then-rename) is one rebuild: a build is handed on only
 *   once the files have been quiet for a moment (`debounceMs`) and still
 *   read as they did when it was built (the snapshot's digest,
 *   source.ts). It is built as soon as the changes settle, while that quiet
 *   time runs, so a single edit costs the compile and not the compile plus
 *   the wait; a build that the files no longer match is thrown away and
 *   made again. A rebuild that yields the same revision is no change.
 * - an http(s):// bundle URL: polled with If-None-Match, as OPA's bundle
 *   service does (a 304 is no change).
 *
 * Builds are handed to `onBuild`; failures to `onError` with the message the
 * compiler gave (file:row:col for Rego), and nothing else happens: whoever
 * holds the last good build keeps it.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { readFileSync, statSync } from 'node:fs';
import { relative } from 'node:path';
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'chokidar';

import { BustedError, ErrorCode } from '../model/errors.js';
import { readBundleArchive } from './bundle.js';
import { buildSnapshot, readPolicySource, type PolicyBuild } from './source.js';

export interface PolicySourceOptions {
  /** how long the files must have been quiet before a rebuild is handed on, ms (default 25) */
  debounceMs?: number;
  /** URL sources: seconds between polls (default 30) */
  pollSeconds?: number;
  /** URL sources: a CA bundle (PEM) to trust for https */
  caFile?: string;
  /** URL sources: extra request headers (e.g. Authorization) */
  headers?: Record<string, string>;
}

export function isUrl(src: string): boolean {
  return /^https?:\/\//i.test(src);
}

export class PolicySource {
  private watcher: FSWatcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending = new Set<string>();
  private etag: string | undefined;
  private revision: string | undefined;
  /** the digest of the files whose build (or compile error) was handed on last */
  private digest: string | undefined;
  private closed = false;
  private building = false;
  private again = false;

  constructor(
    readonly src: string,
    private readonly o: PolicySourceOptions = {},
  ) {}

  /** The first build (throws what the compiler or the server said). */
  async load(): Promise<PolicyBuild> {
    let b: PolicyBuild | undefined;
    if (isUrl(this.src)) {
      b = await this.fetchBundle(true);
    } else {
      const snap = readPolicySource(this.src);
      b = buildSnapshot(snap);
      this.digest = snap.digest;
    }
    if (!b) throw new BustedError(ErrorCode.POLICY, `${this.src}: the server sent no bundle`, 'policies');
    this.revision = b.revision;
    return b;
  }

  /** Follow the source; every new revision goes to onBuild, every failure to onError. */
  follow(onBuild: (b: PolicyBuild, changed: string[]) => void | Promise<void>, onError: (e: Error) => void): void {
    if (isUrl(this.src)) {
      this.timer = setInterval(() => void this.once(() => this.poll(onBuild, onError)), (this.o.pollSeconds ?? 30) * 1000);
      this.timer.unref();
      return;
    }
    const root = statSync(this.src).isDirectory() ? this.src : undefined;
    this.watcher = watch(this.src, {
      ignoreInitial: true,
      // .git, editor swap and backup files: never policy
      ignored: (p: string) => /(^|\/)(\.git|node_modules)(\/|$)|\.sw[px]$|~$/.test(p),
    });
    const changed = (path: string) => {
      this.pending.add(root ? relative(root, path) || path : path);
      this.lastChange = performance.now();
      clearTimeout(this.settle);
      this.settle = setTimeout(() => void this.once(() => this.rebuild(onBuild, onError)), Math.min(SETTLE_MS, this.quietMs));
    };
    this.watcher.on('add', changed).on('change', changed).on('unlink', changed).on('addDir', changed).on('unlinkDir', changed);
    this.watcher.on('error', (e) => onError(e as Error));
  }

  /** the time of the last change seen (performance.now()) */
  private lastChange = 0;
  /** a build's start, once the changes settle (SETTLE_MS) */
  private settle: NodeJS.Timeout | undefined;

  private get quietMs(): number {
    return this.o.debounceMs ?? 25;
  }

  /** Runs WORK unless one is running; then once more after it, for what came in meanwhile. */
  private async once(work: () => Promise<void>): Promise<void> {
    if (this.building) {
      this.again = true;
      return;
    }
    this.building = true;
    try {
      await work();
    } finally {
      this.building = false;
      if (this.again && !this.closed) {
        this.again = false;
        void this.once(work);
      }
    }
  }

  /**
   * Build the files as they are now; hand the build (or its error) on once
   * they have been quiet for debounceMs and still read the same. Files that
   * read as the last build handed on are no change, and are not compiled.
   */
  private async rebuild(onBuild: (b: PolicyBuild, changed: string[]) => void | Promise<void>, onError: (e: Error) => void): Promise<void> {
    for (;;) {
      const { digest, build, error } = this.attempt();
      if (digest === this.digest) return;
      await this.quiet();
      if (this.closed) return;
      // changed while it was built or while it waited: build it again
      if (this.attempt(false).digest !== digest) continue;
      this.digest = digest;
      const changed = [...this.pending].sort();
      this.pending.clear();
      if (error) {
        onError(error);
      } else if (build!.revision !== this.revision) {
        this.revision = build!.revision;
        try {
          await onBuild(build!, changed);
        } catch (e) {
          if (!this.closed) onError(e as Error);
        }
      }
      return;
    }
  }

  /**
   * The source read now (and built, unless BUILD is false): its digest,
   * `unreadable: ...` when it cannot be read, and its build or the error
   * that stopped it.
   */
  private attempt(build = true): { digest: string; build?: PolicyBuild; error?: Error } {
    let snap;
    try {
      snap = readPolicySource(this.src);
    } catch (e) {
      return { digest: `unreadable: ${(e as Error).message}`, error: e as Error };
    }
    if (!build || snap.digest === this.digest) return { digest: snap.digest };
    try {
      return { digest: snap.digest, build: buildSnapshot(snap) };
    } catch (e) {
      return { digest: snap.digest, error: e as Error };
    }
  }

  /** Resolves when no change has been seen for debounceMs (changes that came in during a compile seen first). */
  private async quiet(): Promise<void> {
    await new Promise((r) => setImmediate(r));
    for (;;) {
      const wait = this.lastChange + this.quietMs - performance.now();
      if (wait <= 0 || this.closed) return;
      await new Promise((r) => setTimeout(r, Math.ceil(wait)));
    }
  }

  private async poll(onBuild: (b: PolicyBuild, changed: string[]) => void | Promise<void>, onError: (e: Error) => void): Promise<void> {
    try {
      const b = await this.fetchBundle(false);
      if (b && b.revision !== this.revision && !this.closed) {
        this.revision = b.revision;
        await onBuild(b, []);
      }
    } catch (e) {
      if (!this.closed) onError(e as Error);
    }
  }

  /** Resolves when the watcher is watching (tests write files after this). */
  ready(): Promise<void> {
    const w = this.watcher;
    return w ? new Promise((r) => w.once('ready', () => r())) : Promise.resolve();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.settle);
    await this.watcher?.close();
  }

  /** GET the bundle; undefined when the server says it has not changed (304). */
  private async fetchBundle(first: boolean): Promise<PolicyBuild | undefined> {
    const headers: Record<string, string> = { ...this.o.headers };
    if (!first && this.etag) headers['if-none-match'] = this.etag;
    const { status, body, etag } = await get(this.src, headers, this.o.caFile ? readFileSync(this.o.caFile) : undefined);
    if (status === 304) return undefined;
    if (status !== 200) throw new BustedError(ErrorCode.POLICY, `${this.src}: HTTP ${status}`, 'policies');
    const b = readBundleArchive(body, this.src);
    this.etag = etag;
    const revision = b.revision || `sha256:${createHash('sha256').update(body).digest('hex').slice(0, 16)}`;
    return { kind: 'bundle', wasm: b.wasm, data: b.data, revision, files: b.files };
  }
}

const MAX_BUNDLE = 64 << 20;

/**
 * How long changes must pause before a build starts, ms: the files of one
 * `git checkout` or of an editor's rename arrive within it. Less than the
 * quiet time that a build waits for before it is handed on.
 */
const SETTLE_MS = 5;

function get(url: string, headers: Record<string, string>, ca: Buffer | undefined): Promise<{ status: number; body: Buffer; etag?: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = (u.protocol === 'https:' ? httpsRequest : httpRequest)(u, { headers, ...(ca ? { ca } : {}), timeout: 10_000 }, (res) => {
      const parts: Buffer[] = [];
      let size = 0;
      res.on('data', (d: Buffer) => {
        size += d.length;
        if (size > MAX_BUNDLE) {
          req.destroy(new Error(`bundle larger than ${MAX_BUNDLE} bytes`));
          return;
        }
        parts.push(d);
      });
      res.on('end', () => {
        const etag = res.headers.etag;
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(parts), ...(etag ? { etag } : {}) });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timed out after 10 s')));
    req.on('error', (e) => reject(new BustedError(ErrorCode.POLICY, `${url}: ${e.message}`, 'policies')));
    req.end();
  });
}
