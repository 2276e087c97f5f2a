/**
 * Where `monitor` and `enforce` send events: stdout (text or JSON), the
 * `--record` file and the `--output` sinks. Both commands build them here
 * (before anything touches the kernel, so a bad path is a usage error) and
 * bind them to the running agent, so that a sink's trouble (a full disk
 * under the recording) becomes an `error` event and a stderr line, never a
 * reason to stop.
 */
import { BustedError, ErrorCode } from '../model/errors.js';
import { fileSink, LineSink } from '../sinks/jsonl.js';
import { RecordSink } from '../sinks/record.js';
import type { Sink } from '../sinks/sink.js';
import { textFormatter } from '../sinks/text.js';

/** Output sinks named by --output; validated before anything touches the kernel. */
export function outputSinks(specs: string[]): Sink[] {
  return specs.map((spec) => {
    const colon = spec.indexOf(':');
    const kind = colon < 0 ? spec : spec.slice(0, colon);
    const arg = colon < 0 ? '' : spec.slice(colon + 1);
    if (kind === 'file' && arg) return fileSink(`file:${arg}`, arg);
    if (kind === 'webhook' || kind === 'syslog' || kind === 'syslog+tcp') {
      throw new BustedError(ErrorCode.USAGE, `--output ${spec}: the ${kind} sink is not built yet (file:PATH is)`, 'output');
    }
    throw new BustedError(ErrorCode.USAGE, `--output ${spec}: expected file:PATH, webhook:URL, syslog:HOST:PORT or syslog+tcp:HOST:PORT`, 'output');
  });
}

export interface SinkCliOptions {
  format: 'text' | 'json';
  output: string[];
  record?: string;
  color?: boolean;
}

/** How a sink's trouble is reported once the agent runs: an `error` event (Interpreter.error). */
export type ProblemReporter = (code: string, message: string, field?: string) => void;

export interface EventSinks {
  sinks: Sink[];
  /** Call once the agent runs: problems from then on (and any before) become error events. */
  bind(report: ProblemReporter): void;
}

/** The --record sink: its failures and recoveries go to stderr and, once bound, the event stream. */
export function recordSink(path: string, report: (kind: 'failed' | 'resumed', message: string) => void): RecordSink {
  return new RecordSink(`record:${path}`, path, { onProblem: (p) => report(p.kind, p.message) });
}

export function eventSinks(o: SinkCliOptions, hooks: { onStdoutError: () => void }): EventSinks {
  const color = o.color ?? process.stdout.isTTY === true;
  const early: Array<[string, string]> = [];
  let reporter: ProblemReporter | undefined;
  const sinks: Sink[] = [
    new LineSink('stdout', process.stdout, o.format === 'json' ? { onError: hooks.onStdoutError } : { format: textFormatter(color), onError: hooks.onStdoutError }),
  ];
  if (o.record) {
    sinks.push(
      recordSink(o.record, (kind, message) => {
        process.stderr.write(`busted: ${kind === 'failed' ? 'warning: ' : ''}${message}\n`);
        if (kind !== 'failed') return;
        if (reporter) reporter(ErrorCode.SINK, message, 'record');
        else early.push([ErrorCode.SINK, message]);
      }),
    );
  }
  sinks.push(...outputSinks(o.output));
  return {
    sinks,
    bind(report) {
      reporter = report;
      for (const [code, message] of early.splice(0)) report(code, message, 'record');
    },
  };
}
