#!/usr/bin/env bash
# device_issue21.sh: the short filters (issue 21) on a lent GPU machine, in one call: the
# direct family's GPU tests (every candidate of both directions at K = 1 to 64 against fp64,
# the sanitizer cases), the tuner's stop on a faulting candidate, the depthwise module's GPU
# tests (against float64 conv1d with gradients), then
# bench/bench_short.py, tuning each shape first (fftconv-tune, the direct family), against cuDNN's
# conv1d and, with FlashFFTConv built from .ffc (../shared/tools/ffc-kit .ffc; FFC=0 leaves
# it out), FlashDepthWiseConv1d. Logs go to $OUT; a summary is printed last.
#
#   [TESTS=0] [BWD=0] [PYTEST=0] [BENCH=0] [FFC=0] [NCU=1] [TAPS=3,4,7,16,64] [LENGTHS=1024,16384,262144,1048576] bench/device_issue21.sh BUNDLE
set -uo pipefail
B=${1:?bundle dir}
[ "${FFC:-1}" = 1 ] && [ -d .ffc ] && bash .ffc/build.sh --background > /dev/null 2>&1
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary21.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
BWD_SUITE="test_gpu_backward --filter gpu_backward/direct*" # about 150 s; BWD=0 leaves it out
[ "${BWD:-1}" = 1 ] || BWD_SUITE=
[ "${TESTS:-1}" = 1 ] && run_suites "$S" 400 "test_gpu_forward --filter gpu_candidates_direct/*" \
  "test_gpu_forward --filter gpu_forward/odd_lengths*" ${BWD_SUITE:+"$BWD_SUITE"} \
  "test_gpu_sanitize --filter gpu_sanitize/*direct*" "test_gpu_cache --filter gpu_cache/a_fault*"
export FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so FFTCONV_CACHE=$OUT/short.db
[ "${TESTS:-1}" = 1 ] && [ "${PYTEST:-1}" = 1 ] && { LD_LIBRARY_PATH=$B/lib timeout 300 python3 -m pytest -q \
  -p no:cacheprovider python/tests/test_gpu.py -k "depthwise or sparse or spectrum" \
  > "$OUT/pytest_depthwise.log" 2>&1
  echo "pytest depthwise rc=$?: $(tail -1 "$OUT/pytest_depthwise.log")" >> "$S"; }
[ "${BENCH:-1}" = 1 ] || { echo; cat "$S"; exit 0; }
if [ "${FFC:-1}" = 1 ] && [ -d .ffc ]; then
  bash .ffc/build.sh --wait > "$OUT/ffc-build.txt" 2>&1 || tail -5 "$OUT/ffc-build.txt" >> "$S"
  WITH_FFC="--flashfftconv"; export PYTHONPATH=$(bash .ffc/build.sh --path):${PYTHONPATH:-}
fi
LD_LIBRARY_PATH=$B/lib timeout 400 python3 bench/bench_short.py --cache "$OUT/short.db" \
  --tune "$B/bin/fftconv-tune" --taps "${TAPS:-3,4,7,16,64}" \
  --lengths "${LENGTHS:-1024,16384,262144,1048576}" ${WITH_FFC:-} \
  > "$OUT/bench_short.txt" 2> "$OUT/bench_short.err"
echo "bench_short rc=$?" >> "$S"; grep -v "^K=" "$OUT/bench_short.err" | tail -3 >> "$S"
if [ "${NCU:-0}" = 1 ]; then # the direct forward at K = 3, L = 16K, profiled (the cache tuned)
  LD_LIBRARY_PATH=$B/lib timeout 200 ncu --kernel-name fftconv_fwd --launch-skip 3 \
    --launch-count 1 --set full python3 bench/bench_short.py --cache "$OUT/short.db" --taps 3 \
    --lengths 16384 --runs 3 > "$OUT/ncu_direct.txt" 2>&1
  echo "ncu rc=$?" >> "$S"
fi
echo; cat "$S"; grep -E '^\||^device' "$OUT/bench_short.txt"
exit 0
