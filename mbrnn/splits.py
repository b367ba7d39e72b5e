"""Train/dev/test splits of the cohort.

``caml``
    the published Mullenbach et al. (2018) lists ``{train,dev,test}_{full,50}_hadm_ids.csv`` (one HADM_ID a
    line), read from a folder the user supplies, or downloaded into it when ``download`` is on.
``edin``
    the published Edin et al. (2023) MIMIC-IV splits, one file per code system in their format
    (``mimiciv_icd9_split.feather``, ``mimiciv_icd10_split.feather``: columns ``_id`` (HADM_ID) and ``split``
    (``train``/``val``/``test``)), read from a folder the user supplies. Their sizes are checked against the
    published ones (:data:`EDIN_PUBLISHED`) and reported.
``stratified``
    patient-level iterative multi-label stratification (Sechidis et al. 2011, via ``iterative-stratification``):
    every admission of a patient lands in the same split, and label proportions are balanced across splits.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather

SPLITS = ("train", "dev", "test")


def cohort_file(cohort_dir, name: str) -> Path:
    """A file of a built cohort (``train.parquet``, ``icd_labels.csv``, ...); a missing one says how to build it."""
    path = Path(cohort_dir) / name
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; build the cohort first (dvc repro cohort)")
    return path
CAML_URL = "https://raw.githubusercontent.com/jamesmullenbach/caml-mimic/master/mimicdata/mimic3/{name}"
EDIN_SOURCE = "github.com/JoakimEdin/medical-coding-reproducibility (files/data/mimiciv_icd9, files/data/mimiciv_icd10)"
EDIN_FILES = {"icd9": "mimiciv_icd9_split.feather", "icd10": "mimiciv_icd10_split.feather"}
EDIN_PUBLISHED = {"icd9": {"train": 154_542, "dev": 21_980, "test": 32_804},
                  "icd10": {"train": 89_099, "dev": 13_378, "test": 19_802}}
"""Admissions per split in the files Edin et al. publish (counted from them; their ``val`` is our ``dev``)."""
EDIN_NAMES = {"train": "train", "val": "dev", "test": "test"}


def caml_filename(split: str, setting: str) -> str:
    return f"{split}_{'50' if setting == 'top_k' else 'full'}_hadm_ids.csv"


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


def read_edin_splits(splits_dir: str | Path, code_system: str) -> tuple[dict[str, np.ndarray], dict]:
    """HADM_IDs of each split from Edin et al.'s file for ``code_system``, and its sizes beside the published."""
    path = Path(splits_dir) / EDIN_FILES[code_system]
    if not path.exists():
        raise FileNotFoundError(f"{path}: Edin et al. split file not found. Download {path.name} from {EDIN_SOURCE} "
                                "into that folder, or use cohort.split: stratified.")
    try:
        table = feather.read_table(path)
    except (pa.ArrowException, OSError) as e:  # a file that is not feather (pyarrow's message not shown)
        raise ValueError(f"{path}: not a readable feather file ({type(e).__name__}); expected {EDIN_FILES[code_system]} "
                         f"as published in {EDIN_SOURCE}") from None
    missing = [c for c in ("_id", "split") if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; found {table.column_names} (expected _id and split)")
    df = table.select(["_id", "split"]).to_pandas()
    ids = pd.to_numeric(df["_id"], errors="coerce")
    bad = ids.isna().to_numpy() | ~df["split"].isin(list(EDIN_NAMES)).to_numpy()
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        column = "_id" if pd.isna(ids.iloc[first]) else "split"
        raise ValueError(f"{path}: {int(bad.sum())} rows are not (HADM_ID, train/val/test) (first: row {first}, "
                         f"column {column}; content not shown).")
    if ids.duplicated().any():
        raise ValueError(f"{path}, column _id: {int(ids.duplicated().sum())} HADM_IDs are listed more than once.")
    out = {EDIN_NAMES[k]: ids[df["split"] == k].astype(np.int64).to_numpy() for k in EDIN_NAMES}
    sizes = {name: int(len(out[name])) for name in SPLITS}
    return out, {"file": path.name, "listed": sizes, "published": EDIN_PUBLISHED[code_system],
                 "matches_published": sizes == EDIN_PUBLISHED[code_system]}


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
