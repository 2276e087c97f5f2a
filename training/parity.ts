/**
 * Checks an exported model against its parity file through onnxruntime-node
 * (the last step of training/run.sh; test/ml/model.test.ts checks the
 * shipped one the same way).
 *
 *   node dist/training/parity.js models/llm-traffic.parity.json
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FEATURE_COUNT } from '../engine/ml/features.js';
import { loadModel } from '../engine/ml/model.js';

export async function checkParity(file: string): Promise<{ rows: number; maxError: number }> {
  const p = JSON.parse(readFileSync(file, 'utf8')) as { model: string; tolerance: number; inputs: number[][]; probabilities: number[][] };
  const m = await loadModel(join(dirname(file), p.model));
  try {
    const rows = new Float32Array(p.inputs.length * FEATURE_COUNT);
    p.inputs.forEach((r, i) => rows.set(r, i * FEATURE_COUNT));
    const out = await m.run(rows, p.inputs.length);
    const k = m.labels.length;
    let maxError = 0;
    p.probabilities.forEach((row, i) => row.forEach((want, c) => (maxError = Math.max(maxError, Math.abs(out[i * k + c]! - want)))));
    if (maxError > p.tolerance) throw new Error(`${file}: onnxruntime and the trainer differ by ${maxError} (tolerance ${p.tolerance})`);
    return { rows: p.inputs.length, maxError };
  } finally {
    await m.close();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const r = await checkParity(process.argv[2] ?? 'models/llm-traffic.parity.json');
  process.stderr.write(`parity: ${r.rows} rows, largest difference ${r.maxError}\n`);
}
