/**
 * A real rsyslogd (Debian's) of the test's own: its own configuration, work
 * directory, ports on 127.0.0.1 and output file; no imuxsock/imklog, so the
 * system's /dev/log and kernel log are never touched. Each received message
 * is written as one JSON object of its RFC 5424 fields (rsyslog's own parser).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const RSYSLOGD = '/usr/sbin/rsyslogd';

export interface Received {
  pri: string;
  version: string;
  time: string;
  host: string;
  app: string;
  procid: string;
  msgid: string;
  sd: string;
  msg: string;
  input: string;
}

/** A free TCP port on 127.0.0.1 (also used for UDP: a different namespace, free as well in practice). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
  });
}

export function rsyslogSkipReason(): string | undefined {
  if (!existsSync(RSYSLOGD)) return `needs ${RSYSLOGD} (Debian package rsyslog; scripts/setup.sh installs it)`;
  return undefined;
}

export class Rsyslog {
  readonly dir = mkdtempSync(join(tmpdir(), 'busted-rsyslog-'));
  readonly out = join(this.dir, 'received.jsonl');
  private child: ChildProcess | undefined;
  stderr = '';

  constructor(
    readonly udpPort: number,
    readonly tcpPort: number,
  ) {
    writeFileSync(
      join(this.dir, 'rsyslog.conf'),
      `global(workDirectory="${this.dir}" maxMessageSize="64k")
module(load="imudp")
module(load="imtcp")
input(type="imudp" address="127.0.0.1" port="${udpPort}" ruleset="busted" name="udp")
input(type="imtcp" address="127.0.0.1" port="${tcpPort}" ruleset="busted" name="tcp")
template(name="fields" type="list" option.jsonf="on") {
  property(outname="pri" name="pri" format="jsonf")
  property(outname="version" name="protocol-version" format="jsonf")
  property(outname="time" name="timereported" dateFormat="rfc3339" format="jsonf")
  property(outname="host" name="hostname" format="jsonf")
  property(outname="app" name="app-name" format="jsonf")
  property(outname="procid" name="procid" format="jsonf")
  property(outname="msgid" name="msgid" format="jsonf")
  property(outname="sd" name="structured-data" format="jsonf")
  property(outname="msg" name="msg" format="jsonf")
  property(outname="input" name="inputname" format="jsonf")
}
ruleset(name="busted") {
  action(type="omfile" file="${this.out}" template="fields" flushOnTXEnd="on")
}
`,
    );
    const check = spawnSync(RSYSLOGD, ['-N1', '-f', join(this.dir, 'rsyslog.conf')], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`rsyslogd -N1 rejects the test configuration: ${check.stderr}`);
  }

  /** Start (again) and wait until both ports listen. */
  async start(): Promise<void> {
    this.child = spawn(RSYSLOGD, ['-n', '-f', join(this.dir, 'rsyslog.conf'), '-i', join(this.dir, 'rsyslogd.pid')], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.child.stderr!.on('data', (d) => (this.stderr += d));
    const { connect } = await import('node:net');
    for (let i = 0; i < 200; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = connect(this.tcpPort, '127.0.0.1');
        s.once('connect', () => {
          s.destroy();
          resolve(true);
        });
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      if (this.child.exitCode !== null) throw new Error(`rsyslogd exited ${this.child.exitCode}: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`rsyslogd did not listen: ${this.stderr}`);
  }

  async stop(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  }

  received(): Received[] {
    if (!existsSync(this.out)) return [];
    // rsyslog may be writing a line right now: only whole lines count
    const lines = readFileSync(this.out, 'utf8').split('\n');
    lines.pop();
    return lines.filter(Boolean).map((l) => JSON.parse(l) as Received);
  }

  async dispose(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
