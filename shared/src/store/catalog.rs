//! Products, the catalog lists and the stock ledger.
//!
//! | item          | pk                       | sk                         | holds |
//! |---------------|--------------------------|----------------------------|-------|
//! | product       | `PRODUCT#<id>`           | `PRODUCT`                  | fields, stock, status, version, stock_seq |
//! | ledger entry  | `PRODUCT#<id>`           | `LEDGER#<stock_seq>`       | delta, stock_after, reason, order_id / admin_id, at |
//! | catalog entry | `CATALOG#NEW[#<cat>]`    | `<created_at>#<id>`        | product_id, price_amount |
//! | catalog entry | `CATALOG#PRICE[#<cat>]`  | `<amount:013>#<id>`        | product_id, price_amount |
//!
//! Stock moves only together with a ledger entry, in one transaction: the product's update is
//! conditioned on the `stock_seq` it was read at and the entry's key is the next `stock_seq`,
//! so the ledger is a gap-free sequence whose `stock_after` is exact and whose deltas always
//! sum to the stock. Only active products have catalog entries (four: newest and by price,
//! all and in their category), so archiving takes a product out of every public list.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

use super::index_list::page_cursor;
use super::keys::{
    LEDGER_PREFIX, PRODUCT_SK, catalog_by_price, catalog_newest, key, ledger_sk, price_sk, product_key,
    product_pk,
};
use super::tx::{Tx, number};
use super::uploads::{attach, detach};
use super::{Store, StoreError, StoreResult, TransactFailure, from_item, item_pair};
use crate::domain::{
    Attachment, Category, Currency, Cursor, LedgerEntry, MAX_STOCK, Money, NewProduct, Product,
    ProductChanges, ProductId, ProductStatus, Purpose, StockChange, UploadId, UserId, now_timestamp,
};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ProductItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) description: String,
    pub(super) category: String,
    pub(super) price_amount: i64,
    pub(super) currency: String,
    pub(super) stock: i64,
    pub(super) status: ProductStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) image: Option<String>,
    pub(super) created_at: String,
    pub(super) updated_at: String,
    /// Bumped by every write, so an admin's read-modify-write conditions on what it read.
    pub(super) version: u64,
    /// Bumped by every stock change; the ledger entry of a change is keyed by its new value.
    pub(super) stock_seq: u64,
}

impl ProductItem {
    pub(super) fn into_product(self) -> Product {
        Product {
            id: ProductId::from_trusted(self.id),
            name: self.name,
            description: self.description,
            category: Category::from_trusted(self.category),
            price: Money::from_trusted(self.price_amount, Currency::from_trusted(self.currency)),
            stock: self.stock,
            status: self.status,
            image: self.image.map(UploadId::from_trusted),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// The catalog entries this product should have: none once archived.
    fn catalog_keys(&self) -> Vec<(String, String)> {
        if self.status != ProductStatus::Active {
            return Vec::new();
        }
        let category = Category::from_trusted(self.category.clone());
        let newest = format!("{}#{}", self.created_at, self.id);
        let by_price = price_sk(self.price_amount, &self.id);
        vec![
            (catalog_newest(None), newest.clone()),
            (catalog_newest(Some(&category)), newest),
            (catalog_by_price(None), by_price.clone()),
            (catalog_by_price(Some(&category)), by_price),
        ]
    }
}

/// An entry of a catalog list: the product's id, and its price to filter on.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct CatalogEntry {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) product_id: String,
    /// Copied so a newest-first list can filter by price without reading products.
    pub(super) price_amount: i64,
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct LedgerItem {
    pub(super) pk: String,
    pub(super) sk: String,
    pub(super) delta: i64,
    pub(super) stock_after: i64,
    pub(super) reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) order_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(super) admin_id: Option<String>,
    pub(super) at: String,
}

impl LedgerItem {
    fn into_entry(self) -> LedgerEntry {
        LedgerEntry {
            delta: self.delta,
            stock_after: self.stock_after,
            reason: self.reason,
            order_id: self.order_id,
            admin_id: self.admin_id,
            at: self.at,
        }
    }
}

/// Who changed the stock, for the ledger.
pub(super) enum Cause<'a> {
    Order(&'a str),
    Cancel(&'a str),
    Expire(&'a str),
    Admin(&'a UserId, &'a str),
}

/// Adds to `tx` a stock change of `delta` on `product` (as read) and its ledger entry. The
/// update is conditioned on the product still being at the `stock_seq` it was read at, and,
/// for an order, on enough stock and an active status. Returns the product update's index.
pub(super) fn stock_change(
    tx: &mut Tx<'_>,
    product: &ProductItem,
    delta: i64,
    cause: Cause<'_>,
    now: &str,
) -> anyhow::Result<usize> {
    let next = product.stock_seq + 1;
    let mut condition = "stock_seq = :seq".to_owned();
    let mut values = vec![
        (":delta", number(delta)),
        (":seq", number(product.stock_seq)),
        (":next", number(next)),
        (":one", number(1)),
        (":now", AttributeValue::S(now.to_owned())),
    ];
    let mut names: Vec<(&str, &str)> = Vec::new();
    if let Cause::Order(_) = cause {
        condition.push_str(" AND stock >= :need AND #status = :active");
        values.push((":need", number(-delta)));
        values.push((
            ":active",
            AttributeValue::S(ProductStatus::Active.as_str().into()),
        ));
        names.push(("#status", "status"));
    }
    let index = tx.update_named(
        product.pk.clone(),
        PRODUCT_SK,
        "SET stock = stock + :delta, stock_seq = :next, version = version + :one, updated_at = :now",
        &names,
        values,
        Some(&condition),
    )?;
    // Ask for the product as it is when the condition fails: the caller retries without a read.
    if let Some(update) = tx.items[index].update.as_mut() {
        update.return_values_on_condition_check_failure = Some(ReturnValuesOnConditionCheckFailure::AllOld);
    }
    let (reason, order_id, admin_id) = match cause {
        Cause::Order(order) => ("order".to_owned(), Some(order.to_owned()), None),
        Cause::Cancel(order) => ("cancel".to_owned(), Some(order.to_owned()), None),
        Cause::Expire(order) => ("expired".to_owned(), Some(order.to_owned()), None),
        Cause::Admin(admin, reason) => (reason.to_owned(), None, Some(admin.to_string())),
    };
    tx.put_new(&LedgerItem {
        pk: product.pk.clone(),
        sk: ledger_sk(next),
        delta,
        stock_after: product.stock + delta,
        reason,
        order_id,
        admin_id,
        at: now.to_owned(),
    })?;
    Ok(index)
}

/// A read-modify-write loses to a concurrent write at most this many times before the caller
/// is told to retry.
const ATTEMPTS: usize = 5;

impl Store {
    /// Creates a product, its catalog entries and, when it starts with stock, the ledger's
    /// first entry.
    ///
    /// Access: `TransactWriteItems` of the product (`attribute_not_exists`), 4 catalog entries
    /// and at most 1 ledger entry — 1 round trip.
    pub async fn create_product(&self, new: NewProduct, admin: &UserId) -> StoreResult<Product> {
        let id = ProductId::generate();
        let now = now_timestamp();
        let item = ProductItem {
            pk: product_pk(&id),
            sk: PRODUCT_SK.into(),
            id: id.to_string(),
            name: new.name,
            description: new.description,
            category: new.category.as_str().to_owned(),
            price_amount: new.price.amount(),
            currency: new.price.currency().as_str().to_owned(),
            stock: new.stock,
            status: ProductStatus::Active,
            image: new.image.as_ref().map(UploadId::to_string),
            created_at: now.clone(),
            updated_at: now.clone(),
            version: 1,
            stock_seq: u64::from(new.stock > 0),
        };
        let mut tx = Tx::new(&self.table);
        tx.put_new(&item)?;
        put_catalog_entries(&mut tx, &item, &item.catalog_keys())?;
        let attach_at = match &new.image {
            Some(upload) => Some(attach(
                &mut tx,
                upload,
                admin,
                Purpose::Product,
                &Attachment::Product(id.clone()),
            )?),
            None => None,
        };
        if new.stock > 0 {
            tx.put_new(&LedgerItem {
                pk: item.pk.clone(),
                sk: ledger_sk(1),
                delta: new.stock,
                stock_after: new.stock,
                reason: "initial stock".into(),
                order_id: None,
                admin_id: Some(admin.to_string()),
                at: now,
            })?;
        }
        match self.transact(tx.items).await {
            Ok(()) => Ok(item.into_product()),
            Err(TransactFailure::Cancelled(codes))
                if attach_at.is_some_and(|at| TransactFailure::failed_at(&codes, at)) =>
            {
                Err(not_a_product_upload())
            }
            Err(TransactFailure::Cancelled(codes)) => {
                Err(anyhow::anyhow!("product creation cancelled: {codes:?}").into())
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// Reads a product, archived or not.
    ///
    /// Access: `GetItem PRODUCT#<id>/PRODUCT`, strongly consistent — 1 round trip.
    pub async fn get_product(&self, id: &ProductId) -> StoreResult<Option<Product>> {
        Ok(self.product_item(id).await?.map(ProductItem::into_product))
    }

    async fn product_item(&self, id: &ProductId) -> StoreResult<Option<ProductItem>> {
        self.get_consistent(product_key(id)).await
    }

    /// Applies `changes`, moving the product's catalog entries when its price or category
    /// changes.
    ///
    /// Access: `GetItem` of the product, then one `TransactWriteItems` of the product
    /// (conditioned on the `version` read) and the catalog entries that change — 2 round trips.
    ///
    /// A new `image` (an upload id) attaches that upload — only `admin`'s own ready `product`
    /// upload, else `Rejected` — and releases the one it replaces, in the same transaction.
    pub async fn update_product(
        &self,
        id: &ProductId,
        changes: &ProductChanges,
        admin: &UserId,
    ) -> StoreResult<Product> {
        let mut release = true;
        for _ in 0..ATTEMPTS {
            let current = self
                .product_item(id)
                .await?
                .ok_or(StoreError::NotFound("product"))?;
            let mut next = current.clone();
            if let Some(name) = &changes.name {
                next.name.clone_from(name);
            }
            if let Some(description) = &changes.description {
                next.description.clone_from(description);
            }
            if let Some(category) = &changes.category {
                next.category = category.as_str().to_owned();
            }
            if let Some(price) = &changes.price {
                next.price_amount = price.amount();
                next.currency = price.currency().as_str().to_owned();
            }
            if let Some(image) = &changes.image {
                next.image = image.as_ref().map(UploadId::to_string);
            }
            next.updated_at = now_timestamp();
            next.version += 1;
            let images = ImageChange { admin, release };
            match self.rewrite(&current, &next, Some(images)).await? {
                Rewrite::Done => return Ok(next.into_product()),
                Rewrite::Changed => {}
                Rewrite::ReleaseFailed => release = false,
            }
        }
        Err(StoreError::Contended("product"))
    }

    /// Takes a product out of the catalog. Orders keep showing it; admins can still read it.
    /// Archiving an archived product changes nothing.
    ///
    /// Access: `GetItem`, then `TransactWriteItems` of the product and the deletion of its 4
    /// catalog entries — 2 round trips.
    pub async fn archive_product(&self, id: &ProductId) -> StoreResult<()> {
        for _ in 0..ATTEMPTS {
            let current = self
                .product_item(id)
                .await?
                .ok_or(StoreError::NotFound("product"))?;
            if current.status != ProductStatus::Active {
                return Ok(());
            }
            let mut next = current.clone();
            next.status = ProductStatus::Archived;
            next.updated_at = now_timestamp();
            next.version += 1;
            if let Rewrite::Done = self.rewrite(&current, &next, None).await? {
                return Ok(());
            }
        }
        Err(StoreError::Contended("product"))
    }

    /// Writes `next` over `current` if nobody changed it since it was read (`version`), with
    /// the catalog entries moved to match, and (with `images`) the uploads its image names
    /// attached and released.
    async fn rewrite(
        &self,
        current: &ProductItem,
        next: &ProductItem,
        images: Option<ImageChange<'_>>,
    ) -> StoreResult<Rewrite> {
        let mut tx = Tx::new(&self.table);
        tx.put(
            next,
            Some(("version = :read", vec![(":read", number(current.version))])),
        )?;
        let (mut attach_at, mut release_at) = (None, None);
        if let Some(images) = images {
            let old = current.image.as_deref().and_then(UploadId::parse);
            let new = next.image.as_deref().and_then(UploadId::parse);
            if old != new {
                let to = Attachment::Product(ProductId::from_trusted(next.id.clone()));
                if let Some(new) = &new {
                    attach_at = Some(attach(&mut tx, new, images.admin, Purpose::Product, &to)?);
                }
                if let Some(old) = old.filter(|_| images.release) {
                    release_at = Some(detach(&mut tx, &old, &to)?);
                }
            }
        }
        let before = current.catalog_keys();
        let after = next.catalog_keys();
        for (pk, sk) in before.iter().filter(|k| !after.contains(k)) {
            tx.delete(pk.clone(), sk, None)?;
        }
        // Entries that stay are rewritten too: they carry the price a newest-first list filters on.
        put_catalog_entries(&mut tx, next, &after)?;
        match self.transact(tx.items).await {
            Ok(()) => Ok(Rewrite::Done),
            Err(TransactFailure::Cancelled(codes)) => {
                let failed = |at: Option<usize>| at.is_some_and(|at| TransactFailure::failed_at(&codes, at));
                if failed(attach_at) {
                    Err(not_a_product_upload())
                } else if failed(release_at) {
                    Ok(Rewrite::ReleaseFailed)
                } else {
                    Ok(Rewrite::Changed)
                }
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// An admin's stock change, with its ledger entry. Stock never goes below zero.
    ///
    /// Access: `GetItem`, then `TransactWriteItems` of the product update (conditioned on the
    /// `stock_seq` read) and the ledger entry — 2 round trips; again from the read if another
    /// change landed in between.
    pub async fn adjust_stock(
        &self,
        id: &ProductId,
        change: &StockChange,
        admin: &UserId,
    ) -> StoreResult<Product> {
        for _ in 0..ATTEMPTS * 2 {
            let current = self
                .product_item(id)
                .await?
                .ok_or(StoreError::NotFound("product"))?;
            let after = current.stock + change.delta;
            if after < 0 {
                return Err(StoreError::Conflict(vec![(
                    "stock".into(),
                    format!("would fall below zero: {} in stock", current.stock),
                )]));
            }
            if after > MAX_STOCK {
                return Err(StoreError::Conflict(vec![(
                    "stock".into(),
                    format!("would rise above {MAX_STOCK}: {} in stock", current.stock),
                )]));
            }
            let now = now_timestamp();
            let mut tx = Tx::new(&self.table);
            stock_change(
                &mut tx,
                &current,
                change.delta,
                Cause::Admin(admin, &change.reason),
                &now,
            )?;
            match self.transact(tx.items).await {
                Ok(()) => {
                    let mut product = current.into_product();
                    product.stock = after;
                    product.updated_at = now;
                    return Ok(product);
                }
                Err(TransactFailure::Cancelled(_)) => {}
                Err(TransactFailure::Other(error)) => return Err(error),
            }
        }
        Err(StoreError::Contended("stock"))
    }

    /// A product's stock ledger, newest first, `limit` entries from `cursor`. `None` when the
    /// product does not exist.
    ///
    /// Access: one `Query` of the product's partition from `PRODUCT` down through its
    /// `LEDGER#` entries, strongly consistent: the first page's first item is the product
    /// itself, which proves it exists — 1 round trip.
    pub async fn stock_history(
        &self,
        id: &ProductId,
        limit: usize,
        cursor: Option<&Cursor>,
    ) -> StoreResult<Option<(Vec<LedgerEntry>, Option<Cursor>)>> {
        let pk = product_pk(id);
        let start = match cursor {
            Some(cursor) => {
                let sk = cursor.get("sk").ok_or(StoreError::BadCursor)?;
                if cursor.get("pk") != Some(pk.as_str())
                    || cursor.attributes().len() != 2
                    || !sk.starts_with(LEDGER_PREFIX)
                    || sk.len() != LEDGER_PREFIX.len() + 20
                {
                    return Err(StoreError::BadCursor);
                }
                Some(key(pk.clone(), sk))
            }
            None => None,
        };
        let first_page = start.is_none();
        let want = limit + 1 + usize::from(first_page);
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":from", AttributeValue::S(LEDGER_PREFIX.into()))
            .expression_attribute_values(":to", AttributeValue::S(PRODUCT_SK.into()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(want).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::sdk("Query stock ledger", e))?;
        let mut items = output.items.unwrap_or_default().into_iter();
        if first_page {
            match items.next() {
                Some(first) if item_pair(&first).is_some_and(|(_, sk)| sk == PRODUCT_SK) => {}
                _ => return Ok(None),
            }
        }
        let mut entries: Vec<(String, LedgerItem)> = Vec::with_capacity(limit + 1);
        for item in items {
            let ledger: LedgerItem = from_item(item)?;
            entries.push((ledger.sk.clone(), ledger));
        }
        let next = page_cursor(&mut entries, limit, |(sk, ledger)| {
            [("pk", ledger.pk.clone()), ("sk", sk.clone())]
        });
        Ok(Some((
            entries.into_iter().map(|(_, l)| l.into_entry()).collect(),
            next,
        )))
    }
}

/// Puts the catalog entries `keys` for `product`.
fn put_catalog_entries(
    tx: &mut Tx<'_>,
    product: &ProductItem,
    keys: &[(String, String)],
) -> anyhow::Result<()> {
    for (pk, sk) in keys {
        tx.put(
            &CatalogEntry {
                pk: pk.clone(),
                sk: sk.clone(),
                product_id: product.id.clone(),
                price_amount: product.price_amount,
            },
            None,
        )?;
    }
    Ok(())
}

/// How a product's image change treats uploads.
#[derive(Clone, Copy)]
struct ImageChange<'a> {
    /// Who attaches (only their own uploads can be).
    admin: &'a UserId,
    /// Whether to release the upload the old image named (not when it is no longer attached
    /// here).
    release: bool,
}

/// What a rewrite did.
enum Rewrite {
    Done,
    /// The product changed since it was read: read it again.
    Changed,
    /// The upload the old image named is not attached here: go on without releasing it.
    ReleaseFailed,
}

fn not_a_product_upload() -> StoreError {
    StoreError::Rejected(vec![(
        "image".into(),
        "names an upload that is not your own ready product upload".into(),
    )])
}
