//! `keel-bench`: the numbers behind docs/BENCHMARKS.md, rerunnable on any machine.
//!
//! - `keel-bench` (no subcommand): builds every function and a hello-world `lambda_http`
//!   binary in release, cold-starts each against a Lambda Runtime API stand-in and the embedded
//!   engines (several interleaved runs, medians), counts the network calls each makes at init,
//!   measures warm throughput of the local server against a hello-world HTTP server, and prints
//!   the request budgets. Exits non-zero when a budget breaks.
//! - `keel-bench boot --emulator qemu-aarch64-static --artifacts .aws-sam/build`: starts every
//!   `sam build` artifact once (under emulation) and checks it answers one event for its route.

mod fixture;
mod load;
mod proxy;
mod runtime;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand};

use crate::fixture::Fixture;
use crate::runtime::{Outcome, RuntimeApi};

#[derive(Parser)]
#[command(about = "Keel's benchmarks and artifact boot checks")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: cold starts, warm throughput and request budgets.
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Boots built artifacts (e.g. `sam build` output) once each.
    Boot(BootArgs),
}

#[derive(clap::Args, Clone)]
struct RunArgs {
    /// Cold starts per binary (interleaved across binaries).
    #[arg(long, default_value_t = 7)]
    runs: usize,
    /// Seconds of load per warm-throughput scenario.
    #[arg(long, default_value_t = 8)]
    duration: u64,
    /// Concurrent connections of the load generator.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// Use the release binaries already in the target folder.
    #[arg(long)]
    skip_build: bool,
    /// Folder of the binaries to measure (default: the release folder of the target directory).
    #[arg(long)]
    binaries: Option<PathBuf>,
    /// Measure only these binaries (comma-separated), e.g. when comparing build profiles;
    /// `init-ladder` adds the init breakdown.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Extra `NAME=VALUE` for every measured process, for experiments (e.g. `SSL_CERT_FILE=…`).
    #[arg(long = "child-env")]
    child_env: Vec<String>,
    /// After each cold start's first invocation, this many more of the same event to the same
    /// process: their median is the warm invocation (0: not measured). Use with read routes,
    /// whose repeated event is the same request.
    #[arg(long, default_value_t = 0)]
    warm_invocations: usize,
    /// Skip the warm-throughput and request-budget sections.
    #[arg(long)]
    cold_only: bool,
    /// Only the warm sections (throughput, writes as the stream grows) and the request
    /// budgets: no release build, no cold starts.
    #[arg(long, conflicts_with = "cold_only")]
    warm_only: bool,
    /// Where to write the Markdown report as well as printing it.
    #[arg(long, default_value = "target/bench/BENCHMARKS.md")]
    report: PathBuf,
}

#[derive(clap::Args)]
struct BootArgs {
    /// Runs each bootstrap under this program (e.g. `qemu-aarch64-static`).
    #[arg(long)]
    emulator: Option<String>,
    /// `sam build` output: one folder per function logical id, each with a `bootstrap`.
    #[arg(long, default_value = ".aws-sam/build")]
    artifacts: PathBuf,
}

/// Budgets: init at most 1.5× hello-world's, peak memory at most 30 MB.
const INIT_RATIO_BUDGET: f64 = 1.5;
const RSS_BUDGET_KB: u64 = 30 * 1024;
/// Functions whose measured invocation runs argon2id: its 19 MiB working memory is the
/// deliberate cost of OWASP's parameters, so their memory budget is 30 MB on top of it.
const HASHING: &[&str] = &["register-user", "login"];

fn rss_budget_kb(binary: &str) -> u64 {
    if HASHING.contains(&binary) {
        RSS_BUDGET_KB + u64::from(keel::auth::ARGON2_MEMORY_KIB)
    } else {
        RSS_BUDGET_KB
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    std::env::set_current_dir(&root).context("entering the workspace")?;
    match cli.command {
        None => run(cli.run).await,
        Some(Command::Boot(args)) => boot(args).await,
    }
}

/// One cold start's measurements.
#[derive(Debug, Clone)]
struct Sample {
    /// exec -> first `GET /next`.
    init: Duration,
    /// first `GET /next` -> response posted.
    first_invoke: Duration,
    /// Median of the warm invocations after the first, when asked for.
    warm_invoke: Option<Duration>,
    /// Peak resident memory (VmHWM).
    rss_kb: u64,
    /// The HTTP status the function answered (None for non-HTTP functions).
    status: Option<u16>,
    /// Connections to AWS endpoints opened before the first `GET /next`, by service.
    init_calls: Vec<(String, usize)>,
}

/// Starts `program` as a Lambda would, hands it `event`, and measures.
async fn cold_start(
    program: &Path,
    emulator: Option<&str>,
    env: &[(String, String)],
    event: serde_json::Value,
    proxies: &[proxy::CountingProxy],
    warm: usize,
) -> anyhow::Result<Sample> {
    let counters = proxies.iter().map(proxy::CountingProxy::counter).collect();
    let mut api = RuntimeApi::start(event, warm, counters).await?;
    let mut command = match emulator {
        Some(emulator) => {
            let mut c = tokio::process::Command::new(emulator);
            c.arg(program);
            c
        }
        None => tokio::process::Command::new(program),
    };
    command
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let before: Vec<usize> = proxies.iter().map(|p| p.connections()).collect();
    let started = Instant::now();
    let mut child = command
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id().context("child pid")?;
    let first_next = tokio::select! {
        at = api.first_next() => at?,
        status = child.wait() => {
            let mut stderr = String::new();
            if let Some(mut pipe) = child.stderr.take() {
                use tokio::io::AsyncReadExt as _;
                let _ = pipe.read_to_string(&mut stderr).await;
            }
            bail!("{} exited during init ({status:?}): {stderr}", program.display());
        }
        _ = tokio::time::sleep(Duration::from_secs(60)) => bail!("{} never asked for work", program.display()),
    };
    let init_calls = proxies
        .iter()
        .zip(before)
        .zip(api.counted_at_first_next())
        .map(|((p, before), at_first_next)| (p.service.clone(), at_first_next - before))
        .collect();
    let (answered, outcome) = tokio::time::timeout(Duration::from_secs(60), api.outcome())
        .await
        .context("no answer within 60 s")??;
    let warm_invoke = if warm > 0 {
        let warm = tokio::time::timeout(Duration::from_secs(60), api.warm())
            .await
            .context("no warm answers within 60 s")??;
        Some(Duration::from_secs_f64(median(
            warm.iter().map(Duration::as_secs_f64).collect(),
        )))
    } else {
        None
    };
    let rss_kb = peak_rss_kb(pid).unwrap_or(0);
    let _ = child.kill().await;
    let status = match outcome {
        Outcome::Error(body) => bail!(
            "{} answered with an invocation error: {}",
            program.display(),
            String::from_utf8_lossy(&body)
        ),
        Outcome::Response(body) => serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .map(|s| s as u16),
    };
    Ok(Sample {
        init: first_next - started,
        first_invoke: answered - first_next,
        warm_invoke,
        rss_kb,
        status,
        init_calls,
    })
}

/// Lets what the last invocation set going finish before the next process is timed: its writes
/// streamed (a follow back-fills a feed), then a pause for the stream's own bookkeeping (shard
/// rediscovery) to go quiet. Without it the functions started after a writing one measured up
/// to 3x hello-world's init while sharing the machine with the stream.
async fn quiesce(fixture: &Fixture) {
    fixture.app.settled().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
}

fn peak_rss_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let mut report = String::new();
    let mut broken: Vec<String> = Vec::new();
    if args.warm_only {
        let fixture = Fixture::start().await?;
        warm_sections(&fixture, &args, &mut report, &mut broken).await?;
        return finish(&args, &report, &broken);
    }
    if !args.skip_build {
        eprintln!("building every function and hello-world in release…");
        let started = Instant::now();
        let status = std::process::Command::new("cargo")
            .args([
                "build",
                "--release",
                "--locked",
                "-p",
                "keel-functions",
                "-p",
                "keel-baseline",
                "--bins",
            ])
            .status()?;
        anyhow::ensure!(status.success(), "release build failed");
        eprintln!("release build: {:.0} s", started.elapsed().as_secs_f64());
    }
    let fixture = Fixture::start().await?;
    let release = args
        .binaries
        .clone()
        .unwrap_or_else(|| target_dir().join("release"));
    let mut programs: Vec<(String, PathBuf)> = vec![("hello".into(), release.join("hello"))];
    for binary in fixture.binaries() {
        if args.only.is_empty() || args.only.contains(&binary) {
            programs.push((binary.clone(), release.join(&binary)));
        }
    }

    // Cold starts: every binary once per round, rounds interleaved so drift hits all alike.
    let mut samples: std::collections::BTreeMap<String, Vec<Sample>> = Default::default();
    for round in 0..args.runs {
        eprintln!("cold starts, round {}/{}", round + 1, args.runs);
        for (name, program) in &programs {
            let event = fixture.event(name, round)?;
            let mut env = fixture.env(name, false)?;
            env.extend(extra_env(&args.child_env));
            let sample = cold_start(
                program,
                None,
                &env,
                event,
                &fixture.proxies,
                args.warm_invocations,
            )
            .await?;
            samples.entry(name.clone()).or_default().push(sample);
            quiesce(&fixture).await;
        }
    }
    // One more cold start each with the secret read from Secrets Manager, as deployed, to
    // count the network calls init makes.
    let mut network: std::collections::BTreeMap<String, Vec<(String, usize)>> = Default::default();
    for (name, program) in programs.iter().filter(|(n, _)| n != "hello") {
        let env = fixture.env(name, true)?;
        let sample = cold_start(
            program,
            None,
            &env,
            fixture.event(name, args.runs)?,
            &fixture.proxies,
            0,
        )
        .await?;
        network.insert(name.clone(), sample.init_calls);
        quiesce(&fixture).await;
    }

    let hello = &samples["hello"];
    let hello_init = median(hello.iter().map(|s| ms(s.init)).collect());
    report.push_str(&format!(
        "## Cold start ({} runs each, interleaved; medians)\n\n\
         Init is exec → first `GET /next` on a Runtime API stand-in; first invocation is that \
         `GET /next` → the response, for an API Gateway v2 event of the function's route against \
         the embedded engines. Init runs with the key in `JWT_SECRET` (no network), so it measures \
         the process; the network column counts what init sends when the key comes from Secrets \
         Manager, as deployed. A warm invocation is the median of {} more of the same event to the \
         same process. Every invocation is traced (a sampled trace header, and a UDP listener \
         in `AWS_XRAY_DAEMON_ADDRESS` that received {} subsegments in all).\n\n\
         | binary | size (KB) | init (ms) | init / hello | first invocation (ms) | warm invocation (ms) | status | peak RSS (MB) | init network calls |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        args.runs,
        args.warm_invocations,
        fixture.subsegments.load(std::sync::atomic::Ordering::Relaxed),
    ));
    for (name, program) in &programs {
        let runs = &samples[name];
        let init = median(runs.iter().map(|s| ms(s.init)).collect());
        let invoke = median(runs.iter().map(|s| ms(s.first_invoke)).collect());
        let warm: Vec<f64> = runs.iter().filter_map(|s| s.warm_invoke.map(ms)).collect();
        let warm = if warm.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.3}", median(warm))
        };
        let rss = runs.iter().map(|s| s.rss_kb).max().unwrap_or(0);
        let size = std::fs::metadata(program)?.len() / 1024;
        let ratio = init / hello_init;
        let status = runs[0].status.map_or("—".to_owned(), |s| s.to_string());
        let calls = network.get(name).map_or("—".to_owned(), |calls| {
            let listed: Vec<String> = calls
                .iter()
                .filter(|(_, n)| *n > 0)
                .map(|(s, n)| format!("{s} {n}"))
                .collect();
            if listed.is_empty() {
                "none".into()
            } else {
                listed.join(", ")
            }
        });
        report.push_str(&format!(
            "| `{name}` | {size} | {init:.2} | {ratio:.2} | {invoke:.2} | {warm} | {status} | {:.1} | {calls} |\n",
            rss as f64 / 1024.0
        ));
        if name != "hello" {
            if ratio > INIT_RATIO_BUDGET {
                broken.push(format!(
                    "{name}: init {ratio:.2}× hello-world > {INIT_RATIO_BUDGET}×"
                ));
            }
            if rss > rss_budget_kb(name) {
                broken.push(format!("{name}: peak RSS {rss} kB > {} kB", rss_budget_kb(name)));
            }
            if runs.iter().any(|s| s.status.is_some_and(|s| s >= 500)) {
                broken.push(format!("{name}: answered its route with a 5xx"));
            }
            if let Some(calls) = network.get(name) {
                let count = |service: &str| calls.iter().find(|(s, _)| s == service).map_or(0, |(_, n)| *n);
                let expected_secret = fixture.secrets_at_init(name);
                if count("secretsmanager") != expected_secret || count("dynamodb") != 0 {
                    broken.push(format!(
                        "{name}: init sent {calls:?}; allowed: only the secrets it uses (the JWT key, the Stripe secret)"
                    ));
                }
            }
        }
    }
    let contents: std::collections::BTreeSet<Vec<u8>> = programs
        .iter()
        .filter_map(|(_, p)| std::fs::read(p).ok())
        .collect();
    if contents.len() != programs.len() {
        broken.push("two binaries are byte-identical: a binary carries more than its own handler".into());
    }

    if args.only.is_empty() || args.only.iter().any(|o| o == "init-ladder") {
        report.push_str(&init_ladder(&fixture, &release, args.runs, &extra_env(&args.child_env)).await?);
    }

    if !args.cold_only {
        warm_sections(&fixture, &args, &mut report, &mut broken).await?;
    }

    finish(&args, &report, &broken)
}

/// The warm sections: throughput against the ceiling, writes as the stream grows (with its
/// budgets), and the request budgets.
async fn warm_sections(
    fixture: &Fixture,
    args: &RunArgs,
    report: &mut String,
    broken: &mut Vec<String>,
) -> anyhow::Result<()> {
    eprintln!("warm throughput…");
    report.push_str(&load::warm(fixture, args.duration, args.connections).await?);
    eprintln!("writes as the stream grows…");
    let (section, growth) = load::write_growth(args.duration, args.connections).await?;
    report.push_str(&section);
    broken.extend(growth);
    eprintln!("request budgets…");
    report.push_str(&request_budgets(broken).await);
    Ok(())
}

/// Prints and writes the report; fails when a budget broke.
fn finish(args: &RunArgs, report: &str, broken: &[String]) -> anyhow::Result<()> {
    println!("{report}");
    if let Some(dir) = args.report.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&args.report, report)?;
    eprintln!("report written to {}", args.report.display());
    if !broken.is_empty() {
        bail!("budgets broken:\n  {}", broken.join("\n  "));
    }
    Ok(())
}

/// Steps of a cold start, as `init-ladder` performs them (see its source).
const LADDER: &[&str] = &[
    "runtime only (single-threaded, as every function's)",
    "+ JSON logging (init_default_subscriber)",
    "+ SDK configuration as `Deps::from_env` loads it (Keel's HTTPS client)",
    "+ DynamoDB client",
    "+ token keys from JWT_SECRET",
];

/// The ladder's comparison step: steps 2–3 with a client trusting the system's root
/// certificates, as the SDK's default client does (it reads them at every cold start).
const LADDER_LOAD_DEFAULTS: usize = 5;

/// The ladder's other comparison step: the runtime only, multi-threaded as hello-world's.
const LADDER_MULTI_THREADED: usize = 6;

/// Where init time goes: the `init-ladder` binary stopped after each step, interleaved.
/// `NAME=VALUE` pairs from the command line.
fn extra_env(pairs: &[String]) -> Vec<(String, String)> {
    pairs
        .iter()
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

async fn init_ladder(
    fixture: &Fixture,
    release: &Path,
    runs: usize,
    extra: &[(String, String)],
) -> anyhow::Result<String> {
    let program = release.join("init-ladder");
    let mut samples: Vec<Vec<f64>> = vec![Vec::new(); LADDER_MULTI_THREADED + 1];
    for round in 0..runs {
        for (step, values) in samples.iter_mut().enumerate() {
            let mut env = fixture.env("list-tags", false)?;
            env.push(("KEEL_LADDER_STEP".into(), step.to_string()));
            env.push(("JWT_SECRET".into(), "0123456789abcdef0123456789abcdef".into()));
            env.extend(extra.iter().cloned());
            let sample = cold_start(&program, None, &env, fixture.event("hello", round)?, &[], 0).await?;
            values.push(ms(sample.init));
        }
    }
    let mut out = format!(
        "\n## Where init goes ({runs} runs per step, interleaved; medians)\n\n\
         One binary (`init-ladder`) stopped after each step of a cold start.\n\n\
         | step | init (ms) | this step (ms) |\n|---|---:|---:|\n"
    );
    let medians: Vec<f64> = samples.into_iter().map(median).collect();
    let mut previous = None;
    for (name, init) in LADDER.iter().zip(&medians) {
        let step = previous.map_or(*init, |p| init - p);
        out.push_str(&format!("| {name} | {init:.2} | {step:+.2} |\n"));
        previous = Some(*init);
    }
    let env_only = medians[LADDER_LOAD_DEFAULTS];
    out.push_str(&format!(
        "| *instead of steps 2–3: the SDK configuration with a client trusting the system's roots (`keel::config::system_https_client`, as the SDK's default client does) + DynamoDB client* | {env_only:.2} | {:+.2} |\n",
        env_only - medians[1]
    ));
    let multi = medians[LADDER_MULTI_THREADED];
    out.push_str(&format!(
        "| *instead of the first step: tokio's multi-threaded runtime (`#[tokio::main]`, as hello-world)* | {multi:.2} | {:+.2} |\n",
        multi - medians[0]
    ));
    Ok(out)
}

/// The DynamoDB requests of every endpoint against its budget, counted as tests/budgets.rs
/// counts them: a session check (at most one per user every few seconds per container) is shown
/// apart and not charged to the budget.
async fn request_budgets(broken: &mut Vec<String>) -> String {
    let app = keel_tests::spawn_app().await;
    let measured = keel_tests::budgets::measure(&app).await;
    let mut out = String::from(
        "\n## DynamoDB requests per endpoint (embedded engine)\n\nA session check (at most one per user every few seconds per container) is counted apart, not in the budget.\n\n| endpoint | budget | requests | session check | operations |\n|---|---:|---:|---:|---|\n",
    );
    for (endpoint, budget) in keel_tests::budgets::BUDGETS {
        let all = &measured.iter().find(|(e, _)| e == endpoint).expect("measured").1;
        let (checks, calls) = keel_tests::budgets::charged(all);
        let operations: Vec<&str> = calls.iter().map(|c| c.operation.as_str()).collect();
        out.push_str(&format!(
            "| `{endpoint}` | {budget} | {} | {} | {} |\n",
            calls.len(),
            checks.len(),
            operations.join(", ")
        ));
        if calls.len() > *budget {
            broken.push(format!(
                "{endpoint}: {} DynamoDB requests > budget {budget}",
                calls.len()
            ));
        }
    }
    out
}

/// Boots every artifact once, as Lambda would: the signing key read from Secrets Manager by
/// its ARN, the bucket and table of the fixture, and an event its handler must answer with
/// its operation's success status (an event function: without failing). Anything else —
/// no start, a crash, a 4xx from a failed secret read, a 5xx — fails the run.
async fn boot(args: BootArgs) -> anyhow::Result<()> {
    let fixture = Fixture::start().await?;
    let template = keel_local::template::Template::load(&keel_local::Options::default_template())?;
    let mut failures = Vec::new();
    println!("| function | binary | init (ms) | first invocation (ms) | status |\n|---|---|---:|---:|---:|");
    for function in &template.functions {
        let binary = function.binary.clone().context("function without a binary")?;
        let program = args.artifacts.join(&function.logical_id).join("bootstrap");
        if !program.is_file() {
            failures.push(format!(
                "{}: no bootstrap at {}",
                function.logical_id,
                program.display()
            ));
            continue;
        }
        let prepared = fixture
            .env(&binary, true)
            .and_then(|env| Ok((env, fixture.event(&binary, 0)?, fixture.success_status(&binary)?)));
        let (env, event, expected) = match prepared {
            Ok(prepared) => prepared,
            Err(error) => {
                failures.push(format!("{}: {error:#}", function.logical_id));
                continue;
            }
        };
        match cold_start(&program, args.emulator.as_deref(), &env, event, &[], 0).await {
            Ok(sample) if sample.status == expected => println!(
                "| {} | `{binary}` | {:.1} | {:.1} | {} |",
                function.logical_id,
                ms(sample.init),
                ms(sample.first_invoke),
                sample.status.map_or("ok".to_owned(), |s| s.to_string())
            ),
            Ok(sample) => failures.push(format!(
                "{}: answered {}, not {}",
                function.logical_id,
                sample
                    .status
                    .map_or("without a status".to_owned(), |s| s.to_string()),
                expected.map_or("success".to_owned(), |s| s.to_string())
            )),
            Err(error) => failures.push(format!("{}: {error:#}", function.logical_id)),
        }
    }
    if !failures.is_empty() {
        bail!(
            "artifacts that did not boot and answer with success:\n  {}",
            failures.join("\n  ")
        );
    }
    println!(
        "\nall {} artifacts booted and answered with success",
        template.functions.len()
    );
    Ok(())
}
