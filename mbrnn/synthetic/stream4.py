"""Entry point of the MIMIC-IV format: ``hosp/`` code tables and ``note/discharge`` under one folder.

The same plan (patients, admissions, profiles, quirks) as the MIMIC-III format, drawn with MIMIC-IV's
proportions. Randomness: ``[seed, 0, ...]`` the ICD-9 world, ``[seed, 5, ...]`` the ICD-10 world, ``[seed, 1]``
the plan, ``[seed, 4]`` each admission's code version and the note numbering, ``[seed, 2, chunk]`` each chunk.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .config import Scale
from .config4 import Mimic4Config, resolve_scale4
from .fields import gz_csv
from .plan import Plan, make_plan
from .world import World, build_world
from .world10 import build_world10
from .writer4 import TABLES4, d_icd4, make_chunk4

STREAMED4 = ("note/discharge", "hosp/diagnoses_icd", "hosp/procedures_icd")
SUBJECT_BASE, HADM_BASE = 10_000_000, 19_900_000  # MIMIC-IV's 8-digit ids: subject_id 1xxxxxxx, hadm_id 2xxxxxxx


def _first_of_patient(plan: Plan) -> np.ndarray:
    """Index of each admission's patient's first admission (admissions are ordered by patient, then time)."""
    return np.searchsorted(plan.patient, plan.patient)


def icd9_admissions(plan: Plan, p_icd9: float, rng: np.random.Generator) -> np.ndarray:
    """Which admissions are ICD-9 coded: a Binomial(admissions, p_icd9) number of each patient's earliest."""
    counts = np.bincount(plan.patient, minlength=len(plan.subject_id))
    k9 = rng.binomial(counts, p_icd9)
    within = np.arange(len(plan.patient)) - _first_of_patient(plan)
    return within < k9[plan.patient]


def note_seqs(plan: Plan, has_note: np.ndarray, first: int, rng: np.random.Generator) -> np.ndarray:
    """note_seq of each admission's note: a patient's notes count up from a random start in 1..``first``."""
    base = rng.integers(1, first + 1, len(plan.subject_id))
    before = np.cumsum(has_note) - has_note
    return base[plan.patient] + before - before[_first_of_patient(plan)]


def _write_streamed4(out: Path, w9: World, w10: World, plan: Plan, cfg: Mimic4Config, is9: np.ndarray,
                     seq: dict[str, np.ndarray], seed: int, progress: bool) -> tuple[dict[str, int], dict]:
    """discharge, diagnoses_icd and procedures_icd chunk by chunk; their row counts and distinct codes seen."""
    N, base = len(plan.hadm_id), cfg.base
    rows = dict.fromkeys(STREAMED4, 0)
    seen = {(k, v): set() for k in ("dx", "px") for v in (9, 10)}
    with contextlib.ExitStack() as stack:
        write = {name: stack.enter_context(gz_csv(out / f"{name}.csv.gz", TABLES4[name], base.compresslevel, False))
                 for name in STREAMED4}
        bar = stack.enter_context(tqdm(total=N, unit="adm", desc="synthetic MIMIC-IV", disable=not progress))
        for c, lo in enumerate(range(0, N, base.chunk_admissions)):
            sl = slice(lo, min(N, lo + base.chunk_admissions))
            ch = make_chunk4(w9, w10, plan, sl, cfg, is9, seq, np.random.default_rng([seed, 2, c]))
            for name, lines in zip(STREAMED4, (ch.notes, ch.dx_rows, ch.px_rows)):
                write[name]("".join(lines))
                rows[name] += len(lines)
            for j, v in enumerate(is9[sl].tolist()):
                seen[("dx", 9 if v else 10)].update(ch.dx[j])
                seen[("px", 9 if v else 10)].update(ch.px[j])
            bar.update(sl.stop - sl.start)
    return rows, {f"{k}_icd{v}": len(s) for (k, v), s in seen.items()}


def generate4(out_dir: str | Path, scale: str | int | Scale = "demo", seed: int = 0, progress: bool = True,
              config: Mimic4Config | None = None) -> dict:
    """Write the synthetic MIMIC-IV tables (``TABLES4``) under ``out_dir``; returns row counts and statistics."""
    cfg = config or Mimic4Config()
    sc = resolve_scale4(scale)
    out = Path(out_dir)
    for sub in sorted({name.split("/")[0] for name in TABLES4}):
        (out / sub).mkdir(parents=True, exist_ok=True)
    w9 = build_world(seed, cfg.base)
    w10 = build_world10(seed, w9, cfg)
    plan = make_plan(sc, cfg.base, w9, np.random.default_rng([seed, 1]))
    plan = dataclasses.replace(plan, subject_id=plan.subject_id + SUBJECT_BASE, hadm_id=plan.hadm_id + HADM_BASE)
    rng = np.random.default_rng([seed, 4])
    is9 = icd9_admissions(plan, cfg.p_icd9, rng)
    addendum = plan.has_ds & plan.flags["addendum"]
    seq = {"ds": note_seqs(plan, plan.has_ds, cfg.first_note_seq, rng), "ad": note_seqs(plan, addendum, 1, rng)}
    rows, distinct = _write_streamed4(out, w9, w10, plan, cfg, is9, seq, seed, progress)
    for name, cats in (("hosp/d_icd_diagnoses", [(w9.dx.cat, 9), (w10.dx.cat, 10)]),
                       ("hosp/d_icd_procedures", [(w9.px.cat, 9), (w10.px.cat, 10)])):
        with gz_csv(out / f"{name}.csv.gz", TABLES4[name], cfg.base.compresslevel, False) as write_one:
            write_one(d_icd4(cats))
        rows[name] = sum(len(cat.codes) for cat, _ in cats)
    return {
        "format": "mimic4", "scale": str(scale), "seed": seed, "rows": {name: rows[name] for name in TABLES4},
        "patients": len(plan.subject_id), "admissions": sc.n_admissions,
        "admissions_icd9": int(is9.sum()), "admissions_icd10": int((~is9).sum()),
        "admissions_with_discharge_summary": {"icd9": int((plan.has_ds & is9).sum()),
                                              "icd10": int((plan.has_ds & ~is9).sum())},
        "distinct_codes": distinct,
    }
