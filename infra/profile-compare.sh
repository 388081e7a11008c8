#!/usr/bin/env bash
# Compares release-profile variants on a few functions and hello-world: build time from clean,
# binary size, cold-start init and peak memory (keel-bench, same machine, one after another).
# The chosen profile and the figures are in docs/release-profile.md.
# Usage: ./infra/profile-compare.sh [binaries, default: list-tags,get-article,login]
set -euo pipefail
cd "$(dirname "$0")/.."
only=${1:-list-tags,get-article,login}
bins=(); IFS=, read -ra names <<<"$only"; for n in "${names[@]}"; do bins+=(--bin "$n"); done
variants=(
  "o3-nolto-abort|opt-level=3|lto=false|panic=\"abort\""
  "o3-thin-abort|opt-level=3|lto=\"thin\"|panic=\"abort\""
  "o3-fat-abort|opt-level=3|lto=\"fat\"|panic=\"abort\""
  "os-fat-abort|opt-level=\"s\"|lto=\"fat\"|panic=\"abort\""
)
for variant in "${variants[@]}"; do
  IFS='|' read -r name opt lto panic <<<"$variant"
  dir=target/profiles/$name
  rm -rf "$dir"
  started=$(date +%s)
  CARGO_TARGET_DIR=$dir cargo build --release --locked --quiet \
    --config "profile.release.$opt" --config "profile.release.$lto" --config "profile.release.$panic" \
    -p keel-functions "${bins[@]}" -p keel-baseline --bin hello
  echo "== $name: build from clean $(( $(date +%s) - started )) s"
done
for variant in "${variants[@]}"; do
  name=${variant%%|*}
  echo "== $name"
  cargo run --locked --quiet -p keel-bench -- --skip-build \
    --binaries "target/profiles/$name/release" --only "$only" --cold-only --runs 9 \
    --report "target/profiles/$name.md" 2>/dev/null | sed -n '/^| `/p' || true
done
