#!/usr/bin/env python3
"""Goldens of `encore score`: label log-probabilities of small rubrics, computed independently of
encore's forward pass and of its label arithmetic.

- Forward pass: tools/goldens/llama_f64.py (float64 numpy, itself checked against transformers).
- Label tokens in context, written here from the rule alone: the context's trailing whitespace
  moves to the label, and the label's tokens are encode(context + label) after encode(context),
  which must be a prefix. Token ids of texts come from `encore tokenize` (the tokenizer is
  verified against Hugging Face tokenizers elsewhere); nothing else of encore is used.
- Chat rubrics: the model's chat template rendered with jinja2 (as transformers renders it) over
  the whole user turn of each item, not split around the item as encore does.
- A label's log-probability: the sum over its tokens of log softmax(logits)[token], each row
  the one after the previous tokens, in float64.

Cases: the bundled model (byte-level BPE) and a tiny random Llama with the Llama 2 SentencePiece
vocabulary (tests/data/score/tiny_sp, made by --make-tiny: 32000 tokens, hidden 32, 2 layers,
bf16), each with single-token letters and multi-token word labels, and a chat rubric on the tiny
model (Llama 2 chat template). Writes tests/data/score/goldens.json, read by
tests/score/score_goldens_test.cpp (label log-probabilities within 1e-4, label tokens equal).

Usage (from the repository root, encore built):
    /usr/bin/python3 tools/goldens/score_goldens.py [--encore build/encore] [--make-tiny]
"""
import argparse
import json
import os
import subprocess
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from llama_f64 import Model  # noqa: E402

BROWN = "assets/brown-llama-12l"
TINY = "tests/data/score/tiny_sp"
SP_TOKENIZER = "tests/data/tokenizers/llama2/tokenizer.json.gz"
LLAMA2_CHAT = "tests/data/chat/templates/llama-2-chat.jinja"
OUT = "tests/data/score/goldens.json"


def make_tiny(path):
    """A random Llama with the Llama 2 vocabulary, stored in bf16 (tied embeddings)."""
    os.makedirs(path, exist_ok=True)
    cfg = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 32000,
           "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
           "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-5,
           "rope_theta": 10000.0, "max_position_embeddings": 512, "tie_word_embeddings": True,
           "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu", "torch_dtype": "bfloat16"}
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    rng = np.random.default_rng(12)
    d, ff, kvd = 32, 64, 16
    # Embeddings (tied: also the output head) of std 0.3 keep the logits within a few units, where
    # float32 and float64 agree to well below 1e-4.
    tensors = {"model.embed_tokens.weight": rng.normal(0, 0.3, (32000, d)),
               "model.norm.weight": 1 + 0.1 * rng.normal(0, 1, d)}
    for i in range(2):
        p = f"model.layers.{i}."
        for name, shape in [("self_attn.q_proj", (d, d)), ("self_attn.k_proj", (kvd, d)),
                            ("self_attn.v_proj", (kvd, d)), ("self_attn.o_proj", (d, d)),
                            ("mlp.gate_proj", (ff, d)), ("mlp.up_proj", (ff, d)),
                            ("mlp.down_proj", (d, ff))]:
            tensors[p + name + ".weight"] = rng.normal(0, 1 / np.sqrt(shape[1]), shape)
        tensors[p + "input_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, d)
        tensors[p + "post_attention_layernorm.weight"] = 1 + 0.1 * rng.normal(0, 1, d)
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        bits = tensors[name].astype(np.float32).view(np.uint32).astype(np.uint64)
        bf16 = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype("<u2")  # round to nearest even
        raw = bf16.tobytes()
        header[name] = {"dtype": "BF16", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(path, "model.safetensors"), "wb") as f:
        f.write(len(head).to_bytes(8, "little") + head + b"".join(blobs))


class Tok:
    def __init__(self, encore, model_or_tokenizer):
        self.encore = encore
        self.arg = (["--tokenizer", model_or_tokenizer] if model_or_tokenizer.endswith(".gz")
                    else ["-m", model_or_tokenizer])
        self.cache = {}

    def ids(self, text, special):
        key = (text, special)
        if key not in self.cache:
            cmd = [self.encore, "tokenize", *self.arg, "--text", text]
            if not special:
                cmd.append("--no-special")
            out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
            self.cache[key] = json.loads(out)["ids"]
        return self.cache[key]


def split_ws(text):
    kept = text.rstrip(" \t\n\r")
    return kept, text[len(kept):]


def label_tokens(tok, context, label):
    kept, moved = split_ws(context)
    ctx = tok.ids(kept, False)
    whole = tok.ids(kept + moved + label, False)
    assert whole[:len(ctx)] == ctx and len(whole) > len(ctx), (context, label)
    return whole[len(ctx):]


def fill(template, record):
    out, i = "", 0
    while i < len(template):
        c = template[i]
        if template[i:i + 2] in ("{{", "}}"):
            out += c
            i += 2
        elif c == "{":
            j = template.index("}", i)
            v = record[template[i + 1:j]]
            out += v if isinstance(v, str) else json.dumps(v)
            i = j + 1
        else:
            out += c
            i += 1
    return out


def render_chat(template_path, user_text):
    import jinja2
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(msg):
        raise jinja2.TemplateError(msg)

    env.globals["raise_exception"] = raise_exception
    with open(template_path) as f:
        tmpl = env.from_string(f.read())
    return tmpl.render(messages=[{"role": "user", "content": user_text}],
                       add_generation_prompt=True, bos_token="<s>", eos_token="</s>")


def log_softmax(row):
    top = row.max()
    return row - (top + np.log(np.exp(row - top).sum()))


def score_case(case, model, tok):
    """Per item, per criterion: the labels' log-probabilities and tokens."""
    rubric = case["rubric_spec"]
    results, tokens_out = [], []
    for record in case["items"]:
        per_criterion = []
        for crit in rubric["criteria"]:
            item = fill(crit["template"], record)
            if rubric.get("chat"):
                text = render_chat(case["chat_template"], crit["prefix"] + item) + crit["cue"]
                kept, _ = split_ws(text)
                prompt = tok.ids(kept, False)
                label_ctx = text
            else:
                text = crit["prefix"] + item + crit["cue"]
                kept, _ = split_ws(text)
                prompt = tok.ids(kept, True)
                label_ctx = text
            lps, toks = [], []
            for label in crit["labels"]:
                lt = label_tokens(tok, label_ctx, label)
                logits = model.logits(prompt + lt[:-1])  # [n, vocab] float64
                lp = 0.0
                for j, t in enumerate(lt):
                    lp += log_softmax(logits[len(prompt) - 1 + j])[t]
                lps.append(lp)
                toks.append(lt)
            per_criterion.append(lps)
            if len(tokens_out) < len(rubric["criteria"]):
                tokens_out.append(toks)
        results.append(per_criterion)
    return results, tokens_out


STORIES = [
    {"id": "s1", "story": "The jury said the election was conducted fairly."},
    {"id": "s2", "story": "It was a fine day for the county, and the farmers were glad of rain."},
    {"id": 3, "story": "when if the but so then of because which"},
]


def rubric_yaml(spec):
    """The rubric as a file encore reads (JSON is YAML)."""
    out = {"version": 1, "criteria": [
        {"name": c["name"], "prefix": c["prefix"], "template": c["template"], "cue": c["cue"],
         "labels": c["labels"]} for c in spec["criteria"]]}
    if spec.get("chat"):
        out["chat"] = True
    return json.dumps(out, indent=1)


def cases():
    few_shot = ("Each passage is rated from A (poor) to E (excellent).\n\n"
                "Passage: The committee approved the budget.\nRating: D\n\n")
    letters = {"name": "craft", "prefix": few_shot, "template": "Passage: {story}\n",
               "cue": "Rating:", "labels": [" A", " B", " C", " D", " E"]}
    words = {"name": "tone", "prefix": "Describe the tone of each passage in one word.\n\n",
             "template": "Passage: {story}\n", "cue": "Tone: ",
             "labels": ["cheerful", "gloomy", "matter-of-fact", "bureaucratic"]}
    chat = {"name": "score", "prefix": "Rate the story from A (poor) to E (excellent).\n\n",
            "template": "Story: {story}", "cue": " Rating:",
            "labels": [" A", " B", " C", " D", " E"]}
    chat_words = {"name": "tone", "prefix": "Describe the tone of the story in one word.\n\n",
                  "template": "Story: {story}", "cue": " Tone:",
                  "labels": [" cheerful", " gloomy", " matter-of-fact"]}
    return [
        {"name": "brown_letters_and_words", "model": BROWN, "tokenizer": BROWN,
         "rubric_spec": {"criteria": [letters, words]}, "items": STORIES},
        {"name": "sentencepiece_letters_and_words", "model": TINY, "tokenizer": SP_TOKENIZER,
         "rubric_spec": {"criteria": [letters, words]}, "items": STORIES},
        {"name": "sentencepiece_chat", "model": TINY, "tokenizer": SP_TOKENIZER,
         "chat_template": LLAMA2_CHAT, "rubric_spec": {"chat": True, "criteria": [chat, chat_words]},
         "items": STORIES},
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--encore", default="build/encore")
    ap.add_argument("--make-tiny", action="store_true", help=f"(re)make {TINY} first")
    args = ap.parse_args()
    if args.make_tiny:
        make_tiny(TINY)
    out = {"generator": "tools/goldens/score_goldens.py", "cases": []}
    models = {}
    for case in cases():
        if case["model"] not in models:
            models[case["model"]] = Model(case["model"])
        tok = Tok(args.encore, case["tokenizer"])
        expected, label_toks = score_case(case, models[case["model"]], tok)
        multi = any(len(t) > 1 for crit in label_toks for t in crit)
        assert multi, f"{case['name']}: no label of several tokens"
        entry = {"name": case["name"], "model": case["model"], "tokenizer": case["tokenizer"],
                 "chat_template": case.get("chat_template"),
                 "rubric": rubric_yaml(case["rubric_spec"]), "items": case["items"],
                 "label_tokens": label_toks, "logprobs": expected}
        out["cases"].append(entry)
        print(case["name"], "label tokens:", label_toks, file=sys.stderr)
    with open(OUT, "w") as f:
        json.dump(out, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
