#!/usr/bin/env bash
# device_verify_tc.sh: the GPU checks a change to monarch_tc's kernel text needs, in one call on
# a lent GPU machine: every tensor-core candidate at each FFT size (gpu_candidates_tc) and the
# banded ones (gpu_candidates_band), the tensor-core and band sanitizer cases under the four
# tools, the forward grids at 4096 and 32768, the backward's candidates at odd shapes, and the
# Python package's tests (GPU half and CPU half). Each suite has a time limit; a summary is
# printed last, logs go to $OUT. SKIP_PYTEST=1 leaves pytest out.
#
#   bench/device_verify_tc.sh BUNDLE
# BUNDLE (../shared/tools/device-bundle) holds test_gpu_forward, test_gpu_sanitize,
# test_gpu_backward, sanitize-child, fftconv-tune, fftconv-cache, plan-child and libfftconv.so.
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary_verify.txt
: > "$S"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$S" 2>&1
suites=()
for n in 256 512 1024 2048 4096 8192 16384 32768; do
  suites+=("test_gpu_forward --filter gpu_candidates_tc/${n}_*")
done
run_suites "$S" 300 "${suites[@]}" "test_gpu_forward --filter gpu_candidates_band/*" \
  "test_gpu_sanitize --filter gpu_sanitize/tc_*" "test_gpu_sanitize --filter gpu_sanitize/band*" \
  "test_gpu_forward --filter gpu_forward/4096_*" "test_gpu_forward --filter gpu_forward/32768_*" \
  "test_gpu_backward --filter gpu_backward_candidates/*"
if [ "${SKIP_PYTEST:-0}" != 1 ]; then
  t0=$SECONDS
  FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so FFTCONV_CACHE=$OUT/pytest.db \
    LD_LIBRARY_PATH=$B/lib timeout 300 python3 -m pytest -q -rs -p no:cacheprovider python/tests \
    > "$OUT/pytest.log" 2>&1
  echo "pytest rc=$? $((SECONDS - t0)) s: $(tail -1 "$OUT/pytest.log")" >> "$S"
  grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -10 >> "$S"
fi
grep -a -h "candidates.*verified\|worst error" "$OUT"/*.log | head -20 >> "$S"
echo; cat "$S"
(cd "$OUT" && tar czf logs.tgz --remove-files *.log 2>/dev/null; rm -f *.db*; true)
