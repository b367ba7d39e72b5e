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
import itertools
import os
import queue
import signal
import threading
import time
import zlib
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
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
from .config import LOSS_CAUSES, CohortConfig, limits as loss_limits
from .raw import PHYSIONET, TABLES, CohortInputError, check_raw_dir, columns_of, gzip_error, table_path  # noqa: F401

LABEL_SETTINGS = ("full", "top50")
DISCHARGE = schema.DISCHARGE
PARALLEL_MIN_BYTES = 1 << 20
DEFAULT_LIMITS = {"default": 0.2}
"""``cohort.max_skip_share`` when none is given (params.yaml states the study's)."""
"""Below this size (compressed) NOTEEVENTS is normalised in the main process: forking workers costs more."""


class CohortLossError(CohortInputError):
    """The cohort would be empty, or one cause lost more of its input than ``cohort.max_skip_share`` allows."""


class WorkerDiedError(RuntimeError):
    """A worker process of the cohort builder died (killed by the OOM killer, for example)."""


@dataclass
class Skips:
    """Counted, reported skips: every row that did not make it into the cohort, and why.

    ``of`` holds each cause's denominator (what its share is taken of, :data:`config.LOSS_CAUSES`); ``checked``
    counts that are limited like skips but not reported in the summary (codes unknown to the dictionary, which
    stay in the cohort); ``hints`` say what a cause's excess most likely means."""

    counts: dict[str, int] = field(default_factory=dict)
    of: dict[str, int] = field(default_factory=dict)
    checked: dict[str, int] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)

    def add(self, reason: str, n: int, of: int | None = None) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + int(n)
        if of is not None:
            self.of[reason] = self.of.get(reason, 0) + int(of)

    def merge(self, other: Skips) -> None:
        for reason, n in other.counts.items():
            self.add(reason, n, other.of.get(reason))
        for reason, n in other.checked.items():
            self.checked[reason] = self.checked.get(reason, 0) + n
            self.of[reason] = self.of.get(reason, 0) + other.of.get(reason, 0)
        self.hints.update(other.hints)

    def check(self, limits: dict[str, float]) -> None:
        """Raise :class:`CohortLossError` for the first cause whose share exceeds its limit."""
        for cause, n in sorted({**self.counts, **self.checked}.items()):
            total = self.of.get(cause, 0)
            if cause not in LOSS_CAUSES or not total:
                continue
            key = cause if cause in limits else "default"
            if n > limits[key] * total:
                raise CohortLossError(
                    f"{cause}: {n} of {total} {LOSS_CAUSES[cause]} ({n / total:.1%}), more than params.yaml "
                    f"cohort.max_skip_share.{key} = {limits[key]}. {self.hints.get(cause, '')} Nothing was written; "
                    "the previous cohort is untouched.".replace("  ", " "))


def check_not_empty(n: int, what: str, skips: Skips) -> None:
    """An empty cohort (or split) is an error naming the largest counted causes."""
    if n:
        return
    causes = sorted(((c, k) for c, k in skips.counts.items() if k and c in LOSS_CAUSES), key=lambda x: -x[1])[:3]
    raise CohortLossError(f"the cohort has no {what}. Largest counted causes: "
                          f"{', '.join(f'{c} = {k}' for c, k in causes) or 'none'}. Nothing was written; the previous "
                          "cohort is untouched.")


NOTE_COLUMNS = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "CATEGORY", "DESCRIPTION", "ISERROR", "TEXT"]
CATEGORY_FIELD = f',"{DISCHARGE}",'.encode()
"""A discharge summary's CATEGORY field as MIMIC-III v1.4 writes it (every text field quoted)."""
UNQUOTED_CATEGORY = f",{DISCHARGE},".encode()
NO_LINE_BREAKS = {"ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME"}
"""Columns that never hold a line break: while only these precede CATEGORY, a record starts after the line break
before its CATEGORY field, and :func:`discharge_records` can cut records out without parsing the rest."""


def worker_pool(workers: int | None, notes_path: Path):
    """``workers`` processes (default: every core) for the cohort builder, forked now, before any thread starts;
    none (a context giving None: work in this process) for one worker or a NOTEEVENTS too small to be worth it.

    A process pool executor, not ``multiprocessing.Pool``: when a worker dies (the OOM killer at MIMIC scale), the
    pool breaks and every pending result raises at once, instead of waiting forever for the lost task."""
    workers = workers or os.cpu_count() or 1
    if workers > 1 and notes_path.stat().st_size >= PARALLEL_MIN_BYTES:
        return _Pool(max_workers=workers, mp_context=get_context("fork"))
    return contextlib.nullcontext()


class _Pool(ProcessPoolExecutor):
    """A fork-based executor whose processes all start at once (before threads do), and which remembers them so
    that a death can be reported with its exit code."""

    def __init__(self, **kw):
        super().__init__(**kw)
        self.submit(os.getpid).result()  # fork-based executors launch every process on the first submit
        self.members = list(self._processes.values())

    def death(self) -> str:
        for _ in range(40):  # the executor's thread may be reaping the dead process right now
            codes = [p.exitcode for p in self.members if p.exitcode not in (None, 0, -signal.SIGTERM)]
            if codes:
                break
            time.sleep(0.05)
        if not codes:
            return "a worker process died"
        code = codes[0]
        if code < 0:
            name = signal.Signals(-code).name if -code in signal.valid_signals() else str(-code)
            oom = " (SIGKILL: most often the kernel's out-of-memory killer — free memory or use fewer workers)" \
                if -code == signal.SIGKILL else ""
            return f"a worker process was killed by signal {name}{oom}"
        return f"a worker process exited with code {code}"


def submit(pool, fn, *args):
    """``fn(*args)`` on ``pool`` (a future), or here and now when there is no pool."""
    if not pool:
        return _Done(fn(*args))
    try:
        return pool.submit(fn, *args)
    except BrokenProcessPool:
        raise WorkerDiedError(f"cohort build stopped: {pool.death()}; nothing was written.") from None


def result(pool, future):
    """The result of a :func:`submit`, a dead worker turned into :class:`WorkerDiedError`."""
    try:
        return future.result()
    except BrokenProcessPool:
        raise WorkerDiedError(f"cohort build stopped: {pool.death()}; nothing was written.") from None


def read_discharge_summaries(path: Path, skips: Skips, text_norm: str = "caml", pool=None, progress: bool = True,
                             block_size: int = 1 << 24, limits: dict | None = None) -> tuple[pd.DataFrame, NoteTexts]:
    """Discharge summaries per admission: a table (subject_id, hadm_id, n_tokens) and, row for row, their
    normalised texts (:class:`NoteTexts`).

    NOTEEVENTS is about 3.8 GB uncompressed for MIMIC-III, of which discharge summaries are a sixth. The main
    process decompresses it and cuts out the records whose CATEGORY field is a discharge summary
    (:func:`discharge_records`); the processes of ``pool`` (:func:`worker_pool`; None: this one) parse those
    with pyarrow, drop ISERROR rows and rows without ids, then decode and normalise the text
    (:func:`text.prepare_notes`) while the stream goes on. Columns are found by name: when a column that may hold
    line breaks precedes CATEGORY, every record is parsed instead (slower, same result). An admission's report and
    addenda are joined in chart order at the end. The result does not depend on the pool.
    """
    names = columns_of(path, "NOTEEVENTS", NOTE_COLUMNS)
    results = _stream_notes(path, names, skips, text_norm, pool, progress, block_size)
    notes = _note_rows(results, skips, path, limits or DEFAULT_LIMITS)
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


def _stream_notes(path: Path, names: list[str], skips: Skips, text_norm: str, pool, progress: bool,
                  block_size: int) -> list:
    """Each block's (meta, texts, skips) from the workers; a dead worker fails the build at the next block."""
    at = names.index("CATEGORY")
    fast = 0 < at < len(names) - 1 and set(names[:at]) <= NO_LINE_BREAKS
    pending = []
    with tqdm(total=path.stat().st_size, desc=f"reading {path.name}", unit="B", unit_scale=True,
              disable=not progress) as bar:
        try:
            if fast:
                with pa.OSFile(str(path)) as raw, _read_ahead(
                        pa.CompressedInputStream(raw, "gzip") if path.suffix == ".gz" else raw, block_size) as chunks:
                    for block in discharge_records(_quoted_category(chunks, path), path):
                        bar.update(raw.tell() - bar.n)
                        pending.append(submit(pool, _prepare_block, block, text_norm, names))
            else:
                for rows, garbled in _parsed_discharge_rows(path, names, block_size):
                    pending.append(submit(pool, _prepare_rows, rows, text_norm, garbled))
            results = [result(pool, p) for p in pending]
        except (OSError, EOFError, zlib.error) as e:
            raise gzip_error(path, e) from None
        except pa.ArrowInvalid:
            raise CohortInputError(f"{path}: not a readable MIMIC-III NOTEEVENTS CSV (pyarrow could not parse it; "
                                   f"row content not shown); is it unmodified from {PHYSIONET}?") from None
    if not results:
        raise CohortInputError(
            f"{path}: no discharge summaries found. MIMIC-III v1.4 writes CATEGORY quoted, as {CATEGORY_FIELD.decode()!r}; "
            f"is this NOTEEVENTS unmodified from {PHYSIONET}?"
        )
    return results


def _note_rows(results: list, skips: Skips, path: Path, limits: dict) -> pd.DataFrame:
    """The blocks' note rows in one table (BLOCK says whose texts), skips counted; duplicated ROW_IDs dropped."""
    for reason in ("discharge_rows_garbled", "discharge_iserror_rows", "discharge_rows_without_hadm_id",
                   "discharge_rows_non_utf8_repaired"):
        skips.add(reason, 0)  # reported even when nothing was skipped
    records = 0
    for _, _, counts in results:
        records += counts.pop("records")
        for reason, n in counts.items():
            skips.add(reason, n)
    notes = pd.concat([meta.assign(BLOCK=i) for i, (meta, _, _) in enumerate(results)], ignore_index=True)
    blank = notes["LENGTH"].to_numpy() < 0
    skips.add("discharge_rows_empty_text", blank.sum())
    dup = (notes["ROW_ID"] >= 0).to_numpy() & notes.duplicated("ROW_ID").to_numpy()
    if dup.any():
        skips.add("discharge_rows_duplicated", dup.sum())
        skips.hints["discharge_rows_duplicated"] = f"{path}, column ROW_ID: rows repeat (a file appended twice?)."
    for reason in ("discharge_rows_garbled", "discharge_iserror_rows", "discharge_rows_without_hadm_id",
                   "discharge_rows_non_utf8_repaired", "discharge_rows_empty_text", "discharge_rows_duplicated"):
        skips.of[reason] = records
    skips.hints.setdefault("discharge_rows_garbled", f"{path}: records pyarrow cannot parse (wrong field count).")
    skips.check(limits)
    check_not_empty(int((~blank & ~dup).sum()), f"discharge summary in {path}", skips)
    return notes[~blank & ~dup]


def _quoted_category(chunks, path: Path, first: int = 1 << 26):
    """Pass ``chunks`` on; stop if the first ``first`` bytes hold a discharge-summary CATEGORY written without
    quotes (such records are never found, so they would vanish). Only the start is searched: a whole-file search
    would cost the main thread a second pass over 3.8 GB, and a file re-exported without quotes shows it at once."""
    seen, tail = 0, b""
    for chunk in chunks:
        if seen < first:
            n = (tail + chunk[:len(UNQUOTED_CATEGORY) - 1]).count(UNQUOTED_CATEGORY) + chunk.count(UNQUOTED_CATEGORY)
            if n:
                raise CohortInputError(
                    f"{path}, column CATEGORY: {n} record(s) in the first {seen + len(chunk):,} bytes write "
                    f"'{DISCHARGE}' without quotes; MIMIC-III quotes every text field, and such records would not "
                    "be read. Re-export the file with every text field quoted.")
            tail, seen = chunk[-(len(UNQUOTED_CATEGORY) - 1):], seen + len(chunk)
        yield chunk


def _parsed_discharge_rows(path: Path, names: list[str], block_size: int):
    """Discharge-summary rows of a NOTEEVENTS whose columns are in an order :func:`discharge_records` cannot cut
    (a column that may hold line breaks before CATEGORY): every record parsed, in tables of the kept columns."""
    garbled = [0]

    def handler(row) -> str:
        garbled[0] += DISCHARGE in (row.text or "")  # only garbled discharge summaries are ours to count
        return "skip"

    stream = pa.input_stream(str(path), compression="gzip" if path.suffix == ".gz" else None)
    types = {c: pa.string() for c in NOTE_COLUMNS} | {"TEXT": pa.binary()}
    reader = pacsv.open_csv(
        stream, read_options=pacsv.ReadOptions(column_names=names, skip_rows=1, use_threads=False, block_size=block_size),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=handler),
        convert_options=pacsv.ConvertOptions(include_columns=NOTE_COLUMNS, column_types=types, strings_can_be_null=True))
    for batch in reader:
        rows = pa.Table.from_batches([batch])
        rows = rows.filter(pc.equal(rows.column("CATEGORY"), DISCHARGE)).select(NOTE_COLUMNS)
        yield rows, garbled[0]
        garbled[0] = 0


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


def discharge_records(chunks, path: Path | str = "NOTEEVENTS"):
    """Blocks of whole NOTEEVENTS records (the header line first) whose CATEGORY field is a discharge summary.

    ``chunks`` are consecutive pieces of the decompressed CSV, cut anywhere. Instead of parsing every
    note, this searches for :data:`CATEGORY_FIELD`: in valid CSV that byte string can only be a whole quoted field
    (a quote inside a quoted field is doubled). A record starts after the line break before it (MIMIC's first six
    fields hold none) and ends at the first line break outside quotes. pyarrow parses the blocks afterwards, so a
    record picked for the same string in another column is filtered out there, and a garbled one is counted.
    A quote inside a quoted field that is not doubled makes the record's end unknowable: an error giving its byte
    offset, never its content.
    """
    buf, header, offset = b"", None, 0
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
            try:
                end = _record_end(buf, hit + len(CATEGORY_FIELD) - 1)
            except _StrayQuote as e:
                raise CohortInputError(
                    f"{path}: the discharge-summary record at byte {offset + start:,} of the decompressed file has a "
                    f"double quote inside a quoted field (byte {offset + e.args[0]:,}) that is not doubled, so where "
                    f"the record ends is unknown: not valid CSV as MIMIC-III writes it (quotes inside text are "
                    f"doubled). Re-export the file, or re-download it from {PHYSIONET}.") from None
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
        offset += keep
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
    ends first. Quoted fields are skipped quote to quote, so a doubled quote inside one reads as close + reopen;
    a closing quote followed by anything but a quote, a comma or a line break raises :class:`_StrayQuote`."""
    while True:
        quote, eol = buf.find(b'"', i), buf.find(b"\n", i)
        if eol < 0:
            return -1
        if quote < 0 or eol < quote:
            return eol
        close = buf.find(b'"', quote + 1)
        if close < 0:
            return -1
        if buf[close + 1:close + 2] not in (b"", b'"', b",", b"\r", b"\n"):
            raise _StrayQuote(close)
        i = close + 1


class _StrayQuote(Exception):
    """A closing quote followed by neither a quote, a separator nor a line break (at ``args[0]``)."""


def _prepare_block(block: bytes, text_norm: str, names: list[str] | None = None) -> tuple[pd.DataFrame, bytes, dict]:
    """Parse a block of NOTEEVENTS records (its first line the file's header, whose ``names`` are used, in the
    file's order and upper-cased) and prepare its discharge summaries (:func:`_prepare_rows`)."""
    garbled = [0]
    types = {c: pa.string() for c in NOTE_COLUMNS}
    types["TEXT"] = pa.binary()  # decoded by text.prepare_notes so that non-UTF-8 rows are counted, not fatal

    def count_garbled(row) -> str:
        garbled[0] += 1
        return "skip"

    table = pacsv.read_csv(
        pa.py_buffer(block),
        read_options=pacsv.ReadOptions(use_threads=False, column_names=names, skip_rows=1 if names else 0),
        parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=count_garbled),
        convert_options=pacsv.ConvertOptions(include_columns=NOTE_COLUMNS, column_types=types, strings_can_be_null=True),
    )
    return _prepare_rows(table.filter(pc.equal(table.column("CATEGORY"), DISCHARGE)), text_norm, garbled[0])


def _prepare_rows(rows: pa.Table, text_norm: str, garbled: int = 0) -> tuple[pd.DataFrame, bytes, dict]:
    """Keep valid discharge summaries, their text decoded and normalised (:func:`text.prepare_notes`) and sent
    back as one byte string, each note at START, LENGTH long (-1: blank); counts include ``records`` seen."""
    skips = Skips()
    skips.add("discharge_rows_garbled", garbled)
    skips.add("records", rows.num_rows + garbled)
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
    """An already computed result with the ``result`` of a future."""

    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


def _read_table(path: Path, table: str, columns: list[str], dtype=str) -> pd.DataFrame:
    """``columns`` of a raw table, found by name in any order and case (see :func:`raw.columns_of`)."""
    names = columns_of(path, table, columns)
    try:
        return pd.read_csv(path, header=0, names=names, usecols=columns, dtype=dtype, keep_default_na=False,
                           na_values=[""], on_bad_lines="skip", engine="c")
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CohortInputError(f"{path}: not a readable MIMIC-III table ({type(e).__name__}; row content not "
                               f"shown); is it unmodified from {PHYSIONET}?") from None


def _ids(df: pd.DataFrame, path: Path, skips: Skips, table: str) -> pd.DataFrame:
    """Rows with integer SUBJECT_ID and HADM_ID (parsed as numbers by the CSV reader where they all are)."""
    ids = df[["SUBJECT_ID", "HADM_ID"]].apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c, errors="coerce"))
    bad = ids.isna().any(axis=1) | (ids % 1 != 0).any(axis=1)
    if len(df) and bad.mean() > 0.01:
        first = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # line numbers count the header as line 1
        column = "SUBJECT_ID" if pd.isna(ids["SUBJECT_ID"].iloc[first - 2]) else "HADM_ID"
        raise CohortInputError(
            f"{path}: {int(bad.sum())} of {len(df)} rows have a non-integer SUBJECT_ID/HADM_ID (first: column "
            f"{column}, line {first}): wrong column types — is this an unmodified MIMIC-III table?"
        )
    skips.add(f"{table.lower()}_rows_bad_ids", bad.sum(), of=len(df))
    return df[~bad].assign(SUBJECT_ID=ids["SUBJECT_ID"][~bad].astype(np.int64),
                           HADM_ID=ids["HADM_ID"][~bad].astype(np.int64))


def read_codes(paths: dict[str, Path], skips: Skips, dictionary: dict[str, set] | None = None) -> pd.DataFrame:
    """Diagnosis and procedure codes: columns subject_id, hadm_id, code (dotted), kind; one row per admission+code.

    Codes are strings, undotted as MIMIC-III stores them or already dotted at the right place for their kind;
    with ``dictionary`` (kind → known undotted codes) the rows whose code it lacks are counted for the limit check
    (``<table>_unknown_codes``), with a hint when they look like the other kind or like codes that lost their
    leading zeros."""
    frames = []
    for table, kind in (("DIAGNOSES_ICD", icd.DX), ("PROCEDURES_ICD", icd.PX)):
        path, prefix = paths[table], table.lower()
        df = _ids(_read_table(path, table, ["SUBJECT_ID", "HADM_ID", "ICD9_CODE"], {"ICD9_CODE": object}), path, skips, table)
        rows = len(df)
        # Clean, validate and dot each distinct code once (MIMIC-III: ~900k rows, ~9k distinct codes).
        cleaned = df["ICD9_CODE"].map({c: c.strip().upper() for c in df["ICD9_CODE"].dropna().unique()})
        null = (cleaned.isna() | (cleaned == "")).to_numpy()
        skips.add(f"{prefix}_null_codes", null.sum(), of=rows)
        df, cleaned = df[~null], cleaned[~null]
        dotted = cleaned.map({c: d for c in cleaned.unique() if (d := _dotted(c, kind))})
        valid = dotted.notna().to_numpy()
        skips.add(f"{prefix}_malformed_codes", (~valid).sum(), of=rows)
        if dictionary is not None:
            _check_dictionary(cleaned, valid, dotted, kind, dictionary, skips, f"{path}, column ICD9_CODE", prefix, rows)
        df, dotted = df[valid], dotted[valid]
        frames.append(pd.DataFrame({
            "subject_id": df["SUBJECT_ID"].to_numpy(), "hadm_id": df["HADM_ID"].to_numpy(),
            "code": pd.Series(dotted.to_numpy(), dtype=object), "kind": kind,  # objects: iterated below
        }))
    codes = pd.concat(frames, ignore_index=True)
    dup = codes.duplicated(["hadm_id", "code"])
    skips.add("duplicate_code_rows", dup.sum(), of=len(codes))
    return codes[~dup].sort_values(["hadm_id", "code"], kind="stable").reset_index(drop=True)


def _dotted(code: str, kind: str) -> str | None:
    """The dotted label of an undotted code, or of one already dotted where its kind puts the dot; else None."""
    bare = icd.undot(code)
    if not icd.is_valid(bare, kind):
        return None
    dotted = icd.format_icd9(bare, kind)
    return dotted if "." not in code or code == dotted else None


def _check_dictionary(cleaned, valid, dotted, kind, dictionary, skips: Skips, where: str, prefix: str, rows: int):
    """Count rows whose code is malformed or unknown to ``dictionary``; hint at the likely cause of many."""
    other = icd.PX if kind == icd.DX else icd.DX
    known = {c: icd.undot(c) in dictionary[kind] for c in cleaned[valid].unique()}
    unknown = valid & ~cleaned.map(known).fillna(False).to_numpy(dtype=bool)
    skips.checked[f"{prefix}_unknown_codes"] = int(unknown.sum())
    skips.of[f"{prefix}_unknown_codes"] = rows
    odd = pd.Series(cleaned[unknown | ~valid].unique())
    as_other = int(sum(_dotted(c, other) is not None and icd.undot(c) in dictionary[other] for c in odd))
    unpadded = int(sum(any(p + icd.undot(c) in dictionary[kind] for p in ("0", "00")) for c in odd))
    dotted_wrong = int(sum("." in c for c in odd))
    name = {icd.DX: "diagnosis", icd.PX: "procedure"}
    hint = (f"{where}: of {len(odd)} distinct malformed or unknown codes, {as_other} are {name[other]} codes "
            f"(the other table given here?), {unpadded} are known once leading zeros are restored (codes read as "
            f"numbers?), {dotted_wrong} carry a dot where a {name[kind]} code has none.")
    skips.hints[f"{prefix}_unknown_codes"] = skips.hints[f"{prefix}_malformed_codes"] = hint


def _read_code_tables(paths: dict[str, Path]) -> tuple[pd.DataFrame, dict, Skips]:
    skips = Skips()
    descriptions = read_descriptions(paths)
    dictionary = {kind: set(d) | set(icd.cms_descriptions(kind)) for kind, d in descriptions.items()}
    return read_codes(paths, skips, dictionary), descriptions, skips


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    out = {}
    for table, kind in (("D_ICD_DIAGNOSES", icd.DX), ("D_ICD_PROCEDURES", icd.PX)):
        df = _read_table(paths[table], table, ["ICD9_CODE", "LONG_TITLE"]).dropna(subset=["ICD9_CODE"])
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
    ccs_px_fallback: str | None = None,
    max_skip_share: dict | None = None,
    summary_path: str | Path | None = None,
    source: str = "synthetic",
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build the cohort from ``raw_dir`` into ``out_dir`` (see docs/architecture.md); returns the summary.

    Every parameter is validated (:class:`config.CohortConfig`) before any data is read. A cohort that is empty,
    or that loses more than ``max_skip_share`` of a cause's input to it, is a :class:`CohortLossError`; the
    folder ``out_dir`` is replaced in one step (:func:`io.atomic_dir`), so a failure or an interruption leaves the
    previous cohort as it was. ``workers`` processes normalise the text (default: every core); the result does
    not depend on it.
    """
    cfg = CohortConfig(cohort_dir=str(out_dir), label_setting=label_setting, top_k=top_k, text_norm=text_norm,
                       split=split, split_ratios=split_ratios, stratify_labels=stratify_labels, split_seed=seed,
                       caml_splits_dir=None if caml_splits_dir is None else str(caml_splits_dir),
                       caml_splits_download=caml_splits_download,
                       ccs_px_file=None if ccs_px_file is None else str(ccs_px_file), ccs_px_fallback=ccs_px_fallback,
                       max_skip_share=max_skip_share or DEFAULT_LIMITS, source=source)
    limits = loss_limits(cfg.max_skip_share)
    mapper = icd.CCSMapper(ccs_px_file)
    paths = check_raw_dir(raw_dir)
    skips = Skips()

    with worker_pool(workers, paths["NOTEEVENTS"]) as pool:
        # While NOTEEVENTS streams, a worker reads the code tables first, and a thread imports the split's library.
        code_tables = submit(pool, _read_code_tables, paths)
        if pool and split == "stratified":
            threading.Thread(target=splits.load_stratifier, daemon=True).start()
        notes, texts = read_discharge_summaries(paths["NOTEEVENTS"], skips, text_norm, pool, progress, limits=limits)
        code_rows, descriptions, code_skips = result(pool, code_tables)
    skips.merge(code_skips)
    skips.check(limits)
    notes["text_row"] = np.arange(len(notes))  # the texts stay in `texts` until written

    distinct = code_rows[["code", "kind"]].drop_duplicates()
    not_in_d_icd = sorted(c for c, k in zip(distinct["code"], distinct["kind"]) if icd.undot(c) not in descriptions[k])
    unknown_codes = [c for c in not_in_d_icd if icd.undot(c) not in icd.cms_descriptions(icd.kind_of(c))]

    cohort = _join_codes(notes, code_rows, skips, limits)
    cohort["fold"] = _folds(cohort, cfg, raw_dir, skips)
    cohort = cohort[cohort["fold"] >= 0]
    counts_all = _code_counts(cohort)

    labels = select_labels(cohort["codes_all"], label_setting, top_k)
    cohort = _restrict_to_labels(cohort, labels, label_setting, skips, limits)

    label_df, ccs_df = _label_tables(cohort, labels, descriptions, mapper)
    no_ccs = label_df.loc[label_df["ccs"] == "", "code"].tolist()
    with io.atomic_dir(out_dir) as tmp:
        per_split = _write(tmp, cohort, texts, label_df, ccs_df, counts_all)
        summary = summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs,
                            dict(source=source, label_setting=label_setting, text_norm=text_norm, split=split,
                                 ccs_px_source=mapper.px_source, seed=seed))
        if summary_path is None:
            io.write_json(tmp / "cohort_summary.json", summary)
    if summary_path is not None:
        io.write_json(summary_path, summary)
    return summary


def _restrict_to_labels(cohort: pd.DataFrame, labels: list[str], setting: str, skips: Skips, limits: dict) -> pd.DataFrame:
    """``icd_codes``: each admission's labels; admissions left without one dropped, counted and limited; every
    split must keep an admission."""
    label_set = set(labels)
    cohort["icd_codes"] = [sorted(c for c in codes if c in label_set) for codes in cohort["codes_all"]]
    no_label = cohort["icd_codes"].map(len) == 0
    skips.add(f"admissions_without_{setting}_code", no_label.sum(), of=len(cohort))
    cohort = cohort[~no_label].reset_index(drop=True)
    skips.check(limits)
    for k, name in enumerate(splits.SPLITS):
        check_not_empty(int((cohort["fold"] == k).sum()), f"{name} admissions", skips)
    return cohort


def _join_codes(notes: pd.DataFrame, code_rows: pd.DataFrame, skips: Skips, limits: dict) -> pd.DataFrame:
    """Admissions with a summary and codes (``codes_all``: every code), summaries empty once normalised dropped."""
    hadm, code_array = code_rows["hadm_id"].to_numpy(), code_rows["code"].to_numpy(dtype=object)  # sorted by hadm_id
    bounds = _runs(hadm)
    per_adm = pd.Series([code_array[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])], index=hadm[bounds[:-1]], dtype=object)
    with_codes = notes["hadm_id"].isin(per_adm.index)
    skips.add("summaries_without_codes", (~with_codes).sum(), of=len(notes))
    skips.add("coded_admissions_without_summary", (~per_adm.index.isin(notes["hadm_id"])).sum(), of=len(per_adm))
    skips.hints["summaries_without_codes"] = skips.hints["coded_admissions_without_summary"] = (
        "NOTEEVENTS and DIAGNOSES_ICD/PROCEDURES_ICD share few HADM_IDs: are they from the same MIMIC-III release?")
    cohort = notes[with_codes].reset_index(drop=True)
    cohort["codes_all"] = per_adm.loc[cohort["hadm_id"]].to_numpy()
    empty = cohort["n_tokens"] == 0
    skips.add("summaries_empty_after_normalisation", empty.sum(), of=len(cohort))
    skips.check(limits)
    check_not_empty(int((~empty).sum()), "admission with both a discharge summary and codes", skips)
    return cohort[~empty].reset_index(drop=True)


def _folds(cohort: pd.DataFrame, cfg: CohortConfig, raw_dir, skips: Skips) -> np.ndarray:
    """0 (train), 1 (dev), 2 (test) or -1 (not in the published CAML lists) per admission."""
    if cfg.split != "caml":
        return splits.stratified_split(cohort["subject_id"].to_numpy(), cohort["codes_all"].tolist(),
                                       tuple(cfg.split_ratios), cfg.split_seed, cfg.stratify_labels)
    ids = splits.read_caml_splits(cfg.caml_splits_dir, cfg.label_setting, cfg.caml_splits_download)
    fold = np.full(len(cohort), -1)
    for k, name in enumerate(splits.SPLITS):
        fold[cohort["hadm_id"].isin(ids[name]).to_numpy()] = k
    listed = np.concatenate(list(ids.values()))
    skips.add("caml_listed_admissions_not_in_cohort", (~np.isin(listed, cohort["hadm_id"])).sum(), of=len(listed))
    skips.add("cohort_admissions_not_in_caml_lists", (fold < 0).sum())
    if (fold >= 0).sum() == 0:
        raise CohortInputError(
            f"none of the admissions in {raw_dir} appear in the CAML split lists in {cfg.caml_splits_dir}: "
            "the CAML lists only fit real MIMIC-III; use cohort.split: stratified for other data."
        )
    return fold


def _code_counts(cohort: pd.DataFrame) -> pd.DataFrame:
    """Every code's count per split, most frequent in train first."""
    counts_all = pd.DataFrame({
        name: cohort.loc[cohort["fold"] == k, "codes_all"].explode().value_counts()
        for k, name in enumerate(splits.SPLITS)
    }).fillna(0).astype(np.int64).rename(columns=lambda c: f"{c}_count")
    counts_all = counts_all.rename_axis("code").reset_index().sort_values(["train_count", "code"], ascending=[False, True])
    counts_all.insert(1, "kind", counts_all["code"].map(icd.kind_of))
    return counts_all


def _label_tables(cohort: pd.DataFrame, labels: list[str], descriptions: dict, mapper) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ICD and CCS label vocabularies with their training counts; sets ``cohort["ccs_codes"]``."""
    label_df = icd.label_table(labels, descriptions, mapper)
    ccs_of = dict(zip(label_df["code"], label_df["ccs"]))
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
    return label_df, ccs_df


def _write(out_dir: Path, cohort, texts: NoteTexts, label_df, ccs_df, counts_all) -> dict[str, pd.DataFrame]:
    """The split parquets (texts assembled now), label vocabularies and code counts; returns the splits."""
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
    return per_split


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
