#!/bin/sh
# run.sh [PYTHON]: the Python package's tests (pytest; the GPU half skips without a GPU) with
# the libfftconv.so in $FFTCONV_LIB. Exit 77 (ctest's skip) when PYTHON lacks pytest or torch.
PY=${1:-python3}
if ! "$PY" -c "import pytest, torch" 2>/dev/null; then
  echo "test_python: skipped: $PY has no pytest or torch (.ci/deps installs them)"
  exit 77
fi
cd "$(dirname "$0")/.." || exit 1
exec "$PY" -m pytest -q -rs -p no:cacheprovider tests
