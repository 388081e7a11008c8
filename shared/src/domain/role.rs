//! Roles: what a user may do beyond their own data.

/// What a user may do beyond their own data. Only an operator changes it (`keel-local admin`);
/// no API body can.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Every registered user.
    #[default]
    User,
    /// Manages the catalog, stock and every order.
    Admin,
}

impl Role {
    /// True for [`Role::Admin`].
    pub fn is_admin(self) -> bool {
        self == Role::Admin
    }

    /// As stored (and as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}
