//! The entries of the article lists (every article, an author's, a tag's, a feed, favorites):
//! shared by the articles, the follows that fill a feed, and the stream that fans out to it.

use serde::{Deserialize, Serialize};

use super::keys::entry_sk;

/// How many of the author's newest articles the follow request writes itself: the first page
/// a RealWorld client shows.
pub const FOLLOW_FIRST_PAGE: usize = 20;

/// A list entry (or favorite); `gsi1*` only on favorites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EntryItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) article_id: String,
    pub(super) author_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1sk: Option<String>,
}

impl EntryItem {
    pub(super) fn new(list: String, article_id: &str, author_id: &str, created_at: &str) -> Self {
        Self {
            pk: list,
            sk: entry_sk(created_at, article_id),
            article_id: article_id.to_owned(),
            author_id: author_id.to_owned(),
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    pub(super) fn created_at(&self) -> &str {
        self.sk.rsplit_once('#').map_or("", |(created, _)| created)
    }
}
