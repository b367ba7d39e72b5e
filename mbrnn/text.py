"""Text normalisation of discharge summaries.

Two schemes, chosen by ``cohort.text_norm``:

``caml`` (the paper's, after Mullenbach et al. 2018)
    lowercase, tokens are runs of ``\\w`` characters, purely numeric tokens dropped.
``edin`` (Edin et al. 2023, medical-coding-reproducibility)
    lowercase, every run of characters outside ``[a-z0-9]`` becomes a space (so ``_`` splits tokens),
    numeric tokens surrounded by whitespace removed with their regex ``(\\s\\d+)+\\s`` (which, as in their code,
    keeps a number at the very start or end of a note), whitespace collapsed.
"""

from __future__ import annotations

import functools
import os
import re
from multiprocessing import get_context

from tqdm.auto import tqdm

SCHEMES = ("caml", "edin")

_WORD = re.compile(r"\w+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGIT_RUN = re.compile(r"(\s\d+)+\s")
_SPACES = re.compile(r"\s+")


def tokenize(text: str, scheme: str = "caml") -> list[str]:
    """Normalise one note into a list of tokens."""
    if scheme == "caml":
        return [t for t in _WORD.findall(text.lower()) if not t.isnumeric()]
    if scheme == "edin":
        note = _NON_ALNUM.sub(" ", text.lower())
        note = _DIGIT_RUN.sub(" ", note)
        note = _SPACES.sub(" ", note).strip()
        return note.split(" ") if note else []
    raise ValueError(f"unknown text normalisation {scheme!r}; choose one of {SCHEMES} (params.yaml: cohort.text_norm)")


def normalise(text: str, scheme: str = "caml") -> str:
    """Normalised note as tokens joined by single spaces (what the cohort parquet stores)."""
    return " ".join(tokenize(text, scheme))


def _normalise_counted(note: str, scheme: str) -> tuple[str, int]:
    tokens = tokenize(note, scheme)
    return " ".join(tokens), len(tokens)


def normalise_many(notes: list[str], scheme: str = "caml", workers: int | None = None,
                   progress: bool = False, min_parallel: int = 500) -> list[tuple[str, int]]:
    """(normalised note, token count) for each note, in order; ``workers`` processes (default: every core)."""
    work = functools.partial(_normalise_counted, scheme=scheme)
    workers = workers or os.cpu_count() or 1
    bar = dict(total=len(notes), desc="normalising text", unit="note", disable=not progress)
    if workers == 1 or len(notes) < min_parallel:
        return [work(n) for n in tqdm(notes, **bar)]
    with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(work, notes, chunksize=64), **bar))
