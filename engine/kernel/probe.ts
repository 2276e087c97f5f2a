/**
 * What this kernel accepts, found by trying: each probe program of
 * bpf/probe.bpf.c is loaded alone (and attached where attachment is the
 * part that can fail), then everything is released again.
 */
import { holdPushable } from './push.js';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BPF_DIR } from '../paths.js';
import { BpfObject, type BpfLink, closeFd, libbpfVersion, openDir } from './libbpf.js';
import { libbpf } from './ffi.js';
import { KernelSession } from './loader.js';
import { resolveCgroup } from '../host/cgroup.js';
import { destroySocket } from './sockdiag.js';
import { rawSocketCheck } from './reinject.js';
import { bpffsMount } from './pin.js';

export interface ProbeResult {
  feature: string;
  ok: boolean;
  detail?: string;
}

type Attach = 'none' | 'auto' | 'cgroup' | 'uprobe';

const PROBES: Array<{ feature: string; program: string; attach: Attach; note?: string }> = [
  { feature: 'tp_btf', program: 'probe_tp_btf', attach: 'auto' },
  { feature: 'raw_tp', program: 'probe_raw_tp', attach: 'auto' },
  { feature: 'tracepoint', program: 'probe_tracepoint', attach: 'auto' },
  { feature: 'kprobe', program: 'probe_kprobe', attach: 'auto' },
  { feature: 'fentry', program: 'probe_fentry', attach: 'auto' },
  { feature: 'bpf_lsm', program: 'probe_lsm', attach: 'auto' },
  { feature: 'cgroup_sock_addr', program: 'probe_connect4', attach: 'cgroup' },
  { feature: 'cgroup_skb', program: 'probe_cgroup_skb', attach: 'cgroup' },
  { feature: 'uprobe', program: 'probe_uprobe', attach: 'uprobe' },
  { feature: 'ringbuf', program: 'probe_ringbuf', attach: 'none' },
  { feature: 'probe_write_user', program: 'probe_write_user', attach: 'none' },
  { feature: 'send_signal', program: 'probe_send_signal', attach: 'none' },
];

/** A shared library every Linux process has, to try a uprobe on. */
function libcPath(): string | undefined {
  for (const p of ['/lib/x86_64-linux-gnu/libc.so.6', '/usr/lib/x86_64-linux-gnu/libc.so.6', '/lib/aarch64-linux-gnu/libc.so.6', '/usr/lib64/libc.so.6', '/lib64/libc.so.6']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

/** The first line that says why, from a libbpf/verifier error. */
function reason(e: unknown): string {
  const msg = (e as Error).message ?? String(e);
  const first = msg.split('\n')[0]!;
  const verifier = msg.split('\n').map((l) => l.trim()).find((l) => /unknown func|not supported|invalid|denied|Operation not permitted|not allowed/i.test(l) && !l.startsWith('load '));
  return verifier && !first.includes(verifier) ? `${first} — ${verifier}` : first;
}

/** Try each hook type on a cgroup we may attach to (the root when none given). */
export function probeKernel(cgroupPath: string, bpfDir = BPF_DIR): ProbeResult[] {
  const out: ProbeResult[] = [];
  const path = join(bpfDir, 'probe.bpf.o');
  out.push({ feature: 'btf', ok: existsSync('/sys/kernel/btf/vmlinux'), detail: '/sys/kernel/btf/vmlinux' });
  out.push({ feature: 'libbpf', ok: true, detail: `system libbpf ${libbpfVersion()}` });
  if (!existsSync(path)) {
    out.push({ feature: 'probes', ok: false, detail: `${path} missing: run npm run build` });
    return out;
  }
  const cgFd = openDir(cgroupPath);
  try {
    for (const p of PROBES) {
      let obj: BpfObject | undefined;
      let link: BpfLink | undefined;
      try {
        obj = BpfObject.open(path);
        for (const prog of obj.programs()) prog.autoload = prog.name === p.program;
        obj.load();
        const prog = obj.program(p.program);
        if (p.attach === 'auto') link = prog.attach();
        else if (p.attach === 'cgroup') link = prog.attachCgroup(cgFd, cgroupPath);
        else if (p.attach === 'uprobe') {
          const libc = libcPath();
          if (!libc) throw new Error('no libc.so.6 found to try a uprobe on');
          link = prog.attachUprobeByName(false, -1, libc, 'getpid');
        }
        out.push({ feature: p.feature, ok: true, detail: p.attach === 'none' ? 'loads' : 'loads and attaches' });
      } catch (e) {
        out.push({ feature: p.feature, ok: false, detail: reason(e) });
      } finally {
        link?.destroy();
        obj?.close();
      }
    }
  } finally {
    closeFd(cgFd);
  }
  // BPF_MAP_TYPE_RINGBUF = 27 (include/uapi/linux/bpf.h)
  const rb = libbpf.probe_map_type(27, null) as number;
  out.push({ feature: 'ringbuf_map', ok: rb === 1, detail: rb === 1 ? 'BPF_MAP_TYPE_RINGBUF' : `probe returned ${rb}` });
  out.push(...probeEnforcement(cgroupPath));
  return out;
}

/**
 * What `busted enforce` needs beyond the hook types: its own programs load
 * here (the verifier accepts the enforce, packet and TLS objects built with
 * enforcement on), sock_diag can destroy sockets, raw sockets can carry a
 * held DNS answer on, held senders can be pushed from here (kernel/push.ts),
 * and bpffs is there for --pin.
 */
function probeEnforcement(cgroupPath: string): ProbeResult[] {
  const out: ProbeResult[] = [];
  try {
    const s = KernelSession.open({ cgroup: resolveCgroup(cgroupPath), ringBytes: 1 << 16, selfTgid: process.pid, serverSide: false, enforce: true, only: ['proc', 'pkt', 'tls', 'enforce'], tls: { targets: [], capBytes: 0 } });
    const bad = s.attachments.filter((a) => !a.ok);
    s.dispose();
    out.push({ feature: 'enforce_programs', ok: bad.length === 0, detail: bad.length ? bad.map((a) => `${a.program}: ${a.error?.split('\n')[0]}`).join('; ') : 'enforce, packet, process and TLS programs load with enforcement on' });
  } catch (e) {
    out.push({ feature: 'enforce_programs', ok: false, detail: reason(e) });
  }
  try {
    // a socket that cannot exist: ENOENT says the kernel would destroy one that did
    destroySocket({ family: 4, protocol: 'tcp', local: new Uint8Array([127, 0, 0, 1]), localPort: 1, remote: new Uint8Array([127, 0, 0, 1]), remotePort: 1, cookie: 1n });
    out.push({ feature: 'sock_destroy', ok: true, detail: 'sock_diag SOCK_DESTROY' });
  } catch (e) {
    const m = (e as Error).message;
    out.push({ feature: 'sock_destroy', ok: false, detail: m });
  }
  const push = holdPushable();
  out.push({ feature: 'push_sender', ok: push === true, detail: push === true ? "pidfd_getfd + TCP_CORK: a sender held in the packet hook pushed from the agent when let go" : push });
  try {
    rawSocketCheck();
    out.push({ feature: 'raw_socket', ok: true, detail: 'raw IPv4/IPv6 sockets with SO_MARK (held DNS answers sent on)' });
  } catch (e) {
    out.push({ feature: 'raw_socket', ok: false, detail: (e as Error).message });
  }
  const fs = bpffsMount();
  out.push({ feature: 'bpffs', ok: fs !== undefined, detail: fs ?? 'not mounted (--pin needs it: mount -t bpf bpf /sys/fs/bpf)' });
  return out;
}

/**
 * securityfs files (lockdown mode, active LSMs). Where securityfs is not
 * mounted, it is mounted in a private mount namespace of a short-lived
 * child, so the host's mounts are left as they were.
 */
function securityfs(name: string): string | undefined {
  try {
    return readFileSync(`/sys/kernel/security/${name}`, 'utf8');
  } catch {}
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', `mount -t securityfs securityfs /sys/kernel/security 2>/dev/null; cat /sys/kernel/security/${name}`], { encoding: 'utf8', timeout: 5000 });
  return r.status === 0 && r.stdout ? r.stdout : undefined;
}

/** Lockdown mode: none, integrity or confidentiality. */
export function lockdownMode(): string {
  const m = /\[(\w+)\]/.exec(securityfs('lockdown') ?? '');
  if (m) return m[1]!;
  try {
    const c = /\blockdown=(\w+)/.exec(readFileSync('/proc/cmdline', 'utf8'));
    if (c) return c[1]!;
  } catch {}
  return 'unknown';
}

/** The active LSMs, in order. */
export function lsmList(): string[] | undefined {
  return securityfs('lsm')?.trim().split(',');
}
