//! Failed-login counters, so that guessing passwords is slow for one account and for one
//! source address alike.
//!
//! | item    | pk                                            | sk      | attributes |
//! |---------|-----------------------------------------------|---------|------------|
//! | counter | `THROTTLE#EMAIL#<email>`, `THROTTLE#SOURCE#<ip>` | `LOGIN` | failures, expires_at (TTL: the window's end) |
//!
//! A counter is made by the first failure and lives for one window; readers treat an expired
//! counter as absent, as DynamoDB's TTL deletion may lag. Counters are keyed by the email as
//! typed, registered or not, so an unknown email is throttled exactly like a known one.

use std::time::Duration;

use serde::Deserialize;

use aws_sdk_dynamodb::types::AttributeValue;

use super::error::update_condition_failed;
use super::keys::{EMAIL_SK, email_pk, key};
use super::orders::{epoch_now, seconds};
use super::tx::number;
use super::users::{LoginRecord, NO_SUCH_USER, UserIdOnly};
use super::{Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{Email, UserId};

/// How long failures are remembered, from the first one.
pub const LOGIN_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins one email may have in a window; the next attempt is refused.
pub const MAX_EMAIL_FAILURES: u64 = 5;
/// Failed logins one source address may have in a window, across all emails.
pub const MAX_SOURCE_FAILURES: u64 = 100;

const COUNTER_SK: &str = "LOGIN";

fn email_counter(email: &Email) -> String {
    format!("THROTTLE#EMAIL#{}", email.as_str())
}

fn source_counter(source: &str) -> String {
    format!("THROTTLE#SOURCE#{source}")
}

#[derive(Debug, Deserialize)]
struct Counter {
    #[serde(default)]
    failures: u64,
    #[serde(default)]
    expires_at: i64,
}

/// What a login attempt may go on with.
#[derive(Debug)]
pub enum LoginGate {
    /// Too many recent failures for this email or this source: refuse for this many seconds.
    Throttled(u64),
    /// Check the password against this record (`None`: no such account).
    Open {
        /// The account, if the email has one.
        record: Option<LoginRecord>,
        /// The email's counter had failures: clear it when this attempt succeeds.
        had_failures: bool,
    },
}

impl Store {
    /// Opens a login attempt for `email` from `source` (the caller's address, bounded by the
    /// caller): refuses it while either counter is at its limit, else reads the account.
    ///
    /// Access: one `BatchGetItem` {email guard, email counter, source counter}, then `GetItem` of
    /// the user (of a user that never exists when the email has no account, so both cost the
    /// same) — 2 round trips.
    pub async fn open_login(&self, email: &Email, source: &str) -> StoreResult<LoginGate> {
        let guard_key = key(email_pk(email), EMAIL_SK);
        let email_key = key(email_counter(email), COUNTER_SK);
        let source_key = key(source_counter(source), COUNTER_SK);
        let items = self
            .batch_get(
                vec![guard_key.clone(), email_key.clone(), source_key.clone()],
                &["pk", "sk", "user_id", "failures", "expires_at"],
                true,
            )
            .await?;
        let now = epoch_now();
        let counter = |k: &super::Key| -> StoreResult<Option<Counter>> {
            Ok(items
                .get(&key_pair(k))
                .map(|item| from_item::<Counter>(item.clone()))
                .transpose()?
                .filter(|c| c.expires_at > now))
        };
        let (by_email, by_source) = (counter(&email_key)?, counter(&source_key)?);
        let blocked = [
            (by_email.as_ref(), MAX_EMAIL_FAILURES),
            (by_source.as_ref(), MAX_SOURCE_FAILURES),
        ]
        .into_iter()
        .filter_map(|(c, limit)| c.filter(|c| c.failures >= limit))
        .map(|c| u64::try_from(c.expires_at - now).unwrap_or(1).max(1))
        .max();
        if let Some(retry_after) = blocked {
            return Ok(LoginGate::Throttled(retry_after));
        }
        let user = match items.get(&key_pair(&guard_key)) {
            Some(item) => UserId::from_trusted(from_item::<UserIdOnly>(item.clone())?.user_id),
            None => UserId::from_trusted(NO_SUCH_USER.to_owned()),
        };
        Ok(LoginGate::Open {
            record: self.login_record(&user).await?,
            had_failures: by_email.is_some_and(|c| c.failures > 0),
        })
    }

    /// Counts a failed login against `email` and `source`.
    ///
    /// Access: two `UpdateItem`s, concurrently (`ADD failures 1`, the window's end set by the
    /// first) — 1 round trip.
    pub async fn record_login_failure(&self, email: &Email, source: &str) -> StoreResult<()> {
        let count = |pk: String| async move {
            let now = number(epoch_now());
            // Usually the counter is live: add to it.
            let added = self
                .update_counter(
                    &pk,
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
                    &pk,
                    "SET failures = if_not_exists(failures, :zero) + :one, expires_at = :expires",
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
        let (by_email, by_source) = tokio::join!(count(email_counter(email)), count(source_counter(source)));
        by_email.and(by_source)
    }

    /// One conditional `UpdateItem` of counter `pk`: `false` when the condition refused it.
    async fn update_counter(
        &self,
        pk: &str,
        expression: &str,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<bool> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, COUNTER_SK)))
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

    /// Forgets `email`'s failures after a successful login.
    ///
    /// Access: one `DeleteItem` — 1 round trip, only after a login that followed failures.
    pub async fn clear_login_failures(&self, email: &Email) -> StoreResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(email_counter(email), COUNTER_SK)))
            .send()
            .await
            .map_err(|e| StoreError::sdk("DeleteItem throttle", e))?;
        Ok(())
    }
}
