/**
 * Where `monitor` and `enforce` send events: stdout (text or JSON) and the
 * `--record` file (the `--output` sinks, metrics and the dashboard are added
 * by observe.ts, which calls this). Both commands build them here
 * (before anything touches the kernel, so a bad path is a usage error) and
 * bind them to the running agent, so that a sink's trouble (a full disk
 * under the recording) becomes an `error` event and a stderr line, never a
 * reason to stop.
 */
import { ErrorCode } from '../model/errors.js';
import { DiscardSink, isDevNull, LineSink } from '../sinks/jsonl.js';
import { RecordSink } from '../sinks/record.js';
import type { Sink } from '../sinks/sink.js';
import { textFormatter } from '../sinks/text.js';

export interface SinkCliOptions {
  format: 'text' | 'json';
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
  // stdout on /dev/null: nobody reads it, so no line is made for it (the
  // JSON or text of every event was most of the agent's time per event)
  const sinks: Sink[] = [
    isDevNull(1)
      ? new DiscardSink('stdout')
      : new LineSink('stdout', process.stdout, o.format === 'json' ? { onError: hooks.onStdoutError } : { format: textFormatter(color), onError: hooks.onStdoutError }),
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
  return {
    sinks,
    bind(report) {
      reporter = report;
      for (const [code, message] of early.splice(0)) report(code, message, 'record');
    },
  };
}
