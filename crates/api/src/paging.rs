//! Paging of list resources: the page a client asks for, and the URIs of
//! the pages around it (decisions.md, "Lists").
//!
//! The page number is `page` or `Page` (zero-based, default 0), the size
//! `num`, `Num` or `PageSize` (default 50, at most 1000). When a client sends
//! more than one spelling, the first in that order counts. Values are plain
//! ASCII digits: `+5`, ` 5`, `5.0` and `-1` are 400s, like `num=0`; a size
//! above 1000 is a 400 with code 20007. Any page number that fits in a
//! `u64` is fine: past the end the list is simply empty.

use model::{PageRequest, PageWindow};

use crate::error::ApiError;
use crate::form::{FormPairs, encode_pair};
use crate::types::PageUris;

/// Spellings of the page number, in order of precedence.
const PAGE_KEYS: [&str; 2] = ["page", "Page"];
/// The 2010-04-01 API's opaque page cursor: accepted, never needed.
const PAGE_TOKEN: &str = "PageToken";
/// Spellings of the page size, in order of precedence.
const SIZE_KEYS: [&str; 3] = ["num", "Num", "PageSize"];

/// The page the request asks for.
pub fn page_request(params: &FormPairs) -> Result<PageRequest, ApiError> {
    let page = match first_of(params, &PAGE_KEYS) {
        None => 0,
        Some((key, value)) => digits(value).and_then(|d| d.parse().ok()).ok_or_else(|| {
            ApiError::InvalidParameter(format!(
                "Invalid value for parameter {key}: expected a non-negative integer"
            ))
        })?,
    };
    let size = match first_of(params, &SIZE_KEYS) {
        None => PageRequest::DEFAULT_SIZE,
        Some((key, value)) => {
            let invalid = || {
                ApiError::InvalidParameter(format!(
                    "Invalid value for parameter {key}: expected an integer from 1 to {}",
                    PageRequest::MAX_SIZE
                ))
            };
            let too_large = || {
                ApiError::PageSizeTooLarge(format!(
                    "Page size too large: {key} must be at most {}",
                    PageRequest::MAX_SIZE
                ))
            };
            // All digits but too long for a u64 is still just "too large".
            let size: u64 = digits(value)
                .ok_or_else(invalid)?
                .parse()
                .map_err(|_| too_large())?;
            match size {
                0 => return Err(invalid()),
                s if s > PageRequest::MAX_SIZE => return Err(too_large()),
                s => s,
            }
        }
    };
    Ok(PageRequest { page, size })
}

impl PageUris {
    /// `path` is the list's canonical path; the request's other parameters
    /// are kept in their order (re-encoded), then `page=N&num=M`.
    pub fn new(path: &str, params: &FormPairs, window: &PageWindow) -> Self {
        Self::build(params, &[], window, |filters, sep, page| {
            format!("{path}?{filters}{sep}page={page}&num={}", window.pagesize)
        })
    }

    /// The 2010-04-01 spelling: the other parameters, then
    /// `PageSize=M&Page=N`, as Twilio writes them. A `PageToken` is not
    /// carried over: confab's pages are numbered, and the token is accepted
    /// and ignored.
    pub fn new_2010(path: &str, params: &FormPairs, window: &PageWindow) -> Self {
        Self::build(params, &[PAGE_TOKEN], window, |filters, sep, page| {
            format!(
                "{path}?{filters}{sep}PageSize={}&Page={page}",
                window.pagesize
            )
        })
    }

    /// The URIs, `at(filters, separator, page)` writing each; the filters
    /// are the parameters but the paging ones and `skip`.
    fn build(
        params: &FormPairs,
        skip: &[&str],
        window: &PageWindow,
        at: impl Fn(&str, &str, u64) -> String,
    ) -> Self {
        let mut filters = String::new();
        for (key, value) in params.iter() {
            if !PAGE_KEYS.contains(&key) && !SIZE_KEYS.contains(&key) && !skip.contains(&key) {
                encode_pair(&mut filters, key, value);
            }
        }
        let sep = if filters.is_empty() { "" } else { "&" };
        let at = |page: u64| at(&filters, sep, page);
        Self {
            uri: at(window.page),
            first: at(0),
            previous: window.previous_page().map(at).unwrap_or_default(),
            next: next_page(window).map(at).unwrap_or_default(),
            last: at(window.last_page()),
        }
    }
}

/// The page after this one, if it exists. Not `PageWindow::next_page`:
/// that computes `page + 1`, which overflows for `page=18446744073709551615`
/// (a number a client may send, and which must be an empty page, not a
/// panic).
fn next_page(window: &PageWindow) -> Option<u64> {
    window
        .page
        .checked_add(1)
        .filter(|&next| next < window.numpages)
}

/// The first of `keys` present in `params`, with its value.
fn first_of<'a>(params: &'a FormPairs, keys: &[&'static str]) -> Option<(&'static str, &'a str)> {
    keys.iter()
        .find_map(|&key| params.get(key).map(|value| (key, value)))
}

/// `s` if it is one or more ASCII digits and nothing else.
fn digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(q: &str) -> Result<PageRequest, ApiError> {
        page_request(&FormPairs::parse(q.as_bytes()).unwrap())
    }

    fn ok(page: u64, size: u64) -> PageRequest {
        PageRequest { page, size }
    }

    /// (code, message) of a 400.
    fn bad(q: &str) -> (u32, String) {
        match request(q) {
            Err(ApiError::InvalidParameter(m)) => (20001, m),
            Err(ApiError::PageSizeTooLarge(m)) => (20007, m),
            other => panic!("{q}: expected a 400, got {other:?}"),
        }
    }

    #[test]
    fn defaults_and_spellings() {
        assert_eq!(request("").unwrap(), ok(0, 50));
        assert_eq!(request("page=2&num=10").unwrap(), ok(2, 10));
        assert_eq!(request("Page=3&Num=20").unwrap(), ok(3, 20));
        assert_eq!(request("PageSize=7").unwrap(), ok(0, 7));
        assert_eq!(request("num=007").unwrap(), ok(0, 7));
        // Precedence: page over Page, num over Num over PageSize.
        assert_eq!(
            request("Page=9&page=1&PageSize=3&Num=2&num=1").unwrap(),
            ok(1, 1)
        );
        assert_eq!(request("Page=9&PageSize=3&Num=2").unwrap(), ok(9, 2));
        // Other case spellings are unknown parameters.
        assert_eq!(request("PAGE=4&NUM=4&pagesize=4").unwrap(), ok(0, 50));
    }

    #[test]
    fn size_limits() {
        assert_eq!(request("num=1").unwrap(), ok(0, 1));
        assert_eq!(request("num=1000").unwrap(), ok(0, 1000));
        for q in [
            "num=1001",
            "Num=5000",
            "PageSize=1001",
            "num=99999999999999999999999",
        ] {
            let (code, message) = bad(q);
            assert_eq!(code, 20007, "{q}");
            assert!(message.starts_with("Page size too large"), "{q}: {message}");
        }
        for (q, key) in [
            ("num=0", "num"),
            ("Num=0000", "Num"),
            ("PageSize=0", "PageSize"),
        ] {
            let (code, message) = bad(q);
            assert_eq!(code, 20001, "{q}");
            assert!(
                message.contains(&format!("parameter {key}:")),
                "{q}: {message}"
            );
        }
    }

    #[test]
    fn malformed_numbers_are_400s_naming_the_parameter() {
        for value in [
            "-1", "abc", "", "+5", "%205", "5%20", "5.0", "1e3", "0x10", "５",
        ] {
            for key in ["page", "Page", "num", "Num", "PageSize"] {
                let q = format!("{key}={value}");
                let (code, message) = bad(&q);
                assert_eq!(code, 20001, "{q}");
                assert!(
                    message.contains(&format!("parameter {key}:")),
                    "{q}: {message}"
                );
            }
        }
        // A page number too big for a u64 does not parse.
        assert_eq!(bad("page=18446744073709551616").0, 20001);
    }

    #[test]
    fn huge_page_numbers_are_fine() {
        assert_eq!(
            request("page=18446744073709551615").unwrap(),
            ok(u64::MAX, 50)
        );
        assert_eq!(request("page=18446744073709551615").unwrap().offset(), None);
    }

    fn uris(path: &str, q: &str, page: u64, size: u64, total: u64, items: u64) -> PageUris {
        let window = PageWindow::new(ok(page, size), total, items);
        PageUris::new(path, &FormPairs::parse(q.as_bytes()).unwrap(), &window)
    }

    #[test]
    fn uris_keep_the_filters_in_order() {
        let p = "/2008-08-01/Accounts/AC5ea872f6da5a21de157d80997a64bd33/Conferences";
        let u = uris(
            p,
            "Status=1&num=2&DateCreated%3E=2009-07-06&page=1&FriendlyName=My+Room",
            1,
            2,
            7,
            2,
        );
        let f = "Status=1&DateCreated%3E=2009-07-06&FriendlyName=My+Room";
        assert_eq!(u.uri, format!("{p}?{f}&page=1&num=2"));
        assert_eq!(u.first, format!("{p}?{f}&page=0&num=2"));
        assert_eq!(u.previous, format!("{p}?{f}&page=0&num=2"));
        assert_eq!(u.next, format!("{p}?{f}&page=2&num=2"));
        assert_eq!(u.last, format!("{p}?{f}&page=3&num=2"));
    }

    #[test]
    fn uris_without_filters_or_neighbours() {
        let p = "/x";
        let u = uris(p, "", 0, 50, 1, 1);
        assert_eq!(u.uri, "/x?page=0&num=50");
        assert_eq!((u.previous.as_str(), u.next.as_str()), ("", ""));
        assert_eq!(u.last, "/x?page=0&num=50");
        // Empty list: last is page 0.
        let u = uris(p, "Page=0&PageSize=10", 0, 10, 0, 0);
        assert_eq!(
            (u.first.as_str(), u.last.as_str()),
            ("/x?page=0&num=10", "/x?page=0&num=10")
        );
        // Past the end: previous is the last page that exists.
        let u = uris(p, "", 9, 10, 25, 0);
        assert_eq!(
            (u.previous.as_str(), u.next.as_str()),
            ("/x?page=2&num=10", "")
        );
        // The largest page number a client can send.
        let u = uris(p, "", u64::MAX, 1000, 25, 0);
        assert_eq!(u.uri, format!("/x?page={}&num=1000", u64::MAX));
        assert_eq!(
            (u.previous.as_str(), u.next.as_str()),
            ("/x?page=0&num=1000", "")
        );
    }

    #[test]
    fn next_page_agrees_with_the_model_where_that_does_not_overflow() {
        for (page, total, items) in [
            (0, 0, 0),
            (0, 1, 1),
            (0, 120, 50),
            (1, 120, 50),
            (2, 120, 20),
            (9, 120, 0),
        ] {
            let window = PageWindow::new(ok(page, 50), total, items);
            assert_eq!(next_page(&window), window.next_page(), "{page} {total}");
        }
    }
}
