//! A fresh PostgreSQL database for the crate's own tests that must see
//! PostgreSQL's plans or storage: the server comes from
//! `CONFAB_TEST_POSTGRES_URL`, as for `tests/store.rs` (which holds the
//! store's contract on both backends).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use sqlx::pool::PoolConnection;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Any, AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection, Row};

use crate::Store;

/// A store on a database of its own, dropped by [`TestPostgres::finish`].
pub(crate) struct TestPostgres {
    pub(crate) store: Store,
    server: String,
    name: String,
}

impl TestPostgres {
    /// `None`, with a note on stderr, when no server is configured, unless
    /// `CONFAB_REQUIRE_POSTGRES=1` (CI), which makes that a failure.
    pub(crate) async fn create() -> Option<Self> {
        let server = match std::env::var("CONFAB_TEST_POSTGRES_URL") {
            Ok(url) if !url.is_empty() => url,
            _ if std::env::var("CONFAB_REQUIRE_POSTGRES").as_deref() == Ok("1") => {
                panic!("CONFAB_REQUIRE_POSTGRES=1 but CONFAB_TEST_POSTGRES_URL is not set")
            }
            _ => {
                eprintln!("skipping PostgreSQL: set CONFAB_TEST_POSTGRES_URL");
                return None;
            }
        };
        static N: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "confab_unit_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        Self::admin(&server, &format!("DROP DATABASE IF EXISTS {name}")).await;
        Self::admin(&server, &format!("CREATE DATABASE {name}")).await;
        // The server's URL with this database instead of its own.
        let url = PgConnectOptions::from_str(&server)
            .unwrap()
            .database(&name)
            .to_url_lossy();
        let store = Store::connect(url.as_str()).await.unwrap();
        Some(Self {
            store,
            server,
            name,
        })
    }

    pub(crate) async fn finish(self) {
        self.store.close().await;
        let name = &self.name;
        Self::admin(&self.server, &format!("DROP DATABASE {name} WITH (FORCE)")).await;
    }

    /// The plan PostgreSQL makes for `sql` on `conn` as a prepared
    /// statement named `name` (its parameters of `types`), executed with
    /// `args`: one line per step.
    pub(crate) async fn plan(
        conn: &mut PoolConnection<Any>,
        name: &str,
        sql: &str,
        types: &str,
        args: &str,
    ) -> String {
        let prepare = format!("PREPARE {name}({types}) AS {sql}");
        conn.execute(AssertSqlSafe(prepare)).await.unwrap();
        let explain = format!("EXPLAIN EXECUTE {name}({args})");
        let steps: Vec<String> = sqlx::query(AssertSqlSafe(explain))
            .fetch_all(&mut **conn)
            .await
            .unwrap()
            .iter()
            .map(|row| row.try_get::<String, _>(0).unwrap())
            .collect();
        steps.join("\n")
    }

    async fn admin(server: &str, sql: &str) {
        let mut admin = PgConnection::connect(server).await.unwrap();
        admin.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
        admin.close().await.unwrap();
    }
}
