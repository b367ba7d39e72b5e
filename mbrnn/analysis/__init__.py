"""Frequency-bucketed error analysis on SAVED predictions (never retrains), one module per idea:

- ``predictions``: load a model's predictions npz and the label CSV's training counts; align every model on one
  gold code universe;
- ``buckets``: frequency-bucket edges (absolute or ``auto``), the (bucket, model) table, per-code F1;
- ``trends``: F1 against training frequency and against the document (binned bootstrap CIs, Spearman);
- ``significance``: McNemar on rare and common codes (groups absolute or ``auto``);
- ``seeds``: seeds, per-seed metrics, convergence, when a difference over seeds is a finding;
- ``paper``: the paper's tables (main results, ablations, ICD vs auxiliary task, focal vs BCE), in percent;
- ``published``: MBRNN's published MIMIC-III numbers, Edin et al.'s MIMIC-IV ICD-10 numbers.

This package re-exports their public names, so ``from mbrnn import analysis; analysis.bucket_table(...)`` works;
how tables look for a reader (headers, percent, p-value text) is :mod:`mbrnn.tables`.

Inputs are the contracts of docs/architecture.md: ``data/models/<name>/{dev,test}.npz``, the cohort's
``icd_labels.csv`` (training counts) and a split parquet (gold codes, note length). Every function is pure
on arrays / DataFrames and every choice that changes a number is an argument.

Conventions (used throughout):
- every score is computed by :mod:`mbrnn.metrics` (``label_metrics``, ``per_label_counts``, ``per_label_prf``,
  ``mean``): one metric name, one definition, in every table. In particular ``macro_f1`` is always CAML's
  (harmonic mean of macro-P and macro-R over all codes of the group) and ``macro_f1_mean`` the mean of the
  per-label F1; tables name them ``Macro-F1 (CAML)`` and ``Macro-F1 (per-label mean)``;
- a code is predicted when ``prob >= threshold``;
- the gold standard is the union of all codes of the test set (``gold``, from the split parquet) and the
  model's label set; a test code outside a model's label set is never predicted (score 0), so each of its
  occurrences is a false negative (this is what separates ``full`` from ``top_k`` models); its constant score
  gives it a per-label AUC of 0.5;
- a group's macro scores average over every code of the group in the gold universe, as the main table does over
  the label set, so the ``all`` row of a bucket table equals ``metrics.evaluate`` on the saved predictions when
  the gold universe is the model's label set;
- frequency buckets and the McNemar rare/common groups are either absolute (the paper's edges, for MIMIC-scale
  runs) or ``auto``: quantiles of this cohort's training counts, so that every group holds codes;
- seeds: the primary seed (first of ``train.seeds``) is in ``<models_dir>/<name>/``, seed s in
  ``<models_dir>/<name>/seed-<s>/``; paired tests use the primary seed, tables over seeds give mean ± SD, and a
  difference within the spread over seeds (|Δ| <= SD_a + SD_b) is never called a finding;
- analysis frames hold fractions in [0, 1]; the paper-style tables (``results_table`` ...) are in percent;
- codes are opaque strings: nothing here assumes ICD-9's shape (dots, V/E prefixes), so ICD-10-CM/PCS with
  CCSR work alike; the code system's name for titles comes from :mod:`mbrnn.codesystem`.
"""

from mbrnn.analysis.buckets import (DEFAULT_EDGES, PAPER_EDGES, SCORE_KEYS, assign_buckets, auto_edges,
                                    bucket_names, bucket_table, describe_edges, empty_buckets, per_code_f1,
                                    resolve_edges)
from mbrnn.analysis.paper import ablation_table, focal_vs_bce, results_table, task_table
from mbrnn.analysis.predictions import (Gold, Predictions, align, load_predictions, load_train_counts, make_gold,
                                        predictions_path)
from mbrnn.analysis.published import PUBLISHED_EDIN_ICD10, PUBLISHED_MBRNN, PUBLISHED_MBRNN_CCS, published_for
from mbrnn.analysis.seeds import beyond_spread, convergence, convergence_label, per_seed, seeds_of
from mbrnn.analysis.significance import (PAPER_COMMON_MIN, PAPER_RARE_MAX, auto_groups, mcnemar,
                                         mcnemar_by_frequency, mcnemar_table, resolve_groups)
from mbrnn.analysis.trends import binned_mean_sd, f1_vs_document, f1_vs_frequency, per_document_f1, spearman

__all__ = [
    "DEFAULT_EDGES", "PAPER_EDGES", "SCORE_KEYS", "assign_buckets", "auto_edges", "bucket_names", "bucket_table",
    "describe_edges", "empty_buckets", "per_code_f1", "resolve_edges",
    "ablation_table", "focal_vs_bce", "results_table", "task_table",
    "Gold", "Predictions", "align", "load_predictions", "load_train_counts", "make_gold", "predictions_path",
    "PUBLISHED_EDIN_ICD10", "PUBLISHED_MBRNN", "PUBLISHED_MBRNN_CCS", "published_for",
    "beyond_spread", "convergence", "convergence_label", "per_seed", "seeds_of",
    "PAPER_COMMON_MIN", "PAPER_RARE_MAX", "auto_groups", "mcnemar", "mcnemar_by_frequency", "mcnemar_table",
    "resolve_groups",
    "binned_mean_sd", "f1_vs_document", "f1_vs_frequency", "per_document_f1", "spearman",
]
