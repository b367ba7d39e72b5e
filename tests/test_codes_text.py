import multiprocessing

import pytest

from mbrnn import codes, text


@pytest.mark.parametrize("raw,kind,dotted", [
    ("0066", "px", "00.66"), ("3893", "px", "38.93"), ("990", "px", "99.0"), ("0040", "px", "00.40"),
    ("E8798", "dx", "E879.8"), ("E849", "dx", "E849"), ("E8490", "dx", "E849.0"),
    ("V5861", "dx", "V58.61"), ("V290", "dx", "V29.0"), ("V10", "dx", "V10"),
    ("4019", "dx", "401.9"), ("41401", "dx", "414.01"), ("0389", "dx", "038.9"), ("486", "dx", "486"), ("042", "dx", "042"),
])
def test_format_icd9(raw, kind, dotted):
    assert codes.format_icd9(raw, kind) == dotted
    assert codes.kind_of(dotted) == kind
    assert codes.undot(dotted) == raw


@pytest.mark.parametrize("raw,kind", [("40l9", "dx"), ("", "dx"), ("E87", "dx"), ("V5", "dx"), ("A123", "px"), ("12345", "px"), ("1", "px")])
def test_format_icd9_rejects_garbage(raw, kind):
    with pytest.raises(codes.CodeError):
        codes.format_icd9(raw, kind)


def test_dx_and_px_never_collide_after_dotting():
    dx = {codes.format_icd9(c, "dx") for c in codes.cms_descriptions("dx")}
    px = {codes.format_icd9(c, "px") for c in codes.cms_descriptions("px")}
    assert len(dx) > 14000 and len(px) > 3800
    assert not dx & px


def test_cms_descriptions_are_real():
    assert codes.cms_descriptions("dx")["4019"] == "Unspecified essential hypertension"
    assert "catheterization" in codes.cms_descriptions("px")["3893"].lower()


def test_ccs_mapping_keeps_dx_and_px_distinct():
    m = codes.CCSMapper()
    assert m.map("4019", "dx") == "dx:98"  # essential hypertension
    assert m.describe("dx:98").lower().startswith("essential hypertension")
    assert m.map("3893", "px") == "px:38"  # fallback: two-digit procedure category
    assert m.map("0066", "px") == "px:00"
    # CCS numbers overlap between the two systems; the prefixes keep the labels apart
    assert m.map("0389", "dx") == "dx:2" and m.map("0200", "px") != "dx:2"
    assert m.map("99999", "dx") is None


def test_prref_file(tmp_path):
    f = tmp_path / "prref.csv"
    f.write_text("\"PROCEDURE CCS\"\n'ICD-9-CM CODE','CCS CATEGORY','CCS CATEGORY DESCRIPTION','ICD-9-CM CODE DESCRIPTION'\n"
                 "'3893 ','54  ','Other vascular catheterization; not heart','VENOUS CATH NEC'\n", encoding="latin-1")
    m = codes.CCSMapper(f)
    assert m.map("3893", "px") == "px:54"
    assert m.describe("px:54").startswith("Other vascular")
    assert m.map("0066", "px") is None
    with pytest.raises(FileNotFoundError, match="prref"):
        codes.CCSMapper(tmp_path / "missing.csv")


def test_caml_tokenisation():
    t = "Admission Date: [**2151-7-16**]\nHTN, s/p CABG x3; BP 120/80 mg_dl Temp 98.6 2nd"
    assert text.tokenize(t, "caml") == ["admission", "date", "htn", "s", "p", "cabg", "x3", "bp", "mg_dl", "temp", "2nd"]


def test_edin_tokenisation_splits_underscores_and_keeps_edge_numbers():
    t = "12 Admission: HTN 120 80 mg_dl 2nd 7"
    assert text.tokenize(t, "edin") == ["12", "admission", "htn", "mg", "dl", "2nd", "7"]
    assert text.normalise("A  b", "edin") == "a b"


def test_unknown_scheme():
    with pytest.raises(ValueError, match="text_norm"):
        text.tokenize("x", "bert")


def test_normalise_many_matches_serial_in_order():
    notes = [f"Note {i}: HTN x{i} 12 café_au_lait [**2151-7-{i}**]" for i in range(700)]
    for scheme in text.SCHEMES:
        serial = [(text.normalise(n, scheme), len(text.tokenize(n, scheme))) for n in notes]
        assert text.normalise_many(notes, scheme, workers=2) == serial
        assert text.normalise_many(notes, scheme, workers=1) == serial
        with multiprocessing.get_context("fork").Pool(2) as pool:
            assert text.normalise_many(notes, scheme, pool=pool) == serial


TRICKY = [
    "Admission Date: [**2151-7-16**]  HTN s/p CABG x3, BP 120/80, mg_dl, 2nd; 12 3.5",
    "  \t\n ", "", "123 456", "\x1c\x1f", "_ __ a_1 1_a 007", "UPPER lower MiXeD",
    "café au lait ½ 2² Ⅻ x²", "ΟΔΥΣΣΕΥΣ ended", "tab\tsep\u00a0nbsp", "ﬁ ligature İstanbul",
]


def _random_notes(n=300, seed=0):
    import random
    rng = random.Random(seed)
    alphabet = "abcXYZ019_ .,;:\n\t\"'-/[]*½²éΣ\u00a0\x1c"
    return [("".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60)))) for _ in range(n)] + TRICKY


def test_prepare_notes_matches_the_reference_tokeniser():
    notes = _random_notes()
    raws = [n.encode() for n in notes] + [b"caf\xe9 latin-1 HTN", None]
    for scheme in text.SCHEMES:
        texts, counts, repaired = text.prepare_notes(raws, scheme)
        assert repaired == 1
        for raw, t, n in zip(raws, texts, counts):
            note = (raw or b"").decode("utf-8", errors="replace")
            if not note.strip():
                assert (t, n) == (None, 0)
            elif scheme in text.PER_NOTE:
                assert (t, n) == (text.normalise(note, scheme).encode(), len(text.tokenize(note, scheme)))
            else:
                assert (t, n) == (note.encode(), -1)


def test_caml_normalises_note_by_note_as_it_would_the_whole_admission():
    notes = _random_notes(seed=1)
    for i in range(0, len(notes) - 3, 3):
        group = notes[i:i + 3]
        pieces = [text.normalise(n, "caml") for n in group]
        assert " ".join(p for p in pieces if p) == text.normalise("\n".join(group), "caml")
    # and edin cannot: a number at the end of one note and the start of the next
    assert "edin" not in text.PER_NOTE
    assert text.normalise("a 12\n34 b", "edin") != " ".join(text.normalise(n, "edin") for n in ("a 12", "34 b"))
