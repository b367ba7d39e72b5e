#!/usr/bin/env bash
# Install everything needed and run the test suite. Extra arguments go to pytest (e.g. `-m "not slow"`).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
python -m pytest "$@"
