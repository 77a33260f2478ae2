# device_env.sh: what the device scripts share, sourced with the bundle directory in $B: the
# bundle unpacked (b.tar.xz, with Python: the machine has no xz), $OUT made, and the tools the
# GPU tests run found in the bundle. Logs go to $OUT (or ./device-out).
if [ -f "$B/b.tar.xz" ] && [ ! -d "$B/bin" ]; then
  (cd "$B" && python3 -c "import tarfile; tarfile.open('b.tar.xz').extractall('.')")
fi
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_CACHE_BIN=$B/bin/fftconv-cache
export FFTCONV_PLAN_CHILD=$B/bin/plan-child FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_RT_FORWARD=$B/bin/rt-forward FFTCONV_INCLUDE=$PWD/src/runtime

# run_suites SUMMARY SECONDS SUITE...: each SUITE ("binary [args]", e.g. "test_gpu_forward
# --filter gpu_forward/*") from the bundle's bin/ with --verbose=1 and a time limit, its log
# in $OUT, a line in SUMMARY with its exit status, seconds and Criterion's synthesis, and its
# first failure lines.
run_suites() {
  local summary=$1 limit=$2 t t0 log
  shift 2
  for t in "$@"; do
    t0=$SECONDS
    set -f; set -- $t; set +f
    [ -x "$B/bin/$1" ] || { echo "$t: not in the bundle" >> "$summary"; continue; }
    log=$OUT/$1${3:+_$(printf %s "$3" | tr -c 'a-z' _)}.log
    LD_LIBRARY_PATH=$B/lib timeout "$limit" "$B/bin/$@" --verbose=1 > "$log" 2>&1
    echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$log" | tail -1)" >> "$summary"
    grep -a -E 'FAIL|assert|error' "$log" | head -5 >> "$summary"
  done
}
