"""One look for the study's figures: colours, intervals, legends, empty groups, loss kinds, labels, notebooks."""

import json

import matplotlib
import matplotlib.pyplot as plt
import nbformat
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.text import Text

from mbrnn import analysis as A
from mbrnn import plots as P, runner
from mbrnn.config import load_params

matplotlib.use("Agg")
ROOT = runner.project_root(__file__)
MODELS = ["mbrnn", "mbrnn_no_ccs", "mbrnn_bce", "caml", "laat"]


def bucket_frame(models=MODELS, empty=("0", ">1000")):
    """A bucket table: five buckets, two without test codes, laat all zero, caml NaN in one bucket."""
    rows = []
    for i, m in enumerate(models):
        for j, b in enumerate(["0", "1–10", "11–50", "51–100", ">1000"]):
            f1 = 0.0 if m == "laat" else 0.1 * (i + j) % 1
            f1 = np.nan if (m == "caml" and b == "11–50") else f1
            rows.append(dict(bucket=b, model=m, n_codes=0 if b in empty else 5, micro_f1=f1, macro_f1=f1))
    return pd.DataFrame(rows)


def bar_colors(ax) -> list[str]:
    return [to_hex(p.get_facecolor()) for p in ax.patches]


def test_a_model_keeps_its_colour_in_every_figure_and_subset():
    assert P.model_color("mbrnn") == P.MODEL_COLORS["mbrnn"]
    unknown = P.model_color("my_new_model")
    assert unknown == P.model_color("my_new_model") and unknown in P.EXTRA_COLORS
    assert len(set(P.MODEL_COLORS.values())) == len(P.MODEL_COLORS)
    for subset in (MODELS, ["laat", "mbrnn"]):
        fig = P.plot_f1_by_bucket(bucket_frame(subset), models=subset)
        ax = fig.axes[0]
        n_buckets = len(ax.get_xticks())
        want = [P.MODEL_COLORS[m].lower() for m in subset for _ in range(n_buckets)]
        assert bar_colors(ax) == want
        plt.close(fig)
    curves = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.5, 0.4], "dev_macro_f1": [0.1, 0.2],
                           "dev_micro_f1": [0.2, 0.3]})
    fig = P.plot_training_curves({"laat": curves, "mbrnn": curves}, {"laat": "bce", "mbrnn": "focal"})
    line_colors = {line.get_label(): to_hex(line.get_color()) for ax in fig.axes for line in ax.get_lines()}
    assert line_colors["laat"] == P.MODEL_COLORS["laat"].lower() and line_colors["mbrnn"] == P.MODEL_COLORS["mbrnn"].lower()
    plt.close(fig)


def test_focal_vs_bce_metrics_do_not_reuse_model_colours():
    delta = pd.DataFrame({"bucket": ["11–50", "51–100"], "delta_micro_f1": [5.0, -2.0], "delta_macro_f1": [3.0, 0.0]})
    fig = P.plot_focal_vs_bce(delta)
    used = set(bar_colors(fig.axes[0]))
    assert not used & {c.lower() for c in P.MODEL_COLORS.values()}
    assert any(p.get_hatch() for p in fig.axes[0].patches)  # macro is told apart by its hatch
    plt.close(fig)


def test_bucket_figure_leaves_out_empty_buckets_marks_zeros_and_orders_the_legend_like_the_bars():
    order = ["laat", "caml", "mbrnn"]
    fig = P.plot_f1_by_bucket(bucket_frame(order), models=order)
    top, bottom = fig.axes[0], fig.axes[-1]
    ticks = [t.get_text().split("\n")[0] for t in bottom.get_xticklabels()]
    assert ticks == ["1–10", "11–50", "51–100"]
    assert "left out, no test codes: 0, >1000" in bottom.get_xlabel()
    marks = [t.get_text() for t in top.texts]
    assert marks.count("0") == 3 and marks.count("n/a") == 1  # laat's three zero bars, caml's missing one
    assert [t.get_text() for t in fig.legends[0].get_texts()] == order
    plt.close(fig)


def test_legend_row_order_follows_the_bars_in_several_columns():
    fig, ax = plt.subplots()
    handles = [ax.bar([i], [1], label=str(i)) for i in range(5)]
    P._legend_outside(fig, handles, [str(i) for i in range(5)], where="bottom", ncol=3)
    texts = [t.get_text() for t in fig.legends[0].get_texts()]
    # matplotlib fills columns first: column 0 = ['0', '3'], column 1 = ['1', '4'], column 2 = ['2']
    assert texts == ["0", "3", "1", "4", "2"]
    plt.close(fig)


def test_binned_intervals_stay_inside_the_data_and_are_deterministic():
    rng = np.random.default_rng(3)
    x = np.r_[np.zeros(4), rng.integers(1, 300, 200), [5000]]  # bins 1-8, 8-71, 71-595, 595-5000
    y = np.r_[[0, 0, 1, 1], (rng.random(200) < 0.3).astype(float), [0.7]]  # F1 of 0 or 1: SD bars leave [0, 1]
    b = A.binned_mean_sd(x, y, n_bins=4)
    assert ((b["mean"] - b["sd"]) < 0).any()  # what the old mean ± SD bars drew below 0
    many = b[b["n"] > 1]
    assert (many["ci_lo"] >= 0).all() and (many["ci_hi"] <= 1).all()
    assert (many["ci_lo"] <= many["mean"]).all() and (many["mean"] <= many["ci_hi"]).all()
    assert (many["q25"] <= many["median"]).all() and (many["median"] <= many["q75"]).all()
    single = b[b["n"] == 1]
    assert len(single) == 1 and single["ci_lo"].isna().all()
    pd.testing.assert_frame_equal(b, A.binned_mean_sd(x, y, n_bins=4))
    assert not A.binned_mean_sd(x, y, n_bins=4, seed=1)["ci_lo"].equals(b["ci_lo"])


def _errorbar_extent(ax) -> tuple[float, float]:
    ys = [seg[:, 1] for coll in ax.collections for seg in coll.get_segments()]
    return float(np.min(np.concatenate(ys))), float(np.max(np.concatenate(ys)))


def test_frequency_figure_bars_inside_0_100_legend_outside_and_no_nan_printed():
    rng = np.random.default_rng(0)
    per_code = {m: pd.DataFrame({"train_count": rng.integers(1, 500, 80), "support": 1,
                                 "f1": 0.0 if m == "laat" else (rng.random(80) < 0.4).astype(float)})
                for m in ("mbrnn", "laat")}
    binned, stats = zip(*(A.f1_vs_frequency(per_code[m], n_bins=4) for m in per_code))
    assert np.isnan(stats[1]["rho"])
    fig = P.plot_f1_vs_frequency(dict(zip(per_code, binned)), dict(zip(per_code, stats)))
    ax = fig.axes[0]
    lo, hi = _errorbar_extent(ax)
    assert 0 <= lo and hi <= 100
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels[0].startswith("mbrnn (ρ = ") and "nan" not in " ".join(labels) and "undefined" in labels[1]
    fig.canvas.draw()
    assert not fig.legends[0].get_window_extent().overlaps(ax.get_window_extent())
    plt.close(fig)


def test_losses_of_different_kinds_never_share_an_axis():
    c = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.4, 0.3, 0.2], "dev_macro_f1": [0.1, 0.2, 0.3],
                      "dev_micro_f1": [0.2, 0.3, 0.4]})
    kinds = {"mbrnn": "focal", "mbrnn_bce": "bce", "caml": "bce"}
    fig = P.plot_training_curves({m: c for m in [*kinds, "laat"]}, kinds)
    loss_axes = [ax for ax in fig.axes if "loss" in ax.get_title()]
    assert len(loss_axes) == 3  # focal, BCE, and laat whose kind is not recorded
    for ax in loss_axes:
        found = {kinds.get(line.get_label(), "not recorded") for line in ax.get_lines()}
        assert len(found) == 1, ax.get_title()
    assert not any("AUC" in ax.get_title() for ax in fig.axes)
    plt.close(fig)
    more = c.assign(dev_micro_auc=[0.6, 0.7, 0.8], dev_loss=[0.5, 0.45, 0.44])
    fig = P.plot_training_curves({"mbrnn": more, "caml": c}, kinds)
    assert any("AUC" in ax.get_title() for ax in fig.axes)
    focal = next(ax for ax in fig.axes if "focal" in ax.get_title())
    assert len(focal.get_lines()) == 2 and "dev" in focal.get_ylabel()  # train and dev loss of mbrnn
    plt.close(fig)


def test_embedding_labels_never_overlap_and_name_every_query_term():
    rng = np.random.default_rng(0)
    words = [f"word{i}" for i in range(40)] + ["fibrillation", "diabetes", "hypertension", "pneumonia"]
    xy = pd.DataFrame({"word": words, "x": np.r_[rng.normal(0, 1, 40), 0.0, 0.02, 0.04, 0.01],
                       "y": np.r_[rng.normal(0, 1, 40), 0.0, 0.01, 0.0, 0.02]})  # the four query terms on a heap
    fig = P.plot_embedding_projection(xy, highlight=words[-4:])
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = [t for t in fig.axes[0].texts if t.get_text()]
    assert set(words[-4:]) <= {t.get_text() for t in texts}
    boxes = [Text.get_window_extent(t, renderer) for t in texts]  # the words themselves, without leader lines
    clashes = [(texts[i].get_text(), texts[j].get_text()) for i in range(len(boxes)) for j in range(i)
               if boxes[i].overlaps(boxes[j])]
    assert not clashes
    plt.close(fig)


def test_log_axis_has_readable_ticks_over_a_narrow_range():
    fig, ax = plt.subplots()
    ax.plot([1, 2, 3], [30, 80, 200])
    P._log_axis(ax, "y")
    fig.canvas.draw()
    lo, hi = ax.get_ylim()
    shown = [t.get_text() for t in ax.yaxis.get_ticklabels(which="both") if t.get_text() and lo <= t.get_position()[1] <= hi]
    assert len(shown) >= 3 and all("e" not in s for s in shown)
    plt.close(fig)


def test_every_figure_has_a_caption():
    assert set(P.CAPTIONS) == {"code_frequency", "embedding_projection", "f1_by_frequency_bucket",
                               "f1_vs_training_frequency", "f1_per_document", "focal_vs_bce", "training_curves"}


@pytest.mark.parametrize("nb", sorted((ROOT / "notebooks").glob("*.py")), ids=lambda p: p.stem)
def test_notebooks_name_their_kernel(nb):
    import jupytext

    assert jupytext.read(nb).metadata.get("kernelspec", {}).get("name") == "python3"


def image_outputs(nb_path) -> list[tuple[int, str]]:
    """(natural width in px, the caption displayed right after it) of every image in an executed notebook."""
    nb = nbformat.read(nb_path, as_version=4)
    found = []
    for cell in nb.cells:
        outs = cell.get("outputs", [])
        for i, out in enumerate(outs):
            if "image/png" in out.get("data", {}):
                nxt = outs[i + 1].get("data", {}).get("text/markdown", "") if i + 1 < len(outs) else ""
                found.append((int(out.get("metadata", {}).get("image/png", {}).get("width", 0)), nxt))
    return found


@pytest.mark.slow
def test_executed_cohort_notebook_shows_its_figure_with_caption(tiny_raw, tmp_path):
    p = load_params(ROOT / "params.yaml")
    params = {**p, "data": {**p["data"], "source": "mimic3", "raw_dir": str(tiny_raw)},
              "cohort": {**p["cohort"], "cohort_dir": str(tmp_path / "cohort"), "split_ratios": [0.6, 0.2, 0.2],
                         "ccs_px_fallback": "icd9_two_digit"},
              "reports": {**p["reports"], "figures_dir": str(tmp_path / "fig"), "metrics_dir": str(tmp_path / "metrics")}}
    out = runner.run_stage("cohort", params, ROOT, tmp_path / "01_cohort.ipynb")
    images = image_outputs(out)
    assert len(images) == 1
    width, caption = images[0]
    assert width == round(P.SINGLE * P.SCREEN_DPI)  # natural size: 3.5 in at 100 px per inch
    assert P.CAPTIONS["code_frequency"] in caption
    assert json.loads(out.read_text())["metadata"]["kernelspec"]["name"] == "python3"
