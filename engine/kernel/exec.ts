/**
 * execv(2) for the CLI's relaunch (engine/cli/relaunch.ts): replace this
 * process with a new node, same pid, same open stdio. Apart from ffi.ts
 * (which loads libbpf on import) because it runs before anything else and
 * must work where libbpf is missing.
 */
import koffi from 'koffi';

const F_SETFD = 2;
const SIGPROF = 27;
const SIG_IGN = 1;

/** Replace this process; returns only when exec failed (with its result, -1). */
export function execv(path: string, argv: string[]): number {
  const libc = koffi.load('libc.so.6');
  const fcntl = libc.func('int fcntl(int fd, int cmd, int arg)');
  const exec = libc.func('int execv(const char *path, const char **argv)');
  // libuv marks stdin, stdout and stderr close-on-exec: the new process
  // would start without them.
  for (const fd of [0, 1, 2]) fcntl(fd, F_SETFD, 0);
  // Under a CPU profiler (node --cpu-prof) a SIGPROF sent just before the exec stays pending across it,
  // and the new image, whose handler is not installed yet, would die of it (its default action). Ignored
  // now, a pending one is discarded; the ignoring survives the exec until the new profiler installs its
  // handler. (The handler is passed as an integer: SIG_IGN is 1, and a pointer travels in the same register.)
  const signal = libc.func('intptr_t signal(int sig, intptr_t handler)');
  const was = signal(SIGPROF, SIG_IGN) as number | bigint;
  const r = exec(path, [...argv, null]) as number;
  signal(SIGPROF, was);
  return r;
}
