//! Opening a store: which URLs mean which backend, the pool, SQLite's
//! settings for sharing a file between processes, and migrations.
//!
//! confab's CLI (`confab accounts add …`) and the running server use the
//! same SQLite file at the same time, so every SQLite connection gets a busy
//! timeout (a writer waits for another process's write instead of failing),
//! the file is put in WAL mode (readers never block the writer), and the
//! start-up steps SQLite cannot wait for by itself (switching to WAL,
//! two processes migrating a new file at once) are retried for a bounded
//! time. PostgreSQL needs none of this: its migrator takes an advisory lock.

use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::{MigrateError, Migrator};

use crate::error::is_sqlite_busy;
use crate::{Backend, Store, StoreError};

/// The schema, embedded in the binary: `migrations/*.sql`, one set for both
/// backends.
static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// PostgreSQL's own migrations (`migrations-postgres/*.sql`): steps SQLite
/// has other words for (storage settings, triggers). They are numbered
/// among the shared ones, which skip their numbers, and run with them on
/// PostgreSQL alone ([`migrator`]).
static POSTGRES_ONLY: Migrator = sqlx::migrate!("./migrations-postgres");

/// SQLite's own migrations (`migrations-sqlite/*.sql`), as
/// [`POSTGRES_ONLY`] are PostgreSQL's: the same number in both directories
/// is one step in each backend's words.
static SQLITE_ONLY: Migrator = sqlx::migrate!("./migrations-sqlite");

/// The shared migrations and `backend`'s own, in the order of their
/// numbers.
fn migrator(backend: Backend) -> Migrator {
    let own = match backend {
        Backend::Sqlite => &SQLITE_ONLY,
        Backend::Postgres => &POSTGRES_ONLY,
    };
    let mut all: Vec<_> = MIGRATOR.iter().chain(own.iter()).cloned().collect();
    all.sort_by_key(|m| m.version);
    Migrator::with_migrations(all)
}

/// How long an SQLite connection waits for another connection's lock
/// before giving up with "database is locked". Writes are short; this only
/// has to outlast the longest transaction of another process.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How long start-up keeps retrying the steps SQLite's busy timeout does not
/// cover.
const STARTUP_RETRY_FOR: Duration = Duration::from_secs(30);

/// Pool size for a file database: SQLite has one writer at a time anyway,
/// a few connections let reads run beside it.
const SQLITE_MAX_CONNECTIONS: u32 = 8;

impl Store {
    /// Connects to `sqlite://PATH` (file created if missing, WAL) or
    /// `postgres://…`/`postgresql://…`, and runs pending migrations.
    ///
    /// `sqlite:PATH` is accepted too, as is `sqlite::memory:` (one private
    /// in-memory database, kept on a single connection: for tests).
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        // Registers sqlx's compiled-in drivers for `Any`; only the first call
        // in a process does anything.
        sqlx::any::install_default_drivers();
        match Target::parse(url)? {
            Target::Postgres => {
                let pool = postgres_pool(url).await?;
                migrator(Backend::Postgres).run(&pool).await?;
                Ok(Self {
                    backend: Backend::Postgres,
                    pool,
                    conference_cache: Default::default(),
                    call_cache: Default::default(),
                    guides: Default::default(),
                    shallow_rows: crate::reads::SHALLOW_ROWS,
                    node: None,
                    pg_url: Some(url.into()),
                })
            }
            Target::Sqlite { url, in_memory } => {
                let store = Self {
                    backend: Backend::Sqlite,
                    pool: sqlite_pool(&url, in_memory).await?,
                    conference_cache: Default::default(),
                    call_cache: Default::default(),
                    guides: Default::default(),
                    shallow_rows: crate::reads::SHALLOW_ROWS,
                    node: None,
                    pg_url: None,
                };
                if !in_memory {
                    store.enable_wal().await?;
                }
                store.migrate_sqlite().await?;
                Ok(store)
            }
        }
    }
}

/// What a database URL names, with the SQLite URL completed.
#[derive(Debug, PartialEq, Eq)]
enum Target {
    Sqlite { url: String, in_memory: bool },
    Postgres,
}

impl Target {
    fn parse(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres);
        }
        let rest = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .ok_or(StoreError::UnsupportedUrl)?;
        let (path, params) = match rest.split_once('?') {
            Some((path, params)) => (path, Some(params)),
            None => (rest, None),
        };
        if path.is_empty() && params.is_none() {
            // sqlx would open an anonymous temporary database: surely not meant.
            return Err(StoreError::UnsupportedUrl);
        }
        let mode = params.and_then(|p| {
            p.split('&')
                .find_map(|kv| kv.strip_prefix("mode="))
                .map(str::to_owned)
        });
        let in_memory = path == ":memory:" || mode.as_deref() == Some("memory");
        let url = match (mode, params) {
            // "Created if missing" is the default here; an explicit mode wins.
            (None, _) if in_memory => url.to_owned(),
            (None, None) => format!("{url}?mode=rwc"),
            (None, Some(_)) => format!("{url}&mode=rwc"),
            (Some(_), _) => url.to_owned(),
        };
        Ok(Self::Sqlite { url, in_memory })
    }
}

async fn postgres_pool(url: &str) -> Result<sqlx::AnyPool, StoreError> {
    let options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            // sqlx prepares every statement once per connection, but by
            // default PostgreSQL may still plan each execution anew for the
            // values bound. A deep page's statement spent 1.8 ms planning
            // against 1.0 ms running, and planning each statement once made
            // deep pages 1.4-1.6x faster (docs/benchmarks.md). Such a plan
            // cannot see a bound value, so a value that decides the index
            // is written into the statement: a partial index's constants
            // (`calls::complete_calls`) and a list's Status
            // (`Where::push_codes`); tests check both plans on PostgreSQL.
            sqlx::query("SET plan_cache_mode = force_generic_plan")
                .execute(&mut *conn)
                .await?;
            Ok(())
        })
    });
    Ok(options.connect(url).await?)
}

async fn sqlite_pool(url: &str, in_memory: bool) -> Result<sqlx::AnyPool, StoreError> {
    // A file on this machine has no connection that silently dies; pinging
    // it before every query only adds a round trip to sqlx's worker thread.
    let options = AnyPoolOptions::new()
        .test_before_acquire(false)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                // Both are per connection. sqlx's SQLite driver already defaults
                // to a 5 s timeout and foreign keys on; saying so here keeps the
                // store correct whatever that default becomes.
                let timeout_ms = SQLITE_BUSY_TIMEOUT.as_millis();
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "PRAGMA busy_timeout = {timeout_ms}"
                )))
                .execute(&mut *conn)
                .await?;
                sqlx::query("PRAGMA foreign_keys = ON")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        });
    let options = if in_memory {
        // Each connection to `:memory:` would be its own empty database, and
        // it vanishes with its last connection: keep exactly one, forever.
        options
            .min_connections(1)
            .max_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        options.max_connections(SQLITE_MAX_CONNECTIONS)
    };
    Ok(options.connect(url).await?)
}

impl Store {
    /// WAL lets the server read while a CLI writes (and the reverse). The
    /// mode is stored in the file, so this is a no-op after the first time;
    /// but switching needs an exclusive lock that SQLite will not wait for,
    /// so a process that races another one here retries.
    async fn enable_wal(&self) -> Result<(), StoreError> {
        let mode: String = retry_while_busy("enable WAL", || async {
            sqlx::query_scalar("PRAGMA journal_mode = WAL")
                .fetch_one(&self.pool)
                .await
        })
        .await?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Some file systems (network mounts) cannot do WAL; SQLite then
            // keeps its rollback journal, which is slower but still correct.
            tracing::warn!(journal_mode = %mode, "SQLite refused WAL mode");
        }
        Ok(())
    }

    /// sqlx's SQLite migrator takes no lock, so two processes opening a new
    /// file at once can both try to apply a migration: the loser's
    /// transaction fails ("table already exists", or busy) and rolls back,
    /// and its retry then finds the migration applied. Nothing half-applied
    /// can remain: each migration runs in one transaction.
    async fn migrate_sqlite(&self) -> Result<(), StoreError> {
        let migrator = migrator(Backend::Sqlite);
        let started = Instant::now();
        let mut pause = Duration::from_millis(20);
        loop {
            match migrator.run(&self.pool).await {
                Ok(()) => return Ok(()),
                Err(err @ (MigrateError::Execute(_) | MigrateError::ExecuteMigration(..)))
                    if started.elapsed() < STARTUP_RETRY_FOR =>
                {
                    tracing::debug!(error = %err, "migrating SQLite failed, retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
}

/// Runs `op` until it stops failing with SQLite's "busy" or the start-up
/// retry time is spent.
async fn retry_while_busy<T, F, Fut>(what: &str, mut op: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, sqlx::Error>>,
{
    let started = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match op().await {
            Err(err) if is_sqlite_busy(&err) && started.elapsed() < STARTUP_RETRY_FOR => {
                tracing::debug!(step = what, "SQLite is busy, retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(250));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn sqlite(url: &str, in_memory: bool) -> Target {
        Target::Sqlite {
            url: url.to_owned(),
            in_memory,
        }
    }

    #[test]
    fn urls_pick_the_backend() {
        assert_eq!(
            Target::parse("postgres://u@h/db").ok(),
            Some(Target::Postgres)
        );
        assert_eq!(
            Target::parse("postgresql://u@h:5/db?x=y").ok(),
            Some(Target::Postgres)
        );
        for bad in [
            "mysql://h/db",
            "confab.db",
            "",
            "sqlite://",
            "sqlite:",
            "SQLITE://x",
            "http://x",
        ] {
            assert!(
                matches!(Target::parse(bad), Err(StoreError::UnsupportedUrl)),
                "{bad}"
            );
        }
    }

    #[test]
    fn sqlite_urls_create_the_file_unless_a_mode_is_given() {
        let cases = [
            (
                "sqlite://confab.db",
                sqlite("sqlite://confab.db?mode=rwc", false),
            ),
            (
                "sqlite:confab.db",
                sqlite("sqlite:confab.db?mode=rwc", false),
            ),
            (
                "sqlite:///var/lib/c.db",
                sqlite("sqlite:///var/lib/c.db?mode=rwc", false),
            ),
            (
                "sqlite://c.db?cache=private",
                sqlite("sqlite://c.db?cache=private&mode=rwc", false),
            ),
            (
                "sqlite://c.db?mode=ro",
                sqlite("sqlite://c.db?mode=ro", false),
            ),
            ("sqlite::memory:", sqlite("sqlite::memory:", true)),
            (
                "sqlite://?mode=memory",
                sqlite("sqlite://?mode=memory", true),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(Target::parse(url).ok(), Some(want), "{url}");
        }
    }

    /// What the store relies on, checked on the connections the store
    /// itself uses (through `Any`), several at once so a pool that only
    /// configured its first connection would be caught.
    #[tokio::test]
    async fn every_sqlite_connection_is_set_up_for_sharing() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("pragmas.db").display());
        let store = Store::connect(&url).await.unwrap();
        let mut held = Vec::new();
        for _ in 0..3 {
            let mut conn = store.pool.acquire().await.unwrap();
            let int = |sql: &'static str| sqlx::query_scalar::<_, i64>(sql);
            assert_eq!(
                int("PRAGMA foreign_keys")
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap(),
                1
            );
            let timeout = int("PRAGMA busy_timeout")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert!(timeout >= 5000, "busy_timeout {timeout} ms");
            let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
                .fetch_one(&mut *conn)
                .await
                .unwrap();
            assert_eq!(mode.to_ascii_lowercase(), "wal");
            held.push(conn);
        }
    }

    #[test]
    fn backend_migrations_take_numbers_of_their_own() {
        let shared: Vec<i64> = MIGRATOR.iter().map(|m| m.version).collect();
        for own in [&POSTGRES_ONLY, &SQLITE_ONLY] {
            let own: Vec<i64> = own.iter().map(|m| m.version).collect();
            assert!(!own.is_empty());
            assert!(
                own.iter().all(|v| !shared.contains(v)),
                "{own:?} in {shared:?}"
            );
        }
    }

    /// On PostgreSQL a count row's update stays on its page and writes no
    /// index entry (a "HOT" update; `migrations-postgres/0019`), so the
    /// count tables do not grow with every change. Counted inside one
    /// transaction, which PostgreSQL's per-transaction statistics report at
    /// once.
    #[tokio::test]
    async fn count_updates_write_no_index_on_postgres() {
        use sqlx::{Executor, Row};
        let Some(db) = crate::test_postgres::TestPostgres::create().await else {
            return;
        };
        let mut tx = db.store.pool.begin().await.unwrap();
        for (table, columns, values) in [
            (
                "conference_day_counts",
                "status, day, updated_day",
                "2, 1, 1",
            ),
            ("call_day_counts", "status, day, updated_day", "3, 1, 1"),
            ("conference_hour_counts", "clock, hour, status", "1, 24, 2"),
            ("call_hour_counts", "clock, hour, status", "0, 24, 3"),
            ("conference_status_counts", "status", "2"),
            ("call_status_counts", "status", "3"),
            (
                "conference_name_counts",
                "friendly_name, status",
                "'room', 2",
            ),
        ] {
            let insert = format!(
                "INSERT INTO {table} (account_sid, {columns}, n) VALUES ('AC1', {values}, 1)"
            );
            tx.execute(sqlx::AssertSqlSafe(insert)).await.unwrap();
            let update = format!("UPDATE {table} SET n = n + 1");
            tx.execute(sqlx::AssertSqlSafe(update)).await.unwrap();
            let hot = format!("SELECT pg_stat_get_xact_tuples_hot_updated('{table}'::regclass)");
            let row = sqlx::query(sqlx::AssertSqlSafe(hot))
                .fetch_one(&mut *tx)
                .await
                .unwrap();
            assert_eq!(row.try_get::<i64, _>(0).unwrap(), 1, "{table}");
        }
        tx.rollback().await.unwrap();
        db.finish().await;
    }
}
