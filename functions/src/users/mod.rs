//! `/api/users` and `/api/user`.

/// `GET /api/user`.
pub mod current;
/// `POST /api/users/login`.
pub mod login;
/// `POST /api/user/logout`.
pub mod logout;
/// `POST /api/users`.
pub mod register;
/// `PUT /api/user`.
pub mod update;

use keel::domain::User;
use serde::Serialize;
use utoipa::ToSchema;

use crate::endpoint;

endpoint!(
    /// `register-user`: POST /api/users.
    REGISTER = "register-user" => register::handle, TableAndTokens
);
endpoint!(
    /// `login`: POST /api/users/login.
    LOGIN = "login" => login::handle, TableAndTokens
);
endpoint!(
    /// `get-current-user`: GET /api/user.
    CURRENT = "get-current-user" => current::handle, TableAndTokens
);
endpoint!(
    /// `update-current-user`: PUT /api/user.
    UPDATE = "update-current-user" => update::handle, TableAndTokens
);
endpoint!(
    /// `logout`: POST /api/user/logout.
    LOGOUT = "logout" => logout::handle, TableAndTokens
);

/// RealWorld's `{"user": {...}}` response, token included.
#[derive(Serialize, ToSchema)]
pub struct UserResponse<'a> {
    user: UserBody<'a>,
}

#[derive(Serialize, ToSchema)]
struct UserBody<'a> {
    email: &'a str,
    token: &'a str,
    username: &'a str,
    bio: Option<&'a str>,
    image: Option<&'a str>,
}

impl<'a> UserResponse<'a> {
    /// The whole response: `status`, `user` with `token`, never stored by a cache.
    pub fn reply(
        status: http::StatusCode,
        user: &'a User,
        token: &'a str,
    ) -> lambda_http::Response<lambda_http::Body> {
        keel::http::no_store(keel::http::json(status, &Self::new(user, token)))
    }

    /// The body for `user`, carrying `token`.
    pub fn new(user: &'a User, token: &'a str) -> Self {
        Self {
            user: UserBody {
                email: user.email.as_str(),
                token,
                username: user.username.as_str(),
                bio: user.bio.as_deref(),
                image: user.image.as_deref(),
            },
        }
    }
}
