//! Each shard's position in the data folder (`streams/<table>.json`), replaced atomically and
//! synced after every batch, so a restart resumes after the last record processed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

/// Each shard's position, kept in a file so a restart resumes where processing stopped.
pub(super) struct Positions {
    path: PathBuf,
    file: Mutex<PositionsFile>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PositionsFile {
    /// The stream these positions belong to: a table created again has a new stream.
    stream_arn: String,
    shards: BTreeMap<String, ShardPosition>,
}

#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ShardPosition {
    /// Sequence number of the last record processed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    after: Option<String>,
    /// Read to its end (a closed shard).
    #[serde(default)]
    finished: bool,
}

impl Positions {
    pub(super) fn load(path: PathBuf, arn: &str) -> anyhow::Result<Self> {
        let saved = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<PositionsFile>(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => PositionsFile::default(),
            Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
        };
        let file = if saved.stream_arn == arn {
            saved
        } else {
            PositionsFile {
                stream_arn: arn.to_owned(),
                shards: BTreeMap::new(),
            }
        };
        Ok(Self {
            path,
            file: Mutex::new(file),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PositionsFile> {
        self.file
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn after(&self, shard: &str) -> Option<String> {
        self.lock().shards.get(shard).and_then(|p| p.after.clone())
    }

    pub(super) fn finished(&self, shard: &str) -> bool {
        self.lock().shards.get(shard).is_some_and(|p| p.finished)
    }

    pub(super) fn advance(&self, shard: &str, sequence: &str) -> anyhow::Result<()> {
        let mut file = self.lock();
        file.shards.entry(shard.to_owned()).or_default().after = Some(sequence.to_owned());
        save(&self.path, &file)
    }

    pub(super) fn finish(&self, shard: &str) -> anyhow::Result<()> {
        let mut file = self.lock();
        file.shards.entry(shard.to_owned()).or_default().finished = true;
        save(&self.path, &file)
    }
}

fn save(path: &Path, file: &PositionsFile) -> anyhow::Result<()> {
    crate::durable::write(path, &serde_json::to_vec_pretty(file)?)
}
