"""The whole study, notebook by notebook, on a tiny synthetic cohort declared as real MIMIC-III.

One run checks that every notebook executes end to end with papermill, that the reports it writes are complete,
and that no row-level text reaches them. Sentinels are planted in the raw notes so that a leak cannot hide: a
three-word phrase opens every discharge-summary report (so it is in every split, in the first characters any
display of the text shows, and its words are frequent enough to enter the vocabulary), and a fourth word is
added to every second report. The study runs in a subprocess whose stdout and stderr (papermill logging every
cell's output) and temporary folder are kept; none of them and no file under reports/ (executed and failed
notebooks, metrics, tables, figures, compressed PDF streams included) may hold a sentinel; model files and resume
state may hold vocabulary words (TF-IDF keeps its vocabulary), never the phrase.
A notebook cell that displays note text is planted on purpose to show that the check catches it.
"""

import gzip
import json
import os
import re
import subprocess
import sys
import zlib
from pathlib import Path

import pandas as pd
import pytest

from mbrnn import runner, synthetic
from mbrnn.config import load_params

ROOT = runner.project_root(__file__)
PHRASE_WORDS = ("zebrasentinel", "quokkamarker", "vellichorprobe")
PHRASE = " ".join(PHRASE_WORDS)
EXTRA_WORD = "marzipansentinel"
SENTINELS = (*PHRASE_WORDS, EXTRA_WORD, PHRASE)
REPORT_MARKER = b'"Discharge summary","Report",,,"'
TINY = {
    "mbrnn": {"hidden": 8},
    "mbrnn_bce": {"hidden": 8},
    "caml": {"num_filters": 8},
    "tfidf": {},
}
RUNNER = "import sys; sys.path.insert(0, sys.argv[2]); import test_study; test_study.run_study(sys.argv[1])"


def plant_sentinels(notes: Path) -> int:
    """Open every discharge-summary report with PHRASE, and every second one also with EXTRA_WORD; returns the
    number of reports planted."""
    pieces = gzip.decompress(notes.read_bytes()).split(REPORT_MARKER)
    out = [pieces[0]]
    for i, piece in enumerate(pieces[1:]):
        extra = f" {EXTRA_WORD}" if i % 2 == 0 else ""
        out.append(REPORT_MARKER + f"{PHRASE}{extra} ".encode() + piece)
    notes.write_bytes(gzip.compress(b"".join(out), mtime=0))
    return len(pieces) - 1


def study_params(tmp: Path) -> dict:
    """params.yaml of the repository, pointed at ``tmp`` and shrunk to a tiny run."""
    params = load_params(ROOT / "params.yaml")
    params["data"].update(source="mimic3", raw_dir=str(tmp / "raw"))
    params["cohort"].update(cohort_dir=str(tmp / "cohort"), split_ratios=[0.6, 0.2, 0.2], ccs_px_fallback="icd9_two_digit")
    params["embeddings"].update(embeddings_dir=str(tmp / "emb"), epochs=1)
    params["reports"] = {"index": str(tmp / "reports" / "README.md"), "figures_dir": str(tmp / "reports" / "figures"),
                         "tables_dir": str(tmp / "reports" / "tables"), "metrics_dir": str(tmp / "reports" / "metrics")}
    params["train"].update(models_dir=str(tmp / "models"), state_dir=str(tmp / "state"),
                           curves_dir=str(tmp / "reports" / "curves"), max_tokens=200, epochs=2, patience=2)
    params["models"] = {k: {**params["models"][k], **v} for k, v in TINY.items()}
    params["analysis"].update(ablations=["mbrnn", "mbrnn_bce"])
    return params


def run_study(tmp: str) -> None:
    """Every stage of dvc.yaml in order, with the parameters in ``tmp``/params.json (run in a subprocess)."""
    import logging

    logging.basicConfig(level=logging.INFO)  # papermill logs every cell's output, as its own CLI does
    tmp = Path(tmp)
    params = json.loads((tmp / "params.json").read_text())
    nb_dir = tmp / "reports" / "notebooks"

    for name, st in runner.stages(params, ROOT).items():  # dvc.yaml's order
        runner.run_stage(name, params, ROOT, out=nb_dir / Path(st.out).name)


def _searchable(path: Path) -> bytes:
    """A file's bytes, lowercased, with the inflated content of every zlib stream of a PDF appended."""
    data = path.read_bytes()
    if data.startswith(b"%PDF"):
        for m in re.finditer(rb"stream\r?\n", data):
            try:
                data += zlib.decompressobj().decompress(data[m.end():])
            except zlib.error:
                pass
    return data.lower()


def find_leaks(paths, text: str = "", sentinels=SENTINELS) -> list[tuple[str, str]]:
    """(file or stream, sentinel) for every sentinel found in ``text`` or any file under ``paths``; never the
    surrounding content."""
    found = [("stdout/stderr", s) for s in sentinels if s in text.lower()]
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            data = _searchable(f)
            found += [(str(f), s) for s in sentinels if s.encode() in data]
    return found


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    synthetic.generate(tmp / "raw", scale=150, seed=5, progress=False)
    assert plant_sentinels(tmp / "raw" / "NOTEEVENTS.csv.gz") >= 100
    params = study_params(tmp)
    (tmp / "params.json").write_text(json.dumps(params))
    (tmp / "tmpdir").mkdir()
    env = {**os.environ, "TMPDIR": str(tmp / "tmpdir"), runner.RECORD_ENV: str(tmp / "params_read.log"), "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(tmp), str(Path(__file__).parent)], cwd=ROOT, env=env,
                          capture_output=True, text=True, errors="replace")
    assert proc.returncode == 0, f"the study failed (exit {proc.returncode}); stderr tail:\n{proc.stderr[-3000:]}"
    return tmp, params, proc.stdout + proc.stderr


@pytest.mark.slow
def test_every_stage_writes_its_outputs(study):
    tmp, params, _ = study
    rep = tmp / "reports"
    for m in params["models"]:
        metrics = json.loads((rep / "metrics" / "models" / f"{m}.json").read_text())
        assert 0 <= metrics["icd"]["test"]["micro_f1"] <= 1
        for split in ("dev", "test"):
            assert (tmp / "models" / m / f"{split}.npz").stat().st_size > 0
    assert "ccs" in json.loads((rep / "metrics" / "models" / "mbrnn.json").read_text())
    for fig in ("code_frequency", "embedding_projection", "f1_by_frequency_bucket", "f1_vs_training_frequency",
                "f1_per_document", "focal_vs_bce", "training_curves"):
        assert (rep / "figures" / f"{fig}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", fig
        assert (rep / "figures" / f"{fig}.pdf").read_bytes()[:5] == b"%PDF-", fig
    for table in ("main_results", "frequency_buckets", "mcnemar", "focal_vs_bce", "ablations", "icd_vs_ccs"):
        for ext in ("csv", "md", "tex"):
            assert (rep / "tables" / f"{table}.{ext}").stat().st_size > 0, (table, ext)
    main = pd.read_csv(rep / "tables" / "main_results.csv")
    assert set(params["models"]) <= set(main["Model"])
    assert main["Data"].str.contains("published").any()
    index = (rep / "README.md").read_text()
    for name in ("main_results", "frequency_buckets", "f1_by_frequency_bucket", "code_frequency"):
        assert name in index
    assert "MIMIC-III v1.4" in index  # provenance says where the data came from


def _leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield prefix + key


@pytest.mark.slow
def test_every_params_key_is_read_by_a_stage_that_declares_it(study):
    """Each parameter is said once: every key of params.yaml is read by some stage (or, ``train.gpus``, by the
    runner that launches it), and no stage reads a key dvc.yaml does not declare for it (it gets only those: a
    ``.get`` of a missing key would silently fall back to a default, so it is logged and fails here)."""
    tmp, params, _ = study
    rows = [line.split("\t") for line in (tmp / "params_read.log").read_text().splitlines()]
    assert not [r for r in rows if len(r) == 3], "a stage asked for keys it did not declare"
    stages = runner.stages(params, ROOT)
    read = {key for _, key in rows}
    assert {"data.source", "cohort.top_k", "embeddings.window", "train.lr", "models.caml.num_filters",
            "analysis.bucket_count", "reports.tables_dir"} <= read  # the log does see every stage's reads
    for stage, key in rows:
        assert any(key == k or key.startswith(k + ".") or k.startswith(key + ".") for k in stages[stage].keys), (stage, key)
    repo = load_params(ROOT / "params.yaml")
    trained = {f"models.{m}." for m in params["models"]}  # the tiny study trains a few entries; each ablation
    wanted = {leaf for leaf in _leaves(repo) if not leaf.startswith("models.") or leaf.startswith(tuple(trained))}
    unread = sorted(wanted - read - {"train.gpus"})  # train.gpus: read by `python -m mbrnn stage` (torchrun)
    assert not unread, f"params.yaml keys no stage reads: {unread}"
    for m in params["models"]:  # every key of a trained entry is read (entries not trained share mbrnn's keys)
        assert {leaf for leaf in _leaves(params["models"][m], f"models.{m}.")} <= read, m


@pytest.mark.slow
def test_sentinels_reach_every_place_a_leak_would_come_from(study):
    tmp, _, log = study
    for split in ("train", "dev", "test"):
        df = pd.read_parquet(tmp / "cohort" / f"{split}.parquet")
        assert df["text"].str.startswith(PHRASE).mean() > 0.9, split
        assert df["text"].str.contains(EXTRA_WORD).any(), split
    vocab = set((tmp / "emb" / "vocab.txt").read_text().split())
    assert set(SENTINELS[:4]) <= vocab  # frequent enough to be embedded, hence shown by anything listing words
    assert "papermill" in log.lower()  # the captured output does hold the executed cells' logs


@pytest.mark.slow
def test_no_note_text_reaches_reports(study):
    """No sentinel in the reports, model files, resume state, temporary files, stdout or stderr of the study."""
    tmp, _, log = study
    assert find_leaks([tmp / "reports", tmp / "tmpdir"], log) == []
    # a model may hold its vocabulary (TF-IDF's joblib does), never a sequence of note text
    assert find_leaks([tmp / "models", tmp / "state"], sentinels=(PHRASE,)) == []
    assert not list(tmp.rglob("*.failed.ipynb"))
    assert not [p for p in (tmp / "reports").rglob(".*") if p.is_file()]  # no temporary file left behind


@pytest.mark.slow
def test_executed_notebooks_show_their_figures_with_captions(study):
    """Each figure a notebook makes is an inline image (image/png) with its caption right under it."""
    import nbformat

    from mbrnn.plots import CAPTIONS

    tmp, _, _ = study
    want = {"01_cohort": ["code_frequency"], "02_embeddings": ["embedding_projection"],
            "04_error_analysis": ["f1_by_frequency_bucket", "f1_vs_training_frequency", "f1_per_document",
                                  "focal_vs_bce", "training_curves"]}
    for name, figures in want.items():
        nb = nbformat.read(tmp / "reports" / "notebooks" / f"{name}.ipynb", as_version=4)
        assert nb.metadata["kernelspec"]["name"] == "python3"
        captions = []
        for cell in nb.cells:
            outs = cell.get("outputs", [])
            captions += [outs[i + 1]["data"].get("text/markdown", "") if i + 1 < len(outs) else ""
                         for i, o in enumerate(outs) if "image/png" in o.get("data", {})]
        assert len(captions) == len(figures), name
        for figure, caption in zip(figures, captions):
            assert CAPTIONS[figure] in caption, (name, figure)


LEAKY_NOTEBOOK = """# %% tags=["parameters"]
cohort_dir = "data/cohort"

# %%
import pandas as pd

pd.read_parquet(f"{cohort_dir}/dev.parquet")[["hadm_id", "text"]].head(5)
"""


@pytest.mark.slow
def test_the_check_catches_a_cell_that_displays_note_text(study, tmp_path):
    """The issue's leak: a cell displaying the first rows of a split. The same check must fail on it."""
    tmp, _, _ = study
    (tmp_path / "root" / "notebooks").mkdir(parents=True)
    (tmp_path / "root" / "notebooks" / "90_leak.py").write_text(LEAKY_NOTEBOOK)
    out = tmp_path / "reports" / "notebooks" / "90_leak.ipynb"
    runner.run_notebook("90_leak", {"cohort_dir": str(tmp / "cohort")}, out, tmp_path / "root")
    leaks = find_leaks([tmp_path / "reports"])
    assert {s for _, s in leaks} >= {PHRASE, *PHRASE_WORDS}
    assert {f for f, _ in leaks} == {str(out)}
