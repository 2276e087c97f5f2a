#!/usr/bin/env bash
# The classifier's whole training pipeline, one command (as root, on this
# project's kind of machine):
#
#   bash training/run.sh [--seed N] [--scale X] [--concurrency N]
#
# 1. set-up: Debian's python3-sklearn and python3-onnx (for /usr/bin/python3),
#    the project's build (BPF objects, TypeScript)
# 2. generate: real traffic of every kind, watched by the real agent, recorded
#    (training/data/{train,heldout}.jsonl, manifest.json)       ~15 min at scale 1
# 3. extract: the recordings through engine/ml/features.ts → features.csv
# 4. train: scikit-learn, exported to models/llm-traffic.onnx with its parity
#    file and held-out report (models/llm-traffic.report.md)
# 5. parity: the exported model through onnxruntime-node against the trainer
#
# Options go to the generator. Nothing here runs in CI (npm test checks the
# shipped model's parity and behaviour instead).
set -euo pipefail
cd "$(dirname "$0")/.."
say() { printf 'training: %s\n' "$*" >&2; }

PKGS=(python3-sklearn python3-onnx python3-numpy)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
bash scripts/setup.sh

say "generating traffic (recorded by busted monitor)"
node dist/training/generate.js --out training/data "$@"
say "extracting feature vectors"
node dist/training/extract.js --data training/data
say "training"
/usr/bin/python3 training/train.py --data training/data --out models
say "parity through onnxruntime-node"
node dist/training/parity.js models/llm-traffic.parity.json
say "done: models/llm-traffic.onnx, models/llm-traffic.report.md"
