"""Build the coding cohort from MIMIC-III v1.4 or MIMIC-IV v2.2 tables (real or synthetic): one code path for all.

Steps (the paper's data section, done right), each a function below:
1. read: discharge summaries (MIMIC-III: CATEGORY ``Discharge summary``, ISERROR rows excluded; MIMIC-IV:
   ``note/discharge``), report and addenda concatenated per admission in chart order; diagnosis and procedure
   codes read as strings, dotted, de-duplicated per admission, both labels (:mod:`mbrnn.code_tables`; MIMIC-IV:
   the admissions coded in ``cohort.code_system``, :mod:`mbrnn.mimic4`);
2. select: admissions with both a summary and codes; split (patient-level, or published lists);
3. label: setting ``full`` (every code) or ``top_k`` (the ``top_k`` most frequent; admissions without one dropped);
4. CCS: the auxiliary task's categories of each admission's labels (ICD-9: HCUP CCS; ICD-10: HCUP CCSR,
   :mod:`mbrnn.ccsr`; the files keep the names ``ccs_labels.csv`` and ``ccs_codes`` under both);
5. write: parquet per split, label vocabularies, a summary (DVC metrics).

Bad input never passes silently: a missing file or column, a truncated gzip or a table of the wrong type
raises an error naming the file and the fix; garbled rows, non-UTF-8 text, empty notes, null or malformed
codes are skipped and counted in the summary, and a cause that loses more than ``cohort.max_skip_share`` of its
input, or an empty cohort, is an error (:mod:`mbrnn.skips`). Messages never quote a field's content.
NOTEEVENTS is streamed by :mod:`mbrnn.noteevents`; the raw folder is found and checked by :mod:`mbrnn.raw`.
"""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import code_tables, io, mimic4, splits
from . import codes
from .ccsr import CCSRMapper
from .config import CohortConfig, DataConfig, limits as loss_limits
from .noteevents import (DISCHARGE, NoteTexts, WorkerDiedError, discharge_records,  # noqa: F401 (re-exported)
                         read_discharge_summaries, result, submit, worker_pool, _runs)
from .raw import PHYSIONET, TABLES, CohortInputError, check_raw_dir, columns_of, gzip_error, table_path  # noqa: F401
from .skips import DEFAULT_LIMITS, CohortLossError, Skips, check_not_empty  # noqa: F401

LABEL_SETTINGS = ("full", "top_k")
read_codes, read_descriptions = code_tables.read_codes, code_tables.read_descriptions  # re-exported


# --- cohort -----------------------------------------------------------------------------------------------

def select_labels(label_lists: pd.Series, setting: str, top_k: int = 50) -> list[str]:
    """Label vocabulary: every code (``full``) or the ``top_k`` most frequent (``top_k``), ties by code."""
    if setting not in LABEL_SETTINGS:
        raise ValueError(f"unknown label setting {setting!r}; choose one of {LABEL_SETTINGS} (params.yaml: cohort.label_setting)")
    counts = label_lists.explode().value_counts()
    order = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    chosen = [c for c, _ in order] if setting == "full" else [c for c, _ in order[:top_k]]
    return sorted(chosen)


def _quantiles(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {}
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"p05": float(q[0]), "p25": float(q[1]), "median": float(q[2]), "p75": float(q[3]),
            "p95": float(q[4]), "max": float(np.max(x)), "mean": round(float(np.mean(x)), 2)}


def run_stage(params: dict, progress: bool = False) -> dict:
    """The cohort stage: ``params`` holds the stage's keys of params.yaml (``data``: source, raw_dir,
    synthetic_format; ``cohort``: the whole section; ``reports``: metrics_dir), checked once; returns the summary,
    written to ``<metrics_dir>/cohort.json``."""
    data = DataConfig.of(params.get("data", {}))
    cfg = CohortConfig.from_params(params)
    return build_cohort(cfg, data, summary_path=Path(params["reports"]["metrics_dir"]) / "cohort.json",
                        progress=progress)


def build_cohort(cfg: CohortConfig, data: DataConfig, *, summary_path: str | Path | None = None,
                 workers: int | None = None, progress: bool = True) -> dict:
    """Build the cohort from ``data.raw_dir`` into ``cfg.cohort_dir`` (see docs/architecture.md); returns the
    summary (written to ``summary_path``, or into the cohort folder when None).

    The configs validated themselves; what depends on both is checked before any data is read. A cohort that is
    empty, or that loses more than ``max_skip_share`` of a cause's input to it, is a :class:`CohortLossError`;
    the folder is replaced in one step (:func:`io.atomic_dir`), so a failure or an interruption leaves the
    previous cohort as it was. ``workers`` processes normalise the text (default: every core); the result does
    not depend on it.
    """
    cfg.check_with(data.source, data.format)
    limits = loss_limits(cfg.max_skip_share)
    mapper = _aux_mapper(cfg)
    paths = check_raw_dir(data.raw_dir, data.format)
    skips = Skips()
    notes, texts, code_rows, descriptions = _read_inputs(paths, cfg, data.format, skips, limits, workers, progress)
    not_described = _codes_not_described(code_rows, descriptions, cfg.code_system)
    cohort, split_report = _select(notes, code_rows, cfg, data, skips, limits)
    counts_all = _code_counts(cohort)
    labels = select_labels(cohort["codes_all"], cfg.label_setting, cfg.top_k)
    cohort = _restrict_to_labels(cohort, labels, cfg.label_setting, skips, limits)
    label_df, ccs_df = _label_tables(cohort, labels, descriptions, mapper, cfg.code_system)
    settings = dict(source=data.source, code_system=cfg.code_system, label_setting=cfg.label_setting,
                    text_norm=cfg.text_norm, split=cfg.split, ccs_px_source=mapper.px_source, seed=cfg.split_seed)
    if cfg.code_system == "icd10":
        settings |= dict(aux_labels="ccsr", ccsr_dx_source=mapper.dx_source)
    out_dir = Path(cfg.cohort_dir)
    with io.atomic_dir(out_dir) as tmp:
        per_split = _write(tmp, cohort, texts, label_df, ccs_df, counts_all)
        summary = summarise(per_split, label_df, ccs_df, skips, not_described, settings, cfg.code_system)
        summary |= {"edin_split": split_report} if split_report else {}
        if summary_path is None:
            io.write_json(tmp / "cohort_summary.json", summary)
    if summary_path is not None:
        io.write_json(summary_path, summary)
    return summary


def _aux_mapper(cfg: CohortConfig):
    """The auxiliary task's mapper: CCS for ICD-9, CCSR for ICD-10."""
    if cfg.code_system == "icd10":
        return CCSRMapper(cfg.ccsr_dx_file, cfg.ccsr_px_file)
    return codes.CCSMapper(cfg.ccs_px_file)


def _read_inputs(paths: dict[str, Path], cfg: CohortConfig, layout: str, skips: Skips, limits: dict, workers,
                 progress: bool):
    """Discharge summaries (streamed once) and the code tables, read side by side; skips checked against limits."""
    notes_path = paths[mimic4.NOTES if layout == "mimic4" else "NOTEEVENTS"]
    with worker_pool(workers, notes_path) as pool:
        # While the notes stream, a worker reads the code tables first, and a thread imports the split's library.
        if layout == "mimic4":
            code_tables_done = submit(pool, mimic4.read_code_tables, paths, cfg.code_system)
        else:
            code_tables_done = submit(pool, code_tables.read_code_tables, paths)
        if pool and cfg.split == "stratified":
            threading.Thread(target=splits.load_stratifier, daemon=True).start()
        read = mimic4.read_discharge if layout == "mimic4" else read_discharge_summaries
        notes, texts = read(notes_path, skips, cfg.text_norm, pool, progress, limits=limits)
        code_rows, descriptions, code_skips, left_out = result(pool, code_tables_done)
    skips.merge(code_skips)
    notes["text_row"] = np.arange(len(notes))  # the texts stay in `texts` until written
    if layout == "mimic4":
        notes = _drop_left_out(notes, left_out, skips)
    skips.check(limits)
    return notes, texts, code_rows, descriptions


def _drop_left_out(notes: pd.DataFrame, left_out: np.ndarray, skips: Skips) -> pd.DataFrame:
    """Summaries of admissions the code system leaves out (MIMIC-IV: coded in the other ICD version, or in both):
    a selection by design, counted apart, so they are not mistaken for summaries without codes."""
    out = notes["hadm_id"].isin(left_out).to_numpy()
    skips.add("summaries_of_admissions_in_other_icd_version", int(out.sum()))
    return notes[~out].reset_index(drop=True)


def _codes_not_described(code_rows: pd.DataFrame, descriptions: dict, system: str) -> tuple[list[str], list[str]]:
    """Codes missing from D_ICD_*, and those of them unknown to the release's dictionary too (both reported)."""
    distinct = code_rows[["code", "kind"]].drop_duplicates()
    not_in_d_icd = sorted(c for c, k in zip(distinct["code"], distinct["kind"]) if codes.undot(c) not in descriptions[k])
    unknown = [c for c in not_in_d_icd if codes.undot(c) not in code_tables.release_descriptions(codes.kind_of(c), system)]
    return not_in_d_icd, unknown


def _select(notes, code_rows, cfg: CohortConfig, data: DataConfig, skips: Skips, limits: dict):
    """Admissions with a summary and codes, each given its split (those outside published lists dropped); and
    the Edin et al. split's sizes (None for other splits)."""
    cohort = _join_codes(notes, code_rows, skips, limits)
    fold, report = _folds(cohort, cfg, data, skips)
    cohort["fold"] = fold
    return cohort[cohort["fold"] >= 0], report


def _restrict_to_labels(cohort: pd.DataFrame, labels: list[str], setting: str, skips: Skips, limits: dict) -> pd.DataFrame:
    """``icd_codes``: each admission's labels; admissions left without one dropped, counted and limited; every
    split must keep an admission."""
    label_set = set(labels)
    cohort["icd_codes"] = [sorted(c for c in adm if c in label_set) for adm in cohort["codes_all"]]
    no_label = cohort["icd_codes"].map(len) == 0
    skips.add(f"admissions_without_{setting}_code", no_label.sum(), of=len(cohort))
    cohort = cohort[~no_label].reset_index(drop=True)
    skips.check(limits)
    for k, name in enumerate(splits.SPLITS):
        check_not_empty(int((cohort["fold"] == k).sum()), f"{name} admissions", skips)
    return cohort


def _join_codes(notes: pd.DataFrame, code_rows: pd.DataFrame, skips: Skips, limits: dict) -> pd.DataFrame:
    """Admissions with a summary and codes (``codes_all``: every code), summaries empty once normalised dropped."""
    hadm, code_array = code_rows["hadm_id"].to_numpy(), code_rows["code"].to_numpy(dtype=object)  # sorted by hadm_id
    bounds = _runs(hadm)
    per_adm = pd.Series([code_array[a:b].tolist() for a, b in zip(bounds[:-1], bounds[1:])], index=hadm[bounds[:-1]], dtype=object)
    with_codes = notes["hadm_id"].isin(per_adm.index)
    skips.add("summaries_without_codes", (~with_codes).sum(), of=len(notes))
    skips.add("coded_admissions_without_summary", (~per_adm.index.isin(notes["hadm_id"])).sum(), of=len(per_adm))
    skips.hints["summaries_without_codes"] = skips.hints["coded_admissions_without_summary"] = (
        "NOTEEVENTS and DIAGNOSES_ICD/PROCEDURES_ICD share few HADM_IDs: are they from the same MIMIC-III release?")
    cohort = notes[with_codes].reset_index(drop=True)
    cohort["codes_all"] = per_adm.loc[cohort["hadm_id"]].to_numpy()
    empty = cohort["n_tokens"] == 0
    skips.add("summaries_empty_after_normalisation", empty.sum(), of=len(cohort))
    skips.check(limits)
    check_not_empty(int((~empty).sum()), "admission with both a discharge summary and codes", skips)
    return cohort[~empty].reset_index(drop=True)


def _folds(cohort: pd.DataFrame, cfg: CohortConfig, data: DataConfig, skips: Skips) -> tuple[np.ndarray, dict | None]:
    """0 (train), 1 (dev), 2 (test) or -1 (not in the published lists) per admission; the Edin split's sizes."""
    if cfg.split == "stratified":
        return splits.stratified_split(cohort["subject_id"].to_numpy(), cohort["codes_all"].tolist(),
                                       tuple(cfg.split_ratios), cfg.split_seed, cfg.stratify_labels), None
    if cfg.split == "caml":
        ids = splits.read_caml_splits(cfg.caml_splits_dir, cfg.label_setting, cfg.caml_splits_download)
        return _listed_folds(cohort, ids, "caml", "CAML split lists", cfg.caml_splits_dir, data, skips), None
    ids, report = splits.read_edin_splits(cfg.edin_splits_dir, cfg.code_system)
    if data.source == "mimic4" and not report["matches_published"]:
        raise CohortInputError(
            f"{cfg.edin_splits_dir}/{report['file']}: lists {report['listed']} admissions per split, but Edin et al. "
            f"publish {report['published']}: not their file for cohort.code_system {cfg.code_system}?")
    return _listed_folds(cohort, ids, "edin", "Edin et al. split file", cfg.edin_splits_dir, data, skips), report


def _listed_folds(cohort: pd.DataFrame, ids: dict, name: str, what: str, where, data: DataConfig, skips: Skips):
    """Folds from published lists of HADM_IDs per split; what they list but the cohort lacks, and the reverse,
    counted (``<name>_listed_admissions_not_in_cohort`` limited, ``cohort_admissions_not_in_<name>_...`` not)."""
    fold = np.full(len(cohort), -1)
    for k, split in enumerate(splits.SPLITS):
        fold[cohort["hadm_id"].isin(ids[split]).to_numpy()] = k
    listed = np.concatenate(list(ids.values()))
    skips.add(f"{name}_listed_admissions_not_in_cohort", (~np.isin(listed, cohort["hadm_id"])).sum(), of=len(listed))
    skips.add("cohort_admissions_not_in_caml_lists" if name == "caml" else "cohort_admissions_not_in_edin_split",
              (fold < 0).sum())
    if (fold >= 0).sum() == 0:
        fits = "real MIMIC-III" if name == "caml" else "real MIMIC-IV"
        raise CohortInputError(
            f"none of the admissions in {data.raw_dir} appear in the {what} in {where}: "
            f"the {what} only fit {fits}; use cohort.split: stratified for other data."
        )
    return fold


def _code_counts(cohort: pd.DataFrame) -> pd.DataFrame:
    """Every code's count per split, most frequent in train first."""
    counts_all = pd.DataFrame({
        name: cohort.loc[cohort["fold"] == k, "codes_all"].explode().value_counts()
        for k, name in enumerate(splits.SPLITS)
    }).fillna(0).astype(np.int64).rename(columns=lambda c: f"{c}_count")
    counts_all = counts_all.rename_axis("code").reset_index().sort_values(["train_count", "code"], ascending=[False, True])
    counts_all.insert(1, "kind", counts_all["code"].map(codes.kind_of))
    return counts_all


def _label_tables(cohort: pd.DataFrame, labels: list[str], descriptions: dict, mapper,
                  system: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ICD and CCS (ICD-10: CCSR) label vocabularies with their training counts; sets
    ``cohort["ccs_codes"]``. A label with several categories (``;``-joined in icd_labels.csv) gets all."""
    label_df = codes.label_table(labels, descriptions, mapper, lambda kind: code_tables.release_descriptions(kind, system))
    ccs_of = {code: [c for c in ccs.split(";") if c] for code, ccs in zip(label_df["code"], label_df["ccs"])}
    cohort["ccs_codes"] = [sorted({c for code in adm for c in ccs_of[code]}) for adm in cohort["icd_codes"]]
    train = cohort[cohort["fold"] == 0]
    icd_train = train["icd_codes"].explode().value_counts()
    label_df["train_count"] = label_df["code"].map(icd_train).fillna(0).astype(np.int64)
    ccs_labels = sorted({c for cats in ccs_of.values() for c in cats})
    ccs_train = train["ccs_codes"].explode().value_counts()
    ccs_df = pd.DataFrame({
        "code": ccs_labels,
        "kind": [c.split(":")[0] for c in ccs_labels],
        "description": [mapper.describe(c) for c in ccs_labels],
        "train_count": [int(ccs_train.get(c, 0)) for c in ccs_labels],
    })
    return label_df, ccs_df


def _write(out_dir: Path, cohort, texts: NoteTexts, label_df, ccs_df, counts_all) -> dict[str, pd.DataFrame]:
    """The split parquets (texts assembled now), label vocabularies and code counts; returns the splits."""
    columns = ["subject_id", "hadm_id", "text", "n_tokens", "icd_codes", "ccs_codes"]
    per_split = {}
    with ThreadPoolExecutor(len(splits.SPLITS)) as writers:  # pyarrow writes without the GIL: overlap them
        written = []
        for k, name in enumerate(splits.SPLITS):
            part = cohort.loc[cohort["fold"] == k].sort_values("hadm_id").reset_index(drop=True)
            part = part.assign(text=texts.column(part["text_row"].to_numpy()))[columns]
            written.append(writers.submit(io.write_parquet, out_dir / f"{name}.parquet", part))
            per_split[name] = part
        for w in written:
            w.result()
    io.write_csv(out_dir / "icd_labels.csv", label_df[["code", "kind", "description", "train_count", "ccs"]])
    io.write_csv(out_dir / "ccs_labels.csv", ccs_df)
    io.write_csv(out_dir / "code_counts.csv", counts_all)  # every code, whatever the label setting
    return per_split


def summarise(per_split, label_df, ccs_df, skips, not_described, settings, system: str = "icd9") -> dict:
    """The cohort's vital statistics, reported as DVC metrics (``not_described``: codes missing from D_ICD, and
    those of them unknown to the release's dictionary too)."""
    not_in_d_icd, unknown_codes = not_described
    no_ccs = label_df.loc[label_df["ccs"] == "", "code"].tolist()
    seen = {k: set(itertools.chain.from_iterable(v["icd_codes"])) for k, v in per_split.items()}
    subjects = {k: set(v["subject_id"]) for k, v in per_split.items()}
    names = list(per_split)
    overlap = sum(len(subjects[a] & subjects[b]) for i, a in enumerate(names) for b in names[i + 1:])
    allp = pd.concat([v.drop(columns="text") for v in per_split.values()], ignore_index=True)
    return {
        "settings": settings,
        "admissions": {k: int(len(v)) for k, v in per_split.items()} | {"total": int(len(allp))},
        "patients": {k: len(s) for k, s in subjects.items()} | {"total": int(allp["subject_id"].nunique())},
        "patient_overlap_between_splits": int(overlap),
        "tokens_per_admission": _quantiles(allp["n_tokens"].to_numpy()),
        "labels_per_admission": _quantiles(allp["icd_codes"].map(len).to_numpy()),
        "ccs_per_admission": _quantiles(allp["ccs_codes"].map(len).to_numpy()),
        "n_icd_labels": int(len(label_df)),
        "n_icd_labels_by_kind": {k: int(v) for k, v in label_df["kind"].value_counts().sort_index().items()},
        "n_ccs_labels": int(len(ccs_df)),
        "distinct_codes": {k: len(c) for k, c in seen.items()},
        "codes_unseen_in_train": {k: len(c - seen["train"]) for k, c in seen.items() if k != "train"},
        "labels_without_ccs": {"count": len(no_ccs), "examples": no_ccs[:10]},
        "codes_missing_from_d_icd": {"count": len(not_in_d_icd), "examples": not_in_d_icd[:10]},
        f"codes_unknown_to_{code_tables.RELEASE[system]}": {"count": len(unknown_codes), "examples": unknown_codes[:10]},
        "skipped": dict(sorted(skips.counts.items())),
    }
