//! What every cold start and load run talks to: the local API on embedded engines with a
//! little data in it (two users, articles, comments), a Secrets Manager holding the signing
//! key (moto, when installed), counting relays in front of both, and one API Gateway event per
//! function for its own route.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use keel_local::registry;
use keel_local::template::Template;
use keel_tests::{NewUser, TestApp};
use serde_json::{Value, json};

use crate::proxy::CountingProxy;

/// Enough throwaway articles and comments for every round of deletes.
const THROWAWAY: usize = 24;

/// The running API, its data, and what a function needs to reach it.
pub struct Fixture {
    /// The local API (engines included).
    pub app: TestApp,
    /// Relays in front of DynamoDB and Secrets Manager, in that order.
    pub proxies: Vec<CountingProxy>,
    template: Template,
    table: String,
    secret: String,
    secret_arn: String,
    /// A user who writes.
    pub author: NewUser,
    /// The author's token.
    pub author_token: String,
    /// A user who reads, follows, favorites and comments.
    pub reader_token: String,
    /// An article that stays.
    pub slug: String,
    throwaway_slugs: Vec<String>,
    throwaway_comments: Vec<u64>,
    /// Where the functions send X-Ray subsegments (`AWS_XRAY_DAEMON_ADDRESS`), as Lambda's
    /// daemon receives them: measured processes pay for sending them, as deployed.
    xray_daemon: SocketAddr,
    /// Subsegments received so far.
    pub subsegments: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _moto: Option<keel_tests::moto::Moto>,
}

impl Fixture {
    /// Starts everything and writes the data.
    pub async fn start() -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let options = keel_tests::test_options(dir.path(), false);
        let table = options.table.clone();
        let secret = options.jwt_secret.clone();
        let app = TestApp::new(keel_local::spawn(options).await?, dir);
        let dynamodb: SocketAddr = app
            .app
            .dynamodb_endpoint
            .as_deref()
            .and_then(|e| e.strip_prefix("http://"))
            .context("an HTTP DynamoDB endpoint")?
            .parse()?;

        // The signing key in Secrets Manager, as the template's JwtSecret holds it.
        let moto_binary = std::path::Path::new("infra/.tools/venv/bin/moto_server");
        let (moto, secrets_upstream, secret_arn) = if moto_binary.exists() {
            let moto = keel_tests::moto::Moto::start().await;
            let sdk = keel_local::engines::local_sdk_config()
                .into_builder()
                .endpoint_url(&moto.endpoint)
                .build();
            let created = aws_sdk_secretsmanager_client(&sdk)
                .create_secret()
                .name("keel-bench-jwt")
                .secret_string(&secret)
                .send()
                .await?;
            let upstream: SocketAddr = moto.endpoint.trim_start_matches("http://").parse()?;
            (Some(moto), upstream, created.arn.unwrap_or_default())
        } else {
            eprintln!(
                "moto_server not installed (run ./infra/test.sh once): secret reads will fail, but are still counted"
            );
            (
                None,
                SocketAddr::from(([127, 0, 0, 1], 9)),
                "arn:aws:secretsmanager:us-east-1:000000000000:secret:keel-jwt".into(),
            )
        };
        let proxies = vec![
            CountingProxy::start("dynamodb", dynamodb).await?,
            CountingProxy::start("secretsmanager", secrets_upstream).await?,
        ];

        let (author, author_token) = app.registered_user().await;
        let (_, reader_token) = app.registered_user().await;
        app.send(
            "POST",
            &format!("/profiles/{}/follow", author.username),
            None,
            Some(&reader_token),
        )
        .await;
        for i in 0..5 {
            app.article_by(&author_token, &format!("Warm article {i}"), &["bench", "rust"])
                .await;
        }
        let slug = app
            .article_by(&author_token, "The bench article", &["bench"])
            .await;
        let mut throwaway_slugs = Vec::new();
        let mut throwaway_comments = Vec::new();
        for i in 0..THROWAWAY {
            throwaway_slugs.push(
                app.article_by(&author_token, &format!("Throwaway {i}"), &[])
                    .await,
            );
            let reply = app
                .send(
                    "POST",
                    &format!("/articles/{slug}/comments"),
                    Some(json!({"comment": {"body": format!("comment {i}")}})),
                    Some(&reader_token),
                )
                .await;
            throwaway_comments.push(reply.body["comment"]["id"].as_u64().context("comment id")?);
        }
        let template = Template::load(&keel_local::Options::default_template())?;
        let daemon = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
        let xray_daemon = daemon.local_addr()?;
        let subsegments = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let received = subsegments.clone();
        tokio::spawn(async move {
            let mut datagram = vec![0u8; 65_536];
            while daemon.recv(&mut datagram).await.is_ok() {
                received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
        });
        Ok(Self {
            app,
            xray_daemon,
            subsegments,
            proxies,
            template,
            table,
            secret,
            secret_arn,
            author,
            author_token,
            reader_token,
            slug,
            throwaway_slugs,
            throwaway_comments,
            _moto: moto,
        })
    }

    /// Every function's binary, in template order.
    pub fn binaries(&self) -> Vec<String> {
        self.template
            .functions
            .iter()
            .filter_map(|f| f.binary.clone())
            .collect()
    }

    /// Whether `binary` reads or issues tokens.
    pub fn needs_tokens(&self, binary: &str) -> bool {
        registry::needs(binary).is_some_and(|n| n.tokens())
    }

    /// The process environment Lambda would give `binary`: its template variables resolved to
    /// this run's table and secret, the runtime's own variables, and local credentials. With
    /// `secret_from_arn` false the key is passed in `JWT_SECRET` instead, so init does no I/O.
    pub fn env(&self, binary: &str, secret_from_arn: bool) -> Vec<(String, String)> {
        let mut env: BTreeMap<String, String> = match self.template.function_for_binary(binary) {
            Some(function) => function
                .resolved_environment(&[("Table", &self.table), ("JwtSecret", &self.secret_arn)])
                .expect("the template's environment resolves"),
            None => BTreeMap::new(),
        };
        if !secret_from_arn && env.remove("JWT_SECRET_ARN").is_some() {
            env.insert("JWT_SECRET".into(), self.secret.clone());
        }
        for (name, value) in [
            ("AWS_LAMBDA_FUNCTION_NAME", binary),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
            ("AWS_REGION", keel_local::engines::LOCAL_REGION),
            ("AWS_ACCESS_KEY_ID", keel_local::engines::LOCAL_ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", keel_local::engines::LOCAL_SECRET_KEY),
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_CONFIG_FILE", "/dev/null"),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
            ("AWS_ENDPOINT_URL_DYNAMODB", &self.proxies[0].endpoint),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", &self.proxies[1].endpoint),
            ("AWS_XRAY_DAEMON_ADDRESS", &self.xray_daemon.to_string()),
        ] {
            env.insert(name.into(), value.into());
        }
        env.into_iter().collect()
    }

    /// The event `binary` receives in round `round`: an API Gateway v2 event for its route
    /// (a stream record for `feed-fanout`; any route for hello-world).
    pub fn event(&self, binary: &str, round: usize) -> anyhow::Result<Value> {
        if binary == keel_functions_stream() {
            let path = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../tests/fixtures/dynamodb-stream-article-insert.json"
            );
            return Ok(serde_json::from_str(&std::fs::read_to_string(path)?)?);
        }
        let route_binary = if binary == "hello" { "list-tags" } else { binary };
        let route = self
            .template
            .routes
            .iter()
            .find(|r| r.binary == route_binary)
            .with_context(|| format!("no route for {binary}"))?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let throwaway = round.min(THROWAWAY - 1);
        let path = route
            .path
            .replace("{username}", &self.author.username)
            .replace(
                "{slug}",
                if route_binary == "delete-article" {
                    &self.throwaway_slugs[throwaway]
                } else {
                    &self.slug
                },
            )
            .replace("{id}", &self.throwaway_comments[throwaway].to_string());
        let (token, body) = match route_binary {
            "register-user" => (
                None,
                json!({"user": {"username": format!("b{}", &unique[..12]), "email": format!("{}@bench.example", &unique[..16]), "password": "benchmark-password"}}),
            ),
            "login" => (
                None,
                json!({"user": {"email": self.author.email, "password": self.author.password}}),
            ),
            "update-current-user" => (
                Some(&self.reader_token),
                json!({"user": {"bio": format!("bio {round}")}}),
            ),
            "create-article" => (
                Some(&self.author_token),
                json!({"article": {"title": format!("Bench {unique}"), "description": "d", "body": "b", "tagList": ["bench"]}}),
            ),
            "update-article" => (
                Some(&self.author_token),
                json!({"article": {"body": format!("body {round}")}}),
            ),
            "delete-article" => (Some(&self.author_token), Value::Null),
            "add-comment" => (
                Some(&self.reader_token),
                json!({"comment": {"body": "a comment"}}),
            ),
            "list-tags" => (None, Value::Null),
            _ => (Some(&self.reader_token), Value::Null),
        };
        let mut request = http::Request::builder()
            .method(route.method.as_str())
            .uri(path)
            .header("host", "api.example.com")
            .header("user-agent", "keel-bench");
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        let body = if body.is_null() {
            Bytes::new()
        } else {
            request = request.header("content-type", "application/json");
            Bytes::from(body.to_string())
        };
        self.app
            .app
            .gateway
            .event(request.body(body)?)
            .context("the route matches its own path")
    }
}

fn keel_functions_stream() -> &'static str {
    registry::EVENT_FUNCTIONS[0].binary
}

fn aws_sdk_secretsmanager_client(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}
