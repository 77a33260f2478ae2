#!/usr/bin/env bash
# device_issue11.sh: one call on a lent GPU machine for shipping kernels (issue 11): the GPU
# tests of bundles and of the runtime they go through, bench-plan's cache and bundle rows, and
# the default set exported for sm_80 and sm_90 with PTX, its time and size against the targets
# (10 s, 5 MB): tuned at rigor estimate (the built-in choices, verified and timed), then as the
# main job tunes it (rigor measure; FULL=0 skips this, about three minutes). Logs go to
# $OUT (or ./device-out); a summary is printed last.
#
#   bench/device_issue11.sh BUNDLE [TESTS...]     BUNDLE from ../shared/tools/device-bundle
set -uo pipefail
B=${1:?bundle dir}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_CACHE_BIN=$B/bin/fftconv-cache
export FFTCONV_PLAN_CHILD=$B/bin/plan-child FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_INCLUDE=$PWD/src/runtime
tests=("$@"); [ ${#tests[@]} -gt 0 ] || tests=(test_gpu_bundle test_gpu_runtime test_gpu_api test_gpu_cache)
S=$OUT/summary.txt
echo "C compiler: $(command -v cc || echo none)" > "$S"
for t in "${tests[@]}"; do
  t0=$SECONDS
  set -- $t
  "$B/bin/$@" --verbose=1 > "$OUT/$1.log" 2>&1
  echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$OUT/$1.log" | tail -1)" >> "$S"
done
"$B/bin/bench-plan" > "$OUT/bench-plan.txt" 2>&1; echo "bench-plan rc=$?" >> "$S"
# export NAME: the winners of /tmp/NAME.db for sm_80 and sm_90 with PTX, timed, compressed
# (the default) and with --compress ptx
export_set() {
  local t0; t0=$(date +%s.%N)
  "$B/bin/fftconv-cache" --cache "/tmp/$1.db" export --out "/tmp/$1-bundle" --arch sm_80,sm_90 \
    --force > "$OUT/$1-export.txt" 2>&1
  local rc=$?
  echo "export $1 rc=$rc wall $(python3 -c "import sys,time; print(round(time.time()-float(sys.argv[1]),2))" "$t0") s: $(tail -1 "$OUT/$1-export.txt")" >> "$S"
  grep -a "left out" "$OUT/$1-export.txt" >> "$S"
  "$B/bin/fftconv-cache" --cache "/tmp/$1.db" export --out "/tmp/$1-plain" --arch sm_80,sm_90 \
    --compress ptx --force > "$OUT/$1-export-plain.txt" 2>&1
  echo "export $1 --compress ptx rc=$?: $(tail -1 "$OUT/$1-export-plain.txt")" >> "$S"
}
t0=$SECONDS
"$B/bin/fftconv-tune" --rigor estimate --cache /tmp/def.db --quiet > "$OUT/def-tune.txt" 2>&1
echo "default set, rigor estimate: rc=$? $(( SECONDS - t0 )) s" >> "$S"
export_set def
# the main job as a user runs it (rigor measure), then the same exports of its winners
if [ "${FULL:-1}" = 1 ]; then
  t0=$SECONDS
  "$B/bin/fftconv-tune" --cache /tmp/full.db --quiet > "$OUT/full-tune.txt" 2>&1
  echo "default set, rigor measure: rc=$? $(( SECONDS - t0 )) s" >> "$S"
  export_set full
fi
echo; cat "$S"; echo; grep -a "^|" "$OUT/bench-plan.txt"
