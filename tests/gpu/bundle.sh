#!/usr/bin/env bash
# Packs a build's GPU binaries (encore, encore_gpu_tests, encore_engine_tests) with the shared
# libraries they need that a GPU machine's image may lack (everything ldd lists except the C and
# C++ runtimes and the CUDA libraries, which come with the machine's driver and toolkit), for
# machines that can run but not build encore:
#
#   bash tests/gpu/bundle.sh BUILD_DIR OUT.tar.xz
#   # there: tar xf OUT.tar.xz && LD_LIBRARY_PATH=$PWD/gpu-bundle/lib:... \
#   #        ENCORE_GPU_NO_BUILD=1 bash tests/gpu/run.sh gpu-bundle
set -euo pipefail
build=$1
out=$2
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/gpu-bundle/lib"
bins=(encore encore_gpu_tests encore_engine_tests)
for b in "${bins[@]}"; do
  cp "$build/$b" "$stage/gpu-bundle/"
  strip "$stage/gpu-bundle/$b"
done
for b in "${bins[@]}"; do ldd "$build/$b"; done | awk '/=> \// {print $3}' | sort -u |
  grep -Ev '/(libc|libm|libdl|librt|libpthread|libgcc_s|libstdc\+\+|ld-linux[^/]*)\.so' |
  grep -Ev '/libcu(blas|blasLt|dart)\.so' |
  while read -r lib; do cp -L "$lib" "$stage/gpu-bundle/lib/"; done
tar -C "$stage" -cJf "$out" gpu-bundle
ls -la "$out"
