#!/usr/bin/env bash
# `sam build` for arm64 from a clean state, then proof that what it built is what Lambda runs:
#   1. installs AWS SAM CLI and cargo-lambda (with zig) from PyPI into infra/.tools/sam, moto's
#      Secrets Manager server into infra/.tools/venv, and from Debian the aarch64 Rust standard
#      library (rustup cannot fetch it here: Debian's rustc-web with libstd-rust-web-dev:arm64),
#      make, and qemu-user-static to run the results;
#   2. `sam build` from an empty .aws-sam/ and an empty cargo target folder: the Makefile
#      compiles every function in one `cargo lambda build --release --arm64`;
#   3. after a full build, `sam build --cached` on the unchanged tree: timed, and every artifact
#      must be byte-identical to the clean build's;
#   4. checks every function's bootstrap: present, an aarch64 ELF, and its own (no two are
#      byte-identical, as they were when every binary carried every handler); prints sizes;
#   5. boots each bootstrap once under qemu-aarch64 against keel-bench's Lambda Runtime API
#      stand-in, the embedded engines and moto's Secrets Manager (the signing key is read by its
#      ARN, as deployed): each must answer its route's success status with real data and a real
#      token (an event function: succeed). Any other answer fails the run.
#   With --compare, a clean release build of one function binary (the Makefile's `binary-list-tags`:
#   same compiler and flags, its own target folder) is timed first, and the clean `sam build` is reported against it.
# Usage: ./infra/sam-build.sh [--install-only | --skip-build | --compare]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
tools=$root/infra/.tools
venv=$tools/sam
SAM_CLI_VERSION=1.170.0
MOTO_VERSION=5.2.5
CARGO_LAMBDA_VERSION=1.9.2

step() { printf '\n==> %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "need root to run: $*" >&2; exit 1; fi; }

step "Installing SAM CLI, cargo-lambda + zig, moto, the arm64 Rust std, make and qemu (skipped when present)"
if ! dpkg --print-foreign-architectures | grep -qx arm64; then as_root dpkg --add-architecture arm64; fi
missing=()
for pkg in rustc-web libstd-rust-web-dev:arm64 qemu-user-static file make; do
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
if [ ! -x "$tools/venv/bin/moto_server" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export PATH="$venv/bin:$PATH"
# The aarch64 std comes with Debian's rustc, so Debian's rustc compiles the functions; rustup's
# cargo drives it. (keel-bench, the checker, is built by rustup's toolchain in target/.)
lambda_rustc=/usr/bin/rustc
# The functions' own target folder, emptied for a clean build; keel-bench stays in target/.
lambda_target=$root/target/sam
echo "toolchain: $($lambda_rustc --version), $(cargo --version), $(cargo lambda --version), $(sam --version)"
[ "${1:-}" = --install-only ] && exit 0

if [ "${1:-}" = --compare ]; then
  step "Baseline: a clean release build of one function binary (list-tags)"
  rm -rf "$root/target/sam-one"
  started=$(date +%s)
  RUSTC=$lambda_rustc CARGO_TARGET_DIR=$root/target/sam-one make --no-print-directory binary-list-tags
  one=$(( $(date +%s) - started ))
  rm -rf "$root/target/sam-one"
  echo "one binary took $one s"
fi
if [ "${1:-}" != --skip-build ]; then
  step "sam build (arm64, release) from a clean state"
  rm -rf .aws-sam "$lambda_target"
  started=$(date +%s)
  RUSTC=$lambda_rustc CARGO_TARGET_DIR=$lambda_target sam build
  all=$(( $(date +%s) - started ))
  echo "sam build took $all s"
  if [ -n "${one:-}" ]; then
    awk -v a="$all" -v o="$one" 'BEGIN { printf "sam build of every function = %.2fx one binary\n", a / o }'
  fi
  step "sam build --cached on the unchanged tree"
  clean_sums=$(cd .aws-sam/build && sha256sum ./*/bootstrap)
  started=$(date +%s)
  RUSTC=$lambda_rustc CARGO_TARGET_DIR=$lambda_target sam build --cached
  echo "sam build --cached took $(( $(date +%s) - started )) s"
  cached_sums=$(cd .aws-sam/build && sha256sum ./*/bootstrap)
  [ "$clean_sums" = "$cached_sums" ] || { echo "sam build --cached changed an artifact" >&2; exit 1; }
  echo "all $(wc -l <<<"$cached_sums") artifacts byte-identical to the clean build's"
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
started=$(date +%s)
cargo build --locked -p keel-bench
echo "keel-bench built in $(( $(date +%s) - started )) s"
started=$(date +%s)
cargo run --locked -q -p keel-bench -- boot --emulator qemu-aarch64-static --artifacts .aws-sam/build
echo "boot check took $(( $(date +%s) - started )) s"
step "sam build verified: ${#functions[@]} functions"
