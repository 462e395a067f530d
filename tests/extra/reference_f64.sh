#!/usr/bin/env bash
# The float64 numpy reference (tools/goldens/llama_f64.py), which produces the score and sweep
# goldens, agrees with the transformers goldens on every variant and plan (logits and greedy).
set -euo pipefail
cd "$(dirname "$0")/../.."
/usr/bin/python3 tools/goldens/llama_f64.py --check tests/data/goldens/models
