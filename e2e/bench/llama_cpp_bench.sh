#!/usr/bin/env bash
# llama.cpp side of the decode benchmark, for the GPU machine (no network there).
#
#   bash e2e/bench/llama_cpp_bench.sh MODEL_DIR
#
# Run from the repo root with .device-llama/gitRelease.bundle present (scripts/device-llama-pack.sh
# makes it here; carry ".device-llama"). MODEL_DIR is an HF Llama checkpoint (config.json +
# *.safetensors); it may lack a tokenizer, then a throwaway sentencepiece one is trained (the converter
# pads the vocab to config's vocab_size with [PAD] tokens; the benchmarks feed random token ids anyway).
# MODEL_DIR is never written to: the converter reads a folder of symlinks under $BENCH_DIR.
#
# Steps, each skipped when its result is already there (the machine may be reused between calls;
# ninja resumes a build that an earlier call did not finish):
#   1. clone the bundle into $BENCH_DIR/llama.cpp, build llama-bench + llama-batched-bench (CUDA)
#   2. convert MODEL_DIR to $BENCH_DIR/llama-1b-bf16.gguf with that source's convert_hf_to_gguf.py
#   3. llama-bench (pp/tg, single sequence) and llama-batched-bench (B sequences x NPP prompt + NTG
#      generated tokens each), flash attention on, all layers on GPU
#   4. e2e/bench/llama_cpp_table.py -> Markdown rows, also in $OUT/llama_cpp_table.md
#
# Environment (defaults): OUT=/tmp/out  BENCH_DIR=.bench  GGUF=$BENCH_DIR/llama-1b-bf16.gguf
#   LLAMA_CUDA=1 (0: CPU-only build, for testing without a GPU)  CUDA_ARCH=90  JOBS=16
#   NPP=128 NTG=128 NPL=1,8,64 REPS=3 (batched-bench runs; the table takes the median)
#   PP_LIST=128,1024,8192 (llama-bench single-sequence prompt sizes)  LB_REPS=5  NGL=99  BATCH=2048 UB=512
#   PYTHON=python3
set -euo pipefail

die() { echo "llama_cpp_bench: error: $*" >&2; exit 1; }
log() { echo "llama_cpp_bench: $*" >&2; }

# `--build-only` runs step 1 alone (the device run starts the build early, in the background).
BUILD_ONLY=0
[[ "${1:-}" == --build-only ]] && { BUILD_ONLY=1; shift; }
[[ $# -eq 1 || $BUILD_ONLY == 1 ]] || die "usage: $0 [--build-only] MODEL_DIR"
if [[ $BUILD_ONLY == 0 ]]; then
  MODEL_DIR="$(cd "$1" 2>/dev/null && pwd)" || die "model dir '$1' not found"
  [[ -f "$MODEL_DIR/config.json" ]] || die "$MODEL_DIR/config.json missing"
  compgen -G "$MODEL_DIR/*.safetensors" >/dev/null || die "no *.safetensors in $MODEL_DIR"
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
OUT="${OUT:-/tmp/out}"
BENCH_DIR="${BENCH_DIR:-.bench}"
mkdir -p "$OUT" "$BENCH_DIR"
OUT="$(cd "$OUT" && pwd)"
BENCH_DIR="$(cd "$BENCH_DIR" && pwd)"
BUNDLE="${BUNDLE:-$ROOT/.device-llama/gitRelease.bundle}"
SRC="$BENCH_DIR/llama.cpp"
BUILD="$SRC/build"
GGUF="${GGUF:-$BENCH_DIR/llama-1b-bf16.gguf}"
LLAMA_CUDA="${LLAMA_CUDA:-1}"
CUDA_ARCH="${CUDA_ARCH:-90}"
JOBS="${JOBS:-16}"
NPP="${NPP:-128}"
NTG="${NTG:-128}"
NPL="${NPL:-1,8,64}"
REPS="${REPS:-3}"
PP_LIST="${PP_LIST:-128,1024,8192}"
LB_REPS="${LB_REPS:-5}"
NGL="${NGL:-99}"
BATCH="${BATCH:-2048}"
UB="${UB:-512}"
PYTHON="${PYTHON:-python3}"
CMDS="$OUT/llama_cpp_commands.txt"
: >"$CMDS"

exec 3>&2   # the command echo goes to the terminal even when a command's stderr goes to a file
q() { local a out=(); for a in "$@"; do [[ "$a" =~ ^[A-Za-z0-9_,./=:+@%-]+$ ]] && out+=("$a") || out+=("$(printf '%q' "$a")"); done; echo "${out[*]}"; }
# Runs a command, echoing it (and recording it in $CMDS) first.
run() { echo "+ $(q "$@")" >&3; q "$@" >>"$CMDS"; "$@"; }

# ---------------------------------------------------------------- 1. source + build
# The source comes as the trimmed tarball (scripts/device-llama-pack.sh: small enough to travel
# beside Node and the modules) or as node-llama-cpp's whole bundle.
TARBALL="${TARBALL:-$ROOT/.device-llama/llama.cpp-src.tar.xz}"
if [[ -s "$TARBALL" ]]; then
  want_head="$(cat "${TARBALL%.tar.xz}.commit")"
  if [[ -f "$SRC/.src-commit" ]] && [[ "$(cat "$SRC/.src-commit")" == "$want_head" ]]; then
    log "reusing source in $SRC (${want_head:0:8})"
  else
    rm -rf "$SRC" && mkdir -p "$SRC"
    log "extracting $TARBALL into $SRC"
    tar xJf "$TARBALL" -C "$SRC"
    echo "$want_head" >"$SRC/.src-commit"
  fi
else
  [[ -s "$BUNDLE" ]] || die "$BUNDLE missing: run scripts/device-llama-pack.sh on the dev machine and carry .device-llama"
  want_head="$(git bundle list-heads "$BUNDLE" | awk '$2=="HEAD"{print $1}')"
  [[ -n "$want_head" ]] || want_head="$(git bundle list-heads "$BUNDLE" | awk 'NR==1{print $1}')"
  if [[ -d "$SRC/.git" ]] && [[ "$(git -C "$SRC" rev-parse HEAD 2>/dev/null)" == "$want_head" ]]; then
    log "reusing source in $SRC (${want_head:0:8})"
  else
    rm -rf "$SRC"
    log "cloning $BUNDLE into $SRC"
    git -c advice.detachedHead=false clone -q "$BUNDLE" "$SRC"
    git -C "$SRC" -c advice.detachedHead=false checkout -q "$want_head"
  fi
fi

if [[ "$LLAMA_CUDA" == 1 ]]; then
  if ! command -v nvcc >/dev/null; then
    for d in /usr/local/cuda/bin /usr/local/cuda-*/bin; do
      [[ -x "$d/nvcc" ]] && { export PATH="$d:$PATH"; break; }
    done
  fi
  command -v nvcc >/dev/null || die "nvcc not found (PATH or /usr/local/cuda/bin); LLAMA_CUDA=0 builds CPU-only"
  backend=(-DGGML_CUDA=ON "-DCMAKE_CUDA_ARCHITECTURES=$CUDA_ARCH" -DGGML_CUDA_NCCL=OFF)
else
  backend=(-DGGML_CUDA=OFF)
fi
gen=(); command -v ninja >/dev/null && gen=(-G Ninja)
# In this llama.cpp, llama-bench and llama-batched-bench are under tools/, added only when
# LLAMA_BUILD_COMMON and LLAMA_BUILD_TOOLS are on; the server (LLAMA_BUILD_SERVER) sits inside tools/
# as well and is turned off on its own. Only the two targets are built.
cmake_args=(-S "$SRC" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release "${backend[@]}"
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
  -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_APP=OFF -DLLAMA_OPENSSL=OFF -DBUILD_SHARED_LIBS=OFF)
TARGETS=(llama-bench llama-batched-bench)
stamp_want="$want_head ${cmake_args[*]}"
BIN="$BUILD/bin"
if [[ -x "$BIN/llama-bench" && -x "$BIN/llama-batched-bench" && -f "$BUILD/.bench-stamp" ]] \
   && [[ "$(cat "$BUILD/.bench-stamp")" == "$stamp_want" ]]; then
  log "reusing build in $BUILD"
  echo "# reused build: $stamp_want" >>"$CMDS"
else
  rm -f "$BUILD/.bench-stamp"
  # a build folder configured for another source path (the repo moved) cannot be reused
  if [[ -f "$BUILD/CMakeCache.txt" ]] && ! grep -qxF "CMAKE_HOME_DIRECTORY:INTERNAL=$SRC" "$BUILD/CMakeCache.txt"; then
    rm -rf "$BUILD"
  fi
  log "configuring (log: $OUT/llama_cpp_configure.log)"
  if ! run cmake "${cmake_args[@]}" >"$OUT/llama_cpp_configure.log" 2>&1; then
    tail -n 60 "$OUT/llama_cpp_configure.log" >&2; die "cmake configure failed"
  fi
  log "building ${TARGETS[*]} with -j$JOBS (log: $OUT/llama_cpp_build.log; a CUDA build takes minutes)"
  if ! run cmake --build "$BUILD" --config Release --target "${TARGETS[@]}" -j "$JOBS" \
       >"$OUT/llama_cpp_build.log" 2>&1; then
    tail -n 80 "$OUT/llama_cpp_build.log" >&2; die "build failed"
  fi
  echo "$stamp_want" >"$BUILD/.bench-stamp"
fi
"$BIN/llama-bench" --version 2>&1 | tail -n 3 >&2 || true

[[ $BUILD_ONLY == 1 ]] && exit 0

# ---------------------------------------------------------------- 2. tokenizer + GGUF
gguf_want="$MODEL_DIR $(cksum <"$MODEL_DIR/config.json") $(stat -c "%n %s %Y" "$MODEL_DIR"/*.safetensors | cksum)"
if [[ -s "$GGUF" && -f "$GGUF.stamp" ]] && [[ "$(cat "$GGUF.stamp")" == "$gguf_want" ]]; then
  log "reusing $GGUF"
  echo "# reused $GGUF (made by convert_hf_to_gguf.py --outtype bf16 in an earlier call)" >>"$CMDS"
else
  HF="$BENCH_DIR/hf-model"   # symlinks to MODEL_DIR's files, plus a tokenizer when it has none
  rm -rf "$HF"; mkdir -p "$HF"
  for f in "$MODEL_DIR"/*; do [[ -f "$f" ]] && ln -s "$f" "$HF/$(basename "$f")"; done
  if [[ -e "$HF/tokenizer.model" || -e "$HF/tokenizer.json" ]]; then
    log "using the tokenizer in $MODEL_DIR"
  else
    log "no tokenizer in $MODEL_DIR: training a small sentencepiece one into $HF"
    "$PYTHON" - "$HF" <<'PY'
# Trains a throwaway sentencepiece BPE model on generated text. convert_hf_to_gguf.py's sentencepiece
# path (TextModel._create_vocab_sentencepiece) fills ids it lacks, up to config.json's vocab_size, with
# "[PAD<i>]" tokens. bos/eos ids from config.json above the trained vocab become control tokens.
import io, json, random, sys
import sentencepiece as spm
out = sys.argv[1]
cfg = json.load(open(f"{out}/config.json"))
cfg = cfg.get("text_config", cfg)
vocab = int(cfg["vocab_size"])
n = min(1000, vocab)
rng = random.Random(0)
letters = "abcdefghijklmnopqrstuvwxyz"
words = ["".join(rng.choice(letters) for _ in range(rng.randint(1, 8))) for _ in range(3000)]
lines = [" ".join(rng.choice(words) for _ in range(rng.randint(5, 30))) + rng.choice(".?!,;:0123456789")
         for _ in range(20000)]
buf = io.BytesIO()
spm.SentencePieceTrainer.train(sentence_iterator=iter(lines), model_writer=buf, vocab_size=n,
                               model_type="bpe", character_coverage=1.0, hard_vocab_limit=False,
                               unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
with open(f"{out}/tokenizer.model", "wb") as f:
    f.write(buf.getvalue())
sp = spm.SentencePieceProcessor(model_file=f"{out}/tokenizer.model")
added = {}
for key, text in (("bos_token_id", "<|begin_of_text|>"), ("eos_token_id", "<|end_of_text|>")):
    ids = cfg.get(key)
    for i in (ids if isinstance(ids, list) else [ids]):
        if isinstance(i, int) and sp.get_piece_size() <= i < vocab:
            added[str(i)] = {"content": text if str(i) not in added else f"<|special_{i}|>",
                             "special": True, "lstrip": False, "rstrip": False, "normalized": False,
                             "single_word": False}
if added:
    json.dump({"added_tokens_decoder": added, "add_bos_token": True, "add_eos_token": False},
              open(f"{out}/tokenizer_config.json", "w"), indent=1)
print(f"tokenizer.model: {sp.get_piece_size()} pieces (config vocab {vocab}, control ids {sorted(map(int, added))})",
      file=sys.stderr)
PY
  fi
  log "converting to $GGUF (log: $OUT/llama_cpp_convert.log)"
  if ! PYTHONPATH="$SRC/gguf-py${PYTHONPATH:+:$PYTHONPATH}" run "$PYTHON" "$SRC/convert_hf_to_gguf.py" \
       "$HF" --outtype bf16 --outfile "$GGUF.part" >"$OUT/llama_cpp_convert.log" 2>&1; then
    tail -n 40 "$OUT/llama_cpp_convert.log" >&2; die "convert_hf_to_gguf.py failed"
  fi
  mv "$GGUF.part" "$GGUF"
  echo "$gguf_want" >"$GGUF.stamp"
fi
du -h "$GGUF" >&2

# ---------------------------------------------------------------- 3. benchmarks
# Context for the largest batch: every sequence gets NPP+NTG cells (batched-bench silently skips a
# configuration that does not fit in -c; llama.cpp rounds each sequence's share up to 256 cells).
# llama-batched-bench's rows go through llama.cpp's async logger, which is never flushed at exit
# (common/log.cpp: "logs may be lost if not flushed before the program exits"): the last row(s) can
# go missing. So a throwaway batch size runs last, after the real ones (and first, as a warm-up of
# the whole prefill + decode path); the table ignores it, and a run that still lacks a row is repeated.
sentinel=2; while [[ ",$NPL," == *",$sentinel,"* ]]; do sentinel=$((sentinel + 1)); done
max_pl="$(tr ',' '\n' <<<"$NPL,$sentinel" | sort -n | tail -n 1)"
CTX=$(( max_pl * (NPP + NTG) ))
ngl_args=(-ngl "$NGL")

log "llama-bench (single sequence: pp$PP_LIST, tg$NTG; $LB_REPS reps)"
if ! run "$BIN/llama-bench" -m "$GGUF" "${ngl_args[@]}" -fa on -p "$PP_LIST" -n "$NTG" -b "$BATCH" -ub "$UB" \
     -r "$LB_REPS" -o json >"$OUT/llama_bench.json" 2>"$OUT/llama_bench.err"; then
  tail -n 40 "$OUT/llama_bench.err" >&2; die "llama-bench failed"
fi

: >"$OUT/llama_batched_bench.jsonl"
for rep in $(seq 1 "$REPS"); do
  for attempt in 1 2 3; do
    log "llama-batched-bench run $rep/$REPS (npp $NPP, ntg $NTG, npl $NPL + $sentinel, c $CTX)"
    f="$OUT/llama_batched_bench.$rep"
    if ! run "$BIN/llama-batched-bench" -m "$GGUF" "${ngl_args[@]}" -fa on -fit off -c "$CTX" -b "$BATCH" -ub "$UB" \
         -npp "$NPP" -ntg "$NTG" -npl "$sentinel,$NPL,$sentinel" --output-format jsonl >"$f.out" 2>"$f.err"; then
      tail -n 40 "$f.err" >&2; die "llama-batched-bench failed"
    fi
    # the jsonl rows go to stdout; take them from stderr too in case a build logs elsewhere
    rows="$(cat "$f.out" "$f.err" | grep -E '^\{"n_kv_max"' || true)"
    ok=1
    for pl in ${NPL//,/ }; do grep -q "\"pl\": $pl," <<<"$rows" || ok=0; done
    (( ok )) && break
    log "run $rep attempt $attempt lacks a row (lost log output); repeating"
    (( attempt < 3 )) || die "llama-batched-bench printed no row for some batch of $NPL (see $f.out, $f.err)"
  done
  echo "$rows" >>"$OUT/llama_batched_bench.jsonl"
done
grep -h -E 'ggml_cuda_init|Device 0|offloaded|using device' "$OUT/llama_batched_bench.1.err" | head -n 12 >&2 || true

# ---------------------------------------------------------------- 4. table
commit="${want_head:0:7}"
tag=""
[[ -f "$ROOT/.device-llama/llama.cpp.info.json" ]] && \
  tag="$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1])).get("tag",""))' "$ROOT/.device-llama/llama.cpp.info.json")"
label="${tag:+$tag }$commit"
"$PYTHON" "$ROOT/e2e/bench/llama_cpp_table.py" --label "$label" --npl "$NPL" \
  --batched "$OUT/llama_batched_bench.jsonl" --bench "$OUT/llama_bench.json" --commands "$CMDS" \
  | tee "$OUT/llama_cpp_table.md"
