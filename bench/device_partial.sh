#!/usr/bin/env bash
# device_partial.sh: partial convolutions by overlap-save (issue 21) on a lent GPU machine, in
# one call: overlap_tc's GPU tests (every candidate at K = 1 to 4099 against fp64, the sanitizer
# cases, a problem past 2^31 elements, the long family's partial-filter problems), a search of
# one shape with its table (EXPLORE=1: which segment size and block shape win), then
# bench/bench_partial.py, tuning each shape first (fftconv-tune, overlap_tc, RIGOR=sample by
# default), against the dense FFT of the same problem and FlashFFTConv's PartialFFTConv (its
# sparse_conv.py from .ffc, ../shared/tools/ffc-kit .ffc; FFC=0 leaves it out). Logs go to
# $OUT; a summary is printed last.
#
#   [TESTS=0] [SUITES="suite;suite"] [EXPLORE=1] [BENCH=0] [FFC=0] [RIGOR=sample] [DB=cache.db]
#   [TUNE=0 (fp16: time DB's winners)] [DTYPES=fp16,bf16] [TAPS=1024,4096,16384]
#   [LENGTHS=65536,1048576,2300000,16777216] [BF16_TAPS=...] [BF16_LENGTHS=...]
#   bench/device_partial.sh BUNDLE
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
S=$OUT/summary_partial.txt
: > "$S"
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader >> "$S" 2>&1
if [ -n "${SUITES:-}" ]; then # SUITES="a b": only these suites (run_suites' form, ';'-separated)
  IFS=';' read -ra SUITE_LIST <<< "$SUITES"
  run_suites "$S" 300 "${SUITE_LIST[@]}"
elif [ "${TESTS:-1}" = 1 ]; then
  run_suites "$S" 300 "test_gpu_forward --filter gpu_candidates_overlap/taps_1*" \
    "test_gpu_forward --filter gpu_candidates_overlap/taps_4099" \
    "test_gpu_long --filter gpu_long/past_2_31*" "test_gpu_long --filter gpu_long/odd_lengths*" \
    "test_gpu_sanitize --filter gpu_sanitize/overlap*"
fi
[ -n "${DB:-}" ] && cp "$DB" "$OUT/partial.db" # a cache tuned before: TUNE=0 times it as it is
export FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so
[ "${TESTS:-1}" = 1 ] && { FFTCONV_CACHE=$OUT/pytest.db LD_LIBRARY_PATH=$B/lib timeout 300 \
  python3 -m pytest -q -p no:cacheprovider python/tests/test_gpu.py -k "sparse_modules" \
  > "$OUT/pytest_partial.log" 2>&1; echo "pytest sparse_modules rc=$?: $(tail -1 "$OUT/pytest_partial.log")" >> "$S"; }
if [ "${EXPLORE:-0}" = 1 ]; then # every candidate of one shape, timed: what wins and by how much
  for K in 1024 16384; do
    LD_LIBRARY_PATH=$B/lib timeout 200 "$B/bin/fftconv-tune" --op forward --batch 1 --heads 128 \
      --seqlen 1048576 --filter-len $K --pregate --postgate --template overlap_tc \
      --rigor exhaustive --runs 20 --table --cache "$OUT/explore.db" > "$OUT/explore_$K.txt" 2>&1
    echo "explore K=$K rc=$? (fastest five; the winner's line and floor below)" >> "$S"
    python3 - "$OUT/explore_$K.txt" >> "$S" <<'PY'
import re, sys
rows = []
for line in open(sys.argv[1]):
    if re.match(r"^ +\d+ overlap", line):
        t = re.findall(r" (\d+\.\d+) ", line)
        if t: rows.append((float(t[0]), line.rstrip()))
for _, line in sorted(rows)[:5]: print(line)
PY
    grep -iE "winner|floor|GB/s" "$OUT/explore_$K.txt" | tail -3 >> "$S"
  done
fi
[ "${BENCH:-1}" = 1 ] || { (cd "$OUT" && tar czf logs.tgz --remove-files *.log 2>/dev/null); echo; cat "$S"; exit 0; }
# FlashFFTConv's PartialFFTConv is PyTorch alone (sparse_conv.py): read from its source tree,
# no build of its CUDA extension needed
[ "${FFC:-1}" = 1 ] && [ -d .ffc ] && WITH_FFC="--flashfftconv-src .ffc"
for DT in $(echo "${DTYPES:-fp16,bf16}" | tr , ' '); do
  TUNE_ARG="--tune $B/bin/fftconv-tune"; [ "${TUNE:-1}" = 1 ] || TUNE_ARG=
  [ "$DT" = bf16 ] && [ -n "${BF16_LENGTHS:-}" ] && LENGTHS=$BF16_LENGTHS
  [ "$DT" = bf16 ] && [ -n "${BF16_TAPS:-}" ] && TAPS=$BF16_TAPS
  [ "$DT" = bf16 ] && TUNE_ARG="--tune $B/bin/fftconv-tune"
  LD_LIBRARY_PATH=$B/lib timeout 500 python3 bench/bench_partial.py --cache "$OUT/partial.db" \
    $TUNE_ARG --rigor "${RIGOR:-sample}" --dtype "$DT" --taps "${TAPS:-1024,4096,16384}" \
    --lengths "${LENGTHS:-65536,1048576,2300000,16777216}" ${WITH_FFC:-} \
    > "$OUT/bench_partial_$DT.txt" 2> "$OUT/bench_partial_$DT.err"
  echo "bench_partial $DT rc=$?" >> "$S"; grep -v "^K=" "$OUT/bench_partial_$DT.err" | tail -3 >> "$S"
done
(cd "$OUT" && tar czf logs.tgz --remove-files *.log 2>/dev/null)
echo; cat "$S"; cat "$OUT"/bench_partial_*.txt 2>/dev/null | grep -E '^\||^device'
exit 0
