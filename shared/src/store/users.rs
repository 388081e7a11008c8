//! Users and the two guard items that keep usernames and emails unique.
//!
//! | item            | pk                    | sk         | holds                         |
//! |-----------------|-----------------------|------------|-------------------------------|
//! | user            | `USER#<id>`           | `USER`     | profile, email, password hash |
//! | username guard  | `USERNAME#<lowercase>`| `USERNAME` | `user_id`                     |
//! | email guard     | `EMAIL#<lowercase>`   | `EMAIL`    | `user_id`                     |
//!
//! The guards double as the lookup indexes for login (by email) and profiles (by username).
//! They are read with strongly consistent `GetItem`s, so a user can log in the instant they
//! register: a GSI would be eventually consistent.

use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::error::update_condition_failed;
use super::keys::{EMAIL_SK, USER_SK, USERNAME_SK, email_pk, key, user_key, user_pk, username_pk};
use super::tx::{Tx, number};
use super::uploads::{attach, detach};
use super::{Store, StoreError, StoreResult, TransactFailure, from_item};
use crate::auth::PasswordHashString;
use crate::domain::{Attachment, Email, Purpose, Role, UploadId, User, UserId, Username, now_timestamp};

#[derive(Debug, Serialize, Deserialize)]
struct UserItem {
    pk: String,
    sk: String,
    id: String,
    username: String,
    email: String,
    password_hash: PasswordHashString,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    bio: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    image: Option<String>,
    created_at: String,
    updated_at: String,
    /// Bumped by every write, so a read-modify-write can condition on what it read.
    version: u64,
    /// Set only by an operator ([`Store::set_role`]); absent on records made before roles.
    #[serde(default)]
    role: Role,
    /// Tokens carry the epoch they were signed in; only the current one's are accepted.
    #[serde(default)]
    session_epoch: u64,
}

impl UserItem {
    fn into_user(self) -> User {
        User {
            session: self.session_epoch,
            id: UserId::from_trusted(self.id),
            username: Username::from_trusted(self.username),
            email: Email::from_trusted(self.email),
            bio: self.bio,
            image: self.image,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct GuardItem {
    pk: String,
    sk: String,
    user_id: String,
}

/// An id no user can have (generated ids are UUIDs), read in place of a real user when login
/// finds no account, to keep the timing equal.
pub(super) const NO_SUCH_USER: &str = "none";

fn guard(pk: String, sk: &str, user: &UserId) -> GuardItem {
    GuardItem {
        pk,
        sk: sk.to_owned(),
        user_id: user.to_string(),
    }
}

/// Moves the username and email guards that `update` renames from `old` (username, email):
/// each old guard removed while it is still `user`'s, each new one created only if free.
/// Answers (place in `tx`, field) of each new guard, to read a cancellation by.
fn move_guards(
    tx: &mut Tx<'_>,
    user: &UserId,
    old: (&Username, &Email),
    update: &UserUpdate,
) -> anyhow::Result<Vec<(usize, &'static str)>> {
    let (old_username, old_email) = old;
    let mut guards = Vec::new();
    if let Some(new) = update
        .username
        .as_ref()
        .filter(|new| new.key() != old_username.key())
    {
        delete_guard(tx, username_pk(old_username), USERNAME_SK, user)?;
        guards.push((
            tx.put_new(&guard(username_pk(new), USERNAME_SK, user))?,
            "username",
        ));
    }
    if let Some(new) = update.email.as_ref().filter(|new| *new != old_email) {
        delete_guard(tx, email_pk(old_email), EMAIL_SK, user)?;
        guards.push((tx.put_new(&guard(email_pk(new), EMAIL_SK, user))?, "email"));
    }
    Ok(guards)
}

/// Removes a guard, but only if it is still `user`'s.
fn delete_guard(tx: &mut Tx<'_>, pk: String, sk: &str, user: &UserId) -> anyhow::Result<usize> {
    tx.delete(
        pk,
        sk,
        Some((
            "user_id = :me",
            vec![(":me", AttributeValue::S(user.to_string()))],
        )),
    )
}

/// What login needs: the user, and the hash to check the password against.
#[derive(Debug)]
pub struct LoginRecord {
    /// The account.
    pub user: User,
    /// Its password hash.
    pub password_hash: PasswordHashString,
}

/// A change to apply to the stored user; the password arrives already hashed.
#[derive(Debug, Default)]
pub struct UserUpdate {
    /// New username.
    pub username: Option<Username>,
    /// New email.
    pub email: Option<Email>,
    /// New password hash.
    pub password_hash: Option<PasswordHashString>,
    /// New bio, or `Some(None)` to clear it.
    pub bio: Option<Option<String>>,
    /// New image, or `Some(None)` to clear it.
    pub image: Option<Option<String>>,
}

impl Store {
    /// Creates a user and claims its username and email.
    ///
    /// Access: `TransactWriteItems` of 3 puts (user, username guard, email guard), each
    /// `attribute_not_exists(pk)` — 1 round trip. Two concurrent registrations of one email
    /// cannot both commit: DynamoDB serialises them on the guard item.
    pub async fn create_user(
        &self,
        username: Username,
        email: Email,
        password_hash: PasswordHashString,
    ) -> StoreResult<User> {
        let id = UserId::generate();
        let now = now_timestamp();
        let item = UserItem {
            pk: user_pk(&id),
            sk: USER_SK.into(),
            id: id.to_string(),
            username: username.as_str().to_owned(),
            email: email.as_str().to_owned(),
            password_hash,
            bio: None,
            image: None,
            created_at: now.clone(),
            updated_at: now,
            version: 1,
            role: Role::User,
            session_epoch: 0,
        };
        let mut tx = Tx::new(&self.table);
        tx.put_new(&item)?;
        let username_index = tx.put_new(&guard(username_pk(&username), USERNAME_SK, &id))?;
        let email_index = tx.put_new(&guard(email_pk(&email), EMAIL_SK, &id))?;
        match self.transact(tx.items).await {
            Ok(()) => Ok(item.into_user()),
            Err(TransactFailure::Cancelled(codes)) => {
                let taken: Vec<&'static str> = [(username_index, "username"), (email_index, "email")]
                    .into_iter()
                    .filter(|(index, _)| TransactFailure::failed_at(&codes, *index))
                    .map(|(_, field)| field)
                    .collect();
                if taken.is_empty() {
                    return Err(anyhow::anyhow!("registration cancelled: {codes:?}").into());
                }
                Err(StoreError::Taken(taken))
            }
            Err(TransactFailure::Other(error)) => Err(error),
        }
    }

    /// Reads a user by id.
    ///
    /// Access: `GetItem USER#<id>/USER`, strongly consistent — 1 round trip.
    pub async fn get_user(&self, id: &UserId) -> StoreResult<Option<User>> {
        Ok(self.get_user_item(id).await?.map(UserItem::into_user))
    }

    async fn get_user_item(&self, id: &UserId) -> StoreResult<Option<UserItem>> {
        self.get_consistent(user_key(id)).await
    }

    pub(super) async fn get_guard(&self, pk: String, sk: &str) -> StoreResult<Option<UserId>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .projection_expression("user_id")
            .send()
            .await
            .map_err(|e| StoreError::sdk("GetItem", e))?;
        Ok(output
            .item
            .map(from_item::<UserIdOnly>)
            .transpose()?
            .map(|g| UserId::from_trusted(g.user_id)))
    }

    /// The account `id`, with its password hash, for login (`None` for [`NO_SUCH_USER`], read
    /// all the same so that an unknown email costs what a known one does).
    ///
    /// Access: `GetItem USER#<id>/USER`, strongly consistent — 1 round trip.
    pub(super) async fn login_record(&self, id: &UserId) -> StoreResult<Option<LoginRecord>> {
        Ok(self.get_user_item(id).await?.map(|item| {
            let password_hash = item.password_hash.clone();
            LoginRecord {
                user: item.into_user(),
                password_hash,
            }
        }))
    }

    /// Finds the user id behind a username (case-insensitive).
    ///
    /// Access: `GetItem USERNAME#<lowercase>/USERNAME`, strongly consistent — 1 round trip.
    pub async fn find_user_id_by_username(&self, username: &Username) -> StoreResult<Option<UserId>> {
        self.get_guard(username_pk(username), USERNAME_SK).await
    }

    /// Applies a partial update to the current user.
    ///
    /// Access, when neither username nor email changes: one `UpdateItem` conditioned on the
    /// user existing, returning the new image — 1 round trip. When either changes: `GetItem`
    /// of the user, then one `TransactWriteItems` that puts the user (conditioned on the
    /// `version` it read), deletes each old guard (conditioned on still being ours) and puts
    /// each new one (`attribute_not_exists`) — 2 round trips. A lost race on `version` is
    /// retried from the read; a taken name is a 409.
    pub async fn update_user(&self, id: &UserId, update: UserUpdate) -> StoreResult<Option<User>> {
        // A new image may attach an upload and release the one it replaces: that needs the
        // current record and a transaction, like a new username or email.
        if update.username.is_none() && update.email.is_none() && update.image.is_none() {
            return self.update_in_place(id, update).await;
        }
        let avatar = Attachment::Avatar(id.clone());
        let attaching = update
            .image
            .as_ref()
            .map(|image| image.as_deref().and_then(UploadId::from_content_url));
        // Set when the upload the old image named is no longer attached here (deleted, or
        // never ours): the change goes ahead without releasing it.
        let mut skip_release = false;
        const ATTEMPTS: usize = 3;
        for _ in 0..ATTEMPTS {
            let Some(current) = self.get_user_item(id).await? else {
                return Ok(None);
            };
            let old_username = Username::from_trusted(current.username.clone());
            let old_email = Email::from_trusted(current.email.clone());
            let read_version = current.version;
            let old_image = current.image.clone();
            let next = apply(current, &update);

            let mut tx = Tx::new(&self.table);
            tx.put(
                &next,
                Some(("version = :read", vec![(":read", number(read_version))])),
            )?;
            let guards = move_guards(&mut tx, id, (&old_username, &old_email), &update)?;
            let (mut attach_at, mut release_at) = (None, None);
            if let Some(new_upload) = attaching.clone() {
                let old_upload = old_image.as_deref().and_then(UploadId::from_content_url);
                if new_upload != old_upload {
                    if let Some(new_upload) = &new_upload {
                        attach_at = Some(attach(&mut tx, new_upload, id, Purpose::Avatar, &avatar)?);
                    }
                    if let Some(old_upload) = old_upload.filter(|_| !skip_release) {
                        release_at = Some(detach(&mut tx, &old_upload, &avatar)?);
                    }
                }
            }
            match self.transact(tx.items).await {
                Ok(()) => return Ok(Some(next.into_user())),
                Err(TransactFailure::Cancelled(codes)) => {
                    if attach_at.is_some_and(|at| TransactFailure::failed_at(&codes, at)) {
                        return Err(StoreError::Rejected(vec![(
                            "image".into(),
                            "names an upload that is not your own ready avatar upload".into(),
                        )]));
                    }
                    if release_at.is_some_and(|at| TransactFailure::failed_at(&codes, at)) {
                        skip_release = true;
                    }
                    let taken: Vec<&'static str> = guards
                        .into_iter()
                        .filter(|(index, _)| TransactFailure::failed_at(&codes, *index))
                        .map(|(_, field)| field)
                        .collect();
                    if !taken.is_empty() {
                        return Err(StoreError::Taken(taken));
                    }
                    // Otherwise the user changed since we read it: read again.
                }
                Err(TransactFailure::Other(error)) => return Err(error),
            }
        }
        Err(StoreError::Contended("user"))
    }

    async fn update_in_place(&self, id: &UserId, update: UserUpdate) -> StoreResult<Option<User>> {
        let mut set = vec!["updated_at = :now", "version = version + :one"];
        let mut remove = Vec::new();
        let mut request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(id)))
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":now", AttributeValue::S(now_timestamp()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew);
        if let Some(hash) = &update.password_hash {
            // A new password ends every session signed before it.
            set.push("password_hash = :hash, session_epoch = if_not_exists(session_epoch, :zero) + :one");
            request = request.expression_attribute_values(":zero", AttributeValue::N("0".into()));
            request =
                request.expression_attribute_values(":hash", AttributeValue::S(hash.as_str().to_owned()));
        }
        for (field, placeholder, value) in [("bio", ":bio", &update.bio), ("image", ":image", &update.image)]
        {
            match value {
                Some(Some(text)) => {
                    set.push(if field == "bio" {
                        "bio = :bio"
                    } else {
                        "image = :image"
                    });
                    request =
                        request.expression_attribute_values(placeholder, AttributeValue::S(text.clone()));
                }
                Some(None) => remove.push(field),
                None => {}
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        match request.update_expression(expression).send().await {
            Ok(output) => Ok(output
                .attributes
                .map(from_item::<UserItem>)
                .transpose()?
                .map(UserItem::into_user)),
            Err(error) if update_condition_failed(&error) => Ok(None),
            Err(error) => Err(StoreError::sdk("UpdateItem user", error)),
        }
    }
}

/// What a session check reads of the user's record (the meter recognises it by this).
pub const SESSION_PROJECTION: &str = "id, session_epoch";

#[derive(Deserialize)]
struct EpochOnly {
    #[serde(default)]
    session_epoch: u64,
}

impl Store {
    /// `user`'s session epoch, or `None` when the user no longer exists. Callers cache it
    /// briefly (see `keel::auth::SessionCache`), so this is not a read per request.
    ///
    /// Access: `GetItem USER#<id>/USER` projecting `id, session_epoch`, strongly consistent —
    /// 1 round trip.
    pub async fn session_epoch(&self, user: &UserId) -> StoreResult<Option<u64>> {
        let epoch: Option<EpochOnly> = self
            .user_fields(user, SESSION_PROJECTION, None, "GetItem session")
            .await?;
        Ok(epoch.map(|e| e.session_epoch))
    }

    /// A few attributes of `user`'s record (`projection` must name one that every record has,
    /// so that a record is told from no record), or `None` when the user does not exist.
    async fn user_fields<T: serde::de::DeserializeOwned>(
        &self,
        user: &UserId,
        projection: &str,
        name: Option<(&str, &str)>,
        operation: &'static str,
    ) -> StoreResult<Option<T>> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(user)))
            .consistent_read(true)
            .projection_expression(projection)
            .set_expression_attribute_names(
                name.map(|(placeholder, attribute)| [(placeholder.to_owned(), attribute.to_owned())].into()),
            )
            .send()
            .await
            .map_err(|e| StoreError::sdk(operation, e))?;
        Ok(output.item.map(from_item::<T>).transpose()?)
    }

    /// Ends every session of `user` ("sign out everywhere"): tokens signed before answer 401.
    /// Answers the new epoch, or `None` when the user no longer exists.
    ///
    /// Access: one `UpdateItem` (`ADD session_epoch 1`, conditioned on the user existing) — 1
    /// round trip.
    pub async fn end_sessions(&self, user: &UserId) -> StoreResult<Option<u64>> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(user)))
            // `version` too: a read-modify-write of the user must not put the old epoch back.
            .update_expression("ADD session_epoch :one, version :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(output) => Ok(Some(
                from_item::<EpochOnly>(output.attributes.unwrap_or_default())?.session_epoch,
            )),
            Err(error) if update_condition_failed(&error) => Ok(None),
            Err(error) => Err(StoreError::sdk("UpdateItem session", error)),
        }
    }
}

#[derive(Deserialize)]
struct RoleOnly {
    #[serde(default)]
    role: Role,
}

impl Store {
    /// The role on `user`'s record, read on every admin request so that a revoked admin loses
    /// access at once. `None` when the user no longer exists.
    ///
    /// Access: `GetItem USER#<id>/USER` projecting `role`, strongly consistent — 1 round trip.
    pub async fn role(&self, user: &UserId) -> StoreResult<Option<Role>> {
        let role: Option<RoleOnly> = self
            .user_fields(user, "pk, #role", Some(("#role", "role")), "GetItem role")
            .await?;
        Ok(role.map(|r| r.role))
    }

    /// Gives `username` the role `role`: the operator's command (`keel-local admin`), never an
    /// API route.
    ///
    /// Access: `GetItem` of the username guard, then `UpdateItem` of the user conditioned on
    /// it existing — 2 round trips.
    pub async fn set_role(&self, username: &Username, role: Role) -> StoreResult<()> {
        let id = self
            .find_user_id_by_username(username)
            .await?
            .ok_or(StoreError::NotFound("user"))?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(&id)))
            .update_expression("SET #role = :role, version = version + :one")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#role", "role")
            .expression_attribute_values(":role", AttributeValue::S(role.as_str().into()))
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .send()
            .await
            .map_err(|e| StoreError::sdk("UpdateItem role", e))?;
        Ok(())
    }
}

#[derive(Deserialize)]
pub(super) struct UserIdOnly {
    pub(super) user_id: String,
}

fn apply(mut item: UserItem, update: &UserUpdate) -> UserItem {
    if let Some(username) = &update.username {
        item.username = username.as_str().to_owned();
    }
    if let Some(email) = &update.email {
        item.email = email.as_str().to_owned();
    }
    if let Some(hash) = &update.password_hash {
        item.password_hash = hash.clone();
        item.session_epoch += 1;
    }
    if let Some(bio) = &update.bio {
        item.bio = bio.clone();
    }
    if let Some(image) = &update.image {
        item.image = image.clone();
    }
    item.updated_at = now_timestamp();
    item.version += 1;
    item
}
