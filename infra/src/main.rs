//! `cargo run -p keel-local` — the whole API on http://127.0.0.1:3000.

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Parser;
use keel::domain::Role;
use keel_local::admin::Target;
use keel_local::engines::{LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY, Storage};
use keel_local::template::Template;
use keel_local::{Backend, Options};

/// Serves the Keel API locally: routes from template.yaml, handlers in-process, data in
/// embedded DynamoDB and S3 engines (or wherever AWS_ENDPOINT_URL_DYNAMODB / _S3 point).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Port for the API on 127.0.0.1.
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Folder for local data (database, uploaded files, JWT key).
    #[arg(long, default_value = ".keel")]
    data_dir: PathBuf,
    /// SAM template to route by.
    #[arg(long, default_value_os_t = Options::default_template())]
    template: PathBuf,
    /// Table name.
    #[arg(long, default_value = "keel")]
    table: String,
    /// Bucket name.
    #[arg(long, default_value = "keel-uploads")]
    bucket: String,
    /// Use real AWS (default credential chain) instead of local engines.
    #[arg(long)]
    aws: bool,
    /// Only run the embedded engines (for `cargo lambda watch`); writes <data-dir>/lambda.env.
    #[arg(long)]
    engines_only: bool,
    /// Port of the embedded DynamoDB engine (0 = any free port; fixed by --engines-only).
    #[arg(long, default_value_t = 0)]
    dynamodb_port: u16,
    /// Port of the embedded S3 engine (0 = any free port; fixed by --engines-only).
    #[arg(long, default_value_t = 0)]
    s3_port: u16,
    /// Take payments through this Stripe-compatible API (e.g. localstripe's
    /// http://127.0.0.1:8420) instead of the manual provider (an admin marks orders paid). The
    /// key and webhook signing secrets come from STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRETS
    /// (comma-separated); locally they default to sk_test_keel_local and whsec_keel_local.
    /// STRIPE_API_URL sets it too.
    #[arg(long)]
    stripe_url: Option<String>,
    /// How long an order waits for its money before it expires and its stock returns.
    #[arg(long, default_value_t = keel::payments::DEFAULT_WINDOW.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..=7 * 24 * 3600))]
    payment_window_seconds: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Grant or revoke the admin role (works while the server runs on the same data folder).
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// Operations on what the asynchronous functions left behind.
    Ops {
        #[command(subcommand)]
        action: OpsAction,
    },
}

#[derive(Debug, clap::Subcommand)]
enum OpsAction {
    /// Run each parked stream batch and bucket event through its function again; each one
    /// is removed once it succeeds (safe to run twice). Locally: the data folder's dead
    /// letters (stop the server on it first); with --aws: the deployed stack's failure queues.
    ReplayFailures(OpsArgs),
}

#[derive(Debug, clap::Args)]
struct OpsArgs {
    /// Local data folder.
    #[arg(long, default_value = ".keel")]
    data_dir: PathBuf,
    /// Table name (with --aws: the stack's TableName output).
    #[arg(long, default_value = "keel")]
    table: String,
    /// Bucket name (with --aws: the stack's BucketName output).
    #[arg(long, default_value = "keel-uploads")]
    bucket: String,
    /// Replay the deployed stack's failure queues, through the default AWS credential chain.
    #[arg(long, requires = "queue_url")]
    aws: bool,
    /// With --aws: a failure queue to replay (the stack's StreamFailureQueueUrl and
    /// FinaliseFailureQueueUrl outputs); repeat for both.
    #[arg(long = "queue-url", requires = "aws")]
    queue_url: Vec<String>,
    /// SAM template (the functions' policies and settings).
    #[arg(long, default_value_os_t = Options::default_template())]
    template: PathBuf,
}

#[derive(Debug, clap::Subcommand)]
enum AdminAction {
    /// Make a user an admin.
    Grant(AdminArgs),
    /// Make an admin an ordinary user again; their next admin request is refused.
    Revoke(AdminArgs),
    /// Index the titles of every article for `GET /api/articles?title=` (for a table with
    /// articles from before the title index; new and edited ones are indexed by the stream).
    ReindexTitles(TableArgs),
}

#[derive(Debug, clap::Args)]
struct TableArgs {
    /// Local data folder.
    #[arg(long, default_value = ".keel")]
    data_dir: PathBuf,
    /// Table name (with --aws: the deployed table, the stack's TableName output).
    #[arg(long, default_value = "keel")]
    table: String,
    /// Change the deployed table, through the default AWS credential chain.
    #[arg(long)]
    aws: bool,
}

impl TableArgs {
    fn target(&self) -> Target {
        if self.aws {
            Target::Aws
        } else {
            Target::DataDir(self.data_dir.clone())
        }
    }
}

#[derive(Debug, clap::Args)]
struct AdminArgs {
    /// The user.
    username: String,
    #[command(flatten)]
    at: TableArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // The embedded DynamoDB engine warns on every error response it sends, including the
        // expected ConditionalCheckFailed behind each 409: only its errors are worth a line.
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,dynoxide=error".into()),
        )
        .with_target(false)
        .compact()
        .init();
    let cli = Cli::parse();
    match &cli.command {
        Some(Command::Admin { action }) => return admin(action).await,
        Some(Command::Ops {
            action: OpsAction::ReplayFailures(args),
        }) => return replay_failures(args).await,
        None => {}
    }
    let jwt_secret = jwt_secret(&cli.data_dir)?;
    let options = Options {
        port: cli.port,
        template: cli.template.clone(),
        storage: Storage::Dir(cli.data_dir.clone()),
        backend: if cli.aws { Backend::Aws } else { Backend::Local },
        table: cli.table.clone(),
        bucket: cli.bucket.clone(),
        jwt_secret,
        engine_ports: (cli.dynamodb_port, cli.s3_port),
        meter: Default::default(),
        access_log: Default::default(),
        process_stream: true,
        payments: payments(&cli)?,
    };
    if cli.engines_only {
        engines_only(&cli, options).await
    } else {
        serve(&cli, options).await
    }
}

/// The payment provider the flags choose: manual, or a Stripe-compatible API.
fn payments(cli: &Cli) -> anyhow::Result<keel::payments::Payments> {
    use keel::payments::stripe::{Stripe, StripeSecrets, Trust};
    let window = std::time::Duration::from_secs(cli.payment_window_seconds);
    let url = cli
        .stripe_url
        .clone()
        .or_else(|| std::env::var("STRIPE_API_URL").ok().filter(|u| !u.is_empty()));
    let Some(url) = &url else {
        return Ok(keel::payments::Payments::manual(window));
    };
    let from_env = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.to_owned());
    let secrets = StripeSecrets {
        secret_key: from_env("STRIPE_SECRET_KEY", "sk_test_keel_local"),
        webhook_secrets: from_env("STRIPE_WEBHOOK_SECRETS", "whsec_keel_local")
            .split(',')
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
            .collect(),
    };
    let stripe = Stripe::new(url, secrets, Trust::System)?;
    tracing::info!(%url, "payments through a Stripe-compatible API; webhooks at /api/payments/webhook");
    Ok(keel::payments::Payments::stripe(stripe, window))
}

/// `keel-local admin grant|revoke|reindex-titles`: sets a user's role, or indexes every
/// article's title, and exits.
async fn admin(action: &AdminAction) -> anyhow::Result<()> {
    let (args, role, verb) = match action {
        AdminAction::Grant(args) => (args, Role::Admin, "is now an admin"),
        AdminAction::Revoke(args) => (args, Role::User, "is no longer an admin"),
        AdminAction::ReindexTitles(args) => {
            let indexed = keel_local::admin::reindex_titles(&args.target(), &args.table).await?;
            println!("indexed the titles of {indexed} articles");
            return Ok(());
        }
    };
    keel_local::admin::set_role(&args.at.target(), &args.at.table, &args.username, role).await?;
    println!("{} {verb}", args.username);
    Ok(())
}

/// `keel-local ops replay-failures`: replays the data folder's dead letters (or, with
/// `--aws`, the deployed failure queues) and exits.
async fn replay_failures(args: &OpsArgs) -> anyhow::Result<()> {
    if args.aws {
        return replay_queues(args).await;
    }
    if let Ok(endpoint) = std::fs::read_to_string(args.data_dir.join(keel_local::engines::ENGINE_FILE)) {
        let address = endpoint
            .trim()
            .trim_start_matches("http://")
            .trim_end_matches('/');
        let probe = tokio::net::TcpStream::connect(address).await;
        anyhow::ensure!(
            probe.is_err(),
            "a server is running on {} (its engine answers at {}): stop it, then replay",
            args.data_dir.display(),
            endpoint.trim()
        );
    }
    let options = Options {
        port: 0,
        template: args.template.clone(),
        storage: Storage::Dir(args.data_dir.clone()),
        backend: Backend::Local,
        table: args.table.clone(),
        bucket: args.bucket.clone(),
        jwt_secret: jwt_secret(&args.data_dir)?,
        engine_ports: (0, 0),
        meter: Default::default(),
        access_log: Default::default(),
        process_stream: false,
        payments: keel::payments::Payments::manual(keel::payments::DEFAULT_WINDOW),
    };
    let app = keel_local::spawn(options).await?;
    let outcome = app.replay_failures().await?;
    println!(
        "{} replayed, {} still failing (kept in {})",
        outcome.replayed,
        outcome.still_failing,
        args.data_dir.join("dead-letters").display()
    );
    anyhow::ensure!(
        outcome.still_failing == 0,
        "some letters failed again; see the log"
    );
    Ok(())
}

/// `keel-local ops replay-failures --aws`: the deployed handlers' code, here, on the stack's
/// table, bucket, stream and failure queues.
async fn replay_queues(args: &OpsArgs) -> anyhow::Result<()> {
    let template = Template::load(&args.template)?;
    let sdk = keel::config::sdk_defaults().load().await;
    let replayer = keel_local::ops::Replayer::deployed(&sdk, &args.table, &args.bucket).await?;
    let queues = keel_local::ops::queues::Queues::new(
        aws_sdk_sqs::Client::new(&sdk),
        aws_sdk_dynamodbstreams::Client::new(&sdk),
        args.queue_url.clone(),
        &template,
    );
    let outcome = replayer.replay_queues(&queues).await?;
    println!(
        "{} replayed, {} still failing (left in their queues)",
        outcome.replayed, outcome.still_failing
    );
    anyhow::ensure!(
        outcome.still_failing == 0,
        "some messages failed again; see the log"
    );
    Ok(())
}

/// `--engines-only`: the embedded engines and the stream, for functions run by `cargo lambda
/// watch`, with their environment written to `lambda.env`; until Ctrl-C.
async fn engines_only(cli: &Cli, mut options: Options) -> anyhow::Result<()> {
    if options.engine_ports == (0, 0) {
        options.engine_ports = (8010, 8014);
    }
    let template = Template::load(&options.template)?;
    let storage = keel_local::app::prepare_storage(&options, &template).await?;
    let env_file = cli.data_dir.join("lambda.env");
    let env = format!(
        "TABLE_NAME={}\nBUCKET_NAME={}\nJWT_SECRET={}\nAWS_REGION={LOCAL_REGION}\nAWS_ACCESS_KEY_ID={LOCAL_ACCESS_KEY}\n\
         AWS_SECRET_ACCESS_KEY={LOCAL_SECRET_KEY}\nAWS_ENDPOINT_URL_DYNAMODB={}\nAWS_ENDPOINT_URL_S3={}\n",
        options.table,
        options.bucket,
        options.jwt_secret,
        storage.dynamodb_endpoint.clone().unwrap_or_default(),
        storage.s3_endpoint.clone().unwrap_or_default(),
    );
    write_private(&env_file, env.as_bytes())?;
    println!(
        "Embedded engines running. Function environment written to {}",
        env_file.display()
    );
    println!(
        "In another terminal:  cargo lambda watch -A 127.0.0.1 --env-file {}",
        env_file.display()
    );
    // Functions under `cargo lambda watch` write to the engines directly: poll the stream
    // so feeds fill as they would in AWS.
    // Kept until Ctrl-C: dropping the poller stops it.
    let _stream = if let Some(endpoint) = &storage.dynamodb_endpoint {
        let tokens =
            keel::auth::TokenKeys::new(options.jwt_secret.as_bytes(), keel::auth::DEFAULT_TOKEN_TTL)?;
        let functions = keel_local::app::FunctionDeps::build(
            &template,
            &options,
            &storage.sdk,
            storage.s3_endpoint.as_deref(),
            None,
            &tokens,
        )?;
        Some(
            keel_local::app::start_stream(
                endpoint,
                &template,
                &functions,
                &options.table,
                options.storage.dir(),
            )
            .await?,
        )
    } else {
        None
    };
    tokio::signal::ctrl_c().await?;
    Ok(())
}

/// The whole API, with its route table printed; until Ctrl-C.
async fn serve(cli: &Cli, options: Options) -> anyhow::Result<()> {
    keel::telemetry::keep_summary();
    let app = keel_local::spawn(options).await?;
    println!(
        "Keel API on http://{}  (data: {})",
        app.addr,
        cli.data_dir.display()
    );
    println!(
        "Routes (from {}):",
        cli.template
            .canonicalize()
            .unwrap_or(cli.template.clone())
            .display()
    );
    for route in app.gateway.routes() {
        println!("  {:<7} {:<40} -> {}", route.method, route.path, route.binary);
    }
    println!(
        "  (kill -USR1 {} prints the requests served so far; Ctrl-C prints them and stops)",
        std::process::id()
    );
    let mut asked = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::user_defined1())?;
    loop {
        tokio::select! {
            stop = tokio::signal::ctrl_c() => {
                stop?;
                print_summary();
                return Ok(());
            }
            _ = asked.recv() => print_summary(),
        }
    }
}

/// The requests this server answered, by route and status class.
fn print_summary() {
    print!(
        "\nRequests served, by route (the same figures as the metrics lines above):\n{}",
        keel::telemetry::summary()
    );
}

/// `JWT_SECRET` from the environment, else a random key kept in the data folder so sessions
/// survive a restart. Never printed.
fn jwt_secret(data_dir: &std::path::Path) -> anyhow::Result<String> {
    if let Ok(secret) = std::env::var("JWT_SECRET") {
        return Ok(secret);
    }
    let file = data_dir.join("jwt-secret");
    if let Ok(existing) = std::fs::read_to_string(&file) {
        return Ok(existing);
    }
    std::fs::create_dir_all(data_dir).with_context(|| format!("creating {}", data_dir.display()))?;
    let secret: String = {
        use rand::Rng as _;
        let bytes: [u8; 32] = rand::rng().random();
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    };
    write_private(&file, secret.as_bytes())?;
    Ok(secret)
}

fn write_private(path: &std::path::Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}
