#!/usr/bin/env bash
# Issue 11's GPU check as one prepared run, planned to fit in 8 minutes on one H100:
#   1. the whole GPU path through the study's own stages: a 3,000-admission synthetic cohort in MIMIC-III format,
#      every code kept as a label, then the stages cohort, embeddings and train@mbrnn for one epoch at the paper's
#      settings (configs/paper-full.yaml: 4,000 tokens, hidden 300, batch 16) -- benchmarks/gpu_stage.py, ~1-2 min;
#   2. precision: the GRU's gradient under bf16 autocast against fp32 at the paper's shape; throughput and peak
#      memory at the paper's shape and at that cohort's real note lengths (s/epoch of training and of the dev
#      evaluation for MIMIC-III full and top-50), beside the code before issue 11 and the reference's plain fp32
#      BiGRU -- benchmarks/gpu_scale.py, ~3-4 min.
#
#   bash benchmarks/gpu_check.sh                  the check; figures in data/gpu-check/ (gpu_scale.json, stage logs)
#   bash benchmarks/gpu_check.sh prepare          the same path on the CPU at tiny sizes (verifies it up to CUDA)
#   bash benchmarks/gpu_check.sh profile [SEED..] issue 9's GPU profile instead: every model at the paper's sizes on
#                                                 the demo, side by side on the GPU (benchmarks/gpu_profile.py)
# A bare GPU machine lacks papermill, jupytext, ipykernel and gensim: run `bash benchmarks/gpu_wheels.sh` where pip
# works, carry .whl/ along, and this script installs it first. GPU_CHECK_OUT sets the output folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=$(command -v python || command -v python3)
if [ -d .whl ]; then
  "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH="/tmp/site:$PWD${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
out=${GPU_CHECK_OUT:-data/gpu-check}
mode=${1:-check}
if [ "$mode" = prepare ]; then
  "$PY" benchmarks/gpu_stage.py --prepare-only --out "$out"
  exec "$PY" benchmarks/gpu_scale.py --prepare-only --cohort "$out/cohort" --out "$out/gpu_scale.json"
fi
"$PY" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: this check is for a GPU machine")'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
if [ "$mode" = profile ]; then
  shift
  "$PY" -m mbrnn prepare-data
  seeds=()
  if [ "$#" -gt 0 ]; then seeds=(--seeds "$@"); fi
  exec timeout "${GPU_CHECK_LIMIT:-480}" "$PY" benchmarks/gpu_profile.py "${seeds[@]}"
fi
start=$SECONDS
timeout 180 "$PY" benchmarks/gpu_stage.py --out "$out"
echo "[gpu_check: stages done at $((SECONDS - start)) s]"
timeout $((470 - (SECONDS - start))) "$PY" benchmarks/gpu_scale.py --cohort "$out/cohort" --out "$out/gpu_scale.json"
echo "[gpu_check: done in $((SECONDS - start)) s; figures in $out/gpu_scale.json]"
