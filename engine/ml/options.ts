/** The classifier as the commands that observe (monitor, enforce) set it up from --model / --no-model. */
import { Classifier } from './classifier.js';

/**
 * The shipped model unless `--model FILE` names another; none with
 * `--no-model`. Loaded and checked before anything touches the kernel: a
 * missing or broken model is a BUSTED_E_MODEL error at start.
 */
export async function classifierFromOptions(o: { model?: string | false }): Promise<Classifier | undefined> {
  if (o.model === false) return undefined;
  return Classifier.load(o.model === undefined ? undefined : o.model, {
    onError: (m) => process.stderr.write(`busted: warning: ${m}\n`),
  });
}

/** One line for the exit summary. */
export function classifierSummary(c: Classifier): string {
  const s = c.stats;
  const ms = s.batches ? (s.inferenceNs / s.batches / 1e6).toFixed(2) : '-';
  return `classifier ${c.model.path}: ${s.scored} connection snapshots scored in ${s.batches} batches (${ms} ms from queued to scored, on average), ${s.annotated} events annotated${s.dropped ? `, ${s.dropped} dropped` : ''}${s.errors ? `, ${s.errors} failed batches` : ''}`;
}
