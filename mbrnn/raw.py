"""The raw MIMIC folder (MIMIC-III v1.4, or MIMIC-IV v2.2 below ``hosp/`` and ``note/``): finding each table,
reading its header by name, reading it whole (:func:`read_table`) or checking it whole (:func:`scan_table`).

Messages about a file name the file, the column and the row (or byte offset), never a field's content: NOTEEVENTS
is credentialed text, and a header-less file's first "header" is a note. Columns are found by name, in any order
and any case; a header that lacks a column, repeats one, or is not a header at all is refused.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import json
import re
import warnings
import zlib
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from . import schema

PHYSIONET = "https://physionet.org/content/mimiciii/1.4/ (credentialed access)"
PHYSIONET_IV = ("https://physionet.org/content/mimiciv/2.2/ (hosp/) and https://physionet.org/content/mimic-iv-note/2.2/ "
                "(note/) (credentialed access)")
TABLES = {name: schema.ALL_COLUMNS[name] for name in schema.COHORT_TABLES}
TABLES_IV = dict(schema.MIMIC4_COLUMNS)
KNOWN_COLUMNS = {c for columns in schema.ALL_COLUMNS.values() for c in columns}
HEADER_LIMIT = 1 << 16
"""A MIMIC-III header is a few hundred bytes; a first line longer than this is not a header."""
MIMIC_ROWS = {"NOTEEVENTS": 2_083_180, "DIAGNOSES_ICD": 651_047, "PROCEDURES_ICD": 240_095,
              "D_ICD_DIAGNOSES": 14_567, "D_ICD_PROCEDURES": 3_882}
"""Rows of the MIMIC-III v1.4 release, reported beside what ``prepare-data`` counts."""


class CohortInputError(ValueError):
    """The raw MIMIC folder is missing something or holds something malformed."""


def origin(table: str) -> str:
    """Where ``table`` comes from: the PhysioNet page of its release."""
    return PHYSIONET_IV if table in TABLES_IV else PHYSIONET


def table_path(raw_dir: str | Path, name: str) -> Path:
    """``NAME.csv.gz`` (as PhysioNet ships it) or an uncompressed ``NAME.csv``; both present is an error."""
    raw_dir = Path(raw_dir)
    found = [raw_dir / f"{name}{suffix}" for suffix in (".csv.gz", ".csv") if (raw_dir / f"{name}{suffix}").exists()]
    if len(found) > 1:
        raise CohortInputError(f"{found[0]} and {found[1]} both exist: remove one, so that it is clear which is read.")
    if not found:
        raise CohortInputError(
            f"{raw_dir / (name + '.csv.gz')}: file not found. It is part of {schema.release(name)} from {origin(name)}; "
            f"put the CSVs (gzipped as downloaded, or uncompressed) in {raw_dir}, or set data.source: synthetic.")
    return found[0]


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def gzip_error(path: Path, e: BaseException) -> CohortInputError:
    return CohortInputError(
        f"{path}: the file is damaged or truncated ({type(e).__name__}). Re-download it from {PHYSIONET} "
        "(or regenerate the synthetic cohort) and check its size/checksum.")


def read_header(path: Path) -> list[str]:
    """Column names of the first line, upper-cased and stripped; refused (without quoting it) when that line is
    too long, holds a CR-only line break, or is not a line of column names."""
    try:
        with _open(path) as f:
            line = f.readline(HEADER_LIMIT + 1)
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    body = line.rstrip(b"\r\n")
    if len(line) > HEADER_LIMIT or b"\r" in body:
        cr = "(it holds CR-only line breaks)" if b"\r" in body else ""
        raise CohortInputError(
            f"{path}: line 1 is not a header line: no LF line break in its first {HEADER_LIMIT} bytes {cr}. MIMIC-III CSVs start with a header of "
            f"column names and end lines with LF; is this file unmodified from {PHYSIONET}?")
    try:
        fields = next(csv.reader([body.decode("utf-8-sig")]), [])
    except (UnicodeDecodeError, csv.Error):
        fields = ["?"]
    return [c.strip().upper() for c in fields]


def columns_of(path: Path, table: str, required: list[str] | None = None) -> list[str]:
    """The header's names (see :func:`read_header`), checked to hold every ``required`` column of ``table``
    (default: all of MIMIC-III's) exactly once."""
    expected = schema.ALL_COLUMNS[table]
    required = required or expected
    header = read_header(path)
    missing = [c for c in required if c not in header]
    if missing:
        known = [c for c in header if c in KNOWN_COLUMNS]
        shown = f"found {header}" if len(known) == len(header) else (
            f"line 1 has {len(header)} field(s), {len(known)} of them MIMIC-III column names (a missing header "
            "line? Line 1 must name the columns)")
        raise CohortInputError(f"{path}: missing column(s) {missing}; {shown}. Expected the {schema.release(table)} "
                               f"columns {expected} in any order — is this the right file, unmodified from {origin(table)}?")
    repeated = sorted({c for c in header if header.count(c) > 1 and c in required})
    if repeated:
        raise CohortInputError(f"{path}: column(s) {repeated} appear more than once in the header (line 1).")
    return header


def check_raw_dir(raw_dir: str | Path, source: str = "mimic3") -> dict[str, Path]:
    """Every table the cohort needs (of MIMIC-III, or of MIMIC-IV when ``source`` is ``mimic4``), present with its
    release's columns; fails at once otherwise."""
    paths = {}
    for name in (TABLES_IV if source == "mimic4" else TABLES):
        paths[name] = table_path(raw_dir, name)
        columns_of(paths[name], name)
    return paths


def scan_table(path: Path, table: str) -> dict:
    """Read ``path`` once, whole: gzip integrity (CRC and length), the header by name, and the number of CSV
    records (quotes respected) and of records pyarrow cannot parse. No content is kept or reported."""
    header = columns_of(path, table)
    first = schema.ALL_COLUMNS[table][0]
    bad = [0]

    def count_bad(_row) -> str:
        bad[0] += 1
        return "skip"

    rows = 0
    try:
        reader = pacsv.open_csv(
            str(path), read_options=pacsv.ReadOptions(column_names=header, skip_rows=1, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=count_bad),
            convert_options=pacsv.ConvertOptions(include_columns=[first], column_types={first: pa.string()}))
        for batch in reader:
            rows += batch.num_rows
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    except pa.ArrowInvalid:
        raise CohortInputError(f"{path}: not readable as CSV (pyarrow could not parse it; row content not shown); "
                               f"is it unmodified from {origin(table)}?") from None
    in_order = header[:len(schema.ALL_COLUMNS[table])] == schema.ALL_COLUMNS[table]
    return {"file": path.name, "rows": rows, "unparsable_rows": bad[0], "columns_in_mimic_order": in_order,
            "mimic_iii_v1_4_rows": MIMIC_ROWS.get(table)}


def read_table(path: Path, table: str, columns: list[str], dtype=str) -> tuple[pd.DataFrame, list[int]]:
    """``columns`` of a raw table, found by name in any order and case (see :func:`columns_of`), and the line
    numbers of the rows the CSV reader skipped because they had more fields than the header (for counting)."""
    names = columns_of(path, table, columns)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # every column read (no usecols): only then does the parser see rows with too many fields
            df = pd.read_csv(path, header=0, names=names, index_col=False, dtype=dtype, keep_default_na=False,
                             na_values=[""], on_bad_lines="warn", engine="c")[columns]
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CohortInputError(f"{path}: not a readable {schema.release(table).split()[0]} table ({type(e).__name__}; "
                               f"row content not shown); is it unmodified from {origin(table)}?") from None
    if any("Length of header or names does not match" in str(w.message) for w in caught):  # the first data row
        raise CohortInputError(f"{path}: line 2 has more fields than the header's {len(names)} columns (row "
                               f"content not shown); is it unmodified from {origin(table)}?")
    # pandas says "Skipping line N: expected X fields, saw Y" (numbers only, never the row's content)
    bad = [int(n) for w in caught if issubclass(w.category, pd.errors.ParserWarning)
           for n in re.findall(r"Skipping line (\d+)", str(w.message))]
    return df, bad


# --- data.dvc without DVC's cache -------------------------------------------------------------------------------

def dvc_dir_md5(folder: str | Path) -> str:
    """The md5 DVC 3 records for a folder (``<md5>.dir`` in a ``.dvc`` file): md5 of the JSON list of its files'
    md5 and relative path, sorted by path. Computed from the files alone, so a fresh clone needs no cache."""
    folder = Path(folder)
    entries = []
    for p in sorted(folder.rglob("*"), key=lambda q: q.relative_to(folder).as_posix()):
        if p.is_file():
            digest = hashlib.md5()
            with open(p, "rb") as f:
                while chunk := f.read(1 << 20):
                    digest.update(chunk)
            entries.append({"md5": digest.hexdigest(), "relpath": p.relative_to(folder).as_posix()})
    return hashlib.md5(json.dumps(entries, sort_keys=True).encode()).hexdigest() + ".dir"


def pinned_md5(dvc_file: str | Path) -> str | None:
    """The md5 a ``.dvc`` file pins for its (single) output, or None."""
    import yaml

    try:
        outs = yaml.safe_load(Path(dvc_file).read_text()).get("outs") or []
    except (OSError, AttributeError, yaml.YAMLError):
        return None
    return outs[0].get("md5") if outs else None
