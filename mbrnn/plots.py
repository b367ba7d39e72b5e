"""Figures of the study, sized for a paper (3.5 in single column, 7 in double) with fonts >= 8 pt.

Every ``plot_*`` function returns a matplotlib Figure; ``save_figure`` writes it as PNG and PDF atomically.
"""

from __future__ import annotations

import functools
import os
import sys
from pathlib import Path
from typing import Mapping, Sequence

import matplotlib

if not os.environ.get("DISPLAY") and "MPLBACKEND" not in os.environ and "ipykernel" not in sys.modules:
    matplotlib.use("Agg")  # headless: no display and not inside a notebook kernel

import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from mbrnn.io import atomic_path  # noqa: E402

SINGLE, DOUBLE = 3.5, 7.0  # figure widths in inches
STYLE = {
    "font.size": 8, "axes.titlesize": 9, "axes.labelsize": 8, "xtick.labelsize": 8, "ytick.labelsize": 8,
    "legend.fontsize": 8, "figure.titlesize": 9, "axes.spines.top": False, "axes.spines.right": False,
    "pdf.fonttype": 42,  # embed TrueType, editable text in the PDF
}
METRIC_LABELS = {"micro_f1": "Micro-F1", "macro_f1": "Macro-F1", "macro_f1_pr": "Macro-F1 (P/R)",
                 "micro_p": "Micro-precision", "micro_r": "Micro-recall", "macro_auc": "Macro-AUC"}


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


def _finish(ax, title: str, xlabel: str, ylabel: str, legend: bool = True) -> None:
    ax.set_title(title, fontsize=STYLE["axes.titlesize"])
    ax.set_xlabel(xlabel, fontsize=STYLE["axes.labelsize"])
    ax.set_ylabel(ylabel, fontsize=STYLE["axes.labelsize"])
    ax.tick_params(labelsize=STYLE["xtick.labelsize"])
    if legend and ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=STYLE["legend.fontsize"], frameon=False)


def _log_axis(ax, which: str = "x") -> None:
    """Log scale with plain numbers (100, 1000); over less than two decades also label 2x and 5x ticks."""
    for name in ("x", "y") if which == "both" else (which,):
        axis = getattr(ax, f"{name}axis")
        getattr(ax, f"set_{name}scale")("log")
        lo, hi = getattr(ax, f"get_{name}lim")()
        plain = mticker.FuncFormatter(lambda v, _: f"{v:g}")
        axis.set_major_formatter(plain)
        if hi / max(lo, 1e-12) < 100:
            axis.set_minor_locator(mticker.LogLocator(base=10, subs=(2.0, 5.0)))
            axis.set_minor_formatter(plain)
        else:
            axis.set_minor_formatter(mticker.NullFormatter())


def save_figure(fig, out_dir: str | os.PathLike, name: str, dpi: int = 200, close: bool = True) -> dict[str, Path]:
    """Write ``name.png`` (dpi) and ``name.pdf`` atomically; return their paths."""
    paths = {ext: Path(out_dir) / f"{name}.{ext}" for ext in ("png", "pdf")}
    for ext, path in paths.items():
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=dpi, metadata={"CreationDate": None} if ext == "pdf" else None)
    if close:
        plt.close(fig)
    return paths


@_styled
def plot_code_frequency(train_counts: pd.Series | Sequence[int], title: str = "ICD-9 code frequency (training set)"):
    """Long tail: code rank vs training count, log-log (codes unseen in training are counted in the legend)."""
    c = np.sort(np.asarray(train_counts))[::-1]
    seen = c[c > 0]
    fig, (ax,) = _figure(SINGLE, 2.6)
    ax.plot(np.arange(1, len(seen) + 1), seen, lw=1.2, label=f"codes seen in training: {len(seen)}")
    if (c == 0).any():
        ax.plot([], [], " ", label=f"unseen codes (not shown): {int((c == 0).sum())}")
    _log_axis(ax, "both")
    _finish(ax, title, "code rank", "training occurrences")
    return fig


@_styled
def plot_f1_by_bucket(bucket_df: pd.DataFrame, metrics: Sequence[str] = ("micro_f1", "macro_f1"),
                      models: Sequence[str] | None = None, title: str = "F1 by training frequency"):
    """Grouped bars: one panel per metric (stacked), buckets on x with their number of test codes, one bar per model."""
    d = bucket_df[bucket_df["bucket"] != "all"]
    models = list(models or dict.fromkeys(d["model"]))
    buckets = list(dict.fromkeys(d["bucket"].astype(str)))
    n_codes = d.groupby(d["bucket"].astype(str), sort=False)["n_codes"].max()
    fig, axes = plt.subplots(len(metrics), 1, figsize=(DOUBLE, 1.2 + 1.6 * len(metrics)), sharex=True,
                             constrained_layout=True, squeeze=False)
    axes = list(axes.ravel())
    x, w = np.arange(len(buckets)), 0.8 / len(models)
    for ax, metric in zip(axes, metrics):
        for i, m in enumerate(models):
            dm = d[d["model"] == m]
            v = dm.set_index(dm["bucket"].astype(str))[metric].reindex(buckets)
            ax.bar(x + (i - (len(models) - 1) / 2) * w, 100 * v.to_numpy(float), w, color=f"C{i}", label=m)
        name = METRIC_LABELS.get(metric, metric)
        _finish(ax, f"{title}: {name}", "", f"{name} (%)", legend=False)
    axes[-1].set_xticks(x, [f"{b}\n(n={n_codes[b]})" for b in buckets], fontsize=STYLE["xtick.labelsize"])
    axes[-1].set_xlabel("training occurrences of the code (n = codes in the test set)", fontsize=STYLE["axes.labelsize"])
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside upper center", ncol=min(len(models), 6),
               frameon=False, fontsize=STYLE["legend.fontsize"])
    return fig


@_styled
def plot_f1_vs_frequency(binned_by_model: Mapping[str, pd.DataFrame], stats_by_model: Mapping[str, dict] | None = None,
                         title: str = "Per-code F1 vs training frequency"):
    """Binned mean ± SD of per-code F1 (from analysis.f1_vs_frequency) on a log x axis; Spearman rho in the legend."""
    fig, (ax,) = _figure(SINGLE, 2.6)
    for m, b in binned_by_model.items():
        b = b[b["x_median"] > 0]  # the unseen bin (0) has no place on a log axis
        rho = (stats_by_model or {}).get(m, {}).get("rho")
        label = m if rho is None else f"{m} (ρ={rho:.2f})"
        ax.errorbar(b["x_median"], 100 * b["mean"], yerr=100 * b["sd"].fillna(0), marker="o", ms=3, capsize=2,
                    lw=1, label=label)
    _log_axis(ax, "x")
    _finish(ax, title, "training occurrences (log scale)", "per-code F1 (%), mean ± SD")
    return fig


@_styled
def plot_document_f1(by_length: Mapping[str, pd.DataFrame], by_n_gold: Mapping[str, pd.DataFrame],
                     title: str = "Per-document F1"):
    """Two panels: binned document F1 (analysis.f1_vs_document) vs note length and vs number of gold codes."""
    fig, axes = _figure(DOUBLE, 3.0, ncols=2)
    for ax, data, xlabel in ((axes[0], by_length, "note length (tokens, log scale)"),
                             (axes[1], by_n_gold, "gold codes per document (log scale)")):
        for m, b in data.items():
            b = b[b["x_median"] > 0]
            ax.errorbar(b["x_median"], 100 * b["mean"], yerr=100 * b["sd"].fillna(0), marker="o", ms=3, capsize=2,
                        lw=1, elinewidth=0.6, label=m)
        _log_axis(ax, "x")
        _finish(ax, f"{title} vs {xlabel.split(' (')[0]}", xlabel, "document F1 (%), mean ± SD", legend=False)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=min(len(by_length), 7),
               frameon=False, fontsize=STYLE["legend.fontsize"])
    return fig


@_styled
def plot_training_curves(curves_by_model: Mapping[str, pd.DataFrame], title: str = "Training curves"):
    """Two panels: training loss and dev micro/macro F1 per epoch (columns epoch, train_loss, dev_macro_f1, dev_micro_f1)."""
    need = {"epoch", "train_loss", "dev_macro_f1", "dev_micro_f1"}
    for m, c in curves_by_model.items():
        if not need <= set(c.columns):
            raise ValueError(f"training curve of {m!r} needs columns {sorted(need)} (has {list(c.columns)})")
    fig, (ax_loss, ax_f1) = _figure(DOUBLE, 3.0, ncols=2)
    for i, (m, c) in enumerate(curves_by_model.items()):
        color = f"C{i}"
        ax_loss.plot(c["epoch"], c["train_loss"], color=color, marker="o", ms=2, lw=1, label=m)
        ax_f1.plot(c["epoch"], 100 * c["dev_micro_f1"], color=color, marker="o", ms=2, lw=1)
        ax_f1.plot(c["epoch"], 100 * c["dev_macro_f1"], color=color, marker="s", ms=2, lw=1, ls="--")
    _log_axis(ax_loss, "y")  # focal and BCE losses differ by an order of magnitude
    _finish(ax_loss, f"{title}: training loss", "epoch", "training loss (log scale)", legend=False)
    _finish(ax_f1, "Dev F1 (solid: micro, dashed: macro)", "epoch", "dev F1 (%)", legend=False)
    fig.legend(*ax_loss.get_legend_handles_labels(), loc="outside lower center", ncol=min(len(curves_by_model), 7),
               frameon=False, fontsize=STYLE["legend.fontsize"])
    return fig


@_styled
def plot_focal_vs_bce(delta_df: pd.DataFrame, title: str = "Focal loss minus BCE"):
    """Per-bucket F1 change in points (from analysis.focal_vs_bce), micro and macro side by side."""
    fig, (ax,) = _figure(SINGLE, 2.6)
    x, w = np.arange(len(delta_df)), 0.38
    ax.bar(x - w / 2, delta_df["delta_micro_f1"], w, label="Micro-F1")
    ax.bar(x + w / 2, delta_df["delta_macro_f1"], w, label="Macro-F1")
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xticks(x, delta_df["bucket"].astype(str), rotation=30, fontsize=STYLE["xtick.labelsize"])
    _finish(ax, title, "training occurrences of the code", "Δ F1 (points)")
    return fig


@_styled
def plot_embedding_projection(xy: pd.DataFrame, highlight: Sequence[str] = (), title: str = "word2vec, PCA to 2-D"):
    """Scatter of projected words (columns word, x, y; embeddings.project_2d); ``highlight`` words in bold."""
    fig, (ax,) = _figure(SINGLE, 3.2)
    marked = xy["word"].isin(list(highlight))
    ax.scatter(xy.loc[~marked, "x"], xy.loc[~marked, "y"], s=6, color="0.55", label="neighbours")
    ax.scatter(xy.loc[marked, "x"], xy.loc[marked, "y"], s=14, color="C3", label="query terms")
    # Query terms always get a label; a neighbour only where it would not sit on a label already placed.
    span = np.array([np.ptp(xy["x"]) or 1.0, np.ptp(xy["y"]) or 1.0])
    placed: list[np.ndarray] = []
    order = np.r_[np.flatnonzero(marked), np.flatnonzero(~marked)]
    for i in order:
        w, at, m = xy["word"].iloc[i], np.array([xy["x"].iloc[i], xy["y"].iloc[i]]), marked.iloc[i]
        if not m and any(np.all(np.abs((at - p) / span) < (0.12, 0.04)) for p in placed):
            continue
        placed.append(at)
        ax.annotate(w, tuple(at), fontsize=7 if m else 6, fontweight="bold" if m else "normal",
                    xytext=(2, 2), textcoords="offset points")
    _finish(ax, title, "PC 1", "PC 2")
    return fig
