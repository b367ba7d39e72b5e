"""The analysis works for any code system and names it everywhere (issue 12).

A small ICD-10 prediction set (ICD-10-CM diagnoses such as ``I10`` and ``E11.9``, ICD-10-PCS procedures such as
``0DTJ4ZZ``, CCSR categories such as ``CIR007``) goes through the bucket table, per-code F1, McNemar and the
paper's tables; every figure title and caption says ICD-10 (and never ICD-9), the auxiliary-task table says CCSR,
and an ICD-10 cohort gets no published (MIMIC-III ICD-9) rows. The analysis notebook is run end to end on such a
project (slow), and on the ICD-9 defaults the captions stay those of before.
"""

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from mbrnn import analysis as A
from mbrnn import codesystem, runner
from mbrnn import metrics as M
from mbrnn import plots as P
from mbrnn.codesystem import ICD9, ICD10
from mbrnn.config import load_params
from mbrnn.io import save_npz, write_json

ROOT = runner.project_root(__file__)
# ICD-10-CM diagnoses and ICD-10-PCS procedures (no ICD-9 shape: letters first, 7-character PCS), training counts
TRAIN_COUNTS = pd.Series({"I10": 40, "E11.9": 25, "J18.9": 15, "5A1955Z": 12, "N18.3": 9, "02HV33Z": 6,
                          "Z79.4": 3, "0DTJ4ZZ": 2})
KIND = {"5A1955Z": "px", "02HV33Z": "px", "0DTJ4ZZ": "px"}
CCSR = np.array(["CIR007", "END002", "GEN003", "RSP002"])
N_DOCS = 60


def icd10_set(seed: int = 0):
    """Gold split frame and three models' predictions: ``caml`` lacks ``Z79.4`` in its label set."""
    rng = np.random.default_rng(seed)
    codes = np.array(sorted(TRAIN_COUNTS.index))
    rate = TRAIN_COUNTS.reindex(codes).to_numpy() / 60
    y = rng.random((N_DOCS, len(codes))) < rate
    hadm = np.arange(1000, 1000 + N_DOCS, dtype=np.int64)
    split = pd.DataFrame({"hadm_id": hadm, "n_tokens": rng.integers(200, 4000, N_DOCS),
                          "icd_codes": [list(codes[r]) for r in y]})
    ccs_y = rng.random((N_DOCS, len(CCSR))) < 0.4
    preds = {}
    for name, noise in (("mbrnn", 0.35), ("mbrnn_bce", 0.5), ("caml", 0.45)):
        keep = codes != "Z79.4" if name == "caml" else np.ones(len(codes), bool)
        prob = np.clip(np.where(y, 0.7, 0.2) + rng.normal(0, noise, y.shape), 0, 1).astype(np.float32)
        p = A.Predictions(hadm_id=hadm, icd_codes=codes[keep], icd_prob=prob[:, keep], icd_true=y[:, keep])
        if name != "caml":
            p.ccs_codes, p.ccs_true = CCSR, ccs_y
            p.ccs_prob = np.clip(np.where(ccs_y, 0.7, 0.2) + rng.normal(0, noise, ccs_y.shape), 0, 1).astype(np.float32)
        preds[name] = p
    return split, preds


# ---------------------------------------------------------------- the description object

def test_code_system_comes_from_the_cohort_summary(tmp_path):
    assert codesystem.from_summary({"settings": {}}) is ICD9  # a cohort.json from before MIMIC-IV: ICD-9
    assert codesystem.from_summary({"settings": {"code_system": "icd9"}}) is ICD9
    got = codesystem.from_summary({"settings": {"code_system": "icd10"}})
    assert (got.name, got.aux, got.dx, got.px) == ("ICD-10", "CCSR", "ICD-10-CM", "ICD-10-PCS")
    assert (ICD9.name, ICD9.aux) == ("ICD-9", "CCS")
    path = tmp_path / "cohort.json"
    path.write_text(json.dumps({"settings": {"code_system": "icd11"}}))
    with pytest.raises(ValueError, match=r"cohort\.json, field settings\.code_system: unknown code system 'icd11'"):
        codesystem.read(path)
    with pytest.raises(FileNotFoundError, match="cohort stage"):
        codesystem.read(tmp_path / "missing.json")


# ---------------------------------------------------------------- analysis on ICD-10 codes

def test_icd10_bucket_table_all_row_equals_the_metrics():
    split, preds = icd10_set()
    edges = A.auto_edges(TRAIN_COUNTS, 3)
    table = A.bucket_table(preds, TRAIN_COUNTS, edges, 0.5, gold=split)
    full = table[(table["bucket"] == "all") & (table["model"] == "mbrnn")].iloc[0]
    p = preds["mbrnn"]
    want = M.label_metrics(p.icd_true, p.icd_prob, 0.5)  # mbrnn's label set is the whole gold universe
    for k in ("micro_f1", "macro_f1", "macro_f1_mean", "macro_auc"):
        assert full[k] == pytest.approx(want[k])
    buckets = table[table["bucket"] != "all"]
    assert buckets.groupby("model")["n_codes"].sum().eq(len(TRAIN_COUNTS)).all()  # every code in one bucket
    caml = table[(table["bucket"] == "all") & (table["model"] == "caml")].iloc[0]
    assert caml["n_codes_in_model"] == len(TRAIN_COUNTS) - 1  # Z79.4 outside caml's label set, scored 0


def test_icd10_per_code_f1_keeps_the_codes_as_written():
    split, preds = icd10_set()
    per_code = A.per_code_f1(preds["caml"], TRAIN_COUNTS, 0.5, gold=split, edges=(0, 5, 20))
    assert set(per_code["code"]) == set(TRAIN_COUNTS.index)
    row = per_code.set_index("code").loc["0DTJ4ZZ"]
    assert row["train_count"] == 2 and str(row["bucket"]) == "1–5"
    z = per_code.set_index("code").loc["Z79.4"]
    assert not z["in_label_set"] and z["tp"] == 0 and z["fn"] == z["support"]


def test_icd10_mcnemar_on_rare_and_common_codes():
    split, preds = icd10_set()
    rare, common = A.resolve_groups("auto", "auto", TRAIN_COUNTS)
    table = A.mcnemar_table(preds, "mbrnn", TRAIN_COUNTS, rare, common, 0.5, split, seed=0)
    assert list(table["comparator"]) == ["mbrnn_bce", "mbrnn_bce", "caml", "caml"]
    assert (table["n_codes"] > 0).all() and (table["n_decisions"] == table["n_codes"] * N_DOCS).all()
    assert table["p_value"].map(lambda s: s != "–").all()
    rare_codes = set(TRAIN_COUNTS.index[TRAIN_COUNTS < rare])
    assert table.loc[0, "n_codes"] == len(rare_codes) and {"Z79.4", "0DTJ4ZZ"} <= rare_codes


def test_icd10_paper_tables_name_icd10_and_ccsr():
    _, preds = icd10_set()
    metrics = {m: {"icd": M.evaluate(p.icd_true, p.icd_prob),
                   "ccs": M.evaluate(p.ccs_true, p.ccs_prob) if p.ccs_codes is not None else None}
               for m, p in preds.items()}
    tasks = A.task_table(metrics, data_label="MIMIC-IV, top-8", system=ICD10)
    assert "ICD-10 Micro-F1" in tasks.columns and "CCSR Micro-F1" in tasks.columns
    assert not any("ICD-9" in c or c.startswith("CCS ") for c in tasks.columns)
    assert tasks.set_index("Model")["CCSR Micro-F1"].isna().tolist() == [False, False, True]  # caml: single-task
    assert A.published_for(ICD10) is A.PUBLISHED_EDIN_ICD10 and A.published_for(ICD9) is A.PUBLISHED_MBRNN
    main = A.results_table({m: v["icd"] for m, v in metrics.items()}, published=A.published_for(ICD10))
    published = main[main["Data"].str.endswith("(published)")]  # Edin et al.'s MIMIC-IV ICD-10 rows, never MBRNN's
    assert list(main["Model"])[:len(preds)] == list(preds)
    assert list(published["Data"]) == ["MIMIC-IV ICD-10, LAAT (published)", "MIMIC-IV ICD-10, PLM-ICD (published)"]
    assert list(published["Model"]) == ["LAAT (Edin et al.)", "PLM-ICD (Edin et al.)"]
    row = published.set_index("Model").loc["LAAT (Edin et al.)"]  # their macro-F1 is a per-label mean: its own column
    assert row["Micro-F1"] == 57.9 and row["Macro-F1 (per-label mean)"] == 20.3 and pd.isna(row["Macro-F1 (CAML)"])


def test_repeated_code_in_the_label_csv_is_an_error(tmp_path):
    path = tmp_path / "icd_labels.csv"
    pd.DataFrame({"code": ["I10", "0DTJ4ZZ", "I10"], "kind": ["dx", "px", "px"],
                  "train_count": [4, 2, 1]}).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"icd_labels\.csv: column code holds one code more than once \(lines \[2, 4\]\)"):
        A.load_train_counts(path)


# ---------------------------------------------------------------- figures and captions

def _titles(fig) -> list[str]:
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    plt.close(fig)
    return titles


def test_every_analysis_figure_title_names_the_code_system():
    split, preds = icd10_set()
    table = A.bucket_table(preds, TRAIN_COUNTS, A.auto_edges(TRAIN_COUNTS, 3), 0.5, gold=split)
    per_code = {m: A.per_code_f1(p, TRAIN_COUNTS, 0.5, gold=split) for m, p in preds.items()}
    binned = {m: A.f1_vs_frequency(d)[0] for m, d in per_code.items()}
    per_doc = {m: A.per_document_f1(p, split, 0.5) for m, p in preds.items()}
    delta, _ = A.focal_vs_bce(table, focal="mbrnn", bce="mbrnn_bce")
    curve = pd.DataFrame({"epoch": [1, 2], "train_loss": [0.2, 0.1], "dev_micro_f1": [0.1, 0.2],
                          "dev_macro_f1": [0.05, 0.1]})
    figures = {
        "f1_by_frequency_bucket": P.plot_f1_by_bucket(table, system=ICD10),
        "f1_vs_training_frequency": P.plot_f1_vs_frequency(binned, system=ICD10),
        "f1_per_document": P.plot_document_f1({m: A.f1_vs_document(d)[0] for m, d in per_doc.items()},
                                              {m: A.f1_vs_document(d, by="n_gold", log=False)[0]
                                               for m, d in per_doc.items()}, system=ICD10),
        "focal_vs_bce": P.plot_focal_vs_bce(delta, system=ICD10),
        "code_frequency": P.plot_code_frequency(TRAIN_COUNTS, system=ICD10),
    }
    for name, fig in figures.items():
        titles = _titles(fig)
        assert titles and all("ICD-10" in t for t in titles), (name, titles)
    scores = [t for t in _titles(P.plot_training_curves({"mbrnn": curve}, {"mbrnn": "focal"}, system=ICD10))
              if "dev" in t]
    assert len(scores) == 2 and all("ICD-10" in t for t in scores)


def test_captions_name_the_code_system_and_icd9_keeps_todays_text():
    for name in P.CAPTIONS:
        assert P.CAPTIONS[name] == P.caption(name, ICD9)
        if name != "embedding_projection":  # word2vec neighbours: no codes in that figure
            assert "ICD-10" in P.caption(name, ICD10) and "ICD-9" not in P.caption(name, ICD10), name
            assert "ICD-9" in P.CAPTIONS[name], name
    assert P.CAPTIONS["code_frequency"] == ("Long tail of ICD-9 code frequencies in the training split (every code "
                                           "of the cohort).")


# ---------------------------------------------------------------- the analysis notebook on an ICD-10 project

def write_icd10_project(tmp: Path) -> dict:
    """Cohort files, predictions, metrics and curves of three models on the ICD-10 set; returns the params."""
    split, preds = icd10_set()
    params = load_params(ROOT / "params.yaml")
    params["data"]["source"] = "mimic4"
    params["cohort"]["cohort_dir"] = str(tmp / "cohort")
    params["train"].update(models_dir=str(tmp / "models"), curves_dir=str(tmp / "curves"))
    params["reports"] = {"index": str(tmp / "reports" / "README.md"), "figures_dir": str(tmp / "reports" / "figures"),
                         "tables_dir": str(tmp / "reports" / "tables"), "metrics_dir": str(tmp / "reports" / "metrics")}
    params["models"] = {m: params["models"][m] for m in preds}
    params["analysis"].update(ablations=["mbrnn", "mbrnn_bce"])
    for folder in ("cohort", "curves", *(f"models/{m}" for m in preds)):
        (tmp / folder).mkdir(parents=True)
    split.to_parquet(tmp / "cohort" / "test.parquet")
    pd.DataFrame({"code": TRAIN_COUNTS.index, "kind": [KIND.get(c, "dx") for c in TRAIN_COUNTS.index],
                  "train_count": TRAIN_COUNTS.to_numpy()}).to_csv(tmp / "cohort" / "icd_labels.csv", index=False)
    write_json(tmp / "reports" / "metrics" / "cohort.json", {"settings": {"code_system": "icd10"}})
    curve = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.3, 0.2, 0.1], "dev_micro_f1": [0.1, 0.2, 0.2],
                          "dev_macro_f1": [0.0, 0.1, 0.1]})
    for m, p in preds.items():
        arrays = {k: v for k, v in vars(p).items() if k != "path" and v is not None}
        save_npz(tmp / "models" / m / "test.npz", **arrays)
        curve.to_csv(tmp / "curves" / f"{m}.csv", index=False)
        ccs = {"test": M.evaluate(p.ccs_true, p.ccs_prob)} if p.ccs_codes is not None else {}
        write_json(tmp / "reports" / "metrics" / "models" / f"{m}.json",
                   {"icd": {"test": M.evaluate(p.icd_true, p.icd_prob)}, **({"ccs": ccs} if ccs else {}),
                    "epochs_run": 3, "best_epoch": 1, "converged": False, "patience": 2, "seeds": [0],
                    "params": {"model": params["models"][m]}})
    return params


@pytest.mark.slow
def test_analysis_notebook_names_icd10_and_ccsr_everywhere(tmp_path):
    params = write_icd10_project(tmp_path)
    runner.run_stage("analysis", params, ROOT, out=tmp_path / "04.ipynb")
    tables = tmp_path / "reports" / "tables"
    for md in sorted(tables.glob("*.md")):
        title = md.read_text().splitlines()[0]
        assert "ICD-10" in title and "ICD-9" not in title, md.name
    icd_vs = pd.read_csv(tables / "icd_vs_ccs.csv")
    assert "CCSR Micro-F1" in icd_vs.columns and "ICD-10 Micro-F1" in icd_vs.columns
    assert "CCSR-branch" in (tables / "icd_vs_ccs.md").read_text().splitlines()[0]
    data = pd.read_csv(tables / "main_results.csv")["Data"]
    assert data[data.str.contains("published")].str.startswith("MIMIC-IV ICD-10").all()  # no MIMIC-III ICD-9 row
    readme = (tmp_path / "reports" / "README.md").read_text()
    rows = [r for r in readme.splitlines() if r.startswith("| ") and "embedding_projection" not in r
            and not r.startswith("| name")]
    assert len(rows) == 6 + 7 and all("ICD-10" in r and "ICD-9" not in r for r in rows)  # 6 figures, 7 tables
    assert "- **codes**: ICD-10 (ICD-10-CM diagnoses, ICD-10-PCS); auxiliary task CCSR" in readme
    assert "MIMIC-IV, top-8" in (tables / "main_results.md").read_text()
