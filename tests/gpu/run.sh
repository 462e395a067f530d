#!/usr/bin/env bash
# The GPU suite in one command: build with the CUDA backend, every CUDA op against the scalar CPU
# backend, the transformers goldens end to end on --device cuda, batch invariance, the cache
# property tests on the GPU, compute-sanitizer memcheck and racecheck over the GPU tests, then
# the GPU benchmarks (encore bench --device cuda and bench/torch_peer.py). Writes a log per step
# and ends with a summary table.
#
#   bash tests/gpu/run.sh [BUILD_DIR]      (default build-gpu)
#
# Environment: ENCORE_GPU_LOGS (folder for the logs, default BUILD_DIR/gpu-logs);
# ENCORE_GPU_NO_BUILD=1 uses the binaries already in BUILD_DIR (built elsewhere);
# ENCORE_GPU_NO_BENCH=1 skips the benchmarks; ENCORE_GPU_ONLY_BENCH=1 runs only them;
# ENCORE_GPU_NO_PEER=1 skips bench/torch_peer.py, ENCORE_GPU_NO_DET=1 the --deterministic bench;
# ENCORE_GPU_SCORE_ITEMS (items of the torch scoring workload, default 2000);
# ENCORE_GPU_COMPILED=1 adds torch_peer.py's StaticCache + torch.compile decode rows (about 40 s
# of compiling per batch size);
# ENCORE_GPU_STEP_TIMEOUT (seconds per step, default none).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-gpu}
logs=${ENCORE_GPU_LOGS:-$build/gpu-logs}
mkdir -p "$logs"

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "tests/gpu/run.sh: no GPU found (nvidia-smi lists no device): nothing was run"
  exit 0
fi
nvidia-smi -L | tee "$logs/device.txt"

if [ -z "${ENCORE_GPU_NO_BUILD:-}" ]; then
  echo "== build ($build)"
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DENCORE_CUDA=ON \
    -DCMAKE_CUDA_ARCHITECTURES=90a >"$logs/build.log" 2>&1 &&
    cmake --build "$build" -j "$(nproc)" --target encore encore_gpu_tests encore_engine_tests \
      >>"$logs/build.log" 2>&1 || { tail -30 "$logs/build.log"; echo "build failed"; exit 1; }
fi

declare -a names results times
failed=0
# step NAME LOGFILE COMMAND...: runs the command, its output into LOGFILE and to the screen.
step() {
  local name=$1 logfile=$2
  shift 2
  echo "== $name"
  local t0=$SECONDS
  timeout "${ENCORE_GPU_STEP_TIMEOUT:-0}" "$@" 2>&1 | tee "$logs/$logfile"
  local rc=${PIPESTATUS[0]}
  names+=("$name")
  times+=($((SECONDS - t0)))
  if [ "$rc" -eq 0 ]; then results+=("pass"); else results+=("FAIL ($rc)"); failed=1; fi
}

gpu_tests="$build/encore_gpu_tests"
if [ -z "${ENCORE_GPU_ONLY_BENCH:-}" ]; then
step "CUDA ops vs scalar backend" ops.log "$gpu_tests" --gtest_filter='CudaOps.*:CudaAttentionMma.*'
step "goldens end to end (cuda)" goldens.log "$gpu_tests" --gtest_filter='*CudaGolden*:CudaGguf*'
step "batch invariance" invariance.log "$gpu_tests" --gtest_filter='CudaBatchInvariance.*'
step "fork and stem reuse" engine.log "$gpu_tests" --gtest_filter='CudaEngine.*'
step "KV storage types f16/bf16 (cuda)" kv_type.log "$gpu_tests" --gtest_filter='CudaKvType.*'
step "jobs on cuda vs cpu (perplexity, score, sweep)" cpu_vs_cuda.log bash \
  "$root/tests/gpu/cpu_vs_cuda.sh" "$build/encore"
step "cache property tests (cuda)" property.log env ENCORE_TEST_DEVICE=cuda \
  "$build/encore_engine_tests" --gtest_filter='SequenceProperty.*'
if command -v compute-sanitizer >/dev/null 2>&1; then
  step "compute-sanitizer memcheck" memcheck.log compute-sanitizer --tool memcheck \
    --error-exitcode 1 "$gpu_tests" --gtest_filter='CudaOps.*:CudaAttentionMma.*:CudaEngine.*'
  step "compute-sanitizer racecheck" racecheck.log compute-sanitizer --tool racecheck \
    --error-exitcode 1 "$gpu_tests" \
    --gtest_filter='CudaOps.Attention*:CudaOps.Rms*:CudaAttentionMma.*:-CudaAttentionMma.TheSplitPath*'
else
  names+=("compute-sanitizer"); results+=("not found"); times+=(0)
fi
fi

if [ -z "${ENCORE_GPU_NO_BENCH:-}" ]; then
  step "encore bench --device cuda" bench.log "$build/encore" bench --device cuda
  if [ -z "${ENCORE_GPU_NO_DET:-}" ]; then
    step "encore bench --device cuda --deterministic" bench_det.log "$build/encore" bench \
      --device cuda --deterministic
  fi
  if [ -z "${ENCORE_GPU_NO_PEER:-}" ]; then
    step "bench/torch_peer.py" torch_peer.log env PYTHONUNBUFFERED=1 python3 \
      "$root/bench/torch_peer.py" --score-items "${ENCORE_GPU_SCORE_ITEMS:-2000}" \
      ${ENCORE_GPU_COMPILED:+--compiled} --encore-log "$logs/bench.log"
  fi
fi

echo
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader | head -1), $(date -u +%F))"
printf '%-48s %-10s %8s\n' step result seconds
for i in "${!names[@]}"; do
  printf '%-48s %-10s %8s\n' "${names[$i]}" "${results[$i]}" "${times[$i]}"
done
exit $failed
