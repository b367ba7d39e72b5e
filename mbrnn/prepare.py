"""``python -m mbrnn prepare-data``: makes ``data/raw`` ready for ``dvc repro``.

With ``data.source: synthetic`` it generates the embedded synthetic cohort, unless ``data/raw`` already matches the
hash ``data.dvc`` pins (computed from the files, without DVC's cache), and it never overwrites files it did not write.
With ``mimic3`` it reads each MIMIC-III table once, whole: gzip integrity, header by name, row count. Every setting of
``data`` and ``cohort`` is checked first, so a typo costs a second, not a pass over NOTEEVENTS.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from . import io, raw
from .config import CohortConfig, DataConfig, ParamsError
from .synthetic import generate

SYNTHETIC_MANIFEST = ".{name}.synthetic.json"
"""Beside the raw folder: md5 of each file ``prepare-data`` generated, so that it never overwrites anyone else's."""


def prepare_data(params: dict, root: Path) -> str:
    """Generate (``synthetic``) or check (``mimic3``, ``mimic4``) the raw tables; returns what was found or done."""
    data = DataConfig.from_params(params)
    CohortConfig.from_params(params)  # every cohort setting checked before any data is touched
    raw_dir = root / data.raw_dir
    if data.source != "synthetic":
        return check_mimic(raw_dir, data.raw_dir, data.source)
    pinned = _pinned(root, raw_dir)
    if pinned and raw_dir.is_dir() and raw.dvc_dir_md5(raw_dir) == pinned:
        return f"{raw_dir} matches the hash pinned in data.dvc; nothing to generate."
    _refuse_foreign(raw_dir)
    generate(raw_dir, scale=data.synthetic_scale, seed=data.synthetic_seed, format=data.synthetic_format)
    io.write_json(raw_dir.parent / SYNTHETIC_MANIFEST.format(name=raw_dir.name), _md5s(raw_dir))
    if not pinned:
        return f"generated the synthetic cohort in {raw_dir} (no data.dvc pins {data.raw_dir})."
    if raw.dvc_dir_md5(raw_dir) != pinned:
        return (f"generated the synthetic cohort in {raw_dir}, but it does not match the hash pinned in data.dvc "
                "(different scale/seed in params.yaml, or a generator change): run `dvc add data/raw` to re-pin it.")
    return f"generated the synthetic cohort in {raw_dir}; it matches the hash pinned in data.dvc."


def check_mimic(raw_dir: Path, name: str, source: str = "mimic3") -> str:
    """Read every MIMIC-III (or MIMIC-IV, ``source`` mimic4) table the cohort needs once, whole, and report what
    was found."""
    lines, release = [], "MIMIC-IV v2.2" if source == "mimic4" else "MIMIC-III v1.4"
    for table in (raw.TABLES_IV if source == "mimic4" else raw.TABLES):
        path = raw.table_path(raw_dir, table)
        found = raw.scan_table(path, table)
        if not found["rows"]:
            raise raw.CohortInputError(f"{path}: holds a header but no rows.")
        order = "" if found["columns_in_mimic_order"] else ", columns reordered (found by name)"
        bad = f", {found['unparsable_rows']:,} unparsable rows" if found["unparsable_rows"] else ""
        known = found["mimic_iii_v1_4_rows"]
        release_rows = f" (MIMIC-III v1.4: {known:,})" if known else ""
        lines.append(f"  {path.relative_to(raw_dir)}: {found['rows']:,} rows{release_rows}, gzip and header OK{order}{bad}")
    return (f"{release} tables checked in {raw_dir}:\n" + "\n".join(lines) +
            f"\nRecord them with `dvc add {name}` if you have not.")


def _pinned(root: Path, raw_dir: Path) -> str | None:
    """The md5 data.dvc pins for ``raw_dir`` (None when it pins another folder, or there is no data.dvc)."""
    dvc_file = root / "data.dvc"
    if not dvc_file.exists() or raw_dir.resolve() != (root / "data" / "raw").resolve():
        return None
    return raw.pinned_md5(dvc_file)


def _md5s(folder: Path) -> dict[str, str]:
    """md5 of every file below ``folder`` by relative path (MIMIC-IV's layout has ``hosp/`` and ``note/``)."""
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refuse_foreign(raw_dir: Path) -> None:
    """Stop before overwriting files in ``raw_dir`` that an earlier ``prepare-data`` did not write."""
    if not raw_dir.is_dir():
        return
    manifest = raw_dir.parent / SYNTHETIC_MANIFEST.format(name=raw_dir.name)
    ours = json.loads(manifest.read_text()) if manifest.exists() else {}
    foreign = sorted(n for n, md5 in _md5s(raw_dir).items() if ours.get(n) != md5)
    if foreign:
        raise ParamsError(
            f"{raw_dir} holds files that prepare-data did not write ({', '.join(foreign)}); data.source is "
            "'synthetic', so they would be overwritten. If they are MIMIC-III, set data.source: mimic3 in "
            "params.yaml (README: Running on MIMIC-III); otherwise move them away and run prepare-data again.")
