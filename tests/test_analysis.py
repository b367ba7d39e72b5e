"""Frequency-bucketed analysis, significance tests, tables and figures on tiny hand-built examples."""

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from mbrnn import analysis as A
from mbrnn import plots as P
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
    # bucket 1–10 = codes B (tp1 fp1 fn1) and E (tp1 fp1 fn0): micro P=2/4, R=2/3, F1=4/7; macro F1=(1/2+2/3)/2
    r = row(df, "1–10", "m1")
    assert (r["tp"], r["fp"], r["fn"], r["n_codes"]) == (2, 2, 1, 2)
    assert r["micro_p"] == pytest.approx(0.5) and r["micro_r"] == pytest.approx(2 / 3)
    assert r["micro_f1"] == pytest.approx(4 / 7)
    assert r["macro_f1"] == pytest.approx((1 / 2 + 2 / 3) / 2)
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
    assert (rare["tp"], rare["fp"], rare["fn"], rare["micro_r"]) == (0, 0, 3, 0.0)
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


def test_per_label_auc_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.random((60, 5)) < 0.3
    prob = np.round(rng.random((60, 5)), 1)  # ties on purpose
    y[:, 4] = False
    auc = A.per_label_auc(y, prob)
    for j in range(4):
        assert auc[j] == pytest.approx(roc_auc_score(y[:, j], prob[:, j]))
    assert np.isnan(auc[4])


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
    assert ab.loc["no_ram", "Δ Macro-F1"] == pytest.approx(-5.0) and ab.loc["no_ram", "Δ Micro-F1"] == pytest.approx(2.0)
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
