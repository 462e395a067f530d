#!/usr/bin/env bash
# A sweep killed with SIGKILL in the middle and then run again ends with every plan exactly once
# and the same values as a sweep that ran through (results.jsonl, samples.jsonl, results.csv
# byte for byte). Also: bad input gives one-line errors and leaves the run directory as it was.
# Usage: tests/extra/sweep_resume.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
encore="$build_dir/encore"
model=assets/brown-llama-12l
die() { echo "sweep_resume: FAILED: $*" >&2; exit 1; }
[ -x "$encore" ] || die "$encore is not built"

tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT
head -c 20000 "$model/heldout.txt" >"$tmp/text.txt"
printf 'The jury said\nIt was a\n' >"$tmp/prompts.txt"
args=(sweep -m "$model" --plans rys --max-block 4 --ppl "$tmp/text.txt" --ppl-ctx 96
      --ppl-windows 2 --prompts "$tmp/prompts.txt" --gen-tokens 8 --min-tokens 4 --threads 2
      --no-report)
sweep() { "$encore" "${args[@]}" "$@"; }

sweep -o "$tmp/whole" >/dev/null
n_plans=$(wc -l <"$tmp/whole/results.jsonl")
[ "$n_plans" -eq 43 ] || die "the whole sweep has $n_plans result lines, want 43 (42 plans + base)"

for attempt in 1 2 3; do
  rm -rf "$tmp/killed"
  "$encore" "${args[@]}" -o "$tmp/killed" >/dev/null 2>&1 &
  pid=$!  # encore itself, not a subshell: kill -9 must reach the sweep
  # Kill once a few plans are done, while later ones are being measured.
  for _ in $(seq 1 600); do
    n=$(cat "$tmp/killed/results.jsonl" 2>/dev/null | wc -l || true)
    [ "${n:-0}" -ge $((3 * attempt)) ] && break
    sleep 0.05
  done
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=
  done_before=$(wc -l <"$tmp/killed/results.jsonl")
  [ "$done_before" -lt "$n_plans" ] || die "the sweep finished before it was killed"
  sweep -o "$tmp/killed" >/dev/null
  for f in results.jsonl samples.jsonl results.csv; do
    cmp -s "$tmp/whole/$f" "$tmp/killed/$f" || die "$f differs after kill -9 at $done_before plans"
  done
  dups=$(grep -o '"plan":"[^"]*"' "$tmp/killed/results.jsonl" | sort | uniq -d | wc -l)
  [ "$dups" -eq 0 ] || die "plans measured twice"
  echo "sweep_resume: killed after $done_before of $n_plans plans, resumed: identical"
done

# Bad input: one line on stderr, non-zero exit, results untouched.
cp "$tmp/whole/results.jsonl" "$tmp/before.jsonl"
expect_error() {
  local want=$1; shift
  if "$@" >"$tmp/out" 2>"$tmp/err"; then die "no error for: $*"; fi
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { cat "$tmp/err" >&2; die "not one line: $*"; }
  grep -q -- "$want" "$tmp/err" || { cat "$tmp/err" >&2; die "error lacks '$want': $*"; }
}
expect_error "probes.ppl.ctx" "$encore" sweep -m "$model" -o "$tmp/whole" --plans rys --max-block 4 \
  --ppl "$tmp/text.txt" --ppl-ctx 64 --ppl-windows 2 --prompts "$tmp/prompts.txt" --gen-tokens 8 \
  --min-tokens 4
expect_error "plan set" "$encore" sweep -m "$model" -o "$tmp/whole" --plan rys:1,2 \
  --ppl "$tmp/text.txt" --ppl-ctx 96 --ppl-windows 2 --prompts "$tmp/prompts.txt" --gen-tokens 8 --min-tokens 4
expect_error "out of range" "$encore" sweep -m "$model" -o "$tmp/new" --plan 0-13 --ppl "$tmp/text.txt"
expect_error "empty plan set" "$encore" sweep -m "$model" -o "$tmp/new" --plan 0-11 --ppl "$tmp/text.txt"
expect_error "missing.txt" "$encore" sweep -m "$model" -o "$tmp/new" --plan rys:1,2 --ppl "$tmp/missing.txt"
expect_error "missing.txt" "$encore" sweep -m "$model" -o "$tmp/new" --plan rys:1,2 --prompts "$tmp/missing.txt"
# The run directory records the KV storage type: resuming with another one is refused.
expect_error "'kv_type' (absent there, \"f16\" here)" "$encore" "${args[@]}" -o "$tmp/whole" --kv-type f16
# A second sweep in a run directory in use is refused (the first holds a lock on it).
# The first one measures every RYS plan with long windows, so it is still running when the
# second one starts (checked after it: a finished first sweep would prove nothing).
"$encore" sweep -m "$model" --plans rys --ppl "$tmp/text.txt" --ppl-ctx 512 --ppl-windows 8 \
  --threads 1 --no-report -o "$tmp/locked" >/dev/null 2>&1 &
pid=$!
for _ in $(seq 1 1200); do [ -s "$tmp/locked/results.jsonl" ] && break; sleep 0.05; done
expect_error "in use" "$encore" sweep -m "$model" --plans rys --ppl "$tmp/text.txt" --ppl-ctx 512 \
  --ppl-windows 8 --threads 1 --no-report -o "$tmp/locked"
kill -0 "$pid" 2>/dev/null || die "the first sweep ended before the second was refused"
kill -9 "$pid" 2>/dev/null || true
wait "$pid" 2>/dev/null || true
pid=
cmp -s "$tmp/before.jsonl" "$tmp/whole/results.jsonl" || die "a refused resume changed results"
echo "sweep_resume: OK"
