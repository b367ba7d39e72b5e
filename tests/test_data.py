import numpy as np
import pandas as pd
import pytest
import torch

from mbrnn import batching as D

VOCAB = ["<pad>", "<unk>", "fever", "cough", "sepsis"]


def test_encode_unk_and_truncation():
    ids = D.encode(["fever foo cough", "sepsis sepsis fever cough", ""], VOCAB, max_tokens=3)
    assert [a.tolist() for a in ids] == [[2, 1, 3], [4, 4, 2], []]
    assert all(a.dtype == np.int64 for a in ids)
    assert D.encode(["fever cough sepsis"], VOCAB, max_tokens=None)[0].tolist() == [2, 3, 4]


def test_multi_hot_and_unknown_code_error():
    Y = D.multi_hot([["401.9", "38.93"], [], ["38.93"]], ["38.93", "401.9", "V58.61"])
    assert Y.dtype == bool
    assert Y.tolist() == [[True, True, False], [False, False, False], [True, False, False]]
    with pytest.raises(ValueError, match=r"2 codes.*'999\.9'"):
        D.multi_hot([["401.9", "999.9"], ["000.1"]], ["401.9"])


@pytest.mark.parametrize("shuffle", [True, False])
def test_bucketed_batches_cover_every_index_once_and_are_deterministic(shuffle):
    lengths = np.random.default_rng(0).integers(1, 500, size=103)
    batches = D.length_bucketed_batches(lengths, batch_size=4, shuffle=shuffle, seed=5, chunk_batches=3)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(103))
    assert all(1 <= len(b) <= 4 for b in batches) and len(batches) == 26
    again = D.length_bucketed_batches(lengths, batch_size=4, shuffle=shuffle, seed=5, chunk_batches=3)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again))
    if shuffle:
        other = D.length_bucketed_batches(lengths, batch_size=4, shuffle=True, seed=6, chunk_batches=3)
        assert not all(np.array_equal(a, b) for a, b in zip(batches, other))
    else:
        assert np.all(np.diff(lengths[flat]) <= 0)  # longest first


def test_bucketing_reduces_padding():
    lengths = np.random.default_rng(1).integers(1, 1000, size=400)
    pad = lambda bs: sum(lengths[b].max() * len(b) - lengths[b].sum() for b in bs)
    bucketed = D.length_bucketed_batches(lengths, 8, shuffle=True, seed=0, chunk_batches=10)
    plain = np.array_split(np.random.default_rng(0).permutation(400), 50)
    assert pad(bucketed) < 0.5 * pad(plain)


def test_collate_pads_and_masks():
    ds = D.CodingDataset([np.array([2, 3, 4]), np.array([4]), np.array([], dtype=np.int64)],
                         {"icd": np.array([[1, 0], [0, 1], [0, 0]], dtype=bool)}, hadm_id=[10, 11, 12])
    b = D.collate([ds[0], ds[1], ds[2]])
    assert b["tokens"].dtype == torch.long and b["mask"].dtype == torch.bool
    assert b["tokens"].tolist() == [[2, 3, 4], [4, 0, 0], [0, 0, 0]]
    assert b["mask"].tolist() == [[True, True, True], [True, False, False], [False, False, False]]
    assert b["targets"]["icd"].dtype == torch.float32
    assert b["targets"]["icd"].tolist() == [[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]
    assert b["index"].tolist() == [0, 1, 2]
    assert D.collate([ds[2]])["tokens"].shape == (1, 1)  # an empty batch still has one (padding) column


def test_batches_iterate_whole_dataset_and_reshuffle_per_epoch():
    n = 23
    rng = np.random.default_rng(0)
    tokens = [rng.integers(2, 5, size=rng.integers(1, 30)) for _ in range(n)]
    ds = D.CodingDataset(tokens, {"icd": rng.random((n, 3)) < 0.5})
    loader = D.Batches(ds, batch_size=4, shuffle=True, seed=1)
    order = lambda: [b["index"].tolist() for b in loader]
    loader.set_epoch(1)
    e1 = order()
    assert len(e1) == len(loader) == 6 and sorted(sum(e1, [])) == list(range(n))
    assert order() == e1
    loader.set_epoch(2)
    assert order() != e1
    for b in loader:  # each row is the dataset's document, padded
        for row, i, m in zip(b["tokens"], b["index"], b["mask"]):
            assert row[m].tolist() == tokens[i].tolist()


def test_load_split_and_label_vocab(tmp_path):
    pd.DataFrame({"code": ["401.10", "38.93", "V58.61"], "kind": ["dx", "px", "dx"], "description": ["a", "b", "c"],
                  "train_count": [3, 2, 1], "ccs": ["dx:98", "px:54", "dx:257"]}).to_csv(tmp_path / "icd_labels.csv",
                                                                                       index=False)
    pd.DataFrame({"code": ["dx:98", "px:54"], "kind": ["dx", "px"], "description": ["x", "y"],
                  "train_count": [3, 2]}).to_csv(tmp_path / "ccs_labels.csv", index=False)
    icd, ccs = D.load_label_vocab(tmp_path)
    assert icd == ["401.10", "38.93", "V58.61"] and ccs == ["dx:98", "px:54"]  # "401.10" stays a string
    df = pd.DataFrame({"subject_id": [1, 2], "hadm_id": [5, 6], "text": ["fever cough", "sepsis"], "n_tokens": [2, 1],
                       "icd_codes": [["401.10"], ["38.93", "V58.61"]], "ccs_codes": [["dx:98"], ["px:54"]]})
    df.to_parquet(tmp_path / "train.parquet")
    ds = D.CodingDataset.from_frame(D.load_split(tmp_path, "train"), VOCAB, icd, ccs, max_tokens=10)
    assert ds.hadm_id.tolist() == [5, 6] and ds.lengths.tolist() == [2, 1]
    assert ds.targets["icd"].tolist() == [[True, False, False], [False, True, True]]
    assert ds.targets["ccs"].tolist() == [[True, False], [False, True]]
    with pytest.raises(FileNotFoundError, match="dev.parquet"):
        D.load_split(tmp_path, "dev")
    with pytest.raises(ValueError, match="split"):
        D.load_split(tmp_path, "validation")
