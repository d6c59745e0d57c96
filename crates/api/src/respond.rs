//! Responses with a body, the same for both API versions.

use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

/// The Content-Type of every XML body.
pub const XML: HeaderValue = HeaderValue::from_static("application/xml; charset=utf-8");

/// The Content-Type of every JSON body.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json; charset=utf-8");

/// A response of `status` with `body` of `content_type`. Built as it is:
/// axum's conversion of a `(status, headers, Vec<u8>)` tuple inserts a
/// Content-Type of its own for the body and then replaces it with ours.
/// (The types are constants so their bytes are checked once, when
/// compiling, where `HeaderValue::from_static` at run time checked them on
/// every response.)
pub fn body(status: StatusCode, content_type: HeaderValue, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    response
}
