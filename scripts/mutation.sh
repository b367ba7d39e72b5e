#!/usr/bin/env bash
# Mutation testing of the core with mutmut (slow: run it outside CI, on a quiet machine).
#
#   bash scripts/mutation.sh                 # every configured module (metrics losses codes text splits models cohort)
#   bash scripts/mutation.sh metrics losses  # only these
#   bash scripts/mutation.sh --keep splits   # keep mutants/ and the other modules' verdicts; splits is re-run whole
#   python -m mutmut run NAME...             # re-run only these mutants (e.g. the survivors after adding tests)
# After adding tests, delete mutants/mutmut-stats.json before --keep or a named re-run: mutmut otherwise keeps its
# old map of which tests call which function, and the new tests never run.
#   bash scripts/mutation.sh --sample 25 cohort  # every 25th mutant (sorted by function, then number) only
#
# Configuration: [tool.mutmut] in pyproject.toml (which files are mutated, pytest options). mutmut copies mbrnn/
# and tests/ into mutants/ (git-ignored), runs the fast suite once to learn which tests call which function, then
# runs each mutant against those tests only. Mutants that mutmut could not judge (a worker killed by a signal:
# tests forking a process pool inside mutmut's worker) are re-run in a plain pytest process by
# scripts/mutation_recheck.py. The per-module score (killed / checked) is printed at the end;
# record it in tests/README.md. `python -m mutmut show NAME` shows one mutant, `python -m mutmut browse` all.
# Needs the optional dependency group "mutation": pip install -e ".[mutation]".
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d .venv ] && source .venv/bin/activate
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export OMP_NUM_THREADS=1  # one thread per test process: the workers share the cores
keep=0 sample=1
while [[ $# -gt 0 && $1 == --* ]]; do
  case $1 in
    --keep) keep=1; shift ;;
    --sample) sample=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
modules=("$@")
[ ${#modules[@]} -eq 0 ] && modules=(metrics losses codes text splits models cohort)
[ $keep -eq 1 ] || rm -rf mutants  # a fresh copy of the sources and tests: results never come from stale code
patterns=()
for m in "${modules[@]}"; do patterns+=("mbrnn.$m*"); done
if [ "$sample" -gt 1 ]; then
  # mutmut names mutants only once it has generated them: a run with a pattern matching none generates them all,
  # then stops with "nothing matches" (mutmut 3.8), which is the expected end here
  nice -n 19 python -m mutmut run "mbrnn.no_such_module*" > mutants.log 2>&1 \
    || grep -q "nothing matches" mutants.log || { tail -20 mutants.log; exit 1; }
  mapfile -t patterns < <(python - "$sample" "${modules[@]}" <<'PY'
import re, subprocess, sys
step, modules = int(sys.argv[1]), sys.argv[2:]
out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
names = [line.strip().rpartition(": ")[0] for line in out.splitlines() if ": " in line]
key = lambda n: (n.rpartition("__mutmut_")[0], int(n.rpartition("__mutmut_")[2]))
for m in modules:
    print("\n".join(sorted((n for n in names if n.startswith(f"mbrnn.{m}.")), key=key)[::step]))
PY
)
fi
echo "== mutmut: ${#patterns[@]} pattern(s) or mutant name(s) (progress in mutants.log)"
nice -n 19 python -m mutmut run "${patterns[@]}" > mutants.log 2>&1 || { tail -20 mutants.log; exit 1; }
nice -n 19 python scripts/mutation_recheck.py
python - "$sample" "${modules[@]}" <<'PY'
import collections, json, pathlib, subprocess, sys
step, modules = int(sys.argv[1]), sys.argv[2:]
out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True, text=True).stdout
recheck = pathlib.Path("mutants/recheck.json")
recheck = json.loads(recheck.read_text()) if recheck.exists() else {}
score = collections.defaultdict(collections.Counter)
survivors = []
for line in out.splitlines():
    name, _, status = line.strip().rpartition(": ")
    if not name.startswith("mbrnn.") or not any(name.startswith(f"mbrnn.{m}.") for m in modules):
        continue
    module = name.split(".x_")[0].split(".xǁ")[0]
    if status == "segfault" and name in recheck:
        score[module]["rechecked"] += 1
        status = recheck[name]
    score[module][status] += 1
    survivors += [name] if status == "survived" else []
print(f"{'module':26} {'mutants':>8} {'checked':>8} {'killed':>7} {'rechecked':>9} {'timeout':>8} {'survived':>9} "
      f"{'score':>7}" + (f"   (sample: every {step}th mutant)" if step > 1 else ""))
for module in sorted(score):
    c = score[module]
    checked = sum(v for k, v in c.items() if k not in ("not checked", "rechecked"))
    if not checked:
        continue
    print(f"{module:26} {sum(v for k, v in c.items() if k != 'rechecked'):8} {checked:8} {c['killed']:7} "
          f"{c['rechecked']:9} {c['timeout']:8} {c['survived']:9} {c['killed'] / checked:7.1%}")
    # score: killed / checked; a timeout is not counted as killed. rechecked: judged by mutation_recheck.py
print("survivors:")
print("\n".join("  " + n for n in survivors))
PY
