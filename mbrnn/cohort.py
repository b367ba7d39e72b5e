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
codes are skipped and counted in the summary.
"""

from __future__ import annotations

import gzip
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from tqdm.auto import tqdm

from . import codes as icd
from . import io, schema, splits, text

PHYSIONET = "https://physionet.org/content/mimiciii/1.4/ (credentialed access)"

TABLES = {name: schema.COLUMNS[name] for name in schema.COHORT_TABLES}
LABEL_SETTINGS = ("full", "top50")
DISCHARGE = schema.DISCHARGE


class CohortInputError(ValueError):
    """The raw MIMIC-III folder is missing something or holds something malformed."""


@dataclass
class Skips:
    """Counted, reported skips: every row that did not make it into the cohort, and why."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, reason: str, n: int) -> None:
        self.counts[reason] = self.counts.get(reason, 0) + int(n)


# --- raw tables -------------------------------------------------------------------------------------------

def table_path(raw_dir: str | Path, name: str) -> Path:
    """``NAME.csv.gz`` (as PhysioNet ships it) or an uncompressed ``NAME.csv``."""
    raw_dir = Path(raw_dir)
    for suffix in (".csv.gz", ".csv"):
        if (raw_dir / f"{name}{suffix}").exists():
            return raw_dir / f"{name}{suffix}"
    raise CohortInputError(
        f"{raw_dir / (name + '.csv.gz')}: file not found. It is part of MIMIC-III v1.4 from {PHYSIONET}; "
        f"put the CSVs (gzipped as downloaded, or uncompressed) in {raw_dir}, or set data.source: synthetic."
    )


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def read_header(path: Path) -> list[str]:
    try:
        with _open(path) as f:
            line = f.readline().decode("utf-8-sig", errors="replace")
    except (OSError, EOFError, zlib.error) as e:
        raise CohortInputError(f"{path}: cannot be read as gzip ({e}); re-download it from {PHYSIONET}.") from e
    return [c.strip().strip('"').upper() for c in line.rstrip("\r\n").split(",")]


def check_raw_dir(raw_dir: str | Path) -> dict[str, Path]:
    """Every table the cohort needs, present with MIMIC-III v1.4 columns; fails at once otherwise."""
    paths = {}
    for name, columns in TABLES.items():
        path = table_path(raw_dir, name)
        header = read_header(path)
        missing = [c for c in columns if c not in header]
        if missing:
            raise CohortInputError(
                f"{path}: missing column(s) {missing}; found {header}. Expected the MIMIC-III v1.4 columns "
                f"{columns} — is this the right file, unmodified from {PHYSIONET}?"
            )
        paths[name] = path
    return paths


def _gzip_error(path: Path, e: Exception) -> CohortInputError:
    return CohortInputError(
        f"{path}: the file is damaged or truncated ({e}). Re-download it from {PHYSIONET} "
        "(or regenerate the synthetic cohort) and check its size/checksum."
    )


def read_discharge_summaries(path: Path, skips: Skips, progress: bool = True, block_size: int = 1 << 24) -> pd.DataFrame:
    """Discharge summaries concatenated per admission in chart order: columns subject_id, hadm_id, text.

    Streams NOTEEVENTS (about 3.8 GB uncompressed for MIMIC-III) and keeps only discharge-summary rows.
    """
    keep = ["ROW_ID", "SUBJECT_ID", "HADM_ID", "CHARTDATE", "CHARTTIME", "CATEGORY", "DESCRIPTION", "ISERROR", "TEXT"]
    types = {c: pa.string() for c in keep}
    types["TEXT"] = pa.binary()  # decoded below so that non-UTF-8 rows are counted, not fatal
    garbled = []

    def on_invalid(row) -> str:
        garbled.append(row.number)
        return "skip"

    try:
        reader = pacsv.open_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=block_size),
            parse_options=pacsv.ParseOptions(newlines_in_values=True, invalid_row_handler=on_invalid),
            convert_options=pacsv.ConvertOptions(include_columns=keep, column_types=types, strings_can_be_null=True),
        )
        parts, n_rows = [], 0
        with tqdm(desc=f"reading {path.name}", unit="row", unit_scale=True, disable=not progress) as bar:
            for batch in reader:
                n_rows += batch.num_rows
                bar.update(batch.num_rows)
                mask = pc.equal(batch.column("CATEGORY"), DISCHARGE)
                parts.append(pa.Table.from_batches([batch]).filter(mask))
    except (OSError, EOFError, zlib.error) as e:
        raise _gzip_error(path, e) from e
    except pa.ArrowInvalid as e:
        raise CohortInputError(f"{path}: not a readable MIMIC-III NOTEEVENTS CSV ({e}).") from e
    skips.add("noteevents_garbled_rows", len(garbled))
    notes = pa.concat_tables(parts).to_pandas() if parts else pd.DataFrame(columns=keep)

    iserror = notes["ISERROR"].fillna("").str.strip() == "1"
    skips.add("discharge_iserror_rows", iserror.sum())
    notes = notes[~iserror]
    ids = notes[["ROW_ID", "SUBJECT_ID", "HADM_ID"]].apply(pd.to_numeric, errors="coerce")
    no_id = ids["SUBJECT_ID"].isna() | ids["HADM_ID"].isna()
    skips.add("discharge_rows_without_hadm_id", no_id.sum())
    notes = notes[~no_id].assign(
        ROW_ID=ids["ROW_ID"][~no_id].fillna(-1).astype(np.int64),
        SUBJECT_ID=ids["SUBJECT_ID"][~no_id].astype(np.int64),
        HADM_ID=ids["HADM_ID"][~no_id].astype(np.int64),
    )

    decoded, n_bad = [], 0
    for raw in notes["TEXT"]:
        raw = raw or b""
        try:
            decoded.append(raw.decode("utf-8"))
        except UnicodeDecodeError:
            n_bad += 1
            decoded.append(raw.decode("utf-8", errors="replace"))
    skips.add("discharge_rows_non_utf8_repaired", n_bad)
    notes = notes.assign(TEXT=decoded)
    empty = notes["TEXT"].str.strip() == ""
    skips.add("discharge_rows_empty_text", empty.sum())
    notes = notes[~empty]

    # Chart order: date, then time (MIMIC leaves it empty for discharge summaries), then ROW_ID.
    notes = notes.sort_values(["HADM_ID", "CHARTDATE", "CHARTTIME", "ROW_ID"], na_position="first", kind="stable")
    grouped = notes.groupby("HADM_ID", sort=True)
    subjects = grouped["SUBJECT_ID"].agg(lambda s: s.iloc[0])
    texts = grouped["TEXT"].agg("\n".join)
    addenda = grouped.size() - 1
    skips.add("addenda_appended", addenda.sum())
    return pd.DataFrame({"subject_id": subjects.to_numpy(), "hadm_id": texts.index.to_numpy(), "text": texts.to_numpy()})


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    try:
        return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""],
                           on_bad_lines="skip", engine="c")
    except (OSError, EOFError, zlib.error) as e:
        raise _gzip_error(path, e) from e
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as e:
        raise CohortInputError(f"{path}: not a readable MIMIC-III table ({e}).") from e


def _ids(df: pd.DataFrame, path: Path, skips: Skips, table: str) -> pd.DataFrame:
    ids = df[["SUBJECT_ID", "HADM_ID"]].apply(pd.to_numeric, errors="coerce")
    bad = ids.isna().any(axis=1) | (ids % 1 != 0).any(axis=1)
    if len(df) and bad.mean() > 0.01:
        raise CohortInputError(
            f"{path}: {int(bad.sum())} of {len(df)} rows have a non-integer SUBJECT_ID/HADM_ID "
            f"(e.g. {df.loc[bad, 'HADM_ID'].iloc[0]!r}): wrong column types — is this an unmodified MIMIC-III table?"
        )
    skips.add(f"{table.lower()}_rows_bad_ids", bad.sum())
    return df[~bad].assign(SUBJECT_ID=ids["SUBJECT_ID"][~bad].astype(np.int64),
                           HADM_ID=ids["HADM_ID"][~bad].astype(np.int64))


def read_codes(paths: dict[str, Path], skips: Skips) -> pd.DataFrame:
    """Diagnosis and procedure codes: columns subject_id, hadm_id, code (dotted), kind; one row per admission+code."""
    frames = []
    for table, kind in (("DIAGNOSES_ICD", icd.DX), ("PROCEDURES_ICD", icd.PX)):
        path = paths[table]
        df = _ids(_read_table(path, ["SUBJECT_ID", "HADM_ID", "ICD9_CODE"]), path, skips, table)
        raw = df["ICD9_CODE"].str.strip().str.upper()
        null = raw.isna() | (raw == "")
        skips.add(f"{table.lower()}_null_codes", null.sum())
        df, raw = df[~null], raw[~null]
        # Validate and dot each distinct code once (MIMIC-III: ~900k rows, ~9k distinct codes).
        dotted = raw.map({c: icd.format_icd9(c, kind) for c in raw.unique() if icd.is_valid(c, kind)})
        valid = dotted.notna()
        skips.add(f"{table.lower()}_malformed_codes", (~valid).sum())
        df, dotted = df[valid], dotted[valid]
        frames.append(pd.DataFrame({
            "subject_id": df["SUBJECT_ID"].to_numpy(), "hadm_id": df["HADM_ID"].to_numpy(),
            "code": dotted.to_numpy(), "kind": kind,
        }))
    codes = pd.concat(frames, ignore_index=True)
    dup = codes.duplicated(["hadm_id", "code"])
    skips.add("duplicate_code_rows", dup.sum())
    return codes[~dup].sort_values(["hadm_id", "code"], kind="stable").reset_index(drop=True)


def read_descriptions(paths: dict[str, Path]) -> dict[str, dict[str, str]]:
    out = {}
    for table, kind in (("D_ICD_DIAGNOSES", icd.DX), ("D_ICD_PROCEDURES", icd.PX)):
        df = _read_table(paths[table], ["ICD9_CODE", "LONG_TITLE"]).dropna(subset=["ICD9_CODE"])
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
    summary_path: str | Path | None = None,
    source: str = "synthetic",
    workers: int | None = None,
    progress: bool = True,
) -> dict:
    """Build the cohort from ``raw_dir`` into ``out_dir`` (see docs/architecture.md); returns the summary.

    ``workers`` processes normalise the text (default: every core); the result does not depend on it.
    """
    if text_norm not in text.SCHEMES:
        raise ValueError(f"unknown text normalisation {text_norm!r}; choose one of {text.SCHEMES}")
    if label_setting not in LABEL_SETTINGS:
        raise ValueError(f"unknown label setting {label_setting!r}; choose one of {LABEL_SETTINGS}")
    if split not in ("stratified", "caml"):
        raise ValueError(f"unknown split {split!r}; choose 'stratified' or 'caml' (params.yaml: cohort.split)")
    mapper = icd.CCSMapper(ccs_px_file)  # fails early on a missing HCUP file
    paths = check_raw_dir(raw_dir)
    skips = Skips()

    notes = read_discharge_summaries(paths["NOTEEVENTS"], skips, progress)
    code_rows = read_codes(paths, skips)
    descriptions = read_descriptions(paths)

    distinct = code_rows[["code", "kind"]].drop_duplicates()
    not_in_d_icd = sorted(c for c, k in zip(distinct["code"], distinct["kind"]) if icd.undot(c) not in descriptions[k])
    unknown_codes = [c for c in not_in_d_icd if icd.undot(c) not in icd.cms_descriptions(icd.kind_of(c))]

    per_adm = code_rows.groupby("hadm_id", sort=True)["code"].agg(list)
    with_codes = notes["hadm_id"].isin(per_adm.index)
    skips.add("summaries_without_codes", (~with_codes).sum())
    skips.add("coded_admissions_without_summary", (~per_adm.index.isin(notes["hadm_id"])).sum())
    cohort = notes[with_codes].reset_index(drop=True)
    cohort["codes_all"] = per_adm.loc[cohort["hadm_id"]].to_numpy()

    normalised = text.normalise_many(cohort["text"].tolist(), text_norm, workers=workers, progress=progress)
    cohort["text"] = [t for t, _ in normalised]
    cohort["n_tokens"] = np.array([n for _, n in normalised], dtype=np.int64)
    del normalised
    empty = cohort["n_tokens"] == 0
    skips.add("summaries_empty_after_normalisation", empty.sum())
    cohort = cohort[~empty].reset_index(drop=True)

    # Splits first (on every code), so that the label vocabulary and counts are reported per split.
    if split == "caml":
        ids = splits.read_caml_splits(caml_splits_dir, label_setting, caml_splits_download)
        fold = np.full(len(cohort), -1)
        for k, name in enumerate(splits.SPLITS):
            fold[cohort["hadm_id"].isin(ids[name]).to_numpy()] = k
        listed = np.concatenate(list(ids.values()))
        skips.add("caml_listed_admissions_not_in_cohort", (~np.isin(listed, cohort["hadm_id"])).sum())
        skips.add("cohort_admissions_not_in_caml_lists", (fold < 0).sum())
        if (fold >= 0).sum() == 0:
            raise CohortInputError(
                f"none of the admissions in {raw_dir} appear in the CAML split lists in {caml_splits_dir}: "
                "the CAML lists only fit real MIMIC-III; use cohort.split: stratified for other data."
            )
    else:
        fold = splits.stratified_split(cohort["subject_id"].to_numpy(), cohort["codes_all"].tolist(),
                                       tuple(split_ratios), seed, stratify_labels)
    cohort["fold"] = fold
    cohort = cohort[cohort["fold"] >= 0]

    counts_all = pd.DataFrame({
        name: cohort.loc[cohort["fold"] == k, "codes_all"].explode().value_counts()
        for k, name in enumerate(splits.SPLITS)
    }).fillna(0).astype(np.int64).rename(columns=lambda c: f"{c}_count")
    counts_all = counts_all.rename_axis("code").reset_index().sort_values(["train_count", "code"], ascending=[False, True])
    counts_all.insert(1, "kind", counts_all["code"].map(icd.kind_of))

    labels = select_labels(cohort["codes_all"], label_setting, top_k)
    label_set = set(labels)
    cohort["icd_codes"] = [sorted(c for c in codes if c in label_set) for codes in cohort["codes_all"]]
    no_label = cohort["icd_codes"].map(len) == 0
    skips.add(f"admissions_without_{label_setting}_code", no_label.sum())
    cohort = cohort[~no_label].reset_index(drop=True)

    label_df = icd.label_table(labels, descriptions, mapper)
    ccs_of = dict(zip(label_df["code"], label_df["ccs"]))
    no_ccs = label_df.loc[label_df["ccs"] == "", "code"].tolist()
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

    out_dir = Path(out_dir)
    columns = ["subject_id", "hadm_id", "text", "n_tokens", "icd_codes", "ccs_codes"]
    per_split = {}
    for k, name in enumerate(splits.SPLITS):
        part = cohort.loc[cohort["fold"] == k, columns].sort_values("hadm_id").reset_index(drop=True)
        io.write_parquet(out_dir / f"{name}.parquet", part)
        per_split[name] = part
    io.write_csv(out_dir / "icd_labels.csv", label_df[["code", "kind", "description", "train_count", "ccs"]])
    io.write_csv(out_dir / "ccs_labels.csv", ccs_df)
    io.write_csv(out_dir / "code_counts.csv", counts_all)  # every code, whatever the label setting

    summary = summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs,
                        dict(source=source, label_setting=label_setting, text_norm=text_norm, split=split,
                             ccs_px_source=mapper.px_source, seed=seed))
    io.write_json(summary_path or out_dir / "cohort_summary.json", summary)
    return summary


def summarise(per_split, label_df, ccs_df, skips, not_in_d_icd, unknown_codes, no_ccs, settings) -> dict:
    """The cohort's vital statistics, reported as DVC metrics."""
    train_codes = set(per_split["train"]["icd_codes"].explode())
    subjects = {k: set(v["subject_id"]) for k, v in per_split.items()}
    names = list(per_split)
    overlap = sum(len(subjects[a] & subjects[b]) for i, a in enumerate(names) for b in names[i + 1:])
    allp = pd.concat(per_split.values(), ignore_index=True)
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
        "distinct_codes": {k: int(v["icd_codes"].explode().nunique()) for k, v in per_split.items()},
        "codes_unseen_in_train": {k: int(len(set(v["icd_codes"].explode()) - train_codes))
                                  for k, v in per_split.items() if k != "train"},
        "labels_without_ccs": {"count": len(no_ccs), "examples": no_ccs[:10]},
        "codes_missing_from_d_icd": {"count": len(not_in_d_icd), "examples": not_in_d_icd[:10]},
        "codes_unknown_to_icd9cm_v32": {"count": len(unknown_codes), "examples": unknown_codes[:10]},
        "skipped": dict(sorted(skips.counts.items())),
    }
