"""Build the coding cohort from MIMIC-III v1.4 tables (real or synthetic): one code path for both.

Steps (the paper's data section, done right):
1. discharge summaries (CATEGORY ``Discharge summary``), ISERROR rows excluded, report and addenda concatenated
   per admission in chart order;
2. diagnosis and procedure codes read as strings, dotted, de-duplicated per admission; both are labels;
3. label setting ``full`` (every code) or ``top50`` (the 50 most frequent; admissions without one dropped);
4. patient-level split; CCS categories of each admission's labels for the multitask branch;
5. parquet per split, label vocabularies, a summary (DVC metrics).

Bad input never passes silently: a missing file or column, a truncated gzip or a table of the wrong type
raises an error naming the file and the fix; garbled rows, non-UTF-8 text, empty notes, null or malformed
codes are skipped and counted in the summary, and a cause that loses more than ``cohort.max_skip_share`` of its
input, or an empty cohort, is an error (:mod:`mbrnn.skips`). Messages never quote a field's content.
NOTEEVENTS is streamed by :mod:`mbrnn.noteevents`; the raw folder is found and checked by :mod:`mbrnn.raw`.
"""

from __future__ import annotations

import itertools
import re
import threading
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

from . import codes as icd
from . import io, splits
from .config import CohortConfig, limits as loss_limits
from .noteevents import (DISCHARGE, NoteTexts, WorkerDiedError, discharge_records,  # noqa: F401 (re-exported)
                         read_discharge_summaries, result, submit, worker_pool, _runs)
from .raw import PHYSIONET, TABLES, CohortInputError, check_raw_dir, columns_of, gzip_error, table_path  # noqa: F401
from .skips import DEFAULT_LIMITS, CohortLossError, Skips, check_not_empty  # noqa: F401

LABEL_SETTINGS = ("full", "top50")


def _read_table(path: Path, table: str, columns: list[str], dtype=str) -> tuple[pd.DataFrame, list[int]]:
    """``columns`` of a raw table, found by name in any order and case (see :func:`raw.columns_of`), and the line
    numbers of the rows the CSV reader skipped because they had more fields than the header (for counting)."""
    names = columns_of(path, table, columns)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", pd.errors.ParserWarning)
            # every column read (no usecols): only then does the parser see rows with too many fields
            df = pd.read_csv(path, header=0, names=names, index_col=False, dtype=dtype, keep_default_na=False, na_values=[""],
                             on_bad_lines="warn", engine="c")[columns]
    except (OSError, EOFError, zlib.error) as e:
        raise gzip_error(path, e) from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CohortInputError(f"{path}: not a readable MIMIC-III table ({type(e).__name__}; row content not "
                               f"shown); is it unmodified from {PHYSIONET}?") from None
    if any("Length of header or names does not match" in str(w.message) for w in caught):  # the first data row
        raise CohortInputError(f"{path}: line 2 has more fields than the header's {len(names)} columns (row "
                               f"content not shown); is it unmodified from {PHYSIONET}?")
    # pandas says "Skipping line N: expected X fields, saw Y" (numbers only, never the row's content)
    bad = [int(n) for w in caught if issubclass(w.category, pd.errors.ParserWarning)
           for n in re.findall(r"Skipping line (\d+)", str(w.message))]
    return df, bad


def _ids(df: pd.DataFrame, path: Path, skips: Skips, table: str) -> pd.DataFrame:
    """Rows with integer SUBJECT_ID and HADM_ID (parsed as numbers by the CSV reader where they all are)."""
    ids = df[["SUBJECT_ID", "HADM_ID"]].apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c, errors="coerce"))
    bad = ids.isna().any(axis=1) | (ids % 1 != 0).any(axis=1)
    if len(df) and bad.mean() > 0.01:
        first = int(np.flatnonzero(bad.to_numpy())[0]) + 2  # line numbers count the header as line 1
        column = "SUBJECT_ID" if pd.isna(ids["SUBJECT_ID"].iloc[first - 2]) else "HADM_ID"
        raise CohortInputError(
            f"{path}: {int(bad.sum())} of {len(df)} rows have a non-integer SUBJECT_ID/HADM_ID (first: column "
            f"{column}, line {first}): wrong column types — is this an unmodified MIMIC-III table?"
        )
    skips.add(f"{table.lower()}_rows_bad_ids", bad.sum(), of=len(df))
    return df[~bad].assign(SUBJECT_ID=ids["SUBJECT_ID"][~bad].astype(np.int64),
                           HADM_ID=ids["HADM_ID"][~bad].astype(np.int64))


def read_codes(paths: dict[str, Path], skips: Skips, dictionary: dict[str, set] | None = None) -> pd.DataFrame:
    """Diagnosis and procedure codes: columns subject_id, hadm_id, code (dotted), kind; one row per admission+code.

    Codes are strings, undotted as MIMIC-III stores them or already dotted at the right place for their kind;
    with ``dictionary`` (kind → known undotted codes) the rows whose code it lacks are counted for the limit check
    (``<table>_unknown_codes``), with a hint when they look like the other kind or like codes that lost their
    leading zeros."""
    frames = []
    for table, kind in (("DIAGNOSES_ICD", icd.DX), ("PROCEDURES_ICD", icd.PX)):
        path, prefix = paths[table], table.lower()
        df, bad_lines = _read_table(path, table, ["SUBJECT_ID", "HADM_ID", "ICD9_CODE"], {"ICD9_CODE": object})
        skips.add(f"{prefix}_rows_malformed", len(bad_lines), of=len(df) + len(bad_lines))
        if bad_lines:
            skips.hints[f"{prefix}_rows_malformed"] = (f"{path}: rows with more fields than the header (first: line "
                                                       f"{bad_lines[0]}); is the file unmodified?")
        df = _ids(df, path, skips, table)
        rows = len(df)
        # Clean, validate and dot each distinct code once (MIMIC-III: ~900k rows, ~9k distinct codes).
        cleaned = df["ICD9_CODE"].map({c: c.strip().upper() for c in df["ICD9_CODE"].dropna().unique()})
        null = (cleaned.isna() | (cleaned == "")).to_numpy()
        skips.add(f"{prefix}_null_codes", null.sum(), of=rows)
        df, cleaned = df[~null], cleaned[~null]
        dotted = cleaned.map({c: d for c in cleaned.unique() if (d := _dotted(c, kind))})
        valid = dotted.notna().to_numpy()
        skips.add(f"{prefix}_malformed_codes", (~valid).sum(), of=rows)
        if dictionary is not None:
            _check_dictionary(cleaned, valid, dotted, kind, dictionary, skips, f"{path}, column ICD9_CODE", prefix, rows)
        df, dotted = df[valid], dotted[valid]
        frames.append(pd.DataFrame({
            "subject_id": df["SUBJECT_ID"].to_numpy(), "hadm_id": df["HADM_ID"].to_numpy(),
            "code": pd.Series(dotted.to_numpy(), dtype=object), "kind": kind,  # objects: iterated below
        }))
    codes = pd.concat(frames, ignore_index=True)
    dup = codes.duplicated(["hadm_id", "code"])
    skips.add("duplicate_code_rows", dup.sum(), of=len(codes))
    return codes[~dup].sort_values(["hadm_id", "code"], kind="stable").reset_index(drop=True)


def _dotted(code: str, kind: str) -> str | None:
    """The dotted label of an undotted code, or of one already dotted where its kind puts the dot; else None."""
    bare = icd.undot(code)
    if not icd.is_valid(bare, kind):
        return None
    dotted = icd.format_icd9(bare, kind)
    return dotted if "." not in code or code == dotted else None


def _check_dictionary(cleaned, valid, dotted, kind, dictionary, skips: Skips, where: str, prefix: str, rows: int):
    """Count rows whose code is malformed or unknown to ``dictionary``; hint at the likely cause of many."""
    other = icd.PX if kind == icd.DX else icd.DX
    known = {c: icd.undot(c) in dictionary[kind] for c in cleaned[valid].unique()}
    unknown = valid & ~cleaned.map(known).fillna(False).to_numpy(dtype=bool)
    skips.checked[f"{prefix}_unknown_codes"] = int(unknown.sum())
    skips.of[f"{prefix}_unknown_codes"] = rows
    odd = pd.Series(cleaned[unknown | ~valid].unique())
    as_other = int(sum(_dotted(c, other) is not None and icd.undot(c) in dictionary[other] for c in odd))
    unpadded = int(sum(any(p + icd.undot(c) in dictionary[kind] for p in ("0", "00")) for c in odd))
    dotted_wrong = int(sum("." in c for c in odd))
    name = {icd.DX: "diagnosis", icd.PX: "procedure"}
    hint = (f"{where}: of {len(odd)} distinct malformed or unknown codes, {as_other} are {name[other]} codes "
            f"(the other table given here?), {unpadded} are known once leading zeros are restored (codes read as "
            f"numbers?), {dotted_wrong} carry a dot where a {name[kind]} code has none.")
    skips.hints[f"{prefix}_unknown_codes"] = skips.hints[f"{prefix}_malformed_codes"] = hint


def _read_code_tables(paths: dict[str, Path]) -> tuple[pd.DataFrame, dict, Skips]:
    skips = Skips()
    descriptions = read_descriptions(paths)
    dictionary = {kind: set(d) | set(icd.cms_descriptions(kind)) for kind, d in descriptions.items()}
    return read_codes(paths, skips, dictionary), descriptions, skips


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    out = {}
    for table, kind in (("D_ICD_DIAGNOSES", icd.DX), ("D_ICD_PROCEDURES", icd.PX)):
        df, bad_lines = _read_table(paths[table], table, ["ICD9_CODE", "LONG_TITLE"])
        if bad_lines:
            raise CohortInputError(f"{paths[table]}: {len(bad_lines)} rows have more fields than the header (first: "
                                   f"line {bad_lines[0]}); is it unmodified from {PHYSIONET}?")
        df = df.dropna(subset=["ICD9_CODE"])
        out[kind] = dict(zip(df["ICD9_CODE"].str.strip(), df["LONG_TITLE"].fillna("")))
    return out


# --- cohort -----------------------------------------------------------------------------------------------

def select_labels(label_lists: pd.Series, setting: str, top_k: int = 50) -> list[str]:
    """Label vocabulary: every code (``full``) or the ``top_k`` most frequent (``top50``), ties by code."""
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


def build_cohort(
    raw_dir: str | Path,
    out_dir: str | Path,
    *,
    label_setting: str = "full",
    top_k: int = 50,
    text_norm: str = "caml",
    split: str = "stratified",
    split_ratios: tuple[float, float, float] = (0.8, 0.1, 0.1),
    stratify_labels: int = 100,
    seed: int = 0,
    caml_splits_dir: str | Path | None = None,
    caml_splits_download: bool = False,
    ccs_px_file: str | Path | None = None,
    ccs_px_fallback: str | None = None,
    max_skip_share: dict | None = None,
    summary_path: str | Path | None = None,
    source: str = "synthetic",
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build the cohort from ``raw_dir`` into ``out_dir`` (see docs/architecture.md); returns the summary.

    Every parameter is validated (:class:`config.CohortConfig`) before any data is read. A cohort that is empty,
    or that loses more than ``max_skip_share`` of a cause's input to it, is a :class:`CohortLossError`; the
    folder ``out_dir`` is replaced in one step (:func:`io.atomic_dir`), so a failure or an interruption leaves the
    previous cohort as it was. ``workers`` processes normalise the text (default: every core); the result does
    not depend on it.
    """
    cfg = CohortConfig(cohort_dir=str(out_dir), label_setting=label_setting, top_k=top_k, text_norm=text_norm,
                       split=split, split_ratios=split_ratios, stratify_labels=stratify_labels, split_seed=seed,
                       caml_splits_dir=None if caml_splits_dir is None else str(caml_splits_dir),
                       caml_splits_download=caml_splits_download,
                       ccs_px_file=None if ccs_px_file is None else str(ccs_px_file), ccs_px_fallback=ccs_px_fallback,
                       max_skip_share=max_skip_share or DEFAULT_LIMITS, source=source)
    limits = loss_limits(cfg.max_skip_share)
    mapper = icd.CCSMapper(ccs_px_file)
    paths = check_raw_dir(raw_dir)
    skips = Skips()

    notes, texts, code_rows, descriptions = _read_inputs(paths, cfg, skips, limits, workers, progress)
    not_in_d_icd, unknown_codes = _codes_not_described(code_rows, descriptions)

    cohort = _join_codes(notes, code_rows, skips, limits)
    cohort["fold"] = _folds(cohort, cfg, raw_dir, skips)
    cohort = cohort[cohort["fold"] >= 0]
    counts_all = _code_counts(cohort)

    labels = select_labels(cohort["codes_all"], label_setting, top_k)
    cohort = _restrict_to_labels(cohort, labels, label_setting, skips, limits)

    label_df, ccs_df = _label_tables(cohort, labels, descriptions, mapper)
    no_ccs = label_df.loc[label_df["ccs"] == "", "code"].tolist()
    with io.atomic_dir(out_dir) as tmp:
        per_split = _write(tmp, cohort, texts, label_df, ccs_df, counts_all)
        summary = summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs,
                            dict(source=source, label_setting=label_setting, text_norm=text_norm, split=split,
                                 ccs_px_source=mapper.px_source, seed=seed))
        if summary_path is None:
            io.write_json(tmp / "cohort_summary.json", summary)
    if summary_path is not None:
        io.write_json(summary_path, summary)
    return summary


def _read_inputs(paths: dict[str, Path], cfg: CohortConfig, skips: Skips, limits: dict, workers, progress: bool):
    """Discharge summaries (streamed once) and the code tables, read side by side; skips checked against limits."""
    with worker_pool(workers, paths["NOTEEVENTS"]) as pool:
        # While NOTEEVENTS streams, a worker reads the code tables first, and a thread imports the split's library.
        code_tables = submit(pool, _read_code_tables, paths)
        if pool and cfg.split == "stratified":
            threading.Thread(target=splits.load_stratifier, daemon=True).start()
        notes, texts = read_discharge_summaries(paths["NOTEEVENTS"], skips, cfg.text_norm, pool, progress,
                                                limits=limits)
        code_rows, descriptions, code_skips = result(pool, code_tables)
    skips.merge(code_skips)
    skips.check(limits)
    notes["text_row"] = np.arange(len(notes))  # the texts stay in `texts` until written
    return notes, texts, code_rows, descriptions


def _codes_not_described(code_rows: pd.DataFrame, descriptions: dict) -> tuple[list[str], list[str]]:
    """Codes missing from D_ICD_*, and those of them unknown to the CMS v32 dictionary too (both reported)."""
    distinct = code_rows[["code", "kind"]].drop_duplicates()
    not_in_d_icd = sorted(c for c, k in zip(distinct["code"], distinct["kind"]) if icd.undot(c) not in descriptions[k])
    return not_in_d_icd, [c for c in not_in_d_icd if icd.undot(c) not in icd.cms_descriptions(icd.kind_of(c))]


def _restrict_to_labels(cohort: pd.DataFrame, labels: list[str], setting: str, skips: Skips, limits: dict) -> pd.DataFrame:
    """``icd_codes``: each admission's labels; admissions left without one dropped, counted and limited; every
    split must keep an admission."""
    label_set = set(labels)
    cohort["icd_codes"] = [sorted(c for c in codes if c in label_set) for codes in cohort["codes_all"]]
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


def _folds(cohort: pd.DataFrame, cfg: CohortConfig, raw_dir, skips: Skips) -> np.ndarray:
    """0 (train), 1 (dev), 2 (test) or -1 (not in the published CAML lists) per admission."""
    if cfg.split != "caml":
        return splits.stratified_split(cohort["subject_id"].to_numpy(), cohort["codes_all"].tolist(),
                                       tuple(cfg.split_ratios), cfg.split_seed, cfg.stratify_labels)
    ids = splits.read_caml_splits(cfg.caml_splits_dir, cfg.label_setting, cfg.caml_splits_download)
    fold = np.full(len(cohort), -1)
    for k, name in enumerate(splits.SPLITS):
        fold[cohort["hadm_id"].isin(ids[name]).to_numpy()] = k
    listed = np.concatenate(list(ids.values()))
    skips.add("caml_listed_admissions_not_in_cohort", (~np.isin(listed, cohort["hadm_id"])).sum(), of=len(listed))
    skips.add("cohort_admissions_not_in_caml_lists", (fold < 0).sum())
    if (fold >= 0).sum() == 0:
        raise CohortInputError(
            f"none of the admissions in {raw_dir} appear in the CAML split lists in {cfg.caml_splits_dir}: "
            "the CAML lists only fit real MIMIC-III; use cohort.split: stratified for other data."
        )
    return fold


def _code_counts(cohort: pd.DataFrame) -> pd.DataFrame:
    """Every code's count per split, most frequent in train first."""
    counts_all = pd.DataFrame({
        name: cohort.loc[cohort["fold"] == k, "codes_all"].explode().value_counts()
        for k, name in enumerate(splits.SPLITS)
    }).fillna(0).astype(np.int64).rename(columns=lambda c: f"{c}_count")
    counts_all = counts_all.rename_axis("code").reset_index().sort_values(["train_count", "code"], ascending=[False, True])
    counts_all.insert(1, "kind", counts_all["code"].map(icd.kind_of))
    return counts_all


def _label_tables(cohort: pd.DataFrame, labels: list[str], descriptions: dict, mapper) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ICD and CCS label vocabularies with their training counts; sets ``cohort["ccs_codes"]``."""
    label_df = icd.label_table(labels, descriptions, mapper)
    ccs_of = dict(zip(label_df["code"], label_df["ccs"]))
    cohort["ccs_codes"] = [sorted({ccs_of[c] for c in codes if ccs_of[c]}) for codes in cohort["icd_codes"]]
    train = cohort[cohort["fold"] == 0]
    icd_train = train["icd_codes"].explode().value_counts()
    label_df["train_count"] = label_df["code"].map(icd_train).fillna(0).astype(np.int64)
    ccs_labels = sorted({c for c in label_df["ccs"] if c})
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


def summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs, settings) -> dict:
    """The cohort's vital statistics, reported as DVC metrics."""
    codes = {k: set(itertools.chain.from_iterable(v["icd_codes"])) for k, v in per_split.items()}
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
        "distinct_codes": {k: len(c) for k, c in codes.items()},
        "codes_unseen_in_train": {k: len(c - codes["train"]) for k, c in codes.items() if k != "train"},
        "labels_without_ccs": {"count": len(no_ccs), "examples": no_ccs[:10]},
        "codes_missing_from_d_icd": {"count": len(not_in_d_icd), "examples": not_in_d_icd[:10]},
        "codes_unknown_to_icd9cm_v32": {"count": len(unknown_codes), "examples": unknown_codes[:10]},
        "skipped": dict(sorted(skips.counts.items())),
    }
