//! The article lists: every article, an author's, a tag's, a user's favorites and feed, and the
//! tags in use. Every list is a `Query` of one small-entry partition, newest first, followed
//! by one `BatchGetItem` that fetches the page's articles, their authors, the viewer's follow
//! and favorite items and the list's maintained count together.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{AttributeValue, Select};
use serde::Deserialize;

use super::articles::{ArticleItem, SUMMARY_FIELDS, page_keys, view};
use super::batch::Items;
use super::entries::EntryItem;
use super::keys::{
    ALL_COUNT, ALL_LIST, ARTICLE_SK, COUNT_SK, TAGS_PK, article_pk, author_count, author_list, entry_sk,
    favorites_count, favorites_list, feed_count, feed_list, key, tag_list, word_list,
};
use super::profiles::profile_from;
use super::tx::number;
use super::{Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{Article, DateRange, Page, Tag, TitleQuery, UserId, Username};

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

/// Why a title search refuses `favorited` and the feed: their entries are a user's own (one
/// partition per user), so the title index cannot narrow them, and reading a whole list to
/// check titles would cost what the list holds.
pub const TITLE_WITH_A_USERS_LIST: &str =
    "cannot be combined with favorited: search the titles of all articles, a tag's or an author's";

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

/// What narrows a list beyond its filter: title words and a creation-date range. The default
/// narrows nothing (RealWorld's lists).
#[derive(Debug, Clone, Default)]
pub struct ArticleSearch {
    /// Words the title must contain.
    pub title: Option<TitleQuery>,
    /// When the article was created.
    pub dates: DateRange,
}

/// The most `articlesCount` says for a search that cannot use a maintained count: every
/// article a page can reach. Counting further would read entries no page can show.
pub const SEARCH_COUNT_CAP: u64 = (Page::MAX_OFFSET + Page::MAX_LIMIT) as u64;

/// One `Query` of a list partition: the partition, a sort-key range from the dates, and
/// filters on the entries (a search's other words, its tag or author).
struct EntryQuery<'a> {
    list: String,
    dates: &'a DateRange,
    /// (condition, placeholder, value), joined with AND.
    filters: Vec<(String, String, AttributeValue)>,
}

impl EntryQuery<'_> {
    fn filter(&mut self, condition: impl FnOnce(&str) -> String, value: &str) {
        let placeholder = format!(":f{}", self.filters.len());
        self.filters.push((
            condition(&placeholder),
            placeholder,
            AttributeValue::S(value.to_owned()),
        ));
    }

    /// `query` (its table set) with this list's key condition and filters.
    fn apply(&self, query: QueryFluentBuilder) -> QueryFluentBuilder {
        let range = match (self.dates.since(), self.dates.until()) {
            (Some(_), Some(_)) => " AND sk BETWEEN :since AND :until",
            (Some(_), None) => " AND sk >= :since",
            (None, Some(_)) => " AND sk < :until",
            (None, None) => "",
        };
        let mut query = query
            .key_condition_expression(format!("pk = :pk{range}"))
            .expression_attribute_values(":pk", AttributeValue::S(self.list.clone()));
        // BETWEEN is inclusive, yet `until` stays exclusive: every sort key is `<time>#<id>`,
        // so the bare time sorts before the entries made at that very time.
        if let Some(since) = self.dates.since() {
            query = query.expression_attribute_values(":since", AttributeValue::S(since.to_owned()));
        }
        if let Some(until) = self.dates.until() {
            query = query.expression_attribute_values(":until", AttributeValue::S(until.to_owned()));
        }
        if !self.filters.is_empty() {
            let conditions: Vec<&str> = self.filters.iter().map(|(c, _, _)| c.as_str()).collect();
            query = query.filter_expression(conditions.join(" AND "));
            for (_, placeholder, value) in &self.filters {
                query = query.expression_attribute_values(placeholder, value.clone());
            }
        }
        query
    }
}

impl Store {
    /// A page of articles matching `filter` and `search`, newest first, as `viewer` sees them.
    ///
    /// Access: for `Author`/`Favorited`, `GetItem USERNAME#<name>` first; then `Query` of the
    /// filter's entry partition (limit `offset + limit`, keys and ids only); then one
    /// `BatchGetItem` of the page's articles (no bodies), authors, the viewer's follow and
    /// favorite items, and the filter's maintained count — 2 round trips (3 with a username).
    /// A date range narrows that `Query` by sort key; a title search reads the partition of
    /// its longest word instead (`WORD#<word>`), filtered by the other words and the tag or
    /// author. Either way the count comes from a `Select=COUNT` query of the same range, sent
    /// with the page's `Query` (one request more, no round trip more), capped at
    /// [`SEARCH_COUNT_CAP`]. The cost of a page depends on `offset + limit` (and, for a search
    /// of several words or with a tag or author, on how many of the leading word's entries
    /// fail the filter), never on how many authors a user follows or how many articles exist.
    pub async fn list_articles(
        &self,
        filter: ListFilter,
        search: &ArticleSearch,
        page: Page,
        viewer: Option<&UserId>,
    ) -> StoreResult<ArticleList> {
        // The author's id, for a title search that narrows an author's articles.
        let mut author = None;
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
                    let list = (author_list(&user), key(author_count(&user), COUNT_SK));
                    author = Some(user);
                    list
                } else {
                    (favorites_list(&user), key(favorites_count(&user), COUNT_SK))
                }
            }
        };
        let mut query = EntryQuery {
            list,
            dates: &search.dates,
            filters: Vec::new(),
        };
        if let Some(title) = &search.title {
            query.list = word_list(title.leading());
            for word in title.others() {
                query.filter(|v| format!("contains(words, {v})"), word);
            }
            match (&filter, &author) {
                (ListFilter::All, _) => {}
                (ListFilter::Tag(tag), _) => query.filter(|v| format!("contains(tags, {v})"), tag.as_str()),
                (ListFilter::Author(_), Some(user)) => {
                    query.filter(|v| format!("author_id = {v}"), user.as_str())
                }
                _ => return Err(StoreError::Invalid("title", TITLE_WITH_A_USERS_LIST)),
            }
        }
        let maintained = search.title.is_none() && search.dates.is_unbounded();
        let (entries, count) = if maintained {
            (self.query_entries(&query, page).await?, None)
        } else {
            let (entries, count) =
                futures::try_join!(self.query_entries(&query, page), self.count_entries(&query))?;
            (entries, Some(count))
        };
        let mut keys = page_keys(&entries, viewer);
        if count.is_none() {
            keys.push(count_key.clone());
        }
        let items = self.batch_get(keys, &SUMMARY_FIELDS, false).await?;
        let count = match (count, items.get(&key_pair(&count_key))) {
            (Some(count), _) => count,
            (None, Some(item)) => from_item::<CountItem>(item.clone())?.n.max(0) as u64,
            (None, None) => 0,
        };
        Ok(ArticleList {
            articles: page_views(&items, &entries, viewer)?,
            count,
        })
    }

    /// The newest `offset + limit` entries the query finds, minus the first `offset`. A
    /// filtered query reads at least 100 entries a request, since DynamoDB applies the limit
    /// before the filter.
    async fn query_entries(&self, query: &EntryQuery<'_>, page: Page) -> StoreResult<Vec<EntryItem>> {
        let wanted = page.offset + page.limit;
        let floor = if query.filters.is_empty() { 1 } else { 100 };
        let mut entries = Vec::with_capacity(wanted);
        let mut start = None;
        loop {
            let remaining = (wanted - entries.len()).max(floor);
            let output = query
                .apply(self.client.query().table_name(&self.table))
                .scan_index_forward(false)
                .limit(i32::try_from(remaining).unwrap_or(i32::MAX))
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
        entries.truncate(wanted);
        Ok(entries.into_iter().skip(page.offset).collect())
    }

    /// How many entries the query finds, up to [`SEARCH_COUNT_CAP`].
    ///
    /// Access: `Query` with `Select=COUNT`, one request per 1 MB of entries in the range read
    /// (about 10,000 entries), until the cap.
    async fn count_entries(&self, query: &EntryQuery<'_>) -> StoreResult<u64> {
        let mut count = 0u64;
        let mut start = None;
        loop {
            let output = query
                .apply(self.client.query().table_name(&self.table))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query", e))?;
            count += u64::try_from(output.count).unwrap_or(0);
            start = output.last_evaluated_key;
            if start.is_none() || count >= SEARCH_COUNT_CAP {
                return Ok(count.min(SEARCH_COUNT_CAP));
            }
        }
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
