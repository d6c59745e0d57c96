//! The fallback handler every API request goes through, and what each
//! [`Action`] does against the store and the conference owner.
//!
//! The order of checks is fixed: route (404) → auth (401, or 429 for a
//! client with too many bad credentials) → body (413) →
//! method (405) → parameters (400) → lookups (404, 503, 500). A body is only
//! read for POST, PUT and DELETE, whatever its Content-Type (2009 clients do
//! not always send one), and only after the credentials checked out.

use std::net::{IpAddr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use model::{AccountSid, PageWindow};
use store::CallOrder;

use crate::action::Action;
use crate::body::{read_body, without_body};
use crate::error::ApiError;
use crate::route::{Resource, Route};
use crate::types::PageUris;
use crate::{
    AppState, CallControlError, ParticipantCommand, ParticipantKey, auth, respond, v2010, xml,
};

/// Serves every path the router does not route itself (its fallback).
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    // The peer the server's listener saw (absent under `oneshot`).
    let client = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| peer.ip());
    serve(&state, client, request).await
}

/// Serves an API request from `client` (the peer address, when known: bad
/// credentials are counted by it).
pub(crate) async fn serve(state: &AppState, client: Option<IpAddr>, request: Request) -> Response {
    if v2010::claims(request.uri().path()) {
        return v2010::dispatch(state, client, request).await;
    }
    let head = request.method() == Method::HEAD;
    let response = handle(state, client, request)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if head {
        without_body(response)
    } else {
        response
    }
}

async fn handle(
    state: &AppState,
    client: Option<IpAddr>,
    request: Request,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let route = Route::parse(parts.uri.path()).ok_or(ApiError::NotFound)?;
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let account = auth::authenticate(state, authorization, route.account_segment(), client).await?;
    let body = match parts.method {
        Method::POST | Method::PUT | Method::DELETE => read_body(body).await?,
        _ => Bytes::new(),
    };
    let query = parts.uri.query().unwrap_or_default().as_bytes();
    let action = Action::parse(route.resource.clone(), &parts.method, query, &body)?;
    execute(state, &account, &route.resource, action).await
}

/// Runs an action for `account`; `resource` gives list page URIs their path.
async fn execute(
    state: &AppState,
    account: &AccountSid,
    resource: &Resource,
    action: Action,
) -> Result<Response, ApiError> {
    let store = &state.store;
    match action {
        Action::ListConferences {
            filter,
            page,
            query,
        } => {
            // A page past the end (even one whose offset overflows) comes
            // back empty with the true total.
            let (items, total) = store.conferences(account, &filter, page).await?;
            let window = PageWindow::new(page, total, len(&items));
            let uris = PageUris::new(&resource.canonical_path(account.as_str()), &query, &window);
            ok(xml::conference_list(
                &items,
                &window,
                &uris,
                &state.rendered.conferences_xml,
            )?)
        }
        Action::GetConference(sid) => {
            let conference = store
                .conference(account, &sid)
                .await?
                .ok_or(ApiError::NotFound)?;
            ok(xml::conference(
                &conference,
                &state.rendered.conferences_xml,
            )?)
        }
        Action::ListParticipants {
            conference,
            filter,
            page,
            query,
        } => {
            // An unknown conference is a 404, not an empty list.
            store
                .conference(account, &conference)
                .await?
                .ok_or(ApiError::NotFound)?;
            let (items, total) = store
                .participants(account, &conference, &filter, page)
                .await?;
            let window = PageWindow::new(page, total, len(&items));
            let uris = PageUris::new(&resource.canonical_path(account.as_str()), &query, &window);
            ok(xml::participant_list(
                &items,
                &window,
                &uris,
                &state.rendered.participants_xml,
            )?)
        }
        Action::GetParticipant { conference, call } => {
            let p = store.participant(account, &conference, &call).await?;
            ok(xml::participant(&p.ok_or(ApiError::NotFound)?)?)
        }
        Action::SetMuted {
            conference,
            call,
            muted,
        } => {
            if let Some(muted) = muted {
                let participant = ParticipantKey {
                    account: account.clone(),
                    conference: conference.clone(),
                    call: call.clone(),
                };
                state
                    .control
                    .apply(ParticipantCommand::SetMuted { participant, muted })
                    .await?;
            }
            // Read back what was stored; the participant may have left since.
            let p = store.participant(account, &conference, &call).await?;
            ok(xml::participant(&p.ok_or(ApiError::NotFound)?)?)
        }
        Action::Kick { conference, call } => {
            let participant = ParticipantKey {
                account: account.clone(),
                conference,
                call,
            };
            state
                .control
                .apply(ParticipantCommand::Kick { participant })
                .await?;
            Ok(StatusCode::NO_CONTENT.into_response())
        }
        Action::ListCalls {
            filter,
            page,
            query,
        } => {
            let (items, total) = store
                .calls(account, &filter, CallOrder::Updated, page)
                .await?;
            let window = PageWindow::new(page, total, len(&items));
            let uris = PageUris::new(&resource.canonical_path(account.as_str()), &query, &window);
            ok(xml::call_list(
                &items,
                &window,
                &uris,
                &state.rendered.calls_xml,
            )?)
        }
        Action::GetCall(sid) => {
            let call = store.call_of(account, &sid).await?;
            ok(xml::call(&call.ok_or(ApiError::NotFound)?)?)
        }
    }
}

impl From<CallControlError> for ApiError {
    fn from(e: CallControlError) -> Self {
        match e {
            CallControlError::NotFound => Self::NotFound,
            CallControlError::Unavailable => Self::Unavailable,
        }
    }
}

/// A 200 with an XML body.
fn ok(document: Vec<u8>) -> Result<Response, ApiError> {
    Ok(respond::body(StatusCode::OK, respond::XML, document))
}

fn len<T>(items: &[T]) -> u64 {
    u64::try_from(items.len()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    /// Each request's future is moved whole into a box (`crate::front`'s,
    /// or axum's for the router's fallback), so its size is copied on
    /// every request, a GET of one record included; the arms that hold
    /// kilobytes are boxed on their own (`Store::conferences`,
    /// `Store::calls`, the 2010 API's `Run::execute`). It was 6,856 bytes
    /// before they were.
    #[test]
    fn a_request_future_stays_small() {
        fn future_size<A, B, C, R, F: Fn(A, B, C) -> R>(_: F) -> usize {
            size_of::<R>()
        }
        let size = future_size(super::serve);
        assert!(size <= 4096, "a request's future takes {size} bytes");
    }
}
