"""Hostile and careless inputs to the cohort builder (issue 10): each gets a clear error naming file, column and
row (never a field's content), or is handled correctly; the previous cohort survives every failure.

Every note of the tiny tables carries a sentinel token; it may reach the cohort parquet, nothing else.
"""

from __future__ import annotations

import gzip
import json
import multiprocessing
import os
import signal
import time
import traceback

import pandas as pd
import pytest

from conftest import write_table
from mbrnn import cohort, io, noteevents
from mbrnn.cohort import TABLES, CohortInputError, CohortLossError, WorkerDiedError
from mbrnn.config import CohortConfig, DataConfig

SENTINEL = "sentinelzq8hostile"
SPLITS = ("train", "dev", "test")


@pytest.fixture
def raw(tiny_raw):
    """The tiny tables with the sentinel at the start of every note (and so on every note's first line)."""
    _edit(tiny_raw, "NOTEEVENTS", lambda b: b.replace(b',"Discharge summary","Report",,,"',
                                                      b',"Discharge summary","Report",,,"' + SENTINEL.encode() + b" ")
          .replace(b',"Discharge summary","Addendum",,,"', b',"Discharge summary","Addendum",,,"' + SENTINEL.encode() + b" "))
    return tiny_raw


def _edit(raw_dir, table, fn):
    path = raw_dir / f"{table}.csv.gz"
    path.write_bytes(gzip.compress(fn(gzip.decompress(path.read_bytes())), mtime=0))


def _lines(raw_dir, table) -> list[bytes]:
    return gzip.decompress((raw_dir / f"{table}.csv.gz").read_bytes()).split(b"\n")


def build(raw_dir, out, **kw):
    kw.setdefault("split_ratios", (0.6, 0.2, 0.2))
    kw.setdefault("max_skip_share", {"default": 0.2})
    workers, source = kw.pop("workers", None), kw.pop("source", "synthetic")
    kw["split_seed"] = kw.pop("seed", 0)
    return cohort.build_cohort(CohortConfig(cohort_dir=str(out), **kw), DataConfig(source=source, raw_dir=str(raw_dir)),
                               workers=workers, progress=False, summary_path=out.parent / "summary.json")


def snapshot(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def _header_less(b):
    return b.split(b"\n", 1)[1]


def _cr_only(b):
    return b.replace(b"\n", b"\r")


def _stray_quote(b):
    return b.replace(b"Fall from ladder.", b'Fall "from ladder.', 1)


def _all_iserror(b):
    return b.replace(b'"Report",,', b'"Report",,1').replace(b'"Addendum",,', b'"Addendum",,1')


def _unquoted_category(b):
    lines = b.split(b"\n")
    return b"\n".join(l.replace(b'"Discharge summary"', b"Discharge summary") if i % 2 else l for i, l in enumerate(lines))


def _duplicated(b):
    header, rest = b.split(b"\n", 1)
    return header + b"\n" + rest + rest


def _header_only(b):
    return b.split(b"\n", 1)[0] + b"\n"


def _other_hadm_ids(b):
    lines = b.split(b"\n")
    out = [lines[0]]
    for line in lines[1:]:
        if line:
            f = line.split(b",")
            f[2] = str(int(f[2]) + 5000).encode() if f[2] else f[2]
            out.append(b",".join(f))
    return b"\n".join(out) + b"\n"


def _strip_leading_zeros(b):
    lines = b.split(b"\n")
    return b"\n".join([lines[0]] + [l.replace(b'"0', b'"').replace(b'"4', b'"04') for l in lines[1:]])


BAD = {  # name: (table, edit, expected error class, pattern the message must match)
    "noteevents_without_header": ("NOTEEVENTS", _header_less, CohortInputError, r"NOTEEVENTS\.csv\.gz: missing column.*line 1 has \d+ field"),
    "noteevents_cr_only": ("NOTEEVENTS", _cr_only, CohortInputError, r"NOTEEVENTS\.csv\.gz: line 1 is not a header.*CR-only"),
    "diagnoses_without_header": ("DIAGNOSES_ICD", _header_less, CohortInputError, r"DIAGNOSES_ICD\.csv\.gz: missing column"),
    "stray_quote_in_text": ("NOTEEVENTS", _stray_quote, CohortInputError, r"NOTEEVENTS\.csv\.gz: .*byte [\d,]+.*not doubled"),
    "every_row_iserror": ("NOTEEVENTS", _all_iserror, CohortLossError, r"discharge_iserror_rows: \d+ of 11"),
    "category_half_unquoted": ("NOTEEVENTS", _unquoted_category, CohortInputError, r"NOTEEVENTS\.csv\.gz, column CATEGORY: \d+ record\(s\).*without quotes"),
    "noteevents_rows_duplicated": ("NOTEEVENTS", _duplicated, CohortLossError, r"discharge_rows_duplicated: \d+ of 22.*ROW_ID"),
    "diagnoses_header_only": ("DIAGNOSES_ICD", _header_only, CohortLossError, r"summaries_without_codes"),
    "no_shared_hadm_id": ("DIAGNOSES_ICD", _other_hadm_ids, CohortLossError, r"(summaries_without_codes|coded_admissions_without_summary): \d+ of.*same MIMIC-III release"),
    "leading_zeros_stripped": ("DIAGNOSES_ICD", _strip_leading_zeros, CohortLossError,
                               r"diagnoses_icd_(unknown|malformed)_codes.*\d+ are known once leading zeros are restored"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_input_fails_clearly_without_text_and_keeps_the_old_cohort(case, raw, tmp_path, capfd):
    out = tmp_path / "out" / "cohort"
    build(raw, out, label_setting="full")
    before = snapshot(out)
    assert SENTINEL.encode() in before["train.parquet"] + before["dev.parquet"] + before["test.parquet"]
    table, edit, error, pattern = BAD[case]
    if case == "diagnoses_header_only":
        _edit(raw, "PROCEDURES_ICD", _header_only)
    if case == "no_shared_hadm_id":
        _edit(raw, "PROCEDURES_ICD", _other_hadm_ids)
    _edit(raw, table, edit)
    started = time.monotonic()
    with pytest.raises(error, match=pattern) as info:
        build(raw, out, label_setting="full")
    assert time.monotonic() - started < 30
    text = "".join(traceback.format_exception(info.value))
    captured = capfd.readouterr()
    assert SENTINEL not in text and SENTINEL not in captured.out + captured.err
    assert "Nothing was written" in text or error is CohortInputError
    assert snapshot(out) == before  # the previous cohort is untouched
    assert sorted(p.name for p in out.parent.iterdir()) == ["cohort", "summary.json"]  # no temporaries


def test_diagnoses_given_as_procedures_is_refused(raw, tmp_path):
    (raw / "PROCEDURES_ICD.csv.gz").write_bytes((raw / "DIAGNOSES_ICD.csv.gz").read_bytes())
    with pytest.raises(CohortLossError, match=r"procedures_icd_malformed_codes.*\d+ are diagnosis codes"):
        build(raw, tmp_path / "cohort", label_setting="full")


def test_both_csv_and_csv_gz_is_an_error(raw, tmp_path):
    (raw / "DIAGNOSES_ICD.csv").write_bytes(gzip.decompress((raw / "DIAGNOSES_ICD.csv.gz").read_bytes()))
    with pytest.raises(CohortInputError, match=r"DIAGNOSES_ICD\.csv\.gz and .*DIAGNOSES_ICD\.csv both exist"):
        build(raw, tmp_path / "cohort")


def test_pre_dotted_diagnosis_codes_give_the_same_cohort(raw, tmp_path):
    a = build(raw, tmp_path / "a" / "cohort", label_setting="full")
    dotted = {b'"4019"': b'"401.9"', b'"41401"': b'"414.01"', b'"E8798"': b'"E879.8"', b'"V5861"': b'"V58.61"'}

    def dot(b):
        for k, v in dotted.items():
            b = b.replace(k, v)
        return b
    _edit(raw, "DIAGNOSES_ICD", dot)
    b = build(raw, tmp_path / "b" / "cohort", label_setting="full")
    assert a == b
    assert snapshot(tmp_path / "a" / "cohort") == snapshot(tmp_path / "b" / "cohort")


def _shuffle(raw_dir, table, order):
    """Rewrite ``table`` with its columns in ``order`` (names lower-cased: case does not matter either)."""
    path = raw_dir / f"{table}.csv.gz"
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    lines = [",".join(f'"{c.lower()}"' for c in order)]
    for _, row in df.iterrows():
        fields = []
        for c in order:
            v = row[c]
            numeric = c in ("ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ISERROR", "CGID") or v == ""
            fields.append(v if numeric else '"' + v.replace('"', '""') + '"')
        lines.append(",".join(fields))
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0))


@pytest.mark.parametrize("text_first", [False, True], ids=["category-early", "text-before-category"])
def test_shuffled_lowercase_columns_give_the_identical_cohort(raw, tmp_path, text_first):
    a = build(raw, tmp_path / "a" / "cohort", label_setting="full")
    for table, columns in TABLES.items():
        order = list(reversed(columns))
        if table == "NOTEEVENTS" and not text_first:  # CATEGORY after the id/date columns only: the fast path
            order = ["CHARTTIME", "HADM_ID", "ROW_ID", "SUBJECT_ID", "STORETIME", "CHARTDATE", "CATEGORY",
                     "TEXT", "ISERROR", "CGID", "DESCRIPTION"]
        _shuffle(raw, table, order)
    b = build(raw, tmp_path / "b" / "cohort", label_setting="full")
    assert a == b
    assert snapshot(tmp_path / "a" / "cohort") == snapshot(tmp_path / "b" / "cohort")


# --- parameters, before any data is read --------------------------------------------------------------------

@pytest.mark.parametrize("kw,key", [
    (dict(split_ratios=[1, 0, 0]), "cohort.split_ratios"),
    (dict(split_ratios=[0.5, 0.5]), "cohort.split_ratios"),
    (dict(top_k=-5), "cohort.top_k"),
    (dict(top_k=10.5), "cohort.top_k"),
    (dict(top_k=0), "cohort.top_k"),
    (dict(stratify_labels=0), "cohort.stratify_labels"),
    (dict(seed=-1), "cohort.split_seed"),
    (dict(seed="zero"), "cohort.split_seed"),
    (dict(label_setting="top10"), "cohort.label_setting"),
    (dict(text_norm="lower"), "cohort.text_norm"),
    (dict(max_skip_share={"default": 2}), "cohort.max_skip_share.default"),
    (dict(max_skip_share={"default": 0.1, "nonsense": 0.5}), "cohort.max_skip_share"),
    (dict(ccs_px_file="missing-prref.csv"), "cohort.ccs_px_file"),
    (dict(source="mimic3"), "cohort.ccs_px_file is null while data.source is mimic3.*hcup"),
    (dict(ccs_px_fallback="yes"), "cohort.ccs_px_fallback"),
])
def test_bad_parameters_fail_before_reading_data(kw, key, tmp_path):
    from mbrnn.config import ParamsError

    with pytest.raises(ParamsError, match=f"params.yaml {key}"):
        build(tmp_path / "no-such-raw-dir", tmp_path / "cohort", **kw)


def test_mimic3_with_explicit_ccs_fallback_runs(raw, tmp_path):
    summary = build(raw, tmp_path / "cohort", source="mimic3", ccs_px_fallback="icd9_two_digit", label_setting="full")
    assert summary["settings"]["ccs_px_source"] == "icd9_two_digit_category"


# --- dead workers and interrupted writes --------------------------------------------------------------------

def _die(*args):
    os.kill(os.getpid(), signal.SIGKILL)


def test_a_killed_worker_fails_the_build_within_seconds(raw, tmp_path, monkeypatch):
    monkeypatch.setattr(noteevents, "PARALLEL_MIN_BYTES", 0)
    monkeypatch.setattr(noteevents, "_prepare_block", _die)
    started = time.monotonic()
    with pytest.raises(WorkerDiedError, match="SIGKILL.*out-of-memory"):
        build(raw, tmp_path / "cohort", workers=2, max_skip_share={"default": 1.0})
    assert time.monotonic() - started < 20
    assert not (tmp_path / "cohort").exists()


def _build_and_die_while_writing(raw_dir, out):
    def die(*a, **k):
        os.kill(os.getpid(), signal.SIGKILL)
    cohort.io.write_csv = die  # dies after the three parquet files are written into the new folder
    build(raw_dir, out, label_setting="top_k", top_k=1, max_skip_share={"default": 1.0})


def test_sigkill_while_writing_leaves_the_old_folder_and_the_next_run_cleans_up(raw, tmp_path):
    out = tmp_path / "out" / "cohort"
    build(raw, out, label_setting="full")
    before = snapshot(out)
    child = multiprocessing.get_context("fork").Process(target=_build_and_die_while_writing, args=(raw, out))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    assert snapshot(out) == before
    leftovers = [p for p in out.parent.iterdir() if p.name.startswith(".cohort.tmp-")]
    assert leftovers and any((p / "train.parquet").exists() for p in leftovers)
    build(raw, out, label_setting="full")
    assert sorted(p.name for p in out.parent.iterdir()) == ["cohort", "summary.json"]


def test_atomic_dir_restores_the_old_folder_after_a_death_between_two_renames(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "x").write_text("old")
    # what the two-rename fallback leaves when killed between its renames: old moved away, new not yet in place
    os.rename(tmp_path / "d", tmp_path / ".d.tmp-abc.old")
    (tmp_path / ".d.tmp-abc").mkdir()
    with io.atomic_dir(tmp_path / "d") as tmp:
        assert (tmp_path / "d" / "x").read_text() == "old"
        (tmp / "x").write_text("new")
    assert (tmp_path / "d" / "x").read_text() == "new"
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_a_bad_caml_split_list_is_named_without_its_content(raw, tmp_path):
    d = tmp_path / "caml"
    d.mkdir()
    for name in SPLITS:
        (d / f"{name}_full_hadm_ids.csv").write_text("101\n" if name != "dev" else f"101\n{SENTINEL}\n")
    with pytest.raises(ValueError, match=r"dev_full_hadm_ids\.csv: 1 lines are not HADM_IDs \(first: entry 2") as info:
        build(raw, tmp_path / "cohort", split="caml", caml_splits_dir=d, label_setting="full")
    assert SENTINEL not in "".join(traceback.format_exception(info.value))


def _extra_field(every: int):
    """Give every ``every``-th data row of a table one field more than its header (a broken export)."""
    def edit(b):
        lines = b.split(b"\n")
        return b"\n".join(line + b',"x"' if i % every == 0 and i and line else line for i, line in enumerate(lines))
    return edit


def test_a_few_malformed_code_rows_are_counted_not_silently_dropped(raw, tmp_path):
    rows = len(_lines(raw, "DIAGNOSES_ICD")) - 2  # header and final empty line
    _edit(raw, "DIAGNOSES_ICD", _extra_field(rows))  # one row
    build(raw, tmp_path / "cohort", label_setting="full")
    skipped = json.loads((tmp_path / "summary.json").read_text())["skipped"]
    assert skipped["diagnoses_icd_rows_malformed"] == 1
    assert skipped["procedures_icd_rows_malformed"] == 0


def test_many_malformed_code_rows_fail_with_the_cause_and_first_line(raw, tmp_path):
    _edit(raw, "DIAGNOSES_ICD", _extra_field(2))  # every second row
    with pytest.raises(CohortLossError, match=r"diagnoses_icd_rows_malformed: \d+ of \d+.*first: line 3"):
        build(raw, tmp_path / "cohort", label_setting="full")


def test_a_malformed_dictionary_row_is_an_error_naming_its_line(raw, tmp_path):
    _edit(raw, "D_ICD_DIAGNOSES", _extra_field(1))  # the tiny dictionary has one row
    with pytest.raises(CohortInputError, match=r"D_ICD_DIAGNOSES\.csv\.gz: line 2 has more fields than the header"):
        build(raw, tmp_path / "cohort", label_setting="full")


def test_extra_fields_in_a_later_dictionary_row_are_named_by_line(raw, tmp_path):
    _edit(raw, "D_ICD_PROCEDURES", lambda b: b + b'2,"3894","x","y","z"\n')
    with pytest.raises(CohortInputError, match=r"D_ICD_PROCEDURES\.csv\.gz: 1 rows have more fields.*first: line 3"):
        build(raw, tmp_path / "cohort", label_setting="full")
