"""CSV fields as PhysioNet's releases of MIMIC-III and MIMIC-IV write them, and the reproducible gzip writer."""

from __future__ import annotations

import contextlib
import gzip
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from mbrnn.io import atomic_path


def quote(s: str) -> str:
    """A string field: always double-quoted, inner quotes doubled."""
    return '"' + s.replace('"', '""') + '"'


def minimal(s: str) -> str:
    """A string field as MIMIC-IV's release writes it: quoted only when it holds a comma, quote or line break."""
    return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n\r') else s


def quote_or_null(s: str) -> str:
    """A string field that is NULL (bare empty) when empty."""
    return quote(s) if s else ""


def csv_datetime(t: datetime | None) -> str:
    """A DATETIME field (``YYYY-MM-DD hh:mm:ss``); NULL for None."""
    return "" if t is None else f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:00"


def csv_date(t: datetime) -> str:
    """A DATE field (``YYYY-MM-DD``)."""
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"


def datetimes(a: np.ndarray) -> list:
    """datetime64 array -> list of datetime (None for NaT), for fast formatting in Python loops."""
    return a.astype("datetime64[s]").tolist()


@contextlib.contextmanager
def gz_csv(path: Path, columns: list[str], level: int, quote_header: bool = True) -> Iterator[Callable[[str], int]]:
    """Write a gzipped CSV atomically and reproducibly (no name, mtime 0 in the gzip header).

    Yields a function that appends text (rows ending in newlines) after the header (quoted as in MIMIC-III's
    release, or bare as in MIMIC-IV's).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f, \
            gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=level) as gz:
        gz.write((",".join(f'"{c}"' if quote_header else c for c in columns) + "\n").encode("utf-8"))
        yield lambda text: gz.write(text.encode("utf-8"))
