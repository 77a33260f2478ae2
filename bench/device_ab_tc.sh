#!/usr/bin/env bash
# device_ab_tc.sh: a change to monarch_tc measured against the build before it, in one call
# on one GPU: first the new build's GPU tests of what it touches (SUITES, run_suites' form,
# ';'-separated), then for each problem both builds' searches (fftconv-tune --rigor measure
# --template monarch_tc, gated fp16, B = 64, H = 768, each into its own cache) alternating
# A, B, A, B: each build's winner's median and the ratio, and candidate by candidate (rows of
# the two searches paired) the geometric mean, least and most of A/B. Logs go to $OUT; a
# table last.
#
#   [SUITES="..."] [PROBLEMS="forward:circular:4096 backward:circular:4096 ..."]
#   bench/device_ab_tc.sh BUNDLE_A BUNDLE_B
# A problem is OP:MODE:N (causal: L = N/2).
set -uo pipefail
A=${1:?bundle A (before)}
B=${2:?bundle B (after)}
BB=$B; B=$A; . "$(dirname "$0")/device_env.sh"; B=$BB; . "$(dirname "$0")/device_env.sh"
S=$OUT/summary_ab.txt
: > "$S"
nvidia-smi --query-gpu=name --format=csv,noheader >> "$S" 2>&1
if [ -n "${SUITES:-}" ]; then
  IFS=';' read -ra SUITE_LIST <<< "$SUITES"
  run_suites "$S" 400 "${SUITE_LIST[@]}"
fi
echo "| op | mode | N | A (ms) | its winner | B (ms) | its winner | A/B |" >> "$S"
echo "|---|---|---:|---:|---|---:|---|---:|" >> "$S"
for p in ${PROBLEMS:-forward:circular:1024 forward:circular:4096 forward:causal:8192 forward:circular:16384}; do
  IFS=: read -r op mode n <<< "$p"
  L=$([ "$mode" = causal ] && echo $((n / 2)) || echo "$n")
  for side in A B; do
    dir=$([ $side = A ] && echo "$A" || echo "$B")
    LD_LIBRARY_PATH=$dir/lib timeout 150 "$dir/bin/fftconv-tune" --op "$op" --rigor measure \
      --template monarch_tc --batch 64 --heads 768 --seqlen $L --mode $mode --dtype fp16 \
      --pregate --postgate --skip-d --cache "$OUT/ab_$side.db" > "$OUT/ab_${side}_${op}_${mode}_$n.log" 2>&1
  done
  python3 - "$OUT/ab_A_${op}_${mode}_$n.log" "$OUT/ab_B_${op}_${mode}_$n.log" "$op" "$mode" "$n" >> "$S" <<'PY'
import re, sys
def best(path):
    ms = win = None
    for line in open(path, errors="replace"):
        m = re.match(r"^(?:[a-z]+:)?B\d+\.\S+\s+(\d+\.\d+) ms", line)
        if m: ms = float(m.group(1))
        m = re.match(r"^winner\s+(\{.*\})", line)
        if m: win = m.group(1)
    if win:
        f = re.search(r'"factors":\[([0-9,]+)\]', win); w = re.search(r'"warps":(\d+)', win)
        pr = re.search(r'"pairs":(\d+)', win); ld = re.search(r'"load":"(\w+)"', win)
        gr = re.search(r'"group":"(\w+)"', win); tw = re.search(r'"twiddle":"(\w+)"', win)
        win = (f"{f.group(1).replace(',', 'x') if f else '?'} w{w.group(1) if w else '?'} "
               f"p{pr.group(1) if pr else '?'} {ld.group(1) if ld else ''} "
               f"{gr.group(1) if gr else ''}{' ' + tw.group(1) if tw else ''}")
    return ms, win
# every candidate's median, keyed by its row as --table shows it and its occurrence among
# rows shown alike (a space's variants of one shape come in the same order in both builds;
# candidates a build adds at the end of its space have no partner)
def rows(path):
    out, seen = {}, {}
    for line in open(path, errors="replace"):
        m = re.match(r"^ +\d+ tc +(.*?) +(\d+) +(\d+) +ok +(\d+\.\d+) ", line)
        if not m: continue
        key = m.group(1)
        seen[key] = seen.get(key, 0) + 1
        out[(key, seen[key])] = float(m.group(4))
    return out
a, b = best(sys.argv[1]), best(sys.argv[2])
r = f"{a[0] / b[0]:.3f}" if a[0] and b[0] else "-"
print(f"| {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {a[0]} | {a[1]} | {b[0]} | {b[1]} | {r} |")
ra, rb = rows(sys.argv[1]), rows(sys.argv[2])
both = [k for k in ra if k in rb]
if both:
    import math
    q = [ra[k] / rb[k] for k in both]
    print(f"|   | candidate by candidate: {len(both)} paired, A/B geomean "
          f"{math.exp(sum(map(math.log, q)) / len(q)):.3f}, min {min(q):.3f}, max {max(q):.3f}; "
          f"{len(rb) - len(both)} only in B, {len(ra) - len(both)} only in A |")
PY
done
echo; cat "$S"
(cd "$OUT" && tar czf logs.tgz --remove-files *.log 2>/dev/null; rm -f *.db*; true)
