"""``python -m mbrnn prepare-data`` as a user runs it: in a project folder, reading its params.yaml."""

import gzip
import os
import shutil
import subprocess
import sys

import yaml

from mbrnn import runner, synthetic
from mbrnn.config import load_params

ROOT = runner.project_root(__file__)
TABLES = ("NOTEEVENTS", "DIAGNOSES_ICD", "PROCEDURES_ICD", "D_ICD_DIAGNOSES", "D_ICD_PROCEDURES")


def prepare_data(project, **data):
    """The one CLI call of this module: write ``data`` into the project's params.yaml, run prepare-data there."""
    params = load_params(ROOT / "params.yaml")
    params["data"].update(data)
    params["cohort"]["ccs_px_fallback"] = "icd9_two_digit"  # no HCUP file here: mimic3 needs it or this switch
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(ROOT / "dvc.yaml", project / "dvc.yaml")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    return subprocess.run([sys.executable, "-m", "mbrnn", "prepare-data"], cwd=project, env=env,
                          capture_output=True, text=True)


def test_prepare_data_generates_the_synthetic_tables_deterministically(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    r = prepare_data(project, source="synthetic", raw_dir="data/raw", synthetic_scale=30, synthetic_seed=3)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "data/raw" in r.stdout
    raw = project / "data" / "raw"
    synthetic.generate(tmp_path / "reference", scale=30, seed=3, progress=False)
    names = sorted(p.name for p in raw.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "reference").iterdir())
    assert {f"{t}.csv.gz" for t in TABLES} <= set(names)
    for name in names:  # the CLI writes what the generator writes for those params, byte for byte
        assert (raw / name).read_bytes() == (tmp_path / "reference" / name).read_bytes(), name
    assert gzip.decompress((raw / "NOTEEVENTS.csv.gz").read_bytes()).startswith(b'"ROW_ID"')


def test_prepare_data_checks_mimic_tables_and_names_a_missing_one(tiny_raw, tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    r = prepare_data(project, source="mimic3", raw_dir=str(tiny_raw))
    assert r.returncode == 0, r.stderr[-2000:]
    assert str(tiny_raw) in r.stdout
    assert not (project / "data").exists()  # checked, never generated

    (tiny_raw / "PROCEDURES_ICD.csv.gz").unlink()
    r = prepare_data(project, source="mimic3", raw_dir=str(tiny_raw))
    assert r.returncode != 0
    assert "PROCEDURES_ICD.csv.gz" in r.stdout + r.stderr and "physionet" in (r.stdout + r.stderr).lower()


def test_prepare_data_rejects_an_unknown_source(tmp_path):
    r = prepare_data(tmp_path, source="mimic5", raw_dir="data/raw")
    assert r.returncode != 0
    assert "data.source" in r.stderr and "mimic5" in r.stderr
    assert not (tmp_path / "data").exists()
