/**
 * SHA-256 of the executables processes run (`process.exe_sha256`): an
 * identity a policy can pin that no rename, copy or process name fakes
 * (Tetragon's binary hash, the Rust busted's identity anchoring).
 *
 * A file is hashed once per version: results are kept by the file's
 * identity as the kernel gives it at exec (device, inode, and inode change
 * time, which every write moves on; bpf/busted.h busted_exe_key), so the
 * thousandth exec of /usr/bin/curl costs a map lookup. A file new to the
 * agent is read in a worker thread (a 100 MB node binary takes a quarter
 * of a second; the event loop does not wait), through /proc/PID/exe: the
 * very file the process runs, even when its path now names another (the
 * kernel refuses writes to a file being executed, so it cannot change
 * while it is read). A process gone before that is hashed by its path,
 * only when the file there is still the one it ran (same identity).
 */
import { statSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import type { ExeKey } from '../decode/records.js';

/** files' hashes kept (the oldest go first) */
const MAX_KNOWN = 16384;

/** The worker: hashes the file at a path if it is still the one named by dev/ino/ctime (else answers null). */
const worker = (): string => `
const { parentPort } = require('node:worker_threads');
const { openSync, readSync, fstatSync, closeSync } = require('node:fs');
const { createHash } = require('node:crypto');
const buf = Buffer.allocUnsafe(1 << 20);
const kdev = ${kernelDev.toString()};
parentPort.on('message', ({ id, paths, dev, ino, ctime }) => {
  for (const path of paths) {
    let fd;
    try {
      fd = openSync(path, 'r');
      const st = fstatSync(fd, { bigint: true });
      if (kdev(st.dev) !== dev || st.ino !== BigInt(ino) || st.ctimeNs !== BigInt(ctime) || !st.isFile()) continue;
      const h = createHash('sha256');
      for (let n; (n = readSync(fd, buf, 0, buf.length, null)) > 0; ) h.update(buf.subarray(0, n));
      parentPort.postMessage({ id, hash: h.digest('hex') });
      return;
    } catch {
      // gone, or not readable: the next path
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }
  parentPort.postMessage({ id, hash: null });
});
`;

/** The kernel's device number (major << 20 | minor) from stat's (glibc's encoding). */
export function kernelDev(d: number | bigint): number {
  const n = Number(d);
  const major = Math.floor(n / 256) & 0xfff;
  const minor = (n & 0xff) | (Math.floor(n / 4096) & 0xfff00);
  return major * 1048576 + minor;
}

/** The cache's key of a file. */
export function exeId(k: ExeKey): string {
  return `${k.dev}:${k.ino}:${k.ctimeNs}`;
}

/** The identity of the file at PATH (a process's /proc/PID/exe), as the kernel would give it at exec. */
export function exeKeyOf(path: string): ExeKey | undefined {
  try {
    const st = statSync(path, { bigint: true });
    if (!st.isFile()) return undefined;
    return { dev: kernelDev(st.dev), ino: st.ino, ctimeNs: st.ctimeNs };
  } catch {
    return undefined;
  }
}

export class ExeHasher {
  private readonly known = new Map<string, string>();
  private readonly pending = new Map<string, Promise<string | undefined>>();
  private readonly waiting = new Map<number, (hash: string | undefined) => void>();
  private worker: Worker | undefined;
  private seq = 0;
  /** files hashed, and files that could not be read */
  readonly stats = { hashed: 0, failed: 0 };

  /** The hash of file K when it is known (undefined: not hashed yet, or it could not be read). */
  get(k: ExeKey): string | undefined {
    return this.known.get(exeId(k));
  }

  /**
   * The hash of file K, read from the first of PATHS that is still that
   * file: at once when known, else when the worker has read it (undefined
   * when none could be read).
   */
  hash(k: ExeKey, paths: string[]): Promise<string | undefined> {
    const id = exeId(k);
    const had = this.known.get(id);
    if (had !== undefined) return Promise.resolve(had);
    const p = this.pending.get(id);
    if (p) return p;
    const q = new Promise<string | undefined>((resolve) => {
      const n = ++this.seq;
      this.waiting.set(n, resolve);
      this.ensureWorker().postMessage({ id: n, paths, dev: k.dev, ino: k.ino.toString(), ctime: k.ctimeNs.toString() });
    }).then((hash) => {
      this.pending.delete(id);
      if (this.known.size >= MAX_KNOWN) this.known.delete(this.known.keys().next().value!);
      // a file that could not be read is tried again at its next exec (it may be readable then)
      if (hash !== undefined) {
        this.known.set(id, hash);
        this.stats.hashed++;
      } else this.stats.failed++;
      return hash;
    });
    this.pending.set(id, q);
    return q;
  }

  /** Start the worker now, so that the first file to hash does not wait for it to start. */
  warm(): void {
    this.ensureWorker();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(worker(), { eval: true });
    w.unref();
    w.on('message', (m: { id: number; hash: string | null }) => {
      const done = this.waiting.get(m.id);
      this.waiting.delete(m.id);
      done?.(m.hash ?? undefined);
    });
    w.on('error', () => this.failAll());
    w.on('exit', () => {
      this.worker = undefined;
      this.failAll();
    });
    return (this.worker = w);
  }

  /** The worker died: every call waiting for it is answered (undefined), the next starts another. */
  private failAll(): void {
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
    this.failAll();
  }
}
