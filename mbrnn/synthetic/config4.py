"""Configuration of the MIMIC-IV format (``generate(..., format="mimic4")``): sizes, ICD-10 code laws, shares.

The MIMIC-IV cohort reuses the MIMIC-III generative model (``config.SyntheticConfig``): the same latent profiles,
complexity, tail law and text model, a few of their knobs set anew. What differs is said here, once: MIMIC-IV's
proportions (more admissions per patient, more admissions without a discharge summary, no neonates), the share of
admissions coded in ICD-9 (before the October 2015 switch), the ICD-10 code laws -- profiles matched on the HCUP
CCSR category of an ICD-10-CM code (so codes of one category co-occur) and on ICD-10-PCS prefixes (section and
body system), with the common MIMIC-IV ICD-10 codes as head codes -- and the calibration to the MIMIC-III demo
(head shares, ICD-10-CM tail draws, mentions of a common code).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from .config import PROFILES, CodeConfig, CohortConfig, Profile, Scale, SyntheticConfig, TextConfig, resolve_scale

# MIMIC-IV v2.2: 431,231 hospital admissions of 180,733 patients; 331,793 discharge summaries.
MIMIC4_ADMISSIONS, MIMIC4_PATIENTS, MIMIC4_SUMMARIES = 431_231, 180_733, 331_793
# demo: ~1,650 admissions, so that the ICD-10-coded admissions with a discharge summary (~0.7 x 0.77) are about
# the MIMIC-III demo's ~890: the study's budget stays that of the MIMIC-III demo
SCALES4 = {
    "demo": Scale(1_650, round(1_650 * MIMIC4_PATIENTS / MIMIC4_ADMISSIONS), 0.0),
    "full": Scale(MIMIC4_ADMISSIONS, MIMIC4_PATIENTS, 0.0),
}


def resolve_scale4(scale: str | int | Scale) -> Scale:
    """``demo``, ``full``, or a number of admissions (MIMIC-IV's patients per admission); no other notes."""
    if isinstance(scale, Scale):
        return scale
    if isinstance(scale, str) and scale in SCALES4:
        return SCALES4[scale]
    n = resolve_scale(scale).n_admissions  # validates like the MIMIC-III scales
    return Scale(n, max(1, round(n * MIMIC4_PATIENTS / MIMIC4_ADMISSIONS)), 0.0)


# Profiles over ICD-10: diagnoses by CCSR category prefix (body system, or one category), procedures by
# ICD-10-PCS prefix. Same names, priors and services as the ICD-9 profiles (one plan serves both code sets);
# the newborn profile keeps only its reservation (perinatal codes), MIMIC-IV holding no neonates.
_PROFILES10 = {
    "cardiac": (("CIR", "END010"), ("02", "5A12", "B21", "B24", "4A02")),
    "sepsis": (("INF", "SYM017", "SYM003", "GEN004"), ("3E03", "302", "05H", "06H", "04H")),
    "respiratory": (("RSP",), ("0B", "5A19", "5A09", "0W99", "0W9B")),
    "renal_metabolic": (("GEN", "END"), ("0T", "5A1D", "3E0G")),
    "digestive": (("DIG", "BLD"), ("0D", "0F", "0W9G", "0DH")),
    "neuro": (("NVS", "MBD"), ("00", "B03", "B02", "4A00")),
    "trauma": (("INJ", "EXT"), ("0Q", "0S", "0P", "0R", "0H", "0J")),
    "oncology": (("NEO",), ("3E04", "D", "07B", "0UT")),
    "newborn": (("PNL",), ("3E02", "6A60", "0VT")),
}


def _profile10(p: Profile) -> Profile:
    dx, px = _PROFILES10[p.name]
    reserved = dx if p.exclusive else ()
    return dataclasses.replace(p, dx=dx, px=px, reserved_dx=reserved, reserved_px=(),
                               prior=0.0 if p.exclusive else p.prior)


def adult_codes(c: CodeConfig) -> CodeConfig:
    """The ICD-9 law without neonates: the exclusive (newborn) profile's prior 0, its reserved head codes gone."""
    nb = [p for p in c.profiles if p.exclusive]
    if not nb:
        return c
    dx_res, px_res = nb[0].reserved_dx or ("\0",), nb[0].reserved_px or ("\0",)
    return dataclasses.replace(
        c, profiles=tuple(dataclasses.replace(p, prior=0.0) if p.exclusive else p for p in c.profiles),
        dx_head=tuple(x for x in c.dx_head if not x[0].startswith(dx_res)),
        px_head=tuple(x for x in c.px_head if not x[0].startswith(px_res)))


PROFILES10 = tuple(_profile10(p) for p in PROFILES)

# Common ICD-10 codes of MIMIC-IV with their approximate share of ICD-10-coded admissions (rounded, from
# memory of published MIMIC-IV code frequencies; only the ordering and rough size matter). Codes valid in FY2024.
DX_HEAD10 = (
    ("E785", .325), ("I10", .299), ("Z87891", .221), ("K219", .182), ("I2510", .143), ("F329", .130),
    ("N179", .117), ("F419", .117), ("Z7901", .104), ("E039", .104), ("Z794", .091), ("Y929", .091),
    ("E119", .091), ("G4733", .078), ("D649", .078), ("I4891", .078), ("E1122", .065), ("Z66", .065),
    ("I129", .065), ("Z7902", .065), ("J449", .065), ("E871", .065), ("N390", .052), ("Z951", .052),
    ("J45909", .052), ("G8929", .052), ("Z86718", .052), ("E876", .052), ("F17210", .052), ("E669", .052),
    ("A419", .046), ("J9601", .039), ("I480", .039), ("D62", .039), ("I110", .039), ("N1830", .039),
    ("Z7952", .039), ("Z955", .039), ("I252", .039), ("K5900", .039), ("D696", .039), ("N400", .039),
    ("J189", .033), ("Y92239", .033), ("I130", .026), ("F1020", .026), ("E875", .026), ("G4700", .026),
    ("M109", .026), ("Z8673", .026), ("I214", .026), ("W19XXXA", .026), ("E8720", .026), ("D631", .026),
    ("F0390", .026), ("R6521", .019), ("I5032", .019), ("I5033", .019), ("R4182", .019), ("E1165", .019),
    ("M5450", .019), ("I959", .019), ("Z9181", .019), ("E559", .019), ("G9341", .016), ("I5022", .016),
    ("F05", .016), ("Z720", .016), ("G40909", .016), ("N186", .016), ("Z992", .016), ("K922", .016),
    ("J690", .013), ("N189", .013), ("I4821", .013), ("E43", .013), ("K7030", .013), ("R0902", .013),
    ("J9811", .013), ("I350", .013), ("E1142", .013), ("I2699", .010), ("R7881", .010), ("A0472", .010),
)
PX_HEAD10 = (
    ("02HV33Z", .120), ("30233N1", .105), ("0BH17EZ", .075), ("5A1945Z", .060), ("5A1935Z", .053),
    ("5A1955Z", .038), ("B246ZZZ", .045), ("4A023N7", .045), ("B2111ZZ", .042), ("02703DZ", .030),
    ("3E0436Z", .030), ("5A1D70Z", .030), ("0W9G3ZZ", .030), ("0DJ08ZZ", .027), ("0DB68ZX", .022),
    ("5A1221Z", .022), ("02100Z9", .018), ("021209W", .015), ("0BJ08ZZ", .018), ("0T9B70Z", .018),
    ("06HY33Z", .015), ("0DH63UZ", .015), ("3E0G76Z", .015), ("5A1D90Z", .015), ("30233R1", .015),
    ("B030ZZZ", .015), ("0W9930Z", .012), ("009U3ZZ", .012), ("5A09357", .012), ("0FT44ZZ", .009),
)
# Calibration to the MIMIC-III demo. With the shares above the ICD-10 top-50 task is sparser than the MIMIC-III
# demo's (4.1 top-50 codes per admission against 5.0; the 1st / 10th / 50th code in 33 / 11 / 4.0 % of admissions
# against 37-39 / 13-14 / 4.6-4.8 %) and harder (TF-IDF test micro-F1 0.477 against 0.552). Scaled by 1.25, the
# top-50 codes are as frequent as the MIMIC-III demo's (5.1 per admission; TF-IDF 0.522; benchmarks/README.md,
# calibrate_synthetic.py).
HEAD_SCALE10 = 1.25
# Calibration of what the study's models read: the top-300 labels and the first 400 tokens (train.max_tokens). With
# the MIMIC-III tail law and text, a MIMIC-IV admission held 13.3 ICD-10-CM codes (the MIMIC-III demo 11.5) and
# TF-IDF + LR on that view reached test micro-AUC 0.788 against 0.833 (calibrate_synthetic.py --top-k 300
# --max-tokens 400, seeds 0-2); every neural model sat on the prior plateau about twice as many epochs. Fewer tail
# draws (11.7 codes) and 1.5 x the mentions of a common code bring it to 0.816 (benchmarks/README.md).
DX_TAIL_MEAN10 = 6.0
EXTRA_MENTIONS4 = 4.5


def _scaled(head: tuple[tuple[str, float], ...], k: float) -> tuple[tuple[str, float], ...]:
    return tuple((code, share * k) for code, share in head)


@dataclass(frozen=True)
class Mimic4Config:
    """The MIMIC-IV format: the base model's sections with MIMIC-IV's proportions, and the ICD-10 code laws.

    ``p_icd9``: share of admissions coded in ICD-9 (a patient's earliest admissions). MIMIC-IV has ~55 % of its
    admissions ICD-9 coded; the demo takes 30 % so that its ICD-10 cohort is the MIMIC-III demo's size without
    generating twice the notes, while the ICD-9 part (~400 demo admissions) still exercises version filtering.
    """

    base: SyntheticConfig = field(default_factory=lambda: SyntheticConfig(
        codes=adult_codes(CodeConfig()),
        cohort=CohortConfig(p_no_discharge_summary=1 - MIMIC4_SUMMARIES / MIMIC4_ADMISSIONS, p_addendum=0.03),
        text=TextConfig(extra_mentions=EXTRA_MENTIONS4)))
    # CCSR categories are narrower than the ICD-9 prefix families: a profile's tail codes get a larger boost
    icd10: CodeConfig = field(default_factory=lambda: CodeConfig(dx_head=_scaled(DX_HEAD10, HEAD_SCALE10),
                                                                 px_head=_scaled(PX_HEAD10, HEAD_SCALE10),
                                                                 profiles=PROFILES10, tail_boost=30.0,
                                                                 dx_tail_mean=DX_TAIL_MEAN10))
    p_icd9: float = 0.30
    first_note_seq: int = 30  # note_seq of a patient's first note is drawn from 1..first_note_seq (as in MIMIC-IV,
                              # where the numbering counts notes outside the released set)
