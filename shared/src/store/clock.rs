//! The time a TTL attribute and a window are written in: whole seconds since the epoch.

use std::time::Duration;

/// Now, in the seconds-since-epoch a TTL attribute holds.
pub(super) fn epoch_now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// A duration in whole seconds, for TTL arithmetic.
pub(super) fn seconds(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX)
}
