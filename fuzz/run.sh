#!/bin/sh
# Runs one fuzz target: run.sh NAME SECONDS BINARY SEEDS SCRATCH [libFuzzer flags...]
# SEEDS (fuzz/corpus/NAME, in the repository) is read only; what the run finds that is new
# goes to SCRATCH, and a crash, leak or time-out to SCRATCH/crash-* (with the input that
# caused it). Prints one closing line: NAME: EXECS runs in SECONDS s, CORPUS inputs, N findings.
# Exit status 0 when nothing was found.
set -u
name=$1 secs=$2 bin=$3 seeds=$4 scratch=$5
shift 5
mkdir -p "$scratch" || exit 2
log="$scratch.log"
# -timeout: an input that takes over 10 s is a hang; -rss_limit_mb: one that takes 2 GB a leak
"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=16384 \
  -print_final_stats=1 -artifact_prefix="$scratch/crash-" "$@" "$scratch" "$seeds" >"$log" 2>&1
rc=$?
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
# with -fork=N the workers' counts are summed in lines "#EXECS: cov: ..."
[ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9][0-9]*\): cov:.*/\1/p' "$log" | tail -1)
found=$(ls "$scratch" 2>/dev/null | grep -c '^crash-')
inputs=$(ls "$scratch" | grep -vc '^crash-')
echo "$name: ${execs:-0} runs in $secs s, $inputs new inputs, $found findings (exit $rc)"
if [ "$rc" -ne 0 ] || [ "$found" -ne 0 ]; then
  tail -n 60 "$log"
  exit 1
fi
