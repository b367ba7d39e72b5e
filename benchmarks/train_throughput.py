"""Training throughput (tokens/s) and peak memory of MBRNN, CAML and LAAT, side by side, in one run.

Two shapes:
  demo   the demo's settings from params.yaml (batch, max_tokens, model sizes) with 50 labels
  paper  the paper's: 4,000 tokens, 8,922 ICD labels (+ CCS for MBRNN), batch 16, paper model sizes

Each (model, shape) runs in a fresh process: a warm-up step, then ``--steps`` timed optimisation steps
(forward, focal/BCE loss, backward, AdamW) on random tokens. Peak memory is the process's peak RSS on CPU and
``torch.cuda.max_memory_allocated`` on CUDA. ``--extrapolate`` prints s/epoch for MIMIC-III full (47,719
training documents) from the measured step time.

    python benchmarks/train_throughput.py                       # both shapes on this machine's device
    python benchmarks/train_throughput.py --shapes demo --steps 5
    python benchmarks/train_throughput.py --device cuda --steps 300 --extrapolate   # the GPU check
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys

import yaml

from mbrnn.train import LOSS_KEYS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MIMIC_TRAIN_DOCS = 47_719
PAPER = {
    "mbrnn": {"arch": "mbrnn", "hidden": 300},
    "caml": {"arch": "caml", "num_filters": 50, "kernel_size": 10},
    "laat": {"arch": "laat", "hidden": 512, "d_a": 512},
}

STEP = r"""
import json, resource, sys, time
import numpy as np, torch
from mbrnn.losses import build_loss
from mbrnn.models import build_model
cfg, shape, steps, device = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
torch.manual_seed(0)
dev = torch.device(device)
B, L, n_icd, n_ccs, V = shape["batch"], shape["tokens"], shape["n_icd"], shape["n_ccs"], 30000
W = np.random.default_rng(0).standard_normal((V, 100)).astype(np.float32)
model = build_model(cfg, W, n_icd, n_ccs).to(dev)
loss_fn = build_loss("focal" if cfg["arch"] == "mbrnn" else "bce")
opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
tokens = torch.randint(2, V, (B, L), device=dev)
mask = torch.ones(B, L, dtype=torch.bool, device=dev)
targets = {"icd": (torch.rand(B, n_icd, device=dev) < 0.002).float(), "ccs": (torch.rand(B, n_ccs, device=dev) < 0.02).float()}
amp = dev.type == "cuda"
def step():
    with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
        out = model(tokens, mask)
    loss = loss_fn({k: v.float() for k, v in out.items()}, {k: targets[k] for k in out})
    opt.zero_grad(set_to_none=True); loss.backward(); opt.step()
step()  # warm-up
if amp: torch.cuda.synchronize(); torch.cuda.reset_peak_memory_stats()
t = time.perf_counter()
for _ in range(steps):
    step()
if amp: torch.cuda.synchronize()
dt = (time.perf_counter() - t) / steps
peak = torch.cuda.max_memory_allocated() / 2**20 if amp else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s_per_step": dt, "tokens_per_s": B * L / dt, "peak_mb": peak,
                  "params_m": sum(p.numel() for p in model.parameters()) / 1e6}))
"""


def shapes(which: list[str]) -> dict:
    params = yaml.safe_load(open(os.path.join(ROOT, "params.yaml")))
    tr, models = params["train"], params["models"]
    out = {}
    if "demo" in which:
        out["demo"] = ({"batch": tr["batch_size"], "tokens": tr["max_tokens"], "n_icd": 50, "n_ccs": 35},
                       {m: {k: v for k, v in models[m].items() if k not in LOSS_KEYS}
                        for m in ("mbrnn", "caml", "laat")})
    if "paper" in which:
        out["paper"] = ({"batch": 16, "tokens": 4000, "n_icd": 8922, "n_ccs": 1000}, PAPER)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shapes", nargs="+", default=["demo", "paper"], choices=["demo", "paper"])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--extrapolate", action="store_true", help="print s/epoch for MIMIC-III full (47,719 docs)")
    args = ap.parse_args()

    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""))
    print(f"{'shape':<6} {'model':<6} {'batch':>5} {'tokens':>6} {'labels':>6} {'params M':>8} {'s/step':>8} "
          f"{'tokens/s':>9} {'peak MB':>8}" + (f" {'s/epoch MIMIC-full':>19}" if args.extrapolate else ""))
    for name, (shape, cfgs) in shapes(args.shapes).items():
        for model, cfg in cfgs.items():
            r = subprocess.run([sys.executable, "-c", STEP, json.dumps(cfg), json.dumps(shape), str(args.steps),
                                args.device], capture_output=True, text=True, cwd=ROOT)
            if r.returncode != 0:
                print(f"{name:<6} {model:<6} failed: {r.stderr.strip().splitlines()[-1] if r.stderr else r.returncode}")
                continue
            m = json.loads(r.stdout.strip().splitlines()[-1])
            line = (f"{name:<6} {model:<6} {shape['batch']:>5} {shape['tokens']:>6} {shape['n_icd']:>6} "
                    f"{m['params_m']:>8.2f} {m['s_per_step']:>8.3f} {m['tokens_per_s']:>9.0f} {m['peak_mb']:>8.0f}")
            if args.extrapolate:
                line += f" {m['s_per_step'] * MIMIC_TRAIN_DOCS / shape['batch']:>19.0f}"
            print(line, flush=True)


if __name__ == "__main__":
    main()
