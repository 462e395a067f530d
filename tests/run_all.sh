#!/usr/bin/env bash
# The whole test suite: unit and golden tests through ctest, then the checks that need other
# programs (the independent GGUF parser, bounded fuzz runs). Prints one closing summary line.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/.."
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)"
for extra in tests/extra/*.sh; do
  [ -e "$extra" ] || continue
  echo "== $extra"
  bash "$extra" "$build_dir"
done
