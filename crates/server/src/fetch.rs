//! The webhook client: TwiML documents and `<Play>` audio over HTTP(S).
//!
//! One `reqwest` client for the whole server (a connection pool), with a
//! per-request timeout, at most [`MAX_REDIRECTS`] redirects followed, and a
//! cap on what is read: a TwiML body is read to
//! [`twiml::MAX_DOCUMENT_BYTES`] + 1 bytes (the parser refuses anything
//! longer, so one byte more is enough to know), an audio file to
//! [`MAX_AUDIO_BYTES`]. Errors become [`twiml::FetchError`]s, the words the
//! interpreter records on the call. Every webhook is timed, and counted
//! when it fails or is cut off before its end, in the server's metrics.

use std::time::{Duration, Instant};

use model::{AuthToken, HttpMethod};
use twiml::webhook::{FORM_CONTENT_TYPE, SIGNATURE_HEADER};
use twiml::{FetchError, FetchedBody, HttpUrl, WebhookRequest};

use crate::metrics::Metrics;

/// Redirects followed for one request.
pub const MAX_REDIRECTS: usize = 5;
/// The largest `<Play>` file read.
pub const MAX_AUDIO_BYTES: usize = 20 * 1024 * 1024;

/// Builds the server's HTTP client.
pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::limited(MAX_REDIRECTS))
        .user_agent(concat!("confab/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Requests a TwiML document (the voice URL, a `<Redirect>`, a `<Dial
/// action>`, a `waitUrl`), signed with the account's AuthToken.
pub async fn webhook(
    client: &reqwest::Client,
    request: &WebhookRequest,
    token: &AuthToken,
    metrics: &Metrics,
) -> Result<FetchedBody, FetchError> {
    let mut counted = Counted {
        metrics,
        began: Instant::now(),
        ok: false,
    };
    let result = signed(client, request, token).await;
    counted.ok = result.is_ok();
    result
}

/// One webhook in the metrics, counted when dropped: failed unless it
/// finished well, so a request cut off before its end (an outer deadline,
/// a caller who hung up while it ran) is timed and counted too.
struct Counted<'a> {
    metrics: &'a Metrics,
    began: Instant,
    ok: bool,
}

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.metrics.webhook_done(self.began.elapsed(), self.ok);
    }
}

async fn signed(
    client: &reqwest::Client,
    request: &WebhookRequest,
    token: &AuthToken,
) -> Result<FetchedBody, FetchError> {
    let url = request.request_url();
    let builder = match request.method {
        HttpMethod::Get => client.get(url),
        HttpMethod::Post => client
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, FORM_CONTENT_TYPE)
            .body(request.form_body().unwrap_or_default()),
    };
    let response = builder
        .header(SIGNATURE_HEADER, request.signature(token))
        .send()
        .await
        .map_err(error)?;
    read(response, twiml::MAX_DOCUMENT_BYTES + 1, false).await
}

/// Fetches an audio file for `<Play>` (a GET, unsigned, as 2008 did).
pub async fn audio(client: &reqwest::Client, url: &HttpUrl) -> Result<FetchedBody, FetchError> {
    let response = client
        .get(url.as_url().clone())
        .send()
        .await
        .map_err(error)?;
    read(response, MAX_AUDIO_BYTES, true).await
}

/// Reads a 2xx body up to `limit` bytes: past it, the body is cut there
/// (`strict = false`: the TwiML parser rejects it) or refused (`strict`).
async fn read(
    mut response: reqwest::Response,
    limit: usize,
    strict: bool,
) -> Result<FetchedBody, FetchError> {
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status(status.as_u16()));
    }
    let url = response.url().clone();
    let content_type = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(error)? {
        let room = limit.saturating_sub(body.len());
        if chunk.len() > room {
            if strict {
                return Err(FetchError::TooLarge(limit));
            }
            body.extend_from_slice(chunk.get(..room).unwrap_or_default());
            break;
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FetchedBody {
        url,
        content_type,
        body,
    })
}

fn error(e: reqwest::Error) -> FetchError {
    if e.is_timeout() {
        FetchError::Timeout
    } else if let Some(status) = e.status() {
        FetchError::Status(status.as_u16())
    } else {
        // reqwest's words name the URL and the cause (connect, redirects...);
        // the URL is shown without its query, which for a GET webhook holds
        // the caller's and the called number (the text is logged).
        let url = e.url().map(twiml::url_for_logs);
        let e = e.without_url();
        let mut text = e.to_string();
        if let Some(url) = url {
            text.push_str(" for url (");
            text.push_str(&url);
            text.push(')');
        }
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        FetchError::Transport(text)
    }
}
