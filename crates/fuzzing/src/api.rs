//! The API's parsers of untrusted request text (crate `reqparse`):
//! query strings and form bodies, the lenient request-target rewriter in
//! front of hyper, and the `Authorization` header.

use model::AccountSid;
use reqparse::{Credentials, FormPairs, TargetRewriter, encode_pair};

/// Any bytes as a query string or form body, and as a connection's bytes
/// through the request-target rewriter.
///
/// Checked: pairs that parse, written back with [`encode_pair`], parse
/// again equal, and `get` finds each key's (first) value; the rewriter's
/// output is the same however the input is split (the first byte picks two
/// cut points), has at least one byte per input byte, and ends in the same
/// pass-through state.
pub fn api_params(data: &[u8]) {
    if let Ok(pairs) = FormPairs::parse(data) {
        let mut encoded = String::new();
        for (key, value) in pairs.iter() {
            assert_eq!(pairs.get(key), Some(value));
            encode_pair(&mut encoded, key, value);
        }
        assert_eq!(FormPairs::parse(encoded.as_bytes()), Ok(pairs));
    }

    let mut whole = TargetRewriter::new();
    let mut expected = Vec::new();
    whole.feed(data, &mut expected);
    assert!(expected.len() >= data.len());

    let first = usize::from(data.first().copied().unwrap_or(0));
    let a = first.min(data.len());
    let b = (a + first * 7).min(data.len());
    let mut pieces = TargetRewriter::new();
    let mut out = Vec::new();
    for piece in [&data[..a], &data[a..b], &data[b..]] {
        pieces.feed(piece, &mut out);
    }
    assert_eq!(out, expected);
    assert_eq!(pieces.passing_through(), whole.passing_through());
}

/// Any bytes as an `Authorization` header value.
///
/// Checked: when it parses, the user is an account sid that reads back the
/// same from its display form.
pub fn authorization(data: &[u8]) {
    if let Some(credentials) = Credentials::parse(data) {
        let sid = credentials.account.to_string();
        assert_eq!(AccountSid::parse(&sid), Ok(credentials.account));
    }
}
