#!/usr/bin/env bash
# `encore serve`: the OpenAI-compatible server through the official openai npm client
# (tests/server_js/api.mjs): echo + logprobs against encore logits, the prefix cache, concurrent
# streams, chat, errors, cancellation, SIGTERM.
# Usage: tests/extra/server_api.sh [build-dir]. Installs nothing beyond `npm ci` in tests/server_js.
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
die() { echo "server_api: FAILED: $*" >&2; exit 1; }
[ -x "$build_dir/encore" ] || die "$build_dir/encore is not built"
command -v node >/dev/null || die "node is not installed"
if [ ! -d tests/server_js/node_modules/openai ]; then
  npm ci --prefix tests/server_js --no-audit --no-fund >/dev/null || die "npm ci in tests/server_js"
fi
ENCORE_BIN="$build_dir/encore" timeout 600 node tests/server_js/api.mjs  || die "see above"
