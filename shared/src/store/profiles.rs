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
use super::users::{USER_SK, USERNAME_SK, user_pk, username_pk};
use super::{Key, Store, from_item, key, key_pair, to_item};
use crate::domain::{Profile, UserId, Username};
use crate::error::{ApiError, FieldErrors};

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
    follower_id: String,
    followee_id: String,
}

/// The key of "`follower` follows `followee`".
pub(super) fn follow_key(follower: &UserId, followee: &str) -> Key {
    key(user_pk(follower), format!("FOLLOWS#{followee}"))
}

/// The key of a user's record.
pub(super) fn user_key(id: &str) -> Key {
    key(format!("USER#{id}"), USER_SK)
}

/// Keys to read so [`profile_from`] can show `authors` to `viewer`.
pub(super) fn profile_keys<'a>(
    authors: impl IntoIterator<Item = &'a str>,
    viewer: Option<&UserId>,
) -> Vec<Key> {
    let mut keys = Vec::new();
    for author in authors {
        keys.push(user_key(author));
        if let Some(viewer) = viewer.filter(|v| v.as_str() != author) {
            keys.push(follow_key(viewer, author));
        }
    }
    keys
}

/// `author` as `viewer` sees them, from a batch read made with [`profile_keys`].
pub(super) fn profile_from(
    items: &Items,
    author: &str,
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
    /// Resolves a username from a URL to a user id; an unparseable name is simply unknown.
    pub(super) async fn user_id_for(&self, raw_username: &str) -> anyhow::Result<Option<UserId>> {
        let Ok(username) = Username::parse(Some(raw_username)) else {
            return Ok(None);
        };
        self.get_guard(username_pk(&username), USERNAME_SK).await
    }

    /// A profile by username, as `viewer` sees it.
    ///
    /// Access: `GetItem USERNAME#<name>`, then `BatchGetItem` {user, viewer's follow item} —
    /// 2 round trips.
    pub async fn profile(
        &self,
        username: &str,
        viewer: Option<&UserId>,
    ) -> Result<Option<Profile>, ApiError> {
        let Some(id) = self.user_id_for(username).await? else {
            return Ok(None);
        };
        let items = self
            .batch_get(profile_keys([id.as_str()], viewer), &PROFILE_FIELDS, true)
            .await?;
        Ok(profile_from(&items, id.as_str(), viewer)?)
    }

    /// Makes `follower` follow (or stop following) `username`; answers the profile after.
    ///
    /// Access: `GetItem USERNAME#<name>`, then concurrently `PutItem`/`DeleteItem` of the follow
    /// item and `GetItem` of the followee — 3 requests, 2 round trips. Idempotent: following
    /// twice leaves one follow item.
    pub async fn set_following(
        &self,
        follower: &UserId,
        username: &str,
        follow: bool,
    ) -> Result<Profile, ApiError> {
        let followee = self
            .user_id_for(username)
            .await?
            .ok_or(ApiError::NotFound("profile"))?;
        if &followee == follower {
            return Err(FieldErrors::single("profile", "cannot follow yourself").into());
        }
        let (pk, sk) = key_pair(&follow_key(follower, followee.as_str()));
        let write = async {
            if follow {
                let item = FollowItem {
                    pk,
                    sk,
                    gsi1pk: format!("FOLLOWERS#{followee}"),
                    gsi1sk: user_pk(follower),
                    follower_id: follower.to_string(),
                    followee_id: followee.to_string(),
                };
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(to_item(&item)?))
                    .send()
                    .await?;
            } else {
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key(pk, sk)))
                    .send()
                    .await?;
            }
            anyhow::Ok(())
        };
        let (written, profile) = tokio::join!(write, self.profile_by_id(followee.as_str(), follow));
        written?;
        profile?.ok_or(ApiError::NotFound("profile"))
    }

    /// A user's profile by id, with `following` as the caller already knows it.
    ///
    /// Access: `GetItem USER#<id>` (profile fields only) — 1 round trip.
    pub(super) async fn profile_by_id(&self, id: &str, following: bool) -> anyhow::Result<Option<Profile>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .projection_expression("username, bio, image")
            .send()
            .await?;
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
    pub async fn followers(&self, author: &str) -> anyhow::Result<Vec<UserId>> {
        #[derive(Deserialize)]
        struct Follower {
            follower_id: String,
        }
        let query = self
            .client
            .query()
            .index_name("gsi1")
            .key_condition_expression("gsi1pk = :pk")
            .expression_attribute_values(":pk", AttributeValue::S(format!("FOLLOWERS#{author}")))
            .projection_expression("follower_id");
        self.query_all(query)
            .await?
            .into_iter()
            .map(|item| from_item::<Follower>(item).map(|f| UserId::from_trusted(f.follower_id)))
            .collect()
    }
}
