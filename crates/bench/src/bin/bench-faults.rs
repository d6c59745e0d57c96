//! `bench-faults`: the helpers of `scripts/webhook-faults`.
//!
//! - `app`: a voice-URL server with one path per way a customer's web
//!   application can fail — `/slow` (answers after `--slow-secs`, beyond
//!   confab's webhook timeout), `/500`, `/html` (a `text/html` page),
//!   `/big` (a 10 MB body), `/loop` (a 302 to itself), `/self` (TwiML
//!   whose `<Redirect>` names itself) — and `/room`, the healthy number's
//!   `<Dial><Conference>healthy`. `/hits` counts the requests per path.
//!   Prints `listening on http://ADDR`.
//! - `run`: with a healthy call in progress the whole time (two testkit
//!   phones in room `healthy`, each sending a tone and hearing the
//!   other's), places `--calls` concurrent calls to each fault number in
//!   turn and prints one `fault=… key=value…` line per fault: the SIP
//!   outcome and when the server's BYE came, what `/metrics` counted
//!   (webhooks, webhook failures, failed calls) and how often the app was
//!   asked; then checks that nothing stayed behind: the confab process's
//!   open descriptors and UDP ports back to what they were with only the
//!   healthy call up (TCP connections of reqwest's pool may idle up to
//!   90 s first), `confab_calls_active` back to 2, the API showing one live
//!   room with its two participants, and both phones still hearing each
//!   other. The store's SQLite descriptors are only held to the pool's
//!   bound (it opens connections as it needs them and closes idle ones
//!   after minutes). Exits non-zero on any failed check; hangs the healthy
//!   call up.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use bench::Scrape;
use clap::{Parser, Subcommand};
use testkit::{Codec, Phone};

#[derive(Debug, Parser)]
#[command(name = "bench-faults")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The failing voice URLs (and the healthy one).
    App {
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: SocketAddr,
        /// How long `/slow` takes to answer.
        #[arg(long, default_value_t = 15)]
        slow_secs: u64,
    },
    /// The calls and the checks.
    Run(Box<RunArgs>),
}

#[derive(Debug, clap::Args)]
struct RunArgs {
    #[command(flatten)]
    target: bench::UnderTest,
    /// The fault app (for `/hits`).
    #[arg(long)]
    app: SocketAddr,
    #[arg(long)]
    account: String,
    #[arg(long)]
    token: String,
    /// The number routed to the app's `/room`.
    #[arg(long)]
    healthy: String,
    /// `NAME=NUMBER[=PATH]`, in the order to run them; PATH is the app path
    /// whose hits to count (none for a URL outside the app).
    #[arg(long = "fault", value_parser = fault)]
    faults: Vec<Fault>,
    /// Calls placed at once to each fault number.
    #[arg(long, default_value_t = 3)]
    calls: usize,
    /// How long a fault call may last before the check fails.
    #[arg(long, default_value_t = 40)]
    bye_within: u64,
    /// confab's SQLite file (its descriptors are the store's pool).
    #[arg(long)]
    database: std::path::PathBuf,
    /// How long the leak check waits for descriptors to come back.
    #[arg(long, default_value_t = 150)]
    settle_within: u64,
}

#[derive(Debug, Clone)]
struct Fault {
    name: String,
    number: String,
    path: Option<String>,
}

fn fault(s: &str) -> Result<Fault, String> {
    let mut parts = s.splitn(3, '=');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some(number), path) if !name.is_empty() && !number.is_empty() => Ok(Fault {
            name: name.to_owned(),
            number: number.to_owned(),
            path: path.filter(|p| !p.is_empty()).map(str::to_owned),
        }),
        _ => Err(format!("{s:?}: expected NAME=NUMBER[=PATH]")),
    }
}

fn main() -> anyhow::Result<()> {
    match Args::parse().command {
        Command::App { addr, slow_secs } => bench::runtime()?.block_on(app(addr, slow_secs)),
        Command::Run(args) => bench::runtime()?.block_on(run(*args)),
    }
}

// ---- the app

#[derive(Debug)]
struct App {
    slow: Duration,
    big: Bytes,
    hits: Mutex<BTreeMap<String, u64>>,
}

const ROOM: &str = "healthy";
/// The documents a call to `/self` fetches before confab gives up
/// (`twiml::MAX_FETCHES_IN_A_ROW`).
const SELF_REDIRECT_FETCHES: u64 = 10;
/// The size of `/big`'s body.
const BIG_BYTES: usize = 10 * 1024 * 1024;

async fn app(addr: SocketAddr, slow_secs: u64) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    // A TwiML-looking start, then 10 MB of text: only a reader that stops
    // early is spared reading all of it.
    let mut big = b"<?xml version=\"1.0\"?><Response><Say>".to_vec();
    big.resize(BIG_BYTES, b'a');
    let state = Arc::new(App {
        slow: Duration::from_secs(slow_secs),
        big: Bytes::from(big),
        hits: Mutex::default(),
    });
    println!("listening on http://{}", listener.local_addr()?);
    let app = axum::Router::new().fallback(answer).with_state(state);
    axum::serve(listener, app).await?;
    Ok(())
}

fn xml(body: impl Into<String>) -> Response {
    ([(header::CONTENT_TYPE, "application/xml")], body.into()).into_response()
}

async fn answer(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let path = uri.path().to_owned();
    if path == "/hits" {
        let hits = app.hits.lock().map(|h| h.clone()).unwrap_or_default();
        let text: String = hits.iter().map(|(p, n)| format!("{p} {n}\n")).collect();
        return text.into_response();
    }
    if let Ok(mut hits) = app.hits.lock() {
        *hits.entry(path.clone()).or_default() += 1;
    }
    match path.as_str() {
        "/room" => xml(format!(
            "<Response><Dial><Conference>{ROOM}</Conference></Dial></Response>"
        )),
        "/slow" => {
            tokio::time::sleep(app.slow).await;
            xml("<Response><Hangup/></Response>")
        }
        "/500" => (StatusCode::INTERNAL_SERVER_ERROR, "oops").into_response(),
        "/html" => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Welcome</title></head>\
             <body><h1>It works!</h1></body></html>",
        )
            .into_response(),
        "/big" => ([(header::CONTENT_TYPE, "application/xml")], app.big.clone()).into_response(),
        "/loop" => (StatusCode::FOUND, [(header::LOCATION, "/loop")]).into_response(),
        "/self" => xml("<Response><Redirect>/self</Redirect></Response>"),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

// ---- the run

/// One fault call's outcome.
#[derive(Debug)]
struct Outcome {
    /// The final response to the INVITE.
    status: u16,
    /// INVITE to the server's BYE (or to the final response when refused).
    ended_after: Option<Duration>,
    /// The server's RTP port for the call (answered calls).
    rtp_port: Option<u16>,
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let http = reqwest::Client::new();
    let metrics_url = format!("http://{}/metrics", args.target.http);
    let mut failures: Vec<String> = Vec::new();

    // The healthy call: two phones in one room, up the whole time.
    let alice = Phone::bind(args.target.sip).await?;
    let bob = Phone::bind(args.target.sip).await?;
    let mut a = alice
        .call(&args.healthy, Codec::Pcmu)
        .await
        .context("healthy call A")?;
    let mut b = bob
        .call(&args.healthy, Codec::Pcmu)
        .await
        .context("healthy call B")?;
    a.send_tone(440);
    b.send_tone(700);
    b.wait_to_hear(440, Duration::from_secs(10))
        .await
        .context("B hears A")?;
    a.wait_to_hear(700, Duration::from_secs(10))
        .await
        .context("A hears B")?;
    let room = live_rooms(&http, &args).await?;
    eprintln!("bench-faults: healthy call up: {room:?}");

    // The baseline: the healthy call alone, settled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let base = Resources::of(args.target.pid, &args.database)?;
    let base_active = Scrape::fetch(&http, &metrics_url)
        .await?
        .sample("confab_calls_active")
        .unwrap_or(0.0);
    println!(
        "baseline fds={} udp_ports={} tcp={} database_fds={} other_fds={} calls_active={base_active}",
        base.fds,
        base.udp_ports.len(),
        base.tcp,
        base.database,
        base.other.values().sum::<usize>(),
    );

    let fault_phone = Phone::bind(args.target.sip).await?;
    let fault_phone = Arc::new(fault_phone);
    let mut rtp_ports_used = BTreeSet::new();
    for f in &args.faults {
        let before = Scrape::fetch(&http, &metrics_url).await?;
        let hits_before = hits(&http, args.app, f.path.as_deref()).await?;
        let mut calls = tokio::task::JoinSet::new();
        for _ in 0..args.calls {
            let phone = fault_phone.clone();
            let number = f.number.clone();
            let within = Duration::from_secs(args.bye_within);
            calls.spawn(async move { fault_call(&phone, &number, within).await });
        }
        let mut outcomes = Vec::new();
        while let Some(done) = calls.join_next().await {
            outcomes.push(done??);
        }
        // Each fault call makes its voice URL request (and the script's
        // <Redirect>s) and, once over, the end-of-call request: wait for
        // them to be counted before reading the counters.
        let expected_webhooks = if f.name == "self-redirect" {
            (SELF_REDIRECT_FETCHES + 1) * args.calls as u64
        } else {
            2 * args.calls as u64
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let after = loop {
            let now = Scrape::fetch(&http, &metrics_url).await?;
            let counted = now.delta(&before, "confab_webhook_seconds_count");
            if counted >= expected_webhooks as f64 || Instant::now() > deadline {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        let hits_after = hits(&http, args.app, f.path.as_deref()).await?;
        let statuses: BTreeSet<u16> = outcomes.iter().map(|o| o.status).collect();
        let times: Vec<f64> = outcomes
            .iter()
            .filter_map(|o| o.ended_after.map(|d| d.as_secs_f64()))
            .collect();
        let ended = times.len();
        let (min, max) = times
            .iter()
            .fold((f64::INFINITY, 0f64), |(lo, hi), &t| (lo.min(t), hi.max(t)));
        rtp_ports_used.extend(outcomes.iter().filter_map(|o| o.rtp_port));
        let webhooks = after.delta(&before, "confab_webhook_seconds_count");
        let webhook_failures = after.delta(&before, "confab_webhook_failures_total");
        let calls_failed = after.delta(&before, "confab_calls_failed_total");
        let healthy_ok = a.hears(700) && b.hears(440) && !a.bye_received() && !b.bye_received();
        println!(
            "fault={} number={} calls={} invite_final={:?} ended_by_bye={ended} bye_after_s={:.2}..{:.2} \
             webhooks={webhooks} webhook_failures={webhook_failures} calls_failed={calls_failed} \
             app_hits={} healthy_still_talking={healthy_ok}",
            f.name,
            f.number,
            args.calls,
            statuses,
            if ended == 0 { 0.0 } else { min },
            max,
            match (hits_before, hits_after) {
                (Some(x), Some(y)) => (y - x).to_string(),
                _ => "-".into(),
            },
        );
        if ended != args.calls {
            failures.push(format!(
                "{}: {ended} of {} calls ended with a BYE",
                f.name, args.calls
            ));
        }
        if calls_failed < args.calls as f64 {
            failures.push(format!(
                "{}: {calls_failed} failed calls counted, not {}",
                f.name, args.calls
            ));
        }
        if !healthy_ok {
            failures.push(format!("{}: the healthy call was disturbed", f.name));
        }
    }

    // Nothing stayed behind.
    let deadline = Instant::now() + Duration::from_secs(args.settle_within);
    let settle_began = Instant::now();
    let (now, active) = loop {
        let now = Resources::of(args.target.pid, &args.database)?;
        let active = Scrape::fetch(&http, &metrics_url)
            .await?
            .sample("confab_calls_active")
            .unwrap_or(0.0);
        let back = now.tcp <= base.tcp
            && now.other == base.other
            && now.udp_ports == base.udp_ports
            && active == base_active;
        if back || Instant::now() > deadline {
            break (now, active);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    let still_bound: Vec<u16> = rtp_ports_used
        .iter()
        .copied()
        .filter(|p| now.udp_ports.contains(p))
        .collect();
    println!(
        "after fds={} udp_ports={} tcp={} database_fds={} other_fds={} calls_active={active} \
         settled_in_s={} fault_rtp_ports_used={} fault_rtp_ports_still_bound={still_bound:?}",
        now.fds,
        now.udp_ports.len(),
        now.tcp,
        now.database,
        now.other.values().sum::<usize>(),
        settle_began.elapsed().as_secs(),
        rtp_ports_used.len(),
    );
    if now.tcp > base.tcp {
        failures.push(format!("TCP sockets {} > baseline {}", now.tcp, base.tcp));
    }
    if now.other != base.other {
        failures.push(format!(
            "descriptors other than sockets and the database: baseline {:?}, now {:?}",
            base.other, now.other
        ));
    }
    if now.database > DATABASE_FDS_BOUND {
        failures.push(format!(
            "database descriptors {} > the pool's bound {DATABASE_FDS_BOUND}",
            now.database
        ));
    }
    if now.udp_ports != base.udp_ports {
        failures.push(format!(
            "UDP ports differ: baseline {:?}, now {:?}",
            base.udp_ports, now.udp_ports
        ));
    }
    if !still_bound.is_empty() {
        failures.push(format!(
            "fault calls' RTP ports still bound: {still_bound:?}"
        ));
    }
    if active != base_active {
        failures.push(format!("calls_active {active}, baseline {base_active}"));
    }
    let rooms = live_rooms(&http, &args).await?;
    println!("live_rooms={rooms:?}");
    if rooms != room {
        failures.push(format!("live rooms changed: {room:?} then {rooms:?}"));
    }
    let healthy_ok = b.wait_to_hear(440, Duration::from_secs(3)).await.is_ok()
        && a.wait_to_hear(700, Duration::from_secs(3)).await.is_ok();
    println!("healthy_still_talking={healthy_ok}");
    if !healthy_ok {
        failures.push("the healthy call's phones no longer hear each other".into());
    }
    a.hang_up().await.context("hanging up A")?;
    b.hang_up().await.context("hanging up B")?;
    if failures.is_empty() {
        println!("verdict=PASS");
        Ok(())
    } else {
        for f in &failures {
            println!("failed: {f}");
        }
        bail!("{} check(s) failed", failures.len())
    }
}

/// Calls `number`, waits for the server's BYE.
async fn fault_call(phone: &Phone, number: &str, within: Duration) -> anyhow::Result<Outcome> {
    let began = Instant::now();
    match phone.call(number, Codec::Pcmu).await {
        Ok(mut call) => {
            let rtp_port = Some(call.remote_rtp().port());
            let ended_after = match call.wait_for_bye(within).await {
                Ok(()) => Some(began.elapsed()),
                Err(e) => {
                    eprintln!("bench-faults: a call to {number} did not end: {e}");
                    let _ = call.hang_up().await;
                    None
                }
            };
            Ok(Outcome {
                status: 200,
                ended_after,
                rtp_port,
            })
        }
        Err(e) => match e.status() {
            Some(status) => Ok(Outcome {
                status,
                ended_after: Some(began.elapsed()),
                rtp_port: None,
            }),
            None => Err(e).with_context(|| format!("calling {number}")),
        },
    }
}

/// The live rooms (init or in-progress) and how many participants each has.
async fn live_rooms(
    http: &reqwest::Client,
    args: &RunArgs,
) -> anyhow::Result<BTreeMap<String, (String, usize)>> {
    let base = format!(
        "http://{}/2008-08-01/Accounts/{}",
        args.target.http, args.account
    );
    let mut rooms = BTreeMap::new();
    for status in ["init", "in-progress"] {
        let list = get(
            http,
            args,
            &format!("{base}/Conferences?Status={status}&num=1000"),
        )
        .await?;
        for (sid, name) in texts(&list, "Sid")
            .into_iter()
            .zip(texts(&list, "FriendlyName"))
        {
            let people = get(
                http,
                args,
                &format!("{base}/Conferences/{sid}/Participants"),
            )
            .await?;
            rooms.insert(name, (status.to_owned(), texts(&people, "CallSid").len()));
        }
    }
    Ok(rooms)
}

async fn get(http: &reqwest::Client, args: &RunArgs, url: &str) -> anyhow::Result<String> {
    Ok(http
        .get(url)
        .basic_auth(&args.account, Some(&args.token))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?)
}

/// The texts of every `<name>…</name>` in `xml` (sids and room names here).
fn texts(xml: &str, name: &str) -> Vec<String> {
    let (open, close) = (format!("<{name}>"), format!("</{name}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| rest.split_once(&close).map(|(t, _)| t.to_owned()))
        .collect()
}

/// The app's hit count for `path`.
async fn hits(
    http: &reqwest::Client,
    app: SocketAddr,
    path: Option<&str>,
) -> anyhow::Result<Option<u64>> {
    let Some(path) = path else { return Ok(None) };
    let text = http
        .get(format!("http://{app}/hits"))
        .send()
        .await?
        .text()
        .await?;
    Ok(Some(
        text.lines()
            .filter_map(|l| l.split_once(' '))
            .find(|(p, _)| *p == path)
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or(0),
    ))
}

/// What `/proc` says of the process's descriptors.
#[derive(Debug)]
struct Resources {
    fds: usize,
    /// Local ports of its UDP sockets (SIP and RTP).
    udp_ports: BTreeSet<u16>,
    /// Its TCP sockets (listeners, API clients, the webhook pool).
    tcp: usize,
    /// Descriptors of the SQLite file, its WAL and its shared memory: the
    /// store's pool (at most 8 connections) opens and closes these as it
    /// grows and idles, so they are bounded, not back to a baseline.
    database: usize,
    /// Every other descriptor by what it points at, sockets other than TCP
    /// and UDP (Unix) by kind: these must come back exactly.
    other: BTreeMap<String, usize>,
}

/// The store's most connections on SQLite (crates/store/src/connect.rs),
/// each holding the database and its WAL open; the shared memory once.
const DATABASE_FDS_BOUND: usize = 2 * 8 + 1;

impl Resources {
    fn of(pid: u32, database: &std::path::Path) -> anyhow::Result<Self> {
        let mut fds = 0;
        let mut inodes = BTreeSet::new();
        let mut database_fds = 0;
        let mut other: BTreeMap<String, usize> = BTreeMap::new();
        let db = database.to_string_lossy().into_owned();
        for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
            fds += 1;
            let Ok(target) = std::fs::read_link(entry?.path()) else {
                continue; // closed meanwhile
            };
            let target = target.to_string_lossy().into_owned();
            if let Some(inode) = target
                .strip_prefix("socket:[")
                .and_then(|t| t.strip_suffix(']'))
            {
                inodes.insert(inode.to_owned());
            } else if target == db || target == format!("{db}-wal") || target == format!("{db}-shm")
            {
                database_fds += 1;
            } else {
                *other.entry(target).or_default() += 1;
            }
        }
        let mut matched = BTreeSet::new();
        let mut sockets = |file: &str| -> anyhow::Result<Vec<u16>> {
            let table = std::fs::read_to_string(format!("/proc/{pid}/net/{file}"))?;
            Ok(table
                .lines()
                .skip(1)
                .filter_map(|line| {
                    let cols: Vec<&str> = line.split_whitespace().collect();
                    let port = cols.get(1)?.rsplit(':').next()?;
                    let inode = *cols.get(9)?;
                    if !inodes.contains(inode) {
                        return None;
                    }
                    matched.insert(inode.to_owned());
                    u16::from_str_radix(port, 16).ok()
                })
                .collect())
        };
        let mut udp_ports = BTreeSet::new();
        udp_ports.extend(sockets("udp")?);
        udp_ports.extend(sockets("udp6")?);
        let tcp = sockets("tcp")?.len() + sockets("tcp6")?.len();
        let unmatched = inodes.difference(&matched).count();
        if unmatched > 0 {
            other.insert("socket (not TCP or UDP)".into(), unmatched);
        }
        Ok(Self {
            fds,
            udp_ports,
            tcp,
            database: database_fds,
            other,
        })
    }
}
