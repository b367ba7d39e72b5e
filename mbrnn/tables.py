"""How the study's tables look and are written: the headers that name each metric's definition, percent and
p-value formatting of the analysis frames for display, and one table three ways (CSV for machines, Markdown for
the README, booktabs LaTeX for the paper).

The analysis (:mod:`mbrnn.analysis`) computes frames of fractions; what a reader sees is formatted here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import pandas as pd

from mbrnn.io import write_csv, write_text

# Characters pdflatex does not know without extra packages -> LaTeX (applied after escaping).
_LATEX_UNICODE = {
    "<": r"\textless{}", ">": r"\textgreater{}", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$",
    "–": "--", "—": "---", "×": r"$\times$",
}

METRIC_NAMES = {
    "macro_auc": "Macro-AUC", "micro_auc": "Micro-AUC", "macro_f1": "Macro-F1 (CAML)",
    "macro_f1_mean": "Macro-F1 (per-label mean)", "micro_f1": "Micro-F1", "p@5": "P@5", "p@8": "P@8", "p@15": "P@15",
}
BUCKET_COLUMNS = {"n_codes": "codes", "n_codes_in_test": "codes in test",
                  "share_test_occurrences": "share of test occurrences (%)",
                  "micro_precision": "Micro-P", "micro_recall": "Micro-R", "micro_f1": "Micro-F1",
                  "macro_precision": "Macro-P", "macro_recall": "Macro-R", "macro_f1": METRIC_NAMES["macro_f1"],
                  "macro_f1_mean": METRIC_NAMES["macro_f1_mean"], "macro_auc": "Macro-AUC", "fn": "FN", "fp": "FP"}
_COUNT_COLUMNS = ("n_codes", "n_codes_in_test", "fn", "fp")


def p_value_text(p: float) -> str:
    """A p-value for display: two significant digits, readable at any magnitude ('4.9e-09'); '–' when undefined."""
    return "–" if pd.isna(p) else f"{p:.2g}"


def focal_summary(delta: pd.DataFrame) -> pd.DataFrame:
    """The focal-vs-BCE frame with headers that name each metric's definition (points; SD over seeds)."""
    names = {"bucket": "bucket", "n_codes": "codes"}
    for k in ("micro_f1", "macro_f1"):
        label = METRIC_NAMES[k]
        names.update({f"{k}_focal": f"{label} focal", f"{k}_bce": f"{label} BCE", f"delta_{k}": f"Δ {label}",
                      f"delta_{k}_sd": f"Δ {label} SD"})
    out = delta[[c for c in names if c in delta.columns]].rename(columns=names)
    out["codes"] = out["codes"].round().astype(int)
    return out


def spearman_table(stats_by_model: Mapping[str, dict]) -> pd.DataFrame:
    """Spearman results per model for display: rho, p-value as a two-significant-digit string, n as an integer."""
    df = pd.DataFrame(stats_by_model).T.reset_index(names="model")
    df["n"] = df["n"].astype(int)
    df["p_value"] = df["p_value"].map(p_value_text)
    return df


def bucket_summary(buckets: pd.DataFrame) -> pd.DataFrame:
    """The bucket table as a reader wants it: percent, named columns, empty buckets dropped (see empty_buckets)."""
    df = buckets[buckets["n_codes"] > 0].copy()
    cols = [c for c in BUCKET_COLUMNS if c in df.columns]
    for c in cols:
        if c not in _COUNT_COLUMNS:
            df[c] = 100 * df[c]
    df["bucket"] = df["bucket"].astype(str)
    return df[["bucket", "model", *cols]].rename(columns=BUCKET_COLUMNS).reset_index(drop=True)


def to_latex(df: pd.DataFrame, caption: str, label: str, decimals: int = 1, na_rep: str = "--") -> str:
    """booktabs LaTeX table (``\\toprule`` ...), special characters escaped, caption and label set."""
    tex = df.to_latex(index=False, escape=True, caption=caption, label=label,
                      float_format=f"%.{decimals}f", na_rep=na_rep, position="t")
    for char, macro in _LATEX_UNICODE.items():
        tex = tex.replace(char, macro)
    return tex


def write_table(
    df: pd.DataFrame,
    out_dir: str | os.PathLike,
    name: str,
    caption: str,
    decimals: int = 1,
    label: str | None = None,
) -> dict[str, Path]:
    """Write ``name.csv`` (full precision), ``name.md`` and ``name.tex`` (``decimals`` places) atomically.

    Returns {"csv": path, "md": path, "tex": path}.
    """
    out_dir = Path(out_dir)
    paths = {ext: out_dir / f"{name}.{ext}" for ext in ("csv", "md", "tex")}
    df = df.copy()
    for col in df.columns:  # categorical buckets etc. -> plain strings for all three writers
        if isinstance(df[col].dtype, pd.CategoricalDtype):
            df[col] = df[col].astype(str)
    write_csv(paths["csv"], df)
    shown = df.astype(object).where(df.notna(), None)  # tabulate only treats None as missing
    text_cols = [i for i, c in enumerate(df.columns) if not pd.api.types.is_numeric_dtype(df[c])]  # "4.9e-09" stays
    md = f"{caption}\n\n" + shown.to_markdown(index=False, floatfmt=f".{decimals}f", missingval="–",
                                                disable_numparse=text_cols or False) + "\n"
    write_text(paths["md"], md)
    write_text(paths["tex"], to_latex(df, caption, label or f"tab:{name}", decimals))
    return paths
