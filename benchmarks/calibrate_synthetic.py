"""Is the synthetic cohort's coding task neither trivial nor hopeless?

Generates the synthetic cohort (demo scale by default) into a temporary folder, builds the top-50 setting with
the study's own cohort builder (patient-level stratified split), fits the study's TF-IDF + one-vs-rest logistic
regression floor on the full training notes (no truncation) and prints micro/macro-F1 at threshold 0.5 on dev
and test, with the token-length quantiles of the summaries. Target: micro-F1 between 0.40 and 0.80 on the demo.

``--format mimic4`` calibrates the MIMIC-IV format on its ICD-10 top-50 setting, through the same cohort builder
(``cohort.code_system: icd10``, with the skip limits of ``configs/mimic4-demo.yaml``).

``--top-k 300 --max-tokens 400`` scores what the demo's neural models are given instead: the top-300 labels and
the first 400 tokens of each note (``cohort.top_k``, ``train.max_tokens``). Compare the two formats' micro-AUC there
(benchmarks/README.md): with less evidence in that window, the neural models sit longer on the prior.

    python benchmarks/calibrate_synthetic.py [--scale demo] [--seeds 0 1 2] [--format mimic3|mimic4]
                                             [--top-k 50] [--max-tokens N]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from mbrnn import batching as data, cohort, metrics
from mbrnn.config import CohortConfig, DataConfig
from mbrnn.models.tfidf import TfidfLogReg
from mbrnn.synthetic import generate

MIMIC4_DEMO = Path(__file__).parents[1] / "configs" / "mimic4-demo.yaml"
MIMIC4_SKIP_SHARE = {"default": 0.2, **yaml.safe_load(MIMIC4_DEMO.read_text())["cohort"]["max_skip_share"]}


def cohort_config(work: Path, fmt: str, top_k: int = 50) -> CohortConfig:
    """The top-k setting of the study's own cohort builder, ICD-9 (MIMIC-III format) or ICD-10 (MIMIC-IV)."""
    if fmt == "mimic3":
        return CohortConfig(cohort_dir=str(work), label_setting="top_k", top_k=top_k)
    return CohortConfig(cohort_dir=str(work), label_setting="top_k", top_k=top_k, code_system="icd10",
                        max_skip_share=MIMIC4_SKIP_SHARE)


def run(scale: str, seed: int, C: float, max_features: int, fmt: str = "mimic3", top_k: int = 50,
        max_tokens: int | None = None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "raw", scale=scale, seed=seed, progress=False, format=fmt)
        cohort.build_cohort(cohort_config(tmp / "cohort", fmt, top_k),
                            DataConfig(raw_dir=str(tmp / "raw"), synthetic_format=fmt), progress=False)
        icd, _ = data.load_label_vocab(tmp / "cohort")
        frames = {s: data.load_split(tmp / "cohort", s) for s in data.SPLITS}
    Y = {s: data.multi_hot(f["icd_codes"], icd) for s, f in frames.items()}
    text = {s: [" ".join(t.split()[:max_tokens]) for t in f["text"]] for s, f in frames.items()}
    clf = TfidfLogReg(max_features=max_features, C=C, seed=seed, progress=False).fit(text["train"], Y["train"])
    tokens = pd.concat(frames.values()).n_tokens
    out = {"seed": seed, "admissions": sum(len(f) for f in frames.values()), "test": len(frames["test"]),
           "median_tokens": tokens.median(), "p95_tokens": tokens.quantile(0.95)}
    for s in ("dev", "test"):
        m = metrics.evaluate(Y[s], clf.predict_proba(text[s]))
        for k in ("micro_f1", "macro_f1", "micro_auc", "macro_auc"):
            out[f"{s}_{k}"] = m[k]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--max-features", type=int, default=20000)
    ap.add_argument("--format", default="mimic3", choices=("mimic3", "mimic4"))
    ap.add_argument("--top-k", type=int, default=50, help="labels: the top-k codes (the demo's models: 300)")
    ap.add_argument("--max-tokens", type=int, default=None, help="read only each note's first N tokens (models: 400)")
    args = ap.parse_args()
    t = time.perf_counter()
    rows = [run(args.scale, s, args.C, args.max_features, args.format, args.top_k, args.max_tokens) for s in args.seeds]
    df = pd.DataFrame(rows).set_index("seed")
    print(df.round(3).to_string())
    print(f"\ntest micro-F1 over seeds: {df['test_micro_f1'].mean():.3f} "
          f"(range {df['test_micro_f1'].min():.3f}-{df['test_micro_f1'].max():.3f}); target 0.40-0.80; "
          f"test micro-AUC {df['test_micro_auc'].mean():.3f} (range {df['test_micro_auc'].min():.3f}-"
          f"{df['test_micro_auc'].max():.3f}); {time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
