#!/usr/bin/env bash
# The sweep report in a real browser: Debian's headless Chromium, driven by playwright-core
# (tests/sweep/browser/check_report.mjs), opens report.html from disk with no console error and
# no network request, shows every heatmap, and sorts the plan table when a column header is
# clicked. Checked on the bundled model's committed report (docs/sweep/report.html) and on the
# report of the synthetic run directory of tests/sweep/report_test.cpp.
# Usage: tests/extra/sweep_report_browser.sh [build-dir]. Needs /usr/bin/chromium (Makefile).
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
die() { echo "sweep_report_browser: FAILED: $*" >&2; exit 1; }
[ -x /usr/bin/chromium ] || die "/usr/bin/chromium is not installed (apt-get install chromium)"
command -v node >/dev/null || die "node is not installed"
if [ ! -d tests/sweep/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/sweep/browser --no-audit --no-fund >/dev/null || die "npm ci in tests/sweep/browser"
fi
bin="$build_dir/encore_sweep_tests"
[ -x "$bin" ] || die "$bin is not built"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ENCORE_REPORT_SAMPLE_DIR="$tmp/sample" "$bin" --gtest_filter='RunDirSample.*' >"$tmp/log" 2>&1 ||
  { cat "$tmp/log" >&2; die "writing the synthetic run directory"; }
run() { timeout 120 node tests/sweep/browser/check_report.mjs "$@"; }
run "$tmp/sample/report.html" "perplexity" || die "synthetic report"
[ -f docs/sweep/report.html ] || die "docs/sweep/report.html is missing"
run docs/sweep/report.html "perplexity" || die "docs/sweep/report.html"
# The checker must notice a broken page: a script error and a fetched resource.
sed 's|</body>|<script>undefined_function();</script><img src="http://127.0.0.1:9/x.png"></body>|' \
  docs/sweep/report.html >"$tmp/broken.html"
if run "$tmp/broken.html" "perplexity" >/dev/null 2>&1; then
  die "the checker accepted a page with a script error and a network request"
fi
echo "sweep_report_browser: OK"
