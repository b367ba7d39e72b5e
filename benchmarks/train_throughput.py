"""Training throughput and peak memory of MBRNN, CAML and LAAT beside the reference's own computation, in one run.

Two modes, every (model, variant, setting) in a fresh process:

  --shapes demo paper   fixed shapes on random tokens: the demo's settings from params.yaml (50 labels), and the
                        paper's (4,000 tokens, 8,922 ICD labels + 1,000 CCS for MBRNN, batch 16, paper sizes);
                        ``--extrapolate`` gives s/epoch for MIMIC-III full if every note had 4,000 tokens.
  --lengths COHORT_DIR  real note lengths: the token counts of the cohort's train and dev notes (capped at
                        ``--max-tokens``), resampled to MIMIC-III's split sizes (full: 47,719 train / 1,631 dev,
                        8,922 labels; top50: 8,066 / 1,573, 50 labels), cut into batches by the study's own
                        length-bucketed loader (``mbrnn.batching.length_bucketed_batches``, batch 16; dev sorted,
                        batch 32) and collated by ``mbrnn.batching.collate``. ``--steps`` training batches and
                        ``--eval-steps`` dev batches are drawn at random from one epoch and timed; s/epoch =
                        measured seconds per padded token x the epoch's padded tokens, training and the per-epoch
                        dev evaluation separately.

Variants (``--variants``): ``ours`` (this code: bf16 autocast on CUDA, fp32 recurrences, fused BiRNN on CUDA,
chunked label attention, padding masked exactly); ``legacy`` (the code before issue 11: the two GRUs of the exact
path under autocast, whole attention); ``reference`` (MBRNN only: the authors' computation written from its
description: a plain fp32 ``nn.GRU(bidirectional=True)`` over the padded batch, no masking, the RAM and two
label-attention heads, no autocast). Peak memory: ``torch.cuda.max_memory_allocated`` on CUDA, peak RSS on CPU.

    python benchmarks/train_throughput.py --shapes demo --steps 2                    # CPU, fixed shape
    python benchmarks/train_throughput.py --lengths data/cohort --max-tokens 300 --sizes demo --steps 2 \\
        --eval-steps 2 --settings top50 --variants ours reference                     # CPU, real lengths, small
    python benchmarks/train_throughput.py --device cuda --shapes paper --steps 20 --variants ours legacy reference
    python benchmarks/train_throughput.py --device cuda --lengths data/cohort --steps 30 --eval-steps 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
VOCAB = 30_000
MIMIC = {  # CAML's splits of MIMIC-III; CCS label counts as in the paper-shape benchmark (approximate)
    "full": {"train": 47_719, "dev": 1_631, "n_icd": 8_922, "n_ccs": 1_000},
    "top50": {"train": 8_066, "dev": 1_573, "n_icd": 50, "n_ccs": 50},
}
PAPER = {
    "mbrnn": {"arch": "mbrnn", "hidden": 300},
    "caml": {"arch": "caml", "num_filters": 50, "kernel_size": 10},
    "laat": {"arch": "laat", "hidden": 512, "d_a": 512},
}
LOSS = {"mbrnn": "focal", "caml": "bce", "laat": "bce"}


# ----------------------------------------------------------------------------------------------------- worker
def reference_mbrnn(W: np.ndarray, n_icd: int, n_ccs: int, hidden: int):
    """The reference's computation, from its description: frozen embeddings, dropout, fp32 nn.GRU(bidirectional)
    over the padded batch (pads read), RAM, and two label-attention heads without masks."""
    import torch
    from torch import nn

    from mbrnn.models.mbrnn import RAM

    class Head(nn.Module):
        def __init__(self, d, n):
            super().__init__()
            self.U, self.final = nn.Linear(d, n, bias=False), nn.Linear(d, n)

        def forward(self, X):  # (B, L, d)
            A = torch.softmax(self.U.weight @ X.transpose(1, 2), dim=2)  # (B, n, L)
            return (self.final.weight * (A @ X)).sum(2) + self.final.bias  # (B, n)

    class Reference(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding.from_pretrained(torch.from_numpy(W), freeze=True, padding_idx=0)
            self.drop = nn.Dropout(0.2)
            self.gru = nn.GRU(W.shape[1], hidden, batch_first=True, bidirectional=True)
            self.ram = RAM(2 * hidden)
            self.icd, self.ccs = Head(2 * hidden, n_icd), Head(2 * hidden, n_ccs)

        def forward(self, tokens, mask):  # mask ignored: the reference pads and reads the pads
            H, _ = self.gru(self.drop(self.embed(tokens)))
            X = self.ram(H.transpose(1, 2)).transpose(1, 2)
            return {"icd": self.icd(X), "ccs": self.ccs(X)}

    return Reference()


def build(job: dict):
    """Model, loss and whether autocast is on, for one job."""
    import torch

    from mbrnn.losses import build_loss
    from mbrnn.models import build_model, layers

    W = np.random.default_rng(0).standard_normal((VOCAB, 100)).astype(np.float32)
    arch = job["cfg"]["arch"]
    if job["variant"] == "reference":
        model = reference_mbrnn(W, job["n_icd"], job["n_ccs"], job["cfg"].get("hidden", 300))
    else:
        model = build_model(job["cfg"], W, job["n_icd"], job["n_ccs"])
        if job["variant"] == "legacy":
            make_legacy(model)
    amp = job["device"] == "cuda" and job["variant"] != "reference"
    return model.to(job["device"]), build_loss(LOSS[arch]), amp


def make_legacy(model) -> None:
    """Turn `model` into the code before issue 11: the exact two-RNN path run inside autocast (cuDNN RNNs in
    half precision), the whole (B, n, L) attention at once. Per instance, so other models are untouched."""
    import types

    from mbrnn.models import layers

    for m in model.modules():
        if isinstance(m, layers.BiRNN):
            m.forward = types.MethodType(lambda self, x, lengths=None: self._forward_exact(x, lengths), m)
        if isinstance(m, layers.LabelAttention):
            m.max_cells = None


def make_batches(lengths: list[list[int]], n_icd: int, n_ccs: int, seed: int) -> list[dict]:
    """Random token ids and targets with the given per-document lengths, collated by the study's loader."""
    from mbrnn.batching import collate

    rng = np.random.default_rng(seed)
    out = []
    for lens in lengths:
        items = [(rng.integers(2, VOCAB, size=n), {"icd": rng.random(n_icd) < 0.002, "ccs": rng.random(n_ccs) < 0.02},
                  i) for i, n in enumerate(lens)]
        out.append(collate(items))
    return out


def run_job(job: dict) -> dict:
    """Time training steps and dev-evaluation batches of one (model, variant); returns seconds and peak memory."""
    import resource

    import torch

    torch.manual_seed(0)
    dev = torch.device(job["device"])
    model, loss_fn, amp = build(job)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    cuda = dev.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)

    def forward(batch):
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=amp):
            return model(batch["tokens"].to(dev), batch["mask"].to(dev))

    def train_step(batch):
        out = {k: v.float() for k, v in forward(batch).items()}
        loss = loss_fn(out, {k: v.to(dev) for k, v in batch["targets"].items() if k in out})
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()

    def eval_step(batch):
        with torch.no_grad():
            torch.sigmoid(forward(batch)["icd"].float()).cpu()

    train = make_batches(job["train_lengths"], job["n_icd"], job["n_ccs"], 1)
    evals = make_batches(job["eval_lengths"], job["n_icd"], job["n_ccs"], 2)
    model.train()
    train_step(max(train, key=lambda b: b["tokens"].numel()))  # warm-up (cuDNN plans, allocator)
    sync()
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    res = {"train_s": [], "eval_s": []}
    for key, batches, step in (("train_s", train, train_step), ("eval_s", evals, eval_step)):
        model.train(key == "train_s")
        for b in batches:
            t = time.perf_counter()
            step(b)
            sync()
            res[key].append(time.perf_counter() - t)
    res["peak_mb"] = (torch.cuda.max_memory_allocated() / 2**20 if cuda
                      else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    res["params_m"] = sum(p.numel() for p in model.parameters()) / 1e6
    return res


# ------------------------------------------------------------------------------------------------------ parent
def demo_configs() -> dict:
    """The demo's model entries from params.yaml, without the loss keys."""
    from mbrnn.models import model_kwargs

    models = yaml.safe_load(open(os.path.join(ROOT, "params.yaml")))["models"]
    return {m: {k: v for k, v in models[m].items() if k == "arch" or k in model_kwargs(models[m]["arch"])}
            for m in ("mbrnn", "caml", "laat")}


def cohort_lengths(cohort_dir: str, max_tokens: int) -> dict[str, np.ndarray]:
    """Whitespace-token counts (the cohort text is tokenised) of the train and dev notes, capped at max_tokens.
    Only counts leave this function; no text is kept or shown."""
    import pandas as pd

    out = {}
    for split in ("train", "dev"):
        path = os.path.join(cohort_dir, f"{split}.parquet")
        if not os.path.exists(path):
            raise SystemExit(f"{path} not found: build a cohort first (dvc repro cohort) or pass --lengths DIR")
        texts = pd.read_parquet(path, columns=["text"])["text"]
        out[split] = np.clip(np.fromiter((len(t.split()) for t in texts), np.int64, len(texts)), 1, max_tokens)
    return out


def epoch_plan(lengths: dict, setting: str, steps: int, eval_steps: int, seed: int = 0) -> dict:
    """One epoch's batches from the study's length-bucketed loader at MIMIC-III's split sizes; a random sample of
    them to time, and the padded-token totals that scale the sample to the epoch."""
    from mbrnn.batching import length_bucketed_batches

    rng = np.random.default_rng(seed)
    m = MIMIC[setting]
    plan = {}
    for split, n, bs, shuffle, k in (("train", m["train"], 16, True, steps), ("eval", m["dev"], 32, False, eval_steps)):
        lens = rng.choice(lengths["train" if split == "train" else "dev"], size=n, replace=True)
        batches = [lens[idx] for idx in length_bucketed_batches(lens, bs, shuffle=shuffle, seed=seed)]
        cells = np.array([len(b) * b.max() for b in batches])
        pick = rng.choice(len(batches), size=min(k, len(batches)), replace=False)
        plan[split] = {"lengths": [batches[i].tolist() for i in pick], "cells": cells[pick].tolist(),
                       "epoch_cells": int(cells.sum()), "n_batches": len(batches),
                       "median_tokens": float(np.median(lens))}
    return plan


def spawn(job: dict, in_process: bool = False) -> dict | str:
    """Run one job in a fresh process (its own peak memory), or in this one on CUDA with ``in_process`` set
    (peak memory reset per job; saves the process start-up); returns the result or the error's last line."""
    if in_process and job["device"] == "cuda":
        import gc

        import torch

        try:
            return run_job(job)
        except Exception as e:  # noqa: BLE001 - one failed job (e.g. out of memory) must not end the run
            return f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"
        finally:
            gc.collect()
            torch.cuda.empty_cache()
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job)],
                       capture_output=True, text=True, cwd=ROOT)
    if r.returncode != 0:
        lines = (r.stderr or "").strip().splitlines()
        return lines[-1] if lines else f"exit {r.returncode}"
    return json.loads(r.stdout.strip().splitlines()[-1])


def jobs_for(variants: list[str], cfgs: dict) -> list[tuple[str, str, dict]]:
    """(model, variant, cfg) triples; the reference exists for MBRNN only."""
    return [(m, v, cfg) for m, cfg in cfgs.items() for v in variants if v != "reference" or m == "mbrnn"]


def run_shapes(args, variants: list[str]) -> list[dict]:
    """Fixed shapes: ``--steps`` identical batches of every document at the shape's length."""
    rows = []
    for shape in args.shapes:
        n_icd, n_ccs, B, L = (50, 35, 16, args.demo_tokens) if shape == "demo" else (8_922, 1_000, 16, 4_000)
        cfgs = demo_configs() if shape == "demo" else PAPER
        for model, variant, cfg in jobs_for(variants, cfgs):
            job = {"cfg": cfg, "variant": variant, "device": args.device, "n_icd": n_icd, "n_ccs": n_ccs,
                   "train_lengths": [[L] * B] * args.steps, "eval_lengths": []}
            r = spawn(job, args.in_process)
            row = {"shape": shape, "model": model, "variant": variant, "batch": B, "tokens": L, "labels": n_icd}
            if isinstance(r, str):
                rows.append({**row, "error": r})
                continue
            s = float(np.mean(r["train_s"]))
            rows.append({**row, "params_m": r["params_m"], "s_per_step": s, "tokens_per_s": B * L / s,
                         "peak_mb": r["peak_mb"], "s_epoch_full_at_shape": s * MIMIC["full"]["train"] / B})
    return rows


def run_lengths(args, variants: list[str]) -> list[dict]:
    """Real lengths: s/epoch of training and of the dev evaluation, MIMIC-III full and top-50."""
    lengths = cohort_lengths(args.lengths, args.max_tokens)
    cfgs = demo_configs() if args.sizes == "demo" else PAPER
    rows = []
    for setting in args.settings:
        plan = epoch_plan(lengths, setting, args.steps, args.eval_steps)
        for model, variant, cfg in jobs_for(variants, cfgs):
            job = {"cfg": cfg, "variant": variant, "device": args.device, "n_icd": MIMIC[setting]["n_icd"],
                   "n_ccs": MIMIC[setting]["n_ccs"], "train_lengths": plan["train"]["lengths"],
                   "eval_lengths": plan["eval"]["lengths"]}
            r = spawn(job, args.in_process)
            row = {"setting": setting, "model": model, "variant": variant,
                   "median_tokens": plan["train"]["median_tokens"], "train_batches": plan["train"]["n_batches"]}
            if isinstance(r, str):
                rows.append({**row, "error": r})
                continue
            per = {k: sum(r[f"{k}_s"]) / sum(plan[k]["cells"]) * plan[k]["epoch_cells"] for k in ("train", "eval")}
            rows.append({**row, "s_epoch_train": per["train"], "s_epoch_dev": per["eval"],
                         "s_epoch_total": per["train"] + per["eval"], "peak_mb": r["peak_mb"],
                         "s_per_step": float(np.mean(r["train_s"])), "params_m": r["params_m"]})
    return rows


def print_rows(rows: list[dict], cols: list[tuple[str, str]]) -> None:
    """A markdown table of `rows` with the (key, format) columns; failed jobs show their error."""
    print("| " + " | ".join(k for k, _ in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = [format(r[k], f) if k in r else (r.get("error", "")[:60] if k == cols[-1][0] else "–")
                 for k, f in cols]
        print("| " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--shapes", nargs="*", default=None, choices=["demo", "paper"])
    ap.add_argument("--lengths", metavar="COHORT_DIR", help="real-length mode: a cohort folder (train/dev.parquet)")
    ap.add_argument("--settings", nargs="+", default=["full", "top50"], choices=list(MIMIC))
    ap.add_argument("--sizes", default="paper", choices=["paper", "demo"], help="model sizes in real-length mode")
    ap.add_argument("--max-tokens", type=int, default=4000)
    ap.add_argument("--demo-tokens", type=int, default=600)
    ap.add_argument("--steps", type=int, default=3, help="timed training batches per job")
    ap.add_argument("--eval-steps", type=int, default=3, help="timed dev batches per job (real-length mode)")
    ap.add_argument("--variants", nargs="+", default=["ours", "reference"], choices=["ours", "legacy", "reference"])
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json", help="also write every row to this JSON file")
    ap.add_argument("--extrapolate", action="store_true", help="accepted for old callers (gpu_check.sh); the "
                    "s/epoch column is always printed")
    ap.add_argument("--in-process", action="store_true", help="CUDA: run the jobs in this process (faster start)")
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(run_job(json.loads(args.worker))))
        return
    import torch

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, device {args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device == "cuda" else ""), flush=True)
    rows = []
    if args.shapes is None:  # neither mode named: both fixed shapes, as before
        args.shapes = [] if args.lengths else ["demo", "paper"]
    if args.shapes:
        rows += (shape_rows := run_shapes(args, args.variants))
        print_rows(shape_rows, [("shape", "s"), ("model", "s"), ("variant", "s"), ("params_m", ".2f"),
                                ("s_per_step", ".3f"), ("tokens_per_s", ",.0f"), ("peak_mb", ",.0f"),
                                ("s_epoch_full_at_shape", ",.0f")])
    if args.lengths:
        rows += (length_rows := run_lengths(args, args.variants))
        print_rows(length_rows, [("setting", "s"), ("model", "s"), ("variant", "s"), ("median_tokens", ".0f"),
                                 ("s_per_step", ".3f"), ("s_epoch_train", ",.1f"), ("s_epoch_dev", ",.1f"),
                                 ("s_epoch_total", ",.1f"), ("peak_mb", ",.0f")])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
