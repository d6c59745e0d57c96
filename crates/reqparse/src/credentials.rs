//! The credentials of an HTTP Basic `Authorization` header, as the API
//! reads them: user = AccountSid, password = AuthToken. Checking them
//! against the store is the API's (`api::auth`).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use model::AccountSid;

/// The standard alphabet; padding optional, since nothing is gained by
/// refusing a client that drops it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The user and password of a Basic `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub account: AccountSid,
    /// The decoded `user:password`, kept whole: the token is the part
    /// after `colon`.
    decoded: String,
    colon: usize,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("account", &self.account)
            .finish_non_exhaustive()
    }
}

impl Credentials {
    /// Parses `Basic base64(user:password)`: the scheme in any case,
    /// whitespace around the parts tolerated. `None` for anything else,
    /// including a user that is not an account sid.
    pub fn parse(header: &[u8]) -> Option<Self> {
        let header = std::str::from_utf8(header).ok()?.trim();
        let (scheme, encoded) = header.split_once(|c: char| c.is_ascii_whitespace())?;
        if !scheme.eq_ignore_ascii_case("Basic") {
            return None;
        }
        let decoded = BASE64.decode(encoded.trim()).ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        let colon = decoded.find(':')?;
        Some(Self {
            account: AccountSid::parse(decoded.get(..colon)?).ok()?,
            decoded,
            colon,
        })
    }

    /// The password: the account's AuthToken, if the credentials are right.
    /// Compare it in constant time.
    #[must_use]
    pub fn token(&self) -> &str {
        // `colon` is the index of an ASCII ':', so one past it is a char
        // boundary.
        self.decoded.get(self.colon + 1..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::STANDARD;

    use super::*;

    const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn basic(user_pass: &str) -> String {
        format!("Basic {}", STANDARD.encode(user_pass))
    }

    fn parse(header: &str) -> Option<Credentials> {
        Credentials::parse(header.as_bytes())
    }

    #[test]
    fn accepts_the_usual_header_and_its_variants() {
        let good = format!("{AC}:{TOKEN}");
        let encoded = STANDARD.encode(&good);
        for header in [
            format!("Basic {encoded}"),
            format!("basic {encoded}"),
            format!("BASIC {encoded}"),
            format!("  Basic   {encoded}  "),
            format!("Basic\t{encoded}"),
            format!("Basic {}", encoded.trim_end_matches('=')),
        ] {
            let c = parse(&header).unwrap_or_else(|| panic!("{header}"));
            assert_eq!(c.account.as_str(), AC);
            assert_eq!(c.token(), TOKEN);
        }
        // Only the first colon splits: a token may hold one.
        assert_eq!(parse(&basic(&format!("{AC}:a:b"))).unwrap().token(), "a:b");
        assert_eq!(parse(&basic(&format!("{AC}:"))).unwrap().token(), "");
    }

    #[test]
    fn rejects_everything_else() {
        let good = STANDARD.encode(format!("{AC}:{TOKEN}"));
        for header in [
            String::new(),
            "Basic".to_owned(),
            "Basic ".to_owned(),
            good.clone(),
            format!("Bearer {good}"),
            format!("Digest {good}"),
            format!("Basicx {good}"),
            "Basic !!!not-base64!!!".to_owned(),
            format!("Basic {good}x"),
            basic(&format!("{AC}{TOKEN}")),
            basic(&format!("AC123:{TOKEN}")),
            basic(&format!("CA5ea872f6da5a21de157d80997a64bd33:{TOKEN}")),
            basic(&format!(" {AC}:{TOKEN}")),
            basic(""),
        ] {
            assert_eq!(parse(&header), None, "{header:?}");
        }
        // Not UTF-8 once decoded, and not UTF-8 as a header.
        let mut raw = format!("{AC}:").into_bytes();
        raw.extend_from_slice(b"\xff\xfe");
        assert_eq!(parse(&format!("Basic {}", STANDARD.encode(&raw))), None);
        assert_eq!(Credentials::parse(b"Basic \xff\xfe"), None);
    }

    #[test]
    fn debug_never_shows_the_token() {
        let c = parse(&basic(&format!("{AC}:{TOKEN}"))).unwrap();
        let shown = format!("{c:?}");
        assert!(shown.contains(AC));
        assert!(!shown.contains(TOKEN), "{shown}");
    }
}
