//! Warm throughput and latency of the local server under `wrk` (Debian's package), with a
//! hello-world HTTP server measured in the same run as the ceiling this machine allows.

use std::convert::Infallible;

use anyhow::Context as _;
use bytes::Bytes;
use futures::StreamExt as _;
use http_body_util::Full;
use tokio::net::TcpListener;

use crate::fixture::Fixture;

/// One scenario's result.
struct Measured {
    requests_per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

/// Runs every scenario and answers the report section.
pub async fn warm(fixture: &Fixture, seconds: u64, connections: usize) -> anyhow::Result<String> {
    let hello = hello_server().await?;
    let api = format!("http://{}", fixture.app.app.addr);
    let reader = format!("Token {}", fixture.reader_token);
    let slug = &fixture.slug;
    let author = &fixture.author.username;
    let read_paths = [
        "/api/articles?limit=10".to_owned(),
        format!("/api/articles/{slug}"),
        "/api/articles/feed?limit=10".to_owned(),
        format!("/api/articles/{slug}/comments"),
        format!("/api/profiles/{author}"),
    ];
    let reads: Vec<(String, String, String)> = read_paths
        .iter()
        .map(|p| ("GET".to_owned(), p.clone(), String::new()))
        .collect();
    let writes = vec![
        (
            "POST".to_owned(),
            format!("/api/articles/{slug}/comments"),
            r#"{"comment":{"body":"load"}}"#.to_owned(),
        ),
        (
            "PUT".to_owned(),
            "/api/user".to_owned(),
            r#"{"user":{"bio":"load"}}"#.to_owned(),
        ),
    ];
    let scenarios = [
        (
            "hello-world HTTP server (ceiling)",
            hello.clone(),
            vec![("GET".into(), "/".into(), String::new())],
        ),
        (
            "read mix: list, article, feed, comments, profile",
            api.clone(),
            reads,
        ),
        ("write mix: add comment, update user", api, writes),
    ];
    let mut out = format!(
        "\n## Warm throughput (wrk, {connections} connections, 2 threads, {seconds} s each, same machine)\n\n\
         The local server as `cargo run -p keel-local` runs it (dev profile, embedded engines, \
         the table stream processed in the background), and a hello-world HTTP server built the same \
         way as the ceiling.\n\n\
         | scenario | requests/s | / ceiling | p50 (ms) | p99 (ms) | non-2xx |\n|---|---:|---:|---:|---:|---:|\n"
    );
    let mut ceiling = None;
    for (name, base, requests) in scenarios {
        let measured = wrk(&base, &requests, &reader, seconds, connections).await?;
        let ceiling = *ceiling.get_or_insert(measured.requests_per_second);
        out.push_str(&format!(
            "| {name} | {:.0} | {:.3} | {:.2} | {:.2} | {} |\n",
            measured.requests_per_second,
            measured.requests_per_second / ceiling,
            measured.p50_ms,
            measured.p99_ms,
            measured.non_2xx
        ));
    }
    Ok(out)
}

async fn hello_server() -> anyhow::Result<String> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            let _ = socket.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from_static(b"hello"))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(socket), service)
                    .await;
            });
        }
    });
    Ok(format!("http://{addr}"))
}

/// Runs wrk with a Lua script cycling through `requests` (method, path, JSON body).
async fn wrk(
    base: &str,
    requests: &[(String, String, String)],
    authorization: &str,
    seconds: u64,
    connections: usize,
) -> anyhow::Result<Measured> {
    let mut script = String::from("local requests = {\n");
    for (method, path, body) in requests {
        let body = if body.is_empty() {
            "nil".to_owned()
        } else {
            format!("{body:?}")
        };
        script.push_str(&format!("  {{ {method:?}, {path:?}, {body} }},\n"));
    }
    script.push_str(&format!(
        "}}\nlocal i = 0\nrequest = function()\n  i = i % #requests + 1\n  local r = requests[i]\n  \
         local headers = {{ [\"Authorization\"] = {authorization:?} }}\n  \
         if r[3] then headers[\"Content-Type\"] = \"application/json\" end\n  \
         return wrk.format(r[1], r[2], headers, r[3])\nend\n\
         done = function(summary, latency, requests)\n  \
         local bad = summary.errors.status\n  io.write(string.format(\"non2xx %d\\n\", bad))\nend\n"
    ));
    let file = tempfile::Builder::new().suffix(".lua").tempfile()?;
    std::fs::write(file.path(), script)?;
    let output = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            "-s",
        ])
        .arg(file.path())
        .arg(base)
        .output()
        .await
        .context("running wrk (apt-get install wrk; infra/bench.sh installs it)")?;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "wrk failed: {text}");
    let field = |prefix: &str| -> Option<&str> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
    };
    let latency = |prefix: &str| -> anyhow::Result<f64> {
        let value = field(prefix).with_context(|| format!("wrk printed no {prefix}: {text}"))?;
        parse_duration_ms(value)
    };
    Ok(Measured {
        requests_per_second: field("Requests/sec:").context("requests/sec")?.parse()?,
        p50_ms: latency("50%")?,
        p99_ms: latency("99%")?,
        non_2xx: field("non2xx").and_then(|n| n.parse().ok()).unwrap_or(0),
    })
}

/// wrk's `812.00us`, `1.23ms`, `1.05s`.
fn parse_duration_ms(text: &str) -> anyhow::Result<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).context("a unit")?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse()?;
    Ok(match unit {
        "us" => number / 1000.0,
        "ms" => number,
        "s" => number * 1000.0,
        "m" => number * 60_000.0,
        other => anyhow::bail!("unknown unit {other}"),
    })
}

/// One request of a wrk script: method, path, JSON body (empty for none).
type Request = (String, String, String);

/// Stream records written between the two write measurements.
const GROWTH_RECORDS: usize = 20_000;
/// The after-growth write rate must be at least this share of the fresh one.
const GROWTH_RATIO_BUDGET: f64 = 0.9;
/// Single-item writes (a bio change: one `UpdateItem`) must reach at least this share of
/// single-item reads.
const WRITE_READ_BUDGET: f64 = 0.5;

/// Single-item writes (add a comment, change one's bio) and reads (an article, a profile) on a
/// fresh data folder, then again after [`GROWTH_RECORDS`] more stream records: writes must not
/// slow down as the stream grows, nor fall far behind reads. Answers the report section and
/// any broken budget.
pub async fn write_growth(seconds: u64, connections: usize) -> anyhow::Result<(String, Vec<String>)> {
    let dir = tempfile::tempdir()?;
    // A data folder on disk, as `cargo run -p keel-local` keeps one.
    let app = keel_tests::TestApp::new(
        keel_local::spawn(keel_tests::test_options(dir.path(), true)).await?,
        tempfile::tempdir()?,
    );
    let (author, author_token) = app.registered_user().await;
    let (_, reader) = app.registered_user().await;
    let slug = app.article_by(&author_token, "Growth", &[]).await;
    let api = format!("http://{}", app.app.addr);
    let token = format!("Token {reader}");
    let get = |path: String| vec![("GET".to_owned(), path, String::new())];
    let scenarios: Vec<(&str, Vec<Request>)> = vec![
        ("read: an article", get(format!("/api/articles/{slug}"))),
        (
            "read: a profile",
            get(format!("/api/profiles/{}", author.username)),
        ),
        (
            "write: add a comment",
            vec![(
                "POST".to_owned(),
                format!("/api/articles/{slug}/comments"),
                r#"{"comment":{"body":"load"}}"#.to_owned(),
            )],
        ),
        (
            "write: change one's bio",
            vec![(
                "PUT".to_owned(),
                "/api/user".to_owned(),
                r#"{"user":{"bio":"load"}}"#.to_owned(),
            )],
        ),
    ];
    let mut fresh = Vec::new();
    for (_, requests) in &scenarios {
        fresh.push(wrk(&api, requests, &token, seconds, connections).await?);
    }

    // Grow the stream: comments written straight through the store, 64 at a time; each is two
    // stream records (the article's comment counter, the comment).
    let store = &app.app.deps.store;
    let author_id = app.app.deps.tokens()?.verify(&author_token)?.user_id;
    let slug_key = keel::domain::Slug::from_trusted(slug.clone());
    let body = keel::domain::CommentBody::parse(Some("growth")).map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let started = std::time::Instant::now();
    let written: Vec<anyhow::Result<()>> = futures::stream::iter(0..GROWTH_RECORDS / 2)
        .map(|_| async {
            store.add_comment(&slug_key, &author_id, body.clone()).await?;
            Ok(())
        })
        .buffer_unordered(64)
        .collect()
        .await;
    written.into_iter().collect::<anyhow::Result<()>>()?;
    app.app
        .stream_settled(std::time::Duration::from_secs(300))
        .await?;
    eprintln!(
        "{GROWTH_RECORDS} stream records written and processed in {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let mut grown = Vec::new();
    for (_, requests) in &scenarios {
        grown.push(wrk(&api, requests, &token, seconds, connections).await?);
    }

    let mut broken = Vec::new();
    let mut out = format!(
        "\n## Writes as the stream grows (wrk, {connections} connections, {seconds} s each)\n\n\
         `keel-local` on a data folder on disk (dev profile, embedded engines, the stream processed \
         in the background), measured fresh and again after {GROWTH_RECORDS} more stream records. \
         Budgets: after / fresh ≥ {GROWTH_RATIO_BUDGET} for writes; the single-item write (bio, one \
         `UpdateItem`) ≥ {WRITE_READ_BUDGET} × the slower single-item read.\n\n\
         | scenario | fresh (req/s) | after (req/s) | after / fresh | p50 fresh / after (ms) | non-2xx |\n\
         |---|---:|---:|---:|---:|---:|\n"
    );
    for (((name, _), before), after) in scenarios.iter().zip(&fresh).zip(&grown) {
        let ratio = after.requests_per_second / before.requests_per_second;
        out.push_str(&format!(
            "| {name} | {:.0} | {:.0} | {ratio:.2} | {:.2} / {:.2} | {} |\n",
            before.requests_per_second,
            after.requests_per_second,
            before.p50_ms,
            after.p50_ms,
            before.non_2xx + after.non_2xx
        ));
        if before.non_2xx + after.non_2xx > 0 {
            broken.push(format!("{name}: answered non-2xx under load"));
        }
        if name.starts_with("write") && ratio < GROWTH_RATIO_BUDGET {
            broken.push(format!(
                "{name}: {ratio:.2} of the fresh rate after {GROWTH_RECORDS} stream records < {GROWTH_RATIO_BUDGET}"
            ));
        }
    }
    let reads = fresh[0].requests_per_second.min(fresh[1].requests_per_second);
    // The bio change is the single-item write (one UpdateItem); adding a comment reads the
    // article and writes two items, so it is reported against reads but not held to the budget.
    for (i, (name, _)) in scenarios.iter().enumerate().skip(3) {
        for (when, rate) in [
            ("fresh", fresh[i].requests_per_second),
            ("after", grown[i].requests_per_second),
        ] {
            let share = rate / reads;
            if share < WRITE_READ_BUDGET {
                broken.push(format!(
                    "{name} ({when}): {share:.2} of the single-item read rate < {WRITE_READ_BUDGET}"
                ));
            }
        }
    }
    out.push_str(&format!(
        "\nWrites / slower single-item read (fresh): comment {:.2}, bio {:.2}.\n",
        fresh[2].requests_per_second / reads,
        fresh[3].requests_per_second / reads
    ));
    Ok((out, broken))
}
