//! Comments live in their article's partition, so listing them is one `Query` and deleting an
//! article's comments never needs an index.
//!
//! | item    | pk             | sk                     | holds |
//! |---------|----------------|------------------------|-------|
//! | comment | `ARTICLE#<id>` | `COMMENT#<id, 10 digits>` | id, body, author_id, created_at, updated_at |
//!
//! Ids are integers (RealWorld's contract), taken from the article's `comment_seq` counter.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::articles::next_sequence;
use super::keys::{COMMENT_PREFIX, article_pk, comment_sk, key};
use super::profiles::{PROFILE_FIELDS, profile_from, profile_keys};
use super::{Store, StoreError, StoreResult, from_item, to_item};
use crate::domain::{Comment, CommentBody, CommentId, Slug, UserId, now_timestamp};

#[derive(Debug, Serialize, Deserialize)]
struct CommentItem {
    pk: String,
    sk: String,
    id: u64,
    body: String,
    author_id: UserId,
    created_at: String,
    updated_at: String,
}

impl Store {
    /// Adds a comment by `author` to the article at `slug`.
    ///
    /// Access: `BatchGetItem` {slug, author}; `UpdateItem` of the article's `comment_seq`
    /// (condition: article exists; returns the new value); `PutItem` of the comment — 3 round
    /// trips.
    pub async fn add_comment(&self, slug: &Slug, author: &UserId, body: CommentBody) -> StoreResult<Comment> {
        let guard = self
            .get_slug(slug)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        let (id, profiles) = tokio::join!(
            next_sequence(self, &guard.article_id),
            self.batch_get(profile_keys([author], None), &PROFILE_FIELDS, true)
        );
        let id = id?.ok_or(StoreError::NotFound("article"))?;
        let author_profile = profile_from(&profiles?, author, None)?.ok_or(StoreError::UnknownCaller)?;
        let now = now_timestamp();
        let item = CommentItem {
            pk: article_pk(&guard.article_id),
            sk: comment_sk(id),
            id,
            body: body.into_inner(),
            author_id: author.clone(),
            created_at: now.clone(),
            updated_at: now,
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(&item)?))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(|e| StoreError::sdk("PutItem comment", e))?;
        Ok(Comment {
            id: item.id,
            created_at: item.created_at,
            updated_at: item.updated_at,
            body: item.body,
            author: author_profile,
        })
    }

    /// The comments on the article at `slug`, newest first, as `viewer` sees them.
    ///
    /// Access: `GetItem SLUG#<slug>`; `Query` of the article partition for `COMMENT#`; one
    /// `BatchGetItem` of the distinct authors and the viewer's follow items — 3 round trips.
    pub async fn comments(&self, slug: &Slug, viewer: Option<&UserId>) -> StoreResult<Option<Vec<Comment>>> {
        let Some(guard) = self.get_slug(slug).await? else {
            return Ok(None);
        };
        let query = self
            .client
            .query()
            .key_condition_expression("pk = :pk AND begins_with(sk, :comments)")
            .expression_attribute_values(":pk", AttributeValue::S(article_pk(&guard.article_id)))
            .expression_attribute_values(":comments", AttributeValue::S(COMMENT_PREFIX.into()))
            .scan_index_forward(false);
        let items = self
            .query_all(query)
            .await?
            .into_iter()
            .map(from_item::<CommentItem>)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let authors: std::collections::BTreeSet<&UserId> = items.iter().map(|c| &c.author_id).collect();
        let profiles = if authors.is_empty() {
            Default::default()
        } else {
            self.batch_get(profile_keys(authors, viewer), &PROFILE_FIELDS, false)
                .await?
        };
        let mut comments = Vec::with_capacity(items.len());
        for item in items {
            let Some(author) = profile_from(&profiles, &item.author_id, viewer)? else {
                continue;
            };
            comments.push(Comment {
                id: item.id,
                created_at: item.created_at,
                updated_at: item.updated_at,
                body: item.body,
                author,
            });
        }
        Ok(Some(comments))
    }

    /// Deletes comment `id` on the article at `slug`, if `caller` wrote it.
    ///
    /// Access: `GetItem SLUG#<slug>`; `DeleteItem` conditioned on `author_id = caller`, which
    /// on failure returns the item, telling "not yours" (403) from "no such comment" (404) —
    /// 2 round trips.
    pub async fn delete_comment(&self, slug: &Slug, id: CommentId, caller: &UserId) -> StoreResult<()> {
        let guard = self
            .get_slug(slug)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(article_pk(&guard.article_id), comment_sk(id.get()))))
            .condition_expression("author_id = :me")
            .expression_attribute_values(":me", AttributeValue::S(caller.to_string()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(error) => match error.as_service_error() {
                Some(aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
                    failed,
                )) => {
                    if failed.item().is_some_and(|item| !item.is_empty()) {
                        Err(StoreError::NotOwner("comment"))
                    } else {
                        Err(StoreError::NotFound("comment"))
                    }
                }
                _ => Err(StoreError::sdk("DeleteItem comment", error)),
            },
        }
    }
}
