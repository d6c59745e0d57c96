//! The dashboard over real HTTP (`api`'s `dashboard` module, fed by the
//! server's `live`): sign-in, its cookie and throttle, CSRF, the live feed
//! (Server-Sent Events) following real phones as they join, are muted
//! through the REST API, talk, stop and leave, and the dashboard's own mute
//! and kick acting on the real call's audio and dialog. RTP ports
//! 57000–57999.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Instant;

use axum::http::Method;
use media::tone_fraction;
use model::Account;
use serde_json::{Value, json};
use tokio::task::JoinHandle;

use crate::common::caller::{Caller, DEADLINE};
use crate::common::rig::Rig;

/// The rig's router served over real HTTP on 127.0.0.1 (with each peer's
/// address, which the sign-in throttle counts by).
struct Http {
    addr: SocketAddr,
    client: reqwest::Client,
    task: JoinHandle<()>,
}

impl Http {
    async fn serve(rig: &Rig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = rig
            .server
            .router()
            .into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        Self {
            addr,
            client: reqwest::Client::new(),
            task,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request with `cookie` and `csrf` (if any) and a JSON `body`.
    async fn send(
        &self,
        method: Method,
        path: &str,
        session: Option<&Session>,
        csrf: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap();
        let mut request = self.client.request(method, self.url(path));
        if let Some(session) = session {
            request = request.header("cookie", format!("confab_session={}", session.id));
        }
        if let Some(csrf) = csrf {
            request = request.header("x-csrf-token", csrf);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }

    /// Signs `account` in; the session.
    async fn sign_in(&self, account: &Account) -> Session {
        let reply = self
            .send(
                Method::POST,
                "/dashboard/session",
                None,
                None,
                Some(json!({
                    "accountSid": account.sid.as_str(),
                    "authToken": account.auth_token.expose(),
                })),
            )
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let cookie = reply.header("set-cookie");
        let id = cookie
            .strip_prefix("confab_session=")
            .and_then(|rest| rest.split(';').next())
            .unwrap_or_else(|| panic!("no session cookie: {cookie}"))
            .to_owned();
        let body = reply.json();
        assert_eq!(body["accountSid"], account.sid.as_str());
        Session {
            id,
            csrf: body["csrf"].as_str().unwrap().to_owned(),
        }
    }

    /// A state-changing request of the signed-in `session`.
    async fn act(&self, session: &Session, path: &str, body: Value) -> Reply {
        self.send(
            Method::POST,
            path,
            Some(session),
            Some(&session.csrf),
            Some(body),
        )
        .await
    }

    /// The live feed of `session`.
    async fn feed(&self, session: &Session) -> Feed {
        let response = self
            .client
            .get(self.url("/dashboard/events"))
            .header("cookie", format!("confab_session={}", session.id))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "an SSE stream"
        );
        Feed {
            response,
            buffer: String::new(),
        }
    }
}

impl Drop for Http {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Session {
    id: String,
    csrf: String,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A dashboard's Server-Sent Events stream, read event by event.
struct Feed {
    response: reqwest::Response,
    buffer: String,
}

/// One event of the feed.
#[derive(Debug)]
struct FeedEvent {
    name: String,
    data: Value,
    retry: Option<u64>,
}

impl Feed {
    /// The next event (comments, i.e. keep-alives, skipped).
    async fn next(&mut self) -> FeedEvent {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data, mut retry) = (String::new(), String::new(), None);
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    } else if let Some(v) = line.strip_prefix("retry:") {
                        retry = v.trim().parse().ok();
                    }
                }
                if name.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).unwrap();
                return FeedEvent { name, data, retry };
            }
            let chunk = tokio::time::timeout(DEADLINE, self.response.chunk())
                .await
                .expect("the feed sent nothing for 10 s")
                .unwrap()
                .expect("the feed ended");
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Reads events until one satisfies `check` (within the deadline);
    /// returns it.
    async fn until(&mut self, what: &str, check: impl Fn(&FeedEvent) -> bool) -> FeedEvent {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let event = tokio::time::timeout_at(deadline.into(), self.next())
                .await
                .unwrap_or_else(|_| panic!("the feed never showed {what}"));
            if check(&event) {
                return event;
            }
        }
    }
}

/// The participant `call` of a `conference` event, if it is in it.
fn participant<'a>(event: &'a FeedEvent, call: &str) -> Option<&'a Value> {
    (event.name == "conference")
        .then(|| event.data["participants"].as_array())
        .flatten()?
        .iter()
        .find(|p| p["callSid"] == call)
}

fn participant_path(cf: &str, ca: &str, action: &str) -> String {
    format!("/dashboard/conferences/{cf}/participants/{ca}/{action}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_gives_a_strict_cookie_and_bad_credentials_are_refused_then_throttled() {
    let rig = Rig::new((57000, 57099), false).await;
    let http = Http::serve(&rig).await;

    let page = http.send(Method::GET, "/", None, None, None).await;
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").starts_with("text/html"));
    for testid in ["account-sid", "auth-token", "sign-in"] {
        assert!(
            page.body.contains(&format!("data-testid=\"{testid}\"")),
            "{testid}"
        );
    }
    assert!(
        page.header("content-security-policy")
            .contains("script-src 'self'")
    );
    let script = http
        .send(Method::GET, "/dashboard/app.js", None, None, None)
        .await;
    assert_eq!(script.status, 200);
    assert!(script.body.contains("EventSource"));

    let reply = http
        .send(
            Method::POST,
            "/dashboard/session",
            None,
            None,
            Some(json!({
                "accountSid": rig.account.sid.as_str(),
                "authToken": rig.account.auth_token.expose(),
            })),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let cookie = reply.header("set-cookie");
    let attributes: Vec<&str> = cookie.split(';').map(str::trim).skip(1).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(attributes.contains(&wanted), "{wanted} missing: {cookie}");
    }
    assert!(
        !cookie.contains(rig.account.auth_token.expose()),
        "the token is never in the cookie"
    );
    let session = http.sign_in(&rig.account).await;
    let who = http
        .send(
            Method::GET,
            "/dashboard/session",
            Some(&session),
            None,
            None,
        )
        .await;
    assert_eq!(who.status, 200);
    assert_eq!(who.json()["accountSid"], rig.account.sid.as_str());
    assert_eq!(who.json()["csrf"], session.csrf.as_str());

    // Not JSON (what a cross-site form would send): refused before anything.
    let form = http
        .client
        .post(http.url("/dashboard/session"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "accountSid={}&authToken={}",
            rig.account.sid,
            rig.account.auth_token.expose()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    assert!(form.headers().get("set-cookie").is_none());

    // Ten wrong tokens are 401s with a clear message, the next a 429, as
    // the REST API counts them; the owner's right pair still signs in.
    let wrong = json!({
        "accountSid": rig.account.sid.as_str(),
        "authToken": "0123456789abcdef0123456789abcdef",
    });
    for attempt in 1..=10 {
        let reply = http
            .send(
                Method::POST,
                "/dashboard/session",
                None,
                None,
                Some(wrong.clone()),
            )
            .await;
        assert_eq!(reply.status, 401, "attempt {attempt}: {}", reply.body);
        assert_eq!(reply.json()["error"], "Wrong AccountSid or AuthToken.");
        assert!(reply.headers.get("set-cookie").is_none());
    }
    let malformed = json!({ "accountSid": "AC-not-a-sid", "authToken": "x" });
    let reply = http
        .send(
            Method::POST,
            "/dashboard/session",
            None,
            None,
            Some(malformed),
        )
        .await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    let retry: u64 = reply.header("retry-after").parse().unwrap();
    assert!((1..=60).contains(&retry));
    assert!(
        reply.json()["error"]
            .as_str()
            .unwrap()
            .starts_with("Too many failed sign-ins")
    );
    let _owner = http.sign_in(&rig.account).await;

    // Nonsense bodies get a 400 with words, never a 500.
    let huge = format!("{{\"accountSid\": \"{}\"}}", "A".repeat(10_000));
    for body in ["[]", "{", "{\"accountSid\": 7}", "\"x\"", "\u{ff}", &huge] {
        let reply = http
            .client
            .post(http.url("/dashboard/session"))
            .header("content-type", "application/json")
            .body(body.to_owned())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 400, "{}", &body[..body.len().min(40)]);
        let text = reply.text().await.unwrap();
        assert!(text.contains("\"error\""), "{text}");
    }
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_without_the_sessions_csrf_token_are_refused_and_sign_out_ends_the_session() {
    let rig = Rig::new((57100, 57199), true).await;
    let http = Http::serve(&rig).await;
    let session = http.sign_in(&rig.account).await;
    let a = Caller::dial(rig.sip, "dash-csrf", "a", 0).await.unwrap();
    let (cf, calls) = rig.room_of(&rig.account, "dash-csrf", "0", 1).await;
    let mute = participant_path(&cf, &calls[0], "mute");

    let none = http
        .send(
            Method::POST,
            &mute,
            Some(&session),
            None,
            Some(json!({ "muted": true })),
        )
        .await;
    assert_eq!(none.status, 403, "{}", none.body);
    let wrong = http
        .send(
            Method::POST,
            &mute,
            Some(&session),
            Some("00"),
            Some(json!({ "muted": true })),
        )
        .await;
    assert_eq!(wrong.status, 403);
    let kick = participant_path(&cf, &calls[0], "kick");
    let kicked = http
        .send(Method::POST, &kick, Some(&session), None, Some(json!({})))
        .await;
    assert_eq!(kicked.status, 403);
    let participants = format!("{}/Conferences/{cf}/Participants", rig.base());
    assert_eq!(
        rig.column(&participants, "Muted").await,
        ["false"],
        "nothing changed"
    );
    let signed_out = http
        .send(
            Method::DELETE,
            "/dashboard/session",
            Some(&session),
            None,
            None,
        )
        .await;
    assert_eq!(signed_out.status, 403);

    // The token's own session, with it: the change is made.
    let muted = http.act(&session, &mute, json!({ "muted": true })).await;
    assert_eq!(muted.status, 204, "{}", muted.body);
    assert_eq!(rig.column(&participants, "Muted").await, ["true"]);
    let bad = http.act(&session, &mute, json!({ "muted": "yes" })).await;
    assert_eq!(bad.status, 400);
    let nobody = http
        .act(
            &session,
            &participant_path(&cf, "CAnot-a-sid", "mute"),
            json!({ "muted": true }),
        )
        .await;
    assert_eq!(nobody.status, 404);

    let signed_out = http
        .send(
            Method::DELETE,
            "/dashboard/session",
            Some(&session),
            Some(&session.csrf),
            None,
        )
        .await;
    assert_eq!(signed_out.status, 204);
    assert!(signed_out.header("set-cookie").contains("Max-Age=0"));
    for path in [
        "/dashboard/session",
        "/dashboard/events",
        "/dashboard/calls",
    ] {
        let reply = http
            .send(Method::GET, path, Some(&session), None, None)
            .await;
        assert_eq!(reply.status, 401, "{path} after the sign-out");
    }
    let after = http.act(&session, &mute, json!({ "muted": false })).await;
    assert_eq!(after.status, 401);
    a.hang_up().await;
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_follows_a_phone_joining_muted_through_the_api_talking_and_leaving() {
    let rig = Rig::new((57200, 57299), true).await;
    let http = Http::serve(&rig).await;
    let session = http.sign_in(&rig.account).await;
    let mut feed = http.feed(&session).await;
    let first = feed.next().await;
    assert_eq!(first.name, "snapshot");
    assert_eq!(
        first.retry,
        Some(1000),
        "a dropped feed reconnects within 1 s"
    );
    assert_eq!(first.data["conferences"], json!([]));

    let a = Caller::dial(rig.sip, "dash-feed", "a", 0).await.unwrap();
    let (cf, calls) = rig.room_of(&rig.account, "dash-feed", "0", 1).await;
    let ca = calls[0].clone();
    let joined = feed
        .until("a's join", |e| participant(e, &ca).is_some())
        .await;
    assert_eq!(joined.data["sid"], cf.as_str());
    assert_eq!(joined.data["name"], "dash-feed");
    let p = participant(&joined, &ca).unwrap();
    assert_eq!((&p["muted"], &p["talking"]), (&json!(false), &json!(false)));

    // Muted through the REST API: the feed says so.
    let one = format!("{}/Conferences/{cf}/Participants/{ca}", rig.base());
    let (status, body) = rig.api(Method::POST, &one, "Muted=true").await;
    assert_eq!(status, 200, "{body}");
    feed.until("the API's mute", |e| {
        participant(e, &ca).is_some_and(|p| p["muted"] == true)
    })
    .await;

    // A muted caller still talks: detection hears it, and its silence.
    let spoke = Instant::now();
    a.call().send_tone(440);
    feed.until("a talking", |e| {
        participant(e, &ca).is_some_and(|p| p["talking"] == true)
    })
    .await;
    let heard_in = spoke.elapsed();
    let quiet = Instant::now();
    a.call().send_silence();
    feed.until("a quiet again", |e| {
        participant(e, &ca).is_some_and(|p| p["talking"] == false)
    })
    .await;
    let quiet_in = quiet.elapsed();
    eprintln!("talking shown after {heard_in:?}, quiet after {quiet_in:?}");

    // A reconnect starts from a snapshot that has it all.
    let mut again = http.feed(&session).await;
    let snapshot = again.next().await;
    assert_eq!(snapshot.name, "snapshot");
    let conference = &snapshot.data["conferences"][0];
    assert_eq!(conference["sid"], cf.as_str());
    assert_eq!(conference["participants"][0]["callSid"], ca.as_str());
    assert_eq!(conference["participants"][0]["muted"], true);
    drop(again);

    a.hang_up().await;
    let ended = feed.until("the end", |e| e.name == "ended").await;
    assert_eq!(ended.data["sid"], cf.as_str());
    let calls = http
        .send(Method::GET, "/dashboard/calls", Some(&session), None, None)
        .await;
    assert_eq!(calls.status, 200);
    assert_eq!(calls.json()["calls"][0]["sid"], ca.as_str());
    rig.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mute_and_kick_from_the_dashboard_act_on_the_real_call() {
    let rig = Rig::new((57300, 57399), true).await;
    let http = Http::serve(&rig).await;
    let session = http.sign_in(&rig.account).await;
    let a = Caller::dial(rig.sip, "dash-act", "a", 400).await.unwrap();
    rig.room_of(&rig.account, "dash-act", "0", 1).await;
    let mut b = Caller::dial(rig.sip, "dash-act", "b", 700).await.unwrap();
    let (cf, calls) = rig.room_with("dash-act", 2).await;
    let (ca, cb) = (calls[0].clone(), calls[1].clone());
    b.until_heard("a's 400 Hz", |s| tone_fraction(s, 400.0) > 0.6)
        .await;
    let mut feed = http.feed(&session).await;
    let snapshot = feed.next().await;
    let conference = &snapshot.data["conferences"][0];
    assert_eq!(conference["participants"].as_array().unwrap().len(), 2);
    // Two callers sending tones: the meter shows the loudest (the room
    // reads it every 240 ms; it has been mixing them for longer).
    let level = conference["levelDbfs"].as_i64().unwrap();
    assert!((-30..=0).contains(&level), "{level} dBFS");

    // Another account sees nothing of it and can change nothing.
    let other = rig.add_account("other").await;
    let theirs = http.sign_in(&other).await;
    let mut their_feed = http.feed(&theirs).await;
    assert_eq!(their_feed.next().await.data["conferences"], json!([]));
    let refused = http
        .act(
            &theirs,
            &participant_path(&cf, &ca, "mute"),
            json!({ "muted": true }),
        )
        .await;
    assert_eq!(refused.status, 404);

    let muted = http
        .act(
            &session,
            &participant_path(&cf, &ca, "mute"),
            json!({ "muted": true }),
        )
        .await;
    assert_eq!(muted.status, 204, "{}", muted.body);
    b.until_heard("a muted", |s| tone_fraction(s, 400.0) < 0.05)
        .await;
    feed.until("a muted", |e| {
        participant(e, &ca).is_some_and(|p| p["muted"] == true)
    })
    .await;
    let unmuted = http
        .act(
            &session,
            &participant_path(&cf, &ca, "mute"),
            json!({ "muted": false }),
        )
        .await;
    assert_eq!(unmuted.status, 204);
    b.until_heard("a unmuted", |s| tone_fraction(s, 400.0) > 0.6)
        .await;

    let kicked = http
        .act(&session, &participant_path(&cf, &cb, "kick"), json!({}))
        .await;
    assert_eq!(kicked.status, 204, "{}", kicked.body);
    b.expect_bye().await;
    feed.until("b gone", |e| {
        e.name == "conference" && participant(e, &cb).is_none() && participant(e, &ca).is_some()
    })
    .await;
    let again = http
        .act(&session, &participant_path(&cf, &cb, "kick"), json!({}))
        .await;
    assert_eq!(again.status, 404, "b is no longer there");
    a.hang_up().await;
    rig.server.stop().await;
}
