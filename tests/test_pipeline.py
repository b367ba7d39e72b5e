"""The notebook pipeline: parameters agree with params.yaml, sources stay diff-friendly, runs are atomic."""

import jupytext
import papermill as pm
import pytest
import yaml

from mbrnn import runner
from mbrnn.config import ParamsError, load_params

ROOT = runner.project_root(__file__)
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.py"))


PARAMS = load_params(ROOT / "params.yaml")
STAGES = runner.stages(PARAMS, ROOT)


def test_every_notebook_has_a_stage_and_every_stage_is_one_command():
    assert {st.notebook for st in STAGES.values()} == {p.stem for p in NOTEBOOKS}
    raw = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]
    for name, body in raw.items():  # the command names the stage only: notebook, outputs and params come from dvc.yaml
        assert body.get("do", body)["cmd"].split() == ["python", "-m", "mbrnn", "stage", name + ("@${key}" if "do" in body else "")]


def test_stages_resolve_as_dvc_resolves_them():
    """The runner reads dvc.yaml itself (no DVC on a bare GPU machine); DVC's own parser must agree with it."""
    from dvc.repo import Repo

    with Repo(str(ROOT)) as repo:
        dvc_stages = [st for st in repo.index.stages if st.addressing != "data.dvc"]
        assert [st.addressing for st in dvc_stages] == list(STAGES)
        for st in dvc_stages:
            mine = STAGES[st.addressing]
            declared = [p for d in st.deps if hasattr(d, "params") for p in d.params]
            assert sorted(declared) == sorted(mine.keys), st.addressing
            assert mine.out in [str(o.def_path) for o in st.outs]
            assert f"notebooks/{mine.notebook}.py" in [str(d.def_path) for d in st.deps]


@pytest.mark.parametrize("name", list(STAGES))
def test_notebook_receives_exactly_its_declared_keys(name):
    """A notebook's parameters cell is `params` (+ `name` for a foreach stage); what it gets is params.yaml restricted
    to the stage's declared keys, so it cannot read a key DVC does not track for it."""
    st = STAGES[name]
    defaults = runner.parameter_defaults(ROOT / "notebooks" / f"{st.notebook}.py")
    injected = runner.notebook_parameters(st, PARAMS)
    assert set(injected) == set(defaults) and defaults["params"] is None
    assert runner.stage_params(name, None, ROOT) == injected["params"]
    for dotted in st.keys:
        assert runner.lookup(injected["params"], dotted) == runner.lookup(PARAMS, dotted)
    leaves = {k for k in _leaves(injected["params"])}
    assert all(any(leaf == k or leaf.startswith(k + ".") for k in st.keys) for leaf in leaves)


def _leaves(tree: dict, prefix: str = ""):
    for k, v in tree.items():
        if isinstance(v, dict) and k not in ("max_skip_share",):
            yield from _leaves(v, f"{prefix}{k}.")
        else:
            yield prefix + k


def test_subset_and_lookup():
    params = {"a": {"x": 1, "y": {"z": 2}}, "b": 3}
    assert runner.subset(params, ["a.y.z", "b"]) == {"a": {"y": {"z": 2}}, "b": 3}
    assert runner.subset(params, ["a"]) == {"a": {"x": 1, "y": {"z": 2}}}
    with pytest.raises(KeyError, match="a.nope"):
        runner.subset(params, ["a.nope"])


def test_unknown_stage_is_named():
    with pytest.raises(ParamsError, match="no stage 'train@nope'"):
        runner.stage("train@nope", PARAMS, ROOT)


def test_gpus_relaunches_a_train_stage_under_torchrun(monkeypatch):
    params = {**PARAMS, "train": {**PARAMS["train"], "gpus": 2}}
    st = runner.stage("train@caml", params, ROOT)
    assert runner.gpus(st, params) == 2 and runner.gpus(runner.stage("cohort", params, ROOT), params) == 1
    argv = runner.torchrun_argv(st, 2, "python")
    assert argv[1:3] == ["-m", "torch.distributed.run"] and "--nproc_per_node=2" in argv
    assert argv[-4:] == ["-m", "mbrnn", "stage", "train@caml"]
    for bad in (0, 1.5, True):
        with pytest.raises(ParamsError, match="train.gpus"):
            runner.gpus(st, {**params, "train": {**params["train"], "gpus": bad}})


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_sources_are_stable_and_output_free(nb, tmp_path):
    """Saving from JupyterLab (jupytext) rewrites the same bytes, so it never invalidates a stage."""
    parsed = jupytext.read(nb)
    assert any("parameters" in c.metadata.get("tags", []) for c in parsed.cells)
    jupytext.write(parsed, tmp_path / nb.name, fmt="py:percent")
    assert (tmp_path / nb.name).read_text() == nb.read_text()


@pytest.mark.slow
def test_cohort_notebook_end_to_end(tiny_raw, tmp_path):
    out = tmp_path / "nb" / "01_cohort.ipynb"
    runner.run_stage("cohort", cohort_params(tmp_path, tiny_raw, split_ratios=[0.6, 0.2, 0.2]), ROOT, out)
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
    with pytest.raises(pm.PapermillExecutionError, match="NOTEEVENTS"):
        runner.run_stage("cohort", cohort_params(tmp_path, tmp_path / "missing"), ROOT, out)
    assert not out.exists()
    assert (tmp_path / "nb" / "01_cohort.failed.ipynb").exists()
    assert not (tmp_path / "cohort").exists()


def cohort_params(tmp_path, raw_dir, **cohort) -> dict:
    """params.yaml with the cohort stage's inputs and outputs in ``tmp_path`` (a MIMIC-III-format ``raw_dir``)."""
    return {**PARAMS, "data": {**PARAMS["data"], "source": "mimic3", "raw_dir": str(raw_dir)},
            "cohort": {**PARAMS["cohort"], "cohort_dir": str(tmp_path / "cohort"), "ccs_px_fallback": "icd9_two_digit",
                       **cohort},
            "reports": {**PARAMS["reports"], "figures_dir": str(tmp_path / "fig"), "metrics_dir": str(tmp_path / "metrics")}}


def test_unknown_notebook_parameter(tmp_path):
    with pytest.raises(ValueError, match="not defined"):
        runner.run_notebook("01_cohort", {"bogus": 1}, tmp_path / "x.ipynb", ROOT)


# configs/*.yaml are overlays now (only the keys they change): tests/test_overlays.py checks them.


@pytest.mark.slow
def test_other_torchrun_ranks_write_no_notebook(tmp_path, monkeypatch):
    """Under torchrun only rank 0's executed copy (or failed copy) lands at ``out``; rank 1 executes into a
    temporary folder, so it cannot overwrite or clean up rank 0's file."""
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "nb" / "01_cohort.ipynb"
    (tmp_path / "nb").mkdir()
    with pytest.raises(pm.PapermillExecutionError, match="NOTEEVENTS"):
        runner.run_stage("cohort", cohort_params(tmp_path, tmp_path / "missing"), ROOT, out)
    assert list((tmp_path / "nb").iterdir()) == []
