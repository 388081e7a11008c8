//! The local table stream is as durable as the one it stands in for: `keel-local` killed with
//! SIGKILL while the stream is back-filling a follow resumes after a restart from its saved
//! position, and the feed ends complete and counted once. Runs against whichever engine the
//! environment names (embedded by default, DynamoDB Local when `AWS_ENDPOINT_URL_DYNAMODB`
//! is set).

use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Articles the followed author has written: enough that the stream's back-fill is still
/// running when the server is killed.
const ARTICLES: usize = 200;

/// A `keel-local` process on a data folder.
struct Server {
    child: tokio::process::Child,
    api: String,
}

impl Server {
    async fn start(dir: &std::path::Path, table: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_keel-local"))
            .args(["--port", &port.to_string(), "--table", table, "--data-dir"])
            .arg(dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("keel-local starts");
        let api = format!("http://127.0.0.1:{port}/api");
        let started = Instant::now();
        while reqwest::get(format!("{api}/tags")).await.is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "keel-local did not listen"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, api }
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) -> Value {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", self.api));
        if let Some(body) = body {
            request = request.json(&body);
        }
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        let response = request.send().await.expect("keel-local answers");
        assert!(response.status().is_success(), "{path}: {}", response.status());
        response.json().await.unwrap_or(Value::Null)
    }

    async fn register(&self, name: &str) -> String {
        let user = json!({"user": {"username": name, "email": format!("{name}@example.com"), "password": "a long password"}});
        let reply = self.send(reqwest::Method::POST, "/users", Some(user), None).await;
        reply["user"]["token"].as_str().unwrap().to_owned()
    }

    async fn feed(&self, token: &str, limit: usize) -> Value {
        self.send(
            reqwest::Method::GET,
            &format!("/articles/feed?limit={limit}"),
            None,
            Some(token),
        )
        .await
    }
}

fn slugs(page: &Value) -> Vec<String> {
    page["articles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["slug"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_during_a_follows_backfill_completes_the_feed_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let table = format!("crash-{}", uuid::Uuid::new_v4().simple());
    let mut server = Server::start(dir.path(), &table).await;
    let author = server.register("prolific").await;
    let reader = server.register("reader").await;
    for chunk in (0..ARTICLES).collect::<Vec<_>>().chunks(8) {
        futures::future::join_all(chunk.iter().map(|i| {
            let article =
                json!({"article": {"title": format!("Article {i:04}"), "description": "d", "body": "b"}});
            server.send(reqwest::Method::POST, "/articles", Some(article), Some(&author))
        }))
        .await;
    }

    // The follow writes the author's newest page itself: the feed shows it at once, before the
    // stream has done anything.
    server
        .send(
            reqwest::Method::POST,
            "/profiles/prolific/follow",
            None,
            Some(&reader),
        )
        .await;
    let first = server.feed(&reader, 20).await;
    let newest = server
        .send(
            reqwest::Method::GET,
            "/articles?author=prolific&limit=20",
            None,
            None,
        )
        .await;
    assert_eq!(
        slugs(&first),
        slugs(&newest),
        "the first feed page is the author's newest 20"
    );

    // Kill once the stream's back-fill is under way, before it has finished.
    let started = Instant::now();
    let at_kill = loop {
        let count = server.feed(&reader, 1).await["articlesCount"].as_u64().unwrap() as usize;
        if count > 20 || started.elapsed() > Duration::from_secs(20) {
            break count;
        }
    };
    server.child.start_kill().unwrap();
    server.child.wait().await.unwrap();
    assert!(
        at_kill < ARTICLES,
        "the back-fill finished before the kill ({at_kill}); the test proves nothing"
    );
    eprintln!("killed with {at_kill} of {ARTICLES} articles in the feed");

    let server = Server::start(dir.path(), &table).await;
    let started = Instant::now();
    loop {
        let count = server.feed(&reader, 1).await["articlesCount"].as_u64().unwrap() as usize;
        if count >= ARTICLES {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "after the restart the feed stopped at {count}/{ARTICLES} (killed at {at_kill})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Settled: still exactly one entry per article, in order.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let feed = server.feed(&reader, 100).await;
    assert_eq!(
        feed["articlesCount"], ARTICLES,
        "counted once (killed at {at_kill})"
    );
    let page = slugs(&feed);
    assert_eq!(page[..20], slugs(&newest)[..]);
    let distinct: std::collections::HashSet<&String> = page.iter().collect();
    assert_eq!(distinct.len(), 100, "no article twice");
}
