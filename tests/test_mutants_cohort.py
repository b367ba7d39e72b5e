"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of the cohort builder,
through ``cohort.build_cohort`` only: the CCS label table's columns, the summary's record of labels without
a CCS category, the count of CAML-listed admissions missing from the cohort, the column named for a missing ID."""

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
