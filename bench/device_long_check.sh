#!/usr/bin/env bash
# device_long_check.sh: the long family's GPU checks in one device call (bench/NOTES.md 37 left
# them to run): compute-sanitizer's four tools on every monarch_long case, the candidate grid
# at 64K in both modes, the long sizes and odd lengths, the per-launch forward, the backward's
# candidates; then, when .ffc is carried, bench_torch.py beside FlashFFTConv at the long sizes
# with the built-in choices (fp16). FlashFFTConv builds in the background meanwhile.
#
#   B=.bundle bash bench/device_long_check.sh      (carry the bundle, and .ffc for the bench)
#
# The bundle is ../shared/tools/device-bundle's, packed as b.tar.xz or unpacked. A summary line
# per suite is printed last; logs in $OUT.
set -uo pipefail
B=$(cd "${B:?the bundle directory}" && pwd)
. bench/device_env.sh
S=$OUT/summary.txt; : > "$S"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$S"
[ -f .ffc/build.sh ] && bash .ffc/build.sh --background > "$OUT/ffc-build.txt" 2>&1
for c in long_fp16 long_half_ws long_fp32 bwd_long_smallest bwd_long_causal bwd_long_fp32; do
  run_suites "$S" 90 "test_gpu_sanitize --filter gpu_sanitize/$c"
done
run_suites "$S" 240 "test_gpu_long --filter gpu_long_candidates/n64k_circular" \
  "test_gpu_long --filter gpu_long_candidates/n64k_causal"
run_suites "$S" 240 "test_gpu_long --filter gpu_long/n256k" "test_gpu_long --filter gpu_long/n1m" \
  "test_gpu_long --filter gpu_long/odd_lengths*" "test_gpu_long --filter gpu_long/forward_launches*" \
  "test_gpu_backward --filter gpu_backward/long_candidates_verify"
if [ -f .ffc/build.sh ]; then
  bash .ffc/build.sh --wait >> "$OUT/ffc-build.txt" 2>&1; tail -1 "$OUT/ffc-build.txt" >> "$S"
  PYTHONPATH=$(bash .ffc/build.sh --path):$PWD/python:${PYTHONPATH:-} LD_LIBRARY_PATH=$B/lib \
    python3 bench/bench_torch.py --lib "$B/bin/libfftconv.so" --cache /tmp/long_check_none.db \
    --policy fallback --sizes "${SIZES:-65536,262144,1048576,4194304}" --dtype fp16 --runs 5 \
    --no-torch-fft --flashfftconv > "$OUT/bench.md" 2> "$OUT/bench.err"
  echo "bench_torch rc=$?" >> "$S"
fi
cat "$S"
[ -f "$OUT/bench.md" ] && grep -a "^|\|copy" "$OUT/bench.md"
