//! `bench-load`: the helpers of `scripts/load` and `scripts/crash-test`,
//! which put SIPp calls, `wrk` and API writes on one server at once.
//!
//! - `driver`: mutes, unmutes and kicks through the API while calls come
//!   and go (lists the init and in-progress conferences, picks a room and a
//!   participant, POSTs `Muted` or DELETEs), counting every answer by
//!   status; 4xx are expected (a caller who just left is a 404), 5xx are
//!   failures. Runs until `--stop-file` exists or `--seconds` pass.
//! - `settle`: waits for every conference to be completed and every
//!   participant gone (through the API and `/metrics`), then prints what
//!   is left: the "rooms stuck" of the load run.
//! - `snapshot`: writes what the API shows as committed (every conference
//!   and its status, the participants of the live ones) to a file, just
//!   before the crash test kills the server.
//! - `verify`: after the restart, checks the snapshot against the API and
//!   the store: every conference still there, none left live, no
//!   participant left, every participant's call record still there and no
//!   longer in progress.
//! - `await-live`: waits until a room is in progress with a participant
//!   (the crash test's first call after a restart).
//!
//! Everything prints `key=value` lines; problems go to stderr and make the
//! exit status non-zero.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bench::Scrape;
use clap::{Parser, Subcommand};
use model::{CallSid, CallStatus};
use store::Store;

#[derive(Debug, Parser)]
#[command(name = "bench-load")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// Where the API is and whose it is.
#[derive(Debug, Clone, clap::Args)]
struct Api {
    /// confab's HTTP address.
    #[arg(long)]
    http: SocketAddr,
    #[arg(long)]
    account: String,
    #[arg(long)]
    token: String,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mute, unmute and kick through the API until stopped; prints counts.
    Driver {
        #[command(flatten)]
        api: Api,
        /// Stop once this file exists.
        #[arg(long)]
        stop_file: Option<PathBuf>,
        /// Stop after this many seconds in any case.
        #[arg(long, default_value_t = 600)]
        seconds: u64,
        /// Actions (mute, unmute or kick) a second, at most.
        #[arg(long, default_value_t = 20)]
        rate: u32,
        /// One action in this many is a kick.
        #[arg(long, default_value_t = 10)]
        kick_every: u32,
    },
    /// Wait (at most `--timeout` s) until no conference is live and no
    /// participant is left; prints what is left.
    Settle {
        #[command(flatten)]
        api: Api,
        #[arg(long, default_value_t = 60)]
        timeout: u64,
    },
    /// Write the committed conferences and live participants to `--out`.
    Snapshot {
        #[command(flatten)]
        api: Api,
        #[arg(long)]
        out: PathBuf,
    },
    /// Check a snapshot against the restarted server and its store.
    Verify {
        #[command(flatten)]
        api: Api,
        #[arg(long)]
        snapshot: PathBuf,
        #[arg(long)]
        database_url: String,
    },
    /// Wait (at most `--timeout` s) until the conference named `--room` is
    /// in progress with a participant.
    AwaitLive {
        #[command(flatten)]
        api: Api,
        #[arg(long)]
        room: String,
        #[arg(long, default_value_t = 10)]
        timeout: u64,
    },
}

fn main() -> anyhow::Result<()> {
    let runtime = bench::runtime()?;
    match Args::parse().command {
        Command::Driver {
            api,
            stop_file,
            seconds,
            rate,
            kick_every,
        } => runtime.block_on(driver(
            Client::new(api),
            stop_file,
            Duration::from_secs(seconds),
            rate,
            kick_every,
        )),
        Command::Settle { api, timeout } => {
            runtime.block_on(settle(Client::new(api), Duration::from_secs(timeout)))
        }
        Command::Snapshot { api, out } => runtime.block_on(snapshot(Client::new(api), &out)),
        Command::Verify {
            api,
            snapshot,
            database_url,
        } => runtime.block_on(verify(Client::new(api), &snapshot, &database_url)),
        Command::AwaitLive { api, room, timeout } => runtime.block_on(await_live(
            Client::new(api),
            &room,
            Duration::from_secs(timeout),
        )),
    }
}

// ---------------------------------------------------------------- the API

#[derive(Debug, Clone)]
struct Client {
    http: reqwest::Client,
    api: Api,
    base: String,
}

/// A conference as a list shows it.
#[derive(Debug, Clone)]
struct Conference {
    sid: String,
    status: String,
}

/// A participant as a list shows it.
#[derive(Debug, Clone)]
struct Participant {
    call_sid: String,
    muted: bool,
}

impl Client {
    fn new(api: Api) -> Self {
        let base = format!("http://{}/2008-08-01/Accounts/{}", api.http, api.account);
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_default();
        Self { http, api, base }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .basic_auth(&self.api.account, Some(&self.api.token))
    }

    /// The status and body of a GET; transport errors are errors.
    async fn fetch(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let response = self.get(path).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.text().await?))
    }

    /// A GET that must answer 200.
    async fn fetch_ok(&self, path: &str) -> anyhow::Result<String> {
        let (status, body) = self.fetch(path).await?;
        if status != 200 {
            bail!("GET {path}: HTTP {status}");
        }
        Ok(body)
    }

    /// Every conference matching `query` (e.g. `Status=1`), all pages.
    async fn conferences(&self, query: &str) -> anyhow::Result<Vec<Conference>> {
        let mut all = Vec::new();
        for page in 0.. {
            let body = self
                .fetch_ok(&format!("/Conferences?{query}&num=1000&page={page}"))
                .await?;
            let sids = elements(&body, "Sid");
            let statuses = elements(&body, "Status");
            if sids.len() != statuses.len() {
                bail!(
                    "a conference list with {} sids and {} statuses",
                    sids.len(),
                    statuses.len()
                );
            }
            let n = sids.len();
            all.extend(
                sids.into_iter()
                    .zip(statuses)
                    .map(|(sid, status)| Conference {
                        sid: sid.to_owned(),
                        status: status.to_owned(),
                    }),
            );
            if n < 1000 {
                break;
            }
        }
        Ok(all)
    }

    /// The `total` attribute of a list (the first one in the body).
    async fn total(&self, path: &str) -> anyhow::Result<u64> {
        let body = self.fetch_ok(path).await?;
        total_of(&body).with_context(|| format!("no total in GET {path}"))
    }

    async fn participants(&self, conference: &str) -> anyhow::Result<(u16, Vec<Participant>)> {
        let (status, body) = self
            .fetch(&format!("/Conferences/{conference}/Participants?num=1000"))
            .await?;
        let calls = elements(&body, "CallSid");
        let muted = elements(&body, "Muted");
        let list = calls
            .into_iter()
            .zip(muted.into_iter().chain(std::iter::repeat("false")))
            .map(|(call, muted)| Participant {
                call_sid: call.to_owned(),
                muted: muted == "true",
            })
            .collect();
        Ok((status, list))
    }

    async fn metrics(&self) -> anyhow::Result<Scrape> {
        Scrape::fetch(&self.http, &format!("http://{}/metrics", self.api.http)).await
    }
}

/// The text of every `<tag>…</tag>` in `xml`, in order. The API's sids,
/// statuses and booleans hold no markup or entities, so a scan is enough
/// for a load tool.
fn elements<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut found = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        found.push(&after[..end]);
        rest = &after[end + close.len()..];
    }
    found
}

fn total_of(xml: &str) -> Option<u64> {
    let at = xml.find(" total=\"")? + " total=\"".len();
    xml[at..].split('"').next()?.parse().ok()
}

// ---------------------------------------------------------------- driver

/// Counts of answers, by what was asked and the status it got.
#[derive(Debug, Default)]
struct Counts(BTreeMap<(&'static str, String), u64>);

impl Counts {
    fn add(&mut self, what: &'static str, status: Result<u16, String>) {
        let key = match status {
            Ok(code) => code.to_string(),
            Err(kind) => kind,
        };
        *self.0.entry((what, key)).or_default() += 1;
    }

    fn class(&self, class: char) -> u64 {
        self.0
            .iter()
            .filter(|((_, code), _)| code.starts_with(class) && code.len() == 3)
            .map(|(_, n)| n)
            .sum()
    }

    fn errors(&self) -> u64 {
        self.0
            .iter()
            .filter(|((_, code), _)| code.parse::<u16>().is_err())
            .map(|(_, n)| n)
            .sum()
    }
}

async fn driver(
    client: Client,
    stop_file: Option<PathBuf>,
    limit: Duration,
    rate: u32,
    kick_every: u32,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut rng = Rng::seeded();
    let mut counts = Counts::default();
    let (mut mutes, mut unmutes, mut kicks) = (0u64, 0u64, 0u64);
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let status_of = |r: Result<reqwest::Response, reqwest::Error>| match r {
        Ok(r) => Ok(r.status().as_u16()),
        Err(e) if e.is_timeout() => Err("timeout".to_owned()),
        Err(_) => Err("transport".to_owned()),
    };
    while started.elapsed() < limit && !stop_file.as_deref().is_some_and(Path::exists) {
        ticker.tick().await;
        // Rooms with one caller are init (a conference starts with its
        // second participant); both kinds have participants to act on.
        let mut live = Vec::new();
        for status in ["0", "1"] {
            match client
                .fetch(&format!("/Conferences?Status={status}&num=1000"))
                .await
            {
                Ok((code, body)) => {
                    counts.add("list", Ok(code));
                    live.extend(elements(&body, "Sid").into_iter().map(str::to_owned));
                }
                Err(_) => counts.add("list", Err("transport".into())),
            }
        }
        let Some(room) = rng.pick(&live) else {
            continue;
        };
        let participants = match client.participants(room).await {
            Ok((status, list)) => {
                counts.add("participants", Ok(status));
                list
            }
            Err(_) => {
                counts.add("participants", Err("transport".into()));
                continue;
            }
        };
        let Some(p) = rng.pick(&participants) else {
            continue;
        };
        let url = format!(
            "{}/Conferences/{room}/Participants/{}",
            client.base, p.call_sid
        );
        let auth = (&client.api.account, Some(&client.api.token));
        if rng.below(u64::from(kick_every.max(1))) == 0 {
            kicks += 1;
            let r = client
                .http
                .delete(&url)
                .basic_auth(auth.0, auth.1)
                .send()
                .await;
            counts.add("kick", status_of(r));
        } else {
            let mute = !p.muted;
            if mute {
                mutes += 1;
            } else {
                unmutes += 1;
            }
            let r = client
                .http
                .post(&url)
                .basic_auth(auth.0, auth.1)
                .form(&[("Muted", if mute { "true" } else { "false" })])
                .send()
                .await;
            counts.add(if mute { "mute" } else { "unmute" }, status_of(r));
        }
    }
    println!("driver_seconds={:.1}", started.elapsed().as_secs_f64());
    println!("driver_mutes={mutes} driver_unmutes={unmutes} driver_kicks={kicks}");
    for ((what, code), n) in &counts.0 {
        println!("driver_{what}_{code}={n}");
    }
    println!("driver_requests={}", counts.0.values().sum::<u64>());
    for class in ['2', '3', '4', '5'] {
        println!("driver_{class}xx={}", counts.class(class));
    }
    println!("driver_transport_errors={}", counts.errors());
    Ok(())
}

/// A small xorshift generator: which room and whom to pick need no
/// quality, only to differ between runs.
#[derive(Debug)]
struct Rng(u64);

impl Rng {
    fn seeded() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64);
        Self(nanos | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            items.get(self.below(items.len() as u64) as usize)
        }
    }
}

// ---------------------------------------------------------------- settle

async fn settle(client: Client, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    loop {
        let live = client.total("/Conferences?Status=0&num=1").await?
            + client.total("/Conferences?Status=1&num=1").await?;
        let metrics = client.metrics().await?;
        let gauge = |name| metrics.sample(name).unwrap_or(f64::NAN);
        let participants = gauge("confab_participants");
        let calls = gauge("confab_calls_active");
        let settled = live == 0 && participants == 0.0 && calls == 0.0;
        if settled || started.elapsed() >= timeout {
            // The participants of whatever is still live, through the API.
            let mut listed = 0;
            for c in client
                .conferences("Status=0")
                .await?
                .iter()
                .chain(client.conferences("Status=1").await?.iter())
            {
                listed += client.participants(&c.sid).await?.1.len();
            }
            println!("settle_seconds={:.1}", started.elapsed().as_secs_f64());
            println!("stuck_conferences={live}");
            println!("stuck_participants_listed={listed}");
            println!("metrics_participants={participants}");
            println!("metrics_calls_active={calls}");
            println!("metrics_rooms_live={}", metrics.total("confab_rooms"));
            if !settled {
                bail!("not settled after {} s", timeout.as_secs());
            }
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

// ---------------------------------------------------------------- crash test

/// Snapshot lines: `conference SID STATUS` and `participant CONFERENCE CALL`.
async fn snapshot(client: Client, out: &Path) -> anyhow::Result<()> {
    let all = client.conferences("").await?;
    let mut text = String::new();
    let mut participants = 0;
    for c in &all {
        text.push_str(&format!("conference {} {}\n", c.sid, c.status));
    }
    for c in all.iter().filter(|c| c.status != "2") {
        let (status, list) = client.participants(&c.sid).await?;
        if status != 200 {
            bail!("participants of {}: HTTP {status}", c.sid);
        }
        for p in list {
            participants += 1;
            text.push_str(&format!("participant {} {}\n", c.sid, p.call_sid));
        }
    }
    std::fs::write(out, text).with_context(|| format!("writing {}", out.display()))?;
    println!(
        "snapshot_conferences={} snapshot_live={} snapshot_participants={participants}",
        all.len(),
        all.iter().filter(|c| c.status != "2").count()
    );
    Ok(())
}

async fn verify(client: Client, snapshot: &Path, database_url: &str) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(snapshot)
        .with_context(|| format!("reading {}", snapshot.display()))?;
    let mut before: Vec<(String, String)> = Vec::new();
    let mut calls: Vec<(String, String)> = Vec::new();
    for line in text.lines() {
        match line.split(' ').collect::<Vec<_>>()[..] {
            ["conference", sid, status] => before.push((sid.to_owned(), status.to_owned())),
            ["participant", conference, call] => {
                calls.push((conference.to_owned(), call.to_owned()))
            }
            _ => bail!("a snapshot line {line:?}"),
        }
    }
    let now: HashMap<String, String> = client
        .conferences("")
        .await?
        .into_iter()
        .map(|c| (c.sid, c.status))
        .collect();
    let mut problems = Vec::new();
    let missing: Vec<_> = before
        .iter()
        .filter(|(sid, _)| !now.contains_key(sid))
        .collect();
    for (sid, status) in &missing {
        problems.push(format!(
            "conference {sid} (status {status} before the kill) is gone"
        ));
    }
    let live: Vec<_> = now.iter().filter(|(_, status)| *status != "2").collect();
    for (sid, status) in &live {
        problems.push(format!(
            "conference {sid} is still status {status} after the restart"
        ));
    }
    let mut participants_left = 0;
    for (sid, _) in before.iter().filter(|(_, status)| status != "2") {
        let (status, list) = client.participants(sid).await?;
        if status != 200 || !list.is_empty() {
            participants_left += list.len();
            problems.push(format!(
                "conference {sid}: participants list HTTP {status} with {} left",
                list.len()
            ));
        }
    }
    let store = Store::connect(database_url).await?;
    let (mut calls_missing, mut calls_live) = (0, 0);
    for (conference, call) in &calls {
        let sid = CallSid::parse(call).map_err(|e| anyhow::anyhow!("call sid {call:?}: {e}"))?;
        match store.call(&sid).await? {
            None => {
                calls_missing += 1;
                problems.push(format!(
                    "call {call} (in {conference} before the kill) has no record"
                ));
            }
            Some(record) if record.status == CallStatus::InProgress => {
                calls_live += 1;
                problems.push(format!(
                    "call {call} is still in progress after the restart"
                ));
            }
            Some(_) => {}
        }
    }
    store.close().await;
    println!(
        "verify_conferences_before={} verify_conferences_now={} verify_missing={} verify_live_left={} \
         verify_participants_left={participants_left} verify_calls={} verify_calls_missing={calls_missing} \
         verify_calls_live={calls_live}",
        before.len(),
        now.len(),
        missing.len(),
        live.len(),
        calls.len()
    );
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() {
        bail!("{} problem(s) after the restart", problems.len());
    }
    Ok(())
}

async fn await_live(client: Client, room: &str, timeout: Duration) -> anyhow::Result<()> {
    let started = Instant::now();
    while started.elapsed() < timeout {
        for c in client
            .conferences(&format!("FriendlyName={room}&Status=1"))
            .await?
        {
            let (_, list) = client.participants(&c.sid).await?;
            if !list.is_empty() {
                println!(
                    "live_after_ms={} live_conference={} live_participants={}",
                    started.elapsed().as_millis(),
                    c.sid,
                    list.len()
                );
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!(
        "room {room} not in progress with a participant within {} s",
        timeout.as_secs()
    )
}
