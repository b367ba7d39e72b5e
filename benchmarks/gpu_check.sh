#!/usr/bin/env bash
# The prepared GPU check (one short run on a CUDA machine; about 5-8 minutes on an H100):
# the training-throughput benchmark at the demo and the paper's shape, then a few hundred optimisation steps at
# the paper's shape (4,000 tokens, 8,922 labels, batch 16, bf16 autocast) per model, with s/epoch extrapolated
# to MIMIC-III full (47,719 training documents).
#   bash benchmarks/gpu_check.sh [STEPS]        (needs the study's environment: bash scripts/setup.sh first)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
python -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else "no CUDA device: this check is for a GPU machine")'
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python benchmarks/train_throughput.py --device cuda --shapes demo --steps 20
python benchmarks/train_throughput.py --device cuda --shapes paper --steps "${1:-300}" --extrapolate
