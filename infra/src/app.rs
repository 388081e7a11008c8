use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use aws_config::SdkConfig;
use keel::Deps;
use keel::auth::{DEFAULT_TOKEN_TTL, TokenKeys};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::engines::{Engines, Storage, local_sdk_config};
use crate::gateway::Gateway;
use crate::iam::{AccessLog, IamGuard, Resources};
use crate::provision::{ensure_bucket, ensure_table};
use crate::template::Template;

pub use crate::bucket_events::{deliver_object_events, object_created_event};

/// Which storage the API talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// Per service: the endpoint in `AWS_ENDPOINT_URL_DYNAMODB` / `AWS_ENDPOINT_URL_S3` when
    /// set (e.g. DynamoDB Local), otherwise the embedded engine.
    Local,
    /// Real AWS through the default credential chain; the table and bucket must exist.
    Aws,
}

/// How to run the local API. Its `Debug` never shows the JWT secret.
#[derive(Clone)]
pub struct Options {
    /// Port on 127.0.0.1 for the API; 0 picks a free one.
    pub port: u16,
    /// The SAM template to route by.
    pub template: PathBuf,
    /// Where embedded engines keep data.
    pub storage: Storage,
    /// Storage selection.
    pub backend: Backend,
    /// Table name.
    pub table: String,
    /// Bucket name.
    pub bucket: String,
    /// JWT signing key (at least 32 bytes), as Secrets Manager would hold it.
    pub jwt_secret: String,
    /// Ports for the embedded engines; 0 picks free ones.
    pub engine_ports: (u16, u16),
    /// Records every DynamoDB request the functions' clients send.
    pub meter: crate::meter::Meter,
    /// Records every AWS request each function sends, as IAM sees it.
    pub access_log: AccessLog,
    /// Whether the table stream is processed (on except in tests that deliver stream events
    /// to the `feed-fanout` handler themselves, as Lambda would).
    pub process_stream: bool,
    /// Who takes the money (manual unless a Stripe-compatible API is given), for the functions
    /// that declare payments.
    pub payments: keel::payments::Payments,
}

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("port", &self.port)
            .field("template", &self.template)
            .field("storage", &self.storage)
            .field("backend", &self.backend)
            .field("table", &self.table)
            .field("bucket", &self.bucket)
            .field("jwt_secret", &"<redacted>")
            .field("engine_ports", &self.engine_ports)
            .field("process_stream", &self.process_stream)
            .field("payments", &self.payments.provider)
            .finish_non_exhaustive()
    }
}

impl Options {
    /// The workspace's own `template.yaml`.
    pub fn default_template() -> PathBuf {
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
    }
}

/// A running local API. Dropping it stops the server and the embedded engines.
pub struct App {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Unrestricted dependencies (all of the table, token keys) for tests that read the store
    /// directly. Each function runs with its own, restricted ones.
    pub deps: &'static Deps,
    /// The routing table, as read from the template.
    pub gateway: Arc<Gateway>,
    /// DynamoDB endpoint in use (`None` for real AWS).
    pub dynamodb_endpoint: Option<String>,
    /// S3 endpoint in use (`None` for real AWS).
    pub s3_endpoint: Option<String>,
    /// An unrestricted S3 client for the bucket (local engines only), for tests and tools.
    pub s3: Option<aws_sdk_s3::Client>,
    /// The bucket's name.
    pub bucket: String,
    server: JoinHandle<()>,
    /// The table stream's poller (local engines only); stops with the app.
    stream: Option<crate::streams::StreamPoller>,
    replayer: crate::ops::Replayer,
    dead_letters: crate::dead_letters::DeadLetters,
    /// The expiry sweep's own dependencies.
    expiry: &'static Deps,
    /// Every DynamoDB request the scheduled functions (the expiry sweep) sent.
    pub schedule_meter: crate::meter::Meter,
    _engines: Option<Engines>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl App {
    /// Waits until every change written to the table so far has been through the stream
    /// processor (feeds filled, deleted articles cleaned up), as a client of the deployed API
    /// would wait a moment; fails after `timeout`. Immediate where there is no local stream
    /// (real AWS).
    pub async fn stream_settled(&self, timeout: std::time::Duration) -> anyhow::Result<()> {
        match &self.stream {
            Some(stream) => stream.settled(timeout).await,
            None => Ok(()),
        }
    }

    /// Runs the expiry sweep now, with its function's own dependencies (the schedule runs it
    /// every few minutes too).
    pub async fn expire_due_orders(&self) -> anyhow::Result<keel_functions::payments::Swept> {
        keel_functions::payments::expire_due(self.expiry).await
    }

    /// Replays every dead letter of this app's data folder through its function's handler
    /// (`keel-local ops replay-failures`).
    pub async fn replay_failures(&self) -> anyhow::Result<crate::ops::Replayed> {
        self.replayer.replay_letters(&self.dead_letters).await
    }

    /// Replays every message of `queues` through its function's handler, with this app's
    /// function dependencies (`keel-local ops replay-failures --aws` runs the same with the
    /// deployed ones).
    pub async fn replay_queues(
        &self,
        queues: &crate::ops::queues::Queues,
    ) -> anyhow::Result<crate::ops::Replayed> {
        self.replayer.replay_queues(queues).await
    }
}

/// Clients, table and bucket ready, engines running: what both the API and `--engines-only`
/// need.
pub struct PreparedStorage {
    /// An unrestricted DynamoDB client (provisioning, tests), outside the meter.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The configuration every function's clients start from.
    pub sdk: SdkConfig,
    /// Endpoints in use.
    pub dynamodb_endpoint: Option<String>,
    /// Endpoints in use.
    pub s3_endpoint: Option<String>,
    /// An unrestricted S3 client (local engines only).
    pub s3: Option<aws_sdk_s3::Client>,
    /// Embedded engines, if any were started.
    pub engines: Option<Engines>,
}

/// Starts whatever engines are needed, points SDK clients at them, and creates the table (from
/// the template) and the bucket if they are missing.
pub async fn prepare_storage(options: &Options, template: &Template) -> anyhow::Result<PreparedStorage> {
    if options.backend == Backend::Aws {
        let sdk = keel::config::aws_defaults().load().await;
        return Ok(PreparedStorage {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sdk,
            dynamodb_endpoint: None,
            s3_endpoint: None,
            s3: None,
            engines: None,
        });
    }
    let from_env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (env_dynamodb, env_s3) = (
        from_env("AWS_ENDPOINT_URL_DYNAMODB"),
        from_env("AWS_ENDPOINT_URL_S3"),
    );
    let engines = if env_dynamodb.is_none() || env_s3.is_none() {
        Some(
            Engines::start(
                &options.storage,
                options.engine_ports.0,
                options.engine_ports.1,
                template.bucket.cors.clone().map(crate::s3::BucketCors),
            )
            .await?,
        )
    } else {
        None
    };
    let dynamodb_endpoint = env_dynamodb
        .or_else(|| engines.as_ref().map(|e| e.dynamodb_endpoint.clone()))
        .context("BUG: no DynamoDB endpoint")?;
    let s3_endpoint = env_s3
        .or_else(|| engines.as_ref().map(|e| e.s3_endpoint.clone()))
        .context("BUG: no S3 endpoint")?;

    let sdk: SdkConfig = local_sdk_config()
        .into_builder()
        .endpoint_url(&dynamodb_endpoint)
        .build();
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk)
            .endpoint_url(&s3_endpoint)
            .force_path_style(true)
            .build(),
    );
    ensure_table(&dynamodb, &options.table, &template.table)
        .await
        .with_context(|| format!("preparing table {} at {dynamodb_endpoint}", options.table))?;
    ensure_bucket(&s3, &options.bucket)
        .await
        .with_context(|| format!("preparing bucket {} at {s3_endpoint}", options.bucket))?;
    Ok(PreparedStorage {
        dynamodb,
        sdk,
        dynamodb_endpoint: Some(dynamodb_endpoint),
        s3_endpoint: Some(s3_endpoint),
        s3: Some(s3),
        engines,
    })
}

/// Starts polling the local table's stream in the background, as the `feed-fanout` function's
/// event source mapping does in AWS, with the settings of its `DynamoDB` event. Polling is
/// the mapping's work (Lambda's, in AWS), so its client is neither metered nor charged to a
/// function; processing the records runs with the stream function's own store. Positions are
/// kept under `state_dir`.
pub async fn start_stream(
    endpoint: &str,
    template: &Template,
    functions: &FunctionDeps,
    table: &str,
    state_dir: &std::path::Path,
) -> anyhow::Result<crate::streams::StreamPoller> {
    let function = template
        .function_for_binary(keel_functions::streams::FEED_FANOUT)
        .context("template.yaml declares no feed-fanout function")?;
    let source = function
        .stream_source
        .clone()
        .with_context(|| format!("{} has no DynamoDB event", function.logical_id))?;
    let processor = functions.feed_fanout(template)?;
    let sdk = local_sdk_config().into_builder().endpoint_url(endpoint).build();
    let streams = aws_sdk_dynamodbstreams::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    crate::streams::StreamPoller::start(&dynamodb, streams, table, processor, source, state_dir).await
}

/// Each function's own dependencies, as its cold start would build them: a DynamoDB client
/// whose requests are metered and checked against the function's template policy, and token
/// keys only when the function declares it needs them.
pub struct FunctionDeps {
    by_logical_id: std::collections::BTreeMap<String, &'static Deps>,
    /// Every DynamoDB request the scheduled functions send (the expiry sweep's budget), apart
    /// from the endpoints' meter: a sweep may run at any moment.
    pub schedule_meter: crate::meter::Meter,
}

impl FunctionDeps {
    /// Builds dependencies for every function in `template`.
    ///
    /// With `signers` (the embedded S3 engine's), each function's S3 client signs with its own
    /// key, so the engine judges the function's presigned URLs by the function's policy.
    pub fn build(
        template: &Template,
        options: &Options,
        sdk: &SdkConfig,
        s3_endpoint: Option<&str>,
        signers: Option<&crate::s3::Signers>,
        tokens: &TokenKeys,
    ) -> anyhow::Result<Self> {
        let resources = Resources {
            names: [
                (options.table.clone(), "Table".to_owned()),
                (options.bucket.clone(), "Bucket".to_owned()),
            ]
            .into(),
        };
        // The client the deployed functions use (`Deps::from_env`), under the guard.
        let base_http = keel::config::aws_https_client()?;
        let mut by_logical_id = std::collections::BTreeMap::new();
        let schedule_meter = crate::meter::Meter::default();
        for function in &template.functions {
            let binary = function.binary.as_deref().unwrap_or_default();
            let needs = crate::registry::needs(binary).with_context(|| {
                format!(
                    "{}: no endpoint or stream function is named {binary:?}",
                    function.logical_id
                )
            })?;
            let mut sdk = sdk.clone().into_builder();
            // Against real AWS, real IAM applies to the operator's credentials instead.
            if options.backend == Backend::Local {
                sdk = sdk.http_client(IamGuard::new(
                    base_http.clone(),
                    &function.logical_id,
                    function.policy.clone(),
                    resources.clone(),
                    options.access_log.clone(),
                ));
            }
            let sdk = sdk.build();
            // Request budgets are per endpoint: stream processing is not charged to the write
            // that caused it, and a sweep that may run at any moment has a meter of its own.
            let meter = if crate::registry::endpoint(binary).is_some() {
                Some(&options.meter)
            } else {
                function.schedule.map(|_| &schedule_meter)
            };
            let dynamodb = dynamodb_client(&sdk, meter);
            let files = needs
                .bucket()
                .then(|| function_files(function, options, &sdk, s3_endpoint, signers, &resources));
            let deps = Deps::assemble(
                keel::store::Store::new(dynamodb, &options.table),
                needs.tokens().then(|| tokens.clone()),
                files,
            )
            .with_payments(needs.payments().then(|| options.payments.clone()));
            by_logical_id.insert(function.logical_id.clone(), &*Box::leak(Box::new(deps)));
        }
        Ok(Self {
            by_logical_id,
            schedule_meter,
        })
    }

    /// The dependencies of the function with this logical id.
    pub fn of(&self, logical_id: &str) -> Option<&'static Deps> {
        self.by_logical_id.get(logical_id).copied()
    }

    /// The dependencies of the event function that runs `binary`.
    pub fn event_function(&self, template: &Template, binary: &str) -> anyhow::Result<&'static Deps> {
        template
            .function_for_binary(binary)
            .and_then(|f| self.of(&f.logical_id))
            .with_context(|| format!("template.yaml declares no {binary} function"))
    }

    /// The store the stream function processes records with.
    pub fn feed_fanout(&self, template: &Template) -> anyhow::Result<keel::store::Store> {
        template
            .function_for_binary(keel_functions::streams::FEED_FANOUT)
            .and_then(|f| self.of(&f.logical_id))
            .map(|deps| deps.store.clone())
            .context("template.yaml declares no feed-fanout function")
    }
}

/// A function's uploads bucket: its S3 client pointed at the local engine and, where the engine
/// is the embedded one, signing with the function's own key (so the engine judges its presigned
/// URLs by the function's policy).
fn function_files(
    function: &crate::template::Function,
    options: &Options,
    sdk: &SdkConfig,
    s3_endpoint: Option<&str>,
    signers: Option<&crate::s3::Signers>,
    resources: &Resources,
) -> keel::files::Files {
    let mut s3 = aws_sdk_s3::config::Builder::from(sdk).interceptor(keel::telemetry::CallTimer);
    if let Some(endpoint) = s3_endpoint {
        s3 = s3.endpoint_url(endpoint).force_path_style(true);
    }
    if let Some(signers) = signers.filter(|_| options.backend == Backend::Local) {
        signers.register(
            &function.logical_id,
            function.policy.clone(),
            &options.access_log,
            resources,
        );
        s3 = s3.credentials_provider(aws_sdk_s3::config::Credentials::new(
            &function.logical_id,
            crate::engines::LOCAL_SECRET_KEY,
            None,
            None,
            "keel-local-function",
        ));
    }
    keel::files::Files::new(aws_sdk_s3::Client::from_conf(s3.build()), &options.bucket)
}

/// A function's DynamoDB client: timed, and metered when `meter` is given.
fn dynamodb_client(sdk: &SdkConfig, meter: Option<&crate::meter::Meter>) -> aws_sdk_dynamodb::Client {
    let mut config = aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(keel::telemetry::CallTimer);
    if let Some(meter) = meter {
        config = config.interceptor(meter.clone());
    }
    aws_sdk_dynamodb::Client::from_conf(config.build())
}

/// What the bucket does in the background in AWS: Object Created events to the finaliser (and
/// its failures to the dead letters), and the lifecycle's expiry.
fn start_bucket_work(
    storage: &mut PreparedStorage,
    options: &Options,
    template: &Template,
    replayer: &crate::ops::Replayer,
    dead_letters: &crate::dead_letters::DeadLetters,
) {
    if let Some(events) = storage.engines.as_mut().and_then(|e| e.object_created.take()) {
        tokio::spawn(deliver_object_events(
            events,
            options.bucket.clone(),
            replayer.finaliser,
            dead_letters.clone(),
            template
                .function_for_binary(keel_functions::uploads::FINALISE)
                .map_or(crate::template::ASYNC_RETRIES_DEFAULT, |f| f.async_retries),
        ));
    }
    if let Some(s3) = storage.s3.clone() {
        tokio::spawn(crate::bucket_events::apply_lifecycle(
            s3,
            options.bucket.clone(),
            template.bucket.expiry.clone(),
        ));
    }
}

/// Starts the local API: engines, table and bucket, each function's dependencies (built once,
/// as at a Lambda cold start), then the HTTP listener on 127.0.0.1.
pub async fn spawn(options: Options) -> anyhow::Result<App> {
    let template = Template::load(&options.template)?;
    let mut storage = prepare_storage(&options, &template).await?;
    let tokens = TokenKeys::new(options.jwt_secret.as_bytes(), DEFAULT_TOKEN_TTL)?;
    let deps: &'static Deps = Box::leak(Box::new(Deps::new(
        storage.dynamodb.clone(),
        &options.table,
        tokens.clone(),
    )));
    // Functions sign with their own keys only where the S3 engine is the embedded one.
    let signers = storage
        .engines
        .as_ref()
        .filter(|e| storage.s3_endpoint.as_deref() == Some(e.s3_endpoint.as_str()))
        .map(|e| &e.signers);
    let functions = FunctionDeps::build(
        &template,
        &options,
        &storage.sdk,
        storage.s3_endpoint.as_deref(),
        signers,
        &tokens,
    )?;
    let mut gateway = Gateway::new(&template, |id| functions.of(id))?;
    let stream = match storage
        .dynamodb_endpoint
        .as_ref()
        .filter(|_| options.process_stream)
    {
        Some(endpoint) => Some(
            start_stream(
                endpoint,
                &template,
                &functions,
                &options.table,
                options.storage.dir(),
            )
            .await?,
        ),
        None => None,
    };
    if let Some(stream) = &stream {
        gateway = gateway.with_stream(stream.poke());
    }
    let replayer = crate::ops::Replayer {
        fanout: functions.feed_fanout(&template)?,
        finaliser: functions.event_function(&template, keel_functions::uploads::FINALISE)?,
    };
    let dead_letters = crate::dead_letters::DeadLetters::new(options.storage.dir());
    start_bucket_work(&mut storage, &options, &template, &replayer, &dead_letters);
    let expiry = functions.event_function(&template, keel_functions::payments::EXPIRE)?;
    crate::schedules::start(&template, |id| functions.of(id))?;
    let gateway = Arc::new(gateway);
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], options.port)))
        .await
        .with_context(|| format!("binding 127.0.0.1:{}", options.port))?;
    let addr = listener.local_addr()?;
    let server = tokio::spawn(crate::gateway::run(gateway.clone(), listener));
    Ok(App {
        addr,
        deps,
        gateway,
        dynamodb_endpoint: storage.dynamodb_endpoint,
        s3_endpoint: storage.s3_endpoint,
        s3: storage.s3,
        bucket: options.bucket.clone(),
        server,
        stream,
        replayer,
        dead_letters,
        expiry,
        schedule_meter: functions.schedule_meter.clone(),
        _engines: storage.engines,
    })
}
