#!/usr/bin/env bash
# device_issue17.sh: one call on a lent GPU machine for the hardening issue (17): the GPU tests
# of the paths it changed (bundles read by the hardened reader, the runtime, the API, the
# cache) and, on the machine's other cores at the same time, each fuzz target in fork mode
# until it has run at least a million inputs. Logs go to $OUT (or ./device-out), the fuzzers'
# new corpora as $OUT/corpora.tar.gz; a summary is printed last.
#
#   bench/device_issue17.sh BUNDLE FUZZBUNDLE SECONDS [TESTS...]
# BUNDLE: the plain build's tests and tools (../shared/tools/device-bundle); FUZZBUNDLE: the
# fuzz build's targets; SECONDS: how long each fuzz target runs (they run side by side).
set -uo pipefail
B=${1:?bundle dir} F=${2:?fuzz bundle dir} SECS=${3:?seconds}; shift 3
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_CACHE_BIN=$B/bin/fftconv-cache
export FFTCONV_PLAN_CHILD=$B/bin/plan-child FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_INCLUDE=$PWD/src/runtime
S=$OUT/summary.txt
: > "$S"
# the fuzzers: workers per target, by how slow each input is (cache rows: ~400/s a core)
declare -A W=([fuzz_cache_rows]=6 [fuzz_bundle]=2 [fuzz_problem_file]=2 [fuzz_manifest]=1)
pids=()
for t in fuzz_cache_rows fuzz_bundle fuzz_problem_file fuzz_manifest; do
  c=${t#fuzz_}
  [ -x "$F/bin/$t" ] || { echo "$t: not built" >> "$S"; continue; }
  ( LD_LIBRARY_PATH=$F/lib sh fuzz/run.sh "$t" "$SECS" "$F/bin/$t" "fuzz/corpus/$c" \
      "/tmp/corpus-$c" -fork="${W[$t]}" > "$OUT/$t.txt" 2>&1
    cp "/tmp/corpus-$c.log" "$OUT/$t.log" 2>/dev/null ) &
  pids+=($!)
done
tests=("$@"); [ ${#tests[@]} -gt 0 ] ||
  tests=(test_gpu_bundle test_gpu_runtime test_gpu_api test_gpu_cache test_gpu_forward)
for t in "${tests[@]}"; do
  t0=$SECONDS
  set -- $t
  LD_LIBRARY_PATH=$B/lib "$B/bin/$@" --verbose=1 > "$OUT/$1.log" 2>&1
  echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$OUT/$1.log" | tail -1)" >> "$S"
done
wait "${pids[@]}"
for t in fuzz_cache_rows fuzz_bundle fuzz_problem_file fuzz_manifest; do
  head -1 "$OUT/$t.txt" >> "$S"
done
(cd /tmp && tar czf "$OUT/corpora.tar.gz" corpus-*/ 2>/dev/null)
echo; cat "$S"
