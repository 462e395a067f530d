#!/usr/bin/env bash
# bench/ab.py, the comparison of builds or settings in rounds: a real `encore bench` on the
# bundled model (two variants, one round), then a stand-in bench whose figures the environment
# sets, for the run order (forwards, then backwards), the medians and ratios, the checksum check,
# a failing run (reported, exit status 1, the other runs still made) and bad arguments (one line
# on stderr, exit status 2, nothing run).
# Usage: tests/extra/bench_ab.sh [build-dir]
set -euo pipefail
build_dir=${1:-build}
cd "$(dirname "$0")/../.."
build_dir=$(cd "$build_dir" && pwd)

die() { echo "bench_ab: FAILED: $*" >&2; exit 1; }
enc="$build_dir/encore"
[ -x "$enc" ] || die "$enc is not built"
command -v python3 >/dev/null || die "python3 is not installed"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. The real bench, CPU, bundled model.
python3 bench/ab.py --rounds 1 --variant base "$enc" --variant same "$enc" ENCORE_UNUSED=1 \
  -- bench -m assets/brown-llama-12l --prompt 16 --decode 4 --repeats 1 --threads 1 \
  >"$tmp/real.out" 2>"$tmp/real.err" || die "the real bench comparison failed: $(cat "$tmp/real.err")"
grep -q '^| run | prompt | decode | ceilings |$' "$tmp/real.out" || die "no table: $(cat "$tmp/real.out")"
grep -q '^| base (1) | [0-9]' "$tmp/real.out" || die "no row for base"
grep -q '^| same | [0-9.]* ([0-9.]*x) | [0-9.]* ([0-9.]*x) |$' "$tmp/real.out" ||
  die "no ratios for the second variant: $(cat "$tmp/real.out")"

# 2. A stand-in bench: figures from FAKE_PREFILL / FAKE_SCORE / FAKE_SUM; FAKE_FAIL exits 3.
fake="$tmp/fake-bench"
cat >"$fake" <<'EOF'
#!/usr/bin/env bash
if [ -n "${FAKE_FAIL:-}" ]; then echo "some progress"; echo "encore: error: boom" >&2; exit 3; fi
if [ -n "${FAKE_TEXT:-}" ]; then echo "not json"; exit 0; fi
echo "a table the bench prints first"
printf '{"gemm_tflops":780.0,"copy_gbps":3000.0,"prefill":[{"tokens":512,"tokens_per_s":%s}],' "$FAKE_PREFILL"
printf '"decode":[{"batch":1,"context":512,"tokens_per_s":150.0}],'
printf '"score":{"items_per_s":%s,"checksum":%s}}\n' "$FAKE_SCORE" "$FAKE_SUM"
EOF
chmod +x "$fake"
python3 bench/ab.py --rounds 3 --logs "$tmp/logs" \
  --variant a "$fake" FAKE_PREFILL=100 FAKE_SCORE=10 FAKE_SUM=1.5 \
  --variant b "$fake" FAKE_PREFILL=150 FAKE_SCORE=5 FAKE_SUM=1.5 \
  -- bench --device cuda >"$tmp/fake.out" 2>"$tmp/fake.err" || die "fake comparison failed: $(cat "$tmp/fake.err")"
order=$(grep -o '^ab: [ab] round [0-9]' "$tmp/fake.err" | tr '\n' ',')
[ "$order" = "ab: a round 1,ab: b round 1,ab: b round 2,ab: a round 2,ab: a round 3,ab: b round 3," ] ||
  die "run order: $order"
grep -q '^| b | 150.0 (1.500x) | 150.0 (1.000x) | 5.0 (0.500x) |$' "$tmp/fake.out" ||
  die "medians and ratios: $(cat "$tmp/fake.out")"
grep -q "^Scoring checksum: 1.5 in every run.$" "$tmp/fake.out" || die "checksum line: $(cat "$tmp/fake.out")"
[ -s "$tmp/logs/b_2.log" ] || die "no log of run b 2"

# The bits changed in one variant: reported.
python3 bench/ab.py --rounds 1 \
  --variant a "$fake" FAKE_PREFILL=100 FAKE_SCORE=10 FAKE_SUM=1.5 \
  --variant b "$fake" FAKE_PREFILL=100 FAKE_SCORE=10 FAKE_SUM=2.5 \
  -- bench >"$tmp/sum.out" 2>/dev/null || die "checksum comparison failed"
grep -q '^Scoring checksums differ (the bits changed): a (1) 1.5, b (1) 2.5.$' "$tmp/sum.out" ||
  die "differing checksums not reported: $(cat "$tmp/sum.out")"

# A failing run and one that prints no JSON: reported, the others still made, exit status 1.
set +e
python3 bench/ab.py --rounds 1 \
  --variant a "$fake" FAKE_PREFILL=100 FAKE_SCORE=10 FAKE_SUM=1.5 \
  --variant b "$fake" FAKE_FAIL=1 \
  --variant c "$fake" FAKE_TEXT=1 \
  -- bench >"$tmp/fail.out" 2>"$tmp/fail.err"
rc=$?
set -e
[ $rc -eq 1 ] || die "a failed run should exit 1, got $rc"
grep -q '^| a (1) | 100.0 |' "$tmp/fail.out" || die "the good run is missing: $(cat "$tmp/fail.out")"
grep -q '^| b (1) | failed: exit status 3: encore: error: boom |' "$tmp/fail.out" ||
  die "the failed run is not reported: $(cat "$tmp/fail.out")"
grep -q "^| c (1) | failed: its last line of output is not the bench's JSON |" "$tmp/fail.out" ||
  die "the run without JSON is not reported: $(cat "$tmp/fail.out")"

# Bad arguments: one line on stderr, exit status 2, nothing run.
expect_usage_error() {
  local what=$1
  shift
  set +e
  python3 bench/ab.py "$@" >"$tmp/err.out" 2>"$tmp/err.err"
  local rc=$?
  set -e
  [ $rc -eq 2 ] || die "$what: exit status $rc, expected 2"
  [ "$(wc -l <"$tmp/err.err")" -eq 1 ] || die "$what: expected one line on stderr: $(cat "$tmp/err.err")"
  grep -q '^ab: error: ' "$tmp/err.err" || die "$what: $(cat "$tmp/err.err")"
  [ ! -s "$tmp/err.out" ] || die "$what: printed a table"
}
expect_usage_error "missing binary" --variant a "$tmp/nope" --variant b "$fake" -- bench
grep -q "variant a: $tmp/nope is not an executable file" "$tmp/err.err" || die "$(cat "$tmp/err.err")"
expect_usage_error "bad setting" --variant a "$fake" NOTASETTING --variant b "$fake" -- bench
grep -q "'NOTASETTING' is not VAR=VALUE" "$tmp/err.err" || die "$(cat "$tmp/err.err")"
expect_usage_error "one variant" --variant a "$fake" -- bench
expect_usage_error "no --" --variant a "$fake" --variant b "$fake"
expect_usage_error "same name twice" --variant a "$fake" --variant a "$fake" -- bench
echo "bench_ab: OK"
