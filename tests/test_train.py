import importlib.util
import json
import re

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from mbrnn import batching as D
from mbrnn import checkpoints as CK
from mbrnn import train as T
from mbrnn.config import ParamsError, TrainConfig
from mbrnn.device import amp_dtype, pick_device
from mbrnn.fit import CURVE_COLUMNS, fit
from mbrnn.predictions import predict, save_predictions

torch.set_num_threads(1)
V, N_ICD, N_CCS = 30, 5, 3
VOCAB = ["<pad>", "<unk>"] + [f"w{i}" for i in range(V - 2)]
ICD = [f"{100 + j}.1" for j in range(N_ICD)]
CCS = [f"dx:{j}" for j in range(N_CCS)]


class TinyModel(nn.Module):
    """Masked mean of embeddings -> dropout -> two linear heads (forward contract of docs/architecture.md)."""

    def __init__(self, seed=0, d=8):
        super().__init__()
        torch.manual_seed(seed)
        self.emb = nn.Embedding(V, d, padding_idx=0)
        self.drop = nn.Dropout(0.3)
        self.icd = nn.Linear(d, N_ICD)
        self.ccs = nn.Linear(d, N_CCS)

    def forward(self, tokens, mask):
        m = mask.unsqueeze(-1).float()                                # (B, L, 1)
        h = (self.emb(tokens) * m).sum(1) / m.sum(1).clamp(min=1)   # (B, d)
        h = self.drop(h)
        return {"icd": self.icd(h), "ccs": self.ccs(h)}


def bce(outputs, targets):
    return sum(F.binary_cross_entropy_with_logits(outputs[k], targets[k]) for k in outputs)


def f1_eval(y_true, y_prob, threshold):
    from sklearn.metrics import f1_score
    y_pred = y_prob >= threshold
    return {"micro_f1": f1_score(y_true, y_pred, average="micro", zero_division=0),
            "macro_f1": f1_score(y_true, y_pred, average="macro", zero_division=0)}


def make_dataset(n=20, seed=0):
    """Documents whose label j is on iff token 2+j occurs, so there is something to learn."""
    rng = np.random.default_rng(seed)
    tokens = [rng.integers(2, V, size=rng.integers(3, 25)) for _ in range(n)]
    icd = np.array([[(2 + j) in t for j in range(N_ICD)] for t in tokens])
    ccs = np.stack([icd[:, 0] | icd[:, 1], icd[:, 2], icd[:, 3] | icd[:, 4]], axis=1)
    return D.CodingDataset(tokens, {"icd": icd, "ccs": ccs}, hadm_id=np.arange(100, 100 + n))


class CrashingBatches(D.Batches):
    def __init__(self, *a, crash_epoch, **kw):
        super().__init__(*a, **kw)
        self.crash_epoch = crash_epoch

    def __iter__(self):
        if self.epoch == self.crash_epoch:
            raise RuntimeError("simulated crash")
        yield from super().__iter__()


def loaders(cls=D.Batches, **kw):
    return cls(make_dataset(20, 0), 4, shuffle=True, seed=11, **kw), D.Batches(make_dataset(10, 1), 4)


META = CK.checkpoint_meta(VOCAB, ICD, CCS, {"arch": "tiny"})
FIT_ARGS = ("seed", "resume", "progress", "meta", "evaluate_fn")  # fit()'s own arguments; the rest: TrainConfig


def do_fit(model, train_b, dev_b, ckdir, **kw):
    args = dict(lr=1e-2, epochs=4, patience=100, device="cpu", progress=False, seed=3, meta=META,
                evaluate_fn=f1_eval) | kw
    config = TrainConfig(**{k: v for k, v in args.items() if k not in FIT_ARGS})
    return fit(model, bce, train_b, dev_b, config, checkpoint_dir=ckdir,
               **{k: v for k, v in args.items() if k in FIT_ARGS})


def weights(path):
    return torch.load(path, weights_only=True)["model"]


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_resume_after_crash_equals_uninterrupted(tmp_path):
    full = do_fit(TinyModel(0), *loaders(), tmp_path / "full")
    with pytest.raises(RuntimeError, match="simulated crash"):
        do_fit(TinyModel(0), *loaders(CrashingBatches, crash_epoch=3), tmp_path / "resumed")
    assert torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)["epoch"] == 2
    torch.manual_seed(12345)  # a fresh process would have other RNG states: resume must restore them
    res = do_fit(TinyModel(seed=99), *loaders(), tmp_path / "resumed")  # other init: weights must come from last.pt
    a = torch.load(tmp_path / "full" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "resumed" / "last.pt", weights_only=True)
    assert a["epoch"] == b["epoch"] == 4
    assert_same(a["model"], b["model"])
    assert_same(weights(tmp_path / "full" / "best.pt"), weights(tmp_path / "resumed" / "best.pt"))
    for sa, sb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert_same(sa, sb)
    cols = ["epoch", "train_loss", "train_loss_icd", "train_loss_ccs", "dev_micro_f1", "dev_macro_f1"]
    pd.testing.assert_frame_equal(full.curves[cols], res.curves[cols])
    assert list(full.curves.columns[:len(CURVE_COLUMNS)]) == CURVE_COLUMNS
    assert full.curves["train_loss"].iloc[-1] < full.curves["train_loss"].iloc[0]  # it learns


def test_resume_refuses_changed_settings(tmp_path):
    do_fit(TinyModel(0), *loaders(), tmp_path, epochs=1)
    with pytest.raises(ValueError, match="lr"):
        do_fit(TinyModel(0), *loaders(), tmp_path, epochs=2, lr=5e-3)
    do_fit(TinyModel(0), *loaders(), tmp_path, epochs=1, lr=5e-3, resume=False)  # starting over is allowed


def test_early_stopping_restores_best_weights(tmp_path):
    scores = iter([0.2, 0.6, 0.4, 0.3, 0.5, 0.9, 0.9])
    calls = []

    def scripted(y_true, y_prob, threshold):
        calls.append(1)
        return {"micro_f1": 0.0, "macro_f1": next(scores)}

    model = TinyModel(0)
    res = do_fit(model, *loaders(), tmp_path / "es", epochs=10, patience=3, evaluate_fn=scripted)
    assert (res.epochs_run, res.best_epoch, res.best_score, res.stopped_early) == (5, 2, 0.6, True)
    assert res.curves["epoch"].tolist() == [1, 2, 3, 4, 5]
    # the returned model holds epoch 2's weights: those of a run stopped after 2 epochs
    do_fit(TinyModel(0), *loaders(), tmp_path / "two", epochs=2)
    epoch2 = weights(tmp_path / "two" / "last.pt")
    assert_same({k: v for k, v in model.state_dict().items()}, epoch2)
    assert not torch.equal(weights(tmp_path / "es" / "last.pt")["icd.weight"], epoch2["icd.weight"])
    # resuming a run that stopped early trains no further
    again = do_fit(TinyModel(0), *loaders(), tmp_path / "es", epochs=10, patience=3, evaluate_fn=scripted)
    assert again.epochs_run == 5 and len(calls) == 5


def test_checkpoints_load_weights_only_and_check_metadata(tmp_path):
    do_fit(TinyModel(0), *loaders(), tmp_path, epochs=1)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert {"model", "optimizer", "scaler", "rng", "curves", "bad_epochs", "best_score"} <= set(last)
    ck = CK.load_checkpoint(tmp_path / "best.pt", VOCAB, ICD, CCS)
    assert ck["meta"]["model_cfg"] == {"arch": "tiny"} and ck["epoch"] == 1
    TinyModel(1).load_state_dict(ck["model"])
    with pytest.raises(ValueError, match=r"vocabulary: checkpoint has 30 tokens, given 31"):
        CK.load_checkpoint(tmp_path / "best.pt", VOCAB + ["extra"], ICD, CCS)
    with pytest.raises(ValueError, match=r"same size, different tokens"):
        CK.load_checkpoint(tmp_path / "best.pt", VOCAB[:-1] + ["other"], ICD, CCS)
    with pytest.raises(ValueError, match=r"ICD labels: checkpoint has 5, given 5; 1 only in checkpoint"):
        CK.load_checkpoint(tmp_path / "best.pt", VOCAB, ICD[:-1] + ["999.9"], CCS)
    with pytest.raises(ValueError, match=r"CCS labels: same 3 codes in a different order"):
        CK.load_checkpoint(tmp_path / "best.pt", VOCAB, ICD, CCS[::-1])


def test_predict_returns_dataset_order(tmp_path):
    model = TinyModel(0).eval()
    ds = make_dataset(9, 2)
    probs = predict(model, D.Batches(ds, 4), "cpu")  # batches sorted by length, not in dataset order
    assert probs["icd"].dtype == np.float32 and probs["icd"].shape == (9, N_ICD) and probs["ccs"].shape == (9, N_CCS)
    with torch.no_grad():
        for i in range(9):
            one = model(torch.from_numpy(ds.tokens[i])[None], torch.ones(1, len(ds.tokens[i]), dtype=torch.bool))
            np.testing.assert_allclose(probs["icd"][i], torch.sigmoid(one["icd"])[0].numpy(), rtol=1e-5)


def test_save_predictions_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    p, y = rng.random((4, N_ICD)), rng.random((4, N_ICD)) < 0.5
    save_predictions(tmp_path / "dev.npz", [7, 8, 9, 10], ICD, p, y, CCS, p[:, :3], y[:, :3])
    z = np.load(tmp_path / "dev.npz", allow_pickle=False)
    assert set(z.files) == {"hadm_id", "icd_codes", "icd_prob", "icd_true", "ccs_codes", "ccs_prob", "ccs_true"}
    assert z["hadm_id"].dtype == np.int64 and z["icd_prob"].dtype == np.float32 and z["icd_true"].dtype == bool
    assert z["icd_codes"].tolist() == ICD and z["ccs_codes"].tolist() == CCS
    np.testing.assert_array_equal(z["icd_prob"], p.astype(np.float32))
    np.testing.assert_array_equal(z["icd_true"], y)
    save_predictions(tmp_path / "single.npz", [7, 8, 9, 10], ICD, p, y)
    assert set(np.load(tmp_path / "single.npz").files) == {"hadm_id", "icd_codes", "icd_prob", "icd_true"}
    with pytest.raises(ValueError, match="icd"):
        save_predictions(tmp_path / "bad.npz", [7, 8, 9], ICD, p, y)


def test_device_and_precision():
    assert pick_device("cpu").type == "cpu"
    assert amp_dtype(torch.device("cpu")) is None
    assert amp_dtype(torch.device("cpu"), "bf16") is torch.bfloat16
    with pytest.raises(ValueError, match="precision"):
        amp_dtype(torch.device("cpu"), "fp8")


# --------------------------------------------------------------------------- integration with the real modules
REAL = all(importlib.util.find_spec(m) for m in ("mbrnn.models", "mbrnn.losses", "mbrnn.metrics"))


def write_cohort(d, rng):
    words = VOCAB[2:]
    for split, n in (("train", 24), ("dev", 8), ("test", 8)):
        texts, icd, ccs = [], [], []
        for _ in range(n):
            toks = list(rng.choice(words, size=rng.integers(12, 30)))
            codes = [ICD[j] for j in range(N_ICD) if f"w{j}" in toks]
            texts.append(" ".join(toks)), icd.append(codes), ccs.append(sorted({CCS[ICD.index(c) % N_CCS] for c in codes}))
        pd.DataFrame({"subject_id": np.arange(n), "hadm_id": np.arange(n) + 1000, "text": texts,
                      "n_tokens": [len(t.split()) for t in texts], "icd_codes": icd, "ccs_codes": ccs}
                     ).to_parquet(d / f"{split}.parquet")
    pd.DataFrame({"code": ICD, "kind": "dx", "description": "", "train_count": 1, "ccs": ""}).to_csv(
        d / "icd_labels.csv", index=False)
    pd.DataFrame({"code": CCS, "kind": "dx", "description": "", "train_count": 1}).to_csv(
        d / "ccs_labels.csv", index=False)
    (d / "emb").mkdir()
    (d / "emb" / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    W = rng.standard_normal((V, 16)).astype(np.float32)
    W[0] = 0
    np.save(d / "emb" / "embeddings.npy", W)


@pytest.mark.skipif(not REAL, reason="real models/losses/metrics not available")
@pytest.mark.parametrize("model_cfg", [
    {"arch": "mbrnn", "hidden": 8, "loss": "focal", "gamma": 2.0, "alpha": 1.0, "ccs_weight": 0.3},
    {"arch": "caml", "num_filters": 6, "kernel_size": 3, "loss": "bce"},
    {"arch": "tfidf", "max_features": 50},
])
def test_run_stage_end_to_end(tmp_path, model_cfg):
    write_cohort(tmp_path, np.random.default_rng(0))
    train_cfg = {"seeds": [0], "device": "cpu", "batch_size": 8, "max_tokens": 20, "epochs": 2, "patience": 5,
                 "lr": 1e-2, "weight_decay": 0.01, "grad_clip": 1.0, "threshold": 0.5, "early_stop_metric": "macro_f1"}
    out, mpath, cpath = tmp_path / "model", tmp_path / "m.json", tmp_path / "c.csv"
    m = T.run("x", model_cfg, TrainConfig(**train_cfg), tmp_path, tmp_path / "emb", out, mpath, cpath, progress=False)
    assert json.loads(mpath.read_text()) == json.loads(json.dumps(m))
    assert {"dev", "test", "test_tuned"} <= set(m["icd"]) and 0 <= m["threshold_tuned"] <= 1
    assert m["n_params"] > 0 and ("ccs" in m) == (model_cfg["arch"] == "mbrnn")
    z = np.load(out / "test.npz")
    assert z["icd_prob"].shape == (8, N_ICD) and z["hadm_id"].tolist() == list(range(1000, 1008))
    assert ("ccs_prob" in z.files) == (model_cfg["arch"] == "mbrnn")
    from mbrnn.metrics import evaluate  # the metrics file holds the metrics of the saved predictions
    assert m["icd"]["test"] == pytest.approx(evaluate(z["icd_true"], z["icd_prob"], threshold=0.5), nan_ok=True)
    from mbrnn.metrics import tune_threshold  # the threshold is tuned on dev, then applied to test
    dev = np.load(out / "dev.npz")
    assert m["threshold_tuned"] == pytest.approx(tune_threshold(dev["icd_true"], dev["icd_prob"]))
    assert m["icd"]["test_tuned"] == pytest.approx(
        evaluate(z["icd_true"], z["icd_prob"], threshold=m["threshold_tuned"]), nan_ok=True)
    if model_cfg["arch"] == "tfidf":
        import joblib
        clf = joblib.load(out / "model.joblib")
        assert m["epochs_run"] == 0 and pd.read_csv(cpath).empty
        texts = [" ".join(t.split()[:20]) for t in pd.read_parquet(tmp_path / "test.parquet")["text"]]
        np.testing.assert_allclose(clf.predict_proba(texts), z["icd_prob"])
        return
    assert m["epochs_run"] == 2 and m["best_epoch"] in (1, 2)
    ck = CK.load_checkpoint(out / "checkpoint.pt", VOCAB, ICD, CCS)
    assert ck["epoch"] == m["best_epoch"]
    curves = pd.read_csv(cpath)
    assert curves["epoch"].tolist() == [1, 2]


@pytest.mark.skipif(not REAL, reason="real models/losses/metrics not available")
def test_run_stage_derives_every_path_from_params(tmp_path):
    """run_stage takes the stage's part of params.yaml: train validated before anything is written, outputs at
    models_dir/<name>/, metrics_dir/models/<name>.json, curves_dir/<name>.csv, resume state under state_dir."""
    write_cohort(tmp_path, np.random.default_rng(0))
    out = tmp_path / "out"
    params = {"models": {"x": {"arch": "caml", "num_filters": 6, "kernel_size": 3, "loss": "bce"}},
              "train": {"seeds": [0], "device": "cpu", "batch_size": 8, "max_tokens": 20, "epochs": 1, "lr": 1e-2,
                        "models_dir": str(out / "models"), "state_dir": str(out / "state"),
                        "curves_dir": str(out / "curves")},
              "cohort": {"cohort_dir": str(tmp_path)}, "embeddings": {"embeddings_dir": str(tmp_path / "emb")},
              "reports": {"metrics_dir": str(out / "metrics")}}
    with pytest.raises(ParamsError, match="learning_rate"):
        T.run_stage("x", params | {"train": params["train"] | {"learning_rate": 1e-2}})
    assert not out.exists()
    m = T.run_stage("x", params)
    assert json.loads((out / "metrics" / "models" / "x.json").read_text()) == json.loads(json.dumps(m))
    assert {p.name for p in (out / "models" / "x").iterdir()} == {"checkpoint.pt", "dev.npz", "test.npz"}
    assert pd.read_csv(out / "curves" / "x.csv")["epoch"].tolist() == [1]
    assert len(list((out / "state").glob("x-*/epochs-1/last.pt"))) == 1
    assert m["params"] == {"model": params["models"]["x"], "train": TrainConfig.from_params(params).record()}


def test_fp16_autocast_with_grad_scaler_checkpoints_and_resumes(tmp_path):
    r = do_fit(TinyModel(0), *loaders(), tmp_path, epochs=1, precision="fp16")
    assert np.isfinite(r.curves["train_loss"]).all()
    assert torch.load(tmp_path / "last.pt", weights_only=True)["scaler"]["scale"] > 0
    assert do_fit(TinyModel(0), *loaders(), tmp_path, epochs=2, precision="fp16", extend=True).epochs_run == 2
    with pytest.raises(ValueError, match="precision"):  # a resumed run keeps its precision
        do_fit(TinyModel(0), *loaders(), tmp_path, epochs=3, precision="fp32", extend=True)


def test_resume_state_is_keyed_by_everything_that_changes_results(tmp_path):
    from mbrnn.checkpoints import state_dir_for

    base = dict(state_root=tmp_path, name="m", model_cfg={"arch": "caml"}, run_key={"lr": 1e-3, "epochs": 5},
                inputs_id="abc", icd_codes=["401.9"], ccs_codes=["dx:98"])
    same = state_dir_for(**base)
    longer = state_dir_for(**{**base, "run_key": {"lr": 1e-3, "epochs": 50}})
    assert longer != same and longer.parent == same.parent  # epochs is part of the key; siblings can be extended
    run_key = TrainConfig(lr=1e-3, epochs=5).run_key()  # extend, seeds, gpus and the folders are not part of it
    assert run_key == TrainConfig(lr=1e-3, epochs=5, extend=True, seeds=[1, 2], gpus=4, models_dir="x").run_key()
    assert run_key != TrainConfig(lr=1e-3, epochs=5, batch_size=8).run_key()
    for change in ({"run_key": {"lr": 3e-3, "epochs": 5}}, {"model_cfg": {"arch": "laat"}}, {"inputs_id": "abd"},
                   {"icd_codes": ["401.9", "38.93"]}, {"ccs_codes": []}):
        assert state_dir_for(**{**base, **change}).parent != same.parent, change


def test_resume_state_of_other_code_is_not_reused(tmp_path, monkeypatch):
    """A finished run's state must not come back as the result of changed code (a new stopping rule, say):
    DVC re-runs the stage because the code changed, and the state folder is keyed by the package's sources."""
    from mbrnn import checkpoints

    base = dict(state_root=tmp_path, name="m", model_cfg={"arch": "caml"}, run_key={"lr": 1e-3, "epochs": 5},
                inputs_id="abc", icd_codes=["401.9"], ccs_codes=["dx:98"])
    digest = checkpoints.source_digest()
    assert len(digest) == 64 and digest == checkpoints.source_digest()
    same = checkpoints.state_dir_for(**base)
    pkg = tmp_path / "pkg"
    (pkg / "models").mkdir(parents=True)
    (pkg / "models" / "a.py").write_text("x = 1\n")
    monkeypatch.setattr(checkpoints, "__file__", str(pkg / "checkpoints.py"))
    first = checkpoints.source_digest()
    (pkg / "models" / "a.py").write_text("x = 2\n")  # a change in a subpackage
    assert checkpoints.source_digest() != first
    assert checkpoints.state_dir_for(**base).parent != same.parent


def test_fit_refuses_state_of_another_epoch_count_unless_extending(tmp_path):
    full = do_fit(TinyModel(0), *loaders(), tmp_path / "full", epochs=3)
    do_fit(TinyModel(0), *loaders(), tmp_path / "ext", epochs=2)
    with pytest.raises(ValueError, match="run of 3 epochs"):  # a shorter run never reports a longer one
        do_fit(TinyModel(0), *loaders(), tmp_path / "full", epochs=1)
    with pytest.raises(ValueError, match="extend"):  # nor is a finished run continued silently
        do_fit(TinyModel(0), *loaders(), tmp_path / "ext", epochs=3)
    with pytest.raises(ValueError, match="run of 3 epochs"):  # extend never goes backwards
        do_fit(TinyModel(0), *loaders(), tmp_path / "full", epochs=1, extend=True)
    ext = do_fit(TinyModel(0), *loaders(), tmp_path / "ext", epochs=3, extend=True)
    cols = ["epoch", "train_loss", "dev_micro_f1", "dev_macro_f1", "lr"]
    pd.testing.assert_frame_equal(full.curves[cols], ext.curves[cols])  # extending = training longer
    assert_same(weights(tmp_path / "full" / "last.pt"), weights(tmp_path / "ext" / "last.pt"))


def test_plateau_at_zero_f1_does_not_freeze_early_stopping(tmp_path):
    """Thresholded dev F1 exactly 0 for the first epochs (every probability below 0.5) while the threshold-free
    micro-AUC rises: the run goes on past them and past `patience`, and keeps the later, better epoch."""
    f1s = iter([0.0, 0.0, 0.0, 0.0, 0.3, 0.5, 0.4, 0.4, 0.4])
    aucs = iter([0.55, 0.60, 0.65, 0.70, 0.75, 0.80, 0.79, 0.79, 0.78])

    def plateau(y_true, y_prob, threshold):
        return {"micro_f1": 0.0, "macro_f1": next(f1s), "micro_auc": next(aucs)}

    res = do_fit(TinyModel(0), *loaders(), tmp_path / "p", epochs=20, patience=2, evaluate_fn=plateau)
    assert res.best_epoch == 6 and res.epochs_run == 8 and res.stopped_early
    assert res.curves["dev_micro_auc"].tolist()[:2] == [0.55, 0.60]
    # without the tie-break (a figure the evaluation does not give) the epochs at 0 do not count either: patience
    # starts once the model has left the prior plateau, so the later F1 is found all the same
    f1s, aucs = iter([0.0, 0.0, 0.0, 0.0, 0.3, 0.3, 0.3]), iter([0.55, 0.60, 0.65, 0.70, 0.75, 0.75, 0.75])
    res = do_fit(TinyModel(0), *loaders(), tmp_path / "q", epochs=20, patience=2, evaluate_fn=plateau,
                 tie_break_metric="absent")
    assert (res.best_epoch, res.epochs_run, res.stopped_early) == (5, 7, True)


def test_patience_starts_once_the_model_leaves_the_prior_plateau(tmp_path):
    """Dev macro-F1 within min_delta of 0 (no code predicted, or a handful right by chance) and a flat, noisy AUC:
    those epochs do not count, so early stopping cannot call a model that has not started converged. One that
    never leaves the plateau runs to the epoch cap, and is not converged."""
    def scripted(f1s, aucs):
        f1s, aucs = iter(f1s), iter(aucs)
        return lambda y_true, y_prob, threshold: {"micro_f1": 0.0, "macro_f1": next(f1s), "micro_auc": next(aucs)}

    flat = [0.67] * 10
    res = do_fit(TinyModel(0), *loaders(), tmp_path / "a", epochs=10, patience=3, min_delta=0.01,
                 evaluate_fn=scripted([0.0, 0.0, 0.003, 0.0, 0.0, 0.05, 0.05, 0.05, 0.05, 0.05], flat))
    assert (res.best_epoch, res.epochs_run, res.stopped_early) == (6, 9, True)  # counted from epoch 7 on
    res = do_fit(TinyModel(0), *loaders(), tmp_path / "b", epochs=6, patience=3, min_delta=0.01,
                 evaluate_fn=scripted([0.0, 0.002, 0.0, 0.009, 0.0, 0.0], flat))
    assert (res.epochs_run, res.stopped_early) == (6, False)  # never left it: the cap, not early stopping
    # once it has left the plateau, a fall back onto it counts like any other epoch without progress
    res = do_fit(TinyModel(0), *loaders(), tmp_path / "c", epochs=10, patience=3, min_delta=0.01,
                 evaluate_fn=scripted([0.0, 0.05, 0.0, 0.0, 0.0, 0.0], flat))
    assert (res.best_epoch, res.epochs_run, res.stopped_early) == (2, 5, True)


def test_a_slow_start_off_the_plateau_is_progress(tmp_path):
    """The MIMIC-IV demo's MBRNN once stopped at epoch 13 with dev micro-F1 0.08 and rising: its macro-F1 went
    0.006 -> 0.012 -> 0.014 -> 0.016, each step below min_delta, while the noisy AUC had peaked. A rise of a
    quarter of a small best score is progress (the old rule stopped this run at epoch 6, best epoch 3); from a
    best of 4 min_delta on, min_delta alone decides (0.058 and 0.059 do not beat 0.05)."""
    f1s = iter([0.0, 0.0, 0.0064, 0.0115, 0.014, 0.0159, 0.03, 0.05, 0.058, 0.055, 0.059, 0.05])
    aucs = iter([0.68, 0.70, 0.708] + [0.70] * 9)

    def slow(y_true, y_prob, threshold):
        return {"micro_f1": 0.0, "macro_f1": next(f1s), "micro_auc": next(aucs)}

    res = do_fit(TinyModel(0), *loaders(), tmp_path / "s", epochs=12, patience=3, min_delta=0.01, evaluate_fn=slow)
    assert (res.best_epoch, res.epochs_run, res.stopped_early) == (8, 11, True)


def test_differences_within_min_delta_are_ties(tmp_path):
    """A noisy plateau (macro-F1 wobbling by less than min_delta) is a tie, decided by the rising AUC; a clear
    drop of the thresholded score is not rescued by the AUC."""
    f1s = iter([0.002, 0.001, 0.004, 0.003, 0.2, 0.15, 0.14, 0.13, 0.12])
    aucs = iter([0.60, 0.62, 0.64, 0.66, 0.70, 0.90, 0.89, 0.88, 0.87])

    def noisy(y_true, y_prob, threshold):
        return {"micro_f1": 0.0, "macro_f1": next(f1s), "micro_auc": next(aucs)}

    res = do_fit(TinyModel(0), *loaders(), tmp_path / "n", epochs=20, patience=3, min_delta=0.01, evaluate_fn=noisy)
    assert (res.best_epoch, res.epochs_run) == (5, 9)  # epoch 6's AUC high only resets patience
    f1s, aucs = iter([0.002, 0.001, 0.0015]), iter([0.60, 0.59, 0.58])
    res = do_fit(TinyModel(0), *loaders(), tmp_path / "z", epochs=20, patience=2, evaluate_fn=noisy)  # min_delta 0
    assert (res.best_epoch, res.epochs_run) == (1, 3)


def test_degenerate_first_epoch_cannot_end_a_learning_run(tmp_path):
    """Epoch 1's F1 comes from p ~ 0.5 everywhere (many labels predicted for every note); then F1 drops to 0 on
    the prior plateau while the AUC rises. Patience waits for the AUC too; the later, real F1 wins."""
    f1s = iter([0.05, 0.0, 0.0, 0.0, 0.0, 0.2, 0.3, 0.3, 0.3, 0.3])
    aucs = iter([0.52, 0.60, 0.65, 0.70, 0.72, 0.80, 0.82, 0.81, 0.81, 0.80])

    def degenerate(y_true, y_prob, threshold):
        return {"micro_f1": 0.0, "macro_f1": next(f1s), "micro_auc": next(aucs)}

    res = do_fit(TinyModel(0), *loaders(), tmp_path, epochs=20, patience=3, min_delta=0.01, evaluate_fn=degenerate)
    assert (res.best_epoch, res.epochs_run) == (7, 10)


def test_warmup_ramps_the_learning_rate(tmp_path):
    train_b, dev_b = loaders()  # 20 documents in batches of 4: 5 steps an epoch
    res = do_fit(TinyModel(0), train_b, dev_b, tmp_path, epochs=3, lr=1e-2, warmup_epochs=2.0)
    assert res.curves["lr"].tolist() == pytest.approx([1e-2 * 5 / 10, 1e-2, 1e-2])


def test_seeds_must_be_a_list_of_distinct_ints():
    assert TrainConfig.from_params({"train": {"seeds": [3, 1]}}).seeds == (3, 1)
    for bad in (0, [], [1, 1], ["0"], [True], [-1]):
        with pytest.raises(ParamsError, match="train.seeds"):
            TrainConfig.from_params({"train": {"seeds": bad}})
    with pytest.raises(ParamsError, match="replaced by train.seeds"):
        TrainConfig.from_params({"train": {"seed": 0, "seeds": [0]}})


def test_train_config_defaults_and_params_yaml():
    """An absent key takes the dataclass default; the repository's params.yaml validates and sets every key."""
    from mbrnn import runner
    from mbrnn.config import load_params

    c = TrainConfig.from_params({"train": {}})
    assert (c.seeds, c.batch_size, c.eval_batch, c.lr, c.epochs, c.patience, c.max_tokens, c.gpus, c.min_delta) == (
        (0,), 16, 16, 1e-3, 50, 10, None, 1, 0.0)
    assert TrainConfig.from_params({"train": {"batch_size": 8, "eval_batch_size": 64}}).eval_batch == 64
    section = load_params(runner.project_root(__file__) / "params.yaml")["train"]
    c = TrainConfig.from_params({"train": section})
    assert {k: getattr(c, k) for k in section} == {k: tuple(v) if k == "seeds" else v for k, v in section.items()}
    assert c.record() == {k: v for k, v in section.items() if k not in ("models_dir", "state_dir", "curves_dir", "gpus")}
    assert TrainConfig.from_params({"train": {"lr": 1}}).lr == 1.0 and isinstance(
        TrainConfig.from_params({"train": {"lr": 1}}).lr, float)


@pytest.mark.parametrize("key, value, message", [
    ("epochs", 0, "train.epochs must be >= 1, got 0"),
    ("epochs", 2.5, "train.epochs must be an integer, got 2.5"),
    ("patience", True, "train.patience must be an integer, got True"),
    ("batch_size", "32", "train.batch_size must be an integer"),
    ("gpus", 0, "train.gpus must be >= 1"),
    ("eval_batch_size", 0, "train.eval_batch_size"),
    ("max_tokens", -5, "train.max_tokens"),
    ("lr", 0, "train.lr must be a number > 0, got 0"),
    ("lr", "1e-3", "train.lr must be a number > 0, got '1e-3'"),
    ("weight_decay", -0.1, "train.weight_decay must be a number >= 0, got -0.1"),
    ("threshold", 1.5, "train.threshold must be a number between 0 and 1, got 1.5"),
    ("min_delta", float("nan"), "train.min_delta"),
    ("precision", "fp8", "train.precision must be one of"),
    ("device", "gpu", "train.device must be auto, cpu, cuda"),
    ("extend", "yes", "train.extend must be true or false, got 'yes'"),
    ("models_dir", "", "train.models_dir must be a path"),
    ("early_stop_metric", None, "train.early_stop_metric must be the name of a metric"),
])
def test_train_config_names_the_bad_key_and_value(key, value, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        TrainConfig.from_params({"train": {key: value}})


def test_train_config_refuses_unknown_keys():
    with pytest.raises(ParamsError, match=r"unknown key\(s\) \['learning_rate'\]"):
        TrainConfig.from_params({"train": {"lr": 1e-3, "learning_rate": 1e-3}})
    with pytest.raises(ParamsError, match="section 'train:' is missing"):
        TrainConfig.from_params({"cohort": {}})


@pytest.mark.skipif(not REAL, reason="real models/losses/metrics not available")
def test_run_records_what_was_run(tmp_path):
    """epochs 3, then 1 (same state root): the second run reports one epoch, not the first run's three;
    seeds, convergence and parameters are in the metrics file; further seeds write under seed-<s>/."""
    write_cohort(tmp_path, np.random.default_rng(0))
    model_cfg = {"arch": "caml", "num_filters": 6, "kernel_size": 3, "loss": "bce"}
    tc = {"seeds": [0, 7], "device": "cpu", "batch_size": 8, "max_tokens": 20, "epochs": 3, "patience": 5,
          "lr": 1e-2, "weight_decay": 0.01, "grad_clip": 1.0, "threshold": 0.5, "early_stop_metric": "macro_f1"}
    out, mpath, cpath = tmp_path / "model", tmp_path / "m.json", tmp_path / "c.csv"
    args = ("x", model_cfg)
    paths = (tmp_path, tmp_path / "emb", out, mpath, cpath)
    m3 = T.run(*args, TrainConfig(**tc), *paths, progress=False, state_root=tmp_path / "state")
    assert m3["epochs_run"] == 3 and m3["converged"] is False and m3["patience"] == 5
    assert m3["seeds"] == [0, 7] and set(m3["by_seed"]) == {"0", "7"}
    assert m3["by_seed"]["0"]["icd"]["test"] == m3["icd"]["test"]
    assert m3["by_seed"]["7"]["icd"]["test"] != m3["icd"]["test"]  # another seed, another model
    assert m3["params"] == {"model": model_cfg, "train": TrainConfig(**tc).record()}
    assert m3["params"]["train"]["seeds"] == [0, 7] and m3["params"]["train"]["min_delta"] == 0.0  # defaults too
    assert (out / "test.npz").exists() and (out / "seed-7" / "test.npz").exists()
    z7 = np.load(out / "seed-7" / "test.npz")
    from mbrnn.metrics import evaluate
    assert m3["by_seed"]["7"]["icd"]["test"] == pytest.approx(evaluate(z7["icd_true"], z7["icd_prob"]), nan_ok=True)
    m1 = T.run(*args, TrainConfig(**tc | {"epochs": 1, "seeds": [0]}), *paths, progress=False,
               state_root=tmp_path / "state")
    assert m1["epochs_run"] == 1 and len(pd.read_csv(cpath)) == 1 and m1["params"]["train"]["epochs"] == 1
    assert json.loads(mpath.read_text())["epochs_run"] == 1
    m5 = T.run(*args, TrainConfig(**tc | {"epochs": 5, "seeds": [0], "extend": True}), *paths, progress=False,
               state_root=tmp_path / "state")
    assert m5["epochs_run"] == 5 and pd.read_csv(cpath)["epoch"].tolist() == [1, 2, 3, 4, 5]
    fresh = T.run(*args, TrainConfig(**tc | {"epochs": 5, "seeds": [0]}), *paths, progress=False,
                  state_root=tmp_path / "fresh")
    assert fresh["icd"]["test"] == m5["icd"]["test"]  # extending equals training 5 epochs from the start
