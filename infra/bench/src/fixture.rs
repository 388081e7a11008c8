//! What every cold start and load run talks to: the local API on embedded engines with a
//! little data in it (users, an admin, articles, comments, products, orders, uploads), a
//! Secrets Manager holding the signing key (moto), counting relays in front of both, and one
//! event per function that its handler answers with success: an API Gateway event for its
//! route with real ids and a real token, or the stream record or bucket event it consumes.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use anyhow::Context as _;
use bytes::Bytes;
use keel_local::registry;
use keel_local::template::Template;
use keel_tests::{NewUser, TestApp};
use serde_json::{Value, json};

use crate::proxy::CountingProxy;

/// Enough throwaway articles, comments, products, orders and uploads for every round of
/// deletes, archives, cancels and fulfilments.
const THROWAWAY: usize = 24;
/// The webhook signing secret the bench's Stripe secret holds.
const BENCH_WEBHOOK_SECRET: &str = "whsec_keel_bench";

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
    /// The Stripe keys in Secrets Manager, as the template's StripeSecret holds them filled in.
    stripe_secret_arn: String,
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
    /// The admin's token (catalog writes, fulfilment, every order).
    admin_token: String,
    /// One user per round to sign out (signing out revokes every token of its user).
    leaving_tokens: Vec<String>,
    /// A product in stock that stays.
    product: String,
    throwaway_products: Vec<String>,
    /// The reader's order that stays.
    order: String,
    /// The reader's orders, one per round to cancel, one to fulfil (paid), one to mark paid and
    /// one the gateway's webhook pays.
    cancellable_orders: Vec<String>,
    fulfillable_orders: Vec<String>,
    markable_orders: Vec<String>,
    payable_orders: Vec<String>,
    /// The reader's finalised photo that stays.
    upload: String,
    throwaway_uploads: Vec<String>,
    bucket: String,
    s3_endpoint: String,
    /// Each operation's success status, from the OpenAPI document: `(method, path) -> status`.
    success: BTreeMap<(String, String), u16>,
    /// Where the functions send X-Ray subsegments (`AWS_XRAY_DAEMON_ADDRESS`), as Lambda's
    /// daemon receives them: measured processes pay for sending them, as deployed.
    xray_daemon: SocketAddr,
    /// Subsegments received so far.
    pub subsegments: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    _moto: keel_tests::moto::Moto,
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
        anyhow::ensure!(
            moto_binary.exists(),
            "{} is not installed (./infra/bench.sh and ./infra/sam-build.sh install it): \
             without Secrets Manager no token-reading function can start",
            moto_binary.display()
        );
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
        let stripe_secret =
            serde_json::json!({"secretKey": "sk_test_bench", "webhookSecrets": [BENCH_WEBHOOK_SECRET]});
        let stripe_secret_arn = aws_sdk_secretsmanager_client(&sdk)
            .create_secret()
            .name("keel-bench-stripe")
            .secret_string(stripe_secret.to_string())
            .send()
            .await?
            .arn
            .unwrap_or_default();
        let secrets_upstream: SocketAddr = moto.endpoint.trim_start_matches("http://").parse()?;
        let secret_arn = created.arn.unwrap_or_default();
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
        let (_, admin_token) = app.admin().await;
        let product = app
            .product(&admin_token, "Bench lamp", "home", 1_999, 100_000)
            .await;
        let mut throwaway_products = Vec::new();
        let mut cancellable_orders = Vec::new();
        let mut fulfillable_orders = Vec::new();
        let mut markable_orders = Vec::new();
        let mut payable_orders = Vec::new();
        let mut throwaway_uploads = Vec::new();
        let mut leaving_tokens = Vec::new();
        let photo = keel_tests::uploads::png(16, 16);
        let place = |key: String| {
            let (app, token, product) = (&app, &reader_token, &product);
            async move {
                let reply = app.order(token, &key, &[(product.as_str(), 1)]).await;
                anyhow::ensure!(reply.status == 201, "placing an order: {}", reply.body);
                reply.body["order"]["id"]
                    .as_str()
                    .map(str::to_owned)
                    .context("order id")
            }
        };
        let order = place("bench-order".into()).await?;
        for i in 0..THROWAWAY {
            leaving_tokens.push(app.registered_user().await.1);
            throwaway_products.push(
                app.product(&admin_token, &format!("Throwaway {i}"), "home", 100, 1)
                    .await,
            );
            cancellable_orders.push(place(format!("bench-cancel-{i}")).await?);
            let paid = place(format!("bench-fulfil-{i}")).await?;
            anyhow::ensure!(
                app.mark_paid(&admin_token, &paid).await.status == 200,
                "marking an order paid"
            );
            fulfillable_orders.push(paid);
            markable_orders.push(place(format!("bench-mark-{i}")).await?);
            payable_orders.push(place(format!("bench-pay-{i}")).await?);
            throwaway_uploads.push(
                keel_tests::uploads::upload(&app, &reader_token, "t.png", "image/png", &photo, "avatar")
                    .await,
            );
        }
        let upload =
            keel_tests::uploads::upload(&app, &reader_token, "bench.png", "image/png", &photo, "avatar")
                .await;
        let ready = keel_tests::uploads::settled(&app, &reader_token, &upload).await;
        anyhow::ensure!(
            ready["status"] == "ready",
            "the bench photo was not accepted: {ready}"
        );
        let bucket = app.app.bucket.clone();
        let s3_endpoint = app
            .app
            .s3_endpoint
            .clone()
            .context("the embedded S3 engine's endpoint")?;
        let success = success_statuses()?;
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
            stripe_secret_arn,
            author,
            author_token,
            reader_token,
            slug,
            throwaway_slugs,
            throwaway_comments,
            admin_token,
            leaving_tokens,
            product,
            throwaway_products,
            order,
            cancellable_orders,
            fulfillable_orders,
            markable_orders,
            payable_orders,
            upload,
            throwaway_uploads,
            bucket,
            s3_endpoint,
            success,
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

    /// How many secrets `binary`'s cold start reads from Secrets Manager: the JWT key where it
    /// reads or issues tokens, and the Stripe secret where it takes payments through Stripe
    /// (only the webhook, in this fixture's environment).
    pub fn secrets_at_init(&self, binary: &str) -> usize {
        let Some(needs) = registry::needs(binary) else {
            return 0;
        };
        usize::from(needs.tokens())
            + usize::from(needs.payments() && binary == keel_functions::payments::WEBHOOK.binary)
    }

    /// The process environment Lambda would give `binary`: its template variables resolved to
    /// this run's table, bucket and secret, the runtime's own variables, and local credentials.
    /// With `secret_from_arn` false the key is passed in `JWT_SECRET` instead, so init does no
    /// I/O. A template variable that names a resource this fixture has no value for is an
    /// error naming the function.
    pub fn env(&self, binary: &str, secret_from_arn: bool) -> anyhow::Result<Vec<(String, String)>> {
        let mut env: BTreeMap<String, String> = match self.template.function_for_binary(binary) {
            Some(function) => function.resolved_environment(&[
                ("Table", &self.table),
                ("JwtSecret", &self.secret_arn),
                ("StripeSecret", &self.stripe_secret_arn),
                // Placing and cancelling would call Stripe, which is not here: the manual
                // provider, except for the webhook, which verifies a signed event under the
                // secret its cold start reads (and calls Stripe only to refund).
                (
                    "PaymentProvider",
                    if binary == keel_functions::payments::WEBHOOK.binary {
                        "stripe"
                    } else {
                        "manual"
                    },
                ),
                ("OrderPaymentWindowSeconds", "1800"),
                ("Bucket", &self.bucket),
            ])?,
            None => BTreeMap::new(),
        };
        if !secret_from_arn && env.remove("JWT_SECRET_ARN").is_some() {
            env.insert("JWT_SECRET".into(), self.secret.clone());
        }
        if !secret_from_arn
            && env.remove("STRIPE_SECRET_ARN").is_some()
            && binary == keel_functions::payments::WEBHOOK.binary
        {
            env.insert("STRIPE_SECRET_KEY".into(), "sk_test_bench".into());
            env.insert("STRIPE_WEBHOOK_SECRETS".into(), BENCH_WEBHOOK_SECRET.into());
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
            // An IP-address endpoint: the SDK addresses the bucket by path, as s3s-fs serves it.
            ("AWS_ENDPOINT_URL_S3", &self.s3_endpoint),
            ("AWS_XRAY_DAEMON_ADDRESS", &self.xray_daemon.to_string()),
        ] {
            env.insert(name.into(), value.into());
        }
        Ok(env.into_iter().collect())
    }

    /// The template route `binary` serves.
    fn route(&self, binary: &str) -> anyhow::Result<&keel_local::template::Route> {
        self.template
            .routes
            .iter()
            .find(|r| r.binary == binary)
            .with_context(|| format!("no route for {binary}"))
    }

    /// What `binary`'s handler answers to [`Fixture::event`] when it works: its operation's
    /// success status (`None` for an event function, whose success is not failing).
    pub fn success_status(&self, binary: &str) -> anyhow::Result<Option<u16>> {
        if registry::EVENT_FUNCTIONS.iter().any(|f| f.binary == binary) {
            return Ok(None);
        }
        let route = self.route(binary)?;
        self.success
            .get(&(route.method.to_ascii_lowercase(), route.path.clone()))
            .copied()
            .map(Some)
            .with_context(|| {
                format!(
                    "{binary}: {} {} has no success status in the OpenAPI document",
                    route.method, route.path
                )
            })
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
        if binary == keel_functions::uploads::FINALISE {
            // The bucket's event for the bench photo: finalising it again is a settled no-op.
            let key = format!("{}{}", keel::files::INCOMING_PREFIX, self.upload);
            return Ok(keel_local::app::object_created_event(&self.bucket, &key, 100));
        }
        if binary == keel_functions::payments::EXPIRE {
            // The schedule's event: nothing is due (every window is 30 minutes), so the sweep
            // reads the due orders' index once and finds none.
            return Ok(json!({
                "version": "0", "id": uuid::Uuid::new_v4().to_string(),
                "detail-type": "Scheduled Event", "source": "aws.events",
                "account": "000000000000", "time": keel::domain::now_timestamp(),
                "region": keel_local::engines::LOCAL_REGION, "resources": [], "detail": {},
            }));
        }
        let route_binary = if binary == "hello" { "list-tags" } else { binary };
        let route = self.route(route_binary)?;
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let throwaway = round.min(THROWAWAY - 1);
        let id = match route_binary {
            "delete-comment" => self.throwaway_comments[throwaway].to_string(),
            "archive-product" => self.throwaway_products[throwaway].clone(),
            p if p.ends_with("-product") || p == "adjust-stock" || p == "stock-history" => {
                self.product.clone()
            }
            "cancel-order" => self.cancellable_orders[throwaway].clone(),
            "fulfil-order" => self.fulfillable_orders[throwaway].clone(),
            "mark-paid" => self.markable_orders[throwaway].clone(),
            "get-order" => self.order.clone(),
            "delete-upload" => self.throwaway_uploads[throwaway].clone(),
            _ => self.upload.clone(),
        };
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
            .replace("{id}", &id);
        let mut headers: Vec<(&str, String)> = Vec::new();
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
            "list-tags" | "list-products" | "get-product" => (None, Value::Null),
            "logout" => (Some(&self.leaving_tokens[throwaway]), Value::Null),
            "create-product" => (
                Some(&self.admin_token),
                json!({"product": {"name": format!("Bench {unique}"), "description": "d", "category": "home", "price": {"amount": 500, "currency": "EUR"}, "stock": 10}}),
            ),
            "update-product" => (
                Some(&self.admin_token),
                json!({"product": {"description": format!("round {round}")}}),
            ),
            "adjust-stock" => (
                Some(&self.admin_token),
                json!({"stock": {"delta": 1, "reason": "bench"}}),
            ),
            "archive-product" | "stock-history" | "fulfil-order" | "list-all-orders" | "mark-paid" => {
                (Some(&self.admin_token), Value::Null)
            }
            "payment-webhook" => {
                // Stripe's event that the round's order was paid, signed now.
                let order = &self.payable_orders[throwaway];
                let event = json!({
                    "id": format!("evt_bench_{unique}"), "type": "payment_intent.succeeded",
                    "data": {"object": {"id": format!("pi_bench_{throwaway}"), "amount": 1_999,
                        "currency": "eur", "metadata": {"order_id": order}}},
                });
                let now = keel::payments::webhook::unix_now();
                headers.push((
                    "stripe-signature",
                    keel::payments::webhook::sign(event.to_string().as_bytes(), BENCH_WEBHOOK_SECRET, now),
                ));
                (None, event)
            }
            "place-order" => {
                headers.push(("idempotency-key", unique.clone()));
                (
                    Some(&self.reader_token),
                    json!({"order": {"lines": [{"productId": self.product, "quantity": 1}]}}),
                )
            }
            "create-upload" => (
                Some(&self.reader_token),
                json!({"upload": {"filename": "a.png", "contentType": "image/png", "size": 100, "purpose": "avatar"}}),
            ),
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
        for (name, value) in headers {
            request = request.header(name, value);
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

/// Every operation's success status in the OpenAPI document (its one 2xx or 3xx response),
/// by lower-case method and path.
fn success_statuses() -> anyhow::Result<BTreeMap<(String, String), u16>> {
    let document = serde_json::to_value(keel_functions::openapi::document())?;
    let mut statuses = BTreeMap::new();
    for (path, operations) in document["paths"].as_object().context("paths")? {
        for (method, operation) in operations.as_object().context("operations")? {
            let Some(responses) = operation["responses"].as_object() else {
                continue;
            };
            let mut success = responses
                .keys()
                .filter_map(|code| code.parse::<u16>().ok())
                .filter(|code| (200..400).contains(code));
            if let (Some(code), None) = (success.next(), success.next()) {
                statuses.insert((method.clone(), path.clone()), code);
            }
        }
    }
    Ok(statuses)
}

fn keel_functions_stream() -> &'static str {
    registry::EVENT_FUNCTIONS[0].binary
}

fn aws_sdk_secretsmanager_client(sdk: &aws_config::SdkConfig) -> aws_sdk_secretsmanager::Client {
    aws_sdk_secretsmanager::Client::new(sdk)
}
