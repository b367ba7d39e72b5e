#!/usr/bin/env bash
# Install everything needed and run the whole study on the data params.yaml names (embedded synthetic demo by default).
# Extra arguments go to `dvc repro` (e.g. `bash scripts/study.sh cohort` to stop after the cohort stage).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
python -m mbrnn prepare-data
dvc repro "$@"
