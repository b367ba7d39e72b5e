"""Rows of the MIMIC-IV tables: one chunk of admissions at a time (codes and discharge notes), then dictionaries.

MIMIC-IV's CSVs have bare headers and quote a field only when it must (a comma, quote or line break), so
codes with leading zeros are bare (``0010``): readers must keep ``icd_code`` a string. ICD-9 and ICD-10 codes
share the tables, undotted, told apart by ``icd_version``. Each admission is coded in one version; its
discharge summary (note_type ``DS``) and addendum (``AD``) are written from that version's code world.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from .assign import sample_codes
from .config4 import Mimic4Config
from .dice import Dice
from .fields import csv_date, csv_datetime, minimal
from .plan import Plan
from .summary import Admission
from .summary4 import addendum4, discharge_summary4
from .world import Catalogue, World
from .writer import _admissions

# MIMIC-IV v2.2 files (under raw_dir) and their columns, in the release's order
TABLES4 = {
    "hosp/diagnoses_icd": ("subject_id", "hadm_id", "seq_num", "icd_code", "icd_version"),
    "hosp/procedures_icd": ("subject_id", "hadm_id", "seq_num", "chartdate", "icd_code", "icd_version"),
    "hosp/d_icd_diagnoses": ("icd_code", "icd_version", "long_title"),
    "hosp/d_icd_procedures": ("icd_code", "icd_version", "long_title"),
    "note/discharge": ("note_id", "subject_id", "hadm_id", "note_type", "note_seq", "charttime", "storetime", "text"),
}


@dataclass
class Chunk4:
    """The CSV rows of one chunk of admissions, and each admission's code indices (for the tally)."""

    notes: list[str]
    dx_rows: list[str]
    px_rows: list[str]
    dx: list[list[int]]
    px: list[list[int]]


def _codes(w9: World, w10: World, plan: Plan, sl: slice, cfg: Mimic4Config, is9: np.ndarray,
           rng: np.random.Generator) -> tuple[list[list[int]], list[list[int]]]:
    """Each admission's code indices in its own version's catalogue (drawn for both laws, kept for one)."""
    c9, c10, no_px = cfg.base.codes, cfg.icd10, plan.no_px[sl]
    dx9 = sample_codes(w9.dx, plan, sl, c9, w9, rng, c9.max_dx, ~is9)
    dx10 = sample_codes(w10.dx, plan, sl, c10, w10, rng, c10.max_dx, is9)
    px9 = sample_codes(w9.px, plan, sl, c9, w9, rng, c9.max_px, no_px | ~is9)
    px10 = sample_codes(w10.px, plan, sl, c10, w10, rng, c10.max_px, no_px | is9)
    v9 = is9.tolist()
    return ([a if v else b for a, b, v in zip(dx9, dx10, v9)], [a if v else b for a, b, v in zip(px9, px10, v9)])


def make_chunk4(w9: World, w10: World, plan: Plan, sl: slice, cfg: Mimic4Config, is9: np.ndarray,
                seq: dict[str, np.ndarray], rng: np.random.Generator) -> Chunk4:
    """Code rows and discharge notes of admissions ``sl``; ``is9`` and ``seq`` (note_seq of each admission's
    DS and AD notes) cover the whole cohort."""
    dx, px = _codes(w9, w10, plan, sl, cfg, is9[sl], rng)
    d = Dice(rng)
    dup_dx, dup_px = plan.flags["dup_dx"][sl].tolist(), plan.flags["dup_px"][sl].tolist()
    addendum, has_ds = plan.flags["addendum"][sl].tolist(), plan.has_ds[sl].tolist()
    ds_seq, ad_seq, v9 = seq["ds"][sl].tolist(), seq["ad"][sl].tolist(), is9[sl].tolist()
    notes, dx_rows, px_rows = [], [], []
    for j, a in enumerate(_admissions(w9, plan, sl, dx, px)):
        w, version = (w9, 9) if v9[j] else (w10, 10)
        more_dx, more_px = _code_rows4(a, w, version, dup_dx[j], dup_px[j], d)
        dx_rows += more_dx
        px_rows += more_px
        if has_ds[j]:
            notes += _notes4(a, w, d, cfg, ds_seq[j], ad_seq[j] if addendum[j] else None)
    return Chunk4(notes, dx_rows, px_rows, dx, px)


def _code_rows4(a: Admission, w: World, version: int, dup_dx: bool, dup_px: bool,
                d: Dice) -> tuple[list[str], list[str]]:
    """diagnoses_icd and procedures_icd rows of one admission; sometimes a code repeated under a new seq_num."""
    s, h = a.subject, a.hadm
    dx = [w.dx.cat.codes[i] for i in a.dx]
    if dup_dx and dx:
        dx.append(d.pick(dx))
    px = [w.px.cat.codes[i] for i in a.px]
    if dup_px and px:
        px.insert(d.randint(1, len(px)), d.pick(px))
    stay = max(0, (a.disch - a.admit).days)
    dates = sorted(csv_date(a.admit + timedelta(days=d.randint(0, stay))) for _ in px)
    return ([f"{s},{h},{k + 1},{c},{version}\n" for k, c in enumerate(dx)],
            [f"{s},{h},{k + 1},{t},{c},{version}\n" for k, (t, c) in enumerate(zip(dates, px))])


def _notes4(a: Admission, w: World, d: Dice, cfg: Mimic4Config, ds_seq: int, ad_seq: int | None) -> list[str]:
    """discharge rows of one admission: the summary (charted at discharge) and, sometimes, a later addendum."""
    t = cfg.base.text

    def row(kind: str, seq: int, when, text: str) -> str:
        store = csv_datetime(when + timedelta(minutes=d.randint(30, 2 * 1440)))
        return (f"{a.subject}-{kind}-{seq},{a.subject},{a.hadm},{kind},{seq},{csv_date(when)} 00:00:00,{store},"
                f"{minimal(text)}\n")

    out = [row("DS", ds_seq, a.disch, discharge_summary4(a, w, d, t))]
    if ad_seq is not None:
        out.append(row("AD", ad_seq, a.disch + timedelta(days=d.randint(1, 40)), addendum4(a, w, d, t)))
    return out


def d_icd4(catalogues: list[tuple[Catalogue, int]]) -> str:
    """d_icd_diagnoses / d_icd_procedures rows: every code of each (catalogue, icd_version), ICD-9 first."""
    return "".join(f"{minimal(c)},{version},{minimal(t)}\n" for cat, version in catalogues
                   for c, t in zip(cat.codes, cat.long))
