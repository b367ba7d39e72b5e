"""Shared fixtures: tiny hand-written MIMIC-III tables for exact, readable cohort tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from mbrnn.cohort import TABLES


def _field(v) -> str:
    if v is None:
        return ""
    if isinstance(v, (int, float)):
        return str(v)
    return '"' + str(v).replace('"', '""') + '"'


def write_table(path: Path, columns: list[str], rows: list[dict], compress: bool = True) -> Path:
    lines = [",".join(f'"{c}"' for c in columns)]
    lines += [",".join(_field(r.get(c)) for c in columns) for r in rows]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data, mtime=0) if compress else data)
    return path


def note(row_id, subject, hadm, text, *, date="2151-08-04", category="Discharge summary",
         description="Report", iserror=None):
    return dict(ROW_ID=row_id, SUBJECT_ID=subject, HADM_ID=hadm, CHARTDATE=date, CATEGORY=category,
                DESCRIPTION=description, ISERROR=iserror, TEXT=text)


def code(row_id, subject, hadm, icd9, seq=1):
    return dict(ROW_ID=row_id, SUBJECT_ID=subject, HADM_ID=hadm, SEQ_NUM=seq, ICD9_CODE=icd9)


def write_raw(raw: Path, notes: list[dict], diagnoses: list[dict], procedures: list[dict]) -> Path:
    write_table(raw / "NOTEEVENTS.csv.gz", TABLES["NOTEEVENTS"], notes)
    write_table(raw / "DIAGNOSES_ICD.csv.gz", TABLES["DIAGNOSES_ICD"], diagnoses)
    write_table(raw / "PROCEDURES_ICD.csv.gz", TABLES["PROCEDURES_ICD"], procedures)
    write_table(raw / "D_ICD_DIAGNOSES.csv.gz", TABLES["D_ICD_DIAGNOSES"],
                [dict(ROW_ID=1, ICD9_CODE="4019", SHORT_TITLE="Hypertension NOS",
                      LONG_TITLE="Unspecified essential hypertension")])
    write_table(raw / "D_ICD_PROCEDURES.csv.gz", TABLES["D_ICD_PROCEDURES"],
                [dict(ROW_ID=1, ICD9_CODE="3893", SHORT_TITLE="Venous cath NEC",
                      LONG_TITLE="Venous catheterization, not elsewhere classified")])
    return raw


def tiny_rows() -> tuple[list[dict], list[dict], list[dict]]:
    """The rows of :func:`tiny_raw` (notes, diagnoses, procedures), for tests that add to them."""
    notes = [
        note(11, 1, 101, "Addendum: patient also had hypertension [**2151-8-5**].", date="2151-08-05",
             description="Addendum"),
        note(10, 1, 101, "Admission Date: [**2151-7-16**]\nChief complaint: chest pain 123 mg.\nHTN, CAD."),
        note(12, 1, 101, "ERROR NOTE SHOULD NOT APPEAR", iserror=1),
        note(13, 1, 101, "Nursing text should not appear", category="Nursing"),
        note(20, 2, 201, "Fall from ladder. Venous catheter placed."),
        note(30, 3, 301, "Hypertension, on lisinopril."),
        note(40, 4, 401, "Long term anticoagulant use, hypertension."),
        note(50, 5, 501, "Infusion of drug eluting stent. hypertension"),
        note(60, 6, 601, "Hypertension follow-up. Fall at home."),
        note(70, 7, 701, "Catheter and hypertension."),
        note(71, 7, 702, "Second admission of patient seven; hypertension."),
        note(80, 8, 801, "Summary with codes only in V table; anticoagulants."),
    ]
    dx = [
        code(1, 1, 101, "4019"), code(2, 1, 101, "4019", 2), code(3, 1, 101, "41401", 3),
        code(4, 2, 201, "E8798"), code(5, 3, 301, "4019"), code(6, 4, 401, "V5861"), code(7, 4, 401, "4019", 2),
        code(8, 5, 501, "4019"), code(9, 6, 601, "4019"), code(10, 6, 601, "E8798", 2), code(11, 7, 701, "4019"),
        code(12, 7, 702, "4019"), code(13, 8, 801, "V5861"), code(14, 9, 901, "4019"), code(15, 2, 201, None, 2),
    ]
    px = [code(1, 2, 201, "3893"), code(2, 5, 501, "0066"), code(3, 7, 701, "3893")]
    return notes, dx, px


@pytest.fixture
def tiny_raw(tmp_path) -> Path:
    """Eight patients, ten admissions, with addenda out of file order, an ISERROR row, a duplicate code row,
    a leading-zero procedure, E and V codes, a null code, a coded admission without a summary and another note
    category."""
    return write_raw(tmp_path / "raw", *tiny_rows())
