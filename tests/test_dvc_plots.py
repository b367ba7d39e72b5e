"""`dvc plots show` draws one chart per metric with every model on it, and the page loads nothing from a network."""

import json
import re
import subprocess
import sys

import pytest
import yaml

from mbrnn import dvc_plots, plots, runner
from mbrnn.config import load_params

ROOT = runner.project_root(__file__)
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS = load_params(ROOT / "params.yaml")
CURVES = PARAMS["train"]["curves_dir"]


def charts() -> dict[str, dict]:
    return {k: v for item in DVC_YAML.get("plots", []) for k, v in item.items()}


def models_drawn(chart: dict) -> list[str]:
    return [f.removeprefix(f"{CURVES}/").removesuffix(".csv") for f in chart["y"]]


def test_every_model_with_epochs_is_on_every_score_chart_and_on_the_loss_chart_of_its_kind():
    with_epochs = [m for m, cfg in PARAMS["models"].items() if cfg["arch"] != "tfidf"]  # TF-IDF has no curve
    by_kind = {}
    for m in with_epochs:
        by_kind.setdefault(PARAMS["models"][m].get("loss", "bce"), []).append(m)  # train.py's default loss: bce
    c = charts()
    for score in ("dev_macro_f1", "dev_micro_f1"):
        assert models_drawn(c[score]) == with_epochs, score
        assert set(c[score]["y"].values()) == {score}
    for kind, models in by_kind.items():
        assert models_drawn(c[f"train_loss_{kind}"]) == models, kind
    for chart in c.values():
        assert chart["template"] == "models" and chart["title"] and chart["x"] == "epoch"


def test_no_stage_draws_a_chart_of_its_own():
    """Per-file plots in a stage would give every model a chart of its own (and TF-IDF an empty one)."""
    for name, stage in DVC_YAML["stages"].items():
        assert "plots" not in stage.get("do", stage), name


def test_models_template_is_generated_from_the_palette():
    committed = (ROOT / dvc_plots.MODELS_TEMPLATE).read_text()
    assert committed == dvc_plots.models_template(), "run `python -m mbrnn.dvc_plots` after changing the palette"
    color = json.loads(committed)["encoding"]["color"]["scale"]
    assert dict(zip(color["domain"], color["range"])) == plots.MODEL_COLORS


def test_vega_lite_version_choice():
    assert dvc_plots.vega_lite_version(["5.8", "5.21", "5.9", "6.1"]) == "5.21"
    with pytest.raises(RuntimeError, match="version 5"):
        dvc_plots.vega_lite_version(["6.1"])


@pytest.mark.slow
def test_dvc_plots_show_writes_an_offline_page_with_one_chart_per_metric(tmp_path):
    template, _ = dvc_plots.write_template(tmp_path / "offline.html")
    out = tmp_path / "page"
    r = subprocess.run([sys.executable, "-m", "dvc", "plots", "show", "--html-template", str(template), "-o", str(out)],
                       cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    page = (out / "index.html").read_text()
    assert not re.search(r"""<script[^>]+src=|<link[^>]+href=["']?https?:""", page)  # nothing to fetch
    assert "window.vegaEmbed" in page
    specs = [json.loads(s) for s in re.findall(r"var spec = (\{.*?\});\n", page, flags=re.S)]
    assert len(specs) == len(charts())
    by_title = {c["title"]: c for c in charts().values()}
    for spec in specs:
        chart = by_title[spec["title"]]  # readable titles, not file paths
        drawn = {d["filename"].removesuffix(".csv") for d in spec["data"]["values"]}
        assert drawn == set(models_drawn(chart)), spec["title"]  # every model of the chart on one pair of axes
        assert spec["encoding"]["color"]["field"] == "model"
