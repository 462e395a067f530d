#!/usr/bin/env bash
# Bad input at the command line: each case must exit non-zero with exactly one line on stderr
# naming the fault, and leave no output file behind. Also checks `encore info` reports weight
# bytes unchanged and KV bytes per token growing under a repeated-layer plan.
set -uo pipefail
build_dir=${1:-build}
encore="$build_dir/encore"
model=assets/brown-llama-12l
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

expect_error() {  # expect_error PATTERN -- command...
  local pattern=$1
  shift 2
  local out="$work/out.safetensors"
  rm -f "$out"
  "$@" >"$work/stdout" 2>"$work/stderr"
  local rc=$?
  local lines
  lines=$(wc -l <"$work/stderr")
  if [ "$rc" -ne 0 ] && [ "$rc" -lt 128 ] && [ "$lines" -eq 1 ] && grep -q -- "$pattern" "$work/stderr" &&
    [ -z "$(ls "$work" | grep -v -E '^(stdout|stderr|bad.*|ok.*)$')" ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL (rc=$rc, $lines stderr lines, want /$pattern/): $*"
    sed 's/^/  | /' "$work/stderr" | head -5
    ls "$work"
  fi
}

# Corrupt files.
head -c 1000 $model/model.safetensors >"$work/bad_trunc.safetensors"
mkdir -p "$work/bad_model"
cp $model/config.json $model/tokenizer.json "$work/bad_model/"
head -c 5000000 $model/model.safetensors >"$work/bad_model/model.safetensors"
mkdir -p "$work/bad_arch"
cp $model/model.safetensors $model/tokenizer.json "$work/bad_arch/"
sed 's/"llama"/"gpt_neox"/' $model/config.json >"$work/bad_arch/config.json"
mkdir -p "$work/bad_cfg"
cp $model/model.safetensors $model/tokenizer.json "$work/bad_cfg/"
grep -v hidden_size $model/config.json >"$work/bad_cfg/config.json"
printf 'GGUF\x03\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\x0f\x00\x00\x00\x00\x00\x00\x00\x00' >"$work/bad.gguf"
printf '\xff\xfe' >"$work/bad_text.txt"

out="$work/out.safetensors"
expect_error "model.safetensors" -- "$encore" logits -m "$work/bad_model" --tokens 1,2 -o "$out"
expect_error "gpt_neox" -- "$encore" info -m "$work/bad_arch"
expect_error "hidden_size" -- "$encore" info -m "$work/bad_cfg"
expect_error "bad.gguf" -- "$encore" info -m "$work/bad.gguf"
expect_error "no such file" -- "$encore" info -m "$work/missing"
expect_error "token id 4096" -- "$encore" logits -m $model --tokens 1,4096 -o "$out"
expect_error "'x'" -- "$encore" logits -m $model --tokens 1,x -o "$out"
expect_error "5-2" -- "$encore" logits -m $model --tokens 1,2 --layers 5-2 -o "$out"
expect_error "99" -- "$encore" info -m $model --layers 0-99
expect_error "'a'" -- "$encore" info -m $model --layers a-b
expect_error "empty" -- "$encore" info -m $model --layers ,
expect_error "rys" -- "$encore" info -m $model --layers rys:13,2
# An empty plan given on the command line is an error on every command that takes --layers;
# leaving --layers out is the model as it is (checked below).
printf 'Hello there.\n' >"$work/ok_text.txt"
for empty in "" " " ; do
  expect_error "--layers: empty" -- "$encore" logits -m $model --tokens 1,2 --layers "$empty" -o "$out"
  expect_error "--layers: empty" -- "$encore" info -m $model --layers "$empty"
done
expect_error "--layers" -- "$encore" logits -m $model --tokens 1,2 -o "$out" --layers=
expect_error "--layers: empty" -- "$encore" generate -m $model -p "Hello" -n 2 --layers ""
expect_error "--layers: empty" -- "$encore" perplexity -m $model -f "$work/ok_text.txt" --layers ""
expect_error "--layers: empty" -- bash -c "echo hi | $encore chat -m $model -n 2 --layers ''"
expect_error "--layers: empty" -- "$encore" cache save -m $model --tokens 1,2 --layers "" -o "$work/out.kv"
expect_error "--layers: empty" -- "$encore" cache load -m $model -i "$work/ok_missing.kv" --layers ""
expect_error "--layers: empty" -- "$encore" bench -m $model --prompt 4 --decode 1 --layers ""
expect_error "--layers: empty" -- "$encore" bench prefix -m $model --count 1 --layers ""
expect_error "cannot create" -- "$encore" logits -m $model --tokens 1,2 -o "$work/nodir/x.safetensors"
expect_error "UTF-8" -- "$encore" tokenize -m $model --text "$(printf 'ok \xff')"
expect_error "UTF-8" -- "$encore" perplexity -m $model -f "$work/bad_text.txt"
expect_error "KV" -- "$encore" generate -m $model -p "Hello" --kv-budget 1KiB
expect_error "temp" -- "$encore" generate -m $model -p "Hello" --temp -1
expect_error "device" -- "$encore" logits -m $model --tokens 1 --device tpu -o "$out"
expect_error "stdin line 1" -- bash -c "echo 'not json' | $encore tokenize -m $model"
expect_error "type" -- "$encore" convert -m $model -o "$work/out.gguf" --type q3

# --layers "" on cache load of a real prefix file (not only a missing one).
"$encore" cache save -m $model --tokens 1,2,3 -o "$work/ok_brown.kv" >/dev/null 2>&1
expect_error "--layers: empty" -- "$encore" cache load -m $model -i "$work/ok_brown.kv" --layers "" -o "$out"
expect_error "--precision 'fastest'" -- "$encore" logits -m $model --tokens 1,2 --precision fastest -o "$out"
expect_error "--precision ''" -- "$encore" generate -m $model -p "Hello" -n 2 --precision ""
# A prefix saved at --precision fast is refused at the default precision (and loads at fast).
"$encore" cache save -m $model --tokens 1,2,3 --precision fast -o "$work/ok_fast.kv" >/dev/null 2>&1
expect_error "saved at --precision fast" -- "$encore" cache load -m $model -i "$work/ok_fast.kv" --tokens 4 -o "$out"
if "$encore" cache load -m $model -i "$work/ok_fast.kv" --precision fast --tokens 4 -o "$work/ok_fast.safetensors" >/dev/null 2>&1; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: a prefix saved at --precision fast does not load at fast"
fi
# A mistyped command is named, with the nearest command.
expect_error "unknown command 'scroe' (did you mean 'score'?)" -- "$encore" scroe -m $model
expect_error "unknown command 'frobnicate' (commands: info," -- "$encore" frobnicate
# --kv-type: auto, f32, f16, bf16; a prefix of one KV type is refused by an engine of another.
expect_error "--kv-type 'q8_0': expected auto, f32, f16 or bf16" -- "$encore" logits -m $model --tokens 1,2 --kv-type q8_0 -o "$out"
expect_error "--kv-type 'f64'" -- "$encore" sweep -m $model -o "$work/run" --plan 0-11 --ppl $model/heldout.txt --kv-type f64
expect_error "--kv-type 'half'" -- "$encore" serve -m $model --kv-type half
"$encore" cache save -m $model --tokens 1,2,3 --kv-type f16 -o "$work/ok_f16.kv" >/dev/null 2>&1
expect_error "saved with --kv-type f16, but this engine runs --kv-type bf16" -- "$encore" cache load -m $model -i "$work/ok_f16.kv" --kv-type bf16 --tokens 4 -o "$out"

expect_ok() {  # expect_ok DESCRIPTION -- command...: exit 0
  local what=$1
  shift 2
  if "$@" >"$work/stdout" 2>"$work/stderr"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAIL ($what): $*"
    sed 's/^/  | /' "$work/stderr" | head -5
  fi
}

# A model without a vocabulary: a directory without tokenizer.json, and the weights-only GGUF
# (tokenizer.ggml.model = none) that `convert` makes of it. Commands on token ids work, and give
# bitwise the same logits from both; commands that need text fail naming the file.
nv="$work/ok_novocab"
mkdir -p "$nv"
cp $model/config.json "$nv/"
ln -s "$(pwd)/$model/model.safetensors" "$nv/model.safetensors"
nv_gguf="$work/ok_novocab.gguf"
expect_ok "info without tokenizer" -- "$encore" info -m "$nv"
grep -q "no tokenizer" "$work/stdout" || { failed=$((failed + 1)); echo "FAIL: info does not say 'no tokenizer'"; }
expect_ok "logits without tokenizer" -- "$encore" logits -m "$nv" --tokens 1,2,3 -o "$work/ok_nv_dir.safetensors"
expect_ok "convert without tokenizer" -- "$encore" convert -m "$nv" -o "$nv_gguf" --type bf16
expect_ok "info of a weights-only gguf" -- "$encore" info -m "$nv_gguf"
expect_ok "logits of a weights-only gguf" -- "$encore" logits -m "$nv_gguf" --tokens 1,2,3 -o "$work/ok_nv_gguf.safetensors"
expect_ok "cache save --tokens of a weights-only gguf" -- "$encore" cache save -m "$nv_gguf" --tokens 1,2,3 -o "$work/ok_nv.kv"
expect_ok "cache load --tokens of a weights-only gguf" -- "$encore" cache load -m "$nv_gguf" -i "$work/ok_nv.kv" --tokens 4 -o "$work/ok_nv_load.safetensors"
# The logits data (the files' last 3 x 4096 floats; their headers name the model) are equal.
if cmp -s <(tail -c 49152 "$work/ok_nv_dir.safetensors") <(tail -c 49152 "$work/ok_nv_gguf.safetensors") &&
  [ -n "$(tail -c 49152 "$work/ok_nv_dir.safetensors" | tr -d '\0')" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: logits of the tokenizer-less directory and of its weights-only GGUF differ"
fi
for m in "$nv" "$nv_gguf"; do
  name=$([ -d "$m" ] && echo "$m/tokenizer.json" || echo "$m")
  expect_error "$name" -- "$encore" perplexity -m "$m" -f "$work/ok_text.txt"
  expect_error "$name" -- "$encore" generate -m "$m" -p "Hello" -n 2
  expect_error "$name" -- "$encore" tokenize -m "$m" --text "Hello"
  expect_error "$name" -- "$encore" detokenize -m "$m" --ids 1,2
  expect_error "$name" -- bash -c "echo hi | $encore chat -m $m -n 2"
  expect_error "$name" -- "$encore" cache save -m "$m" --text "Hello" -o "$work/out.kv"
done

# No --layers: the model as it is, the same logits as the identity plan written out.
"$encore" logits -m $model --tokens 1,2,3 -o "$work/ok_base.safetensors" 2>/dev/null
"$encore" logits -m $model --tokens 1,2,3 --layers 0-11 -o "$work/ok_ident.safetensors" 2>/dev/null
if [ -s "$work/ok_base.safetensors" ] &&
  cmp -s "$work/ok_base.safetensors" "$work/ok_ident.safetensors"; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: logits without --layers differ from --layers 0-11 (or were not written)"
fi

# Weights are shared, KV grows with instances.
w1=$("$encore" info -m $model | awk '/weight bytes/ {print $3}')
w2=$("$encore" info -m $model --layers rys:4,8 | awk '/weight bytes/ {print $3}')
k1=$("$encore" info -m $model | awk '/kv bytes/ {print $3}')
k2=$("$encore" info -m $model --layers rys:4,8 | awk '/kv bytes/ {print $3}')
if [ -n "$w1" ] && [ "$w1" = "$w2" ] && [ "$((k1 * 16))" = "$((k2 * 12))" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: info weight bytes $w1 vs $w2, kv bytes $k1 vs $k2"
fi

# --kv-type f16 halves the KV bytes per token and says so.
k16=$("$encore" info -m $model --kv-type f16 | awk '/kv bytes/ {print $3}')
t16=$("$encore" info -m $model --kv-type f16 | awk '/kv type/ {print $3}')
if [ -n "$k16" ] && [ "$((k16 * 2))" = "$k1" ] && [ "$t16" = "f16" ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAIL: info --kv-type f16: kv bytes $k16 (f32 $k1), kv type $t16"
fi

# The sweep's stem budget (MiB) cannot be negative.
expect_error "stem-budget must be >= 0" -- "$encore" sweep -m $model -o "$work/bad_sweep" --plan rys:4,8 --ppl $model/heldout.txt --stem-budget -1
# Stem reuse asked for and refused at once.
expect_error "--stem-reuse and --no-stem-reuse exclude each other" -- "$encore" sweep -m $model -o "$work/bad_sweep" --plan rys:4,8 --ppl $model/heldout.txt --stem-reuse --no-stem-reuse

echo "cli_errors: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
