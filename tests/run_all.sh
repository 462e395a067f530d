#!/usr/bin/env bash
# The whole test suite: unit and golden tests through ctest, then the checks that need other
# programs (tests/extra/*.sh: the independent GGUF parser, CLI behaviour, bounded fuzz runs).
# Stops at the first failing stage; ends with one summary line "N passed, 0 failed".
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
n_ctest=$(ctest --test-dir "$build_dir" -N | awk '/Total Tests:/ {print $3}')
n_extra=0
for extra in tests/extra/*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra"
  bash "$extra" "$build_dir"
  n_extra=$((n_extra + 1))
done
echo "all stages passed: $n_ctest ctest tests and $n_extra scripts"
echo "$((n_ctest + n_extra)) passed, 0 failed"
