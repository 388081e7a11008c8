//! The entries of the article lists (every article, an author's, a tag's, a feed, favorites):
//! shared by the articles, the follows that fill a feed, and the stream that fans out to it.

use serde::{Deserialize, Serialize};

use super::keys::entry_sk;
use crate::domain::{ArticleId, UserId};

/// How many of the author's newest articles the follow request writes itself: the first page
/// a RealWorld client shows.
pub const FOLLOW_FIRST_PAGE: usize = 20;

/// A list entry (or favorite); `gsi1*` only on favorites.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct EntryItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) article_id: ArticleId,
    pub(super) author_id: UserId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1pk: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) gsi1sk: Option<String>,
}

impl EntryItem {
    pub(super) fn new(list: String, article_id: &ArticleId, author_id: &UserId, created_at: &str) -> Self {
        Self {
            pk: list,
            sk: entry_sk(created_at, article_id),
            article_id: article_id.clone(),
            author_id: author_id.clone(),
            gsi1pk: None,
            gsi1sk: None,
        }
    }

    pub(super) fn created_at(&self) -> &str {
        self.sk.rsplit_once('#').map_or("", |(created, _)| created)
    }
}
