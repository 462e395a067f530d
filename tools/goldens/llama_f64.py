#!/usr/bin/env python3
"""An independent float64 reference forward pass of Llama-family checkpoints, in numpy.

Reads a Hugging Face directory (config.json; model.safetensors or a sharded index; F32, F16 or
BF16 tensors) with its own safetensors and config parsing, and computes logits in float64 for a
token list under any layer list (a plan: weight-layer indices in order, each instance with its own
KV). Covers what encore's ModelSpec covers: llama (default, linear and llama3 RoPE scaling),
mistral, qwen2 (q/k/v biases), qwen3 (per-head q/k RMSNorm, explicit head_dim), tied or untied
embeddings. It shares no code with encore and none with transformers: goldens made with it are an
independent check when no GPU machine is at hand to run transformers.

It is itself checked against the transformers goldens in tests/data/goldens/models:

    /usr/bin/python3 tools/goldens/llama_f64.py --check tests/data/goldens/models

prints, per variant and plan, the largest logit difference relative to the logit scale and whether
the greedy continuation is the same, and exits non-zero when any difference exceeds --tol (default
1e-5) or a continuation differs. The differences left (about 1e-7 of the scale, 1e-6 on long-range
scaled RoPE) are transformers', which computes RoPE angles in float32 even for float64 models, and
the goldens' float32 storage.

As a library (scripts in tools/goldens import it):

    from llama_f64 import Model
    m = Model("assets/brown-llama-12l")
    logits = m.logits([0, 331, 492], layers=[0, 1, 2, 3, 2, 3, 4, ...])  # [n_tokens, vocab] float64
    hidden = m.residuals(tokens)  # [n_instances + 1, n_tokens, hidden]: the stream entering each
                                  # instance, then the one leaving the last (before the final norm)
    nll, count = m.perplexity(token_ids, ctx=256, bos=0, layers=...)  # encore's windowing
    ids = m.greedy(prompt, n_new=32, layers=..., eos_ids=(1,))
Requires only numpy (Debian's python3-numpy).
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np


# ---------------------------------------------------------------------------------------------
# safetensors


def _decode(raw, dtype, shape):
    if dtype == "F32":
        arr = np.frombuffer(raw, dtype="<f4")
    elif dtype == "F16":
        arr = np.frombuffer(raw, dtype="<f2")
    elif dtype == "BF16":
        bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
        arr = bits.view(np.float32)
    elif dtype == "F64":
        arr = np.frombuffer(raw, dtype="<f8")
    else:
        raise ValueError(f"unsupported safetensors dtype {dtype}")
    return arr.astype(np.float64).reshape(shape)


def read_safetensors(path):
    """All tensors of one .safetensors file as float64 arrays, by name."""
    with open(path, "rb") as f:
        data = f.read()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + header_len])
    base = 8 + header_len
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = _decode(data[base + begin:base + end], info["dtype"], info["shape"])
    return out


def read_checkpoint(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            files = sorted(set(json.load(f)["weight_map"].values()))
    else:
        files = ["model.safetensors"]
    tensors = {}
    for name in files:
        tensors.update(read_safetensors(os.path.join(model_dir, name)))
    return tensors


# ---------------------------------------------------------------------------------------------
# config and RoPE


def rope_inv_freq(cfg, head_dim):
    """inv_freq[head_dim / 2] after the checkpoint's RoPE scaling."""
    params = cfg.get("rope_parameters") or cfg.get("rope_scaling") or {}
    theta = params.get("rope_theta", cfg.get("rope_theta", 10000.0))
    kind = params.get("rope_type", params.get("type", "default"))
    inv_freq = 1.0 / theta ** (np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / params["factor"]
    if kind == "llama3":
        factor = params["factor"]
        low, high = params["low_freq_factor"], params["high_freq_factor"]
        old_ctx = params["original_max_position_embeddings"]
        wavelen = 2 * math.pi / inv_freq
        scaled = np.where(wavelen > old_ctx / low, inv_freq / factor, inv_freq)
        smooth = (old_ctx / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = (wavelen >= old_ctx / high) & (wavelen <= old_ctx / low)
        return np.where(medium, smoothed, scaled)
    raise ValueError(f"rope type {kind!r} is not covered by this reference")


def rms_norm(x, weight, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rotate(x, positions, inv_freq):
    """HF rotate_half RoPE over x[n, heads, head_dim]."""
    angles = positions[:, None].astype(np.float64) * inv_freq[None, :]  # [n, head_dim / 2]
    cos = np.cos(np.concatenate([angles, angles], axis=-1))[:, None, :]
    sin = np.sin(np.concatenate([angles, angles], axis=-1))[:, None, :]
    half = x.shape[-1] // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


# ---------------------------------------------------------------------------------------------
# the model


class Model:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.cfg = cfg = json.load(f)
        self.t = read_checkpoint(model_dir)
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv_heads = cfg.get("num_key_value_heads", self.n_heads)
        self.hidden = cfg["hidden_size"]
        self.head_dim = cfg.get("head_dim") or self.hidden // self.n_heads
        self.eps = cfg["rms_norm_eps"]
        self.inv_freq = rope_inv_freq(cfg, self.head_dim)
        self.qk_norm = cfg["model_type"] == "qwen3"
        self.embed = self.t["model.embed_tokens.weight"]
        self.lm_head = self.t.get("lm_head.weight", self.embed)

    def _w(self, il, name):
        return self.t.get(f"model.layers.{il}.{name}")

    def _layer(self, il, x, positions):
        """One decoder layer (weights of layer il) over the whole token list, causal."""
        n = x.shape[0]
        h = rms_norm(x, self._w(il, "input_layernorm.weight"), self.eps)
        proj = {}
        for p in ("q", "k", "v"):
            y = h @ self._w(il, f"self_attn.{p}_proj.weight").T
            bias = self._w(il, f"self_attn.{p}_proj.bias")
            proj[p] = y + bias if bias is not None else y
        q = proj["q"].reshape(n, self.n_heads, self.head_dim)
        k = proj["k"].reshape(n, self.n_kv_heads, self.head_dim)
        v = proj["v"].reshape(n, self.n_kv_heads, self.head_dim)
        if self.qk_norm:
            q = rms_norm(q, self._w(il, "self_attn.q_norm.weight"), self.eps)
            k = rms_norm(k, self._w(il, "self_attn.k_norm.weight"), self.eps)
        q = rotate(q, positions, self.inv_freq)
        k = rotate(k, positions, self.inv_freq)
        group = self.n_heads // self.n_kv_heads
        k = np.repeat(k, group, axis=1)  # [n, n_heads, head_dim]
        v = np.repeat(v, group, axis=1)
        scores = np.einsum("qhd,khd->hqk", q, k) / math.sqrt(self.head_dim)  # [heads, n, n]
        scores = scores + np.triu(np.full((n, n), -np.inf), k=1)[None]
        scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
        scores /= scores.sum(axis=-1, keepdims=True)
        attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, self.n_heads * self.head_dim)
        x = x + attn @ self._w(il, "self_attn.o_proj.weight").T
        h = rms_norm(x, self._w(il, "post_attention_layernorm.weight"), self.eps)
        gate = h @ self._w(il, "mlp.gate_proj.weight").T
        up = h @ self._w(il, "mlp.up_proj.weight").T
        act = gate / (1.0 + np.exp(-gate)) * up
        return x + act @ self._w(il, "mlp.down_proj.weight").T

    def residuals(self, tokens, layers=None):
        """[n_instances + 1, n_tokens, hidden]: the residual stream entering each instance, then
        the one leaving the last instance (before the final norm)."""
        layers = list(range(self.n_layers)) if layers is None else list(layers)
        positions = np.arange(len(tokens))
        x = self.embed[np.asarray(tokens)]
        out = [x]
        for il in layers:
            x = self._layer(il, x, positions)
            out.append(x)
        return np.stack(out)

    def logits(self, tokens, layers=None):
        """[n_tokens, vocab] float64 logits of every position."""
        x = self.residuals(tokens, layers)[-1]
        return rms_norm(x, self.t["model.norm.weight"], self.eps) @ self.lm_head.T

    def log_softmax(self, tokens, layers=None):
        z = self.logits(tokens, layers)
        z = z - z.max(axis=-1, keepdims=True)
        return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))

    def greedy(self, prompt, n_new, layers=None, eos_ids=()):
        ids = list(prompt)
        for _ in range(n_new):
            nxt = int(np.argmax(self.logits(ids, layers)[-1]))
            ids.append(nxt)
            if nxt in eos_ids:
                break
        return ids[len(prompt):]

    def perplexity(self, tokens, ctx, bos, layers=None, max_windows=None):
        """encore's windowing: the tokens (no BOS) in chunks of ctx - 1, each evaluated as
        [BOS] + chunk, every chunk token predicted. Returns (nll, count, per-window nll list)."""
        step = ctx - 1
        windows = [[bos] + list(tokens[i:i + step]) for i in range(0, len(tokens), step)]
        if max_windows is not None:
            windows = windows[:max_windows]
        per_window = []
        for w in windows:
            lp = self.log_softmax(w, layers)
            per_window.append(-float(sum(lp[i, w[i + 1]] for i in range(len(w) - 1))))
        return sum(per_window), sum(len(w) - 1 for w in windows), per_window


# ---------------------------------------------------------------------------------------------
# self-check against the transformers goldens


def check(goldens_root, tol, brown_dir):
    worst = 0.0
    for name in sorted(os.listdir(goldens_root)):
        variant = os.path.join(goldens_root, name)
        golden_path = os.path.join(variant, "golden.json")
        if not os.path.exists(golden_path):
            continue
        model_dir = variant if os.path.exists(os.path.join(variant, "config.json")) else brown_dir
        with open(golden_path) as f:
            golden = json.load(f)
        model = Model(model_dir)
        expected = read_safetensors(os.path.join(variant, "logits.safetensors"))
        for plan, info in golden["plans"].items():
            ref = expected["logits." + plan]
            got = model.logits(golden["tokens"], info["layers"])
            err = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
            greedy = model.greedy(golden["greedy_prompt"], len(info["greedy"]), info["layers"])
            # The brown goldens stop at EOS; compare the common length.
            same_greedy = greedy[:len(info["greedy"])] == info["greedy"]
            worst = max(worst, err)
            status = "ok" if err <= tol and same_greedy else "FAIL"
            print(f"{name:26s} {plan:14s} max|diff|/scale {err:.2e}  greedy "
                  f"{'same' if same_greedy else 'DIFFERENT'}  {status}")
            if status != "ok":
                return 1
    print(f"worst relative logit error {worst:.2e} (tolerance {tol:.0e})")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", metavar="GOLDENS_DIR", help="compare with transformers goldens")
    ap.add_argument("--brown", default="assets/brown-llama-12l",
                    help="model directory of the goldens' brown/ entry")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--model", help="print the last row's top logits of --tokens on this model")
    ap.add_argument("--tokens", default="")
    ap.add_argument("--layers", default="", help="comma-separated weight-layer indices")
    args = ap.parse_args()
    if args.check:
        return check(args.check, args.tol, args.brown)
    if args.model:
        model = Model(args.model)
        tokens = [int(t) for t in args.tokens.split(",") if t]
        layers = [int(t) for t in args.layers.split(",") if t] or None
        z = model.logits(tokens, layers)[-1]
        top = np.argsort(-z)[:10]
        print(json.dumps({"top": [[int(i), float(z[i])] for i in top]}))
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
