//! Keel's black-box, handler and contract tests, as one test binary.
//!
//! Every file here links the whole stack (the functions, keel-local, the embedded engines and the
//! AWS SDK): eleven binaries meant eleven ~100 MB links, about a gigabyte of disk and a minute of
//! a two-core CI machine for nothing. One binary keeps them; cargo-nextest still runs each test
//! in its own process, so no test sees another's state. Filter with the file's name as a module:
//! `cargo nextest run --workspace faults::` (with `--workspace`, as infra/test.sh builds: `-p
//! keel-tests` resolves another feature set and compiles the workspace crates again).

mod api;
mod architecture;
mod budgets;
mod concurrency;
mod content;
mod contract;
mod dead_letters;
mod faults;
mod handlers;
mod hardening;
mod iam;
mod operations;
mod payments;
mod search;
mod shop;
mod stripe_client;
mod telemetry;
mod uploads;
