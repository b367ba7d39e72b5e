#!/usr/bin/env bash
# The prepared GPU check (one short run on one CUDA GPU, planned to fit in 8 minutes on an H100):
# the GPU profile configs/gpu-paper-sizes.yaml -- every MBRNN variant, CAML and LAAT at the paper's sizes (hidden
# 300, frozen CBOW embeddings, 4,000 tokens, lr 1e-3, patience 10) on the embedded demo, trained side by side on
# the one GPU (benchmarks/gpu_profile.py) -- then prints the main and ablation tables and the times.
#   bash benchmarks/gpu_check.sh [SEED ...]     e.g. `bash benchmarks/gpu_check.sh 0 1 2` for mean ± SD over 3 seeds
#   bash benchmarks/gpu_check.sh scale          issue 11's checks instead (benchmarks/gpu_scale.py, about 3-4 min):
#       the GRU's gradient under bf16 autocast vs fp32, throughput and peak memory at the paper's shape and at the
#       demo cohort's real note lengths, beside the code before issue 11 and the reference's plain fp32 BiGRU.
#   GPU_CHECK_LIMIT=480 (seconds, default) stops the profile there; GPU_CHECK_THROUGHPUT=1 adds the training-
#   throughput benchmark at the demo and the paper's shape (about 5 more minutes).
# Needs the study's environment (bash scripts/setup.sh, with a CUDA build of torch: see README). Outputs go to
# data/gpu-profile/ (not tracked); params.yaml is not touched.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: this check is for a GPU machine")'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python -m mbrnn prepare-data
if [ "${1:-}" = scale ]; then
  [ -d data/cohort ] || dvc repro cohort
  exec timeout "${GPU_CHECK_LIMIT:-480}" python benchmarks/gpu_scale.py --cohort data/cohort --out gpu_scale.json
fi
seeds=()
if [ "$#" -gt 0 ]; then seeds=(--seeds "$@"); fi
timeout "${GPU_CHECK_LIMIT:-480}" python benchmarks/gpu_profile.py "${seeds[@]}" || {
  echo "gpu_profile stopped or failed (limit ${GPU_CHECK_LIMIT:-480} s); models finished:"
  ls data/gpu-profile/reports/metrics/models 2>/dev/null || true
  exit 1
}
if [ "${GPU_CHECK_THROUGHPUT:-0}" = 1 ]; then
  python benchmarks/train_throughput.py --device cuda --shapes demo --steps 20
  python benchmarks/train_throughput.py --device cuda --shapes paper --steps 300 --extrapolate
fi
