# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: kernelspec,-jupytext.text_representation.jupytext_version,-jupytext.text_representation.format_version
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 4. Error analysis by code frequency
#
# Everything here is computed from the saved dev/test predictions of stage `train`; nothing is retrained, so the
# whole notebook re-renders in seconds. Codes are bucketed by how often they occur in the training split; for each
# bucket and model we report how many codes fall in it, their share of the test label occurrences, micro and macro
# precision/recall/F1, macro-AUC, and the false negatives and false positives. A code is predicted when its
# probability is at least the threshold (0.5, as in the paper).
#
# Every score comes from `mbrnn.metrics`, so a name means one number everywhere: `Macro-F1 (CAML)` is the harmonic
# mean of macro-precision and macro-recall (the published numbers' definition), `Macro-F1 (per-label mean)` the
# mean of the per-label F1. On the demo the bucket edges are scaled to the cohort (`bucket_edges: auto`); the
# paper's absolute edges are kept for MIMIC-scale runs (`configs/paper-*.yaml`). With several training seeds,
# single-run numbers and McNemar tests use the primary (first) seed, the ablation and focal-vs-BCE tables give
# mean ± SD over seeds, and a difference within the spread over seeds is not reported as a finding.

# %% tags=["parameters"]
params = None  # this stage's keys of params.yaml (dvc.yaml `params:`), injected by DVC; None: read from params.yaml

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Markdown, display

from mbrnn import analysis, codesystem, plots, report, tables
from mbrnn.config import AnalysisConfig
from mbrnn.runner import goto_project_root, stage_params

goto_project_root()
params = stage_params("analysis", params)
cfg, reports, paths = AnalysisConfig.from_params(params), params["reports"], params["train"]
source, label_setting, cohort_dir = params["data"]["source"], params["cohort"]["label_setting"], params["cohort"]["cohort_dir"]

names = list(params["models"])
metrics = {m: json.loads(Path(f"{reports['metrics_dir']}/models/{m}.json").read_text()) for m in names}
seeds = {m: analysis.seeds_of(metrics[m]) for m in names}
preds = {m: analysis.load_predictions(analysis.predictions_path(paths["models_dir"], m, cfg.split, seeds[m][0], seeds[m][0]))
         for m in names}  # the primary seed's predictions
train_counts = analysis.load_train_counts(f"{cohort_dir}/icd_labels.csv")
label_set = "full" if label_setting == "full" else f"top-{len(train_counts)}"
data_label = f"{report.data_label(source)}, {label_set}"
system = codesystem.read(f"{reports['metrics_dir']}/cohort.json")  # ICD-9 (CCS) or ICD-10 (CCSR): named in every title
gold = pd.read_parquet(f"{cohort_dir}/{cfg.split}.parquet", columns=["hadm_id", "n_tokens", "icd_codes"])  # no text
edges = analysis.resolve_edges(cfg.bucket_edges, train_counts, cfg.bucket_count)
rare, common = analysis.resolve_groups(cfg.rare_max, cfg.common_min, train_counts)
edge_text = analysis.describe_edges(cfg.bucket_edges, edges, cfg.bucket_count)
training = {m: analysis.convergence_label(metrics[m], paths["patience"]) for m in names}
primary = seeds[cfg.reference_model][0] if cfg.reference_model in seeds else seeds[names[0]][0]
rep = report.Report(Path(reports["index"]).parent, report.provenance(source, label_set, cohort_dir, names, cfg.split, cfg.threshold,
                                                       edges, seeds=seeds[names[0]], system=system))
rep.section("Convergence", report.convergence_lines(training))
display(Markdown("\n".join(report.convergence_lines(training))))


def figure(fig, name: str, detail: str = "") -> None:
    """Save a figure (PNG, PDF), list it in the reports index and show it here at its natural size, captioned."""
    caption = f"{plots.caption(name, system)} {detail}".strip()
    plots.show(rep.figure(fig, reports["figures_dir"], name, caption), caption)

# %% [markdown]
# ## Main results
# Our models on this data beside published numbers: MBRNN on MIMIC-III (Sun et al., from the authors' repository)
# for ICD-9 cohorts; for ICD-10 cohorts, where MBRNN was never published, Edin et al.'s (2023) MIMIC-IV ICD-10
# results of LAAT and PLM-ICD. Each row names the data it came from: on the synthetic demo the published rows are a
# reference point only, never a comparison.

# %%
published = analysis.published_for(system)  # MBRNN (MIMIC-III) for ICD-9, Edin et al. (MIMIC-IV) for ICD-10
main = analysis.results_table({m: metrics[m]["icd"][cfg.split] for m in names}, published=published,
                              data_label=data_label, training=training)
beside = (" beside published MBRNN (MIMIC-III)" if system.key == "icd9" else " beside Edin et al.'s published "
          "MIMIC-IV ICD-10 results (their Macro-F1 is the per-label mean, their threshold tuned on validation)")
display(rep.table(main, reports["tables_dir"], "main_results",
                  f"{system.name} results ({cfg.split}, threshold {cfg.threshold}, primary seed){beside}. "
                  "Macro-F1 (CAML) = harmonic mean of macro-P and macro-R, as published. Training: a model marked "
                  "not converged was still improving when the epoch budget ended.").round(1))

# %% [markdown]
# ## F1 by training frequency

# %%
buckets = analysis.bucket_table(preds, train_counts, edges, cfg.threshold, gold=gold)
empty = analysis.empty_buckets(buckets)
structural = ["0"] if label_setting != "full" else []  # top-k labels are chosen by training count: none unseen
empty_note = "".join([
    " Bucket 0 (codes unseen in training) is left out: a top-k label set cannot hold such a code."
    if "0" in empty and structural else "",
    f" Left out because they hold no code: {', '.join(b for b in empty if b not in structural)}."
    if [b for b in empty if b not in structural] else ""])
display(rep.table(tables.bucket_summary(buckets), reports["tables_dir"], "frequency_buckets",
                  f"Per frequency bucket of {system.name} codes and model (primary seed), {edge_text}: codes, "
                  "share of test occurrences, micro/macro P/R (%), Macro-F1 (CAML) and Macro-F1 (per-label mean) "
                  f"over the bucket's codes, macro-AUC, FN, FP; the row `all` equals the main table.{empty_note}")
        .round(1))
figure(plots.plot_f1_by_bucket(buckets, models=names, system=system), "f1_by_frequency_bucket",
       f"Primary seed; {edge_text}.{empty_note}")

# %% [markdown]
# Rare codes are where every model loses most: the bucket table shows how much of the test label mass sits in
# each bucket, so a low macro-F1 on a bucket with a small share moves micro-F1 little.

# %%
per_code = {m: analysis.per_code_f1(preds[m], train_counts, cfg.threshold, gold=gold, edges=edges) for m in names}
binned, rho = zip(*(analysis.f1_vs_frequency(per_code[m]) for m in names))
binned, rho = dict(zip(names, binned)), dict(zip(names, rho))
figure(plots.plot_f1_vs_frequency(binned, rho, system=system), "f1_vs_training_frequency")
display(rep.table(tables.spearman_table(rho), reports["tables_dir"], "spearman_f1_frequency",
                  f"Spearman correlation between per-code F1 and training count ({system.name} codes)."))

# %% [markdown]
# ## Per-document F1

# %%
per_doc = {m: analysis.per_document_f1(preds[m], gold, cfg.threshold) for m in names}
by_len = {m: analysis.f1_vs_document(d, by="n_tokens")[0] for m, d in per_doc.items()}
by_gold = {m: analysis.f1_vs_document(d, by="n_gold", log=False)[0] for m, d in per_doc.items()}
figure(plots.plot_document_f1(by_len, by_gold, system=system), "f1_per_document")

# %% [markdown]
# ## Is MBRNN's advantage significant?
# McNemar tests on paired (document, code) decisions of MBRNN against each comparator (the primary seed's
# predictions), separately for rare (< `rare_max` training occurrences) and common (≥ `common_min`) codes; `auto`
# puts the lower and upper third of the codes by training count in the two groups. Decisions within a document
# are not independent, so read the p-values as descriptive.

# %%
mc = analysis.mcnemar_table(preds, cfg.reference_model, train_counts, rare, common, cfg.threshold, gold, seed=primary)
scaled = "; thresholds scaled to this cohort (terciles of its training counts)" if "auto" in (cfg.rare_max, cfg.common_min) else ""
display(rep.table(mc, reports["tables_dir"], "mcnemar",
                  f"McNemar tests of {cfg.reference_model} against each comparator on rare (< {rare} training "
                  f"occurrences) and common (≥ {common}) {system.name} codes, predictions of seed {primary} (the "
                  f"primary seed){scaled}.").round(1))

# %% [markdown]
# ## Does focal loss move F1 from frequent to rare codes?
# The paper motivates the focal loss with the long tail. The BCE ablation answers the question bucket by bucket.

# %%
if cfg.reference_model in preds and cfg.bce_model in preds:
    paired = [s for s in seeds[cfg.reference_model] if s in seeds[cfg.bce_model]]  # seed s of one against seed s of the other
    by_seed = [analysis.bucket_table(
        {m: analysis.load_predictions(analysis.predictions_path(paths["models_dir"], m, cfg.split, s, seeds[m][0]))
         for m in (cfg.reference_model, cfg.bce_model)}, train_counts, edges, cfg.threshold, gold=gold) for s in paired]
    delta, verdict = analysis.focal_vs_bce(by_seed, focal=cfg.reference_model, bce=cfg.bce_model)
    display(rep.table(tables.focal_summary(delta), reports["tables_dir"], "focal_vs_bce",
                      f"Focal loss minus BCE per frequency bucket of {system.name} codes ({edge_text}): Micro-F1 "
                      f"and Macro-F1 (CAML) in points, mean over seeds {paired} (SD columns: SD over seeds, empty "
                      "with one seed). " + verdict).round(1))
    figure(plots.plot_focal_vs_bce(delta, system=system), "focal_vs_bce", f"Mean over seeds {paired}.")
    display(Markdown(f"**Answer on this data:** {verdict}"))

# %% [markdown]
# ## Ablations and the auxiliary task (CCS for ICD-9, CCSR for ICD-10)

# %%
present = [m for m in cfg.ablations if m in metrics]
if cfg.reference_model in present:
    ablations_df = analysis.ablation_table({m: analysis.per_seed(metrics[m], cfg.split) for m in present},
                                           reference=cfg.reference_model, data_label=data_label, training=training)
    display(rep.table(ablations_df, reports["tables_dir"], "ablations",
                      f"MBRNN variants on {system.name} codes (each model entry's name says what it removes or "
                      "changes), mean over seeds (SD columns when there are several). Finding: a Δ counts only when "
                      "it exceeds the sum of the two models' SD over seeds; with one seed no Δ is a finding. "
                      "Training: a model marked not converged was still improving when the epoch budget ended.")
            .round(1))
tasks = analysis.task_table({m: {"icd": metrics[m]["icd"][cfg.split], "ccs": metrics[m].get("ccs", {}).get(cfg.split)}
                             for m in names}, data_label=data_label, system=system)
display(rep.table(tasks, reports["tables_dir"], "icd_vs_ccs",
                  f"{system.name} results beside the {system.aux}-branch results of the multitask models (primary "
                  "seed; Macro-F1 (CAML)).").round(1))

# %% [markdown]
# ## Training curves

# %%
curves = {m: pd.read_csv(f"{paths['curves_dir']}/{m}.csv") for m in names if metrics[m]["epochs_run"] > 0}
# focal and BCE losses are not comparable: each kind gets its own panel (the metrics file records the model's params)
loss_kinds = {m: metrics[m]["params"]["model"].get("loss", "bce") for m in curves if "params" in metrics[m]}
figure(plots.plot_training_curves(curves, loss_kinds, system=system), "training_curves", "Primary seed.")

# %% [markdown]
# The index of every figure and table, with the data and parameters that made them, is written to
# `reports/README.md` (parameter `index`).

# %%
rep.add("figure", "code_frequency", [f"{reports['figures_dir']}/code_frequency.{x}" for x in ("png", "pdf")],
        plots.caption("code_frequency", system), "cohort")
rep.add("figure", "embedding_projection", [f"{reports['figures_dir']}/embedding_projection.{x}" for x in ("png", "pdf")],
        plots.CAPTIONS["embedding_projection"], "embeddings")
rep.write(Path(reports["index"]).name)
