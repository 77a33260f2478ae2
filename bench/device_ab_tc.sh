#!/usr/bin/env bash
# device_ab_tc.sh: a change to monarch_tc measured against the build before it, in one call
# on one GPU: first the new build's GPU tests of what it touches (SUITES, run_suites' form,
# ';'-separated), then for each problem both builds' searches (fftconv-tune --rigor measure
# --template monarch_tc, gated fp16, B = 64, H = 768, each into its own cache) alternating
# A, B, A, B: each build's winner's median and the ratio. Logs go to $OUT; a table last.
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
        win = f"{f.group(1).replace(',', 'x') if f else '?'} w{w.group(1) if w else '?'} p{pr.group(1) if pr else '?'} {ld.group(1) if ld else ''}"
    return ms, win
a, b = best(sys.argv[1]), best(sys.argv[2])
r = f"{a[0] / b[0]:.3f}" if a[0] and b[0] else "-"
print(f"| {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {a[0]} | {a[1]} | {b[0]} | {b[1]} | {r} |")
PY
done
echo; cat "$S"
(cd "$OUT" && tar czf logs.tgz --remove-files *.log 2>/dev/null; rm -f *.db*; true)
