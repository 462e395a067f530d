#!/usr/bin/env bash
# `encore export` read by independent readers: the HF export of RYS plans loaded by the float64
# numpy reference (tools/goldens/llama_f64.py) gives the logits of the plan on the original
# (and encore's logits on the export equal encore's --layers logits on the original, bitwise);
# the GGUF export parsed by @huggingface/gguf has one block per instance whose tensors are
# byte for byte those of the source layer in a plain conversion; the mergekit YAML read back by
# --layers is the same plan.
# Usage: tests/extra/sweep_export.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
encore="$build_dir/encore"
model=assets/brown-llama-12l
die() { echo "sweep_export: FAILED: $*" >&2; exit 1; }
[ -x "$encore" ] || die "$encore is not built"
if [ ! -d tests/gguf_js/node_modules/@huggingface/gguf ]; then
  npm ci --prefix tests/gguf_js --no-audit --no-fund >/dev/null || die "npm ci in tests/gguf_js"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
tokens=0,331,492,618,268,3866,481,3448,497,1141,562,1321,3913

"$encore" convert -m "$model" -o "$tmp/plain.gguf" --type bf16 2>/dev/null
for spec in "rys:4,8" "rys:2,5;7,9"; do
  name=$(echo "$spec" | tr -c 'a-z0-9\n' '_')
  "$encore" export -m "$model" --layers "$spec" -o "$tmp/$name" --format hf 2>/dev/null
  "$encore" export -m "$model" --layers "$spec" -o "$tmp/$name.gguf" --format gguf 2>/dev/null
  "$encore" export -m "$model" --layers "$spec" -o "$tmp/$name.yaml" --format mergekit 2>/dev/null
  "$encore" logits -m "$model" --layers "$spec" --tokens $tokens -o "$tmp/$name.plan.safetensors"
  "$encore" logits -m "$tmp/$name" --tokens $tokens -o "$tmp/$name.hf.safetensors"
  "$encore" logits -m "$tmp/$name.gguf" --tokens $tokens -o "$tmp/$name.gguf.safetensors"
  # Bitwise: the logits tensors' bytes (the files' metadata name the model and plan).
  for form in hf gguf; do
    /usr/bin/python3 - "$tmp/$name.plan.safetensors" "$tmp/$name.$form.safetensors" <<'PY' ||
import json, struct, sys
def data(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    info = json.loads(raw[8:8 + n])["logits"]
    begin, end = info["data_offsets"]
    return info["shape"], raw[8 + n + begin:8 + n + end]
sys.exit(0 if data(sys.argv[1]) == data(sys.argv[2]) else 1)
PY
      die "$spec: logits of the $form export differ from --layers on the original"
  done

  # The numpy reference reads the export with its own safetensors and config parsing.
  /usr/bin/python3 - "$tmp/$name" "$tmp/$name.plan.safetensors" "$tokens" "$spec" <<'PY' ||
import sys
sys.path.insert(0, "tools/goldens")
import numpy as np
from llama_f64 import Model, read_safetensors
export_dir, encore_logits, tokens, spec = sys.argv[1:]
tokens = [int(t) for t in tokens.split(",")]
ref = Model(export_dir).logits(tokens)  # the export as a plain model
got = read_safetensors(encore_logits)["logits"]
err = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
print(f"sweep_export: {spec}: numpy reference on the HF export vs encore --layers: {err:.2e} of the logit scale")
sys.exit(0 if err < 1e-4 else 1)
PY
    die "$spec: the numpy reference disagrees with encore on the HF export"

  node --input-type=module - "$tmp/$name.gguf" "$tmp/plain.gguf" "$spec" <<'JS' ||
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
// The parser installed for tests/gguf_js (resolved from there: this script runs from stdin).
const { gguf } = await import(pathToFileURL(
  path.resolve("tests/gguf_js/node_modules/@huggingface/gguf/dist/index.mjs")).href);
const [exported, plain, spec] = process.argv.slice(2);
const layersOf = (s) => {  // the layer list of the specs used here
  const n = 12, blocks = s.slice(4).split(";").map((b) => b.split(",").map(Number));
  let out = [], from = 0;
  for (const [i, j] of blocks) { for (let l = from; l < j; l++) out.push(l); from = i; }
  for (let l = from; l < n; l++) out.push(l);
  return out;
};
const read = async (f) => {
  const r = await gguf(f, { allowLocalFile: true });
  const bytes = fs.readFileSync(f);
  const tensors = new Map(r.tensorInfos.map((t) => [t.name, t]));
  const data = (t) => {
    const next = r.tensorInfos.map((u) => Number(u.offset)).filter((o) => o > Number(t.offset));
    const end = next.length ? Math.min(...next) : bytes.length - Number(r.tensorDataOffset);
    return bytes.subarray(Number(r.tensorDataOffset) + Number(t.offset),
                          Number(r.tensorDataOffset) + end);
  };
  return { meta: r.metadata, tensors, data };
};
const e = await read(exported), p = await read(plain);
const layers = layersOf(spec), fails = [];
const arch = e.meta["general.architecture"];
if (Number(e.meta[`${arch}.block_count`]) !== layers.length)
  fails.push(`block_count ${e.meta[`${arch}.block_count`]}, want ${layers.length}`);
for (let k = 0; k < layers.length; k++)
  for (const [name, t] of p.tensors) {
    const m = name.match(/^blk\.(\d+)\.(.*)$/);
    if (!m || Number(m[1]) !== layers[k]) continue;
    const u = e.tensors.get(`blk.${k}.${m[2]}`);
    if (!u) { fails.push(`blk.${k}.${m[2]} missing`); continue; }
    if (u.type !== t.type || String(u.shape) !== String(t.shape)) fails.push(`blk.${k}.${m[2]} type/shape`);
    const a = e.data(u), b = p.data(t);
    const n = Math.min(a.length, b.length);  // padding after a tensor may differ
    if (!a.subarray(0, n).equals(b.subarray(0, n))) fails.push(`blk.${k}.${m[2]} data`);
  }
if (e.tensors.has(`blk.${layers.length}.attn_q.weight`)) fails.push("a block too many");
for (const f of fails) console.error(f);
if (fails.length) process.exit(1);
console.log(`sweep_export: ${spec}: @huggingface/gguf reads ${layers.length} blocks, each the source layer's bytes`);
JS
    die "$spec: @huggingface/gguf check of the GGUF export"

  want=$("$encore" info -m "$model" --layers "$spec" | grep -i "layer plan")
  got=$("$encore" info -m "$model" --layers "$tmp/$name.yaml" | grep -i "layer plan")
  [ "$want" = "$got" ] || die "$spec: the mergekit YAML reads back as '$got', want '$want'"
done
echo "sweep_export: OK"
