"""Reports are readable as the user's umask allows: the atomic writer must not keep mkstemp's 0600."""

import os
import stat

import numpy as np
import pandas as pd
import pytest

from mbrnn import io, plots, report, tables


@pytest.fixture
def umask():
    """Set a umask for one test and restore the caller's afterwards."""
    old = os.umask(0o022)
    os.umask(old)
    yield lambda mask: os.umask(mask)
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def write_everything(folder):
    """One file of every kind the study writes: JSON, text, npz, parquet, CSV, figure, table, reports index."""
    io.write_json(folder / "m.json", {"a": 1})
    io.write_text(folder / "t.txt", "x")
    io.save_npz(folder / "a.npz", x=np.arange(3))
    io.write_parquet(folder / "d.parquet", pd.DataFrame({"a": [1]}))
    io.write_csv(folder / "d.csv", pd.DataFrame({"a": [1]}))
    fig = plots.plot_code_frequency([5, 3, 1, 0])
    figs = plots.save_figure(fig, folder / "figures", "code_frequency")
    tabs = tables.write_table(pd.DataFrame({"a": [1.0]}), folder / "tables", "t", "caption")
    rep = report.Report(folder, {"data": "synthetic"})
    rep.add("figure", "code_frequency", figs, "sentence")
    return [folder / n for n in ("m.json", "t.txt", "a.npz", "d.parquet", "d.csv")] + [*figs.values(), *tabs.values(),
                                                                                         rep.write()]


@pytest.mark.parametrize("mask, want", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_written_files_follow_the_umask(tmp_path, umask, mask, want):
    umask(mask)
    assert io.current_umask() == mask and io.default_mode() == want and io.default_mode(directory=True) == 0o777 & ~mask
    files = write_everything(tmp_path)
    assert len(files) == 11
    assert {p.name: oct(mode(p)) for p in files} == {p.name: oct(want) for p in files}


def test_failed_write_leaves_no_file_and_umask_unchanged(tmp_path, umask):
    umask(0o027)
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "x.json") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    assert io.current_umask() == 0o027
