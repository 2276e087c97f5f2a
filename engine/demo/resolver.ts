/**
 * A real resolver (Debian's dnsmasq) on a loopback address of its own, answering provider names with loopback addresses. Clients
 * reach it through a private /etc/resolv.conf (see run.ts), which only
 * takes an address, so it listens on port 53 of an address in 127.0.0.0/8
 * that nothing else uses.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Resolver {
  address: string;
  resolvConf: string;
  stop(): Promise<void>;
}

/** records: name → addresses (A and AAAA by their form). */
export async function startDnsmasq(records: Record<string, string[]>): Promise<Resolver> {
  const address = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
  const dir = mkdtempSync(join(tmpdir(), 'busted-dns-'));
  const resolvConf = join(dir, 'resolv.conf');
  writeFileSync(resolvConf, `nameserver ${address}\noptions timeout:2 attempts:2\n`);
  const args = ['--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--listen-address=${address}`, '--bind-interfaces', '--port=53', '--pid-file=', '--user=root', '--local-ttl=300', '--log-facility=-'];
  for (const [name, addrs] of Object.entries(records)) for (const a of addrs) args.push(`--host-record=${name},${a}`);
  const child: ChildProcess = spawn('/usr/sbin/dnsmasq', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  // dnsmasq goes when we go, even when we end before stop() runs. (A
  // parent-death signal would not do: dnsmasq changes its credentials,
  // which clears it.)
  const onExit = () => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  // Ready when it answers.
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`dnsmasq exited: ${err}`);
    if (await answers(address)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`dnsmasq did not answer on ${address}:53: ${err}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    address,
    resolvConf,
    stop: () =>
      new Promise<void>((resolve) => {
        process.removeListener('exit', onExit);
        rmSync(dir, { recursive: true, force: true });
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

function answers(address: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    // A query for "." type NS: any answer (even REFUSED) means it is up.
    const q = Buffer.from([0xbe, 0xef, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]);
    const t = setTimeout(() => {
      s.close();
      resolve(false);
    }, 200);
    s.on('message', () => {
      clearTimeout(t);
      s.close();
      resolve(true);
    });
    s.on('error', () => {
      clearTimeout(t);
      s.close();
      resolve(false);
    });
    s.send(q, 53, address);
  });
}
