//! `keel-local admin grant|revoke <username>`: the operator's way to give or take the admin
//! role; `keel-local admin reindex-titles`: the title index for articles older than it. It writes the user record through the same store code as the API, wherever the table
//! is: the local data folder (through the running server's engine when one is up, so both
//! never open the database at once), DynamoDB Local, or a deployed table (`--aws`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use keel::domain::{Role, Username};
use keel::store::{Store, StoreError};

use crate::engines::{ENGINE_FILE, Engines, Storage, local_sdk_config};

/// Where the table is.
#[derive(Debug, Clone)]
pub enum Target {
    /// The local data folder (`.keel`): its running server's engine, else the folder itself.
    DataDir(PathBuf),
    /// Real AWS, default credential chain.
    Aws,
}

/// Indexes the title of every article in `table`; answers how many.
pub async fn reindex_titles(target: &Target, table: &str) -> anyhow::Result<usize> {
    let (client, _engines) = client_for(target).await?;
    Store::new(client, table)
        .reindex_titles()
        .await
        .map_err(|error| anyhow::Error::new(error).context(format!("indexing the titles in {table}")))
}

/// A client for `target`, and the engines started for it (kept alive while it is used).
async fn client_for(target: &Target) -> anyhow::Result<(aws_sdk_dynamodb::Client, Option<Engines>)> {
    match target {
        Target::Aws => {
            let sdk = keel::config::aws_defaults().load().await;
            Ok((aws_sdk_dynamodb::Client::new(&sdk), None))
        }
        Target::DataDir(dir) => local_client(dir).await,
    }
}

/// Sets `username`'s role in `table`.
pub async fn set_role(target: &Target, table: &str, username: &str, role: Role) -> anyhow::Result<()> {
    let username =
        Username::parse(Some(username)).map_err(|_| anyhow::anyhow!("{username:?} is not a username"))?;
    let (client, _engines) = client_for(target).await?;
    match Store::new(client, table).set_role(&username, role).await {
        Ok(()) => Ok(()),
        Err(StoreError::NotFound(_)) => anyhow::bail!(
            "no user named {username:?} in table {table}",
            username = username.as_str()
        ),
        Err(error) => Err(anyhow::Error::new(error).context(format!("updating {}", username.as_str()))),
    }
}

/// A client for the local table: `AWS_ENDPOINT_URL_DYNAMODB` when set (DynamoDB Local), else
/// the engine of the server running on `dir`, else an engine started on `dir` for this command.
async fn local_client(dir: &Path) -> anyhow::Result<(aws_sdk_dynamodb::Client, Option<Engines>)> {
    let client = |endpoint: &str| {
        aws_sdk_dynamodb::Client::new(&local_sdk_config().into_builder().endpoint_url(endpoint).build())
    };
    if let Some(endpoint) = std::env::var("AWS_ENDPOINT_URL_DYNAMODB")
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Ok((client(&endpoint), None));
    }
    if let Ok(endpoint) = std::fs::read_to_string(dir.join(ENGINE_FILE)) {
        let running = client(endpoint.trim());
        if running.list_tables().limit(1).send().await.is_ok() {
            return Ok((running, None));
        }
    }
    anyhow::ensure!(
        dir.join("dynamodb.sqlite").exists(),
        "no local data in {} (start the server once, or pass --data-dir)",
        dir.display()
    );
    let engines = Engines::start(&Storage::Dir(dir.to_owned()), 0, 0, None)
        .await
        .context("opening the local data folder")?;
    Ok((client(&engines.dynamodb_endpoint), Some(engines)))
}
