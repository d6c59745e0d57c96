//! The 2008-08-01 REST API for Conferences and Participants.
//!
//! [`router`] is a function of its state, so tests drive it with
//! `tower::ServiceExt::oneshot` and no socket. Reads come from the
//! [`store::Store`]; mute and kick go through [`CallControl`] to whoever owns
//! the room (the server's conference hub), and the response is read back
//! from the store after the change was applied.
//!
//! A request goes through the same steps in the same order every time
//! (module `handlers`):
//!
//! 1. `route`: the path becomes a typed `Route` or a 404;
//! 2. `auth`: HTTP Basic against the account named in the path, or a 401;
//! 3. `action`: method (405) and parameters (400, via `form`, `filters` and
//!    `paging`) become one typed `Action`;
//! 4. the action runs against the store or the room owner (404, 503, 500),
//!    and `xml` renders the answer.
//!
//! Every failure is an `ApiError` (module `error`), turned into a `RestException` in
//! exactly one place.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::routing::get;
use model::{AccountSid, CallSid, ConferenceSid};

mod action;
mod auth;
mod error;
mod filters;
mod form;
mod handlers;
mod method;
mod paging;
mod route;
mod xml;

/// A boxed future, so [`CallControl`] can be a trait object.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the owner of a room could not apply a command.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    /// No such participant in that conference of that account (right now).
    #[error("no such participant")]
    NotFound,
    /// The room's owner is gone (shutting down) or failed to persist.
    #[error("the conference service is unavailable")]
    Unavailable,
}

/// Commands the API sends to the owner of a live room. Each future resolves
/// after the change has been applied to the room and written to the store.
pub trait CallControl: Send + Sync + 'static {
    fn set_muted<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        call: &'a CallSid,
        muted: bool,
    ) -> BoxFuture<'a, Result<(), ControlError>>;

    fn kick<'a>(
        &'a self,
        account: &'a AccountSid,
        conference: &'a ConferenceSid,
        call: &'a CallSid,
    ) -> BoxFuture<'a, Result<(), ControlError>>;
}

/// What the router needs: the store and the room owner.
///
/// Build it with [`AppState::new`]: it also carries a cache of the accounts
/// that authenticated, so the hot path of a request is one query.
#[derive(Clone)]
pub struct AppState {
    pub store: store::Store,
    pub control: Arc<dyn CallControl>,
    accounts: Arc<auth::AccountCache>,
}

impl AppState {
    pub fn new(store: store::Store, control: Arc<dyn CallControl>) -> Self {
        Self {
            store,
            control,
            accounts: Arc::default(),
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// The whole HTTP surface: `/healthz` and `/2008-08-01/...`.
///
/// Everything but `/healthz` goes to one fallback handler that normalises
/// the path itself (`//`, `.xml`, `/Conference/`), which axum's matcher
/// would not.
pub fn router(state: AppState) -> axum::Router {
    axum::Router::new()
        .route("/healthz", get(healthz))
        .fallback(handlers::dispatch)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}
