//! Test support: [`spawn_app`] starts the real local API (the same code `keel-local` runs) on a
//! free port, with a table of its own, and [`TestApp`] has one method per route.
//!
//! Storage follows the environment, like the local server: the embedded engines by default;
//! DynamoDB Local (or any endpoint) when `AWS_ENDPOINT_URL_DYNAMODB` is set. The test command
//! runs the whole suite both ways.

/// Request budgets per endpoint and the scenario that measures them.
pub mod budgets;
/// Secrets Manager on loopback, for cold-start tests.
pub mod moto;
/// localstripe, a Stripe-compatible API, on loopback.
pub mod stripe;
/// Announcing and sending uploads.
pub mod uploads;

use keel_local::engines::Storage;
use keel_local::{App, Backend, Options};
use rand::Rng as _;
use serde_json::{Value, json};

/// A running API plus an HTTP client for it.
pub struct TestApp {
    /// The running server (its `deps` give tests direct access to the store).
    pub app: App,
    /// Every DynamoDB request the API's handlers send.
    pub meter: keel_local::meter::Meter,
    /// Base URL, e.g. `http://127.0.0.1:41234/api`.
    pub api: String,
    client: reqwest::Client,
    _data: tempfile::TempDir,
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers.
    pub headers: reqwest::header::HeaderMap,
    /// Body parsed as JSON (`Value::Null` when empty or not JSON).
    pub body: Value,
}

/// A fresh user's credentials, unique per call.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Username.
    pub username: String,
    /// Email.
    pub email: String,
    /// Password.
    pub password: String,
}

impl NewUser {
    /// Random, valid credentials.
    pub fn random() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        Self {
            username: format!("u{}", &id[..12]),
            email: format!("{}@example.com", &id[..16]),
            password: format!("pw-{id}"),
        }
    }

    /// The registration body.
    pub fn body(&self) -> Value {
        json!({"user": {"username": self.username, "email": self.email, "password": self.password}})
    }
}

/// Options for a test API: random table, bucket and key; data in `dir`.
pub fn test_options(dir: &std::path::Path, persistent: bool) -> Options {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let secret: [u8; 32] = rand::rng().random();
    let secret: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    Options {
        port: 0,
        template: Options::default_template(),
        storage: if persistent {
            Storage::Dir(dir.to_owned())
        } else {
            Storage::Ephemeral(dir.to_owned())
        },
        backend: Backend::Local,
        table: format!("keel-test-{id}"),
        bucket: format!("keel-test-{}", &id[..20]),
        jwt_secret: secret,
        engine_ports: (0, 0),
        meter: Default::default(),
        access_log: Default::default(),
        process_stream: true,
        payments: keel::payments::Payments::manual(keel::payments::DEFAULT_WINDOW),
    }
}

/// Starts one of the Python servers `./infra/test.sh` installs into `infra/.tools/venv`
/// (`binary`) on a free loopback port, with the arguments `args` gives for that port, and waits
/// until it listens. Answers the port and the process (killed when dropped).
pub async fn start_tool(binary: &str, args: impl Fn(u16) -> Vec<String>) -> (u16, tokio::process::Child) {
    let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../infra/.tools/venv/bin")
        .join(binary);
    assert!(
        path.exists(),
        "{} is missing: run ./infra/test.sh once, which installs it",
        path.display()
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let child = tokio::process::Command::new(&path)
        .args(args(port))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{binary} starts: {e}"));
    let started = std::time::Instant::now();
    while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "{binary} did not listen"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    (port, child)
}

/// Starts the API with its own table and data folder.
pub async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let options = test_options(dir.path(), false);
    let meter = options.meter.clone();
    let app = keel_local::spawn(options).await.expect("local API starts");
    TestApp {
        meter,
        ..TestApp::new(app, dir)
    }
}

/// Payments through `stripe` with the suite's keys, orders waiting `window` for their money.
pub fn stripe_payments(
    stripe: &stripe::LocalStripe,
    window: std::time::Duration,
) -> keel::payments::Payments {
    let secrets = keel::payments::stripe::StripeSecrets {
        secret_key: stripe::SECRET_KEY.into(),
        webhook_secrets: vec![stripe::WEBHOOK_SECRET.into()],
    };
    let client =
        keel::payments::stripe::Stripe::new(&stripe.url, secrets, keel::payments::stripe::Trust::System)
            .expect("the Stripe client builds");
    keel::payments::Payments::stripe(client, window)
}

/// Starts the API taking payments through `stripe` (its webhooks delivered to this API), with
/// orders waiting `window` for their money.
pub async fn spawn_app_paying_with(stripe: &stripe::LocalStripe, window: std::time::Duration) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut options = test_options(dir.path(), false);
    options.payments = stripe_payments(stripe, window);
    let meter = options.meter.clone();
    let app = keel_local::spawn(options).await.expect("local API starts");
    let app = TestApp {
        meter,
        ..TestApp::new(app, dir)
    };
    stripe
        .deliver_webhooks_to(&format!("{}/payments/webhook", app.api))
        .await;
    app
}

impl TestApp {
    /// Wraps a running app.
    pub fn new(app: App, data: tempfile::TempDir) -> Self {
        let api = format!("http://{}/api", app.addr);
        Self {
            app,
            api,
            client: reqwest::Client::new(),
            _data: data,
            meter: Default::default(),
        }
    }

    /// Waits until the table stream has processed every write so far (feeds filled, deleted
    /// articles cleaned up), as a client of the deployed API waits a moment; panics after 10 s.
    pub async fn settled(&self) {
        self.app
            .stream_settled(std::time::Duration::from_secs(10))
            .await
            .expect("the table stream is processed");
    }

    /// `POST /profiles/{username}/follow` as the holder of `token`.
    pub async fn follow(&self, token: &str, username: &str) -> Reply {
        self.send("POST", &format!("/profiles/{username}/follow"), None, Some(token))
            .await
    }

    /// `DELETE /profiles/{username}/follow` as the holder of `token`.
    pub async fn unfollow(&self, token: &str, username: &str) -> Reply {
        self.send(
            "DELETE",
            &format!("/profiles/{username}/follow"),
            None,
            Some(token),
        )
        .await
    }

    /// Sends any request; `token` goes in `Authorization: Token …`.
    pub async fn send(&self, method: &str, path: &str, body: Option<Value>, token: Option<&str>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.client.request(method, format!("{}{path}", self.api));
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        Self::read(request.send().await.expect("request reaches the API")).await
    }

    /// Sends a prepared request (raw bodies, odd headers).
    pub async fn send_raw(&self, request: reqwest::RequestBuilder) -> Reply {
        Self::read(request.send().await.expect("request reaches the API")).await
    }

    /// A request builder for `path` with this app's client.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.api))
    }

    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Reply {
            status,
            headers,
            body,
        }
    }

    /// `POST /api/users`.
    pub async fn register(&self, user: &NewUser) -> Reply {
        self.send("POST", "/users", Some(user.body()), None).await
    }

    /// `POST /api/users/login`.
    pub async fn login(&self, email: &str, password: &str) -> Reply {
        self.send(
            "POST",
            "/users/login",
            Some(json!({"user": {"email": email, "password": password}})),
            None,
        )
        .await
    }

    /// `POST /api/users/login` from `source`, a loopback address of its own (127.0.0.2, …), as a
    /// client on another machine would reach API Gateway.
    pub async fn login_from(&self, source: std::net::IpAddr, email: &str, password: &str) -> Reply {
        let client = reqwest::Client::builder()
            .local_address(source)
            .build()
            .expect("a client bound to a loopback address");
        let request = client
            .post(format!("{}/users/login", self.api))
            .json(&json!({"user": {"email": email, "password": password}}));
        self.send_raw(request).await
    }

    /// `GET /api/user`.
    pub async fn current_user(&self, token: Option<&str>) -> Reply {
        self.send("GET", "/user", None, token).await
    }

    /// `PUT /api/user` with `{"user": changes}`.
    pub async fn update_user(&self, token: &str, changes: Value) -> Reply {
        self.send("PUT", "/user", Some(json!({ "user": changes })), Some(token))
            .await
    }

    /// Registers a random user and answers it with its token.
    pub async fn registered_user(&self) -> (NewUser, String) {
        let user = NewUser::random();
        let reply = self.register(&user).await;
        assert_eq!(reply.status, 201, "registration failed: {:?}", reply.body);
        let token = reply.body["user"]["token"].as_str().expect("token").to_owned();
        (user, token)
    }

    /// `POST /api/articles` with the given fields; answers the reply.
    pub async fn create_article(&self, token: &str, article: Value) -> Reply {
        self.send(
            "POST",
            "/articles",
            Some(json!({ "article": article })),
            Some(token),
        )
        .await
    }

    /// Creates a simple article with `tags` and answers its slug.
    pub async fn article_by(&self, token: &str, title: &str, tags: &[&str]) -> String {
        let reply = self
            .create_article(
                token,
                json!({"title": title, "description": "about it", "body": "the text", "tagList": tags}),
            )
            .await;
        assert_eq!(reply.status, 201, "create failed: {:?}", reply.body);
        reply.body["article"]["slug"].as_str().expect("slug").to_owned()
    }

    /// `GET /api/articles{query}`.
    pub async fn list(&self, query: &str, token: Option<&str>) -> Reply {
        self.send("GET", &format!("/articles{query}"), None, token).await
    }

    /// The slugs of a list reply, in order.
    pub fn slugs(reply: &Reply) -> Vec<String> {
        reply.body["articles"]
            .as_array()
            .expect("articles array")
            .iter()
            .map(|a| a["slug"].as_str().expect("slug").to_owned())
            .collect()
    }

    /// Sends a request with extra headers (`Idempotency-Key`, …).
    pub async fn send_with(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut request = self.request(method, path);
        if let Some(token) = token {
            request = request.header("authorization", format!("Token {token}"));
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send_raw(request).await
    }

    /// Gives `username` the admin role, as `keel-local admin grant` does.
    pub async fn set_role(&self, username: &str, role: keel::domain::Role) {
        let username = keel::domain::Username::parse(Some(username)).expect("a username");
        self.app
            .deps
            .store
            .set_role(&username, role)
            .await
            .expect("role set");
    }

    /// Registers a user and makes them an admin.
    pub async fn admin(&self) -> (NewUser, String) {
        let (user, token) = self.registered_user().await;
        self.set_role(&user.username, keel::domain::Role::Admin).await;
        (user, token)
    }

    /// Creates a product as `admin` and answers its id.
    pub async fn product(&self, admin: &str, name: &str, category: &str, amount: i64, stock: i64) -> String {
        let reply = self
            .send(
                "POST",
                "/products",
                Some(json!({"product": {
                    "name": name, "description": "a thing", "category": category,
                    "price": {"amount": amount, "currency": "EUR"}, "stock": stock,
                }})),
                Some(admin),
            )
            .await;
        assert_eq!(reply.status, 201, "product creation failed: {:?}", reply.body);
        reply.body["product"]["id"].as_str().expect("id").to_owned()
    }

    /// `POST /api/orders` with `Idempotency-Key: key` for `lines` (`[(product id, quantity)]`).
    pub async fn order(&self, token: &str, key: &str, lines: &[(&str, i64)]) -> Reply {
        let lines: Vec<Value> = lines
            .iter()
            .map(|(id, quantity)| json!({"productId": id, "quantity": quantity}))
            .collect();
        self.send_with(
            "POST",
            "/orders",
            Some(json!({"order": {"lines": lines}})),
            Some(token),
            &[("idempotency-key", key)],
        )
        .await
    }

    /// A product's stock, as `admin` reads it.
    pub async fn stock(&self, admin: &str, product: &str) -> i64 {
        let reply = self
            .send("GET", &format!("/products/{product}"), None, Some(admin))
            .await;
        reply.body["product"]["stock"].as_i64().expect("stock")
    }

    /// `POST /api/orders/{id}/mark-paid` as `admin`.
    pub async fn mark_paid(&self, admin: &str, order: &str) -> Reply {
        self.send("POST", &format!("/orders/{order}/mark-paid"), None, Some(admin))
            .await
    }

    /// `GET /api/orders/{id}` as `token`, until `done` holds of the order (10 s at most, as a
    /// front end polls while the gateway's webhook arrives). Answers the order as last read.
    pub async fn order_until(&self, token: &str, order: &str, done: impl Fn(&Value) -> bool) -> Value {
        let started = std::time::Instant::now();
        loop {
            let reply = self
                .send("GET", &format!("/orders/{order}"), None, Some(token))
                .await;
            assert_eq!(reply.status, 200, "{:?}", reply.body);
            let order = reply.body["order"].clone();
            if done(&order) || started.elapsed() > std::time::Duration::from_secs(10) {
                return order;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    /// `POST /api/payments/webhook` with `event` signed by `secret` at `timestamp`, as the
    /// gateway sends it.
    pub async fn webhook(&self, event: &Value, secret: &str, timestamp: i64) -> Reply {
        let payload = event.to_string();
        let signature = keel::payments::webhook::sign(payload.as_bytes(), secret, timestamp);
        self.send_raw(
            self.request(reqwest::Method::POST, "/payments/webhook")
                .header("content-type", "application/json; charset=utf-8")
                .header("stripe-signature", signature)
                .body(payload),
        )
        .await
    }

    /// Every entry of a product's stock ledger (newest first), following the cursor.
    pub async fn ledger(&self, admin: &str, product: &str) -> Vec<Value> {
        let mut entries = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("?limit=100&cursor={c}"),
                None => "?limit=100".to_owned(),
            };
            let reply = self
                .send(
                    "GET",
                    &format!("/products/{product}/stock-history{query}"),
                    None,
                    Some(admin),
                )
                .await;
            assert_eq!(reply.status, 200, "ledger read failed: {:?}", reply.body);
            entries.extend(reply.body["entries"].as_array().expect("entries").iter().cloned());
            match reply.body["nextCursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return entries,
            }
        }
    }

    /// The favorites counter stored on the article at `slug`, read straight from the table.
    pub async fn stored_favorites_count(&self, slug: &str) -> Option<u64> {
        let slug = keel::domain::Slug::from_trusted(slug.to_owned());
        self.app
            .deps
            .store
            .favorites_count_of(&slug)
            .await
            .expect("counter read")
    }

    /// Runs `call` and answers its reply with the DynamoDB requests it caused.
    pub async fn metered<F: std::future::Future<Output = Reply>>(
        &self,
        call: F,
    ) -> (Reply, Vec<keel_local::meter::Call>) {
        let mark = self.meter.mark();
        let reply = call.await;
        (reply, self.meter.calls_since(mark))
    }
}
