//! A small builder for `TransactWriteItems`, so each aggregate states *what* it writes and
//! under which condition, and reads cancellation reasons back by the index `push` returned.

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use serde::Serialize;

use super::{key, to_item};

/// The writes of one transaction, in order.
pub(super) struct Tx<'a> {
    table: &'a str,
    pub(super) items: Vec<TransactWriteItem>,
}

/// A condition with its placeholder values, e.g. `("author_id = :me", [(":me", …)])`.
pub(super) type Condition<'c> = (&'c str, Vec<(&'c str, AttributeValue)>);

impl<'a> Tx<'a> {
    pub(super) fn new(table: &'a str) -> Self {
        Self {
            table,
            items: Vec::new(),
        }
    }

    fn push(&mut self, item: TransactWriteItem) -> usize {
        self.items.push(item);
        self.items.len() - 1
    }

    /// Puts an item that must not exist yet. Returns its index.
    pub(super) fn put_new(&mut self, item: &impl Serialize) -> anyhow::Result<usize> {
        self.put(item, Some(("attribute_not_exists(pk)", vec![])))
    }

    /// Puts an item, optionally conditioned.
    pub(super) fn put(
        &mut self,
        item: &impl Serialize,
        condition: Option<Condition<'_>>,
    ) -> anyhow::Result<usize> {
        let mut put = Put::builder()
            .table_name(self.table)
            .set_item(Some(to_item(item)?));
        if let Some((expression, values)) = condition {
            put = put.condition_expression(expression);
            for (name, value) in values {
                put = put.expression_attribute_values(name, value);
            }
        }
        Ok(self.push(TransactWriteItem::builder().put(put.build()?).build()))
    }

    /// Makes `item` (keyed `pk`/`sk`) a member or not: put on condition it is absent, or delete
    /// on condition it is present. A repeat fails its condition, so it can never be applied
    /// twice — pair it with a count change in the same transaction. Returns its index.
    pub(super) fn set_member(
        &mut self,
        item: &impl Serialize,
        pk: &str,
        sk: &str,
        member: bool,
    ) -> anyhow::Result<usize> {
        if member {
            self.put_new(item)
        } else {
            self.delete(pk.to_owned(), sk, Some(("attribute_exists(pk)", vec![])))
        }
    }

    /// Deletes `pk`/`sk`, optionally conditioned.
    pub(super) fn delete(
        &mut self,
        pk: String,
        sk: &str,
        condition: Option<Condition<'_>>,
    ) -> anyhow::Result<usize> {
        self.delete_named(pk, sk, &[], condition)
    }

    /// [`Tx::delete`] with a condition naming attributes through `#placeholders`.
    pub(super) fn delete_named(
        &mut self,
        pk: String,
        sk: &str,
        names: &[(&str, &str)],
        condition: Option<Condition<'_>>,
    ) -> anyhow::Result<usize> {
        let mut delete = Delete::builder()
            .table_name(self.table)
            .set_key(Some(key(pk, sk)));
        for (placeholder, name) in names {
            delete = delete.expression_attribute_names(*placeholder, *name);
        }
        if let Some((expression, values)) = condition {
            delete = delete.condition_expression(expression);
            for (name, value) in values {
                delete = delete.expression_attribute_values(name, value);
            }
        }
        Ok(self.push(TransactWriteItem::builder().delete(delete.build()?).build()))
    }

    /// Adds `delta` to the counter `n` of `pk`/`sk`, creating it at 0 if missing.
    pub(super) fn add_count(&mut self, pk: String, sk: &str, delta: i64) -> anyhow::Result<usize> {
        self.update(pk, sk, "ADD n :delta", vec![(":delta", number(delta))], None)
    }

    /// Any update expression, optionally conditioned.
    pub(super) fn update(
        &mut self,
        pk: String,
        sk: &str,
        expression: &str,
        values: Vec<(&str, AttributeValue)>,
        condition: Option<&str>,
    ) -> anyhow::Result<usize> {
        self.update_named(pk, sk, expression, &[], values, condition)
    }

    /// An update whose expressions name attributes through `#placeholders` (for reserved words
    /// such as `status`).
    pub(super) fn update_named(
        &mut self,
        pk: String,
        sk: &str,
        expression: &str,
        names: &[(&str, &str)],
        values: Vec<(&str, AttributeValue)>,
        condition: Option<&str>,
    ) -> anyhow::Result<usize> {
        let mut update = Update::builder()
            .table_name(self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression(expression);
        for (placeholder, name) in names {
            update = update.expression_attribute_names(*placeholder, *name);
        }
        for (name, value) in values {
            update = update.expression_attribute_values(name, value);
        }
        if let Some(condition) = condition {
            update = update.condition_expression(condition);
        }
        Ok(self.push(TransactWriteItem::builder().update(update.build()?).build()))
    }
}

/// A DynamoDB number.
pub(super) fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}
