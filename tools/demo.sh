#!/usr/bin/env bash
# `make demo`: the bundled model generates and measures held-out perplexity, first as trained,
# then with a block of its own layers repeated (rys:4,8 = layers 0-7 then 4-11: 16 instances
# sharing 12 layers' weights, each with its own KV cache).
set -euo pipefail
encore=${1:-build/encore}
model=${2:-assets/brown-llama-12l}
prompt="The jury said"
heldout="$model/heldout.txt"
sample=$(mktemp)
trap 'rm -f "$sample"' EXIT
head -c 60000 "$heldout" >"$sample"  # about a fifth of the held-out text, to keep the demo short

for layers in "" "rys:4,8"; do
  label=${layers:-"as trained (0-11)"}
  echo "=== layers: $label"
  "$encore" info -m "$model" ${layers:+--layers "$layers"} | grep -E "layer plan|weight bytes|kv bytes"
  echo "--- greedy continuation"
  "$encore" generate -m "$model" ${layers:+--layers "$layers"} -p "$prompt" -n 40 --temp 0
  echo "--- sampled (temp 0.8, seed 1)"
  "$encore" generate -m "$model" ${layers:+--layers "$layers"} -p "$prompt" -n 40 --temp 0.8 --seed 1
  echo "--- held-out perplexity (first 60 kB, ctx 256)"
  "$encore" perplexity -m "$model" ${layers:+--layers "$layers"} -f "$sample" --ctx 256
  echo
done

echo "=== layer-repetition sweep: every RYS plan repeating 2 layers, held-out perplexity"
sweep_dir=$(mktemp -d)
"$encore" sweep -m "$model" -o "$sweep_dir/run" --plans rys --min-block 2 --max-block 2 \
  --ppl "$sample" --ppl-ctx 128 --ppl-windows 2 --no-report >/dev/null
"$encore" sweep report "$sweep_dir/run"
echo "--- results.csv, first rows (heatmaps and report.html are drawn beside it)"
head -4 "$sweep_dir/run/results.csv" | cut -c1-140
"$encore" layers -m "$model" -f "$sample" -o "$sweep_dir/layers" --windows 1
"$encore" export -m "$model" --layers rys:4,8 -o "$sweep_dir/rys_4_8.yaml" --format mergekit
cat "$sweep_dir/rys_4_8.yaml"
rm -rf "$sweep_dir"
