"""Discharge-summary texts as the cohort builder holds them (:class:`NoteTexts`), and a read-ahead reader.

Split out of :mod:`mbrnn.noteevents` (which streams NOTEEVENTS) so that the MIMIC-IV reader (:mod:`mbrnn.mimic4`)
shares them; both are release-independent.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa


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

@contextlib.contextmanager
def read_ahead(stream, size: int, depth: int = 2):
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
