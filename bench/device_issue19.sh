#!/usr/bin/env bash
# device_issue19.sh: one call on a lent GPU machine for the backward issue (19): the GPU
# suites (default: test_gpu_backward and the API suites the plan's backward touches), then,
# with SANITIZE=1, compute-sanitizer's four tools on the backward's odd-shape test and on
# each sanitize-child case of SAN_CASES (';'-separated argument lists; default: the
# tensor-core backward, which only tuning chooses, at three sizes).
#
#   [TESTS="..."] [SANITIZE=1] [SAN_CASES="..."] bench/device_issue19.sh BUNDLE
# BUNDLE: a directory of this build's tests and tools (../shared/tools/device-bundle), or
# one holding them as b.tar.xz (unpacked with Python: the machine has no xz). Logs go to
# $OUT (or ./device-out); a summary is printed last.
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
export FFTCONV_CACHE=$OUT/cache.db
S=$OUT/summary.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
if [ -n "${TESTS:-}" ]; then
  eval "tests=($TESTS)"
else
  tests=(test_gpu_backward test_gpu_api test_gpu_runtime test_gpu_cache)
fi
run_suites "$S" 300 "${tests[@]}"
if [ "${SANITIZE:-0}" = 1 ]; then
  for tool in memcheck racecheck synccheck initcheck; do
    t0=$SECONDS
    log=$OUT/sanitize_$tool.log
    LD_LIBRARY_PATH=$B/lib timeout 300 compute-sanitizer --tool $tool --error-exitcode 9 \
      --print-limit 20 "$B/bin/test_gpu_backward" --filter 'gpu_backward/odd_shapes*' -j1 \
      > "$log" 2>&1
    echo "sanitize $tool rc=$? $(( SECONDS - t0 )) s: $(grep -a -E 'ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tail -1)" >> "$S"
  done
  IFS=";" read -ra cases <<< "${SAN_CASES:---backward monarch_tc 256 circular fp16 \"op\":\"backward\";--backward monarch_long 65536 causal fp16}"
  for c in "${cases[@]}"; do
    for tool in memcheck racecheck synccheck initcheck; do
      t0=$SECONDS
      log=$OUT/sanitize_child_${tool}_$(printf %s "$c" | tr -c 'a-z0-9' _).log
      set -f; LD_LIBRARY_PATH=$B/lib timeout 120 compute-sanitizer --tool $tool --error-exitcode 9 \
        --print-limit 20 "$B/bin/sanitize-child" $c > "$log" 2>&1; rc=$?; set +f
      echo "sanitize $tool [$c] rc=$rc $(( SECONDS - t0 )) s: $(grep -a -E '^ok|FAIL|ERROR SUMMARY|RACECHECK SUMMARY' "$log" | tr '\n' ' ' | cut -c1-200)" >> "$S"
    done
  done
fi
echo; cat "$S"
exit 0
