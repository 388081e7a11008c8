//! Lists kept in a global secondary index, newest first, paged by cursor: a user's orders, the
//! orders in one status, a user's uploads. One pager serves them all, and checks that a cursor
//! it is handed is one it handed out.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::AttributeValue;

use super::{Key, Store, StoreError, StoreResult, from_item};
use crate::domain::Cursor;

/// The table's global secondary indexes (`template.yaml` declares both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Index {
    /// `gsi1` (`gsi1pk`, `gsi1sk`): followers, favorites, a user's orders and uploads.
    Gsi1,
    /// `gsi2` (`gsi2pk`, `gsi2sk`): orders by status.
    Gsi2,
}

impl Index {
    /// The index's name.
    pub(super) fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => "gsi1",
            Index::Gsi2 => "gsi2",
        }
    }

    /// The index's key attributes: (partition, sort).
    pub(super) fn keys(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => ("gsi1pk", "gsi1sk"),
            Index::Gsi2 => ("gsi2pk", "gsi2sk"),
        }
    }
}

/// A cursor for a key given as (attribute, value) pairs.
pub(super) fn cursor_of<const N: usize>(pairs: [(&str, String); N]) -> Cursor {
    Cursor::new(
        pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect::<BTreeMap<_, _>>(),
    )
}

/// A list kept in an index, newest first: orders by user or status, uploads by owner.
pub(super) struct IndexList {
    /// The index the list is kept in.
    pub(super) index: Index,
    /// The list's partition in the index.
    pub(super) partition: String,
    /// A record's own key: `pk` prefix (before its id) and `sk`.
    pub(super) record: (&'static str, &'static str),
    /// Whether the text after the prefix is an id of this kind.
    pub(super) valid_id: fn(&str) -> bool,
    /// The operation, for errors (`Query orders`).
    pub(super) operation: &'static str,
}

impl IndexList {
    /// The `ExclusiveStartKey` from a cursor this list handed out: exactly a record's `pk`
    /// (prefix + a valid id) and `sk`, and the index key in this partition with a bounded sort
    /// key. Any other cursor is [`StoreError::BadCursor`].
    fn start(&self, cursor: Option<&Cursor>) -> StoreResult<Option<Key>> {
        let Some(cursor) = cursor else { return Ok(None) };
        let (ipk, isk) = self.index.keys();
        let (pk_prefix, sk) = self.record;
        let valid = cursor.attributes().len() == 4
            && cursor.get(ipk) == Some(self.partition.as_str())
            && cursor.get("sk") == Some(sk)
            && cursor
                .get("pk")
                .and_then(|pk| pk.strip_prefix(pk_prefix))
                .is_some_and(self.valid_id)
            && cursor.get(isk).is_some_and(|s| s.len() <= 100);
        if !valid {
            return Err(StoreError::BadCursor);
        }
        Ok(Some(
            cursor
                .attributes()
                .iter()
                .map(|(k, v)| (k.clone(), AttributeValue::S(v.clone())))
                .collect(),
        ))
    }
}

impl Store {
    /// One page of `list`, newest first, and the cursor of the next when there is one;
    /// `key_of` gives an item's record and index key attributes (the cursor).
    ///
    /// Access: one `Query` of the index, descending, `limit + 1` items — 1 round trip.
    pub(super) async fn index_page<T: serde::de::DeserializeOwned>(
        &self,
        list: IndexList,
        limit: usize,
        cursor: Option<&Cursor>,
        key_of: impl Fn(&T) -> [(&'static str, String); 4],
    ) -> StoreResult<(Vec<T>, Option<Cursor>)> {
        let start = list.start(cursor)?;
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(list.index.name())
            .key_condition_expression("#p = :p")
            .expression_attribute_names("#p", list.index.keys().0)
            .expression_attribute_values(":p", AttributeValue::S(list.partition))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(101))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| StoreError::sdk(list.operation, e))?;
        let mut items: Vec<T> = output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<anyhow::Result<_>>()?;
        let next = page_cursor(&mut items, limit, key_of);
        Ok((items, next))
    }
}

/// Keeps the first `limit` of `items` (read with one extra) and answers the cursor of the last
/// one kept when there were more.
pub(super) fn page_cursor<T, const N: usize>(
    items: &mut Vec<T>,
    limit: usize,
    key_of: impl Fn(&T) -> [(&'static str, String); N],
) -> Option<Cursor> {
    if items.len() <= limit {
        return None;
    }
    items.truncate(limit);
    items.last().map(|last| cursor_of(key_of(last)))
}
