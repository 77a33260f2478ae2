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
