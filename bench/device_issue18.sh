#!/usr/bin/env bash
# device_issue18.sh: one call on a lent GPU machine for the structure issue (18): every GPU
# suite on the restructured library (test_gpu_forward without its eight monarch_tc grids,
# which only re-verify kernels the emit digest shows unchanged), the CLI suites with a GPU
# present, the runtime-only library planning from a bundle on the GPU, and bench-plan of this
# tree beside the one of the tree before the issue (BASE), in the same call.
#
#   bench/device_issue18.sh BUNDLE [BASE]
# BUNDLE: this build's tests and tools (../shared/tools/device-bundle); BASE: a bundle holding
# the bench-plan of the tree before the change. Logs go to $OUT (or ./device-out); a summary
# is printed last.
set -uo pipefail
B=${1:?bundle dir} BASE=${2:-}
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_CACHE_BIN=$B/bin/fftconv-cache
export FFTCONV_PLAN_CHILD=$B/bin/plan-child FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_INCLUDE=$PWD/src/runtime
S=$OUT/summary.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
if [ -n "${TESTS:-}" ]; then
  eval "tests=($TESTS)"
else
  tests=(test_gpu_api test_gpu_runtime test_gpu_cache test_gpu_bundle test_gpu_sanitize
         "test_gpu_forward --filter gpu_forward/*" "test_gpu_forward --filter gpu_candidates/*"
         test_gpu_long)
fi
export FFTCONV_RT_FORWARD=$B/bin/rt-forward
for t in "${tests[@]}"; do
  t0=$SECONDS
  set -- $t
  [ -x "$B/bin/$1" ] || { echo "$t: not in the bundle" >> "$S"; continue; }
  log=$OUT/$1${3:+_$(printf %s "$3" | tr -c 'a-z' _)}.log
  LD_LIBRARY_PATH=$B/lib timeout 300 "$B/bin/$@" --verbose=1 > "$log" 2>&1
  echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$log" | tail -1)" >> "$S"
done
if [ "${BENCH:-1}" = 1 ]; then
  for i in 1 2; do # the tree before the issue and this one, twice each, alternating
    for side in base new; do
      bin=$B/bin/bench-plan; [ $side = base ] && bin=$B/bin/bench-plan-base
      [ -x "$bin" ] && LD_LIBRARY_PATH=$B/lib "$bin" > "$OUT/bench_plan_${side}_$i.txt" 2>&1
    done
  done
fi
echo; cat "$S"
for f in "$OUT"/bench_plan_*.txt; do [ -f "$f" ] && { echo "== $(basename "$f")"; grep '^|' "$f"; }; done
