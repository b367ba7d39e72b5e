"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.codes``:
the procedure fallback for two-digit codes, descriptions of unknown categories, an empty label table."""

import pytest

from mbrnn import codes


def test_two_digit_procedure_code_falls_back_to_its_own_category():
    mapper = codes.CCSMapper()  # no $prref file: ICD-9-CM two-digit procedure categories
    assert mapper.px_source == "icd9_two_digit_category"
    assert mapper.map("38", codes.PX) == "px:38"
    assert mapper.map("3893", codes.PX) == "px:38"
    assert mapper.describe("px:38") == "ICD-9-CM procedure category 38"


def test_unknown_categories_have_an_empty_description():
    mapper = codes.CCSMapper()
    assert mapper.describe("dx:999999") == ""
    assert mapper.describe("dx:101") != ""  # a real HCUP category has its name
    assert mapper.map("XXXXX", codes.DX) is None


def test_empty_label_table_keeps_its_columns():
    table = codes.label_table([], {}, codes.CCSMapper())
    assert list(table.columns) == ["code", "kind", "description", "ccs"] and table.empty


def test_invalid_codes_are_refused_naming_the_kind():
    for code, kind, message in (("12a", codes.DX, "'12A' is not a valid ICD-9-CM diagnosis code"),
                                ("1", codes.PX, "'1' is not a valid ICD-9-CM procedure code")):
        try:
            codes.format_icd9(code, kind)
        except codes.CodeError as e:
            assert str(e) == message
        else:
            raise AssertionError(f"{code} accepted")


@pytest.mark.parametrize("label, kind", [("E11.649", "dx"), ("S72.001", "dx"), ("0DTJ4ZZ", "px"), ("02HV33Z", "px")])
def test_a_seven_character_label_is_a_procedure_only_without_a_dot(label, kind):
    """ICD-10-PCS codes are seven characters and carry no dot; a dotted ICD-10-CM label of seven characters
    (with the dot) is a diagnosis."""
    assert codes.kind_of(label) == kind
