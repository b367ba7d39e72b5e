import numpy as np
import pandas as pd
import pytest

from mbrnn import cohort, splits, synthetic
from mbrnn.config import CohortConfig, DataConfig


@pytest.fixture(scope="module")
def synthetic_cohort(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("splits")
    synthetic.generate(tmp / "raw", scale=400, seed=2, progress=False)
    summary = cohort.build_cohort(CohortConfig(cohort_dir=str(tmp / "cohort"), label_setting="top_k"),
                                  DataConfig(raw_dir=str(tmp / "raw")), progress=False)
    frames = {s: pd.read_parquet(tmp / "cohort" / f"{s}.parquet") for s in splits.SPLITS}
    return summary, frames, pd.read_csv(tmp / "cohort" / "icd_labels.csv", dtype={"code": str})


def test_no_patient_in_two_splits(synthetic_cohort):
    summary, frames, _ = synthetic_cohort
    subjects = [set(f["subject_id"]) for f in frames.values()]
    assert not (subjects[0] & subjects[1]) and not (subjects[0] & subjects[2]) and not (subjects[1] & subjects[2])
    assert summary["patient_overlap_between_splits"] == 0
    assert any(f["subject_id"].duplicated().any() for f in frames.values())  # several admissions per patient


def test_every_top_k_code_is_in_train(synthetic_cohort):
    _, frames, labels = synthetic_cohort
    assert len(labels) == 50
    assert set(labels["code"]) <= set(frames["train"]["icd_codes"].explode())
    assert (labels["train_count"] > 0).all()


def test_split_ratios_roughly_hold(synthetic_cohort):
    _, frames, _ = synthetic_cohort
    n = np.array([len(f) for f in frames.values()], dtype=float)
    assert np.allclose(n / n.sum(), [0.8, 0.1, 0.1], atol=0.05)


def test_stratification_balances_labels():
    """Label prevalence in each split stays close to the whole: the point of iterative stratification."""
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(300), 2)
    labels = [[f"c{j}" for j in np.flatnonzero(rng.random(8) < np.linspace(0.05, 0.6, 8))] for _ in subjects]
    fold = splits.stratified_split(subjects, labels, (0.6, 0.2, 0.2), seed=1)
    assert all(len(set(fold[subjects == s])) == 1 for s in range(300))
    Y = np.array([[f"c{j}" in codes for j in range(8)] for codes in labels])
    for k in range(3):
        assert np.abs(Y[fold == k].mean(0) - Y.mean(0)).max() < 0.06
    assert np.array_equal(fold, splits.stratified_split(subjects, labels, (0.6, 0.2, 0.2), seed=1))


def test_bad_ratios():
    with pytest.raises(ValueError, match="split_ratios"):
        splits.stratified_split(np.arange(3), [["a"]] * 3, (0.5, 0.5, 0.5))
