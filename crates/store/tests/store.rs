#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The store's contract, each test body run twice: against a fresh SQLite
//! file and against a fresh PostgreSQL database.
//!
//! PostgreSQL comes from `CONFAB_TEST_POSTGRES_URL` (a server URL whose user
//! may CREATE DATABASE; `scripts/start-test-postgres` starts one). Each test
//! makes its own database, so the tests run in parallel. Without the
//! variable the PostgreSQL half is skipped with a note on stderr, unless
//! `CONFAB_REQUIRE_POSTGRES=1`, which makes it fail instead (for CI).

use std::collections::{BTreeSet, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use model::test_util::SplitMix64;
use model::{
    Account, AccountSid, AuthToken, CallFilter, CallRecord, CallSid, CallStatus,
    ConferenceEndReason, ConferenceFilter, ConferenceRecord, ConferenceSid, ConferenceStatus,
    DateRange, HttpMethod, PageRequest, ParticipantFilter, ParticipantRecord, PhoneNumber,
    PhoneNumberSid, Timestamp,
};
use sqlx::{AssertSqlSafe, Connection, Executor};
use store::{Backend, CallOrder, Change, Store, StoreError};

// ---------------------------------------------------------------------------
// Harness: one body, two backends.

/// Declares each listed `async fn NAME(db: &TestDb)` as a test in `sqlite::`
/// and in `postgres::`.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let db = super::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = super::TestDb::postgres().await else { return };
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}

on_both_backends!(
    migrations_are_idempotent,
    two_handles_write_concurrently,
    accounts_crud,
    phone_numbers_crud,
    apply_records_each_change,
    a_failed_batch_leaves_nothing_behind,
    date_updated_never_moves_back,
    completing_removes_participants,
    one_live_conference_per_name,
    reads_are_scoped_by_account,
    conference_lists_agree_with_the_reference,
    totals_from_day_counts_agree_with_the_rows,
    name_totals_follow_every_status_change,
    a_seek_walks_hundreds_of_days_from_either_end,
    a_deep_page_starts_at_an_hour_of_its_day,
    one_batch_counts_hundreds_of_hours_exactly,
    deep_pages_and_totals_stay_exact_under_writes,
    a_total_is_never_wrong_once_a_write_commits,
    paging_past_the_end,
    participants_in_join_order_with_muted_filter,
    complete_live_conferences_at_startup,
    corrupt_rows_are_errors_not_panics,
    calls_are_recorded_finished_and_recovered,
    integrity_check_reports_planted_problems,
    hold_label_coach_end_on_exit_and_end_reason_are_recorded,
    trunks_crud_and_placed_calls_answered,
    nodes_claim_rooms_and_a_dead_nodes_work_is_ended,
    a_live_record_is_read_again_once_its_row_changes,
);

struct TestDb {
    url: String,
    store: Store,
    /// Keeps the SQLite file's directory alive for the test.
    _dir: Option<tempfile::TempDir>,
    /// PostgreSQL: the server URL and this test's database, dropped after.
    pg: Option<(String, String)>,
}

impl TestDb {
    async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("confab.db").display());
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Sqlite);
        Self {
            url,
            store,
            _dir: Some(dir),
            pg: None,
        }
    }

    async fn postgres() -> Option<Self> {
        let server = match std::env::var("CONFAB_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CONFAB_REQUIRE_POSTGRES").as_deref() == Ok("1") => panic!(
                "CONFAB_REQUIRE_POSTGRES=1 but CONFAB_TEST_POSTGRES_URL is not set: \
                 start a server with scripts/start-test-postgres and export its URL"
            ),
            _ => {
                eprintln!("skipping PostgreSQL: set CONFAB_TEST_POSTGRES_URL");
                return None;
            }
        };
        let name = fresh_database_name();
        let mut admin = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to CONFAB_TEST_POSTGRES_URL: {e}"));
        admin
            .execute(AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        admin.close().await.unwrap();
        let url = with_database(&server, &name);
        let store = Store::connect(&url).await.unwrap();
        assert_eq!(store.backend(), Backend::Postgres);
        Some(Self {
            url,
            store,
            _dir: None,
            pg: Some((server, name)),
        })
    }

    /// Another, independent handle on the same database (its own pool).
    async fn connect_again(&self) -> Store {
        Store::connect(&self.url).await.unwrap()
    }

    /// Raw SQL access, for planting rows the store would never write.
    async fn raw(&self, sql: &str) {
        let pool = sqlx::AnyPool::connect(&self.url).await.unwrap();
        pool.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
        pool.close().await;
    }

    async fn finish(self) {
        self.store.close().await;
        if let Some((server, name)) = self.pg {
            let mut admin = sqlx::PgConnection::connect(&server).await.unwrap();
            admin
                .execute(AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .await
                .unwrap();
            admin.close().await.unwrap();
        }
    }
}

/// Unique across tests in this process and across concurrent processes.
fn fresh_database_name() -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "confab_test_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// `server` with its database path replaced by `/name` (query kept).
fn with_database(server: &str, name: &str) -> String {
    let (base, query) = match server.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (server, String::new()),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    format!("{}/{name}{query}", &base[..authority_end])
}

// ---------------------------------------------------------------------------
// Fixtures.

fn bytes(n: u64, tag: u8) -> [u8; 16] {
    let mut b = [tag; 16];
    b[..8].copy_from_slice(&n.to_be_bytes());
    b
}

fn account_sid(n: u64) -> AccountSid {
    AccountSid::from_random(bytes(n, 0xac))
}
fn conference_sid(n: u64) -> ConferenceSid {
    ConferenceSid::from_random(bytes(n, 0xcf))
}
fn call_sid(n: u64) -> CallSid {
    CallSid::from_random(bytes(n, 0xca))
}
fn number_sid(n: u64) -> PhoneNumberSid {
    PhoneNumberSid::from_random(bytes(n, 0x9e))
}

fn t(secs: i64) -> Timestamp {
    Timestamp::from_secs(1_700_000_000 + secs)
}

fn account(n: u64, created: Timestamp) -> Account {
    Account {
        sid: account_sid(n),
        friendly_name: format!("Account {n}"),
        auth_token: AuthToken::from_random(bytes(n, 0x70)),
        date_created: created,
        date_updated: created,
    }
}

fn number(n: u64, account: &AccountSid, digits: &str) -> PhoneNumber {
    PhoneNumber {
        sid: number_sid(n),
        account_sid: account.clone(),
        phone_number: digits.to_owned(),
        voice_url: format!("http://127.0.0.1/voice/{n}"),
        voice_method: if n.is_multiple_of(2) {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        },
        date_created: t(i64::try_from(n).unwrap()),
        date_updated: t(i64::try_from(n).unwrap()),
    }
}

fn conference(n: u64, account: &AccountSid, name: &str, at: Timestamp) -> ConferenceRecord {
    ConferenceRecord {
        reason_ended: None,
        call_sid_ending: None,
        sid: conference_sid(n),
        account_sid: account.clone(),
        friendly_name: name.to_owned(),
        status: ConferenceStatus::Init,
        date_created: at,
        date_updated: at,
    }
}

fn participant(n: u64, conf: &ConferenceRecord, at: Timestamp) -> ParticipantRecord {
    ParticipantRecord {
        hold: false,
        label: None,
        call_sid_to_coach: None,
        call_sid: call_sid(n),
        conference_sid: conf.sid.clone(),
        account_sid: conf.account_sid.clone(),
        muted: false,
        start_conference_on_enter: true,
        end_conference_on_exit: !n.is_multiple_of(2),
        date_created: at,
        date_updated: at,
    }
}

/// An account to hang rooms on.
async fn with_account(store: &Store, n: u64) -> AccountSid {
    let a = account(n, t(0));
    store.insert_account(&a).await.unwrap();
    a.sid
}

fn all() -> PageRequest {
    PageRequest {
        page: 0,
        size: PageRequest::MAX_SIZE,
    }
}

async fn get_conf(store: &Store, c: &ConferenceRecord) -> ConferenceRecord {
    store
        .conference(&c.account_sid, &c.sid)
        .await
        .unwrap()
        .expect("conference exists")
}

async fn participants_of(store: &Store, c: &ConferenceRecord) -> Vec<ParticipantRecord> {
    let (items, total) = store
        .participants(&c.account_sid, &c.sid, &ParticipantFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(total, items.len() as u64);
    items
}

// ---------------------------------------------------------------------------
// SQLite only: the file itself.

#[tokio::test]
async fn sqlite_file_is_created_on_demand_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    // A path that does not exist yet, given both ways the URL may be written.
    for (i, prefix) in ["sqlite://", "sqlite:"].into_iter().enumerate() {
        let path = dir.path().join(format!("new-{i}.db"));
        assert!(!path.exists());
        let store = Store::connect(&format!("{prefix}{}", path.display()))
            .await
            .unwrap();
        assert!(path.exists(), "{prefix}: file not created");
        store.insert_account(&account(1, t(0))).await.unwrap();
        store.close().await;

        let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
            .await
            .unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        assert_eq!(mode.to_ascii_lowercase(), "wal", "{prefix}");
        conn.close().await.unwrap();
    }
}

#[tokio::test]
async fn sqlite_explicit_read_only_mode_does_not_create_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("absent.db");
    let result = Store::connect(&format!("sqlite://{}?mode=ro", path.display())).await;
    assert!(result.is_err());
    assert!(!path.exists());
}

#[tokio::test]
async fn sqlite_in_memory_keeps_its_data() {
    let store = Store::connect("sqlite::memory:").await.unwrap();
    store.insert_account(&account(1, t(0))).await.unwrap();
    // Several round trips: a pool that opened a second connection would see
    // a second, empty database.
    for _ in 0..5 {
        assert_eq!(store.accounts().await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn other_urls_are_refused() {
    for url in [
        "mysql://localhost/confab",
        "confab.db",
        "file:confab.db",
        "",
    ] {
        assert!(
            matches!(Store::connect(url).await, Err(StoreError::UnsupportedUrl)),
            "{url}"
        );
    }
}

/// Processes starting together on a new file race to migrate it; every one
/// must come up, and the schema must be whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_first_connects_all_succeed() {
    for round in 0..5 {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("race.db").display());
        let connects = (0..4).map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Store::connect(&url).await })
        });
        let mut stores = Vec::new();
        for handle in connects.collect::<Vec<_>>() {
            stores.push(
                handle
                    .await
                    .unwrap()
                    .unwrap_or_else(|e| panic!("round {round}: {e}")),
            );
        }
        for (i, store) in stores.iter().enumerate() {
            store
                .insert_account(&account(i as u64, t(0)))
                .await
                .unwrap();
        }
        assert_eq!(stores[0].accounts().await.unwrap().len(), 4);
        for store in stores {
            store.close().await;
        }
    }
}

// ---------------------------------------------------------------------------
// Both backends.

async fn migrations_are_idempotent(db: &TestDb) {
    db.store.insert_account(&account(1, t(0))).await.unwrap();
    // Connecting runs the migrator again: nothing to do, nothing lost.
    let again = db.connect_again().await;
    let third = db.connect_again().await;
    assert_eq!(again.accounts().await.unwrap().len(), 1);
    third.insert_account(&account(2, t(1))).await.unwrap();
    assert_eq!(db.store.accounts().await.unwrap().len(), 2);
    again.close().await;
    third.close().await;
}

/// Two handles (two pools, like the server and a CLI) writing at once:
/// every write lands, none fails with "database is locked".
async fn two_handles_write_concurrently(db: &TestDb) {
    let a = with_account(&db.store, 1).await;
    let other = db.connect_again().await;
    let mut tasks = Vec::new();
    for (h, store) in [db.store.clone(), other.clone()].into_iter().enumerate() {
        for i in 0..20u64 {
            let store = store.clone();
            let a = a.clone();
            tasks.push(tokio::spawn(async move {
                let n = h as u64 * 100 + i;
                let c = conference(n, &a, &format!("room-{n}"), t(i64::try_from(n).unwrap()));
                let p = participant(n, &c, c.date_created);
                store
                    .apply(&[
                        Change::ConferenceCreated(c.clone()),
                        Change::ParticipantJoined(p),
                    ])
                    .await?;
                // A read and then a write in one task, interleaved with the
                // other handle's writes.
                let (_, total) = store
                    .conferences(&a, &ConferenceFilter::default(), all())
                    .await?;
                assert!(total >= 1);
                store
                    .apply(&[Change::ConferenceStatus {
                        sid: c.sid.clone(),
                        status: ConferenceStatus::InProgress,
                        at: c.date_created,
                    }])
                    .await
            }));
        }
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let filter = ConferenceFilter {
        status: Some(ConferenceStatus::InProgress),
        ..Default::default()
    };
    let (items, total) = db.store.conferences(&a, &filter, all()).await.unwrap();
    assert_eq!((items.len(), total), (40, 40));
    other.close().await;
}

async fn accounts_crud(db: &TestDb) {
    let s = &db.store;
    assert_eq!(s.accounts().await.unwrap(), vec![]);
    assert_eq!(s.account(&account_sid(1)).await.unwrap(), None);

    // Inserted newest first; listed oldest first.
    let (older, newer) = (account(2, t(10)), account(1, t(20)));
    s.insert_account(&newer).await.unwrap();
    s.insert_account(&older).await.unwrap();
    assert_eq!(
        s.accounts().await.unwrap(),
        vec![older.clone(), newer.clone()]
    );

    let got = s.account(&newer.sid).await.unwrap().unwrap();
    assert_eq!(got, newer);
    assert_eq!(got.auth_token.expose(), newer.auth_token.expose());

    let dup = Account {
        friendly_name: "again".into(),
        ..newer.clone()
    };
    assert!(matches!(
        s.insert_account(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.account(&newer.sid).await.unwrap().unwrap().friendly_name,
        newer.friendly_name
    );
}

async fn phone_numbers_crud(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let b = with_account(s, 2).await;

    let n1 = number(1, &a, "+15005550001");
    let n2 = number(2, &b, "+15005550002");
    let n3 = number(3, &a, "1000");
    for n in [&n3, &n1, &n2] {
        s.insert_phone_number(n).await.unwrap();
    }
    assert_eq!(
        s.phone_numbers(Some(&a)).await.unwrap(),
        vec![n1.clone(), n3.clone()]
    );
    assert_eq!(s.phone_numbers(Some(&b)).await.unwrap(), vec![n2.clone()]);
    assert_eq!(
        s.phone_numbers(None).await.unwrap(),
        vec![n1.clone(), n2.clone(), n3.clone()]
    );
    assert_eq!(
        s.phone_numbers(Some(&account_sid(9))).await.unwrap(),
        vec![]
    );

    assert_eq!(
        s.phone_number_by_number("1000").await.unwrap(),
        Some(n3.clone())
    );
    assert_eq!(
        s.phone_number_by_number("+15005550002").await.unwrap(),
        Some(n2.clone())
    );
    assert_eq!(s.phone_number_by_number("+1500555000").await.unwrap(), None);

    // A number routes to one account only, whichever account asks.
    let taken = number(4, &b, "+15005550001");
    assert!(matches!(
        s.insert_phone_number(&taken).await,
        Err(StoreError::Conflict(_))
    ));
    // An unknown account: the foreign key must be enforced (through Any too).
    let orphan = number(5, &account_sid(9), "+15005550009");
    assert!(matches!(
        s.insert_phone_number(&orphan).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.phone_number_by_number("+15005550009").await.unwrap(),
        None
    );

    assert!(s.remove_phone_number(&n1.sid).await.unwrap());
    assert!(!s.remove_phone_number(&n1.sid).await.unwrap());
    assert_eq!(
        s.phone_number_by_number("+15005550001").await.unwrap(),
        None
    );
    // Free again.
    s.insert_phone_number(&taken).await.unwrap();
    assert_eq!(
        s.phone_number_by_number("+15005550001").await.unwrap(),
        Some(taken)
    );
}

async fn apply_records_each_change(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let c = conference(1, &a, "Room 1", t(100));
    s.apply(&[Change::ConferenceCreated(c.clone())])
        .await
        .unwrap();
    assert_eq!(get_conf(s, &c).await, c);

    let p1 = participant(1, &c, t(110));
    let p2 = ParticipantRecord {
        muted: true,
        ..participant(2, &c, t(120))
    };
    s.apply(&[Change::ParticipantJoined(p1.clone())])
        .await
        .unwrap();
    assert_eq!(get_conf(s, &c).await.date_updated, t(110));
    s.apply(&[
        Change::ParticipantJoined(p2.clone()),
        Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::InProgress,
            at: t(120),
        },
    ])
    .await
    .unwrap();
    let got = get_conf(s, &c).await;
    assert_eq!(
        (got.status, got.date_updated, got.date_created),
        (ConferenceStatus::InProgress, t(120), t(100))
    );
    assert_eq!(participants_of(s, &c).await, vec![p1.clone(), p2.clone()]);
    assert_eq!(
        s.participant(&a, &c.sid, &p2.call_sid).await.unwrap(),
        Some(p2.clone())
    );

    s.apply(&[Change::ParticipantMuted {
        conference_sid: c.sid.clone(),
        call_sid: p1.call_sid.clone(),
        muted: true,
        at: t(130),
    }])
    .await
    .unwrap();
    let muted = s
        .participant(&a, &c.sid, &p1.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (muted.muted, muted.date_updated, muted.date_created),
        (true, t(130), t(110))
    );
    assert_eq!(get_conf(s, &c).await.date_updated, t(130));

    s.apply(&[Change::ParticipantLeft {
        conference_sid: c.sid.clone(),
        call_sid: p2.call_sid.clone(),
        at: t(140),
    }])
    .await
    .unwrap();
    assert_eq!(s.participant(&a, &c.sid, &p2.call_sid).await.unwrap(), None);
    assert_eq!(participants_of(s, &c).await, vec![muted]);
    assert_eq!(get_conf(s, &c).await.date_updated, t(140));

    // Changes to what does not exist.
    let missing = conference_sid(99);
    let nf = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound(_)));
    assert!(nf(s
        .apply(&[Change::ConferenceStatus {
            sid: missing.clone(),
            status: ConferenceStatus::Completed,
            at: t(1)
        }])
        .await));
    let stray = ParticipantRecord {
        conference_sid: missing.clone(),
        ..participant(5, &c, t(1))
    };
    assert!(nf(s.apply(&[Change::ParticipantJoined(stray)]).await));
    assert!(nf(s
        .apply(&[Change::ParticipantMuted {
            conference_sid: c.sid.clone(),
            call_sid: call_sid(77),
            muted: true,
            at: t(150),
        }])
        .await));
    assert!(nf(s
        .apply(&[Change::ParticipantLeft {
            conference_sid: missing,
            call_sid: p1.call_sid.clone(),
            at: t(1)
        }])
        .await));
    let unknown_account = conference(5, &account_sid(9), "nobody's", t(1));
    assert!(nf(s
        .apply(&[Change::ConferenceCreated(unknown_account)])
        .await));

    // Leaving twice is fine (the room may report it after completing).
    let leave = Change::ParticipantLeft {
        conference_sid: c.sid.clone(),
        call_sid: p2.call_sid.clone(),
        at: t(160),
    };
    s.apply(&[leave]).await.unwrap();
    assert_eq!(get_conf(s, &c).await.date_updated, t(160));

    // A call is in one conference at a time.
    let c2 = conference(2, &a, "Room 2", t(170));
    let again = ParticipantRecord {
        conference_sid: c2.sid.clone(),
        ..p1.clone()
    };
    let r = s
        .apply(&[
            Change::ConferenceCreated(c2.clone()),
            Change::ParticipantJoined(again),
        ])
        .await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
    assert_eq!(s.conference(&a, &c2.sid).await.unwrap(), None);
    // An empty batch is a no-op.
    s.apply(&[]).await.unwrap();
}

async fn a_failed_batch_leaves_nothing_behind(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let live = conference(1, &a, "busy", t(10));
    s.apply(&[Change::ConferenceCreated(live.clone())])
        .await
        .unwrap();

    let fresh = conference(2, &a, "fresh", t(20));
    let p = participant(1, &fresh, t(21));
    let clash = conference(3, &a, "busy", t(22));
    let batch = [
        Change::ConferenceCreated(fresh.clone()),
        Change::ParticipantJoined(p.clone()),
        Change::ConferenceStatus {
            sid: live.sid.clone(),
            status: ConferenceStatus::InProgress,
            at: t(22),
        },
        Change::ConferenceCreated(clash.clone()),
    ];
    assert!(matches!(
        s.apply(&batch).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.conference(&a, &fresh.sid).await.unwrap(), None);
    assert_eq!(s.conference(&a, &clash.sid).await.unwrap(), None);
    assert_eq!(
        s.participant(&a, &fresh.sid, &p.call_sid).await.unwrap(),
        None
    );
    assert_eq!(
        get_conf(s, &live).await,
        live,
        "the status change rolled back too"
    );

    // The same with a NotFound at the end.
    let batch = [
        Change::ConferenceCreated(fresh.clone()),
        Change::ParticipantMuted {
            conference_sid: fresh.sid.clone(),
            call_sid: call_sid(9),
            muted: true,
            at: t(30),
        },
    ];
    assert!(matches!(
        s.apply(&batch).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(s.conference(&a, &fresh.sid).await.unwrap(), None);

    // And the store is still usable afterwards (the connection went back clean).
    s.apply(&[Change::ConferenceCreated(fresh.clone())])
        .await
        .unwrap();
    assert_eq!(get_conf(s, &fresh).await, fresh);
}

async fn date_updated_never_moves_back(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let c = conference(1, &a, "clock", t(100));
    let p = participant(1, &c, t(100));
    s.apply(&[
        Change::ConferenceCreated(c.clone()),
        Change::ParticipantJoined(p.clone()),
    ])
    .await
    .unwrap();

    // Every kind of change, each stamped earlier than what is stored.
    let older = [
        Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::InProgress,
            at: t(50),
        },
        Change::ParticipantJoined(participant(2, &c, t(60))),
        Change::ParticipantMuted {
            conference_sid: c.sid.clone(),
            call_sid: p.call_sid.clone(),
            muted: true,
            at: t(70),
        },
        Change::ParticipantLeft {
            conference_sid: c.sid.clone(),
            call_sid: call_sid(2),
            at: t(80),
        },
    ];
    for change in older {
        s.apply(std::slice::from_ref(&change)).await.unwrap();
        assert_eq!(get_conf(s, &c).await.date_updated, t(100), "{change:?}");
    }
    // The changes themselves still happened.
    let got = s
        .participant(&a, &c.sid, &p.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert!(got.muted);
    assert_eq!(
        got.date_updated,
        t(100),
        "a participant's date_updated does not go back either"
    );
    assert_eq!(get_conf(s, &c).await.status, ConferenceStatus::InProgress);

    // Later ones move it forward, by the microsecond.
    let later = Timestamp::from_micros(t(100).as_micros() + 1);
    s.apply(&[Change::ParticipantMuted {
        conference_sid: c.sid.clone(),
        call_sid: p.call_sid.clone(),
        muted: false,
        at: later,
    }])
    .await
    .unwrap();
    assert_eq!(get_conf(s, &c).await.date_updated, later);
    let got = s
        .participant(&a, &c.sid, &p.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((got.muted, got.date_updated), (false, later));

    // Within one batch the maximum wins, whatever the order.
    s.apply(&[
        Change::ParticipantMuted {
            conference_sid: c.sid.clone(),
            call_sid: p.call_sid.clone(),
            muted: true,
            at: t(300),
        },
        Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(200),
        },
    ])
    .await
    .unwrap();
    let got = get_conf(s, &c).await;
    assert_eq!(
        (got.status, got.date_updated),
        (ConferenceStatus::Completed, t(300))
    );
}

async fn completing_removes_participants(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let c = conference(1, &a, "ending", t(0));
    let other = conference(2, &a, "staying", t(0));
    let mut batch = vec![
        Change::ConferenceCreated(c.clone()),
        Change::ConferenceCreated(other.clone()),
    ];
    for n in 0..3 {
        batch.push(Change::ParticipantJoined(participant(n, &c, t(1))));
    }
    batch.push(Change::ParticipantJoined(participant(10, &other, t(1))));
    s.apply(&batch).await.unwrap();
    assert_eq!(participants_of(s, &c).await.len(), 3);

    // In-progress keeps them.
    s.apply(&[Change::ConferenceStatus {
        sid: c.sid.clone(),
        status: ConferenceStatus::InProgress,
        at: t(2),
    }])
    .await
    .unwrap();
    assert_eq!(participants_of(s, &c).await.len(), 3);

    // Completed, then the leaves that caused it (already gone: not an error).
    s.apply(&[
        Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(3),
        },
        Change::ParticipantLeft {
            conference_sid: c.sid.clone(),
            call_sid: call_sid(1),
            at: t(3),
        },
    ])
    .await
    .unwrap();
    assert_eq!(participants_of(s, &c).await, vec![]);
    assert_eq!(s.participant(&a, &c.sid, &call_sid(0)).await.unwrap(), None);
    assert_eq!(
        participants_of(s, &other).await.len(),
        1,
        "only that conference's"
    );
    // Its calls may join another room now.
    let next = conference(3, &a, "next", t(4));
    s.apply(&[
        Change::ConferenceCreated(next.clone()),
        Change::ParticipantJoined(participant(0, &next, t(4))),
    ])
    .await
    .unwrap();
}

async fn one_live_conference_per_name(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let b = with_account(s, 2).await;
    let first = conference(1, &a, "standup", t(0));
    s.apply(&[Change::ConferenceCreated(first.clone())])
        .await
        .unwrap();

    // Live (init, then in-progress): the name is taken in this account.
    let second = conference(2, &a, "standup", t(1));
    assert!(matches!(
        s.apply(&[Change::ConferenceCreated(second.clone())]).await,
        Err(StoreError::Conflict(_))
    ));
    s.apply(&[Change::ConferenceStatus {
        sid: first.sid.clone(),
        status: ConferenceStatus::InProgress,
        at: t(2),
    }])
    .await
    .unwrap();
    assert!(matches!(
        s.apply(&[Change::ConferenceCreated(second.clone())]).await,
        Err(StoreError::Conflict(_))
    ));
    // Names are exact: another spelling is another room.
    s.apply(&[Change::ConferenceCreated(conference(
        4,
        &a,
        "Standup",
        t(1),
    ))])
    .await
    .unwrap();
    // Another account's room of the same name is its own.
    s.apply(&[Change::ConferenceCreated(conference(
        3,
        &b,
        "standup",
        t(1),
    ))])
    .await
    .unwrap();

    // Completed: the name is free again, and a new sid takes it.
    s.apply(&[Change::ConferenceStatus {
        sid: first.sid.clone(),
        status: ConferenceStatus::Completed,
        at: t(3),
    }])
    .await
    .unwrap();
    s.apply(&[Change::ConferenceCreated(second.clone())])
        .await
        .unwrap();
    // ...once.
    let third = conference(5, &a, "standup", t(4));
    assert!(matches!(
        s.apply(&[Change::ConferenceCreated(third.clone())]).await,
        Err(StoreError::Conflict(_))
    ));
    // Reviving the completed one while the name is live again is refused too.
    let revive = Change::ConferenceStatus {
        sid: first.sid.clone(),
        status: ConferenceStatus::Init,
        at: t(5),
    };
    assert!(matches!(
        s.apply(&[revive]).await,
        Err(StoreError::Conflict(_))
    ));

    let filter = ConferenceFilter {
        friendly_name: Some("standup".into()),
        ..Default::default()
    };
    let (items, total) = s.conferences(&a, &filter, all()).await.unwrap();
    assert_eq!(total, 2);
    // Newest date_updated first: the first room completed (t 3) after the
    // second was created (t 1); the refused changes moved nothing.
    let statuses: Vec<_> = items
        .iter()
        .map(|c| (c.sid.clone(), c.status, c.date_updated))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (first.sid.clone(), ConferenceStatus::Completed, t(3)),
            (second.sid.clone(), ConferenceStatus::Init, t(1)),
        ]
    );
    // A sid is a sid: the same one twice is a conflict even under another name.
    let same_sid = conference(2, &a, "other", t(6));
    assert!(matches!(
        s.apply(&[Change::ConferenceCreated(same_sid)]).await,
        Err(StoreError::Conflict(_))
    ));
}

async fn reads_are_scoped_by_account(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let b = with_account(s, 2).await;
    let ca = conference(1, &a, "a's room", t(0));
    let cb = conference(2, &b, "b's room", t(0));
    let pa = participant(1, &ca, t(1));
    let pb = participant(2, &cb, t(1));
    s.apply(&[
        Change::ConferenceCreated(ca.clone()),
        Change::ConferenceCreated(cb.clone()),
        Change::ParticipantJoined(pa.clone()),
        Change::ParticipantJoined(pb.clone()),
    ])
    .await
    .unwrap();

    // The join moved date_updated.
    let ca = ConferenceRecord {
        date_updated: t(1),
        ..ca
    };
    assert_eq!(s.conference(&a, &ca.sid).await.unwrap(), Some(ca.clone()));
    assert_eq!(s.conference(&b, &ca.sid).await.unwrap(), None);
    assert_eq!(s.conference(&a, &cb.sid).await.unwrap(), None);

    assert_eq!(
        s.participant(&a, &ca.sid, &pa.call_sid).await.unwrap(),
        Some(pa.clone())
    );
    assert_eq!(
        s.participant(&b, &ca.sid, &pa.call_sid).await.unwrap(),
        None,
        "other account"
    );
    assert_eq!(
        s.participant(&a, &cb.sid, &pa.call_sid).await.unwrap(),
        None,
        "other conference"
    );
    assert_eq!(
        s.participant(&b, &cb.sid, &pa.call_sid).await.unwrap(),
        None,
        "b's room, a's call"
    );
    assert_eq!(
        s.participant(&a, &ca.sid, &pb.call_sid).await.unwrap(),
        None,
        "a's room, b's call"
    );

    let (items, total) = s
        .conferences(&a, &ConferenceFilter::default(), all())
        .await
        .unwrap();
    assert_eq!((items, total), (vec![ca.clone()], 1));
    let none = ParticipantFilter::default();
    assert_eq!(
        s.participants(&b, &ca.sid, &none, all()).await.unwrap(),
        (vec![], 0)
    );
    assert_eq!(
        s.participants(&a, &ca.sid, &none, all()).await.unwrap(),
        (vec![pa.clone()], 1)
    );
    let unknown = account_sid(9);
    assert_eq!(
        s.conferences(&unknown, &ConferenceFilter::default(), all())
            .await
            .unwrap(),
        (vec![], 0)
    );

    // Completed conferences are remembered after the first read; the
    // remembered copy is scoped by account like the table.
    s.apply(&[
        Change::ParticipantLeft {
            conference_sid: cb.sid.clone(),
            call_sid: pb.call_sid.clone(),
            at: t(3),
        },
        Change::ConferenceStatus {
            sid: cb.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(3),
        },
    ])
    .await
    .unwrap();
    for _ in 0..2 {
        let done = s.conference(&b, &cb.sid).await.unwrap().unwrap();
        assert_eq!(
            (done.status, done.date_updated),
            (ConferenceStatus::Completed, t(3))
        );
        assert_eq!(s.conference(&a, &cb.sid).await.unwrap(), None);
    }

    // A participant cannot be recorded under another account than its room's.
    let sneaky = ParticipantRecord {
        account_sid: b.clone(),
        ..participant(3, &ca, t(2))
    };
    assert!(matches!(
        s.apply(&[Change::ParticipantJoined(sneaky)]).await,
        Err(StoreError::NotFound(_))
    ));
}

/// List totals without a name or DateUpdated filter come from per-day
/// counts, not rows; after creations and status changes on several days
/// (one of them before 1970), every Status × whole-day DateCreated filter
/// must total what the rows say.
async fn totals_from_day_counts_agree_with_the_rows(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let day = 86_400;
    // Ten conferences a day over five days around t(0), each its own name,
    // plus one on 1969-12-31 (a negative timestamp).
    let mut rooms: Vec<ConferenceRecord> = (0..50u64)
        .map(|n| {
            let at = t(i64::try_from(n).unwrap() * day / 10 - 2 * day);
            conference(100 + n, &a, &format!("d{n}"), at)
        })
        .collect();
    rooms.push(conference(99, &a, "old", Timestamp::from_secs(-3600)));
    create_all(s, &rooms).await;
    // Move some forward: every third starts, every fourth completes.
    let mut changes = Vec::new();
    for (i, c) in rooms.iter_mut().enumerate() {
        for (every, status) in [
            (3, ConferenceStatus::InProgress),
            (4, ConferenceStatus::Completed),
        ] {
            if i % every == 0 && c.status < status {
                c.status = status;
                changes.push(Change::ConferenceStatus {
                    sid: c.sid.clone(),
                    status,
                    at: t(10 * day),
                });
            }
        }
    }
    s.apply(&changes).await.unwrap();

    let midnights: Vec<Timestamp> = [
        "1969-12-31",
        "1970-01-01",
        "2023-11-12",
        "2023-11-13",
        "2023-11-14",
        "2023-11-15",
        "2023-11-16",
        "2023-11-17",
    ]
    .iter()
    .map(|d| Timestamp::day_bounds(d).unwrap().0)
    .collect();
    let mut ranges = vec![DateRange::default()];
    for &m in &midnights {
        ranges.push(DateRange {
            from: Some(m),
            until: None,
        });
        ranges.push(DateRange {
            from: None,
            until: Some(m),
        });
        for &n in &midnights {
            if m < n {
                ranges.push(DateRange {
                    from: Some(m),
                    until: Some(n),
                });
            }
        }
    }
    let statuses = [
        None,
        Some(ConferenceStatus::Init),
        Some(ConferenceStatus::InProgress),
        Some(ConferenceStatus::Completed),
    ];
    for status in statuses {
        for range in &ranges {
            let filter = ConferenceFilter {
                status,
                date_created: *range,
                ..ConferenceFilter::default()
            };
            let expected = rooms.iter().filter(|c| filter.matches(c)).count() as u64;
            let (items, total) = s.conferences(&a, &filter, all()).await.unwrap();
            assert_eq!(total, expected, "{filter:?}");
            assert_eq!(items.len() as u64, expected, "{filter:?}");
        }
    }
}

/// A FriendlyName list's total comes from the per-name counts
/// (`name_counts`): a name reused room after room, each started and
/// completed but the last, and another name beside it. After every write,
/// and after start-up recovery completes the live ones and recounts, each
/// name's list (alone and with each Status) totals what the rows say, and
/// the integrity check is clean.
async fn name_totals_follow_every_status_change(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let mut rooms: Vec<ConferenceRecord> = Vec::new();
    for n in 0..4i64 {
        let c = conference(10 + n as u64, &a, "standup", t(n * 100));
        s.apply(&[Change::ConferenceCreated(c.clone())])
            .await
            .unwrap();
        rooms.push(c);
        check_name_totals(s, &a, &rooms).await;
        let last = n == 3;
        for status in [ConferenceStatus::InProgress, ConferenceStatus::Completed] {
            if last && status == ConferenceStatus::Completed {
                break;
            }
            let room = rooms.last_mut().unwrap();
            room.status = status;
            s.apply(&[Change::ConferenceStatus {
                sid: room.sid.clone(),
                status,
                at: t(n * 100 + 10),
            }])
            .await
            .unwrap();
            check_name_totals(s, &a, &rooms).await;
        }
    }
    let retro = conference(20, &a, "retro", t(500));
    s.apply(&[Change::ConferenceCreated(retro.clone())])
        .await
        .unwrap();
    rooms.push(retro);
    check_name_totals(s, &a, &rooms).await;

    assert_eq!(s.complete_live_conferences(t(600)).await.unwrap(), 2);
    for room in &mut rooms {
        room.status = ConferenceStatus::Completed;
    }
    check_name_totals(s, &a, &rooms).await;
}

/// A seek reads the day sums in batches from the end nearer the page
/// (src/day_counts.rs): rooms on 300 different days, more than a first
/// batch holds, so pages from both ends and across batches; every page of
/// every size through the seek is the reference's, and its total exact.
async fn a_seek_walks_hundreds_of_days_from_either_end(db: &TestDb) {
    let s = &db.store;
    let seeking = s.clone().with_shallow_rows(0);
    let a = with_account(s, 1).await;
    let day = 86_400;
    let mut rooms: Vec<ConferenceRecord> = (0..360u64)
        .map(|n| {
            // Days 0..300, a few days with two rooms, some days none.
            let on = i64::try_from(n % 300).unwrap() * day + i64::try_from(n).unwrap();
            let mut c = conference(1000 + n, &a, &format!("r{n}"), t(on - 300 * day));
            if n % 4 == 0 {
                c.status = ConferenceStatus::Completed;
            }
            c
        })
        .collect();
    rooms.retain(|c| !c.sid.as_str().ends_with('7'));
    create_all(s, &rooms).await;
    every_page_is_the_reference(&seeking, &a, &rooms, &[1, 7, 50]).await;
}

/// Every page of each size in `sizes` of `a`'s conference list, unfiltered
/// and by Status completed, through `seeking`, is the reference's page of
/// `rooms`, with its total.
async fn every_page_is_the_reference(
    seeking: &Store,
    a: &AccountSid,
    rooms: &[ConferenceRecord],
    sizes: &[u64],
) {
    for status in [None, Some(ConferenceStatus::Completed)] {
        let filter = ConferenceFilter {
            status,
            ..ConferenceFilter::default()
        };
        let want = reference(rooms, a, &filter);
        for &size in sizes {
            for page in 0..=(want.len() as u64).div_ceil(size) {
                let (got, total) = seeking
                    .conferences(a, &filter, PageRequest { page, size })
                    .await
                    .unwrap();
                assert_eq!(total, want.len() as u64, "{filter:?}");
                let expected: Vec<_> = want
                    .iter()
                    .skip((page * size) as usize)
                    .take(size as usize)
                    .cloned()
                    .collect();
                assert_eq!(got, expected, "{filter:?} page {page} size {size}");
            }
        }
    }
}

/// A deep page whose first day holds hundreds of the list's rows starts
/// its walk at an hour of that day (src/guides.rs, `hour_start`): two days
/// of 400 rooms, every page of 50 and of 7 from both ends of each day,
/// unfiltered and by Status, is the reference's; again after a room is
/// added to each day (the counts' version moves on: the guide and its
/// hours are read again).
async fn a_deep_page_starts_at_an_hour_of_its_day(db: &TestDb) {
    let s = &db.store;
    let seeking = s.clone().with_shallow_rows(0);
    let a = with_account(s, 1).await;
    let day = 86_400;
    let mut rooms: Vec<ConferenceRecord> = (0..800u64)
        .map(|n| {
            let n_i = i64::try_from(n).unwrap();
            let on = (n_i / 400) * day + (n_i % 400) * 216;
            let mut c = conference(5000 + n, &a, &format!("h{n}"), t(on - 2 * day));
            if n % 3 != 0 {
                c.status = ConferenceStatus::Completed;
            }
            c
        })
        .collect();
    create_all(s, &rooms).await;
    every_page_is_the_reference(&seeking, &a, &rooms, &[7, 50]).await;
    // A completed room in the middle of each day.
    let added: Vec<ConferenceRecord> = (0..2u64)
        .map(|d| {
            let on = i64::try_from(d).unwrap() * day + 43_201;
            let mut c = conference(9000 + d, &a, "added", t(on - 2 * day));
            c.status = ConferenceStatus::Completed;
            c
        })
        .collect();
    create_all(s, &added).await;
    rooms.extend(added);
    every_page_is_the_reference(&seeking, &a, &rooms, &[7, 50]).await;
}

/// One batch whose rooms land in 600 different hours writes their hour
/// counts as upserts of many rows each (src/day_counts.rs,
/// `CountDeltas::write`), and a second batch moves half of them: every
/// count agrees with a recount of the rows.
async fn one_batch_counts_hundreds_of_hours_exactly(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let rooms: Vec<ConferenceRecord> = (0..600u64)
        .map(|n| {
            conference(
                20_000 + n,
                &a,
                &format!("e{n}"),
                t(i64::try_from(n).unwrap() * 3_600),
            )
        })
        .collect();
    create_all(s, &rooms).await;
    assert_eq!(s.check_integrity().await.unwrap(), Vec::<String>::new());
    let completed: Vec<Change> = rooms
        .iter()
        .step_by(2)
        .map(|c| Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(700 * 3_600),
        })
        .collect();
    s.apply(&completed).await.unwrap();
    assert_eq!(s.check_integrity().await.unwrap(), Vec::<String>::new());
}

/// Each name's list, alone and with each Status, against `rooms`.
async fn check_name_totals(s: &Store, a: &AccountSid, rooms: &[ConferenceRecord]) {
    for name in ["standup", "retro", "nobody"] {
        for status in [
            None,
            Some(ConferenceStatus::Init),
            Some(ConferenceStatus::InProgress),
            Some(ConferenceStatus::Completed),
        ] {
            let filter = ConferenceFilter {
                status,
                friendly_name: Some(name.to_owned()),
                ..ConferenceFilter::default()
            };
            let want = reference(rooms, a, &filter);
            let mut want: Vec<&str> = want.iter().map(|c| c.sid.as_str()).collect();
            let (items, total) = s.conferences(a, &filter, all()).await.unwrap();
            let mut got: Vec<&str> = items.iter().map(|c| c.sid.as_str()).collect();
            want.sort_unstable();
            got.sort_unstable();
            assert_eq!(total, want.len() as u64, "{filter:?}");
            assert_eq!(got, want, "{filter:?}");
        }
    }
    assert_eq!(s.check_integrity().await.unwrap(), Vec::<String>::new());
}

/// Creates every conference of `rooms` in one batch.
async fn create_all(s: &Store, rooms: &[ConferenceRecord]) {
    let created: Vec<_> = rooms
        .iter()
        .cloned()
        .map(Change::ConferenceCreated)
        .collect();
    s.apply(&created).await.unwrap();
}

/// The account's rooms matching `filter` in list order (newest
/// `date_updated` first, ties by sid): what every page is checked against.
fn reference(
    rooms: &[ConferenceRecord],
    a: &AccountSid,
    filter: &ConferenceFilter,
) -> Vec<ConferenceRecord> {
    let mut want: Vec<_> = rooms
        .iter()
        .filter(|c| c.account_sid == *a && filter.matches(c))
        .cloned()
        .collect();
    want.sort_by(|x, y| {
        y.date_updated
            .cmp(&x.date_updated)
            .then_with(|| x.sid.cmp(&y.sid))
    });
    want
}

/// Deep pages are found by seeking through the per-day counts (src/reads.rs),
/// so those counts must follow every write that moves a conference's status
/// or DateUpdated into another day. Rooms over sixty days, then rounds of
/// writes a day or more apart (starts, completions, joins, mutes), and after
/// each round every page of every list the day counts answer is the
/// reference's page, its total exact, and the integrity check clean.
async fn deep_pages_and_totals_stay_exact_under_writes(db: &TestDb) {
    let s = &db.store;
    // Every page through the seek too, not only the ones past row 1,000.
    let seeking = s.clone().with_shallow_rows(0);
    let a = with_account(s, 1).await;
    let other = with_account(s, 2).await;
    let day = 86_400;
    let mut rng = SplitMix64(0xdee9);
    let mut rooms: Vec<ConferenceRecord> = Vec::new();
    for n in 0..360u64 {
        let owner = if n % 9 == 0 { &other } else { &a };
        let created = t(i64::try_from(rng.below(60 * 24)).unwrap() * 3600 - 60 * day);
        let mut c = conference(1000 + n, owner, &format!("r{n}"), created);
        if n % 3 == 0 {
            c.status = ConferenceStatus::Completed;
            c.date_updated = Timestamp::from_micros(
                created.as_micros() + i64::try_from(rng.below(3 * 3600)).unwrap() * 1_000_000,
            );
        }
        rooms.push(c);
    }
    create_all(s, &rooms).await;

    let midnight = |offset_days: i64| {
        Timestamp::day_bounds("2023-11-14").unwrap().0.as_micros() + offset_days * day * 1_000_000
    };
    let days = |from: Option<i64>, until: Option<i64>| DateRange {
        from: from.map(|d| Timestamp::from_micros(midnight(d))),
        until: until.map(|d| Timestamp::from_micros(midnight(d))),
    };
    let mut filters = vec![ConferenceFilter::default()];
    for status in [
        ConferenceStatus::Init,
        ConferenceStatus::InProgress,
        ConferenceStatus::Completed,
    ] {
        filters.push(ConferenceFilter {
            status: Some(status),
            ..Default::default()
        });
    }
    for range in [
        days(Some(-30), None),
        days(None, Some(-30)),
        days(Some(-45), Some(-44)),
        days(Some(-20), Some(3)),
    ] {
        filters.push(ConferenceFilter {
            date_updated: range,
            ..Default::default()
        });
        filters.push(ConferenceFilter {
            date_created: range,
            ..Default::default()
        });
        filters.push(ConferenceFilter {
            status: Some(ConferenceStatus::Completed),
            date_created: range,
            date_updated: days(Some(-50), None),
            ..Default::default()
        });
    }

    let mut next_call = 0u64;
    for round in 0..5i64 {
        // Rounds are a day or two apart, so DateUpdated changes day.
        let at = t(round * 2 * day + i64::try_from(rng.below(3600)).unwrap());
        let mut changes = Vec::new();
        for c in rooms
            .iter_mut()
            .filter(|c| c.status != ConferenceStatus::Completed)
        {
            let step = Timestamp::from_micros(
                at.as_micros() + i64::try_from(rng.below(600)).unwrap() * 1_000_000,
            );
            match rng.below(4) {
                0 => {
                    let status = if c.status == ConferenceStatus::Init {
                        ConferenceStatus::InProgress
                    } else {
                        ConferenceStatus::Completed
                    };
                    c.status = status;
                    changes.push(Change::ConferenceStatus {
                        sid: c.sid.clone(),
                        status,
                        at: step,
                    });
                }
                1 => {
                    next_call += 1;
                    changes.push(Change::ParticipantJoined(participant(next_call, c, step)));
                }
                _ => continue,
            }
            c.date_updated = c.date_updated.max(step);
        }
        s.apply(&changes).await.unwrap();

        for (account, store) in [(&a, s), (&other, s), (&a, &seeking), (&other, &seeking)] {
            for filter in &filters {
                let want = reference(&rooms, account, filter);
                for size in [7u64, 50] {
                    let pages = want.len().div_ceil(size as usize) as u64;
                    for page in 0..=pages {
                        let (items, total) = store
                            .conferences(account, filter, PageRequest { page, size })
                            .await
                            .unwrap();
                        assert_eq!(total, want.len() as u64, "round {round} {filter:?}");
                        let from = (page * size) as usize;
                        let expected =
                            &want[from.min(want.len())..(from + size as usize).min(want.len())];
                        assert_eq!(
                            items, expected,
                            "round {round} {filter:?} page {page} of {size}"
                        );
                    }
                }
            }
        }
        assert_eq!(
            s.check_integrity().await.unwrap(),
            Vec::<String>::new(),
            "round {round}"
        );
    }
    // The rounds moved rooms across days and statuses, not vacuously.
    let completed = rooms
        .iter()
        .filter(|c| c.status == ConferenceStatus::Completed)
        .count();
    assert!(completed > 200, "{completed}");
    assert!(next_call > 50, "{next_call}");

    // Start-up recovery recounts: still exact.
    s.complete_live_conferences(t(20 * day)).await.unwrap();
    for c in rooms
        .iter_mut()
        .filter(|c| c.status != ConferenceStatus::Completed)
    {
        c.status = ConferenceStatus::Completed;
        c.date_updated = c.date_updated.max(t(20 * day));
    }
    for (filter, store) in filters.iter().flat_map(|f| [(f, s), (f, &seeking)]) {
        let want = reference(&rooms, &a, filter);
        let (items, total) = store
            .conferences(&a, filter, PageRequest { page: 3, size: 20 })
            .await
            .unwrap();
        assert_eq!(total, want.len() as u64, "{filter:?}");
        assert_eq!(
            items,
            want[60.min(want.len())..80.min(want.len())],
            "{filter:?}"
        );
    }
    assert_eq!(s.check_integrity().await.unwrap(), Vec::<String>::new());
}

/// A writer (its own pool, as another process would be) creates and
/// completes rooms while readers page through the list: every answer is
/// one snapshot (its page holds exactly the rows its total leaves for it),
/// and its total lies between what had committed when the read began and
/// what had begun to commit when it ended. After the writer, exact.
async fn a_total_is_never_wrong_once_a_write_commits(db: &TestDb) {
    let a = with_account(&db.store, 1).await;
    let writer = db.connect_again().await;
    let begun = std::sync::Arc::new(AtomicU64::new(0));
    let committed = std::sync::Arc::new(AtomicU64::new(0));
    let batches = 60u64;
    let write = {
        let (a, begun, committed) = (a.clone(), begun.clone(), committed.clone());
        tokio::spawn(async move {
            for b in 0..batches {
                // Three new rooms a batch, over the days, and the oldest
                // live one completed: the total grows by three.
                let rooms: Vec<_> = (0..3)
                    .map(|k| {
                        let n = b * 3 + k;
                        conference(
                            n,
                            &a,
                            &format!("w{n}"),
                            t(i64::try_from(n).unwrap() * 20_000),
                        )
                    })
                    .collect();
                let mut changes: Vec<_> = rooms
                    .iter()
                    .cloned()
                    .map(Change::ConferenceCreated)
                    .collect();
                changes.push(Change::ConferenceStatus {
                    sid: rooms[0].sid.clone(),
                    status: ConferenceStatus::Completed,
                    at: t(i64::try_from(b).unwrap() * 60_000 + 7),
                });
                begun.fetch_add(3, Ordering::SeqCst);
                writer.apply(&changes).await.unwrap();
                committed.fetch_add(3, Ordering::SeqCst);
            }
            writer.close().await;
        })
    };
    let mut reads = 0u64;
    let mut page = 0u64;
    while !write.is_finished() || reads < 20 {
        let size = 7;
        let low = committed.load(Ordering::SeqCst);
        let (items, total) = db
            .store
            .conferences(&a, &ConferenceFilter::default(), PageRequest { page, size })
            .await
            .unwrap();
        let high = begun.load(Ordering::SeqCst);
        assert!(low <= total && total <= high, "{low} <= {total} <= {high}");
        let left = total.saturating_sub(page * size).min(size);
        assert_eq!(items.len() as u64, left, "page {page} of total {total}");
        assert!(
            items
                .windows(2)
                .all(|w| (w[1].date_updated, &w[0].sid) <= (w[0].date_updated, &w[1].sid))
        );
        reads += 1;
        page = (page + 3) % 30;
    }
    write.await.unwrap();
    let (_, total) = db
        .store
        .conferences(&a, &ConferenceFilter::default(), all())
        .await
        .unwrap();
    assert_eq!(total, batches * 3);
    let completed = ConferenceFilter {
        status: Some(ConferenceStatus::Completed),
        ..Default::default()
    };
    let (items, total) = db.store.conferences(&a, &completed, all()).await.unwrap();
    assert_eq!((items.len() as u64, total), (batches, batches));
    assert!(reads >= 20);
}

/// A few hundred generated conferences in two accounts; every filter alone
/// and combined must give what `ConferenceFilter::matches` gives, in the
/// documented order, with the right total, page by page.
async fn conference_lists_agree_with_the_reference(db: &TestDb) {
    let s = &db.store;
    let accounts = [with_account(s, 1).await, with_account(s, 2).await];
    // A deterministic generator, so a failure reproduces.
    let mut rng = SplitMix64(0x5eed);
    let mut live_names: HashSet<(usize, String)> = HashSet::new();
    let mut all_rooms = Vec::new();
    for n in 0..320u64 {
        let owner = usize::from(rng.below(3) == 0); // two thirds in the first account
        let status = match rng.below(10) {
            0..=5 => ConferenceStatus::Completed,
            6..=7 => ConferenceStatus::InProgress,
            _ => ConferenceStatus::Init,
        };
        let mut name = format!("room-{}", rng.below(6));
        if status != ConferenceStatus::Completed && !live_names.insert((owner, name.clone())) {
            name = format!("solo-{n}");
        }
        // Coarse times, so that many rooms share a date_updated and the sid
        // has to settle the order.
        let created = t(i64::try_from(rng.below(120)).unwrap() * 1800);
        let updated = Timestamp::from_micros(
            created.as_micros() + i64::try_from(rng.below(4)).unwrap() * 3_600_000_000,
        );
        all_rooms.push(ConferenceRecord {
            reason_ended: None,
            call_sid_ending: None,
            sid: ConferenceSid::from_random(bytes(rng.next(), 0xcf)),
            account_sid: accounts[owner].clone(),
            friendly_name: name,
            status,
            date_created: created,
            date_updated: updated,
        });
    }
    let batch: Vec<_> = all_rooms
        .iter()
        .cloned()
        .map(Change::ConferenceCreated)
        .collect();
    s.apply(&batch).await.unwrap();

    // Filter values taken from the data, so ranges start and end exactly on
    // stored values (checks >= and < at the edge).
    let pick = |i: usize| all_rooms[i * 37 % all_rooms.len()].clone();
    let (c1, c2) = (
        pick(3).date_created.min(pick(5).date_created),
        pick(3).date_created.max(pick(5).date_created),
    );
    let (u1, u2) = (
        pick(7).date_updated.min(pick(8).date_updated),
        pick(7).date_updated.max(pick(8).date_updated),
    );
    let day = Timestamp::day_bounds("2023-11-15").unwrap(); // t(0) is 2023-11-14T22:13:20Z
    let range = |from, until| DateRange { from, until };
    let mut filters = vec![
        ConferenceFilter::default(),
        ConferenceFilter {
            friendly_name: Some("room-1".into()),
            ..Default::default()
        },
        ConferenceFilter {
            friendly_name: Some("no such room".into()),
            ..Default::default()
        },
        ConferenceFilter {
            friendly_name: Some(pick(9).friendly_name),
            ..Default::default()
        },
        ConferenceFilter {
            date_created: range(Some(c1), None),
            ..Default::default()
        },
        ConferenceFilter {
            date_created: range(None, Some(c2)),
            ..Default::default()
        },
        ConferenceFilter {
            date_created: range(Some(c1), Some(c2)),
            ..Default::default()
        },
        ConferenceFilter {
            date_created: range(Some(day.0), Some(day.1)),
            ..Default::default()
        },
        ConferenceFilter {
            date_updated: range(Some(u1), None),
            ..Default::default()
        },
        ConferenceFilter {
            date_updated: range(None, Some(u2)),
            ..Default::default()
        },
        ConferenceFilter {
            date_updated: range(Some(day.0), Some(day.1)),
            ..Default::default()
        },
        ConferenceFilter {
            status: Some(ConferenceStatus::Completed),
            friendly_name: Some("room-2".into()),
            ..Default::default()
        },
        ConferenceFilter {
            status: Some(ConferenceStatus::Completed),
            date_created: range(Some(c1), Some(c2)),
            ..Default::default()
        },
        ConferenceFilter {
            status: Some(ConferenceStatus::InProgress),
            date_updated: range(Some(day.0), None),
            ..Default::default()
        },
        ConferenceFilter {
            friendly_name: Some("room-3".into()),
            date_updated: range(Some(u1), Some(u2)),
            ..Default::default()
        },
        ConferenceFilter {
            status: Some(ConferenceStatus::Completed),
            friendly_name: Some("room-0".into()),
            date_created: range(Some(day.0), None),
            date_updated: range(None, Some(day.1)),
        },
    ];
    for status in [
        ConferenceStatus::Init,
        ConferenceStatus::InProgress,
        ConferenceStatus::Completed,
    ] {
        filters.push(ConferenceFilter {
            status: Some(status),
            ..Default::default()
        });
    }

    let mut nonempty = 0;
    for account in &accounts {
        for filter in &filters {
            let mut want: Vec<_> = all_rooms
                .iter()
                .filter(|c| c.account_sid == *account && filter.matches(c))
                .cloned()
                .collect();
            want.sort_by(|x, y| {
                y.date_updated
                    .cmp(&x.date_updated)
                    .then_with(|| x.sid.cmp(&y.sid))
            });
            if !want.is_empty() {
                nonempty += 1;
            }
            for size in [7u64, 50, 1000] {
                let mut got = Vec::new();
                let mut page = 0;
                loop {
                    let (items, total) = s
                        .conferences(account, filter, PageRequest { page, size })
                        .await
                        .unwrap();
                    assert_eq!(total, want.len() as u64, "{filter:?}");
                    assert!(items.len() as u64 <= size);
                    if items.is_empty() {
                        break;
                    }
                    got.extend(items);
                    page += 1;
                }
                assert_eq!(
                    page,
                    want.len().div_ceil(size as usize) as u64,
                    "{filter:?} size {size}"
                );
                assert_eq!(got, want, "{filter:?} size {size}");
            }
        }
    }
    // The generated data must exercise the filters, not pass vacuously.
    assert!(nonempty >= filters.len(), "only {nonempty} non-empty lists");
    let completed_names: BTreeSet<_> = all_rooms
        .iter()
        .filter(|c| c.status == ConferenceStatus::Completed)
        .map(|c| c.friendly_name.clone())
        .collect();
    assert!(completed_names.len() >= 6);
    let mut updated: Vec<_> = all_rooms
        .iter()
        .map(|c| (c.account_sid.clone(), c.date_updated))
        .collect();
    updated.sort();
    updated.dedup();
    assert!(
        updated.len() < all_rooms.len() * 3 / 4,
        "too few ties in date_updated"
    );
}

async fn paging_past_the_end(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let batch: Vec<_> = (0..5)
        .map(|n| {
            Change::ConferenceCreated(conference(
                n,
                &a,
                &format!("r{n}"),
                t(i64::try_from(n).unwrap()),
            ))
        })
        .collect();
    s.apply(&batch).await.unwrap();
    let none = ConferenceFilter::default();

    let (items, total) = s
        .conferences(&a, &none, PageRequest { page: 1, size: 3 })
        .await
        .unwrap();
    assert_eq!((items.len(), total), (2, 5));
    let (items, total) = s
        .conferences(&a, &none, PageRequest { page: 2, size: 3 })
        .await
        .unwrap();
    assert_eq!((items.len(), total), (0, 5));
    let (items, total) = s
        .conferences(
            &a,
            &none,
            PageRequest {
                page: 1_000_000,
                size: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!((items.len(), total), (0, 5));
    // An offset that does not fit SQL's OFFSET.
    let (items, total) = s
        .conferences(
            &a,
            &none,
            PageRequest {
                page: u64::MAX,
                size: 2,
            },
        )
        .await
        .unwrap();
    assert_eq!((items.len(), total), (0, 5));
    let (items, total) = s
        .conferences(
            &a,
            &none,
            PageRequest {
                page: u64::MAX / 1000,
                size: 1000,
            },
        )
        .await
        .unwrap();
    assert_eq!((items.len(), total), (0, 5));

    let c = conference(0, &a, "r0", t(0));
    s.apply(&[Change::ParticipantJoined(participant(1, &c, t(1)))])
        .await
        .unwrap();
    let pf = ParticipantFilter::default();
    assert_eq!(
        s.participants(&a, &c.sid, &pf, PageRequest { page: 1, size: 1 })
            .await
            .unwrap()
            .1,
        1
    );
    assert!(
        s.participants(&a, &c.sid, &pf, PageRequest { page: 1, size: 1 })
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        s.participants(
            &a,
            &c.sid,
            &pf,
            PageRequest {
                page: u64::MAX,
                size: 9
            }
        )
        .await
        .unwrap()
        .0
        .is_empty()
    );
}

async fn participants_in_join_order_with_muted_filter(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let c = conference(1, &a, "ordered", t(0));
    s.apply(&[Change::ConferenceCreated(c.clone())])
        .await
        .unwrap();
    // Join times out of sid order, with a tie (settled by call sid), and
    // recorded in an order that is neither.
    let joins = [
        (5, 30, false),
        (1, 10, true),
        (4, 20, false),
        (2, 20, true),
        (3, 40, false),
        (6, 20, true),
    ];
    let mut batch = Vec::new();
    for (n, at, muted) in joins {
        batch.push(Change::ParticipantJoined(ParticipantRecord {
            muted,
            ..participant(n, &c, t(at))
        }));
    }
    s.apply(&batch).await.unwrap();

    let mut want: Vec<_> = joins
        .iter()
        .map(|&(n, at, muted)| ParticipantRecord {
            muted,
            ..participant(n, &c, t(at))
        })
        .collect();
    want.sort_by(|x, y| {
        x.date_created
            .cmp(&y.date_created)
            .then_with(|| x.call_sid.cmp(&y.call_sid))
    });
    let order: Vec<_> = want.iter().map(|p| p.call_sid.clone()).collect();
    assert_eq!(order, [1, 2, 4, 6, 5, 3].map(call_sid).to_vec());

    for muted in [None, Some(true), Some(false)] {
        let filter = ParticipantFilter {
            muted,
            ..Default::default()
        };
        let expected: Vec<_> = want.iter().filter(|p| filter.matches(p)).cloned().collect();
        let (items, total) = s.participants(&a, &c.sid, &filter, all()).await.unwrap();
        assert_eq!(
            (items, total),
            (expected.clone(), expected.len() as u64),
            "{muted:?}"
        );
        // Page by page, two at a time.
        let mut got = Vec::new();
        for page in 0..4 {
            let (items, total) = s
                .participants(&a, &c.sid, &filter, PageRequest { page, size: 2 })
                .await
                .unwrap();
            assert_eq!(total, expected.len() as u64);
            got.extend(items);
        }
        assert_eq!(got, expected, "{muted:?}");
    }
    // Muting moves a participant between the filtered lists, not in the order.
    s.apply(&[Change::ParticipantMuted {
        conference_sid: c.sid.clone(),
        call_sid: call_sid(5),
        muted: true,
        at: t(50),
    }])
    .await
    .unwrap();
    let (items, total) = s
        .participants(
            &a,
            &c.sid,
            &ParticipantFilter {
                muted: Some(true),
                ..Default::default()
            },
            all(),
        )
        .await
        .unwrap();
    assert_eq!(total, 4);
    let order: Vec<_> = items.iter().map(|p| p.call_sid.clone()).collect();
    assert_eq!(order, [1, 2, 6, 5].map(call_sid).to_vec());
}

async fn complete_live_conferences_at_startup(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let b = with_account(s, 2).await;
    let init = conference(1, &a, "init", t(10));
    let running = ConferenceRecord {
        status: ConferenceStatus::InProgress,
        ..conference(2, &b, "running", t(10))
    };
    // Updated after the recovery time (a clock that stepped back).
    let ahead = ConferenceRecord {
        date_updated: t(500),
        ..conference(3, &a, "ahead", t(10))
    };
    let done = ConferenceRecord {
        status: ConferenceStatus::Completed,
        ..conference(4, &a, "done", t(10))
    };
    let mut batch: Vec<_> = [&init, &running, &ahead, &done]
        .map(|c| Change::ConferenceCreated(c.clone()))
        .to_vec();
    batch.push(Change::ParticipantJoined(participant(1, &init, t(11))));
    batch.push(Change::ParticipantJoined(participant(2, &running, t(11))));
    batch.push(Change::ParticipantJoined(participant(3, &running, t(12))));
    s.apply(&batch).await.unwrap();

    assert_eq!(s.complete_live_conferences(t(100)).await.unwrap(), 3);
    for c in [&init, &running, &ahead] {
        let got = get_conf(s, c).await;
        assert_eq!(
            got.status,
            ConferenceStatus::Completed,
            "{}",
            c.friendly_name
        );
        assert_eq!(participants_of(s, c).await, vec![]);
    }
    assert_eq!(get_conf(s, &init).await.date_updated, t(100));
    assert_eq!(
        get_conf(s, &ahead).await.date_updated,
        t(500),
        "never backwards"
    );
    assert_eq!(
        get_conf(s, &done).await,
        done,
        "already completed: untouched"
    );
    for n in 1..=3 {
        assert_eq!(
            s.participant(&a, &init.sid, &call_sid(n)).await.unwrap(),
            None
        );
    }
    // The names are free again; a second run finds nothing to do.
    s.apply(&[Change::ConferenceCreated(conference(5, &a, "init", t(101)))])
        .await
        .unwrap();
    assert_eq!(s.complete_live_conferences(t(102)).await.unwrap(), 1);
    assert_eq!(s.complete_live_conferences(t(103)).await.unwrap(), 0);

    // The list totals (kept as per-status counts) agree with the rows.
    let total = |account: AccountSid, status: Option<ConferenceStatus>| async move {
        let filter = ConferenceFilter {
            status,
            ..ConferenceFilter::default()
        };
        s.conferences(&account, &filter, all()).await.unwrap().1
    };
    assert_eq!(total(a.clone(), None).await, 4);
    assert_eq!(total(a.clone(), Some(ConferenceStatus::Completed)).await, 4);
    assert_eq!(total(a.clone(), Some(ConferenceStatus::Init)).await, 0);
    assert_eq!(total(b.clone(), Some(ConferenceStatus::Completed)).await, 1);
    assert_eq!(total(b, Some(ConferenceStatus::InProgress)).await, 0);
}

async fn corrupt_rows_are_errors_not_panics(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let good = conference(1, &a, "good", t(0));
    s.apply(&[Change::ConferenceCreated(good.clone())])
        .await
        .unwrap();
    // A sid that is not a sid, written behind the store's back.
    db.raw(&format!(
        "INSERT INTO conferences (sid, account_sid, friendly_name, status, date_created, date_updated) \
         VALUES ('CF-not-a-sid', '{}', 'bad', 0, 1, 1)",
        a.as_str()
    ))
    .await;
    let r = s.conferences(&a, &ConferenceFilter::default(), all()).await;
    assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    // The good row alone still reads.
    assert_eq!(s.conference(&a, &good.sid).await.unwrap(), Some(good));

    db.raw(
        "INSERT INTO accounts (sid, friendly_name, auth_token, date_created, date_updated) \
            VALUES ('AC123', 'short sid', 'x', 5, 5)",
    )
    .await;
    assert!(matches!(s.accounts().await, Err(StoreError::Corrupt(_))));

    if s.backend() == Backend::Sqlite {
        // SQLite keeps whatever type it is given, even in a BIGINT column.
        let sid = account_sid(7);
        db.raw(&format!(
            "INSERT INTO accounts (sid, friendly_name, auth_token, date_created, date_updated) \
             VALUES ('{}', 'text time', 'x', 'yesterday', 5)",
            sid.as_str()
        ))
        .await;
        let r = s.account(&sid).await;
        assert!(matches!(r, Err(StoreError::Corrupt(_))), "{r:?}");
    }
}

async fn integrity_check_reports_planted_problems(db: &TestDb) {
    let s = &db.store;
    assert_eq!(
        s.check_integrity().await.unwrap(),
        Vec::<String>::new(),
        "empty"
    );
    let a = with_account(s, 1).await;
    let live = conference(1, &a, "live", t(10));
    let done = conference(2, &a, "done", t(10));
    s.apply(&[
        Change::ConferenceCreated(live.clone()),
        Change::ParticipantJoined(participant(1, &live, t(11))),
        Change::ConferenceCreated(done.clone()),
        Change::ParticipantJoined(participant(2, &done, t(11))),
        Change::ConferenceStatus {
            sid: done.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(12),
        },
    ])
    .await
    .unwrap();
    s.complete_live_conferences(t(13)).await.unwrap();
    assert_eq!(
        s.check_integrity().await.unwrap(),
        Vec::<String>::new(),
        "written by the store, recovered at start-up: clean"
    );

    // Counts that disagree with the rows (a day's, and a status total for
    // calls that do not exist), and a participant left under a completed
    // conference, all written behind the store's back.
    db.raw("UPDATE conference_day_counts SET n = n + 1 WHERE status = 2")
        .await;
    db.raw("UPDATE conference_hour_counts SET n = n + 1 WHERE status = 2 AND clock = 1")
        .await;
    db.raw(&format!(
        "INSERT INTO call_status_counts (account_sid, status, n) VALUES ('{}', 1, 5)",
        a.as_str()
    ))
    .await;
    db.raw(&format!(
        "INSERT INTO participants (call_sid, conference_sid, account_sid, muted, \
         start_conference_on_enter, end_conference_on_exit, date_created, date_updated) \
         VALUES ('{}', '{}', '{}', 0, 1, 0, 1, 1)",
        call_sid(3).as_str(),
        done.sid.as_str(),
        a.as_str()
    ))
    .await;
    let problems = s.check_integrity().await.unwrap();
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].starts_with("conference_day_counts:")
            && problems[0].contains("holds 3, the conferences recount to 2"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("conference_hour_counts:")
            && problems[1]
                .contains("clock 1 hour 472222 status 2 holds 3, the conferences recount to 2"),
        "{problems:#?}"
    );
    assert!(
        problems[2].starts_with("call_status_counts:")
            && problems[2].contains("status 1 holds 5, the calls recount to 0"),
        "{problems:#?}"
    );
    assert!(
        problems[3].contains(call_sid(3).as_str()) && problems[3].contains("completed conference"),
        "{problems:#?}"
    );
}

#[test]
fn test_database_urls() {
    assert_eq!(
        with_database("postgres://u@h:5/postgres", "x"),
        "postgres://u@h:5/x"
    );
    assert_eq!(with_database("postgres://u@h:5", "x"), "postgres://u@h:5/x");
    assert_eq!(
        with_database("postgresql://u:p@h/db?sslmode=disable", "x"),
        "postgresql://u:p@h/x?sslmode=disable"
    );
}

// ---------------------------------------------------------------------------
// Calls

fn call_record(
    n: u64,
    account: &AccountSid,
    number: Option<PhoneNumberSid>,
    at: Timestamp,
) -> CallRecord {
    CallRecord {
        direction: model::CallDirection::Inbound,
        sid: call_sid(n),
        account_sid: account.clone(),
        phone_number_sid: number,
        caller: format!("alice{n}"),
        called: "standup".to_owned(),
        status: CallStatus::InProgress,
        start_time: Some(at),
        end_time: None,
        duration: None,
        failure: None,
        date_created: at,
        date_updated: at,
    }
}

async fn calls_are_recorded_finished_and_recovered(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let first = call_record(1, &a, Some(number_sid(7)), t(10));
    let second = call_record(2, &a, None, t(20));
    s.insert_call(&first).await.unwrap();
    s.insert_call(&second).await.unwrap();
    assert!(matches!(
        s.insert_call(&first).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(s.call(&first.sid).await.unwrap(), Some(first.clone()));
    assert_eq!(s.call(&call_sid(3)).await.unwrap(), None);

    let failure = "fetching http://app/voice failed: HTTP status 500";
    assert!(
        s.finish_call(
            &first.sid,
            CallStatus::FailedApplicationError,
            t(75),
            Some(failure)
        )
        .await
        .unwrap()
    );
    assert!(
        !s.finish_call(&call_sid(3), CallStatus::Complete, t(75), None)
            .await
            .unwrap()
    );
    let got = s.call(&first.sid).await.unwrap().unwrap();
    assert_eq!(got.status, CallStatus::FailedApplicationError);
    assert_eq!(got.end_time, Some(t(75)));
    assert_eq!(got.duration, Some(65));
    assert_eq!(got.failure.as_deref(), Some(failure));
    assert_eq!(got.date_updated, t(75));
    // The first end is the last: ending it again, or answering it, changes
    // nothing (a fenced node's late hang-up after a takeover).
    assert!(
        !s.finish_call(&first.sid, CallStatus::Complete, t(90), None)
            .await
            .unwrap()
    );
    assert!(!s.answer_call(&first.sid, t(91)).await.unwrap());
    assert_eq!(s.call(&first.sid).await.unwrap(), Some(got));

    // Placed calls nobody answered before the stop: failed, not left live.
    let mut queued = call_record(4, &a, None, t(30));
    queued.status = CallStatus::NotYetDialed;
    queued.start_time = None;
    let mut ringing = call_record(5, &a, None, t(31));
    ringing.status = CallStatus::Ringing;
    ringing.start_time = None;
    let mut canceled = call_record(6, &a, None, t(32));
    canceled.status = CallStatus::Canceled;
    canceled.start_time = None;
    for c in [&queued, &ringing, &canceled] {
        s.insert_call(c).await.unwrap();
    }

    // Recovery ends only what is still live: in progress, queued, ringing.
    assert_eq!(s.complete_live_calls(t(100)).await.unwrap(), 3);
    assert_eq!(s.complete_live_calls(t(101)).await.unwrap(), 0);
    for c in [&queued, &ringing] {
        let got = s.call(&c.sid).await.unwrap().unwrap();
        assert_eq!(
            (got.status, got.end_time, got.duration),
            (CallStatus::FailedApplicationError, Some(t(100)), None)
        );
        assert!(
            got.failure
                .as_deref()
                .is_some_and(|f| f.contains("stopped")),
            "{got:?}"
        );
    }
    assert_eq!(s.call(&canceled.sid).await.unwrap(), Some(canceled.clone()));
    let got = s.call(&second.sid).await.unwrap().unwrap();
    assert_eq!(got.status, CallStatus::Complete);
    assert_eq!(
        (got.end_time, got.duration, got.failure),
        (Some(t(100)), Some(80), None)
    );
    let untouched = s.call(&first.sid).await.unwrap().unwrap();
    assert_eq!(untouched.status, CallStatus::FailedApplicationError);
    // Every write above kept the calls' per-day counts (the Calls lists'
    // totals and deep pages) equal to a recount.
    assert_eq!(s.check_integrity().await.unwrap(), Vec::<String>::new());
}

async fn hold_label_coach_end_on_exit_and_end_reason_are_recorded(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let c = conference(1, &a, "Room", t(100));
    let p1 = ParticipantRecord {
        label: Some("customer".into()),
        end_conference_on_exit: false,
        ..participant(1, &c, t(110))
    };
    let p2 = ParticipantRecord {
        label: Some("coach".into()),
        call_sid_to_coach: Some(p1.call_sid.clone()),
        ..participant(2, &c, t(111))
    };
    s.apply(&[
        Change::ConferenceCreated(c.clone()),
        Change::ParticipantJoined(p1.clone()),
        Change::ParticipantJoined(p2.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(participants_of(s, &c).await, vec![p1.clone(), p2.clone()]);
    // A label is unique within its conference.
    let taken = ParticipantRecord {
        label: Some("customer".into()),
        ..participant(3, &c, t(112))
    };
    assert!(matches!(
        s.apply(&[Change::ParticipantJoined(taken)]).await,
        Err(StoreError::Conflict(_))
    ));

    s.apply(&[
        Change::ParticipantHold {
            conference_sid: c.sid.clone(),
            call_sid: p1.call_sid.clone(),
            hold: true,
            at: t(120),
        },
        Change::ParticipantEndOnExit {
            conference_sid: c.sid.clone(),
            call_sid: p1.call_sid.clone(),
            end_conference_on_exit: true,
            at: t(121),
        },
    ])
    .await
    .unwrap();
    let got = s
        .participant(&a, &c.sid, &p1.call_sid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            got.hold,
            got.end_conference_on_exit,
            got.muted,
            got.date_updated
        ),
        (true, true, false, t(121))
    );
    assert_eq!(get_conf(s, &c).await.date_updated, t(121));
    let nf = |r: Result<(), StoreError>| matches!(r, Err(StoreError::NotFound(_)));
    assert!(nf(s
        .apply(&[Change::ParticipantHold {
            conference_sid: c.sid.clone(),
            call_sid: call_sid(99),
            hold: true,
            at: t(122),
        }])
        .await));

    s.apply(&[
        Change::ConferenceEnding {
            sid: c.sid.clone(),
            reason: ConferenceEndReason::EndConferenceOnExitKicked,
            call_sid_ending: Some(p1.call_sid.clone()),
            at: t(130),
        },
        Change::ConferenceStatus {
            sid: c.sid.clone(),
            status: ConferenceStatus::Completed,
            at: t(130),
        },
    ])
    .await
    .unwrap();
    let ended = get_conf(s, &c).await;
    assert_eq!(
        (
            ended.status,
            ended.reason_ended,
            ended.call_sid_ending,
            ended.date_updated
        ),
        (
            ConferenceStatus::Completed,
            Some(ConferenceEndReason::EndConferenceOnExitKicked),
            Some(p1.call_sid.clone()),
            t(130)
        )
    );
    assert!(nf(s
        .apply(&[Change::ConferenceEnding {
            sid: conference_sid(99),
            reason: ConferenceEndReason::EndedViaApi,
            call_sid_ending: None,
            at: t(131),
        }])
        .await));
}

/// Trunks (`confab trunks`) and the record of a call we placed: queued,
/// then answered (`answer_call`), then finished.
async fn trunks_crud_and_placed_calls_answered(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let b = with_account(s, 2).await;
    let trunk = |n: u64, account: &AccountSid, at: i64, credentials: bool| store::Trunk {
        sid: format!("TK{n:032x}"),
        account_sid: account.clone(),
        uri: format!("sip:trunk{n}.example.com:5060"),
        username: credentials.then(|| format!("user{n}")),
        password: credentials.then(|| format!("pass{n}")),
        date_created: t(at),
    };
    let (t1, t2, t3) = (
        trunk(1, &a, 20, true),
        trunk(2, &a, 10, false),
        trunk(3, &b, 5, true),
    );
    for x in [&t1, &t2, &t3] {
        s.insert_trunk(x).await.unwrap();
    }
    assert!(matches!(
        s.insert_trunk(&t1).await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(
        s.insert_trunk(&trunk(4, &account_sid(9), 0, false)).await,
        Err(StoreError::NotFound(_))
    ));
    // The oldest of an account's trunks is the one its calls use.
    assert_eq!(s.trunk_of(&a).await.unwrap(), Some(t2.clone()));
    assert_eq!(s.trunk_of(&b).await.unwrap(), Some(t3.clone()));
    assert_eq!(s.trunk_of(&account_sid(9)).await.unwrap(), None);
    assert_eq!(
        s.trunks(Some(&a)).await.unwrap(),
        vec![t2.clone(), t1.clone()]
    );
    assert_eq!(
        s.trunks(None).await.unwrap(),
        vec![t3.clone(), t2.clone(), t1.clone()]
    );
    assert!(s.remove_trunk(&t2.sid).await.unwrap());
    assert!(!s.remove_trunk(&t2.sid).await.unwrap());
    assert_eq!(s.trunk_of(&a).await.unwrap(), Some(t1.clone()));

    let mut placed = call_record(1, &a, None, t(100));
    placed.status = CallStatus::NotYetDialed;
    placed.start_time = None;
    s.insert_call(&placed).await.unwrap();
    assert!(s.answer_call(&placed.sid, t(130)).await.unwrap());
    let answered = s.call(&placed.sid).await.unwrap().unwrap();
    assert_eq!(answered.status, CallStatus::InProgress);
    assert_eq!(answered.start_time, Some(t(130)));
    assert!(
        s.finish_call(&placed.sid, CallStatus::Complete, t(160), None)
            .await
            .unwrap()
    );
    let done = s.call(&placed.sid).await.unwrap().unwrap();
    assert_eq!(done.duration, Some(30));
    assert!(
        !s.ring_call(&placed.sid, t(170)).await.unwrap(),
        "a finished call never rings again"
    );
    assert_eq!(s.call(&placed.sid).await.unwrap(), Some(done));

    // Another rings, then is canceled: both statuses are kept as such.
    let mut ringing = call_record(3, &a, None, t(200));
    ringing.status = CallStatus::NotYetDialed;
    ringing.start_time = None;
    s.insert_call(&ringing).await.unwrap();
    assert!(s.ring_call(&ringing.sid, t(201)).await.unwrap());
    assert!(!s.ring_call(&ringing.sid, t(202)).await.unwrap());
    let got = s.call(&ringing.sid).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.date_updated),
        (CallStatus::Ringing, t(201))
    );
    assert!(
        s.finish_call(&ringing.sid, CallStatus::Canceled, t(205), Some("canceled"))
            .await
            .unwrap()
    );
    let got = s.call(&ringing.sid).await.unwrap().unwrap();
    assert_eq!(
        (got.status, got.start_time, got.end_time, got.duration),
        (CallStatus::Canceled, None, Some(t(205)), None)
    );
    assert!(
        !s.answer_call(&call_record(2, &a, None, t(0)).sid, t(1))
            .await
            .unwrap()
    );
}

/// Two nodes on one database: a room belongs to the first node to claim it
/// until its conference completes there; a node whose lease ran out is
/// found by the other, which ends its rooms and calls, once.
async fn nodes_claim_rooms_and_a_dead_nodes_work_is_ended(db: &TestDb) {
    let one = db.store.clone().with_node("one");
    let two = db.connect_again().await.with_node("two");
    let a = with_account(&one, 1).await;
    one.register_node(Some("127.0.0.1:5061"), t(0))
        .await
        .unwrap();
    two.register_node(None, t(0)).await.unwrap();
    assert!(matches!(
        db.store.register_node(None, t(0)).await,
        Err(StoreError::Invalid(_))
    ));

    // First claim wins; the second node learns the owner and its address.
    let owner = one.claim_room(&a, "standup").await.unwrap();
    assert_eq!(owner.node_id, "one");
    let seen = two.claim_room(&a, "standup").await.unwrap();
    assert_eq!(
        seen,
        store::NodeRef {
            node_id: "one".into(),
            sip_addr: Some("127.0.0.1:5061".into())
        }
    );
    assert_eq!(two.claim_room(&a, "retro").await.unwrap().node_id, "two");
    two.release_room(&a, "retro").await.unwrap();
    assert_eq!(two.room_owner(&a, "retro").await.unwrap(), None);

    // Node one runs "standup" (and a call in it) and "done", which
    // completes: completing gives the claim up.
    let standup = ConferenceRecord {
        status: ConferenceStatus::InProgress,
        ..conference(1, &a, "standup", t(1))
    };
    one.claim_room(&a, "done").await.unwrap();
    let done = conference(2, &a, "done", t(1));
    one.apply(&[
        Change::ConferenceCreated(standup.clone()),
        Change::ParticipantJoined(participant(1, &standup, t(2))),
        Change::ConferenceCreated(done.clone()),
    ])
    .await
    .unwrap();
    assert_eq!(
        two.conference_owner(&standup.sid)
            .await
            .unwrap()
            .map(|n| n.node_id),
        Some("one".into())
    );
    one.apply(&[Change::ConferenceStatus {
        sid: done.sid.clone(),
        status: ConferenceStatus::Completed,
        at: t(3),
    }])
    .await
    .unwrap();
    assert_eq!(one.room_owner(&a, "done").await.unwrap(), None);
    assert_eq!(two.conference_owner(&done.sid).await.unwrap(), None);
    one.insert_call(&call_record(1, &a, None, t(2)))
        .await
        .unwrap();
    two.insert_call(&call_record(2, &a, None, t(2)))
        .await
        .unwrap();

    // Node two renews; node one stops. Past the lease, two finds one dead.
    assert!(two.renew_node(t(20)).await.unwrap());
    assert_eq!(two.expired_nodes(t(10)).await.unwrap(), vec!["one"]);
    assert_eq!(
        one.expired_nodes(t(10)).await.unwrap(),
        Vec::<String>::new()
    );
    let ended = two.end_node("one", t(10), t(21)).await.unwrap();
    assert_eq!(
        ended,
        store::NodeEnded {
            conferences: 1,
            calls: 1
        }
    );
    let got = get_conf(&two, &standup).await;
    assert_eq!(got.status, ConferenceStatus::Completed);
    assert_eq!(got.date_updated, t(21));
    assert_eq!(participants_of(&two, &standup).await, vec![]);
    let call = two.call(&call_sid(1)).await.unwrap().unwrap();
    assert_eq!(
        (call.status, call.end_time),
        (CallStatus::Complete, Some(t(21)))
    );
    let other = two.call(&call_sid(2)).await.unwrap().unwrap();
    assert_eq!(other.status, CallStatus::InProgress, "the live node's call");
    assert_eq!(
        one.call_node(&call_sid(2)).await.unwrap(),
        Some("two".into())
    );
    assert_eq!(one.call_node(&call_sid(1)).await.unwrap(), None, "ended");
    assert_eq!(two.room_owner(&a, "standup").await.unwrap(), None);
    // Ended once: a second try (another node's) finds the lease gone.
    assert_eq!(
        two.end_node("one", t(10), t(22)).await.unwrap(),
        store::NodeEnded::default()
    );
    // The dead node, back, sees its lease gone and takes a new one.
    assert!(!one.renew_node(t(30)).await.unwrap());
    one.register_node(None, t(30)).await.unwrap();
    // A lease renewed in time is not taken.
    assert_eq!(
        two.end_node("one", t(25), t(31)).await.unwrap(),
        store::NodeEnded::default()
    );
    // Start-up recovery of a node ends only its own calls.
    assert_eq!(one.complete_live_calls(t(40)).await.unwrap(), 0);
    assert_eq!(two.complete_live_calls(t(40)).await.unwrap(), 1);
    // A clean stop leaves no lease for another node to find.
    one.leave_nodes().await.unwrap();
    assert_eq!(
        two.expired_nodes(t(1000)).await.unwrap(),
        Vec::<String>::new()
    );
}

/// Node messages (PostgreSQL only): short ones ride in the NOTIFY, long ones
/// (PostgreSQL refuses a payload of 8,000 bytes) are stored and named by it;
/// each arrives whole, in order, and a stored one nobody took is deleted
/// once it is a minute old.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_messages_of_any_length_arrive_whole() {
    let Some(db) = TestDb::postgres().await else {
        return;
    };
    let one = db.store.clone().with_node("one");
    let two = db.connect_again().await.with_node("two");
    let mut inbox = one.listen_node().await.unwrap();
    let long = format!("{{\"twiml\":\"{}\"}}", "<Say>é ☎</Say>".repeat(2_000));
    assert!(long.len() > 20_000);
    let sent = [
        "{\"short\":1}".to_owned(),
        long,
        "#not-a-stored-id".to_owned(),
        "x".repeat(7_999),
        "x".repeat(8_000),
    ];
    for payload in &sent {
        two.notify_node("one", payload, t(100)).await.unwrap();
    }
    for payload in &sent {
        assert_eq!(&inbox.recv().await.unwrap(), payload);
    }
    let stored = |db: &TestDb| {
        let url = db.url.clone();
        async move {
            let pool = sqlx::AnyPool::connect(&url).await.unwrap();
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM node_messages")
                .fetch_one(&pool)
                .await
                .unwrap();
            pool.close().await;
            n
        }
    };
    assert_eq!(stored(&db).await, 0, "each stored message was taken out");

    // One for a node that never reads it stays a minute at most.
    two.notify_node("gone", &"y".repeat(9_000), t(100))
        .await
        .unwrap();
    assert_eq!(stored(&db).await, 1);
    two.notify_node("gone", &"z".repeat(9_000), t(161))
        .await
        .unwrap();
    assert_eq!(stored(&db).await, 1, "the older one went");
    drop(inbox);
    db.finish().await;
}

/// Lists cache live records by row version (`cached`): a change of the
/// row, by another node or by hand, and even one that leaves DateUpdated
/// where it was, is seen on the next page.
async fn a_live_record_is_read_again_once_its_row_changes(db: &TestDb) {
    let s = &db.store;
    let a = with_account(s, 1).await;
    let mut c = conference(1, &a, "standup", t(10));
    c.status = ConferenceStatus::InProgress;
    s.apply(&[Change::ConferenceCreated(c.clone())])
        .await
        .unwrap();
    let call = call_record(1, &a, None, t(10));
    s.insert_call(&call).await.unwrap();
    let rooms = || async {
        s.conferences(&a, &ConferenceFilter::default(), all())
            .await
            .unwrap()
            .0
    };
    let calls = || async {
        s.calls(&a, &CallFilter::default(), CallOrder::Created, all())
            .await
            .unwrap()
            .0
    };
    // Read twice: the second page is the cached record's.
    for _ in 0..2 {
        assert_eq!(rooms().await, [c.clone()]);
        assert_eq!(calls().await, std::slice::from_ref(&call));
    }

    // Another node ends the room at the same instant: DateUpdated stays.
    let other = db.connect_again().await;
    other
        .apply(&[Change::ConferenceEnding {
            sid: c.sid.clone(),
            reason: ConferenceEndReason::EndedViaApi,
            call_sid_ending: None,
            at: t(10),
        }])
        .await
        .unwrap();
    other.close().await;
    c.reason_ended = Some(ConferenceEndReason::EndedViaApi);
    assert_eq!(rooms().await, [c.clone()]);

    // An operator's hand edits.
    db.raw(&format!(
        "UPDATE conferences SET friendly_name = 'renamed' WHERE sid = '{}'",
        c.sid.as_str()
    ))
    .await;
    db.raw(&format!(
        "UPDATE calls SET caller = 'bob' WHERE sid = '{}'",
        call.sid.as_str()
    ))
    .await;
    c.friendly_name = "renamed".to_owned();
    assert_eq!(rooms().await, [c.clone()]);
    let mut changed = call.clone();
    changed.caller = "bob".to_owned();
    assert_eq!(calls().await, [changed]);
}
