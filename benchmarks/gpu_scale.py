"""Issue 11's GPU checks as one prepared run (about 3-4 minutes on one H100; called by gpu_check.sh).

1. Precision: the GRU's gradient at the paper's shape (MBRNN, hidden 300, batch 16 x 4,000 tokens, 8,922 ICD +
   1,000 CCS labels, focal loss, dropout off so the runs differ only in precision) under bf16 autocast with this
   code's fp32 recurrence (``ours``) and with the code before issue 11 (``legacy``: the GRU inside autocast),
   each against a pure fp32 run (autocast off, TF32 off): norm, relative error of the norm, cosine, share of
   exact zeros, and the dtype the recurrence ran in.
2. Throughput at the paper's shape: ``train_throughput.py --shapes paper`` with the variants ours, legacy
   (the code before) and reference (the authors' computation: plain fp32 bidirectional GRU, no masking).
3. Throughput at real lengths: ``train_throughput.py --lengths COHORT`` (the cohort's own token counts at
   MIMIC-III's split sizes through the study's length-bucketed loader): s/epoch of training and of the dev
   evaluation for MIMIC-III full and top-50, same variants.

    python benchmarks/gpu_scale.py --cohort data/cohort --out gpu_scale.json     # on a CUDA machine
    python benchmarks/gpu_scale.py --prepare-only                                # CPU: the same code at a tiny shape

``--prepare-only`` runs every step on the CPU at a tiny shape (seconds to minutes), so a GPU session starts from
a script that is known to run up to its first CUDA call. The cohort folder must exist (any cohort: only the
token counts of its train and dev notes are read).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import train_throughput as tt  # noqa: E402  (benchmarks/ is not a package)

PAPER_SHAPE = {"B": 16, "L": 4000, "n_icd": 8922, "n_ccs": 1000, "hidden": 300}
TINY_SHAPE = {"B": 4, "L": 40, "n_icd": 30, "n_ccs": 7, "hidden": 16}
GPU_RUNS = {  # train_throughput arguments of steps 2 and 3 on the GPU, and their tiny CPU versions
    "paper": (["--shapes", "paper", "--steps", "10"], ["--shapes", "demo", "--demo-tokens", "32", "--steps", "1"]),
    "lengths": (["--steps", "20", "--eval-steps", "8"],
                ["--max-tokens", "48", "--sizes", "demo", "--steps", "1", "--eval-steps", "1"]),
}


def grad_run(mode: str, shape: dict, device: str) -> dict:
    """One forward/backward of MBRNN at `shape` in `mode` (fp32 | ours | legacy); the GRU's gradient."""
    import torch

    from mbrnn.losses import build_loss
    from mbrnn.models import build_model

    W = np.random.default_rng(0).standard_normal((tt.VOCAB, 100)).astype(np.float32)
    torch.manual_seed(0)
    cfg = {"arch": "mbrnn", "hidden": shape["hidden"], "embed_dropout": 0.0, "ram_dropout": 0.0}
    model = build_model(cfg, W, shape["n_icd"], shape["n_ccs"]).to(device).train()
    if mode == "legacy":
        tt.make_legacy(model)
    if device == "cuda":  # the fp32 baseline without TF32; the bf16 runs with PyTorch's defaults
        torch.backends.cudnn.allow_tf32 = mode != "fp32"
    seen = {}
    model.gru.register_forward_hook(lambda m, i, o: seen.update(dtype=str(o.dtype)))
    batch = tt.make_batches([[shape["L"]] * shape["B"]], shape["n_icd"], shape["n_ccs"], seed=1)[0]
    with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=mode != "fp32"):
        out = model(batch["tokens"].to(device), batch["mask"].to(device))
    out = {k: v.float() for k, v in out.items()}
    loss = build_loss("focal")(out, {k: v.to(device) for k, v in batch["targets"].items()})
    loss.backward()
    grad = torch.cat([p.grad.detach().double().flatten() for p in model.gru.parameters()]).cpu()
    return {"mode": mode, "rnn_dtype": seen.get("dtype"), "loss": loss.item(), "grad": grad}


def precision_check(shape: dict, device: str) -> list[dict]:
    """The GRU's gradient under bf16 autocast (ours, legacy) against the fp32 run."""
    import torch

    runs = [grad_run(m, shape, device) for m in ("fp32", "ours", "legacy")]
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default again
    ref = runs[0]["grad"]
    rows = []
    for r in runs:
        g = r.pop("grad")
        rows.append({**r, "grad_norm": float(g.norm()),
                     "norm_rel_err": float(abs(g.norm() - ref.norm()) / ref.norm()),
                     "cosine_vs_fp32": float(g @ ref / (g.norm() * ref.norm() + 1e-300)),
                     "zero_share": float((g == 0).double().mean()),
                     "max_abs_grad": float(g.abs().max())})
    return rows


def throughput(kind: str, cohort: str, device: str, prepare_only: bool) -> list[dict]:
    """Step 2 or 3 through train_throughput.py (its own process), variants ours, legacy and reference."""
    gpu_args, cpu_args = GPU_RUNS[kind]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "rows.json")
        cmd = [sys.executable, os.path.join(HERE, "train_throughput.py"), "--device", device,
               "--variants", "ours", "legacy", "reference", "--json", out]
        cmd += (cpu_args if prepare_only else gpu_args + ["--in-process"])
        cmd += ["--lengths", cohort] if kind == "lengths" else []
        subprocess.run(cmd, check=True, cwd=os.path.dirname(HERE))
        with open(out) as f:
            return json.load(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cohort", default="data/cohort", help="cohort folder whose note lengths are used")
    ap.add_argument("--out", help="write every figure to this JSON file")
    ap.add_argument("--prepare-only", action="store_true", help="CPU, tiny shapes: check the run up to CUDA")
    args = ap.parse_args()
    for split in ("train", "dev"):  # fail before any GPU work
        if not os.path.exists(os.path.join(args.cohort, f"{split}.parquet")):
            sys.exit(f"{args.cohort}/{split}.parquet not found: build a cohort first (dvc repro cohort) "
                     "or pass --cohort")
    import torch

    device = "cpu" if args.prepare_only else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --prepare-only on a CPU machine")
    name = torch.cuda.get_device_name() if device == "cuda" else "CPU (prepare-only, tiny shapes)"
    print(f"gpu_scale: {name}, torch {torch.__version__}", flush=True)
    result, t0 = {"device": name, "torch": torch.__version__}, time.perf_counter()
    result["precision"] = precision_check(TINY_SHAPE if args.prepare_only else PAPER_SHAPE, device)
    tt.print_rows(result["precision"], [("mode", "s"), ("rnn_dtype", "s"), ("loss", ".6f"), ("grad_norm", ".3e"),
                                        ("norm_rel_err", ".2e"), ("cosine_vs_fp32", ".6f"), ("zero_share", ".4f"),
                                        ("max_abs_grad", ".3e")])
    print(f"[precision: {time.perf_counter() - t0:.0f} s]", flush=True)
    for kind in ("paper", "lengths"):
        result[kind] = throughput(kind, args.cohort, device, args.prepare_only)
        print(f"[{kind}: {time.perf_counter() - t0:.0f} s]", flush=True)
    result["seconds"] = time.perf_counter() - t0
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
