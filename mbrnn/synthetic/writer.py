"""Rows of the seven MIMIC-III tables: one chunk of admissions at a time, then the small tables.

A chunk turns admissions of the plan into DIAGNOSES_ICD / PROCEDURES_ICD rows (with MIMIC's quirks) and
NOTEEVENTS rows (discharge summaries, their addenda and erroneous copies, the other categories), shuffled
as MIMIC's file is. ADMISSIONS needs every admission's admitting diagnosis, so it is written last.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np

from mbrnn.schema import DISCHARGE

from . import notes
from .assign import sample_codes
from .config import SyntheticConfig, TextConfig
from .dice import Dice
from .fields import csv_date, csv_datetime, datetimes, quote, quote_or_null
from .plan import Plan
from .summary import Admission, discharge_summary, short_report
from .world import Catalogue, World

P_SYNONYM_ADMITTING = 0.7  # ADMISSIONS.DIAGNOSIS names the principal diagnosis by a synonym this often


@dataclass
class Chunk:
    """The rows of one chunk of admissions (NOTEEVENTS rows with ROW_ID, code rows without)."""

    notes: list[str]
    dx_rows: list[tuple[int, int, int | None, str | None]]  # (subject, hadm, seq, code)
    px_rows: list[tuple[int, int, int | None, str | None]]
    diagnosis: list[str]  # ADMISSIONS.DIAGNOSIS
    dx: list[list[int]]
    px: list[list[int]]


def make_chunk(w: World, plan: Plan, sl: slice, cfg: SyntheticConfig, rng: np.random.Generator,
               row_id: int) -> Chunk:
    """Codes and notes of admissions ``sl``; NOTEEVENTS rows are numbered from ``row_id`` then shuffled."""
    c = cfg.codes
    n = sl.stop - sl.start
    dx = sample_codes(w.dx, plan, sl, c, w, rng, c.max_dx, np.zeros(n, bool))
    px = sample_codes(w.px, plan, sl, c, w, rng, c.max_px, plan.no_px[sl])
    d = Dice(rng)
    flags = {k: v[sl].tolist() for k, v in plan.flags.items()}
    has_ds = plan.has_ds[sl].tolist()
    dx_rows, px_rows, rows, diagnosis = [], [], [], []
    for j, a in enumerate(_admissions(w, plan, sl, dx, px)):
        quirks = {k: v[j] for k, v in flags.items()}
        more_dx, more_px = _code_rows(a, quirks, w, d)
        dx_rows += more_dx
        px_rows += more_px
        diagnosis.append("NEWBORN" if a.newborn else (w.phrase("dx", a.dx[0], d, P_SYNONYM_ADMITTING) if a.dx else
                                                      "OBSERVATION").upper().replace('"', ""))
        if has_ds[j]:
            rows += _discharge_notes(a, quirks, w, d, cfg.text)
    rows += notes.other_notes(w, plan, sl, cfg, rng, diagnosis)
    order = rng.permutation(len(rows))  # MIMIC's file is not in chronological order
    rows = [f"{row_id + k},{rows[k]}" for k in range(len(rows))]
    return Chunk([rows[k] for k in order], dx_rows, px_rows, diagnosis, dx, px)


def _admissions(w: World, plan: Plan, sl: slice, dx: list[list[int]], px: list[list[int]]) -> list[Admission]:
    """The admissions ``sl`` of the plan with their sampled codes, as plain Python values."""
    pat = plan.patient[sl]
    subj, sex, dob = plan.subject_id[pat].tolist(), plan.gender[pat].tolist(), datetimes(plan.dob[pat])
    admit, disch = datetimes(plan.admit[sl]), datetimes(plan.disch[sl])
    hadm, profile, age = plan.hadm_id[sl].tolist(), plan.profile[sl].tolist(), plan.age[sl].tolist()
    died, length = plan.died[sl].tolist(), plan.length[sl].tolist()
    return [Admission(hadm[j], subj[j], sex[j], age[j], profile[j], profile[j] == w.newborn, admit[j], disch[j],
                      dob[j], died[j], dx[j], px[j], length[j], w.profiles[profile[j]].service)
            for j in range(len(hadm))]


def _code_rows(a: Admission, flags: dict[str, bool], w: World, d: Dice) -> tuple[list[tuple], list[tuple]]:
    """DIAGNOSES_ICD and PROCEDURES_ICD rows of one admission, with MIMIC's quirks.

    A repeated code (new SEQ_NUM), a retired header code absent from CMS v32 and D_ICD_*, a row with NULL
    SEQ_NUM and ICD9_CODE.
    """
    s, h = a.subject, a.hadm
    codes = [w.dx.cat.codes[i] for i in a.dx]
    if flags["dup_dx"] and codes:
        codes.append(d.pick(codes))
    if flags["unknown_code"] and not flags["unknown_px"]:
        codes.insert(d.randint(1, len(codes)), d.pick(w.dx.unknown))
    dx_rows = [(s, h, k + 1, x) for k, x in enumerate(codes)]
    if flags["null_code"]:
        dx_rows.append((s, h, None, None))
    codes = [w.px.cat.codes[i] for i in a.px]
    if flags["dup_px"] and codes:
        codes.insert(d.randint(1, len(codes)), d.pick(codes))
    if flags["unknown_px"]:
        codes.insert(d.randint(0, len(codes)), d.pick(w.px.unknown))
    return dx_rows, [(s, h, k + 1, x) for k, x in enumerate(codes)]


def _discharge_notes(a: Admission, flags: dict[str, bool], w: World, d: Dice, t: TextConfig) -> list[str]:
    """NOTEEVENTS rows (without ROW_ID) of one admission's discharge summary: the report, sometimes a second
    report, an addendum, an erroneous (ISERROR=1) truncated copy."""
    chartdate = csv_date(a.disch)

    def row(text: str, desc: str, date: str = chartdate, err: str = "") -> str:
        return f"{a.subject},{a.hadm},{date},,,{quote(DISCHARGE)},{quote(desc)},,{err},{quote(text)}\n"

    report = discharge_summary(a, w, d, t)
    out = [row(report, "Report")]
    if flags["second_report"]:
        out.append(row(short_report(a, w, d, t, "HOSPITAL COURSE (continued)"), "Report"))
    if flags["addendum"]:
        later = csv_date(a.disch + timedelta(days=d.randint(1, 40)))
        out.append(row(short_report(a, w, d, t, "ADDENDUM"), "Addendum", later))
    if flags["ds_iserror"]:
        out.append(row(report[: len(report) // 3], "Report", chartdate, "1"))
    return out


def code_csv(rows: list[tuple], start: int) -> str:
    """DIAGNOSES_ICD / PROCEDURES_ICD rows numbered from ROW_ID ``start``."""
    return "".join(f"{start + k},{s},{h},{'' if q is None else q},{'' if c is None else quote(c)}\n"
                   for k, (s, h, q, c) in enumerate(rows))


# --- the small tables ----------------------------------------------------------------------------------------------

ADMISSION_CHOICES = {
    "type": (("EMERGENCY", .79), ("ELECTIVE", .18), ("URGENT", .03)),
    "location": (("EMERGENCY ROOM ADMIT", .45), ("PHYS REFERRAL/NORMAL DELI", .22), ("CLINIC REFERRAL/PREMATURE", .2),
                 ("TRANSFER FROM HOSP/EXTRAM", .12), ("TRANSFER FROM SKILLED NUR", .01)),
    "discharge": (("HOME", .35), ("HOME HEALTH CARE", .25), ("SNF", .17), ("REHAB/DISTINCT PART HOSP", .11),
                  ("LONG TERM CARE HOSPITAL", .04), ("SHORT TERM HOSPITAL", .03), ("HOSPICE-HOME", .02),
                  ("LEFT AGAINST MEDICAL ADVI", .03)),
    "insurance": (("Medicare", .53), ("Private", .38), ("Medicaid", .07), ("Government", .015), ("Self Pay", .005)),
    "language": (("ENGL", .5), ("", .43), ("SPAN", .03), ("RUSS", .015), ("PTUN", .01), ("CANT", .015)),
    "religion": (("CATHOLIC", .35), ("NOT SPECIFIED", .2), ("UNOBTAINABLE", .14), ("PROTESTANT QUAKER", .13),
                 ("JEWISH", .09), ("OTHER", .04), ("EPISCOPALIAN", .02), ("", .03)),
    "marital": (("MARRIED", .42), ("SINGLE", .23), ("WIDOWED", .13), ("DIVORCED", .06), ("SEPARATED", .01),
                ("UNKNOWN (DEFAULT)", .01), ("", .14)),
    "ethnicity": (("WHITE", .7), ("BLACK/AFRICAN AMERICAN", .09), ("UNKNOWN/NOT SPECIFIED", .08),
                  ("HISPANIC OR LATINO", .03), ("ASIAN", .04), ("OTHER", .03), ("UNABLE TO OBTAIN", .03)),
}


def _choose(rng: np.random.Generator, name: str, n: int) -> list[str]:
    """``n`` values of an ADMISSIONS column drawn from ``ADMISSION_CHOICES[name]``."""
    vals, p = zip(*ADMISSION_CHOICES[name])
    p = np.array(p) / np.sum(p)
    return [vals[i] for i in rng.choice(len(vals), n, p=p).tolist()]


def admissions_csv(plan: Plan, w: World, diagnosis: list[str], rng: np.random.Generator) -> str:
    """ADMISSIONS rows: the plan's times and deaths, drawn administrative columns, the admitting diagnosis."""
    N = len(plan.hadm_id)
    newborn = plan.profile == w.newborn
    typ = _choose(rng, "type", N)
    loc = _choose(rng, "location", N)
    dis = _choose(rng, "discharge", N)
    ins, lang, rel, mar, eth = (_choose(rng, k, N)
                                for k in ("insurance", "language", "religion", "marital", "ethnicity"))
    chart = (rng.random(N) < 0.97).astype(int).tolist()
    ed_in = plan.admit - rng.integers(60, 600, N)
    ed_out = plan.admit - rng.integers(0, 60, N)
    admit, disch, ed_in, ed_out = datetimes(plan.admit), datetimes(plan.disch), datetimes(ed_in), datetimes(ed_out)
    subj = plan.subject_id[plan.patient].tolist()
    lines = []
    for j in range(N):
        if newborn[j]:
            typ[j], loc[j], ins[j], dis[j] = "NEWBORN", "PHYS REFERRAL/NORMAL DELI", "Private", "HOME"
            lang[j] = mar[j] = ""
        died = bool(plan.died[j])
        emergency = typ[j] == "EMERGENCY"
        if emergency:
            loc[j] = "EMERGENCY ROOM ADMIT"
        lines.append(
            f"{j + 1},{subj[j]},{plan.hadm_id[j]},{csv_datetime(admit[j])},{csv_datetime(disch[j])},"
            f"{csv_datetime(disch[j]) if died else ''},{quote(typ[j])},{quote(loc[j])},"
            f"{quote('DEAD/EXPIRED' if died else dis[j])},{quote(ins[j])},{quote_or_null(lang[j])},"
            f"{quote_or_null(rel[j])},{quote_or_null(mar[j])},{quote(eth[j])},"
            f"{csv_datetime(ed_in[j]) if emergency else ''},{csv_datetime(ed_out[j]) if emergency else ''},"
            f"{quote(diagnosis[j])},{int(died)},{chart[j]}\n")
    return "".join(lines)


def patients_csv(plan: Plan) -> str:
    """PATIENTS rows."""
    dob, dod = datetimes(plan.dob), datetimes(plan.dod)
    dod_h, dod_s = datetimes(plan.dod_hosp), datetimes(plan.dod_ssn)
    return "".join(
        f"{j + 1},{s},{quote(g)},{csv_datetime(dob[j])},{csv_datetime(dod[j])},{csv_datetime(dod_h[j])},"
        f"{csv_datetime(dod_s[j])},{int(dod[j] is not None)}\n"
        for j, (s, g) in enumerate(zip(plan.subject_id.tolist(), plan.gender.tolist())))


def d_icd_csv(cat: Catalogue) -> str:
    """D_ICD_DIAGNOSES / D_ICD_PROCEDURES rows: the whole CMS v32 catalogue of the kind."""
    rows = zip(cat.codes, cat.short, cat.long)
    return "".join(f"{j + 1},{quote(c)},{quote(s)},{quote(t)}\n" for j, (c, s, t) in enumerate(rows))
