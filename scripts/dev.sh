#!/usr/bin/env bash
# The project's entry points from a fresh clone (needs only Node with npm and a C++ toolchain):
#   scripts/dev.sh test    install the pinned toolchain and dependencies, lint, build, typecheck, test
#   scripts/dev.sh serve   the same set-up, then serve the embedded default model (builtin:tiny)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
source scripts/toolchain.sh
pnpm install --frozen-lockfile --reporter=append-only

case "${1:-}" in
  test)
    pnpm lint
    pnpm exec turbo run build typecheck test --output-logs=new-only
    pnpm --filter @ts/engine run test:timing
    ;;
  serve)
    shift
    pnpm exec turbo run build --filter=@ts/engine... --output-logs=errors-only
    exec node packages/engine/dist/cli/main.js serve --model builtin:tiny "$@"
    ;;
  *)
    echo "usage: scripts/dev.sh test | serve [options]" >&2
    exit 2
    ;;
esac
