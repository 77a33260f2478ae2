#!/usr/bin/env bash
# device_issue20.sh: the Python package's tests on a lent GPU machine (its Python and torch):
# pytest over python/tests with the bundle's libfftconv.so (the GPU half runs there; the CPU
# half too), then, with SANITIZE=1, compute-sanitizer's memcheck over the GPU half's odd-shape
# gradients. Logs go to $OUT (or ./device-out); a summary is printed last.
#
#   [SANITIZE=1] bench/device_issue20.sh BUNDLE
# BUNDLE: bin/libfftconv.so and lib/ (../shared/tools/device-bundle), or b.tar.xz of them.
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
export FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so FFTCONV_CACHE=$OUT/cache.db
S=$OUT/summary20.txt
python3 -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name())" > "$S" 2>&1
t0=$SECONDS
LD_LIBRARY_PATH=$B/lib timeout 500 python3 -m pytest -q -rs -p no:cacheprovider python/tests \
  > "$OUT/pytest.log" 2>&1
echo "pytest rc=$? $(( SECONDS - t0 )) s: $(tail -1 "$OUT/pytest.log")" >> "$S"
grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -20 >> "$S"
if [ "${SANITIZE:-0}" = 1 ]; then
  LD_LIBRARY_PATH=$B/lib timeout 300 compute-sanitizer --tool memcheck --error-exitcode 9 \
    python3 -m pytest -q -p no:cacheprovider python/tests/test_gpu.py -k "every_gradient and float16" \
    > "$OUT/pytest_memcheck.log" 2>&1
  echo "memcheck rc=$? $(grep -a 'ERROR SUMMARY' "$OUT/pytest_memcheck.log" | tail -1)" >> "$S"
fi
echo; cat "$S"
exit 0
