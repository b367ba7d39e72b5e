"""MIMIC-IV-style discharge summaries and addenda: the MIMIC-III model's sections in MIMIC-IV's layout.

The sections' text comes from ``summary.section_bodies`` (the same evidence model and draws); what changes is
the layout -- MIMIC-IV's header (``Name:  ___  Unit No:   ___``), no legacy uppercase style, lines ending in a
space, the preadmission medication line, a salutation in the instructions, ``Followup Instructions:`` left
de-identified -- and the de-identification: every ``[** ... **]`` placeholder becomes ``___``.
"""

from __future__ import annotations

import re

from .config import TextConfig
from .dice import Dice
from .lexicon import MODERN
from .lexicon4 import HEADER, PLACEHOLDER, PREADMISSION, SALUTATION
from .summary import Admission, section_bodies, short_report
from .world import World

_MIMIC3_PLACEHOLDER = re.compile(r"\[\*\*.*?\*\*\]")
_LINE_END = re.compile(r" *\n")


def deidentify(text: str) -> str:
    """MIMIC-IV's de-identification style: placeholders are ``___``, every line ends in one space."""
    return _LINE_END.sub(" \n", _MIMIC3_PLACEHOLDER.sub(PLACEHOLDER, text))


def _section(title: str, body: str, a: Admission) -> str:
    """One section of the MIMIC-IV layout."""
    if title == "Allergies":
        return f"Allergies: \n{body}\n \n"
    if title == "Attending":
        return f"Attending: {PLACEHOLDER}.\n \n"
    if title == "Medications on Admission" and body != "None.":
        return f"{title}:\n{PREADMISSION}{body}\n \n"
    if title == "Discharge Instructions":
        return f"{title}:\n{SALUTATION[a.sex]}\n\n{body}\n \n"
    if title == "Followup Instructions":
        return f"{title}:\n{PLACEHOLDER}\n"
    return f"{title}:\n{body}\n \n"


def discharge_summary4(a: Admission, w: World, d: Dice, t: TextConfig) -> str:
    """One MIMIC-IV discharge summary (note_type DS) with noisy evidence of ``a.dx`` and ``a.px``."""
    bodies = section_bodies(a, w, d, t)
    text = HEADER.format(sex=a.sex, service=a.service) + "".join(_section(x, bodies[x], a) for x in MODERN)
    return deidentify(text)


def addendum4(a: Admission, w: World, d: Dice, t: TextConfig) -> str:
    """A discharge summary addendum (note_type AD): short, sometimes one more mention of an assigned code."""
    name_line = HEADER.split("Admission Date")[0]
    return deidentify(name_line + short_report(a, w, d, t, "Addendum"))
