#!/usr/bin/env bash
# Chat templates on the command line, on the bundled model given a template (a model directory
# of links to its files plus a tokenizer_config.json carrying tests/data/chat/brown_chat.jinja,
# and the same template through --chat-template FILE):
# - `encore info` says whether a model has a template;
# - `encore template` prints what jinja2 (python3-jinja2, transformers' settings) renders, and
#   with --ids the tokenization of that text (special tokens parsed, one BOS);
# - `encore chat` with a template: every turn after the first reuses the whole cache and
#   computes only its new tokens (the cache statistics printed with -v), and the text the model
#   saw (--transcript) is the template's rendering of the conversation it printed;
# - bad input (no template, a syntax error, raise_exception, a bad messages file) fails with one
#   line naming the file and line, a non-zero exit and nothing on stdout.
# Usage: tests/extra/chat_template_cli.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
build_dir=$(cd "$build_dir" && pwd)
die() { echo "chat_template_cli: FAILED: $*" >&2; exit 1; }

enc="$build_dir/encore"
model=assets/brown-llama-12l
template=tests/data/chat/brown_chat.jinja
py=/usr/bin/python3
[ -x "$enc" ] || die "$enc is not built"
$py -c 'import jinja2' 2>/dev/null || die "python3-jinja2 is not installed (Debian: python3-jinja2)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
expect_error() {
  local what=$1 pattern=$2
  shift 2
  if "$@" >"$tmp/err.out" 2>"$tmp/err.txt"; then die "$what: succeeded"; fi
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || die "$what: expected one line on stderr: $(cat "$tmp/err.txt")"
  grep -q "^encore: error: .*$pattern" "$tmp/err.txt" || die "$what: unexpected message: $(cat "$tmp/err.txt")"
  [ ! -s "$tmp/err.out" ] || die "$what: printed to stdout: $(cat "$tmp/err.out")"
}

# A model directory with a template: links to the bundled files, its tokenizer_config.json
# with chat_template added.
mdir="$tmp/model"
mkdir "$mdir"
for f in config.json generation_config.json model.safetensors tokenizer.json; do
  ln -s "$PWD/$model/$f" "$mdir/$f"
done
$py - "$model/tokenizer_config.json" "$template" "$mdir/tokenizer_config.json" <<'PY'
import json, sys
config = json.load(open(sys.argv[1]))
config["chat_template"] = open(sys.argv[2]).read()
json.dump(config, open(sys.argv[3], "w"), indent=2)
PY

# --- info ---------------------------------------------------------------------------------
"$enc" info -m "$model" | grep -q '^chat template: *none$' || die "info: the bundled model has no template"
"$enc" info -m "$mdir" | grep -q '^chat template: *yes' || die "info: the model directory has a template"

# --- template: against jinja2 ---------------------------------------------------------------
cat >"$tmp/conv.json" <<'JSON'
{"messages": [{"role": "system", "content": "Answer briefly."},
              {"role": "user", "content": "Grüße! What did the jury say?"},
              {"role": "assistant", "content": " It said the election was fair."},
              {"role": "user", "content": "And the city?"}]}
JSON
reference() {  # reference CONV.json ADD_GENERATION_PROMPT -> jinja2's rendering on stdout
  $py - "$template" "$1" "$2" <<'PY'
import json, sys
sys.path.insert(0, "tools/goldens")
from chat_template_goldens import render
conversation = json.load(open(sys.argv[2]))
r = render(open(sys.argv[1]).read(), conversation, sys.argv[3] == "1",
           {"bos_token": "<|begin_of_text|>", "eos_token": "<|end_of_text|>"}, {})
sys.stdout.write(r["output"])
PY
}
for gen in 0 1; do
  flag=()
  [ "$gen" = 1 ] && flag=(--add-generation-prompt)
  "$enc" template -m "$mdir" --messages "$tmp/conv.json" "${flag[@]}" >"$tmp/enc.txt"
  reference "$tmp/conv.json" "$gen" >"$tmp/ref.txt"
  cmp -s "$tmp/enc.txt" "$tmp/ref.txt" || die "template (generation prompt $gen) differs from jinja2"
  "$enc" template -m "$model" --chat-template "$template" --messages "$tmp/conv.json" "${flag[@]}" >"$tmp/enc2.txt"
  cmp -s "$tmp/enc.txt" "$tmp/enc2.txt" || die "--chat-template FILE renders differently"
done

# --ids: the rendered text's tokens with special tokens parsed, BOS once.
"$enc" template -m "$mdir" --messages "$tmp/conv.json" --add-generation-prompt --ids >"$tmp/ids.json"
"$enc" tokenize -m "$model" --no-special --text "$(cat "$tmp/enc.txt")" >"$tmp/tok.json"
cmp -s "$tmp/ids.json" "$tmp/tok.json" || die "template --ids differs from tokenize of the rendered text"
bos=$("$enc" tokenize -m "$model" --no-special --text "<|begin_of_text|>" | $py -c 'import json,sys; print(json.load(sys.stdin)["ids"][0])')
$py - "$tmp/ids.json" "$bos" <<'PY' || die "template --ids: BOS not exactly once at the start"
import json, sys
ids = json.load(open(sys.argv[1]))["ids"]
bos = int(sys.argv[2])
sys.exit(0 if ids[0] == bos and ids.count(bos) == 1 else 1)
PY

# --- chat with the template -----------------------------------------------------------------
printf 'Hello there.\nWhat did the jury say?\nThank you.\n' |
  "$enc" chat -m "$mdir" --temp 0 -n 12 --system "Answer briefly." -v --transcript "$tmp/transcript.json" \
    >"$tmp/chat.txt" 2>"$tmp/chat.err"
# Turn k > 1: everything the cache held is reused, only the new tokens are computed.
$py - "$tmp/chat.err" <<'PY' || die "chat: cache statistics: $(cat "$tmp/chat.err")"
import re, sys
turns = [tuple(map(int, m)) for m in re.findall(
    r"chat: turn \d+: (\d+) tokens, (\d+) computed, (\d+) reused from the cache \(held (\d+)\)", open(sys.argv[1]).read())]
assert len(turns) == 3, turns
assert turns[0][1] == turns[0][0] and turns[0][2] == 0, turns
for total, computed, reused, held in turns[1:]:
    assert reused == held > 0 and computed == total - reused and 0 < computed < total, turns
PY
# The replies printed (each followed by a newline) are the assistant messages; the model saw the
# template's rendering.
$py - "$tmp/transcript.json" "$tmp/chat.txt" "$tmp/prefix.json" <<'PY' || die "chat: transcript"
import json, sys
t = json.load(open(sys.argv[1]))
roles = [m["role"] for m in t["messages"]]
assert roles == ["system"] + ["user", "assistant"] * 3, roles
replies = [m["content"] for m in t["messages"] if m["role"] == "assistant"]
assert open(sys.argv[2]).read() == "".join(r + "\n" for r in replies), replies
json.dump({"messages": t["messages"][:-1]}, open(sys.argv[3], "w"))
PY
reference "$tmp/prefix.json" 1 >"$tmp/prompt.txt"
$py - "$tmp/transcript.json" "$tmp/prompt.txt" <<'PY' || die "chat: the text the model saw is not the template's rendering"
import json, sys
t = json.load(open(sys.argv[1]))
prompt = open(sys.argv[2]).read()
assert t["text"] == prompt + t["messages"][-1]["content"], (t["text"], prompt)
PY
# The same conversation through --chat-template FILE on the bundled model gives the same replies.
printf 'Hello there.\nWhat did the jury say?\nThank you.\n' |
  "$enc" chat -m "$model" --chat-template "$template" --temp 0 -n 12 --system "Answer briefly." >"$tmp/chat2.txt"
cmp -s "$tmp/chat.txt" "$tmp/chat2.txt" || die "chat --chat-template FILE differs"

# --- errors ---------------------------------------------------------------------------------
expect_error "template: no template" "has no chat template" "$enc" template -m "$model" --messages "$tmp/conv.json"
expect_error "chat: --system without template" "--system needs a chat template" \
  bash -c "echo hi | $enc chat -m $model --system S -n 2"
printf '{%% if x %%}\n{{ 1 + }}\n{%% endif %%}\n' >"$tmp/bad.jinja"
expect_error "template: syntax error" "bad.jinja:2: chat template syntax error" \
  "$enc" template -m "$model" --chat-template "$tmp/bad.jinja" --messages "$tmp/conv.json"
printf '{{ x | nosuchfilter }}' >"$tmp/filter.jinja"
expect_error "template: unknown filter" "filter.jinja:1: .*No filter named 'nosuchfilter'" \
  "$enc" template -m "$model" --chat-template "$tmp/filter.jinja" --messages "$tmp/conv.json"
echo '[{"role": "narrator", "content": "x"}]' >"$tmp/narrator.json"
expect_error "template: raise_exception" "brown_chat.jinja:6: the chat template raised an exception: Unknown role: narrator" \
  "$enc" template -m "$model" --chat-template "$template" --messages "$tmp/narrator.json"
echo '{"messages": 3}' >"$tmp/badconv.json"
expect_error "template: bad messages file" "badconv.json: expected an array" \
  "$enc" template -m "$mdir" --messages "$tmp/badconv.json"
expect_error "template: missing messages file" "cannot open messages file" \
  "$enc" template -m "$mdir" --messages "$tmp/none.json"
expect_error "template: unknown template name" "no template named 'tool_use'" \
  "$enc" template -m "$mdir" --chat-template-name tool_use --messages "$tmp/conv.json"
echo "chat_template_cli: OK"
