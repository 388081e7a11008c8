//! The table's change stream, processed: feed fan-out on write, and the clean-up that follows
//! an article's deletion. The `feed-fanout` Lambda runs this for DynamoDB Streams events; the
//! local server runs it after every write, reading the local engine's stream.
//!
//! | change          | work                                                                 |
//! |-----------------|----------------------------------------------------------------------|
//! | article INSERT  | for each follower of the author: put `FEED#<follower>` entry, count +1; put a `WORD#<word>` entry per title word |
//! | article MODIFY  | title or tags changed: delete the entries of words the title lost, rewrite the rest |
//! | article REMOVE  | delete its comments; its favorites (count −1 each); its feed entries (count −1 each); its title-word entries |
//! | follow INSERT   | put the followee's newest articles into the follower's feed, as many as a feed page can reach ([`FEED_BACKFILL_MAX`]) |
//! | follow REMOVE   | remove every article of the followee from the follower's feed        |
//!
//! Every entry write is a two-item transaction with its count, conditioned on the entry being
//! absent (put) or present (delete), so a redelivered record changes nothing and counts stay
//! exact. The cost of a feed *read* therefore never depends on how many authors a user follows:
//! that cost is paid here, once per article per follower.
//!
//! The follow request itself writes the newest page ([`FOLLOW_FIRST_PAGE`]) before it answers
//! ([`Store::follow`]), so a client that follows and opens its feed at once sees
//! the author, in AWS as locally; the stream's back-fill then skips those entries.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use futures::StreamExt as _;
use serde::Deserialize;

use super::batch::delete_request;
use super::entries::EntryItem;
#[cfg(doc)]
use super::entries::FOLLOW_FIRST_PAGE;
use super::keys::{
    ARTICLE_SK, COUNT_SK, FOLLOWS_PREFIX, article_pk, author_list, favorited_gsi, favorites_count,
    favorites_owner, feed_count, feed_list,
};
use super::tx::Tx;
use super::{Store, StoreError, StoreResult, TransactFailure, from_item};
use crate::domain::{ArticleId, Page, UserId};

/// How many of an author's newest articles a follow puts into the follower's feed: all that a
/// feed page can reach (the deepest offset plus the largest page). Older ones could never be
/// shown, so however much the author wrote, a follow costs at most this many writes.
pub const FEED_BACKFILL_MAX: usize = Page::MAX_OFFSET + Page::MAX_LIMIT;

/// A stored item image.
pub type Image = HashMap<String, AttributeValue>;

/// What happened to one item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// Created.
    Insert,
    /// Updated in place.
    Modify,
    /// Deleted.
    Remove,
}

/// One stream record: the item before and after.
#[derive(Debug, Clone)]
pub struct Change {
    /// What happened.
    pub kind: ChangeKind,
    /// The image before (`None` for inserts).
    pub old: Option<Image>,
    /// The image after (`None` for removes).
    pub new: Option<Image>,
}

/// Entry writes run this many transactions at once.
const CONCURRENCY: usize = 16;

#[derive(Debug, Deserialize)]
struct ArticleImage {
    id: ArticleId,
    author_id: UserId,
    created_at: String,
}

#[derive(Debug, Deserialize)]
struct FollowImage {
    follower_id: UserId,
    followee_id: UserId,
}

/// The image's sort key; `None` for an image without one (not an item of this table).
fn sk_of(image: &Image) -> Option<&str> {
    image.get("sk").and_then(|v| v.as_s().ok()).map(String::as_str)
}

impl Store {
    /// Applies the consequences of `changes`; other records are ignored. Safe to call twice
    /// with the same records.
    pub async fn process_changes(&self, changes: &[Change]) -> StoreResult<()> {
        for change in changes {
            let any_image = change.new.as_ref().or(change.old.as_ref());
            if any_image.and_then(sk_of) == Some(ARTICLE_SK) {
                self.index_title(change).await?;
            }
            let image = match change.kind {
                ChangeKind::Insert => change.new.as_ref(),
                ChangeKind::Remove => change.old.as_ref(),
                ChangeKind::Modify => None,
            };
            let Some((image, sk)) = image.and_then(|image| Some((image, sk_of(image)?))) else {
                continue;
            };
            if sk == ARTICLE_SK {
                let article: ArticleImage = from_item(image.clone())?;
                let insert = change.kind == ChangeKind::Insert;
                self.fan_out(&article, insert).await?;
                if !insert {
                    self.purge_article(&article).await?;
                }
            } else if sk.starts_with(FOLLOWS_PREFIX) {
                let follow: FollowImage = from_item(image.clone())?;
                self.sync_feed_with_author(
                    &follow.follower_id,
                    &follow.followee_id,
                    change.kind == ChangeKind::Insert,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Adds (or removes) `article` in the feed of every follower of its author.
    async fn fan_out(&self, article: &ArticleImage, add: bool) -> StoreResult<()> {
        let entries = self
            .followers(&article.author_id)
            .await?
            .iter()
            .map(|follower| {
                let entry = EntryItem::new(
                    feed_list(follower),
                    &article.id,
                    &article.author_id,
                    &article.created_at,
                );
                (entry, feed_count(follower))
            })
            .collect();
        self.write_entries(entries, add).await
    }

    /// Puts `author`'s newest [`FEED_BACKFILL_MAX`] articles into `follower`'s feed, or takes
    /// every article of `author` out of it.
    async fn sync_feed_with_author(&self, follower: &UserId, author: &UserId, add: bool) -> StoreResult<()> {
        let at_most = if add { FEED_BACKFILL_MAX } else { usize::MAX };
        let entries = self
            .authors_newest_as_feed(follower, author, at_most)
            .await?
            .into_iter()
            .map(|entry| (entry, feed_count(follower)))
            .collect();
        self.write_entries(entries, add).await
    }

    /// `author`'s newest `at_most` list entries, newest first, as `follower`'s feed entries:
    /// what the stream back-fills, and (with [`FOLLOW_FIRST_PAGE`]) what the follow request
    /// writes itself (see [`Store::follow`]). Pages are read only as far as needed.
    pub(super) async fn authors_newest_as_feed(
        &self,
        follower: &UserId,
        author: &UserId,
        at_most: usize,
    ) -> StoreResult<Vec<EntryItem>> {
        let mut items = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(author_list(author)))
            .scan_index_forward(false)
            .set_limit(i32::try_from(at_most).ok())
            .into_paginator()
            .items()
            .send();
        let mut entries = Vec::new();
        while entries.len() < at_most {
            let Some(item) = items.next().await else { break };
            let authored: EntryItem = from_item(item.map_err(|e| StoreError::sdk("Query", e))?)?;
            entries.push(EntryItem {
                pk: feed_list(follower),
                ..authored
            });
        }
        Ok(entries)
    }

    /// Puts (or deletes) each entry with its count change, one small transaction per entry,
    /// a few at a time. An entry already in the wanted state is skipped, count untouched.
    pub(super) async fn write_entries(
        &self,
        entries: Vec<(EntryItem, String)>,
        add: bool,
    ) -> StoreResult<()> {
        let writes = entries.into_iter().map(|(entry, count)| async move {
            let mut tx = Tx::new(&self.table);
            let entry_at = tx.set_member(&entry, &entry.pk, &entry.sk, add)?;
            tx.add_count(count, COUNT_SK, if add { 1 } else { -1 })?;
            match self.transact(tx.items).await {
                Ok(()) => Ok(()),
                Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, entry_at) => {
                    Ok(())
                }
                Err(TransactFailure::Cancelled(codes)) => {
                    Err(anyhow::anyhow!("entry write cancelled: {codes:?}").into())
                }
                Err(TransactFailure::Other(error)) => Err(error),
            }
        });
        let results: Vec<StoreResult<()>> = futures::stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        results.into_iter().collect()
    }

    /// Removes what hangs off a deleted article: comments, favorites (and their counts).
    /// Feed entries are removed by `fan_out`.
    async fn purge_article(&self, article: &ArticleImage) -> StoreResult<()> {
        // Favorites, found through gsi1 (`FAVORITED#<article>`); each favoriter's count drops.
        let favorites = self
            .client
            .query()
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(favorited_gsi(&article.id)));
        let favorites = self
            .query_all(favorites)
            .await?
            .into_iter()
            .map(|item| {
                let entry: EntryItem = from_item(item)?;
                let owner = favorites_owner(&entry.pk)
                    .ok_or_else(|| anyhow::anyhow!("favorite {} is not in a favorites list", entry.pk))?;
                let count = favorites_count(&owner);
                Ok((entry, count))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.write_entries(favorites, false).await?;

        // Comments: the rest of the article's partition, 25 deletes per request.
        let comments = self
            .client
            .query()
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(article_pk(&article.id)))
            .projection_expression("pk, sk");
        let deletes = self
            .query_all(comments)
            .await?
            .into_iter()
            .map(delete_request)
            .collect::<anyhow::Result<_>>()?;
        self.batch_write(deletes, "comment deletes").await?;
        Ok(())
    }
}
