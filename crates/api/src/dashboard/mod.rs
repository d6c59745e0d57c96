//! The dashboard at `GET /`: sign in with an AccountSid and AuthToken, watch
//! the account's live conferences (who is in, muted, talking, how loud the
//! room is), mute, unmute or kick a participant, and see recent calls.
//!
//! The page and its script and style are embedded in the binary
//! (`crates/api/assets/`, `include_str!`): no CDN, no build step. What it
//! reads and does is JSON under `/dashboard/`:
//!
//! | request | what |
//! |---|---|
//! | `POST /dashboard/session` `{"accountSid","authToken"}` | sign in: the session cookie, and the CSRF token |
//! | `GET /dashboard/session` | who is signed in, and the CSRF token (401 if nobody) |
//! | `DELETE /dashboard/session` | sign out |
//! | `GET /dashboard/events` | the live feed, Server-Sent Events (module `feed`) |
//! | `GET /dashboard/calls` | the account's 20 most recent calls |
//! | `POST /dashboard/conferences/{CF}/participants/{CA}/mute` `{"muted":bool}` | mute or unmute |
//! | `POST /dashboard/conferences/{CF}/participants/{CA}/kick` | kick |
//!
//! Mute and kick go through the same [`crate::CallControl`] as the REST
//! API: the conference hub applies them to the rules, the store and the
//! room's audio before answering.
//!
//! Security: the session cookie is `HttpOnly; SameSite=Strict; Path=/` and
//! holds only a random id (module `session`: kept server-side with an
//! expiry; the token is never stored in the browser). Every state-changing
//! request must also carry the session's CSRF token in `X-CSRF-Token`
//! (read by the page from `GET /dashboard/session`, which another origin
//! cannot read); without it, 403. The sign-in itself takes only
//! `Content-Type: application/json`, which a cross-site form cannot send,
//! so no other site can sign a browser in. Bad credentials count against
//! the client in the REST API's own throttle (module `throttle`): past its
//! limit the sign-in answers 429 with `Retry-After`, as the API does. Every
//! dashboard response forbids framing and sniffing, and its content
//! security policy allows scripts, styles and connections from its own
//! origin only.

mod assets;
mod feed;
mod session;

use std::net::SocketAddr;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use model::{AccountSid, CallFilter, CallSid, ConferenceSid, PageRequest};
use serde_json::{Value, json};
use store::CallOrder;

pub use feed::{LiveConference, LiveParticipant, LiveUpdate};
pub use session::{SESSION_TTL, Session, Sessions};

use crate::error::ApiError;
use crate::{AppState, CallControlError, ParticipantCommand, ParticipantKey, auth};

/// The session cookie's name.
const COOKIE: &str = "confab_session";
/// The header a state-changing request carries its CSRF token in.
const CSRF_HEADER: &str = "x-csrf-token";
/// The largest JSON body the dashboard reads.
const MAX_BODY: usize = 4096;
/// How many recent calls the page lists.
const RECENT_CALLS: u64 = 20;

/// The dashboard's routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(assets::page))
        .route("/dashboard/app.js", get(assets::script))
        .route("/dashboard/app.css", get(assets::style))
        .route(
            "/dashboard/session",
            get(who).post(sign_in).delete(sign_out),
        )
        .route("/dashboard/events", get(events))
        .route("/dashboard/calls", get(recent_calls))
        .route(
            "/dashboard/conferences/{conference}/participants/{call}/mute",
            post(mute),
        )
        .route(
            "/dashboard/conferences/{conference}/participants/{call}/kick",
            post(kick),
        )
        .layer(axum::middleware::map_response(guarded))
}

/// Every dashboard response: not framed, not sniffed, scripts, styles and
/// connections from this origin only.
async fn guarded(mut response: Response) -> Response {
    crate::page_headers::harden(
        response.headers_mut(),
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
         img-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    response
}

/// Why a dashboard request failed: a JSON `{"error": …}` with its status.
#[derive(Debug, thiserror::Error)]
enum DashboardError {
    #[error("Sign in first.")]
    SignedOut,
    #[error("Wrong AccountSid or AuthToken.")]
    BadCredentials,
    #[error("Too many failed sign-ins from here; try again in {0} s.")]
    TooMany(u64),
    #[error("The request lacks this session's CSRF token.")]
    Csrf,
    #[error("Send JSON (Content-Type: application/json).")]
    NotJson,
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("No such participant in a live conference of this account.")]
    NotFound,
    #[error("The conference service is unavailable; try again.")]
    Unavailable,
    #[error("Something went wrong on the server.")]
    Internal,
}

impl From<ApiError> for DashboardError {
    fn from(e: ApiError) -> Self {
        match e {
            ApiError::Unauthorized => Self::BadCredentials,
            ApiError::TooManyRequests { retry_after_secs } => Self::TooMany(retry_after_secs),
            ApiError::Unavailable => Self::Unavailable,
            other => {
                tracing::error!(error = %other, "dashboard request failed");
                Self::Internal
            }
        }
    }
}

impl From<CallControlError> for DashboardError {
    fn from(e: CallControlError) -> Self {
        match e {
            CallControlError::NotFound => Self::NotFound,
            CallControlError::Unavailable => Self::Unavailable,
        }
    }
}

impl IntoResponse for DashboardError {
    fn into_response(self) -> Response {
        let status = match self {
            Self::SignedOut | Self::BadCredentials => StatusCode::UNAUTHORIZED,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Csrf => StatusCode::FORBIDDEN,
            Self::NotJson => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let mut response = (status, json_body(&json!({ "error": self.to_string() })));
        if let Self::TooMany(secs) = self {
            response
                .1
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response.into_response()
    }
}

type Answer = Result<Response, DashboardError>;

/// A JSON response that no cache keeps.
fn json_body(value: &Value) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        value.to_string(),
    )
        .into_response()
}

/// `POST /dashboard/session`: checks the pair, opens a session.
async fn sign_in(State(state): State<AppState>, request: Request) -> Answer {
    let (mut parts, body) = request.into_parts();
    let client = ConnectInfo::<SocketAddr>::from_request_parts(&mut parts, &state)
        .await
        .ok()
        .map(|ConnectInfo(peer)| peer.ip());
    let body = json_request(&parts.headers, body).await?;
    let field = |name| body.get(name).and_then(Value::as_str).unwrap_or_default();
    let (sid, token) = (field("accountSid").trim(), field("authToken").trim());
    if sid.is_empty() || token.is_empty() {
        return Err(DashboardError::BadRequest(
            "Enter the AccountSid and the AuthToken.",
        ));
    }
    let account = match AccountSid::parse(sid) {
        Ok(sid) => auth::check(&state, &sid, token).await?,
        Err(_) => None,
    };
    let Some(account) = account else {
        return Err(auth::refuse(&state, client).into());
    };
    let (id, session) = state
        .sessions
        .open(account, Instant::now())
        .ok_or(DashboardError::Internal)?;
    let cookie = format!(
        "{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        SESSION_TTL.as_secs()
    );
    let mut response = session_json(&session);
    let cookie = HeaderValue::from_str(&cookie).map_err(|_| DashboardError::Internal)?;
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    Ok(response)
}

/// `GET /dashboard/session`: who is signed in here.
async fn who(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let (_, session) = signed_in(&state, &headers)?;
    Ok(session_json(&session))
}

/// `DELETE /dashboard/session`: signs out (the cookie is cleared too).
async fn sign_out(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let (id, _) = changing(&state, &headers)?;
    state.sessions.close(&id);
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("confab_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    Ok(response)
}

/// `GET /dashboard/events`: the live feed (module `feed`).
async fn events(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let (id, session) = signed_in(&state, &headers)?;
    let live = state.live.clone().ok_or(DashboardError::Unavailable)?;
    let stream = feed::stream(live, state.sessions.clone(), id, session.account);
    let mut response = stream.into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// `GET /dashboard/calls`: the account's most recent calls, newest first.
async fn recent_calls(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    let (_, session) = signed_in(&state, &headers)?;
    let page = PageRequest {
        page: 0,
        size: RECENT_CALLS,
    };
    let (calls, _) = state
        .store
        .calls(
            &session.account,
            &CallFilter::default(),
            CallOrder::Updated,
            page,
        )
        .await
        .map_err(ApiError::from)?;
    let calls: Vec<Value> = calls
        .iter()
        .map(|c| {
            json!({
                "sid": c.sid.as_str(),
                "from": c.caller,
                "to": c.called,
                "direction": c.direction.as_str(),
                "status": c.status.as_2010_str(),
                "started": c.start_time.map(|t| t.rfc2822()),
                "duration": c.duration,
            })
        })
        .collect();
    Ok(json_body(&json!({ "calls": calls })))
}

/// `POST …/mute` `{"muted": bool}`.
async fn mute(
    State(state): State<AppState>,
    Path((conference, call)): Path<(String, String)>,
    request: Request,
) -> Answer {
    let (parts, body) = request.into_parts();
    let (_, session) = changing(&state, &parts.headers)?;
    let participant = participant(session.account, &conference, &call)?;
    let body = json_request(&parts.headers, body).await?;
    let muted = body
        .get("muted")
        .and_then(Value::as_bool)
        .ok_or(DashboardError::BadRequest(
            "Say {\"muted\": true or false}.",
        ))?;
    state
        .control
        .apply(ParticipantCommand::SetMuted { participant, muted })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `POST …/kick`.
async fn kick(
    State(state): State<AppState>,
    Path((conference, call)): Path<(String, String)>,
    headers: HeaderMap,
) -> Answer {
    let (_, session) = changing(&state, &headers)?;
    let participant = participant(session.account, &conference, &call)?;
    state
        .control
        .apply(ParticipantCommand::Kick { participant })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The participant a path names, in the signed-in account.
fn participant(
    account: AccountSid,
    conference: &str,
    call: &str,
) -> Result<ParticipantKey, DashboardError> {
    let conference = ConferenceSid::parse(conference).map_err(|_| DashboardError::NotFound)?;
    let call = CallSid::parse(call).map_err(|_| DashboardError::NotFound)?;
    Ok(ParticipantKey {
        account,
        conference,
        call,
    })
}

/// `{"accountSid", "csrf"}`.
fn session_json(session: &Session) -> Response {
    json_body(&json!({
        "accountSid": session.account.as_str(),
        "csrf": session.csrf,
    }))
}

/// The session this request's cookie names, and its id.
fn signed_in(state: &AppState, headers: &HeaderMap) -> Result<(String, Session), DashboardError> {
    let id = cookie(headers, COOKIE).ok_or(DashboardError::SignedOut)?;
    let session = state
        .sessions
        .get(id, Instant::now())
        .ok_or(DashboardError::SignedOut)?;
    Ok((id.to_owned(), session))
}

/// [`signed_in`], for a request that changes something: it must carry the
/// session's CSRF token.
fn changing(state: &AppState, headers: &HeaderMap) -> Result<(String, Session), DashboardError> {
    let (id, session) = signed_in(state, headers)?;
    let presented = headers.get(CSRF_HEADER).map(HeaderValue::as_bytes);
    if !presented.is_some_and(|token| session.csrf_matches(token)) {
        return Err(DashboardError::Csrf);
    }
    Ok((id, session))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value)
}

/// A JSON object body of at most [`MAX_BODY`] bytes.
async fn json_request(headers: &HeaderMap, body: Body) -> Result<Value, DashboardError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return Err(DashboardError::NotJson);
    }
    let bytes: Bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .map_err(|_| DashboardError::BadRequest("The body is too large or unreadable."))?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value @ Value::Object(_)) => Ok(value),
        _ => Err(DashboardError::BadRequest("The body is not a JSON object.")),
    }
}
