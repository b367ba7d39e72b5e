"""The whole study, notebook by notebook, on a tiny synthetic cohort declared as real MIMIC-III.

One run checks that every notebook executes end to end with papermill, that the reports it writes are
complete, and that no row-level text reaches them: a sentinel token is planted in one discharge summary and
must not appear in any report file or executed notebook.
"""

import gzip
import json
import shlex

import pandas as pd
import pytest
import yaml

from mbrnn import pipeline, synthetic

ROOT = pipeline.project_root(__file__)
SENTINEL = "sentinelxq7zebra"
TINY = {
    "mbrnn": {"hidden": 8},
    "mbrnn_bce": {"hidden": 8},
    "caml": {"num_filters": 8},
    "tfidf": {},
}


def stage_specs(stage: str, key: str | None = None) -> tuple[str, list[str], list[str]]:
    st = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    cmd = st.get("do", st)["cmd"].replace("${key}", key or "")
    argv = shlex.split(cmd)[4:]
    specs = [argv[i + 1] for i, a in enumerate(argv) if a == "-p"]
    literals = [argv[i + 1] for i, a in enumerate(argv) if a == "-P"]
    return argv[0], specs, literals


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("study")
    raw = tmp / "raw"
    synthetic.generate(raw, scale=150, seed=5, progress=False)
    notes = raw / "NOTEEVENTS.csv.gz"
    text = gzip.decompress(notes.read_bytes())
    marker = b'"Discharge summary","Report",,,"'
    assert marker in text
    notes.write_bytes(gzip.compress(text.replace(marker, marker + SENTINEL.encode() + b" ", 1), mtime=0))

    params = pipeline.load_params(ROOT / "params.yaml")
    params["data"].update(source="mimic3", raw_dir=str(raw))
    params["cohort"].update(cohort_dir=str(tmp / "cohort"), split_ratios=[0.6, 0.2, 0.2], ccs_px_fallback="icd9_two_digit")
    params["embeddings"].update(embeddings_dir=str(tmp / "emb"), epochs=1)
    params["reports"] = {"index": str(tmp / "reports" / "README.md"), "figures_dir": str(tmp / "reports" / "figures"),
                         "tables_dir": str(tmp / "reports" / "tables"), "metrics_dir": str(tmp / "reports" / "metrics")}
    params["train"].update(models_dir=str(tmp / "models"), state_dir=str(tmp / "state"),
                           curves_dir=str(tmp / "reports" / "curves"), max_tokens=200, epochs=2, patience=2)
    params["models"] = {k: {**params["models"][k], **v} for k, v in TINY.items()}
    params["analysis"].update(ablations=["mbrnn", "mbrnn_bce"])
    nb_dir = tmp / "reports" / "notebooks"

    def run(stage, key=None):
        name, specs, literals = stage_specs(stage, key)
        out = nb_dir / (f"{name}_{key}.ipynb" if key else f"{name}.ipynb")
        pipeline.run_notebook(name, pipeline.notebook_parameters(params, specs, literals), out, ROOT)
        return out

    run("cohort")
    run("embeddings")
    for key in params["models"]:
        run("train", key)
    run("analysis")
    return tmp, params


@pytest.mark.slow
def test_every_stage_writes_its_outputs(study):
    tmp, params = study
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


@pytest.mark.slow
def test_no_note_text_reaches_reports(study):
    tmp, _ = study
    cohort_text = " ".join(pd.concat(pd.read_parquet(tmp / "cohort" / f"{s}.parquet") for s in ("train", "dev", "test"))["text"])
    assert SENTINEL in cohort_text  # planted where a leak would come from
    leaked = [p for p in (tmp / "reports").rglob("*") if p.is_file() and SENTINEL.encode() in p.read_bytes()]
    assert not leaked


@pytest.mark.slow
def test_executed_notebooks_show_their_figures_with_captions(study):
    """Each figure a notebook makes is an inline image (image/png) with its caption right under it."""
    import nbformat

    from mbrnn.plots import CAPTIONS

    tmp, _ = study
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
