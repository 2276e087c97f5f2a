// Pushing a held sender's socket from outside its process
// (engine/kernel/push.ts), against the real kernel: a python3 process
// holds a TCP connection; the socket is found by sock_diag, /proc/PID/fd and
// its cookie, and pushed, its TCP_NODELAY and TCP_CORK left as the process
// had them. (That
// the push sends what a held segment left in the queue is shown end to end
// in test/e2e/enforce.test.ts, with the server behind a delay line.)
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createInterface } from 'node:readline';
import { PYTHON } from '../../engine/demo/spawn.js';
import { holdPushable, pushSender, senderOf } from '../../engine/kernel/push.js';

const root = process.getuid?.() === 0 ? undefined : 'needs root (pidfd_getfd of another process: CAP_SYS_PTRACE; sock_diag)';

/** IP and TCP headers of a segment from LOCAL:LPORT to REMOTE:RPORT, as the packet hook reports them. */
function headers(local: number[], lport: number, remote: number[], rport: number): Uint8Array {
  const v4 = local.length === 4;
  const ip = v4 ? 20 : 40;
  const h = new Uint8Array(ip + 20);
  const dv = new DataView(h.buffer);
  h[0] = v4 ? 0x45 : 0x60;
  if (v4) {
    h[9] = 6;
    h.set(local, 12);
    h.set(remote, 16);
  } else {
    h[6] = 6;
    h.set(local, 8);
    h.set(remote, 24);
  }
  dv.setUint16(ip, lport);
  dv.setUint16(ip + 2, rport);
  h[ip + 12] = 5 << 4;
  return h;
}

/**
 * A python3 process connected to PORT on HOST (TCP_NODELAY and TCP_CORK as
 * OPTS says; port 0: to a server of its own): prints its socket's cookie
 * and ports, then on each line read prints the socket's TCP_NODELAY and
 * TCP_CORK.
 */
const CLIENT = `import socket, struct, sys
host, port, nodelay, cork = sys.argv[1], int(sys.argv[2]), int(sys.argv[3][0]), int(sys.argv[3][1])
if port == 0:
    srv = socket.create_server((host, 0))
    port = srv.getsockname()[1]
s = socket.create_connection((host, port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, nodelay)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, cork)
cookie = struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, 57, 8))[0]
print(cookie, s.getsockname()[1], port, flush=True)
for line in sys.stdin:
    print("%d%d" % (s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), s.getsockopt(socket.IPPROTO_TCP, socket.TCP_CORK)), flush=True)
`;

/** OPTS: TCP_NODELAY and TCP_CORK, '00' to '11'; NETNS: the client in a network namespace of its own (as a container's), connected to its own server there. */
async function withClient(host: string, opts: string, body: (c: { pid: number; cookie: bigint; port: number; serverPort: number; options: () => Promise<string> }) => void | Promise<void>, netns = false): Promise<void> {
  const server = net.createServer((s) => s.resume());
  await new Promise<void>((r) => server.listen(0, host, r));
  const child = netns
    ? spawn('unshare', ['-n', 'sh', '-c', 'ip link set lo up && exec "$0" "$@"', PYTHON, '-c', CLIENT, host, '0', opts], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(PYTHON, ['-c', CLIENT, host, String((server.address() as net.AddressInfo).port), opts], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  try {
    const [cookie, port, serverPort] = ((await lines.next()).value as string).split(' ');
    const options = async () => {
      child.stdin!.write('\n');
      return (await lines.next()).value as string;
    };
    await body({ pid: child.pid!, cookie: BigInt(cookie!), port: Number(port), serverPort: Number(serverPort), options });
  } finally {
    child.kill();
    server.close();
  }
}

describe('push (a held sender moved on from the agent)', { skip: root }, () => {
  it('the agent can push here (root: CAP_SYS_PTRACE, pidfd_getfd)', () => {
    assert.equal(holdPushable(), true);
  });

  it('names the sending socket from a held segment\'s headers, IPv4 and IPv6', () => {
    const v4 = senderOf(headers([127, 0, 0, 1], 40000, [10, 1, 2, 3], 443), 7n)!;
    assert.deepEqual([v4.family, [...v4.local], v4.localPort, [...v4.remote], v4.remotePort, v4.cookie], [4, [127, 0, 0, 1], 40000, [10, 1, 2, 3], 443, 7n]);
    const six = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
    const v6 = senderOf(headers(six, 40001, six, 8443), 8n)!;
    assert.deepEqual([v6.family, v6.localPort, v6.remotePort, [...v6.remote]], [6, 40001, 8443, six]);
    assert.equal(senderOf(new Uint8Array(10), 1n), undefined, 'too short for its ports');
  });

  it('finds another process\'s socket by its cookie and pushes it, its TCP_NODELAY and TCP_CORK left as they were (IPv4 and IPv6; neither, each, both)', async () => {
    for (const [host, addr] of [
      ['127.0.0.1', [127, 0, 0, 1]],
      ['::1', [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]],
    ] as const) {
      for (const opts of ['00', '10', '01', '11']) {
        await withClient(host, opts, async (c) => {
          const h = headers([...addr], c.port, [...addr], c.serverPort);
          assert.equal(pushSender(c.pid, c.cookie, h), true, `${host}, TCP_NODELAY and TCP_CORK ${opts}`);
          assert.equal(await c.options(), opts, `${host}: TCP_NODELAY and TCP_CORK as the process had them`);
          // the second time, from the descriptor number kept
          assert.equal(pushSender(c.pid, c.cookie, h), true);
          assert.equal(await c.options(), opts);
        });
      }
    }
  });

  it('a process in another network namespace (a container\'s): its socket found by asking each socket descriptor\'s cookie (sock_diag here cannot see it)', async () => {
    await withClient(
      '127.0.0.1',
      '00',
      async (c) => {
        const h = headers([127, 0, 0, 1], c.port, [127, 0, 0, 1], c.serverPort);
        assert.equal(pushSender(c.pid, c.cookie, h), true);
        assert.equal(await c.options(), '00');
        const other = pushSender(c.pid, c.cookie + 1000n, h);
        assert.ok(other !== true && !other.gone && /no socket of cookie \d+ open in pid \d+ \(another network namespace\)/.test(other.why), JSON.stringify(other));
      },
      true,
    );
  });

  it('says why not, never pushes another socket: a cookie of no socket (gone), a process without it, a process gone', async () => {
    await withClient('127.0.0.1', '00', async (c) => {
      const h = headers([127, 0, 0, 1], c.port, [127, 0, 0, 1], c.serverPort);
      // the same addresses with another cookie (a later socket reusing them): sock_diag says none, the socket is gone
      assert.deepEqual(pushSender(c.pid, c.cookie + 1000n, h), { gone: true, why: 'no such socket any more' });
      // the socket, asked of a process that does not have it open (this one)
      const notHere = pushSender(process.pid, c.cookie, h);
      assert.ok(notHere !== true && !notHere.gone && /not open in pid/.test(notHere.why), JSON.stringify(notHere));
      assert.equal(await c.options(), '00', 'left as it was');
    });
    const gone = pushSender(0x3fffffff, 1n, headers([127, 0, 0, 1], 1, [127, 0, 0, 1], 2));
    assert.ok(gone !== true && !gone.gone && /pidfd_open\(\d+\): errno 3/.test(gone.why), JSON.stringify(gone));
  });
});
