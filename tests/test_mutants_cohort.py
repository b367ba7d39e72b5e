"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of the cohort builder,
through ``cohort.build_cohort`` only: the CCS label table's columns and the summary's record of labels
without a CCS category."""

import pandas as pd

from mbrnn import cohort


def test_ccs_label_table_and_labels_without_ccs(tiny_raw, tmp_path):
    summary = cohort.build_cohort(tiny_raw, tmp_path / "cohort", progress=False, split_ratios=(0.6, 0.2, 0.2),
                                  max_skip_share={"default": 1.0})
    ccs = pd.read_csv(tmp_path / "cohort" / "ccs_labels.csv", dtype=str, keep_default_na=False)
    assert list(ccs.columns) == ["code", "kind", "description", "train_count"]
    assert len(ccs) and (ccs["kind"] == ccs["code"].str.split(":").str[0]).all()
    assert (ccs.loc[ccs["kind"] == "dx", "description"] != "").any()  # HCUP category names
    without = summary["labels_without_ccs"]
    assert set(without) == {"count", "examples"} and without["count"] == len(without["examples"])
