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

echo "=== --precision fast (bf16 weights: activations rounded to one bf16, as llama.cpp computes)"
echo "--- greedy continuation"
"$encore" generate -m "$model" -p "$prompt" -n 40 --temp 0 --precision fast
echo "--- held-out perplexity (first 60 kB, ctx 256)"
"$encore" perplexity -m "$model" -f "$sample" --ctx 256 --precision fast
echo "=== --kv-type f16 (the KV cache in half the memory; K/V rounded to f16 when stored)"
"$encore" info -m "$model" --kv-type f16 | grep -E "kv type|kv bytes"
echo "--- held-out perplexity (first 60 kB, ctx 256)"
"$encore" perplexity -m "$model" -f "$sample" --ctx 256 --kv-type f16
echo "=== chat template (tests/data/chat/brown_chat.jinja; the bundled model has none of its own)"
conversation=$(mktemp)
printf '[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": "What did the jury say?"}]' >"$conversation"
"$encore" template -m "$model" --chat-template tests/data/chat/brown_chat.jinja --messages "$conversation" --add-generation-prompt
echo
echo "--- two templated chat turns (greedy; -v: only each new turn's tokens are computed)"
printf 'What did the jury say?\nAnd the city?\n' |
  "$encore" chat -m "$model" --chat-template tests/data/chat/brown_chat.jinja --system "Answer briefly." -n 20 --temp 0 -v 2>&1 |
  grep -v '^kv:'
rm -f "$conversation"
echo "=== score: the first 5 held-out stories against examples/rubrics/story_quality.yaml"
scores=$(mktemp --suffix=.jsonl)
stories=$(mktemp --suffix=.jsonl)
head -n 5 examples/heldout_stories.jsonl >"$stories"
rm -f "$scores"
"$encore" score -m "$model" -r examples/rubrics/story_quality.yaml -i "$stories" -o "$scores"
head -n 1 "$scores" | cut -c 1-300
rm -f "$scores" "$stories"
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
echo "=== encore serve: an OpenAI-compatible server (echo + logprobs twice: the second from the cache)"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$encore" serve -m "$model" --port "$port" --plan rys:4,8 2>/dev/null &
server_pid=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
curl -s "http://127.0.0.1:$port/v1/models" | python3 -c 'import json, sys; print("models:", [m["id"] for m in json.load(sys.stdin)["data"]])'
for _ in 1 2; do
  curl -s "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' \
    -d '{"prompt": "The jury said that the city had been hit by a storm of protests over the new tax", "max_tokens": 0, "echo": true, "logprobs": 1}' |
    python3 -c 'import json, sys; r = json.load(sys.stdin); lp = r["choices"][0]["logprobs"]["token_logprobs"]; print("prompt logprobs:", [round(x, 3) if x is not None else None for x in lp[:6]], "... cached tokens:", r["usage"]["prompt_tokens_details"]["cached_tokens"])'
done
curl -s "http://127.0.0.1:$port/v1/completions" -H 'content-type: application/json' \
  -d '{"model": "brown-llama-12l@rys:4,8", "prompt": "The jury said", "max_tokens": 24, "temperature": 0}' |
  python3 -c 'import json, sys; print("rys:4,8 completion:", repr(json.load(sys.stdin)["choices"][0]["text"]))'
kill -TERM "$server_pid" && wait "$server_pid"
