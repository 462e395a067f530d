#!/usr/bin/env bash
# The full RYS sweep of a 32-layer Llama-3-8B-shaped model on the GPU: every plan "layers 0..j-1
# then i..31" with i < j (528, and the base: 529 plans) with a 16-item rubric probe
# (examples/rubrics/story_quality.yaml, the first 16 stories of examples/heldout_stories.jsonl),
# timed with stem reuse and again with --no-stem-reuse, and the two result sets compared. The
# model (random bf16 weights, the Llama-3 tokenizer) is written by bench/write_random_llama.py
# unless it exists. Last, four plans and the base with and without stem reuse under
# --deterministic, whose results must be the same bits.
#
#   bash bench/rys_sweep_8b.sh ENCORE_BINARY WORK_DIR [SECONDS_PER_SWEEP] [STEPS]
#
# STEPS (default all): any of stem-reuse, no-stem-reuse, compare, deterministic. A sweep stopped
# by the time limit keeps its finished plans and the next run of its step resumes it (the run
# directory resumes); each step's summary gives the plans done and the seconds of this run and of
# all its runs so far (WORK_DIR/sweep-MODE.seconds), so a sweep finished over several runs
# reports its whole time.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
encore=$1
work=$2
limit=${3:-0}
steps=${4:-stem-reuse no-stem-reuse compare deterministic}
wants() { [[ " $steps " == *" $1 "* ]]; }
for step in $steps; do
  case $step in
    stem-reuse | no-stem-reuse | compare | deterministic) ;;
    *)
      echo "rys_sweep_8b.sh: unknown step '$step' (stem-reuse, no-stem-reuse, compare, deterministic)" >&2
      exit 2
      ;;
  esac
done
mkdir -p "$work"
model=$work/llama3-8b-random
if [ ! -f "$model/config.json" ]; then
  t0=$SECONDS
  python3 "$root/bench/write_random_llama.py" "$model"
  echo "model written in $((SECONDS - t0)) s"
fi
head -16 "$root/examples/heldout_stories.jsonl" >"$work/items16.jsonl"
for mode in stem-reuse no-stem-reuse; do
  wants "$mode" || continue
  extra=(--stem-reuse)
  [ "$mode" = no-stem-reuse ] && extra=(--no-stem-reuse)
  before=$({ wc -l <"$work/sweep-$mode/results.jsonl"; } 2>/dev/null || echo 0)
  if [ "$before" -ge 529 ]; then
    echo "sweep ($mode): complete, $(python3 -c "print(sum(float(x) for x in open('$work/sweep-$mode.seconds')))") s in all"
    continue
  fi
  t0=$(date +%s.%N)
  timeout "$limit" "$encore" sweep -m "$model" -o "$work/sweep-$mode" --plans rys --device cuda \
    --rubric "$root/examples/rubrics/story_quality.yaml" --items "$work/items16.jsonl" \
    --stem-budget 16384 --no-report "${extra[@]}" >>"$work/sweep-$mode.log" 2>&1 || true
  t1=$(date +%s.%N)
  done_plans=$({ wc -l <"$work/sweep-$mode/results.jsonl"; } 2>/dev/null || echo 0)
  python3 - "$mode" "$t0" "$t1" "$before" "$done_plans" "$work/sweep-$mode.seconds" <<'PY'
import sys
mode, t0, t1, before, n, log = sys.argv[1:7]
s, before, n = float(t1) - float(t0), int(before), int(n)
with open(log, "a") as f:
    f.write(f"{s:.1f}\n")
total = sum(float(x) for x in open(log))
runs = len(open(log).read().split())
print(f"sweep ({mode}): this run {n - before} plans in {s:.1f} s ({(n - before) / s:.2f} plans/s); "
      f"all {runs} run(s): {n}/529 plans in {total:.1f} s"
      + (f", 529 plans at that rate: {529 * total / max(n, 1):.0f} s" if n < 529 else ", complete"))
PY
  tail -2 "$work/sweep-$mode.log"
done
wants compare && python3 - "$work/sweep-stem-reuse/results.jsonl" "$work/sweep-no-stem-reuse/results.jsonl" <<'PY'
import json, sys
a = {r["plan"]: r for r in map(json.loads, open(sys.argv[1]))}
b = {r["plan"]: r for r in map(json.loads, open(sys.argv[2]))}
common = sorted(set(a) & set(b))
worst = 0.0
for p in common:
    for name, m in a[p]["metrics"].items():
        v, w = m["value"], b[p]["metrics"][name]["value"]
        if isinstance(v, (int, float)) and isinstance(w, (int, float)):
            worst = max(worst, abs(v - w))
print(f"plans in both sweeps: {len(common)}; largest difference of a metric: {worst:.3g}")
PY
# Exactness: under --deterministic, stem reuse must not change a bit.
wants deterministic || exit 0
for mode in stem-reuse no-stem-reuse; do
  "$encore" sweep -m "$model" -o "$work/det-$mode" --plans rys --i-range 10-11 --j-range 20-21 \
    --device cuda --deterministic --rubric "$root/examples/rubrics/story_quality.yaml" \
    --items "$work/items16.jsonl" --stem-budget 16384 --no-report --$mode >/dev/null 2>&1
done
if cmp -s "$work/det-stem-reuse/results.jsonl" "$work/det-no-stem-reuse/results.jsonl"; then
  echo "deterministic: $(wc -l <"$work/det-stem-reuse/results.jsonl") plans, results identical with and without stem reuse"
else
  echo "deterministic: results DIFFER with and without stem reuse"
  exit 1
fi
