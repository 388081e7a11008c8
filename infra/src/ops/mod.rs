//! `keel-local ops replay-failures`: the operator's way back from a parked failure. Each one
//! (oldest first) goes through the same handler its function runs — the stream's records
//! through `feed-fanout`'s converter and processor, an `Object Created` event through
//! `upload-finalise` — with that function's own dependencies, and is removed only once that
//! succeeded. Both handlers are idempotent (a fan-out entry is written on condition of its
//! absence, a settled upload is left as it is), so a failure replayed twice, or a replay
//! interrupted and run again, changes nothing more.
//!
//! The failures come from the data folder's dead letters (here) or, with `--aws`, from the
//! deployed stack's failure queues ([`queues`]).

pub mod queues;

use keel::Deps;
use keel::store::Store;
use keel::store::stream::Change;
use keel_functions::streams::change_from_record;
use keel_functions::uploads::on_object_created;

use crate::dead_letters::{DeadLetters, Failed};

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Failures that succeeded and were removed.
    pub replayed: usize,
    /// Failures that failed again (or could not be read) and stay parked.
    pub still_failing: usize,
}

/// The handlers a replay runs, with their functions' own dependencies.
#[derive(Clone)]
pub struct Replayer {
    /// `feed-fanout`'s store.
    pub fanout: Store,
    /// `upload-finalise`'s dependencies.
    pub finaliser: &'static Deps,
}

impl Replayer {
    /// Runs one failure through its function's handler.
    pub async fn run(&self, failed: Failed) -> anyhow::Result<()> {
        match failed {
            Failed::Stream { records, .. } => {
                let changes: Vec<Change> = records.into_iter().filter_map(change_from_record).collect();
                self.fanout
                    .process_changes(&changes)
                    .await
                    .map_err(anyhow::Error::new)
            }
            Failed::ObjectCreated { event } => on_object_created(self.finaliser, *event)
                .await
                .map_err(|e| anyhow::anyhow!("{e}")),
        }
    }

    /// The handlers as the deployed functions run them: their clients built from `sdk` (the
    /// default AWS credential chain), on the stack's `table` and `bucket`.
    pub async fn deployed(sdk: &aws_config::SdkConfig, table: &str, bucket: &str) -> anyhow::Result<Self> {
        let var = |name: &str| match name {
            "TABLE_NAME" => Some(table.to_owned()),
            "BUCKET_NAME" => Some(bucket.to_owned()),
            _ => None,
        };
        let fanout = Deps::cold_start(keel_functions::streams::FEED_FANOUT_NEEDS, var, sdk).await?;
        let finaliser = Deps::cold_start(keel_functions::uploads::FINALISE_NEEDS, var, sdk).await?;
        Ok(Self {
            fanout: fanout.store,
            finaliser: Box::leak(Box::new(finaliser)),
        })
    }

    /// Replays every letter parked in `letters` once.
    pub async fn replay_letters(&self, letters: &DeadLetters) -> anyhow::Result<Replayed> {
        let mut outcome = Replayed::default();
        for (path, letter) in letters.parked()? {
            match self.run(letter.failed).await {
                Ok(()) => {
                    letters.remove(&path)?;
                    tracing::info!(letter = %path.display(), "replayed");
                    outcome.replayed += 1;
                }
                Err(error) => {
                    tracing::error!(
                        letter = %path.display(),
                        error = format!("{error:#}"),
                        "replay failed; the letter stays parked"
                    );
                    outcome.still_failing += 1;
                }
            }
        }
        Ok(outcome)
    }
}
