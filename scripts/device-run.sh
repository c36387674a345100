#!/usr/bin/env bash
# Runs on the device machine (after scripts/device-pack.sh here): unpacks Node and the modules,
# builds the native addon with the machine's own cmake and nvcc, then runs the given steps.
#   scripts/device-run.sh test-native test-engine bench-memory bench-decode
set -uo pipefail
out="${OUT:-/tmp/out}"
mkdir -p "$out"
xz -dc .device/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
tar xJf .device/modules.tar.xz
export TS_SHARED_MODELS="$PWD/.device/models"
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader

pkg=packages/memory-saver-native
inc="$(cd $pkg && node -p "require('node-api-headers').include_dir");$(cd $pkg && node -p "require('path').resolve(require('node-addon-api').include_dir)")"
cmake -S $pkg -B $pkg/build -DCMAKE_BUILD_TYPE=Release -DCMAKE_JS_INC="$inc" \
  -DCMAKE_LIBRARY_OUTPUT_DIRECTORY="$PWD/$pkg/build/Release" -DCMAKE_CUDA_ARCHITECTURES=90 > "$out/cmake.log" 2>&1 \
  && cmake --build $pkg/build -j 16 >> "$out/cmake.log" 2>&1 || { tail -40 "$out/cmake.log"; exit 1; }
grep -E "CUDA backend" "$out/cmake.log"

status=0
for step in "$@"; do
  echo "=== $step"
  case "$step" in
    test-native)
      (cd $pkg && TS_DEVICE=cuda node node_modules/vitest/vitest.mjs run --no-file-parallelism 2>&1) | tee "$out/test-native-cuda.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      (cd $pkg && node node_modules/vitest/vitest.mjs run 2>&1) | tail -6 | tee "$out/test-native-cpu.log"
      ;;
    test-engine)
      (cd packages/engine && TS_DEVICE=cuda node node_modules/vitest/vitest.mjs run --no-file-parallelism \
        src/model/model-runner.fixtures.test.ts src/model/model-runner.dtypes.test.ts src/rank/rank.test.ts 2>&1) \
        | tee "$out/test-engine-cuda.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    bench-decode)
      (cd packages/engine && node dist/bench/decode-bench.js --device cuda 2>&1) | tee "$out/bench-decode.md"
      ;;
    bench-memory)
      (cd $pkg && node dist/bench/memory-bench.js --device cuda 2>&1) | tee "$out/bench-memory.md"
      ;;
    *) echo "unknown step $step"; status=2 ;;
  esac
done
exit $status
