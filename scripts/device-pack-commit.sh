#!/usr/bin/env bash
# Packs one commit for the device machine, not the working tree (which others may be editing):
# the packages' dist built in a clean worktree of COMMIT (default HEAD) over this checkout's
# installed modules, packed by scripts/device-pack.sh, with the commit's source beside it
# (.device/source.tar). On the device, with carry [".device"]:
#   bash .device/run-commit.sh STEP...   (scripts/device-run.sh's steps, in that source)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
commit="$(git -C "$root" rev-parse "${1:-HEAD}")"
tree="$root/../device-worktree"
git -C "$root" worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
git -C "$root" worktree prune
git -C "$root" worktree add --detach "$tree" "$commit" >/dev/null
cd "$root"
source scripts/toolchain.sh
ln -s "$root/node_modules" "$tree/node_modules"
for modules in packages/*/node_modules; do cp -a "$modules" "$tree/$modules"; done
for package in "$tree"/packages/*/; do (cd "$package" && pnpm exec tsup >/dev/null); done
DEVICE_DIST_ROOT="$tree" bash scripts/device-pack.sh >/dev/null
git archive --format=tar "$commit" > .device/source.tar
cat > .device/run-commit.sh <<SCRIPT
#!/usr/bin/env bash
# Runs scripts/device-run.sh in the source of commit $commit, unpacked apart from the working tree.
set -uo pipefail
source_dir=/tmp/commit-source
rm -rf "\$source_dir" && mkdir -p "\$source_dir"
tar xf .device/source.tar -C "\$source_dir"
cp -r .device "\$source_dir/.device"
cd "\$source_dir" && bash scripts/device-run.sh "\$@"
SCRIPT
git worktree remove --force "$tree"
echo "packed $commit: $(du -sh .device | cut -f1)"
