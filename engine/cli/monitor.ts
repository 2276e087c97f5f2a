/** `busted monitor`: observe and report, never block. (`busted enforce` runs the same agent with a policy: enforce.ts.) */
import { BustedError, ErrorCode } from '../model/errors.js';
import { resolveCgroup } from '../host/cgroup.js';
import { setLibbpfVerbose } from '../kernel/libbpf.js';
import { tlsFamilies } from '../host/tls-libs.js';
import { Agent, type PolicyStageOptions } from '../pipeline.js';
import { makePinDir, pinnedState } from '../kernel/pin.js';
import { Demo } from '../demo/traffic.js';
import { startOutputs, type ObserveCliOptions } from './observe.js';
import { classifierFromOptions, classifierSummary } from '../ml/options.js';

export { outputSinks } from './observe.js';

export interface MonitorCliOptions extends ObserveCliOptions {
  cgroup?: string;
  pid?: number;
  duration?: number;
  tls: boolean;
  tlsCaptureBytes?: number;
  tlsCaptureAll?: boolean;
  serverSide: boolean;
  plainHttp: boolean;
  /** --mcp-stdio: read MCP over stdio (bpf/stdio.bpf.c; every system call pays for it) */
  mcpStdio?: boolean;
  /** --exe-hash: process.exe_sha256 on every event (host/exe-hash.ts) */
  exeHash?: boolean;
  ringbufMb: number;
  verbose?: boolean;
  redact: boolean;
  hooks: 'auto' | 'raw_tp';
  /** --model FILE, or false for --no-model (undefined: the shipped model) */
  model?: string | false;
  /** --strict: a hook that does not attach at start stops the run (exit 1) instead of a warning */
  strict?: boolean;
  /** --tls-libs: the TLS libraries to probe (default: all) */
  tlsLibs?: string[];
}

/** The demo's clients run in the --cgroup the agent watches (its root: wherever they are). */
async function runDemo(cgroup?: string): Promise<void> {
  const d = new Demo();
  await d.start();
  try {
    await d.run((s) => process.stderr.write(`demo: ${s.say}\n`), cgroup ? { cgroup } : {});
  } finally {
    await d.stop();
  }
}

export async function runMonitor(o: MonitorCliOptions, demo?: { follow: boolean }): Promise<number> {
  return runAgent(o, { demo });
}

/** What `busted enforce` adds to the agent `monitor` runs. */
export interface AgentExtras {
  demo?: { follow: boolean };
  policy?: PolicyStageOptions;
  /** the agent is attached: start what follows it (policy reloads) */
  onStarted?: (agent: Agent) => void | Promise<void>;
  /** the run is over, the agent not stopped yet */
  onStopping?: () => void | Promise<void>;
  /** what the start line says it does */
  verb?: string;
  /** keep enforcement attached in bpffs after the run (--pin) */
  pin?: boolean;
}

/** Run the agent until the duration, a signal, or the end of the demo. */
export async function runAgent(o: MonitorCliOptions, x: AgentExtras = {}): Promise<number> {
  const demo = x.demo;
  const mb = o.ringbufMb;
  if ((mb & (mb - 1)) !== 0) throw new BustedError(ErrorCode.USAGE, `--ringbuf-mb ${mb} is not a power of two`, 'ringbuf-mb');
  // Validate everything before touching the kernel.
  const cgroup = resolveCgroup(o.cgroup);
  // A reader that goes away (`busted monitor | head`) ends the run, as it
  // would end any command-line tool; a broken stderr is not worth dying for.
  let stop: () => void = () => {};
  process.stderr.on('error', () => {});
  // the classifier (--model) before anything listens: a bad model is a usage error with nothing to undo
  const classifier = await classifierFromOptions(o);
  const outputs = await startOutputs(o, () => stop()).catch(async (e: unknown) => {
    await classifier?.close();
    throw e;
  });
  const sinks = outputs.sinks;
  setLibbpfVerbose(o.verbose === true);
  if (outputs.urls.metrics) process.stderr.write(`busted: metrics at ${outputs.urls.metrics}\n`);
  if (outputs.urls.ui) process.stderr.write(`busted: dashboard at ${outputs.urls.ui}\n`);

  let agent: Agent;
  try {
    agent = Agent.start({
      cgroup,
      sinks,
      // pod metadata first: the classifier and the policy see it
      annotate: [...outputs.annotate, ...(classifier ? [classifier.annotate] : [])],
      pid: o.pid,
      ringBytes: mb << 20,
      serverSide: o.serverSide,
      plainHttp: o.plainHttp,
      mcpStdio: o.mcpStdio === true,
      exeHash: o.exeHash === true,
      noRedact: !o.redact,
      hooks: o.hooks,
      tls: o.tls,
      tlsCaptureBytes: o.tlsCaptureBytes,
      tlsKinds: o.tlsLibs ? tlsFamilies(o.tlsLibs) : undefined,
      tlsSkip: o.tlsCaptureAll !== true,
      policy: x.policy,
      pinDir: x.pin ? makePinDir(cgroup) : undefined,
      onTlsLibrary: (lib, made) => {
        const ok = made.filter((a) => a.ok).length;
        const sessions = made.some((a) => a.ok && a.hook.startsWith('uprobe.session ')) ? ', read/write as uprobe sessions' : '';
        process.stderr.write(`busted: TLS probes on ${lib.path} (${lib.kind}${lib.version ? ` ${lib.version}` : ''}, found in pid ${lib.via}): ${ok}/${made.length} attached${sessions}\n`);
      },
    });
  } catch (e) {
    await outputs.close();
    await Promise.all(sinks.map((s) => s.close()));
    await classifier?.close();
    throw e;
  }
  outputs.bind((code, message, field) => agent.interpreter.error(code, message, field));
  const failed = agent.attachments.filter((a) => !a.ok);
  for (const a of failed) process.stderr.write(`busted: ${o.strict ? 'error' : 'warning'}: ${a.object}/${a.program} (${a.hook}) not attached: ${errorLine(a.error)}\n`);
  if (o.strict && failed.length > 0) {
    // fail closed: an agent without some of its hooks sees or refuses less than its policy says
    const names = [...new Set(failed.map((a) => `${a.object}/${a.program}`))];
    const msg = `--strict: ${names.length} hook${names.length === 1 ? '' : 's'} did not attach (${names.join(', ')}); stopping instead of running without ${names.length === 1 ? 'it' : 'them'}`;
    agent.interpreter.error(ErrorCode.BPF, msg, 'hooks');
    process.stderr.write(`busted: ${msg}\n`);
    await agent.stop();
    await classifier?.close();
    await outputs.close();
    return 1;
  }
  const fallbacks = [...new Set(agent.attachments.filter((a) => a.ok && a.file?.includes('.rawtp.')).map((a) => a.object))];
  if (fallbacks.length) process.stderr.write(`busted: ${fallbacks.join(', ')}: using raw_tp hooks (packets are matched to TCP owners by cgroup only)\n`);
  if (o.verbose) for (const l of agent.tlsLibraries) process.stderr.write(`busted: TLS probes on ${l.path} (${l.kind}, ${l.id}, via ${l.via})\n`);
  await x.onStarted?.(agent);
  if (x.pin) process.stderr.write(`busted: --pin: enforcement stays attached after this run (busted unpin${o.cgroup ? ` --cgroup ${o.cgroup}` : ''} removes it)\n`);
  else if (x.policy && pinnedState(cgroup)) process.stderr.write(`busted: warning: an earlier --pin run's enforcement is still attached to this cgroup; busted unpin${o.cgroup ? ` --cgroup ${o.cgroup}` : ''} removes it\n`);
  process.stderr.write(`busted: ${x.verb ?? 'monitoring'} ${cgroup.path === cgroup.name ? cgroup.path : `cgroup ${cgroup.name}`} (${agent.attachments.filter((a) => a.ok).length} hooks)${o.pid ? `, pid ${o.pid} and its descendants` : ''}${agent.ringWake === 'worker' ? '; the ring buffer is waited on by a worker thread' : ''}\n`);

  await new Promise<void>((resolve) => {
    const done = () => resolve();
    stop = done;
    process.once('SIGINT', done);
    process.once('SIGTERM', done);
    if (o.duration) setTimeout(done, o.duration * 1000);
    if (demo) {
      runDemo(cgroup.level > 0 ? cgroup.path : undefined).then(() => {
        if (!demo.follow) setTimeout(done, 500); // let the last events through
        else process.stderr.write('busted: demo done; still monitoring (--follow), Ctrl-C to stop\n');
      }, (e: Error) => {
        process.stderr.write(`busted: demo failed: ${e.message}\n`);
        done();
      });
    }
  });
  await x.onStopping?.();
  const s = await agent.stop();
  await classifier?.close();
  if (classifier) process.stderr.write(`busted: ${classifierSummary(classifier)}\n`);
  await outputs.close();
  const dropped = outputs.watched.filter((x) => x.dropped).map((x) => `${x.name} dropped ${x.dropped}`);
  process.stderr.write(
    `busted: ${s.interpreter.events} events from ${s.interpreter.records} kernel records; lost in kernel ${s.kernel.ringbufFull}` +
      `${s.interpreter.malformedDns + s.interpreter.malformedTls ? `; malformed dns ${s.interpreter.malformedDns} tls ${s.interpreter.malformedTls}` : ''}` +
      `${s.kernel.tlsSkipped || s.kernel.tlsTruncated ? `; TLS calls not copied: ${s.kernel.tlsSkipped} skipped, ${s.kernel.tlsTruncated} cut at the capture size` : ''}` +
      `${s.interpreter.contentCut ? `; ${s.interpreter.contentCut} requests not read whole (BUSTED_E_CONTENT_CUT)` : ''}` +
      `${s.interpreter.http2Lost ? `; ${s.interpreter.http2Lost} HTTP/2 directions no longer decoded (BUSTED_E_HTTP2_LOST)` : ''}` +
      `${dropped.length ? `; ${dropped.join(', ')}` : ''}\n`,
  );
  const en = agent.enforcement;
  if (en) process.stderr.write(`busted: enforcement: ${en.refused} connections refused in the kernel, ${en.destroyed} sockets destroyed, ${en.gated} writes held (${en.packetHeld ? `${en.packetHeld} in the packet hook, their threads not stopped; ` : ''}${en.released} let go, ${en.stopsQueued} of their stops known from the kernel's record)${en.held ? ` for ${en.held.p50.toFixed(2)} ms p50, ${en.held.p99.toFixed(2)} ms p99 from the kernel's stop to their release` : ''}, ${en.plainReleased} plain-text requests let go, ${en.killed} processes killed, ${en.heldAnswers} DNS answers held until decided, ${en.heldHellos} ClientHellos held until decided, ${en.unfinishedHeld} TLS connections held while their request was written${en.stdioStopped ? `, ${en.stdioStopped} MCP stdio readers killed before reading a blocked message` : ''}${en.execsHeld ? `, ${en.execsHeld} execs held until their executable was hashed` : ''}${en.lostHolds ? `, ${en.lostHolds} holds lost` : ''}${en.pushed + en.probed ? `, ${en.pushed + en.probed} held TCP senders moved on (${en.pushed} pushed from here, ${en.probed} by a probe of their server)` : ''}; ${en.standingImages} program images with a verdict at the end\n`);
  return 0;
}

/**
 * An attachment's error on one line: its first, and libbpf's last word on
 * it when it said more (the cause: an extern it could not find, a
 * verifier's refusal), which the first line's errno alone can belie (an
 * extern not found is "No such file or directory").
 */
export function errorLine(error: string | undefined): string {
  const lines = (error ?? '').split('\n');
  const last = lines.length > 1 ? lines[lines.length - 1]!.trim() : '';
  return last ? `${lines[0]} (${last})` : lines[0]!;
}
