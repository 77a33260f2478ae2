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
  local C=$B/bin/fftconv-cache
  ls -l /tmp/dc.db* >> "$OUT/tune.time"
  # The cache commands on the real file: resume (nothing new), list, show --source, merge, prune.
  t0=$SECONDS
  CUDA_VISIBLE_DEVICES=0 taskset -c "$cores_tune" "$B/bin/fftconv-tune" --cache /tmp/dc.db --json \
    --quiet > "$OUT/resume.json" 2> "$OUT/resume.err"
  echo "resume rc=$? $(( SECONDS - t0 )) s, new measurements: $(grep -o '"measured":[0-9]*' \
    "$OUT/resume.json" | awk -F: '{ s += $2 } END { print s }')" >> "$OUT/tune.time"
  {
    "$C" list --cache /tmp/dc.db; echo "list rc=$?"
    id=$("$C" list --cache /tmp/dc.db | awk '$1 ~ /^B64/ { print $2; exit }')
    "$C" show "$id" --cache /tmp/dc.db --source | head -12; echo "show --source rc=${PIPESTATUS[0]}"
    cp /tmp/dc.db /tmp/other.db; rm -f /tmp/empty.db
    "$C" merge /tmp/other.db --cache /tmp/empty.db; echo "merge into a new file rc=$?"
    "$C" list --cache /tmp/empty.db | tail -1
    "$C" prune --dry-run --cache /tmp/dc.db; echo "prune --dry-run rc=$?"
    "$C" prune --cache /tmp/dc.db; echo "prune rc=$?"
  } > "$OUT/cachecmds.log" 2>&1
  grep -a "rc=\|winners" "$OUT/cachecmds.log" | tr '\n' ';' >> "$OUT/tune.time"; echo >> "$OUT/tune.time"
  ls -l /tmp/dc.db* /tmp/empty.db >> "$OUT/tune.time"
}
checks() {
  export CUDA_VISIBLE_DEVICES=$second
  local t0=$SECONDS
  local pre=; [ -e "$B/lib/libsegv.so" ] && pre=$B/lib/libsegv.so  # a crash tracer, when bundled
  LD_PRELOAD=$pre compute-sanitizer --tool racecheck "$B/bin/fftconv-tune" --seqlen 256 --batch 1 --heads 2 \
    --dtype fp16 --mode circular --template monarch_tc --rigor estimate --cache /tmp/r.db \
    > "$OUT/racecheck.log" 2>&1
  echo "racecheck repro rc=$? $(( SECONDS - t0 )) s: $(grep -a 'SUMMARY' "$OUT/racecheck.log")" > "$OUT/checks.txt"
  if [ -n "${BASE:-}" ]; then  # the same with an earlier build, for comparison
    LD_LIBRARY_PATH=$BASE/lib LD_PRELOAD=$pre compute-sanitizer --tool racecheck "$BASE/bin/fftconv-tune" \
      --seqlen 256 --batch 1 --heads 2 --dtype fp16 --mode circular --template monarch_tc \
      --rigor estimate --cache /tmp/rb.db > "$OUT/racecheck_base.log" 2>&1
    echo "racecheck repro, $BASE: rc=$? $(grep -a 'SUMMARY' "$OUT/racecheck_base.log")" >> "$OUT/checks.txt"
    # The same default kernels timed by both builds on this GPU (what the kernel change costs).
    for prob in "--mode circular --seqlen 32768" "--mode causal --seqlen 8192" "--mode circular --seqlen 1024"; do
      for b in "$BASE" "$B"; do
        LD_LIBRARY_PATH=$b/lib "$b/bin/fftconv-tune" $prob --batch 64 --heads 768 --dtype fp16 \
          --pregate --postgate --template monarch_tc --rigor estimate --runs 50 --cache /tmp/k$RANDOM.db \
          2>/dev/null | grep -a "^B64" | awk -v b="$b" '{ print "estimate", b, $1, $2, "ms" }' >> "$OUT/checks.txt"
      done
    done
  fi
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
