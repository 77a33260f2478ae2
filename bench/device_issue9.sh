#!/usr/bin/env bash
# device_issue9.sh: one call on the lent 2-GPU machine for the kernel-ABI change (issue 9):
# on the first GPU (16 cores) the targets' winners tuned by an earlier build (BASE) and by this
# one from empty caches, one after the other, and the table of both; on the second GPU the
# GPU tests given (default: every GPU test but the tensor-core grid). Logs go to $OUT.
#
#   BASE=DIR bench/device_issue9.sh BUNDLE [TESTS...]
#
# TESTS as for device_check.sh: programs of the bundle with optional Criterion filters.
set -uo pipefail
B=${1:?bundle dir}; shift
OUT=${OUT:-$PWD/device-out}; mkdir -p "$OUT"
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
export FFTCONV_TUNE=$B/bin/fftconv-tune FFTCONV_SANITIZE_CHILD=$B/bin/sanitize-child
export FFTCONV_PLAN_CHILD=$B/bin/plan-child
ngpu=$(nvidia-smi -L | wc -l)
tests=("$@")
[ ${#tests[@]} -gt 0 ] || tests=(test_gpu_api test_gpu_runtime test_gpu_cache test_gpu_sanitize
                                "test_gpu_forward --filter gpu_forward/*"
                                "test_gpu_forward --filter gpu_candidates/*")
set_=bench/problems/targets_fp16.txt

targets() {
  export CUDA_VISIBLE_DEVICES=0
  local t0
  for b in ${BASE:+"$BASE"} "$B"; do
    t0=$SECONDS
    local name; name=$(basename "$b")
    LD_LIBRARY_PATH=$b/lib taskset -c 0-15 "$b/bin/fftconv-tune" --problems "$set_" \
      --cache "/tmp/t-$name.db" --json --quiet > "$OUT/targets-$name.json" 2> "$OUT/targets-$name.err"
    echo "targets $name rc=$? $(( SECONDS - t0 )) s" >> "$OUT/targets.txt"
  done
  # key, then each build's winner time and parameters
  python3 - "$OUT" ${BASE:+"$(basename "$BASE")"} "$(basename "$B")" <<'PY' >> "$OUT/targets.txt"
import json, sys
out, names = sys.argv[1], sys.argv[2:]
runs = [{p["key"]: p.get("winner") for p in json.load(open(f"{out}/targets-{n}.json"))["problems"]}
        for n in names]
print("| problem | " + " | ".join(f"{n} ms" for n in names) + " | ratio | same params |")
for key in runs[-1]:
    w = [r.get(key) for r in runs]
    ms = [x["median_ms"] if x else float("nan") for x in w]
    same = len(w) > 1 and all(x and w[0] and x["params"] == w[0]["params"] for x in w)
    ratio = ms[-1] / ms[0] if len(ms) > 1 else 1.0
    print(f"| {key} | " + " | ".join(f"{m:.4f}" for m in ms) + f" | {ratio:.3f} | {'yes' if same else 'no'} |")
PY
}
checks() {
  export CUDA_VISIBLE_DEVICES=$(( ngpu > 1 ? 1 : 0 ))
  for t in "${tests[@]}"; do
    local t0=$SECONDS
    set -- $t
    taskset -c 16-31 "$B/bin/$@" --verbose=0 -j4 > "$OUT/$1${3:+-${3%%/*}}.log" 2>&1
    echo "$t rc=$? $(( SECONDS - t0 )) s: $(grep -a 'Synthesis' "$OUT/$1${3:+-${3%%/*}}.log" | tail -1)" >> "$OUT/checks.txt"
  done
}
if [ "$ngpu" -gt 1 ]; then targets & checks & wait; else checks; targets; fi
echo; cat "$OUT/checks.txt" "$OUT/targets.txt" 2>/dev/null
