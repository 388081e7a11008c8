//! What can go wrong in storage, in storage's terms. Handlers turn it into HTTP through
//! `From<StoreError> for ApiError` (in `crate::error`); nothing in `store/` knows a status code.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// Why a store operation did not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The named thing (`"article"`, `"profile"`, `"comment"`) does not exist.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Unique values another record holds already, by field (`"username"`, `"email"`).
    #[error("already taken: {0:?}")]
    Taken(Vec<&'static str>),
    /// The record kept changing under a read-modify-write; the caller may try again.
    #[error("{0} was changed by another request")]
    Contended(&'static str),
    /// The caller may not change the named thing: it is someone else's.
    #[error("not the owner of this {0}")]
    NotOwner(&'static str),
    /// A rule of the data was broken, e.g. following oneself: (field, message).
    #[error("{0}: {1}")]
    Invalid(&'static str, &'static str),
    /// The write conflicts with the data as it is now (not enough stock, an order no longer
    /// placed): (field, message) pairs, every one that applies.
    #[error("conflict: {0:?}")]
    Conflict(Vec<(String, String)>),
    /// The request refers to data that cannot serve it (an unknown product, mixed
    /// currencies): (field, message) pairs.
    #[error("rejected: {0:?}")]
    Rejected(Vec<(String, String)>),
    /// A page cursor that this list did not hand out.
    #[error("foreign or tampered cursor")]
    BadCursor,
    /// The caller's own user record is gone (a valid token for a deleted account).
    #[error("the calling user does not exist")]
    UnknownCaller,
    /// DynamoDB throttled, timed out or could not be reached: worth retrying later.
    #[error("storage unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// Anything else: a bug, or an item that does not match its schema.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Error codes DynamoDB uses for "slow down" and "try again".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    // S3's
    "SlowDown",
    "InternalError",
    "RequestTimeout",
];

impl StoreError {
    /// Classifies an SDK failure: transport failures, timeouts and throttling (after the SDK's
    /// own retries) are [`StoreError::Unavailable`]; everything else is a failure.
    pub fn sdk<E, R>(operation: &'static str, error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        let transient = match &error {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => true,
            SdkError::ServiceError(service) => service
                .err()
                .code()
                .is_some_and(|code| TRANSIENT_CODES.contains(&code)),
            _ => false,
        };
        let error = anyhow::Error::new(error).context(operation);
        if transient {
            Self::Unavailable(error)
        } else {
            Self::Failed(error)
        }
    }
}

/// True when an `UpdateItem` was refused by its condition expression: for the callers that
/// read that as an answer ("no such user", "not live"), not as a failure.
pub(super) fn update_condition_failed<R>(
    error: &SdkError<aws_sdk_dynamodb::operation::update_item::UpdateItemError, R>,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_conditional_check_failed_exception())
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;
