//! `keel-local ops replay-failures`: the operator's way back from a parked failure. Each dead
//! letter (oldest first) goes through the same handler its function runs — the stream's records
//! through `feed-fanout`'s converter and processor, an `Object Created` event through
//! `upload-finalise` — with that function's own dependencies, and is removed only once that
//! succeeded. Both handlers are idempotent (a fan-out entry is written on condition of its
//! absence, a settled upload is left as it is), so a letter replayed twice, or a replay
//! interrupted and run again, changes nothing more.

use keel::Deps;
use keel::store::Store;
use keel::store::stream::Change;
use keel_functions::streams::change_from_record;
use keel_functions::uploads::on_object_created;

use crate::dead_letters::{DeadLetters, Failed};

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// Letters that succeeded and were removed.
    pub replayed: usize,
    /// Letters that failed again and stay parked.
    pub still_failing: usize,
}

/// The handlers a replay runs, with their functions' own dependencies.
#[derive(Clone)]
pub struct Replayer {
    /// Where the letters are.
    pub dead_letters: DeadLetters,
    /// `feed-fanout`'s store.
    pub fanout: Store,
    /// `upload-finalise`'s dependencies.
    pub finaliser: &'static Deps,
}

impl Replayer {
    /// Replays every parked letter once.
    pub async fn replay(&self) -> anyhow::Result<Replayed> {
        let mut outcome = Replayed::default();
        for (path, letter) in self.dead_letters.parked()? {
            let result = match letter.failed {
                Failed::Stream { records } => {
                    let changes: Vec<Change> = records.into_iter().filter_map(change_from_record).collect();
                    self.fanout
                        .process_changes(&changes)
                        .await
                        .map_err(anyhow::Error::new)
                }
                Failed::ObjectCreated { event } => on_object_created(self.finaliser, *event)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}")),
            };
            match result {
                Ok(()) => {
                    self.dead_letters.remove(&path)?;
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
