"""Build the coding cohort from MIMIC-III v1.4 tables (real or synthetic): one code path for both.

Steps (the paper's data section, done right):
1. discharge summaries (CATEGORY ``Discharge summary``), ISERROR rows excluded, report and addenda concatenated
   per admission in chart order;
2. diagnosis and procedure codes read as strings, dotted, de-duplicated per admission; both are labels;
3. label setting ``full`` (every code) or ``top50`` (the 50 most frequent; admissions without one dropped);
4. patient-level split; CCS categories of each admission's labels for the multitask branch;
5. parquet per split, label vocabularies, a summary (DVC metrics).

Bad input never passes silently: a missing file or column, a truncated gzip or a table of the wrong type
raises an error naming the file and the fix; garbled rows, non-UTF-8 text, empty notes, null or malformed
codes are skipped and counted in the summary.
"""

from __future__ import annotations

import contextlib
import gzip
import itertools
import os
import queue
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from . import codes as icd
from . import io, schema, splits, text

PHYSIONET = "https://physionet.org/content/mimiciii/1.4/ (credentialed access)"

TABLES = {name: schema.COLUMNS[name] for name in schema.COHORT_TABLES}
LABEL_SETTINGS = ("full", "top50")
DISCHARGE = schema.DISCHARGE
PARALLEL_MIN_BYTES = 1 << 20
"""Below this size (compressed) NOTEEVENTS is normalised in the main process: forking workers costs more."""


class CohortInputError(ValueError):
    """The raw MIMIC-III folder is missing something or holds something malformed."""


@dataclass
class Skips:
    """Counted, reported skips: every row that did not make it into the cohort, and why."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + int(n)


# --- raw tables -------------------------------------------------------------------------------------------

def table_path(raw_dir: str | Path, name: str) -> Path:
    """``NAME.csv.gz`` (as PhysioNet ships it) or an uncompressed ``NAME.csv``."""
    raw_dir = Path(raw_dir)
    for suffix in (".csv.gz", ".csv"):
        if (raw_dir / f"{name}{suffix}").exists():
            return raw_dir / f"{name}{suffix}"
    raise CohortInputError(
        f"{raw_dir / (name + '.csv.gz')}: file not found. It is part of MIMIC-III v1.4 from {PHYSIONET}; "
        f"put the CSVs (gzipped as downloaded, or uncompressed) in {raw_dir}, or set data.source: synthetic."
    )


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: Path) -> list[str]:
    try:
        with _open(path) as f:
            line = f.readline().decode("utf-8-sig", errors="replace")
    except (OSError, EOFError, zlib.error) as e:
        raise CohortInputError(f"{path}: cannot be read as gzip ({e}); re-download it from {PHYSIONET}.") from e
    return [c.strip().strip('"').upper() for c in line.rstrip("\r\n").split(",")]


def check_raw_dir(raw_dir: str | Path) -> dict[str, Path]:
    """Every table the cohort needs, present with MIMIC-III v1.4 columns; fails at once otherwise."""
    paths = {}
    for name, columns in TABLES.items():
        path = table_path(raw_dir, name)
        header = read_header(path)
        missing = [c for c in columns if c not in header]
        if missing:
            raise CohortInputError(
                f"{path}: missing column(s) {missing}; found {header}. Expected the MIMIC-III v1.4 columns "
                f"{columns} — is this the right file, unmodified from {PHYSIONET}?"
            )
        paths[name] = path
    return paths


def _gzip_error(path: Path, e: Exception) -> CohortInputError:
    return CohortInputError(
        f"{path}: the file is damaged or truncated ({e}). Re-download it from {PHYSIONET} "
        "(or regenerate the synthetic cohort) and check its size/checksum."
    )


NOTE_COLUMNS = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "CATEGORY", "DESCRIPTION", "ISERROR", "TEXT"]
CATEGORY_FIELD = f',"{DISCHARGE}",'.encode()
"""A discharge summary's CATEGORY field as MIMIC-III v1.4 writes it (every text field quoted)."""


def worker_pool(workers: int | None, notes_path: Path):
    """``workers`` processes (default: every core) for the cohort builder, forked now, before any thread starts;
    none (a context giving None: work in this process) for one worker or a NOTEEVENTS too small to be worth it."""
    workers = workers or os.cpu_count() or 1
    if workers > 1 and notes_path.stat().st_size >= PARALLEL_MIN_BYTES:
        return get_context("fork").Pool(workers)
    return contextlib.nullcontext()


def submit(pool, fn, *args):
    """``fn(*args)`` on ``pool`` (its AsyncResult), or here and now when there is no pool."""
    return pool.apply_async(fn, args) if pool else _Done(fn(*args))


def read_discharge_summaries(path: Path, skips: Skips, text_norm: str = "caml", pool=None,
                             progress: bool = True, block_size: int = 1 << 24) -> tuple[pd.DataFrame, NoteTexts]:
    """Discharge summaries per admission: a table (subject_id, hadm_id, n_tokens) and, row for row, their
    normalised texts (:class:`NoteTexts`).

    NOTEEVENTS is about 3.8 GB uncompressed for MIMIC-III, of which discharge summaries are a sixth. The main
    process decompresses it and cuts out the records whose CATEGORY field is a discharge summary
    (:func:`discharge_records`); the processes of ``pool`` (:func:`worker_pool`; None: this one) parse those
    with pyarrow, drop ISERROR rows and rows without ids, then decode and normalise the text
    (:func:`text.prepare_notes`) while the stream goes on. An admission's report and addenda are joined in chart
    order at the end. The result does not depend on the pool.
    """
    pending = []
    with tqdm(total=path.stat().st_size, desc=f"reading {path.name}", unit="B", unit_scale=True,
              disable=not progress) as bar:
        try:
            with pa.OSFile(str(path)) as raw, _read_ahead(
                    pa.CompressedInputStream(raw, "gzip") if path.suffix == ".gz" else raw, block_size) as chunks:
                for block in discharge_records(chunks):
                    bar.update(raw.tell() - bar.n)
                    pending.append(submit(pool, _prepare_block, block, text_norm))
            results = [p.get() for p in pending]
        except (OSError, EOFError, zlib.error) as e:
            raise _gzip_error(path, e) from e
        except pa.ArrowInvalid as e:
            raise CohortInputError(f"{path}: not a readable MIMIC-III NOTEEVENTS CSV ({e}).") from e
    if not results:
        raise CohortInputError(
            f"{path}: no discharge summaries found. MIMIC-III v1.4 writes CATEGORY quoted, as {CATEGORY_FIELD.decode()!r}; "
            f"is this NOTEEVENTS unmodified from {PHYSIONET}?"
        )
    for reason in ("discharge_rows_garbled", "discharge_iserror_rows", "discharge_rows_without_hadm_id",
                   "discharge_rows_non_utf8_repaired"):
        skips.add(reason, 0)  # reported even when nothing was skipped
    for _, _, counts in results:
        for reason, n in counts.items():
            skips.add(reason, n)
    notes = pd.concat([meta.assign(BLOCK=i) for i, (meta, _, _) in enumerate(results)], ignore_index=True)
    blank = notes["LENGTH"].to_numpy() < 0
    skips.add("discharge_rows_empty_text", blank.sum())
    notes = notes[~blank]

    # Chart order: date, then time (MIMIC leaves it empty for discharge summaries), then ROW_ID.
    notes = notes.sort_values(["HADM_ID", "CHARTDATE", "CHARTTIME", "ROW_ID"], na_position="first", kind="stable")
    hadm = notes["HADM_ID"].to_numpy()
    bounds = _runs(hadm)
    starts = bounds[:-1]
    skips.add("addenda_appended", len(hadm) - len(starts))
    texts = NoteTexts([blob for _, blob, _ in results], *(notes[c].to_numpy() for c in ("BLOCK", "START", "LENGTH")), bounds)
    if text_norm in text.PER_NOTE:
        n_tokens = np.diff(np.r_[0, np.cumsum(notes["N_TOKENS"].to_numpy())][bounds])
    else:  # normalise each admission's notes joined by line breaks
        joined = [b"\n".join(pieces).decode() for pieces in texts.pieces(range(len(starts)), skip_empty=False)]
        normalised = text.normalise_many(joined, text_norm, workers=1, progress=progress, pool=pool)
        texts = NoteTexts.of([t.encode() for t, _ in normalised])
        n_tokens = [n for _, n in normalised]
    adm = pd.DataFrame({"subject_id": notes["SUBJECT_ID"].to_numpy()[starts], "hadm_id": hadm[starts],
                        "n_tokens": np.asarray(n_tokens, dtype=np.int64)})
    return adm, texts


@dataclass
class NoteTexts:
    """Texts of admissions, kept as the UTF-8 pieces the workers sent back (a Python string per note would cost
    seconds at MIMIC scale): admission i is pieces ``bounds[i]:bounds[i + 1]``, piece j being
    ``blobs[block[j]][start[j]:start[j] + length[j]]``."""

    blobs: list[bytes]
    block: np.ndarray
    start: np.ndarray
    length: np.ndarray
    bounds: np.ndarray

    @classmethod
    def of(cls, texts: list[bytes]) -> NoteTexts:
        """One piece per admission."""
        length = np.fromiter(map(len, texts), dtype=np.int64, count=len(texts))
        start = np.r_[0, np.cumsum(length)][:-1]
        return cls([b"".join(texts)], np.zeros(len(texts), dtype=np.int64), start, length, np.arange(len(texts) + 1))

    def pieces(self, rows, skip_empty: bool = True):
        """For each admission in ``rows``, its pieces as memoryviews, in chart order."""
        views = [memoryview(b) for b in self.blobs]
        for r in rows:
            yield [views[self.block[j]][self.start[j]:self.start[j] + self.length[j]]
                   for j in range(self.bounds[r], self.bounds[r + 1]) if self.length[j] or not skip_empty]

    def column(self, rows) -> pd.Series:
        """Texts of admissions ``rows`` (their pieces joined by spaces) as pandas' arrow-backed ``str`` column,
        built in one numpy buffer: pyarrow's own conversion grows its buffer in small pages, and first touching half
        a gigabyte of them costs seconds on some virtual machines, while numpy asks Linux for huge pages."""
        pieces = list(self.pieces(rows))
        lengths = np.array([sum(map(len, p)) + max(len(p) - 1, 0) for p in pieces], dtype=np.int64)
        offsets = np.r_[0, np.cumsum(lengths)]
        data = np.full(offsets[-1], ord(" "), dtype=np.uint8)
        for at, admission in zip(offsets, pieces):
            for piece in admission:
                data[at:at + len(piece)] = np.frombuffer(piece, dtype=np.uint8)
                at += len(piece) + 1
        kind, width = (pa.string(), np.int32) if offsets[-1] < 2**31 else (pa.large_string(), np.int64)
        buffers = [None, pa.py_buffer(offsets.astype(width)), pa.py_buffer(data)]
        return pa.Array.from_buffers(kind, len(pieces), buffers).to_pandas()


def discharge_records(chunks):
    """Blocks of whole NOTEEVENTS records (the header line first) whose CATEGORY field is a discharge summary.

    ``chunks`` are consecutive pieces of the decompressed CSV, cut anywhere. Instead of parsing every
    note, this searches for :data:`CATEGORY_FIELD`: in valid CSV that byte string can only be a whole quoted field
    (a quote inside a quoted field is doubled). A record starts after the line break before it (MIMIC's first six
    fields hold none) and ends at the first line break outside quotes. pyarrow parses the blocks afterwards, so a
    record picked for the same string in another column is filtered out there, and a garbled one is counted.
    """
    buf, header = b"", None
    for chunk in itertools.chain(chunks, [None]):
        done = chunk is None
        buf += chunk or b""
        if header is None:
            eol = buf.find(b"\n")
            if eol < 0 and not done:
                continue
            header, buf = (buf[: eol + 1], buf[eol + 1:]) if eol >= 0 else (buf, b"")
        records, pos, keep = [], 0, None
        while (hit := buf.find(CATEGORY_FIELD, pos)) >= 0:
            start = buf.rfind(b"\n", pos, hit) + 1 or pos
            end = _record_end(buf, hit + len(CATEGORY_FIELD) - 1)
            if end < 0 and not done:
                keep = start  # the record goes on in the next chunk
                break
            end = len(buf) if end < 0 else end + 1
            records.append(buf[start:end])
            pos = end
        if keep is None:  # no further hit: keep the last, partial line, which may start one
            keep = max(pos, buf.rfind(b"\n", pos) + 1)
        if records:
            yield header + b"".join(records)
        buf = buf[keep:]


@contextlib.contextmanager
def _read_ahead(stream, size: int, depth: int = 2):
    """Iterator over ``stream.read(size)`` chunks, read by a background thread: pyarrow decompresses without the
    GIL, so decompressing the next chunk overlaps with handling this one."""
    chunks, stop = queue.Queue(maxsize=depth), threading.Event()

    def put(item) -> None:
        while not stop.is_set():
            with contextlib.suppress(queue.Full):
                return chunks.put(item, timeout=0.1)

    def produce() -> None:
        try:
            while chunk := stream.read(size):
                put(chunk)
            put(None)
        except BaseException as e:  # handed over to the consumer
            put(e)

    def consume():
        while (item := chunks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item

    thread = threading.Thread(target=produce, daemon=True)
    thread.start()
    try:
        yield consume()
    finally:
        stop.set()
        thread.join()


def _record_end(buf: bytes, i: int) -> int:
    """Index of the line break ending the CSV record that position ``i`` (outside quotes) is in; -1 if ``buf``
    ends first. Quoted fields are skipped quote to quote, so a doubled quote inside one reads as close + reopen."""
    while True:
        quote, eol = buf.find(b'"', i), buf.find(b"\n", i)
        if eol < 0:
            return -1
        if quote < 0 or eol < quote:
            return eol
        close = buf.find(b'"', quote + 1)
        if close < 0:
            return -1
        i = close + 1


def _prepare_block(block: bytes, text_norm: str) -> tuple[pd.DataFrame, bytes, dict[str, int]]:
    """Parse a block of NOTEEVENTS records; keep valid discharge summaries, their text decoded and normalised
    (:func:`text.prepare_notes`) and sent back as one byte string, each note at START, LENGTH long (-1: blank)."""
    skips = Skips()
    types = {c: pa.string() for c in NOTE_COLUMNS}
    types["TEXT"] = pa.binary()  # decoded by text.prepare_notes so that non-UTF-8 rows are counted, not fatal

    def garbled(row) -> str:
        skips.add("discharge_rows_garbled", 1)
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(use_threads=False),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=garbled),
        convert_options=pacsv.ConvertOptions(include_columns=NOTE_COLUMNS, column_types=types, strings_can_be_null=True),
    )
    rows = table.filter(pc.equal(table.column("CATEGORY"), DISCHARGE))
    meta, valid = _valid_discharge_rows(rows.drop_columns(["TEXT"]).to_pandas(), skips)
    texts, n_tokens, repaired = text.prepare_notes(rows.column("TEXT").filter(pa.array(valid)).to_pylist(), text_norm)
    skips.add("discharge_rows_non_utf8_repaired", repaired)
    length = np.array([-1 if t is None else len(t) for t in texts], dtype=np.int64)  # -1: a blank note
    meta = meta.assign(N_TOKENS=np.asarray(n_tokens, dtype=np.int64), START=np.r_[0, np.cumsum(np.maximum(length, 0))][:-1],
                       LENGTH=length)
    return meta, b"".join(t for t in texts if t), skips.counts


def _valid_discharge_rows(meta: pd.DataFrame, skips: Skips) -> tuple[pd.DataFrame, np.ndarray]:
    """Discharge-summary rows that are not marked ISERROR and carry integer ids; the rest counted."""
    iserror = (meta["ISERROR"].fillna("").str.strip() == "1").to_numpy()
    skips.add("discharge_iserror_rows", iserror.sum())
    ids = meta[["ROW_ID", "SUBJECT_ID", "HADM_ID"]].apply(pd.to_numeric, errors="coerce")
    no_id = (ids["SUBJECT_ID"].isna() | ids["HADM_ID"].isna()).to_numpy() & ~iserror
    skips.add("discharge_rows_without_hadm_id", no_id.sum())
    valid = ~iserror & ~no_id
    meta = pd.DataFrame({
        "ROW_ID": ids["ROW_ID"][valid].fillna(-1).astype(np.int64),
        "SUBJECT_ID": ids["SUBJECT_ID"][valid].astype(np.int64),
        "HADM_ID": ids["HADM_ID"][valid].astype(np.int64),
        # plain objects: the blocks' arrow-backed strings would concatenate into a slow-to-sort chunked column
        "CHARTDATE": meta["CHARTDATE"][valid].astype(object),
        "CHARTTIME": meta["CHARTTIME"][valid].astype(object),
    }).reset_index(drop=True)
    return meta, valid


def _runs(keys: np.ndarray) -> np.ndarray:
    """Where each run of equal values in sorted ``keys`` starts, then ``len(keys)``: run i is [b[i], b[i+1])."""
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1], True]) if len(keys) else np.zeros(1, dtype=np.int64)


class _Done:
    """An already computed result with the ``get`` of a pool's AsyncResult."""

    def __init__(self, value):
        self.value = value

    def get(self):
        return self.value


def _read_table(path: Path, columns: list[str], dtype=str) -> pd.DataFrame:
    try:
        return pd.read_csv(path, usecols=columns, dtype=dtype, keep_default_na=False, na_values=[""],
                           on_bad_lines="skip", engine="c")
    except (OSError, EOFError, zlib.error) as e:
        raise _gzip_error(path, e) from e
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CohortInputError(f"{path}: not a readable MIMIC-III table ({e}).") from e


def _ids(df: pd.DataFrame, path: Path, skips: Skips, table: str) -> pd.DataFrame:
    """Rows with integer SUBJECT_ID and HADM_ID (parsed as numbers by the CSV reader where they all are)."""
    ids = df[["SUBJECT_ID", "HADM_ID"]].apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c, errors="coerce"))
    bad = ids.isna().any(axis=1) | (ids % 1 != 0).any(axis=1)
    if len(df) and bad.mean() > 0.01:
        raise CohortInputError(
            f"{path}: {int(bad.sum())} of {len(df)} rows have a non-integer SUBJECT_ID/HADM_ID "
            f"(e.g. {df.loc[bad, 'HADM_ID'].iloc[0]!r}): wrong column types — is this an unmodified MIMIC-III table?"
        )
    skips.add(f"{table.lower()}_rows_bad_ids", bad.sum())
    return df[~bad].assign(SUBJECT_ID=ids["SUBJECT_ID"][~bad].astype(np.int64),
                           HADM_ID=ids["HADM_ID"][~bad].astype(np.int64))


def read_codes(paths: dict[str, Path], skips: Skips) -> pd.DataFrame:
    """Diagnosis and procedure codes: columns subject_id, hadm_id, code (dotted), kind; one row per admission+code."""
    frames = []
    for table, kind in (("DIAGNOSES_ICD", icd.DX), ("PROCEDURES_ICD", icd.PX)):
        path = paths[table]
        df = _ids(_read_table(path, ["SUBJECT_ID", "HADM_ID", "ICD9_CODE"], {"ICD9_CODE": object}), path, skips, table)
        # Clean, validate and dot each distinct code once (MIMIC-III: ~900k rows, ~9k distinct codes).
        cleaned = df["ICD9_CODE"].map({c: c.strip().upper() for c in df["ICD9_CODE"].dropna().unique()})
        null = (cleaned.isna() | (cleaned == "")).to_numpy()
        skips.add(f"{table.lower()}_null_codes", null.sum())
        df, cleaned = df[~null], cleaned[~null]
        dotted = cleaned.map({c: icd.format_icd9(c, kind) for c in cleaned.unique() if icd.is_valid(c, kind)})
        valid = dotted.notna().to_numpy()
        skips.add(f"{table.lower()}_malformed_codes", (~valid).sum())
        df, dotted = df[valid], dotted[valid]
        frames.append(pd.DataFrame({
            "subject_id": df["SUBJECT_ID"].to_numpy(), "hadm_id": df["HADM_ID"].to_numpy(),
            "code": pd.Series(dotted.to_numpy(), dtype=object), "kind": kind,  # objects: iterated below
        }))
    codes = pd.concat(frames, ignore_index=True)
    dup = codes.duplicated(["hadm_id", "code"])
    skips.add("duplicate_code_rows", dup.sum())
    return codes[~dup].sort_values(["hadm_id", "code"], kind="stable").reset_index(drop=True)


def _read_code_tables(paths: dict[str, Path]) -> tuple[pd.DataFrame, dict, dict[str, int]]:
    skips = Skips()
    return read_codes(paths, skips), read_descriptions(paths), skips.counts


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    out = {}
    for table, kind in (("D_ICD_DIAGNOSES", icd.DX), ("D_ICD_PROCEDURES", icd.PX)):
        df = _read_table(paths[table], ["ICD9_CODE", "LONG_TITLE"]).dropna(subset=["ICD9_CODE"])
        out[kind] = dict(zip(df["ICD9_CODE"].str.strip(), df["LONG_TITLE"].fillna("")))
    return out


# --- cohort -----------------------------------------------------------------------------------------------

def select_labels(label_lists: pd.Series, setting: str, top_k: int = 50) -> list[str]:
    """Label vocabulary: every code (``full``) or the ``top_k`` most frequent (``top50``), ties by code."""
    if setting not in LABEL_SETTINGS:
        raise ValueError(f"unknown label setting {setting!r}; choose one of {LABEL_SETTINGS} (params.yaml: cohort.label_setting)")
    counts = label_lists.explode().value_counts()
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [c for c, _ in order] if setting == "full" else [c for c, _ in order[:top_k]]
    return sorted(chosen)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {}
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"p05": float(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]),
            "p95": float(q[4]), "max": float(np.max(x)), "mean": round(float(np.mean(x)), 2)}


def build_cohort(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    label_setting: str = "full",
    top_k: int = 50,
    text_norm: str = "caml",
    split: str = "stratified",
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    stratify_labels: int = 100,
    seed: int = 0,
    caml_splits_dir: str | Path | None = None,
    caml_splits_download: bool = False,
    ccs_px_file: str | Path | None = None,
    summary_path: str | Path | None = None,
    source: str = "synthetic",
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build the cohort from ``raw_dir`` into ``out_dir`` (see docs/architecture.md); returns the summary.

    ``workers`` processes normalise the text (default: every core); the result does not depend on it.
    """
    if text_norm not in text.SCHEMES:
        raise ValueError(f"unknown text normalisation {text_norm!r}; choose one of {text.SCHEMES}")
    if label_setting not in LABEL_SETTINGS:
        raise ValueError(f"unknown label setting {label_setting!r}; choose one of {LABEL_SETTINGS}")
    if split not in ("stratified", "caml"):
        raise ValueError(f"unknown split {split!r}; choose 'stratified' or 'caml' (params.yaml: cohort.split)")
    mapper = icd.CCSMapper(ccs_px_file)  # fails early on a missing HCUP file
    paths = check_raw_dir(raw_dir)
    skips = Skips()

    with worker_pool(workers, paths["NOTEEVENTS"]) as pool:
        # While NOTEEVENTS streams, a worker reads the code tables first, and a thread imports the split's library.
        code_tables = submit(pool, _read_code_tables, paths)
        if pool and split == "stratified":
            threading.Thread(target=splits.load_stratifier, daemon=True).start()
        notes, texts = read_discharge_summaries(paths["NOTEEVENTS"], skips, text_norm, pool, progress)
        code_rows, descriptions, code_skips = code_tables.get()
    for reason, n in code_skips.items():
        skips.add(reason, n)
    notes["text_row"] = np.arange(len(notes))  # the texts stay in `texts` until written

    distinct = code_rows[["code", "kind"]].drop_duplicates()
    not_in_d_icd = sorted(c for c, k in zip(distinct["code"], distinct["kind"]) if icd.undot(c) not in descriptions[k])
    unknown_codes = [c for c in not_in_d_icd if icd.undot(c) not in icd.cms_descriptions(icd.kind_of(c))]

    hadm, code_array = code_rows["hadm_id"].to_numpy(), code_rows["code"].to_numpy(dtype=object)  # sorted by hadm_id
    bounds = _runs(hadm)
    per_adm = pd.Series([code_array[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])], index=hadm[bounds[:-1]], dtype=object)
    with_codes = notes["hadm_id"].isin(per_adm.index)
    skips.add("summaries_without_codes", (~with_codes).sum())
    skips.add("coded_admissions_without_summary", (~per_adm.index.isin(notes["hadm_id"])).sum())
    cohort = notes[with_codes].reset_index(drop=True)
    cohort["codes_all"] = per_adm.loc[cohort["hadm_id"]].to_numpy()

    empty = cohort["n_tokens"] == 0
    skips.add("summaries_empty_after_normalisation", empty.sum())
    cohort = cohort[~empty].reset_index(drop=True)

    # Splits first (on every code), so that the label vocabulary and counts are reported per split.
    if split == "caml":
        ids = splits.read_caml_splits(caml_splits_dir, label_setting, caml_splits_download)
        fold = np.full(len(cohort), -1)
        for k, name in enumerate(splits.SPLITS):
            fold[cohort["hadm_id"].isin(ids[name]).to_numpy()] = k
        listed = np.concatenate(list(ids.values()))
        skips.add("caml_listed_admissions_not_in_cohort", (~np.isin(listed, cohort["hadm_id"])).sum())
        skips.add("cohort_admissions_not_in_caml_lists", (fold < 0).sum())
        if (fold >= 0).sum() == 0:
            raise CohortInputError(
                f"none of the admissions in {raw_dir} appear in the CAML split lists in {caml_splits_dir}: "
                "the CAML lists only fit real MIMIC-III; use cohort.split: stratified for other data."
            )
    else:
        fold = splits.stratified_split(cohort["subject_id"].to_numpy(), cohort["codes_all"].tolist(),
                                       tuple(split_ratios), seed, stratify_labels)
    cohort["fold"] = fold
    cohort = cohort[cohort["fold"] >= 0]

    counts_all = pd.DataFrame({
        name: cohort.loc[cohort["fold"] == k, "codes_all"].explode().value_counts()
        for k, name in enumerate(splits.SPLITS)
    }).fillna(0).astype(np.int64).rename(columns=lambda c: f"{c}_count")
    counts_all = counts_all.rename_axis("code").reset_index().sort_values(["train_count", "code"], ascending=[False, True])
    counts_all.insert(1, "kind", counts_all["code"].map(icd.kind_of))

    labels = select_labels(cohort["codes_all"], label_setting, top_k)
    label_set = set(labels)
    cohort["icd_codes"] = [sorted(c for c in codes if c in label_set) for codes in cohort["codes_all"]]
    no_label = cohort["icd_codes"].map(len) == 0
    skips.add(f"admissions_without_{label_setting}_code", no_label.sum())
    cohort = cohort[~no_label].reset_index(drop=True)

    label_df = icd.label_table(labels, descriptions, mapper)
    ccs_of = dict(zip(label_df["code"], label_df["ccs"]))
    no_ccs = label_df.loc[label_df["ccs"] == "", "code"].tolist()
    cohort["ccs_codes"] = [sorted({ccs_of[c] for c in codes if ccs_of[c]}) for codes in cohort["icd_codes"]]

    train = cohort[cohort["fold"] == 0]
    icd_train = train["icd_codes"].explode().value_counts()
    label_df["train_count"] = label_df["code"].map(icd_train).fillna(0).astype(np.int64)
    ccs_labels = sorted({c for c in label_df["ccs"] if c})
    ccs_train = train["ccs_codes"].explode().value_counts()
    ccs_df = pd.DataFrame({
        "code": ccs_labels,
        "kind": [c.split(":")[0] for c in ccs_labels],
        "description": [mapper.describe(c) for c in ccs_labels],
        "train_count": [int(ccs_train.get(c, 0)) for c in ccs_labels],
    })

    out_dir = Path(out_dir)
    columns = ["subject_id", "hadm_id", "text", "n_tokens", "icd_codes", "ccs_codes"]
    per_split = {}
    with ThreadPoolExecutor(len(splits.SPLITS)) as writers:  # pyarrow writes without the GIL: overlap them
        written = []
        for k, name in enumerate(splits.SPLITS):
            part = cohort.loc[cohort["fold"] == k].sort_values("hadm_id").reset_index(drop=True)
            part = part.assign(text=texts.column(part["text_row"].to_numpy()))[columns]
            written.append(writers.submit(io.write_parquet, out_dir / f"{name}.parquet", part))
            per_split[name] = part
        for w in written:
            w.result()
    io.write_csv(out_dir / "icd_labels.csv", label_df[["code", "kind", "description", "train_count", "ccs"]])
    io.write_csv(out_dir / "ccs_labels.csv", ccs_df)
    io.write_csv(out_dir / "code_counts.csv", counts_all)  # every code, whatever the label setting

    summary = summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs,
                        dict(source=source, label_setting=label_setting, text_norm=text_norm, split=split,
                             ccs_px_source=mapper.px_source, seed=seed))
    io.write_json(summary_path or out_dir / "cohort_summary.json", summary)
    return summary


def summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs, settings) -> dict:
    """The cohort's vital statistics, reported as DVC metrics."""
    codes = {k: set(itertools.chain.from_iterable(v["icd_codes"])) for k, v in per_split.items()}
    subjects = {k: set(v["subject_id"]) for k, v in per_split.items()}
    names = list(per_split)
    overlap = sum(len(subjects[a] & subjects[b]) for i, a in enumerate(names) for b in names[i + 1:])
    allp = pd.concat([v.drop(columns="text") for v in per_split.values()], ignore_index=True)
    return {
        "settings": settings,
        "admissions": {k: int(len(v)) for k, v in per_split.items()} | {"total": int(len(allp))},
        "patients": {k: len(s) for k, s in subjects.items()} | {"total": int(allp["subject_id"].nunique())},
        "patient_overlap_between_splits": int(overlap),
        "tokens_per_admission": _quantiles(allp["n_tokens"].to_numpy()),
        "labels_per_admission": _quantiles(allp["icd_codes"].map(len).to_numpy()),
        "ccs_per_admission": _quantiles(allp["ccs_codes"].map(len).to_numpy()),
        "n_icd_labels": int(len(label_df)),
        "n_icd_labels_by_kind": {k: int(v) for k, v in label_df["kind"].value_counts().sort_index().items()},
        "n_ccs_labels": int(len(ccs_df)),
        "distinct_codes": {k: len(c) for k, c in codes.items()},
        "codes_unseen_in_train": {k: len(c - codes["train"]) for k, c in codes.items() if k != "train"},
        "labels_without_ccs": {"count": len(no_ccs), "examples": no_ccs[:10]},
        "codes_missing_from_d_icd": {"count": len(not_in_d_icd), "examples": not_in_d_icd[:10]},
        "codes_unknown_to_icd9cm_v32": {"count": len(unknown_codes), "examples": unknown_codes[:10]},
        "skipped": dict(sorted(skips.counts.items())),
    }
