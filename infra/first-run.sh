#!/usr/bin/env bash
# Times the README's first command as a newcomer meets it: a fresh clone of this checkout's HEAD,
# an empty target folder, then `cargo run -p keel-local` until the server answers its first
# request (crates already downloaded, as after any earlier build on the machine).
# Usage: ./infra/first-run.sh [port, default 3900]
set -euo pipefail
cd "$(dirname "$0")/.."
port=${1:-3900}
work=$(mktemp -d)
trap 'kill -- "-${server:-0}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
cargo fetch --locked --quiet
git clone --quiet . "$work/keel"
cd "$work/keel"
started=$(date +%s)
CARGO_TARGET_DIR="$work/target" setsid cargo run --locked --quiet -p keel-local -- \
  --port "$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
server=$!
until curl -fs -o /dev/null "http://127.0.0.1:$port/api/tags" 2>/dev/null; do
  if ! kill -0 "$server" 2>/dev/null; then cat "$work/server.log" >&2; exit 1; fi
  sleep 1
done
echo "first answer after $(( $(date +%s) - started )) s ($(nproc) cores)"
