/**
 * Running real clients for the demo and the tests: optionally inside a
 * given cgroup, optionally in a private mount namespace whose
 * /etc/resolv.conf (and /etc/hosts) point at our own resolver — the
 * machine's files are never edited.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';

export interface RunOptions {
  /** cgroup directory to join before exec */
  cgroup?: string;
  /** files to bind over /etc/resolv.conf and /etc/hosts in a private mount namespace */
  resolvConf?: string;
  hosts?: string;
  env?: NodeJS.ProcessEnv;
  input?: string;
  timeoutMs?: number;
}

export interface RunResult {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** The wrapper: join the cgroup, bind the files, exec the command (keeping its pid). */
function wrap(cmd: string[], o: RunOptions): string[] {
  const steps: string[] = [];
  if (o.resolvConf) steps.push(`mount --bind "$BUSTED_RESOLV" /etc/resolv.conf`);
  if (o.hosts) steps.push(`mount --bind "$BUSTED_HOSTS" /etc/hosts`);
  if (o.cgroup) steps.push(`echo $$ > "$BUSTED_CGROUP/cgroup.procs"`);
  steps.push('exec "$@"');
  const script = steps.join(' && ');
  const sh = ['sh', '-c', script, 'sh', ...cmd];
  // unshare -m makes a private mount namespace; propagation private so the
  // bind mounts never reach the host's namespace.
  return o.resolvConf || o.hosts ? ['unshare', '-m', '--propagation', 'private', ...sh] : sh;
}

export function start(cmd: string[], o: RunOptions = {}): ChildProcess {
  const argv = wrap(cmd, o);
  return spawn(argv[0]!, argv.slice(1), {
    env: {
      ...process.env,
      ...o.env,
      BUSTED_CGROUP: o.cgroup ?? '',
      BUSTED_RESOLV: o.resolvConf ?? '',
      BUSTED_HOSTS: o.hosts ?? '',
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function run(cmd: string[], o: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = start(cmd, o);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d) => (stdout += d));
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 20_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ pid: child.pid!, code, signal, stdout, stderr });
    });
    // A child may exit before reading its input: that is not our error.
    child.stdin!.on('error', () => {});
    child.stdin!.end(o.input ?? '');
  });
}

/** The python3 that has the standard library and nothing odd (Debian's, when present). */
export const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => !p.startsWith('/') || existsSyncSafe(p)) ?? 'python3';

function existsSyncSafe(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
