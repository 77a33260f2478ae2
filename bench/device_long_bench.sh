#!/usr/bin/env bash
# device_long_bench.sh: second call of the long benchmark: waits for the FlashFFTConv build,
# then bench_torch.py --flashfftconv over the long sizes from the tuned cache CACHE, fp16 on
# the first GPU and then bf16, while the second GPU runs the GPU tests given (TESTS, programs
# of the bundle with filters). Tables and logs in $OUT.
#   TESTS="test_gpu_long ..." bench/device_long_bench.sh BUNDLE CACHE
set -uo pipefail
B=${1:?bundle} DB=${2:?cache}
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child FFTCONV_CACHE=/tmp/tests.db
read -r -a tests <<< "${TESTS-}"
tests_run() {
  for t in "${tests[@]}"; do
    local t0=$SECONDS
    CUDA_VISIBLE_DEVICES=1 "$B/bin/$t" --verbose > "$OUT/test-$t.log" 2>&1
    echo "$t: rc=$? $(( SECONDS - t0 )) s; $(grep -a Synthesis "$OUT/test-$t.log")" >> "$OUT/tests.txt"
  done
}
: > "$OUT/tests.txt"
[ ${#tests[@]} -gt 0 ] && tests_run &
bash .ffc/build.sh --wait > "$OUT/ffc-build.txt" 2>&1 || true
export PYTHONPATH=$(bash .ffc/build.sh --path):${PYTHONPATH:-}
for dt in ${DTYPES:-fp16 bf16}; do
  CUDA_VISIBLE_DEVICES=0 python3 bench/bench_torch.py --lib "$B/bin/libfftconv.so" --cache "$DB" \
    --policy tuned-only --sizes "${SIZES:-65536,131072,262144,524288,1048576,2097152,4194304}" \
    --dtype $dt --runs ${RUNS:-5} --no-torch-fft --flashfftconv > "$OUT/bench-$dt.md" 2> "$OUT/bench-$dt.err"
  echo "bench $dt rc=$?"
done
wait
cat "$OUT/ffc-build.txt" "$OUT/tests.txt"
for dt in ${DTYPES:-fp16 bf16}; do grep -a "^|\|geometric" "$OUT/bench-$dt.md"; tail -3 "$OUT/bench-$dt.err"; done
