"""The train stage (``train.run``) end to end on a tiny cohort: determinism and resume, byte for byte (issue 14).

The README promises that the same params and seed give byte-identical outputs on CPU apart from wall-clock fields,
and that an interrupted run resumes where it stopped. Both are checked here at the stage level, on every file the
stage writes: checkpoint, dev/test predictions, metrics JSON and curves CSV.
"""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from mbrnn import batching as D
from mbrnn import train
from mbrnn.config import TrainConfig

torch.set_num_threads(1)
VOCAB = ["<pad>", "<unk>"] + [f"w{i}" for i in range(28)]
ICD = ["401.9", "414.01", "428.0", "38.93"]
CCS = ["dx:98", "dx:101", "px:38"]
CCS_OF = {"401.9": "dx:98", "414.01": "dx:101", "428.0": "dx:101", "38.93": "px:38"}
WALL_CLOCK = {"train_seconds", "seconds"}
MODEL = {"arch": "mbrnn", "hidden": 8, "freeze_embeddings": False, "loss": "focal", "gamma": 2.0, "alpha": 1.0,
         "ccs_weight": 0.3}
TRAIN = {"seeds": [0], "device": "cpu", "precision": "auto", "batch_size": 8, "eval_batch_size": 8,
         "max_tokens": 20, "epochs": 2, "patience": 2, "lr": 1e-2, "weight_decay": 0.01, "grad_clip": 1.0,
         "threshold": 0.5, "early_stop_metric": "macro_f1"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    """A cohort folder and an embeddings folder in the stage's formats: label j is on iff word w<j> occurs."""
    d = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    for split, n in (("train", 24), ("dev", 8), ("test", 8)):
        texts = [" ".join(rng.choice(VOCAB[2:], size=rng.integers(8, 25))) for _ in range(n)]
        icd = [[c for j, c in enumerate(ICD) if f"w{j}" in t.split()] for t in texts]
        pd.DataFrame({"subject_id": np.arange(n), "hadm_id": np.arange(n) + 1000, "text": texts,
                      "n_tokens": [len(t.split()) for t in texts], "icd_codes": icd,
                      "ccs_codes": [sorted({CCS_OF[c] for c in codes}) for codes in icd]}).to_parquet(d / f"{split}.parquet")
    pd.DataFrame({"code": ICD, "kind": ["dx", "dx", "dx", "px"], "description": "", "train_count": 1,
                  "ccs": [CCS_OF[c] for c in ICD]}).to_csv(d / "icd_labels.csv", index=False)
    pd.DataFrame({"code": CCS, "kind": ["dx", "dx", "px"], "description": "", "train_count": 1}).to_csv(
        d / "ccs_labels.csv", index=False)
    (d / "emb").mkdir()
    (d / "emb" / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    W = rng.standard_normal((len(VOCAB), 12)).astype(np.float32)
    W[0] = 0
    np.save(d / "emb" / "embeddings.npy", W)
    return d


def run_stage(inputs, where, model_cfg=MODEL, **train_overrides):
    """The one call of the train stage in this module (adapt here if ``train.run``'s signature changes).

    Writes into ``where``: models/x/, metrics.json, curves.csv; resume state in state/."""
    return train.run("x", dict(model_cfg), TrainConfig(**{**TRAIN, **train_overrides}), inputs, inputs / "emb",
                     where / "models" / "x", where / "metrics.json", where / "curves.csv", progress=False,
                     state_root=where / "state")


def _strip_wall_clock(obj):
    if isinstance(obj, dict):
        return {k: _strip_wall_clock(v) for k, v in obj.items() if k not in WALL_CLOCK}
    if isinstance(obj, list):
        return [_strip_wall_clock(v) for v in obj]
    return obj


def stage_outputs(where) -> dict:
    """Every file the stage wrote as bytes, the wall-clock fields of the metrics JSON and the curves taken out."""
    out = {str(p.relative_to(where)): p.read_bytes() for p in sorted((where / "models").rglob("*")) if p.is_file()}
    out["metrics.json"] = _strip_wall_clock(json.loads((where / "metrics.json").read_text()))
    curves = pd.read_csv(where / "curves.csv")
    out["curves.csv"] = curves.drop(columns=[c for c in WALL_CLOCK if c in curves]).to_csv(index=False)
    return out


def assert_same_outputs(a, b):
    oa, ob = stage_outputs(a), stage_outputs(b)
    assert sorted(oa) == sorted(ob)
    assert {"models/x/checkpoint.pt", "models/x/dev.npz", "models/x/test.npz"} <= set(oa)
    for name in oa:
        assert oa[name] == ob[name], f"{name} differs"


def test_train_stage_twice_gives_identical_bytes(inputs, tmp_path):
    m1 = run_stage(inputs, tmp_path / "a")
    m2 = run_stage(inputs, tmp_path / "b")
    assert _strip_wall_clock(m1) == _strip_wall_clock(m2)
    assert_same_outputs(tmp_path / "a", tmp_path / "b")
    assert m1["epochs_run"] == 2
    assert len(pd.read_csv(tmp_path / "a" / "curves.csv")) == 2


def test_train_stage_with_another_seed_differs(inputs, tmp_path):
    """The determinism test above is not vacuous: the seed does reach the outputs."""
    run_stage(inputs, tmp_path / "a")
    run_stage(inputs, tmp_path / "b", seeds=[1])
    a, b = (np.load(tmp_path / w / "models" / "x" / "test.npz")["icd_prob"] for w in ("a", "b"))
    assert not np.array_equal(a, b)


def test_train_stage_interrupted_and_resumed_equals_uninterrupted(inputs, tmp_path, monkeypatch):
    run_stage(inputs, tmp_path / "whole")

    started = []
    set_epoch = D.Batches.set_epoch

    def interrupt_at_epoch_2(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt("simulated interruption")
        started.append(epoch)
        set_epoch(self, epoch)

    monkeypatch.setattr(D.Batches, "set_epoch", interrupt_at_epoch_2)
    with pytest.raises(KeyboardInterrupt):
        run_stage(inputs, tmp_path / "resumed")
    assert started == [1]  # epoch 1 ran and was saved; epoch 2 never started
    assert not (tmp_path / "resumed" / "metrics.json").exists()

    def record(self, epoch):
        started.append(epoch)
        set_epoch(self, epoch)

    monkeypatch.setattr(D.Batches, "set_epoch", record)
    run_stage(inputs, tmp_path / "resumed")
    assert started == [1, 2]  # the second run went on from epoch 2: it resumed, it did not start over
    assert_same_outputs(tmp_path / "whole", tmp_path / "resumed")
