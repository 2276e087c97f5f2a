/**
 * A host far away, for what only a real round trip shows: a network
 * namespace of the test reached through a delay line. This kernel has no
 * netem (nor fq for EDT pacing), so the delay is made in user space: two
 * TUN devices, one here and one in the namespace, and a small Python relay
 * that holds each packet RTT/2 before writing it to the other device.
 * Point-to-point addresses from 10.232.0.0/16; nothing leaves the host.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { PYTHON } from '../../engine/demo/spawn.js';

/**
 * The relay: argv tun-here tun-there netns one-way-ms. Says "ready" once
 * both devices are open; ends when its stdin closes, and then removes the
 * namespace: a test runner that dies leaves nothing behind (its devices go
 * with the relay's descriptors).
 */
const RELAY = `import ctypes, fcntl, os, select, struct, subprocess, sys, time
from collections import deque
TUNSETIFF, IFF_TUN, IFF_NO_PI, CLONE_NEWNET = 0x400454ca, 0x0001, 0x1000, 0x40000000
def tun(name):
    fd = os.open('/dev/net/tun', os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TUN | IFF_NO_PI))
    os.set_blocking(fd, False)
    return fd
here = tun(sys.argv[1])
libc = ctypes.CDLL('libc.so.6', use_errno=True)
ns = os.open('/var/run/netns/' + sys.argv[3], os.O_RDONLY)
if libc.setns(ns, CLONE_NEWNET) != 0:
    raise OSError(ctypes.get_errno(), 'setns')
there = tun(sys.argv[2])
delay = float(sys.argv[4]) / 1000
queue = {here: deque(), there: deque()}
other = {here: there, there: here}
print('ready', flush=True)
while True:
    now = time.monotonic()
    wait = None
    for fd, q in queue.items():
        while q and q[0][0] <= now:
            try:
                os.write(fd, q.popleft()[1])
            except OSError:
                pass
        if q:
            wait = q[0][0] - now if wait is None else min(wait, q[0][0] - now)
    ready, _, _ = select.select([here, there, 0], [], [], wait)
    for fd in ready:
        if fd == 0:
            if not os.read(0, 64):
                subprocess.run(["ip", "netns", "del", sys.argv[3]], stderr=subprocess.DEVNULL)
                sys.exit(0)
            continue
        while True:
            try:
                pkt = os.read(fd, 65536)
            except BlockingIOError:
                break
            queue[other[fd]].append((time.monotonic() + delay, pkt))
`;

export interface FarHost {
  /** the namespace's name (ip netns exec NAME ...) */
  ns: string;
  /** this host's address on the line */
  here: string;
  /** the far host's address */
  there: string;
  /** a command run in the far host */
  exec: (argv: string[]) => string[];
  /** the relay, the devices and the namespace taken away */
  remove: () => void;
}

/** A far host RTT_MS away (round trip, as the delay line adds it; the relay's own time comes on top). */
export async function farHost(rttMs: number): Promise<FarHost> {
  const tag = `bf${process.pid % 10000}${Math.floor(Math.random() * 100)}`;
  const net = `10.232.${Math.floor(Math.random() * 250) + 1}`;
  const here = `${net}.1`;
  const there = `${net}.2`;
  const ip = (...a: string[]) => void execFileSync('ip', a, { stdio: ['ignore', 'ignore', 'pipe'] });
  ip('netns', 'add', tag);
  let relay: ChildProcess | undefined;
  const remove = () => {
    relay?.stdin?.end();
    relay?.kill('SIGKILL');
    // the devices go with their last open descriptor (the relay's), the far one with the namespace too
    try {
      ip('netns', 'del', tag);
    } catch {
      // already gone
    }
  };
  try {
    relay = spawn(PYTHON, ['-c', RELAY, `${tag}h`, `${tag}t`, tag, String(rttMs / 2)], { stdio: ['pipe', 'pipe', 'pipe'] });
    let err = '';
    relay.stderr!.on('data', (d) => (err += d));
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`the delay line did not start: ${err}`)), 10_000);
      relay!.stdout!.once('data', () => {
        clearTimeout(t);
        resolve();
      });
      relay!.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`the delay line ended (${code}): ${err}`));
      });
    });
    ip('addr', 'add', `${here}/32`, 'peer', `${there}/32`, 'dev', `${tag}h`);
    ip('link', 'set', `${tag}h`, 'up');
    const far = (...a: string[]) => ip('netns', 'exec', tag, ...a);
    far('ip', 'addr', 'add', `${there}/32`, 'peer', `${here}/32`, 'dev', `${tag}t`);
    far('ip', 'link', 'set', `${tag}t`, 'up');
    far('ip', 'link', 'set', 'lo', 'up');
  } catch (e) {
    remove();
    throw e;
  }
  return { ns: tag, here, there, exec: (argv) => ['ip', 'netns', 'exec', tag, ...argv], remove };
}
