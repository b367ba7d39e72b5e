"""Is the synthetic cohort's coding task neither trivial nor hopeless?

Generates the synthetic cohort (demo scale by default) into a temporary folder, builds the top-50 setting with
the study's own cohort builder (patient-level stratified split), fits the study's TF-IDF + one-vs-rest logistic
regression floor on the full training notes (no truncation) and prints micro/macro-F1 at threshold 0.5 on dev
and test, with the token-length quantiles of the summaries. Target: micro-F1 between 0.40 and 0.80 on the demo.

``--format mimic4`` calibrates the MIMIC-IV format on its ICD-10 top-50 setting. It reads the generated files
directly (the MIMIC-IV cohort builder is not required): ICD-10-coded admissions (``icd_version`` 10) with a
discharge note (DS and AD notes joined in note_seq order), ICD-10-CM and ICD-10-PCS codes kept apart, the 50
most frequent, admissions without one dropped, a patient-level random 80/10/10 split, CAML text normalisation.

    python benchmarks/calibrate_synthetic.py [--scale demo] [--seeds 0 1 2] [--format mimic3|mimic4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mbrnn import cohort, data, metrics, text
from mbrnn.models.tfidf import TfidfLogReg
from mbrnn.synthetic import generate


def mimic3_frames(raw: Path, work: Path, seed: int) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The study's own top-50 cohort of the MIMIC-III format (``icd_codes``, ``text`` and token counts)."""
    cohort.build_cohort(raw, work, label_setting="top50", progress=False)
    icd, _ = data.load_label_vocab(work)
    return {s: data.load_split(work, s) for s in data.SPLITS}, icd


def mimic4_frames(raw: Path, work: Path, seed: int, top_k: int = 50,
                  ratios: tuple[float, float] = (0.8, 0.9)) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """The ICD-10 top-50 setting of the MIMIC-IV format, read straight from ``hosp/`` and ``note/``."""
    codes = pd.concat([pd.read_csv(raw / f"hosp/{t}_icd.csv.gz", dtype=str).assign(code=lambda f, k=k: k + f.icd_code)
                       for t, k in (("diagnoses", "dx:"), ("procedures", "px:"))])
    codes = codes[codes.icd_version == "10"]
    notes = pd.read_csv(raw / "note/discharge.csv.gz", dtype={"hadm_id": str, "subject_id": str, "text": str})
    notes = notes.sort_values(["hadm_id", "note_type", "note_seq"], ascending=[True, False, True])
    adm = notes.groupby("hadm_id").agg(subject_id=("subject_id", "first"), raw_text=("text", "\n".join))
    adm = adm.join(codes.groupby("hadm_id").code.agg(lambda c: sorted(set(c))).rename("codes"), how="inner")
    top = adm.codes.explode().value_counts()
    top = sorted(top.index, key=lambda c: (-top[c], c))[:top_k]
    adm["icd_codes"] = adm.codes.map(lambda c: [x for x in c if x in set(top)])
    adm = adm[adm.icd_codes.map(len) > 0]
    normalised = text.normalise_many(adm.raw_text.tolist(), "caml", workers=1)
    adm["text"], adm["n_tokens"] = [t for t, _ in normalised], [n for _, n in normalised]
    subjects = np.random.default_rng(seed).permutation(sorted(adm.subject_id.unique()))
    cut = [int(r * len(subjects)) for r in ratios]
    split = dict.fromkeys(subjects[:cut[0]], "train") | dict.fromkeys(subjects[cut[0]:cut[1]], "dev") | \
        dict.fromkeys(subjects[cut[1]:], "test")
    return {s: adm[adm.subject_id.map(split) == s] for s in data.SPLITS}, top


def run(scale: str, seed: int, C: float, max_features: int, fmt: str = "mimic3") -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate(tmp / "raw", scale=scale, seed=seed, progress=False, format=fmt)
        frames, icd = (mimic4_frames if fmt == "mimic4" else mimic3_frames)(tmp / "raw", tmp / "cohort", seed)
    Y = {s: data.multi_hot(f["icd_codes"], icd) for s, f in frames.items()}
    clf = TfidfLogReg(max_features=max_features, C=C, seed=seed, progress=False).fit(frames["train"]["text"].tolist(), Y["train"])
    tokens = pd.concat(frames.values()).n_tokens
    out = {"seed": seed, "admissions": sum(len(f) for f in frames.values()), "test": len(frames["test"]),
           "median_tokens": tokens.median(), "p95_tokens": tokens.quantile(0.95)}
    for s in ("dev", "test"):
        m = metrics.evaluate(Y[s], clf.predict_proba(frames[s]["text"].tolist()))
        out[f"{s}_micro_f1"], out[f"{s}_macro_f1"] = m["micro_f1"], m["macro_f1"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--C", type=float, default=10.0)
    ap.add_argument("--max-features", type=int, default=20000)
    ap.add_argument("--format", default="mimic3", choices=("mimic3", "mimic4"))
    args = ap.parse_args()
    t = time.perf_counter()
    rows = [run(args.scale, s, args.C, args.max_features, args.format) for s in args.seeds]
    df = pd.DataFrame(rows).set_index("seed")
    print(df.round(3).to_string())
    print(f"\ntest micro-F1 over seeds: {df['test_micro_f1'].mean():.3f} "
          f"(range {df['test_micro_f1'].min():.3f}-{df['test_micro_f1'].max():.3f}); target 0.40-0.80; "
          f"{time.perf_counter() - t:.0f} s")


if __name__ == "__main__":
    main()
