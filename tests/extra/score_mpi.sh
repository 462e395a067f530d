#!/usr/bin/env bash
# `mpirun -np N encore score ...` (rank 0 hands items out in batches, ranks 1.. score them, each
# computing the rubric's prefixes itself) writes the same output file as one process, byte for
# byte: JSON lines with -np 2 and -np 3, CSV with -np 3, a resumed partial file (with a torn
# last line) with -np 3; and a failure on rank 0 alone ends every rank with one error line.
# Skipped (with a note) when encore was built without MPI (ENCORE_MPI off) or mpirun is absent.
# Usage: tests/extra/score_mpi.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
encore="$build_dir/encore"
model=assets/brown-llama-12l
die() { echo "score_mpi: FAILED: $*" >&2; exit 1; }
[ -x "$encore" ] || die "$encore is not built"
if ! grep -q '^ENCORE_MPI:BOOL=ON' "$build_dir/CMakeCache.txt" 2>/dev/null; then
  echo "score_mpi: skipped (encore built without MPI)"
  exit 0
fi
if ! command -v mpirun >/dev/null; then
  echo "score_mpi: skipped (mpirun not found: install openmpi-bin)"
  exit 0
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
head -n 11 examples/heldout_stories.jsonl >"$tmp/items.jsonl"
args=(score -m "$model" -r examples/rubrics/story_quality.yaml -i "$tmp/items.jsonl" --batch 2
      --threads 1)
export OMPI_MCA_btl=self,vader OMPI_MCA_plm=isolated OMPI_MCA_btl_vader_single_copy_mechanism=none
mpi() {  # mpi NP OUT [more args]
  local np=$1 out=$2
  shift 2
  timeout 300 mpirun -np "$np" --oversubscribe --allow-run-as-root "$encore" "${args[@]}" \
    -o "$out" "$@" >"$tmp/mpi.json" 2>"$tmp/mpi.log" || { cat "$tmp/mpi.log" >&2; die "mpirun -np $np -o $out"; }
}

"$encore" "${args[@]}" -o "$tmp/one.jsonl" >/dev/null 2>&1
"$encore" "${args[@]}" -o "$tmp/one.csv" >/dev/null 2>&1
[ "$(wc -l <"$tmp/one.jsonl")" -eq 11 ] || die "one process: not 11 results"

for np in 2 3; do
  mpi "$np" "$tmp/np$np.jsonl"
  cmp -s "$tmp/one.jsonl" "$tmp/np$np.jsonl" || die "mpirun -np $np: JSON lines differ from one process"
  [ "$(wc -l <"$tmp/mpi.json")" -eq 1 ] || die "mpirun -np $np: not one summary line on stdout"
  grep -q '"scored":11,' "$tmp/mpi.json" || die "mpirun -np $np: summary: $(cat "$tmp/mpi.json")"
  echo "score_mpi: mpirun -np $np: 11 items, identical to one process"
done
mpi 3 "$tmp/np3.csv"
cmp -s "$tmp/one.csv" "$tmp/np3.csv" || die "mpirun -np 3: CSV differs from one process"
echo "score_mpi: mpirun -np 3: CSV identical to one process"

# Resume: the first 4 results and a torn fifth line; the rest scored under mpirun.
head -n 4 "$tmp/one.jsonl" >"$tmp/part.jsonl"
sed -n 5p "$tmp/one.jsonl" | head -c 40 >>"$tmp/part.jsonl"
mpi 3 "$tmp/part.jsonl"
cmp -s "$tmp/one.jsonl" "$tmp/part.jsonl" || die "mpirun -np 3 resume: file differs from one process"
grep -q '"scored":7,"resumed":4,' "$tmp/mpi.json" || die "resume: summary: $(cat "$tmp/mpi.json")"
echo "score_mpi: mpirun -np 3 resumed 4 of 11, identical to one process"

# An output file of another rubric fails on rank 0 only: every rank ends, one error line.
sed 's/"rubric_hash": *"[0-9a-f]*"/"rubric_hash":"0000000000000000"/' "$tmp/one.jsonl" >"$tmp/other.jsonl"
cp "$tmp/other.jsonl" "$tmp/other.orig"
rc=0
timeout 120 mpirun -np 3 --oversubscribe --allow-run-as-root "$encore" "${args[@]}" \
  -o "$tmp/other.jsonl" >"$tmp/err.out" 2>"$tmp/err.txt" || rc=$?
[ "$rc" -ne 0 ] || die "another rubric's output file: succeeded"
[ "$rc" -ne 124 ] || die "another rubric's output file: mpirun hung"
grep -q '^encore: error: .*other.jsonl' "$tmp/err.txt" || die "no error line: $(cat "$tmp/err.txt")"
cmp -s "$tmp/other.jsonl" "$tmp/other.orig" || die "the output file was changed"
echo "score_mpi: a failure on rank 0 ends every rank"
echo "score_mpi: OK"
