#!/usr/bin/env python3
"""Goldens for `encore sweep` on the bundled model, from the float64 numpy reference
(tools/goldens/llama_f64.py, itself checked against the transformers goldens in tests/data).

For a few layer plans (the base, single- and multi-block RYS, a plan ending in a repeated layer)
it writes, to tests/data/sweep/golden.json:
  - the per-window NLL of the first windows of a held-out excerpt, cut as `encore perplexity`
    cuts them (chunks of ctx - 1 tokens after a BOS), and their sum and count;
  - the greedy continuation of each prompt (stopping at EOS);
  - the layer-distance matrix of the unmodified model over those windows: for boundaries i < j
    (the residual entering layer i; boundary N the stream after the last layer), the mean over
    tokens, the BOS excepted, of arccos(cos(x_i, x_j)) / pi.
Token ids come from encore's tokenizer (`encore tokenize`, itself checked against the `tokenizers`
goldens of the bundled tokenizer in tests/data/goldens/tokenizer); the C++ test checks that the
text still tokenizes to them.

    /usr/bin/python3 tools/goldens/sweep_goldens.py [--encore build/encore]
"""
import argparse
import json
import math
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_f64 import Model  # noqa: E402

MODEL = "assets/brown-llama-12l"
CTX = 64
WINDOWS = 3
TEXT_CHARS = 1200
PROMPTS = ["The jury said", "In the morning"]
GEN_TOKENS = 12
PLANS = ["base", "rys:4,8", "rys:0,12", "rys:11,12", "rys:2,5;7,9", "0-11,11,11", "3-11"]


def plan_layers(spec, n):
    """The layer list of a plan spec (the forms this script uses)."""
    if spec == "base":
        return list(range(n))
    if spec.startswith("rys:"):
        blocks = [tuple(int(v) for v in b.split(",")) for b in spec[4:].split(";")]
        layers, start = [], 0
        for i, j in blocks:
            layers += list(range(start, j))
            start = i
        return layers + list(range(start, n))
    out = []
    for item in spec.split(","):
        a, _, b = item.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


def tokenize(encore, text, special):
    cmd = [encore, "tokenize", "-m", MODEL, "--text", text] + ([] if special else ["--no-special"])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)["ids"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encore", default="build/encore")
    ap.add_argument("--out", default="tests/data/sweep/golden.json")
    args = ap.parse_args()

    with open(os.path.join(MODEL, "heldout.txt"), encoding="utf-8") as f:
        text = f.read()[:TEXT_CHARS]
    tokens = tokenize(args.encore, text, special=False)
    prompt_ids = [tokenize(args.encore, p, special=True) for p in PROMPTS]
    with open(os.path.join(MODEL, "config.json")) as f:
        cfg = json.load(f)
    bos, eos = cfg["bos_token_id"], cfg["eos_token_id"]
    eos_ids = tuple(eos if isinstance(eos, list) else [eos])

    m = Model(MODEL)
    n = m.n_layers
    plans = {}
    for spec in PLANS:
        layers = plan_layers(spec, n)
        nll, count, per_window = m.perplexity(tokens, CTX, bos, layers=layers,
                                              max_windows=WINDOWS)
        greedy = [m.greedy(p, GEN_TOKENS, layers=layers, eos_ids=eos_ids) for p in prompt_ids]
        plans[spec] = {"layers": layers, "window_nll": per_window, "nll": nll, "count": count,
                       "ppl": math.exp(nll / count), "greedy": greedy}
        print(f"{spec:14s} ppl {plans[spec]['ppl']:.4f}", file=sys.stderr)

    # Layer distances of the unmodified model over the same windows.
    step = CTX - 1
    windows = [[bos] + tokens[i:i + step] for i in range(0, len(tokens), step)][:WINDOWS]
    total = np.zeros((n + 1, n + 1))
    n_tok = 0
    for w in windows:
        r = m.residuals(w)[:, 1:, :]  # [n + 1, tokens without BOS, hidden]
        unit = r / np.linalg.norm(r, axis=-1, keepdims=True)
        for i in range(n + 1):
            for j in range(i + 1, n + 1):
                c = np.clip(np.sum(unit[i] * unit[j], axis=-1), -1.0, 1.0)
                total[i, j] += np.sum(np.arccos(c) / math.pi)
        n_tok += r.shape[1]
    distance = [[float(total[i, j] / n_tok) if i < j else None for j in range(n + 1)]
                for i in range(n + 1)]

    out = {"model": MODEL, "text": text, "tokens": tokens, "ctx": CTX, "windows": WINDOWS,
           "prompts": PROMPTS, "prompt_ids": prompt_ids, "gen_tokens": GEN_TOKENS,
           "eos_ids": list(eos_ids), "plans": plans,
           "distance": {"tokens": n_tok, "matrix": distance},
           "reference": "tools/goldens/llama_f64.py (float64 numpy)"}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
