#!/usr/bin/env bash
# Where a forward pass's time goes on the GPU: Nsight Compute times every kernel of a short
# `encore bench --device cuda` (each kernel alone, clocks not locked) and profile_summary.py
# lists, kernel by kernel, a 512-token prefill, an 8192-token prefill and a decode step at batch 1
# after 512 tokens.
#
#   bash tests/gpu/profile.sh ENCORE_BINARY [LOG_DIR] [short|long|all|attention|gemv|score]
#
# short: the 512-token prefill and the decode step (about a minute); long: the 8192-token
# prefill (several minutes under ncu); all (default): both. attention: Nsight Compute's detailed
# sections (throughput, occupancy, warp stalls, instruction counts, source counters) of the
# tensor-core attention kernel at the last 2048-token pass of an 8192-token prefill and at a
# decode step after 512 tokens (with its split combine), and the time of every attention launch
# of an 8192-token prefill, summed per pass (about 90 s). gemv: the time and DRAM bytes of every
# GEMV launch of a decode step at batch 1 after 512 tokens, by weight shape (about 30 s). score:
# the kernels of a scoring pass (6 items of 300 tokens forked from a 2000-token prefix, one pass)
# and of the prefix's pass (about a minute).
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
if [ "$which" = attention ]; then
  sections=(--section SpeedOfLight --section ComputeWorkloadAnalysis --section Occupancy
    --section LaunchStats --section WarpStateStats --section SchedulerStats
    --section SourceCounters --section InstructionStats)
  bench=(bench --device cuda --score-items 0 --gpu-repeats 1 --max-batch-tokens 2048)
  # Attention launches (one per layer): warm-up 512 (32), then the first 8192-token prefill in
  # passes of 2048 (128; as in earlier profiles, not the default one pass); launch 140 is a
  # layer of its last pass.
  ncu "${sections[@]}" -k regex:attention_mma --launch-skip 140 --launch-count 1 "$encore" \
    "${bench[@]}" --prefill-tokens 8192 --decode-contexts 64 --decode-batches 1 \
    --decode-steps 1 >"$logs/attention_8192.txt"
  # Attention and combine launches, two per layer: warm-up 512, two 512-token prefills, the
  # 512-token context, the decode warm-up step (320); 330 is in the first timed decode step.
  ncu "${sections[@]}" -k "regex:attention_mma|combine_kernel" --launch-skip 330 \
    --launch-count 2 "$encore" "${bench[@]}" --prefill-tokens 512 --decode-contexts 512 \
    --decode-batches 1 --decode-steps 2 >"$logs/attention_decode.txt"
  ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
    -k regex:attention_mma --launch-skip 32 --launch-count 128 "$encore" "${bench[@]}" \
    --prefill-tokens 8192 --decode-contexts 64 --decode-batches 1 --decode-steps 1 \
    >"$logs/attention_8192_times.csv"
  python3 - "$logs/attention_8192_times.csv" <<'PY'
import csv, sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith('"ID"'))
rows = list(csv.reader(lines[start:]))
col = rows[0].index("Metric Value")
ns = [float(r[col].replace(",", "")) for r in rows[1:] if len(r) == len(rows[0])]
passes = [sum(ns[i:i + 32]) / 1e6 for i in range(0, len(ns), 32)]
print(f"attention of an 8192-token prefill: {sum(ns) / 1e6:.1f} ms over {len(ns)} launches; "
      f"per 2048-token pass: {', '.join(f'{p:.1f}' for p in passes)} ms")
PY
  for f in attention_8192 attention_decode; do
    echo "== $f"
    grep -E "^  [a-z_ ]*void|Duration|Issue Slots Busy|Registers Per Thread|Executed Instructions  |Warp Cycles Per Issued|Achieved Occupancy" \
      "$logs/$f.txt" || true
  done
  exit 0
fi
if [ "$which" = score ]; then
  # Passes: warm-up 512, 16 tokens twice, context 16, decode warm-up + 1 step, the prefix, the
  # warm-up batch, the timed batch.
  ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base "$encore" \
    bench --device cuda --gpu-repeats 1 --prefill-tokens 16 --decode-contexts 16 \
    --decode-batches 1 --decode-steps 1 --score-items 6 --score-batch 6 >"$logs/score.csv"
  python3 "$here/profile_summary.py" "$logs/score.csv" "score 6 x 300 after 2000=-1" \
    "score prefix 2000=-3"
  exit 0
fi
if [ "$which" = gemv ]; then
  # GEMV launches: one per prefill (the output head's row: warm-up 512, two 512-token prefills,
  # the 512-token context), then 129 per decode step (4 per layer and the output head); the
  # first timed step starts at launch 133. Caches are left as the step leaves them.
  ncu --clock-control none --cache-control none -k regex:gemv16 --launch-skip 133 \
    --launch-count 129 --csv --print-units base \
    --metrics gpu__time_duration.sum,dram__bytes_read.sum,launch__grid_size "$encore" bench \
    --device cuda --score-items 0 --gpu-repeats 1 --prefill-tokens 512 --decode-contexts 512 \
    --decode-batches 1 --decode-steps 2 >"$logs/gemv.csv"
  python3 "$here/gemv_summary.py" "$logs/gemv.csv"
  exit 0
fi
# Passes: warm-up 512, 512 x 2 (warm-up, timed), context 512, decode warm-up + 2 steps.
if [ "$which" != long ]; then
trace prefill512 --prefill-tokens 512 --decode-contexts 512 --decode-batches 1 --decode-steps 2
python3 "$here/profile_summary.py" "$logs/prefill512.csv" "prefill 512=2" "decode 1 x 512=-1"
fi
[ "$which" = short ] && exit 0
# Passes: warm-up 512, then 8192 tokens twice in one pass each (warm-up, timed).
trace prefill8192 --prefill-tokens 8192 --decode-contexts 64 --decode-batches 1 --decode-steps 1
python3 "$here/profile_summary.py" "$logs/prefill8192.csv" "prefill 8192=2"
