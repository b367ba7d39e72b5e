"""Entry point: generate the seven MIMIC-III tables (or, by ``format``, MIMIC-IV's) into a folder, streaming.

Randomness comes only from ``numpy.random.default_rng`` seeded with ``[seed, stage, ...]``: stage 0 the
world, 1 the plan, 2 each chunk (``[seed, 2, chunk]``), 3 the ADMISSIONS columns. Chunks are generated and
written in order, so memory stays flat at full scale and each output depends only on (scale, seed, config).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbrnn.schema import COLUMNS

from .config import Scale, SyntheticConfig, resolve_scale
from .config4 import Mimic4Config
from .fields import gz_csv
from .plan import Plan, make_plan
from .stream4 import generate4
from .world import World, build_world
from .writer import admissions_csv, code_csv, d_icd_csv, make_chunk, patients_csv

STREAMED = ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD")  # written chunk by chunk
FORMATS = ("mimic3", "mimic4")  # MIMIC-III v1.4 tables | MIMIC-IV v2.2 hosp/ and note/ tables


class _Tally:
    """Distinct codes seen (overall and among admissions with a discharge summary) and codes per such admission."""

    def __init__(self, w: World):
        self.seen = {"dx": np.zeros(len(w.dx.cat.codes), bool), "px": np.zeros(len(w.px.cat.codes), bool)}
        self.seen_ds = {k: v.copy() for k, v in self.seen.items()}
        self.n_codes_ds = 0

    def add(self, dx: list[list[int]], px: list[list[int]], has_ds: np.ndarray) -> None:
        for kind, lists in (("dx", dx), ("px", px)):
            for j, codes in enumerate(lists):
                self.seen[kind][codes] = True
                if has_ds[j]:
                    self.seen_ds[kind][codes] = True
                    self.n_codes_ds += len(codes)


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic seed must be a non-negative integer, got {seed!r} "
                         "(params.yaml: data.synthetic_seed)")
    return int(seed)


def _write_streamed(out: Path, w: World, plan: Plan, cfg: SyntheticConfig, seed: int, progress: bool,
                    tally: _Tally) -> tuple[dict[str, int], list[str]]:
    """NOTEEVENTS, DIAGNOSES_ICD and PROCEDURES_ICD, chunk by chunk; returns their row counts and every
    admission's admitting diagnosis (for ADMISSIONS)."""
    N = len(plan.hadm_id)
    rows = dict.fromkeys(STREAMED, 0)
    diagnosis: list[str] = []
    with contextlib.ExitStack() as stack:
        write = {name: stack.enter_context(gz_csv(out / f"{name}.csv.gz", COLUMNS[name], cfg.compresslevel))
                 for name in STREAMED}
        bar = stack.enter_context(tqdm(total=N, unit="adm", desc="synthetic MIMIC-III", disable=not progress))
        for c, lo in enumerate(range(0, N, cfg.chunk_admissions)):
            sl = slice(lo, min(N, lo + cfg.chunk_admissions))
            ch = make_chunk(w, plan, sl, cfg, np.random.default_rng([seed, 2, c]), rows["NOTEEVENTS"] + 1)
            write["NOTEEVENTS"]("".join(ch.notes))
            write["DIAGNOSES_ICD"](code_csv(ch.dx_rows, rows["DIAGNOSES_ICD"] + 1))
            write["PROCEDURES_ICD"](code_csv(ch.px_rows, rows["PROCEDURES_ICD"] + 1))
            rows["NOTEEVENTS"] += len(ch.notes)
            rows["DIAGNOSES_ICD"] += len(ch.dx_rows)
            rows["PROCEDURES_ICD"] += len(ch.px_rows)
            diagnosis += ch.diagnosis
            tally.add(ch.dx, ch.px, plan.has_ds[sl])
            bar.update(sl.stop - sl.start)
    return rows, diagnosis


def _write_small(out: Path, w: World, plan: Plan, diagnosis: list[str], cfg: SyntheticConfig,
                 seed: int) -> dict[str, int]:
    """ADMISSIONS, PATIENTS and the two code dictionaries; returns their row counts."""
    small = {
        "ADMISSIONS": (admissions_csv(plan, w, diagnosis, np.random.default_rng([seed, 3])), len(plan.hadm_id)),
        "PATIENTS": (patients_csv(plan), len(plan.subject_id)),
        "D_ICD_DIAGNOSES": (d_icd_csv(w.dx.cat), len(w.dx.cat.codes)),
        "D_ICD_PROCEDURES": (d_icd_csv(w.px.cat), len(w.px.cat.codes)),
    }
    for name, (text, _) in small.items():
        with gz_csv(out / f"{name}.csv.gz", COLUMNS[name], cfg.compresslevel) as write_one:
            write_one(text)
    return {name: n for name, (_, n) in small.items()}


def generate(out_dir: str | Path, scale: str | int | Scale = "demo", seed: int = 0, progress: bool = True,
             config: SyntheticConfig | Mimic4Config | None = None, format: str = "mimic3") -> dict:
    """Write the synthetic MIMIC-III v1.4 tables (``format="mimic3"``) or MIMIC-IV's ``hosp/`` and ``note/``
    tables (``"mimic4"``, see ``stream4``) into ``out_dir``; returns row counts and a few statistics.

    Streams admissions in chunks of ``config.chunk_admissions``; each file is written atomically.
    """
    if format not in FORMATS:
        raise ValueError(f"unknown synthetic format {format!r}: use one of {list(FORMATS)} "
                         "(params.yaml: data.synthetic_format)")
    seed = _check_seed(seed)
    expected = Mimic4Config if format == "mimic4" else SyntheticConfig
    if config is not None and not isinstance(config, expected):
        raise ValueError(f"synthetic format {format!r} takes a {expected.__name__}, got {type(config).__name__}")
    if format == "mimic4":
        return generate4(out_dir, scale, seed, progress, config)
    cfg = config or SyntheticConfig()
    sc = resolve_scale(scale)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = build_world(seed, cfg)
    plan = make_plan(sc, cfg, w, np.random.default_rng([seed, 1]))
    tally = _Tally(w)
    streamed, diagnosis = _write_streamed(out, w, plan, cfg, seed, progress, tally)
    small = _write_small(out, w, plan, diagnosis, cfg, seed)
    n_ds = int(plan.has_ds.sum())
    return {
        "scale": str(scale), "seed": seed, "rows": {name: {**streamed, **small}[name] for name in COLUMNS},
        "patients": len(plan.subject_id), "admissions": sc.n_admissions, "admissions_with_discharge_summary": n_ds,
        "distinct_codes": {k: int(v.sum()) for k, v in tally.seen.items()},
        "distinct_codes_with_discharge_summary": {k: int(v.sum()) for k, v in tally.seen_ds.items()},
        "codes_per_admission_with_discharge_summary": round(tally.n_codes_ds / max(n_ds, 1), 3),
    }
