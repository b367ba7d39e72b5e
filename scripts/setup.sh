#!/usr/bin/env bash
# Create .venv and install mbrnn with its dependencies. Idempotent; sourced by study.sh and test.sh.
#   PYTHON=python3.12           interpreter to build .venv with (default: python3.11, else python3; needs >= 3.11)
#   MBRNN_TORCH=torch==2.13.0   torch requirement (default pin; the CPU wheel where pip is set up for it)
#   MBRNN_TORCH_INDEX=URL       extra pip index for torch, e.g. https://download.pytorch.org/whl/cu128 for CUDA 12.8
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
py=${PYTHON:-$(command -v python3.11 || command -v python3)}
if [[ ! -x .venv/bin/python ]]; then
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
    || { echo "mbrnn needs Python >= 3.11 (found $("$py" --version)); set PYTHON=/path/to/python3.11" >&2; exit 1; }
  echo "creating .venv with $("$py" --version)"
  "$py" -m venv .venv
fi
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
stamp=.venv/.mbrnn-installed
want="$(cat pyproject.toml environment.yml 2>/dev/null | sha256sum | cut -c1-16) ${MBRNN_TORCH:-torch==2.13.0} ${MBRNN_TORCH_INDEX:-}"
if [[ ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo "installing torch (${MBRNN_TORCH:-torch==2.13.0}) and mbrnn into .venv (first run takes a few minutes)"
  "${pip[@]}" "${MBRNN_TORCH:-torch==2.13.0}" ${MBRNN_TORCH_INDEX:+--extra-index-url "$MBRNN_TORCH_INDEX"}
  "${pip[@]}" -e ".[test]"
  rm -f .dvc/plots/offline.html  # rewritten below from the (maybe new) vl-convert-python
  echo "$want" > "$stamp"
fi
# the offline page template of `dvc plots show` (.dvc/config plots.html_template; not in git)
[[ -f .dvc/plots/offline.html ]] || .venv/bin/python -m mbrnn.dvc_plots
# shellcheck disable=SC1091
source .venv/bin/activate
