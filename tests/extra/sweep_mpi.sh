#!/usr/bin/env bash
# `mpirun -np 2 encore sweep ...` (rank 0 hands plans out, rank 1 measures) writes the same run
# directory as one process: results.jsonl, samples.jsonl, results.csv and distance.json byte for
# byte; so do the rubric and choice probes, also against --no-stem-reuse. Skipped (with a note) when encore was built without MPI (ENCORE_MPI off).
# Usage: tests/extra/sweep_mpi.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
encore="$build_dir/encore"
model=assets/brown-llama-12l
die() { echo "sweep_mpi: FAILED: $*" >&2; exit 1; }
[ -x "$encore" ] || die "$encore is not built"
if ! grep -q '^ENCORE_MPI:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
  echo "sweep_mpi: skipped (encore built without MPI)"
  exit 0
fi
command -v mpirun >/dev/null || die "mpirun not found (openmpi-bin)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -c 20000 "$model/heldout.txt" >"$tmp/text.txt"
printf 'The jury said\nIt was a\n' >"$tmp/prompts.txt"
args=(sweep -m "$model" --plans rys --max-block 3 --ppl "$tmp/text.txt" --ppl-ctx 96
      --ppl-windows 2 --prompts "$tmp/prompts.txt" --gen-tokens 8 --min-tokens 4 --threads 1)
"$encore" "${args[@]}" -o "$tmp/one" >/dev/null
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
timeout 300 mpirun -np 2 --oversubscribe --allow-run-as-root "$encore" "${args[@]}" \
  -o "$tmp/mpi" >"$tmp/mpi.log" 2>&1 || { cat "$tmp/mpi.log" >&2; die "mpirun -np 2"; }
for f in run.json results.jsonl samples.jsonl results.csv distance.json; do
  cmp -s "$tmp/one/$f" "$tmp/mpi/$f" || die "$f differs between one process and mpirun -np 2"
done
echo "sweep_mpi: mpirun -np 2: $(wc -l <"$tmp/mpi/results.jsonl") plans, identical to one process"
# The rubric and choice probes (stem states of the base's scoring kept in each rank's stem
# store): under mpirun and with --no-stem-reuse, the same results as one process.
head -3 examples/heldout_stories.jsonl >"$tmp/items.jsonl"
printf '%s\n' '{"context": "The jury said it", "choices": [" was", " the", " of"], "gold": 0}' \
  '{"context": "In the morning", "choices": [" he", " of the", " sat"], "gold": 1}' >"$tmp/choices.jsonl"
args=(sweep -m "$model" --plan rys:4,8 --plan rys:1,12 --plan 'rys:2,5;7,9' --plan 3-11
      --rubric examples/rubrics/story_quality.yaml --items "$tmp/items.jsonl"
      --choices "$tmp/choices.jsonl" --threads 1 --no-report)
"$encore" "${args[@]}" -o "$tmp/score_one" >/dev/null
"$encore" "${args[@]}" --no-stem-reuse -o "$tmp/score_full" >/dev/null
timeout 300 mpirun -np 2 --oversubscribe --allow-run-as-root "$encore" "${args[@]}" \
  -o "$tmp/score_mpi" >"$tmp/mpi.log" 2>&1 || { cat "$tmp/mpi.log" >&2; die "mpirun -np 2 (rubric)"; }
for d in score_full score_mpi; do
  cmp -s "$tmp/score_one/results.jsonl" "$tmp/$d/results.jsonl" ||
    die "rubric and choice probes: results.jsonl of $d differs from one process with stem reuse"
done
echo "sweep_mpi: rubric and choice probes: stem reuse, --no-stem-reuse and mpirun -np 2 identical"
echo "sweep_mpi: OK"
