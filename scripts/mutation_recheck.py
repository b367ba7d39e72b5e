"""Re-run, in a plain pytest process, every mutant that mutmut could not judge (status "segfault": exit -9/-11).

Why: tests that fork a ``multiprocessing`` pool (``text.normalise_many``, the cohort builder's workers) run inside
mutmut's forked worker; when a mutant makes such a test fail while its pool is alive, mutmut records the worker as
killed by a signal (-9) with no verdict. Here each such mutant runs on its own: ``MUTANT_UNDER_TEST=<name>
python -m pytest -x <the tests mutmut selected for that function>`` in ``mutants/`` (mutmut's trampolines read
that variable), so the pool forks from an ordinary process. Exit 0 → survived, 1 → killed, the time limit → timeout.

Usage (from the repository root, after ``mutmut run``; scripts/mutation.sh calls it):
    python scripts/mutation_recheck.py            # writes mutants/recheck.json {mutant: status}
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path

STATUS = {0: "survived", 1: "killed"}


def unjudged() -> list[str]:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                         capture_output=True, text=True, check=True).stdout
    return [line.strip().rpartition(": ")[0] for line in out.splitlines() if line.strip().endswith(": segfault")]


def recheck(name: str, stats: dict, cli_args: list[str]) -> str:
    function = name.rpartition("__mutmut_")[0]
    tests = sorted(stats["tests_by_mangled_function_name"].get(function, []),
                   key=lambda t: stats["duration_by_test"].get(t, 0.0))
    if not tests:
        return "no tests"
    limit = 60 + 15 * sum(stats["duration_by_test"].get(t, 0.0) for t in tests)
    env = dict(os.environ, MUTANT_UNDER_TEST=name, PYTHONPATH=str(Path("mutants").resolve()))
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", *cli_args, *tests]
    try:
        rc = subprocess.run(cmd, cwd="mutants", env=env, capture_output=True, timeout=limit).returncode
    except subprocess.TimeoutExpired:
        return "timeout"
    return STATUS.get(rc, f"exit {rc}")


def main() -> None:
    stats = json.loads(Path("mutants/mutmut-stats.json").read_text())
    cli_args = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["mutmut"].get("pytest_add_cli_args", [])
    path = Path("mutants/recheck.json")
    done = json.loads(path.read_text()) if path.exists() else {}
    for name in unjudged():
        if name not in done:
            done[name] = recheck(name, stats, cli_args)
            print(f"{name}: {done[name]}", flush=True)
            path.write_text(json.dumps(done, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()
