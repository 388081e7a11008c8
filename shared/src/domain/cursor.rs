//! Opaque page cursors: where the next page of a list starts.
//!
//! A cursor is the list's last evaluated key, as base64url JSON with a checksum. Parsing checks
//! the encoding, the size and the checksum (a hand-edited cursor is refused); the store then
//! checks that the key belongs to the list being read (a cursor from another list is refused),
//! so no cursor reaches DynamoDB unless it is one the same list handed out.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A parsed cursor: the attribute values of a list's last evaluated key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(BTreeMap<String, String>);

/// Why a cursor was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("is not a cursor this list handed out")]
pub struct BadCursor;

impl Cursor {
    /// Longest accepted cursor text.
    pub const MAX_LEN: usize = 2_048;

    /// A cursor for the key `attributes`.
    pub fn new(attributes: BTreeMap<String, String>) -> Self {
        Self(attributes)
    }

    /// Parses the text a client sent back.
    pub fn parse(raw: &str) -> Result<Self, BadCursor> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(BadCursor);
        }
        let (payload, checksum) = raw.rsplit_once('.').ok_or(BadCursor)?;
        let bytes = URL_SAFE_NO_PAD.decode(payload).map_err(|_| BadCursor)?;
        if checksum != format!("{:016x}", fnv1a(&bytes)) {
            return Err(BadCursor);
        }
        let attributes: BTreeMap<String, String> = serde_json::from_slice(&bytes).map_err(|_| BadCursor)?;
        if attributes.is_empty() || attributes.len() > 4 {
            return Err(BadCursor);
        }
        Ok(Self(attributes))
    }

    /// The text handed to the client.
    pub fn encode(&self) -> String {
        let bytes = serde_json::to_vec(&self.0).unwrap_or_default();
        format!("{}.{:016x}", URL_SAFE_NO_PAD.encode(&bytes), fnv1a(&bytes))
    }

    /// One attribute of the key.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// Every attribute of the key.
    pub fn attributes(&self) -> &BTreeMap<String, String> {
        &self.0
    }
}

/// FNV-1a, 64 bits: a checksum against edits, not a signature (a cursor grants nothing: the
/// store still checks it belongs to the list).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_a_round_trip_and_refuses_any_edit() {
        let cursor = Cursor::new([("pk".to_owned(), "CATALOG#NEW".to_owned())].into());
        let text = cursor.encode();
        assert_eq!(Cursor::parse(&text).unwrap(), cursor);
        let mut edited = text.clone().into_bytes();
        edited[3] ^= 1;
        assert_eq!(Cursor::parse(&String::from_utf8(edited).unwrap()), Err(BadCursor));
        for bad in ["", "abc", "abc.def", &"a".repeat(3000), "e30.0000000000000000"] {
            assert_eq!(Cursor::parse(bad), Err(BadCursor), "{bad}");
        }
    }
}
