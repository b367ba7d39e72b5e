"""Train/dev/test splits of the cohort.

``caml``
    the published Mullenbach et al. (2018) lists ``{train,dev,test}_{full,50}_hadm_ids.csv`` (one HADM_ID a
    line), read from a folder the user supplies, or downloaded into it when ``download`` is on.
``stratified``
    patient-level iterative multi-label stratification (Sechidis et al. 2011, via ``iterative-stratification``):
    every admission of a patient lands in the same split, and label proportions are balanced across splits.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd

SPLITS = ("train", "dev", "test")
CAML_URL = "https://raw.githubusercontent.com/jamesmullenbach/caml-mimic/master/mimicdata/mimic3/{name}"


def caml_filename(split: str, setting: str) -> str:
    return f"{split}_{'50' if setting == 'top50' else 'full'}_hadm_ids.csv"


def read_caml_splits(splits_dir: str | Path | None, setting: str, download: bool = False) -> dict[str, np.ndarray]:
    """HADM_IDs of each split from Mullenbach's published lists."""
    if not splits_dir:
        raise ValueError(
            "cohort.split is 'caml' but cohort.caml_splits_dir is not set: point it at a folder holding "
            "train/dev/test_{full,50}_hadm_ids.csv from github.com/jamesmullenbach/caml-mimic (mimicdata/mimic3)."
        )
    splits_dir = Path(splits_dir)
    out = {}
    for split in SPLITS:
        path = splits_dir / caml_filename(split, setting)
        if not path.exists() and download:
            splits_dir.mkdir(parents=True, exist_ok=True)
            try:
                urllib.request.urlretrieve(CAML_URL.format(name=path.name), path)
            except OSError as e:
                raise FileNotFoundError(f"{path}: missing and could not be downloaded ({e}).") from e
        if not path.exists():
            raise FileNotFoundError(
                f"{path}: CAML split list not found. Download {path.name} from github.com/jamesmullenbach/caml-mimic "
                "(mimicdata/mimic3) into that folder, or set cohort.caml_splits_download: true when online, "
                "or use cohort.split: stratified."
            )
        ids = pd.read_csv(path, header=None, names=["hadm_id"], dtype=str)["hadm_id"].str.strip()
        bad = ~ids.str.fullmatch(r"\d+")
        if bad.any():
            first = int(np.flatnonzero(bad.to_numpy())[0]) + 1
            raise ValueError(f"{path}: {int(bad.sum())} lines are not HADM_IDs (first: entry {first}; content not shown).")
        out[split] = ids.astype(np.int64).to_numpy()
    return out


def load_stratifier():
    """``iterstrat``'s IterativeStratification, imported on first use (it imports scikit-learn, 1-2 s)."""
    from iterstrat.ml_stratifiers import IterativeStratification

    return IterativeStratification


def stratified_split(
    subject_id: np.ndarray,
    label_lists: list[list[str]],
    ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    seed: int = 0,
    max_labels: int = 100,
) -> np.ndarray:
    """Assign each admission to 0 (train), 1 (dev) or 2 (test), keeping every patient in one split.

    Patients are stratified on the union of their admissions' labels, restricted to the ``max_labels`` most
    frequent labels (the algorithm is O(patients x labels) per step; rare labels barely constrain it anyway).
    """
    IterativeStratification = load_stratifier()
    ratios = np.asarray(ratios, dtype=float)
    if ratios.shape != (3,) or np.any(ratios < 0) or not np.isclose(ratios.sum(), 1.0):
        raise ValueError(f"cohort.split_ratios must be three non-negative numbers summing to 1, got {list(ratios)}")
    subject_id = np.asarray(subject_id)
    patients, inverse = np.unique(subject_id, return_inverse=True)

    counts = pd.Series([c for codes in label_lists for c in codes]).value_counts(sort=False)
    counts = counts.sort_index().sort_values(ascending=False, kind="stable")
    keep = {c: j for j, c in enumerate(counts.index[:max_labels])}
    Y = np.zeros((len(patients), len(keep)), dtype=bool)
    for i, codes in enumerate(label_lists):
        cols = [keep[c] for c in codes if c in keep]
        Y[inverse[i], cols] = True

    folds = IterativeStratification(labels=Y, r=ratios, random_state=np.random.RandomState(seed))
    return folds[inverse]
