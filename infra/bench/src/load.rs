//! Warm throughput and latency of the local server under `wrk` (Debian's package), with a
//! hello-world HTTP server measured in the same run as the ceiling this machine allows.

use std::convert::Infallible;

use anyhow::Context as _;
use bytes::Bytes;
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
         stream processed before each write answers), and a hello-world HTTP server built the same \
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
