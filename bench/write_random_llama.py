#!/usr/bin/env python3
"""Writes a random-weight model of the Llama-3-8B shape as a Hugging Face directory (bf16
safetensors in shards, config.json) with the Llama-3 tokenizer of tests/data/tokenizers, for
GPU benchmarks that need a model on disk (bench/rys_sweep_8b.sh). Weights come from
transformers' own initialization on the GPU (seed 0); nothing is downloaded.

  python3 bench/write_random_llama.py OUT_DIR [--layers 32]
"""
import argparse
import gzip
import os
import shutil

import torch
import transformers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--layers", type=int, default=32)
    args = ap.parse_args()
    config = transformers.LlamaConfig(
        vocab_size=128256, hidden_size=4096, intermediate_size=14336,
        num_hidden_layers=args.layers, num_attention_heads=32, num_key_value_heads=8, head_dim=128,
        max_position_embeddings=131072, rms_norm_eps=1e-5, rope_theta=500000.0,
        tie_word_embeddings=False, bos_token_id=128000, eos_token_id=128001,
        rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                      "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = transformers.LlamaForCausalLM(config).to(torch.bfloat16)
    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True, max_shard_size="5GB")
    tok_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data",
                           "tokenizers", "llama3")
    with gzip.open(os.path.join(tok_dir, "tokenizer.json.gz"), "rb") as src, \
            open(os.path.join(args.out, "tokenizer.json"), "wb") as dst:
        shutil.copyfileobj(src, dst)
    shutil.copy(os.path.join(tok_dir, "tokenizer_config.json"), args.out)
    print(f"wrote {args.out}: {args.layers} layers, "
          f"{sum(p.numel() for p in model.parameters()) / 1e9:.2f}B parameters")


if __name__ == "__main__":
    main()
