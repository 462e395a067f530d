#!/usr/bin/env bash
# `encore serve`: a small bounded load test (tests/server_js/load.mjs): the same requests one at a
# time and concurrently, none failing, the same greedy texts; the figures are printed, not asserted.
# Usage: tests/extra/server_load.sh [build-dir]. Installs nothing beyond `npm ci` in tests/server_js.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
die() { echo "server_load: FAILED: $*" >&2; exit 1; }
[ -x "$build_dir/encore" ] || die "$build_dir/encore is not built"
command -v node >/dev/null || die "node is not installed"
if [ ! -d tests/server_js/node_modules/openai ]; then
  npm ci --prefix tests/server_js --no-audit --no-fund >/dev/null || die "npm ci in tests/server_js"
fi
ENCORE_BIN="$build_dir/encore" timeout 600 node tests/server_js/load.mjs 24 8 16 2 || die "see above"
