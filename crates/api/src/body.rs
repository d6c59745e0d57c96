//! Reading request bodies and answering HEAD, the same for both API
//! versions.

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, header};
use axum::response::Response;
use http_body_util::{BodyExt as _, LengthLimitError, Limited};

use crate::error::ApiError;

/// The largest request body read: far above any form either API takes.
/// Larger ones are answered 413.
pub const MAX_BODY: usize = 64 * 1024;

/// Reads at most [`MAX_BODY`] bytes of a request body.
pub async fn read_body(body: Body) -> Result<Bytes, ApiError> {
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(ApiError::BodyTooLarge),
        Err(e) => {
            tracing::debug!(error = %e, "could not read a request body");
            Err(ApiError::BodyUnreadable)
        }
    }
}

/// The answer to a HEAD: the GET's status and headers, its length, no body.
pub fn without_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    if let Some(length) = axum::body::HttpBody::size_hint(&body).exact() {
        parts
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    }
    Response::from_parts(parts, Body::empty())
}
