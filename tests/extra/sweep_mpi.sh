#!/usr/bin/env bash
# `mpirun -np 2 encore sweep ...` (rank 0 hands plans out, rank 1 measures) writes the same run
# directory as one process: results.jsonl, samples.jsonl, results.csv and distance.json byte for
# byte. Skipped (with a note) when encore was built without MPI (ENCORE_MPI off).
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
echo "sweep_mpi: OK"
