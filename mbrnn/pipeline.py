"""Plumbing between DVC and the notebooks (not part of the data chain).

``python -m mbrnn.pipeline run NOTEBOOK -p SECTION [-p PATH=NAME] [-P NAME=VALUE] [--out PATH]``
    executes ``notebooks/NOTEBOOK.py`` (jupytext percent format) with papermill, injecting parameters from
    ``params.yaml``: ``-p cohort`` flattens the ``cohort`` section into variables of the same names,
    ``-p models.mbrnn=model`` injects one value under a chosen name, ``-p models=names:keys`` the keys of a
    mapping as a list, ``-P name=value`` a literal. The executed
    notebook is written atomically to ``reports/notebooks/``; on failure the traceback is printed, the failed
    copy goes to ``reports/notebooks/NAME.failed.ipynb`` (never a stage output; git-ignored, like the temporaries
    of an interrupted run, and removed by the next run) and the exit code is non-zero, so DVC records nothing.
``python -m mbrnn.pipeline exp OVERLAY [-n NAME] [--dry-run] [-- DVC_ARGS...]``
    runs a parameter overlay (``configs/*.yaml``, see ``mbrnn/overlays.py``) as a DVC experiment: prints the
    ``dvc exp run -S key=value ...`` command it stands for and runs it (``--dry-run``: print only).
``python -m mbrnn.pipeline prepare-data``
    makes ``data/raw`` ready for ``dvc repro``: generates the embedded synthetic cohort when ``data.source`` is
    ``synthetic`` (unless ``data/raw`` already matches the hash pinned in ``data.dvc``, computed from the files,
    without DVC's cache; it never overwrites files it did not write), or, when it is ``mimic3``, reads each
    MIMIC-III table once, whole: gzip integrity, header by name, row count.

``params.yaml`` is checked first (YAML syntax, the ``data`` and ``cohort`` sections, every key's value): an error
names the key and nothing runs.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

from . import io, raw
from .config import SOURCES, CohortConfig, DataConfig, ParamsError  # noqa: F401
from .config import load_params as _load_params

SYNTHETIC_MANIFEST = ".{name}.synthetic.json"
"""Beside the raw folder: md5 of each file ``prepare-data`` generated, so that it never overwrites anyone else's."""


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
    """``params.yaml``; YAML syntax errors and a missing ``data``/``cohort`` section are :class:`ParamsError`."""
    return _load_params(path)


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
    """Execute ``notebooks/<name>.py`` with papermill; the executed copy lands atomically at ``out``. Under
    ``torchrun`` the ranks other than 0 execute into a temporary folder (see ``mbrnn.train.run``)."""
    root = root or project_root()
    if int(os.environ.get("RANK", "0")) != 0 and out is not None:  # torchrun: only rank 0's copy is an output
        with tempfile.TemporaryDirectory(prefix="mbrnn-rank") as d:
            _execute(name, parameters, Path(d) / Path(out).name, root)
        return Path(out)
    return _execute(name, parameters, out, root)


def _execute(name: str, parameters: dict, out: str | Path | None, root: Path) -> Path:
    import jupytext
    import papermill as pm

    src = root / "notebooks" / f"{name}.py"
    if not src.exists():
        raise FileNotFoundError(f"{src}: no such notebook")
    unknown = set(parameters) - set(parameter_defaults(src))
    if unknown:
        raise ValueError(f"{src}: parameters {sorted(unknown)} are not defined in its parameters cell")
    out = Path(out) if out else root / "reports" / "notebooks" / f"{name}.ipynb"
    out.parent.mkdir(parents=True, exist_ok=True)
    failed = out.with_name(out.stem + ".failed.ipynb")
    io.remove_stale(out.parent, out.name)  # temporaries of an interrupted run (git-ignored; may hold text)
    failed.unlink(missing_ok=True)
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
    """Generate (``synthetic``) or check (``mimic3``, ``mimic4``) the raw tables; returns what was found or done."""
    data = DataConfig.from_params(params)
    CohortConfig.from_params(params)  # every cohort setting checked before any data is touched
    raw_dir = root / data.raw_dir
    if data.source != "synthetic":
        return check_mimic(raw_dir, data.raw_dir, data.source)
    pinned = _pinned(root, raw_dir)
    if pinned and raw_dir.is_dir() and raw.dvc_dir_md5(raw_dir) == pinned:
        return f"{raw_dir} matches the hash pinned in data.dvc; nothing to generate."
    _refuse_foreign(raw_dir)
    from .synthetic import generate

    if data.synthetic_format == "mimic3":
        generate(raw_dir, scale=data.synthetic_scale, seed=data.synthetic_seed)
    else:
        generate(raw_dir, scale=data.synthetic_scale, seed=data.synthetic_seed, format=data.synthetic_format)
    io.write_json(raw_dir.parent / SYNTHETIC_MANIFEST.format(name=raw_dir.name), _md5s(raw_dir))
    if not pinned:
        return f"generated the synthetic cohort in {raw_dir} (no data.dvc pins {data.raw_dir})."
    if raw.dvc_dir_md5(raw_dir) != pinned:
        return (f"generated the synthetic cohort in {raw_dir}, but it does not match the hash pinned in data.dvc "
                "(different scale/seed in params.yaml, or a generator change): run `dvc add data/raw` to re-pin it.")
    return f"generated the synthetic cohort in {raw_dir}; it matches the hash pinned in data.dvc."


def check_mimic(raw_dir: Path, name: str, source: str = "mimic3") -> str:
    """Read every MIMIC-III (or MIMIC-IV, ``source`` mimic4) table the cohort needs once, whole, and report what
    was found."""
    lines, release = [], "MIMIC-IV v2.2" if source == "mimic4" else "MIMIC-III v1.4"
    for table in (raw.TABLES_IV if source == "mimic4" else raw.TABLES):
        path = raw.table_path(raw_dir, table)
        found = raw.scan_table(path, table)
        if not found["rows"]:
            raise raw.CohortInputError(f"{path}: holds a header but no rows.")
        order = "" if found["columns_in_mimic_order"] else ", columns reordered (found by name)"
        bad = f", {found['unparsable_rows']:,} unparsable rows" if found["unparsable_rows"] else ""
        known = found["mimic_iii_v1_4_rows"]
        release_rows = f" (MIMIC-III v1.4: {known:,})" if known else ""
        lines.append(f"  {path.relative_to(raw_dir)}: {found['rows']:,} rows{release_rows}, gzip and header OK{order}{bad}")
    return (f"{release} tables checked in {raw_dir}:\n" + "\n".join(lines) +
            f"\nRecord them with `dvc add {name}` if you have not.")


def _pinned(root: Path, raw_dir: Path) -> str | None:
    """The md5 data.dvc pins for ``raw_dir`` (None when it pins another folder, or there is no data.dvc)."""
    dvc_file = root / "data.dvc"
    if not dvc_file.exists() or raw_dir.resolve() != (root / "data" / "raw").resolve():
        return None
    return raw.pinned_md5(dvc_file)


def _md5s(folder: Path) -> dict[str, str]:
    """md5 of every file below ``folder`` by relative path (MIMIC-IV's layout has ``hosp/`` and ``note/``)."""
    return {p.relative_to(folder).as_posix(): hashlib.md5(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refuse_foreign(raw_dir: Path) -> None:
    """Stop before overwriting files in ``raw_dir`` that an earlier ``prepare-data`` did not write."""
    if not raw_dir.is_dir():
        return
    manifest = raw_dir.parent / SYNTHETIC_MANIFEST.format(name=raw_dir.name)
    ours = json.loads(manifest.read_text()) if manifest.exists() else {}
    foreign = sorted(n for n, md5 in _md5s(raw_dir).items() if ours.get(n) != md5)
    if foreign:
        raise ParamsError(
            f"{raw_dir} holds files that prepare-data did not write ({', '.join(foreign)}); data.source is "
            "'synthetic', so they would be overwritten. If they are MIMIC-III, set data.source: mimic3 in "
            "params.yaml (README: Running on MIMIC-III); otherwise move them away and run prepare-data again.")


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
    try:  # params.yaml checked before anything runs; errors name the key, the file, the column, the row
        params = load_params(root / "params.yaml")
        DataConfig.from_params(params)
        if args.cmd == "exp":
            return experiment(args.overlay, params, args.name, args.dry_run, root, extra)
        if args.cmd == "prepare-data":
            print(prepare_data(params, root))
            return 0
        if args.cmd == "run" and args.notebook == "01_cohort":
            CohortConfig.from_params(params)
    except (ParamsError, raw.CohortInputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
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
