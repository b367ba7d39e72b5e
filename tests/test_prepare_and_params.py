"""params.yaml errors, prepare-data's checks, and the notebook runner with hostile input (issue 10)."""

from __future__ import annotations

import gzip
import json
import shlex
import shutil

import pytest
import yaml

from mbrnn import __main__ as cli
from mbrnn import config, prepare, raw, runner
from mbrnn.config import ParamsError, load_params

ROOT = runner.project_root(__file__)
SENTINEL = "sentinelzq8notebook"


def project(tmp_path, **sections) -> dict:
    """A copy of the repository's params.yaml, dvc.yaml and notebook 01 under ``tmp_path``, sections updated."""
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    for name, values in sections.items():
        params[name].update(values)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "notebooks").mkdir(exist_ok=True)
    shutil.copy(ROOT / "notebooks" / "01_cohort.py", tmp_path / "notebooks")
    return params


# --- params.yaml -------------------------------------------------------------------------------------------

def test_yaml_syntax_error_names_line(tmp_path):
    (tmp_path / "params.yaml").write_text("data:\n  source: synthetic\ncohort:\n  top_k: [50\n")
    with pytest.raises(ParamsError, match=r"params.yaml: not valid YAML at line \d+, column \d+"):
        config.load_params(tmp_path / "params.yaml")


def test_missing_section_is_clear(tmp_path):
    (tmp_path / "params.yaml").write_text("cohort:\n  top_k: 50\n")
    with pytest.raises(ParamsError, match=r"section 'data:' is missing"):
        config.load_params(tmp_path / "params.yaml")


@pytest.mark.parametrize("section,key,value", [
    ("data", "source", "mimic5"), ("data", "synthetic_seed", -1), ("data", "synthetic_scale", "huge"),
    ("cohort", "top_k", 10.5), ("cohort", "split_ratios", [1, 0, 0]), ("cohort", "split_seed", "x"),
])
def test_main_reports_bad_params_naming_the_key(section, key, value, tmp_path, monkeypatch, capsys):
    project(tmp_path, **{section: {key: value}})
    monkeypatch.chdir(tmp_path)
    assert cli.main(["prepare-data"]) == 2
    err = capsys.readouterr().err
    assert f"params.yaml {section}.{key}" in err and "Traceback" not in err


def test_unknown_and_missing_keys_are_named():
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    config.CohortConfig.from_params(params)  # the repository's own params are valid
    config.DataConfig.from_params(params)
    params["cohort"]["topk"] = 50
    with pytest.raises(ParamsError, match=r"unknown key\(s\) \['topk'\]"):
        config.CohortConfig.from_params(params)
    del params["cohort"]["topk"], params["cohort"]["split_seed"]
    with pytest.raises(ParamsError, match=r"missing key\(s\) \['cohort.split_seed'\]"):
        config.CohortConfig.from_params(params)


# --- prepare-data -------------------------------------------------------------------------------------------

def test_mimic3_check_streams_each_table(tiny_raw, tmp_path, monkeypatch):
    project(tmp_path, data={"source": "mimic3", "raw_dir": str(tiny_raw)}, cohort={"ccs_px_fallback": "icd9_two_digit"})
    message = prepare.prepare_data(load_params(tmp_path / "params.yaml"), tmp_path)
    assert "NOTEEVENTS.csv.gz: 12 rows" in message  # multi-line notes count once
    assert "DIAGNOSES_ICD.csv.gz: 15 rows" in message


def test_mimic3_check_accepts_reordered_lowercase_header(tiny_raw):
    path = tiny_raw / "DIAGNOSES_ICD.csv.gz"
    lines = gzip.decompress(path.read_bytes()).split(b"\n")
    cols = [c.strip(b'"') for c in lines[0].split(b",")]
    order = [4, 2, 0, 1, 3]
    out = [b",".join(b'"' + cols[i].lower() + b'"' for i in order)]
    out += [b",".join(l.split(b",")[i] for i in order) for l in lines[1:] if l]
    path.write_bytes(gzip.compress(b"\n".join(out) + b"\n", mtime=0))
    found = raw.scan_table(path, "DIAGNOSES_ICD")
    assert found["rows"] == 15 and not found["columns_in_mimic_order"]


def test_mimic3_check_finds_a_truncated_gzip_that_the_header_check_missed(tiny_raw, tmp_path):
    path = tiny_raw / "NOTEEVENTS.csv.gz"
    big = gzip.decompress(path.read_bytes()) * 200
    data = gzip.compress(big, mtime=0)
    path.write_bytes(data[: len(data) * 3 // 4])
    raw.check_raw_dir(tiny_raw)  # the header alone reads fine
    with pytest.raises(raw.CohortInputError, match=r"NOTEEVENTS\.csv\.gz: the file is damaged or truncated"):
        raw.scan_table(path, "NOTEEVENTS")


def test_synthetic_refuses_to_overwrite_files_it_did_not_write(tmp_path):
    project(tmp_path)
    own = tmp_path / "data" / "raw" / "NOTEEVENTS.csv.gz"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"a user's own file")
    with pytest.raises(ParamsError, match=r"did not write \(NOTEEVENTS\.csv\.gz\).*data.source: mimic3"):
        prepare.prepare_data(load_params(tmp_path / "params.yaml"), tmp_path)
    assert own.read_bytes() == b"a user's own file"


def test_fresh_clone_compares_hashes_without_dvc_cache(tiny_raw, tmp_path):
    project(tmp_path)
    shutil.copytree(tiny_raw, tmp_path / "data" / "raw")
    md5 = raw.dvc_dir_md5(tmp_path / "data" / "raw")
    (tmp_path / "data.dvc").write_text(yaml.safe_dump({"outs": [{"md5": md5, "path": "data/raw", "hash": "md5"}]}))
    message = prepare.prepare_data(load_params(tmp_path / "params.yaml"), tmp_path)
    assert "matches the hash pinned in data.dvc" in message


def test_dvc_dir_md5_is_dvcs_own():
    """The repository's data.dvc pins the demo; where the demo is present, our hash must equal DVC's."""
    demo = ROOT / "data" / "raw"
    if not demo.is_dir() or not any(demo.iterdir()):
        pytest.skip("data/raw not generated")
    assert raw.dvc_dir_md5(demo) == raw.pinned_md5(ROOT / "data.dvc")


# --- the notebook runner: hostile input, failed copies, leftovers --------------------------------------------

@pytest.mark.slow
def test_failed_cohort_notebook_leaks_no_text_and_is_cleaned_up(tiny_raw, tmp_path, monkeypatch, capfd):
    notes = tiny_raw / "NOTEEVENTS.csv.gz"
    good = notes.read_bytes()
    text = gzip.decompress(good).replace(b"Admission Date", SENTINEL.encode())
    notes.write_bytes(gzip.compress(text.replace(b"\n", b"\r"), mtime=0))  # CR-only: all of it on "line 1"
    project(tmp_path, data={"raw_dir": str(tiny_raw)},
            cohort={"cohort_dir": str(tmp_path / "data" / "cohort"), "split_ratios": [0.6, 0.2, 0.2],
                    "max_skip_share": {"default": 1.0}})
    monkeypatch.chdir(tmp_path)
    nb_dir = tmp_path / "reports" / "notebooks"
    nb_dir.mkdir(parents=True)
    stale = nb_dir / ".01_cohort.ipynb.tmp-stale.ipynb"
    stale.write_text(SENTINEL)
    argv = shlex.split(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["cohort"]["cmd"])[3:]
    assert cli.main(argv) == 1
    err = capfd.readouterr()
    assert "line 1 is not a header" in err.err and SENTINEL not in err.out + err.err
    failed = nb_dir / "01_cohort.failed.ipynb"
    assert failed.exists() and not stale.exists()
    for path in (tmp_path / "reports").rglob("*"):
        assert not path.is_file() or SENTINEL.encode() not in path.read_bytes(), path
    ignored = (ROOT / ".gitignore").read_text()
    assert "/reports/notebooks/*.failed.ipynb" in ignored and ".*.tmp-*" in ignored

    notes.write_bytes(gzip.compress(gzip.decompress(good).replace(b"Admission Date", SENTINEL.encode()), mtime=0))
    assert cli.main(argv) == 0
    assert not failed.exists()
    assert json.loads((tmp_path / "reports" / "metrics" / "cohort.json").read_text())["admissions"]["total"] == 9
    for path in (tmp_path / "reports").rglob("*"):
        assert not path.is_file() or SENTINEL.encode() not in path.read_bytes(), path


def test_the_old_label_setting_name_says_what_it_is_now():
    params = load_params(ROOT / "params.yaml")
    params["cohort"]["label_setting"] = "top50"
    with pytest.raises(ParamsError, match="'top50' is now called 'top_k'"):
        config.CohortConfig.from_params(params)
