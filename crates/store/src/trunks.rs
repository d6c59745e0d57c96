//! Outbound SIP trunks (`confab trunks add`): where an account's calls to
//! numbers go, and the credentials the trunk's digest challenge is
//! answered with. An account's oldest trunk is the one used.
//!
//! The password is a credential confab must present, so it is stored as
//! given (like the accounts' auth tokens); `Debug` leaves it out.

use model::{AccountSid, Timestamp};
use sqlx::any::AnyRow;
use sqlx::{AssertSqlSafe, Row as _};

use crate::error::write_error;
use crate::{Store, StoreError};

/// A trunk's sid: `TK` + 32 hex digits.
pub const TRUNK_SID_PREFIX: &str = "TK";

/// One outbound trunk of an account.
#[derive(Clone, PartialEq, Eq)]
pub struct Trunk {
    /// `TK` + 32 hex.
    pub sid: String,
    pub account_sid: AccountSid,
    /// `sip:HOST[:PORT]`: the number dialled becomes its user part.
    pub uri: String,
    pub username: Option<String>,
    pub password: Option<String>,
    pub date_created: Timestamp,
}

impl std::fmt::Debug for Trunk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Trunk")
            .field("sid", &self.sid)
            .field("account_sid", &self.account_sid)
            .field("uri", &self.uri)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

const TRUNK_COLUMNS: &str = "sid, account_sid, uri, username, password, date_created";

impl Store {
    /// Adds a trunk; `NotFound` if the account does not exist, `Conflict`
    /// if the sid is taken.
    pub async fn insert_trunk(&self, trunk: &Trunk) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO trunks (sid, account_sid, uri, username, password, date_created) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(trunk.sid.as_str())
        .bind(trunk.account_sid.as_str())
        .bind(trunk.uri.as_str())
        .bind(trunk.username.as_deref())
        .bind(trunk.password.as_deref())
        .bind(trunk.date_created.as_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "a trunk with this sid exists", "account"))?;
        Ok(())
    }

    /// The trunks of one account, or of all, oldest first.
    pub async fn trunks(&self, account: Option<&AccountSid>) -> Result<Vec<Trunk>, StoreError> {
        let rows = match account {
            Some(account) => {
                let sql = format!(
                    "SELECT {TRUNK_COLUMNS} FROM trunks WHERE account_sid = $1 \
                     ORDER BY date_created, sid"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!("SELECT {TRUNK_COLUMNS} FROM trunks ORDER BY date_created, sid");
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(trunk).collect()
    }

    /// The trunk an account's calls to numbers use: its oldest.
    pub async fn trunk_of(&self, account: &AccountSid) -> Result<Option<Trunk>, StoreError> {
        let sql = format!(
            "SELECT {TRUNK_COLUMNS} FROM trunks WHERE account_sid = $1 \
             ORDER BY date_created, sid LIMIT 1"
        );
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql)).bind(account.as_str()),
            trunk,
        )
        .await
    }

    /// Removes a trunk; `false` if there was none with that sid.
    pub async fn remove_trunk(&self, sid: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM trunks WHERE sid = $1")
            .bind(sid)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn trunk(row: &AnyRow) -> Result<Trunk, StoreError> {
    let corrupt =
        |column: &str, e: sqlx::Error| StoreError::Corrupt(format!("trunks.{column}: {e}"));
    let get = |column: &str| {
        row.try_get::<String, _>(column)
            .map_err(|e| corrupt(column, e))
    };
    let optional = |column: &str| {
        row.try_get::<Option<String>, _>(column)
            .map_err(|e| corrupt(column, e))
    };
    let account = get("account_sid")?;
    Ok(Trunk {
        sid: get("sid")?,
        account_sid: AccountSid::parse(&account)
            .map_err(|e| StoreError::Corrupt(format!("trunks.account_sid: {e}")))?,
        uri: get("uri")?,
        username: optional("username")?,
        password: optional("password")?,
        date_created: Timestamp::from_micros(
            row.try_get::<i64, _>("date_created")
                .map_err(|e| corrupt("date_created", e))?,
        ),
    })
}
