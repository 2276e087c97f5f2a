#!/usr/bin/env node
// floor-agent.js: BENCH_OVERHEAD_AGENT=floor's stand-in for the agent. It
// attaches floor.bpf.o's do-nothing programs to the hooks `busted monitor`
// uses (tracepoints host-wide, cgroup hooks to --cgroup PATH) and waits for
// SIGTERM, speaking the agent's two stderr lines that run.js waits for.
//   node floor-agent.js <floor.bpf.o> --cgroup PATH
import { BpfObject, closeFd, openDir } from '../../dist/engine/kernel/libbpf.js';

const [objPath, flag, cgPath] = process.argv.slice(2);
if (!objPath || flag !== '--cgroup' || !cgPath) {
  console.error('usage: floor-agent.js <floor.bpf.o> --cgroup PATH');
  process.exit(2);
}
const obj = BpfObject.open(objPath);
obj.load();
const cgFd = openDir(cgPath);
const links = obj.programs().map((p) => (p.section.startsWith('cgroup') ? p.attachCgroup(cgFd, cgPath) : p.attach()));
process.stderr.write(`busted: monitoring (floor: ${links.length} empty programs)\n`);
process.on('SIGTERM', () => {
  for (const l of links) l.destroy();
  closeFd(cgFd);
  obj.close();
  process.stderr.write('busted: 0 events from 0 kernel records; lost in kernel 0\n');
  process.exit(0);
});
setInterval(() => {}, 1 << 30);
