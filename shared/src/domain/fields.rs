//! What every parser of untrusted fields shares: the errors it reports, field by field. No HTTP
//! here: handlers map [`FieldErrors`] to a status through `crate::ApiError`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Field name -> messages, serialised as RealWorld's `{"errors": {"field": ["message"]}}`.
///
/// A `BTreeMap` keeps the output order stable, which makes error bodies easy to assert on.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// One field with one message: the common case.
    pub fn single(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut errors = Self::default();
        errors.push(field, message);
        errors
    }

    /// Adds a message, so validation can report every bad field at once.
    pub fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.entry(field.into()).or_default().push(message.into());
    }

    /// Merges `other` into `self`, for DTOs that validate several fields independently.
    pub fn extend(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// True when no field failed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when empty, so validation can end with `errors.into_result()?`.
    pub fn into_result(self) -> Result<(), FieldErrors> {
        if self.is_empty() { Ok(()) } else { Err(self) }
    }

    /// The messages for one field, for tests and logs.
    pub fn get(&self, field: &str) -> Option<&[String]> {
        self.0.get(field).map(Vec::as_slice)
    }
}
