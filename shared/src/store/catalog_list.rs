//! The public catalog, read: one catalog list per query (newest first, or by price as a key
//! range), then the page's products in one batch.

use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::AttributeValue;

use super::catalog::{CatalogEntry, ProductItem};
use super::index_list::cursor_of;
use super::keys::{PRODUCT_SK, catalog_by_price, catalog_newest, key, price_sk, product_key, product_pk};
use super::tx::number;
use super::{Key, Store, StoreError, StoreResult, from_item, key_pair};
use crate::domain::{Cursor, Money, Product, ProductId, ProductQuery, ProductSort, ProductStatus};

/// The most queries one page may take when a price filter leaves most entries out.
const MAX_QUERIES: usize = 5;

/// What a catalog query reads: which list, which key range, and whether a filter applies.
struct CatalogRead<'a> {
    query: &'a ProductQuery,
    /// The catalog list's partition.
    pk: String,
    /// A price-ordered list, where the price range is a key condition.
    by_price: bool,
    /// The range's bounds as sort keys.
    low: String,
    high: String,
    /// A newest-first list with a price range: entries are filtered by the price they carry.
    filter: bool,
}

impl<'a> CatalogRead<'a> {
    fn new(query: &'a ProductQuery) -> Self {
        let by_price = query.sort != ProductSort::Newest;
        let pk = if by_price {
            catalog_by_price(query.category.as_ref())
        } else {
            catalog_newest(query.category.as_ref())
        };
        Self {
            query,
            pk,
            by_price,
            low: price_sk(query.min_price.unwrap_or(0), ""),
            high: price_sk(query.max_price.unwrap_or(Money::MAX_AMOUNT), "~"),
            filter: !by_price && (query.min_price.is_some() || query.max_price.is_some()),
        }
    }

    /// An empty price range matches nothing (and is no key condition DynamoDB would take).
    fn is_empty_range(&self) -> bool {
        self.query.min_price.unwrap_or(0) > self.query.max_price.unwrap_or(Money::MAX_AMOUNT)
    }

    /// The `ExclusiveStartKey` from a cursor this list handed out; any other is
    /// [`StoreError::BadCursor`].
    fn start(&self, cursor: Option<&Cursor>) -> StoreResult<Option<Key>> {
        let Some(cursor) = cursor else { return Ok(None) };
        let sk = cursor.get("sk").ok_or(StoreError::BadCursor)?;
        let in_range = !self.by_price || (self.low.as_str() <= sk && sk <= self.high.as_str());
        if cursor.get("pk") != Some(self.pk.as_str())
            || cursor.attributes().len() != 2
            || sk.len() > 100
            || !in_range
        {
            return Err(StoreError::BadCursor);
        }
        Ok(Some(key(self.pk.clone(), sk)))
    }

    /// One `Query` of the list from `start`, for a page that has `have` entries so far.
    fn request(&self, query: QueryFluentBuilder, start: Option<Key>, have: usize) -> QueryFluentBuilder {
        // A filtered read keeps reading full pages of entries: most may not match.
        let wanted = if self.filter {
            100
        } else {
            self.query.limit + 1 - have
        };
        let mut request = query
            .expression_attribute_values(":pk", AttributeValue::S(self.pk.clone()))
            .scan_index_forward(self.query.sort == ProductSort::PriceAsc)
            .set_exclusive_start_key(start)
            .limit(i32::try_from(wanted).unwrap_or(100));
        if self.by_price {
            request = request
                .key_condition_expression("pk = :pk AND sk BETWEEN :low AND :high")
                .expression_attribute_values(":low", AttributeValue::S(self.low.clone()))
                .expression_attribute_values(":high", AttributeValue::S(self.high.clone()));
        } else {
            request = request.key_condition_expression("pk = :pk");
        }
        if self.filter {
            request = request
                .filter_expression("price_amount BETWEEN :min AND :max")
                .expression_attribute_values(":min", number(self.query.min_price.unwrap_or(0)))
                .expression_attribute_values(
                    ":max",
                    number(self.query.max_price.unwrap_or(Money::MAX_AMOUNT)),
                );
        }
        request
    }
}

impl Store {
    /// One page of the public catalog.
    ///
    /// Access: `Query` of one catalog list (`CATALOG#NEW[#<cat>]` newest first, or
    /// `CATALOG#PRICE[#<cat>]` with the price range as a key condition), then one
    /// `BatchGetItem` of the page's products — 2 round trips. A newest-first list with a price
    /// range filters its entries by the price they carry; a sparse range may take a few more
    /// queries (at most 5) before a page is full, and hands back a cursor to continue from.
    pub async fn list_products(
        &self,
        query: &ProductQuery,
        cursor: Option<&Cursor>,
    ) -> StoreResult<(Vec<Product>, Option<Cursor>)> {
        let read = CatalogRead::new(query);
        if read.is_empty_range() {
            return Ok((Vec::new(), None));
        }
        let start = read.start(cursor)?;
        let (entries, next) = self.catalog_entries(&read, start).await?;
        if entries.is_empty() && next.is_none() {
            return Ok((Vec::new(), None));
        }
        Ok((self.products_on_sale(&entries).await?, next))
    }

    /// A page of `read`'s entries from `start`, and the cursor to continue from.
    async fn catalog_entries(
        &self,
        read: &CatalogRead<'_>,
        mut start: Option<Key>,
    ) -> StoreResult<(Vec<CatalogEntry>, Option<Cursor>)> {
        let limit = read.query.limit;
        let mut entries: Vec<CatalogEntry> = Vec::with_capacity(limit + 1);
        for _ in 0..MAX_QUERIES {
            let output = read
                .request(
                    self.client.query().table_name(&self.table),
                    start.take(),
                    entries.len(),
                )
                .send()
                .await
                .map_err(|e| StoreError::sdk("Query catalog", e))?;
            for item in output.items.unwrap_or_default() {
                entries.push(from_item(item)?);
            }
            start = output.last_evaluated_key.filter(|k| !k.is_empty());
            if entries.len() > limit || start.is_none() {
                break;
            }
        }
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries
                .last()
                .map(|e| cursor_of([("pk", e.pk.clone()), ("sk", e.sk.clone())]))
        } else {
            // The query budget ran out before the page filled: continue where it stopped.
            start.map(|k| {
                let (pk, sk) = key_pair(&k);
                cursor_of([("pk", pk), ("sk", sk)])
            })
        };
        Ok((entries, next))
    }

    /// The products `entries` name, in their order, leaving out any archived between the list
    /// read and this one.
    async fn products_on_sale(&self, entries: &[CatalogEntry]) -> StoreResult<Vec<Product>> {
        let keys = entries
            .iter()
            .map(|e| product_key(&ProductId::from_trusted(e.product_id.clone())))
            .collect();
        let mut items = self.batch_get(keys, &[], false).await?;
        let mut products = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = ProductId::from_trusted(entry.product_id.clone());
            if let Some(item) = items.remove(&(product_pk(&id), PRODUCT_SK.to_owned())) {
                let item: ProductItem = from_item(item)?;
                if item.status == ProductStatus::Active {
                    products.push(item.into_product());
                }
            }
        }
        Ok(products)
    }
}
