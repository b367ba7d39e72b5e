"""Plumbing between DVC and the notebooks (not part of the data chain).

``python -m mbrnn.pipeline run NOTEBOOK -p SECTION [-p PATH=NAME] [-P NAME=VALUE] [--out PATH]``
    executes ``notebooks/NOTEBOOK.py`` (jupytext percent format) with papermill, injecting parameters from
    ``params.yaml``: ``-p cohort`` flattens the ``cohort`` section into variables of the same names,
    ``-p models.mbrnn=model`` injects one value under a chosen name, ``-p models=names:keys`` the keys of a
    mapping as a list, ``-P name=value`` a literal. The executed
    notebook is written atomically to ``reports/notebooks/``; on failure the traceback is printed, the failed
    copy goes to ``reports/notebooks/NAME.failed.ipynb`` (never a stage output) and the exit code is non-zero,
    so DVC records nothing.
``python -m mbrnn.pipeline exp OVERLAY [-n NAME] [--dry-run] [-- DVC_ARGS...]``
    runs a parameter overlay (``configs/*.yaml``, see ``mbrnn/overlays.py``) as a DVC experiment: prints the
    ``dvc exp run -S key=value ...`` command it stands for and runs it (``--dry-run``: print only).
``python -m mbrnn.pipeline prepare-data``
    makes ``data/raw`` ready for ``dvc repro``: generates the embedded synthetic cohort when ``data.source`` is
    ``synthetic`` (unless ``data.dvc`` is already satisfied), or checks the MIMIC-III files when it is ``mimic3``.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from . import io

SOURCES = ("synthetic", "mimic3")


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding ``dvc.yaml`` and ``params.yaml``, searched upward from ``start`` (default: cwd)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / "params.yaml").exists() and (folder / "dvc.yaml").exists():
            return folder
    raise FileNotFoundError(f"no params.yaml + dvc.yaml found above {here}: run from inside the mbrnn repository")


def goto_project_root() -> Path:
    """Notebooks call this first so that relative paths mean the same in JupyterLab and under DVC."""
    root = project_root()
    os.chdir(root)
    return root


def load_params(path: str | Path = "params.yaml") -> dict:
    with open(path) as f:
        return yaml.safe_load(f)


def lookup(params: dict, dotted: str):
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"params.yaml has no key {dotted!r}")
        node = node[part]
    return node


def notebook_parameters(params: dict, specs: list[str], literals: list[str]) -> dict:
    """Resolve ``-p``/``-P`` specs into the dict papermill injects; a name given twice is an error."""
    out: dict = {}

    def put(name, value, origin):
        if name in out:
            raise ValueError(f"notebook parameter {name!r} is set twice (again by {origin})")
        out[name] = value

    for spec in specs:
        path, _, name = spec.partition("=")
        value = lookup(params, path)
        if name.endswith(":keys"):  # only the keys of a mapping, e.g. the names of the models
            name, value = name[: -len(":keys")], list(value)
        if name:
            put(name, value, spec)
        elif isinstance(value, dict):
            for k, v in value.items():
                put(k, v, spec)
        else:
            put(path.split(".")[-1], value, spec)
    for lit in literals:
        name, _, raw = lit.partition("=")
        try:
            value = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            value = raw
        put(name, value, lit)
    return out


def parameter_defaults(notebook: str | Path) -> dict:
    """The literal defaults of a notebook's tagged ``parameters`` cell (used by tests and ``run``)."""
    import jupytext

    nb = jupytext.read(notebook)
    for cell in nb.cells:
        if "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    raise ValueError(f"{notebook}: no cell tagged 'parameters'")


def run_notebook(name: str, parameters: dict, out: str | Path | None = None, root: Path | None = None) -> Path:
    """Execute ``notebooks/<name>.py`` with papermill; the executed copy lands atomically at ``out``."""
    import jupytext
    import papermill as pm

    root = root or project_root()
    src = root / "notebooks" / f"{name}.py"
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such notebook")
    unknown = set(parameters) - set(parameter_defaults(src))
    if unknown:
        raise ValueError(f"{src}: parameters {sorted(unknown)} are not defined in its parameters cell")
    out = Path(out) if out else root / "reports" / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = out.with_name(out.stem + ".failed.ipynb")
    nb = jupytext.read(src)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    with tempfile.TemporaryDirectory() as tmpdir, io.atomic_path(out, suffix=".ipynb") as tmp_out:
        tmp_in = Path(tmpdir) / f"{name}.ipynb"
        jupytext.write(nb, tmp_in)
        try:
            pm.execute_notebook(str(tmp_in), str(tmp_out), parameters=parameters, kernel_name="python3",
                                cwd=str(root), progress_bar=False, log_output=True)
        except pm.PapermillExecutionError:
            os.replace(tmp_out, failed)
            raise
    if failed.exists():
        failed.unlink()
    return out


# --- data preparation -------------------------------------------------------------------------------------

def prepare_data(params: dict, root: Path) -> str:
    data = params["data"]
    source, raw_dir = data["source"], root / data["raw_dir"]
    if source not in SOURCES:
        raise ValueError(f"params.yaml data.source must be one of {SOURCES}, got {source!r}")
    if source == "mimic3":
        from .cohort import check_raw_dir

        check_raw_dir(raw_dir)
        return f"MIMIC-III tables found in {raw_dir}; record them with `dvc add {data['raw_dir']}` if you have not."
    if _dvc_clean(root):
        return f"{raw_dir} matches data.dvc; nothing to generate."
    from .synthetic import generate

    generate(raw_dir, scale=data["synthetic_scale"], seed=data["synthetic_seed"])
    if not _dvc_clean(root):
        return (f"generated the synthetic cohort in {raw_dir}, but it does not match the hash pinned in data.dvc "
                "(different scale/seed in params.yaml, or a generator change): run `dvc add data/raw` to re-pin it.")
    return f"generated the synthetic cohort in {raw_dir}; it matches data.dvc."


def _dvc_clean(root: Path) -> bool:
    if not (root / "data.dvc").exists():
        return False
    r = subprocess.run([sys.executable, "-m", "dvc", "status", "-q", "data.dvc"], cwd=root, capture_output=True)
    return r.returncode == 0


def experiment(overlay: str | Path, params: dict, name: str | None = None, dry_run: bool = False,
               root: Path | None = None, extra: list[str] | None = None) -> int:
    """Print the ``dvc exp run -S ...`` command of an overlay (plus ``extra`` dvc arguments, e.g. more ``-S``)
    and run it unless ``dry_run``; returns its exit code."""
    from . import overlays

    argv = overlays.dvc_command(overlays.settings(overlays.load(overlay), params, str(overlay)), name) + list(extra or [])
    print(overlays.describe(argv), flush=True)
    if dry_run:
        return 0
    return subprocess.run([sys.executable, "-m", *argv], cwd=root).returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m mbrnn.pipeline", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="execute a notebook with parameters from params.yaml")
    r.add_argument("notebook", help="name under notebooks/, without .py (e.g. 01_cohort)")
    r.add_argument("-p", dest="specs", action="append", default=[], help="params.yaml section or PATH=NAME")
    r.add_argument("-P", dest="literals", action="append", default=[], help="literal NAME=VALUE")
    r.add_argument("--out", help="executed notebook path (default reports/notebooks/NOTEBOOK.ipynb)")
    sub.add_parser("prepare-data", help="generate or check data/raw according to params.yaml")
    e = sub.add_parser("exp", help="run a params overlay (configs/*.yaml) as `dvc exp run -S ...`")
    e.add_argument("overlay", help="overlay file, e.g. configs/paper-full.yaml")
    e.add_argument("-n", "--name", help="experiment name (dvc exp run -n)")
    e.add_argument("--dry-run", action="store_true", help="print the dvc command without running it")
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    argv, extra = argv[:cut], argv[cut + 1:]  # after --: more `dvc exp run` arguments, e.g. -S key=value
    args = ap.parse_args(argv)
    if extra and args.cmd != "exp":
        ap.error("arguments after -- are for `exp` only")

    root = project_root()
    params = load_params(root / "params.yaml")
    if args.cmd == "exp":
        return experiment(args.overlay, params, args.name, args.dry_run, root, extra)
    if args.cmd == "prepare-data":
        print(prepare_data(params, root))
        return 0
    import papermill as pm

    parameters = notebook_parameters(params, args.specs, args.literals)
    try:
        out = run_notebook(args.notebook, parameters, args.out, root)
    except pm.PapermillExecutionError as e:
        print(f"\nnotebook {args.notebook} failed in cell {e.exec_count}: {e.ename}: {e.evalue}\n"
              f"{''.join(e.traceback)}\nthe failed notebook is in reports/notebooks/", file=sys.stderr)
        return 1
    print(f"executed {args.notebook} -> {out.relative_to(root) if out.is_relative_to(root) else out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
