#!/usr/bin/env bash
# Runs on the device machine (after scripts/device-pack.sh here): unpacks Node and the modules,
# builds the native addon with the machine's own cmake and nvcc, then runs the given steps.
#   scripts/device-run.sh llama-cpp-build test-native test-engine test-e2e test-trainer bench-memory model-1b reference-1b \
#     bench-decode decode-vs-probe deterministic-cost bench-sleep bench-rollout bench-ipc llama-cpp probe-attention probe-cp-async test-torch-store
# model-1b makes the Llama-3.2-1B-shaped checkpoint (random bf16 weights, $MODEL_1B), times
# transformers on it and writes its reference logits; the steps after it use that checkpoint.
set -uo pipefail
out="${OUT:-/tmp/out}"
mkdir -p "$out"
xz -dc .device/node.xz > /usr/local/bin/node && chmod +x /usr/local/bin/node
tar xJf .device/modules.tar.xz
export TS_SHARED_MODELS="$PWD/.device/models"
MODEL_1B="${MODEL_1B:-/tmp/llama-1b}"
export NCCL_NVLS_ENABLE=0  # the device README: NVLink multicast stays off (no NCCL is used today)
nvidia-smi --query-gpu=name,driver_version,memory.used,memory.total --format=csv,noheader

# llama.cpp's build is CPU work of minutes: started first, nice'd, in the background.
for step in "$@"; do
  if [ "$step" = llama-cpp-build ]; then
    nice -n 15 bash e2e/bench/llama_cpp_bench.sh --build-only > "$out/llama-build.log" 2>&1 &
    llama_build=$!
  fi
done

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
      # The kernels again in plain stream order (no programmatic dependent launch), appended to that log.
      (cd $pkg && TS_DEVICE=cuda TS_OVERLAPPED_LAUNCH=0 node node_modules/vitest/vitest.mjs run --no-file-parallelism \
        $(ls src/ops-*.test.ts) 2>&1) | sed 's/\x1b\[[0-9;]*m//g' | grep -aE 'Test Files|Tests |FAIL' \
        | sed 's/^/plain launches: /' | tee -a "$out/test-native-cuda.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      (cd $pkg && node node_modules/vitest/vitest.mjs run 2>&1) | tail -6 | tee "$out/test-native-cpu.log"
      ;;
    test-engine)
      # The files marked `// @module-tag cuda` (vitest tags them so too).
      engine_files=$(cd packages/engine && grep -rl --include='*.test.ts' '@module-tag cuda' src | sort)
      (cd packages/engine && TS_DEVICE=cuda node node_modules/vitest/vitest.mjs run --no-file-parallelism \
        $engine_files 2>&1) \
        | tee "$out/test-engine-cuda.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    test-e2e)
      # The HTTP RL loops of e2e/tests/serve.test.ts on CUDA (at --dp-size 2 one rank per GPU where there are two),
      # shutdown in every state, and (after make-1b) the RL loop at --dtype auto on the 1B-shaped checkpoint.
      e2e_model=""
      [ -f "$MODEL_1B/config.json" ] && e2e_model="$MODEL_1B"
      e2e_files=$(cd e2e && grep -rl --include='*.test.ts' '@module-tag cuda' tests | sort)
      (cd e2e && TS_E2E_DEVICE=cuda TS_E2E_MODEL="$e2e_model" node node_modules/vitest/vitest.mjs run \
        --no-file-parallelism $e2e_files 2>&1) \
        | tee "$out/test-e2e-cuda.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    test-trainer)
      # Issue 16: a PyTorch trainer on this GPU pushes the second llama checkpoint as SGLang's clients
      # do, its tensors on the CPU (shared memory) and on the GPU (CUDA IPC handles).
      # With make-1b before it, the CUDA trainer also pushes the sign-flipped 1B checkpoint in 64 MiB buckets.
      trainer_model=""
      [ -f "$MODEL_1B/config.json" ] && trainer_model="$MODEL_1B"
      for trainer in cpu cuda; do
        (cd e2e && TS_E2E_DEVICE=cuda TS_E2E_PYTHON=python3 TS_E2E_TRAINER_DEVICE=$trainer TS_E2E_MODEL="$trainer_model" \
          node node_modules/vitest/vitest.mjs run tests/torch-trainer.test.ts 2>&1) | tee "$out/test-trainer-$trainer.log"
        [ "${PIPESTATUS[0]}" = 0 ] || status=1
      done
      ;;
    model-1b)
      PYTHONUNBUFFERED=1 python3 e2e/bench/hf_generate_bench.py --out "$MODEL_1B" 2>&1 | tee "$out/bench-transformers.md"
      ;;
    make-1b)
      PYTHONUNBUFFERED=1 python3 e2e/bench/hf_generate_bench.py --out "$MODEL_1B" --make-only 2>&1 | tail -2
      ;;
    reference-1b)
      PYTHONUNBUFFERED=1 python3 e2e/bench/reference_logits.py --model "$MODEL_1B" 2>&1 | tail -8
      (cd packages/engine && TS_DEVICE=cuda TS_REFERENCE_MODEL="$MODEL_1B" node node_modules/vitest/vitest.mjs run \
        src/model/model-runner.reference.test.ts 2>&1) | tee "$out/test-reference-1b.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    bench-decode)
      model=random:1b
      [ -f "$MODEL_1B/config.json" ] && model="$MODEL_1B"
      (cd packages/engine && node dist/bench/decode-bench.js --device cuda --model "$model" --reps 3 2>&1) | tee "$out/bench-decode.md"
      ;;
    decode-vs-probe)
      # Issue 15's table: bench:decode over a context beside the PyTorch probe at the same CTX,
      # batches 1-256 (DECODE_CONTEXTS to change the contexts). Random weights: random:1b.
      for ctx in ${DECODE_CONTEXTS:-512 2048 8192}; do
        (cd packages/engine && node dist/bench/decode-bench.js --device cuda --model random:1b \
          --batches 1,8,64,128,256 --context "$ctx" --new-tokens 64 --reps 2 --graphs-only 2>&1) \
          > "$out/decode-$ctx.md"
        grep -E '^\| cuda' "$out/decode-$ctx.md"
        CTX=$ctx BATCHES=1,8,64,128,256 MODES=compiled OUT="/tmp/probe-$ctx" \
          python3 .device/torch_decode_probe.py > "$out/probe-$ctx.log" 2>&1
        python3 -c "import json; d = json.load(open('/tmp/probe-$ctx/res.json')); \
print('probe', $ctx, round(d['HBM_read_sum_TBps'], 2), 'TB/s', {k: v['tok_s'] for k, v in d['decode_ctx$ctx'].items()})"
      done
      ;;
    deterministic-cost)
      # Issue 17's cost: bench:decode's rows with and without batch-invariant kernels, batches 64 and
      # 256 (DECODE_CONTEXTS), then bench:rollout with and without --enable-deterministic-inference.
      for ctx in ${DECODE_CONTEXTS:-512 2048}; do
        (cd packages/engine && node dist/bench/decode-bench.js --device cuda --model random:1b \
          --batches 1,64,256 --context "$ctx" --new-tokens 64 --reps 2 --graphs-only --deterministic 2>&1) \
          > "$out/deterministic-decode-$ctx.md"
        [ "${PIPESTATUS[0]}" = 0 ] || status=1
        grep -E '^\| cuda|graphs:' "$out/deterministic-decode-$ctx.md"
      done
      for variant in "" "--enable-deterministic-inference"; do
        (cd packages/engine && node dist/bench/rollout-bench.js --device cuda --model "$MODEL_1B" ${ROLLOUT_ARGS:-} $variant 2>&1) \
          | tee -a "$out/deterministic-rollout.md" | grep -E '^engine|^\| cuda'
        [ "${PIPESTATUS[0]}" = 0 ] || status=1
      done
      ;;
    bench-ipc)
      # Issue 16: the 1B checkpoint pushed by a PyTorch trainer on this GPU over CUDA IPC, 100 times
      # whole and in 64 MiB buckets, to `ts-engine serve` (IPC_ARGS adds flags to the bench).
      port=30123
      node packages/engine/dist/cli/main.js serve --device cuda --model "$MODEL_1B" --port $port \
        --kv-memory-fraction 0.05 > "$out/bench-ipc-server.log" 2>&1 &
      server=$!
      python3 -c "import time, urllib.request
for _ in range(600):
    try: urllib.request.urlopen('http://127.0.0.1:$port/health'); break
    except Exception: time.sleep(0.1)"
      python3 e2e/bench/ipc_update_bench.py "http://127.0.0.1:$port" "$MODEL_1B/model.safetensors" ${IPC_ARGS:-} 2>&1 \
        | tee "$out/bench-ipc.md"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      kill -TERM $server; wait $server
      ;;
    bench-sleep)
      # SLEEP_ARGS adds flags, e.g. SLEEP_ARGS="--kv-memory-fraction 0.05".
      (cd packages/engine && node dist/bench/sleep-bench.js --device cuda --model "$MODEL_1B" ${SLEEP_ARGS:-} 2>&1) \
        | tee -a "$out/bench-sleep.md"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    bench-rollout)
      # The whole engine on a GRPO-shaped rollout beside bench:decode at its mean batch and context.
      # ROLLOUT_ARGS adds flags, e.g. ROLLOUT_ARGS="--prompts 32 --max-running 128"; ROLLOUT_VARIANTS
      # (';'-separated) runs it once more per variant's flags, side by side.
      IFS=';' read -ra variants <<< "${ROLLOUT_VARIANTS:-}"
      for variant in "" "${variants[@]}"; do
        (cd packages/engine && node dist/bench/rollout-bench.js --device cuda --model "$MODEL_1B" ${ROLLOUT_ARGS:-} $variant 2>&1) \
          | tee -a "$out/bench-rollout.md"
        [ "${PIPESTATUS[0]}" = 0 ] || status=1
      done
      ;;
    sleep-trace)
      # One cycle with every step's timings, to see where a first token's milliseconds go.
      (cd packages/engine && TS_STEP_TRACE=1 node dist/bench/sleep-bench.js --device cuda --model "$MODEL_1B" \
        --cycles 1 ${SLEEP_ARGS:-} > "$out/sleep-trace.log" 2>&1)
      tail -40 "$out/sleep-trace.log"
      ;;
    llama-cpp)
      # The build may have started in the background already (llama-cpp-build, first in the list).
      [ -n "${llama_build:-}" ] && { wait "$llama_build" || echo "llama.cpp background build failed: see $out/llama-build.log"; }
      bash e2e/bench/llama_cpp_bench.sh "$MODEL_1B" 2>&1 | tee "$out/bench-llama-cpp.md"
      ;;
    llama-cpp-build) ;;  # started before the addon's build, above
    profile-decode)
      # Each kernel's GPU time at decode batch PROFILE_BATCH (default 1; ncu, graph nodes one by one, L2 not flushed
      # between them, as in a step), summed by kernel over the last half of the PROFILE_TOKENS decode steps (16) and
      # divided by their count; PROFILE_CONTEXT: decode over that many keys instead of after a 16-token prompt.
      model=random:1b
      shape="--prompt 16"
      [ -n "${PROFILE_CONTEXT:-}" ] && shape="--context $PROFILE_CONTEXT"
      [ -f "$MODEL_1B/config.json" ] && model="$MODEL_1B"
      tokens=${PROFILE_TOKENS:-16}
      counted=$((tokens / 2))  # two gatherRows launches a decode step mark where the counted steps begin
      (cd packages/engine && ncu --clock-control none --cache-control none --graph-profiling node --metrics gpu__time_duration.sum \
        --csv --print-units base node dist/bench/decode-bench.js --device cuda --model "$model" \
        --batches "${PROFILE_BATCH:-1}" $shape --new-tokens "$tokens" --reps 1 > "$out/ncu-decode-${PROFILE_BATCH:-1}.csv" 2> "$out/ncu-decode.err")
      python3 e2e/bench/ncu_kernel_table.py "$out/ncu-decode-${PROFILE_BATCH:-1}.csv" --from-last $((2 * counted)) \
        --steps "$counted" | tee "$out/profile-decode-${PROFILE_BATCH:-1}.md"
      tail -5 "$out/ncu-decode.err"
      ;;
    probe-attention)
      # The decode attention kernel alone per DecodeShape, beside a streaming read and the PyTorch
      # probe's SDPA at the same shapes (KV TB/s side by side); PROBE_SHAPES (pairs of batch, context)
      # for others, SCRUB=1 to time each call alone with the L2 scrubbed, in both.
      shapes="${PROBE_SHAPES:-256 8192 64 8192 8 8192 256 2048 128 2048 64 2048 256 512}"
      nvcc -std=c++20 -O3 -arch=sm_90 -I native/src -o /tmp/attention_decode_probe e2e/bench/attention_decode_probe.cu \
        && /tmp/attention_decode_probe $shapes 2>&1 | tee "$out/probe-attention.md"
      python3 e2e/bench/sdpa_decode_probe.py $shapes 2>/dev/null | tee "$out/probe-attention-sdpa.md"
      ;;
    test-torch-store)
      # Issue 19: the engine's TCP store client against PyTorch's own TCPStore server.
      (cd packages/engine && TS_TORCH_PYTHON=python3 node node_modules/vitest/vitest.mjs run src/engine/tcp-store.torch.test.ts 2>&1) \
        | tee "$out/test-torch-store.log"
      [ "${PIPESTATUS[0]}" = 0 ] || status=1
      ;;
    probe-cp-async)
      # Sectors L2 is asked for per way of copying a decode tile to shared memory (issue 15: attendDecode's
      # copies ask for twice what DRAM gives): the probe's table, then ncu's counters per kernel.
      nvcc -std=c++20 -O3 -arch=sm_90 -o /tmp/cp_async_probe e2e/bench/cp_async_probe.cu \
        && /tmp/cp_async_probe 2>&1 | tee "$out/probe-cp-async.md" \
        && ncu --metrics lts__t_sectors_srcunit_tex_op_read.sum,lts__t_requests_srcunit_tex_op_read.sum,dram__sectors_read.sum \
          /tmp/cp_async_probe > "$out/ncu-cp-async.txt" 2>&1
      grep -E "void stream|lts__|dram__" "$out/ncu-cp-async.txt" | head -120
      ;;
    profile-attention)
      # Why decode attention reads below the HBM rate: ncu's memory, warp-state and scheduler sections for
      # one attendDecode launch and for the PyTorch probe's attention kernel, both at PROFILE_BATCH (256)
      # over PROFILE_CONTEXT (8192) keys.
      sections="--section SpeedOfLight --section MemoryWorkloadAnalysis --section WarpStateStats --section SchedulerStats --section Occupancy"
      (cd packages/engine && ncu --graph-profiling node --kernel-name regex:attendDecode --launch-skip 16 --launch-count 1 \
        $sections node dist/bench/decode-bench.js --device cuda --model random:1b --batches "${PROFILE_BATCH:-256}" \
        --context "${PROFILE_CONTEXT:-8192}" --new-tokens 2 --reps 1 --graphs-only > "$out/ncu-attention-ours.txt" 2>&1)
      CTX="${PROFILE_CONTEXT:-8192}" BATCHES="${PROFILE_BATCH:-256}" MODES=compiled OUT=/tmp/probe-ncu \
        ncu --graph-profiling node --kernel-name regex:"flash|fmha|attention|sdpa" --launch-skip 16 --launch-count 1 \
        $sections python3 .device/torch_decode_probe.py > "$out/ncu-attention-probe.txt" 2>&1
      grep -E "^  [a-zA-Z_:<>]+.*\(|Duration|DRAM Throughput|Memory Throughput|L2 Hit|Achieved Occupancy|Stall|Issued Warp|No Eligible|Registers|Block Limit" \
        "$out/ncu-attention-ours.txt" "$out/ncu-attention-probe.txt" | cut -c1-160 | head -80
      ;;
    probe-multi-gpu)
      # Whether VMM calls on two GPUs overlap from one process's threads (the ranks are worker threads).
      nvcc -O2 -o /tmp/vmm_multi_gpu_probe e2e/bench/vmm_multi_gpu_probe.cu -lcuda \
        && /tmp/vmm_multi_gpu_probe 42 2>&1 | tee "$out/probe-multi-gpu.md"
      ;;
    bench-memory)
      (cd $pkg && node dist/bench/memory-bench.js --device cuda 2>&1) | tee "$out/bench-memory.md"
      ;;
    *) echo "unknown step $step"; status=2 ;;
  esac
done
exit $status
