"""Published numbers, in percent, as reference rows only: MBRNN on MIMIC-III (ICD-9 codes, CCS auxiliary task), and
Edin et al. (2023) on MIMIC-IV ICD-10 (no MBRNN there: the models they reproduced)."""

from __future__ import annotations

from mbrnn.codesystem import CodeSystem

# MBRNN on MIMIC-III as published by the authors, in percent: README "Main Results" of github.com/VRCMF/MARN
# (the model is called MARN there; Sun et al., ACM TIST 2022). Their macro-F1 follows CAML/MultiResCNN:
# harmonic mean of macro-precision and macro-recall (our ``macro_f1``), not the mean per-label F1.
PUBLISHED_MBRNN: dict[str, dict[str, float]] = {
    "MIMIC-III-full": {"macro_auc": 91.3, "micro_auc": 98.8, "macro_f1": 11.6, "micro_f1": 58.4, "p@8": 75.4, "p@15": 60.2},
    "MIMIC-III-50": {"macro_auc": 92.7, "micro_auc": 94.7, "macro_f1": 68.2, "micro_f1": 71.8, "p@5": 67.3},
}
PUBLISHED_MBRNN_CCS: dict[str, dict[str, float]] = {  # same source, CCS branch
    "MIMIC-III-full": {"macro_auc": 93.9, "micro_auc": 97.4, "macro_f1": 58.6, "micro_f1": 72.2, "p@8": 84.3, "p@15": 67.2},
    "MIMIC-III-50": {"macro_auc": 92.8, "micro_auc": 95.0, "macro_f1": 71.2, "micro_f1": 75.0, "p@5": 69.0},
}


# Edin et al., "Automated Medical Coding on MIMIC-III and MIMIC-IV: A Critical Review and Replicability Study",
# SIGIR 2023, results on their MIMIC-IV ICD-10 split (every code), as listed on the paper's Papers with Code page
# (paperswithcode.com/paper/automated-medical-coding-on-mimic-iii-and). Their macro-F1 is the mean of the per-code F1
# (our ``macro_f1_mean``), not CAML's harmonic mean, and their decision threshold is tuned on the validation split.
# LAAT is also one of this study's models; PLM-ICD was their best.
PUBLISHED_EDIN_ICD10: dict[str, dict[str, float | str]] = {
    "MIMIC-IV ICD-10, LAAT": {"model": "LAAT (Edin et al.)", "macro_auc": 95.4, "micro_auc": 99.0,
                              "macro_f1_mean": 20.3, "micro_f1": 57.9, "p@8": 68.9, "p@15": 54.3},
    "MIMIC-IV ICD-10, PLM-ICD": {"model": "PLM-ICD (Edin et al.)", "macro_auc": 96.6, "micro_auc": 99.2,
                                 "macro_f1_mean": 21.1, "micro_f1": 58.5, "p@8": 69.9, "p@15": 55.0},
}


def published_for(system: CodeSystem) -> dict[str, dict[str, float | str]]:
    """The published rows that may stand beside results on a cohort coded in ``system`` (a row of another code
    system is no reference): MBRNN's MIMIC-III numbers for ICD-9, Edin et al.'s MIMIC-IV numbers for ICD-10."""
    return PUBLISHED_MBRNN if system.key == "icd9" else PUBLISHED_EDIN_ICD10
