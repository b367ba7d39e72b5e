"""Discharge summaries: MIMIC's sections and boilerplate, with noisy evidence of the admission's codes.

An assigned code is mentioned (or, sometimes, never) through words of its CMS titles, synonyms or
abbreviations, in the sections where coders find it; codes that are NOT assigned appear negated, in the
family history, as rule-outs or as uncoded history. Every random choice comes from one ``Dice`` in a fixed
order, so a summary depends only on the chunk's seed: section writers are called in the order of the text.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from .config import TextConfig
from .dice import Dice
from .lexicon import (ALLERGIES, CONDITIONS, DISPOSITIONS, DX_SECTIONS, MODERN, NEG_SECTIONS, NEGATIVE, PMH_FILL,
                      POSITIVE, PX_SECTIONS, SLOTS)
from .world import BANKS, Kind, World

SECTIONS = ("hpi", "pmh", "results", "course", "dxlist", "proc", "px_course", "family")  # where mentions go


@dataclass
class Admission:
    """What the text generators need to know about one admission."""

    hadm: int
    subject: int
    sex: str
    age: int
    profile: int
    newborn: bool
    admit: datetime
    disch: datetime
    dob: datetime
    died: bool
    dx: list[int]
    px: list[int]
    length: float
    service: str


def deid(t: datetime) -> str:
    """A date as MIMIC's de-identification writes it inside notes."""
    return f"[**{t.year}-{t.month}-{t.day}**]"


def fill(tpl: str, phrase: str, d: Dice, sex: str) -> str:
    """A mention template with the code's phrase ({p}, {P}) and its few other slots filled."""
    he = sex == "M"
    out = tpl.replace("{P}", phrase[:1].upper() + phrase[1:]).replace("{p}", phrase)
    if "{" in out:
        rel = d.pick(SLOTS["rel"])
        out = (out.replace("{HeShe}", "He" if he else "She").replace("{Rel}", rel.capitalize())
               .replace("{rel}", rel).replace("{n}", str(d.randint(2, 9)))
               .replace("{date}", f"{d.randint(2100, 2199)}-{d.randint(1, 12)}-{d.randint(1, 28)}"))
    return out


@dataclass
class _Pen:
    """What every section writer shares: the dice, the patient's sex, the sentence banks, the amount of filler."""

    d: Dice
    sex: str
    banks: dict[tuple[str, str], list[str]]
    filler: float  # TextConfig.filler
    length: float  # the admission's length factor

    def bank(self, name: str) -> list[str]:
        """The pre-rendered sentences of bank ``name`` for this patient's sex."""
        return self.banks[(name, self.sex)]

    def fill(self, tpl: str, phrase: str) -> str:
        """``fill`` with this pen's dice and sex."""
        return fill(tpl, phrase, self.d, self.sex)

    def n_fill(self, base: int) -> int:
        """How many boilerplate sentences: ``base`` scaled by filler, the summary's length and chance."""
        return max(0, int(round(self.filler * base * self.length * (0.5 + self.d.random()))))

    def pick_n(self, name: str, k: int) -> list[str]:
        """``k`` sentences drawn from bank ``name`` (with replacement)."""
        return [self.d.pick(self.bank(name)) for _ in range(k)]


def _distractor(kind: Kind, profile: int, assigned: set[int], d: Dice, p_head: float) -> int | None:
    """A plausible code for this profile that is NOT assigned (for negated / family / rule-out mentions)."""
    for _ in range(4):
        if d.random() < p_head:
            cdf = kind.head_cdf[profile]
            i = int(kind.head[min(bisect.bisect_right(cdf, d.random() * cdf[-1]), len(cdf) - 1)])
        else:
            j = int(np.searchsorted(kind.tail_cdf[1 + profile], d.random(), side="right"))
            i = int(kind.tail[min(j, len(kind.tail) - 1)])
        if i not in assigned:
            return i
    return None


def _assigned_mentions(a: Admission, w: World, pen: _Pen, t: TextConfig) -> tuple[str, dict[str, list[str]]]:
    """The principal diagnosis's phrase, and mentions of the assigned codes by section (some codes stay silent)."""
    d = pen.d
    S = {k: [] for k in SECTIONS}
    primary = w.phrase("dx", a.dx[0], d, t.p_synonym) if a.dx else "observation"
    S["dxlist"].append(primary)
    head_dx, head_px = w.dx.is_head, w.px.is_head
    for r, i in enumerate(a.dx):
        if r > 0 and d.random() < (t.p_silent_dx if head_dx[i] else t.p_silent_tail):
            continue
        for _ in range(d.poisson(t.extra_mentions if head_dx[i] else t.extra_mentions_tail) + (r > 0)):
            sec = d.pick(DX_SECTIONS)
            p = w.phrase("dx", i, d, t.p_synonym)
            S[sec].append(pen.fill(d.pick(POSITIVE[sec]), p) if sec in ("hpi", "results") else p)
    for i in a.px:
        if d.random() < (t.p_silent_px if head_px[i] else t.p_silent_tail):
            continue
        for _ in range(1 + d.poisson(t.extra_mentions if head_px[i] else t.extra_mentions_tail)):
            sec = d.pick(PX_SECTIONS)
            p = w.phrase("px", i, d, t.p_synonym)
            S[sec].append(p if sec == "proc" else pen.fill(d.pick(POSITIVE[sec]), p))
    return primary, S


def _unassigned_mentions(a: Admission, w: World, pen: _Pen, t: TextConfig, S: dict[str, list[str]]) -> None:
    """Add mentions of codes that are NOT assigned to ``S``: negated, family history, rule-outs, uncoded history."""
    d = pen.d
    assigned_dx, assigned_px = set(a.dx), set(a.px)
    for what, lam in (("negated", t.negated), ("family", t.family), ("rule_out", t.rule_out), ("uncoded", t.uncoded)):
        for _ in range(d.poisson(lam)):
            use_px = what == "negated" and d.random() < 0.2
            kind = w.px if use_px else w.dx
            i = _distractor(kind, a.profile, assigned_px if use_px else assigned_dx, d, t.p_head_distractor)
            if i is None:
                continue
            p = w.phrase("px" if use_px else "dx", i, d, t.p_synonym)
            if what == "uncoded":
                sec = "pmh" if d.random() < 0.7 else "hpi"
                S[sec].append(p if d.random() < 0.7 else pen.fill("History of {p}.", p))
            elif what == "family":
                S["family"].append(pen.fill(d.pick(NEGATIVE["family"]), p))
            else:
                tpl = d.pick(NEGATIVE["px" if use_px else what])
                sec = d.pick(NEG_SECTIONS) if what == "negated" else d.pick(("hpi", "course"))
                S["px_course" if sec == "course" else sec].append(pen.fill(tpl, p))  # course: a sentence of its own


def _present_illness(a: Admission, pen: _Pen, hpi: list[str], primary: str, summary_pmh: str) -> str:
    """History of Present Illness: an opening line, then boilerplate and mentions shuffled into two paragraphs."""
    d = pen.d
    if a.newborn:
        opening = [pen.bank("hpi_nb")[int(d.random() * BANKS["hpi_nb"][1])]]  # 1st template: weight, gestation
        fillers = pen.pick_n("hpi_nb", pen.n_fill(6))
    else:
        who = "man" if a.sex == "M" else "woman"
        age = f"{a.age} year old" if a.age < 90 else "[**Age over 90 **] year old"
        opening = [f"{age} {who} with {summary_pmh} who presents with {d.pick(SLOTS['symptom'])}."]
        fillers = pen.pick_n("hpi", pen.n_fill(8))
    body = [x if x.endswith(".") else pen.fill("History of {p}.", x) for x in hpi]
    items = d.shuffle(fillers + body + [pen.fill("Found to have {p}.", primary)])
    return " ".join(opening + items[: len(items) // 2]) + "\n\n" + " ".join(items[len(items) // 2:])


def _past_history(a: Admission, pen: _Pen, pmh: list[str], family: list[str]) -> tuple[str, str, str]:
    """Past Medical, Social and Family History."""
    d = pen.d
    items = [x[:-1] if x.endswith(".") else x for x in pmh]
    items += [d.pick(PMH_FILL) for _ in range(d.randint(0, 2))]
    past = "\n".join(("- " if d.random() < 0.6 else "") + x for x in d.shuffle(items)) or "None"
    social = " ".join(pen.pick_n("social", 2 + d.randint(0, 2))) if not a.newborn else "Lives with parents."
    family_text = " ".join(family) or d.pick(("Noncontributory.", "Non-contributory", "No family history of "
                                              "premature CAD or sudden cardiac death.", "NC"))
    return past, social, family_text


def _physical_exam(a: Admission, pen: _Pen) -> str:
    """Physical Exam on admission, and half the time on discharge too."""
    bank = "exam_nb" if a.newborn else "exam"
    exam = pen.d.pick(pen.bank(bank))
    if pen.d.random() < 0.5:
        exam += "\n\nDischarge exam:\n" + pen.d.pick(pen.bank(bank))
    return exam


def _pertinent_results(a: Admission, pen: _Pen, results: list[str]) -> str:
    """Pertinent Results: timed lab lines in order, then imaging reports and result mentions, shuffled."""
    d = pen.d
    stay = max(0, (a.disch - a.admit).days)

    def when() -> datetime:
        return a.admit + timedelta(days=d.randint(0, stay), minutes=d.randint(0, 1439))

    labs = [f"{deid(tm)} {tm.hour:02d}:{tm.minute:02d}{'AM' if tm.hour < 12 else 'PM'}   {x}"
            for tm, x in sorted((when(), d.pick(pen.bank("labs"))) for _ in range(pen.n_fill(14)))]
    imaging = d.shuffle([x.replace("@DATE@", deid(when())) for x in pen.pick_n("imaging", 1 + d.poisson(2 * a.length))]
                        + results)
    return "\n".join(labs) + ("\n\n" if labs else "") + "\n".join(imaging)


def _hospital_course(a: Admission, pen: _Pen, course: list[str], px_course: list[str], primary: str,
                     summary_pmh: str) -> str:
    """Brief Hospital Course: an opening line, then one paragraph per problem and procedure, plus boilerplate."""
    d = pen.d
    opening = (f"{a.age} yo {a.sex} with {summary_pmh} admitted with {primary}."
               if not a.newborn else f"Infant admitted to the NICU with {primary}.")
    bank = "course_nb" if a.newborn else "course"
    paras = [pen.fill(d.pick(POSITIVE["course"]), x) + " ".join(pen.pick_n(bank, 1 + d.randint(0, 3)))
             for x in [primary] + course]
    paras += px_course + [" ".join(pen.pick_n(bank, 1 + d.randint(0, 3))) for _ in range(pen.n_fill(5))]
    return opening + "\n\n" + paras[0] + ("\n\n" + "\n\n".join(d.shuffle(paras[1:])) if len(paras) > 1 else "")


def _medications(a: Admission, pen: _Pen) -> tuple[str, str]:
    """Medications on Admission and Discharge Medications, numbered."""
    if a.newborn:
        return "None.", pen.d.pick(("None.", "Ferrous sulfate 0.2 ml PO daily.", "Poly-vi-sol 1 ml PO daily."))
    pre_meds = "\n".join(f"{j + 1}. {x}" for j, x in enumerate(pen.pick_n("pre_meds", pen.n_fill(8)))) or "None."
    meds = "\n".join(f"{j + 1}. {x}" for j, x in enumerate(pen.pick_n("meds", 1 + pen.n_fill(12))))
    return pre_meds, meds


def _disposition(a: Admission, d: Dice) -> str:
    """Discharge Disposition (with the facility for extended care)."""
    dispo = "Expired" if a.died else d.pick(DISPOSITIONS)
    if dispo == "Extended Care":
        dispo += f"\n\nFacility:\n{d.pick(SLOTS['hospital']).format(n=d.randint(1, 999))}"
    return dispo


def _followup(a: Admission, d: Dice) -> str:
    """Followup Instructions: one to three appointments after discharge."""
    return "\n".join(
        f"Provider: {d.pick(SLOTS['name']).format(n=d.randint(1, 9999))}, MD Phone:[**Telephone/Fax (1) "
        f"{d.randint(1, 9999)}**] Date/Time:{deid(a.disch + timedelta(days=d.randint(5, 40)))} {d.randint(8, 16)}:00"
        for _ in range(1 + d.randint(0, 2)))


def _layout(a: Admission, bodies: dict[str, str], d: Dice, p_legacy_style: float) -> str:
    """The header, the sections in MIMIC's order (modern titles or the older uppercase inline style), a signature."""
    dob = deid(a.dob) if a.age < 90 else ""
    out = [f"Admission Date:  {deid(a.admit)}              Discharge Date:   {deid(a.disch)}\n\n"
           f"Date of Birth:  {dob}             Sex:   {a.sex}\n\nService: {a.service}\n\n"]
    legacy = d.random() < p_legacy_style
    for title in MODERN:
        if legacy:
            out.append(f"{title.upper()}:  {bodies[title]}\n\n")
        elif title == "Attending":
            out.append(f"Attending:{bodies[title]}\n")
        else:
            out.append(f"{title}:\n{bodies[title]}\n\n")
    n = d.randint(1, 9999)
    out.append(f"                             [**First Name11 (Name Pattern1) {n}**] [**Last Name (NamePattern4) "
               f"{n + 7}**] MD [**MD Number(1) {n + 11}**]\n\nCompleted by:{deid(a.disch)}")
    return "".join(out)


def discharge_summary(a: Admission, w: World, d: Dice, t: TextConfig) -> str:
    """One MIMIC-III-style discharge summary with noisy evidence of ``a.dx`` and ``a.px``."""
    return _layout(a, section_bodies(a, w, d, t), d, t.p_legacy_style)


def section_bodies(a: Admission, w: World, d: Dice, t: TextConfig) -> dict[str, str]:
    """The text of every section (``lexicon.MODERN`` titles), in MIMIC-III's placeholder style.

    Sections draw from ``d`` in a fixed order (the body first, the short head fields -- allergies, attending,
    chief complaint, procedures -- last); calling the writers in another order would change every summary.
    """
    pen = _Pen(d, a.sex, w.banks, t.filler, a.length)
    primary, S = _assigned_mentions(a, w, pen, t)
    _unassigned_mentions(a, w, pen, t, S)
    summary_pmh = ", ".join([x for x in S["pmh"] if not x.endswith(".")][:3]) or "no significant past medical history"
    hpi = _present_illness(a, pen, S["hpi"], primary, summary_pmh)
    pmh, social, family = _past_history(a, pen, S["pmh"], S["family"])
    exam = _physical_exam(a, pen)
    results = _pertinent_results(a, pen, S["results"])
    course = _hospital_course(a, pen, S["course"], S["px_course"], primary, summary_pmh)
    pre_meds, meds = _medications(a, pen)
    dispo = _disposition(a, d)
    secondary = d.shuffle(S["dxlist"][1:])
    diagnoses = f"Primary:\n{primary}" + ("\n\nSecondary:\n" + "\n".join(secondary) if secondary else "")
    condition = "Expired" if a.died else d.pick(CONDITIONS)
    instructions = " ".join(pen.pick_n("instructions", 3 + pen.n_fill(7)))
    followup = _followup(a, d)
    return {
        "Allergies": d.pick(ALLERGIES), "Attending": f"[**First Name3 (LF) {d.randint(1, 9999)}**]",
        "Chief Complaint": primary if d.random() < 0.4 else d.pick(SLOTS["symptom"]),
        "Major Surgical or Invasive Procedure":
            "\n".join(pen.fill(d.pick(POSITIVE["proc"]), x) for x in S["proc"]) or "None",
        "History of Present Illness": hpi, "Past Medical History": pmh, "Social History": social,
        "Family History": family, "Physical Exam": exam, "Pertinent Results": results, "Brief Hospital Course": course,
        "Medications on Admission": pre_meds, "Discharge Medications": meds, "Discharge Disposition": dispo,
        "Discharge Diagnosis": diagnoses, "Discharge Condition": condition, "Discharge Instructions": instructions,
        "Followup Instructions": followup,
    }


def short_report(a: Admission, w: World, d: Dice, t: TextConfig, title: str) -> str:
    """An addendum or a second report: short, sometimes with one more mention of an assigned code."""
    sex = a.sex
    lines = [d.pick(w.banks[("course_nb" if a.newborn else "course", sex)]) for _ in range(2 + d.randint(0, 5))]
    if a.dx and d.random() < 0.5:
        lines.insert(d.randint(0, len(lines)), fill(d.pick(POSITIVE["hpi"]), w.phrase("dx", d.pick(a.dx), d,
                                                                                       t.p_synonym), d, sex))
    return (f"Admission Date:  {deid(a.admit)}       Discharge Date:  {deid(a.disch)}\n\nService: {a.service}\n\n"
            f"{title}:\n\n" + " ".join(lines) +
            f"\n\n\n                        [**First Name11 (Name Pattern1) {d.randint(1, 999)}**] "
            f"[**Last Name (NamePattern4) {d.randint(1, 999)}**], M.D.  [**MD Number(1) {d.randint(1, 999)}**]\n\n"
            f"Dictated By:{d.pick(SLOTS['name']).format(n=d.randint(1, 9999))}")
