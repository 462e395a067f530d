#!/usr/bin/env bash
# Independent check of encore's GGUF writer and reader: the formats test binary writes a sample
# GGUF file (every metadata type, every tensor type) with an expectation JSON, and
# @huggingface/gguf (a parser written independently of encore, tests/gguf_js/) must read exactly
# that. A deliberately wrong expectation must be rejected, so the checker is known to look.
# Usage: tests/extra/gguf_js.sh [build-dir]. Installs nothing beyond `npm ci` in tests/gguf_js.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."

die() { echo "gguf_js: FAILED: $*" >&2; exit 1; }

bin="$build_dir/encore_formats_tests"
[ -x "$bin" ] || die "$bin is not built"
command -v node >/dev/null || die "node is not installed"
if [ ! -d tests/gguf_js/node_modules/@huggingface/gguf ]; then
  npm ci --prefix tests/gguf_js --no-audit --no-fund >/dev/null || die "npm ci in tests/gguf_js"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if ! ENCORE_GGUF_SAMPLE_DIR="$tmp" "$bin" --gtest_filter='GgufSample.*' >"$tmp/gtest.log" 2>&1; then
  cat "$tmp/gtest.log" >&2
  die "writing the sample"
fi
[ -s "$tmp/sample.gguf" ] && [ -s "$tmp/sample.expect.json" ] || die "the sample was not written"

node tests/gguf_js/check.mjs "$tmp/sample.gguf" "$tmp/sample.expect.json" ||
  die "@huggingface/gguf disagrees with encore's sample"

# The checker must notice a wrong value, type, tensor shape, offset or data, and a missing key;
# the expectation rewritten unchanged must still pass (so each failure is the mutation's).
mutate() {
  node -e '
    const fs = require("fs");
    const e = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
    '"$1"';
    fs.writeFileSync(process.argv[2], JSON.stringify(e));
  ' "$tmp/sample.expect.json" "$tmp/mutated.json"
}
mutate ''
node tests/gguf_js/check.mjs "$tmp/sample.gguf" "$tmp/mutated.json" >/dev/null ||
  die "the rewritten expectation no longer matches"
for mutation in \
  'e.metadata["sample.u32"].value = 4294967294' \
  'e.metadata["sample.u64"].value = "18446744073709551614"' \
  'e.metadata["sample.f32"].value = 0.1' \
  'e.metadata["sample.i16"].type = "uint16"' \
  'e.metadata["tokenizer.ggml.tokens"].value[2] = "x"' \
  'e.metadata["sample.extra"] = {type: "uint8", value: 1}' \
  'delete e.metadata["general.name"]' \
  'e.tensors[0].ne = [32, 10]' \
  'e.tensors[1].offset += 32' \
  'e.tensors[2].type = 1' \
  'e.tensors[3].crc32 ^= 1' \
  'e.tensor_data_offset += 32'; do
  mutate "$mutation"
  if node tests/gguf_js/check.mjs "$tmp/sample.gguf" "$tmp/mutated.json" >/dev/null 2>&1; then
    die "the checker accepted a wrong expectation ($mutation)"
  fi
done
# A real conversion: the bundled model written by `encore convert`'s code path, checked against
# facts of the source checkpoint (names, shapes, types, data CRC32 of tensors stored unchanged).
e2e_bin="$build_dir/encore_e2e_tests"
[ -x "$e2e_bin" ] || die "$e2e_bin is not built"
if ! ENCORE_GGUF_CONVERT_DIR="$tmp" "$e2e_bin" --gtest_filter='GgufConvertSample.*' >"$tmp/convert.log" 2>&1; then
  cat "$tmp/convert.log" >&2
  die "converting the bundled model"
fi
node tests/gguf_js/check.mjs "$tmp/converted.gguf" "$tmp/converted.expect.json" ||
  die "@huggingface/gguf disagrees with the converted bundled model"
echo "gguf_js: converted bundled model matches"
# The bundled model without tokenizer.json, converted: a weights-only GGUF (tokenizer.ggml.model
# "none", no other tokenizer key), which the independent parser must read as such.
node tests/gguf_js/check.mjs "$tmp/converted_no_vocab.gguf" "$tmp/converted_no_vocab.expect.json" ||
  die "@huggingface/gguf disagrees with the converted tokenizer-less model"
node -e '
  const fs = require("fs");
  const e = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  e.metadata["tokenizer.ggml.model"].value = "gpt2";
  fs.writeFileSync(process.argv[2], JSON.stringify(e));
' "$tmp/converted_no_vocab.expect.json" "$tmp/mutated.json"
if node tests/gguf_js/check.mjs "$tmp/converted_no_vocab.gguf" "$tmp/mutated.json" >/dev/null 2>&1; then
  die "the checker accepted a wrong tokenizer model"
fi
echo "gguf_js: converted tokenizer-less model matches"

echo "gguf_js: OK"
