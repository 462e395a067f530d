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

echo "cli_errors: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
