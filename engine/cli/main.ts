/**
 * `busted` command line (../shared/CONTRACT.md, "Command line").
 * Exit codes: 0 success, 1 failure at run time, 2 usage error.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { BustedError, ErrorCode } from '../model/errors.js';
import { TLS_CAPTURE_BYTES } from '../model/defaults.js';
// Commands are imported when they run: `busted test-policy` in CI should not
// load libbpf (koffi) and the kernel side it never touches.
import type { MonitorCliOptions } from './monitor.js';
import type { CompileCliOptions } from './compile.js';
import type { TestPolicyCliOptions } from './test-policy.js';
import type { EnforceCliOptions } from './enforce.js';
import type { HoldWrites } from '../kernel/enforce-maps.js';
import { DEFAULT_METRICS_PORT, DEFAULT_SPILL_DIR, DEFAULT_UI_PORT } from '../model/defaults.js';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../paths.js';
import { TLS_LIB_CHOICES } from '../host/tls-libs.js';

function int(name: string, min: number, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`${name} must be an integer from ${min} to ${max}`);
    return n;
  };
}

function seconds(v: string): number {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a positive number of seconds');
  return n;
}

/** --hold-writes auto|stop|packets */
function holdWrites(v: string): HoldWrites {
  if (v !== 'auto' && v !== 'stop' && v !== 'packets') throw new InvalidArgumentError('choose from auto, stop, packets');
  return v;
}

/** --tls-libs openssl,gnutls: each a name TLS_LIB_CHOICES has */
function tlsLibList(v: string): string[] {
  const names = v.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = names.filter((n) => !(TLS_LIB_CHOICES as readonly string[]).includes(n));
  if (names.length === 0 || bad.length) throw new InvalidArgumentError(`${bad.length ? `unknown: ${bad.join(', ')}; ` : ''}choose from ${TLS_LIB_CHOICES.join(', ')}`);
  return names;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

/** Options `monitor` and `enforce` share. */
function observeOptions(cmd: Command): Command {
  const c = cmd
    .addOption(new Option('--format <format>', 'stdout format').choices(['text', 'json']).default('text'))
    .option('--output <sink>', "also send events to file:PATH, webhook:URL, syslog:HOST:PORT (UDP), syslog+tcp:HOST:PORT or otlp[:URL] (an OpenTelemetry collector's OTLP/HTTP base, default $OTEL_EXPORTER_OTLP_ENDPOINT or http://localhost:4318: logs and GenAI spans) (repeatable)", collect, [])
    .option('--record <file>', 'write every event as a JSON line with stable key order (replayable by test-policy)')
    .option('--cgroup <path>', 'attach to this cgroup v2 directory instead of the root')
    .option('--pid <pid>', 'report only this process and its descendants', int('--pid', 1))
    .option('--duration <seconds>', 'stop after this long', seconds)
    .option('--no-tls', 'no TLS plaintext uprobes')
    .option('--tls-capture-all', 'keep copying TLS connections that turn out not to be AI traffic (default: stop after their first request)')
    .option('--tls-libs <list>', `TLS libraries to probe, comma-separated: ${TLS_LIB_CHOICES.join(', ')} (default: all of them)`, tlsLibList)
    .option('--tls-capture-bytes <bytes>', 'plaintext copied per SSL_read/SSL_write call (at most 65536)', int('--tls-capture-bytes', 0, 65536), TLS_CAPTURE_BYTES)
    .option('--no-server-side', 'do not report the server side of DNS/TLS handshakes with remote peers')
    .option('--no-plain-http', 'do not read plain-text HTTP connections (http://: a local Ollama or vLLM, an MCP server on localhost)')
    .option('--mcp-stdio', 'read MCP over stdio (JSON-RPC between a client and the server it spawned); every system call of the host then pays a syscall-entry hook')
    .option('--exe-hash', "report each process's executable's SHA-256 (process.exe_sha256); on anyway under enforce when the policy reads it")
    .addOption(new Option('--hooks <flavour>', 'tracing hooks: the best that loads (tp_btf, else raw_tp), or raw_tp').choices(['auto', 'raw_tp']).default('auto'))
    .option('--ringbuf-mb <mb>', 'ring buffer size in MiB (a power of two)', int('--ringbuf-mb', 1, 1024), 8)
    .option('--no-redact', 'keep API keys, tokens and auth headers in the output (they are replaced by default)')
    .option('--model <file>', 'ONNX behavioural classifier scoring connections as LLM traffic (default: the shipped models/llm-traffic.onnx)')
    .option('--no-model', 'no behavioural classifier (no ml scores)')
    .option('--color', 'colour the text format even when stdout is not a terminal')
    .option('--strict', 'exit (code 1) when a hook does not attach at start, instead of warning and running without it')
    .option('-v, --verbose', "print libbpf's messages")
    .addHelpText('after', '\nOutputs, metrics, dashboard and Kubernetes: see README.md, "Outputs".');
  return outputOptions(c);
}

/** Outputs (engine/cli/observe.ts): sinks, metrics, dashboard, Kubernetes metadata; shared by monitor and enforce. */
function outputOptions(cmd: Command): Command {
  return cmd
    .option('--file-max-mb <mb>', 'rotate file outputs when they would pass this size (0: never)', int('--file-max-mb', 0), 100)
    .option('--file-keep <n>', 'rotated files kept: PATH.1 ... PATH.N', int('--file-keep', 0, 1000), 5)
    .option('--file-fsync <policy>', 'file outputs: never | rotate (before rotating and on exit) | always (every batch) | SECONDS', 'rotate')
    .option('--webhook-header <header>', "'Name: value' sent with every webhook request (repeatable)", collect, [])
    .option('--webhook-token-file <file>', 'send Authorization: Bearer <token read from FILE> to webhooks')
    .option('--webhook-ca <file>', 'PEM CA certificate(s) to trust for https webhooks (instead of the system store)')
    .option('--otlp-header <header>', "'Name: value' sent with every OTLP request (repeatable; OTEL_EXPORTER_OTLP_HEADERS is read too)", collect, [])
    .option('--otlp-ca <file>', 'PEM CA certificate(s) to trust for an https OTLP endpoint (instead of the system store)')
    .option('--webhook-batch <n>', 'events per webhook (and OTLP) request at most', int('--webhook-batch', 1, 100_000), 500)
    .option('--webhook-flush-ms <ms>', 'send a partial webhook (and OTLP) batch after this long', int('--webhook-flush-ms', 1, 600_000), 1000)
    .option('--spill-dir <dir>', 'where webhook and OTLP events wait on disk while the endpoint is down ("" for memory only)', DEFAULT_SPILL_DIR)
    .option('--spill-max-mb <mb>', 'disk the spill may use per webhook; beyond it events are dropped and counted', int('--spill-max-mb', 0), 256)
    .option('--syslog-facility <name>', 'syslog facility (kern, user, daemon, auth, authpriv, local0..local7, ...)', 'local0')
    .option('--syslog-max-bytes <n>', 'longest syslog message; longer events lose their captured content', int('--syslog-max-bytes', 480, 1 << 20), 8192)
    .option('--metrics [addr]', `serve Prometheus metrics at /metrics on PORT or HOST:PORT (default 127.0.0.1:${DEFAULT_METRICS_PORT})`)
    .option('--ui [addr]', `serve the live dashboard on PORT or HOST:PORT (default 127.0.0.1:${DEFAULT_UI_PORT}; off loopback a token is required)`)
    .option('--prices <file>', 'price table for cost estimates (default: data/prices.json)')
    .option('--no-kube', 'do not ask the Kubernetes API server for pod names and labels')
    .option('--kube-api <url>', 'Kubernetes API server (default: from KUBERNETES_SERVICE_HOST/PORT in a pod)')
    .option('--kube-sa-dir <dir>', 'service account directory with token and ca.crt (default: /var/run/secrets/kubernetes.io/serviceaccount)')
    .option('--kube-node <name>', "watch only this node's pods (default: $NODE_NAME)");
}

/** Options of `enforce` (and the demo, which enforces). */
function enforceOptions(cmd: Command): Command {
  return cmd
    .option('--dry-run', 'decide and report, enforce nothing (no connect hooks, nothing held or destroyed)')
    .option('--fail-closed', 'an event the policy cannot decide (an evaluation error) is blocked, not audited')
    .option('--no-gate', 'never hold TLS writes for a decision (content blocks then only cut the connection after the fact)')
    .option('--hold-writes <how>', 'how a TLS write is held until decided: auto (packets where the agent can push a held sender\'s socket, pidfd_getfd; else only a terminal\'s process in the packet hook, so that its shell sees no job stop, and others by stopping the process), packets (every write copied whole whose socket is known, in the packet hook: only its connection waits, not the whole process; where the agent cannot push the sender, at one round trip to the server more), stop (every write by stopping the process)', holdWrites, 'auto')
    .option('--poll-seconds <s>', 'how often an http(s) bundle URL is polled (ETag)', seconds)
    .option('--policies-ca <file>', 'CA bundle (PEM) to trust for an https bundle URL')
    .option('--pin', 'keep enforcement in the kernel after busted stops (bpffs); a later run takes it over (default: everything goes when busted stops)');
}

export function buildCli(): Command {
  const program = new Command('busted')
    .description('eBPF agent that sees, understands and polices the AI traffic of a Linux host')
    .version('0.1.0')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('doctor')
    .description('which kernel features and hooks work here, which TLS libraries were found, which enforcement path would be used')
    .option('--json', 'machine-readable output')
    .option('--cgroup <path>', 'cgroup v2 directory to try cgroup hooks on (default: the root)')
    .action(async (o: { json?: boolean; cgroup?: string }) => {
      process.exitCode = await (await import('./doctor.js')).runDoctor(o);
    });

  observeOptions(program.command('monitor').description('observe and report; never blocks')).action(async (o: MonitorCliOptions) => {
    process.exitCode = await (await import('./monitor.js')).runMonitor(o);
  });

  program
    .command('unpin')
    .description('remove the enforcement an earlier `busted enforce --pin` left attached')
    .option('--cgroup <path>', 'the cgroup it was enforcing on (default: the root)')
    .action(async (o: { cgroup?: string }) => {
      const { unpin } = await import('../kernel/pin.js');
      const { resolveCgroup } = await import('../host/cgroup.js');
      const r = unpin(resolveCgroup(o.cgroup));
      process.stderr.write(r.links + r.maps ? `busted: removed ${r.links} links and ${r.maps} maps (${r.dir})\n` : `busted: nothing was pinned (${r.dir})\n`);
      process.exitCode = 0;
    });

  program
    .command('compile')
    .description('compile Rego to a Wasm module (OUT.wasm) or an OPA-style bundle (OUT.tar.gz)')
    .requiredOption('--policies <dir>', 'directory of .rego files (and data.json)')
    .option('-o, --output <file>', 'OUT.wasm or OUT.tar.gz (needed unless --dump-ir or --dump-ast)')
    .option('-e, --entrypoint <path>', 'entrypoint such as busted/decision (repeatable; default: the rules and packages annotated `entrypoint: true`, else busted/decision)', collect, [])
    .option('--dump-ir', 'print the planner IR (JSON) instead of writing the module')
    .option('--dump-ast', 'print the parsed modules instead of compiling')
    .action(async (o: CompileCliOptions) => {
      process.exitCode = await (await import('./compile.js')).runCompile(o);
    });

  program
    .command('test-policy')
    .description('run Rego unit tests (test_* rules) and recorded-event expectations; exit 0 all pass, 1 a failure, 2 a usage or compile error')
    .requiredOption('--policies <src>', 'directory of .rego files with their *_test.rego (and data.json), or a bundle')
    .option('--events <glob>', 'recorded events (JSON lines) to replay, with their expectations: a file, a directory or a glob (repeatable)', collect, [])
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'junit']).default('text'))
    .option('--junit <file>', 'also write JUnit XML to this file')
    .option('--run <regex>', 'run only the unit tests whose name (data.pkg.test_x) matches')
    .option('-v, --verbose', 'list every test and expectation, and print() output of passing tests')
    .option('--show-decisions', 'list the decision on every replayed event')
    .option('--coverage', 'report the lines and rules no test or event reached')
    .option('--threshold <percent>', 'with --coverage: fail below this coverage', (v) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be a percentage from 0 to 100');
      return n;
    })
    .option('--baseline <src>', 'the policies before a change: list every recorded event whose decision differs')
    .option('--fail-on-diff', 'with --baseline: a changed decision fails the run')
    .option('--v0-compatible', 'parse Rego written for OPA before 1.0')
    .action(async (o: TestPolicyCliOptions) => {
      process.exitCode = await (await import('./test-policy.js')).runTestPolicy(o);
    });

  enforceOptions(
    observeOptions(
      program
        .command('enforce')
        .description('observe, decide every event with the policies, enforce: refuse connections in the kernel, stop blocked requests before they leave')
        .requiredOption('--policies <src>', 'directory of .rego (+ data.json), bundle.tar.gz, unpacked bundle, or http(s):// bundle URL'),
    ),
  ).action(async (o: EnforceCliOptions) => {
    process.exitCode = await (await import('./enforce.js')).runEnforce(o);
  });

  enforceOptions(
    observeOptions(
      program
        .command('demo')
        .description('enforce the shipped policies on this host while a built-in demo talks to local stand-ins for provider endpoints (npm start)')
        .option('--policies <src>', 'policies to enforce', join(PACKAGE_ROOT, 'policies'))
        .option('--monitor-only', 'only observe (busted monitor), decide nothing')
        .option('--follow', 'keep going after the demo'),
    ),
  ).action(async (o: EnforceCliOptions & { follow?: boolean; monitorOnly?: boolean }) => {
    const demo = { follow: o.follow === true };
    process.exitCode = o.monitorOnly ? await (await import('./monitor.js')).runMonitor(o, demo) : await (await import('./enforce.js')).runEnforce(o, demo);
  });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = buildCli();
  try {
    await program.parseAsync(argv);
  } catch (e) {
    const err = e as { code?: string; exitCode?: number; message?: string };
    if (typeof err.code === 'string' && err.code.startsWith('commander.')) {
      // help and version are successes; everything else commander rejects is usage
      process.exitCode = err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help' ? 0 : 2;
      return;
    }
    if (e instanceof BustedError) {
      process.stderr.write(`busted: ${e.code}: ${e.message}\n`);
      process.exitCode = e.code === ErrorCode.USAGE ? 2 : 1;
      return;
    }
    process.stderr.write(`busted: ${(e as Error).stack ?? String(e)}\n`);
    process.exitCode = 1;
  }
}
