#!/usr/bin/env bash
# device_issue10.sh: the closing call for the long-sequence families on the lent 2-GPU
# machine. GPU 0 (cores 0-15): the long set's fp16 half tuned from an empty cache, then
# bench_torch.py --flashfftconv over it (FlashFFTConv built from .ffc in the background
# meanwhile). GPU 1: the GPU test programs given in TESTS. Summary printed last; logs in $OUT.
#   TESTS="test_gpu_long test_gpu_sanitize ..." bench/device_issue10.sh BUNDLE
set -uo pipefail
B=${1:?bundle}
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_PLAN_CHILD=$B/bin/plan-child
[ -d .ffc ] && bash .ffc/build.sh --background > /dev/null
read -r -a tests <<< "${TESTS-}"
tests_run() {
  for t in "${tests[@]}"; do
    local t0=$SECONDS name=${t%% *}
    # shellcheck disable=SC2086
    CUDA_VISIBLE_DEVICES=1 FFTCONV_CACHE=/tmp/tests-$name.db taskset -c 16-31 "$B/bin/$name" ${t#"$name"} \
      > "$OUT/test-$name.log" 2>&1
    echo "$t: rc=$? $(( SECONDS - t0 )) s; $(grep -a Synthesis "$OUT/test-$name.log")" >> "$OUT/tests.txt"
  done
}
: > "$OUT/tests.txt"
[ ${#tests[@]} -gt 0 ] && tests_run &
"$B/bin/fftconv-tune" --list-set long | grep -- '--dtype fp16' > /tmp/long-fp16.txt
t0=$SECONDS
CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 "$B/bin/fftconv-tune" --problems /tmp/long-fp16.txt \
  --cache /tmp/long.db --json > "$OUT/tune-fp16.json" 2> "$OUT/tune-fp16.err"
echo "tune fp16 half of the long set: rc=$? $(( SECONDS - t0 )) s" > "$OUT/tune.txt"
grep -a "of floor" "$OUT/tune-fp16.err" | cut -c1-110 >> "$OUT/tune.txt"
bash .ffc/build.sh --wait > "$OUT/ffc-build.txt" 2>&1
PYTHONPATH=$(bash .ffc/build.sh --path):${PYTHONPATH:-} CUDA_VISIBLE_DEVICES=0 taskset -c 0-15 \
  python3 bench/bench_torch.py --lib "$B/bin/libfftconv.so" --cache /tmp/long.db \
  --policy tuned-only --sizes 65536,131072,262144,524288,1048576,2097152,4194304 --dtype fp16 \
  --runs 5 --no-torch-fft --flashfftconv > "$OUT/bench-fp16.md" 2> "$OUT/bench-fp16.err"
echo "bench fp16 rc=$?" >> "$OUT/tune.txt"
wait
cat "$OUT/tune.txt" "$OUT/ffc-build.txt" "$OUT/tests.txt"
grep -a "^|\|geometric" "$OUT/bench-fp16.md"
