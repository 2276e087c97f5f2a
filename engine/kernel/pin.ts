/**
 * Where a pinned enforcement lives (`busted enforce --pin`): one bpffs
 * directory per enforced cgroup, holding the shared maps and the links of
 * the objects enforcement needs (loader.ts PINNED_OBJECTS). Removing the
 * directory (`busted unpin`) detaches and frees all of it: a pinned link or
 * map goes when its last file and descriptor do.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { BustedError, ErrorCode } from '../model/errors.js';
import type { CgroupRef } from '../host/cgroup.js';

/** The bpffs mount point, from /proc/self/mountinfo. */
export function bpffsMount(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    if (line.slice(sep + 3).split(' ')[0] !== 'bpf') continue;
    return line.slice(0, sep).split(' ')[4]?.replace(/\\040/g, ' ');
  }
  return undefined;
}

/** The pin directory of enforcement on a cgroup (whether it exists or not). */
export function pinDirFor(cg: CgroupRef): string {
  const fs = bpffsMount();
  if (!fs) throw new BustedError(ErrorCode.UNSUPPORTED, 'no bpffs is mounted: --pin needs one (mount -t bpf bpf /sys/fs/bpf)');
  return join(fs, 'busted', `cgroup-${cg.id}`);
}

export function makePinDir(cg: CgroupRef): string {
  const dir = pinDirFor(cg);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

/** What an earlier `--pin` run left attached to this cgroup (names of its files), or undefined. */
export function pinnedState(cg: CgroupRef): string[] | undefined {
  let dir: string;
  try {
    dir = pinDirFor(cg);
  } catch {
    return undefined;
  }
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir);
  return files.length ? files : undefined;
}

/** Detach and free a pinned enforcement; returns how many links and maps it had. */
export function unpin(cg: CgroupRef): { links: number; maps: number; dir: string } {
  const dir = pinDirFor(cg);
  const files = existsSync(dir) ? readdirSync(dir) : [];
  rmSync(dir, { recursive: true, force: true });
  return { links: files.filter((f) => f.startsWith('link-')).length, maps: files.filter((f) => !f.startsWith('link-')).length, dir };
}
