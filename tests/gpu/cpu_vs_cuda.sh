#!/usr/bin/env bash
# encore's jobs on --device cuda against the same jobs on the CPU, on the bundled model: held-out
# perplexity (identity and a RYS plan; the GPU's default KV type, bf16 for this bf16 model, and
# f32), the expected scores of `encore score`, and a small sweep's perplexities. Prints each pair
# and fails past the tolerances:
#   perplexity, relative: 5e-3 with bf16 K/V on the GPU (K, V, Q and the softmax weights rounded
#   to bf16 in attention), 1e-4 with --kv-type f32 (the same roundings as the CPU's default
#   precision, another summation order);
#   expected scores (0-4 scale): 0.05 absolute.
#
#   bash tests/gpu/cpu_vs_cuda.sh [ENCORE_BINARY]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
encore=${1:-$root/build-gpu/encore}
model=$root/assets/brown-llama-12l
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 12000 "$model/heldout.txt" >"$tmp/heldout.txt"
head -n 6 "$root/examples/heldout_stories.jsonl" >"$tmp/items.jsonl"
failed=0

compare() {  # NAME A B TOLERANCE (relative)
  python3 - "$@" <<'PY' || failed=1
import sys
name, a, b, tol = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
rel = abs(a - b) / abs(b)
print(f"{name:<44} cpu {b:.6f} cuda {a:.6f} rel {rel:.2e} (tolerance {tol:.0e})")
sys.exit(0 if rel <= tol else 1)
PY
}
ppl() {  # DEVICE PLAN [extra...]
  "$encore" perplexity -m "$model" -f "$tmp/heldout.txt" --ctx 256 --layers "$2" --device "$1" \
    "${@:3}" | python3 -c 'import json, sys; print(json.loads(sys.stdin.read())["ppl"])'
}
for plan in 0-11 rys:4,8; do
  cpu=$(ppl cpu "$plan")
  compare "perplexity $plan (cuda, bf16 K/V)" "$(ppl cuda "$plan")" "$cpu" 5e-3
  compare "perplexity $plan (cuda, --kv-type f32)" "$(ppl cuda "$plan" --kv-type f32)" "$cpu" 1e-4
done

for device in cpu cuda; do
  "$encore" score -m "$model" -r "$root/examples/rubrics/story_quality.yaml" -i "$tmp/items.jsonl" \
    -o "$tmp/scores_$device.jsonl" --device "$device" >/dev/null
done
python3 - "$tmp/scores_cpu.jsonl" "$tmp/scores_cuda.jsonl" <<'PY' || failed=1
import json, sys
load = lambda p: {d["id"]: d for d in map(json.loads, open(p))}
cpu, cuda = load(sys.argv[1]), load(sys.argv[2])
worst = max(abs(cpu[i]["scores"][c]["expected"] - cuda[i]["scores"][c]["expected"])
            for i in cpu for c in cpu[i]["scores"])
print(f"{'encore score: expected scores, max difference':<44} {worst:.2e} (tolerance 5e-02)")
sys.exit(0 if worst <= 0.05 else 1)
PY

for device in cpu cuda; do
  "$encore" sweep -m "$model" -o "$tmp/sweep_$device" --plans rys --min-block 3 --max-block 3 \
    --ppl "$tmp/heldout.txt" --ppl-ctx 128 --ppl-windows 4 --no-report --device "$device" >/dev/null
done
python3 - "$tmp/sweep_cpu/results.jsonl" "$tmp/sweep_cuda/results.jsonl" <<'PY' || failed=1
import json, sys
def load(p):
    out = {}
    for line in open(p):
        d = json.loads(line)
        out[d["plan"]] = d["metrics"]["ppl"]["value"]
    return out
cpu, cuda = load(sys.argv[1]), load(sys.argv[2])
worst = max(abs(cuda[p] - cpu[p]) / cpu[p] for p in cpu)
print(f"{'encore sweep: ' + str(len(cpu)) + ' plans, perplexity, max rel':<44} {worst:.2e} (tolerance 5e-03)")
sys.exit(0 if worst <= 5e-3 and set(cpu) == set(cuda) else 1)
PY
exit $failed
