//! The server under test for the call tests: a real server (SIP on UDP and
//! TCP, RTP, the hub, the store) on 127.0.0.1, the API through
//! `router().oneshot`, and a local axum app standing in for the customer's
//! web application (TwiML per path, every request it got recorded).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, Request, StatusCode, Uri};
use http_body_util::BodyExt;
use model::{Account, CallSid, HttpMethod, PhoneNumber};
use server::{CallConfig, Clock, Config, Server, SystemClock};
use tokio::sync::mpsc;
use tower::ServiceExt;

use super::caller::DEADLINE;

pub struct Rig {
    _dir: tempfile::TempDir,
    pub store: store::Store,
    pub account: Account,
    pub server: Server,
    router: axum::Router,
    /// SIP over UDP and over TCP: the same port.
    pub sip: SocketAddr,
}

/// A started server on a fresh SQLite file with its "default" account,
/// before anything serves it.
pub struct Started {
    pub dir: tempfile::TempDir,
    pub store: store::Store,
    pub account: Account,
    pub server: Server,
}

impl Started {
    pub async fn new(room_capacity: usize) -> Self {
        // RUST_LOG=server=debug shows what the server did.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = store::Store::connect(&url).await.unwrap();
        let account = server::accounts::create(&store, "default", SystemClock.now())
            .await
            .unwrap();
        let config = Config {
            room_capacity,
            ..Config::default()
        };
        let server = Server::start(store.clone(), config, Arc::new(SystemClock))
            .await
            .unwrap();
        Self {
            dir,
            store,
            account,
            server,
        }
    }

    /// SIP on `calls` (webhooks time out after 3 s); UDP and TCP share the port.
    pub async fn listen_sip(&mut self, mut calls: CallConfig) -> SocketAddr {
        calls.webhook_timeout = Duration::from_secs(3);
        let addrs = self.server.listen_sip(calls).await.unwrap();
        assert_eq!(addrs.udp.port(), addrs.tcp.port());
        addrs.udp
    }
}

impl Rig {
    pub async fn new(rtp_ports: (u16, u16), open_rooms: bool) -> Self {
        Self::with_capacity(rtp_ports, open_rooms, 40).await
    }

    pub async fn with_capacity(
        rtp_ports: (u16, u16),
        open_rooms: bool,
        room_capacity: usize,
    ) -> Self {
        Self::with_calls(rtp_ports, room_capacity, |calls| {
            calls.open_rooms = open_rooms
        })
        .await
    }

    /// A rig whose call configuration `configure` adjusts.
    pub async fn with_calls(
        rtp_ports: (u16, u16),
        room_capacity: usize,
        configure: impl FnOnce(&mut CallConfig),
    ) -> Self {
        let mut started = Started::new(room_capacity).await;
        let mut calls = CallConfig::new("127.0.0.1:0".parse().unwrap(), rtp_ports);
        configure(&mut calls);
        let sip = started.listen_sip(calls).await;
        let Started {
            dir,
            store,
            account,
            server,
        } = started;
        let router = server.router();
        Self {
            _dir: dir,
            store,
            account,
            server,
            router,
            sip,
        }
    }

    /// Another account on the same server.
    pub async fn add_account(&self, name: &str) -> Account {
        server::accounts::create(&self.store, name, SystemClock.now())
            .await
            .unwrap()
    }

    pub fn base(&self) -> String {
        base_of(&self.account)
    }

    pub async fn api(&self, method: Method, uri: &str, body: &str) -> (StatusCode, String) {
        self.api_as(&self.account, method, uri, body).await
    }

    /// A request with `account`'s credentials.
    pub async fn api_as(
        &self,
        account: &Account,
        method: Method,
        uri: &str,
        body: &str,
    ) -> (StatusCode, String) {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!(
            "{}:{}",
            account.sid,
            account.auth_token.expose()
        ));
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header("authorization", format!("Basic {auth}"))
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8(bytes.to_vec()).unwrap())
    }

    /// Texts of every `<field>` in an API response.
    pub async fn column(&self, uri: &str, field: &str) -> Vec<String> {
        self.column_as(&self.account, uri, field).await
    }

    pub async fn column_as(&self, account: &Account, uri: &str, field: &str) -> Vec<String> {
        let (status, body) = self.api_as(account, Method::GET, uri, "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        column(&body, field)
    }

    /// The live conference of that name and its participants (join order),
    /// once it is in progress with `n` of them.
    pub async fn room_with(&self, name: &str, n: usize) -> (String, Vec<String>) {
        self.room_of(&self.account, name, "1", n).await
    }

    /// `account`'s conference `name` once it has `status` and `n`
    /// participants: its sid and their calls, in join order.
    pub async fn room_of(
        &self,
        account: &Account,
        name: &str,
        status: &str,
        n: usize,
    ) -> (String, Vec<String>) {
        let base = base_of(account);
        let mut seen = (Vec::new(), Vec::new());
        let deadline = Instant::now() + DEADLINE;
        loop {
            let uri = format!("{base}/Conferences?FriendlyName={name}&Status={status}");
            let sids = self.column_as(account, &uri, "Sid").await;
            if let Some(cf) = sids.first() {
                let uri = format!("{base}/Conferences/{cf}/Participants");
                let calls = self.column_as(account, &uri, "CallSid").await;
                if calls.len() == n {
                    return (cf.clone(), calls);
                }
                seen = (sids, calls);
            }
            assert!(
                Instant::now() < deadline,
                "room {name} never had status {status} and {n} participants \
                 (last seen: {seen:?})"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn room_with_status(&self, name: &str, status: &str) {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let names = self
                .column(
                    &format!("{}/Conferences?Status={status}", self.base()),
                    "FriendlyName",
                )
                .await;
            if names.iter().any(|n| n == name) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "no room {name} with status {status}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until conference `cf` of this rig's account has `status`.
    pub async fn until_status(&self, cf: &str, status: &str) {
        let uri = format!("{}/Conferences/{cf}", self.base());
        let deadline = Instant::now() + DEADLINE;
        loop {
            let now = self.column(&uri, "Status").await;
            if now == [status] {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "conference {cf} never got status {status}: {now:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn call_row(
        &self,
        sid: &str,
        until: impl Fn(&model::CallRecord) -> bool,
    ) -> model::CallRecord {
        let sid = CallSid::parse(sid).unwrap();
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(row) = self.store.call(&sid).await.unwrap()
                && until(&row)
            {
                return row;
            }
            assert!(Instant::now() < deadline, "the call row never got there");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub fn base_of(account: &Account) -> String {
    format!("/2008-08-01/Accounts/{}", account.sid)
}

/// Texts of every `<field>` in an XML document.
pub fn column(xml: &str, field: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .filter(|n| n.has_tag_name(field))
        .map(|n| n.text().unwrap_or_default().to_owned())
        .collect()
}

pub async fn add_number(rig: &Rig, number: &str, url: &str) {
    add_number_for(rig, &rig.account, number, url, HttpMethod::Post).await;
}

/// Adds `number` to `account`, its voice URL requested with `method`.
pub async fn add_number_for(
    rig: &Rig,
    account: &Account,
    number: &str,
    url: &str,
    method: HttpMethod,
) {
    insert_number(&rig.store, account, number, url, method).await;
}

/// Adds `number` to `account` in `store`, its voice URL requested with `method`.
pub async fn insert_number(
    store: &store::Store,
    account: &Account,
    number: &str,
    url: &str,
    method: HttpMethod,
) {
    let now = SystemClock.now();
    store
        .insert_phone_number(&PhoneNumber {
            sid: server::ids::phone_number_sid(),
            account_sid: account.sid.clone(),
            phone_number: number.to_owned(),
            voice_url: url.to_owned(),
            voice_method: method,
            date_created: now,
            date_updated: now,
        })
        .await
        .unwrap();
}

// ---------------------------------------------------------------------------
// The customer's web application.

/// One request the app got.
#[derive(Debug, Clone)]
pub struct Hit {
    pub method: Method,
    pub path: String,
    /// The raw query string ("" if none).
    pub query: String,
    /// The parameters where the method puts them: the query for a GET, the
    /// form body for a POST.
    pub params: Vec<(String, String)>,
    /// The form body's parameters (whatever the method).
    pub form: Vec<(String, String)>,
    pub signature: String,
}

impl Hit {
    /// The URL as requested: `base` + path + query.
    pub fn url(&self, base: &str) -> String {
        if self.query.is_empty() {
            format!("{base}{}", self.path)
        } else {
            format!("{base}{}?{}", self.path, self.query)
        }
    }
}

impl Hit {
    /// The `X-Twilio-Signature` the request should carry (spec §10.3): the
    /// URL as requested, then for a POST the form sorted by name.
    pub fn expected_signature(&self, base: &str, token: &model::AuthToken) -> String {
        let form = self.form.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let post = if self.method == Method::POST {
            form.collect()
        } else {
            Vec::new()
        };
        twiml::webhook::signature(token, &self.url(base), post)
    }
}

pub fn param<'a>(hit: &'a Hit, name: &str) -> &'a str {
    hit.params
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The requests an app got, in order.
#[derive(Clone, Default)]
pub struct Hits(Arc<Mutex<Vec<Hit>>>);

impl Hits {
    pub fn all(&self) -> Vec<Hit> {
        self.0.lock().unwrap().clone()
    }

    /// Waits for a request to `path` with `CallSid` = `call` (any call if empty).
    pub async fn to(&self, path: &str, call: &str) -> Hit {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let found = self
                .all()
                .into_iter()
                .find(|h| h.path == path && (call.is_empty() || param(h, "CallSid") == call));
            if let Some(hit) = found {
                return hit;
            }
            assert!(
                Instant::now() < deadline,
                "no request to {path} for {call:?}; got {:?}",
                self.all()
                    .iter()
                    .map(|h| (h.method.clone(), h.path.clone()))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// An app on 127.0.0.1 answering each configured path (any method) with
/// its status and TwiML; `/tone/{hz}` and `/tone/{hz}/{ms}` serve a sine
/// as a WAV (one second by default).
#[derive(Default)]
pub struct App {
    routes: HashMap<String, (StatusCode, String)>,
    /// Answers that depend on a parameter: path, (name, value), TwiML.
    when: Vec<(String, (String, String), String)>,
    tx: Option<mpsc::UnboundedSender<Hit>>,
}

impl App {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `path` with 200 and `twiml`.
    pub fn twiml(self, path: &str, twiml: &str) -> Self {
        self.answer(path, StatusCode::OK, twiml)
    }

    /// Answers `path` with 200 and `twiml` when the request's parameter
    /// `name` is `value` (a `<Gather>` action's `Digits`); other requests
    /// to `path` get its plain route.
    pub fn twiml_when(mut self, path: &str, (name, value): (&str, &str), twiml: &str) -> Self {
        self.when.push((
            path.to_owned(),
            (name.to_owned(), value.to_owned()),
            twiml.to_owned(),
        ));
        self
    }

    pub fn answer(mut self, path: &str, status: StatusCode, body: &str) -> Self {
        self.routes
            .insert(path.to_owned(), (status, body.to_owned()));
        self
    }

    /// Serves; returns the base URL (`http://127.0.0.1:port`) and the hits.
    pub async fn start(self) -> (String, Hits) {
        let hits = Hits::default();
        let routes = Arc::new(self.routes);
        let when = Arc::new(self.when);
        let (record, tx) = (hits.clone(), self.tx);
        let handler = move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
            let routes = routes.clone();
            let when = when.clone();
            let (record, tx) = (record.clone(), tx.clone());
            async move {
                let decode = |bytes: &[u8]| -> Vec<(String, String)> {
                    url::form_urlencoded::parse(bytes).into_owned().collect()
                };
                let query = uri.query().unwrap_or_default().to_owned();
                let form = decode(&body);
                let hit = Hit {
                    params: if method == Method::GET {
                        decode(query.as_bytes())
                    } else {
                        form.clone()
                    },
                    method,
                    path: uri.path().to_owned(),
                    query,
                    form,
                    signature: headers
                        .get("x-twilio-signature")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned(),
                };
                let answer = when
                    .iter()
                    .find(|(path, (name, value), _)| {
                        *path == hit.path && hit.params.iter().any(|(k, v)| k == name && v == value)
                    })
                    .map(|(_, _, twiml)| (StatusCode::OK, twiml.clone()))
                    .or_else(|| routes.get(&hit.path).cloned());
                record.0.lock().unwrap().push(hit.clone());
                if let Some(tx) = tx {
                    let _ = tx.send(hit);
                }
                let (status, body) =
                    answer.unwrap_or((StatusCode::NOT_FOUND, "no such path".to_owned()));
                (status, [("content-type", "text/xml")], body)
            }
        };
        let tone = |axum::extract::Path(hz): axum::extract::Path<u32>| async move {
            ([("content-type", "audio/wav")], wav(f64::from(hz), 1000))
        };
        let short = |axum::extract::Path((hz, ms)): axum::extract::Path<(u32, u32)>| async move {
            ([("content-type", "audio/wav")], wav(f64::from(hz), ms))
        };
        let app = axum::Router::new()
            .route("/tone/{hz}", axum::routing::get(tone).post(tone))
            .route("/tone/{hz}/{ms}", axum::routing::get(short).post(short))
            .fallback(handler);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, hits)
    }
}

/// A voice URL app: answers `/voice` with `status` and `body`, and serves
/// `/tone/{hz}` as a one-second WAV. Every request comes out of the receiver.
pub async fn voice_app(
    status: StatusCode,
    body: &'static str,
) -> (String, mpsc::UnboundedReceiver<Hit>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = App {
        tx: Some(tx),
        ..App::new()
    };
    let (base, _) = app.answer("/voice", status, body).start().await;
    (format!("{base}/voice"), rx)
}

pub async fn next_hit(hits: &mut mpsc::UnboundedReceiver<Hit>) -> Hit {
    tokio::time::timeout(DEADLINE, hits.recv())
        .await
        .expect("the voice URL was not requested")
        .unwrap()
}

/// `ms` milliseconds of a sine at `hz` as a WAV file (8 kHz mono, 16-bit).
pub fn wav(hz: f64, ms: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 8000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
    for i in 0..ms * 8 {
        let s = (std::f64::consts::TAU * hz * f64::from(i) / 8000.0).sin() * 8000.0;
        w.write_sample(s as i16).unwrap();
    }
    w.finalize().unwrap();
    out.into_inner()
}
