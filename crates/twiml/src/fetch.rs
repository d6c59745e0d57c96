//! What the shell reports back after a fetch, what can go wrong in a call's
//! script, and the rule that keeps `<Redirect>` loops from spinning.

use url::Url;

use crate::ParseError;

/// A response the shell received: 2xx, after following HTTP redirects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedBody {
    /// The URL the body finally came from; relative URLs in it resolve
    /// against this one.
    pub url: Url,
    /// The `Content-Type` header, as sent.
    pub content_type: Option<String>,
    /// At most [`MAX_DOCUMENT_BYTES`](crate::MAX_DOCUMENT_BYTES) + 1 bytes
    /// are enough for a TwiML document; the wait script may get audio.
    pub body: Vec<u8>,
}

impl FetchedBody {
    /// Whether the response is audio (`audio/*`) rather than a document.
    pub fn is_audio(&self) -> bool {
        self.content_type.as_deref().is_some_and(|ct| {
            ct.trim_start()
                .get(..6)
                .is_some_and(|head| head.eq_ignore_ascii_case("audio/"))
        })
    }
}

/// A URL as errors and logs show it: without its password, query and
/// fragment, `?…` standing for a query that was cut. A GET webhook's query
/// carries the caller's and the called number, personal data that logs
/// show only at debug level, and a URL's password is a secret.
pub fn url_for_logs(url: &Url) -> String {
    let mut shown = url.clone();
    let had_query = shown.query().is_some();
    shown.set_query(None);
    shown.set_fragment(None);
    // Only URLs that cannot have a password refuse; then there is none.
    let _ = shown.set_password(None);
    let mut text = String::from(shown);
    if had_query {
        text.push_str("?…");
    }
    text
}

/// Why a fetch produced no usable response.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    #[error("no response in time")]
    Timeout,
    #[error("HTTP status {0}")]
    Status(u16),
    #[error("the response was larger than {0} bytes")]
    TooLarge(usize),
    /// DNS, connection, TLS, a redirect loop: the shell's words (any URL
    /// in them shown by [`url_for_logs`]).
    #[error("{0}")]
    Transport(String),
}

/// Why a call's script gave up: recorded on the call, and what the caller's
/// error tone stands for.
///
/// Its URLs are shown by [`url_for_logs`]: the error is logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AppError {
    #[error("fetching {url} failed: {error}")]
    Fetch { url: String, error: FetchError },
    #[error("the response from {url} is not valid TwiML: {error}")]
    Parse { url: String, error: ParseError },
    /// `url` is the fetch that was not made, the one that would have
    /// been one too many: it names the application that loops.
    #[error(
        "{MAX_FETCHES_IN_A_ROW} documents were fetched in a row without playing anything (a <Redirect> loop?); the next would have been {url}"
    )]
    FetchLoop { url: String },
}

/// How many documents may be fetched in a row with nothing heard in between.
///
/// The rule: every fetch (the voice URL, a `<Redirect>`, a `<Dial action>`,
/// a `waitUrl`) counts one; a `<Say>`, `<Play>` or `<Pause>` that the shell
/// reports as finished, or a conference the caller was in and left, resets
/// the count. A fetch that would be the eleventh in a row is not made: the
/// script fails with [`AppError::FetchLoop`]. Audio that failed to play does
/// not reset the count, so `<Play>broken.mp3</Play><Redirect/>` is caught
/// too, while the hold-music twimlet's Play-then-Redirect-to-itself loops
/// forever, as it should.
pub const MAX_FETCHES_IN_A_ROW: u32 = 10;

/// The counter behind [`MAX_FETCHES_IN_A_ROW`].
#[derive(Debug, Clone, Default)]
pub(crate) struct FetchBudget {
    in_a_row: u32,
}

impl FetchBudget {
    /// Counts one fetch of `url`, or refuses it.
    pub(crate) fn spend(&mut self, url: &Url) -> Result<(), AppError> {
        if self.in_a_row >= MAX_FETCHES_IN_A_ROW {
            return Err(AppError::FetchLoop {
                url: url_for_logs(url),
            });
        }
        self.in_a_row += 1;
        Ok(())
    }

    /// Something was heard: the count starts again.
    pub(crate) fn reset(&mut self) {
        self.in_a_row = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_in_logs_lose_query_fragment_and_password() {
        let shown = |u: &str| url_for_logs(&Url::parse(u).unwrap());
        assert_eq!(shown("http://h/voice"), "http://h/voice");
        assert_eq!(
            shown("http://h/voice?Caller=%2B15551234567&Called=1000"),
            "http://h/voice?…"
        );
        assert_eq!(shown("https://u:secret@h:8443/v#x"), "https://u@h:8443/v");
        assert_eq!(shown("http://h/?"), "http://h/?…");
    }

    #[test]
    fn audio_content_types() {
        let body = |ct: Option<&str>| FetchedBody {
            url: Url::parse("http://h/").unwrap(),
            content_type: ct.map(str::to_owned),
            body: vec![],
        };
        assert!(body(Some("audio/mpeg")).is_audio());
        assert!(body(Some("Audio/X-WAV; charset=x")).is_audio());
        assert!(!body(Some("text/xml")).is_audio());
        assert!(!body(Some("audi")).is_audio());
        assert!(!body(Some("é")).is_audio());
        assert!(!body(None).is_audio());
    }

    #[test]
    fn the_budget_refuses_the_eleventh_fetch_until_reset() {
        let url = Url::parse("http://h/loop?Caller=%2B15551234567").unwrap();
        let mut budget = FetchBudget::default();
        for _ in 0..MAX_FETCHES_IN_A_ROW {
            assert_eq!(budget.spend(&url), Ok(()));
        }
        let refused = budget.spend(&url).unwrap_err();
        assert_eq!(
            refused,
            AppError::FetchLoop {
                url: "http://h/loop?…".into()
            }
        );
        assert!(
            refused
                .to_string()
                .ends_with("the next would have been http://h/loop?…")
        );
        budget.reset();
        assert_eq!(budget.spend(&url), Ok(()));
    }
}
