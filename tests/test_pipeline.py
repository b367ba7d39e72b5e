"""The notebook pipeline: parameters agree with params.yaml, sources stay diff-friendly, runs are atomic."""

import re
import shlex

import jupytext
import papermill as pm
import pytest
import yaml

from mbrnn import pipeline

ROOT = pipeline.project_root(__file__)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


def stage_commands():
    stages = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, st in stages.items():
        st = st.get("do", st)  # foreach stages
        yield name, st["cmd"], st


def test_every_notebook_has_a_stage():
    used = {shlex.split(cmd)[4] for _, cmd, _ in stage_commands()}
    assert used == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("stage", [s for s, _, _ in stage_commands()])
def test_notebook_defaults_are_params_yaml(stage):
    """The parameters cell runs the embedded demo: its defaults equal what DVC injects from params.yaml."""
    params = pipeline.load_params(ROOT / "params.yaml")
    cmd = dict((s, c) for s, c, _ in stage_commands())[stage]
    first = next(iter(params["models"]))  # foreach stages: the notebook's defaults are the first model's
    argv = shlex.split(cmd.replace("${key}", first))[4:]
    specs = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    literals = [argv[i + 1] for i, a in enumerate(argv) if a == "-P"]
    injected = pipeline.notebook_parameters(params, specs, literals)
    defaults = pipeline.parameter_defaults(ROOT / "notebooks" / f"{argv[0]}.py")
    for name, value in injected.items():
        assert name in defaults, f"{argv[0]}: parameter {name} missing from the parameters cell"
        assert defaults[name] == value, f"{argv[0]}: default of {name} differs from params.yaml"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_sources_are_stable_and_output_free(nb, tmp_path):
    """Saving from JupyterLab (jupytext) rewrites the same bytes, so it never invalidates a stage."""
    parsed = jupytext.read(nb)
    assert any("parameters" in c.metadata.get("tags", []) for c in parsed.cells)
    jupytext.write(parsed, tmp_path / nb.name, fmt="py:percent")
    assert (tmp_path / nb.name).read_text() == nb.read_text()


def test_notebook_parameters_resolution():
    params = {"a": {"x": 1, "y": 2}, "b": {"x": 3}, "seed": 7, "models": {"m": {"arch": "caml"}}}
    assert pipeline.notebook_parameters(params, ["a", "seed", "models.m=model", "models=names:keys"], ["name=m", "n=3"]) == \
        {"x": 1, "y": 2, "seed": 7, "model": {"arch": "caml"}, "names": ["m"], "name": "m", "n": 3}
    with pytest.raises(ValueError, match="twice"):
        pipeline.notebook_parameters(params, ["a", "b"], [])
    with pytest.raises(KeyError, match="nope"):
        pipeline.notebook_parameters(params, ["a.nope"], [])


@pytest.mark.slow
def test_cohort_notebook_end_to_end(tiny_raw, tmp_path):
    out = tmp_path / "nb" / "01_cohort.ipynb"
    params = dict(raw_dir=str(tiny_raw), cohort_dir=str(tmp_path / "cohort"), figures_dir=str(tmp_path / "fig"),
                  metrics_dir=str(tmp_path / "metrics"), split_ratios=[0.6, 0.2, 0.2])
    pipeline.run_notebook("01_cohort", params, out, ROOT)
    assert out.exists()
    for f in ("train.parquet", "dev.parquet", "test.parquet", "icd_labels.csv", "ccs_labels.csv"):
        assert (tmp_path / "cohort" / f).stat().st_size > 0
    assert (tmp_path / "metrics" / "cohort.json").exists()
    assert (tmp_path / "fig" / "code_frequency.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    executed = jupytext.read(out)
    assert executed.cells[-1].outputs, "executed notebook carries outputs"


@pytest.mark.slow
def test_failing_notebook_leaves_no_output(tmp_path):
    out = tmp_path / "nb" / "01_cohort.ipynb"
    params = dict(raw_dir=str(tmp_path / "missing"), cohort_dir=str(tmp_path / "cohort"),
                  figures_dir=str(tmp_path / "fig"), metrics_dir=str(tmp_path / "metrics"))
    with pytest.raises(pm.PapermillExecutionError, match="NOTEEVENTS"):
        pipeline.run_notebook("01_cohort", params, out, ROOT)
    assert not out.exists()
    assert (tmp_path / "nb" / "01_cohort.failed.ipynb").exists()
    assert not (tmp_path / "cohort").exists()


def test_unknown_notebook_parameter(tmp_path):
    with pytest.raises(ValueError, match="not defined"):
        pipeline.run_notebook("01_cohort", {"bogus": 1}, tmp_path / "x.ipynb", ROOT)


# configs/*.yaml are overlays now (only the keys they change): tests/test_overlays.py checks them.


@pytest.mark.slow
def test_other_torchrun_ranks_write_no_notebook(tmp_path, monkeypatch):
    """Under torchrun only rank 0's executed copy (or failed copy) lands at ``out``; rank 1 executes into a
    temporary folder, so it cannot overwrite or clean up rank 0's file."""
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "nb" / "01_cohort.ipynb"
    (tmp_path / "nb").mkdir()
    params = dict(raw_dir=str(tmp_path / "missing"), cohort_dir=str(tmp_path / "cohort"),
                  figures_dir=str(tmp_path / "fig"), metrics_dir=str(tmp_path / "metrics"))
    with pytest.raises(pm.PapermillExecutionError, match="NOTEEVENTS"):
        pipeline.run_notebook("01_cohort", params, out, ROOT)
    assert list((tmp_path / "nb").iterdir()) == []
