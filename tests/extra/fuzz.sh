#!/usr/bin/env bash
# Bounded fuzzing of every input parser: builds the libFuzzer targets of fuzz/ (a standalone
# clang project, in build-fuzz/) and runs each fuzz/<name>_fuzz.cpp for FUZZ_SECONDS (default 20)
# from the seeds in fuzz/corpus/<name>/. New inputs go to a temporary corpus, never into the
# repository. Any crash, sanitizer report, leak, timeout or out-of-memory fails the step; the
# input that caused it is kept in build-fuzz/artifacts/ and printed in hex.
# Usage: tests/extra/fuzz.sh [main-build-dir (unused)]. Env: FUZZ_SECONDS, FUZZ_BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds=${FUZZ_SECONDS:-20}
# A fixed seed by default, so a CI run explores the same inputs every time (set FUZZ_SEED=0 for
# a random one when hunting).
fuzz_seed=${FUZZ_SEED:-1}
build=${FUZZ_BUILD_DIR:-build-fuzz}
die() { echo "fuzz: FAILED: $*" >&2; exit 1; }

command -v clang++ >/dev/null || die "clang++ is not installed (Debian: clang libclang-rt-14-dev)"
cmake -S fuzz -B "$build" -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_C_COMPILER=clang >/dev/null ||
  die "configuring fuzz/"
cmake --build "$build" -j "$(nproc)" >"$build/build.log" 2>&1 || {
  tail -50 "$build/build.log" >&2
  die "building the fuzz targets"
}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$build/artifacts"
n_targets=0
for source in fuzz/*_fuzz.cpp; do
  target=$(basename "$source" .cpp)
  name=${target%_fuzz}
  bin="$build/$target"
  [ -x "$bin" ] || die "$bin was not built"
  seeds="fuzz/corpus/$name"
  mkdir -p "$tmp/$name"
  seed_args=()
  [ -d "$seeds" ] && seed_args=("$seeds")
  echo "fuzz: $target for ${seconds}s"
  if ! "$bin" -seed="$fuzz_seed" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$build/artifacts/$target-" "$tmp/$name" "${seed_args[@]}" \
      >"$tmp/$target.log" 2>&1; then
    tail -60 "$tmp/$target.log" >&2
    for artifact in "$build/artifacts/$target-"*; do
      [ -f "$artifact" ] || continue
      echo "fuzz: input $artifact:" >&2
      od -A d -t x1 "$artifact" | head -40 >&2
    done
    die "$target found a bug"
  fi
  grep -E "^stat::number_of_executed_units|^Done" "$tmp/$target.log" | tr '\n' ' '
  echo
  n_targets=$((n_targets + 1))
done
[ "$n_targets" -gt 0 ] || die "no fuzz targets in fuzz/"
echo "fuzz: OK ($n_targets targets, ${seconds}s each)"
