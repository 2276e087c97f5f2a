/**
 * `busted monitor --format json` run as a user runs it (the package's bin,
 * a child process), its stdout parsed line by line into events.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { BustedEvent } from '../../engine/model/event.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';

export class MonitorProcess {
  readonly events: BustedEvent[] = [];
  /** lines of stdout that were not JSON objects (the contract says there are none) */
  readonly badLines: string[] = [];
  stderr = '';
  /** everything printed on stdout, to search for what must not be there */
  stdout = '';
  private readonly child: ChildProcess;
  private readonly exit: Promise<number | null>;

  private constructor(args: string[], command: string, env?: NodeJS.ProcessEnv) {
    this.child = spawn(process.execPath, [join(PACKAGE_ROOT, 'bin', 'busted.js'), command, '--format', 'json', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: env && { ...process.env, ...env } });
    let buf = '';
    this.child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      this.stdout += d.toString('utf8');
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const v = JSON.parse(line);
          if (v && typeof v === 'object' && !Array.isArray(v)) this.events.push(v);
          else this.badLines.push(line);
        } catch {
          this.badLines.push(line);
        }
      }
    });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString('utf8')));
    this.exit = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
  }

  /** Start and wait until the agent says it is attached. `command`: monitor, enforce or demo. */
  static async start(args: string[], timeoutMs = 15_000, command = 'monitor', env?: NodeJS.ProcessEnv): Promise<MonitorProcess> {
    const m = new MonitorProcess(args, command, env);
    const deadline = Date.now() + timeoutMs;
    while (!/busted: (monitoring|enforcing on|deciding)/.test(m.stderr)) {
      if (m.child.exitCode !== null) throw new Error(`busted monitor exited ${m.child.exitCode}: ${m.stderr}`);
      if (Date.now() > deadline) {
        m.child.kill('SIGKILL');
        throw new Error(`busted monitor did not start: ${m.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
    return m;
  }

  /** Wait until some event satisfies `pred`; return it. */
  async waitFor(pred: (e: BustedEvent) => boolean, what: string, timeoutMs = 8000): Promise<BustedEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const e = this.events.find(pred);
      if (e) return e;
      if (Date.now() > deadline) throw new Error(`no event ${what} within ${timeoutMs} ms; got ${this.events.length} events:\n${this.events.slice(-30).map((x) => JSON.stringify(x)).join('\n')}\nstderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Wait until COUNT events satisfy `pred`; return them. */
  async waitForCount(pred: (e: BustedEvent) => boolean, count: number, what: string, timeoutMs = 8000): Promise<BustedEvent[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.events.filter(pred);
      if (got.length >= count) return got;
      if (Date.now() > deadline) throw new Error(`${got.length} of ${count} events ${what} within ${timeoutMs} ms; got ${this.events.length} events:\n${this.events.slice(-30).map((x) => JSON.stringify(x)).join('\n')}\nstderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Wait until the agent's stderr has a line matching RE; return it. */
  async waitForStderr(re: RegExp, what: string, timeoutMs = 8000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.stderr.split('\n').find((l) => re.test(l));
      if (line !== undefined) return line;
      if (Date.now() > deadline) throw new Error(`no stderr line ${what} within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** Wait for the agent to end by itself (--duration, the demo's end); returns the exit code. */
  async exited(timeoutMs = 60_000): Promise<number | null> {
    const t = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const code = await this.exit;
    clearTimeout(t);
    return code;
  }

  /** SIGTERM, wait for the exit; returns the exit code. */
  async stop(): Promise<number | null> {
    if (this.child.exitCode === null) this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    const code = await this.exit;
    clearTimeout(t);
    return code;
  }

  get pid(): number {
    return this.child.pid!;
  }
}
