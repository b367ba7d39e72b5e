import gzip
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from conftest import code, note, write_raw, write_table
from mbrnn import cohort, noteevents
from mbrnn.cohort import TABLES, CohortInputError
from mbrnn.config import CohortConfig, DataConfig


def build(raw, tmp_path, **kw):
    kw.setdefault("split_ratios", (0.6, 0.2, 0.2))
    kw.setdefault("max_skip_share", {"default": 1.0})  # the tiny tables lose much by design; limits: test_hostile
    workers = kw.pop("workers", None)
    return cohort.build_cohort(CohortConfig(cohort_dir=str(tmp_path / "cohort"), **kw), DataConfig(raw_dir=str(raw)),
                               workers=workers, progress=False)


def load_all(tmp_path):
    return pd.concat([pd.read_parquet(tmp_path / "cohort" / f"{s}.parquet") for s in ("train", "dev", "test")])


def test_cohort_content(tiny_raw, tmp_path):
    summary = build(tiny_raw, tmp_path)
    df = load_all(tmp_path).set_index("hadm_id")
    # report first, then the addendum written a day later (though it comes first in the file); no ISERROR, no nursing
    assert df.loc[101, "text"].startswith("admission date chief complaint chest pain mg htn cad addendum")
    assert "error" not in df.loc[101, "text"] and "nursing" not in df.loc[101, "text"]
    assert df.loc[101, "n_tokens"] == len(df.loc[101, "text"].split())
    # codes dotted as strings, de-duplicated, procedures keep leading zeros
    assert list(df.loc[101, "icd_codes"]) == ["401.9", "414.01"]
    assert list(df.loc[501, "icd_codes"]) == ["00.66", "401.9"]
    assert list(df.loc[201, "icd_codes"]) == ["38.93", "E879.8"]
    assert list(df.loc[401, "icd_codes"]) == ["401.9", "V58.61"]
    # CCS of diagnoses and procedures stay distinct
    assert "dx:98" in df.loc[101, "ccs_codes"] and "px:00" in df.loc[501, "ccs_codes"]
    assert 901 not in df.index  # coded, but no discharge summary
    s = summary["skipped"]
    assert s["discharge_iserror_rows"] == 1
    assert s["duplicate_code_rows"] == 1
    assert s["diagnoses_icd_null_codes"] == 1
    assert s["coded_admissions_without_summary"] == 1
    assert s["addenda_appended"] == 1
    assert summary["admissions"]["total"] == 9
    assert summary["patient_overlap_between_splits"] == 0
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str)
    assert set(labels["code"]) == {"401.9", "414.01", "00.66", "38.93", "E879.8", "V58.61"}
    assert labels.set_index("code").loc["401.9", "description"] == "Unspecified essential hypertension"
    assert labels.set_index("code").loc["00.66", "kind"] == "px"
    # 414.01 is missing from the tiny D_ICD table: described from CMS v32 and reported
    assert "coronary" in labels.set_index("code").loc["414.01", "description"].lower()
    assert "414.01" in summary["codes_missing_from_d_icd"]["examples"]
    assert summary["codes_unknown_to_icd9cm_v32"]["count"] == 0
    counts = pd.read_csv(tmp_path / "cohort" / "code_counts.csv", dtype={"code": str}).set_index("code")
    assert counts.loc["401.9", ["train_count", "dev_count", "test_count"]].sum() == 7  # 9 summaries, all but 201 and 801 coded 401.9
    assert counts.loc["00.66", "kind"] == "px"


def test_top_k_drops_admissions_without_a_label(tiny_raw, tmp_path):
    summary = build(tiny_raw, tmp_path, label_setting="top_k", top_k=1)
    df = load_all(tmp_path)
    assert all(list(c) == ["401.9"] for c in df["icd_codes"])
    assert summary["skipped"]["admissions_without_top_k_code"] == 2  # 201 and 801 have no 401.9
    assert summary["n_icd_labels"] == 1


def test_edin_norm(tiny_raw, tmp_path):
    build(tiny_raw, tmp_path, text_norm="edin")
    df = load_all(tmp_path).set_index("hadm_id")
    assert "mg" in df.loc[101, "text"].split()


def test_deterministic(tiny_raw, tmp_path):
    a = build(tiny_raw, tmp_path)
    first = {s: (tmp_path / "cohort" / f"{s}.parquet").read_bytes() for s in ("train", "dev", "test")}
    b = build(tiny_raw, tmp_path)
    assert a == b
    assert first == {s: (tmp_path / "cohort" / f"{s}.parquet").read_bytes() for s in ("train", "dev", "test")}


# --- bad input ---------------------------------------------------------------------------------------------

def test_missing_file(tiny_raw, tmp_path):
    (tiny_raw / "PROCEDURES_ICD.csv.gz").unlink()
    with pytest.raises(CohortInputError, match=r"PROCEDURES_ICD\.csv\.gz.*physionet"):
        build(tiny_raw, tmp_path)


def test_missing_column(tiny_raw, tmp_path):
    cols = [c for c in TABLES["DIAGNOSES_ICD"] if c != "ICD9_CODE"]
    write_table(tiny_raw / "DIAGNOSES_ICD.csv.gz", cols, [dict(ROW_ID=1, SUBJECT_ID=1, HADM_ID=101, SEQ_NUM=1)])
    with pytest.raises(CohortInputError, match=r"DIAGNOSES_ICD.*ICD9_CODE"):
        build(tiny_raw, tmp_path)


def test_wrong_dtype(tiny_raw, tmp_path):
    rows = [code(i, "abc", "xyz", "4019") for i in range(5)]
    write_table(tiny_raw / "DIAGNOSES_ICD.csv.gz", TABLES["DIAGNOSES_ICD"], rows)
    with pytest.raises(CohortInputError, match=r"DIAGNOSES_ICD.*non-integer"):
        build(tiny_raw, tmp_path)


def test_truncated_gzip(tiny_raw, tmp_path):
    path = tiny_raw / "NOTEEVENTS.csv.gz"
    big = [note(i, 1, 101, "word " * 2000) for i in range(200, 260)]
    write_raw(tiny_raw, big, [code(1, 1, 101, "4019")], [])
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CohortInputError, match=r"NOTEEVENTS\.csv\.gz.*(truncated|damaged)"):
        build(tiny_raw, tmp_path)


def test_garbled_rows_empty_text_and_non_utf8_are_counted(tiny_raw, tmp_path):
    raw = gzip.decompress((tiny_raw / "NOTEEVENTS.csv.gz").read_bytes())
    raw += b'90,9,901,"2151-08-04",,,"Discharge summary","Report",,,"caf\xe9 latin-1 hypertension"\n'
    raw += b'91,9,902,"2151-08-04",,,"Discharge summary","Report",,,"   "\n'
    raw += b'92,9,,"Discharge summary","garbled row with too few fields"\n'
    (tiny_raw / "NOTEEVENTS.csv.gz").write_bytes(gzip.compress(raw, mtime=0))
    summary = build(tiny_raw, tmp_path)
    s = summary["skipped"]
    assert s["discharge_rows_garbled"] == 1
    assert s["discharge_rows_empty_text"] == 1
    assert s["discharge_rows_non_utf8_repaired"] == 1
    df = load_all(tmp_path).set_index("hadm_id")
    assert "hypertension" in df.loc[901, "text"]


def test_malformed_and_unknown_codes_are_counted(tiny_raw, tmp_path):
    path = tiny_raw / "DIAGNOSES_ICD.csv.gz"
    path.write_bytes(gzip.compress(gzip.decompress(path.read_bytes()) + b'30,1,101,4,"40X9"\n31,3,301,2,"99999"\n', mtime=0))
    summary = build(tiny_raw, tmp_path)
    assert summary["skipped"]["diagnoses_icd_malformed_codes"] == 1
    assert summary["codes_unknown_to_icd9cm_v32"]["examples"] == ["999.99"]
    assert summary["labels_without_ccs"]["examples"] == ["999.99"]


def test_bad_settings(tiny_raw, tmp_path):
    with pytest.raises(ValueError, match="cohort.label_setting"):
        build(tiny_raw, tmp_path, label_setting="top10")
    with pytest.raises(ValueError, match="caml_splits_dir"):
        build(tiny_raw, tmp_path, split="caml")


def test_caml_split_lists(tiny_raw, tmp_path):
    d = tmp_path / "caml"
    d.mkdir()
    for name, ids in (("train", [101, 201, 301, 401, 501, 601]), ("dev", [701, 702]), ("test", [801, 12345])):
        (d / f"{name}_full_hadm_ids.csv").write_text("".join(f"{i}\n" for i in ids))
    summary = build(tiny_raw, tmp_path, split="caml", caml_splits_dir=d)
    assert summary["admissions"] == {"train": 6, "dev": 2, "test": 1, "total": 9}
    assert summary["skipped"]["caml_listed_admissions_not_in_cohort"] == 1
    (d / "test_full_hadm_ids.csv").unlink()
    with pytest.raises(FileNotFoundError, match="caml-mimic"):
        build(tiny_raw, tmp_path, split="caml", caml_splits_dir=d)


def test_output_written_atomically_on_failure(tiny_raw, tmp_path, monkeypatch):
    """A failure part-way leaves the previous folder exactly as it was, and no temporary files beside it."""
    build(tiny_raw, tmp_path)
    out = tmp_path / "cohort"
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def boom(*a, **k):
        raise RuntimeError("disk full")
    monkeypatch.setattr(cohort.io, "write_csv", boom)
    with pytest.raises(RuntimeError):
        build(tiny_raw, tmp_path, top_k=1, label_setting="top_k")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cohort", "raw"]


# --- streaming NOTEEVENTS ------------------------------------------------------------------------------------

NASTY_TEXTS = [
    'He said ""no"" twice,"Discharge summary", and left.\nLine two ends with a quote ""',
    "Plain one-line note.",
    'Quote at the very end ""',
    "Several\n\nblank\r\nlines, a comma, and 12 numbers 3.5 mg",
    '"Discharge summary" in quotes at the start',
    "",
]


def _nasty_noteevents(tmp_path) -> bytes:
    rows = []
    for i, t in enumerate(NASTY_TEXTS * 3):
        category = ["Discharge summary", "Nursing/other", "Radiology"][i % 3]
        description = "Discharge summary" if i == 4 else "Report"  # the searched string in another column
        rows.append(note(i + 1, i // 2 + 1, 100 + i // 2, t, category=category, description=description))
    return write_table(tmp_path / "NOTEEVENTS.csv", TABLES["NOTEEVENTS"], rows, compress=False).read_bytes()


def _parse(data: bytes) -> pd.DataFrame:
    table = pacsv.read_csv(pa.py_buffer(data), parse_options=pacsv.ParseOptions(newlines_in_values=True),
                           convert_options=pacsv.ConvertOptions(column_types={"TEXT": pa.string()}))
    return table.to_pandas()


@pytest.mark.parametrize("chunk", [1, 7, 64, 1000, 1 << 20])
def test_discharge_records_cut_out_exactly_the_discharge_summaries(chunk, tmp_path):
    data = _nasty_noteevents(tmp_path)
    everything = _parse(data)
    expected = everything[everything["CATEGORY"] == cohort.DISCHARGE].reset_index(drop=True)
    pieces = (data[i:i + chunk] for i in range(0, len(data), chunk))
    blocks = list(cohort.discharge_records(pieces))
    header = data[: data.index(b"\n") + 1]
    assert blocks and all(b.startswith(header) for b in blocks)
    got = pd.concat([_parse(b) for b in blocks], ignore_index=True)
    got = got[got["CATEGORY"] == cohort.DISCHARGE].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected)
    assert len(expected) == 6 and expected["TEXT"].str.contains('"no"').any()


def test_discharge_records_without_a_final_line_break(tmp_path):
    data = _nasty_noteevents(tmp_path)
    data = data[:-1] + b'\n9,9,909,2151-01-01,,,"Discharge summary","Report",,,"last note, no line break"'
    blocks = list(cohort.discharge_records([data]))
    assert b"last note, no line break" in blocks[-1]


@pytest.mark.parametrize("norm", ["caml", "edin"])
def test_parallel_reading_matches_serial(tiny_raw, tmp_path, monkeypatch, norm):
    monkeypatch.setattr(noteevents, "PARALLEL_MIN_BYTES", 0)  # fork workers even for the tiny file
    a = build(tiny_raw, tmp_path / "serial", workers=1, text_norm=norm)
    b = build(tiny_raw, tmp_path / "parallel", workers=2, text_norm=norm)
    assert a == b
    for split in ("train", "dev", "test"):
        assert (tmp_path / "serial" / "cohort" / f"{split}.parquet").read_bytes() == \
            (tmp_path / "parallel" / "cohort" / f"{split}.parquet").read_bytes()


def test_noteevents_without_quoted_discharge_summaries_fail_clearly(tiny_raw, tmp_path):
    raw = gzip.decompress((tiny_raw / "NOTEEVENTS.csv.gz").read_bytes()).replace(b'"Discharge summary"', b"Discharge summary")
    (tiny_raw / "NOTEEVENTS.csv.gz").write_bytes(gzip.compress(raw, mtime=0))
    with pytest.raises(CohortInputError, match=r"NOTEEVENTS\.csv\.gz, column CATEGORY: 11 record\(s\).*without quotes"):
        build(tiny_raw, tmp_path)
    raw = raw.replace(b"Discharge summary", b"Discharge report")  # no discharge summary at all
    (tiny_raw / "NOTEEVENTS.csv.gz").write_bytes(gzip.compress(raw, mtime=0))
    with pytest.raises(CohortInputError, match=r"NOTEEVENTS\.csv\.gz: no discharge summaries found.*quoted"):
        build(tiny_raw, tmp_path)


def test_note_texts_join_pieces_in_order_skipping_empty_ones():
    blobs = ["alpha béta".encode(), b"gamma", b""]
    # admission 0: "alpha", "" (empty), "béta"; admission 1: nothing; admission 2: "gamma"
    texts = cohort.NoteTexts(blobs, block=np.array([0, 2, 0, 1]), start=np.array([0, 0, 6, 0]),
                             length=np.array([5, 0, 5, 5]), bounds=np.array([0, 3, 3, 4]))
    assert texts.column(np.array([2, 0, 1])).tolist() == ["gamma", "alpha béta", ""]
    assert [[bytes(p) for p in a] for a in texts.pieces([0], skip_empty=False)] == [[b"alpha", b"", "béta".encode()]]
    assert cohort.NoteTexts.of([b"x y", b""]).column(np.array([1, 0])).tolist() == ["", "x y"]
