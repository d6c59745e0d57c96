//! The 2008-08-01 REST API for Conferences and Participants.
//!
//! [`router`] is a function of its state, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket. Reads come from the
//! [`store::Store`]; mute and kick go through [`CallControl`] to whoever owns
//! the conference (the server's conference hub), and the response is read back
//! from the store after the change was applied.
//!
//! A request goes through the same steps in the same order every time
//! (module `handlers`):
//!
//! 1. `route`: the path becomes a typed `Route` or a 404;
//! 2. `auth`: HTTP Basic against the account named in the path, or a 401
//!    (a 429 once one client has presented too many bad credentials:
//!    `throttle`);
//! 3. `action`: method (405) and parameters (400, via `form`, `filters` and
//!    `paging`) become one typed `Action`;
//! 4. the action runs against the store or the conference owner (404, 503, 500),
//!    and `xml` renders the answer.
//!
//! Every failure is an `ApiError` (module `error`), turned into a `RestException` in
//! exactly one place.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::{AccountSid, CallSid, ConferenceSid};
// Query strings and form bodies: crate `reqparse`, which the fuzz targets
// build without the rest of the API.
use reqparse::form;

mod action;
mod auth;
mod error;
mod filters;
mod handlers;
mod method;
mod paging;
mod route;
mod throttle;
mod types;
mod xml;

pub use throttle::FailureLimits;

/// A boxed future, so [`CallControl`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the owner of a conference could not apply a [`CallControl`] command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallControlError {
    /// No such participant in that conference of that account (right now).
    #[error("no such participant")]
    NotFound,
    /// The conference's owner is gone (shutting down) or failed to persist.
    #[error("the conference service is unavailable")]
    Unavailable,
}

/// A call in one conference of one account: whom a [`ParticipantCommand`] is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParticipantKey {
    pub account: AccountSid,
    pub conference: ConferenceSid,
    pub call: CallSid,
}

/// What the API asks the owner of a live conference to do, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParticipantCommand {
    /// Mute or unmute the participant.
    SetMuted {
        participant: ParticipantKey,
        muted: bool,
    },
    /// Drop the participant from its conference.
    Kick { participant: ParticipantKey },
}

/// The owner of the live conferences, as the API sees it: one method that
/// applies a [`ParticipantCommand`]. The future resolves after the change has been
/// applied (to the conference and its media room) and written to the store.
pub trait CallControl: Send + Sync + 'static {
    fn apply(&self, command: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>>;
}

/// A metrics exposition, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exposition {
    /// The `Content-Type` of `body` (the format and its version).
    pub content_type: &'static str,
    pub body: String,
}

/// Whoever counts what the server does renders it for `GET /metrics`; the
/// API does not know the metrics, only that they can be rendered.
pub trait MetricsSource: Send + Sync + 'static {
    /// Renders every metric as of now.
    fn render(&self) -> Result<Exposition, std::fmt::Error>;
}

/// What the router needs: the store and the conference owner, and the metrics if
/// any.
///
/// Build it with [`AppState::new`]: it also carries a cache of the accounts
/// that authenticated, so the hot path of a request is one query, and the
/// count of bad credentials per client.
#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub control: Arc<dyn CallControl>,
    /// `GET /metrics` answers 404 without.
    pub metrics: Option<Arc<dyn MetricsSource>>,
    accounts: Arc<auth::AccountCache>,
    failures: Arc<Mutex<throttle::FailureLimiter>>,
    rendered: Arc<xml::RenderedConferences>,
}

impl AppState {
    pub fn new(store: store::Store, control: Arc<dyn CallControl>) -> Self {
        Self {
            store,
            control,
            metrics: None,
            accounts: Arc::new(auth::AccountCache::new(auth::ACCOUNT_CACHE_CAPACITY)),
            failures: Arc::new(Mutex::new(throttle::FailureLimiter::new(
                FailureLimits::default(),
            ))),
            rendered: Arc::default(),
        }
    }

    /// Counts bad credentials per client with `limits` instead of the
    /// defaults (module `throttle`).
    #[must_use]
    pub fn with_failure_limits(mut self, limits: FailureLimits) -> Self {
        self.failures = Arc::new(Mutex::new(throttle::FailureLimiter::new(limits)));
        self
    }

    /// Serves `metrics` on `GET /metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSource>) -> Self {
        self.metrics = Some(metrics);
        self
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface: `/healthz`, `/metrics` and `/2008-08-01/...`.
///
/// Everything but `/healthz` and `/metrics` goes to one fallback handler
/// that normalises the path itself (`//`, `.xml`, `/Conference/`), which
/// axum's matcher would not. `/healthz` and `/metrics` need no credentials,
/// like a load balancer's or a Prometheus server's probes: they tell
/// nothing about any account.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .fallback(handlers::dispatch)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn metrics(State(state): State<AppState>) -> Response {
    let Some(source) = &state.metrics else {
        return (StatusCode::NOT_FOUND, "no metrics\n").into_response();
    };
    match source.render() {
        Ok(exposition) => (
            [(header::CONTENT_TYPE, exposition.content_type)],
            exposition.body,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "could not render the metrics");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}
