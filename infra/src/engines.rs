//! The embedded storage engines: `dynoxide` (DynamoDB's protocol on SQLite) and `s3s-fs` (S3's
//! protocol on a folder), each on its own loopback port. The handlers reach them through the
//! ordinary AWS SDK clients, exactly as they reach AWS: there is one storage code path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::s3::{BucketCors, ObjectCreated, Signers};

/// The file a running local server leaves in its data folder, naming its DynamoDB engine.
pub const ENGINE_FILE: &str = "dynamodb-endpoint";

pub use crate::credentials::{LOCAL_ACCESS_KEY, LOCAL_REGION, LOCAL_SECRET_KEY};

/// Running embedded engines. Dropping this stops them.
#[derive(Debug)]
pub struct Engines {
    /// `http://127.0.0.1:<port>` of the DynamoDB engine.
    pub dynamodb_endpoint: String,
    /// `http://127.0.0.1:<port>` of the S3 engine.
    pub s3_endpoint: String,
    stop: watch::Sender<bool>,
    /// The data folder's note of where its engine runs, removed when the engines stop.
    endpoint_file: Option<PathBuf>,
    /// Objects the S3 engine stored, in order: its `Object Created` events.
    pub object_created: Option<mpsc::UnboundedReceiver<ObjectCreated>>,
    /// Who may sign requests to the S3 engine, and with which permissions.
    pub signers: Signers,
}

impl Drop for Engines {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(file) = &self.endpoint_file {
            let _ = std::fs::remove_file(file);
        }
    }
}

/// Where the engines keep data.
#[derive(Debug, Clone)]
pub enum Storage {
    /// `dynamodb.sqlite` and `s3/` under this folder; survives restarts.
    Dir(PathBuf),
    /// DynamoDB in memory, S3 in this (temporary) folder: for tests.
    Ephemeral(PathBuf),
}

impl Storage {
    /// The folder: engine data, and the local stream's positions.
    pub fn dir(&self) -> &std::path::Path {
        match self {
            Storage::Dir(dir) | Storage::Ephemeral(dir) => dir,
        }
    }
}

/// dynoxide (3.2) finds a table's next stream sequence number, on every write, and a shard's
/// next records, on every read of the stream, by scanning its whole `_stream_records` table:
/// writes slowed down as the stream grew (9 ms per lookup at 45,000 records). Indexes on the
/// very expressions those queries use make both lookups logarithmic (0.01 ms). Added to the
/// data folder's database once; dynoxide's own schema and data are left as they are.
fn index_stream_records(path: &str) -> anyhow::Result<()> {
    let connection = rusqlite::Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(5))?;
    connection.execute_batch(
        "CREATE INDEX IF NOT EXISTS keel_stream_by_table
             ON _stream_records (table_name, CAST(sequence_number AS INTEGER));
         CREATE INDEX IF NOT EXISTS keel_stream_by_shard
             ON _stream_records (table_name, shard_id, CAST(sequence_number AS INTEGER));",
    )?;
    Ok(())
}

impl Engines {
    /// Starts both engines on the given loopback ports (0 = any free port). The S3 engine
    /// answers browsers as the bucket's CORS rule (`cors`) says.
    pub async fn start(
        storage: &Storage,
        dynamodb_port: u16,
        s3_port: u16,
        cors: Option<BucketCors>,
    ) -> anyhow::Result<Self> {
        let (stop, stopped) = watch::channel(false);
        let (database, s3_root) = match storage {
            Storage::Dir(dir) => {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
                let file = dir.join("dynamodb.sqlite");
                let path = file.to_str().context("data dir path is not UTF-8")?;
                let database =
                    dynoxide::Database::new(path).context("opening the embedded DynamoDB database")?;
                index_stream_records(path).context("indexing the embedded engine's stream")?;
                (database, dir.join("s3"))
            }
            Storage::Ephemeral(dir) => (dynoxide::Database::memory()?, dir.join("s3")),
        };

        let dynamodb = bind(dynamodb_port)
            .await
            .context("binding the embedded DynamoDB port")?;
        let dynamodb_endpoint = format!("http://{}", dynamodb.local_addr()?);
        // DynamoDB deletes expired items (TTL) in the background; so does the embedded engine,
        // once a minute, with the same REMOVE records on the stream.
        let sweeper = database.clone();
        let mut sweeping = stopped.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(TTL_SWEEP_EVERY) => {}
                    _ = sweeping.wait_for(|stop| *stop) => return,
                }
                let database = sweeper.clone();
                match tokio::task::spawn_blocking(move || database.sweep_ttl()).await {
                    Ok(Err(error)) => tracing::warn!(%error, "TTL sweep failed"),
                    Err(error) => tracing::warn!(%error, "TTL sweep panicked"),
                    Ok(Ok(_)) => {}
                }
            }
        });
        let mut signal = stopped.clone();
        tokio::spawn(async move {
            let shutdown = async move {
                let _ = signal.wait_for(|stop| *stop).await;
            };
            if let Err(error) = dynoxide::server::serve_with_shutdown(dynamodb, database, shutdown).await {
                tracing::error!(%error, "embedded DynamoDB stopped");
            }
        });

        let s3 = bind(s3_port).await.context("binding the embedded S3 port")?;
        let s3_endpoint = format!("http://{}", s3.local_addr()?);
        let (created, object_created) = mpsc::unbounded_channel();
        let signers = Signers::default();
        tokio::spawn(serve_s3(s3, s3_root, stopped, created, cors, signers.clone()));

        // Other processes on the same data folder (`keel-local admin`) use this engine rather
        // than opening the database a second time.
        let endpoint_file = match storage {
            Storage::Dir(dir) => {
                let file = dir.join(ENGINE_FILE);
                std::fs::write(&file, &dynamodb_endpoint)
                    .with_context(|| format!("writing {}", file.display()))?;
                Some(file)
            }
            Storage::Ephemeral(_) => None,
        };
        Ok(Self {
            dynamodb_endpoint,
            s3_endpoint,
            stop,
            endpoint_file,
            object_created: Some(object_created),
            signers,
        })
    }
}

async fn bind(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// How often the embedded DynamoDB deletes expired items. A sweep reads every TTL-enabled
/// table whole, taking the database lock page by page, so it must not run often: readers treat
/// an expired item as absent anyway (AWS may take days to delete one).
const TTL_SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

async fn serve_s3(
    listener: TcpListener,
    root: PathBuf,
    mut stopped: watch::Receiver<bool>,
    created: mpsc::UnboundedSender<ObjectCreated>,
    cors: Option<BucketCors>,
    signers: Signers,
) {
    let service = match s3_service(&root, created, signers) {
        Ok(service) => service,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "embedded S3 did not start");
            return;
        }
    };
    loop {
        let socket = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((socket, _)) => socket,
                Err(error) => {
                    tracing::warn!(%error, "embedded S3 accept failed");
                    continue;
                }
            },
            _ = stopped.wait_for(|stop| *stop) => return,
        };
        // Without TCP_NODELAY, small S3 responses wait on Nagle's algorithm (~20x slower reads).
        let _ = socket.set_nodelay(true);
        let service = service.clone();
        let cors = cors.clone();
        let handler = hyper::service::service_fn(move |request: http::Request<hyper::body::Incoming>| {
            let service = service.clone();
            let cors = cors.clone();
            async move { with_cors(&service, cors.as_ref(), request).await }
        });
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(socket), handler)
                .await;
        });
    }
}

/// Answers a CORS preflight from the bucket's rule, or passes the request to S3 and adds the
/// CORS headers the rule gives its response.
async fn with_cors(
    service: &s3s::service::S3Service,
    cors: Option<&BucketCors>,
    request: http::Request<hyper::body::Incoming>,
) -> Result<http::Response<s3s::Body>, s3s::HttpError> {
    if let Some(cors) = cors
        && let Some(preflight) = cors.preflight(&request)
    {
        return Ok(preflight.map(s3s::Body::from));
    }
    let origin = request
        .headers()
        .get(http::header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .map(str::to_owned);
    let method = request.method().clone();
    let mut response = service.call(request.map(s3s::Body::from)).await?;
    if let Some(cors) = cors {
        cors.decorate(origin.as_deref(), &method, response.headers_mut());
    }
    Ok(response)
}

fn s3_service(
    root: &Path,
    created: mpsc::UnboundedSender<ObjectCreated>,
    signers: Signers,
) -> anyhow::Result<s3s::service::S3Service> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {}", root.display()))?;
    let fs = s3s_fs::FileSystem::new(root).map_err(|e| anyhow::anyhow!("opening the S3 folder: {e:?}"))?;
    let mut builder = s3s::service::S3ServiceBuilder::new(crate::s3::Engine::new(fs, created));
    // Signature checking on: a request the real S3 would refuse is refused here too. The
    // signer's permissions are checked as well (a function's presigned URL carries its own).
    builder.set_auth(signers.clone());
    builder.set_access(signers);
    Ok(builder.build())
}

/// SDK configuration for the embedded engines: local credentials and region. Endpoints are set
/// per service by the caller.
pub fn local_sdk_config() -> SdkConfig {
    let credentials = aws_sdk_dynamodb::config::Credentials::new(
        LOCAL_ACCESS_KEY,
        LOCAL_SECRET_KEY,
        None,
        None,
        "keel-local",
    );
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(keel::config::system_https_client())
        .region(Region::new(LOCAL_REGION))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}
