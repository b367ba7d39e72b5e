"""Text normalisation of discharge summaries.

Two schemes, chosen by ``cohort.text_norm``:

``caml`` (the paper's, after Mullenbach et al. 2018)
    lowercase, tokens are runs of ``\\w`` characters, purely numeric tokens dropped.
``edin`` (Edin et al. 2023, medical-coding-reproducibility)
    lowercase, every run of characters outside ``[a-z0-9]`` becomes a space (so ``_`` splits tokens),
    numeric tokens surrounded by whitespace removed with their regex ``(\\s\\d+)+\\s`` (which, as in their code,
    keeps a number at the very start or end of a note), whitespace collapsed.

:func:`tokenize` is the definition of both. The cohort builder normalises MIMIC-III's ~600 MB of discharge
summaries with :func:`prepare_notes`, which gives the same result faster: an ASCII note (nearly all of them)
is tokenised for ``caml`` by a byte translation table and a split instead of a regex (about 3x faster), and
``caml`` works note by note, so the cohort builder can normalise each note while NOTEEVENTS is still streaming
in and join an admission's notes afterwards (:data:`PER_NOTE`).
"""

from __future__ import annotations

import functools
import os
import re
import string
from itertools import filterfalse
from multiprocessing import get_context

from tqdm.auto import tqdm

SCHEMES = ("caml", "edin")
PER_NOTE = ("caml",)
"""Schemes under which normalising an admission's notes joined by line breaks equals joining its normalised
notes (those left with a token) by spaces: ``caml`` tokens never span the line break between two notes.
``edin`` keeps a number at the very start or end of the text, so it has to see the concatenation."""

_WORD = re.compile(r"\w+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_DIGIT_RUN = re.compile(r"(\s\d+)+\s")
_SPACES = re.compile(r"\s+")

# For ASCII text, r"\w" is [A-Za-z0-9_]: keep those bytes (lowercased), turn every other byte into a space.
_WORD_BYTES = (string.ascii_letters + string.digits + "_").encode()
_CAML_ASCII = bytes(b if b in _WORD_BYTES else 0x20 for b in range(256)).lower()
_ASCII_SPACE = "".join(c for c in map(chr, range(128)) if c.isspace()).encode()  # what str.strip() strips


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


def _caml_ascii(raw: bytes) -> tuple[bytes, int]:
    """``caml`` normalisation of an ASCII note, equal to ``normalise(raw.decode(), "caml").encode()``, and its
    token count."""
    tokens = list(filterfalse(bytes.isdigit, raw.translate(_CAML_ASCII).split()))
    return b" ".join(tokens), len(tokens)


def _normalise_counted(note: str, scheme: str) -> tuple[str, int]:
    if scheme == "caml" and note.isascii():
        normalised, n = _caml_ascii(note.encode("ascii"))
        return normalised.decode("ascii"), n
    tokens = tokenize(note, scheme)
    return " ".join(tokens), len(tokens)


def prepare_notes(raws: list[bytes | None], scheme: str) -> tuple[list[bytes | None], list[int], int]:
    """Decode raw note bytes and, under a :data:`PER_NOTE` scheme, normalise each note.

    Returns ``(texts, n_tokens, n_repaired)``: ``texts[i]`` is None for a blank note (nothing but whitespace),
    else, UTF-8 encoded, the normalised note (``n_tokens[i]`` its token count) or, under other schemes, the
    decoded note (``n_tokens[i]`` is -1); ``n_repaired`` counts notes that were not valid UTF-8, decoded with
    U+FFFD. Texts stay bytes: the cohort builder moves them between processes and into arrow without ever
    needing Python strings.
    """
    prepared = [_prepare_note(raw or b"", scheme) for raw in raws]
    return [t for t, _, _ in prepared], [n for _, n, _ in prepared], sum(r for _, _, r in prepared)


def _prepare_note(raw: bytes, scheme: str) -> tuple[bytes | None, int, bool]:
    if raw.isascii():  # nearly every note: checked and normalised as bytes, without decoding
        if not raw.strip(_ASCII_SPACE):
            return None, 0, False
        if scheme in PER_NOTE:
            return *_caml_ascii(raw), False
        return raw, -1, False
    try:
        note, repaired = raw.decode("utf-8"), False
    except UnicodeDecodeError:
        note, repaired = raw.decode("utf-8", errors="replace"), True
    if not note.strip():
        return None, 0, repaired
    if scheme in PER_NOTE:
        normalised, n = _normalise_counted(note, scheme)
        return normalised.encode(), n, repaired
    return note.encode(), -1, repaired


def normalise_many(notes: list[str], scheme: str = "caml", workers: int | None = None,
                   progress: bool = False, min_parallel: int = 500, pool=None) -> list[tuple[str, int]]:
    """(normalised note, token count) for each note, in order; on ``pool`` if given, else on ``workers``
    processes forked for it (default: every core)."""
    work = functools.partial(_normalise_counted, scheme=scheme)
    bar = dict(total=len(notes), desc="normalising text", unit="note", disable=not progress)
    if pool is not None:  # a concurrent.futures executor (the cohort builder's) or a multiprocessing pool
        mapped = pool.map(work, notes, chunksize=64) if hasattr(pool, "submit") else pool.imap(work, notes, chunksize=64)
        return list(tqdm(mapped, **bar))
    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(notes) < min_parallel:
        return [work(n) for n in tqdm(notes, **bar)]
    with get_context("fork" if os.name == "posix" else "spawn").Pool(workers) as pool:
        return list(tqdm(pool.imap(work, notes, chunksize=64), **bar))
