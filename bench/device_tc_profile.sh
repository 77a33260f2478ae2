#!/usr/bin/env bash
# device_tc_profile.sh: Nsight Compute's full view of the tuned forward kernel of monarch_tc
# (and overlap_tc) on the issue-22 shapes: each problem is tuned alone first (fftconv-tune
# --op forward --rigor measure --template T, its own cache), then fftconv.fft_conv runs it
# from that cache under `ncu --set full` (the third launch of fftconv_fwd profiled). Per
# problem, $OUT gets the details page, the raw metrics (stall reasons among them) and the
# SASS with its per-instruction samples; a summary of each is printed last.
#
#   [PROBLEMS="circular:1024 ..."] [PYTEST=0] [TAR=0] bench/device_tc_profile.sh BUNDLE
# A problem is MODE:N[:K[:TEMPLATE[:F]]] (causal: L = N/2, or L = N with K set; F: freq_keep);
# gated fp16,
# B = 64, H = 768 up to 32K, B*H*L = 2^27 above.
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
export FFTCONV_LIB=$(cd "$B" && pwd)/bin/libfftconv.so
S=$OUT/profile.txt
: > "$S"
drv=$OUT/drv.py
cat > "$drv" <<'PY'
import sys, torch, fftconv
mode, L, K, B, H, F = sys.argv[1], *map(int, sys.argv[2:7])
g = torch.Generator(device="cuda").manual_seed(1)
mk = lambda: torch.randn(B, H, L, device="cuda", generator=g).half()
u, pre, post = mk(), mk(), mk()
k = torch.randn(H, K, device="cuda", generator=g) / K
for _ in range(4):
    y = fftconv.fft_conv(u, k, pre, post, causal=(mode == "causal"), freq_keep=F or None)
torch.cuda.synchronize()
print("y", tuple(y.shape), float(y.float().abs().mean()))
PY
for p in ${PROBLEMS:-circular:1024 circular:4096 circular:32768 causal:8192}; do
  IFS=: read -r mode n k tpl F <<< "$p"
  F=${F:-0}
  tpl=${tpl:-monarch_tc}
  if [ -n "$k" ]; then L=$n; else k=; L=$([ "$mode" = causal ] && echo $((n / 2)) || echo "$n"); fi
  K=${k:-$L}
  if [ "$L" -le 32768 ]; then b=64 h=768; else h=768; b=$(( (1 << 27) / (h * L) )); [ $b -ge 1 ] || { b=1; h=$(( (1 << 27) / L )); }; fi
  tag=${mode}_${n}_${K}_${tpl}_$F
  db=$OUT/$tag.db
  t0=$SECONDS
  LD_LIBRARY_PATH=$B/lib timeout 120 "$B/bin/fftconv-tune" --op forward --rigor measure \
    --template "$tpl" --batch $b --heads $h --seqlen $L --filter-len $K --dtype fp16 \
    --mode "$mode" --freq-keep $F --pregate --postgate --cache "$db" > "$OUT/tune_$tag.log" 2>&1
  echo "== $tag: B=$b H=$h L=$L K=$K, tune rc=$? $((SECONDS - t0)) s" >> "$S"
  grep -a -E "^B[0-9]+|winner|best" "$OUT/tune_$tag.log" | head -4 >> "$S"
  t0=$SECONDS
  FFTCONV_CACHE=$db LD_LIBRARY_PATH=$B/lib timeout 120 ncu --set full --kernel-name fftconv_fwd \
    --launch-skip 2 --launch-count 1 -f -o "$OUT/rep_$tag" python3 "$drv" "$mode" $L $K $b $h $F \
    > "$OUT/ncu_$tag.log" 2>&1
  echo "ncu rc=$? $((SECONDS - t0)) s" >> "$S"
  rep=$OUT/rep_$tag.ncu-rep
  [ -f "$rep" ] || { tail -5 "$OUT/ncu_$tag.log" >> "$S"; continue; }
  ncu -i "$rep" --page details > "$OUT/details_$tag.txt" 2>&1
  ncu -i "$rep" --page raw --csv > "$OUT/raw_$tag.csv" 2>&1
  ncu -i "$rep" --page source --print-source sass --csv > "$OUT/sass_$tag.csv" 2>&1
  grep -a -E "Duration|DRAM Throughput|Memory Throughput|Compute \(SM\) Throughput|Issue Slots Busy|Achieved Occupancy|Theoretical Occupancy|Registers Per Thread|Dynamic Shared Memory Per Block|Block Size|Grid Size|Warp Cycles Per Issued|L1/TEX Hit|L2 Hit Rate|Bank Conflicts|Executed Ipc Active|No Eligible" \
    "$OUT/details_$tag.txt" | sed 's/  */ /g' | head -24 >> "$S"
  python3 - "$OUT/raw_$tag.csv" >> "$S" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1])))
if len(rows) < 3: print("no raw rows"); sys.exit()
h, v = rows[0], rows[2]
m = {a: b for a, b in zip(h, v)}
st = [(float(b.replace(",", "")), a) for a, b in m.items()
      if a.startswith("smsp__average_warp_latency_issue_stalled_") and a.endswith(".ratio")
      and b.replace(",", "").replace(".", "").isdigit()]
st.sort(reverse=True)
print("stalls (cycles per issued instr):", ", ".join(f"{a.split('stalled_')[1].split('.')[0]} {x:.2f}" for x, a in st[:7]))
for key in ("l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_ld.sum",
            "l1tex__data_bank_conflicts_pipe_lsu_mem_shared_op_st.sum",
            "smsp__inst_executed.sum", "sm__pipe_tensor_op_hmma_cycles_active.avg.pct_of_peak_sustained_active",
            "sm__inst_executed_pipe_lsu.avg.pct_of_peak_sustained_active",
            "dram__bytes_read.sum", "dram__bytes_write.sum"):
    if key in m: print(f"  {key} = {m[key]}")
PY
done
if [ "${PYTEST:-1}" = 1 ]; then
echo "--- pytest (GPU half and CPU half)" >> "$S"
t0=$SECONDS
FFTCONV_CACHE=$OUT/pytest.db LD_LIBRARY_PATH=$B/lib timeout $(( ${DEADLINE:-560} - SECONDS > 60 ? ${DEADLINE:-560} - SECONDS : 60 )) python3 -m pytest -q -rs \
  -p no:cacheprovider python/tests > "$OUT/pytest.log" 2>&1
echo "pytest rc=$? $((SECONDS - t0)) s: $(tail -1 "$OUT/pytest.log")" >> "$S"
grep -E "^(FAILED|ERROR)" "$OUT/pytest.log" | head -10 >> "$S"
fi
[ "${TAR:-1}" = 1 ] && (cd "$OUT" && rm -f *.db *.ncu-rep drv.py && python3 -c "import tarfile,glob; t=tarfile.open('logs.tgz','w:gz'); [t.add(f) for f in glob.glob('*') if f not in ('logs.tgz','profile.txt')]; t.close()" && find . -type f ! -name logs.tgz ! -name profile.txt -delete)
cat "$S"
