//! The article lists: every article, an author's, a tag's, a user's favorites and feed, and the
//! tags in use. Every list is a `Query` of one small-entry partition, newest first, followed
//! by one `BatchGetItem` that fetches the page's articles, their authors, the viewer's follow
//! and favorite items and the list's maintained count together.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Deserialize;

use super::articles::{ArticleItem, SUMMARY_FIELDS, page_keys, view};
use super::batch::Items;
use super::entries::EntryItem;
use super::keys::{
    ALL_COUNT, ALL_LIST, ARTICLE_SK, COUNT_SK, TAGS_PK, article_pk, author_count, author_list, entry_sk,
    favorites_count, favorites_list, feed_count, feed_list, key, tag_list,
};
use super::profiles::profile_from;
use super::tx::number;
use super::{Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{Article, Page, Tag, UserId, Username};

#[derive(Debug, Deserialize)]
struct CountItem {
    #[serde(default)]
    n: i64,
}

/// Which articles a list shows.
#[derive(Debug, Clone)]
pub enum ListFilter {
    /// Every article.
    All,
    /// Written by this user.
    Author(Username),
    /// Carrying this tag.
    Tag(Tag),
    /// Favorited by this user.
    Favorited(Username),
    /// By authors this user follows.
    Feed(UserId),
}

/// A page of articles and the total the filter matches.
#[derive(Debug)]
pub struct ArticleList {
    /// The page, newest first, without bodies.
    pub articles: Vec<Article>,
    /// How many articles the filter matches in all (not the page size).
    pub count: u64,
}

/// What a list read fetches: everything a summary shows, never a body or a password hash.
fn page_views(items: &Items, entries: &[EntryItem], viewer: Option<&UserId>) -> anyhow::Result<Vec<Article>> {
    let mut articles = Vec::with_capacity(entries.len());
    for entry in entries {
        let Some(item) = items.get(&(article_pk(&entry.article_id), ARTICLE_SK.to_owned())) else {
            continue;
        };
        let item: ArticleItem = from_item(item.clone())?;
        let Some(author) = profile_from(items, &item.author_id, viewer)? else {
            continue;
        };
        let favorited = viewer
            .is_some_and(|v| items.contains_key(&(favorites_list(v), entry_sk(&item.created_at, &item.id))));
        articles.push(view(item, author, favorited, false));
    }
    Ok(articles)
}

impl Store {
    /// A page of articles matching `filter`, newest first, as `viewer` sees them.
    ///
    /// Access: for `Author`/`Favorited`, `GetItem USERNAME#<name>` first; then `Query` of the
    /// filter's entry partition (limit `offset + limit`, keys and ids only); then one
    /// `BatchGetItem` of the page's articles (no bodies), authors, the viewer's follow and
    /// favorite items, and the filter's maintained count — 2 round trips (3 with a username).
    /// The cost of a page depends on `offset + limit`, never on how many authors a user follows
    /// or how many articles exist.
    pub async fn list_articles(
        &self,
        filter: ListFilter,
        page: Page,
        viewer: Option<&UserId>,
    ) -> StoreResult<ArticleList> {
        let (list, count_key) = match &filter {
            ListFilter::All => (ALL_LIST.to_owned(), key(ALL_COUNT, COUNT_SK)),
            ListFilter::Tag(tag) => (tag_list(tag), key(TAGS_PK, tag.as_str())),
            ListFilter::Feed(user) => (feed_list(user), key(feed_count(user), COUNT_SK)),
            ListFilter::Author(name) | ListFilter::Favorited(name) => {
                let Some(user) = self.user_id_for(name).await? else {
                    return Ok(ArticleList {
                        articles: Vec::new(),
                        count: 0,
                    });
                };
                if matches!(filter, ListFilter::Author(_)) {
                    (author_list(&user), key(author_count(&user), COUNT_SK))
                } else {
                    (favorites_list(&user), key(favorites_count(&user), COUNT_SK))
                }
            }
        };
        let entries = self.query_entries(&list, page).await?;
        let mut keys = page_keys(&entries, viewer);
        keys.push(count_key.clone());
        let items = self.batch_get(keys, &SUMMARY_FIELDS, false).await?;
        let count = match items.get(&key_pair(&count_key)) {
            Some(item) => from_item::<CountItem>(item.clone())?.n.max(0) as u64,
            None => 0,
        };
        Ok(ArticleList {
            articles: page_views(&items, &entries, viewer)?,
            count,
        })
    }

    /// The newest `offset + limit` entries of `list`, minus the first `offset`.
    async fn query_entries(&self, list: &str, page: Page) -> StoreResult<Vec<EntryItem>> {
        let wanted = page.offset + page.limit;
        let mut entries = Vec::with_capacity(wanted);
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(list.to_owned()))
                .scan_index_forward(false)
                .limit(i32::try_from(wanted - entries.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", e))?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item::<EntryItem>(item)?);
            }
            start = output.last_evaluated_key;
            if start.is_none() || entries.len() >= wanted {
                break;
            }
        }
        Ok(entries.into_iter().skip(page.offset).collect())
    }

    /// Every tag in use, most used first. Strongly consistent, so a writer who just tagged an
    /// article finds the tag (the response is revalidated on every use, never served stale).
    ///
    /// Access: `Query TAGS` — 1 round trip (per 1 MB of tags).
    pub async fn tags(&self) -> StoreResult<Vec<String>> {
        #[derive(Deserialize)]
        struct Tag {
            sk: String,
            n: i64,
        }
        let query = self
            .client
            .query()
            .key_condition_expression("pk = :pk")
            .consistent_read(true)
            .filter_expression("n > :zero")
            .expression_attribute_values(":pk", AttributeValue::S(TAGS_PK.into()))
            .expression_attribute_values(":zero", number(0));
        let mut tags = self
            .query_all(query)
            .await?
            .into_iter()
            .map(|item| from_item::<Tag>(item).map(|t| (t.n, t.sk)))
            .collect::<anyhow::Result<Vec<_>>>()?;
        tags.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        Ok(tags.into_iter().map(|(_, tag)| tag).collect())
    }
}
