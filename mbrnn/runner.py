"""Runs one DVC stage's notebook with papermill, handing it the stage's own keys of ``params.yaml``.

A stage in ``dvc.yaml`` says everything once: its notebook is its one ``notebooks/*.py`` dependency, its executed copy
its one ``reports/notebooks/*.ipynb`` output, and its parameters the keys listed under ``params:``. The runner reads
those three from ``dvc.yaml``, so the stage's ``cmd`` is only ``python -m mbrnn stage NAME``. The notebook receives one
nested dict ``params`` holding exactly the declared keys (``cohort`` gives the whole section, ``cohort.cohort_dir`` that
key alone), so a notebook cannot read a key DVC does not track for it; a ``foreach`` stage (``train@mbrnn``) also
receives its key as ``name``. Opened in JupyterLab, a notebook calls :func:`stage_params` itself and gets the same dict.

The executed notebook is written atomically; on failure the failed copy goes to ``<out>.failed.ipynb`` (git-ignored,
never a stage output, removed by the next run) and the error is raised, so DVC records nothing.
"""

from __future__ import annotations

import ast
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from . import io
from .config import ParamsError, TrainConfig, load_params

_VAR = re.compile(r"\$\{\s*([\w.@-]+)\s*\}")


@dataclass(frozen=True)
class Stage:
    """One stage of ``dvc.yaml``, with ``${...}`` resolved (a ``foreach`` stage once per key, e.g. ``train@mbrnn``)."""

    name: str
    notebook: str            # stem under notebooks/, e.g. "03_train"
    out: str                 # the executed copy, e.g. "reports/notebooks/03_train_mbrnn.ipynb"
    keys: tuple[str, ...]    # params.yaml keys declared under the stage's `params:`
    key: str | None = None   # the foreach key, injected as `name`


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


def lookup(params: dict, dotted: str):
    """The value of a dotted ``params.yaml`` key; a missing key is a :class:`KeyError` naming it."""
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"params.yaml has no key {dotted!r}")
        node = node[part]
    return node


def subset(params: dict, keys) -> dict:
    """The nested dict of ``params`` holding only ``keys`` (dotted), e.g. ``{"cohort": {"cohort_dir": ...}}``."""
    out: dict = {}
    for dotted in keys:
        *parents, last = dotted.split(".")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = lookup(params, dotted)
    return out


def _resolve(value: str, params: dict, key: str | None) -> str:
    def one(m):
        name = m.group(1)
        if name == "key":
            if key is None:
                raise ParamsError(f"dvc.yaml: ${{key}} outside a foreach stage in {value!r}")
            return key
        return str(lookup(params, name))
    return _VAR.sub(one, value)


def _paths(entries) -> list[str]:
    """``deps``/``outs`` entries as paths (an entry may be ``{path: {cache: false}}``)."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries or []]


def _stage(name: str, body: dict, params: dict, key: str | None) -> Stage:
    deps = [_resolve(p, params, key) for p in _paths(body.get("deps"))]
    outs = [_resolve(p, params, key) for p in _paths(body.get("outs"))]
    notebooks = [d for d in deps if d.startswith("notebooks/") and d.endswith(".py")]
    executed = [o for o in outs if o.startswith("reports/notebooks/") and o.endswith(".ipynb")]
    if len(notebooks) != 1 or len(executed) != 1:
        raise ParamsError(f"dvc.yaml stage {name}: needs exactly one notebooks/*.py dependency and one "
                          f"reports/notebooks/*.ipynb output, found {notebooks} and {executed}")
    keys = tuple(_resolve(p, params, key) for p in body.get("params") or [])
    return Stage(name, Path(notebooks[0]).stem, executed[0], keys, key)


def stages(params: dict, root: Path | None = None) -> dict[str, Stage]:
    """Every notebook stage of ``dvc.yaml`` in order, ``foreach`` stages expanded over their mapping's keys."""
    root = root or project_root()
    out: dict[str, Stage] = {}
    for name, body in yaml.safe_load((root / "dvc.yaml").read_text())["stages"].items():
        if "foreach" not in body:
            out[name] = _stage(name, body, params, None)
            continue
        over = body["foreach"]
        mapping = lookup(params, _VAR.fullmatch(over).group(1)) if isinstance(over, str) else over
        for key in mapping:
            out[f"{name}@{key}"] = _stage(f"{name}@{key}", body["do"], params, key)
    return out


def stage(name: str, params: dict, root: Path | None = None) -> Stage:
    found = stages(params, root)
    if name not in found:
        raise ParamsError(f"dvc.yaml has no stage {name!r}; stages: {', '.join(found)}")
    return found[name]


def stage_params(name: str, params: dict | None = None, root: Path | None = None) -> dict:
    """What the stage's notebook works with: ``params`` as injected by the runner, or (``None``, e.g. in
    JupyterLab) the stage's declared keys read from ``params.yaml`` -- the same dict either way. With the
    environment variable ``MBRNN_RECORD_PARAMS`` set to a file, every key the stage reads is appended to it
    (tests/test_study.py checks that every key of params.yaml is read, each by a stage that declares it)."""
    if params is None:
        root = root or project_root()
        full = load_params(root / "params.yaml")
        params = subset(full, stage(name, full, root).keys)
    log = os.environ.get(RECORD_ENV)
    return _Recorded.wrap(params, f"{name}\t", log) if log else params


RECORD_ENV = "MBRNN_RECORD_PARAMS"


class _Recorded(dict):
    """A dict that appends ``<stage>\t<dotted key>`` to a log file for every key read (tests only)."""

    _prefix, _log = "", None

    @classmethod
    def wrap(cls, value, prefix: str, log: str):
        if not isinstance(value, dict):
            return value
        out = cls(value)
        out._prefix, out._log = prefix, log
        return out

    def _record(self, key, note: str = "") -> None:
        with open(self._log, "a") as f:
            f.write(f"{self._prefix}{key}{note}\n")

    def __getitem__(self, key):
        value = super().__getitem__(key)
        self._record(key)
        return _Recorded.wrap(value, f"{self._prefix}{key}.", self._log)

    def get(self, key, default=None):
        if key in self:
            return self[key]
        self._record(key, "\tmissing")  # a key the stage wants but was not given: not declared in dvc.yaml
        return default

    def __iter__(self):  # also makes ** and dict() read through __getitem__
        return iter(list(super().keys()))

    def items(self):
        return [(k, self[k]) for k in list(super().keys())]

    def values(self):
        return [self[k] for k in list(super().keys())]


def notebook_parameters(st: Stage, params: dict) -> dict:
    """The papermill parameters of stage ``st``: ``params`` (its keys only) and, for a foreach stage, ``name``."""
    injected = {"params": subset(params, st.keys)}
    if st.key is not None:
        injected["name"] = st.key
    return injected


def run_stage(name: str, params: dict, root: Path | None = None, out: str | Path | None = None) -> Path:
    """Execute stage ``name``'s notebook with ``params`` (a whole params.yaml dict, e.g. with redirected paths)."""
    root = root or project_root()
    st = stage(name, params, root)
    return run_notebook(st.notebook, notebook_parameters(st, params), out or root / st.out, root)


def parameter_defaults(notebook: str | Path) -> dict:
    """The literal defaults of a notebook's tagged ``parameters`` cell."""
    import jupytext

    for cell in jupytext.read(notebook).cells:
        if "parameters" in cell.metadata.get("tags", []):
            tree = ast.parse(cell.source)
            return {t.id: ast.literal_eval(node.value) for node in tree.body if isinstance(node, ast.Assign)
                    for t in node.targets if isinstance(t, ast.Name)}
    raise ValueError(f"{notebook}: no cell tagged 'parameters'")


def run_notebook(name: str, parameters: dict, out: str | Path | None = None, root: Path | None = None) -> Path:
    """Execute ``notebooks/<name>.py`` with papermill; the executed copy lands atomically at ``out``. Under
    ``torchrun`` the ranks other than 0 execute into a temporary folder: only rank 0's copy is an output."""
    root = root or project_root()
    if int(os.environ.get("RANK", "0")) != 0 and out is not None:
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
    return out


def gpus(st: Stage, params: dict) -> int:
    """How many processes train stage ``st`` runs (``train.gpus``; 1 for every other stage)."""
    if st.key is None or "train" not in st.keys:
        return 1
    return TrainConfig.from_params(params).gpus  # validated, its default said once


def torchrun_argv(st: Stage, n: int, python: str) -> list[str]:
    """The command that runs stage ``st`` as ``n`` DistributedDataParallel processes (one per GPU) on this machine."""
    return [python, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={n}",
            "-m", "mbrnn", "stage", st.name]
