"""Saved predictions and the gold standard they are scored against.

Reads the contracts of docs/architecture.md (``data/models/<name>/{dev,test}.npz``, the cohort's label CSVs)
and aligns every model's scores on one code universe (test codes ∪ every model's label set), so that a test
code outside a model's label set counts as never predicted. Nothing here knows what a code looks like: codes
are opaque strings (ICD-9, ICD-10, CCS, CCSR alike).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd


@dataclass
class Predictions:
    """One model's saved predictions on one split (see docs/architecture.md)."""

    hadm_id: np.ndarray  # (n,) int64
    icd_codes: np.ndarray  # (L,) str
    icd_prob: np.ndarray  # (n, L) float32
    icd_true: np.ndarray  # (n, L) bool
    ccs_codes: np.ndarray | None = None  # (K,) str
    ccs_prob: np.ndarray | None = None  # (n, K) float32
    ccs_true: np.ndarray | None = None  # (n, K) bool
    path: str | None = None


_REQUIRED = ("hadm_id", "icd_codes", "icd_prob", "icd_true")
_CCS = ("ccs_codes", "ccs_prob", "ccs_true")


def load_predictions(path: str | Path) -> Predictions:
    """Read a predictions npz; raise a ValueError naming the file when keys or shapes are wrong."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: predictions file not found; run the training stage that writes it first")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except ValueError as e:  # object arrays need pickle
        raise ValueError(f"{path}: could not read ({e}); save codes as fixed-width str arrays, not object arrays") from e
    missing = [k for k in _REQUIRED if k not in arrays]
    if missing:
        raise ValueError(f"{path}: missing keys {missing} (has {sorted(arrays)}); "
                         f"a predictions npz needs {list(_REQUIRED)} (+ optional {list(_CCS)})")
    has_ccs = [k in arrays for k in _CCS]
    if any(has_ccs) and not all(has_ccs):
        raise ValueError(f"{path}: has only some CCS keys {[k for k in _CCS if k in arrays]}; "
                         f"need all of {list(_CCS)} or none")
    p = Predictions(
        hadm_id=arrays["hadm_id"].astype(np.int64), icd_codes=arrays["icd_codes"].astype(str),
        icd_prob=arrays["icd_prob"].astype(np.float32), icd_true=arrays["icd_true"].astype(bool),
        path=str(path),
    )
    if all(has_ccs):
        p.ccs_codes, p.ccs_prob, p.ccs_true = (arrays["ccs_codes"].astype(str), arrays["ccs_prob"].astype(np.float32),
                                               arrays["ccs_true"].astype(bool))
    _check_shapes(p)
    return p


def _check_shapes(p: Predictions) -> None:
    n = len(p.hadm_id)
    for task in ("icd", "ccs"):
        codes, prob, true = getattr(p, f"{task}_codes"), getattr(p, f"{task}_prob"), getattr(p, f"{task}_true")
        if codes is None:
            continue
        want = (n, len(codes))
        if prob.shape != want or true.shape != want:
            raise ValueError(f"{p.path}: {task}_prob {prob.shape} / {task}_true {true.shape} should both be "
                             f"(n_hadm, n_{task}_codes) = {want}")
    if len(np.unique(p.hadm_id)) != n:
        raise ValueError(f"{p.path}: hadm_id has duplicates")


def load_train_counts(labels_csv: str | Path) -> pd.Series:
    """``icd_labels.csv`` (or ``ccs_labels.csv``) -> training counts, a Series indexed by code (codes are opaque
    strings of any code system; a code listed twice is an error naming the file's lines)."""
    df = pd.read_csv(labels_csv, dtype={"code": str})
    if not {"code", "train_count"} <= set(df.columns):
        raise ValueError(f"{labels_csv}: needs columns 'code' and 'train_count' (has {list(df.columns)}); "
                         f"rebuild the cohort with cohort.build_cohort")
    repeated = np.flatnonzero(df["code"].duplicated(keep=False).to_numpy()) + 2  # CSV lines (the header is line 1)
    if repeated.size:
        raise ValueError(f"{labels_csv}: column code holds one code more than once (lines {repeated[:10].tolist()}); "
                         "each label must be a distinct string, e.g. a diagnosis and a procedure written alike need "
                         "distinct codes (the kind column says which is which)")
    return df.set_index("code")["train_count"].astype(np.int64)


def predictions_path(models_dir: str | Path, name: str, split: str, seed: int, primary: int) -> Path:
    """Where the train stage wrote seed ``seed``'s predictions: the primary seed at the model's top level."""
    base = Path(models_dir) / name
    return base / f"{split}.npz" if seed == primary else base / f"seed-{seed}" / f"{split}.npz"


@dataclass
class Gold:
    """Gold labels over a code universe: y[i, j] is True when document hadm_id[i] has code codes[j]."""

    hadm_id: np.ndarray  # (n,)
    codes: np.ndarray  # (C,) str
    y: np.ndarray  # (n, C) bool


def make_gold(preds: Sequence[Predictions], gold: pd.DataFrame | None = None) -> Gold:
    """Gold over (test codes ∪ every model's label set).

    ``gold`` is a split frame (``hadm_id``, ``icd_codes`` list) — the reference for codes outside a model's
    label set. Without it, gold is the union of the models' own ``icd_true`` (all must cover the same admissions).
    """
    model_codes = [p.icd_codes for p in preds]
    if gold is not None:
        if not {"hadm_id", "icd_codes"} <= set(gold.columns):
            raise ValueError(f"gold frame needs columns hadm_id, icd_codes (has {list(gold.columns)}); "
                             f"pass the split parquet")
        g = gold.sort_values("hadm_id")
        hadm = g["hadm_id"].to_numpy(np.int64)
        lists = [list(map(str, c)) for c in g["icd_codes"]]
        codes = np.array(sorted(set().union(*lists, *map(set, model_codes))), dtype=str)
        col = {c: j for j, c in enumerate(codes)}
        y = np.zeros((len(hadm), len(codes)), dtype=bool)
        for i, cs in enumerate(lists):
            y[i, [col[c] for c in cs]] = True
    else:
        if not preds:
            raise ValueError("need at least one Predictions or a gold frame")
        hadm = np.sort(preds[0].hadm_id)
        codes = np.array(sorted(set().union(*map(set, model_codes))), dtype=str)
        y = np.zeros((len(hadm), len(codes)), dtype=bool)
    for p in preds:  # fill (no gold frame) or cross-check (gold frame) with each model's icd_true
        rows = _rows(p, hadm)
        cols = np.searchsorted(codes, p.icd_codes)
        if gold is None:
            y[:, cols] |= p.icd_true[rows]
        elif not np.array_equal(y[:, cols], p.icd_true[rows]):
            raise ValueError(f"{p.path}: icd_true disagrees with the gold split frame; was it predicted on this split?")
    return Gold(hadm, codes, y)


def _rows(p: Predictions, hadm: np.ndarray) -> np.ndarray:
    """Row order of p matching ``hadm``; error when the admissions differ."""
    if len(p.hadm_id) != len(hadm) or not np.array_equal(np.sort(p.hadm_id), hadm):
        raise ValueError(f"{p.path or 'predictions'}: its {len(p.hadm_id)} hadm_ids differ from the reference "
                         f"{len(hadm)}; compare predictions of the same split")
    return np.argsort(p.hadm_id)  # p.hadm_id[order] == hadm


def align(p: Predictions, g: Gold) -> tuple[np.ndarray, np.ndarray]:
    """Model scores on the gold universe: prob (n, C) with 0 for codes outside its label set, in_set (C,)."""
    prob = np.zeros(g.y.shape, dtype=np.float32)
    cols = np.searchsorted(g.codes, p.icd_codes)
    prob[:, cols] = p.icd_prob[_rows(p, g.hadm_id)]
    in_set = np.zeros(len(g.codes), dtype=bool)
    in_set[cols] = True
    return prob, in_set


def decisions(p: Predictions, g: Gold, threshold: float) -> np.ndarray:
    """The model's yes/no per (document, code) of the gold universe: prob >= threshold, never outside its label set."""
    prob, in_set = align(p, g)
    return (prob >= threshold) & in_set  # (n, C) bool


def counts_for(train_counts: pd.Series, codes: np.ndarray) -> np.ndarray:
    """Training counts of ``codes`` in their order; a code without one is an error (every code must be counted)."""
    missing = [c for c in codes if c not in train_counts.index]
    if missing:
        raise ValueError(f"{len(missing)} codes have no training count (e.g. {missing[:5]}); pass train_counts for "
                         f"every code, i.e. the train_count column of the cohort's icd_labels.csv")
    return train_counts.reindex(codes).to_numpy(np.int64)
