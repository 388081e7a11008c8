//! Favorites: a favorite item *is* the favorites list entry (gsi1 `FAVORITED#<article>` says who
//! favorited an article), counted on the article and on the user in the same transaction.

use super::entries::EntryItem;
use super::keys::{
    ARTICLE_SK, COUNT_SK, article_pk, favorited_gsi, favorites_count, favorites_list, user_pk,
};
use super::tx::{Tx, number};
use super::{Store, StoreError, StoreResult, TransactFailure};
use crate::domain::{Article, Slug, UserId};

impl Store {
    /// Favorites the article at `slug` for `caller`; answers the article after. See
    /// [`Store::unfavorite`].
    pub async fn favorite(&self, slug: &Slug, caller: &UserId) -> StoreResult<Article> {
        self.set_favorite::<true>(slug, caller).await
    }

    /// Unfavorites the article at `slug` for `caller`; answers the article after.
    ///
    /// Access: `GetItem SLUG#<slug>`; one `TransactWriteItems` — put (or delete) the favorite
    /// item on condition it is absent (or present), add ±1 to the article's `favorites_count`
    /// (condition: the article exists) and to the caller's favorites count; then the response
    /// read as for `GET` — 3 round trips. A repeated favorite fails its condition and changes
    /// nothing, so no count is ever bumped twice; concurrent favorites of one article are
    /// serialised by DynamoDB on the article item, so none is lost.
    pub async fn unfavorite(&self, slug: &Slug, caller: &UserId) -> StoreResult<Article> {
        self.set_favorite::<false>(slug, caller).await
    }

    /// Both directions, one function per direction, so each binary links only its own.
    async fn set_favorite<const FAVORITE: bool>(&self, slug: &Slug, caller: &UserId) -> StoreResult<Article> {
        let guard = self
            .get_slug(slug)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        let mut tx = Tx::new(&self.table);
        let entry = EntryItem {
            gsi1pk: Some(favorited_gsi(&guard.article_id)),
            gsi1sk: Some(user_pk(caller)),
            ..EntryItem::new(
                favorites_list(caller),
                &guard.article_id,
                &guard.author_id,
                &guard.created_at,
            )
        };
        let delta: i64 = if FAVORITE { 1 } else { -1 };
        let entry_at = tx.set_member(&entry, &entry.pk, &entry.sk, FAVORITE)?;
        let article_at = tx.update(
            article_pk(&guard.article_id),
            ARTICLE_SK,
            "ADD favorites_count :delta",
            vec![(":delta", number(delta))],
            Some("attribute_exists(pk)"),
        )?;
        tx.add_count(favorites_count(caller), COUNT_SK, delta)?;
        match self.transact(tx.items).await {
            Ok(()) => {}
            // Already in the requested state: nothing to change.
            Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, entry_at) => {}
            Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, article_at) => {
                return Err(StoreError::NotFound("article"));
            }
            Err(TransactFailure::Cancelled(codes)) => {
                return Err(anyhow::anyhow!("favorite cancelled: {codes:?}").into());
            }
            Err(TransactFailure::Other(error)) => return Err(error),
        }
        self.show(&guard, Some(caller)).await
    }

    /// Reads an article's stored counters straight from the table (tests and diagnostics).
    pub async fn favorites_count_of(&self, slug: &Slug) -> StoreResult<Option<u64>> {
        let Some(guard) = self.get_slug(slug).await? else {
            return Ok(None);
        };
        Ok(self
            .get_article_item(&guard.article_id)
            .await?
            .map(|a| a.favorites_count))
    }
}
