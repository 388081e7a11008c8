use std::collections::BTreeSet;

use super::FieldErrors;
use super::upload::{MAX_ARTICLE_IMAGES, UploadId};
use super::{collect, required};

/// An article's URL name: `how-to-train-your-dragon`, unique across all articles.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    /// Longest slug derived from a title, before any uniqueness suffix.
    const MAX_BASE: usize = 80;

    /// The slug of a title: lower-case ASCII letters and digits, runs of anything else as one
    /// `-`. A title with no letters or digits gets `article`.
    pub fn from_title(title: &Title) -> Self {
        let mut slug = String::new();
        for c in title.as_str().chars().flat_map(char::to_lowercase) {
            if c.is_ascii_alphanumeric() {
                slug.push(c);
            } else if !slug.ends_with('-') && !slug.is_empty() {
                slug.push('-');
            }
            if slug.len() >= Self::MAX_BASE {
                break;
            }
        }
        let slug = slug.trim_end_matches('-');
        Self(if slug.is_empty() {
            "article".to_owned()
        } else if Self::RESERVED.contains(&slug) {
            format!("{slug}-article")
        } else {
            slug.to_owned()
        })
    }

    /// Path segments a route names literally under `/api/articles/` (`/api/articles/feed` is the
    /// feed), so no article may have them as its slug: it could never be read.
    pub const RESERVED: &[&str] = &["feed"];

    /// This slug with a random suffix, for when the plain one is taken.
    pub fn with_suffix(&self) -> Self {
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self(format!("{}-{}", self.0, &suffix[..8]))
    }

    /// Longest slug a path may name: generated slugs are at most `MAX_BASE` plus a 9-byte
    /// suffix, so anything longer cannot exist and is never looked up.
    pub const MAX_PATH_LEN: usize = 200;

    /// A slug from a URL path. Anything non-empty and not too long is looked up; unknown ones
    /// are simply a 404.
    pub fn from_path(raw: &str) -> Option<Self> {
        (!raw.is_empty() && raw.len() <= Self::MAX_PATH_LEN && !raw.chars().any(char::is_control))
            .then(|| Self(raw.to_owned()))
    }

    /// Wraps a slug read from our own table.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A comment's id in a URL path: RealWorld's comment ids are positive integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommentId(u64);

impl CommentId {
    /// Parses a path segment; anything but a positive integer names no comment.
    pub fn from_path(raw: &str) -> Option<Self> {
        raw.parse::<u64>().ok().filter(|id| *id > 0).map(Self)
    }

    /// The number.
    pub fn get(self) -> u64 {
        self.0
    }
}

macro_rules! text_field {
    ($(#[$doc:meta])* $name:ident, $field:literal, $max:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct $name(String);

        impl $name {
            /// Longest accepted value, in characters.
            pub const MAX_LEN: usize = $max;

            /// Parses untrusted input: trimmed, not blank, not too long.
            /// The limit counts what was sent, surrounding whitespace included.
            pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
                let value = required($field, raw)?;
                if raw.unwrap_or_default().chars().count() > Self::MAX_LEN {
                    return Err(FieldErrors::single(
                        $field,
                        format!("is too long (maximum is {} characters)", Self::MAX_LEN),
                    ));
                }
                Ok(Self(value.to_owned()))
            }

            /// The text.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The text, owned.
            pub fn into_inner(self) -> String {
                self.0
            }
        }
    };
}

text_field!(
    /// An article title.
    Title, "title", 200
);
text_field!(
    /// An article's one-line description.
    Description, "description", 1000
);
text_field!(
    /// An article body (Markdown). 64 KiB of text keeps an article item far below
    /// DynamoDB's 400 KB item limit.
    ArticleBody, "body", 65_536
);
impl ArticleBody {
    /// Parses a body as [`ArticleBody::parse`] does, and refuses one that links more uploads
    /// than an article can show.
    pub fn parse_with_images(raw: Option<&str>) -> Result<Self, FieldErrors> {
        let body = Self::parse(raw)?;
        if body.images().len() > MAX_ARTICLE_IMAGES {
            return Err(FieldErrors::single(
                "body",
                format!("links more than {MAX_ARTICLE_IMAGES} uploaded images"),
            ));
        }
        Ok(body)
    }

    /// The uploads the body shows (`…/api/uploads/<id>/content` links), attached to the article
    /// while it shows them.
    pub fn images(&self) -> BTreeSet<UploadId> {
        UploadId::linked_in(&self.0)
    }
}

text_field!(
    /// A comment body.
    CommentBody, "body", 10_000
);

/// One tag, as an article carries it and a list filters by it: trimmed, 1–40 characters, no
/// control characters. A list filter that is not a tag matches nothing and never becomes a key.
/// (De)serialises as the bare string, for the items of our own table; untrusted text goes
/// through `parse`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Tag(String);

impl Tag {
    /// Longest tag, in characters.
    pub const MAX_LEN: usize = 40;

    /// Parses untrusted input; `Ok(None)` for a blank one (dropped from a list).
    /// Limits apply to what was sent, before trimming.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldErrors> {
        if raw.chars().count() > Self::MAX_LEN {
            return Err(FieldErrors::single(
                "tagList",
                "has a tag that is too long (maximum is 40 characters)",
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(FieldErrors::single(
                "tagList",
                "has a tag with control characters",
            ));
        }
        let tag = raw.trim();
        if tag.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self(tag.to_owned())))
    }

    /// A `?tag=` filter: the tag, or `None` when no article could carry it.
    pub fn filter(raw: &str) -> Option<Self> {
        Self::parse(raw).ok().flatten()
    }

    /// The tag.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Tag {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// An article's tags: trimmed, de-duplicated, sorted (RealWorld clients expect a sorted
/// `tagList`), at most [`TagList::MAX_TAGS`] [`Tag`]s.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TagList(Vec<Tag>);

impl TagList {
    /// Most tags per article. Bounded so creating or deleting an article stays one transaction.
    pub const MAX_TAGS: usize = 10;

    /// Parses untrusted input; blank entries are dropped.
    /// At most [`TagList::MAX_TAGS`] entries as sent, repeats and blanks included.
    pub fn parse(raw: &[String]) -> Result<Self, FieldErrors> {
        if raw.len() > Self::MAX_TAGS {
            return Err(FieldErrors::single(
                "tagList",
                "has too many tags (maximum is 10)",
            ));
        }
        let mut tags = BTreeSet::new();
        for tag in raw {
            if let Some(tag) = Tag::parse(tag)? {
                tags.insert(tag);
            }
        }
        if tags.len() > Self::MAX_TAGS {
            return Err(FieldErrors::single(
                "tagList",
                "has too many tags (maximum is 10)",
            ));
        }
        Ok(Self(tags.into_iter().collect()))
    }

    /// Wraps tags read from our own table.
    pub fn from_trusted(mut tags: Vec<Tag>) -> Self {
        tags.sort();
        tags.dedup();
        Self(tags)
    }

    /// The tags, sorted.
    pub fn as_slice(&self) -> &[Tag] {
        &self.0
    }
}

/// A validated new article.
#[derive(Debug)]
pub struct NewArticle {
    /// Title.
    pub title: Title,
    /// Description.
    pub description: Description,
    /// Body.
    pub body: ArticleBody,
    /// Tags.
    pub tags: TagList,
}

impl NewArticle {
    /// Validates every field and reports all failures together.
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        body: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let title = collect(&mut errors, Title::parse(title));
        let description = collect(&mut errors, Description::parse(description));
        let body = collect(&mut errors, ArticleBody::parse_with_images(body));
        let tags = collect(&mut errors, TagList::parse(tags.unwrap_or_default()));
        match (title, description, body, tags) {
            (Some(title), Some(description), Some(body), Some(tags)) => Ok(Self {
                title,
                description,
                body,
                tags,
            }),
            _ => Err(errors),
        }
    }
}

/// A validated partial update: `None` keeps the field.
#[derive(Debug, Default)]
pub struct ArticleChanges {
    /// New title (and so a new slug).
    pub title: Option<Title>,
    /// New description.
    pub description: Option<Description>,
    /// New body.
    pub body: Option<ArticleBody>,
    /// New tags; omitted keeps the old ones.
    pub tags: Option<TagList>,
}

impl ArticleChanges {
    /// Validates every present field.
    pub fn parse(
        title: Option<&str>,
        description: Option<&str>,
        body: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = Self {
            title: title.and_then(|t| collect(&mut errors, Title::parse(Some(t)))),
            description: description.and_then(|d| collect(&mut errors, Description::parse(Some(d)))),
            body: body.and_then(|b| collect(&mut errors, ArticleBody::parse_with_images(Some(b)))),
            tags: tags.and_then(|t| collect(&mut errors, TagList::parse(t))),
        };
        errors.into_result().map(|()| changes)
    }

    /// True when nothing would change.
    pub fn is_empty(&self) -> bool {
        self.title.is_none() && self.description.is_none() && self.body.is_none() && self.tags.is_none()
    }
}

/// Paging of a list: RealWorld's `limit` (default 20) and `offset` (default 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Items to return, 1..=100.
    pub limit: usize,
    /// Items to skip, 0..=10 000.
    pub offset: usize,
}

impl Page {
    /// Largest page.
    pub const MAX_LIMIT: usize = 100;
    /// Deepest offset. DynamoDB has no offset, so skipping reads the skipped index entries
    /// (small ones, ~40 per read unit): bounded so one request cannot read without limit.
    pub const MAX_OFFSET: usize = 10_000;

    /// Parses the query-string values.
    pub fn parse(limit: Option<&str>, offset: Option<&str>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let number =
            // Absent is the default; present, it must be the number (`limit=` is not one).
            |field: &'static str, raw: Option<&str>, default: usize, min: usize, max: usize| match raw {
                None => Ok(default),
                Some(text) => match text.parse::<usize>() {
                    Ok(n) if (min..=max).contains(&n) => Ok(n),
                    _ => Err(FieldErrors::single(
                        field,
                        format!("must be a whole number from {min} to {max}"),
                    )),
                },
            };
        let limit = collect(&mut errors, number("limit", limit, 20, 1, Self::MAX_LIMIT));
        let offset = collect(&mut errors, number("offset", offset, 0, 0, Self::MAX_OFFSET));
        match (limit, offset) {
            (Some(limit), Some(offset)) => Ok(Self { limit, offset }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn title(text: &str) -> Title {
        Title::parse(Some(text)).unwrap()
    }

    #[test]
    fn slugs_are_lowercase_words_joined_by_dashes() {
        let cases = [
            ("How to train your dragon", "how-to-train-your-dragon"),
            ("  Rust: 2024 edition!! ", "rust-2024-edition"),
            ("Ünïcödé & friends", "n-c-d-friends"),
            ("!!!", "article"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Slug::from_title(&title(input)).as_str(),
                expected,
                "title {input:?}"
            );
        }
        let long = "word ".repeat(39);
        assert!(Slug::from_title(&title(&long)).as_str().len() <= 80);
    }

    #[test]
    fn a_suffixed_slug_differs_from_the_plain_one() {
        let slug = Slug::from_title(&title("Dragons"));
        let suffixed = slug.with_suffix();
        assert!(suffixed.as_str().starts_with("dragons-") && suffixed != slug);
    }

    #[test]
    fn tags_are_trimmed_deduplicated_and_sorted() {
        let raw = ["training", " dragons ", "", "training"].map(String::from);
        let tags = TagList::parse(&raw).unwrap();
        let tags: Vec<&str> = tags.as_slice().iter().map(Tag::as_str).collect();
        assert_eq!(tags, ["dragons", "training"]);
    }

    #[test]
    fn invalid_tag_lists_are_rejected_with_a_reason() {
        let too_many: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
        let too_long = vec!["x".repeat(41)];
        let cases = [
            (too_many, "has too many tags (maximum is 10)"),
            (too_long, "has a tag that is too long (maximum is 40 characters)"),
            (vec!["a\u{7}".to_owned()], "has a tag with control characters"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                TagList::parse(&raw).unwrap_err().get("tagList").unwrap()[0],
                expected
            );
        }
    }

    #[test]
    fn a_new_article_reports_every_blank_field() {
        let errors = NewArticle::parse(None, Some(" "), None, None).unwrap_err();
        for field in ["title", "description", "body"] {
            assert_eq!(errors.get(field).unwrap(), ["can't be blank"], "{field}");
        }
    }

    #[test]
    fn paging_defaults_and_bounds() {
        assert_eq!(Page::parse(None, None).unwrap(), Page { limit: 20, offset: 0 });
        assert_eq!(
            Page::parse(Some("5"), Some("10")).unwrap(),
            Page { limit: 5, offset: 10 }
        );
        for (limit, offset, field) in [
            (Some("0"), None, "limit"),
            (Some("101"), None, "limit"),
            (Some("x"), None, "limit"),
            (None, Some("-1"), "offset"),
        ] {
            assert!(
                Page::parse(limit, offset).unwrap_err().get(field).is_some(),
                "{limit:?} {offset:?}"
            );
        }
    }
}
