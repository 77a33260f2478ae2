#!/usr/bin/env bash
# device_check.sh: one call on a lent GPU machine (see README, "Tests"): the default set tuned
# from an empty cache (timed, on the first GPU and at most 16 cores, like a one-GPU H200
# machine) and, beside it on the second GPU when there is one, the GPU tests and the
# compute-sanitizer check of the issue's reproduction. Logs go to $OUT (or ./device-out).
#
#   bench/device_check.sh BUNDLE [TESTS...]      BUNDLE from ../shared/tools/device-bundle
#
# TESTS are Criterion test programs of the bundle with optional filters, e.g.
# "test_gpu_sanitize" "test_gpu_forward --filter gpu_forward/*"; default: every GPU test.
set -uo pipefail
B=${1:?bundle dir}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
ngpu=$(nvidia-smi -L | wc -l); ncpu=$(nproc)
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=(test_gpu_sanitize test_gpu_api test_gpu_cache test_gpu_forward)
second=$(( ngpu > 1 ? 1 : 0 ))
cores_tune=0-$(( (ncpu > 16 ? 16 : ncpu) - 1 )); cores_rest=$(( ncpu > 16 ? 16 : 0 ))-$(( ncpu - 1 ))

tune() {
  local t0=$SECONDS
  CUDA_VISIBLE_DEVICES=0 taskset -c "$cores_tune" "$B/bin/fftconv-tune" --cache /tmp/dc.db --json \
    > "$OUT/tune.json" 2> "$OUT/tune.err"
  echo "tune rc=$? $(( SECONDS - t0 )) s" > "$OUT/tune.time"
  "$B/bin/fftconv-cache" list --cache /tmp/dc.db > "$OUT/tune.list" 2>&1
  ls -l /tmp/dc.db >> "$OUT/tune.time"
}
checks() {
  export CUDA_VISIBLE_DEVICES=$second
  local t0=$SECONDS
  local pre=; [ -e "$B/lib/libsegv.so" ] && pre=$B/lib/libsegv.so  # a crash tracer, when bundled
  LD_PRELOAD=$pre compute-sanitizer --tool racecheck "$B/bin/fftconv-tune" --seqlen 256 --batch 1 --heads 2 \
    --dtype fp16 --mode circular --template monarch_tc --rigor estimate --cache /tmp/r.db \
    > "$OUT/racecheck.log" 2>&1
  echo "racecheck repro rc=$? $(( SECONDS - t0 )) s: $(grep -a 'SUMMARY' "$OUT/racecheck.log")" > "$OUT/checks.txt"
  for t in "${tests[@]}"; do
    t0=$SECONDS
    set -- $t
    taskset -c "$cores_rest" "$B/bin/$@" --verbose=0 -j4 > "$OUT/$1.log" 2>&1
    echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$OUT/$1.log" | tail -1)" >> "$OUT/checks.txt"
  done
}
if [ "$ngpu" -gt 1 ]; then tune & checks & wait; else checks; tune; fi
echo; cat "$OUT/checks.txt" "$OUT/tune.time"
grep -a "of floor\|screened out\|^copy" "$OUT/tune.err" "$OUT/tune.json" 2>/dev/null | tail -3
