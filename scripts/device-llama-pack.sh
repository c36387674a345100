#!/usr/bin/env bash
# Fetches llama.cpp source for the device-machine decode benchmark (e2e/bench/llama_cpp_bench.sh),
# which has no network there: the npm package node-llama-cpp ships llama.cpp's source as a git bundle
# (package/llama/gitRelease.bundle). Only that file and llama.cpp.info.json (its release tag) are kept,
# in .device-llama/ (ignored; carry ".device-llama" in the device run).
# Idempotent: does nothing when the bundle is already there.
set -euo pipefail
NODE_LLAMA_CPP_VERSION="3.22.1"   # exact pin; its bundle is llama.cpp release v0.5.0 (package/llama/llama.cpp.info.json),
                                  # one squashed commit de3ff81 (git bundle list-heads)
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="$root/.device-llama/gitRelease.bundle"
if [[ ! -s "$dest" ]]; then
  mkdir -p "$root/.device-llama"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  echo "device-llama-pack: npm pack node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >&2
  (cd "$tmp" && npm pack --silent "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" >/dev/null)
  tgz="$(ls "$tmp"/node-llama-cpp-*.tgz)"
  tar -xzf "$tgz" -C "$tmp" package/llama/gitRelease.bundle package/llama/llama.cpp.info.json
  git bundle list-heads "$tmp/package/llama/gitRelease.bundle" | grep -q HEAD \
    || { echo "device-llama-pack: $tgz holds no readable git bundle" >&2; exit 1; }
  cp "$tmp/package/llama/llama.cpp.info.json" "$root/.device-llama/"
  mv "$tmp/package/llama/gitRelease.bundle" "$dest.part" && mv "$dest.part" "$dest"
else
  echo "device-llama-pack: $dest already present, skipping" >&2
fi
du -h "$dest"

# The bundle (35 MB) does not fit beside Node and the modules in one device call (64 MiB), so the
# source also goes as a tarball without what the two benchmark tools never build (models, docs,
# tests, examples, other GPU backends): about 6 MB. Carry ".device-llama/llama.cpp-src.*" with ".device".
tarball="$root/.device-llama/llama.cpp-src.tar.xz"
if [[ ! -s "$tarball" ]]; then
  src="$(mktemp -d)"
  git -c advice.detachedHead=false clone -q "$dest" "$src/llama.cpp"
  skip=(models docs tests benches examples media .github)
  for backend in vulkan sycl opencl cann metal musa hip webgpu zdnn hexagon openvino et zendnn virtgpu; do
    skip+=("ggml/src/ggml-$backend")
  done
  git -C "$src/llama.cpp" archive --format=tar HEAD -- . "${skip[@]/#/:!}" | xz -T2 -6 >"$tarball.part"
  git -C "$src/llama.cpp" rev-parse HEAD >"${tarball%.tar.xz}.commit"
  mv "$tarball.part" "$tarball"
  rm -rf "$src"
fi
du -h "$tarball"
