"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of the cohort builder,
mostly through ``cohort.build_cohort``: the CCS label table's columns, the summary's record of labels without
a CCS category, the count of CAML-listed admissions missing from the cohort, the column named for a missing ID;
and ``summarise`` on hand-worked splits (every figure of ``cohort.json``)."""

import re

import numpy as np
import pandas as pd
import pytest

from conftest import code, write_table
from mbrnn import cohort
from mbrnn.config import CohortConfig, DataConfig
from mbrnn.schema import COLUMNS as TABLES


def build(raw, tmp_path, **kw):
    kw.setdefault("max_skip_share", {"default": 1.0})
    return cohort.build_cohort(CohortConfig(cohort_dir=str(tmp_path / "cohort"), **kw), DataConfig(raw_dir=str(raw)),
                               progress=False)


def test_ccs_label_table_and_labels_without_ccs(tiny_raw, tmp_path):
    summary = build(tiny_raw, tmp_path, split_ratios=(0.6, 0.2, 0.2))
    ccs = pd.read_csv(tmp_path / "cohort" / "ccs_labels.csv", dtype=str, keep_default_na=False)
    assert list(ccs.columns) == ["code", "kind", "description", "train_count"]
    assert len(ccs) and (ccs["kind"] == ccs["code"].str.split(":").str[0]).all()
    assert (ccs.loc[ccs["kind"] == "dx", "description"] != "").any()  # HCUP category names
    without = summary["labels_without_ccs"]
    assert set(without) == {"count", "examples"} and without["count"] == len(without["examples"])


def test_caml_listed_admissions_missing_from_the_cohort_are_counted(tiny_raw, tmp_path):
    lists = tmp_path / "caml"
    lists.mkdir()
    for name, ids in (("train", [101, 201, 301, 401, 501, 601]), ("dev", [701, 702, 99991]), ("test", [801, 99992])):
        (lists / f"{name}_full_hadm_ids.csv").write_text("".join(f"{i}\n" for i in ids))
    summary = build(tiny_raw, tmp_path, split="caml", caml_splits_dir=str(lists))
    assert summary["skipped"]["caml_listed_admissions_not_in_cohort"] == 2


@pytest.mark.parametrize("subject,hadm,column", [(None, 101, "SUBJECT_ID"), (1, None, "HADM_ID")])
def test_a_missing_id_is_named_by_column_and_line(tiny_raw, tmp_path, subject, hadm, column):
    rows = [code(1, 1, 101, "4019"), code(2, subject, hadm, "4019"), code(3, 1, 101, "41401")]
    write_table(tiny_raw / "DIAGNOSES_ICD.csv.gz", TABLES["DIAGNOSES_ICD"], rows)
    with pytest.raises(cohort.CohortInputError, match=rf"DIAGNOSES_ICD\.csv\.gz: 1 of 3 rows have a non-integer "
                                                      rf"SUBJECT_ID/HADM_ID \(first: column {column}, line 3\)"):
        build(tiny_raw, tmp_path)


def test_the_summary_records_the_settings_it_was_built_with(tiny_raw, tmp_path):
    summary = build(tiny_raw, tmp_path, split_ratios=(0.6, 0.2, 0.2), split_seed=3)
    assert summary["settings"] == {"source": "synthetic", "code_system": "icd9", "label_setting": "full",
                                   "text_norm": "caml", "split": "stratified", "seed": 3,
                                   "ccs_px_source": summary["settings"]["ccs_px_source"]}


def test_summary_statistics_of_a_hand_worked_cohort():
    """summarise() on three tiny splits, every figure worked out by hand: admissions and patients per split,
    patients shared by two splits (train-dev and train-test), token/label/CCS quantiles (numpy's linear
    interpolation), label tables, codes unseen in train, codes missing from D_ICD and the skips in name order."""
    from types import SimpleNamespace

    from mbrnn import code_tables
    from mbrnn.cohort import summarise

    def split(subjects, tokens, icd, ccs):
        return pd.DataFrame({"subject_id": subjects, "n_tokens": tokens, "icd_codes": icd, "ccs_codes": ccs,
                             "text": ["t"] * len(subjects)})

    per_split = {"train": split([1, 2, 2], [10, 20, 30], [["a"], ["a", "b"], ["b", "c"]], [["x"], ["x", "y"], ["y"]]),
                 "dev": split([1], [40], [["a", "d"]], [["x", "z"]]),
                 "test": split([2, 4], [50, 60], [["e"], ["a"]], [["q"], ["x"]])}
    labels = pd.DataFrame({"code": list("abcde"), "kind": ["dx", "dx", "px", "dx", "px"],
                           "ccs": ["x", "y", "", "x", ""]})
    skips = SimpleNamespace(counts={"b_cause": 2, "a_cause": 1})
    got = summarise(per_split, labels, pd.DataFrame({"code": list("xyzq")}), skips, (["d"], []), {"k": 1})
    assert got == {
        "settings": {"k": 1},
        "admissions": {"train": 3, "dev": 1, "test": 2, "total": 6},
        "patients": {"train": 2, "dev": 1, "test": 2, "total": 3},
        "patient_overlap_between_splits": 2,
        "tokens_per_admission": {"p05": 12.5, "p25": 22.5, "median": 35.0, "p75": 47.5, "p95": 57.5, "max": 60.0,
                                 "mean": 35.0},
        "labels_per_admission": {"p05": 1.0, "p25": 1.0, "median": 1.5, "p75": 2.0, "p95": 2.0, "max": 2.0,
                                 "mean": 1.5},
        "ccs_per_admission": {"p05": 1.0, "p25": 1.0, "median": 1.0, "p75": 1.75, "p95": 2.0, "max": 2.0,
                              "mean": 1.33},
        "n_icd_labels": 5,
        "n_icd_labels_by_kind": {"dx": 3, "px": 2},
        "n_ccs_labels": 4,
        "distinct_codes": {"train": 3, "dev": 2, "test": 2},
        "codes_unseen_in_train": {"dev": 1, "test": 1},
        "labels_without_ccs": {"count": 2, "examples": ["c", "e"]},
        "codes_missing_from_d_icd": {"count": 1, "examples": ["d"]},
        f"codes_unknown_to_{code_tables.RELEASE['icd9']}": {"count": 0, "examples": []},
        "skipped": {"a_cause": 1, "b_cause": 2},
    }
    assert list(got["skipped"]) == ["a_cause", "b_cause"]
    assert all(isinstance(v, float) for v in got["tokens_per_admission"].values())


@pytest.mark.parametrize("name, unlisted, fits", [("caml", "cohort_admissions_not_in_caml_lists", "real MIMIC-III"),
                                                 ("edin", "cohort_admissions_not_in_edin_split", "real MIMIC-IV")])
def test_listed_folds_count_both_directions_and_name_what_fits(name, unlisted, fits):
    """Published split lists: each listed admission gets its split's fold, an unlisted one -1; listed admissions
    the cohort lacks are counted against all listed, cohort admissions the lists lack are counted; lists that
    match nothing are refused, naming the data they fit."""
    from mbrnn.cohort import CohortInputError, _listed_folds
    from mbrnn.skips import Skips

    cohort_df = pd.DataFrame({"hadm_id": [1, 2, 3, 4]})
    ids = {"train": np.array([1, 9]), "dev": np.array([2]), "test": np.array([3, 8, 7])}
    skips, data = Skips(), DataConfig(raw_dir="raw")
    folds = _listed_folds(cohort_df, ids, name, "lists", "dir", data, skips)
    assert folds.tolist() == [0, 1, 2, -1]
    assert skips.counts == {f"{name}_listed_admissions_not_in_cohort": 3, unlisted: 1}
    assert skips.of == {f"{name}_listed_admissions_not_in_cohort": 6}
    message = (f"none of the admissions in raw appear in the lists in dir: the lists only fit {fits}; use "
               "cohort.split: stratified for other data.")
    with pytest.raises(CohortInputError, match="^" + re.escape(message) + "$"):
        _listed_folds(cohort_df, {"train": np.array([9]), "dev": np.array([8]), "test": np.array([7])}, name,
                      "lists", "dir", data, Skips())


def test_label_selection_full_top_k_default_and_unknown_setting():
    """full: every code, whatever top_k; top_k: the 50 most frequent by default (ties by code); an unknown setting
    is refused, naming the choices and the key."""
    from mbrnn.cohort import LABEL_SETTINGS, select_labels

    lists = pd.Series([[f"c{i:02d}"] * (60 - i) for i in range(60)])  # c00 most frequent, ..., c59 least
    assert select_labels(lists, "full", top_k=1) == [f"c{i:02d}" for i in range(60)]
    assert select_labels(lists, "top_k") == [f"c{i:02d}" for i in range(50)]
    message = f"unknown label setting 'top50'; choose one of {LABEL_SETTINGS} (params.yaml: cohort.label_setting)"
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        select_labels(lists, "top50")


def test_code_counts_per_split_zero_where_absent_most_frequent_in_train_first():
    from mbrnn.cohort import _code_counts

    cohort_df = pd.DataFrame({"fold": [0, 0, 1, 2], "codes_all": [["401.9", "38.93"], ["401.9"], ["38.93"], ["250.00"]]})
    got = _code_counts(cohort_df)
    assert got["code"].tolist() == ["401.9", "38.93", "250.00"]  # train count 2, 1, 0
    assert got[["train_count", "dev_count", "test_count"]].to_numpy().tolist() == [[2, 0, 0], [1, 1, 0], [0, 0, 1]]
    assert got["kind"].tolist() == ["dx", "px", "dx"] and (got.dtypes[["train_count", "dev_count"]] == "int64").all()
