//! Account isolation, randomized: several accounts with rooms and
//! participants (filled through the conference hub), a real server over
//! real HTTP, and every account's credentials tried on every other
//! account's conferences and participants with every verb.
//!
//! What each attempt must get (decisions.md, HTTP surface):
//! - another account's AccountSid in the path (whatever follows it) is
//!   "credentials valid but URL names another account": **401**, code
//!   20003, with the `WWW-Authenticate` challenge, the same answer whether
//!   the resource exists or not;
//! - one's own AccountSid in the path with another account's conference or
//!   call sid is a resource that does not exist for this account: **404**,
//!   code 20404 (decisions.md's 404 row; `api.rs` pins the same for one
//!   pair). The issue says "401" for both; decisions.md is what confab
//!   follows, so each case is pinned to its exact status here.
//!
//! And afterwards nothing changed: every conference's status and
//! DateUpdated, every participant and its Muted flag, as the owner reads
//! them. Then the owner's own mute and kick work, so the refusals were not
//! the API refusing everything.
//!
//! The layout (how many accounts, rooms, callers, who starts muted) and the
//! order of the attempts come from a seeded RNG: `CONFAB_ISOLATION_SEED=n`
//! replays one seed; by default three fixed seeds run.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use conference::{JoinRequest, LeaveReason, ParticipantOptions};
use model::test_util::SplitMix64;
use model::{Account, CallSid, ConferenceSid};
use server::{Clock, Config, HubHandle, Server, SystemClock};
use tokio::sync::oneshot;

/// The workspace's seedable generator, with the draws these tests need.
struct Rng(SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next()
    }

    /// In `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + usize::try_from(self.next() % (hi - lo + 1) as u64).unwrap()
    }

    fn coin(&mut self) -> bool {
        self.next() & 1 == 1
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.range(0, i);
            items.swap(i, j);
        }
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.range(0, items.len() - 1)]
    }
}

/// One account and what it has.
struct Tenant {
    account: Account,
    /// Live rooms and their callers.
    rooms: Vec<(ConferenceSid, Vec<CallSid>)>,
    /// A room everyone left (completed).
    done: ConferenceSid,
}

/// A whole server over HTTP on 127.0.0.1.
struct Site {
    _dir: tempfile::TempDir,
    http: SocketAddr,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    served: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// What an attempt got.
#[derive(Debug)]
struct Reply {
    status: u16,
    challenge: Option<String>,
    body: String,
}

impl Reply {
    fn exception_code(&self) -> Option<String> {
        let doc = roxmltree::Document::parse(&self.body).ok()?;
        doc.descendants()
            .find(|n| {
                n.has_tag_name("Code")
                    && n.parent().is_some_and(|p| p.has_tag_name("RestException"))
            })
            .and_then(|n| n.text())
            .map(str::to_owned)
    }

    fn column(&self, field: &str) -> Vec<String> {
        let doc = roxmltree::Document::parse(&self.body)
            .unwrap_or_else(|e| panic!("not XML ({e}): {}", self.body));
        doc.descendants()
            .filter(|n| n.has_tag_name(field))
            .map(|n| n.text().unwrap_or_default().to_owned())
            .collect()
    }
}

impl Site {
    async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        who: &Account,
        body: Option<&str>,
    ) -> Reply {
        let url = format!("http://{}{path}", self.http);
        let mut request = self
            .client
            .request(method, url)
            .basic_auth(who.sid.as_str(), Some(who.auth_token.expose()));
        if let Some(body) = body {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body.to_owned());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let challenge = response
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        let body = response.text().await.unwrap();
        Reply {
            status,
            challenge,
            body,
        }
    }

    async fn shut_down(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.served.await.unwrap().unwrap();
    }
}

/// Builds `seed`'s accounts and rooms on a fresh server and serves it.
async fn site(rng: &mut Rng) -> (Site, Vec<Tenant>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("confab.db").display());
    let store = store::Store::connect(&url).await.unwrap();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut accounts = Vec::new();
    for i in 0..rng.range(3, 5) {
        let account = server::accounts::create(&store, &format!("tenant {i}"), clock.now())
            .await
            .unwrap();
        accounts.push(account);
    }
    let server = Server::start(store, Config::default(), clock)
        .await
        .unwrap();
    let hub = server.hub().clone();
    let mut tenants = Vec::new();
    for account in accounts {
        tenants.push(fill(rng, &hub, account).await);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let http = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(server.serve(listener, async move {
        let _ = stopped.await;
    }));
    let site = Site {
        _dir: dir,
        http,
        client: reqwest::Client::new(),
        stop: Some(stop),
        served,
    };
    (site, tenants)
}

/// Some live rooms with callers (some muted, some waiting), and one room
/// everyone left. Room names repeat across accounts on purpose.
async fn fill(rng: &mut Rng, hub: &HubHandle, account: Account) -> Tenant {
    let join = |name: String, options: ParticipantOptions| {
        let request = JoinRequest {
            label: None,
            coach: None,
            status_callback: None,
            account: account.sid.clone(),
            name,
            call: server::ids::call_sid(),
            options,
        };
        let call = request.call.clone();
        async move { (call, hub.join(request).await.expect("join")) }
    };
    let mut rooms = Vec::new();
    for r in 0..rng.range(1, 3) {
        let mut calls = Vec::new();
        let mut sid = None;
        for _ in 0..rng.range(1, 3) {
            let options = ParticipantOptions {
                muted: rng.coin(),
                start_conference_on_enter: rng.coin(),
                end_conference_on_exit: false,
                ..ParticipantOptions::default()
            };
            let (call, joined) = join(format!("room {r}"), options).await;
            sid = Some(joined.conference);
            calls.push(call);
        }
        rooms.push((sid.unwrap(), calls));
    }
    let (call, joined) = join("done".into(), ParticipantOptions::default()).await;
    assert!(hub.leave(call, LeaveReason::Hangup).await);
    Tenant {
        account,
        rooms,
        done: joined.conference,
    }
}

/// Everything the owner sees: per conference, its Status and DateUpdated,
/// and its participants with their Muted flags, in join order.
async fn snapshot(site: &Site, tenant: &Tenant) -> BTreeMap<String, Vec<String>> {
    let base = format!("/2008-08-01/Accounts/{}", tenant.account.sid);
    let mut seen = BTreeMap::new();
    let conferences = tenant
        .rooms
        .iter()
        .map(|(cf, _)| cf)
        .chain(std::iter::once(&tenant.done));
    for cf in conferences {
        let path = format!("{base}/Conferences/{cf}");
        let r = site
            .request(reqwest::Method::GET, &path, &tenant.account, None)
            .await;
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        let mut facts = r.column("Status");
        facts.extend(r.column("DateUpdated"));
        let list = format!("{path}/Participants");
        let r = site
            .request(reqwest::Method::GET, &list, &tenant.account, None)
            .await;
        assert_eq!(r.status, 200, "{list}: {}", r.body);
        for (call, muted) in r.column("CallSid").into_iter().zip(r.column("Muted")) {
            facts.push(format!("{call}={muted}"));
        }
        seen.insert(cf.to_string(), facts);
    }
    seen
}

/// One attempt: a method, a path, a body, and the status it must get.
#[derive(Debug, Clone)]
struct Attempt {
    method: reqwest::Method,
    path: String,
    body: Option<String>,
    /// 401 (another account's URL) or 404 (own URL, another's sids).
    expect: u16,
}

/// Every verb on `cf` and `calls` under `base` (an AccountSid path).
fn verbs(
    rng: &mut Rng,
    base: &str,
    cf: &ConferenceSid,
    calls: &[CallSid],
    expect: u16,
) -> Vec<Attempt> {
    let get = |path: String| Attempt {
        method: reqwest::Method::GET,
        path,
        body: None,
        expect,
    };
    let conference = format!("{base}/Conferences/{cf}");
    let mut attempts = vec![
        get(conference.clone()),
        get(format!("{conference}/Participants")),
    ];
    for call in calls {
        let one = format!("{conference}/Participants/{call}");
        attempts.push(get(one.clone()));
        // Both ways: whichever the participant is, one of them would change it.
        for muted in [
            *rng.pick(&["true", "1", "TRUE"]),
            *rng.pick(&["false", "0"]),
        ] {
            attempts.push(Attempt {
                method: reqwest::Method::POST,
                path: one.clone(),
                body: Some(format!("Muted={muted}")),
                expect,
            });
        }
        attempts.push(Attempt {
            method: reqwest::Method::DELETE,
            path: one,
            body: None,
            expect,
        });
    }
    attempts
}

async fn run(seed: u64) {
    let mut rng = Rng(SplitMix64(seed));
    let (site, tenants) = site(&mut rng).await;
    let before: Vec<_> = {
        let mut all = Vec::new();
        for t in &tenants {
            all.push(snapshot(&site, t).await);
        }
        all
    };

    // (attacker index, attempt)
    let mut attempts: Vec<(usize, Attempt)> = Vec::new();
    for (a, attacker) in tenants.iter().enumerate() {
        let own = format!("/2008-08-01/Accounts/{}", attacker.account.sid);
        for (v, victim) in tenants.iter().enumerate() {
            if a == v {
                continue;
            }
            let theirs = format!("/2008-08-01/Accounts/{}", victim.account.sid);
            let mut targets: Vec<(&ConferenceSid, &[CallSid])> = victim
                .rooms
                .iter()
                .map(|(cf, calls)| (cf, calls.as_slice()))
                .collect();
            targets.push((&victim.done, &[]));
            for (cf, calls) in targets {
                // Their URL, our credentials: 401.
                for attempt in verbs(&mut rng, &theirs, cf, calls, 401) {
                    attempts.push((a, attempt));
                }
                // Our URL, their sids: 404.
                for attempt in verbs(&mut rng, &own, cf, calls, 404) {
                    attempts.push((a, attempt));
                }
                // Our URL, one of our own conferences, their callers: 404.
                let (mine, _) = rng.pick(&attacker.rooms);
                for attempt in verbs(&mut rng, &own, mine, calls, 404).into_iter().skip(2) {
                    attempts.push((a, attempt));
                }
            }
        }
    }
    // At least 3 accounts, each with a live room with a caller and a done
    // room: 6 ordered pairs of at least 20 attempts each.
    assert!(attempts.len() >= 120, "{}", attempts.len());
    rng.shuffle(&mut attempts);

    for (a, attempt) in &attempts {
        let who = &tenants[*a].account;
        let r = site
            .request(
                attempt.method.clone(),
                &attempt.path,
                who,
                attempt.body.as_deref(),
            )
            .await;
        let context = format!(
            "seed {seed}: {} {} as {} ({:?})",
            attempt.method, attempt.path, who.sid, attempt.body
        );
        assert_eq!(r.status, attempt.expect, "{context}: {}", r.body);
        match attempt.expect {
            401 => {
                assert_eq!(r.exception_code().as_deref(), Some("20003"), "{context}");
                assert_eq!(
                    r.challenge.as_deref(),
                    Some(r#"Basic realm="confab""#),
                    "{context}"
                );
            }
            _ => assert_eq!(r.exception_code().as_deref(), Some("20404"), "{context}"),
        }
    }

    for (t, tenant) in tenants.iter().enumerate() {
        assert_eq!(
            snapshot(&site, tenant).await,
            before[t],
            "seed {seed}: account {} changed",
            tenant.account.sid
        );
    }

    // The owner's own mute and kick go through: the refusals above were
    // about whose resource it was, not the verbs.
    for tenant in &tenants {
        let (cf, calls) = rng.pick(&tenant.rooms);
        let call = rng.pick(calls);
        let path = format!(
            "/2008-08-01/Accounts/{}/Conferences/{cf}/Participants/{call}",
            tenant.account.sid
        );
        let r = site
            .request(reqwest::Method::GET, &path, &tenant.account, None)
            .await;
        let flipped = if r.column("Muted") == ["true"] {
            "false"
        } else {
            "true"
        };
        let r = site
            .request(
                reqwest::Method::POST,
                &path,
                &tenant.account,
                Some(&format!("Muted={flipped}")),
            )
            .await;
        assert_eq!(
            (r.status, r.column("Muted")),
            (200, vec![flipped.to_owned()]),
            "seed {seed}: {}",
            r.body
        );
        let r = site
            .request(reqwest::Method::DELETE, &path, &tenant.account, None)
            .await;
        assert_eq!(r.status, 204, "seed {seed}: {}", r.body);
    }
    site.shut_down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_account_reads_mutes_or_kicks_another_accounts_participants() {
    let seeds: Vec<u64> = match std::env::var("CONFAB_ISOLATION_SEED") {
        Ok(seed) => vec![seed.parse().expect("CONFAB_ISOLATION_SEED is a number")],
        Err(_) => vec![1, 2, 0x5eed_cafe],
    };
    for seed in seeds {
        run(seed).await;
    }
}
