"""Documented cohort rules checked through ``build_cohort`` on hand-written MIMIC-III tables (issue 14).

Chart order of a report and its addenda, the ``edin`` normalisation path, admissions whose text normalises to
nothing, the tie rule of the top-k label choice, and a failed build leaving nothing behind.
"""

import pandas as pd
import pytest

from conftest import code, note, write_raw
from mbrnn import cohort, io
from mbrnn.config import CohortConfig, DataConfig

SPLITS = ("train", "dev", "test")


def build(raw, out, **kw):
    """The one call of the cohort builder in this module (adapt here if its signature changes)."""
    kw.setdefault("split_ratios", (0.6, 0.2, 0.2))
    return cohort.build_cohort(CohortConfig(cohort_dir=str(out), **kw), DataConfig(raw_dir=str(raw)), progress=False)


def load_all(out) -> pd.DataFrame:
    return pd.concat([pd.read_parquet(out / f"{s}.parquet") for s in SPLITS]).set_index("hadm_id")


def raw_tables(tmp_path, extra_notes=(), extra_dx=()):
    """Six coded admissions with plain notes, plus the notes and codes a test adds."""
    notes = [note(100 + i, i, 1000 + i, f"Plain note {i} about hypertension.") for i in range(1, 7)]
    dx = [code(i, i, 1000 + i, "4019") for i in range(1, 7)]
    return write_raw(tmp_path / "raw", notes + list(extra_notes), dx + list(extra_dx), [])


def test_addendum_with_a_lower_row_id_but_a_later_date_comes_after_the_report(tmp_path):
    """Chart order is date first: ROW_ID only breaks ties between notes of the same date."""
    raw = raw_tables(tmp_path, [
        note(52, 7, 2007, "Addendum alpha written later.", date="2151-08-06", description="Addendum"),
        note(53, 7, 2007, "Report bravo of the stay.", date="2151-08-04"),
        note(51, 7, 2007, "Addendum charlie same day as the report.", date="2151-08-04", description="Addendum"),
    ], [code(50, 7, 2007, "4019")])
    summary = build(raw, tmp_path / "cohort")
    text = load_all(tmp_path / "cohort").loc[2007, "text"]
    assert text == ("addendum charlie same day as the report report bravo of the stay "
                    "addendum alpha written later")
    assert summary["skipped"]["addenda_appended"] == 2


def test_edin_normalisation_differs_from_caml_where_documented(tmp_path):
    """edin splits at '_', keeps a number at the very start and end of the text, drops inner numbers."""
    raw = raw_tables(tmp_path, [note(60, 7, 2007, "12 x_ray at 10 30 showed CHF, 3 mg po 45")],
                     [code(60, 7, 2007, "4019")])
    build(raw, tmp_path / "edin", text_norm="edin")
    build(raw, tmp_path / "caml", text_norm="caml")
    edin, caml = load_all(tmp_path / "edin").loc[2007], load_all(tmp_path / "caml").loc[2007]
    assert edin["text"] == "12 x ray at showed chf mg po 45"
    assert caml["text"] == "x_ray at showed chf mg po"
    assert edin["n_tokens"] == 9 and caml["n_tokens"] == 6


def test_edin_joins_an_admissions_notes_before_normalising(tmp_path):
    """A number at the end of a report is inner text once its addendum follows, so edin drops it."""
    raw = raw_tables(tmp_path, [note(61, 7, 2007, "Report ends with 45", date="2151-08-04"),
                                note(62, 7, 2007, "addendum ends with 7", date="2151-08-05", description="Addendum")],
                     [code(60, 7, 2007, "4019")])
    build(raw, tmp_path / "cohort", text_norm="edin")
    assert load_all(tmp_path / "cohort").loc[2007, "text"] == "report ends with addendum ends with 7"


@pytest.mark.parametrize("text_norm", ["caml", "edin"])
def test_a_note_that_normalises_to_nothing_is_dropped_and_counted(tmp_path, text_norm):
    raw = raw_tables(tmp_path, [note(70, 7, 2007, "--- 12 / 34 ... ***"), note(71, 8, 2008, "   \n  ")],
                     [code(70, 7, 2007, "4019"), code(71, 8, 2008, "4019")])
    summary = build(raw, tmp_path / "cohort", text_norm=text_norm)
    df = load_all(tmp_path / "cohort")
    assert 2007 not in df.index and 2008 not in df.index
    assert (df["n_tokens"] > 0).all() and (df["text"].str.len() > 0).all()
    assert summary["skipped"]["discharge_rows_empty_text"] == 1  # the blank note, dropped when read
    assert summary["skipped"]["summaries_empty_after_normalisation"] == 1  # punctuation and numbers only
    assert summary["admissions"]["total"] == 6


def test_top_k_ties_are_broken_by_code(tmp_path):
    """Three codes with two admissions each compete for two places: the smaller codes win."""
    dx = [code(200 + i, i, 1000 + i, c) for i, c in ((1, "5849"), (2, "5849"), (3, "2724"), (4, "2724"),
                                                      (5, "4280"), (6, "4280"))]
    raw = raw_tables(tmp_path, extra_dx=dx)
    summary = build(raw, tmp_path / "cohort", label_setting="top_k", top_k=3)
    labels = pd.read_csv(tmp_path / "cohort" / "icd_labels.csv", dtype=str)["code"].tolist()
    assert labels == ["272.4", "401.9", "428.0"]
    assert summary["n_icd_labels"] == 3


@pytest.mark.skipif(not hasattr(io, "atomic_dir"), reason="the cohort folder becomes atomic with io.atomic_dir (issue 10)")
def test_a_failed_build_leaves_no_file_behind(tiny_raw, tmp_path, monkeypatch):
    """A failure after the parquet files were written leaves the output folder as it was: here, absent."""
    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(cohort.io, "write_csv", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        build(tiny_raw, tmp_path / "cohort")
    leftovers = sorted(p.name for p in tmp_path.rglob("*") if not p.is_relative_to(tiny_raw))
    assert leftovers == []
