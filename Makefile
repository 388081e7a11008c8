# How `sam build` builds the functions (template.yaml: `BuildMethod: makefile`).
#
# SAM runs `make build-<LogicalId>` here once per function, with ARTIFACTS_DIR set to that
# function's artifact folder. Each target asks cargo-lambda for every function binary in one
# cargo invocation: the first one compiles the workspace once and links all the binaries in
# parallel; for every later function cargo finds them fresh (about a second), so the target
# only copies its own `bootstrap`. `sam build OneFunction` builds all binaries and copies one.
#
# The binary of `FooBarFunction` is `foo-bar` (tests/contract.rs holds the template to it).
# CARGO_TARGET_DIR, when set, is where cargo builds (default: target/).

CARGO_LAMBDA ?= cargo lambda
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# How every function binary is compiled; `binary-<name>` below uses the same flags for one.
LAMBDA_BUILD := $(CARGO_LAMBDA) build --release --arm64 --locked --package keel-functions

build-%Function:
	$(LAMBDA_BUILD) --bins
	binary=$$(printf '%s' '$*' | sed -E 's/([a-z0-9])([A-Z])/\1-\2/g' | tr '[:upper:]' '[:lower:]'); \
	cp "$(TARGET_DIR)/lambda/$$binary/bootstrap" "$(ARTIFACTS_DIR)/bootstrap"

# One function binary alone, with the same compiler flags (infra/sam-build.sh --compare times
# it as the baseline for a whole `sam build`).
binary-%:
	$(LAMBDA_BUILD) --bin $*
