#!/usr/bin/env bash
# `sam build` for arm64 from a clean state, then proof that what it built is what Lambda runs:
#   1. installs AWS SAM CLI and cargo-lambda (with zig) from PyPI into infra/.tools/sam, and the
#      aarch64 Rust standard library from Debian (rustup cannot fetch it here): Debian's
#      rustc-web with libstd-rust-web-dev:arm64, and qemu-user-static to run the results;
#   2. `sam build` from an empty .aws-sam/ (every function: cargo lambda build --release --arm64);
#   3. checks every function's bootstrap: present, an aarch64 ELF, and its own (no two are
#      byte-identical, as they were when every binary carried every handler); prints sizes;
#   4. boots each bootstrap once under qemu-aarch64 against keel-bench's Lambda Runtime API
#      stand-in and the embedded engines: it must start and answer one event for its route.
# Usage: ./infra/sam-build.sh [--install-only | --skip-build]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/infra/.tools
venv=$tools/sam
SAM_CLI_VERSION=1.170.0
CARGO_LAMBDA_VERSION=1.9.2

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; exit 1; fi; }

step "Installing SAM CLI, cargo-lambda + zig, the arm64 Rust std and qemu (skipped when present)"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then as_root dpkg --add-architecture arm64; fi
missing=()
for pkg in rustc-web libstd-rust-web-dev:arm64 qemu-user-static file; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
if [ ! -x "$venv/bin/sam" ] || [ ! -x "$venv/bin/cargo-lambda" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check \
    "aws-sam-cli==$SAM_CLI_VERSION" "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
export PATH="$venv/bin:$PATH"
# The aarch64 std comes with Debian's rustc, so Debian's rustc compiles; rustup's cargo drives it.
export RUSTC=/usr/bin/rustc
# SAM runs `cargo lambda build` in a scratch copy; keep its target folder between runs.
export CARGO_TARGET_DIR=$root/target/sam
echo "toolchain: $($RUSTC --version), $(cargo --version), cargo-lambda $(cargo-lambda --version | awk '{print $2}'), $(sam --version)"
[ "${1:-}" = --install-only ] && exit 0

if [ "${1:-}" != --skip-build ]; then
  step "sam build (arm64, release) from a clean state"
  rm -rf .aws-sam "$CARGO_TARGET_DIR"
  started=$(date +%s)
  sam build --beta-features --build-in-source
  echo "sam build took $(( $(date +%s) - started )) s"
fi

step "Checking every function's bootstrap"
mapfile -t functions < <(awk '/^  [A-Za-z]+Function:$/ {gsub(/[ :]/, ""); print}' template.yaml)
declare -A digests=()
for fn in "${functions[@]}"; do
  bootstrap=.aws-sam/build/$fn/bootstrap
  [ -f "$bootstrap" ] || { echo "$fn: no bootstrap at $bootstrap" >&2; exit 1; }
  file -b "$bootstrap" | grep -q 'ELF 64-bit LSB.*ARM aarch64' || { echo "$fn: not an aarch64 ELF: $(file -b "$bootstrap")" >&2; exit 1; }
  digest=$(sha256sum "$bootstrap" | cut -c1-16)
  if [ -n "${digests[$digest]:-}" ]; then echo "$fn is byte-identical to ${digests[$digest]}" >&2; exit 1; fi
  digests[$digest]=$fn
  printf '  %-28s %9d bytes  aarch64 ELF  sha256 %s\n' "$fn" "$(stat -c %s "$bootstrap")" "$digest"
done

step "Booting every bootstrap under qemu-aarch64 against the Runtime API stand-in"
cargo run --locked -p keel-bench -- boot --emulator qemu-aarch64-static --artifacts .aws-sam/build
step "sam build verified: ${#functions[@]} functions"
