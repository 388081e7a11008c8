use std::fmt;

use super::FieldErrors;
use super::{collect, required};

/// A user's immutable id. Usernames and emails can change; this never does, so every other
/// record (and every token) refers to a user by it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct UserId(String);

impl UserId {
    /// A fresh random id (UUID v4).
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// Parses an id from a token's subject: only a UUID is one, so a signed but odd subject
    /// (50 KB, empty) never becomes a key.
    pub fn parse(raw: &str) -> Option<Self> {
        super::parse_uuid(raw).map(Self)
    }

    /// Wraps an id read from our own table.
    pub fn from_trusted(id: String) -> Self {
        Self(id)
    }

    /// The id as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A username: 1–40 characters from `A-Z a-z 0-9 _ . -`.
///
/// The character set keeps usernames safe in URL paths (`/api/profiles/{username}`) without
/// escaping. Case is kept for display; uniqueness is case-insensitive (see [`Username::key`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Longest accepted username, in characters.
    pub const MAX_LEN: usize = 40;

    /// Parses untrusted input.
    /// Taken as sent: surrounding spaces are not trimmed away but refused, like any other
    /// character outside the set.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        required("username", raw)?;
        let value = raw.unwrap_or_default();
        if value.chars().count() > Self::MAX_LEN {
            return Err(FieldErrors::single(
                "username",
                "is too long (maximum is 40 characters)",
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(FieldErrors::single(
                "username",
                "is invalid (use letters, digits, '_', '.' and '-')",
            ));
        }
        // `/api/profiles/.` and `/api/profiles/..` are not paths a client can send as written.
        if value.chars().all(|c| c == '.') && value.len() <= 2 {
            return Err(FieldErrors::single(
                "username",
                "is invalid (it must not be '.' or '..')",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Wraps a username read back from our own table.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The case-folded form that uniqueness and lookups use, so `Jake` and `jake` are one name.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// The username as the user typed it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An email address, lower-cased so `Jake@Example.com` and `jake@example.com` are one account.
///
/// Validation is deliberately shallow (one `@`, a dot in the domain, no spaces, at most 254
/// characters): the only real check of an address is mail arriving at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Longest accepted address, in characters.
    pub const MAX_LEN: usize = 254;

    /// Parses untrusted input.
    /// Taken as sent (whitespace anywhere is refused, not trimmed); at most 254 characters.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        required("email", raw)?;
        let raw = raw.unwrap_or_default();
        let value = raw.to_lowercase();
        let valid = raw.chars().count() <= Self::MAX_LEN
            && !value.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(value.split_once('@'), Some((local, domain))
                if !local.is_empty() && !domain.contains('@')
                    && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.'));
        if !valid {
            return Err(FieldErrors::single("email", "is invalid"));
        }
        Ok(Self(value))
    }

    /// Wraps an address read back from our own table.
    pub fn from_trusted(value: String) -> Self {
        Self(value)
    }

    /// The address (already lower-case, so it is also the uniqueness key).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A plaintext password on its way to the hasher. `Debug` never prints it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// OWASP's minimum for passwords without other factors.
    pub const MIN_LEN: usize = 8;
    /// An upper bound so nobody can make the server hash megabytes.
    pub const MAX_LEN: usize = 256;
    /// Longest password a login reads: generous, so a rule tightened later never locks out
    /// a password set before it, yet bounded.
    pub const MAX_LOGIN_LEN: usize = 4 * Self::MAX_LEN;

    /// Parses a new password (registration or change): length rules apply.
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        let Some(value) = raw.filter(|v| !v.is_empty()) else {
            return Err(FieldErrors::single("password", "can't be blank"));
        };
        let chars = value.chars().count();
        if chars < Self::MIN_LEN {
            return Err(FieldErrors::single(
                "password",
                "is too short (minimum is 8 characters)",
            ));
        }
        if chars > Self::MAX_LEN {
            return Err(FieldErrors::single(
                "password",
                "is too long (maximum is 256 characters)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    /// Parses a password offered at login: only presence is checked, so rules added later
    /// never lock out an existing account.
    pub fn parse_for_login(raw: Option<&str>) -> Result<Self, FieldErrors> {
        match raw {
            Some(value) if !value.is_empty() && value.chars().count() <= Self::MAX_LOGIN_LEN => {
                Ok(Self(value.to_owned()))
            }
            Some(value) if !value.is_empty() => Err(FieldErrors::single("password", "is too long")),
            _ => Err(FieldErrors::single("password", "can't be blank")),
        }
    }

    /// The secret itself, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A profile bio. Blank means "no bio" and is stored as absent, shown as `null`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bio(String);

impl Bio {
    /// Longest accepted bio, in characters.
    pub const MAX_LEN: usize = 4000;

    /// `Ok(None)` for blank input: RealWorld clients send `""` to clear a bio.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldErrors> {
        let value = raw.trim();
        if super::is_blank(raw) {
            return Ok(None);
        }
        if raw.chars().count() > Self::MAX_LEN {
            return Err(FieldErrors::single(
                "bio",
                "is too long (maximum is 4000 characters)",
            ));
        }
        Ok(Some(Self(value.to_owned())))
    }

    /// The text.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A profile image URL: `http(s)://…`, at most 2048 characters. Blank means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUrl(String);

impl ImageUrl {
    /// Longest accepted URL, in characters.
    pub const MAX_LEN: usize = 2048;

    /// `Ok(None)` for blank input, like [`Bio::parse`].
    /// Blank (only whitespace or control characters) clears it; otherwise it is taken as
    /// sent, with no whitespace or control characters anywhere.
    pub fn parse(raw: &str) -> Result<Option<Self>, FieldErrors> {
        if super::is_blank(raw) {
            return Ok(None);
        }
        let lower = raw.to_ascii_lowercase();
        if raw.chars().count() > Self::MAX_LEN
            || !(lower.starts_with("https://") || lower.starts_with("http://"))
            || raw.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(FieldErrors::single(
                "image",
                "is invalid (must be an http(s) URL)",
            ));
        }
        Ok(Some(Self(raw.to_owned())))
    }

    /// The URL.
    pub fn into_inner(self) -> String {
        self.0
    }
}

/// A validated registration.
#[derive(Debug)]
pub struct NewUser {
    /// Chosen username.
    pub username: Username,
    /// Login email.
    pub email: Email,
    /// Plaintext until the handler hashes it.
    pub password: Password,
}

impl NewUser {
    /// Validates every field and reports all failures together.
    pub fn parse(
        username: Option<&str>,
        email: Option<&str>,
        password: Option<&str>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let username = collect(&mut errors, Username::parse(username));
        let email = collect(&mut errors, Email::parse(email));
        let password = collect(&mut errors, Password::parse(password));
        match (username, email, password) {
            (Some(username), Some(email), Some(password)) => Ok(Self {
                username,
                email,
                password,
            }),
            _ => Err(errors),
        }
    }
}

/// Login input: an email and a password, both present.
#[derive(Debug)]
pub struct Credentials {
    /// Account email.
    pub email: Email,
    /// Offered password.
    pub password: Password,
}

impl Credentials {
    /// Checks presence and shape only; whether they match is the store's and hasher's job.
    pub fn parse(email: Option<&str>, password: Option<&str>) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let email = collect(&mut errors, Email::parse(email));
        let password = collect(&mut errors, Password::parse_for_login(password));
        match (email, password) {
            (Some(email), Some(password)) => Ok(Self { email, password }),
            _ => Err(errors),
        }
    }
}

/// A stored user. The password hash stays inside `store` and `auth`: it is not a field here,
/// so no response type can serialise it by accident.
#[derive(Debug, Clone)]
pub struct User {
    /// Immutable id.
    pub id: UserId,
    /// Display username.
    pub username: Username,
    /// Login email.
    pub email: Email,
    /// `None` renders as `null`.
    pub bio: Option<String>,
    /// `None` renders as `null`.
    pub image: Option<String>,
    /// The user's session epoch: tokens signed for an earlier one no longer work (bumped by
    /// "sign out everywhere" and by a password change).
    pub session: u64,
}

/// A validated partial update of the current user: `None` leaves a field as it is;
/// `Some(None)` clears `bio`/`image` (RealWorld clients send `""` or `null` for that).
#[derive(Debug, Default)]
pub struct UserChanges {
    /// New username.
    pub username: Option<Username>,
    /// New email.
    pub email: Option<Email>,
    /// New password, plaintext until hashed.
    pub password: Option<Password>,
    /// New bio, or `Some(None)` to clear it.
    pub bio: Option<Option<Bio>>,
    /// New image, or `Some(None)` to clear it.
    pub image: Option<Option<ImageUrl>>,
}

impl UserChanges {
    /// Validates every present field. `bio`/`image` use the double option: absent, `null` or a value.
    pub fn parse(
        username: Option<&str>,
        email: Option<&str>,
        password: Option<&str>,
        bio: Option<Option<&str>>,
        image: Option<Option<&str>>,
    ) -> Result<Self, FieldErrors> {
        let mut errors = FieldErrors::default();
        let changes = Self {
            username: username.and_then(|u| collect(&mut errors, Username::parse(Some(u)))),
            email: email.and_then(|e| collect(&mut errors, Email::parse(Some(e)))),
            password: password.and_then(|p| collect(&mut errors, Password::parse(Some(p)))),
            bio: bio.and_then(|b| collect(&mut errors, Bio::parse(b.unwrap_or("")))),
            image: image.and_then(|i| collect(&mut errors, ImageUrl::parse(i.unwrap_or("")))),
        };
        errors.into_result().map(|()| changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(result: Result<impl fmt::Debug, FieldErrors>, field: &str) -> String {
        result
            .expect_err("should be rejected")
            .get(field)
            .expect("field error")[0]
            .clone()
    }

    #[test]
    fn invalid_usernames_are_rejected_with_a_reason() {
        let long = "a".repeat(41);
        let cases = [
            (None, "can't be blank"),
            (Some(""), "can't be blank"),
            (Some("   "), "can't be blank"),
            (Some(long.as_str()), "is too long (maximum is 40 characters)"),
            (
                Some("jake smith"),
                "is invalid (use letters, digits, '_', '.' and '-')",
            ),
            (
                Some("jake/../admin"),
                "is invalid (use letters, digits, '_', '.' and '-')",
            ),
            (Some("jåke"), "is invalid (use letters, digits, '_', '.' and '-')"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                message(Username::parse(raw), "username"),
                expected,
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn usernames_keep_their_case_but_compare_without_it() {
        let name = Username::parse(Some("Jake_1.x-y")).unwrap();
        assert_eq!(name.as_str(), "Jake_1.x-y");
        assert_eq!(name.key(), "jake_1.x-y");
        // Taken as sent: surrounding spaces are refused, not trimmed.
        assert!(Username::parse(Some("  Jake_1.x-y ")).is_err());
    }

    #[test]
    fn invalid_emails_are_rejected_with_a_reason() {
        let long = format!("{}@example.com", "a".repeat(250));
        let cases = [
            (None, "can't be blank"),
            (Some(" "), "can't be blank"),
            (Some("jake"), "is invalid"),
            (Some("jake@"), "is invalid"),
            (Some("@jake.com"), "is invalid"),
            (Some("jake@localhost"), "is invalid"),
            (Some("ja ke@x.com"), "is invalid"),
            (Some("a@b@c.com"), "is invalid"),
            (Some("jake@.com"), "is invalid"),
            (Some(long.as_str()), "is invalid"),
        ];
        for (raw, expected) in cases {
            assert_eq!(message(Email::parse(raw), "email"), expected, "input {raw:?}");
        }
    }

    #[test]
    fn emails_are_lower_cased() {
        assert_eq!(
            Email::parse(Some("Jake@Example.COM")).unwrap().as_str(),
            "jake@example.com"
        );
        assert!(Email::parse(Some(" Jake@Example.COM ")).is_err());
    }

    #[test]
    fn invalid_passwords_are_rejected_with_a_reason() {
        let long = "p".repeat(257);
        let cases = [
            (None, "can't be blank"),
            (Some(""), "can't be blank"),
            (Some("short"), "is too short (minimum is 8 characters)"),
            (Some(long.as_str()), "is too long (maximum is 256 characters)"),
        ];
        for (raw, expected) in cases {
            assert_eq!(
                message(Password::parse(raw), "password"),
                expected,
                "input {raw:?}"
            );
        }
    }

    #[test]
    fn a_password_never_shows_in_debug_output() {
        let password = Password::parse(Some("hunter2hunter2")).unwrap();
        assert!(!format!("{password:?}").contains("hunter2"));
    }

    #[test]
    fn blank_bio_and_image_mean_none_and_bad_images_are_rejected() {
        assert_eq!(Bio::parse("  ").unwrap(), None);
        assert_eq!(ImageUrl::parse("").unwrap(), None);
        assert!(ImageUrl::parse("https://x.io/a.png").unwrap().is_some());
        for bad in ["javascript:alert(1)", "ftp://x.io/a", "https://x.io/a b"] {
            assert_eq!(
                message(ImageUrl::parse(bad), "image"),
                "is invalid (must be an http(s) URL)"
            );
        }
    }

    #[test]
    fn a_registration_reports_every_bad_field_at_once() {
        let errors = NewUser::parse(Some(""), Some("nope"), None).unwrap_err();
        assert_eq!(errors.get("username").unwrap(), ["can't be blank"]);
        assert_eq!(errors.get("email").unwrap(), ["is invalid"]);
        assert_eq!(errors.get("password").unwrap(), ["can't be blank"]);
    }

    #[test]
    fn a_partial_update_validates_only_what_is_present() {
        let changes = UserChanges::parse(None, None, None, Some(None), Some(Some(""))).unwrap();
        assert!(changes.username.is_none() && changes.email.is_none() && changes.password.is_none());
        assert_eq!(changes.bio, Some(None));
        assert_eq!(changes.image, Some(None));
        let errors = UserChanges::parse(Some(""), Some("x"), Some("short"), None, None).unwrap_err();
        assert!(errors.get("username").is_some() && errors.get("email").is_some());
        assert!(errors.get("password").is_some());
    }
}
