//! Idempotency keys (`Idempotency-Key`, as Stripe and the IETF draft use it): a request claims
//! its key, and its first response is recorded so that a retry replays it.
//!
//! | item        | pk                               | sk            | holds |
//! |-------------|----------------------------------|---------------|-------|
//! | idempotency | `IDEMPOTENCY#<user>#<key>`       | `IDEMPOTENCY` | request, state, claim, claimed_until, response (TTL 24 h) |

use std::time::Duration;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::clock::{epoch_now, seconds};
use super::keys::idempotency_key;
use super::tx::{Tx, number};
use super::{Key, Store, StoreError, StoreResult, from_item, key_pair, to_item};
use crate::domain::{IdempotencyKey, UserId};

/// What recording a first response sets, with [`response_values`].
const RECORD_RESPONSE: &str = "SET #state = :done, response_status = :status, response_body = :body";

/// The values [`RECORD_RESPONSE`] names.
fn response_values(status: u16, body: &str) -> Vec<(&'static str, AttributeValue)> {
    vec![
        (":done", AttributeValue::S(DONE.into())),
        (":status", number(status)),
        (":body", AttributeValue::S(body.to_owned())),
    ]
}

/// `state` of a claimed key whose request has not finished.
const IN_PROGRESS: &str = "in_progress";
/// `state` of a key whose first response is recorded.
const DONE: &str = "done";
/// How long an idempotency record is honoured (Stripe keeps keys 24 hours).
const KEY_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// How long a claim holds before another request may take it over: longer than the function
/// timeout (10 s), so a live request is never overtaken.
const CLAIM_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    sk: String,
    /// The request, normalised: same key with another request is refused.
    request: String,
    state: String,
    claim: String,
    claimed_until: i64,
    /// Epoch seconds; the table's TTL attribute. Past it the record counts as absent even
    /// where the engine has not deleted it yet.
    expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_body: Option<String>,
}

/// What claiming an idempotency key found.
#[derive(Debug)]
pub enum Claim {
    /// The key is this request's to use; pass the ticket to [`Store::place_order`] or
    /// [`Store::finish_idempotency`].
    Acquired(ClaimTicket),
    /// The key's first request finished: replay its response.
    Replay {
        /// Its status.
        status: u16,
        /// Its body.
        body: String,
    },
    /// The key's first request is still running.
    InFlight,
    /// The key was used with a different request.
    Mismatch,
}

/// Proof that this request holds an idempotency key.
#[derive(Debug, Clone)]
pub struct ClaimTicket {
    key: Key,
    claim: String,
}

impl ClaimTicket {
    /// Records the response in `tx`, beside the writes it answers for, while this ticket still
    /// holds the key. Answers the update's place in `tx`.
    pub(super) fn record_response(&self, tx: &mut Tx<'_>, status: u16, body: &str) -> anyhow::Result<usize> {
        let (pk, sk) = key_pair(&self.key);
        tx.update_named(
            pk,
            &sk,
            RECORD_RESPONSE,
            &[("#state", "state")],
            [
                response_values(status, body),
                vec![(":claim", AttributeValue::S(self.claim.clone()))],
            ]
            .concat(),
            Some("claim = :claim"),
        )
    }
}

impl Store {
    /// Claims `key` for `request` (the normalised order), or says what holds it.
    ///
    /// Access: `PutItem` conditioned on the key being free (absent, expired, or an abandoned
    /// claim), returning the existing record when it is not — 1 round trip.
    pub async fn claim_idempotency(
        &self,
        user: &UserId,
        key: &IdempotencyKey,
        request: &str,
    ) -> StoreResult<Claim> {
        let now = epoch_now();
        let record_key = idempotency_key(user, key);
        let (pk, sk) = key_pair(&record_key);
        let claim = uuid::Uuid::new_v4().to_string();
        let item = IdempotencyItem {
            pk,
            sk,
            request: request.to_owned(),
            state: IN_PROGRESS.into(),
            claim: claim.clone(),
            claimed_until: now + seconds(CLAIM_LIFETIME),
            expires_at: now + seconds(KEY_LIFETIME),
            response_status: None,
            response_body: None,
        };
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression(
                "attribute_not_exists(pk) OR expires_at < :now OR (#state = :in_progress AND claimed_until < :now)",
            )
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let existing = match result {
            Ok(_) => {
                return Ok(Claim::Acquired(ClaimTicket {
                    key: record_key,
                    claim,
                }));
            }
            Err(error) => match error.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => failed.item.clone(),
                _ => return Err(StoreError::sdk("PutItem idempotency", error)),
            },
        };
        // Engines that do not return the item on a failed condition: read it.
        let existing: IdempotencyItem = match existing {
            Some(item) => from_item(item)?,
            None => match self.get_consistent(record_key).await? {
                Some(item) => item,
                // Expired and deleted in between: the caller may simply try again.
                None => return Ok(Claim::InFlight),
            },
        };
        Ok(if existing.request != request {
            Claim::Mismatch
        } else if existing.state == DONE {
            Claim::Replay {
                status: existing.response_status.unwrap_or(500),
                body: existing.response_body.unwrap_or_default(),
            }
        } else {
            Claim::InFlight
        })
    }

    /// Records the response of a request that holds `ticket` but wrote nothing else (a
    /// refused order), so a retry replays it.
    ///
    /// Access: `UpdateItem` conditioned on the claim — 1 round trip.
    pub async fn finish_idempotency(&self, ticket: &ClaimTicket, status: u16, body: &str) -> StoreResult<()> {
        self.update_claimed(ticket, RECORD_RESPONSE, response_values(status, body))
            .await
    }

    /// Lets the key be claimed again at once: for a request that ends without an answer worth
    /// replaying (it gave up under contention), so the client's retry need not wait the claim out.
    ///
    /// Access: `UpdateItem` conditioned on the claim — 1 round trip.
    pub async fn release_idempotency(&self, ticket: &ClaimTicket) -> StoreResult<()> {
        self.update_claimed(ticket, "SET claimed_until = :past", vec![(":past", number(0))])
            .await
    }

    /// Applies `expression` to the idempotency record while `ticket` still holds it. If another
    /// request took the key over after this one's claim lapsed, its answer stands: no error.
    async fn update_claimed(
        &self,
        ticket: &ClaimTicket,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> StoreResult<()> {
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(ticket.key.clone()))
            .update_expression(expression)
            .condition_expression("claim = :claim AND #state = :in_progress")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":claim", AttributeValue::S(ticket.claim.clone()))
            .expression_attribute_values(":in_progress", AttributeValue::S(IN_PROGRESS.into()));
        for (name, value) in values {
            request = request.expression_attribute_values(name, value);
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(error)
                if matches!(
                    error.as_service_error(),
                    Some(UpdateItemError::ConditionalCheckFailedException(_))
                ) =>
            {
                Ok(())
            }
            Err(error) => Err(StoreError::sdk("UpdateItem idempotency", error)),
        }
    }
}
