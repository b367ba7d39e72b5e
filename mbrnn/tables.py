"""Write one table three ways (CSV for machines, Markdown for the README, booktabs LaTeX for the paper)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from mbrnn.io import write_csv, write_text

# Characters pdflatex does not know without extra packages -> LaTeX (applied after escaping).
_LATEX_UNICODE = {
    "<": r"\textless{}", ">": r"\textgreater{}", "Δ": r"$\Delta$", "≥": r"$\geq$", "≤": r"$\leq$", "±": r"$\pm$",
    "–": "--", "—": "---", "×": r"$\times$",
}


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
