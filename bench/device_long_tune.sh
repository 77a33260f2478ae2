#!/usr/bin/env bash
# device_long_tune.sh: first call of the long benchmark on the lent 2-GPU machine: starts the
# FlashFFTConv build (.ffc from ../shared/tools/ffc-kit) in the background, tunes the long set
# from empty caches, fp16 on the first GPU and bf16 on the second (16 cores each), merges the
# two caches into $OUT/long.db and prints each half's time. The second call is
# bench/device_long_bench.sh.
#   bench/device_long_tune.sh BUNDLE
set -uo pipefail
B=${1:?bundle}
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
[ -d .ffc ] && bash .ffc/build.sh --background
T=$B/bin/fftconv-tune
$T --list-set long | grep -- '--dtype fp16' > /tmp/long-fp16.txt
$T --list-set long | grep -- '--dtype bf16' > /tmp/long-bf16.txt
half() { # gpu dtype cores
  local t0=$SECONDS
  CUDA_VISIBLE_DEVICES=$1 taskset -c "$3" "$T" --problems /tmp/long-$2.txt --cache /tmp/long-$2.db \
    --json > "$OUT/tune-$2.json" 2> "$OUT/tune-$2.err"
  echo "tune $2 (14 problems, GPU $1, cores $3): rc=$? $(( SECONDS - t0 )) s" >> "$OUT/tune.txt"
}
: > "$OUT/tune.txt"
half 0 fp16 0-15 &
half 1 bf16 16-31 &
wait
rm -f /tmp/long.db; cp /tmp/long-fp16.db /tmp/long.db
"$B/bin/fftconv-cache" merge /tmp/long-bf16.db --cache /tmp/long.db >> "$OUT/tune.txt" 2>&1
cp /tmp/long.db "$OUT/long.db"
"$B/bin/fftconv-cache" list --cache /tmp/long.db > "$OUT/list.txt" 2>&1
grep -a "of floor" "$OUT"/tune-*.err | cut -c1-120 >> "$OUT/tune.txt"
cat "$OUT/tune.txt"
