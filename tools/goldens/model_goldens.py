#!/usr/bin/env python3
"""Reference outputs for encore's model tests, computed by `transformers` in float64.

Runs on a machine with torch + transformers (the GPU machine; a CPU works too, slowly), from the
repository root:  python3 tools/goldens/model_goldens.py [--out tests/data/goldens/models]

For every supported architecture variant it builds a small random-weight checkpoint with
transformers itself (save_pretrained, so the files are exactly what HF writes), then records, for
several layer plans (built in transformers by reordering model.model.layers with shared modules):
  - logits for a fixed token list, computed in float64 (weights upcast from their stored dtype),
  - a greedy continuation (argmax, full recompute each step, float64).
For the bundled trained model (assets/brown-llama-12l) it also records held-out perplexity with
encore's windowing (see perplexity_windows below).

Outputs per variant: the checkpoint files, `golden.json` (tokens, plans, greedy ids, versions) and
`logits.safetensors` (F32 tensors `logits.<plan>` of shape [n_tokens, vocab]).
"""
import argparse
import json
import math
import os
import shutil

import torch
import transformers
from safetensors.torch import save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

torch.backends.cuda.matmul.allow_tf32 = False
DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
_TF_MAJOR_MINOR = tuple(int(x) for x in transformers.__version__.split(".")[:2])


def dtype_kw(dtype):  # transformers renamed torch_dtype to dtype in 4.56
    return {"dtype": dtype} if _TF_MAJOR_MINOR >= (4, 56) else {"torch_dtype": dtype}

VARIANTS = {
    # llama, GQA 4:2, f32 weights, sharded checkpoint files.
    "llama_gqa_sharded": dict(
        config=dict(model_type="llama", hidden_size=64, intermediate_size=160, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=2, vocab_size=384,
                    max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=10000.0,
                    tie_word_embeddings=False),
        dtype=torch.float32, shard="150KB"),
    # llama 3 rope scaling, bf16, tied embeddings.
    "llama3_scaled_bf16_tied": dict(
        config=dict(model_type="llama", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=1 * 2, vocab_size=320,
                    max_position_embeddings=512, rms_norm_eps=1e-5, rope_theta=500000.0,
                    rope_scaling=dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                      high_freq_factor=4.0, original_max_position_embeddings=32),
                    tie_word_embeddings=True),
        dtype=torch.bfloat16),
    # llama with linear rope scaling, f16.
    "llama_linear_f16": dict(
        config=dict(model_type="llama", hidden_size=48, intermediate_size=96, num_hidden_layers=3,
                    num_attention_heads=3, num_key_value_heads=3, vocab_size=256,
                    max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=10000.0,
                    rope_scaling=dict(rope_type="linear", factor=2.0), tie_word_embeddings=False),
        dtype=torch.float16),
    # mistral, MQA (one KV head), f32.
    "mistral_mqa": dict(
        config=dict(model_type="mistral", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                    num_attention_heads=8, num_key_value_heads=1, vocab_size=300,
                    max_position_embeddings=256, rms_norm_eps=1e-5, rope_theta=1000000.0,
                    sliding_window=None, tie_word_embeddings=False),
        dtype=torch.float32),
    # qwen2, q/k/v biases, f16.
    "qwen2_bias_f16": dict(
        config=dict(model_type="qwen2", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=2, vocab_size=352,
                    max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    use_sliding_window=False, tie_word_embeddings=False),
        dtype=torch.float16),
    # qwen3, per-head q/k RMSNorm, head_dim (24) != hidden / heads (16), bf16, tied.
    "qwen3_qknorm": dict(
        config=dict(model_type="qwen3", hidden_size=64, intermediate_size=128, num_hidden_layers=4,
                    num_attention_heads=4, num_key_value_heads=2, head_dim=24, vocab_size=320,
                    max_position_embeddings=256, rms_norm_eps=1e-6, rope_theta=1000000.0,
                    use_sliding_window=False, tie_word_embeddings=True),
        dtype=torch.bfloat16),
}

# Plans are lists of weight-layer indices; the names are what encore's --layers accepts.
def plans_for(n_layers):
    plans = {"identity": list(range(n_layers))}
    if n_layers >= 4:
        plans["0-3,2-3"] = [0, 1, 2, 3, 2, 3] + list(range(4, n_layers))
        plans["0,1,1,1,2-3"] = [0, 1, 1, 1, 2, 3] + list(range(4, n_layers))
    else:
        plans["0-2,1-2"] = [0, 1, 2, 1, 2]
    return plans


def rys(i, j, n):  # layers 0..j-1 then i..n-1
    return list(range(j)) + list(range(i, n))


def with_plan(model, plan, base_layers):
    model.model.layers = torch.nn.ModuleList([base_layers[i] for i in plan])
    model.config.num_hidden_layers = len(plan)
    if not hasattr(model, "_base_layer_types"):
        model._base_layer_types = getattr(model.config, "layer_types", None)
    if model._base_layer_types is not None:  # per-layer attention kinds follow the plan
        model.config.layer_types = [model._base_layer_types[i] for i in plan]
    return model


@torch.no_grad()
def logits_of(model, ids):
    out = model(torch.tensor([ids], device=DEVICE), use_cache=False)
    return out.logits[0].double()


@torch.no_grad()
def greedy(model, prompt, n_new, eos_ids=()):
    ids = list(prompt)
    for _ in range(n_new):
        nxt = int(torch.argmax(logits_of(model, ids)[-1]))
        ids.append(nxt)
        if nxt in eos_ids:
            break
    return ids[len(prompt):]


def randomize(model, seed):
    """Weights with a larger spread than HF's init so logits and argmaxes are well separated, and
    norms/biases that are not all ones/zeros so every parameter is exercised."""
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if "norm" in name:
            vals = 1.0 + 0.2 * torch.randn(p.shape, generator=g, dtype=torch.float64)
        elif name.endswith("bias"):
            vals = 0.3 * torch.randn(p.shape, generator=g, dtype=torch.float64)
        else:
            fan_in = p.shape[-1]
            vals = torch.randn(p.shape, generator=g, dtype=torch.float64) * (1.5 / math.sqrt(fan_in))
            if "embed" in name:
                vals = torch.randn(p.shape, generator=g, dtype=torch.float64)
        p.data.copy_(vals.to(p.dtype))


def save_logits(path, tensors):
    save_file({k: v.float().contiguous().cpu() for k, v in tensors.items()}, path)


def make_variant(name, spec, out_root, seed):
    out = os.path.join(out_root, name)
    shutil.rmtree(out, ignore_errors=True)
    os.makedirs(out)
    cfg = dict(spec["config"])
    model_type = cfg.pop("model_type")
    config = AutoConfig.for_model(model_type, **cfg)
    config.bos_token_id, config.eos_token_id = 1, 2
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, **dtype_kw(spec["dtype"]),
                                             attn_implementation="eager")
    model = model.to(spec["dtype"])
    randomize(model, seed)
    kwargs = {"max_shard_size": spec["shard"]} if "shard" in spec else {}
    model.save_pretrained(out, safe_serialization=True, **kwargs)

    # Reload from the saved files (what encore reads), upcast to float64.
    ref = AutoModelForCausalLM.from_pretrained(out, **dtype_kw(torch.float64),
                                               attn_implementation="eager").to(DEVICE).eval()
    n_layers = ref.config.num_hidden_layers
    base = list(ref.model.layers)
    g = torch.Generator().manual_seed(seed + 1)
    vocab = ref.config.vocab_size
    tokens = torch.randint(3, vocab, (40,), generator=g).tolist()
    prompt = tokens[:8]
    golden = {"variant": name, "dtype": str(spec["dtype"]).replace("torch.", ""),
              "tokens": tokens, "greedy_prompt": prompt, "plans": {},
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    logits = {}
    for plan_name, plan in plans_for(n_layers).items():
        with_plan(ref, plan, base)
        logits["logits." + plan_name] = logits_of(ref, tokens)
        golden["plans"][plan_name] = {"layers": plan, "greedy": greedy(ref, prompt, 24)}
    with_plan(ref, list(range(n_layers)), base)
    save_logits(os.path.join(out, "logits.safetensors"), logits)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)
    print(f"{name}: {n_layers} layers, {len(golden['plans'])} plans, "
          f"files {sorted(os.listdir(out))}", flush=True)


def perplexity_windows(tokens, ctx, bos):
    """encore's perplexity windows: the text's tokens (no BOS) in consecutive chunks of ctx - 1,
    each evaluated as [BOS] + chunk, every chunk token predicted (the first from BOS alone)."""
    step = ctx - 1
    return [[bos] + tokens[i:i + step] for i in range(0, len(tokens), step)]


@torch.no_grad()
def perplexity(model, windows):
    nll, count = 0.0, 0
    for w in windows:
        lp = torch.log_softmax(logits_of(model, w), dim=-1)
        target = torch.tensor(w[1:], device=lp.device)
        nll -= float(lp[:-1].gather(1, target[:, None]).sum())
        count += len(w) - 1
    return nll, count


def make_brown(out_root, model_dir, ctx):
    out = os.path.join(out_root, "brown")
    os.makedirs(out, exist_ok=True)
    tok = AutoTokenizer.from_pretrained(model_dir)
    ref = AutoModelForCausalLM.from_pretrained(model_dir, **dtype_kw(torch.float64),
                                               attn_implementation="eager").to(DEVICE).eval()
    n_layers = ref.config.num_hidden_layers
    base = list(ref.model.layers)
    text = ("The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary "
            "election produced no evidence that any irregularities took place.")
    tokens = tok(text)["input_ids"]
    prompt = tok("The jury said")["input_ids"]
    heldout = open(os.path.join(model_dir, "heldout.txt"), encoding="utf-8").read()
    held_tokens = tok(heldout, add_special_tokens=False)["input_ids"]
    windows = perplexity_windows(held_tokens, ctx, tok.bos_token_id)
    plans = {"identity": list(range(n_layers)), "rys:4,8": rys(4, 8, n_layers),
             "0-5,3-11": list(range(6)) + list(range(3, 12))}
    golden = {"text": text, "tokens": tokens, "greedy_prompt": prompt, "ctx": ctx,
              "heldout_tokens": len(held_tokens), "plans": {},
              "versions": {"torch": torch.__version__, "transformers": transformers.__version__}}
    logits = {}
    for plan_name, plan in plans.items():
        with_plan(ref, plan, base)
        logits["logits." + plan_name] = logits_of(ref, tokens)
        nll, count = perplexity(ref, windows)
        golden["plans"][plan_name] = {
            "layers": plan, "greedy": greedy(ref, prompt, 32, (ref.config.eos_token_id,)),
            "heldout_nll": nll, "heldout_count": count, "heldout_ppl": math.exp(nll / count)}
        print(f"brown {plan_name}: ppl {golden['plans'][plan_name]['heldout_ppl']:.4f}", flush=True)
    save_logits(os.path.join(out, "logits.safetensors"), logits)
    with open(os.path.join(out, "golden.json"), "w") as f:
        json.dump(golden, f, indent=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="tests/data/goldens/models")
    ap.add_argument("--brown", default="assets/brown-llama-12l")
    ap.add_argument("--ctx", type=int, default=256)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    for i, (name, spec) in enumerate(VARIANTS.items()):
        make_variant(name, spec, args.out, seed=1000 + i)
    make_brown(args.out, args.brown, args.ctx)


if __name__ == "__main__":
    main()
