"""Atomic writers: an artifact is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


TMP_MARK = ".tmp-"
"""Every temporary file or folder is named ``.<target name>.tmp-<random>`` (git-ignored as ``.*.tmp-*``)."""


_UMASK_LOCK = threading.Lock()


def current_umask() -> int:
    """The process umask, read without changing it where Linux tells it (/proc), else set-and-restore under a lock.

    Needed because ``mkstemp`` creates 0600 files whatever the umask: without a chmod every report written through
    ``atomic_path`` would be unreadable to colleagues on a shared server.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    with _UMASK_LOCK:  # os.umask can only be read by setting it; other threads may create files meanwhile
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def default_mode(directory: bool = False) -> int:
    """The mode ``open``/``mkdir`` would give a new file (0666) or folder (0777) under the current umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    The result gets the mode a plain ``open`` would give it (0644 under the usual umask 022), not mkstemp's 0600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}{TMP_MARK}", suffix=suffix or path.suffix or ".tmp")
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        if tmp.exists():  # the block may have replaced the file (a writer that renames its own temporary)
            os.chmod(tmp, default_mode())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike, keep: tuple[str, ...] = (".gitignore",)) -> Iterator[Path]:
    """Yield an empty temporary folder beside ``path``; on success it replaces ``path`` in one step.

    Any interruption (an exception, SIGINT, SIGTERM, SIGKILL) leaves either the old folder or the new one, never
    a mix: the swap is one ``renameat2(RENAME_EXCHANGE)`` on Linux (two renames elsewhere, with the old folder
    restored on the next call if the process dies in between). Files named in ``keep`` that the old folder has
    and the new one lacks (the ``.gitignore`` DVC maintains beside its outputs) are carried over. Leftovers of
    interrupted earlier calls are removed first.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _recover(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}{TMP_MARK}"))
    os.chmod(tmp, default_mode(directory=True))  # mkdtemp's 0700 would make the published folder private
    try:
        yield tmp
        for name in keep:
            if (path / name).is_file() and not (tmp / name).exists():
                shutil.copy2(path / name, tmp / name)
        if path.exists() and _exchange(tmp, path):
            pass  # tmp now holds the old folder
        else:
            old = Path(f"{tmp}.old")
            if path.exists():
                os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _recover(path: Path) -> None:
    """Undo what an interrupted :func:`atomic_dir` left: restore a moved-away old folder, drop temporaries."""
    stale = sorted(path.parent.glob(f".{path.name}{TMP_MARK}*"))
    for p in stale:
        if p.name.endswith(".old") and not path.exists():
            os.rename(p, path)
        else:
            shutil.rmtree(p, ignore_errors=True) if p.is_dir() else p.unlink(missing_ok=True)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


def remove_stale(folder: str | os.PathLike, name: str) -> None:
    """Remove temporary files left beside ``folder/name`` by interrupted atomic writes (they may hold text)."""
    for p in Path(folder).glob(f".{name}.*"):
        if p.is_file():  # ``.NAME.tmp-*`` and the ``.NAME.<random>.<suffix>`` of earlier versions
            p.unlink(missing_ok=True)


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | os.PathLike, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def write_parquet(path: str | os.PathLike, df) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_csv(path: str | os.PathLike, df, **kwargs) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False, **kwargs)


def save_npz(path: str | os.PathLike, **arrays) -> None:
    """``np.savez_compressed`` without its wall-clock zip timestamps: same arrays, same bytes."""
    with atomic_path(path, suffix=".npz") as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(value), allow_pickle=False)


def _json_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")
