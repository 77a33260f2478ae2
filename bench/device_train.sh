#!/usr/bin/env bash
# device_train.sh: the training half on a lent GPU machine in one call: FlashFFTConv built in
# the background (.ffc, ../shared/tools/ffc-kit), the Python package's tests (device_issue20.sh),
# the layer's cost over the C API (bench_layer.py), then the example's step times at L = 4K and
# 64K with every backend (examples/hyena_train.py). Logs go to $OUT; a summary is printed last.
#
#   bench/device_train.sh BUNDLE [STEPS_4K] [STEPS_64K]
set -uo pipefail
B=${1:?bundle dir}
. "$(dirname "$0")/device_env.sh"
[ -x .ffc/build.sh ] && bash .ffc/build.sh --background > "$OUT/ffc_build.txt" 2>&1
bash "$(dirname "$0")/device_issue20.sh" "$B" > "$OUT/issue20.txt" 2>&1
export FFTCONV_LIB=$B/bin/libfftconv.so PYTHONPATH=$PWD/python PYTHONUNBUFFERED=1
LD_LIBRARY_PATH=$B/lib timeout 120 python3 bench/bench_layer.py > "$OUT/layer.txt" 2>&1
[ -x .ffc/build.sh ] && bash .ffc/build.sh --wait >> "$OUT/ffc_build.txt" 2>&1 &&
  export PYTHONPATH=$PYTHONPATH:$(bash .ffc/build.sh --path)
LD_LIBRARY_PATH=$B/lib timeout 200 python3 examples/hyena_train.py --steps "${2:-200}" \
  > "$OUT/hyena_4k.txt" 2>&1
LD_LIBRARY_PATH=$B/lib timeout 200 python3 examples/hyena_train.py --seqlen 65536 --batch 4 \
  --steps "${3:-40}" > "$OUT/hyena_64k.txt" 2>&1
{ cat "$OUT/issue20.txt"; echo; cat "$OUT/layer.txt"; echo; tail -3 "$OUT/ffc_build.txt"
  for f in hyena_4k hyena_64k; do echo "== $f"; grep -E "^(associative|step time|.*largest|.*skipped)" "$OUT/$f.txt"; tail -2 "$OUT/$f.txt"; done; }
exit 0
