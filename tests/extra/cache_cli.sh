#!/usr/bin/env bash
# The saved-prefix commands end to end on the bundled model: `encore cache save/info/load`
# (a loaded prefix's continuation logits are bitwise the rows `encore logits` computes for the
# whole token list), `encore chat` with piped turns, and `encore bench prefix` at small sizes.
# Bad inputs (truncated or bit-flipped files, another layer plan, a missing file, an unwritable
# output) must each fail with exactly one line on stderr, a non-zero exit and no output file.
# Usage: tests/extra/cache_cli.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
build_dir=$(cd "$build_dir" && pwd)

die() { echo "cache_cli: FAILED: $*" >&2; exit 1; }

enc="$build_dir/encore"
model=assets/brown-llama-12l
[ -x "$enc" ] || die "$enc is not built"
command -v python3 >/dev/null || die "python3 is not installed"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# field NAME < one JSON line
field() { python3 -c 'import json, sys; print(json.loads(sys.stdin.read())[sys.argv[1]])' "$1"; }
# one_json_line FILE: the file is exactly one line of JSON
one_json_line() {
  [ "$(wc -l <"$1")" -eq 1 ] || die "$1: expected one line, got: $(cat "$1")"
  python3 -c 'import json, sys; json.loads(open(sys.argv[1]).read())' "$1" || die "$1 is not JSON"
}
# expect_error WHAT CMD...: non-zero exit, one line "encore: error: ..." on stderr, no stdout
expect_error() {
  local what=$1
  shift
  if "$@" >"$tmp/err.out" 2>"$tmp/err.txt"; then die "$what: succeeded"; fi
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || die "$what: expected one line on stderr: $(cat "$tmp/err.txt")"
  grep -q '^encore: error: ' "$tmp/err.txt" || die "$what: unexpected message: $(cat "$tmp/err.txt")"
  [ ! -s "$tmp/err.out" ] || die "$what: printed to stdout: $(cat "$tmp/err.out")"
}

prefix_text="The jury said the election was conducted fairly, and the city praised the work."
cont_text=" It was a fine day for the county."

# --- cache save / info ----------------------------------------------------------------------
"$enc" cache save -m "$model" --text "$prefix_text" -o "$tmp/text.prefix" >"$tmp/save.json"
one_json_line "$tmp/save.json"
n_prefix=$(field n_tokens <"$tmp/save.json")
[ "$n_prefix" -gt 10 ] || die "saved prefix has $n_prefix tokens"

# The same prefix given as token ids (BOS included, as tokenize gives) is the same file.
prefix_ids=$("$enc" tokenize -m "$model" --text "$prefix_text" |
  python3 -c 'import json, sys; print(",".join(map(str, json.loads(sys.stdin.read())["ids"])))')
"$enc" cache save -m "$model" --tokens "$prefix_ids" -o "$tmp/ids.prefix" >/dev/null
cmp -s "$tmp/text.prefix" "$tmp/ids.prefix" || die "--text and --tokens of the same prefix differ"

"$enc" cache info "$tmp/text.prefix" >"$tmp/info.json"
one_json_line "$tmp/info.json"
identity=$("$enc" info -m "$model" | sed -n 's/^identity: *//p')
[ "$(field model_identity <"$tmp/info.json")" = "$identity" ] || die "info: model identity"
[ "$(field plan <"$tmp/info.json")" = "0-11" ] || die "info: plan"
[ "$(field n_tokens <"$tmp/info.json")" = "$n_prefix" ] || die "info: n_tokens"
[ "$(field bytes <"$tmp/info.json")" = "$(stat -c %s "$tmp/text.prefix")" ] || die "info: bytes"

# --- cache load: continuation logits equal the full computation's rows, bitwise --------------
cont_ids=$("$enc" tokenize -m "$model" --no-special --text "$cont_text" |
  python3 -c 'import json, sys; print(",".join(map(str, json.loads(sys.stdin.read())["ids"])))')
"$enc" cache load -m "$model" -i "$tmp/text.prefix" --tokens "$cont_ids" \
  -o "$tmp/cont.safetensors" >"$tmp/load.json"
one_json_line "$tmp/load.json"
[ "$(field prefix_tokens <"$tmp/load.json")" = "$n_prefix" ] || die "load: prefix_tokens"
n_cont=$(field evaluated <"$tmp/load.json")
[ "$n_cont" = "$(echo "$cont_ids" | tr ',' '\n' | wc -l)" ] || die "load: evaluated"
python3 -c 'import json, sys; s = json.loads(open(sys.argv[1]).read())["prefix_cache"];
assert set(s) == {"hits", "misses", "evictions", "published"}, s' "$tmp/load.json" ||
  die "load: prefix_cache stats"
"$enc" logits -m "$model" --tokens "$prefix_ids,$cont_ids" -o "$tmp/full.safetensors"
python3 - "$tmp/cont.safetensors" "$tmp/full.safetensors" "$n_cont" <<'EOF' || die "load: logits differ from a full computation"
import json, struct, sys
def read(path):
    data = open(path, "rb").read()
    n = struct.unpack("<Q", data[:8])[0]
    header = json.loads(data[8:8 + n])
    t = header["logits"]
    assert t["dtype"] == "F32", t
    begin, end = t["data_offsets"]
    return t["shape"], data[8 + n + begin:8 + n + end]
(rows, vocab), cont = read(sys.argv[1])
(full_rows, full_vocab), full = read(sys.argv[2])
assert rows == int(sys.argv[3]) and vocab == full_vocab, (rows, vocab, full_rows, full_vocab)
assert cont == full[(full_rows - rows) * vocab * 4:], "continuation rows are not bitwise equal"
EOF

"$enc" cache load -m "$model" -i "$tmp/text.prefix" --text "$cont_text" >"$tmp/load2.json"
one_json_line "$tmp/load2.json"
[ "$(field evaluated <"$tmp/load2.json")" = "$n_cont" ] || die "load --text: evaluated"
"$enc" cache load -m "$model" -i "$tmp/text.prefix" >"$tmp/load3.json"
[ "$(field evaluated <"$tmp/load3.json")" = "0" ] || die "load without continuation"

# --- bad inputs -----------------------------------------------------------------------------
size=$(stat -c %s "$tmp/text.prefix")
for n in 0 7 40 100 $((size / 2)) $((size - 1)); do
  head -c "$n" "$tmp/text.prefix" >"$tmp/cut.prefix"
  expect_error "load of a file cut to $n bytes" \
    "$enc" cache load -m "$model" -i "$tmp/cut.prefix" --tokens "$cont_ids" -o "$tmp/bad.safetensors"
  expect_error "info of a file cut to $n bytes" "$enc" cache info "$tmp/cut.prefix"
done
for at in 3 20 70 $((size / 2)) $((size - 2)); do
  python3 -c 'import sys; b = bytearray(open(sys.argv[1], "rb").read()); b[int(sys.argv[2])] ^= 4
open(sys.argv[3], "wb").write(b)' "$tmp/text.prefix" "$at" "$tmp/flip.prefix"
  expect_error "load of a file with byte $at flipped" \
    "$enc" cache load -m "$model" -i "$tmp/flip.prefix" --tokens "$cont_ids" -o "$tmp/bad.safetensors"
done
expect_error "load under another plan" \
  "$enc" cache load -m "$model" --layers rys:4,8 -i "$tmp/text.prefix" -o "$tmp/bad.safetensors" \
  --tokens "$cont_ids"
grep -q "0-7,4-11" "$tmp/err.txt" || die "another plan: the message names no plan: $(cat "$tmp/err.txt")"
expect_error "load of a missing file" "$enc" cache load -m "$model" -i "$tmp/missing.prefix"
expect_error "info of a missing file" "$enc" cache info "$tmp/missing.prefix"
expect_error "save into a missing directory" \
  "$enc" cache save -m "$model" --text "$prefix_text" -o "$tmp/no/such/dir.prefix"
expect_error "save of a bad token id" "$enc" cache save -m "$model" --tokens 1,99999 -o "$tmp/bad.prefix"
if [ -e "$tmp/bad.safetensors" ] || [ -e "$tmp/bad.prefix" ]; then die "a failed command left a file"; fi
leftover=$(find "$tmp" -name '*.tmp.*')
[ -z "$leftover" ] || die "temporary files left behind: $leftover"

# --- chat -----------------------------------------------------------------------------------
printf 'The jury said\nThe city was quiet\n' |
  "$enc" chat -m "$model" --temp 0 -n 24 >"$tmp/chat1.txt"
[ "$(wc -l <"$tmp/chat1.txt")" -eq 2 ] || die "chat: expected two reply lines: $(cat "$tmp/chat1.txt")"
printf 'The jury said\nThe city was quiet\n' |
  "$enc" chat -m "$model" --temp 0 -n 24 >"$tmp/chat2.txt"
cmp -s "$tmp/chat1.txt" "$tmp/chat2.txt" || die "chat: greedy replies differ between runs"
# The first reply is what generate continues the first turn with.
"$enc" generate -m "$model" -p $'The jury said\n' --temp 0 -n 24 --stop $'\n' >"$tmp/gen.txt"
[ "$(sed -n 1p "$tmp/chat1.txt")" = "$(sed -n 2p "$tmp/gen.txt")" ] ||
  die "chat: first reply '$(sed -n 1p "$tmp/chat1.txt")' != generate's '$(sed -n 2p "$tmp/gen.txt")'"
# Sampled, with a limit of 3 tokens and no stop string that can occur: one line per turn.
printf 'a\nb\nc\n' | "$enc" chat -m "$model" --seed 5 -n 3 --stop '@@' >"$tmp/chat3.txt"
[ "$(wc -l <"$tmp/chat3.txt")" -ge 3 ] || die "chat: three turns gave $(wc -l <"$tmp/chat3.txt") lines"
: | "$enc" chat -m "$model" >"$tmp/chat4.txt"
[ ! -s "$tmp/chat4.txt" ] || die "chat: output without input"

# --- bench prefix ---------------------------------------------------------------------------
"$enc" bench prefix -m "$model" --prefix 40 --suffix 8 --count 3 >"$tmp/bench.json"
one_json_line "$tmp/bench.json"
[ "$(field bitwise_equal <"$tmp/bench.json")" = "True" ] || die "bench prefix: not bitwise equal"
[ "$(field ideal_ratio <"$tmp/bench.json")" = "6.0" ] || die "bench prefix: ideal ratio"
for key in with_reuse_s without_reuse_s prefix_once_s ratio fraction_of_ideal; do
  python3 -c 'import json, sys; v = json.loads(open(sys.argv[1]).read())[sys.argv[2]]
assert isinstance(v, float) and v > 0, v' "$tmp/bench.json" "$key" || die "bench prefix: $key"
done
expect_error "bench prefix with --count 0" "$enc" bench prefix -m "$model" --count 0

echo "cache_cli: OK"
