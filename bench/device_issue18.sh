#!/usr/bin/env bash
# device_issue18.sh: one call on a lent GPU machine for the structure issue (18): the GPU
# suites on the restructured library (test_gpu_forward without its eight monarch_tc grids,
# which only re-verify kernels the emit digest shows unchanged), rt-forward (libfftconv_rt
# alone, run by test_gpu_bundle), and bench-plan of this tree beside the one of the tree
# before the issue (bin/bench-plan-base), alternating, in the same call.
#
#   [TESTS="..."] [BENCH=0] bench/device_issue18.sh BUNDLE
# BUNDLE: this build's tests and tools (../shared/tools/device-bundle), or a directory holding
# them as b.tar.xz (unpacked first with Python: the carry limit is 64 MiB and the machine has
# no xz). TESTS: the suites to run (default: the GPU suites). Logs go to $OUT (or
# ./device-out); a summary is printed last.
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
bench() {
  [ "${BENCH:-1}" = 1 ] || return 0
  for side in base new; do
    bin=$B/bin/bench-plan; [ $side = base ] && bin=$B/bin/bench-plan-base
    [ -x "$bin" ] && LD_LIBRARY_PATH=$B/lib timeout 120 "$bin" > "$OUT/bench_plan_${side}_$1.txt" 2>&1
  done
}
bench 1
if [ -n "${TESTS:-}" ]; then
  eval "tests=($TESTS)"
else
  tests=(test_gpu_api test_gpu_runtime test_gpu_cache test_gpu_bundle test_gpu_sanitize
         "test_gpu_forward --filter gpu_forward/*" test_gpu_long
         "test_gpu_forward --filter gpu_candidates/*")
fi
run_suites "$S" 240 "${tests[@]}"
bench 2
echo; cat "$S"
for f in "$OUT"/bench_plan_*.txt; do [ -f "$f" ] && { echo "== $(basename "$f")"; grep '^|' "$f"; }; done
exit 0
