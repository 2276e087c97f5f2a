/** The command line as a user meets it: exit codes, messages, doctor's report. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BPF_DIR, PACKAGE_ROOT } from '../../engine/paths.js';
import { uprobeSessionSupport } from '../../engine/kernel/libbpf.js';
import { kernelSkipReason } from '../helpers/cgroup.js';

const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
const busted = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

describe('busted CLI', () => {
  it('--help lists the commands and exits 0', () => {
    const r = busted('--help');
    assert.equal(r.status, 0);
    assert.match(r.stdout, /monitor/);
    assert.match(r.stdout, /doctor/);
  });

  it('an unknown command or option is a usage error (exit 2)', () => {
    assert.equal(busted('frobnicate').status, 2);
    const r = busted('monitor', '--format', 'xml');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /xml/);
  });

  it('a cgroup that does not exist is a usage error naming the option', () => {
    const r = busted('monitor', '--cgroup', '/no/such/cgroup');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /BUSTED_E_USAGE: --cgroup \/no\/such\/cgroup: not a cgroup v2 directory/);
  });

  it('a file output it cannot open is a usage error at start, not events dropped later', () => {
    const r = busted('monitor', '--output', 'file:/no/such/dir/events.jsonl', '--duration', '1');
    assert.equal(r.status, 2);
    assert.equal(r.stderr.trim(), "busted: BUSTED_E_USAGE: --output file:/no/such/dir/events.jsonl: ENOENT: no such file or directory, open '/no/such/dir/events.jsonl'");
  });

  it('a sink it does not know is a usage error before anything is attached', () => {
    const r = busted('monitor', '--output', 'carrier-pigeon:x');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--output carrier-pigeon:x/);
  });

  it('enforce without --policies, or with a policy that does not compile, is a usage error naming file:line:col', () => {
    const none = busted('enforce');
    assert.equal(none.status, 2);
    assert.match(none.stderr, /--policies/);
    const dir = mkdtempSync(join(tmpdir(), 'busted-cli-'));
    try {
      writeFileSync(join(dir, 'p.rego'), 'package busted\n\nimport rego.v1\n\ndecision := "block" if {\n\tinput.type ==\n}\n');
      const bad = busted('enforce', '--policies', dir, '--duration', '1');
      assert.equal(bad.status, 2);
      assert.match(bad.stderr, /p\.rego:7:1: rego_parse_error/);
      writeFileSync(join(dir, 'p.rego'), 'package busted\n\nimport rego.v1\n\nreasons contains "x" if true\n');
      const nodecision = busted('enforce', '--policies', dir, '--duration', '1');
      assert.equal(nodecision.status, 2);
      assert.match(nodecision.stderr, /entrypoint "busted\/decision" does not refer to a rule \(define rule "decision" in package busted\)/);
      assert.equal(busted('enforce', '--policies', join(dir, 'nope')).status, 2);
    } finally {
      rmSync(dir, { recursive: true });
    }
  });

  it('--ringbuf-mb must be a power of two', () => {
    const r = busted('monitor', '--ringbuf-mb', '3');
    assert.equal(r.status, 2);
    assert.match(r.stderr, /power of two/);
  });
});

describe('busted without root', { skip: process.getuid?.() !== 0 ? 'needs root to drop to another user' : undefined }, () => {
  const asNobody = (...args: string[]) =>
    spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, bin, ...args], { encoding: 'utf8', timeout: 60_000 });
  it('monitor says what it needs and exits 1, touching nothing', () => {
    const r = asNobody('monitor', '--duration', '1');
    assert.equal(r.status, 1);
    assert.match(r.stderr, /BUSTED_E_UNSUPPORTED: loading BPF programs needs root/);
  });
  it('doctor still reports what it can see', () => {
    const r = asNobody('doctor', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.root, false);
    assert.deepEqual(rep.features.map((f: { feature: string }) => f.feature), ['probes', 'process_memory']);
    // nobody cannot read root's processes: held writes past the capture size would be cut, and doctor says so
    const mem = rep.features.find((f: { feature: string }) => f.feature === 'process_memory');
    assert.equal(mem.ok, false);
    assert.match(mem.detail, /cannot read another process's memory.*BUSTED_E_CONTENT_CUT/);
  });
});

describe('busted doctor', { skip: kernelSkipReason() }, () => {
  it('--json reports the probes, TLS libraries and the paths it would use', () => {
    const r = busted('doctor', '--json');
    assert.equal(r.status, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    const f = Object.fromEntries(rep.features.map((x: { feature: string; ok: boolean }) => [x.feature, x.ok]));
    for (const k of ['btf', 'tp_btf', 'raw_tp', 'kprobe', 'fentry', 'bpf_lsm', 'cgroup_sock_addr', 'cgroup_skb', 'uprobe', 'ringbuf_map', 'probe_write_user', 'send_signal', 'enforce_programs', 'sock_destroy', 'raw_socket', 'push_sender', 'bpffs']) {
      assert.equal(typeof f[k], 'boolean', `feature ${k} reported`);
    }
    // What the agent itself needs must be reported as working where it runs.
    assert.equal(f.tp_btf, true);
    assert.equal(f.cgroup_skb, true);
    assert.equal(f.ringbuf_map, true);
    assert.ok(rep.cgroup2);
    assert.equal(typeof rep.lockdown, 'string');
    // what `busted enforce` needs (the e2e tests use all of it here)
    for (const k of ['cgroup_sock_addr', 'send_signal', 'enforce_programs', 'sock_destroy', 'raw_socket', 'push_sender', 'process_memory']) assert.equal(f[k], true, k);
    assert.match(rep.paths.connect_enforcement, /^cgroup\/connect4 \+ connect6 and sendmsg4 \+ sendmsg6 \(EPERM\)/);
    assert.match(rep.paths.content_enforcement, /SIGSTOP.*SOCK_DESTROY.*a held write read whole from the process/);
    assert.match(rep.paths.dns_hold, /held at cgroup_skb ingress/);
    assert.match(rep.paths.plain_http, /held at cgroup_skb egress until decided, then its sender pushed from the agent$/);
    assert.match(rep.paths.content_enforcement, /its sender pushed from the agent when let go \(pidfd_getfd\)/);
    assert.match(rep.paths.unreadable_tls, /the hello is held at cgroup_skb egress until decided; an allowed one goes, its sender pushed from the agent.*socket destroyed; a QUIC connection is held from its first Initial until its hello is decided \(an allowed one's datagrams sent on through a marked raw socket\)$/);
    assert.ok(rep.tls_libraries.some((l: { kind: string; symbols: string[] }) => l.symbols.includes('SSL_write')), 'a library exporting SSL_write was found');
    // how read and write see returns: uprobe sessions where the kernel makes them, unless turned off
    const sessions = process.env.BUSTED_TLS_NO_SESSION !== '1' && uprobeSessionSupport(join(BPF_DIR, 'tls.bpf.o')).ok;
    assert.equal(rep.tls_probe_mode.mode, sessions ? 'session' : 'pair');
    assert.match(rep.paths.tls_plaintext, sessions ? /read\/write: uprobe sessions/ : /read\/write: entry uprobe \+ uretprobe/);
    // each library found was tried: the probes load and attach to it (read
    // and write: one session program, or an entry and a return program, each;
    // libssl 3 has them at its two internal functions; then 5 more; GnuTLS 4 more)
    for (const l of rep.tls_libraries as Array<{ kind: string; path: string; id: string; via: string; probes: { attached: number; of: number } }>) {
      assert.match(l.id, /^\d+:\d+$/);
      const least = { gnutls: sessions ? 6 : 8, nss: 4, nspr: sessions ? 5 : 9 }[l.kind] ?? (sessions ? 7 : 9);
      assert.ok(l.probes.of >= least && l.probes.attached === l.probes.of, `${l.path}: ${JSON.stringify(l.probes)}`);
    }
    assert.ok(rep.tls_libraries.some((l: { kind: string }) => l.kind === 'gnutls'), 'libgnutls (wget) was found');
    assert.deepEqual(
      rep.tls_probe_table.map((t: { kind: string; status: string }) => `${t.kind}:${t.status}`),
      ['openssl:supported', 'openssl-static:supported', 'boringssl:planned', 'gnutls:supported', 'nss:supported', 'nspr:supported', 'go:supported'],
    );
  });

  it('the text report is readable and leaves nothing attached', () => {
    // programs of the kinds doctor loads, by id: one loaded during the run and
    // still there after it is a leak (an agent that ends meanwhile does not count)
    const orphans = () =>
      new Set(
        (JSON.parse(spawnSync('bpftool', ['-j', 'prog', 'show'], { encoding: 'utf8' }).stdout || '[]') as Array<{ id: number; name?: string }>)
          .filter((p) => /^(probe_|ssl_|handle_|enforce_)/.test(p.name ?? ''))
          .map((p) => p.id),
      );
    const before = orphans();
    const r = busted('doctor');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /features/);
    assert.match(r.stdout, /would use/);
    assert.match(r.stdout, /TLS libraries[^\n]*\n(  ok  [^\n]*\n)*  ok  openssl /);
    assert.match(r.stdout, /TLS libraries[^\n]*\n(  ok  [^\n]*\n)*  ok  gnutls /);
    const left = [...orphans()].filter((id) => !before.has(id));
    assert.deepEqual(left, [], 'doctor left programs loaded');
  });
});
