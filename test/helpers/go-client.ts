/**
 * A Go HTTPS client (test/fixtures/go/goclient.go: net/http over
 * crypto/tls, standard library only), built once per test process with
 * Debian's golang-go (scripts/setup.sh installs it): the Go probes are
 * tested against what a real Go binary calls. Built with and without a
 * symbol table, for both ways busted finds its functions.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../../engine/paths.js';

export const GO_CLIENT_SRC = join(PACKAGE_ROOT, 'test', 'fixtures', 'go', 'goclient.go');

/** Why Go clients cannot be built here, or undefined. */
export function goSkipReason(): string | undefined {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return undefined;
  } catch {
    return 'needs the Go toolchain (Debian golang-go; scripts/setup.sh installs it) to build the Go client';
  }
}

let built: { plain: string; stripped: string } | undefined;

/** The client's two builds: `plain` with its symbol table, `stripped` (-ldflags=-s) without. */
export function goClient(): { plain: string; stripped: string } {
  if (built) return built;
  const dir = mkdtempSync(join(tmpdir(), 'busted-go-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const env = { ...process.env, GOCACHE: join(dir, 'cache'), GOPATH: join(dir, 'gopath'), GO111MODULE: 'off', CGO_ENABLED: '0', GOFLAGS: '' };
  const plain = join(dir, 'goclient');
  const stripped = join(dir, 'goclient-stripped');
  execFileSync('go', ['build', '-o', plain, GO_CLIENT_SRC], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  execFileSync('go', ['build', '-ldflags=-s', '-o', stripped, GO_CLIENT_SRC], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  built = { plain, stripped };
  return built;
}

/** The agent's line saying it put the Go probes on BIN (its Go release named), once it has. */
export function goProbesOn(agent: { waitForStderr(re: RegExp, what: string): Promise<string> }, bin: string): Promise<string> {
  return agent.waitForStderr(new RegExp(`TLS probes on ${bin} \\(go go1\\.\\d+`), `the Go probes on ${bin}`);
}
