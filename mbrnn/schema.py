"""MIMIC-III v1.4 table layouts, shared by the synthetic generator (writer) and the cohort builder (reader)."""

COLUMNS = {
    "NOTEEVENTS": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "STORETIME", "CATEGORY",
                   "DESCRIPTION", "CGID", "ISERROR", "TEXT"],
    "DIAGNOSES_ICD": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    "PROCEDURES_ICD": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD9_CODE"],
    "D_ICD_DIAGNOSES": ["ROW_ID", "ICD9_CODE", "SHORT_TITLE", "LONG_TITLE"],
    "D_ICD_PROCEDURES": ["ROW_ID", "ICD9_CODE", "SHORT_TITLE", "LONG_TITLE"],
    "ADMISSIONS": ["ROW_ID", "SUBJECT_ID", "HADM_ID", "ADMITTIME", "DISCHTIME", "DEATHTIME", "ADMISSION_TYPE",
                   "ADMISSION_LOCATION", "DISCHARGE_LOCATION", "INSURANCE", "LANGUAGE", "RELIGION",
                   "MARITAL_STATUS", "ETHNICITY", "EDREGTIME", "EDOUTTIME", "DIAGNOSIS", "HOSPITAL_EXPIRE_FLAG",
                   "HAS_CHARTEVENTS_DATA"],
    "PATIENTS": ["ROW_ID", "SUBJECT_ID", "GENDER", "DOB", "DOD", "DOD_HOSP", "DOD_SSN", "EXPIRE_FLAG"],
}
COHORT_TABLES = ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD", "D_ICD_DIAGNOSES", "D_ICD_PROCEDURES")
DISCHARGE = "Discharge summary"

# --- MIMIC-IV (v2.2: hosp module; discharge notes from MIMIC-IV-Note v2.2) ---------------------------------
# Column names upper-cased, as :func:`mbrnn.raw.read_header` reads them (MIMIC-IV writes them in lower case).
MIMIC4_COLUMNS = {
    "hosp/diagnoses_icd": ["SUBJECT_ID", "HADM_ID", "SEQ_NUM", "ICD_CODE", "ICD_VERSION"],
    "hosp/procedures_icd": ["SUBJECT_ID", "HADM_ID", "SEQ_NUM", "CHARTDATE", "ICD_CODE", "ICD_VERSION"],
    "hosp/d_icd_diagnoses": ["ICD_CODE", "ICD_VERSION", "LONG_TITLE"],
    "hosp/d_icd_procedures": ["ICD_CODE", "ICD_VERSION", "LONG_TITLE"],
    "note/discharge": ["NOTE_ID", "SUBJECT_ID", "HADM_ID", "NOTE_TYPE", "NOTE_SEQ", "CHARTTIME", "STORETIME", "TEXT"],
}
ALL_COLUMNS = {**COLUMNS, **MIMIC4_COLUMNS}
"""Both releases' tables (:mod:`mbrnn.raw` finds any of them); ``COLUMNS`` stays MIMIC-III's (the writer's)."""
MIMIC4_TABLES = tuple(MIMIC4_COLUMNS)
"""The MIMIC-IV tables the cohort reads, as paths below ``data.raw_dir`` without ``.csv.gz``."""


def release(table: str) -> str:
    """The MIMIC release a table name belongs to (MIMIC-IV's are ``module/name``, MIMIC-III's upper case)."""
    return "MIMIC-IV v2.2" if table in MIMIC4_COLUMNS else "MIMIC-III v1.4"
