//! Profiles and follows.
//!
//! | item   | pk                 | sk                    | gsi1pk                  | gsi1sk            |
//! |--------|--------------------|-----------------------|-------------------------|-------------------|
//! | follow | `USER#<follower>`  | `FOLLOWS#<followee>`  | `FOLLOWERS#<followee>`  | `USER#<follower>` |
//!
//! "Does the viewer follow X" is a key lookup, batched with whatever else a response needs;
//! "who follows X" (for feed fan-out) is a query on `gsi1`.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::batch::Items;
use super::entries::{EntryItem, FOLLOW_FIRST_PAGE};
use super::keys::{
    COUNT_SK, USERNAME_SK, feed_count, follow_key, followers_gsi, key, user_key, user_pk, username_pk,
};
use super::tx::Tx;
use super::{Key, Store, StoreError, StoreResult, TransactFailure, from_item, key_pair};
use crate::domain::{Profile, UserId, Username};

/// The user attributes a profile shows (never the email or the password hash).
pub(super) const PROFILE_FIELDS: [&str; 3] = ["username", "bio", "image"];

#[derive(Debug, Deserialize)]
pub(super) struct ProfileFields {
    pub(super) username: String,
    #[serde(default)]
    pub(super) bio: Option<String>,
    #[serde(default)]
    pub(super) image: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FollowItem {
    pk: String,
    sk: String,
    gsi1pk: String,
    gsi1sk: String,
    follower_id: UserId,
    followee_id: UserId,
}

/// Keys to read so [`profile_from`] can show `authors` to `viewer`.
pub(super) fn profile_keys<'a>(
    authors: impl IntoIterator<Item = &'a UserId>,
    viewer: Option<&UserId>,
) -> Vec<Key> {
    let mut keys = Vec::new();
    for author in authors {
        keys.push(user_key(author));
        if let Some(viewer) = viewer.filter(|v| *v != author) {
            keys.push(follow_key(viewer, author));
        }
    }
    keys
}

/// `author` as `viewer` sees them, from a batch read made with [`profile_keys`].
pub(super) fn profile_from(
    items: &Items,
    author: &UserId,
    viewer: Option<&UserId>,
) -> anyhow::Result<Option<Profile>> {
    let Some(user) = items.get(&key_pair(&user_key(author))) else {
        return Ok(None);
    };
    let fields: ProfileFields = from_item(user.clone())?;
    let following = viewer.is_some_and(|v| items.contains_key(&key_pair(&follow_key(v, author))));
    Ok(Some(Profile {
        username: fields.username,
        bio: fields.bio,
        image: fields.image,
        following,
    }))
}

impl Store {
    /// Resolves a username to a user id.
    pub(super) async fn user_id_for(&self, username: &Username) -> StoreResult<Option<UserId>> {
        self.get_guard(username_pk(username), USERNAME_SK).await
    }

    /// A profile by username, as `viewer` sees it.
    ///
    /// Access: `GetItem USERNAME#<name>`, then `BatchGetItem` {user, viewer's follow item} —
    /// 2 round trips.
    pub async fn profile(
        &self,
        username: &Username,
        viewer: Option<&UserId>,
    ) -> StoreResult<Option<Profile>> {
        let Some(id) = self.user_id_for(username).await? else {
            return Ok(None);
        };
        let items = self
            .batch_get(profile_keys([&id], viewer), &PROFILE_FIELDS, true)
            .await?;
        Ok(profile_from(&items, &id, viewer)?)
    }

    /// Makes `follower` follow `username`, with the author's newest page of articles in the
    /// follower's feed at once; answers the profile after. The stream's follow record adds
    /// the older ones later (see [`super::stream`]).
    ///
    /// Access: `GetItem USERNAME#<name>`, then concurrently `Query` of the author's newest
    /// [`FOLLOW_FIRST_PAGE`] articles and `GetItem` of the followee, then one
    /// `TransactWriteItems` (the follow item, the feed entries, the feed count; a `PutItem` of the
    /// follow alone when the author has no articles) — 4 requests, 3 round trips. Following twice changes nothing.
    pub async fn follow(&self, follower: &UserId, username: &Username) -> StoreResult<Profile> {
        self.set_following::<true>(follower, username).await
    }

    /// Makes `follower` stop following `username`; answers the profile after. The stream's
    /// record of the removed follow takes the author's articles out of the feed.
    ///
    /// Access: `GetItem USERNAME#<name>`, then concurrently `DeleteItem` of the follow item and
    /// `GetItem` of the followee — 3 requests, 2 round trips.
    pub async fn unfollow(&self, follower: &UserId, username: &Username) -> StoreResult<Profile> {
        self.set_following::<false>(follower, username).await
    }

    /// Both directions, as one function per direction: each Lambda binary links only the
    /// write it sends.
    async fn set_following<const FOLLOW: bool>(
        &self,
        follower: &UserId,
        username: &Username,
    ) -> StoreResult<Profile> {
        let followee = self
            .user_id_for(username)
            .await?
            .ok_or(StoreError::NotFound("profile"))?;
        if &followee == follower {
            return Err(StoreError::Invalid("profile", "cannot follow yourself"));
        }
        let (pk, sk) = key_pair(&follow_key(follower, &followee));
        if FOLLOW {
            let item = FollowItem {
                pk,
                sk,
                gsi1pk: followers_gsi(&followee),
                gsi1sk: user_pk(follower),
                follower_id: follower.clone(),
                followee_id: followee.clone(),
            };
            let (entries, profile) = tokio::join!(
                self.authors_newest_as_feed(follower, &followee, FOLLOW_FIRST_PAGE),
                self.profile_by_id(&followee, true)
            );
            self.follow_with_entries(&item, entries?).await?;
            return profile?.ok_or(StoreError::NotFound("profile"));
        }
        let delete = async {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(pk, sk)))
                .send()
                .await
                .map_err(|e| StoreError::sdk("DeleteItem follow", e))
        };
        let (deleted, profile) = tokio::join!(delete, self.profile_by_id(&followee, false));
        deleted?;
        profile?.ok_or(StoreError::NotFound("profile"))
    }

    /// Writes the follow with the first page of feed entries in one transaction. When the
    /// follow is already there, nothing is written (its entries are in the feed, or the
    /// stream is adding them). When only some entries are (the stream has not yet processed
    /// an earlier unfollow), the follow is written alone and the entries one by one, as the
    /// stream writes them.
    async fn follow_with_entries(&self, item: &FollowItem, entries: Vec<EntryItem>) -> StoreResult<()> {
        if entries.is_empty() {
            // Nothing to show yet: a plain write (following twice overwrites the same item).
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(super::to_item(item)?))
                .send()
                .await
                .map_err(|e| StoreError::sdk("PutItem follow", e))?;
            return Ok(());
        }
        let mut tx = Tx::new(&self.table);
        let follow_at = tx.put_new(item)?;
        for entry in &entries {
            tx.put_new(entry)?;
        }
        tx.add_count(feed_count(&item.follower_id), COUNT_SK, entries.len() as i64)?;
        match self.transact(tx.items).await {
            Ok(()) => Ok(()),
            Err(TransactFailure::Cancelled(codes)) if TransactFailure::failed_at(&codes, follow_at) => Ok(()),
            Err(TransactFailure::Cancelled(_)) => {
                let mut tx = Tx::new(&self.table);
                tx.put(item, None)?;
                match self.transact(tx.items).await {
                    Ok(()) => {}
                    Err(TransactFailure::Cancelled(codes)) => {
                        return Err(anyhow::anyhow!("follow write cancelled: {codes:?}").into());
                    }
                    Err(TransactFailure::Other(error)) => return Err(error),
                }
                let follower = &item.follower_id;
                self.write_entries(
                    entries.into_iter().map(|e| (e, feed_count(follower))).collect(),
                    true,
                )
                .await
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// A user's profile by id, with `following` as the caller already knows it.
    ///
    /// Access: `GetItem USER#<id>` (profile fields only) — 1 round trip.
    pub(super) async fn profile_by_id(&self, id: &UserId, following: bool) -> StoreResult<Option<Profile>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .projection_expression("username, bio, image")
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem profile", e))?;
        Ok(output
            .item
            .map(from_item::<ProfileFields>)
            .transpose()?
            .map(|fields| Profile {
                username: fields.username,
                bio: fields.bio,
                image: fields.image,
                following,
            }))
    }

    /// Everyone who follows `author`, for feed fan-out.
    ///
    /// Access: `Query gsi1` on `FOLLOWERS#<author>`, follower ids only — 1 round trip per 1 MB
    /// (~20,000 followers).
    pub async fn followers(&self, author: &UserId) -> StoreResult<Vec<UserId>> {
        #[derive(Deserialize)]
        struct Follower {
            follower_id: UserId,
        }
        let query = self
            .client
            .query()
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(followers_gsi(author)))
            .projection_expression("follower_id");
        Ok(self
            .query_all(query)
            .await?
            .into_iter()
            .map(|item| from_item::<Follower>(item).map(|f| f.follower_id))
            .collect::<anyhow::Result<_>>()?)
    }
}
