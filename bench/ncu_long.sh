#!/usr/bin/env bash
# ncu_long.sh: Nsight Compute's view of the long family's forward passes for one problem
# (the default candidate, or PARAMS), after the tuner's verification launches.
#   bench/ncu_long.sh BUNDLE SEQLEN HEADS [PARAMS-JSON]
set -uo pipefail
B=$1 L=$2 H=$3
export LD_LIBRARY_PATH=$B/lib PATH=/usr/local/cuda/bin:$PATH
ncu --kernel-name regex:'fftconv_(cols|rows)' --launch-skip 12 --launch-count 3 \
  --section SpeedOfLight --section Occupancy --section LaunchStats --section MemoryWorkloadAnalysis \
  --metrics l1tex__data_bank_conflicts_pipe_lsu_mem_shared.sum,smsp__inst_executed.sum,sm__pipe_fma_cycles_active.avg.pct_of_peak_sustained_active \
  "$B/bin/fftconv-tune" --seqlen "$L" --heads "$H" --batch 8 --dtype fp16 --mode circular \
  --pregate --postgate --template monarch_long --rigor estimate --cache /tmp/ncu.db 2>&1 |
  grep -a -E "fftconv_|Duration|Throughput|Achieved Occupancy|Registers Per|Shared Memory Config|bank_conflicts|inst_executed|pipe_fma|Theoretical Occ|Block Limit|Mem Busy|Max Bandwidth|L1/TEX Hit|L2 Hit" 
