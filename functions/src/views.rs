//! RealWorld's response shapes (camelCase JSON) for profiles, articles and comments.

use keel::domain::{Article, Comment, Profile};
use serde::Serialize;
use utoipa::ToSchema;

/// `{"profile": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct ProfileResponse<'a> {
    profile: ProfileBody<'a>,
}

impl<'a> ProfileResponse<'a> {
    /// The response for `profile`.
    pub fn new(profile: &'a Profile) -> Self {
        Self {
            profile: ProfileBody::from(profile),
        }
    }
}

/// A profile, inside any response.
#[derive(Serialize, ToSchema)]
pub struct ProfileBody<'a> {
    username: &'a str,
    bio: Option<&'a str>,
    image: Option<&'a str>,
    following: bool,
}

impl<'a> From<&'a Profile> for ProfileBody<'a> {
    fn from(p: &'a Profile) -> Self {
        Self {
            username: &p.username,
            bio: p.bio.as_deref(),
            image: p.image.as_deref(),
            following: p.following,
        }
    }
}

/// An article; `body` is left out of lists.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticleBody<'a> {
    slug: &'a str,
    title: &'a str,
    description: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<&'a str>,
    tag_list: &'a [String],
    #[schema(format = DateTime)]
    created_at: &'a str,
    #[schema(format = DateTime)]
    updated_at: &'a str,
    favorited: bool,
    favorites_count: u64,
    author: ProfileBody<'a>,
}

impl<'a> From<&'a Article> for ArticleBody<'a> {
    fn from(a: &'a Article) -> Self {
        Self {
            slug: &a.slug,
            title: &a.title,
            description: &a.description,
            body: a.body.as_deref(),
            tag_list: &a.tags,
            created_at: &a.created_at,
            updated_at: &a.updated_at,
            favorited: a.favorited,
            favorites_count: a.favorites_count,
            author: ProfileBody::from(&a.author),
        }
    }
}

/// `{"article": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct ArticleResponse<'a> {
    article: ArticleBody<'a>,
}

impl<'a> ArticleResponse<'a> {
    /// The response for `article`.
    pub fn new(article: &'a Article) -> Self {
        Self {
            article: ArticleBody::from(article),
        }
    }
}

/// `{"articles": [...], "articlesCount": n}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArticlesResponse<'a> {
    articles: Vec<ArticleBody<'a>>,
    articles_count: u64,
}

impl<'a> ArticlesResponse<'a> {
    /// The response for a page and the filter's total.
    pub fn new(articles: &'a [Article], count: u64) -> Self {
        Self {
            articles: articles.iter().map(ArticleBody::from).collect(),
            articles_count: count,
        }
    }
}

/// A comment, inside any response.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CommentBody<'a> {
    id: u64,
    #[schema(format = DateTime)]
    created_at: &'a str,
    #[schema(format = DateTime)]
    updated_at: &'a str,
    body: &'a str,
    author: ProfileBody<'a>,
}

impl<'a> From<&'a Comment> for CommentBody<'a> {
    fn from(c: &'a Comment) -> Self {
        Self {
            id: c.id,
            created_at: &c.created_at,
            updated_at: &c.updated_at,
            body: &c.body,
            author: ProfileBody::from(&c.author),
        }
    }
}

/// `{"comment": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct CommentResponse<'a> {
    comment: CommentBody<'a>,
}

impl<'a> CommentResponse<'a> {
    /// The response for `comment`.
    pub fn new(comment: &'a Comment) -> Self {
        Self {
            comment: CommentBody::from(comment),
        }
    }
}

/// `{"comments": [...]}`.
#[derive(Serialize, ToSchema)]
pub struct CommentsResponse<'a> {
    comments: Vec<CommentBody<'a>>,
}

impl<'a> CommentsResponse<'a> {
    /// The response for `comments`.
    pub fn new(comments: &'a [Comment]) -> Self {
        Self {
            comments: comments.iter().map(CommentBody::from).collect(),
        }
    }
}
