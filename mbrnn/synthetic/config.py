"""Configuration of the synthetic cohort: its size and every knob of the generative model, with defaults.

Each default is said once, here; ``SyntheticConfig`` bundles the sections (codes, cohort, notes, text) that
the model's stages read. The numbers are calibrated to MIMIC-III v1.4 (row counts in the comments).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    """The whole generator's configuration: one section per stage of the model, plus how files are streamed."""

    codes: CodeConfig = field(default_factory=CodeConfig)
    cohort: CohortConfig = field(default_factory=CohortConfig)
    notes: NoteConfig = field(default_factory=NoteConfig)
    text: TextConfig = field(default_factory=TextConfig)
    chunk_admissions: int = 500  # admissions generated and written per chunk (streaming)
    compresslevel: int = 6
