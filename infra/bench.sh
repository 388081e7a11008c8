#!/usr/bin/env bash
# Keel's benchmarks, rerunnable: cold start of every function against hello-world (init,
# first invocation, peak RSS, size, init network calls), warm throughput of the local server
# against a hello-world HTTP server, and the DynamoDB request budgets. Prints a Markdown report
# (also written to target/bench/BENCHMARKS.md) and exits non-zero when a budget breaks.
# Installs what it needs: wrk (Debian) and moto's Secrets Manager server (PyPI).
# Usage: ./infra/bench.sh [keel-bench options, e.g. --runs 9 --duration 10]
set -euo pipefail
cd "$(dirname "$0")/.."
tools=infra/.tools
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; exit 1; fi; }
if ! command -v wrk >/dev/null; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk
fi
if [ ! -x "$tools/venv/bin/moto_server" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==5.2.5"
fi
# The tool runs in the dev profile, like `cargo run -p keel-local`: its warm-throughput figures are
# the local server as users run it. The functions it cold-starts are built in release.
exec cargo run --locked -p keel-bench -- "$@"
