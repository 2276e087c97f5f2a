/**
 * Loading a behavioural classifier (an ONNX file) and checking, before
 * anything touches the kernel, that it is one this engine can feed: its
 * metadata names the feature version and the feature names that
 * engine/ml/features.ts computes, its input is `features` (float32
 * [N, FEATURE_COUNT]) and its outputs are tensors (`probabilities` float32
 * [N, labels], and usually `label`). Every problem is a BustedError with
 * code BUSTED_E_MODEL that says which of these it is; the model is also
 * run once on a zero vector, so that a model that loads but cannot run
 * fails here and not on the first connection.
 *
 * One session, one intra-op thread, sequential execution: the classifier
 * runs small batches on the agent's own thread, between ring buffer reads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InferenceSession, Tensor } from 'onnxruntime-node';
import { BustedError, ErrorCode } from '../model/errors.js';
import { PACKAGE_ROOT } from '../paths.js';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION } from './features.js';
import { OnnxFormatError, readOnnxInfo, type OnnxInfo } from './onnx-meta.js';

/** The shipped model, used unless --model names another (or --no-model). */
export const DEFAULT_MODEL = join(PACKAGE_ROOT, 'models', 'llm-traffic.onnx');

/** The metadata keys a busted model carries (training/train.py writes them). */
export const META = {
  featureVersion: 'busted.feature_version',
  features: 'busted.features',
  labels: 'busted.labels',
  positive: 'busted.positive_label',
} as const;

export const INPUT_NAME = 'features';
export const PROBABILITIES = 'probabilities';

export interface LoadedModel {
  path: string;
  info: OnnxInfo;
  /** class names, in the order of the probabilities' columns */
  labels: string[];
  /** the column of the LLM class */
  positive: number;
  /** rows of FEATURE_COUNT values → per row, the probabilities of every class (row-major) */
  run(rows: Float32Array, n: number): Promise<Float32Array>;
  close(): Promise<void>;
}

function fail(path: string, what: string): BustedError {
  return new BustedError(ErrorCode.MODEL, `model ${path}: ${what}`, 'model');
}

/** The checks on the metadata alone (no onnxruntime): exported for tests. */
export function checkMetadata(path: string, info: OnnxInfo): { labels: string[]; positive: number } {
  const md = info.metadata;
  const v = md[META.featureVersion];
  if (v === undefined) throw fail(path, `no ${META.featureVersion} in its metadata: not a busted classifier (train one with training/)`);
  if (String(FEATURE_VERSION) !== v.trim()) {
    throw fail(path, `it was trained on feature version ${v}; this busted computes feature version ${FEATURE_VERSION} (retrain it with this version's training/, or use the busted it was made for)`);
  }
  const names = (md[META.features] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (names.length !== FEATURE_COUNT || names.some((n, i) => n !== FEATURE_NAMES[i])) {
    const i = names.findIndex((n, k) => n !== FEATURE_NAMES[k]);
    throw fail(path, `its feature names do not match feature version ${FEATURE_VERSION} (${names.length} names, want ${FEATURE_COUNT}${i >= 0 ? `; column ${i} is ${names[i]}, want ${FEATURE_NAMES[i]}` : ''})`);
  }
  const labels = (md[META.labels] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (labels.length < 2) throw fail(path, `${META.labels} must name at least two classes (got "${md[META.labels] ?? ''}")`);
  const positive = labels.indexOf(md[META.positive]?.trim() || 'llm');
  if (positive < 0) throw fail(path, `its labels (${labels.join(', ')}) have no ${md[META.positive] ?? 'llm'} class`);
  return { labels, positive };
}

export async function loadModel(path: string): Promise<LoadedModel> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw fail(path, err.code === 'ENOENT' ? 'no such file' : `cannot be read (${err.code ?? err.message})`);
  }
  let info: OnnxInfo;
  try {
    info = readOnnxInfo(bytes);
  } catch (e) {
    if (e instanceof OnnxFormatError) throw fail(path, `not an ONNX model: ${e.message}`);
    throw e;
  }
  const { labels, positive } = checkMetadata(path, info);

  // Loaded only when a model is used: --no-model never maps the runtime.
  const ort = await import('onnxruntime-node');
  ort.env.logLevel = 'error';
  let session: InferenceSession;
  try {
    session = await ort.InferenceSession.create(bytes, {
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      executionMode: 'sequential',
      graphOptimizationLevel: 'all',
      // a tree ensemble on small batches needs no arena: its memory stays with the agent's RSS
      enableCpuMemArena: false,
      enableMemPattern: false,
      logSeverityLevel: 3,
    });
  } catch (e) {
    throw fail(path, `onnxruntime cannot load it: ${firstLine(e)}`);
  }
  try {
    if (!session.inputNames.includes(INPUT_NAME)) throw fail(path, `no input named ${INPUT_NAME} (it has ${session.inputNames.join(', ') || 'none'})`);
    if (!session.outputNames.includes(PROBABILITIES)) throw fail(path, `no output named ${PROBABILITIES} (it has ${session.outputNames.join(', ') || 'none'})`);
    for (const m of session.outputMetadata) {
      // onnxruntime-node cannot hand back ZipMap's maps: every output must be a tensor
      if (!m.isTensor) throw fail(path, `output ${m.name} is not a tensor (export with zipmap=False: probabilities as a tensor)`);
    }
    const input = session.inputMetadata.find((m) => m.name === INPUT_NAME);
    if (input?.isTensor) {
      if (input.type !== 'float32') throw fail(path, `input ${INPUT_NAME} is ${input.type}, want float32`);
      const cols = input.shape[1];
      if (input.shape.length !== 2 || (typeof cols === 'number' && cols !== FEATURE_COUNT)) {
        throw fail(path, `input ${INPUT_NAME} has shape [${input.shape.join(', ')}], want [N, ${FEATURE_COUNT}]`);
      }
    }
    const run = async (rows: Float32Array, n: number): Promise<Float32Array> => {
      const out = await session.run({ [INPUT_NAME]: new ort.Tensor('float32', rows, [n, FEATURE_COUNT]) }, [PROBABILITIES]);
      const p = out[PROBABILITIES] as Tensor;
      if (p.type !== 'float32' || p.dims.length !== 2 || p.dims[0] !== n || p.dims[1] !== labels.length) {
        throw fail(path, `output ${PROBABILITIES} is ${p.type} [${p.dims.join(', ')}], want float32 [${n}, ${labels.length}]`);
      }
      return p.data as Float32Array;
    };
    // one trial run: a model that loads but cannot run fails now
    try {
      const p = await run(new Float32Array(FEATURE_COUNT), 1);
      if (![...p].every(Number.isFinite)) throw fail(path, `it returns non-finite probabilities (${[...p].join(', ')})`);
    } catch (e) {
      if (e instanceof BustedError) throw e;
      throw fail(path, `a trial run failed: ${firstLine(e)}`);
    }
    return { path, info, labels, positive, run, close: () => session.release() };
  } catch (e) {
    await session.release().catch(() => {});
    throw e;
  }
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split('\n')[0]!;
}
