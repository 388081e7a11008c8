//! The title index: for every word of an article's title, an entry in `WORD#<word>` sorted by
//! the article's creation time, carrying the title's other words, its tags and its author, so
//! a search reads one word's entries and checks the rest in the same `Query`. The table stream
//! keeps it ([`Store::index_title`]): created, rewritten and removed with the article, every
//! write a plain put or delete of a key the article decides, so a redelivered record changes
//! nothing.

use std::collections::HashSet;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::batch::{delete_request, put_request};
use super::entries::EntryItem;
use super::keys::{ALL_LIST, article_key, entry_sk, key, word_list};
use super::stream::{Change, ChangeKind, Image};
use super::{Store, StoreResult, from_item, to_item};
use crate::domain::{ArticleId, UserId, title_words};

/// What [`Store::reindex_titles`] reads of each article.
const INDEXED_FIELDS: [&str; 5] = ["id", "author_id", "created_at", "title", "tag_list"];

/// One word's entry for one article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct WordEntryItem {
    pk: String,
    sk: String,
    article_id: ArticleId,
    author_id: UserId,
    /// Every word of the title (this one included): what `contains(words, :w)` checks.
    words: Vec<String>,
    /// The article's tags: what `contains(tags, :tag)` checks when a search names a tag.
    tags: Vec<String>,
}

/// What the index needs of an article image.
#[derive(Debug, Deserialize)]
struct IndexedArticle {
    id: ArticleId,
    author_id: UserId,
    created_at: String,
    title: String,
    #[serde(default)]
    tag_list: Vec<String>,
}

/// The entries an article should have: one per word of its title.
fn entries_of(article: IndexedArticle) -> Vec<WordEntryItem> {
    let words = title_words(&article.title);
    let sk = entry_sk(&article.created_at, &article.id);
    words
        .iter()
        .map(|word| WordEntryItem {
            pk: word_list(word),
            sk: sk.clone(),
            article_id: article.id.clone(),
            author_id: article.author_id.clone(),
            words: words.clone(),
            tags: article.tag_list.clone(),
        })
        .collect()
}

impl Store {
    /// Brings the title index in line with one change of an article item: an insert puts an
    /// entry per title word, a remove deletes them, an edit deletes the entries of words the
    /// title lost and rewrites the others (their word and tag lists changed). An edit that
    /// changed neither title nor tags (a favorite, a comment) writes nothing.
    ///
    /// Access: `BatchWriteItem`, 25 writes per request — none for most edits.
    pub(super) async fn index_title(&self, change: &Change) -> StoreResult<()> {
        let read = |image: Option<&Image>| -> anyhow::Result<Vec<WordEntryItem>> {
            Ok(image
                .map(|image| from_item::<IndexedArticle>(image.clone()))
                .transpose()?
                .map(entries_of)
                .unwrap_or_default())
        };
        let before = match change.kind {
            ChangeKind::Insert => Vec::new(),
            ChangeKind::Modify | ChangeKind::Remove => read(change.old.as_ref())?,
        };
        let after = match change.kind {
            ChangeKind::Remove => Vec::new(),
            ChangeKind::Insert | ChangeKind::Modify => read(change.new.as_ref())?,
        };
        if before == after {
            return Ok(());
        }
        let kept: HashSet<&str> = after.iter().map(|entry| entry.pk.as_str()).collect();
        let mut writes = Vec::with_capacity(before.len() + after.len());
        for gone in before.iter().filter(|entry| !kept.contains(entry.pk.as_str())) {
            writes.push(delete_request(key(gone.pk.clone(), gone.sk.clone()))?);
        }
        for entry in &after {
            writes.push(put_request(to_item(entry)?)?);
        }
        self.batch_write(writes, "title index entries").await
    }

    /// Puts the title-index entries of every article: for a table that has articles from
    /// before the index existed (`keel-local admin reindex-titles`). Safe to run again and
    /// while the API serves; an article whose title is edited while this runs may keep an
    /// entry for a word it lost, so run it before opening search to users.
    ///
    /// Access: `Query LIST#ALL` (paged), `BatchGetItem` of the articles 100 at a time,
    /// `BatchWriteItem` of their entries — one pass over the articles, no `Scan`.
    pub async fn reindex_titles(&self) -> StoreResult<usize> {
        let listed = self
            .client
            .query()
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(ALL_LIST.to_owned()));
        let entries = self
            .query_all(listed)
            .await?
            .into_iter()
            .map(from_item::<EntryItem>)
            .collect::<anyhow::Result<Vec<_>>>()?;
        let mut indexed = 0;
        for chunk in entries.chunks(100) {
            let keys = chunk.iter().map(|e| article_key(&e.article_id)).collect();
            let items = self.batch_get(keys, &INDEXED_FIELDS, false).await?;
            let mut writes = Vec::new();
            for item in items.into_values() {
                for entry in entries_of(from_item::<IndexedArticle>(item)?) {
                    writes.push(put_request(to_item(&entry)?)?);
                }
                indexed += 1;
            }
            self.batch_write(writes, "title index entries").await?;
        }
        Ok(indexed)
    }
}
