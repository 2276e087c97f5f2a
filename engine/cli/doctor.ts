/** `busted doctor`: what works on this kernel, and what busted would use. */
import { cgroup2Mount, resolveCgroup } from '../host/cgroup.js';
import { TLS_PROBE_TABLE, TlsLibraryFinder, type TlsLibrary } from '../host/tls-libs.js';
import { BpfObject } from '../kernel/libbpf.js';
import { KernelSession } from '../kernel/loader.js';
import { BPF_DIR } from '../paths.js';
import { lockdownMode, lsmList, probeKernel, type ProbeResult } from '../kernel/probe.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readProcessMemory } from '../host/proc-mem.js';
import { release as osRelease } from 'node:os';

export interface DoctorReport {
  kernel: string;
  root: boolean;
  cgroup2: string | null;
  lockdown: string;
  lsm: string[] | null;
  uprobe_pmu: boolean;
  features: ProbeResult[];
  /** the TLS implementations busted knows, hooked or planned */
  tls_probe_table: Array<{ kind: string; what: string; status: string; note?: string }>;
  /** the files the TLS probes go on here (system, and mapped by running processes), each with a trial attachment when root */
  tls_libraries: Array<TlsLibrary & { probes?: { attached: number; of: number; error?: string } }>;
  /** how the TLS read/write probes would see returns here: 'session' (uprobe sessions) or 'pair' (uprobe + uretprobe), and why; absent when no trial ran */
  tls_probe_mode?: { mode: string; detail: string };
  /** the hooks each job would use here */
  paths: {
    telemetry: string[];
    connect_enforcement: string;
    content_enforcement: string;
    dns_hold: string;
    plain_http: string;
    /** TLS busted cannot read (no probed library on the thread) to a provider whose content is judged */
    unreadable_tls: string;
    persistence: string;
    tls_plaintext: string;
    /** MCP over stdio (--mcp-stdio) */
    mcp_stdio: string;
  };
}

/**
 * Whether this process can read another's memory (/proc/PID/mem: what a
 * held TLS write past the kernel's copy is read through), tried on the
 * parent process at its first mapping. Yama's ptrace_scope 3, or a
 * container without CAP_SYS_PTRACE, refuses it.
 */
export function memoryTrial(pid = process.ppid): ProbeResult {
  const feature = 'process_memory';
  try {
    const first = readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n')[0] ?? '';
    const m = /^([0-9a-f]+)-[0-9a-f]+ r/.exec(first);
    if (!m) return { feature, ok: false, detail: `no readable mapping of pid ${pid} to try` };
    const got = readProcessMemory(pid, BigInt(`0x${m[1]}`), 16);
    if (got?.length) return { feature, ok: true, detail: '/proc/PID/mem reads: a held write past the capture size is read whole' };
  } catch {
    // maps unreadable: the same refusal
  }
  let scope = '';
  try {
    scope = readFileSync('/proc/sys/kernel/yama/ptrace_scope', 'utf8').trim();
  } catch {}
  return { feature, ok: false, detail: `cannot read another process's memory${scope ? ` (yama ptrace_scope ${scope})` : ''}: held writes past the capture size are cut (BUSTED_E_CONTENT_CUT)` };
}

export function doctorReport(cgroupArg?: string): DoctorReport {
  const root = process.getuid?.() === 0;
  const mount = cgroup2Mount() ?? null;
  let features: ProbeResult[] = [];
  if (root && mount) features = probeKernel(resolveCgroup(cgroupArg).path);
  else features.push({ feature: 'probes', ok: false, detail: root ? 'no cgroup v2 mount' : 'needs root to load BPF programs' });
  features.push(memoryTrial());
  const tls = tlsTrial(root && mount && features.some((f) => f.feature === 'uprobe' && f.ok) ? cgroupArg ?? '/' : undefined);
  const ok = (f: string) => features.find((x) => x.feature === f)?.ok === true;
  const detail = (f: string) => features.find((x) => x.feature === f)?.detail;
  // how a sender the packet hook held is moved on when let go (kernel/push.ts, reinject.ts tcpProbe)
  const moveOn = ok('push_sender') ? 'its sender pushed from the agent' : ok('raw_socket') ? 'its sender moved on by a probe of the server through a marked raw socket (a round trip)' : "at its sender's own retry (200 ms or more: no push, no raw socket)";
  const telemetry: string[] = [];
  if (ok('tp_btf')) telemetry.push('tp_btf (exec/exit, TCP state)');
  else if (ok('raw_tp')) telemetry.push('raw_tp (exec/exit, TCP state; the fallback build)');
  if (ok('cgroup_skb')) telemetry.push('cgroup_skb (DNS, TLS handshakes, UDP flows)');
  if (ok('cgroup_sock_addr')) telemetry.push('cgroup sock (UDP owners)');
  return {
    kernel: `${process.platform} ${osRelease()}`, // os.release() is uname -r
    root,
    cgroup2: mount,
    lockdown: lockdownMode(),
    lsm: lsmList() ?? null,
    uprobe_pmu: existsSync('/sys/bus/event_source/devices/uprobe/type'),
    features,
    tls_probe_table: TLS_PROBE_TABLE.map((f) => ({ kind: f.kind, what: f.what, status: f.status, ...(f.note ? { note: f.note } : {}) })),
    tls_libraries: tls.libs,
    ...(tls.mode ? { tls_probe_mode: tls.mode } : {}),
    paths: {
      telemetry,
      // busted's connect hooks are cgroup sock_addr programs, loadable where BPF LSM is not (most distros)
      connect_enforcement:
        ok('cgroup_sock_addr') && ok('enforce_programs')
          ? `cgroup/connect4 + connect6 and sendmsg4 + sendmsg6 (EPERM)${ok('bpf_lsm') ? '; BPF LSM loads here too, not needed' : ''}`
          : 'none available',
      content_enforcement:
        ok('uprobe') && ok('send_signal') && ok('cgroup_skb')
          ? `gated SSL_write held (${ok('push_sender') ? "its socket's packets held in cgroup_skb, the process running on, its sender pushed from the agent when let go (pidfd_getfd); a write past the capture or on a socket not seen at its ClientHello: uprobe + SIGSTOP" : `uprobe + SIGSTOP; a terminal's process: its socket's packets held in cgroup_skb instead, so that its shell sees no job stop, and its server probed when let go (no push from the agent: ${detail('push_sender')})`}), then the connection's packets dropped (cgroup_skb)${ok('sock_destroy') ? ' and its socket destroyed (SOCK_DESTROY)' : ''}${ok('process_memory') ? '; a held write read whole from the process' : '; a held write past the capture size cut (no /proc/PID/mem)'}`
          : 'none (needs uprobes, bpf_send_signal and cgroup_skb)',
      dns_hold: ok('cgroup_skb') && ok('raw_socket') ? 'answers held at cgroup_skb ingress, sent on through a marked raw socket' : 'none: the first connect to a name the policy blocks is cut after the fact',
      plain_http: ok('cgroup_skb')
        ? `read from the packets (cgroup_skb); under enforce, held at cgroup_skb egress until decided, then ${moveOn}`
        : 'none (needs cgroup_skb)',
      unreadable_tls: ok('cgroup_skb')
        ? `decided on its ClientHello; under enforce, to a provider whose content is judged, the hello is held at cgroup_skb egress until decided; an allowed one goes, ${moveOn}${ok('sock_destroy') ? ', a blocked one has its socket destroyed' : ''}; a QUIC connection is held from its first Initial until its hello is decided${ok('raw_socket') ? " (an allowed one's datagrams sent on through a marked raw socket)" : " (an allowed one goes at the client's own retransmission: no raw socket)"}`
        : 'none (needs cgroup_skb): not even its ClientHello is seen',
      persistence: ok('bpffs') ? `--pin in ${detail('bpffs')}` : 'none (no bpffs)',
      tls_plaintext: ok('uprobe') ? `uprobes on the libraries below${tls.mode ? `; read/write: ${tls.mode.detail}` : ''}` : 'none (uprobes unavailable)',
      mcp_stdio: root && ok('tp_btf') ? stdioTrial() : 'none (needs root and tp_btf)',
    },
  };
}

/**
 * Whether the MCP-over-stdio hook (bpf/stdio.bpf.c) loads here (the
 * verifier accepts it; tp_btf attaching is the tp_btf feature above). Not
 * attached: a program on the syscall entry outlives its detaching for a
 * moment, and doctor leaves nothing behind.
 */
function stdioTrial(): string {
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(join(BPF_DIR, 'stdio.bpf.o'));
    obj.load();
    return 'with --mcp-stdio: JSON-RPC written to pipes and UNIX sockets, read at the syscall entry (tp_btf sys_enter: every system call of the host pays for it while it runs)';
  } catch (e) {
    return `none: ${(e as Error).message.split('\n')[0]}`;
  } finally {
    obj?.close();
  }
}

/** The TLS libraries found, and when `cgroup` is given (root, uprobes work) whether the probes attach to each: loaded, attached, detached again. */
function tlsTrial(cgroup: string | undefined): { libs: DoctorReport['tls_libraries']; mode?: DoctorReport['tls_probe_mode'] } {
  const finder = new TlsLibraryFinder();
  const libs: DoctorReport['tls_libraries'] = [...finder.system(), ...finder.scanAll()];
  if (cgroup === undefined) return { libs };
  let s: KernelSession | undefined;
  let mode: DoctorReport['tls_probe_mode'];
  try {
    s = KernelSession.open({ cgroup: resolveCgroup(cgroup), ringBytes: 1 << 16, selfTgid: process.pid, serverSide: false, only: ['tls'], tls: { targets: [], capBytes: 0 } });
    if (s.tlsMode) mode = { mode: s.tlsMode, detail: s.tlsModeDetail };
    for (const l of libs) {
      const made = s.attachTls(l);
      const bad = made.find((a) => !a.ok);
      l.probes = { attached: made.filter((a) => a.ok).length, of: made.length, ...(bad ? { error: bad.error?.split('\n')[0] } : {}) };
    }
  } catch (e) {
    for (const l of libs) l.probes = { attached: 0, of: 0, error: (e as Error).message.split('\n')[0] };
  } finally {
    s?.dispose();
  }
  return { libs, ...(mode ? { mode } : {}) };
}

export async function runDoctor(o: { json?: boolean; cgroup?: string }): Promise<number> {
  const r = doctorReport(o.cgroup);
  if (o.json) {
    process.stdout.write(JSON.stringify(r, null, 2) + '\n');
    return 0;
  }
  const mark = (b: boolean) => (b ? 'ok ' : 'no ');
  const lines: string[] = [];
  lines.push(`kernel      ${r.kernel}${r.root ? '' : ' (not root: probes skipped)'}`);
  lines.push(`cgroup v2   ${r.cgroup2 ?? 'not mounted'}`);
  lines.push(`lockdown    ${r.lockdown}`);
  lines.push(`LSMs        ${r.lsm ? r.lsm.join(',') : 'unknown (securityfs not mounted)'}`);
  lines.push(`uprobe PMU  ${r.uprobe_pmu ? 'present' : 'absent'}`);
  lines.push('');
  lines.push('features');
  for (const f of r.features) lines.push(`  ${mark(f.ok)} ${f.feature.padEnd(18)} ${f.detail ?? ''}`);
  lines.push('');
  lines.push('TLS probes');
  for (const f of r.tls_probe_table) lines.push(`  ${f.status === 'supported' ? 'hooked ' : 'planned'} ${f.kind.padEnd(15)} ${f.what}${f.note ? ` (${f.note})` : ''}`);
  lines.push('');
  lines.push('TLS libraries (system, and mapped by running processes)');
  if (!r.tls_libraries.length) lines.push('  none found');
  for (const l of r.tls_libraries) {
    const p = l.probes ? (l.probes.error && !l.probes.attached ? `not attached: ${l.probes.error}` : `${l.probes.attached}/${l.probes.of} probes attach`) : `${l.symbols.length} symbols`;
    lines.push(`  ${mark(!l.probes || (l.probes.attached > 0 && l.probes.attached === l.probes.of))} ${l.kind.padEnd(15)} ${l.path} [${l.id}, ${l.via === 'system' || l.via === 'binary' ? l.via : `pid ${l.via}`}] ${p}`);
  }
  lines.push('');
  lines.push('would use');
  lines.push(`  telemetry            ${r.paths.telemetry.join('; ') || 'nothing loads'}`);
  lines.push(`  connect enforcement  ${r.paths.connect_enforcement}`);
  lines.push(`  content enforcement  ${r.paths.content_enforcement}`);
  lines.push(`  DNS hold             ${r.paths.dns_hold}`);
  lines.push(`  plain-text HTTP      ${r.paths.plain_http}`);
  lines.push(`  unreadable TLS       ${r.paths.unreadable_tls}`);
  lines.push(`  persistence          ${r.paths.persistence}`);
  lines.push(`  TLS plaintext        ${r.paths.tls_plaintext}`);
  lines.push(`  MCP over stdio       ${r.paths.mcp_stdio}`);
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
