#!/usr/bin/env bash
# device_bwd_bench.sh: the backward's side-by-side benchmark on a lent GPU machine, in one
# call: FlashFFTConv built from .ffc (../shared/tools/ffc-kit .ffc) in the background while
# the GPU suites TESTS run (bench/device_issue19.sh), then bench/bench_torch.py --backward
# (fftconv's forward + backward against FlashFFTConv's and fp32 PyTorch autograd) over SIZES.
#
#   [TESTS="..."] [SIZES=1024,4096,16384] [DTYPE=fp16] [FFC=0] bench/device_bwd_bench.sh BUNDLE
# FFC=0 leaves FlashFFTConv out (its build takes about 4 minutes of the call).
# BUNDLE holds bin/libfftconv.so beside the test binaries (and lib/ with what it links).
set -uo pipefail
B=${1:?bundle dir}
[ "${FFC:-1}" = 1 ] && [ -d .ffc ] && bash .ffc/build.sh --background > /dev/null 2>&1
bash "$(dirname "$0")/device_issue19.sh" "$B"
OUT=${OUT:-$PWD/device-out}
if [ "${FFC:-1}" = 1 ] && [ -d .ffc ]; then
  bash .ffc/build.sh --wait > "$OUT/ffc-build.txt" 2>&1 || tail -5 "$OUT/ffc-build.txt"
  WITH_FFC="--flashfftconv"; export PYTHONPATH=$(bash .ffc/build.sh --path):${PYTHONPATH:-}
fi
LD_LIBRARY_PATH=$B/lib timeout 300 python3 bench/bench_torch.py --lib "$B/bin/libfftconv.so" \
  --cache "$OUT/cache.db" --backward --sizes "${SIZES:-1024,4096,16384}" --dtype "${DTYPE:-fp16}" \
  --runs 20 ${WITH_FFC:-} > "$OUT/bench_backward.txt" 2> "$OUT/bench_backward.err"
echo "bench rc=$?"; tail -3 "$OUT/bench_backward.err"
grep -E '^\||^device|^copy|geometric' "$OUT/bench_backward.txt"
exit 0
