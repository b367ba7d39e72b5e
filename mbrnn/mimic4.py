"""MIMIC-IV v2.2 as the cohort's input: ``hosp/`` code tables and ``note/discharge`` (MIMIC-IV-Note v2.2).

The tables, below ``data.raw_dir`` (``.csv.gz`` as PhysioNet ships them, or uncompressed ``.csv``):
``hosp/diagnoses_icd`` (subject_id, hadm_id, seq_num, icd_code, icd_version), ``hosp/procedures_icd`` (the
same plus chartdate), ``hosp/d_icd_diagnoses`` and ``hosp/d_icd_procedures`` (icd_code, icd_version,
long_title) and ``note/discharge`` (note_id, subject_id, hadm_id, note_type, note_seq, charttime, storetime,
text). Columns are found by name in any order and case (:mod:`mbrnn.raw`).

ICD-9 and ICD-10 codes share the tables, told apart by ``icd_version``. ``cohort.code_system`` keeps the
admissions coded in its version, as Edin et al. (2023) do: an admission coded in the other version is left out
(``admissions_coded_in_other_icd_version``, counted, a selection by design), one coded in both is dropped as
inconsistent (``admissions_with_mixed_icd_versions``, limited by ``cohort.max_skip_share``), a row whose
``icd_version`` is neither 9 nor 10 is skipped (``<table>_unknown_icd_version``, limited, the first line named).
Codes are stored without dots; those of the chosen version are dotted and checked by :mod:`mbrnn.code_tables`.

Every row of ``note/discharge`` is a discharge summary (note_type ``DS``); an admission's notes are joined in
the order of ``charttime``, then ``note_seq``; a repeated ``note_id`` is counted and dropped
(``discharge_rows_duplicated``). The de-identification placeholder of MIMIC-IV is ``___`` (MIMIC-III's
``[** **]``); text normalisation treats it as any other characters (``caml``: the token ``___``; ``edin``: none).
Messages name the file, column and line, never a field's content.
"""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from . import code_tables, codes
from .noteevents import DISCHARGE, NOTE_COLUMNS, _prepare_rows, assemble, result, submit
from .raw import CohortInputError, PHYSIONET_IV, columns_of, gzip_error, read_table
from .skips import Skips

NOTES = "note/discharge"
CODE_TABLES = (("hosp/diagnoses_icd", codes.DX), ("hosp/procedures_icd", codes.PX))
DESCRIPTION_TABLES = (("hosp/d_icd_diagnoses", codes.DX), ("hosp/d_icd_procedures", codes.PX))
VERSIONS = {"icd9": "9", "icd10": "10"}
_READ = ["NOTE_ID", "SUBJECT_ID", "HADM_ID", "NOTE_SEQ", "CHARTTIME", "TEXT"]


def read_discharge(path: Path, skips: Skips, text_norm: str = "caml", pool=None, progress: bool = True,
                   block_size: int = 1 << 24, limits: dict | None = None):
    """Discharge summaries per admission, as :func:`mbrnn.noteevents.read_discharge_summaries` returns them:
    ``note/discharge`` streamed in blocks, each block's notes normalised by ``pool`` (or here)."""
    names = columns_of(path, NOTES, _READ)
    garbled, seen, pending = [0], set(), []

    def count_garbled(_row) -> str:
        garbled[0] += 1
        return "skip"

    types = {c: pa.string() for c in _READ} | {"TEXT": pa.binary()}
    try:
        stream = pa.input_stream(str(path), compression="gzip" if path.suffix == ".gz" else None)
        reader = pacsv.open_csv(
            stream, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False, block_size=block_size),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=count_garbled),
            convert_options=pacsv.ConvertOptions(include_columns=_READ, column_types=types, strings_can_be_null=True))
        first = 0
        for batch in reader:
            rows = _as_noteevents(pa.Table.from_batches([batch]), first, seen, skips, path)
            first += batch.num_rows
            pending.append(submit(pool, _prepare_rows, rows, text_norm, garbled[0]))
            garbled[0] = 0
        results = [result(pool, p) for p in pending]
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    except pa.ArrowInvalid:
        raise CohortInputError(f"{path}: not a readable MIMIC-IV discharge CSV (pyarrow could not parse it; row "
                               f"content not shown); is it unmodified from {PHYSIONET_IV}?") from None
    if not results:
        raise CohortInputError(f"{path}: holds no discharge summaries (a header but no rows).")
    return assemble(results, skips, path, text_norm, pool, progress, limits)


def _as_noteevents(rows: pa.Table, first: int, seen: set, skips: Skips, path: Path) -> pa.Table:
    """A block of ``note/discharge`` in NOTEEVENTS' columns (see the module docstring): ROW_ID its line order,
    CHARTDATE the charttime, CHARTTIME the zero-padded note_seq; note_ids seen before dropped and counted."""
    ids = rows.column("NOTE_ID").to_pylist()
    keep = []
    for note_id in ids:
        keep.append(note_id is None or note_id not in seen)
        seen.add(note_id)
    dropped = len(ids) - sum(keep)
    if dropped:
        skips.add("discharge_rows_duplicated", dropped)
        skips.hints["discharge_rows_duplicated"] = f"{path}, column NOTE_ID: rows repeat (a file appended twice?)."
    n = rows.num_rows
    table = pa.table({
        "ROW_ID": pa.array(np.arange(first, first + n).astype(str)), "SUBJECT_ID": rows.column("SUBJECT_ID"),
        "HADM_ID": rows.column("HADM_ID"), "CHARTDATE": rows.column("CHARTTIME"),
        "CHARTTIME": pc.utf8_lpad(rows.column("NOTE_SEQ"), 12, "0"), "CATEGORY": pa.array([DISCHARGE] * n),
        "DESCRIPTION": pa.nulls(n, pa.string()), "ISERROR": pa.nulls(n, pa.string()), "TEXT": rows.column("TEXT"),
    }).select(NOTE_COLUMNS)
    return table.filter(pa.array(keep, pa.bool_()))


def read_descriptions(paths: dict[str, Path], system: str) -> dict[str, dict[str, str]]:
    """``hosp/d_icd_*`` rows of the chosen version: kind → {undotted code: long title}."""
    out = {}
    for table, kind in DESCRIPTION_TABLES:
        df, bad_lines = read_table(paths[table], table, ["ICD_CODE", "ICD_VERSION", "LONG_TITLE"])
        if bad_lines:
            raise CohortInputError(f"{paths[table]}: {len(bad_lines)} rows have more fields than the header (first: "
                                   f"line {bad_lines[0]}); is it unmodified from {PHYSIONET_IV}?")
        df = df[df["ICD_VERSION"].fillna("").str.strip() == VERSIONS[system]].dropna(subset=["ICD_CODE"])
        out[kind] = dict(zip(df["ICD_CODE"].str.strip(), df["LONG_TITLE"].fillna("")))
    return out


def read_code_tables(paths: dict[str, Path], system: str) -> tuple[pd.DataFrame, dict, Skips, np.ndarray]:
    """The code rows of the admissions coded in ``system``, the descriptions, the skips and the HADM_IDs left out
    because they are coded in the other version or in both (run in a worker)."""
    skips = Skips()
    descriptions = read_descriptions(paths, system)
    dictionary = {kind: set(d) | set(code_tables.release_descriptions(kind, system)) for kind, d in descriptions.items()}
    tables = [_versioned_rows(paths[table], table, kind, skips) for table, kind in CODE_TABLES]
    keep, left_out = _admissions_of_version(pd.concat([t[["HADM_ID", "VERSION"]] for t in tables]), system, skips)
    frames = []
    for (table, kind), df in zip(CODE_TABLES, tables):
        df = df[df["HADM_ID"].isin(keep)]
        where, prefix = f"{paths[table]}, column ICD_CODE", table.split("/")[1]
        frames.append(code_tables.clean_codes(df, "ICD_CODE", kind, system, where, prefix, skips, dictionary))
    return code_tables.dedup(frames, skips), descriptions, skips, left_out


def _versioned_rows(path: Path, table: str, kind: str, skips: Skips) -> pd.DataFrame:
    """A code table's rows with integer ids and an ``icd_version`` of 9 or 10 (``VERSION``); the rest counted."""
    prefix = table.split("/")[1]
    df, bad_lines = read_table(path, table, ["SUBJECT_ID", "HADM_ID", "ICD_CODE", "ICD_VERSION"],
                               {"ICD_CODE": object, "ICD_VERSION": object})
    code_tables.count_malformed_lines(bad_lines, len(df), path, prefix, skips)
    df = code_tables.ids(df, path, skips, table)
    version = df["ICD_VERSION"].fillna("").str.strip().str.replace(r"\.0$", "", regex=True)
    unknown = ~version.isin(list(VERSIONS.values())).to_numpy()
    skips.add(f"{prefix}_unknown_icd_version", unknown.sum(), of=len(df))
    if unknown.any():
        line = int(df.index[np.flatnonzero(unknown)[0]]) + 2  # the header is line 1
        skips.hints[f"{prefix}_unknown_icd_version"] = (f"{path}, column ICD_VERSION: values other than 9 and 10 "
                                                        f"(first: line {line}); is the table unmodified?")
    return df[~unknown].assign(VERSION=version[~unknown])


def _admissions_of_version(rows: pd.DataFrame, system: str, skips: Skips) -> tuple[np.ndarray, np.ndarray]:
    """HADM_IDs coded only in ``system``'s version, and those left out (coded in the other one or in both; counted)."""
    versions = rows.drop_duplicates().groupby("HADM_ID")["VERSION"].agg(["nunique", "first"])
    mixed = versions["nunique"] > 1
    other = ~mixed & (versions["first"] != VERSIONS[system])
    skips.add("admissions_with_mixed_icd_versions", mixed.sum(), of=len(versions))
    skips.hints["admissions_with_mixed_icd_versions"] = ("hosp/diagnoses_icd and hosp/procedures_icd: admissions "
                                                          "coded in both ICD-9 and ICD-10 (MIMIC-IV codes each in one)")
    skips.add("admissions_coded_in_other_icd_version", other.sum())
    return versions.index[~mixed & ~other].to_numpy(), versions.index[mixed | other].to_numpy()
