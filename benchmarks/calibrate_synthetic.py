"""Is the synthetic cohort's coding task neither trivial nor hopeless?

Generates the synthetic cohort (demo scale by default) into a temporary folder, builds the top-50 setting
straight from the raw tables with pandas (50 most frequent codes among admissions with a discharge summary,
admissions without one of them dropped, random 80/20 split by patient), fits TF-IDF (max_features 20000,
sublinear tf) + one-vs-rest logistic regression (C=10, liblinear), and prints micro-F1 at threshold 0.5,
the token-length quantiles of discharge summaries (CAML tokenisation) and the code statistics.
Target: micro-F1 between 0.40 and 0.80 (aim ~0.55-0.65) on demo; median ~1,500 tokens.

    python benchmarks/calibrate_synthetic.py [--scale demo] [--seed 0]
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.multiclass import OneVsRestClassifier
from sklearn.preprocessing import MultiLabelBinarizer

from mbrnn.synthetic import expected_distinct_codes, generate

WORD = re.compile(r"\w+")


def caml_tokens(text: str) -> list[str]:
    return [t for t in WORD.findall(text.lower()) if not t.isnumeric()]


def top50_setting(raw: Path, seed: int) -> tuple[pd.DataFrame, list[str]]:
    """One row per admission with a discharge summary: subject_id, hadm_id, text, codes (top-50 only)."""
    notes = pd.read_csv(raw / "NOTEEVENTS.csv.gz", dtype={"TEXT": str, "CATEGORY": str})
    ds = notes[(notes.CATEGORY == "Discharge summary") & (notes.ISERROR != 1)]
    ds = ds.sort_values(["HADM_ID", "CHARTDATE", "ROW_ID"])
    docs = ds.groupby("HADM_ID").agg(subject_id=("SUBJECT_ID", "first"), text=("TEXT", "\n".join)).reset_index()
    codes = pd.concat([pd.read_csv(raw / f"{t}.csv.gz", dtype={"ICD9_CODE": str}).assign(kind=t[0])
                       for t in ("DIAGNOSES_ICD", "PROCEDURES_ICD")]).dropna(subset=["ICD9_CODE"])
    codes["code"] = codes.kind + ":" + codes.ICD9_CODE
    codes = codes[codes.HADM_ID.isin(docs.HADM_ID)].drop_duplicates(["HADM_ID", "code"])
    top = codes.code.value_counts().sort_index().sort_values(ascending=False, kind="stable").index[:50].tolist()
    labels = codes[codes.code.isin(top)].groupby("HADM_ID").code.agg(sorted)
    docs = docs.join(labels.rename("codes"), on="HADM_ID").dropna(subset=["codes"])
    return docs.rename(columns={"HADM_ID": "hadm_id"}), top


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", default="demo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--C", type=float, default=10.0)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        summary = generate(Path(tmp), scale=args.scale, seed=args.seed, progress=False)
        print(f"generated scale={args.scale} seed={args.seed} in {time.perf_counter() - t:.1f} s; "
              f"NOTEEVENTS.csv.gz {Path(tmp, 'NOTEEVENTS.csv.gz').stat().st_size / 1e6:.1f} MB")
        docs, top = top50_setting(Path(tmp), args.seed)

    print(f"rows: {summary['rows']}")
    print(f"admissions {summary['admissions']}, with summary {summary['admissions_with_discharge_summary']}, "
          f"patients {summary['patients']}; codes/admission (with summary) "
          f"{summary['codes_per_admission_with_discharge_summary']}")
    seen = summary["distinct_codes_with_discharge_summary"]
    exp = expected_distinct_codes(summary["admissions_with_discharge_summary"], args.seed)
    print(f"distinct codes (admissions with summary): dx {seen['dx']} px {seen['px']} "
          f"(expected {exp['dx']:.0f} / {exp['px']:.0f}); "
          f"full scale (52,726 admissions) expected {expected_distinct_codes(52_726)['total']:.0f}")

    n_tokens = docs.text.map(lambda x: len(caml_tokens(x)))
    q = n_tokens.quantile([0.1, 0.25, 0.5, 0.75, 0.9, 0.99]).round().astype(int).to_dict()
    print(f"tokens per admission (CAML): {q}, mean {n_tokens.mean():.0f}, > 4000: {(n_tokens > 4000).mean():.1%}")

    rng = np.random.default_rng(args.seed)
    patients = np.sort(docs.subject_id.unique())
    test_pat = set(rng.choice(patients, int(round(0.2 * len(patients))), replace=False).tolist())
    is_test = docs.subject_id.isin(test_pat).to_numpy()
    mlb = MultiLabelBinarizer(classes=top)
    Y = mlb.fit_transform(docs.codes)
    vec = TfidfVectorizer(max_features=20_000, sublinear_tf=True, tokenizer=caml_tokens, lowercase=False,
                          token_pattern=None)
    X_train = vec.fit_transform(docs.text[~is_test])
    X_test = vec.transform(docs.text[is_test])
    clf = OneVsRestClassifier(LogisticRegression(C=args.C, solver="liblinear", max_iter=1000))
    clf.fit(X_train, Y[~is_test])
    pred = clf.predict_proba(X_test) >= 0.5
    micro = f1_score(Y[is_test], pred, average="micro", zero_division=0)
    macro = f1_score(Y[is_test], pred, average="macro", zero_division=0)
    print(f"top-50: {len(docs)} admissions ({(~is_test).sum()} train / {is_test.sum()} test), "
          f"{Y.sum(1).mean():.2f} labels each; TF-IDF + LR (C={args.C}): micro-F1 {micro:.3f}, macro-F1 {macro:.3f}")


if __name__ == "__main__":
    main()
