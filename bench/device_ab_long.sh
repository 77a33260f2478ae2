#!/usr/bin/env bash
# device_ab_long.sh: a change to monarch_long measured against the build before it, in one
# call on one GPU: for each problem, both builds' built-in choices (fftconv-tune --template
# monarch_long --rigor estimate --runs 20, gated fp16, B = 8, each into a fresh cache; the
# tuner verifies the kernel against fp64 first), alternating A, B, A, B: the medians, each
# pass timed alone, and the ratio. Every log line carries the seconds since its run began
# (the tuner's start-up, about 40 s a run at 400 M elements, is not yet explained: NOTES 38).
# Logs go to $OUT; a table last.
#
#   [PROBLEMS="768:65536:circular 48:1048576:circular ..."] [ROUNDS=2]
#   bench/device_ab_long.sh BUNDLE_A BUNDLE_B
# A problem is HEADS:N:MODE (causal: L = N/2). A bundle is device-bundle's, as b.tar.xz or
# unpacked; each gets its own directory.
set -uo pipefail
A=$(cd "${1:?bundle A (before)}" && pwd)
BB=$(cd "${2:?bundle B (after)}" && pwd)
B=$A; . "$(dirname "$0")/device_env.sh"; B=$BB; . "$(dirname "$0")/device_env.sh"
S=$OUT/summary_ab_long.txt
: > "$S"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$S" 2>&1
run() { # run LABEL BUNDLE HEADS N MODE ROUND: one search, its median into $OUT/med_*
  local tag=$1_$4_$5_$6 t1=$SECONDS
  local L=$4; [ "$5" = causal ] && L=$(( $4 / 2 ))
  rm -f "/tmp/ab_long_$tag.db"
  LD_LIBRARY_PATH=$2/lib timeout 150 stdbuf -oL "$2/bin/fftconv-tune" --template monarch_long \
    --rigor estimate --runs 20 --table --batch 8 --heads "$3" --seqlen "$L" --dtype fp16 \
    --pregate --postgate --mode "$5" --op forward --cache "/tmp/ab_long_$tag.db" 2>&1 |
    while IFS= read -r l; do printf '%4d %s\n' $((SECONDS - t1)) "$l"; done > "$OUT/tune_$tag.txt"
  grep -a -E '^ +[0-9]+ +[0-9]+ long ' "$OUT/tune_$tag.txt" | tail -1 | awk '{print $12}' \
    > "$OUT/med_$tag"
  {
    printf '%s N=%s %s round %s: %s ms, %s s\n' "$1" "$4" "$5" "$6" "$(cat "$OUT/med_$tag")" \
      $((SECONDS - t1))
    grep -a -E '^ +[0-9]+ pass' "$OUT/tune_$tag.txt" | awk '{print "   ", $3, $4, "ms"}'
  } >> "$S"
}
for r in $(seq 1 "${ROUNDS:-2}"); do
  for p in ${PROBLEMS:-768:65536:circular 48:1048576:circular 16:4194304:circular}; do
    IFS=: read -r h n m <<< "$p"
    run A "$A" "$h" "$n" "$m" "$r"
    run B "$BB" "$h" "$n" "$m" "$r"
  done
done
echo "| N | mode | A ms | B ms | A/B |" >> "$S"
echo "|---:|---|---:|---:|---:|" >> "$S"
for p in ${PROBLEMS:-768:65536:circular 48:1048576:circular 16:4194304:circular}; do
  IFS=: read -r h n m <<< "$p"
  a=$(cat "$OUT"/med_A_"${n}"_"${m}"_* 2>/dev/null | sort -g | head -1)
  b=$(cat "$OUT"/med_B_"${n}"_"${m}"_* 2>/dev/null | sort -g | head -1)
  awk -v n="$n" -v m="$m" -v a="$a" -v b="$b" \
    'BEGIN { printf "| %s | %s | %s | %s | %s |\n", n, m, a, b, (a > 0 && b > 0) ? sprintf("%.3fx", a / b) : "?" }' >> "$S"
done
cat "$S"
