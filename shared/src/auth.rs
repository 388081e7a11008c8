//! Who is calling: password hashing for login, and signed tokens for every request after it.

use std::fmt;
use std::time::Duration;

use anyhow::Context as _;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng};
use argon2::{Algorithm, Argon2, Params, Version};
use jsonwebtoken::{DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::domain::{Password, UserId};
use crate::error::ApiError;

/// OWASP's recommended argon2id parameters: 19 MiB of memory, 2 passes, 1 lane.
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// Passes over memory (OWASP: 2 with 19 MiB).
pub const ARGON2_ITERATIONS: u32 = 2;
/// Lanes (OWASP: 1).
pub const ARGON2_PARALLELISM: u32 = 1;

/// A PHC hash of a random password nobody knows, made with the parameters above.
///
/// Login verifies against it when the email is unknown, so an unknown email costs the same
/// argon2 work as a wrong password and the two cannot be told apart by timing.
/// A test checks its parameters match the live ones.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$LOWuAoW9oVxAG4kXL/xE5w$vMpHyftJJnmZNnX4ddz8xAQoUwvRQHXzxLmlnK84OQM";

fn argon2() -> Argon2<'static> {
    let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM, None)
        .expect("BUG: constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A PHC-format argon2id hash, as stored.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHashString(String);

impl fmt::Debug for PasswordHashString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHashString(<redacted>)")
    }
}

impl PasswordHashString {
    /// The PHC string, for storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Hashes a new password with a fresh salt. Runs on the blocking pool: argon2 is ~20–50 ms of
/// CPU by design, which would stall every other task on an async worker.
pub async fn hash_password(password: Password) -> anyhow::Result<PasswordHashString> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        argon2()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|hash| PasswordHashString(hash.to_string()))
            .map_err(|e| anyhow::anyhow!("argon2 hashing failed: {e}"))
    })
    .await
    .context("password hashing task panicked")?
}

/// Checks `password` against `stored`, or against [`DUMMY_HASH`] when there is no such user,
/// so both paths do the same work. Only `Ok(true)` means the password is right.
pub async fn verify_password(password: Password, stored: Option<PasswordHashString>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let phc = stored.map(|s| s.0).unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&phc).map_err(|e| anyhow::anyhow!("stored hash is not PHC: {e}"))?;
        let matches = argon2()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await
    .context("password verification task panicked")?
}

/// The claims Keel signs. `sub` is the immutable user id, so renaming never breaks a session.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    iss: String,
    /// The user's session epoch when signed; absent (0) on tokens from before epochs.
    #[serde(default)]
    sv: u64,
}

const ISSUER: &str = "keel";

/// Signing and verification keys for session tokens (HS256, pinned).
///
/// Built once per cold start from a secret of at least 32 bytes; `Debug` never shows it.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
}

impl fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenKeys")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Tokens live a day unless `JWT_TTL_SECONDS` says otherwise: RealWorld clients have no
/// refresh flow, so this is the time until a user must log in again.
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 60 * 60);

impl TokenKeys {
    /// Shortest accepted HS256 secret: the hash's own output size.
    pub const MIN_SECRET_BYTES: usize = 32;

    /// Keys from a secret. Refuses short secrets rather than signing with a guessable key.
    pub fn new(secret: &[u8], ttl: Duration) -> anyhow::Result<Self> {
        anyhow::ensure!(
            secret.len() >= Self::MIN_SECRET_BYTES,
            "the JWT secret must be at least {} bytes",
            Self::MIN_SECRET_BYTES
        );
        let mut validation = Validation::new(jsonwebtoken::Algorithm::HS256);
        validation.leeway = 5;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp", "iat", "sub", "iss"]);
        validation.set_issuer(&[ISSUER]);
        Ok(Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
        })
    }

    /// Signs a token for `user` in session epoch `session` ([`crate::domain::User::session`]).
    pub fn issue(&self, user: &UserId, session: u64) -> Result<String, ApiError> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user.as_str().to_owned(),
            iat: now,
            exp: now + ttl,
            iss: ISSUER.into(),
            sv: session,
        };
        jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &self.encoding,
        )
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing a token failed: {e}")))
    }

    /// Verifies signature, algorithm, issuer and expiry; answers who the token names. Whether
    /// its session is still open is the caller's check ([`crate::Deps::require`]).
    pub fn verify(&self, token: &str) -> Result<Claimed, ApiError> {
        let claims = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|error| {
                tracing::debug!(reason = %error, "token rejected");
                ApiError::token_invalid()
            })?
            .claims;
        let user_id = UserId::parse(&claims.sub).ok_or_else(ApiError::token_invalid)?;
        Ok(Claimed {
            user_id,
            session: claims.sv,
        })
    }
}

/// An authenticated caller: who they are, and the token they proved it with (RealWorld echoes
/// it back in user responses). Its `Debug` never shows the token: a session may be logged.
#[derive(Clone)]
pub struct Session {
    /// The caller's id, from a verified token.
    pub user_id: UserId,
    /// The presented token.
    pub token: String,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("user_id", &self.user_id)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// What a verified token says: the user, and the session epoch it was signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The user the token was signed for.
    pub user_id: UserId,
    /// The user's session epoch when it was signed.
    pub session: u64,
}

/// How long a container trusts a user's session epoch before reading it again: the longest a
/// token stays usable after "sign out everywhere" or a password change elsewhere.
pub const SESSION_RECHECK: Duration = Duration::from_secs(10);

/// Each container's memory of users' session epochs, so that checking a session is a table
/// read at most once per [`SESSION_RECHECK`] per user, not one per request.
#[derive(Debug, Default)]
pub struct SessionCache {
    epochs: std::sync::Mutex<std::collections::HashMap<UserId, (u64, std::time::Instant)>>,
}

impl SessionCache {
    /// Most users remembered; past it the cache starts again (a cold container's cost).
    const CAPACITY: usize = 10_000;

    /// The epoch read for `user` less than [`SESSION_RECHECK`] ago.
    pub fn fresh(&self, user: &UserId) -> Option<u64> {
        let epochs = self
            .epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        epochs
            .get(user)
            .filter(|(_, read)| read.elapsed() < SESSION_RECHECK)
            .map(|(epoch, _)| *epoch)
    }

    /// Remembers `user`'s current epoch, read from the table or just written.
    pub fn remember(&self, user: &UserId, epoch: u64) {
        let mut epochs = self
            .epochs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if epochs.len() >= Self::CAPACITY {
            epochs.clear();
        }
        epochs.insert(user.clone(), (epoch, std::time::Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_can_be_logged_without_its_token() {
        let session = Session {
            user_id: UserId::from_trusted("u-1".into()),
            token: "eyJ.secret-token.sig".into(),
        };
        let shown = format!("{session:?}");
        assert!(shown.contains("u-1"), "{shown}");
        assert!(!shown.contains("secret-token"), "{shown}");
    }

    fn keys() -> TokenKeys {
        TokenKeys::new(&[7u8; 32], DEFAULT_TOKEN_TTL).unwrap()
    }

    #[test]
    fn the_dummy_hash_costs_what_a_real_hash_costs() {
        let parsed = PasswordHash::new(DUMMY_HASH).unwrap();
        let params = Params::try_from(&parsed).unwrap();
        assert_eq!(parsed.algorithm.as_str(), "argon2id");
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (ARGON2_MEMORY_KIB, ARGON2_ITERATIONS, ARGON2_PARALLELISM)
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_own_password_and_no_other() {
        let password = Password::parse(Some("correct horse")).unwrap();
        let hash = hash_password(password.clone()).await.unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_password(password, Some(hash.clone())).await.unwrap());
        let wrong = Password::parse(Some("wrong horse")).unwrap();
        assert!(!verify_password(wrong, Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let password = Password::parse(Some("anything at all")).unwrap();
        assert!(!verify_password(password, None).await.unwrap());
    }

    #[test]
    fn a_token_round_trips_to_its_user() {
        let user = UserId::generate();
        let token = keys().issue(&user, 3).unwrap();
        assert_eq!(
            keys().verify(&token).unwrap(),
            Claimed {
                user_id: user,
                session: 3
            }
        );
    }

    #[test]
    fn forged_expired_and_unsigned_tokens_are_rejected() {
        let user = UserId::generate();
        let other = TokenKeys::new(&[8u8; 32], DEFAULT_TOKEN_TTL).unwrap();
        let forged = other.issue(&user, 0).unwrap();

        let expired_keys = TokenKeys::new(&[7u8; 32], Duration::ZERO).unwrap();
        let mut expired_claims = Claims {
            sub: user.to_string(),
            iat: 0,
            exp: 0,
            iss: ISSUER.into(),
            sv: 0,
        };
        expired_claims.exp = chrono::Utc::now().timestamp() - 60;
        let expired =
            jsonwebtoken::encode(&Header::default(), &expired_claims, &expired_keys.encoding).unwrap();

        // alg "none" with the claims of a valid token.
        let valid = keys().issue(&user, 0).unwrap();
        let payload = valid.split('.').nth(1).unwrap();
        let unsigned = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");

        let hs512 = jsonwebtoken::encode(
            &Header::new(jsonwebtoken::Algorithm::HS512),
            &Claims {
                sub: user.to_string(),
                iat: 0,
                exp: i64::MAX / 4,
                iss: ISSUER.into(),
                sv: 0,
            },
            &EncodingKey::from_secret(&[7u8; 32]),
        )
        .unwrap();

        for (case, token) in [
            ("forged", forged),
            ("expired", expired),
            ("alg none", unsigned),
            ("hs512", hs512),
            ("garbage", "x.y.z".into()),
            (
                "subject not a user id",
                keys()
                    .issue(&UserId::from_trusted("u".repeat(50_000)), 0)
                    .unwrap(),
            ),
        ] {
            assert_eq!(keys().verify(&token).unwrap_err().status(), 401, "case: {case}");
        }
    }

    #[test]
    fn short_secrets_are_refused() {
        assert!(TokenKeys::new(b"too short", DEFAULT_TOKEN_TTL).is_err());
    }
}
