/**
 * A cgroup v2 directory of the test's own, so that every BPF attachment a
 * test makes is scoped to processes the test started, and nothing else on
 * the machine is touched. Removed (after its processes are gone) by dispose().
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { cgroup2Mount } from '../../engine/host/cgroup.js';

export class TestCgroup {
  readonly path: string;
  constructor(name = `busted-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`) {
    const mount = cgroup2Mount();
    if (!mount) throw new Error('no cgroup v2 mount');
    this.path = join(mount, name);
    mkdirSync(this.path);
  }

  pids(): number[] {
    try {
      return readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  }

  /** Kill what is left in it, then remove it. */
  async dispose(): Promise<void> {
    if (!existsSync(this.path)) return;
    for (let i = 0; i < 50; i++) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const p of pids) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {}
      }
      await new Promise((r) => setTimeout(r, 20));
    }
    try {
      rmdirSync(this.path);
    } catch (e) {
      process.stderr.write(`warning: could not remove ${this.path}: ${(e as Error).message}\n`);
    }
  }
}

/** Why a test that needs the kernel cannot run here, or undefined when it can. */
export function kernelSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to load BPF programs';
  if (!existsSync('/sys/kernel/btf/vmlinux')) return 'needs a kernel with BTF (/sys/kernel/btf/vmlinux)';
  if (!cgroup2Mount()) return 'needs a cgroup v2 mount';
  return undefined;
}
