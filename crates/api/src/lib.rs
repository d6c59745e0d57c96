//! The REST API: the 2008-08-01 Conferences and Participants, and the
//! 2010-04-01 Conferences, Participants and Calls (module `v2010`, which
//! reuses the steps below and renders JSON or XML).
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
//!
//! The dashboard (`GET /`, module `dashboard`) is the same router's: it signs
//! in against the same accounts and throttle, acts through the same
//! [`CallControl`], and reads the live conferences through a [`LiveFeed`].

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use model::{AccountSid, CallSid, ConferenceSid, StatusCallback};
// Query strings and form bodies: crate `reqparse`, which the fuzz targets
// build without the rest of the API.
use reqparse::form;

mod action;
mod auth;
mod body;
mod dashboard;
mod error;
mod filters;
mod front;
mod handlers;
mod join;
mod method;
mod page_headers;
mod paging;
mod rendered;
mod respond;
mod route;
mod throttle;
mod types;
mod v2010;
mod xml;

pub use dashboard::{LiveConference, LiveParticipant, LiveUpdate};
pub use front::{Connection, Front};
pub use join::{
    BrowserAnswer, BrowserJoinError, BrowserJoins, BrowserOffer, JoinClaims, JoinToken,
    JoinTokenError, link as join_link,
};
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
    /// Put the participant on hold (out of the mix both ways; it hears
    /// `music`, or confab's hold music without) or take it off (2010 API
    /// `Hold`, `HoldUrl`, `HoldMethod`).
    SetHold {
        participant: ParticipantKey,
        hold: bool,
        music: Option<Fetchable>,
    },
    /// Whether the conference ends when this participant leaves (2010 API
    /// `EndConferenceOnExit`).
    SetEndConferenceOnExit {
        participant: ParticipantKey,
        end_conference_on_exit: bool,
    },
    /// Play `audio` (TwiML or an audio file) to this participant only
    /// (2010 API `AnnounceUrl`, `AnnounceMethod`).
    Announce {
        participant: ParticipantKey,
        audio: Fetchable,
    },
}

/// A URL confab fetches (signed, like every webhook) with a method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetchable {
    /// Absolute `http`/`https` URL, checked by the API.
    pub url: String,
    pub method: model::HttpMethod,
}

/// What the API asks of a whole live conference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceCommand {
    /// `Status=completed`: every participant leaves (their `<Dial>` ends,
    /// `ConferenceEnded`) and the conference completes, ended via the API.
    End {
        account: AccountSid,
        conference: ConferenceSid,
    },
    /// `AnnounceUrl` on the conference: play `audio` to every participant.
    Announce {
        account: AccountSid,
        conference: ConferenceSid,
        audio: Fetchable,
    },
}

/// Which conference a dialled-out participant joins: by name (created if
/// it is not live, like `<Conference>`), or a live one by sid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConferenceRef {
    Name(String),
    Sid(ConferenceSid),
}

/// What an outbound call does once answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallScript {
    /// `Url` (and `Method`): fetch TwiML, as for an incoming call.
    Url(Fetchable),
    /// `Twiml`: this document, as given.
    Twiml(String),
    /// `POST Conferences/{name}/Participants`: join this conference as a
    /// participant with these settings (what `<Dial><Conference>` would
    /// say), then hang up when the participant leaves.
    Conference {
        conference: ConferenceRef,
        /// `Muted`, `Beep`, `StartConferenceOnEnter`, `EndConferenceOnExit`,
        /// `MaxParticipants`.
        options: conference::ParticipantOptions,
        label: Option<String>,
        coach: Option<CallSid>,
        /// `WaitUrl`/`WaitMethod`: `None` for confab's hold music, a URL
        /// of `""` for silence.
        wait: Option<Fetchable>,
        /// `ConferenceStatusCallback`, `…Event`, `…Method`.
        status_callback: Option<StatusCallback>,
    },
}

/// `POST Calls` or `POST Conferences/{…}/Participants`: place an outbound
/// SIP call for `account`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DialRequest {
    pub account: AccountSid,
    /// `From`: the caller id (the From user part, or a whole `sip:` URI).
    pub from: String,
    /// `To`: a `sip:` URI dialled directly, or a number sent to the
    /// account's outbound trunk.
    pub to: String,
    /// `Timeout`: how long it may ring, in seconds (Twilio: 5 to 600, default 60).
    pub timeout_secs: u32,
    pub script: CallScript,
    /// The call's own `StatusCallback`, `StatusCallbackEvent`
    /// (`initiated ringing answered completed`), `StatusCallbackMethod`.
    pub status_callback: Option<StatusCallback>,
}

/// Why an outbound call could not be placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DialError {
    /// `To` is a number and the account has no outbound trunk.
    #[error("the account has no outbound SIP trunk for {0}")]
    NoTrunk(String),
    /// `To` is neither a `sip:` URI nor a number.
    #[error("the To is not a SIP URI or a phone number")]
    BadTo,
    /// `ConferenceRef::Sid` names no live conference of the account.
    #[error("no such conference")]
    NoConference,
    #[error(transparent)]
    Control(#[from] CallControlError),
}

/// What the API asks of one live call (`POST Calls/{CA}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallUpdate {
    /// `Url`/`Twiml`: stop what the call does (leave its conference, stop
    /// playing) and run this instead.
    Redirect(CallScript),
    /// `Status=completed` (an answered call: BYE) or `Status=canceled`
    /// (a ringing outbound call: CANCEL); each is refused for the other
    /// state as Twilio does.
    End { canceled: bool },
}

/// The owner of the live conferences and calls, as the API sees it. Each
/// future resolves after the change has been applied (to the conference, its
/// media room, the call) and written to the store.
///
/// Only `apply` must be implemented; the others answer
/// [`CallControlError::Unavailable`] unless the owner can do them.
pub trait CallControl: Send + Sync + 'static {
    fn apply(&self, command: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>>;

    fn conference(
        &self,
        command: ConferenceCommand,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        let _ = command;
        Box::pin(async { Err(CallControlError::Unavailable) })
    }

    /// Places the call and answers with its sid as soon as it is recorded
    /// (queued), before it rings.
    fn dial(&self, request: DialRequest) -> BoxFuture<'_, Result<CallSid, DialError>> {
        let _ = request;
        Box::pin(async { Err(DialError::Control(CallControlError::Unavailable)) })
    }

    fn update_call(
        &self,
        account: AccountSid,
        call: CallSid,
        update: CallUpdate,
    ) -> BoxFuture<'_, Result<(), CallControlError>> {
        let _ = (account, call, update);
        Box::pin(async { Err(CallControlError::Unavailable) })
    }
}

/// The live conferences, as the dashboard (`GET /`) shows them: what is in
/// them now, and every change after. The server's conference hub implements
/// it from the same events it persists and turns into status callbacks.
pub trait LiveFeed: Send + Sync + 'static {
    /// `account`'s live conferences now, and a receiver of every update
    /// after that snapshot (of all accounts: filter by
    /// [`LiveUpdate::account`]). Nothing is lost or counted twice between
    /// the two. A receiver that lags is told so; ask again for a fresh
    /// snapshot.
    fn subscribe(
        &self,
        account: &AccountSid,
    ) -> (
        Vec<LiveConference>,
        tokio::sync::broadcast::Receiver<LiveUpdate>,
    );
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
///
/// Cloned for every request (axum's `State`), so it is one `Arc`: one
/// reference count to touch instead of one per field. Its fields are
/// [`Shared`]'s.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// What every request shares ([`AppState`] derefs to it).
#[derive(Clone)]
pub struct Shared {
    pub store: store::Store,
    pub control: Arc<dyn CallControl>,
    /// `GET /metrics` answers 404 without.
    pub metrics: Option<Arc<dyn MetricsSource>>,
    /// The dashboard's live view; without it, its feed answers 503.
    pub live: Option<Arc<dyn LiveFeed>>,
    /// Where join links' offers go (`None`: joining from a browser is off).
    pub browsers: Option<Arc<dyn BrowserJoins>>,
    sessions: Arc<dashboard::Sessions>,
    accounts: Arc<auth::AccountCache>,
    failures: Arc<Mutex<throttle::FailureLimiter>>,
    rendered: Arc<rendered::Rendered>,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    pub fn new(store: store::Store, control: Arc<dyn CallControl>) -> Self {
        Self(Arc::new(Shared {
            store,
            control,
            metrics: None,
            live: None,
            browsers: None,
            sessions: Arc::new(dashboard::Sessions::new(dashboard::SESSION_TTL)),
            accounts: Arc::new(auth::AccountCache::new(auth::ACCOUNT_CACHE_CAPACITY)),
            failures: Arc::new(Mutex::new(throttle::FailureLimiter::new(
                FailureLimits::default(),
            ))),
            rendered: Arc::default(),
        }))
    }

    /// The fields, to set while building (a copy if already shared).
    fn shared(&mut self) -> &mut Shared {
        Arc::make_mut(&mut self.0)
    }

    /// Counts bad credentials per client with `limits` instead of the
    /// defaults (module `throttle`).
    #[must_use]
    pub fn with_failure_limits(mut self, limits: FailureLimits) -> Self {
        self.shared().failures = Arc::new(Mutex::new(throttle::FailureLimiter::new(limits)));
        self
    }

    /// Feeds the dashboard's live view from `live`.
    #[must_use]
    pub fn with_live(mut self, live: Arc<dyn LiveFeed>) -> Self {
        self.shared().live = Some(live);
        self
    }

    /// Turns on joining from a browser through join links.
    #[must_use]
    pub fn with_browsers(mut self, browsers: Arc<dyn BrowserJoins>) -> Self {
        self.shared().browsers = Some(browsers);
        self
    }

    /// Serves `metrics` on `GET /metrics`.
    #[must_use]
    pub fn with_metrics(mut self, metrics: Arc<dyn MetricsSource>) -> Self {
        self.shared().metrics = Some(metrics);
        self
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface: `/healthz`, `/metrics`, the dashboard (`/` and
/// `/dashboard/...`, module `dashboard`) and `/2008-08-01/...`.
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
        .merge(dashboard::routes())
        .merge(join::routes())
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
