//! The router end to end, one request at a time through `oneshot`, against
//! a real SQLite store in a temporary directory and a fake room owner.
//!
//! Rooms are written with `Store::apply` directly: this checks the handlers,
//! not the room rules (the API suite through the conference core lives in
//! crates/server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use api::{AppState, BoxFuture, CallControl, CallControlError, Front, ParticipantCommand, router};
use axum::body::{Body, to_bytes};
use axum::http::{Method, Request, StatusCode, header};
use axum::response::Response;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use model::{
    Account, AccountSid, AuthToken, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus,
    ParticipantRecord, Timestamp,
};
use store::{Change, Store};
use tower::ServiceExt as _;

const AC: &str = "AC5ea872f6da5a21de157d80997a64bd33";
const TOKEN: &str = "0123456789abcdef0123456789abcdef";
const OTHER_AC: &str = "AC309475e5fede1b49e100272a8640f438";
const OTHER_TOKEN: &str = "fedcba9876543210fedcba9876543210";
const CF: &str = "CF9f2ead1ae43cdabeab102fa30d938378";
const CF_DONE: &str = "CFd0a50bbe038c437e87f6c82db8f37f21";
const CF_OTHER: &str = "CF00000000000000000000000000000001";
const CA1: &str = "CA9ae8e040497c0598481c2031a154919e";
const CA2: &str = "CA3c3c002e06c4cdaa5367e814ade05c76";
const CA_GONE: &str = "CA00000000000000000000000000000009";

/// What the fake room owner was asked, and whether it is "shutting down".
#[derive(Default)]
struct FakeControl {
    store: Mutex<Option<Store>>,
    calls: Mutex<Vec<String>>,
    unavailable: Mutex<bool>,
}

impl FakeControl {
    fn store(&self) -> Store {
        self.store.lock().unwrap().clone().unwrap()
    }

    fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }

    /// Applies a change like a room would, mapping a missing participant to
    /// `NotFound`.
    async fn change(
        &self,
        account: &AccountSid,
        conference: &ConferenceSid,
        call: &CallSid,
        change: Change,
    ) -> Result<(), CallControlError> {
        if *self.unavailable.lock().unwrap() {
            return Err(CallControlError::Unavailable);
        }
        let store = self.store();
        let present = store.participant(account, conference, call).await;
        if !matches!(present, Ok(Some(_))) {
            return Err(CallControlError::NotFound);
        }
        store
            .apply(&[change])
            .await
            .map_err(|_| CallControlError::Unavailable)
    }
}

impl CallControl for FakeControl {
    fn apply(&self, command: ParticipantCommand) -> BoxFuture<'_, Result<(), CallControlError>> {
        let (p, change) = match command {
            ParticipantCommand::SetMuted { participant, muted } => {
                let call = &participant.call;
                self.calls
                    .lock()
                    .unwrap()
                    .push(format!("mute {call} {muted}"));
                let change = Change::ParticipantMuted {
                    conference_sid: participant.conference.clone(),
                    call_sid: call.clone(),
                    muted,
                    at: at(2_000),
                };
                (participant, change)
            }
            ParticipantCommand::Kick { participant } => {
                let call = &participant.call;
                self.calls.lock().unwrap().push(format!("kick {call}"));
                let change = Change::ParticipantLeft {
                    conference_sid: participant.conference.clone(),
                    call_sid: call.clone(),
                    at: at(3_000),
                };
                (participant, change)
            }
            // The 2008 API sends only mute and kick.
            other => unreachable!("the 2008 API sent {other:?}"),
        };
        Box::pin(async move {
            self.change(&p.account, &p.conference, &p.call, change)
                .await
        })
    }
}

fn at(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_246_838_400 + secs) // 2009-07-06T00:00:00Z + secs
}

fn account(sid: &str, token: &str) -> Account {
    Account {
        sid: AccountSid::parse(sid).unwrap(),
        friendly_name: "test".to_owned(),
        auth_token: AuthToken::from_stored(token.to_owned()),
        date_created: at(0),
        date_updated: at(0),
    }
}

fn conference(sid: &str, account: &str, name: &str, secs: i64) -> ConferenceRecord {
    ConferenceRecord {
        reason_ended: None,
        call_sid_ending: None,
        sid: ConferenceSid::parse(sid).unwrap(),
        account_sid: AccountSid::parse(account).unwrap(),
        friendly_name: name.to_owned(),
        status: ConferenceStatus::Init,
        date_created: at(secs),
        date_updated: at(secs),
    }
}

fn participant(call: &str, secs: i64) -> ParticipantRecord {
    ParticipantRecord {
        hold: false,
        label: None,
        call_sid_to_coach: None,
        call_sid: CallSid::parse(call).unwrap(),
        conference_sid: ConferenceSid::parse(CF).unwrap(),
        account_sid: AccountSid::parse(AC).unwrap(),
        muted: false,
        start_conference_on_enter: true,
        end_conference_on_exit: false,
        date_created: at(secs),
        date_updated: at(secs),
    }
}

struct Fixture {
    state: AppState,
    control: Arc<FakeControl>,
    _dir: tempfile::TempDir,
}

/// Two accounts. Ours has a live room "My Room" with two participants and a
/// completed room `<a & "b">`; the other account has a room too.
async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = Store::connect(&url).await.unwrap();
    store.insert_account(&account(AC, TOKEN)).await.unwrap();
    store
        .insert_account(&account(OTHER_AC, OTHER_TOKEN))
        .await
        .unwrap();
    store
        .apply(&[
            Change::ConferenceCreated(conference(CF_DONE, AC, r#"<a & "b">"#, 10)),
            Change::ConferenceStatus {
                sid: ConferenceSid::parse(CF_DONE).unwrap(),
                status: ConferenceStatus::Completed,
                at: at(20),
            },
            Change::ConferenceCreated(conference(CF, AC, "My Room", 100)),
            Change::ParticipantJoined(participant(CA1, 100)),
            Change::ParticipantJoined(participant(CA2, 200)),
            Change::ConferenceCreated(conference(CF_OTHER, OTHER_AC, "My Room", 50)),
        ])
        .await
        .unwrap();
    let control = Arc::new(FakeControl::default());
    *control.store.lock().unwrap() = Some(store.clone());
    let state = AppState::new(store, control.clone());
    Fixture {
        state,
        control,
        _dir: dir,
    }
}

fn auth(user: &str, token: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{token}")))
}

fn conferences() -> String {
    format!("/2008-08-01/Accounts/{AC}/Conferences")
}

fn participant_path(call: &str) -> String {
    format!("/2008-08-01/Accounts/{AC}/Conferences/{CF}/Participants/{call}")
}

impl Fixture {
    async fn send(&self, request: Request<Body>) -> (StatusCode, Response, String) {
        let response = router(self.state.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let (parts, body) = response.into_parts();
        let bytes = to_bytes(body, usize::MAX).await.unwrap();
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        (status, Response::from_parts(parts, Body::empty()), text)
    }

    /// A request with our credentials.
    async fn call(&self, method: Method, uri: &str, body: &str) -> (StatusCode, Response, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::AUTHORIZATION, auth(AC, TOKEN))
            .body(Body::from(body.to_owned()))
            .unwrap();
        self.send(request).await
    }

    async fn get(&self, uri: &str) -> (StatusCode, String) {
        let (status, _, body) = self.call(Method::GET, uri, "").await;
        (status, body)
    }
}

fn assert_exception(body: &str, status: u16, code: u32) {
    assert!(
        body.starts_with(
            r#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><RestException>"#
        ),
        "{body}"
    );
    assert!(
        body.contains(&format!("<Status>{status}</Status>")),
        "{body}"
    );
    assert!(body.contains(&format!("<Code>{code}</Code>")), "{body}");
    assert!(
        body.contains(&format!(
            "<MoreInfo>http://www.twilio.com/docs/errors/{code}</MoreInfo>"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn healthz_needs_no_credentials() {
    let f = fixture().await;
    let (status, _, body) = f
        .send(Request::get("/healthz").body(Body::empty()).unwrap())
        .await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok"));
}

struct FixedMetrics;

impl api::MetricsSource for FixedMetrics {
    fn render(&self) -> Result<api::Exposition, std::fmt::Error> {
        Ok(api::Exposition {
            content_type: "text/plain; version=0.0.4; charset=utf-8",
            body: "confab_calls_active 0\n".into(),
        })
    }
}

#[tokio::test]
async fn metrics_need_no_credentials_and_are_404_when_nobody_counts() {
    let mut f = fixture().await;
    let get = || Request::get("/metrics").body(Body::empty()).unwrap();
    let (status, _, _) = f.send(get()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    f.state = f.state.clone().with_metrics(Arc::new(FixedMetrics));
    let (status, response, body) = f.send(get()).await;
    assert_eq!(
        (status, body.as_str()),
        (StatusCode::OK, "confab_calls_active 0\n")
    );
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; version=0.0.4; charset=utf-8"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_before_auth() {
    let f = fixture().await;
    for uri in [
        // `/` is the dashboard's page (module `dashboard`); nothing else is.
        "/index.html".to_owned(),
        "/2008-08-01/Accounts".to_owned(),
        // Calls are served since issue 11; their subresources are not.
        format!("/2008-08-01/Accounts/{AC}/Calls/{CA1}/Segments"),
        format!("/2008-08-01/Accounts/{AC}/conferences"),
        format!("/2008-08-01/Accounts/{AC}/Conferences.json"),
        format!("/2008-08-01/Accounts/{AC}/Conferences/{CA1}"),
    ] {
        let (status, response, body) = f
            .send(Request::get(&uri).body(Body::empty()).unwrap())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
        assert_exception(&body, 404, 20404);
        assert!(body.contains("<Message>The requested resource was not found</Message>"));
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/xml; charset=utf-8"
        );
    }
}

#[tokio::test]
async fn bad_credentials_are_401_and_say_nothing_more() {
    let f = fixture().await;
    let cases: Vec<(String, Option<String>)> = vec![
        (conferences(), None),
        (conferences(), Some(auth(AC, OTHER_TOKEN))),
        (conferences(), Some(auth(AC, ""))),
        (conferences(), Some(format!("Bearer {TOKEN}"))),
        (conferences(), Some("Basic %%%".to_owned())),
        // Valid credentials, another account in the URL (existing or not).
        (
            format!("/2008-08-01/Accounts/{OTHER_AC}/Conferences"),
            Some(auth(AC, TOKEN)),
        ),
        (
            "/2008-08-01/Accounts/AC00000000000000000000000000000000/Conferences".to_owned(),
            Some(auth(AC, TOKEN)),
        ),
        (
            "/2008-08-01/Accounts/not-an-account/Conferences".to_owned(),
            Some(auth(AC, TOKEN)),
        ),
        // An account that does not exist, with itself in the URL.
        (
            "/2008-08-01/Accounts/AC00000000000000000000000000000000/Conferences".to_owned(),
            Some(auth("AC00000000000000000000000000000000", TOKEN)),
        ),
    ];
    let mut bodies = Vec::new();
    for (uri, authorization) in cases {
        let mut request = Request::get(&uri);
        if let Some(a) = &authorization {
            request = request.header(header::AUTHORIZATION, a);
        }
        let (status, response, body) = f.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri} {authorization:?}");
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            r#"Basic realm="confab""#
        );
        assert_exception(&body, 401, 20003);
        assert!(body.contains("<Message>Authenticate</Message>"));
        bodies.push(body);
    }
    bodies.dedup();
    assert_eq!(bodies.len(), 1, "every 401 is the same");
}

/// The server runs the router in `Front`, which hands API requests straight
/// to their handler: every answer is the router's, byte for byte.
#[tokio::test]
async fn the_front_answers_as_the_router_does() {
    let f = fixture().await;
    let front = Front::new(f.state.clone());
    let peer: std::net::SocketAddr = "192.0.2.7:5000".parse().unwrap();
    let ours = Some(auth(AC, TOKEN));
    let requests: Vec<(Method, String, Option<String>)> = vec![
        (Method::GET, conferences(), ours.clone()),
        (Method::GET, format!("{}/{CF}", conferences()), ours.clone()),
        (
            Method::HEAD,
            format!("{}/{CF}.xml", conferences()),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("{}/{CF}/Participants", conferences()),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("//2008-08-01/Accounts/{AC}/Conference"),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("/2008-08-01/Accounts/{AC}/Nothing"),
            ours.clone(),
        ),
        (Method::PUT, conferences(), ours.clone()),
        (Method::GET, conferences(), None),
        (Method::GET, conferences(), Some(auth(AC, OTHER_TOKEN))),
        (
            Method::GET,
            format!("/2010-04-01/Accounts/{AC}/Conferences.json"),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("/2010-04-01/Accounts/{AC}/Conferences/{CF}.xml"),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("/2010-04-01/Accounts/{AC}/Nothing.json"),
            ours.clone(),
        ),
        (
            Method::GET,
            format!("/2010-04-01/Accounts/{AC}/JoinLinks.json"),
            ours.clone(),
        ),
        (Method::GET, "/healthz".to_owned(), None),
        (Method::GET, "/nothing".to_owned(), None),
    ];
    for (method, uri, authorization) in requests {
        let request = || {
            let mut request = Request::builder().method(method.clone()).uri(&uri);
            if let Some(a) = &authorization {
                request = request.header(header::AUTHORIZATION, a);
            }
            request.body(Body::empty()).unwrap()
        };
        let (status, response, body) = f.send(request()).await;
        let answer = front.connection(peer).oneshot(request()).await.unwrap();
        assert_eq!(answer.status(), status, "{method} {uri}");
        // The router sets a GET's Content-Length from its body, which hyper
        // writes in the same place when the header is absent.
        let mut headers = response.headers().clone();
        if !answer.headers().contains_key(header::CONTENT_LENGTH) {
            let length = headers.remove(header::CONTENT_LENGTH).unwrap();
            assert_eq!(length, body.len().to_string(), "{method} {uri}");
        }
        assert_eq!(answer.headers(), &headers, "{method} {uri}");
        let bytes = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
        assert_eq!(
            String::from_utf8(bytes.to_vec()).unwrap(),
            body,
            "{method} {uri}"
        );
    }
}

/// Once an account has authenticated (and is cached with the header its
/// credentials make), the same header is let in without decoding; every
/// other header is still decoded and checked.
#[tokio::test]
async fn credentials_are_checked_the_same_once_the_account_is_cached() {
    let f = fixture().await;
    let unpadded = auth(AC, TOKEN).trim_end_matches('=').to_owned();
    assert_ne!(unpadded, auth(AC, TOKEN), "the credentials end in padding");
    let lowercase = auth(AC, TOKEN).replacen("Basic", "basic", 1);
    let spaced = auth(AC, TOKEN).replacen(' ', "   ", 1);
    let wrong = auth(AC, OTHER_TOKEN);
    let foreign = auth(OTHER_AC, OTHER_TOKEN);
    let cases = [
        // The first caches the account; the others then meet the cache.
        (auth(AC, TOKEN), StatusCode::OK),
        (auth(AC, TOKEN), StatusCode::OK),
        (wrong.clone(), StatusCode::UNAUTHORIZED),
        (unpadded, StatusCode::OK),
        (lowercase, StatusCode::OK),
        (spaced, StatusCode::OK),
        (foreign.clone(), StatusCode::UNAUTHORIZED),
        (format!("{} ", auth(AC, TOKEN)), StatusCode::OK),
        (format!("{}x", auth(AC, TOKEN)), StatusCode::UNAUTHORIZED),
        // The token's last character dropped.
        (auth(AC, &TOKEN[..31]), StatusCode::UNAUTHORIZED),
        (wrong, StatusCode::UNAUTHORIZED),
    ];
    for (authorization, expected) in cases {
        let request = Request::get(conferences())
            .header(header::AUTHORIZATION, &authorization)
            .body(Body::empty())
            .unwrap();
        let (status, _, body) = f.send(request).await;
        assert_eq!(status, expected, "{authorization:?}: {body}");
    }
    // The other account's credentials, once they have been let in on its
    // own URL (and it is cached too), are still refused on ours.
    let other = format!("/2008-08-01/Accounts/{OTHER_AC}/Conferences");
    let request = Request::get(&other)
        .header(header::AUTHORIZATION, &foreign)
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(request).await.0, StatusCode::OK);
    let request = Request::get(conferences())
        .header(header::AUTHORIZATION, &foreign)
        .body(Body::empty())
        .unwrap();
    assert_eq!(f.send(request).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn conference_list_and_filters() {
    let f = fixture().await;
    let (status, response, body) = f.call(Method::GET, &conferences(), "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    assert!(body.starts_with(&format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><TwilioResponse><Conferences page="0" numpages="1" pagesize="50" total="2" start="0" end="1" uri="{}?page=0&amp;num=50""#,
        conferences()
    )), "{body}");
    // Newest DateUpdated first; the other account's room is not listed.
    let live = body.find(CF).unwrap();
    let done = body.find(CF_DONE).unwrap();
    assert!(live < done);
    assert!(!body.contains(CF_OTHER));
    assert!(
        body.contains("<FriendlyName>&lt;a &amp; &quot;b&quot;&gt;</FriendlyName>"),
        "{body}"
    );

    for (query, want) in [
        ("?Status=0", vec![CF]),
        ("?Status=completed", vec![CF_DONE]),
        ("?FriendlyName=My+Room", vec![CF]),
        ("?FriendlyName=%3Ca%20%26%20%22b%22%3E", vec![CF_DONE]),
        (
            "?FriendlyName=My+Room%27%3B+DROP+TABLE+conferences%3B--",
            vec![],
        ),
        ("?DateCreated=2009-07-06", vec![CF, CF_DONE]),
        ("?DateCreated%3C=2009-07-05", vec![]),
        (
            "?DateCreated%3E=2009-07-06&DateUpdated%3C%3D=2009-07-06",
            vec![CF, CF_DONE],
        ),
        ("?DateUpdated=2009-07-07", vec![]),
    ] {
        let (status, body) = f.get(&format!("{}{query}", conferences())).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        for sid in [CF, CF_DONE] {
            assert_eq!(body.contains(sid), want.contains(&sid), "{query}: {body}");
        }
        assert!(
            body.contains(&format!(r#"total="{}""#, want.len())),
            "{query}: {body}"
        );
    }
    // The filters are kept in the page URIs.
    let (_, body) = f
        .get(&format!(
            "{}?Status=1&FriendlyName=My+Room&num=1",
            conferences()
        ))
        .await;
    assert!(
        body.contains(&format!(
            r#"uri="{}?Status=1&amp;FriendlyName=My+Room&amp;page=0&amp;num=1""#,
            conferences()
        )),
        "{body}"
    );
}

#[tokio::test]
async fn what_php_and_openvbx_send_works() {
    let f = fixture().await;
    for uri in [
        format!("/{}?", conferences()),
        format!("{}.xml", conferences()),
        format!("{}/", conferences()),
        format!("//2008-08-01/Accounts/{AC}/Conference?num=10&page=0"),
    ] {
        let (status, body) = f.get(&uri).await;
        assert_eq!(status, StatusCode::OK, "{uri}: {body}");
        assert!(body.contains(CF), "{uri}");
    }
}

#[tokio::test]
async fn conference_instance() {
    let f = fixture().await;
    let (status, body) = f.get(&format!("{}/{CF}", conferences())).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("<Conference><Sid>{CF}</Sid><AccountSid>{AC}</AccountSid><FriendlyName>My Room</FriendlyName><Status>0</Status><DateCreated>Mon, 06 Jul 2009 00:01:40 +0000</DateCreated>")), "{body}");
    // Unknown, and another account's: both simply not found.
    for sid in ["CF00000000000000000000000000000000", CF_OTHER] {
        let (status, body) = f.get(&format!("{}/{sid}", conferences())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{sid}");
        assert_exception(&body, 404, 20404);
    }
}

#[tokio::test]
async fn methods_the_seed_does_not_support_are_405() {
    let f = fixture().await;
    for (method, uri, allow) in [
        (Method::POST, conferences(), "GET"),
        (Method::DELETE, format!("{}/{CF}", conferences()), "GET"),
        (
            Method::PUT,
            format!("{}/{CF}/Participants", conferences()),
            "GET",
        ),
        (Method::PUT, participant_path(CA1), "GET, POST, DELETE"),
        (Method::PATCH, participant_path(CA1), "GET, POST, DELETE"),
    ] {
        let (status, response, body) = f.call(method.clone(), &uri, "Status=7").await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {uri}");
        assert_eq!(response.headers()[header::ALLOW], allow);
        assert_exception(&body, 405, 20004);
    }
    let (status, _, _) = f
        .call(
            Method::POST,
            &format!("{}?_method=PUT", participant_path(CA1)),
            "",
        )
        .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(f.control.calls().is_empty());
}

#[tokio::test]
async fn bad_parameters_are_400() {
    let f = fixture().await;
    for (query, code, name) in [
        ("Status=7", 20001, "Status"),
        ("DateCreated=july", 20001, "DateCreated"),
        ("DateUpdated%3E=2009-13-01", 20001, "DateUpdated>"),
        ("num=0", 20001, "num"),
        ("page=-1", 20001, "page"),
        ("Num=abc", 20001, "Num"),
        ("num=1001", 20007, "num"),
        ("FriendlyName=%FF", 20001, "FriendlyName"),
    ] {
        let (status, body) = f.get(&format!("{}?{query}", conferences())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
        assert_exception(&body, 400, code);
        let escaped = name.replace('>', "&gt;");
        assert!(body.contains(&escaped), "{query}: {body}");
    }
    let (status, body) = f
        .get(&format!(
            "{}/{CF}/Participants?PageSize=5000",
            conferences()
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_exception(&body, 400, 20007);
    // Enormous but valid page numbers are simply past the end.
    let (status, body) = f
        .get(&format!("{}?page=18446744073709551615", conferences()))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(r#"total="2""#) && !body.contains("<Conference>"),
        "{body}"
    );
    // A 10 kB query string is fine.
    let name = "x".repeat(10 * 1024);
    let (status, _) = f
        .get(&format!("{}?FriendlyName={name}", conferences()))
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn participant_list_paging_and_filter() {
    let f = fixture().await;
    let base = format!("{}/{CF}/Participants", conferences());
    let (status, body) = f.get(&base).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains(
            r#"<Participants page="0" numpages="1" pagesize="50" total="2" start="0" end="1""#
        ),
        "{body}"
    );
    // Join order.
    assert!(body.find(CA1).unwrap() < body.find(CA2).unwrap());
    assert!(body.contains("<Muted>false</Muted><StartConferenceOnEnter>1</StartConferenceOnEnter><EndConferenceOnExit>0</EndConferenceOnExit>"));

    let (_, body) = f.get(&format!("{base}?Page=1&Num=1")).await;
    assert!(body.contains(&format!(
        r#"<Participants page="1" numpages="2" pagesize="1" total="2" start="1" end="1" uri="{base}?page=1&amp;num=1" firstpageuri="{base}?page=0&amp;num=1" previouspageuri="{base}?page=0&amp;num=1" nextpageuri="" lastpageuri="{base}?page=1&amp;num=1">"#
    )), "{body}");
    assert!(body.contains(CA2) && !body.contains(CA1));

    let (_, body) = f.get(&format!("{base}?Muted=true")).await;
    assert!(body.contains(r#"total="0""#), "{body}");
    let (_, body) = f.get(&format!("{base}?Muted=false")).await;
    assert!(body.contains(r#"total="2""#), "{body}");

    // Unknown conference (or another account's) is a 404, not an empty list.
    for cf in ["CF00000000000000000000000000000000", CF_OTHER] {
        let (status, _) = f.get(&format!("{}/{cf}/Participants", conferences())).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{cf}");
    }
}

#[tokio::test]
async fn participant_get_mute_and_kick() {
    let f = fixture().await;
    let (status, body) = f.get(&participant_path(CA1)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&format!("<Participant><ConferenceSid>{CF}</ConferenceSid><AccountSid>{AC}</AccountSid><CallSid>{CA1}</CallSid><Muted>false</Muted>")), "{body}");
    let (status, _) = f.get(&participant_path(CA_GONE)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // The seed's own example: singular /Conference/, form body, no Content-Type.
    let singular = format!("/2008-08-01/Accounts/{AC}/Conference/{CF}/Participants/{CA1}");
    let (status, response, body) = f.call(Method::POST, &singular, "Muted=true").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    assert!(body.contains("<Muted>true</Muted>"), "{body}");
    let (_, body) = f.get(&participant_path(CA1)).await;
    assert!(body.contains("<Muted>true</Muted>"));

    // py201 sends a Python bool; anything but true/1 is false.
    let (_, _, body) = f
        .call(Method::POST, &participant_path(CA1), "Muted=False")
        .await;
    assert!(body.contains("<Muted>false</Muted>"), "{body}");

    // Without Muted nothing changes and nothing is asked of the room.
    let before = f.control.calls().len();
    let (status, _, body) = f
        .call(Method::POST, &participant_path(CA1), "Other=1")
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("<Muted>false</Muted>"));
    assert_eq!(f.control.calls().len(), before);

    // Mute someone who is not there.
    let (status, _, body) = f
        .call(Method::POST, &participant_path(CA_GONE), "Muted=true")
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_exception(&body, 404, 20404);

    // Kick: 204, no body, no Content-Type; then the participant is gone.
    let (status, response, body) = f.call(Method::DELETE, &participant_path(CA1), "").await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(body, "");
    assert!(response.headers().get(header::CONTENT_TYPE).is_none());
    let (status, _) = f.get(&participant_path(CA1)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = f.call(Method::DELETE, &participant_path(CA1), "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Kick by POST with _method=DELETE.
    let (status, _, _) = f
        .call(Method::POST, &participant_path(CA2), "_method=delete")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        f.control.calls(),
        [
            format!("mute {CA1} true"),
            format!("mute {CA1} false"),
            format!("mute {CA_GONE} true"),
            format!("kick {CA1}"),
            format!("kick {CA1}"),
            format!("kick {CA2}"),
        ]
    );
}

#[tokio::test]
async fn an_unavailable_room_owner_is_503() {
    let f = fixture().await;
    *f.control.unavailable.lock().unwrap() = true;
    let (status, _, body) = f
        .call(Method::POST, &participant_path(CA1), "Muted=true")
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_exception(&body, 503, 20503);
    let (status, _, _) = f.call(Method::DELETE, &participant_path(CA1), "").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn head_is_get_without_a_body() {
    let f = fixture().await;
    let (status, response, body) = f.call(Method::HEAD, &conferences(), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/xml; charset=utf-8"
    );
    let (_, full) = f.get(&conferences()).await;
    assert_eq!(
        response.headers()[header::CONTENT_LENGTH],
        full.len().to_string().as_str()
    );
}

#[tokio::test]
async fn oversized_bodies_are_413() {
    let f = fixture().await;
    let body = format!("Muted=true&pad={}", "x".repeat(65 * 1024));
    let (status, _, text) = f.call(Method::POST, &participant_path(CA1), &body).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{text}");
    assert!(text.contains("<Status>413</Status>"));
    assert!(f.control.calls().is_empty());
}

/// confab's own pages (the dashboard, the join page, its error pages) are
/// never framed or sniffed, leak no Referer, and carry their own content
/// security policy; the join pages are never cached (the URL is a token).
#[tokio::test]
async fn own_pages_carry_the_hardening_headers() {
    let f = fixture().await;
    for (uri, csp_part, no_store) in [
        ("/", "form-action 'self'", false),
        (
            "/join/not-a-token",
            "media-src 'self' blob: mediastream:",
            true,
        ),
    ] {
        let (_, response, _) = f.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        let headers = response.headers();
        let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
        assert!(csp.starts_with("default-src 'none';"), "{uri}: {csp}");
        assert!(csp.contains(csp_part), "{uri}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{uri}: {csp}");
        assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY", "{uri}");
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{uri}");
        assert_eq!(headers[header::REFERRER_POLICY], "no-referrer", "{uri}");
        assert_eq!(
            headers
                .get(header::CACHE_CONTROL)
                .is_some_and(|v| v == "no-store"),
            no_store,
            "{uri}"
        );
    }
}
