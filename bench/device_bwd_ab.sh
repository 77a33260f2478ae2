#!/usr/bin/env bash
# device_bwd_ab.sh: an A/B of two builds' backward kernels on a lent GPU machine, in one call:
# for each problem, fftconv-tune --op backward --rigor measure with the bundle's binary (B) and
# with a second one built from the commit before the change (A), each into its own cache, the
# three fastest of each side; then Nsight Compute's full set for B's built-in choice of each
# problem in PROFILE_FLAGS (one a line; default: the first problem), the full shape's launch.
#
#   [TEMPLATE=monarch_tc] [PROFILE=0] [PROFILE_FLAGS=$'..\n..'] \
#     bench/device_bwd_ab.sh BUNDLE A_TUNE ["PROBLEM FLAGS"...]
# A_TUNE: the other fftconv-tune (same libraries as the bundle's). Logs go to $OUT.
set -uo pipefail
B=${1:?bundle dir}
A=${2:?the other fftconv-tune}
shift 2
FIRST=${1:-}
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary_ab.txt
: > "$S"
i=0
for flags in "$@"; do
  i=$((i + 1))
  for side in A B; do
    bin=$([ $side = A ] && echo "$A" || echo "$B/bin/fftconv-tune")
    t0=$SECONDS
    LD_LIBRARY_PATH=$B/lib timeout 240 "$bin" --cache "$OUT/ab_$side.db" --op backward \
      --rigor measure --template "${TEMPLATE:-monarch_tc}" --runs 20 --table --quiet $flags \
      > "$OUT/ab_${i}_$side.txt" 2>&1
    echo "[$side] $flags rc=$? $(( SECONDS - t0 )) s" >> "$S"
    # the three fastest timed rows (median is the sixth column from the end)
    python3 - "$OUT/ab_${i}_$side.txt" >> "$S" <<'PY'
import sys
rows = []
for line in open(sys.argv[1]):
    t = line.split()
    if len(t) > 8 and t[0].isdigit():
        try: rows.append((float(t[-6]), line.rstrip()))
        except ValueError: pass
for _, line in sorted(rows)[:3]: print(line)
PY
  done
done
# the profile: the full shape's launch (the first is the verification's odd shape), every
# section, then its details, raw metrics (the stall reasons) and the SASS with its samples
if [ "${PROFILE:-1}" = 1 ]; then
  j=0
  while IFS= read -r flags; do
    [ -n "$flags" ] || continue
    j=$((j + 1))
    LD_LIBRARY_PATH=$B/lib timeout 200 ncu --kernel-name regex:fftconv_bwd --launch-skip 1 \
      --launch-count 1 --set full -o "$OUT/prof_$j" "$B/bin/fftconv-tune" \
      --cache "$OUT/profile.db" --template "${TEMPLATE:-monarch_tc}" --op backward \
      --rigor estimate --runs 20 --warmup 1 --quiet $flags > "$OUT/ncu_$j.log" 2>&1
    echo "ncu [$flags] rc=$?" >> "$S"
    ncu --import "$OUT/prof_$j.ncu-rep" --page details > "$OUT/prof_${j}_details.txt" 2>&1
    ncu --import "$OUT/prof_$j.ncu-rep" --page raw --csv > "$OUT/prof_${j}_raw.csv" 2>&1
    ncu --import "$OUT/prof_$j.ncu-rep" --page source --csv --print-source sass \
      > "$OUT/prof_${j}_sass.csv" 2>&1
    grep -E 'Duration|Registers Per|Achieved Occ|Throughput' "$OUT/prof_${j}_details.txt" \
      | head -12 >> "$S"
  done <<< "${PROFILE_FLAGS:-$FIRST}"
fi
echo; cat "$S"
exit 0
