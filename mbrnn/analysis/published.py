"""MBRNN's published MIMIC-III numbers (ICD-9 codes, CCS auxiliary task), in percent: reference rows only."""

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


def published_for(system: CodeSystem) -> dict[str, dict[str, float]]:
    """The published rows that may stand beside results on a cohort coded in ``system``: MBRNN was published on
    MIMIC-III's ICD-9 codes only, so an ICD-10 cohort gets none (a row of another code system is no reference)."""
    return PUBLISHED_MBRNN if system.key == "icd9" else {}
