"""Streaming MIMIC-III NOTEEVENTS: discharge summaries cut out, parsed and normalised by worker processes.

See :func:`read_discharge_summaries` and docs/architecture.md ("How NOTEEVENTS is read"). Columns are found by
name; messages name the file, the column and the byte offset or row, never a note's content.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from . import schema, text
from .raw import PHYSIONET, CohortInputError, columns_of, gzip_error
from .notetexts import NoteTexts, read_ahead as _read_ahead
from .skips import DEFAULT_LIMITS, Skips, check_not_empty

DISCHARGE = schema.DISCHARGE
PARALLEL_MIN_BYTES = 1 << 20
"""Below this size (compressed) NOTEEVENTS is normalised in the main process: forking workers costs more."""


class WorkerDiedError(RuntimeError):
    """A worker process of the cohort builder died (killed by the OOM killer, for example)."""



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
    return assemble(results, skips, path, text_norm, pool, progress, limits)


def assemble(results: list, skips: Skips, path: Path, text_norm: str, pool, progress: bool,
             limits: dict | None) -> tuple[pd.DataFrame, NoteTexts]:
    """Admissions from the prepared blocks (:func:`_prepare_rows`'s results, whichever release they were read
    from): an admission's notes in chart order (date, time, row), joined; see :func:`read_discharge_summaries`."""
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
