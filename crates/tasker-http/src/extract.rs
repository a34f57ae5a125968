//! `Json`, `Path` and `Query` wrappers whose rejections use the API error envelope instead of
//! axum's plain-text bodies.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// A JSON body (request) or JSON response.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonDataError(err) => {
            ApiError::Unprocessable(format!("Invalid request body: {}", err.body_text()))
        }
        JsonRejection::JsonSyntaxError(err) => {
            ApiError::BadRequest(format!("Malformed JSON body: {}", err.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::BadRequest("Expected a JSON body with Content-Type: application/json".into())
        }
        other if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("Request body too large".into())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// Path parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(_) => Err(path_rejection(parts, state).await),
        }
    }
}

/// Names the parameter that is wrong without the framework's or a parser's wording: ids are
/// UUIDs, so a `..._uuid` segment that does not parse is named; anything else is generic.
async fn path_rejection<S: Send + Sync>(parts: &mut Parts, state: &S) -> ApiError {
    let raw = axum::extract::RawPathParams::from_request_parts(parts, state).await;
    let bad_id = raw.ok().and_then(|params| {
        params
            .iter()
            .find(|(name, value)| name.ends_with("_uuid") && uuid::Uuid::parse_str(value).is_err())
            .map(|(name, _)| name.to_owned())
    });
    match bad_id {
        Some(name) => ApiError::BadRequest(format!("Invalid path: `{name}` must be a UUID")),
        None => ApiError::BadRequest("Invalid path parameters".into()),
    }
}

/// Query parameters.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Self(value))
            .map_err(|rejection: QueryRejection| {
                ApiError::BadRequest(format!("Invalid query: {}", rejection.body_text()))
            })
    }
}
