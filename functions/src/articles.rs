//! `/api/articles`, `/api/articles/feed`, `/api/articles/{slug}` and `/favorite`, `/api/tags`.

use http::StatusCode;
use keel::domain::{ArticleChanges, DateRange, NewArticle, Page, Tag, TitleQuery, Username};
use keel::error::FieldErrors;
use keel::http::{empty, json, public, query_param, slug_param, wrapped_body};
use keel::store::{ArticleSearch, ListFilter};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};

use crate::endpoint;
use crate::views::{ArticleResponse, ArticlesResponse};

endpoint!(
    /// `list-articles`: GET /api/articles.
    LIST = "list-articles" => list, TableAndTokens
);
endpoint!(
    /// `get-feed`: GET /api/articles/feed.
    FEED = "get-feed" => feed, TableAndTokens
);
endpoint!(
    /// `get-article`: GET /api/articles/{slug}.
    GET = "get-article" => get, TableAndTokens
);
endpoint!(
    /// `create-article`: POST /api/articles.
    CREATE = "create-article" => create, TableAndTokens
);
endpoint!(
    /// `update-article`: PUT /api/articles/{slug}.
    UPDATE = "update-article" => update, TableAndTokens
);
endpoint!(
    /// `delete-article`: DELETE /api/articles/{slug}.
    DELETE = "delete-article" => delete, TableAndTokens
);
endpoint!(
    /// `favorite-article`: POST /api/articles/{slug}/favorite.
    FAVORITE = "favorite-article" => favorite, TableAndTokens
);
endpoint!(
    /// `unfavorite-article`: DELETE /api/articles/{slug}/favorite.
    UNFAVORITE = "unfavorite-article" => unfavorite, TableAndTokens
);
endpoint!(
    /// `list-tags`: GET /api/tags. Reads no token, so its cold start never fetches the key.
    TAGS = "list-tags" => tags, Table
);

fn page(req: &Request) -> Result<Page, ApiError> {
    Ok(Page::parse(
        query_param(req, "limit").as_deref(),
        query_param(req, "offset").as_deref(),
    )?)
}

/// `?since=&until=`: creation dates, `since` inclusive and `until` exclusive.
fn dates(req: &Request) -> Result<DateRange, ApiError> {
    Ok(DateRange::parse(
        query_param(req, "since").as_deref(),
        query_param(req, "until").as_deref(),
    )?)
}

/// GET /api/articles — newest first, filtered by at most one of `tag`, `author`, `favorited`,
/// narrowed by `title` words and `since`/`until` dates; `limit` (default 20) and `offset`
/// (default 0). `articlesCount` is the filter's total (a search's is capped at 10,100).
#[utoipa::path(get, path = "/api/articles", tag = "articles", operation_id = "listArticles",
    summary = "Articles, newest first, filtered by at most one of tag, author and favorited, searched by title words and dates",
    params(
        ("tag" = Option<String>, Query, description = "Only articles with this tag"),
        ("author" = Option<String>, Query, description = "Only articles by this username"),
        ("favorited" = Option<String>, Query, description = "Only articles this username favorited (not with title)"),
        ("title" = Option<String>, Query, description = "1 to 5 words the title must all contain, in any order, case and accents ignored (each word at most 40 letters or digits)"),
        ("since" = Option<String>, Query, description = "Created at or after: a date (2026-12-01, midnight UTC) or a date-time with its zone"),
        ("until" = Option<String>, Query, description = "Created before: a date or a date-time with its zone; not before since"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 10000, description = "Articles to skip (default 0)"),
    ),
    responses(
        (status = 200, description = "A page and the filter's total", body = ArticlesResponse),
        (status = 422, description = "More than one filter, title with favorited, a title without words or with too many, a date that is not one, until before since, or limit/offset out of range", body = crate::schema::ErrorBody),
    ),
    security((), ("token" = [])))]
#[tracing::instrument(name = "list_articles", skip_all)]
pub async fn list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let page = page(&req)?;
    let search = ArticleSearch {
        title: query_param(&req, "title")
            .map(|raw| TitleQuery::parse(&raw))
            .transpose()?,
        dates: dates(&req)?,
    };
    // A name no user could have, or a tag no article could carry, matches nothing: an empty
    // list, as for an unknown one.
    let user = |raw: String| Username::parse(Some(&raw)).ok();
    let filters: Vec<Option<ListFilter>> = [
        query_param(&req, "tag").map(|tag| Tag::filter(&tag).map(ListFilter::Tag)),
        query_param(&req, "author").map(|name| user(name).map(ListFilter::Author)),
        query_param(&req, "favorited").map(|name| user(name).map(ListFilter::Favorited)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let filter = match filters.len() {
        0 => ListFilter::All,
        1 => match filters.into_iter().next().flatten() {
            Some(filter) => filter,
            None => return Ok(json(StatusCode::OK, &ArticlesResponse::new(&[], 0))),
        },
        _ => {
            return Err(FieldErrors::single("query", "use at most one of tag, author and favorited").into());
        }
    };
    let list = deps
        .store
        .list_articles(filter, &search, page, viewer.as_ref().map(|s| &s.user_id))
        .await?;
    Ok(json(
        StatusCode::OK,
        &ArticlesResponse::new(&list.articles, list.count),
    ))
}

/// GET /api/articles/feed — articles by the authors the caller follows, newest first.
#[utoipa::path(get, path = "/api/articles/feed", tag = "articles", operation_id = "getFeed",
    summary = "Articles by the authors the caller follows, newest first",
    params(
        ("since" = Option<String>, Query, description = "Created at or after: a date (2026-12-01, midnight UTC) or a date-time with its zone"),
        ("until" = Option<String>, Query, description = "Created before: a date or a date-time with its zone; not before since"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 100, description = "Page size (default 20)"),
        ("offset" = Option<u32>, Query, minimum = 0, maximum = 10000, description = "Articles to skip (default 0)"),
    ),
    responses(
        (status = 200, description = "A page and the feed's total", body = ArticlesResponse),
        (status = 422, description = "A date that is not one, until before since, or limit/offset out of range", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "feed", skip_all, fields(user_id))]
pub async fn feed(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let page = page(&req)?;
    let search = ArticleSearch {
        title: None,
        dates: dates(&req)?,
    };
    let list = deps
        .store
        .list_articles(
            ListFilter::Feed(session.user_id.clone()),
            &search,
            page,
            Some(&session.user_id),
        )
        .await?;
    Ok(json(
        StatusCode::OK,
        &ArticlesResponse::new(&list.articles, list.count),
    ))
}

/// GET /api/articles/{slug} — one article with its body.
#[utoipa::path(get, path = "/api/articles/{slug}", tag = "articles", operation_id = "getArticle",
    summary = "One article with its body",
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 200, description = "The article", body = ArticleResponse)),
    security((), ("token" = [])))]
#[tracing::instrument(name = "get_article", skip_all)]
pub async fn get(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let slug = slug_param(&req)?;
    let article = deps
        .store
        .article(&slug, viewer.as_ref().map(|s| &s.user_id))
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    Ok(json(StatusCode::OK, &ArticleResponse::new(&article)))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ArticleDto {
    #[serde(default, deserialize_with = "keel::http::not_null")]
    title: Option<String>,
    #[serde(default, deserialize_with = "keel::http::not_null")]
    description: Option<String>,
    #[serde(default, deserialize_with = "keel::http::not_null")]
    body: Option<String>,
    /// Absent keeps the tags on update; `null` is rejected (see `tag_list`).
    #[serde(default, deserialize_with = "keel::http::double_option")]
    tag_list: Option<Option<Vec<String>>>,
}

impl ArticleDto {
    /// `tagList: null` is refused rather than read as "no tags" or "keep": the client must say.
    fn tag_list(&self) -> Result<Option<&[String]>, FieldErrors> {
        match &self.tag_list {
            None => Ok(None),
            Some(None) => Err(FieldErrors::single(
                "tagList",
                "must be an array of strings, not null",
            )),
            Some(Some(tags)) => Ok(Some(tags)),
        }
    }
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"article": {...}}` to create an article.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewArticleRequest {
        article: NewArticleFields,
    }

    /// A new article. Images linked in the body (`…/api/uploads/{id}/content`) must be the
    /// author's own ready `article` uploads, at most 10.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct NewArticleFields {
        #[schema(inline)]
        title: schema::TitleText,
        #[schema(inline)]
        description: schema::DescriptionText,
        #[schema(inline)]
        body: schema::ArticleBodyText,
        #[schema(inline, nullable = false)]
        tag_list: Option<schema::Tags>,
    }

    /// `{"article": {...}}`: the fields to change, at least one. A new title gives a new slug.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct UpdateArticleRequest {
        article: ArticleChangesFields,
    }

    /// Changes to an article.
    #[derive(Deserialize, ToSchema)]
    #[serde(rename_all = "camelCase")]
    #[schema(min_properties = 1)]
    #[serde(deny_unknown_fields)]
    pub(crate) struct ArticleChangesFields {
        #[schema(inline, nullable = false)]
        title: Option<schema::TitleText>,
        #[schema(inline, nullable = false)]
        description: Option<schema::DescriptionText>,
        #[schema(inline, nullable = false)]
        body: Option<schema::ArticleBodyText>,
        #[schema(inline, nullable = false)]
        tag_list: Option<schema::Tags>,
    }
}

/// POST /api/articles — create an article (201).
#[utoipa::path(post, path = "/api/articles", tag = "articles", operation_id = "createArticle",
    summary = "Create an article",
    request_body = request::NewArticleRequest,
    responses((status = 201, description = "The article", body = ArticleResponse)),
    security(("token" = [])))]
#[tracing::instrument(name = "create_article", skip_all, fields(user_id))]
pub async fn create(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let dto: ArticleDto = wrapped_body(&req, "article")?;
    let tags = dto.tag_list()?;
    let new = NewArticle::parse(
        dto.title.as_deref(),
        dto.description.as_deref(),
        dto.body.as_deref(),
        tags,
    )?;
    let article = deps.store.create_article(&session.user_id, new).await?;
    Ok(json(StatusCode::CREATED, &ArticleResponse::new(&article)))
}

/// PUT /api/articles/{slug} — partial update by the author; a new title gives a new slug.
#[utoipa::path(put, path = "/api/articles/{slug}", tag = "articles", operation_id = "updateArticle",
    summary = "Change an article (its author only); a new title gives a new slug",
    params(("slug" = String, Path, description = "The article's slug")),
    request_body = request::UpdateArticleRequest,
    responses(
        (status = 200, description = "The article", body = ArticleResponse),
        (status = 403, description = "Not the author", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "update_article", skip_all, fields(user_id))]
pub async fn update(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let slug = slug_param(&req)?;
    let dto: ArticleDto = wrapped_body(&req, "article")?;
    let tags = dto.tag_list()?;
    let changes = ArticleChanges::parse(
        dto.title.as_deref(),
        dto.description.as_deref(),
        dto.body.as_deref(),
        tags,
    )?;
    if changes.is_empty() {
        return Err(FieldErrors::single("article", "must include at least one field to change").into());
    }
    let article = deps
        .store
        .update_article(&slug, &session.user_id, changes)
        .await?;
    Ok(json(StatusCode::OK, &ArticleResponse::new(&article)))
}

/// DELETE /api/articles/{slug} — delete by the author (204).
#[utoipa::path(delete, path = "/api/articles/{slug}", tag = "articles", operation_id = "deleteArticle",
    summary = "Delete an article (its author only)",
    params(("slug" = String, Path, description = "The article's slug")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the author", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "delete_article", skip_all, fields(user_id))]
pub async fn delete(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let slug = slug_param(&req)?;
    deps.store.delete_article(&slug, &session.user_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}

/// POST /api/articles/{slug}/favorite — favorite (idempotent: a repeat never counts twice).
#[utoipa::path(post, path = "/api/articles/{slug}/favorite", tag = "articles", operation_id = "favoriteArticle",
    summary = "Favorite an article (idempotent)",
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 200, description = "The article", body = ArticleResponse)),
    security(("token" = [])))]
pub async fn favorite(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    set_favorite::<true>(deps, req).await
}

/// DELETE /api/articles/{slug}/favorite — unfavorite (idempotent).
#[utoipa::path(delete, path = "/api/articles/{slug}/favorite", tag = "articles", operation_id = "unfavoriteArticle",
    summary = "Unfavorite an article (idempotent)",
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 200, description = "The article", body = ArticleResponse)),
    security(("token" = [])))]
pub async fn unfavorite(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    set_favorite::<false>(deps, req).await
}

#[tracing::instrument(name = "set_favorite", skip_all, fields(user_id, favorite = FAVORITE))]
async fn set_favorite<const FAVORITE: bool>(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let slug = slug_param(&req)?;
    let article = if FAVORITE {
        deps.store.favorite(&slug, &session.user_id).await?
    } else {
        deps.store.unfavorite(&slug, &session.user_id).await?
    };
    Ok(json(StatusCode::OK, &ArticleResponse::new(&article)))
}

/// `{"tags": [...]}`.
#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct TagsResponse {
    tags: Vec<String>,
}

/// GET /api/tags — every tag in use, most used first.
#[utoipa::path(get, path = "/api/tags", tag = "articles", operation_id = "listTags",
    summary = "Every tag in use, most used first",
    responses((status = 200, description = "The tags", body = TagsResponse)))]
#[tracing::instrument(name = "list_tags", skip_all)]
pub async fn tags(deps: &Deps, _req: Request) -> Result<Response<Body>, ApiError> {
    let tags = deps.store.tags().await?;
    Ok(public(json(StatusCode::OK, &TagsResponse { tags })))
}
