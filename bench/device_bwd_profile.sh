#!/usr/bin/env bash
# device_bwd_profile.sh: each launch's GPU time, DRAM bytes and DRAM / SM throughput (Nsight
# Compute) for the built-in choice of one problem, run through fftconv-tune --rigor estimate
# (verified on an odd shape, then timed on the full one: the largest grid of each entry is the
# full shape's). One line a launch entry, after a header naming the problem.
#
#   bench/device_bwd_profile.sh BUNDLE OP "PROBLEM FLAGS" [ENTRY_REGEX]
# OP: forward or backward; PROBLEM FLAGS: fftconv-tune's (--batch ... --seqlen ...).
# ENTRY_REGEX defaults to the op's launches (not the prepare's). Logs go to $OUT.
set -uo pipefail
B=${1:?bundle dir}
OP=${2:?op}
FLAGS=${3:?problem flags}
. "$(dirname "$0")/device_env.sh"
RE=${4:-$([ "$OP" = backward ] && echo 'regex:fftconv_b' || echo 'regex:fftconv_(fwd|cols|rows)')}
tag=$(printf %s "$OP $FLAGS" | tr -c 'a-z0-9' _ | cut -c1-80)
csv=$OUT/ncu_$tag.csv
LD_LIBRARY_PATH=$B/lib timeout ${PROFILE_TIMEOUT:-240} ncu --kernel-name "$RE" --launch-count 40 --csv \
  --metrics gpu__time_duration.sum,dram__bytes.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed,sm__throughput.avg.pct_of_peak_sustained_elapsed \
  "$B/bin/fftconv-tune" --cache "$OUT/profile.db" --op "$OP" --rigor estimate --runs 20 --warmup 1 --quiet \
  $FLAGS > "$csv" 2> "$OUT/ncu_$tag.err"
echo "== $OP $FLAGS (rc=$?)"
python3 - "$csv" <<'PY'
import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
if not rows: print("no ncu rows"); sys.exit()
h = rows[0]; ix = {k: h.index(k) for k in ("ID", "Kernel Name", "Grid Size", "Metric Name", "Metric Value")}
by = {}
for r in rows[1:]:
    k = (r[ix["ID"]], r[ix["Kernel Name"]].split("(")[0], r[ix["Grid Size"]])
    by.setdefault(k, {})[r[ix["Metric Name"]]] = r[ix["Metric Value"]]
best = {}
for (i, name, grid), m in by.items():
    g = 1
    for x in grid.strip("()").split(","): g *= int(x)
    if name not in best or g > best[name][0]: best[name] = (g, grid, m)
tot = 0.0
for name, (g, grid, m) in best.items():
    t = float(m["gpu__time_duration.sum"].replace(",", "")) / 1e6
    tot += t
    print(f"{name:22s} grid {grid:18s} {t:9.3f} ms  dram {float(m['dram__bytes.sum'].replace(',', ''))/1e9:8.3f} GB"
          f"  dram {m['dram__throughput.avg.pct_of_peak_sustained_elapsed']:>6s}%  sm {m['sm__throughput.avg.pct_of_peak_sustained_elapsed']:>6s}%")
print(f"{'total':22s} {'':23s} {tot:9.3f} ms")
PY
