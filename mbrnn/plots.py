"""Figures of the study, sized for a paper (3.5 in single column, 7 in double) with fonts >= 8 pt.

One look for the whole study: every model has one colour in every figure (``model_color``, from the palette
``MODEL_COLORS`` defined here once), legends sit outside the data, intervals are bootstrap CIs of a mean (never
below 0 or above 100), groups without data are left out with a note, and losses of different kinds are never
drawn on one axis. Every ``plot_*`` function returns a matplotlib Figure; ``save_figure`` writes it as PNG and
PDF atomically and ``show`` displays the PNG inline at its natural size with its caption (``CAPTIONS``) under it.
"""

from __future__ import annotations

import functools
import math
import os
import sys
import zlib
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # headless: no display and not inside a notebook kernel

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mbrnn.codesystem import ICD9, CodeSystem  # noqa: E402
from mbrnn.io import atomic_path  # noqa: E402
from mbrnn.plot_labels import place_label  # noqa: E402

SINGLE, DOUBLE = 3.5, 7.0  # figure widths in inches
DPI, SCREEN_DPI = 200, 100  # PNG resolution; inline display at SCREEN_DPI pixels per inch = the figure's own size
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "figure.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType, editable text in the PDF
}
# One label per metric definition (mbrnn.metrics): "Macro-F1 (CAML)" is the harmonic mean of macro-P and macro-R.
METRIC_LABELS = {"micro_f1": "Micro-F1", "macro_f1": "Macro-F1 (CAML)", "macro_f1_mean": "Macro-F1 (per-label mean)",
                 "micro_precision": "Micro-precision", "micro_recall": "Micro-recall", "macro_auc": "Macro-AUC",
                 "dev_micro_f1": "dev Micro-F1", "dev_macro_f1": "dev Macro-F1 (CAML)", "dev_micro_auc": "dev micro-AUC"}
# The study's palette (Okabe & Ito, colour-blind safe), in the order models are listed when none is given.
MODEL_COLORS = {"mbrnn": "#0072B2", "mbrnn_no_ccs": "#56B4E9", "mbrnn_no_ram": "#009E73",
                "mbrnn_no_ccs_no_ram": "#000000", "mbrnn_bce": "#CC79A7", "caml": "#E69F00", "laat": "#D55E00",
                "tfidf": "#7A5C1E"}
# Models not named above: a colour chosen by a hash of the name (Tol's muted scheme), the same in every figure.
EXTRA_COLORS = ("#332288", "#117733", "#44AA99", "#88CCEE", "#DDCC77", "#AA4499", "#882255", "#999933")
# Metrics drawn side by side (focal_vs_bce) are told apart by fill and hatch, never by a model's colour.
METRIC_STYLES = {"micro_f1": dict(color="#3B3B3B", edgecolor="#3B3B3B"),
                 "macro_f1": dict(color="white", edgecolor="#3B3B3B", hatch="////")}
NEUTRAL = "#3B3B3B"  # single-series figures (code frequency)
LOSS_LABELS = {"focal": "focal loss", "bce": "BCE loss"}
# Captions name the cohort's code system ({name}: CodeSystem.name); ``caption`` fills it in, CAPTIONS is ICD-9's.
_CAPTIONS = {
    "code_frequency": "Long tail of {name} code frequencies in the training split (every code of the cohort).",
    "embedding_projection": "word2vec neighbours of clinical terms (bold: the query terms), PCA to 2-D.",
    "f1_by_frequency_bucket": "Micro-F1 and Macro-F1 (CAML) per training-frequency bucket of {name} codes for every "
                              "model; buckets "
                              "without test codes are left out (named under the axis), 0 marks a bar of height 0.",
    "f1_vs_training_frequency": "Per-code F1 of {name} codes against training occurrences (log scale): mean per bin with its 95% "
                                "bootstrap confidence interval; Spearman ρ in the legend.",
    "f1_per_document": "Per-document F1 over {name} codes against note length and against the number of gold codes: mean per bin "
                       "with its 95% bootstrap confidence interval.",
    "focal_vs_bce": "Per-bucket change of Micro-F1 and Macro-F1 (CAML) on {name} codes from BCE to focal loss (points; above 0: "
                    "focal loss is better).",
    "training_curves": "Training loss per epoch, one panel per kind of loss (focal and BCE values are not "
                       "comparable), and the dev {name} scores per epoch (Micro-F1, Macro-F1 (CAML)).",
}


def caption(name: str, system: CodeSystem = ICD9) -> str:
    """The caption of figure ``name`` for a cohort coded in ``system``."""
    return _CAPTIONS[name].format(name=system.name)


CAPTIONS = {k: caption(k) for k in _CAPTIONS}  # the ICD-9 (MIMIC-III) captions


def model_color(name: str) -> str:
    """The colour of a model in every figure: from MODEL_COLORS, else a deterministic pick by the name's CRC32."""
    return MODEL_COLORS.get(name) or EXTRA_COLORS[zlib.crc32(name.encode()) % len(EXTRA_COLORS)]


def model_order(names) -> list[str]:
    """Models of the palette in its order, then any others in the order given (no duplicates)."""
    names = list(dict.fromkeys(names))
    known = [m for m in MODEL_COLORS if m in names]
    return known + [m for m in names if m not in MODEL_COLORS]


def _styled(fn):
    """Build the figure under STYLE (sizes that matter after the context ends are also set explicitly in _finish)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with plt.rc_context(STYLE):
            return fn(*args, **kwargs)
    return wrapper


def _figure(width: float, height: float, ncols: int = 1):
    fig, axes = plt.subplots(1, ncols, figsize=(width, height), constrained_layout=True, squeeze=False)
    return fig, list(axes.ravel())


def _finish(ax, title: str, xlabel: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=STYLE["axes.titlesize"])
    ax.set_xlabel(xlabel, fontsize=STYLE["axes.labelsize"])
    ax.set_ylabel(ylabel, fontsize=STYLE["axes.labelsize"])
    ax.tick_params(labelsize=STYLE["xtick.labelsize"])


def _legend_outside(fig, handles, labels, where: str = "right", ncol: int = 1, title: str | None = None) -> None:
    """One figure legend outside every axes (``where``: right or bottom), entries in the order given.

    Matplotlib fills a multi-column legend column by column; entries are reordered so that it reads row by row,
    i.e. left to right in the order of the bars or lines.
    """
    if not handles:
        return
    ncol = max(1, min(ncol, len(handles)))
    nrow = math.ceil(len(handles) / ncol)
    order = [r * ncol + c for c in range(ncol) for r in range(nrow) if r * ncol + c < len(handles)]
    loc = "outside right upper" if where == "right" else "outside lower center"
    fig.legend([handles[i] for i in order], [labels[i] for i in order], loc=loc, ncol=ncol, frameon=False,
               fontsize=STYLE["legend.fontsize"], title=title, title_fontsize=STYLE["legend.fontsize"])


def _log_axis(ax, which: str = "x") -> None:
    """Log scale with plain numbers (10, 100, 1000); below two decades also 2x, 3x and 5x ticks (>= 3 labels)."""
    for name in ("x", "y") if which == "both" else (which,):
        axis = getattr(ax, f"{name}axis")
        getattr(ax, f"set_{name}scale")("log")
        ax.relim()
        ax.autoscale_view()  # limits on the log scale (before it they are linear ones, possibly from 0)
        lo, hi = getattr(ax, f"get_{name}lim")()
        plain = mticker.FuncFormatter(lambda v, _: f"{v:g}")
        axis.set_major_formatter(plain)
        if hi / max(lo, 1e-12) < 100:
            axis.set_minor_locator(mticker.LogLocator(base=10, subs=(2.0, 3.0, 5.0)))
            axis.set_minor_formatter(plain)
        else:
            axis.set_minor_formatter(mticker.NullFormatter())


def _percent_axis(ax) -> None:
    """A 0-100 axis for scores in percent (a little margin so that markers at 0 and 100 stay whole)."""
    ax.set_ylim(-4, 104)
    ax.yaxis.set_major_locator(mticker.MultipleLocator(20))


def save_figure(fig, out_dir: str | os.PathLike, name: str, dpi: int = DPI, close: bool = True) -> dict[str, Path]:
    """Write ``name.png`` (dpi) and ``name.pdf`` atomically; return their paths.

    The figure is closed (so that a notebook does not show it a second time); display the PNG with ``show``.
    """
    paths = {ext: Path(out_dir) / f"{name}.{ext}" for ext in ("png", "pdf")}
    for ext, path in paths.items():
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, metadata={"CreationDate": None} if ext == "pdf" else None)
    if close:
        plt.close(fig)
    return paths


def show(png: str | os.PathLike, caption: str | None = None, dpi: int = DPI) -> None:
    """Display a saved PNG inline at its natural size (SCREEN_DPI pixels per inch of figure: a 7 in figure is 700
    px wide, its 8 pt text readable) with the caption under it, in the live notebook and in the executed copy."""
    from IPython.display import Image, Markdown, display

    data = Path(png).read_bytes()
    width = int.from_bytes(data[16:20], "big")  # PNG IHDR: width in pixels
    display(Image(data=data, format="png", width=round(width * SCREEN_DPI / dpi)))
    if caption:
        display(Markdown(f"*{Path(png).stem}* — {caption}"))


@_styled
def plot_code_frequency(train_counts: pd.Series | Sequence[int], system: CodeSystem = ICD9):
    """Long tail: code rank vs training count, log-log (codes unseen in training are counted in the legend)."""
    c = np.sort(np.asarray(train_counts))[::-1]
    seen = c[c > 0]
    fig, (ax,) = _figure(SINGLE, 3.0)
    ax.plot(np.arange(1, len(seen) + 1), seen, lw=1.2, color=NEUTRAL, label=f"codes seen in training: {len(seen)}")
    if (c == 0).any():
        ax.plot([], [], " ", label=f"unseen codes (not shown): {int((c == 0).sum())}")
    _log_axis(ax, "both")
    _finish(ax, f"{system.name} code frequency (training set)", "code rank", "training occurrences")
    _legend_outside(fig, *ax.get_legend_handles_labels(), where="bottom")
    return fig


def _bars(ax, x, values, w, color, label):
    """One model's bars; a bar of height 0 gets a '0' on the axis so it differs from a missing one ('n/a')."""
    v = 100 * np.asarray(values, float)
    bars = ax.bar(x, np.nan_to_num(v), w, color=color, label=label)
    for xi, vi in zip(x, v):
        if not np.isfinite(vi) or vi == 0:
            ax.annotate("n/a" if not np.isfinite(vi) else "0", (xi, 0), xytext=(0, 1), textcoords="offset points",
                        ha="center", va="bottom", fontsize=6, color=color if np.isfinite(vi) else NEUTRAL)
    return bars


@_styled
def plot_f1_by_bucket(bucket_df: pd.DataFrame, metrics: Sequence[str] = ("micro_f1", "macro_f1"),
                      models: Sequence[str] | None = None, system: CodeSystem = ICD9):
    """Grouped bars: one panel per metric (stacked), buckets with test codes on x (n = their number of test codes),
    one bar per model in the order of ``models`` (default: palette order), legend in the same order. Buckets
    without any test code are left out and named under the axis."""
    title = f"{system.name} F1 by training frequency"
    d = bucket_df[bucket_df["bucket"] != "all"]
    models = list(models) if models is not None else model_order(d["model"])
    n_codes = d.groupby(d["bucket"].astype(str), sort=False)["n_codes"].max()
    buckets, empty = [b for b in n_codes.index if n_codes[b] > 0], [b for b in n_codes.index if n_codes[b] == 0]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(DOUBLE, 1.2 + 1.7 * len(metrics)), sharex=True,
                             constrained_layout=True, squeeze=False)
    axes = list(axes.ravel())
    x, w = np.arange(len(buckets)), 0.8 / max(len(models), 1)
    for ax, metric in zip(axes, metrics):
        for i, m in enumerate(models):
            dm = d[d["model"] == m]
            v = dm.set_index(dm["bucket"].astype(str))[metric].reindex(buckets)
            _bars(ax, x + (i - (len(models) - 1) / 2) * w, v.to_numpy(float), w, model_color(m), m)
        name = METRIC_LABELS.get(metric, metric)
        _finish(ax, f"{title}: {name}", "", f"{name} (%)")
        ax.set_ylim(0, 104)
        ax.yaxis.set_major_locator(mticker.MultipleLocator(20))
    axes[-1].set_xticks(x, [f"{b}\n(n={n_codes[b]})" for b in buckets], fontsize=STYLE["xtick.labelsize"])
    note = f"\nleft out, no test codes: {', '.join(empty)}" if empty else ""
    axes[-1].set_xlabel(f"training occurrences of the code (n = codes in the test set){note}",
                        fontsize=STYLE["axes.labelsize"])
    _legend_outside(fig, *axes[0].get_legend_handles_labels(), where="right", title="model")
    return fig


def _errorbars(ax, binned: Mapping[str, pd.DataFrame], labels: Mapping[str, str] | None = None) -> None:
    """Mean per bin with its CI (analysis.binned_mean_sd: ci_lo, ci_hi) per model on a log x axis, in percent.

    Models are dodged by a few hundredths of a decade so that their intervals do not hide each other; a bin of
    one value has no interval (NaN) and is drawn as a point only. The unseen bin (x = 0) has no place on a log axis.
    """
    names = model_order(binned) if labels is None else list(binned)
    for i, m in enumerate(names):
        b = binned[m]
        b = b[b["x_median"] > 0]
        if b.empty:
            continue
        mean = 100 * b["mean"].to_numpy(float)
        lo = 100 * b.get("ci_lo", b["mean"]).to_numpy(float)
        hi = 100 * b.get("ci_hi", b["mean"]).to_numpy(float)
        yerr = np.nan_to_num(np.vstack([mean - lo, hi - mean]))
        x = b["x_median"].to_numpy(float) * 10 ** (0.025 * (i - (len(names) - 1) / 2))
        ax.errorbar(x, mean, yerr=yerr, marker="o", ms=3, capsize=2, lw=1, elinewidth=0.7, color=model_color(m),
                    label=(labels or {}).get(m, m))
    _log_axis(ax, "x")
    _percent_axis(ax)


def _rho_label(model: str, stats: Mapping[str, float] | None) -> str:
    """'mbrnn (ρ = 0.41)'; an undefined rho (constant F1, e.g. a model that predicts nothing) says so."""
    rho = (stats or {}).get("rho")
    if rho is None:
        return model
    return f"{model} (ρ = {rho:.2f})" if np.isfinite(rho) else f"{model} (ρ undefined: F1 constant)"


@_styled
def plot_f1_vs_frequency(binned_by_model: Mapping[str, pd.DataFrame], stats_by_model: Mapping[str, dict] | None = None,
                         system: CodeSystem = ICD9):
    """Binned mean per-code F1 with its 95% CI (from analysis.f1_vs_frequency) on a log x axis, one colour per
    model; Spearman rho in the legend (outside the axes, on the right)."""
    fig, (ax,) = _figure(DOUBLE, 3.2)
    order = model_order(binned_by_model)
    _errorbars(ax, {m: binned_by_model[m] for m in order},
               {m: _rho_label(m, (stats_by_model or {}).get(m)) for m in order})
    _finish(ax, f"Per-code F1 vs training frequency ({system.name} codes)", "training occurrences (log scale)", "per-code F1 (%), mean and 95% CI")
    _legend_outside(fig, *ax.get_legend_handles_labels(), where="right", title="model (Spearman ρ)")
    return fig


@_styled
def plot_document_f1(by_length: Mapping[str, pd.DataFrame], by_n_gold: Mapping[str, pd.DataFrame],
                     system: CodeSystem = ICD9):
    """Two panels: binned document F1 with its 95% CI (analysis.f1_vs_document) vs note length and vs number of
    gold codes; one legend below both."""
    fig, axes = _figure(DOUBLE, 3.2, ncols=2)
    for ax, data, xlabel in ((axes[0], by_length, "note length (tokens, log scale)"),
                             (axes[1], by_n_gold, "gold codes per document (log scale)")):
        _errorbars(ax, data)
        _finish(ax, f"{system.name} F1 vs {xlabel.split(' (')[0]}", xlabel, "document F1 (%), mean and 95% CI")
    _legend_outside(fig, *axes[0].get_legend_handles_labels(), where="bottom", ncol=min(len(by_length), 4))
    return fig


def _curve_panels(curves: Mapping[str, pd.DataFrame], loss_kinds: Mapping[str, str]):
    """Panels of the training-curves figure: one per loss kind (first row), one per dev score present (second)."""
    kinds = list(dict.fromkeys(loss_kinds.get(m, "not recorded") for m in curves))
    scores = [c for c in ("dev_micro_f1", "dev_macro_f1", "dev_micro_auc")
              if any(c in df.columns and df[c].notna().any() for df in curves.values())]
    return kinds, scores


@_styled
def plot_training_curves(curves_by_model: Mapping[str, pd.DataFrame], loss_kinds: Mapping[str, str] | None = None,
                         system: CodeSystem = ICD9):
    """Per-epoch curves (columns epoch, train_loss, dev_macro_f1, dev_micro_f1; dev_loss and dev_micro_auc drawn
    when present). Losses of different kinds (``loss_kinds``: model -> focal|bce; params ``models.<m>.loss``)
    are not comparable, so each kind gets its own panel (train solid, dev dashed); a model without a recorded
    kind goes to a panel of its own kind 'not recorded'. Dev scores share one 0-100 axis per score."""
    need = {"epoch", "train_loss", "dev_macro_f1", "dev_micro_f1"}
    for m, c in curves_by_model.items():
        if not need <= set(c.columns):
            raise ValueError(f"training curve of {m!r} needs columns {sorted(need)} (has {list(c.columns)})")
    curves_by_model = {m: c for m, c in curves_by_model.items() if len(c)}  # e.g. TF-IDF: no epochs, no curve
    loss_kinds = dict(loss_kinds or {})
    kinds, scores = _curve_panels(curves_by_model, loss_kinds)
    fig = plt.figure(figsize=(DOUBLE, 5.0), layout="constrained")
    top, bottom = fig.subfigures(2, 1)
    loss_axes = dict(zip(kinds, np.ravel(top.subplots(1, len(kinds), squeeze=False))))
    score_axes = dict(zip(scores, np.ravel(bottom.subplots(1, len(scores), squeeze=False))))
    for m in model_order(curves_by_model):
        c, color = curves_by_model[m], model_color(m)
        ax = loss_axes[loss_kinds.get(m, "not recorded")]
        ax.plot(c["epoch"], c["train_loss"], color=color, marker="o", ms=2, lw=1, label=m)
        if "dev_loss" in c.columns and c["dev_loss"].notna().any():
            ax.plot(c["epoch"], c["dev_loss"], color=color, marker="o", ms=2, lw=1, ls="--")
        for col, sax in score_axes.items():
            if col in c.columns:
                sax.plot(c["epoch"], 100 * c[col], color=color, marker="o", ms=2, lw=1, label=m)
    dev = any("dev_loss" in c.columns for c in curves_by_model.values())
    for kind, ax in loss_axes.items():
        _finish(ax, f"Training curves: {LOSS_LABELS.get(kind, f'loss, kind {kind}')}", "epoch",
                "loss (solid: train, dashed: dev)" if dev else "training loss")
        ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=5, integer=True))
    for col, ax in score_axes.items():
        _finish(ax, f"{system.name}: {METRIC_LABELS.get(col, col)}", "epoch", f"{METRIC_LABELS.get(col, col)} (%)")
        _percent_axis(ax)
        ax.xaxis.set_major_locator(mticker.MaxNLocator(nbins=5, integer=True))
    handles = {lab: h for ax in loss_axes.values() for h, lab in zip(*ax.get_legend_handles_labels())}
    order = [m for m in model_order(curves_by_model) if m in handles]
    _legend_outside(fig, [handles[m] for m in order], order, where="right", title="model")
    return fig


@_styled
def plot_focal_vs_bce(delta_df: pd.DataFrame, system: CodeSystem = ICD9):
    """Per-bucket F1 change in points (from analysis.focal_vs_bce), micro and macro side by side; the two metrics
    are told apart by fill and hatch (METRIC_STYLES), not by colours that stand for models elsewhere."""
    fig, (ax,) = _figure(SINGLE, 2.9)
    x, w = np.arange(len(delta_df)), 0.38
    for off, metric in ((-w / 2, "micro_f1"), (w / 2, "macro_f1")):
        ax.bar(x + off, delta_df[f"delta_{metric}"], w, lw=0.8, label=METRIC_LABELS[metric], **METRIC_STYLES[metric])
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, delta_df["bucket"].astype(str), fontsize=STYLE["xtick.labelsize"])
    _finish(ax, f"Focal loss minus BCE ({system.name} codes)", "training occurrences of the code", "Δ F1 (points)")
    _legend_outside(fig, *ax.get_legend_handles_labels(), where="bottom", ncol=2)
    return fig


@_styled
def plot_embedding_projection(xy: pd.DataFrame, highlight: Sequence[str] = (), title: str = "word2vec, PCA to 2-D"):
    """Scatter of projected words (columns word, x, y; embeddings.project_2d); ``highlight`` words in bold.

    Labels never overlap: each is placed where its box clashes with no earlier label and no point (query terms
    first, with a leader line if needed); a neighbour whose label finds no free place stays an unlabelled point.
    """
    fig, (ax,) = _figure(DOUBLE * 0.8, 4.2)
    marked = xy["word"].isin(list(highlight)).to_numpy()
    ax.scatter(xy.loc[~marked, "x"], xy.loc[~marked, "y"], s=8, color="0.6", label="neighbours")
    ax.scatter(xy.loc[marked, "x"], xy.loc[marked, "y"], s=18, color="#D55E00", label="query terms")
    ax.margins(0.12)
    _finish(ax, title, "PC 1", "PC 2")
    _legend_outside(fig, *ax.get_legend_handles_labels(), where="right")
    fig.canvas.draw()
    fig.set_layout_engine("none")  # freeze the layout: label boxes are measured against final positions
    renderer = fig.canvas.get_renderer()
    pts = ax.transData.transform(xy[["x", "y"]].to_numpy(float))
    taken: list = []
    for i in np.r_[np.flatnonzero(marked), np.flatnonzero(~marked)]:
        others = [p for j, p in enumerate(pts) if j != i]
        place_label(ax, renderer, xy["word"].iloc[i], (xy["x"].iloc[i], xy["y"].iloc[i]), bool(marked[i]), taken,
                     others)
    return fig
