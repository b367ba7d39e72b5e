"""Parameter overlays (configs/*.yaml): short, checked, and run through `dvc exp run -S` without editing params.yaml."""

import shutil

import pytest
import yaml
from dvc.utils.hydra import apply_overrides

from mbrnn import __main__ as cli
from mbrnn import overlays, runner
from mbrnn.config import load_params

ROOT = runner.project_root(__file__)
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
PARAMS = load_params(ROOT / "params.yaml")


def through_dvc(tmp_path, argv):
    """params.yaml after DVC's own Hydra parser applies the -S values of a printed command."""
    path = tmp_path / "params.yaml"
    shutil.copy(ROOT / "params.yaml", path)
    apply_overrides(path, [argv[i + 1] for i, a in enumerate(argv) if a == "-S"])
    return yaml.safe_load(path.read_text())


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_overlay_is_short_and_dvc_applies_it_as_the_merge_does(config, tmp_path):
    assert len(config.read_text().splitlines()) <= 45  # an overlay, not a copy of params.yaml (143 lines)
    merged = overlays.apply(PARAMS, overlays.load(config), config.name)
    argv = overlays.dvc_command(overlays.settings(overlays.load(config), PARAMS), name="x")
    assert argv[:3] == ["dvc", "exp", "run"] and argv[-2:] == ["-n", "x"]
    assert through_dvc(tmp_path, argv) == merged


@pytest.mark.parametrize("name,label_setting", [("paper-full", "full"), ("paper-top50", "top_k")])
def test_paper_overlays_carry_the_reference_settings(name, label_setting):
    p = overlays.apply(PARAMS, overlays.load(ROOT / "configs" / f"{name}.yaml"))
    assert p["data"]["source"] == "mimic3" and p["cohort"]["split"] == "caml"
    assert p["cohort"]["label_setting"] == label_setting
    assert p["train"]["weight_decay"] == 0.0 and p["train"]["lr"] == 0.001 and p["train"]["patience"] == 10
    assert p["train"]["max_tokens"] == 4000 and p["embeddings"]["unk"] == "zero" and p["embeddings"]["corpus"] == "all"
    assert p["analysis"]["bucket_edges"] == [0, 10, 50, 100, 500, 1000]
    assert (p["analysis"]["rare_max"], p["analysis"]["common_min"]) == (100, 1000)
    mbrnns = [m for m in p["models"].values() if m["arch"] == "mbrnn"]
    assert mbrnns and all(m["hidden"] == 300 and m["freeze_embeddings"] is True for m in mbrnns)
    assert set(p) == set(PARAMS)  # nothing added at the top level


def test_gpu_profile_is_the_demo_at_the_paper_sizes():
    p = overlays.apply(PARAMS, overlays.load(ROOT / "configs" / "gpu-paper-sizes.yaml"))
    assert p["data"] == PARAMS["data"] and p["cohort"] == PARAMS["cohort"] and p["analysis"] == PARAMS["analysis"]
    assert (p["train"]["max_tokens"], p["train"]["lr"], p["train"]["patience"]) == (4000, 0.001, 10)
    assert all(m["hidden"] == 300 and m["freeze_embeddings"] for m in p["models"].values() if m["arch"] == "mbrnn")
    assert {"caml", "laat"} <= {m["arch"] for m in p["models"].values()}


def test_overlay_errors_name_the_file_and_key(tmp_path):
    bad = tmp_path / "typo.yaml"
    bad.write_text("train:\n  learning_rate: 0.1\n")
    with pytest.raises(KeyError, match=r"typo\.yaml.*train\.learning_rate"):
        overlays.settings(overlays.load(bad), PARAMS, str(bad))
    with pytest.raises(KeyError, match="arch 'bert'"):
        overlays.settings({"models_by_arch": {"bert": {"hidden": 1}}}, PARAMS)
    with pytest.raises(FileNotFoundError, match="overlay"):
        overlays.load(tmp_path / "missing.yaml")


def test_models_by_arch_adds_missing_keys_with_plus(tmp_path):
    params = {"models": {"a": {"arch": "mbrnn", "hidden": 4}, "b": {"arch": "mbrnn"}, "c": {"arch": "caml"}}}
    s = overlays.settings({"models_by_arch": {"mbrnn": {"hidden": 8}}}, params)
    assert s == {"models.a.hidden": 8, "+models.b.hidden": 8}
    assert overlays.apply(params, {"models_by_arch": {"mbrnn": {"hidden": 8}}})["models"]["b"]["hidden"] == 8
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    apply_overrides(path, [f"{k}={overlays.hydra_value(v)}" for k, v in s.items()])
    assert yaml.safe_load(path.read_text()) == overlays.apply(params, {"models_by_arch": {"mbrnn": {"hidden": 8}}})


@pytest.mark.parametrize("value", ["auto", "a b, c", "it's", "true", "1", None, True, 0.0, 0.001, [0, 10], "x=y"])
def test_hydra_values_round_trip_through_dvc(value, tmp_path):
    """(Not 1e-05: DVC writes it back as `1e-05`, which YAML 1.1 reads as a string: keep such floats out of overlays.)"""
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"k": "old"}))
    apply_overrides(path, [f"k={overlays.hydra_value(value)}"])
    assert yaml.safe_load(path.read_text())["k"] == value


def test_exp_command_dry_run_prints_and_runs_nothing(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert cli.main(["exp", "configs/paper-top50.yaml", "-n", "p50", "--dry-run"]) == 0
    out = capsys.readouterr().out.strip()
    assert out.startswith("dvc exp run -S ") and "cohort.label_setting=top_k" in out and out.endswith("-n p50")
    assert "'analysis.bucket_edges=[0,10,50,100,500,1000]'" in out
    assert cli.main(["exp", "configs/gpu-paper-sizes.yaml", "--dry-run", "--", "-S", "train.epochs=40"]) == 0
    assert capsys.readouterr().out.strip().endswith("-S train.epochs=40")


def test_gpu_profile_params_redirect_every_output(tmp_path):
    """benchmarks/gpu_profile.py trains on the merged overlay and writes nothing outside its own folder."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gpu_profile", ROOT / "benchmarks" / "gpu_profile.py")
    gp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gp)
    p = gp.profile_params(ROOT / "configs" / "gpu-paper-sizes.yaml", tmp_path, [0, 1, 2], tiny=False)
    assert p["train"]["max_tokens"] == 4000 and p["embeddings"]["unk"] == "zero"
    outputs = [p["embeddings"]["embeddings_dir"], *(p["train"][k] for k in ("models_dir", "state_dir", "curves_dir")),
               *p["reports"].values()]
    assert all(str(o).startswith(str(tmp_path)) for o in outputs)
    assert p["cohort"] == PARAMS["cohort"]  # the demo cohort is shared, not rebuilt
    assert p["train"].get("seeds", [p["train"].get("seed")])[0] == 0
    st = runner.stage("train@mbrnn", p, ROOT)
    injected = runner.notebook_parameters(st, p)
    assert st.notebook == "03_train" and injected["name"] == "mbrnn"
    assert injected["params"]["models"]["mbrnn"]["hidden"] == 300 and set(injected["params"]["models"]) == {"mbrnn"}
