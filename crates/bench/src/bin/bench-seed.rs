//! `bench-seed`: fills a database for the API benchmark.
//!
//! Creates `--accounts` accounts (`server::accounts::create`) and spreads
//! `--conferences` conferences evenly over them, shaped like a year of use:
//! - 95% completed, their FriendlyNames repeating (rooms are reused), their
//!   DateCreated spread over the last `--days` days and DateUpdated 2 to
//!   122 minutes later;
//! - 5% live (half init, half in-progress), created in the last three
//!   hours. The store allows one live conference per (account, name), so
//!   each live one has a name of its own;
//! - every in-progress conference has `--participants` participants, and
//!   one of the first account's has 20;
//! - `--calls` call records (default: one per conference), spread evenly
//!   over the accounts and the same `--days`: 90% completed, the rest
//!   failed, busy or unanswered.
//!
//! Rows go in through the store's own writes ([`store::Change`], the ones a
//! room makes; [`Store::insert_calls`]), in DateCreated order as they would
//! have arrived, one transaction per `--batch` rows. A conference is
//! written as it ends up (one `ConferenceCreated` with its final status and
//! DateUpdated), which keeps the same rows and counts as a room's whole
//! history and makes a million conferences a matter of a minute. Sids and tokens come from the OS
//! CSPRNG; the shape (names, times, statuses) from a fixed-seed generator,
//! so every run seeds the same distribution.
//!
//! Prints `AccountSid=`, `AuthToken=` (the first account), `ConferenceSid=`
//! (one of its completed conferences) and `LiveConferenceSid=` (the one with
//! participants) on stdout, progress on stderr.
//!
//! Note: `confab serve` completes every live conference it finds when it
//! starts (recovery from a previous run), so seed a running server to keep
//! the live ones live.

use anyhow::{Context as _, bail};
use clap::Parser;
use model::test_util::SplitMix64;
use model::{
    AccountSid, CallDirection, CallRecord, CallSid, CallStatus, ConferenceRecord, ConferenceSid,
    ConferenceStatus, ParticipantRecord, Timestamp,
};
use server::Clock as _;
use store::{Change, Store};

/// Seeds a confab database with benchmark data.
#[derive(Debug, Parser)]
#[command(name = "bench-seed")]
struct Args {
    /// `sqlite://PATH` or `postgres://…`; created and migrated if needed.
    #[arg(long)]
    database_url: String,
    /// Accounts to create.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    accounts: u32,
    /// Conferences in all, spread evenly over the accounts.
    #[arg(long, default_value_t = 100_000)]
    conferences: u32,
    /// How far back DateCreated of completed conferences goes, in days.
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..))]
    days: u32,
    /// Participants of each in-progress conference (one has 20 anyway).
    #[arg(long, default_value_t = 4)]
    participants: u32,
    /// Call records in all; default: as many as conferences.
    #[arg(long)]
    calls: Option<u32>,
    /// Rows per transaction.
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Seed of the generator of names, times and statuses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Every this many conferences of an account, one is live.
const LIVE_EVERY: u32 = 20;
/// Participants of the first account's first (live) conference.
const PARTICIPANTS: u32 = 20;
/// Of every 100 calls, how many did not complete (failed, busy, no answer).
const CALLS_FAILED_PERCENT: u64 = 10;
/// Room names completed conferences reuse: each word with a number below
/// `NAME_NUMBERS`, so 200 names in all.
const NAME_WORDS: [&str; 8] = [
    "standup",
    "sales",
    "support",
    "board",
    "retro",
    "oncall",
    "interview",
    "townhall",
];
const NAME_NUMBERS: u64 = 25;

const SECOND: i64 = 1_000_000;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    bench::runtime()?.block_on(seed(args))
}

async fn seed(args: Args) -> anyhow::Result<()> {
    let per_account = args.conferences / args.accounts;
    if per_account < 2 {
        bail!("--conferences must be at least twice --accounts");
    }
    let store = Store::connect(&args.database_url)
        .await
        .context("cannot open the database")?;
    let now = server::SystemClock.now();
    let started = std::time::Instant::now();

    let mut accounts = Vec::new();
    for k in 0..args.accounts {
        accounts.push(server::accounts::create(&store, &format!("bench-{k}"), now).await?);
    }
    let mut rng = SplitMix64(args.seed);
    let mut rooms = Vec::new();
    for (k, account) in accounts.iter().enumerate() {
        // The remainder of an uneven split goes to the first accounts.
        let extra = u32::from(u32::try_from(k)? < args.conferences % args.accounts);
        for i in 0..per_account + extra {
            rooms.push(Room::generate(&mut rng, &account.sid, i, now, args.days));
        }
    }
    // Rows arrive in the order rooms were created, accounts interleaved.
    rooms.sort_by_key(|r| r.record.date_created);

    let first = accounts.first().context("no account was created")?;
    let live = first_of(&rooms, &first.sid, |r| {
        r.record.status == ConferenceStatus::InProgress
    })
    .context("the first account has no in-progress conference")?;
    let completed = first_of(&rooms, &first.sid, |r| {
        r.record.status == ConferenceStatus::Completed
    })
    .context("the first account has no completed conference")?;
    let live_sid = live.record.sid.clone();
    let completed_sid = completed.record.sid.clone();

    let batch = usize::try_from(args.batch)?;
    let mut changes: Vec<Change> = Vec::with_capacity(rooms.len());
    for room in &rooms {
        let c = &room.record;
        let participants = if c.sid == live_sid {
            PARTICIPANTS
        } else if c.status == ConferenceStatus::InProgress {
            args.participants
        } else {
            0
        };
        changes.push(Change::ConferenceCreated(c.clone()));
        changes.extend(
            (0..participants).map(|k| participant(&c.account_sid, &c.sid, c.date_created, k, now)),
        );
    }
    drop(rooms);
    let total = changes.len();
    for (n, chunk) in changes.chunks(batch).enumerate() {
        store.apply(chunk).await.context("cannot store a batch")?;
        progress("changes", (n + 1) * batch, total, started);
    }
    drop(changes);

    let calls = args.calls.unwrap_or(args.conferences);
    let mut records = Vec::with_capacity(usize::try_from(calls)?);
    for k in 0..calls {
        let account = &accounts[usize::try_from(k % args.accounts)?].sid;
        records.push(call(&mut rng, account, now, args.days));
    }
    records.sort_by_key(|c| c.date_created);
    for (n, chunk) in records.chunks(batch).enumerate() {
        store
            .insert_calls(chunk)
            .await
            .context("cannot store calls")?;
        progress("calls", (n + 1) * batch, records.len(), started);
    }
    eprintln!(
        "bench-seed: {} accounts, {} conferences, {total} conference rows and \
         participants, {calls} calls in {:.1} s",
        args.accounts,
        args.conferences,
        started.elapsed().as_secs_f64()
    );

    println!("AccountSid={}", first.sid);
    println!("AuthToken={}", first.auth_token.expose());
    println!("ConferenceSid={completed_sid}");
    println!("LiveConferenceSid={live_sid}");
    store.close().await;
    Ok(())
}

/// One conference to seed: its final state.
#[derive(Debug)]
struct Room {
    record: ConferenceRecord,
}

impl Room {
    /// The `i`th conference of `account`: every [`LIVE_EVERY`]th one
    /// (starting with the first) is live, the rest completed.
    fn generate(
        rng: &mut SplitMix64,
        account: &AccountSid,
        i: u32,
        now: Timestamp,
        days: u32,
    ) -> Self {
        let now = now.as_micros();
        let (friendly_name, status, created, updated) = if i.is_multiple_of(LIVE_EVERY) {
            let status = if (i / LIVE_EVERY).is_multiple_of(2) {
                ConferenceStatus::InProgress
            } else {
                ConferenceStatus::Init
            };
            let created = now - rng.below_i64(3 * HOUR);
            let updated = match status {
                ConferenceStatus::Init => created,
                _ => created + rng.below_i64(now - created + 1),
            };
            (format!("live-{i}"), status, created, updated)
        } else {
            let word = NAME_WORDS[rng.index(NAME_WORDS.len())];
            let name = format!("{word}-{}", rng.next() % NAME_NUMBERS);
            let created = now - rng.below_i64(i64::from(days) * DAY);
            let updated = (created + 2 * MINUTE + rng.below_i64(2 * HOUR)).min(now);
            (name, ConferenceStatus::Completed, created, updated)
        };
        Self {
            record: ConferenceRecord {
                reason_ended: None,
                call_sid_ending: None,
                sid: ConferenceSid::from_random(server::ids::random_bytes()),
                account_sid: account.clone(),
                friendly_name,
                status,
                date_created: Timestamp::from_micros(created),
                date_updated: Timestamp::from_micros(updated),
            },
        }
    }
}

/// Progress on stderr, every 100,000 rows or so.
fn progress(what: &str, done: usize, total: usize, started: std::time::Instant) {
    let done = done.min(total);
    if done % 100_000 < 5_000 || done == total {
        eprintln!(
            "bench-seed: {done} of {total} {what} ({:.1} s)",
            started.elapsed().as_secs_f64()
        );
    }
}

/// A call record created within the last `days` days, from one of a few
/// thousand callers to one of a hundred numbers, lasting up to an hour.
fn call(rng: &mut SplitMix64, account: &AccountSid, now: Timestamp, days: u32) -> CallRecord {
    let now = now.as_micros();
    let created = now - rng.below_i64(i64::from(days) * DAY);
    let failed = rng.next() % 100 < CALLS_FAILED_PERCENT;
    let (status, start, end) = if failed {
        let status = [
            CallStatus::FailedBusy,
            CallStatus::FailedNoAnswer,
            CallStatus::FailedApplicationError,
        ][rng.index(3)];
        (status, None, (created + 30 * SECOND).min(now))
    } else {
        let start = created + rng.below_i64(10 * SECOND);
        let end = (start + rng.below_i64(HOUR)).min(now);
        (CallStatus::Complete, Some(start), end)
    };
    CallRecord {
        sid: CallSid::from_random(server::ids::random_bytes()),
        account_sid: account.clone(),
        phone_number_sid: None,
        caller: format!("+1555{:07}", rng.next() % 5_000),
        called: format!("+1800{:07}", rng.next() % 100),
        direction: CallDirection::Inbound,
        status,
        start_time: start.map(Timestamp::from_micros),
        end_time: Some(Timestamp::from_micros(end)),
        duration: start.map(|s| (end - s) / SECOND),
        failure: failed.then(|| "seeded".to_owned()),
        date_created: Timestamp::from_micros(created),
        date_updated: Timestamp::from_micros(end),
    }
}

fn first_of<'a>(
    rooms: &'a [Room],
    account: &AccountSid,
    pick: impl Fn(&Room) -> bool,
) -> Option<&'a Room> {
    rooms
        .iter()
        .find(|r| r.record.account_sid == *account && pick(r))
}

/// The `k`th caller to join the live conference, a few seconds apart
/// (never after `now`); every fourth is muted, the first ends the room.
fn participant(
    account: &AccountSid,
    conference: &ConferenceSid,
    conference_created: Timestamp,
    k: u32,
    now: Timestamp,
) -> Change {
    let joined =
        Timestamp::from_micros(conference_created.as_micros() + i64::from(k) * 5 * SECOND).min(now);
    Change::ParticipantJoined(ParticipantRecord {
        hold: false,
        label: None,
        call_sid_to_coach: None,
        call_sid: CallSid::from_random(server::ids::random_bytes()),
        conference_sid: conference.clone(),
        account_sid: account.clone(),
        muted: k % 4 == 3,
        start_conference_on_enter: true,
        end_conference_on_exit: k == 0,
        date_created: joined,
        date_updated: joined,
    })
}

/// The seeder's draws, on the one shared generator.
trait Draw {
    /// An index below `len > 0`.
    fn index(&mut self, len: usize) -> usize;
    /// Uniform enough in `[0, bound)` for `bound > 0`; 0 otherwise.
    fn below_i64(&mut self, bound: i64) -> i64;
}

impl Draw for SplitMix64 {
    fn index(&mut self, len: usize) -> usize {
        let len = u64::try_from(len).unwrap_or(u64::MAX).max(1);
        usize::try_from(self.next() % len).unwrap_or(0)
    }

    fn below_i64(&mut self, bound: i64) -> i64 {
        u64::try_from(bound)
            .ok()
            .map_or(0, |b| i64::try_from(self.below(b)).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rooms_are_shaped_as_documented() {
        let mut rng = SplitMix64(1);
        let account = AccountSid::from_random([1; 16]);
        let now = Timestamp::from_secs(1_800_000_000);
        let rooms: Vec<Room> = (0..200)
            .map(|i| Room::generate(&mut rng, &account, i, now, 365))
            .collect();
        let live: Vec<&Room> = rooms
            .iter()
            .filter(|r| r.record.status != ConferenceStatus::Completed)
            .collect();
        assert_eq!(live.len(), 10);
        assert_eq!(rooms[0].record.status, ConferenceStatus::InProgress);
        for r in &rooms {
            let c = &r.record;
            assert!(
                c.date_created <= c.date_updated && c.date_updated <= now,
                "{c:?}"
            );
            let age = now.as_micros() - c.date_created.as_micros();
            assert!(age < 365 * DAY, "{c:?}");
        }
        // One live conference per name, as the store requires.
        let mut names: Vec<&str> = live
            .iter()
            .map(|r| r.record.friendly_name.as_str())
            .collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), live.len());
    }

    #[test]
    fn calls_are_shaped_as_documented() {
        let mut rng = SplitMix64(7);
        let account = AccountSid::from_random([2; 16]);
        let now = Timestamp::from_secs(1_800_000_000);
        let calls: Vec<CallRecord> = (0..1000)
            .map(|_| call(&mut rng, &account, now, 365))
            .collect();
        let failed = calls
            .iter()
            .filter(|c| c.status != CallStatus::Complete)
            .count();
        assert!((50..150).contains(&failed), "{failed} failed");
        for c in &calls {
            assert!(
                c.date_created <= c.date_updated && c.date_updated <= now,
                "{c:?}"
            );
            assert_eq!(c.start_time.is_some(), c.status == CallStatus::Complete);
            if let (Some(start), Some(end)) = (c.start_time, c.end_time) {
                assert_eq!(
                    c.duration,
                    Some((end.as_micros() - start.as_micros()) / SECOND)
                );
            }
        }
    }
}
