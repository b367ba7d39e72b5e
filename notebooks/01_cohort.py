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
# Discharge summaries of MIMIC-III v1.4 or MIMIC-IV (or the embedded synthetic cohort in either format) are joined
# with the admission's ICD-9 or ICD-10 diagnosis and procedure codes (`cohort.code_system`). Report and addenda are
# concatenated in chart order, rows marked ISERROR are excluded, codes are dotted as strings (ICD-9 procedure codes
# keep their leading zeros) and de-duplicated, and each code is mapped to its coarse category for the auxiliary
# task: HCUP CCS for ICD-9, CCSR for ICD-10. Patients never cross splits.

# %% tags=["parameters"]
params = None  # this stage's keys of params.yaml (dvc.yaml `params:`), injected by DVC; None: read from params.yaml

# %%
import pandas as pd

from mbrnn import codesystem, cohort, plots
from mbrnn.runner import goto_project_root, stage_params

goto_project_root()
params = stage_params("cohort", params)
summary = cohort.run_stage(params)
system, figures_dir = codesystem.from_summary(summary), params["reports"]["figures_dir"]

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
counts = pd.read_csv(f"{params['cohort']['cohort_dir']}/code_counts.csv", dtype={"code": str})  # every code, not only the labels
fig = plots.plot_code_frequency(counts.set_index("code")["train_count"], system=system)
plots.show(plots.save_figure(fig, figures_dir, "code_frequency")["png"], plots.caption("code_frequency", system))

# %% [markdown]
# The patient overlap between splits is **0** by construction; codes seen in dev/test but never in training are
# the "unseen" bucket of the error analysis.

# %%
assert summary["patient_overlap_between_splits"] == 0
summary["codes_unseen_in_train"]
