"""Behaviour tests added for mutation testing (tests/README.md "Mutation testing") of ``mbrnn.splits``:
Mullenbach's published split lists (file names, reading, download, errors) and the stratified split's
seed, ratios and label restriction."""

import re
import urllib.request

import numpy as np
import pytest

from mbrnn import splits

IDS = {"train": [101, 102, 103], "dev": [201], "test": [301, 302]}


def _write_lists(folder, setting="full", ids=IDS):
    folder.mkdir(parents=True, exist_ok=True)
    for split, values in ids.items():
        (folder / splits.caml_filename(split, setting)).write_text("".join(f"{v}\n" for v in values))


def test_caml_file_names():
    assert splits.caml_filename("train", "top_k") == "train_50_hadm_ids.csv"
    assert splits.caml_filename("dev", "full") == "dev_full_hadm_ids.csv"
    assert splits.caml_filename("test", "full") == "test_full_hadm_ids.csv"


@pytest.mark.parametrize("setting", ["full", "top_k"])
def test_read_caml_splits_reads_each_list(tmp_path, setting):
    _write_lists(tmp_path, setting)
    got = splits.read_caml_splits(tmp_path, setting)
    assert list(got) == ["train", "dev", "test"]
    for split, values in IDS.items():
        assert got[split].dtype == np.int64 and got[split].tolist() == values


def test_read_caml_splits_strips_spaces(tmp_path):
    _write_lists(tmp_path)
    (tmp_path / "dev_full_hadm_ids.csv").write_text(" 201 \n202\n")
    assert splits.read_caml_splits(str(tmp_path), "full")["dev"].tolist() == [201, 202]


@pytest.mark.parametrize("folder", [None, ""])
def test_read_caml_splits_without_a_folder_says_which_key(folder):
    with pytest.raises(ValueError, match=r"cohort\.caml_splits_dir is not set"):
        splits.read_caml_splits(folder, "full")


def test_missing_list_is_named_and_nothing_downloaded_unless_asked(tmp_path, monkeypatch):
    _write_lists(tmp_path, ids={"train": [1], "dev": [2]})
    monkeypatch.setattr(urllib.request, "urlretrieve", lambda *a: pytest.fail("downloaded without being asked"))
    with pytest.raises(FileNotFoundError, match=r"test_full_hadm_ids\.csv: CAML split list not found.*"
                                                r"caml_splits_download: true"):
        splits.read_caml_splits(tmp_path, "full")


def test_download_fetches_only_missing_lists_into_a_new_folder(tmp_path, monkeypatch):
    fetched = []

    def fake_urlretrieve(url, path):
        fetched.append(url)
        path.write_text("7\n8\n")

    monkeypatch.setattr(urllib.request, "urlretrieve", fake_urlretrieve)
    folder = tmp_path / "new" / "caml"
    got = splits.read_caml_splits(folder, "top_k", download=True)
    base = "https://raw.githubusercontent.com/jamesmullenbach/caml-mimic/master/mimicdata/mimic3/"
    assert fetched == [base + f"{s}_50_hadm_ids.csv" for s in ("train", "dev", "test")]
    assert all(v.tolist() == [7, 8] for v in got.values())
    fetched.clear()
    splits.read_caml_splits(folder, "top_k", download=True)  # present now: read, not fetched again
    assert fetched == []


def test_failed_download_is_a_file_error_naming_the_list(tmp_path, monkeypatch):
    def offline(url, path):
        raise OSError("network unreachable")

    monkeypatch.setattr(urllib.request, "urlretrieve", offline)
    with pytest.raises(FileNotFoundError, match=r"train_full_hadm_ids\.csv: missing and could not be downloaded "
                                                r"\(network unreachable\)") as err:
        splits.read_caml_splits(tmp_path, "full", download=True)
    assert isinstance(err.value.__cause__, OSError)


def test_a_line_that_is_not_an_id_is_named_by_entry_not_content(tmp_path):
    _write_lists(tmp_path)
    (tmp_path / "test_full_hadm_ids.csv").write_text("301\n302\nSECRETWORD\n303\nx1\n")
    with pytest.raises(ValueError, match=r"test_full_hadm_ids\.csv: 2 lines are not HADM_IDs \(first: entry 3;") as err:
        splits.read_caml_splits(tmp_path, "full")
    assert "SECRETWORD" not in str(err.value)


def _toy(n_patients=60, seed=0):
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(n_patients), 2)[::-1].copy()
    labels = [[f"c{j}" for j in np.flatnonzero(rng.random(6) < np.linspace(0.1, 0.5, 6))] for _ in subjects]
    return subjects, labels


def test_stratified_split_follows_the_ratios_in_order():
    subjects, labels = _toy(100)
    fold = splits.stratified_split(subjects, labels, (0.5, 0.3, 0.2), seed=0)
    assert set(np.unique(fold)) == {0, 1, 2}
    share = np.bincount(fold[::2], minlength=3) / 100  # one entry per patient
    np.testing.assert_allclose(share, [0.5, 0.3, 0.2], atol=0.03)
    default = splits.stratified_split(subjects, labels)
    np.testing.assert_allclose(np.bincount(default[::2], minlength=3) / 100, [0.8, 0.1, 0.1], atol=0.03)
    assert np.array_equal(default, splits.stratified_split(subjects, labels, seed=0))  # default seed 0


def test_stratified_split_depends_on_the_seed_only():
    subjects, labels = _toy()
    a = splits.stratified_split(subjects, labels, seed=1)
    assert np.array_equal(a, splits.stratified_split(list(subjects), labels, seed=1))
    assert not np.array_equal(a, splits.stratified_split(subjects, labels, seed=5))


def test_max_labels_keeps_the_most_frequent_codes_ties_by_name():
    """Only the max_labels most frequent codes stratify; among equally frequent codes the smaller name wins."""
    subjects, labels = _toy()
    rare = [codes + (["zz"] if i % 40 == 0 else []) for i, codes in enumerate(labels)]
    assert np.array_equal(splits.stratified_split(subjects, rare, seed=1, max_labels=6),
                          splits.stratified_split(subjects, labels, seed=1, max_labels=6))
    tied = [["b"] if i % 2 else ["a"] for i in range(len(subjects))]  # a and b equally frequent
    only_a = [["a"] if i % 2 == 0 else [] for i in range(len(subjects))]
    assert np.array_equal(splits.stratified_split(subjects, tied, seed=2, max_labels=1),
                          splits.stratified_split(subjects, only_a, seed=2, max_labels=1))


@pytest.mark.parametrize("ratios", [(0.8, 0.2), (0.8, 0.1, 0.1, 0.0), (1.1, -0.05, -0.05), (0.5, 0.2, 0.2)])
def test_bad_ratios_are_refused_with_the_parameter_name(ratios):
    with pytest.raises(ValueError, match=r"cohort\.split_ratios must be three non-negative numbers summing to 1"):
        splits.stratified_split(np.arange(3), [["a"]] * 3, ratios)


def test_ratios_summing_to_one_within_rounding_are_accepted():
    fold = splits.stratified_split(np.arange(10), [["a"]] * 10, (0.7, 0.2, 0.1 + 1e-12))
    assert fold.shape == (10,)


def test_split_list_errors_say_where_to_get_the_lists(tmp_path):
    """The whole message, as a user reads it: which key, which files, where they come from, the alternatives."""
    with pytest.raises(ValueError) as err:
        splits.read_caml_splits(None, "top_k")
    assert str(err.value) == (
        "cohort.split is 'caml' but cohort.caml_splits_dir is not set: point it at a folder holding "
        "train/dev/test_{full,50}_hadm_ids.csv from github.com/jamesmullenbach/caml-mimic (mimicdata/mimic3).")
    with pytest.raises(FileNotFoundError) as err:
        splits.read_caml_splits(tmp_path, "top_k")
    assert str(err.value) == (
        f"{tmp_path / 'train_50_hadm_ids.csv'}: CAML split list not found. Download train_50_hadm_ids.csv from "
        "github.com/jamesmullenbach/caml-mimic (mimicdata/mimic3) into that folder, or set "
        "cohort.caml_splits_download: true when online, or use cohort.split: stratified.")


def test_a_zero_ratio_is_allowed_and_leaves_that_split_empty():
    fold = splits.stratified_split(np.arange(50), [["a"] if i % 3 else ["b"] for i in range(50)], (0.9, 0.1, 0.0))
    assert np.bincount(fold, minlength=3).tolist() == [45, 5, 0]


def test_by_default_the_100_most_frequent_codes_stratify():
    rng = np.random.default_rng(0)
    codes = [f"c{j:03d}" for j in range(101)]
    labels = [[codes[j] for j in range(101) if rng.random() < 0.02 + 0.3 * (j < 100) * (100 - j) / 100]
              for _ in range(300)]
    subjects = np.arange(300)
    default = splits.stratified_split(subjects, labels)
    assert np.array_equal(default, splits.stratified_split(subjects, labels, max_labels=100))
    assert not np.array_equal(default, splits.stratified_split(subjects, labels, max_labels=101))


def test_frequency_ties_among_many_codes_are_broken_by_code_name():
    """60 codes with 1-3 admissions each, 30 kept: which of the equally frequent codes make the cut is decided
    by name (a stable sort after sorting by name), never by the sort algorithm's whims."""
    counts = np.random.default_rng(0).integers(1, 4, size=60)
    codes = [f"k{j:02d}" for j in range(60)]
    labels = [[code] for code, n in zip(codes, counts) for _ in range(n)]
    subjects = np.arange(len(labels))
    ranked = sorted(codes, key=lambda c: (-counts[codes.index(c)], c))[:30]
    kept = [[c for c in codes_ if c in ranked] for codes_ in labels]
    assert np.array_equal(splits.stratified_split(subjects, labels, seed=0, max_labels=30),
                          splits.stratified_split(subjects, kept, seed=0, max_labels=30))


# --- Edin et al.'s split files (added after run A; run J's survivors) ----------------------------------------------

def _edin_file(folder, ids, names, system="icd9"):
    import pyarrow as pa
    import pyarrow.feather as feather

    feather.write_feather(pa.table({"_id": ids, "split": names}), folder / splits.EDIN_FILES[system])


def test_edin_missing_file_message_whole(tmp_path):
    path = tmp_path / splits.EDIN_FILES["icd10"]
    message = (f"{path}: Edin et al. split file not found. Download {path.name} from {splits.EDIN_SOURCE} into that "
               "folder, or use cohort.split: stratified.")
    with pytest.raises(FileNotFoundError, match="^" + re.escape(message) + "$"):
        splits.read_edin_splits(tmp_path, "icd10")


def test_edin_unreadable_file_names_the_error_type_not_its_text(tmp_path):
    path = tmp_path / splits.EDIN_FILES["icd9"]
    path.write_bytes(b"a CSV, say")
    message = (f"{path}: not a readable feather file (ArrowInvalid); expected {path.name} as published in "
               f"{splits.EDIN_SOURCE}")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        splits.read_edin_splits(tmp_path, "icd9")


@pytest.mark.parametrize("ids, names, row, column", [
    (["11", "x12", "13"], ["train", "val", "test"], 1, "_id"),  # not a number: counted, not a pandas error
    ([11, 12, 13], ["train", "holdout", "test"], 1, "split"),
    ([11, 12, 13, 14], ["train", "val", "test", "dev"], 3, "split"),
])
def test_edin_bad_rows_are_located_by_row_and_column(tmp_path, ids, names, row, column):
    _edin_file(tmp_path, ids, names)
    message = (f"{tmp_path / splits.EDIN_FILES['icd9']}: 1 rows are not (HADM_ID, train/val/test) (first: row {row}, "
               f"column {column}; content not shown).")
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        splits.read_edin_splits(tmp_path, "icd9")


def test_edin_duplicated_ids_are_counted(tmp_path):
    _edin_file(tmp_path, [11, 12, 11, 12, 13], ["train", "val", "train", "test", "test"])
    message = f"{tmp_path / splits.EDIN_FILES['icd9']}, column _id: 2 HADM_IDs are listed more than once."
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        splits.read_edin_splits(tmp_path, "icd9")


def test_edin_ids_are_integers_per_split(tmp_path):
    _edin_file(tmp_path, ["11", "12", "13"], ["train", "val", "test"])  # stored as text: read as integers
    ids, report = splits.read_edin_splits(tmp_path, "icd9")
    assert {k: v.tolist() for k, v in ids.items()} == {"train": [11], "dev": [12], "test": [13]}
    assert all(v.dtype == np.int64 for v in ids.values())
    assert report["listed"] == {"train": 1, "dev": 1, "test": 1} and report["matches_published"] is False
