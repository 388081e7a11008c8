//! Every key format of the table, in one place: nothing else spells `USER#…` or `LIST#…`.
//! The store modules, the stream processor and the tests build keys only through these.
//!
//! Values reach these functions already parsed (a `Username`, a `Slug`, an id read back from the
//! table), so no unbounded or unchecked string becomes a key.

use std::net::IpAddr;

use super::Key;
use crate::domain::{
    ArticleId, Category, Email, GatewayEventId, IdempotencyKey, OrderId, OrderStatus, ProductId, Slug, Tag,
    UploadId, UserId, Username,
};

/// Sort key of a user record.
pub const USER_SK: &str = "USER";
/// Sort key of a username guard.
pub const USERNAME_SK: &str = "USERNAME";
/// Sort key of an email guard.
pub const EMAIL_SK: &str = "EMAIL";
/// Sort key of an article record.
pub const ARTICLE_SK: &str = "ARTICLE";
/// Sort key of a slug guard.
pub const SLUG_SK: &str = "SLUG";
/// Sort key of a maintained count.
pub const COUNT_SK: &str = "COUNT";
/// Partition of tag counts (sort key: the tag).
pub const TAGS_PK: &str = "TAGS";
/// The list of every article.
pub const ALL_LIST: &str = "LIST#ALL";
/// The count of every article.
pub const ALL_COUNT: &str = "COUNT#ALL";
/// Prefix of a follow item's sort key (`FOLLOWS#<followee>`).
pub const FOLLOWS_PREFIX: &str = "FOLLOWS#";
/// Prefix of a comment's sort key inside its article's partition.
pub const COMMENT_PREFIX: &str = "COMMENT#";
/// Prefix of a user's favorites list.
const FAVORITES_PREFIX: &str = "LIST#FAV#";

/// The key `pk`/`sk`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Key {
    use aws_sdk_dynamodb::types::AttributeValue;
    [
        ("pk".to_owned(), AttributeValue::S(pk.into())),
        ("sk".to_owned(), AttributeValue::S(sk.into())),
    ]
    .into()
}

/// `USER#<id>`: a user's partition (record, follows).
pub fn user_pk(id: &UserId) -> String {
    format!("USER#{id}")
}

/// The key of a user's record.
pub fn user_key(id: &UserId) -> Key {
    key(user_pk(id), USER_SK)
}

/// `USERNAME#<lowercase>`: the guard that keeps a username unique.
pub fn username_pk(username: &Username) -> String {
    format!("USERNAME#{}", username.key())
}

/// `EMAIL#<lowercase>`: the guard that keeps an email unique.
pub fn email_pk(email: &Email) -> String {
    format!("EMAIL#{}", email.as_str())
}

/// Sort key of a failed-login counter.
pub const LOGIN_COUNTER_SK: &str = "LOGIN";

/// A login's source address as counters are keyed by: its canonical text (`unknown` when the
/// gateway gave none), bounded by construction and never holding a `#`.
fn address(source: Option<IpAddr>) -> String {
    source.map_or_else(|| "unknown".to_owned(), |ip| ip.to_string())
}

/// `THROTTLE#PAIR#<address>#<email>`: failed logins for one email from one address (the
/// address first: it never holds a `#`, so the key is unambiguous).
pub fn login_pair_counter(email: &Email, source: Option<IpAddr>) -> Key {
    key(
        format!("THROTTLE#PAIR#{}#{}", address(source), email.as_str()),
        LOGIN_COUNTER_SK,
    )
}

/// `THROTTLE#EMAIL#<email>`: failed logins for one email from every address.
pub fn login_email_counter(email: &Email) -> Key {
    key(format!("THROTTLE#EMAIL#{}", email.as_str()), LOGIN_COUNTER_SK)
}

/// `THROTTLE#SOURCE#<address>`: failed logins from one address for every email.
pub fn login_source_counter(source: Option<IpAddr>) -> Key {
    key(format!("THROTTLE#SOURCE#{}", address(source)), LOGIN_COUNTER_SK)
}

/// The key of "`follower` follows `followee`".
pub fn follow_key(follower: &UserId, followee: &UserId) -> Key {
    key(user_pk(follower), format!("{FOLLOWS_PREFIX}{followee}"))
}

/// `FOLLOWERS#<user>`: gsi1 partition of a user's followers.
pub fn followers_gsi(user: &UserId) -> String {
    format!("FOLLOWERS#{user}")
}

/// `ARTICLE#<id>`: an article's partition (record, comments).
pub fn article_pk(id: &ArticleId) -> String {
    format!("ARTICLE#{id}")
}

/// The key of an article's record.
pub fn article_key(id: &ArticleId) -> Key {
    key(article_pk(id), ARTICLE_SK)
}

/// `SLUG#<slug>`: the guard that maps a slug to its article.
pub fn slug_pk(slug: &Slug) -> String {
    format!("SLUG#{}", slug.as_str())
}

/// The key of a slug guard.
pub fn slug_key(slug: &Slug) -> Key {
    key(slug_pk(slug), SLUG_SK)
}

/// `LIST#AUTHOR#<user>`: the articles a user wrote.
pub fn author_list(user: &UserId) -> String {
    format!("LIST#AUTHOR#{user}")
}

/// `COUNT#AUTHOR#<user>`.
pub fn author_count(user: &UserId) -> String {
    format!("COUNT#AUTHOR#{user}")
}

/// `LIST#TAG#<tag>`: the articles carrying a tag.
pub fn tag_list(tag: &Tag) -> String {
    format!("LIST#TAG#{}", tag.as_str())
}

/// `LIST#FAV#<user>`: a user's favorites (each entry is the favorite itself).
pub fn favorites_list(user: &UserId) -> String {
    format!("{FAVORITES_PREFIX}{user}")
}

/// The user whose favorites list `pk` is.
pub fn favorites_owner(pk: &str) -> Option<UserId> {
    pk.strip_prefix(FAVORITES_PREFIX)
        .map(|id| UserId::from_trusted(id.to_owned()))
}

/// `COUNT#FAV#<user>`.
pub fn favorites_count(user: &UserId) -> String {
    format!("COUNT#FAV#{user}")
}

/// `FAVORITED#<article>`: gsi1 partition of who favorited an article.
pub fn favorited_gsi(article_id: &ArticleId) -> String {
    format!("FAVORITED#{article_id}")
}

/// `FEED#<user>`: the articles of the authors a user follows.
pub fn feed_list(user: &UserId) -> String {
    format!("FEED#{user}")
}

/// `COUNT#FEED#<user>`.
pub fn feed_count(user: &UserId) -> String {
    format!("COUNT#FEED#{user}")
}

/// `WORD#<word>`: the articles whose title has this word, newest first. `word` is one of
/// [`crate::domain::title_words`] (letters and digits only, at most 40 characters).
pub fn word_list(word: &str) -> String {
    format!("WORD#{word}")
}

/// A list entry's sort key: newest first when read backwards.
pub fn entry_sk(created_at: &str, article_id: &ArticleId) -> String {
    format!("{created_at}#{article_id}")
}

/// A comment's sort key, zero-padded so ids sort numerically.
pub fn comment_sk(id: u64) -> String {
    format!("{COMMENT_PREFIX}{id:010}")
}

/// Sort key of a product record.
pub const PRODUCT_SK: &str = "PRODUCT";
/// Prefix of a stock ledger entry's sort key, inside its product's partition.
pub const LEDGER_PREFIX: &str = "LEDGER#";
/// Sort key of an order record.
pub const ORDER_SK: &str = "ORDER";
/// Sort key of an idempotency record.
pub const IDEMPOTENCY_SK: &str = "IDEMPOTENCY";

/// `PRODUCT#<id>`: a product's partition (record, stock ledger).
pub fn product_pk(id: &ProductId) -> String {
    format!("PRODUCT#{id}")
}

/// The key of a product record.
pub fn product_key(id: &ProductId) -> Key {
    key(product_pk(id), PRODUCT_SK)
}

/// A ledger entry's sort key: the product's stock sequence number after the change,
/// zero-padded so entries sort in the order they happened.
pub fn ledger_sk(seq: u64) -> String {
    format!("{LEDGER_PREFIX}{seq:020}")
}

/// The catalog list a product appears in, newest first: `CATALOG#NEW` or `CATALOG#NEW#<cat>`.
pub fn catalog_newest(category: Option<&Category>) -> String {
    match category {
        Some(category) => format!("CATALOG#NEW#{}", category.as_str()),
        None => "CATALOG#NEW".to_owned(),
    }
}

/// The catalog list by price: `CATALOG#PRICE` or `CATALOG#PRICE#<cat>`.
pub fn catalog_by_price(category: Option<&Category>) -> String {
    match category {
        Some(category) => format!("CATALOG#PRICE#{}", category.as_str()),
        None => "CATALOG#PRICE".to_owned(),
    }
}

/// A price list entry's sort key: the amount zero-padded to 13 digits (the largest price has
/// 13), then the id, so entries sort by price and ranges are key conditions. `id` is a product
/// id, or a bound of a range (`""` sorts before every id, `"~"` after): hence text, not a
/// `ProductId`.
pub fn price_sk(amount: i64, id: &str) -> String {
    format!("{amount:013}#{id}")
}

/// Prefix of an order's partition (`ORDER#<id>`).
pub const ORDER_PREFIX: &str = "ORDER#";

/// The key of an order's record, in its partition `ORDER#<id>`.
pub fn order_key(id: &OrderId) -> Key {
    key(format!("{ORDER_PREFIX}{id}"), ORDER_SK)
}

/// gsi1 partition of a user's orders.
pub fn orders_of(user: &UserId) -> String {
    format!("ORDERS#USER#{user}")
}

/// gsi2 partition of the orders in one status.
pub fn orders_in(status: OrderStatus) -> String {
    format!("ORDERS#STATUS#{}", status.as_str())
}

/// gsi2 sort key of an order: while awaiting payment its expiry (so the due ones are a key
/// range), otherwise its creation time; then the id.
pub fn order_status_sk(at: &str, id: &str) -> String {
    format!("{at}#{id}")
}

/// The upper bound of the awaiting-payment orders due at `now`: every sort key that starts
/// with a time at or before it.
pub fn due_before(now: &str) -> String {
    format!("{now}#~")
}

/// Sort key of a processed gateway event.
pub const PAYMENT_EVENT_SK: &str = "PAYMENT_EVENT";

/// The key of a processed gateway event (`PAYMENT_EVENT#<id>`): its existence is what makes
/// a redelivery a no-op.
pub fn payment_event_key(id: &GatewayEventId) -> Key {
    key(format!("PAYMENT_EVENT#{}", id.as_str()), PAYMENT_EVENT_SK)
}

/// Sort key of an upload record.
pub const UPLOAD_SK: &str = "UPLOAD";
/// Prefix of an upload's partition (`UPLOAD#<id>`).
pub const UPLOAD_PREFIX: &str = "UPLOAD#";

/// `UPLOAD#<id>`: an upload's partition.
pub fn upload_pk(id: &UploadId) -> String {
    format!("{UPLOAD_PREFIX}{id}")
}

/// `UPLOADS#<user>`: gsi1 partition of a user's uploads, newest first.
pub fn uploads_gsi(owner: &UserId) -> String {
    format!("UPLOADS#{}", owner.as_str())
}

/// The idempotency record of `user`'s `key`: keys are scoped to the caller, as Stripe's are.
pub fn idempotency_key(user: &UserId, idempotency_key: &IdempotencyKey) -> Key {
    key(
        format!("IDEMPOTENCY#{user}#{}", idempotency_key.as_str()),
        IDEMPOTENCY_SK,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_and_emails_are_keyed_case_insensitively() {
        let a = Username::parse(Some("Jake")).unwrap();
        let b = Username::parse(Some("jake")).unwrap();
        assert_eq!(username_pk(&a), username_pk(&b));
        let email = Email::parse(Some("Jake@Example.com")).unwrap();
        assert_eq!(email_pk(&email), "EMAIL#jake@example.com");
    }

    #[test]
    fn comment_keys_sort_in_id_order_and_favorites_name_their_owner() {
        assert!(comment_sk(9) < comment_sk(10));
        let owner = UserId::from_trusted("u1".to_owned());
        assert_eq!(favorites_owner(&favorites_list(&owner)), Some(owner));
        assert_eq!(favorites_owner("LIST#ALL"), None);
    }
}
