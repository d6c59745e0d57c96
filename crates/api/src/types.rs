//! Plain types that several modules share, kept here so that none of those
//! modules has to import another: `error` builds an [`Exception`] that `xml`
//! renders, and `paging` builds the [`PageUris`] that `xml` writes
//! (house style: a type two modules share lives in a third).

use axum::http::StatusCode;

/// What a `RestException` says, before it is XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception<'a> {
    pub status: StatusCode,
    pub message: &'a str,
    pub code: Option<u32>,
}

/// The documentation URL of an error code, as 2008 wrote it (plain http).
pub fn more_info(code: u32) -> String {
    format!("http://www.twilio.com/docs/errors/{code}")
}

/// The relative URIs a list element carries: the current page and the
/// first, previous, next and last ones (empty where there is no such page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageUris {
    pub uri: String,
    pub first: String,
    pub previous: String,
    pub next: String,
    pub last: String,
}
