#!/usr/bin/env bash
# `encore score` and `encore choose` end to end on the bundled model: JSON-lines and CSV output
# (the same numbers), CSV input, a re-run that resumes (nothing scored twice), a run killed with
# kill -9 and re-run (plus a torn last line) giving exactly the file of an uninterrupted run, and
# bad inputs: each one line on stderr, a non-zero exit and no output file.
# Usage: tests/extra/score_cli.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
build_dir=$(cd "$build_dir" && pwd)

die() { echo "score_cli: FAILED: $*" >&2; exit 1; }

enc="$build_dir/encore"
model=assets/brown-llama-12l
[ -x "$enc" ] || die "$enc is not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# field NAME < one JSON line
field() { python3 -c 'import json, sys; print(json.dumps(json.loads(sys.stdin.read())[sys.argv[1]]))' "$1"; }
# expect_error WHAT PATTERN CMD...: non-zero exit, one line "encore: error: ...PATTERN..." on
# stderr, nothing on stdout, no output file $tmp/bad.jsonl
expect_error() {
  local what=$1 pattern=$2
  shift 2
  rm -f "$tmp/bad.jsonl"
  if "$@" >"$tmp/err.out" 2>"$tmp/err.txt"; then die "$what: succeeded"; fi
  [ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || die "$what: expected one line on stderr: $(cat "$tmp/err.txt")"
  grep -q '^encore: error: ' "$tmp/err.txt" || die "$what: unexpected message: $(cat "$tmp/err.txt")"
  grep -qF -- "$pattern" "$tmp/err.txt" || die "$what: message lacks '$pattern': $(cat "$tmp/err.txt")"
  [ ! -s "$tmp/err.out" ] || die "$what: printed to stdout: $(cat "$tmp/err.out")"
  [ ! -e "$tmp/bad.jsonl" ] || die "$what: left an output file"
}

rubric=examples/rubrics/story_quality.yaml
head -n 6 examples/heldout_stories.jsonl >"$tmp/items.jsonl"

# --- JSON lines out; the summary on stdout ---------------------------------------------------
"$enc" score -m "$model" -r "$rubric" -i "$tmp/items.jsonl" -o "$tmp/out.jsonl" >"$tmp/sum.json" 2>"$tmp/sum.txt"
[ "$(wc -l <"$tmp/sum.json")" -eq 1 ] || die "summary: not one line"
[ "$(field scored <"$tmp/sum.json")" = 6 ] || die "summary: scored"
grep -q '^craft ' "$tmp/sum.txt" || die "no summary table on stderr"
python3 - "$tmp/out.jsonl" "$tmp/items.jsonl" <<'PY' || die "JSON-lines output"
import json, math, sys
out = [json.loads(l) for l in open(sys.argv[1])]
ids = [json.loads(l)["id"] for l in open(sys.argv[2])]
assert [o["id"] for o in out] == ids, "ids not in input order"
for o in out:
    for name in ("craft", "clarity"):
        s = o["scores"][name]
        assert s["labels"] == [" A", " B", " C", " D", " E"]
        p = [math.exp(x) for x in s["logprobs"]]
        assert abs(sum(p) - s["label_mass"]) < 1e-12
        assert abs(sum(s["probs"]) - 1) < 1e-12
        assert abs(sum(q * v for q, v in zip(s["probs"], s["values"])) - s["expected"]) < 1e-12
        assert "calibrated" in s
PY

# --- a re-run resumes: nothing scored, file unchanged ------------------------------------------
cp "$tmp/out.jsonl" "$tmp/out.before"
"$enc" score -m "$model" -r "$rubric" -i "$tmp/items.jsonl" -o "$tmp/out.jsonl" >"$tmp/sum2.json" 2>/dev/null
[ "$(field scored <"$tmp/sum2.json")" = 0 ] || die "re-run scored again"
[ "$(field resumed <"$tmp/sum2.json")" = 6 ] || die "re-run: resumed"
cmp -s "$tmp/out.jsonl" "$tmp/out.before" || die "re-run changed the output"

# --- CSV in and CSV out: the same numbers ------------------------------------------------------
python3 - "$tmp/items.jsonl" "$tmp/items.csv" <<'PY'
import csv, json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id", "story"])
    for r in rows:
        w.writerow([r["id"], r["story"]])
PY
"$enc" score -m "$model" -r "$rubric" -i "$tmp/items.csv" -o "$tmp/out.csv" >/dev/null 2>&1
python3 - "$tmp/out.jsonl" "$tmp/out.csv" <<'PY' || die "CSV output differs from JSON lines"
import csv, json, sys
js = [json.loads(l) for l in open(sys.argv[1])]
rows = list(csv.DictReader(open(sys.argv[2], newline="")))
assert len(rows) == len(js)
for j, r in zip(js, rows):
    assert r["id"] == j["id"] and r["rubric_hash"] == j["rubric_hash"]
    for name in ("craft", "clarity"):
        s = j["scores"][name]
        assert float(r[name + ".expected"]) == s["expected"], (r[name + ".expected"], s["expected"])
        assert float(r[name + ".logprob[C]"]) == s["logprobs"][2]
        assert r[name + ".argmax"] == s["argmax"].strip()
PY

# --- kill -9 mid-run, a torn last line, re-run: exactly the uninterrupted file -----------------
head -n 16 examples/heldout_stories.jsonl >"$tmp/many.jsonl"
"$enc" score -m "$model" -r "$rubric" -i "$tmp/many.jsonl" -o "$tmp/full.jsonl" --batch 2 >/dev/null 2>&1
"$enc" score -m "$model" -r "$rubric" -i "$tmp/many.jsonl" -o "$tmp/killed.jsonl" --batch 2 >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 600); do
  [ -f "$tmp/killed.jsonl" ] && [ "$(wc -l <"$tmp/killed.jsonl")" -ge 4 ] && break
  sleep 0.05
done
kill -9 "$pid" 2>/dev/null || die "the run ended before it could be killed"
wait "$pid" 2>/dev/null || true
n_before=$(wc -l <"$tmp/killed.jsonl")
[ "$n_before" -lt 16 ] || die "the killed run had finished"
printf '{"id": "heldout-99", "rubric_hash": "torn' >>"$tmp/killed.jsonl"  # a torn last line
"$enc" score -m "$model" -r "$rubric" -i "$tmp/many.jsonl" -o "$tmp/killed.jsonl" --batch 2 >"$tmp/resumed.json" 2>/dev/null
[ "$(field resumed <"$tmp/resumed.json")" = "$n_before" ] || die "resumed count"
cmp -s "$tmp/killed.jsonl" "$tmp/full.jsonl" || die "killed + resumed output differs from an uninterrupted run"

# --- bad inputs --------------------------------------------------------------------------------
printf 'version: 1\ntemplate: [unclosed\n' >"$tmp/malformed.yaml"
expect_error "malformed rubric" "malformed.yaml: malformed rubric" \
  "$enc" score -m "$model" -r "$tmp/malformed.yaml" -i "$tmp/items.jsonl" -o "$tmp/bad.jsonl"
printf 'version: 1\ntemplate: "{story}\\nRating:"\nlabels: letters:A-Z9\n' >"$tmp/shorthand.yaml"
expect_error "unknown label shorthand" "unknown label shorthand 'letters:A-Z9'" \
  "$enc" score -m "$model" -r "$tmp/shorthand.yaml" -i "$tmp/items.jsonl" -o "$tmp/bad.jsonl"
printf 'version: 1\ntemplate: "{story}\\nRating:"\nlabels: [" good", " fine", " good"]\n' >"$tmp/dup.yaml"
expect_error "colliding labels" 'labels " good" and " good" collide' \
  "$enc" score -m "$model" -r "$tmp/dup.yaml" -i "$tmp/items.jsonl" -o "$tmp/bad.jsonl"
printf 'version: 1\ntemplate: "{story}\\nRating:"\nlabels: [" A", " A A"]\n' >"$tmp/prefix.yaml"
expect_error "labels whose tokens collide" 'labels " A" and " A A" collide: their tokens' \
  "$enc" score -m "$model" -r "$tmp/prefix.yaml" -i "$tmp/items.jsonl" -o "$tmp/bad.jsonl"
printf 'version: 1\ntemplate: "{story}\\n"\ncue: "The answer is th"\nlabels: ["e", "is"]\n' >"$tmp/merge.yaml"
expect_error "label merging with the cue" 'label "e" merges with the cue' \
  "$enc" score -m "$model" -r "$tmp/merge.yaml" -i "$tmp/items.jsonl" -o "$tmp/bad.jsonl"
printf '{"id": 1, "text": "no story field"}\n' >"$tmp/noslot.jsonl"
expect_error "missing slot" "record 1 (criterion 'craft'): missing field 'story'" \
  "$enc" score -m "$model" -r "$rubric" -i "$tmp/noslot.jsonl" -o "$tmp/bad.jsonl"
printf '{"id": 1, "story": "A story."}\n{}\n' >"$tmp/empty.jsonl"
expect_error "empty record" "record 2: empty record" \
  "$enc" score -m "$model" -r "$rubric" -i "$tmp/empty.jsonl" -o "$tmp/bad.jsonl"
python3 -c 'import json; print(json.dumps({"id": "long", "story": "The jury said so. " * 900}))' >"$tmp/long.jsonl"
expect_error "item longer than the context" "more than the model's context of 1024" \
  "$enc" score -m "$model" -r "$rubric" -i "$tmp/long.jsonl" -o "$tmp/bad.jsonl"
{ head -n 2 "$tmp/items.jsonl"; echo '{"id": "x", "story": "torn'; tail -n 3 "$tmp/items.jsonl"; } >"$tmp/mid.jsonl"
expect_error "bad record mid-file" "mid.jsonl: record 3: not valid JSON" \
  "$enc" score -m "$model" -r "$rubric" -i "$tmp/mid.jsonl" -o "$tmp/bad.jsonl"
"$enc" score -m "$model" -r "$rubric" -i "$tmp/mid.jsonl" -o "$tmp/skip.jsonl" --skip-bad >"$tmp/skip.json" 2>"$tmp/skip.txt"
[ "$(field skipped <"$tmp/skip.json")" = "[3]" ] || die "--skip-bad: skipped list"
grep -q "skipped .*record 3: not valid JSON" "$tmp/skip.txt" || die "--skip-bad: not listed on stderr"
[ "$(wc -l <"$tmp/skip.jsonl")" -eq 5 ] || die "--skip-bad: output lines"
python3 - "$tmp/skip.jsonl" "$tmp/out.jsonl" <<'PY' || die "--skip-bad: results differ from the full run"
import json, sys
a = {json.loads(l)["id"]: l for l in open(sys.argv[1])}
b = {json.loads(l)["id"]: l for l in open(sys.argv[2])}
assert all(a[k] == b[k] for k in a), "a result differs"
PY
# an output file of another rubric is not appended to
cp "$tmp/out.jsonl" "$tmp/other.jsonl"
printf 'version: 1\ntemplate: "Passage: {story}\\n"\ncue: "Rating:"\n' >"$tmp/other.yaml"
if "$enc" score -m "$model" -r "$tmp/other.yaml" -i "$tmp/items.jsonl" -o "$tmp/other.jsonl" >/dev/null 2>"$tmp/err.txt"; then
  die "another rubric's output file was accepted"
fi
grep -q "another rubric" "$tmp/err.txt" || die "another rubric: $(cat "$tmp/err.txt")"
cmp -s "$tmp/other.jsonl" "$tmp/out.jsonl" || die "another rubric's output file was changed"

# --- choose ------------------------------------------------------------------------------------
cat >"$tmp/mc.jsonl" <<'MC'
{"id": "q1", "context": "The jury said the election was", "choices": [" conducted fairly", " a purple elephant", " the"], "gold": 0}
{"id": "q2", "context": "It was a fine day for the", "choices": [" county", " xylophone quartz"], "gold": 0}
{"id": "q3", "context": "He walked into the", "choices": [" room", " house", " of the"]}
MC
"$enc" choose -m "$model" -i "$tmp/mc.jsonl" -o "$tmp/mc.out" >"$tmp/mc.json" 2>/dev/null
[ "$(wc -l <"$tmp/mc.out")" -eq 3 ] || die "choose: output lines"
[ "$(field with_gold <"$tmp/mc.json")" = 2 ] || die "choose: with_gold"
python3 - "$tmp/mc.out" "$tmp/mc.json" <<'PY' || die "choose output"
import json, sys
out = [json.loads(l) for l in open(sys.argv[1])]
summary = json.loads(open(sys.argv[2]).read())
for o in out:
    assert len(o["logliks"]) == len(o["n_tokens"]) == len(o["n_bytes"])
    assert o["argmax"] == max(range(len(o["logliks"])), key=lambda i: (o["logliks"][i], -i))
acc = sum(o["correct"] for o in out if "gold" in o) / 2
assert summary["acc"] == acc
PY
printf '{"id": 1, "context": "x", "choices": ["only one"]}\n' >"$tmp/mc_bad.jsonl"
rm -f "$tmp/bad.jsonl"
expect_error "choose: one choice" "record 1: field 'choices'" \
  "$enc" choose -m "$model" -i "$tmp/mc_bad.jsonl" -o "$tmp/bad.jsonl"

# --- bench score at small sizes: both items/s, the ratio, the ideal ratio ------------------------
"$enc" bench score -m "$model" --prefix 64 --suffix 8 --count 6 --labels 4 --repeats 1 >"$tmp/bench.json"
python3 - "$tmp/bench.json" <<'PY' || die "bench score output"
import json, sys
j = json.loads(open(sys.argv[1]).read())
for k in ("scored_items_per_s", "naive_items_per_s", "ratio", "ideal_ratio", "fraction_of_ideal"):
    assert j[k] > 0, k
assert j["ideal_ratio"] == 9.0 and j["max_abs_logprob_diff"] <= 1e-5
PY

echo "score_cli: OK"
