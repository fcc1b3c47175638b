#!/usr/bin/env bash
# The full study on this machine, resumable: rerun this script after an interruption.
# Usage: nohup nice -n -5 bash training/run_all.sh > runs/train.log 2>&1 &
set -u
cd "$(dirname "$0")/.."
mkdir -p runs
for model in vgg16 simple deeper; do
  if [ -f "runs/$model/result.json" ]; then echo "== $model: done already"; continue; fi
  echo "== $model: start $(date -Is)"
  python -m training train "$model" --resume --precision auto || echo "== $model: FAILED"
  echo "== $model: end $(date -Is)"
done
