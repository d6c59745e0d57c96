//! A whole server on a real SQLite file and a fake clock, driven through
//! `router(state).oneshot`: rooms are filled through the conference hub's own
//! inputs, never by writing rows behind its back.
//!
//! `caller` and `rig` are the call tests' share: a caller on testkit's
//! phone, and a server listening for calls with a stand-in for the
//! customer's web app.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod caller;
pub mod rig;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use conference::{JoinRequest, Joined, LeaveReason, ParticipantOptions};
use http_body_util::BodyExt;
use model::{Account, CallSid, Timestamp};
use server::{Config, ManualClock, Server};
use tower::ServiceExt;

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: store::Store,
    pub clock: ManualClock,
    pub server: Server,
    pub router: axum::Router,
    pub account: Account,
    pub other: Account,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Response {
    pub fn doc(&self) -> roxmltree::Document<'_> {
        roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("not XML ({e}): {}", self.body))
    }

    /// The RestException's Code, or panics.
    pub fn code(&self) -> String {
        self.rest_exception_field("Code")
    }

    pub fn message(&self) -> String {
        self.rest_exception_field("Message")
    }

    fn rest_exception_field(&self, field: &str) -> String {
        let doc = self.doc();
        let node = doc
            .descendants()
            .find(|n| {
                n.has_tag_name(field) && n.parent().is_some_and(|p| p.has_tag_name("RestException"))
            })
            .unwrap_or_else(|| panic!("no RestException/{field} in {}", self.body));
        node.text().unwrap_or_default().to_owned()
    }

    /// The list element's attribute.
    pub fn attr(&self, name: &str) -> String {
        let doc = self.doc();
        let list = doc
            .root_element()
            .first_element_child()
            .expect("list element");
        list.attribute(name)
            .unwrap_or_else(|| panic!("no {name} in {}", self.body))
            .to_owned()
    }

    /// Text of every `<item>/<field>` in document order.
    pub fn column(&self, field: &str) -> Vec<String> {
        self.doc()
            .descendants()
            .filter(|n| n.has_tag_name(field))
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect()
    }
}

pub const DAY: i64 = 86_400;
/// 2009-07-06T12:00:00Z
pub const JULY_6_NOON: i64 = 1_246_881_600;

impl Harness {
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = store::Store::connect(&url).await.unwrap();
        let clock = ManualClock::new(Timestamp::from_secs(JULY_6_NOON));
        let account = server::accounts::create(&store, "mine", Timestamp::from_secs(JULY_6_NOON))
            .await
            .unwrap();
        let other = server::accounts::create(&store, "theirs", Timestamp::from_secs(JULY_6_NOON))
            .await
            .unwrap();
        let server = Server::start(store.clone(), Config::default(), Arc::new(clock.clone()))
            .await
            .unwrap();
        let router = server.router();
        Self {
            dir,
            store,
            clock,
            server,
            router,
            account,
            other,
        }
    }

    pub fn base(&self) -> String {
        format!("/2008-08-01/Accounts/{}", self.account.sid)
    }

    /// A new call joins `name` of this harness's account.
    pub async fn join(&self, name: &str, options: ParticipantOptions) -> (CallSid, Joined) {
        self.join_as(&self.account, name, options).await
    }

    pub async fn join_as(
        &self,
        account: &Account,
        name: &str,
        options: ParticipantOptions,
    ) -> (CallSid, Joined) {
        let call = server::ids::call_sid();
        let request = JoinRequest {
            label: None,
            coach: None,
            status_callback: None,
            account: account.sid.clone(),
            name: name.into(),
            call: call.clone(),
            options,
        };
        let joined = self.server.hub().join(request).await.expect("join");
        (call, joined)
    }

    pub async fn hang_up(&self, call: &CallSid) {
        assert!(
            self.server
                .hub()
                .leave(call.clone(), LeaveReason::Hangup)
                .await
        );
    }

    pub fn credentials(&self) -> (String, String) {
        (
            self.account.sid.to_string(),
            self.account.auth_token.expose().to_owned(),
        )
    }

    pub async fn get(&self, uri: &str) -> Response {
        let (user, pass) = self.credentials();
        self.request(Method::GET, uri, None, Some(basic(&user, &pass)))
            .await
    }

    pub async fn post(&self, uri: &str, body: &str) -> Response {
        let (user, pass) = self.credentials();
        self.request(Method::POST, uri, Some(body), Some(basic(&user, &pass)))
            .await
    }

    pub async fn send(&self, method: Method, uri: &str, body: Option<&str>) -> Response {
        let (user, pass) = self.credentials();
        self.request(method, uri, body, Some(basic(&user, &pass)))
            .await
    }

    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        body: Option<&str>,
        authorization: Option<String>,
    ) -> Response {
        let mut builder = Request::builder().method(method).uri(uri);
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        let body = body.map_or_else(Body::empty, |b| Body::from(b.to_owned()));
        self.raw(builder.body(body).unwrap()).await
    }

    pub async fn raw(&self, request: Request<Body>) -> Response {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Response {
            status,
            headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }
}

pub fn basic(user: &str, pass: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
    )
}
