//! Accounts and the phone numbers that route calls to them.
//!
//! These change rarely (the CLI creates them, the SIP side looks numbers
//! up on every INVITE) and are small tables, so the queries are plain;
//! `phone_number` is UNIQUE, which is both the "a number routes to one
//! account" rule and the index the per-call lookup uses.

use model::{Account, AccountSid, PhoneNumber, PhoneNumberSid};
use sqlx::AssertSqlSafe;

use crate::error::write_error;
use crate::rows::{self, ACCOUNT_COLUMNS, PHONE_NUMBER_COLUMNS};
use crate::{Store, StoreError};

impl Store {
    // --- accounts ---

    /// `Conflict` if an account with this sid exists.
    pub async fn insert_account(&self, account: &Account) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO accounts (sid, friendly_name, auth_token, date_created, date_updated) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(account.sid.as_str())
        .bind(account.friendly_name.as_str())
        .bind(account.auth_token.expose())
        .bind(account.date_created.as_micros())
        .bind(account.date_updated.as_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "an account with this sid exists", "account"))?;
        Ok(())
    }

    pub async fn account(&self, sid: &AccountSid) -> Result<Option<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE sid = $1");
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql)).bind(sid.as_str()),
            rows::account,
        )
        .await
    }

    /// All accounts, oldest first.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts ORDER BY date_created, sid");
        sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(rows::account)
            .collect()
    }

    // --- phone numbers ---

    /// `Conflict` if the number is taken (numbers route calls, so they are
    /// unique across accounts); `NotFound` if the account does not exist.
    pub async fn insert_phone_number(&self, number: &PhoneNumber) -> Result<(), StoreError> {
        // The foreign key to accounts says NotFound; no read-then-write race.
        sqlx::query(
            "INSERT INTO phone_numbers \
             (sid, account_sid, phone_number, voice_url, voice_method, date_created, date_updated) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(number.sid.as_str())
        .bind(number.account_sid.as_str())
        .bind(number.phone_number.as_str())
        .bind(number.voice_url.as_str())
        .bind(number.voice_method.as_str())
        .bind(number.date_created.as_micros())
        .bind(number.date_updated.as_micros())
        .execute(&self.pool)
        .await
        .map_err(|e| write_error(e, "the phone number (or its sid) is taken", "account"))?;
        Ok(())
    }

    /// Numbers of one account, or of all, oldest first.
    pub async fn phone_numbers(
        &self,
        account: Option<&AccountSid>,
    ) -> Result<Vec<PhoneNumber>, StoreError> {
        let rows = match account {
            Some(account) => {
                let sql = format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers \
                     WHERE account_sid = $1 ORDER BY date_created, sid"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .bind(account.as_str())
                    .fetch_all(&self.pool)
                    .await?
            }
            None => {
                let sql = format!(
                    "SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers ORDER BY date_created, sid"
                );
                sqlx::query(AssertSqlSafe(sql))
                    .fetch_all(&self.pool)
                    .await?
            }
        };
        rows.iter().map(rows::phone_number).collect()
    }

    /// The number callers reach by dialling `number` (the SIP Request-URI user part).
    pub async fn phone_number_by_number(
        &self,
        number: &str,
    ) -> Result<Option<PhoneNumber>, StoreError> {
        let sql =
            format!("SELECT {PHONE_NUMBER_COLUMNS} FROM phone_numbers WHERE phone_number = $1");
        self.fetch_decoded(
            sqlx::query(AssertSqlSafe(sql)).bind(number),
            rows::phone_number,
        )
        .await
    }

    /// Removes a number; `false` if there was none with that sid.
    pub async fn remove_phone_number(&self, sid: &PhoneNumberSid) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM phone_numbers WHERE sid = $1")
            .bind(sid.as_str())
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}
