//! Articles: create, read, edit and delete, with their slug guards, list entries and tag counts.
//! The lists are read in `article_lists`, favorites written in `favorites`.
//!
//! | item        | pk                                  | sk                     | holds |
//! |-------------|-------------------------------------|------------------------|-------|
//! | article     | `ARTICLE#<id>`                      | `ARTICLE`              | content, author_id, favorites_count, comment_seq, version |
//! | slug        | `SLUG#<slug>`                       | `SLUG`                 | article_id, author_id, created_at (all immutable) |
//! | list entry  | `LIST#ALL`, `LIST#AUTHOR#<user>`, `LIST#TAG#<tag>`, `FEED#<user>` | `<created_at>#<id>` | article_id, author_id |
//! | favorite    | `LIST#FAV#<user>` (gsi1pk `FAVORITED#<article>`) | `<created_at>#<id>` | article_id, author_id |
//! | count       | `COUNT#ALL`, `COUNT#AUTHOR#<user>`, `COUNT#FAV#<user>`, `COUNT#FEED#<user>` | `COUNT` | n |
//! | tag         | `TAGS`                              | `<tag>`                | n (articles with the tag) |
//!
//! Every list is a `Query` of one small-entry partition, newest first, followed by one
//! `BatchGetItem` that fetches the page's articles, their authors, the viewer's follow and
//! favorite items and the list's maintained count together. A favorite item *is* the favorites
//! list entry, so "did the viewer favorite this" is a key lookup in that same batch.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use serde::{Deserialize, Serialize};

use super::entries::EntryItem;
use super::error::update_condition_failed;
use super::keys::{
    ALL_COUNT, ALL_LIST, ARTICLE_SK, COUNT_SK, SLUG_SK, TAGS_PK, article_key, article_pk, author_count,
    author_list, entry_sk, favorites_list, key, slug_key, slug_pk, tag_list,
};
use super::profiles::{PROFILE_FIELDS, profile_from, profile_keys};
use super::tx::{Tx, number};
use super::uploads::ImageLinks;
use super::{Key, Store, StoreError, StoreResult, TransactFailure, from_item};
use crate::domain::{
    Article, ArticleChanges, ArticleId, Attachment, NewArticle, Profile, Slug, Tag, TagList, UploadId,
    UserId, now_timestamp,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ArticleItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) id: ArticleId,
    pub(super) slug: String,
    pub(super) title: String,
    pub(super) description: String,
    /// Absent when a list read projected it away.
    #[serde(default)]
    pub(super) body: String,
    #[serde(default)]
    pub(super) tag_list: Vec<Tag>,
    pub(super) author_id: UserId,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    #[serde(default)]
    pub(super) favorites_count: u64,
    #[serde(default)]
    pub(super) comment_seq: u64,
    #[serde(default)]
    pub(super) version: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct SlugItem {
    pk: String,
    sk: String,
    pub(super) article_id: ArticleId,
    pub(super) author_id: UserId,
    pub(super) created_at: String,
}

pub(super) const SUMMARY_FIELDS: [&str; 13] = [
    "id",
    "slug",
    "title",
    "description",
    "tag_list",
    "author_id",
    "created_at",
    "updated_at",
    "favorites_count",
    "n",
    PROFILE_FIELDS[0],
    PROFILE_FIELDS[1],
    PROFILE_FIELDS[2],
];

/// Keys for showing `entries` to `viewer`: articles, authors, follow and favorite items.
pub(super) fn page_keys(entries: &[EntryItem], viewer: Option<&UserId>) -> Vec<Key> {
    let mut keys: Vec<Key> = entries.iter().map(|e| article_key(&e.article_id)).collect();
    let authors: BTreeSet<&UserId> = entries.iter().map(|e| &e.author_id).collect();
    keys.extend(profile_keys(authors, viewer));
    if let Some(viewer) = viewer {
        keys.extend(
            entries
                .iter()
                .map(|e| key(favorites_list(viewer), entry_sk(e.created_at(), &e.article_id))),
        );
    }
    keys
}

/// Builds the views for `entries` from a batch read of [`page_keys`]. Entries whose article
/// has gone (deleted a moment ago, clean-up still running) are skipped.
pub(super) fn view(item: ArticleItem, author: Profile, favorited: bool, with_body: bool) -> Article {
    Article {
        slug: item.slug,
        title: item.title,
        description: item.description,
        body: with_body.then_some(item.body),
        tags: TagList::from_trusted(item.tag_list)
            .as_slice()
            .iter()
            .map(|tag| tag.as_str().to_owned())
            .collect(),
        created_at: item.created_at,
        updated_at: item.updated_at,
        favorited,
        favorites_count: item.favorites_count,
        author,
    }
}

/// How one try at an article update ended.
enum Update {
    /// Written.
    Done,
    /// Some images the old body linked are not attached here: try again keeping them.
    Stale(Vec<UploadId>),
    /// The new slug is another article's: try the next suffix.
    SlugTaken,
    /// Someone changed the article since it was read: read it again.
    Changed,
}

impl ArticleItem {
    /// This article with `changes` applied (and `new_slug`, when the title moves it).
    fn changed(&self, changes: &ArticleChanges, new_slug: Option<&Slug>) -> Self {
        let mut next = self.clone();
        if let Some(title) = &changes.title {
            next.title = title.as_str().to_owned();
        }
        if let Some(description) = &changes.description {
            next.description = description.as_str().to_owned();
        }
        if let Some(body) = &changes.body {
            next.body = body.as_str().to_owned();
        }
        if let Some(tags) = &changes.tags {
            next.tag_list = tags.as_slice().to_vec();
        }
        if let Some(slug) = new_slug {
            next.slug = slug.as_str().to_owned();
        }
        next.updated_at = now_timestamp();
        next
    }
}

/// Moves `article`'s slug guard to `new_slug`: the old one removed while it is still this
/// article's, the new one created only if free. Answers the new guard's place in `tx`.
fn move_slug(tx: &mut Tx<'_>, article: &ArticleItem, new_slug: &str) -> anyhow::Result<usize> {
    tx.delete(
        slug_pk(&Slug::from_trusted(article.slug.clone())),
        SLUG_SK,
        Some((
            "article_id = :id",
            vec![(":id", AttributeValue::S(article.id.to_string()))],
        )),
    )?;
    tx.put_new(&SlugItem {
        pk: slug_pk(&Slug::from_trusted(new_slug.to_owned())),
        sk: SLUG_SK.into(),
        article_id: article.id.clone(),
        author_id: article.author_id.clone(),
        created_at: article.created_at.clone(),
    })
}

/// Swaps `article`'s tag list entries and tag counts for those of `tags`.
fn swap_tags(tx: &mut Tx<'_>, article: &ArticleItem, tags: &[Tag]) -> anyhow::Result<()> {
    let old_tags: BTreeSet<&Tag> = article.tag_list.iter().collect();
    let new_tags: BTreeSet<&Tag> = tags.iter().collect();
    for removed in old_tags.difference(&new_tags) {
        tx.delete(
            tag_list(removed),
            &entry_sk(&article.created_at, &article.id),
            None,
        )?;
        tx.add_count(TAGS_PK.to_owned(), removed.as_str(), -1)?;
    }
    for added in new_tags.difference(&old_tags) {
        tx.put(
            &EntryItem::new(
                tag_list(added),
                &article.id,
                &article.author_id,
                &article.created_at,
            ),
            None,
        )?;
        tx.add_count(TAGS_PK.to_owned(), added.as_str(), 1)?;
    }
    Ok(())
}

impl Store {
    pub(super) async fn get_slug(&self, slug: &Slug) -> StoreResult<Option<SlugItem>> {
        self.get_consistent(slug_key(slug)).await
    }

    pub(super) async fn get_article_item(&self, id: &ArticleId) -> StoreResult<Option<ArticleItem>> {
        self.get_consistent(article_key(id)).await
    }

    /// Shows one article (with body) to `viewer`.
    pub(super) async fn show(&self, guard: &SlugItem, viewer: Option<&UserId>) -> StoreResult<Article> {
        let entry = EntryItem::new(
            String::new(),
            &guard.article_id,
            &guard.author_id,
            &guard.created_at,
        );
        let mut fields = SUMMARY_FIELDS.to_vec();
        fields.push("body");
        let items = self
            .batch_get(page_keys(std::slice::from_ref(&entry), viewer), &fields, true)
            .await?;
        let item = items
            .get(&(article_pk(&guard.article_id), ARTICLE_SK.to_owned()))
            .ok_or(StoreError::NotFound("article"))?;
        let item: ArticleItem = from_item(item.clone())?;
        let author = profile_from(&items, &item.author_id, viewer)?
            .ok_or_else(|| anyhow::anyhow!("article {} has no author record", item.id))?;
        let favorited = viewer
            .is_some_and(|v| items.contains_key(&(favorites_list(v), entry_sk(&item.created_at, &item.id))));
        Ok(view(item, author, favorited, true))
    }

    /// Creates an article by `author`.
    ///
    /// Access: one `TransactWriteItems` — put article and slug (both `attribute_not_exists`),
    /// put the `ALL` and author list entries and one entry per tag, add 1 to the `ALL`, author
    /// and per-tag counts, and attach each image the body links (≤ 36 items) — concurrently
    /// with `GetItem` of the author for the response: 2 requests, 1 round trip. A taken slug is
    /// retried with a random suffix; an image the author may not show cancels it all (422).
    pub async fn create_article(&self, author: &UserId, new: NewArticle) -> StoreResult<Article> {
        let id = ArticleId::generate();
        let now = now_timestamp();
        let base = Slug::from_title(&new.title);
        let images = new.body.images();
        let attachment = Attachment::Article(id.clone());
        let write = async {
            for attempt in 0..4 {
                let slug = if attempt == 0 {
                    base.clone()
                } else {
                    base.with_suffix()
                };
                let item = ArticleItem {
                    pk: article_pk(&id),
                    sk: ARTICLE_SK.into(),
                    id: id.clone(),
                    slug: slug.as_str().to_owned(),
                    title: new.title.as_str().to_owned(),
                    description: new.description.as_str().to_owned(),
                    body: new.body.as_str().to_owned(),
                    tag_list: new.tags.as_slice().to_vec(),
                    author_id: author.clone(),
                    created_at: now.clone(),
                    updated_at: now.clone(),
                    favorites_count: 0,
                    comment_seq: 0,
                    version: 1,
                };
                let mut tx = Tx::new(&self.table);
                tx.put_new(&item)?;
                let slug_index = tx.put_new(&SlugItem {
                    pk: slug_pk(&slug),
                    sk: SLUG_SK.into(),
                    article_id: id.clone(),
                    author_id: author.clone(),
                    created_at: now.clone(),
                })?;
                for list in [ALL_LIST.to_owned(), author_list(author)] {
                    tx.put(&EntryItem::new(list, &id, author, &now), None)?;
                }
                for count in [ALL_COUNT.to_owned(), author_count(author)] {
                    tx.add_count(count, COUNT_SK, 1)?;
                }
                for tag in new.tags.as_slice() {
                    tx.put(&EntryItem::new(tag_list(tag), &id, author, &now), None)?;
                    tx.add_count(TAGS_PK.to_owned(), tag.as_str(), 1)?;
                }
                let links = ImageLinks::write(&mut tx, author, &attachment, &images, [], &BTreeSet::new())?;
                match self.transact(tx.items).await {
                    Ok(()) => return Ok(item),
                    Err(TransactFailure::Cancelled(codes)) => {
                        if let Some(refused) = links.refused(&codes) {
                            return Err(refused);
                        }
                        if TransactFailure::failed_at(&codes, slug_index) {
                            continue;
                        }
                        return Err(anyhow::anyhow!("article creation cancelled: {codes:?}").into());
                    }
                    Err(TransactFailure::Other(error)) => return Err(error),
                }
            }
            Err(StoreError::Taken(vec!["slug"]))
        };
        let (item, author) = tokio::join!(write, self.profile_by_id(author, false));
        let author = author?.ok_or(StoreError::UnknownCaller)?;
        Ok(view(item?, author, false, true))
    }

    /// One article by slug, as `viewer` sees it.
    ///
    /// Access: `GetItem SLUG#<slug>`, then `BatchGetItem` {article, author, viewer's follow and
    /// favorite items} — 2 round trips.
    pub async fn article(&self, slug: &Slug, viewer: Option<&UserId>) -> StoreResult<Option<Article>> {
        let Some(guard) = self.get_slug(slug).await? else {
            return Ok(None);
        };
        match self.show(&guard, viewer).await {
            Ok(article) => Ok(Some(article)),
            Err(StoreError::NotFound(_)) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// Applies `changes` to the article at `slug`, which `caller` must have written.
    ///
    /// Access: `GetItem SLUG#<slug>`; `GetItem` of the article; one `TransactWriteItems` that
    /// updates the article on the `version` it read (no lost update: a concurrent edit makes it
    /// re-read and re-apply), moves the slug item when the title changes the slug, swaps tag
    /// entries and counts for changed tags, and attaches images the new body links and releases
    /// those it no longer does; then the response read as for `GET` — 4 round trips.
    pub async fn update_article(
        &self,
        slug: &Slug,
        caller: &UserId,
        changes: ArticleChanges,
    ) -> StoreResult<Article> {
        let guard = self
            .get_slug(slug)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        if &guard.author_id != caller {
            return Err(StoreError::NotOwner("article"));
        }
        // Images the old body linked that turned out not to be attached here.
        let mut stale = BTreeSet::new();
        for _ in 0..4 {
            let current = self
                .get_article_item(&guard.article_id)
                .await?
                .ok_or(StoreError::NotFound("article"))?;
            let base = changes.title.as_ref().map(Slug::from_title);
            // Keep the slug when the new title slugs to the same base (a case change, or an
            // earlier suffix for uniqueness).
            let mut new_slug = base.clone().filter(|b| {
                current.slug != b.as_str() && !current.slug.starts_with(&format!("{}-", b.as_str()))
            });
            for _ in 0..4 {
                let next = current.changed(&changes, new_slug.as_ref());
                match self.update_article_once(&current, &next, caller, &stale).await? {
                    Update::Done => {
                        let guard = SlugItem {
                            pk: slug_pk(&Slug::from_trusted(next.slug.clone())),
                            sk: SLUG_SK.into(),
                            ..guard.clone()
                        };
                        return self.show(&guard, Some(caller)).await;
                    }
                    // Retry without releasing what is not attached here.
                    Update::Stale(more) => {
                        stale.extend(more);
                        break;
                    }
                    Update::SlugTaken => new_slug = base.as_ref().map(Slug::with_suffix),
                    // Changed since we read it: read again.
                    Update::Changed => break,
                }
            }
        }
        Err(StoreError::Contended("article"))
    }

    /// One transaction of [`Store::update_article`]: the article on the `version` it was read
    /// at, the slug moved, tag entries and counts swapped, images attached and released.
    async fn update_article_once(
        &self,
        current: &ArticleItem,
        next: &ArticleItem,
        caller: &UserId,
        stale: &BTreeSet<UploadId>,
    ) -> StoreResult<Update> {
        let mut tx = Tx::new(&self.table);
        let article_at = tx.update(
            article_pk(&current.id),
            ARTICLE_SK,
            "SET title = :title, description = :description, body = :body, tag_list = :tags, \
             slug = :slug, updated_at = :updated, version = version + :one",
            vec![
                (":title", AttributeValue::S(next.title.clone())),
                (":description", AttributeValue::S(next.description.clone())),
                (":body", AttributeValue::S(next.body.clone())),
                (
                    ":tags",
                    AttributeValue::L(
                        next.tag_list
                            .iter()
                            .map(|tag| AttributeValue::S(tag.as_str().to_owned()))
                            .collect(),
                    ),
                ),
                (":slug", AttributeValue::S(next.slug.clone())),
                (":updated", AttributeValue::S(next.updated_at.clone())),
                (":one", number(1)),
                (":read", number(current.version)),
            ],
            Some("version = :read"),
        )?;
        let slug_at = if next.slug == current.slug {
            None
        } else {
            Some(move_slug(&mut tx, current, &next.slug)?)
        };
        swap_tags(&mut tx, current, &next.tag_list)?;
        let (old_images, new_images) = (
            UploadId::linked_in(&current.body),
            UploadId::linked_in(&next.body),
        );
        let links = ImageLinks::write(
            &mut tx,
            caller,
            &Attachment::Article(current.id.clone()),
            new_images.difference(&old_images),
            old_images.difference(&new_images),
            stale,
        )?;
        match self.transact(tx.items).await {
            Ok(()) => Ok(Update::Done),
            Err(TransactFailure::Cancelled(codes)) => {
                if let Some(refused) = links.refused(&codes) {
                    return Err(refused);
                }
                let newly_stale = links.stale(&codes);
                if !newly_stale.is_empty() {
                    return Ok(Update::Stale(newly_stale));
                }
                if slug_at.is_some_and(|at| TransactFailure::failed_at(&codes, at)) {
                    return Ok(Update::SlugTaken);
                }
                if TransactFailure::failed_at(&codes, article_at) {
                    return Ok(Update::Changed);
                }
                Err(anyhow::anyhow!("article update cancelled: {codes:?}").into())
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// Deletes the article at `slug`, which `caller` must have written.
    ///
    /// Access: `GetItem SLUG#<slug>`, `GetItem` article, then one `TransactWriteItems` removing
    /// the article, its slug, list and tag entries, decrementing their counts and releasing its
    /// images — 3 round trips. Comments, favorites and feed entries are removed by the stream processor
    /// (`purge_article`); until then reads skip them, because their article is gone.
    pub async fn delete_article(&self, slug: &Slug, caller: &UserId) -> StoreResult<()> {
        let guard = self
            .get_slug(slug)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        if &guard.author_id != caller {
            return Err(StoreError::NotOwner("article"));
        }
        let article = self
            .get_article_item(&guard.article_id)
            .await?
            .ok_or(StoreError::NotFound("article"))?;
        let images = UploadId::linked_in(&article.body);
        let mut stale = BTreeSet::new();
        // Each retry releases fewer images, so this ends within `images.len() + 1` attempts.
        for _ in 0..=images.len() {
            match self.delete_article_once(slug, &article, &images, &stale).await? {
                Ok(()) => return Ok(()),
                Err(more) => stale.extend(more),
            }
        }
        Err(StoreError::Contended("article"))
    }

    /// One attempt at [`Store::delete_article`]: `Err` carries the images that were not
    /// attached to the article after all, to retry without releasing them.
    async fn delete_article_once(
        &self,
        slug: &Slug,
        article: &ArticleItem,
        images: &BTreeSet<UploadId>,
        stale: &BTreeSet<UploadId>,
    ) -> StoreResult<Result<(), Vec<UploadId>>> {
        let sk = entry_sk(&article.created_at, &article.id);
        let mut tx = Tx::new(&self.table);
        let article_at = tx.delete(
            article_pk(&article.id),
            ARTICLE_SK,
            Some(("attribute_exists(pk)", vec![])),
        )?;
        tx.delete(slug_pk(slug), SLUG_SK, None)?;
        for list in [ALL_LIST.to_owned(), author_list(&article.author_id)] {
            tx.delete(list, &sk, None)?;
        }
        for count in [ALL_COUNT.to_owned(), author_count(&article.author_id)] {
            tx.add_count(count, COUNT_SK, -1)?;
        }
        for tag in &article.tag_list {
            tx.delete(tag_list(tag), &sk, None)?;
            tx.add_count(TAGS_PK.to_owned(), tag.as_str(), -1)?;
        }
        let attachment = Attachment::Article(article.id.clone());
        let links = ImageLinks::write(&mut tx, &article.author_id, &attachment, [], images, stale)?;
        match self.transact(tx.items).await {
            Ok(()) => Ok(Ok(())),
            Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, article_at) => {
                Err(StoreError::NotFound("article"))
            }
            Err(TransactFailure::Cancelled(codes)) if !links.stale(&codes).is_empty() => {
                Ok(Err(links.stale(&codes)))
            }
            Err(TransactFailure::Cancelled(codes)) => {
                Err(anyhow::anyhow!("delete cancelled: {codes:?}").into())
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }
}

/// Update returning the new value, used by comment ids.
pub(super) async fn next_sequence(store: &Store, article_id: &ArticleId) -> StoreResult<Option<u64>> {
    let result = store
        .client
        .update_item()
        .table_name(&store.table)
        .set_key(Some(article_key(article_id)))
        .update_expression("ADD comment_seq :one")
        .condition_expression("attribute_exists(pk)")
        .expression_attribute_values(":one", number(1))
        .return_values(ReturnValue::UpdatedNew)
        .send()
        .await;
    match result {
        Ok(output) => {
            #[derive(Deserialize)]
            struct Seq {
                comment_seq: u64,
            }
            let seq: Seq = from_item(output.attributes.unwrap_or_default())?;
            Ok(Some(seq.comment_seq))
        }
        Err(error) if update_condition_failed(&error) => Ok(None),
        Err(error) => Err(StoreError::sdk("UpdateItem comment_seq", error)),
    }
}
