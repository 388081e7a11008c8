//! What the content API shows: profiles, articles and comments as a given viewer sees them.

/// A user as others see them. `following` is relative to the viewer (always `false` for an
/// anonymous viewer or for oneself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// Username.
    pub username: String,
    /// Bio, if any.
    pub bio: Option<String>,
    /// Image URL, if any.
    pub image: Option<String>,
    /// Whether the viewer follows this user.
    pub following: bool,
}

/// An article as a viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Article {
    /// URL name.
    pub slug: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Body; `None` in lists, which leave it out.
    pub body: Option<String>,
    /// Tags, sorted.
    pub tags: Vec<String>,
    /// ISO 8601 UTC with milliseconds.
    pub created_at: String,
    /// ISO 8601 UTC with milliseconds.
    pub updated_at: String,
    /// Whether the viewer favorited it.
    pub favorited: bool,
    /// How many users favorited it.
    pub favorites_count: u64,
    /// The author, as the viewer sees them.
    pub author: Profile,
}

/// A comment as a viewer sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    /// Integer id, unique within its article.
    pub id: u64,
    /// ISO 8601 UTC with milliseconds.
    pub created_at: String,
    /// ISO 8601 UTC with milliseconds.
    pub updated_at: String,
    /// Text.
    pub body: String,
    /// The author, as the viewer sees them.
    pub author: Profile,
}
