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
//! - one in-progress conference of the first account has 20 participants.
//!
//! Rows go in through the store's own writes ([`store::Change`], the ones a
//! room makes), in DateCreated order as they would have arrived, one
//! transaction per `--batch` changes. Sids and tokens come from the OS
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
    AccountSid, CallSid, ConferenceRecord, ConferenceSid, ConferenceStatus, ParticipantRecord,
    Timestamp,
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
    /// Changes per transaction.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    batch: u32,
    /// Seed of the generator of names, times and statuses.
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// Every this many conferences of an account, one is live.
const LIVE_EVERY: u32 = 20;
/// Participants of the first account's first (live) conference.
const PARTICIPANTS: u32 = 20;
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
    let (live_sid, live_created) = (live.record.sid.clone(), live.record.date_created);
    let completed_sid = completed.record.sid.clone();

    let changes: Vec<Change> = rooms.into_iter().flat_map(Room::changes).collect();
    let batch = usize::try_from(args.batch)?;
    let total = changes.len();
    for (n, chunk) in changes.chunks(batch).enumerate() {
        store.apply(chunk).await.context("cannot store a batch")?;
        let done = (n + 1) * batch;
        if done % 20_000 < batch {
            eprintln!(
                "bench-seed: {} of {total} changes ({:.1} s)",
                done.min(total),
                started.elapsed().as_secs_f64()
            );
        }
    }
    let joins: Vec<Change> = (0..PARTICIPANTS)
        .map(|k| participant(&first.sid, &live_sid, live_created, k, now))
        .collect();
    store
        .apply(&joins)
        .await
        .context("cannot store participants")?;
    eprintln!(
        "bench-seed: {} accounts, {} conferences, {PARTICIPANTS} participants in {:.1} s",
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

    /// How a room would have written itself: created as init, then moved
    /// to its status (which also sets DateUpdated).
    fn changes(self) -> impl Iterator<Item = Change> {
        let Self { record } = self;
        let (status, updated) = (record.status, record.date_updated);
        let sid = record.sid.clone();
        let created = ConferenceRecord {
            status: ConferenceStatus::Init,
            date_updated: record.date_created,
            ..record
        };
        let moved = (status != ConferenceStatus::Init).then_some(Change::ConferenceStatus {
            sid,
            status,
            at: updated,
        });
        std::iter::once(Change::ConferenceCreated(created)).chain(moved)
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
    fn changes_create_as_init_then_move_to_the_status() {
        let mut rng = SplitMix64(7);
        let account = AccountSid::from_random([2; 16]);
        let now = Timestamp::from_secs(1_800_000_000);
        let completed = Room::generate(&mut rng, &account, 1, now, 365);
        let (sid, updated) = (completed.record.sid.clone(), completed.record.date_updated);
        let changes: Vec<Change> = completed.changes().collect();
        assert!(matches!(
            &changes[..],
            [Change::ConferenceCreated(c), Change::ConferenceStatus { status: ConferenceStatus::Completed, at, sid: s }]
                if c.status == ConferenceStatus::Init && *at == updated && *s == sid
        ));
        let init = Room::generate(&mut rng, &account, LIVE_EVERY, now, 365);
        assert_eq!(init.record.status, ConferenceStatus::Init);
        assert_eq!(init.changes().count(), 1);
    }
}
