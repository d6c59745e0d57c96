//! The HTTP surface as the server runs it: [`crate::router`], with the API's
//! own requests handed straight to their handler.
//!
//! A `/2008-08-01/...` or `/2010-04-01/...` request, the join links' route
//! aside, is one the router gives its fallback (`handlers::dispatch`), after
//! looking its path up among the routes, collecting the fallback's path
//! parameters and adding the peer address to the request's extensions.
//! [`Connection`] skips those steps for them, which was about 3,300 of the
//! instance GET's 25,000 instructions (docs/benchmarks.md). Every other
//! request goes through the router, so both ways answer alike: a path this
//! module is unsure of costs the lookup, never a different answer.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::net::SocketAddr;
use std::task::{Context, Poll};

use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use axum::serve::{IncomingStream, Listener};
use futures_util::future::Either;

use crate::{AppState, BoxFuture, handlers, join, route, v2010};

/// The router and its state, shared by every connection: what
/// `axum::serve` takes to make each connection's [`Connection`].
#[derive(Clone, Debug)]
pub struct Front {
    router: axum::Router,
    state: AppState,
}

impl Front {
    pub fn new(state: AppState) -> Self {
        Self {
            router: crate::router(state.clone()),
            state,
        }
    }

    /// The service for one connection from `peer` (the address bad
    /// credentials are counted by).
    pub fn connection(&self, peer: SocketAddr) -> Connection {
        Connection {
            front: self.clone(),
            peer,
        }
    }
}

/// [`Front`] for one connection.
#[derive(Clone, Debug)]
pub struct Connection {
    front: Front,
    peer: SocketAddr,
}

/// Each accepted connection's service, for `axum::serve`.
impl<L> tower::Service<IncomingStream<'_, L>> for Front
where
    L: Listener<Addr = SocketAddr>,
{
    type Response = Connection;
    type Error = Infallible;
    type Future = Ready<Result<Connection, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, incoming: IncomingStream<'_, L>) -> Self::Future {
        ready(Ok(self.connection(*incoming.remote_addr())))
    }
}

impl tower::Service<Request> for Connection {
    type Response = Response;
    type Error = Infallible;
    type Future = Either<BoxFuture<'static, Result<Response, Infallible>>, RouteFuture<Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // The router is always ready, and so is the handler.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if straight_to_api(request.uri().path()) {
            let state = self.front.state.clone();
            let client = Some(self.peer.ip());
            return Either::Left(Box::pin(async move {
                Ok(handlers::serve(&state, client, request).await)
            }));
        }
        request.extensions_mut().insert(ConnectInfo(self.peer));
        Either::Right(self.front.router.call(request))
    }
}

/// Whether the router would hand `path` to its fallback without a doubt.
fn straight_to_api(path: &str) -> bool {
    let Some(rest) = path.strip_prefix('/') else {
        return false;
    };
    let versioned = [route::API_VERSION, v2010::route::API_VERSION]
        .iter()
        .any(|version| {
            rest.strip_prefix(version)
                .is_some_and(|r| r.starts_with('/'))
        });
    versioned && !join::may_route(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_api_paths_go_straight_to_the_api() {
        for path in [
            "/2008-08-01/Accounts/AC1/Conferences",
            "/2008-08-01/Accounts/AC1/Conferences/CF1/Participants.xml",
            "/2010-04-01/Accounts/AC1/Conferences.json",
            "/2010-04-01/Accounts/AC1/Calls/CA1.json",
            "/2008-08-01/",
        ] {
            assert!(straight_to_api(path), "{path}");
        }
        for path in [
            "/",
            "/healthz",
            "/metrics",
            "/dashboard/app.js",
            "/join/abc",
            // The join links' route, and what might be it: the router's.
            "/2010-04-01/Accounts/AC1/JoinLinks.json",
            "/2010-04-01/Accounts/AC1/x/JoinLinks.json",
            // Paths the fallback normalises: through the router, which
            // hands them to the same handler.
            "//2008-08-01/Accounts/AC1/Conferences",
            "/2008-08-01",
            "/2008-08-010/Accounts",
            "/2009-01-01/Accounts/AC1/Conferences",
        ] {
            assert!(!straight_to_api(path), "{path}");
        }
    }
}
