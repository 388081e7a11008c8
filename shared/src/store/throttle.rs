//! Failed-login counters: guessing a password stays slow, and nobody can lock an owner out.
//!
//! | item    | pk                                                                    | sk      | attributes |
//! |---------|-----------------------------------------------------------------------|---------|------------|
//! | counter | `THROTTLE#PAIR#<ip>#<email>`, `THROTTLE#EMAIL#<email>`, `THROTTLE#SOURCE#<ip>` | `LOGIN` | failures, expires_at (TTL: the window's end), not_before (email only) |
//!
//! Three counters, as OWASP's authentication guidance describes:
//! - **one email from one address** ([`MAX_PAIR_FAILURES`]): the low limit, a hard stop for the
//!   window. It binds the guesser, not the owner, who logs in from another address.
//! - **one address, every email** ([`MAX_SOURCE_FAILURES`]): one address spraying many accounts.
//! - **one email, every address**: past [`EMAIL_DELAY_AFTER`] failures, each attempt must wait a
//!   delay that doubles with every failure, up to [`MAX_EMAIL_DELAY`], and claims its turn with a
//!   conditional write (so a botnet's parallel burst gets one guess, not one each). Never a
//!   lockout: the owner waits at most [`MAX_EMAIL_DELAY`] however many addresses guess.
//!
//! A counter is made by the first failure and lives for one window; readers treat an expired
//! counter as absent, as DynamoDB's TTL deletion may lag. Counters are keyed by the email as
//! typed, registered or not, so an unknown email is throttled exactly like a known one.

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use aws_sdk_dynamodb::types::AttributeValue;

use super::clock::{epoch_now, seconds};
use super::error::update_condition_failed;
use super::keys::{EMAIL_SK, email_pk, key, login_email_counter, login_pair_counter, login_source_counter};
use super::tx::number;
use super::users::{LoginRecord, NO_SUCH_USER, UserIdOnly};
use super::{Key, Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{Email, UserId};

/// How long failures are remembered, from the first one.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins one email may have from one address in a window; the next from there is
/// refused until the window ends.
pub const MAX_PAIR_FAILURES: u64 = 5;
/// Failed logins one source address may have in a window, across all emails.
pub const MAX_SOURCE_FAILURES: u64 = 100;
/// Failed logins one email may have from all addresses together before each further attempt
/// waits its turn.
pub const EMAIL_DELAY_AFTER: u64 = 10;
/// The longest wait between two attempts for one email.
pub const MAX_EMAIL_DELAY: Duration = Duration::from_secs(60);

/// The wait before the attempt after `failures` failures for one email: none below
/// [`EMAIL_DELAY_AFTER`], then 1 s, 2 s, 4 s … up to [`MAX_EMAIL_DELAY`].
pub fn email_delay(failures: u64) -> Duration {
    let Some(past) = failures.checked_sub(EMAIL_DELAY_AFTER) else {
        return Duration::ZERO;
    };
    let doubled = 1u64
        .checked_shl(u32::try_from(past).unwrap_or(u32::MAX))
        .unwrap_or(u64::MAX);
    Duration::from_secs(doubled).min(MAX_EMAIL_DELAY)
}

#[derive(Debug, Deserialize)]
struct Counter {
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    not_before: i64,
}

/// What a login attempt may go on with.
#[derive(Debug)]
pub enum LoginGate {
    /// Too many recent failures: refuse for this many seconds.
    Throttled(u64),
    /// Check the password against this record (`None`: no such account).
    Open {
        /// The account, if the email has one.
        record: Option<LoginRecord>,
        /// This email had failures: clear them when this attempt succeeds.
        had_failures: bool,
    },
}

/// Seconds from `now` until `until`, at least 1 (a `Retry-After` of 0 invites a busy loop).
fn wait_until(until: i64, now: i64) -> u64 {
    u64::try_from(until - now).unwrap_or(1).max(1)
}

impl Store {
    /// Opens a login attempt for `email` from `source` (the caller's address as API Gateway saw
    /// it): refuses it while the pair or the address is at its limit, or while the email's turn
    /// has not come; else reads the account.
    ///
    /// Access: one `BatchGetItem` {email guard, pair, email and address counters}, then `GetItem`
    /// of the user (of a user that never exists when the email has no account, so both cost the
    /// same) — 2 round trips; past [`EMAIL_DELAY_AFTER`] failures, one `UpdateItem` before them
    /// claims the email's turn — 3.
    pub async fn open_login(&self, email: &Email, source: Option<IpAddr>) -> StoreResult<LoginGate> {
        let guard_key = key(email_pk(email), EMAIL_SK);
        let (pair_key, email_key, source_key) = (
            login_pair_counter(email, source),
            login_email_counter(email),
            login_source_counter(source),
        );
        let items = self
            .batch_get(
                vec![
                    guard_key.clone(),
                    pair_key.clone(),
                    email_key.clone(),
                    source_key.clone(),
                ],
                &["pk", "sk", "user_id", "failures", "expires_at", "not_before"],
                true,
            )
            .await?;
        let now = epoch_now();
        let counter = |k: &Key| -> StoreResult<Option<Counter>> {
            Ok(items
                .get(&key_pair(k))
                .map(|item| from_item::<Counter>(item.clone()))
                .transpose()?
                .filter(|c| c.expires_at > now))
        };
        let (by_pair, by_email, by_source) =
            (counter(&pair_key)?, counter(&email_key)?, counter(&source_key)?);
        let blocked = [
            (by_pair.as_ref(), MAX_PAIR_FAILURES),
            (by_source.as_ref(), MAX_SOURCE_FAILURES),
        ]
        .into_iter()
        .filter_map(|(c, limit)| c.filter(|c| c.failures >= limit))
        .map(|c| wait_until(c.expires_at, now))
        .max();
        if let Some(retry_after) = blocked {
            return Ok(LoginGate::Throttled(retry_after));
        }
        if let Some(by_email) = by_email.as_ref().filter(|c| c.failures >= EMAIL_DELAY_AFTER) {
            if by_email.not_before > now {
                return Ok(LoginGate::Throttled(wait_until(by_email.not_before, now)));
            }
            let delay = seconds(email_delay(by_email.failures));
            if !self.claim_email_turn(&email_key, now, now + delay).await? {
                return Ok(LoginGate::Throttled(wait_until(now + delay, now)));
            }
        }
        let user = match items.get(&key_pair(&guard_key)) {
            Some(item) => UserId::from_trusted(from_item::<UserIdOnly>(item.clone())?.user_id),
            None => UserId::from_trusted(NO_SUCH_USER.to_owned()),
        };
        Ok(LoginGate::Open {
            record: self.login_record(&user).await?,
            had_failures: [&by_pair, &by_email]
                .into_iter()
                .any(|c| c.as_ref().is_some_and(|c| c.failures > 0)),
        })
    }

    /// Takes the email's next turn: only one attempt passes while `not_before` lies ahead, the
    /// rest are refused by the condition. `false`: another attempt took it first.
    async fn claim_email_turn(&self, email_key: &Key, now: i64, next: i64) -> StoreResult<bool> {
        self.update_counter(
            email_key,
            "SET not_before = :next",
            "expires_at > :now AND (attribute_not_exists(not_before) OR not_before <= :now)",
            vec![(":next", number(next)), (":now", number(now))],
        )
        .await
    }

    /// Counts a failed login against the pair, the email and the address.
    ///
    /// Access: three `UpdateItem`s, concurrently (`ADD failures 1`, the window's end set by the
    /// first) — 1 round trip.
    pub async fn record_login_failure(&self, email: &Email, source: Option<IpAddr>) -> StoreResult<()> {
        let count = |counter: Key| async move {
            let now = number(epoch_now());
            // Usually the counter is live: add to it.
            let added = self
                .update_counter(
                    &counter,
                    "ADD failures :one",
                    "expires_at > :now",
                    vec![(":one", number(1)), (":now", now.clone())],
                )
                .await?;
            if !added {
                // Absent, or expired with its TTL deletion still to come: start a window. When
                // another failure started it a moment ago, this one is refused and not counted:
                // close enough, within a second of it.
                self.update_counter(
                    &counter,
                    "SET failures = if_not_exists(failures, :zero) + :one, expires_at = :expires REMOVE not_before",
                    "attribute_not_exists(expires_at) OR expires_at <= :now",
                    vec![
                        (":zero", number(0)),
                        (":one", number(1)),
                        (":expires", number(epoch_now() + seconds(LOGIN_WINDOW))),
                        (":now", now),
                    ],
                )
                .await?;
            }
            Ok::<_, StoreError>(())
        };
        let (by_pair, by_email, by_source) = tokio::join!(
            count(login_pair_counter(email, source)),
            count(login_email_counter(email)),
            count(login_source_counter(source)),
        );
        by_pair.and(by_email).and(by_source)
    }

    /// One conditional `UpdateItem` of `counter`: `false` when the condition refused it.
    async fn update_counter(
        &self,
        counter: &Key,
        expression: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(counter.clone()))
            .update_expression(expression)
            .condition_expression(condition);
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(error) if update_condition_failed(&error) => Ok(false),
            Err(error) => Err(StoreError::sdk("UpdateItem throttle", error)),
        }
    }

    /// Forgets `email`'s failures, from `source` and from everywhere, after a successful login:
    /// the owner is back. The address's own counter stays (it spans other emails).
    ///
    /// Access: two `DeleteItem`s, concurrently — 1 round trip, only after a login that followed
    /// failures.
    pub async fn clear_login_failures(&self, email: &Email, source: Option<IpAddr>) -> StoreResult<()> {
        let delete = |counter: Key| async move {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(counter))
                .send()
                .await
                .map_err(|e| StoreError::sdk("DeleteItem throttle", e))
        };
        let (pair, all) = tokio::join!(
            delete(login_pair_counter(email, source)),
            delete(login_email_counter(email)),
        );
        pair.and(all).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_for_one_email_doubles_past_its_threshold_and_stops_at_a_minute() {
        assert_eq!(email_delay(0), Duration::ZERO);
        assert_eq!(email_delay(EMAIL_DELAY_AFTER - 1), Duration::ZERO);
        assert_eq!(email_delay(EMAIL_DELAY_AFTER), Duration::from_secs(1));
        assert_eq!(email_delay(EMAIL_DELAY_AFTER + 3), Duration::from_secs(8));
        assert_eq!(email_delay(EMAIL_DELAY_AFTER + 6), MAX_EMAIL_DELAY);
        assert_eq!(email_delay(u64::MAX), MAX_EMAIL_DELAY);
    }
}
