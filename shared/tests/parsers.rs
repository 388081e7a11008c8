//! Every parser that turns a path, query, header or body value into a domain type, fed
//! arbitrary strings and bytes: none panics, and whatever one accepts is within the bounds that
//! make it safe to use as (part of) a DynamoDB key.

use keel::domain::{
    Cursor, Email, IdempotencyKey, Page, ProductId, Slug, Tag, Title, UploadId, UserId, Username,
};
use proptest::prelude::*;

/// Any text, including control characters, non-ASCII and the odd path trick.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[./%a-zA-Z0-9 _-]{0,64}",
        ".{0,3000}",
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("feed".to_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn path_and_query_values_are_accepted_only_within_their_bounds(raw in text()) {
        if let Some(slug) = Slug::from_path(&raw) {
            prop_assert!(!slug.as_str().is_empty() && slug.as_str().len() <= Slug::MAX_PATH_LEN);
            prop_assert!(!slug.as_str().chars().any(char::is_control));
        }
        if let Ok(Some(tag)) = Tag::parse(&raw) {
            prop_assert!(!tag.as_str().is_empty() && tag.as_str().chars().count() <= Tag::MAX_LEN);
            prop_assert!(!tag.as_str().chars().any(char::is_control));
            prop_assert_eq!(tag.as_str(), tag.as_str().trim());
        }
        if let Ok(name) = Username::parse(Some(&raw)) {
            prop_assert!(name.as_str().len() <= Username::MAX_LEN);
            prop_assert!(name.as_str() != "." && name.as_str() != "..");
            prop_assert!(name.as_str().chars().all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c)));
        }
        if let Ok(email) = Email::parse(Some(&raw)) {
            prop_assert!(email.as_str().len() <= 254);
            prop_assert!(!email.as_str().chars().any(|c| c.is_control() || c.is_whitespace()));
        }
        for id in [
            UserId::parse(&raw).map(|i| i.as_str().to_owned()),
            UploadId::parse(&raw).map(|i| i.to_string()),
            ProductId::parse(&raw).map(|i| i.to_string()),
        ]
        .into_iter()
        .flatten()
        {
            prop_assert_eq!(id.len(), 36);
        }
        let _ = Cursor::parse(&raw);
        let _ = Page::parse(Some(&raw), Some(&raw));
        let linked = UploadId::linked_in(&raw);
        prop_assert!(linked.len() <= raw.len() / 36 + 1);
    }

    #[test]
    fn a_title_always_slugs_to_a_readable_bounded_slug(raw in text()) {
        if let Ok(title) = Title::parse(Some(&raw)) {
            let slug = Slug::from_title(&title);
            prop_assert!(!Slug::RESERVED.contains(&slug.as_str()));
            prop_assert!(slug.as_str().len() <= 88);
            prop_assert!(Slug::from_path(slug.as_str()).is_some());
            prop_assert!(Slug::from_path(slug.with_suffix().as_str()).is_some());
        }
    }

    #[test]
    fn header_bytes_become_an_idempotency_key_only_when_printable_and_short(raw in proptest::collection::vec(any::<u8>(), 0..400)) {
        if IdempotencyKey::parse(&raw).is_ok() {
            prop_assert!(!raw.is_empty() && raw.len() <= 255);
            prop_assert!(raw.iter().all(|b| (0x20..=0x7e).contains(b)));
        }
    }
}
