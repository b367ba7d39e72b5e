"""The other NOTEEVENTS categories (nursing, radiology, ECG, ...): templated notes, sampled vectorised.

They carry no coding evidence but make NOTEEVENTS as large and as varied as MIMIC-III's (about 2.08 M rows
at full scale), so that the cohort builder is tested against a realistic stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from .config import NoteConfig, SyntheticConfig
from .fields import csv_date, csv_datetime, datetimes, quote
from .lexicon import CGID_CATEGORIES, NO_CHARTTIME_CATEGORIES, OTHER_NOTES, STORETIME_CATEGORIES
from .plan import MINUTES_PER_DAY, Plan
from .summary import deid
from .world import World


@dataclass
class _Draws:
    """Everything drawn for the other notes of one chunk: one entry per note (M,), and their sentences."""

    cat: list[int]  # index into the categories
    owner: list[int]  # admission within the chunk
    sentences: list[str]
    bounds: list[int]  # note m is sentences[bounds[m]:bounds[m + 1]]
    when: list[datetime]  # CHARTTIME
    store: list[datetime]  # STORETIME
    no_hadm: np.ndarray
    iserror: np.ndarray
    cgid: np.ndarray
    desc_u: np.ndarray  # uniform that picks the DESCRIPTION
    clip: np.ndarray  # radiology clip number


def _sentences(w: World, cats: list[str], cat: np.ndarray, nc: NoteConfig,
               rng: np.random.Generator) -> tuple[list[str], list[int]]:
    """Sentences of each note from its category's bank; the count follows a lognormal length in characters."""
    mean_chars = np.array([x[2] for x in nc.categories], float)
    banks = [w.banks[(c, "")] for c in cats]
    avg = np.array([np.mean([len(x) for x in b]) + 1 for b in banks])
    sizes = np.array([len(b) for b in banks])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    flat = [x for b in banks for x in b]
    target = mean_chars[cat] * np.exp(rng.normal(-nc.length_sigma ** 2 / 2, nc.length_sigma, len(cat)))
    k = np.maximum(1, np.round(target / avg[cat])).astype(np.int64)
    sent = offsets[np.repeat(cat, k)] + (rng.random(k.sum()) * sizes[np.repeat(cat, k)]).astype(np.int64)
    return [flat[i] for i in sent.tolist()], np.r_[0, np.cumsum(k)].tolist()


def _draw(w: World, plan: Plan, sl: slice, nc: NoteConfig, rng: np.random.Generator) -> _Draws | None:
    """Category, text, times and ids of every other note of admissions ``sl`` (None when there are none)."""
    cats = [x[0] for x in nc.categories]
    share = np.array([x[1] for x in nc.categories], float)
    owner = np.repeat(np.arange(sl.stop - sl.start), plan.n_other[sl])
    M = len(owner)
    if M == 0:
        return None
    cat = rng.choice(len(cats), M, p=share / share.sum())
    sentences, bounds = _sentences(w, cats, cat, nc, rng)
    admit = plan.admit[sl][owner]
    span = (plan.disch[sl] - plan.admit[sl]).astype(np.int64)[owner]
    when = admit + (rng.random(M) * span).astype(np.int64)
    p_no = dict(nc.p_no_hadm)
    no_hadm = rng.random(M) < np.array([p_no.get(c, 0.0) for c in cats])[cat]
    when = np.where(no_hadm, admit - rng.integers(1, 365 * MINUTES_PER_DAY, M), when)  # outpatient: before
    store = when + rng.integers(5, 240, M)
    iserror = rng.random(M) < nc.p_iserror
    cgid = rng.integers(14_000, 21_600, M)
    desc_u = rng.random(M)
    clip = rng.integers(100, 999_999, M)
    return _Draws(cat.tolist(), owner.tolist(), sentences, bounds, datetimes(when), datetimes(store), no_hadm,
                  iserror, cgid, desc_u, clip)


def other_notes(w: World, plan: Plan, sl: slice, cfg: SyntheticConfig, rng: np.random.Generator,
                diagnosis: list[str]) -> list[str]:
    """NOTEEVENTS rows (without ROW_ID) of the 14 non-discharge MIMIC categories for admissions ``sl``."""
    nc = cfg.notes
    x = _draw(w, plan, sl, nc, rng)
    if x is None:
        return []
    cats = [c[0] for c in nc.categories]
    subj = plan.subject_id[plan.patient[sl]][x.owner].tolist()
    hadm = plan.hadm_id[sl][x.owner].tolist()
    out = []
    for m, (ci, o) in enumerate(zip(x.cat, x.owner)):
        name = cats[ci]
        descs, _, sep = OTHER_NOTES[name]
        desc = descs[int(x.desc_u[m] * len(descs))]
        text = sep.join(x.sentences[x.bounds[m]:x.bounds[m + 1]])
        tm = x.when[m]
        if name == "Radiology":
            text = _radiology(text, tm, desc, x.clip[m], diagnosis[o])
        elif name in ("Physician", "Nursing") and diagnosis[o] != "NEWBORN":
            text += f"{sep}{diagnosis[o].capitalize()}{sep}Plan: as above."
        charttime = "" if name in NO_CHARTTIME_CATEGORIES else csv_datetime(tm)
        storetime = csv_datetime(x.store[m]) if name in STORETIME_CATEGORIES else ""
        out.append(f"{subj[m]},{'' if x.no_hadm[m] else hadm[m]},{csv_date(tm)},{charttime},{storetime},"
                   f"{quote(name)},{quote(desc)},{x.cgid[m] if name in CGID_CATEGORIES else ''},"
                   f"{'1' if x.iserror[m] else ''},{quote(text)}\n")
    return out


def _radiology(text: str, tm: datetime, desc: str, clip: int, diagnosis: str) -> str:
    """A radiology report: MIMIC's header (time, study, clip number, reason) above the FINAL REPORT."""
    return (f"{deid(tm)} {tm.hour % 12 or 12}:{tm.minute:02d} {'AM' if tm.hour < 12 else 'PM'}\n     {desc}"
            f"{' ' * max(2, 40 - len(desc))}Clip # [**Clip Number (Radiology) {clip}**]\n     Reason: "
            f"{diagnosis.lower()}\n     Admitting Diagnosis: {diagnosis}\n"
            f" {'_' * 78}\n{' ' * 33}FINAL REPORT\n{text}")
