// The shipped classifier (models/llm-traffic.onnx) through onnxruntime-node:
// parity with the trainer's own answers on its parity file, the metadata
// contract (feature version and names), and every way a model can be
// wrong failing at load with BUSTED_E_MODEL and a message that says why —
// in the engine and through `busted monitor --model`.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FEATURE_COUNT, FEATURE_NAMES, FEATURE_VERSION } from '../../engine/ml/features.js';
import { DEFAULT_MODEL, loadModel, META } from '../../engine/ml/model.js';
import { readOnnxInfo } from '../../engine/ml/onnx-meta.js';
import { BustedError, ErrorCode } from '../../engine/model/errors.js';
import { PACKAGE_ROOT } from '../../engine/paths.js';

const tmp = mkdtempSync(join(tmpdir(), 'busted-model-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

interface Parity {
  model: string;
  feature_version: number;
  features: string[];
  labels: string[];
  tolerance: number;
  kinds: string[];
  inputs: number[][];
  probabilities: number[][];
  label: number[];
}

const MODELS = join(PACKAGE_ROOT, 'models');
const shipped = readFileSync(DEFAULT_MODEL);

/** A copy of the shipped model with one byte string replaced by another of the same length. */
function patched(from: string, to: string): string {
  assert.equal(from.length, to.length);
  const b = Buffer.from(shipped);
  const at = b.indexOf(from);
  assert.ok(at >= 0, `${from} not in the model`);
  b.write(to, at, 'latin1');
  const f = join(tmp, `m-${Math.random().toString(36).slice(2)}.onnx`);
  writeFileSync(f, b);
  return f;
}

async function loadError(path: string): Promise<BustedError> {
  try {
    const m = await loadModel(path);
    await m.close();
  } catch (e) {
    assert.ok(e instanceof BustedError, String(e));
    assert.equal(e.code, ErrorCode.MODEL);
    return e;
  }
  assert.fail(`${path} loaded`);
}

describe('the shipped model', () => {
  it('carries the feature version and names this engine computes', () => {
    const info = readOnnxInfo(shipped);
    assert.equal(info.metadata[META.featureVersion], String(FEATURE_VERSION));
    assert.deepEqual(info.metadata[META.features]!.split(','), FEATURE_NAMES);
    assert.equal(info.metadata[META.labels], 'other,llm');
  });

  for (const file of ['llm-traffic.parity.json']) {
    it(`answers as the trainer did on ${file} (onnxruntime-node)`, async () => {
      const p = JSON.parse(readFileSync(join(MODELS, file), 'utf8')) as Parity;
      assert.equal(p.feature_version, FEATURE_VERSION);
      assert.deepEqual(p.features, FEATURE_NAMES);
      assert.ok(p.inputs.length >= 10, 'a parity file worth the name');
      const m = await loadModel(join(MODELS, p.model));
      try {
        assert.deepEqual(m.labels, p.labels);
        const rows = new Float32Array(p.inputs.length * FEATURE_COUNT);
        p.inputs.forEach((r, i) => {
          assert.equal(r.length, FEATURE_COUNT);
          rows.set(r, i * FEATURE_COUNT);
        });
        // all at once (a batch), and one by one: the same answers
        const batch = await m.run(rows, p.inputs.length);
        for (let i = 0; i < p.inputs.length; i++) {
          const one = await m.run(rows.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT), 1);
          for (let c = 0; c < p.labels.length; c++) {
            const want = p.probabilities[i]![c]!;
            assert.ok(Math.abs(batch[i * p.labels.length + c]! - want) <= p.tolerance, `row ${i} (${p.kinds[i]}) class ${c}: ${batch[i * p.labels.length + c]} vs the trainer's ${want}`);
            assert.equal(one[c], batch[i * p.labels.length + c]);
          }
          const best = batch[i * 2 + 1]! > batch[i * 2]! ? 1 : 0;
          assert.equal(best, p.label[i], `row ${i} (${p.kinds[i]}): label`);
        }
        // the parity rows are not all one class
        assert.ok(new Set(p.label).size === 2, 'parity rows of both classes');
      } finally {
        await m.close();
      }
    });
  }
});

describe('a model that cannot be used is an error at load', () => {
  it('a missing file', async () => {
    assert.match((await loadError(join(tmp, 'nope.onnx'))).message, /nope\.onnx: no such file/);
  });

  it('a file that is not ONNX', async () => {
    const f = join(tmp, 'text.onnx');
    writeFileSync(f, 'this is not a model\n');
    assert.match((await loadError(f)).message, /not an ONNX model/);
  });

  it('a cut-off file', async () => {
    const f = join(tmp, 'cut.onnx');
    writeFileSync(f, shipped.subarray(0, shipped.length >> 1));
    assert.match((await loadError(f)).message, /not an ONNX model: .*runs past the end/);
  });

  it('an ONNX model that is not a busted classifier (no feature version)', async () => {
    assert.match((await loadError(patched('busted.feature_version', 'busted.feature_versioX'))).message, /no busted\.feature_version in its metadata: not a busted classifier/);
  });

  it('a model of another feature version', async () => {
    const info = readOnnxInfo(shipped);
    const v = info.metadata[META.featureVersion]!;
    const other = String((Number(v) + 1) % 10);
    // the value follows its key in the metadata entry: key, then 0x12, length, value
    const e = await loadError(patched(`busted.feature_version\x12\x01${v}`, `busted.feature_version\x12\x01${other}`));
    assert.match(e.message, new RegExp(`trained on feature version ${other}; this busted computes feature version ${FEATURE_VERSION}`));
  });

  it('a model whose feature names differ', async () => {
    const e = await loadError(patched(`,${FEATURE_NAMES[3]},`, `,${FEATURE_NAMES[3]!.replace(/.$/, 'X')},`));
    assert.match(e.message, /feature names do not match feature version \d+ .*column 3 is/);
  });

  it('a model onnxruntime cannot load (an operator it does not have)', async () => {
    assert.match((await loadError(patched('TreeEnsembleClassifier', 'TreeEnsembleClassifieX'))).message, /onnxruntime cannot load it/);
  });
});

describe('busted monitor --model', () => {
  const bin = join(PACKAGE_ROOT, 'bin', 'busted.js');
  const busted = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 60_000 });

  it('a missing model stops it at start with BUSTED_E_MODEL (exit 1), before anything is attached', () => {
    const r = busted('monitor', '--model', join(tmp, 'missing.onnx'), '--duration', '1');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /BUSTED_E_MODEL: model .*missing\.onnx: no such file/);
    assert.doesNotMatch(r.stderr, /monitoring/);
  });

  it('a model of another feature version stops it at start', () => {
    const v = readOnnxInfo(shipped).metadata[META.featureVersion]!;
    const f = patched(`busted.feature_version\x12\x01${v}`, `busted.feature_version\x12\x01${(Number(v) + 1) % 10}`);
    const r = busted('monitor', '--model', f, '--duration', '1');
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /BUSTED_E_MODEL: .*feature version/);
    assert.doesNotMatch(r.stderr, /monitoring/);
  });
});
