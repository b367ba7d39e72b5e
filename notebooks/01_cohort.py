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
# # 1. Cohort
#
# Discharge summaries of MIMIC-III v1.4 (or the embedded synthetic cohort in the same format) are joined with
# the admission's ICD-9 diagnosis and procedure codes. Report and addenda are concatenated in chart order,
# rows marked ISERROR are excluded, codes are dotted as strings (procedure codes keep their leading zeros) and
# de-duplicated, and each code is mapped to its HCUP CCS category for the auxiliary task. Patients never
# cross splits.

# %% tags=["parameters"]
source = "synthetic"
raw_dir = "data/raw"
synthetic_format = "mimic3"
cohort_dir = "data/cohort"
code_system = "icd9"
figures_dir = "reports/figures"
metrics_dir = "reports/metrics"
label_setting = "top50"
top_k = 300
text_norm = "caml"
split = "stratified"
split_ratios = [0.8, 0.1, 0.1]
stratify_labels = 100
split_seed = 0
caml_splits_dir = None
caml_splits_download = False
edin_splits_dir = None
ccs_px_file = None
ccs_px_fallback = None
ccsr_dx_file = None
ccsr_px_file = None
max_skip_share = {"default": 0.2}

# %%
import pandas as pd

from mbrnn import cohort, plots
from mbrnn.pipeline import goto_project_root

goto_project_root()
summary = cohort.run_stage({
    "data": {"source": source, "raw_dir": raw_dir, "synthetic_format": synthetic_format},
    "cohort": {k: v for k, v in globals().items() if k in cohort.CohortConfig.__dataclass_fields__},
    "reports": {"metrics_dir": metrics_dir},
})

# %% [markdown]
# ## The cohort at a glance

# %%
pd.DataFrame({"admissions": summary["admissions"], "patients": summary["patients"]})

# %%
pd.DataFrame({k: summary[k] for k in ("tokens_per_admission", "labels_per_admission", "ccs_per_admission")})

# %% [markdown]
# Rows that did not make it into the cohort, and why (nothing is dropped silently):

# %%
pd.Series(summary["skipped"], name="rows").to_frame()

# %% [markdown]
# ## The long tail of codes
# Every code of the cohort, whatever the label setting: a few codes are assigned to a large share of admissions
# while most codes are rare, the imbalance the balanced (focal) loss of MBRNN is meant to address.

# %%
counts = pd.read_csv(f"{cohort_dir}/code_counts.csv", dtype={"code": str})  # every code, not only the labels
fig = plots.plot_code_frequency(counts.set_index("code")["train_count"])
plots.show(plots.save_figure(fig, figures_dir, "code_frequency")["png"], plots.CAPTIONS["code_frequency"])

# %% [markdown]
# The patient overlap between splits is **0** by construction; codes seen in dev/test but never in training are
# the "unseen" bucket of the error analysis.

# %%
assert summary["patient_overlap_between_splits"] == 0
summary["codes_unseen_in_train"]
