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
use axum::extract::rejection::PathRejection;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
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
        .route(JOIN_LINKS_PATH, post(mint))
}

/// The one route of this module under an API version's prefix.
const JOIN_LINKS_PATH: &str = "/2010-04-01/Accounts/{account}/JoinLinks.json";

/// Whether `path`, under an API version's prefix, may be one of this
/// module's routes rather than the API's (`crate::front` sends the API's
/// straight to it). Errs towards yes.
pub(crate) fn may_route(path: &str) -> bool {
    let suffix = JOIN_LINKS_PATH
        .rsplit('/')
        .next()
        .unwrap_or(JOIN_LINKS_PATH);
    path.ends_with(suffix)
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
async fn page(
    State(state): State<AppState>,
    token: Result<Path<String>, PathRejection>,
) -> Response {
    let Ok(Path(token)) = token else {
        return JoinPageError::Token(JoinTokenError::Malformed).into_response();
    };
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
    token: Result<Path<String>, PathRejection>,
    axum::extract::Query(query): axum::extract::Query<Vec<(String, String)>>,
    request: Request,
) -> Response {
    let Ok(Path(token)) = token else {
        return JoinPageError::Token(JoinTokenError::Malformed).into_response();
    };
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
    path: Result<Path<(String, String)>, PathRejection>,
) -> Response {
    let Ok(Path((token, call))) = path else {
        return JoinPageError::Token(JoinTokenError::Malformed).into_response();
    };
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
    let headers = response.headers_mut();
    crate::page_headers::harden(
        headers,
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         media-src 'self' blob: mediastream:; base-uri 'none'; form-action 'none'; \
         frame-ancestors 'none'",
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

    /// The HTTP glue over a real SQLite store, with a stand-in for the
    /// server's browser legs that records what reached it.
    mod http {
        use std::sync::{Arc, Mutex};

        use axum::body::Body;
        use axum::http::{Request, StatusCode};
        use model::{Account, AuthToken};
        use tower::ServiceExt as _;

        use super::*;
        use crate::{CallControl, CallControlError, ParticipantCommand};

        const AC: &str = "AC0123456789abcdef0123456789abcdef";
        const TOKEN: &str = "5e5e5e5e9a9a9a9a5e5e5e5e9a9a9a9a";

        #[derive(Default)]
        struct Joins(Mutex<Vec<BrowserOffer>>);

        impl BrowserJoins for Joins {
            fn offer(
                &self,
                offer: BrowserOffer,
            ) -> BoxFuture<'_, Result<BrowserAnswer, BrowserJoinError>> {
                let bad = offer.sdp.starts_with("bad");
                self.0.lock().unwrap().push(offer);
                Box::pin(async move {
                    if bad {
                        return Err(BrowserJoinError::BadOffer("no PCMU".into()));
                    }
                    Ok(BrowserAnswer {
                        call: CallSid::parse("CA0123456789abcdef0123456789abcdef").unwrap(),
                        sdp: "v=0 answer".into(),
                    })
                })
            }

            fn wait_ended(&self, _: AccountSid, _: CallSid, _: Duration) -> BoxFuture<'_, bool> {
                Box::pin(async { true })
            }
        }

        struct NoControl;

        impl CallControl for NoControl {
            fn apply(&self, _: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>> {
                Box::pin(async { Err(CallControlError::Unavailable) })
            }
        }

        async fn app(dir: &std::path::Path) -> (axum::Router, Arc<Joins>) {
            let url = format!("sqlite://{}", dir.join("api.db").display());
            let store = store::Store::connect(&url).await.unwrap();
            store
                .insert_account(&Account {
                    sid: AccountSid::parse(AC).unwrap(),
                    friendly_name: "t".into(),
                    auth_token: AuthToken::from_stored(TOKEN.into()),
                    date_created: Timestamp::from_secs(0),
                    date_updated: Timestamp::from_secs(0),
                })
                .await
                .unwrap();
            let joins = Arc::new(Joins::default());
            let state = AppState::new(store, Arc::new(NoControl)).with_browsers(joins.clone());
            (crate::router(state), joins)
        }

        fn token(expires: Timestamp) -> String {
            JoinClaims {
                account: AccountSid::parse(AC).unwrap(),
                room: "r<1>".into(),
                expires,
                muted: true,
            }
            .sign(TOKEN)
        }

        async fn send(
            app: &axum::Router,
            method: &str,
            uri: &str,
            body: Vec<u8>,
        ) -> (StatusCode, String) {
            let request = Request::builder()
                .method(method)
                .uri(uri)
                .body(Body::from(body))
                .unwrap();
            let response = app.clone().oneshot(request).await.unwrap();
            let status = response.status();
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            (status, String::from_utf8_lossy(&bytes).into_owned())
        }

        #[tokio::test]
        async fn a_good_link_serves_the_page_and_hands_its_offer_over_with_its_claims() {
            let dir = tempfile::tempdir().unwrap();
            let (app, joins) = app(dir.path()).await;
            let t = token(Timestamp::from_secs(4_000_000_000));
            let (status, page) = send(&app, "GET", &format!("/join/{t}"), vec![]).await;
            assert_eq!(status, StatusCode::OK);
            assert!(page.contains("data-testid=\"join\""));
            assert!(page.contains("r&lt;1&gt;"), "the room is escaped");
            let (status, answer) = send(
                &app,
                "POST",
                &format!("/join/{t}/offer?name=Ann"),
                b"v=0 offer".to_vec(),
            )
            .await;
            assert_eq!(status, StatusCode::OK, "{answer}");
            assert_eq!(answer, "v=0 answer");
            let offers = joins.0.lock().unwrap().clone();
            assert_eq!(offers.len(), 1);
            assert_eq!(offers[0].claims.room, "r<1>");
            assert!(offers[0].claims.muted);
            assert_eq!(offers[0].name.as_deref(), Some("Ann"));
            let (status, _) =
                send(&app, "POST", &format!("/join/{t}/offer"), b"bad".to_vec()).await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
        }

        #[tokio::test]
        async fn hostile_links_and_offers_get_4xx_pages_and_never_reach_the_server() {
            let dir = tempfile::tempdir().unwrap();
            let (app, joins) = app(dir.path()).await;
            let expired = token(Timestamp::from_secs(1));
            let good = token(Timestamp::from_secs(4_000_000_000));
            let foreign = JoinClaims {
                account: AccountSid::parse("ACffffffffffffffffffffffffffffffff").unwrap(),
                room: "r".into(),
                expires: Timestamp::from_secs(4_000_000_000),
                muted: false,
            }
            .sign(TOKEN);
            let long = "x".repeat(5000);
            for (path, want) in [
                (format!("/join/{expired}"), StatusCode::GONE),
                (format!("/join/{foreign}"), StatusCode::FORBIDDEN),
                (format!("/join/{good}x"), StatusCode::FORBIDDEN),
                ("/join/nonsense".to_owned(), StatusCode::BAD_REQUEST),
                (format!("/join/{long}"), StatusCode::BAD_REQUEST),
                (format!("/join/%FF%FE.{good}"), StatusCode::BAD_REQUEST),
            ] {
                let (status, page) = send(&app, "GET", &path, vec![]).await;
                assert_eq!(status, want, "{path}: {page}");
                assert!(page.contains("join-error"), "{path}: {page}");
                let (status, _) =
                    send(&app, "POST", &format!("{path}/offer"), b"v=0".to_vec()).await;
                assert_eq!(status, want, "{path}/offer");
            }
            // Not UTF-8, and too large.
            let (status, _) = send(
                &app,
                "POST",
                &format!("/join/{good}/offer"),
                vec![0xff, 0xfe],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let (status, _) = send(
                &app,
                "POST",
                &format!("/join/{good}/offer"),
                vec![b'a'; MAX_OFFER + 1],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            let (status, _) = send(
                &app,
                "GET",
                &format!("/join/{good}/calls/not-a-sid"),
                vec![],
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST);
            assert!(joins.0.lock().unwrap().is_empty());
        }

        #[tokio::test]
        async fn minting_needs_the_accounts_credentials_and_a_room() {
            let dir = tempfile::tempdir().unwrap();
            let (app, _) = app(dir.path()).await;
            let uri = format!("/2010-04-01/Accounts/{AC}/JoinLinks.json");
            let mint = |auth: Option<&str>, body: &str| {
                let mut request = Request::builder()
                    .method("POST")
                    .uri(&uri)
                    .header("host", "h:1");
                if let Some(auth) = auth {
                    request = request.header("authorization", auth);
                }
                app.clone()
                    .oneshot(request.body(Body::from(body.to_owned())).unwrap())
            };
            use base64::Engine as _;
            let basic = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{AC}:{TOKEN}"))
            );
            let response = mint(None, "Room=r").await.unwrap();
            assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
            for bad in [
                "",
                "Room=%20",
                "Room=r&Expires=-1",
                "Room=r&Expires=2592001",
                "Room=r&Muted=yes",
            ] {
                let response = mint(Some(&basic), bad).await.unwrap();
                assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{bad}");
            }
            let response = mint(Some(&basic), "Room=r&Expires=60&Muted=true")
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::CREATED);
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            let url = body["url"].as_str().unwrap();
            let t = url.strip_prefix("http://h:1/join/").unwrap();
            let claims = JoinToken::parse(t).unwrap().verify(TOKEN, now()).unwrap();
            assert_eq!(claims.room, "r");
            assert!(claims.muted);
            let left = claims.expires.as_micros() - now().as_micros();
            assert!((50_000_000..=60_000_000).contains(&left), "{left}");
        }
    }
}
