#!/usr/bin/env bash
# Mutation testing of the core with mutmut (slow: run it outside CI, on a quiet machine).
#
#   bash scripts/mutation.sh                 # every configured module (metrics losses codes text splits models cohort)
#   bash scripts/mutation.sh metrics losses  # only these, in this order
#
# Configuration: [tool.mutmut] in pyproject.toml (which files are mutated, pytest options). mutmut copies mbrnn/
# and tests/ into mutants/ (git-ignored), runs the fast suite once to learn which tests call which function, then
# runs each mutant against those tests only. The per-module score (killed / all mutants) is printed at the end;
# record it in tests/README.md. `python -m mutmut show NAME` shows one mutant, `python -m mutmut browse` all.
# Needs the optional dependency group "mutation": pip install -e ".[mutation]".
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && source .venv/bin/activate
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1  # one thread per test process: the workers share the cores
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=(metrics losses codes text splits models cohort)
rm -rf mutants  # a fresh copy of the sources and tests: results never come from stale code
# One mutmut run for all modules: a later run after a change to tests/ would discard the earlier results.
patterns=()
for m in "${modules[@]}"; do patterns+=("mbrnn.$m*"); done
echo "== mutmut: ${patterns[*]} (progress in mutants.log)"
nice -n 19 python -m mutmut run "${patterns[@]}" > mutants.log 2>&1 || { tail -20 mutants.log; exit 1; }
python - "${modules[@]}" <<'PY'
import subprocess, sys, collections
out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
score = collections.defaultdict(collections.Counter)
for line in out.splitlines():
    name, _, status = line.strip().rpartition(": ")
    if name.startswith("mbrnn."):
        module = name.split(".x_")[0].split(".xǁ")[0]
        score[module][status] += 1
print(f"{'module':26} {'mutants':>8} {'checked':>8} {'killed':>7} {'timeout':>8} {'survived':>9} {'score':>7}")
for module in sorted(score):
    c = score[module]
    checked = sum(v for k, v in c.items() if k != "not checked")
    if not checked:
        continue
    print(f"{module:26} {sum(c.values()):8} {checked:8} {c['killed']:7} {c['timeout']:8} {c['survived']:9} "
          f"{c['killed'] / checked:7.1%}")  # score: killed / checked; a timeout is not counted as killed
print("survivors:")
for line in out.splitlines():
    if line.strip().endswith(": survived"):
        print("  " + line.strip().rsplit(": ", 1)[0])
PY
