"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.text``."""

from concurrent.futures import ThreadPoolExecutor
from multiprocessing.pool import ThreadPool

import pytest

from mbrnn import text


def test_a_note_of_non_ascii_whitespace_is_blank_with_no_tokens():
    for scheme in text.SCHEMES:
        assert text.prepare_notes([" \u00a0\u2003\n".encode(), b"ok 1 \xc3\xa9t\xc3\xa9"], scheme)[:2] == (
            [None, "ok été".encode() if scheme == "caml" else "ok 1 été".encode()],
            [0, 2 if scheme == "caml" else -1])


def test_progress_bar_counts_notes_against_the_total(capsys):
    """Also on a pool, whose results come as a generator without a length."""
    with ThreadPoolExecutor(2) as pool:
        assert text.normalise_many(["a b", "c", "d 1"], progress=True, pool=pool) == [("a b", 2), ("c", 1), ("d", 1)]
    err = capsys.readouterr().err
    assert "normalising text" in err and "3/3" in err and "100%" in err


@pytest.mark.parametrize("workers,cpus,pools", [(None, 3, [("fork", 3)]), (2, 3, [("fork", 2)]), (1, 3, []),
                                                (None, None, [])])
def test_normalise_many_uses_the_given_workers_else_every_core(monkeypatch, capsys, workers, cpus, pools):
    """A pool of ``workers`` processes, by default one per core (one, serial, when the core count is unknown);
    threads stand in for the forked processes here."""
    made = []

    class Context:
        def __init__(self, method):
            self.method = method

        def Pool(self, n):
            made.append((self.method, n))
            return ThreadPool(n)

    monkeypatch.setattr(text, "get_context", Context)
    monkeypatch.setattr(text.os, "cpu_count", lambda: cpus)
    notes = [f"note {i} x" for i in range(600)]
    assert text.normalise_many(notes, workers=workers) == [("note x", 2)] * 600
    assert made == pools
    assert capsys.readouterr().err == ""  # no progress bar unless asked for
