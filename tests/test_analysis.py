"""Frequency-bucketed analysis, significance tests, tables and figures on tiny hand-built examples."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from mbrnn import analysis as A
from mbrnn import metrics as M
from mbrnn import plots as P
from mbrnn import tables as T
from mbrnn.io import save_npz
from mbrnn.tables import write_table

# ---------------------------------------------------------------- a hand-built test set
# codes and training counts: A unseen, B and E rare (1–10), C (11–50), D frequent (>1000)
TRAIN_COUNTS = pd.Series({"A": 0, "B": 5, "E": 3, "C": 20, "D": 2000})
GOLD = {1: ["A", "B", "D"], 2: ["B", "C"], 3: ["C", "D"], 4: ["D", "E"]}
# model m1 scores B, C, D, E but not A (A is outside its label set)
M1_CODES = ["B", "C", "D", "E"]
M1_PROB = {  # hadm -> probs for M1_CODES
    1: [0.9, 0.1, 0.8, 0.6],  # predicts B, D, E
    2: [0.2, 0.7, 0.6, 0.1],  # predicts C, D
    3: [0.6, 0.3, 0.9, 0.2],  # predicts B, D
    4: [0.1, 0.1, 0.4, 0.7],  # predicts E
}


def split_frame():
    return pd.DataFrame({"hadm_id": [1, 2, 3, 4], "n_tokens": [100, 300, 1000, 3000],
                         "icd_codes": [GOLD[h] for h in (1, 2, 3, 4)]})


def make_preds(codes, prob_by_hadm, hadm_order=(1, 2, 3, 4)):
    hadm = np.array(hadm_order, dtype=np.int64)
    prob = np.array([prob_by_hadm[h] for h in hadm], dtype=np.float32)
    true = np.array([[c in GOLD[h] for c in codes] for h in hadm])
    return A.Predictions(hadm_id=hadm, icd_codes=np.array(codes), icd_prob=prob, icd_true=true, path="test.npz")


def row(df, bucket, model):
    r = df[(df["bucket"] == bucket) & (df["model"] == model)]
    assert len(r) == 1
    return r.iloc[0]


# ---------------------------------------------------------------- buckets

def test_assign_buckets_at_the_edges():
    counts = [0, 1, 10, 11, 50, 51, 100, 101, 500, 501, 1000, 1001]
    want = ["0", "1–10", "1–10", "11–50", "11–50", "51–100", "51–100", "101–500", "101–500",
            "501–1000", "501–1000", ">1000"]
    got = A.assign_buckets(counts, edges=(0, 10, 50, 100, 500, 1000))
    assert list(got.astype(str)) == want
    assert got.ordered and list(got.categories) == ["0", "1–10", "11–50", "51–100", "101–500", "501–1000", ">1000"]
    assert list(A.assign_buckets([0, 3, 4], edges=(0, 3)).astype(str)) == ["0", "1–3", ">3"]
    assert A.bucket_names((0, 1, 3)) == ["0", "1", "2–3", ">3"]  # ties at count 1, as in a full label set


@pytest.mark.parametrize("edges", [(1, 10), (0, 10, 10), ()])
def test_bad_edges_rejected(edges):
    with pytest.raises(ValueError, match="edges"):
        A.assign_buckets([1, 2], edges=edges)


# ---------------------------------------------------------------- McNemar

def pairs(b, c, both_right=5, both_wrong=3):
    """Correctness vectors with b (A right, B wrong) and c (A wrong, B right) discordant pairs."""
    a = [True] * b + [False] * c + [True] * both_right + [False] * both_wrong
    bb = [False] * b + [True] * c + [True] * both_right + [False] * both_wrong
    return np.array(a), np.array(bb)


def test_mcnemar_exact_small_case_by_hand():
    # b=2, c=8: two-sided exact p = 2 * P(X <= 2), X ~ Bin(10, 1/2) = 2 * (1 + 10 + 45) / 1024
    res = A.mcnemar(*pairs(2, 8))
    assert (res["b"], res["c"]) == (2, 8)
    assert res["method"] == "exact binomial"
    assert res["p_value"] == pytest.approx(112 / 1024)
    assert res["p_value"] == pytest.approx(stats.binomtest(2, 10, 0.5).pvalue)


def test_mcnemar_chi_square_textbook_case():
    # classic 2x2 example (Wikipedia "McNemar's test"): b=121, c=59; corrected chi2 = (|121-59| - 1)^2 / 180
    res = A.mcnemar(*pairs(121, 59, both_right=101, both_wrong=33))
    assert res["method"].startswith("chi-square")
    assert res["statistic"] == pytest.approx(61 ** 2 / 180)
    # 1 degree of freedom: P(chi2_1 > s) = erfc(sqrt(s / 2))
    assert res["p_value"] == pytest.approx(math.erfc(math.sqrt(61 ** 2 / 180 / 2)))


def test_mcnemar_switches_method_at_25_and_handles_no_discordance():
    assert A.mcnemar(*pairs(12, 12))["method"] == "exact binomial"
    assert A.mcnemar(*pairs(12, 13))["method"].startswith("chi-square")
    assert A.mcnemar(*pairs(0, 0))["p_value"] == 1.0


def test_mcnemar_by_frequency_counts_discordant_decisions():
    m1 = make_preds(M1_CODES, M1_PROB)
    better = {h: list(p) for h, p in M1_PROB.items()}
    better[2][2], better[4][2] = 0.1, 0.9  # m2 fixes D: the false positive on doc 2 and the miss on doc 4
    m2 = make_preds(M1_CODES, better)
    res = A.mcnemar_by_frequency(m1, m2, TRAIN_COUNTS, rare_max=100, common_min=1000, threshold=0.5,
                                 gold=split_frame()).set_index("group")
    assert (res.loc["rare (<100)", "b"], res.loc["rare (<100)", "c"]) == (0, 0)
    common = res.loc["common (≥1000)"]
    assert (common["b"], common["c"], common["n_codes"]) == (0, 2, 1)
    assert common["p_value"] == pytest.approx(0.5)  # 2 * 0.5^2
    assert common["accuracy_a"] == pytest.approx(2 / 4) and common["accuracy_b"] == 1.0


# ---------------------------------------------------------------- bucket table

def test_bucket_table_micro_and_macro_by_hand():
    df = A.bucket_table({"m1": make_preds(M1_CODES, M1_PROB)}, TRAIN_COUNTS, threshold=0.5, gold=split_frame())
    # bucket 1–10 = codes B (tp1 fp1 fn1) and E (tp1 fp1 fn0): micro P=2/4, R=2/3, F1=4/7;
    # per-label F1 1/2 and 2/3 -> per-label mean 7/12; macro-P 1/2, macro-R 3/4 -> CAML macro-F1 = 0.6
    r = row(df, "1–10", "m1")
    assert (r["tp"], r["fp"], r["fn"], r["n_codes"], r["n_codes_in_test"]) == (2, 2, 1, 2, 2)
    assert r["micro_precision"] == pytest.approx(0.5) and r["micro_recall"] == pytest.approx(2 / 3)
    assert r["micro_f1"] == pytest.approx(4 / 7)
    assert r["macro_f1_mean"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert r["macro_f1"] == pytest.approx(0.6)
    assert r["share_test_occurrences"] == pytest.approx(3 / 9)
    # bucket >1000 = D: tp2 fp1 fn1; AUC: positives 0.8, 0.9, 0.4 vs negative 0.6 -> 2/3
    r = row(df, ">1000", "m1")
    assert r["micro_f1"] == pytest.approx(2 / 3) and r["macro_auc"] == pytest.approx(2 / 3)
    # all codes: tp5 fp3 fn4 -> F1 = 10/17
    assert row(df, "all", "m1")["micro_f1"] == pytest.approx(10 / 17)
    assert list(df["bucket"].cat.categories)[-1] == "all"
    empty = row(df, "51–100", "m1")
    assert empty["n_codes"] == 0 and np.isnan(empty["macro_f1"]) and np.isnan(empty["micro_f1"])


def test_codes_outside_the_label_set_are_false_negatives():
    top = make_preds(["D"], {h: [M1_PROB[h][2]] for h in GOLD})  # a "top-1" model knowing only D
    df = A.bucket_table({"m1": make_preds(M1_CODES, M1_PROB), "top": top}, TRAIN_COUNTS, gold=split_frame())
    r0 = row(df, "0", "m1")  # A is in no label set: its single occurrence is missed
    assert (r0["tp"], r0["fp"], r0["fn"], r0["n_codes_in_model"], r0["micro_f1"]) == (0, 0, 1, 0, 0.0)
    rare = row(df, "1–10", "top")  # B, E: 3 occurrences, all missed
    assert (rare["tp"], rare["fp"], rare["fn"], rare["micro_recall"]) == (0, 0, 3, 0.0)
    assert row(df, ">1000", "top")["micro_f1"] == pytest.approx(row(df, ">1000", "m1")["micro_f1"])
    assert row(df, "all", "top")["fn"] == 9 - 2  # 9 gold occurrences, top finds 2 of D's 3


def test_gold_must_agree_with_saved_icd_true():
    bad = make_preds(M1_CODES, M1_PROB)
    bad.icd_true = ~bad.icd_true
    with pytest.raises(ValueError, match="disagrees"):
        A.bucket_table({"bad": bad}, TRAIN_COUNTS, gold=split_frame())


def test_row_order_of_predictions_does_not_matter():
    a = A.bucket_table({"m": make_preds(M1_CODES, M1_PROB)}, TRAIN_COUNTS, gold=split_frame())
    b = A.bucket_table({"m": make_preds(M1_CODES, M1_PROB, hadm_order=(3, 1, 4, 2))}, TRAIN_COUNTS, gold=split_frame())
    pd.testing.assert_frame_equal(a, b)


def test_all_row_of_bucket_table_is_metrics_evaluate(tmp_path):
    """One metric name, one number: the bucket table's ``all`` row, recomputed from a saved predictions file with
    ``metrics.evaluate``, equals what the main table shows for that model (both macro-F1 definitions, AUC)."""
    rng = np.random.default_rng(4)
    codes = np.array([f"C{j:02d}" for j in range(12)])
    y = rng.random((40, 12)) < np.linspace(0.02, 0.5, 12)
    prob = np.clip(0.35 * y + rng.random((40, 12)) * 0.7, 0, 1).astype(np.float32)
    save_npz(tmp_path / "test.npz", hadm_id=np.arange(100, 140), icd_codes=codes, icd_prob=prob, icd_true=y)
    split = pd.DataFrame({"hadm_id": np.arange(100, 140), "icd_codes": [list(codes[r]) for r in y]})
    counts = pd.Series(np.arange(12) * 7, index=codes)
    pred = A.load_predictions(tmp_path / "test.npz")
    main_metrics = M.evaluate(pred.icd_true, pred.icd_prob, threshold=0.5)  # what train.py writes
    main = A.results_table({"m": main_metrics}, published={},
                           metrics=("macro_auc", "micro_auc", "macro_f1", "macro_f1_mean", "micro_f1")).iloc[0]
    summary = T.bucket_summary(A.bucket_table({"m": pred}, counts, A.auto_edges(counts), 0.5, gold=split))
    all_row = summary[summary["bucket"] == "all"].iloc[0]
    for col in ("Micro-F1", "Macro-F1 (CAML)", "Macro-F1 (per-label mean)", "Macro-AUC"):
        assert all_row[col] == pytest.approx(main[col], abs=1e-9), col
    assert main["Macro-F1 (CAML)"] != pytest.approx(main["Macro-F1 (per-label mean)"])  # the two really differ


def test_no_column_header_names_two_definitions():
    """Every macro-F1 header says which definition it shows, in every table of the analysis."""
    heads = set(T.METRIC_NAMES.values()) | set(T.BUCKET_COLUMNS.values())
    assert "Macro-F1" not in heads
    assert {"Macro-F1 (CAML)", "Macro-F1 (per-label mean)"} <= heads
    assert len(set(T.BUCKET_COLUMNS.values())) == len(T.BUCKET_COLUMNS)


# ---------------------------------------------------------------- trends

def test_per_code_f1_and_spearman():
    pc = A.per_code_f1(make_preds(M1_CODES, M1_PROB), TRAIN_COUNTS, gold=split_frame()).set_index("code")
    assert pc.loc["A", "f1"] == 0 and not pc.loc["A", "in_label_set"]
    assert pc.loc["C", "f1"] == pytest.approx(2 / 3) and pc.loc["B", "support"] == 2
    rng = np.random.default_rng(1)
    x, y = rng.integers(0, 5000, 200), rng.random(200)
    res = A.spearman(x, y)
    ref = stats.spearmanr(x, y)
    assert res["rho"] == pytest.approx(ref.statistic) and res["p_value"] == pytest.approx(ref.pvalue)
    # independent check: Spearman = Pearson correlation of ranks
    assert res["rho"] == pytest.approx(np.corrcoef(stats.rankdata(x), stats.rankdata(y))[0, 1])


def test_binned_mean_sd_log_bins():
    x = np.array([0, 0, 1, 2, 10, 20, 100, 100])
    y = np.array([0.0, 0.2, 0.1, 0.3, 0.5, 0.7, 0.9, 0.8])
    b = A.binned_mean_sd(x, y, n_bins=2, log=True)  # zero bin, [1, 10), [10, 100]
    assert list(b["n"]) == [2, 2, 4]
    assert b["mean"].tolist() == pytest.approx([0.1, 0.2, 0.725])
    assert b["sd"].iloc[0] == pytest.approx(np.std([0.0, 0.2], ddof=1))
    assert b["bin_hi"].iloc[1] == pytest.approx(10.0)


def test_f1_vs_frequency_uses_codes_with_support():
    pc = pd.DataFrame({"train_count": [0, 5, 50, 500, 5000, 7], "f1": [0, 0.1, 0.3, 0.5, 0.9, 0.4],
                       "support": [1, 2, 3, 4, 5, 0]})
    binned, st = A.f1_vs_frequency(pc, n_bins=3, min_support=1)
    assert st["n"] == 5 and st["rho"] == pytest.approx(1.0)
    assert binned["n"].sum() == 5


def test_per_document_f1():
    pdoc = A.per_document_f1(make_preds(M1_CODES, M1_PROB), split_frame()).set_index("hadm_id")
    # doc 1: gold A, B, D; predicted B, D, E -> tp2 fp1 fn1 (A is outside the label set)
    assert tuple(pdoc.loc[1, ["tp", "fp", "fn", "n_gold"]]) == (2, 1, 1, 3)
    assert pdoc.loc[1, "f1"] == pytest.approx(2 / 3)
    # doc 4: gold D, E; predicted E -> F1 = 2/3; doc 2: gold B, C; predicted C, D -> 1/2
    assert pdoc.loc[4, "f1"] == pytest.approx(2 / 3) and pdoc.loc[2, "f1"] == pytest.approx(0.5)
    assert pdoc.loc[3, "n_tokens"] == 1000
    binned, st = A.f1_vs_document(pdoc.reset_index(), by="n_tokens", n_bins=2)
    assert binned["n"].sum() == 4 and st["n"] == 4


# ---------------------------------------------------------------- focal vs BCE and paper tables

def fake_buckets(focal_f1, bce_f1, names=("0", "1–10", "11–50", ">1000")):
    rows = []
    for model, f1s in (("mbrnn", focal_f1), ("mbrnn_bce", bce_f1)):
        rows += [dict(bucket=b, model=model, n_codes=3, micro_f1=f, macro_f1=f) for b, f in zip(names, f1s)]
    return pd.DataFrame(rows)


def test_focal_vs_bce_deltas_and_verdict():
    deltas, verdict = A.focal_vs_bce(fake_buckets([0.2, 0.3, 0.5, 0.7], [0.1, 0.2, 0.6, 0.8]))
    assert deltas["delta_macro_f1"].tolist() == pytest.approx([10, 10, -10, -10])
    assert "yes" in verdict and "+10.0" in verdict and "-10.0" in verdict
    _, verdict = A.focal_vs_bce(fake_buckets([0.1, 0.2, 0.6, 0.8], [0.2, 0.3, 0.5, 0.7]))
    assert "no" in verdict.split(":")[-1] and "-10.0" in verdict
    _, verdict = A.focal_vs_bce(fake_buckets([0.2, 0.3, 0.7, 0.9], [0.1, 0.2, 0.6, 0.8]))
    assert "no trade-off" in verdict


def test_results_table_labels_sources_and_uses_percent():
    ours = {"mbrnn": {"micro_f1": 0.5, "macro_f1": 0.1, "macro_auc": 0.8, "micro_auc": 0.9, "p@8": 0.6}}
    t = A.results_table(ours, data_label="synthetic demo").set_index("Data")
    assert t.loc["synthetic demo (ours)", "Micro-F1"] == pytest.approx(50.0)
    assert np.isnan(t.loc["synthetic demo (ours)", "P@5"])
    assert t.loc["MIMIC-III-full (published)", "Micro-F1"] == 58.4
    assert t.loc["MIMIC-III-50 (published)", "P@5"] == 67.3 and np.isnan(t.loc["MIMIC-III-50 (published)", "P@8"])


def test_ablation_and_task_tables():
    m = {"mbrnn": {"macro_f1": 0.2, "micro_f1": 0.5}, "no_ram": {"macro_f1": 0.15, "micro_f1": 0.52}}
    ab = A.ablation_table(m, reference="mbrnn", metrics=("macro_f1", "micro_f1")).set_index("Variant")
    assert ab.loc["no_ram", "Δ Macro-F1 (CAML)"] == pytest.approx(-5.0) and ab.loc["no_ram", "Δ Micro-F1"] == pytest.approx(2.0)
    tt = A.task_table({"mbrnn": {"icd": {"micro_f1": 0.5}, "ccs": {"micro_f1": 0.7}}, "cnn": {"icd": {"micro_f1": 0.4}}},
                      metrics=("micro_f1",)).set_index("Model")
    assert tt.loc["mbrnn", "CCS Micro-F1"] == pytest.approx(70.0) and np.isnan(tt.loc["cnn", "CCS Micro-F1"])


# ---------------------------------------------------------------- loading

def test_load_predictions_roundtrip_and_clear_errors(tmp_path):
    p = make_preds(M1_CODES, M1_PROB)
    save_npz(tmp_path / "ok.npz", hadm_id=p.hadm_id, icd_codes=p.icd_codes, icd_prob=p.icd_prob, icd_true=p.icd_true)
    q = A.load_predictions(tmp_path / "ok.npz")
    assert q.icd_codes.tolist() == M1_CODES and q.ccs_codes is None and q.icd_prob.shape == (4, 4)
    save_npz(tmp_path / "bad.npz", hadm_id=p.hadm_id, icd_codes=p.icd_codes)
    with pytest.raises(ValueError, match=r"bad\.npz.*icd_prob"):
        A.load_predictions(tmp_path / "bad.npz")
    save_npz(tmp_path / "shape.npz", hadm_id=p.hadm_id, icd_codes=p.icd_codes, icd_prob=p.icd_prob[:, :2],
             icd_true=p.icd_true)
    with pytest.raises(ValueError, match=r"shape\.npz"):
        A.load_predictions(tmp_path / "shape.npz")


# ---------------------------------------------------------------- figures and tables on disk

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def all_figures():
    m1 = make_preds(M1_CODES, M1_PROB)
    bt = A.bucket_table({"m1": m1, "m2": m1}, TRAIN_COUNTS, gold=split_frame())
    binned, st = A.f1_vs_frequency(A.per_code_f1(m1, TRAIN_COUNTS, gold=split_frame()), n_bins=3)
    pdoc = A.per_document_f1(m1, split_frame())
    curves = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [0.9, 0.5, 0.4],
                           "dev_macro_f1": [0.1, 0.2, 0.25], "dev_micro_f1": [0.3, 0.4, 0.45]})
    deltas, _ = A.focal_vs_bce(fake_buckets([0.2, 0.3, 0.5, 0.7], [0.1, 0.2, 0.6, 0.8]))
    return {
        "frequency": P.plot_code_frequency(TRAIN_COUNTS),
        "bucket_f1": P.plot_f1_by_bucket(bt),
        "f1_vs_freq": P.plot_f1_vs_frequency({"m1": binned}, {"m1": st}),
        "doc_f1": P.plot_document_f1({"m1": A.f1_vs_document(pdoc, "n_tokens", 2)[0]},
                                     {"m1": A.f1_vs_document(pdoc, "n_gold", 2)[0]}),
        "curves": P.plot_training_curves({"m1": curves, "m2": curves.assign(train_loss=curves.train_loss * 2)}),
        "focal": P.plot_focal_vs_bce(deltas),
    }


def test_every_figure_writes_png_and_pdf(tmp_path):
    for name, fig in all_figures().items():
        paths = P.save_figure(fig, tmp_path, name)
        png, pdf = paths["png"].read_bytes(), paths["pdf"].read_bytes()
        assert png.startswith(PNG_SIGNATURE), name
        img = plt.imread(paths["png"])
        assert img.ndim == 3 and img.shape[0] > 100 and img.shape[1] > 100, name
        assert img[..., :3].std() > 0, f"{name}: blank image"
        assert pdf.startswith(b"%PDF") and len(pdf) > 1000, name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.{e}" for n in all_figures() for e in ("pdf", "png"))


def test_write_table_writes_three_files(tmp_path):
    df = A.bucket_table({"m1": make_preds(M1_CODES, M1_PROB)}, TRAIN_COUNTS, gold=split_frame())
    paths = write_table(df, tmp_path, "buckets", "F1 by training frequency (synthetic demo)", decimals=3)
    assert set(paths) == {"csv", "md", "tex"}
    for p in paths.values():
        assert p.stat().st_size > 0
    tex = paths["tex"].read_text()
    assert r"\toprule" in tex and r"\caption{F1 by training frequency (synthetic demo)}" in tex
    assert r"\label{tab:buckets}" in tex
    assert "–" not in tex and ">" not in tex  # en dashes and '>' made LaTeX-safe (OT1 prints '>' as '¿')
    assert r"\textgreater{}1000" in tex and "1--10" in tex
    md = paths["md"].read_text()
    assert "| bucket" in md and "nan" not in md
    back = pd.read_csv(paths["csv"])
    assert back["micro_f1"].tolist() == pytest.approx(df["micro_f1"].tolist(), nan_ok=True)


def test_mcnemar_by_frequency_reports_empty_groups():
    """A group without codes (no code reaches common_min on a small cohort) says so instead of p = 1."""
    from mbrnn.analysis import Predictions, mcnemar_by_frequency, mcnemar_table

    rng = np.random.default_rng(0)
    y = rng.random((30, 3)) < 0.3
    mk = lambda p: Predictions(hadm_id=np.arange(30), icd_codes=np.array(["a", "b", "c"]), icd_prob=p.astype(np.float32),
                               icd_true=y)
    a, b = mk(rng.random((30, 3))), mk(rng.random((30, 3)))
    counts = pd.Series({"a": 5, "b": 20, "c": 50})
    df = mcnemar_by_frequency(a, b, counts, rare_max=100, common_min=1000)
    assert df.loc[1, "n_codes"] == 0 and df.loc[1, "method"] == "no codes in this group" and np.isnan(df.loc[1, "p_value"])
    assert df.loc[0, "n_codes"] == 3 and df.loc[0, "n_decisions"] == 90
    shown = mcnemar_table({"m": a, "x": b}, "m", counts)
    assert list(shown["comparator"]) == ["x", "x"] and shown.loc[1, "p_value"] == "–"
    assert 0 <= shown.loc[0, "accuracy_a"] <= 100


# ---------------------------------------------------------------- buckets scaled to the cohort

def long_tail(n_codes=400, seed=0):
    """A Zipf-like training-count vector as a demo cohort gives: a few frequent codes, many seen once or twice."""
    rng = np.random.default_rng(seed)
    return np.maximum(1, (2000 / np.arange(1, n_codes + 1) ** 1.1 * rng.uniform(0.7, 1.3, n_codes)).astype(int))


@pytest.mark.parametrize("n_codes,n_buckets", [(50, 5), (400, 5), (2000, 6), (8, 3), (3000, 5)])
def test_auto_edges_fill_every_bucket(n_codes, n_buckets):
    counts = long_tail(n_codes)
    edges = A.auto_edges(counts, n_buckets)
    held = pd.Series(A.assign_buckets(counts, edges)).value_counts()
    assert edges[0] == 0 and len(edges) >= 2
    assert all(held[b] > 0 for b in A.bucket_names(edges)[1:])  # every bucket but "0" (no unseen code here)
    assert held["0"] == 0
    # with unseen codes in the label set, bucket 0 holds them and the others stay filled
    with_unseen = np.concatenate([[0, 0], counts])
    assert (pd.Series(A.assign_buckets(with_unseen, A.auto_edges(with_unseen, n_buckets))).value_counts() > 0).all()


def test_auto_edges_are_the_paper_edges_only_when_asked():
    counts = long_tail(400)
    assert A.resolve_edges([0, 10, 50, 100, 500, 1000], counts) == list(A.PAPER_EDGES)
    assert A.resolve_edges("auto", counts, 5) == A.auto_edges(counts, 5)
    # the paper's edges leave buckets empty on a demo-sized cohort; auto does not
    paper = pd.Series(A.assign_buckets(counts // 20, A.PAPER_EDGES)).value_counts()
    assert (paper == 0).any()
    with pytest.raises(ValueError, match="bucket_edges"):
        A.resolve_edges("quantiles", counts)


@pytest.mark.parametrize("seed", range(4))
def test_auto_groups_put_codes_in_rare_and_common(seed):
    for counts in (long_tail(50, seed), long_tail(400, seed), np.array([1, 1, 1, 1, 2]), np.array([3, 9, 9, 9])):
        rare_max, common_min = A.auto_groups(counts)
        rare, common = counts < rare_max, counts >= common_min
        assert rare.any() and common.any() and not (rare & common).any(), counts
    with pytest.raises(ValueError, match="rare_max"):
        A.auto_groups([5, 5, 5])
    assert A.resolve_groups(100, "auto", long_tail(50))[0] == 100


def test_mcnemar_groups_hold_codes_with_auto_thresholds():
    rare_max, common_min = A.auto_groups(TRAIN_COUNTS)
    m1 = make_preds(M1_CODES, M1_PROB)
    res = A.mcnemar_table({"a": m1, "b": m1}, "a", TRAIN_COUNTS, rare_max, common_min, gold=split_frame(), seed=3)
    assert (res["n_codes"] > 0).all() and set(res["seed"]) == {3}
    assert "no codes" not in set(res["method"])


def test_empty_buckets_are_named_and_left_out():
    df = A.bucket_table({"m1": make_preds(M1_CODES, M1_PROB)}, TRAIN_COUNTS, threshold=0.5, gold=split_frame())
    assert A.empty_buckets(df) == ["51–100", "101–500", "501–1000"]
    assert set(T.bucket_summary(df)["bucket"]) == {"0", "1–10", "11–50", ">1000", "all"}


# ---------------------------------------------------------------- convergence and seeds

def metrics_file(best, run, patience=3, by_seed=None, **extra):
    """A metrics JSON as the train stage writes it (contract of issue 9): top level = primary seed."""
    m = {"icd": {"test": {"micro_f1": 0.5, "macro_f1": 0.3}}, "best_epoch": best, "epochs_run": run, **extra}
    if patience is not None:
        m["patience"] = patience
    if by_seed is not None:
        m["seeds"] = list(by_seed)
        m["by_seed"] = {str(s): {"icd": {"test": v}, "best_epoch": best, "epochs_run": run} for s, v in by_seed.items()}
    return m


def test_convergence_from_the_file_or_from_epochs():
    assert A.convergence(metrics_file(8, 8, converged=False)) is False
    assert A.convergence(metrics_file(5, 8, converged=True)) is True
    assert A.convergence(metrics_file(5, 8)) is True  # old file: 5 <= 8 - 3
    assert A.convergence(metrics_file(6, 8)) is False  # best epoch within patience of the last
    assert A.convergence(metrics_file(6, 8, patience=None), patience=2) is True
    assert A.convergence(metrics_file(0, 0, patience=None)) is None  # tfidf: no epochs
    with pytest.raises(ValueError, match="patience"):
        A.convergence(metrics_file(6, 8, patience=None))
    assert A.convergence_label(metrics_file(8, 8)).startswith("not converged (best epoch 8 of 8, patience 3")


def test_not_converged_models_are_marked_in_main_and_ablation_tables():
    files = {"mbrnn": metrics_file(8, 8), "mbrnn_no_ram": metrics_file(2, 9), "tfidf": metrics_file(0, 0)}
    training = {m: A.convergence_label(f) for m, f in files.items()}
    main = A.results_table({m: f["icd"]["test"] for m, f in files.items()}, training=training).set_index("Model")
    assert main.loc["mbrnn", "Training"].startswith("not converged")
    assert main.loc["mbrnn_no_ram", "Training"] == "converged" and main.loc["tfidf", "Training"] == "no epochs"
    ab = A.ablation_table({m: A.per_seed(files[m], "test") for m in ("mbrnn", "mbrnn_no_ram")},
                          metrics=("micro_f1",), training=training).set_index("Variant")
    assert ab.loc["mbrnn", "Training"].startswith("not converged")


def test_ablation_table_over_seeds_reports_mean_sd_and_spread():
    ref = metrics_file(3, 9, by_seed={0: {"micro_f1": 0.50, "macro_f1": 0.30}, 1: {"micro_f1": 0.54, "macro_f1": 0.34}})
    close = metrics_file(3, 9, by_seed={0: {"micro_f1": 0.52, "macro_f1": 0.31}, 1: {"micro_f1": 0.55, "macro_f1": 0.35}})
    far = metrics_file(3, 9, by_seed={0: {"micro_f1": 0.70, "macro_f1": 0.31}, 1: {"micro_f1": 0.72, "macro_f1": 0.35}})
    ab = A.ablation_table({m: A.per_seed(f, "test") for m, f in (("mbrnn", ref), ("close", close), ("far", far))},
                          metrics=("micro_f1", "macro_f1")).set_index("Variant")
    assert ab.loc["mbrnn", "Micro-F1"] == pytest.approx(52.0) and ab.loc["mbrnn", "Seeds"] == 2
    assert ab.loc["mbrnn", "Micro-F1 SD"] == pytest.approx(np.std([50, 54], ddof=1))
    assert ab.loc["close", "Δ Micro-F1"] == pytest.approx(1.5)
    assert ab.loc["close", "Finding"].startswith("within seed spread")
    assert ab.loc["far", "Finding"] == "Δ Micro-F1 beyond seed spread"
    one = A.ablation_table({"mbrnn": ref["icd"]["test"], "x": far["icd"]["test"]}, metrics=("micro_f1",))
    assert "one seed" in one.set_index("Variant").loc["x", "Finding"] and "Micro-F1 SD" not in one.columns


def test_per_seed_and_predictions_path(tmp_path):
    f = metrics_file(3, 9, by_seed={7: {"micro_f1": 0.1}, 2: {"micro_f1": 0.2}})
    assert A.seeds_of(f) == [7, 2] and [r["micro_f1"] for r in A.per_seed(f, "test")] == [0.1, 0.2]
    assert A.per_seed(metrics_file(3, 9), "test") == [{"micro_f1": 0.5, "macro_f1": 0.3}]
    assert A.predictions_path(tmp_path, "m", "test", 7, 7) == tmp_path / "m" / "test.npz"
    assert A.predictions_path(tmp_path, "m", "dev", 2, 7) == tmp_path / "m" / "seed-2" / "dev.npz"
    f["seeds"].append(5)
    with pytest.raises(ValueError, match="by_seed"):
        A.per_seed(f, "test")


def test_focal_vs_bce_over_seeds_does_not_call_noise_a_finding():
    # seed 0: +10 on rare buckets; seed 1: -6: mean +2, SD about 11 -> not a change
    s0 = fake_buckets([0.2, 0.3, 0.5, 0.7], [0.1, 0.2, 0.5, 0.7])
    s1 = fake_buckets([0.1, 0.2, 0.5, 0.7], [0.16, 0.26, 0.5, 0.7])
    deltas, verdict = A.focal_vs_bce([s0, s1])
    assert deltas["delta_macro_f1"].tolist() == pytest.approx([2, 2, 0, 0])
    assert deltas["delta_macro_f1_sd"].iloc[0] == pytest.approx(np.std([10, -6], ddof=1))
    assert "2 seeds" in verdict and "beyond the spread" in verdict
    _, one = A.focal_vs_bce(s0)
    assert "one seed" in one and "no trade-off" in one


def test_reports_readme_marks_not_converged_models(tmp_path):
    from mbrnn import report

    files = {"mbrnn": metrics_file(8, 8), "laat": metrics_file(3, 9, converged=True), "tfidf": metrics_file(0, 0)}
    rep = report.Report(tmp_path, {"data": "demo"})
    rep.section("Convergence", report.convergence_lines({m: A.convergence_label(f) for m, f in files.items()}))
    text = rep.write().read_text()
    assert "## Convergence" in text and "**1 model(s) not converged** (`mbrnn`)" in text
    assert "- `mbrnn`: **not converged (best epoch 8 of 8, patience 3)**" in text and "- `laat`: converged" in text
    ok = report.convergence_lines({"laat": "converged", "tfidf": "no epochs"})
    assert "not converged" not in " ".join(ok) and ok[0].startswith("Every model with epochs")


def test_markdown_keeps_text_columns_verbatim(tmp_path):
    """p-values are shown as strings ('4.9e-09'); tabulate must not reparse them as numbers and round to 0.0."""
    df = pd.DataFrame({"model": ["a", "b"], "p_value": ["4.9e-09", "0.25"], "micro_f1": [12.345, 1.0]})
    md = write_table(df, tmp_path, "t", "cap", decimals=1)["md"].read_text()
    assert "4.9e-09" in md and "0.25" in md and "12.3" in md and "12.345" not in md


def test_spearman_table_for_display():
    t = T.spearman_table({"a": {"rho": 0.5, "p_value": 3.2e-7, "n": 50}, "b": {"rho": np.nan, "p_value": np.nan, "n": 2}})
    assert t["p_value"].tolist() == ["3.2e-07", "–"] and t["n"].tolist() == [50, 2] and t["model"].tolist() == ["a", "b"]


def test_report_tables_folder_is_replaced_in_one_step(tmp_path):
    """The analysis stage's tables folder: a run that fails before Report.write leaves the previous tables
    untouched and no temporary behind on the next run; a completed run replaces the folder whole."""
    from mbrnn import report

    tables_dir = tmp_path / "tables"
    first = report.Report(tmp_path, {"data": "demo"})
    first.table(pd.DataFrame({"a": [1.0]}), tables_dir, "old", "first run")
    assert not tables_dir.exists()  # staged, not yet published
    first.write()
    assert sorted(p.name for p in tables_dir.iterdir()) == ["old.csv", "old.md", "old.tex"]

    failed = report.Report(tmp_path, {"data": "demo"})
    failed.table(pd.DataFrame({"a": [2.0]}), tables_dir, "new", "second run, dies before write()")
    assert sorted(p.name for p in tables_dir.iterdir()) == ["old.csv", "old.md", "old.tex"]
    del failed  # the notebook failed: nothing is published

    third = report.Report(tmp_path, {"data": "demo"})
    third.table(pd.DataFrame({"a": [3.0]}), tables_dir, "new", "third run")
    text = third.write().read_text()
    assert sorted(p.name for p in tables_dir.iterdir()) == ["new.csv", "new.md", "new.tex"]
    assert "[md](tables/new.md)" in text  # the index links the published folder, not the temporary one
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left
