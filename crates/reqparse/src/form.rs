//! `application/x-www-form-urlencoded`, the one format of query strings and
//! request bodies, parsed by one function ([`FormPairs::parse`]).
//!
//! The rules, chosen for what 2009 clients send: pieces split on `&`, empty
//! pieces skipped (`a=1&&b=2`, a trailing `&`); key and value split on the
//! first `=` (so `DateCreated<=2009-07-06` is the key `DateCreated<`); `+` is
//! a space (py201's `urlencode`); `%XX` is a byte, and a `%` not followed by
//! two hex digits stays as it is; the bytes must then be UTF-8, or the
//! request is a 400. A repeated key keeps its first value.
//!
//! [`encode_pair`] writes a pair back so that parsing gives it back: the
//! list page URIs carry the request's filters that way.

use std::collections::HashSet;
use std::fmt::Write as _;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode, utf8_percent_encode};

/// The decoded pairs of a query string or form body, first occurrence of
/// each key only, in the order they came.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FormPairs {
    pairs: Vec<(String, String)>,
}

/// A piece of form data that is not UTF-8 once decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormError {
    #[error("a parameter name is not valid UTF-8")]
    Key,
    #[error("parameter {0} is not valid UTF-8")]
    Value(String),
}

impl FormPairs {
    /// Parses a query string (without its `?`) or a form body.
    pub fn parse(input: &[u8]) -> Result<Self, FormError> {
        let mut pairs = Vec::new();
        let mut seen = HashSet::new();
        for piece in input.split(|&b| b == b'&').filter(|p| !p.is_empty()) {
            let (raw_key, raw_value) = match piece.iter().position(|&b| b == b'=') {
                Some(i) => (&piece[..i], &piece[i + 1..]),
                None => (piece, &[][..]),
            };
            let key = decode(raw_key).ok_or(FormError::Key)?;
            let value = decode(raw_value).ok_or_else(|| FormError::Value(key.clone()))?;
            if seen.insert(key.clone()) {
                pairs.push((key, value));
            }
        }
        Ok(Self { pairs })
    }

    /// The first value given for `key` (keys are case-sensitive).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// All pairs, in request order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }
}

/// Every value given for `key` in a query string or form body, in order:
/// [`FormPairs`] keeps the first of a repeated key, and a few 2010-04-01
/// parameters (`StatusCallbackEvent`) are lists sent as repeated keys.
/// Pieces that are not UTF-8 are skipped ([`FormPairs::parse`] refuses the
/// whole input for them).
pub fn all_values(input: &[u8], key: &str) -> Vec<String> {
    input
        .split(|&b| b == b'&')
        .filter_map(|piece| {
            let i = piece.iter().position(|&b| b == b'=').unwrap_or(piece.len());
            let (raw_key, raw_value) = piece.split_at(i);
            (decode(raw_key)? == key)
                .then(|| decode(raw_value.get(1..).unwrap_or_default()))
                .flatten()
        })
        .collect()
}

/// Appends `key=value` (preceded by `&` unless `out` is empty), encoded so
/// that [`FormPairs::parse`] reads back exactly `key` and `value`: every
/// byte but ASCII letters, digits and `-._~` is `%XX`, and a space is `+`.
pub fn encode_pair(out: &mut String, key: &str, value: &str) {
    if !out.is_empty() {
        out.push('&');
    }
    encode_component(out, key);
    out.push('=');
    encode_component(out, value);
}

/// What stays literal in an encoded component: RFC 3986 "unreserved".
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode_component(out: &mut String, s: &str) {
    for (i, part) in s.split(' ').enumerate() {
        if i > 0 {
            out.push('+');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{}", utf8_percent_encode(part, COMPONENT));
    }
}

/// `+` to space, then percent-decoding, then UTF-8.
fn decode(raw: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn all_values_of_a_repeated_key() {
        let body = b"StatusCallbackEvent=initiated&To=x&StatusCallbackEvent=ringing+answered&StatusCallbackEvent&Status%43allbackEvent=c";
        assert_eq!(
            all_values(body, "StatusCallbackEvent"),
            ["initiated", "ringing answered", "", "c"]
        );
        assert!(all_values(b"a=1", "b").is_empty());
    }

    fn parse(s: &str) -> Result<Vec<(String, String)>, FormError> {
        FormPairs::parse(s.as_bytes()).map(|f| f.pairs)
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn splits_decodes_and_keeps_order() {
        assert_eq!(
            parse("Status=1&FriendlyName=My+Room&x=%41%42"),
            Ok(pairs(&[
                ("Status", "1"),
                ("FriendlyName", "My Room"),
                ("x", "AB")
            ]))
        );
        assert_eq!(parse("a=%2B+%20"), Ok(pairs(&[("a", "+  ")])));
    }

    #[test]
    fn empty_pieces_are_skipped_and_missing_values_are_empty() {
        assert_eq!(parse(""), Ok(vec![]));
        assert_eq!(parse("&&&"), Ok(vec![]));
        assert_eq!(parse("a=1&&b=2&"), Ok(pairs(&[("a", "1"), ("b", "2")])));
        assert_eq!(parse("flag&x="), Ok(pairs(&[("flag", ""), ("x", "")])));
        assert_eq!(parse("=v"), Ok(pairs(&[("", "v")])));
    }

    #[test]
    fn the_first_equals_sign_splits() {
        assert_eq!(
            parse("DateCreated<=2009-07-06"),
            Ok(pairs(&[("DateCreated<", "2009-07-06")]))
        );
        assert_eq!(
            parse("DateCreated>=2009-07-06"),
            Ok(pairs(&[("DateCreated>", "2009-07-06")]))
        );
        assert_eq!(
            parse("DateCreated%3C=2009-07-06"),
            Ok(pairs(&[("DateCreated<", "2009-07-06")]))
        );
        assert_eq!(
            parse("DateCreated%3C%3D=2009-07-06"),
            Ok(pairs(&[("DateCreated<=", "2009-07-06")]))
        );
        assert_eq!(parse("a==b"), Ok(pairs(&[("a", "=b")])));
    }

    #[test]
    fn repeated_keys_keep_the_first_value() {
        let f = FormPairs::parse(b"Status=1&Status=2&status=0").unwrap();
        assert_eq!(f.get("Status"), Some("1"));
        assert_eq!(f.get("status"), Some("0"));
        assert_eq!(f.get("STATUS"), None);
        assert_eq!(f.iter().count(), 2);
    }

    #[test]
    fn metacharacters_survive() {
        let f =
            FormPairs::parse(b"FriendlyName=%27%3B+DROP+TABLE+x%3B--+%3C%2Fa%3E%26%22").unwrap();
        assert_eq!(f.get("FriendlyName"), Some("'; DROP TABLE x;-- </a>&\""));
    }

    #[test]
    fn malformed_percent_escapes_stay_literal() {
        assert_eq!(
            parse("a=%&b=%4&c=%zz&d=100%"),
            Ok(pairs(&[
                ("a", "%"),
                ("b", "%4"),
                ("c", "%zz"),
                ("d", "100%")
            ]))
        );
    }

    #[test]
    fn invalid_utf8_is_an_error_naming_the_parameter() {
        assert_eq!(
            parse("FriendlyName=%FF"),
            Err(FormError::Value("FriendlyName".into()))
        );
        assert_eq!(parse("a=1&%FF=1"), Err(FormError::Key));
        assert_eq!(parse("a=%C3"), Err(FormError::Value("a".into())));
        // Even a repeated (ignored) key must be well-formed.
        assert_eq!(parse("a=1&a=%FE"), Err(FormError::Value("a".into())));
        // Raw bytes, as a form body may carry them.
        assert_eq!(
            FormPairs::parse(b"a=\xff").map(|_| ()),
            Err(FormError::Value("a".into()))
        );
        // Encoded UTF-8 is fine.
        assert_eq!(parse("a=%C3%A9"), Ok(pairs(&[("a", "é")])));
    }

    #[test]
    fn a_10kb_query_parses() {
        let value = "x".repeat(10 * 1024);
        let query = format!("FriendlyName={value}&Status=1");
        let f = FormPairs::parse(query.as_bytes()).unwrap();
        assert_eq!(f.get("FriendlyName").map(str::len), Some(10 * 1024));
        assert_eq!(f.get("Status"), Some("1"));
    }

    #[test]
    fn encoding_is_readable_and_round_trips() {
        let mut out = String::new();
        encode_pair(&mut out, "DateCreated<", "2009-07-06");
        encode_pair(&mut out, "FriendlyName", "My Room & <b>+");
        assert_eq!(
            out,
            "DateCreated%3C=2009-07-06&FriendlyName=My+Room+%26+%3Cb%3E%2B"
        );
        assert_eq!(
            parse(&out),
            Ok(pairs(&[
                ("DateCreated<", "2009-07-06"),
                ("FriendlyName", "My Room & <b>+")
            ]))
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = FormPairs::parse(&input);
        }

        #[test]
        fn encoded_pairs_parse_back(
            list in proptest::collection::btree_map(any::<String>(), any::<String>(), 0..8)
        ) {
            let mut encoded = String::new();
            for (k, v) in &list {
                encode_pair(&mut encoded, k, v);
            }
            let parsed = FormPairs::parse(encoded.as_bytes()).unwrap();
            let want: Vec<(String, String)> = list.into_iter().collect();
            prop_assert_eq!(parsed.pairs, want);
        }
    }
}
