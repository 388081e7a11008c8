//! `/api/articles/{slug}/comments` and `/comments/{id}`.

use http::StatusCode;
use keel::domain::CommentBody;
use keel::http::{empty, json, path_param, wrapped_body};
use keel::{ApiError, Deps};
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::views::{CommentResponse, CommentsResponse};

/// GET /api/articles/{slug}/comments — newest first; `following` reflects the caller.
pub async fn list(deps: &Deps, req: Request) -> Response<Body> {
    run_list(deps, req).await.unwrap_or_else(ApiError::into_response)
}

#[tracing::instrument(name = "list_comments", skip_all)]
async fn run_list(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let viewer = deps.tokens.optional(&req)?;
    let slug = path_param(&req, "slug")?;
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

/// POST /api/articles/{slug}/comments — add a comment (201).
pub async fn add(deps: &Deps, req: Request) -> Response<Body> {
    run_add(deps, req).await.unwrap_or_else(ApiError::into_response)
}

#[tracing::instrument(name = "add_comment", skip_all, fields(user_id))]
async fn run_add(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.tokens.require(&req)?;
    let slug = path_param(&req, "slug")?;
    let dto: NewCommentDto = wrapped_body(&req, "comment")?;
    let body = CommentBody::parse(dto.body.as_deref())?;
    let comment = deps.store.add_comment(&slug, &session.user_id, body).await?;
    Ok(json(StatusCode::CREATED, &CommentResponse::new(&comment)))
}

/// DELETE /api/articles/{slug}/comments/{id} — delete one's own comment (204).
pub async fn delete(deps: &Deps, req: Request) -> Response<Body> {
    run_delete(deps, req)
        .await
        .unwrap_or_else(ApiError::into_response)
}

#[tracing::instrument(name = "delete_comment", skip_all, fields(user_id))]
async fn run_delete(deps: &Deps, req: Request) -> Result<Response<Body>, ApiError> {
    let session = deps.tokens.require(&req)?;
    let slug = path_param(&req, "slug")?;
    let id: u64 = path_param(&req, "id")?
        .parse()
        .map_err(|_| ApiError::NotFound("comment"))?;
    deps.store.delete_comment(&slug, id, &session.user_id).await?;
    Ok(empty(StatusCode::NO_CONTENT))
}
