//! Every way a request fails, and the one place each becomes a
//! `RestException` on the wire (twilio-2008.md §5, decisions.md).
//!
//! The body is always `<TwilioResponse><RestException>` with `Status`,
//! `Message`, `Code` and `MoreInfo` in that order. Internal failures are
//! logged here at error level with their detail; the client only ever sees
//! a generic message.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::types::Exception;
use crate::{respond, xml};

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A parameter value that does not parse (400, code 20001). The message
    /// names the parameter.
    #[error("{0}")]
    InvalidParameter(String),
    /// A 2010-04-01 request Twilio refuses with a code of its own (400):
    /// 21201 no `To`, 21213 no `From`, 21205 a URL that is not one, 21211
    /// a `To` that is neither a SIP URI nor a number, 21215 no trunk for
    /// that number, 21218 `ApplicationSid`, 21220 a call in the wrong state.
    #[error("{message}")]
    Invalid { code: u32, message: String },
    /// `num` above 1000 (400, code 20007).
    #[error("{0}")]
    PageSizeTooLarge(String),
    /// No, bad or foreign credentials (401, code 20003). One variant for
    /// every cause, so the answer never tells which.
    #[error("authentication failed")]
    Unauthorized,
    /// Too many bad credentials from this client lately (429, code 20429,
    /// `Retry-After`); see module `throttle`.
    #[error("too many failed authentications (retry after {retry_after_secs} s)")]
    TooManyRequests { retry_after_secs: u64 },
    /// Unknown path, conference, or participant (404, code 20404).
    #[error("not found")]
    NotFound,
    /// The resource does not support the method (405, code 20004).
    #[error("method not allowed (allow: {allow})")]
    MethodNotAllowed { allow: &'static str },
    /// A request body over 64 KiB, `body::MAX_BODY` (413; Twilio has no
    /// error code for it, so the exception has none).
    #[error("request body too large")]
    BodyTooLarge,
    /// The request body could not be read (400, code 20001).
    #[error("request body could not be read")]
    BodyUnreadable,
    /// The conference owner is gone or could not persist (503, code 20503).
    #[error("conference service unavailable")]
    Unavailable,
    /// The store failed (500, code 20500).
    #[error("store: {0}")]
    Store(#[from] store::StoreError),
    /// An XML body could not be written (500, code 20500).
    #[error("rendering: {0}")]
    Render(#[from] std::io::Error),
}

impl ApiError {
    /// The status, client-facing message and error code of this error.
    pub fn exception(&self) -> Exception<'_> {
        let (status, message, code) = match self {
            Self::InvalidParameter(m) => (StatusCode::BAD_REQUEST, m.as_str(), Some(20001)),
            Self::Invalid { code, message } => {
                (StatusCode::BAD_REQUEST, message.as_str(), Some(*code))
            }
            Self::PageSizeTooLarge(m) => (StatusCode::BAD_REQUEST, m.as_str(), Some(20007)),
            Self::Unauthorized => (StatusCode::UNAUTHORIZED, "Authenticate", Some(20003)),
            Self::TooManyRequests { .. } => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many failed authentications from this address; retry after Retry-After seconds",
                Some(20429),
            ),
            Self::NotFound => (
                StatusCode::NOT_FOUND,
                "The requested resource was not found",
                Some(20404),
            ),
            Self::MethodNotAllowed { .. } => (
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed",
                Some(20004),
            ),
            Self::BodyTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "Request body too large",
                None,
            ),
            Self::BodyUnreadable => (
                StatusCode::BAD_REQUEST,
                "The request body could not be read",
                Some(20001),
            ),
            Self::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "The conference service is temporarily unavailable",
                Some(20503),
            ),
            Self::Store(_) | Self::Render(_) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Internal server error",
                Some(20500),
            ),
        };
        Exception {
            status,
            message,
            code,
        }
    }
}

impl ApiError {
    /// Logs the error (internal ones with their detail, at error level).
    pub fn log(&self) {
        match self {
            Self::Store(e) => tracing::error!(error = %e, "store failure while serving a request"),
            Self::Render(e) => tracing::error!(error = %e, "could not render a response"),
            other => tracing::debug!(error = %other, "request refused"),
        }
    }

    /// Adds the headers this error's status calls for: the 401's
    /// challenge, the 405's `Allow`, the 429's `Retry-After`.
    pub fn add_headers(&self, response: &mut Response) {
        let headers = response.headers_mut();
        match *self {
            Self::Unauthorized => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(r#"Basic realm="confab""#),
                );
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            }
            _ => {}
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.log();
        let exception = self.exception();
        let document = xml::rest_exception(&exception).unwrap_or_else(|e| {
            tracing::error!(error = %e, "could not render a RestException");
            Vec::new()
        });
        let mut response = respond::body(exception.status, respond::XML, document);
        self.add_headers(&mut response);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::rest_exception;
    use crate::xml::tests::{DECL, DOC_400, DOC_404, assert_golden, parse, utf8};

    #[test]
    fn statuses_and_codes() {
        let cases: Vec<(ApiError, u16, Option<u32>)> = vec![
            (ApiError::InvalidParameter("x".into()), 400, Some(20001)),
            (ApiError::PageSizeTooLarge("x".into()), 400, Some(20007)),
            (ApiError::Unauthorized, 401, Some(20003)),
            (ApiError::NotFound, 404, Some(20404)),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 7,
                },
                429,
                Some(20429),
            ),
            (
                ApiError::MethodNotAllowed { allow: "GET" },
                405,
                Some(20004),
            ),
            (ApiError::BodyTooLarge, 413, None),
            (ApiError::BodyUnreadable, 400, Some(20001)),
            (ApiError::Unavailable, 503, Some(20503)),
            (
                ApiError::Render(std::io::Error::other("secret detail")),
                500,
                Some(20500),
            ),
            (
                ApiError::Store(store::StoreError::Corrupt("secret detail".into())),
                500,
                Some(20500),
            ),
        ];
        for (error, status, code) in cases {
            let e = error.exception();
            assert_eq!((e.status.as_u16(), e.code), (status, code), "{error:?}");
            assert!(!e.message.contains("secret"), "{error:?}");
        }
    }

    #[test]
    fn headers_of_401_and_405() {
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            r.headers()[header::WWW_AUTHENTICATE],
            r#"Basic realm="confab""#
        );
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "application/xml; charset=utf-8"
        );
        let r = ApiError::MethodNotAllowed {
            allow: "GET, POST, DELETE",
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, POST, DELETE");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
        let r = ApiError::NotFound.into_response();
        assert!(r.headers().get(header::ALLOW).is_none());
        let r = ApiError::TooManyRequests {
            retry_after_secs: 42,
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert!(r.headers().get(header::WWW_AUTHENTICATE).is_none());
    }

    #[test]
    fn not_found_is_like_the_2008_doc_plus_code_and_more_info() {
        let body = utf8(rest_exception(&ApiError::NotFound.exception()));
        // decisions.md adds Code 20404 and its MoreInfo after the 2008 pair.
        let root = assert_golden(
            &body,
            DOC_404,
            Some(("RestException", &["Code", "MoreInfo"])),
        );
        let e = &root.children[0];
        assert_eq!(e.children[2].text, "20404");
        assert_eq!(
            e.children[3].text,
            "http://www.twilio.com/docs/errors/20404"
        );
    }

    #[test]
    fn bad_request_is_shaped_like_the_2008_doc() {
        let doc = parse(DOC_400).0;
        let error = ApiError::InvalidParameter("Invalid value for parameter Status".into());
        let body = utf8(rest_exception(&error.exception()));
        assert!(body.starts_with(&format!("{DECL}<TwilioResponse>")));
        let (ours, padded) = parse(&body);
        assert!(!padded);
        let e = &ours.children[0];
        assert_eq!(ours.child_names(), doc.child_names());
        assert_eq!(e.child_names(), doc.children[0].child_names());
        assert_eq!(e.child_names(), ["Status", "Message", "Code", "MoreInfo"]);
        assert_eq!(e.children[0].text, "400");
        assert_eq!(e.children[2].text, "20001");
        assert_eq!(
            e.children[3].text,
            "http://www.twilio.com/docs/errors/20001"
        );
    }

    #[test]
    fn rest_exception_bytes() {
        let want = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<TwilioResponse><RestException>",
            "<Status>404</Status>",
            "<Message>The requested resource was not found</Message>",
            "<Code>20404</Code>",
            "<MoreInfo>http://www.twilio.com/docs/errors/20404</MoreInfo>",
            "</RestException></TwilioResponse>",
        );
        assert_eq!(utf8(rest_exception(&ApiError::NotFound.exception())), want);
        let want_401 = concat!(
            r#"<?xml version="1.0" encoding="UTF-8"?>"#,
            "<TwilioResponse><RestException>",
            "<Status>401</Status><Message>Authenticate</Message><Code>20003</Code>",
            "<MoreInfo>http://www.twilio.com/docs/errors/20003</MoreInfo>",
            "</RestException></TwilioResponse>",
        );
        assert_eq!(
            utf8(rest_exception(&ApiError::Unauthorized.exception())),
            want_401
        );
    }
}
