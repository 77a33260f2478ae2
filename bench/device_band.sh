#!/usr/bin/env bash
# device_band.sh: monarch_tc's banded row pass (frequency-sparse filters, issue 21) on a lent
# GPU machine, in one call: its GPU tests (every banded candidate of four problems against
# fp64, the two sanitizer cases), then for each N the tuner's table of one problem with a
# low-pass mask (F = N/8, a quarter of the bins kept; gated fp16, B = 64, H = 768), dense and
# banded candidates timed side by side on the same shape: the fastest of each and their ratio;
# with FREQ=1, bench/bench_freq.py (fft_conv with the mask against the dense call and
# FlashFFTConv's FrequencySparseFFTConv from .ffc's sparse_conv.py, tuning each shape first).
# Logs go to $OUT; a summary is printed last.
#
#   [TESTS=0] [SIZES="4096 8192 16384 32768"] [MODES="circular causal"] [RIGOR=measure]
#   [FREQ=1 [FREQ_LENGTHS=4096,16384] [FREQ_MODES=causal,circular]]
#   bench/device_band.sh BUNDLE
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary_band.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
[ "${TESTS:-1}" = 1 ] && run_suites "$S" 300 "test_gpu_forward --filter gpu_candidates_band/*" \
  "test_gpu_sanitize --filter gpu_sanitize/band*"
echo "| N | mode | F | dense best (ms) | its params | band best (ms) | its params | dense/band |" >> "$S"
echo "|---:|---|---:|---:|---|---:|---|---:|" >> "$S"
for n in ${SIZES:-4096 8192 16384 32768}; do
  for mode in ${MODES:-circular causal}; do
    L=$([ "$mode" = causal ] && echo $((n / 2)) || echo "$n")
    F=$((n / 8))
    log=$OUT/band_${mode}_$n.txt
    LD_LIBRARY_PATH=$B/lib timeout 200 "$B/bin/fftconv-tune" --op forward --rigor "${RIGOR:-measure}" \
      --template monarch_tc --batch 64 --heads 768 --seqlen $L --freq-keep $F --mode $mode \
      --dtype fp16 --pregate --postgate --table --screen 0 --cache "$OUT/band.db" > "$log" 2>&1
    python3 - "$log" $n $mode $F >> "$S" <<'PY'
import re, sys
path, n, mode, f = sys.argv[1:]
best = {}
for line in open(path):
    m = re.match(r"^ +\d+ tc +(\S+) +(.*?) +\d+ +\d+ +ok +(\d+\.\d+)", line)
    if not m: continue
    kind = "band" if "band=" in m.group(2) else "dense"
    t = float(m.group(3))
    if kind not in best or t < best[kind][0]: best[kind] = (t, m.group(1) + " " + m.group(2))
d, b = best.get("dense"), best.get("band")
fmt = lambda x: f"{x[0]:.4f} | {x[1]}" if x else "- | -"
ratio = f"{d[0] / b[0]:.2f}x" if d and b else "-"
print(f"| {n} | {mode} | {f} | {fmt(d)} | {fmt(b)} | {ratio} |")
PY
  done
done
if [ "${FREQ:-0}" = 1 ]; then # end to end through PyTorch, beside FlashFFTConv's example
  [ -d .ffc ] && WITH_FFC="--flashfftconv-src .ffc"
  FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so LD_LIBRARY_PATH=$B/lib timeout 400 python3 \
    bench/bench_freq.py --cache "$OUT/freq.db" --tune "$B/bin/fftconv-tune" --template monarch_tc \
    --lengths "${FREQ_LENGTHS:-4096,16384}" --modes "${FREQ_MODES:-causal,circular}" ${WITH_FFC:-} \
    > "$OUT/freq.md" 2> "$OUT/freq.log"
  echo "bench_freq rc=$?" >> "$S"; cat "$OUT/freq.md" >> "$S"
fi
echo; cat "$S"
(cd "$OUT" && tar czf logs.tgz --remove-files band_*.txt *.log 2>/dev/null; true)
