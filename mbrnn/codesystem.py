"""The code system a cohort is coded in, and the names the study gives it in every title and caption.

The cohort stage records it in its summary (``reports/metrics/cohort.json``) as ``code_system``: ``icd9``
(MIMIC-III, or MIMIC-IV admissions coded in ICD-9; auxiliary task CCS) or ``icd10`` (MIMIC-IV admissions coded in
ICD-10; auxiliary task CCSR). A summary without the field predates it and is ICD-9. Nothing else about a code
system is assumed downstream of the cohort: codes are opaque strings, and whether a code is a diagnosis or a
procedure is the ``kind`` column of the cohort's label CSVs. A leaf module (it imports nothing of the study), so
every stage may use it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping


@dataclass(frozen=True)
class CodeSystem:
    """How a code system is named: ``name`` in titles ("ICD-10"), ``aux`` the auxiliary task's categories
    ("CCSR"), ``dx`` / ``px`` the diagnosis and procedure code sets."""

    key: str
    name: str
    aux: str
    dx: str
    px: str


ICD9 = CodeSystem(key="icd9", name="ICD-9", aux="CCS", dx="ICD-9-CM", px="ICD-9-CM procedures")
ICD10 = CodeSystem(key="icd10", name="ICD-10", aux="CCSR", dx="ICD-10-CM", px="ICD-10-PCS")
SYSTEMS = {s.key: s for s in (ICD9, ICD10)}
DEFAULT = ICD9.key  # what a cohort summary without ``code_system`` was built with


def code_system(key: str | None = None, where: str = "code_system") -> CodeSystem:
    """The CodeSystem of a ``code_system`` value (None: the default, ICD-9); an unknown value is a ValueError
    naming ``where`` it came from and the known values."""
    key = DEFAULT if key is None else key
    if key not in SYSTEMS:
        raise ValueError(f"{where}: unknown code system {key!r}; known: {', '.join(SYSTEMS)}")
    return SYSTEMS[key]


def from_summary(summary: Mapping, where: str = "cohort summary") -> CodeSystem:
    """The code system of a cohort summary (``cohort.json`` as a dict: ``settings.code_system``, written by the
    cohort stage); a summary without one (built before MIMIC-IV) means ICD-9."""
    settings = summary.get("settings") if isinstance(summary.get("settings"), dict) else {}
    return code_system(settings.get("code_system"), f"{where}, field settings.code_system")


def read(summary_path: str | Path) -> CodeSystem:
    """The code system recorded in the cohort stage's summary file (``<metrics_dir>/cohort.json``)."""
    path = Path(summary_path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: cohort summary not found; run the cohort stage, which writes it")
    return from_summary(json.loads(path.read_text()), str(path))
