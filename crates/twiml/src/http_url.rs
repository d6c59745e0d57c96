//! [`HttpUrl`]: a URL confab may request on an application's behalf.
//!
//! TwiML names URLs in attributes (`action`, `waitUrl`) and in text
//! (`<Play>`, `<Redirect>`), often relative to the document they came from.
//! They are resolved once, at parse time, against the URL the document was
//! fetched from, and only `http` and `https` survive: a `file:` or `gopher:`
//! URL in a hostile document never reaches the shell's HTTP client. The
//! fragment is dropped because no HTTP request carries one, so the URL kept is
//! the one an application sees (and signs against).

use std::fmt;

use url::Url;

/// An absolute `http` or `https` URL with a host and no fragment.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(Url);

/// Why a string is not an [`HttpUrl`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlError {
    /// Not a URL at all (or a relative one without a usable base).
    #[error("not a valid URL: {0}")]
    Invalid(String),
    /// A URL, but not one confab will fetch.
    #[error("scheme `{0}` is not http or https")]
    Scheme(String),
}

impl HttpUrl {
    /// Parses an absolute URL.
    pub fn parse(s: &str) -> Result<Self, UrlError> {
        let url = Url::parse(s.trim()).map_err(|e| UrlError::Invalid(e.to_string()))?;
        Self::from_url(url)
    }

    /// Resolves `reference` (absolute or relative) against `base`, the URL
    /// of the document it appeared in.
    pub fn resolve(base: &Url, reference: &str) -> Result<Self, UrlError> {
        let url = base
            .join(reference.trim())
            .map_err(|e| UrlError::Invalid(e.to_string()))?;
        Self::from_url(url)
    }

    /// Checks an already parsed URL.
    pub fn from_url(mut url: Url) -> Result<Self, UrlError> {
        match url.scheme() {
            // The url crate requires a host for these special schemes.
            "http" | "https" => {}
            other => return Err(UrlError::Scheme(other.to_owned())),
        }
        url.set_fragment(None);
        Ok(Self(url))
    }

    pub fn as_url(&self) -> &Url {
        &self.0
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    pub fn into_url(self) -> Url {
        self.0
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Url {
        Url::parse("http://app.example.com/twiml/voice.php?x=1").unwrap()
    }

    #[test]
    fn relative_references_resolve_against_the_document() {
        let cases = [
            ("next.php", "http://app.example.com/twiml/next.php"),
            ("/root.xml", "http://app.example.com/root.xml"),
            ("../up.xml", "http://app.example.com/up.xml"),
            ("?page=2", "http://app.example.com/twiml/voice.php?page=2"),
            ("//other.example.org/a", "http://other.example.org/a"),
            ("https://b.example/c.mp3", "https://b.example/c.mp3"),
            ("  spaced.xml \n", "http://app.example.com/twiml/spaced.xml"),
            ("", "http://app.example.com/twiml/voice.php?x=1"),
        ];
        for (reference, want) in cases {
            let got = HttpUrl::resolve(&base(), reference).unwrap();
            assert_eq!(got.as_str(), want, "{reference:?}");
        }
    }

    #[test]
    fn only_http_and_https_are_kept() {
        for bad in [
            "file:///etc/passwd",
            "ftp://h/x",
            "javascript:alert(1)",
            "data:,x",
        ] {
            assert!(
                matches!(HttpUrl::resolve(&base(), bad), Err(UrlError::Scheme(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            HttpUrl::parse("not a url"),
            Err(UrlError::Invalid(_))
        ));
        assert!(matches!(
            HttpUrl::parse("http://[::1"),
            Err(UrlError::Invalid(_))
        ));
    }

    #[test]
    fn the_fragment_is_dropped() {
        let url = HttpUrl::parse("https://h.example/a?b=1#frag").unwrap();
        assert_eq!(url.as_str(), "https://h.example/a?b=1");
    }
}
