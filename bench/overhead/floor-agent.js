#!/usr/bin/env node
// floor-agent.js: BENCH_OVERHEAD_AGENT=floor's stand-in for the agent. It
// attaches floor.bpf.o's do-nothing programs to the hooks `busted monitor`
// uses (tracepoints host-wide, cgroup hooks to --cgroup PATH, an entry
// uprobe at each function of the system libssl and of node's own OpenSSL
// that the monitor's TLS probe table names, by the same rules) and waits
// for SIGTERM, speaking
// the agent's two stderr lines that run.js waits for.
// With --enforce, also busted enforce's connect and sendmsg hooks.
//   node floor-agent.js <floor.bpf.o> --cgroup PATH [--enforce]
import { BpfObject, closeFd, openDir } from '../../dist/engine/kernel/libbpf.js';
import { OBJECTS } from '../../dist/engine/kernel/loader.js';
import { TlsLibraryFinder } from '../../dist/engine/host/tls-libs.js';

const ENFORCE_HOOKS = ['cgroup/connect4', 'cgroup/connect6', 'cgroup/sendmsg4', 'cgroup/sendmsg6'];
// BENCH_OVERHEAD_FLOOR_HOOKS=tp,sock,skb,uprobe,enforce (default: all that apply):
// only these groups, to see what each hook costs on its own.
const GROUPS = {
  tp: (s) => s.startsWith('tp_btf/'),
  sock: (s) => s === 'cgroup/sock_create' || s === 'cgroup/sock_release',
  skb: (s) => s.startsWith('cgroup_skb/'),
  uprobe: (s) => s === 'uprobe',
  enforce: (s) => ENFORCE_HOOKS.includes(s),
};
const only = process.env.BENCH_OVERHEAD_FLOOR_HOOKS?.split(',').filter(Boolean);
for (const g of only ?? []) {
  if (!GROUPS[g]) {
    console.error(`floor-agent.js: BENCH_OVERHEAD_FLOOR_HOOKS: no group ${g} (${Object.keys(GROUPS).join(', ')})`);
    process.exit(2);
  }
}
const wanted = (section) => !only || only.some((g) => GROUPS[g](section));
const [objPath, flag, cgPath, mode] = process.argv.slice(2);
if (!objPath || flag !== '--cgroup' || !cgPath || (mode !== undefined && mode !== '--enforce')) {
  console.error('usage: floor-agent.js <floor.bpf.o> --cgroup PATH [--enforce]');
  process.exit(2);
}
const obj = BpfObject.open(objPath);
obj.load();
const cgFd = openDir(cgPath);
const links = [];
for (const p of obj.programs()) {
  if ((ENFORCE_HOOKS.includes(p.section) && mode !== '--enforce') || !wanted(p.section)) continue;
  if (p.section.startsWith('cgroup')) links.push(p.attachCgroup(cgFd, cgPath));
  else if (p.section !== 'uprobe') links.push(p.attach());
}
// the monitor's TLS probes: not enforcement's, one probe mode (sessions where the kernel has them: entry only)
const probes = OBJECTS.find((o) => o.name === 'tls').programs.filter((p) => p.attach === 'uprobe' && !p.enforceOnly && p.mode !== 'pair' && !p.retprobe);
const uprobe = obj.program('floor_uprobe');
// the system libssl, and node's own OpenSSL in its binary, as the monitor probes both (a node client's calls trap there)
for (const lib of wanted('uprobe') ? new TlsLibraryFinder().system().filter((l) => l.kind === 'openssl' || l.kind === 'openssl-static') : []) {
  const funcs = new Set(probes.filter((p) => lib.symbols.includes(p.func) && !(p.unless && lib.symbols.includes(p.unless))).map((p) => p.func));
  for (const f of funcs) {
    const at = lib.offsets?.[f];
    links.push(at !== undefined ? uprobe.attachUprobeAt(false, -1, lib.path, at) : uprobe.attachUprobeByName(false, -1, lib.path, f));
  }
  process.stderr.write(`floor: empty uprobes on ${lib.path}: ${[...funcs].join(' ')}\n`);
}
process.stderr.write(`busted: monitoring (floor: ${links.length} empty programs)\n`);
process.on('SIGTERM', () => {
  for (const l of links) l.destroy();
  closeFd(cgFd);
  obj.close();
  process.stderr.write('busted: 0 events from 0 kernel records; lost in kernel 0\n');
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
