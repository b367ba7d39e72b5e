# %% [markdown]
# # 4. Error analysis by code frequency
#
# Everything here is computed from the saved dev/test predictions of stage `train`; nothing is retrained, so the
# whole notebook re-renders in seconds. Codes are bucketed by how often they occur in the training split; for each
# bucket and model we report how many codes fall in it, their share of the test label occurrences, micro and macro
# precision/recall/F1, macro-AUC, and the false negatives and false positives. A code is predicted when its
# probability is at least the threshold (0.5, as in the paper).

# %% tags=["parameters"]
source = "synthetic"
label_setting = "top50"
cohort_dir = "data/cohort"
models_dir = "data/models"
curves_dir = "reports/curves"
index = "reports/README.md"
figures_dir = "reports/figures"
tables_dir = "reports/tables"
metrics_dir = "reports/metrics"
model_names = ["mbrnn", "mbrnn_no_ccs", "mbrnn_no_ram", "mbrnn_no_ccs_no_ram", "mbrnn_bce", "caml", "laat", "tfidf"]
split = "test"
bucket_edges = [0, 10, 50, 100, 500, 1000]
rare_max = 100
common_min = 1000
threshold = 0.5
reference_model = "mbrnn"
bce_model = "mbrnn_bce"
ablations = ["mbrnn", "mbrnn_no_ccs", "mbrnn_no_ram", "mbrnn_bce"]

# %%
import json
from pathlib import Path

import pandas as pd
from IPython.display import Image, Markdown, display

from mbrnn import analysis, plots, report
from mbrnn.pipeline import goto_project_root

goto_project_root()
data_label = f"{'synthetic demo' if source == 'synthetic' else 'MIMIC-III'}, {label_setting}"
names = list(model_names)
preds = {m: analysis.load_predictions(f"{models_dir}/{m}/{split}.npz") for m in names}
metrics = {m: json.loads(Path(f"{metrics_dir}/models/{m}.json").read_text()) for m in names}
train_counts = analysis.load_train_counts(f"{cohort_dir}/icd_labels.csv")
gold = pd.read_parquet(f"{cohort_dir}/{split}.parquet", columns=["hadm_id", "n_tokens", "icd_codes"])  # no text
rep = report.Report(Path(index).parent, report.provenance(source, label_setting, cohort_dir, names, split, threshold,
                                                       bucket_edges))

# %% [markdown]
# ## Main results
# Our models on this data beside the published MBRNN numbers on MIMIC-III (Sun et al., from the authors'
# repository). Each row names the data it came from: on the synthetic demo the published rows are a reference
# point only, never a comparison.

# %%
main = analysis.results_table({m: metrics[m]["icd"][split] for m in names}, data_label=data_label)
display(rep.table(main, tables_dir, "main_results",
                  f"ICD-9 results ({split}, threshold {threshold}) beside published MBRNN (MIMIC-III).").round(1))

# %% [markdown]
# ## F1 by training frequency

# %%
buckets = analysis.bucket_table(preds, train_counts, bucket_edges, threshold, gold=gold)
display(rep.table(analysis.bucket_summary(buckets), tables_dir, "frequency_buckets",
                  "Per frequency bucket and model: codes, share of test occurrences, micro/macro P/R/F1 (%), "
                  "macro-AUC, FN, FP.").round(1))
display(Image(rep.figure(plots.plot_f1_by_bucket(buckets), figures_dir, "f1_by_frequency_bucket",
                         "Micro- and macro-F1 per training-frequency bucket for every model."), width=700))

# %% [markdown]
# Rare codes are where every model loses most: the bucket table shows how much of the test label mass sits in
# each bucket, so a low macro-F1 on a bucket with a small share moves micro-F1 little.

# %%
per_code = {m: analysis.per_code_f1(preds[m], train_counts, threshold, gold=gold) for m in names}
binned, rho = zip(*(analysis.f1_vs_frequency(per_code[m]) for m in names))
binned, rho = dict(zip(names, binned)), dict(zip(names, rho))
display(Image(rep.figure(plots.plot_f1_vs_frequency(binned, rho), figures_dir, "f1_vs_training_frequency",
                         "Per-code F1 against training occurrences (log scale), binned means ± SD, Spearman ρ in the "
                         "legend."), width=700))
display(rep.table(pd.DataFrame(rho).T.reset_index(names="model"), tables_dir, "spearman_f1_frequency",
                  "Spearman correlation between per-code F1 and training count."))

# %% [markdown]
# ## Per-document F1

# %%
per_doc = {m: analysis.per_document_f1(preds[m], gold, threshold) for m in names}
by_len = {m: analysis.f1_vs_document(d, by="n_tokens")[0] for m, d in per_doc.items()}
by_gold = {m: analysis.f1_vs_document(d, by="n_gold", log=False)[0] for m, d in per_doc.items()}
display(Image(rep.figure(plots.plot_document_f1(by_len, by_gold), figures_dir, "f1_per_document",
                         "Per-document F1 against note length and against the number of gold codes."), width=700))

# %% [markdown]
# ## Is MBRNN's advantage significant?
# McNemar tests on paired (document, code) decisions of MBRNN against each comparator, separately for rare
# (< `rare_max` training occurrences) and common (≥ `common_min`) codes. Decisions within a document are not
# independent, so read the p-values as descriptive.

# %%
mc = analysis.mcnemar_table(preds, reference_model, train_counts, rare_max, common_min, threshold, gold)
display(rep.table(mc, tables_dir, "mcnemar",
                  f"McNemar tests of {reference_model} against each comparator on rare and common codes.").round(1))

# %% [markdown]
# ## Does focal loss move F1 from frequent to rare codes?
# The paper motivates the focal loss with the long tail. The BCE ablation answers the question bucket by bucket.

# %%
if reference_model in preds and bce_model in preds:
    delta, verdict = analysis.focal_vs_bce(buckets, focal=reference_model, bce=bce_model)
    display(rep.table(delta, tables_dir, "focal_vs_bce", "Focal loss minus BCE per frequency bucket (points of F1).").round(1))
    display(Image(rep.figure(plots.plot_focal_vs_bce(delta), figures_dir, "focal_vs_bce",
                             "Per-bucket F1 change from BCE to focal loss."), width=700))
    display(Markdown(f"**Answer on this data:** {verdict}"))

# %% [markdown]
# ## Ablations and the auxiliary CCS task

# %%
present = [m for m in ablations if m in metrics]
if reference_model in present:
    ablations_df = analysis.ablation_table({m: metrics[m]["icd"][split] for m in present}, reference=reference_model,
                                           data_label=data_label)
    display(rep.table(ablations_df, tables_dir, "ablations",
                      "MBRNN without the CCS branch, without RAM, and with BCE instead of focal loss.").round(1))
tasks = analysis.task_table({m: {"icd": metrics[m]["icd"][split], "ccs": metrics[m].get("ccs", {}).get(split)}
                             for m in names}, data_label=data_label)
display(rep.table(tasks, tables_dir, "icd_vs_ccs",
                  "ICD-9 results beside the CCS-branch results of the multitask models.").round(1))

# %% [markdown]
# ## Training curves

# %%
curves = {m: pd.read_csv(f"{curves_dir}/{m}.csv") for m in names if metrics[m]["epochs_run"] > 0}
display(Image(rep.figure(plots.plot_training_curves(curves), figures_dir, "training_curves",
                         "Training loss and dev micro/macro-F1 per epoch."), width=700))

# %% [markdown]
# The index of every figure and table, with the data and parameters that made them, is written to
# `reports/README.md` (parameter `index`).

# %%
rep.add("figure", "code_frequency", [f"{figures_dir}/code_frequency.{x}" for x in ("png", "pdf")],
        "Long tail of ICD-9 code frequencies in the training split (every code).", "cohort")
rep.add("figure", "embedding_projection", [f"{figures_dir}/embedding_projection.{x}" for x in ("png", "pdf")],
        "word2vec neighbours of clinical terms, PCA to 2-D.", "embeddings")
rep.write(Path(index).name)
