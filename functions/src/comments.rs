//! `/api/articles/{slug}/comments` and `/comments/{id}`.

use http::StatusCode;
use keel::domain::CommentBody;
use keel::http::{comment_id_param, empty, json, slug_param, wrapped_body};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::endpoint;
use crate::views::{CommentResponse, CommentsResponse};

endpoint!(
    /// `list-comments`: GET /api/articles/{slug}/comments.
    LIST = "list-comments" => list, TableAndTokens
);
endpoint!(
    /// `add-comment`: POST /api/articles/{slug}/comments.
    ADD = "add-comment" => add, TableAndTokens
);
endpoint!(
    /// `delete-comment`: DELETE /api/articles/{slug}/comments/{id}.
    DELETE = "delete-comment" => delete, TableAndTokens
);

/// GET /api/articles/{slug}/comments — newest first; `following` reflects the caller.
#[utoipa::path(get, path = "/api/articles/{slug}/comments", tag = "comments", operation_id = "listComments",
    summary = "An article's comments",
    params(("slug" = String, Path, description = "The article's slug")),
    responses((status = 200, description = "The comments", body = CommentsResponse)),
    security((), ("token" = [])))]
#[tracing::instrument(name = "list_comments", skip_all)]
pub async fn list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.optional(&req).await?;
    let slug = slug_param(&req)?;
    let comments = deps
        .store
        .comments(&slug, viewer.as_ref().map(|s| &s.user_id))
        .await?
        .ok_or(ApiError::NotFound("article"))?;
    Ok(json(StatusCode::OK, &CommentsResponse::new(&comments)))
}

#[derive(Deserialize)]
struct NewCommentDto {
    body: Option<String>,
}

/// What a valid request is, for the document: the DTO above is lenient on purpose (a missing
/// field gets RealWorld's "can't be blank" 422), while the document states the limits.
#[allow(dead_code)] // Described, never constructed.
pub(crate) mod request {
    use serde::Deserialize;
    use utoipa::ToSchema;

    use crate::schema;

    /// `{"comment": {"body"}}`.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewCommentRequest {
        comment: NewCommentFields,
    }

    /// A comment.
    #[derive(Deserialize, ToSchema)]
    pub(crate) struct NewCommentFields {
        #[schema(inline)]
        body: schema::CommentText,
    }
}

/// POST /api/articles/{slug}/comments — add a comment (201).
#[utoipa::path(post, path = "/api/articles/{slug}/comments", tag = "comments", operation_id = "addComment",
    summary = "Comment on an article",
    params(("slug" = String, Path, description = "The article's slug")),
    request_body = request::NewCommentRequest,
    responses((status = 201, description = "The comment", body = CommentResponse)),
    security(("token" = [])))]
#[tracing::instrument(name = "add_comment", skip_all, fields(user_id))]
pub async fn add(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let slug = slug_param(&req)?;
    let dto: NewCommentDto = wrapped_body(&req, "comment")?;
    let body = CommentBody::parse(dto.body.as_deref())?;
    let comment = deps.store.add_comment(&slug, &session.user_id, body).await?;
    Ok(json(StatusCode::CREATED, &CommentResponse::new(&comment)))
}

/// DELETE /api/articles/{slug}/comments/{id} — delete one's own comment (204).
#[utoipa::path(delete, path = "/api/articles/{slug}/comments/{id}", tag = "comments", operation_id = "deleteComment",
    summary = "Delete one's own comment",
    params(
        ("slug" = String, Path, description = "The article's slug"),
        ("id" = u64, Path, description = "The comment's id"),
    ),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Not the comment's author", body = crate::schema::ErrorBody),
    ),
    security(("token" = [])))]
#[tracing::instrument(name = "delete_comment", skip_all, fields(user_id))]
pub async fn delete(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.require(&req).await?;
    let slug = slug_param(&req)?;
    let id = comment_id_param(&req)?;
    deps.store.delete_comment(&slug, id, &session.user_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
