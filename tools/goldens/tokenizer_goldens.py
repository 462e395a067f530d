#!/usr/bin/env python3
"""Reference token ids and decodings for encore's tokenizer tests, computed by Hugging Face
`tokenizers` (the Rust library behind transformers).

Runs on a machine with the `tokenizers` Python package (the GPU machine), from the repository
root, no arguments needed:
    python3 tools/goldens/tokenizer_goldens.py [--out tests/data/goldens/tokenizer]

Inputs: tests/data/tokenizer_corpus.jsonl (one {"text": ...} per line, made by
make_tokenizer_corpus.py) and the tokenizers
    llama2, llama3, qwen3: tests/data/tokenizers/<name>/tokenizer.json.gz
    brown:                 assets/brown-llama-12l/tokenizer.json

Outputs in the output folder:
  <name>.jsonl         one line per corpus string, same order as the corpus:
                         {"a": encode(text, add_special_tokens=True).ids,
                          "n": encode(text, add_special_tokens=False).ids,
                          "d": decode(n, skip_special_tokens=False),
                          "s": decode(a, skip_special_tokens=True)}
  <name>.decode.jsonl  decodings of id lists that are not encodings of any text (random ids,
                       lone byte tokens, cut multi-byte sequences: invalid UTF-8 in the middle,
                       replaced by U+FFFD), one line per list:
                         {"ids": [...], "d": decode(ids, False), "s": decode(ids, True)}
  <name>.meta.json     vocabulary sizes and a few token <-> id facts
  VERSION              the tokenizers version (and Python version) that made the files
  variants/<v>.json    a variant tokenizer: {"base": <name>, "patch": {top-level tokenizer.json
                       keys replaced in the base}}; variants exercise components and options the
                       four real files do not use (added-token lstrip/rstrip/single_word/normalized,
                       NFKC/NFD/Lowercase/Strip/regex Replace normalizers, ByteLevel with the GPT-2
                       regex and prefix space, Split behaviors, Digits, WhitespaceSplit, Metaspace,
                       post-processor sequences)
  variants/<v>.jsonl   for the corpus and a few extra strings aimed at the variants, one line
                       per string: the <name>.jsonl record plus the text itself ("t")
"""
import argparse
import gzip
import json
import os
import platform
import random
import sys

import tokenizers
from tokenizers import Tokenizer

CORPUS = os.path.join("tests", "data", "tokenizer_corpus.jsonl")
TOKENIZERS = {
    "llama2": os.path.join("tests", "data", "tokenizers", "llama2", "tokenizer.json.gz"),
    "llama3": os.path.join("tests", "data", "tokenizers", "llama3", "tokenizer.json.gz"),
    "qwen3": os.path.join("tests", "data", "tokenizers", "qwen3", "tokenizer.json.gz"),
    "brown": os.path.join("assets", "brown-llama-12l", "tokenizer.json"),
}


def load_tokenizer(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return Tokenizer.from_str(f.read().decode("utf-8"))
    with open(path, "r", encoding="utf-8") as f:
        return Tokenizer.from_str(f.read())


def load_corpus():
    with open(CORPUS, "r", encoding="utf-8", newline="") as f:
        data = f.read()
    lines = data.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [json.loads(line)["text"] for line in lines]


def dump(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def decode_vectors(tok, corpus_ids, seed):
    """Id lists whose decoding exercises invalid UTF-8 and special-token skipping."""
    rng = random.Random(seed)
    n_vocab = tok.get_vocab_size(with_added_tokens=True)
    vocab = tok.get_vocab(with_added_tokens=True)
    valid_ids = sorted(vocab.values())
    lists = []
    # Random ids anywhere in the vocabulary (often cut UTF-8 sequences).
    for n in [1, 2, 3, 5, 8, 13, 21, 40]:
        for _ in range(4):
            lists.append([rng.choice(valid_ids) for _ in range(n)])
    # Every added token alone and between two ordinary ids.
    added = sorted(tok.get_added_tokens_decoder().keys()) if hasattr(
        tok, "get_added_tokens_decoder") else []
    for i in added[:40]:
        lists.append([i])
        lists.append([rng.choice(valid_ids), i, rng.choice(valid_ids)])
    # Byte tokens (<0xNN> for SentencePiece style) alone, in valid and invalid orders.
    byte_ids = [vocab[f"<0x{b:02X}>"] for b in range(256) if f"<0x{b:02X}>" in vocab]
    if byte_ids:
        for b in [0x41, 0x0A, 0x80, 0xBF, 0xC3, 0xE2, 0xF0, 0xFF]:
            lists.append([byte_ids[b]])
        lists.append([byte_ids[0xE2], byte_ids[0x82], byte_ids[0xAC]])   # valid: euro sign
        lists.append([byte_ids[0xE2], byte_ids[0x82]])                   # cut
        lists.append([byte_ids[0xE2], byte_ids[0x41], byte_ids[0xAC]])   # broken
        lists.append([byte_ids[0xF0], byte_ids[0x9F], byte_ids[0x98], byte_ids[0x80]])
        lists.append([byte_ids[0xF0], byte_ids[0x9F], byte_ids[0x98]])
        lists.append([byte_ids[0xED], byte_ids[0xA0], byte_ids[0x80]])   # surrogate
        lists.append([byte_ids[0xC0], byte_ids[0x80]])                   # overlong
        lists.append([byte_ids[0xF4], byte_ids[0x90], byte_ids[0x80], byte_ids[0x80]])
        for _ in range(20):
            lists.append([rng.choice(byte_ids) for _ in range(rng.randint(1, 8))])
    # Prefixes of real encodings cut in the middle of multi-byte characters.
    for ids in corpus_ids:
        if len(ids) >= 3 and rng.random() < 0.15:
            cut = rng.randint(1, len(ids) - 1)
            lists.append(ids[:cut])
            lists.append(ids[cut:])
    del n_vocab
    out = []
    for ids in lists:
        out.append({"ids": ids, "d": tok.decode(ids, skip_special_tokens=False),
                    "s": tok.decode(ids, skip_special_tokens=True)})
    return out

def added(id_, content, special=False, single_word=False, lstrip=False, rstrip=False,
          normalized=False):
    return {"id": id_, "content": content, "single_word": single_word, "lstrip": lstrip,
            "rstrip": rstrip, "normalized": normalized, "special": special}


def byte_level_pre(add_prefix_space=False, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True,
            "use_regex": use_regex}


def template(bos, bos_id, eos=None, eos_id=None):
    single = [{"SpecialToken": {"id": bos, "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}]
    special = {bos: {"id": bos, "ids": [bos_id], "tokens": [bos]}}
    if eos is not None:
        single.append({"SpecialToken": {"id": eos, "type_id": 0}})
        special[eos] = {"id": eos, "ids": [eos_id], "tokens": [eos]}
    return {"type": "TemplateProcessing", "single": single, "pair": single,
            "special_tokens": special}


BROWN_ADDED = [added(0, "<|begin_of_text|>", special=True), added(1, "<|end_of_text|>", special=True)]
SP_DECODER = {"type": "Sequence", "decoders": [
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "ByteFallback"}, {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}

VARIANTS = {
    # Added tokens with every matching option, matched before an NFKC + Lowercase normalizer.
    "brown_flags": ("brown", {
        "added_tokens": BROWN_ADDED + [
            added(4096, "<lx>", lstrip=True),
            added(4097, "<rx>", special=True, rstrip=True),
            added(4098, "word", single_word=True),
            added(4099, "<both>", special=True, lstrip=True, rstrip=True),
            added(4100, "h\u00e9llo", normalized=True),
            added(4101, "\ufb01ne", normalized=True),
            added(4102, "the", single_word=True, normalized=True),
            added(4103, "<s>", special=True, single_word=True, lstrip=True),
        ],
        "normalizer": {"type": "Sequence", "normalizers": [{"type": "NFKC"},
                                                           {"type": "Lowercase"}]},
    }),
    # GPT-2 style: ByteLevel with its own regex and a prefix space; NFD, regex Replace and Strip
    # normalizers; BOS and EOS from a Sequence of post-processors.
    "brown_gpt2": ("brown", {
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "NFD"},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "},
            {"type": "Strip", "strip_left": True, "strip_right": True}]},
        "pre_tokenizer": byte_level_pre(add_prefix_space=True, use_regex=True),
        "post_processor": {"type": "Sequence", "processors": [
            {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False,
             "use_regex": True},
            template("<|begin_of_text|>", 0, "<|end_of_text|>", 1)]},
    }),
    # Split behaviors MergedWithPrevious / MergedWithNext / Removed, Digits one by one.
    "brown_split_a": ("brown", {
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"String": "."}, "behavior": "MergedWithPrevious",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "[,;]"}, "behavior": "MergedWithNext",
             "invert": False},
            {"type": "Split", "pattern": {"Regex": "\\s"}, "behavior": "Removed", "invert": False},
            {"type": "Digits", "individual_digits": True},
            byte_level_pre()]},
    }),
    # WhitespaceSplit, an inverted Contiguous split, Digits grouped.
    "brown_split_b": ("brown", {
        "pre_tokenizer": {"type": "Sequence", "pretokenizers": [
            {"type": "WhitespaceSplit"},
            {"type": "Split", "pattern": {"Regex": "\\p{L}+"}, "behavior": "Contiguous",
             "invert": True},
            {"type": "Digits", "individual_digits": False},
            byte_level_pre()]},
    }),
    # SentencePiece through the Metaspace pre-tokenizer: prefix only at the start of the text,
    # words split at the metaspace; Metaspace decoder.
    "llama2_metaspace_first": ("llama2", {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "first", "split": True},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first",
             "split": True},
            {"type": "ByteFallback"}, {"type": "Fuse"}]},
    }),
    # Metaspace always prepending, no split, with EOS appended.
    "llama2_metaspace_always": ("llama2", {
        "normalizer": None,
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": False},
        "post_processor": template("<s>", 1, "</s>", 2),
        "decoder": SP_DECODER,
    }),
}


# Extra strings for the variants (with the corpus), aimed at their added tokens and components.
VARIANT_TEXTS = [
    "a <lx> b", "a  <lx>b", "<lx>", "x<lx>", " \t<lx> ", "a<rx>   b", "<rx>\n\nnext", "<rx>",
    "  <both>  x", "<both><both>", "a <both>\tb",
    "word", "wordy word sword word.", "word's (word) word,word", "a word\u00a0word b",
    "H\u00c9LLO H\u00e9llo he\u0301llo hello", "\ufb01ne fine FINE \uff26\uff29\uff2e\uff25",
    "<s>x <s> y", " <s> ", "the them bathe THE The the.", "<S> <s>", "<|begin_of_text|>the",
    "12 345 6789 1,234.56", "a.b.c ... x,y;z , ; .", "   spaced   out   text   ",
    "\u2581\u2581 double metaspace \u2581x", "first <s> second </s> third",
]


def load_json(path):
    if path.endswith(".gz"):
        with gzip.open(path, "rb") as f:
            return json.loads(f.read().decode("utf-8"))
    with open(path, "r", encoding="utf-8") as f:
        return json.load(f)


def write_variants(out_dir, corpus):
    vdir = os.path.join(out_dir, "variants")
    os.makedirs(vdir, exist_ok=True)
    for vname, (base, patch) in VARIANTS.items():
        doc = load_json(TOKENIZERS[base])
        doc.update(patch)
        tok = Tokenizer.from_str(json.dumps(doc))
        with open(os.path.join(vdir, f"{vname}.json"), "w", encoding="utf-8") as f:
            json.dump({"base": base, "patch": patch}, f, ensure_ascii=False, indent=1)
        lines = []
        for text in corpus + VARIANT_TEXTS:
            a = tok.encode(text, add_special_tokens=True).ids
            n = tok.encode(text, add_special_tokens=False).ids
            lines.append(dump({"t": text, "a": a, "n": n,
                               "d": tok.decode(n, skip_special_tokens=False),
                               "s": tok.decode(a, skip_special_tokens=True)}))
        with open(os.path.join(vdir, f"{vname}.jsonl"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write("\n".join(lines) + "\n")
        print(f"variant {vname}: {len(lines)} lines")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=os.path.join("tests", "data", "goldens", "tokenizer"))
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    corpus = load_corpus()
    print(f"{len(corpus)} corpus strings")
    for seed, (name, path) in enumerate(TOKENIZERS.items()):
        tok = load_tokenizer(path)
        lines = []
        corpus_ids = []
        for text in corpus:
            a = tok.encode(text, add_special_tokens=True).ids
            n = tok.encode(text, add_special_tokens=False).ids
            lines.append(dump({"a": a, "n": n,
                               "d": tok.decode(n, skip_special_tokens=False),
                               "s": tok.decode(a, skip_special_tokens=True)}))
            corpus_ids.append(n)
        with open(os.path.join(args.out, f"{name}.jsonl"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write("\n".join(lines) + "\n")

        vectors = decode_vectors(tok, corpus_ids, 1000 + seed)
        with open(os.path.join(args.out, f"{name}.decode.jsonl"), "w", encoding="utf-8",
                  newline="\n") as f:
            f.write("\n".join(dump(v) for v in vectors) + "\n")

        vocab = tok.get_vocab(with_added_tokens=True)
        probes = ["Hello", "\u2581Hello", "<s>", "</s>", "<unk>", "<|begin_of_text|>",
                  "<|end_of_text|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>", "<0x41>",
                  "\u0120the", "the", "a", "<think>"]
        meta = {
            "vocab_size_with_added": tok.get_vocab_size(with_added_tokens=True),
            "vocab_size_without_added": tok.get_vocab_size(with_added_tokens=False),
            "max_id": max(vocab.values()),
            "token_to_id": {p: tok.token_to_id(p) for p in probes},
            "id_to_token": {str(i): tok.id_to_token(i) for i in [0, 1, 2, 3, 100, 1000]},
        }
        with open(os.path.join(args.out, f"{name}.meta.json"), "w", encoding="utf-8") as f:
            json.dump(meta, f, ensure_ascii=False, indent=1)
        size = sum(len(line) for line in lines)
        print(f"{name}: {len(lines)} lines ({size} chars), {len(vectors)} decode vectors")

    write_variants(args.out, corpus)

    with open(os.path.join(args.out, "VERSION"), "w", encoding="utf-8") as f:
        f.write(f"tokenizers {tokenizers.__version__}\n")
        f.write(f"python {platform.python_version()} ({sys.platform})\n")


if __name__ == "__main__":
    main()
