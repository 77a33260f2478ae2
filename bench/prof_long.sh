#!/usr/bin/env bash
# prof_long.sh: a long family's measured space (FAMILY, default monarch_long; "all" for every
# family) for long problems (fp16, MODES default circular, the long set's shapes), best TOP
# (4) of each, on one GPU. Logs go to $OUT.
#   bench/prof_long.sh BUNDLE [SIZES...]   SIZES as "65536:768" (seqlen:heads), default 64K, 1M, 4M
set -uo pipefail
B=${1:?bundle}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(65536:768 1048576:48 4194304:16)
fam="--template ${FAMILY:-monarch_long}"; [ "${FAMILY:-}" = all ] && fam=
for s in "${sizes[@]}"; do
  l=${s%%:*} h=${s##*:}
  for mode in ${MODES:-circular}; do
    "$B/bin/fftconv-tune" --seqlen $l --heads $h --batch 8 --dtype fp16 --mode $mode --pregate \
      --postgate $fam --table --cache /tmp/prof.db > "$OUT/tune-$l-$mode.log" 2>&1
    grep -a "of floor" "$OUT/tune-$l-$mode.log"
    # the fastest first: the median is the field after the status
    grep -a " ok " "$OUT/tune-$l-$mode.log" | awk '{ for (i = 1; i <= NF; i++) if ($i == "ok")
      print $(i + 1), $0 }' | sort -g | head -"${TOP:-4}" | cut -c1-160
  done
done
