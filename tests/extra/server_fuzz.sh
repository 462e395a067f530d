#!/usr/bin/env bash
# `encore serve`: a bounded fuzz of request bodies and raw HTTP (tests/server_js/fuzz.mjs): every
# answer 2xx or 4xx, the server alive and no KV block leaked afterwards.
# Usage: tests/extra/server_fuzz.sh [build-dir]. Installs nothing beyond `npm ci` in tests/server_js.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
die() { echo "server_fuzz: FAILED: $*" >&2; exit 1; }
[ -x "$build_dir/encore" ] || die "$build_dir/encore is not built"
command -v node >/dev/null || die "node is not installed"
if [ ! -d tests/server_js/node_modules/openai ]; then
  npm ci --prefix tests/server_js --no-audit --no-fund >/dev/null || die "npm ci in tests/server_js"
fi
ENCORE_BIN="$build_dir/encore" timeout 600 node tests/server_js/fuzz.mjs 400 12345 || die "see above"
