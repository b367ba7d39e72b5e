import json

import numpy as np
import pytest
import torch

from mbrnn import io


def test_save_npz_is_byte_deterministic_and_loads(tmp_path):
    arrays = dict(a=np.arange(6, dtype=np.int64).reshape(2, 3), codes=np.array(["401.9", "00.66"]),
                  p=np.random.default_rng(0).random((3, 4)).astype(np.float32))
    io.save_npz(tmp_path / "x.npz", **arrays)
    first = (tmp_path / "x.npz").read_bytes()
    io.save_npz(tmp_path / "x.npz", **arrays)
    assert (tmp_path / "x.npz").read_bytes() == first
    with np.load(tmp_path / "x.npz") as z:
        for k, v in arrays.items():
            np.testing.assert_array_equal(z[k], v)


def test_torch_checkpoints_are_byte_deterministic(tmp_path):
    """Checkpoints go through a temporary file with a random name; the bytes must not depend on it."""
    from mbrnn.checkpoints import save as _save

    state = {"w": torch.arange(5.0), "meta": {"codes": ["401.9"]}}
    _save(state, tmp_path / "a.pt")
    first = (tmp_path / "a.pt").read_bytes()
    _save(state, tmp_path / "a.pt")
    assert (tmp_path / "a.pt").read_bytes() == first
    assert torch.load(tmp_path / "a.pt", weights_only=True)["meta"] == {"codes": ["401.9"]}


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with io.atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("partial")
            raise RuntimeError("crash mid-write")
    assert list(tmp_path.iterdir()) == []
    io.write_json(tmp_path / "out.json", {"b": np.float32(0.5), "a": np.int64(3)})
    assert json.loads((tmp_path / "out.json").read_text()) == {"a": 3, "b": 0.5}
