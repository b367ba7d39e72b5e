"""The paper's tables, in percent: main results beside the published numbers, ablations (mean ± SD over
seeds, Δ against the reference, what counts as a finding), ICD beside the auxiliary task, and focal loss vs BCE
per frequency bucket.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from mbrnn.analysis.published import PUBLISHED_MBRNN
from mbrnn.analysis.seeds import beyond_spread, mean_sd
from mbrnn.codesystem import ICD9, CodeSystem
from mbrnn.tables import METRIC_NAMES


def results_table(
    metrics_by_model: Mapping[str, Mapping[str, float]],
    published: Mapping[str, Mapping[str, float]] | None = None,
    data_label: str | Mapping[str, str] = "synthetic demo",
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5", "p@8", "p@15"),
    scale: float = 100.0,
    published_model: str = "MBRNN",
    training: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Our models' metrics (fractions × scale) next to published numbers (already percent); NaN where not reported.

    ``data_label``: one label for all our rows, or a mapping model -> label (e.g. "synthetic demo, full").
    ``published`` defaults to PUBLISHED_MBRNN (pass {} for none). ``training`` (model -> convergence_label)
    adds a ``Training`` column, so a model that was not converged is marked in the table itself.
    """
    published = PUBLISHED_MBRNN if published is None else published
    if any("macro_f1_mean" in m for m in published.values()) and "macro_f1_mean" not in metrics:
        metrics = [*metrics, "macro_f1_mean"]  # a published macro-F1 of the per-label-mean kind gets its column
    rows = []
    for model, m in metrics_by_model.items():
        label = data_label if isinstance(data_label, str) else data_label.get(model, "ours")
        rows.append({"Data": f"{label} (ours)", "Model": model,
                     **{METRIC_NAMES.get(k, k): scale * m[k] if k in m else np.nan for k in metrics}})
        if training is not None:
            rows[-1]["Training"] = training.get(model, "")
    for dataset, m in published.items():
        rows.append({"Data": f"{dataset} (published)", "Model": m.get("model", published_model),
                     **{METRIC_NAMES.get(k, k): m.get(k, np.nan) for k in metrics}})
        if training is not None:
            rows[-1]["Training"] = "published"
    extra = ["Training"] if training is not None else []
    return pd.DataFrame(rows, columns=["Data", "Model"] + [METRIC_NAMES.get(k, k) for k in metrics] + extra)


def ablation_table(
    metrics_by_model: Mapping[str, Mapping[str, float] | Sequence[Mapping[str, float]]],
    reference: str = "mbrnn",
    descriptions: Mapping[str, str] | None = None,
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5"),
    delta_metrics: Sequence[str] = ("macro_f1", "micro_f1"),
    data_label: str = "synthetic demo",
    scale: float = 100.0,
    training: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Ablation variants (rows, in the given order): metrics in percent, mean over seeds, and Δ (points) against
    ``reference``.

    A value of ``metrics_by_model`` is one metrics dict or a list of them, one per seed (:func:`per_seed`). With
    several seeds each metric gets an ``SD`` column and ``Finding`` says which Δ exceed the spread over seeds
    (:func:`beyond_spread`); a Δ within it, or with one seed, is not a finding.
    """
    if reference not in metrics_by_model:
        raise ValueError(f"reference model {reference!r} not among {list(metrics_by_model)}")
    runs = {m: [v] if isinstance(v, Mapping) else list(v) for m, v in metrics_by_model.items()}
    stats_ = {m: {k: mean_sd([scale * r[k] for r in rs]) if all(k in r for r in rs) else (np.nan, np.nan)
                  for k in set(metrics) | set(delta_metrics)} for m, rs in runs.items()}
    several = any(len(rs) > 1 for rs in runs.values())
    rows = []
    for model, st in stats_.items():
        row = {"Data": data_label, "Variant": model, "Seeds": len(runs[model])}
        if descriptions is not None:
            row["Description"] = descriptions.get(model, "")
        for k in metrics:
            row[METRIC_NAMES.get(k, k)] = st[k][0]
            if several:
                row[f"{METRIC_NAMES.get(k, k)} SD"] = st[k][1]
        deltas = {k: st[k][0] - stats_[reference][k][0] for k in delta_metrics}
        row.update({f"Δ {METRIC_NAMES.get(k, k)}": d for k, d in deltas.items()})
        if model != reference:
            row["Finding"] = _finding(deltas, st, stats_[reference])
        else:
            row["Finding"] = "reference"
        if training is not None:
            row["Training"] = training.get(model, "")
        rows.append(row)
    return pd.DataFrame(rows)


def _finding(deltas: Mapping[str, float], st: Mapping, ref: Mapping) -> str:
    """Which Δ exceed the spread over seeds: 'Δ Micro-F1 beyond seed spread', 'within seed spread', 'one seed'."""
    verdicts = {k: beyond_spread(d, st[k][1], ref[k][1]) for k, d in deltas.items()}
    if any(v is None for v in verdicts.values()):
        return "one seed: spread unknown, not a finding"
    hits = [f"Δ {METRIC_NAMES.get(k, k)}" for k, v in verdicts.items() if v]
    return f"{', '.join(hits)} beyond seed spread" if hits else "within seed spread: not a finding"


def task_table(
    metrics_by_model: Mapping[str, Mapping[str, Mapping[str, float]]],
    tasks: Mapping[str, str] | None = None,
    metrics: Sequence[str] = ("macro_auc", "micro_auc", "macro_f1", "micro_f1", "p@5"),
    data_label: str = "synthetic demo",
    scale: float = 100.0,
    system: CodeSystem = ICD9,
) -> pd.DataFrame:
    """Auxiliary-task (CCS / CCSR) results beside ICD results: ``{model: {"icd": metrics, "ccs": metrics}}`` -> one
    row per model.

    ``tasks`` maps the inner key to its column prefix (default: the code system's names, {"icd": "ICD-9", "ccs":
    "CCS"} or {"icd": "ICD-10", "ccs": "CCSR"}); a model without a task (single-task models have no auxiliary
    branch) gets NaN there.
    """
    tasks = dict(tasks or {"icd": system.name, "ccs": system.aux})
    rows = []
    for model, by_task in metrics_by_model.items():
        row = {"Data": data_label, "Model": model}
        for key, prefix in tasks.items():
            m = by_task.get(key) or {}
            row.update({f"{prefix} {METRIC_NAMES.get(k, k)}": scale * m[k] if k in m else np.nan for k in metrics})
        rows.append(row)
    return pd.DataFrame(rows)


def _bucket_deltas(bucket_df: pd.DataFrame, focal: str, bce: str) -> pd.DataFrame:
    """One seed: per non-empty bucket, focal and BCE F1 (points) and their difference."""
    for m in (focal, bce):
        if m not in set(bucket_df["model"]):
            raise ValueError(f"model {m!r} not in the bucket table (has {sorted(set(bucket_df['model']))})")
    d = bucket_df[bucket_df["bucket"] != "all"]
    wide = {m: d[d["model"] == m].set_index("bucket") for m in (focal, bce)}
    out = pd.DataFrame({"n_codes": wide[focal]["n_codes"]})
    for k in ("micro_f1", "macro_f1"):
        out[f"{k}_focal"] = 100 * wide[focal][k]
        out[f"{k}_bce"] = 100 * wide[bce][k]
        out[f"delta_{k}"] = out[f"{k}_focal"] - out[f"{k}_bce"]
    out = out[out["n_codes"] > 0].reset_index()
    out["bucket"] = out["bucket"].astype(str)
    return out


def focal_vs_bce(
    bucket_dfs: pd.DataFrame | Sequence[pd.DataFrame],
    focal: str = "mbrnn",
    bce: str = "mbrnn_bce",
    metric: str = "macro_f1",
    rare_buckets: Sequence[str] | None = None,
    frequent_buckets: Sequence[str] | None = None,
    tol: float = 0.0,
) -> tuple[pd.DataFrame, str]:
    """Per-bucket F1 of focal vs BCE (points, mean over seeds) and a one-sentence verdict on
    "does focal loss move F1 from frequent to rare codes?".

    ``bucket_dfs``: one bucket table per seed (seed s of the focal model paired with seed s of the BCE model).
    Columns ``delta_*_sd`` hold the SD over seeds (NaN for one seed). Default rare/frequent buckets: the first /
    second half of the non-empty buckets. A group's mean delta counts as a change only when it exceeds ``tol``
    and the SD of that group delta over seeds; with one seed the verdict says the spread is unknown.
    """
    tables = [bucket_dfs] if isinstance(bucket_dfs, pd.DataFrame) else list(bucket_dfs)
    per = [_bucket_deltas(d, focal, bce) for d in tables]
    stacked = pd.concat(per, keys=range(len(per)), names=["seed_index"]).reset_index(level=0)
    agg = stacked.groupby("bucket", sort=False)
    out = agg.mean(numeric_only=True).drop(columns="seed_index").reset_index()
    for k in ("micro_f1", "macro_f1"):
        out[f"delta_{k}_sd"] = agg[f"delta_{k}"].std(ddof=1).to_numpy() if len(per) > 1 else np.nan
    names = list(out["bucket"])
    half = (len(names) + 1) // 2
    rare = list(rare_buckets) if rare_buckets is not None else names[:half]
    freq = list(frequent_buckets) if frequent_buckets is not None else names[half:]
    group = {g: [float(p.set_index("bucket")[f"delta_{metric}"].reindex(bs).mean()) for p in per]
             for g, bs in (("rare", rare), ("freq", freq))}
    (d_rare, sd_rare), (d_freq, sd_freq) = mean_sd(group["rare"]), mean_sd(group["freq"])
    up_rare = d_rare > max(tol, np.nan_to_num(sd_rare))
    down_freq = d_freq < -max(tol, np.nan_to_num(sd_freq))
    if up_rare and down_freq:
        answer = "yes, focal loss moves F1 from frequent to rare codes"
    elif up_rare:
        answer = "no trade-off: focal loss raises rare-code F1 without lowering frequent-code F1"
    elif down_freq:
        answer = "no: focal loss lowers frequent-code F1 without raising rare-code F1"
    else:
        answer = "no: focal loss does not raise rare-code F1 beyond the spread over seeds" if len(per) > 1 \
            else "no: focal loss does not raise rare-code F1"
    label = METRIC_NAMES.get(metric, metric)
    spread = (f" (mean over {len(per)} seeds; SD {sd_rare:.1f} and {sd_freq:.1f}; a change within the SD is "
              "not counted)" if len(per) > 1 else " (one seed: the spread over seeds is unknown, so this is "
              "descriptive)")
    verdict = (f"Focal loss vs BCE changes {label} by {d_rare:+.1f} points on rare buckets ({', '.join(rare)}) "
               f"and by {d_freq:+.1f} points on frequent buckets ({', '.join(freq)}){spread}: {answer}.")
    return out, verdict
