"""fit() under torch.distributed: 2 CPU processes (gloo) equal one process with the same global batch, and an
interrupted 2-process run resumes to the uninterrupted result."""
import os
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
import torch.nn.functional as F
from torch import nn

from mbrnn import batching as D
from mbrnn import train as T
from mbrnn.config import TrainConfig
from mbrnn.fit import fit

V, N_ICD = 30, 4
META = {"arch": "tiny-ddp"}
FIT = dict(progress=False, seed=5, meta=META)


def config(epochs):
    return TrainConfig(lr=2e-2, patience=100, device="cpu", epochs=epochs)


class Tiny(nn.Module):
    """Masked mean of embeddings -> linear head; no dropout, so one and two processes can be compared."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.emb = nn.Embedding(V, 8, padding_idx=0)
        self.icd = nn.Linear(8, N_ICD)

    def forward(self, tokens, mask):
        m = mask.unsqueeze(-1).float()
        return {"icd": self.icd((self.emb(tokens) * m).sum(1) / m.sum(1).clamp(min=1))}


def bce(out, targets):
    return F.binary_cross_entropy_with_logits(out["icd"], targets["icd"])


def evaluate(y_true, y_prob, threshold):
    return {"macro_f1": float(((y_prob >= threshold) == y_true).mean()), "micro_auc": float(-np.abs(y_true - y_prob).mean())}


def dataset(n, seed):
    rng = np.random.default_rng(seed)
    tokens = [rng.integers(2, V, size=rng.integers(3, 25)) for _ in range(n)]
    icd = np.array([[(2 + j) in t for j in range(N_ICD)] for t in tokens])
    return D.CodingDataset(tokens, {"icd": icd}, hadm_id=np.arange(n))


class Crash(D.Batches):
    """Fails when epoch ``crash`` begins (on every rank), as a killed job would."""
    crash = 0

    def set_epoch(self, epoch):
        if epoch == self.crash:
            raise RuntimeError("simulated crash")
        super().set_epoch(epoch)


def batches(crash=0):
    train = Crash(dataset(21, 0), 8, shuffle=True, seed=7)  # 21 rows: the last batch (5) splits 3 + 2
    train.crash = crash
    return train, D.Batches(dataset(10, 1), 4)


def _worker(rank, world, port, ckdir, epochs, crash, out):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    try:
        model = Tiny()
        res = fit(model, bce, *batches(crash), config(epochs), checkpoint_dir=ckdir, evaluate_fn=evaluate, **FIT)
        torch.save({"state": model.state_dict(), "curves": res.curves.to_dict("list")}, f"{out}.{rank}")
    finally:
        torch.distributed.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run2(ckdir, epochs, out, crash=0):
    """fit() in 2 spawned processes; returns each rank's final weights and curves."""
    mp.spawn(_worker, args=(2, _free_port(), str(ckdir), epochs, crash, str(out)), nprocs=2, join=True)
    return [torch.load(f"{out}.{r}", weights_only=True) for r in range(2)]


@pytest.fixture(autouse=True)
def _importable(monkeypatch):
    """Spawned children import this module by name: give them its folder and the package."""
    here, root = Path(__file__).parent, Path(__file__).parent.parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(here), str(root), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.syspath_prepend(str(here))


def test_two_processes_equal_one_with_the_same_global_batch(tmp_path):
    two = run2(tmp_path / "ddp", 2, tmp_path / "res")
    model = Tiny()
    one = fit(model, bce, *batches(), config(2), checkpoint_dir=tmp_path / "one", evaluate_fn=evaluate, **FIT)
    for k, v in model.state_dict().items():
        for r in range(2):
            torch.testing.assert_close(two[r]["state"][k], v, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(two[0]["curves"]["train_loss"], one.curves["train_loss"], rtol=1e-5)
    assert (tmp_path / "ddp" / "last.pt").exists() and (tmp_path / "ddp" / "best.pt").exists()
    ck = torch.load(tmp_path / "ddp" / "last.pt", weights_only=True)
    assert ck["fit_args"]["world_size"] == 2 and len(ck["rng_by_rank"]) == 2 and ck["epoch"] == 2


def test_interrupted_two_process_run_resumes(tmp_path):
    full = run2(tmp_path / "full", 3, tmp_path / "full_res")
    with pytest.raises(Exception, match="simulated crash"):
        run2(tmp_path / "cut", 3, tmp_path / "cut_res", crash=3)
    assert torch.load(tmp_path / "cut" / "last.pt", weights_only=True)["epoch"] == 2
    resumed = run2(tmp_path / "cut", 3, tmp_path / "cut_res")
    for k, v in full[0]["state"].items():
        torch.testing.assert_close(resumed[0]["state"][k], v, rtol=0, atol=0)
    assert resumed[0]["curves"]["epoch"] == [1, 2, 3]
    np.testing.assert_allclose(resumed[0]["curves"]["train_loss"], full[0]["curves"]["train_loss"], rtol=0, atol=0)


def _stage_worker(rank, world, port, inputs, where):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    import test_train_stage as S
    out = Path(where) / f"rank{rank}"  # each rank its own output paths, so a write by rank 1 shows
    try:
        T.run("x", dict(S.MODEL), TrainConfig(**S.TRAIN), Path(inputs), Path(inputs) / "emb", out / "models" / "x",
              out / "metrics.json", out / "curves.csv", progress=False, state_root=Path(where) / "state")
    finally:
        torch.distributed.destroy_process_group()


def test_distributed_stage_writes_only_from_rank_0(tmp_path):
    """train.run under 2 ranks (as torchrun launches it): one set of outputs, as a one-process stage writes."""
    import test_train_stage as S
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    S.inputs.__wrapped__(type("F", (), {"mktemp": staticmethod(lambda _: inputs)})())
    mp.spawn(_stage_worker, args=(2, _free_port(), str(inputs), str(tmp_path / "ddp")), nprocs=2, join=True)
    S.run_stage(inputs, tmp_path / "one")
    assert not (tmp_path / "ddp" / "rank1").exists()
    ddp, one = S.stage_outputs(tmp_path / "ddp" / "rank0"), S.stage_outputs(tmp_path / "one")
    assert sorted(ddp) == sorted(one)
    assert ddp["metrics.json"]["epochs_run"] == one["metrics.json"]["epochs_run"] == 2
    last = list((tmp_path / "ddp" / "state").rglob("last.pt"))
    assert len(last) == 1 and torch.load(last[0], weights_only=True)["fit_args"]["world_size"] == 2


@pytest.mark.slow
def test_train_gpus_2_runs_the_stage_as_two_processes(tmp_path):
    """``train.gpus: 2`` makes ``python -m mbrnn stage train@NAME`` (the DVC command) relaunch itself under torchrun:
    2 gloo processes on CPU, one executed notebook, the same curves as one process (no dropout), and ``gpus`` is not
    among the model's recorded parameters."""
    import json
    import subprocess
    import sys

    import pandas as pd
    import yaml

    from mbrnn import runner, synthetic
    from mbrnn.config import load_params

    root = runner.project_root(__file__)
    params = load_params(root / "params.yaml")
    params["data"].update(raw_dir=str(tmp_path / "raw"))
    params["cohort"].update(cohort_dir=str(tmp_path / "cohort"), top_k=20)
    params["embeddings"].update(embeddings_dir=str(tmp_path / "emb"), epochs=1, vector_size=8)
    params["reports"] = {k: str(tmp_path / "reports" / os.path.basename(v)) for k, v in params["reports"].items()}
    params["train"].update(models_dir=str(tmp_path / "models"), state_dir=str(tmp_path / "state"), epochs=2,
                           curves_dir=str(tmp_path / "curves"), max_tokens=48, batch_size=8, device="cpu")
    params["models"] = {"caml": {**params["models"]["caml"], "num_filters": 8, "dropout": 0.0}}
    synthetic.generate(tmp_path / "raw", scale=120, seed=0, progress=False)
    for stage in ("cohort", "embeddings"):
        runner.run_stage(stage, params, root, tmp_path / "nb" / f"{stage}.ipynb")
    project = tmp_path / "project"
    project.mkdir()
    (project / "notebooks").symlink_to(root / "notebooks")
    (project / "dvc.yaml").write_text((root / "dvc.yaml").read_text())
    env = {**os.environ, "PYTHONPATH": str(root), "OMP_NUM_THREADS": "1"}
    curves = {}
    for gpus in (1, 2):
        params["train"].update(gpus=gpus, curves_dir=str(tmp_path / f"curves{gpus}"), state_dir=str(tmp_path / f"state{gpus}"))
        (project / "params.yaml").write_text(yaml.safe_dump(params))
        r = subprocess.run([sys.executable, "-m", "mbrnn", "stage", "train@caml"], cwd=project, env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr[-3000:]
        assert ("torch.distributed.run" in r.stdout) == (gpus == 2)
        curves[gpus] = pd.read_csv(tmp_path / f"curves{gpus}" / "caml.csv")
        assert [p.name for p in (project / "reports" / "notebooks").iterdir()] == ["03_train_caml.ipynb"]
        recorded = json.loads((tmp_path / "reports" / "metrics" / "models" / "caml.json").read_text())["params"]
        assert "gpus" not in recorded["train"] and recorded["train"]["epochs"] == 2
    assert len(curves[1]) == len(curves[2]) == 2
    np.testing.assert_allclose(curves[2]["train_loss"], curves[1]["train_loss"], rtol=1e-4)
