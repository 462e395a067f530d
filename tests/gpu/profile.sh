#!/usr/bin/env bash
# Where a forward pass's time goes on the GPU: Nsight Compute times every kernel of a short
# `encore bench --device cuda` (each kernel alone, clocks not locked) and profile_summary.py
# lists, kernel by kernel, a 512-token prefill, the 2048-token passes of an 8192-token prefill
# and a decode step at batch 1 after 512 tokens.
#
#   bash tests/gpu/profile.sh ENCORE_BINARY [LOG_DIR] [short|long|all]
#
# short: the 512-token prefill and the decode step (about a minute); long: the 8192-token
# prefill (several minutes under ncu); all (default): both.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
encore=$1
logs=${2:-.}
which=${3:-all}
mkdir -p "$logs"
trace() {  # trace NAME BENCH_ARGS...: the kernels of one bench run as CSV
  local name=$1
  shift
  ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
    "$encore" bench --device cuda --score-items 0 --gpu-repeats 1 "$@" >"$logs/$name.csv"
}
# Passes: warm-up 512, 512 x 2 (warm-up, timed), context 512, decode warm-up + 2 steps.
if [ "$which" != long ]; then
trace prefill512 --prefill-tokens 512 --decode-contexts 512 --decode-batches 1 --decode-steps 2
python3 "$here/profile_summary.py" "$logs/prefill512.csv" "prefill 512=2" "decode 1 x 512=-1"
fi
[ "$which" = short ] && exit 0
# Passes: warm-up 512, then 8192 tokens twice in passes of 2048 (warm-up, timed).
trace prefill8192 --prefill-tokens 8192 --decode-contexts 64 --decode-batches 1 --decode-steps 1
python3 "$here/profile_summary.py" "$logs/prefill8192.csv" "prefill 8192, per 2048-token pass=5:8"
