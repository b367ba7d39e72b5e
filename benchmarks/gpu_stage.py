"""One epoch of MBRNN at the paper's settings through the study's own stages, on a small full-label cohort.

The last of issue 11's GPU checks (called by ``gpu_check.sh``): the whole GPU path, not only the model. It generates
a synthetic cohort in MIMIC-III format (``--admissions``, default 3,000), then runs the stages ``cohort``,
``embeddings`` and ``train@mbrnn`` exactly as ``dvc repro`` would (``mbrnn.runner.run_stage``: the stage's notebook
with its own keys of ``params.yaml``), with ``configs/paper-full.yaml`` applied (every code kept as a label,
4,000 tokens, hidden 300, frozen embeddings, batch 16, lr 1e-3) except that the data stay synthetic, the split is
the stratified one and training stops after one epoch. Every output goes under ``--out``; params.yaml is untouched.

    python benchmarks/gpu_stage.py --out data/gpu-check                 # on a CUDA machine (about 1-2 minutes)
    python benchmarks/gpu_stage.py --prepare-only --out /tmp/gpu-check  # CPU: tiny sizes, the same path end to end

Needs papermill, jupytext, ipykernel and gensim (``bash benchmarks/gpu_wheels.sh`` gathers them as wheels for a bare
GPU machine). Prints one line per stage (seconds) and the train stage's figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from mbrnn import overlays, runner  # noqa: E402
from mbrnn.config import load_params  # noqa: E402
from mbrnn.synthetic import generate  # noqa: E402

TINY = {"max_tokens": 64, "batch_size": 8, "eval_batch_size": 16}


def check_params(out: Path, device: str, tiny: bool) -> dict:
    """params.yaml + the paper-full overlay, synthetic data, one epoch, every output under ``out``."""
    params = overlays.apply(load_params(ROOT / "params.yaml"), overlays.load(ROOT / "configs" / "paper-full.yaml"),
                            "configs/paper-full.yaml")
    params["data"].update(source="synthetic", raw_dir=str(out / "raw"))
    params["cohort"].update(cohort_dir=str(out / "cohort"), split="stratified", caml_splits_dir=None)
    params["embeddings"]["embeddings_dir"] = str(out / "embeddings")
    params["train"].update(models_dir=str(out / "models"), state_dir=str(out / "checkpoints"), epochs=1, seeds=[0],
                           curves_dir=str(out / "reports" / "curves"), device=device, gpus=1)
    params["reports"] = {k: str(out / "reports" / Path(v).name) for k, v in params["reports"].items()}
    params["models"] = {"mbrnn": params["models"]["mbrnn"]}
    if tiny:
        params["train"].update(TINY)
        params["models"]["mbrnn"].update(hidden=16)
        params["embeddings"].update(epochs=1, vector_size=16)
    return params


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=ROOT / "data" / "gpu-check")
    ap.add_argument("--admissions", type=int, help="synthetic admissions (default 3,000; 200 with --prepare-only)")
    ap.add_argument("--prepare-only", action="store_true", help="CPU, tiny sizes: the same path up to CUDA")
    args = ap.parse_args(argv)
    import torch

    device = "cpu" if args.prepare_only else "cuda"
    if device == "cuda" and not torch.cuda.is_available():
        sys.exit("no CUDA device: run with --prepare-only on a CPU machine")
    n = args.admissions or (200 if args.prepare_only else 3000)
    out = args.out.resolve()
    params = check_params(out, device, args.prepare_only)
    t0 = time.perf_counter()
    generate(out / "raw", scale=n, seed=0, progress=False)
    print(f"gpu_stage: {n:,} synthetic admissions generated in {time.perf_counter() - t0:.0f} s", flush=True)
    for name in ("cohort", "embeddings", "train@mbrnn"):
        t = time.perf_counter()
        runner.run_stage(name, params, ROOT, out / "reports" / "notebooks" / f"{name.replace('@', '_')}.ipynb")
        print(f"gpu_stage: stage {name}: {time.perf_counter() - t:.0f} s", flush=True)
    cohort = json.loads((out / "reports" / "metrics" / "cohort.json").read_text())
    m = json.loads((out / "reports" / "metrics" / "models" / "mbrnn.json").read_text())
    print(f"gpu_stage: {cohort['admissions']['total']:,} admissions, {cohort['n_icd_labels']:,} ICD labels, "
          f"{cohort['n_ccs_labels']:,} CCS labels; mbrnn: "
          f"{m['epochs_run']} epoch in {m['train_seconds']:.0f} s (training + dev evaluation), "
          f"dev micro-F1 {m['icd']['dev']['micro_f1']:.3f}, {m['n_params']:,} parameters; "
          f"total {time.perf_counter() - t0:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
