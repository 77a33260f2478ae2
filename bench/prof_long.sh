#!/usr/bin/env bash
# prof_long.sh: the long family's measured space for three long problems (fp16, circular, the
# long set's shapes), best four of each, on one GPU. Logs go to $OUT.
#   bench/prof_long.sh BUNDLE [SIZES...]   SIZES as "65536:768" (seqlen:heads), default 64K, 1M, 4M
set -uo pipefail
B=${1:?bundle}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(65536:768 1048576:48 4194304:16)
for s in "${sizes[@]}"; do
  l=${s%%:*} h=${s##*:}
  for mode in ${MODES:-circular}; do
    "$B/bin/fftconv-tune" --seqlen $l --heads $h --batch 8 --dtype fp16 --mode $mode --pregate \
      --postgate --template monarch_long --table --cache /tmp/prof.db > "$OUT/tune-$l-$mode.log" 2>&1
    grep -a "of floor" "$OUT/tune-$l-$mode.log"
    grep -a " ok " "$OUT/tune-$l-$mode.log" | sort -k10 -n | head -${TOP:-4} | cut -c1-150
  done
done
