//! Join links: a signed, expiring URL that puts a browser tab into a
//! room as a participant over WebRTC.
//!
//! | request | what |
//! |---|---|
//! | `GET /join/{token}` | the join page (or an error page: 400 malformed, 403 bad signature or unknown account, 410 expired) |
//! | `GET /join-assets/join.js`, `join.css` | its script and style (embedded, `crates/api/assets/join.*`) |
//! | `POST /join/{token}/offer` | the browser's SDP offer (the body); our SDP answer back (`application/sdp`, the leg's CallSid in `X-Call-Sid`) |
//! | `GET /join/{token}/calls/{CA}` | long poll: `{"state":"ended"}` once the leg ended (kicked…), else `in-progress` after 25 s |
//! | `POST /2010-04-01/Accounts/{AC}/JoinLinks.json` | mint a link (Basic auth; `Room`, `Expires` seconds, `Muted`) |
//!
//! The token (module `token`) is checked on every request that uses it,
//! so a link that expires while its page is open can no longer join. The
//! server makes the leg through [`BrowserJoins`]: this crate knows nothing
//! of WebRTC, only that an offer goes in and an answer comes out.

mod token;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use model::{AccountSid, CallSid, Timestamp};

pub use token::{JoinClaims, JoinToken, JoinTokenError};

use crate::error::ApiError;
use crate::{AppState, BoxFuture, auth};

const PAGE: &str = include_str!("../../assets/join.html");
const SCRIPT: &str = include_str!("../../assets/join.js");
const STYLE: &str = include_str!("../../assets/join.css");

/// The largest SDP offer read (Chromium's audio-only offer is about 2 kB).
const MAX_OFFER: usize = 16 * 1024;
/// A join link's lifetime unless the request names one.
pub const DEFAULT_EXPIRY: Duration = Duration::from_secs(3600);
/// The longest lifetime a link may be given.
pub const MAX_EXPIRY: Duration = Duration::from_secs(30 * 24 * 3600);

/// A browser's offer to join a room, its link verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserOffer {
    pub claims: JoinClaims,
    /// The name the page gave (the call's From); `None`: `browser`.
    pub name: Option<String>,
    /// The SDP offer as sent (untrusted).
    pub sdp: String,
}

/// The server's answer to a [`BrowserOffer`]: the leg is in the room.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrowserAnswer {
    pub call: CallSid,
    pub sdp: String,
}

/// Why a browser could not join.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BrowserJoinError {
    /// The offer is not SDP we can answer (no audio, no PCMU, no ICE/DTLS).
    #[error("the offer cannot be answered: {0}")]
    BadOffer(String),
    /// The conference rules refused the join (full, ended…).
    #[error("the room refused the join: {0}")]
    Refused(String),
    /// No RTP port left, or the server is stopping.
    #[error("the server cannot take a browser now")]
    Unavailable,
}

/// Where verified offers go: the server turns each into a browser leg (a
/// participant with its own CallSid) and answers with its SDP.
pub trait BrowserJoins: Send + Sync + 'static {
    fn offer(&self, offer: BrowserOffer) -> BoxFuture<'_, Result<BrowserAnswer, BrowserJoinError>>;

    /// Resolves once browser leg `call` of `account` has ended (kicked, the
    /// room ended, the browser gone), or after `within`: `true` if it ended
    /// (or is no live browser leg of that account).
    fn wait_ended(
        &self,
        account: AccountSid,
        call: CallSid,
        within: Duration,
    ) -> BoxFuture<'_, bool>;
}

/// How long one `GET /join/{token}/calls/{CA}` waits for the leg to end.
const LONG_POLL: Duration = Duration::from_secs(25);

/// The join links' routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/join/{token}", get(page))
        .route("/join/{token}/offer", post(offer))
        .route("/join/{token}/calls/{call}", get(call_state))
        .route("/join-assets/join.js", get(script))
        .route("/join-assets/join.css", get(style))
        .route("/2010-04-01/Accounts/{account}/JoinLinks.json", post(mint))
}

/// The claims of `token` if it verifies now against its account's AuthToken.
async fn verified(state: &AppState, token: &str) -> Result<JoinClaims, JoinPageError> {
    let parsed = JoinToken::parse(token)?;
    let account = state
        .store
        .account(parsed.account())
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "could not read the join link's account");
            JoinPageError::Internal
        })?
        .ok_or(JoinPageError::Token(JoinTokenError::BadSignature))?;
    Ok(parsed.verify(account.auth_token.expose(), now())?)
}

/// `GET /join/{token}`.
async fn page(State(state): State<AppState>, Path(token): Path<String>) -> Response {
    match verified(&state, &token).await {
        Ok(claims) => {
            let page = PAGE.replace("{{room}}", &escape_html(&claims.room));
            with_headers(StatusCode::OK, "text/html; charset=utf-8", page)
        }
        Err(e) => e.into_response(),
    }
}

/// `POST /join/{token}/offer`: the body is the offer's SDP; `?name=` the
/// participant's name.
async fn offer(
    State(state): State<AppState>,
    Path(token): Path<String>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let claims = match verified(&state, &token).await {
        Ok(claims) => claims,
        Err(e) => return e.into_response(),
    };
    let Some(joins) = state.browsers.clone() else {
        return JoinPageError::Join(BrowserJoinError::Unavailable).into_response();
    };
    let sdp = match axum::body::to_bytes(request.into_body(), MAX_OFFER).await {
        Ok(bytes) => match String::from_utf8(bytes.to_vec()) {
            Ok(sdp) => sdp,
            Err(_) => return JoinPageError::BadOffer.into_response(),
        },
        Err(_) => return JoinPageError::BadOffer.into_response(),
    };
    let name = query
        .into_iter()
        .find(|(k, _)| k == "name")
        .map(|(_, v)| v.trim().chars().take(64).collect::<String>())
        .filter(|v| !v.is_empty());
    match joins.offer(BrowserOffer { claims, name, sdp }).await {
        Ok(answer) => {
            let mut response = with_headers(StatusCode::OK, "application/sdp", answer.sdp);
            if let Ok(sid) = HeaderValue::from_str(answer.call.as_str()) {
                response.headers_mut().insert("x-call-sid", sid);
            }
            response
        }
        Err(e) => JoinPageError::Join(e).into_response(),
    }
}

/// `GET /join/{token}/calls/{CA}`: a long poll, answered `{"state":"ended"}`
/// once the page's leg has ended (a kick, the room's end), else
/// `{"state":"in-progress"}` after [`LONG_POLL`]. How a page learns it was
/// kicked: its peer connection would only go quiet.
async fn call_state(
    State(state): State<AppState>,
    Path((token, call)): Path<(String, String)>,
) -> Response {
    let claims = match verified(&state, &token).await {
        Ok(claims) => claims,
        Err(e) => return e.into_response(),
    };
    let Ok(call) = CallSid::parse(&call) else {
        return JoinPageError::Token(JoinTokenError::Malformed).into_response();
    };
    let ended = match state.browsers.clone() {
        Some(joins) => joins.wait_ended(claims.account, call, LONG_POLL).await,
        None => true,
    };
    let body = if ended {
        r#"{"state":"ended"}"#
    } else {
        r#"{"state":"in-progress"}"#
    };
    with_headers(StatusCode::OK, "application/json", body.into())
}

/// `POST /2010-04-01/Accounts/{AC}/JoinLinks.json`: `Room` (required),
/// `Expires` (seconds, default 3600, at most 30 days), `Muted`.
async fn mint(
    State(state): State<AppState>,
    Path(account): Path<String>,
    request: Request,
) -> Response {
    match mint_link(&state, &account, request).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn mint_link(
    state: &AppState,
    account: &str,
    request: Request,
) -> Result<Response, ApiError> {
    let (mut parts, body) = request.into_parts();
    let client: Option<IpAddr> = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, state)
        .await
        .ok()
        .map(|ConnectInfo(peer)| peer.ip());
    let sid = auth::authenticate(
        state,
        parts.headers.get(header::AUTHORIZATION),
        account,
        client,
    )
    .await?;
    let body = axum::body::to_bytes(Body::new(body), crate::body::MAX_BODY)
        .await
        .map_err(|_| ApiError::BodyTooLarge)?;
    let form = reqparse::form::FormPairs::parse(&body)
        .map_err(|e| ApiError::InvalidParameter(format!("the form: {e}")))?;
    let get = |name: &str| form.get(name);
    let room = get("Room")
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::InvalidParameter("Room is required".into()))?;
    let expires = match get("Expires") {
        None => DEFAULT_EXPIRY,
        Some(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .map(Duration::from_secs)
            .filter(|d| !d.is_zero() && *d <= MAX_EXPIRY)
            .ok_or_else(|| {
                ApiError::InvalidParameter(format!(
                    "Expires must be seconds, 1 to {}",
                    MAX_EXPIRY.as_secs()
                ))
            })?,
    };
    let muted = match get("Muted").map(str::trim) {
        None => false,
        Some(m) if m.eq_ignore_ascii_case("true") => true,
        Some(m) if m.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ApiError::InvalidParameter(
                "Muted must be true or false".into(),
            ));
        }
    };
    let auth_token = state
        .store
        .account(&sid)
        .await?
        .ok_or(ApiError::Unauthorized)?;
    let claims = JoinClaims {
        account: sid,
        room: room.to_owned(),
        expires: Timestamp::from_micros(now().as_micros() + micros(expires)),
        muted,
    };
    let token = claims.sign(auth_token.auth_token.expose());
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let url = format!("http://{host}/join/{token}");
    let body = serde_json::json!({
        "url": url,
        "token": token,
        "account_sid": claims.account.as_str(),
        "room": claims.room,
        "muted": muted,
        "expires": claims.expires.rfc2822(),
    });
    Ok((
        StatusCode::CREATED,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response())
}

/// A join link's URL for `claims`, signed with `auth_token`, on `base`
/// (`http://host:port`, no trailing slash): what `confab join-link` prints.
pub fn link(base: &str, claims: &JoinClaims, auth_token: &str) -> String {
    format!(
        "{}/join/{}",
        base.trim_end_matches('/'),
        claims.sign(auth_token)
    )
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// The wall clock as a [`Timestamp`] (the HTTP edge is the shell).
fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp::from_micros(micros(since))
}

async fn script() -> Response {
    with_headers(
        StatusCode::OK,
        "text/javascript; charset=utf-8",
        SCRIPT.into(),
    )
}

async fn style() -> Response {
    with_headers(StatusCode::OK, "text/css; charset=utf-8", STYLE.into())
}

/// A join response: no framing, no sniffing, own-origin scripts and
/// connections only, and the token never leaked in a Referer.
fn with_headers(status: StatusCode, content_type: &'static str, body: String) -> Response {
    let mut response = (status, [(header::CONTENT_TYPE, content_type)], body).into_response();
    let headers: &mut HeaderMap = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'none'; \
             frame-ancestors 'none'",
        ),
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
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Why the join page or an offer failed: a small HTML page (the offer's
/// errors are read by the script as text) with a 4xx or 5xx.
#[derive(Debug, thiserror::Error)]
enum JoinPageError {
    #[error(transparent)]
    Token(#[from] JoinTokenError),
    #[error("The offer is not SDP this server can read.")]
    BadOffer,
    #[error(transparent)]
    Join(BrowserJoinError),
    #[error("Something went wrong on the server.")]
    Internal,
}

impl IntoResponse for JoinPageError {
    fn into_response(self) -> Response {
        let status = match &self {
            JoinPageError::Token(JoinTokenError::Malformed) | JoinPageError::BadOffer => {
                StatusCode::BAD_REQUEST
            }
            JoinPageError::Token(JoinTokenError::BadSignature) => StatusCode::FORBIDDEN,
            JoinPageError::Token(JoinTokenError::Expired) => StatusCode::GONE,
            JoinPageError::Join(BrowserJoinError::BadOffer(_)) => StatusCode::BAD_REQUEST,
            JoinPageError::Join(BrowserJoinError::Refused(_)) => StatusCode::CONFLICT,
            JoinPageError::Join(BrowserJoinError::Unavailable) => StatusCode::SERVICE_UNAVAILABLE,
            JoinPageError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = escape_html(&self.to_string());
        let page = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <title>Cannot join</title><link rel=\"stylesheet\" href=\"/join-assets/join.css\">\
             </head><body><main><h1>Cannot join</h1>\
             <p data-testid=\"join-error\" role=\"alert\">{message}</p></main></body></html>"
        );
        with_headers(status, "text/html; charset=utf-8", page)
    }
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn room_names_are_escaped_into_the_page() {
        assert_eq!(
            escape_html("<b>\"a\" & 'b'</b>"),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn a_link_is_the_base_and_a_verifiable_token() {
        let claims = JoinClaims {
            account: AccountSid::parse("AC0123456789abcdef0123456789abcdef").unwrap(),
            room: "r".into(),
            expires: Timestamp::from_secs(2_000_000_000),
            muted: false,
        };
        let url = link("http://127.0.0.1:8080/", &claims, "k");
        let token = url.strip_prefix("http://127.0.0.1:8080/join/").unwrap();
        let back = JoinToken::parse(token)
            .unwrap()
            .verify("k", Timestamp::from_secs(1));
        assert_eq!(back, Ok(claims));
    }
}
