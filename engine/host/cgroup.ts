/**
 * cgroup v2 on this host: where it is mounted, and the id and depth of a
 * cgroup directory (what the BPF programs compare against).
 */
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { BustedError, ErrorCode } from '../model/errors.js';

/** The cgroup2 mount point, from /proc/self/mountinfo (hybrid hosts mount it at /sys/fs/cgroup/unified). */
export function cgroup2Mount(mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string | undefined {
  for (const line of mountinfo.split('\n')) {
    // "36 35 0:30 / /sys/fs/cgroup rw,... - cgroup2 cgroup2 rw" (proc(5))
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const fstype = line.slice(sep + 3).split(' ')[0];
    if (fstype !== 'cgroup2') continue;
    const mountPoint = line.slice(0, sep).split(' ')[4];
    if (mountPoint) return mountPoint.replace(/\\040/g, ' ');
  }
  return undefined;
}

export interface CgroupRef {
  /** absolute directory path */
  path: string;
  /** path below the cgroup2 mount, as /proc/PID/cgroup shows it ("/" for the root) */
  name: string;
  /** kernfs id: the directory's inode number on 64-bit kernels */
  id: bigint;
  /** depth below the root (root = 0), for bpf_get_current_ancestor_cgroup_id */
  level: number;
}

/**
 * Resolve --cgroup: an absolute directory, or a path below the cgroup2
 * mount ("/busted-test" or "busted-test"). No argument: the root.
 */
export function resolveCgroup(arg?: string): CgroupRef {
  const mount = cgroup2Mount();
  if (!mount) throw new BustedError(ErrorCode.UNSUPPORTED, 'no cgroup v2 hierarchy is mounted (mount -t cgroup2 none /sys/fs/cgroup)');
  let path = mount;
  if (arg) {
    const candidates = isAbsolute(arg) ? [arg, join(mount, arg)] : [join(mount, arg), resolve(arg)];
    const found = candidates.find((p) => isCgroupDir(p));
    if (!found) throw new BustedError(ErrorCode.USAGE, `--cgroup ${arg}: not a cgroup v2 directory (looked at ${candidates.join(', ')})`, 'cgroup');
    path = resolve(found);
  }
  const rel = relative(mount, path);
  if (rel.startsWith('..')) throw new BustedError(ErrorCode.USAGE, `--cgroup ${arg}: ${path} is not below the cgroup2 mount ${mount}`, 'cgroup');
  const level = rel === '' ? 0 : rel.split('/').length;
  return { path, name: '/' + rel, id: statSync(path, { bigint: true }).ino, level };
}

function isCgroupDir(p: string): boolean {
  try {
    return statSync(join(p, 'cgroup.procs')).isFile();
  } catch {
    return false;
  }
}
