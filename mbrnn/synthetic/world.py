"""The fixed part of the generative model, drawn once per seed: the code laws and the sentence banks.

Per kind of code (``dx`` diagnoses, ``px`` procedures), ``build_world`` sets each head code's inclusion
probability per profile and a seeded ranking of the tail codes under a Zipf-Mandelbrot law mixed per profile;
it also renders every template of the lexicon a few times with fresh slot values, so that notes are assembled
from pre-rendered sentences. Everything here depends only on the seed and the configuration.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from mbrnn import codes

from .config import CodeConfig, Profile, SyntheticConfig
from .dice import Dice
from .lexicon import (COURSE, COURSE_NB, EXAM, EXAM_NB, HPI, HPI_NB, IMAGING, INSTRUCTIONS, LABS, MEDS, OTHER_NOTES,
                      PRE_MEDS, SLOTS, SOCIAL, SYNONYMS)

# --- ICD-9-CM catalogue (CMS v32) ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Catalogue:
    """All CMS v32 codes of one kind (``dx`` diagnoses, ``px`` procedures), undotted, in CMS order."""

    kind: str
    codes: tuple[str, ...]
    short: tuple[str, ...]
    long: tuple[str, ...]
    source: str = "CMS v32"  # which code set, for messages


@lru_cache(maxsize=None)
def load_icd9(kind: str) -> Catalogue:
    """CMS v32 ICD-9-CM codes with short and long titles; ``kind`` is ``dx`` or ``px``.

    Read with ``codes.cms_descriptions``, the cohort's reader of the same files, so generator and cohort agree.
    """
    if kind not in (codes.DX, codes.PX):
        raise ValueError(f"unknown code kind {kind!r}: use {codes.DX!r} or {codes.PX!r}")
    long, short = codes.cms_descriptions(kind, long=True), codes.cms_descriptions(kind, long=False)
    order = tuple(long)
    return Catalogue(kind, order, tuple(short[c] for c in order), tuple(long[c] for c in order))


# --- the code laws -------------------------------------------------------------------------------------------


@dataclass
class Kind:
    """The sampling law of one kind of code (diagnoses or procedures)."""

    cat: Catalogue
    head: np.ndarray  # (H,) catalogue indices of the head codes
    head_p: np.ndarray  # (K, H) inclusion probability per profile
    head_cdf: list[list[float]]  # per profile, cumulative head_p (distractor draws)
    tail: np.ndarray  # (T,) catalogue indices, by rank
    tail_pmf: np.ndarray  # (1 + K, T) row 0 the base law, row 1 + k profile k's law
    tail_cdf: np.ndarray
    tail_mean: float
    unknown: tuple[str, ...]  # retired header codes: absent from CMS v32 and D_ICD_*
    is_head: np.ndarray  # (n_codes,) bool over the catalogue


@dataclass
class World:
    """Everything fixed by the seed: both code laws, the profiles and their prior, the sentence banks."""

    dx: Kind
    px: Kind
    profiles: tuple[Profile, ...]
    prior: np.ndarray  # (K,)
    newborn: int | None  # index of the exclusive (newborn) profile
    banks: dict[tuple[str, str], list[str]]
    forms: dict[tuple[str, int], tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)
    synonyms: dict[str, tuple[str, ...]] = field(default_factory=lambda: SYNONYMS)  # code -> synonyms

    def kind(self, name: str) -> Kind:
        """The law of ``dx`` or ``px``."""
        return self.dx if name == "dx" else self.px

    def phrase(self, kind: str, i: int, d: Dice, p_synonym: float) -> str:
        """One surface form of code ``i``: a synonym/abbreviation or words of its CMS titles."""
        key = (kind, i)
        if key not in self.forms:
            k = self.kind(kind)
            self.forms[key] = _forms(k.cat, i, bool(k.is_head[i]), self.synonyms)
        syn, desc = self.forms[key]
        return d.pick(syn) if syn and d.random() < p_synonym else d.pick(desc)


_QUALIFIERS = re.compile(r",? (?:unspecified|not elsewhere classified|nos|site not specified|not stated as "
                         r"uncontrolled|without mention of complication)\b|[\[\]]")


def _forms(cat: Catalogue, i: int, head: bool,
           synonyms: dict[str, tuple[str, ...]]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(synonyms, description forms) of code ``i``: its titles with and without qualifiers."""
    long, short = cat.long[i].lower(), cat.short[i].lower()
    core = re.sub(r"\s+", " ", _QUALIFIERS.sub("", long)).strip(" ,") or long
    first = core.split(", ")[0]
    # repeats are weights; rare codes are written tersely (no full CMS title)
    desc = (long, core, core, first, first, short) if head else (core, first, first, short, short)
    return synonyms.get(cat.codes[i], ()), desc


def _startswith(names: list[str], prefixes: tuple[str, ...]) -> np.ndarray:
    """Which undotted codes fall under any of ``prefixes`` (a profile's or the reserved ones)."""
    return np.array([c.startswith(prefixes) for c in names], dtype=bool)


def _header_codes(cat: Catalogue, children_of: list[str]) -> tuple[str, ...]:
    """Retired 'header' codes (a code minus its last digit, absent from CMS v32), like those MIMIC-III holds."""
    known = set(cat.codes)
    min_len = 4 if cat.kind == "dx" else 3
    return tuple(sorted({c[:-1] for c in children_of if len(c) > min_len and c[:-1] not in known}))


def _head_law(hcodes: list[str], prev: np.ndarray, cfg: CodeConfig, prior: np.ndarray, prefixes: list[tuple],
              reserved_any: tuple[str, ...]) -> np.ndarray:
    """(K, H) Bernoulli probabilities of the head codes: boosted inside their profile, marginal ~ ``prev``."""
    m = np.ones((len(cfg.profiles), len(hcodes)))
    is_reserved = _startswith(hcodes, reserved_any)
    for k, prof in enumerate(cfg.profiles):
        match = _startswith(hcodes, prefixes[k])
        other = 0.0 if prof.exclusive else 1.0
        m[k] = np.where(match, cfg.head_boost, np.where(is_reserved, 0.0, other))
    norm = prior @ m
    if (norm == 0).any():
        raise ValueError(f"CodeConfig: head codes {[hcodes[j] for j in np.flatnonzero(norm == 0)]} fit no profile")
    return np.minimum(prev * m / norm, cfg.max_head_p)


def _tail_law(tcodes: list[str], s: float, q: float, cfg: CodeConfig, prefixes: list[tuple],
              reserved: list[tuple]) -> np.ndarray:
    """(1 + K, T) tail probabilities: row 0 the Zipf-Mandelbrot law (rank + q)^-s, row 1 + k profile k's."""
    reserved_any = tuple(r for rs in reserved for r in rs)
    w = (np.arange(1, len(tcodes) + 1) + q) ** -s
    t_reserved = _startswith(tcodes, reserved_any)
    rows = [w * ~t_reserved]
    for k, prof in enumerate(cfg.profiles):
        match = _startswith(tcodes, prefixes[k]) & (~t_reserved | _startswith(tcodes, reserved[k]))
        if prof.exclusive:  # only its own codes
            rows.append(w * match if match.any() else rows[0])
        else:  # its codes boosted, reserved codes of other profiles excluded
            rows.append(w * np.where(match, cfg.tail_boost, np.where(t_reserved, 0.0, 1.0)))
    pmf = np.array(rows)
    pmf /= pmf.sum(axis=1, keepdims=True)
    return pmf


def build_kind(cat: Catalogue, names: tuple[str, ...], name: str, cfg: CodeConfig, prior: np.ndarray,
               rng: np.random.Generator, eligible: np.ndarray | None = None) -> Kind:
    """The law of one kind: head codes by Bernoulli per profile, the other codes ranked by ``rng`` into a tail.

    ``names`` are what the profiles' prefixes match (the codes themselves for ICD-9; for ICD-10-CM their CCSR
    category); ``eligible`` (default: every code) limits which non-head codes the tail may draw.
    """
    dx = name == "dx"
    head_list = cfg.dx_head if dx else cfg.px_head
    index = {c: i for i, c in enumerate(cat.codes)}
    bad = [c for c, _ in head_list if c not in index]
    if bad:
        raise ValueError(f"CodeConfig.{name}_head: {bad} are not {cat.source} {name} codes; use undotted codes "
                         "as listed in the catalogue (mbrnn.codes.cms_descriptions for ICD-9)")
    head = np.array([index[c] for c, _ in head_list])
    prev = np.array([p for _, p in head_list])
    if not dx:
        prev = prev / (1 - cfg.p_no_procedures)
    prefixes = [p.dx if dx else p.px for p in cfg.profiles]
    reserved = [p.reserved_dx if dx else p.reserved_px for p in cfg.profiles]
    reserved_any = tuple(r for rs in reserved for r in rs)
    head_p = _head_law([names[i] for i in head], prev, cfg, prior, prefixes, reserved_any)
    is_head = np.zeros(len(cat.codes), bool)
    is_head[head] = True
    tail = rng.permutation(np.flatnonzero(~is_head if eligible is None else ~is_head & eligible))
    s, q = (cfg.dx_tail_exponent, cfg.dx_tail_offset) if dx else (cfg.px_tail_exponent, cfg.px_tail_offset)
    pmf = _tail_law([names[i] for i in tail], s, q, cfg, prefixes, reserved)
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = 1.0
    return Kind(cat, head, head_p, [np.cumsum(row).tolist() for row in head_p], tail, pmf, cdf,
                cfg.dx_tail_mean if dx else cfg.px_tail_mean, (), is_head)


def _build_kind(name: str, cfg: CodeConfig, prior: np.ndarray, rng: np.random.Generator) -> Kind:
    """The ICD-9-CM law of one kind, with MIMIC-III's retired header codes as the unknown codes."""
    cat = load_icd9(name)
    kind = build_kind(cat, cat.codes, name, cfg, prior, rng)
    kind.unknown = _header_codes(cat, [c for c, _ in (cfg.dx_head if name == "dx" else cfg.px_head)])
    return kind


# --- the sentence banks --------------------------------------------------------------------------------------

def _slot_values(rng: np.random.Generator, sex: str) -> dict[str, str]:
    """Values of every template slot, drawn once per rendered sentence."""
    pick = lambda seq: seq[int(rng.integers(len(seq)))]  # noqa: E731
    he = sex == "M"
    v = {k: pick(vals) for k, vals in SLOTS.items()}
    n = int(rng.integers(1, 10))
    for k in ("name", "hospital", "place", "phone"):
        v[k] = v[k].format(n=int(rng.integers(1, 9999)))
    v.update(
        heshe="he" if he else "she", HeShe="He" if he else "She", hisher="his" if he else "her",
        himher="him" if he else "her", boygirl="boy" if he else "girl", n=str(n), Drug=v["drug"].capitalize(),
        Rel=v["rel"].capitalize(), symptom2=pick(SLOTS["symptom"]),
        temp=f"{rng.normal(37.2, 0.7):.1f}", hr=str(int(rng.integers(55, 125))), sbp=str(int(rng.integers(85, 175))),
        dbp=str(int(rng.integers(45, 95))), rr=str(int(rng.integers(12, 30))), o2=str(int(rng.integers(86, 101))),
        dose=pick(("5", "10", "20", "25", "40", "80", "250", "500", "1000")), wbc=f"{rng.uniform(3, 22):.1f}",
        rbc=f"{rng.uniform(2.8, 5):.2f}", hgb=f"{rng.uniform(7, 15):.1f}", hct=f"{rng.uniform(21, 45):.1f}",
        plt=str(int(rng.integers(40, 450))), glu=str(int(rng.integers(70, 320))), bun=str(int(rng.integers(8, 90))),
        cr=f"{rng.uniform(0.5, 5):.1f}", na=str(int(rng.integers(126, 148))), k=f"{rng.uniform(3.1, 5.8):.1f}",
        hco3=str(int(rng.integers(14, 32))), lac=f"{rng.uniform(0.7, 6):.1f}", bili=f"{rng.uniform(6, 16):.1f}",
        grams=str(int(rng.integers(1400, 4300))), ga=str(int(rng.integers(30, 41))), age2=str(int(rng.integers(19, 42))),
        date=f"{int(rng.integers(2100, 2200))}-{int(rng.integers(1, 13))}-{int(rng.integers(1, 29))}",
        time=f"{int(rng.integers(1, 13)):02d}:{int(rng.integers(0, 60)):02d}{pick(('AM', 'PM'))}",
        cxr=pick(("no acute cardiopulmonary process", "mild pulmonary vascular congestion",
                  f"{v['lobe']} opacity", "stable cardiomegaly", "small bilateral pleural effusions",
                  "lines and tubes in appropriate position")),
        lvf=pick(("normal", "mildly depressed", "moderately depressed", "severely depressed", "hyperdynamic")),
        state=pick(("hemodynamically stable", "somnolent but arousable", "tachycardic and hypotensive",
                    "in mild respiratory distress")),
        dispo=pick(("discharge home with services", "acute rehab", "home with PT")),
        gen=pick(("NAD, comfortable", "elderly, ill-appearing", "alert, in mild distress", "intubated, sedated")),
        jvp=pick(("not elevated", "8 cm", "elevated to the angle of the jaw")),
        cv=pick(("RRR, normal S1 S2, no m/r/g", "irregularly irregular, II/VI SEM at RUSB", "tachycardic, no murmurs")),
        lungs=pick(("CTAB", "crackles at bases bilaterally", "diffuse expiratory wheezes", "decreased BS at bases")),
        ext=pick(("WWP, no c/c/e", "2+ pitting edema bilaterally", "trace edema, DP pulses 1+")),
        gbs=pick(("negative", "positive", "unknown")), pregnancy=pick(("preterm labor", "pregnancy induced hypertension",
                                                                     "gestational diabetes", "twin gestation")),
        nicu_reason=pick(("prematurity", "respiratory distress", "sepsis evaluation", "hypoglycemia")),
        indication=pick(("eval for pneumonia", "shortness of breath", "line placement", "fever", "s/p fall",
                         "assess LV function", "altered mental status")),
        diet=pick(("regular diet", "cardiac diet", "clear liquids", "NPO", "tube feeds")),
        lab=pick(("CBC", "chem 7", "LFTs", "coags", "lactate")),
        freq=pick(("DAILY (Daily)", "BID (2 times a day)", "TID (3 times a day)", "Q6H (every 6 hours) as needed "
                   "for pain", "QHS (once a day (at bedtime))", "Q8H (every 8 hours)")),
        count=pick(("One (1)", "Two (2)", "Half (0.5)")),
    )
    return v


def _render(templates: tuple[str, ...], copies: int, rng: np.random.Generator, sex: str) -> list[str]:
    """``copies`` renderings of each template with fresh slot values (a pre-rendered bank)."""
    fmt = string.Formatter()
    out = []
    for tpl in templates:
        names = [f for _, f, _, _ in fmt.parse(tpl) if f]
        for _ in range(copies):
            v = _slot_values(rng, sex)
            out.append(tpl.format(**{k: v[k] for k in names}))
    return out


# bank name -> (templates, renderings of each template per sex)
BANKS = {"hpi": (HPI, 6), "course": (COURSE, 8), "hpi_nb": (HPI_NB, 8), "course_nb": (COURSE_NB, 8),
         "labs": (LABS, 12), "imaging": (IMAGING, 6), "social": (SOCIAL, 4), "instructions": (INSTRUCTIONS, 4),
         "exam": ((EXAM,), 20), "exam_nb": ((EXAM_NB,), 20), "meds": (MEDS, 40), "pre_meds": (PRE_MEDS, 30)}


def build_world(seed: int, config: SyntheticConfig | None = None, text: bool = True) -> World:
    """Code distributions and (if ``text``) pre-rendered sentence banks; depends only on the seed and config."""
    cfg = config or SyntheticConfig()
    profiles = cfg.codes.profiles
    prior = np.array([p.prior for p in profiles], dtype=float)
    prior /= prior.sum()
    excl = [k for k, p in enumerate(profiles) if p.exclusive]
    if len(excl) > 1 or len(excl) == len(profiles):
        raise ValueError("CodeConfig.profiles: at most one exclusive (newborn) profile, and at least one other")
    dx = _build_kind("dx", cfg.codes, prior, np.random.default_rng([seed, 0, 0]))
    px = _build_kind("px", cfg.codes, prior, np.random.default_rng([seed, 0, 1]))
    rng = np.random.default_rng([seed, 0, 2])
    banks = {}
    for name, (templates, copies) in BANKS.items() if text else ():
        for sex in ("M", "F"):
            banks[(name, sex)] = _render(templates, copies, rng, sex)
    for cat, (_, templates, _) in OTHER_NOTES.items() if text else ():
        banks[(cat, "")] = _render(templates, 6, rng, "F")
    return World(dx, px, profiles, prior, excl[0] if excl else None, banks)
