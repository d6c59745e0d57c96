//! The headers on every response of confab's own pages (the dashboard,
//! the join page): never framed, never sniffed, no Referer leaving the
//! page, and the page's own content security policy.

use axum::http::{HeaderMap, HeaderValue, header};

/// Adds the headers, with `content_security_policy` for the page.
pub(crate) fn harden(headers: &mut HeaderMap, content_security_policy: &'static str) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(content_security_policy),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
}
