#!/usr/bin/env bash
# device_long.sh: one call on a lent GPU machine for the long-sequence family (issue 10):
# on the first GPU the given commands of the bundle in order (default: the long GPU tests and
# a tuning table of a few long problems); on the second GPU, when there is one, the other GPU
# suites. Logs go to $OUT (or ./device-out), a summary is printed last.
#
#   bench/device_long.sh BUNDLE [TESTS...]    TESTS as "test_gpu_long --filter gpu_long/*"
#   OTHER="test_gpu_api ..." bench/device_long.sh BUNDLE ...   the second GPU's list
set -uo pipefail
B=${1:?bundle dir}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_PLAN_CHILD=$B/bin/plan-child FFTCONV_CACHE=/tmp/long-tests.db
ngpu=$(nvidia-smi -L | wc -l)
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=("test_gpu_long --filter gpu_long/*")
read -r -a other <<< "${OTHER-}"

run_list() { # gpu log-prefix commands...
  local gpu=$1 pre=$2; shift 2
  local i=0
  for t in "$@"; do
    i=$((i + 1))
    local t0=$SECONDS name; name=$(echo "$t" | awk '{print $1}')
    # shellcheck disable=SC2086
    CUDA_VISIBLE_DEVICES=$gpu "$B/bin/$name" ${t#"$name"} > "$OUT/$pre$i-$name.log" 2>&1
    local rc=$?
    echo "gpu$gpu $t: rc=$rc $(( SECONDS - t0 )) s; $(grep -a 'Synthesis' "$OUT/$pre$i-$name.log" | tail -1)" >> "$OUT/summary.txt"
  done
}
: > "$OUT/summary.txt"
if [ ${#other[@]} -gt 0 ] && [ "$ngpu" -gt 1 ]; then
  run_list 1 o "${other[@]}" &
fi
run_list 0 t "${tests[@]}"
wait
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -1 >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
