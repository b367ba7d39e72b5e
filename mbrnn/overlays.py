"""Parameter overlays: a named setting (the paper's, a GPU profile) as the few keys it changes in ``params.yaml``.

An overlay is a YAML file shaped like ``params.yaml`` that holds only the keys it changes, plus two keys of its
own:

* ``extends: other.yaml`` (a path relative to the overlay) applies that overlay first;
* ``models_by_arch: {ARCH: {key: value}}`` applies ``key: value`` to every entry of ``models`` whose ``arch`` is
  ARCH, whatever the entries are called (so an overlay does not go stale when a model entry is added).

Every other key must already exist in ``params.yaml`` (a typo fails with the overlay's name and the key);
``models_by_arch`` may add a key a model entry lacks. ``settings`` turns an overlay into dotted ``key: value``
pairs, ``apply`` merges them into params (tests, the GPU check), and ``dvc_command`` writes the matching
``dvc exp run -S key=value ...`` (Hydra override syntax), so an overlay is run without editing ``params.yaml``.
Plumbing, like ``runner.py``: not part of the data chain.
"""

from __future__ import annotations

import copy
import re
import shlex
from pathlib import Path

import yaml

_OWN_KEYS = ("extends", "models_by_arch")
_BARE = re.compile(r"^[A-Za-z_./][A-Za-z0-9_./:-]*$")  # strings Hydra reads as themselves without quotes
_HYDRA_WORDS = {"true", "false", "null", "nan", "inf", "-inf", "True", "False", "None"}


def load(path: str | Path) -> dict:
    """An overlay file with its ``extends`` chain resolved into one nested mapping (later files win)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: overlay not found (see configs/ for the shipped ones)")
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: an overlay is a mapping shaped like params.yaml")
    base = data.pop("extends", None)
    if base is None:
        return data
    return _deep_merge(load(path.parent / base), data)


def _deep_merge(a: dict, b: dict) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def settings(overlay: dict, params: dict, origin: str = "overlay") -> dict[str, object]:
    """Dotted ``key -> value`` pairs the overlay sets on ``params``; a key ``params`` lacks is an error, except
    keys that ``models_by_arch`` adds to a model entry (returned with a leading ``+``, as Hydra wants)."""
    out: dict[str, object] = {}
    for key, value in overlay.items():
        if key == "models_by_arch":
            out.update(_by_arch(value, params, origin))
        elif key in _OWN_KEYS:
            continue
        else:
            _flatten(value, params, key, origin, out)
    return out


def _flatten(value, params: dict, dotted: str, origin: str, out: dict) -> None:
    node = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(f"{origin}: key {dotted!r} is not in params.yaml (an overlay only changes existing keys)")
        node = node[part]
    if isinstance(value, dict) and isinstance(node, dict):
        for k, v in value.items():
            _flatten(v, params, f"{dotted}.{k}", origin, out)
    else:
        out[dotted] = value


def _by_arch(by_arch: dict, params: dict, origin: str) -> dict[str, object]:
    out = {}
    arches = {m.get("arch") for m in params.get("models", {}).values()}
    for arch, values in by_arch.items():
        if arch not in arches:
            raise KeyError(f"{origin}: models_by_arch names arch {arch!r}, but no entry of params.yaml models has it "
                           f"(arches: {sorted(a for a in arches if a)})")
        for name, entry in params["models"].items():
            if entry.get("arch") == arch:
                out.update({("" if k in entry else "+") + f"models.{name}.{k}": v for k, v in values.items()})
    return out


def apply(params: dict, overlay: dict, origin: str = "overlay") -> dict:
    """A copy of ``params`` with the overlay's settings applied (what ``dvc exp run -S ...`` produces)."""
    out = copy.deepcopy(params)
    for dotted, value in settings(overlay, params, origin).items():
        *parents, leaf = dotted.lstrip("+").split(".")
        node = out
        for p in parents:
            node = node[p]
        node[leaf] = copy.deepcopy(value)
    return out


def hydra_value(v) -> str:
    """A YAML value in Hydra's override grammar (what ``dvc exp run -S key=value`` parses)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "null"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(hydra_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ",".join(f"{k}:{hydra_value(x)}" for k, x in v.items()) + "}"
    s = str(v)
    if _BARE.match(s) and s not in _HYDRA_WORDS:
        return s
    return "'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'"


def dvc_command(settings_: dict[str, object], name: str | None = None) -> list[str]:
    """``dvc exp run -S key=value ... [-n NAME]`` for the given settings, as an argv list."""
    argv = ["dvc", "exp", "run"]
    for dotted, value in settings_.items():
        argv += ["-S", f"{dotted}={hydra_value(value)}"]
    return argv + (["-n", name] if name else [])


def describe(argv: list[str]) -> str:
    """The command as one shell line a user can paste."""
    return shlex.join(argv)


def run_experiment(overlay: str | Path, params: dict, name: str | None = None, dry_run: bool = False,
                   root: Path | None = None, extra: list[str] | None = None) -> int:
    """Print the ``dvc exp run -S ...`` command of an overlay (plus ``extra`` dvc arguments, e.g. more ``-S``)
    and run it unless ``dry_run``; returns its exit code."""
    import subprocess
    import sys

    argv = dvc_command(settings(load(overlay), params, str(overlay)), name) + list(extra or [])
    print(describe(argv), flush=True)
    if dry_run:
        return 0
    return subprocess.run([sys.executable, "-m", *argv], cwd=root).returncode
